"""Rounds on the database (SQLite and PostgreSQL): create, open, find again.

The roster: a 党组书记 and two 班子成员 in the 机关党支部 with its secretary and a 党员干部;
two grassroots branches, each linked to one 班子成员, with secretary, 党员干部 and members; a
former member of the first branch who is no longer active.
"""

from __future__ import annotations

from datetime import date
from typing import Any, NamedTuple

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from pingyi import audit, criteria, db, groups, rounds, rules
from pingyi.audit import Action
from pingyi.models import (
    Branch,
    Criterion,
    GroupKey,
    LeaderAssignment,
    MassAssignment,
    Member,
    Round,
    Setting,
    Step,
    Target,
    Template,
    TemplateKey,
    Unit,
    UnitKind,
)

ORGAN = "机关党支部"
FIRST = "第一市场党支部"
SECOND = "第二市场党支部"

# name: (branch, flags); the unit follows the branch.
PEOPLE: dict[str, tuple[str, dict[str, bool]]] = {
    "王书记": (ORGAN, {"is_party_secretary": True}),
    "李副局": (ORGAN, {"is_leadership": True}),
    "张副局": (ORGAN, {"is_leadership": True}),
    "陈支书": (ORGAN, {"is_branch_secretary": True}),
    "刘主任": (ORGAN, {"is_cadre": True}),
    "黄支书": (FIRST, {"is_branch_secretary": True}),
    "周所长": (FIRST, {"is_cadre": True}),
    "吴干事": (FIRST, {}),
    "郑老": (FIRST, {"is_elderly": True}),
    "孙支书": (SECOND, {"is_branch_secretary": True}),
    "朱干事": (SECOND, {}),
}
LIAISONS = {FIRST: "李副局", SECOND: "张副局"}
FORMER = "钱退休"  # inactive, in FIRST


def build_roster(engine: Engine, liaisons: dict[str, str] = LIAISONS) -> dict[str, int]:
    """The roster above; returns member ids by name."""
    with db.transaction(engine) as s:
        organ = Unit(name="局机关", kind=UnitKind.ORGAN)
        first_unit = Unit(name="第一市场管理所", kind=UnitKind.GRASSROOTS)
        second_unit = Unit(name="第二市场管理所", kind=UnitKind.GRASSROOTS)
        s.add_all([organ, first_unit, second_unit])
        s.flush()
        units = {ORGAN: organ.id, FIRST: first_unit.id, SECOND: second_unit.id}
        # Branch.liaison_id and Member.branch_id point at each other: branches first.
        branches = {name: Branch(name=name, unit_id=unit_id) for name, unit_id in units.items()}
        s.add_all(branches.values())
        s.flush()
        members = {
            name: Member(
                roster_id=f"M{number:03d}",
                name=name,
                unit_id=units[branch],
                branch_id=branches[branch].id,
                **flags,
            )
            for number, (name, (branch, flags)) in enumerate(PEOPLE.items(), start=1)
        }
        members[FORMER] = Member(
            roster_id="M999",
            name=FORMER,
            unit_id=units[FIRST],
            branch_id=branches[FIRST].id,
            active=False,
        )
        s.add_all(members.values())
        s.flush()
        for branch, liaison in liaisons.items():
            branches[branch].liaison_id = members[liaison].id
            s.add(branches[branch])
        s.flush()
        return {name: m.id for name, m in members.items()}  # type: ignore[misc]


def new_round(engine: Engine, name: str = "2026年第一季度", **kw: Any) -> int:
    with db.transaction(engine) as s:
        return rounds.create_round(actor="测试", session=s, name=name, quarter="2026Q1", **kw).id  # type: ignore[return-value]


def open_round(engine: Engine, round_id: int, **kw: Any) -> rules.Assignments:
    with db.transaction(engine) as s:
        return rounds.open_round(actor="测试", session=s, round_=s.get(Round, round_id), **kw)  # type: ignore[arg-type]


def target_key(kind: str, ref: int | str | None) -> tuple[str, int | str | None]:
    # Kinds read back as plain strings; a StrEnum hashes by name, so compare as str.
    return (str(kind), ref)


def row_key(target: Target) -> tuple[str, int | str | None]:
    if target.member_id is not None:
        return target_key(target.kind, target.member_id)
    if target.branch_id is not None:
        return target_key(target.kind, target.name)
    return target_key(target.kind, None)


def ref_key(ref: rules.TargetRef) -> tuple[str, int | str | None]:
    return target_key(ref.kind, ref.ref)


class Opened(NamedTuple):
    engine: Engine
    ids: dict[str, int]  # member ids by name
    round_id: int
    result: rules.Assignments  # what open_round returned


