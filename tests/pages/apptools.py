"""Helpers for AppTest: accounts, an AppTest session logged in as someone, the current round,
and finding widgets by label."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st
from sqlalchemy import Engine
from sqlmodel import col, select
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.testing.v1 import AppTest

from pingyi import auth, config, db, logins, rounds
from pingyi.models import Account, Member, Step
from pingyi.ui import auth as login

APP = Path(__file__).resolve().parents[2] / "app.py"
OFFICE, OFFICE_PASSWORD = "office", "office-pass-1"


def forget_engines() -> None:
    """Drop every cached setting and engine, so the next run reads the environment again."""
    if db.engine.cache_info().currsize:
        db.engine().dispose()
    config.settings.cache_clear()
    db.engine.cache_clear()
    st.cache_resource.clear()


def add_office(engine: Engine) -> None:
    """The office's 管理员 (OFFICE / OFFICE_PASSWORD), as the first-run page would make it."""
    with db.transaction(engine) as s:
        auth.create_admin(actor="测试", session=s, username=OFFICE, password=OFFICE_PASSWORD)


def logged_in(at: AppTest, username: str | None = OFFICE) -> AppTest:
    """The AppTest's session logged in as `username` (as the login page leaves it); None
    leaves it logged out. Reads the app's database (`db.session()`)."""
    if username is None:
        return at
    with db.transaction() as s:
        account = s.exec(select(Account).where(Account.username == username)).one()
        opened = logins.open_login(session=s, account=account)
    at.session_state[login.LOGIN] = opened.login_id
    at.session_state[login.ACCOUNT] = account.id
    return at


def member_accounts(roster_ids: Sequence[str] | None = None) -> None:
    """Accounts for the members with these roster 编号 (all members when None), username =
    编号, their initial password already changed."""
    with db.transaction() as s:
        query = select(Member.id)
        if roster_ids is not None:
            query = query.where(col(Member.roster_id).in_(roster_ids))
        auth.create_member_accounts(actor="测试", session=s, member_ids=list(s.exec(query)))  # type: ignore[arg-type]
        for account in s.exec(select(Account).where(col(Account.member_id).is_not(None))):
            account.must_change_password = False
            s.add(account)


def set_step(step: Step) -> None:
    with db.transaction() as s:
        round_ = rounds.current(session=s)
        assert round_ is not None
        rounds.set_step(actor="测试", session=s, round_=round_, step=step)


def party_secretary() -> Member:
    with db.session() as s:
        return s.exec(select(Member).where(col(Member.is_party_secretary))).one()


def current_round_id() -> int:
    with db.session() as s:
        round_ = rounds.current(session=s)
        assert round_ is not None
        return round_.id  # type: ignore[return-value]


def no_exception(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def button(at: AppTest, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


def text_area(at: AppTest, label: str) -> Any:
    return next(t for t in at.text_area if t.label == label)


# ---- st.components.v2 elements, which AppTest draws as UnknownElement


def component(at: AppTest, key: str) -> Any | None:
    """The component mounted with `key` in the last run, or None."""
    found = [e for e in at.get("bidi_component") if getattr(e, "key", None) == key]
    return found[0] if found else None


def component_data(at: AppTest, key: str) -> Any:
    """The JSON `data` the component with `key` was sent in the last run."""
    element = component(at, key)
    assert element is not None, f"no component {key!r} on the page"
    return json.loads(element.proto.json)


def trigger(at: AppTest, key: str, event: str, value: object) -> AppTest:
    """Run the page as the browser does after the component's JS called
    `setTriggerValue(event, value)`: the other widgets keep their values, the trigger is sent
    once (its callback runs before the script)."""
    element = component(at, key)
    assert element is not None, f"no component {key!r} on the page"
    states: WidgetStates = at._tree.get_widget_states()
    sent = states.widgets.add()
    # Streamlit's id of the component's trigger widget (`_make_trigger_id` in
    # streamlit/components/v2/bidi_component/main.py; the frontend builds the same).
    sent.id = f"$$STREAMLIT_INTERNAL_KEY_{element.proto.id}__events"
    sent.json_trigger_value = json.dumps([{"event": event, "value": value}])
    at._run(states)
    return at
