"""`pingyi backup` and `pingyi restore`: the whole database to one file and back.

SQLite: the online backup API, a consistent copy even while the app is taking ballots, written
as one self-contained file. PostgreSQL: `pg_dump --format=custom`, and `pg_restore --clean
--if-exists` in a single transaction; both need PostgreSQL's client programs, of the server's
major version or newer.

A restore refuses to overwrite a database that holds data unless told to replace it, refuses a
file that is not a pingyi backup or comes from a newer release, and brings a backup of an
older release up to the newest migration.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from psycopg.conninfo import make_conninfo
from sqlalchemy import Engine, inspect, literal, select, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import PoolProxiedConnection

from pingyi import audit, db
from pingyi.models import AuditEvent, metadata

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
VERSION_TABLE = "alembic_version"
# Rows `pingyi init` puts in every database: a database with only these holds no data.
SEED_TABLES = frozenset({"template", "criterion", "scale_level", "evaluator_group"})
PG_TIMEOUT = 3600  # seconds; a dump of a large bureau takes well under a minute

MSG_HAS_DATA = "数据库里已有数据;如确需用备份替换现有的全部数据,请加 --replace"
MSG_NOT_A_BACKUP = "不是评议系统的备份文件"


class BackupError(ValueError):
    """A backup or restore that cannot be done; the message says why, in Chinese."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    size: int  # bytes
    revision: str  # the schema version of the database in the file

    @property
    def size_text(self) -> str:
        if self.size >= 1024 * 1024:
            return f"{self.size / 1024 / 1024:.1f} MB"
        return f"{max(1, round(self.size / 1024))} KB"


def has_data(*, bind: Engine) -> bool:
    """Whether any table holds a row other than the seed defaults (roster, rounds, ballots,
    accounts, the audit log, settings)."""
    present = set(inspect(bind).get_table_names())
    tables = [t for t in metadata.sorted_tables if t.name in present and t.name not in SEED_TABLES]
    with bind.connect() as conn:
        return any(
            conn.execute(select(literal(1)).select_from(table).limit(1)).first() is not None
            for table in tables
        )


