"""A member's own to-do list for the home page: what the current step asks of them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from pingyi import rectification, reviews, summaries
from pingyi.models import ItemStatus, Round, Step
from pingyi.reviews import ReviewState


@dataclass(frozen=True)
class Todo:
    text: str
    page: str  # where it is done


def of_member(*, session: Session, round_: Round, member_id: int) -> list[Todo]:
    found: list[Todo] = []
    round_id: int = round_.id
    if summaries.is_open(round_):
        for target in summaries.targets_for(
            session=session, round_id=round_id, member_id=member_id
        ):
            summary = summaries.summary_of(session=session, target_id=target.id)
            if summary is None or not summary.submitted:
                found.append(Todo(f"提交「{target.name}」的自我小结", "pages/summary.py"))
    if round_.step == Step.REVIEW:
        work = reviews.worklist(session=session, round_id=round_id, reviewer_id=member_id)
        left = sum(1 for item in work if item.state != ReviewState.SUBMITTED)
        if left:
            found.append(Todo(f"还有 {left} 项领导点评未提交", "pages/review.py"))
    items = rectification.items_for_owner(session=session, member_id=member_id)
    unfinished = [i for i in items if i.status != ItemStatus.DONE]
    if unfinished:
        overdue = sum(1 for i in unfinished if i.overdue)
        late = f",其中逾期 {overdue} 项" if overdue else ""
        found.append(Todo(f"{len(unfinished)} 项整改事项未完成{late}", "pages/rectification.py"))
    return found
