"""The 测评码 page, run by AppTest on a temporary SQLite database with the demo bureau."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from apptools import add_office, logged_in
from sqlalchemy import Engine
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from pingyi import codes, config, db, demo, rounds
from pingyi.models import EvaluationCode, EvaluatorGroup, GroupKey, Step
from pingyi.ui import codes as view

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "codes.py")
TIMEOUT = 60  # seconds per run: a cold start migrates and draws QR codes
VENDORS = "市场经营户"


def _clear_caches() -> None:
    config.settings.cache_clear()
    db.engine.cache_clear()
    st.cache_resource.clear()  # ui.engine()


@pytest.fixture
def data_dir(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The page's database: a copy of the migrated template, found through the environment."""
    shutil.copy(sqlite_template, tmp_path / "pingyi.db")
    monkeypatch.setenv("PINGYI_DATABASE_URL", f"sqlite:///{tmp_path / 'pingyi.db'}")
    monkeypatch.setenv("PINGYI_DATA_DIR", str(tmp_path))
    _clear_caches()
    yield tmp_path
    db.engine().dispose()
    monkeypatch.undo()
    _clear_caches()


@pytest.fixture
def empty_db(data_dir: Path) -> Engine:
    add_office(db.engine())
    return db.engine()


@pytest.fixture
def demo_db(empty_db: Engine) -> Engine:
    with db.transaction(empty_db) as s:
        demo.load_demo(actor="测试", session=s, history=False)
    return empty_db


# An office address the phones would reach (a documentation address: never contacted here,
# no test clicks the reachability check with it).
OFFICE_URL = "http://192.0.2.10:8501"


def open_page(address: str | None = OFFICE_URL) -> AppTest:
    """The page as the office opens it, with the address for the slips typed in (AppTest has
    no browser address to prefill it from); None leaves what the page prefills."""
    at = logged_in(AppTest.from_file(PAGE, default_timeout=TIMEOUT))
    if address is not None:
        at.session_state[view.ADDRESS] = address
    at.run()
    assert not at.exception
    return at


def vendor_counts(bind: Engine) -> codes.GroupCodeCounts:
    with db.session(bind) as s:
        round_ = rounds.current(session=s)
        assert round_ is not None
        return next(
            c for c in codes.counts(session=s, round_id=round_.id) if c.group_name == VENDORS
        )


def issue_on_page(at: AppTest, group: str, count: int) -> AppTest:
    at.selectbox(key="codes_group").select(group)  # options are shown by name
    at.run()
    number = next(n for n in at.number_input if n.label == "数量")
    number.set_value(count)
    next(b for b in at.button if b.label == "生成测评码").click()
    at.run()
    assert not at.exception
    return at


def shown_codes(at: AppTest) -> list[str]:
    """The codes in the 查看全部 table, as the office reads them ("ABCD EFGH")."""
    frame = next(d.value for d in at.dataframe if "测评码" in d.value.columns)
    return list(frame["测评码"])


def counts_row(at: AppTest, group: str) -> dict[str, int]:
    frame = at.dataframe[0].value
    row = frame[frame["群体"] == group].iloc[0]
    return {column: row[column] for column in frame.columns if column != "群体"}


def test_page_shows_participation_of_the_demo_round(demo_db: Engine) -> None:
    at = open_page()
    assert at.title[0].value == "测评码"
    assert at.selectbox(key="codes_round").value is not None
    assert demo.DEMO_ROUND in at.selectbox(key="codes_round").format_func(
        at.selectbox(key="codes_round").value
    )
    frame = at.dataframe[0].value
    assert list(frame.columns) == [
        "群体",
        "应到人数",
        "已发放",
        "已打开",
        "已提交",
        "已作废",
        "未使用",
    ]
    assert dict(zip(frame["群体"], frame["应到人数"], strict=True)) == {
        "局全体工作人员": 60,
        "基层单位工作人员": 80,
        VENDORS: 200,
    }
    assert (frame["已发放"] == 0).all()
    assert [p.text for p in at.get("progress")][2].startswith(f"{VENDORS}:已提交 0 / 应到 200")
    # Nothing issued yet: the count offered is the whole headcount.
    assert next(n for n in at.number_input if n.label == "数量").value == 60


