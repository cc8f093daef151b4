"""自我小结: each member, each branch (written by its secretary) and the 领导班子 (by the 党组书记)
sums up the quarter (成绩, 问题, 原因) and looks back at its 公开承诺."""

from __future__ import annotations

from sqlmodel import Session, col, select

from pingyi.models import Commitment, Summary


def summary_of(*, session: Session, target_id: int) -> Summary | None:
    """The target's summary in its round (draft or submitted), if it has one."""
    return session.exec(select(Summary).where(Summary.target_id == target_id)).first()


def commitments_of(*, session: Session, target_id: int) -> list[Commitment]:
    """The target's 公开承诺 in its round, in the order they were added."""
    query = select(Commitment).where(Commitment.target_id == target_id)
    return list(session.exec(query.order_by(col(Commitment.id))))
