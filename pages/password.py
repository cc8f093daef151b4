"""修改密码: required at the first login with a one-time password, possible at any time."""

import streamlit as st

from pingyi import auth, db, logins, ui
from pingyi.ui import auth as login
from pingyi.ui.flash import flash, show_flash

ui.through_app()
# Not `require()` alone: it would stop at 请先修改初始密码 — what this page is for.
user = login.current_user() or login.require()

st.title("修改密码")
if user.must_change_password:
    st.info("这是您第一次登录,请把办公室发放的初始密码改为您自己的密码。")
with st.form("password", clear_on_submit=True, enter_to_submit=False):
    old = st.text_input("原密码", type="password", max_chars=auth.MAX_PASSWORD_LENGTH)
    new = st.text_input(
        "新密码",
        type="password",
        max_chars=auth.MAX_PASSWORD_LENGTH,
        help=f"至少 {auth.MIN_PASSWORD_LENGTH} 个字符,同时包含字母和数字",
    )
    again = st.text_input("再次输入新密码", type="password", max_chars=auth.MAX_PASSWORD_LENGTH)
    submitted = st.form_submit_button("修改密码", type="primary")

if submitted:
    if new != again:
        st.error("两次输入的新密码不一致")
        st.stop()
    try:
        with db.transaction(ui.engine()) as s:
            account = auth.change_password(
                session=s, account_id=user.account_id, old_password=old, new_password=new
            )
            # Every login of the account has ended, this tab's too: it goes on in a new one.
            opened = logins.open_login(session=s, account=account)
    except auth.AuthError as exc:
        st.error(str(exc))
    else:
        login.log_in(opened, user.account_id)
        flash("密码已修改,其他已登录的页面和设备需要重新登录。")
        st.rerun()
show_flash()
