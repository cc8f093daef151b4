"""自我小结: each member, each branch (written by its secretary) and the 领导班子 (by the 党组书记)
sums up the quarter (成绩, 问题, 原因) and looks back at its 公开承诺."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pingyi.models import (
    Commitment,
    CommitmentStatus,
    ItemStatus,
    Member,
    RectificationItem,
    Round,
    Step,
    Summary,
    Target,
    TargetKind,
)

# 调研督查 runs beside the writing: the leading group visits while summaries are finished.
OPEN_STEPS = (Step.SELF_SUMMARY, Step.INSPECTION)
_LOCK = {"key_share": True}  # SELECT … FOR NO KEY UPDATE


class SummaryError(ValueError):
    """A summary or commitment that cannot be saved; the message is for the writer, in Chinese."""


def limit(model: type[Any], field: str) -> int:
    """The column's length, so the limits follow the model and the page's max_chars agree."""
    return int(model.__table__.c[field].type.length)


SUMMARY_FIELDS = {"achievements": "成绩", "problems": "问题", "causes": "原因"}
COMMITMENT_FIELDS = {"text": "承诺内容", "evidence": "佐证材料"}


def summary_of(*, session: Session, target_id: int) -> Summary | None:
    """The target's summary in its round (draft or submitted), if it has one."""
    return session.exec(select(Summary).where(Summary.target_id == target_id)).first()


def commitments_of(*, session: Session, target_id: int) -> list[Commitment]:
    """The target's 公开承诺 in its round, in the order they were added."""
    query = select(Commitment).where(Commitment.target_id == target_id)
    return list(session.exec(query.order_by(col(Commitment.id))))


def writer_of(*, session: Session, target: Target) -> Member | None:
    """Who writes the target's summary and owns its 整改 items: the member themself, the
    branch's 支部书记, or for the 领导班子 the 党组书记. None when the roster has nobody."""
    if target.kind == TargetKind.MEMBER:
        return session.get(Member, target.member_id) if target.member_id else None
    if target.kind == TargetKind.BRANCH:
        query = select(Member).where(
            Member.branch_id == target.branch_id,
            col(Member.is_branch_secretary),
            col(Member.active),
        )
    else:
        query = select(Member).where(col(Member.is_party_secretary), col(Member.active))
    return session.exec(query.order_by(col(Member.id))).first()


def targets_for(*, session: Session, round_id: int, member_id: int) -> list[Target]:
    """The targets whose summary this member writes, in the order 本人, 党支部, 领导班子."""
    member = session.get(Member, member_id)
    if member is None:
        return []
    candidates = [
        select(Target).where(Target.kind == TargetKind.MEMBER, Target.member_id == member_id)
    ]
    if member.is_branch_secretary and member.branch_id is not None:
        candidates.append(
            select(Target).where(
                Target.kind == TargetKind.BRANCH, Target.branch_id == member.branch_id
            )
        )
    if member.is_party_secretary:
        candidates.append(select(Target).where(Target.kind == TargetKind.TEAM))
    found = [
        target
        for query in candidates
        for target in session.exec(query.where(Target.round_id == round_id))
    ]
    # writer_of decides: of two secretaries of one branch, only the first writes.
    return [t for t in found if _id(writer_of(session=session, target=t)) == member_id]


def _id(member: Member | None) -> int | None:
    return member.id if member is not None else None


def is_open(round_: Round) -> bool:
    """Summaries and commitments may be written in this step."""
    return round_.step in OPEN_STEPS


def _writable_target(
    *, session: Session, target_id: int, member_id: int, round_id: int | None = None
) -> Target:
    """The target, if `member_id` writes it and its round is in 自我小结 or 调研督查.

    The row is locked (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers) so
    two requests for one target, a double tap, run one after the other and the second sees
    the first's summary or commitment. NO KEY UPDATE: ratings' foreign keys are not blocked.
    """
    target = session.get(Target, target_id, with_for_update=_LOCK)
    if target is None or (round_id is not None and target.round_id != round_id):
        raise SummaryError("本轮评议中找不到该评议对象")
    if _id(writer_of(session=session, target=target)) != member_id:
        raise SummaryError(f"「{target.name}」的自我小结不由您填写")
    round_ = session.get(Round, target.round_id)
    if round_ is None or not is_open(round_):
        raise SummaryError("自我小结阶段已结束,不能再修改")
    return target


def _checked(model: type[Any], labels: dict[str, str], values: dict[str, str]) -> dict[str, str]:
    """The values stripped, or the first one that is too long refused."""
    cleaned = {field: value.strip() for field, value in values.items()}
    for field, value in cleaned.items():
        maximum = limit(model, field)
        if len(value) > maximum:
            raise SummaryError(
                f"「{labels[field]}」不能超过 {maximum} 个字(现有 {len(value)} 个字)"
            )
    return cleaned


def _now() -> datetime:
    return datetime.now(UTC)


# ---- the summary


