"""群众评议 ballots: a code opens a form, and a code casts exactly one ballot.

The answers of a ballot being filled in stay on the device: the server holds nothing of them
before 提交. A cast drops the ballot, sealed, into its group's 票箱 (one `ballot_box` row) and
nothing else: the ballot, its ratings, comments and tallies are written only when the office
closes the group (`worlds.count`), so tests check the box at cast time and the rows after the
close. The device sends a token with its ballot; the code keeps the token's hash, so the same
device sending again (a lost reply) is told its ballot is in, and any other is refused.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, func, inspect, text
from sqlalchemy.dialects import sqlite
from sqlmodel import select
from worlds import (  # noqa: F401  (verified_tallies is a fixture)
    Bureau,
    bureau,
    count,
    full_answers,
    issue,
    verified_tallies,
)

from pingyi import ballots, codes, criteria, db, models, rounds, tally
from pingyi.models import (
    Ballot,
    BallotBox,
    BallotTally,
    EvaluationCode,
    GroupKey,
    MassComment,
    Rating,
    Round,
    Step,
)

pytestmark = pytest.mark.usefixtures("verified_tallies")


def rows(engine: Engine, model: type) -> int:
    with db.session(engine) as s:
        return s.scalar(select(func.count()).select_from(model))  # type: ignore[return-value]


def code_row(engine: Engine, code: str) -> EvaluationCode:
    with db.session(engine) as s:
        return s.exec(
            select(EvaluationCode).where(EvaluationCode.code_hash == codes.hash_code(code))
        ).one()


def submit(engine: Engine, code: str, answers: ballots.Answers, **kw: object) -> ballots.Receipt:
    with db.transaction(engine) as s:
        return ballots.submit(session=s, code=code, answers=answers, **kw)  # type: ignore[arg-type]


def form_of(engine: Engine, world: Bureau, group: GroupKey) -> ballots.BallotForm:
    with db.session(engine) as s:
        return ballots.ballot_form(session=s, round_id=world.round_id, group_id=world.groups[group])


def nothing_stored(engine: Engine) -> bool:
    """Nothing cast: no ballot in the box, and none counted."""
    return (
        rows(engine, BallotBox)
        == rows(engine, Ballot)
        == rows(engine, Rating)
        == rows(engine, MassComment)
        == 0
    )


def casts(engine: Engine) -> list[tuple[int, int, int]]:
    """The participation chart's counts: (group, casts, 一刀切) per group and minute."""
    with db.session(engine) as s:
        return sorted(
            s.exec(select(BallotTally.group_id, BallotTally.ballots, BallotTally.uniform))  # type: ignore[call-overload]
        )


def token() -> str:
    """A device's token, as the ballot element makes it: 32 lower-case hex digits."""
    return secrets.token_hex(16)


def stored_state(engine: Engine, round_id: int) -> dict[str, Any]:
    """Everything a ballot writes, at cast time or when counted: the box and the casts per
    minute, its rows, the tallies, the participation, the codes."""
    with db.session(engine) as s:
        code_rows = sorted(
            (row.code_hash, row.opened, row.used, row.revoked, row.receipt)
            for row in s.exec(select(EvaluationCode))
        )
        return {
            "box": sorted(s.exec(select(BallotBox.id, BallotBox.sealed))),  # type: ignore[call-overload]
            "casts": casts(engine),
            "ballots": rows(engine, Ballot),
            "ratings": rows(engine, Rating),
            "comments": rows(engine, MassComment),
            "tallies": tally.stored(session=s, round_id=round_id),
            "participation": tally.participation(session=s, round_id=round_id),
            "codes": code_rows,
        }


