"""会议大屏 (docs/DESIGN.md "Results"): one refresh's snapshot from codes and tallies, never
from the ratings; results only once the office publishes them, ranked exactly as `scoring` ranks.
Casts show on the timeline as they come in; a group's ballots count in the standings once its
box is opened (`worlds.count`, the office's close), so tests cast, count, then look.

The world is `worlds.build_bureau`: 局全体工作人员 rate the 领导班子 and 3 班子成员,
基层单位工作人员 3 other 机关 members, 市场经营户 the 9 grassroots members.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event
from worlds import GRASSROOTS_BRANCHES, ORGAN_BRANCH, Bureau, bureau, count, full_answers, issue

from pingyi import ballots, codes, db, meeting, rounds, scoring, tally
from pingyi.meeting import MeetingError, Ranked
from pingyi.models import GroupKey, Round, TemplateKey
from pingyi.scoring import RoundResult, ScoringSettings, TargetResult


def vote(engine: Engine, round_id: int, group_id: int, *answer_sets: dict) -> None:
    plain = issue(engine, round_id, group_id, len(answer_sets))
    for code, answers in zip(plain, answer_sets, strict=True):
        with db.transaction(engine) as s:
            ballots.submit(session=s, code=code, answers=answers)


def take(engine: Engine, round_id: int) -> meeting.MeetingSnapshot:
    with db.session(engine) as s:
        return meeting.snapshot(session=s, round_id=round_id)


def set_published(engine: Engine, round_id: int, published: bool) -> None:
    with db.transaction(engine) as s:
        meeting.publish(actor="测试", session=s, round_id=round_id, published=published)


def good_rate(target: TargetResult, result: RoundResult) -> float | None:
    """好评率 of a target from `scoring`'s own per-criterion distributions."""
    scored = [level for level in result.levels if level.score is not None]
    good = {level.label for level in sorted(scored, key=lambda v: -v.score)[:2]}  # type: ignore[operator]
    labels = {level.label for level in scored}
    rated = sum(n for c in target.criteria for k, n in c.distribution.items() if k in labels)
    hits = sum(n for c in target.criteria for k, n in c.distribution.items() if k in good)
    return round(hits / rated, 4) if rated else None


def assert_ranked_as_scoring(standings: meeting.Standings, result: RoundResult) -> None:
    by_id = {t.target_id: t for t in result.targets}
    listed = [row for rows in standings.rankings.values() for row in rows]
    assert sorted(r.target_id for r in listed) == sorted(by_id)
    for key, rows in standings.rankings.items():
        expected = [t for t in result.targets if t.template_key == key]
        # Ranked first, best first; then the unranked in the round's order.
        order = sorted(
            (t for t in expected if t.rank is not None), key=lambda t: (t.rank, -t.combined)
        )
        assert [r.rank for r in rows[: len(order)]] == [t.rank for t in order]
        assert [r.target_id for r in rows[len(order) :]] == [
            t.target_id for t in expected if t.rank is None
        ]
    for row in listed:
        target = by_id[row.target_id]
        assert (row.rank, row.combined, row.grade) == (
            target.rank,
            target.combined,
            target.grade_label,
        )
        assert row.good_rate == good_rate(target, result)
        insufficient = bool(target.groups) and all(
            g.status == scoring.INSUFFICIENT for g in target.groups
        )
        assert row.insufficient == insufficient
        if row.insufficient:
            assert row.good_rate is None


# ---- participation and the timeline


