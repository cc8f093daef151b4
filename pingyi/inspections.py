"""调研督查: the leading group visits each branch and records what it checked and found; the
findings go on the branch's briefing at the meeting (通报情况)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, func, select

from pingyi.models import STEP_LABELS, Inspection, Round, Step, Target, TargetKind
from pingyi.summaries import limit

# Findings may still come in until the reviews start using them; after that they are history.
OPEN_STEPS = (Step.SELF_SUMMARY, Step.INSPECTION, Step.BRIEFING, Step.REVIEW)
FIELDS = {"inspector": "调研人", "checked": "调研督查内容", "findings": "发现的情况"}


class InspectionError(ValueError):
    """A finding that cannot be recorded or deleted; the message is in Chinese."""


def is_open(round_: Round) -> bool:
    return round_.step in OPEN_STEPS


def _open_round(session: Session, round_id: int) -> Round:
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise InspectionError("找不到该评议轮次")
    if not is_open(round_):
        raise InspectionError(
            f"本轮处于「{STEP_LABELS[Step(round_.step)]}」阶段,不能再记录或删除调研督查情况"
        )
    return round_


def _branch_target(session: Session, round_id: int, target_id: int) -> Target:
    # Locked, so a finding sent twice at once (a double tap) is checked after the first is in.
    target = session.get(Target, target_id, with_for_update={"key_share": True})
    if target is None or target.round_id != round_id or target.kind != TargetKind.BRANCH:
        raise InspectionError("调研督查情况只能记在本轮的党支部名下")
    return target


def _texts(inspector: str, checked: str, findings: str) -> dict[str, str]:
    texts = {
        "inspector": inspector.strip(),
        "checked": checked.strip(),
        "findings": findings.strip(),
    }
    for field, value in texts.items():
        if not value:
            raise InspectionError(f"请填写「{FIELDS[field]}」")
        maximum = limit(Inspection, field)
        if len(value) > maximum:
            raise InspectionError(
                f"「{FIELDS[field]}」不能超过 {maximum} 个字(现有 {len(value)} 个字)"
            )
    return texts


def record(
    *,
    session: Session,
    round_id: int,
    target_id: int,
    inspector: str,
    visited_on: date,
    checked: str,
    findings: str,
    recorded_by: int | None = None,
    today: date | None = None,
) -> Inspection:
    """Record one finding about a branch of the round. The same finding sent twice (a double
    tap) is stored once: the second call returns the first."""
    _open_round(session, round_id)
    _branch_target(session, round_id, target_id)
    if visited_on > (today or date.today()):
        raise InspectionError("调研日期不能晚于今天")
    texts = _texts(inspector, checked, findings)
    same = session.exec(
        select(Inspection).where(
            Inspection.target_id == target_id,
            Inspection.visited_on == visited_on,
            Inspection.inspector == texts["inspector"],
            Inspection.checked == texts["checked"],
            Inspection.findings == texts["findings"],
            Inspection.recorded_by == recorded_by,
        )
    ).first()
    if same is not None:
        return same
    inspection = Inspection(
        round_id=round_id,
        target_id=target_id,
        visited_on=visited_on,
        recorded_by=recorded_by,
        inspector=texts["inspector"],
        checked=texts["checked"],
        findings=texts["findings"],
    )

    session.add(inspection)
    session.flush()
    return inspection


def for_branch(*, session: Session, target_id: int) -> list[Inspection]:
    """The branch's findings in its round, by date of the visit."""
    query = select(Inspection).where(Inspection.target_id == target_id)
    return list(session.exec(query.order_by(col(Inspection.visited_on), col(Inspection.id))))


def delete(
    *, session: Session, inspection_id: int, recorded_by: int | None = None
) -> Inspection | None:
    """Delete a finding while the round is open; with `recorded_by` (an account id), only one
    that account recorded (the office passes None and may delete any). Deleting one that is
    already gone (a double tap) does nothing and returns None."""
    inspection = session.get(Inspection, inspection_id)
    if inspection is None:
        return None
    _open_round(session, inspection.round_id)
    if recorded_by is not None and inspection.recorded_by != recorded_by:
        raise InspectionError("只能删除自己记录的调研督查情况")
    session.delete(inspection)
    session.flush()
    return inspection


@dataclass(frozen=True)
class BranchProgress:
    """A branch of the round and how many findings it has."""

    target_id: int
    branch: str
    findings: int

    @property
    def done(self) -> bool:
        return self.findings > 0


def progress(*, session: Session, round_id: int) -> list[BranchProgress]:
    """Every branch of the round, in order, with its number of findings (0: not visited)."""
    counts = dict(
        session.exec(
            select(Inspection.target_id, func.count())
            .where(Inspection.round_id == round_id)
            .group_by(col(Inspection.target_id))
        ).all()
    )
    branches = session.exec(
        select(Target)
        .where(Target.round_id == round_id, Target.kind == TargetKind.BRANCH)
        .order_by(col(Target.position))
    )
    return [
        BranchProgress(target_id=t.id, branch=t.name, findings=counts.get(t.id, 0))
        for t in branches
    ]
