"""开展点评: each reviewer scores the targets the rules give them and writes four comments
(肯定成绩, 指出问题, 明确方向, 整改要求); each line of 整改要求 becomes a tracked 整改 item.

Only the assigned reviewer may write a review, and only while the round is at 开展点评. A
draft may be incomplete; a submitted review has every criterion scored and 肯定成绩 and 明确方向
filled. Submitting twice (a double tap, two tabs) leaves the same review and the same items.
The leader score of a target is the mean over its submitted reviews of each review's mean
level score; 不了解 is recorded and never scored.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pingyi import criteria, summaries
from pingyi.criteria import CriterionView, LevelView
from pingyi.models import (
    STEP_LABELS,
    TEMPLATE_LABELS,
    ItemStatus,
    LeaderAssignment,
    Member,
    RectificationItem,
    Review,
    Round,
    Step,
    Target,
    TargetKind,
    TemplateKey,
)

COMMENT_MAX = 2000  # each of the four comments: the column's size
ITEM_MAX = 500  # one line of 整改要求 becomes an item of this size
DEFAULT_DEADLINE_DAYS = 90  # a quarter: the 整改 is looked back at in the next round

# 方案 五.4 (分类指导), by the kind of target; 五.1–3 for organisations.
GUIDANCE_LEADER = "对担任领导职务的党员,要高标准严要求,促使其发挥模范带头作用。"
GUIDANCE_MEMBER = "对普通党员,要结合履行岗位职责情况进行点评。"
GUIDANCE_ELDERLY = "对年老体弱党员的点评,重在关心和鼓励,不宜提过高要求。"
GUIDANCE_ORGANISATION = (
    "坚持实事求是,客观公正地点评;全面肯定成绩,对存在的问题帮助分析原因、明确措施;"
    "结合单位实际提出具有较强操作性的工作建议,指明方向。"
)

# "1." "2、" "(3)" "④" "-" at the start of a line are numbering, not part of the item.
_NUMBERING = re.compile(r"^\s*(?:[-*•·]|\d{1,2}\s*[.、.)）]|[(（]\d{1,2}[)）]|[①-⑳])\s*")


class ReviewError(ValueError):
    """A review that cannot be saved; the message is for the reviewer, in Chinese."""


class ReviewState(StrEnum):
    NOT_STARTED = "未开始"
    DRAFT = "草稿"
    SUBMITTED = "已提交"


@dataclass(frozen=True)
class WorkItem:
    """One target of a reviewer's worklist."""

    target_id: int
    name: str
    branch_name: str
    category: str  # 党组织 / 领导班子 / 党员领导干部 / 普通党员
    state: ReviewState


@dataclass(frozen=True)
class ReviewerProgress:
    reviewer_id: int
    name: str
    done: int  # submitted reviews
    total: int  # assigned targets

    @property
    def finished(self) -> bool:
        return self.done >= self.total


@dataclass(frozen=True)
class ReviewForm:
    """What the review form of one target shows."""

    target: Target
    category: str
    criteria: list[CriterionView]
    levels: list[LevelView]
    guidance: str


@dataclass(frozen=True)
class ShownReview:
    """A submitted review as its target and the office read it."""

    review_id: int
    target_id: int
    target_name: str
    reviewer_name: str
    scores: list[tuple[str, str]]  # (criterion name, level label), in the criteria's order
    score: float | None  # mean level score of this review; None when all 不了解
    achievements: str
    problems: str
    direction: str
    requirements: str
    deadline: date | None


# ---- reading


def _round(session: Session, round_id: int) -> Round:
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise ReviewError("找不到该评议轮次")
    return round_


def _target(session: Session, round_id: int, target_id: int) -> Target:
    target = session.get(Target, target_id)
    if target is None or target.round_id != round_id:
        raise ReviewError("本轮没有该评议对象")
    return target


