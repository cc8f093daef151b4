"""The print-ready pages (code slips, initial passwords, result reports) from Jinja2 templates
in pingyi/templates; autoescape makes every value from people inert HTML."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape


def _lines(text: object) -> Markup:
    """Escaped, its line breaks kept as <br> (what people typed in several lines)."""
    return Markup("<br>").join(escape(str(text)).replace("\r\n", "\n").split("\n"))


@cache
def _environment() -> Environment:
    # StrictUndefined: a misspelt name in a template fails the test, not the printout.
    environment = Environment(
        loader=PackageLoader("pingyi", "templates"),
        autoescape=select_autoescape(["html", "html.j2"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["lines"] = _lines
    return environment


def render(template: str, **values: Any) -> str:
    """The template pingyi/templates/`template` filled in with `values`, escaped."""
    return _environment().get_template(template).render(**values)
