"""通报情况: the sheet read out at the meeting for one branch (or the 领导班子): its own
自我小结 and 公开承诺, its members' summaries and commitments, the 调研督查 findings, and the
整改 items still open from earlier rounds. `briefing_html` prints it on A4."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from pingyi import inspections, rectification, summaries, templating
from pingyi.models import (
    Commitment,
    CommitmentStatus,
    Inspection,
    Member,
    RectificationItem,
    Round,
    Summary,
    Target,
    TargetKind,
)


class BriefingError(ValueError):
    """No briefing for what was asked; the message is in Chinese."""


@dataclass(frozen=True)
class Part:
    """One target's 自我小结 as the briefing shows it."""

    target_id: int
    name: str
    writer: str  # who writes it; "" when nobody does
    summary: Summary | None
    commitments: tuple[Commitment, ...]
    open_items: tuple[RectificationItem, ...]  # from earlier rounds, not 已完成

    @property
    def submitted(self) -> bool:
        return self.summary is not None and self.summary.submitted

    @property
    def state(self) -> str:
        if self.summary is None:
            return "未填写"
        return "已提交" if self.summary.submitted else "草稿(未提交)"


@dataclass(frozen=True)
class Briefing:
    round_name: str
    kind: TargetKind  # BRANCH or TEAM
    own: Part  # the branch's (or the 领导班子's) own summary
    members: tuple[Part, ...]
    inspections: tuple[Inspection, ...]  # none for the 领导班子
    made_on: date

    @property
    def title(self) -> str:
        return f"{self.own.name}情况通报"

    @property
    def members_label(self) -> str:
        return "班子成员" if self.kind == TargetKind.TEAM else "党员"

    def submitted_count(self) -> int:
        return sum(part.submitted for part in self.members)

    def commitment_counts(self) -> dict[CommitmentStatus, int]:
        """Commitments of the branch and its members, by status, in the scale's order."""
        counts = Counter(
            CommitmentStatus(c.status)
            for part in (self.own, *self.members)
            for c in part.commitments
        )
        return {status: counts[status] for status in CommitmentStatus}


def _part(session: Session, target: Target) -> Part:
    writer = summaries.writer_of(session=session, target=target)
    target_id: int = target.id
    return Part(
        target_id=target_id,
        name=target.name,
        writer=writer.name if writer else "",
        summary=summaries.summary_of(session=session, target_id=target_id),
        commitments=tuple(summaries.commitments_of(session=session, target_id=target_id)),
        open_items=tuple(summaries.open_items_for(session=session, target_id=target_id)),
    )


def _round_target(session: Session, round_id: int, target_id: int) -> tuple[Round, Target]:
    round_ = session.get(Round, round_id)
    target = session.get(Target, target_id)
    if round_ is None or target is None or target.round_id != round_id:
        raise BriefingError("本轮评议中找不到该评议对象")
    return round_, target


def _member_targets(session: Session, round_id: int) -> Iterable[tuple[Target, Member]]:
    query = (
        select(Target, Member)
        .join(Member, col(Member.id) == col(Target.member_id))
        .where(Target.round_id == round_id, Target.kind == TargetKind.MEMBER)
        .order_by(col(Target.position))
    )
    return session.exec(query)


def _briefing(
    session: Session, round_: Round, target: Target, members: Sequence[Target], today: date | None
) -> Briefing:
    return Briefing(
        round_name=round_.name,
        kind=TargetKind(target.kind),
        own=_part(session, target),
        members=tuple(_part(session, member) for member in members),
        inspections=tuple(inspections.for_branch(session=session, target_id=target.id))
        if target.kind == TargetKind.BRANCH
        else (),
        made_on=today or date.today(),
    )


def branch_briefing(
    *, session: Session, round_id: int, target_id: int, today: date | None = None
) -> Briefing:
    """The briefing of a branch of the round; its members are the round's member targets
    in that branch (as the roster stood when the round opened)."""
    round_, target = _round_target(session, round_id, target_id)
    if target.kind != TargetKind.BRANCH:
        raise BriefingError(f"「{target.name}」不是党支部")
    members = [
        t
        for t, _ in _member_targets(session, round_id)
        if t.branch_id is not None and t.branch_id == target.branch_id
    ]
    return _briefing(session, round_, target, members, today)


def team_briefing(*, session: Session, round_id: int, today: date | None = None) -> Briefing:
    """The 领导班子's briefing: its own summary and those of the 党组书记 and 班子成员."""
    round_ = session.get(Round, round_id)
    team = session.exec(
        select(Target).where(Target.round_id == round_id, Target.kind == TargetKind.TEAM)
    ).first()
    if round_ is None or team is None:
        raise BriefingError("本轮评议没有领导班子这一评议对象")
    members = [
        t
        for t, member in _member_targets(session, round_id)
        if member.is_party_secretary or member.is_leadership
    ]
    return _briefing(session, round_, team, members, today)


def briefing_for(
    *, session: Session, round_id: int, target_id: int, today: date | None = None
) -> Briefing:
    """A branch's or the 领导班子's briefing, whichever the target is."""
    _, target = _round_target(session, round_id, target_id)
    if target.kind == TargetKind.TEAM:
        return team_briefing(session=session, round_id=round_id, today=today)
    return branch_briefing(session=session, round_id=round_id, target_id=target_id, today=today)


# ---- the printed sheet: pingyi/templates/briefing.html.j2

CHINESE_NUMBERS = "一二三四五六七八九十"


def overview(briefing: Briefing) -> str:
    """One line of counts for the top of the sheet (and the page)."""
    counts = "、".join(f"{status} {n} 项" for status, n in briefing.commitment_counts().items())
    return (
        f"{briefing.members_label} {len(briefing.members)} 人,"
        f"已提交自我小结 {briefing.submitted_count()} 人;公开承诺:{counts}。"
    )


def briefing_html(briefing: Briefing) -> str:
    """A self-contained A4 page to print for the meeting."""
    own = "支部" if briefing.kind == TargetKind.BRANCH else "班子"
    sections = [(f"{own}自我小结", "summary"), (f"{own}公开承诺兑现情况", "commitments")]
    if briefing.kind == TargetKind.BRANCH:
        sections.append(("调研督查情况", "inspections"))
    sections.append(("往期未完成的整改事项", "items"))
    sections.append((f"{briefing.members_label}自我小结及承诺兑现情况", "members"))
    return templating.render(
        "briefing.html.j2",
        briefing=briefing,
        today=briefing.made_on,
        overview=overview(briefing),
        sections=sections,
        numbers=CHINESE_NUMBERS,
        summary_fields=summaries.SUMMARY_FIELDS,
        status=rectification.status,
    )
