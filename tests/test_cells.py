"""The one guard against spreadsheet formulas in exported text (roster, code slips, 汇总表)."""

from __future__ import annotations

import pytest

from pingyi.cells import excel_safe, unquoted

FORMULAS = ['=HYPERLINK("http://x","点我")', "+1", "-2", "@SUM(1)", "\t=1", "\r=1", "=", "-"]
PLAIN = ["王五", "机关党支部", "a=b", "1+1", " =1", "", "'已转义", "'", "'王五"]


@pytest.mark.parametrize("text", FORMULAS)
def test_text_that_would_start_a_formula_gets_a_leading_quote(text: str) -> None:
    assert excel_safe(text) == "'" + text


@pytest.mark.parametrize("text", PLAIN)
def test_other_text_is_kept_as_typed(text: str) -> None:
    assert excel_safe(text) == text


@pytest.mark.parametrize("text", FORMULAS + PLAIN)
def test_reading_back_an_export_gives_the_text_as_typed(text: str) -> None:
    assert unquoted(excel_safe(text)) == text


def test_a_quote_before_plain_text_is_kept_on_reading() -> None:
    assert unquoted("'王五") == "'王五"
