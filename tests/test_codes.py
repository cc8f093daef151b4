from __future__ import annotations

import hmac
import itertools
import string
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, text
from sqlmodel import select

from pingyi import audit, codes, config, db, groups, rounds
from pingyi.audit import Action
from pingyi.codes import CodeError, CodeState
from pingyi.models import EvaluationCode, GroupKey, Step

TEST_KEY = b"test-secret-for-codes"
# The claim the ballot submit runs, in the same transaction as storing the ballot (which also
# keeps the device's receipt and checks the round's step).
SUBMIT = text(
    "UPDATE evaluation_code SET used=true WHERE code_hash=:h AND used=false AND revoked=false"
)


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[bytes]:
    """A known key, and no secret.key file written into the working tree."""
    monkeypatch.setenv("PINGYI_SECRET_KEY", TEST_KEY.decode())
    config.settings.cache_clear()
    yield TEST_KEY
    config.settings.cache_clear()


@dataclass(frozen=True)
class World:
    round_id: int
    other_round_id: int
    all_staff: int
    unit_staff: int
    vendors: int


@pytest.fixture
def world(engine: Engine) -> World:
    with db.transaction(engine) as s:
        first = rounds.create_round(
            actor="测试", session=s, name="2026年第四季度", quarter="2026Q4"
        )
        second = rounds.create_round(
            actor="测试", session=s, name="2026年第三季度", quarter="2026Q3"
        )
        by_key = groups.by_key(session=s)
        groups.set_headcounts(
            session=s,
            headcounts={GroupKey.ALL_STAFF: 40, GroupKey.UNIT_STAFF: 25, GroupKey.VENDORS: 60},
        )
        return World(
            round_id=first.id,  # type: ignore[arg-type]
            other_round_id=second.id,  # type: ignore[arg-type]
            all_staff=by_key[GroupKey.ALL_STAFF].id,  # type: ignore[arg-type]
            unit_staff=by_key[GroupKey.UNIT_STAFF].id,  # type: ignore[arg-type]
            vendors=by_key[GroupKey.VENDORS].id,  # type: ignore[arg-type]
        )


def _issue(engine: Engine, round_id: int, group_id: int, count: int) -> list[str]:
    with db.transaction(engine) as s:
        return codes.issue(
            actor="测试", session=s, round_id=round_id, group_id=group_id, count=count
        )


def _submit(engine: Engine, code: str) -> int:
    with db.transaction(engine) as s:
        return s.connection().execute(SUBMIT, {"h": codes.hash_code(code)}).rowcount


def _lookup(engine: Engine, code: str, round_id: int | None = None) -> codes.CodeStatus:
    with db.session(engine) as s:
        return codes.lookup(session=s, code=code, round_id=round_id)


# ---- the alphabet and the codes themselves


def test_alphabet_has_no_look_alikes() -> None:
    assert not set("0O1IL") & set(codes.ALPHABET)
    assert not set(codes.EXCLUDED) & set(codes.ALPHABET)
    assert len(set(codes.ALPHABET)) == len(codes.ALPHABET) >= 28
    assert set(codes.ALPHABET) <= set(string.ascii_uppercase + string.digits)
    assert codes.CODE_LENGTH == 8


def test_ten_thousand_codes_are_unique_and_use_only_the_alphabet() -> None:
    drawn = [codes.generate() for _ in range(10_000)]
    assert len(set(drawn)) == len(drawn)
    assert all(len(c) == codes.CODE_LENGTH and set(c) <= set(codes.ALPHABET) for c in drawn)
    # Every symbol turns up in every position: nothing is fixed or counted up.
    for position in range(codes.CODE_LENGTH):
        assert {c[position] for c in drawn} == set(codes.ALPHABET)


def test_codes_follow_no_sequence_or_common_prefix() -> None:
    drawn = [codes.generate() for _ in range(1000)]
    # 29² = 841 possible two-symbol prefixes; 1000 random codes hit about 585 of them.
    assert len({c[:2] for c in drawn}) > 400
    # Consecutive codes share no more than chance: about 8/29 symbols in place.
    same = sum(a == b for x, y in itertools.pairwise(drawn) for a, b in zip(x, y, strict=True))
    assert same / (len(drawn) - 1) < 1.0


def test_normalize_accepts_lower_case_spaces_hyphens_and_full_width() -> None:
    assert codes.normalize(" abcd-efgh ") == "ABCDEFGH"
    assert codes.normalize("ABCD EFGH") == "ABCDEFGH"
    assert codes.normalize("ａｂｃｄ－ＥＦＧＨ") == "ABCDEFGH"
    assert codes.normalize("ab—cd_ef.gh") == "ABCDEFGH"


