"""Rounds: create one, open it (targets and assignments fixed from the rules), find it again."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, col, func, select

from pingyi import criteria, groups, rules
from pingyi.models import (
    STEP_LABELS,
    Branch,
    LeaderAssignment,
    MassAssignment,
    Member,
    Round,
    Setting,
    Step,
    Target,
    TargetKind,
    Unit,
    UnitKind,
)

RULES_SETTING = "rules"


class RoundError(ValueError):
    """A request about rounds that cannot be done; the message is for the office, in Chinese."""


def office_rules(*, session: Session) -> list[dict[str, Any]]:
    """The rules new rounds start from: the office's own, or the 方案's defaults."""
    stored = session.get(Setting, RULES_SETTING)
    return list(stored.value) if stored else [dict(r) for r in rules.DEFAULT_RULES]


def save_office_rules(*, session: Session, new_rules: list[dict[str, Any]]) -> None:
    rules.parse_rules(new_rules)  # refuse nonsense before it is stored
    stored = session.get(Setting, RULES_SETTING) or Setting(key=RULES_SETTING, value=[])
    stored.value = new_rules
    session.add(stored)
    session.flush()


def current_roster(*, session: Session) -> rules.Roster:
    """The active roster as the rules engine sees it."""
    organ_units = set(session.exec(select(Unit.id).where(Unit.kind == UnitKind.ORGAN)))
    branches = list(session.exec(select(Branch).where(col(Branch.active)).order_by(col(Branch.id))))
    branch_names = {b.id: b.name for b in branches}
    people = tuple(
        rules.Person(
            id=m.id,  # type: ignore[arg-type]
            roster_id=m.roster_id,
            name=m.name,
            branch=branch_names.get(m.branch_id) if m.branch_id else None,
            organ=m.unit_id in organ_units,
            is_party_secretary=m.is_party_secretary,
            is_leadership=m.is_leadership,
            is_cadre=m.is_cadre,
            is_branch_secretary=m.is_branch_secretary,
            is_elderly=m.is_elderly,
        )
        for m in session.exec(select(Member).where(col(Member.active)).order_by(col(Member.id)))
    )
    active_ids = {p.id for p in people}
    # A liaison who has left is no liaison: the office should see 没有联系班子成员.
    infos = tuple(
        rules.BranchInfo(
            name=b.name,
            organ=b.unit_id in organ_units,
            liaison=b.liaison_id if b.liaison_id in active_ids else None,
        )
        for b in branches
    )
    return rules.Roster(people=people, branches=infos)


def create_round(
    *,
    session: Session,
    name: str,
    quarter: str,
    starts_on: date | None = None,
    ends_on: date | None = None,
) -> Round:
    """A new round in 筹备, with its own copy of the criteria, scale and rules."""
    name = name.strip()
    if not name:
        raise RoundError("请填写评议轮次的名称")
    if session.exec(select(Round).where(Round.name == name)).first() is not None:
        raise RoundError(f"已有名为「{name}」的评议轮次")
    if starts_on and ends_on and ends_on < starts_on:
        raise RoundError("结束日期不能早于开始日期")
    round_ = Round(
        name=name,
        quarter=quarter.strip(),
        starts_on=starts_on,
        ends_on=ends_on,
        step=Step.DRAFT,
        rules=office_rules(session=session),
    )
    session.add(round_)
    session.flush()
    criteria.copy_defaults_to_round(session=session, round_=round_)
    return round_


def preview(*, session: Session, round_: Round | None = None) -> rules.Assignments:
    """What the rules give on today's roster: for the office to check before opening."""
    rule_list = round_.rules if round_ is not None else office_rules(session=session)
    return rules.assignments(current_roster(session=session), rule_list)


def open_round(
    *, session: Session, round_: Round, allow_problems: bool = False
) -> rules.Assignments:
    """Fix the round's targets and assignments from the rules and start 自我小结."""
    if round_.step != Step.DRAFT:
        raise RoundError(f"「{round_.name}」已经开始,不能再次开启")
    roster = current_roster(session=session)
    result = rules.assignments(roster, round_.rules)
    if result.problems and not allow_problems:
        raise RoundError(
            "评议关系还有问题,请先处理:\n" + "\n".join(p.message for p in result.problems)
        )
    _materialize(session=session, round_=round_, roster=roster, result=result)
    round_.step = Step.SELF_SUMMARY
    session.add(round_)
    session.flush()
    return result


