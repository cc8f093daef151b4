"""Issue #16: how many tablets one app process serves in a meeting, measured without browsers.

Each simulated tablet is a Streamlit session of its own over the app's websocket, speaking the
installed Streamlit's protobuf messages as the browser does (`bench/stproto.py`, the
`websockets` client): it opens the ballot page with its `?code=` (a page load: BackMsg
rerun_script, ForwardMsgs until script_finished, the ballot element among them), keeps its
session open while its evaluator answers (the answers stay on the device: nothing is sent),
then submits the whole ballot the way the element does (the component's "submit" trigger) and
waits for the thanks. One office tab logs in through the login form and keeps the 会议大屏
open, rerunning its fragments every 3 s as the browser's timer does, throughout.

The workload, fixed before measuring: the demo bureau (`pingyi demo --no-history`: ballots of 8
分项 cards / 55 items for 局全体工作人员, 18 / 114 for 基层单位工作人员, 80 总体 cards / 80 items
for 市场经营户), K tablets spread over the three groups as their headcounts (60 / 80 / 200);
every tablet opens at a time drawn uniformly in the first 60 s and submits at a time drawn
uniformly in the next 5 minutes (a seeded generator: every run of a K has the same pace);
answers are complete, each item a level drawn from the scale (seeded).

Per K it reports open (connect → the ballot drawn: script finished with the element) and submit
(trigger sent → the thanks drawn) p50 / p95 / max in ms, the meeting screen's refresh p95,
errors (refused, timed out, closed, no thanks), the server's CPU seconds per tablet (in the
opening minute, per open; in the submitting minutes, per submit; all of it, per tablet), its
RSS per open session (RSS with every session open minus idle, over K), the generator's own CPU
(it shares the machine's 2 cores with the server), and, after 开箱计票 (`evaluation.close` of
each group), whether every ballot was counted exactly once (ballots counted = K, tallies equal
a recount). A K passes when p95 open ≤ 2 s, p95 submit ≤ 1 s and nothing failed. Steps go up
(--steps) until one fails; the JSON line names the largest K that passed.

Where it runs:
- default: one `streamlit run app.py` on a new SQLite file per step;
- `--processes 2 --postgres`: two app processes on one new PostgreSQL database behind Debian's
  nginx running deploy/nginx.conf (ports changed, as tests/browser/test_nginx_browser.py does);
  each tablet connects from its own loopback address (127.0.0.2 …), so nginx's sticky
  `hash $remote_addr` spreads them over the processes as phones would be;
- `--url URL --database-url DB`: an app already running (DB for issuing codes and counting).

    python bench/meeting.py [--steps 100,200,300] [--k 300] [--quick]
                            [--processes 2 --postgres] [--url URL --database-url DB]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(ROOT),
    str(ROOT / "tests"),
    str(ROOT / "tests" / "browser"),
    str(ROOT / "bench"),
]
os.environ.setdefault("PINGYI_SECRET_KEY", secrets.token_hex(32))
os.environ.setdefault("STREAMLIT_SERVER_COOKIE_SECRET", secrets.token_hex(16))

import psutil  # noqa: E402
from appserver import StreamlitServer, app_env, free_port  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from stproto import Tab  # noqa: E402

from pingyi import db, evaluation, groups, rounds, tally  # noqa: E402
from pingyi.models import Ballot, GroupKey  # noqa: E402

OPEN_WINDOW = 60.0  # s: every tablet opens within the first minute
SUBMIT_WINDOW = 300.0  # s: and submits within the next five
SCREEN_EVERY = 3.0  # s: the meeting screen's refresh (pages/meeting.py REFRESH_SECONDS)
OPEN_TARGET_MS, SUBMIT_TARGET_MS = 2000.0, 1000.0
TIMEOUT = 60.0
OFFICE, OFFICE_PASSWORD = "office", "office-pass-1"
SHARES = {GroupKey.ALL_STAFF: 60, GroupKey.UNIT_STAFF: 80, GroupKey.VENDORS: 200}
THANKS = "谢谢您的评议"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# ---- the world


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pingyi", *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode:
        raise SystemExit(f"pingyi {' '.join(args)}: {done.stderr or done.stdout}")
    return done.stdout


def prepare(env: dict[str, str], k: int, *, load: bool) -> list[tuple[str, str]]:
    """The demo and the office's account (when `load`), and K codes over the groups as their
    headcounts: (group key, code) in a seeded random order."""
    if load:
        cli(env, "demo", "--no-history")
        cli(env, "create-admin", OFFICE, "--name", "领导小组办公室", stdin=OFFICE_PASSWORD)
    total = sum(SHARES.values())
    counts = {key: k * share // total for key, share in SHARES.items()}
    counts[GroupKey.VENDORS] += k - sum(counts.values())
    issued: list[tuple[str, str]] = []
    for key, count in counts.items():
        if count:
            out = cli(env, "codes", "issue", "--group", key.value, "--count", str(count))
            issued += [(key.value, c) for c in re.findall(r"^[A-Z0-9]{8}$", out, re.MULTILINE)]
    random.Random(k).shuffle(issued)
    return issued


# ---- the servers


@dataclass
class Target:
    url: str  # what the tablets connect to
    database_url: str
    pids: list[int] = field(default_factory=list)  # the app processes, for CPU and RSS
    spread: bool = False  # connect from many loopback addresses (nginx spreads by address)
    codes: list[tuple[str, str]] = field(default_factory=list)  # (group, code) per tablet


@contextmanager
def sqlite_server(directory: Path, k: int) -> Iterator[Target]:
    env = app_env(directory)
    codes = prepare(env, k, load=True)
    server = StreamlitServer(free_port(), env, directory / "streamlit.log")
    server.start()
    try:
        assert server.process is not None
        yield Target(server.url, env["PINGYI_DATABASE_URL"], [server.process.pid], codes=codes)
    finally:
        server.stop()


@contextmanager
def behind_nginx(directory: Path, k: int, processes: int) -> Iterator[Target]:
    from pgtools import scratch_database, scratch_name
    from test_nginx_browser import running_nginx

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with ExitStack() as stack:
        url = stack.enter_context(scratch_database(admin, scratch_name("pingyi_meeting")))
        env = app_env(directory, url)
        codes = prepare(env, k, load=True)
        servers = [
            StreamlitServer(free_port(), env, directory / f"streamlit-{n}.log")
            for n in range(processes)
        ]
        for server in servers:
            server.start()
            stack.callback(server.stop)
        ports = tuple(server.port for server in servers)
        if len(ports) != 2:
            raise SystemExit("deploy/nginx.conf has two upstream servers: --processes 2")
        proxy = stack.enter_context(running_nginx(directory / "nginx", ports))  # type: ignore[arg-type]
        pids = [server.process.pid for server in servers if server.process is not None]
        yield Target(proxy, url, pids, spread=True, codes=codes)
    admin.dispose()


@contextmanager
def running_elsewhere(url: str, database_url: str, k: int) -> Iterator[Target]:
    env = app_env(Path(tempfile.gettempdir()), database_url)
    yield Target(url, database_url, codes=prepare(env, k, load=False))


def process_tree(pids: Sequence[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        try:
            parent = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        found += [parent, *parent.children(recursive=True)]
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0.0
    for process in process_tree(pids):
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def rss_mb(pids: Sequence[int]) -> float:
    total = 0
    for process in process_tree(pids):
        with suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total / 2**20


# ---- the meeting


@dataclass
class Tablet:
    number: int
    group: str
    code: str
    opens_at: float
    submits_at: float
    open_ms: float | None = None
    submit_ms: float | None = None
    error: str | None = None


def local_address(number: int, spread: bool) -> tuple[str, int] | None:
    """A source address of its own on the loopback (127.0.0.2 …) when nginx must spread."""
    return (f"127.0.{1 + number // 250}.{2 + number % 250}", 0) if spread else None


async def run_tablet(tablet: Tablet, target: Target, start: float) -> Tab | None:
    await asyncio.sleep(max(0.0, start + tablet.opens_at - time.monotonic()))
    began = time.monotonic()
    try:
        tab = await Tab.open(target.url, local_addr=local_address(tablet.number, target.spread))
        drawn = await tab.run("ballot", f"code={tablet.code}", timeout=TIMEOUT)
        if drawn.exception or not drawn.components:
            raise RuntimeError(drawn.exception or f"no ballot drawn: {drawn.texts[:3]}")
        tablet.open_ms = (time.monotonic() - began) * 1000
        ((component, data),) = drawn.components.items()
        form = data["form"]
        rng = random.Random(tablet.number)
        answers = [
            [card["id"], criterion, rng.choice(form["levels"])[0]]
            for card in form["cards"]
            for criterion, _ in card["criteria"]
        ]
        payload = {
            "sid": secrets.token_hex(16),
            "code": tablet.code,
            "token": secrets.token_hex(16),
            "answers": answers,
            "comments": {},
        }
        await asyncio.sleep(max(0.0, start + tablet.submits_at - time.monotonic()))
        sent = time.monotonic()
        drawn = await tab.trigger(component, "submit", payload, timeout=TIMEOUT)
        if not drawn.says(THANKS):
            raise RuntimeError(f"no thanks: {drawn.texts[:3]}")
        tablet.submit_ms = (time.monotonic() - sent) * 1000
        return tab
    except Exception as exc:  # every failure is counted, none stops the meeting
        tablet.error = f"{type(exc).__name__}: {exc}"[:200]
        return None


async def meeting_screen(target: Target, stop: asyncio.Event, refreshes: list[float]) -> str:
    """The office's 会议大屏, logged in, its fragments rerun every 3 s until `stop`."""
    try:
        tab = await Tab.open(target.url)
        drawn = await tab.run("meeting")
        drawn = await tab.submit_form(
            {drawn.inputs["用户名"]: OFFICE, drawn.inputs["密码"]: OFFICE_PASSWORD},
            drawn.buttons["登录"],
        )
        fragments = list(drawn.fragments)
        if not fragments:
            return "the meeting screen drew no live fragment"
        while not stop.is_set():
            began = time.monotonic()
            for fragment in fragments:
                await tab.rerun_fragment(fragment, timeout=TIMEOUT)
            refreshes.append((time.monotonic() - began) * 1000)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SCREEN_EVERY)
        await tab.close()
        return ""
    except Exception as exc:
        return f"meeting screen: {type(exc).__name__}: {exc}"[:200]


