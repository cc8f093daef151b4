"""Tablets at a meeting: K headless chromium tablets each tap through a 30-target ballot at once.

One `streamlit run app.py` per K (a fresh process, so its idle RSS is measured before any
session) on one SQLite database in a temporary directory. The database is built before the
first server starts, through the app's own functions: `worlds.build_bureau(grassroots=(15, 15),
cadres=False)` gives 30 grassroots 普通党员 that 市场经营户 rate on 6 criteria each (30 cards,
180 items), and `codes.issue` one 市场经营户 code per tablet. Each tablet is its own browser
context (768×1024, touch, zh-CN) of one Debian chromium driven by Playwright's async API; the K
tablets of a run work concurrently. A tablet opens the QR link (`slips.ballot_url`); once all
K ballots are drawn they start together, and each taps one scale button per item in page order
(tablet j taps level (i + j) mod 5 of item i: every level, 不了解 included), waits till the
choice is drawn, and taps 下一页 after the last item of each page of ten cards
(`CARDS_PER_PAGE`: 3 pages). Before each tap or page turn an evaluator pauses (`THINK_MS` ±
`SPREAD`: 1.5–4.5 s, --think-ms), the pauses of each tablet drawn before the run from a
generator seeded with its number, so the tablets do not tap in lockstep and every run has the
same ones. A tap is a touch at the button's centre (`page.touchscreen.tap`), aimed by one
script in the page (`window.__bench.item`). When every tablet of the run has tapped all its
items, the server's RSS is taken and all K tap 提交评议 together (the end of a meeting); the
contexts stay open till all are thanked.

The ballot is the ballot element (pingyi/ui/ballot_element.js, in an open shadow root): a tap
is drawn in the browser and kept in its localStorage, and nothing goes to the server until
提交评议 sends the whole ballot as one Streamlit trigger. So there is no "tap → saved" any
more: a tap costs the server nothing, which `tapping` (server CPU) and
`ws_messages_while_tapping` (websocket messages the pages sent between the first tap and the
last; expected 0) show.

Measured in the page by `PROBE`, an init script in every tab, shared with bench/ballot_taps.py
(performance.now(), one clock per tab; no Python sleep or polling is in these figures):
- tap → drawn: from the touch, i.e. performance.now() in the first capture-phase touchstart or
  pointerdown listener on the window, until the first frame after the tapped button's
  aria-checked became "true". The element takes a finger's tap at its pointerup and sets
  aria-checked synchronously there; a MutationObserver on that button (in the element's
  shadow root) sees it, then a requestAnimationFrame callback posts a MessageChannel message,
  which runs once that frame's style, layout and paint are done on the main thread: "drawn"
  is then. p50, p95, max over all taps of all tablets of the run. `tap_parts_ms` splits it
  (p50, p95): "up", the touch till its pointerup reaches the page (the touchend);
  "handler", the element's pointerup handler (the choice, the card's line, the progress,
  localStorage); "frame", the change till drawn. `tap_input_delay_ms` is what comes before:
  from the touch event's own timeStamp (when it reached the page) to that first listener;
- page turn: from the touch on 下一页 to the frame after the next page's cards replaced the
  old ones, likewise;
- submit → thanks: from the touch on 提交评议 to the frame after the page's text first contains
  谢谢您的评议 (the ballot sent, stored by `ballots.submit_with_retry`, the page drawn); p95 and
  max;
- open (informative): from the navigation start of the QR link (performance.now() = 0) until
  the element shows the first page's item rows and no script run is in flight, polled every
  50 ms.
Server RSS: the resident set of the streamlit process and all its descendants (psutil). Idle:
after /_stcore/health answers, before any tab connects. Open: when all K tablets have tapped every
item (K sessions open, each holding its ballot's form; the answers are in the browsers).
rss_per_session_mb = (open - idle) / K; the top level reports it for the largest K. CPU seconds
of the server tree and of the browser tree (chromium and Playwright's driver, i.e. this
process's other descendants) and the machine's busy share (psutil.cpu_times) over each phase
(opening, tapping, submitting) show where the time goes; `tapping_per_tap` is CPU ms per tap,
the browser's split by process (Playwright's driver; chromium's browser, renderer, gpu and
utility processes). The browsers run on the same cores as the server here, unlike at a
meeting where every tablet has its own, so at large K they take most of the CPU, and with
--think-ms 0 (machine pace) tap → drawn at K = 20 measures 20 browsers on the machine's cores.

After the runs the database is read: ballots of the 市场经营户 group (expected: one per tablet of
all runs), `tally.verify` (expected: no problems), and the stored tallies of the group against
what the tablets tapped (expected: equal). ratio = p95 tap → drawn at the largest K / at K=1,
informative now that a tap never reaches the server. Targets: every ballot counted (and the
tallies equal the taps), RSS per session ≤ 30 MB. Prints one JSON line.

    python bench/tablets.py [--k 1,20] [--items-per-tablet 180] [--think-ms 3000]
                            [--streamlit OPTION=VALUE ...] [--quick] [--keep]

--items-per-tablet N: each tablet taps the first N items; the others are written into its
localStorage record of the code before the ballot opens (as if tapped earlier on that device),
so the ballot can still be submitted. --quick: K = 1 and 4, 12 tapped items per tablet, a smoke
run of about a minute a K at the default pace (`--quick --think-ms 0`: seconds).
--streamlit passes a server option to every run (e.g. runner.postScriptGC=false); default: the
app's config.
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
# A throwaway key for hashing the codes, shared with the server through its environment, so the
# bench never touches the app's data directory.
os.environ.setdefault("PINGYI_SECRET_KEY", secrets.token_hex(32))

import psutil  # noqa: E402
from appserver import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    ServerDidNotStart,
    app_env,
    free_port,
    running_streamlit,
)
from ballotdevice import FIND_ROOT, STORE  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from worlds import build_bureau  # noqa: E402

from pingyi import ballots, bootstrap, codes, db, evaluation, slips, tally  # noqa: E402
from pingyi.demo import DEMO_ROUND  # noqa: E402
from pingyi.models import Ballot, GroupKey  # noqa: E402
from pingyi.ui.ballot import CARDS_PER_PAGE  # noqa: E402

TABLET = {"width": 768, "height": 1024}
TARGETS_PER_BRANCH = (15, 15)  # 30 grassroots 普通党员, rated by 市场经营户 on 6 criteria each
THANKS = "谢谢您的评议"
TARGETS = {"rss_per_session_mb": 30.0}
# An evaluator's pace: read the next item (a criterion of a few characters, about a colleague
# or a neighbour's stall keeper) and choose among five buttons; 1.5–4.5 s, about 9 minutes for
# the 180 items.
THINK_MS = 3000
SPREAD = 0.5  # each pause is uniform in think_ms · (1 ± SPREAD)

# ---- the measurement in the page, shared with bench/ballot_taps.py

# Installed in every tab before the app's scripts (`context.add_init_script`). Aiming scripts
# (`item`, `turn`, `send`) bring a button of the ballot element into view, wait till it stands
# still, arm the probe with what its touch must change, and return the button's centre for a
# touch there; `wait()` is a promise of the marks (performance.now()) of the touch (its
# timeStamp), of the first listener that saw it, of its pointerup, of the change and of the frame
# after it.
PROBE = (
    """
