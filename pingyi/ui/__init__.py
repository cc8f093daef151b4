"""Streamlit pieces shared by the pages; the only part of pingyi that imports Streamlit."""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st
from sqlalchemy import Engine

from pingyi import bootstrap, db

APP_SCRIPT = Path(__file__).resolve().parents[2] / "app.py"


@st.cache_resource(show_spinner="正在准备数据库…")
def engine() -> Engine:
    """The process's one engine (thread-safe, shared by every session), migrated and seeded.

    Cached here rather than in `app.py` so every page can ask for it; the first caller in a
    process runs the migrations, later ones get the same engine at once.
    """
    bind = db.engine()
    bootstrap.initialize(bind)
    return bind


def through_app() -> None:
    """Make sure this page runs inside app.py's navigation, never on its own.

    Streamlit treats a `pages/` folder beside app.py as an old-style multipage app, which runs
    a page script directly, with every file listed in the sidebar. The server never is in
    that mode (app.py settles it when `streamlit run` imports it, before any session), but
    AppTest is, running app.py and switching pages in the test process: there, leave that
    mode and run app.py in this same run (its menu, its page config, then this page again),
    so a click that started the run is not lost as it would be by a rerun. Every page calls
    this first.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        runpy.run_path(str(APP_SCRIPT), run_name="__main__")
        st.stop()
