"""Tablets at a meeting: K headless chromium tablets each tap through a 30-target ballot at once.

One `streamlit run app.py` per K (a fresh process, so its idle RSS is measured before any
session) on one SQLite database in a temporary directory. The database is built before the
first server starts, through the app's own functions: `worlds.build_bureau(grassroots=(15, 15),
cadres=False)` gives 30 grassroots 普通党员 that 市场经营户 rate on 6 criteria each (30 cards,
180 items), and `codes.issue` one 市场经营户 code per tablet. Each tablet is its own browser
context (768×1024, touch, zh-CN) of one Debian chromium driven by Playwright's async API; the K
tablets of a run work concurrently. A tablet opens the QR link (`slips.ballot_url`); once all
K ballots are open they start together, and each taps one scale button per item in page order
(tablet j taps level (i + j) mod 5 of item i: every level, 不了解 included), waits for each
tap to be saved, then for an evaluator's pause (`THINK_MS` ± `SPREAD`, drawn anew each time:
1.5–4.5 s, --think-ms) before the next, and taps 下一页 after the last item of each page of ten
cards (`CARDS_PER_PAGE`: 3 pages). A tap is a touch at the button's centre
(`page.touchscreen.tap`), aimed by one script in the page (`AIM`). When every tablet of the
run has tapped all its items, the server's RSS is taken and all K tap 提交评议 together (the end
of a meeting); the contexts stay open till all are thanked.

Measured in the page (performance.now(), one clock per tab; an init script installs a
capture-phase touchstart/pointerdown/click listener and a MutationObserver on the document, so
no polling and no Python sleep is in the tap or submit figures):
- tap → saved: from the touchstart of the tap on a scale button until the progress line at the
  top of the ballot (`.st-key-ballot_top`, 已选 n/180 项) first shows the count including this
  answer. That line is redrawn only by the fragment rerun that runs after the tap's callback has
  committed the code's draft (`ballots.save_draft`), so it is the page's saved state for the
  answer (the card's 已保存 caption comes in the same rerun). p50, p95, max over all taps of all
  tablets of the run. `tap_parts_ms` splits it (p50, p95): "sent", tap → the page sends the
  widget change on its websocket; "reply", → the last websocket message received before the
  saved state showed (server work, network, and waiting for the tab's busy main thread);
  "drawn", → the saved state drawn;
- submit: from the touchstart on 提交评议 until the page text contains 谢谢您的评议; p95 (and max);
- open (informative): from `goto` of the QR link until the first page's scale rows are drawn
  and the script run has finished, in Python wall time;
- page turn (informative): from tapping 下一页 until the next page's cards are drawn, likewise.
Server RSS: VmRSS of the streamlit process and all its descendants, from /proc. Idle: after
/_stcore/health answers, before any tab connects. Open: when all K tablets have tapped every
item (K sessions open, each with a full draft). rss_per_session_mb = (open - idle) / K; the top
level reports it for the largest K. CPU seconds of the server tree and of the browser tree
(chromium and Playwright's driver, i.e. this process's other descendants) and the machine's
busy share (/proc/stat) over each phase (opening, tapping, submitting) show where the time
goes; `tapping_per_tap` is CPU ms per tap, the browser's split by process (Playwright's
driver; chromium's browser, renderer, gpu and utility processes). The browsers run on the same
cores as the server here, unlike at a meeting where every tablet has its own, so at large K they
take most of the CPU. A renderer's main thread spends ~60 ms of a core here on a tap of any
Streamlit page (a fragment rerun handled by Streamlit's frontend; measured in a Chrome trace)
and ~2 ms more per card on the page, ~75 ms on the ballot's page of ten cards (a tap reruns
only its card's status lines and the progress lines); with its compositor and raster threads
the renderer process takes ~100 ms a tap at the evaluator's pace. With --think-ms 0 (machine
pace) K tablets that each need c ≈ 90 ms of CPU per tap on n cores wait about K·c/n ≈ 0.9 s
per tap at K = 20 on 2 cores, however fast the server is: the ratio then measures the
browsers, not the app.

After the runs the database is read: ballots of the 市场经营户 group (expected: one per tablet of
all runs), `tally.verify` (expected: no problems), and the stored tallies of the group against
what the tablets tapped (expected: equal). ratio = p95 tap → saved at the largest K / at K=1.
Targets: every ballot counted, ratio ≤ 3, RSS per session ≤ 30 MB. Prints one JSON line.

    python bench/tablets.py [--k 1,20] [--items-per-tablet 180] [--think-ms 3000]
                            [--streamlit OPTION=VALUE ...] [--quick] [--keep]

--quick: K = 1 and 4, 12 tapped items per tablet (the rest are put in the code's draft through
`ballots.save_draft` before the page opens, as if tapped on another device), a smoke run of
about a minute a K at the default pace (`--quick --think-ms 0`: seconds).
--streamlit passes a server option to every run (e.g. runner.postScriptGC=false, to see what
Streamlit's full garbage collection after each script run costs); default: the app's config.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
# A throwaway key for hashing the codes, shared with the server through its environment, so the
# bench never touches the app's data directory.
os.environ.setdefault("PINGYI_SECRET_KEY", secrets.token_hex(32))

from appserver import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    ServerDidNotStart,
    app_env,
    free_port,
    running_streamlit,
)
from sqlalchemy import func, select  # noqa: E402
from worlds import build_bureau  # noqa: E402

from pingyi import ballots, bootstrap, codes, db, slips, tally  # noqa: E402
from pingyi.models import Ballot, GroupKey  # noqa: E402
from pingyi.ui.ballot import CARDS_PER_PAGE, card_anchor  # noqa: E402

TABLET = {"width": 768, "height": 1024}
TARGETS_PER_BRANCH = (15, 15)  # 30 grassroots 普通党员, rated by 市场经营户 on 6 criteria each
SCALE = '[data-testid="stButtonGroup"]'
SUBMIT_LABEL = "提交评议"
NEXT_PAGE = "下一页"
THANKS = "谢谢您的评议"
TARGETS = {"ratio": 3.0, "rss_per_session_mb": 30.0}
# An evaluator's pace: read the next item (a criterion of a few characters, about a colleague
# or a neighbour's stall keeper) and choose among five buttons; 1.5–4.5 s, about 9 minutes for
# the 180 items. Each pause is drawn anew, so the tablets do not tap in lockstep.
THINK_MS = 3000
SPREAD = 0.5  # each pause is uniform in THINK_MS · (1 ± SPREAD)

# Installed in every tab before the app's scripts. `arm(kind, n)` before a tap; `wait()` is a
# promise of {tap, done} (performance.now() of the touchstart and of the saved state).
PROBE = """
(() => {
  const s = {kind: null, expect: 0, tap: null, sent: null, reply: null, done: null, resolve: null};
  const chosen = () => {
    const top = document.querySelector('.st-key-ballot_top');
    const m = top && top.textContent.match(/已选\\s*(\\d+)\\s*\\/\\s*(\\d+)/);
    return m ? Number(m[1]) : null;
  };
  const reached = () => s.kind === 'tap'
    ? (chosen() ?? -1) >= s.expect
    : (document.body && document.body.textContent.includes('THANKS'));
  const mark = () => ({tap: s.tap, sent: s.sent, reply: s.reply, done: s.done});
  const check = () => {
    if (s.tap === null || s.done !== null || !reached()) return;
    s.done = performance.now();
    if (s.resolve) s.resolve(mark());
  };
  const touched = () => { if (s.kind !== null && s.tap === null) s.tap = performance.now(); };
  for (const type of ['touchstart', 'pointerdown', 'click'])
    window.addEventListener(type, touched, {capture: true, passive: true});
  new MutationObserver(check)
    .observe(document, {subtree: true, childList: true, characterData: true});
  // The breakdown: the first websocket message sent after the tap, the last one received
  // before the saved state shows.
  const Socket = window.WebSocket;
  const send = Socket.prototype.send;
  Socket.prototype.send = function (data) {
    if (s.tap !== null && s.sent === null) s.sent = performance.now();
    return send.call(this, data);
  };
  window.WebSocket = class extends Socket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', () => {
        if (s.sent !== null && s.done === null) s.reply = performance.now();
      });
    }
  };
  window.__bench = {
    chosen,
    arm(kind, expect) {
      Object.assign(s, {kind, expect, tap: null, sent: null, reply: null, done: null});
      s.resolve = null;
    },
    wait() {
      check();
      if (s.done !== null) return Promise.resolve(mark());
      return new Promise(resolve => { s.resolve = resolve; });
    },
  };
})();
""".replace("THANKS", THANKS)
# Before a tap: scroll the scale button into view if it is not, wait till it has stood still
# for two frames (the page may still be scrolling to a card), arm the probe, and return the
# button's centre for a touch there. One call, no actionability polling: Playwright's own
# locator.tap() costs the tab and the driver ~40 ms of CPU per tap (scrolling, stability
# frames, hit tests), which the 20 tablets' browsers would take from the same cores.
AIM = """async ([sel, row, level, expect]) => {
  const button = document.querySelectorAll(sel)[row].querySelectorAll('[role=radio]')[level];
  const centre = box => [box.left + box.width / 2, box.top + box.height / 2];
  const hit = box => button.contains(document.elementFromPoint(...centre(box)));
  // Off screen, or under the sticky progress line at the top.
  if (!hit(button.getBoundingClientRect())) button.scrollIntoView({block: 'center'});
  const frame = () => new Promise(resolve => requestAnimationFrame(resolve));
  let [still, last] = [0, null];
  for (let frames = 0; still < 2 && frames < 120; frames++) {
    await frame();
    const now = button.getBoundingClientRect();
    still = last && now.top === last.top && now.left === last.left ? still + 1 : 0;
    last = now;
  }
  if (!hit(last)) throw new Error('scale button covered');
  window.__bench.arm('tap', expect);
  return centre(last);
}"""
READY = """([sel, items, anchor]) => document.querySelectorAll(sel).length === items
    && document.getElementById(anchor) !== null
    && window.__bench.chosen() !== null
    && !document.querySelector('[data-testid="stStatusWidget"], [data-testid="stSkeleton"]')"""

# The card's name is near the top, below the sticky progress line (its scroll-margin-top).
SCROLLED = """anchor => {
  const top = document.getElementById(anchor).getBoundingClientRect().top;
  return top >= 0 && top < window.innerHeight / 3;
}"""

# ---- the database, built before any server starts


@dataclass(frozen=True)
class World:
    url: str  # the SQLite URL the servers use
    round_id: int
    group_id: int
    items: tuple[tuple[int, int], ...]  # (target_id, criterion_id), in the page's order
    level_ids: tuple[int, ...]  # 好 较好 一般 差 不了解, the scale buttons' order
    codes: list[str]

    @property
    def pages(self) -> list[tuple[int, int, str]]:
        """(first item, item count, anchor of the first card) of each page of the ballot."""
        targets = list(dict.fromkeys(target for target, _ in self.items))
        found = []
        for first in range(0, len(targets), CARDS_PER_PAGE):
            shown = set(targets[first : first + CARDS_PER_PAGE])
            start = next(i for i, (target, _) in enumerate(self.items) if target in shown)
            count = sum(1 for target, _ in self.items if target in shown)
            found.append((start, count, card_anchor(targets[first])))
        return found


def level_index(tablet: int, item: int, levels: int) -> int:
    return (item + tablet) % levels


def build(directory: Path, tablets: int, tapped: int) -> World:
    """The bureau, one vendors' code per tablet, and, when a tablet taps fewer than all items,
    the rest of its answers in the code's draft."""
    url = f"sqlite:///{directory / 'pingyi.db'}"
    engine = db.make_engine(url)
    bootstrap.initialize(engine)
    with db.transaction(engine) as s:
        bureau = build_bureau(session=s, grassroots=TARGETS_PER_BRANCH, cadres=False)
        group_id = bureau.groups[GroupKey.VENDORS]
        plain = codes.issue(session=s, round_id=bureau.round_id, group_id=group_id, count=tablets)
        form = ballots.ballot_form(session=s, round_id=bureau.round_id, group_id=group_id)
    items = tuple(form.items)
    assert len(form.cards) == 30 and len(items) == 180, (len(form.cards), len(items))
    level_ids = tuple(level.id for level in form.levels)
    if tapped < len(items):
        with db.transaction(engine) as s:
            for tablet, code in enumerate(plain):
                answers = {
                    item: level_ids[level_index(tablet, i, len(level_ids))]
                    for i, item in enumerate(items)
                    if i >= tapped
                }
                ballots.open_code(session=s, code=code)
                ballots.save_draft(session=s, code=code, answers=answers)
    engine.dispose()
    return World(url, bureau.round_id, group_id, items, level_ids, plain)


