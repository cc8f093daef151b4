"""The three 群众评议 evaluator groups of the 方案 and their expected headcounts."""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import Session, col, select
from typing_extensions import TypeIs

from pingyi import audit
from pingyi.models import EvaluatorGroup, GroupKey

GROUP_LABELS: dict[GroupKey, str] = {
    GroupKey.ALL_STAFF: "局全体工作人员",
    GroupKey.UNIT_STAFF: "基层单位工作人员",
    GroupKey.VENDORS: "市场经营户",
}


def seed_groups(*, session: Session) -> None:
    existing = {group.key for group in session.exec(select(EvaluatorGroup))}
    for key, name in GROUP_LABELS.items():
        if key not in existing:
            session.add(EvaluatorGroup(key=key, name=name, headcount=0))
    session.flush()


def all_groups(*, session: Session) -> list[EvaluatorGroup]:
    return list(session.exec(select(EvaluatorGroup).order_by(col(EvaluatorGroup.id))))


def by_key(*, session: Session) -> dict[GroupKey, EvaluatorGroup]:
    return {GroupKey(group.key): group for group in all_groups(session=session)}


def set_headcounts(*, session: Session, headcounts: dict[GroupKey, int]) -> None:
    groups = by_key(session=session)
    for key, headcount in headcounts.items():
        if headcount < 0:
            raise ValueError(f"{GROUP_LABELS[key]}的人数不能为负数")
        groups[key].headcount = headcount
        session.add(groups[key])
    session.flush()


MAX_HEADCOUNT = 1_000_000  # far above any bureau; keeps the count inside a 32-bit column


class HeadcountError(ValueError):
    """Headcounts that cannot be stored; the message is for the office, in Chinese."""


def headcount_problems(headcounts: Mapping[GroupKey, object]) -> list[str]:
    """Every reason, in Chinese, why these headcounts cannot be stored."""
    problems = []
    for key, value in headcounts.items():
        label = GROUP_LABELS.get(key, str(key))
        if key not in GROUP_LABELS:
            problems.append(f"没有评议群体「{label}」")
        elif not _is_whole(value):
            problems.append(f"{label}的人数应为整数")
        elif value < 0:
            problems.append(f"{label}的人数不能为负数")
        elif value > MAX_HEADCOUNT:
            problems.append(f"{label}的人数不能超过 {MAX_HEADCOUNT:,}")
    return problems


def _is_whole(value: object) -> TypeIs[int | float]:
    """An int, or a float without a fraction (number inputs and tables give floats)."""
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


def update_headcounts(
    *, session: Session, headcounts: Mapping[GroupKey, object], actor: str
) -> dict[GroupKey, tuple[int, int]]:
    """Store the office's headcounts (all or none); returns each change as (before, after)."""
    problems = headcount_problems(headcounts)
    if problems:
        raise HeadcountError(";".join(problems))
    groups = by_key(session=session)
    wanted = {GroupKey(key): int(value) for key, value in headcounts.items() if _is_whole(value)}
    changes = {
        key: (groups[key].headcount, count)
        for key, count in wanted.items()
        if groups[key].headcount != count
    }
    set_headcounts(session=session, headcounts=wanted)
    moved = (f"{GROUP_LABELS[key]} {old} → {new}" for key, (old, new) in changes.items())
    audit.record(
        session=session,
        actor=actor,
        action=audit.Action.EDIT_HEADCOUNTS,
        detail=";".join(moved) or "人数未变",
    )
    return changes
