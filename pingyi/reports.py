"""Exports of a round's results: the 汇总表 workbook and a print-ready report per target.

Both read `scoring.round_results` (the tallies, never the ratings, and the submitted 领导点评)
and `codes.counts`, and write nothing. Text that came from people (names and branches from the
roster, the leaders' and the masses' comments) is made safe for where it goes: every text
cell of the workbook passes through `excel_safe`, every text of the report page through
`html.escape`.

A group below the round's minimum shows 样本不足 and no number, and its comments are left
out of the report page: with a handful of ballots the target could guess who wrote them.
"""

from __future__ import annotations

import html
import io
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import xlsxwriter
from sqlmodel import Session, col, select
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook

from pingyi import codes, criteria, reviews, scoring
from pingyi.models import TEMPLATE_LABELS, MassComment, Member, Round, Target, TemplateKey
from pingyi.scoring import INSUFFICIENT, NO_GRADE, OK, RoundResult, TargetResult

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

# A spreadsheet runs a cell starting with one of these as a formula (CSV/formula injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_FORMATS = {
    "score": "0.00",
    "rate": "0.0%",
    "count": "0",
    "change": "+0.00;-0.00;0.00",
}
_MAX_WIDTH = 50
_FONTS = '"Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif'


class ReportError(ValueError):
    """An export that cannot be made; the message is for the office, in Chinese."""


def excel_safe(text: str) -> str:
    """`text` as a spreadsheet shows it and never runs it: a leading ' when it would start a
    formula. The ' stays in the value, so the text stays inert through CSV and pandas too."""
    return "'" + text if text.startswith(_FORMULA_START) else text


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
    totals = [sum(column) for column in zip(*numbers, strict=True)] if numbers else [0] * 5
    rows.append(_participation_row("合计", *totals, ""))
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


class _Styles:
    def __init__(self, book: Workbook) -> None:
        self.header: Format = book.add_format(
            {"bold": True, "bg_color": "#E8EEF7", "border": 1, "valign": "vcenter"}
        )
        self.text: Format = book.add_format({"valign": "vcenter"})
        self.numbers: dict[str, Format] = {
            style: book.add_format({"num_format": fmt, "valign": "vcenter"})
            for style, fmt in _NUMBER_FORMATS.items()
        }


def _write_sheet(
    book: Workbook, styles: _Styles, name: str, table: _Table, round_name: str
) -> None:
    headers, rows = table
    sheet = book.add_worksheet(name)
    widths = [display_width(excel_safe(h)) + 4 for h in headers]  # + the filter button
    for column, text in enumerate(headers):
        sheet.write_string(0, column, excel_safe(text), styles.header)
    for row_number, row in enumerate(rows, start=1):
        for column, cell in enumerate(row):
            if cell is None:
                continue
            if isinstance(cell, _Number):
                sheet.write_number(row_number, column, cell.value, styles.numbers[cell.style])
            else:
                # write_string, never write(): a string is stored as a string, whatever it says.
                sheet.write_string(row_number, column, excel_safe(cell), styles.text)
            widths[column] = max(widths[column], display_width(_shown(cell)) + 2)
    for column, width in enumerate(widths):
        sheet.set_column(column, column, min(width, _MAX_WIDTH))
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(rows), 1), len(headers) - 1)
    sheet.set_paper(9)  # A4
    sheet.set_landscape()
    sheet.repeat_rows(0)
    sheet.fit_to_pages(1, 0)
    sheet.set_header("&C" + f"{round_name} · {name}".replace("&", "&&"))
    sheet.set_footer("&C第 &P 页,共 &N 页")


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

    buffer = io.BytesIO()
    # No guessing from strings: text is text, never a formula, a number or a link.
    book = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    book.set_properties({"title": f"{round_.name} 评议结果汇总表"})
    styles = _Styles(book)
    for name, table in tables:
        _write_sheet(book, styles, name, table, round_.name)
    book.close()
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


def _number_of(target: Target, numbers: Mapping[int | None, str]) -> str:
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


