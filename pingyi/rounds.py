"""Rounds: create one, open it (targets and assignments fixed from the rules), find it again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeVar

from sqlmodel import Session, col, func, select

from pingyi import audit, criteria, evaluation, groups, rules, summaries
from pingyi.audit import Action
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
NAME_LENGTH, QUARTER_LENGTH = 100, 10  # Round.name and Round.quarter


class RoundError(ValueError):
    """A request about rounds that cannot be done; the message is for the office, in Chinese."""


def office_rules(*, session: Session) -> list[rules.Rule]:
    """The rules new rounds start from: the office's own, or the 方案's defaults."""
    stored = session.get(Setting, RULES_SETTING)
    return rules.rules_from_json(stored.value) if stored else list(rules.DEFAULT_RULES)


def save_office_rules(*, session: Session, new_rules: Sequence[rules.Rule]) -> None:
    stored = session.get(Setting, RULES_SETTING) or Setting(key=RULES_SETTING, value=[])
    stored.value = rules.rules_to_json(new_rules)
    session.add(stored)
    session.flush()


def round_rules(round_: Round) -> list[rules.Rule]:
    """The rules of a round; Round.rules is their JSON, read and written only here."""
    return rules.rules_from_json(round_.rules)


def current_roster(*, session: Session) -> rules.Roster:
    """The active roster as the rules engine sees it."""
    organ_units = set(session.exec(select(Unit.id).where(Unit.kind == UnitKind.ORGAN)))
    branches = list(session.exec(select(Branch).where(col(Branch.active)).order_by(col(Branch.id))))
    branch_names = {b.id: b.name for b in branches}
    people = tuple(
        rules.Person(
            id=m.id,
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
    actor: str,
) -> Round:
    """A new round in 筹备, with its own copy of the criteria, scale and rules."""
    name, quarter = name.strip(), quarter.strip()
    if not name:
        raise RoundError("请填写评议轮次的名称")
    # The columns' sizes: PostgreSQL would refuse longer text with an error, not a message.
    if len(name) > NAME_LENGTH:
        raise RoundError(f"名称不能超过 {NAME_LENGTH} 个字")
    if len(quarter) > QUARTER_LENGTH:
        raise RoundError(f"季度不能超过 {QUARTER_LENGTH} 个字")
    if session.exec(select(Round).where(Round.name == name)).first() is not None:
        raise RoundError(f"已有名为「{name}」的评议轮次")
    if starts_on and ends_on and ends_on < starts_on:
        raise RoundError("结束日期不能早于开始日期")
    round_ = Round(
        name=name,
        quarter=quarter,
        starts_on=starts_on,
        ends_on=ends_on,
        step=Step.DRAFT,
        rules=rules.rules_to_json(office_rules(session=session)),
    )
    session.add(round_)
    session.flush()
    criteria.copy_defaults_to_round(session=session, round_=round_)
    audit.record(session=session, actor=actor, action=Action.CREATE_ROUND, detail=round_.name)
    return round_


def preview(*, session: Session, round_: Round | None = None) -> rules.Assignments:
    """What the rules give on today's roster: for the office to check before opening."""
    rule_list = round_rules(round_) if round_ is not None else office_rules(session=session)
    return rules.assignments(current_roster(session=session), rule_list)


def open_round(
    *, session: Session, round_: Round, allow_problems: bool = False, actor: str
) -> rules.Assignments:
    """Fix the round's targets and assignments from the rules and start 自我小结."""
    if round_.step != Step.DRAFT:
        raise RoundError(f"「{round_.name}」已经开始,不能再次开启")
    roster = current_roster(session=session)
    result = rules.assignments(roster, round_rules(round_))
    if result.problems and not allow_problems:
        raise RoundError(
            "评议关系还有问题,请先处理:\n" + "\n".join(p.message for p in result.problems)
        )
    _materialize(session=session, round_=round_, roster=roster, result=result)
    round_.step = Step.SELF_SUMMARY
    session.add(round_)
    session.flush()
    # The new 自我小结 looks back at the commitments not yet kept in the round before.
    summaries.carry_forward(session=session, round_=round_)
    audit.record(session=session, actor=actor, action=Action.OPEN_ROUND, detail=round_.name)
    return result


