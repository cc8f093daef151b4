"""Logins that survive a reload and a restart, in Debian's chromium against a real server.

The office logs in once: the browser gets an HttpOnly, SameSite=Strict cookie the page's own
JavaScript cannot read; a reload and a new tab find the login again; a SIGKILL of the app and
a restart keep it (the next click, and a reload, land logged in); 退出登录 in a second tab ends
it in the first at its next click, and on a 会议大屏 left open at its next refresh; a cookie
edited by hand, or one made by another installation, is refused with the login form and a
reason.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pingyi import logins

pytestmark = pytest.mark.browser

WAIT_S = 15.0
LOGOUT = "退出登录"
LOGIN_FIRST = "请先登录。"


def login_cookie(page: Any, present: bool = True) -> dict[str, Any] | None:
    """The browser's login cookie once it is (or is no longer) there."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = [c for c in page.context.cookies() if c["name"] == logins.COOKIE]
        if bool(found) == present:
            return found[0] if found else None
        page.wait_for_timeout(100)
    raise AssertionError(f"the login cookie is {'missing' if present else 'still there'}")


def shows_logged_in(page: Any, settle: Any, title: str) -> None:
    settle(page, title)
    page.get_by_role("button", name=LOGOUT).wait_for()
    assert page.get_by_label("用户名").count() == 0
    assert page.get_by_text(LOGIN_FIRST).count() == 0


def shows_login_form(page: Any, settle: Any, reason: str | None) -> None:
    settle(page, LOGIN_FIRST)
    page.get_by_label("用户名").wait_for()
    assert page.get_by_role("button", name=LOGOUT).count() == 0
    if reason is not None:
        page.get_by_text(reason).wait_for()


def go(page: Any, settle: Any, title: str) -> None:
    """A click in the sidebar's menu: a run of the page script in the tab's session."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()


def test_a_reload_and_a_new_tab_keep_the_office_logged_in(demo_app, page, settle, log_in):  # type: ignore[no-untyped-def]
    log_in(page, demo_app, "roster")
    cookie = login_cookie(page)
    assert cookie is not None
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert cookie["expires"] == -1  # a session cookie: the server judges the 30 minutes
    assert logins.COOKIE not in page.evaluate("document.cookie")  # out of the page's reach

    page.reload()
    shows_logged_in(page, settle, "名册")
    other = page.context.new_page()
    other.goto(f"{demo_app.url}/results")
    shows_logged_in(other, settle, "评议结果")


def test_a_sigkill_and_restart_of_the_app_keep_the_office_logged_in(  # type: ignore[no-untyped-def]
    stoppable_demo_app, page, settle, log_in
):
    log_in(page, stoppable_demo_app, "roster")
    login_cookie(page)
    sockets: list[object] = []  # the tab's new connection, once it reconnects
    page.on("websocket", lambda socket: sockets.append(socket))
    stoppable_demo_app.kill()
    stoppable_demo_app.start()
    # The tab reconnects by itself to a new session that knows nothing of it; the next click
    # runs there and finds the login in the cookie.
    deadline = time.monotonic() + 30
    while not sockets and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert sockets, "the tab did not reconnect"
    page.wait_for_timeout(1000)  # its handshake
    settle(page, "名册")
    go(page, settle, "轮次与进度")
    shows_page_logged_in(page, settle, "轮次与进度")
    page.reload()
    shows_page_logged_in(page, settle, "轮次与进度")


def shows_page_logged_in(page: Any, settle: Any, title: str) -> None:
    """The page itself, not the login form. (Its menu may be the list of pages/ files on the
    first load after a restart: Streamlit's own, an open issue of #18.)"""
    page.get_by_role("heading", name=title).wait_for()
    settle(page, title)
    assert page.get_by_label("用户名").count() == 0
    assert page.get_by_text(LOGIN_FIRST).count() == 0


def log_out_in_a_second_tab(page: Any, server: Any, settle: Any) -> None:
    """Once the cookie is set, a second tab of the same browser finds the login and logs out."""
    login_cookie(page)
    second = page.context.new_page()
    second.goto(f"{server.url}/rounds")
    shows_logged_in(second, settle, "轮次与进度")
    second.get_by_role("button", name=LOGOUT).click()
    shows_login_form(second, settle, "已退出登录。")


def test_logging_out_in_a_second_tab_ends_the_login_in_the_first(  # type: ignore[no-untyped-def]
    demo_app, page, settle, log_in
):
    log_in(page, demo_app, "roster")
    log_out_in_a_second_tab(page, demo_app, settle)
    assert login_cookie(page, present=False) is None  # the browser forgot it too

    go(page, settle, "轮次与进度")  # the first tab, untouched since, at its next click
    shows_login_form(page, settle, logins.Refusal.UNKNOWN.value)
    page.reload()
    shows_login_form(page, settle, None)


def test_a_meeting_screen_left_open_is_logged_out_at_its_next_refresh(  # type: ignore[no-untyped-def]
    demo_app, page, settle, log_in
):
    """Nothing is clicked on the meeting screen: its own refresh (every 3 s) checks the login
    and, logged out in another tab, the whole page turns to the login form."""
    log_in(page, demo_app, "meeting")
    log_out_in_a_second_tab(page, demo_app, settle)
    page.get_by_label("用户名").wait_for(timeout=15_000)  # no click, no reload
    shows_login_form(page, settle, logins.Refusal.UNKNOWN.value)


def test_a_cookie_edited_by_hand_is_refused(demo_app, page, settle, log_in):  # type: ignore[no-untyped-def]
    log_in(page, demo_app, "roster")
    cookie = login_cookie(page)
    assert cookie is not None
    value = cookie["value"]
    edited = value[:5] + ("A" if value[5] != "A" else "B") + value[6:]
    page.context.add_cookies([{**cookie, "value": edited}])
    page.reload()
    shows_login_form(page, settle, logins.Refusal.MALFORMED.value)
    assert login_cookie(page, present=False) is None  # cleared, not tried again

    # The real cookie still works: nothing but the edited one was refused.
    page.context.add_cookies([cookie])
    page.reload()
    shows_logged_in(page, settle, "名册")


def test_another_installations_cookie_is_refused(  # type: ignore[no-untyped-def]
    demo_app, serve, tmp_path, page, settle, log_in
):
    """Two installations on one host share the browser's cookies for it (a port does not
    separate cookies); each refuses the other's, signed with another secret."""
    with serve(tmp_path / "other", demo=True, extra_env={"PINGYI_SECRET_KEY": "another"}) as other:
        log_in(page, other, "roster")
        login_cookie(page)
    page.goto(f"{demo_app.url}/roster")
    shows_login_form(page, settle, logins.Refusal.MALFORMED.value)
