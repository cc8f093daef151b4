"""The rules of 方案 section 三 (docs/DESIGN.md "Who reviews and evaluates whom"), a test
per rule.

The roster: a 党组书记 and three 班子成员 in the 机关党支部 (two link a grassroots branch each,
one links the 机关党支部, which the liaison rules skip), three more 机关 members, and two
grassroots branches of four: secretary, 党员干部, ordinary member, 年老体弱 member.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from pingyi import rules
from pingyi.models import GroupKey, TargetKind, TemplateKey
from pingyi.rules import (
    BranchInfo,
    Person,
    ProblemKind,
    Reviewer,
    Roster,
    Rule,
    RuleKind,
    TargetRef,
    Targets,
)

ORGAN = "机关党支部"
FIRST = "第一党支部"
SECOND = "第二党支部"

SECRETARY = 1  # 党组书记
DEPUTY_1, DEPUTY_2, DEPUTY_3 = 2, 3, 4  # 班子成员; liaisons of FIRST, SECOND, ORGAN
ORGAN_SECRETARY, ORGAN_CADRE, ORGAN_MEMBER = 10, 11, 12
FIRST_SECRETARY, FIRST_CADRE, FIRST_MEMBER, FIRST_ELDERLY = 20, 21, 22, 23
SECOND_SECRETARY, SECOND_CADRE, SECOND_MEMBER, SECOND_ELDERLY = 30, 31, 32, 33

TEAM_IDS = {SECRETARY, DEPUTY_1, DEPUTY_2, DEPUTY_3}
ORGAN_IDS = TEAM_IDS | {ORGAN_SECRETARY, ORGAN_CADRE, ORGAN_MEMBER}
FIRST_IDS = {FIRST_SECRETARY, FIRST_CADRE, FIRST_MEMBER, FIRST_ELDERLY}
SECOND_IDS = {SECOND_SECRETARY, SECOND_CADRE, SECOND_MEMBER, SECOND_ELDERLY}
GRASSROOTS_IDS = FIRST_IDS | SECOND_IDS


def _person(id_: int, name: str, branch: str | None, organ: bool, **flags: bool) -> Person:
    return Person(id=id_, roster_id=f"M{id_:03d}", name=name, branch=branch, organ=organ, **flags)


PEOPLE = (
    _person(SECRETARY, "王书记", ORGAN, True, is_party_secretary=True),
    _person(DEPUTY_1, "李副局", ORGAN, True, is_leadership=True),
    _person(DEPUTY_2, "张副局", ORGAN, True, is_leadership=True),
    _person(DEPUTY_3, "赵组长", ORGAN, True, is_leadership=True),
    _person(ORGAN_SECRETARY, "陈支书", ORGAN, True, is_branch_secretary=True),
    _person(ORGAN_CADRE, "刘主任", ORGAN, True, is_cadre=True),
    _person(ORGAN_MEMBER, "杨科员", ORGAN, True),
    _person(FIRST_SECRETARY, "黄支书", FIRST, False, is_branch_secretary=True),
    _person(FIRST_CADRE, "周所长", FIRST, False, is_cadre=True),
    _person(FIRST_MEMBER, "吴干事", FIRST, False),
    _person(FIRST_ELDERLY, "郑老", FIRST, False, is_elderly=True),
    _person(SECOND_SECRETARY, "孙支书", SECOND, False, is_branch_secretary=True),
    _person(SECOND_CADRE, "马站长", SECOND, False, is_cadre=True),
    _person(SECOND_MEMBER, "朱干事", SECOND, False),
    _person(SECOND_ELDERLY, "胡老", SECOND, False, is_elderly=True),
)
BRANCHES = (
    BranchInfo(ORGAN, organ=True, liaison=DEPUTY_3),
    BranchInfo(FIRST, organ=False, liaison=DEPUTY_1),
    BranchInfo(SECOND, organ=False, liaison=DEPUTY_2),
)


def roster(people: tuple[Person, ...] = PEOPLE, branches=BRANCHES) -> Roster:
    return Roster(people=people, branches=branches)


def changed(person_id: int, **changes: object) -> tuple[Person, ...]:
    """The roster's people with one person's fields changed."""
    return changed_many({person_id: changes})


def changed_many(changes: dict[int, dict[str, object]]) -> tuple[Person, ...]:
    return tuple(
        dataclasses.replace(p, **changes[p.id]) if p.id in changes else p  # type: ignore[arg-type]
        for p in PEOPLE
    )


def with_liaison(branch: str, liaison: int | None) -> tuple[BranchInfo, ...]:
    return tuple(
        dataclasses.replace(b, liaison=liaison) if b.name == branch else b for b in BRANCHES
    )


def member(person_id: int) -> TargetRef:
    return TargetRef(TargetKind.MEMBER, person_id)


def branch(name: str) -> TargetRef:
    return TargetRef(TargetKind.BRANCH, name)


def reviewed_by(result: rules.Assignments, reviewer: int) -> set[TargetRef]:
    return {a.target for a in result.reviews_by(reviewer)}


def leader_reviewers(result: rules.Assignments, target: TargetRef) -> list[int]:
    return [a.reviewer for a in result.leader if a.target == target]


def groups_of(result: rules.Assignments, target: TargetRef) -> list[GroupKey]:
    return [a.group for a in result.mass if a.target == target]


def every_assignment_is_for_a_target(result: rules.Assignments) -> bool:
    return {a.target for a in (*result.leader, *result.mass)} <= set(result.targets)


def problems(result: rules.Assignments, kind: ProblemKind) -> list[rules.Problem]:
    return [p for p in result.problems if p.kind is kind]


def without(*dropped: Rule) -> list[Rule]:
    return [r for r in rules.DEFAULT_RULES if r not in dropped]


def mass(group: GroupKey, targets: Targets) -> Rule:
    return Rule(RuleKind.MASS, targets, group=group)


VENDORS_RULE = mass(GroupKey.VENDORS, Targets.GRASSROOTS_MEMBERS)
SECRETARY_RULE = Rule(
    RuleKind.LEADER, Targets.OWN_BRANCH_OTHERS, reviewer=Reviewer.BRANCH_SECRETARY
)


@pytest.fixture(scope="module")
def default() -> rules.Assignments:
    return rules.assignments(roster())


# ---- the default roster


def test_default_roster_has_no_problems(default: rules.Assignments) -> None:
    assert default.problems == ()


def test_targets_are_every_branch_the_team_and_every_member(default: rules.Assignments) -> None:
    assert default.targets == (
        branch(ORGAN),
        branch(FIRST),
        branch(SECOND),
        rules.TEAM,
        *(member(p.id) for p in PEOPLE),
    )


def test_every_assignment_is_for_a_target(default: rules.Assignments) -> None:
    assert every_assignment_is_for_a_target(default)


# ---- 领导点评


def test_party_secretary_reviews_every_leadership_member(default: rules.Assignments) -> None:
    assert {member(i) for i in (DEPUTY_1, DEPUTY_2, DEPUTY_3)} <= reviewed_by(default, SECRETARY)


def test_party_secretary_reviews_organ_members_and_organ_branch(
    default: rules.Assignments,
) -> None:
    expected = {member(i) for i in ORGAN_IDS - {SECRETARY}} | {branch(ORGAN)}
    assert reviewed_by(default, SECRETARY) == expected


def test_party_secretary_is_not_reviewed_by_the_rules(default: rules.Assignments) -> None:
    # Reviewed by the level above: neither a self-review nor a problem.
    assert leader_reviewers(default, member(SECRETARY)) == []
    assert groups_of(default, member(SECRETARY)) == [GroupKey.ALL_STAFF]


def test_liaison_reviews_own_branch_secretary_and_cadres_but_not_organ_branch(
    default: rules.Assignments,
) -> None:
    assert reviewed_by(default, DEPUTY_1) == {
        branch(FIRST),
        member(FIRST_SECRETARY),
        member(FIRST_CADRE),
    }
    assert reviewed_by(default, DEPUTY_2) == {
        branch(SECOND),
        member(SECOND_SECRETARY),
        member(SECOND_CADRE),
    }
    # The 机关党支部 and its people belong to the 党组书记, whoever its liaison is.
    assert reviewed_by(default, DEPUTY_3) == set()
    assert leader_reviewers(default, branch(ORGAN)) == [SECRETARY]


def test_branch_secretary_reviews_the_other_members(default: rules.Assignments) -> None:
    assert reviewed_by(default, FIRST_SECRETARY) == {member(FIRST_MEMBER), member(FIRST_ELDERLY)}
    assert reviewed_by(default, SECOND_SECRETARY) == {
        member(SECOND_MEMBER),
        member(SECOND_ELDERLY),
    }


def test_organ_branch_secretary_leaves_organ_members_to_the_party_secretary(
    default: rules.Assignments,
) -> None:
    assert reviewed_by(default, ORGAN_SECRETARY) == set()
    assert leader_reviewers(default, member(ORGAN_MEMBER)) == [SECRETARY]


def test_each_member_has_exactly_one_leader_reviewer(default: rules.Assignments) -> None:
    for person in PEOPLE:
        if person.is_party_secretary:
            continue
        assert len(leader_reviewers(default, member(person.id))) == 1, person.label
    for info in BRANCHES:
        assert len(leader_reviewers(default, branch(info.name))) == 1, info.name


def test_nobody_reviews_themself(default: rules.Assignments) -> None:
    assert all(a.target != member(a.reviewer) for a in default.leader)


def test_the_team_has_no_leader_reviewer(default: rules.Assignments) -> None:
    assert leader_reviewers(default, rules.TEAM) == []


# ---- 群众评议


def test_all_staff_evaluate_team_and_leadership_members(default: rules.Assignments) -> None:
    evaluated = {a.target for a in default.evaluated_by(GroupKey.ALL_STAFF)}
    assert evaluated == {rules.TEAM} | {member(i) for i in TEAM_IDS}


def test_unit_staff_evaluate_other_organ_members(default: rules.Assignments) -> None:
    evaluated = {a.target for a in default.evaluated_by(GroupKey.UNIT_STAFF)}
    assert evaluated == {member(i) for i in ORGAN_IDS - TEAM_IDS}


def test_vendors_evaluate_grassroots_members(default: rules.Assignments) -> None:
    evaluated = {a.target for a in default.evaluated_by(GroupKey.VENDORS)}
    assert evaluated == {member(i) for i in GRASSROOTS_IDS}


def test_each_member_and_the_team_has_exactly_one_evaluator_group(
    default: rules.Assignments,
) -> None:
    for target in (rules.TEAM, *(member(p.id) for p in PEOPLE)):
        assert len(groups_of(default, target)) == 1, target


def test_branches_are_reviewed_by_leaders_only(default: rules.Assignments) -> None:
    for info in BRANCHES:
        assert groups_of(default, branch(info.name)) == []


# ---- criteria templates


def test_leadership_members_and_cadres_use_the_leader_template(
    default: rules.Assignments,
) -> None:
    leaders = TEAM_IDS | {ORGAN_CADRE, FIRST_CADRE, SECOND_CADRE}
    for a in (*default.leader, *default.mass):
        if a.target.kind is TargetKind.MEMBER and a.target.ref in leaders:
            assert a.template is TemplateKey.LEADER, a.target


def test_ordinary_and_elderly_members_and_secretaries_use_the_member_template(
    default: rules.Assignments,
) -> None:
    ordinary = {
        ORGAN_SECRETARY,
        ORGAN_MEMBER,
        FIRST_SECRETARY,
        FIRST_MEMBER,
        FIRST_ELDERLY,
        SECOND_SECRETARY,
        SECOND_MEMBER,
        SECOND_ELDERLY,
    }
    seen = set()
    for a in (*default.leader, *default.mass):
        if a.target.kind is TargetKind.MEMBER and a.target.ref in ordinary:
            assert a.template is TemplateKey.MEMBER, a.target
            seen.add(a.target.ref)
    assert seen == ordinary


def test_branches_use_the_party_organisation_template(default: rules.Assignments) -> None:
    branch_reviews = [a for a in default.leader if a.target.kind is TargetKind.BRANCH]
    assert len(branch_reviews) == len(BRANCHES)
    assert {a.template for a in branch_reviews} == {TemplateKey.BRANCH}


def test_the_team_uses_the_team_template(default: rules.Assignments) -> None:
    (team,) = [a for a in default.mass if a.target == rules.TEAM]
    assert team.template is TemplateKey.TEAM
    assert rules.template_of(rules.TEAM, roster()) is TemplateKey.TEAM


# ---- counts the office sees before opening


def test_counts_per_reviewer_kind_and_group(default: rules.Assignments) -> None:
    assert default.leader_counts() == {"党组书记": 7, "联系班子成员": 6, "支部书记": 4}
    assert default.mass_counts() == {"局全体工作人员": 5, "基层单位工作人员": 3, "市场经营户": 8}


def test_each_review_names_the_rule_that_gave_it(default: rules.Assignments) -> None:
    (review,) = [a for a in default.leader if a.target == member(FIRST_CADRE)]
    assert review.rule.label == "联系班子成员点评所联系党支部的党员干部"


# ---- problems


def test_target_nobody_reviews_is_a_problem() -> None:
    # A grassroots member in no branch has no secretary and no liaison above them.
    result = rules.assignments(roster(changed(FIRST_MEMBER, branch=None)))
    (problem,) = result.problems
    assert problem.kind is ProblemKind.UNREVIEWED
    assert problem.target == member(FIRST_MEMBER)
    assert "吴干事" in problem.message and "没有点评领导" in problem.message


def test_branch_without_secretary_is_a_problem() -> None:
    result = rules.assignments(roster(changed(FIRST_SECRETARY, is_branch_secretary=False)))
    (problem,) = problems(result, ProblemKind.NO_SECRETARY)
    assert problem.target == branch(FIRST)
    assert problem.message == f"{FIRST}没有支部书记"
    # Nobody is left to review the branch's ordinary members.
    unreviewed = {p.target for p in problems(result, ProblemKind.UNREVIEWED)}
    assert unreviewed == {member(FIRST_SECRETARY), member(FIRST_MEMBER), member(FIRST_ELDERLY)}


def test_branch_without_liaison_is_a_problem() -> None:
    result = rules.assignments(roster(branches=with_liaison(SECOND, None)))
    (problem,) = problems(result, ProblemKind.NO_LIAISON)
    assert problem.target == branch(SECOND)
    assert problem.message == f"{SECOND}没有联系班子成员"
    # The branch has no mass group either, so nobody at all would judge it.
    assert {p.target for p in problems(result, ProblemKind.UNEVALUATED)} == {branch(SECOND)}
    # The secretary's rule comes later and picks up the cadre; the secretary has nobody.
    unreviewed = {p.target for p in problems(result, ProblemKind.UNREVIEWED)}
    assert unreviewed == {member(SECOND_SECRETARY)}
    assert leader_reviewers(result, member(SECOND_CADRE)) == [SECOND_SECRETARY]


def test_organ_branch_needs_no_liaison() -> None:
    result = rules.assignments(roster(branches=with_liaison(ORGAN, None)))
    assert result.problems == ()


def test_two_secretaries_in_one_branch_is_a_problem() -> None:
    result = rules.assignments(roster(changed(FIRST_MEMBER, is_branch_secretary=True)))
    (problem,) = problems(result, ProblemKind.TWO_SECRETARIES)
    assert problem.target == branch(FIRST)
    assert "黄支书(M020)" in problem.message and "吴干事(M022)" in problem.message


def test_liaison_who_is_secretary_of_own_branch_would_review_themself() -> None:
    # A liaison who is not marked 班子成员 has no earlier reviewer, so the rule lands on them.
    people = changed_many(
        {
            DEPUTY_1: {
                "branch": FIRST,
                "organ": False,
                "is_leadership": False,
                "is_branch_secretary": True,
            },
            FIRST_SECRETARY: {"is_branch_secretary": False},
        }
    )
    result = rules.assignments(roster(people))
    (problem,) = problems(result, ProblemKind.SELF_REVIEW)
    assert problem.target == member(DEPUTY_1)
    assert "李副局(M002)" in problem.message and "点评自己" in problem.message
    assert member(DEPUTY_1) not in reviewed_by(result, DEPUTY_1)
    assert {p.target for p in problems(result, ProblemKind.UNREVIEWED)} == {member(DEPUTY_1)}


def test_leadership_member_as_own_branch_secretary_is_reviewed_by_the_party_secretary() -> None:
    # A 班子成员 is the 党组书记's to review, so being their own branch's secretary is no
    # self-review; as secretary they review the rest of the branch.
    people = changed_many(
        {
            DEPUTY_1: {"branch": FIRST, "organ": False, "is_branch_secretary": True},
            FIRST_SECRETARY: {"is_branch_secretary": False},
        }
    )
    result = rules.assignments(roster(people))
    assert result.problems == ()
    assert leader_reviewers(result, member(DEPUTY_1)) == [SECRETARY]
    assert reviewed_by(result, DEPUTY_1) == {branch(FIRST)} | {member(i) for i in FIRST_IDS}


def test_member_in_two_branches_is_a_problem() -> None:
    twin = dataclasses.replace(PEOPLE[-2], id=99, branch=FIRST)  # 朱干事 listed again
    result = rules.assignments(roster((*PEOPLE, twin)))
    (problem,) = problems(result, ProblemKind.TWO_BRANCHES)
    assert problem.message == f"朱干事(M032)同时在多个党支部:{FIRST}、{SECOND}"
    # One person, one target, whatever the roster says; both secretaries would review it.
    assert member(SECOND_MEMBER) in result.targets
    assert member(99) not in result.targets
    assert every_assignment_is_for_a_target(result)
    assert sorted(leader_reviewers(result, member(SECOND_MEMBER))) == [
        FIRST_SECRETARY,
        SECOND_SECRETARY,
    ]


# ---- the office's own rules


def test_without_vendors_rule_grassroots_members_have_leader_reviews_only() -> None:
    # Leaving out a mass group is the office's choice, not a roster fault: no problem, and
    # the counts the office checks before opening no longer show 市场经营户.
    result = rules.assignments(roster(), without(VENDORS_RULE))
    assert result.problems == ()
    assert result.evaluated_by(GroupKey.VENDORS) == []
    assert "市场经营户" not in result.mass_counts()
    for person_id in GRASSROOTS_IDS:
        assert groups_of(result, member(person_id)) == []
        assert len(leader_reviewers(result, member(person_id))) == 1


def test_without_vendors_and_secretary_rules_ordinary_members_are_unevaluated() -> None:
    result = rules.assignments(roster(), without(VENDORS_RULE, SECRETARY_RULE))
    unevaluated = {p.target for p in problems(result, ProblemKind.UNEVALUATED)}
    ordinary = {FIRST_MEMBER, FIRST_ELDERLY, SECOND_MEMBER, SECOND_ELDERLY}
    assert unevaluated == {member(i) for i in ordinary}
    assert problems(result, ProblemKind.UNREVIEWED) == []
    (message,) = [p.message for p in result.problems if p.target == member(FIRST_MEMBER)]
    assert message == "吴干事(M022)既没有点评领导,也没有评议群体"


def test_without_secretary_rule_ordinary_members_are_unreviewed() -> None:
    result = rules.assignments(roster(), without(SECRETARY_RULE))
    unreviewed = {p.target for p in problems(result, ProblemKind.UNREVIEWED)}
    ordinary = {FIRST_MEMBER, FIRST_ELDERLY, SECOND_MEMBER, SECOND_ELDERLY}
    assert unreviewed == {member(i) for i in ordinary}
    assert problems(result, ProblemKind.UNEVALUATED) == []


def test_office_can_give_grassroots_members_to_unit_staff() -> None:
    custom = [
        *without(VENDORS_RULE),
        mass(GroupKey.UNIT_STAFF, Targets.GRASSROOTS_MEMBERS),
    ]
    result = rules.assignments(roster(), custom)
    assert result.problems == ()
    evaluated = {a.target for a in result.evaluated_by(GroupKey.UNIT_STAFF)}
    assert evaluated == {member(i) for i in (ORGAN_IDS - TEAM_IDS) | GRASSROOTS_IDS}


def test_earlier_rule_wins_when_two_rules_give_the_same_target() -> None:
    # 「其他机关党员」: 班子成员 are 机关党员 too, but all staff already evaluate them.
    swapped = [
        mass(GroupKey.UNIT_STAFF, Targets.ORGAN_MEMBERS),
        mass(GroupKey.ALL_STAFF, Targets.TEAM),
        mass(GroupKey.ALL_STAFF, Targets.LEADERSHIP_MEMBERS),
    ]
    result = rules.assignments(roster(), [*without(*swapped), *swapped])
    assert groups_of(result, member(DEPUTY_1)) == [GroupKey.UNIT_STAFF]
    assert groups_of(result, rules.TEAM) == [GroupKey.ALL_STAFF]


def test_default_rules_survive_a_round_trip_through_storage() -> None:
    stored = rules.rules_to_json(rules.DEFAULT_RULES)
    assert rules.rules_from_json(stored) == list(rules.DEFAULT_RULES)


def test_rules_are_stored_in_the_shape_every_release_has_stored() -> None:
    assert rules.rules_to_json(rules.DEFAULT_RULES[:1]) == [
        {"kind": "leader", "reviewer": "party_secretary", "targets": "leadership_members"}
    ]
    assert VENDORS_RULE.to_json() == {
        "kind": "mass",
        "group": "vendors",
        "targets": "grassroots_members",
    }
    # A key that does not belong to the rule's kind was ignored before, and still is.
    stray = {"kind": "mass", "group": "vendors", "targets": "grassroots_members", "reviewer": 1}
    assert Rule.from_json(stray) == VENDORS_RULE


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("党组书记点评班子成员", "每条规则应是一组字段"),
        (None, "每条规则应是一组字段"),
        ({"kind": "vote", "targets": "team"}, "种类应为 leader 或 mass"),
        ({"reviewer": "party_secretary", "targets": "team"}, "种类应为 leader 或 mass"),
        ({"kind": "leader", "reviewer": "party_secretary"}, "缺少点评或评议对象"),
        ({"kind": "leader", "targets": "team"}, "缺少点评人"),
        ({"kind": "mass", "targets": "team"}, "缺少评议群体"),
        ({"kind": "leader", "reviewer": "mayor", "targets": "team"}, "无法识别的点评人 'mayor'"),
        ({"kind": "mass", "group": "aliens", "targets": "team"}, "无法识别的评议群体 'aliens'"),
        ({"kind": "mass", "group": "vendors", "targets": "everyone"}, "无法识别的点评或评议对象"),
        ({"kind": "mass", "group": ["vendors"], "targets": "team"}, "无法识别的评议群体"),
        (
            {"kind": "leader", "reviewer": "branch_secretary", "targets": "organ_members"},
            "支部书记不能点评机关党员",
        ),
        (
            {"kind": "leader", "reviewer": "branch_liaison", "targets": "team"},
            "联系班子成员不能点评局领导班子",
        ),
        (
            {"kind": "mass", "group": "vendors", "targets": "own_branch_others"},
            "群众不能评议本支部其他党员",
        ),
        (
            {"kind": "mass", "group": "vendors", "targets": "organ_branch"},
            "群众不能评议机关党支部",
        ),
    ],
)
def test_a_stored_rule_that_makes_no_sense_is_refused_in_chinese(rule: object, reason: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        Rule.from_json(rule)
    message = str(excinfo.value)
    assert message.startswith("规则无效:")
    assert reason in message
    assert "not a valid" not in message


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: Rule(RuleKind.LEADER, Targets.TEAM), "缺少点评人"),
        (lambda: Rule(RuleKind.MASS, Targets.TEAM), "缺少评议群体"),
        (
            lambda: Rule(RuleKind.LEADER, Targets.TEAM, reviewer=Reviewer.BRANCH_SECRETARY),
            "支部书记不能点评局领导班子",
        ),
        (
            lambda: Rule(RuleKind.MASS, Targets.OWN_BRANCH, group=GroupKey.VENDORS),
            "群众不能评议所联系的党支部",
        ),
        (
            lambda: Rule(
                RuleKind.MASS,
                Targets.TEAM,
                reviewer=Reviewer.PARTY_SECRETARY,
                group=GroupKey.ALL_STAFF,
            ),
            "群众评议没有点评人",
        ),
        (
            lambda: Rule(
                RuleKind.LEADER,
                Targets.TEAM,
                reviewer=Reviewer.PARTY_SECRETARY,
                group=GroupKey.ALL_STAFF,
            ),
            "领导点评没有评议群体",
        ),
        (lambda: rules.rules_from_json({"kind": "mass"}), "评议规则应是一个列表"),
    ],
)
def test_a_rule_that_makes_no_sense_cannot_be_made(make: Callable[[], object], reason: str) -> None:
    with pytest.raises(ValueError, match=f"^规则无效:{reason}"):
        make()
