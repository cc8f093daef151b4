"""The 群众评议 ballot page: code entry with a lockout, rating cards, progress, submit, thanks.

What the evaluator has answered lives in `st.session_state` (this browser tab) and, after every
tap, in the code's draft on the server, so a reload or another device gets it all back. All
database work goes through `pingyi.ballots`; nothing the evaluator or the roster typed is ever
passed to `unsafe_allow_html`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from pingyi import audit, ballots, codes, db, rounds, ui
from pingyi.models import EvaluatorGroup, Round
from pingyi.ui.text import md_escape

# More than LOCK_AFTER wrong codes in one browser session lock code entry for LOCK_SECONDS:
# enough for honest typos, far too few to guess one of 5·10^11 codes. Guesses spread over
# many sessions meet `codes.GUESSES`, the limit of the whole process.
LOCK_AFTER = 10
LOCK_SECONDS = 300
GUARD = "群众评议页"  # the audit log's actor for lockouts: evaluators have no account
GUESSING = "测评码猜测"  # the audit log's action for lockouts

log = logging.getLogger(__name__)

MSG_BUSY = "网络或服务器繁忙,答案已保留在本页,请稍后再试"
MSG_BUSY_OPEN = "网络或服务器繁忙,请稍后再试"
MSG_SAVED = "已保存"
MSG_LOCKED = "测评码输错次数过多,输入已暂停"
THANKS = "谢谢您的评议"
THANKS_DETAIL = "您的评议已匿名提交,本页可以关闭。"
SUBMIT_LABEL = "提交评议"

BALLOT = "ballot"  # the open Ballot
NOTICE = "ballot_notice"  # why the last code was refused, shown above the entry form
WRONG = "ballot_wrong"  # wrong codes tried in this session
LOCKED_UNTIL = "ballot_locked_until"  # time.time() when entry opens again
SUBMITTED = "ballot_submitted"  # number of targets of the ballot just stored
PROGRESS = "ballot_progress"  # key of the progress fragments (top and bottom)
PAGE = "ballot_page"  # index of the page of cards shown
TURNED = "ballot_turned"  # the page was just turned: the card to bring into view

# Cards per page. Streamlit's frontend goes over every element on the page after each tap
# (~2 ms of a desktop core per card, far more on a cheap phone): the vendors' 80 cards on one
# page cost ~280 ms per tap, ten cards ~75 ms. Ballots of up to ten cards stay one page.
CARDS_PER_PAGE = 10

_CSS = Path(__file__).with_name("ballot.css")


@dataclass
class Ballot:
    """An opened code and everything answered so far; `answers` is what gets submitted."""

    code: str
    round_id: int | None
    round_name: str
    group_name: str
    form: ballots.BallotForm
    answers: ballots.Answers = field(default_factory=dict)
    comments: ballots.Comments = field(default_factory=dict)
    saved: dict[int, str] = field(default_factory=dict)  # target_id → save status
    gone: str | None = None  # the code stopped being usable (used on another device…)


def answer_key(target_id: int, criterion_id: int) -> str:
    return f"ans_{target_id}_{criterion_id}"


def note_key(target_id: int) -> str:
    return f"note_{target_id}"


def card_anchor(target_id: int) -> str:
    return f"card-{target_id}"


def left_key(target_id: int) -> str:
    """The fragment of the card's 还有 n 项未选 line."""
    return f"card_left_{target_id}"


def saved_key(target_id: int) -> str:
    """The fragment of the card's 已保存 line."""
    return f"card_saved_{target_id}"


def style() -> None:
    """Large touch targets and a clearly marked choice; a static file, no user text."""
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


def _reset_widgets() -> None:
    for key in list(st.session_state):
        if isinstance(key, str) and key.startswith(("ans_", "note_")):
            del st.session_state[key]


def open_code(raw: str) -> Ballot | None:
    """Open a typed or linked code, with its draft; None (and a notice) when it cannot vote.

    While code entry is paused for everyone nothing is tried or counted, and a linked code
    stays in the address to be tried when the pause ends."""
    if paused_seconds():
        return None
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
    except ballots.BallotError as exc:
        _refuse(str(exc))
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
        answers=dict(opened.answers),
        comments=dict(opened.comments),
    )
    # Nothing of another ballot stays in the widgets; each card fills its own from the draft
    # when drawn (`_restore_widgets`), so a reload or another device shows every answer.
    _reset_widgets()
    st.session_state[BALLOT] = ballot
    st.session_state.pop(NOTICE, None)
    # Back where the evaluator left off: the page of the first card not finished.
    gaps = ballots.missing(ballot.form, ballot.answers)
    st.session_state[PAGE] = page_of(ballot.form, gaps[0].target_id) if gaps else 0
    # A typed code goes into the address too, so a reload comes back to this ballot.
    st.query_params["code"] = code
    return ballot


