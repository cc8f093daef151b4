"""测评内容's tables in the real `st.data_editor`, in Debian's chromium.

tests/pages/test_criteria_page.py stands in for the editor (AppTest cannot edit one), so the
page's conversion of what the editor gives back (empty cells, typed numbers, added and deleted
rows, chosen options) is checked here: the office edits the office's defaults with the mouse and
the keyboard as a person does, saves, and the database is read back through the domain
functions (`criteria.scale`, `rounds.rules_of`), on a demo server of this module's own.

The grid is drawn on a canvas (glide-data-grid): a row is clicked at its place under a header
as high as a row, a column reached by the arrow keys from the first; a click on a row marker
selects the row. Beside the canvas glide keeps an accessible table of the rows drawn (a moment
after the grid is): each step waits there for the selection or the value it made, and the
tables are checked there before they are saved.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from sqlalchemy import Engine

from pingyi import audit, criteria, db, rounds

pytestmark = pytest.mark.browser

EXCEPTION = '[data-testid="stException"]'
ROW = 35  # px: a row of Streamlit's data grid, and its header
MARKER, FIRST = 16, 60  # px from the grid's left: the row markers, the first column
CELL_EDITOR = "#portal .gdg-input"  # the text or number editor a cell opens on Enter


@pytest.fixture
def engine(own_demo_app) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """The demo server's database, from this process."""
    bind = db.make_engine(own_demo_app.env["PINGYI_DATABASE_URL"])
    yield bind
    bind.dispose()


def open_tab(page, server, log_in, settle, tab: str, save: str) -> None:  # type: ignore[no-untyped-def]
    log_in(page, server, "criteria")
    settle(page, "修改哪一套测评内容")
    page.get_by_role("tab", name=tab).click()
    settle(page, save)


def grid(page):  # type: ignore[no-untyped-def]
    """The open tab's editor (each tab has its own, the hidden ones too; the rules preview
    has tables that are not editors)."""
    shown = page.locator('[data-testid="stForm"] [data-testid="stDataFrame"]:visible')
    expect(shown).to_have_count(1)
    return shown


def cell(page, row: int, column: int):  # type: ignore[no-untyped-def]
    """A cell of the accessible table: rows and columns from 0, the row markers not counted."""
    return grid(page).get_by_test_id(f"glide-cell-{column + 1}-{row}")


def shown(page) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """The rows of the accessible table, as their cells' text (an empty cell: "")."""
    return grid(page).evaluate(
        "g => [...g.querySelectorAll('tbody tr')]"
        ".map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent))"
    )


def rows_counted(page) -> int:  # type: ignore[no-untyped-def]
    """The grid's rows as it counts them (aria-rowcount: the header and the blank row to add
    one are counted too)."""
    return int(grid(page).locator("table").get_attribute("aria-rowcount"))


def click(page, row: int, x: float) -> None:  # type: ignore[no-untyped-def]
    """Click row `row` (0: the first under the header) `x` px from the grid's left."""
    box = grid(page).locator('[data-testid="data-grid-canvas"]').bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x, box["y"] + ROW * (row + 1) + ROW / 2)


def select(page, row: int, column: int) -> None:  # type: ignore[no-untyped-def]
    first = cell(page, row, 0)
    # A click on the selected cell opens its editor (after Enter the one below is selected).
    if not (first.count() and first.get_attribute("aria-selected") == "true"):
        click(page, row, FIRST)
    expect(first).to_have_attribute("aria-selected", "true")
    for _ in range(column):
        page.keyboard.press("ArrowRight")
    expect(cell(page, row, column)).to_have_attribute("aria-selected", "true")


def type_cell(page, row: int, column: int, value: str) -> None:  # type: ignore[no-untyped-def]
    select(page, row, column)
    page.keyboard.press("Enter")
    page.locator(CELL_EDITOR).fill(value)
    page.keyboard.press("Enter")
    expect(page.locator(CELL_EDITOR)).to_have_count(0)
    expect(cell(page, row, column)).to_have_text(value)


def choose_cell(page, row: int, column: int, option: str) -> None:  # type: ignore[no-untyped-def]
    select(page, row, column)
    page.keyboard.press("Enter")
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.get_by_role("option")).to_have_count(0)
    expect(cell(page, row, column)).to_have_text(option)


