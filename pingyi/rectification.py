"""整改落实: the 整改 items made from submitted reviews, followed up by their owners and the office.

An item's stored status is 未开始, 进行中 or 已完成; 逾期 is never stored but computed: an item
that is not done and whose deadline has passed. Only the item's owner or the office may update
it, and 已完成 needs evidence of what was done.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlmodel import Session, col, select

from pingyi.models import ItemStatus, Member, RectificationItem, Review, Round, Target

EVIDENCE_MAX = 2000  # the column's size
SETTABLE = (ItemStatus.NOT_STARTED, ItemStatus.IN_PROGRESS, ItemStatus.DONE)


class RectificationError(ValueError):
    """An update that cannot be made; the message is in Chinese."""


@dataclass(frozen=True)
class ItemView:
    """A 整改 item as the pages show it, with its computed status."""

    id: int
    round_id: int
    round_name: str
    target_id: int
    target_name: str
    branch_name: str
    owner_id: int | None
    owner_name: str
    reviewer_name: str  # who asked for it; "" when its review is gone
    text: str
    deadline: date | None
    status: ItemStatus  # 逾期 included
    stored: ItemStatus  # as stored: 未开始, 进行中 or 已完成
    evidence: str
    updated_at: datetime

    @property
    def overdue(self) -> bool:
        return self.status == ItemStatus.OVERDUE


def status(item: RectificationItem, today: date) -> ItemStatus:
    """The item's status as people see it: 逾期 when it is not done and its deadline passed."""
    stored = ItemStatus(item.status)
    if stored != ItemStatus.DONE and item.deadline is not None and item.deadline < today:
        return ItemStatus.OVERDUE
    return stored


def _sort_key(view: ItemView) -> tuple[bool, bool, date, int]:
    """Overdue first, then by deadline (none last), then in the order they were made."""
    return (not view.overdue, view.deadline is None, view.deadline or date.max, view.id)


def _views(
    session: Session,
    *,
    today: date | None,
    round_id: int | None = None,
    owner_id: int | None = None,
) -> list[ItemView]:
    today = today or date.today()
    query = (
        select(RectificationItem, Target, Round)
        .join(Target, col(Target.id) == RectificationItem.target_id)
        .join(Round, col(Round.id) == RectificationItem.round_id)
    )
    if round_id is not None:
        query = query.where(RectificationItem.round_id == round_id)
    if owner_id is not None:
        query = query.where(RectificationItem.owner_id == owner_id)
    rows = list(session.exec(query))
    reviewers: dict[int | None, str] = dict(
        session.exec(
            select(Review.id, Member.name)
            .join(Member, col(Member.id) == Review.reviewer_id)
            .where(col(Review.id).in_({item.review_id for item, _, _ in rows if item.review_id}))
        ).all()
    )
    owner_ids = {item.owner_id for item, _, _ in rows if item.owner_id}
    owners: dict[int | None, str] = dict(
        session.exec(select(Member.id, Member.name).where(col(Member.id).in_(owner_ids))).all()
    )
    views = [
        ItemView(
            id=item.id,
            round_id=round_.id,
            round_name=round_.name,
            target_id=target.id,
            target_name=target.name,
            branch_name=target.branch_name,
            owner_id=item.owner_id,
            owner_name=owners.get(item.owner_id, ""),
            reviewer_name=reviewers.get(item.review_id, ""),
            text=item.text,
            deadline=item.deadline,
            status=status(item, today),
            stored=ItemStatus(item.status),
            evidence=item.evidence,
            updated_at=item.updated_at,
        )
        for item, target, round_ in rows
    ]
    return sorted(views, key=_sort_key)


def items_for_owner(
    *, session: Session, member_id: int, round_id: int | None = None, today: date | None = None
) -> list[ItemView]:
    """The items this member must act on (every round, or one), overdue first."""
    return _views(session, today=today, round_id=round_id, owner_id=member_id)


def all_items(
    *, session: Session, round_id: int | None = None, today: date | None = None
) -> list[ItemView]:
    """Every item (of every round, or one), overdue first, then by deadline."""
    return _views(session, today=today, round_id=round_id)


def update(
    *,
    session: Session,
    item_id: int,
    member_id: int | None,
    status: ItemStatus,
    evidence: str,
) -> RectificationItem:
    """Set an item's status and evidence. `member_id` is the owner acting; None is the office
    (the page passes None only for a 管理员)."""
    item = session.exec(
        select(RectificationItem).where(RectificationItem.id == item_id).with_for_update()
    ).first()
    if item is None:
        raise RectificationError("找不到该整改事项")
    if member_id is not None and item.owner_id != member_id:
        raise RectificationError("只有整改责任人或领导小组办公室可以更新该整改事项")
    wanted = ItemStatus(status)
    if wanted not in SETTABLE:
        raise RectificationError("「逾期」由整改期限自动判定,不能手动设置")
    evidence = (evidence or "").strip()
    if len(evidence) > EVIDENCE_MAX:
        raise RectificationError(f"整改情况说明不能超过 {EVIDENCE_MAX} 字(现为 {len(evidence)} 字)")
    if wanted == ItemStatus.DONE and not evidence:
        raise RectificationError("标记为「已完成」需填写整改情况说明(做了什么、有何佐证)")
    item.status = wanted
    item.evidence = evidence
    item.updated_at = datetime.now(UTC)
    session.add(item)
    session.flush()
    return item


def counts(
    *,
    session: Session,
    round_id: int | None = None,
    owner_id: int | None = None,
    today: date | None = None,
) -> dict[ItemStatus, int]:
    """Items per status (逾期 counted apart from 未开始 and 进行中), every status listed."""
    today = today or date.today()
    query = select(RectificationItem)
    if round_id is not None:
        query = query.where(RectificationItem.round_id == round_id)
    if owner_id is not None:
        query = query.where(RectificationItem.owner_id == owner_id)
    counted = Counter(status(item, today) for item in session.exec(query))
    return {each: counted.get(each, 0) for each in ItemStatus}
