"""自我小结: a member writes their own summary (the 支部书记 also their branch's, the 党组书记
also the 领导班子's), looks back at each 公开承诺 and at the 整改 items still open from earlier
rounds. Read-only once the round has left 自我小结 and 调研督查."""

from datetime import date

import pandas as pd
import streamlit as st

from pingyi import db, rectification, rounds, summaries, ui
from pingyi.auth import Role
from pingyi.models import STEP_LABELS, Commitment, CommitmentStatus, Step, Summary, Target
from pingyi.models import TargetKind as Kind
from pingyi.summaries import SummaryError, limit
from pingyi.ui import auth as login
from pingyi.ui.flash import flash, show_flash
from pingyi.ui.text import md_escape

ui.through_app()
user = login.require(Role.MEMBER)

STATUSES = [status.value for status in CommitmentStatus]
KIND_LABELS = {Kind.MEMBER: "本人", Kind.BRANCH: "党支部", Kind.TEAM: "领导班子"}

st.title("自我小结")
st.caption(
    "总结本季度的成绩、存在的问题和原因,逐项回头看公开承诺的兑现情况,"
    "并对照往期整改事项查找差距。保存草稿后可继续修改;填写完整后请提交。"
)

engine = ui.engine()
if user.member_id is None:  # a 党员's account always has its member; say so if not
    st.error("您的账号没有对应的党员,无法填写自我小结。")
    st.stop()
member_id: int = user.member_id
with db.session(engine) as s:
    round_ = rounds.current(session=s)
    mine = (
        summaries.targets_for(session=s, round_id=round_.id, member_id=member_id)
        if round_ is not None
        else []
    )

if round_ is None:
    st.info("当前没有进行中的评议轮次。")
    st.stop()
round_id = round_.id
if not mine:
    st.info("本轮评议中没有需要您填写的自我小结。")
    st.stop()

by_id = {t.id: t for t in mine}
target_id: int = st.selectbox(
    "小结对象",
    list(by_id),
    format_func=lambda i: f"{KIND_LABELS[Kind(by_id[i].kind)]}:{by_id[i].name}",
    key="summary_target",
    disabled=len(by_id) == 1,
)
target: Target = by_id[target_id]
editable = summaries.is_open(round_)
step_label = STEP_LABELS[Step(round_.step)]

with db.session(engine) as s:
    summary = summaries.summary_of(session=s, target_id=target_id)
    commitments = summaries.commitments_of(session=s, target_id=target_id)
    open_items = summaries.open_items_for(session=s, target_id=target_id)
    round_names = {r.id: r.name for r in rounds.list_rounds(session=s)}

st.caption(f"{md_escape(round_.name)} · 当前阶段:{step_label}")
show_flash()
if not editable:
    st.info(
        f"本轮已进入「{step_label}」阶段,自我小结只能查看,不能再修改"
        "(自我小结在「自我小结」和「调研督查」阶段填写)。",
        icon=":material/lock:",
    )


def _state(summary: Summary | None) -> str:
    if summary is None:
        return "尚未填写"
    saved = f"(最后保存于 {summary.updated_at:%Y-%m-%d %H:%M})"
    return ("已提交" if summary.submitted else "草稿,尚未提交") + saved


def _save_summary(texts: dict[str, str], *, submit: bool) -> None:
    try:
        with db.transaction(engine) as s:
            summaries.save_summary(
                session=s,
                round_id=round_id,
                target_id=target_id,
                member_id=member_id,
                submit=submit,
                **texts,
            )
    except SummaryError as exc:
        st.error(str(exc))
    else:
        flash("已提交自我小结。" if submit else "已保存草稿。")
        st.rerun()


# ---- 成绩, 问题, 原因

st.subheader("小结")
st.markdown(f"状态:**{_state(summary)}**")
if summary is not None and summary.submitted and editable:
    st.caption("已提交的小结仍可修改后再次提交;改为保存草稿将撤回提交。")
prefix = f"summary_{target_id}"
ADDED = f"{prefix}_added"  # counts added commitments, so the 新增 form starts empty again
placeholders = {
    "achievements": "本季度完成的工作、取得的成绩",
    "problems": "存在的问题和不足",
    "causes": "产生问题的原因",
}
with st.form(f"{prefix}_form", enter_to_submit=False, border=False):
    texts = {
        field: st.text_area(
            label,
            value=getattr(summary, field) if summary else "",
            max_chars=limit(Summary, field),
            height=160,
            placeholder=placeholders[field],
            disabled=not editable,
            key=f"{prefix}_{field}",
        )
        for field, label in summaries.SUMMARY_FIELDS.items()
    }
    left, right, _ = st.columns([1, 1, 4])
    save_draft = left.form_submit_button("保存草稿", disabled=not editable, icon=":material/save:")
    submit = right.form_submit_button(
        "提交", type="primary", disabled=not editable, icon=":material/send:"
    )
