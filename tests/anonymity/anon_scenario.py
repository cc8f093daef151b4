"""The scenario every attack of this suite reads: a group votes, copies are taken, it is counted.

A bureau is built through the app's own functions (`worlds`), one evaluator group gets
ISSUED codes and CASTS ballots are cast with `ballots.submit_with_retry`, as the ballot page
sends them: one after another, in a burst of concurrent devices, with lost replies sent again
(same device token: told "again") and second devices (another token: refused). Each ballot is
unique: its answer pattern, and for most a comment carrying a marker ("意见标记<run>-0017")
that names the ballot. The ground truth (`Truth`) knows which code cast which ballot, and
when.

Copies of the database are taken before the group is counted (the files with the engine
open, `pingyi backup`, pg_dump, the server's files and WAL) and again after
`evaluation.close`. The tests are the attacker: they get the copies and the codes in the
order they were used, and try to tell which ballot came from which code.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import secrets
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pg_forensics as pgf
from sqlalchemy import Engine, inspect, text
from sqlite_pages import merged_copy
from worlds import Bureau, bureau, full_answers, issue

from pingyi import backup, ballots, db, evaluation
from pingyi.models import GroupKey

GROUP = GroupKey.UNIT_STAFF  # rates three 机关 members: 19 items, quick to cast and count
ISSUED = 64
FIRST_SEQUENTIAL = 20  # casts one after another, then
BURST = 15  # devices at once, then
LAST_SEQUENTIAL = 21  # one after another again
CASTS = FIRST_SEQUENTIAL + BURST + LAST_SEQUENTIAL
UNIFORM_AT = (3, 24, 41)  # planned ballots with one level everywhere (一刀切), one in the burst
RACED_IN_BURST = (22, 30)  # planned ballots a second device sends at the same moment
SECRET_ENV = "PINGYI_SECRET_KEY"

# Tables that hold what a ballot says, once counted; the box holds it sealed before.
CONTENT_TABLES = ("ballot", "rating", "mass_comment", "tally")
BOX_TABLE = "ballot_box"
# What the WAL must never show one transaction writing together: a code and a counted ballot.
CODE_TABLE = "evaluation_code"
WATCHED_TABLES = (CODE_TABLE, BOX_TABLE, *CONTENT_TABLES, "ballot_tally", "group_evaluation")

Answers = dict[tuple[int, int], int]
Pattern = frozenset[tuple[int, int, int]]  # (target, criterion, level) of every item


def pattern_of(answers: Answers) -> Pattern:
    return frozenset((t, c, level) for (t, c), level in answers.items())


@dataclass(frozen=True)
class Cast:
    """One ballot cast: `index` is its place in the order of casting (0 first)."""

    index: int
    mark: int  # the number in its comments' markers: its place in the plan
    code: str
    answers: Answers
    comments: dict[int, str]
    token: str | None  # the device's receipt token

    @property
    def uniform(self) -> bool:
        return len(set(self.answers.values())) == 1


@dataclass(frozen=True)
class Truth:
    """What the attacker wants to learn: which code cast which ballot, and when."""

    run: str  # in every marker, so a marker of another run on the same server never counts
    casts: tuple[Cast, ...]  # in the order of casting

    @property
    def marker_prefix(self) -> str:
        return f"意见标记{self.run}-"

    @property
    def marker_bytes(self) -> re.Pattern[bytes]:
        return re.compile(re.escape(self.marker_prefix.encode()) + rb"(\d{4})")

    @property
    def commented(self) -> int:
        """How many casts carry at least one comment."""
        return sum(1 for cast in self.casts if cast.comments)

    def cast_of_pattern(self, pattern: Pattern) -> int | None:
        return self._by_pattern.get(pattern)

    def cast_of_mark(self, mark: int) -> int | None:
        return self._by_mark.get(mark)

    def cast_of_text(self, value: str | None) -> int | None:
        match = re.search(re.escape(self.marker_prefix) + r"(\d{4})", value or "")
        return self.cast_of_mark(int(match.group(1))) if match else None

    @functools.cached_property
    def _by_pattern(self) -> dict[Pattern, int]:
        return {pattern_of(cast.answers): cast.index for cast in self.casts}

    @functools.cached_property
    def _by_mark(self) -> dict[int, int]:
        return {cast.mark: cast.index for cast in self.casts}


@dataclass(frozen=True)
class Logged:
    logger: str
    level: int
    message: str


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[Logged] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        self.records.append(
            Logged(record.name, record.levelno, f"{message} {record.exc_text or ''}")
        )


CANARY = "anonymity suite: the log capture works"


@contextmanager
def all_logging(into: list[Logged]) -> Iterator[None]:
    """Every record of every logger at DEBUG and above, as a server logging everything would
    write it (what caplog does, for a fixture that outlives one test). A canary record shows
    the capture itself works."""
    root = logging.getLogger()
    handler, level = _Capture(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        logging.getLogger("pingyi.anonymity").debug(CANARY)
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        into.extend(handler.records)


# ---- copies


@dataclass(frozen=True)
class SqliteCopy:
    files: dict[str, bytes]  # "" (the .db), "-wal", "-shm": copied with the engine open
    merged: Path  # the copy opened as SQLite would: the WAL checkpointed into it
    backup: Path  # `pingyi backup`


@dataclass(frozen=True)
class PgCopy:
    dump: str  # pg_dump, plain SQL
    backup_text: str  # `pingyi backup` (custom format) through pg_restore --data-only
    files: dict[str, bytes] | None  # the database's directory after a CHECKPOINT
    comment_file: bytes | None  # mass_comment's own relation file
    wal: bytes | None  # the WAL's records since casting began, as raw bytes
    unavailable: str = ""  # why files and comment_file are None
    wal_unavailable: str = ""  # why wal is None


def copy_sqlite(engine: Engine, directory: Path) -> SqliteCopy:
    """The files as a copy of the data directory has them, while the app runs."""
    directory.mkdir(parents=True)
    path = Path(str(engine.url.database))
    with engine.connect() as conn:  # an open connection: the -wal and -shm are kept
        conn.exec_driver_sql("SELECT 1")
        files = {
            suffix: Path(f"{path}{suffix}").read_bytes()
            for suffix in ("", "-wal", "-shm")
            if Path(f"{path}{suffix}").exists()
        }
    out = directory / "pingyi-backup.db"
    backup.backup(bind=engine, out=out, actor="测试")
    return SqliteCopy(files, merged_copy(files, directory / "merged"), out)


def copy_postgresql(engine: Engine, directory: Path, wal_from: int) -> PgCopy:
    directory.mkdir(parents=True)
    dump = pgf.dump_plain(engine)
    out = directory / "pingyi-backup.dump"
    backup.backup(bind=engine, out=out, actor="测试")
    backup_text = pgf.restore_to_text(engine, out)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        try:
            found = pgf.server(conn)
            pgf.checkpoint(conn)
        except pgf.Unavailable as exc:
            return PgCopy(dump, backup_text, None, None, None, str(exc), str(exc))
        files = pgf.database_files(found)
        comment_file = pgf.relation_file(conn, found, "mass_comment")
        try:
            wal = pgf.wal_bytes(conn, found, wal_from, pgf.flushed_lsn(conn))
        except pgf.Unavailable as exc:
            return PgCopy(dump, backup_text, files, comment_file, None, "", str(exc))
    return PgCopy(dump, backup_text, files, comment_file, wal)


# ---- what the live PostgreSQL server shows after the count


@dataclass(frozen=True)
class PgLive:
    """Rows with their place in the table's file (block, line pointer) and inserting
    transaction (xmin), and the WAL's transactions; read after the count."""

    ballots: list[dict[str, Any]]
    ratings: list[dict[str, Any]]
    comments: list[dict[str, Any]]
    code_xmins: dict[int, int]  # evaluation_code id → xmin
    filenodes: dict[int, str]  # relation file → table, every file the tables had
    transactions: dict[int, set[int]] | None  # WAL: transaction → relation files it wrote
    unavailable: str = ""


