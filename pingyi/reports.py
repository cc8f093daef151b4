"""Exports of a round's results: the 汇总表 workbook and a print-ready report per target.

Both read `scoring.round_results` (the tallies, never the ratings, and the submitted 领导点评)
and `codes.counts`, and write nothing. Text that came from people (names and branches from the
roster, the leaders' and the masses' comments) is made safe for where it goes: every text
cell of the workbook passes through `cells.excel_safe`, the report page is a Jinja2 template
that escapes every value.

A group below the round's minimum shows 样本不足 and no number, and its comments are left
out of the report page: with a handful of ballots the target could guess who wrote them.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import Session, col, select

from pingyi import codes, criteria, reviews, scoring
from pingyi.cells import excel_safe
from pingyi.models import TEMPLATE_LABELS, MassComment, Member, Round, Target, TemplateKey
from pingyi.scoring import INSUFFICIENT, NO_GRADE, OK, RoundResult, TargetResult
from pingyi.templating import render

SHEET_SUMMARY = "汇总"
SHEET_ITEMS = "分项"
SHEET_PARTICIPATION = "参与情况"
CATEGORY_ORDER = (TemplateKey.BRANCH, TemplateKey.TEAM, TemplateKey.LEADER, TemplateKey.MEMBER)

RESULT_COLUMNS_BEFORE_GROUPS = ("类别", "名称", "党支部")
RESULT_COLUMNS_AFTER_GROUPS = (
    "群众得分",
    "领导点评得分",
    "综合得分",
    "等级",
    "类别内排名",
    "较上轮变化",
)
RATED_HEADER = "参评(不含不了解)"
PARTICIPATION_COLUMNS = (
    "评议群体",
    "应到人数",
    "发放测评码",
    "已打开",
    "已提交",
    "一刀切份数",
    "一刀切占比",
    "参与率",
    "计分情况",
    "评议方式",
    "评价等级",
)

_NUMBER_FORMATS = {
    "score": "0.00",
    "rate": "0.0%",
    "count": "0",
    "change": "+0.00;-0.00;0.00",
}
_MAX_WIDTH = 50


class ReportError(ValueError):
    """An export that cannot be made; the message is for the office, in Chinese."""


# ---- the workbook


@dataclass(frozen=True)
class _Number:
    value: float
    style: str  # a key of _NUMBER_FORMATS


_Cell = str | _Number | None  # None: an empty cell
_Table = tuple[list[str], list[list[_Cell]]]  # header row, rows


def _score(value: float | None) -> _Cell:
    return NO_GRADE if value is None else _Number(value, "score")


def _rate(value: float | None) -> _Cell:
    return NO_GRADE if value is None else _Number(value, "rate")


def _count(value: int) -> _Cell:
    return _Number(value, "count")


def _category(target: TargetResult) -> str:
    return TEMPLATE_LABELS[TemplateKey(target.template_key)]


def _group_cell(group: scoring.GroupScore | None) -> _Cell:
    if group is None:
        return None  # the group does not evaluate this target
    if group.status != OK:
        return INSUFFICIENT
    return _score(group.score)


def _results_table(targets: Sequence[TargetResult], group_names: Mapping[int, str]) -> _Table:
    group_ids = sorted({g.group_id for t in targets for g in t.groups})
    headers = [
        *RESULT_COLUMNS_BEFORE_GROUPS,
        *(group_names.get(gid, f"评议群体 {gid}") for gid in group_ids),
        *RESULT_COLUMNS_AFTER_GROUPS,
    ]
    rows: list[list[_Cell]] = []
    for target in targets:
        by_group = {g.group_id: g for g in target.groups}
        rows.append(
            [
                _category(target),
                target.name,
                target.branch_name,
                *(_group_cell(by_group.get(gid)) for gid in group_ids),
                _score(target.mass_score),
                _score(target.leader_score),
                _score(target.combined),
                target.grade_label,
                NO_GRADE if target.rank is None else _count(target.rank),
                NO_GRADE if target.change is None else _Number(target.change, "change"),
            ]
        )
    return headers, rows


def _by_rank(targets: Sequence[TargetResult]) -> list[TargetResult]:
    """Best first; targets without a score last, in their usual order."""
    order = {t.target_id: n for n, t in enumerate(targets)}
    return sorted(targets, key=lambda t: (t.rank is None, t.rank or 0, order[t.target_id]))


def _items_table(result: RoundResult, criterion_names: Mapping[int, str]) -> _Table:
    labels = result.labels
    headers = [*RESULT_COLUMNS_BEFORE_GROUPS, "测评项目", *labels, RATED_HEADER, "好评率", "平均分"]
    rows: list[list[_Cell]] = []
    for target in result.targets:
        if not target.groups:
            continue  # not evaluated by the masses
        counted = any(g.status == OK for g in target.groups)
        for item in target.criteria:
            numbers: list[_Cell]
            if counted:
                numbers = [
                    *(_count(item.distribution.get(label, 0)) for label in labels),
                    _count(item.rated),
                    _rate(item.good_rate),
                    _score(item.mean),
                ]
            else:
                numbers = [*(None for _ in labels), None, INSUFFICIENT, INSUFFICIENT]
            rows.append(
                [
                    _category(target),
                    target.name,
                    target.branch_name,
                    criterion_names.get(item.criterion_id, f"测评项目 {item.criterion_id}"),
                    *numbers,
                ]
            )
    return headers, rows


# A group whose ballots wait sealed in the box: nothing of them is in the results yet.
NOT_COUNTED = "尚未开箱计票(票箱中的评议票在结束评议后计入)"


def _participation_table(
    result: RoundResult,
    participation: Sequence[codes.GroupCodeCounts],
    forms: Mapping[int, criteria.GroupFormView],
) -> _Table:
    summaries = {g.group_id: g for g in result.groups}
    minimum = result.settings.min_ballots
    rows: list[list[_Cell]] = []
    numbers: list[tuple[int, int, int, int, int]] = []
    for row in participation:
        summary = summaries.get(row.group_id)
        if summary is None:
            state = "本轮无评议对象"
        elif row.submitted and not summary.ballots:
            state = NOT_COUNTED
        elif summary.status == OK:
            state = "有效"
        else:
            state = f"样本不足(少于 {minimum} 份)"
        uniform = summary.uniform if summary else 0
        counts = (row.headcount, row.issued, row.opened, row.submitted, uniform)
        numbers.append(counts)
        form = forms.get(row.group_id)
        rows.append(
            [
                *_participation_row(row.group_name, *counts, state),
                form.kind_label if form else None,
                _scale_text(form.levels) if form else None,
            ]
        )
    headcount, issued, opened, submitted, uniform = (
        tuple(sum(column) for column in zip(*numbers, strict=True)) if numbers else (0,) * 5
    )
    rows.append(_participation_row("合计", headcount, issued, opened, submitted, uniform, ""))
    return list(PARTICIPATION_COLUMNS), rows


def _participation_row(
    name: str,
    headcount: int,
    issued: int,
    opened: int,
    submitted: int,
    uniform: int,
    state: str,
) -> list[_Cell]:
    return [
        name,
        _count(headcount),
        _count(issued),
        _count(opened),
        _count(submitted),
        _count(uniform),
        _rate(round(uniform / submitted, 4) if submitted else None),
        _rate(round(submitted / headcount, 4) if headcount else None),
        state or None,
    ]


def _scale_text(levels: Sequence[criteria.LevelView]) -> str:
    """A scale as the 汇总表 and the report say it: 满意 100 分、基本满意 70 分…;不了解不计分."""
    scored = "、".join(f"{lv.label} {lv.score:g} 分" for lv in levels if lv.score is not None)
    unscored = "、".join(lv.label for lv in levels if lv.score is None)
    return scored + (f";{unscored}不计分" if unscored else "")


def display_width(text: str) -> int:
    """Columns `text` takes in a spreadsheet: wide (CJK, full-width) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _shown(cell: _Cell) -> str:
    """Roughly what the cell shows, to size its column."""
    if cell is None:
        return ""
    if isinstance(cell, str):
        return excel_safe(cell)
    if cell.style == "rate":
        return f"{cell.value * 100:.1f}%"
    if cell.style == "count":
        return str(int(cell.value))
    return f"{cell.value:+.2f}"


