"""The 群众评议 ballot element in Debian's chromium, on a tablet (768×1024) and a phone
(390×844), both with touch: every choice is a tap.

The QR link of a demo code of 局全体工作人员 (8 cards, 55 items, one page) is opened on the
shared demo server. The answers and comments are kept on the device: they come back after a
reload and after the tab is closed and the link opened again, and nothing of them is on the
server until 提交 (the database is dumped, every table, while a ballot is half done). The
submit is stored exactly once, with every answer as tapped: after a double tap on 提交, and
when two devices submit one code. A typed code opens the ballot, a wrong one says why; the
基层单位工作人员's 18 cards turn their pages on a phone and keep every answer. The server going away
is tests/browser/test_ballot_offline_browser.py. Screenshots go to test-artifacts/ballot-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ballotdevice import (
    CARD,
    CARD_UNDER_BAR,
    CARDS,
    COUNT,
    EXCEPTION,
    ITEMS,
    NEXT_GAP,
    NEXT_PAGE,
    PREVIOUS_PAGE,
    SCALE,
    SEND,
    STORE,
    THANKS,
    THANKS_DETAIL,
    TIMEOUT,
    USED,
    VIEWPORTS,
    WHERE,
    Snapshot,
    StreamProxy,
    Tapped,
    assert_fits_and_touchable,
    assert_nothing_stored,
    assert_shows,
    assert_stored_once,
    database,
    issue,
    new_tab,
    open_link,
    shown,
    stored,
    submit_once,
    tap_page,
    tap_rows,
    wait_thanks,
    wait_until,
    write_comment,
)

from pingyi import codes, slips

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def shoot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """The viewport as the evaluator sees it → test-artifacts/NAME.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_a_ballot_reloaded_half_way_shows_every_answer_and_is_stored_once(  # type: ignore[no-untyped-def]
    demo_app, new_page, settle, screenshot, device
):
    (code,) = issue(demo_app)
    before = Snapshot.take(database(demo_app))
    page = new_tab(new_page, device)
    open_link(page, demo_app, code)
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0  # no office menu
    assert page.locator(SCALE).count() == ITEMS
    assert page.locator(f"{SCALE}:visible").count() == ITEMS
    assert_fits_and_touchable(page, rows=ITEMS)

    tapped = Tapped()
    half = 30
    tap_rows(page, tapped, range(half))
    write_comment(page, tapped, 1, f"未提交的意见ZQX-reload-{device} {code}")
    page.locator(COUNT, has_text=f"已选 {half}/{ITEMS} 项").wait_for()
    # 下一张未完成 brings the first card not finished into view, under the progress bar.
    gap = page.locator(NEXT_GAP)
    assert "下一张未完成" in gap.text_content()
    target = gap.get_attribute("data-target")
    gap.tap()
    page.wait_for_function(CARD_UNDER_BAR, arg=target)
    shoot(page, f"ballot-{device}")
    screenshot(page, f"ballot-{device}-full")
    assert_nothing_stored(demo_app, before, code, tapped)

    page.reload()
    settle(page, f"已选 {half}/{ITEMS} 项", timeout=TIMEOUT)
    page.locator(SCALE).first.wait_for()
    assert_shows(page, tapped)
    assert len(tapped.answers) == half

    tap_page(page, tapped)
    page.locator(COUNT, has_text=f"已完成 {CARDS}/{CARDS} 张 · 已选 {ITEMS}/{ITEMS} 项").wait_for()
    assert "全部评完" in page.locator(NEXT_GAP).text_content()
    assert_fits_and_touchable(page, rows=ITEMS)

    submit_once(page, demo_app, before, code, tapped)
    shoot(page, f"ballot-{device}-thanks")
    assert stored(page, code) is None  # the device forgets a ballot that is in

    # The back button, or the QR link again: the code is used, no form, nothing stored.
    # Back brings ?code= into the address again; the page's run that takes it shows the
    # thanks again and takes the code out of the address: that run is waited for, not a blank.
    page.evaluate(
        "() => addEventListener('popstate', () => { window.backTo = location.search; },"
        " {once: true})"
    )
    page.go_back()
    page.wait_for_function(
        "() => window.backTo !== undefined && !location.search.includes('code=')"
    )
    assert page.evaluate("() => window.backTo") == f"?code={code}"
    page.get_by_text(THANKS_DETAIL).wait_for()
    settle(page, THANKS, timeout=TIMEOUT)
    assert page.locator(SCALE).count() == 0 and page.locator(EXCEPTION).count() == 0
    page.goto(slips.ballot_url(code, demo_app.url))
    settle(page, USED, timeout=TIMEOUT)
    assert page.locator(SCALE).count() == 0
    assert_stored_once(demo_app, before, code, tapped)


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_a_closed_tab_opened_again_from_the_link_shows_every_answer(  # type: ignore[no-untyped-def]
    demo_app, new_page, device
):
    (code,) = issue(demo_app)
    before = Snapshot.take(database(demo_app))
    page = new_tab(new_page, device)
    context = page.context
    open_link(page, demo_app, code)
    tapped = Tapped()
    tap_rows(page, tapped, [*range(0, 10), *range(20, 35)])
    write_comment(page, tapped, 0, f"未提交的意见ZQX-tab-{device} {code}")
    write_comment(page, tapped, 5, f"第二条意见:服务态度好-{device} {code}")
    page.close()
    assert_nothing_stored(demo_app, before, code, tapped)

    page = context.new_page()
    open_link(page, demo_app, code, shows=f"已选 {len(tapped.answers)}/{ITEMS} 项")
    assert_shows(page, tapped)
    tap_page(page, tapped)
    page.locator(COUNT, has_text=f"已选 {ITEMS}/{ITEMS} 项").wait_for()
    submit_once(page, demo_app, before, code, tapped)


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_a_double_tap_on_submit_stores_one_ballot_and_thanks(  # type: ignore[no-untyped-def]
    demo_app, new_page, device
):
    """Two taps on 提交 before the reply (held back, as on a busy network): both send the
    ballot, one is stored, and the page thanks."""
    (code,) = issue(demo_app)
    before = Snapshot.take(database(demo_app))
    page = new_tab(new_page, device)
    proxy = StreamProxy(page)
    open_link(page, demo_app, code)
    tapped = Tapped()
    tap_page(page, tapped)
    write_comment(page, tapped, 2, f"未提交的意见ZQX-double-{device} {code}")
    page.locator(COUNT, has_text=f"已选 {ITEMS}/{ITEMS} 项").wait_for()
    assert_nothing_stored(demo_app, before, code, tapped)

    proxy.hold()
    page.locator(SEND).tap()
    # The first tap is drawn (正在提交…); the second taps the same button, which stays put.
    page.locator(SEND, has_text="正在提交").wait_for()
    page.locator(SEND).tap()
    wait_until(page, lambda: len(proxy.submits) >= 2, "both taps sent the ballot")
    proxy.release()
    wait_thanks(page, code)
    assert page.get_by_text(USED).count() == 0
    assert len(proxy.submits) == 2, proxy.submits
    assert_stored_once(demo_app, before, code, tapped)


