"""Logins that survive a reload and a restart (pingyi/logins.py, pingyi/ui/login_routes.py), on
both backends: a login's ticket is handed in once for a signed cookie; the cookie brings the
login back in a new tab; a cookie edited by hand, signed by another installation, ended by a
logout, idle past 30 minutes, or older than the account's password or its deactivation is
refused; the database holds nothing that makes a cookie; the route sets the cookie HttpOnly
and SameSite=Strict and refuses another site's request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from sqlmodel import select

from pingyi import auth, db, logins
from pingyi.logins import Refusal, Resumed
from pingyi.models import Account, LoginSession
from pingyi.ui import login_routes

PASSWORD = "office-pass-1"
NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def office(engine: Engine, username: str = "office") -> Account:
    with db.transaction(engine) as s:
        return auth.create_admin(actor="测试", session=s, username=username, password=PASSWORD)


def open_login(engine: Engine, account: Account, now: datetime = NOW) -> logins.Opened:
    with db.transaction(engine) as s:
        return logins.open_login(session=s, account=s.get(Account, account.id), now=now)  # type: ignore[arg-type]


def hand_over(engine: Engine, ticket: str, now: datetime = NOW, **kw: Any) -> str | None:
    with db.transaction(engine) as s:
        return logins.hand_over(session=s, ticket=ticket, now=now, **kw)


def cookie_of(engine: Engine, account: Account, now: datetime = NOW) -> str:
    cookie = hand_over(engine, open_login(engine, account, now).ticket, now)
    assert cookie is not None
    return cookie


def resume(engine: Engine, cookie: str, now: datetime = NOW, **kw: Any) -> Resumed:
    with db.session(engine) as s:
        return logins.resume(session=s, cookie=cookie, now=now, **kw)


def logins_in(engine: Engine) -> int:
    with db.session(engine) as s:
        return len(s.exec(select(LoginSession.id)).all())


def test_a_ticket_is_handed_in_once_for_a_cookie_that_brings_the_login_back(
    engine: Engine,
) -> None:
    account = office(engine)
    opened = open_login(engine, account)
    with db.session(engine) as s:
        tab = logins.check(session=s, login_id=opened.login_id, now=NOW)
    assert tab.account_id == account.id and not tab.handed_over  # the tab is logged in at once
    cookie = hand_over(engine, opened.ticket)
    assert cookie is not None
    assert hand_over(engine, opened.ticket) is None  # spent
    with db.session(engine) as s:
        assert logins.check(session=s, login_id=opened.login_id, now=NOW).handed_over
    found = resume(engine, cookie, NOW + timedelta(minutes=5))
    assert (found.login_id, found.account_id, found.refusal) == (opened.login_id, account.id, None)
    assert found.touch  # five minutes since the last activity: recorded
    assert not resume(engine, cookie, NOW + timedelta(seconds=10)).touch


def test_a_ticket_not_handed_in_within_two_minutes_gives_nothing(engine: Engine) -> None:
    opened = open_login(engine, office(engine))
    late = NOW + timedelta(seconds=logins.TICKET_SECONDS + 1)
    assert hand_over(engine, opened.ticket, late) is None
    assert hand_over(engine, opened.ticket, NOW) is None  # and it is spent
    assert hand_over(engine, "") is None
    assert hand_over(engine, "x" * 500) is None


def edited(cookie: str, at: int) -> str:
    swapped = "A" if cookie[at] != "A" else "B"
    return cookie[:at] + swapped + cookie[at + 1 :]


def test_a_cookie_edited_by_hand_or_made_elsewhere_is_refused(engine: Engine) -> None:
    account = office(engine)
    cookie = cookie_of(engine, account)
    token, _, signature = cookie.partition(".")
    for bad in (
        edited(cookie, 3),  # in the token
        edited(cookie, len(token) + 3),  # in the signature
        token,  # no signature
        f"{token}.",
        f".{signature}",
        "",
        "garbage",
        cookie + "x" * 300,
    ):
        assert resume(engine, bad) == Resumed(refusal=Refusal.MALFORMED), bad
    # Another installation (another secret) signs a token of its own: not ours.
    foreign = logins.sign(token, b"another installation's secret")
    assert resume(engine, foreign) == Resumed(refusal=Refusal.MALFORMED)
    # Signed by us but never handed out (a forged row would need the token's hash preimage).
    assert resume(engine, logins.sign("made-up-token")) == Resumed(refusal=Refusal.UNKNOWN)
    assert resume(engine, cookie).account_id == account.id  # the real one still works


def test_nothing_in_the_database_makes_a_cookie(engine: Engine) -> None:
    account = office(engine)
    opened = open_login(engine, account)
    cookie = hand_over(engine, opened.ticket)
    assert cookie is not None
    token = cookie.partition(".")[0]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM login_session")).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert token not in stored and opened.ticket not in stored and cookie not in stored
    columns = {c["name"] for c in inspect(engine).get_columns("login_session")}
    assert columns == {
        "id",
        "account_id",
        "token_hash",
        "ticket_hash",
        "ticket_expires",
        "password_mark",
        "created_at",
        "last_seen",
    }


def test_thirty_minutes_without_activity_end_a_login(engine: Engine) -> None:
    account = office(engine)
    cookie = cookie_of(engine, account)
    almost = NOW + timedelta(minutes=logins.IDLE_MINUTES) - timedelta(seconds=1)
    found = resume(engine, cookie, almost)
    assert found.account_id == account.id and found.touch
    with db.transaction(engine) as s:
        logins.touch(session=s, login_id=found.login_id, now=almost)  # type: ignore[arg-type]
    # Thirty minutes from the last activity, not from the login.
    assert resume(engine, cookie, almost + timedelta(minutes=29)).account_id == account.id
    late = resume(engine, cookie, almost + timedelta(minutes=30, seconds=1))
    assert late == Resumed(refusal=Refusal.IDLE, stale=found.login_id)
    with db.session(engine) as s:
        tab = logins.check(session=s, login_id=found.login_id, now=almost + timedelta(hours=1))  # type: ignore[arg-type]
    assert tab.refusal is Refusal.IDLE


def test_a_logout_ends_the_login_for_every_tab_and_its_cookie(engine: Engine) -> None:
    account = office(engine)
    opened = open_login(engine, account)
    cookie = hand_over(engine, opened.ticket)
    other = cookie_of(engine, account)  # the same account in another browser
    assert cookie is not None
    with db.transaction(engine) as s:
        logins.end(session=s, login_id=opened.login_id)
    with db.session(engine) as s:
        assert logins.check(session=s, login_id=opened.login_id).refusal is Refusal.UNKNOWN
    assert resume(engine, cookie).refusal is Refusal.UNKNOWN
    assert resume(engine, other).account_id == account.id  # the other browser stays
    with db.transaction(engine) as s:
        logins.end_cookie(session=s, cookie=other)
    assert resume(engine, other).refusal is Refusal.UNKNOWN


def change_password(engine: Engine, account: Account) -> None:
    with db.transaction(engine) as s:
        auth.change_password(
            session=s, account_id=account.id, old_password=PASSWORD, new_password="new-pass-22"
        )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        change_password,
        lambda engine, account: _in(engine, auth.reset_password, account_id=account.id),
        lambda engine, account: _in(engine, auth.set_active, account_id=account.id, active=False),
    ],
    ids=["password changed", "password reset", "deactivated"],
)
def test_a_password_change_reset_or_deactivation_ends_every_login_of_the_account(
    engine: Engine, change: Callable[[Engine, Account], None]
) -> None:
    account = office(engine)
    office(engine, "second")  # so the office's account may be deactivated
    cookies = [cookie_of(engine, account) for _ in range(2)]
    second = cookie_of(engine, office_account(engine, "second"))
    change(engine, account)
    for cookie in cookies:
        assert resume(engine, cookie).refusal is Refusal.UNKNOWN
    assert resume(engine, second).refusal is None
    assert logins_in(engine) == 1


def _in(engine: Engine, operation: Callable[..., object], **kw: Any) -> None:
    with db.transaction(engine) as s:
        operation(session=s, actor="测试", **kw)


def office_account(engine: Engine, username: str) -> Account:
    with db.session(engine) as s:
        return s.exec(select(Account).where(Account.username == username)).one()


def test_a_login_is_bound_to_the_password_it_was_opened_with(engine: Engine) -> None:
    """Even a password written some other way (a restore, an old release) ends the login."""
    account = office(engine)
    cookie = cookie_of(engine, account)
    with db.transaction(engine) as s:
        row = s.get(Account, account.id)
        row.password_hash = auth._CHOSEN.hash("written-elsewhere-1")  # type: ignore[union-attr]
        s.add(row)
    found = resume(engine, cookie)
    assert found.refusal is Refusal.PASSWORD and found.stale is not None


def test_stale_logins_and_unused_tickets_are_forgotten(engine: Engine) -> None:
    account = office(engine)
    cookie_of(engine, account, NOW)
    open_login(engine, account, NOW)  # a ticket never handed in
    assert logins_in(engine) == 2
    open_login(engine, account, NOW + timedelta(minutes=31))  # opening one sweeps
    assert logins_in(engine) == 1


# ---- the routes, called as the ASGI server calls them


def request(
    path: str,
    body: str = "",
    *,
    origin: str | None = "http://pingyi.test:8501",
    cookie: str | None = None,
    scheme: str = "http",
    forwarded: str | None = None,
    host: str = "pingyi.test:8501",
) -> Any:
    from starlette.requests import Request

    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", f"{logins.COOKIE}={cookie}".encode()))
    if forwarded is not None:
        headers.append((b"x-forwarded-proto", forwarded.encode()))
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "scheme": scheme,
        "headers": headers,
        "query_string": b"",
        "server": ("pingyi.test", 8501),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body.encode(), "more_body": False}

    return Request(scope, receive)


def call(handler: Callable[..., Any], req: Any) -> Any:
    """Run the handler on an event loop of its own thread: a session's browser tests leave
    Playwright's loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, handler(req)).result()


