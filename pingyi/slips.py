"""Slips for 测评码: a print-ready A4 page (10 slips a sheet, each with a QR link) and a CSV.

Both are built from the plain codes `codes.issue` returns, at the one moment they exist;
nothing here reads or stores codes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import segno
from markupsafe import Markup

from pingyi.auth import InitialPassword
from pingyi.cells import excel_safe
from pingyi.config import settings
from pingyi.templating import render

BALLOT_PATH = "/ballot"
SLIPS_PER_SHEET = 10  # 2 columns × 5 rows on A4
INSTRUCTIONS = "扫码或打开网址后输入测评码;每码仅限使用一次;匿名评议"
CSV_HEADER = ("轮次", "群体", "测评码", "链接")


def ballot_page(base_url: str | None = None) -> str:
    """The ballot page's address, for people who type it instead of scanning."""
    base = (settings().base_url if base_url is None else base_url).rstrip("/")
    return base + BALLOT_PATH


def ballot_url(code: str, base_url: str | None = None) -> str:
    """The link in a slip's QR code: the ballot page with `?code=…`."""
    return ballot_page(base_url) + "?" + urlencode({"code": code})


def _qr(url: str) -> segno.QRCode:
    # Level M survives a crease or a smudge and keeps modules large enough at 34 mm.
    return segno.make(url, error="m", micro=False)


def qr_svg(url: str) -> str:
    """An inline <svg> of the QR code, sized by CSS (viewBox only), black on white."""
    return _qr(url).svg_inline(scale=1, border=4, omitsize=True, dark="#000", light="#fff")


def qr_png(url: str, scale: int = 10) -> bytes:
    buffer = io.BytesIO()
    _qr(url).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def group_code(code: str, size: int = 4) -> str:
    """ "ABCDEFGH" → "ABCD EFGH": easier to read out and type; `codes.normalize` drops spaces."""
    return " ".join(code[i : i + size] for i in range(0, len(code), size))


@dataclass(frozen=True)
class _Slip:
    code: str  # grouped for reading
    url: str
    qr: Markup  # segno's own SVG, not text from people


def _slip(code: str, base_url: str) -> _Slip:
    url = ballot_url(code, base_url)
    return _Slip(code=group_code(code), url=url, qr=Markup(qr_svg(url)))


def slips_html(
    *,
    round_name: str,
    group_name: str,
    codes: Sequence[str],
    base_url: str | None = None,
    form: str = "",
) -> str:
    """A self-contained A4 page of slips to print and cut along the dashed lines; `form` (e.g.
    总体评议) follows the group's name, so the evaluator knows what the ballot asks."""
    base = settings().base_url if base_url is None else base_url
    slips = [_slip(c, base) for c in codes]
    hint = (
        f"共 {len(slips)} 张测评码。请用浏览器打印:A4 纸,缩放 100%,"
        "不打印页眉页脚;打印后沿虚线裁开。测评码只在此时显示,请妥善保管。"
    )
    return render(
        "slips.html.j2",
        title=f"测评码 · {round_name} · {group_name}",
        hint=hint,
        sheets=[slips[i : i + SLIPS_PER_SHEET] for i in range(0, len(slips), SLIPS_PER_SHEET)],
        round_name=round_name,
        group=f"{group_name} · {form}" if form else group_name,
        instructions=INSTRUCTIONS,
        page=ballot_page(base),
    )


def codes_csv(
    *,
    round_name: str,
    group_name: str,
    codes: Sequence[str],
    base_url: str | None = None,
) -> bytes:
    """The codes as CSV (UTF-8 with BOM, so Excel reads the Chinese): 轮次,群体,测评码,链接."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for code in codes:
        row = (round_name, group_name, code, ballot_url(code, base_url))
        writer.writerow([excel_safe(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


# ---- the printable list of one-time initial passwords (accounts made from the roster)

PASSWORD_HEADER = ("用户名", "姓名", "党支部", "初始密码")


def _password_rows(lines: Sequence[InitialPassword]) -> list[tuple[str, str, str, str]]:
    return [(line.username, line.name, line.branch, line.password) for line in lines]


def initial_passwords_csv(lines: Sequence[InitialPassword]) -> bytes:
    """The list as CSV (UTF-8 with BOM, for Excel): 用户名,姓名,党支部,初始密码."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(PASSWORD_HEADER)
    for row in _password_rows(lines):
        writer.writerow([excel_safe(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def initial_passwords_html(lines: Sequence[InitialPassword], *, base_url: str | None = None) -> str:
    """A print-ready page: one strip per person, to cut and hand out."""
    address = settings().base_url if base_url is None else base_url
    return render("initial_passwords.html.j2", lines=_password_rows(lines), address=address)
