"""What the 结果 and 评分设置 pages show, without Streamlit: a round's results as tables with
Chinese column names, their filters, and the plotly charts of one target's report card.

Pure functions of `scoring` results, so they are tested directly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go

from pingyi import criteria, reviews, scoring
from pingyi.codes import GroupCodeCounts
from pingyi.criteria import LevelView
from pingyi.models import TEMPLATE_LABELS, TemplateKey
from pingyi.reports import CATEGORY_ORDER, NOT_COUNTED
from pingyi.scoring import (
    INSUFFICIENT,
    NO_GRADE,
    OK,
    CriterionResult,
    RoundResult,
    TargetResult,
)
from pingyi.ui.text import md_escape

CATEGORIES: tuple[tuple[TemplateKey, str], ...] = tuple(
    (key, TEMPLATE_LABELS[key]) for key in CATEGORY_ORDER
)
RANK, NAME, BRANCH = "排名", "名称", "党支部"
MASS, LEADER, COMBINED, GRADE, CHANGE = "群众得分", "领导点评得分", "综合得分", "等级", "较上轮变化"
NOT_RATED = "—"  # shown for a missing number: not evaluated by that group, or nothing scored
PARTICIPATION_COLUMNS = [
    "评议群体",
    "应到人数",
    "已提交",
    "一刀切份数",
    "一刀切占比",
    "计入得分",
    "计分情况",
]
GROUP_SCORE_COLUMNS = ["评议群体", "计入票数", "得分"]

# Scored levels from the best to the worst run from green to red; a level without a score
# (不了解) is grey: the colours read the same way on every chart.
_SCORED_COLOURS = ("#1a7f37", "#7cc46b", "#f2c14e", "#d73027")
_UNSCORED_COLOUR = "#b0b0b0"
_PERCENT_TICKS = [0, 0.2, 0.4, 0.6, 0.8, 1]
_SCORE_TICKS = [0, 20, 40, 60, 80, 100]
_SCORE_RANGE = (0, 108)  # room above 100 for the label of a full score


# ---- tables


def _by_rank(targets: Sequence[TargetResult]) -> list[TargetResult]:
    """Best first; targets without a score last, in their usual order."""
    order = {t.target_id: n for n, t in enumerate(targets)}
    return sorted(targets, key=lambda t: (t.rank is None, t.rank or 0, order[t.target_id]))


def _score_column(values: list[float | None], empty: str) -> pd.Series:
    """Numbers stay numbers, so the column sorts by value; a column without any number shows
    `empty` as text (暂无 before there are leader reviews)."""
    if all(v is None for v in values):
        return pd.Series([empty] * len(values), dtype=object)
    return pd.Series(values, dtype="Float64")


def _group_column(targets: Sequence[TargetResult], group_id: int) -> pd.Series:
    """A group's score of each target. A group is 样本不足 for the whole round or for none,
    so the column is either text (样本不足, or — for targets it does not evaluate) or numbers."""
    cells = [next((g for g in t.groups if g.group_id == group_id), None) for t in targets]
    if any(c is not None and c.status != OK for c in cells):
        return pd.Series(
            [
                NOT_RATED if c is None else INSUFFICIENT if c.status != OK else NOT_RATED
                for c in cells
            ],
            dtype=object,
        )
    return pd.Series([None if c is None else c.score for c in cells], dtype="Float64")


def category_frame(
    result: RoundResult, template_key: str, group_names: Mapping[int, str]
) -> pd.DataFrame:
    """One row per target of the category, best first: rank, name, branch, each evaluator
    group's score, mass, leader and combined score, grade and change since last round."""
    targets = _by_rank([t for t in result.targets if t.template_key == template_key])
    group_ids = sorted({g.group_id for t in targets for g in t.groups})
    columns: dict[str, pd.Series] = {
        RANK: pd.Series([t.rank for t in targets], dtype="Int64"),
        NAME: pd.Series([t.name for t in targets], dtype=object),
        BRANCH: pd.Series([t.branch_name for t in targets], dtype=object),
    }
    for group_id in group_ids:
        columns[group_names.get(group_id, f"评议群体 {group_id}")] = _group_column(
            targets, group_id
        )
    columns[MASS] = _score_column([t.mass_score for t in targets], NOT_RATED)
    columns[LEADER] = _score_column([t.leader_score for t in targets], NO_GRADE)
    columns[COMBINED] = _score_column([t.combined for t in targets], NOT_RATED)
    columns[GRADE] = pd.Series([t.grade_label for t in targets], dtype=object)
    columns[CHANGE] = pd.Series([t.change for t in targets], dtype="Float64")
    return pd.DataFrame(columns)


