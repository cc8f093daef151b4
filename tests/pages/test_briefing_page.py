"""通报情况 in AppTest, on the demo bureau: the office and reviewers see a branch's briefing
(summary, members, findings) and can download the printable page; a member who reviews
nobody, and a logged-out tab, see nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from streamlit.testing.v1 import AppTest
from worlds import account_of

from pingyi import auth, db, inspections, rounds, summaries
from pingyi.models import LeaderAssignment, Member, Target, TargetKind
from pingyi.ui.text import md_escape

PAGE = "pages/briefing.py"
NO_ACCESS = "您没有访问此页面的权限。"


def account(member: Member) -> str:
    """An account (initial password already changed) for `member`; its username."""
    with db.transaction() as s:
        auth.create_member_accounts(actor="测试", session=s, member_ids=[member.id])  # type: ignore[list-item]
        row = account_of(s, member.id)  # type: ignore[arg-type]
        row.must_change_password = False  # type: ignore[union-attr]
        s.add(row)
    return member.roster_id


def first_branch() -> Target:
    """The round's first branch: the one the page shows first."""
    with db.session() as s:
        round_ = rounds.current(session=s)
        return next(
            t
            for t in rounds.targets_of(session=s, round_id=round_.id)  # type: ignore[union-attr,arg-type]
            if t.kind == TargetKind.BRANCH
        )


def write_branch_summary_and_finding(branch: Target) -> None:
    with db.transaction() as s:
        writer = summaries.writer_of(session=s, target=branch)
        summaries.save_summary(
            session=s,
            round_id=branch.round_id,
            target_id=branch.id,  # type: ignore[arg-type]
            member_id=writer.id,  # type: ignore[union-attr,arg-type]
            achievements="党员活动室建成投用",
            problems="组织生活不够规范",
            causes="",
            submit=True,
        )
        inspections.record(
            session=s,
            round_id=branch.round_id,
            target_id=branch.id,  # type: ignore[arg-type]
            inspector="领导小组",
            visited_on=date.today(),
            checked="三会一课记录",
            findings="记录齐全",
        )


def download(at: AppTest) -> Any:
    return at.get("download_button")[0]


def test_the_office_sees_a_branch_briefing_and_can_download_it(demo_db: Path, open_page) -> None:
    branch = first_branch()
    write_branch_summary_and_finding(branch)
    at = open_page(PAGE)
    assert at.title[0].value == "通报情况"
    assert [h.value for h in at.header] == [f"{branch.name}情况通报"]
    assert [b.proto.label for b in at.get("download_button")] == [
        "下载打印版(HTML)",
        "下载 Word 文档",
    ]
    assert at.info[0].value.startswith("党员 ")
    texts = [t.value for t in at.text]
    assert texts[:3] == ["党员活动室建成投用", "组织生活不够规范", "(未填写)"]
    findings = at.dataframe[0].value
    assert list(findings["调研督查内容"]) == ["三会一课记录"]
    assert list(findings["发现的情况"]) == ["记录齐全"]
    assert at.expander, "one expander per member"


def test_the_team_briefing_can_be_chosen(demo_db: Path, open_page) -> None:
    at = open_page(PAGE)
    choice = at.selectbox(key="briefing_target")
    assert "局领导班子" in choice.options
    choice.select_index(choice.options.index("局领导班子")).run()
    assert [h.value for h in at.header] == ["局领导班子情况通报"]
    assert "调研督查情况" not in [s.value for s in at.subheader]


def test_a_reviewer_sees_the_briefing(demo_db: Path, open_page) -> None:
    with db.session() as s:
        secretary = s.exec(
            select(Member).where(col(Member.is_branch_secretary)).order_by(col(Member.id).desc())
        ).first()
    at = open_page(PAGE, as_=account(secretary))  # type: ignore[arg-type]
    assert not at.error
    assert [h.value for h in at.header] == [f"{first_branch().name}情况通报"]


def test_names_from_the_roster_are_escaped_on_screen(demo_db: Path, open_page) -> None:
    branch = first_branch()
    with db.transaction() as s:
        member = s.exec(
            select(Target).where(
                Target.round_id == branch.round_id,
                Target.kind == TargetKind.MEMBER,
                Target.branch_id == branch.branch_id,
            )
        ).first()
        member.name = "**<script>x</script>**"  # type: ignore[union-attr]
        s.add(member)
    at = open_page(PAGE)
    assert f"{md_escape('**<script>x</script>**')}(未填写)" in [e.label for e in at.expander]


def test_a_member_who_reviews_nobody_sees_nothing(demo_db: Path, open_page) -> None:
    with db.session() as s:
        reviewers = select(LeaderAssignment.reviewer_id)
        member = s.exec(
            select(Member)
            .where(col(Member.id).not_in(reviewers), col(Member.active))
            .order_by(col(Member.id))
        ).first()
    at = open_page(PAGE, as_=account(member))  # type: ignore[arg-type]
    assert [e.value for e in at.error] == [NO_ACCESS]
    assert not at.main.title and not at.selectbox
    assert not at.get("download_button")


def test_a_logged_out_tab_sees_nothing(demo_db: Path, open_page) -> None:
    at = open_page(PAGE, as_=None)
    assert [w.value for w in at.warning] == ["请先登录。"]
    assert not at.get("download_button")
