"""Who reviews and evaluates whom (方案 section 三), as data with the seed's defaults.

`assignments(roster, rules)` is pure: it turns a roster snapshot and a list of rules into every
leader review (reviewer → target), every mass evaluation (group → target) and the problems the
office must see before it opens a round.

Rules apply in order and a target already given a reviewer by an earlier rule of the same kind
is skipped: the 方案 says 「其他党员干部」「其他机关党员」, so each person has one leader reviewer
and one evaluator group. A rule is a `Rule`, stored as JSON so the office can keep and edit its
own 方案.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from pingyi.groups import GROUP_LABELS
from pingyi.models import GroupKey, TargetKind, TemplateKey

# ---- the roster as the rules see it


@dataclass(frozen=True)
class Person:
    id: int
    roster_id: str
    name: str
    branch: str | None
    organ: bool  # works in the 机关
    is_party_secretary: bool = False
    is_leadership: bool = False
    is_cadre: bool = False
    is_branch_secretary: bool = False
    is_elderly: bool = False

    @property
    def in_team(self) -> bool:
        """The 党组书记 sits in the 领导班子 too."""
        return self.is_leadership or self.is_party_secretary

    @property
    def template(self) -> TemplateKey:
        return TemplateKey.LEADER if self.in_team or self.is_cadre else TemplateKey.MEMBER

    @property
    def label(self) -> str:
        return f"{self.name}({self.roster_id})"


@dataclass(frozen=True)
class BranchInfo:
    name: str
    organ: bool  # the 机关党支部
    liaison: int | None = None  # Person.id of the 联系班子成员


@dataclass(frozen=True)
class Roster:
    people: tuple[Person, ...]
    branches: tuple[BranchInfo, ...]

    def person(self, ref: int | str | None) -> Person:
        """The person a member target's ref names (a TargetRef keeps it as int or text)."""
        if ref is None:
            raise KeyError("a member target without its person")
        return self._people_by_id[int(ref)]

    @functools.cached_property
    def _people_by_id(self) -> dict[int, Person]:
        return {p.id: p for p in self.people}

    @functools.cached_property
    def _people_by_branch(self) -> dict[str | None, list[Person]]:
        grouped: dict[str | None, list[Person]] = defaultdict(list)
        for person in self.people:
            grouped[person.branch].append(person)
        return grouped

    def members_of(self, branch: str) -> list[Person]:
        return list(self._people_by_branch.get(branch, ()))

    def secretaries_of(self, branch: str) -> list[Person]:
        return [p for p in self.members_of(branch) if p.is_branch_secretary]

    def target_of(self, person: Person) -> TargetRef:
        """A person listed twice (two branches) is one target: their first listing."""
        return member_ref(self._first_listing[person.roster_id])

    @functools.cached_property
    def _first_listing(self) -> dict[str, Person]:
        first: dict[str, Person] = {}
        for person in self.people:
            first.setdefault(person.roster_id, person)
        return first


@dataclass(frozen=True)
class TargetRef:
    kind: TargetKind
    ref: int | str | None = None  # Person.id, branch name, or None for the 领导班子

    def label(self, roster: Roster) -> str:
        if self.kind is TargetKind.TEAM:
            return "局领导班子"
        if self.kind is TargetKind.BRANCH:
            return str(self.ref)
        return roster.person(self.ref).label


TEAM = TargetRef(TargetKind.TEAM)


def member_ref(person: Person) -> TargetRef:
    return TargetRef(TargetKind.MEMBER, person.id)


def branch_ref(branch: BranchInfo) -> TargetRef:
    return TargetRef(TargetKind.BRANCH, branch.name)


# ---- rules


class Reviewer(StrEnum):
    PARTY_SECRETARY = "party_secretary"  # 党组书记
    BRANCH_LIAISON = "branch_liaison"  # 联系班子成员
    BRANCH_SECRETARY = "branch_secretary"  # 支部书记


REVIEWER_LABELS: dict[Reviewer, str] = {
    Reviewer.PARTY_SECRETARY: "党组书记",
    Reviewer.BRANCH_LIAISON: "联系班子成员",
    Reviewer.BRANCH_SECRETARY: "支部书记",
}


