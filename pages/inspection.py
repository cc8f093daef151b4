"""调研督查: the leading group (党组书记, 班子成员) and the office record what they checked and
found at each branch; the findings go on the branch's briefing. Which branches have none yet."""

from datetime import date

import pandas as pd
import streamlit as st

from pingyi import db, inspections, rounds, ui
from pingyi.auth import Role
from pingyi.inspections import InspectionError
from pingyi.models import STEP_LABELS, Inspection, Step, TargetKind
from pingyi.summaries import limit
from pingyi.ui import auth as login
from pingyi.ui.flash import flash, show_flash
from pingyi.ui.text import md_escape

ui.through_app()
user = login.require()
# Not a role of its own: the leading group are reviewers among others, so check the flag.
if not (user.has(Role.ADMIN) or user.in_leading_group):
    st.error(login.MSG_NO_ACCESS, icon=":material/block:")
    st.stop()
is_office = user.has(Role.ADMIN)

ADDED = "inspection_added"  # counts recorded findings, so the form starts empty again

st.title("调研督查")
st.caption(
    "领导小组成员深入各党支部调研督查,记录调研日期、督查内容和发现的情况;"
    "督查情况将在「通报情况」时印入该支部的情况通报。"
)

engine = ui.engine()
with db.session(engine) as s:
    round_ = rounds.current(session=s)
    if round_ is not None:
        branches = [
            t
            for t in rounds.targets_of(session=s, round_id=round_.id)
            if t.kind == TargetKind.BRANCH
        ]
        done = inspections.progress(session=s, round_id=round_.id)

if round_ is None:
    st.info("当前没有进行中的评议轮次。")
    st.stop()
if not branches:
    st.info("本轮评议没有党支部。")
    st.stop()

step_label = STEP_LABELS[Step(round_.step)]
editable = inspections.is_open(round_)
st.caption(f"{md_escape(round_.name)} · 当前阶段:{step_label}")
show_flash()
if not editable:
    st.info(
        f"本轮已进入「{step_label}」阶段,调研督查情况只能查看,不能再记录或删除。",
        icon=":material/lock:",
    )

# ---- progress: which branches have no findings yet

visited = sum(line.done for line in done)
st.metric("已有调研督查记录的党支部", f"{visited} / {len(done)}")
missing = [line.branch for line in done if not line.done]
if missing:
    with st.expander(f"尚无调研督查记录的党支部({len(missing)} 个)"):
        st.dataframe(pd.DataFrame({"党支部": missing}), hide_index=True, width="stretch")

# ---- one branch: record a finding, list its findings

by_id = {t.id: t for t in branches}
target_id: int = st.selectbox(
    "党支部",
    list(by_id),
    format_func=lambda i: by_id[i].name,
    key="inspection_branch",
)

if editable:
    form_key = f"inspection_form_{st.session_state.get(ADDED, 0)}"
    with st.form(form_key, enter_to_submit=False):
        st.markdown("**记录调研督查情况**")
        visited_on = st.date_input(
            "调研日期", value=date.today(), max_value=date.today(), format="YYYY-MM-DD"
        )
        checked = st.text_area(
            "调研督查内容",
            max_chars=limit(Inspection, "checked"),
            height=100,
            placeholder="查阅了哪些台账、走访了哪些人、检查了哪些工作",
        )
        findings = st.text_area(
            "发现的情况",
            max_chars=limit(Inspection, "findings"),
            height=160,
            placeholder="好的做法、存在的问题和建议",
        )
        st.caption(f"调研人:{md_escape(user.name)}")
        save = st.form_submit_button("记录", type="primary", icon=":material/save:")
    if save:
        try:
            with db.transaction(engine) as s:
                inspections.record(
                    session=s,
                    round_id=round_.id,
                    target_id=target_id,
                    inspector=user.name,
                    recorded_by=user.account_id,
                    visited_on=visited_on,
                    checked=checked,
                    findings=findings,
                )
        except InspectionError as exc:
            st.error(str(exc))
        else:
            flash(f"已记录「{md_escape(by_id[target_id].name)}」的调研督查情况。")
            st.session_state[ADDED] = st.session_state.get(ADDED, 0) + 1
            st.rerun()

with db.session(engine) as s:
    found = inspections.for_branch(session=s, target_id=target_id)

st.subheader("该支部的调研督查记录")
if not found:
    st.caption("暂无调研督查记录。")
for inspection in found:
    with st.container(border=True):
        st.markdown(
            f"**{inspection.visited_on:%Y-%m-%d}** · 调研人:{md_escape(inspection.inspector)}"
        )
        st.caption("调研督查内容")
        st.text(inspection.checked)
        st.caption("发现的情况")
        st.text(inspection.findings)
        # The office may remove any finding; a member of the leading group only their own.
        own = is_office or inspection.recorded_by == user.account_id
        if (
            editable
            and own
            and st.button(
                "删除", key=f"inspection_delete_{inspection.id}", icon=":material/delete:"
            )
        ):
            try:
                with db.transaction(engine) as s:
                    inspections.delete(
                        session=s,
                        inspection_id=inspection.id,
                        recorded_by=None if is_office else user.account_id,
                    )
            except InspectionError as exc:
                st.error(str(exc))
            else:
                flash("已删除该条调研督查记录。")
                st.rerun()
