"""群众评议 ballots: the form a group rates, drafts kept by code, and exactly-once submission.

A ballot is stored once per 测评码, whatever the tablet does (double tap, second device,
replay, retry): `submit` marks the code used with a conditional UPDATE that only one
transaction can win, and in that same transaction stores the ballot, its ratings, its comments
and the tallies, and deletes the draft. The ballot rows carry no code, hash, account, address
or time, and their ids are random, so nothing leads from a ballot back to its code.
"""

from __future__ import annotations

import functools
import itertools
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from sqlalchemy import Connection, Engine, String, bindparam, cast, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.engine.interfaces import DBAPICursor, Dialect
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from pingyi import codes, criteria, db, tally
from pingyi.criteria import CriterionView, LevelView
from pingyi.models import (
    TEMPLATE_LABELS,
    Draft,
    EvaluationCode,
    MassAssignment,
    Round,
    Step,
    Target,
    TemplateKey,
)

COMMENT_MAX = 200

Answers = dict[tuple[int, int], int]  # (target_id, criterion_id) → level_id
Comments = dict[int, str]  # target_id → text

_CODE = EvaluationCode.__table__  # type: ignore[attr-defined]
_DRAFT = Draft.__table__  # type: ignore[attr-defined]
_ROUND = Round.__table__  # type: ignore[attr-defined]


class BallotError(ValueError):
    """A ballot that cannot be opened, saved or stored; the message is for the evaluator."""


class AlreadyUsed(BallotError):
    def __init__(self, message: str = codes.MSG_USED) -> None:
        super().__init__(message)


class IncompleteBallot(BallotError):
    def __init__(self, cards: list[Card]) -> None:
        self.cards = tuple(cards)
        names = "、".join(card.name for card in cards)
        super().__init__(f"还有 {len(cards)} 张评议卡没有评完:{names}")


@dataclass(frozen=True)
class Card:
    """One target on the ballot, with the criteria of its category."""

    target_id: int
    name: str
    branch_name: str
    category: str  # 党组织 / 党员领导干部 / 普通党员 / 领导班子
    criteria: tuple[CriterionView, ...]


@dataclass(frozen=True)
class BallotForm:
    round_id: int
    group_id: int
    cards: tuple[Card, ...]
    levels: tuple[LevelView, ...]  # 好 / 较好 / 一般 / 差 / 不了解

    @functools.cached_property
    def items(self) -> tuple[tuple[int, int], ...]:
        """Every (target_id, criterion_id) to answer, in card order."""
        return tuple((card.target_id, c.id) for card in self.cards for c in card.criteria)

    @functools.cached_property
    def item_set(self) -> frozenset[tuple[int, int]]:
        return frozenset(self.items)

    @functools.cached_property
    def level_ids(self) -> frozenset[int]:
        return frozenset(level.id for level in self.levels)

    @functools.cached_property
    def card_by_target(self) -> dict[int, Card]:
        return {card.target_id: card for card in self.cards}


@dataclass(frozen=True)
class Opened:
    """A code opened for rating: its form and whatever was saved before."""

    round_id: int
    group_id: int
    form: BallotForm
    answers: Answers = field(default_factory=dict)
    comments: Comments = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """What the evaluator is told after submitting: nothing that identifies the ballot."""

    targets: int


# ---- the form


def ballot_form(*, session: Session, round_id: int, group_id: int) -> BallotForm:
    """The cards the group rates in the round, in target order, and the round's scale."""
    rows = session.connection().execute(
        select(Target.id, Target.name, Target.branch_name, Target.template_key)  # type: ignore[call-overload]
        .join(MassAssignment, MassAssignment.target_id == Target.id)  # type: ignore[arg-type]
        .where(MassAssignment.round_id == round_id, MassAssignment.group_id == group_id)
        .order_by(Target.position, Target.id)
    )
    by_template = criteria.round_criteria(session=session, round_id=round_id)
    cards = tuple(
        Card(
            target_id=target_id,
            name=name,
            branch_name=branch_name,
            category=TEMPLATE_LABELS[TemplateKey(key)],
            criteria=tuple(by_template[TemplateKey(key)]),
        )
        for target_id, name, branch_name, key in rows
    )
    levels = tuple(criteria.round_scale(session=session, round_id=round_id))
    return BallotForm(round_id=round_id, group_id=group_id, cards=cards, levels=levels)


