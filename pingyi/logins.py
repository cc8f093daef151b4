"""Logins that survive a reload and a restart: a login session per browser, held by a signed
HttpOnly cookie, ended by logout, a password change or 30 minutes without activity.

A login in a tab is `open`ed with a one-time ticket; the browser hands the ticket to the app's
own route (pingyi/ui/login_routes.py), which `hand_over`s it for the cookie: a random token,
signed with a key derived from the app's secret. The database keeps only the hashes of ticket
and token, so neither a copy of it nor the page's own JavaScript (the cookie is HttpOnly) can
make a working cookie; the signature refuses a cookie edited by hand or made for another
installation before the database is asked. A session is bound to the account's password as it
was at login (`password_mark`): any change of password, by its owner or a reset by the office,
ends every session of the account, as does deactivating it.

This module has no Streamlit in it: the tab's side is pingyi/ui/auth.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from pingyi.config import settings
from pingyi.models import Account, LoginSession

IDLE_MINUTES = 30  # a login with no activity for this long must log in again
COOKIE = "pingyi_login"
TICKET_SECONDS = 120  # from the login to the browser handing its ticket in
TOUCH_SECONDS = 60  # last_seen is written at most once a minute per session
IDLE = timedelta(minutes=IDLE_MINUTES)
_INFO = b"pingyi login cookie v1"


class Refusal(StrEnum):
    """Why a cookie or a tab's login was not taken; the message is for the login page."""

    MALFORMED = "登录信息无效,请重新登录。"  # not a cookie this app makes, or edited by hand
    UNKNOWN = "登录已失效,请重新登录。"  # logged out, or never handed over
    IDLE = f"超过 {IDLE_MINUTES} 分钟没有操作,已自动退出,请重新登录。"
    PASSWORD = "密码已修改,请用新密码重新登录。"
    INACTIVE = "账号已停用,请联系领导小组办公室。"


@dataclass(frozen=True)
class Opened:
    login_id: int
    ticket: str  # for the browser to hand in at the app's route, once


@dataclass(frozen=True)
class Resumed:
    """A login as a tab finds it: its session and account, or why not. Reading it writes
    nothing; `stale` (a session to delete) and `touch` (activity to record) say what the
    caller writes, in a short transaction of its own, only when there is something."""

    login_id: int | None = None
    account_id: int | None = None
    refusal: Refusal | None = None
    stale: int | None = None
    touch: bool = False
    handed_over: bool = False  # the browser holds its cookie: the tab's ticket is spent


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def password_mark(account: Account) -> str:
    """A fingerprint of the account's password hash (salted: a new password, a new mark)."""
    return _digest(account.password_hash)[:16]


def _signing_key(secret: bytes) -> bytes:
    return hmac.new(secret, _INFO, hashlib.sha256).digest()