def test_look_alikes_are_named_not_guessed() -> None:
    assert codes.normalize("abc0-efgh") == "ABC0EFGH"  # kept, so the mistake can be named
    for typed in ("ABC0EFGH", "ABCOEFGH", "abc1efgh", "abcieFgh", "abclefgh"):
        problem = codes.format_problem(codes.normalize(typed))
        assert problem is not None and "0、1" in problem
    assert codes.format_problem("ABCDEFG") == "测评码为 8 位,请核对后重新输入"
    assert codes.format_problem("") == "请输入测评码"
    assert codes.format_problem("ABCD#FGH") is not None
    assert codes.format_problem(codes.generate()) is None


def test_hash_is_keyed_and_ignores_how_the_code_was_typed() -> None:
    code = codes.generate()
    digest = codes.hash_code(code)
    assert len(digest) == 64 and set(digest) <= set(string.hexdigits.lower())
    assert digest == codes.hash_code(code, TEST_KEY)
    assert digest != codes.hash_code(code, b"another key")
    assert digest == codes.hash_code(f" {code[:4].lower()}-{code[4:]} ")
    assert not hmac.compare_digest(digest, codes.hash_code(codes.generate()))


# ---- issue


def test_database_holds_no_plain_code(engine: Engine, world: World) -> None:
    issued = _issue(engine, world.round_id, world.all_staff, 30)
    assert len(issued) == 30
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM evaluation_code")).all()
    cells = [str(value) for row in rows for value in row]
    assert len(rows) == 30
    for code in issued:
        assert not any(code in cell or code.lower() in cell for cell in cells)
    with db.session(engine) as s:
        stored = set(s.exec(select(EvaluationCode.code_hash)))
    assert stored == {codes.hash_code(c) for c in issued}


def test_codes_are_unique_across_rounds(engine: Engine, world: World) -> None:
    first = _issue(engine, world.round_id, world.all_staff, 500)
    second = _issue(engine, world.other_round_id, world.all_staff, 500)
    assert len(set(first) | set(second)) == 1000


