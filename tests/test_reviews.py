"""开展点评 (issue 6 item 6): the worklist the rules give each reviewer, the form and its guidance
(方案 五.4), who may review and when, scores on the round's scale, what a submitted review needs,
整改 items from 整改要求 and their sync, and leader scores feeding the combined score.

The world: the small bureau of tests/worlds.py, its round moved to 开展点评. 王书记 (党组书记)
reviews the 班子成员, the 机关 members and the 机关党支部; 李副局长 the 第一市场党支部, its
secretary and its 党员干部; the secretary 第一党员1 the other members of that branch.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select
from worlds import bureau, count, full_answers, issue

from pingyi import ballots, criteria, db, reviews, rounds, scoring
from pingyi.models import (
    GroupKey,
    ItemStatus,
    LeaderAssignment,
    RectificationItem,
    Review,
    Round,
    Step,
    Target,
    TemplateKey,
)
from pingyi.reviews import ReviewError, ReviewState

TODAY = date(2026, 11, 20)
SECRETARY, LIAISON = "王书记", "李副局长"
GOOD, FAIR, AVERAGE, POOR, UNKNOWN = range(5)  # positions on the default scale


@dataclass(frozen=True)
class World:
    round_id: int
    members: dict[str, int]  # member name → id
    groups: dict[GroupKey, int]


def reviewing(engine: Engine, **kwargs: object) -> World:
    """The small bureau with its round at 开展点评."""
    made = bureau(engine, **kwargs)
    with db.transaction(engine) as s:
        round_ = s.get(Round, made.round_id)
        rounds.set_step(actor="测试", session=s, round_=round_, step=Step.REVIEW)  # type: ignore[arg-type]
    return World(made.round_id, made.members, made.groups)


@pytest.fixture
def world(engine: Engine) -> World:
    return reviewing(engine)


def target_id(engine: Engine, round_id: int, name: str) -> int:
    with db.session(engine) as s:
        return s.exec(
            select(Target.id).where(Target.round_id == round_id, Target.name == name)
        ).one()  # type: ignore[return-value]


def levels(engine: Engine, round_id: int) -> list[int]:
    with db.session(engine) as s:
        return [lv.id for lv in criteria.round_scale(session=s, round_id=round_id)]


def criteria_of(engine: Engine, round_id: int, target: int) -> list[int]:
    with db.session(engine) as s:
        return [c.id for c in reviews.form(session=s, round_id=round_id, target_id=target).criteria]


def all_at(engine: Engine, round_id: int, target: int, position: int) -> dict[int, int]:
    """Every criterion of the target at one level of the scale."""
    level = levels(engine, round_id)[position]
    return dict.fromkeys(criteria_of(engine, round_id, target), level)


def submit_review(
    engine: Engine,
    world: World,
    reviewer: str,
    target_name: str,
    *,
    requirements: str = "",
    scores: dict[int, int] | None = None,
    deadline: date | None = None,
    submit: bool = True,
    **texts: str,
) -> Review:
    """The reviewer's complete review of the target (all 好 unless `scores`), submitted."""
    target = target_id(engine, world.round_id, target_name)
    with db.transaction(engine) as s:
        return reviews.save(
            session=s,
            round_id=world.round_id,
            reviewer_id=world.members[reviewer],
            target_id=target,
            scores=scores if scores is not None else all_at(engine, world.round_id, target, GOOD),
            achievements=texts.get("achievements", "工作扎实,带头作用明显"),
            problems=texts.get("problems", "调查研究还不够深入"),
            direction=texts.get("direction", "进一步深入基层、服务群众"),
            requirements=requirements,
            deadline=deadline,
            submit=submit,
            today=TODAY,
        )


def items_of(engine: Engine, review_id: int) -> list[RectificationItem]:
    with db.session(engine) as s:
        return list(
            s.exec(
                select(RectificationItem)
                .where(RectificationItem.review_id == review_id)
                .order_by(col(RectificationItem.id))
            )
        )


def expect_refusal(engine: Engine, message: str, **call: object) -> None:
    with pytest.raises(ReviewError, match=message), db.transaction(engine) as s:
        reviews.save(session=s, today=TODAY, **call)  # type: ignore[arg-type]


