"""评议关系: who reviews and evaluates whom under the rules, and what is wrong with it."""

import streamlit as st

from pingyi import criteria, db, rounds, rules, ui
from pingyi.auth import Role
from pingyi.groups import GROUP_LABELS
from pingyi.ui import auth as login
from pingyi.ui import charts, tables
from pingyi.ui.text import bullets, md_escape

ui.through_app()
login.require(Role.ADMIN)

ALL_REVIEWERS, ALL_GROUPS = "全部点评人", "全部评议群体"

st.title("评议关系")

with db.session(ui.engine()) as s:
    current = rounds.current(session=s)
    people = rounds.current_roster(session=s)
    result = rounds.preview(session=s, round_=current)
    forms = criteria.group_forms(session=s, round_id=current.id if current else None)
form_of = {form.group_name: form.describe() for form in forms.values()}

if current is None:
    st.caption("按当前名册和办公室的评议规则计算;开启新轮次时按此确定评议关系。")
else:
    st.caption(
        f"按当前名册和进行中轮次「{md_escape(current.name)}」的规则计算;"
        "名册在开启轮次后有变动时,这里与本轮已确定的评议关系可能不同。"
    )

if not people.people:
    st.info("名册是空的:请先在「名册」页导入名册,或在首页加载示例数据。")
    st.page_link("pages/roster.py", label="去导入名册", icon=":material/upload_file:")
    st.stop()

if result.problems:
    st.error(
        f"发现 {len(result.problems)} 个问题,请在开启轮次前处理:\n\n"
        + bullets(problem.message for problem in result.problems)
    )
else:
    st.success("评议关系完整,没有发现问题")

leader = tables.leader_frame(result, people)
mass = tables.mass_frame(result, people)

columns = st.columns(4)
columns[0].metric("评议对象", len(result.targets))
columns[1].metric("点评人", leader["点评人"].nunique())
columns[2].metric("领导点评", len(leader), help="每一对「点评人 → 点评对象」算一条")
columns[3].metric("群众评议", len(mass), help="每一对「评议群体 → 评议对象」算一条")

leader_counts = tables.counts_frame(
    result.leader_counts(), label="点评人身份", every=list(rules.REVIEWER_LABELS.values())
)
mass_counts = tables.counts_frame(
    result.mass_counts(), label="评议群体", every=list(GROUP_LABELS.values())
)
left, right = st.columns(2)
left.plotly_chart(
    charts.count_bars(leader_counts, label="点评人身份", title="领导点评:各类点评人的点评对象数"),
    config=charts.PLOTLY_CONFIG,
)
right.plotly_chart(
    charts.count_bars(mass_counts, label="评议群体", title="群众评议:各评议群体的评议对象数"),
    config=charts.PLOTLY_CONFIG,
)

reviewer_tab, group_tab = st.tabs(["按点评人", "按评议群体"])
with reviewer_tab:
    summary = tables.reviewer_summary(leader)
    reviewer = st.columns([1, 2])[0].selectbox("点评人", [ALL_REVIEWERS, *summary["点评人"]])
    if reviewer == ALL_REVIEWERS:
        st.dataframe(summary, hide_index=True)
        shown = leader
    else:
        shown = leader[leader["点评人"] == reviewer]
    st.caption(f"共 {len(shown)} 条领导点评")
    st.dataframe(shown, hide_index=True)
with group_tab:
    group = st.columns([1, 2])[0].selectbox("评议群体", [ALL_GROUPS, *GROUP_LABELS.values()])
    if group == ALL_GROUPS:
        st.dataframe(
            mass_counts.assign(评议表=[form_of.get(name, "") for name in mass_counts["评议群体"]]),
            hide_index=True,
        )
        shown = mass
    else:
        st.markdown(f"**评议表**:{md_escape(form_of.get(group, ''))}")
        shown = mass[mass["评议群体"] == group]
    st.caption(f"共 {len(shown)} 条群众评议")
    st.dataframe(shown, hide_index=True)
