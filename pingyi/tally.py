"""Tallies: rating counts per round × group × target × criterion × level × 一刀切, kept up to date
by each ballot in its own transaction, so the live meeting screen never scans the ratings.

`recompute` counts again from the ratings; `verify` compares and `rebuild` repairs.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, case, delete, func, select
from sqlalchemy.engine.interfaces import DBAPICursor, Dialect
from sqlmodel import Session

from pingyi.models import Ballot, BallotTally, Rating, Tally

_TALLY = Tally.__table__  # type: ignore[attr-defined]
_BALLOT_TALLY = BallotTally.__table__  # type: ignore[attr-defined]
_RATING = Rating.__table__  # type: ignore[attr-defined]
_BALLOT = Ballot.__table__  # type: ignore[attr-defined]


class TallyKey(NamedTuple):
    group_id: int
    target_id: int
    criterion_id: int
    level_id: int
    uniform: bool  # from a 一刀切 ballot


def current_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


# Run by `ballots.submit` on the DBAPI cursor of the ballot's transaction. The rating counts
# come from one INSERT … SELECT over the ballot's own ratings (read back in C, not bound again
# from Python), in key order: concurrent PostgreSQL ballots lock tally rows in the same order
# and never deadlock. SQLite needs no order (BEGIN IMMEDIATE lets one writer in at a time) and
# gets it for free from the rating key.
_COUNT_RATINGS = """
INSERT INTO tally (round_id, group_id, target_id, criterion_id, level_id, uniform, count)
SELECT round_id, group_id, target_id, criterion_id, level_id, ?, 1
FROM rating WHERE ballot_id = ? ORDER BY target_id, criterion_id
ON CONFLICT (round_id, group_id, target_id, criterion_id, level_id, uniform)
DO UPDATE SET count = tally.count + 1
"""
_COUNT_BALLOT = """
INSERT INTO ballot_tally (round_id, group_id, minute, ballots, uniform) VALUES (?, ?, ?, 1, ?)
ON CONFLICT (round_id, group_id, minute)
DO UPDATE SET ballots = ballot_tally.ballots + 1, uniform = ballot_tally.uniform + excluded.uniform
"""
_ADD_BALLOT = {  # per dialect: the same SQL, in the driver's parameter style
    "sqlite": (_COUNT_RATINGS, _COUNT_BALLOT),
    "postgresql": (_COUNT_RATINGS.replace("?", "%s"), _COUNT_BALLOT.replace("?", "%s")),
}


def add_ballot(
    cursor: DBAPICursor,
    dialect: Dialect,
    *,
    ballot_id: str,
    round_id: int,
    group_id: int,
    uniform: bool,
) -> None:
    """Count a just-inserted ballot: +1 per rating, +1 ballot for its group this minute."""
    ratings, ballot = _ADD_BALLOT[dialect.name]
    cursor.execute(ratings, (uniform, ballot_id))
    cursor.execute(ballot, (round_id, group_id, _stored(dialect, current_minute()), int(uniform)))


@functools.lru_cache(maxsize=8)  # one minute at a time: ~5 µs of type processing, once
def _stored(dialect: Dialect, minute: datetime) -> Any:
    """The minute as the column stores it (SQLite: text in SQLAlchemy's format)."""
    process = _BALLOT_TALLY.c.minute.type.dialect_impl(dialect).bind_processor(dialect)
    return process(minute) if process else minute


def recompute(*, session: Session, round_id: int) -> dict[TallyKey, int]:
    """The counts as the ratings say, for checking the stored ones."""
    query = (
        select(
            _RATING.c.group_id,
            _RATING.c.target_id,
            _RATING.c.criterion_id,
            _RATING.c.level_id,
            _BALLOT.c.uniform,
            func.count(),
        )
        .join(_BALLOT, _BALLOT.c.id == _RATING.c.ballot_id)
        .where(_RATING.c.round_id == round_id)
        .group_by(
            _RATING.c.group_id,
            _RATING.c.target_id,
            _RATING.c.criterion_id,
            _RATING.c.level_id,
            _BALLOT.c.uniform,
        )
    )
    return {
        TallyKey(*row[:4], bool(row[4])): int(row[5]) for row in session.connection().execute(query)
    }


def stored(*, session: Session, round_id: int) -> dict[TallyKey, int]:
    query = select(
        _TALLY.c.group_id,
        _TALLY.c.target_id,
        _TALLY.c.criterion_id,
        _TALLY.c.level_id,
        _TALLY.c.uniform,
        _TALLY.c.count,
    ).where(_TALLY.c.round_id == round_id, _TALLY.c.count != 0)
    return {
        TallyKey(*row[:4], bool(row[4])): int(row[5]) for row in session.connection().execute(query)
    }


def participation(*, session: Session, round_id: int) -> dict[int, tuple[int, int]]:
    """Ballots and 一刀切 ballots per evaluator group: group id → (ballots, uniform)."""
    query = (
        select(
            _BALLOT_TALLY.c.group_id,
            func.sum(_BALLOT_TALLY.c.ballots),
            func.sum(_BALLOT_TALLY.c.uniform),
        )
        .where(_BALLOT_TALLY.c.round_id == round_id)
        .group_by(_BALLOT_TALLY.c.group_id)
    )
    return {
        int(group_id): (int(ballots), int(uniform))
        for group_id, ballots, uniform in session.connection().execute(query)
    }


def _ballots_counted(*, session: Session, round_id: int) -> dict[int, tuple[int, int]]:
    query = (
        select(
            _BALLOT.c.group_id,
            func.count(),
            func.sum(case((_BALLOT.c.uniform, 1), else_=0)),
        )
        .where(_BALLOT.c.round_id == round_id)
        .group_by(_BALLOT.c.group_id)
    )
    return {
        int(group_id): (int(ballots), int(uniform or 0))
        for group_id, ballots, uniform in session.connection().execute(query)
    }


def verify(*, session: Session, round_id: int) -> list[str]:
    """Every stored count that differs from a recount, in Chinese; empty when all agree."""
    expected = recompute(session=session, round_id=round_id)
    actual = stored(session=session, round_id=round_id)
    problems = [
        f"计数不符:群体 {key.group_id} 对象 {key.target_id} 指标 {key.criterion_id} "
        f"等级 {key.level_id}{'(一刀切)' if key.uniform else ''}:"
        f"记录 {actual.get(key, 0)},应为 {expected.get(key, 0)}"
        for key in sorted(expected.keys() | actual.keys())
        if expected.get(key, 0) != actual.get(key, 0)
    ]
    ballots = _ballots_counted(session=session, round_id=round_id)
    counted = participation(session=session, round_id=round_id)
    for group_id in sorted(ballots.keys() | counted.keys()):
        want, have = ballots.get(group_id, (0, 0)), counted.get(group_id, (0, 0))
        if want != have:
            problems.append(
                f"票数不符:群体 {group_id}:记录 {have[0]} 票(一刀切 {have[1]}),"
                f"应为 {want[0]} 票(一刀切 {want[1]})"
            )
    return problems


def rebuild(*, session: Session, round_id: int) -> None:
    """Replace the round's stored counts by a recount from the ratings.

    Ballots carry no time, so a wrong per-group ballot total is corrected in the group's
    latest minute (or this minute): the totals become right, the timeline stays as it was.
    """
    conn = session.connection()
    conn.execute(delete(_TALLY).where(_TALLY.c.round_id == round_id))
    counts = recompute(session=session, round_id=round_id)
    if counts:
        conn.execute(
            _TALLY.insert(),
            [
                {"round_id": round_id, **key._asdict(), "count": n}
                for key, n in sorted(counts.items())
            ],
        )
    ballots = _ballots_counted(session=session, round_id=round_id)
    counted = participation(session=session, round_id=round_id)
    for group_id in sorted(ballots.keys() | counted.keys()):
        want = ballots.get(group_id, (0, 0))
        have = counted.get(group_id, (0, 0))
        if want != have:
            _correct_participation(conn, round_id, group_id, want[0] - have[0], want[1] - have[1])


def _correct_participation(
    conn: Connection, round_id: int, group_id: int, ballots: int, uniform: int
) -> None:
    of_group = (_BALLOT_TALLY.c.round_id == round_id) & (_BALLOT_TALLY.c.group_id == group_id)
    latest = conn.execute(select(func.max(_BALLOT_TALLY.c.minute)).where(of_group)).scalar()
    if latest is None:
        conn.execute(
            _BALLOT_TALLY.insert().values(
                round_id=round_id,
                group_id=group_id,
                minute=current_minute(),
                ballots=ballots,
                uniform=uniform,
            )
        )
        return
    conn.execute(
        _BALLOT_TALLY.update()
        .where(of_group, _BALLOT_TALLY.c.minute == latest)
        .values(
            ballots=_BALLOT_TALLY.c.ballots + ballots,
            uniform=_BALLOT_TALLY.c.uniform + uniform,
        )
    )