def backup(*, bind: Engine, out: Path, actor: str) -> BackupInfo:
    """Write the whole database to `out` (replaced if it exists, only once the copy is whole);
    the log of the database copied then says where the copy went (the copy does not)."""
    if not out.parent.is_dir():
        raise BackupError(f"目录不存在:{out.parent}")
    if out.is_dir():
        raise BackupError(f"{out} 是一个目录,请给出备份文件的名称")
    partial = out.with_name(f".{out.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        if db.is_sqlite(bind):
            revision = _sqlite_backup(bind, out, partial)
        else:
            revision = _pg_backup(bind, partial)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    made = BackupInfo(path=out, size=out.stat().st_size, revision=revision)
    if not inspect(bind).has_table(AuditEvent.__tablename__):
        return made  # a database of the first release (0001) has no 操作日志 to write in
    with db.transaction(bind) as session:
        audit.record(
            session=session,
            actor=actor,
            action=audit.Action.BACKUP,
            detail=f"{made.path}({made.size_text},数据库版本 {made.revision})",
        )
    return made


def restore(*, bind: Engine, source: Path, actor: str, replace: bool = False) -> BackupInfo:
    """Replace the whole database by the backup in `source`, then migrate it to the newest
    schema. Refuses, changing nothing, when the database holds data and `replace` is False.
    The restored database's log then says where it came from."""
    if not source.is_file():
        raise BackupError(f"找不到备份文件 {source}")
    replaced = replace and has_data(bind=bind)
    with source.open("rb") as handle:
        magic = handle.read(len(SQLITE_MAGIC))
    if db.is_sqlite(bind):
        if magic.startswith(PG_DUMP_MAGIC):
            raise BackupError("这是 PostgreSQL 数据库的备份(pg_dump),不能恢复到 SQLite 数据库")
        if magic != SQLITE_MAGIC:
            raise BackupError(f"{source} {MSG_NOT_A_BACKUP}")
        revision = _sqlite_restore(bind, source, replace)
    else:
        if magic == SQLITE_MAGIC:
            raise BackupError("这是 SQLite 数据库的备份,不能恢复到 PostgreSQL 数据库")
        if not magic.startswith(PG_DUMP_MAGIC):
            raise BackupError(f"{source} {MSG_NOT_A_BACKUP}(PostgreSQL 的备份应由 pg_dump 生成)")
        revision = _pg_restore(bind, source, replace)
    db.migrate(bind)
    with db.transaction(bind) as session:
        audit.record(
            session=session,
            actor=actor,
            action=audit.Action.RESTORE,
            detail=f"从 {source} 恢复(备份的数据库版本 {revision}"
            f"{',替换了原有的全部数据' if replaced else ''})",
        )
    return BackupInfo(path=source, size=source.stat().st_size, revision=revision)


def _check_revision(revision: str | None, source: Path) -> str:
    if revision is None:
        raise BackupError(f"{source} {MSG_NOT_A_BACKUP}(其中没有数据库版本)")
    scripts = ScriptDirectory(str(db.MIGRATIONS_DIR))
    known = {script.revision for script in scripts.walk_revisions()}
    if revision not in known:
        raise BackupError(
            f"备份的数据库版本 {revision} 比本程序的({scripts.get_current_head()})新,"
            "请先升级评议系统再恢复"
        )
    return revision


# ---- SQLite


def _sqlite_path(bind: Engine) -> Path | None:
    name = bind.url.database
    return Path(name).resolve() if name and name != ":memory:" else None


def _sqlite3_of(pooled: PoolProxiedConnection) -> sqlite3.Connection:
    """The sqlite3 connection under SQLAlchemy's pooled one (its backup API is not proxied)."""
    found = pooled.driver_connection
    assert isinstance(found, sqlite3.Connection), found
    return found


def _sqlite_backup(bind: Engine, out: Path, partial: Path) -> str:
    if _sqlite_path(bind) == out.resolve():
        raise BackupError("不能把数据库备份到它自己的文件上,请换一个文件名")
    pooled = bind.raw_connection()
    try:
        target = sqlite3.connect(partial)
        try:
            # Page by page under a read transaction: the copy is of one moment, and ballots
            # go on being stored meanwhile (WAL).
            _sqlite3_of(pooled).backup(target)
            # One file that opens on its own: no -wal beside it.
            target.execute("PRAGMA journal_mode=DELETE")
            if target.execute("PRAGMA quick_check").fetchone() != ("ok",):
                raise BackupError("备份文件校验未通过,请重试")
            return _check_revision(_sqlite_revision(target), out)
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise BackupError(f"备份失败:{exc}") from exc
    finally:
        pooled.close()


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def _sqlite_restore(bind: Engine, source: Path, replace: bool) -> str:
    if _sqlite_path(bind) == source.resolve():
        raise BackupError("备份文件就是当前的数据库文件,无需恢复")
    try:
        backup_db = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"无法打开备份文件 {source}:{exc}") from exc
    try:
        try:
            healthy = backup_db.execute("PRAGMA quick_check").fetchone() == ("ok",)
        except sqlite3.DatabaseError:
            healthy = False
        if not healthy:
            raise BackupError(f"{source} 已损坏,不能用来恢复")
        revision = _check_revision(_sqlite_revision(backup_db), source)
        if not replace and has_data(bind=bind):
            raise BackupError(MSG_HAS_DATA)
        pooled = bind.raw_connection()
        try:
            # Every page of the database, in one step under the database's write lock.
            backup_db.backup(_sqlite3_of(pooled))
        except sqlite3.OperationalError as exc:
            raise BackupError(f"恢复失败(数据库正被使用?请先停止应用):{exc}") from exc
        finally:
            pooled.close()
    finally:
        backup_db.close()
    return revision


# ---- PostgreSQL


def _pg_program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"找不到 {name}:PostgreSQL 数据库的备份和恢复要用 PostgreSQL 的客户端程序"
            "(如 Debian 的 postgresql-client 软件包,版本不低于数据库服务器)"
        )
    return found


