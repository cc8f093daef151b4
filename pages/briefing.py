"""通报情况: the briefing of a branch (or the 领导班子) for the meeting: its summary, its
members' summaries and commitments, the 调研督查 findings and open 整改 items; on screen and as
a print-ready page to download."""

from functools import partial

import pandas as pd
import streamlit as st

from pingyi import briefing, db, documents, rectification, rounds, summaries, ui
from pingyi.auth import Role
from pingyi.briefing import Briefing, BriefingError, Part
from pingyi.models import Step, TargetKind
from pingyi.ui import auth as login
from pingyi.ui.picker import pick_round
from pingyi.ui.text import md_escape

ui.through_app()
login.require(Role.ADMIN, Role.REVIEWER)

st.title("通报情况")
st.caption(
    "会上由支部书记通报本支部情况。每个党支部(和局领导班子)一份情况通报:"
    "支部和党员的自我小结、公开承诺兑现情况、调研督查情况和往期未完成的整改事项;"
    "可下载打印版(A4)。"
)

engine = ui.engine()
with db.session(engine) as s:
    opened = [r for r in rounds.list_rounds(session=s) if r.step != Step.DRAFT]
    current = rounds.current(session=s)

if not opened:
    st.info("还没有开启的评议轮次。")
    st.stop()

round_id: int = pick_round(opened, current, key="briefing_round").id

with db.session(engine) as s:
    subjects = [
        t
        for t in rounds.targets_of(session=s, round_id=round_id)
        if t.kind in (TargetKind.BRANCH, TargetKind.TEAM)
    ]
if not subjects:
    st.info("本轮评议没有党支部。")
    st.stop()
by_target = {t.id: t for t in subjects}
target_id: int = st.selectbox(
    "通报对象", list(by_target), format_func=lambda i: by_target[i].name, key="briefing_target"
)

try:
    with db.session(engine) as s:
        sheet = briefing.briefing_for(session=s, round_id=round_id, target_id=target_id)
except BriefingError as exc:
    st.error(str(exc))
    st.stop()


def _summary(part: Part, *, with_writer: bool) -> None:
    state = f"状态:{part.state}"
    if with_writer:
        state = f"填写人:{md_escape(part.writer) if part.writer else '(无)'};{state}"
    st.caption(state)
    if part.summary is None:
        return
    for field, label in summaries.SUMMARY_FIELDS.items():
        st.markdown(f"**{label}**")
        st.text(getattr(part.summary, field) or "(未填写)")


def _commitments(part: Part) -> None:
    if not part.commitments:
        st.caption("无公开承诺。")
        return
    st.dataframe(
        pd.DataFrame(
            [(c.text, c.status, c.evidence) for c in part.commitments],
            columns=["承诺内容", "兑现情况", "佐证材料"],
        ),
        hide_index=True,
        width="stretch",
    )


def _items(part: Part, sheet: Briefing) -> None:
    if not part.open_items:
        st.caption("无往期未完成的整改事项。")
        return
    st.dataframe(
        pd.DataFrame(
            [
                (i.text, i.deadline, rectification.status(i, sheet.made_on).value, i.evidence)
                for i in part.open_items
            ],
            columns=["整改事项", "期限", "状态", "进展"],
        ),
        hide_index=True,
        width="stretch",
    )


left, right = st.columns(2)
left.download_button(
    "下载打印版(HTML)",
    data=briefing.briefing_html(sheet),
    file_name=f"{sheet.round_name}-{sheet.title}.html",
    mime="text/html",
    icon=":material/print:",
    help="在浏览器中打开后打印(A4)",
)
right.download_button(
    "下载 Word 文档",
    data=partial(documents.briefing_docx, sheet),
    file_name=f"{sheet.round_name}-{sheet.title}.docx",
    mime=documents.DOCX_MIME,
    icon=":material/description:",
    on_click="ignore",
    help="用 Word 或 WPS 打开、修改、存档",
)
st.header(md_escape(sheet.title))
st.info(briefing.overview(sheet))

own = "支部" if sheet.kind == TargetKind.BRANCH else "班子"
st.subheader(f"{own}自我小结")
_summary(sheet.own, with_writer=True)
st.subheader(f"{own}公开承诺兑现情况")
_commitments(sheet.own)
if sheet.kind == TargetKind.BRANCH:
    st.subheader("调研督查情况")
    if sheet.inspections:
        st.dataframe(
            pd.DataFrame(
                [(i.visited_on, i.inspector, i.checked, i.findings) for i in sheet.inspections],
                columns=["日期", "调研人", "调研督查内容", "发现的情况"],
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("暂无调研督查记录。")
st.subheader("往期未完成的整改事项")
_items(sheet.own, sheet)

st.subheader(f"{sheet.members_label}自我小结及承诺兑现情况")
for part in sheet.members:
    with st.expander(f"{md_escape(part.name)}({part.state})"):
        _summary(part, with_writer=False)
        st.markdown("**公开承诺**")
        _commitments(part)
        if part.open_items:
            st.markdown("**往期未完成的整改事项**")
            _items(part, sheet)