(() => {
"""
    + FIND_ROOT
    + """
  const s = {armed: false, touch: null, handler: null, up: null, changed: null, drawn: null,
             observer: null, resolve: null, sends: 0};
  const marks = () => ({touch: s.touch, handler: s.handler, up: s.up, changed: s.changed,
                        drawn: s.drawn});
  // The touch: its timeStamp is when it reached the page, however busy the main thread was.
  const touched = event => {
    if (!s.armed || s.touch !== null) return;
    s.handler = performance.now();
    const stamp = event.timeStamp;
    s.touch = stamp > 0 && stamp <= s.handler ? stamp : s.handler;
  };
  for (const type of ['touchstart', 'pointerdown'])
    window.addEventListener(type, touched, {capture: true, passive: true});
  // The end of the touch, at which the element takes the tap.
  window.addEventListener('pointerup', () => {
    if (s.armed && s.touch !== null && s.up === null) s.up = performance.now();
  }, {capture: true, passive: true});
  // The frame after a change: rAF runs before the frame's style, layout and paint; a message
  // posted from it runs after them.
  const painted = () => requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      s.drawn = performance.now();
      s.armed = false;
      if (s.resolve) s.resolve(marks());
    };
    channel.port2.postMessage(null);
  });
  const arm = (target, options, test) => {
    if (s.observer) s.observer.disconnect();
    Object.assign(s, {armed: true, touch: null, handler: null, up: null, changed: null,
                      drawn: null, resolve: null});
    s.observer = new MutationObserver(() => {
      if (s.changed !== null || !test()) return;
      s.changed = performance.now();
      s.observer.disconnect();
      painted();
    });
    s.observer.observe(target, options);
  };
  const frame = () => new Promise(resolve => requestAnimationFrame(resolve));
  // One call, no actionability polling: Playwright's own locator.tap() costs the tab and the
  // driver ~40 ms of CPU per tap (scrolling, stability frames, hit tests), which the tablets'
  // browsers would take from the same cores. Scrolled only when the centre does not take a
  // touch (off screen, or under the element's sticky progress bar or Streamlit's header).
  const aim = async button => {
    const centre = box => [box.left + box.width / 2, box.top + box.height / 2];
    const hit = box => {
      const top = button.getRootNode().elementFromPoint(...centre(box));
      return top !== null && button.contains(top);
    };
    if (!hit(button.getBoundingClientRect())) button.scrollIntoView({block: 'center'});
    let [still, last] = [0, null];
    for (let frames = 0; still < 2 && frames < 120; frames++) {
      await frame();
      const now = button.getBoundingClientRect();
      still = last && now.top === last.top && now.left === last.left ? still + 1 : 0;
      last = now;
    }
    if (!hit(last)) throw new Error('the button does not take a touch at its centre');
    return centre(last);
  };
  // The websocket messages the page sends (Streamlit's only channel to its server).
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    s.sends += 1;
    return send.call(this, data);
  };
  // Chrome's own measure of each tap (Event Timing): from the touch's time stamp to the
  // next frame presented, in steps of 8 ms; only those of 16 ms and more are reported.
  const presented = [];
  try {
    new PerformanceObserver(list => {
      for (const entry of list.getEntries())
        if (entry.name === 'pointerup') presented.push([entry.startTime, entry.duration]);
    }).observe({type: 'event', durationThreshold: 16, buffered: true});
  } catch (e) { /* no Event Timing: the cross-check is left out */ }
  window.__bench = {
    presented: () => presented,
    rows: () => findRoot()?.querySelectorAll('.scale').length ?? 0,
    progress: () => findRoot()?.querySelector('.bar .count')?.textContent ?? '',
    sends: () => s.sends,
    async item(row, level) {
      const button = findRoot().querySelectorAll('.scale')[row].querySelectorAll('button')[level];
      const at = await aim(button);
      arm(button, {attributes: true, attributeFilter: ['aria-checked']},
          () => button.getAttribute('aria-checked') === 'true');
      return at;
    },
    async turn() {
      const root = findRoot();
      const button = root.querySelector('.turn.forward');
      if (button.disabled) throw new Error('no next page');
      const at = await aim(button);
      arm(root.querySelector('.cards'), {childList: true}, () => true);
      return at;
    },
    async send() {
      const at = await aim(findRoot().querySelector('.send'));
      arm(document.body, {childList: true, subtree: true, characterData: true},
          () => document.body.textContent.includes('THANKS'));
      return at;
    },
    wait() {
      if (s.drawn !== null) return Promise.resolve(marks());
      return new Promise(resolve => { s.resolve = resolve; });
    },
  };
})();
""".replace("THANKS", THANKS)
)
# The element shows the first page's `rows` item rows and no script run is in flight: the time.
READY = """rows => window.__bench.rows() === rows && window.__bench.progress() !== ''
    && !document.querySelector('[data-testid="stStatusWidget"], [data-testid="stSkeleton"]')
    && performance.now()"""


@dataclass(frozen=True)
class Mark:
    """performance.now() in the page: the touch's own time stamp, the first listener that saw
    it, its pointerup, the change the element made there, and the frame drawn after it."""

    touch: float
    handler: float
    up: float
    changed: float
    drawn: float

    @classmethod
    def of(cls, marks: Mapping[str, float | None]) -> Mark:
        values = [marks.get(key) for key in ("touch", "handler", "up", "changed", "drawn")]
        if any(value is None for value in values):
            raise RuntimeError(f"a change without a touch and its pointerup: {dict(marks)}")
        return cls(*values)  # type: ignore[arg-type]

    @property
    def total_ms(self) -> float:
        """From the first listener that saw the touch to the frame drawn after the change."""
        return self.drawn - self.handler

    @property
    def input_ms(self) -> float:
        """Before that listener: from the touch's time stamp (when it reached the page)."""
        return self.handler - self.touch

    def parts_ms(self) -> dict[str, float]:
        """`total_ms` in turn: "up", the touch till its pointerup reaches the page; "handler",
        the pointerup's handlers till the change; "frame", from the change till the frame
        after it is drawn."""
        return {
            "up": self.up - self.handler,
            "handler": self.changed - self.up,
            "frame": self.drawn - self.changed,
        }


