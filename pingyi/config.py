"""Settings from the environment, read once per process."""

from __future__ import annotations

import functools
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    database_url: str
    base_url: str
    data_dir: Path
    base_url_set: bool = False  # PINGYI_BASE_URL given, not the localhost default

    @functools.cached_property
    def secret_key(self) -> bytes:
        """Key for hashing 测评码: a database dump without it cannot be turned into votes.

        Several app processes must share it (PINGYI_SECRET_KEY); one machine keeps it in a
        file beside the database, made on first use.
        """
        from_env = os.environ.get("PINGYI_SECRET_KEY")
        if from_env:
            return from_env.encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
        return path.read_text().strip().encode()


def default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'pingyi.db'}"


@functools.cache
def settings() -> Settings:
    data_dir = Path(os.environ.get("PINGYI_DATA_DIR", PROJECT_DIR / "data"))
    return Settings(
        database_url=os.environ.get("PINGYI_DATABASE_URL") or default_database_url(data_dir),
        base_url=os.environ.get("PINGYI_BASE_URL", "http://localhost:8501").rstrip("/"),
        data_dir=data_dir,
        base_url_set=bool(os.environ.get("PINGYI_BASE_URL", "").strip()),
    )