def check(world: World, tablets: int) -> dict[str, object]:
    """Ballots of the group, tally problems, and the group's tallies against the taps."""
    engine = db.make_engine(world.url)
    try:
        with db.session(engine) as s:
            counted = s.exec(
                select(func.count()).select_from(Ballot).where(Ballot.group_id == world.group_id)  # type: ignore[arg-type]
            ).one()[0]
            problems = tally.verify(session=s, round_id=world.round_id)
            stored = tally.stored(session=s, round_id=world.round_id)
    finally:
        engine.dispose()
    have: Counter[tuple[int, int, int]] = Counter()
    for key, count in stored.items():
        if key.group_id == world.group_id and count:
            have[key.target_id, key.criterion_id, key.level_id] += count
    want: Counter[tuple[int, int, int]] = Counter()
    for tablet in range(tablets):
        for i, (target_id, criterion_id) in enumerate(world.items):
            level = world.level_ids[level_index(tablet, i, len(world.level_ids))]
            want[target_id, criterion_id, level] += 1
    return {
        "ballots_counted": int(counted),
        "ballots_expected": tablets,
        "tally_problems": len(problems),
        "tallies_match_taps": have == want,
    }


# ---- the server and /proc


@contextmanager
def serve(directory: Path, world: World, flags: list[str]) -> Iterator[tuple[str, int]]:
    """`streamlit run app.py` on a free port, on the world's database: (url, pid). `flags`
    are more Streamlit options, as `runner.postScriptGC=false`."""
    port = free_port()
    env = app_env(directory, world.url)
    try:
        with running_streamlit(port, env, directory / f"streamlit-{port}.log", flags) as process:
            yield f"http://127.0.0.1:{port}", process.pid
    except ServerDidNotStart as exc:
        raise SystemExit(str(exc)) from exc


