"""Issue #13's acceptance: the vendors' 80-card ballot tapped through on a slow tablet.

The demo bureau (`python -m pingyi demo`, on a SQLite database in a temporary directory) with
a round on the 方案's forms, every group 分项 (`bench.tablets.itemized_demo`: the demo's own
round has the vendors rate 总体, one item a card), and
one code of 市场经营户 per run (`python -m pingyi codes issue --group vendors`): 80 cards, 498
items, eight pages of ten cards in the ballot element (pingyi/ui/ballot_element.js). Runs:

- tablet_4x (the acceptance figure): 768×1024, touch, chromium's main thread slowed 4×;
- phone_6x (informative): 390×844, touch, slowed 6×.

Each run has a fresh `streamlit run app.py` (its idle RSS read before any tab connects) and
one context of Debian's chromium (/usr/bin/chromium, driven by Playwright's async API, never
a downloaded browser), slowed with the DevTools protocol's `Emulation.setCPUThrottlingRate`
before the QR link is opened, and again once the ballot is drawn; `cpu_slowdown_measured` is
a fixed busy loop's time in the page throttled / unthrottled (best of 3 each), to show the
throttle holds. An evaluator taps every item of the ballot in page order, one scale button
each (run r taps level (i + r) mod 5 of item i: every level, 不了解 included), and 下一页 after
the last item of a page. Before each tap or page turn there is a pause uniform in 1.0–3.0 s
(mean 2 s, an evaluator's pace as issue #15 gives it; --think-ms sets the mean, ±50 %), all of
them drawn before the run from a generator seeded with the run, so every run of the bench has
the same pace. A tap is a touch at the button's centre (`page.touchscreen.tap`), aimed by one
script in the page which scrolls the button into view when its centre does not take a touch
and waits till it has stood still for two frames.

Measured in the page (bench/tablets.py's `PROBE`, an init script installed before the app's
scripts; performance.now(), the tab's own clock, so no Python timing is in these figures):
- tap → drawn: from the touch, i.e. performance.now() in the first capture-phase touchstart or
  pointerdown listener on the window after the aim (the pointerdown comes first), to the first
  frame after the tapped button's aria-checked became "true". The element takes a finger's
  tap at its pointerup and sets aria-checked there, synchronously (with the card's line, the
  progress and localStorage); a
  MutationObserver on the tapped button (in the element's shadow root: observed there, since
  an observer on the document does not see into it) sees the change, then a
  requestAnimationFrame callback posts a MessageChannel message, which runs once that frame's
  style, layout and paint are done on the main thread: that is "drawn". p50, p95, max over all
  taps. Target: p95 ≤ 50 ms on tablet_4x. `tap_parts_ms` (p50, p95) splits it: "up", the
  touch till its pointerup reaches the page (the touchend); "handler", the element's pointerup
  handler; "frame", the change till drawn.
  Two more views of the same taps, informative: `tap_input_delay_ms`, from the touch event's
  own timeStamp (when it reached the page, before the slowed main thread took it) to that
  first listener, so tap_from_touch = input delay + tap → drawn; and `tap_presented_p95_ms`,
  Chrome's own Event Timing for the tap's pointerup (its timeStamp → the next frame presented
  on screen, in steps of 8 ms; one under 16 ms is not reported and counts as 16), a check of
  the frame method from outside it.
- no tap lost: a touch whose choice is not drawn within --tap-timeout counts as lost (and is
  tapped again, so the run can go on). After the last tap the progress line must say 已完成
  80/80 张 · 已选 498/498 项, and the element's localStorage record of the code must hold
  exactly the level tapped for every item; after 提交评议 the ballot's stored ratings must equal
  the taps, item by item.
- page turn: touch on 下一页 → the frame after the next page's cards replaced the old ones.
- submit → thanks: touch on 提交评议 → the frame after the page text first contains 谢谢您的评议
  (the ballot sent once as a Streamlit trigger, stored by `ballots.submit_with_retry`, the
  thanks page drawn).
- open (informative): navigation start of the QR link → the first page's rows drawn and no
  script run in flight (polled every 50 ms).
- the ballot counted once: exactly one new ballot of the 市场经营户 group per run, and at the
  end `tally.verify` finds nothing.
- the server: the resident set of the streamlit process tree (idle, ballot open, after the
  taps, after the submit) and its CPU seconds per phase (opening, tapping, submitting; psutil),
  with `server_cpu_share_while_tapping` (its CPU seconds / wall seconds) and the websocket
  messages the page sent while tapping: a tap stays on the device, so tapping costs the server
  nothing beyond its idle work and the element's health check (an HTTP GET every 10 s).
The throttle is chromium's emulation, and on this build a throttled renderer takes ~0.8 of a
core even while the page is idle (unthrottled: ~2 %), as the `tapping` phase's browser CPU
shows: on 2 cores shared with other work that leaves less for everything else, figures from a
busy machine are not the acceptance figure, and the full run belongs on a quiet machine.

Prints one JSON line.

    python bench/ballot_taps.py [--only tablet|phone] [--think-ms 2000] [--quick] [--keep]

--quick: a smoke run. Only the first 6 and the last 6 items are tapped; the other 486 are
written into the device's localStorage record of the code before the ballot opens (as the
element keeps them: as if tapped earlier on this device), so the evaluator turns through all
eight pages to the last and submits the whole ballot. About a minute a run at the default pace.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
# A throwaway key for hashing the codes, shared with the CLI and the server through their
# environment, so the bench never touches the app's data directory.
os.environ.setdefault("PINGYI_SECRET_KEY", secrets.token_hex(32))

from appserver import CHROMIUM, CHROMIUM_ARGS, app_env  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlmodel import col  # noqa: E402

from bench.tablets import (  # noqa: E402
    PARTS,
    SPREAD,
    Cpu,
    Mark,
    NotDrawn,
    Reading,
    device_record,
    item_key,
    itemized_demo,
    level_index,
    loadavg,
    new_tablet,
    open_ballot,
    page_spans,
    percentile,
    plan,
    prefill,
    progress,
    round_ms,
    rss_mb,
    serve,
    submit_ballot,
    tap_item,
    turn_page,
    ws_sends,
)
from pingyi import ballots, box, db, evaluation, rounds, slips, tally  # noqa: E402
from pingyi.models import BallotBox, EvaluatorGroup, GroupKey  # noqa: E402


@dataclass(frozen=True)
class Device:
    run: str  # the run's name in the JSON
    viewport: dict[str, int]
    throttle: float  # Emulation.setCPUThrottlingRate
    seed: int  # its pauses, and the levels it taps


DEVICES = {
    "tablet": Device("tablet_4x", {"width": 768, "height": 1024}, 4, 0),
    "phone": Device("phone_6x", {"width": 390, "height": 844}, 6, 1),
}
CARDS, ITEMS = 80, 498  # the demo's 市场经营户 ballot
THINK_MS = 2000  # mean pause before a tap or a page turn: 1.0–3.0 s (issue #15)
TARGET_P95_MS = 50.0
QUICK_HEAD = QUICK_TAIL = 6  # --quick taps these first and last items
# A fixed busy loop, timed in the page: its slowdown under the throttle.
LOOP = """() => {
  const began = performance.now();
  let x = 0;
  for (let i = 0; i < 2e7; i++) x = (x + i) % 1000003;
  return [performance.now() - began, x];
}"""

# ---- the database: the demo, through the CLI, before any server starts


@dataclass(frozen=True)
class World:
    url: str
    env: dict[str, str]
    round_id: int
    group_id: int
    items: tuple[tuple[int, int], ...]  # (target_id, criterion_id), in the element's order
    card_sizes: tuple[int, ...]
    level_ids: tuple[int, ...]  # the scale buttons' order

    def answers(self, seed: int) -> dict[tuple[int, int], int]:
        """The whole ballot of run `seed`: item → level id."""
        levels = len(self.level_ids)
        return {
            item: self.level_ids[level_index(seed, i, levels)] for i, item in enumerate(self.items)
        }


def cli(env: Mapping[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pingyi", *args],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        raise SystemExit(f"pingyi {' '.join(args)}: {done.stderr or done.stdout}")
    return done.stdout


def build(directory: Path) -> World:
    env = app_env(directory)
    itemized_demo(lambda *args: cli(env, *args))
    url = env["PINGYI_DATABASE_URL"]
    engine = db.make_engine(url)
    try:
        with db.session(engine) as s:
            round_ = rounds.current(session=s)
            group = s.exec(
                select(EvaluatorGroup).where(col(EvaluatorGroup.key) == GroupKey.VENDORS)
            ).one()[0]
            assert round_ is not None and round_.id is not None and group.id is not None
            form = ballots.ballot_form(session=s, round_id=round_.id, group_id=group.id)
    finally:
        engine.dispose()
    assert (len(form.cards), len(form.items)) == (CARDS, ITEMS), (len(form.cards), len(form.items))
    return World(
        url,
        env,
        round_.id,
        group.id,
        tuple(form.items),
        tuple(len(card.criteria) for card in form.cards),
        tuple(level.id for level in form.levels),
    )


def issue(world: World) -> str:
    out = cli(world.env, "codes", "issue", "--group", GroupKey.VENDORS.value, "--count", "1")
    found = re.findall(r"^[A-Z0-9]{8}$", out, flags=re.MULTILINE)
    if len(found) != 1:
        raise SystemExit(f"no code in: {out}")
    return found[0]


def stored_ballots(world: World) -> dict[str, dict[tuple[int, int], int]]:
    """Every ballot of the 市场经营户 group cast so far, by its box id: sealed in the 票箱 until
    the group is counted, opened here with the app's key (the bench's) as 开箱计票 opens it."""
    engine = db.make_engine(world.url)
    try:
        with db.session(engine) as s:
            form = ballots.ballot_form(session=s, round_id=world.round_id, group_id=world.group_id)
        with engine.connect() as conn:
            rows = conn.execute(
                select(BallotBox.id, BallotBox.sealed).where(  # type: ignore[call-overload]
                    BallotBox.round_id == world.round_id, BallotBox.group_id == world.group_id
                )
            )
            return {box_id: box.open_sealed(sealed, form=form).answers for box_id, sealed in rows}
    finally:
        engine.dispose()


def count_box(world: World) -> tuple[int, list[str]]:
    """开箱计票 of the group, as the office ends its evaluation: the ballots counted, and any
    tally that differs from a recount of the ratings."""
    engine = db.make_engine(world.url)
    try:
        counted = evaluation.close(engine, round_id=world.round_id, group_id=world.group_id)
        with db.session(engine) as s:
            return counted.ballots, tally.verify(session=s, round_id=world.round_id)
    finally:
        engine.dispose()


# ---- one run


async def slowdown(page: Any, cdp: Any, rate: float) -> float:
    """The busy loop's time in the page at `rate` over its time unthrottled (best of 3)."""

    async def best() -> float:
        return min([(await page.evaluate(LOOP))[0] for _ in range(3)])

    await cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
    plain = await best()
    await cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
    return round(await best() / plain, 2)