class Targets(StrEnum):
    TEAM = "team"  # 局领导班子
    LEADERSHIP_MEMBERS = "leadership_members"  # 班子成员 (with the 党组书记)
    ORGAN_MEMBERS = "organ_members"  # 机关党员
    ORGAN_BRANCH = "organ_branch"  # 机关党支部
    GRASSROOTS_MEMBERS = "grassroots_members"  # 基层单位党员
    OWN_BRANCH = "own_branch"  # the branches a liaison is linked to, not the 机关党支部
    OWN_BRANCH_SECRETARY = "own_branch_secretary"
    OWN_BRANCH_CADRES = "own_branch_cadres"  # 党员干部 of those branches
    OWN_BRANCH_OTHERS = "own_branch_others"  # the secretary's branch, but the secretary


TARGETS_LABELS: dict[Targets, str] = {
    Targets.TEAM: "局领导班子",
    Targets.LEADERSHIP_MEMBERS: "班子成员",
    Targets.ORGAN_MEMBERS: "机关党员",
    Targets.ORGAN_BRANCH: "机关党支部",
    Targets.GRASSROOTS_MEMBERS: "基层单位党员",
    Targets.OWN_BRANCH: "所联系的党支部",
    Targets.OWN_BRANCH_SECRETARY: "所联系党支部的支部书记",
    Targets.OWN_BRANCH_CADRES: "所联系党支部的党员干部",
    Targets.OWN_BRANCH_OTHERS: "本支部其他党员",
}

# Which target sets make sense for whom: a liaison's own branch means nothing to a group.
_REVIEWER_TARGETS: dict[Reviewer, frozenset[Targets]] = {
    Reviewer.PARTY_SECRETARY: frozenset(
        {
            Targets.TEAM,
            Targets.LEADERSHIP_MEMBERS,
            Targets.ORGAN_MEMBERS,
            Targets.ORGAN_BRANCH,
            Targets.GRASSROOTS_MEMBERS,
        }
    ),
    Reviewer.BRANCH_LIAISON: frozenset(
        {Targets.OWN_BRANCH, Targets.OWN_BRANCH_SECRETARY, Targets.OWN_BRANCH_CADRES}
    ),
    Reviewer.BRANCH_SECRETARY: frozenset({Targets.OWN_BRANCH_OTHERS}),
}
_GROUP_TARGETS = frozenset(
    {Targets.TEAM, Targets.LEADERSHIP_MEMBERS, Targets.ORGAN_MEMBERS, Targets.GRASSROOTS_MEMBERS}
)


class RuleKind(StrEnum):
    LEADER = "leader"  # 领导点评
    MASS = "mass"  # 群众评议


@dataclass(frozen=True)
class Rule:
    """One rule of the 方案; only a rule that makes sense can be made (ValueError, in Chinese).

    Stored as JSON (`to_json`, `from_json`): {"kind": "leader", "reviewer": …, "targets": …}
    or {"kind": "mass", "group": …, "targets": …}, the shape every release has stored.
    """

    kind: RuleKind
    targets: Targets
    reviewer: Reviewer | None = None
    group: GroupKey | None = None

    def __post_init__(self) -> None:
        if self.kind is RuleKind.LEADER:
            if self.reviewer is None:
                raise ValueError(_missing("reviewer"))
            if self.group is not None:
                raise ValueError("规则无效:领导点评没有评议群体")
            if self.targets not in _REVIEWER_TARGETS[self.reviewer]:
                raise ValueError(
                    f"规则无效:{REVIEWER_LABELS[self.reviewer]}不能点评{TARGETS_LABELS[self.targets]}"
                )
            return
        if self.reviewer is not None:
            raise ValueError("规则无效:群众评议没有点评人")
        if self.targets not in _GROUP_TARGETS:
            raise ValueError(f"规则无效:群众不能评议{TARGETS_LABELS[self.targets]}")
        if self.group is None:
            raise ValueError(_missing("group"))

    @property
    def who(self) -> str:
        """The reviewer kind of a leader rule, the evaluator group of a mass rule."""
        if self.reviewer is not None:
            return REVIEWER_LABELS[self.reviewer]
        assert self.group is not None  # __post_init__ lets no rule through without either
        return GROUP_LABELS[self.group]

    @property
    def label(self) -> str:
        verb = "点评" if self.kind is RuleKind.LEADER else "评议"
        return f"{self.who}{verb}{TARGETS_LABELS[self.targets]}"

    def to_json(self) -> dict[str, str]:
        data = {"kind": self.kind.value, "targets": self.targets.value}
        if self.reviewer is not None:
            data["reviewer"] = self.reviewer.value
        if self.group is not None:
            data["group"] = self.group.value
        return data

    @classmethod
    def from_json(cls, data: object) -> Rule:
        """A stored rule; a ValueError with a Chinese reason when it makes no sense. Keys
        that do not belong to its kind are ignored, as every release has done."""
        if not isinstance(data, dict):
            raise ValueError(f"规则无效:每条规则应是一组字段,而不是 {data!r}")
        kind = data.get("kind")
        if kind not in tuple(RuleKind):
            raise ValueError(f"规则无效:种类应为 leader 或 mass,而不是 {kind!r}")
        targets = _field(data, "targets", Targets)
        if kind == RuleKind.LEADER:
            return cls(RuleKind.LEADER, targets, reviewer=_field(data, "reviewer", Reviewer))
        if targets not in _GROUP_TARGETS:  # said before a missing group, as ever
            raise ValueError(f"规则无效:群众不能评议{TARGETS_LABELS[targets]}")
        return cls(RuleKind.MASS, targets, group=_field(data, "group", GroupKey))


