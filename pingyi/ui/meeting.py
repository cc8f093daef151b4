"""会议大屏 on a projector: participation per group, submissions over time, and once the
office publishes them the ranked results with a drill-down per target.

Everything here draws a `meeting.MeetingSnapshot`; the page decides when to take one. Names
from the roster go through `md_escape` or into plain-text elements (tables, chart labels),
never into `unsafe_allow_html`; the only HTML is the static style block below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pingyi import address, criteria, slips
from pingyi.config import settings
from pingyi.evaluation import GroupState
from pingyi.meeting import (
    CHINA_TIME,
    MeetingSnapshot,
    Ranked,
    Standings,
    Submissions,
    TargetDetail,
)
from pingyi.models import STEP_LABELS, TEMPLATE_LABELS, TemplateKey
from pingyi.scoring import INSUFFICIENT, OK
from pingyi.ui.charts import PLOTLY_CONFIG
from pingyi.ui.text import md_escape

LIVE = "meeting_live"  # the keyed container of everything the fragment draws
CLOSE_ASKED = "meeting_close_asked"  # the group whose 开箱计票 waits for 确定
CATEGORY = "meeting_category"  # the open category tab: kept across refreshes
TARGET = "meeting_target_"  # + category: the drill-down's target, kept across refreshes
TOP = 10  # bars in a category's 好评率 chart: fits the screen; the table lists everyone
FONT = 20  # px, chart text: readable from the back of a meeting room
HIDDEN = "评议结果尚未公布"
INSUFFICIENT_TEXT = "样本不足"
NO_SCORE = "暂无"
# Brand-neutral colours that stay apart on a washed-out projector.
GROUP_COLOURS = ("#b3261e", "#1f6feb", "#2e7d32", "#8e44ad", "#e67e22")
LEVEL_COLOURS = ("#2e7d32", "#7cb342", "#f9a825", "#c62828", "#9e9e9e")

_CSS = """<style>
/* 会议大屏: large type for a projector. Static: no user text ever goes in here. */
.stMainBlockContainer { max-width: 100%; padding: 2.5rem 3rem 3rem; }
.stMainBlockContainer h1 { font-size: 3.2rem; }
.st-key-meeting_live h2 { font-size: 2.4rem; }
.st-key-meeting_live h3 { font-size: 2rem; }
.st-key-meeting_live [data-testid="stMarkdownContainer"] p,
.st-key-meeting_live [data-testid="stCaptionContainer"] p,
.st-key-meeting_live [data-testid="stWidgetLabel"] p { font-size: 1.4rem; }
.st-key-meeting_live [data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"] p {
  font-size: 1.5rem;
}
.st-key-meeting_live [data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p {
  font-size: 3.6rem; font-weight: 600; line-height: 1.2;
}
.st-key-meeting_live [data-testid="stProgressBarTrack"] { height: 1.2rem; }
.st-key-meeting_live [role="tab"] [data-testid="stMarkdownContainer"] p { font-size: 1.7rem; }
.st-key-meeting_live [data-testid="stSelectbox"] input { font-size: 1.4rem; }
</style>"""


# 投影画面 (?screen=1): only the meeting, nothing of Streamlit's or the office's controls, and
# type a size up again for the back of a room at 1280×720 as at 1920×1080.
_PROJECTOR_CSS = """<style>
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stSidebar"],
[data-testid="stSidebarCollapsedControl"], [data-testid="stSidebarNav"],
[data-testid="stDecoration"], [data-testid="stStatusWidget"], footer { display: none !important; }
.stMainBlockContainer { padding: 1.5rem 2.5rem 2rem; }
.st-key-meeting_live [data-testid="stMarkdownContainer"] p { font-size: 1.6rem; }
.st-key-meeting_qr [data-testid="stMarkdownContainer"] p { font-size: 2.2rem; font-weight: 600; }
.st-key-meeting_qr img { image-rendering: pixelated; }
.st-key-meeting_qr code { font-size: 1.6rem; }
</style>"""
SCREEN = "screen"  # ?screen=1: the projected view
QR_BOX = "meeting_qr"  # the keyed container of the ballot page's QR code
SCAN = "扫码输入测评码"


def style(*, projector: bool = False) -> None:
    st.html(_CSS)
    if projector:
        st.html(_PROJECTOR_CSS)


def is_projector() -> bool:
    """Whether this is the projected view (`/meeting?screen=1`) rather than the office's."""
    return st.query_params.get(SCREEN) == "1"


def ballot_address() -> str:
    """The ballot page as phones reach it: the address the office's browser used when that is
    not this machine's loopback, else PINGYI_BASE_URL, else this machine's network address."""
    config = settings()
    try:
        request = st.context.url or None
    except Exception:  # outside a browser request (AppTest)
        request = None
    try:
        suggestion = address.suggest(
            request_url=request,
            configured=config.base_url if config.base_url_set else None,
            port=st.get_option("server.port"),
        )
    except address.AddressError:
        return slips.ballot_page(config.base_url)
    return slips.ballot_page(suggestion.base_url)


def ballot_qr(open_groups: list[str]) -> None:
    """While a group's evaluation is open: the ballot page's QR code, large, to scan."""
    url = ballot_address()
    with st.container(key=QR_BOX, border=True):
        left, right = st.columns([1, 2], vertical_alignment="center")
        left.image(slips.qr_png(url, scale=12), width=320)
        right.markdown(f"**{SCAN}**")
        right.code(url, language=None, wrap_lines=True)
        right.caption("正在评议:" + "、".join(md_escape(name) for name in open_groups))


# ---- participation


def fraction(part: int, headcount: int) -> float:
    """`part` of the expected headcount, for a progress bar (0 to 1)."""
    if headcount <= 0:
        return 0.0
    return min(part / headcount, 1.0)


def percent_text(submitted: int, headcount: int) -> str:
    if headcount <= 0:
        return "未设应到人数"
    return f"{round(100 * submitted / headcount)}%"


def header(snapshot: MeetingSnapshot) -> None:
    taken = snapshot.taken_at.astimezone(CHINA_TIME)
    st.caption(
        f"{STEP_LABELS[snapshot.step]} · 每几秒自动更新 · 更新于 {taken:%H:%M:%S}"
        f" · 结果{'已公布' if snapshot.published else '未公布'}"
    )


def participation(snapshot: MeetingSnapshot) -> None:
    """One card per evaluator group and one for all: 已提交 / 应到 in large figures."""
    st.subheader("参与情况")
    columns = st.columns(len(snapshot.groups) + 1, gap="medium")
    for column, count in zip(columns, snapshot.groups, strict=False):
        with column, st.container(border=True, key=f"meeting_group_{count.group_id}"):
            st.metric(
                f"{count.group_name} · 已提交 / 应到", f"{count.submitted} / {count.headcount}"
            )
            for label, value in (
                ("已发放", count.issued),
                ("已打开", count.opened),
                ("已提交", count.submitted),
            ):
                st.progress(
                    fraction(value, count.headcount),
                    text=f"{label} {value} · {percent_text(value, count.headcount)}",
                )
            if count.revoked:
                st.caption(f"已作废 {count.revoked}")
            st.caption(box_text(snapshot, count.group_id, count.submitted))
    with columns[-1], st.container(border=True, key="meeting_group_all"):
        submitted, headcount = snapshot.submitted, snapshot.headcount
        st.metric("合计 · 已提交 / 应到", f"{submitted} / {headcount}")
        st.progress(fraction(submitted, headcount), text=percent_text(submitted, headcount))
        st.caption(f"已发放 {sum(c.issued for c in snapshot.groups)}")


def box_text(snapshot: MeetingSnapshot, group_id: int, cast: int) -> str:
    """Where the group's ballots are: sealed in the box while it votes, counted after."""
    counted = snapshot.counted.get(group_id)
    if counted is not None:
        return f"已开箱计票 · 计入 {counted[0]} 票"
    return f"评议中 · 票箱 {cast} 票(结束评议后开箱计票)" if cast else "评议中"


def close_controls(states: list[GroupState]) -> int | None:
    """The office's 结束评议并开箱计票, per group that has cast ballots, behind a confirmation:
    the group whose box to count now, or None. Asking and 取消 are button callbacks, so the
    confirmation shows (or goes) in the same run, inside the fragment or out of it."""
    st.subheader("群众评议")
    asked: int | None = st.session_state.get(CLOSE_ASKED)
    chosen = None
    for state in states:
        if state.counted:
            st.caption(f"{state.group_name}:已开箱计票,{state.ballots} 票")
            continue
        if not (state.cast or state.in_box):
            st.caption(f"{state.group_name}:评议中,尚无投票")
            continue
        st.caption(f"{state.group_name}:评议中,已投 {state.cast} 票")
        if asked != state.group_id:
            st.button(
                f"结束「{state.group_name}」评议并开箱计票",
                key=f"meeting_close_{state.group_id}",
                icon=":material/how_to_vote:",
                on_click=_ask_close,
                args=(state.group_id,),
            )
            continue
        st.warning(
            f"结束后「{state.group_name}」的测评码不能再投票,票箱中的 {state.cast} 张评议票"
            "打乱顺序后计入结果。确定现在结束吗?"
        )
        yes, no = st.columns(2)
        if yes.button("确定开箱计票", key="meeting_close_yes", type="primary"):
            chosen = state.group_id
            st.session_state.pop(CLOSE_ASKED, None)
        no.button("取消", key="meeting_close_no", on_click=_ask_close, args=(None,))
    return chosen


def _ask_close(group_id: int | None) -> None:
    if group_id is None:
        st.session_state.pop(CLOSE_ASKED, None)
    else:
        st.session_state[CLOSE_ASKED] = group_id


TIMELINE_COLUMNS = ["群体", "时间", "累计提交"]


def timeline_frame(snapshot: MeetingSnapshot) -> pd.DataFrame:
    """Cumulative ballots per group and minute (Beijing time) on the meeting screen."""
    return submissions_frame(snapshot.submissions, snapshot.group_name, snapshot.taken_at)


def submissions_frame(
    submissions: Mapping[int, Submissions],
    group_name: Callable[[int], str],
    now: datetime,
) -> pd.DataFrame:
    """Cumulative ballots per group and minute (Beijing time): each line rises from 0 at the
    group's first minute and is carried on to `now`."""
    rows = []
    for gid, series in submissions.items():
        if not series.ballots:
            continue
        name = group_name(gid)
        rows.append((name, local(series.minutes[0]), 0))
        for minute, total in zip(series.minutes, series.cumulative, strict=True):
            rows.append((name, local(minute), total))
        rows.append((name, max(local(now), rows[-1][1]), series.total))
    return pd.DataFrame(rows, columns=TIMELINE_COLUMNS)


def local(moment: datetime) -> datetime:
    """Beijing time without its zone: plotly draws the wall clock it is given."""
    return moment.astimezone(CHINA_TIME).replace(tzinfo=None)


def timeline(snapshot: MeetingSnapshot) -> None:
    st.subheader("提交进度")
    frame = timeline_frame(snapshot)
    if frame.empty:
        st.markdown("尚无提交的评议票。")
        return
    st.plotly_chart(large(timeline_figure(frame)), config=PLOTLY_CONFIG, key="meeting_timeline")
    with st.expander("提交进度数据表"):  # the chart's figures, for screen readers and to copy
        st.dataframe(
            frame,
            hide_index=True,
            column_config={"时间": st.column_config.DatetimeColumn(format="HH:mm")},
            key="meeting_timeline_table",
        )


def timeline_figure(frame: pd.DataFrame, title: str | None = None) -> go.Figure:
    """A stepped line per group of its ballots so far (`submissions_frame`)."""
    figure = go.Figure()
    for index, (name, part) in enumerate(frame.groupby("群体", sort=False)):
        figure.add_trace(
            go.Scatter(
                x=part["时间"].tolist(),
                y=part["累计提交"].tolist(),
                name=str(name),
                mode="lines",
                line={"shape": "hv", "width": 4, "color": GROUP_COLOURS[index % 5]},
                hovertemplate="%{x|%H:%M} 累计 %{y} 张<extra>%{fullData.name}</extra>",
            )
        )
    # At least a 10-minute window, so the first minute of ballots is not a wall of "14:03".
    start = frame["时间"].min() - timedelta(minutes=1)
    end = max(frame["时间"].max(), start + timedelta(minutes=10))
    figure.update_layout(
        title=title,
        height=380 + (40 if title else 0),
        margin={"l": 0, "r": 16, "t": 88 if title else 8, "b": 0},
        legend={"orientation": "h", "y": 1.12, "x": 0},
        xaxis={"tickformat": "%H:%M", "title": None, "range": [start, end]},
        yaxis={"title": "累计提交(张)", "rangemode": "tozero"},
    )
    return figure


# ---- results


def hidden_notice() -> None:
    st.subheader("评议结果")
    st.info(f"{HIDDEN}:办公室按「公布结果」后在此显示。", icon=":material/lock:")


def score_text(row: Ranked) -> str:
    if row.combined is not None:
        return f"{row.combined:.2f}"
    return INSUFFICIENT_TEXT if row.insufficient else NO_SCORE


def ranking_frame(rows: list[Ranked], *, with_branch: bool) -> pd.DataFrame:
    """The category's ranking as shown: no number for a target whose groups are 样本不足."""
    data = {
        "名次": [str(r.rank) if r.rank is not None else "—" for r in rows],
        "评议对象": [r.name for r in rows],
        "综合得分": [score_text(r) for r in rows],
        "等级": [r.grade if r.combined is not None else "—" for r in rows],
        "好评率": [None if r.insufficient else r.good_rate for r in rows],
    }
    if with_branch:
        data = {
            "名次": data["名次"],
            "评议对象": data["评议对象"],
            "所在党支部": [r.branch_name for r in rows],
            **{k: v for k, v in data.items() if k not in ("名次", "评议对象")},
        }
    return pd.DataFrame(data)


def good_rate_figure(rows: list[Ranked]) -> go.Figure | None:
    """好评率 bars of the best-ranked targets with numbers, in rank order, the first on top."""
    shown = [r for r in rows if r.rank is not None and r.good_rate is not None][:TOP]
    if not shown:
        return None
    labels = [f"{r.rank}. {r.name}" for r in shown]
    figure = go.Figure(
        go.Bar(
            x=[(r.good_rate or 0.0) * 100 for r in shown],  # shown: each has a rate
            y=labels,
            orientation="h",
            text=[f"{r.good_rate:.1%} · {score_text(r)} 分 · {r.grade}" for r in shown],
            textposition="outside",
            cliponaxis=False,
            marker={"color": GROUP_COLOURS[0]},
            hovertemplate="%{y}:好评率 %{x:.1f}%<extra></extra>",
        )
    )
    figure.update_layout(
        height=60 + 46 * len(shown),
        font={"size": FONT},
        margin={"l": 0, "r": 290, "t": 8, "b": 0},
        xaxis={"range": [0, 100], "ticksuffix": "%", "title": None},
        yaxis={"autorange": "reversed", "title": None},
        bargap=0.25,
    )
    return large(figure)


def large(figure: go.Figure) -> go.Figure:
    """Every label at projector size: Streamlit's chart theme sets smaller tick labels."""
    figure.update_xaxes(tickfont={"size": FONT}, title_font={"size": FONT})
    figure.update_yaxes(tickfont={"size": FONT}, title_font={"size": FONT})
    figure.update_layout(font={"size": FONT}, legend={"font": {"size": FONT}})
    return figure


def results(
    standings: Standings,
    snapshot: MeetingSnapshot,
    load_detail: Callable[[int], TargetDetail],
) -> None:
    """One tab per category: its 好评率 bars, the full ranking, and one target drilled down.

    The tabs and each category's target are keyed widgets, so the office's choice survives
    every automatic refresh; only the open tab is drawn (and its target read)."""
    st.subheader("评议结果")
    low = [snapshot.group_name(g) for g, s in standings.group_status.items() if s != OK]
    if low:
        st.markdown(
            f"{md_escape('、'.join(low))}:有效票少于 {standings.min_ballots} 张,"
            f"{INSUFFICIENT_TEXT},不显示其评议数字。"
        )
    keys = list(standings.rankings)
    if not keys:
        st.markdown("本轮没有评议对象。")
        return
    labels = [TEMPLATE_LABELS[key] for key in keys]
    tabs = st.tabs(labels, key=CATEGORY, on_change="rerun")
    for key, tab in zip(keys, tabs, strict=True):
        if tab.open is False:
            continue
        with tab:
            _category(key, standings.rankings[key], load_detail)


def _category(
    key: TemplateKey, rows: list[Ranked], load_detail: Callable[[int], TargetDetail]
) -> None:
    """The ranking's head as 好评率 bars, everyone in a table to open, one target drilled down."""
    ranked = sum(r.rank is not None for r in rows)
    shown = min(ranked, TOP)
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown(
            f"**按综合得分排名{f'前 {shown} 名' if ranked > shown else ''}及好评率**"
            f"(共 {len(rows)} 个评议对象,{ranked} 个有得分)"
        )
        figure = good_rate_figure(rows)
        if figure is None:
            st.markdown(f"暂无得分:{INSUFFICIENT_TEXT}或尚无评议票。")
        else:
            st.plotly_chart(figure, config=PLOTLY_CONFIG, key=f"meeting_rates_{key}")
        with st.expander(f"完整排名(共 {len(rows)} 个)"):
            st.dataframe(
                ranking_frame(rows, with_branch=key in (TemplateKey.LEADER, TemplateKey.MEMBER)),
                hide_index=True,
                column_config={
                    "好评率": st.column_config.ProgressColumn(
                        "好评率", min_value=0.0, max_value=1.0, format="percent"
                    )
                },
                key=f"meeting_table_{key}",
            )
    with right:
        by_id = {r.target_id: r for r in rows}
        target_id = st.selectbox(
            "查看评议对象的分项情况",
            list(by_id),
            format_func=lambda tid: _option(by_id[tid]),
            key=f"{TARGET}{key}",
        )
        if target_id is not None:
            drill_down(by_id[target_id], load_detail(target_id))


def _option(row: Ranked) -> str:
    place = f"第 {row.rank} 名" if row.rank is not None else score_text(row)
    branch = f"({row.branch_name})" if row.branch_name else ""
    return f"{place} · {row.name}{branch}"


def detail_frame(detail: TargetDetail) -> pd.DataFrame:
    """Ratings per criterion and level (long form, for stacked bars)."""
    rows = []
    for criterion in detail.result.criteria:
        name = detail.criterion_names.get(criterion.criterion_id, str(criterion.criterion_id))
        for label, n in criterion.distribution.items():
            rows.append((name, label, n))
    return pd.DataFrame(rows, columns=["指标", "等级", "人次"])


def detail_figure(detail: TargetDetail) -> go.Figure:
    frame = detail_frame(detail)
    figure = go.Figure()
    rated_on = criteria.levels_for(detail.levels, [g.group_id for g in detail.result.groups])
    for index, level in enumerate(criteria.distinct_levels(rated_on)):
        part = frame[frame["等级"] == level.label]
        figure.add_trace(
            go.Bar(
                x=part["人次"],
                y=part["指标"],
                name=level.label,
                orientation="h",
                text=part["人次"].map(lambda n: str(n) if n else ""),
                textposition="inside",
                marker={"color": LEVEL_COLOURS[index % len(LEVEL_COLOURS)]},
                hovertemplate="%{y} · " + level.label + ":%{x} 人次<extra></extra>",
            )
        )
    figure.update_layout(
        barmode="stack",
        height=90 + 52 * max(len(detail.result.criteria), 1),
        font={"size": FONT},
        margin={"l": 0, "r": 16, "t": 8, "b": 0},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "traceorder": "normal"},
        yaxis={"autorange": "reversed", "title": None},
        xaxis={"title": "人次"},
    )
    return large(figure)