# ---- worklist, progress, form


def test_party_secretary_s_worklist_is_his_targets_in_round_order(
    engine: Engine, world: World
) -> None:
    with db.session(engine) as s:
        items = reviews.worklist(
            session=s, round_id=world.round_id, reviewer_id=world.members[SECRETARY]
        )
    assert [(i.name, i.category) for i in items] == [
        ("机关党支部", "党组织"),
        ("李副局长", "党员领导干部"),
        ("张副局长", "党员领导干部"),
        ("赵科长", "党员领导干部"),
        ("钱干事", "普通党员"),
        ("孙老同志", "普通党员"),
    ]
    assert {i.state for i in items} == {ReviewState.NOT_STARTED}


def test_worklist_shows_draft_and_submitted(engine: Engine, world: World) -> None:
    submit_review(engine, world, SECRETARY, "钱干事", submit=False)
    submit_review(engine, world, SECRETARY, "孙老同志")
    with db.session(engine) as s:
        states = {
            i.name: i.state
            for i in reviews.worklist(
                session=s, round_id=world.round_id, reviewer_id=world.members[SECRETARY]
            )
        }
    assert states["钱干事"] == ReviewState.DRAFT == "草稿"
    assert states["孙老同志"] == ReviewState.SUBMITTED == "已提交"
    assert states["赵科长"] == ReviewState.NOT_STARTED == "未开始"


def test_progress_counts_submitted_reviews_of_each_reviewer(engine: Engine, world: World) -> None:
    submit_review(engine, world, SECRETARY, "钱干事")
    submit_review(engine, world, SECRETARY, "孙老同志", submit=False)  # a draft is not done
    submit_review(engine, world, LIAISON, "第一市场党支部")
    submit_review(engine, world, LIAISON, "第一党员1")
    submit_review(engine, world, LIAISON, "第一党员2")
    with db.session(engine) as s:
        shown = {
            p.name: (p.done, p.total) for p in reviews.progress(session=s, round_id=world.round_id)
        }
        order = [p.name for p in reviews.progress(session=s, round_id=world.round_id)]
    assert shown == {
        SECRETARY: (1, 6),
        LIAISON: (3, 3),
        "张副局长": (0, 3),
        "第一党员1": (0, 2),
        "第二党员1": (0, 3),
    }
    assert order[-1] == LIAISON, "who has not finished comes first"


def test_form_has_the_target_s_criteria_and_the_round_s_scale(engine: Engine, world: World) -> None:
    with db.session(engine) as s:
        by_template = criteria.round_criteria(session=s, round_id=world.round_id)
        for name, template in (
            ("钱干事", TemplateKey.MEMBER),
            ("李副局长", TemplateKey.LEADER),
            ("机关党支部", TemplateKey.BRANCH),
        ):
            shown = reviews.form(
                session=s,
                round_id=world.round_id,
                target_id=target_id(engine, world.round_id, name),
            )
            assert shown.criteria == by_template[template], name
            assert [lv.label for lv in shown.levels] == ["好", "较好", "一般", "差", "不了解"]
    assert len(by_template[TemplateKey.LEADER]) == 7


@pytest.mark.parametrize(
    ("name", "guidance"),
    [
        ("李副局长", reviews.GUIDANCE_LEADER),  # 班子成员
        ("赵科长", reviews.GUIDANCE_LEADER),  # 党员干部
        ("钱干事", reviews.GUIDANCE_MEMBER),
        ("孙老同志", reviews.GUIDANCE_ELDERLY),
        ("机关党支部", reviews.GUIDANCE_ORGANISATION),
    ],
)
def test_guidance_follows_the_target_s_category(
    engine: Engine, world: World, name: str, guidance: str
) -> None:
    with db.session(engine) as s:
        shown = reviews.form(
            session=s, round_id=world.round_id, target_id=target_id(engine, world.round_id, name)
        )
    assert shown.guidance == guidance


