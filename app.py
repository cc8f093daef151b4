"""评议: page config and the navigation of this person's role; every page lives in pages/.

`streamlit run app.py` finds `app` below and serves it (uvicorn): Streamlit with the app's own
routes beside it (pingyi/ui/login_routes.py, which set the login cookie). Each session runs this
file as its page script, where `__name__` is "__main__".
"""

import streamlit as st
from sqlalchemy.exc import DBAPIError
from streamlit.runtime.pages_manager import PagesManager

from pingyi import auth, db, ui
from pingyi.ui import auth as login
from pingyi.ui import navigation
from pingyi.ui.login_routes import ROUTES


def main() -> None:
    st.set_page_config(page_title="评议", page_icon="🗳️", layout="wide")
    try:
        ui.engine()  # migrations and seed defaults, once per process
        user = login.current_user()
        with db.session(ui.engine()) as s:
            has_admin = auth.has_admin(session=s)
    except DBAPIError:  # a restart or failover of the database: say so, the next load retries
        st.error("数据库暂时无法连接,请稍后刷新页面。如果一直如此,请联系领导小组办公室。")
        st.stop()
    shown = navigation.menu(user, has_admin=has_admin)

    # Every page is registered, so a typed URL reaches it and the page says why it shows
    # nothing; the menu lists this person's pages only. The first listed page is the landing
    # page at "/".
    menu: dict[str, list[st.Page]] = {}
    for spec in [*shown, *(spec for spec in navigation.ALL if spec not in shown)]:
        menu.setdefault(spec.section if spec in shown else "", []).append(
            st.Page(
                spec.path,
                title=spec.title,
                icon=spec.icon,
                url_path=spec.url_path or None,
                default=spec is shown[0],
                visibility="visible" if spec in shown else "hidden",
            )
        )
    # Which page runs is known only once st.navigation has resolved the URL: ask with the menu
    # hidden, and draw it (with who is logged in) for logged-in people, never on the ballot.
    current = st.navigation(menu, position="hidden")
    with_menu = user is not None and not navigation.bare(
        current.url_path, st.query_params.to_dict()
    )
    if user is not None and with_menu:
        current = st.navigation(menu, expanded=True)
        login.sidebar(user)
    login.cookie_errand(in_sidebar=with_menu)  # before the page, which may stop the run
    current.run()


if __name__ == "__main__":
    main()
else:
    # Streamlit takes a `pages/` folder beside app.py for an old-style multipage app and, on a
    # session's first run, draws a menu of its file names before app.py's own navigation
    # replaces it. The flag is read once per process when still unset: this app only ever
    # navigates through `st.navigation`, so settle it before any session starts.
    PagesManager.uses_pages_directory = False
    app = st.App(__file__, routes=ROUTES)
