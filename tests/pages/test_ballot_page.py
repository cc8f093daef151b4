"""The 群众评议 ballot page, run by AppTest on a copy of the demo bureau.

Ballots here are of 局全体工作人员: the 领导班子 and its 7 members, 8 cards and 55 items,
small enough to tap through in a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import func, select
from streamlit.testing.v1 import AppTest

from pingyi import audit, ballots, codes, db, groups, rounds, tally
from pingyi.models import AuditEvent, Ballot, GroupKey, MassComment
from pingyi.ui import ballot as view

PAGE = Path(__file__).resolve().parents[2] / "pages" / "ballot.py"
TIMEOUT = 60


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
            return codes.issue(session=s, round_id=round_id, group_id=group_id, count=count)

    return make


@pytest.fixture
def code(issue: Callable[..., list[str]]) -> str:
    return issue()[0]


def open_page(code: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    if code is not None:
        at.query_params["code"] = code
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def form_of(code: str) -> ballots.BallotForm:
    with db.session() as s:
        return ballots.open_code(session=s, code=code).form


def draft_of(code: str) -> tuple[ballots.Answers, ballots.Comments]:
    with db.session() as s:
        return ballots.load_draft(session=s, code=code)


def save(code: str, answers: ballots.Answers) -> None:
    with db.transaction() as s:
        ballots.save_draft(session=s, code=code, answers=answers)


def texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.markdown, *at.caption, *at.error, *at.warning, *at.info)]
    parts += [e.value for e in (*at.title, *at.header, *at.subheader)]
    parts += [e.text for e in at.get("progress")]  # type: ignore[attr-defined]
    return "\n".join(str(p) for p in parts)


def ballot_count() -> int:
    with db.session() as s:
        return s.exec(select(func.count()).select_from(Ballot)).one()


def tap(at: AppTest, target_id: int, criterion_id: int, level_id: int) -> AppTest:
    """Choose a level, then rerun the page to see all of it.

    A tap reruns only its card's status lines and the progress lines, and AppTest then holds
    just those: no card's name, no scale buttons; the card's status lines (已保存, or why
    not) and the progress bars.
    """
    at.segmented_control(key=view.answer_key(target_id, criterion_id)).set_value(level_id).run()
    assert not at.exception, [e.value for e in at.exception]
    rerun = [view.left_key(target_id), view.saved_key(target_id), view.PROGRESS]
    assert (len(at.subheader), len(at.segmented_control)) == (0, 0), f"a tap reruns {rerun}"
    assert len(at.get("progress")) == 2, f"a tap reruns {rerun}"
    assert "项未选" in texts(at) or "本张已评完" in texts(at), f"a tap reruns {rerun}"
    assert view.MSG_SAVED in texts(at) or view.MSG_BUSY in texts(at), f"a tap reruns {rerun}"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def write_note(at: AppTest, target_id: int, text: str) -> AppTest:
    """Type a comment, then rerun the page to see all of it; like a tap, the comment reruns
    only its card's status lines and the progress lines."""
    at.text_area(key=view.note_key(target_id)).input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    assert (len(at.subheader), len(at.text_area)) == (0, 0), "a comment reruns the status lines"
    assert view.MSG_SAVED in texts(at)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def all_good(form: ballots.BallotForm) -> ballots.Answers:
    return dict.fromkeys(form.items, form.levels[0].id)


# ---- opening a code


def test_a_valid_code_shows_every_card_with_its_criteria(code: str) -> None:
    at = open_page(code)
    form = form_of(code)
    assert [h.value for h in at.subheader][: len(form.cards)] == [c.name for c in form.cards]
    assert len(at.segmented_control) == len(form.items) == 55
    first = at.segmented_control[0]
    assert first.options == ["好", "较好", "一般", "差", "不了解"]
    assert first.value is None
    assert "已完成 0/8" in texts(at)
    assert "局全体工作人员" in texts(at)
    assert len(at.text_area) == len(form.cards)
    assert at.text_area[0].max_chars == ballots.COMMENT_MAX