def test_guidance_texts_are_the_method_s_words() -> None:
    assert "高标准严要求" in reviews.GUIDANCE_LEADER
    assert "模范带头作用" in reviews.GUIDANCE_LEADER
    assert "履行岗位职责" in reviews.GUIDANCE_MEMBER
    assert "关心和鼓励" in reviews.GUIDANCE_ELDERLY and "不宜提过高要求" in reviews.GUIDANCE_ELDERLY
    assert "实事求是" in reviews.GUIDANCE_ORGANISATION
    assert "操作性" in reviews.GUIDANCE_ORGANISATION


# ---- who and when


def test_only_the_assigned_reviewer_may_review_a_target(engine: Engine, world: World) -> None:
    target = target_id(engine, world.round_id, "钱干事")
    expect_refusal(
        engine,
        "您不是该评议对象的点评领导",
        round_id=world.round_id,
        reviewer_id=world.members[LIAISON],
        target_id=target,
        scores={},
    )
    with db.session(engine) as s:
        assert s.exec(select(Review)).all() == []


@pytest.mark.parametrize(
    "step", [Step.SELF_SUMMARY, Step.BRIEFING, Step.RECTIFICATION, Step.CLOSED]
)
def test_reviews_are_written_only_at_the_review_step(
    engine: Engine, world: World, step: Step
) -> None:
    review = submit_review(engine, world, SECRETARY, "钱干事")
    with db.transaction(engine) as s:
        rounds.set_step(actor="测试", session=s, round_=s.get(Round, world.round_id), step=step)  # type: ignore[arg-type]
    target = target_id(engine, world.round_id, "孙老同志")
    expect_refusal(
        engine,
        "只有在「开展点评」阶段才能填写或修改点评",
        round_id=world.round_id,
        reviewer_id=world.members[SECRETARY],
        target_id=target,
        scores={},
    )
    with pytest.raises(ReviewError, match="开展点评"), db.transaction(engine) as s:
        reviews.reopen(
            session=s,
            round_id=world.round_id,
            reviewer_id=world.members[SECRETARY],
            target_id=review.target_id,
        )


def test_scores_must_be_levels_of_the_round_s_scale(engine: Engine, world: World) -> None:
    target = target_id(engine, world.round_id, "钱干事")
    with db.session(engine) as s:
        default_level = criteria.scale(session=s, round_id=None)[
            0
        ].id  # the office's, not the round's
    first = criteria_of(engine, world.round_id, target)[0]
    expect_refusal(
        engine,
        "不在本轮评价等级中",
        round_id=world.round_id,
        reviewer_id=world.members[SECRETARY],
        target_id=target,
        scores={first: default_level},
    )


def test_scores_must_be_for_the_target_s_criteria(engine: Engine, world: World) -> None:
    target = target_id(engine, world.round_id, "钱干事")  # 普通党员
    with db.session(engine) as s:
        leader_item = criteria.round_criteria(session=s, round_id=world.round_id)[
            TemplateKey.LEADER
        ][-1].id  # 分管(主管)工作情况: not a 普通党员 criterion
    expect_refusal(
        engine,
        "不属于该评议对象的测评项目",
        round_id=world.round_id,
        reviewer_id=world.members[SECRETARY],
        target_id=target,
        scores={leader_item: levels(engine, world.round_id)[GOOD]},
    )


# ---- drafts and submitting


def test_a_draft_may_be_incomplete(engine: Engine, world: World) -> None:
    target = target_id(engine, world.round_id, "钱干事")
    first = criteria_of(engine, world.round_id, target)[0]
    good = levels(engine, world.round_id)[GOOD]
    review = submit_review(
        engine, world, SECRETARY, "钱干事", scores={first: good}, achievements="", submit=False
    )
    assert not review.submitted
    assert review.scores == {str(first): good}
    assert items_of(engine, review.id) == []  # type: ignore[arg-type]


def test_submit_needs_every_criterion_scored(engine: Engine, world: World) -> None:
    target = target_id(engine, world.round_id, "钱干事")
    scores = all_at(engine, world.round_id, target, GOOD)
    scores.pop(next(iter(scores)))
    with pytest.raises(ReviewError, match="还有 1 个测评项目没有评分"):
        submit_review(engine, world, SECRETARY, "钱干事", scores=scores)


