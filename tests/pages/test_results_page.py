"""结果 in AppTest: the demo round with real ballots; every number shown is the one
`scoring.round_results` gives, filters narrow the tables, the report card draws the
distribution and the masses' comments and never a ballot id, the downloads are real files.

The world: the demo bureau; 市场经营户 cast 5 ballots (the minimum), 局全体工作人员 2
(样本不足). Each group's first ballot carries a comment on the first target of its form. The
office then ends both groups' evaluation (开箱计票): until then the results have no ballot.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docx
import openpyxl
import pytest
from google.protobuf import text_format
from sqlmodel import select
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest
from worlds import count

from pingyi import ballots, codes, db, demo, documents, groups, reports, rounds, scoring
from pingyi import reviews as leader_reviews
from pingyi.criteria import LevelView
from pingyi.models import (
    TEMPLATE_LABELS,
    Ballot,
    GroupKey,
    LeaderAssignment,
    MassComment,
    Member,
    Round,
    Step,
    TemplateKey,
)
from pingyi.scoring import INSUFFICIENT, NO_GRADE, RoundResult, TargetResult
from pingyi.ui import results as view

PAGE = "pages/results.py"
VENDORS, STAFF = "市场经营户", "局全体工作人员"
VENDOR_COMMENT = "服务热情,*希望*多来市场看看"
STAFF_COMMENT = "只有两票的意见,不能显示"
CATEGORY_LABELS = ["党组织", "领导班子", "党员领导干部", "普通党员"]


@dataclass(frozen=True)
class Voted:
    round_id: int
    vendor_target: int  # the first target on the 市场经营户 form: it has VENDOR_COMMENT
    staff_target: int  # the first target on the 局全体工作人员 form: it has STAFF_COMMENT


def vote(round_id: int, key: GroupKey, count: int, comment: str | None = None) -> int:
    """`count` ballots of the group, each level in turn so scores differ between targets;
    `comment` on the form's first target goes with the first ballot. Returns that target."""
    with db.transaction() as s:
        group_id = groups.by_key(session=s)[key].id
        plain = codes.issue(
            actor="测试", session=s, round_id=round_id, group_id=group_id, count=count
        )
        form = ballots.ballot_form(session=s, round_id=round_id, group_id=group_id)  # type: ignore[arg-type]
    first = form.cards[0].target_id
    levels = [level.id for level in form.levels]
    for number, code in enumerate(plain):
        answers = {
            item: levels[(number + index) % len(levels)] for index, item in enumerate(form.items)
        }
        with db.transaction() as s:
            ballots.submit(
                session=s,
                code=code,
                answers=answers,
                comments={first: comment} if comment and number == 0 else None,
            )
    return first


def count_all(round_id: int) -> None:
    """开箱计票 of every group with cast ballots, as the office ends the evaluation."""
    count(db.engine(), round_id)


def current_round_id() -> int:
    with db.session() as s:
        current = rounds.current(session=s)
        assert current is not None
        return current.id  # type: ignore[return-value]


@pytest.fixture
def voted(demo_db: Path) -> Voted:
    round_id = current_round_id()
    vendor_target = vote(round_id, GroupKey.VENDORS, 5, VENDOR_COMMENT)
    staff_target = vote(round_id, GroupKey.ALL_STAFF, 2, STAFF_COMMENT)
    count_all(round_id)
    return Voted(round_id, vendor_target, staff_target)


