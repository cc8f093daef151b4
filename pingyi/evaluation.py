"""开箱计票: closing a group's 群众评议 opens its 票箱 and counts it; then the files are sealed.

While a group votes, its ballots wait sealed in the box (`pingyi.box`): results, 一刀切 and
the rating tallies do not exist yet, and participation comes from the codes used. `close` ends
the group's evaluation in one transaction: every blob is opened in memory, the ballots are
shuffled and written under new random ids (ballots, ratings, comments shuffled apart), the
tallies counted, the box emptied and the group marked counted, so its codes are refused from
then on. A crash leaves the box or the counted ballots, never both and never neither.

`seal` then rewrites the files so that nothing of the order of casting is left in them: SQLite
VACUUM (every table written again in key order) and a checkpoint that empties the WAL;
PostgreSQL VACUUM FULL of the tables a cast or a count touches, and a CHECKPOINT. A count that
could not be sealed (the process stopped in between) is sealed by the next `close` or `seal`.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from pingyi import audit, box, codes, db, tally
from pingyi.ballots import ballot_form, new_id
from pingyi.models import (
    Ballot,
    BallotBox,
    EvaluatorGroup,
    GroupEvaluation,
    MassComment,
    Rating,
    Round,
    Step,
    table,
)

log = logging.getLogger(__name__)

_BOX = table(BallotBox)
_BALLOT = table(Ballot)
_RATING = table(Rating)
_COMMENT = table(MassComment)
_COUNTED = table(GroupEvaluation)

# What a cast or a count writes: the tables PostgreSQL rewrites when sealing.
SEALED_TABLES = (
    "ballot_box",
    "ballot",
    "rating",
    "mass_comment",
    "tally",
    "ballot_tally",
    "evaluation_code",
    "group_evaluation",
)
_SHUFFLE = random.SystemRandom()
_CHECKPOINT_TRIES = 50  # × 0.1 s: readers of the WAL finish their short reads by then


class EvaluationError(ValueError):
    """A close that cannot be done; the message is for the office, in Chinese."""


@dataclass(frozen=True)
class GroupState:
    """One evaluator group's 群众评议 in a round, as the office follows it."""

    group_id: int
    group_name: str
    issued: int  # codes printed, revoked ones included
    cast: int  # codes used: ballots cast
    in_box: int  # ballots waiting sealed
    counted: bool
    ballots: int  # counted ballots (after 开箱)
    uniform: int  # 一刀切 among them
    sealed: bool
    counted_at: datetime | None

    @property
    def label(self) -> str:
        if not self.counted:
            return "评议中"
        return "已开箱计票" if self.sealed else "已开箱计票(待封存)"


@dataclass(frozen=True)
class Counted:
    """What `close` did for one group."""

    group_id: int
    group_name: str
    ballots: int
    uniform: int
    already: bool  # the group had been counted before: nothing was done
    sealed: bool  # the files were rewritten afterwards


@dataclass(frozen=True)
class _Ballot:
    answers: dict[tuple[int, int], int]
    comments: dict[int, str]


# ---- what the office sees


def status(*, session: Session, round_id: int) -> list[GroupState]:
    """Every evaluator group with codes, ballots or a count in the round, in group order."""
    conn = session.connection()
    # Issued and used codes per group, as the codes page and meeting screen count them.
    by_code = {c.group_id: c for c in codes.counts(session=session, round_id=round_id)}
    in_box = {
        int(gid): int(n)
        for gid, n in conn.execute(
            select(_BOX.c.group_id, func.count())
            .where(_BOX.c.round_id == round_id)
            .group_by(_BOX.c.group_id)
        )
    }
    counted = {
        int(row.group_id): row
        for row in conn.execute(select(_COUNTED).where(_COUNTED.c.round_id == round_id))
    }
    issued = {gid for gid, c in by_code.items() if c.issued}
    states = []
    for gid in sorted(issued | in_box.keys() | counted.keys()):
        code_counts = by_code.get(gid)
        row = counted.get(gid)
        states.append(
            GroupState(
                group_id=gid,
                group_name=code_counts.group_name if code_counts else f"群体 {gid}",
                issued=code_counts.issued if code_counts else 0,
                cast=code_counts.submitted if code_counts else 0,
                in_box=in_box.get(gid, 0),
                counted=bool(row and row.counted),
                ballots=int(row.ballots) if row and row.counted else 0,
                uniform=int(row.uniform) if row and row.counted else 0,
                sealed=bool(row and row.sealed),
                counted_at=row.counted_at if row else None,
            )
        )
    return states


def open_groups(*, session: Session, round_id: int) -> list[GroupState]:
    """Groups of the round whose evaluation is not closed yet and that have cast ballots (in
    the box, or stored as rows by a release before the box)."""
    states = status(session=session, round_id=round_id)
    return [s for s in states if not s.counted and (s.in_box or s.cast)]


