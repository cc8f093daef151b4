"""结果: a round's results per category, participation, and a report card per target."""

from datetime import UTC, datetime
from functools import partial

import streamlit as st
from sqlalchemy import Engine

from pingyi import (
    codes,
    criteria,
    db,
    documents,
    meeting,
    reports,
    reviews,
    rounds,
    scoring,
    ui,
)
from pingyi.auth import Role
from pingyi.models import TEMPLATE_LABELS, Round, TemplateKey
from pingyi.scoring import LEADER, MASS, NO_GRADE, OK, RoundResult, ScoringError, TargetResult
from pingyi.ui import auth as login
from pingyi.ui import charts
from pingyi.ui import meeting as meeting_view
from pingyi.ui import results as view
from pingyi.ui.picker import pick_round
from pingyi.ui.text import bullets, md_escape

ui.through_app()
login.require(Role.ADMIN)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = documents.DOCX_MIME
NO_LEADER_REVIEWS = "暂无已提交的领导点评。"


def workbook(engine: Engine, round_id: int) -> bytes:
    with db.session(engine) as s:
        return reports.summary_workbook(session=s, round_id=round_id)


def report_page(engine: Engine, round_id: int, target_id: int) -> str:
    with db.session(engine) as s:
        return reports.target_report_html(session=s, round_id=round_id, target_id=target_id)


def report_document(engine: Engine, round_id: int, target_id: int) -> bytes:
    with db.session(engine) as s:
        report = reports.target_report(session=s, round_id=round_id, target_id=target_id)
    return documents.target_report_docx(report)


def show_category(
    result: RoundResult, round_id: int, key: TemplateKey, group_names: dict[int, str]
) -> None:
    """The category's table, best first, with filters; headers sort it on click."""
    frame = view.category_frame(result, key, group_names)
    if frame.empty:
        st.caption("本轮没有此类评议对象。")
        return
    chosen = view.ResultFilter()
    if len(frame) > 1:
        prefix = f"results_{round_id}_{key}"
        branch_column, query_column, grade_column = st.columns(3)
        branches = sorted(b for b in frame[view.BRANCH].unique() if b)
        chosen = view.ResultFilter(
            branches=tuple(
                branch_column.multiselect(
                    "党支部", branches, key=f"{prefix}_branches", placeholder="全部党支部"
                )
            ),
            query=query_column.text_input(
                "名称", key=f"{prefix}_query", placeholder="输入名称查找"
            ),
            grades=tuple(
                grade_column.multiselect(
                    "等级",
                    view.grade_options(result),
                    key=f"{prefix}_grades",
                    placeholder="全部等级",
                )
            ),
        )
    shown = view.filter_results(frame, chosen)
    st.caption(f"共 {len(shown)} 个(本类共 {len(frame)} 个);点击表头可排序。")
    config = {
        column: st.column_config.NumberColumn(format="%.2f")
        for column in view.number_columns(frame)
    }
    config[view.RANK] = st.column_config.NumberColumn(format="%d")
    config[view.CHANGE] = st.column_config.NumberColumn(format="%+.2f")
    st.dataframe(shown, hide_index=True, column_config=config, placeholder=view.NOT_RATED)


