"""登录: account and password; five wrong passwords lock the account for 15 minutes."""

import streamlit as st

from pingyi import ui
from pingyi.ui import auth as login

ui.through_app()
if login.current_user() is not None:
    st.info("您已登录。")
    st.page_link("pages/home.py", label="回到首页", icon=":material/home:")
    st.stop()

st.title("领导点评和群众评议")
# The landing page afterwards, not this one again (the URL would otherwise stay on 登录).
login.login_form(then="pages/home.py")
st.page_link("pages/ballot.py", label="我有测评码,参加群众评议", icon=":material/how_to_vote:")