@pytest.mark.parametrize(
    ("field", "label"), [("achievements", "肯定成绩"), ("direction", "明确方向")]
)
def test_submit_needs_achievements_and_direction(
    engine: Engine, world: World, field: str, label: str
) -> None:
    with pytest.raises(ReviewError, match=f"请填写「{label}」"):
        submit_review(engine, world, SECRETARY, "钱干事", **{field: "   "})


def test_unknown_counts_as_an_answer_when_submitting(engine: Engine, world: World) -> None:
    target = target_id(engine, world.round_id, "钱干事")
    review = submit_review(
        engine, world, SECRETARY, "钱干事", scores=all_at(engine, world.round_id, target, UNKNOWN)
    )
    assert review.submitted


def test_comments_longer_than_the_limit_are_refused(engine: Engine, world: World) -> None:
    with pytest.raises(ReviewError, match="「指出问题」不能超过 2000 字"):
        submit_review(engine, world, SECRETARY, "钱干事", problems="问" * 2001)
    with pytest.raises(ReviewError, match="每一条不能超过 500 字"):
        submit_review(engine, world, SECRETARY, "钱干事", requirements="改" * 501)
    assert submit_review(engine, world, SECRETARY, "钱干事", problems="问" * 2000).submitted


def test_a_deadline_in_the_past_is_refused(engine: Engine, world: World) -> None:
    with pytest.raises(ReviewError, match="整改期限不能早于今天"):
        submit_review(
            engine, world, SECRETARY, "钱干事", requirements="补学", deadline=TODAY - timedelta(1)
        )


def test_a_submitted_review_is_changed_only_after_reopening(engine: Engine, world: World) -> None:
    review = submit_review(engine, world, SECRETARY, "钱干事")
    with pytest.raises(ReviewError, match="请先重新打开"):
        submit_review(engine, world, SECRETARY, "钱干事", submit=False)
    with db.transaction(engine) as s:
        reopened = reviews.reopen(
            session=s,
            round_id=world.round_id,
            reviewer_id=world.members[SECRETARY],
            target_id=review.target_id,
        )
        assert not reopened.submitted
    draft = submit_review(engine, world, SECRETARY, "钱干事", problems="新的问题", submit=False)
    assert (draft.id, draft.submitted, draft.problems) == (review.id, False, "新的问题")
    with db.transaction(engine) as s:  # reopening a draft again changes nothing
        assert not reviews.reopen(
            session=s,
            round_id=world.round_id,
            reviewer_id=world.members[SECRETARY],
            target_id=review.target_id,
        ).submitted


# ---- 整改 items


def test_each_line_of_requirements_becomes_an_item_of_the_member(
    engine: Engine, world: World
) -> None:
    review = submit_review(
        engine,
        world,
        SECRETARY,
        "钱干事",
        requirements="1. 加强理论学习\n\n  2、每月走访服务对象  \n(3)按时交纳党费\n加强理论学习\n",
    )
    items = items_of(engine, review.id)  # type: ignore[arg-type]
    assert [i.text for i in items] == ["加强理论学习", "每月走访服务对象", "按时交纳党费"]
    assert {i.owner_id for i in items} == {world.members["钱干事"]}
    assert {i.deadline for i in items} == {TODAY + timedelta(days=reviews.DEFAULT_DEADLINE_DAYS)}
    assert {i.status for i in items} == {ItemStatus.NOT_STARTED}
    assert {(i.round_id, i.target_id) for i in items} == {(world.round_id, review.target_id)}


def test_a_branch_s_items_belong_to_its_secretary(engine: Engine, world: World) -> None:
    review = submit_review(
        engine,
        world,
        SECRETARY,
        "机关党支部",
        requirements="规范三会一课",
        deadline=date(2027, 1, 31),
    )
    (item,) = items_of(engine, review.id)  # type: ignore[arg-type]
    assert item.owner_id == world.members["赵科长"]
    assert item.deadline == date(2027, 1, 31)


def test_submitting_twice_never_duplicates_items(engine: Engine, world: World) -> None:
    first = submit_review(engine, world, SECRETARY, "钱干事", requirements="甲\n乙")
    again = submit_review(engine, world, SECRETARY, "钱干事", requirements="甲\n乙")
    assert again.id == first.id
    assert [i.text for i in items_of(engine, first.id)] == ["甲", "乙"]  # type: ignore[arg-type]
    with db.session(engine) as s:
        assert len(s.exec(select(Review)).all()) == 1


