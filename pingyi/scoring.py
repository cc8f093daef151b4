"""Scoring: results of a round from its tallies and the leaders' scores (docs/DESIGN.md "Results").

`score_round` is pure: counts in, results out. Per target and criterion it gives the level
distribution, 好评率 and mean score; per target the score of each evaluator group, the mass
score, the leader score, the combined score, the grade, the rank within its category and the
change since the previous round. `round_results` feeds it from the tallies (a handful of
indexed queries, never the ratings: the live meeting screen calls it); `results_from_ratings`
feeds it from the raw ballots and ratings, for audits and for checking the tallies. Both
take the leader scores of the round's submitted 领导点评 (`reviews.leader_scores`) unless
given others.

How the numbers are made:
- A rating scores its level's score (好/较好/一般/差 = 100/80/60/40, or the group's own scale's,
  e.g. 满意/基本满意/不满意 = 100/70/40); 不了解 has no score: it is counted in the distribution
  and nowhere else. "Rated" counts the scored ratings only.
- 好评率 = ratings at the two highest-scored levels of their group's scale (好, 较好) / rated
  (`criteria.good_levels`).
- A 总体评议 group rates each target once, as criterion 0 (`criteria.OVERALL`, 总体评价): its
  ratings count like any others, so its score for a target is the mean of its overall ratings.
- A group's score for a target is the mean of every scored rating the group gave the target,
  over all its criteria: each rating counts once.
- A group with fewer ballots than the round's minimum is 样本不足: it shows no numbers, and its
  ratings count nowhere, not even in the per-criterion statistics, which are pooled over the
  groups with enough ballots only.
- Mass score = the groups' scores averaged with the group weights (equal by default), over the
  groups that have a score. Combined = leader × leader weight + mass × mass weight; when one
  part is missing the other stands alone (weights renormalised) and `missing` says which.
- Scores are rounded to 2 decimals (rates to 4) once, at the end; grades, ranks and changes
  follow the rounded score, so they agree with what people see.
- With `drop_uniform` the 一刀切 ballots (one level for every item) are left out entirely: their
  ratings and their ballots, so a group may fall below the minimum.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, NamedTuple

from sqlalchemy import Result, and_, exists, func, select
from sqlmodel import Session, col
from typing_extensions import TypeIs

from pingyi import audit, criteria, reviews, tally
from pingyi.audit import Action
from pingyi.criteria import LevelView
from pingyi.models import (
    FormKind,
    GroupForm,
    LeaderAssignment,
    MassAssignment,
    Review,
    Round,
    Target,
    TemplateKey,
)

OK: Final = "ok"
INSUFFICIENT: Final = "样本不足"
Status = Literal["ok", "样本不足"]
NO_GRADE = "暂无"  # shown when a target has neither a leader score nor a mass score
LEADER = "leader"  # names of the parts of the combined score, in `TargetResult.missing`
MASS = "mass"

DEFAULT_GRADES: tuple[tuple[str, float], ...] = (
    ("优秀", 90.0),
    ("合格", 75.0),
    ("基本合格", 60.0),
    ("不合格", 0.0),
)
_WEIGHT_TOLERANCE = 1e-6
_SCORE_DECIMALS = 2
_RATE_DECIMALS = 4

# Keys of Round.settings, read and written only by `ScoringSettings.from_round` and
# `save_settings`.
KEY_LEADER_WEIGHT = "leader_weight"  # number, default 0.4
KEY_MASS_WEIGHT = "mass_weight"  # number, default 0.6; leader + mass = 1
KEY_GROUP_WEIGHTS = "group_weights"  # {"<evaluator group id>": number} or null (equal)
KEY_GRADES = "grade_thresholds"  # [[name, min score], …] from the highest; the last min is 0
KEY_DROP_UNIFORM = "drop_uniform"  # bool, default false: leave 一刀切 ballots out of scores
KEY_MIN_BALLOTS = "min_ballots"  # int ≥ 1, default 5: fewer ballots in a group are 样本不足
SETTINGS_KEYS = (
    KEY_LEADER_WEIGHT,
    KEY_MASS_WEIGHT,
    KEY_GROUP_WEIGHTS,
    KEY_GRADES,
    KEY_DROP_UNIFORM,
    KEY_MIN_BALLOTS,
)

TargetKey = tuple[str, int | None]  # ("member", member id) / ("branch", branch id) / ("team", None)


class ScoringError(ValueError):
    """Settings or inputs that cannot be scored; the message is for the office, in Chinese."""


# ---- settings


@dataclass(frozen=True)
class ScoringSettings:
    leader_weight: float = 0.4
    mass_weight: float = 0.6
    # Relative weights of the evaluator groups (by id); None: all equal. A group not listed
    # weighs 1.
    group_weights: Mapping[int, float] | None = None
    # (grade, minimum score), from the highest; a score gets the first grade it reaches.
    grades: tuple[tuple[str, float], ...] = DEFAULT_GRADES
    min_ballots: int = 5
    drop_uniform: bool = False

    def __post_init__(self) -> None:
        # Copies, so a caller's dict or list changed later cannot change frozen settings.
        if self.group_weights is not None:
            object.__setattr__(self, "group_weights", dict(self.group_weights))
        object.__setattr__(self, "grades", tuple((n, m) for n, m in self.grades))

    def group_weight(self, group_id: int) -> float:
        if self.group_weights is None:
            return 1.0
        return float(self.group_weights.get(group_id, 1.0))

    def validate(self) -> None:
        """Raise ScoringError, in Chinese, when the settings cannot be used."""
        weights = (self.leader_weight, self.mass_weight)
        if any(not _finite(w) for w in weights):
            raise ScoringError("领导点评和群众评议的权重应为数字")
        if any(w < 0 for w in weights):
            raise ScoringError("权重不能为负数")
        if abs(self.leader_weight + self.mass_weight - 1) > _WEIGHT_TOLERANCE:
            raise ScoringError(
                f"领导点评与群众评议的权重之和应为 100%(现为 "
                f"{(self.leader_weight + self.mass_weight) * 100:g}%)"
            )
        if self.group_weights is not None:
            values = list(self.group_weights.values())
            if any(not _finite(w) for w in values):
                raise ScoringError("评议群体的权重应为数字")
            if any(w < 0 for w in values):
                raise ScoringError("评议群体的权重不能为负数")
            if values and not any(w > 0 for w in values):
                raise ScoringError("评议群体的权重不能全为 0")
        self._validate_grades()
        if isinstance(self.min_ballots, bool) or not isinstance(self.min_ballots, int):
            raise ScoringError("最少有效票数应为整数")
        if self.min_ballots < 1:
            raise ScoringError("最少有效票数至少为 1")
        if not isinstance(self.drop_uniform, bool):
            raise ScoringError("是否剔除一刀切票应为是或否")

    def _validate_grades(self) -> None:
        if not self.grades:
            raise ScoringError("请设置等级及其分数线")
        names = [name for name, _ in self.grades]
        if any(not isinstance(n, str) or not n.strip() for n in names):
            raise ScoringError("等级名称不能为空")
        if len(set(names)) != len(names):
            raise ScoringError("等级名称不能重复")
        mins = [m for _, m in self.grades]
        if any(not _finite(m) for m in mins):
            raise ScoringError("等级分数线应为数字")
        if any(not 0 <= m <= 100 for m in mins):
            raise ScoringError("等级分数线应在 0 到 100 之间")
        if any(high <= low for high, low in itertools.pairwise(mins)):
            raise ScoringError("等级分数线应从高到低排列,且不能相同")
        if mins[-1] != 0:
            raise ScoringError(f"最低一档「{names[-1]}」的分数线应为 0,使每个得分都有等级")

    def to_settings_dict(self) -> dict[str, Any]:
        """The JSON of Round.settings for these settings."""
        return {
            KEY_LEADER_WEIGHT: self.leader_weight,
            KEY_MASS_WEIGHT: self.mass_weight,
            KEY_GROUP_WEIGHTS: (
                None
                if self.group_weights is None
                else {str(g): w for g, w in sorted(self.group_weights.items())}
            ),
            KEY_GRADES: [[name, minimum] for name, minimum in self.grades],
            KEY_DROP_UNIFORM: self.drop_uniform,
            KEY_MIN_BALLOTS: self.min_ballots,
        }

    @classmethod
    def from_round(cls, round_: Round) -> ScoringSettings:
        """The round's settings: its stored keys, defaults for the others; validated."""
        stored = round_.settings or {}
        defaults = cls()
        try:
            group_weights = stored.get(KEY_GROUP_WEIGHTS)
            grades = stored.get(KEY_GRADES)
            settings = cls(
                leader_weight=_number(stored.get(KEY_LEADER_WEIGHT, defaults.leader_weight)),
                mass_weight=_number(stored.get(KEY_MASS_WEIGHT, defaults.mass_weight)),
                group_weights=(
                    None
                    if group_weights is None
                    else {int(g): _number(w) for g, w in dict(group_weights).items()}
                ),
                grades=(
                    defaults.grades
                    if grades is None
                    else tuple((str(name), _number(minimum)) for name, minimum in grades)
                ),
                min_ballots=stored.get(KEY_MIN_BALLOTS, defaults.min_ballots),
                drop_uniform=stored.get(KEY_DROP_UNIFORM, defaults.drop_uniform),
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ScoringError):
                raise
            raise ScoringError(f"「{round_.name}」的评分设置无法读取:{exc}") from exc
        settings.validate()
        return settings