def number_columns(frame: pd.DataFrame) -> list[str]:
    """The score columns of `category_frame` that hold numbers (shown with 2 decimals)."""
    return [
        column
        for column in frame.columns
        if column not in (RANK, CHANGE) and pd.api.types.is_float_dtype(frame[column])
    ]


@dataclass(frozen=True)
class ResultFilter:
    """What the office picked above a category table; empty means every target."""

    branches: tuple[str, ...] = field(default=())
    query: str = ""  # part of a name
    grades: tuple[str, ...] = field(default=())


def filter_results(frame: pd.DataFrame, chosen: ResultFilter) -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    if chosen.branches:
        keep &= frame[BRANCH].isin(chosen.branches)
    query = chosen.query.strip()
    if query:
        keep &= frame[NAME].str.contains(query, regex=False)
    if chosen.grades:
        keep &= frame[GRADE].isin(chosen.grades)
    return frame[keep]


def grade_options(result: RoundResult) -> list[str]:
    """Every grade of the round's settings, then 暂无."""
    return [*(name for name, _ in result.settings.grades), NO_GRADE]


def participation_frame(result: RoundResult, counts: Sequence[GroupCodeCounts]) -> pd.DataFrame:
    """Ballots per evaluator group: submitted, 一刀切, counted, and whether they are enough."""
    summaries = {g.group_id: g for g in result.groups}
    minimum = result.settings.min_ballots
    rows: list[tuple[str, int, int, int, float | None, int, str]] = []
    for count in counts:
        summary = summaries.get(count.group_id)
        if summary is None:
            rows.append((count.group_name, count.headcount, 0, 0, None, 0, "本轮无评议对象"))
            continue
        if count.submitted and not summary.ballots:
            state = NOT_COUNTED
        else:
            state = "有效" if summary.status == OK else f"样本不足(少于 {minimum} 份)"
        rows.append(
            (
                count.group_name,
                count.headcount,
                count.submitted,  # cast: counted once the box is opened (计入)
                summary.uniform,
                summary.uniform_share,
                summary.counted,
                state,
            )
        )
    frame = pd.DataFrame(rows, columns=PARTICIPATION_COLUMNS)
    frame["一刀切占比"] = frame["一刀切占比"].astype("Float64")
    return frame


def group_scores_frame(target: TargetResult, group_names: Mapping[int, str]) -> pd.DataFrame:
    """The target's score per evaluator group, as text: 样本不足 shows no number."""
    rows = []
    for group in target.groups:
        name = group_names.get(group.group_id, f"评议群体 {group.group_id}")
        if group.status != OK:
            rows.append((name, INSUFFICIENT, INSUFFICIENT))
        else:
            score = NOT_RATED if group.score is None else f"{group.score:.2f}"
            rows.append((name, str(group.ballots), score))
    return pd.DataFrame(rows, columns=GROUP_SCORE_COLUMNS)


def grade_counts(result: RoundResult) -> dict[str, int]:
    """Targets per grade, every grade of the settings listed, then 暂无 when there are any."""
    counted = Counter(t.grade_label for t in result.targets)
    counts = {name: counted.get(name, 0) for name, _ in result.settings.grades}
    if counted.get(NO_GRADE):
        counts[NO_GRADE] = counted[NO_GRADE]
    return counts


def grade_counts_text(counts: Mapping[str, int]) -> str:
    return "、".join(f"{name} {n} 个" for name, n in counts.items())


def target_label(target: TargetResult) -> str:
    """名称 · 类别 · 党支部, for choosing a target; a branch is not named twice."""
    parts = [target.name, TEMPLATE_LABELS[TemplateKey(target.template_key)]]
    if target.branch_name and target.branch_name != target.name:
        parts.append(target.branch_name)
    return " · ".join(parts)


def ranked_count(result: RoundResult, template_key: str) -> int:
    """Targets of the category that have a rank."""
    return sum(1 for t in result.targets if t.template_key == template_key and t.rank)


# ---- 领导点评 of one target

