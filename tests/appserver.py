"""`streamlit run app.py` in a process of its own, and the chromium it is driven with: shared
by the browser tests (tests/browser/conftest.py) and the tablet benchmark (bench/tablets.py).
`running_streamlit` runs one for a `with` block; `StreamlitServer` is one a test can stop
(SIGTERM, SIGKILL) and start again on the same port and database.

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


class StreamlitServer:
    """`streamlit run app.py` on 127.0.0.1:`port` that can be stopped (SIGTERM, or SIGKILL as a
    crash would) and started again on the same port and database, output to `log` (a start
    after the first appends to it). `flags` are more Streamlit options, as
    `runner.postScriptGC=false`."""

    def __init__(
        self, port: int, env: Mapping[str, str], log: Path, flags: Iterable[str] = ()
    ) -> None:
        self.port = port
        self.env = dict(env)
        self.log = log
        self.flags = list(flags)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> subprocess.Popen[bytes]:
        """Start it and wait until it answers its health check; `ServerDidNotStart` (and
        nothing left running) when it does not."""
        if self.running:
            raise RuntimeError(f"streamlit is already running on port {self.port}")
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless=true",
            f"--server.port={self.port}",
            "--server.address=127.0.0.1",
            "--server.fileWatcherType=none",
            "--browser.gatherUsageStats=false",
            *(f"--{flag}" for flag in self.flags),
        ]
        with self.log.open("ab" if self.starts else "wb") as out:
            # Its own process group, so stopping it also stops anything it started.
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        try:
            _wait_healthy(self.url, self.process, self.log)
        except BaseException:
            self.stop()
            raise
        return self.process

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig` to it and everything it started, and wait until it has exited (SIGKILL
        after 10 s if it has not). The port is free again when this returns."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def kill(self) -> None:
        """As a crash or a pulled plug: SIGKILL, no shutdown of any kind."""
        self.stop(signal.SIGKILL)


@contextmanager
def running_streamlit(
    port: int, env: Mapping[str, str], log: Path, flags: Iterable[str] = ()
) -> Iterator[subprocess.Popen[bytes]]:
    """`streamlit run app.py` on 127.0.0.1:`port`, output to `log`, until it answers its
    health check; stopped with everything it started on the way out. `flags` are more
    Streamlit options, as `runner.postScriptGC=false`."""
    server = StreamlitServer(port, env, log, flags)
    process = server.start()
    try:
        yield process
    finally:
        server.stop()