@pytest.fixture
def opened(engine: Engine) -> Opened:
    ids = build_roster(engine)
    round_id = new_round(engine)
    return Opened(engine, ids, round_id, open_round(engine, round_id))


# ---- create


def test_create_round_copies_criteria_and_scale(engine: Engine) -> None:
    round_id = new_round(engine, starts_on=date(2026, 1, 5), ends_on=date(2026, 3, 31))
    with db.session(engine) as s:
        round_ = s.get(Round, round_id)
        assert round_ is not None
        assert round_.step == Step.DRAFT
        assert rounds.round_rules(round_) == list(rules.DEFAULT_RULES)
        by_template = criteria.round_criteria(session=s, round_id=round_id)
        scale = criteria.round_scale(session=s, round_id=round_id)
    counts = {key: len(items) for key, items in by_template.items()}
    assert counts == {
        TemplateKey.BRANCH: 6,
        TemplateKey.LEADER: 7,
        TemplateKey.MEMBER: 6,
        TemplateKey.TEAM: 6,
    }
    assert [c.name for c in by_template[TemplateKey.LEADER]] == list(
        criteria.DEFAULT_CRITERIA[TemplateKey.LEADER]
    )
    assert [(level.label, level.score) for level in scale] == list(criteria.DEFAULT_SCALE)


def test_create_round_refuses_a_duplicate_name(engine: Engine) -> None:
    new_round(engine, "2026年第一季度")
    with pytest.raises(rounds.RoundError, match="已有名为「2026年第一季度」的评议轮次"):
        new_round(engine, "  2026年第一季度 ")


def test_create_round_refuses_an_empty_name(engine: Engine) -> None:
    with pytest.raises(rounds.RoundError, match="请填写评议轮次的名称"):
        new_round(engine, "   ")


def test_create_round_refuses_end_before_start(engine: Engine) -> None:
    with pytest.raises(rounds.RoundError, match="结束日期不能早于开始日期"):
        new_round(engine, starts_on=date(2026, 3, 31), ends_on=date(2026, 1, 1))
    with db.session(engine) as s:
        assert rounds.list_rounds(session=s) == []


def test_editing_default_criteria_leaves_existing_rounds_alone(engine: Engine) -> None:
    round_id = new_round(engine)
    with db.transaction(engine) as s:
        default_leader = s.exec(
            select(Template).where(col(Template.round_id).is_(None), Template.key == "leader")
        ).one()
        first = criteria.criteria_of(session=s, template_id=default_leader.id)[0]  # type: ignore[arg-type]
        first.name = "改过的指标"
        s.add(first)
        s.add(Criterion(template_id=default_leader.id, position=99, name="新增指标"))  # type: ignore[arg-type]
        level = criteria.scale(session=s, round_id=None)[0]
        level.label, level.score = "优", 95.0
        s.add(level)
    with db.session(engine) as s:
        old = criteria.round_criteria(session=s, round_id=round_id)[TemplateKey.LEADER]
        old_scale = criteria.round_scale(session=s, round_id=round_id)
    assert [c.name for c in old] == list(criteria.DEFAULT_CRITERIA[TemplateKey.LEADER])
    assert (old_scale[0].label, old_scale[0].score) == ("好", 100.0)

    later = new_round(engine, "2026年第二季度")
    with db.session(engine) as s:
        new = criteria.round_criteria(session=s, round_id=later)[TemplateKey.LEADER]
        new_scale = criteria.round_scale(session=s, round_id=later)
    assert new[0].name == "改过的指标" and new[-1].name == "新增指标"
    assert (new_scale[0].label, new_scale[0].score) == ("优", 95.0)


# ---- open


def test_open_round_refuses_while_there_are_problems(engine: Engine) -> None:
    build_roster(engine, liaisons={FIRST: "李副局"})
    round_id = new_round(engine)
    with pytest.raises(rounds.RoundError) as excinfo:
        open_round(engine, round_id)
    message = str(excinfo.value)
    assert message.startswith("评议关系还有问题")
    assert f"{SECOND}没有联系班子成员" in message
    assert "孙支书(M010)没有点评领导" in message
    with db.session(engine) as s:
        assert s.get(Round, round_id).step == Step.DRAFT  # type: ignore[union-attr]
        assert rounds.count_targets(session=s, round_id=round_id) == 0
        assert s.exec(select(LeaderAssignment)).all() == []


