"""The two forms in the ballot element, in Debian's chromium on a phone (390×844) and a tablet
(768×1024), both with touch, on the shared demo server.

分项 (局全体工作人员: 8 cards, 55 items): on a card, 本张全部选「较好」 fills only its unanswered
items, and any item can be changed after it; 不了解此人 makes the whole card 不了解 in one tap and
撤销不了解 gives back exactly what was there (kept on the device across a reload); changing one
item of a 不了解 card keeps the change and drops the undo; the 提交前核对 list shows every card as
已评 / 不了解 / 未完成 and jumps to it; the ballot stored is exactly what the card shows.

总体 (市场经营户: 80 cards, one rating each on 满意 / 基本满意 / 不满意 / 不了解, the category's
criteria listed as what to weigh): all cards on one page, no card shortcuts, no page turns; 80
taps answer it, and it is stored as tapped.

Screenshots: test-artifacts/ballot-forms-{itemized,review,overall}-{phone,tablet}.png.
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
    ROOT,
    SCALE,
    SEND,
    TIMEOUT,
    VIEWPORTS,
    Snapshot,
    Tapped,
    assert_fits_and_touchable,
    assert_stored_once,
    database,
    issue,
    new_tab,
    open_link,
    shown,
    wait_thanks,
)

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
REVIEW_HEAD = f"{ROOT} .review-head"


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
    """What the page shows now is what must be stored: every row's chosen level."""
    tapped.answers = dict(shown(page).answers)


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_card_shortcuts_fill_change_undo_and_submit(demo_app, new_page, device):  # type: ignore[no-untyped-def]
    (code,) = issue(demo_app)
    before = Snapshot.take(database(demo_app))
    page = new_tab(new_page, device)
    open_link(page, demo_app, code)
    rows = [len(levels_of(page, n)) for n in range(8)]

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
    page.reload()
    page.locator(SCALE).first.wait_for(timeout=TIMEOUT)
    assert card(page, 1).get_by_role("button", name="撤销不了解").count() == 1
    assert levels_of(page, 1) == ["不了解"] * rows[1]

    # A card made 不了解, then one item changed by hand: the change stays, the undo goes.
    tap_button(page, 2, "不了解此人")
    tap_item(page, 2, 0, "好")
    assert levels_of(page, 2) == ["好"] + ["不了解"] * (rows[2] - 1)
    assert card(page, 2).get_by_role("button", name="不了解此人").count() == 1

    # 提交前核对 before the rest is done: 2 cards done (0, 2), 1 不了解 (1), 5 open.
    head = page.locator(REVIEW_HEAD)
    assert head.text_content() == "提交前核对:已评 2 · 不了解 1 · 未完成 5"
    entries = page.locator(f"{ROOT} ol.review button")
    assert entries.count() == 8
    assert "未完成(还有" in (entries.nth(3).text_content() or "")
    assert (entries.nth(1).text_content() or "").endswith("不了解")
    entries.nth(5).tap()  # a jump to the card, under the progress bar
    target = entries.nth(5).get_attribute("data-target")
    page.wait_for_function(CARD_UNDER_BAR, arg=target)

    for index in range(3, 8):
        tap_button(page, index, "好")
    page.locator(COUNT, has_text="已完成 8/8 张").wait_for()
    assert head.text_content() == "提交前核对:已评 7 · 不了解 1 · 未完成 0"
    page.locator(f"{ROOT} .to-review").tap()
    head.scroll_into_view_if_needed()
    shoot(page, f"ballot-forms-review-{device}")
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
    assert not page.locator(NEXT_PAGE).is_visible()
    assert page.locator(f"{ROOT} .shortcuts").count() == 0
    assert page.locator(f"{ROOT} .weigh").count() == 80
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
    card(page, 9).scroll_into_view_if_needed()
    shoot(page, f"ballot-forms-overall-{device}")
    tapped = Tapped()
    record(page, tapped)
    assert {criterion for _, criterion in tapped.answers} == {0}
    page.locator(SEND).tap()
    wait_thanks(page, code)
    assert_stored_once(demo_app, before, code, tapped)
