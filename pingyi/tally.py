"""Tallies: rating counts per round × group × target × criterion × level × 一刀切, written when a
group's box is counted (`pingyi.evaluation.close`), so results never scan the ratings; and casts
per group and minute, written by each cast, for the participation chart.

`recompute` counts again from the ratings; `verify` compares and `rebuild` repairs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import ClauseElement, Connection, bindparam, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPICursor, Dialect
from sqlmodel import Session

from pingyi import db
from pingyi.models import Ballot, BallotTally, GroupEvaluation, Rating, Tally, table

_TALLY = table(Tally)
_BALLOT_TALLY = table(BallotTally)
_RATING = table(Rating)
_BALLOT = table(Ballot)
_COUNTED = table(GroupEvaluation)


class TallyKey(NamedTuple):
    group_id: int
    target_id: int
    criterion_id: int
    level_id: int
    uniform: bool  # from a 一刀切 ballot


def current_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


# Run by `ballots.submit` on the DBAPI cursor of the cast's transaction: the chart counts casts
# per minute; what the ballot says is sealed in the box until its group is counted.
def _count_cast_upsert(dialect: Dialect) -> ClauseElement:
    """+1 to the minute's row, made if missing: an upsert, in each dialect's own construct."""
    ballots = _BALLOT_TALLY.c
    values = {
        "round_id": bindparam("round_id"),
        "group_id": bindparam("group_id"),
        "minute": bindparam("minute"),
        "ballots": 1,
        "uniform": 0,
    }
    key = [ballots.round_id, ballots.group_id, ballots.minute]
    increment = {"ballots": ballots.ballots + 1}
    if dialect.name == "postgresql":
        on_pg = postgresql.insert(_BALLOT_TALLY).values(values)
        return on_pg.on_conflict_do_update(index_elements=key, set_=increment)
    on_sqlite = sqlite.insert(_BALLOT_TALLY).values(values)
    return on_sqlite.on_conflict_do_update(index_elements=key, set_=increment)


_COUNT_CAST = db.DriverStatement(_count_cast_upsert)


def count_cast(cursor: DBAPICursor, dialect: Dialect, *, round_id: int, group_id: int) -> None:
    """+1 cast for the group this minute (the submissions-over-time chart)."""
    minute = _stored(dialect, current_minute())
    _COUNT_CAST.execute(cursor, dialect, round_id=round_id, group_id=group_id, minute=minute)


@functools.lru_cache(maxsize=8)  # one minute at a time: ~5 µs of type processing, once
def _stored(dialect: Dialect, minute: datetime) -> Any:
    """The minute as the column stores it (SQLite: text in SQLAlchemy's format)."""
    process = _BALLOT_TALLY.c.minute.type.dialect_impl(dialect).bind_processor(dialect)
    return process(minute) if process else minute


def count_group(
    conn: Connection,
    *,
    round_id: int,
    group_id: int,
    counts: Mapping[TallyKey, int] | None = None,
) -> None:
    """Replaces the group's rating counts (run by the count, in its transaction, once the
    box's ballots are written), in key order: `counts` as the count made them from the
    ballots, or a recount of the group's ratings."""
    conn.execute(delete(_TALLY).where(_TALLY.c.round_id == round_id, _TALLY.c.group_id == group_id))
    if counts is None:
        counts = _recount(conn, round_id, group_id)
    if counts:
        conn.execute(
            _TALLY.insert(),
            [
                {"round_id": round_id, **key._asdict(), "count": n}
                for key, n in sorted(counts.items())
            ],
        )


def recompute(*, session: Session, round_id: int) -> dict[TallyKey, int]:
    """The counts as the ratings say, for checking the stored ones."""
    return _recount(session.connection(), round_id, None)


def _recount(conn: Connection, round_id: int, group_id: int | None) -> dict[TallyKey, int]:
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
    if group_id is not None:
        query = query.where(_RATING.c.group_id == group_id)
    return {
        TallyKey(row[0], row[1], row[2], row[3], bool(row[4])): int(row[5])
        for row in conn.execute(query)
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
    """Counted ballots and 一刀切 ballots per evaluator group whose box was opened: group id →
    (ballots, uniform). A group still voting is not here: its ballots are sealed."""
    query = select(_COUNTED.c.group_id, _COUNTED.c.ballots, _COUNTED.c.uniform).where(
        _COUNTED.c.round_id == round_id, _COUNTED.c.counted.is_(True)
    )
    return {
        int(group_id): (int(ballots), int(uniform))
        for group_id, ballots, uniform in session.connection().execute(query)
    }


def ballots_counted(conn: Connection, round_id: int) -> dict[int, tuple[int, int]]:
    """Ballots and 一刀切 ballots per group, as the ballot rows say."""
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
        for group_id, ballots, uniform in conn.execute(query)
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
    ballots = ballots_counted(session.connection(), round_id)
    counted = participation(session=session, round_id=round_id)
    for group_id in sorted(counted):
        want, have = ballots.get(group_id, (0, 0)), counted[group_id]
        if want != have:
            problems.append(
                f"票数不符:群体 {group_id}:记录 {have[0]} 票(一刀切 {have[1]}),"
                f"应为 {want[0]} 票(一刀切 {want[1]})"
            )
    return problems


def rebuild(*, session: Session, round_id: int) -> None:
    """Replace the round's stored counts by a recount from the ratings and ballots."""
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
    ballots = ballots_counted(conn, round_id)
    for group_id in participation(session=session, round_id=round_id):
        n, uniform = ballots.get(group_id, (0, 0))
        conn.execute(
            _COUNTED.update()
            .where(_COUNTED.c.round_id == round_id, _COUNTED.c.group_id == group_id)
            .values(ballots=n, uniform=uniform)
        )