@pytest.fixture
def deferred(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[str | None, Callable[[], Any]]]:
    """Downloads the page offers, by file name: (mime, the callable that makes the file).

    The page hands its downloads to Streamlit as callables, run only when clicked; AppTest
    cannot click a download, so the registration is recorded and the test runs the callable.
    """
    offered: dict[str, tuple[str | None, Callable[[], Any]]] = {}
    register = MediaFileManager.add_deferred

    def record(self: MediaFileManager, data_callable: Any, mimetype: Any, *args: Any, **kw: Any):
        offered[kw.get("file_name") or ""] = (mimetype, data_callable)
        return register(self, data_callable, mimetype, *args, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return offered


def results_of(round_id: int) -> RoundResult:
    with db.session() as s:
        return scoring.round_results(session=s, round_id=round_id)


def tab(at: AppTest, label: str) -> Any:
    return next(t for t in at.tabs if t.label == label)


def table(at: AppTest, label: str) -> Any:
    """The results table in the category's tab."""
    return tab(at, label).dataframe[0].value


def protos(node: Any) -> Iterator[Any]:
    proto = getattr(node, "proto", None)
    if proto is not None:
        yield proto
    for child in getattr(node, "children", {}).values():
        yield from protos(child)


def everything_shown(at: AppTest) -> str:
    """Every element of the page as its message, dataframes' Arrow bytes and charts included."""
    return "\n".join(text_format.MessageToString(p, as_utf8=True) for p in protos(at._tree))


def charts(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def chart_titled(at: AppTest, title: str) -> dict[str, Any]:
    return next(c for c in charts(at) if c["layout"]["title"]["text"] == title)


def show_target(at: AppTest, round_id: int, target_id: int) -> AppTest:
    at.selectbox(key=f"results_target_{round_id}").set_value(target_id).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def category_label(target: TargetResult) -> str:
    return TEMPLATE_LABELS[TemplateKey(target.template_key)]


def metrics(at: AppTest) -> dict[str, Any]:
    return {m.label: m for m in at.metric}


# ---- tables


def test_each_category_has_a_tab_with_the_numbers_of_round_results(voted: Voted, open_page):
    at = open_page(PAGE)
    assert at.title[0].value == "评议结果"
    assert demo.DEMO_ROUND in at.selectbox(key="results_round").format_func(
        at.selectbox(key="results_round").value
    )
    assert [t.label for t in at.tabs] == CATEGORY_LABELS

    result = results_of(voted.round_id)
    target = result.target(voted.vendor_target)
    assert target.combined is not None, "5 ballots from 市场经营户 give a score"
    frame = table(at, category_label(target))
    row = frame[frame[view.NAME] == target.name].iloc[0]
    assert row[view.COMBINED] == target.combined
    assert row[view.MASS] == target.mass_score
    assert row[VENDORS] == next(g.score for g in target.groups if g.status == scoring.OK)
    assert row[view.LEADER] == NO_GRADE, "no leader reviews yet"
    assert row[view.GRADE] == target.grade_label
    assert row[view.RANK] == target.rank
    assert row[view.BRANCH] == target.branch_name
    # The table is best first, and it lists the whole category.
    category = [t for t in result.targets if t.template_key == target.template_key]
    assert len(frame) == len(category)
    ranks = frame[view.RANK].dropna().tolist()
    assert ranks == sorted(ranks)


def test_a_group_below_the_minimum_shows_too_few_ballots_as_text(voted: Voted, open_page):
    at = open_page(PAGE)
    result = results_of(voted.round_id)
    team = next(t for t in result.targets if t.template_key == TemplateKey.TEAM)
    frame = table(at, "领导班子")
    assert frame[STAFF].tolist() == [INSUFFICIENT]
    assert frame[view.COMBINED].tolist() == [view.NOT_RATED] and team.combined is None
    assert frame[view.GRADE].tolist() == [NO_GRADE]


def test_participation_counts_ballots_per_group(voted: Voted, open_page):
    at = open_page(PAGE)
    frame = at.dataframe[0].value
    assert list(frame.columns) == view.PARTICIPATION_COLUMNS
    rows = {r["评议群体"]: r for r in frame.to_dict("records")}
    assert rows[VENDORS]["已提交"] == 5 and rows[VENDORS]["计分情况"] == "有效"
    assert rows[STAFF]["已提交"] == 2 and rows[STAFF]["计分情况"].startswith(INSUFFICIENT)
    assert rows["基层单位工作人员"]["已提交"] == 0
    assert rows[VENDORS]["一刀切份数"] == 0


def participation_sheet(deferred: dict[str, tuple[str | None, Callable[[], Any]]]) -> str:
    """The 参与情况 sheet of the summary workbook the page offers, as tab-separated text."""
    _mime, make = deferred[f"测评结果汇总表_{demo.DEMO_ROUND}.xlsx"]
    sheet = openpyxl.load_workbook(io.BytesIO(make()))[reports.SHEET_PARTICIPATION]
    rows = sheet.iter_rows(values_only=True)
    return "\n".join("\t".join("" if v is None else str(v) for v in row) for row in rows)


def test_ballots_not_yet_counted_are_said_so_and_counted_after_the_close(
    demo_db: Path, open_page, deferred
):
    round_id = current_round_id()
    vendor_target = vote(round_id, GroupKey.VENDORS, 5, VENDOR_COMMENT)
    at = open_page(PAGE)
    rows = {r["评议群体"]: r for r in at.dataframe[0].value.to_dict("records")}
    # Cast, sealed in the box: nothing of them is in the results yet, and the page says why.
    assert rows[VENDORS]["计分情况"] == reports.NOT_COUNTED
    assert rows[VENDORS]["已提交"] == 5 and rows[VENDORS]["计入得分"] == 0
    assert rows[STAFF]["计分情况"] != reports.NOT_COUNTED  # nobody of it voted
    assert all(t.mass_score is None for t in results_of(round_id).targets)
    assert reports.NOT_COUNTED in participation_sheet(deferred)  # the export says so too
    show_target(at, round_id, vendor_target)
    assert VENDOR_COMMENT not in everything_shown(at)  # sealed, as unread as its ratings

    count_all(round_id)
    deferred.clear()
    at = open_page(PAGE)
    rows = {r["评议群体"]: r for r in at.dataframe[0].value.to_dict("records")}
    assert rows[VENDORS]["已提交"] == 5 and rows[VENDORS]["计入得分"] == 5
    assert rows[VENDORS]["计分情况"] == "有效"
    assert reports.NOT_COUNTED not in participation_sheet(deferred)
    target = results_of(round_id).target(vendor_target)
    assert target.mass_score is not None
    frame = table(at, category_label(target))
    assert frame[frame[view.NAME] == target.name].iloc[0][view.MASS] == target.mass_score
    show_target(at, round_id, vendor_target)
    assert r"服务热情,\*希望\*多来市场看看" in "\n".join(m.value for m in at.markdown)


def test_filters_narrow_the_table(voted: Voted, open_page):
    at = open_page(PAGE)
    result = results_of(voted.round_id)
    members = [t for t in result.targets if t.template_key == TemplateKey.MEMBER]
    everyone = table(at, "普通党员")
    assert len(everyone) == len(members)

    prefix = f"results_{voted.round_id}_{TemplateKey.MEMBER}"
    branch = members[-1].branch_name
    at.multiselect(key=f"{prefix}_branches").select(branch).run()
    shown = table(at, "普通党员")
    assert set(shown[view.BRANCH]) == {branch}
    assert len(shown) == sum(1 for t in members if t.branch_name == branch)

    at.multiselect(key=f"{prefix}_branches").unselect(branch).run()
    name = members[0].name
    at.text_input(key=f"{prefix}_query").input(name[:2]).run()
    shown = table(at, "普通党员")
    assert name in set(shown[view.NAME])
    assert len(shown) == sum(1 for t in members if name[:2] in t.name) < len(members)

    at.text_input(key=f"{prefix}_query").input("").run()
    at.multiselect(key=f"{prefix}_grades").select(NO_GRADE).run()
    shown = table(at, "普通党员")
    assert set(shown[view.GRADE]) == {NO_GRADE}
    assert len(shown) == sum(1 for t in members if t.grade is None) < len(members)
    # The other tabs keep their own filters.
    assert len(table(at, "党员领导干部")) == sum(
        1 for t in result.targets if t.template_key == TemplateKey.LEADER
    )


# ---- the report card


def test_report_card_shows_metrics_charts_and_the_masses_comments(voted: Voted, open_page):
    at = show_target(open_page(PAGE), voted.round_id, voted.vendor_target)
    target = results_of(voted.round_id).target(voted.vendor_target)

    shown = metrics(at)
    assert shown[view.COMBINED].value == f"{target.combined:.2f}"
    assert shown[view.GRADE].value == target.grade_label
    assert shown["类别内排名"].value == f"第 {target.rank} 名"
    assert shown[view.LEADER].value == NO_GRADE

    # The demo's vendors rate 总体 on their own scale: one bar (总体评价), their levels only.
    distribution = chart_titled(at, "各测评项目的评价分布(票数)")
    assert [trace["name"] for trace in distribution["data"]] == [
        "满意",
        "基本满意",
        "不满意",
        "不了解",
    ]
    assert [item.criterion_id for item in target.criteria] == [0]
    assert list(distribution["data"][0]["y"]) == ["总体评价"]
    colours = [trace["marker"]["color"] for trace in distribution["data"]]
    assert colours[0] != colours[1] and colours[-1] == "#b0b0b0"
    assert distribution["layout"]["barmode"] == "stack"
    good = distribution["data"][0]
    assert list(good["x"]) == [item.distribution["满意"] for item in target.criteria]
    assert sum(sum(trace["x"]) for trace in distribution["data"]) == 5 * len(target.criteria)

    rates = chart_titled(at, "各测评项目的好评率")
    assert list(rates["data"][0]["x"]) == [item.good_rate for item in target.criteria]

    markdown = "\n".join(m.value for m in at.markdown)
    assert r"服务热情,\*希望\*多来市场看看" in markdown, "shown as typed, never as Markdown"
    assert any(c.value == "暂无已提交的领导点评。" for c in at.caption)
    with db.session() as s:
        names = {g.id: g.name for g in groups.all_groups(session=s)}
    groups_frame = next(d.value for d in at.dataframe if "计入票数" in d.value.columns)
    assert dict(zip(groups_frame["评议群体"], groups_frame["得分"], strict=True)) == {
        names[g.group_id]: INSUFFICIENT if g.status != scoring.OK else f"{g.score:.2f}"
        for g in target.groups
    }


def leader_review(round_id: int, target_id: int, level: int, **texts: str) -> str:
    """The target's reviewer submits every criterion at `level` of the scale; their name."""
    with db.transaction() as s:
        round_ = s.get(Round, round_id)
        assert round_ is not None
        rounds.set_step(actor="测试", session=s, round_=round_, step=Step.REVIEW)
        reviewer_id = s.exec(
            select(LeaderAssignment.reviewer_id).where(LeaderAssignment.target_id == target_id)
        ).first()
        assert reviewer_id is not None, "the target has a leader reviewer"
        form = leader_reviews.form(session=s, round_id=round_id, target_id=target_id)
        leader_reviews.save(
            session=s,
            round_id=round_id,
            reviewer_id=reviewer_id,
            target_id=target_id,
            scores={c.id: form.levels[level].id for c in form.criteria},
            submit=True,
            **texts,
        )
        return s.get(Member, reviewer_id).name  # type: ignore[union-attr]


def test_report_card_shows_the_leader_score_and_the_submitted_leader_comments(
    voted: Voted, open_page
):
    reviewer = leader_review(
        voted.round_id,
        voted.vendor_target,
        2,  # 一般: 60
        achievements="带头**攻坚**",
        problems="调研不够",
        direction="深入一线",
        requirements="每月走访\n整理台账",
    )
    target = results_of(voted.round_id).target(voted.vendor_target)
    assert target.leader_score == 60.0
    mass = target.mass_score
    assert mass is not None
    assert target.combined == round(0.4 * 60 + 0.6 * mass, 2)

    at = show_target(open_page(PAGE), voted.round_id, voted.vendor_target)
    shown = metrics(at)
    assert shown[view.LEADER].value == "60.00"
    assert shown[view.COMBINED].value == f"{target.combined:.2f}"
    markdown = "\n".join(m.value for m in at.markdown)
    assert f"点评领导:{reviewer}" in markdown
    assert r"带头\*\*攻坚\*\*" in markdown, "shown as typed"
    assert "调研不够" in markdown and "深入一线" in markdown and "整理台账" in markdown
    assert not any(c.value == "暂无已提交的领导点评。" for c in at.caption)
    frame = table(at, category_label(target))
    assert frame[frame[view.NAME] == target.name].iloc[0][view.LEADER] == 60.0


def test_comments_of_a_group_with_too_few_ballots_are_not_shown(voted: Voted, open_page):
    at = show_target(open_page(PAGE), voted.round_id, voted.staff_target)
    text = everything_shown(at)
    assert STAFF_COMMENT not in text
    assert "样本不足的评议群体的意见建议不予显示" in text
    assert not [c for c in charts(at) if "评价分布" in c["layout"]["title"]["text"]]
    assert any("样本不足" in i.value for i in at.info)


def test_no_ballot_or_comment_id_ever_reaches_the_page(voted: Voted, open_page):
    with db.session() as s:
        ids = [*s.exec(select(Ballot.id)), *s.exec(select(MassComment.id))]
    assert len(ids) == 5 + 2 + 2
    at = show_target(open_page(PAGE), voted.round_id, voted.vendor_target)
    text = everything_shown(at)
    assert "多来市场看看" in text, "the comment is there"
    assert not [i for i in ids if i in text]


def test_change_and_trend_across_rounds(voted: Voted, open_page):
    # Next quarter: a new round on the same roster; the old one is closed.
    with db.transaction() as s:
        new = rounds.create_round(
            actor="测试", session=s, name="2027年第一季度评议", quarter="2027Q1"
        )
        rounds.open_round(actor="测试", session=s, round_=new)
        new_id: int = new.id  # type: ignore[assignment]
        old = s.get(Round, voted.round_id)
        assert old is not None
        rounds.set_step(actor="测试", session=s, round_=old, step=Step.CLOSED)
    vote(new_id, GroupKey.VENDORS, 6)
    count_all(new_id)
    result = results_of(new_id)
    target = next(t for t in result.targets if t.change is not None and t.kind == "member")

    at = open_page(PAGE)
    assert at.selectbox(key="results_round").value == new_id, "the current round first"
    frame = table(at, category_label(target))
    row = frame[frame[view.NAME] == target.name].iloc[0]
    assert row[view.CHANGE] == target.change

    at = show_target(at, new_id, target.target_id)
    assert metrics(at)[view.COMBINED].value == f"{target.combined:.2f}"
    trend = chart_titled(at, "历次评议的综合得分")
    before = results_of(voted.round_id)
    old_target = next(t for t in before.targets if t.key == target.key)
    assert list(trend["data"][0]["x"]) == [demo.DEMO_ROUND, "2027年第一季度评议"]
    assert list(trend["data"][0]["y"]) == [old_target.combined, target.combined]


def test_a_round_with_one_result_has_no_trend_chart(voted: Voted, open_page):
    at = show_target(open_page(PAGE), voted.round_id, voted.vendor_target)
    assert not [c for c in charts(at) if c["layout"]["title"]["text"] == "历次评议的综合得分"]
    assert any("暂无历次趋势" in c.value for c in at.caption)


# ---- downloads


def test_summary_workbook_and_report_page_downloads(voted: Voted, open_page, deferred):
    at = show_target(open_page(PAGE), voted.round_id, voted.vendor_target)
    labels = {b.proto.label for b in at.get("download_button")}
    assert labels == {"下载汇总表(Excel)", "下载评议结果报告(可打印)", "下载 Word 文档"}

    mime, make = deferred[f"测评结果汇总表_{demo.DEMO_ROUND}.xlsx"]
    assert mime == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = openpyxl.load_workbook(io.BytesIO(make()))
    assert book.sheetnames[0] == reports.SHEET_SUMMARY
    target = results_of(voted.round_id).target(voted.vendor_target)
    names = [row[1].value for row in book[reports.SHEET_SUMMARY].iter_rows(min_row=2)]
    assert target.name in names

    mime, make = deferred[f"评议结果报告_{target.name}_{demo.DEMO_ROUND}.html"]
    assert mime == "text/html"
    html = make()
    assert "<!DOCTYPE html>" in html and target.name in html

    mime, make = deferred[f"评议结果报告_{target.name}_{demo.DEMO_ROUND}.docx"]
    assert mime == documents.DOCX_MIME
    word = docx.Document(io.BytesIO(make()))
    assert target.name in [cell.text for cell in word.tables[0].rows[0].cells]


# ---- no results yet


def test_a_round_not_yet_opened_has_no_results(demo_db: Path, open_page):
    with db.transaction() as s:
        draft = rounds.create_round(
            actor="测试", session=s, name="2027年第一季度评议", quarter="2027Q1"
        )
        draft_id = draft.id
    at = open_page(PAGE)
    at.selectbox(key="results_round").set_value(draft_id).run()
    assert not at.exception
    assert "尚未开启" in at.info[0].value
    assert not at.tabs


def test_without_ballots_every_target_has_too_few(demo_db: Path, open_page):
    at = open_page(PAGE)
    frame = table(at, "普通党员")
    assert set(frame[view.GRADE]) == {NO_GRADE}
    assert set(frame[VENDORS]) <= {INSUFFICIENT, view.NOT_RATED}


# ---- the pieces, without a page


def test_level_colours_run_from_green_to_red_with_grey_for_unknown() -> None:
    levels = [LevelView(1, "好", 100), LevelView(2, "一般", 60), LevelView(3, "差", 40)]
    colours = view.level_colours([*levels, LevelView(4, "不了解", None)])
    assert colours == {"好": "#1a7f37", "一般": "#f2c14e", "差": "#d73027", "不了解": "#b0b0b0"}


def test_file_names_lose_path_separators() -> None:
    assert view.safe_file_part('a/b\\c:"d"') == "a_b_c__d_"


# ---- 党支部 × 测评项目


def test_the_branches_heatmap_pools_their_members_good_rates(voted: Voted, open_page):
    """The vendors rated members 总体 (5 ballots): each 党支部's row is its 普通党员's 好评率 of
    总体评价, weighted by how many rated each; the same numbers in the table under the chart."""
    at = open_page(PAGE)
    result = results_of(voted.round_id)
    members = [
        t
        for t in result.targets
        if t.template_key == TemplateKey.MEMBER and any(g.status == scoring.OK for g in t.groups)
    ]
    expected: dict[str, float] = {}
    for branch in {t.branch_name for t in members}:
        items = [i for t in members if t.branch_name == branch for i in t.criteria if i.rated]
        expected[branch] = round(sum(i.good for i in items) / sum(i.rated for i in items), 4)
    heat = chart_titled(at, view.HEATMAP_TITLE)
    assert heat["data"][0]["type"] == "heatmap"
    assert heat["data"][0]["x"] == ["总体评价"]
    shown = dict(zip(heat["data"][0]["y"], (row[0] for row in heat["data"][0]["z"]), strict=True))
    assert shown == pytest.approx({b: 100 * r for b, r in expected.items()}, abs=0.051)
    (table,) = [d.value for d in at.dataframe if d.value.index.name == "党支部"]
    assert dict(table["总体评价"]) == pytest.approx(expected)


def test_the_branches_heatmap_pools_counts_not_rounded_rates() -> None:
    """0 of 1 and 4 of 6 好评 are 4/7 = 0.571428…: 0.5714; pooling the rounded rates
    (0 and 0.6667) would give 0.57146 and show 0.5715."""

    def member(good: int, rated: int) -> SimpleNamespace:
        item = scoring.CriterionResult(
            criterion_id=1,
            distribution={},
            rated=rated,
            good=good,
            good_rate=scoring.good_rate(good, rated),
            mean=None,
        )
        return SimpleNamespace(
            template_key=TemplateKey.MEMBER,
            branch_name="机关党支部",
            groups=[SimpleNamespace(status=scoring.OK)],
            criteria=[item],
        )

    result = SimpleNamespace(targets=[member(0, 1), member(4, 6)])
    frame = view.branch_heatmap_frame(result, {1: "总体评价"})  # type: ignore[arg-type]
    assert frame.loc["机关党支部", "总体评价"] == 0.5714


def test_the_results_show_each_groups_ballots_over_time(
    voted: Voted, open_page: Callable[..., AppTest]
) -> None:
    at = open_page(PAGE)
    chart = chart_titled(at, "各评议群体累计提交的评议票")
    last = {trace["name"]: trace["y"][-1] for trace in chart["data"]}
    assert last == {VENDORS: 5, STAFF: 2}
    frame = next(d.value for d in at.dataframe if "累计提交" in d.value.columns)
    assert frame.groupby("群体")["累计提交"].max().to_dict() == {VENDORS: 5, STAFF: 2}
