"""Exports (issue "Results" item 4): the 汇总表 workbook, re-opened with openpyxl, and the
print-ready report page of one target.

The world: the small bureau of tests/worlds.py. 市场经营户 cast 5 ballots (the minimum; one
一刀切), 局全体工作人员 2 (样本不足), 基层单位工作人员 none (样本不足), and the office has opened
the boxes (`worlds.count`): the exports show ballots only once they are counted. Four grassroots
members carry names that a spreadsheet would run as formulas.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from markupsafe import escape as html_escape
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import Engine
from sqlmodel import select
from worlds import bureau, count, full_answers, issue

from pingyi import ballots, cli, config, criteria, db, groups, reports, reviews, rounds, scoring
from pingyi.cells import excel_safe
from pingyi.groups import GROUP_LABELS
from pingyi.models import (
    GroupKey,
    LeaderAssignment,
    MassComment,
    Member,
    Round,
    Step,
    Target,
    TemplateKey,
)
from pingyi.reports import ReportError
from pingyi.scoring import INSUFFICIENT, NO_GRADE

HOSTILE_NAMES = ('=HYPERLINK("http://x","点我")', "+1", "@SUM(1)", "-2")
HOSTILE_BRANCH = "=cmd|' /C calc'!A0"
SCRIPT_COMMENT = "<script>alert(1)</script>工作认真"
SUMMARY_HEADERS = [
    "类别",
    "名称",
    "党支部",
    "局全体工作人员",
    "基层单位工作人员",
    "市场经营户",
    "群众得分",
    "领导点评得分",
    "综合得分",
    "等级",
    "类别内排名",
    "较上轮变化",
]


@dataclass(frozen=True)
class World:
    round_id: int
    groups: dict[GroupKey, int]
    hostile: list[int]  # target ids, in the order of HOSTILE_NAMES
    team: int  # the 领导班子: rated by 局全体工作人员 only


def _vote(
    engine: Engine,
    round_id: int,
    group_id: int,
    ballots_: list[dict[tuple[int, int], int]],
    comments: dict[int, str] | None = None,
) -> None:
    """One ballot per answer set; `comments` go with the first ballot. Each code is opened
    first, as on a tablet."""
    for number, (code, answers) in enumerate(
        zip(issue(engine, round_id, group_id, len(ballots_)), ballots_, strict=True)
    ):
        with db.transaction(engine) as s:
            ballots.open_code(session=s, code=code)
            ballots.submit(
                session=s, code=code, answers=answers, comments=comments if number == 0 else None
            )


def build_world(engine: Engine, *, counted: bool = True) -> World:
    """The world above; with `counted=False` its ballots still wait sealed in the boxes."""
    world = bureau(engine)
    # Targets keep a snapshot of the roster's names; renaming them stands for such a roster.
    rid, groups = world.round_id, world.groups
    vendors, staff = groups[GroupKey.VENDORS], groups[GroupKey.ALL_STAFF]
    with db.transaction(engine) as s:
        cards = ballots.ballot_form(session=s, round_id=rid, group_id=vendors).cards
        hostile = [card.target_id for card in cards[: len(HOSTILE_NAMES)]]
        for target_id, name in zip(hostile, HOSTILE_NAMES, strict=True):
            target = s.get(Target, target_id)
            assert target is not None
            target.name = name
            s.add(target)
        first = s.get(Target, hostile[0])
        assert first is not None
        first.branch_name = HOSTILE_BRANCH
        s.add(first)
        team = s.exec(select(Target.id).where(Target.round_id == rid, Target.kind == "team")).one()

    vendor_ballots = [full_answers(engine, rid, vendors, level=n) for n in range(4)]
    vendor_ballots.append(full_answers(engine, rid, vendors, level=0, vary=False))  # 一刀切
    _vote(engine, rid, vendors, vendor_ballots, comments={hostile[0]: SCRIPT_COMMENT})
    issue(engine, rid, vendors, 2)  # printed, never used
    _vote(
        engine,
        rid,
        staff,
        [full_answers(engine, rid, staff, level=n) for n in range(2)],
        comments={team: "班子团结有力"},
    )
    if counted:
        count(engine, rid)
    return World(round_id=rid, groups=groups, hostile=hostile, team=team)  # type: ignore[arg-type]


def _results(engine: Engine, round_id: int, **kw: Any) -> scoring.RoundResult:
    with db.session(engine) as s:
        return scoring.round_results(session=s, round_id=round_id, **kw)


def _workbook(engine: Engine, round_id: int, **kw: Any) -> openpyxl.Workbook:
    with db.session(engine) as s:
        data = reports.summary_workbook(session=s, round_id=round_id, **kw)
    return openpyxl.load_workbook(io.BytesIO(data))


def _header(sheet: Worksheet) -> list[Any]:
    return [cell.value for cell in sheet[1]]


def _row_of(sheet: Worksheet, name: str, *, column: int = 2) -> tuple[Any, ...]:
    """The data row (cells) whose 名称 is `name` as exported."""
    rows = [row for row in sheet.iter_rows(min_row=2) if row[column - 1].value == excel_safe(name)]
    assert len(rows) == 1, name
    return rows[0]


def test_display_width_counts_chinese_characters_twice() -> None:
    assert reports.display_width("机关党支部") == 10
    assert reports.display_width("A1 好评率") == 9


# ---- the workbook


def test_workbook_has_summary_each_category_items_and_participation(engine: Engine) -> None:
    world = build_world(engine)
    book = _workbook(engine, world.round_id)
    assert book.sheetnames == [
        "汇总",
        "党组织",
        "领导班子",
        "党员领导干部",
        "普通党员",
        "分项",
        "参与情况",
    ]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title
        assert all(cell.font.b for cell in sheet[1]), sheet.title
        widths = [sheet.column_dimensions[letter].width for letter in "ABC"]
        assert all(width >= 8 for width in widths), sheet.title
        assert {cell.fill.fgColor.rgb for cell in sheet[1]} == {"FFE8EEF7"}, sheet.title


def test_workbook_sheets_print_on_a4_landscape_one_page_wide(engine: Engine) -> None:
    world = build_world(engine)
    book = _workbook(engine, world.round_id)
    assert book.properties.title == "2026年第四季度评议 评议结果汇总表"
    for sheet in book.worksheets:
        assert sheet.page_setup.paperSize == 9  # A4
        assert sheet.page_setup.orientation == sheet.ORIENTATION_LANDSCAPE
        assert sheet.print_title_rows == "$1:$1"
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.page_setup.fitToHeight == 0
        assert sheet.auto_filter.ref == f"A1:{get_column_letter(sheet.max_column)}{sheet.max_row}"
        assert sheet.oddHeader.center.text == f"2026年第四季度评议 · {sheet.title}"
        assert sheet.oddFooter.center.text == "第 &P 页,共 &N 页"


def test_summary_numbers_are_the_round_results(engine: Engine) -> None:
    world = build_world(engine)
    leader = {world.team: 88.5}
    result = _results(engine, world.round_id, leader_scores=leader)
    sheet = _workbook(engine, world.round_id, leader_scores=leader)["汇总"]
    group_ids = [world.groups[key] for key in GROUP_LABELS]
    assert group_ids == sorted(group_ids)  # columns in group order, as SUMMARY_HEADERS says
    assert _header(sheet) == SUMMARY_HEADERS
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == len(result.targets)

    def check_score(cell: Any, value: float | None) -> None:
        if value is None:
            assert (cell.value, cell.data_type) == (NO_GRADE, "s")
        else:
            assert cell.value == value and cell.number_format == "0.00"

    for row, target in zip(rows, result.targets, strict=True):
        assert row[1].value == excel_safe(target.name)
        by_group = {g.group_id: g for g in target.groups}
        for column, gid in enumerate(group_ids, start=3):
            group = by_group.get(gid)
            if group is None:
                assert row[column].value is None
            elif group.status == INSUFFICIENT:
                assert (row[column].value, row[column].data_type) == (INSUFFICIENT, "s")
            else:
                check_score(row[column], group.score)
        check_score(row[6], target.mass_score)
        check_score(row[7], target.leader_score)
        check_score(row[8], target.combined)
        assert row[9].value == target.grade_label
        assert row[10].value == (NO_GRADE if target.rank is None else target.rank)
        assert row[11].value == NO_GRADE  # the first round: no change

    scored = [t for t in result.targets if t.mass_score is not None]
    assert len(scored) == 9  # every grassroots member, rated by 市场经营户
    team = _row_of(sheet, result.target(world.team).name)
    # 样本不足 leaves the leader score alone: 88.5 combined, 合格.
    assert [cell.value for cell in team[3:10]] == [
        INSUFFICIENT,
        None,
        None,
        NO_GRADE,
        88.5,
        88.5,
        "合格",
    ]


def test_category_sheets_list_their_targets_best_first(engine: Engine) -> None:
    world = build_world(engine)
    result = _results(engine, world.round_id)
    book = _workbook(engine, world.round_id)
    for key, title in ((TemplateKey.MEMBER, "普通党员"), (TemplateKey.LEADER, "党员领导干部")):
        sheet = book[title]
        assert _header(sheet)[:3] == ["类别", "名称", "党支部"]
        rows = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
        expected = [t for t in result.targets if t.template_key == key]
        assert sorted(r[1] for r in rows) == sorted(excel_safe(t.name) for t in expected)
        rank_column = _header(sheet).index("类别内排名")
        ranks = [r[rank_column] for r in rows]
        numbered = [r for r in ranks if r != NO_GRADE]
        assert numbered and numbered == sorted(numbered) and numbered[0] == 1
        assert ranks == numbered + [NO_GRADE] * (len(ranks) - len(numbered))
    # 党组织: no evaluator group rates a branch, so no group columns.
    assert _header(book["党组织"]) == [*SUMMARY_HEADERS[:3], *SUMMARY_HEADERS[6:]]


def test_items_sheet_gives_distribution_rate_and_mean_per_criterion(engine: Engine) -> None:
    world = build_world(engine)
    result = _results(engine, world.round_id)
    sheet = _workbook(engine, world.round_id)["分项"]
    assert _header(sheet) == [
        "类别",
        "名称",
        "党支部",
        "测评项目",
        "好",
        "较好",
        "一般",
        "差",
        "不了解",
        "参评(不含不了解)",
        "好评率",
        "平均分",
    ]
    with db.session(engine) as s:
        names = {
            c.id: c.name
            for views in criteria.round_criteria(session=s, round_id=world.round_id).values()
            for c in views
        }
    target = result.target(world.hostile[1])
    rows = [row for row in sheet.iter_rows(min_row=2) if row[1].value == excel_safe(target.name)]
    assert [row[3].value for row in rows] == [names[c.criterion_id] for c in target.criteria]
    for row, item in zip(rows, target.criteria, strict=True):
        assert [cell.value for cell in row[4:9]] == list(item.distribution.values())
        assert sum(item.distribution.values()) == 5
        assert row[9].value == item.rated
        assert row[10].value == item.good_rate and row[10].number_format == "0.0%"
        assert row[11].value == item.mean and row[11].number_format == "0.00"

    team_name = result.target(world.team).name
    team = [row for row in sheet.iter_rows(min_row=2) if row[1].value == team_name]
    assert team, "the 领导班子 is rated by 局全体工作人员"
    for row in team:
        assert [cell.value for cell in row[4:10]] == [None] * 6
        assert (row[10].value, row[11].value) == (INSUFFICIENT, INSUFFICIENT)
    # Branches are not rated by the masses: no rows.
    assert not any(row[0].value == "党组织" for row in sheet.iter_rows(min_row=2))


def test_participation_sheet_counts_codes_ballots_and_rates(engine: Engine) -> None:
    world = build_world(engine, counted=False)
    # Cast, not counted: the codes say what was submitted, the results know no ballot yet.
    waiting = {row[0].value: row for row in _workbook(engine, world.round_id)["参与情况"].rows}
    for name, submitted in (("市场经营户", 5), ("局全体工作人员", 2)):
        assert [cell.value for cell in waiting[name][4:6]] == [submitted, 0]
        assert waiting[name][8].value == reports.NOT_COUNTED
    assert waiting["基层单位工作人员"][8].value == "样本不足(少于 5 份)"

    count(engine, world.round_id)
    sheet = _workbook(engine, world.round_id)["参与情况"]
    assert _header(sheet) == [
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
    ]
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    assert list(rows) == ["局全体工作人员", "基层单位工作人员", "市场经营户", "合计"]
    vendors = rows["市场经营户"]
    assert [cell.value for cell in vendors[1:6]] == [60, 7, 5, 5, 1]
    assert vendors[6].value == 0.2 and vendors[6].number_format == "0.0%"
    assert vendors[7].value == round(5 / 60, 4) and vendors[7].number_format == "0.0%"
    assert vendors[8].value == "有效"
    staff = rows["局全体工作人员"]
    assert [cell.value for cell in staff[1:8]] == [40, 2, 2, 2, 0, 0, 0.05]
    assert staff[8].value == "样本不足(少于 5 份)"
    units = rows["基层单位工作人员"]
    assert [cell.value for cell in units[1:8]] == [25, 0, 0, 0, 0, NO_GRADE, 0]
    total = rows["合计"]
    assert [cell.value for cell in total[1:6]] == [125, 9, 7, 7, 1]
    assert total[7].value == round(7 / 125, 4)


def test_names_that_look_like_formulas_are_exported_as_inert_text(engine: Engine) -> None:
    world = build_world(engine)
    with db.session(engine) as s:
        data = reports.summary_workbook(session=s, round_id=world.round_id)
    book = openpyxl.load_workbook(io.BytesIO(data))
    for title in ("汇总", "分项"):
        sheet = book[title]
        for name in HOSTILE_NAMES:
            row = [r for r in sheet.iter_rows(min_row=2) if r[1].value == "'" + name]
            assert row, (title, name)
            assert all(r[1].data_type == "s" for r in row)
            if name == HOSTILE_NAMES[0]:
                branches = {(r[2].value, r[2].data_type) for r in row}
                assert branches == {("'" + HOSTILE_BRANCH, "s")}
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            assert all(cell.data_type != "f" for cell in row), sheet.title
    # And in the file itself: no formula element, no hyperlink, anywhere.
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                xml = archive.read(name).decode()
                assert not re.search(r"<f[ >]", xml), name
                assert "<hyperlink" not in xml, name


def test_export_of_an_unknown_round_is_refused(sqlite_engine: Engine) -> None:
    with db.session(sqlite_engine) as s, pytest.raises(ReportError, match="找不到该评议轮次"):
        reports.summary_workbook(session=s, round_id=999)


# ---- the report page


def _page(engine: Engine, round_id: int, target_id: int) -> str:
    with db.session(engine) as s:
        return reports.target_report_html(session=s, round_id=round_id, target_id=target_id)


def test_report_page_shows_the_results_and_escapes_everything(engine: Engine) -> None:
    world = build_world(engine)
    result = _results(engine, world.round_id)
    target = result.target(world.hostile[0])
    page = _page(engine, world.round_id, target.target_id)

    assert page.startswith("<!DOCTYPE html>") and "评议结果报告" in page
    assert "2026年第四季度评议" in page
    assert '"Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif' in page
    assert "size: A4" in page
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;工作认真" in page
    assert "=HYPERLINK(&#34;http://x&#34;,&#34;点我&#34;)" in page
    assert 'HYPERLINK("' not in page
    assert html_escape(HOSTILE_BRANCH) in page
    with db.session(engine) as s:
        names = criteria.round_criteria(session=s, round_id=world.round_id)
        comment_ids = list(s.exec(select(MassComment.id)))
    for view in names[TemplateKey(target.template_key)]:
        assert html_escape(view.name) in page
    assert f"{target.combined:.2f}" in page and target.grade_label in page
    assert f"第 {target.rank} 名" in page
    for item in target.criteria:
        if item.good_rate is not None:
            assert f"{item.good_rate * 100:.1f}%" in page
    assert comment_ids and not any(cid in page for cid in comment_ids)


def _submit_leader_review(engine: Engine, round_id: int, target_id: int, **texts: str) -> str:
    """The target's reviewer submits it, every criterion 较好 (80); returns their name."""
    with db.transaction(engine) as s:
        round_ = s.get(Round, round_id)
        assert round_ is not None
        rounds.set_step(actor="测试", session=s, round_=round_, step=Step.REVIEW)
        reviewer_id = s.exec(
            select(LeaderAssignment.reviewer_id).where(LeaderAssignment.target_id == target_id)
        ).one()
        form = reviews.form(session=s, round_id=round_id, target_id=target_id)
        reviews.save(
            session=s,
            round_id=round_id,
            reviewer_id=reviewer_id,
            target_id=target_id,
            scores={c.id: form.levels[1].id for c in form.criteria},
            submit=True,
            **texts,
        )
        return s.get(Member, reviewer_id).name  # type: ignore[union-attr]


