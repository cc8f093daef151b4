"""整改落实 (issue 6 item 7): items from submitted reviews, 逾期 computed from the deadline and
never stored, the office's list overdue first, updates by the owner or the office only, and
已完成 only with evidence; the whole path from a review to the office seeing the update."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from test_reviews import TODAY, World, reviewing, submit_review

from pingyi import db, rectification
from pingyi.models import ItemStatus, RectificationItem
from pingyi.rectification import RectificationError

SECRETARY = "王书记"
EARLY, LATE = date(2026, 12, 31), date(2027, 3, 31)


@pytest.fixture
def world(engine: Engine) -> World:
    return reviewing(engine)


def item(
    status: ItemStatus = ItemStatus.NOT_STARTED, deadline: date | None = EARLY
) -> RectificationItem:
    return RectificationItem(round_id=1, target_id=1, text="整改", status=status, deadline=deadline)


@pytest.mark.parametrize(
    ("stored", "deadline", "today", "shown"),
    [
        (ItemStatus.NOT_STARTED, EARLY, date(2026, 12, 31), ItemStatus.NOT_STARTED),  # the last day
        (ItemStatus.NOT_STARTED, EARLY, date(2027, 1, 1), ItemStatus.OVERDUE),
        (ItemStatus.IN_PROGRESS, EARLY, date(2027, 1, 1), ItemStatus.OVERDUE),
        (ItemStatus.DONE, EARLY, date(2027, 1, 1), ItemStatus.DONE),
        (ItemStatus.IN_PROGRESS, None, date(2099, 1, 1), ItemStatus.IN_PROGRESS),
    ],
)
def test_an_unfinished_item_past_its_deadline_is_overdue(
    stored: ItemStatus, deadline: date | None, today: date, shown: ItemStatus
) -> None:
    assert rectification.status(item(stored, deadline), today) == shown


def make_items(engine: Engine, world: World) -> dict[str, int]:
    """钱干事 owns 甲 (LATE) and 乙 (EARLY); 赵科长 owns the 机关党支部's 丙 (EARLY)."""
    submit_review(engine, world, SECRETARY, "钱干事", requirements="甲", deadline=LATE)
    with db.transaction(engine) as s:  # 乙 with its own, earlier deadline
        review_item = s.exec(select(RectificationItem)).one()
        s.add(
            RectificationItem(
                round_id=world.round_id,
                target_id=review_item.target_id,
                review_id=review_item.review_id,
                owner_id=review_item.owner_id,
                text="乙",
                deadline=EARLY,
            )
        )
    submit_review(engine, world, SECRETARY, "机关党支部", requirements="丙", deadline=EARLY)
    with db.session(engine) as s:
        return {i.text: i.id for i in s.exec(select(RectificationItem))}  # type: ignore[misc]


def test_an_owner_sees_only_their_own_items(engine: Engine, world: World) -> None:
    make_items(engine, world)
    with db.session(engine) as s:
        mine = rectification.items_for_owner(
            session=s, member_id=world.members["钱干事"], today=TODAY
        )
        secretary = rectification.items_for_owner(
            session=s, member_id=world.members["赵科长"], round_id=world.round_id, today=TODAY
        )
    assert [(i.text, i.target_name, i.reviewer_name) for i in mine] == [
        ("乙", "钱干事", SECRETARY),
        ("甲", "钱干事", SECRETARY),
    ]
    assert [(i.text, i.target_name, i.owner_name) for i in secretary] == [
        ("丙", "机关党支部", "赵科长")
    ]


def test_the_office_sees_all_items_overdue_first_then_by_deadline(
    engine: Engine, world: World
) -> None:
    ids = make_items(engine, world)
    with db.transaction(engine) as s:
        rectification.update(
            session=s,
            item_id=ids["乙"],
            member_id=None,
            status=ItemStatus.DONE,
            evidence="已完成学习",
        )
    with db.session(engine) as s:
        on_time = rectification.all_items(session=s, round_id=world.round_id, today=TODAY)
        later = rectification.all_items(session=s, today=date(2027, 1, 15))
    assert [i.text for i in on_time] == ["乙", "丙", "甲"]  # by deadline, then id
    # After EARLY: 丙 is overdue and comes first; 乙 was done in time and stays 已完成.
    assert [(i.text, i.status) for i in later] == [
        ("丙", ItemStatus.OVERDUE),
        ("乙", ItemStatus.DONE),
        ("甲", ItemStatus.NOT_STARTED),
    ]
    with db.session(engine) as s:
        stored = set(s.exec(select(RectificationItem.status)))
    assert ItemStatus.OVERDUE not in stored, "逾期 is never stored"


