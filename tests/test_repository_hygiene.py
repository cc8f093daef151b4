"""What the repository itself must keep (issue 7, item 4): Streamlit's XSRF and CORS
protection stays on, and no secret is ever tracked.

The secret that matters is the key that hashes 测评码 (`PINGYI_SECRET_KEY`, else
`data/secret.key`): with it and a database dump, codes could be matched to nothing less than
the slips. It lives in the environment or the data directory, never in git.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from streamlit import config as streamlit_config

ROOT = Path(__file__).resolve().parents[1]

# Tracked files that are keys or secrets by their name alone.
SECRET_FILES = re.compile(
    r"""(?:^|/)(?:
        \.env(?:\.[^/]*)?            # .env, .env.production
      | secrets\.toml                # Streamlit's secrets (cookieSecret of several replicas)
      | [^/]*\.(?:pem|key|p12|pfx)   # data/secret.key, TLS keys and certificates' keys
      | id_(?:rsa|dsa|ecdsa|ed25519)
    )$""",
    re.VERBOSE,
)
PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
# A literal value given to PINGYI_SECRET_KEY: KEY=value (shell, .env, systemd, Docker),
# KEY: value (YAML), or a Python string next to the name (environ[...] =, setdefault, setenv).
# A placeholder ($VAR, ${VAR}, $(command), <value>, …) is not a value.
_NOT_A_VALUE = r"(?![$<{`(…]|\.\.\.)"
HARD_CODED_KEY = re.compile(
    rf"""PINGYI_SECRET_KEY\s*[=:]\s*['"]?{_NOT_A_VALUE}[^\s'"]"""  # shell, .env, YAML
    rf"""|PINGYI_SECRET_KEY['"]\s*(?:\]\s*=|[,:])\s*b?['"]{_NOT_A_VALUE}[^'"]"""  # Python
)
DISABLED_PROTECTION = re.compile(
    r"(?i)(?:enableXsrfProtection|enableCORS|ENABLE_XSRF_PROTECTION|ENABLE_CORS)"
    r"""['"]?\s*[=:]?\s*['"]?(?:false|0)\b"""
)


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing is tracked")
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [name for name in listing.decode().split("\0") if name]


def tracked_texts() -> dict[str, str]:
    """Every tracked text file that exists in the working tree, by path."""
    texts: dict[str, str] = {}
    for name in tracked_files():
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the working tree, not yet committed
        try:
            texts[name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary: a key file is caught by its name
    return texts


# ---- XSRF and CORS


def test_streamlit_config_keeps_xsrf_and_cors_protection_on() -> None:
    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    server = settings["server"]
    assert server["enableXsrfProtection"] is True
    assert server["enableCORS"] is True
    # Both are options this Streamlit knows: a renamed option would be silently ignored.
    known = streamlit_config.get_config_options()
    assert "server.enableXsrfProtection" in known and "server.enableCORS" in known


def test_the_config_file_is_tracked_and_nothing_tracked_turns_the_protection_off() -> None:
    texts = tracked_texts()
    assert ".streamlit/config.toml" in texts
    turned_off = {
        name: match.group(0)
        for name, text in texts.items()
        if name != "tests/test_repository_hygiene.py"
        for match in [DISABLED_PROTECTION.search(text)]
        if match
    }
    assert turned_off == {}, "a command line, environment or config turns the protection off"


@pytest.mark.parametrize(
    "line",
    [
        "enableXsrfProtection = false",
        "--server.enableCORS=false",
        "--server.enableXsrfProtection false",
        "STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION=false",
        'STREAMLIT_SERVER_ENABLE_CORS: "false"',
    ],
)
def test_turning_the_protection_off_is_recognised(line: str) -> None:
    assert DISABLED_PROTECTION.search(line)


def test_turning_the_protection_on_is_not_mistaken_for_off() -> None:
    assert not DISABLED_PROTECTION.search("enableXsrfProtection = true\nenableCORS = true")


# ---- secrets


def test_no_tracked_file_is_a_key_or_secret() -> None:
    names = tracked_files()
    assert [name for name in names if SECRET_FILES.search(name)] == []
    assert [name for name in names if name.startswith("data/")] == []


def test_no_tracked_file_holds_a_private_key_or_a_hard_coded_code_key() -> None:
    texts = tracked_texts()
    assert [name for name, text in texts.items() if PRIVATE_KEY.search(text)] == []
    # Tests set a throw-away key of their own; anywhere else a value would be a real one.
    hard_coded = {
        name: match.group(0)
        for name, text in texts.items()
        if not name.startswith("tests/")
        for match in [HARD_CODED_KEY.search(text)]
        if match
    }
    assert hard_coded == {}


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("data/secret.key", True),
        (".streamlit/secrets.toml", True),
        (".env", True),
        ("deploy/.env.production", True),
        ("nginx/pingyi.pem", True),
        ("id_ed25519", True),
        (".streamlit/config.toml", False),
        ("pingyi/config.py", False),
        ("docs/keyboard.md", False),
    ],
)
def test_secret_file_names_are_recognised(name: str, secret: bool) -> None:
    assert bool(SECRET_FILES.search(name)) is secret


@pytest.mark.parametrize(
    ("text", "hard_coded"),
    [
        ("PINGYI_SECRET_KEY=3f9a1c", True),
        ("export PINGYI_SECRET_KEY='3f9a1c'", True),
        ("  PINGYI_SECRET_KEY: 3f9a1c", True),
        ('os.environ["PINGYI_SECRET_KEY"] = "3f9a1c"', True),
        ('os.environ.setdefault("PINGYI_SECRET_KEY", "3f9a1c")', True),
        ("PINGYI_SECRET_KEY=$(openssl rand -hex 32)", False),
        ("PINGYI_SECRET_KEY=${PINGYI_SECRET_KEY}", False),
        ("PINGYI_SECRET_KEY=<the key>", False),
        ("PINGYI_SECRET_KEY=…", False),
        ('os.environ.setdefault("PINGYI_SECRET_KEY", secrets.token_hex(32))', False),
        ('from_env = os.environ.get("PINGYI_SECRET_KEY")', False),
        ("| `PINGYI_SECRET_KEY` | key that hashes 测评码 |", False),
    ],
)
def test_hard_coded_code_keys_are_recognised(text: str, hard_coded: bool) -> None:
    assert bool(HARD_CODED_KEY.search(text)) is hard_coded


def test_private_key_blocks_are_recognised() -> None:
    header = "-----BEGIN " + "{}PRIVATE KEY-----"  # split, so this file holds no such line
    for kind in ("", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "):
        assert PRIVATE_KEY.search(header.format(kind))
    assert not PRIVATE_KEY.search("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("path", ["data/secret.key", "data/pingyi.db", ".streamlit/secrets.toml"])
def test_gitignore_keeps_the_key_the_database_and_streamlit_secrets_out(path: str) -> None:
    tracked_files()  # skips outside a git checkout
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "--quiet", path], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, f"{path} is not ignored by .gitignore"