def set_cookie(response: Any) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    jar.load(response.headers["set-cookie"])
    return jar


@pytest.fixture
def routed(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The routes on the test's database (they use the process's one engine)."""
    monkeypatch.setattr(db, "engine", lambda: engine)
    return engine


def test_the_route_sets_the_cookie_httponly_and_samesite_once(routed: Engine) -> None:
    account = office(routed)
    opened = open_login(routed, account, datetime.now(UTC))
    response = call(login_routes.set_login_cookie, request(login_routes.LOGIN_PATH, opened.ticket))
    assert response.status_code == 204
    morsel = set_cookie(response)[logins.COOKIE]
    assert morsel["httponly"] and morsel["samesite"].lower() == "strict"
    assert morsel["path"] == "/" and not morsel["secure"]
    assert not morsel["max-age"]  # a session cookie: idle time is the server's to judge
    assert resume(routed, morsel.value, datetime.now(UTC)).account_id == account.id
    again = call(login_routes.set_login_cookie, request(login_routes.LOGIN_PATH, opened.ticket))
    assert again.status_code == 403 and "set-cookie" not in again.headers


def test_the_cookie_is_secure_over_https(routed: Engine) -> None:
    account = office(routed)
    for kw in ({"scheme": "https"}, {"forwarded": "https"}):
        opened = open_login(routed, account, datetime.now(UTC))
        req = request(login_routes.LOGIN_PATH, opened.ticket, **kw)  # type: ignore[arg-type]
        morsel = set_cookie(call(login_routes.set_login_cookie, req))[logins.COOKIE]
        assert morsel["secure"], kw


def test_another_sites_request_is_refused(routed: Engine) -> None:
    opened = open_login(routed, office(routed), datetime.now(UTC))
    req = request(login_routes.LOGIN_PATH, opened.ticket, origin="http://evil.test")
    assert call(login_routes.set_login_cookie, req).status_code == 403
    # The ticket was not spent by the refused request.
    ok = call(login_routes.set_login_cookie, request(login_routes.LOGIN_PATH, opened.ticket))
    assert ok.status_code == 204


def test_behind_nginx_the_host_without_its_port_is_the_same_site(routed: Engine) -> None:
    """deploy/nginx.conf passes `Host $host`: the browser's port is not in it."""
    opened = open_login(routed, office(routed), datetime.now(UTC))
    req = request(
        login_routes.LOGIN_PATH, opened.ticket, origin="http://pingyi.test:8080", host="pingyi.test"
    )
    assert call(login_routes.set_login_cookie, req).status_code == 204
    other = open_login(routed, office(routed, "second"), datetime.now(UTC))
    req = request(
        login_routes.LOGIN_PATH, other.ticket, origin="http://evil.test:8080", host="pingyi.test"
    )
    assert call(login_routes.set_login_cookie, req).status_code == 403


def test_the_logout_route_ends_the_login_and_clears_the_cookie(routed: Engine) -> None:
    account = office(routed)
    cookie = cookie_of(routed, account, datetime.now(UTC))
    evil = request(login_routes.LOGOUT_PATH, cookie=cookie, origin="http://evil.test")
    assert call(login_routes.clear_login_cookie, evil).status_code == 403
    assert resume(routed, cookie, datetime.now(UTC)).account_id == account.id
    response = call(
        login_routes.clear_login_cookie, request(login_routes.LOGOUT_PATH, cookie=cookie)
    )
    assert response.status_code == 204
    morsel = set_cookie(response)[logins.COOKIE]
    assert morsel.value == "" and morsel["max-age"] == "0"
    assert resume(routed, cookie, datetime.now(UTC)).refusal is Refusal.UNKNOWN