def _materialize(
    *, session: Session, round_: Round, roster: rules.Roster, result: rules.Assignments
) -> None:
    branch_ids = {b.name: b.id for b in session.exec(select(Branch))}
    target_ids: dict[rules.TargetRef, int] = {}
    for position, ref in enumerate(result.targets):
        target = _target_row(round_.id, ref, roster, branch_ids, position)
        session.add(target)
        session.flush()
        target_ids[ref] = target.id
    group_ids = {key: g.id for key, g in groups.by_key(session=session).items()}
    session.add_all(
        LeaderAssignment(
            round_id=round_.id,
            reviewer_id=review.reviewer,
            target_id=target_ids[review.target],
            rule=review.rule.label,
        )
        for review in result.leader
    )
    session.add_all(
        MassAssignment(
            round_id=round_.id,
            group_id=group_ids[evaluation.group],
            target_id=target_ids[evaluation.target],
        )
        for evaluation in result.mass
    )
    session.flush()


def _target_row(
    round_id: int,
    ref: rules.TargetRef,
    roster: rules.Roster,
    branch_ids: dict[str, int],
    position: int,
) -> Target:
    template = rules.template_of(ref, roster)
    if ref.kind is TargetKind.MEMBER:
        person = roster.person(ref.ref)
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


def set_step(*, session: Session, round_: Round, step: Step, actor: str) -> Round:
    """Move an opened round to any step but 筹备 (opening it is `open_round`'s work)."""
    if round_.step == Step.DRAFT:
        raise RoundError(f"「{round_.name}」还在筹备,请先开启")
    if step == Step.DRAFT:
        raise RoundError("已开启的轮次不能退回筹备")
    if step == Step.CLOSED:
        waiting = evaluation.open_groups(session=session, round_id=round_.id)
        if waiting:
            boxes = "、".join(f"{g.group_name} {g.in_box or g.cast} 票" for g in waiting)
            raise RoundError(
                f"票箱中还有未计票的评议票({boxes}):请先在会议大屏结束群众评议并开箱计票"
                "(或用 pingyi evaluation close),再结束本轮"
            )
    back = STEPS.index(step) < STEPS.index(Step(round_.step))
    round_.step = step
    session.add(round_)
    session.flush()
    arrow = "退回" if back else "→"
    detail = f"「{round_.name}」{arrow} {STEP_LABELS[step]}"
    audit.record(session=session, actor=actor, action=Action.MOVE_STEP, detail=detail)
    return round_


def advance(*, session: Session, round_: Round, actor: str) -> Step:
    """The next step of the 方案; after 整改落实 the round is 已结束."""
    if round_.step == Step.CLOSED:
        raise RoundError(f"「{round_.name}」已结束")
    following = STEPS[STEPS.index(Step(round_.step)) + 1]
    set_step(session=session, round_=round_, step=following, actor=actor)
    return following


class Outcome(StrEnum):
    CHANGED = "changed"
    ALREADY = "already"  # someone (or an earlier click) got there first: nothing to do
    REFUSED = "refused"


@dataclass(frozen=True)
class StepChange:
    outcome: Outcome
    message: str  # in Chinese, for the office: what happened, or why nothing did


def change_step(
    *, session: Session, round_id: int, seen: Step, step: Step, actor: str
) -> StepChange:
    """Move the round from the step the office saw to `step`. A page that is out of date (a
    second click, another office window) must not move the round once more from where it is
    now, so nothing changes unless the round is still at `seen`."""
    round_ = session.get(Round, round_id)
    if round_ is None:
        return StepChange(Outcome.REFUSED, "找不到该评议轮次")
    now = Step(round_.step)
    if now == step:
        return StepChange(Outcome.ALREADY, f"「{round_.name}」已在「{STEP_LABELS[step]}」阶段。")
    if now != seen:
        return StepChange(
            Outcome.REFUSED,
            f"「{round_.name}」现在是「{STEP_LABELS[now]}」阶段(页面已过期),未做改动。",
        )
    try:
        set_step(session=session, round_=round_, step=step, actor=actor)
    except RoundError as exc:  # e.g. a 票箱 still to be counted before 已结束
        return StepChange(Outcome.REFUSED, str(exc))
    done = "退回" if STEPS.index(step) < STEPS.index(seen) else "进入"
    return StepChange(Outcome.CHANGED, f"「{round_.name}」已{done}「{STEP_LABELS[step]}」阶段。")


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


# ---- the office edits the rules: its own (what new rounds copy) or a round's still in 筹备