def review_of(
    *, session: Session, round_id: int, reviewer_id: int, target_id: int
) -> Review | None:
    """The reviewer's review of the target (draft or submitted), if there is one."""
    return session.exec(
        select(Review).where(
            Review.round_id == round_id,
            Review.reviewer_id == reviewer_id,
            Review.target_id == target_id,
        )
    ).first()


def _state(review: Review | None) -> ReviewState:
    if review is None:
        return ReviewState.NOT_STARTED
    return ReviewState.SUBMITTED if review.submitted else ReviewState.DRAFT


def worklist(*, session: Session, round_id: int, reviewer_id: int) -> list[WorkItem]:
    """The targets the rules give this reviewer in the round, in the round's target order."""
    targets = session.exec(
        select(Target)
        .join(LeaderAssignment, col(LeaderAssignment.target_id) == Target.id)
        .where(LeaderAssignment.round_id == round_id, LeaderAssignment.reviewer_id == reviewer_id)
        .order_by(col(Target.position), col(Target.id))
    ).all()
    reviews = {
        r.target_id: r
        for r in session.exec(
            select(Review).where(Review.round_id == round_id, Review.reviewer_id == reviewer_id)
        )
    }
    return [
        WorkItem(
            target_id=t.id,
            name=t.name,
            branch_name=t.branch_name,
            category=TEMPLATE_LABELS[TemplateKey(t.template_key)],
            state=_state(reviews.get(t.id)),
        )
        for t in targets
    ]


def progress(*, session: Session, round_id: int) -> list[ReviewerProgress]:
    """Per reviewer of the round: submitted reviews of their assigned targets, by name."""
    assigned: dict[int, set[int]] = defaultdict(set)
    for reviewer_id, target_id in session.exec(
        select(LeaderAssignment.reviewer_id, LeaderAssignment.target_id).where(
            LeaderAssignment.round_id == round_id
        )
    ):
        assigned[reviewer_id].add(target_id)
    submitted: dict[int, set[int]] = defaultdict(set)
    for reviewer_id, target_id in session.exec(
        select(Review.reviewer_id, Review.target_id).where(
            Review.round_id == round_id, col(Review.submitted)
        )
    ):
        submitted[reviewer_id].add(target_id)
    names = _names(session, set(assigned))
    rows = [
        ReviewerProgress(
            reviewer_id=reviewer_id,
            name=names.get(reviewer_id, ""),
            done=len(targets & submitted[reviewer_id]),
            total=len(targets),
        )
        for reviewer_id, targets in assigned.items()
    ]
    return sorted(rows, key=lambda p: (p.finished, p.name, p.reviewer_id))


def _names(session: Session, member_ids: set[int]) -> dict[int, str]:
    if not member_ids:
        return {}
    rows = session.exec(select(Member.id, Member.name).where(col(Member.id).in_(member_ids)))
    return {member_id: name for member_id, name in rows}


def guidance_for(*, session: Session, target: Target) -> str:
    """方案 五.4 by the target: 年老体弱 first (care matters more than the post), then 党员领导干部
    or 普通党员; organisations get the principles of 五.1–3."""
    if target.kind != TargetKind.MEMBER:
        return GUIDANCE_ORGANISATION
    member = session.get(Member, target.member_id) if target.member_id else None
    if member is not None and member.is_elderly:
        return GUIDANCE_ELDERLY
    if target.template_key == TemplateKey.LEADER:
        return GUIDANCE_LEADER
    return GUIDANCE_MEMBER


def form(*, session: Session, round_id: int, target_id: int) -> ReviewForm:
    """The target's criteria (by its template), the round's scale and the guidance."""
    target = _target(session, round_id, target_id)
    template = TemplateKey(target.template_key)
    return ReviewForm(
        target=target,
        category=TEMPLATE_LABELS[template],
        criteria=criteria.round_criteria(session=session, round_id=round_id)[template],
        levels=criteria.round_scale(session=session, round_id=round_id),
        guidance=guidance_for(session=session, target=target),
    )


