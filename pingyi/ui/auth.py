"""Who is logged in, in this browser tab: the login and password forms, and the gate every page
passes (`require`), so a page opened by a typed URL shows nothing its reader may not see.

The tab keeps only the account id and the time of its last activity; the account and its roles
are read again on every run, so a deactivated account or a changed role takes effect at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from pingyi import audit, auth, db, ui
from pingyi.auth import Role
from pingyi.models import Member
from pingyi.ui.text import md_escape

ACCOUNT = "auth_account_id"  # st.session_state: the logged-in account's id
LAST_SEEN = "auth_last_seen"  # time.time() of this tab's last run while logged in
NOTICE = "auth_notice"  # why the tab was logged out, shown on the login page

MSG_NO_ACCESS = "您没有访问此页面的权限。"
MSG_LOGIN_FIRST = "请先登录。"
MSG_IDLE = f"超过 {auth.IDLE_MINUTES} 分钟没有操作,已自动退出,请重新登录。"


@dataclass(frozen=True)
class User:
    """The logged-in account as the pages need it."""

    account_id: int
    username: str
    name: str
    member_id: int | None
    roles: frozenset[Role]
    must_change_password: bool
    in_leading_group: bool  # 党组书记 or 班子成员: may record 调研督查

    def has(self, *wanted: Role) -> bool:
        return any(role in self.roles for role in wanted)


def log_in(account_id: int) -> None:
    st.session_state[ACCOUNT] = account_id
    st.session_state[LAST_SEEN] = time.time()
    st.session_state.pop(NOTICE, None)


def log_out(notice: str | None = None) -> None:
    """Forget the account and everything this tab held for it."""
    for key in list(st.session_state):
        del st.session_state[key]
    if notice:
        st.session_state[NOTICE] = notice


def current_user() -> User | None:
    """The tab's user, read from the database; None when logged out, idle too long, or the
    account was deactivated meanwhile. Counts this run as activity."""
    account_id = st.session_state.get(ACCOUNT)
    if account_id is None:
        return None
    idle = time.time() - st.session_state.get(LAST_SEEN, 0.0)
    if idle > auth.IDLE_MINUTES * 60:
        log_out(MSG_IDLE)
        return None
    with db.session(ui.engine()) as s:
        account = s.get(auth.Account, account_id)
        if account is None or not account.active:
            log_out("账号已停用,请联系领导小组办公室。")
            return None
        member = s.get(Member, account.member_id) if account.member_id else None
        user = User(
            account_id=account_id,
            username=account.username,
            name=account.display_name,
            member_id=account.member_id,
            roles=auth.roles(session=s, account=account),
            must_change_password=account.must_change_password,
            in_leading_group=auth.in_leading_group(member),
        )
    st.session_state[LAST_SEEN] = time.time()
    return user


def require(*roles: Role) -> User:
    """The page's reader, if they have one of `roles` (any logged-in user when none are
    given); otherwise say why and stop the page before it reads anything."""
    user = current_user()
    if user is None:
        st.warning(MSG_LOGIN_FIRST, icon=":material/login:")
        login_form()  # then this same page, as the typed URL asked
        st.stop()
    if user.must_change_password:
        st.warning("请先修改初始密码。", icon=":material/password:")
        st.page_link("pages/password.py", label="去修改密码", icon=":material/password:")
        st.stop()
    if roles and not user.has(*roles):
        st.error(MSG_NO_ACCESS, icon=":material/block:")
        st.stop()
    return user


def login_form(*, then: str | None = None) -> None:
    """The login form; on success the tab is logged in and goes to page `then` (this page
    again when None). Refusals (wrong password, lock) are shown under the form."""
    st.caption(
        "领导小组办公室、点评领导和党员请登录。群众评议不需要账号:请扫描测评码条上的二维码。"
    )
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.info(notice)
    with st.form("login", enter_to_submit=True):
        username = st.text_input(
            "用户名", max_chars=auth.USERNAME_LENGTH, placeholder="党员编号或管理员用户名"
        )
        password = st.text_input("密码", type="password", max_chars=auth.MAX_PASSWORD_LENGTH)
        submitted = st.form_submit_button("登录", type="primary", icon=":material/login:")
    if not submitted:
        return
    if not username.strip() or not password:
        st.error("请填写用户名和密码")
        return
    with db.transaction(ui.engine()) as s:
        result = auth.login(session=s, username=username, password=password)
        if result.locked_now:
            audit.record(
                session=s, actor=username.strip()[:50], action="账号锁定", detail=result.message
            )
    if result.account is None:
        st.error(result.message)
        return
    log_in(result.account.id)  # type: ignore[arg-type]
    if result.account.must_change_password:
        st.switch_page("pages/password.py")  # nothing else opens before that
    if then is None:
        st.rerun()
    st.switch_page(then)


def sidebar(user: User) -> None:
    """Who is logged in, and the way out."""
    with st.sidebar:
        roles = "、".join(sorted(user.roles)) or "无角色"
        st.caption(f"当前用户:{md_escape(user.name)}({roles})")
        if st.button("退出登录", icon=":material/logout:", key="auth_logout"):
            log_out("已退出登录。")
            st.rerun()