PARTS = ("up", "handler", "frame")


class NotDrawn(TimeoutError):
    """A touch whose change never came: a tap lost (or a submit never thanked)."""


async def new_tablet(browser: Any, viewport: Mapping[str, int]) -> tuple[Any, Any]:
    """A touch device of its own (context, page), the probe in every page it loads."""
    context = await browser.new_context(
        viewport=dict(viewport), has_touch=True, is_mobile=True, locale="zh-CN"
    )
    await context.add_init_script(PROBE)
    return context, await context.new_page()


async def prefill(page: Any, base_url: str, code: str, answers: Mapping[str, int]) -> None:
    """Write the code's record into the device's localStorage before its ballot opens, as the
    element keeps it (`answers`: "target:criterion" → level id), as if tapped earlier on this
    device. The page goes to the server's health URL first: same origin, no app."""
    await page.goto(f"{base_url}/_stcore/health")
    await page.evaluate(
        "([key, record]) => localStorage.setItem(key, JSON.stringify(record))",
        [STORE + code, {"answers": dict(answers), "comments": {}}],
    )


async def open_ballot(page: Any, url: str, rows: int, timeout_s: float) -> float:
    """Go to the QR link; ms from its navigation start till the first page's `rows` item rows
    are drawn and no script run is in flight."""
    await page.goto(url)
    shown = await page.wait_for_function(READY, arg=rows, polling=50, timeout=timeout_s * 1000)
    return float(await shown.json_value())