def pct(values: Sequence[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))], 1)


async def meeting(target: Target, k: int, open_window: float, submit_window: float) -> dict:
    codes = target.codes
    rng = random.Random(1000 + k)
    tablets = [
        Tablet(
            n,
            group,
            code,
            opens_at=rng.uniform(0, open_window),
            submits_at=open_window + rng.uniform(0, submit_window),
        )
        for n, (group, code) in enumerate(codes)
    ]
    me = psutil.Process()
    idle_rss = rss_mb(target.pids)
    cpu_start, mine_start = cpu_seconds(target.pids), sum(me.cpu_times()[:2])
    stop = asyncio.Event()
    refreshes: list[float] = []
    start = time.monotonic() + 1.0
    screen = asyncio.create_task(meeting_screen(target, stop, refreshes))
    runs = [asyncio.create_task(run_tablet(t, target, start)) for t in tablets]
    # The opening minute ends when every tablet has opened (or failed): its CPU and RSS.
    while any(t.open_ms is None and t.error is None for t in tablets):
        await asyncio.sleep(0.5)
    cpu_opened = cpu_seconds(target.pids)
    rss_open = rss_mb(target.pids)
    opened_at = time.monotonic() - start
    tabs = await asyncio.gather(*runs)
    cpu_end = cpu_seconds(target.pids)
    stop.set()
    screen_error = await screen
    mine = sum(me.cpu_times()[:2]) - mine_start
    for tab in tabs:
        if tab is not None:
            await tab.close()
    opens = [t.open_ms for t in tablets if t.open_ms is not None]
    submits = [t.submit_ms for t in tablets if t.submit_ms is not None]
    errors = [t.error for t in tablets if t.error] + ([screen_error] if screen_error else [])
    open_cpu, submit_cpu = cpu_opened - cpu_start, cpu_end - cpu_opened
    return {
        "k": k,
        "open_ms": {"p50": pct(opens, 0.5), "p95": pct(opens, 0.95), "max": pct(opens, 1)},
        "submit_ms": {
            "p50": pct(submits, 0.5),
            "p95": pct(submits, 0.95),
            "max": pct(submits, 1),
        },
        "screen_refresh_ms": {"p50": pct(refreshes, 0.5), "p95": pct(refreshes, 0.95)},
        "screen_refreshes": len(refreshes),
        "opened": len(opens),
        "submitted": len(submits),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "opening_s": round(opened_at, 1),
        "server_cpu_s": round(cpu_end - cpu_start, 1),
        "server_cpu_ms_per_open": round(1000 * open_cpu / max(len(opens), 1), 1),
        "server_cpu_ms_per_submit": round(1000 * submit_cpu / max(len(submits), 1), 1),
        "server_cpu_ms_per_tablet": round(1000 * (cpu_end - cpu_start) / k, 1),
        "server_rss_idle_mb": round(idle_rss, 1),
        "server_rss_all_open_mb": round(rss_open, 1),
        "server_rss_mb_per_session": round((rss_open - idle_rss) / k, 2),
        "generator_cpu_s": round(mine, 1),
    }


