"""A PostgreSQL database read the way an attacker with the server's files or dumps reads it.

pg_dump (plain, and `pingyi backup`'s custom format turned back into text by pg_restore) lists
rows as the table's file holds them; the files under the data directory hold the rows'
bytes; the WAL holds every transaction's changes, with the relations each one wrote. A
temporary physical replication slot keeps the WAL of the scenario from being recycled by the
CHECKPOINT of `evaluation.close`; it goes away with the session that made it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import make_conninfo
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

TIMEOUT = 300  # seconds for one pg_dump, pg_restore or pg_waldump of a small database


class Unavailable(Exception):
    """What an attack needs is not there (a program, a readable data directory, the WAL)."""


def program(name: str, engine: Engine) -> str:
    """The server's own major version of a client program, else the one on PATH."""
    with engine.connect() as conn:
        major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    own = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
    if own.is_file():
        return str(own)
    found = shutil.which(name)
    if found is None:
        raise Unavailable(f"{name} is not installed")
    return found


def _conninfo(url: URL) -> tuple[str, dict[str, str]]:
    params = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database}
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return make_conninfo("", **{k: v for k, v in params.items() if v not in (None, "")}), env


def _run(command: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"{command[0]} failed: {done.stderr.strip()}")
    return done.stdout


def dump_plain(engine: Engine) -> str:
    """`pg_dump` of the whole database as SQL text."""
    conninfo, env = _conninfo(engine.url)
    return _run([program("pg_dump", engine), "--no-owner", f"--dbname={conninfo}"], env)


def restore_to_text(engine: Engine, archive: Path) -> str:
    """The data of a custom-format dump (`pingyi backup`) as SQL text, in the archive's order."""
    return _run([program("pg_restore", engine), "--data-only", "--file=-", str(archive)])


_COPY = re.compile(r"^COPY public\.(\w+) \(([^)]*)\) FROM stdin;$")
_ESCAPES = re.compile(r"\\(.)")
_ESCAPED = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}


def _field(raw: str) -> str | None:
    if raw == r"\N":
        return None
    return _ESCAPES.sub(lambda m: _ESCAPED.get(m.group(1), m.group(1)), raw)


def copy_rows(dump: str) -> dict[str, list[dict[str, str | None]]]:
    """Every COPY block of a dump: table → its rows in the order the dump lists them."""
    tables: dict[str, list[dict[str, str | None]]] = {}
    lines = iter(dump.splitlines())
    for line in lines:
        match = _COPY.match(line)
        if match is None:
            continue
        columns = [c.strip().strip('"') for c in match.group(2).split(",")]
        rows = tables.setdefault(match.group(1), [])
        for row in lines:
            if row == "\\.":
                break
            fields = [_field(f) for f in row.split("\t")]
            rows.append(dict(zip(columns, fields, strict=True)))
    return tables


# ---- the server's files


@dataclass(frozen=True)
class Server:
    data_directory: Path
    database_oid: int
    segment_size: int  # bytes per WAL segment file
    wal_block: int  # bytes per WAL page
    wal_compression: str  # "off", or how page images in the WAL are compressed

    @property
    def database_dir(self) -> Path:
        return self.data_directory / "base" / str(self.database_oid)

    @property
    def wal_dir(self) -> Path:
        return self.data_directory / "pg_wal"


def server(conn: Connection) -> Server:
    """Where this database's files are; Unavailable when this user cannot read them."""
    try:
        directory = Path(conn.execute(text("SHOW data_directory")).scalar_one())
    except DBAPIError as exc:  # needs a superuser or pg_read_all_settings
        raise Unavailable(f"the server does not say where its files are: {exc.orig}") from exc
    oid = int(
        conn.execute(
            text("SELECT oid FROM pg_database WHERE datname = current_database()")
        ).scalar_one()
    )
    found = Server(
        directory,
        oid,
        int(_setting(conn, "wal_segment_size")),
        int(_setting(conn, "wal_block_size")),
        _setting(conn, "wal_compression"),
    )
    if not os.access(found.database_dir, os.R_OK | os.X_OK) or not os.access(
        found.wal_dir, os.R_OK | os.X_OK
    ):
        raise Unavailable(f"{directory} is not readable by this user")
    return found


def _setting(conn: Connection, name: str) -> str:
    query = text("SELECT setting FROM pg_settings WHERE name = :n")
    return str(conn.execute(query, {"n": name}).scalar_one())


def checkpoint(conn: Connection) -> None:
    """Every changed page written to the relation files, as a copy of the files would have."""
    try:
        conn.execute(text("CHECKPOINT"))
    except DBAPIError as exc:  # needs a superuser or pg_checkpoint
        raise Unavailable(f"CHECKPOINT refused: {exc.orig}") from exc


def database_files(found: Server) -> dict[str, bytes]:
    """Every file of the database's directory (relations, their indexes, free space maps)."""
    return {
        entry.name: entry.read_bytes()
        for entry in sorted(found.database_dir.iterdir())
        if entry.is_file()
    }


