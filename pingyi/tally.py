"""Tallies: rating counts per round × group × target × criterion × level × 一刀切, kept up to date
by each ballot in its own transaction, so the live meeting screen never scans the ratings.

`recompute` counts again from the ratings; `verify` compares and `rebuild` repairs.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Boolean, Connection, bindparam, case, delete, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
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


@functools.cache
def _add_ballot_statements(dialect: str) -> tuple[Any, Any]:
    """The two upserts of `add_ballot` for a dialect, built once."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    counted = (
        select(
            _RATING.c.round_id,
            _RATING.c.group_id,
            _RATING.c.target_id,
            _RATING.c.criterion_id,
            _RATING.c.level_id,
            bindparam("uniform", type_=Boolean),
            literal_column("1"),
        )
        .where(_RATING.c.ballot_id == bindparam("ballot_id"))
        .order_by(_RATING.c.target_id, _RATING.c.criterion_id)
    )
    ratings = (
        insert(_TALLY)
        .from_select(
            ["round_id", "group_id", "target_id", "criterion_id", "level_id", "uniform", "count"],
            counted,
        )
        .on_conflict_do_update(
            index_elements=list(_TALLY.primary_key.columns),
            set_={"count": _TALLY.c.count + 1},
        )
    )
    ballot = insert(_BALLOT_TALLY)
    ballot = ballot.on_conflict_do_update(
        index_elements=list(_BALLOT_TALLY.primary_key.columns),
        set_={
            "ballots": _BALLOT_TALLY.c.ballots + ballot.excluded.ballots,
            "uniform": _BALLOT_TALLY.c.uniform + ballot.excluded.uniform,
        },
    )
    return ratings, ballot


def add_ballot(
    *, session: Session, ballot_id: str, round_id: int, group_id: int, uniform: bool
) -> None:
    """Count a just-inserted ballot: +1 per rating, +1 ballot for its group this minute.

    The rating counts come from one INSERT … SELECT over the ballot's own ratings, in key
    order: concurrent PostgreSQL ballots lock tally rows in the same order and never deadlock
    (SQLite needs no order: BEGIN IMMEDIATE lets one writer in at a time).
    """
    conn = session.connection()
    ratings, ballot = _add_ballot_statements(conn.dialect.name)
    conn.execute(ratings, {"ballot_id": ballot_id, "uniform": uniform})
    conn.execute(
        ballot,
        {
            "round_id": round_id,
            "group_id": group_id,
            "minute": current_minute(),
            "ballots": 1,
            "uniform": int(uniform),
        },
    )


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
