"""名册: units, branches and members as filterable tables; import a roster file; downloads."""

from datetime import date

import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from pingyi import db, demo, roster, ui
from pingyi.auth import Role
from pingyi.roster import ImportReport
from pingyi.ui import auth as login
from pingyi.ui import tables
from pingyi.ui.text import bullets

ui.through_app()
user = login.require(Role.ADMIN)

IMPORTED = "roster_imported"  # (file id, report): a rerun shows the report, never imports again
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ALL_UNITS, ALL_BRANCHES = "全部单位", "全部党支部"


def import_upload(uploaded: UploadedFile) -> ImportReport:
    """Import the uploaded file once: every rerun while it stays in the uploader reuses it."""
    last = st.session_state.get(IMPORTED)
    if last is None or last[0] != uploaded.file_id:
        with st.spinner("正在检查并导入名册…"), db.transaction(ui.engine()) as s:
            report = roster.import_roster(
                session=s, filename=uploaded.name, data=uploaded.getvalue(), actor=user.name
            )
        last = st.session_state[IMPORTED] = (uploaded.file_id, report)
    return last[1]


def show_report(report: ImportReport) -> None:
    if not report.ok:
        st.error(f"{report.summary()}\n\n{bullets(str(error) for error in report.errors)}")
        return
    st.success(report.summary())
    details = report.lines()[1:]
    if details:
        with st.expander(f"变动明细({len(details)} 条)"):
            st.markdown(bullets(details))


@st.fragment
def members_table(frame: pd.DataFrame) -> None:
    """Filters rerun only this table, not the page and its downloads."""
    login.recheck_in_fragment()
    unit_column, branch_column, query_column = st.columns(3)
    unit = unit_column.selectbox("单位", [ALL_UNITS, *frame["单位"].unique()])
    branch = branch_column.selectbox("党支部", [ALL_BRANCHES, *frame["党支部"].unique()])
    query = query_column.text_input("姓名或编号", placeholder="输入姓名或编号查找")
    flag_columns = st.columns(len(tables.FLAG_COLUMNS) + 1, vertical_alignment="center")
    flag_columns[0].markdown("**只看:**")
    flags = tuple(
        flag
        for column, flag in zip(flag_columns[1:], tables.FLAG_COLUMNS, strict=True)
        if column.checkbox(flag, key=f"roster_flag_{flag}")
    )
    chosen = tables.MemberFilter(
        unit=None if unit == ALL_UNITS else unit,
        branch=None if branch == ALL_BRANCHES else branch,
        query=query,
        flags=flags,
    )
    shown = tables.filter_members(frame, chosen)
    st.caption(f"共 {len(shown)} 人(名册共 {len(frame)} 人)")
    st.dataframe(shown, hide_index=True, column_order=tables.MEMBER_COLUMNS)


st.title("名册")

with db.session(ui.engine()) as s:
    has_data = demo.has_data(session=s)

with st.expander("导入名册、下载模板", expanded=not has_data, icon=":material/upload_file:"):
    upload_column, download_column = st.columns([3, 2], gap="large")
    with upload_column:
        uploaded = st.file_uploader(
            "上传名册文件(.xlsx 或 .csv)",
            type=["xlsx", "csv"],
            key="roster_upload",
            help="全部行都正确才会导入;有任何错误时不做任何改动。名册中没有的党员会被移出名册。",
        )
    with download_column:
        st.markdown("**名册模板**(表头和填写说明)")
        left, right = st.columns(2)
        left.download_button(
            "模板 Excel",
            roster.template_bytes("xlsx"),
            file_name="名册模板.xlsx",
            mime=XLSX,
            icon=":material/download:",
            on_click="ignore",
        )
        right.download_button(
            "模板 CSV",
            roster.template_bytes("csv"),
            file_name="名册模板.csv",
            mime="text/csv",
            icon=":material/download:",
            on_click="ignore",
        )
        st.caption(f"是/否各列:{roster.FLAG_SPELLINGS}")

if uploaded is not None:
    show_report(import_upload(uploaded))

with db.session(ui.engine()) as s:
    members = roster.active_members(session=s)
    branches = roster.active_branches(session=s)
    units = roster.units(session=s)
    table = roster.roster_table(session=s)
    if not table.empty:
        current_xlsx = roster.roster_bytes(session=s, fmt="xlsx")
        current_csv = roster.roster_bytes(session=s, fmt="csv")

if table.empty:
    st.info("名册是空的:请上传名册文件,或在首页加载示例数据。")
    st.stop()

units_frame = tables.units_frame(units, branches, members)
columns = st.columns([1, 1, 1, 2])
columns[0].metric("单位", len(units_frame))
columns[1].metric("党支部", len(branches))
columns[2].metric("党员", len(members))
with columns[3]:
    st.markdown("**下载当前名册**(可修改后重新导入)")
    stamp = date.today().strftime("%Y%m%d")
    left, right = st.columns(2)
    left.download_button(
        "名册 Excel",
        current_xlsx,
        file_name=f"名册_{stamp}.xlsx",
        mime=XLSX,
        icon=":material/download:",
        on_click="ignore",
    )
    right.download_button(
        "名册 CSV",
        current_csv,
        file_name=f"名册_{stamp}.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )

member_tab, branch_tab, unit_tab = st.tabs(["党员", "党支部", "单位"])
with member_tab:
    members_table(tables.members_frame(table))
with branch_tab:
    st.dataframe(tables.branches_frame(branches, members, units), hide_index=True)
with unit_tab:
    st.dataframe(units_frame, hide_index=True)
