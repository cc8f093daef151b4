"""AppTest of the real app.py, pointed at a temporary SQLite file through the environment.

The environment is set before the app's first run and every cache that holds settings or an
engine is cleared around each test, so a test never sees another test's database. Inside a
test, `db.session()` and `db.transaction()` reach the same file as the app.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from apptools import APP, OFFICE, add_office, forget_engines, logged_in
from streamlit.testing.v1 import AppTest

from pingyi import db, demo


def _serve(path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PINGYI_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("PINGYI_DATA_DIR", str(path.parent))
    forget_engines()
    yield path
    forget_engines()


def _add_office(path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{path}")
    add_office(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def demo_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The migrated template with the demo bureau and its open round, built once."""
    path = tmp_path_factory.mktemp("demo_template") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.make_engine(f"sqlite:///{path}")
    with db.transaction(engine) as s:
        demo.load_demo(
            actor="测试", session=s, history=False
        )  # a round just opened: what the pages test
    add_office(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def empty_db(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The app's database: migrated and seeded, no roster; only the office's account."""
    path = tmp_path / "app.db"
    shutil.copy(sqlite_template, path)
    _add_office(path)
    yield from _serve(path, monkeypatch)


@pytest.fixture
def demo_db(demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The app's database: the demo bureau with its open round."""
    path = tmp_path / "app.db"
    shutil.copy(demo_template, path)
    yield from _serve(path, monkeypatch)


@pytest.fixture
def first_run_db(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The app's database as on the very first start: no roster and no account at all."""
    path = tmp_path / "app.db"
    shutil.copy(sqlite_template, path)
    yield from _serve(path, monkeypatch)


def _open(page: str | None = None, *, as_: str | None = OFFICE) -> AppTest:
    at = logged_in(AppTest.from_file(APP, default_timeout=60), as_).run()
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def open_page() -> Callable[..., AppTest]:
    """`open_page("pages/roster.py")`: run app.py logged in as the office (or `as_=` another
    username, or None for nobody), go to that page, check it raised nothing.

    Use it after a database fixture (`empty_db`, `demo_db`), which points the app at its file.
    """
    return _open