def current_ballot() -> Ballot | None:
    """The ballot of this tab: the one already open, or the one `?code=` asks for."""
    ballot: Ballot | None = st.session_state.get(BALLOT)
    if ballot is not None and ballot.gone:
        close(notice=ballot.gone)
        return None
    raw = st.query_params.get("code")
    if raw is None or (ballot is not None and codes.normalize(raw) == ballot.code):
        return ballot
    return open_code(raw)


def close(*, notice: str | None = None) -> None:
    """Forget the open ballot in this tab (its draft stays on the server)."""
    st.session_state.pop(BALLOT, None)
    st.session_state.pop(PAGE, None)
    st.session_state.pop(TURNED, None)
    _reset_widgets()
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


# ---- the cards


def _save(ballot: Ballot, target_id: int) -> None:
    """Keep every answer on the server; on failure the answers stay here and go next time."""
    try:
        with db.transaction(ui.engine()) as s:
            ballots.save_draft(
                session=s,
                code=ballot.code,
                answers=ballot.answers,
                comments=ballot.comments,
                round_id=ballot.round_id,
            )
    except ballots.BallotError as exc:
        # Used on another device, revoked, or the round closed: the whole page must say so.
        ballot.gone = str(exc)
        st.rerun()
    except SQLAlchemyError:
        ballot.saved[target_id] = MSG_BUSY
    else:
        ballot.saved[target_id] = MSG_SAVED


def _tapped(target_id: int, criterion_id: int) -> None:
    ballot: Ballot | None = st.session_state.get(BALLOT)
    if ballot is None:
        return
    level_id = st.session_state.get(answer_key(target_id, criterion_id))
    if level_id is None:
        ballot.answers.pop((target_id, criterion_id), None)
    else:
        ballot.answers[target_id, criterion_id] = level_id
    _save(ballot, target_id)
    _rerun_status(target_id)


def _noted(target_id: int) -> None:
    ballot: Ballot | None = st.session_state.get(BALLOT)
    if ballot is None:
        return
    text = (st.session_state.get(note_key(target_id)) or "")[: ballots.COMMENT_MAX]
    if text.strip():
        ballot.comments[target_id] = text
    else:
        ballot.comments.pop(target_id, None)
    _save(ballot, target_id)
    _rerun_status(target_id)


def _rerun_status(target_id: int) -> None:
    """After a tap or a comment: the card's status lines and the progress lines. The scale
    buttons already show the choice; redrawing them too would cost every tap the browser's
    redraw of the whole card."""
    st.rerun([left_key(target_id), saved_key(target_id), PROGRESS])


def _restore_widgets(ballot: Ballot, card: ballots.Card) -> None:
    """Answers into the card's widgets when it is drawn without them: a ballot just opened,
    or a page turned back to (Streamlit forgets the state of widgets a run did not draw)."""
    for criterion in card.criteria:
        key, item = answer_key(card.target_id, criterion.id), (card.target_id, criterion.id)
        if key not in st.session_state and item in ballot.answers:
            st.session_state[key] = ballot.answers[item]
    note = note_key(card.target_id)
    if note not in st.session_state and card.target_id in ballot.comments:
        st.session_state[note] = ballot.comments[card.target_id]


def _card(ballot: Ballot, card: ballots.Card, number: int) -> None:
    """One target: who it is, a row of scale buttons per criterion, an optional comment."""
    _restore_widgets(ballot, card)
    levels = ballot.form.levels
    labels = {level.id: md_escape(level.label) for level in levels}
    with st.container(border=True, key=f"card_box_{card.target_id}"):
        st.subheader(md_escape(card.name), anchor=card_anchor(card.target_id))
        about = " · ".join(part for part in (card.branch_name, card.category) if part)
        st.caption(f"第 {number}/{len(ballot.form.cards)} 张 · {md_escape(about)}")
        st.fragment(_card_left, key=left_key(card.target_id))(ballot, card)
        for index, criterion in enumerate(card.criteria, start=1):
            st.segmented_control(
                f"{index}. {md_escape(criterion.name)}",
                options=[level.id for level in levels],
                format_func=labels.__getitem__,
                key=answer_key(card.target_id, criterion.id),
                required=True,
                width="stretch",
                on_change=_tapped,
                args=(card.target_id, criterion.id),
            )
        st.text_area(
            "意见建议(选填)",
            key=note_key(card.target_id),
            max_chars=ballots.COMMENT_MAX,
            height=80,
            placeholder="可不填;只作文字记录,匿名",
            on_change=_noted,
            args=(card.target_id,),
        )
        st.fragment(_card_saved, key=saved_key(card.target_id))(ballot, card.target_id)


