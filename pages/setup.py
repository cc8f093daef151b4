"""创建管理员: the first run's page, which makes the first 管理员 and then refuses forever."""

import streamlit as st

from pingyi import auth, db, logins, ui
from pingyi.ui import auth as login

ui.through_app()
st.title("创建管理员账号")

with db.session(ui.engine()) as s:
    has_admin = auth.has_admin(session=s)
if has_admin:
    st.error("系统已有管理员,此页面已停用。请用管理员账号登录;新的管理员由现有管理员添加。")
    st.stop()

st.info(
    "这是系统第一次启动:请为领导小组办公室创建管理员账号。创建后此页面即停用,"
    "其他账号由管理员在「账号」页面按名册生成。"
)
with st.form("setup", enter_to_submit=False):
    username = st.text_input("用户名", max_chars=auth.USERNAME_LENGTH, placeholder="如 office")
    name = st.text_input("姓名或名称", max_chars=50, placeholder="如 领导小组办公室")
    password = st.text_input(
        "密码",
        type="password",
        max_chars=auth.MAX_PASSWORD_LENGTH,
        help=f"至少 {auth.MIN_PASSWORD_LENGTH} 个字符,同时包含字母和数字",
    )
    again = st.text_input("再次输入密码", type="password", max_chars=auth.MAX_PASSWORD_LENGTH)
    submitted = st.form_submit_button("创建管理员", type="primary")

if submitted:
    if password != again:
        st.error("两次输入的密码不一致")
        st.stop()
    try:
        with db.transaction(ui.engine()) as s:
            account = auth.create_first_admin(
                session=s, username=username, password=password, display_name=name
            )
            opened = logins.open_login(session=s, account=account)
    except auth.AuthError as exc:
        st.error(str(exc))
    else:
        login.log_in(opened, account.id)
        st.switch_page("pages/home.py")
