"""Two app processes on one PostgreSQL behind a real nginx running deploy/nginx.conf; one is
killed (SIGKILL) while tablets answer, and they finish through the other.

nginx (Debian's, as .ci/run installs it) runs the repository's deploy/nginx.conf as it is, but
for its three ports: the two upstream servers get the test's free ports and `listen 80` becomes
a free port on 127.0.0.1 (the file is included in a minimal top-level configuration that only
says where nginx keeps its pid, logs and temporary files). Both app processes share one new
PostgreSQL database, PINGYI_SECRET_KEY and cookie secret, as README's "Running it for a whole
bureau" says.

TABLETS browser contexts (each its own device: cookies, localStorage) open their QR links
through nginx and tap half of a 局全体工作人员 ballot (8 cards, 55 items). nginx sends every
one of them to the same process (sticky by client address: they all come from 127.0.0.1),
which is then killed as a crash would kill it. The tablets keep tapping (the answers are on
the devices), Streamlit's page reconnects through nginx to the other process, and each
tablet submits: every one is thanked. Afterwards 开箱计票 counts exactly TABLETS ballots, each
holding every answer as tapped (before and after the kill), and the meeting screen, reached
through nginx and logged in there, shows TABLETS submitted codes for the group.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
from appserver import ROOT, StreamlitServer, app_env, free_port
from ballotdevice import COUNT, SCALE, SEND, STORE
from pgtools import scratch_database, scratch_name
from sqlalchemy import Engine, func, select

from pingyi import ballots, db, groups, rounds, slips, tally
from pingyi.models import Ballot, GroupKey, Rating

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

DEPLOYED = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TABLETS = 4
ITEMS = 55  # 局全体工作人员 in the demo: 领导班子 (6 criteria) + 7 班子成员 (7 each)
BEFORE_KILL = 28  # items tapped before the process is killed; the rest after
SHARED = {
    "PINGYI_SECRET_KEY": "nginx-test-secret-key",
    "STREAMLIT_SERVER_COOKIE_SECRET": "nginx-test-cookie-secret",
}
OFFICE, OFFICE_PASSWORD = "office", "office-pass-1"
THANKS = "谢谢您的评议"
TIMEOUT = 120_000  # ms: two app processes, nginx and four tablets share two cores
TABLET = {"width": 768, "height": 1024}


def level(tablet: int, index: int) -> int:
    """Which of 好 较好 一般 差 不了解 tablet `tablet` taps for item `index`: every level."""
    return (tablet + index) % 5


# ---- nginx with the deployed configuration


def deployed_config(upstreams: tuple[int, int], listen: int) -> str:
    """deploy/nginx.conf with the test's ports in place of 8501, 8502 and 80; nothing else."""
    text = DEPLOYED.read_text(encoding="utf-8")
    replacements = {
        "server 127.0.0.1:8501 ": f"server 127.0.0.1:{upstreams[0]} ",
        "server 127.0.0.1:8502 ": f"server 127.0.0.1:{upstreams[1]} ",
        "listen 80;": f"listen 127.0.0.1:{listen};",
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"deploy/nginx.conf no longer has one {old!r}"
        text = text.replace(old, new)
    return text


@contextmanager
def running_nginx(directory: Path, upstreams: tuple[int, int]) -> Iterator[str]:
    """nginx in the foreground with the deployed configuration; its URL, once it proxies."""
    if not Path(NGINX).exists():
        pytest.fail(f"{NGINX} is missing: install Debian's nginx (.ci/run does)")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (directory / "pingyi.conf").write_text(deployed_config(upstreams, port), encoding="utf-8")
    temp = directory / "temp"
    temp.mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers may read the test's files
    (directory / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log info;\n"
        # Two connections per websocket (tablet and app): room for a large meeting's phones.
        "worker_rlimit_nofile 16384;\n"
        "events { worker_connections 8192; }\n"
        "http {\n"
        f"  access_log {directory}/access.log;\n"
        + "".join(
            f"  {kind}_temp_path {temp}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"  include {directory}/pingyi.conf;\n"
        "}\n",
        encoding="utf-8",
    )
    command = [NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert process.poll() is None, (directory / "error.log").read_text()
            assert time.monotonic() < deadline, "nginx did not proxy to the app in 30 s"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---- the app processes


def cli(env: Mapping[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pingyi", *args],
        env=dict(env),
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def shared_database(pg_admin: Engine) -> Iterator[str]:
    with scratch_database(pg_admin, scratch_name("pingyi_nginx")) as url:
        yield url


@contextmanager
def two_processes(directory: Path, database_url: str) -> Iterator[list[StreamlitServer]]:
    directory.mkdir(parents=True, exist_ok=True)
    env = app_env(directory, database_url, SHARED)
    cli(env, "demo", "--no-history")
    cli(env, "create-admin", OFFICE, "--name", "领导小组办公室", stdin=OFFICE_PASSWORD)
    servers = [StreamlitServer(free_port(), env, directory / f"streamlit-{n}.log") for n in (1, 2)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def connected(server: StreamlitServer) -> int:
    """Open TCP connections to the server's port: nginx's, carrying the tablets' websockets."""
    assert server.process is not None
    process = psutil.Process(server.process.pid)
    return sum(
        1
        for c in process.net_connections(kind="tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == server.port
    )


# ---- the tablets


async def open_and_tap(browser: Any, url: str, tablet: int, items: range) -> Any:
    context = await browser.new_context(
        viewport=TABLET, has_touch=True, is_mobile=True, locale="zh-CN", reduced_motion="reduce"
    )
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT)
    await page.goto(url)
    await page.locator(COUNT, has_text="已完成 0/8").first.wait_for()
    await tap(page, tablet, items)
    return page


async def tap(page: Any, tablet: int, items: range) -> None:
    for index in items:
        row = page.locator(SCALE).nth(index)
        await row.get_by_role("radio").nth(level(tablet, index)).tap()
    await page.locator(COUNT, has_text=f"已选 {items.stop}/{ITEMS} 项").first.wait_for()


async def kept(page: Any, code: str) -> int:
    record = await page.evaluate(
        "key => JSON.parse(localStorage.getItem(key) || 'null')", STORE + code
    )
    return len((record or {}).get("answers", {}))


async def meeting_day(
    launch: dict[str, Any], urls: list[str], plain: list[str], kill: Any
) -> list[str]:
    """Tablets tap half, the process they are on is killed, they tap the rest and submit."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launch)
        try:
            pages = await asyncio.gather(
                *(open_and_tap(browser, url, n, range(BEFORE_KILL)) for n, url in enumerate(urls))
            )
            assert [await kept(p, c) for p, c in zip(pages, plain, strict=True)] == [
                BEFORE_KILL
            ] * TABLETS
            kill()
            await asyncio.gather(
                *(tap(page, n, range(BEFORE_KILL, ITEMS)) for n, page in enumerate(pages))
            )
            await asyncio.gather(*(page.locator(SEND).tap() for page in pages))
            told = []
            for page in pages:
                await page.get_by_text(THANKS).first.wait_for(timeout=TIMEOUT)
                told.append(THANKS)
            return told
        finally:
            await browser.close()


async def meeting_screen(launch: dict[str, Any], url: str) -> str:
    """The 会议大屏 through nginx, logged in as the office: its text. (Playwright's async API,
    in a thread of its own: the session's sync browser owns this thread's event loop.)"""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launch)
        try:
            page = await browser.new_page(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
            page.set_default_timeout(TIMEOUT)
            await page.goto(f"{url}/meeting")
            await page.get_by_label("用户名").fill(OFFICE)
            await page.get_by_label("密码", exact=True).fill(OFFICE_PASSWORD)
            await page.get_by_role("button", name="登录").click()
            await page.get_by_text("局全体工作人员 · 已提交 / 应到").first.wait_for()
            return await page.inner_text("body")
        finally:
            await browser.close()


def test_a_killed_process_behind_nginx_loses_no_ballot(  # type: ignore[no-untyped-def]
    shared_database, launch_options, tmp_path: Path
):
    with two_processes(tmp_path / "app", shared_database) as servers:
        env = servers[0].env
        out = cli(env, "codes", "issue", "--group", "all_staff", "--count", str(TABLETS))
        plain = re.findall(r"^[A-Z0-9]{8}$", out, flags=re.MULTILINE)
        assert len(plain) == TABLETS, out
        ports = (servers[0].port, servers[1].port)
        with running_nginx(tmp_path / "nginx", ports) as url:
            urls = [slips.ballot_url(code, url) for code in plain]
            victims: list[StreamlitServer] = []

            def kill() -> None:
                """SIGKILL the process nginx sent the tablets to (all of them: one address)."""
                loads = [connected(server) for server in servers]
                assert sorted(loads)[0] == 0 < sorted(loads)[1], loads
                victim = servers[loads.index(max(loads))]
                victim.kill()
                victims.append(victim)

            with ThreadPoolExecutor(max_workers=1) as thread:  # its own event loop
                told = thread.submit(
                    asyncio.run, meeting_day(launch_options, urls, plain, kill)
                ).result()
            assert told == [THANKS] * TABLETS
            (victim,) = victims
            survivor = next(server for server in servers if server is not victim)
            assert survivor.running and not victim.running
            closed = cli(env, "evaluation", "close", "--group", "all_staff")
            assert f"已开箱计票,{TABLETS} 票" in closed, closed
            with ThreadPoolExecutor(max_workers=1) as thread:
                screen = thread.submit(asyncio.run, meeting_screen(launch_options, url)).result()
        survivor_log = survivor.log.read_text(errors="replace")

    assert re.search(rf"局全体工作人员 · 已提交 / 应到\s*{TABLETS} / \d+", screen), screen
    assert "Traceback" not in survivor_log, survivor_log
    engine = db.make_engine(shared_database)
    try:
        with db.session(engine) as s:
            round_ = rounds.current(session=s)
            assert round_ is not None and round_.id is not None
            assert s.scalar(select(func.count()).select_from(Ballot)) == TABLETS
            assert tally.verify(session=s, round_id=round_.id) == []
            staff = groups.by_key(session=s)[GroupKey.ALL_STAFF].id
            assert staff is not None
            form = ballots.ballot_form(session=s, round_id=round_.id, group_id=staff)
            place = {lv.id: n for n, lv in enumerate(form.levels)}
            counted = Counter(
                (target, criterion, place[lv])
                for target, criterion, lv in s.execute(
                    select(Rating.target_id, Rating.criterion_id, Rating.level_id)
                )
            )
    finally:
        engine.dispose()
    # Every item of every tablet as tapped, before and after the kill (the ballots are
    # shuffled apart when counted: compared as a whole).
    tapped = Counter(
        (*item, level(n, i)) for n in range(TABLETS) for i, item in enumerate(form.items)
    )
    assert counted == tapped
