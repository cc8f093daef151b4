"""Progress of each step of a round: what is done, and a reminder for each unfinished task."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select
from worlds import ORGAN_BRANCH, bureau

from pingyi import criteria, db, inspections, progress, reviews, rounds, summaries
from pingyi.models import LeaderAssignment, Round, Step, Target


def target(s: Session, round_id: int, name: str) -> Target:
    return s.exec(select(Target).where(Target.round_id == round_id, Target.name == name)).one()


def step_of(engine: Engine, round_id: int, step: Step) -> progress.StepProgress:
    with db.session(engine) as s:
        return progress.step_progress(session=s, round_id=round_id, step=step)


def set_step(engine: Engine, round_id: int, step: Step) -> None:
    with db.transaction(engine) as s:
        rounds.set_step(actor="测试", session=s, round_=s.get(Round, round_id), step=step)  # type: ignore[arg-type]


def test_self_summary_progress_counts_submitted_summaries_and_names_the_writers(
    engine: Engine,
) -> None:
    world = bureau(engine)
    before = step_of(engine, world.round_id, Step.SELF_SUMMARY)
    assert before.done == 0 and before.total == len(before.pending) > 0
    assert progress.Reminder("钱干事", "提交「钱干事」的自我小结") in before.pending
    assert progress.Reminder("赵科长", f"提交「{ORGAN_BRANCH}」的自我小结") in before.pending
    with db.transaction(engine) as s:
        summaries.save_summary(
            session=s,
            round_id=world.round_id,
            target_id=target(s, world.round_id, "钱干事").id,  # type: ignore[arg-type]
            member_id=world.members["钱干事"],
            achievements="按时完成窗口服务",
            problems="学习不够系统",
            causes="工作繁忙",
            submit=True,
        )
    after = step_of(engine, world.round_id, Step.SELF_SUMMARY)
    assert after.done == 1 and after.total == before.total
    assert all(r.who != "钱干事" or "钱干事" not in r.task for r in after.pending)


def test_inspection_progress_lists_branches_without_findings(engine: Engine) -> None:
    world = bureau(engine)
    with db.transaction(engine) as s:
        inspections.record(
            session=s,
            round_id=world.round_id,
            target_id=target(s, world.round_id, ORGAN_BRANCH).id,  # type: ignore[arg-type]
            inspector="王书记",
            visited_on=date.today() - timedelta(days=1),
            checked="三会一课记录",
            findings="记录齐全",
        )
    shown = step_of(engine, world.round_id, Step.INSPECTION)
    assert (shown.done, shown.total) == (1, 3)
    assert [r.task for r in shown.pending] == [
        "调研督查「第一市场党支部」",
        "调研督查「第二市场党支部」",
    ]


def test_review_progress_counts_submitted_reviews_per_reviewer(engine: Engine) -> None:
    world = bureau(engine)
    set_step(engine, world.round_id, Step.REVIEW)
    with db.transaction(engine) as s:
        first = s.exec(
            select(LeaderAssignment).where(
                LeaderAssignment.round_id == world.round_id,
                LeaderAssignment.reviewer_id == world.members["王书记"],
            )
        ).first()
        assert first is not None
        form = reviews.form(session=s, round_id=world.round_id, target_id=first.target_id)
        good = next(level.id for level in form.levels if level.score == 100)
        reviews.save(
            session=s,
            round_id=world.round_id,
            reviewer_id=first.reviewer_id,
            target_id=first.target_id,
            scores={c.id: good for c in form.criteria},
            achievements="带头作用明显",
            direction="继续保持",
            submit=True,
        )
        total = len(
            s.exec(
                select(LeaderAssignment).where(LeaderAssignment.round_id == world.round_id)
            ).all()
        )
    shown = step_of(engine, world.round_id, Step.REVIEW)
    assert (shown.done, shown.total) == (1, total)
    secretary = next(r for r in shown.pending if r.who == "王书记")
    assert secretary.task.startswith("还有") and "项领导点评未提交" in secretary.task


def test_every_step_of_a_fresh_round_has_its_tasks(engine: Engine) -> None:
    world = bureau(engine)
    with db.session(engine) as s:
        steps = progress.all_steps(session=s, round_id=world.round_id)
        assert criteria.round_criteria(session=s, round_id=world.round_id)
    assert [p.step for p in steps] == [
        Step.SELF_SUMMARY,
        Step.INSPECTION,
        Step.BRIEFING,
        Step.REVIEW,
        Step.RECTIFICATION,
    ]
    assert all(p.done == 0 for p in steps)
    rectification = steps[-1]
    assert rectification.total == 0 and rectification.share == 0.0


def test_the_reminder_page_escapes_every_name() -> None:
    shown = progress.StepProgress(
        Step.SELF_SUMMARY, 0, 1, [progress.Reminder("<b>张三</b>", "提交「<script>」的自我小结")]
    )
    page = progress.reminders_html(round_name="2026 & 第四季度", progress=shown)
    assert "<script>" not in page and "<b>张三" not in page
    assert "&lt;b&gt;张三&lt;/b&gt;" in page and "2026 &amp; 第四季度" in page
    assert "待完成 1 项" in page
