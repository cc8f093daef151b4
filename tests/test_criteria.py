"""The office edits the 测评内容 (SQLite and PostgreSQL): criteria per template, the rating
scale, the rules and the evaluator groups' headcounts. What is edited is the office's defaults
(what new rounds copy) or a round still in 筹备; an opened round is frozen.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select
from worlds import bureau

from pingyi import criteria, db, groups, rounds, rules
from pingyi.criteria import CriteriaError
from pingyi.groups import HeadcountError
from pingyi.models import Criterion, GroupKey, Round, ScaleLevel, Step, Template, TemplateKey
from pingyi.rounds import RoundError
from pingyi.rules import Rule, RuleKind, Targets

DEFAULTS = None  # round_id of the office's defaults
DEFAULT_RULES = list(rules.DEFAULT_RULES)
SCALE = [("优秀", 100.0), ("良好", 85.0), ("一般", 70.0), ("较差", 50.0), ("不了解", None)]


def new_round(engine: Engine, name: str = "2026年第一季度评议") -> int:
    with db.transaction(engine) as s:
        return rounds.create_round(actor="测试", session=s, name=name, quarter="2026Q1").id  # type: ignore[return-value]


def opened_round(engine: Engine) -> int:
    return bureau(engine).round_id


def names(engine: Engine, round_id: int | None) -> dict[TemplateKey, list[str]]:
    with db.session(engine) as s:
        return criteria.criteria_names(session=s, round_id=round_id)


def ids(engine: Engine, round_id: int | None, key: TemplateKey) -> dict[str, int]:
    """Criterion ids by name, of one template of the defaults or of a round."""
    condition = (
        col(Template.round_id).is_(None) if round_id is None else Template.round_id == round_id
    )
    with db.session(engine) as s:
        rows = s.exec(
            select(Criterion.name, Criterion.id)
            .join(Template, col(Template.id) == Criterion.template_id)
            .where(condition, Template.key == key)
        )
        return dict(rows.all())  # type: ignore[arg-type]


def replace(engine: Engine, round_id: int | None, wanted: dict[TemplateKey, list[str]]) -> Any:
    with db.transaction(engine) as s:
        return criteria.replace_criteria(session=s, round_id=round_id, names=wanted, actor="测试")


def levels(engine: Engine, round_id: int | None) -> list[tuple[str, float | None]]:
    with db.session(engine) as s:
        return [(lv.label, lv.score) for lv in criteria.scale(session=s, round_id=round_id)]


def level_ids(engine: Engine, round_id: int | None) -> dict[str, int]:
    with db.session(engine) as s:
        return {lv.label: lv.id for lv in criteria.scale(session=s, round_id=round_id)}  # type: ignore[misc]


def set_scale(engine: Engine, round_id: int | None, wanted: list[Any]) -> criteria.Change:
    with db.transaction(engine) as s:
        return criteria.replace_scale(session=s, round_id=round_id, levels=wanted, actor="测试")


def seed_scale() -> list[tuple[str, float | None]]:
    return list(criteria.DEFAULT_SCALE)


# ---- criteria


def test_the_defaults_are_the_seed_criteria(engine: Engine) -> None:
    assert names(engine, DEFAULTS) == {
        key: list(value) for key, value in criteria.DEFAULT_CRITERIA.items()
    }


def test_edited_defaults_are_stored_in_order_and_copied_by_new_rounds(engine: Engine) -> None:
    before = new_round(engine, "旧轮次")
    team = ["班子团结情况", "组织领导情况", "廉洁自律情况"]
    change = replace(engine, DEFAULTS, {TemplateKey.TEAM: team})
    assert change[TemplateKey.TEAM].added == ("班子团结情况", "廉洁自律情况")
    assert set(change[TemplateKey.TEAM].removed) == set(
        criteria.DEFAULT_CRITERIA[TemplateKey.TEAM]
    ) - {"组织领导情况"}
    after = new_round(engine, "新轮次")

    assert names(engine, DEFAULTS)[TemplateKey.TEAM] == team
    assert names(engine, after)[TemplateKey.TEAM] == team
    # A round made before keeps its own copy; other templates are untouched.
    assert names(engine, before)[TemplateKey.TEAM] == list(
        criteria.DEFAULT_CRITERIA[TemplateKey.TEAM]
    )
    assert names(engine, DEFAULTS)[TemplateKey.BRANCH] == list(
        criteria.DEFAULT_CRITERIA[TemplateKey.BRANCH]
    )


def test_a_draft_round_is_edited_apart_from_the_defaults(engine: Engine) -> None:
    round_id = new_round(engine)
    replace(engine, round_id, {TemplateKey.MEMBER: ["履行岗位职责情况", "工作成效"]})
    assert names(engine, round_id)[TemplateKey.MEMBER] == ["履行岗位职责情况", "工作成效"]
    assert names(engine, DEFAULTS)[TemplateKey.MEMBER] == list(
        criteria.DEFAULT_CRITERIA[TemplateKey.MEMBER]
    )
    with db.session(engine) as s:
        views = criteria.round_criteria(session=s, round_id=round_id)[TemplateKey.MEMBER]
    assert [v.name for v in views] == ["履行岗位职责情况", "工作成效"]


def test_renaming_and_reordering_keep_the_ids_of_names_that_stay(engine: Engine) -> None:
    round_id = new_round(engine)
    key = TemplateKey.LEADER
    before = ids(engine, round_id, key)
    old = list(criteria.DEFAULT_CRITERIA[key])
    # Reversed, the third renamed, one added at the front.
    wanted = ["政治素质情况", *reversed(old)]
    wanted[wanted.index(old[2])] = "推动高质量发展情况"
    change = replace(engine, round_id, {key: wanted})

    after = ids(engine, round_id, key)
    assert names(engine, round_id)[key] == wanted
    assert {n: after[n] for n in old if n != old[2]} == {n: before[n] for n in old if n != old[2]}
    assert old[2] not in after
    assert change[key].added == ("政治素质情况", "推动高质量发展情况")
    assert change[key].removed == (old[2],)
    with db.session(engine) as s:
        assert s.get(Criterion, before[old[2]]) is None, "the renamed one's old row is gone"


def test_names_are_stored_without_surrounding_spaces(engine: Engine) -> None:
    replace(engine, DEFAULTS, {TemplateKey.BRANCH: ["  组织领导情况 ", "\u3000活动效果"]})
    assert names(engine, DEFAULTS)[TemplateKey.BRANCH] == ["组织领导情况", "活动效果"]


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        ({TemplateKey.BRANCH: []}, "党组织至少要有一项测评内容"),
        ({TemplateKey.LEADER: ["执行政策情况", "  "]}, "党员领导干部第 2 项:名称不能为空"),
        ({TemplateKey.MEMBER: ["长" * 101]}, "普通党员第 1 项:名称超过 100 个字"),
        ({TemplateKey.TEAM: ["活动效果", "活动效果 "]}, "领导班子第 2 项:「活动效果」重复"),
    ],
)
def test_invalid_criteria_are_refused_in_chinese_and_store_nothing(
    engine: Engine, wanted: dict[TemplateKey, list[str]], message: str
) -> None:
    round_id = new_round(engine)
    before = names(engine, round_id), names(engine, DEFAULTS)
    for target in (DEFAULTS, round_id):
        with pytest.raises(CriteriaError) as caught:
            # A valid template saved alongside is not stored either: all or nothing.
            replace(engine, target, {TemplateKey.BRANCH: ["新的一项"], **wanted})
        assert str(caught.value) == message
    assert (names(engine, round_id), names(engine, DEFAULTS)) == before


def test_a_name_of_100_characters_is_accepted(engine: Engine) -> None:
    replace(engine, DEFAULTS, {TemplateKey.MEMBER: ["长" * 100]})
    assert names(engine, DEFAULTS)[TemplateKey.MEMBER] == ["长" * 100]


def test_every_problem_is_reported_at_once() -> None:
    problems = criteria.criteria_problems(TemplateKey.BRANCH, ["甲", "", "甲"])
    assert problems == ["党组织第 2 项:名称不能为空", "党组织第 3 项:「甲」重复"]


# ---- frozen once opened


def frozen(engine: Engine, round_id: int) -> str:
    with db.session(engine) as s:
        return f"「{s.get(Round, round_id).name}」已开启,测评内容已冻结"  # type: ignore[union-attr]


def test_an_opened_round_s_criteria_are_frozen(engine: Engine) -> None:
    round_id = opened_round(engine)
    before = ids(engine, round_id, TemplateKey.MEMBER)
    with pytest.raises(CriteriaError, match=frozen(engine, round_id)):
        replace(engine, round_id, {TemplateKey.MEMBER: ["工作成效"]})
    assert ids(engine, round_id, TemplateKey.MEMBER) == before


def test_an_opened_round_s_scale_is_frozen(engine: Engine) -> None:
    round_id = opened_round(engine)
    with pytest.raises(CriteriaError, match=frozen(engine, round_id)):
        set_scale(engine, round_id, SCALE)
    assert levels(engine, round_id) == seed_scale()


def test_an_opened_round_s_rules_are_frozen(engine: Engine) -> None:
    round_id = opened_round(engine)
    fewer, message = DEFAULT_RULES[:-1], frozen(engine, round_id)
    with db.transaction(engine) as s, pytest.raises(ValueError, match=message):
        rounds.save_rules(session=s, round_id=round_id, new_rules=fewer, actor="测试")
    with db.session(engine) as s:
        assert rounds.rules_of(session=s, round_id=round_id) == DEFAULT_RULES


def test_frozen_is_said_before_anything_else_is_wrong(engine: Engine) -> None:
    round_id = opened_round(engine)
    with pytest.raises(CriteriaError, match="已冻结"):
        replace(engine, round_id, {TemplateKey.MEMBER: []})


@pytest.mark.parametrize("step", [Step.REVIEW, Step.CLOSED])
def test_a_round_stays_frozen_at_every_later_step(engine: Engine, step: Step) -> None:
    round_id = opened_round(engine)
    with db.transaction(engine) as s:
        rounds.set_step(actor="测试", session=s, round_=s.get(Round, round_id), step=step)  # type: ignore[arg-type]
    with pytest.raises(CriteriaError, match="已冻结"):
        set_scale(engine, round_id, SCALE)
    with db.session(engine) as s:
        assert not criteria.is_editable(s.get(Round, round_id))


def test_the_defaults_stay_editable_while_a_round_is_open(engine: Engine) -> None:
    opened_round(engine)
    set_scale(engine, DEFAULTS, SCALE)
    assert levels(engine, DEFAULTS) == SCALE


def test_an_unknown_round_is_refused(engine: Engine) -> None:
    with pytest.raises(CriteriaError, match="找不到该评议轮次"):
        replace(engine, 9999, {TemplateKey.MEMBER: ["工作成效"]})


# ---- the rating scale


def test_the_default_scale_is_the_seed_scale(engine: Engine) -> None:
    assert levels(engine, DEFAULTS) == seed_scale()


def test_a_new_scale_is_stored_in_order_and_copied_by_new_rounds(engine: Engine) -> None:
    change = set_scale(engine, DEFAULTS, SCALE)
    assert change.added == ("优秀", "良好", "较差")
    assert change.removed == ("好", "较好", "差")
    round_id = new_round(engine)
    assert levels(engine, DEFAULTS) == SCALE
    assert levels(engine, round_id) == SCALE


def test_a_draft_round_s_scale_keeps_level_ids_whose_label_stays(engine: Engine) -> None:
    round_id = new_round(engine)
    before = level_ids(engine, round_id)
    # 较好 rescored, 差 renamed 较差, 不了解 moved to the front, 很差 added.
    wanted = [("不了解", None), ("好", 100), ("较好", 85), ("一般", 60), ("较差", 40), ("很差", 20)]
    set_scale(engine, round_id, wanted)

    after = level_ids(engine, round_id)
    assert levels(engine, round_id) == [(label, score) for label, score in wanted]
    assert {k: after[k] for k in ("好", "较好", "一般", "不了解")} == {
        k: before[k] for k in ("好", "较好", "一般", "不了解")
    }
    assert "差" not in after
    assert levels(engine, DEFAULTS) == seed_scale()
    with db.session(engine) as s:
        assert s.get(ScaleLevel, before["差"]) is None


def test_a_scale_without_an_unscored_level_is_accepted(engine: Engine) -> None:
    set_scale(engine, DEFAULTS, [("合格", 100), ("不合格", 0)])
    assert levels(engine, DEFAULTS) == [("合格", 100.0), ("不合格", 0.0)]


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        ([("好", 100), ("", 80), ("差", 40)], "第 2 级:等级名称不能为空"),
        ([("好", 100), ("长" * 21, 80), ("差", 40)], "第 2 级:等级名称超过 20 个字"),
        ([("好", 100), ("好 ", 80), ("差", 40)], "第 2 级:「好」重复"),
        ([("好", 101), ("差", 40)], "第 1 级「好」:分数应在 0 到 100 之间"),
        ([("好", 100), ("差", -1)], "第 2 级「差」:分数应在 0 到 100 之间"),
        ([("好", 100), ("差", float("nan"))], "第 2 级「差」:分数应在 0 到 100 之间"),
        (
            [("好", 100), ("差", 40), ("不了解", None), ("不清楚", None)],
            "只能有一个不计分的等级(如「不了解」),现有 2 个:「不了解」「不清楚」",
        ),
        ([("好", 100), ("不了解", None)], "至少要有两个计分的等级"),
        ([], "至少要有两个计分的等级"),
        ([("差", 40), ("好", 100)], "计分的等级应按分数从高到低排列,且分数不能相同"),
        ([("好", 100), ("较好", 100)], "计分的等级应按分数从高到低排列,且分数不能相同"),
    ],
)
def test_an_invalid_scale_is_refused_in_chinese_and_stores_nothing(
    engine: Engine, wanted: list[Any], message: str
) -> None:
    round_id = new_round(engine)
    for target in (DEFAULTS, round_id):
        with pytest.raises(CriteriaError) as caught:
            set_scale(engine, target, wanted)
        assert str(caught.value) == message
        assert levels(engine, target) == seed_scale()


def test_the_unscored_level_may_sit_between_scored_ones() -> None:
    assert criteria.scale_problems([("好", 100), ("不了解", None), ("差", 40)]) == []


# ---- evaluator groups' headcounts (office-wide)


def headcounts(engine: Engine) -> dict[GroupKey, int]:
    with db.session(engine) as s:
        return {key: g.headcount for key, g in groups.by_key(session=s).items()}


def test_headcounts_are_stored_and_changes_reported(engine: Engine) -> None:
    with db.transaction(engine) as s:
        changes = groups.update_headcounts(
            session=s, headcounts={GroupKey.ALL_STAFF: 60, GroupKey.VENDORS: 200.0}, actor="测试"
        )
    assert changes == {GroupKey.ALL_STAFF: (0, 60), GroupKey.VENDORS: (0, 200)}
    assert headcounts(engine) == {
        GroupKey.ALL_STAFF: 60,
        GroupKey.UNIT_STAFF: 0,
        GroupKey.VENDORS: 200,
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "市场经营户的人数不能为负数"),
        (2.5, "市场经营户的人数应为整数"),
        ("12", "市场经营户的人数应为整数"),
        (True, "市场经营户的人数应为整数"),
        (float("nan"), "市场经营户的人数应为整数"),
        (1_000_001, "市场经营户的人数不能超过 1,000,000"),
    ],
)
def test_invalid_headcounts_are_refused_and_store_nothing(
    engine: Engine, value: object, message: str
) -> None:
    with db.transaction(engine) as s, pytest.raises(HeadcountError) as caught:
        groups.update_headcounts(
            session=s, headcounts={GroupKey.ALL_STAFF: 60, GroupKey.VENDORS: value}, actor="测试"
        )
    assert str(caught.value) == message
    assert set(headcounts(engine).values()) == {0}


# ---- rules


def test_the_default_rules_read_in_chinese_and_back() -> None:
    labelled = [rounds.rule_labels(rule) for rule in DEFAULT_RULES]
    assert labelled[0] == ("领导点评", "党组书记", "班子成员")
    assert labelled[-1] == ("群众评议", "市场经营户", "基层单位党员")
    assert rounds.rules_from_labels(labelled) == DEFAULT_RULES


def test_empty_rows_of_the_table_are_skipped() -> None:
    rows = [(None, None, None), ("群众评议", "局全体工作人员", "局领导班子"), ("", "", "")]
    assert rounds.rules_from_labels(rows) == [
        Rule(RuleKind.MASS, Targets.TEAM, group=GroupKey.ALL_STAFF)
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ((None, "党组书记", "班子成员"), "第 2 条规则无效:请选择种类(领导点评或群众评议)"),
        (("点评", "党组书记", "班子成员"), "第 2 条规则无效:无法识别的种类「点评」"),
        (("领导点评", None, "班子成员"), "第 2 条规则无效:请选择点评人"),
        (("群众评议", None, "局领导班子"), "第 2 条规则无效:请选择评议群体"),
        (
            ("领导点评", "市场经营户", "班子成员"),
            "第 2 条规则无效:点评人应为党组书记、联系班子成员、支部书记之一,而不是「市场经营户」",
        ),
        (
            ("群众评议", "党组书记", "班子成员"),
            "第 2 条规则无效:评议群体应为局全体工作人员、基层单位工作人员、市场经营户之一,"
            "而不是「党组书记」",
        ),
        (("领导点评", "党组书记", None), "第 2 条规则无效:请选择对象"),
        (("领导点评", "党组书记", "全体党员"), "第 2 条规则无效:无法识别的对象「全体党员」"),
        (("领导点评", "支部书记", "局领导班子"), "第 2 条规则无效:支部书记不能点评局领导班子"),
        (
            ("群众评议", "市场经营户", "所联系的党支部"),
            "第 2 条规则无效:群众不能评议所联系的党支部",
        ),
    ],
)
def test_a_bad_row_of_the_table_is_named_by_its_number(
    row: tuple[str | None, ...], message: str
) -> None:
    good = ("群众评议", "局全体工作人员", "局领导班子")
    with pytest.raises(RoundError) as caught:
        rounds.rules_from_labels([good, row])  # type: ignore[list-item]
    assert str(caught.value) == message


def save_rules(engine: Engine, round_id: int | None, new_rules: list[Rule]) -> list[Rule]:
    with db.transaction(engine) as s:
        return rounds.save_rules(session=s, round_id=round_id, new_rules=new_rules, actor="测试")


def rules_of(engine: Engine, round_id: int | None) -> list[Rule]:
    with db.session(engine) as s:
        return rounds.rules_of(session=s, round_id=round_id)


CUSTOM = [
    *(r for r in DEFAULT_RULES if r.group is not GroupKey.VENDORS),
    Rule(RuleKind.MASS, Targets.GRASSROOTS_MEMBERS, group=GroupKey.UNIT_STAFF),
]


def test_the_office_s_rules_are_saved_and_copied_by_new_rounds(engine: Engine) -> None:
    before = new_round(engine, "旧轮次")
    save_rules(engine, DEFAULTS, CUSTOM)
    after = new_round(engine, "新轮次")
    assert rules_of(engine, DEFAULTS) == CUSTOM
    assert rules_of(engine, after) == CUSTOM
    assert rules_of(engine, before) == DEFAULT_RULES


def test_a_draft_round_s_rules_are_saved_apart_from_the_office_s(engine: Engine) -> None:
    round_id = new_round(engine)
    save_rules(engine, round_id, CUSTOM)
    assert rules_of(engine, round_id) == CUSTOM
    assert rules_of(engine, DEFAULTS) == DEFAULT_RULES
    with db.session(engine) as s:
        round_ = s.get(Round, round_id)
        mass = rounds.preview(session=s, round_=round_).mass_counts()
    assert "市场经营户" not in mass


@pytest.mark.parametrize(
    ("new_rules", "message"),
    [
        ([], "请至少保留一条评议规则"),
        ([*DEFAULT_RULES[:3], DEFAULT_RULES[1]], "第 4 条规则与第 2 条重复"),
    ],
)
def test_invalid_rules_are_refused_in_chinese_and_store_nothing(
    engine: Engine, new_rules: list[Rule], message: str
) -> None:
    round_id = new_round(engine)
    for target in (DEFAULTS, round_id):
        with pytest.raises(RoundError) as caught:
            save_rules(engine, target, new_rules)
        assert str(caught.value) == message
        assert rules_of(engine, target) == DEFAULT_RULES


def test_rules_are_stored_as_the_json_earlier_releases_stored(engine: Engine) -> None:
    round_id = new_round(engine)
    save_rules(engine, round_id, CUSTOM)
    with db.transaction(engine) as s:
        round_ = s.get(Round, round_id)
        assert round_ is not None
        assert round_.rules[-1] == {
            "kind": "mass",
            "group": "unit_staff",
            "targets": "grassroots_members",
        }
        # A round stored by an earlier release, its keys in another order, reads the same.
        round_.rules = [{"targets": "team", "group": "all_staff", "kind": "mass"}]
    team = Rule(RuleKind.MASS, Targets.TEAM, group=GroupKey.ALL_STAFF)
    assert rules_of(engine, round_id) == [team]