def test_snapshot_counts_codes_per_group_as_the_codes_page_does(engine: Engine) -> None:
    world = bureau(engine)
    rid, staff = world.round_id, world.groups[GroupKey.ALL_STAFF]
    plain = issue(engine, rid, staff, 4)
    with db.transaction(engine) as s:
        ballots.open_code(session=s, code=plain[0])
    answers = full_answers(engine, rid, staff)
    for code in plain[:2]:
        with db.transaction(engine) as s:
            ballots.submit(session=s, code=code, answers=answers)
    with db.transaction(engine) as s:
        codes.revoke(actor="测试", session=s, code=plain[3])

    snap = take(engine, rid)
    with db.session(engine) as s:
        assert list(snap.groups) == codes.counts(session=s, round_id=rid)
    by_id = {g.group_id: g for g in snap.groups}
    assert len(by_id) == 3
    counted = by_id[staff]
    assert (counted.issued, counted.opened, counted.submitted, counted.revoked) == (4, 1, 2, 1)
    assert counted.headcount == 40
    assert (snap.submitted, snap.headcount) == (2, 40 + 25 + 60)
    assert snap.round_name == "2026年第四季度评议" and not snap.published
    assert snap.submissions[staff].total == 2
    assert snap.counted == {}  # cast, sealed in the box: nothing counted yet

    count(engine, rid)
    after = take(engine, rid)
    assert after.counted == {staff: (2, 0)}
    assert (after.groups, after.submitted) == (snap.groups, 2)