def _materialize(
    *, session: Session, round_: Round, roster: rules.Roster, result: rules.Assignments
) -> None:
    branch_ids = {b.name: b.id for b in session.exec(select(Branch))}
    target_ids: dict[rules.TargetRef, int] = {}
    for position, ref in enumerate(result.targets):
        target = _target_row(round_.id, ref, roster, branch_ids, position)  # type: ignore[arg-type]
        session.add(target)
        session.flush()
        target_ids[ref] = target.id  # type: ignore[assignment]
    group_ids = {key: g.id for key, g in groups.by_key(session=session).items()}
    session.add_all(
        LeaderAssignment(
            round_id=round_.id,  # type: ignore[arg-type]
            reviewer_id=review.reviewer,
            target_id=target_ids[review.target],
            rule=review.rule.label,
        )
        for review in result.leader
    )
    session.add_all(
        MassAssignment(
            round_id=round_.id,  # type: ignore[arg-type]
            group_id=group_ids[evaluation.group],  # type: ignore[arg-type]
            target_id=target_ids[evaluation.target],
        )
        for evaluation in result.mass
    )
    session.flush()


def _target_row(
    round_id: int,
    ref: rules.TargetRef,
    roster: rules.Roster,
    branch_ids: dict[str, int | None],
    position: int,
) -> Target:
    template = rules.template_of(ref, roster)
    if ref.kind is TargetKind.MEMBER:
        person = roster.person(int(ref.ref))  # type: ignore[arg-type]
        return Target(
            round_id=round_id,
            kind=ref.kind,
            template_key=template,
            member_id=person.id,
            branch_id=branch_ids.get(person.branch) if person.branch else None,
            name=person.name,
            branch_name=person.branch or "",
            position=position,
        )
    if ref.kind is TargetKind.BRANCH:
        return Target(
            round_id=round_id,
            kind=ref.kind,
            template_key=template,
            branch_id=branch_ids[str(ref.ref)],
            name=str(ref.ref),
            branch_name=str(ref.ref),
            position=position,
        )
    return Target(
        round_id=round_id,
        kind=ref.kind,
        template_key=template,
        name=ref.label(roster),
        position=position,
    )


def list_rounds(*, session: Session) -> list[Round]:
    return list(session.exec(select(Round).order_by(col(Round.id).desc())))


def current(*, session: Session) -> Round | None:
    """The newest round that is open (past 筹备, not 已结束)."""
    return session.exec(
        select(Round)
        .where(col(Round.step).not_in([Step.DRAFT, Step.CLOSED]))
        .order_by(col(Round.id).desc())
    ).first()


def resolve(*, session: Session, id_or_name: str | None) -> Round:
    """`--round ID_OR_NAME` as a Round; without one, the current open round."""
    if not id_or_name:
        round_ = current(session=session)
        if round_ is None:
            raise RoundError("没有进行中的评议轮次;请用 --round 指定轮次")
        return round_
    round_ = session.exec(select(Round).where(Round.name == id_or_name)).first()
    if round_ is None and id_or_name.isdigit():
        round_ = session.get(Round, int(id_or_name))
    if round_ is None:
        raise RoundError(f"找不到评议轮次「{id_or_name}」")
    return round_


STEPS = list(Step)  # in the 方案's order: 筹备, the five steps, 已结束


def set_step(*, session: Session, round_: Round, step: Step) -> Round:
    """Move an opened round to any step but 筹备 (opening it is `open_round`'s work)."""
    if round_.step == Step.DRAFT:
        raise RoundError(f"「{round_.name}」还在筹备,请先开启")
    if step == Step.DRAFT:
        raise RoundError("已开启的轮次不能退回筹备")
    round_.step = step
    session.add(round_)
    session.flush()
    return round_


def advance(*, session: Session, round_: Round) -> Step:
    """The next step of the 方案; after 整改落实 the round is 已结束."""
    if round_.step == Step.CLOSED:
        raise RoundError(f"「{round_.name}」已结束")
    following = STEPS[STEPS.index(Step(round_.step)) + 1]
    set_step(session=session, round_=round_, step=following)
    return following


def parse_step(text: str) -> Step:
    """A step by its key (review) or its Chinese name (开展点评)."""
    for step in Step:
        if text.strip() in (step.value, STEP_LABELS[step]):
            return step
    known = "、".join(STEP_LABELS[step] for step in Step)
    raise RoundError(f"没有阶段「{text}」;可选:{known}")


def targets_of(*, session: Session, round_id: int) -> list[Target]:
    return list(
        session.exec(
            select(Target).where(Target.round_id == round_id).order_by(col(Target.position))
        )
    )


def count_targets(*, session: Session, round_id: int) -> int:
    return session.exec(
        select(func.count()).select_from(Target).where(Target.round_id == round_id)
    ).one()