async def drive(
    url: str,
    server_pid: int,
    world: World,
    code: str,
    device: Device,
    tapped: list[int],
    think_ms: int,
    tap_timeout_s: float,
    timeout_s: float,
) -> dict[str, Any]:
    """The evaluator on one device: open, tap, check, submit. Figures and checks of the run."""
    from playwright.async_api import async_playwright

    answers = world.answers(device.seed)
    levels = {level: i for i, level in enumerate(world.level_ids)}
    spans = page_spans(world.card_sizes)
    steps = plan(spans, tapped, think_ms, device.seed)  # the pace, fixed before measuring
    tap_marks: list[Mark] = []
    presented: list[list[float]] = []
    turn_marks: list[Mark] = []
    lost = 0
    out: dict[str, Any] = {}
    at: dict[str, Reading] = {}  # CPU and clock at the start and the end of each phase
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            context, page = await new_tablet(browser, device.viewport)
            page.set_default_timeout(timeout_s * 1000)
            cdp = await context.new_cdp_session(page)
            await cdp.send("Emulation.setCPUThrottlingRate", {"rate": device.throttle})
            cpu = Cpu(server_pid)
            at["start"] = Reading.take(cpu)
            rest = {item_key(item): level for item, level in answers.items()}
            for i in tapped:
                del rest[item_key(world.items[i])]
            if rest:
                await prefill(page, url, code, rest)
            out["open_ms"] = round_ms(
                await open_ballot(page, slips.ballot_url(code, url), spans[0][1], timeout_s)
            )
            out["cpu_slowdown_measured"] = await slowdown(page, cdp, device.throttle)
            out["rss_open_mb"] = round(rss_mb(server_pid), 1)
            at["opened"] = Reading.take(cpu)
            sent = await ws_sends(page)
            for step in steps:
                if step.pause_s:
                    await asyncio.sleep(step.pause_s)
                if step.item is None:
                    turn_marks.append(await turn_page(page, spans[step.page][1], timeout_s))
                    continue
                level = levels[answers[world.items[step.item]]]
                try:
                    tap_marks.append(await tap_item(page, step.row, level, tap_timeout_s))
                except NotDrawn:
                    lost += 1  # and the evaluator taps it again
                    tap_marks.append(await tap_item(page, step.row, level, tap_timeout_s))
            at["tapped"] = Reading.take(cpu)
            presented = await page.evaluate("() => window.__bench.presented()")
            out["ws_messages_while_tapping"] = await ws_sends(page) - sent
            out["rss_after_tapping_mb"] = round(rss_mb(server_pid), 1)
            out["progress"] = await progress(page)
            record = await device_record(page, code) or {}
            kept = record.get("answers") or {}
            out["stored_on_device"] = len(kept)
            out["device_matches_taps"] = kept == {
                item_key(item): level for item, level in answers.items()
            }
            out["taps_not_on_device"] = sum(
                1 for i in tapped if kept.get(item_key(world.items[i])) != answers[world.items[i]]
            )
            out["submit_ms"] = round_ms((await submit_ballot(page, timeout_s)).total_ms)
            at["thanked"] = Reading.take(cpu)
            out["rss_after_submit_mb"] = round(rss_mb(server_pid), 1)
            out["forgotten_on_device"] = await forgotten(page, code)
        except Exception as exc:  # reported in the JSON with what was measured till then
            out["error"] = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"
        finally:
            await browser.close()

    def spread(values: list[float]) -> list[float | None]:
        return [round_ms(percentile(values, 50)), round_ms(percentile(values, 95))]

    totals = [mark.total_ms for mark in tap_marks]
    phases = {
        name: at[end].since(at[begin])
        for name, begin, end in (
            ("opening", "start", "opened"),
            ("tapping", "opened", "tapped"),
            ("submitting", "tapped", "thanked"),
        )
        if begin in at and end in at
    }
    if "tapped" in at:
        server_s = at["tapped"].server_cpu - at["opened"].server_cpu
        phases["server_cpu_share_while_tapping"] = round(
            server_s / max(1e-9, at["tapped"].at - at["opened"].at), 4
        )
    return {
        "viewport": f"{device.viewport['width']}x{device.viewport['height']}",
        "cpu_throttle": device.throttle,
        "taps": len(tap_marks),
        "taps_planned": len(tapped),
        "taps_lost": lost + out.get("taps_not_on_device", 0),
        "tap_drawn_p50_ms": round_ms(percentile(totals, 50)),
        "tap_drawn_p95_ms": round_ms(percentile(totals, 95)),
        "tap_drawn_max_ms": round_ms(max(totals, default=None)),
        "taps_over_target": sum(1 for ms in totals if ms > TARGET_P95_MS),
        "tap_parts_ms": {
            part: spread([mark.parts_ms()[part] for mark in tap_marks]) for part in PARTS
        },
        "tap_input_delay_ms": spread([mark.input_ms for mark in tap_marks]),
        "tap_from_touch_p95_ms": round_ms(
            percentile([mark.drawn - mark.touch for mark in tap_marks], 95)
        ),
        **presented_figures(tap_marks, presented),
        "page_turns": len(turn_marks),
        "page_turn_p50_ms": round_ms(percentile([m.total_ms for m in turn_marks], 50)),
        "page_turn_max_ms": round_ms(max((m.total_ms for m in turn_marks), default=None)),
        **out,
        **phases,
        "pauses_s": {
            "mean": round(sum(s.pause_s for s in steps) / max(1, len(steps)), 2),
            "min": round(min((s.pause_s for s in steps), default=0), 2),
            "max": round(max((s.pause_s for s in steps), default=0), 2),
        },
    }


