"""账号: accounts made from the roster with one-time passwords, resets, locks, other 管理员."""

import pandas as pd
import streamlit as st

from pingyi import auth, db, slips, ui
from pingyi.auth import Role
from pingyi.ui import auth as login
from pingyi.ui.flash import flash, show_flash
from pingyi.ui.text import md_escape

ui.through_app()
user = login.require(Role.ADMIN)

ISSUED = "accounts_issued"  # the one-time passwords just made: shown once, never stored

st.title("账号")
st.caption(
    "党员用党员编号登录;初始密码只能使用一次,首次登录后必须修改。"
    f"连续输错 {auth.MAX_FAILED_LOGINS} 次密码的账号锁定 {auth.LOCK_MINUTES} 分钟,也可在此解锁。"
)
show_flash()


def remember(lines: list[auth.InitialPassword], message: str) -> None:
    st.session_state[ISSUED] = lines
    flash(message)
    st.rerun()


def state_of(account: auth.Account) -> str:
    if not account.active:
        return "已停用"
    if auth.is_locked(account):
        return "已锁定"
    if account.must_change_password:
        return "待修改初始密码"
    return "正常"


with db.session(ui.engine()) as s:
    all_accounts = auth.accounts(session=s)
    roles = {a.id: auth.roles(session=s, account=a) for a in all_accounts}
    without = auth.members_without_account(session=s)

st.subheader("为党员生成账号")
if without:
    st.markdown(f"名册中还有 **{len(without)}** 名党员没有账号。")
    if st.button("生成账号和初始密码", type="primary", icon=":material/person_add:"):
        with st.spinner("正在生成账号…"), db.transaction(ui.engine()) as s:
            made = auth.create_member_accounts(session=s, actor=user.name)
        remember(made, f"已为 {len(made)} 名党员生成账号。")
else:
    st.caption("名册中的党员都已有账号。")

issued: list[auth.InitialPassword] = st.session_state.get(ISSUED, [])
if issued:
    st.warning("初始密码只在此时显示,请立即打印或下载后分发给本人。", icon=":material/warning:")
    left, right, _ = st.columns([1, 1, 2])
    left.download_button(
        "打印页(初始密码条)",
        slips.initial_passwords_html(issued),
        file_name="初始密码.html",
        mime="text/html",
        icon=":material/print:",
        on_click="ignore",
    )
    right.download_button(
        "初始密码 CSV",
        slips.initial_passwords_csv(issued),
        file_name="初始密码.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )
    st.dataframe(
        pd.DataFrame(
            [(i.username, i.name, i.branch, i.password) for i in issued],
            columns=list(slips.PASSWORD_HEADER),
        ),
        hide_index=True,
    )
    if st.button("清除显示", icon=":material/visibility_off:"):
        del st.session_state[ISSUED]
        st.rerun()

st.subheader("全部账号")
table = pd.DataFrame(
    [
        (
            a.username,
            a.display_name,
            "、".join(sorted(roles[a.id])) or "无",
            state_of(a),
        )
        for a in all_accounts
    ],
    columns=["用户名", "姓名", "角色", "状态"],
)
st.dataframe(table, hide_index=True)

if all_accounts:
    by_id = {a.id: a for a in all_accounts}
    chosen_id = st.selectbox(
        "选择账号",
        list(by_id),
        format_func=lambda i: f"{by_id[i].username} · {by_id[i].display_name}",
        key="accounts_chosen",
    )
    chosen = by_id[chosen_id]
    st.markdown(f"**{md_escape(chosen.display_name)}**:{state_of(chosen)}")
    reset, unlock, toggle, _ = st.columns([1, 1, 1, 2])
    try:
        if reset.button("重置密码", icon=":material/lock_reset:"):
            with db.transaction(ui.engine()) as s:
                line = auth.reset_password(session=s, account_id=chosen_id, actor=user.name)
            remember([line], f"已重置「{md_escape(chosen.display_name)}」的密码。")
        if unlock.button("解锁", icon=":material/lock_open:"):
            with db.transaction(ui.engine()) as s:
                auth.unlock(session=s, account_id=chosen_id, actor=user.name)
            flash(f"已解锁「{md_escape(chosen.display_name)}」。")
            st.rerun()
        label = "停用" if chosen.active else "启用"
        if toggle.button(label, icon=":material/toggle_on:"):
            with db.transaction(ui.engine()) as s:
                auth.set_active(
                    session=s, account_id=chosen_id, active=not chosen.active, actor=user.name
                )
            flash(f"已{label}「{md_escape(chosen.display_name)}」。")
            st.rerun()
    except auth.AuthError as exc:
        st.error(str(exc))

st.subheader("添加管理员")
with st.form("accounts_admin", clear_on_submit=True, enter_to_submit=False):
    username = st.text_input("用户名", max_chars=auth.USERNAME_LENGTH)
    name = st.text_input("姓名或名称", max_chars=50)
    password = st.text_input(
        "密码",
        type="password",
        max_chars=auth.MAX_PASSWORD_LENGTH,
        help=f"至少 {auth.MIN_PASSWORD_LENGTH} 个字符,同时包含字母和数字",
    )
    added = st.form_submit_button("添加管理员", icon=":material/admin_panel_settings:")
if added:
    try:
        with db.transaction(ui.engine()) as s:
            account = auth.create_admin(
                session=s,
                username=username,
                password=password,
                display_name=name,
                actor=user.name,
            )
    except auth.AuthError as exc:
        st.error(str(exc))
    else:
        flash(f"已添加管理员「{md_escape(account.display_name)}」。")
        st.rerun()