def test_open_round_with_allow_problems_opens_anyway(engine: Engine) -> None:
    build_roster(engine, liaisons={FIRST: "李副局"})
    round_id = new_round(engine)
    result = open_round(engine, round_id, allow_problems=True)
    assert {p.kind for p in result.problems} >= {rules.ProblemKind.NO_LIAISON}
    with db.session(engine) as s:
        assert s.get(Round, round_id).step == Step.SELF_SUMMARY  # type: ignore[union-attr]
        assert rounds.count_targets(session=s, round_id=round_id) == len(result.targets)


def test_open_round_refuses_a_round_already_open(opened: Opened) -> None:
    engine, _, round_id, _ = opened
    with pytest.raises(rounds.RoundError, match="已经开始,不能再次开启"):
        open_round(engine, round_id)


def test_opened_round_targets_every_branch_the_team_and_every_active_member(opened: Opened) -> None:
    engine, ids, round_id, result = opened
    with db.session(engine) as s:
        targets = rounds.targets_of(session=s, round_id=round_id)
        branch_ids = {b.name: b.id for b in s.exec(select(Branch))}
    assert [row_key(t) for t in targets] == [ref_key(ref) for ref in result.targets]
    by_key = {row_key(t): t for t in targets}
    assert set(by_key) == {
        *(target_key("branch", name) for name in (ORGAN, FIRST, SECOND)),
        target_key("team", None),
        *(target_key("member", ids[name]) for name in PEOPLE),
    }
    for name in (ORGAN, FIRST, SECOND):
        target = by_key[target_key("branch", name)]
        assert (target.template_key, target.branch_id) == ("branch", branch_ids[name])
    team = by_key[target_key("team", None)]
    assert (team.template_key, team.name) == ("team", "局领导班子")
    leaders = {"王书记", "李副局", "张副局", "刘主任", "周所长"}
    for name, (branch, _) in PEOPLE.items():
        target = by_key[target_key("member", ids[name])]
        assert target.template_key == ("leader" if name in leaders else "member"), name
        assert (target.name, target.branch_name, target.branch_id) == (
            name,
            branch,
            branch_ids[branch],
        )


def test_inactive_members_are_not_targets(opened: Opened) -> None:
    engine, ids, round_id, _ = opened
    with db.session(engine) as s:
        member_ids = {t.member_id for t in rounds.targets_of(session=s, round_id=round_id)}
        reviewers = set(s.exec(select(LeaderAssignment.reviewer_id)))
    assert ids[FORMER] not in member_ids
    assert ids[FORMER] not in reviewers


def test_opened_round_leader_assignments_follow_the_rules(opened: Opened) -> None:
    engine, ids, round_id, result = opened
    with db.session(engine) as s:
        targets = {t.id: row_key(t) for t in rounds.targets_of(session=s, round_id=round_id)}
        stored = {
            (a.reviewer_id, targets[a.target_id], a.rule)
            for a in s.exec(select(LeaderAssignment).where(LeaderAssignment.round_id == round_id))
        }
    expected = {(a.reviewer, ref_key(a.target), a.rule.label) for a in result.leader}
    assert stored == expected
    assert len(stored) == len(result.leader) == 13
    assert (ids["李副局"], target_key("branch", FIRST), "联系班子成员点评所联系的党支部") in stored
    assert (
        ids["黄支书"],
        target_key("member", ids["郑老"]),
        "支部书记点评本支部其他党员",
    ) in stored


def test_opened_round_mass_assignments_follow_the_rules(opened: Opened) -> None:
    engine, ids, round_id, result = opened
    with db.session(engine) as s:
        targets = {t.id: row_key(t) for t in rounds.targets_of(session=s, round_id=round_id)}
        group_keys = {g.id: str(g.key) for g in groups.all_groups(session=s)}
        stored = {
            (group_keys[a.group_id], targets[a.target_id])
            for a in s.exec(select(MassAssignment).where(MassAssignment.round_id == round_id))
        }
    expected = {(str(a.group), ref_key(a.target)) for a in result.mass}
    assert stored == expected
    assert len(stored) == len(result.mass) == 12  # team + every active member
    assert ("vendors", target_key("member", ids["郑老"])) in stored
    assert ("all_staff", target_key("team", None)) in stored


def test_opened_round_matches_the_preview(opened: Opened) -> None:
    engine, _, round_id, result = opened
    with db.session(engine) as s:
        assert rounds.preview(session=s, round_=s.get(Round, round_id)) == result
        assert rounds.preview(session=s) == result


def test_a_liaison_who_has_left_is_no_liaison(engine: Engine) -> None:
    ids = build_roster(engine)
    with db.transaction(engine) as s:
        deputy = s.get(Member, ids["张副局"])
        deputy.active = False  # type: ignore[union-attr]
        s.add(deputy)
    with db.session(engine) as s:
        result = rounds.preview(session=s)
    no_liaison = [p.message for p in result.problems if p.kind is rules.ProblemKind.NO_LIAISON]
    assert no_liaison == [f"{SECOND}没有联系班子成员"]


