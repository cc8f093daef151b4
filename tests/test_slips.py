from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pingyi import codes, config, slips

BASE = "http://pingyi.example.cn:8501"
ROUND = "2026年第四季度<script>alert('x')</script>评议"
GROUP = "市场经营户 & 摊主"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(autouse=True)
def base_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("PINGYI_BASE_URL", "http://host:8501/")
    config.settings.cache_clear()
    yield "http://host:8501"
    config.settings.cache_clear()


def _codes(n: int) -> list[str]:
    return sorted(codes.generate() for _ in range(n))


def test_ballot_url_is_the_ballot_page_with_the_code(base_url: str) -> None:
    assert slips.ballot_url("ABCD2345") == "http://host:8501/ballot?code=ABCD2345"
    assert slips.ballot_url("ABCD2345", BASE + "/") == BASE + "/ballot?code=ABCD2345"
    assert slips.ballot_page() == "http://host:8501/ballot"


def test_qr_is_inline_svg_or_png() -> None:
    svg = slips.qr_svg(slips.ballot_url("ABCD2345", BASE))
    assert svg.startswith("<svg") and "viewBox" in svg and "<?xml" not in svg
    assert svg != slips.qr_svg(slips.ballot_url("ABCD2346", BASE))
    assert slips.qr_png(BASE).startswith(b"\x89PNG\r\n\x1a\n")


def test_slips_page_escapes_names_and_holds_code_qr_and_link() -> None:
    issued = _codes(3)
    page = slips.slips_html(round_name=ROUND, group_name=GROUP, codes=issued, base_url=BASE)
    assert "<script>" not in page and "alert('x')" not in page
    assert "2026年第四季度&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;评议" in page
    assert "市场经营户 &amp; 摊主" in page
    assert page.count("<svg") == 3
    for code in issued:
        assert f"{code[:4]} {code[4:]}" in page
        assert slips.ballot_url(code, BASE) in page
    assert BASE + "/ballot<" in page  # printed for people who type it
    assert "群众评议测评码" in page
    assert "扫码或打开网址后输入测评码" in page and "每码仅限使用一次" in page
    assert "匿名评议" in page


def test_slips_name_the_group_s_form_after_the_group() -> None:
    page = slips.slips_html(
        round_name=ROUND, group_name="市场经营户", codes=_codes(2), base_url=BASE, form="总体评议"
    )
    assert page.count('<div class="meta group">市场经营户 · 总体评议</div>') == 2
    plain = slips.slips_html(
        round_name=ROUND, group_name="市场经营户", codes=_codes(1), base_url=BASE
    )
    assert '<div class="meta group">市场经营户</div>' in plain


def test_slips_page_is_print_ready_a4() -> None:
    page = slips.slips_html(round_name="第一轮", group_name="局全体工作人员", codes=_codes(11))
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert '<html lang="zh-CN">' in page
    assert "@page { size: A4; margin: 10mm; }" in page
    assert "break-inside: avoid" in page
    assert '"Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", "PingFang SC"' in page
    assert page.count('<section class="sheet">') == 2  # ten slips a sheet
    assert "http://host:8501/ballot" in page  # the configured base URL by default
    assert "<link" not in page and "src=" not in page  # self-contained


def test_codes_are_shown_in_groups_of_four() -> None:
    assert slips.group_code("ABCD2345") == "ABCD 2345"
    assert codes.normalize(slips.group_code("ABCD2345")) == "ABCD2345"


def test_csv_has_bom_header_and_one_row_per_code() -> None:
    issued = _codes(4)
    data = slips.codes_csv(round_name="第一轮", group_name="局全体工作人员", codes=issued)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["轮次", "群体", "测评码", "链接"]
    assert rows[1:] == [
        ["第一轮", "局全体工作人员", code, f"http://host:8501/ballot?code={code}"]
        for code in issued
    ]


@pytest.mark.parametrize("name", ['=HYPERLINK("http://x")', "+1", "-1+2", "@SUM(A1)", "\tx"])
def test_csv_cells_cannot_start_a_formula(name: str) -> None:
    data = slips.codes_csv(round_name=name, group_name=name, codes=["ABCD2345"], base_url=BASE)
    (row,) = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]
    assert row[0] == row[1] == "'" + name
    assert row[2] == "ABCD2345"


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")
def test_twenty_slips_print_on_two_a4_pages(tmp_path: Path) -> None:
    html = tmp_path / "slips.html"
    pdf = tmp_path / "slips.pdf"
    html.write_text(slips.slips_html(round_name=ROUND, group_name=GROUP, codes=_codes(20)))
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes())) == 2
