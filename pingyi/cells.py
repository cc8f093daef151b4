"""Spreadsheet cells that stay text: the one guard against formula (CSV) injection.

Every export (roster, code slips, 汇总表) passes people's text through `excel_safe`, and the
roster import undoes it with `unquoted`, so such text survives a round trip inert.
"""

from __future__ import annotations

# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def excel_safe(text: str) -> str:
    """`text` as a spreadsheet shows it and never runs it: a leading ' when it would start a
    formula. The ' stays in the value, so the text stays inert through CSV and pandas too."""
    return "'" + text if text.startswith(FORMULA_START) else text


def unquoted(cell: str) -> str:
    """A cell without the ' that `excel_safe` added: "'=A1" → "=A1"; other text as it is."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell
