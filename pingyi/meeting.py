"""会议大屏: what one refresh of the live meeting screen shows, and the office's switch that
publishes the results (docs/DESIGN.md "Results").

`snapshot` reads only what is kept up to date at each ballot: the codes (issued / opened /
submitted per group), the per-minute ballot tallies and, once published, the rating tallies.
It never reads the ratings, so a refresh every few seconds costs the same with ten ballots or
ten thousand.

The ranking is `scoring.round_results` without its per-criterion statistics, which a ranking
does not show: a group's score pools every criterion anyway, so the tallies are summed over
criteria in the database (one row per group and target, in the tally's key order) and scored
by scoring's own rule functions (`group_status`, `rated_and_total`, `mass_score`,
`combined_score`, `good_rate`, `ranks`), so every number is the same float
(tests/test_meeting.py holds the two equal). That is about a sixth of the rows and a tenth of
the Python work of scoring criterion by criterion. `target_detail` gives one target criterion
by criterion, through `scoring.score_round` itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple

from sqlalchemy import case, func, select
from sqlmodel import Session

from pingyi import audit, codes, criteria, groups, reviews, scoring, tally
from pingyi.audit import Action
from pingyi.codes import GroupCodeCounts
from pingyi.criteria import LevelView
from pingyi.models import (
    TEMPLATE_LABELS,
    BallotTally,
    FormKind,
    MassAssignment,
    Round,
    Step,
    Tally,
    Target,
    TemplateKey,
    table,
)
from pingyi.scoring import INSUFFICIENT, OK, GroupBallots, ScoringSettings, TargetResult

# The bureau's clock for the chart: China keeps one zone and no daylight saving, so a fixed
# offset is exact and needs no time-zone database.
CHINA_TIME = timezone(timedelta(hours=8), "北京时间")

# The order of the results on the screen: organisations first, then people.
CATEGORIES: tuple[TemplateKey, ...] = (
    TemplateKey.BRANCH,
    TemplateKey.TEAM,
    TemplateKey.LEADER,
    TemplateKey.MEMBER,
)

_BALLOT_TALLY = table(BallotTally)
_TALLY = table(Tally)
_TARGET = table(Target)
_MASS = table(MassAssignment)


class MeetingError(ValueError):
    """A request the meeting screen cannot do; the message is for the office, in Chinese."""


# ---- what the screen shows


@dataclass(frozen=True)
class Submissions:
    """One evaluator group's ballots over time, minute by minute (minutes with none left out)."""

    group_id: int
    minutes: tuple[datetime, ...] = ()  # aware, UTC, ascending
    ballots: tuple[int, ...] = ()

    @property
    def cumulative(self) -> tuple[int, ...]:
        total, running = 0, []
        for n in self.ballots:
            total += n
            running.append(total)
        return tuple(running)

    @property
    def total(self) -> int:
        return sum(self.ballots)


class Ranked(NamedTuple):
    """One line of a category's ranking (a tuple: thousands are made at every refresh)."""

    target_id: int
    rank: int | None  # 1 = best, ties share; None without a score (listed last)
    name: str
    branch_name: str
    combined: float | None
    grade: str  # 暂无 without a score
    good_rate: float | None  # 好评率 over all its criteria and the groups with enough ballots
    insufficient: bool  # every group that rates it has too few ballots: 样本不足, no numbers


@dataclass(frozen=True)
class Standings:
    """The published results: each category ranked, and which groups have enough ballots."""

    rankings: dict[TemplateKey, list[Ranked]]  # categories with targets, in screen order
    group_status: dict[int, str]  # group id → OK / 样本不足
    min_ballots: int


@dataclass(frozen=True)
class MeetingSnapshot:
    round_id: int
    round_name: str
    step: Step
    published: bool
    groups: tuple[GroupCodeCounts, ...]  # every evaluator group, in id order
    submissions: dict[int, Submissions]  # group id → its timeline; every group listed
    taken_at: datetime  # aware, UTC
    standings: Standings | None = None  # only when published
    counted: dict[int, tuple[int, int]] = field(default_factory=dict)  # 开箱计票 done: (票, 一刀切)

    @property
    def submitted(self) -> int:
        return sum(g.submitted for g in self.groups)

    @property
    def headcount(self) -> int:
        return sum(g.headcount for g in self.groups)

    def group_name(self, group_id: int) -> str:
        return next((g.group_name for g in self.groups if g.group_id == group_id), "")


@dataclass(frozen=True)
class TargetDetail:
    """One target criterion by criterion, for the drill-down."""

    result: TargetResult  # its rank is None: ranks come from the standings
    category: str
    criterion_names: dict[int, str]
    group_names: dict[int, str]
    levels: tuple[LevelView, ...]


# ---- reading


