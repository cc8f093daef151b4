"""整改落实: a member follows up the 整改 items they own; the office sees every item, overdue
first, and may update any."""

import pandas as pd
import streamlit as st

from pingyi import db, rectification, rounds, ui
from pingyi.auth import Role
from pingyi.models import ItemStatus
from pingyi.rectification import ItemView, RectificationError
from pingyi.ui import auth as login
from pingyi.ui.flash import flash, show_flash
from pingyi.ui.text import md_escape

ui.through_app()
user = login.require(Role.MEMBER, Role.ADMIN)
office = user.has(Role.ADMIN)

ALL_ROUNDS = 0  # the round filter's "every round"
COLUMNS = ["状态", "整改事项", "整改对象", "责任人", "整改期限", "提出人", "评议轮次", "整改情况"]


def frame(items: list[ItemView]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            (
                i.status.value,
                i.text,
                i.target_name,
                i.owner_name or "—",
                i.deadline,
                i.reviewer_name or "—",
                i.round_name,
                i.evidence,
            )
            for i in items
        ],
        columns=COLUMNS,
    )


def label(item: ItemView) -> str:
    text = item.text if len(item.text) <= 30 else item.text[:30] + "…"
    return f"【{item.status}】{text} · {item.target_name}"


def update_form(items: list[ItemView]) -> None:
    """Pick one item, set its status and evidence."""
    by_id = {i.id: i for i in items}
    item_id = st.selectbox(
        "选择整改事项", list(by_id), format_func=lambda i: label(by_id[i]), key="rect_item"
    )
    item = by_id[item_id]
    st.markdown(
        f"**{md_escape(item.text)}**  \n"
        f"整改对象:{md_escape(item.target_name)} · 责任人:{md_escape(item.owner_name or '—')}"
        f" · 期限:{item.deadline or '未定'} · 当前状态:{item.status}"
    )
    if item.status == ItemStatus.OVERDUE:
        st.warning("已超过整改期限,请抓紧落实。", icon=":material/schedule:")
    choices = list(rectification.SETTABLE)
    with st.form(f"rect_form_{item_id}", enter_to_submit=False):
        # 逾期 is not a choice: the form starts from the stored 未开始 or 进行中.
        status = st.radio(
            "整改状态",
            choices,
            index=choices.index(item.stored),
            format_func=lambda s: s.value,
            horizontal=True,
            key=f"rect_status_{item_id}",
        )
        evidence = st.text_area(
            "整改情况说明",
            value=item.evidence,
            placeholder="做了什么、有何佐证(标记为已完成时必填)",
            max_chars=rectification.EVIDENCE_MAX,
            key=f"rect_evidence_{item_id}",
        )
        saved = st.form_submit_button("保存", type="primary", icon=":material/save:")
    if saved:
        try:
            with db.transaction(ui.engine()) as s:
                rectification.update(
                    session=s,
                    item_id=item_id,
                    member_id=None if office else user.member_id,
                    status=status,
                    evidence=evidence,
                )
        except RectificationError as exc:
            st.error(str(exc))
        else:
            flash(f"已更新整改事项:{md_escape(item.text[:30])}")
            st.rerun()


def show_counts(counts: dict[ItemStatus, int]) -> None:
    columns = st.columns(len(counts))
    for column, (status, n) in zip(columns, counts.items(), strict=True):
        column.metric(status.value, n)


st.title("整改落实")
show_flash()

engine = ui.engine()
if office:
    st.caption("全部整改事项,逾期的排在最前;办公室可更新任一事项。")
    with db.session(engine) as s:
        all_rounds = rounds.list_rounds(session=s)
    names = {ALL_ROUNDS: "全部轮次"} | {r.id: r.name for r in all_rounds}
    left, middle, right = st.columns(3)
    round_id = left.selectbox(
        "评议轮次", list(names), format_func=names.__getitem__, key="rect_round"
    )
    statuses = middle.multiselect(
        "状态",
        list(ItemStatus),
        format_func=lambda s: s.value,
        key="rect_statuses",
        placeholder="全部状态",
    )
    query = right.text_input("查找", placeholder="整改事项、对象或责任人", key="rect_query")
    with db.session(engine) as s:
        chosen_round = None if round_id == ALL_ROUNDS else round_id
        items = rectification.all_items(session=s, round_id=chosen_round)
        counts = rectification.counts(session=s, round_id=chosen_round)
    show_counts(counts)
    if statuses:
        items = [i for i in items if i.status in statuses]
    if query.strip():
        needle = query.strip()
        items = [
            i
            for i in items
            if needle in i.text or needle in i.target_name or needle in i.owner_name
        ]
else:
    st.caption("领导点评提出的整改要求,由您负责落实;请及时更新整改状态和情况说明。")
    if user.member_id is None:
        st.info("您的账号没有对应的党员,没有整改事项。")
        st.stop()
    with db.session(engine) as s:
        items = rectification.items_for_owner(session=s, member_id=user.member_id)
        counts = rectification.counts(session=s, owner_id=user.member_id)
    show_counts(counts)

if not items:
    st.info("没有整改事项。")
    st.stop()
st.dataframe(
    frame(items),
    hide_index=True,
    column_config={"整改期限": st.column_config.DateColumn(format="YYYY-MM-DD")},
)
st.subheader("更新整改情况")
update_form(items)
