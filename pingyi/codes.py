"""测评码: one-time, random codes for 群众评议, one round and one evaluator group each.

Only a keyed hash (HMAC-SHA256 with `settings().secret_key`) is stored: a database dump alone
cannot be turned into votes. The plain code exists only in what `issue` returns, for the slips.
Nothing here links a code to a ballot; counts are per group, never per code.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, case, func, update
from sqlmodel import Session, col, select

from pingyi import audit
from pingyi.audit import Action
from pingyi.config import settings
from pingyi.models import EvaluationCode, EvaluatorGroup, GroupEvaluation, Round, Step, table

# Upper-case letters and digits without look-alikes: 0/O, 1/I/L, and U/V (close in small
# print and when read aloud). 29 symbols, 8 places: 29**8 ≈ 5·10^11 codes, about 39 bits.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
CODE_LENGTH = 8
EXCLUDED = "01OILUV"
MAX_PER_ISSUE = 5000

# Separators people type or an input method inserts: spaces, hyphens, dashes, dots.
_SEPARATORS = re.compile(r"[\s\-_‐‑‒–—―−·.]+")
_IN_CLAUSE = 500  # hashes per IN (...): well below SQLite's and psycopg's parameter limits

MSG_UNKNOWN = "测评码无效,请核对后重新输入"
MSG_REVOKED = "此测评码已作废"
MSG_USED = "此测评码已使用"
MSG_WRONG_ROUND = "此测评码不属于本轮评议"
MSG_CLOSED = "本群体的群众评议已结束(已开箱计票),此测评码不能再使用"
MSG_OK = "测评码有效"
MSG_PAUSED = "短时间内输错测评码的次数过多,全部设备暂停输入测评码"

# Across every browser session of this process: more than GLOBAL_LIMIT wrong codes within
# GLOBAL_WINDOW seconds pause code entry for everyone for GLOBAL_PAUSE seconds. A meeting of a
# few hundred evaluators mistypes far fewer; someone spreading guesses over many sessions (each
# under the per-session lockout) does not. Per process: each replica keeps its own count.
GLOBAL_LIMIT = 200
GLOBAL_WINDOW = 60.0
GLOBAL_PAUSE = 60.0


class CodeError(ValueError):
    """A request about codes that cannot be done; the message is for the office, in Chinese."""


class CodeState(StrEnum):
    UNKNOWN = "unknown"  # not a code we issued (or not even shaped like one)
    REVOKED = "revoked"
    USED = "used"
    WRONG_ROUND = "wrong_round"
    CLOSED = "closed"  # its group's evaluation is closed and the box counted
    OK = "ok"


@dataclass(frozen=True)
class CodeStatus:
    """What a typed code is; `message` is what the evaluator sees."""

    state: CodeState
    message: str
    code_hash: str | None = None  # None when the code is malformed or unknown
    round_id: int | None = None
    group_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.state is CodeState.OK


@dataclass(frozen=True)
class GroupCodeCounts:
    """Codes of one evaluator group in one round: numbers only, never which code is whose."""

    group_id: int
    group_name: str
    headcount: int
    issued: int  # every code printed, revoked ones included
    opened: int  # ballot page opened with the code at least once
    submitted: int  # ballot stored
    revoked: int

    @property
    def unused(self) -> int:
        """Codes that can still vote."""
        return self.issued - self.submitted - self.revoked


class GuessLimit:
    """Wrong codes of all sessions of the process, and the pause they trigger.

    Shared by every session's script thread, hence the lock. `clock` is injectable so tests
    move time instead of sleeping; it must not go backwards (time.monotonic by default).
    """

    def __init__(
        self,
        *,
        limit: int = GLOBAL_LIMIT,
        window: float = GLOBAL_WINDOW,
        pause: float = GLOBAL_PAUSE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.pause = limit, window, pause
        self._clock = clock
        self._lock = threading.Lock()
        self._wrong: deque[float] = deque()  # times of the recent wrong codes, at most limit
        self._paused_until = 0.0

    def paused_seconds(self) -> float:
        """Seconds until code entry opens again for everyone; 0 when it is open."""
        with self._lock:
            return max(0.0, self._paused_until - self._clock())

    def wrong(self) -> bool:
        """Count one wrong code; True for exactly the one that starts a pause."""
        with self._lock:
            now = self._clock()
            if now < self._paused_until:
                return False  # entry is closed; nothing typed now is a new guess
            while self._wrong and self._wrong[0] <= now - self.window:
                self._wrong.popleft()
            self._wrong.append(now)
            if len(self._wrong) <= self.limit:
                return False
            self._wrong.clear()  # after the pause the count starts again from nothing
            self._paused_until = now + self.pause
            return True


# The process's one counter: every session of the ballot page reports its wrong codes here.
GUESSES = GuessLimit()


def generate() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize(typed: str) -> str:
    """The code as stored, from what a person typed: "abcd-efgh", "ＡＢＣＤ ＥＦＧＨ" → "ABCDEFGH".

    Look-alikes (0 O 1 I L U V) are kept, not guessed: no code contains any of them, so there
    is nothing sensible to map them to; `format_problem` names the mistake instead.
    """
    # NFKC folds full-width letters and digits from Chinese input methods to ASCII.
    folded = unicodedata.normalize("NFKC", typed)
    return _SEPARATORS.sub("", folded).upper()


def format_problem(code: str) -> str | None:
    """Why `code` (normalized) cannot be a 测评码, in Chinese; None when it is well formed."""
    if not code:
        return "请输入测评码"
    if any(ch in EXCLUDED for ch in code):
        return "测评码不含数字 0、1 和字母 O、I、L、U、V,请核对后重新输入"
    if any(ch not in ALPHABET for ch in code):
        return "测评码只由字母和数字组成,请核对后重新输入"
    if len(code) != CODE_LENGTH:
        return f"测评码为 {CODE_LENGTH} 位,请核对后重新输入"
    return None


def hash_code(code: str, key: bytes | None = None) -> str:
    """HMAC-SHA256 hex of the normalized code; the key defaults to `settings().secret_key`."""
    secret = settings().secret_key if key is None else key
    return hmac.new(secret, normalize(code).encode(), hashlib.sha256).hexdigest()


def issue(*, session: Session, round_id: int, group_id: int, count: int, actor: str) -> list[str]:
    """`count` new codes for the group in the round; only their hashes are stored.

    The plain codes come back sorted, while rows go in in the random order they were drawn,
    so the printed order of slips says nothing about row ids.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PER_ISSUE:
        raise CodeError(f"每次发放的测评码数量应在 1 到 {MAX_PER_ISSUE} 之间")
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise CodeError("找不到该评议轮次")
    if round_.step == Step.CLOSED:
        raise CodeError(f"「{round_.name}」已结束,不能再发放测评码")
    group = session.get(EvaluatorGroup, group_id)
    if group is None:
        raise CodeError("找不到该评议群体")
    if is_counted(session=session, round_id=round_id, group_id=group_id):
        raise CodeError("该群体本轮的群众评议已结束(已开箱计票),不能再发放测评码")

    key = settings().secret_key
    fresh: dict[str, str] = {}  # hash → code
    while len(fresh) < count:
        drawn: dict[str, str] = {}
        while len(fresh) + len(drawn) < count:
            code = generate()
            digest = hash_code(code, key)
            if digest not in fresh:
                drawn[digest] = code
        # Unique across all rounds: drop any hash already stored and draw again. The unique
        # constraint on code_hash backs this up against a concurrent issue.
        for taken in _existing(session=session, hashes=list(drawn)):
            del drawn[taken]
        fresh.update(drawn)

    session.exec(
        table(EvaluationCode).insert(),
        params=[{"round_id": round_id, "group_id": group_id, "code_hash": h} for h in fresh],
    )
    session.flush()
    detail = f"「{round_.name}」{group.name} {count} 个"
    audit.record(session=session, actor=actor, action=Action.ISSUE_CODES, detail=detail)
    return sorted(fresh.values())


