"""The round picker most pages open with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from pingyi.models import STEP_LABELS, Round, Step


def round_label(round_: Round) -> str:
    return f"{round_.name}({STEP_LABELS[Step(round_.step)]})"


def pick_round(
    choices: Sequence[Round], current: Round | None, *, key: str, where: Any = st
) -> Round:
    """A selectbox of `choices` (newest first), starting at the current round when it is one
    of them; `where` is the container to draw it in (the sidebar, a column)."""
    by_id = {r.id: r for r in choices}
    ids = list(by_id)
    start = ids.index(current.id) if current is not None and current.id in by_id else 0
    chosen = where.selectbox(
        "评议轮次", ids, index=start, format_func=lambda i: round_label(by_id[i]), key=key
    )
    return by_id[chosen]