# Forms of open rounds, which never change once a round is open (targets, assignments and
# criteria are fixed then): one dict lookup instead of three queries per ballot and autosave.
_FORMS: dict[tuple[URL, int, int, Any], BallotForm] = {}
_FORMS_MAX = 256


def _open_form(
    session: Session, round_id: int, group_id: int, step: str, created_at: Any
) -> BallotForm:
    """The form of a round that takes ballots."""
    if step == Step.DRAFT:
        raise BallotError("本轮评议尚未开始")
    if step == Step.CLOSED:
        raise BallotError("本轮评议已结束")
    # Keyed by database and creation time too: ids start again in another database, or
    # after the newest round is deleted.
    key = (session.get_bind().url, round_id, group_id, created_at)
    form = _FORMS.get(key)
    if form is None:
        form = ballot_form(session=session, round_id=round_id, group_id=group_id)
        if len(_FORMS) >= _FORMS_MAX:
            _FORMS.clear()
        _FORMS[key] = form
    return form


def missing(form: BallotForm, answers: Mapping[tuple[int, int], int | None]) -> list[Card]:
    """Cards with at least one criterion not answered yet."""
    complete = len(answers) == len(form.items) and None not in answers.values()
    if complete and answers.keys() == form.item_set:
        return []
    return [
        card
        for card in form.cards
        if any(answers.get((card.target_id, c.id)) is None for c in card.criteria)
    ]


def _checked_answers(form: BallotForm, answers: Mapping[tuple[int, int], int | None]) -> Answers:
    """The answered items; refuses an item or a level that is not on this form."""
    given = {key: level for key, level in answers.items() if level is not None}
    if not given.keys() <= form.item_set:
        raise BallotError("评议内容与评议表不符,请刷新页面后重新填写")
    if not set(given.values()) <= form.level_ids:
        raise BallotError("评价等级无效,请刷新页面后重新选择")
    return given


def _checked_comments(form: BallotForm, comments: Mapping[int, str] | None) -> Comments:
    """Stripped, non-empty comments; refuses one that is too long or about another target."""
    cleaned: Comments = {}
    for target_id, text in (comments or {}).items():
        card = form.card_by_target.get(target_id)
        if card is None:
            raise BallotError("评议内容与评议表不符,请刷新页面后重新填写")
        text = (text or "").strip()
        if len(text) > COMMENT_MAX:
            raise BallotError(
                f"对「{card.name}」的意见建议超过 {COMMENT_MAX} 字(现 {len(text)} 字),请精简"
            )
        if text:
            cleaned[target_id] = text
    return cleaned


# ---- codes

_USABLE = (
    select(
        _CODE.c.round_id,
        _CODE.c.group_id,
        _ROUND.c.step,
        cast(_ROUND.c.created_at, String).label("created_at"),  # as `_claim` reads it
    )
    .join(_ROUND, _ROUND.c.id == _CODE.c.round_id)
    .where(
        _CODE.c.code_hash == bindparam("h"),
        _CODE.c.used.is_(False),
        _CODE.c.revoked.is_(False),
    )
)


@dataclass(frozen=True)
class _Usable:
    code_hash: str
    form: BallotForm


def _usable(session: Session, code: str, round_id: int | None) -> _Usable:
    """The code's hash and form when it may still vote; otherwise the reason, as an error.

    One indexed query when all is well; `codes.lookup` says what is wrong otherwise.
    """
    code_hash = codes.hash_code(code)
    row = session.connection().execute(_USABLE, {"h": code_hash}).first()
    if row is None or (round_id is not None and row.round_id != round_id):
        _refuse(session, code, round_id)
    form = _open_form(session, row.round_id, row.group_id, row.step, row.created_at)
    return _Usable(code_hash, form)


def _refuse(session: Session, code: str, round_id: int | None) -> NoReturn:
    status = codes.lookup(session=session, code=code, round_id=round_id)
    if status.state is codes.CodeState.USED:
        raise AlreadyUsed(status.message)
    # OK here would mean the code was used and given back in between: say it is unknown.
    raise BallotError(codes.MSG_UNKNOWN if status.ok else status.message)