def test_resubmitting_syncs_the_items(engine: Engine, world: World) -> None:
    review = submit_review(engine, world, SECRETARY, "钱干事", requirements="甲\n乙\n丙\n丁")
    by_text = {i.text: i for i in items_of(engine, review.id)}  # type: ignore[arg-type]
    with db.transaction(engine) as s:
        started = s.get(RectificationItem, by_text["丙"].id)
        started.status = ItemStatus.IN_PROGRESS  # type: ignore[union-attr]
        s.add(started)
        reviews.reopen(
            session=s,
            round_id=world.round_id,
            reviewer_id=world.members[SECRETARY],
            target_id=review.target_id,
        )
    # 甲 stays, 乙 and 丁 go (untouched), 丙 goes from the text but has progress, 戊 is new.
    submit_review(engine, world, SECRETARY, "钱干事", requirements="甲\n戊")
    after = items_of(engine, review.id)  # type: ignore[arg-type]
    assert [i.text for i in after] == ["甲", "丙", "戊"]
    assert next(i for i in after if i.text == "甲").id == by_text["甲"].id
    assert next(i for i in after if i.text == "丙").status == ItemStatus.IN_PROGRESS


def test_a_new_deadline_moves_untouched_items_only(engine: Engine, world: World) -> None:
    review = submit_review(
        engine, world, SECRETARY, "钱干事", requirements="甲\n乙", deadline=date(2027, 1, 1)
    )
    with db.transaction(engine) as s:
        item = s.exec(select(RectificationItem).where(RectificationItem.text == "乙")).one()
        item.status = ItemStatus.IN_PROGRESS
        s.add(item)
    submit_review(
        engine, world, SECRETARY, "钱干事", requirements="甲\n乙", deadline=date(2027, 3, 1)
    )
    deadlines = {i.text: i.deadline for i in items_of(engine, review.id)}  # type: ignore[arg-type]
    assert deadlines == {"甲": date(2027, 3, 1), "乙": date(2027, 1, 1)}


def test_double_taps_racing_to_submit_store_one_review_and_one_set_of_items(
    engine: Engine, world: World
) -> None:
    """Two requests of the same submit at once (a double tap reaches the server twice): both
    succeed, one review, no duplicated item, on SQLite's locks and PostgreSQL's alike."""
    count = 4
    start = threading.Barrier(count)

    def tap() -> str:
        start.wait()
        try:
            submit_review(engine, world, SECRETARY, "钱干事", requirements="甲\n乙")
        except Exception as exc:  # reported, so a failing race says why
            return f"{type(exc).__name__}: {exc}"
        return "ok"

    with ThreadPoolExecutor(max_workers=count) as pool:
        outcomes = list(pool.map(lambda _: tap(), range(count)))
    assert outcomes == ["ok"] * count
    with db.session(engine) as s:
        (review,) = s.exec(select(Review)).all()
        texts = sorted(s.exec(select(RectificationItem.text)))
    assert review.submitted and texts == ["乙", "甲"]


