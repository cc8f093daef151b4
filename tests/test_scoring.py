"""Scoring (docs/DESIGN.md "Results"): hand-computed examples on the pure core, then the database,
where ballots count once their group's box is opened (`worlds.count`, the office's close).

The scale throughout: 好 100, 较好 80, 一般 60, 差 40, 不了解 (no score). Group ids: 1 局全体
工作人员, 2 基层单位工作人员; criteria 100 and 101; the minimum is 5 ballots unless said otherwise.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event
from worlds import bureau, count, full_answers, issue, tally_problems

from pingyi import ballots, db, rounds, scoring
from pingyi.criteria import LevelView
from pingyi.models import GroupKey, Round
from pingyi.scoring import (
    INSUFFICIENT,
    LEADER,
    MASS,
    OK,
    GroupBallots,
    RoundResult,
    ScoringError,
    ScoringSettings,
    TallyCount,
    TargetInfo,
    TargetResult,
    score_round,
)

GOOD, FAIR, AVERAGE, POOR, UNKNOWN = 1, 2, 3, 4, 5  # 好 较好 一般 差 不了解
LEVELS = (
    LevelView(GOOD, "好", 100.0),
    LevelView(FAIR, "较好", 80.0),
    LevelView(AVERAGE, "一般", 60.0),
    LevelView(POOR, "差", 40.0),
    LevelView(UNKNOWN, "不了解", None),
)
STAFF, UNITS = 1, 2
C1, C2 = 100, 101


def target(
    target_id: int = 10,
    *,
    template: str = "member",
    groups: tuple[int, ...] = (STAFF,),
    reviewed: bool = True,
) -> TargetInfo:
    return TargetInfo(
        target_id=target_id,
        kind="member",
        template_key=template,
        name=f"党员{target_id}",
        branch_name="机关党支部",
        key=("member", target_id),
        groups=groups,
        criteria=(C1, C2),
        reviewed=reviewed,
    )


def rated(
    group: int, target_id: int, criterion: int, uniform: bool = False, **levels: int
) -> list[TallyCount]:
    """Tallies of one item: rated(1, 10, C1, good=2, unknown=1)."""
    ids = {"good": GOOD, "fair": FAIR, "average": AVERAGE, "poor": POOR, "unknown": UNKNOWN}
    return [
        TallyCount(group, target_id, criterion, ids[name], uniform, n) for name, n in levels.items()
    ]


def score(
    tallies: list[TallyCount],
    ballots: dict[int, GroupBallots],
    *,
    targets: list[TargetInfo] | None = None,
    leader: dict[int, float | None] | None = None,
    settings: ScoringSettings | None = None,
    previous: dict[Any, float] | None = None,
) -> RoundResult:
    return score_round(
        targets=targets or [target()],
        levels=LEVELS,
        tallies=tallies,
        ballots=ballots,
        leader_scores=leader or {},
        settings=settings or ScoringSettings(),
        previous=previous,
    )


def only(result: RoundResult) -> TargetResult:
    (one,) = result.targets
    return one


def leader_only(score_: float, settings: ScoringSettings | None = None) -> TargetResult:
    """A target scored by leaders alone: its combined score is the leader score."""
    return only(score([], {}, targets=[target(groups=())], leader={10: score_}, settings=settings))


# ---- per criterion


def test_distribution_good_rate_and_mean_leave_out_unknown() -> None:
    result = only(
        score(
            rated(STAFF, 10, C1, good=2, fair=1, average=1, unknown=1)
            + rated(STAFF, 10, C2, poor=4, unknown=1),
            {STAFF: GroupBallots(5, 0)},
        )
    )
    first, second = result.criteria
    assert first.criterion_id == C1
    assert first.distribution == {"好": 2, "较好": 1, "一般": 1, "差": 0, "不了解": 1}
    assert first.rated == 4
    assert first.good_rate == 0.75  # (2 好 + 1 较好) / 4 rated: 不了解 is not rated
    assert first.mean == 85.0  # (200 + 80 + 60) / 4
    assert (second.rated, second.good_rate, second.mean) == (4, 0.0, 40.0)
    # The group's score: every scored rating once, (340 + 160) / 8.
    assert result.groups == [scoring.GroupScore(STAFF, OK, 62.5, 5, (first, second))]
    assert result.mass_score == 62.5


def test_good_rate_counts_the_two_highest_scored_levels_whatever_their_order() -> None:
    shuffled = (LEVELS[4], LEVELS[3], LEVELS[1], LEVELS[0], LEVELS[2])
    result = score_round(
        targets=[target()],
        levels=shuffled,
        tallies=rated(STAFF, 10, C1, fair=2, average=2, poor=1),
        ballots={STAFF: GroupBallots(5, 0)},
        leader_scores={},
        settings=ScoringSettings(),
    )
    criterion = only(result).criteria[0]
    assert criterion.good_rate == 0.4
    assert list(criterion.distribution) == ["不了解", "差", "较好", "好", "一般"]  # scale order


def test_criterion_nobody_knows_has_no_rate_and_no_mean() -> None:
    result = only(
        score(
            rated(STAFF, 10, C1, unknown=5) + rated(STAFF, 10, C2, unknown=5),
            {STAFF: GroupBallots(5, 0)},
            leader={10: 70.0},
        )
    )
    assert [(c.rated, c.good_rate, c.mean) for c in result.criteria] == [(0, None, None)] * 2
    assert result.groups == [scoring.GroupScore(STAFF, OK, None, 5, tuple(result.criteria))]
    assert result.mass_score is None
    assert (result.combined, result.missing) == (70.0, (MASS,))


def test_each_groups_own_distribution_per_criterion_adds_up_to_the_targets() -> None:
    result = only(
        score(
            rated(STAFF, 10, C2, good=3, fair=2)
            + rated(STAFF, 10, C1, good=1, average=3, unknown=1)
            + rated(UNITS, 10, C1, fair=4, poor=1, unknown=2),
            {STAFF: GroupBallots(5, 0), UNITS: GroupBallots(7, 0)},
            targets=[target(groups=(STAFF, UNITS))],
        )
    )
    staff, units = result.groups
    # In the target's criterion order (C1, C2), only what the group rated.
    assert [c.criterion_id for c in staff.criteria] == [C1, C2]
    assert [c.criterion_id for c in units.criteria] == [C1]
    assert staff.criteria[0].distribution == {"好": 1, "较好": 0, "一般": 3, "差": 0, "不了解": 1}
    assert units.criteria[0].distribution == {"好": 0, "较好": 4, "一般": 0, "差": 1, "不了解": 2}
    assert (staff.criteria[0].rated, staff.criteria[0].good_rate) == (4, 0.25)
    assert (units.criteria[0].rated, units.criteria[0].good_rate) == (5, 0.8)
    assert units.criteria[0].mean == 72.0  # (4 × 80 + 40) / 5
    pooled = result.criteria[0].distribution
    assert pooled == {"好": 1, "较好": 4, "一般": 3, "差": 1, "不了解": 3}
    assert staff.criteria[1] == result.criteria[1]  # only STAFF rated C2


def test_the_report_cards_table_and_chart_show_each_groups_distribution() -> None:
    """What the 结果 page draws for a target two groups rate (pingyi/ui/results.py)."""
    from pingyi.ui import results as view

    result = only(
        score(
            rated(STAFF, 10, C1, good=4, poor=1)
            + rated(STAFF, 10, C2, fair=5)
            + rated(UNITS, 10, C1, average=3, unknown=2)
            + rated(UNITS, 10, C2, good=5),
            {STAFF: GroupBallots(5, 0), UNITS: GroupBallots(5, 0)},
            targets=[target(groups=(STAFF, UNITS))],
        )
    )
    groups, criteria = (
        {STAFF: "局全体工作人员", UNITS: "基层单位工作人员"},
        {C1: "政治", C2: "作风"},
    )
    frame = view.distribution_frame(result, groups, criteria, LEVELS)
    rows = [
        (r["评议群体"], r["测评项目"], r["好"], r["较好"], r["一般"], r["差"], r["不了解"])
        for r in frame.to_dict("records")
    ]
    assert rows == [
        ("全部群体", "政治", 4, 0, 3, 1, 2),
        ("全部群体", "作风", 5, 5, 0, 0, 0),
        ("局全体工作人员", "政治", 4, 0, 0, 1, 0),
        ("局全体工作人员", "作风", 0, 5, 0, 0, 0),
        ("基层单位工作人员", "政治", 0, 0, 3, 0, 2),
        ("基层单位工作人员", "作风", 5, 0, 0, 0, 0),
    ]
    assert list(frame["参评票数"]) == [8, 10, 5, 5, 3, 5]
    assert list(frame["好评率"]) == [0.5, 1.0, 0.8, 1.0, 0.0, 1.0]

    chart = view.group_distribution_chart(result, groups, criteria, LEVELS)
    assert chart is not None
    assert [a.text for a in chart.layout.annotations] == ["局全体工作人员", "基层单位工作人员"]
    panels = {(t.name, t.yaxis): list(t.x) for t in chart.data}
    assert panels[("好", "y")] == [4, 0] and panels[("差", "y")] == [1, 0]
    assert panels[("一般", "y2")] == [3, 0] and panels[("好", "y2")] == [0, 5]
    assert [t.name for t in chart.data if t.showlegend] == ["好", "较好", "一般", "差", "不了解"]
    # One group with enough ballots: the target's own chart says it all.
    alone = only(score(rated(STAFF, 10, C1, good=5), {STAFF: GroupBallots(5, 0)}))
    assert view.group_distribution_chart(alone, groups, criteria, LEVELS) is None
    assert set(view.distribution_frame(alone, groups, criteria, LEVELS)["评议群体"]) == {"全部群体"}


def test_criteria_without_ratings_are_still_listed() -> None:
    result = only(score(rated(STAFF, 10, C1, good=5), {STAFF: GroupBallots(5, 0)}))
    assert [c.criterion_id for c in result.criteria] == [C1, C2]
    assert result.criteria[1].distribution == dict.fromkeys(
        ["好", "较好", "一般", "差", "不了解"], 0
    )
    assert (result.criteria[1].rated, result.criteria[1].mean) == (0, None)


# ---- 样本不足


def test_group_below_minimum_shows_too_few_ballots_and_no_numbers() -> None:
    result = only(
        score(
            rated(STAFF, 10, C1, good=5) + rated(UNITS, 10, C1, poor=4),
            {STAFF: GroupBallots(5, 0), UNITS: GroupBallots(4, 0)},
            targets=[target(groups=(STAFF, UNITS))],
        )
    )
    assert result.groups == [
        scoring.GroupScore(STAFF, OK, 100.0, 5, (result.criteria[0],)),
        scoring.GroupScore(UNITS, INSUFFICIENT, None, 4),  # nothing of its own either
    ]
    # The four 差 of the small group are counted nowhere, not even per criterion.
    assert result.criteria[0].distribution["差"] == 0
    assert result.criteria[0].mean == 100.0
    assert result.mass_score == 100.0


def test_minimum_ballots_is_a_setting() -> None:
    tallies = rated(STAFF, 10, C1, good=3)
    assert only(score(tallies, {STAFF: GroupBallots(3, 0)})).groups[0].status == INSUFFICIENT
    lower = ScoringSettings(min_ballots=3)
    assert only(score(tallies, {STAFF: GroupBallots(3, 0)}, settings=lower)).mass_score == 100.0


def test_group_without_ballots_is_too_few() -> None:
    result = only(score([], {}, targets=[target(groups=(STAFF,))]))
    assert result.groups == [scoring.GroupScore(STAFF, INSUFFICIENT, None, 0)]
    assert (result.combined, result.grade, result.grade_label) == (None, None, "暂无")


# ---- mass score: group weights


def _two_groups(settings: ScoringSettings | None = None) -> TargetResult:
    # 局全体工作人员: 10 ballots averaging 90; 基层单位工作人员: 5 ballots averaging 70.
    tallies = rated(STAFF, 10, C1, good=10) + rated(STAFF, 10, C2, fair=10)
    tallies += rated(UNITS, 10, C1, average=5) + rated(UNITS, 10, C2, fair=5)
    return only(
        score(
            tallies,
            {STAFF: GroupBallots(10, 0), UNITS: GroupBallots(5, 0)},
            targets=[target(groups=(STAFF, UNITS))],
            settings=settings,
        )
    )


def test_groups_weigh_equally_by_default_whatever_their_size() -> None:
    result = _two_groups()
    assert [g.score for g in result.groups] == [90.0, 70.0]
    assert result.mass_score == 80.0  # not 83.33, the mean of all 15 ballots


@pytest.mark.parametrize(
    ("weights", "mass"),
    [
        ({STAFF: 3.0, UNITS: 1.0}, 85.0),
        ({STAFF: 1.0, UNITS: 0.0}, 90.0),
        ({STAFF: 3.0}, 85.0),  # a group not listed weighs 1
        ({}, 80.0),
    ],
)
def test_custom_group_weights(weights: dict[int, float], mass: float) -> None:
    assert _two_groups(ScoringSettings(group_weights=weights)).mass_score == mass


def test_weight_of_a_group_too_small_goes_to_the_others() -> None:
    tallies = rated(STAFF, 10, C1, good=5) + rated(UNITS, 10, C1, poor=4)
    result = only(
        score(
            tallies,
            {STAFF: GroupBallots(5, 0), UNITS: GroupBallots(4, 0)},
            targets=[target(groups=(STAFF, UNITS))],
            settings=ScoringSettings(group_weights={STAFF: 1.0, UNITS: 9.0}),
        )
    )
    assert result.mass_score == 100.0
    assert result.missing == (LEADER,)  # one group is enough for a mass score


# ---- combined score


def test_leader_forty_percent_masses_sixty_percent() -> None:
    result = only(
        score(
            rated(STAFF, 10, C1, good=5) + rated(STAFF, 10, C2, average=5),  # mass 80
            {STAFF: GroupBallots(5, 0)},
            leader={10: 70.0},
        )
    )
    assert (result.leader_score, result.mass_score) == (70.0, 80.0)
    assert result.combined == 76.0  # 0.4 × 70 + 0.6 × 80
    assert (result.grade, result.missing) == ("合格", ())


def test_leader_and_mass_weights_are_settings() -> None:
    result = only(
        score(
            rated(STAFF, 10, C1, good=5) + rated(STAFF, 10, C2, average=5),
            {STAFF: GroupBallots(5, 0)},
            leader={10: 70.0},
            settings=ScoringSettings(leader_weight=0.5, mass_weight=0.5),
        )
    )
    assert result.combined == 75.0


def test_without_leader_score_the_mass_score_stands_alone_and_is_flagged() -> None:
    result = only(score(rated(STAFF, 10, C1, fair=5), {STAFF: GroupBallots(5, 0)}))
    assert (result.leader_score, result.combined, result.grade) == (None, 80.0, "合格")
    assert result.missing == (LEADER,)


def test_target_no_leader_reviews_is_not_flagged_for_it() -> None:
    result = only(
        score(
            rated(STAFF, 10, C1, fair=5),
            {STAFF: GroupBallots(5, 0)},
            targets=[target(reviewed=False)],
        )
    )
    assert (result.combined, result.missing) == (80.0, ())


def test_without_mass_score_the_leader_score_stands_alone_and_is_flagged() -> None:
    result = only(score(rated(STAFF, 10, C1, poor=4), {STAFF: GroupBallots(4, 0)}, leader={10: 92}))
    assert (result.mass_score, result.combined, result.grade) == (None, 92.0, "优秀")
    assert result.missing == (MASS,)
    branch = leader_only(92.0)  # no evaluator group: the leader score is the whole score
    assert (branch.combined, branch.missing) == (92.0, ())


def test_nothing_to_score_gives_no_score_no_grade_no_rank() -> None:
    result = only(
        score(
            rated(STAFF, 10, C1, good=2),
            {STAFF: GroupBallots(2, 0)},
            leader={10: None},
            previous={("member", 10): 80.0},
        )
    )
    assert (result.combined, result.grade, result.rank, result.change) == (None, None, None, None)
    assert result.grade_label == "暂无"
    assert result.missing == (LEADER, MASS)


def test_leader_score_outside_0_to_100_is_refused() -> None:
    with pytest.raises(ScoringError, match="0 到 100"):
        leader_only(101.0)


# ---- grades


@pytest.mark.parametrize(
    ("combined", "grade"),
    [
        (100.0, "优秀"),
        (90.0, "优秀"),
        (89.99, "合格"),
        (75.0, "合格"),
        (74.99, "基本合格"),
        (60.0, "基本合格"),
        (59.99, "不合格"),
        (0.0, "不合格"),
    ],
)
def test_grade_thresholds(combined: float, grade: str) -> None:
    assert leader_only(combined).grade == grade
    assert scoring.grade_of(combined) == grade


def test_grade_thresholds_are_settings() -> None:
    strict = ScoringSettings(grades=(("优秀", 95.0), ("称职", 70.0), ("不称职", 0.0)))
    assert leader_only(94.0, strict).grade == "称职"
    assert leader_only(95.0, strict).grade == "优秀"
    assert leader_only(69.99, strict).grade == "不称职"


def test_grade_follows_the_rounded_score() -> None:
    # Mass 500 / 6 = 83.33…; 0.4 × 100 + 0.6 × 83.33… is 90 exactly on paper, not in floats.
    result = only(
        score(
            rated(STAFF, 10, C1, good=3, fair=1, average=2),
            {STAFF: GroupBallots(6, 0)},
            leader={10: 100.0},
        )
    )
    assert result.mass_score == 83.33
    assert (result.combined, result.grade) == (90.0, "优秀")


# ---- rank and change


def test_rank_within_category_ties_share_a_rank() -> None:
    targets = [
        target(1, groups=()),
        target(2, groups=()),
        target(3, groups=()),
        target(4, groups=()),
        target(5, template="leader", groups=()),
    ]
    result = score([], {}, targets=targets, leader={1: 90.0, 2: 85.0, 3: 90.0, 4: None, 5: 70.0})
    assert [(t.target_id, t.rank) for t in result.targets] == [
        (1, 1),
        (2, 3),
        (3, 1),
        (4, None),
        (5, 1),  # the only 党员领导干部: first of its own category
    ]


# ---- the rules on their own: the meeting screen calls the same functions


def test_ranks_share_ties_and_skip_the_places_they_take() -> None:
    assert scoring.ranks([80.0, None, 95.5, 80.0, 60.0, 95.5]) == [3, None, 1, 3, 5, 1]
    assert scoring.ranks([]) == []
    assert scoring.ranks([None, 0.0]) == [None, 1]


def test_group_status_counts_uniform_ballots_unless_dropped() -> None:
    keep = ScoringSettings(min_ballots=5)
    drop = ScoringSettings(min_ballots=5, drop_uniform=True)
    assert scoring.group_status(GroupBallots(6, 2), keep) == OK
    assert scoring.counted_ballots(GroupBallots(6, 2), drop) == 4
    assert scoring.group_status(GroupBallots(6, 2), drop) == INSUFFICIENT
    assert scoring.group_status(GroupBallots(5, 0), drop) == OK
    assert scoring.group_status(None, keep) == INSUFFICIENT


def test_mean_is_summed_in_scale_order_and_none_when_nothing_is_scored() -> None:
    rated, total = scoring.rated_and_total([2, 1, 0, 1], [100.0, 80.0, 60.0, 40.0])
    assert (rated, total) == (4, 320.0)
    assert scoring.mean_score(rated, total) == 80.0
    assert scoring.mean_score(0, 0.0) is None
    with pytest.raises(ValueError):  # a count without its level's score
        scoring.rated_and_total([1, 2], [100.0])


def test_good_rate_is_rounded_to_four_places() -> None:
    assert scoring.good_rate(2, 3) == 0.6667
    assert scoring.good_rate(0, 0) is None


def test_mass_score_weighs_groups_and_combined_renormalises_a_missing_part() -> None:
    settings = ScoringSettings(group_weights={STAFF: 3.0, UNITS: 1.0})
    assert scoring.mass_score({STAFF: 90.0, UNITS: 70.0}, settings) == 85.0
    assert scoring.mass_score({}, settings) is None
    assert scoring.combined_score(70.0, 85.0, settings) == 79.0
    assert scoring.combined_score(None, 85.123, settings) == 85.12
    assert scoring.combined_score(70.0, None, settings) == 70.0
    assert scoring.combined_score(None, None, settings) is None
    masses_only = ScoringSettings(leader_weight=0.0, mass_weight=1.0)
    assert scoring.combined_score(70.0, None, masses_only) is None


def test_change_since_previous_round() -> None:
    result = score(
        [],
        {},
        targets=[target(1, groups=()), target(2, groups=())],
        leader={1: 85.5, 2: 70.0},
        previous={("member", 1): 80.0, ("member", 99): 60.0},
    )
    assert [t.change for t in result.targets] == [5.5, None]  # target 2 is new this round


# ---- 一刀切


def test_uniform_ballots_reported_as_share_per_group() -> None:
    result = score(
        rated(STAFF, 10, C1, good=6) + rated(STAFF, 10, C1, uniform=True, good=2),
        {STAFF: GroupBallots(8, 2)},
        targets=[target(groups=(STAFF, UNITS))],
    )
    assert result.groups == [
        scoring.GroupSummary(STAFF, 8, 2, 0.25, 8, OK),
        scoring.GroupSummary(UNITS, 0, 0, None, 0, INSUFFICIENT),
    ]


def test_uniform_ballots_count_unless_the_round_drops_them() -> None:
    tallies = rated(STAFF, 10, C1, poor=5) + rated(STAFF, 10, C1, uniform=True, good=2)
    kept = only(score(tallies, {STAFF: GroupBallots(7, 2)}))
    assert kept.groups[0].score == pytest.approx((200 + 200) / 7, abs=0.005)
    assert kept.criteria[0].distribution["好"] == 2

    dropping = ScoringSettings(drop_uniform=True)
    result = score(tallies, {STAFF: GroupBallots(7, 2)}, settings=dropping)
    dropped = only(result)
    assert [(g.group_id, g.status, g.score, g.ballots) for g in dropped.groups] == [
        (STAFF, OK, 40.0, 5)
    ]
    assert dropped.criteria[0].distribution["好"] == 0
    assert result.groups[0] == scoring.GroupSummary(STAFF, 7, 2, round(2 / 7, 4), 5, OK)


def test_dropping_uniform_ballots_can_leave_too_few() -> None:
    tallies = rated(STAFF, 10, C1, poor=4) + rated(STAFF, 10, C1, uniform=True, good=2)
    dropping = ScoringSettings(drop_uniform=True)
    result = only(score(tallies, {STAFF: GroupBallots(6, 2)}, settings=dropping))
    assert result.groups == [scoring.GroupScore(STAFF, INSUFFICIENT, None, 4)]
    assert result.mass_score is None


def test_order_of_tallies_changes_nothing() -> None:
    tallies = (
        rated(STAFF, 10, C1, good=3, fair=1, average=2, unknown=1)
        + rated(STAFF, 10, C2, poor=6, fair=1)
        + rated(UNITS, 10, C1, uniform=True, fair=5)
        + rated(UNITS, 10, C2, uniform=True, fair=5)
    )
    counts = {STAFF: GroupBallots(7, 0), UNITS: GroupBallots(5, 5)}
    targets = [target(groups=(STAFF, UNITS))]
    expected = score(tallies, counts, targets=targets, leader={10: 77.7})
    for seed in range(5):
        shuffled = list(tallies)
        random.Random(seed).shuffle(shuffled)
        assert score(shuffled, counts, targets=targets, leader={10: 77.7}) == expected


# ---- settings


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"leader_weight": -0.1, "mass_weight": 1.1}, "负数"),
        ({"leader_weight": 0.5}, "之和应为 100%"),
        ({"group_weights": {1: -1.0}}, "负数"),
        ({"group_weights": {1: 0.0, 2: 0.0}}, "全为 0"),
        ({"grades": (("合格", 75.0), ("优秀", 90.0), ("不合格", 0.0))}, "从高到低"),
        ({"grades": (("优秀", 90.0), ("合格", 90.0), ("不合格", 0.0))}, "从高到低"),
        ({"grades": (("优秀", 90.0), ("合格", 75.0))}, "应为 0"),
        ({"grades": (("优秀", 90.0), ("优秀", 0.0))}, "不能重复"),
        ({"grades": (("优秀", 120.0), ("不合格", 0.0))}, "0 到 100"),
        ({"grades": ()}, "等级"),
        ({"min_ballots": 0}, "至少为 1"),
    ],
)
def test_settings_validation(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ScoringError, match=message):
        ScoringSettings(**changes).validate()
    with pytest.raises(ValueError):  # and nothing gets scored with them
        score([], {}, settings=ScoringSettings(**changes))


def test_default_settings_are_valid_and_round_weights_tolerate_float_sums() -> None:
    ScoringSettings().validate()
    ScoringSettings(leader_weight=0.7, mass_weight=0.3).validate()  # 0.7 + 0.3 != 1.0 in floats
    ScoringSettings(leader_weight=0.0, mass_weight=1.0).validate()


def test_settings_from_a_round_without_any_are_the_defaults() -> None:
    round_ = Round(name="2026年第一季度", quarter="2026Q1")
    assert ScoringSettings.from_round(round_) == ScoringSettings()
    round_.settings = {"min_ballots": 8}  # the other keys are the defaults
    assert ScoringSettings.from_round(round_) == ScoringSettings(min_ballots=8)


def test_settings_round_trip_through_the_round_json() -> None:
    settings = ScoringSettings(
        leader_weight=0.3,
        mass_weight=0.7,
        group_weights={1: 2.0, 3: 1.0},
        grades=(("好", 85.0), ("中", 60.0), ("差", 0.0)),
        min_ballots=7,
        drop_uniform=True,
    )
    stored = settings.to_settings_dict()
    assert set(stored) == set(scoring.SETTINGS_KEYS)
    assert stored["group_weights"] == {"1": 2.0, "3": 1.0}  # JSON object keys are strings
    assert stored["min_ballots"] == 7
    round_ = Round(name="r", quarter="q", settings=stored)
    assert ScoringSettings.from_round(round_) == settings


@pytest.mark.parametrize(
    "stored",
    [
        {"leader_weight": "四成"},
        {"group_weights": {"局全体": 1}},
        {"grade_thresholds": [["优秀"]]},
        {"leader_weight": 0.9},
        {"drop_uniform": "yes"},
        {"min_ballots": 0},
        {"min_ballots": "五"},
        {"min_ballots": 2.5},
    ],
)
def test_unreadable_round_settings_are_refused_in_chinese(stored: dict[str, Any]) -> None:
    with pytest.raises(ScoringError):
        ScoringSettings.from_round(Round(name="r", quarter="q", settings=stored))


# ---- on the database


def _submit(engine: Engine, codes: list[str], answers: dict[tuple[int, int], int]) -> None:
    for code in codes:
        with db.transaction(engine) as s:
            ballots.submit(session=s, code=code, answers=answers)


def _vote(engine: Engine, round_id: int, group_id: int, *answer_sets: dict) -> None:
    codes = issue(engine, round_id, group_id, len(answer_sets))
    for code, answers in zip(codes, answer_sets, strict=True):
        _submit(engine, [code], answers)


def _results(engine: Engine, round_id: int, **kwargs: Any) -> tuple[RoundResult, RoundResult]:
    with db.session(engine) as s:
        return (
            scoring.round_results(session=s, round_id=round_id, **kwargs),
            scoring.results_from_ratings(session=s, round_id=round_id, **kwargs),
        )


def test_results_from_tallies_equal_results_from_ratings(engine: Engine) -> None:
    world = bureau(engine)
    rid, groups = world.round_id, world.groups
    vendors = groups[GroupKey.VENDORS]
    _vote(
        engine,
        rid,
        vendors,
        *(full_answers(engine, rid, vendors, level=n) for n in range(5)),
        full_answers(engine, rid, vendors, level=0, vary=False),  # 一刀切
    )
    staff = groups[GroupKey.ALL_STAFF]
    _vote(engine, rid, staff, *(full_answers(engine, rid, staff, level=n) for n in range(3)))
    units = groups[GroupKey.UNIT_STAFF]
    _vote(engine, rid, units, *(full_answers(engine, rid, units, level=1) for _ in range(5)))

    # Cast, not counted: the ballots are sealed in the boxes and no result shows them yet.
    from_tallies, from_ratings = _results(engine, rid)
    assert from_tallies == from_ratings
    assert all(g.ballots == 0 for g in from_tallies.groups)
    assert all(t.combined is None for t in from_tallies.targets)

    count(engine, rid)
    assert tally_problems(engine) == []
    from_tallies, from_ratings = _results(engine, rid)
    assert from_tallies == from_ratings
    by_group = {g.group_id: g for g in from_tallies.groups}
    assert (by_group[vendors].ballots, by_group[vendors].uniform, by_group[vendors].status) == (
        6,
        1,
        OK,
    )
    assert by_group[staff].status == INSUFFICIENT
    for result in from_tallies.targets:
        for group in result.groups:
            assert (group.status == OK) == (group.group_id in (vendors, units))
            if group.status == INSUFFICIENT:
                assert group.score is None
    vendor_targets = [t for t in from_tallies.targets if vendors in {g.group_id for g in t.groups}]
    assert vendor_targets and all(t.combined is not None for t in vendor_targets)
    assert all(sum(c.distribution.values()) == 6 for t in vendor_targets for c in t.criteria)

    # Dropping the 一刀切 ballot leaves the vendors 5: still enough, and still equal.
    dropped = ScoringSettings(drop_uniform=True)
    from_tallies, from_ratings = _results(engine, rid, settings=dropped)
    assert from_tallies == from_ratings
    assert all(
        sum(c.distribution.values()) == 5
        for t in vendor_targets
        for c in from_tallies.target(t.target_id).criteria
    )


def test_change_since_last_round_on_the_database(engine: Engine) -> None:
    world = bureau(engine)
    first, units = world.round_id, world.groups[GroupKey.UNIT_STAFF]
    _vote(engine, first, units, *(full_answers(engine, first, units, level=1) for _ in range(5)))
    count(engine, first)
    with db.transaction(engine) as s:
        new = rounds.create_round(
            actor="测试", session=s, name="2027年第一季度评议", quarter="2027Q1"
        )
        rounds.open_round(actor="测试", session=s, round_=new)
        second: int = new.id  # type: ignore[assignment]
        assert scoring.previous_round_id(session=s, round_id=second) == first
        assert scoring.previous_round_id(session=s, round_id=first) is None
    _vote(engine, second, units, *(full_answers(engine, second, units, level=0) for _ in range(5)))
    count(engine, second)

    before, _ = _results(engine, first)
    after, audited = _results(engine, second)
    assert after == audited
    old = {t.key: t.combined for t in before.targets}
    changed = [t for t in after.targets if t.change is not None]
    assert changed  # the three other 机关 members, rated by 基层单位工作人员 both times
    for result in changed:
        assert result.change == pytest.approx(result.combined - old[result.key], abs=0.011)
    assert all(t.change is None for t in before.targets)


def test_live_results_never_read_the_ratings(engine: Engine) -> None:
    world = bureau(engine)
    units = world.groups[GroupKey.UNIT_STAFF]
    rid = world.round_id
    _vote(engine, rid, units, *(full_answers(engine, rid, units) for _ in range(5)))
    count(engine, rid)  # last round's results, for the change, come from its counted box
    with db.transaction(engine) as s:
        new = rounds.create_round(
            actor="测试", session=s, name="2027年第一季度评议", quarter="2027Q1"
        )
        rounds.open_round(actor="测试", session=s, round_=new)
        second: int = new.id  # type: ignore[assignment]
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().lower().startswith("select"):
            statements.append(" ".join(statement.lower().split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with db.session(engine) as s:
            scoring.round_results(session=s, round_id=second)
            with_change = len(statements)
            scoring.round_results(session=s, round_id=second, with_change=False)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert not [q for q in statements if "from rating" in q or "join rating" in q]
    # Five per round (tallies, ballots, targets, criteria, scale), the rounds, last round's id.
    assert with_change <= 13
    assert len(statements) - with_change <= 6


def test_settings_saved_in_the_round_and_frozen_once_published(engine: Engine) -> None:
    world = bureau(engine)
    chosen = ScoringSettings(leader_weight=0.5, mass_weight=0.5, min_ballots=3, drop_uniform=True)
    with db.transaction(engine) as s:
        round_ = s.get(Round, world.round_id)
        assert round_ is not None
        round_.settings = {"other_feature": 1}
        scoring.save_settings(actor="测试", session=s, round_=round_, settings=chosen)
    with db.transaction(engine) as s:
        round_ = s.get(Round, world.round_id)
        assert round_ is not None
        assert ScoringSettings.from_round(round_) == chosen
        assert round_.settings["min_ballots"] == 3
        assert round_.settings["other_feature"] == 1  # other keys are kept
        with pytest.raises(ScoringError, match="至少为 1"):
            scoring.save_settings(
                actor="测试", session=s, round_=round_, settings=ScoringSettings(min_ballots=0)
            )
        round_.results_published = True
        with pytest.raises(ScoringError, match="已公布"):
            scoring.save_settings(
                actor="测试", session=s, round_=round_, settings=ScoringSettings()
            )
    with db.session(engine) as s:
        round_ = s.get(Round, world.round_id)
        assert ScoringSettings.from_round(round_) == chosen  # type: ignore[arg-type]


def test_results_of_an_unknown_round_are_refused(engine: Engine) -> None:
    with db.session(engine) as s, pytest.raises(ScoringError, match="找不到"):
        scoring.round_results(session=s, round_id=999)


# ---- property: the tallies and the ratings always give the same results


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_results_from_tallies_always_equal_results_from_ratings(
    data: st.DataObject, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("scoring") / "world.db"
    shutil.copy(sqlite_template, path)
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        world = bureau(engine)
        rid = world.round_id
        minimum = data.draw(st.integers(2, 5), label="min_ballots")
        with db.transaction(engine) as s:
            round_ = s.get(Round, rid)
            assert round_ is not None
            scoring.save_settings(
                actor="测试",
                session=s,
                round_=round_,
                settings=ScoringSettings(min_ballots=minimum),
            )
        for group_id in world.groups.values():
            n = data.draw(st.integers(0, minimum + 2), label="ballots")
            if not n:
                continue
            with db.session(engine) as s:
                form = ballots.ballot_form(session=s, round_id=rid, group_id=group_id)
            level_ids = [level.id for level in form.levels]  # 不了解 included
            answer_sets = []
            for _ in range(n):
                rng = data.draw(st.randoms(use_true_random=False), label="ballot")
                if rng.random() < 0.3:  # 一刀切, sometimes all 不了解
                    level = rng.choice(level_ids)
                    answer_sets.append(dict.fromkeys(form.items, level))
                else:
                    answer_sets.append({item: rng.choice(level_ids) for item in form.items})
            _vote(engine, rid, group_id, *answer_sets)
        count(engine, rid)

        with db.session(engine) as s:
            target_ids = [t.id for t in rounds.targets_of(session=s, round_id=rid)]
        leader = data.draw(
            st.dictionaries(
                st.sampled_from(target_ids),
                st.none() | st.floats(0, 100, allow_nan=False),
                max_size=4,
            ),
            label="leader scores",
        )
        for drop in (False, True):
            chosen = ScoringSettings(min_ballots=minimum, drop_uniform=drop)
            from_tallies, from_ratings = _results(
                engine, rid, settings=chosen, leader_scores=leader
            )
            assert from_tallies == from_ratings
            summaries = {g.group_id: g for g in from_tallies.groups}
            for result in from_tallies.targets:
                enough = [g for g in result.groups if g.status == OK]
                for group in result.groups:
                    assert group.ballots == summaries[group.group_id].counted
                    if group.status == INSUFFICIENT:
                        assert group.score is None and group.ballots < minimum
                # Every counted ballot of every group with enough rates every criterion once.
                for criterion in result.criteria:
                    assert sum(criterion.distribution.values()) == sum(g.ballots for g in enough)
    finally:
        engine.dispose()
