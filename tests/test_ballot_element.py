"""The ballot element's files as shipped: names from the roster drawn as text only, nothing
loaded from elsewhere, and the files packaged with the app.

The element's behaviour is tested in a browser (tests/browser/test_ballot_*browser.py); these
are the properties a reader would otherwise have to check by eye after every change.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "pingyi" / "ui"
JS = (UI / "ballot_element.js").read_text(encoding="utf-8")
CSS = (UI / "ballot_element.css").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "sink",
    ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"],
)
def test_the_element_never_turns_data_into_html_or_code(sink: str) -> None:
    """Target names, criteria and comments come from the roster and from evaluators: the
    element only ever sets them as text (textContent, attributes, input values)."""
    assert sink not in JS


def test_the_element_loads_nothing_from_another_host() -> None:
    """No CDN and no other server: a meeting room's network may reach only the app."""
    for text in (JS, CSS):
        assert not re.search(r"https?://", text)
        assert "@import" not in text
    assert "import " not in JS.replace("export default", "")


def test_the_element_asks_the_server_for_nothing_but_its_health() -> None:
    """Taps never reach the server: the only request the element makes itself is the health
    check that tells the evaluator whether the server can be reached."""
    assert JS.count("fetch(") == 1
    assert '"_stcore/health"' in JS
    assert "XMLHttpRequest" not in JS and "sendBeacon" not in JS and "WebSocket" not in JS


def test_the_element_files_are_packaged_with_the_app() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data = config["tool"]["setuptools"]["package-data"]["pingyi"]
    assert "ui/*.js" in data and "ui/*.css" in data
