"""Shared fixtures: a migrated, seeded database per test, on SQLite and on PostgreSQL.

`engine` runs a test on both backends (the PostgreSQL run carries the `postgres` marker and
is skipped, saying why, when the server does not answer; with PINGYI_REQUIRE_POSTGRES=1, as
.ci/run sets it, it fails instead); `sqlite_engine` is for tests that only need a database.
Each test gets its own copy of a migrated template, so tests never see each other's data.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import shutil
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from multiprocessing.context import SpawnContext
from pathlib import Path

import pytest
from pgtools import scratch_database, scratch_name
from sqlalchemy import Engine, create_engine, text

from pingyi import bootstrap, db

PG_ADMIN_URL = os.environ.get(
    "PINGYI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Set to 1 where PostgreSQL must answer (CI starts it): a silent server is then a failure, so
# a run cannot pass with every PostgreSQL test skipped.
REQUIRE_POSTGRES = os.environ.get("PINGYI_REQUIRE_POSTGRES") == "1"
# The "postgresql" param of the backend fixtures: `-m postgres` selects its runs.
POSTGRESQL = pytest.param("postgresql", marks=pytest.mark.postgres)
# Per process, so two test runs on one machine never fight over the template.
PG_TEMPLATE = f"pingyi_test_template_{os.getpid()}"
_counter = itertools.count()

# Codes are hashed with this key in every test; no key file is written into the tree.
os.environ.setdefault("PINGYI_SECRET_KEY", "test-secret-key")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    template_engine = db.make_engine(f"sqlite:///{path}")
    bootstrap.initialize(template_engine)
    with template_engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    template_engine.dispose()
    return path


def _fresh_sqlite(template: Path, directory: Path) -> Engine:
    path = directory / f"test-{next(_counter)}.db"
    shutil.copy(template, path)
    return db.make_engine(f"sqlite:///{path}")


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    engine = _fresh_sqlite(sqlite_template, tmp_path)
    yield engine
    engine.dispose()


def _pg_admin() -> Engine | None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception:
        admin.dispose()
        return None
    return admin


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    admin = _pg_admin()
    if admin is None:
        silent = f"PostgreSQL does not answer at {PG_ADMIN_URL}"
        if REQUIRE_POSTGRES:
            pytest.fail(f"{silent}, and PINGYI_REQUIRE_POSTGRES=1 requires it", pytrace=False)
        pytest.skip(f"{silent}; PostgreSQL tests skipped")
    with scratch_database(admin, PG_TEMPLATE) as url:
        template_engine = db.make_engine(url)
        bootstrap.initialize(template_engine)
        template_engine.dispose()
        yield admin
    admin.dispose()


@pytest.fixture
def pg_engine(pg_admin: Engine) -> Iterator[Engine]:
    with scratch_database(pg_admin, scratch_name("pingyi_t"), template=PG_TEMPLATE) as url:
        engine = db.make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def empty_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[str], AbstractContextManager[Engine]]:
    """`with empty_database("sqlite" or "postgresql") as engine:` a database with nothing in
    it at all (no tables, no alembic_version), gone afterwards."""

    @contextmanager
    def make(backend: str) -> Iterator[Engine]:
        if backend == "sqlite":
            engine = db.make_engine(f"sqlite:///{tmp_path / f'empty-{next(_counter)}.db'}")
            try:
                yield engine
            finally:
                engine.dispose()
            return
        admin: Engine = request.getfixturevalue("pg_admin")
        with scratch_database(admin, scratch_name("pingyi_empty")) as url:
            engine = db.make_engine(url)
            try:
                yield engine
            finally:
                # Before the database is dropped, also when the body failed.
                engine.dispose()

    return make


@pytest.fixture(params=["sqlite", POSTGRESQL])
def engine(request: pytest.FixtureRequest) -> Engine:
    """A migrated, seeded, empty database; the test runs once per backend."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_engine")
    return request.getfixturevalue("pg_engine")


@pytest.fixture
def spawn(monkeypatch: pytest.MonkeyPatch) -> SpawnContext:
    """multiprocessing's spawn context, for a test's child processes. A spawned child re-runs
    the parent's __main__ file, which after a page test is app.py (AppTest leaves it there) and
    would start the app: during the test the children get an empty one."""
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    return multiprocessing.get_context("spawn")
