"""Word documents: a target's 评议结果报告 and a branch's 情况通报 as .docx, opened again with
python-docx: the same figures and texts as the print pages, in 黑体 / 仿宋, text as typed.

Worlds: tests/test_reports.py's (ballots of two groups counted, hostile names and comments)
and tests/test_briefing.py's (the 机关党支部 with summaries, commitments and a finding).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import docx
import pytest
from markupsafe import escape
from sqlalchemy import Engine
from test_briefing import ORGAN_BRANCH, organ_briefing, promise, write
from test_reports import SCRIPT_COMMENT, build_world
from worlds import bureau

from pingyi import cli, config, db, documents, inspections, reports
from pingyi.reports import TargetReport


def report_of(engine: Engine, round_id: int, target_id: int) -> TargetReport:
    with db.session(engine) as s:
        return reports.target_report(session=s, round_id=round_id, target_id=target_id)


def opened(data: bytes) -> docx.document.Document:
    return docx.Document(io.BytesIO(data))


def table_text(table: docx.table.Table) -> list[list[str]]:
    return [[cell.text for cell in row.cells] for row in table.rows]


def paragraphs(document: docx.document.Document) -> list[str]:
    return [p.text for p in document.paragraphs]


def east_asian_fonts(document: docx.document.Document) -> set[str]:
    """The CJK font of every run that has text."""
    fonts = set()
    for element in document.element.body.iter(docx.oxml.ns.qn("w:r")):
        if not "".join(t.text or "" for t in element.iter(docx.oxml.ns.qn("w:t"))).strip():
            continue
        r_fonts = element.find(f"{docx.oxml.ns.qn('w:rPr')}/{docx.oxml.ns.qn('w:rFonts')}")
        fonts.add(r_fonts.get(docx.oxml.ns.qn("w:eastAsia")) if r_fonts is not None else None)
    return fonts


def test_the_report_document_holds_the_figures_of_the_report_page(engine: Engine) -> None:
    world = build_world(engine)
    target_id = world.hostile[0]  # rated by the vendors, with the script comment
    report = report_of(engine, world.round_id, target_id)
    with db.session(engine) as s:
        page = reports.target_report_html(session=s, round_id=world.round_id, target_id=target_id)
    document = opened(documents.target_report_docx(report))

    facts, groups, items = document.tables[:3]
    assert table_text(facts) == [[text for pair in row for text in pair] for row in report.facts]
    assert table_text(groups) == [list(reports.GROUP_HEADERS), *map(list, report.groups)]
    assert table_text(items) == [report.criteria_headers, *report.criteria]
    # The page shows the very same figures (its cells are escaped HTML of the same text).
    for row in report.criteria:
        for value in row[1:]:
            assert f">{value}</td>" in page
    for _, value in (pair for row in report.facts for pair in row):
        assert escape(value) in page

    text = "\n".join(paragraphs(document))
    assert "评议结果报告" in text and report.round_name in text
    assert f"1. {SCRIPT_COMMENT}" in text  # as typed: a run of text, nothing interpreted
    for line in report.note:
        assert line in text
    assert "暂无已提交的领导点评。" in text
    assert document.core_properties.title == report.title
    fonts = east_asian_fonts(document)
    assert fonts <= {documents.HEADING_FONT, documents.BODY_FONT} and len(fonts) == 2


def test_the_briefing_document_holds_the_text_of_the_printed_sheet(
    engine: Engine,
) -> None:
    world = bureau(engine)
    with db.transaction(engine) as s:
        write(s, world, ORGAN_BRANCH, "赵科长")
        promise(
            s, world, ORGAN_BRANCH, "赵科长", "建好党员活动室", status="已兑现", evidence="照片"
        )
        write(s, world, "钱干事", "钱干事")
        promise(s, world, "钱干事", "钱干事", "=每月走访经营户", status="未兑现")
        branch = reports.find_target(session=s, round_id=world.round_id, name_or_id=ORGAN_BRANCH)
        inspections.record(
            session=s,
            round_id=world.round_id,
            target_id=branch.id,  # type: ignore[arg-type]
            inspector="李副局长",
            visited_on=date(2026, 11, 12),
            checked="三会一课记录",
            findings="记录齐全\n第二行",
            today=date(2026, 11, 20),
        )
    sheet = organ_briefing(engine, world.round_id)
    document = opened(documents.briefing_docx(sheet))
    text = "\n".join(paragraphs(document))
    assert "机关党支部情况通报" in text
    assert "党员 6 人,已提交自我小结 1 人;公开承诺:已兑现 1 项、推进中 0 项、未兑现 1 项。" in text
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings == [
        "一、支部自我小结",
        "二、支部公开承诺兑现情况",
        "三、调研督查情况",
        "四、往期未完成的整改事项",
        "五、党员自我小结及承诺兑现情况",
    ]
    assert "机关党支部的成绩" in text and "钱干事的原因" in text
    tables = [table_text(t) for t in document.tables]
    assert ["1", "建好党员活动室", "已兑现", "照片"] in tables[0]
    assert ["2026-11-12", "李副局长", "三会一课记录", "记录齐全\n第二行"] in tables[1]
    assert any(["1", "=每月走访经营户", "未兑现", ""] in t for t in tables)  # text, never a field
    assert east_asian_fonts(document) == {documents.HEADING_FONT, documents.BODY_FONT}


@pytest.fixture
def cli_db(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("PINGYI_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    config.settings.cache_clear()
    db.engine.cache_clear()
    yield engine
    db.engine().dispose()
    config.settings.cache_clear()
    db.engine.cache_clear()


def test_cli_report_writes_a_word_document(
    cli_db: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(cli_db)
    out = tmp_path / "报告.docx"
    assert cli.main(["report", "--target", str(world.team), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "评议结果报告(Word 文档)" in said and said.rstrip().endswith("报告.docx")
    document = opened(out.read_bytes())
    report = report_of(cli_db, world.round_id, world.team)
    assert table_text(document.tables[2]) == [report.criteria_headers, *report.criteria]
    page = tmp_path / "报告.html"
    assert cli.main(["report", "--target", str(world.team), "--out", str(page)]) == 0
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    forced = tmp_path / "report.bin"
    assert (
        cli.main(["report", "--target", str(world.team), "--format", "docx", "--out", str(forced)])
        == 0
    )
    assert opened(forced.read_bytes()).tables