# ---- 开箱计票


def close(engine: Engine, *, round_id: int, group_id: int, actor: str = audit.CLI_ACTOR) -> Counted:
    """Close the group's evaluation in the round: count its box (one transaction), then seal.

    Closing a group already counted does nothing but finish a seal left undone."""
    with db.transaction(engine) as session:
        counted = _count(session, round_id, group_id, actor)
    return replace(counted, sealed=seal(engine))


def count_in(
    *, session: Session, round_id: int, group_id: int, actor: str = audit.CLI_ACTOR
) -> Counted:
    """开箱计票 in the caller's transaction (the demo loading a finished round), without the
    seal, which cannot run inside a transaction: the next `close` finishes it."""
    return _count(session, round_id, group_id, actor)


def _count(session: Session, round_id: int, group_id: int, actor: str) -> Counted:
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise EvaluationError("找不到该评议轮次")
    group = session.get(EvaluatorGroup, group_id)
    if group is None:
        raise EvaluationError("找不到该评议群体")
    if round_.step == Step.DRAFT:
        raise EvaluationError(f"「{round_.name}」还在筹备,没有可以计票的评议票")
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # Waits for every cast of the group that got past its claim (see "box_lock" in ballots).
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s, %s)", (round_id, group_id))
    state = session.get(GroupEvaluation, (round_id, group_id), populate_existing=True)
    if state is not None and state.counted:
        return Counted(group_id, group.name, state.ballots, state.uniform, True, state.sealed)

    cast = _take_box(session, round_id, group_id) + _take_counted(conn, round_id, group_id)
    _SHUFFLE.shuffle(cast)
    written, uniform, counts = _write_ballots(conn, round_id, group_id, cast)
    tally.count_group(conn, round_id=round_id, group_id=group_id, counts=counts)
    state = state or GroupEvaluation(round_id=round_id, group_id=group_id)
    state.counted, state.sealed = True, False
    state.ballots, state.uniform = written, uniform
    state.counted_at = datetime.now(UTC)
    session.add(state)
    audit.record(
        session=session,
        actor=actor,
        action=audit.Action.COUNT_BOX,
        detail=f"{round_.name} · {group.name}:{written} 票(一刀切 {uniform} 票)",
    )
    session.flush()
    return Counted(group_id, group.name, written, uniform, False, False)


def _take_box(session: Session, round_id: int, group_id: int) -> list[_Ballot]:
    """The group's sealed ballots, opened in memory with the group's form; the box emptied."""
    conn = session.connection()
    of_group = (_BOX.c.round_id == round_id) & (_BOX.c.group_id == group_id)
    form = ballot_form(session=session, round_id=round_id, group_id=group_id)
    opened = [
        box.open_sealed(sealed, form=form)
        for (sealed,) in conn.execute(select(_BOX.c.sealed).where(of_group))
    ]
    conn.execute(delete(_BOX).where(of_group))
    return [_Ballot(o.answers, o.comments) for o in opened]


def _take_counted(conn: Connection, round_id: int, group_id: int) -> list[_Ballot]:
    """Ballots of the group already stored as rows (by a release before the box): taken out,
    to be written again shuffled with the box's. Their comments carry no ballot, so they come
    back on ballots of their own."""
    of_group = (_BALLOT.c.round_id == round_id) & (_BALLOT.c.group_id == group_id)
    answers: dict[str, dict[tuple[int, int], int]] = {
        bid: {} for bid in conn.execute(select(_BALLOT.c.id).where(of_group)).scalars()
    }
    comments = list(
        conn.execute(
            select(_COMMENT.c.target_id, _COMMENT.c.text).where(
                _COMMENT.c.round_id == round_id, _COMMENT.c.group_id == group_id
            )
        )
    )
    if not answers and not comments:
        return []
    for bid, target, criterion, level in conn.execute(
        select(
            _RATING.c.ballot_id, _RATING.c.target_id, _RATING.c.criterion_id, _RATING.c.level_id
        ).where(_RATING.c.round_id == round_id, _RATING.c.group_id == group_id)
    ):
        answers[bid][(target, criterion)] = level
    conn.execute(
        delete(_RATING).where(_RATING.c.round_id == round_id, _RATING.c.group_id == group_id)
    )
    conn.execute(delete(_BALLOT).where(of_group))
    conn.execute(
        delete(_COMMENT).where(_COMMENT.c.round_id == round_id, _COMMENT.c.group_id == group_id)
    )
    ballots = [_Ballot(a, {}) for a in answers.values()]
    return ballots + [_Ballot({}, {target: text}) for target, text in comments]