def test_issuing_codes_shows_downloads_and_counts_and_stores_only_hashes(
    demo_db: Engine, data_dir: Path
) -> None:
    at = issue_on_page(open_page(), VENDORS, 12)

    assert at.success[0].value.startswith(f"已为「{VENDORS}」生成 12 个测评码")
    assert counts_row(at, VENDORS)["已发放"] == 12
    assert counts_row(at, VENDORS)["未使用"] == 12
    labels = {b.label for b in at.get("download_button")}
    assert labels == {"打印页(A4 测评码条)", "测评码 CSV"}
    assert any("离开本页后无法再次查看" in w.value for w in at.warning)

    plain = [codes.normalize(c) for c in shown_codes(at)]
    assert len(set(plain)) == 12
    assert all(codes.format_problem(c) is None for c in plain)
    with db.session(demo_db) as s:
        vendors = s.exec(select(EvaluatorGroup).where(EvaluatorGroup.key == GroupKey.VENDORS)).one()
        rows = s.exec(select(EvaluationCode).where(EvaluationCode.group_id == vendors.id)).all()
    assert sorted(r.code_hash for r in rows) == sorted(codes.hash_code(c) for c in plain)
    stored = b"".join(p.read_bytes() for p in data_dir.glob("pingyi.db*"))
    assert not any(c.encode() in stored for c in plain)


def test_a_rerun_after_the_click_does_not_issue_again(demo_db: Engine) -> None:
    at = issue_on_page(open_page(), VENDORS, 5)
    assert at.button(key="codes_issue_1").label == "生成测评码"
    assert "codes_issue_0" not in [b.key for b in at.button]
    at.run()
    at.run()
    assert not at.exception
    assert vendor_counts(demo_db).issued == 5
    assert counts_row(at, VENDORS)["已发放"] == 5
    # The default now offers only the ones still missing.
    assert next(n for n in at.number_input if n.label == "数量").value == 195


def test_a_second_issue_keeps_both_batches_until_cleared(demo_db: Engine) -> None:
    at = issue_on_page(open_page(), VENDORS, 3)
    at = issue_on_page(at, "局全体工作人员", 2)
    assert len(at.get("download_button")) == 4
    assert vendor_counts(demo_db).issued == 3

    next(b for b in at.button if b.label == "清除显示").click()
    at.run()
    assert not at.exception
    assert len(at.get("download_button")) == 0
    assert "codes_batches" not in at.session_state
    assert counts_row(at, VENDORS)["已发放"] == 3


def revoke_on_page(at: AppTest, typed: str) -> AppTest:
    at.text_input(key="codes_revoke_code").input(typed)
    next(b for b in at.button if b.label == "作废").click()
    at.run()
    assert not at.exception
    return at


def test_revoking_a_shown_code(demo_db: Engine) -> None:
    at = issue_on_page(open_page(), VENDORS, 4)
    shown = shown_codes(at)[0]

    at = revoke_on_page(at, shown.lower())
    assert any(s.value.startswith(f"已作废测评码 {shown}") for s in at.success)
    assert counts_row(at, VENDORS)["已作废"] == 1
    assert counts_row(at, VENDORS)["未使用"] == 3
    with db.session(demo_db) as s:
        assert codes.lookup(session=s, code=shown).state is codes.CodeState.REVOKED

    at = revoke_on_page(at, shown)
    assert any("此前已作废" in s.value for s in at.success)
    assert counts_row(at, VENDORS)["已作废"] == 1


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("ABCD-EFGH", codes.MSG_UNKNOWN),
        ("ABC0EFGH", "测评码不含数字 0、1"),
        ("ABC", "测评码为 8 位"),
        ("", "请输入测评码"),
    ],
)
def test_a_bad_code_is_refused_in_chinese(demo_db: Engine, typed: str, message: str) -> None:
    at = revoke_on_page(open_page(), typed)
    assert [e.value for e in at.error]
    assert at.error[0].value.startswith(message)
    assert vendor_counts(demo_db).revoked == 0


