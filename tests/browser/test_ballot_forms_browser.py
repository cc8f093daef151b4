"""The two forms in the ballot element, in Debian's chromium on a phone (390×844) and a tablet
(768×1024), both with touch, on the shared demo server.

分项 (局全体工作人员: 8 cards, 55 items): on a card, 本张全部选「较好」 fills only its unanswered
items, and any item can be changed after it; 不了解此人 makes the whole card 不了解 in one tap and
撤销不了解 gives back exactly what was there (kept on the device across a reload, and not lost to
a 本张全部选 that has nothing to fill); changing one item of a 不了解 card keeps the change and
drops the undo; the 提交前核对 list shows every card as 已评 / 不了解 / 未完成 and jumps to it;
the ballot stored is exactly what the cards show.

总体 (市场经营户: 80 cards, one rating each on 满意 / 基本满意 / 不满意 / 不了解, the category's
criteria listed as what to weigh): all cards on one page, no card shortcuts, no page turns; 80
taps answer it, and it is stored as tapped.

A round of its own (`own_demo_app`) whose 基层单位工作人员 form has neither 不了解 nor comment
boxes: no textarea, no 不了解此人, only the scored levels to fill a card with; a 核对 jump
turns the page; nothing but the answers is sent.

Screenshots: test-artifacts/ballot-forms-{itemized,review,overall}-{phone,tablet}.png (the
window as the evaluator sees it) and ballot-forms-{phone,tablet}-full.png (the whole page).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ballotdevice import (
    CARD,
    CARD_UNDER_BAR,
    COUNT,
    NEXT_PAGE,
    NOTE,
    REVIEW_ENTRY,
    REVIEW_HEAD,
    REVIEW_UNDER_BAR,
    SCALE,
    SEND,
    SHORTCUTS,
    TIMEOUT,
    TO_REVIEW,
    VIEWPORTS,
    WHERE,
    Snapshot,
    Tapped,
    assert_fits_and_touchable,
    assert_stored_once,
    database,
    issue,
    new_tab,
    open_link,
    shown,
    stored,
    wait_thanks,
)

from pingyi.demo import DEMO_ROUND

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PLAIN_ROUND = "2027年第一季度(无不了解、无意见栏)"


def card(page: Any, index: int) -> Any:
    return page.locator(CARD).nth(index)


def levels_of(page: Any, index: int) -> list[str | None]:
    """The label chosen on each item of card `index` (None: not answered)."""
    return card(page, index).evaluate(
        """c => [...c.querySelectorAll('.scale')].map(row => {
            const b = row.querySelector('button[aria-checked="true"]');
            return b ? b.textContent.replace('✓ ', '') : null;
        })"""
    )


def tap_item(page: Any, index: int, row: int, label: str) -> None:
    line = card(page, index).locator(".scale").nth(row)
    line.get_by_role("radio", name=label, exact=True).tap()
    line.locator('button[aria-checked="true"]', has_text=label).wait_for()


def tap_button(page: Any, index: int, label: str) -> None:
    card(page, index).get_by_role("button", name=label, exact=True).tap()


def record(page: Any, tapped: Tapped) -> None:
    """What the page shows now is what must be stored: every row's chosen level (the tests
    check each card's levels by label before)."""
    tapped.answers = dict(shown(page).answers)


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_card_shortcuts_fill_change_undo_and_submit(  # type: ignore[no-untyped-def]
    demo_app, new_page, screenshot, device
):
    (code,) = issue(demo_app)
    before = Snapshot.take(database(demo_app))
    page = new_tab(new_page, device)
    open_link(page, demo_app, code)
    rows = [len(levels_of(page, n)) for n in range(8)]
    ids = page.locator(CARD).evaluate_all("cards => cards.map(c => c.dataset.target)")
    assert page.locator(SHORTCUTS).count() == 8
    fills = card(page, 0).locator(".shortcuts button[data-fill]").all_text_contents()
    assert fills == ["好", "较好", "一般", "差"]  # the scored levels only

    # 本张全部选「较好」 after one item was answered: only the unanswered ones are filled.
    tap_item(page, 0, 0, "差")
    tap_button(page, 0, "较好")
    assert levels_of(page, 0) == ["差"] + ["较好"] * (rows[0] - 1)
    tap_item(page, 0, 1, "好")  # and any item can still be changed
    assert levels_of(page, 0) == ["差", "好"] + ["较好"] * (rows[0] - 2)
    card(page, 0).scroll_into_view_if_needed()
    shoot(page, f"ballot-forms-itemized-{device}")

    # 不了解此人, then 撤销不了解: back to exactly what was there.
    tap_item(page, 1, 2, "一般")
    tap_button(page, 1, "不了解此人")
    assert levels_of(page, 1) == ["不了解"] * rows[1]
    tap_button(page, 1, "撤销不了解")
    assert levels_of(page, 1) == [None, None, "一般"] + [None] * (rows[1] - 3)
    tap_button(page, 1, "不了解此人")
    # The undo is kept on the device: a reload still offers it.
    assert set(stored(page, code)["before"]) == {ids[1]}
    page.reload()
    page.locator(SCALE).first.wait_for(timeout=TIMEOUT)
    assert card(page, 1).get_by_role("button", name="撤销不了解").count() == 1
    assert levels_of(page, 1) == ["不了解"] * rows[1]
    # 本张全部选 on a 不了解 card has nothing unanswered to fill: the card and its undo stay.
    tap_button(page, 1, "好")
    assert levels_of(page, 1) == ["不了解"] * rows[1]
    assert card(page, 1).get_by_role("button", name="撤销不了解").count() == 1

    # A card made 不了解 (by mouse here: the click path), then one item changed by hand: the
    # change stays, the undo goes.
    card(page, 2).get_by_role("button", name="不了解此人", exact=True).click()
    assert levels_of(page, 2) == ["不了解"] * rows[2]
    tap_item(page, 2, 0, "好")
    assert levels_of(page, 2) == ["好"] + ["不了解"] * (rows[2] - 1)
    assert card(page, 2).get_by_role("button", name="不了解此人").count() == 1
    assert set(stored(page, code)["before"]) == {ids[1]}

    # 提交前核对 before the rest is done: 2 cards done (0, 2), 1 不了解 (1), 5 open.
    head = page.locator(REVIEW_HEAD)
    assert head.text_content() == "提交前核对:已评 2 · 不了解 1 · 未完成 5"
    entries = page.locator(REVIEW_ENTRY)
    assert entries.count() == 8
    assert (entries.nth(0).text_content() or "").endswith("已评")
    assert (entries.nth(1).text_content() or "").endswith("不了解")
    assert (entries.nth(3).text_content() or "").endswith(f"未完成(还有 {rows[3]} 项)")
    entries.nth(5).tap()  # a jump to the card, under the progress bar
    assert entries.nth(5).get_attribute("data-target") == ids[5]
    page.wait_for_function(CARD_UNDER_BAR, arg=ids[5])

    fill = {3: "好", 4: "较好", 5: "一般", 6: "好", 7: "差"}
    for index, label in fill.items():
        tap_button(page, index, label)
    page.locator(COUNT, has_text="已完成 8/8 张").wait_for()
    assert head.text_content() == "提交前核对:已评 7 · 不了解 1 · 未完成 0"
    assert [levels_of(page, n) for n in range(8)] == [
        ["差", "好"] + ["较好"] * (rows[0] - 2),
        ["不了解"] * rows[1],
        ["好"] + ["不了解"] * (rows[2] - 1),
        *([fill[n]] * rows[n] for n in range(3, 8)),
    ]
    page.locator(TO_REVIEW).tap()  # 核对 ↓ in the progress bar: the list comes into view
    page.wait_for_function(REVIEW_UNDER_BAR)
    shoot(page, f"ballot-forms-review-{device}")
    screenshot(page, f"ballot-forms-{device}-full")
    assert_fits_and_touchable(page, rows=sum(rows))

    tapped = Tapped()
    record(page, tapped)
    assert len(tapped.answers) == sum(rows) == 55
    page.locator(SEND).tap()
    wait_thanks(page, code)
    assert_stored_once(demo_app, before, code, tapped)


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_an_overall_ballot_is_one_tap_a_person_on_one_page(demo_app, new_page, device):  # type: ignore[no-untyped-def]
    (code,) = issue(demo_app, group="vendors")
    before = Snapshot.take(database(demo_app))
    page = new_tab(new_page, device)
    open_link(page, demo_app, code, shows="已完成 0/80")
    assert page.locator(CARD).count() == 80  # every card on the one page
    assert page.locator(SCALE).count() == 80  # one row each
    assert not page.locator(NEXT_PAGE).is_visible()
    assert page.locator(SHORTCUTS).count() == 0
    assert page.get_by_role("button", name="不了解此人").count() == 0
    assert page.locator(f"{CARD} .weigh").count() == 80
    first = card(page, 0)
    assert first.locator(".label").text_content() == "总体评价"
    assert (first.locator(".weigh").text_content() or "").startswith("请综合考虑:")
    labels = first.get_by_role("radio").all_text_contents()
    assert labels == ["满意", "基本满意", "不满意", "不了解"]

    known = {0: "满意", 9: "基本满意", 40: "不满意"}
    for index in range(80):
        tap_item(page, index, 0, known.get(index, "不了解"))
    page.locator(COUNT, has_text="已完成 80/80 张 · 已选 80/80 项").wait_for()
    assert page.locator(REVIEW_HEAD).text_content() == "提交前核对:已评 3 · 不了解 77 · 未完成 0"
    assert [levels_of(page, n) for n in range(80)] == [[known.get(n, "不了解")] for n in range(80)]
    card(page, 9).scroll_into_view_if_needed()
    shoot(page, f"ballot-forms-overall-{device}")
    tapped = Tapped()
    record(page, tapped)
    assert {criterion for _, criterion in tapped.answers} == {0}
    page.locator(SEND).tap()
    wait_thanks(page, code)
    assert_stored_once(demo_app, before, code, tapped)