async def touch(page: Any, aim: str, arg: object, timeout_s: float) -> Mark:
    """Aim (one script in the page, which arms the probe), touch there, wait for the frame."""
    x, y = await page.evaluate(aim, arg)
    await page.touchscreen.tap(x, y)
    try:
        marks = await asyncio.wait_for(page.evaluate("() => window.__bench.wait()"), timeout_s)
    except TimeoutError as exc:
        raise NotDrawn(
            f"nothing drawn {timeout_s:g} s after a touch at ({x:.0f}, {y:.0f})"
        ) from exc
    return Mark.of(marks)


async def tap_item(page: Any, row: int, level: int, timeout_s: float) -> Mark:
    """Tap scale button `level` of item row `row` of the page shown: tap → choice drawn."""
    return await touch(
        page, "([row, level]) => window.__bench.item(row, level)", [row, level], timeout_s
    )


async def turn_page(page: Any, rows: int, timeout_s: float) -> Mark:
    """Tap 下一页: touch → the next page's cards drawn (and they must have `rows` item rows)."""
    mark = await touch(page, "() => window.__bench.turn()", None, timeout_s)
    shown = await page.evaluate("() => window.__bench.rows()")
    if shown != rows:
        raise RuntimeError(f"the page turned to has {shown} item rows, not {rows}")
    return mark


async def submit_ballot(page: Any, timeout_s: float) -> Mark:
    """Tap 提交评议: touch → 谢谢您的评议 drawn."""
    return await touch(page, "() => window.__bench.send()", None, timeout_s)


async def device_record(page: Any, code: str) -> dict[str, Any] | None:
    """The element's record of the code in this device's localStorage, or None."""
    return await page.evaluate(  # type: ignore[no-any-return]
        "key => { const raw = localStorage.getItem(key); return raw ? JSON.parse(raw) : null; }",
        STORE + code,
    )


async def progress(page: Any) -> str:
    """The element's progress line: 已完成 n/N 张 · 已选 m/M 项."""
    return str(await page.evaluate("() => window.__bench.progress()"))


async def ws_sends(page: Any) -> int:
    """Websocket messages the page has sent since it loaded."""
    return int(await page.evaluate("() => window.__bench.sends()"))


def item_key(item: tuple[int, int]) -> str:
    """An item as the element keys its answers: "target:criterion"."""
    return f"{item[0]}:{item[1]}"


def level_index(tablet: int, item: int, levels: int) -> int:
    return (item + tablet) % levels