def open_code(*, session: Session, code: str, round_id: int | None = None) -> Opened:
    """Open the ballot page for a code: its form and its saved draft (reload, other device)."""
    usable = _usable(session, code, round_id)
    codes.mark_opened(session=session, code_hash=usable.code_hash)
    answers, comments = _stored_draft(session.connection(), usable.code_hash)
    form = usable.form
    return Opened(form.round_id, form.group_id, form, answers, comments)


# ---- drafts


def _draft_json(answers: Answers, comments: Comments) -> dict[str, Any]:
    return {
        "answers": {f"{t}:{c}": level for (t, c), level in sorted(answers.items())},
        "comments": {str(t): text for t, text in sorted(comments.items())},
    }


def _stored_draft(conn: Connection, code_hash: str) -> tuple[Answers, Comments]:
    payload = conn.execute(select(_DRAFT.c.answers).where(_DRAFT.c.code_hash == code_hash)).scalar()
    if not payload:
        return {}, {}
    answers: Answers = {}
    for key, level in payload.get("answers", {}).items():
        target_id, criterion_id = key.split(":")
        answers[int(target_id), int(criterion_id)] = int(level)
    comments = {int(t): str(text) for t, text in payload.get("comments", {}).items()}
    return answers, comments


_HOLD_CODE = (
    update(_CODE)
    .where(
        _CODE.c.code_hash == bindparam("h"),
        _CODE.c.used.is_(False),
        _CODE.c.revoked.is_(False),
    )
    .values(opened=True)
)


@functools.cache
def _save_draft_statement(dialect: str) -> Any:
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_DRAFT)
    return statement.on_conflict_do_update(
        index_elements=[_DRAFT.c.code_hash], set_={"answers": statement.excluded.answers}
    )


def save_draft(
    *,
    session: Session,
    code: str,
    answers: Mapping[tuple[int, int], int | None],
    comments: Mapping[int, str] | None = None,
    round_id: int | None = None,
) -> None:
    """Keep every answer so far on the server, keyed by the code; replaces the last save."""
    usable = _usable(session, code, round_id)
    payload = _draft_json(
        _checked_answers(usable.form, answers), _checked_comments(usable.form, comments)
    )
    conn = session.connection()
    # Takes the code's row lock, as submit's UPDATE does: on PostgreSQL a save racing a submit
    # either waits and is refused, or commits first and its draft is deleted by the submit.
    if conn.execute(_HOLD_CODE, {"h": usable.code_hash}).rowcount != 1:
        _refuse(session, code, round_id)
    conn.execute(
        _save_draft_statement(conn.dialect.name),
        {"code_hash": usable.code_hash, "answers": payload},
    )


def load_draft(
    *, session: Session, code: str, round_id: int | None = None
) -> tuple[Answers, Comments]:
    """The answers and comments saved for a code that can still vote; empty when none."""
    usable = _usable(session, code, round_id)
    return _stored_draft(session.connection(), usable.code_hash)


# ---- submission
#
# A ballot is the busiest write of the meeting: its statements run on the DBAPI cursor of the
# transaction, as SQL text in the driver's parameter style, because SQLAlchemy's ~50 µs per
# execute cost more than the SQL itself. One table per dialect, the same SQL but for "?"/"%s".

# Marks the code used if it can still vote, in one statement that only one transaction can
# win; says the code's round and group, and when the round was created (as text, whichever
# path reads it) for the form cache.
_CLAIM = f"""
UPDATE evaluation_code SET used = TRUE
WHERE code_hash = ? AND used = FALSE AND revoked = FALSE
AND EXISTS (SELECT 1 FROM round WHERE round.id = evaluation_code.round_id
            AND round.step NOT IN ('{Step.DRAFT}', '{Step.CLOSED}'))
{{}}
RETURNING round_id, group_id,
    (SELECT CAST(created_at AS VARCHAR) FROM round WHERE round.id = evaluation_code.round_id)
"""
_SQLITE = {
    "claim": _CLAIM.format(""),
    "claim_in_round": _CLAIM.format("AND round_id = ?"),
    "ballot": "INSERT INTO ballot (id, round_id, group_id, uniform) VALUES (?, ?, ?, ?)",
    "comment": "INSERT INTO mass_comment (id, round_id, group_id, target_id, text)"
    " VALUES (?, ?, ?, ?, ?)",
    "draft": "DELETE FROM draft WHERE code_hash = ?",
}
_SQL = {
    "sqlite": _SQLITE,
    "postgresql": {name: sql.replace("?", "%s") for name, sql in _SQLITE.items()},
}