def _existing(*, session: Session, hashes: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(hashes), _IN_CLAUSE):
        chunk = hashes[start : start + _IN_CLAUSE]
        found.update(
            session.exec(
                select(EvaluationCode.code_hash).where(col(EvaluationCode.code_hash).in_(chunk))
            )
        )
    return found


def revoke(*, session: Session, code: str, actor: str) -> None:
    """Make a code unusable (lost or misprinted slip). Answers typed with it stay on the device
    that has them, and can no longer be submitted.

    One conditional UPDATE, so a revoke racing a submit cannot both win. Revoking twice is
    harmless.
    """
    digest = hash_code(code)
    result = session.exec(
        update(EvaluationCode)
        .where(col(EvaluationCode.code_hash) == digest, col(EvaluationCode.used).is_(False))
        .values(revoked=True)
    )
    if result.rowcount != 1:
        row = session.exec(select(EvaluationCode).where(EvaluationCode.code_hash == digest)).first()
        if row is None:
            raise CodeError(MSG_UNKNOWN)
        raise CodeError("此测评码已使用,不能作废")
    session.flush()
    revoked = session.exec(select(EvaluationCode).where(EvaluationCode.code_hash == digest)).one()
    round_ = session.get(Round, revoked.round_id)
    # The round and not the code: plain codes are kept nowhere, the log included.
    detail = round_.name if round_ is not None else ""
    audit.record(session=session, actor=actor, action=Action.REVOKE_CODE, detail=detail)