def test_submitted_leader_reviews_fill_the_leader_column(engine: Engine) -> None:
    world = build_world(engine)
    target_id = world.hostile[1]
    _submit_leader_review(engine, world.round_id, target_id, achievements="好", direction="好")
    result = _results(engine, world.round_id)
    target = result.target(target_id)
    assert target.leader_score == 80.0
    row = _row_of(_workbook(engine, world.round_id)["汇总"], target.name)
    assert (row[7].value, row[8].value) == (80.0, target.combined)


def test_report_page_shows_the_leader_comments_escaped(engine: Engine) -> None:
    world = build_world(engine)
    target_id = world.hostile[1]
    assert "暂无已提交的领导点评" in _page(engine, world.round_id, target_id)
    reviewer = _submit_leader_review(
        engine,
        world.round_id,
        target_id,
        achievements="<b>成绩</b>突出",
        problems="学习不够",
        direction="多到一线",
        requirements="每月走访\n整理台账",
    )
    page = _page(engine, world.round_id, target_id)
    assert f"点评领导:{reviewer}(点评得分 80.00)" in page
    assert "&lt;b&gt;成绩&lt;/b&gt;突出" in page and "<b>成绩" not in page
    for text in ("肯定成绩", "指出问题", "明确方向", "整改要求", "学习不够", "多到一线"):
        assert text in page
    assert "每月走访\n整理台账" in page  # one cell, its lines kept by pre-wrap
    assert "暂无已提交的领导点评" not in page


