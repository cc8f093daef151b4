"""会议大屏: participation and submissions live on the projector; results once published.

Two views of one page: the office's (with the menu and the sidebar's 大屏控制: the round,
公布结果, 结束评议并开箱计票) and the projected one, `/meeting?screen=1[&round=ID]`, with no menu,
sidebar or Streamlit toolbar, larger type, and the ballot page's QR code while a group's
evaluation is open. Nothing can be changed from the projected view."""

import streamlit as st

from pingyi import box, db, evaluation, meeting, rounds, ui
from pingyi.auth import Role
from pingyi.models import Round
from pingyi.ui import auth as login
from pingyi.ui import meeting as view
from pingyi.ui.flash import flash, show_flash
from pingyi.ui.picker import pick_round
from pingyi.ui.text import md_escape

ui.through_app()
user = login.require(Role.ADMIN)

# Seconds between refreshes: a ballot shows within a few seconds, and one refresh reads only
# counts (codes and tallies), never the ratings.
REFRESH_SECONDS = 3

projector = view.is_projector()
view.style(projector=projector)

with db.session(ui.engine()) as s:
    all_rounds = rounds.list_rounds(session=s)
    current = rounds.current(session=s)

if not all_rounds:
    st.title("会议大屏")
    st.info("还没有评议轮次:请先创建并开启评议轮次。")
    st.stop()


def projected_round() -> Round:
    """The round the projected view shows: ?round=ID, else the current one, else the newest."""
    wanted = st.query_params.get("round")
    chosen = next((r for r in all_rounds if wanted is not None and str(r.id) == wanted), None)
    return chosen or current or all_rounds[0]


def control_sidebar() -> Round:
    """大屏控制: which round, 公布结果 / 隐藏结果, and the link to the projected view."""
    st.subheader("大屏控制")
    round_ = pick_round(all_rounds, current, key="meeting_round")
    round_id: int = round_.id
    if round_.results_published:
        st.success("评议结果已公布,正在大屏显示。")
        hide = st.button("隐藏结果", key="meeting_hide", icon=":material/visibility_off:")
        show = False
    else:
        st.caption("评议结果在公布前不会显示在大屏上。")
        show = st.button(
            "公布结果", key="meeting_publish", type="primary", icon=":material/campaign:"
        )
        hide = False
    if show or hide:
        with db.transaction(ui.engine()) as s:
            meeting.publish(session=s, round_id=round_id, published=show, actor=user.name)
        st.rerun()
    st.link_button(
        "打开投影画面",
        f"meeting?{view.SCREEN}=1&round={round_id}",
        icon=":material/cast:",
        help="在投影仪所连的窗口中打开(需在该窗口登录):只有大屏内容,没有菜单和控制按钮",
    )
    return round_


@st.fragment(run_every=REFRESH_SECONDS)
def evaluation_controls(round_id: int) -> None:
    """结束评议并开箱计票 per group: refreshed with the screen, so a group that starts voting
    after the page was opened gets its button."""
    login.recheck_in_fragment()
    with db.session(ui.engine()) as s:
        states = evaluation.status(session=s, round_id=round_id)
    to_count = view.close_controls(states)
    if to_count is None:
        return
    with st.spinner("正在开箱计票并封存数据库……"):
        try:
            done = evaluation.close(
                ui.engine(), round_id=round_id, group_id=to_count, actor=user.name
            )
        except (evaluation.EvaluationError, box.BoxError) as exc:
            st.error(str(exc))
            return
    flash(
        f"「{done.group_name}」已开箱计票:{done.ballots} 票计入结果(一刀切 {done.uniform} 票)"
        + ("" if done.sealed else ";数据库文件未能封存,请稍后重试(见日志)"),
        slot="counted",
    )
    st.rerun()  # the whole page: participation and results now include the count


if projector:
    round_ = projected_round()
else:
    with st.sidebar:
        round_ = control_sidebar()
        show_flash(slot="counted")
        evaluation_controls(round_.id)
round_id: int = round_.id

st.title(md_escape(round_.name))


def detail(round_id: int, target_id: int) -> meeting.TargetDetail:
    with db.session(ui.engine()) as s:
        return meeting.target_detail(session=s, round_id=round_id, target_id=target_id)


@st.fragment(run_every=REFRESH_SECONDS)
def live(round_id: int) -> None:
    """Everything that changes while people vote: redrawn alone, without rerunning the page."""
    login.recheck_in_fragment()
    with db.session(ui.engine()) as s:
        snapshot = meeting.snapshot(session=s, round_id=round_id)
        states = evaluation.status(session=s, round_id=round_id) if projector else []
    voting = [state.group_name for state in states if state.issued and not state.counted]
    with st.container(key=view.LIVE):
        if voting:
            view.ballot_qr(voting)
        view.header(snapshot)
        view.participation(snapshot)
        if snapshot.standings is None:
            view.hidden_notice()
        else:
            view.results(snapshot.standings, snapshot, lambda tid: detail(round_id, tid))
        view.timeline(snapshot)


live(round_id)
