"""Word documents (.docx) of what the office hands on: a branch's 情况通报 and a target's
评议结果报告, because offices edit and file them in Word or WPS.

Each is drawn from the same data as its print page (`briefing.Briefing`, `reports.TargetReport`),
so the two hold the same text and figures. Headings in 黑体, body in 仿宋_GB2312 (仿宋 in WPS and
newer Word), A4 with the margins of an official document; Word falls back to another font
where these are not installed. Text from people (names, summaries, comments) goes in as text
runs: python-docx escapes it, and nothing in it is read as a field or a formula.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.styles.style import CharacterStyle
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from pingyi import briefing as briefing_module
from pingyi import rectification, summaries
from pingyi.briefing import Briefing, Part
from pingyi.models import TargetKind
from pingyi.reports import BIG_FACTS, GROUP_HEADERS, TargetReport, review_caption, review_rows

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HEADING_FONT = "黑体"
BODY_FONT = "仿宋_GB2312"
LATIN_FONT = "Times New Roman"
CHINESE_NUMBERS = "一二三四五六七八九十"


# ---- the document and its fonts


def _font(
    target: Run | CharacterStyle, name: str, size: float | None = None, bold: bool = False
) -> None:
    """Both the Latin and the East Asian font: Word takes a run's CJK font from eastAsia."""
    font = target.font
    font.name = LATIN_FONT if name == BODY_FONT else name
    if size is not None:
        font.size = Pt(size)
    font.bold = bold
    target.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), name)


def _new_document(title: str) -> DocumentObject:
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
    section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
    document.core_properties.title = title
    _font(document.styles["Normal"], BODY_FONT, 14)
    for level, size in ((1, 16), (2, 14), (3, 14)):
        style = document.styles[f"Heading {level}"]
        _font(style, HEADING_FONT, size)
        style.font.color.rgb = None  # Word's blue headings: an official document is black
    return document


def _title(document: DocumentObject, text: str, subtitle: str) -> None:
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(paragraph.add_run(text), HEADING_FONT, 22)
    sub = document.add_paragraph()
    sub.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(sub.add_run(subtitle), BODY_FONT, 14)


def _heading(document: DocumentObject, text: str, level: int = 1) -> Paragraph:
    heading = document.add_heading(level=level)
    _font(heading.add_run(text), HEADING_FONT, 16 if level == 1 else 14)
    return heading


def _paragraph(document: DocumentObject, text: str, *, muted: bool = False) -> Paragraph:
    paragraph = document.add_paragraph()
    lines = text.replace("\r\n", "\n").split("\n")
    for number, line in enumerate(lines):
        run = paragraph.add_run(line)
        _font(run, BODY_FONT, 12 if muted else 14)
        if number < len(lines) - 1:
            run.add_break()
    return paragraph


def _table(
    document: DocumentObject,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    size: float = 10.5,
) -> Table:
    table = document.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, headers, strict=True):
        _cell(cell, text, size, bold=True)
    for row in rows:
        cells = table.add_row().cells
        for cell, text in zip(cells, row, strict=True):
            _cell(cell, text, size)
    return table


def _cell(cell: _Cell, text: str, size: float, *, bold: bool = False) -> None:
    """A table cell's text: headers and the big figures in 黑体, the rest in 仿宋."""
    _font(cell.paragraphs[0].add_run(text), HEADING_FONT if bold else BODY_FONT, size)


def _bytes(document: DocumentObject) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# ---- 评议结果报告


def target_report_docx(report: TargetReport) -> bytes:
    """The 评议结果报告 of one target as a Word document: the figures of its print page."""
    document = _new_document(report.title)
    _title(document, "评议结果报告", report.round_name)
    facts = document.add_table(rows=len(report.facts), cols=6)
    facts.style = "Table Grid"
    for row, cells in zip(report.facts, facts.rows, strict=True):
        for (label, value), (head, body) in zip(
            row, zip(cells.cells[::2], cells.cells[1::2], strict=True), strict=True
        ):
            _cell(head, label, 10.5, bold=True)
            _cell(body, value, 12 if label in BIG_FACTS else 10.5, bold=label in BIG_FACTS)

    _heading(document, "各评议群体得分")
    if report.groups:
        _table(document, GROUP_HEADERS, report.groups)
    else:
        _paragraph(document, "本对象不参加群众评议。", muted=True)

    _heading(document, "分项评价")
    _table(document, report.criteria_headers, report.criteria, size=9)

    _heading(document, "领导点评")
    if not report.reviews:
        _paragraph(document, "暂无已提交的领导点评。", muted=True)
    for review in report.reviews:
        _heading(document, review_caption(review), level=2)
        _table(document, ("项目", "内容"), review_rows(review))

    _heading(document, "群众意见建议")
    if report.comments:
        for number, text in enumerate(report.comments, start=1):
            _paragraph(document, f"{number}. {text}")
    else:
        _paragraph(document, "暂无意见建议。", muted=True)
    if report.withheld:
        _paragraph(document, "样本不足的评议群体的意见建议不予显示。", muted=True)

    _heading(document, "说明", level=2)
    for line in report.note:
        _paragraph(document, line, muted=True)
    return _bytes(document)


