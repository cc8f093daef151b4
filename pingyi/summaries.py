"""自我小结: each member, each branch (written by its secretary) and the 领导班子 (by the 党组书记)
sums up the quarter (成绩, 问题, 原因) and looks back at its 公开承诺."""

from __future__ import annotations

from sqlmodel import Session, col, select

from pingyi.models import Commitment, Member, Summary, Target, TargetKind


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
