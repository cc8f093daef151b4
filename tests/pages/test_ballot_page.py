"""The 群众评议 ballot page, run by AppTest on a copy of the demo bureau.

Ballots here are of 局全体工作人员 (the 领导班子 and its 7 members, 8 cards and 55 items)
unless a test says otherwise. Code entry, the lockouts and the refusals are Streamlit; the cards
are the ballot element, whose taps, pages and storage are the browser's (tests/browser). Here
is what the server does around it: the form it sends the element, and what it does with a
whole ballot the element sends (`apptools.trigger`, as the browser's `setTriggerValue`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from apptools import component, component_data, trigger
from sqlalchemy.exc import OperationalError
from sqlmodel import func, select
from streamlit.testing.v1 import AppTest
from worlds import count

from pingyi import audit, ballots, codes, criteria, db, evaluation, groups, rounds, tally
from pingyi.models import (
    AuditEvent,
    Ballot,
    BallotBox,
    EvaluationCode,
    GroupKey,
    MassComment,
    Step,
    TemplateKey,
)
from pingyi.ui import ballot as view

PAGE = Path(__file__).resolve().parents[2] / "pages" / "ballot.py"
TIMEOUT = 60
TOKEN = "0123456789abcdef" * 2  # this device's token, as the element makes them
OTHER_TOKEN = "fedcba9876543210" * 2  # another device's


@pytest.fixture(autouse=True)
def guesses(monkeypatch: pytest.MonkeyPatch) -> codes.GuessLimit:
    """A fresh process-wide count of wrong codes: other tests' wrong codes never add up here."""
    fresh = codes.GuessLimit()
    monkeypatch.setattr(codes, "GUESSES", fresh)
    return fresh


@pytest.fixture
def round_id(demo_db: Path) -> int:
    with db.session() as s:
        current = rounds.current(session=s)
        assert current is not None
        return current.id  # type: ignore[return-value]


@pytest.fixture
def issue(round_id: int) -> Callable[..., list[str]]:
    """`issue(n)`: n fresh codes of 局全体工作人员 in the demo round."""

    def make(count: int = 1, group: GroupKey = GroupKey.ALL_STAFF) -> list[str]:
        with db.transaction() as s:
            group_id = groups.by_key(session=s)[group].id
            return codes.issue(
                actor="测试", session=s, round_id=round_id, group_id=group_id, count=count
            )

    return make


@pytest.fixture
def code(issue: Callable[..., list[str]]) -> str:
    return issue()[0]


def no_exception(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(code: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    if code is not None:
        at.query_params["code"] = code
    return no_exception(at.run())


def form_of(code: str) -> ballots.BallotForm:
    with db.session() as s:
        return ballots.open_code(session=s, code=code).form


def texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.markdown, *at.caption, *at.error, *at.warning, *at.info)]
    parts += [e.value for e in (*at.title, *at.header, *at.subheader)]
    return "\n".join(str(p) for p in parts)