def tree(pid: int) -> list[int]:
    """`pid` and all its living descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
    return found


def rss_mb(pid: int) -> float:
    total_kb = 0
    for each in tree(pid):
        try:
            with open(f"/proc/{each}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for each in pids:
        try:
            with open(f"/proc/{each}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def loadavg() -> list[float]:
    with open("/proc/loadavg") as handle:
        return [float(v) for v in handle.read().split()[:3]]


@dataclass
class Cpu:
    """CPU seconds of the server tree and of the browser tree (this process's descendants
    other than the server), summed over processes alive at each sample."""

    server_pid: int
    server: float = 0.0
    browser: float = 0.0
    kinds: Counter[str] = field(default_factory=Counter)  # browser CPU by process_kind
    _last: dict[int, float] = field(default_factory=dict)

    def sample(self) -> None:
        server = set(tree(self.server_pid))
        for pid in tree(os.getpid())[1:]:
            used = cpu_seconds([pid])
            delta = used - self._last.get(pid, 0.0)
            self._last[pid] = used
            if pid in server:
                self.server += delta
            else:
                self.browser += delta
                self.kinds[process_kind(pid)] += delta


def process_kind(pid: int) -> str:
    """What a browser-side process is: Playwright's driver (node), or chromium's browser,
    renderer, gpu or utility process."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            # Chromium rewrites its argv into one space-separated string.
            argv = handle.read().replace(b"\0", b" ").decode(errors="replace").split()
    except OSError:
        return "gone"
    if argv and Path(argv[0]).name == "node":
        return "driver"
    for arg in argv:
        if arg.startswith("--type="):
            return arg.removeprefix("--type=").split("-")[0]
    return "browser"


