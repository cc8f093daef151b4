"""名册: read the office's roster (.xlsx or .csv), check every row, upsert units, branches, members.

All or nothing: `import_roster` writes only when the whole file is valid, and then in the
caller's transaction. Members and branches that leave the roster are made inactive, never
deleted, because old rounds refer to them.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import PurePath
from typing import Any, Literal

import openpyxl
import pandas as pd
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import Session, col, select

from pingyi import audit
from pingyi.audit import Action
from pingyi.cells import excel_safe, unquoted
from pingyi.models import Branch, Member, Unit, UnitKind

COLUMNS: tuple[str, ...] = (
    "编号",
    "姓名",
    "单位",
    "单位类型",
    "党支部",
    "党组书记",
    "班子成员",
    "党员干部",
    "支部书记",
    "年老体弱",
    "联系支部",
)
# Roster column → the attribute of the same flag on RosterMember and on Member.
FLAG_COLUMNS: dict[str, str] = {
    "党组书记": "is_party_secretary",
    "班子成员": "is_leadership",
    "党员干部": "is_cadre",
    "支部书记": "is_branch_secretary",
    "年老体弱": "is_elderly",
}
YES, NO = "是", "否"
# Every spelling of yes and no an office types or Excel stores (a TRUE/FALSE cell reads as
# text "TRUE"); compared after NFKC and casefold, so y, Ｙ, true and True count too.
_FLAG_WORDS: dict[str, bool] = {
    **dict.fromkeys((YES, "1", "y", "√", "true"), True),
    **dict.fromkeys((NO, "0", "n", "×", "false", ""), False),
}
FLAG_SPELLINGS = (
    f"「{YES}」「Y」「1」「√」「TRUE」表示是,「{NO}」「N」「0」「×」「FALSE」或留空表示否"
    "(字母不分大小写)"
)
UNIT_KINDS: tuple[str, ...] = tuple(kind.value for kind in UnitKind)
NOT_A_SPREADSHEET = "文件不是有效的 Excel (.xlsx) 或 CSV 表格"
ROSTER_SHEET, GUIDE_SHEET = "名册", "填写说明"
COLUMN_NOTES: dict[str, str] = {
    "编号": "每人唯一的编号,以后每次导入都用同一个编号;也是此人登录的用户名",
    "姓名": "党员姓名",
    "单位": "所在单位的名称",
    "单位类型": "只能填「机关」或「基层单位」;同一单位的各行要一致",
    "党支部": "所在党支部的名称;一个党支部的党员都在同一单位",
    "党组书记": "是否党组书记;全名册只能有一位",
    "班子成员": "是否领导班子成员",
    "党员干部": "是否党员干部",
    "支部书记": "是否所在党支部的书记;每个党支部只能有一位",
    "年老体弱": "是否年老体弱党员",
    "联系支部": "班子成员所联系的党支部名称,多个用「、」隔开;不是班子成员的留空。"
    "每个党支部只能有一位联系班子成员",
}
CSV_NOTE = (
    "填写说明(导入时跳过本行):每人一行,表头不要改动;单位类型填「机关」或「基层单位」;"
    f"是/否各列{FLAG_SPELLINGS};联系支部填班子成员所联系的党支部,多个用「、」隔开"
)
# Newline too: Alt+Enter inside an Excel cell is how people put one name per line.
_LIAISON_SEPARATORS = re.compile(r"[、,，;；\n]")
_REQUIRED_TEXT = ("编号", "姓名", "单位", "党支部")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the pre-2007 .xls format
_HEADER_SEARCH_ROWS = 10  # offices often put a title row or two above the header
_SNIFF_LINES = 50
_EMPTY = "(空)"

EXAMPLE_ROWS: tuple[tuple[str, ...], ...] = (
    ("A001", "张三", "局机关", "机关", "机关党支部", YES, YES, NO, NO, NO, ""),
    ("A002", "李四", "局机关", "机关", "机关党支部", NO, YES, NO, YES, NO, "城东市场党支部"),
    ("B001", "王五", "城东市场服务中心", "基层单位", "城东市场党支部", NO, NO, NO, YES, NO, ""),
)


def _column_length(model: Any, column: str) -> int:
    return int(model.__table__.columns[column].type.length)


# The columns' VARCHAR sizes: PostgreSQL refuses longer text, so refuse it row by row first.
_MAX_LENGTH: dict[str, int] = {
    "编号": _column_length(Member, "roster_id"),
    "姓名": _column_length(Member, "name"),
    "单位": _column_length(Unit, "name"),
    "党支部": _column_length(Branch, "name"),
}


@dataclass(frozen=True)
class RowError:
    """One problem of the file; `message` is the whole Chinese sentence, row number included."""

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        return self.message


class SheetRow(dict[str, str]):
    """One data row keyed by column name, remembering its row number as the sheet shows it."""

    def __init__(self, number: int, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.number = number


@dataclass(frozen=True)
class RosterMember:
    roster_id: str
    name: str
    unit: str
    unit_kind: UnitKind
    branch: str
    is_party_secretary: bool = False
    is_leadership: bool = False
    is_cadre: bool = False
    is_branch_secretary: bool = False
    is_elderly: bool = False
    liaison_of: tuple[str, ...] = ()  # branches this 班子成员 is the 联系班子成员 of
    row: int | None = None

    @property
    def display(self) -> str:
        return f"{self.roster_id} {self.name}"


@dataclass(frozen=True)
class RosterBranch:
    name: str
    unit: str
    liaison: str | None = None  # 编号 of its 联系班子成员


@dataclass
class ParsedRoster:
    units: dict[str, UnitKind] = field(default_factory=dict)
    branches: dict[str, RosterBranch] = field(default_factory=dict)
    members: list[RosterMember] = field(default_factory=list)


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # "A001 张三(党支部: 一支部 → 二支部)"
    removed: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.errors:
            return f"名册有 {len(self.errors)} 处错误,没有导入任何数据:请改正后重新上传"
        return f"新增 {len(self.added)} 人,变更 {len(self.changed)} 人,移除 {len(self.removed)} 人"

    def lines(self) -> list[str]:
        """The summary, then one line per error or per change, for the CLI and the page."""
        if self.errors:
            return [self.summary(), *(str(error) for error in self.errors)]
        return [
            self.summary(),
            *(f"新增: {entry}" for entry in self.added),
            *(f"变更: {entry}" for entry in self.changed),
            *(f"移除: {entry}" for entry in self.removed),
        ]


class _Unreadable(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass
class _Grid:
    """A sheet as text, plus cells whose value cannot be trusted: (row, column) → reason."""

    cells: list[list[str]]
    problems: dict[tuple[int, int], str] = field(default_factory=dict)


# ---- reading a file


def read_rows(filename: str, data: bytes) -> list[SheetRow] | list[RowError]:
    """The data rows of an .xlsx (first sheet) or .csv file, or the errors that stop reading it."""
    try:
        grid = _read_grid(filename, data)
    except _Unreadable as unreadable:
        return unreadable.errors
    return _rows_from_grid(grid)


def _read_grid(filename: str, data: bytes) -> _Grid:
    suffix = PurePath(filename).suffix.lower()
    # Decide by content first: people rename files, and an .xlsx is always a zip.
    if data.startswith(_ZIP_MAGIC):
        return _xlsx_grid(data)
    if data.startswith(_OLE_MAGIC) or suffix == ".xls":
        raise _Unreadable([_file_error(f"{NOT_A_SPREADSHEET}:旧版 .xls 请在 Excel 中另存为 .xlsx")])
    if suffix in (".csv", ".txt"):
        return _csv_grid(data)
    raise _Unreadable([_file_error(NOT_A_SPREADSHEET)])


def _file_error(message: str) -> RowError:
    return RowError(None, None, message)


def _xlsx_grid(data: bytes) -> _Grid:
    try:
        # One full load gives formulas as written, merged ranges and every other cell's value;
        # only a sheet with formulas is read again, streamed, for the results Excel saved.
        sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
        formulas = {(c.row, c.column) for r in sheet.iter_rows() for c in r if c.data_type == "f"}
        saved = _saved_results(data, formulas) if formulas else {}
    except Exception as exc:  # a damaged or foreign zip fails in many ways inside openpyxl
        raise _Unreadable([_file_error(NOT_A_SPREADSHEET)]) from exc
    grid = _Grid([])
    for row in sheet.iter_rows():
        texts: list[str] = []
        for cell in row:
            position = (len(grid.cells), len(texts))
            # A formula is never evaluated here: it is what Excel saved it showing, or an error.
            value, data_type = saved.get((cell.row, cell.column), (cell.value, cell.data_type))
            if data_type == "e":
                grid.problems[position] = f"是 Excel 错误值「{value}」"
            elif data_type == "f":
                grid.problems[position] = (
                    "是公式,文件里没有保存它的计算结果:"
                    "请用 Excel 打开并保存后再导入,或把公式改成数值"
                )
                value = None
            texts.append(_text(value))
        grid.cells.append(texts)
    _fill_merged_cells(grid.cells, sheet)
    return grid


# (row, column) of a cell; openpyxl's stubs allow None for a cell outside a sheet.
_Position = tuple[int | None, int | None]


def _saved_results(data: bytes, formulas: set[_Position]) -> dict[_Position, Any]:
    """(row, column) → (value, data_type) Excel saved, for each formula cell that has one."""
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        return {
            (cell.row, cell.column): (cell.value, cell.data_type)
            for row in workbook.worksheets[0].iter_rows()
            for cell in row
            # Empty cells of a streamed sheet have no position; a formula without a result
            # reads as None and stays a formula.
            if cell.value is not None and (cell.row, cell.column) in formulas
        }
    finally:
        workbook.close()


def _fill_merged_cells(cells: list[list[str]], sheet: Worksheet) -> None:
    # A merged 单位 or 党支部 cell spanning several people means the value for each of them.
    for merged in sheet.merged_cells.ranges:
        value = cells[merged.min_row - 1][merged.min_col - 1]
        for row in range(merged.min_row - 1, min(merged.max_row, len(cells))):
            for column in range(merged.min_col - 1, min(merged.max_col, len(cells[row]))):
                cells[row][column] = value


def _csv_grid(data: bytes) -> _Grid:
    text = _decode(data)
    if "\x00" in text:  # a binary file that happened to decode
        raise _Unreadable([_file_error(NOT_A_SPREADSHEET)])
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
        return _Grid([[_text(unquoted(cell)) for cell in row] for row in reader])
    except csv.Error as exc:
        raise _Unreadable([_file_error(NOT_A_SPREADSHEET)]) from exc


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" export
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        # Offices on Chinese Windows save CSV in the GBK code page; gb18030 is its superset.
        encodings = ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _Unreadable([_file_error(NOT_A_SPREADSHEET)])


def _delimiter(text: str) -> str:
    """Comma, tab (Excel's "Unicode text") or semicolon, as the first lines use it; else comma."""
    # The first lines are enough, and keep the sniffer's regular expressions off a big file.
    sample = "\n".join(text.splitlines()[:_SNIFF_LINES])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;").delimiter
    except csv.Error:  # too few rows to tell, or a title row above them: Excel writes commas
        return ","


def _text(value: Any) -> str:
    """A cell as the text a person sees: 1001.0 → "1001", None and NaN → ""."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime) and value.time() == time(0):
        return value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


def _rows_from_grid(grid: _Grid) -> list[SheetRow] | list[RowError]:
    header_index = _header_index(grid.cells)
    if header_index is None:
        return [_file_error("文件是空的:没有表头,也没有数据")]
    positions: dict[str, int] = {}
    for index, name in enumerate(grid.cells[header_index]):
        positions.setdefault(re.sub(r"\s+", "", name), index)
    missing = [column for column in COLUMNS if column not in positions]
    if missing:
        return [_missing_columns_error(missing, header_index + 1)]
    rows: list[SheetRow] = []
    errors: list[RowError] = []
    for index in range(header_index + 1, len(grid.cells)):
        cells = grid.cells[index]
        values = {
            c: cells[p] if p < len(cells) else "" for c, p in positions.items() if c in COLUMNS
        }
        if not any(values.values()):
            continue
        for column in COLUMNS:
            problem = grid.problems.get((index, positions[column]))
            if problem is not None:
                cell = f"{get_column_letter(positions[column] + 1)}{index + 1}"
                errors.append(_cell_error(index + 1, column, f"(单元格 {cell}){problem}"))
        rows.append(SheetRow(index + 1, values))
    return errors or rows


def _header_index(cells: list[list[str]]) -> int | None:
    """The header row: the first with 编号 and 姓名 near the top, else the first non-empty row."""
    for index, row in enumerate(cells[:_HEADER_SEARCH_ROWS]):
        names = {re.sub(r"\s+", "", cell) for cell in row}
        if {"编号", "姓名"} <= names:
            return index
    return next((index for index, row in enumerate(cells) if any(row)), None)


def _missing_columns_error(missing: Sequence[str], header_row: int | None) -> RowError:
    names = "、".join(f"「{column}」" for column in missing)
    where = f"第 {header_row} 行(表头)" if header_row is not None else "表头"
    return RowError(header_row, None, f"{where}缺少列 {names}:请使用名册模板的列名")


# ---- checking the rows


def validate(rows: Sequence[Mapping[str, Any]]) -> tuple[ParsedRoster, list[RowError]]:
    """Every problem of every row; the parsed roster is empty unless there are none."""
    missing = [column for column in COLUMNS if any(column not in row for row in rows)]
    if missing:
        return ParsedRoster(), [_missing_columns_error(missing, None)]
    lines = [_clean(row, index) for index, row in enumerate(rows)]
    errors = [error for line in lines for error in _field_errors(line)]
    errors += _duplicate_ids(lines)
    errors += _unit_kind_conflicts(lines)
    errors += _branch_unit_conflicts(lines)
    errors += _second_party_secretaries(lines)
    errors += _second_branch_secretaries(lines)
    errors += _liaison_errors(lines)
    if not lines:
        # An empty file would otherwise make every member inactive.
        errors.append(_file_error("名册中没有任何党员:请至少填写一行"))
    if errors:
        errors.sort(key=_error_order)
        return ParsedRoster(), errors
    return _parse(lines), []


def _clean(row: Mapping[str, Any], index: int) -> SheetRow:
    # Rows not read from a file (a page's table editor) count from row 2, under a header.
    number = row.number if isinstance(row, SheetRow) else index + 2
    return SheetRow(number, {column: _text(row[column]) for column in COLUMNS})


def _error_order(error: RowError) -> tuple[int, int]:
    column = COLUMNS.index(error.column) if error.column in COLUMNS else len(COLUMNS)
    return (error.row or 0, column)


def _cell_error(number: int, column: str, text: str) -> RowError:
    return RowError(number, column, f"第 {number} 行「{column}」{text}")


def parse_flag(value: str) -> bool | None:
    """A yes/no cell: 是/Y/1/√/TRUE → True, 否/N/0/×/FALSE or blank → False, else None."""
    return _FLAG_WORDS.get(unicodedata.normalize("NFKC", value).strip().casefold())


def _field_errors(row: SheetRow) -> list[RowError]:
    errors: list[RowError] = []
    for column in _REQUIRED_TEXT:
        if not row[column]:
            errors.append(_cell_error(row.number, column, "为空"))
        elif len(row[column]) > _MAX_LENGTH[column]:
            errors.append(_cell_error(row.number, column, f"太长:最多 {_MAX_LENGTH[column]} 个字"))
    kind = row["单位类型"]
    if kind not in UNIT_KINDS:
        said = "为空" if not kind else f"的值「{kind}」无效"
        errors.append(_cell_error(row.number, "单位类型", f"{said}:只能填「机关」或「基层单位」"))
    for column in FLAG_COLUMNS:
        if parse_flag(row[column]) is None:
            text = f"的值「{row[column]}」无效:只能填{FLAG_SPELLINGS}"
            errors.append(_cell_error(row.number, column, text))
    if row["联系支部"] and parse_flag(row["班子成员"]) is False:
        text = "有值,但此人不是班子成员:只有班子成员可以做联系班子成员"
        errors.append(_cell_error(row.number, "联系支部", text))
    return errors


def _repeats(
    rows: Sequence[SheetRow], key: Callable[[SheetRow], str | None]
) -> Iterator[tuple[SheetRow, int]]:
    """Each row whose key an earlier row already had, with that earlier row's number."""
    first: dict[str, int] = {}
    for row in rows:
        value = key(row)
        if value is None:
            continue
        if value in first:
            yield row, first[value]
        else:
            first[value] = row.number


def _duplicate_ids(rows: Sequence[SheetRow]) -> list[RowError]:
    return [
        _cell_error(row.number, "编号", f"的「{row['编号']}」与第 {first} 行重复:编号不能重复")
        for row, first in _repeats(rows, lambda row: row["编号"] or None)
    ]


def _second_party_secretaries(rows: Sequence[SheetRow]) -> list[RowError]:
    return [
        _cell_error(row.number, "党组书记", f"为「是」,但第 {first} 行已是党组书记:只能有一位")
        for row, first in _repeats(
            rows, lambda row: "党组书记" if parse_flag(row["党组书记"]) else None
        )
    ]


def _second_branch_secretaries(rows: Sequence[SheetRow]) -> list[RowError]:
    def branch_if_secretary(row: SheetRow) -> str | None:
        return row["党支部"] if row["党支部"] and parse_flag(row["支部书记"]) else None

    return [
        RowError(
            row.number,
            "支部书记",
            f"党支部「{row['党支部']}」有两位支部书记:第 {first} 行和第 {row.number} 行",
        )
        for row, first in _repeats(rows, branch_if_secretary)
    ]


def _conflicts(
    rows: Sequence[SheetRow], key: str, value: str, valid: Callable[[str], bool]
) -> Iterator[tuple[SheetRow, SheetRow]]:
    """Rows giving `key` another `value` than the first row that gave one."""
    first: dict[str, SheetRow] = {}
    for row in rows:
        if not row[key] or not valid(row[value]):
            continue
        earlier = first.setdefault(row[key], row)
        if earlier[value] != row[value]:
            yield row, earlier


def _unit_kind_conflicts(rows: Sequence[SheetRow]) -> list[RowError]:
    return [
        _cell_error(
            row.number,
            "单位类型",
            f"为「{row['单位类型']}」,但第 {earlier.number} 行同一单位「{row['单位']}」"
            f"填的是「{earlier['单位类型']}」:同一单位的单位类型必须一致",
        )
        for row, earlier in _conflicts(rows, "单位", "单位类型", lambda kind: kind in UNIT_KINDS)
    ]


def _branch_unit_conflicts(rows: Sequence[SheetRow]) -> list[RowError]:
    return [
        _cell_error(
            row.number,
            "党支部",
            f"「{row['党支部']}」在单位「{row['单位']}」,但第 {earlier.number} 行它在单位"
            f"「{earlier['单位']}」:一个党支部的党员必须在同一单位",
        )
        for row, earlier in _conflicts(rows, "党支部", "单位", bool)
    ]


def _split_branches(value: str) -> tuple[str, ...]:
    names = (name.strip() for name in _LIAISON_SEPARATORS.split(value))
    return tuple(dict.fromkeys(name for name in names if name))


def _liaison_errors(rows: Sequence[SheetRow]) -> list[RowError]:
    branches = {row["党支部"] for row in rows if row["党支部"]}
    liaison_row: dict[str, int] = {}
    errors: list[RowError] = []
    for row in rows:
        if parse_flag(row["班子成员"]) is not True:
            continue  # a non-班子成员 with 联系支部 is already an error of its own
        for name in _split_branches(row["联系支部"]):
            if name not in branches:
                text = f"中的「{name}」是未知党支部:名册的「党支部」列中没有它"
                errors.append(_cell_error(row.number, "联系支部", text))
            elif name in liaison_row:
                rows_named = f"第 {liaison_row[name]} 行和第 {row.number} 行"
                text = f"党支部「{name}」有两位联系班子成员:{rows_named}"
                errors.append(RowError(row.number, "联系支部", text))
            else:
                liaison_row[name] = row.number
    return errors


def _parse(rows: Sequence[SheetRow]) -> ParsedRoster:
    members = [_roster_member(row) for row in rows]
    liaisons = {branch: m.roster_id for m in members for branch in m.liaison_of}
    return ParsedRoster(
        units={m.unit: m.unit_kind for m in members},
        branches={
            m.branch: RosterBranch(m.branch, m.unit, liaisons.get(m.branch)) for m in members
        },
        members=members,
    )


def _roster_member(row: SheetRow) -> RosterMember:
    flags = {
        attribute: parse_flag(row[column]) is True for column, attribute in FLAG_COLUMNS.items()
    }
    return RosterMember(
        roster_id=row["编号"],
        name=row["姓名"],
        unit=row["单位"],
        unit_kind=UnitKind(row["单位类型"]),
        branch=row["党支部"],
        liaison_of=_split_branches(row["联系支部"]),
        row=row.number,
        **flags,
    )


# ---- writing to the database


def import_roster(*, session: Session, filename: str, data: bytes, actor: str) -> ImportReport:
    """Read, check and apply a roster file; with any error, nothing is written."""
    rows = read_rows(filename, data)
    file_errors = [row for row in rows if isinstance(row, RowError)]
    if file_errors:
        return ImportReport(errors=file_errors)
    roster, errors = validate([row for row in rows if isinstance(row, SheetRow)])
    if errors:
        return ImportReport(errors=errors)
    report = apply_roster(session=session, roster=roster)
    detail = f"{filename}:{report.summary()}"
    audit.record(session=session, actor=actor, action=Action.IMPORT_ROSTER, detail=detail)
    return report


def apply_roster(*, session: Session, roster: ParsedRoster) -> ImportReport:
    """Upsert a valid roster in the caller's transaction (flushed, not committed)."""
    before = {member.roster_id: member for member in _current_roster(session)}
    known = set(session.exec(select(Member.roster_id)))
    unit_rows = _upsert_units(session, roster)
    branches = _upsert_branches(session, roster, unit_rows)
    members = _upsert_members(session, roster, unit_rows, branches)
    # Last, because branch.liaison_id and member.branch_id point at each other.
    for name, parsed in roster.branches.items():
        branches[name].liaison_id = _id(members[parsed.liaison]) if parsed.liaison else None
    session.flush()
    return _report(before, known, roster)


def _id(row: Unit | Branch | Member) -> int:
    assert row.id is not None, "rows have ids once flushed"
    return row.id


def _upsert_units(session: Session, roster: ParsedRoster) -> dict[str, Unit]:
    by_name = {unit.name: unit for unit in session.exec(select(Unit))}
    for name, kind in roster.units.items():
        unit = by_name.setdefault(name, Unit(name=name, kind=kind))
        unit.kind = kind
        session.add(unit)
    session.flush()
    return by_name


def _upsert_branches(
    session: Session, roster: ParsedRoster, unit_rows: dict[str, Unit]
) -> dict[str, Branch]:
    branches = {branch.name: branch for branch in session.exec(select(Branch))}
    for name, parsed in roster.branches.items():
        unit_id = _id(unit_rows[parsed.unit])
        branch = branches.setdefault(name, Branch(name=name, unit_id=unit_id))
        branch.unit_id = unit_id
        branch.active = True
        session.add(branch)
    for name, branch in branches.items():
        if name not in roster.branches and branch.active:
            branch.active = False
            session.add(branch)
    session.flush()
    return branches


def _upsert_members(
    session: Session,
    roster: ParsedRoster,
    unit_rows: dict[str, Unit],
    branches: dict[str, Branch],
) -> dict[str, Member]:
    members = {member.roster_id: member for member in session.exec(select(Member))}
    for parsed in roster.members:
        unit_id = _id(unit_rows[parsed.unit])
        member = members.setdefault(
            parsed.roster_id, Member(roster_id=parsed.roster_id, name=parsed.name, unit_id=unit_id)
        )
        member.name = parsed.name
        member.unit_id = unit_id
        member.branch_id = _id(branches[parsed.branch])
        for attribute in FLAG_COLUMNS.values():
            setattr(member, attribute, getattr(parsed, attribute))
        member.active = True
        session.add(member)
    listed = {parsed.roster_id for parsed in roster.members}
    for roster_id, member in members.items():
        if roster_id not in listed and member.active:
            member.active = False
            session.add(member)
    session.flush()
    return members


def _report(before: dict[str, RosterMember], known: set[str], roster: ParsedRoster) -> ImportReport:
    report = ImportReport()
    for parsed in roster.members:
        old = before.get(parsed.roster_id)
        if old is None:
            again = "(重新列入名册)" if parsed.roster_id in known else ""
            report.added.append(parsed.display + again)
        elif differences := _differences(old, parsed):
            report.changed.append(f"{parsed.display}({';'.join(differences)})")
    listed = {parsed.roster_id for parsed in roster.members}
    report.removed = [old.display for roster_id, old in before.items() if roster_id not in listed]
    return report


def _differences(old: RosterMember, new: RosterMember) -> list[str]:
    old_values, new_values = _columns(old), _columns(new)
    return [
        f"{column}: {old_values[column] or _EMPTY} → {new_values[column] or _EMPTY}"
        for column in COLUMNS
        if old_values[column] != new_values[column]
    ]


def _columns(member: RosterMember) -> dict[str, str]:
    """A member as a roster row; 联系支部 sorted, so the same set always reads the same."""
    flags = {
        column: YES if getattr(member, attribute) else NO
        for column, attribute in FLAG_COLUMNS.items()
    }
    return {
        "编号": member.roster_id,
        "姓名": member.name,
        "单位": member.unit,
        "单位类型": str(member.unit_kind),
        "党支部": member.branch,
        **flags,
        "联系支部": "、".join(sorted(member.liaison_of)),
    }


# ---- reading the roster back


def active_members(*, session: Session) -> list[Member]:
    statement = select(Member).where(col(Member.active)).order_by(col(Member.id))
    return list(session.exec(statement))


def active_branches(*, session: Session) -> list[Branch]:
    statement = select(Branch).where(col(Branch.active)).order_by(col(Branch.id))
    return list(session.exec(statement))


def units(*, session: Session) -> list[Unit]:
    """Every unit, also those no longer in the roster: units have no active flag."""
    return list(session.exec(select(Unit).order_by(col(Unit.id))))


def _current_roster(session: Session) -> list[RosterMember]:
    units_by_id = {unit.id: unit for unit in units(session=session)}
    branches_by_id: dict[int | None, Branch] = {b.id: b for b in session.exec(select(Branch))}
    liaison_of: dict[int, list[str]] = {}
    for branch in branches_by_id.values():
        if branch.active and branch.liaison_id is not None:
            liaison_of.setdefault(branch.liaison_id, []).append(branch.name)
    current: list[RosterMember] = []
    for member in active_members(session=session):
        unit = units_by_id[member.unit_id]
        branch_of_member = branches_by_id.get(member.branch_id)
        current.append(
            RosterMember(
                roster_id=member.roster_id,
                name=member.name,
                unit=unit.name,
                unit_kind=UnitKind(unit.kind),
                branch=branch_of_member.name if branch_of_member else "",
                liaison_of=tuple(liaison_of.get(_id(member), ())),
                **{attribute: getattr(member, attribute) for attribute in FLAG_COLUMNS.values()},
            )
        )
    return current


def roster_table(*, session: Session) -> pd.DataFrame:
    """The active roster with the template's columns; exporting it and importing it is a no-op."""
    rows = [_columns(member) for member in _current_roster(session)]
    return pd.DataFrame(rows, columns=list(COLUMNS), dtype=object)


# ---- files to download


def template_bytes(fmt: Literal["xlsx", "csv"]) -> bytes:
    """An empty roster to fill in: the headers the import expects, and how to fill each column
    where the import does not look (a second sheet of an .xlsx, a line above a .csv's header)."""
    return _table_bytes([], fmt, guide=True)


def roster_bytes(*, session: Session, fmt: Literal["xlsx", "csv"]) -> bytes:
    """The active roster as a file that `import_roster` reads back unchanged."""
    return _table_bytes(roster_table(session=session).values.tolist(), fmt)


def _table_bytes(
    rows: Sequence[Sequence[str]], fmt: Literal["xlsx", "csv"], *, guide: bool = False
) -> bytes:
    if fmt == "xlsx":
        return _xlsx_bytes(rows, guide=guide)
    if fmt == "csv":
        return _csv_bytes(rows, note=CSV_NOTE if guide else None)
    raise ValueError(f"unknown format {fmt!r}")


def _xlsx_bytes(rows: Sequence[Sequence[str]], *, guide: bool = False) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None, "a new workbook has one sheet"
    sheet.title = ROSTER_SHEET
    for column, name in enumerate(COLUMNS, start=1):
        sheet.cell(1, column, name).font = Font(bold=True)
        sheet.column_dimensions[get_column_letter(column)].width = 18 if column <= 5 else 10
    for row_number, row in enumerate(rows, start=2):
        for column, value in enumerate(row, start=1):
            cell = sheet.cell(row_number, column, value)
            # openpyxl makes any text starting with "=" a formula; roster text is never one.
            cell.data_type = "s"
    # Text format: Excel then keeps 编号 like 0012 as typed instead of making it a number.
    sheet.column_dimensions["A"].number_format = "@"
    sheet.freeze_panes = "A2"
    _add_choices(sheet, "单位类型", UNIT_KINDS)
    for flag in FLAG_COLUMNS:
        _add_choices(sheet, flag, (YES, NO))

    if guide:
        _write_guide(workbook.create_sheet(GUIDE_SHEET))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _write_guide(sheet: Worksheet) -> None:
    """The template's second sheet: what each column holds, with an example of each."""
    sheet.append(["名册填写说明"])
    sheet.append([f"请在「{ROSTER_SHEET}」工作表填写,每人一行,表头不要改动。"])
    sheet.append(["导入时只读第一个工作表,本页不会导入。"])
    sheet.append([])
    sheet.append(["列名", "怎么填", "示例"])
    for index, column in enumerate(COLUMNS):
        example = next((row[index] for row in EXAMPLE_ROWS if row[index]), "")
        sheet.append([column, COLUMN_NOTES[column], example])
    sheet.append([])
    sheet.append([f"是/否各列({'、'.join(FLAG_COLUMNS)})", FLAG_SPELLINGS])
    for cell in (sheet["A1"], *sheet[5]):
        cell.font = Font(bold=True)
    for row in sheet.iter_rows(min_row=6, min_col=2, max_col=2):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")
    for letter, width in (("A", 22), ("B", 70), ("C", 18)):
        sheet.column_dimensions[letter].width = width


def _add_choices(sheet: Worksheet, column: str, choices: Sequence[str]) -> None:
    """A drop-down in Excel to pick from; other accepted spellings may still be typed."""
    letter = get_column_letter(COLUMNS.index(column) + 1)
    validation = DataValidation(type="list", formula1=f'"{",".join(choices)}"', allow_blank=True)
    validation.add(f"{letter}2:{letter}5000")
    sheet.add_data_validation(validation)


def _csv_bytes(rows: Sequence[Sequence[str]], note: str | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if note is not None:
        writer.writerow([note])  # above the header: the import skips it like a title row
    writer.writerow(COLUMNS)
    writer.writerows([excel_safe(cell) for cell in row] for row in rows)
    # The BOM makes Excel on Windows read UTF-8 instead of guessing the local GBK code page.
    return buffer.getvalue().encode("utf-8-sig")
