"""群众评议 ballots: a code opens a form, drafts survive, and a code stores exactly one ballot."""

from __future__ import annotations

import itertools
import re

import pytest
from sqlalchemy import Engine, func, inspect, text
from sqlmodel import select
from worlds import (  # noqa: F401  (verified_tallies is a fixture)
    Bureau,
    bureau,
    full_answers,
    issue,
    verified_tallies,
)

from pingyi import ballots, codes, criteria, db, rounds, tally
from pingyi.models import (
    Ballot,
    Draft,
    EvaluationCode,
    GroupKey,
    MassComment,
    Rating,
    Round,
    Step,
)

pytestmark = pytest.mark.usefixtures("verified_tallies")


def count(engine: Engine, model: type) -> int:
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
    return count(engine, Ballot) == count(engine, Rating) == count(engine, MassComment) == 0


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


def test_a_ballot_is_stored_with_its_tallies_and_its_code_is_used(engine: Engine) -> None:
    world = bureau(engine)
    vendors = world.groups[GroupKey.VENDORS]
    code, spare = issue(engine, world.round_id, vendors, 2)
    answers = full_answers(engine, world.round_id, vendors)
    with db.transaction(engine) as s:
        opened = ballots.open_code(session=s, code=code)
    assert (opened.round_id, opened.group_id) == (world.round_id, vendors)
    assert opened.answers == {} and opened.comments == {}
    first, second = (card.target_id for card in opened.form.cards[:2])
    with db.transaction(engine) as s:
        ballots.save_draft(session=s, code=code, answers=dict(list(answers.items())[:4]))

    receipt = submit(engine, code, answers, comments={first: "  工作认真  ", second: " "})

    assert receipt == ballots.Receipt(targets=9)
    row = code_row(engine, code)
    assert row.used and row.opened and not code_row(engine, spare).used
    assert count(engine, Ballot) == 1
    assert count(engine, Rating) == len(opened.form.items) == 56
    assert count(engine, Draft) == 0
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
    assert count(engine, Ballot) == 1


