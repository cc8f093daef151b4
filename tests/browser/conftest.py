"""A real `streamlit run app.py` on a temporary SQLite database, and Debian's chromium.

`demo_app` is one server per test session with the demo bureau loaded through the CLI;
`empty_app` is a server of its own per test, on an empty database; `stoppable_demo_app` is a
demo server of the test module's own that a test may stop (SIGTERM, SIGKILL) and start again
on the same port and database, running again at the start of every test. `browser` is Debian's
chromium driven by Playwright (never a downloaded browser build); `page` is a fresh tab at
1280×900, and `new_page(width, height)` makes tabs of other sizes (tablets, phones).
Screenshots go to test-artifacts/ (gitignored) through `screenshot(page, name)`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

# The ballot tests' shared checks live in tests/ballotdevice.py: their asserts say what differed.
pytest.register_assert_rewrite("ballotdevice")

from appserver import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    ServerDidNotStart,
    StreamlitServer,
    app_env,
    free_port,
    running_streamlit,
)

ARTIFACTS = ROOT / "test-artifacts"
OFFICE, OFFICE_PASSWORD = "office", "office-pass-1"  # the 管理员 of `demo_app`


@dataclass(frozen=True)
class AppServer:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    env: dict[str, str]  # the environment the server runs with: run the CLI with it too
    log: Path

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """`python -m pingyi ARGS` against this server's database."""
        return subprocess.run(
            [sys.executable, "-m", "pingyi", *args],
            env=self.env,
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )


@dataclass(frozen=True)
class StoppableApp(AppServer):
    """A server on its own SQLite database that the test may stop and start again."""

    process: StreamlitServer

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled plug would; returns once it has exited."""
        self.process.kill()

    def terminate(self) -> None:
        """SIGTERM, as a service manager stops it; returns once it has exited."""
        self.process.stop(signal.SIGTERM)

    def start(self) -> None:
        """Start it again on the same port and database; returns once it answers."""
        try:
            self.process.start()
        except ServerDidNotStart as exc:
            pytest.fail(str(exc))

    @property
    def running(self) -> bool:
        return self.process.running


def _new_app(
    directory: Path,
    *,
    demo: bool,
    database_url: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> tuple[int, AppServer]:
    """A free port and a server's settings, with the demo bureau and the office's account
    loaded through the CLI when `demo`."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = AppServer(
        url=f"http://127.0.0.1:{port}",
        env=app_env(directory, database_url, extra_env),
        log=directory / "streamlit.log",
    )
    if demo:
        server.cli("demo", "--no-history")  # a round just opened, as the tests expect
        server.cli("create-admin", OFFICE, "--name", "领导小组办公室", stdin=OFFICE_PASSWORD)
    return port, server


@contextmanager
def serve_app(
    directory: Path,
    *,
    demo: bool,
    database_url: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[AppServer]:
    """Start `streamlit run app.py` on a free port with its own database in `directory`, or
    on `database_url` (several servers may share one PostgreSQL database); `extra_env` adds
    to or overrides the server's environment (PINGYI_SECRET_KEY…)."""
    port, server = _new_app(directory, demo=demo, database_url=database_url, extra_env=extra_env)
    try:
        with running_streamlit(port, server.env, server.log):
            yield server
    except ServerDidNotStart as exc:
        pytest.fail(str(exc))


@contextmanager
def serve_stoppable_app(directory: Path, *, demo: bool) -> Iterator[StoppableApp]:
    """As `serve_app` on a SQLite file in `directory`, as a `StoppableApp`; stopped (if it is
    running) on the way out."""
    port, plain = _new_app(directory, demo=demo)
    process = StreamlitServer(port, plain.env, plain.log)
    server = StoppableApp(
        url=plain.url,
        env=plain.env,
        log=plain.log,
        process=process,
    )
    server.start()
    try:
        yield server
    finally:
        process.stop()


@pytest.fixture
def serve() -> Callable[..., AbstractContextManager[AppServer]]:
    """`with serve(directory, demo=…, database_url=…, extra_env=…) as server:` a server of
    the test's own (`serve_app`), e.g. two replicas on one PostgreSQL database."""
    return serve_app


@pytest.fixture(scope="session", autouse=True)
def _needs_chromium() -> None:
    """Skip before any server starts: autouse session fixtures run first."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")


@pytest.fixture(scope="session")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """A server with the demo bureau and its open round, shared by the whole session."""
    with serve_app(tmp_path_factory.mktemp("demo_app"), demo=True) as server:
        yield server


@pytest.fixture(scope="module")
def own_demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """A demo server of the test module's own, for tests that move the round on."""
    with serve_app(tmp_path_factory.mktemp("own_demo_app"), demo=True) as server:
        yield server


@pytest.fixture(scope="module")
def _stoppable_demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoppableApp]:
    with serve_stoppable_app(tmp_path_factory.mktemp("stoppable_demo_app"), demo=True) as server:
        yield server


