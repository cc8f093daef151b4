"""调研督查 in AppTest, on the demo bureau: a member of the leading group records a finding for
a branch and sees it listed; the office may delete any finding; a branch secretary outside the
leading group, and a logged-out tab, see nothing."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select
from streamlit.testing.v1 import AppTest
from worlds import account_of, inspections_of_round

from pingyi import auth, db, inspections, rounds
from pingyi.models import Account, Member, Step, Target, TargetKind

PAGE = "pages/inspection.py"
NO_ACCESS = "您没有访问此页面的权限。"


def account(where: Any) -> tuple[str, str]:
    """An account (initial password already changed) for the first member matching `where`:
    (username, name)."""
    with db.transaction() as s:
        member = s.exec(select(Member).where(where).order_by(col(Member.id))).first()
        assert member is not None
        auth.create_member_accounts(actor="测试", session=s, member_ids=[member.id])  # type: ignore[list-item]
        row = account_of(s, member.id)  # type: ignore[arg-type]
        row.must_change_password = False  # type: ignore[union-attr]
        s.add(row)
        return member.roster_id, member.name


def leadership() -> tuple[str, str]:
    return account(col(Member.is_leadership) & ~col(Member.is_party_secretary))


def branches(s: Session) -> list[Target]:
    round_ = rounds.current(session=s)
    return [
        t
        for t in rounds.targets_of(session=s, round_id=round_.id)  # type: ignore[union-attr,arg-type]
        if t.kind == TargetKind.BRANCH
    ]


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def area(at: AppTest, label: str) -> Any:
    return next(t for t in at.text_area if t.label == label)


def test_a_leadership_member_records_a_finding_for_a_branch(demo_db: Path, open_page) -> None:
    username, name = leadership()
    with db.session() as s:
        all_branches = branches(s)
    second = all_branches[1]
    at = open_page(PAGE, as_=username)
    assert at.title[0].value == "调研督查"
    assert at.metric[0].value == f"0 / {len(all_branches)}"

    at.selectbox(key="inspection_branch").set_value(second.id).run()
    at.date_input[0].set_value(date.today() - timedelta(days=3))
    area(at, "调研督查内容").set_value("三会一课记录")
    area(at, "发现的情况").set_value("记录齐全,<b>党费</b>按时收缴")
    at = click(at, "记录")
    assert [s.value for s in at.success] == [f"已记录「{second.name}」的调研督查情况。"]
    assert at.metric[0].value == f"1 / {len(all_branches)}"
    assert area(at, "调研督查内容").value == "", "a fresh form"
    assert [t.value for t in at.text] == ["三会一课记录", "记录齐全,<b>党费</b>按时收缴"]

    with db.session() as s:
        (stored,) = inspections.for_branch(session=s, target_id=second.id)  # type: ignore[arg-type]
    assert (stored.inspector, stored.visited_on) == (name, date.today() - timedelta(days=3))


def test_a_finding_without_findings_is_refused_in_chinese(demo_db: Path, open_page) -> None:
    username, _ = leadership()
    at = open_page(PAGE, as_=username)
    area(at, "调研督查内容").set_value("三会一课记录")
    at = click(at, "记录")
    assert [e.value for e in at.error] == ["请填写「发现的情况」"]
    assert area(at, "调研督查内容").value == "三会一课记录"
    with db.session() as s:
        assert inspections_of_round(s, rounds.current(session=s).id) == []  # type: ignore[union-attr,arg-type]


def record(inspector: str, username: str | None = None) -> int:
    """A finding recorded under `inspector`'s name by the account `username` (none: office)."""
    with db.transaction() as s:
        round_ = rounds.current(session=s)
        by = s.exec(select(Account.id).where(Account.username == username)).first()
        return inspections.record(
            session=s,
            round_id=round_.id,  # type: ignore[union-attr,arg-type]
            target_id=branches(s)[0].id,  # type: ignore[arg-type]
            inspector=inspector,
            recorded_by=by,
            visited_on=date.today(),
            checked="台账",
            findings="齐全",
        ).id  # type: ignore[return-value]


def test_the_office_deletes_a_finding(demo_db: Path, open_page) -> None:
    record("李副局长")
    at = open_page(PAGE)
    at = click(at, "删除")
    assert [s.value for s in at.success] == ["已删除该条调研督查记录。"]
    with db.session() as s:
        assert inspections.for_branch(session=s, target_id=branches(s)[0].id) == []  # type: ignore[arg-type]


def test_a_leadership_member_cannot_delete_another_s_finding(demo_db: Path, open_page) -> None:
    username, name = leadership()
    record(name)  # somebody of the same name: the name proves nothing
    record(name, username)
    at = open_page(PAGE, as_=username)
    assert [b.label for b in at.button if b.label == "删除"] == ["删除"], "only their own"


def test_after_the_reviews_the_findings_are_read_only(demo_db: Path, open_page) -> None:
    record("李副局长")
    with db.transaction() as s:
        rounds.set_step(
            actor="测试", session=s, round_=rounds.current(session=s), step=Step.RECTIFICATION
        )  # type: ignore[arg-type]
    at = open_page(PAGE)
    assert any("不能再记录或删除" in i.value for i in at.info)
    assert not at.text_area
    assert not [b for b in at.button if b.label in ("记录", "删除")]
    assert [t.value for t in at.text] == ["台账", "齐全"]


def test_a_branch_secretary_outside_the_leading_group_sees_nothing(
    demo_db: Path, open_page
) -> None:
    username, _ = account(
        col(Member.is_branch_secretary)
        & ~col(Member.is_leadership)
        & ~col(Member.is_party_secretary)
    )
    at = open_page(PAGE, as_=username)
    assert [e.value for e in at.error] == [NO_ACCESS]
    assert not at.main.title
    assert not at.text_area and not at.selectbox


def test_a_logged_out_tab_sees_nothing(demo_db: Path, open_page) -> None:
    at = open_page(PAGE, as_=None)
    assert [w.value for w in at.warning] == ["请先登录。"]
    assert not at.text_area
