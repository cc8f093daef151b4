"""名册 import: every rule of the roster file, all-or-nothing writes, re-imports and round trips."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, Literal

import openpyxl
import pandas as pd
import pytest
import xlsxwriter
from sqlalchemy import Engine, func
from sqlmodel import select

from pingyi import db, roster
from pingyi.models import Branch, Member, Unit, UnitKind
from pingyi.roster import COLUMNS, NOT_A_SPREADSHEET, ImportReport, RowError, SheetRow

Rows = list[list[Any]]
Format = Literal["xlsx", "csv"]
FORMATS: tuple[Format, ...] = ("xlsx", "csv")


# 编号 姓名 单位 单位类型 党支部 党组书记 班子成员 党员干部 支部书记 年老体弱 联系支部 ("-": blank)
GOOD = """
A001 张书记 局机关           机关     机关党支部 是 是 否 否 否 -
A002 李副局长 局机关         机关     机关党支部 否 是 否 否 否 城东党支部、城西党支部
A003 王科长 局机关           机关     机关党支部 否 否 是 是 否 -
B001 赵主任 城东市场服务中心 基层单位 城东党支部 否 否 是 是 否 -
B002 钱老   城东市场服务中心 基层单位 城东党支部 否 否 否 否 是 -
C001 孙书记 城西市场服务中心 基层单位 城西党支部 否 否 否 是 否 -
C002 周干事 城西市场服务中心 基层单位 城西党支部 否 否 否 否 否 -
"""


def good_rows() -> Rows:
    """A small bureau: the 机关 with its branch, and two market units with a branch each."""
    return [
        ["" if cell == "-" else cell for cell in line.split()] for line in GOOD.strip().splitlines()
    ]


def xlsx(rows: Rows, header: Sequence[str] = COLUMNS) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(header))
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: Rows, encoding: str = "utf-8-sig", header: Sequence[str] = COLUMNS) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def import_file(engine: Engine, data: bytes, filename: str = "名册.xlsx") -> ImportReport:
    with db.transaction(engine) as s:
        return roster.import_roster(actor="测试", session=s, filename=filename, data=data)


Snapshot = tuple[list[dict[str, Any]], list[int], list[tuple[int | None, bool]]]


def snapshot(engine: Engine) -> Snapshot:
    with db.session(engine) as s:
        table = roster.roster_table(session=s).to_dict("records")
        counts = [
            s.exec(select(func.count()).select_from(model)).one()
            for model in (Member, Branch, Unit)
        ]
        states = [(m.id, m.active) for m in s.exec(select(Member).order_by(Member.id))]
    return table, counts, states


def refused(engine: Engine, rows: Rows) -> list[str]:
    """Import a good roster, then `rows`: the second must fail and change nothing."""
    assert import_file(engine, xlsx(good_rows())).ok
    before = snapshot(engine)
    report = import_file(engine, xlsx(rows))
    assert not report.ok
    assert report.added == report.changed == report.removed == []
    assert snapshot(engine) == before
    return [str(error) for error in report.errors]


def sheet_rows(data: bytes, filename: str = "名册.xlsx") -> list[SheetRow]:
    """The rows of a file that must read without errors."""
    rows = roster.read_rows(filename, data)
    assert all(isinstance(row, SheetRow) for row in rows), rows
    return [row for row in rows if isinstance(row, SheetRow)]


def messages(rows: Rows) -> list[str]:
    _, errors = roster.validate(sheet_rows(xlsx(rows)))
    return [str(error) for error in errors]


# ---- reading files


def test_columns_follow_the_template_order() -> None:
    assert COLUMNS == (
        "编号", "姓名", "单位", "单位类型", "党支部",
        "党组书记", "班子成员", "党员干部", "支部书记", "年老体弱", "联系支部",
    )  # fmt: skip


def test_row_numbers_are_as_the_sheet_shows_them_and_empty_rows_are_skipped() -> None:
    rows = good_rows()
    rows.insert(2, [None] * len(COLUMNS))
    data = xlsx(rows)
    parsed = sheet_rows(data)
    assert [row.number for row in parsed] == [2, 3, 5, 6, 7, 8, 9]
    assert parsed[2]["姓名"] == "王科长"


def test_utf8_csv_with_bom_is_read() -> None:
    parsed = sheet_rows(csv_bytes(good_rows()), "名册.csv")
    assert [row["姓名"] for row in parsed] == [r[1] for r in good_rows()]


def test_gbk_csv_is_read() -> None:
    parsed = sheet_rows(csv_bytes(good_rows(), encoding="gbk"), "名册.csv")
    assert parsed[1]["联系支部"] == "城东党支部、城西党支部"


@pytest.mark.parametrize(
    ("delimiter", "encoding"), [("\t", "utf-16"), (";", "utf-8-sig"), (",", "gb18030")]
)
def test_csv_delimiter_is_sniffed(delimiter: str, encoding: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(COLUMNS)
    writer.writerows(good_rows())
    parsed = sheet_rows(buffer.getvalue().encode(encoding), "名册.csv")
    assert [row["编号"] for row in parsed] == [row[0] for row in good_rows()]
    assert parsed[1]["联系支部"] == "城东党支部、城西党支部"


def test_commas_inside_a_quoted_csv_cell_stay_in_the_cell() -> None:
    rows = good_rows()
    rows[1][10] = "城东党支部,城西党支部"
    parsed, errors = roster.validate(sheet_rows(csv_bytes(rows), "名册.csv"))
    assert errors == []
    assert parsed.members[1].liaison_of == ("城东党支部", "城西党支部")


def test_excel_numeric_ids_are_read_as_text() -> None:
    rows = good_rows()
    rows[0][0] = 1001.0
    rows[1][0] = 1002
    parsed = sheet_rows(xlsx(rows))
    assert [row["编号"] for row in parsed[:2]] == ["1001", "1002"]


def test_cells_are_trimmed_and_blank_flags_mean_no() -> None:
    rows = good_rows()
    rows[0][1] = "  张书记\u3000"
    rows[3][5:10] = [" 否 ", None, "", " 是", "否"]
    parsed, errors = roster.validate(sheet_rows(xlsx(rows)))
    assert errors == []
    assert parsed.members[0].name == "张书记"
    b001 = parsed.members[3]
    assert (b001.is_party_secretary, b001.is_leadership, b001.is_cadre) == (False, False, False)
    assert b001.is_branch_secretary is True


# What offices type for yes and no, and what Excel stores for a TRUE/FALSE or number cell.
YES_SPELLINGS: list[Any] = ["是", "1", "Y", "y", "√", "TRUE", "True", "true", "Ｙ", "１"]
NO_SPELLINGS: list[Any] = ["否", "0", "N", "n", "×", "FALSE", "False", "false", "", None]
EXCEL_YES: list[Any] = [True, 1, 1.0]
EXCEL_NO: list[Any] = [False, 0, 0.0]


def one_member_with_every_flag(spelling: Any, fmt: Format) -> list[SheetRow]:
    row = ["X001", "吴某", "局机关", "机关", "机关党支部", *[spelling] * 5, ""]
    data = xlsx([row]) if fmt == "xlsx" else csv_bytes([row])
    return sheet_rows(data, f"名册.{fmt}")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("spelling", "meaning"),
    [*((text, True) for text in YES_SPELLINGS), *((text, False) for text in NO_SPELLINGS)],
)
def test_every_yes_no_spelling_counts_in_every_flag_column(
    fmt: Format, spelling: Any, meaning: bool
) -> None:
    parsed, errors = roster.validate(one_member_with_every_flag(spelling, fmt))
    assert errors == []
    member = parsed.members[0]
    assert [getattr(member, attribute) for attribute in roster.FLAG_COLUMNS.values()] == [
        meaning
    ] * 5


@pytest.mark.parametrize(
    ("value", "meaning"),
    [*((value, True) for value in EXCEL_YES), *((value, False) for value in EXCEL_NO)],
)
def test_excel_true_false_and_number_cells_count_as_yes_or_no(value: Any, meaning: bool) -> None:
    parsed, errors = roster.validate(one_member_with_every_flag(value, "xlsx"))
    assert errors == []
    assert parsed.members[0].is_elderly is meaning


def test_parse_flag_reads_each_spelling_and_nothing_else() -> None:
    assert {roster.parse_flag(text) for text in YES_SPELLINGS} == {True}
    assert {roster.parse_flag(text or "") for text in NO_SPELLINGS} == {False}
    for other in ["有", "无", "2", "yes", "no", "X", "对", "-"]:
        assert roster.parse_flag(other) is None, other


def test_a_roster_in_ones_and_zeros_imports_without_an_error(engine: Engine) -> None:
    rows = [
        [f"P{n:05d}", f"党员{n}", "局机关", "机关", "机关党支部", "0", "0", "1", "0", "0", ""]
        for n in range(1, 36)
    ]
    rows[0][5:9] = ["1", "1", "0", "1"]  # the 党组书记, also 班子成员 and 支部书记
    report = import_file(engine, xlsx(rows))
    assert report.ok, report.lines()[:3]
    with db.session(engine) as s:
        members = roster.active_members(session=s)
    assert len(members) == 35 and sum(m.is_cadre for m in members) == 34
    assert members[0].is_party_secretary and members[0].is_branch_secretary


def test_title_row_above_the_header_is_skipped() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["某某局党员名册"])
    sheet.merge_cells("A1:K1")
    sheet.append(list(COLUMNS))
    for row in good_rows():
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert sheet_rows(buffer.getvalue())[0].number == 3


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("名册.xlsx", b"this is not a zip"),
        ("名册.xlsx", b"PK\x03\x04 a broken zip"),
        ("名册.pdf", b"%PDF-1.7 ..."),
        ("名册.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        ("名册.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64),
    ],
)
def test_a_file_that_is_not_a_spreadsheet_gives_one_error(filename: str, data: bytes) -> None:
    errors = roster.read_rows(filename, data)
    assert len(errors) == 1
    assert isinstance(errors[0], RowError)
    assert errors[0].message.startswith(NOT_A_SPREADSHEET)


def test_a_zip_that_is_not_a_workbook_gives_one_error() -> None:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert roster.read_rows("名册.xlsx", buffer.getvalue()) == [
        RowError(None, None, NOT_A_SPREADSHEET)
    ]


def test_missing_columns_are_named_in_one_error() -> None:
    header = [c for c in COLUMNS if c not in ("党支部", "联系支部")]
    errors = roster.read_rows("名册.csv", csv_bytes([], header=header))
    assert [str(e) for e in errors] == [
        "第 1 行(表头)缺少列 「党支部」、「联系支部」:请使用名册模板的列名"
    ]


def test_rows_without_a_column_are_refused_by_validate() -> None:
    row = dict(zip(COLUMNS, good_rows()[0], strict=True))
    del row["年老体弱"]
    _, errors = roster.validate([row])
    assert [str(e) for e in errors] == ["表头缺少列 「年老体弱」:请使用名册模板的列名"]


def test_merged_cells_import_their_value_for_every_row() -> None:
    rows = good_rows()
    for row in rows[1:3]:
        row[2] = row[3] = row[4] = None  # 单位, 单位类型, 党支部 merged down from A001
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx(rows)))
    sheet = workbook.worksheets[0]
    for letter in "CDE":
        sheet.merge_cells(f"{letter}2:{letter}4")
    buffer = io.BytesIO()
    workbook.save(buffer)
    parsed, errors = roster.validate(sheet_rows(buffer.getvalue()))
    assert errors == []
    assert [m.branch for m in parsed.members[:3]] == ["机关党支部"] * 3
    assert parsed.units["局机关"] == UnitKind.ORGAN


def test_formula_with_a_saved_result_imports_the_result() -> None:
    buffer = io.BytesIO()
    # xlsxwriter can store a formula's result, as Excel does when it saves.
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, COLUMNS)
    for index, row in enumerate(good_rows(), start=1):
        sheet.write_row(index, 0, row)
    sheet.write_formula(1, 1, '="张"&"书记"', None, "张书记")
    workbook.close()
    assert sheet_rows(buffer.getvalue())[0]["姓名"] == "张书记"


def test_formula_without_a_saved_result_is_a_clear_error() -> None:
    rows = good_rows()
    rows[2][1] = '="王"&"科长"'  # openpyxl saves formulas without results
    errors = roster.read_rows("名册.xlsx", xlsx(rows))
    assert [str(e) for e in errors] == [
        "第 4 行「姓名」(单元格 B4)是公式,文件里没有保存它的计算结果:"
        "请用 Excel 打开并保存后再导入,或把公式改成数值"
    ]


def test_excel_error_value_is_a_clear_error() -> None:
    rows = good_rows()
    rows[1][4] = "#N/A"
    errors = roster.read_rows("名册.xlsx", xlsx(rows))
    assert [str(e) for e in errors] == ["第 3 行「党支部」(单元格 E3)是 Excel 错误值「#N/A」"]


def test_formula_outside_the_roster_columns_is_ignored() -> None:
    header = [*COLUMNS, "备注"]
    rows = [[*row, "=1+1"] for row in good_rows()]
    assert len(sheet_rows(xlsx(rows, header=header))) == 7


def test_every_bad_row_is_reported_in_row_order() -> None:
    rows = good_rows()
    rows[0][9] = "有"
    rows[2][1] = ""
    rows[4][0] = "A001"
    rows[5][3] = "事业单位"
    assert messages(rows) == [
        f"第 2 行「年老体弱」的值「有」无效:只能填{roster.FLAG_SPELLINGS}",
        "第 4 行「姓名」为空",
        "第 6 行「编号」的「A001」与第 2 行重复:编号不能重复",
        "第 7 行「单位类型」的值「事业单位」无效:只能填「机关」或「基层单位」",
    ]


def test_rows_from_a_table_editor_count_from_row_two() -> None:
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in good_rows()]
    rows[1]["姓名"] = float("nan")  # what pandas gives for an emptied cell
    _, errors = roster.validate(rows)
    assert [str(e) for e in errors] == ["第 3 行「姓名」为空"]


def test_template_is_the_header_alone_and_its_guide_explains_every_column() -> None:
    for fmt in FORMATS:
        assert sheet_rows(roster.template_bytes(fmt), f"模板.{fmt}") == []
    workbook = openpyxl.load_workbook(io.BytesIO(roster.template_bytes("xlsx")))
    assert workbook.sheetnames == ["名册", "填写说明"]
    assert [cell.value for cell in workbook["名册"][1]] == list(COLUMNS)
    assert workbook["名册"].max_row == 1
    guide = [[cell.value for cell in row] for row in workbook["填写说明"].iter_rows()]
    explained = {row[0]: row[1] for row in guide if row[0] in COLUMNS}
    assert list(explained) == list(COLUMNS) and all(explained.values())
    assert any(roster.FLAG_SPELLINGS in row for row in guide)
    csv_template = roster.template_bytes("csv")
    assert csv_template.startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
    note, header = csv_template.decode("utf-8-sig").splitlines()
    assert roster.FLAG_SPELLINGS in note and header == ",".join(COLUMNS)


def test_report_summary_and_lines_are_chinese() -> None:
    report = ImportReport(added=["A001 张三"], changed=["A002 李四(党支部: 一支部 → 二支部)"])
    assert report.summary() == "新增 1 人,变更 1 人,移除 0 人"
    assert report.lines()[1:] == ["新增: A001 张三", "变更: A002 李四(党支部: 一支部 → 二支部)"]
    failed = ImportReport(errors=[RowError(5, "年老体弱", "第 5 行「年老体弱」为空")])
    assert not failed.ok
    assert failed.lines() == [failed.summary(), "第 5 行「年老体弱」为空"]


# ---- good imports


def test_good_xlsx_import_creates_units_branches_and_members(engine: Engine) -> None:
    report = import_file(engine, xlsx(good_rows()))
    assert report.ok
    assert report.summary() == "新增 7 人,变更 0 人,移除 0 人"
    assert report.added[:2] == ["A001 张书记", "A002 李副局长"]
    with db.session(engine) as s:
        units = {u.name: u for u in roster.units(session=s)}
        branches = {b.name: b for b in roster.active_branches(session=s)}
        members = {m.roster_id: m for m in roster.active_members(session=s)}
    assert units["局机关"].kind == UnitKind.ORGAN
    assert units["城东市场服务中心"].kind == UnitKind.GRASSROOTS
    assert branches["机关党支部"].unit_id == units["局机关"].id
    assert branches["城东党支部"].liaison_id == members["A002"].id
    assert branches["城西党支部"].liaison_id == members["A002"].id
    assert branches["机关党支部"].liaison_id is None
    assert members["A001"].is_party_secretary and members["A001"].is_leadership
    assert members["B001"].branch_id == branches["城东党支部"].id
    assert members["B002"].is_elderly and not members["B002"].is_leader_category


def test_good_csv_import_gives_the_same_roster_as_xlsx(engine: Engine) -> None:
    assert import_file(engine, csv_bytes(good_rows()), filename="名册.csv").ok
    table, counts, _ = snapshot(engine)
    assert counts == [7, 3, 3]
    assert table == pd.DataFrame(good_rows(), columns=list(COLUMNS)).to_dict("records")


def test_gbk_csv_imports(engine: Engine) -> None:
    report = import_file(engine, csv_bytes(good_rows(), encoding="gbk"), filename="名册.csv")
    assert report.ok
    assert "A002 李副局长" in report.added


def test_excel_numeric_ids_import_as_text(engine: Engine) -> None:
    rows = good_rows()
    rows[0][0] = 1001.0
    assert import_file(engine, xlsx(rows)).ok
    with db.session(engine) as s:
        ids = [m.roster_id for m in roster.active_members(session=s)]
    assert ids[0] == "1001"


TWO_ROWS = [
    ["P00001", "张书记", "局机关", "机关", "机关党支部", "1", "Y", "0", "N", "×", ""],
    ["P00002", "李书记", "局机关", "机关", "机关党支部", "否", "0", "FALSE", "√", "", ""],
]


def test_template_filled_in_with_openpyxl_imports(engine: Engine) -> None:
    workbook = openpyxl.load_workbook(io.BytesIO(roster.template_bytes("xlsx")))
    for row in TWO_ROWS:
        workbook["名册"].append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    report = import_file(engine, buffer.getvalue(), filename="名册模板.xlsx")
    assert report.ok, report.lines()
    assert report.added == ["P00001 张书记", "P00002 李书记"]
    with db.session(engine) as s:
        members = {m.roster_id: m for m in roster.active_members(session=s)}
    assert members["P00001"].is_party_secretary and members["P00001"].is_leadership
    assert members["P00002"].is_branch_secretary and not members["P00002"].is_cadre


def test_csv_template_filled_in_imports_past_its_note_line(engine: Engine) -> None:
    lines = "".join(",".join(row) + "\r\n" for row in TWO_ROWS)
    data = roster.template_bytes("csv") + lines.encode("utf-8")
    report = import_file(engine, data, filename="名册模板.csv")
    assert report.ok, report.lines()
    assert len(report.added) == 2


def test_import_writes_only_in_the_callers_transaction(engine: Engine) -> None:
    with db.session(engine) as s:
        assert roster.import_roster(
            actor="测试", session=s, filename="名册.xlsx", data=xlsx(good_rows())
        ).ok
        s.rollback()
    assert snapshot(engine)[1] == [0, 0, 0]


def test_reimport_updates_members_in_place_and_reports_changes(engine: Engine) -> None:
    assert import_file(engine, xlsx(good_rows())).ok
    with db.session(engine) as s:
        ids_before = {m.roster_id: m.id for m in roster.active_members(session=s)}
    rows = good_rows()
    rows[4][4] = "城西党支部"  # B002 moves branch …
    rows[4][2] = "城西市场服务中心"  # … and unit with it
    rows[6][1] = "周干部"
    rows[1][10] = "城东党支部"  # A002 no longer liaison of 城西
    rows[5][6] = "是"  # C001 joins the leadership team and takes over 城西
    rows[5][10] = "城西党支部"
    del rows[2]  # A003 leaves
    rows.append(["D001", "吴新", "局机关", "机关", "机关党支部", "否", "否", "否", "是", "否", ""])
    report = import_file(engine, xlsx(rows))
    assert report.ok, report.lines()
    assert report.added == ["D001 吴新"]
    assert report.removed == ["A003 王科长"]
    assert sorted(report.changed) == [
        "A002 李副局长(联系支部: 城东党支部、城西党支部 → 城东党支部)",
        "B002 钱老(单位: 城东市场服务中心 → 城西市场服务中心;党支部: 城东党支部 → 城西党支部)",
        "C001 孙书记(班子成员: 否 → 是;联系支部: (空) → 城西党支部)",
        "C002 周干部(姓名: 周干事 → 周干部)",
    ]
    assert report.summary() == "新增 1 人,变更 4 人,移除 1 人"
    with db.session(engine) as s:
        members = {m.roster_id: m for m in s.exec(select(Member))}
        branches = {b.name: b for b in roster.active_branches(session=s)}
    assert all(members[rid].id == old for rid, old in ids_before.items())
    assert members["B002"].branch_id == branches["城西党支部"].id
    assert branches["城西党支部"].liaison_id == members["C001"].id


def test_reimporting_the_same_file_changes_nothing(engine: Engine) -> None:
    assert import_file(engine, xlsx(good_rows())).ok
    before = snapshot(engine)
    report = import_file(engine, csv_bytes(good_rows()), filename="名册.csv")
    assert report.ok
    assert report.summary() == "新增 0 人,变更 0 人,移除 0 人"
    assert snapshot(engine) == before


def test_removed_member_becomes_inactive_and_comes_back_when_listed_again(
    engine: Engine,
) -> None:
    assert import_file(engine, xlsx(good_rows())).ok
    with db.session(engine) as s:
        old_id = s.exec(select(Member).where(Member.roster_id == "C002")).one().id
    assert import_file(engine, xlsx(good_rows()[:-1])).removed == ["C002 周干事"]
    with db.session(engine) as s:
        c002 = s.exec(select(Member).where(Member.roster_id == "C002")).one()
        assert not c002.active
        assert "C002" not in {m.roster_id for m in roster.active_members(session=s)}
    report = import_file(engine, xlsx(good_rows()))
    assert report.added == ["C002 周干事(重新列入名册)"]
    with db.session(engine) as s:
        c002 = s.exec(select(Member).where(Member.roster_id == "C002")).one()
    assert c002.active and c002.id == old_id


def test_branch_no_longer_in_the_file_becomes_inactive(engine: Engine) -> None:
    assert import_file(engine, xlsx(good_rows())).ok
    rows = [row for row in good_rows() if row[4] != "城西党支部"]
    rows[1][10] = "城东党支部"
    report = import_file(engine, xlsx(rows))
    assert sorted(report.removed) == ["C001 孙书记", "C002 周干事"]
    with db.session(engine) as s:
        names = [b.name for b in roster.active_branches(session=s)]
        west = s.exec(select(Branch).where(Branch.name == "城西党支部")).one()
    assert names == ["机关党支部", "城东党支部"]
    assert not west.active
    report = import_file(engine, xlsx(good_rows()))
    assert report.ok
    with db.session(engine) as s:
        assert len(roster.active_branches(session=s)) == 3


def test_unit_type_change_is_reported_for_its_members(engine: Engine) -> None:
    assert import_file(engine, xlsx(good_rows())).ok
    rows = good_rows()
    for row in rows[5:7]:
        row[3] = "机关"
    report = import_file(engine, xlsx(rows))
    assert report.changed == [
        "C001 孙书记(单位类型: 基层单位 → 机关)",
        "C002 周干事(单位类型: 基层单位 → 机关)",
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_roster_table_round_trip_gives_no_changes(engine: Engine, fmt: Format) -> None:
    rows = good_rows()
    rows[0][1] = "=张书记"  # text that looks like a formula stays text
    rows[1][0] = "0012"  # leading zeros survive
    assert import_file(engine, csv_bytes(rows), filename="名册.csv").ok
    with db.session(engine) as s:
        table = roster.roster_table(session=s)
        exported = roster.roster_bytes(session=s, fmt=fmt)
    assert list(table.columns) == list(COLUMNS)
    assert table.loc[0, "党组书记"] == "是" and table.loc[0, "党员干部"] == "否"
    before = snapshot(engine)
    report = import_file(engine, exported, filename=f"导出.{fmt}")
    assert report.ok, report.lines()
    assert (report.added, report.changed, report.removed) == ([], [], [])
    assert snapshot(engine) == before


# ---- each rule of the file: refused with its row, nothing written


def test_empty_name_is_refused(engine: Engine) -> None:
    rows = good_rows()
    rows[3][1] = " "
    assert refused(engine, rows) == ["第 5 行「姓名」为空"]


def test_empty_id_is_refused(engine: Engine) -> None:
    rows = good_rows()
    rows[3][0] = None
    assert refused(engine, rows) == ["第 5 行「编号」为空"]


def test_duplicate_id_is_refused_with_both_rows(engine: Engine) -> None:
    rows = good_rows()
    rows[6][0] = "B001"
    assert refused(engine, rows) == ["第 8 行「编号」的「B001」与第 5 行重复:编号不能重复"]


def test_unknown_branch_in_liaison_is_refused(engine: Engine) -> None:
    rows = good_rows()
    rows[1][10] = "城东党支部;城北党支部"
    assert refused(engine, rows) == [
        "第 3 行「联系支部」中的「城北党支部」是未知党支部:名册的「党支部」列中没有它"
    ]


def test_two_secretaries_in_one_branch_are_refused_with_both_rows(engine: Engine) -> None:
    rows = good_rows()
    rows[4][8] = "是"
    assert refused(engine, rows) == ["党支部「城东党支部」有两位支部书记:第 5 行和第 6 行"]


def test_flag_with_no_yes_or_no_spelling_is_refused_naming_row_column_and_spellings(
    engine: Engine,
) -> None:
    rows = good_rows()
    rows[3][9] = "有"
    rows[4][7] = 2
    assert refused(engine, rows) == [
        "第 5 行「年老体弱」的值「有」无效:只能填「是」「Y」「1」「√」「TRUE」表示是,"
        "「否」「N」「0」「×」「FALSE」或留空表示否(字母不分大小写)",
        "第 6 行「党员干部」的值「2」无效:只能填「是」「Y」「1」「√」「TRUE」表示是,"
        "「否」「N」「0」「×」「FALSE」或留空表示否(字母不分大小写)",
    ]


def test_bad_unit_type_is_refused(engine: Engine) -> None:
    rows = good_rows()
    rows[3][3] = "基层"
    rows[4][3] = ""
    assert refused(engine, rows) == [
        "第 5 行「单位类型」的值「基层」无效:只能填「机关」或「基层单位」",
        "第 6 行「单位类型」为空:只能填「机关」或「基层单位」",
    ]


def test_empty_branch_is_refused(engine: Engine) -> None:
    rows = good_rows()
    rows[6][4] = ""
    assert refused(engine, rows) == ["第 8 行「党支部」为空"]


def test_empty_unit_is_refused(engine: Engine) -> None:
    rows = good_rows()
    rows[6][2] = ""
    assert refused(engine, rows) == ["第 8 行「单位」为空"]


def test_inconsistent_unit_type_is_refused(engine: Engine) -> None:
    rows = good_rows()
    rows[4][3] = "机关"
    assert refused(engine, rows) == [
        "第 6 行「单位类型」为「机关」,但第 5 行同一单位「城东市场服务中心」"
        "填的是「基层单位」:同一单位的单位类型必须一致"
    ]


def test_branch_in_two_units_is_refused(engine: Engine) -> None:
    rows = good_rows()
    rows[6][4] = "城东党支部"
    rows[1][10] = "城东党支部"
    assert refused(engine, rows) == [
        "第 8 行「党支部」「城东党支部」在单位「城西市场服务中心」,但第 5 行它在单位"
        "「城东市场服务中心」:一个党支部的党员必须在同一单位",
    ]


def test_liaison_on_a_member_outside_the_leadership_team_is_refused(engine: Engine) -> None:
    rows = good_rows()
    rows[2][10] = "城东党支部"
    assert refused(engine, rows) == [
        "第 4 行「联系支部」有值,但此人不是班子成员:只有班子成员可以做联系班子成员"
    ]


def test_two_party_secretaries_are_refused_on_the_second_row(engine: Engine) -> None:
    rows = good_rows()
    rows[1][5] = "是"
    assert refused(engine, rows) == ["第 3 行「党组书记」为「是」,但第 2 行已是党组书记:只能有一位"]


def test_branch_with_two_liaisons_is_refused(engine: Engine) -> None:
    rows = good_rows()
    rows[0][10] = "城西党支部"
    assert refused(engine, rows) == ["党支部「城西党支部」有两位联系班子成员:第 2 行和第 3 行"]


def test_text_longer_than_the_database_column_is_refused(engine: Engine) -> None:
    rows = good_rows()
    rows[3][1] = "长" * 51
    assert refused(engine, rows) == ["第 5 行「姓名」太长:最多 50 个字"]


def test_empty_roster_is_refused(engine: Engine) -> None:
    assert refused(engine, []) == ["名册中没有任何党员:请至少填写一行"]


def test_file_with_missing_columns_is_refused(engine: Engine) -> None:
    assert import_file(engine, xlsx(good_rows())).ok
    before = snapshot(engine)
    rows = [row[:-1] for row in good_rows()]
    report = import_file(engine, xlsx(rows, header=COLUMNS[:-1]))
    assert [str(e) for e in report.errors] == [
        "第 1 行(表头)缺少列 「联系支部」:请使用名册模板的列名"
    ]
    assert snapshot(engine) == before


def test_unreadable_file_is_refused(engine: Engine) -> None:
    assert import_file(engine, xlsx(good_rows())).ok
    before = snapshot(engine)
    report = import_file(engine, b"\x00\x01 not a spreadsheet", filename="名册.csv")
    assert [str(e) for e in report.errors] == [NOT_A_SPREADSHEET]
    assert report.summary() == "名册有 1 处错误,没有导入任何数据:请改正后重新上传"
    assert snapshot(engine) == before