def test_report_page_shows_too_few_ballots_and_leaves_those_comments_out(engine: Engine) -> None:
    world = build_world(engine)
    page = _page(engine, world.round_id, world.team)
    assert INSUFFICIENT in page
    assert "班子团结有力" not in page
    assert "样本不足的评议群体的意见建议不予显示" in page
    assert "组织领导情况" in page  # the 领导班子 criteria, by default the 党组织 list


def test_report_page_lists_comments_sorted(engine: Engine) -> None:
    world = bureau(engine)
    rid, vendors = world.round_id, world.groups[GroupKey.VENDORS]
    with db.session(engine) as s:
        target_id = (
            ballots.ballot_form(session=s, round_id=rid, group_id=vendors).cards[0].target_id
        )
    answers = [full_answers(engine, rid, vendors, level=n) for n in range(5)]
    codes_ = issue(engine, rid, vendors, 5)
    for code, ans, text in zip(codes_, answers, ["丙", "甲", "乙", "", "丁"], strict=True):
        with db.transaction(engine) as s:
            ballots.submit(session=s, code=code, answers=ans, comments={target_id: text})
    count(engine, rid)
    page = _page(engine, rid, target_id)
    items = re.findall(r"<li>(.*?)</li>", page)
    assert items == sorted(["丙", "甲", "乙", "丁"])


