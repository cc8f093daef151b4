"""Two app processes on one PostgreSQL, tablets on both: every code counted exactly once.

Two `streamlit run app.py` servers on different ports share one new PostgreSQL database, one
PINGYI_SECRET_KEY and one cookie secret, as replicas behind a load balancer with sticky
sessions would. The demo is loaded through `python -m pingyi demo` against that database and
codes of 局全体工作人员 are issued. Then CONTEXTS browser contexts (tablets, each with its own
cookies, Streamlit session and localStorage), half on each server, all at once tap through a
whole ballot in the ballot element (8 cards, 55 items, one page) and submit it with the
element's 提交评议. PAIRS codes are open in two contexts, one per server, and both tap 提交评议
at the same moment: one is thanked, the other told 此测评码已使用. Afterwards the ballots are
exactly the distinct codes, each of them used, and the tallies equal a recount.

The tablets run concurrently on Playwright's async API (in a thread of their own, away from
the session's sync browser): one after another they would wait on each other's round trips.
The element draws in an open shadow root, which Playwright's CSS locators pierce
(tests/ballotdevice.py).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from ballotdevice import CHECKED, COUNT, SCALE, SEND, STORE
from pgtools import scratch_database, scratch_name
from sqlalchemy import Engine, func, select
from sqlmodel import col

from pingyi import codes, db, rounds, slips, tally
from pingyi.models import Ballot, EvaluationCode

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

CONTEXTS = 20
PAIRS = 4  # codes open on both servers at once: CONTEXTS - PAIRS distinct codes
SECRET_KEY = "replicas-test-secret-key"  # PINGYI_SECRET_KEY: codes hash alike on both
COOKIE_SECRET = "replicas-test-cookie-secret"  # server.cookieSecret, shared by replicas
THANKS, USED = "谢谢您的评议", codes.MSG_USED
ITEMS = 55  # 局全体工作人员 in the demo: 领导班子 (6 criteria) + 7 班子成员 (7 each)
TABLET = {"width": 768, "height": 1024}  # touch
TIMEOUT = 120_000  # ms; 20 tablets and two servers share two cores


def issue(server, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """`count` codes of 局全体工作人员, through the CLI."""
    out = server.cli("codes", "issue", "--group", "all_staff", "--count", str(count)).stdout
    found = re.findall(r"^[A-Z0-9]{8}$", out, flags=re.MULTILINE)
    assert len(found) == count, out
    return found


def level(index: int) -> int:
    """Which of 好 较好 一般 差 不了解 item `index` gets: all of them in turn."""
    return index % 5


@pytest.fixture
def shared_database(pg_admin: Engine) -> Iterator[str]:
    """A new, empty PostgreSQL database; skipped (saying why) when PostgreSQL is not there."""
    with scratch_database(pg_admin, scratch_name("pingyi_replicas")) as url:
        yield url


class Clock:
    """Phase timings, printed as they end so `pytest -s` shows where a slow run is."""

    def __init__(self) -> None:
        self.marks = [("start", time.monotonic())]

    def mark(self, phase: str) -> None:
        self.marks.append((phase, time.monotonic()))
        print(f"replicas: {phase} after {self.marks[-1][1] - self.marks[0][1]:.1f} s", flush=True)

    def seconds(self) -> dict[str, float]:
        return {name: round(t - s, 1) for (_, s), (name, t) in itertools.pairwise(self.marks)}


async def settle(page: Any, shown: str) -> None:
    """As conftest's `settle`: `shown` is on the page and no script run is in flight."""
    await page.get_by_text(shown, exact=False).first.wait_for(timeout=TIMEOUT)
    await page.wait_for_function(
        """() => !document.querySelector(
            '[data-testid="stStatusWidget"], [data-testid="stSkeleton"]')""",
        timeout=TIMEOUT,
    )


async def tap(page: Any, index: int) -> None:
    """Tap item `index` at level(index) in the element, as a finger would: drawn at once,
    kept in the browser, nothing sent to the server."""
    await page.locator(SCALE).nth(index).get_by_role("radio").nth(level(index)).tap()