def _finite(value: object) -> TypeIs[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: object) -> float:
    if not _finite(value):
        raise ScoringError(f"「{value}」不是有效的数字")
    return float(value)


def save_settings(
    *, session: Session, round_: Round, settings: ScoringSettings, actor: str
) -> Round:
    """Store the scoring settings in the round; refused once its results are published."""
    if round_.results_published:
        raise ScoringError(f"「{round_.name}」的评议结果已公布,评分设置不能再修改")
    settings.validate()
    # A new dict, so the JSON column sees the change; other keys of Round.settings are kept.
    round_.settings = {**(round_.settings or {}), **settings.to_settings_dict()}
    session.add(round_)
    session.flush()
    detail = (
        f"「{round_.name}」领导点评 {settings.leader_weight:.0%},"
        f"群众评议 {settings.mass_weight:.0%},最少有效票 {settings.min_ballots}"
    )
    audit.record(session=session, actor=actor, action=Action.EDIT_SCORING, detail=detail)
    return round_


def grade_of(
    score: float | None, grades: Sequence[tuple[str, float]] = DEFAULT_GRADES
) -> str | None:
    """The first grade whose minimum the score reaches; None without a score."""
    if score is None:
        return None
    for name, minimum in grades:
        if score >= minimum:
            return name
    return grades[-1][0]


