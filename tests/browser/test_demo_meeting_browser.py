"""Meeting day on the demo, as a new user lives it, in Debian's chromium: a fresh database, the
office account, 加载示例数据 on 首页; the 会议大屏 shows last quarter's published results and this
quarter's participation; `pingyi demo simulate --minutes 1` makes the numbers rise on a screen
left open; 结束评议并开箱计票 counts each group and 公布结果 publishes; the 投影画面 then shows
ranks and charts, with no menu or sidebar. Screenshots: test-artifacts/demo-meeting-*.png at
1920×1080 and 1280×720.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from appserver import ROOT

from pingyi import demo_history

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"
PROJECTOR = {"width": 1920, "height": 1080}
SMALL_PROJECTOR = {"width": 1280, "height": 720}
OFFICE, OFFICE_PASSWORD = "office", "office-pass-1"
TIMEOUT = 60_000
ALL = ".st-key-meeting_group_all"


def submitted_total(page) -> int:  # type: ignore[no-untyped-def]
    value = page.locator(f'{ALL} [data-testid="stMetricValue"]').inner_text()
    return int(value.split("/")[0])


def shoot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def log_in_here(page, settle, wait_for: str) -> None:  # type: ignore[no-untyped-def]
    """Log in on the form this page shows, unless the browser's login already holds (a page
    load in a window that logged in before: the login outlives it)."""
    form = page.get_by_label("用户名")
    form.or_(page.get_by_text(wait_for).first).first.wait_for(timeout=30_000)
    if not form.count():
        settle(page, wait_for)
        return
    settle(page, "登录")
    page.get_by_label("用户名").fill(OFFICE)
    page.get_by_label("密码", exact=True).fill(OFFICE_PASSWORD)
    page.get_by_role("button", name="登录").click()
    settle(page, wait_for)


def test_a_new_user_sees_a_meeting_from_the_demo_to_published_ranks(  # type: ignore[no-untyped-def]
    empty_app, new_page, settle
):
    empty_app.cli("create-admin", OFFICE, "--name", "领导小组办公室", stdin=OFFICE_PASSWORD)
    office = new_page(**PROJECTOR)
    office.set_default_timeout(TIMEOUT)
    office.goto(empty_app.url)
    log_in_here(office, settle, "加载示例数据")
    office.get_by_role("button", name="加载示例数据").click()
    office.get_by_text("上一轮已结束、结果已公布").first.wait_for(timeout=120_000)

    # Last quarter's published results on its meeting screen, in the projected view.
    earlier = new_page(**PROJECTOR)
    earlier.set_default_timeout(TIMEOUT)
    earlier.goto(f"{empty_app.url}/meeting?screen=1&round=1")
    log_in_here(earlier, settle, "评议结果")
    assert earlier.locator("h1").first.inner_text() == demo_history.EARLIER_ROUND
    earlier.get_by_role("tab").first.wait_for()
    assert (
        earlier.locator('[data-testid="stSidebar"]').count() == 0
        or not earlier.locator('[data-testid="stSidebar"]').is_visible()
    )
    assert earlier.locator(".js-plotly-plot").count() >= 1
    shoot(earlier, "demo-meeting-earlier-1920x1080")

    # This quarter, on the office's screen: no ballot yet.
    office.goto(f"{empty_app.url}/meeting")  # a page load: a new session, log in again
    log_in_here(office, settle, "参与情况")
    before = submitted_total(office)
    assert before == 0

    # A minute of simulated voting, the screen left open: the numbers rise by themselves.
    simulate = subprocess.Popen(
        [sys.executable, "-m", "pingyi", "demo", "simulate", "--minutes", "1"],
        env=empty_app.env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        office.wait_for_function(
            "([sel]) => parseInt(document.querySelector(sel).innerText) > 0",
            arg=[f'{ALL} [data-testid="stMetricValue"]'],
            timeout=TIMEOUT,
        )
        rising = submitted_total(office)
        out, err = simulate.communicate(timeout=180)
    finally:
        simulate.kill()
    assert simulate.returncode == 0, err
    cast = int(re.search(r"模拟投票完成:(\d+) 张", out).group(1))  # type: ignore[union-attr]
    assert cast == int(0.8 * (60 + 80 + 200))
    office.wait_for_function(
        "([sel, n]) => parseInt(document.querySelector(sel).innerText) === n",
        arg=[f'{ALL} [data-testid="stMetricValue"]', cast],
        timeout=TIMEOUT,
    )
    assert 0 < rising <= cast

    # The office ends each group's evaluation (开箱计票), then publishes.
    for name in ("局全体工作人员", "基层单位工作人员", "市场经营户"):
        office.get_by_role("button", name=f"结束「{name}」评议并开箱计票").click()
        office.get_by_role("button", name="确定开箱计票").click()
        office.get_by_text(f"「{name}」已开箱计票").first.wait_for(timeout=120_000)
    office.get_by_role("button", name="公布结果").click()
    office.get_by_role("tab").first.wait_for()

    for size, name in ((PROJECTOR, "1920x1080"), (SMALL_PROJECTOR, "1280x720")):
        screen = new_page(**size)
        screen.set_default_timeout(TIMEOUT)
        screen.goto(f"{empty_app.url}/meeting?screen=1")
        log_in_here(screen, settle, "评议结果")
        screen.get_by_role("tab").first.wait_for()
        assert screen.get_by_text("名次").first.is_visible()  # the drill-down of the top target
        assert screen.locator(".js-plotly-plot").count() >= 1
        for hidden in ("stSidebar", "stHeader", "stToolbar"):
            assert not screen.locator(f'[data-testid="{hidden}"]').is_visible(), hidden
        assert screen.get_by_role("button", name="公布结果").count() == 0
        shoot(screen, f"demo-meeting-published-{name}")