_PLACED = "(ctid::text::point)[0]::bigint AS blk, (ctid::text::point)[1]::int AS line,"
_XMIN = "xmin::text::bigint AS xmin"


def _placed_rows(conn: Any, table: str, columns: str, group: tuple[int, int]) -> list[dict]:
    query = text(
        f"SELECT {_PLACED} {_XMIN}, {columns} FROM {table}"
        " WHERE round_id = :r AND group_id = :g ORDER BY ctid"
    )
    return [dict(row) for row in conn.execute(query, {"r": group[0], "g": group[1]}).mappings()]


def read_pg_live(engine: Engine, group: tuple[int, int], wal: _WalWatch) -> PgLive:
    with engine.connect() as conn:
        ballots_ = _placed_rows(conn, "ballot", "id", group)
        ratings = _placed_rows(
            conn, "rating", "ballot_id, target_id, criterion_id, level_id", group
        )
        comments = _placed_rows(conn, "mass_comment", "id, text", group)
        code_xmins = {
            int(row.id): int(row.xmin)
            for row in conn.execute(text(f"SELECT id, {_XMIN} FROM evaluation_code"))
        }
        nodes = {**wal.filenodes, **pgf.filenodes(conn, WATCHED_TABLES)}
        try:
            if wal.unavailable:
                raise pgf.Unavailable(wal.unavailable)
            found = pgf.server(conn)
            dump = pgf.waldump(engine, found, *wal.span())
            transactions = pgf.relations_by_transaction(dump, found.database_oid)
        except pgf.Unavailable as exc:
            return PgLive(ballots_, ratings, comments, code_xmins, nodes, None, str(exc))
    return PgLive(ballots_, ratings, comments, code_xmins, nodes, transactions)


