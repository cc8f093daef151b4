"""会议大屏 in Debian's chromium at projector size (1920×1080), on a demo server of its own (the
ballots other tests cast on the shared one would change the ranking checked here).

The screen updates by itself: a ballot submitted on the ballot page in another browser context
shows on the open screen within seconds, with no reload. Results stay hidden until 公布结果.
Screenshots: test-artifacts/meeting-hidden.png and meeting.png (the projector's view),
meeting-full.png (the whole page).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import ballotdevice as device
import pytest
from sqlalchemy import Engine

from pingyi import ballots, db, groups, meeting, rounds
from pingyi.models import GroupKey
from pingyi.ui import meeting as view

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
OFFICE, OFFICE_PASSWORD = "office", "office-pass-1"  # conftest's demo servers' 管理员

PROJECTOR = {"width": 1920, "height": 1080}
EXCEPTION = '[data-testid="stException"]'
UPDATE_SECONDS = 15


@pytest.fixture
def engine(own_demo_app) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """The demo server's database, from this process; the results are hidden again after."""
    bind = db.make_engine(own_demo_app.env["PINGYI_DATABASE_URL"])
    yield bind
    with db.transaction(bind) as s:
        current = rounds.current(session=s)
        assert current is not None
        meeting.publish(actor="测试", session=s, round_id=current.id, published=False)  # type: ignore[arg-type]
    bind.dispose()


def issue(server, count: int, group: str = "all_staff") -> list[str]:  # type: ignore[no-untyped-def]
    out = server.cli("codes", "issue", "--group", group, "--count", str(count)).stdout
    found = re.findall(r"^[A-Z0-9]{8}$", out, flags=re.MULTILINE)
    assert len(found) == count, out
    return found


def submit_all_good(engine: Engine, code: str) -> None:
    """Every item answered 好 but the first (较好), submitted as from another tablet."""
    with db.transaction(engine) as s:
        form = ballots.open_code(session=s, code=code).form
        answers = dict.fromkeys(form.items, form.levels[0].id)
        answers[form.items[0]] = form.levels[1].id
        ballots.submit(session=s, code=code, answers=answers)


def group_card(engine: Engine, key: GroupKey = GroupKey.ALL_STAFF) -> str:
    with db.session(engine) as s:
        return f".st-key-meeting_group_{groups.by_key(session=s)[key].id}"


def wait_submitted(screen, card: str, n: int) -> None:  # type: ignore[no-untyped-def]
    """Wait, at most a few refreshes, till the group's card says `n` submitted."""
    screen.wait_for_function(
        "([sel, n]) => parseInt(document.querySelector(sel).innerText) === n",
        arg=[f'{card} [data-testid="stMetricValue"]', n],
        timeout=UPDATE_SECONDS * 1000,
    )


def submitted(page, card: str) -> int:  # type: ignore[no-untyped-def]
    value = page.locator(f'{card} [data-testid="stMetricValue"]').inner_text()
    return int(value.split("/")[0])


