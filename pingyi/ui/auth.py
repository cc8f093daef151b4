"""Who is logged in, in this browser tab: the login and password forms, and the gate every page
passes (`require`), so a page opened by a typed URL shows nothing its reader may not see.

A login is a login session (pingyi/logins.py) that outlives the tab: the browser keeps it in an
HttpOnly cookie, set by the app's own route (login_routes.py) when the page hands in the
one-time ticket of its login, so a reload, a new tab or an app restart finds it again. The tab
keeps only the session's id; the session, the account and its roles are read again on every
run, so a logout in another tab, a password change, a deactivated account or a changed role
takes effect at once, and 30 minutes without activity end it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import streamlit as st
from sqlmodel import Session

from pingyi import auth, db, logins, ui
from pingyi.auth import Role
from pingyi.models import Account, Member
from pingyi.ui.login_routes import LOGIN_PATH, LOGOUT_PATH
from pingyi.ui.text import md_escape

LOGIN = "auth_login_id"  # st.session_state: the login session this tab holds
ACCOUNT = "auth_account_id"  # st.session_state: its account's id
TICKET = "auth_ticket"  # a login's ticket the browser is still to hand in for the cookie
FORGET = "auth_forget_cookie"  # the browser's cookie is to be cleared (logout, refused)
TRIED = "auth_cookie_tried"  # the cookie this tab already tried: not asked again each run
NOTICE = "auth_notice"  # why the tab was logged out, shown on the login page
_KEPT = (TRIED,)  # what a logout leaves in the tab

MSG_NO_ACCESS = "您没有访问此页面的权限。"
MSG_LOGIN_FIRST = "请先登录。"
MSG_IDLE = logins.Refusal.IDLE.value

# The browser's own request to the app's route (only a response to it can set or clear an
# HttpOnly cookie). A script, not a component: a component's first drawing costs a rerun,
# which would wipe a one-time message such as 密码已修改. Sent again when drawn again, which
# is harmless: a ticket is spent once, and clearing a cleared cookie changes nothing.
_ERRAND_KEY = "auth_cookie_errand"
_ERRAND = """<script>
fetch({path}, {{method: "POST", body: {body}, credentials: "same-origin",
  headers: {{"Content-Type": "text/plain"}}}});
</script>"""


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


def log_in(opened: logins.Opened, account_id: int) -> None:
    """This tab holds the login just opened; the browser is to get its cookie."""
    st.session_state[LOGIN] = opened.login_id
    st.session_state[ACCOUNT] = account_id
    st.session_state[TICKET] = opened.ticket
    st.session_state.pop(NOTICE, None)
    st.session_state.pop(FORGET, None)


def log_out(notice: str | None = None) -> None:
    """Forget the account and everything this tab held for it (the login itself is ended by
    the caller, or was already gone); the browser's cookie is cleared."""
    kept = {key: st.session_state[key] for key in _KEPT if key in st.session_state}
    for key in list(st.session_state):
        del st.session_state[key]
    st.session_state.update(kept)
    st.session_state[FORGET] = True
    if notice:
        st.session_state[NOTICE] = notice


def end_login(notice: str | None = None) -> None:
    """Log out: the login ends in every tab and browser window that holds it."""
    login_id = st.session_state.get(LOGIN)
    if login_id is not None:
        with db.transaction(ui.engine()) as s:
            logins.end(session=s, login_id=login_id)
    log_out(notice)


def _cookie_login(s: Session) -> logins.Resumed | None:
    """The login the browser's cookie holds, tried once per cookie in a tab."""
    cookie = st.context.cookies.get(logins.COOKIE)
    if not isinstance(cookie, str) or not cookie or st.session_state.get(TRIED) == cookie:
        return None
    st.session_state[TRIED] = cookie
    return logins.resume(session=s, cookie=cookie)


def _user(s: Session, account: Account) -> User:
    member = s.get(Member, account.member_id) if account.member_id else None
    return User(
        account_id=account.id,
        username=account.username,
        name=account.display_name,
        member_id=account.member_id,
        roles=auth.roles(session=s, account=account),
        must_change_password=account.must_change_password,
        in_leading_group=auth.in_leading_group(member),
    )


def current_user() -> User | None:
    """The tab's user, read from the database; None when logged out (here or in another tab),
    idle too long, the password changed or the account deactivated meanwhile. Counts this run
    as activity."""
    login_id = st.session_state.get(LOGIN)
    user = None
    with db.session(ui.engine()) as s:
        found = _cookie_login(s) if login_id is None else logins.check(session=s, login_id=login_id)
        account = s.get(Account, found.account_id) if found and found.account_id else None
        if account is not None:
            user = _user(s, account)
    if found is None:
        return None
    if found.stale is not None or found.touch:
        with db.transaction(ui.engine()) as s:
            if found.stale is not None:
                logins.end(session=s, login_id=found.stale)
            elif found.login_id is not None:  # a touch is only asked of a live login
                logins.touch(session=s, login_id=found.login_id)
    if user is None:
        # A cookie left from a logout is no news; anything else says why.
        quiet = login_id is None and found.refusal is logins.Refusal.UNKNOWN
        log_out(None if quiet else (found.refusal or logins.Refusal.UNKNOWN).value)
        return None
    st.session_state[LOGIN] = found.login_id
    st.session_state[ACCOUNT] = user.account_id
    if found.handed_over:
        st.session_state.pop(TICKET, None)  # the cookie is set: nothing left to hand in
    return user


def recheck_in_fragment() -> None:
    """At the top of a fragment, which reruns alone (a refresh, a click in it) and so past
    app.py's check: the login is checked as a whole run checks it, and counts as activity (a
    meeting screen left open stays logged in); without one, the whole page runs again and
    shows the login form."""
    if current_user() is None:
        st.rerun()


def cookie_errand(*, in_sidebar: bool) -> None:
    """Set the cookie of a login just opened in this tab (drawn until the database shows it
    handed over), or clear the cookie of one that ended (drawn once)."""
    ticket = st.session_state.get(TICKET)
    if ticket is not None:
        path, body = LOGIN_PATH, ticket
    elif st.session_state.pop(FORGET, None):
        path, body = LOGOUT_PATH, ""
    else:
        return
    script = _ERRAND.format(path=json.dumps(path), body=json.dumps(body))
    if in_sidebar:
        with st.sidebar:
            st.html(script, unsafe_allow_javascript=True)
        return
    # Above the page, taking no room (a style alone goes where it takes none).
    st.html(f"<style>.st-key-{_ERRAND_KEY} {{display: none}}</style>")
    with st.container(key=_ERRAND_KEY):
        st.html(script, unsafe_allow_javascript=True)


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
    # Kept until the next login: a run that follows at once (the cookie's errand) shows it too.
    notice = st.session_state.get(NOTICE)
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
    opened = None
    with db.transaction(ui.engine()) as s:
        result = auth.login(session=s, username=username, password=password)
        if result.account is not None:
            opened = logins.open_login(session=s, account=result.account)
    if result.account is None or opened is None:
        st.error(result.message)
        return
    log_in(opened, result.account.id)
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
            end_login("已退出登录。")
            st.rerun()
