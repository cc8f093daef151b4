"""Ballot write rate: the ballot page's `ballots.submit_with_retry` against plain sqlite3.

Each ballot rates 30 targets × 6 criteria (180 ratings). The app path goes through the whole
submit the ballot page runs (code claim, checks, ballot, ratings, tallies; the answers were on
the device until then, so there is no server draft to delete); the raw path only inserts the
ballot and its ratings with executemany into an equivalent schema, with the same pragmas.
Prints one JSON line; the target is ratio (app / raw) ≥ 0.5.

    python bench/ballot_write.py [--n 2000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
# A throwaway key for hashing the codes, so the bench never touches the app's data directory.
os.environ.setdefault("PINGYI_SECRET_KEY", secrets.token_hex(32))

from worlds import build_bureau  # noqa: E402

from pingyi import ballots, bootstrap, codes, db  # noqa: E402
from pingyi.models import GroupKey  # noqa: E402

TARGETS_PER_BRANCH = (15, 15)  # 30 grassroots members, rated by 市场经营户 on 6 criteria each

# The same storage as the app's tables (see pingyi/models.py), without the app's extra work.
RAW_SCHEMA = """
CREATE TABLE ballot (
    id VARCHAR(32) NOT NULL PRIMARY KEY,
    round_id INTEGER NOT NULL,
    group_id INTEGER NOT NULL,
    uniform BOOLEAN NOT NULL
) WITHOUT ROWID;
CREATE INDEX ix_ballot_round_id ON ballot (round_id);
CREATE INDEX ix_ballot_group_id ON ballot (group_id);
CREATE TABLE rating (
    ballot_id VARCHAR(32) NOT NULL,
    target_id INTEGER NOT NULL,
    criterion_id INTEGER NOT NULL,
    level_id INTEGER NOT NULL,
    round_id INTEGER NOT NULL,
    group_id INTEGER NOT NULL,
    PRIMARY KEY (ballot_id, target_id, criterion_id)
) WITHOUT ROWID;
"""


def random_ballots(
    items: tuple[tuple[int, int], ...], level_ids: list[int], n: int, seed: int = 7
) -> list[dict[tuple[int, int], int]]:
    rng = random.Random(seed)
    return [{item: rng.choice(level_ids) for item in items} for _ in range(n)]


class AppPath:
    """Ballots through `ballots.submit_with_retry`, as the ballot page stores them: one
    transaction per ballot."""

    def __init__(self, directory: Path, n: int) -> None:
        self.engine = db.make_engine(f"sqlite:///{directory / 'app.db'}")
        bootstrap.initialize(self.engine)
        with db.transaction(self.engine) as s:
            bureau = build_bureau(session=s, grassroots=TARGETS_PER_BRANCH, cadres=False)
            group_id = bureau.groups[GroupKey.VENDORS]
            self.codes = codes.issue(
                session=s, round_id=bureau.round_id, group_id=group_id, count=n
            )
            form = ballots.ballot_form(session=s, round_id=bureau.round_id, group_id=group_id)
        assert len(form.cards) == 30 and len(form.items) == 180, len(form.items)
        random.Random(3).shuffle(self.codes)
        self.answers = random_ballots(form.items, [level.id for level in form.levels], n)

    def store(self, start: int, stop: int) -> None:
        for code, answers in zip(self.codes[start:stop], self.answers[start:stop], strict=True):
            ballots.submit_with_retry(self.engine, code, answers)

    def ratings(self) -> int:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT count(*) FROM rating").scalar_one()


class RawPath:
    """The same ballot and rating rows through plain sqlite3: BEGIN, executemany, COMMIT."""

    def __init__(self, directory: Path, n: int) -> None:
        self.conn = sqlite3.connect(directory / "raw.db", isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(RAW_SCHEMA)
        items = tuple((t, c) for t in range(1, 31) for c in range(1, 7))
        self.answers = random_ballots(items, [1, 2, 3, 4, 5], n)

    def store(self, start: int, stop: int) -> None:
        for answers in self.answers[start:stop]:
            ballot_id = secrets.token_hex(16)
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                "INSERT INTO ballot (id, round_id, group_id, uniform) VALUES (?, ?, ?, ?)",
                (ballot_id, 1, 3, len(set(answers.values())) == 1),
            )
            self.conn.executemany(
                "INSERT INTO rating"
                " (ballot_id, target_id, criterion_id, level_id, round_id, group_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(ballot_id, t, c, level, 1, 3) for (t, c), level in answers.items()],
            )
            self.conn.execute("COMMIT")

    def ratings(self) -> int:
        return self.conn.execute("SELECT count(*) FROM rating").fetchone()[0]


def rates(directory: Path, n: int, chunk: int = 50) -> tuple[float, float]:
    """Ballots per second of each path. The paths take turns, `chunk` ballots at a time, so
    a busy neighbour on the machine slows both alike and the ratio stays fair."""
    app, raw = AppPath(directory, n), RawPath(directory, n)
    spent = {"app": 0.0, "raw": 0.0}
    for start in range(0, n, chunk):
        for name, path in (("raw", raw), ("app", app)):
            began = time.perf_counter()
            path.store(start, min(start + chunk, n))
            spent[name] += time.perf_counter() - began
    assert app.ratings() == raw.ratings() == n * 180
    app.engine.dispose()
    raw.conn.close()
    return n / spent["app"], n / spent["raw"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="ballots per path (default 2000)")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (50 ballots)")
    args = parser.parse_args()
    n = 50 if args.quick else args.n

    with tempfile.TemporaryDirectory(prefix="pingyi-bench-") as tmp:
        app, raw = rates(Path(tmp), n)
    print(
        json.dumps(
            {
                "bench": "ballot_write",
                "n": n,
                "app_ballots_per_s": round(app, 1),
                "raw_ballots_per_s": round(raw, 1),
                "ratio": round(app / raw, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
