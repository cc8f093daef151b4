"""我收到的点评: the submitted 领导点评 of me (scores and comments) and my 整改 items."""

import streamlit as st

from pingyi import db, rectification, reviews, rounds, ui
from pingyi.auth import Role
from pingyi.models import ItemStatus, Step
from pingyi.ui import auth as login
from pingyi.ui import results as view
from pingyi.ui.picker import pick_round
from pingyi.ui.text import md_escape

ui.through_app()
user = login.require(Role.MEMBER)

st.title("我收到的点评")
if user.member_id is None:
    st.info("您的账号没有对应的党员。")
    st.stop()

engine = ui.engine()
with db.session(engine) as s:
    all_rounds = rounds.list_rounds(session=s)
    current = rounds.current(session=s)
opened = [r for r in all_rounds if r.step != Step.DRAFT]
if not opened:
    st.info("还没有开始的评议轮次。")
    st.stop()

round_ = pick_round(opened, current, key="my_reviews_round")
round_id: int = round_.id

with db.session(engine) as s:
    received = reviews.received(session=s, round_id=round_id, member_id=user.member_id)
    items = rectification.items_for_owner(session=s, member_id=user.member_id)

st.subheader("领导点评")
if not received:
    st.caption("本轮还没有已提交的领导点评。")
for review in received:
    with st.container(border=True):
        st.markdown(view.review_markdown(review))
        if review.scores:
            st.dataframe(view.review_scores_frame(review), hide_index=True)

st.subheader("我的整改事项")
if not items:
    st.caption("没有需要您落实的整改事项。")
else:
    open_items = [i for i in items if i.status != ItemStatus.DONE]
    overdue = sum(1 for i in items if i.overdue)
    st.caption(
        f"共 {len(items)} 项,未完成 {len(open_items)} 项"
        + (f",其中逾期 {overdue} 项。" if overdue else "。")
    )
    for item in items:
        deadline = item.deadline.isoformat() if item.deadline else "未定"
        evidence = f"  \n整改情况:{md_escape(item.evidence)}" if item.evidence else ""
        st.markdown(
            f"- 【{item.status}】{md_escape(item.text)}(期限 {deadline},"
            f"{md_escape(item.round_name)}){evidence}"
        )
    st.page_link("pages/rectification.py", label="去更新整改情况", icon=":material/task_alt:")