_MIDDLE = Alignment(vertical="center")
_THIN = Side(style="thin")
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill(fill_type="solid", fgColor="FFE8EEF7")
_HEADER_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def _write_sheet(book: Workbook, name: str, table: _Table, round_name: str) -> None:
    headers, rows = table
    sheet = book.create_sheet(name)
    widths = [display_width(excel_safe(h)) + 4 for h in headers]  # + the filter button
    for column, text in enumerate(headers, start=1):
        cell = sheet.cell(1, column, excel_safe(text))
        cell.data_type = "s"
        cell.font, cell.fill, cell.border, cell.alignment = (
            _HEADER_FONT,
            _HEADER_FILL,
            _HEADER_BORDER,
            _MIDDLE,
        )
    for row_number, row in enumerate(rows, start=2):
        for column, value in enumerate(row, start=1):
            if value is not None:
                _write_cell(sheet, row_number, column, value)
                widths[column - 1] = max(widths[column - 1], display_width(_shown(value)) + 2)
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = min(width, _MAX_WIDTH)
    _set_out_for_print(sheet, f"{round_name} · {name}", len(rows), len(headers))


def _write_cell(sheet: Worksheet, row: int, column: int, value: str | _Number) -> None:
    if isinstance(value, _Number):
        cell = sheet.cell(row, column, value.value)
        cell.number_format = _NUMBER_FORMATS[value.style]
    else:
        cell = sheet.cell(row, column, excel_safe(value))
        # openpyxl makes text starting with "=" a formula; a string stays a string here.
        cell.data_type = "s"
    cell.alignment = _MIDDLE


