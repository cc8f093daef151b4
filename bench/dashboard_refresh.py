"""One 会议大屏 refresh against plain SQL over the tallies and over the ratings, ≥ 1,000,000 stored.

The large demo bureau (1,974 targets; a 市场经营户 ballot rates 1,885 of them, 11,496 items) gets
every 局全体工作人员 and 基层单位工作人员 ballot and enough 市场经营户 ballots to pass a million
ratings. The counted data comes the app's own way: every ballot is cast through
`ballots.submit_with_retry` (code claim, the ballot sealed into the group's 票箱, the cast counted
per minute), spread over a 45-minute meeting so the submissions timeline has its real size (a
few are 一刀切); then each group's evaluation is closed with `evaluation.close` (开箱计票: the
box opened, ballots and ratings written shuffled, `tally.count_group`, the group marked
counted, the files sealed). The tallies are then checked against a recount of the ratings
(`tally.verify`).

Timed, in turns so a busy machine slows all alike, each the median of --runs:
- refresh_ms: `meeting.snapshot` with the results hidden, in a fresh session as the page
  opens one;
- refresh_published_ms: `meeting.snapshot` with the results published (the standings), plus
  the drill-down of one target (`meeting.target_detail`): everything one refresh of the
  published screen reads;
- tally_sql_ms: the floor, the tally rows the published refresh needs in plain SQL on the same
  engine: the round's counts per group, target and level (SELECT … sum(count) FROM tally WHERE
  round_id = ? GROUP BY group_id, target_id, level_id), and the drilled target's counts per
  criterion (its rows of the tally, by its key), both fetched;
- group_by_ms: SELECT target_id, criterion_id, level_id, group_id, count(*) FROM rating
  GROUP BY those four, fetched (what a screen without tallies would read).
ratio = refresh_published_ms / group_by_ms (the costlier refresh); target ≤ 0.1.
ratio_tally = refresh_published_ms / tally_sql_ms: what the app adds to the floor (the codes,
the timeline, scoring, the ORM), informative.

    python bench/dashboard_refresh.py [--ratings 1000000] [--runs 7] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
# A throwaway key for hashing the codes, so the bench never touches the app's data directory.
os.environ.setdefault("PINGYI_SECRET_KEY", secrets.token_hex(32))

from sqlalchemy import Engine, bindparam, text  # noqa: E402

from pingyi import (  # noqa: E402
    ballots,
    bootstrap,
    codes,
    db,
    demo,
    evaluation,
    groups,
    meeting,
    rounds,
    tally,
)
from pingyi.models import GroupKey, TemplateKey  # noqa: E402

GROUP_BY = text(
    "SELECT target_id, criterion_id, level_id, group_id, count(*) FROM rating"
    " GROUP BY target_id, criterion_id, level_id, group_id"
)
# The floor: what a published refresh reads from the tallies, as plain as SQL gets.
TALLY_STANDINGS = text(
    "SELECT group_id, target_id, level_id, sum(count) FROM tally WHERE round_id = :round_id"
    " GROUP BY group_id, target_id, level_id"
)
TALLY_TARGET = text(
    "SELECT group_id, criterion_id, level_id, uniform, count FROM tally"
    " WHERE round_id = :round_id AND group_id IN :group_ids AND target_id = :target_id"
).bindparams(bindparam("group_ids", expanding=True))
MEETING_MINUTES = 45
UNIFORM_SHARE = 0.03  # 一刀切 ballots


@dataclass(frozen=True)
class Built:
    """The counted database, and what building it took."""

    engine: Engine
    round_id: int
    ballots: int
    cast_s: float  # casting every ballot through `ballots.submit_with_retry`
    close_s: float  # `evaluation.close` of every group, seals included


def level_weights(form: ballots.BallotForm) -> list[int]:
    """How often each level of the group's scale is chosen: mostly the two best, as on real
    ballots, whatever the scale (the demo's 市场经营户 rate on 满意 / 基本满意 / 不满意)."""
    scored = itertools.chain((50, 30, 10, 4, 2), itertools.repeat(1))
    return [6 if level.score is None else next(scored) for level in form.levels]


def build(directory: Path, wanted: int, quick: bool) -> Built:
    """The large demo, its ballots cast through the ballot page's path, every group counted."""
    engine = db.make_engine(f"sqlite:///{directory / 'bench.db'}")
    bootstrap.initialize(engine)
    with db.transaction(engine) as s:
        demo.load_demo(actor="性能测试", session=s, size="small" if quick else "large")
        round_ = rounds.current(session=s)
        assert round_ is not None
        round_id: int = round_.id  # type: ignore[assignment]
        by_key = groups.by_key(session=s)
        forms = {
            key: ballots.ballot_form(session=s, round_id=round_id, group_id=group.id)  # type: ignore[arg-type]
            for key, group in by_key.items()
        }
    plan = {key: by_key[key].headcount for key in (GroupKey.ALL_STAFF, GroupKey.UNIT_STAFF)}
    if quick:
        plan = dict.fromkeys(plan, 6)
    staff_ratings = sum(n * len(forms[key].items) for key, n in plan.items())
    vendor_items = len(forms[GroupKey.VENDORS].items)
    plan[GroupKey.VENDORS] = max(6, math.ceil((wanted - staff_ratings) / vendor_items))

    rng = random.Random(20261125)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=MEETING_MINUTES)
    submitted = 0
    total = sum(plan.values())
    real_minute = tally.current_minute
    began = time.perf_counter()
    try:
        for key, count in plan.items():
            form = forms[key]
            level_ids = [level.id for level in form.levels]
            weights = level_weights(form)
            with db.transaction(engine) as s:
                plain = codes.issue(
                    actor="性能测试",
                    session=s,
                    round_id=round_id,
                    group_id=by_key[key].id,  # type: ignore[arg-type]
                    count=count,
                )
            for code in plain:
                # Ballots come in through the meeting, not all in this minute.
                minute = start + timedelta(minutes=MEETING_MINUTES * submitted // total)
                tally.current_minute = lambda minute=minute: minute  # type: ignore[misc]
                if rng.random() < UNIFORM_SHARE:
                    answers = dict.fromkeys(form.items, rng.choice(level_ids))
                else:
                    answers = dict(
                        zip(
                            form.items,
                            rng.choices(level_ids, weights=weights, k=len(form.items)),
                            strict=True,
                        )
                    )
                ballots.submit_with_retry(
                    engine, code, answers, {}, round_id=round_id, receipt=secrets.token_hex(16)
                )
                submitted += 1
    finally:
        tally.current_minute = real_minute  # type: ignore[misc]
    cast_s = time.perf_counter() - began

    # 开箱计票, group by group as the office closes them: the ratings and tallies exist only now.
    began = time.perf_counter()
    for key in plan:
        counted = evaluation.close(engine, round_id=round_id, group_id=by_key[key].id)  # type: ignore[arg-type]
        assert counted.ballots == plan[key] and counted.sealed, counted
    close_s = time.perf_counter() - began

    with db.session(engine) as s:
        problems = tally.verify(session=s, round_id=round_id)
    if problems:
        raise SystemExit("tallies do not match the ratings:\n" + "\n".join(problems[:10]))
    # No checkpoint needed here any more: each close's seal empties the WAL, so the timed reads
    # find everything in the database file.
    return Built(engine, round_id, submitted, cast_s, close_s)


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def measure(engine: Engine, round_id: int, runs: int) -> dict[str, float]:
    def publish(published: bool) -> None:
        with db.transaction(engine) as s:
            meeting.publish(actor="性能测试", session=s, round_id=round_id, published=published)

    publish(True)
    with db.session(engine) as s:
        standings = meeting.snapshot(session=s, round_id=round_id).standings
    assert standings is not None
    drilled = standings.rankings[TemplateKey.MEMBER][0].target_id
    group_ids = sorted(standings.group_status)

    def refresh() -> None:
        with db.session(engine) as s:
            snap = meeting.snapshot(session=s, round_id=round_id)
            if snap.standings is not None:
                meeting.target_detail(session=s, round_id=round_id, target_id=drilled)

    def tally_sql() -> None:
        with engine.connect() as conn:
            conn.execute(TALLY_STANDINGS, {"round_id": round_id}).fetchall()
            conn.execute(
                TALLY_TARGET,
                {"round_id": round_id, "group_ids": group_ids, "target_id": drilled},
            ).fetchall()

    def group_by() -> None:
        with engine.connect() as conn:
            conn.execute(GROUP_BY).fetchall()

    spent: dict[str, list[float]] = {"hidden": [], "published": [], "tally": [], "group_by": []}
    for turn in range(runs + 1):  # the first turn warms the caches and is not counted
        publish(False)
        hidden = timed(refresh)
        publish(True)
        shown = timed(refresh)
        floor = timed(tally_sql)
        plain = timed(group_by)
        if turn:
            spent["hidden"].append(hidden)
            spent["published"].append(shown)
            spent["tally"].append(floor)
            spent["group_by"].append(plain)
    return {name: statistics.median(values) for name, values in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=1_000_000, help="at least this many")
    parser.add_argument("--runs", type=int, default=7, help="timed turns (median reported)")
    parser.add_argument("--quick", action="store_true", help="small demo, a few ballots")
    args = parser.parse_args()
    wanted = 20_000 if args.quick else args.ratings

    with tempfile.TemporaryDirectory(prefix="pingyi-bench-") as tmp:
        began = time.perf_counter()
        built = build(Path(tmp), wanted, args.quick)
        build_s = time.perf_counter() - began
        with built.engine.connect() as conn:
            ratings = conn.execute(text("SELECT count(*) FROM rating")).scalar_one()
            tallies = conn.execute(text("SELECT count(*) FROM tally")).scalar_one()
        assert ratings >= wanted, ratings
        ms = measure(built.engine, built.round_id, 3 if args.quick else args.runs)
        built.engine.dispose()
    print(
        json.dumps(
            {
                "bench": "dashboard_refresh",
                "ratings": ratings,
                "ballots": built.ballots,
                "tally_rows": tallies,
                "generated": "ballots.submit_with_retry, then evaluation.close per group"
                " (tallies verified against the ratings)",
                "build_s": round(build_s, 1),
                "cast_s": round(built.cast_s, 1),
                "close_s": round(built.close_s, 1),
                "refresh_ms": round(ms["hidden"], 2),
                "refresh_published_ms": round(ms["published"], 2),
                "tally_sql_ms": round(ms["tally"], 2),
                "group_by_ms": round(ms["group_by"], 2),
                "ratio": round(ms["published"] / ms["group_by"], 4),
                "ratio_hidden": round(ms["hidden"] / ms["group_by"], 4),
                "target": 0.1,
                "ratio_tally": round(ms["published"] / ms["tally"], 2),
                "quick": args.quick,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
