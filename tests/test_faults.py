"""Faults: an app process killed in the middle of a burst of ballots, and a database that is
briefly unavailable.

The answers of a ballot stay on the device until 提交, and the device sends them again, with
its token, until it hears back; the server keeps no drafts. Killed (SIGKILL, nothing is
cleaned up): afterwards every code is either used with its ballot stored or unused with
nothing stored at all, on a SQLite file and on PostgreSQL; the restarted app takes the
ballots sent again, once each, and tells a device whose ballot was stored before the kill
that it is in. Unavailable (PostgreSQL refusing connections, its sessions terminated): the
submit fails with the busy message and stores nothing, and once the database is back the
same ballot sent again is stored exactly once.
"""

from __future__ import annotations

import queue
import secrets
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import SpawnContext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col
from worlds import bureau, count, full_answers, issue, tally_problems

from pingyi import ballots, codes, config, db, demo, groups, rounds, tally
from pingyi.models import Ballot, BallotBox, EvaluationCode, GroupKey, MassComment

# Streamlit only where the page test needs it: the burst's spawned process imports this
# module, and should start as fast as an app process does.
if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

PAGE = Path(__file__).resolve().parents[1] / "pages" / "ballot.py"


def ballots_per_group(s: Any) -> dict[int, int]:
    """Ballots cast per group: sealed in the box, or counted (each is in one or the other)."""
    cast: Counter[int] = Counter()
    for model in (BallotBox, Ballot):
        rows = s.execute(select(model.group_id, func.count()).group_by(model.group_id))
        cast.update({int(group): int(n) for group, n in rows})
    return dict(cast)


def used_codes_per_group(s: Any) -> dict[int, int]:
    rows = s.execute(
        select(EvaluationCode.group_id, func.count())
        .where(col(EvaluationCode.used))
        .group_by(EvaluationCode.group_id)
    )
    return {int(group): int(n) for group, n in rows}


def ballot_count(bind: Engine) -> int:
    """Ballots cast: sealed in the box, or counted."""
    with db.session(bind) as s:
        return sum(ballots_per_group(s).values())


def receipts(s: Any) -> dict[str, str | None]:
    """code hash → the receipt its row keeps."""
    rows = s.execute(select(EvaluationCode.code_hash, EvaluationCode.receipt))
    return {code_hash: receipt for code_hash, receipt in rows}


# ---- SIGKILL in the middle of a burst


Sent = tuple[str, str, list[tuple[int, int, int]]]  # (code, token, [(target, criterion, level)])