def errors(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


def ballot_count() -> int:
    """Ballots cast: sealed in the 票箱 until 开箱计票, or counted (each is in one or the other)."""
    with db.session() as s:
        boxed = s.exec(select(func.count()).select_from(BallotBox)).one()
        return boxed + s.exec(select(func.count()).select_from(Ballot)).one()


def boxed_and_counted() -> tuple[int, int]:
    """(ballots sealed in the 票箱, ballots counted as rows): a cast writes only the first."""
    with db.session() as s:
        boxed = s.exec(select(func.count()).select_from(BallotBox)).one()
        return boxed, s.exec(select(func.count()).select_from(Ballot)).one()


def used_codes() -> int:
    with db.session() as s:
        query = select(func.count()).where(EvaluationCode.used.is_(True))  # type: ignore[attr-defined]
        return s.exec(query).one()


def counted_comments(round_id: int) -> list[str]:
    """开箱计票 of every group with cast ballots, as the office ends the evaluation; then the
    comments counted, sorted."""
    count(db.engine(), round_id)
    with db.session() as s:
        return sorted(s.exec(select(MassComment.text)).all())


def state_of(code: str) -> codes.CodeState:
    with db.session() as s:
        return codes.lookup(session=s, code=code).state


def all_good(form: ballots.BallotForm) -> ballots.Answers:
    return dict.fromkeys(form.items, form.levels[0].id)


def payload(
    code: str,
    answers: ballots.Answers,
    comments: ballots.Comments | None = None,
    *,
    token: str = TOKEN,
    sid: str = "send-1",
) -> dict[str, Any]:
    """A submit as the element sends it: the whole ballot, with this device's token."""
    return {
        "sid": sid,
        "code": code,
        "token": token,
        "answers": [[t, c, level] for (t, c), level in answers.items()],
        "comments": {str(t): text for t, text in (comments or {}).items()},
    }


def send(at: AppTest, sent: object) -> AppTest:
    """The element fires "submit" with `sent`; the page as drawn after the callback."""
    return no_exception(trigger(at, view.ELEMENT, "submit", sent))


def element(at: AppTest) -> dict[str, Any]:
    data: dict[str, Any] = component_data(at, view.ELEMENT)
    return data


def mode(at: AppTest) -> str | None:
    """The element's mode on the page, or None when it is not mounted."""
    if component(at, view.ELEMENT) is None:
        return None
    return str(element(at)["mode"])


def thanked(at: AppTest) -> bool:
    return any(view.THANKS in h.value for h in at.header)


def chinese(text: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", text) is not None


# ---- opening a code: the form goes to the element, no answers do


def test_a_valid_code_mounts_the_element_with_the_form_of_its_group(code: str) -> None:
    form = form_of(code)
    at = open_page(code)
    data = element(at)
    assert data["mode"] == "ballot" and data["code"] == code
    assert data["result"] is None
    sent = data["form"]
    assert sent == json.loads(json.dumps(view.form_data(form)))
    assert (sent["round"], sent["group"]) == (form.round_id, form.group_id)
    assert sent["perPage"] == 10 and sent["commentMax"] == ballots.COMMENT_MAX == 200
    assert sent["levels"] == [[level.id, level.label, level.scored] for level in form.levels]
    assert [label for _, label, _ in sent["levels"]] == ["好", "较好", "一般", "差", "不了解"]
    assert [scored for _, _, scored in sent["levels"]] == [True, True, True, True, False]
    assert (sent["kind"], sent["comments"]) == ("itemized", True)
    assert [card["id"] for card in sent["cards"]] == [card.target_id for card in form.cards]
    assert [card["name"] for card in sent["cards"]] == [card.name for card in form.cards]
    for shown, card in zip(sent["cards"], form.cards, strict=True):
        assert shown["criteria"] == [[c.id, c.name] for c in card.criteria]
        assert (shown["about"], shown["category"]) == (card.branch_name, card.category)
        assert shown["weigh"] == []
    assert len(sent["cards"]) == 8
    assert sum(len(card["criteria"]) for card in sent["cards"]) == len(form.items) == 55
    assert "局全体工作人员" in texts(at)
    # No Streamlit widgets for the cards: they are the element's.
    assert (len(at.segmented_control), len(at.text_area), len(at.text_input)) == (0, 0, 0)


def test_a_vendors_code_mounts_an_overall_form_on_its_own_scale(
    issue: Callable[..., list[str]],
) -> None:
    """The demo's 市场经营户 rate 总体: one item per card (criterion 0, 总体评价) on 满意 / 基本满意
    / 不满意 / 不了解, the category's criteria sent as what to weigh, all 80 cards on one page;
    the instructions name this scale, not the round's."""
    (code,) = issue(1, GroupKey.VENDORS)
    form = form_of(code)
    at = open_page(code)
    sent = element(at)["form"]
    assert (sent["kind"], sent["perPage"], len(sent["cards"])) == ("overall", 80, 80)
    assert [(label, scored) for _, label, scored in sent["levels"]] == [
        ("满意", True),
        ("基本满意", True),
        ("不满意", True),
        ("不了解", False),
    ]
    assert all(card["criteria"] == [[0, "总体评价"]] for card in sent["cards"])
    with db.session(db.engine()) as s:
        by_template = criteria.round_criteria(session=s, round_id=form.round_id)
    leader = [c.name for c in by_template[TemplateKey.LEADER]]
    assert any(card["weigh"] == leader for card in sent["cards"])
    assert all(len(card["weigh"]) >= 6 for card in sent["cards"])
    shown = texts(at)
    assert "总体评价" in shown and "满意" in shown
    assert "好 / 较好" not in shown


def test_the_page_says_answers_stay_on_this_device_and_nothing_comes_from_the_server(
    code: str,
) -> None:
    at = open_page(code)
    shown = texts(at)
    assert "只保存在本设备的浏览器里" in shown
    assert "换用其他设备需要重新填写" in shown
    assert "提交前服务器不保存您的任何选择" in shown
    data = element(at)
    assert set(data) == {"mode", "code", "form", "result"}
    form_keys = {"round", "group", "kind", "perPage", "comments", "commentMax", "levels", "cards"}
    assert set(data["form"]) == form_keys
    assert all(
        set(card) == {"id", "name", "about", "category", "criteria", "weigh"}
        for card in data["form"]["cards"]
    )
    raw = component(at, view.ELEMENT).proto.json
    assert "answer" not in raw and "draft" not in raw
    assert data["form"]["comments"] is True  # whether the cards have a comment box: no text

    # Half a ballot sent from one device (refused as incomplete, nothing kept): another
    # device opening the code gets the same empty form, and so does this one on a reload.
    form = form_of(code)
    half = dict(list(all_good(form).items())[:20])
    send(at, payload(code, half, {form.cards[0].target_id: "很好"}))
    assert element(at)["result"]["kind"] == "incomplete"
    for again in (open_page(code), open_page(code)):
        assert element(again) == data
        raw = component(again, view.ELEMENT).proto.json
        assert "answer" not in raw and "很好" not in raw


def test_a_typed_code_opens_the_element_and_goes_into_the_address(code: str) -> None:
    at = open_page()
    assert mode(at) is None
    at.text_input[0].input(code.lower()[:4] + " " + code.lower()[4:])
    no_exception(at.button[0].click().run())
    assert mode(at) == "ballot" and element(at)["code"] == code
    assert at.query_params["code"] == code


def _unknown() -> str:
    return "23456789"


def _malformed() -> str:
    return "ABC0"


def _revoked(code: str) -> str:
    with db.transaction() as s:
        codes.revoke(actor="测试", session=s, code=code)
    return code


def _counted(code: str) -> str:
    """The office ends the group's evaluation (开箱计票): its codes can no longer vote."""
    with db.session() as s:
        round_id = rounds.current(session=s).id  # type: ignore[union-attr]
        group_id = codes.lookup(session=s, code=code).group_id
    evaluation.close(db.engine(), round_id=round_id, group_id=group_id)  # type: ignore[arg-type]
    return code


def _used(code: str) -> str:
    ballots.submit_with_retry(db.engine(), code, all_good(form_of(code)), receipt=OTHER_TOKEN)
    return code


def _other_round(code: str) -> str:
    with db.transaction() as s:
        next_round = rounds.create_round(
            actor="测试", session=s, name="2027年第一季度评议", quarter="2027Q1"
        )
        group_id = groups.by_key(session=s)[GroupKey.ALL_STAFF].id
        return codes.issue(
            actor="测试", session=s, round_id=next_round.id, group_id=group_id, count=1
        )[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "message", "device"),
    [
        (lambda code: _unknown(), codes.MSG_UNKNOWN, None),
        (lambda code: _malformed(), "测评码不含数字 0", None),
        (_revoked, codes.MSG_REVOKED, "clear"),  # it can never vote: the device forgets it
        (_counted, codes.MSG_CLOSED, "clear"),  # nor can a code of a group counted
        (_used, codes.MSG_USED, "used"),  # the device may hold the ballot that used it
        (_other_round, codes.MSG_WRONG_ROUND, None),
    ],
    ids=["unknown", "malformed", "revoked", "counted", "used", "other-round"],
)
def test_a_code_that_cannot_vote_gets_its_chinese_message_and_no_form(
    code: str, make: Callable[[str], str], message: str, device: str | None
) -> None:
    bad = make(code)
    at = open_page(bad)
    assert message in errors(at), texts(at)
    assert mode(at) == device  # never "ballot": no form
    if device is not None:
        assert element(at) == {"mode": device, "code": codes.normalize(bad)}
    assert "code" not in at.query_params  # a rerun does not try (and count) it again
    assert at.session_state[view.WRONG] == 1
    assert len(at.text_input) == 1  # another code can be typed


# ---- lockouts


def test_more_than_ten_wrong_codes_lock_code_entry(code: str) -> None:
    at = open_page()
    for attempt in range(1, view.LOCK_AFTER + 1):
        at.text_input[0].input("2345678" + codes.ALPHABET[attempt])
        at.button[0].click().run()
        assert codes.MSG_UNKNOWN in errors(at)
        assert at.session_state[view.WRONG] == attempt
    at.text_input[0].input("ZZZZZZZZ")
    at.button[0].click().run()
    assert view.MSG_LOCKED in errors(at), texts(at)
    assert len(at.text_input) == 0

    # While locked even a good link opens nothing.
    at.query_params["code"] = code
    at.run()
    assert mode(at) is None
    assert "分" in errors(at) and "秒后再试" in errors(at)

    # When the time is up, the code opens.
    at.session_state[view.LOCKED_UNTIL] = time.time() - 1
    no_exception(at.run())
    assert mode(at) == "ballot" and element(at)["code"] == code
    assert at.session_state[view.WRONG] == 0


def guessing_events() -> list[AuditEvent]:
    with db.session() as s:
        return audit.events(session=s, action=view.GUESSING)


def type_code(at: AppTest, typed: str) -> AppTest:
    at.text_input[0].input(typed)
    return no_exception(at.button[0].click().run())


def test_a_session_lockout_is_logged_without_the_codes_typed(
    round_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    at = open_page()
    typed = ["2345678" + codes.ALPHABET[n] for n in range(1, view.LOCK_AFTER + 2)]
    for wrong in typed[:-1]:
        type_code(at, wrong)
    assert guessing_events() == []  # ten typos are not yet guessing
    with caplog.at_level("WARNING", logger=view.__name__):
        type_code(at, typed[-1])
    assert view.MSG_LOCKED in errors(at)
    (event,) = guessing_events()
    assert (event.actor, event.action) == (view.GUARD, view.GUESSING)
    assert f"{view.LOCK_AFTER + 1} 次" in event.detail and "该会话" in event.detail
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(event.detail in message for message in warnings), warnings
    for wrong in typed:
        assert wrong not in event.detail and all(wrong not in m for m in warnings)
    at.run()  # the locked page again: still one event
    assert len(guessing_events()) == 1


def test_too_many_wrong_codes_across_sessions_pause_entry_everywhere_and_are_logged(
    code: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    # The limit of the process, made small: three wrong codes a minute, from any tablet.
    monkeypatch.setattr(codes, "GUESSES", codes.GuessLimit(limit=3, clock=clock))
    tablets = [open_page(), open_page()]
    with caplog.at_level("WARNING", logger=view.__name__):
        for number in range(4):  # two each, far below each session's own lockout
            type_code(tablets[number % 2], "2345678" + codes.ALPHABET[number + 1])
    assert all(at.session_state[view.WRONG] == 2 for at in tablets)
    assert all(view.LOCKED_UNTIL not in at.session_state for at in tablets)

    # Every tablet, also one that typed nothing wrong, finds entry paused, valid link or not.
    newcomer = open_page(code)
    for at in [*tablets, newcomer]:
        at.run()
        assert codes.MSG_PAUSED in errors(at) and "秒后再试" in errors(at)
        assert len(at.text_input) == 0 and mode(at) is None
    assert newcomer.query_params["code"] == code  # kept, to open when the pause ends
    assert view.WRONG not in newcomer.session_state  # nothing was tried while paused

    (event,) = guessing_events()
    assert (event.actor, event.action) == (view.GUARD, view.GUESSING)
    assert "全部设备" in event.detail and code not in event.detail
    assert any(event.detail in r.getMessage() for r in caplog.records if r.levelname == "WARNING")

    clock.now += codes.GLOBAL_PAUSE
    no_exception(newcomer.run())
    assert mode(newcomer) == "ballot" and element(newcomer)["code"] == code
    tablets[0].run()
    assert len(tablets[0].text_input) == 1


def test_empty_input_is_not_a_wrong_code() -> None:
    at = open_page()
    no_exception(at.button[0].click().run())
    assert "请输入测评码" in errors(at)
    assert view.WRONG not in at.session_state


def test_a_busy_database_while_opening_is_not_a_wrong_code(
    code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(**_: object) -> None:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    with monkeypatch.context() as patch:
        patch.setattr(ballots, "open_code", down)
        at = open_page(code)
        assert view.MSG_BUSY_OPEN in errors(at)
        assert view.WRONG not in at.session_state
        assert at.query_params["code"] == code  # a reload tries again
        assert mode(at) is None
    no_exception(at.run())
    assert mode(at) == "ballot" and element(at)["code"] == code


# ---- the element sends a whole ballot


def test_a_complete_ballot_is_stored_once_and_thanks_the_evaluator(
    code: str, round_id: int
) -> None:
    form = form_of(code)
    answers = {item: form.levels[n % 5].id for n, item in enumerate(form.items)}
    last = form.cards[-1].target_id
    at = open_page(code)
    send(at, payload(code, answers, {last: "工作认真"}))

    assert thanked(at)
    assert view.THANKS_DETAIL in texts(at) and view.THANKS_AGAIN not in texts(at)
    assert f"共评议 {len(form.cards)} 个对象" in texts(at)
    assert element(at) == {"mode": "clear", "code": code}  # the device forgets the answers
    assert "code" not in at.query_params
    assert at.session_state[view.SUBMITTED] == view.Thanks(code, len(form.cards), False)
    assert ballot_count() == 1
    assert state_of(code) is codes.CodeState.USED
    # Sealed in the box until 开箱计票: no ballot row, no rating and no tally yet.
    assert boxed_and_counted() == (1, 0) and used_codes() == 1
    with db.session() as s:
        assert tally.stored(session=s, round_id=round_id) == {}
    assert counted_comments(round_id) == ["工作认真"]
    assert boxed_and_counted() == (0, 1)
    with db.session() as s:
        assert tally.verify(session=s, round_id=round_id) == []

    # The element sends it again (a second tap, a resend before it heard back): nothing more.
    send(at, payload(code, answers, {last: "工作认真"}))
    assert thanked(at) and element(at) == {"mode": "clear", "code": code}
    assert ballot_count() == 1
    with db.session() as s:
        assert tally.verify(session=s, round_id=round_id) == []
        assert len(s.exec(select(MassComment.text)).all()) == 1

    # The back button (the code in the address again) in the same tab: still the thanks.
    at.query_params["code"] = code
    no_exception(at.run())
    assert thanked(at) and mode(at) == "clear"

    # A reload is a new session: the code is used, and no form is sent.
    again = open_page(code)
    assert codes.MSG_USED in errors(again)
    assert mode(again) == "used"
    assert ballot_count() == 1


def test_an_incomplete_ballot_stores_nothing_and_names_the_missing_cards(code: str) -> None:
    form = form_of(code)
    answers = all_good(form)
    gaps = (form.cards[2], form.cards[5])
    for card in gaps:
        del answers[card.target_id, card.criteria[-1].id]
    at = open_page(code)
    send(at, payload(code, answers, sid="send-7"))

    result = element(at)["result"]
    assert result["kind"] == "incomplete" and result["sid"] == "send-7"
    assert result["missing"] == [card.target_id for card in gaps]
    assert "还有 2 张评议卡没有评完" in result["message"]
    assert gaps[0].name in result["message"] and gaps[1].name in result["message"]
    assert form.cards[0].name not in result["message"]
    assert ballot_count() == 0
    assert state_of(code) is codes.CodeState.OK
    assert mode(at) == "ballot" and at.query_params["code"] == code  # still open
    assert not thanked(at)

    # Each answer is new to the element, which tells them apart by `n`.
    send(at, payload(code, {}, sid="send-8"))
    second = element(at)["result"]
    assert second["n"] != result["n"] and second["sid"] == "send-8"
    assert second["missing"] == [card.target_id for card in form.cards]
    assert ballot_count() == 0


def _not_on_form(code: str, form: ballots.BallotForm) -> dict[str, Any]:
    answers = all_good(form)
    del answers[form.items[-1]]
    answers[10**6, form.items[0][1]] = form.levels[0].id  # a target not on the form
    return payload(code, answers)


def _other_round_level(code: str, form: ballots.BallotForm) -> dict[str, Any]:
    with db.transaction() as s:
        later = rounds.create_round(
            actor="测试", session=s, name="2027年第一季度评议", quarter="2027Q1"
        )
        (level, *_) = criteria.round_scale(session=s, round_id=later.id)  # type: ignore[arg-type]
    assert level.id not in form.level_ids
    return payload(code, all_good(form) | {form.items[3]: level.id})


def _long_comment(code: str, form: ballots.BallotForm) -> dict[str, Any]:
    return payload(code, all_good(form), {form.cards[1].target_id: "字" * 201})


def _comment_on_another_target(code: str, form: ballots.BallotForm) -> dict[str, Any]:
    return payload(code, all_good(form), {10**6: "很好"})


def _with(**changes: Any) -> Callable[[str, ballots.BallotForm], dict[str, Any]]:
    """A complete ballot with some of its fields replaced: `answers` may be a function of
    the well-formed list of triples."""

    def make(code: str, form: ballots.BallotForm) -> dict[str, Any]:
        sent = payload(code, all_good(form))
        for name, value in changes.items():
            sent[name] = value(sent[name]) if callable(value) else value
        return sent

    return make


def _not_a_dict(code: str, form: ballots.BallotForm) -> object:
    return [code, TOKEN, [list(item) for item in form.items]]


def _without(name: str) -> Callable[[str, ballots.BallotForm], dict[str, Any]]:
    def make(code: str, form: ballots.BallotForm) -> dict[str, Any]:
        sent = payload(code, all_good(form))
        del sent[name]
        return sent

    return make


REFUSED: dict[str, tuple[Callable[[str, ballots.BallotForm], object], str]] = {
    "item-not-on-the-form": (_not_on_form, "评议内容与评议表不符"),
    "level-of-another-round": (_other_round_level, "评价等级无效"),
    "comment-over-200": (_long_comment, "超过 200 字"),
    "comment-on-another-target": (_comment_on_another_target, "评议内容与评议表不符"),
    "token-upper-case": (_with(token=TOKEN.upper()), view.MSG_INVALID),
    "token-short": (_with(token="abc123"), view.MSG_INVALID),
    "token-not-hex": (_with(token="z" * 32), view.MSG_INVALID),
    "token-missing": (_without("token"), view.MSG_INVALID),
    "token-a-number": (_with(token=12345), view.MSG_INVALID),
    "sid-missing": (_without("sid"), view.MSG_INVALID),
    "sid-too-long": (_with(sid="s" * 65), view.MSG_INVALID),
    "not-a-dict": (_not_a_dict, view.MSG_INVALID),
    "a-string": (lambda code, form: "submit", view.MSG_INVALID),
    "answers-missing": (_without("answers"), view.MSG_INVALID),
    "answers-a-dict": (_with(answers={"1:2": 3}), view.MSG_INVALID),
    "answers-pairs": (_with(answers=lambda a: [t[:2] for t in a]), view.MSG_INVALID),
    "answers-quadruples": (_with(answers=lambda a: [[*t, 0] for t in a]), view.MSG_INVALID),
    "answers-strings": (
        _with(answers=lambda a: [[str(v) for v in t] for t in a]),
        view.MSG_INVALID,
    ),
    "answers-floats": (
        _with(answers=lambda a: [[float(v) for v in t] for t in a]),
        view.MSG_INVALID,
    ),
    "answers-booleans": (_with(answers=lambda a: [[True, True, True], *a[1:]]), view.MSG_INVALID),
    "answers-null-level": (_with(answers=lambda a: [[*a[0][:2], None], *a[1:]]), view.MSG_INVALID),
    "too-many-items": (_with(answers=lambda a: a + a[:1]), view.MSG_INVALID),
    "comments-a-list": (_with(comments=["很好"]), view.MSG_INVALID),
    "comment-not-text": (_with(comments={"1": 5}), view.MSG_INVALID),
    "comment-key-not-a-number": (_with(comments={"abc": "很好"}), view.MSG_INVALID),
}


# Keys that `str.isdigit` would take and `int` would not: refused like any other bad key.
CASES = [pytest.param(*case, id=name) for name, case in REFUSED.items()] + [
    pytest.param(_with(comments={"²": "很好"}), view.MSG_INVALID, id="comment-key-superscript"),
    pytest.param(_with(comments={"1" * 5000: "很好"}), view.MSG_INVALID, id="comment-key-huge"),
]


@pytest.mark.parametrize(("make", "message"), CASES)
def test_a_ballot_that_does_not_fit_is_refused_in_chinese_and_stores_nothing(
    code: str, make: Callable[[str, ballots.BallotForm], object], message: str
) -> None:
    form = form_of(code)
    sent = make(code, form)
    at = open_page(code)
    send(at, sent)
    result = element(at)["result"]
    assert result is not None, "the element hears why"
    assert result["kind"] == "refused" and result["missing"] == []
    assert message in result["message"] and chinese(result["message"])
    if isinstance(sent, dict) and isinstance(sent.get("sid"), str) and len(sent["sid"]) <= 64:
        assert result["sid"] == sent["sid"]
    assert ballot_count() == 0
    assert state_of(code) is codes.CodeState.OK
    # The ballot stays open: the evaluator can still send a good one.
    assert mode(at) == "ballot" and at.query_params["code"] == code and not thanked(at)
    send(at, payload(code, all_good(form), sid="send-2"))
    assert thanked(at) and ballot_count() == 1


def test_a_busy_database_at_submit_answers_busy_and_the_resend_stores_it_once(
    code: str, round_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = form_of(code)
    sent = payload(code, all_good(form), {form.cards[0].target_id: "很好"})
    at = open_page(code)

    def down(*_: object, **__: object) -> None:
        raise OperationalError("UPDATE", {}, Exception("database is locked"))

    with monkeypatch.context() as patch:
        patch.setattr(ballots, "submit_with_retry", down)
        send(at, sent)
        result = element(at)["result"]
        assert (result["kind"], result["message"]) == ("busy", view.MSG_BUSY)
        assert result["sid"] == sent["sid"]
        send(at, sent)  # the element sends it again while the database is still busy
        assert element(at)["result"]["n"] == result["n"] + 1
    assert ballot_count() == 0
    assert state_of(code) is codes.CodeState.OK
    assert mode(at) == "ballot" and not thanked(at)

    send(at, sent)  # and once more, when the database answers
    assert thanked(at) and element(at) == {"mode": "clear", "code": code}
    assert ballot_count() == 1
    assert counted_comments(round_id) == ["很好"]
    with db.session() as s:
        assert tally.verify(session=s, round_id=round_id) == []
    send(at, sent)
    assert ballot_count() == 1


def test_a_database_down_at_submit_is_busy_too(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a stub of `submit_with_retry`: the engine itself fails, past the retries."""
    form = form_of(code)
    at = open_page(code)
    engine = db.engine()

    def refuse(*_: object, **__: object) -> None:
        raise OperationalError("connect", {}, Exception("unable to open database file"))

    with monkeypatch.context() as patch:
        patch.setattr(engine, "connect", refuse)
        patch.setattr(engine, "raw_connection", refuse)
        send(at, payload(code, all_good(form)))
    result = element(at)["result"]
    assert (result["kind"], result["message"]) == ("busy", view.MSG_BUSY)
    assert ballot_count() == 0
    send(at, payload(code, all_good(form)))
    assert thanked(at) and ballot_count() == 1


@pytest.mark.parametrize(
    ("meanwhile", "message", "stored"),
    [
        (_used, codes.MSG_USED, 1),  # the other device's ballot, with its own token
        (_revoked, codes.MSG_REVOKED, 0),
        (_counted, codes.MSG_CLOSED, 0),  # the office ended the group's evaluation meanwhile
    ],
    ids=["used-on-another-device", "revoked", "group-counted"],
)
def test_a_code_that_can_no_longer_vote_closes_the_ballot_and_the_device_forgets_it(
    code: str, meanwhile: Callable[[str], str], message: str, stored: int
) -> None:
    form = form_of(code)
    at = open_page(code)
    meanwhile(code)
    assert ballot_count() == stored
    send(at, payload(code, all_good(form)))
    assert message in errors(at), texts(at)
    assert not thanked(at)
    assert element(at) == {"mode": "clear", "code": code}
    assert "code" not in at.query_params
    assert len(at.text_input) == 1  # another code can be typed
    assert ballot_count() == stored  # nothing of this device's ballot

    # The clear was said once; the next run of the page is the plain code entry.
    no_exception(at.run())
    assert mode(at) is None and len(at.text_input) == 1


def test_a_round_closed_meanwhile_closes_the_ballot_and_stores_nothing(
    code: str, round_id: int
) -> None:
    form = form_of(code)
    at = open_page(code)
    with db.transaction() as s:
        round_ = rounds.current(session=s)
        assert round_ is not None
        round_.step = Step.CLOSED
        s.add(round_)
    send(at, payload(code, all_good(form)))
    assert "本轮评议已结束" in errors(at), texts(at)
    assert not thanked(at) and mode(at) is None  # the answers stay on the device
    assert ballot_count() == 0
    assert "code" not in at.query_params


def _cast_without_its_reply(code: str, token: str) -> ballots.Answers:
    """The device's submit was stored, and the reply never reached it: what it sent."""
    answers = all_good(form_of(code))
    ballots.submit_with_retry(db.engine(), code, answers, receipt=token)
    return answers


def test_a_used_code_whose_ballot_came_from_this_device_thanks_it_again(
    code: str, round_id: int
) -> None:
    answers = _cast_without_its_reply(code, TOKEN)
    at = open_page(code)  # the device reloads the page, with the code in the address
    assert codes.MSG_USED in errors(at)
    assert element(at) == {"mode": "used", "code": code}
    assert "code" not in at.query_params

    send(at, payload(code, answers, sid="check-1"))  # the same token
    assert thanked(at)
    assert view.THANKS_AGAIN in texts(at) and view.THANKS_DETAIL not in texts(at)
    assert element(at) == {"mode": "clear", "code": code}
    assert at.session_state[view.SUBMITTED] == view.Thanks(code, 8, True)
    assert ballot_count() == 1
    with db.session() as s:
        assert tally.verify(session=s, round_id=round_id) == []


def test_a_ballot_counted_before_its_reply_reached_the_device_thanks_it_again(
    code: str, round_id: int
) -> None:
    """The reply was lost, then the office counted the group: the device's ballot is in the
    results, so the device is thanked (and forgets it), never told its code is closed."""
    answers = _cast_without_its_reply(code, TOKEN)
    _counted(code)
    assert boxed_and_counted() == (0, 1)
    at = open_page(code)
    assert codes.MSG_USED in errors(at) and codes.MSG_CLOSED not in errors(at)
    assert element(at) == {"mode": "used", "code": code}

    send(at, payload(code, answers, sid="check-1"))
    assert thanked(at) and view.THANKS_AGAIN in texts(at)
    assert element(at) == {"mode": "clear", "code": code}
    assert boxed_and_counted() == (0, 1) and used_codes() == 1

    # Another device with the same code learns it was used, and forgets its own answers.
    other = open_page(code)
    send(other, payload(code, answers, token=OTHER_TOKEN, sid="check-2"))
    assert not thanked(other) and codes.MSG_USED in errors(other)
    assert element(other) == {"mode": "clear", "code": code}
    assert boxed_and_counted() == (0, 1)


def test_after_thanks_again_the_next_evaluator_sees_no_refusal_of_the_last_code(
    code: str,
) -> None:
    answers = _cast_without_its_reply(code, TOKEN)
    at = open_page(code)
    send(at, payload(code, answers))
    assert thanked(at)
    no_exception(next(b for b in at.button if b.label == "输入另一个测评码").click().run())
    assert len(at.text_input) == 1
    assert errors(at) == ""


def test_a_used_code_whose_ballot_came_from_another_device_stays_refused(code: str) -> None:
    answers = _cast_without_its_reply(code, OTHER_TOKEN)
    at = open_page(code)
    assert element(at) == {"mode": "used", "code": code}

    send(at, payload(code, answers, sid="check-1"))
    assert not thanked(at)
    assert codes.MSG_USED in errors(at)
    assert element(at) == {"mode": "clear", "code": code}  # this device's answers are moot
    assert ballot_count() == 1
    assert len(at.text_input) == 1


def test_a_used_code_on_a_device_without_its_ballot_only_shows_the_refusal(code: str) -> None:
    """The element sends nothing when it holds no ballot: the page stays as it is."""
    _cast_without_its_reply(code, OTHER_TOKEN)
    at = open_page(code)
    no_exception(at.run())
    assert codes.MSG_USED in errors(at) and mode(at) == "used"
    assert at.session_state[view.WRONG] == 1  # counted once, not at each run


def test_a_submit_of_another_code_than_this_tabs_ballot_stores_nothing(
    issue: Callable[..., list[str]],
) -> None:
    shown, other = issue(2)
    at = open_page(shown)
    send(at, payload(other, all_good(form_of(other))))  # an old send, replayed
    assert ballot_count() == 0
    assert state_of(other) is codes.CodeState.OK and state_of(shown) is codes.CodeState.OK
    assert not thanked(at)
    assert mode(at) == "ballot" and element(at)["code"] == shown
    assert element(at)["result"] is None

    # Nor on a page checking a used code: only that code's ballot is looked at.
    used = issue()[0]
    _cast_without_its_reply(used, OTHER_TOKEN)
    checking = open_page(used)
    assert mode(checking) == "used"
    send(checking, payload(other, all_good(form_of(other))))
    assert ballot_count() == 1 and state_of(other) is codes.CodeState.OK
    assert not thanked(checking) and mode(checking) == "used"


def test_another_code_can_follow_on_a_shared_tablet(issue: Callable[..., list[str]]) -> None:
    first, second = issue(2)
    at = open_page(first)
    send(at, payload(first, all_good(form_of(first))))
    assert thanked(at)
    no_exception(next(b for b in at.button if b.label == "输入另一个测评码").click().run())
    assert len(at.text_input) == 1 and not thanked(at)
    assert errors(at) == ""
    type_code(at, second)
    data = element(at)
    assert data["mode"] == "ballot" and data["code"] == second
    assert data["result"] is None  # nothing of the first ballot
    assert at.query_params["code"] == second
    send(at, payload(second, all_good(form_of(second)), token=OTHER_TOKEN))
    assert thanked(at) and ballot_count() == 2


# ---- a long ballot: the vendors' 80 cards


@pytest.fixture
def vendors_code(issue: Callable[..., list[str]]) -> str:
    return issue(group=GroupKey.VENDORS)[0]


def test_a_long_ballot_sends_its_whole_form_in_one_element(vendors_code: str) -> None:
    form = form_of(vendors_code)
    assert len(form.cards) == 80
    at = open_page(vendors_code)
    assert len([c for c in at.get("bidi_component")]) == 1
    sent = element(at)["form"]
    # 总体评议 in the demo: one short row per card, all on one page (nothing to turn).
    assert sent["perPage"] == len(form.cards) == 80
    assert [card["id"] for card in sent["cards"]] == [card.target_id for card in form.cards]
    assert sum(len(card["criteria"]) for card in sent["cards"]) == len(form.items)
    assert "市场经营户" in texts(at)


def test_a_complete_long_ballot_is_stored_once(vendors_code: str, round_id: int) -> None:
    form = form_of(vendors_code)
    answers = {item: form.levels[n % 4].id for n, item in enumerate(form.items)}
    comments = {form.cards[0].target_id: "<b>很好</b>", form.cards[79].target_id: "**服务好**"}
    at = open_page(vendors_code)
    sent = payload(vendors_code, answers, comments)
    send(at, sent)
    assert thanked(at)
    assert f"共评议 {len(form.cards)} 个对象" in texts(at)
    send(at, sent)
    assert ballot_count() == 1
    assert counted_comments(round_id) == ["**服务好**", "<b>很好</b>"]
    with db.session() as s:
        assert tally.verify(session=s, round_id=round_id) == []
