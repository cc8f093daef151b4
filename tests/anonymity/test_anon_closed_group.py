"""The scenario went as planned, and a counted group takes no more ballots.

Sends after the first are exactly once: the same device is told its ballot is in, another
device that the code is used, and of two devices racing with one code in the burst exactly
one ballot is cast. After the count every ballot is there once, and an unused code of the
group is refused (nothing can be added to a counted group's ballots, whose order a late
ballot would otherwise give away: the newest row).
"""

from __future__ import annotations

from anon_attacks import casts_of_ballots
from anon_scenario import BURST, CASTS, RACED_IN_BURST, UNIFORM_AT, Scenario
from sqlalchemy import text


def test_sends_after_the_first_store_nothing(scenario: Scenario) -> None:
    outcomes = dict(scenario.outcomes)
    assert outcomes.get("same device: again", 0) >= 8, outcomes
    assert outcomes.get("other device: used", 0) >= 4, outcomes
    assert outcomes.get("burst: stored") == BURST, outcomes
    assert outcomes.get("burst: used") == len(RACED_IN_BURST), outcomes
    assert {key for key in outcomes if not key.endswith(("again", "used", "stored"))} == set()


def test_every_ballot_is_counted_once(scenario: Scenario) -> None:
    with scenario.engine.connect() as conn:
        ratings = conn.execute(
            text(
                "SELECT ballot_id, target_id, criterion_id, level_id FROM rating"
                " WHERE round_id = :r AND group_id = :g"
            ),
            {"r": scenario.group[0], "g": scenario.group[1]},
        ).all()
    casts = casts_of_ballots(ratings, scenario.truth)  # type: ignore[arg-type]
    assert sorted(casts.values()) == list(range(CASTS))
    with scenario.engine.connect() as conn:
        flags = dict(conn.execute(text("SELECT id, uniform FROM ballot")).all())
    uniform = sorted(cast for ballot_id, cast in casts.items() if flags[ballot_id])
    assert uniform == [cast.index for cast in scenario.truth.casts if cast.uniform]
    assert len(uniform) == len(UNIFORM_AT)


def test_a_code_of_a_counted_group_is_refused(scenario: Scenario) -> None:
    assert scenario.closed_code.startswith("refused"), scenario.closed_code
    assert scenario.ballots_after_refusal == CASTS
