"""The 群众评议 ballot in Debian's chromium, on a tablet (768×1024) and a phone (390×844).

The QR link of a demo code of 局全体工作人员 (8 cards, 55 items) is opened, every item is
tapped, the page is reloaded half way and must show every answer again, and the ballot is
submitted. Screenshots go to test-artifacts/ballot-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pingyi import ballots, codes, db, slips
from pingyi.models import Ballot

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
EXCEPTION = '[data-testid="stException"]'
SCALE = '[data-testid="stButtonGroup"]'
ITEMS = 55  # 领导班子 (6 criteria) + 7 班子成员 (7 each)
VIEWPORTS = {
    "tablet": {"width": 768, "height": 1024, "has_touch": True, "is_mobile": True},
    "phone": {"width": 390, "height": 844, "has_touch": True, "is_mobile": True},
}
TOUCH_MIN = 44  # px, the smallest comfortable touch target


def issue(server, count: int = 1, group: str = "all_staff") -> list[str]:  # type: ignore[no-untyped-def]
    out = server.cli("codes", "issue", "--group", group, "--count", str(count)).stdout
    found = re.findall(r"^[A-Z0-9]{8}$", out, flags=re.MULTILINE)
    assert len(found) == count, out
    return found


def ballot_count(server) -> int:  # type: ignore[no-untyped-def]
    engine = db.make_engine(server.env["PINGYI_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Ballot)).scalar_one())
    finally:
        engine.dispose()


def fill_draft(server, code: str) -> None:  # type: ignore[no-untyped-def]
    """Every item answered 好 through the draft API, as if tapped on another device."""
    engine = db.make_engine(server.env["PINGYI_DATABASE_URL"])
    try:
        with db.transaction(engine) as s:
            form = ballots.open_code(session=s, code=code).form
            answers = dict.fromkeys(form.items, form.levels[0].id)
            ballots.save_draft(session=s, code=code, answers=answers)
    finally:
        engine.dispose()


def shoot(page, name: str, *, full: bool = False) -> Path:  # type: ignore[no-untyped-def]
    """The viewport as the evaluator sees it (or the whole page) → test-artifacts/NAME.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if not full:
        page.screenshot(path=str(path))
        return path
    viewport = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": height})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(viewport)
    return path


def level(index: int) -> int:
    """Which of 好 较好 一般 差 不了解 the test taps for item `index`: all of them in turn."""
    return index % 5


def tap_item(page, index: int) -> None:  # type: ignore[no-untyped-def]
    group = page.locator(SCALE).nth(index)
    button = group.get_by_role("radio").nth(level(index))
    button.scroll_into_view_if_needed()
    button.tap()
    # The choice shows at once; the progress line changes once the server has saved it.
    page.wait_for_function(
        "([sel, i, l]) => document.querySelectorAll(sel)[i]"
        ".querySelectorAll('[role=radio]')[l].getAttribute('aria-checked') === 'true'",
        arg=[SCALE, index, level(index)],
    )


def wait_saved(page, chosen: int) -> None:  # type: ignore[no-untyped-def]
    page.get_by_text(f"已选 {chosen}/{ITEMS} 项").first.wait_for(timeout=30_000)


def checked_levels(page) -> list[int | None]:  # type: ignore[no-untyped-def]
    return page.evaluate(
        """sel => [...document.querySelectorAll(sel)].map(group => {
            const radios = [...group.querySelectorAll('[role=radio]')];
            const i = radios.findIndex(r => r.getAttribute('aria-checked') === 'true');
            return i < 0 ? null : i;
        })""",
        SCALE,
    )