def relation_file(conn: Connection, found: Server, table: str) -> bytes:
    """The main fork of a table: its first segment file (1 GB is far more than a test has)."""
    relative = conn.execute(text("SELECT pg_relation_filepath(:t)"), {"t": table}).scalar_one()
    return (found.data_directory / relative).read_bytes()


def filenodes(conn: Connection, tables: tuple[str, ...]) -> dict[int, str]:
    """Relation file number → table, for each table, its indexes and its TOAST table."""
    rows = conn.execute(
        text(
            """
            SELECT t.relname, pg_relation_filenode(r.oid)
            FROM pg_class t
            JOIN pg_class r ON r.oid = t.oid
                OR r.oid = t.reltoastrelid
                OR r.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = t.oid)
                OR r.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = t.reltoastrelid)
            WHERE t.relname = ANY(:tables) AND t.relkind = 'r'
              AND t.relnamespace = 'public'::regnamespace
            """
        ),
        {"tables": list(tables)},
    )
    return {int(node): name for name, node in rows if node is not None}


# ---- the WAL


def lsn(value: str) -> int:
    high, low = value.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def flushed_lsn(conn: Connection) -> int:
    return lsn(conn.execute(text("SELECT pg_current_wal_flush_lsn()::text")).scalar_one())


def insert_lsn(conn: Connection) -> int:
    return lsn(conn.execute(text("SELECT pg_current_wal_insert_lsn()::text")).scalar_one())


@contextmanager
def wal_kept(admin: Engine, name: str) -> Iterator[str]:
    """The WAL from now on kept until the block ends: a temporary slot of a session held
    open for as long. Yields "" , or why the WAL could not be kept (no slot to give)."""
    conn = admin.connect()
    try:
        try:
            conn.execute(
                text("SELECT pg_create_physical_replication_slot(:n, true, true)"), {"n": name}
            )
        except Exception as exc:  # max_replication_slots = 0, or not allowed
            yield f"no replication slot to keep the WAL: {exc}"
            return
        yield ""
    finally:
        conn.close()  # a temporary slot is dropped with its session


def _segment_name(timeline: int, segment: int, size: int) -> str:
    per_id = 0x100000000 // size
    return f"{timeline:08X}{segment // per_id:08X}{segment % per_id:08X}"


# Each WAL page starts with a header (XLogPageHeaderData, MAXALIGNed), the first page of a
# segment with a longer one; a record that runs across a page boundary is cut by it.
SHORT_PAGE_HEADER = 24
LONG_PAGE_HEADER = 40


def wal_bytes(conn: Connection, found: Server, start: int, end: int) -> bytes:
    """The records the server wrote to its WAL between two positions, as raw bytes with the
    page headers taken out, so that a row cut by a page boundary reads whole again."""
    if found.wal_compression != "off":
        raise Unavailable(f"wal_compression is {found.wal_compression}: page images are packed")
    timeline = int(
        conn.execute(text("SELECT timeline_id FROM pg_control_checkpoint()")).scalar_one()
    )
    size, block = found.segment_size, found.wal_block
    parts = []
    for segment in range(start // size, end // size + 1):
        path = found.wal_dir / _segment_name(timeline, segment, size)
        if not path.is_file():
            raise Unavailable(f"WAL segment {path.name} is gone")
        data, base = path.read_bytes(), segment * size
        for page in range(base, base + size, block):
            header = LONG_PAGE_HEADER if page == base else SHORT_PAGE_HEADER
            low, high = max(page + header, start), min(page + block, end)
            if low < high:
                parts.append(data[low - base : high - base])
    return b"".join(parts)


_RECORD_TX = re.compile(r"\btx:\s+(\d+),")
_BLOCK_REF = re.compile(r"\brel (\d+)/(\d+)/(\d+)")


def waldump(engine: Engine, found: Server, start: int, end: int) -> str:
    """pg_waldump's description of every WAL record between two positions."""
    done = subprocess.run(
        [
            program("pg_waldump", engine),
            f"--path={found.wal_dir}",
            f"--start={lsn_text(start)}",
            f"--end={lsn_text(end)}",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    # It stops with an error at the end of what was flushed; what it read before stands.
    if done.returncode != 0 and not done.stdout:
        raise Unavailable(f"pg_waldump read nothing: {done.stderr.strip()}")
    return done.stdout


def relations_by_transaction(dump: str, database_oid: int) -> dict[int, set[int]]:
    """Transaction id → the relation files of this database its WAL records wrote."""
    written: dict[int, set[int]] = defaultdict(set)
    for line in dump.splitlines():
        tx = _RECORD_TX.search(line)
        if tx is None or tx.group(1) == "0":
            continue
        for _space, database, node in _BLOCK_REF.findall(line):
            if int(database) == database_oid:
                written[int(tx.group(1))].add(int(node))
    return dict(written)