# ---- the rules, each written once: `score_round` and the meeting screen's standings call them


def counted_ballots(given: GroupBallots | None, settings: ScoringSettings) -> int:
    """A group's ballots that count: all, or all but the 一刀切 ones when those are dropped."""
    ballots, uniform = given or (0, 0)
    return ballots - uniform if settings.drop_uniform else ballots


def group_status(given: GroupBallots | None, settings: ScoringSettings) -> Status:
    """OK with at least the round's minimum of counted ballots, else 样本不足."""
    return OK if counted_ballots(given, settings) >= settings.min_ballots else INSUFFICIENT


def rated_and_total(counts: Iterable[int], level_scores: Iterable[float]) -> tuple[int, float]:
    """Scored ratings and the sum of their scores, the counts given in the scale's order: one
    order of additions, so the same float whatever order the counts came in."""
    rated = 0
    total = 0.0
    for n, score in zip(counts, level_scores, strict=True):
        rated += n
        total += n * score
    return rated, total


def mean_score(rated: int, total: float) -> float | None:
    """The mean of the scored ratings, unrounded; None when nothing was scored (all 不了解)."""
    return total / rated if rated else None


def good_rate(good: int, rated: int) -> float | None:
    """好评率: ratings at `criteria.good_levels` over the scored ratings, rounded."""
    return round(good / rated, _RATE_DECIMALS) if rated else None


