"""Tallies: a cast counts only on the per-minute chart (`ballot_tally`, never 一刀切); the rating
counts and a group's ballots (`tally`, `group_evaluation`) are written when its box is counted,
and agree with a recount of the counted ballots; a tampered count is found and fixed."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, update
from sqlmodel import select
from worlds import (  # noqa: F401  (verified_tallies is a fixture)
    Bureau,
    bureau,
    count,
    full_answers,
    issue,
    verified_tallies,
)

from pingyi import ballots, db, evaluation, tally
from pingyi.models import BallotTally, GroupEvaluation, GroupKey, Tally

pytestmark = pytest.mark.usefixtures("verified_tallies")


def vote(engine: Engine, world: Bureau) -> None:
    """Eleven ballots over three groups, two of them 一刀切, cast into the boxes."""
    plan = {
        GroupKey.VENDORS: [dict(level=n) for n in range(4)] + [dict(level=1, vary=False)],
        GroupKey.UNIT_STAFF: [dict(level=n) for n in range(3)] + [dict(level=0, vary=False)],
        GroupKey.ALL_STAFF: [dict(level=2), dict(level=3)],
    }
    for key, ballot_plans in plan.items():
        group_id = world.groups[key]
        for code, options in zip(
            issue(engine, world.round_id, group_id, len(ballot_plans)), ballot_plans, strict=True
        ):
            answers = full_answers(engine, world.round_id, group_id, **options)  # type: ignore[arg-type]
            with db.transaction(engine) as s:
                ballots.submit(session=s, code=code, answers=answers)


def casts(engine: Engine) -> dict[int, tuple[int, int]]:
    """The chart's counts per group, all minutes together: (casts, 一刀切)."""
    totals: dict[int, tuple[int, int]] = {}
    with db.session(engine) as s:
        for row in s.exec(select(BallotTally)):
            n, uniform = totals.get(row.group_id, (0, 0))
            totals[row.group_id] = (n + row.ballots, uniform + row.uniform)
    return totals


def test_a_cast_counts_on_the_chart_only_and_never_as_uniform(engine: Engine) -> None:
    world = bureau(engine)
    vote(engine, world)
    cast = {
        world.groups[GroupKey.VENDORS]: (5, 0),
        world.groups[GroupKey.UNIT_STAFF]: (4, 0),
        world.groups[GroupKey.ALL_STAFF]: (2, 0),
    }
    # Sealed: the chart counts the casts; no rating count, no ballot count, nothing to check.
    assert casts(engine) == cast
    with db.session(engine) as s:
        assert tally.stored(session=s, round_id=world.round_id) == {}
        assert tally.recompute(session=s, round_id=world.round_id) == {}
        assert tally.participation(session=s, round_id=world.round_id) == {}
        assert tally.verify(session=s, round_id=world.round_id) == []
    # Counting the boxes writes the rating counts, not the chart: 一刀切 stays 0 there.
    count(engine, world.round_id)
    assert casts(engine) == cast


def test_only_counted_groups_have_counts(engine: Engine) -> None:
    world = bureau(engine)
    vote(engine, world)
    vendors = world.groups[GroupKey.VENDORS]
    evaluation.close(engine, round_id=world.round_id, group_id=vendors)
    with db.session(engine) as s:
        stored = tally.stored(session=s, round_id=world.round_id)
        assert stored == tally.recompute(session=s, round_id=world.round_id)
        assert {key.group_id for key in stored} == {vendors}
        assert tally.participation(session=s, round_id=world.round_id) == {vendors: (5, 1)}
        assert tally.verify(session=s, round_id=world.round_id) == []


def test_stored_counts_equal_a_recount_from_the_ratings(engine: Engine) -> None:
    world = bureau(engine)
    vote(engine, world)
    count(engine, world.round_id)
    with db.session(engine) as s:
        stored = tally.stored(session=s, round_id=world.round_id)
        assert stored == tally.recompute(session=s, round_id=world.round_id)
        assert tally.verify(session=s, round_id=world.round_id) == []
        participation = tally.participation(session=s, round_id=world.round_id)
    assert participation == {
        world.groups[GroupKey.VENDORS]: (5, 1),
        world.groups[GroupKey.UNIT_STAFF]: (4, 1),
        world.groups[GroupKey.ALL_STAFF]: (2, 0),
    }
    # 5 vendor ballots × 56 items + 4 × 19 + 2 × 27
    assert sum(stored.values()) == 5 * 56 + 4 * 19 + 2 * 27
    assert any(key.uniform for key in stored) and not all(key.uniform for key in stored)


def test_a_tampered_count_is_reported_and_rebuild_fixes_it(engine: Engine) -> None:
    world = bureau(engine)
    vote(engine, world)
    count(engine, world.round_id)
    with db.session(engine) as s:
        victim = next(iter(tally.stored(session=s, round_id=world.round_id)))
    with db.transaction(engine) as s:
        s.exec(  # type: ignore[call-overload]
            update(Tally)
            .where(
                Tally.round_id == world.round_id,
                Tally.group_id == victim.group_id,
                Tally.target_id == victim.target_id,
                Tally.criterion_id == victim.criterion_id,
                Tally.level_id == victim.level_id,
                Tally.uniform == victim.uniform,
            )
            .values(count=Tally.count + 5)
        )
        # The counted ballots of every group, as the count recorded them.
        s.exec(update(GroupEvaluation).values(ballots=GroupEvaluation.ballots + 1))  # type: ignore[call-overload]

    with db.session(engine) as s:
        problems = tally.verify(session=s, round_id=world.round_id)
    assert len(problems) == 4  # the count, and the ballots of each of the three groups
    assert f"对象 {victim.target_id} 指标 {victim.criterion_id}" in problems[0]
    assert "应为" in problems[0]
    vendors = world.groups[GroupKey.VENDORS]
    assert f"票数不符:群体 {vendors}:记录 6 票(一刀切 1),应为 5 票(一刀切 1)" in problems

    with db.transaction(engine) as s:
        tally.rebuild(session=s, round_id=world.round_id)
    with db.session(engine) as s:
        assert tally.verify(session=s, round_id=world.round_id) == []
        participation = tally.participation(session=s, round_id=world.round_id)
    assert participation[world.groups[GroupKey.VENDORS]] == (5, 1)


def test_a_missing_tally_row_is_reported(engine: Engine) -> None:
    world = bureau(engine)
    vote(engine, world)
    count(engine, world.round_id)
    with db.transaction(engine) as s:
        form = ballots.ballot_form(
            session=s, round_id=world.round_id, group_id=world.groups[GroupKey.UNIT_STAFF]
        )
        target_id = next(card.target_id for card in form.cards if card.name == "钱干事")
        s.exec(Tally.__table__.delete().where(Tally.target_id == target_id))  # type: ignore[attr-defined,call-overload]
    with db.session(engine) as s:
        problems = tally.verify(session=s, round_id=world.round_id)
    assert problems and all("记录 0" in problem for problem in problems)
    with db.transaction(engine) as s:
        tally.rebuild(session=s, round_id=world.round_id)
    with db.session(engine) as s:
        assert tally.verify(session=s, round_id=world.round_id) == []


def test_a_round_without_ballots_has_empty_tallies(engine: Engine) -> None:
    world = bureau(engine)
    with db.session(engine) as s:
        assert tally.stored(session=s, round_id=world.round_id) == {}
        assert tally.recompute(session=s, round_id=world.round_id) == {}
        assert tally.participation(session=s, round_id=world.round_id) == {}
        assert tally.verify(session=s, round_id=world.round_id) == []