def _card_left(ballot: Ballot, card: ballots.Card) -> None:
    """How many items of the card are still to choose; rerun by each tap on the card."""
    left = sum(1 for c in card.criteria if (card.target_id, c.id) not in ballot.answers)
    if left:
        st.markdown(f":orange[还有 {left} 项未选]")
    else:
        st.markdown(":green[:material/check_circle: 本张已评完]")


def _card_saved(ballot: Ballot, target_id: int) -> None:
    """Whether the card's last answer reached the server; rerun by each tap on the card."""
    status = ballot.saved.get(target_id)
    if status == MSG_SAVED:
        st.caption(f":material/cloud_done: {MSG_SAVED}")
    elif status:
        st.warning(status, icon=":material/cloud_off:")


def page_count(form: ballots.BallotForm) -> int:
    return max(1, math.ceil(len(form.cards) / CARDS_PER_PAGE))


def page_of(form: ballots.BallotForm, target_id: int) -> int:
    """The index of the page that shows the target's card."""
    for index, card in enumerate(form.cards):
        if card.target_id == target_id:
            return index // CARDS_PER_PAGE
    return 0


def shown_page(form: ballots.BallotForm) -> int:
    page = st.session_state.get(PAGE, 0)
    return page if 0 <= page < page_count(form) else 0


def turn_to(page: int, target_id: int | None = None) -> None:
    """Show another page; its card of `target_id` (else its first card) comes into view."""
    st.session_state[PAGE] = page
    st.session_state[TURNED] = target_id


def cards(ballot: Ballot) -> None:
    """The cards of the page shown, then the page turner. A tap reruns its card's status
    lines and the progress lines (`_rerun_status`), not the page."""
    page = shown_page(ballot.form)
    first = page * CARDS_PER_PAGE
    shown = ballot.form.cards[first : first + CARDS_PER_PAGE]
    for number, card in enumerate(shown, start=first + 1):
        # Each card its own fragment: with its widgets outside any fragment the browser treats
        # every tap as a rerun of the whole page (measured: ~30 ms more of its main thread).
        st.fragment(_card, key=f"card_{card.target_id}")(ballot, card, number)
    turner(ballot, page)
    if TURNED in st.session_state and shown:
        target_id = st.session_state.pop(TURNED)
        _bring_into_view(target_id or shown[0].target_id)


def turner(ballot: Ballot, page: int) -> None:
    """上一页 / 下一页 under the cards, when the ballot has more than one page."""
    pages = page_count(ballot.form)
    if pages == 1:
        return
    first = page * CARDS_PER_PAGE + 1
    last = min(first + CARDS_PER_PAGE - 1, len(ballot.form.cards))
    back, where, forward = st.columns([2, 3, 2], vertical_alignment="center")
    back.button(
        "上一页",
        icon=":material/chevron_left:",
        width="stretch",
        disabled=page == 0,
        on_click=turn_to,
        args=(page - 1,),
    )
    where.markdown(f"**第 {page + 1}/{pages} 页**  \n第 {first}–{last} 张")
    forward.button(
        "下一页",
        icon=":material/chevron_right:",
        type="primary",
        width="stretch",
        disabled=page == pages - 1,
        on_click=turn_to,
        args=(page + 1,),
    )


def _into_view(target_id: int) -> str:
    """A script that scrolls the card of `target_id` to the top, once it is drawn. Nothing
    in it but the card's number."""
    anchor = card_anchor(int(target_id))
    return (
        "<script>(() => { let tries = 20; const go = () => {"
        f" const heading = document.getElementById('{anchor}');"
        " if (heading) heading.scrollIntoView({block: 'start'});"
        " else if (tries-- > 0) requestAnimationFrame(go); }; go(); })();</script>"
    )


def _bring_into_view(target_id: int) -> None:
    """Scroll to a card of the page just turned to (the button that turned it may be at the
    bottom of the page)."""
    st.html(_into_view(target_id), unsafe_allow_javascript=True)


# ---- progress, submit, thanks