_E = TypeVar("_E", bound=StrEnum)
_FIELD_LABELS = {"targets": "点评或评议对象", "reviewer": "点评人", "group": "评议群体"}


def _missing(name: str) -> str:
    return f"规则无效:缺少{_FIELD_LABELS[name]}({name})"


def _field(data: dict[str, Any], name: str, enum: type[_E]) -> _E:
    # Enum lookups fail in English ("'x' is not a valid Targets"): the office reads Chinese.
    if name not in data:
        raise ValueError(_missing(name))
    try:
        return enum(data[name])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"规则无效:无法识别的{_FIELD_LABELS[name]} {data[name]!r}") from exc


def rules_from_json(stored: object) -> list[Rule]:
    """Stored rules (a JSON list) as Rules; ValueError, in Chinese, on the first bad one."""
    if not isinstance(stored, list):
        raise ValueError(f"规则无效:评议规则应是一个列表,而不是 {stored!r}")
    return [Rule.from_json(data) for data in stored]


def rules_to_json(rules: Iterable[Rule]) -> list[dict[str, str]]:
    return [rule.to_json() for rule in rules]


def _leader(reviewer: Reviewer, targets: Targets) -> Rule:
    return Rule(RuleKind.LEADER, targets, reviewer=reviewer)


def _mass(group: GroupKey, targets: Targets) -> Rule:
    return Rule(RuleKind.MASS, targets, group=group)


DEFAULT_RULES: tuple[Rule, ...] = (
    _leader(Reviewer.PARTY_SECRETARY, Targets.LEADERSHIP_MEMBERS),
    _leader(Reviewer.PARTY_SECRETARY, Targets.ORGAN_MEMBERS),
    _leader(Reviewer.PARTY_SECRETARY, Targets.ORGAN_BRANCH),
    _leader(Reviewer.BRANCH_LIAISON, Targets.OWN_BRANCH),
    _leader(Reviewer.BRANCH_LIAISON, Targets.OWN_BRANCH_SECRETARY),
    _leader(Reviewer.BRANCH_LIAISON, Targets.OWN_BRANCH_CADRES),
    _leader(Reviewer.BRANCH_SECRETARY, Targets.OWN_BRANCH_OTHERS),
    _mass(GroupKey.ALL_STAFF, Targets.TEAM),
    _mass(GroupKey.ALL_STAFF, Targets.LEADERSHIP_MEMBERS),
    _mass(GroupKey.UNIT_STAFF, Targets.ORGAN_MEMBERS),
    _mass(GroupKey.VENDORS, Targets.GRASSROOTS_MEMBERS),
)


# ---- results


@dataclass(frozen=True)
class LeaderReview:
    reviewer: int  # Person.id
    target: TargetRef
    template: TemplateKey
    rule: Rule


@dataclass(frozen=True)
class MassEvaluation:
    group: GroupKey
    target: TargetRef
    template: TemplateKey
    rule: Rule


