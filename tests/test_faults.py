"""Faults: an app process killed in the middle of a burst of ballots, and a database that is
briefly unavailable.

Killed (SIGKILL, nothing is cleaned up): afterwards every code is either used with its ballot
stored or unused with no ballot and its draft kept, on a SQLite file and on PostgreSQL, and
the restarted app takes the rest. Unavailable (PostgreSQL refusing connections, its sessions
terminated): saving and submitting fail with the busy message, the answers stay in the tab
and the last saved draft on the server, and once the database is back a retry stores the
ballot exactly once.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col
from worlds import bureau, full_answers, issue, tally_problems

from pingyi import ballots, codes, config, db, demo, groups, rounds
from pingyi.models import Ballot, Draft, EvaluationCode, GroupKey

# Streamlit only where the page test needs it: the burst's spawned process imports this
# module, and should start as fast as an app process does.
if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

PAGE = Path(__file__).resolve().parents[1] / "pages" / "ballot.py"


def ballots_per_group(s: Any) -> dict[int, int]:
    rows = s.execute(select(Ballot.group_id, func.count()).group_by(Ballot.group_id))
    return {int(group): int(n) for group, n in rows}


def used_codes_per_group(s: Any) -> dict[int, int]:
    rows = s.execute(
        select(EvaluationCode.group_id, func.count())
        .where(col(EvaluationCode.used))
        .group_by(EvaluationCode.group_id)
    )
    return {int(group): int(n) for group, n in rows}


def ballot_count(bind: Engine) -> int:
    with db.session(bind) as s:
        return int(s.scalar(select(func.count()).select_from(Ballot)) or 0)


# ---- SIGKILL in the middle of a burst


Work = list[tuple[str, list[tuple[int, int, int]]]]  # (code, [(target, criterion, level)])


def _burst(url: str, work: Work, threads: int) -> None:
    """An app process taking ballots from `threads` sessions at once, until it is killed."""
    engine = db.make_engine(url)
    todo: queue.SimpleQueue[tuple[str, list[tuple[int, int, int]]]] = queue.SimpleQueue()
    for item in work:
        todo.put(item)

    def session() -> None:
        while True:
            try:
                code, answers = todo.get_nowait()
            except queue.Empty:
                return
            ballots.submit_with_retry(engine, code, {(t, c): lvl for t, c, lvl in answers})

    workers = [threading.Thread(target=session) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_an_app_killed_during_a_burst_leaves_each_code_used_with_its_ballot_or_unused(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # See test_concurrency: a spawned child must not re-run app.py as its __main__.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    world = bureau(engine)
    group_ids = [world.groups[GroupKey.UNIT_STAFF], world.groups[GroupKey.VENDORS]]
    answers: dict[str, ballots.Answers] = {}
    for group in group_ids:
        kinds = [full_answers(engine, world.round_id, group, level=n) for n in range(5)]
        for n, code in enumerate(issue(engine, world.round_id, group, 150)):
            answers[code] = kinds[n % 5]
    # Every evaluator has tapped everything: each code has its whole ballot as a draft.
    with db.transaction(engine) as s:
        for code, given in answers.items():
            ballots.save_draft(session=s, code=code, answers=given)
    work = [(code, [(t, c, lvl) for (t, c), lvl in a.items()]) for code, a in answers.items()]
    url = engine.url.render_as_string(hide_password=False)

    app = multiprocessing.get_context("spawn").Process(target=_burst, args=(url, work, 4))
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
            drafts = set(s.scalars(select(Draft.code_hash)))
            assert drafts == {codes.hash_code(code) for code in left}
            for code in list(left)[:20]:
                assert ballots.load_draft(session=s, code=code)[0] == answers[code]
        assert tally_problems(snapshot) == []

        # The evaluators whose ballots were not stored submit again from their drafts.
        for code in left:
            with db.session(restarted) as s:
                saved, _ = ballots.load_draft(session=s, code=code)
            ballots.submit_with_retry(restarted, code, saved)
        with db.session(restarted) as s:
            assert ballots_per_group(s) == used_codes_per_group(s) == {g: 150 for g in group_ids}
            assert s.scalar(select(func.count()).select_from(Draft)) == 0
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
def test_while_the_database_is_down_nothing_is_stored_and_the_draft_is_kept(
    pg_engine: Engine, pg_admin: Engine
) -> None:
    world = bureau(pg_engine)
    staff = world.groups[GroupKey.ALL_STAFF]
    (code,) = issue(pg_engine, world.round_id, staff, 1)
    answers = full_answers(pg_engine, world.round_id, staff)
    half = dict(list(answers.items())[: len(answers) // 2])
    with db.transaction(pg_engine) as s:
        ballots.save_draft(session=s, code=code, answers=half)

    with unavailable(pg_admin, pg_engine):
        with pytest.raises(SQLAlchemyError), db.transaction(pg_engine) as s:
            ballots.save_draft(session=s, code=code, answers=answers)
        with pytest.raises(SQLAlchemyError):
            ballots.submit_with_retry(pg_engine, code, answers)

    with db.session(pg_engine) as s:
        assert codes.lookup(session=s, code=code).state is codes.CodeState.OK
        assert ballots.load_draft(session=s, code=code)[0] == half
    assert ballot_count(pg_engine) == 0

    # Back: the evaluator taps 提交评议 again, and once more for good measure.
    assert ballots.submit_with_retry(pg_engine, code, answers).targets > 0
    with pytest.raises(ballots.AlreadyUsed):
        ballots.submit_with_retry(pg_engine, code, answers)
    assert ballot_count(pg_engine) == 1
    with db.session(pg_engine) as s:
        assert s.scalar(select(func.count()).select_from(Draft)) == 0
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
    assert ballots.submit_with_retry(pg_engine, code, answers).targets > 0

    assert len(calls) >= 2 and calls[0] not in calls[1:]  # the retry had a new connection
    assert ballot_count(pg_engine) == 1
    with db.session(pg_engine) as s:
        assert codes.lookup(session=s, code=code).state is codes.CodeState.USED
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
        demo.load_demo(session=s)
    monkeypatch.setenv("PINGYI_DATABASE_URL", pg_engine.url.render_as_string(hide_password=False))
    _forget_engines()
    yield pg_engine
    _forget_engines()


def _tap(at: AppTest, item: tuple[int, int], level_id: int) -> AppTest:
    """A tap reruns its card and the progress lines; then the whole page, to see all of it."""
    from pingyi.ui import ballot as view

    at.segmented_control(key=view.answer_key(*item)).set_value(level_id).run()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


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
        (code,) = codes.issue(session=s, round_id=round_id, group_id=group, count=1)  # type: ignore[arg-type]
        form = ballots.open_code(session=s, code=code).form
    good, fair = form.levels[0].id, form.levels[2].id
    last = [(form.cards[-1].target_id, c.id) for c in form.cards[-1].criteria]
    earlier = {item: good for item in form.items if item not in last}
    with db.transaction(bind) as s:  # the first cards were tapped before (draft)
        ballots.save_draft(session=s, code=code, answers=earlier)

    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["code"] = code
    at.run()
    assert len(at.segmented_control) == len(form.items)
    _tap(at, last[0], good)
    assert view.MSG_BUSY not in _warnings(at)

    with unavailable(pg_admin, bind):
        for item in last[1:]:
            _tap(at, item, good)
        assert view.MSG_BUSY in _warnings(at)
        assert at.session_state[view.BALLOT].answers == dict.fromkeys(form.items, good)
        next(b for b in at.button if b.label == view.SUBMIT_LABEL).click().run()
        assert any(view.MSG_BUSY in e.value for e in at.error), [e.value for e in at.error]
        assert len(at.segmented_control) == len(form.items)  # still the ballot, answers kept
    assert ballot_count(bind) == 0
    with db.session(bind) as s:  # the server kept the draft of before the outage
        assert ballots.load_draft(session=s, code=code)[0] == {**earlier, last[0]: good}

    # Back: the next tap saves every answer, taps made while it was down included.
    _tap(at, last[-1], fair)
    assert view.MSG_BUSY not in _warnings(at)
    expected = {**dict.fromkeys(form.items, good), last[-1]: fair}
    with db.session(bind) as s:
        assert ballots.load_draft(session=s, code=code)[0] == expected
    next(b for b in at.button if b.label == view.SUBMIT_LABEL).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(view.THANKS in h.value for h in at.header)
    assert ballot_count(bind) == 1
    assert tally_problems(bind) == []