# ---- find again


def test_resolve_by_id_and_by_name(engine: Engine) -> None:
    first = new_round(engine, "2026年第一季度")
    second = new_round(engine, "2026年第二季度")
    with db.session(engine) as s:
        assert rounds.resolve(session=s, id_or_name=str(first)).id == first
        assert rounds.resolve(session=s, id_or_name="2026年第二季度").id == second


def test_resolve_prefers_a_name_that_looks_like_an_id(engine: Engine) -> None:
    first = new_round(engine, "第一轮")
    named_one = new_round(engine, str(first + 100))
    with db.session(engine) as s:
        assert rounds.resolve(session=s, id_or_name=str(first + 100)).id == named_one


def test_resolve_unknown_round_is_an_error(engine: Engine) -> None:
    new_round(engine)
    with (
        db.session(engine) as s,
        pytest.raises(rounds.RoundError, match="找不到评议轮次「第九轮」"),
    ):
        rounds.resolve(session=s, id_or_name="第九轮")
    with db.session(engine) as s, pytest.raises(rounds.RoundError, match="找不到评议轮次「12345」"):
        rounds.resolve(session=s, id_or_name="12345")


def test_without_a_round_resolve_gives_the_current_open_round(engine: Engine) -> None:
    build_roster(engine)
    opened_id = new_round(engine, "2026年第一季度")
    new_round(engine, "2026年第二季度")  # still 筹备: not current
    with db.session(engine) as s, pytest.raises(rounds.RoundError, match="没有进行中的评议轮次"):
        rounds.resolve(session=s, id_or_name=None)
    open_round(engine, opened_id)
    with db.session(engine) as s:
        assert rounds.current(session=s).id == opened_id  # type: ignore[union-attr]
        assert rounds.resolve(session=s, id_or_name=None).id == opened_id
        assert rounds.resolve(session=s, id_or_name="").id == opened_id


def test_a_closed_round_is_not_current(opened: Opened) -> None:
    engine, _, round_id, _ = opened
    with db.transaction(engine) as s:
        rounds.set_step(actor="测试", session=s, round_=s.get(Round, round_id), step=Step.CLOSED)  # type: ignore[arg-type]
    with db.session(engine) as s:
        assert rounds.current(session=s) is None


# ---- the office's rules


def test_the_office_s_stored_rules_are_read_as_rules_and_nonsense_refused(
    engine: Engine,
) -> None:
    stored = rules.rules_to_json(rules.DEFAULT_RULES[:2])
    with db.transaction(engine) as s:
        s.add(Setting(key=rounds.RULES_SETTING, value=stored))
    with db.session(engine) as s:
        assert rounds.office_rules(session=s) == list(rules.DEFAULT_RULES[:2])
    bad = [*stored, {"kind": "mass", "group": "vendors", "targets": "own_branch"}]
    with db.transaction(engine) as s:
        setting = s.get(Setting, rounds.RULES_SETTING)
        assert setting is not None
        setting.value = bad
    with db.session(engine) as s, pytest.raises(ValueError, match="群众不能评议所联系的党支部"):
        rounds.office_rules(session=s)


def test_new_rounds_use_the_saved_rules(engine: Engine) -> None:
    before = new_round(engine, "2026年第一季度")
    custom = [
        *(r for r in rules.DEFAULT_RULES if r.group is not GroupKey.VENDORS),
        rules.Rule(
            rules.RuleKind.MASS, rules.Targets.GRASSROOTS_MEMBERS, group=GroupKey.UNIT_STAFF
        ),
    ]
    with db.transaction(engine) as s:
        rounds.save_office_rules(session=s, new_rules=custom)
    after = new_round(engine, "2026年第二季度")
    with db.session(engine) as s:
        assert rounds.office_rules(session=s) == custom
        assert rounds.rules_of(session=s, round_id=after) == custom
        assert rounds.rules_of(session=s, round_id=before) == list(rules.DEFAULT_RULES)