def save_summary(
    *,
    session: Session,
    round_id: int,
    target_id: int,
    member_id: int,
    achievements: str,
    problems: str,
    causes: str,
    submit: bool,
) -> Summary:
    """Save the target's summary as a draft, or submitted (成绩 and 问题 required).

    While the step is open it can be saved again; a draft saved after submitting withdraws
    the submission, so the office's list never counts a summary that is being rewritten.
    """
    _writable_target(session=session, target_id=target_id, member_id=member_id, round_id=round_id)
    texts = _checked(
        Summary,
        SUMMARY_FIELDS,
        {"achievements": achievements, "problems": problems, "causes": causes},
    )
    if submit:
        missing = [SUMMARY_FIELDS[f] for f in ("achievements", "problems") if not texts[f]]
        if missing:
            raise SummaryError(f"提交前请填写「{'」和「'.join(missing)}」")
    summary = summary_of(session=session, target_id=target_id) or _insert_summary(
        session=session, round_id=round_id, target_id=target_id
    )
    for field, value in texts.items():
        setattr(summary, field, value)
    summary.submitted = submit
    summary.updated_at = _now()
    session.add(summary)
    session.flush()
    return summary


def _insert_summary(*, session: Session, round_id: int, target_id: int) -> Summary:
    """A new empty summary row; if another request (a double tap on PostgreSQL) inserted it
    meanwhile, that one, so a second save updates instead of failing."""
    summary = Summary(round_id=round_id, target_id=target_id)
    try:
        with session.begin_nested():
            session.add(summary)
            session.flush()
    except IntegrityError:
        existing = summary_of(session=session, target_id=target_id)
        if existing is None:
            raise
        return existing
    return summary


# ---- 公开承诺


def _commitment_values(text: str, status: CommitmentStatus | str, evidence: str) -> dict[str, Any]:
    values: dict[str, Any] = _checked(
        Commitment, COMMITMENT_FIELDS, {"text": text, "evidence": evidence}
    )
    if not values["text"]:
        raise SummaryError("请填写承诺内容")
    try:
        values["status"] = CommitmentStatus(status)
    except ValueError:
        known = "、".join(s.value for s in CommitmentStatus)
        raise SummaryError(f"兑现情况只能是{known}") from None
    if values["status"] == CommitmentStatus.KEPT and not values["evidence"]:
        raise SummaryError("标为「已兑现」的承诺请填写佐证材料")
    return values


def add_commitment(
    *,
    session: Session,
    round_id: int,
    target_id: int,
    member_id: int,
    text: str,
    status: CommitmentStatus | str = CommitmentStatus.IN_PROGRESS,
    evidence: str = "",
) -> Commitment:
    """A new 公开承诺 of the target; the same text twice is refused (a double tap adds one)."""
    _writable_target(session=session, target_id=target_id, member_id=member_id, round_id=round_id)
    values = _commitment_values(text, status, evidence)
    if any(c.text == values["text"] for c in commitments_of(session=session, target_id=target_id)):
        raise SummaryError("已有相同内容的承诺")
    commitment = Commitment(round_id=round_id, target_id=target_id, **values)
    session.add(commitment)
    session.flush()
    return commitment


def _writable_commitment(*, session: Session, commitment_id: int, member_id: int) -> Commitment:
    commitment = session.get(Commitment, commitment_id)
    if commitment is None:
        raise SummaryError("找不到该承诺,可能已被删除")
    _writable_target(session=session, target_id=commitment.target_id, member_id=member_id)
    return commitment


def update_commitment(
    *,
    session: Session,
    commitment_id: int,
    member_id: int,
    text: str,
    status: CommitmentStatus | str,
    evidence: str,
) -> Commitment:
    """Change a commitment's text, 兑现情况 or evidence (已兑现 needs evidence)."""
    commitment = _writable_commitment(
        session=session, commitment_id=commitment_id, member_id=member_id
    )
    values = _commitment_values(text, status, evidence)
    others = commitments_of(session=session, target_id=commitment.target_id)
    if any(c.id != commitment_id and c.text == values["text"] for c in others):
        raise SummaryError("已有相同内容的承诺")
    for field, value in values.items():
        setattr(commitment, field, value)
    session.add(commitment)
    session.flush()
    return commitment


def delete_commitment(*, session: Session, commitment_id: int, member_id: int) -> None:
    """Delete a commitment; one already gone (a double tap on 删除) is no error."""
    if session.get(Commitment, commitment_id) is None:
        return
    commitment = _writable_commitment(
        session=session, commitment_id=commitment_id, member_id=member_id
    )
    session.delete(commitment)
    session.flush()


# ---- looking back at earlier rounds


def _same_subject(target: Target) -> ColumnElement[bool]:
    """Targets of any round about the same member, the same branch, or the 领导班子."""
    if target.kind == TargetKind.MEMBER:
        return (col(Target.kind) == TargetKind.MEMBER) & (col(Target.member_id) == target.member_id)
    if target.kind == TargetKind.BRANCH:
        return (col(Target.kind) == TargetKind.BRANCH) & (col(Target.branch_id) == target.branch_id)
    return col(Target.kind) == TargetKind.TEAM


