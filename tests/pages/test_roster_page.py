"""名册 in AppTest: tables and filters, the import with its errors or its summary, downloads.

AppTest in this Streamlit drives `st.file_uploader` itself (`set_value((name, bytes, mime))`),
so the import is tested through the page, as the office uses it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import openpyxl
from streamlit.testing.v1 import AppTest

from pingyi import db, demo, roster

PAGE = "pages/roster.py"
HEADER = ",".join(roster.COLUMNS)
BAD_CSV = "\n".join(
    [
        HEADER,
        "A001,,局机关,机关,机关党支部,是,是,否,否,否,",  # row 2: no name
        "A002,李四,局机关,机关,机关党支部,否,有,否,否,否,",  # row 3: 有 is no yes/no spelling
    ]
).encode()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def upload(at: AppTest, name: str, data: bytes, mime: str = "text/csv") -> AppTest:
    at.file_uploader(key="roster_upload").set_value((name, data, mime)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def member_count() -> int:
    with db.session() as s:
        return len(roster.active_members(session=s))


def test_empty_roster_shows_uploader_and_templates(empty_db: Path, open_page) -> None:
    at = open_page(PAGE)
    assert at.title[0].value == "名册"
    assert "名册是空的" in at.info[0].value
    assert at.file_uploader(key="roster_upload").allowed_type == [".xlsx", ".csv"]
    assert [b.label for b in at.get("download_button")] == ["模板 Excel", "模板 CSV"]
    assert f"是/否各列:{roster.FLAG_SPELLINGS}" in [c.value for c in at.caption]
    assert not at.dataframe


def test_bad_csv_shows_every_error_with_its_row_and_imports_nothing(
    empty_db: Path, open_page
) -> None:
    at = upload(open_page(PAGE), "名册.csv", BAD_CSV)
    assert len(at.error) == 1
    message = at.error[0].value
    assert "名册有 2 处错误,没有导入任何数据" in message
    assert "第 2 行「姓名」为空" in message
    assert "第 3 行「班子成员」的值「有」无效" in message and "「√」「TRUE」表示是" in message
    assert not at.success
    assert member_count() == 0


def test_unreadable_file_is_an_error_not_a_crash(empty_db: Path, open_page) -> None:
    at = upload(open_page(PAGE), "名册.xlsx", b"PK\x03\x04 not really a workbook", XLSX)
    assert "不是有效的 Excel" in at.error[0].value
    assert member_count() == 0


def filled_template(fmt: Literal["xlsx", "csv"]) -> bytes:
    """The template the page offers, with the example rows typed under its header."""
    data = roster.template_bytes(fmt)
    if fmt == "csv":
        lines = (",".join(row) for row in roster.EXAMPLE_ROWS)
        return data + "\r\n".join(lines).encode()
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    for row in roster.EXAMPLE_ROWS:
        workbook[roster.ROSTER_SHEET].append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_good_csv_imports_and_shows_what_was_added(empty_db: Path, open_page) -> None:
    at = upload(open_page(PAGE), "名册模板.csv", filled_template("csv"))
    assert not at.error
    assert at.success[0].value == "新增 3 人,变更 0 人,移除 0 人"
    assert member_count() == 3
    assert {m.label: m.value for m in at.metric} == {"单位": "2", "党支部": "2", "党员": "3"}
    # Any later rerun (here: a filter) shows the same report and imports nothing again.
    at.checkbox(key="roster_flag_班子成员").check().run()
    assert at.success[0].value == "新增 3 人,变更 0 人,移除 0 人"


def test_xlsx_template_imports_too(empty_db: Path, open_page) -> None:
    at = upload(open_page(PAGE), "名册模板.xlsx", filled_template("xlsx"), XLSX)
    assert "新增 3 人" in at.success[0].value
    assert member_count() == 3


def test_reimporting_with_a_member_missing_reports_the_removal(demo_db: Path, open_page) -> None:
    with db.session() as s:
        table = roster.roster_table(session=s)
    rows = table.iloc[:-1].to_dict("records")  # the last member has left
    gone = table.iloc[-1]["编号"]
    at = upload(open_page(PAGE), "名册.csv", demo.rows_to_csv(rows))
    assert at.success[0].value == "新增 0 人,变更 0 人,移除 1 人"
    (details,) = (e for e in at.expander if e.label.startswith("变动明细"))
    assert gone in details.markdown[0].value and "移除" in details.markdown[0].value
    assert member_count() == 104


def test_demo_roster_tables_and_downloads(demo_db: Path, open_page) -> None:
    at = open_page(PAGE)
    assert {m.label: m.value for m in at.metric} == {"单位": "7", "党支部": "7", "党员": "105"}
    assert [t.label for t in at.tabs] == ["党员", "党支部", "单位"]
    members, branches, units = (d.value for d in at.dataframe)
    assert len(members) == 105
    assert len(branches) == 7 and branches["支部书记"].str.len().gt(0).all()
    assert branches.set_index("党支部").loc["机关党支部", "联系班子成员"] == ""
    assert branches["联系班子成员"].str.len().gt(0).sum() == 6  # every grassroots branch
    assert len(units) == 7
    assert [b.label for b in at.get("download_button")] == [
        "模板 Excel",
        "模板 CSV",
        "名册 Excel",
        "名册 CSV",
    ]


def test_members_filter_by_name_flag_unit_and_branch(demo_db: Path, open_page) -> None:
    at = open_page(PAGE)
    at.checkbox(key="roster_flag_党组书记").check().run()
    assert len(at.dataframe[0].value) == 1
    assert at.dataframe[0].value.iloc[0]["身份"] == "党组书记、班子成员"
    name = at.dataframe[0].value.iloc[0]["姓名"]
    at.checkbox(key="roster_flag_党组书记").uncheck().run()
    at.text_input[0].input(name).run()
    assert name in set(at.dataframe[0].value["姓名"])
    at.text_input[0].input("").run()
    at.selectbox[0].select(demo.ORGAN_UNIT).run()
    organ = at.dataframe[0].value
    assert set(organ["单位"]) == {demo.ORGAN_UNIT} and len(organ) == 25
    at.selectbox[1].select("机关党支部").run()
    assert len(at.dataframe[0].value) == 25
    assert "共 25 人(名册共 105 人)" in [c.value for c in at.caption]