def counted_once(database_url: str, k: int) -> dict[str, Any]:
    """开箱计票 of every group: every ballot counted, once."""
    engine = db.make_engine(database_url)
    try:
        with db.session(engine) as s:
            round_ = rounds.current(session=s)
            assert round_ is not None and round_.id is not None
            round_id = round_.id
            group_ids = [g.id for g in groups.all_groups(session=s)]
        for group_id in group_ids:
            evaluation.close(engine, round_id=round_id, group_id=group_id)  # type: ignore[arg-type]
        with db.session(engine) as s:
            ballots = s.scalar(select(func.count()).select_from(Ballot)) or 0
            problems = tally.verify(session=s, round_id=round_id)
            boxed = s.scalar(text("SELECT count(*) FROM ballot_box")) or 0
    finally:
        engine.dispose()
    return {
        "ballots_counted": int(ballots),
        "left_in_box": int(boxed),
        "tally_problems": len(problems),
        "counted_once": ballots == k and not problems and not boxed,
    }


def passes(step: dict[str, Any]) -> bool:
    return (
        step["errors"] == 0
        and step["open_ms"]["p95"] is not None
        and step["open_ms"]["p95"] <= OPEN_TARGET_MS
        and step["submit_ms"]["p95"] is not None
        and step["submit_ms"]["p95"] <= SUBMIT_TARGET_MS
        and step.get("counted_once", False)
    )


