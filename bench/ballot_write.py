"""Ballot write rate: casting through the 票箱 and counting it (开箱计票) against plain SQL.

Workload, fixed before measuring: n ballots (default 2000; `--quick` 50) of the 市场经营户 form,
30 targets × 6 criteria = 180 ratings each, no comments, every one with the device's receipt
token as the ballot page sends it. Both paths get the same answers, for the same round and
group ids.

- App: every ballot through `ballots.submit_with_retry` (what the ballot page runs: code claim,
  checks, the ballot sealed into `ballot_box`, the cast counted per minute), one transaction
  each; then `evaluation.close` once for the group: the box opened, shuffled, ballots, ratings
  and tallies written, and the files sealed (SQLite VACUUM + wal_checkpoint(TRUNCATE);
  PostgreSQL VACUUM FULL + CHECKPOINT). The close is part of the app's time.
- Raw: what the app did per ballot before the box, in plain SQL on the driver, each ballot in
  one transaction: claim the code (conditional UPDATE on a table of n codes with a unique
  code_hash, rowcount checked), insert the ballot and its 180 ratings (the fastest plain way
  on each database: one multi-row INSERT on SQLite, COPY on PostgreSQL), count the ratings
  into the tally (INSERT … SELECT … ON CONFLICT DO UPDATE) and the cast into the per-minute
  ballot tally. Same pragmas as the app on SQLite (WAL, synchronous=NORMAL).

The casts take turns in chunks of 50 so a busy neighbour slows both alike. Afterwards both
databases must hold n × 180 ratings and the same tallies, and `tally.verify` must find nothing.

Prints one JSON line: app_ballots_per_s = n / (cast + close time), raw_ballots_per_s,
cast_ballots_per_s = n / cast time, close_s (seal included), seal_s (the seal alone), ratio =
app / raw. Target: ratio ≥ 0.5.

    python bench/ballot_write.py [--n 2000] [--quick] [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

With `--url` both paths run on that PostgreSQL server, each in a scratch database created
through its `postgres` database and dropped afterwards (the URL's own database is not used);
the raw path runs the same SQL on psycopg, in %s style.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
# A throwaway key for hashing the codes and sealing the box, so the bench never touches the
# app's data directory.
os.environ.setdefault("PINGYI_SECRET_KEY", secrets.token_hex(32))

from pgtools import scratch_database, scratch_name  # noqa: E402
from sqlalchemy import Engine, create_engine, func, make_url, select  # noqa: E402
from worlds import build_bureau  # noqa: E402

from pingyi import ballots, bootstrap, codes, db, evaluation, tally  # noqa: E402
from pingyi.models import BallotTally, GroupKey, Tally  # noqa: E402

TARGETS_PER_BRANCH = (15, 15)  # 30 grassroots members, rated by 市场经营户 on 6 criteria each
ITEMS = 180
CHUNK = 50

Answers = dict[tuple[int, int], int]
TallyRows = dict[tuple[int, int, int, bool], int]  # (target, criterion, level, uniform) → count

# The app's tables for this work (see pingyi/models.py), without the app's foreign keys.
RAW_SCHEMA = """
CREATE TABLE evaluation_code (
    id INTEGER NOT NULL PRIMARY KEY,
    round_id INTEGER NOT NULL,
    group_id INTEGER NOT NULL,
    code_hash VARCHAR(64) NOT NULL UNIQUE,
    used BOOLEAN NOT NULL,
    receipt VARCHAR(64)
);
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
CREATE TABLE tally (
    round_id INTEGER NOT NULL,
    group_id INTEGER NOT NULL,
    target_id INTEGER NOT NULL,
    criterion_id INTEGER NOT NULL,
    level_id INTEGER NOT NULL,
    uniform BOOLEAN NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (round_id, group_id, target_id, criterion_id, level_id, uniform)
) WITHOUT ROWID;
CREATE TABLE ballot_tally (
    round_id INTEGER NOT NULL,
    group_id INTEGER NOT NULL,
    minute VARCHAR(26) NOT NULL,
    ballots INTEGER NOT NULL,
    PRIMARY KEY (round_id, group_id, minute)
);
"""

# One ballot, in SQLite's parameter style; PostgreSQL gets the same with %s.
RAW_SQL = {
    "claim": "UPDATE evaluation_code SET used = TRUE, receipt = ?"
    " WHERE code_hash = ? AND used = FALSE",
    "ballot": "INSERT INTO ballot (id, round_id, group_id, uniform) VALUES (?, ?, ?, ?)",
    # All 180 ratings in one statement: on SQLite a third faster than executemany.
    "ratings": "INSERT INTO rating"
    " (ballot_id, target_id, criterion_id, level_id, round_id, group_id) VALUES "
    + ", ".join("(?, ?, ?, ?, ?, ?)" for _ in range(ITEMS)),
    # The ballot's own ratings read back in the database rather than bound again.
    "tally": "INSERT INTO tally"
    " (round_id, group_id, target_id, criterion_id, level_id, uniform, count)"
    " SELECT round_id, group_id, target_id, criterion_id, level_id, ?, 1"
    " FROM rating WHERE ballot_id = ?"
    " ON CONFLICT (round_id, group_id, target_id, criterion_id, level_id, uniform)"
    " DO UPDATE SET count = tally.count + 1",
    "cast": "INSERT INTO ballot_tally (round_id, group_id, minute, ballots) VALUES (?, ?, ?, 1)"
    " ON CONFLICT (round_id, group_id, minute) DO UPDATE SET ballots = ballot_tally.ballots + 1",
}
RAW_SQL_PG = {name: sql.replace("?", "%s") for name, sql in RAW_SQL.items()}
# PostgreSQL takes the ratings fastest by COPY: ~0.6 ms a ballot, against ~1 ms for one INSERT
# … SELECT FROM unnest(arrays) and ~3 ms for the multi-row INSERT (planned anew each time).
COPY_RATINGS = (
    "COPY rating (ballot_id, target_id, criterion_id, level_id, round_id, group_id) FROM STDIN"
)


def random_ballots(
    items: tuple[tuple[int, int], ...], level_ids: list[int], n: int
) -> list[Answers]:
    rng = random.Random(7)
    return [{item: rng.choice(level_ids) for item in items} for _ in range(n)]


class Writer(Protocol):
    """A path that casts ballots start..stop of the workload."""

    def store(self, start: int, stop: int) -> None: ...


class AppPath:
    """Ballots through `ballots.submit_with_retry`, as the ballot page casts them (one
    transaction each), then the group's box counted by `evaluation.close`."""

    def __init__(self, url: str, n: int) -> None:
        self.engine = db.make_engine(url)
        bootstrap.initialize(self.engine)
        with db.transaction(self.engine) as s:
            bureau = build_bureau(session=s, grassroots=TARGETS_PER_BRANCH, cadres=False)
            self.round_id = bureau.round_id
            self.group_id = bureau.groups[GroupKey.VENDORS]
            self.codes = codes.issue(
                actor="性能测试", session=s, round_id=self.round_id, group_id=self.group_id, count=n
            )
            form = ballots.ballot_form(session=s, round_id=self.round_id, group_id=self.group_id)
        assert len(form.cards) == 30 and len(form.items) == ITEMS, len(form.items)
        random.Random(3).shuffle(self.codes)  # slips are handed out in no order
        self.answers = random_ballots(form.items, [level.id for level in form.levels], n)
        self.tokens = [secrets.token_hex(16) for _ in range(n)]  # one device each

    def store(self, start: int, stop: int) -> None:
        for i in range(start, stop):
            ballots.submit_with_retry(
                self.engine,
                self.codes[i],
                self.answers[i],
                {},
                round_id=self.round_id,
                receipt=self.tokens[i],
            )

    def close(self) -> tuple[float, float]:
        """开箱计票 of the group, seal included: (seconds in all, seconds sealing)."""
        sealing = [0.0]
        seal = evaluation.seal

        def timed_seal(engine: Engine) -> bool:
            began = time.perf_counter()
            try:
                return seal(engine)
            finally:
                sealing[0] += time.perf_counter() - began

        # `close` looks `seal` up in its module at call time: timing it costs two clock reads.
        evaluation.seal = timed_seal  # type: ignore[assignment]
        try:
            began = time.perf_counter()
            counted = evaluation.close(self.engine, round_id=self.round_id, group_id=self.group_id)
            spent = time.perf_counter() - began
        finally:
            evaluation.seal = seal  # type: ignore[assignment]
        assert counted.ballots == len(self.codes) and counted.sealed, counted
        return spent, sealing[0]

    def ratings(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM rating").scalar_one())

    def tallies(self) -> tuple[TallyRows, int]:
        """The group's rating tallies, and its casts over all minutes."""
        query = select(
            Tally.target_id, Tally.criterion_id, Tally.level_id, Tally.uniform, Tally.count
        ).where(Tally.round_id == self.round_id, Tally.group_id == self.group_id)  # type: ignore[arg-type]
        with self.engine.connect() as conn:
            rows = {(t, c, lv, bool(u)): int(k) for t, c, lv, u, k in conn.execute(query)}
            casts = conn.execute(
                select(func.sum(BallotTally.ballots)).where(
                    BallotTally.round_id == self.round_id,  # type: ignore[arg-type]
                    BallotTally.group_id == self.group_id,  # type: ignore[arg-type]
                )
            ).scalar_one()
        return rows, int(casts)

    def problems(self) -> list[str]:
        with db.session(self.engine) as s:
            return tally.verify(session=s, round_id=self.round_id)


class RawPath:
    """The same ballots in plain SQL on the driver, one transaction each (see the top)."""

    def __init__(self, conn: Any, postgresql: bool, app: AppPath) -> None:
        self.conn, self.postgresql = conn, postgresql
        self.sql = RAW_SQL_PG if postgresql else RAW_SQL
        self.round_id, self.group_id = app.round_id, app.group_id
        self.answers, self.tokens = app.answers, app.tokens
        # Codes of its own, hashed as plainly as possible; claimed in the app's order.
        self.codes = [secrets.token_hex(8) for _ in app.codes]
        rows = [
            (i + 1, self.round_id, self.group_id, _hash(code)) for i, code in enumerate(self.codes)
        ]
        random.Random(5).shuffle(rows)  # rows in the order the codes were drawn, not used
        insert = "INSERT INTO evaluation_code (id, round_id, group_id, code_hash, used)" + (
            " VALUES (%s, %s, %s, %s, FALSE)" if postgresql else " VALUES (?, ?, ?, ?, FALSE)"
        )
        cursor = conn.cursor()
        if postgresql:
            for statement in RAW_SCHEMA.replace(") WITHOUT ROWID;", ");").split(";"):
                if statement.strip():
                    cursor.execute(statement)
            cursor.executemany(insert, rows)
            conn.commit()
        else:
            cursor.executescript(RAW_SCHEMA)
            cursor.execute("BEGIN")
            cursor.executemany(insert, rows)
            cursor.execute("COMMIT")
        self.cursor = cursor

    def store(self, start: int, stop: int) -> None:
        sql, cursor, rid, gid = self.sql, self.cursor, self.round_id, self.group_id
        for i in range(start, stop):
            answers = self.answers[i]
            uniform = len(set(answers.values())) == 1
            ballot_id = secrets.token_hex(16)
            minute = datetime.now(UTC).replace(second=0, microsecond=0).isoformat(" ")
            if not self.postgresql:
                cursor.execute("BEGIN IMMEDIATE")  # as the app's writers: the lock up front
            cursor.execute(sql["claim"], (_hash(self.tokens[i]), _hash(self.codes[i])))
            if cursor.rowcount != 1:
                raise AssertionError("a fresh code was not claimed")
            cursor.execute(sql["ballot"], (ballot_id, rid, gid, uniform))
            if self.postgresql:
                with cursor.copy(COPY_RATINGS) as copy:
                    for (t, c), level in answers.items():
                        copy.write_row((ballot_id, t, c, level, rid, gid))
            else:
                cursor.execute(
                    sql["ratings"],
                    [
                        v
                        for (t, c), level in answers.items()
                        for v in (ballot_id, t, c, level, rid, gid)
                    ],
                )
            cursor.execute(sql["tally"], (uniform, ballot_id))
            cursor.execute(sql["cast"], (rid, gid, minute))
            if self.postgresql:
                self.conn.commit()
            else:
                cursor.execute("COMMIT")

    def ratings(self) -> int:
        self.cursor.execute("SELECT count(*) FROM rating")
        return int(self.cursor.fetchone()[0])

    def tallies(self) -> tuple[TallyRows, int]:
        self.cursor.execute("SELECT target_id, criterion_id, level_id, uniform, count FROM tally")
        rows = {(t, c, lv, bool(u)): int(k) for t, c, lv, u, k in self.cursor.fetchall()}
        self.cursor.execute("SELECT sum(ballots) FROM ballot_tally")
        casts = int(self.cursor.fetchone()[0])
        if self.postgresql:
            self.conn.commit()
        return rows, casts


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@contextmanager
def databases(url: str | None) -> Iterator[tuple[str, Any, bool]]:
    """(the app's SQLAlchemy URL, the raw path's driver connection, whether PostgreSQL)."""
    with ExitStack() as stack:
        if url is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pingyi-bench-")))
            raw = sqlite3.connect(tmp / "raw.db", isolation_level=None)
            stack.callback(raw.close)
            raw.execute("PRAGMA journal_mode=WAL")
            raw.execute("PRAGMA synchronous=NORMAL")
            yield f"sqlite:///{tmp / 'app.db'}", raw, False
            return
        import psycopg  # only here: a SQLite run needs no PostgreSQL driver

        admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        stack.callback(admin.dispose)
        app_url = stack.enter_context(scratch_database(admin, scratch_name("pingyi_bench_app")))
        raw_url = make_url(
            stack.enter_context(scratch_database(admin, scratch_name("pingyi_bench_raw")))
        )
        raw = psycopg.connect(
            host=raw_url.host,
            port=raw_url.port,
            user=raw_url.username,
            password=raw_url.password,
            dbname=raw_url.database,
        )
        stack.callback(raw.close)  # closed before its database is dropped
        yield app_url, raw, True


def run(n: int, url: str | None) -> dict[str, Any]:
    with databases(url) as (app_url, raw_conn, postgresql):
        app = AppPath(app_url, n)
        try:
            raw = RawPath(raw_conn, postgresql, app)
            spent = {"app": 0.0, "raw": 0.0}
            for start in range(0, n, CHUNK):
                stop = min(start + CHUNK, n)
                path: Writer
                for name, path in (("raw", raw), ("app", app)):
                    began = time.perf_counter()
                    path.store(start, stop)
                    spent[name] += time.perf_counter() - began
            close_s, seal_s = app.close()

            assert app.ratings() == raw.ratings() == n * ITEMS
            app_tallies, raw_tallies = app.tallies(), raw.tallies()
            assert app_tallies == raw_tallies, "the two paths counted differently"
            assert sum(app_tallies[0].values()) == n * ITEMS and app_tallies[1] == n
            problems = app.problems()
            assert not problems, problems[:5]
        finally:
            app.engine.dispose()
    app_s = spent["app"] + close_s
    return {
        "bench": "ballot_write",
        "backend": "postgresql" if postgresql else "sqlite",
        "n": n,
        "app_ballots_per_s": round(n / app_s, 1),
        "raw_ballots_per_s": round(n / spent["raw"], 1),
        "cast_ballots_per_s": round(n / spent["app"], 1),
        "close_s": round(close_s, 3),
        "seal_s": round(seal_s, 3),
        "ratio": round(spent["raw"] / app_s, 3),
        "target": 0.5,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="ballots per path (default 2000)")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (50 ballots)")
    parser.add_argument(
        "--url",
        help="run on this PostgreSQL server (postgresql+psycopg://user@host:port/db),"
        " in scratch databases",
    )
    args = parser.parse_args()
    print(json.dumps(run(50 if args.quick else args.n, args.url)))


if __name__ == "__main__":
    main()
