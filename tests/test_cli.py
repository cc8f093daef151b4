"""The `pingyi` command, run in-process against a temporary SQLite file."""

import io
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import inspect
from sqlmodel import select

from pingyi import address, audit, auth, cli, config, db, demo, roster, rounds
from pingyi.models import Step, Target


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
    first = capsys.readouterr().out
    assert first == f"数据库已就绪:sqlite:///{fresh_db}\n"
    tables = set(inspect(db.engine()).get_table_names())
    assert {"member", "round", "ballot", "alembic_version"} <= tables
    assert cli.main(["init"]) == 0
    assert capsys.readouterr().out == first
    assert set(inspect(db.engine()).get_table_names()) == tables


def test_demo_then_round_list_and_rules_check(
    fresh_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--no-history"]) == 0
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
    assert cli.main(["demo", "--no-history"]) == 0
    with db.session() as s:
        assert [r.name for r in rounds.list_rounds(session=s)] == [demo.DEMO_ROUND]
    assert cli.main(["demo", "--no-history"]) == 1
    assert "--replace" in capsys.readouterr().err
    assert cli.main(["demo", "--replace"]) == 0
    out = capsys.readouterr().out
    assert "上一轮已结束、结果已公布" in out and f"进行中的轮次「{demo.DEMO_ROUND}」" in out
    with db.session() as s:  # replaced: now with last quarter's round, and the current at 开展点评
        replaced = rounds.list_rounds(session=s)
        current = rounds.current(session=s)
    assert len(replaced) == 2 and demo.DEMO_ROUND in [r.name for r in replaced]
    assert current is not None and (current.name, current.step) == (demo.DEMO_ROUND, Step.REVIEW)


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
    with db.session() as s:
        assert roster.active_members(session=s) == []
    assert cli.main(["import-roster", str(tmp_path / "missing.csv")]) == 1
    assert "找不到文件" in capsys.readouterr().err


def test_round_create_open_and_unknown_round(
    fresh_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--no-history"]) == 0
    capsys.readouterr()
    assert cli.main(["round", "create", "2027年第一季度", "--quarter", "2027Q1"]) == 0
    assert capsys.readouterr().out == "已新建轮次 2「2027年第一季度」(筹备)\n"
    with db.session() as s:
        created = rounds.resolve(session=s, id_or_name="2027年第一季度")
        assert (created.id, created.quarter, created.step) == (2, "2027Q1", Step.DRAFT)
    assert cli.main(["round", "open", "--round", "2027年第一季度"]) == 0
    out = capsys.readouterr().out
    with db.session() as s:
        opened = rounds.resolve(session=s, id_or_name="2027年第一季度")
        targets = rounds.count_targets(session=s, round_id=2)
        logged = [(e.action, e.detail) for e in audit.events(session=s)]
    assert opened.step == Step.SELF_SUMMARY and targets > 0
    assert out.startswith(f"已开启「2027年第一季度」:{targets} 个评议对象,")
    assert ("新建轮次", "2027年第一季度") in logged and ("开启轮次", "2027年第一季度") in logged
    assert cli.main(["rules", "check", "--round", "不存在的轮次"]) == 1
    assert "找不到评议轮次" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_command(
    fresh_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
    assert {"member", "round", "alembic_version"} <= set(inspect(db.engine()).get_table_names())
    # What `pingyi init` says, in this process, on the database the other one just made.
    assert cli.main(["init"]) == 0
    assert result.stdout == capsys.readouterr().out == f"数据库已就绪:sqlite:///{fresh_db}\n"


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The addresses the CLI checks, answered as reachable without any traffic (the check
    itself is tested against real loopback servers in test_address)."""
    asked: list[str] = []

    def check(base: str, **_: object) -> address.Reachability:
        asked.append(base)
        return address.Reachability(True, "可以访问")

    monkeypatch.setattr(address, "check", check)
    return asked


def test_codes_issue_writes_slips_and_csv_then_status_and_revoke(
    fresh_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], checked: list[str]
) -> None:
    assert cli.main(["demo", "--no-history"]) == 0
    slips, table = tmp_path / "slips.html", tmp_path / "codes.csv"
    args = ["codes", "issue", "--group", "市场经营户", "--count", "3"]
    files = ["--slips", str(slips), "--csv", str(table), "--base-url", "office.test:8501/"]
    assert cli.main([*args, "--round", "1", *files]) == 0
    assert checked == ["http://office.test:8501"]
    page = slips.read_text(encoding="utf-8")
    assert "群众评议测评码" in page and "http://office.test:8501/ballot?code=" in page
    assert "localhost" not in page
    rows = table.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("轮次,群体,测评码") and len(rows) == 4
    assert all("http://office.test:8501/ballot?code=" in row for row in rows[1:])
    code = rows[1].split(",")[2]
    capsys.readouterr()

    assert cli.main(["codes", "revoke", code]) == 0
    assert capsys.readouterr().out == "已作废\n"
    assert cli.main(["codes", "status"]) == 0
    assert "市场经营户: 发放 3,已打开 0,已提交 0,已作废 1" in capsys.readouterr().out
    assert cli.main(["codes", "issue", "--group", "不存在", "--count", "1"]) == 1
    assert "没有评议群体" in capsys.readouterr().err


def test_codes_issue_without_files_prints_the_codes_once(
    fresh_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--no-history"]) == 0
    capsys.readouterr()
    assert cli.main(["codes", "issue", "--group", "all_staff", "--count", "2"]) == 0
    printed = capsys.readouterr()
    assert len(printed.out.split()) == 2
    assert "只在此时显示" in printed.err


def test_create_admin_reads_the_password_and_refuses_a_weak_one(
    fresh_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["create-admin", "office"]) == 1
    assert "密码至少需要" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("office-pass-1\n"))
    assert cli.main(["create-admin", "office", "--name", "领导小组办公室"]) == 0
    with db.session() as s:
        result = auth.login(session=s, username="office", password="office-pass-1")
        assert result.account is not None and result.account.is_admin


def test_accounts_create_writes_the_initial_passwords_once(
    fresh_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--no-history"]) == 0
    out = tmp_path / "初始密码.csv"
    assert cli.main(["accounts", "create", "--out", str(out)]) == 0
    rows = out.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0] == "用户名,姓名,党支部,初始密码"
    with db.session() as s:
        members = len(roster.active_members(session=s))
    assert len(rows) == members + 1
    capsys.readouterr()
    assert cli.main(["accounts", "create"]) == 0, "a second run makes no account twice"
    assert "已为 0 名党员生成账号" in capsys.readouterr().err


def test_round_next_and_step_move_the_round_and_are_logged(
    fresh_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--no-history"]) == 0
    capsys.readouterr()

    def step_now() -> Step:
        with db.session() as s:
            current = rounds.current(session=s)
        assert current is not None
        return Step(current.step)

    assert cli.main(["round", "next"]) == 0
    assert f"「{demo.DEMO_ROUND}」已进入「调研督查」阶段" in capsys.readouterr().out
    assert step_now() == Step.INSPECTION
    assert cli.main(["round", "step", "开展点评"]) == 0
    assert f"「{demo.DEMO_ROUND}」现在是「开展点评」阶段" in capsys.readouterr().out
    assert step_now() == Step.REVIEW
    assert cli.main(["round", "step", "self_summary", "--round", "1"]) == 0
    assert "现在是「自我小结」阶段" in capsys.readouterr().out
    assert step_now() == Step.SELF_SUMMARY
    assert cli.main(["round", "step", "不存在"]) == 1
    assert "没有阶段" in capsys.readouterr().err
    assert step_now() == Step.SELF_SUMMARY
    with db.session() as s:
        logged = [e.action for e in audit.events(session=s)]
    assert logged.count("推进阶段") == 3 and "加载示例数据" in logged


def test_slips_are_refused_on_a_loopback_address_and_nothing_is_issued(
    fresh_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    checked: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert cli.main(["demo", "--no-history"]) == 0
    capsys.readouterr()
    args = ["codes", "issue", "--group", "vendors", "--count", "2"]
    for extra in ([], ["--base-url", "http://127.0.0.1:8501"]):
        for output in (["--slips", str(tmp_path / "s.html")], ["--csv", str(tmp_path / "c.csv")]):
            assert cli.main([*args, *output, *extra]) == 1
            err = capsys.readouterr().err
            assert "是本机地址" in err and "--base-url" in err, err
    assert (
        "未设置 PINGYI_BASE_URL"
        in (cli.main([*args, "--csv", "x.csv"]), capsys.readouterr())[1].err
    )
    assert not (tmp_path / "s.html").exists() and not (tmp_path / "c.csv").exists()
    assert cli.main(["codes", "status"]) == 0
    assert "市场经营户: 发放 0," in capsys.readouterr().out  # nothing issued by the refusals
    assert checked == []

    # PINGYI_BASE_URL set to the office's address: no --base-url needed.
    monkeypatch.setenv("PINGYI_BASE_URL", "http://office.test:8501")
    config.settings.cache_clear()
    assert cli.main([*args, "--csv", str(tmp_path / "c.csv")]) == 0
    assert "http://office.test:8501/ballot?code=" in (tmp_path / "c.csv").read_text("utf-8-sig")
    assert checked == ["http://office.test:8501"]


def test_an_unreachable_address_is_said_but_not_refused(
    fresh_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(address, "check", lambda base, **_: address.Reachability(False, "无法访问"))
    assert cli.main(["demo", "--no-history"]) == 0
    out = tmp_path / "c.csv"
    args = ["codes", "issue", "--group", "vendors", "--count", "1", "--csv", str(out)]
    assert cli.main([*args, "--base-url", "http://office.test:8501"]) == 0
    assert "注意:无法访问" in capsys.readouterr().err and out.exists()


def test_serve_shows_where_tablets_go_and_starts_streamlit_on_every_interface(
    fresh_db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(address, "network_addresses", lambda: ["192.0.2.7", "198.51.100.3"])
    assert cli.main(["serve", "--port", "8600", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "  http://192.0.2.7:8600\n  http://198.51.100.3:8600" in out
    assert "扫码打开评议页(http://192.0.2.7:8600/ballot)" in out
    assert "▀" in out or "█" in out  # the terminal QR code
    assert "-m streamlit run" in out and "--server.address 0.0.0.0 --server.port 8600" in out

    monkeypatch.setattr(address, "network_addresses", lambda: [])
    assert cli.main(["serve", "--dry-run"]) == 0
    assert "没有找到本机的局域网地址" in capsys.readouterr().out


def test_roster_template_filled_in_with_openpyxl_imports(
    fresh_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "名册模板.xlsx"
    assert cli.main(["roster", "template", "--out", str(template)]) == 0
    assert "pingyi import-roster" in capsys.readouterr().out
    workbook = openpyxl.load_workbook(template)
    assert [cell.value for cell in workbook.worksheets[0][1]] == list(roster.COLUMNS)
    workbook.worksheets[0].append(
        ["P00001", "张书记", "局机关", "机关", "机关党支部", "Y", "1", "n", "√", "FALSE", ""]
    )
    workbook.worksheets[0].append(
        ["P00002", "李一", "局机关", "机关", "机关党支部", "否", "0", "TRUE", "×", "", ""]
    )
    workbook.save(template)
    assert cli.main(["import-roster", str(template)]) == 0
    assert "新增 2 人" in capsys.readouterr().out
    with db.session() as s:
        members = {m.roster_id: m for m in roster.active_members(session=s)}
    assert sorted(members) == ["P00001", "P00002"]
    assert members["P00001"].is_party_secretary and members["P00001"].is_branch_secretary
    assert members["P00002"].is_cadre and not members["P00002"].is_leadership


def test_roster_template_is_csv_when_asked_for_by_its_name(fresh_db: Path, tmp_path: Path) -> None:
    template = tmp_path / "名册模板.csv"
    assert cli.main(["roster", "template", "--out", str(template)]) == 0
    assert template.read_bytes() == roster.template_bytes("csv")


def _report_of(target: str, out: Path) -> str:
    assert cli.main(["report", "--target", target, "--out", str(out)]) == 0, target
    return out.read_text(encoding="utf-8")


def test_report_target_is_the_roster_number(
    fresh_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--no-history"]) == 0
    with db.session() as s:
        first = roster.active_members(session=s)[0]
    page = tmp_path / "报告.html"
    assert first.roster_id == "P00001"
    assert first.name in _report_of("P00001", page)
    assert f"已生成「{first.name}」的评议结果报告" in capsys.readouterr().out
    assert first.name in _report_of(first.name, page), "a unique name still works"
    assert cli.main(["report", "--target", "P99999", "--out", str(page)]) == 1
    assert capsys.readouterr().err.strip() == (
        "错误:本轮没有评议对象「P99999」:党员请写名册中的编号或姓名,党支部和领导班子请写名称"
    )


def test_report_target_number_is_never_a_database_id_when_the_roster_numbers_are_digits(
    fresh_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster_file = tmp_path / "名册.csv"
    roster_file.write_text(
        ",".join(roster.COLUMNS) + "\n"
        "1,张书记,局机关,机关,机关党支部,是,是,否,是,否,东城党支部\n"
        "2,李一,局机关,机关,机关党支部,否,否,否,否,否,\n"
        "3,王二,东城所,基层单位,东城党支部,否,否,否,是,否,\n",
        encoding="utf-8",
    )
    assert cli.main(["import-roster", str(roster_file)]) == 0
    assert cli.main(["round", "create", "2027年第一季度", "--quarter", "2027Q1"]) == 0
    assert cli.main(["round", "open", "--round", "2027年第一季度", "--allow-problems"]) == 0
    page = tmp_path / "报告.html"
    assert "李一" in _report_of("2", page)
    with db.session() as s:
        ids = [t.id for t in s.exec(select(Target))]
    unused = next(str(i) for i in ids if str(i) not in {"1", "2", "3"})
    capsys.readouterr()
    assert cli.main(["report", "--target", unused, "--out", str(page)]) == 1
    assert f"本轮没有评议对象「{unused}」" in capsys.readouterr().err