# ---- the scenario


@dataclass
class Scenario:
    backend: str
    engine: Engine
    world: Bureau
    group_id: int
    truth: Truth
    unused_codes: list[str]
    outcomes: Counter[str] = field(default_factory=Counter)  # of the sends after the first
    rows_before_casting: dict[str, int] = field(default_factory=dict)
    rows_after_casting: dict[str, int] = field(default_factory=dict)
    audit_before: list[dict[str, Any]] = field(default_factory=list)
    audit_after_casting: list[dict[str, Any]] = field(default_factory=list)
    audit_after_close: list[dict[str, Any]] = field(default_factory=list)
    logs: list[Logged] = field(default_factory=list)
    cast_row_ids: dict[int, str] = field(default_factory=dict)  # cast → the row id it wrote
    box_sizes: list[int] | None = None  # length of each sealed ballot in the box
    before: SqliteCopy | PgCopy | None = None
    after: SqliteCopy | PgCopy | None = None
    pg_live: PgLive | None = None
    closed_code: str = ""  # what an unused code of the counted group was told
    ballots_after_refusal: int = 0

    @property
    def group(self) -> tuple[int, int]:
        return (self.world.round_id, self.group_id)


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: int(conn.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one())
            for name in inspect(engine).get_table_names()
        }


def audit_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM audit_event")).mappings()]


def _plan(engine: Engine, world: Bureau, group_id: int, codes: list[str], run: str) -> list[Cast]:
    """CASTS distinct ballots, in the order they are meant to be cast (the burst's real order
    is known only once it is over)."""
    rng = random.Random(f"anonymity-{run}")
    varied = full_answers(engine, world.round_id, group_id)
    items, levels = list(varied), sorted(set(varied.values()))
    targets = sorted({t for t, _ in items})
    seen: set[Pattern] = set()
    planned = []
    for mark in range(CASTS):
        if mark in UNIFORM_AT:
            level = UNIFORM_AT.index(mark)
            answers = full_answers(engine, world.round_id, group_id, level=level, vary=False)
        else:
            answers = {}
            while not answers or len(set(answers.values())) == 1 or pattern_of(answers) in seen:
                answers = {item: rng.choice(levels) for item in items}
        seen.add(pattern_of(answers))
        comments = {}
        if mark % 3 != 2:  # two ballots in three say something, at lengths that differ
            marker = f"意见标记{run}-{mark:04d}"
            comments[targets[mark % len(targets)]] = marker + "建议加强学习" * (mark % 5)
            if mark % 5 == 0:
                comments[targets[(mark + 1) % len(targets)]] = marker + "(另一条)"
        token = None if mark % 10 == 7 else secrets.token_hex(16)  # a device without one
        planned.append(Cast(-1, mark, codes[mark], answers, comments, token))
    return planned