def _burst(url: str, work: list[Sent], threads: int) -> None:
    """An app process taking ballots from `threads` sessions at once, until it is killed."""
    engine = db.make_engine(url)
    todo: queue.SimpleQueue[Sent] = queue.SimpleQueue()
    for item in work:
        todo.put(item)

    def session() -> None:
        while True:
            try:
                code, token, answers = todo.get_nowait()
            except queue.Empty:
                return
            given = {(t, c): lvl for t, c, lvl in answers}
            ballots.submit_with_retry(engine, code, given, receipt=token)

    workers = [threading.Thread(target=session) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_an_app_killed_during_a_burst_leaves_each_code_used_with_its_ballot_or_unused(
    engine: Engine, spawn: SpawnContext
) -> None:
    world = bureau(engine)
    group_ids = [world.groups[GroupKey.UNIT_STAFF], world.groups[GroupKey.VENDORS]]
    answers: dict[str, ballots.Answers] = {}
    for group in group_ids:
        kinds = [full_answers(engine, world.round_id, group, level=n) for n in range(5)]
        for n, code in enumerate(issue(engine, world.round_id, group, 150)):
            answers[code] = kinds[n % 5]
    # Every evaluator has tapped everything on a device of their own, which keeps the answers
    # and its token until it hears that the ballot is in.
    tokens = {code: secrets.token_hex(16) for code in answers}
    work = [
        (code, tokens[code], [(t, c, lvl) for (t, c), lvl in a.items()])
        for code, a in answers.items()
    ]
    url = engine.url.render_as_string(hide_password=False)

    app = spawn.Process(target=_burst, args=(url, work, 4))
    app.start()
    try:
        deadline = time.monotonic() + 60
        while ballot_count(engine) < 40 and app.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        alive_when_killed = app.is_alive()
        app.kill()  # SIGKILL: no rollback, no close, no atexit
        app.join(timeout=30)
    finally:
        if app.is_alive():
            app.kill()
    assert alive_when_killed, f"the burst ended before the kill (exit code {app.exitcode})"
    assert app.exitcode == -signal.SIGKILL

    # The app restarts: a new engine; on SQLite the next connection recovers the WAL.
    restarted = db.make_engine(url)
    try:
        # One snapshot for all the checks, so a commit landing meanwhile cannot split them.
        snapshot = (
            restarted
            if db.is_sqlite(restarted)
            else restarted.execution_options(isolation_level="REPEATABLE READ")
        )
        with db.session(snapshot) as s:
            used = used_codes_per_group(s)
            assert ballots_per_group(s) == used
            assert 0 < sum(used.values()) < len(answers), used
            left = {
                code
                for code in answers
                if codes.lookup(session=s, code=code).state is codes.CodeState.OK
            }
            assert len(left) == len(answers) - sum(used.values())
            # A used code keeps its device's receipt; an unused one has nothing at all.
            kept = receipts(s)
            for code in answers:
                expected = None if code in left else ballots.receipt_hash(tokens[code])
                assert kept[codes.hash_code(code)] == expected, code
        assert tally_problems(snapshot) == []

        # Every device that had not heard back sends its ballot again, with its token: those
        # stored before the kill are told so, the others are stored now, each exactly once.
        outcomes = {
            code: ballots.submit_with_retry(restarted, code, given, receipt=tokens[code])
            for code, given in answers.items()
        }
        assert {code for code, got in outcomes.items() if not got.again} == left
        with db.session(restarted) as s:
            assert ballots_per_group(s) == used_codes_per_group(s) == {g: 150 for g in group_ids}
        # Sent once more (the reply lost again), nothing changes; another device is refused.
        code = next(iter(left))
        assert ballots.submit_with_retry(restarted, code, answers[code], receipt=tokens[code]).again
        with pytest.raises(ballots.AlreadyUsed):
            ballots.submit_with_retry(restarted, code, answers[code], receipt=secrets.token_hex(16))
        assert ballot_count(restarted) == len(answers)
        count(restarted, world.round_id)  # 开箱计票: each cast ballot counted once
        with db.session(restarted) as s:
            assert s.scalar(select(func.count()).select_from(Ballot)) == len(answers)
        assert tally_problems(restarted) == []
    finally:
        restarted.dispose()


# ---- PostgreSQL briefly unavailable


@contextmanager
def unavailable(admin: Engine, bind: Engine) -> Iterator[None]:
    """The database refuses new connections and its sessions are cut, as in a failover or a
    restart of the server; it is back at the end of the block."""
    name = bind.url.database
    with admin.connect() as conn:
        conn.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"))


@pytest.mark.postgres
def test_while_the_database_is_down_nothing_is_stored_and_the_ballot_sent_again_is_stored_once(
    pg_engine: Engine, pg_admin: Engine
) -> None:
    world = bureau(pg_engine)
    staff = world.groups[GroupKey.ALL_STAFF]
    (code,) = issue(pg_engine, world.round_id, staff, 1)
    answers = full_answers(pg_engine, world.round_id, staff)
    device = secrets.token_hex(16)
    with db.transaction(pg_engine) as s:
        ballots.open_code(session=s, code=code)

    with unavailable(pg_admin, pg_engine):
        for _ in range(2):  # the device sends again while it hears nothing
            with pytest.raises(SQLAlchemyError):
                ballots.submit_with_retry(pg_engine, code, answers, receipt=device)

    with db.session(pg_engine) as s:
        assert codes.lookup(session=s, code=code).state is codes.CodeState.OK
        assert receipts(s) == {codes.hash_code(code): None}
    assert ballot_count(pg_engine) == 0

    # Back: the device sends the same ballot again, and once more for good measure.
    stored = ballots.submit_with_retry(pg_engine, code, answers, receipt=device)
    assert stored.targets > 0 and not stored.again
    assert ballots.submit_with_retry(pg_engine, code, answers, receipt=device).again
    with pytest.raises(ballots.AlreadyUsed):
        ballots.submit_with_retry(pg_engine, code, answers)  # another device, no token
    assert ballot_count(pg_engine) == 1
    assert tally_problems(pg_engine) == []


@pytest.mark.postgres
def test_a_connection_cut_in_the_middle_of_a_submit_is_retried_and_stored_once(
    pg_engine: Engine, pg_admin: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = bureau(pg_engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(pg_engine, world.round_id, staff, 1)
    answers = full_answers(pg_engine, world.round_id, staff)
    real_claim = ballots._claim
    calls: list[int] = []

    def claim_after_the_server_cut_us_off(cursor: Any, *args: Any) -> Any:
        calls.append(cursor.connection.info.backend_pid)
        if len(calls) == 1:  # the first attempt's session is terminated under it
            with pg_admin.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": calls[0]})
        return real_claim(cursor, *args)

    monkeypatch.setattr(ballots, "_claim", claim_after_the_server_cut_us_off)
    device = secrets.token_hex(16)
    stored = ballots.submit_with_retry(pg_engine, code, answers, receipt=device)
    assert stored.targets > 0 and not stored.again  # the cut attempt had stored nothing

    assert len(calls) >= 2 and calls[0] not in calls[1:]  # the retry had a new connection
    assert ballot_count(pg_engine) == 1
    with db.session(pg_engine) as s:
        assert codes.lookup(session=s, code=code).state is codes.CodeState.USED
        assert receipts(s) == {codes.hash_code(code): ballots.receipt_hash(device)}
    assert tally_problems(pg_engine) == []


# ---- the ballot page while PostgreSQL is down (AppTest)


def _forget_engines() -> None:
    import streamlit as st

    if db.engine.cache_info().currsize:
        db.engine().dispose()
    config.settings.cache_clear()
    db.engine.cache_clear()
    st.cache_resource.clear()


@pytest.fixture
def demo_on_postgres(pg_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The demo bureau on PostgreSQL, and the app (`ui.engine()`) pointed at it."""
    with db.transaction(pg_engine) as s:
        demo.load_demo(actor="测试", session=s, history=False)
    monkeypatch.setenv("PINGYI_DATABASE_URL", pg_engine.url.render_as_string(hide_password=False))
    _forget_engines()
    yield pg_engine
    _forget_engines()


def _apptools() -> Any:
    """The page tests' helpers for the ballot element (tests/pages/apptools.py), imported
    only where the page test needs them, as Streamlit is."""
    pages = str(Path(__file__).resolve().parent / "pages")
    if pages not in sys.path:
        sys.path.append(pages)
    import apptools

    return apptools


def _send(at: AppTest, payload: dict[str, Any]) -> AppTest:
    """The ballot element's 提交 (or its sending again): the page runs its `on_submit`."""
    from pingyi.ui import ballot as view

    _apptools().trigger(at, view.ELEMENT, "submit", payload)
    assert not at.exception, [e.value for e in at.exception]
    return at


def _element(at: AppTest) -> Any:
    from pingyi.ui import ballot as view

    return _apptools().component_data(at, view.ELEMENT)


@pytest.mark.postgres
def test_the_ballot_page_says_busy_keeps_the_answers_and_submits_once_when_back(
    demo_on_postgres: Engine, pg_admin: Engine
) -> None:
    from streamlit.testing.v1 import AppTest

    from pingyi.ui import ballot as view

    bind = demo_on_postgres
    with db.transaction(bind) as s:
        round_id = rounds.current(session=s).id  # type: ignore[union-attr]
        group = groups.by_key(session=s)[GroupKey.ALL_STAFF].id
        (code,) = codes.issue(actor="测试", session=s, round_id=round_id, group_id=group, count=1)  # type: ignore[arg-type]

    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["code"] = code
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    data = _element(at)
    assert (data["mode"], data["code"], data["result"]) == ("ballot", code, None)
    form = data["form"]
    assert (form["round"], form["group"]) == (round_id, group)
    good, fair = form["levels"][0][0], form["levels"][2][0]
    # Every card tapped on the device, which keeps the answers: the server has none of them.
    answers = [[card["id"], cid, good] for card in form["cards"] for cid, _ in card["criteria"]]
    answers[-1][2] = fair
    payload = {
        "sid": "send-1",
        "code": code,
        "token": secrets.token_hex(16),
        "answers": answers,
        "comments": {str(form["cards"][0]["id"]): "班子团结,作风务实"},
    }
    assert ballot_count(bind) == 0

    with unavailable(pg_admin, bind):
        _send(at, payload)
        busy = {"n": 1, "sid": "send-1", "kind": "busy", "message": view.MSG_BUSY, "missing": []}
        assert at.session_state[view.RESULT] == busy
        data = _element(at)
        assert data["result"] == busy
        # Still the ballot, in the same element: the device keeps the answers and sends again.
        assert (data["mode"], data["code"], data["form"]) == ("ballot", code, form)
        assert not any(view.THANKS in h.value for h in at.header)
        _send(at, {**payload, "sid": "send-2"})
        assert _element(at)["result"] == {**busy, "n": 2, "sid": "send-2"}
    assert ballot_count(bind) == 0
    with db.session(bind) as s:
        assert codes.lookup(session=s, code=code).state is codes.CodeState.OK

    # Back: the element sends the same ballot again; it is stored, and the page thanks.
    _send(at, {**payload, "sid": "send-3"})
    assert any(view.THANKS in h.value for h in at.header), [h.value for h in at.header]
    assert (_element(at)["mode"], _element(at)["code"]) == ("clear", code)  # the device forgets
    assert ballot_count(bind) == 1
    # A send replayed on reconnection stores nothing more.
    _send(at, {**payload, "sid": "send-4"})
    assert ballot_count(bind) == 1

    # The reply of the stored send lost after all (a restarted server, a new session): the
    # link opens a used code, and the device's ballot with its token is told it is in.
    again = AppTest.from_file(PAGE, default_timeout=60)
    again.query_params["code"] = code
    again.run()
    assert not again.exception, [e.value for e in again.exception]
    assert (_element(again)["mode"], _element(again)["code"]) == ("used", code)
    _send(again, {**payload, "sid": "send-5"})
    assert any(view.THANKS in h.value for h in again.header), [h.value for h in again.header]
    assert any(view.THANKS_AGAIN in m.value for m in again.markdown)
    assert ballot_count(bind) == 1
    count(bind, round_id)  # type: ignore[arg-type]
    with db.session(bind) as s:
        assert tally.participation(session=s, round_id=round_id) == {group: (1, 0)}  # type: ignore[arg-type]
        assert s.scalar(select(func.count()).select_from(MassComment)) == 1
    assert tally_problems(bind) == []
