"""The demo's meeting days: a finished earlier round and a current round under way, made
through the same functions the office, the reviewers and the evaluators use, so that a new
user sees every page with something on it (results with 较上轮变化, 整改 items, a live meeting).

Everything is drawn from a generator seeded per round: the same demo every time.
"""

from __future__ import annotations

import random
import secrets
from datetime import date, timedelta

from sqlmodel import Session, col, select

from pingyi import (
    ballots,
    codes,
    criteria,
    evaluation,
    groups,
    meeting,
    rectification,
    reviews,
    rounds,
    summaries,
)
from pingyi.models import (
    FormKind,
    GroupKey,
    ItemStatus,
    LeaderAssignment,
    RectificationItem,
    Round,
    Step,
)

EARLIER_ROUND = "2026年第三季度领导点评和群众评议"
EARLIER_QUARTER = "2026Q3"
EARLIER_DAY = date(2026, 9, 20)  # when the earlier round's reviews were written
VENDOR_SCALE = "满意,基本满意,不满意"
# Ballots cast in the earlier round, per group: enough for every group to have numbers.
ACTOR = "示例数据"  # who the log names for the demo's own rounds and steps
EARLIER_BALLOTS = {GroupKey.ALL_STAFF: 24, GroupKey.UNIT_STAFF: 36, GroupKey.VENDORS: 60}

_ACHIEVEMENTS = (
    "认真落实公开承诺,按期完成年度重点工作。",
    "坚持“三会一课”,组织生活规范有序。",
    "服务经营户主动热情,解决了一批群众反映的实际问题。",
    "带头开展市场秩序整治,示范作用明显。",
)
_PROBLEMS = (
    "理论学习不够系统,联系实际不够紧密。",
    "深入一线调研不够,对经营户诉求回应不够及时。",
    "制度执行有时打折扣,抓落实的力度需要加强。",
)
_CAUSES = ("思想认识不到位。", "工作方法不够灵活。", "精力投入不够。")
_DIRECTIONS = ("下一步要坚持问题导向,把整改落到实处。", "要发挥好示范带动作用。")
_REQUIREMENTS = (
    "完善经营户诉求台账,每月通报办理情况",
    "每季度至少开展一次专题学习",
    "建立市场巡查记录并按周公示",
)


def vendors_rate_overall(*, session: Session, round_id: int) -> None:
    """The demo's vendors rate 总体 on 满意 / 基本满意 / 不满意: a new user sees both forms."""
    vendors = groups.by_key(session=session)[GroupKey.VENDORS]
    criteria.set_group_form(
        session=session,
        round_id=round_id,
        group_id=vendors.id,
        kind=FormKind.OVERALL,
        scale_levels=criteria.parse_scale(VENDOR_SCALE),
        actor=ACTOR,
    )


def new_round(*, session: Session, name: str, quarter: str) -> Round:
    round_ = rounds.create_round(actor=ACTOR, session=session, name=name, quarter=quarter)
    vendors_rate_overall(session=session, round_id=round_.id)
    rounds.open_round(actor=ACTOR, session=session, round_=round_)
    return round_


def write_summaries(*, session: Session, round_: Round, share: float, rng: random.Random) -> int:
    """自我小结 of a `share` of the targets (all the branches' and the team's), submitted."""
    written = 0
    for target in rounds.targets_of(session=session, round_id=round_.id):
        writer = summaries.writer_of(session=session, target=target)
        if writer is None or (target.kind == "member" and rng.random() > share):
            continue
        summaries.save_summary(
            session=session,
            round_id=round_.id,
            target_id=target.id,
            member_id=writer.id,
            achievements=rng.choice(_ACHIEVEMENTS),
            problems=rng.choice(_PROBLEMS),
            causes=rng.choice(_CAUSES),
            submit=True,
        )
        written += 1
    return written


def write_reviews(
    *, session: Session, round_: Round, share: float, today: date, rng: random.Random
) -> int:
    """领导点评 of a `share` of the assignments, submitted; a third with 整改要求."""
    assignments = session.exec(
        select(LeaderAssignment)
        .where(LeaderAssignment.round_id == round_.id)
        .order_by(col(LeaderAssignment.id))
    ).all()
    written = 0
    for assignment in assignments:
        if rng.random() > share:
            continue
        form = reviews.form(session=session, round_id=round_.id, target_id=assignment.target_id)
        scored = [level for level in form.levels if level.scored]
        # Mostly 好 and 较好, as leaders' reviews are; each target a little differently.
        weights = [6, 3, 1, 0.3][: len(scored)]
        scores = {c.id: rng.choices(scored, weights=weights)[0].id for c in form.criteria}
        requirements = rng.choice(_REQUIREMENTS) if rng.random() < 0.35 else ""
        reviews.save(
            session=session,
            round_id=round_.id,
            reviewer_id=assignment.reviewer_id,
            target_id=assignment.target_id,
            scores=scores,
            achievements=rng.choice(_ACHIEVEMENTS),
            problems=rng.choice(_PROBLEMS),
            direction=rng.choice(_DIRECTIONS),
            requirements=requirements,
            deadline=today + timedelta(days=40) if requirements else None,
            submit=True,
            today=today,
        )
        written += 1
    return written