def page_spans(card_sizes: Sequence[int], per_page: int = CARDS_PER_PAGE) -> list[tuple[int, int]]:
    """(first item, item rows) of each page, as the element pages the cards."""
    spans, first = [], 0
    for start in range(0, len(card_sizes), per_page):
        rows = sum(card_sizes[start : start + per_page])
        spans.append((first, rows))
        first += rows
    return spans


@dataclass(frozen=True)
class Step:
    """One move of an evaluator: tap `item` (its `row` on the page shown) or turn to page
    `page`; after a pause of `pause_s`."""

    pause_s: float
    page: int
    item: int | None = None
    row: int = 0


def plan(
    spans: Sequence[tuple[int, int]], tapped: Sequence[int], think_ms: float, seed: int
) -> list[Step]:
    """The taps of `tapped` (item indices, ascending) with the page turns they need, each
    after a pause uniform in think_ms · (1 ± SPREAD), drawn now: fixed before any measuring."""
    pace = random.Random(seed)

    def pause() -> float:
        return pace.uniform(1 - SPREAD, 1 + SPREAD) * think_ms / 1000 if think_ms else 0.0

    steps, shown = [], 0
    for item in sorted(tapped):
        on = max(p for p, (first, _) in enumerate(spans) if first <= item)
        while shown < on:
            shown += 1
            steps.append(Step(pause(), shown))
        steps.append(Step(pause(), shown, item, item - spans[shown][0]))
    return steps


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def round_ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# ---- the database, built before any server starts


@dataclass(frozen=True)
class World:
    url: str  # the SQLite URL the servers use
    round_id: int
    group_id: int
    items: tuple[tuple[int, int], ...]  # (target_id, criterion_id), in the page's order
    card_sizes: tuple[int, ...]  # items per card, in the page's order
    level_ids: tuple[int, ...]  # 好 较好 一般 差 不了解, the scale buttons' order
    codes: list[str]

    @property
    def pages(self) -> list[tuple[int, int]]:
        return page_spans(self.card_sizes)

    def answers(self, tablet: int) -> dict[tuple[int, int], int]:
        """Tablet `tablet`'s whole ballot, item → level id."""
        levels = len(self.level_ids)
        return {
            item: self.level_ids[level_index(tablet, i, levels)]
            for i, item in enumerate(self.items)
        }


ITEMIZED_ROUND = "2027年第一季度领导点评和群众评议(分项)"


def itemized_demo(cli: Callable[..., object]) -> None:
    """The demo bureau with a current round on the 方案's forms: every group 分项, the vendors'
    80 cards with every criterion (the demo's own round has them rate 总体). Through the CLI
    `cli(*args)`: the demo, its round ended untouched, a new round made and opened."""
    cli("demo", "--no-history")
    cli("round", "step", "--round", DEMO_ROUND, "已结束")
    cli("round", "create", ITEMIZED_ROUND, "--quarter", "2027Q1")
    cli("round", "open", "--round", ITEMIZED_ROUND)


def build(directory: Path, tablets: int) -> World:
    """The bureau and one vendors' code per tablet."""
    url = f"sqlite:///{directory / 'pingyi.db'}"
    engine = db.make_engine(url)
    bootstrap.initialize(engine)
    with db.transaction(engine) as s:
        bureau = build_bureau(session=s, grassroots=TARGETS_PER_BRANCH, cadres=False)
        group_id = bureau.groups[GroupKey.VENDORS]
        plain = codes.issue(
            actor="性能测试", session=s, round_id=bureau.round_id, group_id=group_id, count=tablets
        )
        form = ballots.ballot_form(session=s, round_id=bureau.round_id, group_id=group_id)
    engine.dispose()
    items = tuple(form.items)
    assert len(form.cards) == 30 and len(items) == 180, (len(form.cards), len(items))
    return World(
        url,
        bureau.round_id,
        group_id,
        items,
        tuple(len(card.criteria) for card in form.cards),
        tuple(level.id for level in form.levels),
        plain,
    )


def check(world: World, tablets: int) -> dict[str, object]:
    """Ballots of the group, tally problems, and the group's tallies against the taps."""
    engine = db.make_engine(world.url)
    try:
        # 开箱计票, as the office ends the group's evaluation: the ballots counted once each.
        evaluation.close(engine, round_id=world.round_id, group_id=world.group_id)
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
        for (target_id, criterion_id), level in world.answers(tablet).items():
            want[target_id, criterion_id, level] += 1
    return {
        "ballots_counted": int(counted),
        "ballots_expected": tablets,
        "tally_problems": len(problems),
        "tallies_match_taps": have == want,
    }