def presented_figures(marks: list[Mark], presented: list[list[float]]) -> dict[str, Any]:
    """Chrome's Event Timing for each tap's pointerup (its start within 50 ms of the touch's
    time stamp), 16 ms when none was reported (under 16 ms): p95, and how many were not
    reported."""
    durations, missing = [], 0
    for mark in marks:
        found = [d for start, d in presented if mark.touch - 1 <= start <= mark.touch + 50]
        if not found:
            missing += 1
        durations.append(max(found, default=16.0))
    return {
        "tap_presented_p95_ms": round_ms(percentile(durations, 95)),
        "tap_presented_under_16ms": missing,
    }


async def forgotten(page: Any, code: str) -> bool:
    """Whether the device has let go of the code's record once thanked (it should, soon)."""
    for _ in range(50):
        if await device_record(page, code) is None:
            return True
        await asyncio.sleep(0.1)
    return False


def run(
    directory: Path,
    world: World,
    device: Device,
    tapped: list[int],
    think_ms: int,
    tap_timeout_s: float,
    timeout_s: float,
) -> dict[str, Any]:
    """One device on a fresh server: its figures, and its ballot found in the database."""
    code = issue(world)
    before = stored_ballots(world)
    began = time.perf_counter()
    result: dict[str, Any] = {}
    try:
        with serve(directory, world.url, []) as (url, server_pid):
            time.sleep(1)  # let the fresh server settle before the idle reading
            idle = round(rss_mb(server_pid), 1)
            result = asyncio.run(
                drive(
                    url, server_pid, world, code, device, tapped, think_ms, tap_timeout_s, timeout_s
                )
            )
            result["rss_idle_mb"] = idle
    except Exception as exc:  # reported in the JSON; the other run goes on
        result["error"] = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"
    after = stored_ballots(world)
    new = [ratings for ballot_id, ratings in after.items() if ballot_id not in before]
    result["ballots_counted"] = len(new)
    result["ratings_match_taps"] = len(new) == 1 and new[0] == world.answers(device.seed)
    result["wall_s"] = round(time.perf_counter() - began, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(DEVICES), help="one run: tablet (4×) or phone")
    parser.add_argument(
        "--think-ms",
        type=int,
        default=THINK_MS,
        help=f"mean pause before a tap or page turn, ±{SPREAD * 100:.0f}%% "
        f"(default {THINK_MS}: 1.0–3.0 s; 0: none)",
    )
    parser.add_argument(
        "--tap-timeout", type=float, default=10, help="seconds after which a tap counts as lost"
    )
    parser.add_argument(
        "--timeout", type=float, default=180, help="seconds allowed to open or submit"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"tap only the first {QUICK_HEAD} and last {QUICK_TAIL} items (the rest prefilled)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    args = parser.parse_args()
    devices = [DEVICES[args.only]] if args.only else list(DEVICES.values())
    tapped = list(range(ITEMS))
    if args.quick:
        tapped = tapped[:QUICK_HEAD] + tapped[-QUICK_TAIL:]

    began = time.perf_counter()
    load0 = loadavg()
    tmp = Path(tempfile.mkdtemp(prefix="pingyi-bench-taps-"))
    try:
        world = build(tmp)
        runs = {
            device.run: run(
                tmp, world, device, tapped, args.think_ms, args.tap_timeout, args.timeout
            )
            for device in devices
        }
        counted, problems = count_box(world)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    acceptance = runs.get(DEVICES["tablet"].run)
    p95 = acceptance.get("tap_drawn_p95_ms") if acceptance else None
    every = list(runs.values())
    met = {
        # None without the tablet run (--only phone): the phone's figure is informative.
        "tap_drawn_p95": None if acceptance is None else p95 is not None and p95 <= TARGET_P95_MS,
        "no_tap_lost": all(
            r.get("taps") == r.get("taps_planned")
            and r.get("taps_lost") == 0
            and r.get("device_matches_taps") is True
            and r.get("progress") == f"已完成 {CARDS}/{CARDS} 张 · 已选 {ITEMS}/{ITEMS} 项"
            for r in every
        ),
        "counted_once": all(r["ballots_counted"] == 1 and r["ratings_match_taps"] for r in every)
        and counted == len(every),
        "tally_verified": not problems,
        "no_errors": not any("error" in r for r in every),
    }
    print(
        json.dumps(
            {
                "bench": "ballot_taps",
                "runs": runs,
                "target": {"tap_drawn_p95_ms_max": TARGET_P95_MS, "run": DEVICES["tablet"].run},
                "met": met,
                "ballots_counted": counted,
                "tally_problems": problems[:5],
                "cards": CARDS,
                "items": ITEMS,
                "think_ms": args.think_ms,
                "think_spread": SPREAD if args.think_ms else 0,
                "quick": args.quick,
                "cpus": os.cpu_count(),
                "loadavg_before": load0,
                "loadavg_after": loadavg(),
                "wall_s": round(time.perf_counter() - began, 1),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