# ---- the tablets


@dataclass
class TabletResult:
    taps_ms: list[float] = field(default_factory=list)  # tap → saved
    sent_ms: list[float] = field(default_factory=list)  # tap → first websocket message sent
    reply_ms: list[float] = field(default_factory=list)  # sent → last message received
    drawn_ms: list[float] = field(default_factory=list)  # last received → saved state shown
    turns_ms: list[float] = field(default_factory=list)  # 下一页 → the next page drawn
    submit_ms: float | None = None
    open_ms: float | None = None
    error: str | None = None

    def add(self, mark: dict[str, float | None]) -> None:
        tap, sent, reply, done = (mark[key] for key in ("tap", "sent", "reply", "done"))
        assert tap is not None and done is not None
        self.taps_ms.append(done - tap)
        if sent is not None and reply is not None:
            self.sent_ms.append(sent - tap)
            self.reply_ms.append(reply - sent)
            self.drawn_ms.append(done - reply)


async def turn_page(page, to: tuple[int, int, str]) -> float:  # type: ignore[no-untyped-def]
    """Tap 下一页 and wait till the next page's cards are drawn; the time it took, in ms."""
    began = time.perf_counter()
    await page.get_by_role("button", name=NEXT_PAGE).tap()
    await page.wait_for_function(READY, arg=[SCALE, *to[1:]], polling=50)
    took = (time.perf_counter() - began) * 1000
    # The page then scrolls its first card to the top (`_into_view`): no tap before it has.
    await page.wait_for_function(SCROLLED, arg=to[2], polling=50)
    return took


