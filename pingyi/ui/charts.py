"""Small plotly charts with Chinese labels, drawn the same way on every page."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

# The mode bar's zoom and lasso only get in the way on a 4-bar chart.
PLOTLY_CONFIG = {"displayModeBar": False}


def count_bars(frame: pd.DataFrame, *, label: str, title: str) -> go.Figure:
    """Horizontal bars of `frame["数量"]` per `frame[label]`, the first row on top."""
    figure = px.bar(frame, x="数量", y=label, orientation="h", text="数量", title=title)
    figure.update_traces(textposition="outside", cliponaxis=False)
    figure.update_layout(
        height=80 + 48 * max(len(frame), 1),
        margin={"l": 0, "r": 24, "t": 40, "b": 0},
        xaxis_title=None,
        yaxis_title=None,
        yaxis={"autorange": "reversed"},
    )
    return figure