def show_report_card(
    engine: Engine,
    round_: Round,
    result: RoundResult,
    target: TargetResult,
    group_names: dict[int, str],
    criterion_names: dict[int, str],
) -> None:
    round_id: int = round_.id
    try:
        with db.session(engine) as s:
            comments = reports.mass_comments(session=s, round_id=round_id, target=target)
            leader_reviews = reviews.submitted_reviews(
                session=s, round_id=round_id, target_id=target.target_id
            )
            points = scoring.trend(session=s, key=target.key, until_round_id=round_id)
    except ScoringError as exc:
        st.error(str(exc))
        return

    columns = st.columns(5)
    columns[0].metric(
        view.COMBINED,
        NO_GRADE if target.combined is None else f"{target.combined:.2f}",
        delta=None if target.change is None else f"{target.change:+.2f}",
        help="箭头为较上轮变化",
    )
    columns[1].metric(view.GRADE, target.grade_label)
    columns[2].metric(
        "类别内排名",
        NO_GRADE if target.rank is None else f"第 {target.rank} 名",
        help=f"{TEMPLATE_LABELS[TemplateKey(target.template_key)]}中有得分的共 "
        f"{view.ranked_count(result, target.template_key)} 个",
    )
    columns[3].metric(
        view.MASS, NO_GRADE if target.mass_score is None else f"{target.mass_score:.2f}"
    )
    columns[4].metric(
        view.LEADER, NO_GRADE if target.leader_score is None else f"{target.leader_score:.2f}"
    )
    if LEADER in target.missing and target.combined is not None:
        st.caption("暂无领导点评得分,综合得分暂按群众评议得分计。")
    if MASS in target.missing and target.combined is not None:
        st.caption("群众评议样本不足,综合得分暂按领导点评得分计。")

    st.markdown("**群众评议**")
    if not target.groups:
        st.caption("本对象不参加群众评议。")
    else:
        st.dataframe(view.group_scores_frame(target, group_names), hide_index=True)
        if any(g.status == OK for g in target.groups):
            levels = result.levels_of(target)
            st.plotly_chart(
                view.distribution_chart(target, levels, criterion_names),
                config=charts.PLOTLY_CONFIG,
            )
            st.plotly_chart(
                view.good_rate_chart(target, criterion_names), config=charts.PLOTLY_CONFIG
            )
            by_group = view.group_distribution_chart(target, group_names, criterion_names, levels)
            if by_group is not None:
                st.plotly_chart(by_group, config=charts.PLOTLY_CONFIG)
            st.caption("好评率 =(好 + 较好)÷ 参评票数;参评不含不了解。")
            # The charts' figures as a table: for screen readers, and to copy.
            st.dataframe(
                view.distribution_frame(target, group_names, criterion_names, levels),
                hide_index=True,
                column_config={
                    view.GOOD_RATE_COLUMN: st.column_config.NumberColumn(format="percent")
                },
                placeholder=view.NOT_RATED,
            )
        else:
            st.info("各评议群体均样本不足,不显示分项评价。", icon=":material/visibility_off:")

    st.markdown("**领导点评**")
    if not leader_reviews:
        st.caption(NO_LEADER_REVIEWS)
    for review in leader_reviews:
        with st.container(border=True):
            st.markdown(view.review_markdown(review))

    st.markdown("**群众意见建议**")
    if comments:
        st.markdown(bullets(comments))
    else:
        st.caption("暂无意见建议。")
    if any(g.status != OK for g in target.groups):
        st.caption("样本不足的评议群体的意见建议不予显示。")

    if len(points) <= 1:
        st.caption("只有本轮的评议结果,暂无历次趋势。")
    elif all(p.combined is None for p in points):
        st.caption("历次评议均暂无综合得分。")
    else:
        st.plotly_chart(
            view.trend_chart(points, result.settings.grades), config=charts.PLOTLY_CONFIG
        )
        st.dataframe(view.trend_frame(points), hide_index=True, placeholder=view.NOT_RATED)

    stem = f"评议结果报告_{view.safe_file_part(target.name)}_{view.safe_file_part(round_.name)}"
    left, right = st.columns(2)
    left.download_button(
        "下载评议结果报告(可打印)",
        partial(report_page, engine, round_id, target.target_id),
        file_name=f"{stem}.html",
        mime="text/html",
        icon=":material/print:",
        on_click="ignore",
        key=f"results_report_{round_id}_{target.target_id}",
        help="用浏览器打开后打印:A4 纸,缩放 100%",
    )
    right.download_button(
        "下载 Word 文档",
        partial(report_document, engine, round_id, target.target_id),
        file_name=f"{stem}.docx",
        mime=DOCX,
        icon=":material/description:",
        on_click="ignore",
        key=f"results_report_docx_{round_id}_{target.target_id}",
        help="用 Word 或 WPS 打开、修改、存档",
    )


st.title("评议结果")