LEADER_COMMENTS = (
    ("肯定成绩", "achievements"),
    ("指出问题", "problems"),
    ("明确方向", "direction"),
    ("整改要求", "requirements"),
)
REVIEW_SCORE_COLUMNS = ["测评项目", "评价"]


def _lines(text: str) -> str:
    """Escaped text whose line breaks stay line breaks in Markdown."""
    return "  \n".join(md_escape(line) for line in text.splitlines()) or NOT_RATED


def review_markdown(review: reviews.ShownReview) -> str:
    """A submitted review as Markdown: the reviewer, their score, the four comments; every
    text typed by people escaped."""
    score = NO_GRADE if review.score is None else f"{review.score:.2f}"
    parts = [f"**点评领导:{md_escape(review.reviewer_name)}**(点评得分 {score})"]
    for label, name in LEADER_COMMENTS:
        parts.append(f"**{label}:**  \n{_lines(getattr(review, name))}")
    if review.requirements and review.deadline:
        parts.append(f"**整改期限:** {review.deadline.isoformat()}")
    return "\n\n".join(parts)


def review_scores_frame(review: reviews.ShownReview) -> pd.DataFrame:
    """The review's level per criterion."""
    return pd.DataFrame(review.scores, columns=REVIEW_SCORE_COLUMNS)


# ---- charts of one target


def level_colours(levels: Sequence[LevelView]) -> dict[str, str]:
    """A colour per level label: scored levels by score, best green to worst red; 不了解 grey."""
    scored = sorted((lv for lv in levels if lv.score is not None), key=lambda lv: -(lv.score or 0))
    colours = {lv.label: _UNSCORED_COLOUR for lv in levels}
    last = len(_SCORED_COLOURS) - 1
    for index, level in enumerate(scored):
        # Spread over the palette whatever the number of levels: the worst is always red.
        position = round(index * last / (len(scored) - 1)) if len(scored) > 1 else 0
        colours[level.label] = _SCORED_COLOURS[position]
    return colours


def _criterion_labels(target: TargetResult, criterion_names: Mapping[int, str]) -> list[str]:
    return [
        criterion_names.get(item.criterion_id, f"测评项目 {item.criterion_id}")
        for item in target.criteria
    ]


def _bar_layout(figure: go.Figure, rows: int, title: str) -> go.Figure:
    figure.update_layout(
        title=title,
        height=120 + 40 * max(rows, 1),
        margin={"l": 0, "r": 24, "t": 72, "b": 0},
        yaxis={"autorange": "reversed", "title": None},
        xaxis={"title": None},
    )
    return figure


def distribution_chart(
    target: TargetResult, levels: Sequence[LevelView], criterion_names: Mapping[int, str]
) -> go.Figure:
    """Per criterion, a bar stacked from 好 to 不了解: how many ratings at each level."""
    labels = _criterion_labels(target, criterion_names)
    levels = criteria.distinct_levels(levels)
    colours = level_colours(levels)
    figure = go.Figure()
    for level in levels:
        counts = [item.distribution.get(level.label, 0) for item in target.criteria]
        totals = [sum(item.distribution.values()) for item in target.criteria]
        shares = [n / total if total else 0 for n, total in zip(counts, totals, strict=True)]
        figure.add_trace(
            go.Bar(
                name=level.label,
                x=counts,
                y=labels,
                orientation="h",
                marker_color=colours[level.label],
                text=[str(n) if n else "" for n in counts],
                textposition="inside",
                customdata=shares,
                hovertemplate=f"{level.label}:%{{x}} 票(%{{customdata:.1%}})<extra></extra>",
            )
        )
    figure.update_layout(
        barmode="stack",
        legend={"orientation": "h", "traceorder": "normal", "y": 1.02, "yanchor": "bottom"},
    )
    return _bar_layout(figure, len(labels), "各测评项目的评价分布(票数)")


def good_rate_chart(target: TargetResult, criterion_names: Mapping[int, str]) -> go.Figure:
    """Per criterion, 好评率 = (好 + 较好) / rated; a criterion nobody rated has no bar."""
    labels = _criterion_labels(target, criterion_names)
    rates = [item.good_rate for item in target.criteria]
    figure = go.Figure(
        go.Bar(
            x=rates,
            y=labels,
            orientation="h",
            marker_color=_SCORED_COLOURS[0],
            text=[NO_GRADE if r is None else f"{r:.1%}" for r in rates],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}:%{x:.1%}<extra></extra>",
        )
    )
    # Room right of 100 % for the label of a full bar.
    figure.update_xaxes(range=[0, 1.12], tickvals=_PERCENT_TICKS, tickformat=".0%")
    return _bar_layout(figure, len(labels), "各测评项目的好评率")