def _pg_connection(url: URL) -> tuple[str, dict[str, str]]:
    """libpq's connection string for `url`, and an environment with its password: never on
    the command line, where other users of the machine could read it."""
    params = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database}
    params.update({k: v for k, v in url.query.items() if isinstance(v, str)})  # sslmode…
    conninfo = make_conninfo("", **{k: v for k, v in params.items() if v not in (None, "")})
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def _run(command: list[str], env: dict[str, str], what: str) -> str:
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=PG_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{what}失败:{exc}") from exc
    if done.returncode != 0:
        raise BackupError(f"{what}失败:{done.stderr.strip() or done.returncode}")
    return done.stdout


def _pg_backup(bind: Engine, partial: Path) -> str:
    program = _pg_program("pg_dump")
    with bind.connect() as conn:
        revision = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    conninfo, env = _pg_connection(bind.url)
    _run(
        [
            program,
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={partial}",
            f"--dbname={conninfo}",
        ],
        env,
        "pg_dump 备份",
    )
    return _check_revision(revision, partial)


_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (\S+) (\S+) ", re.MULTILINE)
_TOC_FOREIGN_KEY = re.compile(r"^\d+; \d+ \d+ FK CONSTRAINT (\S+) (\S+) (\S+) ", re.MULTILINE)
_FOREIGN_KEYS = text(
    "SELECT rel.relname, con.conname FROM pg_constraint con"
    " JOIN pg_class rel ON rel.oid = con.conrelid"
    " JOIN pg_namespace ns ON ns.oid = rel.relnamespace"
    " WHERE con.contype = 'f' AND ns.nspname = 'public'"
)


def _pg_restore(bind: Engine, source: Path, replace: bool) -> str:
    program = _pg_program("pg_restore")
    env = dict(os.environ)
    listing = _run([program, "--list", str(source)], env, f"读取备份文件 {source} ")
    in_backup = {name for schema, name in _TOC_TABLE.findall(listing) if schema == "public"}
    if VERSION_TABLE not in in_backup:
        raise BackupError(f"{source} {MSG_NOT_A_BACKUP}(其中没有数据库版本)")
    revision = _check_revision(_pg_revision(program, source, env), source)
    if not replace and has_data(bind=bind):
        raise BackupError(MSG_HAS_DATA)
    # Tables of a newer schema than the backup's are not dropped by --clean, and would stop
    # both the restore (their keys point at tables it drops) and the migration after it.
    ours = {*metadata.tables, VERSION_TABLE}
    extra = sorted((set(inspect(bind).get_table_names()) & ours) - in_backup)
    # Likewise a newer schema's foreign keys on tables the backup has (scale_level.group_id):
    # they would keep --clean from dropping the keys they point at. The backup's schema has
    # none of them, and the migration after the restore adds them back.
    kept_keys = {
        (table, name)
        for schema, table, name in _TOC_FOREIGN_KEY.findall(listing)
        if schema == "public"
    }
    with bind.begin() as conn:
        newer_keys = [
            (table, name)
            for table, name in conn.execute(_FOREIGN_KEYS)
            if table in ours and table in in_backup and (table, name) not in kept_keys
        ]
        for table, name in newer_keys:
            conn.execute(text(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"'))
        for name in extra:
            conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
    conninfo, env = _pg_connection(bind.url)
    bind.dispose()  # no idle connection of ours holds on to the tables being replaced
    _run(
        [
            program,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={conninfo}",
            str(source),
        ],
        env,
        "pg_restore 恢复",
    )
    bind.dispose()  # pooled connections planned their statements on the tables before
    return revision


def _pg_revision(program: str, source: Path, env: dict[str, str]) -> str | None:
    """The alembic_version row in the dump, read without restoring anything."""
    script = _run(
        [program, "--data-only", f"--table={VERSION_TABLE}", "--file=-", str(source)],
        env,
        f"读取备份文件 {source} ",
    )
    lines = iter(script.splitlines())
    for line in lines:
        if line.startswith(f"COPY public.{VERSION_TABLE} "):
            value = next(lines, "\\.")
            return None if value == "\\." else value.strip()
    return None
