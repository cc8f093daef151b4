"""整改落实 in AppTest: the member who was reviewed updates their own 整改 items; the office
sees every item, overdue first, filters them and may update any; a person with neither role
is refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from apptools import (
    button,
    current_round_id,
    member_accounts,
    no_exception,
    party_secretary,
    set_step,
    text_area,
)
from sqlmodel import col, select
from streamlit.testing.v1 import AppTest

from pingyi import db, reviews
from pingyi.models import ItemStatus, Member, RectificationItem, Step, Target
from pingyi.ui.auth import MSG_NO_ACCESS

PAGE = "pages/rectification.py"


@dataclass(frozen=True)
class Reviewed:
    member: Member  # an organ member the 党组书记 reviewed
    other: Member  # a second one, also reviewed, owning 丙
    items: dict[str, int]  # item text → id


def review(target_id: int, requirements: str) -> Member:
    """The 党组书记's submitted review of the target; returns the reviewed member."""
    secretary = party_secretary()
    round_id = current_round_id()
    with db.transaction() as s:
        shown = reviews.form(session=s, round_id=round_id, target_id=target_id)
        reviews.save(
            session=s,
            round_id=round_id,
            reviewer_id=secretary.id,  # type: ignore[arg-type]
            target_id=target_id,
            scores={c.id: shown.levels[0].id for c in shown.criteria},
            achievements="工作认真",
            direction="继续努力",
            requirements=requirements,
            submit=True,
        )
        member = s.get(Member, s.get(Target, target_id).member_id)  # type: ignore[union-attr]
        assert member is not None
        return member


@pytest.fixture
def reviewed(demo_db: Path) -> Reviewed:
    member_accounts()
    set_step(Step.REVIEW)
    with db.session() as s:
        work = reviews.worklist(
            session=s,
            round_id=current_round_id(),
            reviewer_id=party_secretary().id,  # type: ignore[arg-type]
        )
    plain = [w.target_id for w in work if w.category == "普通党员"]
    member = review(plain[0], "甲:加强理论学习\n乙:每月走访服务对象")
    other = review(plain[1], "丙:按时参加组织生活")
    with db.transaction() as s:  # 丙 is past its deadline
        late = s.exec(
            select(RectificationItem).where(RectificationItem.text.startswith("丙"))
        ).one()  # type: ignore[attr-defined]
        late.deadline = date.today() - timedelta(days=1)
        s.add(late)
        items = {i.text[0]: i.id for i in s.exec(select(RectificationItem))}
    return Reviewed(member, other, items)  # type: ignore[arg-type]


def everything(at: AppTest) -> str:
    """The page's text: markdown, tables and the options of its selectboxes."""
    parts = [m.value for m in at.markdown]
    parts += [" ".join(map(str, d.value.to_numpy().ravel())) for d in at.dataframe]
    parts += [" ".join(s.options) for s in at.selectbox]
    return "\n".join(parts)


def table(at: AppTest) -> Any:
    return at.main.dataframe[0].value


def choose(at: AppTest, item_id: int) -> AppTest:
    return no_exception(at.selectbox(key="rect_item").set_value(item_id).run())


def stored(item_id: int) -> RectificationItem:
    with db.session() as s:
        item = s.get(RectificationItem, item_id)
        assert item is not None
        return item


def test_the_owner_sees_and_updates_their_items(reviewed: Reviewed, open_page):
    at = open_page(PAGE, as_=reviewed.member.roster_id)
    assert at.title[0].value == "整改落实"
    assert sorted(table(at)["整改事项"]) == ["乙:每月走访服务对象", "甲:加强理论学习"]

    at = choose(at, reviewed.items["甲"])
    at.radio(key=f"rect_status_{reviewed.items['甲']}").set_value(ItemStatus.DONE)
    at.text_area(key=f"rect_evidence_{reviewed.items['甲']}").input("参加党校培训 3 次")
    at = no_exception(button(at, "保存").click().run())
    assert at.success[0].value.startswith("已更新整改事项")
    item = stored(reviewed.items["甲"])
    assert (item.status, item.evidence) == (ItemStatus.DONE, "参加党校培训 3 次")
    assert "已完成" in list(table(at)["状态"])


def test_done_without_evidence_is_refused_in_chinese(reviewed: Reviewed, open_page):
    at = choose(open_page(PAGE, as_=reviewed.member.roster_id), reviewed.items["乙"])
    at.radio(key=f"rect_status_{reviewed.items['乙']}").set_value(ItemStatus.DONE)
    at = no_exception(button(at, "保存").click().run())
    assert [e.value for e in at.error] == ["标记为「已完成」需填写整改情况说明(做了什么、有何佐证)"]
    assert stored(reviewed.items["乙"]).status == ItemStatus.NOT_STARTED


def test_the_office_sees_every_item_overdue_first(reviewed: Reviewed, open_page):
    at = open_page(PAGE)
    frame = table(at)
    assert len(frame) == 3
    assert frame["状态"].iloc[0] == "逾期"
    assert frame["整改事项"].iloc[0].startswith("丙")
    assert frame["责任人"].iloc[0] == reviewed.other.name
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["逾期"] == "1" and metrics["未开始"] == "2"

    at.multiselect(key="rect_statuses").set_value([ItemStatus.OVERDUE]).run()
    assert list(table(at)["整改事项"]) == ["丙:按时参加组织生活"]
    at.multiselect(key="rect_statuses").set_value([]).run()
    at.text_input(key="rect_query").input("走访").run()
    assert list(table(at)["整改事项"]) == ["乙:每月走访服务对象"]


def test_the_office_may_update_any_item(reviewed: Reviewed, open_page):
    at = choose(open_page(PAGE), reviewed.items["丙"])
    assert any("已超过整改期限" in w.value for w in at.warning)
    at.radio(key=f"rect_status_{reviewed.items['丙']}").set_value(ItemStatus.IN_PROGRESS)
    text_area(at, "整改情况说明").input("已约谈")
    at = no_exception(button(at, "保存").click().run())
    assert stored(reviewed.items["丙"]).status == ItemStatus.IN_PROGRESS
    assert not at.error


def test_a_member_never_sees_another_member_s_items(reviewed: Reviewed, open_page):
    at = open_page(PAGE, as_=reviewed.other.roster_id)
    assert list(table(at)["整改事项"]) == ["丙:按时参加组织生活"]
    assert len(at.selectbox(key="rect_item").options) == 1
    assert "甲" not in everything(at) and "乙" not in everything(at)


def test_someone_without_either_role_is_refused(reviewed: Reviewed, open_page):
    with db.transaction() as s:  # a member who left: the account stays, without roles
        member = s.exec(select(Member).where(col(Member.id) == reviewed.member.id)).one()
        member.active = False
        s.add(member)
    at = open_page(PAGE, as_=reviewed.member.roster_id)
    assert [e.value for e in at.main.error] == [MSG_NO_ACCESS]
    assert not at.main.title and not at.main.dataframe and not at.main.radio
