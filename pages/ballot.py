"""群众评议: one anonymous ballot per 测评码 (typed, or the QR link's ?code=), no account."""

import streamlit as st

from pingyi import ui
from pingyi.ui import ballot as view

ui.through_app()
view.style()
st.title("群众评议")

if view.SUBMITTED in st.session_state:
    view.thank_you()  # also after the back button: a stored ballot is never shown again
    st.stop()
if view.locked_seconds():
    view.lock_notice()
    st.stop()

ballot = view.current_ballot()
if ballot is None:
    # Locked here after one wrong code too many, or paused for every tab of the process.
    if view.locked_seconds() or view.paused_seconds():
        view.lock_notice()
    else:
        view.code_entry()
    view.device_check()
    st.stop()

view.header(ballot)
view.element(ballot)