engine = ui.engine()
with db.session(engine) as s:
    all_rounds = rounds.list_rounds(session=s)
    current = rounds.current(session=s)

if not all_rounds:
    st.info("还没有评议轮次:请先创建并开启评议轮次。")
    st.stop()

round_ = pick_round(all_rounds, current, key="results_round")
round_id: int = round_.id

try:
    with db.session(engine) as s:
        result = scoring.round_results(session=s, round_id=round_id)
        counts = codes.counts(session=s, round_id=round_id)
        criterion_names = criteria.criterion_names(session=s, round_id=round_id)
        submissions = meeting.submissions_of(session=s, round_id=round_id)
except ScoringError as exc:
    st.error(str(exc))
    st.page_link("pages/settings.py", label="修改评分设置", icon=":material/tune:")
    st.stop()

if not result.targets:
    st.info(f"「{md_escape(round_.name)}」尚未开启,还没有评议对象和结果。")
    st.stop()

group_names = {c.group_id: c.group_name for c in counts}
settings = result.settings
state = (
    "结果已公布,评分设置已冻结。" if round_.results_published else "结果尚未公布,随评议票实时更新。"
)
st.caption(
    f"{state}综合得分 = 领导点评 {settings.leader_weight * 100:g}% + 群众评议 "
    f"{settings.mass_weight * 100:g}%;每个评议群体少于 {settings.min_ballots} 份有效票的"
    "显示「样本不足」,不计入得分" + (",一刀切票不计入。" if settings.drop_uniform else "。")
)
left, right, _ = st.columns([1, 1, 2])
left.download_button(
    "下载汇总表(Excel)",
    partial(workbook, engine, round_id),
    file_name=f"测评结果汇总表_{view.safe_file_part(round_.name)}.xlsx",
    mime=XLSX,
    icon=":material/download:",
    on_click="ignore",
    key=f"results_workbook_{round_id}",
)
right.page_link("pages/settings.py", label="评分设置", icon=":material/tune:")

st.subheader("参与情况")
st.dataframe(
    view.participation_frame(result, counts),
    hide_index=True,
    column_config={"一刀切占比": st.column_config.NumberColumn(format="percent")},
    placeholder=view.NOT_RATED,
)

st.subheader("参评进度")
timeline = meeting_view.submissions_frame(
    submissions, lambda gid: group_names.get(gid, f"评议群体 {gid}"), datetime.now(UTC)
)
if timeline.empty:
    st.caption("尚无提交的评议票。")
else:
    st.plotly_chart(
        meeting_view.timeline_figure(timeline, "各评议群体累计提交的评议票"),
        config=charts.PLOTLY_CONFIG,
    )
    st.dataframe(
        timeline,
        hide_index=True,
        column_config={"时间": st.column_config.DatetimeColumn(format="MM-DD HH:mm")},
    )

st.subheader("分类结果")
tabs = st.tabs([label for _, label in view.CATEGORIES])
for (key, _label), tab in zip(view.CATEGORIES, tabs, strict=True):
    with tab:
        show_category(result, round_id, key, group_names)

st.subheader(view.HEATMAP_TITLE)
heat = view.branch_heatmap_frame(result, criterion_names)
if heat.empty:
    st.caption("暂无党员的有效群众评议。")
else:
    st.plotly_chart(view.branch_heatmap(heat), config=charts.PLOTLY_CONFIG)
    # The same figures as a table: for screen readers, and to copy.
    st.dataframe(
        heat,
        column_config={c: st.column_config.NumberColumn(format="percent") for c in heat.columns},
    )

st.subheader("评议对象报告")
targets = {t.target_id: t for t in result.targets}
# The first target with a score opens, not one that is all 暂无.
first = next((n for n, t in enumerate(result.targets) if t.combined is not None), 0)
target_id = st.selectbox(
    "评议对象",
    list(targets),
    index=first,
    format_func=lambda i: view.target_label(targets[i]),
    key=f"results_target_{round_id}",
)
with st.container(border=True):
    show_report_card(engine, round_, result, targets[target_id], group_names, criterion_names)
