"""Issue #15's acceptance: how many taps a 市场经营户 needs to finish the ballot of 80 people.

A vendor knows a few of the people on the ballot and the others only by sight. The workload is
fixed here, before measuring: 80 cards (the demo bureau's 市场经营户 ballot); an evaluator who
knows 10 of them (cards 1, 9, 17, …, 73: one on each page of ten) or all 80.

Runs, each in a fresh tab of Debian's chromium (390×844, touch: a vendor's phone), on a fresh
`streamlit run app.py` over SQLite, with one code issued through the CLI:

- `itemized_knows_10` — 分项 (every criterion: 498 items), on a round with the 方案's forms
  (`bench.tablets.itemized_demo`). Per known card: 本张全部选「较好」 and then one item changed
  to 好 (2 taps); every other card: 不了解此人 (1 tap); 下一页 after each page but the last.
  Target ≤ 130. Without the shortcuts the same ballot takes one tap per item and the page
  turns (`without_shortcuts`: 498 + 7, counted from the form, not tapped).
- `overall_knows_10` — 总体 (the demo's own round: one rating per person on 满意 / 基本满意 /
  不满意 / 不了解, all cards on one page): the 10 known cards 满意 or 基本满意 in turn, the
  other 70 不了解, one tap each. Target ≤ 90.
- `overall_knows_all` — 总体, every card rated (满意, 基本满意, 不满意 in turn). Target: 80.

A tap is one `locator.tap()` (a touch at the element's centre) on the ballot; `taps` counts
every one from the ballot drawn until its progress line says 已完成 80/80 张 (the answering),
`submit_taps` the one on 提交评议 after it. `limit` is the raw floor: one decision per person
on the ballot (80), so `ratio` = taps / limit. Each run then waits for 谢谢您的评议, counts the
group (开箱计票 through `evaluation.close`, as the office does) and checks that the one ballot
counted holds exactly the levels tapped, item by item.

Prints one JSON line.

    python bench/ballot_effort.py [--only itemized_knows_10,overall_knows_all] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("PINGYI_SECRET_KEY", secrets.token_hex(32))

from appserver import CHROMIUM, CHROMIUM_ARGS, app_env  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench.tablets import itemized_demo, serve  # noqa: E402
from pingyi import ballots, db, evaluation, groups, rounds, slips  # noqa: E402
from pingyi.models import GroupKey, Rating  # noqa: E402

CARDS = 80
KNOWN_EVERY = 8  # the evaluator knows cards 1, 9, 17, …: ten of eighty, one a page of ten
VIEWPORT = {"width": 390, "height": 844}
TIMEOUT_MS = 60_000
TARGETS = {"itemized_knows_10": 130, "overall_knows_10": 90, "overall_knows_all": 80}
PROGRESS = ".pingyi-ballot .bar .count"
THANKS = "谢谢您的评议"


@dataclass(frozen=True)
class World:
    url: str  # the database
    env: dict[str, str]
    form: ballots.BallotForm


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


def build(directory: Path, *, itemized: bool) -> World:
    """The demo bureau, through the CLI; with `itemized` a current round on the 方案's forms."""
    env = app_env(directory)
    if itemized:
        itemized_demo(lambda *args: cli(env, *args))
    else:
        cli(env, "demo", "--no-history")
    engine = db.make_engine(env["PINGYI_DATABASE_URL"])
    try:
        with db.session(engine) as s:
            round_ = rounds.current(session=s)
            vendors = groups.by_key(session=s)[GroupKey.VENDORS]
            assert round_ is not None and round_.id is not None and vendors.id is not None
            form = ballots.ballot_form(session=s, round_id=round_.id, group_id=vendors.id)
    finally:
        engine.dispose()
    assert len(form.cards) == CARDS, len(form.cards)
    return World(env["PINGYI_DATABASE_URL"], env, form)


def issue(world: World) -> str:
    out = cli(world.env, "codes", "issue", "--group", GroupKey.VENDORS.value, "--count", "1")
    found = re.findall(r"^[A-Z0-9]{8}$", out, flags=re.MULTILINE)
    if len(found) != 1:
        raise SystemExit(f"no code in: {out}")
    return found[0]


# ---- one evaluator


class Tapper:
    """Taps on the ballot, counted; `want` is the ballot the taps make, item by item."""

    def __init__(self, page: Any, form: ballots.BallotForm) -> None:
        self.page = page
        self.form = form
        self.taps = 0
        self.want: dict[tuple[int, int], int] = {}
        self.levels = {level.label: level.id for level in form.levels}
        self.unknown = next(level.id for level in form.levels if not level.scored)

    def tap(self, locator: Any) -> None:
        locator.tap(timeout=TIMEOUT_MS)
        self.taps += 1

    def card(self, target_id: int) -> Any:
        return self.page.locator(f".pingyi-ballot #card-{target_id}")

    def rate(self, target_id: int, criterion_id: int, label: str) -> None:
        level = self.levels[label]
        button = self.card(target_id).locator(
            f'button[data-item="{target_id}:{criterion_id}"][data-level="{level}"]'
        )
        self.tap(button)
        expect(button).to_have_attribute("aria-checked", "true", timeout=TIMEOUT_MS)
        self.want[target_id, criterion_id] = level

    def fill_card(self, card: ballots.Card, label: str) -> None:
        """本张全部选「label」: the card's unanswered items."""
        self.tap(self.card(card.target_id).get_by_role("button", name=label, exact=True))
        for criterion in card.criteria:
            self.want.setdefault((card.target_id, criterion.id), self.levels[label])

    def not_known(self, card: ballots.Card) -> None:
        """不了解此人: the whole card 不了解 in one tap."""
        self.tap(self.card(card.target_id).get_by_role("button", name="不了解此人", exact=True))
        for criterion in card.criteria:
            self.want[card.target_id, criterion.id] = self.unknown

    def turn(self) -> None:
        self.tap(self.page.locator(".pingyi-ballot .turn.forward"))

    def progress(self) -> str:
        return str(self.page.locator(PROGRESS).first.text_content(timeout=TIMEOUT_MS))


