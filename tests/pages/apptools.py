"""Helpers for AppTest: the office's account, and an AppTest session logged in as someone."""

from __future__ import annotations

import time

from sqlalchemy import Engine
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from pingyi import auth, db
from pingyi.models import Account
from pingyi.ui import auth as login

OFFICE, OFFICE_PASSWORD = "office", "office-pass-1"


def add_office(engine: Engine) -> None:
    """The office's 管理员 (OFFICE / OFFICE_PASSWORD), as the first-run page would make it."""
    with db.transaction(engine) as s:
        auth.create_admin(session=s, username=OFFICE, password=OFFICE_PASSWORD)


def logged_in(at: AppTest, username: str | None = OFFICE) -> AppTest:
    """The AppTest's session logged in as `username` (as the login page leaves it); None
    leaves it logged out. Reads the app's database (`db.session()`)."""
    if username is None:
        return at
    with db.session() as s:
        account = s.exec(select(Account).where(Account.username == username)).one()
    at.session_state[login.ACCOUNT] = account.id
    at.session_state[login.LAST_SEEN] = time.time()
    return at