# ---- the server and its processes (psutil)


@contextmanager
def serve(directory: Path, database_url: str, flags: list[str]) -> Iterator[tuple[str, int]]:
    """`streamlit run app.py` on a free port, on `database_url`: (url, pid). `flags` are more
    Streamlit options, as `runner.postScriptGC=false`."""
    port = free_port()
    env = app_env(directory, database_url)
    try:
        with running_streamlit(port, env, directory / f"streamlit-{port}.log", flags) as process:
            yield f"http://127.0.0.1:{port}", process.pid
    except ServerDidNotStart as exc:
        raise SystemExit(str(exc)) from exc


def tree(pid: int) -> list[psutil.Process]:
    """`pid` and all its living descendants."""
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.Error:  # gone, or not ours to read
        return []


def rss_mb(pid: int) -> float:
    total = 0
    for process in tree(pid):
        with suppress(psutil.Error):
            total += process.memory_info().rss
    return total / 2**20


def cpu_seconds(process: psutil.Process) -> float:
    """User and system CPU seconds of one process; 0 once it is gone."""
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def machine_times() -> tuple[float, float]:
    """(busy, total) CPU seconds of all CPUs since boot."""
    times = psutil.cpu_times()
    total = sum(times)
    return total - times.idle - getattr(times, "iowait", 0.0), total


def loadavg() -> list[float]:
    return [round(v, 2) for v in psutil.getloadavg()]


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
        server = {process.pid for process in tree(self.server_pid)}
        for process in tree(os.getpid())[1:]:
            used = cpu_seconds(process)
            delta = used - self._last.get(process.pid, 0.0)
            self._last[process.pid] = used
            if process.pid in server:
                self.server += delta
            else:
                self.browser += delta
                self.kinds[process_kind(process)] += delta


def process_kind(process: psutil.Process) -> str:
    """What a browser-side process is: Playwright's driver (node), or chromium's browser,
    renderer, gpu or utility process."""
    try:
        # Chromium rewrites its argv into one space-separated string.
        argv = " ".join(process.cmdline()).split()
    except psutil.Error:
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
    taps_ms: list[float] = field(default_factory=list)  # tap → drawn
    input_ms: list[float] = field(default_factory=list)  # touch's time stamp → listener
    parts_ms: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PARTS})
    turns_ms: list[float] = field(default_factory=list)  # 下一页 → the next page drawn
    submit_ms: float | None = None
    open_ms: float | None = None
    sends: int = 0  # websocket messages sent between the first tap and the last
    error: str | None = None

    def add(self, mark: Mark) -> None:
        self.taps_ms.append(mark.total_ms)
        self.input_ms.append(mark.input_ms)
        for part, ms in mark.parts_ms().items():
            self.parts_ms[part].append(ms)


GATES = 4  # all opened · all tapped (twice: the RSS is read between) · all thanked


async def tablet(
    browser: Any,
    url: str,
    number: int,
    world: World,
    tapped: int,
    think_ms: int,
    timeout_s: float,
    gate: asyncio.Barrier,
) -> TabletResult:
    """One tablet: open the QR link, tap the first `tapped` items (the others are in its
    localStorage already), submit. It waits at `gate` (shared with the other tablets and the
    run) when opened, when all is tapped and when thanked."""
    result = TabletResult()
    passed = 0

    async def through_gate() -> None:
        nonlocal passed
        passed += 1
        await gate.wait()

    code = world.codes[number]
    answers = world.answers(number)
    levels = {level: i for i, level in enumerate(world.level_ids)}
    steps = plan(world.pages, range(tapped), think_ms, seed=number)
    context, page = await new_tablet(browser, TABLET)
    try:
        page.set_default_timeout(timeout_s * 1000)
        if tapped < len(world.items):
            rest = {item_key(item): answers[item] for item in world.items[tapped:]}
            await prefill(page, url, code, rest)
        result.open_ms = await open_ballot(
            page, slips.ballot_url(code, url), world.pages[0][1], timeout_s
        )
        await through_gate()  # every tablet starts tapping with every ballot open
        sent = await ws_sends(page)
        for step in steps:
            if step.pause_s:
                await asyncio.sleep(step.pause_s)
            if step.item is None:
                rows = world.pages[step.page][1]
                result.turns_ms.append((await turn_page(page, rows, timeout_s)).total_ms)
                continue
            level = levels[answers[world.items[step.item]]]
            result.add(await tap_item(page, step.row, level, timeout_s))
        result.sends = await ws_sends(page) - sent
        shown = await progress(page)
        items = len(world.items)
        if f"已选 {items}/{items} 项" not in shown:
            raise RuntimeError(f"progress after the taps: {shown}")
        await through_gate()  # the RSS with K full sessions is read here
        await through_gate()
        result.submit_ms = (await submit_ballot(page, timeout_s)).total_ms
    except Exception as exc:  # reported in the JSON; the other tablets go on
        result.error = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
    finally:
        while passed < GATES:  # every session stays open till all are thanked
            await through_gate()
        await context.close()
    return result