RULE_KIND_LABELS: dict[rules.RuleKind, str] = {
    rules.RuleKind.LEADER: "领导点评",
    rules.RuleKind.MASS: "群众评议",
}
_KIND_BY_LABEL = {label: kind for kind, label in RULE_KIND_LABELS.items()}
_REVIEWER_BY_LABEL = {label: reviewer for reviewer, label in rules.REVIEWER_LABELS.items()}
_GROUP_BY_LABEL = {label: group for group, label in groups.GROUP_LABELS.items()}
_TARGETS_BY_LABEL = {label: targets for targets, label in rules.TARGETS_LABELS.items()}

_T = TypeVar("_T")


def rule_labels(rule: rules.Rule) -> tuple[str, str, str]:
    """A rule as the office reads it: (种类, 点评人或评议群体, 对象)."""
    return RULE_KIND_LABELS[rule.kind], rule.who, rules.TARGETS_LABELS[rule.targets]


def rule_from_labels(kind: str | None, who: str | None, targets: str | None) -> rules.Rule:
    """(种类, 点评人或评议群体, 对象) as a rule; RoundError with a Chinese reason when a label is
    missing or unknown, or the rule makes no sense (e.g. 支部书记点评局领导班子)."""
    if not kind:
        raise RoundError("规则无效:请选择种类(领导点评或群众评议)")
    if kind not in _KIND_BY_LABEL:
        raise RoundError(f"规则无效:无法识别的种类「{kind}」")
    leader = _KIND_BY_LABEL[kind] is rules.RuleKind.LEADER
    reviewer = _who(who, _REVIEWER_BY_LABEL, "点评人") if leader else None
    group = None if leader else _who(who, _GROUP_BY_LABEL, "评议群体")
    if not targets:
        raise RoundError("规则无效:请选择对象")
    if targets not in _TARGETS_BY_LABEL:
        raise RoundError(f"规则无效:无法识别的对象「{targets}」")
    try:
        return rules.Rule(
            _KIND_BY_LABEL[kind], _TARGETS_BY_LABEL[targets], reviewer=reviewer, group=group
        )
    except ValueError as exc:
        raise RoundError(str(exc)) from exc


def _who(label: str | None, known: dict[str, _T], role: str) -> _T:
    if not label:
        raise RoundError(f"规则无效:请选择{role}")
    if label not in known:
        raise RoundError(f"规则无效:{role}应为{'、'.join(known)}之一,而不是「{label}」")
    return known[label]


def rules_from_labels(
    rows: list[tuple[str | None, str | None, str | None]],
) -> list[rules.Rule]:
    """The office's table of rules as rules; rows left wholly empty are skipped.

    Every bad row is reported, with its number, in one RoundError.
    """
    result: list[rules.Rule] = []
    problems: list[str] = []
    for number, row in enumerate(rows, start=1):
        if not any(row):
            continue
        try:
            result.append(rule_from_labels(*row))
        except RoundError as exc:
            problems.append(f"第 {number} 条{exc}")
    if problems:
        raise RoundError(";".join(problems))
    return result


def rules_problems(rule_list: Sequence[rules.Rule]) -> list[str]:
    """Every reason, in Chinese and by row number, why these rules cannot be stored (each
    rule makes sense by itself: a Rule cannot be made otherwise)."""
    if not rule_list:
        return ["请至少保留一条评议规则"]
    problems: list[str] = []
    seen: dict[rules.Rule, int] = {}
    for number, rule in enumerate(rule_list, start=1):
        if rule in seen:
            problems.append(f"第 {number} 条规则与第 {seen[rule]} 条重复")
        seen.setdefault(rule, number)
    return problems


def rules_of(*, session: Session, round_id: int | None) -> list[rules.Rule]:
    """The rules of a round, or the office's own (round_id None)."""
    if round_id is None:
        return office_rules(session=session)
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise RoundError("找不到该评议轮次")
    return round_rules(round_)


def save_rules(
    *, session: Session, round_id: int | None, new_rules: Sequence[rules.Rule], actor: str
) -> list[rules.Rule]:
    """Store the rules of the office (round_id None) or of a round still in 筹备; a round
    that has been opened is frozen. Returns the rules as stored."""
    round_ = criteria.editable_round(session=session, round_id=round_id)
    problems = rules_problems(new_rules)
    if problems:
        raise RoundError(";".join(problems))
    if round_ is None:
        save_office_rules(session=session, new_rules=new_rules)
    else:
        round_.rules = rules.rules_to_json(new_rules)
        session.add(round_)
        session.flush()
    audit.record(
        session=session,
        actor=actor,
        action=Action.EDIT_RULES,
        detail=f"{criteria.place(round_)}:共 {len(new_rules)} 条规则",
    )
    return list(new_rules)