def test_a_round_is_opened_on_its_own_rules(engine: Engine) -> None:
    ids = build_roster(engine)
    custom = [
        *(r for r in rules.DEFAULT_RULES if r.group is not GroupKey.VENDORS),
        rules.Rule(
            rules.RuleKind.MASS, rules.Targets.GRASSROOTS_MEMBERS, group=GroupKey.UNIT_STAFF
        ),
    ]
    with db.transaction(engine) as s:
        rounds.save_office_rules(session=s, new_rules=custom)
    round_id = new_round(engine)
    with db.transaction(engine) as s:
        rounds.save_office_rules(session=s, new_rules=rules.DEFAULT_RULES)
    open_round(engine, round_id)
    with db.session(engine) as s:
        group_by_key = groups.by_key(session=s)
        elderly = s.exec(
            select(Target).where(Target.round_id == round_id, Target.member_id == ids["郑老"])
        ).one()
        evaluating = set(
            s.exec(select(MassAssignment.group_id).where(MassAssignment.target_id == elderly.id))
        )
    assert evaluating == {group_by_key["unit_staff"].id}  # type: ignore[index]


# ---- moving a round's step, and the log each operation leaves


def _log(engine: Engine) -> list[tuple[str, str, str]]:
    with db.session(engine) as s:
        return [(e.actor, e.action, e.detail) for e in reversed(audit.events(session=s))]


def test_creating_and_opening_a_round_each_leave_one_log_row(engine: Engine) -> None:
    build_roster(engine)
    with db.transaction(engine) as s:
        round_ = rounds.create_round(session=s, name="一季度", quarter="2026Q1", actor="办公室")
        rounds.open_round(session=s, round_=round_, actor="办公室")
    assert _log(engine) == [
        ("办公室", Action.CREATE_ROUND, "一季度"),
        ("办公室", Action.OPEN_ROUND, "一季度"),
    ]


def test_a_refused_create_leaves_no_log_row(engine: Engine) -> None:
    with pytest.raises(rounds.RoundError), db.transaction(engine) as s:
        rounds.create_round(session=s, name=" ", quarter="2026Q1", actor="办公室")
    assert _log(engine) == []


def test_change_step_moves_the_round_and_logs_the_move(opened: Opened) -> None:
    with db.transaction(opened.engine) as s:
        moved = rounds.change_step(
            session=s,
            round_id=opened.round_id,
            seen=Step.SELF_SUMMARY,
            step=Step.INSPECTION,
            actor="办公室",
        )
    assert moved == rounds.StepChange(
        rounds.Outcome.CHANGED, "「2026年第一季度」已进入「调研督查」阶段。"
    )
    with db.transaction(opened.engine) as s:
        back = rounds.change_step(
            session=s,
            round_id=opened.round_id,
            seen=Step.INSPECTION,
            step=Step.SELF_SUMMARY,
            actor="办公室",
        )
    assert back.outcome == rounds.Outcome.CHANGED and "已退回「自我小结」" in back.message
    moves = [row for row in _log(opened.engine) if row[1] == Action.MOVE_STEP]
    assert moves == [
        ("办公室", Action.MOVE_STEP, "「2026年第一季度」→ 调研督查"),
        ("办公室", Action.MOVE_STEP, "「2026年第一季度」退回 自我小结"),
    ]


def test_a_second_click_finds_the_step_already_taken_and_changes_nothing(opened: Opened) -> None:
    for _ in range(2):
        with db.transaction(opened.engine) as s:
            result = rounds.change_step(
                session=s,
                round_id=opened.round_id,
                seen=Step.SELF_SUMMARY,
                step=Step.INSPECTION,
                actor="办公室",
            )
    assert result.outcome == rounds.Outcome.ALREADY
    assert result.message == "「2026年第一季度」已在「调研督查」阶段。"
    assert len([row for row in _log(opened.engine) if row[1] == Action.MOVE_STEP]) == 1


def test_a_stale_page_cannot_move_the_round_from_where_it_is_now(opened: Opened) -> None:
    with db.transaction(opened.engine) as s:
        round_ = s.get(Round, opened.round_id)
        assert round_ is not None
        rounds.set_step(session=s, round_=round_, step=Step.BRIEFING, actor="办公室")
    with db.transaction(opened.engine) as s:
        result = rounds.change_step(
            session=s,
            round_id=opened.round_id,
            seen=Step.SELF_SUMMARY,
            step=Step.INSPECTION,
            actor="办公室",
        )
    assert result.outcome == rounds.Outcome.REFUSED
    assert "现在是「通报情况」阶段" in result.message
    with db.session(opened.engine) as s:
        assert s.get(Round, opened.round_id).step == Step.BRIEFING  # type: ignore[union-attr]


def test_a_refused_step_is_a_result_not_an_error(opened: Opened) -> None:
    with db.transaction(opened.engine) as s:
        result = rounds.change_step(
            session=s, round_id=opened.round_id, seen=Step.SELF_SUMMARY, step=Step.DRAFT, actor="x"
        )
    assert result == rounds.StepChange(rounds.Outcome.REFUSED, "已开启的轮次不能退回筹备")