def _set_out_for_print(sheet: Worksheet, title: str, rows: int, columns: int) -> None:
    """Header row frozen, filtered and repeated on each page; A4 landscape, one page wide."""
    last = get_column_letter(columns)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{last}{max(rows, 1) + 1}"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = sheet.ORIENTATION_LANDSCAPE
    sheet.print_title_rows = "1:1"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    header, footer = sheet.oddHeader, sheet.oddFooter
    assert header is not None and footer is not None, "a new sheet has both"
    header.center.text = title.replace("&", "&&")  # a lone & starts a code such as &P
    footer.center.text = "第 &P 页,共 &N 页"


def _round(session: Session, round_id: int) -> Round:
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise ReportError("找不到该评议轮次")
    return round_


def summary_workbook(
    *,
    session: Session,
    round_id: int,
    leader_scores: Mapping[int, float | None] | None = None,
) -> bytes:
    """The round's 汇总表 as .xlsx: 汇总 (every target), one sheet per category sorted by
    rank, 分项 (target × criterion) and 参与情况 (per evaluator group).

    Header in row 1, frozen; scores as 0.00, rates as 0.0 %; 样本不足 and 暂无 as text.
    `leader_scores` as for `scoring.round_results`.
    """
    round_ = _round(session, round_id)
    result = scoring.round_results(session=session, round_id=round_id, leader_scores=leader_scores)
    participation = codes.counts(session=session, round_id=round_id)
    group_names = {row.group_id: row.group_name for row in participation}

    tables: list[tuple[str, _Table]] = [
        (SHEET_SUMMARY, _results_table(result.targets, group_names))
    ]
    for key in CATEGORY_ORDER:
        members = [t for t in result.targets if t.template_key == key]
        if members:
            tables.append((TEMPLATE_LABELS[key], _results_table(_by_rank(members), group_names)))
    names = criteria.criterion_names(session=session, round_id=round_id)
    tables.append((SHEET_ITEMS, _items_table(result, names)))
    forms = criteria.group_forms(session=session, round_id=round_id)
    tables.append((SHEET_PARTICIPATION, _participation_table(result, participation, forms)))

    book = Workbook()
    book.remove(book.worksheets[0])  # the default empty sheet
    book.properties.title = f"{round_.name} 评议结果汇总表"
    for name, table in tables:
        _write_sheet(book, name, table, round_.name)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# ---- the report page of one target


def find_target(*, session: Session, round_id: int, name_or_id: str) -> Target:
    """A target of the round by the roster's 编号 of its member, else by its name; by its
    database id only when the text is neither and the roster's 编号 are never bare numbers
    (so a number cannot be read as both)."""
    given = name_or_id.strip()
    targets = list(
        session.exec(
            select(Target).where(Target.round_id == round_id).order_by(col(Target.position))
        )
    )
    numbers = dict(session.exec(select(Member.id, Member.roster_id)).all())
    by_number = [t for t in targets if t.member_id is not None and numbers[t.member_id] == given]
    if by_number:
        return by_number[0]
    named = [t for t in targets if t.name == given]
    if len(named) == 1:
        return named[0]
    if named:
        choices = "、".join(f"{_number_of(t, numbers)}({_where(t)})" for t in named)
        raise ReportError(f"本轮有 {len(named)} 个评议对象名为「{given}」,请用编号:{choices}")
    if given.isdigit() and not any(number.isdigit() for number in numbers.values()):
        target = session.get(Target, int(given))
        if target is not None and target.round_id == round_id:
            return target
    if given in numbers.values():
        raise ReportError(f"编号「{given}」的党员不是本轮的评议对象")
    raise ReportError(
        f"本轮没有评议对象「{given}」:党员请写名册中的编号或姓名,党支部和领导班子请写名称"
    )