def itemized_knows_10(t: Tapper) -> None:
    per_page = 10
    for index, card in enumerate(t.form.cards):
        if index % KNOWN_EVERY == 0:
            t.fill_card(card, "较好")
            t.rate(card.target_id, card.criteria[0].id, "好")
        else:
            t.not_known(card)
        last_on_page = index % per_page == per_page - 1
        if last_on_page and index < len(t.form.cards) - 1:
            t.turn()


def overall(t: Tapper, known: Callable[[int], bool]) -> None:
    scored = [level.label for level in t.form.levels if level.scored]
    rated = 0
    for index, card in enumerate(t.form.cards):
        if known(index):
            t.rate(card.target_id, 0, scored[rated % len(scored)])
            rated += 1
        else:
            t.rate(card.target_id, 0, "不了解")


RUNS: dict[str, tuple[bool, Callable[[Tapper], None]]] = {
    "itemized_knows_10": (True, itemized_knows_10),
    "overall_knows_10": (False, lambda t: overall(t, lambda i: i % KNOWN_EVERY == 0)),
    "overall_knows_all": (False, lambda t: overall(t, lambda i: True)),
}


def counted_ballot(world: World) -> Counter[tuple[int, int, int]]:
    """开箱计票 of the vendors, then their one counted ballot's ratings."""
    engine = db.make_engine(world.url)
    try:
        done = evaluation.close(engine, round_id=world.form.round_id, group_id=world.form.group_id)
        assert done.ballots == 1, done
        with db.session(engine) as s:
            rows = s.execute(
                select(Rating.target_id, Rating.criterion_id, Rating.level_id).where(
                    Rating.round_id == world.form.round_id,  # type: ignore[arg-type]
                    Rating.group_id == world.form.group_id,  # type: ignore[arg-type]
                )
            )
            return Counter(tuple(row) for row in rows)
    finally:
        engine.dispose()


def run(name: str, browser: Any, directory: Path) -> dict[str, Any]:
    itemized, evaluate = RUNS[name]
    world = build(directory, itemized=itemized)
    code = issue(world)
    pages = -(-len(world.form.cards) // 10) if itemized else 1
    with serve(directory, world.url, []) as (base, _pid):
        context = browser.new_context(
            viewport=VIEWPORT, has_touch=True, is_mobile=True, locale="zh-CN"
        )
        page = context.new_page()
        page.goto(slips.ballot_url(code, base))
        page.locator(PROGRESS).first.wait_for(timeout=TIMEOUT_MS)
        tapper = Tapper(page, world.form)
        began = time.perf_counter()
        evaluate(tapper)
        expect(page.locator(PROGRESS).first).to_contain_text(
            f"已完成 {CARDS}/{CARDS} 张", timeout=TIMEOUT_MS
        )
        answering_s = time.perf_counter() - began
        shown = tapper.progress()
        page.locator(".pingyi-ballot .send").tap(timeout=TIMEOUT_MS)
        page.get_by_text(THANKS).first.wait_for(timeout=TIMEOUT_MS)
        context.close()
    got = counted_ballot(world)
    want = Counter((t, c, lvl) for (t, c), lvl in tapper.want.items())
    taps = tapper.taps
    return {
        "taps": taps,
        "submit_taps": 1,
        "limit": CARDS,
        "ratio": round(taps / CARDS, 3),
        "target": TARGETS[name],
        "meets_target": taps <= TARGETS[name],
        "items": len(world.form.items),
        "without_shortcuts": len(world.form.items) + pages - 1,
        "progress": shown,
        "answering_seconds": round(answering_s, 1),
        "counted_as_tapped": got == want and len(tapper.want) == len(world.form.items),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma-separated runs: " + ", ".join(RUNS))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        raise SystemExit(f"unknown runs: {unknown}")

    workdir = Path(tempfile.mkdtemp(prefix="pingyi-effort-"))
    results: dict[str, Any] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                for name in names:
                    results[name] = run(name, browser, workdir / name)
            finally:
                browser.close()
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(
        json.dumps(
            {
                "bench": "ballot_effort",
                "cards": CARDS,
                "viewport": VIEWPORT,
                "runs": results,
                "all_targets_met": all(r["meets_target"] for r in results.values()),
                "all_counted_as_tapped": all(r["counted_as_tapped"] for r in results.values()),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