def _signature(token: str, secret: bytes) -> str:
    mac = hmac.new(_signing_key(secret), token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign(token: str, secret: bytes | None = None) -> str:
    """The cookie's value for `token`: token.signature."""
    return f"{token}.{_signature(token, secret or settings().secret_key)}"


def _unsigned(cookie: str, secret: bytes) -> str | None:
    """The token of a cookie this installation signed; None for anything else."""
    token, dot, signature = cookie.strip().partition(".")
    if not dot or not token or len(cookie) > 200:
        return None
    return token if hmac.compare_digest(signature, _signature(token, secret)) else None


def open_login(*, session: Session, account: Account, now: datetime | None = None) -> Opened:
    """A login session for `account`, in the tab that logged in, and its ticket for the
    cookie."""
    moment = now or _now()
    forget_stale(session=session, now=moment)
    ticket = secrets.token_urlsafe(32)
    login = LoginSession(
        account_id=account.id,
        ticket_hash=_digest(ticket),
        ticket_expires=moment + timedelta(seconds=TICKET_SECONDS),
        password_mark=password_mark(account),
        created_at=moment,
        last_seen=moment,
    )
    session.add(login)
    session.flush()
    return Opened(login_id=login.id, ticket=ticket)


def hand_over(
    *, session: Session, ticket: str, secret: bytes | None = None, now: datetime | None = None
) -> str | None:
    """The cookie's value for a ticket still unused and in time; None otherwise. The ticket
    is spent: a second try with it gets nothing."""
    if not ticket or len(ticket) > 100:
        return None
    query = select(LoginSession).where(LoginSession.ticket_hash == _digest(ticket))
    login = session.exec(query.with_for_update()).first()
    if login is None:
        return None
    in_time = login.ticket_expires is not None and _aware(login.ticket_expires) >= (now or _now())
    login.ticket_hash = None
    login.ticket_expires = None
    token = secrets.token_urlsafe(32) if in_time else None
    if token is not None:
        login.token_hash = _digest(token)
    session.add(login)
    session.flush()
    return None if token is None else sign(token, secret or settings().secret_key)


def resume(
    *, session: Session, cookie: str, secret: bytes | None = None, now: datetime | None = None
) -> Resumed:
    """The login a browser's cookie holds, for a new tab or a reload."""
    token = _unsigned(cookie, secret or settings().secret_key)
    if token is None:
        return Resumed(refusal=Refusal.MALFORMED)
    query = select(LoginSession).where(LoginSession.token_hash == _digest(token))
    login = session.exec(query).first()
    if login is None:
        return Resumed(refusal=Refusal.UNKNOWN)
    return _as_found(session, login, now or _now())


def check(*, session: Session, login_id: int, now: datetime | None = None) -> Resumed:
    """Whether a tab's login still holds: not logged out (in any tab), not idle, the same
    password, the account active."""
    login = session.get(LoginSession, login_id)
    if login is None:
        return Resumed(refusal=Refusal.UNKNOWN)
    return _as_found(session, login, now or _now())


def _as_found(session: Session, login: LoginSession, now: datetime) -> Resumed:
    account = session.get(Account, login.account_id)
    idle = now - _aware(login.last_seen)
    refusal = None
    if account is None or not account.active:
        refusal = Refusal.INACTIVE
    elif not hmac.compare_digest(login.password_mark, password_mark(account)):
        refusal = Refusal.PASSWORD
    elif idle > IDLE:
        refusal = Refusal.IDLE
    if refusal is not None:
        return Resumed(refusal=refusal, stale=login.id)
    touch = idle.total_seconds() >= TOUCH_SECONDS
    return Resumed(
        login_id=login.id,
        account_id=login.account_id,
        touch=touch,
        handed_over=login.token_hash is not None,
    )


def touch(*, session: Session, login_id: int, now: datetime | None = None) -> None:
    """Activity on a login: its 30 minutes start again."""
    session.execute(
        update(LoginSession).where(col(LoginSession.id) == login_id).values(last_seen=now or _now())
    )


def end(*, session: Session, login_id: int) -> None:
    """Log out: the session ends in every tab of the browser that holds it."""
    session.execute(delete(LoginSession).where(col(LoginSession.id) == login_id))


def end_cookie(*, session: Session, cookie: str, secret: bytes | None = None) -> None:
    """Log out the session a cookie holds (the route that clears the cookie)."""
    token = _unsigned(cookie, secret or settings().secret_key)
    if token is not None:
        session.execute(delete(LoginSession).where(col(LoginSession.token_hash) == _digest(token)))


def end_all(*, session: Session, account_id: int) -> None:
    """Every session of an account (password changed or reset, account deactivated)."""
    session.execute(delete(LoginSession).where(col(LoginSession.account_id) == account_id))


def forget_stale(*, session: Session, now: datetime | None = None) -> None:
    """Delete sessions idle past the limit and tickets never handed in (kept small)."""
    cutoff = (now or _now()) - IDLE
    session.execute(delete(LoginSession).where(col(LoginSession.last_seen) < cutoff))