def test_a_typed_code_opens_the_ballot_and_goes_into_the_address(code: str) -> None:
    at = open_page()
    at.text_input[0].input(code.lower()[:4] + " " + code.lower()[4:])
    at.button[0].click().run()
    assert not at.exception
    assert len(at.segmented_control) == 55
    assert at.query_params["code"] == code


def _unknown() -> str:
    return "23456789"


def _malformed() -> str:
    return "ABC0"


def _revoked(code: str) -> str:
    with db.transaction() as s:
        codes.revoke(session=s, code=code)
    return code


def _used(code: str) -> str:
    ballots.submit_with_retry(db.engine(), code, all_good(form_of(code)))
    return code


def _other_round(code: str) -> str:
    with db.transaction() as s:
        next_round = rounds.create_round(session=s, name="2027年第一季度评议", quarter="2027Q1")
        group_id = groups.by_key(session=s)[GroupKey.ALL_STAFF].id
        return codes.issue(session=s, round_id=next_round.id, group_id=group_id, count=1)[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda code: _unknown(), codes.MSG_UNKNOWN),
        (lambda code: _malformed(), "测评码不含数字 0"),
        (_revoked, codes.MSG_REVOKED),
        (_used, codes.MSG_USED),
        (_other_round, codes.MSG_WRONG_ROUND),
    ],
    ids=["unknown", "malformed", "revoked", "used", "other-round"],
)
def test_a_code_that_cannot_vote_gets_its_chinese_message_and_no_form(
    code: str, make: Callable[[str], str], message: str
) -> None:
    bad = make(code)
    at = open_page(bad)
    assert any(message in e.value for e in at.error), texts(at)
    assert len(at.segmented_control) == 0
    assert "code" not in at.query_params  # a rerun does not try (and count) it again
    assert at.session_state[view.WRONG] == 1
    assert len(at.text_input) == 1  # another code can be typed


def test_more_than_ten_wrong_codes_lock_code_entry(code: str) -> None:
    at = open_page()
    for attempt in range(1, view.LOCK_AFTER + 1):
        at.text_input[0].input("2345678" + codes.ALPHABET[attempt])
        at.button[0].click().run()
        assert any(codes.MSG_UNKNOWN in e.value for e in at.error)
        assert at.session_state[view.WRONG] == attempt
    at.text_input[0].input("ZZZZZZZZ")
    at.button[0].click().run()
    assert any(view.MSG_LOCKED in e.value for e in at.error), texts(at)
    assert len(at.text_input) == 0

    # While locked even a good link opens nothing.
    at.query_params["code"] = code
    at.run()
    assert len(at.segmented_control) == 0
    assert any("分" in e.value and "秒后再试" in e.value for e in at.error)

    # When the time is up, the code opens.
    at.session_state[view.LOCKED_UNTIL] = time.time() - 1
    at.run()
    assert len(at.segmented_control) == 55
    assert at.session_state[view.WRONG] == 0


def guessing_events() -> list[AuditEvent]:
    with db.session() as s:
        return audit.events(session=s, action=view.GUESSING)


def type_code(at: AppTest, typed: str) -> AppTest:
    at.text_input[0].input(typed)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


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
    assert any(view.MSG_LOCKED in e.value for e in at.error)
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
        assert any(codes.MSG_PAUSED in e.value and "秒后再试" in e.value for e in at.error)
        assert len(at.text_input) == 0 and len(at.segmented_control) == 0
    assert newcomer.query_params["code"] == code  # kept, to open when the pause ends
    assert view.WRONG not in newcomer.session_state  # nothing was tried while paused

    (event,) = guessing_events()
    assert (event.actor, event.action) == (view.GUARD, view.GUESSING)
    assert "全部设备" in event.detail and code not in event.detail
    assert any(event.detail in r.getMessage() for r in caplog.records if r.levelname == "WARNING")

    clock.now += codes.GLOBAL_PAUSE
    newcomer.run()
    assert len(newcomer.segmented_control) == 55
    tablets[0].run()
    assert len(tablets[0].text_input) == 1


