"""The 群众评议 ballot page: code entry with a lockout, the ballot element, submit, thanks.

Code entry, its lockouts and every refusal are Streamlit, here. The cards are the ballot
element (`ballot_element.js`, a `st.components.v2` component): it draws the form it is sent
once, takes every tap in the browser and keeps the answers in the browser's storage under the
code, so a reload, a closed tab or a restarted server lose nothing on that device, and the
server holds nothing of a ballot until 提交 sends all of it (`on_submit`). All database work
goes through `pingyi.ballots`; names from the roster reach the element as data and are drawn
as text, and nothing the evaluator or the roster typed is passed to `unsafe_allow_html`.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from pingyi import audit, ballots, codes, db, rounds, ui
from pingyi.models import EvaluatorGroup, FormKind, Round
from pingyi.ui.text import md_escape

# More than LOCK_AFTER wrong codes in one browser session lock code entry for LOCK_SECONDS:
# enough for honest typos, far too few to guess one of 5·10^11 codes. Guesses spread over
# many sessions meet `codes.GUESSES`, the limit of the whole process.
LOCK_AFTER = 10
LOCK_SECONDS = 300
GUARD = "群众评议页"  # the audit log's actor for lockouts: evaluators have no account
GUESSING = audit.Action.GUESSING

log = logging.getLogger(__name__)

MSG_BUSY = "网络或服务器繁忙,评议已保存在本设备上,稍后会自动重新提交"
MSG_BUSY_OPEN = "网络或服务器繁忙,请稍后再试"
MSG_INVALID = "提交内容无效,请刷新页面后重新提交"
MSG_LOCKED = "测评码输错次数过多,输入已暂停"
THANKS = "谢谢您的评议"
THANKS_DETAIL = "您的评议已匿名提交,密封在票箱中,评议结束后统一开箱计票。本页可以关闭。"
THANKS_AGAIN = "您的评议此前已经提交成功(当时的确认没有送达本设备),无需再次提交,本页可以关闭。"
SUBMIT_LABEL = "提交评议"

BALLOT = "ballot"  # the open Ballot
NOTICE = "ballot_notice"  # why the last code was refused, shown above the entry form
WRONG = "ballot_wrong"  # wrong codes tried in this session
LOCKED_UNTIL = "ballot_locked_until"  # time.time() when entry opens again
SUBMITTED = "ballot_submitted"  # the Thanks for the ballot just stored
RESULT = "ballot_result"  # the element's last submit that stored nothing: why, for the element
USED = "ballot_used"  # a used code opened here: its device may hold the ballot that used it
CLEAR = "ballot_clear"  # a code whose answers the device must forget (used elsewhere, revoked)
ELEMENT = "ballot_element"  # the key of the ballot element

# Cards per page: a page turn draws ten cards (the vendors' 80 cards are 8 pages), which keeps
# the element light on a cheap phone and the way through a long ballot easy to follow.
CARDS_PER_PAGE = 10

_HERE = Path(__file__).parent
_CSS = _HERE / "ballot.css"

# Read once per process; the component is Streamlit's to serve, with no build step and no CDN.
_ELEMENT = st.components.v2.component(
    "pingyi_ballot",
    css=(_HERE / "ballot_element.css").read_text(encoding="utf-8"),
    js=(_HERE / "ballot_element.js").read_text(encoding="utf-8"),
)


@dataclass(frozen=True)
class Ballot:
    """An opened code: its form, to be filled in on the device."""

    code: str
    round_id: int | None
    round_name: str
    group_name: str
    form: ballots.BallotForm


@dataclass(frozen=True)
class Thanks:
    """What the thank-you page says; the code is forgotten on the device when it shows."""

    code: str
    targets: int
    again: bool


def style() -> None:
    """The page around the element (code entry, thanks); a static file, no user text."""
    st.html(_CSS)


# ---- the code: from ?code= or typed, with a lockout after too many wrong ones


def locked_seconds() -> int:
    """Seconds until code entry opens again; 0 when it is open."""
    until = st.session_state.get(LOCKED_UNTIL)
    if until is None:
        return 0
    left = until - time.time()
    if left <= 0:
        del st.session_state[LOCKED_UNTIL]
        st.session_state[WRONG] = 0
        return 0
    return int(left + 0.999)


def paused_seconds() -> int:
    """Seconds until code entry opens again for every tab after too many wrong codes in the
    whole process; 0 when it is open."""
    return math.ceil(codes.GUESSES.paused_seconds())


@st.fragment(run_every=1)
def lock_notice() -> None:
    """The lock (this tab) or pause (every tab) message with a live countdown; the entry form
    comes back when both have ended."""
    own, everyone = locked_seconds(), paused_seconds()
    left = max(own, everyone)
    if left == 0:
        st.rerun(scope="app")
    minutes, seconds = divmod(left, 60)
    st.error(
        f"{MSG_LOCKED if own >= everyone else codes.MSG_PAUSED}。请 {minutes} 分 {seconds:02d} 秒"
        "后再试;如测评码确实无法使用,请联系会务工作人员。",
        icon=":material/lock_clock:",
    )


def _log_lockout(detail: str) -> None:
    """A lockout in the server log and the office's 操作日志; never the code typed."""
    log.warning("测评码猜测: %s", detail)
    try:
        with db.transaction(ui.engine()) as s:
            audit.record(session=s, actor=GUARD, action=GUESSING, detail=detail)
    except SQLAlchemyError:
        # The lock holds without the log entry; the server log above still has it.
        log.exception("测评码猜测 not written to the audit log")