def _number_of(target: Target, numbers: Mapping[int, str]) -> str:
    """What picks the target out: its member's 编号, else (a namesake branch) its id."""
    return numbers[target.member_id] if target.member_id is not None else str(target.id)


def _where(target: Target) -> str:
    return target.branch_name or TEMPLATE_LABELS[TemplateKey(target.template_key)]


def _comments(session: Session, round_id: int, target_id: int, groups: set[int]) -> list[str]:
    """The masses' comments on the target from the given groups, sorted: the order says
    nothing about when or by whom they were written."""
    if not groups:
        return []
    texts = session.exec(
        select(MassComment.text).where(
            MassComment.round_id == round_id,
            MassComment.target_id == target_id,
            col(MassComment.group_id).in_(groups),
        )
    )
    return sorted(texts)


def mass_comments(*, session: Session, round_id: int, target: TargetResult) -> list[str]:
    """The masses' comments on the target as its report shows them: sorted, with no time, id
    or group, and none from a group with too few ballots."""
    counted = {g.group_id for g in target.groups if g.status == OK}
    return _comments(session, round_id, target.target_id, counted)


def _fmt_score(value: float | None) -> str:
    return NO_GRADE if value is None else f"{value:.2f}"


def _fmt_rate(value: float | None) -> str:
    return NO_GRADE if value is None else f"{value * 100:.1f}%"


def fact_rows(target: TargetResult, result: RoundResult) -> list[list[tuple[str, str]]]:
    """The report's head: three rows of (label, value)."""
    ranked = sum(
        1 for t in result.targets if t.template_key == target.template_key and t.rank is not None
    )
    rank = NO_GRADE if target.rank is None else f"第 {target.rank} 名(共 {ranked} 个)"
    change = NO_GRADE if target.change is None else f"{target.change:+.2f}"
    return [
        [("名称", target.name), ("党支部", target.branch_name or "—"), ("类别", _category(target))],
        [
            ("综合得分", _fmt_score(target.combined)),
            ("等级", target.grade_label),
            ("类别内排名", rank),
        ],
        [
            ("群众得分", _fmt_score(target.mass_score)),
            ("领导点评得分", _fmt_score(target.leader_score)),
            ("较上轮变化", change),
        ],
    ]


BIG_FACTS = ("综合得分", "等级")
GROUP_HEADERS = ("评议群体", "有效票数", "得分")


def group_rows(target: TargetResult, group_names: Mapping[int, str]) -> list[tuple[str, str, str]]:
    """Each group that evaluates the target: its name, counted ballots and score, or 样本不足."""
    rows = []
    for group in target.groups:
        name = group_names.get(group.group_id, f"评议群体 {group.group_id}")
        if group.status != OK:
            rows.append((name, INSUFFICIENT, INSUFFICIENT))
        else:
            rows.append((name, str(group.ballots), _fmt_score(group.score)))
    return rows


def criteria_headers(labels: Sequence[str]) -> list[str]:
    return ["测评项目", *labels, "参评", "好评率", "平均分"]


def criteria_rows(
    target: TargetResult, labels: Sequence[str], criterion_names: Mapping[int, str]
) -> list[list[str]]:
    """Per criterion (or 总体评价): ratings per level, rated, 好评率 and mean, as text."""
    counted = any(g.status == OK for g in target.groups)
    rows = []
    for item in target.criteria:
        name = criterion_names.get(item.criterion_id, f"测评项目 {item.criterion_id}")
        if counted:
            numbers = [str(item.distribution.get(label, 0)) for label in labels]
            numbers += [str(item.rated), _fmt_rate(item.good_rate), _fmt_score(item.mean)]
        else:
            shown = INSUFFICIENT if target.groups else "—"
            numbers = ["—" for _ in labels] + ["—", shown, shown]
        rows.append([name, *numbers])
    return rows


LEADER_COMMENT_FIELDS = (
    ("肯定成绩", "achievements"),
    ("指出问题", "problems"),
    ("明确方向", "direction"),
    ("整改要求", "requirements"),
)