def every_row(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, by table, in primary-key order."""
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return {
            name: [
                dict(row)
                for row in conn.execute(
                    table.select().order_by(*table.primary_key.columns)
                ).mappings()
            ]
            for name, table in meta.tables.items()
        }


# ---- the form


def test_vendors_rate_every_grassroots_member_in_roster_order(engine: Engine) -> None:
    world = bureau(engine)
    form = form_of(engine, world, GroupKey.VENDORS)
    assert [card.name for card in form.cards][:3] == ["第一党员1", "第一党员2", "第一党员3"]
    assert len(form.cards) == 9
    assert {card.category for card in form.cards} == {"普通党员", "党员领导干部"}
    assert form.cards[0].branch_name == "第一市场党支部"
    assert [level.label for level in form.levels] == ["好", "较好", "一般", "差", "不了解"]
    ordinary = form.cards[0]
    assert next(c.name for c in ordinary.criteria) == "参加创先争优活动情况"
    assert len(ordinary.criteria) == 6


def test_all_staff_rate_the_team_and_its_members(engine: Engine) -> None:
    form = form_of(engine, bureau(engine), GroupKey.ALL_STAFF)
    assert [(card.name, card.category) for card in form.cards] == [
        ("局领导班子", "领导班子"),
        ("王书记", "党员领导干部"),
        ("李副局长", "党员领导干部"),
        ("张副局长", "党员领导干部"),
    ]


def test_missing_lists_cards_with_any_unanswered_criterion(engine: Engine) -> None:
    world = bureau(engine)
    form = form_of(engine, world, GroupKey.UNIT_STAFF)
    answers = full_answers(engine, world.round_id, world.groups[GroupKey.UNIT_STAFF])
    assert ballots.missing(form, answers) == []
    assert ballots.missing(form, {}) == list(form.cards)
    first = form.cards[0]
    del answers[first.target_id, first.criteria[-1].id]
    assert ballots.missing(form, answers) == [first]
    answers[first.target_id, first.criteria[-1].id] = None  # type: ignore[assignment]
    assert ballots.missing(form, answers) == [first]


# ---- a full ballot


def test_a_ballot_is_cast_into_the_box_and_counted_with_its_tallies_and_its_code_is_used(
    engine: Engine,
) -> None:
    world = bureau(engine)
    vendors = world.groups[GroupKey.VENDORS]
    code, spare = issue(engine, world.round_id, vendors, 2)
    answers = full_answers(engine, world.round_id, vendors)
    with db.transaction(engine) as s:
        opened = ballots.open_code(session=s, code=code)
    assert (opened.round_id, opened.group_id) == (world.round_id, vendors)
    first, second = (card.target_id for card in opened.form.cards[:2])

    receipt = submit(engine, code, answers, comments={first: "  工作认真  ", second: " "})

    assert receipt == ballots.Receipt(targets=9, again=False)
    row = code_row(engine, code)
    assert row.used and row.opened and not code_row(engine, spare).used
    # Cast: one sealed ballot in the box and one cast on the chart; nothing readable yet.
    assert rows(engine, BallotBox) == 1
    assert casts(engine) == [(vendors, 1, 0)]
    assert (rows(engine, Ballot), rows(engine, Rating), rows(engine, MassComment)) == (0, 0, 0)
    with db.session(engine) as s:
        assert tally.stored(session=s, round_id=world.round_id) == {}
        assert tally.participation(session=s, round_id=world.round_id) == {}

    count(engine, world.round_id)

    assert rows(engine, BallotBox) == 0
    assert rows(engine, Ballot) == 1
    assert rows(engine, Rating) == len(opened.form.items) == 56
    with db.session(engine) as s:
        comments = list(s.exec(select(MassComment.target_id, MassComment.text)))  # type: ignore[call-overload]
        stored = tally.stored(session=s, round_id=world.round_id)
        participation = tally.participation(session=s, round_id=world.round_id)
    assert comments == [(first, "工作认真")]
    assert stored == {
        tally.TallyKey(vendors, t, c, level, False): 1 for (t, c), level in answers.items()
    }
    assert participation == {vendors: (1, 0)}


def test_a_ballot_with_one_level_everywhere_counts_as_uniform(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    submit(engine, code, full_answers(engine, world.round_id, staff, level=0, vary=False))
    # The cast is counted on the chart, but whether it is 一刀切 is sealed with the ballot.
    assert casts(engine) == [(staff, 1, 0)]
    count(engine, world.round_id)
    assert casts(engine) == [(staff, 1, 0)]
    with db.session(engine) as s:
        assert tally.participation(session=s, round_id=world.round_id) == {staff: (1, 1)}
        assert all(key.uniform for key in tally.stored(session=s, round_id=world.round_id))


def test_submitting_the_same_code_twice_stores_one_ballot(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    answers = full_answers(engine, world.round_id, staff)
    submit(engine, code, answers)
    with pytest.raises(ballots.AlreadyUsed, match="此测评码已使用"):
        submit(engine, code, answers)
    with pytest.raises(ballots.AlreadyUsed):
        ballots.submit_with_retry(engine, code, answers)
    assert rows(engine, BallotBox) == 1
    assert casts(engine) == [(staff, 1, 0)]
    count(engine, world.round_id)
    assert rows(engine, Ballot) == 1


def test_submit_with_retry_stores_the_ballot(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    answers = full_answers(engine, world.round_id, staff)
    receipt = ballots.submit_with_retry(engine, code, answers, round_id=world.round_id)
    assert receipt.targets == 3
    assert rows(engine, BallotBox) == 1
    count(engine, world.round_id)
    assert rows(engine, Ballot) == 1


# ---- codes that cannot vote


def test_an_unknown_code_is_refused(engine: Engine) -> None:
    world = bureau(engine)
    answers = full_answers(engine, world.round_id, world.groups[GroupKey.UNIT_STAFF])
    with pytest.raises(ballots.BallotError, match=codes.MSG_UNKNOWN):
        submit(engine, "ABCD-EFGH", answers)
    with db.session(engine) as s, pytest.raises(ballots.BallotError, match="8 位"):
        ballots.open_code(session=s, code="ABC")
    assert nothing_stored(engine)


def test_a_revoked_code_is_refused(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    with db.transaction(engine) as s:
        codes.revoke(actor="测试", session=s, code=code)
    answers = full_answers(engine, world.round_id, staff)
    for action in (
        lambda s: ballots.open_code(session=s, code=code),
        lambda s: ballots.submit(session=s, code=code, answers=answers),
        lambda s: ballots.submit(session=s, code=code, answers=answers, receipt=token()),
    ):
        with db.transaction(engine) as s, pytest.raises(ballots.CodeRefused, match="已作废"):
            action(s)
    with pytest.raises(ballots.CodeRefused, match="已作废"):
        ballots.submit_with_retry(engine, code, answers, receipt=token())
    assert nothing_stored(engine)
    assert not code_row(engine, code).used


def test_a_used_code_opens_nothing(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    submit(engine, code, full_answers(engine, world.round_id, staff))
    with db.transaction(engine) as s, pytest.raises(ballots.AlreadyUsed, match="此测评码已使用"):
        ballots.open_code(session=s, code=code)
    with db.transaction(engine) as s, pytest.raises(ballots.AlreadyUsed):
        ballots.open_code(session=s, code=code, round_id=world.round_id)
    assert rows(engine, BallotBox) == 1
    count(engine, world.round_id)
    assert rows(engine, Ballot) == 1


def test_a_code_of_another_round_is_refused_when_the_round_is_given(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    with db.transaction(engine) as s:
        later = rounds.create_round(
            actor="测试", session=s, name="2027年第一季度评议", quarter="2027Q1"
        )
        rounds.open_round(actor="测试", session=s, round_=later)
        later_id = later.id
    (code,) = issue(engine, later_id, staff, 1)  # type: ignore[arg-type]
    answers = full_answers(engine, later_id, staff)  # type: ignore[arg-type]
    with pytest.raises(ballots.BallotError, match=codes.MSG_WRONG_ROUND):
        submit(engine, code, answers, round_id=world.round_id)
    with db.transaction(engine) as s, pytest.raises(ballots.BallotError, match="不属于本轮"):
        ballots.open_code(session=s, code=code, round_id=world.round_id)
    assert nothing_stored(engine)
    submit(engine, code, answers, round_id=later_id)
    assert rows(engine, BallotBox) == 1
    count(engine, world.round_id)  # nothing of the later round's box is counted with this one
    assert (rows(engine, BallotBox), rows(engine, Ballot)) == (1, 0)
    count(engine, later_id)  # type: ignore[arg-type]
    assert (rows(engine, BallotBox), rows(engine, Ballot)) == (0, 1)


def test_a_closed_round_takes_no_ballots(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    answers = full_answers(engine, world.round_id, staff)
    with db.transaction(engine) as s:
        rounds.set_step(
            actor="测试", session=s, round_=s.get(Round, world.round_id), step=Step.CLOSED
        )  # type: ignore[arg-type]
    with pytest.raises(ballots.BallotError, match="本轮评议已结束"):
        submit(engine, code, answers)
    assert nothing_stored(engine)


# ---- ballots that are refused store nothing


def test_an_incomplete_ballot_names_the_missing_cards_and_stores_nothing(engine: Engine) -> None:
    world = bureau(engine)
    vendors = world.groups[GroupKey.VENDORS]
    (code,) = issue(engine, world.round_id, vendors, 1)
    form = form_of(engine, world, GroupKey.VENDORS)
    answers = full_answers(engine, world.round_id, vendors)
    for card in (form.cards[2], form.cards[5]):
        del answers[card.target_id, card.criteria[0].id]

    # Even a caller that catches the error and commits leaves the code unused.
    with db.transaction(engine) as s, pytest.raises(ballots.IncompleteBallot) as refused:
        ballots.submit(session=s, code=code, answers=answers)
    assert [card.name for card in refused.value.cards] == ["第一党员3", "第二党员2"]
    assert "2 张评议卡" in str(refused.value) and "第一党员3、第二党员2" in str(refused.value)
    assert nothing_stored(engine)
    assert not code_row(engine, code).used


def test_a_refused_ballot_gives_the_code_back_for_the_corrected_one(engine: Engine) -> None:
    world = bureau(engine)
    vendors = world.groups[GroupKey.VENDORS]
    (code,) = issue(engine, world.round_id, vendors, 1)
    answers = full_answers(engine, world.round_id, vendors)
    partial = dict(itertools.islice(answers.items(), 3))
    device = token()

    # The claim comes first: a refusal after it must undo it, token hash included.
    with pytest.raises(ballots.IncompleteBallot):
        ballots.submit_with_retry(engine, code, partial, receipt=device)
    with db.transaction(engine) as s, pytest.raises(ballots.IncompleteBallot):
        ballots.submit(session=s, code=code, answers=partial, receipt=device)
    row = code_row(engine, code)
    assert not row.used and row.receipt is None
    assert nothing_stored(engine) and casts(engine) == []

    targets = len(form_of(engine, world, GroupKey.VENDORS).cards)
    assert ballots.submit_with_retry(engine, code, answers, receipt=device).targets == targets
    assert rows(engine, BallotBox) == 1


def test_a_ballot_whose_form_is_not_cached_is_stored_by_the_same_cast(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    first, second = issue(engine, world.round_id, staff, 2)
    answers = full_answers(engine, world.round_id, staff)

    ballots._FORMS.clear()  # a server just started: the form is loaded after the claim
    assert ballots.submit_with_retry(engine, first, answers).targets == 3
    ballots._FORMS.clear()
    assert submit(engine, second, answers).targets == 3
    assert rows(engine, BallotBox) == 2 and code_row(engine, second).used


def test_a_ballot_whose_form_is_cached_is_cast_without_a_session(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    first, second = issue(engine, world.round_id, staff, 2)
    answers = full_answers(engine, world.round_id, staff)
    ballots.submit_with_retry(engine, first, answers)  # caches the form

    # The claim's key (round, group, creation time) must find what `_form` cached.
    def no_session(**_: object) -> None:
        raise AssertionError("the cast of a cached form took the Session path")

    monkeypatch.setattr(ballots, "submit", no_session)
    assert ballots.submit_with_retry(engine, second, answers).targets == 3


def test_both_ways_of_submitting_store_the_ballot_by_the_one_cast(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    first, second = issue(engine, world.round_id, staff, 2)
    answers = full_answers(engine, world.round_id, staff)
    casts_run: list[str] = []
    one_cast = ballots._cast

    def counted_cast(*args: Any, **kwargs: Any) -> ballots.Receipt:
        casts_run.append("cast")
        return one_cast(*args, **kwargs)

    monkeypatch.setattr(ballots, "_cast", counted_cast)
    with db.transaction(engine) as s:
        ballots.submit(session=s, code=first, answers=answers)
    ballots.submit_with_retry(engine, second, answers)
    assert casts_run == ["cast", "cast"]
    assert rows(engine, BallotBox) == 2


def test_a_level_of_another_round_is_refused(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    with db.transaction(engine) as s:
        later = rounds.create_round(actor="测试", session=s, name="下一轮", quarter="2027Q1")
        later_id = later.id
    with db.session(engine) as s:
        foreign_level = criteria.round_scale(session=s, round_id=later_id)[0].id  # type: ignore[arg-type]
    answers = full_answers(engine, world.round_id, staff)
    answers[next(iter(answers))] = foreign_level
    with db.transaction(engine) as s, pytest.raises(ballots.BallotError, match="评价等级无效"):
        ballots.submit(session=s, code=code, answers=answers)
    assert nothing_stored(engine)
    assert not code_row(engine, code).used


def test_an_item_not_on_the_groups_form_is_refused(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    other = form_of(engine, world, GroupKey.VENDORS).items[0]
    answers = full_answers(engine, world.round_id, staff)
    answers[other] = next(iter(answers.values()))
    with pytest.raises(ballots.BallotError, match="评议表不符"):
        submit(engine, code, answers)
    with pytest.raises(ballots.BallotError, match="评议表不符"):
        submit(engine, code, full_answers(engine, world.round_id, staff), comments={other[0]: "好"})
    assert nothing_stored(engine)


def test_a_comment_over_200_characters_is_refused(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    form = form_of(engine, world, GroupKey.UNIT_STAFF)
    answers = full_answers(engine, world.round_id, staff)
    target = form.cards[1].target_id
    with pytest.raises(ballots.BallotError, match="对「钱干事」的意见建议超过 200 字") as refused:
        submit(engine, code, answers, comments={target: "很" * 201})
    assert not isinstance(refused.value, ballots.CodeRefused)  # the code can still vote
    with pytest.raises(ballots.BallotError, match="超过 200 字"):
        ballots.submit_with_retry(engine, code, answers, {target: "很" * 201}, receipt=token())
    assert nothing_stored(engine)
    assert not code_row(engine, code).used
    submit(engine, code, answers, comments={target: "  " + "很" * 200 + "\n"})
    assert rows(engine, BallotBox) == 1
    count(engine, world.round_id)
    with db.session(engine) as s:
        assert list(s.exec(select(MassComment.text))) == ["很" * 200]


# ---- the device's token: a lost reply, a double tap, a second device


def test_the_same_device_sending_its_ballot_again_is_told_it_is_in_and_nothing_more_is_stored(
    engine: Engine,
) -> None:
    world = bureau(engine)
    vendors = world.groups[GroupKey.VENDORS]
    code, other = issue(engine, world.round_id, vendors, 2)
    answers = full_answers(engine, world.round_id, vendors)
    target = next(iter(answers))[0]
    device = token()
    first = submit(engine, code, answers, comments={target: "工作认真"}, receipt=device)
    assert first == ballots.Receipt(targets=9, again=False)
    before = stored_state(engine, world.round_id)

    # The reply was lost: the device sends the same ballot again, through either path, with
    # or without the round, typed in any case; even answers that differ change nothing.
    other_answers = full_answers(engine, world.round_id, vendors, level=3, vary=False)
    again = ballots.Receipt(targets=9, again=True)
    assert submit(engine, code, answers, comments={target: "工作认真"}, receipt=device) == again
    assert submit(engine, code.lower(), other_answers, receipt=device) == again
    assert ballots.submit_with_retry(engine, code, answers, receipt=device) == again
    assert (
        ballots.submit_with_retry(
            engine, code, other_answers, {target: "改了"}, round_id=world.round_id, receipt=device
        )
        == again
    )

    assert stored_state(engine, world.round_id) == before
    assert rows(engine, BallotBox) == 1 and casts(engine) == [(vendors, 1, 0)]
    assert not code_row(engine, other).used

    # Counted: the first ballot, once, as it was first sent.
    count(engine, world.round_id)
    assert rows(engine, Ballot) == 1 and rows(engine, MassComment) == 1
    with db.session(engine) as s:
        assert list(s.exec(select(MassComment.text))) == ["工作认真"]
        assert tally.stored(session=s, round_id=world.round_id) == {
            tally.TallyKey(vendors, t, c, level, False): 1 for (t, c), level in answers.items()
        }
        assert tally.verify(session=s, round_id=world.round_id) == []


def test_the_same_code_from_another_device_is_refused_as_used(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    with_token, without_token = issue(engine, world.round_id, staff, 2)
    answers = full_answers(engine, world.round_id, staff)
    device = token()
    submit(engine, with_token, answers, receipt=device)
    submit(engine, without_token, answers)  # stored with no token at all
    before = stored_state(engine, world.round_id)

    attempts = [
        (with_token, token()),  # another device
        (with_token, None),  # a device with no token
        (without_token, device),  # no token was kept: nobody can claim to be that device
        (without_token, token()),
        (without_token, None),
    ]
    for code, receipt in attempts:
        with pytest.raises(ballots.AlreadyUsed, match=codes.MSG_USED) as refused:
            submit(engine, code, answers, receipt=receipt)
        assert refused.value.state is codes.CodeState.USED
        with pytest.raises(ballots.AlreadyUsed):
            ballots.submit_with_retry(
                engine, code, answers, round_id=world.round_id, receipt=receipt
            )
    assert stored_state(engine, world.round_id) == before
    assert rows(engine, BallotBox) == 2
    # The first device is still told its ballot is in.
    assert submit(engine, with_token, answers, receipt=device).again
    count(engine, world.round_id)
    assert rows(engine, Ballot) == 2


@pytest.mark.parametrize(
    "bad",
    [
        "0123456789abcdef",  # too short
        "0123456789abcdef0123456789abcdef0",  # too long
        "0123456789ABCDEF0123456789ABCDEF",  # upper case
        "0123456789abcdeg0123456789abcdef",  # not hex
        " 123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcde\n",
        "",
        12345678901234567890123456789012,  # not a string
        b"0123456789abcdef0123456789abcdef",
        ["0123456789abcdef0123456789abcdef"],
    ],
    ids=repr,
)
def test_a_malformed_device_token_is_refused_and_stores_nothing(
    engine: Engine, bad: object
) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    answers = full_answers(engine, world.round_id, staff)
    message = "提交内容无效,请刷新页面后重新提交"

    with db.transaction(engine) as s, pytest.raises(ballots.BallotError, match=message) as refused:
        ballots.submit(session=s, code=code, answers=answers, receipt=bad)  # type: ignore[arg-type]
    assert not isinstance(refused.value, ballots.CodeRefused)  # the ballot, not the code
    with pytest.raises(ballots.BallotError, match=message):
        ballots.submit_with_retry(engine, code, answers, receipt=bad)  # type: ignore[arg-type]
    with pytest.raises(ballots.BallotError, match=message):
        ballots.receipt_hash(bad)  # type: ignore[arg-type]

    assert nothing_stored(engine)
    row = code_row(engine, code)
    assert (row.used, row.receipt) == (False, None)
    # The same code, from a device with a good token, votes.
    assert submit(engine, code, answers, receipt=token()).again is False
    assert rows(engine, BallotBox) == 1
    count(engine, world.round_id)
    assert rows(engine, Ballot) == 1


def test_the_code_keeps_only_the_hash_of_the_device_token_and_nothing_of_the_ballot(
    engine: Engine,
) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    code, spare = issue(engine, world.round_id, staff, 2)
    answers = full_answers(engine, world.round_id, staff)
    target = next(iter(answers))[0]
    device = token()
    submit(engine, code, answers, comments={target: "意见建议"}, receipt=device)

    row = code_row(engine, code)
    assert (
        row.receipt == hashlib.sha256(device.encode()).hexdigest() == ballots.receipt_hash(device)
    )
    assert ballots.receipt_hash(None) is None
    assert code_row(engine, spare).receipt is None
    # The code row is what it was, plus the receipt: no ballot id, answer, comment or time.
    assert set(EvaluationCode.__table__.columns.keys()) == {  # type: ignore[attr-defined]
        "id",
        "round_id",
        "group_id",
        "code_hash",
        "opened",
        "used",
        "revoked",
        "receipt",
    }

    def cells() -> list[tuple[str, Any]]:
        tables = every_row(engine)
        return [(name, value) for name in tables for row in tables[name] for value in row.values()]

    def text_cells(needle: str) -> list[tuple[str, Any]]:
        """Cells holding `needle`, as text or as the bytes of a blob."""
        return [
            (name, value)
            for name, value in cells()
            if (isinstance(value, str) and needle in value)
            or (isinstance(value, bytes) and needle.encode() in value)
        ]

    # Cast: the box's row, sealed; the comment is nowhere in the clear, the token nowhere.
    with db.session(engine) as s:
        (box_id,) = s.connection().scalars(text("SELECT id FROM ballot_box"))
    assert text_cells(device) == [] and text_cells("意见建议") == []
    assert box_id not in {value for name, value in cells() if name == "evaluation_code"}

    # Counted: the ballot under a new id, which the code row does not hold either.
    count(engine, world.round_id)
    with db.session(engine) as s:
        (ballot_id,) = s.connection().scalars(text("SELECT id FROM ballot"))
    assert ballot_id != box_id
    assert text_cells(device) == []
    code_cells = {value for name, value in cells() if name == "evaluation_code"}
    assert ballot_id not in code_cells and "意见建议" not in code_cells
    assert [name for name, _ in text_cells("意见建议")] == ["mass_comment"]

    # No table keeps partial answers on the server any more.
    tables = set(inspect(engine).get_table_names())
    assert "draft" not in tables and not [name for name in tables if "draft" in name]
    assert tables - {"alembic_version"} == set(models.metadata.tables)


def test_opening_a_code_stores_nothing_but_the_opened_flag(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    code, other = issue(engine, world.round_id, staff, 2)
    before = every_row(engine)
    with db.transaction(engine) as s:
        opened = ballots.open_code(session=s, code=code.lower(), round_id=world.round_id)
    with db.transaction(engine) as s:  # a reload opens it again
        ballots.open_code(session=s, code=code)
    assert (opened.round_id, opened.group_id) == (world.round_id, staff)
    assert len(opened.form.cards) == 3

    after = every_row(engine)
    assert after.keys() == before.keys()
    assert {name: rows for name, rows in after.items() if name != "evaluation_code"} == {
        name: rows for name, rows in before.items() if name != "evaluation_code"
    }
    opened_hash = codes.hash_code(code)
    expected = [
        {**row, "opened": True} if row["code_hash"] == opened_hash else row
        for row in before["evaluation_code"]
    ]
    assert after["evaluation_code"] == expected != before["evaluation_code"]
    row = code_row(engine, code)
    assert (row.opened, row.used, row.receipt) == (True, False, None)
    assert not code_row(engine, other).opened
    assert nothing_stored(engine)


# ---- why a code cannot vote


def test_a_refused_code_says_why_in_its_state(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    with db.transaction(engine) as s:
        later = rounds.create_round(
            actor="测试", session=s, name="2027年第一季度评议", quarter="2027Q1"
        )
        rounds.open_round(actor="测试", session=s, round_=later)
        later_id = later.id
    revoked, used = issue(engine, world.round_id, staff, 2)
    (elsewhere,) = issue(engine, later_id, staff, 1)  # type: ignore[arg-type]
    answers = full_answers(engine, world.round_id, staff)
    with db.transaction(engine) as s:
        codes.revoke(actor="测试", session=s, code=revoked)
    submit(engine, used, answers, receipt=token())
    unknown = codes.generate()

    cases = [
        (revoked, None, codes.CodeState.REVOKED, codes.MSG_REVOKED),
        (used, None, codes.CodeState.USED, codes.MSG_USED),
        (used, world.round_id, codes.CodeState.USED, codes.MSG_USED),
        (unknown, None, codes.CodeState.UNKNOWN, codes.MSG_UNKNOWN),
        ("ABC", None, codes.CodeState.UNKNOWN, "8 位"),
        (elsewhere, world.round_id, codes.CodeState.WRONG_ROUND, codes.MSG_WRONG_ROUND),
    ]

    def refusal(code: str, round_id: int | None, how: str) -> ballots.CodeRefused:
        with pytest.raises(ballots.CodeRefused) as refused:
            if how == "retry":
                ballots.submit_with_retry(engine, code, answers, round_id=round_id, receipt=token())
            with db.transaction(engine) as s:
                if how == "open":
                    ballots.open_code(session=s, code=code, round_id=round_id)
                receipt = token() if how == "submit with a token" else None
                ballots.submit(
                    session=s, code=code, answers=answers, round_id=round_id, receipt=receipt
                )
        return refused.value

    before = stored_state(engine, world.round_id)
    for code, round_id, state, message in cases:
        for how in ("open", "submit", "submit with a token", "retry"):
            refused = refusal(code, round_id, how)
            assert (refused.state, code, how) == (state, code, how)
            assert message in str(refused)
            assert isinstance(refused, ballots.AlreadyUsed) == (state is codes.CodeState.USED)
    assert stored_state(engine, world.round_id) == before


def test_a_round_not_taking_ballots_refuses_the_code_without_a_code_state(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    with db.transaction(engine) as s:
        planned = rounds.create_round(actor="测试", session=s, name="筹备中", quarter="2027Q1")
        planned_id = planned.id
    (early,) = issue(engine, planned_id, staff, 1)  # type: ignore[arg-type]
    (late,) = issue(engine, world.round_id, staff, 1)
    answers = full_answers(engine, world.round_id, staff)
    with db.transaction(engine) as s:
        rounds.set_step(
            actor="测试", session=s, round_=s.get(Round, world.round_id), step=Step.CLOSED
        )  # type: ignore[arg-type]
    for code, message in ((early, "本轮评议尚未开始"), (late, "本轮评议已结束")):
        with db.transaction(engine) as s, pytest.raises(ballots.CodeRefused, match=message) as no:
            ballots.open_code(session=s, code=code)
        assert no.value.state is None  # the code itself is fine; its round is not voting
        with pytest.raises(ballots.CodeRefused, match=message) as no:
            ballots.submit_with_retry(engine, code, answers, receipt=token())
        assert no.value.state is None
        assert not code_row(engine, code).used
    assert nothing_stored(engine)


# ---- anonymity

_FORBIDDEN_WORDS = ("code", "hash", "account", "user", "address", "time", "created", "date")
_FORBIDDEN_TOKENS = {"ip", "at", "ts", "minute"}


def test_ballot_tables_have_no_column_that_could_lead_back_to_a_code(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in ("ballot", "rating", "mass_comment"):
        for column in inspector.get_columns(table):
            name = column["name"].lower()
            assert not any(word in name for word in _FORBIDDEN_WORDS), (table, name)
            assert not set(name.split("_")) & _FORBIDDEN_TOKENS, (table, name)


def ids_in(engine: Engine, table: str) -> list[str]:
    """The order the database hands rows back in when nobody asks for one."""
    with db.session(engine) as s:
        return list(s.connection().scalars(text(f"SELECT id FROM {table}")))


def test_box_and_ballot_ids_are_random_not_sequential(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    plain = issue(engine, world.round_id, staff, 50)
    answers = full_answers(engine, world.round_id, staff)
    arrival: list[str] = []
    for code in plain:
        submit(engine, code, answers)
        arrival.extend(set(ids_in(engine, "ballot_box")) - set(arrival))
    boxed = ids_in(engine, "ballot_box")
    count(engine, world.round_id)
    ids = ids_in(engine, "ballot")

    assert len(arrival) == len(set(arrival)) == len(ids) == len(set(ids)) == 50
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in arrival + ids)
    # Counted ballots get new ids: none leads back to the blob a code cast.
    assert not set(ids) & set(arrival)
    assert arrival != sorted(arrival) and arrival != sorted(arrival, reverse=True)
    if db.is_sqlite(engine):
        # No rowid: SQLite keeps the box and the ballots in random-id order, not in the order
        # codes were used.
        assert boxed == sorted(boxed) != arrival
        assert ids == sorted(ids)
    for numbers in ([int(i, 16) for i in arrival], [int(i, 16) for i in ids]):
        assert not any(abs(b - a) < 2**64 for a, b in itertools.pairwise(numbers))


def test_the_claim_reads_the_created_time_of_the_code_s_own_round() -> None:
    """SQLite's RETURNING names columns without their table, so in the claim's subquery
    `WHERE id = round_id` the `round_id` is the code's only while `round` has no such column."""
    returning = str(ballots._CLAIM_ANY_ROUND.compile(dialect=sqlite.dialect())).split("RETURNING")
    assert "WHERE id = round_id" in returning[1]
    assert {"round_id", "group_id"}.isdisjoint(Round.__table__.columns.keys())  # type: ignore[attr-defined]