# ---- writing


def _check_open(round_: Round) -> None:
    if round_.step != Step.REVIEW:
        raise ReviewError(
            f"「{round_.name}」当前处于「{STEP_LABELS[Step(round_.step)]}」阶段,"
            f"只有在「{STEP_LABELS[Step.REVIEW]}」阶段才能填写或修改点评"
        )


def _check_assigned(session: Session, round_id: int, reviewer_id: int, target_id: int) -> None:
    assigned = session.exec(
        select(LeaderAssignment.id).where(
            LeaderAssignment.round_id == round_id,
            LeaderAssignment.reviewer_id == reviewer_id,
            LeaderAssignment.target_id == target_id,
        )
    ).first()
    if assigned is None:
        raise ReviewError("按本轮评议关系,您不是该评议对象的点评领导")


def _locked_review(
    session: Session, round_id: int, reviewer_id: int, target_id: int
) -> Review | None:
    """The review, row-locked on PostgreSQL so two submits of it run one after the other
    (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    return session.exec(
        select(Review)
        .where(
            Review.round_id == round_id,
            Review.reviewer_id == reviewer_id,
            Review.target_id == target_id,
        )
        .with_for_update()
    ).first()


def _insert_review(session: Session, round_id: int, reviewer_id: int, target_id: int) -> Review:
    """A new empty review; if a concurrent request (a double tap on PostgreSQL) inserted it
    first, that one, locked: the second save then updates it instead of failing."""
    review = Review(round_id=round_id, reviewer_id=reviewer_id, target_id=target_id)
    try:
        with session.begin_nested():
            session.add(review)
            session.flush()
    except IntegrityError as exc:
        existing = _locked_review(session, round_id, reviewer_id, target_id)
        if existing is None:  # in the way, yet gone by now: the reviewer tries again
            raise ReviewError("这份点评刚在另一个窗口保存过,请刷新页面后再试。") from exc
        return existing
    return review


def _checked_scores(
    scores: dict[int, int], criteria_ids: list[int], level_ids: set[int]
) -> dict[str, int]:
    allowed = set(criteria_ids)
    for criterion_id, level_id in scores.items():
        if criterion_id not in allowed:
            raise ReviewError("评分中有不属于该评议对象的测评项目")
        if level_id not in level_ids:
            raise ReviewError("评分中有不在本轮评价等级中的等级")
    # Stored in the criteria's order, with string keys as JSON keeps them.
    return {str(cid): scores[cid] for cid in criteria_ids if cid in scores}


def _clean(text: str, label: str) -> str:
    text = (text or "").strip()
    if len(text) > COMMENT_MAX:
        raise ReviewError(f"「{label}」不能超过 {COMMENT_MAX} 字(现为 {len(text)} 字)")
    return text


def requirement_lines(requirements: str) -> list[str]:
    """The 整改 items of a 整改要求 text: one per non-empty line, numbering removed, each once."""
    lines = [_NUMBERING.sub("", line).strip() for line in requirements.splitlines()]
    return list(dict.fromkeys(line for line in lines if line))


def save(
    *,
    session: Session,
    round_id: int,
    reviewer_id: int,
    target_id: int,
    scores: dict[int, int],
    achievements: str = "",
    problems: str = "",
    direction: str = "",
    requirements: str = "",
    deadline: date | None = None,
    submit: bool = False,
    today: date | None = None,
) -> Review:
    """Save the reviewer's draft, or submit it (`submit=True`): then each line of 整改要求 is a
    整改 item of the target's owner. Submitting a submitted review again (a double tap, or
    after `reopen`) updates it and syncs its items, never duplicating one; saving it as a
    draft is refused until it is reopened, so a submission is never withdrawn by accident."""
    today = today or date.today()
    round_ = _round(session, round_id)
    target = _target(session, round_id, target_id)
    _check_open(round_)
    _check_assigned(session, round_id, reviewer_id, target_id)
    review_form = form(session=session, round_id=round_id, target_id=target_id)
    criteria_ids = [c.id for c in review_form.criteria]
    stored_scores = _checked_scores(scores, criteria_ids, {lv.id for lv in review_form.levels})
    texts = {
        "achievements": _clean(achievements, "肯定成绩"),
        "problems": _clean(problems, "指出问题"),
        "direction": _clean(direction, "明确方向"),
        "requirements": _clean(requirements, "整改要求"),
    }
    lines = requirement_lines(texts["requirements"])
    if any(len(line) > ITEM_MAX for line in lines):
        raise ReviewError(f"「整改要求」每一条不能超过 {ITEM_MAX} 字")

    review = _locked_review(session, round_id, reviewer_id, target_id)
    if review is not None and review.submitted and not submit:
        raise ReviewError("该点评已提交;如需修改,请先重新打开")
    if submit:
        _check_complete(stored_scores, criteria_ids, texts)
        if lines:
            deadline = deadline or today + timedelta(days=DEFAULT_DEADLINE_DAYS)
            if deadline < today:
                raise ReviewError("整改期限不能早于今天")

    if review is None:
        review = _insert_review(session, round_id, reviewer_id, target_id)
        if review.submitted and not submit:
            raise ReviewError("该点评已提交;如需修改,请先重新打开")
    review.scores = stored_scores
    review.achievements = texts["achievements"]
    review.problems = texts["problems"]
    review.direction = texts["direction"]
    review.requirements = texts["requirements"]
    review.deadline = deadline
    review.submitted = submit
    review.updated_at = datetime.now(UTC)
    session.add(review)
    session.flush()
    if submit:
        _sync_items(session, review, target, lines)
    return review


def _check_complete(stored: dict[str, int], criteria_ids: list[int], texts: dict[str, str]) -> None:
    missing = len([cid for cid in criteria_ids if str(cid) not in stored])
    if missing:
        raise ReviewError(f"还有 {missing} 个测评项目没有评分,不能提交")
    if not texts["achievements"]:
        raise ReviewError("请填写「肯定成绩」后再提交")
    if not texts["direction"]:
        raise ReviewError("请填写「明确方向」后再提交")


def _untouched(item: RectificationItem) -> bool:
    return item.status == ItemStatus.NOT_STARTED and not item.evidence.strip()


def _sync_items(session: Session, review: Review, target: Target, lines: list[str]) -> None:
    """Make the review's 整改 items follow its lines: keep items whose text is still there (and
    any with progress), add new lines, delete untouched items whose line is gone."""
    existing = list(
        session.exec(
            select(RectificationItem)
            .where(RectificationItem.review_id == review.id)
            .order_by(col(RectificationItem.id))
        )
    )
    wanted = set(lines)
    have: set[str] = set()
    for item in existing:
        if item.text in wanted and item.text not in have:
            have.add(item.text)
            if _untouched(item) and item.deadline != review.deadline:
                item.deadline = review.deadline  # nobody has started: the new deadline holds
                item.updated_at = datetime.now(UTC)
                session.add(item)
        elif _untouched(item):
            session.delete(item)
    owner = summaries.writer_of(session=session, target=target)
    for line in lines:
        if line not in have:
            session.add(
                RectificationItem(
                    round_id=review.round_id,
                    target_id=review.target_id,
                    review_id=review.id,
                    owner_id=owner.id if owner else None,
                    text=line,
                    deadline=review.deadline,
                    status=ItemStatus.NOT_STARTED,
                )
            )
    session.flush()


def reopen(*, session: Session, round_id: int, reviewer_id: int, target_id: int) -> Review:
    """Set a submitted review back to draft, while the round is at 开展点评. Its 整改 items stay
    until it is submitted again, which syncs them. Reopening a draft changes nothing."""
    round_ = _round(session, round_id)
    _target(session, round_id, target_id)
    _check_open(round_)
    _check_assigned(session, round_id, reviewer_id, target_id)
    review = _locked_review(session, round_id, reviewer_id, target_id)
    if review is None:
        raise ReviewError("还没有这份点评")
    if review.submitted:
        review.submitted = False
        review.updated_at = datetime.now(UTC)
        session.add(review)
        session.flush()
    return review


# ---- scores and the reviews a target received


def review_score(
    scores: Mapping[str, int], level_scores: Mapping[int, float | None]
) -> float | None:
    """Mean of one review's scored levels; 不了解 (no score) is left out, so a review of only
    不了解 has none."""
    values = [s for lid in scores.values() if (s := level_scores.get(int(lid))) is not None]
    return sum(values) / len(values) if values else None


def scores_of_targets(
    submitted: Mapping[int, Iterable[Mapping[str, int]]], levels: Iterable[LevelView]
) -> dict[int, float | None]:
    """Per target, the mean of its submitted reviews' `review_score`s (those that have one);
    None when none has. Pure: `leader_scores` and `scoring` both score through it."""
    level_scores = {lv.id: lv.score for lv in levels}
    result: dict[int, float | None] = {}
    for target_id, each in submitted.items():
        means = [m for scores in each if (m := review_score(scores, level_scores)) is not None]
        result[target_id] = sum(means) / len(means) if means else None
    return result


def leader_scores(*, session: Session, round_id: int) -> dict[int, float | None]:
    """Per target with a submitted review: the mean over its submitted reviews of each review's
    mean level score; None when every review was all 不了解. Targets without a submitted
    review are absent."""
    submitted: dict[int, list[dict[str, int]]] = defaultdict(list)
    rows = session.exec(
        select(Review.target_id, Review.scores)
        .where(Review.round_id == round_id, col(Review.submitted))
        .order_by(col(Review.target_id), col(Review.id))
    )
    for target_id, scores in rows:
        submitted[target_id].append(dict(scores or {}))

    levels = criteria.round_scale(session=session, round_id=round_id)
    return scores_of_targets(submitted, levels)


def submitted_reviews(*, session: Session, round_id: int, target_id: int) -> list[ShownReview]:
    """The submitted reviews of one target, oldest first, with reviewer names and scores by
    criterion name."""
    target = _target(session, round_id, target_id)
    views = criteria.round_criteria(session=session, round_id=round_id)[
        TemplateKey(target.template_key)
    ]
    levels = criteria.round_scale(session=session, round_id=round_id)
    labels = {lv.id: lv.label for lv in levels}
    level_scores = {lv.id: lv.score for lv in levels}
    reviews = list(
        session.exec(
            select(Review)
            .where(
                Review.round_id == round_id, Review.target_id == target_id, col(Review.submitted)
            )
            .order_by(col(Review.id))
        )
    )
    names = _names(session, {r.reviewer_id for r in reviews})
    return [
        ShownReview(
            review_id=r.id,
            target_id=target_id,
            target_name=target.name,
            reviewer_name=names.get(r.reviewer_id, ""),
            scores=[
                (c.name, labels.get(r.scores[str(c.id)], ""))
                for c in views
                if str(c.id) in r.scores
            ],
            score=review_score(r.scores, level_scores),
            achievements=r.achievements,
            problems=r.problems,
            direction=r.direction,
            requirements=r.requirements,
            deadline=r.deadline,
        )
        for r in reviews
    ]


def received(*, session: Session, round_id: int, member_id: int) -> list[ShownReview]:
    """The submitted reviews of this member (as a target of the round)."""
    target_ids = session.exec(
        select(Target.id)
        .where(
            Target.round_id == round_id,
            Target.kind == TargetKind.MEMBER,
            Target.member_id == member_id,
        )
        .order_by(col(Target.position))
    ).all()
    return [
        shown
        for target_id in target_ids
        for shown in submitted_reviews(session=session, round_id=round_id, target_id=target_id)
    ]