def _refuse(message: str) -> None:
    """A wrong code: say why, count it here and for the process, lock once too many."""
    st.session_state[NOTICE] = message
    wrong = st.session_state.get(WRONG, 0) + 1
    st.session_state[WRONG] = wrong
    if wrong > LOCK_AFTER and LOCKED_UNTIL not in st.session_state:
        st.session_state[LOCKED_UNTIL] = time.time() + LOCK_SECONDS
        _log_lockout(f"一个浏览器会话输错测评码 {wrong} 次,该会话暂停输入测评码 {LOCK_SECONDS} 秒")
    guesses = codes.GUESSES
    if guesses.wrong():
        _log_lockout(
            f"{guesses.window:g} 秒内输错测评码超过 {guesses.limit} 次,"
            f"全部设备暂停输入测评码 {guesses.pause:g} 秒"
        )
    # Otherwise every rerun of the page would try the same bad code again.
    st.query_params.pop("code", None)


def open_code(raw: str) -> Ballot | None:
    """Open a typed or linked code; None (and a notice) when it cannot vote.

    While code entry is paused for everyone nothing is tried or counted, and a linked code
    stays in the address to be tried when the pause ends."""
    if paused_seconds():
        return None
    st.session_state.pop(USED, None)
    code = codes.normalize(raw)
    problem = codes.format_problem(code)
    if problem is not None:
        _refuse(problem)
        return None
    try:
        with db.transaction(ui.engine()) as s:
            current = rounds.current(session=s)
            round_id = current.id if current is not None else None
            opened = ballots.open_code(session=s, code=code, round_id=round_id)
            round_ = s.get(Round, opened.round_id)
            group = s.get(EvaluatorGroup, opened.group_id)
            round_name = round_.name if round_ is not None else ""
            group_name = group.name if group is not None else ""
    except ballots.CodeRefused as exc:
        _refuse(str(exc))
        _forget_or_check(code, exc)
        return None
    except SQLAlchemyError:
        st.session_state[NOTICE] = MSG_BUSY_OPEN
        return None
    ballot = Ballot(
        code=code,
        round_id=round_id,
        round_name=round_name,
        group_name=group_name,
        form=opened.form,
    )
    st.session_state[BALLOT] = ballot
    st.session_state.pop(NOTICE, None)
    st.session_state.pop(RESULT, None)
    # A typed code goes into the address too, so a reload comes back to this ballot.
    st.query_params["code"] = code
    return ballot


def _forget_or_check(code: str, refused: ballots.CodeRefused) -> None:
    """A used code may have been used by this very device, whose reply was lost: the element
    sends its ballot again to find out. A revoked one, or one of a group already counted, can
    never vote: the device forgets it."""
    if refused.state is codes.CodeState.USED:
        st.session_state[USED] = code
    elif refused.state in (codes.CodeState.REVOKED, codes.CodeState.CLOSED):
        st.session_state[CLEAR] = code


def current_ballot() -> Ballot | None:
    """The ballot of this tab: the one already open, or the one `?code=` asks for."""
    ballot: Ballot | None = st.session_state.get(BALLOT)
    raw = st.query_params.get("code")
    if raw is None or (ballot is not None and codes.normalize(raw) == ballot.code):
        return ballot
    return open_code(raw)


def close(*, notice: str | None = None) -> None:
    """Forget the open ballot in this tab (its answers stay on the device until submitted)."""
    st.session_state.pop(BALLOT, None)
    st.session_state.pop(RESULT, None)
    st.query_params.pop("code", None)
    if notice:
        st.session_state[NOTICE] = notice