@dataclass
class Reading:
    """CPU and the clock at one gate of a run."""

    at: float
    server_cpu: float
    browser_cpu: float
    busy: float  # CPU seconds of all CPUs, busy and in all, since boot
    total: float
    kinds: dict[str, float]

    @classmethod
    def take(cls, cpu: Cpu) -> Reading:
        cpu.sample()
        busy, total = machine_times()
        return cls(time.perf_counter(), cpu.server, cpu.browser, busy, total, dict(cpu.kinds))

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
        elapsed = self.total - earlier.total
        busy = (self.busy - earlier.busy) / elapsed if elapsed > 0 else 0.0
        return {
            "wall_s": round(self.at - earlier.at, 1),
            "server_cpu_s": round(server, 1),
            "browser_cpu_s": round(browser, 1),
            "machine_busy": round(busy, 3),
        }


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

    with serve(directory, world.url, flags) as (url, server_pid):
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
        "tap_drawn_p50_ms": round_ms(percentile(taps, 50)),
        "tap_drawn_p95_ms": round_ms(percentile(taps, 95)),
        "tap_drawn_max_ms": round_ms(max(taps, default=None)),
        # Where a tap's time goes, p50 / p95 of each part in turn (`Mark.parts_ms`).
        "tap_parts_ms": {
            part: [
                round_ms(percentile(parts, 50)),
                round_ms(percentile(parts, 95)),
            ]
            for part in PARTS
            for parts in [[ms for r in results for ms in r.parts_ms[part]]]
        },
        "tap_input_delay_ms": [
            round_ms(percentile(all_of("input_ms"), 50)),
            round_ms(percentile(all_of("input_ms"), 95)),
        ],
        "ws_messages_while_tapping": sum(r.sends for r in results),
        "submit_p95_ms": round_ms(percentile(submits, 95)),
        "submit_max_ms": round_ms(max(submits, default=None)),
        "submits": len(submits),
        "open_p95_ms": round_ms(percentile(opens, 95)),
        "page_turn_p50_ms": round_ms(percentile(all_of("turns_ms"), 50)),
        "page_turn_p95_ms": round_ms(percentile(all_of("turns_ms"), 95)),
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
        help="items tapped per tablet, the first ones (default: all 180)",
    )
    parser.add_argument(
        "--think-ms",
        type=int,
        default=THINK_MS,
        help=f"mean pause before a tap, ±{SPREAD * 100:.0f}%% (default {THINK_MS}; 0: none)",
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
        world = build(tmp, sum(ks))
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
        round(high["tap_drawn_p95_ms"] / low["tap_drawn_p95_ms"], 2)  # type: ignore[operator]
        if high["tap_drawn_p95_ms"] and low["tap_drawn_p95_ms"]
        else None
    )
    rss = high["rss_per_session_mb"]
    met = {
        "all_ballots_counted": counts["ballots_counted"] == counts["ballots_expected"]
        and counts["tally_problems"] == 0
        and counts["tallies_match_taps"],
        "rss_per_session": rss <= TARGETS["rss_per_session_mb"],  # type: ignore[operator]
    }
    print(
        json.dumps(
            {
                "bench": "tablets",
                **runs,
                **counts,
                "rss_per_session_mb": rss,
                # Informative: a tap stays on the device, so this compares the browsers of
                # K tablets sharing this machine's cores with one tablet alone.
                "ratio": ratio,
                "targets": {"rss_per_session_mb_max": TARGETS["rss_per_session_mb"]},
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
