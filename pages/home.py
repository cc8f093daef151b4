"""首页: what the app is for, the current round, the roster in numbers, first steps."""

import streamlit as st

from pingyi import db, demo, roster, rounds, rules, todos, ui
from pingyi.auth import Role
from pingyi.models import STEP_LABELS, Step
from pingyi.ui import auth as login
from pingyi.ui.flash import flash, show_flash
from pingyi.ui.text import md_escape

ui.through_app()
user = login.require()
is_admin = user.has(Role.ADMIN)

STEPS = [Step.SELF_SUMMARY, Step.INSPECTION, Step.BRIEFING, Step.REVIEW, Step.RECTIFICATION]

st.title("领导点评和群众评议")
st.markdown(
    "本系统按季度组织对各党支部、局领导班子和每名党员的**领导点评**和**群众评议**:"
    "党员和党支部先作自我小结、回头看公开承诺,领导小组调研督查并通报情况,"
    "党组书记、联系班子成员和支部书记逐一点评,局全体工作人员、基层单位工作人员和"
    "市场经营户凭一次性测评码匿名评议,最后把整改要求逐项落实。"
)

show_flash()

with db.session(ui.engine()) as s:
    has_data = demo.has_data(session=s)
    current = rounds.current(session=s)
    newest = current or next(iter(rounds.list_rounds(session=s)), None)
    members = roster.active_members(session=s)
    branch_count = len(roster.active_branches(session=s))
    # Units have no active flag; the ones that count are those someone still works in.
    unit_count = len({m.unit_id for m in members})
    member_count = len(members)
    if current is not None:
        target_count = rounds.count_targets(session=s, round_id=current.id)
    elif members:
        target_count = len(rules.all_targets(rounds.current_roster(session=s)))
    else:
        target_count = 0

if not has_data and is_admin:
    st.info("数据库里还没有名册。可以先加载示例数据试用,或导入本单位的党员名册。")
    left, right, _ = st.columns([1, 1, 3])
    if left.button("加载示例数据", type="primary", icon=":material/dataset:"):
        try:
            with st.spinner("正在加载示例数据…"), db.transaction(ui.engine()) as s:
                summary = demo.load_demo(session=s, actor=user.name)
        except demo.DemoError as exc:
            # Someone else loaded data meanwhile: the server refuses a second load.
            st.error(str(exc))
        else:
            flash(
                f"已加载示例数据:{summary.branches} 个党支部,{summary.members} 名党员;"
                f"上一轮已结束、结果已公布,进行中的轮次「{summary.round_name}」正在开展点评。"
                "在会议大屏可看上一轮结果;用命令 pingyi demo simulate 可模拟现场投票。"
            )
            st.rerun()
    right.page_link("pages/roster.py", label="导入名册", icon=":material/upload_file:")

st.subheader("当前轮次")
if newest is None:
    st.caption("还没有评议轮次。")
else:
    step = Step(newest.step)
    with st.container(border=True):
        st.markdown(
            f"**{md_escape(newest.name)}**  \n"
            f"季度:{md_escape(newest.quarter)} · 阶段:{STEP_LABELS[step]}"
        )
        st.markdown(
            " → ".join(
                f"**:blue[{STEP_LABELS[each]}]**" if each == step else STEP_LABELS[each]
                for each in STEPS
            )
        )

if current is not None and user.member_id is not None:
    with db.session(ui.engine()) as s:
        todo = todos.of_member(session=s, round_=current, member_id=user.member_id)
    st.subheader("我的待办")
    if not todo:
        st.caption("目前没有需要您办理的事项。")
    for task in todo:
        st.page_link(task.page, label=task.text, icon=":material/pending_actions:")

st.subheader("名册概况")
columns = st.columns(4)
columns[0].metric("单位", unit_count)
columns[1].metric("党支部", branch_count)
columns[2].metric("党员", member_count)
columns[3].metric(
    "评议对象",
    target_count,
    help="本轮已确定的评议对象" if current else "按当前名册:每个党支部、局领导班子和每名党员",
)

if has_data and is_admin:
    left, right, _ = st.columns([1, 1, 3])
    left.page_link("pages/roster.py", label="查看名册", icon=":material/groups:")
    right.page_link("pages/relations.py", label="检查评议关系", icon=":material/account_tree:")