GATES = 4  # all opened · all tapped (twice: the RSS is read between) · all thanked


async def tablet(  # type: ignore[no-untyped-def]
    browser,
    url: str,
    number: int,
    world: World,
    tapped: int,
    think_ms: int,
    timeout_s: float,
    gate: asyncio.Barrier,
) -> TabletResult:
    """One tablet: open the QR link, tap `tapped` items, submit. It waits at `gate` (shared with
    the other tablets and the run) when opened, when all is tapped and when thanked."""
    result = TabletResult()
    passed = 0

    async def through_gate() -> None:
        nonlocal passed
        passed += 1
        await gate.wait()

    context = await browser.new_context(
        viewport=TABLET, has_touch=True, is_mobile=True, locale="zh-CN"
    )
    try:
        await context.add_init_script(PROBE)
        page = await context.new_page()
        page.set_default_timeout(timeout_s * 1000)
        began = time.perf_counter()
        await page.goto(slips.ballot_url(world.codes[number], url))
        pages, shown = world.pages, 0
        await page.wait_for_function(READY, arg=[SCALE, *pages[0][1:]], polling=100)
        result.open_ms = (time.perf_counter() - began) * 1000
        start = await page.evaluate("() => window.__bench.chosen()")
        assert start == len(world.items) - tapped, (start, tapped)
        await through_gate()  # every tablet starts tapping with every ballot open
        levels = len(world.level_ids)
        pace = random.Random(number)  # each tablet its own evaluator's rhythm, the same each run
        for i in range(tapped):
            if shown + 1 < len(pages) and i >= pages[shown + 1][0]:
                shown += 1
                result.turns_ms.append(await turn_page(page, pages[shown]))
            on_page = i - pages[shown][0]
            where = [SCALE, on_page, level_index(number, i, levels), start + i + 1]
            x, y = await page.evaluate(AIM, where)
            await page.touchscreen.tap(x, y)
            result.add(
                await asyncio.wait_for(page.evaluate("() => window.__bench.wait()"), timeout_s)
            )
            if think_ms:
                await asyncio.sleep(pace.uniform(1 - SPREAD, 1 + SPREAD) * think_ms / 1000)
        await through_gate()  # the RSS with K full sessions is read here
        await through_gate()
        button = page.get_by_role("button", name=SUBMIT_LABEL)
        await button.scroll_into_view_if_needed()
        await page.evaluate("() => window.__bench.arm('submit', 0)")
        await button.tap()
        mark = await asyncio.wait_for(page.evaluate("() => window.__bench.wait()"), timeout_s)
        result.submit_ms = mark["done"] - mark["tap"]
    except Exception as exc:  # reported in the JSON; the other tablets go on
        result.error = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
    finally:
        while passed < GATES:  # every session stays open till all are thanked
            await through_gate()
        await context.close()
    return result


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