def code_entry() -> None:
    """The form to type a code, with the reason the last one was refused."""
    st.markdown("请输入测评码条上的 **8 位测评码**(不区分大小写,空格可省略),或直接扫描二维码。")
    notice = st.session_state.get(NOTICE)
    if notice:
        st.error(notice, icon=":material/error:")
    with st.form("code_entry", border=False):
        typed = st.text_input(
            "测评码", placeholder="例如 ABCD EFGH", max_chars=20, autocomplete="off"
        )
        go = st.form_submit_button("开始评议", type="primary", width="stretch")
    if not go:
        return
    if not codes.normalize(typed):
        st.session_state[NOTICE] = "请输入测评码"
    else:
        open_code(typed)
    st.rerun()


# ---- the ballot element


def form_data(form: ballots.BallotForm) -> dict[str, Any]:
    """The form as the element draws it: cards with their items, the group's scale, pages.

    `levels` are [id, label, scored]: the one unscored level (不了解), if offered, is what
    不了解此人 sets; the scored ones are the 本张全部选 buttons. A 总体 form rates each card once
    (item 0, 总体评价) with its category's criteria listed under it as what to weigh, and
    shows all its cards on one page: there is nothing to turn."""
    overall = form.kind == FormKind.OVERALL
    return {
        "round": form.round_id,
        "group": form.group_id,
        "kind": str(form.kind),
        "perPage": max(len(form.cards), 1) if overall else CARDS_PER_PAGE,
        "comments": form.comments,
        "commentMax": ballots.COMMENT_MAX if form.comments else 0,
        "levels": [[level.id, level.label, level.scored] for level in form.levels],
        "cards": [
            {
                "id": card.target_id,
                "name": card.name,
                "about": card.branch_name,
                "category": card.category,
                "criteria": [[c.id, c.name] for c in card.criteria],
                "weigh": list(card.weigh),
            }
            for card in form.cards
        ],
    }


def element(ballot: Ballot) -> None:
    """The cards, progress, pages and 提交 of the open ballot, drawn and kept on the device."""
    data = {
        "mode": "ballot",
        "code": ballot.code,
        "form": form_data(ballot.form),
        "result": st.session_state.get(RESULT),
    }
    _ELEMENT(key=ELEMENT, data=data, on_submit_change=on_submit)


def device_check() -> None:
    """Under the code entry: a used code is checked against this device's ballot, and a code
    that can no longer vote is forgotten here. Draws nothing the evaluator sees otherwise."""
    used, clear = st.session_state.get(USED), st.session_state.pop(CLEAR, None)
    if used is not None:
        _ELEMENT(key=ELEMENT, data={"mode": "used", "code": used}, on_submit_change=on_submit)
    elif clear is not None:
        _ELEMENT(key=ELEMENT, data={"mode": "clear", "code": clear}, on_submit_change=on_submit)


class _Invalid(ValueError):
    """A submit that the element would never send: refused as a whole."""


@dataclass(frozen=True)
class Sent:
    """A submit as the element sends it: the whole ballot with the device's token."""

    sid: str
    code: str
    token: str
    answers: ballots.Answers
    comments: ballots.Comments


_TARGET_KEY = re.compile(r"[0-9]{1,12}")  # a target id as the element writes it: ASCII digits


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid
    return value


def parse_sent(payload: object, *, max_items: int) -> Sent:
    """The element's submit, checked for shape (the form's rules are `ballots.submit`'s)."""
    if not isinstance(payload, Mapping):
        raise _Invalid
    sid, code, token = payload.get("sid"), payload.get("code"), payload.get("token")
    raw_answers, raw_comments = payload.get("answers"), payload.get("comments") or {}
    if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in (sid, code, token)):
        raise _Invalid
    if not isinstance(raw_answers, list) or len(raw_answers) > max_items:
        raise _Invalid
    if not isinstance(raw_comments, Mapping) or len(raw_comments) > max_items:
        raise _Invalid
    answers: ballots.Answers = {}
    for entry in raw_answers:
        if not isinstance(entry, list) or len(entry) != 3:
            raise _Invalid
        target, criterion, level = (_int(v) for v in entry)
        answers[target, criterion] = level
    comments: ballots.Comments = {}
    for target, text in raw_comments.items():
        if not isinstance(text, str) or not _TARGET_KEY.fullmatch(str(target)):
            raise _Invalid
        comments[int(target)] = text
    return Sent(str(sid), codes.normalize(str(code)), str(token), answers, comments)