def test_a_used_code_cannot_be_revoked(demo_db: Engine) -> None:
    at = issue_on_page(open_page(), VENDORS, 1)
    shown = shown_codes(at)[0]
    with db.transaction(demo_db) as s:
        row = s.exec(
            select(EvaluationCode).where(EvaluationCode.code_hash == codes.hash_code(shown))
        ).one()
        row.used = True
        s.add(row)

    at = revoke_on_page(at, shown)
    assert at.error[0].value == "此测评码已使用,不能作废"
    assert vendor_counts(demo_db).revoked == 0


def test_a_closed_round_offers_no_issue(demo_db: Engine) -> None:
    with db.transaction(demo_db) as s:
        round_ = rounds.current(session=s)
        assert round_ is not None
        rounds.set_step(actor="测试", session=s, round_=round_, step=Step.CLOSED)
    at = open_page()
    assert any("已结束,不能再发放测评码" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == "生成测评码"]


def test_without_a_round_the_page_says_so(empty_db: Engine) -> None:
    at = open_page()
    assert "还没有评议轮次" in at.info[0].value
    assert not at.dataframe


# ---- the address on the slips


def test_a_loopback_address_is_refused_for_printing_and_says_what_to_do(
    demo_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No PINGYI_BASE_URL, no network address found, no browser address: localhost is offered,
    # and refused.
    monkeypatch.setattr("pingyi.address.network_addresses", lambda: [])
    at = open_page(address=None)
    assert at.text_input(key=view.ADDRESS).value == "http://localhost:8501"
    refusal = next(e.value for e in at.error if "本机地址" in e.value)
    assert "手机扫码后打开的是手机自己" in refusal and "局域网中的地址" in refusal
    button = next(b for b in at.button if b.label == "生成测评码")
    assert button.disabled

    for loopback in ("127.0.0.1:8501", "http://[::1]:8501", "LOCALHOST"):
        at.text_input(key=view.ADDRESS).input(loopback).run()
        assert any("本机地址" in e.value for e in at.error), loopback
    at.text_input(key=view.ADDRESS).input("office.test:8501").run()
    assert not [e for e in at.error if "本机地址" in e.value]
    assert "测评码条上的链接:`http://office.test:8501/ballot`" in [m.value for m in at.markdown]
    assert [c for c in at.caption if c.value == "扫码试一试"] or at.get("image"), "a QR to try"


def test_the_configured_or_network_address_is_offered(
    demo_db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pingyi.address.network_addresses", lambda: ["192.0.2.7", "198.51.100.3"])
    at = open_page(address=None)
    assert at.text_input(key=view.ADDRESS).value == "http://192.0.2.7:8501"
    assert at.selectbox(key="codes_address_choice").options == [
        "http://192.0.2.7:8501",
        "http://198.51.100.3:8501",
    ]
    at.selectbox(key="codes_address_choice").select("http://198.51.100.3:8501").run()
    assert at.text_input(key=view.ADDRESS).value == "http://198.51.100.3:8501"

    monkeypatch.setenv("PINGYI_BASE_URL", "https://pingyi.example.org/")
    config.settings.cache_clear()
    try:
        at = open_page(address=None)
        assert at.text_input(key=view.ADDRESS).value == "https://pingyi.example.org"
    finally:
        monkeypatch.delenv("PINGYI_BASE_URL")
        config.settings.cache_clear()


def test_the_slips_carry_the_address_shown(demo_db: Engine) -> None:
    at = issue_on_page(open_page(address="http://office.test:8501"), VENDORS, 2)
    batch = at.session_state["codes_batches"][0]
    assert batch.base_url == "http://office.test:8501"
    page = batch.slips_page.decode()
    assert "http://office.test:8501/ballot?code=" in page and "localhost" not in page
    assert b"http://office.test:8501/ballot?code=" in batch.csv
