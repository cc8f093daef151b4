"""轮次与进度: create a round, open it (criteria and rules freeze), move it step by step, and see
for each step who has finished and who has not, with a reminder list to print."""

from datetime import date

import pandas as pd
import streamlit as st

from pingyi import db, progress, rounds, ui
from pingyi.auth import Role
from pingyi.models import STEP_LABELS, Step
from pingyi.rounds import RoundError
from pingyi.ui import auth as login
from pingyi.ui.flash import flash, show_flash
from pingyi.ui.picker import pick_round
from pingyi.ui.text import bullets, md_escape

ui.through_app()
user = login.require(Role.ADMIN)

FIVE_STEPS = [Step.SELF_SUMMARY, Step.INSPECTION, Step.BRIEFING, Step.REVIEW, Step.RECTIFICATION]

st.title("轮次与进度")
show_flash()


def done(message: str) -> None:
    flash(message)
    st.rerun()


def move_to(seen: Step, to: Step) -> None:
    """One step change; says what happened, including that nothing did."""
    with db.transaction(ui.engine()) as s:
        result = rounds.change_step(
            session=s, round_id=round_id, seen=seen, step=to, actor=user.name
        )
    if result.outcome == rounds.Outcome.REFUSED:
        st.error(result.message)
        return
    if result.outcome == rounds.Outcome.CHANGED:
        flash(md_escape(result.message))
    else:  # already so: another window or an earlier click did it
        flash(md_escape(result.message), kind="info")
    st.rerun()


def default_quarter(today: date) -> str:
    return f"{today.year}Q{(today.month - 1) // 3 + 1}"


with db.session(ui.engine()) as s:
    all_rounds = rounds.list_rounds(session=s)
    current = rounds.current(session=s)

with st.expander("新建评议轮次", icon=":material/add:", expanded=not all_rounds):
    with st.form("rounds_create", clear_on_submit=True, enter_to_submit=False):
        name = st.text_input(
            "名称", max_chars=100, placeholder="如 2027年第一季度领导点评和群众评议"
        )
        quarter = st.text_input("季度", value=default_quarter(date.today()), max_chars=10)
        left, right = st.columns(2)
        starts_on = left.date_input("开始日期", value=None, format="YYYY-MM-DD")
        ends_on = right.date_input("结束日期", value=None, format="YYYY-MM-DD")
        created = st.form_submit_button("新建", type="primary")
    if created:
        try:
            with db.transaction(ui.engine()) as s:
                made = rounds.create_round(
                    session=s,
                    name=name,
                    quarter=quarter,
                    starts_on=starts_on,
                    ends_on=ends_on,
                    actor=user.name,
                )
        except RoundError as exc:
            st.error(str(exc))
        else:
            done(
                f"已新建「{md_escape(made.name)}」(筹备阶段)。"
                "可在「测评内容」页调整本轮的测评项目和规则。"
            )

if not all_rounds:
    st.info("还没有评议轮次。")
    st.stop()

round_ = pick_round(all_rounds, current, key="rounds_round")
round_id: int = round_.id
step = Step(round_.step)
st.markdown(
    " → ".join(
        f"**:blue[{STEP_LABELS[each]}]**" if each == step else STEP_LABELS[each]
        for each in [Step.DRAFT, *FIVE_STEPS, Step.CLOSED]
    )
)

if step == Step.DRAFT:
    with db.session(ui.engine()) as s:
        preview = rounds.preview(session=s, round_=round_)
    st.markdown(
        f"按当前名册和本轮规则:**{len(preview.targets)}** 个评议对象,"
        f"**{len(preview.leader)}** 项领导点评,**{len(preview.mass)}** 项群众评议。"
        "开启后评议对象和评议关系确定,测评项目和规则冻结,进入「自我小结」。"
    )
    allow = False
    if preview.problems:
        st.warning("评议关系还有问题:\n\n" + bullets(p.message for p in preview.problems))
        allow = st.checkbox("我已知晓上述问题,仍然开启", key=f"rounds_allow_{round_id}")
    if st.button("开启本轮", type="primary", icon=":material/play_arrow:"):
        try:
            with db.transaction(ui.engine()) as s:
                row = rounds.resolve(session=s, id_or_name=str(round_id))
                rounds.open_round(session=s, round_=row, allow_problems=allow, actor=user.name)
        except RoundError as exc:
            st.error(str(exc))
        else:
            done(f"「{md_escape(round_.name)}」已开启,进入「自我小结」阶段。")
    st.stop()

if step == Step.CLOSED:
    st.info(f"「{md_escape(round_.name)}」已结束。未完成的整改事项会出现在下一轮的自我小结中。")
else:
    following = rounds.STEPS[rounds.STEPS.index(step) + 1]
    left, right, _ = st.columns([2, 2, 3])
    if left.button(
        f"进入下一阶段「{STEP_LABELS[following]}」",
        type="primary",
        icon=":material/skip_next:",
        # The step in the key: a second click on a stale page cannot skip a step.
        key=f"rounds_next_{round_id}_{step}",
    ):
        move_to(step, following)
    previous = rounds.STEPS[rounds.STEPS.index(step) - 1]
    if previous != Step.DRAFT and right.button(
        f"退回「{STEP_LABELS[previous]}」",
        icon=":material/undo:",
        key=f"rounds_back_{round_id}_{step}",
        help="例如需要让点评领导补充或修改点评时",
    ):
        move_to(step, previous)

st.subheader("各阶段进度")
with db.session(ui.engine()) as s:
    steps = progress.all_steps(session=s, round_id=round_id)
for each in steps:
    here = each.step == step
    label = f"{STEP_LABELS[each.step]}:已完成 {each.done} / {each.total}"
    with st.expander(label, expanded=here, icon=":material/flag:" if here else None):
        st.progress(each.share, text=f"{each.share:.0%}")
        if not each.pending:
            st.caption("全部完成。" if each.total else "本阶段没有需要完成的事项。")
            continue
        st.dataframe(
            pd.DataFrame([(r.who, r.task) for r in each.pending], columns=["责任人", "待办事项"]),
            hide_index=True,
        )
        st.download_button(
            "打印待办提醒",
            progress.reminders_html(round_name=round_.name, progress=each),
            file_name=f"{round_.name}-{STEP_LABELS[each.step]}-待办提醒.html",
            mime="text/html",
            icon=":material/print:",
            key=f"rounds_remind_{each.step}",
            on_click="ignore",
        )