GROUP_COLUMN, CRITERION_COLUMN = "评议群体", "测评项目"
RATED_COLUMN, GOOD_RATE_COLUMN, MEAN_COLUMN = "参评票数", "好评率", "平均分"
POOLED = "全部群体"  # the target's distribution over every group with enough ballots


def distribution_frame(
    target: TargetResult,
    group_names: Mapping[int, str],
    criterion_names: Mapping[int, str],
    levels: Sequence[LevelView],
) -> pd.DataFrame:
    """The distribution charts as a table: per criterion, all groups pooled and then each
    group with enough ballots on its own (its scale's levels; another scale's are blank),
    with 参评票数 (不了解 left out), 好评率 and 平均分."""
    labels = criteria.level_labels(levels)
    rows = []
    parts: list[tuple[str, Sequence[CriterionResult]]] = [(POOLED, target.criteria)]

    if sum(1 for g in target.groups if g.criteria) > 1:
        parts += [(_group_name(g.group_id, group_names), g.criteria) for g in target.groups]
    for name, items in parts:
        for item in items:
            rows.append(
                {
                    GROUP_COLUMN: name,
                    CRITERION_COLUMN: criterion_names.get(
                        item.criterion_id, f"测评项目 {item.criterion_id}"
                    ),
                    **{label: item.distribution.get(label) for label in labels},
                    RATED_COLUMN: item.rated,
                    GOOD_RATE_COLUMN: item.good_rate,
                    MEAN_COLUMN: item.mean,
                }
            )
    columns = [GROUP_COLUMN, CRITERION_COLUMN, *labels, RATED_COLUMN, GOOD_RATE_COLUMN]
    return pd.DataFrame(rows, columns=[*columns, MEAN_COLUMN])


def _group_name(group_id: int, group_names: Mapping[int, str]) -> str:
    return group_names.get(group_id, f"评议群体 {group_id}")


def group_distribution_chart(
    target: TargetResult,
    group_names: Mapping[int, str],
    criterion_names: Mapping[int, str],
    levels: Sequence[LevelView],
) -> go.Figure | None:
    """One stacked bar per criterion and group, a panel per group with enough ballots, each
    on its own scale: where the groups see the target differently. None with fewer than two
    such groups (the target's chart says it all)."""
    from plotly.subplots import make_subplots

    shown = [g for g in target.groups if g.criteria]
    if len(shown) < 2:
        return None
    colours = level_colours(criteria.distinct_levels(levels))
    rows = [len(g.criteria) for g in shown]
    figure = make_subplots(
        rows=len(shown),
        cols=1,
        subplot_titles=[_group_name(g.group_id, group_names) for g in shown],
        row_heights=rows,
        vertical_spacing=min(0.3 / len(shown), 0.12),
    )
    in_legend: set[str] = set()
    for row, group in enumerate(shown, start=1):
        names = [
            criterion_names.get(i.criterion_id, f"测评项目 {i.criterion_id}")
            for i in group.criteria
        ]
        for label in criteria.level_labels(criteria.levels_for(levels, [group.group_id])):
            counts = [item.distribution.get(label, 0) for item in group.criteria]
            figure.add_trace(
                go.Bar(
                    name=label,
                    legendgroup=label,
                    showlegend=label not in in_legend,
                    x=counts,
                    y=names,
                    orientation="h",
                    marker_color=colours.get(label, _UNSCORED_COLOUR),
                    text=[str(n) if n else "" for n in counts],
                    textposition="inside",
                    hovertemplate=f"%{{y}} · {label}:%{{x}} 票<extra></extra>",
                ),
                row=row,
                col=1,
            )
            in_legend.add(label)
        figure.update_yaxes(autorange="reversed", row=row, col=1)
    figure.update_layout(
        barmode="stack",
        title="各评议群体的评价分布(票数)",
        height=120 + 40 * sum(rows) + 40 * len(shown),
        margin={"l": 0, "r": 24, "t": 96, "b": 0},
        legend={"orientation": "h", "traceorder": "normal", "y": 1.0, "yanchor": "bottom"},
    )
    return figure


TREND_COLUMNS = ["评议轮次", COMBINED]


