"""Engine, sessions, SQLite pragmas and migrations.

One engine per process: `engine()` here for the CLI and tests, `st.cache_resource` around it
in the UI. Domain functions never open sessions; callers pass one in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPICursor, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlmodel import Session

from pingyi.config import settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    _install_sqlite_pragmas(engine)
    return engine


def _install_sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writers can ask for IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # A deleted row is overwritten with zeros on its page, not left for a copy to find.
        # FAST: pages freed whole (the overflow pages of a 票箱 blob: ciphertext) are left
        # to the VACUUM of the seal, instead of each being written again as zeros.
        cursor.execute("PRAGMA secure_delete=FAST")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        # A deferred transaction that reads and then writes gets SQLITE_BUSY at once under
        # contention, whatever busy_timeout says; writers therefore take the lock up front.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


@functools.cache
def engine() -> Engine:
    return make_engine(settings().database_url)


@contextmanager
def session(bind: Engine | None = None) -> Iterator[Session]:
    """A short read session; nothing is committed."""
    with Session(bind or engine(), expire_on_commit=False) as s:
        yield s


@contextmanager
def transaction(bind: Engine | None = None) -> Iterator[Session]:
    """One all-or-nothing unit of work: commits on success, rolls back on any exception."""
    target = bind or engine()
    if is_sqlite(target):
        target = target.execution_options(sqlite_begin="IMMEDIATE")
    with Session(target, expire_on_commit=False) as s, s.begin():
        yield s


@contextmanager
def driver_transaction(bind: Engine | None = None) -> Iterator[DBAPICursor]:
    """`transaction` for a hot path, as a DBAPI cursor on a pooled connection: commits on
    success, rolls back on any exception; driver errors come out as SQLAlchemy's.

    For statements run many times a second (a ballot): a Session costs ~0.1 ms and each
    SQLAlchemy execute ~50 µs, more than the SQL itself. The SQL is the driver's, in its
    paramstyle, compiled from Core (`DriverStatement`).
    """
    target = bind or engine()
    pooled = _raw_connection(target)
    try:
        with _sqlalchemy_errors(target.dialect, pooled, pooled.invalidate):
            cursor = pooled.cursor()
            try:
                if is_sqlite(target):
                    cursor.execute("BEGIN IMMEDIATE")  # as `transaction` does; see _on_begin
                yield cursor
                pooled.dbapi_connection.commit()  # type: ignore[union-attr]
            except BaseException:
                pooled.dbapi_connection.rollback()  # type: ignore[union-attr]
                raise
            finally:
                cursor.close()
    finally:
        pooled.close()


@contextmanager
def driver_cursor(connection: Connection) -> Iterator[DBAPICursor]:
    """A DBAPI cursor in the connection's transaction (see `driver_transaction`)."""
    with _sqlalchemy_errors(connection.dialect, connection.connection, connection.invalidate):
        cursor = connection.connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()


@dataclass(frozen=True)
class DriverSQL:
    """A Core statement compiled for a dialect: the driver's SQL text, and how to turn values
    by bind name into the driver's parameters (positional or named)."""

    text: str
    constants: Mapping[str, Any]  # binds whose value the statement carries
    order: tuple[str, ...] | None  # positional paramstyle: bind names in place order

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        merged = {**self.constants, **values}
        if self.order is None:
            return merged
        return tuple(merged[name] for name in self.order)


def driver_sql(statement: ClauseElement, dialect: Dialect) -> DriverSQL:
    """`statement` as the driver runs it under `dialect`. Values must be as the driver takes
    them: no type processing."""
    compiled = statement.compile(dialect=dialect)
    if not isinstance(compiled, SQLCompiler):  # DDL compiles otherwise: not run here
        raise TypeError(f"not a SQL statement: {compiled.string}")
    if compiled.post_compile_params:  # rendered per execute (IN lists): not for the driver
        raise ValueError(f"not for the driver as compiled once: {compiled.string}")
    constants = {
        name: bind.effective_value
        for bind, name in compiled.bind_names.items()
        if not bind.required
    }
    order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
    return DriverSQL(compiled.string, constants, order)


class DriverStatement:
    """A Core statement for a hot path, run on the cursor of `driver_transaction` or
    `driver_cursor`: compiled once per dialect into the driver's SQL, so each run costs the
    driver's execute and no more (SQLAlchemy's own execute costs ~50 µs, more than the SQL).

    `build` makes the statement for a dialect; most ignore it, an upsert is the dialect's own.
    """

    def __init__(self, build: Callable[[Dialect], ClauseElement]) -> None:
        self._build = build
        self._compiled: dict[tuple[str, str], DriverSQL] = {}

    @classmethod
    def of(cls, statement: ClauseElement) -> DriverStatement:
        """The same statement for every dialect."""
        return cls(lambda _dialect: statement)

    def execute(self, cursor: DBAPICursor, dialect: Dialect, **values: Any) -> None:
        key = (dialect.name, dialect.driver)
        sql = self._compiled.get(key)
        if sql is None:  # two threads may both compile it: the same text either way
            sql = self._compiled[key] = driver_sql(self._build(dialect), dialect)
        cursor.execute(sql.text, sql.params(values))


def _raw_connection(target: Engine) -> PoolProxiedConnection:
    """`Engine.raw_connection()`, whose driver errors come out raw: a database refusing
    connections (restart, failover) must be the OperationalError callers catch, not psycopg's."""
    dialect = target.dialect
    try:
        return target.raw_connection()
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            None,
            None,
            exc,
            dialect.loaded_dbapi.Error,
            connection_invalidated=dialect.is_disconnect(exc, None, None),
            dialect=dialect,
        ) from exc


@contextmanager
def _sqlalchemy_errors(
    dialect: Dialect, pooled: PoolProxiedConnection, invalidate: Callable[[BaseException], None]
) -> Iterator[None]:
    """Driver errors as the DBAPIError SQLAlchemy would raise, so callers catch one kind."""
    base = dialect.loaded_dbapi.Error
    try:
        yield
    except base as exc:
        lost = dialect.is_disconnect(exc, pooled.dbapi_connection, None)
        if lost:
            invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, base, connection_invalidated=lost, dialect=dialect
        ) from exc


def alembic_config(bind: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", bind.url.render_as_string(hide_password=False))
    return cfg


# Any fixed number: the key of the PostgreSQL advisory lock that migrations run under.
_MIGRATION_LOCK = 0x70696E6779690001


def migrate(bind: Engine | None = None, *, then: Callable[..., object] | None = None) -> None:
    """Create or upgrade the schema to the newest migration; safe to run again, also by
    several app processes starting at once on one database: one migrates, the others wait
    for it and then find nothing to do.

    `then(session=…)` (the seed defaults) runs in the same transaction, under the same lock:
    processes starting together would otherwise each see no defaults and each add them.
    """
    target = bind or engine()
    if is_sqlite(target):
        target = target.execution_options(sqlite_begin="IMMEDIATE")  # see _on_begin
    cfg = alembic_config(target)
    with target.begin() as connection:
        if not is_sqlite(target):
            # Otherwise both create alembic_version, and all but one fail on pg_type's key.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
        if then is not None:
            with Session(connection, expire_on_commit=False) as session:
                then(session=session)
                session.flush()
