"""Tallies are kept by each ballot and agree with a recount; a tampered count is found and fixed."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, update
from worlds import (  # noqa: F401  (verified_tallies is a fixture)
    Bureau,
    bureau,
    full_answers,
    issue,
    verified_tallies,
)

from pingyi import ballots, db, tally
from pingyi.models import BallotTally, GroupKey, Tally

pytestmark = pytest.mark.usefixtures("verified_tallies")


def vote(engine: Engine, world: Bureau) -> None:
    """Eleven ballots over three groups, two of them 一刀切."""
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


def test_stored_counts_equal_a_recount_from_the_ratings(engine: Engine) -> None:
    world = bureau(engine)
    vote(engine, world)
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
        s.exec(update(BallotTally).values(ballots=BallotTally.ballots + 1))  # type: ignore[call-overload]

    with db.session(engine) as s:
        problems = tally.verify(session=s, round_id=world.round_id)
    assert len(problems) == 4  # the count, and the ballots of each of the three groups
    assert f"对象 {victim.target_id} 指标 {victim.criterion_id}" in problems[0]
    assert "应为" in problems[0]

    with db.transaction(engine) as s:
        tally.rebuild(session=s, round_id=world.round_id)
    with db.session(engine) as s:
        assert tally.verify(session=s, round_id=world.round_id) == []
        participation = tally.participation(session=s, round_id=world.round_id)
    assert participation[world.groups[GroupKey.VENDORS]] == (5, 1)


def test_a_missing_tally_row_is_reported(engine: Engine) -> None:
    world = bureau(engine)
    vote(engine, world)
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


def test_a_round_without_ballots_has_empty_tallies(engine: Engine) -> None:
    world = bureau(engine)
    with db.session(engine) as s:
        assert tally.stored(session=s, round_id=world.round_id) == {}
        assert tally.recompute(session=s, round_id=world.round_id) == {}
        assert tally.participation(session=s, round_id=world.round_id) == {}
        assert tally.verify(session=s, round_id=world.round_id) == []
