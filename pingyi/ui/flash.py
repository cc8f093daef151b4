"""A message that survives the rerun after a change: set before `st.rerun()`, shown once by
the page's next run."""

from __future__ import annotations

from typing import Literal

import streamlit as st

Kind = Literal["success", "info"]
_KEY = "flash"


def flash(message: str, *, kind: Kind = "success", slot: str = "") -> None:
    """Keep `message` (Markdown) for the next run; `slot` tells apart two places on a page."""
    st.session_state[f"{_KEY}_{slot}"] = (kind, message)


def show_flash(*, slot: str = "") -> None:
    """Show, once, the message kept by `flash` for this slot."""
    kept = st.session_state.pop(f"{_KEY}_{slot}", None)
    if kept is None:
        return
    kind, message = kept
    if kind == "info":
        st.info(message)
    else:
        st.success(message)