def test_empty_input_is_not_a_wrong_code() -> None:
    at = open_page()
    at.button[0].click().run()
    assert any("请输入测评码" in e.value for e in at.error)
    assert view.WRONG not in at.session_state


def test_a_busy_database_while_opening_is_not_a_wrong_code(
    code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(**_: object) -> None:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(ballots, "open_code", down)
    at = open_page(code)
    assert any(view.MSG_BUSY_OPEN in e.value for e in at.error)
    assert view.WRONG not in at.session_state
    assert at.query_params["code"] == code  # a reload tries again
    monkeypatch.undo()
    at.run()
    assert len(at.segmented_control) == 55


# ---- drafts


def test_each_tap_saves_a_draft_on_the_server(code: str) -> None:
    form = form_of(code)
    at = open_page(code)
    (t1, c1), (t2, c2) = form.items[0], form.items[-1]
    tap(at, t1, c1, form.levels[1].id)
    tap(at, t2, c2, form.levels[4].id)
    answers, _ = draft_of(code)
    assert answers == {(t1, c1): form.levels[1].id, (t2, c2): form.levels[4].id}
    assert f":material/cloud_done: {view.MSG_SAVED}" in [c.value for c in at.caption]
    assert "已选 2/55" in texts(at)


def test_a_comment_is_saved_and_kept_as_plain_text(code: str) -> None:
    form = form_of(code)
    target = form.cards[1].target_id
    at = open_page(code)
    note = "**不是粗体** <b>也不是标签</b>"
    write_note(at, target, note)
    assert draft_of(code)[1] == {target: note}
    again = open_page(code)
    assert again.text_area(key=view.note_key(target)).value == note


def test_opening_the_code_again_restores_every_answer(code: str) -> None:
    form = form_of(code)
    answers = {item: form.levels[i % 5].id for i, item in enumerate(form.items[:20])}
    save(code, answers)
    at = open_page(code)
    for (target_id, criterion_id), level_id in answers.items():
        assert at.segmented_control(key=view.answer_key(target_id, criterion_id)).value == level_id
    assert at.segmented_control(key=view.answer_key(*form.items[20])).value is None
    assert "已选 20/55" in texts(at)

    # A tap in one session, then the same code in another (reload, another device).
    tap(at, *form.items[30], form.levels[2].id)
    other = open_page(code)
    assert other.segmented_control(key=view.answer_key(*form.items[30])).value == form.levels[2].id


def test_a_save_that_fails_keeps_the_answer_and_says_so(
    code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = form_of(code)
    at = open_page(code)

    def down(**_: object) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(ballots, "save_draft", down)
    tap(at, *form.items[0], form.levels[0].id)
    assert any(view.MSG_BUSY in w.value for w in at.warning)
    assert at.session_state[view.BALLOT].answers == {form.items[0]: form.levels[0].id}
    monkeypatch.undo()
    tap(at, *form.items[1], form.levels[0].id)
    assert draft_of(code)[0] == {item: form.levels[0].id for item in form.items[:2]}


# ---- submitting


def test_an_incomplete_ballot_lists_the_missing_cards_and_stores_nothing(code: str) -> None:
    form = form_of(code)
    answers = all_good(form)
    for card in (form.cards[2], form.cards[5]):
        del answers[card.target_id, card.criteria[-1].id]
    save(code, answers)
    at = open_page(code)
    submit = next(b for b in at.button if b.label == view.SUBMIT_LABEL)
    submit.click().run()
    error = next(e.value for e in at.error if "没有评完" in e.value)
    assert "还有 2 张" in error
    assert form.cards[2].name in error and form.cards[5].name in error
    assert form.cards[0].name not in error
    assert ballot_count() == 0
    with db.session() as s:
        assert codes.lookup(session=s, code=code).state is codes.CodeState.OK
    assert len(at.segmented_control) == 55  # still the form, answers kept


def _submit(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == view.SUBMIT_LABEL).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_complete_ballot_is_stored_once_and_thanks_the_evaluator(
    code: str, round_id: int
) -> None:
    form = form_of(code)
    last = form.cards[-1]
    answers = all_good(form)
    for criterion in last.criteria:
        del answers[last.target_id, criterion.id]
    save(code, answers)  # the first 7 cards through the draft API, the last one by tapping
    at = open_page(code)
    for number, criterion in enumerate(last.criteria):
        tap(at, last.target_id, criterion.id, form.levels[number % 5].id)
    write_note(at, last.target_id, "工作认真")
    assert "已完成 8/8" in texts(at)

    _submit(at)
    assert any(view.THANKS in h.value for h in at.header)
    assert view.THANKS_DETAIL in texts(at)
    assert len(at.segmented_control) == 0
    assert "code" not in at.query_params
    assert at.session_state[view.SUBMITTED] == len(form.cards)
    assert ballot_count() == 1
    with db.session() as s:
        assert codes.lookup(session=s, code=code).state is codes.CodeState.USED
        assert tally.verify(session=s, round_id=round_id) == []
        comments = s.exec(select(MassComment.text)).all()
        assert comments == ["工作认真"]

    # The back button (the code in the address again) in the same tab: still the thanks.
    at.query_params["code"] = code
    at.run()
    assert any(view.THANKS in h.value for h in at.header)
    assert len(at.segmented_control) == 0

    # A reload is a new session: the code is used, and no form is shown.
    again = open_page(code)
    assert any(codes.MSG_USED in e.value for e in again.error)
    assert len(again.segmented_control) == 0
    assert ballot_count() == 1


def test_the_second_device_submitting_the_same_code_is_refused(code: str) -> None:
    save(code, all_good(form_of(code)))
    first, second = open_page(code), open_page(code)
    _submit(first)
    assert any(view.THANKS in h.value for h in first.header)

    _submit(second)
    assert any(codes.MSG_USED in e.value for e in second.error), texts(second)
    assert len(second.segmented_control) == 0
    assert not any(view.THANKS in h.value for h in second.header)
    assert ballot_count() == 1


def test_a_tap_after_the_code_was_used_elsewhere_ends_the_ballot(code: str) -> None:
    form = form_of(code)
    at = open_page(code)
    ballots.submit_with_retry(db.engine(), code, all_good(form))
    at.segmented_control(key=view.answer_key(*form.items[0])).set_value(form.levels[0].id).run()
    assert any(codes.MSG_USED in e.value for e in at.error), texts(at)
    assert len(at.segmented_control) == 0
    assert ballot_count() == 1


def test_another_code_can_follow_on_a_shared_tablet(issue: Callable[..., list[str]]) -> None:
    first, second = issue(2)
    save(first, all_good(form_of(first)))
    at = open_page(first)
    _submit(at)
    next(b for b in at.button if b.label == "输入另一个测评码").click().run()
    assert len(at.text_input) == 1
    at.text_input[0].input(second)
    at.button[0].click().run()
    assert len(at.segmented_control) == 55
    assert all(sc.value is None for sc in at.segmented_control)  # nothing of the first ballot


# ---- a ballot of more than one page: the vendors' 80 cards


@pytest.fixture
def vendors_code(issue: Callable[..., list[str]]) -> str:
    return issue(group=GroupKey.VENDORS)[0]


def shown_cards(at: AppTest) -> list[str]:
    return [h.value for h in at.subheader if h.value != "提交"]


def turn(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_long_ballot_shows_ten_cards_a_page_and_turns_both_ways(vendors_code: str) -> None:
    form = form_of(vendors_code)
    assert len(form.cards) == 80
    names = [view.md_escape(card.name) for card in form.cards]
    at = open_page(vendors_code)
    assert shown_cards(at) == names[:10]
    assert len(at.segmented_control) == sum(len(c.criteria) for c in form.cards[:10])
    assert "第 1/8 页" in texts(at) and "第 1–10 张" in texts(at)
    back = next(b for b in at.button if b.label == "上一页")
    assert back.disabled

    turn(at, "下一页")
    assert shown_cards(at) == names[10:20]
    assert "第 2/8 页" in texts(at) and "第 11/80 张" in texts(at)
    for _ in range(6):
        turn(at, "下一页")
    assert shown_cards(at) == names[70:80]
    assert next(b for b in at.button if b.label == "下一页").disabled
    turn(at, "上一页")
    assert shown_cards(at) == names[60:70]


def test_answers_on_a_page_turned_away_from_are_shown_again(vendors_code: str) -> None:
    form = form_of(vendors_code)
    at = open_page(vendors_code)
    first = form.cards[0]
    for number, criterion in enumerate(first.criteria):
        tap(at, first.target_id, criterion.id, form.levels[number % 5].id)
    write_note(at, first.target_id, "<b>很好</b>")
    turn(at, "下一页")
    turn(at, "上一页")
    for number, criterion in enumerate(first.criteria):
        widget = at.segmented_control(key=view.answer_key(first.target_id, criterion.id))
        assert widget.value == form.levels[number % 5].id
    assert at.text_area(key=view.note_key(first.target_id)).value == "<b>很好</b>"
    answers, comments = draft_of(vendors_code)
    assert len(answers) == len(first.criteria) and comments == {first.target_id: "<b>很好</b>"}


def test_a_reopened_long_ballot_starts_on_the_page_of_the_first_card_not_finished(
    vendors_code: str,
) -> None:
    form = form_of(vendors_code)
    finished = form.cards[:34]
    save(
        vendors_code,
        {(c.target_id, k.id): form.levels[0].id for c in finished for k in c.criteria},
    )
    at = open_page(vendors_code)
    assert shown_cards(at)[0] == view.md_escape(form.cards[30].name)
    assert "第 4/8 页" in texts(at) and "已完成 34/80" in texts(at)
    # The first card not finished is on this page: a link to it, no button.
    assert f"#{view.card_anchor(form.cards[34].target_id)}" in texts(at)


def test_the_next_card_not_finished_on_another_page_is_one_tap_away(vendors_code: str) -> None:
    form = form_of(vendors_code)
    save(
        vendors_code,
        {item: form.levels[1].id for item in form.items if item[0] != form.cards[45].target_id},
    )
    at = open_page(vendors_code)
    assert "第 5/8 页" in texts(at)
    turn(at, "上一页")
    turn(at, "上一页")
    jump = [b for b in at.button if b.label.startswith("下一张未完成")]
    assert len(jump) == 2  # at the top and above 提交评议
    assert "(第 5 页)" in jump[0].label
    jump[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "第 5/8 页" in texts(at)
    assert view.md_escape(form.cards[45].name) in shown_cards(at)


def test_a_long_ballot_not_finished_names_the_pages_of_its_missing_cards(vendors_code: str) -> None:
    form = form_of(vendors_code)
    missing = (form.cards[3], form.cards[72])
    skip = {card.target_id for card in missing}
    save(vendors_code, {item: form.levels[0].id for item in form.items if item[0] not in skip})
    at = open_page(vendors_code)
    assert "第 1/8 页" in texts(at)
    _submit(at)
    message = next(e.value for e in at.error)
    assert "还有 2 张评议卡没有评完" in message
    assert f"(#{view.card_anchor(missing[0].target_id)})" in message  # on this page: a link
    assert f"{view.md_escape(missing[1].name)}(第 8 页)" in message
    assert ballot_count() == 0


def test_a_long_ballot_tapped_across_pages_is_stored_once(vendors_code: str, round_id: int) -> None:
    form = form_of(vendors_code)
    last_page = form.cards[70:]
    save(
        vendors_code,
        {(c.target_id, k.id): form.levels[2].id for c in form.cards[:70] for k in c.criteria},
    )
    at = open_page(vendors_code)
    assert "第 8/8 页" in texts(at)
    for card in last_page:
        for criterion in card.criteria:
            tap(at, card.target_id, criterion.id, form.levels[0].id)
    assert "已完成 80/80" in texts(at)
    _submit(at)
    assert any(view.THANKS in h.value for h in at.header)
    assert ballot_count() == 1
    with db.session() as s:
        assert tally.verify(session=s, round_id=round_id) == []