async def tap_through(browser: Any, url: str, code: str) -> Any:
    """A tablet of its own opens the QR link and answers every item; its page, ready to
    submit (every answer drawn and in the browser's storage)."""
    context = await browser.new_context(
        viewport=TABLET,
        has_touch=True,
        is_mobile=True,
        locale="zh-CN",
        reduced_motion="reduce",  # less to render and to wait for on two shared cores
    )
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT)
    await page.goto(url)
    await settle(page, "已完成 0/8")
    assert await page.locator(SCALE).count() == ITEMS
    for index in range(ITEMS):
        await tap(page, index)
    await page.locator(COUNT, has_text=f"已选 {ITEMS}/{ITEMS} 项").wait_for()
    assert "已完成 8/8" in (await page.locator(COUNT).text_content() or "")
    assert await page.evaluate(CHECKED) == [level(index) for index in range(ITEMS)]
    kept = await page.evaluate(
        "key => JSON.parse(localStorage.getItem(key) || 'null')", STORE + code
    )
    assert kept is not None and len(kept["answers"]) == ITEMS, kept
    return page


async def outcome(page: Any) -> str:
    await page.wait_for_function(
        "([a, b]) => document.body.innerText.includes(a) || document.body.innerText.includes(b)",
        arg=[THANKS, USED],
        timeout=TIMEOUT,
    )
    return "thanks" if THANKS in await page.inner_text("body") else "used"


async def tablets(
    launch: dict[str, Any], urls: list[str], plain: list[str], clock: Clock
) -> list[str]:
    """Every tablet taps its ballot through (tablet k has code plain[k] at urls[k]), all at
    once; then all tap 提交评议 at once (so each pair submits its code on both servers
    together). What each was told."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launch)
        try:
            pages = await asyncio.gather(
                *(tap_through(browser, url, code) for url, code in zip(urls, plain, strict=True))
            )
            clock.mark("tapped")
            await asyncio.gather(*(page.locator(SEND).tap() for page in pages))
            told = await asyncio.gather(*(outcome(page) for page in pages))
            clock.mark("submitted")
            return list(told)
        finally:
            await browser.close()


def test_two_servers_on_one_postgresql_count_every_code_once(  # type: ignore[no-untyped-def]
    shared_database, serve, launch_options, tmp_path: Path
):
    clock = Clock()
    shared = {"PINGYI_SECRET_KEY": SECRET_KEY, "STREAMLIT_SERVER_COOKIE_SECRET": COOKIE_SECRET}
    with (
        serve(tmp_path / "a", demo=True, database_url=shared_database, extra_env=shared) as a,
        serve(tmp_path / "b", demo=False, database_url=shared_database, extra_env=shared) as b,
    ):
        distinct = CONTEXTS - PAIRS
        plain = issue(b, distinct)  # issued on one replica, valid on both
        clock.mark("servers")
        # Contexts 2k and 2k+1 (k < PAIRS) share code k, one on each server; the others
        # have a code of their own, on each server in turn.
        assignments = [
            (plain[k // 2 if k < 2 * PAIRS else k - PAIRS], (a, b)[k % 2]) for k in range(CONTEXTS)
        ]
        urls = [slips.ballot_url(code, server.url) for code, server in assignments]
        given = [code for code, _ in assignments]
        with ThreadPoolExecutor(max_workers=1) as thread:  # its own event loop
            outcomes = thread.submit(
                asyncio.run, tablets(launch_options, urls, given, clock)
            ).result()
        logs = [server.log.read_text(errors="replace") for server in (a, b)]
        # 开箱计票 on one replica, with the key they share: every cast ballot counted once.
        closed = a.cli("evaluation", "close", "--group", "all_staff").stdout
        assert f"已开箱计票,{distinct} 票" in closed, closed

    for k in range(PAIRS):  # one of each pair thanked, the other told the code is used
        assert sorted(outcomes[2 * k : 2 * k + 2]) == ["thanks", "used"], outcomes
    assert outcomes[2 * PAIRS :] == ["thanks"] * (CONTEXTS - 2 * PAIRS), outcomes
    assert not [log for log in logs if "Traceback" in log], logs

    engine = db.make_engine(shared_database)
    try:
        with db.session(engine) as s:
            round_ = rounds.current(session=s)
            assert round_ is not None
            assert s.scalar(select(func.count()).select_from(Ballot)) == distinct
            assert tally.verify(session=s, round_id=round_.id) == []  # type: ignore[arg-type]
            counted = tally.participation(session=s, round_id=round_.id)  # type: ignore[arg-type]
            assert list(counted.values()) == [(distinct, 0)]  # one group, none 一刀切
            used = set(s.scalars(select(EvaluationCode.code_hash).where(col(EvaluationCode.used))))
        assert used == {codes.hash_code(code, SECRET_KEY.encode()) for code in plain}
    finally:
        engine.dispose()
    print(json.dumps({"contexts": CONTEXTS, "pairs": PAIRS, "seconds": clock.seconds()}))