def random_ballot(form: ballots.BallotForm, rng: random.Random) -> ballots.Answers:
    """A plausible ballot: mostly the two top levels, some 不了解 (more on 总体 forms: a vendor
    knows few people)."""
    scored = [level.id for level in form.levels if level.scored]
    unknown = [level.id for level in form.levels if not level.scored]
    answers: ballots.Answers = {}
    for card in form.cards:
        knows = rng.random() < (0.35 if form.kind == FormKind.OVERALL else 0.85)
        mood = rng.random()
        for criterion in card.criteria:
            if not knows and unknown:
                answers[card.target_id, criterion.id] = unknown[0]
                continue
            index = (
                0
                if rng.random() < 0.55 + 0.3 * mood
                else min(len(scored) - 1, 1 + int(rng.random() * 2))
            )
            answers[card.target_id, criterion.id] = scored[index]
    return answers


def cast_ballots(
    *, session: Session, round_id: int, per_group: dict[GroupKey, int], rng: random.Random
) -> int:
    """Codes issued and ballots cast through the real submit path, into each group's 票箱."""
    cast = 0
    for key, group in groups.by_key(session=session).items():
        count = per_group.get(key, 0)
        if not count:
            continue
        form = ballots.ballot_form(session=session, round_id=round_id, group_id=group.id)
        for code in codes.issue(
            actor=ACTOR, session=session, round_id=round_id, group_id=group.id, count=count
        ):
            ballots.submit(
                session=session,
                code=code,
                answers=random_ballot(form, rng),
                round_id=round_id,
                receipt=secrets.token_hex(16),
            )
            cast += 1
    return cast


def follow_up_items(*, session: Session, round_id: int, rng: random.Random) -> None:
    """Half the earlier round's 整改 items done (with what was done), some under way."""
    items = session.exec(
        select(RectificationItem)
        .where(RectificationItem.round_id == round_id)
        .order_by(col(RectificationItem.id))
    ).all()
    for item in items:
        roll = rng.random()
        if roll < 0.5:
            status, evidence = ItemStatus.DONE, "已按要求完成,有台账和照片佐证。"
        elif roll < 0.8:
            status, evidence = ItemStatus.IN_PROGRESS, "正在推进,已完成大部分工作。"
        else:
            continue
        rectification.update(
            session=session,
            item_id=item.id,
            member_id=None,
            status=status,
            evidence=evidence,
        )


def finished_round(*, session: Session) -> Round:
    """The earlier quarter, from start to end: summaries, reviews with 整改 items, ballots
    counted (开箱计票), results published, the round 已结束, half its items done."""
    rng = random.Random(2026_3)
    round_ = new_round(session=session, name=EARLIER_ROUND, quarter=EARLIER_QUARTER)
    round_id: int = round_.id
    write_summaries(session=session, round_=round_, share=0.9, rng=rng)
    rounds.set_step(actor=ACTOR, session=session, round_=round_, step=Step.REVIEW)
    write_reviews(session=session, round_=round_, share=1.0, today=EARLIER_DAY, rng=rng)
    cast_ballots(session=session, round_id=round_id, per_group=EARLIER_BALLOTS, rng=rng)
    for group in groups.all_groups(session=session):
        evaluation.count_in(session=session, round_id=round_id, group_id=group.id)
    meeting.publish(actor=ACTOR, session=session, round_id=round_id, published=True)
    rounds.set_step(actor=ACTOR, session=session, round_=round_, step=Step.CLOSED)
    follow_up_items(session=session, round_id=round_id, rng=rng)
    return round_


def current_round(*, session: Session, name: str, quarter: str) -> Round:
    """This quarter, under way: most summaries in, at 开展点评 with part of the reviews done;
    no ballot yet (`pingyi demo simulate` casts them at a meeting's pace)."""
    rng = random.Random(2026_4)
    round_ = new_round(session=session, name=name, quarter=quarter)
    write_summaries(session=session, round_=round_, share=0.7, rng=rng)
    rounds.set_step(actor=ACTOR, session=session, round_=round_, step=Step.REVIEW)
    write_reviews(session=session, round_=round_, share=0.5, today=date.today(), rng=rng)
    return round_
