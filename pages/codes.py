"""测评码: participation per group, issue codes with printable slips, revoke a code."""

import streamlit as st

from pingyi import codes, criteria, db, rounds, ui
from pingyi.auth import Role
from pingyi.codes import CodeError
from pingyi.models import Step
from pingyi.rounds import RoundError
from pingyi.ui import auth as login
from pingyi.ui.codes import (
    Batch,
    counts_frame,
    default_count,
    progress_text,
    revoke_typed,
    slip_address,
    submitted_share,
)
from pingyi.ui.flash import flash, show_flash
from pingyi.ui.picker import pick_round
from pingyi.ui.text import md_escape

ui.through_app()
user = login.require(Role.ADMIN)

BATCHES = "codes_batches"  # list[Batch], newest first: the only place plain codes live
# The issue button's key carries this token and every click moves it on, so a second rerun
# from the same click (double click, fast rerun) finds no button with its key: it cannot
# issue again.
TOKEN = "codes_issue_token"

st.title("测评码")
st.caption(
    "测评码随机生成、一次有效;数据库只保存其加密摘要,明文只在生成时显示一次。"
    "统计只按群体计数,不记录哪个测评码发给了谁。"
)

with db.session(ui.engine()) as s:
    all_rounds = rounds.list_rounds(session=s)
    current = rounds.current(session=s)

if not all_rounds:
    st.info("还没有评议轮次:请先创建并开启评议轮次,再发放测评码。")
    st.stop()

round_ = pick_round(all_rounds, current, key="codes_round")
round_id: int = round_.id
closed = Step(round_.step) == Step.CLOSED

with db.session(ui.engine()) as s:
    counts = codes.counts(session=s, round_id=round_id)

st.subheader("参与情况")
st.dataframe(counts_frame(counts), hide_index=True)
for count in counts:
    st.progress(submitted_share(count), text=progress_text(count))

base_url = None if closed else slip_address()

st.subheader("发放测评码")
show_flash()
if closed:
    st.info(f"「{md_escape(round_.name)}」已结束,不能再发放测评码。")
else:
    by_id = {c.group_id: c for c in counts}
    token = st.session_state.setdefault(TOKEN, 0)
    group_column, count_column, button_column = st.columns([2, 1, 1], vertical_alignment="bottom")
    group_id = group_column.selectbox(
        "评议群体",
        list(by_id),
        format_func=lambda i: by_id[i].group_name,
        key="codes_group",
    )
    chosen = by_id[group_id]
    number = count_column.number_input(
        "数量",
        min_value=1,
        max_value=codes.MAX_PER_ISSUE,
        value=default_count(chosen),
        step=1,
        # Keyed by group and token: the default follows the group and what is already issued.
        key=f"codes_count_{round_id}_{group_id}_{token}",
        help=f"应到 {chosen.headcount} 人,已发放 {chosen.issued} 个",
    )
    if base_url is None:
        st.caption("请先在上方填好手机能访问的地址,再生成测评码条。")
    if (
        button_column.button(
            "生成测评码",
            key=f"codes_issue_{token}",
            type="primary",
            icon=":material/qr_code_2:",
            disabled=base_url is None,
        )
        and base_url is not None
    ):
        st.session_state[TOKEN] = token + 1
        try:
            with st.spinner("正在生成测评码和打印页…"):
                with db.transaction(ui.engine()) as s:
                    plain = codes.issue(
                        session=s,
                        round_id=round_id,
                        group_id=group_id,
                        count=int(number),
                        actor=user.name,
                    )
                    form = criteria.group_form(session=s, round_id=round_id, group_id=group_id)
                # Kept before anything is drawn: once committed, these codes exist nowhere else.
                batch = Batch(
                    id=token,
                    round_name=round_.name,
                    group_name=chosen.group_name,
                    codes=tuple(plain),
                    base_url=base_url,
                    form=form.kind_label,
                )
                st.session_state[BATCHES] = [batch, *st.session_state.get(BATCHES, [])]
                flash(
                    f"已为「{chosen.group_name}」生成 {len(plain)} 个测评码,"
                    "上表的已发放数量已更新。"
                )
                # Draw the sheet now, under the spinner, not on the next rerun.
                _ = batch.slips_page
        except (CodeError, RoundError) as exc:
            st.error(str(exc))
        else:
            st.rerun()

batches: list[Batch] = st.session_state.get(BATCHES, [])
if batches:
    st.warning(
        "测评码只在此时显示,离开本页后无法再次查看,请立即下载或打印。",
        icon=":material/warning:",
    )
    for batch in batches:
        with st.container(border=True):
            st.markdown(
                f"**{md_escape(batch.group_name)}** · {len(batch.codes)} 个 · "
                f"{md_escape(batch.round_name)} · 生成于 {batch.issued_at:%H:%M:%S}"
            )
            left, right = st.columns([1, 1, 2])[:2]

            left.download_button(
                "打印页(A4 测评码条)",
                batch.slips_page,
                file_name=f"{batch.stem}.html",
                mime="text/html",
                key=f"codes_slips_{batch.id}",
                icon=":material/print:",
                on_click="ignore",
                help="用浏览器打开后打印:A4 纸,缩放 100%,沿虚线裁开",
            )
            right.download_button(
                "测评码 CSV",
                batch.csv,
                file_name=f"{batch.stem}.csv",
                mime="text/csv",
                key=f"codes_csv_{batch.id}",
                icon=":material/download:",
                on_click="ignore",
            )
            st.caption("打印页预览(前几张)")
            st.iframe(batch.preview_html(), height=480)
            with st.expander(f"查看全部 {len(batch.codes)} 个测评码"):
                st.dataframe(batch.codes_frame(), hide_index=True)
    if st.button("清除显示", icon=":material/visibility_off:", help="清除后无法再次查看这些测评码"):
        del st.session_state[BATCHES]
        st.rerun()

st.subheader("作废测评码")
st.caption("测评码条遗失或印错时作废;已作废的测评码不能再用于评议。已使用的测评码不能作废。")
show_flash(slot="revoked")
with st.form("codes_revoke", clear_on_submit=True, enter_to_submit=True):
    typed = st.text_input("测评码", placeholder="例如 ABCD EFGH", key="codes_revoke_code")
    submitted = st.form_submit_button("作废", icon=":material/block:")
if submitted:
    try:
        with db.transaction(ui.engine()) as s:
            message = revoke_typed(session=s, typed=typed, round_id=round_id, actor=user.name)
    except CodeError as exc:
        st.error(str(exc))
    else:
        flash(message, slot="revoked")
        st.rerun()  # the counts above include this code now
