"""Scratch PostgreSQL databases for the tests: made new, dropped afterwards."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

_counter = itertools.count()


def scratch_name(prefix: str) -> str:
    """A database name no other test of this run or of another run on the machine uses."""
    return f"{prefix}_{os.getpid()}_{next(_counter)}"


@contextmanager
def scratch_database(admin: Engine, name: str, *, template: str | None = None) -> Iterator[str]:
    """Database `name`, empty or a copy of `template`, made with the AUTOCOMMIT `admin`
    engine (any leftover of that name is dropped first); its URL; dropped on the way out."""
    drop = text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    create = f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else "")
    with admin.connect() as conn:
        conn.execute(drop)
        conn.execute(text(create))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(drop)
