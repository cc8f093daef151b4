"""评议: page config and the navigation of this person's role; every page lives in pages/."""

import streamlit as st

from pingyi import auth, db, ui
from pingyi.ui import auth as login
from pingyi.ui import navigation

st.set_page_config(page_title="评议", page_icon=":material/how_to_vote:", layout="wide")
ui.engine()  # migrations and seed defaults, once per process


def page(spec: navigation.PageSpec, *, default: bool = False) -> st.Page:
    return st.Page(
        spec.path,
        title=spec.title,
        icon=spec.icon,
        url_path=spec.url_path or None,
        default=default,
    )


user = login.current_user()
with db.session(ui.engine()) as s:
    has_admin = auth.has_admin(session=s)
specs = navigation.menu(user, has_admin=has_admin)
menu: dict[str, list[st.Page]] = {}
for position, spec in enumerate(specs):
    menu.setdefault(spec.section, []).append(page(spec, default=position == 0))
# Evaluators (no account, QR link) open the ballot; it is in nobody's menu.
ballot = st.Page(
    navigation.BALLOT.path,
    title=navigation.BALLOT.title,
    icon=navigation.BALLOT.icon,
    url_path=navigation.BALLOT.url_path,
    visibility="hidden",
)
menu.setdefault("", []).append(ballot)
# Which page runs is known only once st.navigation has resolved the URL: ask with the menu
# hidden, and draw it (with who is logged in) for every page but the ballot.
current = st.navigation(menu, position="hidden")
if current is not ballot and user is not None:
    current = st.navigation(menu)
    login.sidebar(user)
current.run()