def mass_score(group_scores: Mapping[int, float], settings: ScoringSettings) -> float | None:
    """The groups' unrounded scores (group id → score) averaged with the group weights."""
    weighted = [(settings.group_weight(gid), s) for gid, s in group_scores.items()]
    weight = sum(w for w, _ in weighted)
    return sum(w * s for w, s in weighted) / weight if weight > 0 else None


def combined_score(
    leader: float | None, mass: float | None, settings: ScoringSettings
) -> float | None:
    """Leader × leader weight + mass × mass weight, rounded; a missing part leaves the other
    alone (weights renormalised); None with neither."""
    parts = ((settings.leader_weight, leader), (settings.mass_weight, mass))
    present = [(w, s) for w, s in parts if s is not None and w > 0]
    total_weight = sum(w for w, _ in present)
    return _round(sum(w * s for w, s in present) / total_weight) if total_weight else None


def ranks(scores: Sequence[float | None]) -> list[int | None]:
    """The rank of each score, best first, ties sharing a rank (1, 1, 3); None without one."""
    scored = [i for i, score in enumerate(scores) if score is not None]
    order = sorted(scored, key=lambda i: -(scores[i] or 0.0))  # stable: ties keep their order
    ranked: list[int | None] = [None] * len(scores)
    for position, index in enumerate(order):
        before = order[position - 1]
        tied = position > 0 and scores[index] == scores[before]
        ranked[index] = ranked[before] if tied else position + 1
    return ranked


# ---- inputs and results of the pure core


class TallyCount(NamedTuple):
    group_id: int
    target_id: int
    criterion_id: int
    level_id: int
    uniform: bool  # from 一刀切 ballots
    ratings: int


class GroupBallots(NamedTuple):
    ballots: int
    uniform: int  # of which 一刀切


@dataclass(frozen=True)
class TargetInfo:
    target_id: int
    kind: str
    template_key: str  # the category a target is ranked in
    name: str
    branch_name: str
    key: TargetKey  # the same target in another round has the same key
    groups: tuple[int, ...] = ()  # evaluator groups assigned to it (with or without ballots)
    criteria: tuple[int, ...] = ()  # its criteria in order; all are listed, rated or not
    reviewed: bool = True  # has leader reviewers: a missing leader score is flagged


@dataclass(frozen=True)
class CriterionResult:
    criterion_id: int
    distribution: dict[str, int]  # level label → ratings, every level of the scale in order
    rated: int  # scored ratings: 不了解 excluded
    good: int  # ratings at the group's two best levels (好, 较好)
    good_rate: float | None  # 好评率: good / rated
    mean: float | None


@dataclass(frozen=True)
class GroupScore:
    group_id: int
    status: Status
    score: float | None  # None when 样本不足, or when every rating was 不了解
    ballots: int  # ballots counted (without 一刀切 ones when they are dropped)
    # This group's own distribution per criterion (its scale's labels); none when 样本不足,
    # so a group too small to stay anonymous shows nothing of its own.
    criteria: tuple[CriterionResult, ...] = ()


@dataclass(frozen=True)
class GroupSummary:
    """An evaluator group's ballots in the round."""

    group_id: int
    ballots: int  # all ballots
    uniform: int  # 一刀切 ballots among them
    uniform_share: float | None  # uniform / ballots; None without ballots
    counted: int  # ballots that count: all, or all but the 一刀切 ones when those are dropped
    status: Status


@dataclass(frozen=True)
class TargetResult:
    target_id: int
    kind: str
    template_key: str
    name: str
    branch_name: str
    key: TargetKey
    criteria: list[CriterionResult]
    groups: list[GroupScore]
    mass_score: float | None
    leader_score: float | None
    combined: float | None
    grade: str | None  # None: 暂无
    rank: int | None  # within template_key, 1 = best, ties share; None without a score
    change: float | None  # combined minus last round's; None when either is missing
    missing: tuple[str, ...] = ()  # LEADER / MASS: expected but absent, weights renormalised

    @property
    def grade_label(self) -> str:
        return self.grade or NO_GRADE


