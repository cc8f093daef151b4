"""开展点评 in AppTest: the 党组书记 of the demo bureau works through the worklist (progress,
the target's 自我小结 and 公开承诺 beside the form, the guidance), saves a draft, submits,
reopens; outside 开展点评 the form is read-only; a member who reviews nobody is refused."""

from __future__ import annotations

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

from pingyi import criteria, db, reviews
from pingyi.models import (
    Commitment,
    CommitmentStatus,
    LeaderAssignment,
    Member,
    RectificationItem,
    Review,
    Step,
    Summary,
)
from pingyi.ui.auth import MSG_NO_ACCESS

PAGE = "pages/review.py"


def plain_member() -> Member:
    """A member the rules make no reviewer of anybody."""
    with db.session() as s:
        reviewers = select(LeaderAssignment.reviewer_id)
        return s.exec(
            select(Member).where(col(Member.id).not_in(reviewers)).order_by(col(Member.id))
        ).first()  # type: ignore[return-value]


def level_ids() -> dict[str, int]:
    with db.session() as s:
        scale = criteria.round_scale(session=s, round_id=current_round_id())
    return {level.label: level.id for level in scale}


def fill(at: AppTest, level: str = "好", **texts: str) -> AppTest:
    """Every criterion at `level`, and the comments given by their labels."""
    chosen = level_ids()[level]
    for radio in at.main.radio:
        radio.set_value(chosen)
    for label, value in texts.items():
        text_area(at, label).input(value)
    return at


@pytest.fixture
def secretary(demo_db: Path) -> Member:
    member_accounts()
    set_step(Step.REVIEW)
    return party_secretary()


def first_target(member: Member) -> int:
    with db.session() as s:
        return reviews.worklist(
            session=s,
            round_id=current_round_id(),
            reviewer_id=member.id,  # type: ignore[arg-type]
        )[0].target_id


def target_box(at: AppTest) -> Any:
    """The worklist's selectbox (its key changes with each submission)."""
    return next(b for b in at.selectbox if b.label == "点评对象")


def test_the_party_secretary_submits_a_review_from_the_worklist(secretary: Member, open_page):
    at = open_page(PAGE, as_=secretary.roster_id)
    assert at.title[0].value == "开展点评"
    with db.session() as s:
        work = reviews.worklist(
            session=s,
            round_id=current_round_id(),
            reviewer_id=secretary.id,  # type: ignore[arg-type]
        )
    assert at.get("progress")[0].proto.text == f"已提交 0 / {len(work)}"
    target = work[0].target_id
    assert target_box(at).value == target

    at = fill(
        at,
        肯定成绩="组织有力",
        明确方向="继续创先争优",
        整改要求="1. 规范三会一课\n2. 加强党员教育",
    )
    at = no_exception(button(at, "提交").click().run())
    assert [s.value for s in at.success][:1] == ["已提交点评。"]
    assert at.get("progress")[0].proto.text == f"已提交 1 / {len(work)}"

    with db.session() as s:
        review = s.exec(select(Review).where(Review.target_id == target)).one()
        items = s.exec(
            select(RectificationItem.text).where(RectificationItem.review_id == review.id)
        )
        assert review.submitted and review.achievements == "组织有力"
        assert sorted(items) == ["加强党员教育", "规范三会一课"]
    # The list moves on to the next target; the submitted one is read-only, with 重新打开.
    assert target_box(at).value == work[1].target_id
    at = no_exception(target_box(at).set_value(target).run())
    assert all(r.disabled for r in at.radio)
    assert button(at, "重新打开")


def test_a_draft_is_saved_and_shown_again(secretary: Member, open_page):
    at = open_page(PAGE, as_=secretary.roster_id)
    text_area(at, "指出问题").input("学习不够系统")
    at = no_exception(button(at, "保存草稿").click().run())
    assert [s.value for s in at.success] == ["已保存草稿。"]
    with db.session() as s:
        review = s.exec(select(Review)).one()
    assert (review.submitted, review.problems) == (False, "学习不够系统")
    again = open_page(PAGE, as_=secretary.roster_id)
    assert text_area(again, "指出问题").value == "学习不够系统"


def test_submitting_an_incomplete_review_is_refused_in_chinese(secretary: Member, open_page):
    at = open_page(PAGE, as_=secretary.roster_id)
    at = no_exception(button(fill(at, 明确方向="继续努力"), "提交").click().run())
    assert [e.value for e in at.error] == ["请填写「肯定成绩」后再提交"]
    with db.session() as s:
        assert s.exec(select(Review)).all() == []


def test_reopen_sets_a_submitted_review_back_to_draft(secretary: Member, open_page):
    at = open_page(PAGE, as_=secretary.roster_id)
    at = fill(at, 肯定成绩="好", 明确方向="好")
    at = no_exception(button(at, "提交").click().run())
    at = no_exception(target_box(at).set_value(first_target(secretary)).run())
    at = no_exception(button(at, "重新打开").click().run())
    assert next(s.value for s in at.success) == "已重新打开,修改后请再次提交。"
    with db.session() as s:
        assert s.exec(select(Review)).one().submitted is False
    assert not any(r.disabled for r in at.radio)


def test_the_target_s_summary_commitments_and_guidance_are_beside_the_form(
    secretary: Member, open_page
):
    target = first_target(secretary)
    with db.transaction() as s:
        s.add(
            Summary(
                round_id=current_round_id(),
                target_id=target,
                achievements="**完成**了全年任务",
                problems="学习不够",
                submitted=True,
            )
        )
        s.add(
            Commitment(
                round_id=current_round_id(),
                target_id=target,
                text="每月开展一次志愿服务",
                status=CommitmentStatus.KEPT,
                evidence="活动记录 12 份",
            )
        )
    at = open_page(PAGE, as_=secretary.roster_id)
    markdown = "\n".join(m.value for m in at.markdown)
    assert r"\*\*完成\*\*了全年任务" in markdown, "the summary is shown as typed"
    assert "每月开展一次志愿服务" in markdown and "已兑现" in markdown
    assert reviews.GUIDANCE_ORGANISATION in [i.value for i in at.info]  # 机关党支部 first


def test_outside_the_review_step_the_form_is_read_only(demo_db: Path, open_page):
    member_accounts()  # the demo round is at 自我小结
    at = open_page(PAGE, as_=party_secretary().roster_id)
    assert any("现在只能查看" in i.value for i in at.info)
    assert at.radio and all(r.disabled for r in at.radio)
    assert all(t.disabled for t in at.text_area)
    assert {b.label for b in at.main.button} == {"保存草稿", "提交"}
    assert all(b.disabled for b in at.main.button)


def test_a_member_who_reviews_nobody_is_refused(demo_db: Path, open_page):
    member_accounts()
    set_step(Step.REVIEW)
    at = open_page(PAGE, as_=plain_member().roster_id)
    assert [e.value for e in at.main.error] == [MSG_NO_ACCESS]
    assert not at.main.title and not at.main.radio and not at.main.text_area
    assert not at.main.markdown and not at.main.info


def test_the_office_is_refused(demo_db: Path, open_page):
    at = open_page(PAGE)
    assert [e.value for e in at.main.error] == [MSG_NO_ACCESS]
    assert not at.main.title and not at.main.radio