def test_find_target_by_name_or_id(engine: Engine) -> None:
    world = build_world(engine)
    rid = world.round_id
    with db.session(engine) as s:
        assert reports.find_target(session=s, round_id=rid, name_or_id="王书记").name == "王书记"
        by_id = reports.find_target(session=s, round_id=rid, name_or_id=str(world.team))
        assert by_id.id == world.team
        with pytest.raises(ReportError, match="本轮没有评议对象「无此人」"):
            reports.find_target(session=s, round_id=rid, name_or_id="无此人")
        with pytest.raises(ReportError, match="本轮没有该评议对象"):
            reports.target_report_html(session=s, round_id=rid, target_id=987654)


# ---- the command


@pytest.fixture
def fresh_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("PINGYI_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("PINGYI_DATA_DIR", str(tmp_path))
    config.settings.cache_clear()
    db.engine.cache_clear()
    yield path
    db.engine().dispose()
    config.settings.cache_clear()
    db.engine.cache_clear()


def test_cli_export_and_report_write_readable_files(
    fresh_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--no-history"]) == 0
    engine = db.engine()
    with db.session(engine) as s:
        round_ = rounds.current(session=s)
        assert round_ is not None
        rid: int = round_.id  # type: ignore[assignment]
        vendors: int = groups.by_key(session=s)[GroupKey.VENDORS].id  # type: ignore[assignment]
        card = ballots.ballot_form(session=s, round_id=rid, group_id=vendors).cards[0]
    _vote(engine, rid, vendors, [full_answers(engine, rid, vendors, level=n) for n in range(5)])
    count(engine, rid)
    capsys.readouterr()

    out = tmp_path / "汇总表.xlsx"
    assert cli.main(["export", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    book = openpyxl.load_workbook(out)
    assert book.sheetnames[0] == "汇总" and book.sheetnames[-2:] == ["分项", "参与情况"]
    vendors_row = _row_of(book["参与情况"], "市场经营户", column=1)
    assert (vendors_row[1].value, vendors_row[4].value) == (200, 5)
    assert _row_of(book["汇总"], card.name)[8].number_format == "0.00"

    page = tmp_path / "报告.html"
    assert cli.main(["report", "--target", card.name, "--out", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "评议结果报告" in text and card.name in text
    assert cli.main(["report", "--target", "无此人", "--out", str(page)]) == 1
    assert "本轮没有评议对象「无此人」" in capsys.readouterr().err
    assert cli.main(["export", "--round", "不存在的轮次", "--out", str(out)]) == 1
    assert cli.main(["export", "--out", str(tmp_path / "无此目录" / "a.xlsx")]) == 1
    assert "无法写入" in capsys.readouterr().err