def review_caption(review: reviews.ShownReview) -> str:
    """The heading of a submitted 领导点评 in the report: the reviewer and their score."""
    return f"点评领导:{review.reviewer_name}(点评得分 {_fmt_score(review.score)})"


def review_rows(review: reviews.ShownReview) -> list[tuple[str, str]]:
    """A submitted 领导点评's four comments as (label, text), and its 整改期限 if it has one."""
    rows = [(label, getattr(review, name) or "—") for label, name in LEADER_COMMENT_FIELDS]
    if review.requirements and review.deadline:
        rows.append(("整改期限", review.deadline.isoformat()))
    return rows


def note_lines(result: RoundResult, forms: Sequence[criteria.GroupFormView]) -> list[str]:
    """How the report's numbers are made; each group that rated the target with its form."""
    settings = result.settings
    lines = [f"{form.group_name}:{form.kind_label},{_scale_text(form.levels)}。" for form in forms]
    if not lines:
        own = [level for level in result.levels if level.group_id is None]
        lines = [f"评价等级:{_scale_text(own)}。"]
    return [
        *lines,
        "好评率 =(各评议群体评价等级中最高的两级,如好、较好)÷ 参评;参评不含不了解。",
        f"综合得分 = 领导点评 {settings.leader_weight * 100:g}% + 群众评议 "
        f"{settings.mass_weight * 100:g}%;缺少一项时以另一项计。",
        f"评议群体有效票少于 {settings.min_ballots} 份的,显示「样本不足」,不计入得分。",
    ]


@dataclass(frozen=True)
class TargetReport:
    """Everything the 评议结果报告 of one target shows, as text: the web page and the Word
    document are both drawn from it, so they hold the same figures."""

    round_name: str
    target_name: str
    facts: list[list[tuple[str, str]]]
    groups: list[tuple[str, str, str]]  # empty: the target is not evaluated by the masses
    criteria_headers: list[str]
    criteria: list[list[str]]
    reviews: list[reviews.ShownReview]
    comments: list[str]
    withheld: bool  # comments of groups with too few ballots left out
    note: list[str]

    @property
    def title(self) -> str:
        return f"评议结果报告 · {self.target_name} · {self.round_name}"


def target_report(
    *,
    session: Session,
    round_id: int,
    target_id: int,
    leader_scores: Mapping[int, float | None] | None = None,
) -> TargetReport:
    """One target's results as its report shows them. The submitted 领导点评 with their
    reviewers; the masses' comments sorted, with no time, id or group, and none from a group
    with too few ballots."""
    round_ = _round(session, round_id)
    result = scoring.round_results(session=session, round_id=round_id, leader_scores=leader_scores)
    target = next((t for t in result.targets if t.target_id == target_id), None)
    if target is None:
        raise ReportError("本轮没有该评议对象")
    group_names = {
        g.group_id: g.group_name for g in codes.counts(session=session, round_id=round_id)
    }
    counted = {g.group_id for g in target.groups if g.status == OK}
    labels = criteria.level_labels(result.levels_of(target))
    forms = criteria.group_forms(session=session, round_id=round_id)
    names = criteria.criterion_names(session=session, round_id=round_id)
    return TargetReport(
        round_name=round_.name,
        target_name=target.name,
        facts=fact_rows(target, result),
        groups=group_rows(target, group_names),
        criteria_headers=criteria_headers(labels),
        criteria=criteria_rows(target, labels, names),
        reviews=reviews.submitted_reviews(session=session, round_id=round_id, target_id=target_id),
        comments=_comments(session, round_id, target_id, counted),
        withheld=any(g.status != OK for g in target.groups),
        note=note_lines(result, [forms[g.group_id] for g in target.groups if g.group_id in forms]),
    )


def target_report_html(
    *,
    session: Session,
    round_id: int,
    target_id: int,
    leader_scores: Mapping[int, float | None] | None = None,
) -> str:
    """A self-contained, print-ready A4 page of one target's results (评议结果报告)."""
    report = target_report(
        session=session, round_id=round_id, target_id=target_id, leader_scores=leader_scores
    )
    return render(
        "target_report.html.j2",
        report=report,
        reviews=[(review_caption(r), review_rows(r)) for r in report.reviews],
        big_facts=BIG_FACTS,
        insufficient=INSUFFICIENT,
    )