# One INSERT … SELECT FROM unnest(arrays): one statement instead of 180 (each of which would
# run PostgreSQL's foreign-key triggers as a separate statement).
_POSTGRESQL_RATINGS = """
INSERT INTO rating (ballot_id, target_id, criterion_id, level_id, round_id, group_id)
SELECT %s, t, c, l, %s, %s FROM unnest(%s::integer[], %s::integer[], %s::integer[]) AS u(t, c, l)
"""
_RATINGS_PER_INSERT = 500  # 3 + 3 × 500 parameters: far below SQLite's limit of 32766


@functools.lru_cache(maxsize=64)
def _sqlite_ratings(n: int) -> str:
    """One INSERT of n ratings: a single step instead of executemany's n binds, steps and
    resets, which made the ratings ~40 % cheaper. ?1-?3 are the ballot, round and group, then
    come the n (target, criterion) pairs, then the n levels."""
    rows = ", ".join(
        f"(?1, ?{4 + 2 * i}, ?{5 + 2 * i}, ?{4 + 2 * n + i}, ?2, ?3)" for i in range(n)
    )
    return (
        "INSERT INTO rating (ballot_id, target_id, criterion_id, level_id, round_id, group_id)"
        f" VALUES {rows}"
    )


def _insert_ratings(
    cursor: DBAPICursor,
    dialect: str,
    ballot_id: str,
    round_id: int,
    group_id: int,
    answers: Mapping[tuple[int, int], int],
) -> None:
    """The ballot's ratings in one statement (or one per 500 on a huge SQLite form). In no
    particular order: the rows are new, and only the tallies need an order (see `tally`)."""
    if dialect == "postgresql":
        targets, criteria_ = [t for t, _ in answers], [c for _, c in answers]
        cursor.execute(
            _POSTGRESQL_RATINGS,
            (ballot_id, round_id, group_id, targets, criteria_, list(answers.values())),
        )
        return
    items, levels = list(answers), list(answers.values())
    for start in range(0, len(items), _RATINGS_PER_INSERT):
        part = items[start : start + _RATINGS_PER_INSERT]
        cursor.execute(
            _sqlite_ratings(len(part)),
            (
                ballot_id,
                round_id,
                group_id,
                *itertools.chain.from_iterable(part),
                *levels[start : start + len(part)],
            ),
        )