def snapshot(
    *,
    session: Session,
    round_id: int,
    leader_scores: Mapping[int, float | None] | None = None,
) -> MeetingSnapshot:
    """Everything one refresh of the meeting screen draws; the standings only once published.

    `leader_scores` as for `scoring.round_results` (default: the submitted reviews)."""
    # From the database, not the session's identity map: the office may have just published
    # in another tab.
    round_ = session.get(Round, round_id, populate_existing=True)
    if round_ is None:
        raise MeetingError("找不到该评议轮次")
    counts = tuple(codes.counts(session=session, round_id=round_id))
    submissions = submissions_of(
        session=session, round_id=round_id, group_ids=[c.group_id for c in counts]
    )
    published = bool(round_.results_published)
    return MeetingSnapshot(
        round_id=round_id,
        round_name=round_.name,
        step=Step(round_.step),
        published=published,
        groups=counts,
        submissions=submissions,
        taken_at=datetime.now(UTC),
        counted=tally.participation(session=session, round_id=round_id),
        standings=standings(session=session, round_=round_, leader_scores=leader_scores)
        if published
        else None,
    )


def submissions_of(
    *, session: Session, round_id: int, group_ids: Sequence[int] = ()
) -> dict[int, Submissions]:
    """Each group's ballots minute by minute (every one of `group_ids` listed, with none)."""
    rows = session.connection().execute(
        select(_BALLOT_TALLY.c.group_id, _BALLOT_TALLY.c.minute, _BALLOT_TALLY.c.ballots)
        .where(_BALLOT_TALLY.c.round_id == round_id, _BALLOT_TALLY.c.ballots != 0)
        .order_by(_BALLOT_TALLY.c.group_id, _BALLOT_TALLY.c.minute)
    )
    minutes: dict[int, list[datetime]] = defaultdict(list)
    ballots: dict[int, list[int]] = defaultdict(list)
    for group_id, minute, n in rows:
        # SQLite gives the stored UTC minute back without its zone.
        minutes[group_id].append(minute if minute.tzinfo else minute.replace(tzinfo=UTC))
        ballots[group_id].append(int(n))
    return {
        gid: Submissions(gid, tuple(minutes.get(gid, ())), tuple(ballots.get(gid, ())))
        for gid in sorted({*group_ids, *minutes})
    }


def publish(*, session: Session, round_id: int, published: bool, actor: str) -> Round:
    """公布结果 (True) or 隐藏结果 (False): whether the meeting screen shows the results."""
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise MeetingError("找不到该评议轮次")
    round_.results_published = published
    session.add(round_)
    session.flush()
    action = Action.PUBLISH_RESULTS if published else Action.HIDE_RESULTS
    audit.record(session=session, actor=actor, action=action, detail=round_.name)
    return round_


# ---- the standings: scoring's rules on tallies summed over criteria


def standings(
    *,
    session: Session,
    round_: Round,
    leader_scores: Mapping[int, float | None] | None = None,
    settings: ScoringSettings | None = None,
) -> Standings:
    """Each category ranked as `scoring.round_results` ranks it, from tallies summed over
    criteria: four small queries and one pass over the round's tallies in key order."""
    round_id: int = round_.id
    settings = settings or ScoringSettings.from_round(round_)
    settings.validate()
    if leader_scores is None:  # the submitted 领导点评, as the 结果 page scores them
        leader_scores = reviews.leader_scores(session=session, round_id=round_.id)
    levels = criteria.round_levels(session=session, round_id=round_id)
    scores = {level.id: level.score for level in levels if level.score is not None}
    good = criteria.good_levels(levels)  # 好 and 较好 of each scale, as scoring
    ballots = {
        gid: GroupBallots(n, uniform)
        for gid, (n, uniform) in tally.participation(session=session, round_id=round_id).items()
    }
    status = {gid: scoring.group_status(given, settings) for gid, given in ballots.items()}
    conn = session.connection()

    # Ratings per level of each group for each target: the columns follow the scale order,
    # the rows the tally's primary key, so the database groups as it reads.
    kept = _TALLY.c.uniform.is_(False) if settings.drop_uniform else None
    per_level = [
        func.sum(
            case(
                (
                    (_TALLY.c.level_id == lid)
                    if kept is None
                    else (_TALLY.c.level_id == lid) & kept,
                    _TALLY.c.count,
                ),
                else_=0,
            )
        )
        for lid in scores
    ]
    counted: dict[int, dict[int, tuple[int, ...]]] = defaultdict(dict)
    for gid, tid, *level_counts in conn.execute(
        select(_TALLY.c.group_id, _TALLY.c.target_id, *per_level)
        .where(_TALLY.c.round_id == round_id)
        .group_by(_TALLY.c.group_id, _TALLY.c.target_id)
    ):
        if any(level_counts):
            counted[tid][gid] = tuple(level_counts)

    assigned: dict[int, list[int]] = {}
    facts: dict[int, tuple[str, str, str]] = {}
    for tid, key, name, branch_name, gid in conn.execute(
        select(
            _TARGET.c.id,
            _TARGET.c.template_key,
            _TARGET.c.name,
            _TARGET.c.branch_name,
            _MASS.c.group_id,
        )
        .outerjoin(_MASS, _MASS.c.target_id == _TARGET.c.id)
        .where(_TARGET.c.round_id == round_id)
        .order_by(_TARGET.c.position, _TARGET.c.id, _MASS.c.group_id)
    ):
        if tid not in facts:
            facts[tid] = (str(key), name, branch_name)
            assigned[tid] = []
        if gid is not None:
            assigned[tid].append(gid)

    level_scores = list(scores.values())
    good_at = [i for i, lid in enumerate(scores) if lid in good]  # positions in scale order
    rows: dict[str, list[Ranked]] = defaultdict(list)
    for tid, (key, name, branch_name) in facts.items():
        by_group = counted.get(tid, {})
        group_ids = sorted(set(assigned[tid]) | set(by_group))
        raw: dict[int, float] = {}
        rated_all = good_all = 0
        for gid in group_ids:
            if status.get(gid, INSUFFICIENT) != OK:
                continue
            by_level = by_group.get(gid)
            if by_level is None:
                continue
            rated, total = scoring.rated_and_total(by_level, level_scores)
            good_all += sum(by_level[i] for i in good_at)
            rated_all += rated
            mean = scoring.mean_score(rated, total)
            if mean is not None:
                raw[gid] = mean
        combined = scoring.combined_score(
            leader_scores.get(tid), scoring.mass_score(raw, settings), settings
        )
        rows[key].append(
            Ranked(
                target_id=tid,
                rank=None,
                name=name,
                branch_name=branch_name,
                combined=combined,
                grade=scoring.grade_of(combined, settings.grades) or scoring.NO_GRADE,
                good_rate=scoring.good_rate(good_all, rated_all),
                insufficient=bool(group_ids)
                and all(status.get(g, INSUFFICIENT) != OK for g in group_ids),
            )
        )
    return Standings(
        rankings={key: _ranked(rows[key]) for key in CATEGORIES if rows.get(key)},
        group_status={gid: status.get(gid, INSUFFICIENT) for gid in sorted(status)},
        min_ballots=settings.min_ballots,
    )


