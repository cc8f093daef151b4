"""群众评议 ballots: the form a group rates, drafts kept by code, and exactly-once submission.

A ballot is stored once per 测评码, whatever the tablet does (double tap, second device,
replay, retry): `submit` marks the code used with a conditional UPDATE that only one
transaction can win, and in that same transaction stores the ballot, its ratings, its comments
and the tallies, and deletes the draft. The ballot rows carry no code, hash, account, address
or time, and their ids are random, so nothing leads from a ballot back to its code.
"""

from __future__ import annotations

import functools
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    String,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from pingyi import codes, criteria, db, tally
from pingyi.criteria import CriterionView, LevelView
from pingyi.models import (
    TEMPLATE_LABELS,
    Ballot,
    Draft,
    EvaluationCode,
    MassAssignment,
    MassComment,
    Rating,
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
_BALLOT = Ballot.__table__  # type: ignore[attr-defined]
_RATING = Rating.__table__  # type: ignore[attr-defined]
_COMMENT = MassComment.__table__  # type: ignore[attr-defined]
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
    select(_CODE.c.round_id, _CODE.c.group_id, _ROUND.c.step, _ROUND.c.created_at)
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

_MARK_USED = (
    update(_CODE)
    .where(
        _CODE.c.code_hash == bindparam("h"),
        _CODE.c.used.is_(False),
        _CODE.c.revoked.is_(False),
    )
    .values(used=True)
)
_INSERT_BALLOT = insert(_BALLOT)
_INSERT_COMMENTS = insert(_COMMENT)
_DELETE_DRAFT = delete(_DRAFT).where(_DRAFT.c.code_hash == bindparam("h"))


_RATING_COLUMNS = ["ballot_id", "target_id", "criterion_id", "level_id", "round_id", "group_id"]


@functools.cache
def _sqlite_ratings_sql() -> str:
    compiled = insert(_RATING).compile(dialect=sqlite.dialect(), column_keys=_RATING_COLUMNS)
    if list(compiled.positiontup or ()) != _RATING_COLUMNS:  # the tuples below follow this order
        raise RuntimeError(f"unexpected parameter order {compiled.positiontup}")
    return compiled.string


@functools.cache
def _postgresql_ratings() -> Any:
    """One INSERT … SELECT FROM unnest(arrays): one statement instead of 180 (each of which
    would run PostgreSQL's six foreign-key triggers as a separate statement)."""
    unnested = (
        func.unnest(
            bindparam("targets", type_=postgresql.ARRAY(Integer)),
            bindparam("criteria", type_=postgresql.ARRAY(Integer)),
            bindparam("levels", type_=postgresql.ARRAY(Integer)),
        )
        .table_valued("target_id", "criterion_id", "level_id")
        .render_derived(name="u")
    )
    rows = select(
        bindparam("b", type_=String),
        unnested.c.target_id,
        unnested.c.criterion_id,
        unnested.c.level_id,
        bindparam("r", type_=Integer),
        bindparam("g", type_=Integer),
    )
    return insert(_RATING).from_select(_RATING_COLUMNS, rows)


def _insert_ratings(
    conn: Connection, ballot_id: str, round_id: int, group_id: int, answers: Answers
) -> None:
    """The ballot's ratings in one round trip, in key order.

    The hot path of the benchmark. On SQLite it is the compiled Core INSERT run as one DBAPI
    executemany: the values (ints and a str) need no type processing, and skipping
    SQLAlchemy's per-row parameter handling makes the whole submit about a quarter faster.
    """
    items = sorted(answers.items())
    if conn.dialect.name == "postgresql":
        conn.execute(
            _postgresql_ratings(),
            {
                "b": ballot_id,
                "r": round_id,
                "g": group_id,
                "targets": [t for (t, _), _ in items],
                "criteria": [c for (_, c), _ in items],
                "levels": [level for _, level in items],
            },
        )
        return
    conn.exec_driver_sql(
        _sqlite_ratings_sql(),
        [(ballot_id, t, c, level, round_id, group_id) for (t, c), level in items],
    )


def new_id() -> str:
    """A random 32-hex id: ballots are not numbered in the order they come in."""
    return secrets.token_hex(16)


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
    form = usable.form
    given = _checked_answers(form, answers)
    gaps = missing(form, given)
    if gaps:
        raise IncompleteBallot(gaps)
    notes = _checked_comments(form, comments)

    conn = session.connection()
    if conn.execute(_MARK_USED, {"h": usable.code_hash}).rowcount != 1:
        # Another tap, device or retry got there first: this one stores nothing.
        raise AlreadyUsed()

    rid, gid = form.round_id, form.group_id
    ballot_id = new_id()
    uniform = len(set(given.values())) == 1  # 一刀切
    conn.execute(
        _INSERT_BALLOT, {"id": ballot_id, "round_id": rid, "group_id": gid, "uniform": uniform}
    )
    _insert_ratings(conn, ballot_id, rid, gid, given)
    if notes:
        conn.execute(
            _INSERT_COMMENTS,
            [
                {"id": new_id(), "round_id": rid, "group_id": gid, "target_id": t, "text": text}
                for t, text in sorted(notes.items())
            ],
        )
    tally.add_ballot(
        session=session, ballot_id=ballot_id, round_id=rid, group_id=gid, uniform=uniform
    )
    conn.execute(_DELETE_DRAFT, {"h": usable.code_hash})
    return Receipt(targets=len(form.cards))


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