def _write_ballots(
    conn: Connection, round_id: int, group_id: int, cast: list[_Ballot]
) -> tuple[int, int, Counter[tally.TallyKey]]:
    """Writes the shuffled ballots under new ids, their comments shuffled apart; how many
    ballots, how many of them 一刀切, and the rating counts they make (counted here, from the
    ballots in memory, rather than read back from the rows just written)."""
    ballots: list[tuple[str, int, int, bool]] = []
    ratings: list[tuple[str, int, int, int, int, int]] = []
    comments: list[tuple[str, int, int, int, str]] = []

    counts: Counter[tuple[int, int, int, int, bool]] = Counter()
    for ballot in cast:
        for target, text in ballot.comments.items():
            comments.append((new_id(), round_id, group_id, target, text))
        if not ballot.answers:
            continue  # a comment kept from a release before the box
        ballot_id = new_id()
        uniform = len(set(ballot.answers.values())) == 1
        ballots.append((ballot_id, round_id, group_id, uniform))
        ratings.extend(
            (ballot_id, target, criterion, level, round_id, group_id)
            for (target, criterion), level in ballot.answers.items()
        )
        counts.update(
            (group_id, target, criterion, level, uniform)
            for (target, criterion), level in ballot.answers.items()
        )
    _SHUFFLE.shuffle(comments)
    _insert(conn, "ballot", ("id", "round_id", "group_id", "uniform"), ballots)
    _insert(
        conn,
        "rating",
        ("ballot_id", "target_id", "criterion_id", "level_id", "round_id", "group_id"),
        ratings,
    )
    _insert(conn, "mass_comment", ("id", "round_id", "group_id", "target_id", "text"), comments)
    tallies = Counter({tally.TallyKey(*key): n for key, n in counts.items()})
    return len(ballots), sum(1 for row in ballots if row[3]), tallies


def _insert(conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Rows in the order given, as the driver writes fastest: COPY on PostgreSQL."""
    if not rows:
        return
    names = ", ".join(columns)
    with db.driver_cursor(conn) as cursor:
        if conn.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        # Many rows per INSERT: one statement step instead of one per row (a third faster
        # than executemany), within SQLite's 32766 parameters.
        per_insert = 3000 // len(columns)
        row_marks = f"({', '.join('?' for _ in columns)})"
        for start in range(0, len(rows), per_insert):
            part = rows[start : start + per_insert]
            values = ", ".join([row_marks] * len(part))
            flat = [value for row in part for value in row]
            cursor.execute(f"INSERT INTO {table} ({names}) VALUES {values}", flat)


# ---- sealing the files


def seal(engine: Engine) -> bool:
    """Rewrite the files if a count has not been sealed yet; whether every count is sealed."""
    if not _unsealed(engine):
        return True
    try:
        if db.is_sqlite(engine):
            _seal_sqlite(engine)
        else:
            _seal_postgresql(engine)
    except DBAPIError:
        log.exception("sealing after a count failed; the next close or seal tries again")
        return False
    with db.transaction(engine) as session:
        session.connection().execute(
            _COUNTED.update().where(_COUNTED.c.counted.is_(True)).values(sealed=True)
        )
    if db.is_sqlite(engine):
        _checkpoint_sqlite(engine)  # the flag's own write leaves the WAL too
    return True


def _unsealed(engine: Engine) -> bool:
    with db.session(engine) as session:
        query = select(func.count()).where(
            _COUNTED.c.counted.is_(True), _COUNTED.c.sealed.is_(False)
        )
        return bool(session.connection().execute(query).scalar())


def _seal_sqlite(engine: Engine) -> None:
    if engine.url.database in (None, "", ":memory:"):
        return  # nothing on disk to rewrite
    with engine.connect() as conn:
        # VACUUM writes every table again in key order (random ids), with no free page left
        # holding an old cell; it cannot run inside a transaction.
        driver = conn.connection.dbapi_connection
        assert driver is not None
        driver.execute("VACUUM")
    _checkpoint_sqlite(engine)


def _checkpoint_sqlite(engine: Engine) -> None:
    """Copy the WAL into the database and truncate it to nothing, waiting for readers."""
    if engine.url.database in (None, "", ":memory:"):
        return
    with engine.connect() as conn:
        driver = conn.connection.dbapi_connection
        assert driver is not None
        for _ in range(_CHECKPOINT_TRIES):
            busy, _log, _done = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(0.1)
    log.warning("the WAL could not be emptied: readers kept it busy; the next seal tries again")


def _seal_postgresql(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # VACUUM FULL writes each table into a new file, its live rows only, in their
        # physical order: the count's shuffled one.
        conn.exec_driver_sql(f"VACUUM FULL {', '.join(SEALED_TABLES)}")
        try:
            conn.exec_driver_sql("CHECKPOINT")
        except DBAPIError:
            # CHECKPOINT needs a superuser or pg_checkpoint; the WAL then recycles on its own.
            log.warning("CHECKPOINT refused: grant pg_checkpoint to the app's role")