def test_two_devices_submitting_one_code_store_one_ballot(demo_app, new_page):  # type: ignore[no-untyped-def]
    (code,) = issue(demo_app)
    before = Snapshot.take(database(demo_app))
    tablet = new_tab(new_page, "tablet")
    phone = new_tab(new_page, "phone")
    taps = {}
    for name, page in (("tablet", tablet), ("phone", phone)):
        open_link(page, demo_app, code)
        taps[name] = Tapped(taps=3 if name == "phone" else 0)  # different answers on each
        tap_page(page, taps[name])
        page.locator(COUNT, has_text=f"已选 {ITEMS}/{ITEMS} 项").wait_for()
    assert taps["tablet"].answers != taps["phone"].answers
    tablet.locator(SEND).tap()
    phone.locator(SEND).tap()
    told = {}
    for name, page in (("tablet", tablet), ("phone", phone)):
        page.wait_for_function(
            "texts => texts.some(text => document.body.innerText.includes(text))",
            arg=[THANKS, USED],
            timeout=TIMEOUT,
        )
        told[name] = "thanks" if THANKS in page.inner_text("body") else "used"
    assert sorted(told.values()) == ["thanks", "used"]
    (winner,) = [name for name, outcome in told.items() if outcome == "thanks"]
    assert_stored_once(demo_app, before, code, taps[winner])
    # The device that was refused forgets its answers: the code can never vote again.
    (loser,) = [page for name, page in (("tablet", tablet), ("phone", phone)) if name != winner]
    loser.wait_for_function("key => localStorage.getItem(key) === null", arg=STORE + code)
    assert loser.locator(SCALE).count() == 0