def trend_frame(points: Sequence[scoring.TrendPoint]) -> pd.DataFrame:
    """The trend chart as a table: each round's combined score (— without one)."""
    return pd.DataFrame([(p.round_name, p.combined) for p in points], columns=TREND_COLUMNS)


def trend_chart(
    points: Sequence[scoring.TrendPoint], grades: Sequence[tuple[str, float]]
) -> go.Figure:
    """The combined score round by round, with the grade thresholds as dotted lines."""
    names = [p.round_name for p in points]
    scores = [p.combined for p in points]
    figure = go.Figure(
        go.Scatter(
            x=names,
            y=scores,
            mode="lines+markers+text",
            text=["" if s is None else f"{s:.2f}" for s in scores],
            textposition="top center",
            connectgaps=False,
            hovertemplate="%{x}:%{y:.2f}<extra></extra>",
            name=COMBINED,
        )
    )
    for name, minimum in grades:
        if minimum > 0:
            figure.add_hline(
                y=minimum,
                line_dash="dot",
                line_color="#999",
                annotation_text=name,
                annotation_position="right",
            )
    figure.update_layout(
        title="历次评议的综合得分",
        height=320,
        margin={"l": 0, "r": 48, "t": 48, "b": 0},
        yaxis={"range": list(_SCORE_RANGE), "tickvals": _SCORE_TICKS, "title": None},
        xaxis={"title": None, "type": "category"},
        showlegend=False,
    )
    return figure


def safe_file_part(text: str) -> str:
    """`text` usable in a file name: no path separators or characters Windows refuses."""
    return "".join("_" if ch in '\\/:*?"<>|' or ord(ch) < 32 else ch for ch in text).strip()


# ---- 党支部 × 测评项目 at a glance

HEATMAP_TITLE = "各党支部普通党员分项好评率"


def branch_heatmap_frame(result: RoundResult, criterion_names: Mapping[int, str]) -> pd.DataFrame:
    """One row per 党支部, one column per criterion of the 普通党员 (and 总体评价 where a group
    rates 总体): the 好评率 of the branch's members pooled, each member's weighted by its
    rated count; empty where nobody rated it. The masses rate people, not branches: this is
    how the branches compare."""
    members = [
        t
        for t in result.targets
        if t.template_key == TemplateKey.MEMBER
        and t.branch_name
        and any(g.status == OK for g in t.groups)
    ]
    columns = list(dict.fromkeys(item.criterion_id for t in members for item in t.criteria))
    # Pooled from the counts, not the rounded rates: (good, rated) per branch and criterion.
    pooled: dict[str, dict[int, tuple[int, int]]] = {}
    for target in members:
        row = pooled.setdefault(target.branch_name, {})
        for item in target.criteria:
            if item.rated:
                good, rated = row.get(item.criterion_id, (0, 0))
                row[item.criterion_id] = (good + item.good, rated + item.rated)
    branches = list(pooled)
    frame = pd.DataFrame(
        [
            [scoring.good_rate(*pooled[b][cid]) if cid in pooled[b] else None for cid in columns]
            for b in branches
        ],
        index=branches,
        columns=[criterion_names.get(cid, f"测评项目 {cid}") for cid in columns],
        dtype="float",
    )
    frame.index.name = "党支部"
    return frame.dropna(axis=1, how="all").round(4)


def branch_heatmap(frame: pd.DataFrame) -> go.Figure:
    """The frame as a heatmap: red (low) to green (high) 好评率, the percentage in each cell."""
    percent = [[None if v != v else round(v * 100, 1) for v in row] for row in frame.to_numpy()]
    figure = go.Figure(
        go.Heatmap(
            z=percent,
            x=list(frame.columns),
            y=list(frame.index),
            zmin=0,
            zmax=100,
            colorscale="RdYlGn",
            text=[["" if v is None else f"{v:.0f}%" for v in row] for row in percent],
            texttemplate="%{text}",
            hovertemplate="%{y} · %{x}:%{z:.1f}%<extra></extra>",
            colorbar={"title": "好评率 %"},
        )
    )
    figure.update_layout(
        title=HEATMAP_TITLE,
        height=140 + 38 * max(len(frame.index), 1),
        margin={"l": 0, "r": 0, "t": 48, "b": 0},
        yaxis={"autorange": "reversed"},
        xaxis={"side": "top", "tickangle": -30},
    )
    return figure