def test_the_owner_updates_their_item(engine: Engine, world: World) -> None:
    ids = make_items(engine, world)
    with db.transaction(engine) as s:
        rectification.update(
            session=s,
            item_id=ids["甲"],
            member_id=world.members["钱干事"],
            status=ItemStatus.IN_PROGRESS,
            evidence="  已报名党校培训  ",
        )
    with db.session(engine) as s:
        stored = s.get(RectificationItem, ids["甲"])
    assert (stored.status, stored.evidence) == (ItemStatus.IN_PROGRESS, "已报名党校培训")  # type: ignore[union-attr]


def test_nobody_else_may_update_an_item(engine: Engine, world: World) -> None:
    ids = make_items(engine, world)
    for someone in ("赵科长", SECRETARY):  # even the reviewer who asked for it
        with (
            pytest.raises(RectificationError, match="只有整改责任人或领导小组办公室"),
            db.transaction(engine) as s,
        ):
            rectification.update(
                session=s,
                item_id=ids["甲"],
                member_id=world.members[someone],
                status=ItemStatus.IN_PROGRESS,
                evidence="",
            )
    with db.session(engine) as s:
        assert s.get(RectificationItem, ids["甲"]).status == ItemStatus.NOT_STARTED  # type: ignore[union-attr]


def test_the_office_may_update_any_item(engine: Engine, world: World) -> None:
    ids = make_items(engine, world)
    with db.transaction(engine) as s:
        rectification.update(
            session=s, item_id=ids["丙"], member_id=None, status=ItemStatus.DONE, evidence="已整改"
        )
    with db.session(engine) as s:
        assert s.get(RectificationItem, ids["丙"]).status == ItemStatus.DONE  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("status", "evidence", "message"),
    [
        (ItemStatus.DONE, "  ", "标记为「已完成」需填写整改情况说明"),
        (ItemStatus.OVERDUE, "", "「逾期」由整改期限自动判定"),
        (ItemStatus.IN_PROGRESS, "证" * 2001, "不能超过 2000 字"),
    ],
)
def test_updates_that_make_no_sense_are_refused(
    engine: Engine, world: World, status: ItemStatus, evidence: str, message: str
) -> None:
    ids = make_items(engine, world)
    with pytest.raises(RectificationError, match=message), db.transaction(engine) as s:
        rectification.update(
            session=s,
            item_id=ids["甲"],
            member_id=world.members["钱干事"],
            status=status,
            evidence=evidence,
        )


def test_an_unknown_item_is_refused(engine: Engine, world: World) -> None:
    with pytest.raises(RectificationError, match="找不到该整改事项"), db.transaction(engine) as s:
        rectification.update(
            session=s, item_id=987654, member_id=None, status=ItemStatus.DONE, evidence="x"
        )


def test_counts_give_every_status_with_overdue_apart(engine: Engine, world: World) -> None:
    ids = make_items(engine, world)
    with db.transaction(engine) as s:
        rectification.update(
            session=s, item_id=ids["甲"], member_id=None, status=ItemStatus.IN_PROGRESS, evidence=""
        )
    with db.session(engine) as s:
        now = rectification.counts(session=s, round_id=world.round_id, today=TODAY)
        later = rectification.counts(session=s, today=date(2027, 1, 15))
        mine = rectification.counts(session=s, owner_id=world.members["赵科长"], today=TODAY)
    assert now == {
        ItemStatus.NOT_STARTED: 2,
        ItemStatus.IN_PROGRESS: 1,
        ItemStatus.DONE: 0,
        ItemStatus.OVERDUE: 0,
    }
    assert later[ItemStatus.OVERDUE] == 2 and later[ItemStatus.IN_PROGRESS] == 1
    assert sum(mine.values()) == 1


def test_from_a_review_to_the_office_seeing_the_owner_s_update(
    engine: Engine, world: World
) -> None:
    """The acceptance path: the 党组书记 reviews a member, the member sees the item and
    finishes it, the office sees it done."""
    submit_review(engine, world, SECRETARY, "钱干事", requirements="每月走访服务对象")
    member = world.members["钱干事"]
    with db.session(engine) as s:
        (mine,) = rectification.items_for_owner(session=s, member_id=member, today=TODAY)
    assert (mine.text, mine.status, mine.reviewer_name) == (
        "每月走访服务对象",
        ItemStatus.NOT_STARTED,
        SECRETARY,
    )
    with db.transaction(engine) as s:
        rectification.update(
            session=s,
            item_id=mine.id,
            member_id=member,
            status=ItemStatus.DONE,
            evidence="十一月走访 12 户,记录见台账",
        )
    with db.session(engine) as s:
        (seen,) = rectification.all_items(session=s, today=TODAY)
    assert (seen.status, seen.evidence, seen.owner_name) == (
        ItemStatus.DONE,
        "十一月走访 12 户,记录见台账",
        "钱干事",
    )