def test_submissions_per_minute_per_group_and_cumulative(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = bureau(engine)
    rid = world.round_id
    staff, units = world.groups[GroupKey.ALL_STAFF], world.groups[GroupKey.UNIT_STAFF]
    ten, thirteen = (
        datetime(2026, 11, 25, 2, 0, tzinfo=UTC),
        datetime(2026, 11, 25, 2, 3, tzinfo=UTC),
    )

    monkeypatch.setattr(tally, "current_minute", lambda: ten)
    vote(engine, rid, staff, *(full_answers(engine, rid, staff) for _ in range(2)))
    vote(engine, rid, units, full_answers(engine, rid, units))
    monkeypatch.setattr(tally, "current_minute", lambda: thirteen)
    vote(engine, rid, staff, *(full_answers(engine, rid, staff) for _ in range(3)))

    snap = take(engine, rid)
    line = snap.submissions[staff]
    assert line.minutes == (ten, thirteen)  # aware UTC on both backends
    assert (line.ballots, line.cumulative, line.total) == ((2, 3), (2, 5), 5)
    assert snap.submissions[units].minutes == (ten,)
    assert snap.submissions[units].cumulative == (1,)
    vendors = snap.submissions[world.groups[GroupKey.VENDORS]]
    assert (vendors.minutes, vendors.cumulative) == ((), ())
    # The timeline and the codes agree on how many were submitted.
    assert {g.group_id: g.submitted for g in snap.groups} == {
        gid: s.total for gid, s in snap.submissions.items()
    }
    # Opening the boxes writes nothing on the timeline: it counts casts, as they came in.
    count(engine, rid)
    assert take(engine, rid).submissions == snap.submissions


# ---- publishing


def test_results_stay_hidden_until_published_and_can_be_hidden_again(engine: Engine) -> None:
    world = bureau(engine)
    rid, units = world.round_id, world.groups[GroupKey.UNIT_STAFF]
    vote(engine, rid, units, *(full_answers(engine, rid, units, level=n) for n in range(5)))
    count(engine, rid)
    assert take(engine, rid).standings is None  # counted, but not published

    set_published(engine, rid, True)
    shown = take(engine, rid)
    assert shown.published and shown.standings is not None
    with db.session(engine) as s:
        assert s.get(Round, rid).results_published  # type: ignore[union-attr]
    # 基层单位工作人员 rate 3 机关 members (党员领导干部 or 普通党员): they have numbers.
    rated = [r for rows in shown.standings.rankings.values() for r in rows if r.combined]
    assert len(rated) == 3 and all(r.rank is not None for r in rated)

    set_published(engine, rid, False)
    assert take(engine, rid).standings is None


def test_a_session_that_read_the_round_before_still_sees_it_published(engine: Engine) -> None:
    world = bureau(engine)
    with db.session(engine) as s:
        assert meeting.snapshot(session=s, round_id=world.round_id).standings is None
        s.commit()  # ends the read; the session keeps its objects (expire_on_commit=False)
        set_published(engine, world.round_id, True)  # the office, in another tab
        assert meeting.snapshot(session=s, round_id=world.round_id).published


def test_unknown_round_is_refused_in_chinese(engine: Engine) -> None:
    with db.session(engine) as s, pytest.raises(MeetingError, match="找不到该评议轮次"):
        meeting.snapshot(session=s, round_id=999)
    with db.transaction(engine) as s, pytest.raises(MeetingError, match="找不到该评议轮次"):
        meeting.publish(actor="测试", session=s, round_id=999, published=True)


# ---- the standings are scoring's results


def test_standings_rank_every_category_as_round_results(engine: Engine) -> None:
    world = bureau(engine)
    rid, groups = world.round_id, world.groups
    vendors, units = groups[GroupKey.VENDORS], groups[GroupKey.UNIT_STAFF]
    vote(
        engine,
        rid,
        vendors,
        *(full_answers(engine, rid, vendors, level=n) for n in range(5)),
        full_answers(engine, rid, vendors, level=0, vary=False),  # 一刀切
    )
    vote(engine, rid, units, *(full_answers(engine, rid, units, level=n % 2) for n in range(5)))
    staff = groups[GroupKey.ALL_STAFF]
    vote(engine, rid, staff, *(full_answers(engine, rid, staff) for _ in range(2)))  # too few
    count(engine, rid)
    set_published(engine, rid, True)

    for settings in (
        None,
        ScoringSettings(drop_uniform=True),
        ScoringSettings(min_ballots=6, group_weights={vendors: 2.0}),
        ScoringSettings(leader_weight=0.0, mass_weight=1.0, min_ballots=2),
    ):
        with db.session(engine) as s:
            round_ = s.get(Round, rid)
            assert round_ is not None
            standings = meeting.standings(session=s, round_=round_, settings=settings)
            result = scoring.round_results(
                session=s, round_id=rid, settings=settings, with_change=False
            )
        assert_ranked_as_scoring(standings, result)
        assert standings.group_status == {g.group_id: g.status for g in result.groups}
    assert list(take(engine, rid).standings.rankings) == [  # type: ignore[union-attr]
        TemplateKey.BRANCH,
        TemplateKey.TEAM,
        TemplateKey.LEADER,
        TemplateKey.MEMBER,
    ]


def test_a_target_whose_groups_all_have_too_few_ballots_shows_no_numbers(engine: Engine) -> None:
    world = bureau(engine)
    rid, staff = world.round_id, world.groups[GroupKey.ALL_STAFF]
    vote(engine, rid, staff, *(full_answers(engine, rid, staff) for _ in range(4)))
    count(engine, rid)
    set_published(engine, rid, True)
    standings = take(engine, rid).standings
    assert standings is not None
    (team,) = standings.rankings[TemplateKey.TEAM]
    assert team.insufficient
    assert (team.rank, team.combined, team.good_rate, team.grade) == (
        None,
        None,
        None,
        scoring.NO_GRADE,
    )
    assert standings.group_status[staff] == scoring.INSUFFICIENT


def test_drill_down_is_the_target_criterion_by_criterion_as_round_results(
    engine: Engine,
) -> None:
    world = bureau(engine)
    rid, vendors = world.round_id, world.groups[GroupKey.VENDORS]
    vote(engine, rid, vendors, *(full_answers(engine, rid, vendors, level=n) for n in range(6)))
    count(engine, rid)
    with db.session(engine) as s:
        result = scoring.round_results(session=s, round_id=rid, with_change=False)
        member = next(t for t in result.targets if t.template_key == TemplateKey.MEMBER)
        detail = meeting.target_detail(session=s, round_id=rid, target_id=member.target_id)
    assert detail.result.criteria == member.criteria
    assert detail.result.groups == member.groups
    assert (detail.result.mass_score, detail.result.combined, detail.result.grade) == (
        member.mass_score,
        member.combined,
        member.grade,
    )
    assert detail.category == "普通党员"
    assert [detail.criterion_names[c.criterion_id] for c in member.criteria][:2] == [
        "参加创先争优活动情况",
        "公开承诺事项兑现情况",
    ]
    assert detail.group_names[vendors] == "市场经营户"
    with db.session(engine) as s, pytest.raises(MeetingError, match="找不到该评议对象"):
        meeting.target_detail(session=s, round_id=rid, target_id=999_999)


# ---- cost: counts only


def test_a_refresh_never_reads_the_rating_table(engine: Engine) -> None:
    world = bureau(engine)
    rid, vendors = world.round_id, world.groups[GroupKey.VENDORS]
    vote(engine, rid, vendors, *(full_answers(engine, rid, vendors, level=n) for n in range(5)))
    count(engine, rid)
    set_published(engine, rid, True)
    with db.session(engine) as s:
        target_id = rounds.targets_of(session=s, round_id=rid)[-1].id
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with db.session(engine) as s:
            snap = meeting.snapshot(session=s, round_id=rid)
            meeting.target_detail(session=s, round_id=rid, target_id=target_id)  # type: ignore[arg-type]
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert snap.standings is not None
    assert any(re.search(r"\btally\b", q) for q in statements)  # the listener does listen
    assert not [q for q in statements if re.search(r"\brating\b", q, re.IGNORECASE)]
    # A handful of small queries, whatever the number of ballots.
    assert len(statements) <= 20


@hypothesis_settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_standings_always_equal_round_results(
    data: st.DataObject, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("meeting") / "world.db"
    shutil.copy(sqlite_template, path)
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        world: Bureau = bureau(engine)
        rid = world.round_id
        minimum = data.draw(st.integers(1, 4), label="min_ballots")
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
                    answer_sets.append(dict.fromkeys(form.items, rng.choice(level_ids)))
                else:
                    answer_sets.append({item: rng.choice(level_ids) for item in form.items})
            vote(engine, rid, group_id, *answer_sets)
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
        weights = data.draw(
            st.none()
            | st.fixed_dictionaries(
                {gid: st.sampled_from([0.5, 1.0, 3.0]) for gid in world.groups.values()}
            ),
            label="group weights",
        )
        for drop in (False, True):
            chosen = ScoringSettings(min_ballots=minimum, drop_uniform=drop, group_weights=weights)
            with db.session(engine) as s:
                round_ = s.get(Round, rid)
                assert round_ is not None
                standings = meeting.standings(
                    session=s, round_=round_, leader_scores=leader, settings=chosen
                )
                result = scoring.round_results(
                    session=s,
                    round_id=rid,
                    leader_scores=leader,
                    settings=chosen,
                    with_change=False,
                )
            assert_ranked_as_scoring(standings, result)
    finally:
        engine.dispose()


def test_ranked_rows_are_plain_values_counted_by_hand(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five ballots of 基层单位工作人员 (enough: the minimum is 5), on the scale 好 100, 较好 80,
    一般 60, 差 40, each card one level for all its criteria, counted on paper:

        ballot   赵科长   钱干事   孙老同志
        1        好       好       一般
        2        好       好       一般
        3        好       较好     好
        4        好       一般     好
        5        好       一般     不了解

    赵科长 (党员领导干部): 100 → 优秀, 好评率 1. 钱干事: (100+100+80+60+60)/5 = 80 → 合格,
    好评率 (好, 较好) 3/5. 孙老同志: 不了解 is not scored, (60+60+100+100)/4 = 80 → 合格,
    好评率 2/4; tied with 钱干事, both 第 1 名. No leader scores: the combined score is the
    mass score. Everyone else has no ballots (样本不足 where a group rates them)."""
    world = bureau(engine)
    rid, units = world.round_id, world.groups[GroupKey.UNIT_STAFF]
    with db.session(engine) as s:
        form = ballots.ballot_form(session=s, round_id=rid, group_id=units)
        target_ids = {t.name: t.id for t in rounds.targets_of(session=s, round_id=rid)}
    assert [card.name for card in form.cards] == ["赵科长", "钱干事", "孙老同志"]
    level = {lv.label: lv.id for lv in form.levels}
    by_hand = [
        ("好", "好", "一般"),
        ("好", "好", "一般"),
        ("好", "较好", "好"),
        ("好", "一般", "好"),
        ("好", "一般", "不了解"),
    ]
    vote(
        engine,
        rid,
        units,
        *(
            {
                (card.target_id, c.id): level[label]
                for card, label in zip(form.cards, labels, strict=True)
                for c in card.criteria
            }
            for labels in by_hand
        ),
    )
    count(engine, rid)
    set_published(engine, rid, True)
    standings = take(engine, rid).standings
    assert standings is not None

    def row(name: str, rank: int, combined: float, grade: str, good_rate: float) -> Ranked:
        return Ranked(target_ids[name], rank, name, ORGAN_BRANCH, combined, grade, good_rate, False)

    def unrated(name: str, branch: str) -> Ranked:
        return Ranked(target_ids[name], None, name, branch, None, scoring.NO_GRADE, None, True)

    first, second = GRASSROOTS_BRANCHES
    assert standings.rankings[TemplateKey.LEADER] == [
        row("赵科长", 1, 100.0, "优秀", 1.0),
        unrated("王书记", ORGAN_BRANCH),  # 局全体工作人员's: no ballots
        unrated("李副局长", ORGAN_BRANCH),
        unrated("张副局长", ORGAN_BRANCH),
        unrated("第一党员2", first),  # 市场经营户's: no ballots
        unrated("第二党员2", second),
    ]
    assert standings.rankings[TemplateKey.MEMBER] == [
        row("钱干事", 1, 80.0, "合格", 0.6),
        row("孙老同志", 1, 80.0, "合格", 0.5),
        *(
            unrated(f"{branch[:2]}党员{n}", branch)
            for branch, numbers in ((first, (1, 3, 4)), (second, (1, 3, 4, 5)))
            for n in numbers
        ),
    ]
    assert standings.group_status == {units: scoring.OK}  # the only group counted
    # Plain values on both backends: no Decimal, numpy or ORM object reaches the screen.
    for rows in standings.rankings.values():
        for ranked in rows:
            assert type(ranked) is Ranked
            assert {type(v) for v in ranked} <= {int, str, float, bool, type(None)}, ranked

    # A leader score of 70 for 赵科长 weighs 0.4 against the masses' 0.6: 28 + 60 = 88 → 合格.
    with db.session(engine) as s:
        round_ = s.get(Round, rid)
        assert round_ is not None
        weighed = meeting.standings(
            session=s, round_=round_, leader_scores={target_ids["赵科长"]: 70.0}
        )
    assert weighed.rankings[TemplateKey.LEADER][0] == row("赵科长", 1, 88.0, "合格", 1.0)

    # The screen scores by scoring's own rules, not by a copy: change them and it follows.
    monkeypatch.setattr(scoring, "good_rate", lambda good, rated: 0.25 if rated else None)
    monkeypatch.setattr(
        scoring, "combined_score", lambda leader, mass, settings: None if mass is None else 50.0
    )
    monkeypatch.setattr(scoring, "ranks", lambda scores: [7 if s else None for s in scores])
    with db.session(engine) as s:
        round_ = s.get(Round, rid)
        assert round_ is not None
        changed = meeting.standings(session=s, round_=round_)
    assert changed.rankings[TemplateKey.LEADER][0] == row("赵科长", 7, 50.0, "不合格", 0.25)