def assert_fits_and_touchable(page) -> None:  # type: ignore[no-untyped-def]
    widths = page.evaluate(
        """() => {
            const main = document.querySelector('[data-testid="stMain"]');
            return [document.documentElement.scrollWidth, window.innerWidth,
                    main.scrollWidth, main.clientWidth];
        }"""
    )
    assert widths[0] <= widths[1], f"horizontal scrolling: {widths}"
    assert widths[2] <= widths[3], f"horizontal scrolling inside the main area: {widths}"
    sizes = page.evaluate(
        """sel => [...document.querySelectorAll(sel + ' [role=radio]'),
                  ...document.querySelectorAll('[data-testid="stBaseButton-primary"]')]
            .map(b => { const r = b.getBoundingClientRect(); return [r.width, r.height]; })""",
        SCALE,
    )
    assert len(sizes) >= ITEMS * 5
    assert min(w for w, _ in sizes) >= TOUCH_MIN, sizes
    assert min(h for _, h in sizes) >= TOUCH_MIN, sizes


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_a_qr_link_ballot_is_tapped_through_reloaded_and_submitted(
    demo_app, new_page, settle, device
):  # type: ignore[no-untyped-def]
    (code,) = issue(demo_app)
    before = ballot_count(demo_app)
    page = new_page(**VIEWPORTS[device])
    page.goto(slips.ballot_url(code, demo_app.url))
    settle(page, "已完成 0/8")
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0  # no office menu
    assert page.locator(SCALE).count() == ITEMS
    assert_fits_and_touchable(page)

    half = 30
    for index in range(half):
        tap_item(page, index)
    wait_saved(page, half)
    # The jump to the next unfinished card brings its name into view, below the progress.
    jump = page.locator(".st-key-ballot_top a[href^='#card-']")
    target = jump.get_attribute("href")
    jump.tap()
    page.wait_for_timeout(800)
    bar = page.locator(".st-key-ballot_top").bounding_box()
    heading = page.locator(f"h3{target}").bounding_box()
    assert bar["y"] + bar["height"] <= heading["y"] < VIEWPORTS[device]["height"] / 2
    shoot(page, f"ballot-{device}")
    shoot(page, f"ballot-{device}-full", full=True)

    page.reload()
    settle(page, f"已选 {half}/{ITEMS} 项")
    restored = checked_levels(page)
    assert restored[:half] == [level(i) for i in range(half)]
    assert restored[half:] == [None] * (ITEMS - half)

    for index in range(half, ITEMS):
        tap_item(page, index)
    wait_saved(page, ITEMS)
    settle(page, "已完成 8/8")
    assert_fits_and_touchable(page)

    page.get_by_role("button", name="提交评议").tap()
    settle(page, "谢谢您的评议")
    assert page.get_by_text("您的评议已匿名提交,本页可以关闭").is_visible()
    assert "code=" not in page.url
    assert page.locator(SCALE).count() == 0
    assert page.locator(EXCEPTION).count() == 0
    shoot(page, f"ballot-{device}-thanks")
    assert ballot_count(demo_app) == before + 1

    # The back button, or the QR link again: the code is used, no form, nothing stored.
    page.go_back()
    page.wait_for_timeout(1000)
    assert page.locator(SCALE).count() == 0
    page.goto(slips.ballot_url(code, demo_app.url))
    settle(page, codes.MSG_USED)
    assert page.locator(SCALE).count() == 0
    assert ballot_count(demo_app) == before + 1


def test_two_devices_submitting_one_code_store_one_ballot(demo_app, new_page, settle):  # type: ignore[no-untyped-def]
    (code,) = issue(demo_app)
    fill_draft(demo_app, code)
    before = ballot_count(demo_app)
    tablet = new_page(**VIEWPORTS["tablet"])
    phone = new_page(**VIEWPORTS["phone"])
    for page in (tablet, phone):
        page.goto(slips.ballot_url(code, demo_app.url))
        settle(page, "已完成 8/8")
    tablet.get_by_role("button", name="提交评议").tap()
    phone.get_by_role("button", name="提交评议").tap()
    for page in (tablet, phone):
        page.wait_for_function(
            "() => document.body.innerText.includes('谢谢您的评议')"
            " || document.body.innerText.includes('此测评码已使用')",
            timeout=30_000,
        )
    outcomes = sorted(
        "thanks" if "谢谢您的评议" in page.inner_text("body") else "used"
        for page in (tablet, phone)
    )
    assert outcomes == ["thanks", "used"]
    assert ballot_count(demo_app) == before + 1