def test_issue_draws_again_when_a_code_already_exists(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    (taken,) = _issue(engine, world.other_round_id, world.vendors, 1)
    fresh = codes.generate()
    while fresh == taken:
        fresh = codes.generate()
    draws = iter([taken, taken, fresh])
    monkeypatch.setattr(codes, "generate", lambda: next(draws))
    assert _issue(engine, world.round_id, world.vendors, 1) == [fresh]
    assert _lookup(engine, taken).round_id == world.other_round_id


def test_issue_the_most_at_once(engine: Engine, world: World) -> None:
    issued = _issue(engine, world.round_id, world.vendors, codes.MAX_PER_ISSUE)
    assert len(set(issued)) == codes.MAX_PER_ISSUE
    assert issued == sorted(issued)


@pytest.mark.parametrize("count", [0, -1, codes.MAX_PER_ISSUE + 1, True])
def test_bad_counts_are_refused(engine: Engine, world: World, count: int) -> None:
    with pytest.raises(CodeError, match="1 到 5000"):
        _issue(engine, world.round_id, world.all_staff, count)


def test_unknown_round_or_group_is_refused(engine: Engine, world: World) -> None:
    with pytest.raises(CodeError, match="找不到该评议轮次"):
        _issue(engine, 9999, world.all_staff, 1)
    with pytest.raises(CodeError, match="找不到该评议群体"):
        _issue(engine, world.round_id, 9999, 1)


def test_a_round_in_preparation_gets_codes_a_closed_one_does_not(
    engine: Engine, world: World
) -> None:
    assert len(_issue(engine, world.round_id, world.all_staff, 3)) == 3
    with db.transaction(engine) as s:
        round_ = rounds.resolve(session=s, id_or_name=str(world.round_id))
        round_.step = Step.CLOSED  # set_step refuses a round still in 筹备; the state is the point
        s.add(round_)
    with pytest.raises(CodeError, match="已结束"):
        _issue(engine, world.round_id, world.all_staff, 3)
    with db.session(engine) as s:
        assert len(s.exec(select(EvaluationCode)).all()) == 3  # nothing half-written


# ---- lookup


def test_lookup_ok_with_round_and_group(engine: Engine, world: World) -> None:
    (code,) = _issue(engine, world.round_id, world.unit_staff, 1)
    status = _lookup(engine, f"{code[:4].lower()}-{code[4:]}", world.round_id)
    assert status.ok and status.state is CodeState.OK
    assert (status.round_id, status.group_id) == (world.round_id, world.unit_staff)
    assert status.code_hash == codes.hash_code(code)
    assert _lookup(engine, code).ok  # without a round: any round will do


def test_lookup_unknown_and_malformed(engine: Engine, world: World) -> None:
    _issue(engine, world.round_id, world.unit_staff, 5)
    unknown = _lookup(engine, codes.generate(), world.round_id)
    assert unknown.state is CodeState.UNKNOWN and not unknown.ok
    assert unknown.message == "测评码无效,请核对后重新输入"
    assert unknown.round_id is None and unknown.group_id is None and unknown.code_hash is None
    malformed = _lookup(engine, "abc", world.round_id)
    assert malformed.state is CodeState.UNKNOWN and "8 位" in malformed.message


def test_lookup_used(engine: Engine, world: World) -> None:
    (code,) = _issue(engine, world.round_id, world.unit_staff, 1)
    assert _submit(engine, code) == 1
    status = _lookup(engine, code, world.round_id)
    assert status.state is CodeState.USED and status.message == "此测评码已使用"
    assert _submit(engine, code) == 0  # a second submit loses


def test_lookup_revoked(engine: Engine, world: World) -> None:
    (code,) = _issue(engine, world.round_id, world.unit_staff, 1)
    with db.transaction(engine) as s:
        codes.revoke(actor="测试", session=s, code=code)
    status = _lookup(engine, code, world.round_id)
    assert status.state is CodeState.REVOKED and status.message == "此测评码已作废"


def test_lookup_wrong_round(engine: Engine, world: World) -> None:
    (code,) = _issue(engine, world.other_round_id, world.unit_staff, 1)
    status = _lookup(engine, code, world.round_id)
    assert status.state is CodeState.WRONG_ROUND
    assert status.message == "此测评码不属于本轮评议"
    assert status.round_id == world.other_round_id


def test_lookup_agrees_with_the_submit_update(engine: Engine, world: World) -> None:
    fresh, used, revoked = _issue(engine, world.round_id, world.vendors, 3)
    _submit(engine, used)
    with db.transaction(engine) as s:
        codes.revoke(actor="测试", session=s, code=revoked)
    for code in (fresh, used, revoked):
        ok = _lookup(engine, code, world.round_id).ok
        assert ok == (_submit(engine, code) == 1)


# ---- revoke


def test_revoke_makes_a_code_unusable(engine: Engine, world: World) -> None:
    (code,) = _issue(engine, world.round_id, world.all_staff, 1)
    with db.transaction(engine) as s:
        codes.revoke(actor="测试", session=s, code=code.lower())
    with db.transaction(engine) as s:
        codes.revoke(actor="测试", session=s, code=code)  # twice is harmless
    assert _submit(engine, code) == 0
    assert _lookup(engine, code).state is CodeState.REVOKED
    with db.session(engine) as s:
        row = s.exec(
            select(EvaluationCode).where(EvaluationCode.code_hash == codes.hash_code(code))
        ).one()
    assert (row.revoked, row.used, row.receipt) == (True, False, None)


def test_revoke_unknown_or_used_is_refused(engine: Engine, world: World) -> None:
    (code,) = _issue(engine, world.round_id, world.all_staff, 1)
    with pytest.raises(CodeError, match="测评码无效"), db.transaction(engine) as s:
        codes.revoke(actor="测试", session=s, code=codes.generate())
    _submit(engine, code)
    with pytest.raises(CodeError, match="此测评码已使用,不能作废"), db.transaction(engine) as s:
        codes.revoke(actor="测试", session=s, code=code)
    assert _lookup(engine, code).state is CodeState.USED


# ---- counts


def test_counts_per_group_never_expose_codes(engine: Engine, world: World) -> None:
    staff = _issue(engine, world.round_id, world.all_staff, 6)
    vendors = _issue(engine, world.round_id, world.vendors, 2)
    _issue(engine, world.other_round_id, world.all_staff, 4)  # another round: not counted
    with db.transaction(engine) as s:
        for code in staff[:3]:
            status = codes.lookup(session=s, code=code, round_id=world.round_id)
            codes.mark_opened(session=s, code_hash=status.code_hash)  # type: ignore[arg-type]
        codes.mark_opened(session=s, code_hash=codes.hash_code(staff[0]))  # opened again
        codes.revoke(actor="测试", session=s, code=staff[5])
    _submit(engine, staff[0])
    _submit(engine, staff[1])

    with db.session(engine) as s:
        result = codes.counts(session=s, round_id=world.round_id)
    by_group = {c.group_id: c for c in result}
    assert [c.group_name for c in result] == ["局全体工作人员", "基层单位工作人员", "市场经营户"]
    staff_counts = by_group[world.all_staff]
    assert (staff_counts.headcount, staff_counts.issued, staff_counts.opened) == (40, 6, 3)
    assert (staff_counts.submitted, staff_counts.revoked, staff_counts.unused) == (2, 1, 3)
    unit = by_group[world.unit_staff]
    assert (unit.issued, unit.opened, unit.submitted, unit.revoked) == (0, 0, 0, 0)
    assert by_group[world.vendors].issued == 2
    shown = repr(result)
    for code in staff + vendors:
        assert code not in shown and codes.hash_code(code) not in shown


# ---- the process-wide limit on wrong codes (the ballot page adds its per-session lockout)


class Clock:
    """A clock the test moves by hand: no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_more_than_the_global_limit_of_wrong_codes_in_a_minute_pauses_entry() -> None:
    clock = Clock()
    guesses = codes.GuessLimit(clock=clock)
    assert (guesses.limit, guesses.window, guesses.pause) == (200, 60.0, 60.0)
    for _ in range(200):
        clock.now += 0.1
        assert guesses.wrong() is False
    assert guesses.paused_seconds() == 0
    assert guesses.wrong() is True  # the 201st within a minute
    assert guesses.paused_seconds() == 60
    # While paused nothing counts and nothing pauses again.
    assert guesses.wrong() is False
    clock.now += 59.5
    assert guesses.paused_seconds() == pytest.approx(0.5)
    clock.now += 0.5
    assert guesses.paused_seconds() == 0
    # After the pause the count starts again from nothing.
    assert not any(guesses.wrong() for _ in range(200))
    assert guesses.wrong() is True


def test_wrong_codes_spread_over_more_than_the_window_never_pause() -> None:
    clock = Clock()
    guesses = codes.GuessLimit(limit=3, window=60, pause=60, clock=clock)
    for _ in range(20):
        assert guesses.wrong() is False
        clock.now += 20.0  # three in any minute at most (the one 60 s ago has left it)
    assert guesses.paused_seconds() == 0


def test_the_global_limit_counts_every_thread_and_pauses_exactly_once() -> None:
    guesses = codes.GuessLimit(limit=200, clock=Clock())  # time stands still: one window
    started = threading.Barrier(8)
    tripped: list[bool] = []

    def guess() -> None:
        started.wait()
        tripped.extend(guesses.wrong() for _ in range(100))

    workers = [threading.Thread(target=guess) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(tripped) == 800
    assert tripped.count(True) == 1  # one pause, so one audit event, however many raced
    assert guesses.paused_seconds() == 60


def test_the_process_has_one_shared_limit() -> None:
    assert isinstance(codes.GUESSES, codes.GuessLimit)
    assert codes.MSG_PAUSED.startswith("短时间内输错测评码的次数过多")


def _log_of(engine: Engine, action: Action) -> list[tuple[str, str]]:
    with db.session(engine) as s:
        return [(e.actor, e.detail) for e in audit.events(session=s, action=action)]


def test_issuing_and_revoking_each_leave_one_log_row_naming_the_round(
    engine: Engine, world: World
) -> None:
    with db.transaction(engine) as s:
        code, *_ = codes.issue(
            session=s, round_id=world.round_id, group_id=world.vendors, count=3, actor="办公室"
        )
    with db.transaction(engine) as s:
        codes.revoke(session=s, code=code, actor=audit.CLI_ACTOR)
    assert _log_of(engine, Action.ISSUE_CODES) == [("办公室", "「2026年第四季度」市场经营户 3 个")]
    # The same detail from the page and the command; the code itself stays out of the log.
    assert _log_of(engine, Action.REVOKE_CODE) == [(audit.CLI_ACTOR, "2026年第四季度")]


def test_a_refused_revoke_leaves_no_log_row(engine: Engine, world: World) -> None:
    with pytest.raises(codes.CodeError), db.transaction(engine) as s:
        codes.revoke(session=s, code="ABCDEFGH", actor="办公室")
    assert _log_of(engine, Action.REVOKE_CODE) == []
