"""Exactly once under contention: double taps, second devices and replays race for one code.

SQLite runs on a file (WAL, BEGIN IMMEDIATE); PostgreSQL is raced by threads and by separate
processes with their own engines, as several app replicas would.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import types
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from worlds import (  # noqa: F401  (verified_tallies is a fixture)
    bureau,
    full_answers,
    issue,
    verified_tallies,
)

from pingyi import ballots, db, tally
from pingyi.models import Ballot, Draft, GroupKey

pytestmark = pytest.mark.usefixtures("verified_tallies")


def ballot_count(engine: Engine) -> int:
    with db.session(engine) as s:
        return s.scalar(select(func.count()).select_from(Ballot))  # type: ignore[return-value]


def outcome(attempt: Callable[[], object]) -> str:
    try:
        attempt()
    except ballots.AlreadyUsed:
        return "used"
    except Exception as exc:  # reported, so a failing race says why
        return f"error: {type(exc).__name__}: {exc}"
    return "stored"


def race(count: int, attempt: Callable[[], object]) -> Counter[str]:
    """`count` threads released at once, each trying `attempt`."""
    start = threading.Barrier(count)

    def one() -> str:
        start.wait()
        return outcome(attempt)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return Counter(pool.map(lambda _: one(), range(count)))


def submit(engine: Engine, code: str, answers: ballots.Answers) -> None:
    with db.transaction(engine) as s:
        ballots.submit(session=s, code=code, answers=answers)


def test_twenty_threads_racing_one_code_store_one_ballot(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    answers = full_answers(engine, world.round_id, staff)

    results = race(20, lambda: submit(engine, code, answers))

    assert results == Counter(stored=1, used=19)
    assert ballot_count(engine) == 1


def test_a_draft_saved_while_the_ballot_is_stored_never_outlives_it(engine: Engine) -> None:
    """Other devices autosaving during the submit: refused after it, or deleted by it."""
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    answers = full_answers(engine, world.round_id, staff)
    turns = iter(range(9))  # a C iterator: next() is atomic across threads

    def autosave_or_submit() -> None:
        if next(turns) == 0:
            submit(engine, code, answers)
            return
        for _ in range(15):
            with db.transaction(engine) as s:
                ballots.save_draft(session=s, code=code, answers=answers)

    results = race(9, autosave_or_submit)

    assert results["stored"] >= 1 and not [r for r in results if r.startswith("error")]
    assert ballot_count(engine) == 1
    with db.session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Draft)) == 0


def test_two_hundred_codes_submitted_at_once_are_all_stored(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    plain = issue(engine, world.round_id, staff, 200)
    answer_sets = [full_answers(engine, world.round_id, staff, level=n) for n in range(5)]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = Counter(
            pool.map(
                lambda pair: outcome(lambda: submit(engine, pair[1], answer_sets[pair[0] % 5])),
                enumerate(plain),
            )
        )

    assert results == Counter(stored=200)
    assert ballot_count(engine) == 200
    with db.session(engine) as s:
        assert tally.participation(session=s, round_id=world.round_id) == {staff: (200, 0)}


# ---- separate processes on PostgreSQL, as app replicas behind a load balancer


def _submit_in_process(
    url: str, code: str, answers: list[tuple[int, int, int]], start: Any, results: Any
) -> None:
    engine = db.make_engine(url)
    try:
        as_dict = {(t, c): level for t, c, level in answers}
        start.wait(timeout=60)
        results.put(outcome(lambda: ballots.submit_with_retry(engine, code, as_dict)))
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_eight_processes_racing_one_code_store_one_ballot(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A spawned child re-runs the parent's __main__ file; after the page tests that is app.py
    # (AppTest leaves it there), which would start the app. The children need only this module.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    world = bureau(pg_engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(pg_engine, world.round_id, staff, 1)
    answers = [
        (t, c, level) for (t, c), level in full_answers(pg_engine, world.round_id, staff).items()
    ]
    url = pg_engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(8), context.Queue()
    processes = [
        context.Process(target=_submit_in_process, args=(url, code, answers, start, results))
        for _ in range(8)
    ]
    try:
        for process in processes:
            process.start()
        outcomes = Counter(results.get(timeout=60) for _ in processes)
    finally:
        # A child that failed leaves the others waiting at the barrier: never let them
        # outlive the test (pytest would wait for them at exit).
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()

    assert outcomes == Counter(stored=1, used=7)
    assert ballot_count(pg_engine) == 1