def new_id() -> str:
    """A random 32-hex id: ballots are not numbered in the order they come in."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class _Checked:
    """A ballot that fits its form, as it will be stored."""

    answers: Mapping[tuple[int, int], int]  # exactly the form's items
    uniform: bool  # 一刀切: one level for every item
    comments: Comments


def _checked_ballot(
    form: BallotForm,
    answers: Mapping[tuple[int, int], int | None],
    comments: Mapping[int, str] | None,
) -> _Checked:
    """The ballot as it will be stored; refuses, saying why, one that does not fit the form."""
    levels = set(answers.values())
    given: Mapping[tuple[int, int], Any] = answers
    # Two set comparisons in C for the usual ballot; the item-by-item checks, which say what
    # is wrong (or drop unanswered items), only for the others.
    if answers.keys() != form.item_set or not levels <= form.level_ids:
        given = _checked_answers(form, answers)
        gaps = missing(form, given)
        if gaps:
            raise IncompleteBallot(gaps)
        levels = set(given.values())
    return _Checked(given, len(levels) == 1, _checked_comments(form, comments))


def _claim(
    cursor: DBAPICursor, dialect: str, code_hash: str, round_id: int | None
) -> tuple[int, int, str] | None:
    """Marks the code used when it can still vote (in `round_id`, when given): its round id,
    group id and round creation time; None when it cannot, or another transaction won."""
    sql = _SQL[dialect]
    if round_id is None:
        cursor.execute(sql["claim"], (code_hash,))
    else:
        cursor.execute(sql["claim_in_round"], (code_hash, round_id))
    return cursor.fetchone()  # type: ignore[no-any-return]


def _store(
    cursor: DBAPICursor, dialect: Dialect, form: BallotForm, ballot: _Checked, code_hash: str
) -> Receipt:
    """Writes the ballot of a claimed code: ballot, ratings, comments, tallies; no draft."""
    sql = _SQL[dialect.name]
    rid, gid = form.round_id, form.group_id
    ballot_id = new_id()
    cursor.execute(sql["ballot"], (ballot_id, rid, gid, ballot.uniform))
    _insert_ratings(cursor, dialect.name, ballot_id, rid, gid, ballot.answers)
    if ballot.comments:
        cursor.executemany(
            sql["comment"],
            [(new_id(), rid, gid, t, text) for t, text in sorted(ballot.comments.items())],
        )
    tally.add_ballot(
        cursor, dialect, ballot_id=ballot_id, round_id=rid, group_id=gid, uniform=ballot.uniform
    )
    cursor.execute(sql["draft"], (code_hash,))
    return Receipt(targets=len(form.cards))


def submit(
    *,
    session: Session,
    code: str,
    answers: Mapping[tuple[int, int], int | None],
    comments: Mapping[int, str] | None = None,
    round_id: int | None = None,
) -> Receipt:
    """Store the ballot of a code exactly once, in the caller's transaction.

    Everything is checked before anything is written, so a refused ballot leaves nothing
    behind even when the caller catches the error and commits.
    """
    usable = _usable(session, code, round_id)
    ballot = _checked_ballot(usable.form, answers, comments)
    conn = session.connection()
    with db.driver_cursor(conn) as cursor:
        if _claim(cursor, conn.dialect.name, usable.code_hash, round_id) is None:
            # Another tap, device or retry got there first: this one stores nothing.
            raise AlreadyUsed()
        return _store(cursor, conn.dialect, usable.form, ballot, usable.code_hash)


class _NotQuick(Exception):
    """The code cannot vote, or its form is not cached yet: `submit` takes the ballot."""


def _submit_quickly(
    engine: Engine,
    code: str,
    answers: Mapping[tuple[int, int], int | None],
    comments: Mapping[int, str] | None,
    round_id: int | None,
) -> Receipt | None:
    """`submit` in a light transaction, for a code that can vote and a form in the cache.

    The code is claimed first, so the form (and its checks) come after a write: a refused
    ballot is rolled back whole, as this function owns the transaction. None, with nothing
    written, when `submit` must say why the code cannot vote or must load the form.
    """
    code_hash = codes.hash_code(code)
    try:
        with db.driver_transaction(engine) as cursor:
            claimed = _claim(cursor, engine.dialect.name, code_hash, round_id)
            form = _FORMS.get((engine.url, *claimed)) if claimed else None
            if form is None:
                raise _NotQuick
            ballot = _checked_ballot(form, answers, comments)
            return _store(cursor, engine.dialect, form, ballot, code_hash)
    except _NotQuick:
        return None


# PostgreSQL: serialization_failure, deadlock_detected. SQLite: a lock held past busy_timeout.
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})


def _transient(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    if getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    message = str(exc.orig).lower()
    return "database is locked" in message or "database is busy" in message


def submit_with_retry(
    engine: Engine,
    code: str,
    answers: Mapping[tuple[int, int], int | None],
    comments: Mapping[int, str] | None = None,
    *,
    round_id: int | None = None,
    retries: int = 3,
) -> Receipt:
    """`submit` in its own transaction, retried on a deadlock, serialization failure or lost
    connection. A retry after an attempt that did commit gets AlreadyUsed, as it should."""
    for attempt in range(retries + 1):
        try:
            receipt = _submit_quickly(engine, code, answers, comments, round_id)
            if receipt is not None:
                return receipt
            with db.transaction(engine) as session:
                return submit(
                    session=session,
                    code=code,
                    answers=answers,
                    comments=comments,
                    round_id=round_id,
                )
        except DBAPIError as exc:
            if attempt == retries or not _transient(exc):
                raise
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
    raise AssertionError("unreachable")