class ProblemKind(StrEnum):
    UNREVIEWED = "unreviewed"  # no leader reviewer
    UNEVALUATED = "unevaluated"  # nobody at all
    NO_SECRETARY = "no_secretary"
    TWO_SECRETARIES = "two_secretaries"
    NO_LIAISON = "no_liaison"
    SELF_REVIEW = "self_review"
    TWO_BRANCHES = "two_branches"


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    message: str
    target: TargetRef | None = None


@dataclass(frozen=True)
class Assignments:
    targets: tuple[TargetRef, ...]
    leader: tuple[LeaderReview, ...]
    mass: tuple[MassEvaluation, ...]
    problems: tuple[Problem, ...] = field(default=())

    def leader_counts(self) -> dict[str, int]:
        """Leader reviews per reviewer kind, in the rules' order."""
        return dict(Counter(a.rule.who for a in self.leader))

    def mass_counts(self) -> dict[str, int]:
        return dict(Counter(GROUP_LABELS[a.group] for a in self.mass))

    def reviews_by(self, person_id: int) -> list[LeaderReview]:
        return [a for a in self.leader if a.reviewer == person_id]

    def evaluated_by(self, group: GroupKey) -> list[MassEvaluation]:
        return [a for a in self.mass if a.group == group]


def all_targets(roster: Roster) -> tuple[TargetRef, ...]:
    """Every branch, the 领导班子, every member: the targets of a round."""
    return (
        *(branch_ref(b) for b in roster.branches),
        TEAM,
        *(member_ref(p) for p in _unique_people(roster)),
    )


def template_of(target: TargetRef, roster: Roster) -> TemplateKey:
    if target.kind is TargetKind.BRANCH:
        return TemplateKey.BRANCH
    if target.kind is TargetKind.TEAM:
        return TemplateKey.TEAM
    return roster.person(target.ref).template


def assignments(roster: Roster, rules: Sequence[Rule] = DEFAULT_RULES) -> Assignments:
    problems: list[Problem] = []
    leader = _leader_reviews(roster, [r for r in rules if r.kind is RuleKind.LEADER], problems)
    mass = _mass_evaluations(roster, [r for r in rules if r.kind is RuleKind.MASS])
    targets = all_targets(roster)
    problems.extend(_roster_problems(roster))
    problems.extend(_coverage_problems(roster, targets, leader, mass))
    return Assignments(targets, tuple(leader), tuple(mass), tuple(problems))


def _unique_people(roster: Roster) -> list[Person]:
    seen: set[str] = set()
    people = []
    for person in roster.people:
        if person.roster_id not in seen:
            seen.add(person.roster_id)
            people.append(person)
    return people


def _leader_reviews(
    roster: Roster, rules: list[Rule], problems: list[Problem]
) -> list[LeaderReview]:
    reviews: list[LeaderReview] = []
    covered: set[TargetRef] = set()
    for rule in rules:
        assert rule.reviewer is not None
        newly: set[TargetRef] = set()
        for reviewer in _reviewers(roster, rule.reviewer):
            for target in _leader_targets(roster, rule, reviewer):
                if target in covered:
                    continue
                if target == member_ref(reviewer):
                    # The 党组书记 is reviewed by the level above, not by the app's rules.
                    if rule.reviewer is not Reviewer.PARTY_SECRETARY:
                        problems.append(
                            Problem(
                                ProblemKind.SELF_REVIEW,
                                f"{reviewer.label}按规则「{rule.label}」要点评自己,"
                                "请另行指定点评人",
                                target,
                            )
                        )
                    continue
                newly.add(target)
                reviews.append(LeaderReview(reviewer.id, target, template_of(target, roster), rule))
        covered |= newly
    return reviews


def _reviewers(roster: Roster, reviewer: Reviewer) -> list[Person]:
    people = _unique_people(roster)
    if reviewer is Reviewer.PARTY_SECRETARY:
        return [p for p in people if p.is_party_secretary]
    if reviewer is Reviewer.BRANCH_LIAISON:
        liaisons = {b.liaison for b in roster.branches if b.liaison is not None}
        return [p for p in people if p.id in liaisons]
    return [p for p in people if p.is_branch_secretary]


