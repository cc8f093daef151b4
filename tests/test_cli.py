"""The `pingyi` command, run in-process against a temporary SQLite file."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from pingyi import cli, config, db


@pytest.fixture
def fresh_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("PINGYI_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("PINGYI_DATA_DIR", str(tmp_path))
    config.settings.cache_clear()
    db.engine.cache_clear()
    yield path
    db.engine().dispose()
    config.settings.cache_clear()
    db.engine.cache_clear()


def test_init_is_idempotent(fresh_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["init"]) == 0
    assert cli.main(["init"]) == 0
    assert fresh_db.exists()
    assert "数据库已就绪" in capsys.readouterr().out


def test_demo_then_round_list_and_rules_check(
    fresh_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo"]) == 0
    assert cli.main(["round", "list"]) == 0
    out = capsys.readouterr().out
    assert "2026年第四季度领导点评和群众评议" in out
    assert "自我小结" in out
    assert cli.main(["rules", "check"]) == 0
    out = capsys.readouterr().out
    assert "党组书记" in out and "联系班子成员" in out and "支部书记" in out
    assert "市场经营户" in out and "没有发现问题" in out


def test_demo_refuses_existing_data_without_replace(
    fresh_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo"]) == 0
    assert cli.main(["demo"]) == 1
    assert "--replace" in capsys.readouterr().err
    assert cli.main(["demo", "--replace"]) == 0


def test_rules_check_exits_1_on_problems(
    fresh_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster_file = tmp_path / "名册.csv"
    roster_file.write_text(
        "编号,姓名,单位,单位类型,党支部,党组书记,班子成员,党员干部,支部书记,年老体弱,联系支部\n"
        "A1,张书记,局机关,机关,机关党支部,是,是,否,否,否,\n"
        "A2,李一,局机关,机关,机关党支部,否,否,否,否,否,\n"
        "B1,王二,东城所,基层单位,东城党支部,否,否,否,否,否,\n",
        encoding="utf-8",
    )
    assert cli.main(["import-roster", str(roster_file)]) == 0
    assert cli.main(["rules", "check"]) == 1
    out = capsys.readouterr().out
    assert "东城党支部没有支部书记" in out
    assert "东城党支部没有联系班子成员" in out


def test_import_roster_reports_bad_rows_and_changes_nothing(
    fresh_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "编号,姓名,单位,单位类型,党支部,党组书记,班子成员,党员干部,支部书记,年老体弱,联系支部\n"
        "A1,,局机关,机关,机关党支部,是,是,否,否,否,\n",
        encoding="utf-8",
    )
    assert cli.main(["import-roster", str(bad)]) == 1
    assert "第 2 行" in capsys.readouterr().err
    assert cli.main(["import-roster", str(tmp_path / "missing.csv")]) == 1


def test_round_create_open_and_unknown_round(
    fresh_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo"]) == 0
    assert cli.main(["round", "create", "2027年第一季度", "--quarter", "2027Q1"]) == 0
    assert cli.main(["round", "open", "--round", "2027年第一季度"]) == 0
    assert cli.main(["rules", "check", "--round", "不存在的轮次"]) == 1
    assert "找不到评议轮次" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_command(fresh_db: Path) -> None:
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "pingyi", "init"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