def on_submit() -> None:
    """The element sent a whole ballot: store it once, thank, or say why not.

    Runs as the trigger's callback, before the page script, so the page drawn next already
    shows the outcome. The element sends the same ballot again until it hears back, so each
    outcome must hold for a second arrival: the code is claimed once, and the same device's
    token gets the receipt again."""
    payload = (st.session_state.get(ELEMENT) or {}).get("submit")
    if payload is None:
        return
    ballot: Ballot | None = st.session_state.get(BALLOT)
    used: str | None = st.session_state.get(USED)
    thanks: Thanks | None = st.session_state.get(SUBMITTED)
    max_items = len(ballot.form.items) if ballot else 5000
    try:
        sent = parse_sent(payload, max_items=max_items)
    except _Invalid:
        _answer(payload, "refused", MSG_INVALID)
        return
    if thanks is not None and thanks.code == sent.code:
        return  # a second send of the ballot just stored in this tab
    if sent.code not in {ballot.code if ballot else None, used}:
        return  # not the ballot of this tab (an old send replayed on reconnection)
    round_id = ballot.round_id if ballot else _current_round_id()
    try:
        receipt = ballots.submit_with_retry(
            ui.engine(),
            sent.code,
            sent.answers,
            sent.comments,
            round_id=round_id,
            receipt=sent.token,
        )
    except ballots.IncompleteBallot as exc:
        _answer(payload, "incomplete", str(exc), [card.target_id for card in exc.cards])
        return
    except ballots.CodeRefused as exc:
        # Used on another device, revoked, its group counted, or the round closed: nothing of
        # this is stored.
        st.session_state.pop(USED, None)  # this device's token has just been checked
        if exc.state in (codes.CodeState.USED, codes.CodeState.REVOKED, codes.CodeState.CLOSED):
            st.session_state[CLEAR] = sent.code
        close(notice=str(exc))
        return
    except ballots.BallotError as exc:
        _answer(payload, "refused", str(exc))
        return
    except SQLAlchemyError:
        log.exception("a ballot could not be stored; the device sends it again")
        _answer(payload, "busy", MSG_BUSY)
        return
    st.session_state[SUBMITTED] = Thanks(sent.code, receipt.targets, receipt.again)
    st.session_state.pop(USED, None)
    st.session_state.pop(NOTICE, None)  # "used" was said of this very ballot
    close()


def _current_round_id() -> int | None:
    with db.session(ui.engine()) as s:
        current = rounds.current(session=s)
        return current.id if current is not None else None


def _answer(payload: object, kind: str, message: str, missing: list[int] | None = None) -> None:
    """Tell the element why its submit stored nothing (it matches `sid` to its own)."""
    sid = payload.get("sid") if isinstance(payload, Mapping) else None
    last = st.session_state.get(RESULT) or {}
    st.session_state[RESULT] = {
        "n": int(last.get("n", 0)) + 1,  # a new value each time, so the element hears it
        "sid": sid,
        "kind": kind,
        "message": message,
        "missing": missing or [],
    }


# ---- header and thanks


def header(ballot: Ballot) -> None:
    st.caption(f"{md_escape(ballot.round_name)} · {md_escape(ballot.group_name)}")
    st.markdown(instructions(ballot.form))


def instructions(form: ballots.BallotForm) -> str:
    """What the evaluator is asked to do, in the words of this group's form and scale."""
    scored = " / ".join(f"**{md_escape(lv.label)}**" for lv in form.levels if lv.scored)
    unknown = next((lv.label for lv in form.levels if not lv.scored), None)
    if form.kind == FormKind.OVERALL:
        task = f"请对每位评议对象作一个**总体评价**:{scored}(可参考卡片下方所列内容)"
    else:
        task = f"请对每张评议卡的每一项选择 {scored}"
    if unknown:
        task += f",不熟悉的选 **{md_escape(unknown)}**"
    return (
        task + "。您的选择只保存在本设备的浏览器里:刷新、关闭本页或断网都不会丢失,"
        "用同一设备再次打开即可继续;**换用其他设备需要重新填写**。"
        "评议匿名,提交前服务器不保存您的任何选择。"
    )


def thank_you() -> None:
    """The end of a stored ballot; the back button or the link again come back here. The
    device forgets the ballot's answers as this shows."""
    # A second tap may have cut the submitting run short after the ballot was stored: make
    # sure nothing of it is left in this tab or in the address.
    close()
    thanks: Thanks | None = st.session_state.get(SUBMITTED)
    with st.container(border=True, key="thanks"):
        st.header(f":green[:material/task_alt:] {THANKS}", anchor=False)
        st.markdown(THANKS_AGAIN if thanks and thanks.again else THANKS_DETAIL)
        if thanks and thanks.targets:
            st.caption(f"共评议 {thanks.targets} 个对象。")
    if thanks is not None:
        _ELEMENT(key=ELEMENT, data={"mode": "clear", "code": thanks.code})
    if st.button("输入另一个测评码", icon=":material/keyboard:"):
        # A shared tablet passes to the next evaluator; nothing of this ballot is left here.
        del st.session_state[SUBMITTED]
        st.rerun()
