"""The scenario of this suite, once per backend for all its tests (it is the slow part).

Like the `engine` fixture of tests/conftest.py, it runs on SQLite (a file) and on a scratch
PostgreSQL database; the PostgreSQL run carries the `postgres` marker and is skipped, saying
why, when the server does not answer (fails with PINGYI_REQUIRE_POSTGRES=1). The database is
its own (not the per-test `engine`), since every test of the suite reads the same scenario.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from anon_scenario import Scenario, copy_template, run
from pgtools import scratch_database, scratch_name

from pingyi import bootstrap, db

BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each test on the backends it attacks: `test_sqlite_…` on SQLite only,
    `test_postgresql_…` on PostgreSQL only (its files, ctid, xmin, WAL), the rest on both."""
    if "scenario" not in metafunc.fixturenames:
        return
    name = metafunc.function.__name__
    backends = [b for b in BACKENDS if name.startswith(f"test_{b}_")] or list(BACKENDS)
    params = [
        pytest.param(b, marks=pytest.mark.postgres) if b == "postgresql" else b for b in backends
    ]
    metafunc.parametrize("scenario", params, indirect=True, scope="session")


@pytest.fixture(scope="session")
def scenario(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scenario]:
    directory = tmp_path_factory.mktemp(f"anonymity-{request.param}")
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        engine = copy_template(template, directory / "db")
        try:
            yield run(engine, "sqlite", directory, None)
        finally:
            engine.dispose()
        return
    admin = request.getfixturevalue("pg_admin")  # skips when PostgreSQL does not answer
    with scratch_database(admin, scratch_name("pingyi_anon")) as url:
        engine = db.make_engine(url)
        try:
            bootstrap.initialize(engine)
            yield run(engine, "postgresql", directory, admin)
        finally:
            engine.dispose()