def test_the_screen_updates_by_itself_and_shows_results_only_once_published(
    own_demo_app, engine, new_page, settle, screenshot, log_in
):  # type: ignore[no-untyped-def]
    screen = new_page(**PROJECTOR)
    log_in(screen, own_demo_app, "meeting")
    settle(screen, "参与情况")
    card = group_card(engine)
    before = submitted(screen, card)
    assert screen.get_by_text(view.HIDDEN).first.is_visible()
    assert screen.get_by_role("tab").count() == 0
    screen.evaluate("() => { window.meetingMarker = 'same page'; }")

    # Another browser context: an evaluator submits on the ballot page.
    (code,) = issue(own_demo_app, 1)
    tablet = device.new_tab(new_page, "tablet")
    device.open_link(tablet, own_demo_app, code)
    for row in range(device.ITEMS):  # 好 everywhere but the first item (较好)
        scale = tablet.locator(device.SCALE).nth(row).locator("button")
        scale.nth(1 if row == 0 else 0).tap()
    tablet.locator(device.COUNT, has_text=f"已选 {device.ITEMS}/{device.ITEMS} 项").wait_for()
    tablet.locator(device.SEND).tap()
    device.wait_thanks(tablet, code)

    wait_submitted(screen, card, before + 1)
    assert screen.evaluate("() => window.meetingMarker") == "same page"  # never reloaded
    assert screen.get_by_text(view.HIDDEN).first.is_visible()
    assert screen.get_by_role("tab").count() == 0
    screenshot(screen, "meeting-hidden")

    # Enough ballots for 局全体工作人员 to have numbers; the office ends its evaluation (开箱计票:
    # the sealed ballots are counted), then publishes.
    for extra in issue(own_demo_app, 4):
        submit_all_good(engine, extra)
    assert screen.get_by_text("评议中 · 票箱").first.is_visible()
    screen.get_by_role("button", name="结束「局全体工作人员」评议并开箱计票").click()
    screen.get_by_role("button", name="确定开箱计票").click()
    screen.get_by_text("「局全体工作人员」已开箱计票:5 票计入结果").wait_for(timeout=30_000)
    screen.get_by_text("已开箱计票 · 计入 5 票").first.wait_for(timeout=30_000)
    screen.get_by_role("button", name="公布结果").click()
    screen.get_by_role("tab", name="党员领导干部").wait_for(timeout=30_000)
    assert screen.get_by_text(view.HIDDEN).count() == 0
    assert submitted(screen, card) == before + 5
    screen.get_by_role("tab", name="党员领导干部").click()
    settle(screen, "查看评议对象的分项情况")
    chooser = screen.get_by_role("combobox", name="查看评议对象的分项情况")
    assert chooser.input_value().startswith("第 1 名 · ")
    name = chooser.input_value().split(" · ")[1].split("(")[0]
    assert screen.locator("h3").filter(has_text=name).first.is_visible()  # its drill-down
    assert screen.get_by_text("优秀").first.is_visible()
    assert screen.locator(EXCEPTION).count() == 0

    # A refresh keeps the open tab: a 基层单位工作人员 ballot comes in, and only a refresh can
    # show it on that group's card (the 局全体工作人员 box is counted: it takes no more).
    units = group_card(engine, GroupKey.UNIT_STAFF)
    units_before = submitted(screen, units)
    (late,) = issue(own_demo_app, 1, "unit_staff")
    submit_all_good(engine, late)
    wait_submitted(screen, units, units_before + 1)
    assert screen.get_by_role("tab", name="党员领导干部").get_attribute("aria-selected") == "true"
    assert screen.evaluate("() => window.meetingMarker") == "same page"  # refreshed in place
    # The projector shows the screen alone: the office folds the menu away.
    screen.locator('[data-testid="stSidebar"]').hover()
    screen.get_by_role("button", name="Collapse sidebar").click()
    screen.wait_for_timeout(1000)
    screen.screenshot(path=str(screenshot.__globals__["ARTIFACTS"] / "meeting.png"))
    screenshot(screen, "meeting-full")


@pytest.mark.parametrize("size", [PROJECTOR, {"width": 1280, "height": 720}], ids=["1080p", "720p"])
def test_the_projected_view_is_the_meeting_alone_with_the_qr_to_scan(  # type: ignore[no-untyped-def]
    own_demo_app, engine, new_page, settle, size
):
    """/meeting?screen=1: no menu, no sidebar, no Streamlit toolbar, no office button; the
    ballot page's QR code, large, while a group's evaluation is open (codes issued, not yet
    counted); type readable from the back of a room. Screenshots meeting-projector-*.png."""
    # 基层单位工作人员 voting (the module's first test counted 局全体工作人员's box).
    own_demo_app.cli("codes", "issue", "--group", "unit_staff", "--count", "1")
    screen = new_page(**size)
    screen.goto(f"{own_demo_app.url}/meeting?screen=1")
    settle(screen, "登录")  # the projected window logs in as the office too
    screen.get_by_label("用户名").fill(OFFICE)
    screen.get_by_label("密码", exact=True).fill(OFFICE_PASSWORD)
    screen.get_by_role("button", name="登录").click()
    settle(screen, view.SCAN)
    for hidden in ("stSidebar", "stSidebarNav", "stHeader", "stToolbar"):
        assert not screen.locator(f'[data-testid="{hidden}"]').is_visible(), hidden
    assert screen.get_by_role("button", name="公布结果").count() == 0
    assert screen.get_by_role("button", name="退出登录").count() == 0
    qr = screen.locator(".st-key-meeting_qr img").first
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 250, box  # scannable from a few rows back
    title = screen.locator("h1").first
    assert float(title.evaluate("h => getComputedStyle(h).fontSize").rstrip("px")) >= 40
    metric = screen.locator('[data-testid="stMetricValue"] p').first
    assert float(metric.evaluate("m => getComputedStyle(m).fontSize").rstrip("px")) >= 40
    assert screen.locator(EXCEPTION).count() == 0
    screen.screenshot(
        path=str(screenshot_dir() / f"meeting-projector-{size['width']}x{size['height']}.png")
    )


def screenshot_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
