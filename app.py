"""评议: page config and navigation; every page lives in pages/."""

import streamlit as st

from pingyi import ui

st.set_page_config(page_title="评议", page_icon=":material/how_to_vote:", layout="wide")
ui.engine()  # migrations and seed defaults, once per process

# One line per page. The first with default=True opens at "/"; the others at /<url_path>.
PAGES = [
    st.Page("pages/home.py", title="首页", icon=":material/home:", default=True),
    st.Page("pages/roster.py", title="名册", icon=":material/groups:", url_path="roster"),
    st.Page(
        "pages/relations.py", title="评议关系", icon=":material/account_tree:", url_path="relations"
    ),
    st.Page("pages/codes.py", title="测评码", icon=":material/qr_code_2:", url_path="codes"),
    st.Page("pages/meeting.py", title="会议大屏", icon=":material/co_present:", url_path="meeting"),
    st.Page("pages/results.py", title="结果", icon=":material/leaderboard:", url_path="results"),
    st.Page("pages/settings.py", title="评分设置", icon=":material/tune:", url_path="settings"),
]

# The 群众评议 ballot: evaluators (no account, QR link) never see the office's menu, and the
# office's menu does not list it.
BALLOT = st.Page(
    "pages/ballot.py",
    title="群众评议",
    icon=":material/how_to_vote:",
    url_path="ballot",
    visibility="hidden",
)
# Which page runs is known only once st.navigation has resolved the URL: ask with the menu
# hidden, and draw it for every page but the ballot.
page = st.navigation([*PAGES, BALLOT], position="hidden")
if page is not BALLOT:
    page = st.navigation([*PAGES, BALLOT])
page.run()
