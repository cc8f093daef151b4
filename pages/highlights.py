"""好经验、好典型、好做法: every logged-in member reads them; the office picks and publishes."""

import streamlit as st

from pingyi import db, highlights, rounds, ui
from pingyi.auth import Role
from pingyi.ui import auth as login
from pingyi.ui.flash import flash, show_flash
from pingyi.ui.text import md_escape

ui.through_app()
user = login.require()


st.title("好经验、好典型、好做法")
st.caption("领导小组办公室从自我小结和领导点评中选出,供大家学习交流。")
show_flash()


def done(message: str) -> None:
    flash(message)
    st.rerun()


if user.has(Role.ADMIN):
    with db.session(ui.engine()) as s:
        current = rounds.current(session=s)
        picks = highlights.candidates(session=s, round_id=current.id) if current is not None else []
    with st.expander("选编并发布", icon=":material/edit:", expanded=not picks):
        if picks:
            index = st.selectbox(
                "从本轮已提交的自我小结和领导点评中选取",
                [None, *range(len(picks))],
                format_func=lambda i: "(自行撰写)" if i is None else picks[i].source,
                key="highlights_pick",
            )
        else:
            index = None
            st.caption("本轮还没有已提交的自我小结或领导点评,可以自行撰写。")
        pick = picks[index] if index is not None else None
        # Keyed by the pick, so choosing another passage starts from its text.
        with st.form(f"highlights_form_{index}", clear_on_submit=True, enter_to_submit=False):
            kind = st.segmented_control(
                "类别", highlights.KINDS, default=highlights.KINDS[0], key=f"hl_kind_{index}"
            )
            title = st.text_input("标题", max_chars=highlights.TITLE_MAX)
            text = st.text_area(
                "内容(可删改选段)",
                value=pick.text if pick else "",
                max_chars=highlights.TEXT_MAX,
                height=200,
            )
            source = st.text_input("出处", value=pick.source if pick else "", max_chars=200)
            publish = st.form_submit_button("发布", type="primary", icon=":material/campaign:")
        if publish:
            try:
                with db.transaction(ui.engine()) as s:
                    item = highlights.publish(
                        session=s,
                        round_id=current.id if current else None,
                        kind=kind or "",
                        title=title,
                        text=text,
                        source=source,
                        actor=user.name,
                    )
            except highlights.HighlightError as exc:
                st.error(str(exc))
            else:
                done(f"已发布「{md_escape(item.title)}」。")

with db.session(ui.engine()) as s:
    shown = (
        highlights.everything(session=s)
        if user.has(Role.ADMIN)
        else highlights.published(session=s)
    )

if not shown:
    st.info("还没有发布的好经验、好典型、好做法。")
for item in shown:
    with st.container(border=True):
        st.subheader(md_escape(item.title), anchor=False)
        st.caption(md_escape(f"{item.kind}{' · ' + item.source if item.source else ''}"))
        st.text(item.text)  # as written: never Markdown or HTML
        if user.has(Role.ADMIN):
            if item.published:
                if st.button("撤下", key=f"hl_withdraw_{item.id}", icon=":material/unpublished:"):
                    with db.transaction(ui.engine()) as s:
                        highlights.withdraw(session=s, highlight_id=item.id, actor=user.name)
                    done(f"已撤下「{md_escape(item.title)}」。")
            else:
                st.caption("已撤下,党员看不到。")
                if st.button("重新发布", key=f"hl_republish_{item.id}"):
                    with db.transaction(ui.engine()) as s:
                        highlights.republish(session=s, highlight_id=item.id, actor=user.name)
                    done(f"已重新发布「{md_escape(item.title)}」。")