@st.fragment(key=PROGRESS)
def progress(where: str) -> None:
    """已完成 n/N and the way to the first card not finished yet: a link on this page, a
    button that turns to its page otherwise.

    Drawn at the top and above the submit button (`where`); both are this one keyed fragment,
    which every tap reruns together with its card's status lines, so the count is right after
    each tap without rerunning the whole page (a vendors' ballot has 80 cards).
    """
    ballot: Ballot | None = st.session_state.get(BALLOT)
    if ballot is None:
        return
    total = len(ballot.form.cards)
    gaps = ballots.missing(ballot.form, ballot.answers)
    done = total - len(gaps)
    items = len(ballot.form.items)
    chosen = sum(1 for item in ballot.form.items if item in ballot.answers)
    st.progress(
        done / total if total else 1.0,
        text=f"**已完成 {done}/{total}** 张 · 已选 {chosen}/{items} 项",
    )
    if not gaps:
        st.markdown(":green[全部评完,请提交。] [去提交 :material/arrow_downward:](#submit)")
        return
    first = gaps[0]
    page = page_of(ballot.form, first.target_id)
    if page == shown_page(ballot.form):
        st.markdown(
            f"[下一张未完成:{md_escape(first.name)} :material/arrow_downward:]"
            f"(#{card_anchor(first.target_id)})"
        )
    elif st.button(
        f"下一张未完成:{md_escape(first.name)}(第 {page + 1} 页)",
        key=f"jump_{where}",
        icon=":material/arrow_forward:",
    ):
        turn_to(page, first.target_id)
        st.rerun(scope="app")


def submit(ballot: Ballot) -> None:
    """提交评议: refused with the missing cards when incomplete; stored at most once."""
    st.subheader("提交", anchor="submit")
    with st.container(key="ballot_bottom"):
        progress("bottom")
    if not st.button(SUBMIT_LABEL, type="primary", width="stretch", icon=":material/send:"):
        return
    gaps = ballots.missing(ballot.form, ballot.answers)
    if gaps:
        st.error(f"还有 {len(gaps)} 张评议卡没有评完,请补全后再提交:\n\n{_gap_list(ballot, gaps)}")
        return
    try:
        receipt = ballots.submit_with_retry(
            ui.engine(),
            ballot.code,
            ballot.answers,
            ballot.comments,
            round_id=ballot.round_id,
        )
    except ballots.IncompleteBallot as exc:
        st.error(str(exc))
        return
    except ballots.BallotError as exc:
        # The loser of a double tap, a second device or a replay: nothing was stored.
        close(notice=str(exc))
        st.rerun()
    except SQLAlchemyError:
        st.error(MSG_BUSY, icon=":material/cloud_off:")
        return
    # Before any other Streamlit call: a second tap already queued must find the thanks.
    st.session_state[SUBMITTED] = receipt.targets
    close()
    st.rerun()


def _gap_list(ballot: Ballot, gaps: list[ballots.Card]) -> str:
    """The cards not finished: links to those on this page, the page of the others."""
    shown = shown_page(ballot.form)
    lines = []
    for card in gaps:
        name, page = md_escape(card.name), page_of(ballot.form, card.target_id)
        if page == shown:
            lines.append(f"- [{name}](#{card_anchor(card.target_id)})")
        else:
            lines.append(f"- {name}(第 {page + 1} 页)")
    return "\n".join(lines)


def header(ballot: Ballot) -> None:
    st.caption(f"{md_escape(ballot.round_name)} · {md_escape(ballot.group_name)}")
    st.markdown(
        "请对每张评议卡的每一项选择 **好 / 较好 / 一般 / 差**,不熟悉的选 **不了解**。"
        "每次选择都会自动保存,刷新页面或换设备后用同一测评码可继续。评议匿名,不记录您的身份。"
    )


def thank_you() -> None:
    """The end of a stored ballot; the back button or the link again come back here."""
    # A second tap may have cut the submitting run short after the ballot was stored: make
    # sure nothing of it is left in this tab or in the address.
    close()
    targets = st.session_state.get(SUBMITTED, 0)
    with st.container(border=True, key="thanks"):
        st.header(f":green[:material/task_alt:] {THANKS}", anchor=False)
        st.markdown(THANKS_DETAIL)
        if targets:
            st.caption(f"共评议 {targets} 个对象。")
    if st.button("输入另一个测评码", icon=":material/keyboard:"):
        # A shared tablet passes to the next evaluator; nothing of this ballot is left here.
        del st.session_state[SUBMITTED]
        st.rerun()