def _leader_targets(roster: Roster, rule: Rule, reviewer: Person) -> list[TargetRef]:
    if rule.targets in _GROUP_TARGETS or rule.targets is Targets.ORGAN_BRANCH:
        return _shared_targets(roster, rule.targets)
    if rule.targets is Targets.OWN_BRANCH_OTHERS:
        branch = next((b for b in roster.branches if b.name == reviewer.branch), None)
        if branch is None or branch.organ:
            return []
        others = [p for p in roster.members_of(branch.name) if p.id != reviewer.id]
        return [roster.target_of(p) for p in others]
    linked = [b for b in roster.branches if b.liaison == reviewer.id and not b.organ]
    if rule.targets is Targets.OWN_BRANCH:
        return [branch_ref(b) for b in linked]
    wanted: Callable[[Person], bool] = (
        (lambda p: p.is_branch_secretary)
        if rule.targets is Targets.OWN_BRANCH_SECRETARY
        else (lambda p: p.is_cadre)
    )
    return [roster.target_of(p) for b in linked for p in roster.members_of(b.name) if wanted(p)]


def _shared_targets(roster: Roster, targets: Targets) -> list[TargetRef]:
    people = _unique_people(roster)
    if targets is Targets.TEAM:
        return [TEAM]
    if targets is Targets.ORGAN_BRANCH:
        return [branch_ref(b) for b in roster.branches if b.organ]
    chosen = {
        Targets.LEADERSHIP_MEMBERS: lambda p: p.in_team,
        Targets.ORGAN_MEMBERS: lambda p: p.organ,
        Targets.GRASSROOTS_MEMBERS: lambda p: not p.organ,
    }[targets]
    return [member_ref(p) for p in people if chosen(p)]


def _mass_evaluations(roster: Roster, rules: list[Rule]) -> list[MassEvaluation]:
    evaluations: list[MassEvaluation] = []
    covered: set[TargetRef] = set()
    for rule in rules:
        assert rule.group is not None
        newly = [t for t in _shared_targets(roster, rule.targets) if t not in covered]
        evaluations.extend(
            MassEvaluation(rule.group, target, template_of(target, roster), rule)
            for target in newly
        )
        covered.update(newly)
    return evaluations


def _roster_problems(roster: Roster) -> list[Problem]:
    problems: list[Problem] = []
    branches_of: dict[str, set[str | None]] = defaultdict(set)
    names: dict[str, str] = {}
    for person in roster.people:
        branches_of[person.roster_id].add(person.branch)
        names[person.roster_id] = person.name
    for roster_id, branches in branches_of.items():
        if len(branches) > 1:
            listed = "、".join(sorted(str(b) for b in branches))
            problems.append(
                Problem(
                    ProblemKind.TWO_BRANCHES,
                    f"{names[roster_id]}({roster_id})同时在多个党支部:{listed}",
                )
            )
    for branch in roster.branches:
        ref = branch_ref(branch)
        secretaries = roster.secretaries_of(branch.name)
        if not secretaries:
            problems.append(Problem(ProblemKind.NO_SECRETARY, f"{branch.name}没有支部书记", ref))
        elif len(secretaries) > 1:
            listed = "、".join(p.label for p in secretaries)
            problems.append(
                Problem(ProblemKind.TWO_SECRETARIES, f"{branch.name}有多名支部书记:{listed}", ref)
            )
        if not branch.organ and branch.liaison is None:
            problems.append(Problem(ProblemKind.NO_LIAISON, f"{branch.name}没有联系班子成员", ref))
    return problems


def _coverage_problems(
    roster: Roster,
    targets: Iterable[TargetRef],
    leader: list[LeaderReview],
    mass: list[MassEvaluation],
) -> list[Problem]:
    reviewed = {a.target for a in leader}
    evaluated = {a.target for a in mass}
    problems = []
    for target in targets:
        label = target.label(roster)
        if target not in reviewed and target not in evaluated:
            problems.append(
                Problem(ProblemKind.UNEVALUATED, f"{label}既没有点评领导,也没有评议群体", target)
            )
        elif target not in reviewed and _needs_leader_review(roster, target):
            problems.append(Problem(ProblemKind.UNREVIEWED, f"{label}没有点评领导", target))
    return problems


def _needs_leader_review(roster: Roster, target: TargetRef) -> bool:
    """Every branch and member has a 点评领导, but the 党组书记 (reviewed from above)."""
    if target.kind is TargetKind.TEAM:
        return False
    if target.kind is TargetKind.MEMBER:
        return not roster.person(target.ref).is_party_secretary
    return True