def test_a_review_in_the_way_yet_gone_is_a_message_to_try_again(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The insert meets a review its lookups cannot see (stored meanwhile by another window,
    then out of reach): the reviewer reads a sentence, not a database error."""
    submit_review(engine, world, SECRETARY, "钱干事", submit=False)
    monkeypatch.setattr(reviews, "_locked_review", lambda *_: None)
    with pytest.raises(ReviewError, match="刚在另一个窗口保存过,请刷新页面后再试"):
        submit_review(engine, world, SECRETARY, "钱干事")


# ---- leader scores


def add_reviewer(engine: Engine, world: World, reviewer: str, target: int) -> None:
    """A second reviewer of the target, as a round whose rules give two would have."""
    with db.transaction(engine) as s:
        s.add(
            LeaderAssignment(
                round_id=world.round_id, reviewer_id=world.members[reviewer], target_id=target
            )
        )


def test_leader_score_is_the_mean_of_each_submitted_review_s_mean(
    engine: Engine, world: World
) -> None:
    target = target_id(engine, world.round_id, "钱干事")
    add_reviewer(engine, world, LIAISON, target)
    add_reviewer(engine, world, "张副局长", target)
    level = levels(engine, world.round_id)
    c = criteria_of(engine, world.round_id, target)
    # 好 较好 一般 差 不了解 不了解: (100 + 80 + 60 + 40) / 4 = 70, 不了解 skipped.
    mixed = dict(
        zip(
            c,
            [level[GOOD], level[FAIR], level[AVERAGE], level[POOR], level[UNKNOWN], level[UNKNOWN]],
            strict=True,
        )
    )
    submit_review(engine, world, SECRETARY, "钱干事", scores=mixed)
    submit_review(engine, world, LIAISON, "钱干事")  # all 好: 100
    # A draft does not count.
    submit_review(
        engine,
        world,
        "张副局长",
        "钱干事",
        scores=all_at(engine, world.round_id, target, POOR),
        submit=False,
    )
    with db.session(engine) as s:
        scores = reviews.leader_scores(session=s, round_id=world.round_id)
    assert scores == {target: 85.0}  # (70 + 100) / 2


def test_a_review_of_only_unknown_gives_no_score(engine: Engine, world: World) -> None:
    target = target_id(engine, world.round_id, "孙老同志")
    submit_review(
        engine, world, SECRETARY, "孙老同志", scores=all_at(engine, world.round_id, target, UNKNOWN)
    )
    with db.session(engine) as s:
        assert reviews.leader_scores(session=s, round_id=world.round_id) == {target: None}


def test_an_unknown_only_review_does_not_pull_the_mean_down(engine: Engine, world: World) -> None:
    target = target_id(engine, world.round_id, "孙老同志")
    add_reviewer(engine, world, LIAISON, target)
    submit_review(
        engine, world, SECRETARY, "孙老同志", scores=all_at(engine, world.round_id, target, UNKNOWN)
    )
    submit_review(
        engine, world, LIAISON, "孙老同志", scores=all_at(engine, world.round_id, target, FAIR)
    )
    with db.session(engine) as s:
        assert reviews.leader_scores(session=s, round_id=world.round_id) == {target: 80.0}


def cast(engine: Engine, world: World, group: GroupKey, position: int, n: int = 5) -> None:
    """`n` ballots of the group, every item at one level of the scale, into its box."""
    for code in issue(engine, world.round_id, world.groups[group], n):
        answers = full_answers(
            engine, world.round_id, world.groups[group], level=position, vary=False
        )
        with db.transaction(engine) as s:
            ballots.submit(session=s, code=code, answers=answers)


def combined(engine: Engine, round_id: int, target: int, **kwargs: object) -> scoring.TargetResult:
    with db.session(engine) as s:
        return scoring.round_results(session=s, round_id=round_id, **kwargs).target(target)  # type: ignore[arg-type]


def test_leader_scores_feed_the_combined_score_with_the_round_s_weights(
    engine: Engine, world: World
) -> None:
    # 钱干事 is rated by 基层单位工作人员: five ballots all 较好 give a mass score of 80.
    cast(engine, world, GroupKey.UNIT_STAFF, FAIR)
    count(engine, world.round_id)  # the mass score counts ballots once the box is opened
    target = target_id(engine, world.round_id, "钱干事")
    before = combined(engine, world.round_id, target)
    assert (before.mass_score, before.leader_score, before.combined) == (80.0, None, 80.0)
    assert scoring.LEADER in before.missing

    # The 党组书记 rates every item 一般: 60. Default weights: 0.4 × 60 + 0.6 × 80 = 72.
    submit_review(
        engine, world, SECRETARY, "钱干事", scores=all_at(engine, world.round_id, target, AVERAGE)
    )
    after = combined(engine, world.round_id, target)
    assert (after.leader_score, after.combined, after.grade) == (60.0, 72.0, "基本合格")
    assert after.missing == ()

    # Half and half: 0.5 × 60 + 0.5 × 80 = 70.
    with db.transaction(engine) as s:
        scoring.save_settings(
            actor="测试",
            session=s,
            round_=s.get(Round, world.round_id),  # type: ignore[arg-type]
            settings=scoring.ScoringSettings(leader_weight=0.5, mass_weight=0.5),
        )
    assert combined(engine, world.round_id, target).combined == 70.0
    # Explicit scores still win over the reviews.
    assert combined(engine, world.round_id, target, leader_scores={}).combined == 80.0
    assert combined(engine, world.round_id, target, leader_scores={target: 100.0}).combined == 90.0


def test_a_reopened_review_no_longer_counts(engine: Engine, world: World) -> None:
    review = submit_review(engine, world, SECRETARY, "机关党支部")
    assert combined(engine, world.round_id, review.target_id).leader_score == 100.0
    with db.transaction(engine) as s:
        reviews.reopen(
            session=s,
            round_id=world.round_id,
            reviewer_id=world.members[SECRETARY],
            target_id=review.target_id,
        )
    assert combined(engine, world.round_id, review.target_id).leader_score is None


def test_change_since_last_round_uses_last_round_s_reviews(engine: Engine, world: World) -> None:
    # Round one: the 机关党支部 (no evaluator group) gets 一般 from the 党组书记: 60.
    first_target = target_id(engine, world.round_id, "机关党支部")
    submit_review(
        engine,
        world,
        SECRETARY,
        "机关党支部",
        scores=all_at(engine, world.round_id, first_target, AVERAGE),
    )
    with db.transaction(engine) as s:
        rounds.set_step(
            actor="测试", session=s, round_=s.get(Round, world.round_id), step=Step.CLOSED
        )  # type: ignore[arg-type]
        new = rounds.create_round(
            actor="测试", session=s, name="2027年第一季度评议", quarter="2027Q1"
        )
        rounds.open_round(actor="测试", session=s, round_=new)
        rounds.set_step(actor="测试", session=s, round_=new, step=Step.REVIEW)
        new_id: int = new.id  # type: ignore[assignment]
    second = World(new_id, world.members, world.groups)
    second_target = target_id(engine, new_id, "机关党支部")
    submit_review(
        engine, second, SECRETARY, "机关党支部", scores=all_at(engine, new_id, second_target, FAIR)
    )
    result = combined(engine, new_id, second_target)
    assert (result.combined, result.change) == (80.0, 20.0)
    with db.session(engine) as s:
        points = scoring.trend(session=s, key=result.key)
    assert [p.combined for p in points] == [60.0, 80.0]


# ---- the reviews a member received


def test_a_member_receives_the_submitted_reviews_of_them(engine: Engine, world: World) -> None:
    target = target_id(engine, world.round_id, "钱干事")
    scores = all_at(engine, world.round_id, target, FAIR)
    scores[criteria_of(engine, world.round_id, target)[-1]] = levels(engine, world.round_id)[
        UNKNOWN
    ]
    submit_review(
        engine,
        world,
        SECRETARY,
        "钱干事",
        scores=scores,
        requirements="加强学习",
        deadline=date(2027, 2, 1),
        problems="<b>主动性</b>不够",
    )
    submit_review(engine, world, SECRETARY, "孙老同志")  # someone else's
    with db.session(engine) as s:
        mine = reviews.received(
            session=s, round_id=world.round_id, member_id=world.members["钱干事"]
        )
        nothing = reviews.received(
            session=s, round_id=world.round_id, member_id=world.members["赵科长"]
        )
    assert nothing == []
    (shown,) = mine
    assert shown.reviewer_name == SECRETARY
    assert shown.target_name == "钱干事"
    assert shown.scores[0] == ("参加创先争优活动情况", "较好")
    assert shown.scores[-1] == ("工作成效", "不了解")
    assert shown.score == 80.0
    assert (shown.problems, shown.requirements, shown.deadline) == (
        "<b>主动性</b>不够",
        "加强学习",
        date(2027, 2, 1),
    )


def test_a_draft_is_not_received(engine: Engine, world: World) -> None:
    submit_review(engine, world, SECRETARY, "钱干事", submit=False)
    with db.session(engine) as s:
        assert (
            reviews.received(session=s, round_id=world.round_id, member_id=world.members["钱干事"])
            == []
        )