def lookup(*, session: Session, code: str, round_id: int | None = None) -> CodeStatus:
    """What a typed code is. OK exactly when the submit's `used=false AND revoked=false`
    would hold (and, given `round_id`, the code belongs to that round)."""
    normalized = normalize(code)
    problem = format_problem(normalized)
    if problem is not None:
        return CodeStatus(CodeState.UNKNOWN, problem)
    digest = hash_code(normalized)
    row = session.exec(select(EvaluationCode).where(EvaluationCode.code_hash == digest)).first()
    if row is None:
        return CodeStatus(CodeState.UNKNOWN, MSG_UNKNOWN)
    known: dict[str, Any] = {
        "code_hash": digest,
        "round_id": row.round_id,
        "group_id": row.group_id,
    }

    # Another round first: last quarter's used slip is best answered with "not this round".
    if round_id is not None and row.round_id != round_id:
        return CodeStatus(CodeState.WRONG_ROUND, MSG_WRONG_ROUND, **known)
    if row.revoked:
        return CodeStatus(CodeState.REVOKED, MSG_REVOKED, **known)
    if row.used:
        return CodeStatus(CodeState.USED, MSG_USED, **known)
    if is_counted(session=session, round_id=row.round_id, group_id=row.group_id):
        return CodeStatus(CodeState.CLOSED, MSG_CLOSED, **known)
    return CodeStatus(CodeState.OK, MSG_OK, **known)


def is_counted(*, session: Session, round_id: int, group_id: int) -> bool:
    """Whether the group's evaluation in the round is closed and its box counted."""
    row = session.get(GroupEvaluation, (round_id, group_id))
    return bool(row and row.counted)


def mark_opened(*, session: Session, code_hash: str) -> None:
    """Note that the ballot page was opened with this code (for the 已打开 count)."""
    session.exec(
        update(EvaluationCode)
        .where(col(EvaluationCode.code_hash) == code_hash, col(EvaluationCode.opened).is_(False))
        .values(opened=True)
    )
    session.flush()


def _flagged(flag: Any) -> ColumnElement[int]:
    """How many rows have the boolean column set; 0, not NULL, for a group with no codes."""
    return func.coalesce(func.sum(case((flag, 1), else_=0)), 0)


def counts(*, session: Session, round_id: int) -> list[GroupCodeCounts]:
    """Issued / opened / submitted / revoked per evaluator group of the round, every group."""
    statement = (
        # sqlmodel's `select` is typed for at most four columns; seven are correct at runtime.
        select(  # type: ignore[call-overload]
            col(EvaluatorGroup.id),
            col(EvaluatorGroup.name),
            col(EvaluatorGroup.headcount),
            func.count(col(EvaluationCode.id)),
            _flagged(EvaluationCode.opened),
            _flagged(EvaluationCode.used),
            _flagged(EvaluationCode.revoked),
        )
        .select_from(EvaluatorGroup)
        .outerjoin(
            EvaluationCode,
            (col(EvaluationCode.group_id) == EvaluatorGroup.id)
            & (col(EvaluationCode.round_id) == round_id),
        )
        .group_by(EvaluatorGroup.id, EvaluatorGroup.name, EvaluatorGroup.headcount)
        .order_by(EvaluatorGroup.id)
    )
    return [
        GroupCodeCounts(
            group_id=int(group_id),
            group_name=name,
            headcount=int(headcount),
            issued=int(issued),
            opened=int(opened),
            submitted=int(submitted),
            revoked=int(revoked),
        )
        for group_id, name, headcount, issued, opened, submitted, revoked in session.exec(statement)
    ]