def test_a_typed_code_opens_the_ballot_and_a_wrong_one_says_why(  # type: ignore[no-untyped-def]
    demo_app, new_page, settle, screenshot
):
    (code,) = issue(demo_app)
    page = new_tab(new_page, "phone")
    page.set_default_timeout(TIMEOUT)
    page.goto(slips.ballot_page(demo_app.url))
    settle(page, "开始评议", timeout=TIMEOUT)
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    field = page.get_by_label("测评码")
    field.tap()
    field.fill("2345 6789")
    page.get_by_role("button", name="开始评议").tap()
    settle(page, codes.MSG_UNKNOWN, timeout=TIMEOUT)
    screenshot(page, "ballot-phone-entry")
    field.fill(code.lower()[:4] + " " + code.lower()[4:])
    page.get_by_role("button", name="开始评议").tap()
    settle(page, f"已完成 0/{CARDS}", timeout=TIMEOUT)
    page.locator(SCALE).first.wait_for()
    assert page.locator(SCALE).count() == ITEMS
    assert f"code={code}" in page.url  # a reload comes back to this ballot
    assert page.locator(EXCEPTION).count() == 0


def test_a_long_ballot_turns_its_pages_on_a_phone_and_keeps_every_answer(  # type: ignore[no-untyped-def]
    demo_app, new_page, settle
):
    """The 基层单位工作人员's 18 分项 cards, ten a page (the demo's vendors rate 总体, all on
    one page): 下一页 brings the next page's first card into view under the progress bar; the
    answers of a page turned away from, or of a reloaded page, come back; the whole ballot is
    stored once with every answer."""
    (code,) = issue(demo_app, group="unit_staff")
    before = Snapshot.take(database(demo_app))
    page = new_tab(new_page, "phone")
    open_link(page, demo_app, code, shows="第 1/2 页")
    items = int(re.search(r"已选 0/(\d+) 项", page.locator(COUNT).text_content()).group(1))
    tapped = Tapped()

    def cards_shown() -> list[str]:
        return page.locator(CARD).evaluate_all("cards => cards.map(c => c.dataset.target)")

    first = cards_shown()
    assert len(first) == 10
    tap_rows(page, tapped, range(3))
    page.locator(NEXT_PAGE).tap()
    page.locator(WHERE, has_text="第 2/2 页").wait_for()
    second = cards_shown()
    assert len(second) == 8 and not set(first) & set(second)
    page.wait_for_function(CARD_UNDER_BAR, arg=second[0])  # 下一页: its first card in view
    shoot(page, "ballot-phone-page-2")
    write_comment(page, tapped, 4, f"未提交的意见ZQX-long {code}")
    tap_rows(page, tapped, range(10))
    page.reload()  # the page shown last comes back, with its answers
    settle(page, "第 2/2 页", timeout=TIMEOUT)
    page.locator(SCALE).first.wait_for()
    assert_shows(page, tapped)
    tap_page(page, tapped)
    # Back to page 1 and forward again: every answer of page 2 is there.
    page.locator(PREVIOUS_PAGE).tap()
    page.locator(WHERE, has_text="第 1/2 页").wait_for()
    page.locator(NEXT_PAGE).tap()
    page.locator(WHERE, has_text="第 2/2 页").wait_for()
    assert_shows(page, tapped)
    assert len(shown(page).answers) == len(shown(page).items)
    assert_fits_and_touchable(page, rows=len(shown(page).items))
    assert_nothing_stored(demo_app, before, code, tapped)

    # Page 1 was left with 3 answers: one tap on the progress line goes back to it.
    gap = page.locator(NEXT_GAP)
    assert "第 1 页" in gap.text_content()
    gap.tap()
    page.locator(WHERE, has_text="第 1/2 页").wait_for()
    page.wait_for_function(CARD_UNDER_BAR, arg=first[0])
    assert_shows(page, tapped)
    tap_page(page, tapped)
    assert len(tapped.answers) == items
    page.locator(COUNT, has_text=f"已完成 18/18 张 · 已选 {items}/{items} 项").wait_for()
    page.locator(SEND).tap()
    wait_thanks(page, code)
    assert_stored_once(demo_app, before, code, tapped)