# Not gated on `editable`: a click sent before the step closed gets the server's answer.
if save_draft or submit:
    _save_summary(texts, submit=submit)


# ---- 公开承诺「回头看」


def _commitment_action(action: str, commitment: Commitment | None, values: dict[str, str]) -> None:
    try:
        with db.transaction(engine) as s:
            if action == "add":
                summaries.add_commitment(
                    session=s,
                    round_id=round_id,
                    target_id=target_id,
                    member_id=member_id,
                    **values,
                )
            elif commitment is None:
                raise ValueError(f"{action} needs the commitment")
            elif action == "update":
                summaries.update_commitment(
                    session=s,
                    commitment_id=commitment.id,
                    member_id=member_id,
                    **values,
                )
            else:
                summaries.delete_commitment(
                    session=s,
                    commitment_id=commitment.id,
                    member_id=member_id,
                )
    except SummaryError as exc:
        st.error(str(exc))
    else:
        done = {"add": "已添加承诺。", "update": "已保存承诺。", "delete": "已删除承诺。"}
        flash(done[action])
        if action == "add":  # fresh, empty fields for the next one
            st.session_state[ADDED] = st.session_state.get(ADDED, 0) + 1
        st.rerun()


def _commitment_fields(key: str, commitment: Commitment | None) -> dict[str, str]:
    return {
        "text": st.text_area(
            "承诺内容",
            value=commitment.text if commitment else "",
            max_chars=limit(Commitment, "text"),
            height=80,
            key=f"{key}_text",
        ),
        "status": st.selectbox(
            "兑现情况",
            STATUSES,
            index=STATUSES.index(commitment.status) if commitment else 1,
            key=f"{key}_status",
        ),
        "evidence": st.text_area(
            "佐证材料",
            value=commitment.evidence if commitment else "",
            max_chars=limit(Commitment, "evidence"),
            height=80,
            placeholder="已兑现的承诺必须填写:做了什么、有何材料可查",
            key=f"{key}_evidence",
        ),
    }


st.subheader("公开承诺「回头看」")
st.caption(
    "逐项说明公开承诺的兑现情况(已兑现 / 推进中 / 未兑现);标为「已兑现」的须填写佐证材料。"
    "上一轮尚未兑现的承诺已自动带入本轮。"
)
if not editable:
    if commitments:
        st.dataframe(
            pd.DataFrame(
                [(c.text, c.status, c.evidence) for c in commitments],
                columns=["承诺内容", "兑现情况", "佐证材料"],
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("没有公开承诺。")
else:
    for number, commitment in enumerate(commitments, start=1):
        key = f"commitment_{commitment.id}"
        with st.form(key, enter_to_submit=False):
            st.markdown(f"**承诺 {number}**")
            values = _commitment_fields(key, commitment)
            left, right, _ = st.columns([1, 1, 4])
            update = left.form_submit_button("保存修改", icon=":material/save:")
            delete = right.form_submit_button("删除", icon=":material/delete:")
        if update or delete:
            _commitment_action("update" if update else "delete", commitment, values)
    add_key = f"{prefix}_add_{st.session_state.get(ADDED, 0)}"
    with st.form(add_key, enter_to_submit=False):
        st.markdown("**新增承诺**")
        values = _commitment_fields(add_key, None)
        add = st.form_submit_button("添加承诺", icon=":material/add:")
    if add:
        _commitment_action("add", None, values)


# ---- 往期整改事项

st.subheader("往期未完成的整改事项")
if open_items:
    today = date.today()
    st.dataframe(
        pd.DataFrame(
            [
                (
                    round_names.get(item.round_id, ""),
                    item.text,
                    item.deadline,
                    rectification.status(item, today).value,
                    item.evidence,
                )
                for item in open_items
            ],
            columns=["轮次", "整改事项", "期限", "状态", "进展"],
        ),
        hide_index=True,
        width="stretch",
    )
    st.caption("请在小结中说明这些事项的整改情况;事项的进展在「整改落实」页面更新。")
else:
    st.caption("没有往期未完成的整改事项。")
