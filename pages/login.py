"""登录: account and password; five wrong passwords lock the account for 15 minutes."""

import streamlit as st

from pingyi import audit, auth, db, ui
from pingyi.ui import auth as login

ui.through_app()

if login.current_user() is not None:
    st.info("您已登录。")
    st.page_link("pages/home.py", label="回到首页", icon=":material/home:")
    st.stop()

st.title("领导点评和群众评议")
st.caption("领导小组办公室、点评领导和党员请登录。群众评议不需要账号:请扫描测评码条上的二维码。")

notice = st.session_state.pop(login.NOTICE, None)
if notice:
    st.info(notice)

with st.form("login", enter_to_submit=True):
    username = st.text_input(
        "用户名", max_chars=auth.USERNAME_LENGTH, placeholder="党员编号或管理员用户名"
    )
    password = st.text_input("密码", type="password", max_chars=auth.MAX_PASSWORD_LENGTH)
    submitted = st.form_submit_button("登录", type="primary", icon=":material/login:")

if submitted:
    if not username.strip() or not password:
        st.error("请填写用户名和密码")
        st.stop()
    with db.transaction(ui.engine()) as s:
        result = auth.login(session=s, username=username, password=password)
        if result.locked_now:
            audit.record(
                session=s, actor=username.strip()[:50], action="账号锁定", detail=result.message
            )
    if result.account is None:
        st.error(result.message)
    else:
        login.log_in(result.account.id)  # type: ignore[arg-type]
        st.rerun()

st.page_link("pages/ballot.py", label="我有测评码,参加群众评议", icon=":material/how_to_vote:")