@pytest.fixture(scope="module")
def plain_round(own_demo_app):  # type: ignore[no-untyped-def]
    """The demo's round ended and a new one open in which 基层单位工作人员 rate 分项 with no
    不了解 and no comment boxes (a form is set while its round is in 筹备)."""
    own_demo_app.cli("round", "step", "--round", DEMO_ROUND, "已结束")
    own_demo_app.cli("round", "create", PLAIN_ROUND, "--quarter", "2027Q1")
    own_demo_app.cli(
        "form", "set", "--group", "unit_staff", "--kind", "分项", "--no-unknown", "--no-comments"
    )
    own_demo_app.cli("round", "open", "--round", PLAIN_ROUND)
    return own_demo_app


def test_a_form_without_unknown_or_comments_offers_neither(plain_round, new_page):  # type: ignore[no-untyped-def]
    (code,) = issue(plain_round, group="unit_staff")
    before = Snapshot.take(database(plain_round))
    page = new_tab(new_page, "phone")
    open_link(page, plain_round, code, shows="已完成 0/18")
    assert page.locator(NOTE).count() == 0
    assert page.get_by_role("button", name="不了解此人").count() == 0
    first_row = card(page, 0).locator(".scale").first
    assert first_row.get_by_role("radio").all_text_contents() == ["好", "较好", "一般", "差"]
    fills = card(page, 0).locator(".shortcuts button[data-fill]").all_text_contents()
    assert fills == ["好", "较好", "一般", "差"]
    tapped = Tapped()

    first = {index: "好" if index % 2 else "一般" for index in range(10)}
    for index, label in first.items():
        tap_button(page, index, label)
    page.locator(COUNT, has_text="已完成 10/18 张").wait_for()
    assert [set(levels_of(page, n)) for n in range(10)] == [{first[n]} for n in range(10)]
    tapped.answers.update(shown(page).answers)
    page.locator(NEXT_PAGE).tap()
    page.locator(WHERE, has_text="第 2/2 页").wait_for()
    assert page.locator(NOTE).count() == 0
    for index in range(7):
        tap_button(page, index, "差")
    head = page.locator(REVIEW_HEAD)
    assert head.text_content() == "提交前核对:已评 17 · 不了解 0 · 未完成 1"

    # A card of page 1 from the 核对 list: the page turns and the card is under the bar; then
    # the one left open, on page 2.
    entries = page.locator(REVIEW_ENTRY)
    assert (entries.nth(0).text_content() or "").endswith("已评")
    entries.nth(0).tap()
    page.locator(WHERE, has_text="第 1/2 页").wait_for()
    page.wait_for_function(CARD_UNDER_BAR, arg=entries.nth(0).get_attribute("data-target"))
    assert "未完成" in (entries.nth(17).text_content() or "")
    entries.nth(17).tap()
    page.locator(WHERE, has_text="第 2/2 页").wait_for()
    page.wait_for_function(CARD_UNDER_BAR, arg=entries.nth(17).get_attribute("data-target"))
    tap_button(page, 7, "较好")
    page.locator(COUNT, has_text="已完成 18/18 张").wait_for()
    assert head.text_content() == "提交前核对:已评 18 · 不了解 0 · 未完成 0"
    assert [set(levels_of(page, n)) for n in range(8)] == [{"差"}] * 7 + [{"较好"}]
    tapped.answers.update(shown(page).answers)
    assert_fits_and_touchable(page, rows=len(shown(page).items))
    assert stored(page, code)["comments"] == {}

    page.locator(SEND).tap()
    wait_thanks(page, code)
    assert_stored_once(plain_round, before, code, tapped)
