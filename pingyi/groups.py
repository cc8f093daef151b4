"""The three 群众评议 evaluator groups of the 方案 and their expected headcounts."""

from __future__ import annotations

from sqlmodel import Session, col, select

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
