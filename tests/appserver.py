"""`streamlit run app.py` in a process of its own, and the chromium it is driven with: shared
by the browser tests (tests/browser/conftest.py) and the tablet benchmark (bench/tablets.py).

No pytest here: the benchmark runs outside pytest, so a server that does not start raises
`ServerDidNotStart` and each caller reports it its own way.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_SECONDS = 60


class ServerDidNotStart(RuntimeError):
    """The server exited or did not answer its health check in time; the message has its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_env(
    directory: Path, database_url: str | None = None, extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """This process's environment with the app's database (default: a SQLite file in
    `directory`) and data directory; `extra_env` adds to or overrides it."""
    env = dict(os.environ)
    env.update(
        PINGYI_DATABASE_URL=database_url or f"sqlite:///{directory / 'pingyi.db'}",
        PINGYI_DATA_DIR=str(directory),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra_env or {})
    return env


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerDidNotStart(
                f"streamlit exited with {process.returncode}:\n{log.read_text()}"
            )
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise ServerDidNotStart(f"streamlit did not answer in {STARTUP_SECONDS} s:\n{log.read_text()}")


@contextmanager
def running_streamlit(
    port: int, env: Mapping[str, str], log: Path, flags: Iterable[str] = ()
) -> Iterator[subprocess.Popen[bytes]]:
    """`streamlit run app.py` on 127.0.0.1:`port`, output to `log`, until it answers its
    health check; stopped with everything it started on the way out. `flags` are more
    Streamlit options, as `runner.postScriptGC=false`."""
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless=true",
        f"--server.port={port}",
        "--server.address=127.0.0.1",
        "--server.fileWatcherType=none",
        "--browser.gatherUsageStats=false",
        *(f"--{flag}" for flag in flags),
    ]
    with log.open("wb") as out:
        # Its own process group, so stopping it also stops anything it started.
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", process, log)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
