"""A whole round of the 方案 on the demo bureau, step by step through the domain functions the
pages call: 自我小结, 调研督查, 通报情况, 开展点评, 整改落实; then the next round opens and its
自我小结 looks back at the commitments not yet kept and the 整改 items not yet done."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from pingyi import (
    briefing,
    db,
    demo,
    inspections,
    progress,
    rectification,
    reviews,
    rounds,
    scoring,
    summaries,
)
from pingyi.models import (
    CommitmentStatus,
    ItemStatus,
    LeaderAssignment,
    Member,
    Round,
    Step,
    Target,
    TargetKind,
)

TODAY = date.today()


def member(s: Session, roster_id: str) -> Member:
    return s.exec(select(Member).where(Member.roster_id == roster_id)).one()


def target_of(s: Session, round_id: int, member_id: int) -> Target:
    query = select(Target).where(Target.round_id == round_id, Target.member_id == member_id)
    return s.exec(query).one()


def advance(engine: Engine, round_id: int) -> Step:
    with db.transaction(engine) as s:
        return rounds.advance(actor="测试", session=s, round_=s.get(Round, round_id))  # type: ignore[arg-type]


def submit_every_review(s: Session, round_id: int) -> int:
    """Each reviewer submits each assigned review, all 好, with one 整改要求 each."""
    assignments = s.exec(select(LeaderAssignment).where(LeaderAssignment.round_id == round_id))
    count = 0
    for assignment in assignments:
        form = reviews.form(session=s, round_id=round_id, target_id=assignment.target_id)
        good = next(level.id for level in form.levels if level.score == 100)
        reviews.save(
            session=s,
            round_id=round_id,
            reviewer_id=assignment.reviewer_id,
            target_id=assignment.target_id,
            scores={c.id: good for c in form.criteria},
            achievements="工作扎实",
            direction="再接再厉",
            requirements="加强理论学习",
            deadline=TODAY + timedelta(days=30),
            submit=True,
        )
        count += 1
    return count


def test_a_full_round_from_self_summary_to_rectification_and_into_the_next(
    engine: Engine,
) -> None:
    with db.transaction(engine) as s:
        demo.load_demo(actor="测试", session=s, history=False)
        round_id: int = rounds.current(session=s).id  # type: ignore[union-attr,assignment]
        writer = member(s, "P00014")
        own = target_of(s, round_id, writer.id)  # type: ignore[arg-type]
        # 自我小结 with two 公开承诺, one kept and one not yet.
        summaries.save_summary(
            session=s,
            round_id=round_id,
            target_id=own.id,  # type: ignore[arg-type]
            member_id=writer.id,  # type: ignore[arg-type]
            achievements="窗口服务零投诉",
            problems="理论学习不够",
            causes="业务繁忙",
            submit=True,
        )
        for text, status, evidence in (
            ("每月走访经营户", CommitmentStatus.KEPT, "走访记录 12 份"),
            ("考取执法资格证", CommitmentStatus.IN_PROGRESS, ""),
        ):
            summaries.add_commitment(
                session=s,
                round_id=round_id,
                target_id=own.id,  # type: ignore[arg-type]
                member_id=writer.id,  # type: ignore[arg-type]
                text=text,
                status=status,
                evidence=evidence,
            )
        organ_branch = s.exec(
            select(Target).where(Target.round_id == round_id, Target.kind == TargetKind.BRANCH)
        ).first()
        assert organ_branch is not None
    assert advance(engine, round_id) == Step.INSPECTION

    with db.transaction(engine) as s:
        inspections.record(
            session=s,
            round_id=round_id,
            target_id=organ_branch.id,  # type: ignore[arg-type]
            inspector=member(s, "P00001").name,
            visited_on=TODAY - timedelta(days=2),
            checked="三会一课记录",
            findings="记录齐全",
        )
    assert advance(engine, round_id) == Step.BRIEFING

    with db.session(engine) as s:
        sheet = briefing.branch_briefing(
            session=s,
            round_id=round_id,
            target_id=organ_branch.id,  # type: ignore[arg-type]
        )
        page = briefing.briefing_html(sheet)
    assert "记录齐全" in page and "窗口服务零投诉" in page and "考取执法资格证" in page
    assert advance(engine, round_id) == Step.REVIEW

    with db.transaction(engine) as s:
        submitted = submit_every_review(s, round_id)
    with db.session(engine) as s:
        step = progress.step_progress(session=s, round_id=round_id, step=Step.REVIEW)
        assert (step.done, step.total, step.pending) == (submitted, submitted, [])
        results = scoring.round_results(session=s, round_id=round_id, with_change=False)
        assert results.target(own.id).leader_score == 100  # type: ignore[arg-type]
    assert advance(engine, round_id) == Step.RECTIFICATION

    with db.transaction(engine) as s:
        (item,) = rectification.items_for_owner(
            session=s,
            member_id=writer.id,  # type: ignore[arg-type]
            round_id=round_id,
        )
        assert (item.text, item.status) == ("加强理论学习", ItemStatus.NOT_STARTED)
        rectification.update(
            session=s,
            item_id=item.id,
            member_id=writer.id,
            status=ItemStatus.IN_PROGRESS,
            evidence="已制定学习计划",
        )
        counts = rectification.counts(session=s, round_id=round_id)
        assert counts[ItemStatus.IN_PROGRESS] == 1
        assert counts[ItemStatus.NOT_STARTED] == submitted - 1
    assert advance(engine, round_id) == Step.CLOSED

    # The next quarter: its 自我小结 looks back at what is still open.
    with db.transaction(engine) as s:
        following = rounds.create_round(
            actor="测试", session=s, name="2027年第一季度评议", quarter="2027Q1"
        )
        rounds.open_round(actor="测试", session=s, round_=following)
        again = target_of(s, following.id, writer.id)  # type: ignore[arg-type]
        carried = summaries.commitments_of(session=s, target_id=again.id)  # type: ignore[arg-type]
        looked_back = summaries.open_items_for(session=s, target_id=again.id)  # type: ignore[arg-type]
        assert rounds.current(session=s).id == following.id  # type: ignore[union-attr]
    assert [(c.text, c.status) for c in carried] == [
        ("考取执法资格证", CommitmentStatus.IN_PROGRESS)
    ]
    assert [(i.text, i.status, i.evidence) for i in looked_back] == [
        ("加强理论学习", ItemStatus.IN_PROGRESS, "已制定学习计划")
    ]


def test_a_done_item_is_not_carried_into_the_next_round(engine: Engine) -> None:
    with db.transaction(engine) as s:
        demo.load_demo(actor="测试", session=s, history=False)
        round_ = rounds.current(session=s)
        assert round_ is not None
        rounds.set_step(actor="测试", session=s, round_=round_, step=Step.REVIEW)
        submit_every_review(s, round_.id)  # type: ignore[arg-type]
        items = rectification.all_items(session=s, round_id=round_.id)
        for item in items:
            rectification.update(
                session=s,
                item_id=item.id,
                member_id=None,
                status=ItemStatus.DONE,
                evidence="已完成",
            )
        rounds.set_step(actor="测试", session=s, round_=round_, step=Step.CLOSED)
        following = rounds.create_round(actor="测试", session=s, name="下一轮", quarter="2027Q1")
        rounds.open_round(actor="测试", session=s, round_=following)
        targets = s.exec(select(Target.id).where(Target.round_id == following.id)).all()
        left = [
            i
            for t in targets
            for i in summaries.open_items_for(session=s, target_id=t)  # type: ignore[arg-type]
        ]
        assert items and left == []