def _subject_key(target: Target) -> tuple[str, int | None]:
    if target.kind == TargetKind.MEMBER:
        return (target.kind, target.member_id)
    if target.kind == TargetKind.BRANCH:
        return (target.kind, target.branch_id)
    return (target.kind, None)


def carry_forward(*, session: Session, round_: Round) -> int:
    """Copy into the newly opened round each target's commitments not yet 已兑现, from the
    latest earlier round that had the same subject (status and evidence kept), so the next
    自我小结 looks back at them. Returns how many were copied."""
    new_targets = {
        _subject_key(t): t for t in session.exec(select(Target).where(Target.round_id == round_.id))
    }
    earlier = session.exec(
        select(Target)
        .where(col(Target.round_id) < round_.id)
        .order_by(col(Target.round_id), col(Target.id))
    )
    latest: dict[tuple[str, int | None], Target] = {}
    for target in earlier:  # in round order: the last one seen is the latest
        latest[_subject_key(target)] = target
    sources = {old.id: new_targets[key] for key, old in latest.items() if key in new_targets}
    if not sources:
        return 0
    open_commitments = session.exec(
        select(Commitment)
        .where(
            col(Commitment.target_id).in_(sources),
            Commitment.status != CommitmentStatus.KEPT,
        )
        .order_by(col(Commitment.id))
    )
    copies = [
        Commitment(
            round_id=round_.id,
            target_id=sources[old.target_id].id,
            text=old.text,
            status=old.status,
            evidence=old.evidence,
        )
        for old in open_commitments
    ]
    session.add_all(copies)
    session.flush()
    return len(copies)


def open_items_for(*, session: Session, target_id: int) -> list[RectificationItem]:
    """The 整改 items of earlier rounds about the same subject that are not 已完成, oldest
    first: the 自我小结 looks back at them."""
    target = session.get(Target, target_id)
    if target is None:
        return []
    earlier = select(Target.id).where(_same_subject(target), col(Target.round_id) < target.round_id)
    query = (
        select(RectificationItem)
        .where(
            col(RectificationItem.target_id).in_(earlier),
            RectificationItem.status != ItemStatus.DONE,
        )
        .order_by(col(RectificationItem.round_id), col(RectificationItem.id))
    )
    return list(session.exec(query))


# ---- who has finished


@dataclass(frozen=True)
class SummaryProgress:
    """One line of the office's 自我小结 progress list."""

    target_id: int
    target: str  # the target's name
    kind: TargetKind
    branch: str
    writer_id: int | None
    writer: str  # "" when the roster has nobody to write it
    started: bool  # a draft or a submitted summary exists
    submitted: bool


def progress(*, session: Session, round_id: int) -> list[SummaryProgress]:
    """Per target, in display order: who writes its summary and whether it is submitted.

    Writers are worked out from one read of the roster (the same rule as `writer_of`), so the
    list of a large bureau costs three queries, not one per target.
    """
    targets = list(
        session.exec(
            select(Target).where(Target.round_id == round_id).order_by(col(Target.position))
        )
    )
    writers = _writers(session=session, targets=targets)
    summaries = {
        s.target_id: s for s in session.exec(select(Summary).where(Summary.round_id == round_id))
    }
    lines = []
    for target in targets:
        writer = writers.get(target.id)
        summary = summaries.get(target.id)
        lines.append(
            SummaryProgress(
                target_id=target.id,
                target=target.name,
                kind=TargetKind(target.kind),
                branch=target.branch_name,
                writer_id=_id(writer),
                writer=writer.name if writer else "",
                started=summary is not None,
                submitted=summary is not None and summary.submitted,
            )
        )
    return lines


def _writers(*, session: Session, targets: Sequence[Target]) -> dict[int, Member | None]:
    """`writer_of` for many targets at once."""
    # Keyed `int | None` so a target's unset member or branch finds nobody.
    members: dict[int | None, Member] = {
        m.id: m for m in session.exec(select(Member).order_by(col(Member.id)))
    }
    secretaries: dict[int | None, Member] = {}

    party_secretary: Member | None = None
    for member in members.values():  # by id: the first one wins, as in writer_of
        if not member.active:
            continue
        if member.is_branch_secretary and member.branch_id is not None:
            secretaries.setdefault(member.branch_id, member)
        if member.is_party_secretary and party_secretary is None:
            party_secretary = member
    found: dict[int, Member | None] = {}
    for target in targets:
        if target.kind == TargetKind.MEMBER:
            found[target.id] = members.get(target.member_id)
        elif target.kind == TargetKind.BRANCH:
            found[target.id] = secretaries.get(target.branch_id)
        else:
            found[target.id] = party_secretary
    return found
