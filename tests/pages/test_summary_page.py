"""自我小结 in AppTest, on the demo bureau: a member writes and submits their summary and
looks back at their commitments; a branch secretary also writes the branch's; after the step
the page only shows; the office (no member) and a logged-out tab see nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select
from streamlit.testing.v1 import AppTest
from worlds import account_of

from pingyi import auth, db, rounds, summaries
from pingyi.models import (
    ItemStatus,
    Member,
    RectificationItem,
    Round,
    Step,
    Target,
    TargetKind,
)

PAGE = "pages/summary.py"
NO_ACCESS = "您没有访问此页面的权限。"


def account_for(pick: Callable[[Session], Member]) -> tuple[str, int]:
    """An account, its initial password already changed, for the member `pick` chooses:
    (username, member id)."""
    with db.transaction() as s:
        member = pick(s)
        auth.create_member_accounts(actor="测试", session=s, member_ids=[member.id])  # type: ignore[list-item]
        account = account_of(s, member.id)  # type: ignore[arg-type]
        account.must_change_password = False  # type: ignore[union-attr]
        s.add(account)
        return member.roster_id, member.id  # type: ignore[return-value]


def ordinary(s: Session) -> Member:
    return s.exec(
        select(Member)
        .where(
            ~col(Member.is_branch_secretary),
            ~col(Member.is_party_secretary),
            ~col(Member.is_leadership),
        )
        .order_by(col(Member.id))
    ).first()  # type: ignore[return-value]


def grassroots_secretary(s: Session) -> Member:
    return s.exec(
        select(Member).where(col(Member.is_branch_secretary)).order_by(col(Member.id).desc())
    ).first()  # type: ignore[return-value]


def current() -> Round:
    with db.session() as s:
        round_ = rounds.current(session=s)
        assert round_ is not None
        return round_


def own_target(member_id: int, round_id: int | None = None) -> Target:
    with db.session() as s:
        return s.exec(
            select(Target).where(
                Target.round_id == (round_id or current().id),
                Target.kind == TargetKind.MEMBER,
                Target.member_id == member_id,
            )
        ).one()


def button(at: AppTest, label: str, form: str | None = None) -> Any:
    return next(
        b for b in at.button if b.label == label and (form is None or b.form_id.startswith(form))
    )


def click(at: AppTest, label: str, form: str | None = None) -> AppTest:
    button(at, label, form).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def area(at: AppTest, label: str) -> Any:
    return next(t for t in at.text_area if t.label == label)


def set_step(step: Step) -> None:
    with db.transaction() as s:
        rounds.set_step(actor="测试", session=s, round_=rounds.current(session=s), step=step)  # type: ignore[arg-type]


def test_a_member_writes_and_submits_their_summary(demo_db: Path, open_page) -> None:
    username, member_id = account_for(ordinary)
    at = open_page(PAGE, as_=username)
    assert at.title[0].value == "自我小结"
    assert at.selectbox(key="summary_target").disabled, "only one target: their own"
    assert "尚未填写" in at.markdown[0].value

    area(at, "成绩").set_value("全年走访经营户 60 户")
    area(at, "问题").set_value("<b>理论学习</b>不够深入")
    at = click(at, "提交")
    assert [s.value for s in at.success] == ["已提交自我小结。"]
    assert not at.error

    with db.session() as s:
        stored = summaries.summary_of(session=s, target_id=own_target(member_id).id)  # type: ignore[arg-type]
    assert stored is not None and stored.submitted
    assert (stored.achievements, stored.problems, stored.causes) == (
        "全年走访经营户 60 户",
        "<b>理论学习</b>不够深入",
        "",
    )
    assert any("已提交" in m.value for m in at.markdown)


def test_submitting_without_problems_is_refused_and_a_draft_is_kept(
    demo_db: Path, open_page
) -> None:
    username, member_id = account_for(ordinary)
    at = open_page(PAGE, as_=username)
    area(at, "成绩").set_value("完成了任务")
    at = click(at, "提交")
    assert [e.value for e in at.error] == ["提交前请填写「问题」"]
    assert area(at, "成绩").value == "完成了任务", "what was typed stays"
    at = click(at, "保存草稿")
    assert [s.value for s in at.success] == ["已保存草稿。"]
    with db.session() as s:
        stored = summaries.summary_of(session=s, target_id=own_target(member_id).id)  # type: ignore[arg-type]
    assert stored is not None and not stored.submitted


def test_a_branch_secretary_also_writes_the_branch_summary(demo_db: Path, open_page) -> None:
    username, member_id = account_for(grassroots_secretary)
    at = open_page(PAGE, as_=username)
    choice = at.selectbox(key="summary_target")
    assert [label.split(":")[0] for label in choice.options] == ["本人", "党支部"]

    with db.session() as s:
        member = s.get(Member, member_id)
        branch = s.exec(
            select(Target).where(
                Target.round_id == current().id,
                Target.kind == TargetKind.BRANCH,
                Target.branch_id == member.branch_id,  # type: ignore[union-attr]
            )
        ).one()
    choice.set_value(branch.id).run()
    area(at, "成绩").set_value("支部的成绩")
    area(at, "问题").set_value("支部的问题")
    at = click(at, "提交")
    assert not at.error
    with db.session() as s:
        stored = summaries.summary_of(session=s, target_id=branch.id)  # type: ignore[arg-type]
        own = summaries.summary_of(session=s, target_id=own_target(member_id).id)  # type: ignore[arg-type]
    assert stored is not None and stored.achievements == "支部的成绩"
    assert own is None


def test_a_member_adds_edits_and_deletes_commitments(demo_db: Path, open_page) -> None:
    username, member_id = account_for(ordinary)
    target_id = own_target(member_id).id
    at = open_page(PAGE, as_=username)

    add_form = f"summary_{target_id}_add_0"
    at.text_area(key=f"{add_form}_text").set_value("每月走访经营户")
    at = click(at, "添加承诺")
    assert [s.value for s in at.success] == ["已添加承诺。"]
    with db.session() as s:
        (commitment,) = summaries.commitments_of(session=s, target_id=target_id)  # type: ignore[arg-type]
    key = f"commitment_{commitment.id}"
    assert at.text_area(key=f"{key}_text").value == "每月走访经营户"
    assert at.text_area(key=f"summary_{target_id}_add_1_text").value == "", "a fresh form"

    at.selectbox(key=f"{key}_status").set_value("已兑现")
    at = click(at, "保存修改", form=key)
    assert [e.value for e in at.error] == ["标为「已兑现」的承诺请填写佐证材料"]
    at.text_area(key=f"{key}_evidence").set_value("走访记录 12 份")
    at = click(at, "保存修改", form=key)
    assert [s.value for s in at.success] == ["已保存承诺。"]
    with db.session() as s:
        (stored,) = summaries.commitments_of(session=s, target_id=target_id)  # type: ignore[arg-type]
    assert (stored.status, stored.evidence) == ("已兑现", "走访记录 12 份")

    at = click(at, "删除", form=key)
    assert [s.value for s in at.success] == ["已删除承诺。"]
    with db.session() as s:
        assert summaries.commitments_of(session=s, target_id=target_id) == []  # type: ignore[arg-type]


def test_after_the_step_the_summary_is_read_only(demo_db: Path, open_page) -> None:
    username, member_id = account_for(ordinary)
    with db.transaction() as s:
        summaries.add_commitment(
            session=s,
            round_id=current().id,  # type: ignore[arg-type]
            target_id=own_target(member_id).id,  # type: ignore[arg-type]
            member_id=member_id,
            text="带头学习",
        )
    set_step(Step.BRIEFING)
    at = open_page(PAGE, as_=username)
    assert any("本轮已进入「通报情况」阶段" in i.value for i in at.info)
    assert all(t.disabled for t in at.text_area)
    assert {b.label for b in at.button} >= {"保存草稿", "提交"}
    assert all(b.disabled for b in at.button if b.label in ("保存草稿", "提交"))
    assert not any(b.label in ("添加承诺", "保存修改", "删除") for b in at.button)
    assert list(at.dataframe[0].value["承诺内容"]) == ["带头学习"]


def test_open_rectification_items_of_the_last_round_are_listed(demo_db: Path, open_page) -> None:
    username, member_id = account_for(ordinary)
    old = current()
    with db.transaction() as s:
        s.add(
            RectificationItem(
                round_id=old.id,  # type: ignore[arg-type]
                target_id=own_target(member_id).id,  # type: ignore[arg-type]
                text="加强理论学习",
                deadline=date(2020, 1, 31),
                status=ItemStatus.IN_PROGRESS,
            )
        )
        rounds.set_step(actor="测试", session=s, round_=s.get(Round, old.id), step=Step.CLOSED)  # type: ignore[arg-type]
        new = rounds.create_round(
            actor="测试", session=s, name="2027年第一季度评议", quarter="2027Q1"
        )
        rounds.open_round(actor="测试", session=s, round_=new, allow_problems=True)
    at = open_page(PAGE, as_=username)
    table = at.dataframe[0].value
    assert list(table["整改事项"]) == ["加强理论学习"]
    assert list(table["轮次"]) == [old.name]
    assert list(table["状态"]) == ["逾期"]  # past its deadline


def test_the_office_without_a_member_sees_nothing(demo_db: Path, open_page) -> None:
    at = open_page(PAGE)
    assert [e.value for e in at.error] == [NO_ACCESS]
    assert not at.main.title
    assert not at.text_area


def test_a_logged_out_tab_sees_nothing(demo_db: Path, open_page) -> None:
    at = open_page(PAGE, as_=None)
    assert [w.value for w in at.warning] == ["请先登录。"]
    assert not at.text_area
