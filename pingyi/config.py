"""Settings from the environment, read once per process."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    database_url: str
    base_url: str
    data_dir: Path


def default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'pingyi.db'}"


@functools.cache
def settings() -> Settings:
    data_dir = Path(os.environ.get("PINGYI_DATA_DIR", PROJECT_DIR / "data"))
    return Settings(
        database_url=os.environ.get("PINGYI_DATABASE_URL") or default_database_url(data_dir),
        base_url=os.environ.get("PINGYI_BASE_URL", "http://localhost:8501").rstrip("/"),
        data_dir=data_dir,
    )