def _ranked(rows: list[Ranked]) -> list[Ranked]:
    """Best first by `scoring.ranks`, ties in the round's order; targets without a score after,
    in the round's order."""
    ranked = [
        row._replace(rank=rank)
        for row, rank in zip(rows, scoring.ranks([r.combined for r in rows]), strict=True)
    ]
    return sorted(ranked, key=lambda r: (r.rank is None, r.rank or 0))


# ---- one target, criterion by criterion


def target_detail(
    *,
    session: Session,
    round_id: int,
    target_id: int,
    leader_score: float | None = None,
) -> TargetDetail:
    """One target's results criterion by criterion, scored by `scoring.score_round` from its
    own tallies: a few small indexed queries."""
    round_ = session.get(Round, round_id)
    target = session.get(Target, target_id)
    if round_ is None or target is None or target.round_id != round_id:
        raise MeetingError("找不到该评议对象")
    settings = ScoringSettings.from_round(round_)
    conn = session.connection()
    group_ids = list(
        conn.execute(
            select(_MASS.c.group_id)
            .where(_MASS.c.target_id == target_id)
            .order_by(_MASS.c.group_id)
        ).scalars()
    )
    by_template = criteria.round_criteria(session=session, round_id=round_id)
    template = TemplateKey(target.template_key)
    # group_id IN (…) lets the database seek the tally's key (round, group, target, …).
    tallies = [
        scoring.TallyCount(gid, target_id, cid, lid, bool(uniform), int(n))
        for gid, cid, lid, uniform, n in conn.execute(
            select(
                _TALLY.c.group_id,
                _TALLY.c.criterion_id,
                _TALLY.c.level_id,
                _TALLY.c.uniform,
                _TALLY.c.count,
            ).where(
                _TALLY.c.round_id == round_id,
                _TALLY.c.group_id.in_(group_ids),
                _TALLY.c.target_id == target_id,
            )
        )
    ]
    ballots = {
        gid: GroupBallots(n, uniform)
        for gid, (n, uniform) in tally.participation(session=session, round_id=round_id).items()
    }
    levels = tuple(criteria.round_levels(session=session, round_id=round_id))
    kinds = criteria.form_kinds(session=session, round_id=round_id)
    info = scoring.TargetInfo(
        target_id=target_id,
        kind=str(target.kind),
        template_key=str(target.template_key),
        name=target.name,
        branch_name=target.branch_name,
        key=(str(target.kind), target_id),
        groups=tuple(group_ids),
        criteria=tuple(
            c.id
            for c in criteria.rated_items(
                by_template[template], (kinds.get(g, FormKind.ITEMIZED) for g in group_ids)
            )
        ),
        reviewed=False,  # the drill-down shows the masses' ratings only
    )
    result = scoring.score_round(
        targets=[info],
        levels=levels,
        tallies=tallies,
        ballots=ballots,
        leader_scores={target_id: leader_score},
        settings=settings,
    ).targets[0]
    return TargetDetail(
        result=replace(result, rank=None),
        category=TEMPLATE_LABELS[template],
        criterion_names={c.id: c.name for c in (*by_template[template], criteria.OVERALL)},
        group_names={g.id: g.name for g in groups.all_groups(session=session)},
        levels=levels,
    )