@dataclass
class Reading:
    """CPU and the clock at one gate of a run."""

    at: float
    server_cpu: float
    browser_cpu: float
    busy: int
    ticks: int
    kinds: dict[str, float]

    @classmethod
    def take(cls, cpu: Cpu) -> Reading:
        cpu.sample()
        busy, ticks = machine_ticks()
        return cls(time.perf_counter(), cpu.server, cpu.browser, busy, ticks, dict(cpu.kinds))

    def since(self, earlier: Reading, per: int = 1) -> dict[str, float]:
        """Seconds, CPU seconds and the machine's busy share; CPU ms per unit when per > 1."""
        server, browser = (
            self.server_cpu - earlier.server_cpu,
            self.browser_cpu - earlier.browser_cpu,
        )
        if per > 1:
            kinds = {
                kind: round((used - earlier.kinds.get(kind, 0.0)) * 1000 / per, 1)
                for kind, used in sorted(self.kinds.items())
            }
            return {
                "server_cpu_ms": round(server * 1000 / per, 1),
                "browser_cpu_ms": round(browser * 1000 / per, 1),
                "browser_cpu_ms_by_process": kinds,
            }
        busy = (self.busy - earlier.busy) / max(1, self.ticks - earlier.ticks)
        return {
            "wall_s": round(self.at - earlier.at, 1),
            "server_cpu_s": round(server, 1),
            "browser_cpu_s": round(browser, 1),
            "machine_busy": round(busy, 3),
        }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def run_k(
    directory: Path,
    world: World,
    first: int,
    k: int,
    tapped: int,
    think_ms: int,
    timeout_s: float,
    flags: list[str],
) -> dict[str, object]:
    """K tablets on a fresh server, with the world's codes first … first + k - 1."""
    from playwright.async_api import async_playwright

    with serve(directory, world, flags) as (url, server_pid):
        time.sleep(1)  # let the fresh server settle before the idle reading
        idle = rss_mb(server_pid)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            cpu = Cpu(server_pid)
            load0 = loadavg()
            start = Reading.take(cpu)
            gate = asyncio.Barrier(k + 1)
            tasks = [
                asyncio.create_task(
                    tablet(browser, url, j, world, tapped, think_ms, timeout_s, gate)
                )
                for j in range(first, first + k)
            ]
            peak = idle

            async def watch() -> None:  # the peak RSS, and CPU of processes that may end
                nonlocal peak
                while True:
                    peak = max(peak, rss_mb(server_pid))
                    cpu.sample()
                    await asyncio.sleep(1)

            watcher = asyncio.create_task(watch())
            await gate.wait()
            opened = Reading.take(cpu)
            await gate.wait()
            open_rss = rss_mb(server_pid)
            tapping_done = Reading.take(cpu)
            load1 = loadavg()
            await gate.wait()
            await gate.wait()
            thanked = Reading.take(cpu)
            after = rss_mb(server_pid)
            results = await asyncio.gather(*tasks)
            watcher.cancel()
            await browser.close()

    def all_of(name: str) -> list[float]:
        return [ms for r in results for ms in getattr(r, name)]

    taps = all_of("taps_ms")
    submits = [r.submit_ms for r in results if r.submit_ms is not None]
    opens = [r.open_ms for r in results if r.open_ms is not None]
    errors = [f"tablet {first + j}: {r.error}" for j, r in enumerate(results) if r.error]
    return {
        "tablets": k,
        "taps": len(taps),
        "taps_expected": k * tapped,
        "tap_p50_ms": _ms(percentile(taps, 50)),
        "tap_p95_ms": _ms(percentile(taps, 95)),
        "tap_max_ms": _ms(max(taps, default=None)),
        "submit_p95_ms": _ms(percentile(submits, 95)),
        "submit_max_ms": _ms(max(submits, default=None)),
        "submits": len(submits),
        "open_p95_ms": _ms(percentile(opens, 95)),
        "page_turn_p50_ms": _ms(percentile(all_of("turns_ms"), 50)),
        "page_turn_p95_ms": _ms(percentile(all_of("turns_ms"), 95)),
        # Where a tap's time goes (p50 / p95 of each part, ms): "sent", the browser until it
        # sends the widget change; "reply", until the last websocket message that came before
        # the saved state showed (the server's callback and fragment reruns, the network and
        # any wait for the tab's busy main thread); "drawn", the browser drawing it.
        "tap_parts_ms": {
            part: [
                _ms(percentile(all_of(f"{part}_ms"), 50)),
                _ms(percentile(all_of(f"{part}_ms"), 95)),
            ]
            for part in ("sent", "reply", "drawn")
        },
        "rss_idle_mb": round(idle, 1),
        "rss_open_mb": round(open_rss, 1),
        "rss_peak_mb": round(peak, 1),
        "rss_after_submit_mb": round(after, 1),
        "rss_per_session_mb": round((open_rss - idle) / k, 2),
        "opening": opened.since(start),
        "tapping": tapping_done.since(opened),
        "tapping_per_tap": tapping_done.since(opened, per=max(1, len(taps))),
        "submitting": thanked.since(tapping_done),
        "loadavg_start": load0,
        "loadavg_end_of_tapping": load1,
        "wall_s": round(thanked.at - start.at, 1),
        "errors": errors[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default="1,20", help="tablet counts, one server each (default 1,20)")
    parser.add_argument(
        "--items-per-tablet",
        type=int,
        default=180,
        help="items tapped per tablet (default: all 180)",
    )
    parser.add_argument(
        "--think-ms",
        type=int,
        default=THINK_MS,
        help=f"mean pause after a saved tap, ±{SPREAD * 100:.0f}%% (default {THINK_MS}; 0: none)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds allowed for one step (open, tap)"
    )
    parser.add_argument(
        "--streamlit",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="a Streamlit server option for the runs, e.g. runner.postScriptGC=false (repeatable)",
    )
    parser.add_argument("--quick", action="store_true", help="K = 1,4 and 12 tapped items")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    args = parser.parse_args()
    ks = [1, 4] if args.quick else [int(k) for k in args.k.split(",")]
    tapped = 12 if args.quick else args.items_per_tablet
    if not 1 <= tapped <= 180:
        parser.error("--items-per-tablet is 1..180")

    began = time.perf_counter()
    load0 = loadavg()
    tmp = Path(tempfile.mkdtemp(prefix="pingyi-bench-tablets-"))
    try:
        world = build(tmp, sum(ks), tapped)
        runs: dict[str, dict[str, object]] = {}
        offset = 0
        for k in ks:
            runs[f"k{k}"] = asyncio.run(
                run_k(tmp, world, offset, k, tapped, args.think_ms, args.timeout, args.streamlit)
            )
            offset += k
        counts = check(world, sum(ks))
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    low, high = runs[f"k{min(ks)}"], runs[f"k{max(ks)}"]
    ratio = (
        round(high["tap_p95_ms"] / low["tap_p95_ms"], 2)  # type: ignore[operator]
        if high["tap_p95_ms"] and low["tap_p95_ms"]
        else None
    )
    rss = high["rss_per_session_mb"]
    met = {
        "all_ballots_counted": counts["ballots_counted"] == counts["ballots_expected"]
        and counts["tally_problems"] == 0
        and counts["tallies_match_taps"],
        "ratio": ratio is not None and ratio <= TARGETS["ratio"],
        "rss_per_session": rss <= TARGETS["rss_per_session_mb"],  # type: ignore[operator]
    }
    print(
        json.dumps(
            {
                "bench": "tablets",
                **runs,
                **counts,
                "rss_per_session_mb": rss,
                "ratio": ratio,
                "targets": {
                    "ratio_max": TARGETS["ratio"],
                    "rss_per_session_mb_max": TARGETS["rss_per_session_mb"],
                },
                "met": met,
                "items_per_tablet": tapped,
                "think_ms": args.think_ms,
                "think_spread": SPREAD if args.think_ms else 0,
                "streamlit_options": args.streamlit,
                "cpus": os.cpu_count(),
                "loadavg_before": load0,
                "loadavg_after": loadavg(),
                "wall_s": round(time.perf_counter() - began, 1),
                "quick": args.quick,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
