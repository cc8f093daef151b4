"""Who has finished each step of a round and who has not, and the reminder list to print.

Each step counts what the 方案 asks of it: 自我小结 a submitted summary per target; 调研督查 at
least one finding per branch; 通报情况 a submitted branch summary to report from; 开展点评 every
assigned review submitted; 整改落实 every 整改 item done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session

from pingyi import inspections, rectification, reviews, summaries
from pingyi.models import STEP_LABELS, ItemStatus, Step, TargetKind
from pingyi.templating import render


@dataclass(frozen=True)
class Reminder:
    """One unfinished task: who must act, and on what."""

    who: str  # "" when the roster names nobody (then the office must act)
    task: str


@dataclass(frozen=True)
class StepProgress:
    step: Step
    done: int
    total: int
    pending: list[Reminder] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.done / self.total if self.total else 0.0


NOBODY = "(名册中无人负责)"


def step_progress(
    *, session: Session, round_id: int, step: Step, today: date | None = None
) -> StepProgress:
    """What the given step of the round has done, and a reminder per unfinished task."""
    if step == Step.SELF_SUMMARY:
        return _summaries(session, round_id)
    if step == Step.INSPECTION:
        return _inspections(session, round_id)
    if step == Step.BRIEFING:
        return _briefings(session, round_id)
    if step == Step.REVIEW:
        return _reviews(session, round_id)
    if step == Step.RECTIFICATION:
        return _items(session, round_id, today)
    return StepProgress(step, 0, 0)


def all_steps(*, session: Session, round_id: int, today: date | None = None) -> list[StepProgress]:
    return [
        step_progress(session=session, round_id=round_id, step=step, today=today)
        for step in (
            Step.SELF_SUMMARY,
            Step.INSPECTION,
            Step.BRIEFING,
            Step.REVIEW,
            Step.RECTIFICATION,
        )
    ]


def _summaries(session: Session, round_id: int) -> StepProgress:
    lines = summaries.progress(session=session, round_id=round_id)
    pending = [
        Reminder(line.writer or NOBODY, f"提交「{line.target}」的自我小结")
        for line in lines
        if not line.submitted
    ]
    return StepProgress(Step.SELF_SUMMARY, len(lines) - len(pending), len(lines), pending)


def _inspections(session: Session, round_id: int) -> StepProgress:
    lines = inspections.progress(session=session, round_id=round_id)
    pending = [
        Reminder("领导小组", f"调研督查「{line.branch}」") for line in lines if not line.done
    ]
    return StepProgress(Step.INSPECTION, len(lines) - len(pending), len(lines), pending)


def _briefings(session: Session, round_id: int) -> StepProgress:
    """A branch can report at the meeting once its own summary is submitted."""
    lines = [
        line
        for line in summaries.progress(session=session, round_id=round_id)
        if line.kind == TargetKind.BRANCH
    ]
    pending = [
        Reminder(line.writer or NOBODY, f"提交「{line.target}」的支部小结,供通报会使用")
        for line in lines
        if not line.submitted
    ]
    return StepProgress(Step.BRIEFING, len(lines) - len(pending), len(lines), pending)


def _reviews(session: Session, round_id: int) -> StepProgress:
    lines = reviews.progress(session=session, round_id=round_id)
    pending = [
        Reminder(line.name or NOBODY, f"还有 {line.total - line.done} 项领导点评未提交")
        for line in lines
        if not line.finished
    ]
    return StepProgress(
        Step.REVIEW, sum(line.done for line in lines), sum(line.total for line in lines), pending
    )


def _items(session: Session, round_id: int, today: date | None) -> StepProgress:
    items = rectification.all_items(session=session, round_id=round_id, today=today)
    pending = [
        Reminder(
            item.owner_name or NOBODY,
            f"「{item.target_name}」:{item.text}({item.status}"
            + (f",期限 {item.deadline:%Y-%m-%d}" if item.deadline else "")
            + ")",
        )
        for item in items
        if item.status != ItemStatus.DONE
    ]
    return StepProgress(Step.RECTIFICATION, len(items) - len(pending), len(items), pending)


def reminders_html(*, round_name: str, progress: StepProgress) -> str:
    """A print-ready page of the step's unfinished tasks, one row per task, for the office to
    hand round or read out. Every name and text is escaped."""
    return render(
        "reminders.html.j2",
        title=f"{round_name} · {STEP_LABELS[progress.step]} · 待办提醒",
        summary=f"已完成 {progress.done} / {progress.total},待完成 {len(progress.pending)} 项。",
        pending=progress.pending,
    )
