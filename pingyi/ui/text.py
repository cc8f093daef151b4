"""Putting text that came from people (names, cells of a roster file) into Markdown safely."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Markdown punctuation, plus ":" for Streamlit's :color[…] and :material/…: directives, "=" for
# a line of === under a line (a heading) and "&" for entities (&lt; would show as <).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$=&])")


def md_escape(text: str) -> str:
    """`text` shown as typed: never bold, a link, a heading or an icon."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def bullets(lines: Iterable[str]) -> str:
    """A Markdown list with one escaped item per line; a newline inside an item is a space."""
    return "\n".join(f"- {md_escape(' '.join(line.splitlines()))}" for line in lines)