def one_step(args: argparse.Namespace, k: int, workdir: Path) -> dict[str, Any]:
    directory = workdir / f"k{k}"
    directory.mkdir(parents=True)
    if args.url:
        place = running_elsewhere(args.url, args.database_url, k)
    elif args.processes > 1 or args.postgres:
        place = behind_nginx(directory, k, args.processes)
    else:
        place = sqlite_server(directory, k)
    with place as target:
        step = asyncio.run(meeting(target, k, args.open_window, args.submit_window))
        step.update(counted_once(target.database_url, k))
    step["passes"] = passes(step)
    print(json.dumps(step, ensure_ascii=False), file=sys.stderr, flush=True)
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="50,100,200,300,400,500,600,800")
    parser.add_argument("--k", type=int, help="one step of K tablets")
    parser.add_argument("--quick", action="store_true", help="K=20 over 10 s + 30 s")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--url", help="an app already running (with --database-url)")
    parser.add_argument("--database-url")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    args.open_window, args.submit_window = OPEN_WINDOW, SUBMIT_WINDOW
    steps = [int(s) for s in args.steps.split(",")]
    if args.k:
        steps = [args.k]
    if args.quick:
        steps, args.open_window, args.submit_window = [20], 10.0, 30.0
    if args.url and not args.database_url:
        raise SystemExit("--url needs --database-url (to issue codes and count)")
    workdir = Path(tempfile.mkdtemp(prefix="pingyi-meeting-"))
    results: list[dict[str, Any]] = []
    try:
        for k in steps:
            step = one_step(args, k, workdir)
            results.append(step)
            if not step["passes"]:
                break
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    passed = [s["k"] for s in results if s["passes"]]
    where = (
        f"{args.processes} processes behind nginx on PostgreSQL"
        if args.processes > 1 or args.postgres
        else ("an app at " + args.url if args.url else "one process on SQLite")
    )
    print(
        json.dumps(
            {
                "bench": "meeting",
                "where": where,
                "cores": psutil.cpu_count(),
                "open_window_s": args.open_window,
                "submit_window_s": args.submit_window,
                "targets": {"open_p95_ms": OPEN_TARGET_MS, "submit_p95_ms": SUBMIT_TARGET_MS},
                "largest_k_passing": max(passed) if passed else None,
                "steps": results,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
