"""群众评议 ballots: the form a group rates, and exactly-once casting of the whole ballot.

The answers of a ballot being filled in stay on the evaluator's device (the ballot element,
`pingyi/ui/ballot_element.js`); the server holds nothing of them until 提交, when the whole
ballot arrives at once. It is cast once per 测评码, whatever the tablet does (double tap,
second device, replay, retry): `submit` marks the code used with a conditional UPDATE that only
one transaction can win, and in that same transaction drops the ballot, sealed, into the
group's 票箱 (`pingyi.box`). Nothing of it is readable until the office closes the group's
evaluation (`pingyi.evaluation.close`), which counts the box shuffled, under new ids: what a
copy of the database shows of a cast (the code flipped to used beside a new blob) leads to no
counted ballot.

A device sends a random token of its own (`receipt`) with its ballot; the code row keeps the
token's hash. A device that sends the ballot again because the reply was lost (a dropped
connection, a restarted server) is told that its ballot is in, and nothing is stored twice; a
different device with the same code is told the code is used.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import random
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import (
    Engine,
    String,
    bindparam,
    cast,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import URL
from sqlalchemy.engine.interfaces import DBAPICursor, Dialect
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col

from pingyi import box, codes, criteria, db, tally
from pingyi.criteria import CriterionView, LevelView
from pingyi.models import (
    TEMPLATE_LABELS,
    BallotBox,
    EvaluationCode,
    FormKind,
    GroupEvaluation,
    MassAssignment,
    Round,
    Step,
    Target,
    TemplateKey,
    table,
)

COMMENT_MAX = box.COMMENT_MAX

Answers = dict[tuple[int, int], int]  # (target_id, criterion_id) → level_id
Comments = dict[int, str]  # target_id → text

_CODE = table(EvaluationCode)
_ROUND = table(Round)
_COUNTED = table(GroupEvaluation)


class BallotError(ValueError):
    """A ballot that cannot be opened, saved or stored; the message is for the evaluator."""


class CodeRefused(BallotError):
    """The code cannot vote: unknown, revoked, used, of another round, or its round is not
    taking ballots. `state` says which, where the code is known."""

    def __init__(self, message: str, state: codes.CodeState | None = None) -> None:
        super().__init__(message)
        self.state = state


class AlreadyUsed(CodeRefused):
    def __init__(self, message: str = codes.MSG_USED) -> None:
        super().__init__(message, codes.CodeState.USED)


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
    criteria: tuple[CriterionView, ...]  # the items rated: its category's, or 总体评价 alone
    weigh: tuple[str, ...] = ()  # 总体评议: the category's criteria, shown as what to weigh


@dataclass(frozen=True)
class BallotForm:
    round_id: int
    group_id: int
    cards: tuple[Card, ...]
    levels: tuple[LevelView, ...]  # the group's scale as offered: 好 / 较好 / 一般 / 差 / 不了解
    kind: FormKind = FormKind.ITEMIZED
    comments: bool = True  # a 意见建议 box on each card

    @functools.cached_property
    def comment_budget(self) -> int:
        """The most characters of comments a ballot may carry (none without the box)."""
        return box.comment_budget(len(self.cards)) if self.comments else 0

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

    @functools.cached_property
    def level_places(self) -> dict[int, int]:
        """level id → its place on the scale (as the 票箱 stores a level)."""
        return {level.id: place for place, level in enumerate(self.levels)}

    @functools.cached_property
    def card_places(self) -> dict[int, int]:
        """target id → its card's place on the form (as the 票箱 stores a comment's target)."""
        return {card.target_id: place for place, card in enumerate(self.cards)}


@dataclass(frozen=True)
class Opened:
    """A code opened for rating: its form (the answers are on the device)."""

    round_id: int
    group_id: int
    form: BallotForm


@dataclass(frozen=True)
class Receipt:
    """What the evaluator is told after submitting: nothing that identifies the ballot."""

    targets: int
    again: bool = False  # this device's ballot was already in: the reply had been lost


# ---- the form


def ballot_form(*, session: Session, round_id: int, group_id: int) -> BallotForm:
    """The cards the group rates in the round, in target order, as the group's form says:
    分项 (each criterion of the target's category) or 总体 (one rating, `criteria.OVERALL`),
    on the group's scale."""
    rows = session.connection().execute(
        select(col(Target.id), col(Target.name), col(Target.branch_name), col(Target.template_key))
        .join(MassAssignment, col(MassAssignment.target_id) == Target.id)
        .where(col(MassAssignment.round_id) == round_id, col(MassAssignment.group_id) == group_id)
        .order_by(col(Target.position), col(Target.id))
    )
    by_template = criteria.round_criteria(session=session, round_id=round_id)
    shape = criteria.group_form(session=session, round_id=round_id, group_id=group_id)
    overall = shape.kind == FormKind.OVERALL
    cards = tuple(
        Card(
            target_id=target_id,
            name=name,
            branch_name=branch_name,
            category=TEMPLATE_LABELS[TemplateKey(key)],
            criteria=(criteria.OVERALL,) if overall else tuple(by_template[TemplateKey(key)]),
            weigh=tuple(c.name for c in by_template[TemplateKey(key)]) if overall else (),
        )
        for target_id, name, branch_name, key in rows
    )
    return BallotForm(
        round_id=round_id,
        group_id=group_id,
        cards=cards,
        levels=shape.levels,
        kind=shape.kind,
        comments=shape.comments,
    )


# Forms of open rounds, which never change once a round is open (targets, assignments and
# criteria are fixed then): one dict lookup instead of three queries per ballot and autosave.
_FORMS: dict[tuple[URL, int, int, Any], BallotForm] = {}
_FORMS_MAX = 256


def _open_form(
    session: Session, round_id: int, group_id: int, step: str, created_at: Any
) -> BallotForm:
    """The form of a round that takes ballots."""
    if step == Step.DRAFT:
        raise CodeRefused("本轮评议尚未开始")
    if step == Step.CLOSED:
        raise CodeRefused("本轮评议已结束")
    return _form(session, round_id, group_id, created_at)


def _form(session: Session, round_id: int, group_id: int, created_at: Any) -> BallotForm:
    """The form of an open round, from the cache or loaded in the session's transaction."""
    # Keyed by database and creation time too: ids start again in another database, or
    # after the newest round is deleted.
    key = (session.connection().engine.url, round_id, group_id, created_at)

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
    """Stripped, non-empty comments; refuses one that is too long or about another target, and
    comments longer together than a ballot may carry."""
    cleaned: Comments = {}
    if not form.comments and any((text or "").strip() for text in (comments or {}).values()):
        raise BallotError("本评议表不设意见建议栏,请刷新页面后重新提交")
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
    total, budget = sum(len(text) for text in cleaned.values()), form.comment_budget
    if total > budget:  # the 票箱 seals every ballot at one size: comments have a ceiling
        raise BallotError(f"意见建议合计超过 {budget} 字(现 {total} 字),请精简")
    return cleaned


# ---- codes

# A code that may still vote, as both the ballot page's read and the cast's claim ask it.
_UNSPENT = (
    _CODE.c.code_hash == bindparam("h"),
    _CODE.c.used.is_(False),
    _CODE.c.revoked.is_(False),
)
_USABLE = (
    select(
        _CODE.c.round_id,
        _CODE.c.group_id,
        _ROUND.c.step,
        cast(_ROUND.c.created_at, String).label("created_at"),  # as `_claim` reads it
        _COUNTED.c.counted,
    )
    .join(_ROUND, _ROUND.c.id == _CODE.c.round_id)
    .outerjoin(
        _COUNTED,
        (_COUNTED.c.round_id == _CODE.c.round_id) & (_COUNTED.c.group_id == _CODE.c.group_id),
    )
    .where(*_UNSPENT)
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
    if row.counted:
        raise CodeRefused(codes.MSG_CLOSED, codes.CodeState.CLOSED)
    form = _open_form(session, row.round_id, row.group_id, row.step, row.created_at)
    return _Usable(code_hash, form)


def _refuse(session: Session, code: str, round_id: int | None) -> NoReturn:
    status = codes.lookup(session=session, code=code, round_id=round_id)
    if status.state is codes.CodeState.USED:
        raise AlreadyUsed(status.message)
    # OK here would mean the code was used and given back in between: say it is unknown.
    if status.ok:
        raise CodeRefused(codes.MSG_UNKNOWN, codes.CodeState.UNKNOWN)
    raise CodeRefused(status.message, status.state)


def open_code(*, session: Session, code: str, round_id: int | None = None) -> Opened:
    """Open the ballot page for a code: the form to fill in on the device."""
    usable = _usable(session, code, round_id)
    codes.mark_opened(session=session, code_hash=usable.code_hash)
    form = usable.form
    return Opened(form.round_id, form.group_id, form)


# ---- the device's receipt token

_TOKEN = re.compile(r"[0-9a-f]{32}")


def receipt_hash(token: str | None) -> str | None:
    """What the code row keeps of a device's token; None for no token. A token that is not
    32 lower-case hex digits (as the ballot element makes them) is refused."""
    if token is None:
        return None
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise BallotError("提交内容无效,请刷新页面后重新提交")
    return hashlib.sha256(token.encode()).hexdigest()


def _cast_by(session: Session, code_hash: str, token_hash: str) -> bool:
    """Whether the code's ballot was stored from the device holding this token."""
    stored = (
        session.connection()
        .execute(
            select(_CODE.c.receipt).where(_CODE.c.code_hash == code_hash, _CODE.c.used.is_(True))
        )
        .scalar()
    )
    return stored is not None and secrets.compare_digest(stored, token_hash)


def _targets_of(session: Session, code_hash: str) -> int:
    """How many targets the code's group rates in its round (for the receipt shown again)."""
    row = (
        session.connection()
        .execute(select(_CODE.c.round_id, _CODE.c.group_id).where(_CODE.c.code_hash == code_hash))
        .first()
    )
    if row is None:
        return 0
    query = select(func.count()).where(
        MassAssignment.round_id == row.round_id,
        MassAssignment.group_id == row.group_id,
    )
    return int(session.connection().execute(query).scalar_one())


# ---- submission
#
# A ballot is the busiest write of the meeting: its statements are Core, compiled once per
# dialect and run on the DBAPI cursor of the cast's transaction (`db.DriverStatement`).


# Marks the code used if it can still vote, in one statement that only one transaction can
# win, with the hash of the submitting device's token; says the code's round and group, and when
# the round was created (as text, as `_USABLE` reads it) for the form cache. A group whose box
# was counted takes no more ballots.
_CLAIM_ANY_ROUND = (
    update(_CODE)
    .values(used=True, receipt=bindparam("token"))
    .where(
        *_UNSPENT,
        exists().where(
            _ROUND.c.id == _CODE.c.round_id,
            _ROUND.c.step != Step.DRAFT.value,  # plain text: the driver gets it as is
            _ROUND.c.step != Step.CLOSED.value,
        ),
        ~exists().where(
            _COUNTED.c.round_id == _CODE.c.round_id,
            _COUNTED.c.group_id == _CODE.c.group_id,
            _COUNTED.c.counted,
        ),
    )
    .returning(
        _CODE.c.round_id,
        _CODE.c.group_id,
        select(cast(_ROUND.c.created_at, String))
        .where(_ROUND.c.id == _CODE.c.round_id)
        .scalar_subquery(),
    )
)
_CLAIM = db.DriverStatement.of(_CLAIM_ANY_ROUND)
_CLAIM_IN_ROUND = db.DriverStatement.of(
    _CLAIM_ANY_ROUND.where(_CODE.c.round_id == bindparam("round_id"))
)
_UNCLAIM = db.DriverStatement.of(
    update(_CODE).values(used=False, receipt=None).where(_CODE.c.code_hash == bindparam("h"))
)
_DROP_IN_BOX = db.DriverStatement.of(
    insert(table(BallotBox)).values(
        id=bindparam("id"),
        round_id=bindparam("round_id"),
        group_id=bindparam("group_id"),
        sealed=bindparam("sealed"),
    )
)
_COUNTED_YET = db.DriverStatement.of(
    select(_COUNTED.c.counted).where(
        _COUNTED.c.round_id == bindparam("round_id"), _COUNTED.c.group_id == bindparam("group_id")
    )
)
# PostgreSQL: a cast holds this lock shared from its claim to its commit, and the count
# (`pingyi.evaluation`) takes it exclusively: the box is read only once every cast that got
# past the claim is in, and a cast that waited for a count sees the group counted and stops.
# (SQLite runs one writing transaction at a time: the claim's own check suffices.)
_BOX_LOCK = db.DriverStatement.of(
    select(func.pg_advisory_xact_lock_shared(bindparam("round_id"), bindparam("group_id")))
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
    cursor: DBAPICursor,
    dialect: Dialect,
    code_hash: str,
    round_id: int | None,
    token_hash: str | None,
) -> tuple[int, int, str] | None:
    """Marks the code used when it can still vote (in `round_id`, when given), keeping the
    device's token hash: its round id, group id and round creation time; None when it cannot,
    or another transaction won."""
    if round_id is None:
        _CLAIM.execute(cursor, dialect, token=token_hash, h=code_hash)
    else:
        _CLAIM_IN_ROUND.execute(cursor, dialect, token=token_hash, h=code_hash, round_id=round_id)
    row = cursor.fetchone()
    return None if row is None else (row[0], row[1], row[2])


def _box_still_open(cursor: DBAPICursor, dialect: Dialect, form: BallotForm) -> bool:
    """After the claim: whether the group's box is still taking ballots (see `_BOX_LOCK`)."""
    if dialect.name != "postgresql":
        return True
    where = {"round_id": form.round_id, "group_id": form.group_id}
    _BOX_LOCK.execute(cursor, dialect, **where)
    _COUNTED_YET.execute(cursor, dialect, **where)
    row = cursor.fetchone()
    return row is None or not row[0]


def _store(cursor: DBAPICursor, dialect: Dialect, form: BallotForm, ballot: _Checked) -> Receipt:
    """Drops the ballot of a claimed code into its group's box, sealed, and counts the cast
    for the participation chart. Nothing of the ballot is readable until the box is opened."""
    sealed = box.seal(form=form, answers=ballot.answers, comments=ballot.comments)
    _DROP_IN_BOX.execute(
        cursor,
        dialect,
        id=new_id(),
        round_id=form.round_id,
        group_id=form.group_id,
        sealed=sealed,
    )
    tally.count_cast(cursor, dialect, round_id=form.round_id, group_id=form.group_id)
    return Receipt(targets=len(form.cards))


class _NeedsSession(Exception):
    """The cast must read through the ORM (a form not cached yet, why a code cannot vote) and
    was given no session: nothing is written, and it is run again with one."""


def _cast(
    cursor: DBAPICursor,
    dialect: Dialect,
    session: Session | None,
    url: URL,
    code: str,
    answers: Mapping[tuple[int, int], int | None],
    comments: Mapping[int, str] | None,
    round_id: int | None,
    receipt: str | None,
) -> Receipt:
    """The one way a ballot is stored, on the cursor of the transaction it is cast in (see
    `submit`); `session`, in that same transaction, for what is read through the ORM.

    The code is claimed first; whatever refuses the ballot after the claim gives the code
    back, so a refused ballot leaves nothing behind even when the caller commits.
    """
    token_hash = receipt_hash(receipt)
    code_hash = codes.hash_code(code)
    claimed = _claim(cursor, dialect, code_hash, round_id, token_hash)
    try:
        if claimed is None:
            if session is None:
                raise _NeedsSession
            return _refused(session, code, code_hash, round_id, token_hash)
        form = _FORMS.get((url, *claimed))
        if form is None:
            if session is None:
                raise _NeedsSession
            form = _form(session, *claimed)
        if not _box_still_open(cursor, dialect, form):
            raise CodeRefused(codes.MSG_CLOSED, codes.CodeState.CLOSED)
        ballot = _checked_ballot(form, answers, comments)
        return _store(cursor, dialect, form, ballot)
    except (BallotError, _NeedsSession):
        if claimed is not None:
            _UNCLAIM.execute(cursor, dialect, h=code_hash)
        raise


def _refused(
    session: Session, code: str, code_hash: str, round_id: int | None, token_hash: str | None
) -> Receipt:
    """After a failed claim: why the code cannot vote, or this device's receipt again.

    Another tap, device or retry may have got there first, or the group was counted meanwhile
    (on PostgreSQL the claim waited for that transaction, whose commit this read sees)."""
    with contextlib.suppress(AlreadyUsed):  # what `_already_in` answers
        _usable(session, code, round_id)
    return _already_in(session, code_hash, token_hash)


def submit(
    *,
    session: Session,
    code: str,
    answers: Mapping[tuple[int, int], int | None],
    comments: Mapping[int, str] | None = None,
    round_id: int | None = None,
    receipt: str | None = None,
) -> Receipt:
    """Store the ballot of a code exactly once, in the caller's transaction.

    `receipt` is the submitting device's token: sent again by the device whose ballot is
    already in, it gets that ballot's receipt (`again`) and nothing is stored. A refused
    ballot leaves nothing behind, even when the caller catches the error and commits.
    """
    conn = session.connection()
    with db.driver_cursor(conn) as cursor:
        return _cast(
            cursor,
            conn.dialect,
            session,
            conn.engine.url,
            code,
            answers,
            comments,
            round_id,
            receipt,
        )


def _already_in(session: Session, code_hash: str, token_hash: str | None) -> Receipt:
    """The receipt again when the code's ballot came from this device; AlreadyUsed otherwise."""
    if token_hash is None or not _cast_by(session, code_hash, token_hash):
        raise AlreadyUsed()
    return Receipt(targets=_targets_of(session, code_hash), again=True)


def _cast_alone(
    engine: Engine,
    code: str,
    answers: Mapping[tuple[int, int], int | None],
    comments: Mapping[int, str] | None,
    round_id: int | None,
    receipt: str | None,
) -> Receipt:
    """`_cast` in a transaction of its own on the driver's cursor (no Session, ~0.1 ms less);
    again in a Session's transaction when it must read through the ORM, which is rare: a form
    is loaded once per server, and a refused code is refused once. (A Session in the first
    transaction would need a SQLAlchemy Connection under every cast: ~35 µs more on SQLite.)"""
    try:
        with db.driver_transaction(engine) as cursor:
            args = (code, answers, comments, round_id, receipt)
            return _cast(cursor, engine.dialect, None, engine.url, *args)
    except _NeedsSession:
        pass  # rolled back: nothing of this attempt is kept
    with db.transaction(engine) as session:
        return submit(
            session=session,
            code=code,
            answers=answers,
            comments=comments,
            round_id=round_id,
            receipt=receipt,
        )


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
    receipt: str | None = None,
    retries: int = 3,
) -> Receipt:
    """`submit` in its own transaction (`_cast_alone`), retried on a deadlock, serialization
    failure or lost connection. A retry after an attempt that did commit gets the receipt
    again (`again`) when it carries the device's token, AlreadyUsed without one."""
    for attempt in range(retries + 1):
        try:
            return _cast_alone(engine, code, answers, comments, round_id, receipt)
        except DBAPIError as exc:
            if attempt == retries or not _transient(exc):
                raise
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
    raise AssertionError("unreachable")