def test_submit_with_retry_stores_the_ballot(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    answers = full_answers(engine, world.round_id, staff)
    receipt = ballots.submit_with_retry(engine, code, answers, round_id=world.round_id)
    assert receipt.targets == 3
    assert count(engine, Ballot) == 1


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
        codes.revoke(session=s, code=code)
    for action in (
        lambda s: ballots.open_code(session=s, code=code),
        lambda s: ballots.save_draft(session=s, code=code, answers={}),
        lambda s: ballots.submit(
            session=s, code=code, answers=full_answers(engine, world.round_id, staff)
        ),
    ):
        with db.transaction(engine) as s, pytest.raises(ballots.BallotError, match="已作废"):
            action(s)
    assert nothing_stored(engine)
    assert not code_row(engine, code).used


def test_a_used_code_opens_nothing(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    submit(engine, code, full_answers(engine, world.round_id, staff))
    with db.transaction(engine) as s, pytest.raises(ballots.AlreadyUsed, match="此测评码已使用"):
        ballots.open_code(session=s, code=code)
    with db.session(engine) as s, pytest.raises(ballots.AlreadyUsed):
        ballots.load_draft(session=s, code=code)


def test_a_code_of_another_round_is_refused_when_the_round_is_given(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    with db.transaction(engine) as s:
        later = rounds.create_round(session=s, name="2027年第一季度评议", quarter="2027Q1")
        rounds.open_round(session=s, round_=later)
        later_id = later.id
    (code,) = issue(engine, later_id, staff, 1)  # type: ignore[arg-type]
    answers = full_answers(engine, later_id, staff)  # type: ignore[arg-type]
    with pytest.raises(ballots.BallotError, match=codes.MSG_WRONG_ROUND):
        submit(engine, code, answers, round_id=world.round_id)
    with db.transaction(engine) as s, pytest.raises(ballots.BallotError, match="不属于本轮"):
        ballots.open_code(session=s, code=code, round_id=world.round_id)
    assert nothing_stored(engine)
    submit(engine, code, answers, round_id=later_id)
    assert count(engine, Ballot) == 1


def test_a_closed_round_takes_no_ballots(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    answers = full_answers(engine, world.round_id, staff)
    with db.transaction(engine) as s:
        rounds.set_step(session=s, round_=s.get(Round, world.round_id), step=Step.CLOSED)  # type: ignore[arg-type]
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


def test_a_level_of_another_round_is_refused(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    with db.transaction(engine) as s:
        later = rounds.create_round(session=s, name="下一轮", quarter="2027Q1")
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
    with pytest.raises(ballots.BallotError, match="超过 200 字"):
        submit(engine, code, answers, comments={target: "很" * 201})
    with db.transaction(engine) as s, pytest.raises(ballots.BallotError, match="钱干事"):
        ballots.save_draft(session=s, code=code, answers={}, comments={target: "很" * 201})
    assert nothing_stored(engine)
    submit(engine, code, answers, comments={target: "  " + "很" * 200 + "\n"})
    assert count(engine, MassComment) == 1


# ---- drafts


def test_a_draft_comes_back_in_a_fresh_session(engine: Engine) -> None:
    world = bureau(engine)
    vendors = world.groups[GroupKey.VENDORS]
    (code,) = issue(engine, world.round_id, vendors, 1)
    answers = full_answers(engine, world.round_id, vendors)
    partial = dict(list(answers.items())[:10])
    target = next(iter(partial))[0]
    with db.transaction(engine) as s:
        ballots.save_draft(session=s, code=code, answers=partial, comments={target: " 很好 "})
    with db.session(engine) as s:  # another device: a new session, nothing shared
        assert ballots.load_draft(session=s, code=code.lower()) == (partial, {target: "很好"})
    with db.transaction(engine) as s:  # the next autosave replaces the last one
        ballots.save_draft(session=s, code=code, answers=answers, comments={})
    with db.transaction(engine) as s:
        opened = ballots.open_code(session=s, code=code)
    assert (opened.answers, opened.comments) == (answers, {})
    assert count(engine, Draft) == 1


def test_a_draft_cannot_be_saved_after_the_ballot_is_stored(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    (code,) = issue(engine, world.round_id, staff, 1)
    answers = full_answers(engine, world.round_id, staff)
    with db.transaction(engine) as s:
        ballots.save_draft(session=s, code=code, answers=answers)
    submit(engine, code, answers)
    assert count(engine, Draft) == 0
    with db.transaction(engine) as s, pytest.raises(ballots.AlreadyUsed):
        ballots.save_draft(session=s, code=code, answers=answers)
    assert count(engine, Draft) == 0


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


def test_ballot_ids_are_random_not_sequential(engine: Engine) -> None:
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    plain = issue(engine, world.round_id, staff, 50)
    answers = full_answers(engine, world.round_id, staff)
    arrival: list[str] = []
    for code in plain:
        submit(engine, code, answers)
        with db.session(engine) as s:
            stored = set(s.connection().scalars(text("SELECT id FROM ballot")))
        arrival.extend(stored - set(arrival))
    with db.session(engine) as s:
        # The order the database hands rows back in when nobody asks for one.
        ids = list(s.connection().scalars(text("SELECT id FROM ballot")))
    assert len(ids) == len(set(ids)) == 50
    assert all(re.fullmatch(r"[0-9a-f]{32}", ballot_id) for ballot_id in ids)
    assert arrival != sorted(arrival) and arrival != sorted(arrival, reverse=True)
    if db.is_sqlite(engine):
        # No rowid: SQLite keeps ballots in random-id order, not in the order codes were used.
        assert ids == sorted(ids) and ids != arrival
    numbers = [int(ballot_id, 16) for ballot_id in arrival]
    assert not any(abs(b - a) < 2**64 for a, b in itertools.pairwise(numbers))