_CSS = f"""
@page {{ size: A4; margin: 15mm; }}
* {{ box-sizing: border-box; }}
body {{
  font-family: {_FONTS};
  color: #000;
  font-size: 10.5pt;
  line-height: 1.5;
  margin: 0;
  -webkit-print-color-adjust: exact;
  print-color-adjust: exact;
}}
main {{ width: 180mm; margin: 0 auto; }}
h1 {{ font-size: 18pt; text-align: center; letter-spacing: 0.2em; margin: 0 0 1mm; }}
.round {{ text-align: center; color: #333; margin: 0 0 5mm; }}
h2 {{ font-size: 12pt; margin: 6mm 0 2mm; border-left: 1.2mm solid #b22; padding-left: 2mm; }}
table {{ width: 100%; border-collapse: collapse; page-break-inside: auto; }}
thead {{ display: table-header-group; }}
tr {{ break-inside: avoid; page-break-inside: avoid; }}
th, td {{ border: 0.3mm solid #888; padding: 1.2mm 2mm; text-align: center; }}
th {{ background: #eef1f6; font-weight: 700; }}
td.name, th.name {{ text-align: left; }}
.facts th {{ width: 16%; }}
.facts td {{ width: 17%; text-align: left; overflow-wrap: anywhere; }}
.big {{ font-size: 13pt; font-weight: 700; }}
.insufficient {{ color: #666; }}
ol.comments {{ margin: 0; padding-left: 7mm; }}
ol.comments li {{ white-space: pre-wrap; overflow-wrap: anywhere; margin: 0 0 1.5mm; }}
table.review {{ margin: 0 0 3mm; }}
table.review th {{ width: 16%; text-align: left; vertical-align: top; }}
table.review td {{ text-align: left; white-space: pre-wrap; overflow-wrap: anywhere; }}
table.review caption {{ text-align: left; font-weight: 700; padding: 0 0 1mm; }}
.empty, .note {{ color: #555; font-size: 9pt; }}
.note {{ margin-top: 6mm; border-top: 0.3mm solid #aaa; padding-top: 2mm; }}
.hint {{ color: #555; font-size: 9pt; text-align: center; }}
@media print {{ .hint {{ display: none; }} }}
@media screen {{
  body {{ background: #eee; padding: 8mm 0; }}
  main {{ background: #fff; padding: 12mm 15mm; width: 210mm; }}
}}
"""


def _cell(text: str, css: str = "") -> str:
    attr = f' class="{css}"' if css else ""
    return f"<td{attr}>{html.escape(text)}</td>"


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


def _facts(report: TargetReport) -> str:
    body = "".join(
        "<tr>"
        + "".join(
            f"<th>{html.escape(label)}</th>" + _cell(value, "big" if label in BIG_FACTS else "")
            for label, value in row
        )
        + "</tr>"
        for row in report.facts
    )
    return f'<table class="facts">{body}</table>'


def _groups_section(report: TargetReport) -> str:
    if not report.groups:
        return '<p class="empty">本对象不参加群众评议。</p>'
    rows = []
    for name, ballots, score in report.groups:
        if ballots == INSUFFICIENT:
            cells = f'<td colspan="2" class="insufficient">{html.escape(INSUFFICIENT)}</td>'
        else:
            cells = _cell(ballots) + _cell(score)
        rows.append(f"<tr>{_cell(name, 'name')}{cells}</tr>")
    return (
        '<table><thead><tr><th class="name">评议群体</th><th>有效票数</th><th>得分</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _criteria_section(report: TargetReport) -> str:
    headers = report.criteria_headers
    head = "".join(f"<th>{html.escape(label)}</th>" for label in headers[1:-3])
    rows = []
    for name, *numbers in report.criteria:
        cells = "".join(
            _cell(value, "insufficient" if value == INSUFFICIENT else "") for value in numbers
        )
        rows.append(f"<tr>{_cell(name, 'name')}{cells}</tr>")
    return (
        f'<table><thead><tr><th class="name">测评项目</th>{head}<th>参评</th>'
        f"<th>好评率</th><th>平均分</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _comments_section(comments: Sequence[str], withheld: bool) -> str:
    parts = []
    if comments:
        items = "".join(f"<li>{html.escape(text)}</li>" for text in comments)
        parts.append(f'<ol class="comments">{items}</ol>')
    else:
        parts.append('<p class="empty">暂无意见建议。</p>')
    if withheld:
        parts.append('<p class="empty">样本不足的评议群体的意见建议不予显示。</p>')
    return "".join(parts)


LEADER_COMMENT_FIELDS = (
    ("肯定成绩", "achievements"),
    ("指出问题", "problems"),
    ("明确方向", "direction"),
    ("整改要求", "requirements"),
)


def _leader_section(shown: Sequence[reviews.ShownReview]) -> str:
    """Each submitted 领导点评: the reviewer, their score and the four comments."""
    if not shown:
        return '<p class="empty">暂无已提交的领导点评。</p>'
    parts = []
    for review in shown:
        caption = f"点评领导:{review.reviewer_name}(点评得分 {_fmt_score(review.score)})"
        rows = "".join(
            f"<tr><th>{label}</th>{_cell(getattr(review, name) or '—')}</tr>"
            for label, name in LEADER_COMMENT_FIELDS
        )
        if review.requirements and review.deadline:
            rows += f"<tr><th>整改期限</th>{_cell(review.deadline.isoformat())}</tr>"
        parts.append(
            f'<table class="review"><caption>{html.escape(caption)}</caption>{rows}</table>'
        )
    return "".join(parts)


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
    note = "<br>".join(html.escape(line) for line in report.note)
    body = (
        '<p class="hint">请用浏览器打印:A4 纸,缩放 100%,不打印页眉页脚。</p>'
        "<main>"
        "<h1>评议结果报告</h1>"
        f'<p class="round">{html.escape(report.round_name)}</p>'
        f"{_facts(report)}"
        "<h2>各评议群体得分</h2>"
        f"{_groups_section(report)}"
        "<h2>分项评价</h2>"
        f"{_criteria_section(report)}"
        "<h2>领导点评</h2>"
        f"{_leader_section(report.reviews)}"
        "<h2>群众意见建议</h2>"
        f"{_comments_section(report.comments, report.withheld)}"
        f'<div class="note">{note}</div>'
        "</main>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(report.title)}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )
