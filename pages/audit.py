"""操作日志: what the office did, newest first; read-only."""

import pandas as pd
import streamlit as st

from pingyi import audit, db, ui
from pingyi.auth import Role
from pingyi.ui import auth as login

ui.through_app()
login.require(Role.ADMIN)

LIMIT = 1000

st.title("操作日志")
st.caption(
    "记录领导小组办公室的操作:账号、名册导入、轮次阶段、测评码发放和作废、评分设置、结果公布等。"
)

with db.session(ui.engine()) as s:
    choices = audit.actions(session=s)
action = st.selectbox("操作类型", [None, *choices], format_func=lambda a: a or "全部")
with db.session(ui.engine()) as s:
    events = audit.events(session=s, action=action, limit=LIMIT)

if not events:
    st.info("还没有记录。")
else:
    frame = pd.DataFrame(
        [(e.at, e.actor, e.action, e.detail) for e in events],
        columns=["时间", "操作人", "操作", "内容"],
    )
    frame["时间"] = pd.to_datetime(frame["时间"], utc=True).dt.tz_convert("Asia/Shanghai")
    st.dataframe(
        frame,
        hide_index=True,
        column_config={"时间": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")},
    )
    st.caption(f"显示最近 {len(events)} 条。" if len(events) == LIMIT else f"共 {len(events)} 条。")