def test_a_double_tap_on_submit_stores_one_ballot_and_thanks(demo_app, new_page, settle):  # type: ignore[no-untyped-def]
    (code,) = issue(demo_app)
    fill_draft(demo_app, code)
    before = ballot_count(demo_app)
    page = new_page(**VIEWPORTS["phone"])
    page.goto(slips.ballot_url(code, demo_app.url))
    settle(page, "已完成 8/8")
    # Two taps before the first has been answered: both reach the server.
    page.get_by_role("button", name="提交评议").evaluate("b => { b.click(); b.click(); }")
    settle(page, "谢谢您的评议")
    page.wait_for_timeout(1500)
    assert page.get_by_text("谢谢您的评议").first.is_visible()
    assert page.get_by_text("此测评码已使用").count() == 0
    assert ballot_count(demo_app) == before + 1


def test_a_typed_code_opens_the_ballot_and_a_wrong_one_says_why(demo_app, new_page, settle):  # type: ignore[no-untyped-def]
    (code,) = issue(demo_app)
    page = new_page(**VIEWPORTS["phone"])
    page.goto(slips.ballot_page(demo_app.url))
    settle(page, "开始评议")
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    field = page.get_by_label("测评码")
    field.fill("2345 6789")
    page.get_by_role("button", name="开始评议").tap()
    settle(page, codes.MSG_UNKNOWN)
    shoot(page, "ballot-phone-entry")
    field.fill(code.lower()[:4] + " " + code.lower()[4:])
    page.get_by_role("button", name="开始评议").tap()
    settle(page, "已完成 0/8")
    assert page.locator(SCALE).count() == ITEMS
    assert f"code={code}" in page.url  # a reload comes back to this ballot
    assert page.locator(EXCEPTION).count() == 0


def card_headings(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.evaluate("() => [...document.querySelectorAll('h3[id^=\"card-\"]')].map(h => h.id)")


def test_a_long_ballot_turns_its_pages_on_a_phone_and_keeps_every_answer(
    demo_app, new_page, settle
):  # type: ignore[no-untyped-def]
    """The vendors' 80 cards, ten a page: 下一页 at the bottom brings the next page's first
    card into view under the progress line; answers of a page turned away from come back."""
    (code,) = issue(demo_app, group="vendors")
    engine = db.make_engine(demo_app.env["PINGYI_DATABASE_URL"])
    try:
        with db.session(engine) as s:
            form = ballots.open_code(session=s, code=code).form
    finally:
        engine.dispose()
    anchors = [f"card-{card.target_id}" for card in form.cards]
    page = new_page(**VIEWPORTS["phone"])
    page.goto(slips.ballot_url(code, demo_app.url))
    settle(page, "第 1/8 页")
    assert card_headings(page) == anchors[:10]
    first_page = sum(len(card.criteria) for card in form.cards[:10])
    assert page.locator(SCALE).count() == first_page
    for index in range(3):
        tap_item(page, index)
    page.get_by_text(f"已选 3/{len(form.items)} 项").first.wait_for(timeout=30_000)

    page.get_by_role("button", name="下一页").tap()
    settle(page, "第 2/8 页")
    assert card_headings(page) == anchors[10:20]
    # The page scrolls its first card up once drawn: wait for that, not for a fixed time.
    page.wait_for_function(
        "a => { const top = document.getElementById(a).getBoundingClientRect().top;"
        " return top >= 0 && top < window.innerHeight / 2; }",
        arg=anchors[10],
    )
    bar = page.locator(".st-key-ballot_top").bounding_box()
    heading = page.locator(f"h3#{anchors[10]}").bounding_box()
    assert bar["y"] + bar["height"] <= heading["y"] < VIEWPORTS["phone"]["height"] / 2
    assert_fits_and_touchable_page(page)
    shoot(page, "ballot-phone-page-2")
    # The first card not finished is on page 1: one tap from the progress line.
    page.locator(".st-key-ballot_top").get_by_role("button", name="下一张未完成").tap()
    settle(page, "第 1/8 页")
    assert card_headings(page) == anchors[:10]
    assert checked_levels(page)[:4] == [level(0), level(1), level(2), None]
    assert page.locator(EXCEPTION).count() == 0


def assert_fits_and_touchable_page(page) -> None:  # type: ignore[no-untyped-def]
    """No sideways scrolling; 上一页 and 下一页 big enough to tap."""
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths
    for name in ("上一页", "下一页"):
        box = page.get_by_role("button", name=name).bounding_box()
        assert box["height"] >= TOUCH_MIN and box["width"] >= TOUCH_MIN, (name, box)