# ---- 情况通报


def _summary(document: DocumentObject, part: Part, *, with_writer: bool) -> None:
    state = f"状态:{part.state}"
    if with_writer:
        state = f"填写人:{part.writer or '(无)'};{state}"
    _paragraph(document, state, muted=True)
    if part.summary is None:
        return
    for field, label in summaries.SUMMARY_FIELDS.items():
        _heading(document, label, level=3)
        text = getattr(part.summary, field)
        _paragraph(document, text if text.strip() else "(未填写)")


def _commitments(document: DocumentObject, part: Part) -> None:
    if not part.commitments:
        _paragraph(document, "无公开承诺。", muted=True)
        return
    rows = [
        (str(n), c.text, str(c.status), c.evidence) for n, c in enumerate(part.commitments, start=1)
    ]
    _table(document, ("序号", "承诺内容", "兑现情况", "佐证材料"), rows)


def _open_items(document: DocumentObject, part: Part, today: date) -> None:
    if not part.open_items:
        _paragraph(document, "无未完成的整改事项。", muted=True)
        return
    rows = [
        (
            item.text,
            item.deadline.isoformat() if item.deadline else "未定",
            str(rectification.status(item, today)),
            item.evidence,
        )
        for item in part.open_items
    ]
    _table(document, ("整改事项", "期限", "状态", "进展"), rows)


def briefing_docx(briefing: Briefing) -> bytes:
    """A branch's (or the 领导班子's) 情况通报 as a Word document: the text of its print page."""
    today = briefing.made_on
    document = _new_document(briefing.title)
    _title(document, briefing.title, f"{briefing.round_name} · 通报情况 · {today.isoformat()}")
    _paragraph(document, briefing_module.overview(briefing))
    own = "支部" if briefing.kind == TargetKind.BRANCH else "班子"
    sections: list[tuple[str, Callable[[], None]]] = [
        (f"{own}自我小结", lambda: _summary(document, briefing.own, with_writer=True)),
        (f"{own}公开承诺兑现情况", lambda: _commitments(document, briefing.own)),
    ]
    if briefing.kind == TargetKind.BRANCH:
        sections.append(("调研督查情况", lambda: _inspections(document, briefing)))
    sections.append(("往期未完成的整改事项", lambda: _open_items(document, briefing.own, today)))
    sections.append(
        (
            f"{briefing.members_label}自我小结及承诺兑现情况",
            lambda: _members(document, briefing, today),
        )
    )
    for number, (title, draw) in enumerate(sections):
        _heading(document, f"{CHINESE_NUMBERS[number]}、{title}")
        draw()
    return _bytes(document)


def _inspections(document: DocumentObject, briefing: Briefing) -> None:
    if not briefing.inspections:
        _paragraph(document, "暂无调研督查记录。", muted=True)
        return
    rows = [
        (i.visited_on.isoformat(), i.inspector, i.checked, i.findings) for i in briefing.inspections
    ]
    _table(document, ("日期", "调研人", "调研督查内容", "发现的情况"), rows)


def _members(document: DocumentObject, briefing: Briefing, today: date) -> None:
    if not briefing.members:
        _paragraph(document, f"无{briefing.members_label}。", muted=True)
    for part in briefing.members:
        _heading(document, part.name, level=2)
        _summary(document, part, with_writer=False)
        _heading(document, "公开承诺", level=3)
        _commitments(document, part)
        if part.open_items:
            _heading(document, "往期未完成的整改事项", level=3)
            _open_items(document, part, today)