def _outcome(send: Callable[[], ballots.Receipt]) -> str:
    try:
        receipt = send()
    except ballots.AlreadyUsed:
        return "used"
    except ballots.CodeRefused as exc:
        return f"refused: {exc}"
    return "again" if receipt.again else "stored"


def _send(engine: Engine, cast: Cast, token: str | None) -> ballots.Receipt:
    """As the ballot page does: the code opened, then the whole ballot sent."""
    with db.transaction(engine) as session:
        ballots.open_code(session=session, code=cast.code)
    return ballots.submit_with_retry(engine, cast.code, cast.answers, cast.comments, receipt=token)


def _resend(engine: Engine, cast: Cast, token: str | None) -> str:
    return _outcome(
        lambda: ballots.submit_with_retry(
            engine, cast.code, cast.answers, cast.comments, receipt=token
        )
    )


def _content_ids(engine: Engine) -> set[str]:
    """Ids of the rows a cast writes: its box entry (or, before there was a box, its ballot)."""
    present = set(inspect(engine).get_table_names())
    table = BOX_TABLE if BOX_TABLE in present else "ballot"
    with engine.connect() as conn:
        return set(conn.execute(text(f"SELECT id FROM {table}")).scalars())


def _cast_alone(scenario: Scenario, cast: Cast) -> None:
    """One device, then what happens after a lost reply or on a second device."""
    engine = scenario.engine
    before = _content_ids(engine)
    outcome = _outcome(lambda: _send(engine, cast, cast.token))
    assert outcome == "stored", f"ballot {cast.mark}: {outcome}"
    (new,) = _content_ids(engine) - before
    scenario.cast_row_ids[cast.index] = new
    if cast.mark % 4 == 1 and cast.token:
        scenario.outcomes[f"same device: {_resend(engine, cast, cast.token)}"] += 1
    if cast.mark % 8 == 5:
        scenario.outcomes[f"other device: {_resend(engine, cast, secrets.token_hex(16))}"] += 1


def _cast_burst(scenario: Scenario, burst: list[Cast]) -> list[Cast]:
    """Every device of the burst at once, two codes on two devices each; the casts in the
    order their ballots were stored (as their devices heard back)."""
    sends = [(cast, cast.token) for cast in burst]
    sends += [(cast, secrets.token_hex(16)) for cast in burst if cast.mark in RACED_IN_BURST]
    start, lock = threading.Barrier(len(sends)), threading.Lock()
    stored: list[Cast] = []

    def one(send: tuple[Cast, str | None]) -> str:
        cast, token = send
        start.wait()
        outcome = _outcome(lambda: _send(scenario.engine, cast, token))
        if outcome == "stored":
            with lock:
                stored.append(cast)
        return outcome

    with ThreadPoolExecutor(max_workers=len(sends)) as pool:
        outcomes = Counter(pool.map(one, sends))
    scenario.outcomes.update({f"burst: {name}": n for name, n in outcomes.items()})
    return stored


def _with_index(cast: Cast, index: int) -> Cast:
    return Cast(index, cast.mark, cast.code, cast.answers, cast.comments, cast.token)


def cast_all(scenario: Scenario, planned: list[Cast]) -> Truth:
    order: list[Cast] = []

    def alone(cast: Cast) -> None:
        placed = _with_index(cast, len(order))
        _cast_alone(scenario, placed)
        order.append(placed)

    for cast in planned[:FIRST_SEQUENTIAL]:
        alone(cast)
    burst = planned[FIRST_SEQUENTIAL : FIRST_SEQUENTIAL + BURST]
    for cast in _cast_burst(scenario, burst):
        order.append(_with_index(cast, len(order)))
    for cast in planned[FIRST_SEQUENTIAL + BURST :]:
        alone(cast)
    return Truth(scenario.truth.run, tuple(order))


def _box_sizes(engine: Engine, group: tuple[int, int]) -> list[int] | None:
    if BOX_TABLE not in inspect(engine).get_table_names():
        return None
    query = text(f"SELECT LENGTH(sealed) FROM {BOX_TABLE} WHERE round_id = :r AND group_id = :g")
    with engine.connect() as conn:
        return [int(n) for n in conn.execute(query, {"r": group[0], "g": group[1]}).scalars()]


def _try_closed_group(scenario: Scenario) -> None:
    """An unused code of the counted group, sent with a complete ballot (one level no cast
    used everywhere: should it be stored, it is told from every cast)."""
    world, engine = scenario.world, scenario.engine
    level = len(UNIFORM_AT)
    answers = full_answers(engine, world.round_id, scenario.group_id, level=level, vary=False)
    code = scenario.unused_codes[0]
    scenario.closed_code = _outcome(
        lambda: ballots.submit_with_retry(engine, code, answers, receipt=None)
    )
    with scenario.engine.connect() as conn:
        scenario.ballots_after_refusal = int(
            conn.execute(
                text("SELECT COUNT(*) FROM ballot WHERE round_id = :r AND group_id = :g"),
                {"r": scenario.group[0], "g": scenario.group[1]},
            ).scalar_one()
        )


def run(engine: Engine, backend: str, directory: Path, admin: Engine | None) -> Scenario:
    """The whole scenario on one database: vote, copy, count, copy, try a code again."""
    world = bureau(engine)
    group_id = world.groups[GROUP]
    codes = issue(engine, world.round_id, group_id, ISSUED)  # sorted: the order of the slips
    slips = random.Random(secrets.token_hex(8)).sample(codes, len(codes))  # as people come
    run_id = secrets.token_hex(3)
    scenario = Scenario(backend, engine, world, group_id, Truth(run_id, ()), slips[CASTS:])
    planned = _plan(engine, world, group_id, slips, run_id)
    scenario.rows_before_casting = row_counts(engine)
    scenario.audit_before = audit_rows(engine)

    with _wal_watch(scenario, admin) as wal:
        with all_logging(scenario.logs):
            scenario.truth = cast_all(scenario, planned)
        scenario.rows_after_casting = row_counts(engine)
        scenario.audit_after_casting = audit_rows(engine)
        scenario.box_sizes = _box_sizes(engine, scenario.group)
        scenario.before = _copy(scenario, directory / "before", wal)
        wal.note_filenodes()
        with all_logging(scenario.logs):
            evaluation.close(engine, round_id=world.round_id, group_id=group_id)
        scenario.audit_after_close = audit_rows(engine)
        scenario.after = _copy(scenario, directory / "after", wal)
        if backend == "postgresql":
            scenario.pg_live = read_pg_live(engine, scenario.group, wal)
    _try_closed_group(scenario)
    return scenario


def _copy(scenario: Scenario, directory: Path, wal: _WalWatch) -> SqliteCopy | PgCopy:
    if scenario.backend == "sqlite":
        return copy_sqlite(scenario.engine, directory)
    return copy_postgresql(scenario.engine, directory, wal.start)


@dataclass
class _WalWatch:
    """PostgreSQL: where the WAL stood when casting began, and every relation file the
    watched tables had meanwhile (VACUUM FULL gives them new ones)."""

    engine: Engine
    start: int = 0
    filenodes: dict[int, str] = field(default_factory=dict)
    unavailable: str = ""  # why the WAL of the scenario could not be kept

    def note_filenodes(self) -> None:
        if db.is_sqlite(self.engine):
            return
        with self.engine.connect() as conn:
            self.filenodes.update(pgf.filenodes(conn, WATCHED_TABLES))

    def span(self) -> tuple[int, int]:
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return self.start, pgf.flushed_lsn(conn)


@contextmanager
def _wal_watch(scenario: Scenario, admin: Engine | None) -> Iterator[_WalWatch]:
    watch = _WalWatch(scenario.engine)
    if admin is None:
        yield watch
        return
    with pgf.wal_kept(admin, f"pingyi_anon_{scenario.truth.run}") as unavailable:
        watch.unavailable = unavailable
        with scenario.engine.connect() as conn:
            watch.start = pgf.insert_lsn(conn)
        watch.note_filenodes()
        yield watch


def copy_template(template: Path, directory: Path) -> Engine:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "anonymity.db"
    shutil.copy(template, path)
    return db.make_engine(f"sqlite:///{path}")