def drill_down(row: Ranked, detail: TargetDetail) -> None:
    result = detail.result
    with st.container(border=True, key="meeting_detail"):
        st.markdown(f"### {md_escape(result.name)}")
        if row.insufficient:
            st.markdown(f"评议群体的有效票数不足,{INSUFFICIENT_TEXT},不显示评议数字。")
            return
        figures = st.columns(4)
        figures[0].metric("名次", str(row.rank) if row.rank is not None else "—")
        figures[1].metric("综合得分", score_text(row))
        figures[2].metric("等级", row.grade)
        figures[3].metric("好评率", f"{row.good_rate:.1%}" if row.good_rate is not None else "—")
        parts = []
        for group in result.groups:
            name = detail.group_names.get(group.group_id, str(group.group_id))
            if group.status == INSUFFICIENT:
                parts.append(f"{name}:{INSUFFICIENT_TEXT}")
            elif group.score is None:
                parts.append(f"{name}:{NO_SCORE}")
            else:
                parts.append(f"{name}:{group.score:.2f} 分")
        if parts:
            st.markdown(md_escape("各群体得分 — " + ";".join(parts)))
        if any(c.rated or sum(c.distribution.values()) for c in result.criteria):
            st.plotly_chart(detail_figure(detail), config=PLOTLY_CONFIG, key="meeting_detail_chart")
            with st.expander("评价分布数据表"):
                table = detail_frame(detail).pivot_table(
                    index="指标", columns="等级", values="人次", aggfunc="sum", sort=False
                )
                st.dataframe(table, key="meeting_detail_table")
        else:
            st.markdown("尚无评议票。")
