"""Exactly once under contention: double taps, second devices and replays race for one code.

A double tap on 提交 (or the element sending again before it heard back) is the same code with
the same device token: one ballot, and every send is told it is in. Another device is a
different token (or none): one ballot, the others are told the code is used.

SQLite runs on a file (WAL, BEGIN IMMEDIATE); PostgreSQL is raced by threads and by separate
processes with their own engines, as several app replicas would. A cast ballot waits sealed in
the group's box until 开箱计票, which must then count each exactly once.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.context import SpawnContext
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from worlds import (  # noqa: F401  (verified_tallies is a fixture)
    bureau,
    count,
    full_answers,
    issue,
    verified_tallies,
)

from pingyi import ballots, db, tally
from pingyi.models import Ballot, BallotBox, GroupKey, MassComment, Rating

pytestmark = pytest.mark.usefixtures("verified_tallies")


def ballot_count(engine: Engine) -> int:
    """Ballots cast: sealed in the box, or counted (a ballot is in one or the other)."""
    return row_count(engine, BallotBox) + row_count(engine, Ballot)


def row_count(engine: Engine, model: type) -> int:
    with db.session(engine) as s:
        return s.scalar(select(func.count()).select_from(model))  # type: ignore[return-value]


def outcome(attempt: Callable[[], object]) -> str:
    """What the attempt was told: "stored", "again" (its ballot was in), "used", or the error."""
    try:
        receipt = attempt()
    except ballots.AlreadyUsed:
        return "used"
    except Exception as exc:  # reported, so a failing race says why
        return f"error: {type(exc).__name__}: {exc}"
    return "again" if isinstance(receipt, ballots.Receipt) and receipt.again else "stored"


def race(count: int, attempt: Callable[[], object]) -> Counter[str]:
    """`count` threads released at once, each trying `attempt`."""
    start = threading.Barrier(count)

    def one() -> str:
        start.wait()
        return outcome(attempt)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return Counter(pool.map(lambda _: one(), range(count)))


def submit(
    engine: Engine,
    code: str,
    answers: ballots.Answers,
    receipt: str | None = None,
    comments: ballots.Comments | None = None,
) -> ballots.Receipt:
    with db.transaction(engine) as s:
        return ballots.submit(
            session=s, code=code, answers=answers, comments=comments, receipt=receipt
        )


def test_twenty_threads_racing_one_code_store_one_ballot(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    answers = full_answers(engine, world.round_id, staff)

    results = race(20, lambda: submit(engine, code, answers))

    assert results == Counter(stored=1, used=19)
    assert ballot_count(engine) == 1


def test_a_double_tap_on_submit_stores_one_ballot_and_every_tap_is_told_it_is_in(
    engine: Engine,
) -> None:
    """Twenty sends of one device's ballot at once, through both submit paths."""
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    answers = full_answers(engine, world.round_id, staff)
    target = next(iter(answers))[0]
    device = secrets.token_hex(16)
    turns = iter(range(20))  # a C iterator: next() is atomic across threads

    comments = {target: "双击了两次"}

    def send() -> ballots.Receipt:
        if next(turns) % 2:
            return submit(engine, code, answers, device, comments)
        return ballots.submit_with_retry(
            engine, code, answers, comments, round_id=world.round_id, receipt=device
        )

    results = race(20, send)

    assert results == Counter(stored=1, again=19)
    assert ballot_count(engine) == 1
    count(engine, world.round_id)
    assert ballot_count(engine) == row_count(engine, Ballot) == 1
    assert row_count(engine, Rating) == len(answers)
    assert row_count(engine, MassComment) == 1
    with db.session(engine) as s:
        assert tally.participation(session=s, round_id=world.round_id) == {staff: (1, 0)}


def test_one_code_sent_from_many_devices_at_once_stores_one_ballot_and_refuses_the_rest(
    engine: Engine,
) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    answers = full_answers(engine, world.round_id, staff)
    turns = iter(range(20))

    def send() -> ballots.Receipt:
        # Every device its own token; two of them have none.
        device = None if next(turns) < 2 else secrets.token_hex(16)
        return ballots.submit_with_retry(engine, code, answers, receipt=device)

    results = race(20, send)

    assert results == Counter(stored=1, used=19)
    assert ballot_count(engine) == 1


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
    count(engine, world.round_id)
    assert row_count(engine, Ballot) == 200
    with db.session(engine) as s:
        assert tally.participation(session=s, round_id=world.round_id) == {staff: (200, 0)}


# ---- separate processes on PostgreSQL, as app replicas behind a load balancer


def _submit_in_process(
    url: str,
    code: str,
    answers: list[tuple[int, int, int]],
    receipt: str | None,
    start: Any,
    results: Any,
) -> None:
    engine = db.make_engine(url)
    try:
        as_dict = {(t, c): level for t, c, level in answers}
        start.wait(timeout=60)
        results.put(
            outcome(lambda: ballots.submit_with_retry(engine, code, as_dict, receipt=receipt))
        )
    finally:
        engine.dispose()


def _race_processes(
    pg_engine: Engine, receipts: list[str | None], context: SpawnContext
) -> Counter[str]:
    """One process per receipt, released at once, each sending the same code's ballot."""
    world = bureau(pg_engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(pg_engine, world.round_id, staff, 1)
    answers = [
        (t, c, level) for (t, c), level in full_answers(pg_engine, world.round_id, staff).items()
    ]
    url = pg_engine.url.render_as_string(hide_password=False)
    start, results = context.Barrier(len(receipts)), context.Queue()
    processes = [
        context.Process(
            target=_submit_in_process, args=(url, code, answers, receipt, start, results)
        )
        for receipt in receipts
    ]
    try:
        for process in processes:
            process.start()
        return Counter(results.get(timeout=60) for _ in processes)
    finally:
        # A child that failed leaves the others waiting at the barrier: never let them
        # outlive the test (pytest would wait for them at exit).
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


@pytest.mark.postgres
def test_eight_processes_racing_one_code_from_eight_devices_store_one_ballot(
    pg_engine: Engine, spawn: SpawnContext
) -> None:
    receipts = [None, *(secrets.token_hex(16) for _ in range(7))]
    outcomes = _race_processes(pg_engine, receipts, spawn)
    assert outcomes == Counter(stored=1, used=7)
    assert ballot_count(pg_engine) == 1


@pytest.mark.postgres
def test_one_device_s_ballot_sent_to_eight_replicas_at_once_is_stored_once(
    pg_engine: Engine, spawn: SpawnContext
) -> None:
    """A tablet that sends again after a replica went quiet: the sends may all land at once."""
    device = secrets.token_hex(16)
    outcomes = _race_processes(pg_engine, [device] * 8, spawn)
    assert outcomes == Counter(stored=1, again=7)
    assert ballot_count(pg_engine) == 1