@dataclass(frozen=True)
class RoundResult:
    targets: list[TargetResult]
    groups: list[GroupSummary]
    levels: tuple[LevelView, ...]  # the round's scale, then each group's own
    settings: ScoringSettings = field(default_factory=ScoringSettings)

    @property
    def labels(self) -> list[str]:
        """The distribution's columns: each level label once, in scale order."""
        return criteria.level_labels(self.levels)

    def levels_of(self, target: TargetResult) -> list[LevelView]:
        """The levels of the scales the target's groups rate it on."""
        return criteria.levels_for(self.levels, [g.group_id for g in target.groups])

    def target(self, target_id: int) -> TargetResult:
        return next(t for t in self.targets if t.target_id == target_id)


# ---- the pure core


def score_round(
    *,
    targets: Sequence[TargetInfo],
    levels: Sequence[LevelView],
    tallies: Iterable[TallyCount],
    ballots: Mapping[int, GroupBallots],
    leader_scores: Mapping[int, float | None],
    settings: ScoringSettings,
    previous: Mapping[TargetKey, float] | None = None,
) -> RoundResult:
    """Results of every target, in the order given. Deterministic: the order of the tallies
    never changes a number."""
    settings.validate()
    levels = tuple(levels)
    level_ids = {level.id for level in levels}
    scores = {level.id: level.score for level in levels if level.score is not None}
    good = criteria.good_levels(levels)

    target_ids = {t.target_id for t in targets}
    # target → group → criterion → level → ratings
    counts: dict[int, dict[int, dict[int, dict[int, int]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    )
    for row in tallies:
        if row.target_id not in target_ids or row.ratings == 0:
            continue
        if row.level_id not in level_ids:
            raise ScoringError(f"计数中的评价等级 {row.level_id} 不在本轮的评价等级中")
        if settings.drop_uniform and row.uniform:
            continue
        counts[row.target_id][row.group_id][row.criterion_id][row.level_id] += row.ratings

    group_ids = set(ballots)
    for info in targets:
        group_ids.update(info.groups)
        group_ids.update(counts.get(info.target_id, {}))
    summaries = {gid: _summary(gid, ballots.get(gid), settings) for gid in sorted(group_ids)}

    results = [
        _target_result(
            info,
            counts.get(info.target_id, {}),
            levels,
            scores,
            good,
            summaries,
            leader_scores.get(info.target_id),
            settings,
            previous or {},
        )
        for info in targets
    ]
    return RoundResult(
        targets=_ranked(results),
        groups=list(summaries.values()),
        levels=levels,
        settings=settings,
    )


def _summary(group_id: int, given: GroupBallots | None, settings: ScoringSettings) -> GroupSummary:
    ballots, uniform = given or GroupBallots(0, 0)
    return GroupSummary(
        group_id=group_id,
        ballots=ballots,
        uniform=uniform,
        uniform_share=round(uniform / ballots, _RATE_DECIMALS) if ballots else None,
        counted=counted_ballots(given, settings),
        status=group_status(given, settings),
    )


def _rated_and_total(by_level: Mapping[int, int], scores: Mapping[int, float]) -> tuple[int, float]:
    return rated_and_total((by_level.get(lid, 0) for lid in scores), scores.values())


def _target_result(
    info: TargetInfo,
    counts: Mapping[int, Mapping[int, Mapping[int, int]]],
    levels: tuple[LevelView, ...],
    scores: Mapping[int, float],
    good: frozenset[int],
    summaries: Mapping[int, GroupSummary],
    leader: float | None,
    settings: ScoringSettings,
    previous: Mapping[TargetKey, float],
) -> TargetResult:
    group_ids = sorted(set(info.groups) | set(counts))
    sufficient = [gid for gid in group_ids if summaries[gid].status == OK]

    order = {cid: index for index, cid in enumerate(info.criteria)}
    groups: list[GroupScore] = []
    raw_group_scores: dict[int, float] = {}
    for gid in group_ids:
        summary = summaries[gid]
        if summary.status != OK:
            groups.append(GroupScore(gid, INSUFFICIENT, None, summary.counted))
            continue
        pooled: dict[int, int] = defaultdict(int)
        for by_level in counts.get(gid, {}).values():
            for level_id, n in by_level.items():
                pooled[level_id] += n
        mean = mean_score(*_rated_and_total(pooled, scores))
        if mean is not None:
            raw_group_scores[gid] = mean
        score = _round(raw_group_scores.get(gid))
        rated_here = counts.get(gid, {})
        in_order = sorted(rated_here, key=lambda cid: (order.get(cid, len(order)), cid))
        own = tuple(
            _criterion_result(
                cid, rated_here[cid], criteria.levels_for(levels, [gid]), scores, good
            )
            for cid in in_order
        )
        groups.append(GroupScore(gid, OK, score, summary.counted, own))

    criterion_ids = list(dict.fromkeys(info.criteria))
    seen = {cid for gid in sufficient for cid in counts.get(gid, {})}
    criterion_ids += sorted(seen - set(criterion_ids))
    criteria_results = []
    for cid in criterion_ids:
        pooled_groups: dict[int, int] = defaultdict(int)
        for gid in sufficient:
            for level_id, n in counts.get(gid, {}).get(cid, {}).items():
                pooled_groups[level_id] += n
        criteria_results.append(_criterion_result(cid, pooled_groups, levels, scores, good))

    mass = mass_score(raw_group_scores, settings)
    if leader is not None and not (_finite(leader) and 0 <= leader <= 100):
        raise ScoringError(f"「{info.name}」的领导点评得分应在 0 到 100 之间")
    combined = combined_score(leader, mass, settings)

    missing = []
    if info.reviewed and settings.leader_weight > 0 and leader is None:
        missing.append(LEADER)
    if group_ids and settings.mass_weight > 0 and mass is None:
        missing.append(MASS)

    before = previous.get(info.key)
    return TargetResult(
        target_id=info.target_id,
        kind=info.kind,
        template_key=info.template_key,
        name=info.name,
        branch_name=info.branch_name,
        key=info.key,
        criteria=criteria_results,
        groups=groups,
        mass_score=_round(mass),
        leader_score=_round(leader),
        combined=combined,
        grade=grade_of(combined, settings.grades),
        rank=None,
        change=_round(combined - before) if combined is not None and before is not None else None,
        missing=tuple(missing),
    )


def _criterion_result(
    criterion_id: int,
    by_level: Mapping[int, int],
    levels: Sequence[LevelView],
    scores: Mapping[int, float],
    good: frozenset[int],
) -> CriterionResult:
    rated, total = _rated_and_total(by_level, scores)
    good_count = sum(by_level.get(lid, 0) for lid in good)
    return CriterionResult(
        criterion_id=criterion_id,
        distribution=_distribution(by_level, levels),
        rated=rated,
        good=good_count,
        good_rate=good_rate(good_count, rated),
        mean=_round(mean_score(rated, total)),
    )


def _distribution(by_level: Mapping[int, int], levels: Sequence[LevelView]) -> dict[str, int]:
    """Ratings per label, every label of the round's scales once in order: groups whose
    scales share a label (不了解) are added together."""
    distribution = dict.fromkeys(criteria.level_labels(levels), 0)
    for level in levels:
        distribution[level.label] += by_level.get(level.id, 0)
    return distribution


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, _SCORE_DECIMALS)


def _ranked(results: list[TargetResult]) -> list[TargetResult]:
    """Rank within each category by combined score (`ranks`)."""
    by_category: dict[str, list[int]] = defaultdict(list)
    for index, result in enumerate(results):
        by_category[result.template_key].append(index)
    rank_at: dict[int, int | None] = {}
    for indices in by_category.values():
        rank_at.update(zip(indices, ranks([results[i].combined for i in indices]), strict=True))
    return [replace(r, rank=rank_at[i]) for i, r in enumerate(results)]


# ---- from the database

_Counts = tuple[list[TallyCount], dict[int, GroupBallots]]
_CountReader = Callable[[Session, int], _Counts]


def _counts_from_tallies(session: Session, round_id: int) -> _Counts:
    tallies = [
        TallyCount(*key, n) for key, n in tally.stored(session=session, round_id=round_id).items()
    ]
    ballots = {
        gid: GroupBallots(n, uniform)
        for gid, (n, uniform) in tally.participation(session=session, round_id=round_id).items()
    }
    return tallies, ballots


def _counts_from_ratings(session: Session, round_id: int) -> _Counts:
    tallies = [
        TallyCount(*key, n)
        for key, n in tally.recompute(session=session, round_id=round_id).items()
    ]
    ballots = {
        gid: GroupBallots(n, uniform)
        for gid, (n, uniform) in tally.ballots_counted(session.connection(), round_id).items()
    }
    return tallies, ballots


_SubmittedReviews = dict[int, list[dict[str, int]]]  # target id → scores of each review


def _target_infos(session: Session, round_id: int) -> tuple[list[TargetInfo], _SubmittedReviews]:
    """The round's targets with their groups, criteria and whether leaders review them; and
    the scores of their submitted 领导点评, read in the same query (a target has one or two
    groups and reviewers, so the rows stay few)."""
    by_template = criteria.round_criteria(session=session, round_id=round_id)
    kinds: dict[int, FormKind] = {}  # each group's form; no row: 分项
    reviewed = exists().where(col(LeaderAssignment.target_id) == Target.id)
    # One row per target, assigned group and submitted review (one row with neither for a
    # target without any).
    rows: Result[Any] = session.connection().execute(
        select(
            col(Target.id),
            col(Target.kind),
            col(Target.template_key),
            col(Target.name),
            col(Target.branch_name),
            col(Target.branch_id),
            col(Target.member_id),
            reviewed.label("reviewed"),
            col(MassAssignment.group_id),
            col(GroupForm.kind).label("form_kind"),
            col(Review.id).label("review_id"),
            col(Review.scores).label("review_scores"),
        )
        .outerjoin(MassAssignment, col(MassAssignment.target_id) == Target.id)
        .outerjoin(
            GroupForm,
            and_(
                col(GroupForm.round_id) == round_id,
                col(GroupForm.group_id) == MassAssignment.group_id,
            ),
        )
        .outerjoin(Review, and_(col(Review.target_id) == Target.id, col(Review.submitted)))
        .where(col(Target.round_id) == round_id)
        .order_by(
            col(Target.position), col(Target.id), col(MassAssignment.group_id), col(Review.id)
        )
    )

    infos: dict[int, TargetInfo] = {}
    submitted: dict[int, dict[int, dict[str, int]]] = defaultdict(dict)
    for row in rows:
        info = infos.get(row.id)
        if info is None:
            key: TargetKey
            if row.kind == "member":
                key = ("member", row.member_id)
            elif row.kind == "branch":
                key = ("branch", row.branch_id)
            else:
                key = (str(row.kind), None)
            info = infos[row.id] = TargetInfo(
                target_id=row.id,
                kind=str(row.kind),
                template_key=str(row.template_key),
                name=row.name,
                branch_name=row.branch_name,
                key=key,
                reviewed=bool(row.reviewed),
            )
        if row.group_id is not None and row.group_id not in info.groups:
            infos[row.id] = replace(info, groups=(*info.groups, row.group_id))
            kinds[row.group_id] = FormKind(row.form_kind or FormKind.ITEMIZED)
        if row.review_id is not None:
            submitted[row.id][row.review_id] = row.review_scores or {}
    reviews_of = {tid: [by_id[rid] for rid in sorted(by_id)] for tid, by_id in submitted.items()}
    for tid, info in infos.items():  # 分项 groups rate the criteria, 总体 ones 总体评价
        items = criteria.rated_items(
            by_template[TemplateKey(info.template_key)],
            (kinds[g] for g in info.groups),
        )
        infos[tid] = replace(info, criteria=tuple(c.id for c in items))
    return list(infos.values()), reviews_of


def _score_from_db(
    session: Session,
    round_: Round,
    counts: _CountReader,
    leader_scores: Mapping[int, float | None] | None,
    settings: ScoringSettings,
    previous: Mapping[TargetKey, float] | None,
) -> RoundResult:
    """`leader_scores` None: those of the round's submitted 领导点评."""
    round_id: int = round_.id
    tallies, ballots = counts(session, round_id)
    targets, submitted = _target_infos(session, round_id)
    levels = criteria.round_levels(session=session, round_id=round_id)
    if leader_scores is None:  # leaders review on the round's own scale
        own = [level for level in levels if level.group_id is None]
        leader_scores = reviews.scores_of_targets(submitted, own)
    return score_round(
        targets=targets,
        levels=levels,
        tallies=tallies,
        ballots=ballots,
        leader_scores=leader_scores,
        settings=settings,
        previous=previous,
    )


def previous_round_id(*, session: Session, round_id: int) -> int | None:
    """The round before this one: the greatest id below it among rounds that have targets."""
    return (
        session.connection()
        .execute(select(func.max(Target.round_id)).where(col(Target.round_id) < round_id))
        .scalar()
    )


def _results(
    session: Session,
    round_id: int,
    counts: _CountReader,
    leader_scores: Mapping[int, float | None] | None,
    settings: ScoringSettings | None,
    previous_leader_scores: Mapping[int, float | None] | None,
    with_change: bool,
) -> RoundResult:
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise ScoringError("找不到该评议轮次")
    settings = settings or ScoringSettings.from_round(round_)
    previous: dict[TargetKey, float] | None = None
    before_id = previous_round_id(session=session, round_id=round_id) if with_change else None
    if before_id is not None:
        before = session.get(Round, before_id)
        assert before is not None
        # Last round as it was scored: its own settings, which are frozen once published.
        last = _score_from_db(
            session,
            before,
            counts,
            previous_leader_scores,
            ScoringSettings.from_round(before),
            None,
        )
        previous = {t.key: t.combined for t in last.targets if t.combined is not None}
    return _score_from_db(session, round_, counts, leader_scores, settings, previous)


def round_results(
    *,
    session: Session,
    round_id: int,
    leader_scores: Mapping[int, float | None] | None = None,
    settings: ScoringSettings | None = None,
    previous_leader_scores: Mapping[int, float | None] | None = None,
    with_change: bool = True,
) -> RoundResult:
    """The round's results from its tallies: no scan of the ratings.

    `leader_scores` (target id → 0–100) are by default those of the round's submitted 领导点评
    (`reviews.leader_scores`; `previous_leader_scores` likewise for last round); pass a mapping
    to score other ones. `settings` overrides the round's own (to preview a change before
    saving it). For `change`, last round is scored
    from its tallies with its own settings (frozen once published): five small indexed queries
    per round, and three more; `with_change=False` skips last round.
    """
    return _results(
        session,
        round_id,
        _counts_from_tallies,
        leader_scores,
        settings,
        previous_leader_scores,
        with_change,
    )


def results_from_ratings(
    *,
    session: Session,
    round_id: int,
    leader_scores: Mapping[int, float | None] | None = None,
    settings: ScoringSettings | None = None,
    previous_leader_scores: Mapping[int, float | None] | None = None,
    with_change: bool = True,
) -> RoundResult:
    """`round_results` recounted from the ballots and ratings themselves, for audits: equal to
    it whenever the tallies are right. Scans the round's ratings."""
    return _results(
        session,
        round_id,
        _counts_from_ratings,
        leader_scores,
        settings,
        previous_leader_scores,
        with_change,
    )


class TrendPoint(NamedTuple):
    round_id: int
    round_name: str
    combined: float | None


def trend(
    *, session: Session, key: TargetKey, until_round_id: int | None = None
) -> list[TrendPoint]:
    """The combined score of one target (by its key) in every round that has it, oldest first,
    up to `until_round_id`. Each round is scored from its tallies with its own settings, as
    `round_results` scores it: a few indexed queries per round."""
    kind, ref = key
    query = (
        select(col(Target.round_id), col(Target.id), col(Round.name))
        .join(Round, col(Round.id) == Target.round_id)
        .where(col(Target.kind) == kind)
        .order_by(col(Target.round_id))
    )
    if kind == "member":
        query = query.where(col(Target.member_id) == ref)
    elif kind == "branch":
        query = query.where(col(Target.branch_id) == ref)
    if until_round_id is not None:
        query = query.where(col(Target.round_id) <= until_round_id)
    points = []
    for round_id, target_id, name in session.connection().execute(query):
        result = round_results(session=session, round_id=round_id, with_change=False)
        points.append(TrendPoint(round_id, name, result.target(target_id).combined))
    return points