@pytest.fixture
def stoppable_demo_app(_stoppable_demo_app: StoppableApp) -> StoppableApp:
    """A demo server of the test module's own that the test may `kill()`, `terminate()` and
    `start()` again (same port, same database); running when the test starts, even after a
    test that failed while it was stopped."""
    if not _stoppable_demo_app.running:
        _stoppable_demo_app.start()
    return _stoppable_demo_app


@pytest.fixture
def empty_app(tmp_path: Path) -> Iterator[AppServer]:
    """A server of this test's own on a database with no roster."""
    with serve_app(tmp_path / "empty_app", demo=False) as server:
        yield server


@pytest.fixture(scope="session")
def launch_options() -> dict[str, object]:
    """`chromium.launch(**launch_options)`: Debian's chromium, for a test that drives a
    browser of its own (Playwright's async API, many tablets at once)."""
    return {"executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser) -> Iterator[Callable[..., object]]:  # type: ignore[no-untyped-def]
    """Open tabs of a given size: `new_page(390, 844)` for a phone, `new_page(1280, 900)`."""
    contexts = []

    def make(width: int = 1280, height: int = 900, **options: object):  # type: ignore[no-untyped-def]
        context = browser.new_context(
            viewport={"width": width, "height": height}, locale="zh-CN", **options
        )
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):  # type: ignore[no-untyped-def]
    return new_page(1280, 900)


def _settle(page, text: str, timeout: float = 30_000) -> None:  # type: ignore[no-untyped-def]
    """Wait until the page shows `text` and Streamlit has finished running the script."""
    page.get_by_text(text, exact=False).first.wait_for(timeout=timeout)
    # The status widget ("Running…") is in the DOM only while a script run is in flight;
    # skeletons stand in for elements (data grids, charts) still loading in the browser.
    page.wait_for_function(
        """() => !document.querySelector(
            '[data-testid="stStatusWidget"], [data-testid="stSkeleton"]')""",
        timeout=timeout,
    )


def _screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """The whole page: Streamlit scrolls inside stMain, so grow the viewport to fit it first."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    viewport = page.viewport_size
    width, height = (viewport["width"], viewport["height"]) if viewport else (1280, 900)
    last = 0
    for _ in range(20):  # charts and grids may still be growing the page: wait till it stops
        needed = page.evaluate(
            "() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight ?? 0"
        )
        if needed > height:
            height = needed
            page.set_viewport_size({"width": width, "height": height})
        elif needed == last:
            break
        last = needed
        page.wait_for_timeout(250)
    page.screenshot(path=str(path), full_page=True)
    if viewport:
        page.set_viewport_size(viewport)
    return path


def _log_in(  # type: ignore[no-untyped-def]
    page, server: AppServer, path: str = "", username: str = OFFICE, password: str = OFFICE_PASSWORD
):
    """Open `path` logged out (the tab's browser forgets any earlier login's cookie), log in
    on the form it shows, and stay on that page. The login outlives a reload and a restart."""
    page.context.clear_cookies()
    page.goto(f"{server.url}/{path}")
    _settle(page, "登录")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()
    _settle(page, "退出登录")


@pytest.fixture
def log_in() -> Callable[..., None]:
    """`log_in(page, server, "roster")` as the office, or with `username=`, `password=`."""
    return _log_in


@pytest.fixture
def settle() -> Callable[..., None]:
    """`settle(page, text)`: wait for `text` and for the script run to finish."""
    return _settle


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """`screenshot(page, name)` → test-artifacts/NAME.png of the whole page."""
    return _screenshot