def add_row(page) -> None:  # type: ignore[no-untyped-def]
    before = rows_counted(page)
    grid(page).hover()  # the toolbar shows on hover
    grid(page).get_by_role("button", name="Add row").click()
    expect(grid(page).locator("table")).to_have_attribute("aria-rowcount", str(before + 1))


def delete_row(page, row: int) -> None:  # type: ignore[no-untyped-def]
    before = rows_counted(page)
    click(page, row, MARKER)
    # The accessible table's rows count the header as row 1.
    expect(grid(page).locator(f'tr[aria-rowindex="{row + 2}"]')).to_have_attribute(
        "aria-selected", "true"
    )
    page.keyboard.press("Delete")
    expect(grid(page).locator("table")).to_have_attribute("aria-rowcount", str(before - 1))


def logged(engine: Engine, action: str) -> list[str]:
    with db.session(engine) as s:
        return [event.detail for event in audit.events(session=s) if event.action == action]


def test_the_scale_edited_in_the_grid_is_stored_as_typed(  # type: ignore[no-untyped-def]
    own_demo_app, engine, page, log_in, settle, screenshot
):
    with db.session(engine) as s:
        before = [(lv.label, lv.score) for lv in criteria.scale(session=s, round_id=None)]
    assert before == [("好", 100), ("较好", 80), ("一般", 60), ("差", 40), ("不了解", None)]
    open_tab(page, own_demo_app, log_in, settle, "评价等级", "保存评价等级")

    type_cell(page, 1, 0, "良好")  # 较好 renamed
    type_cell(page, 2, 1, "65")  # 一般: 60 → 65
    add_row(page)
    type_cell(page, 5, 0, "很差")  # a new last row, after 不了解 (unscored: anywhere)
    type_cell(page, 5, 1, "20")
    delete_row(page, 3)  # 差
    assert shown(page) == [
        ["好", "100"],
        ["良好", "80"],
        ["一般", "65"],
        ["不了解", ""],
        ["很差", "20"],
    ]
    screenshot(page, "criteria-scale-edited")
    page.get_by_role("button", name="保存评价等级").click()
    settle(page, "已保存办公室默认设置的评价等级。")
    assert page.locator(EXCEPTION).count() == 0

    with db.session(engine) as s:
        after = [(lv.label, lv.score) for lv in criteria.scale(session=s, round_id=None)]
    # 不了解's empty score cell is None again (a NaN would have been refused as a score).
    assert after == [
        ("好", 100.0),
        ("良好", 80.0),
        ("一般", 65.0),
        ("不了解", None),
        ("很差", 20.0),
    ]
    assert len(logged(engine, "修改评价等级")) == 1


def test_rules_edited_in_the_grid_are_stored_as_chosen(  # type: ignore[no-untyped-def]
    own_demo_app, engine, page, log_in, settle
):
    with db.session(engine) as s:
        before = [rounds.rule_labels(r) for r in rounds.rules_of(session=s, round_id=None)]
    assert len(before) == 11
    assert before[8] == ("群众评议", "局全体工作人员", "班子成员")
    assert before[10] == ("群众评议", "市场经营户", "基层单位党员")
    open_tab(page, own_demo_app, log_in, settle, "评议规则", "保存评议规则")

    # Row 10 is below the grid's fold: delete row 8 first, and the last rule is row 9.
    delete_row(page, 8)
    choose_cell(page, 9, 1, "基层单位工作人员")  # 市场经营户's rule, now 基层单位工作人员's
    assert shown(page)[-2:] == [list(before[9]), ["群众评议", "基层单位工作人员", "基层单位党员"]]
    page.get_by_role("button", name="保存评议规则").click()
    settle(page, "已保存办公室默认设置的评议规则。")
    assert page.locator(EXCEPTION).count() == 0

    with db.session(engine) as s:
        after = [rounds.rule_labels(r) for r in rounds.rules_of(session=s, round_id=None)]
    assert after == [
        *before[:8],
        before[9],
        ("群众评议", "基层单位工作人员", "基层单位党员"),
    ]
    assert logged(engine, "修改评议规则") == ["办公室默认设置:共 10 条规则"]
