"""Shared fixtures: a migrated, seeded database per test, on SQLite and on PostgreSQL.

`engine` runs a test on both backends (the PostgreSQL run is skipped, saying why, when the
server does not answer); `sqlite_engine` is for tests that only need a database.
Each test gets its own copy of a migrated template, so tests never see each other's data.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from pingyi import bootstrap, db

PG_ADMIN_URL = os.environ.get(
    "PINGYI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
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


def _pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    admin = _pg_admin()
    if admin is None:
        pytest.skip(f"PostgreSQL does not answer at {PG_ADMIN_URL}; PostgreSQL tests skipped")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_TEMPLATE} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {PG_TEMPLATE}"))
    template_engine = db.make_engine(_pg_url(PG_TEMPLATE))
    bootstrap.initialize(template_engine)
    template_engine.dispose()
    yield admin
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_TEMPLATE} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def pg_engine(pg_admin: Engine) -> Iterator[Engine]:
    name = f"pingyi_t_{os.getpid()}_{next(_counter)}"
    with pg_admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {PG_TEMPLATE}"))
    engine = db.make_engine(_pg_url(name))
    yield engine
    engine.dispose()
    with pg_admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """A migrated, seeded, empty database; the test runs once per backend."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_engine")
    return request.getfixturevalue("pg_engine")
