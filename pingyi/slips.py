"""Slips for 测评码: a print-ready A4 page (10 slips a sheet, each with a QR link) and a CSV.

Both are built from the plain codes `codes.issue` returns, at the one moment they exist;
nothing here reads or stores codes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from html import escape
from urllib.parse import urlencode

import segno

from pingyi.auth import InitialPassword
from pingyi.config import settings

BALLOT_PATH = "/ballot"
SLIPS_PER_SHEET = 10  # 2 columns × 5 rows on A4
INSTRUCTIONS = "扫码或打开网址后输入测评码;每码仅限使用一次;匿名评议"
CSV_HEADER = ("轮次", "群体", "测评码", "链接")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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


_CSS = """
@page { size: A4; margin: 10mm; }
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; }
body {
  font-family: "Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif;
  color: #000;
  -webkit-print-color-adjust: exact;
  print-color-adjust: exact;
}
.hint { font-size: 10pt; color: #555; margin: 0 0 4mm; }
.sheet {
  width: 190mm;
  display: grid;
  grid-template-columns: 95mm 95mm;
  grid-auto-rows: 55mm;
  break-after: page;
}
.sheet:last-of-type { break-after: auto; }
.slip {
  break-inside: avoid;
  page-break-inside: avoid;
  border: 0.3mm dashed #888;
  margin: -0.15mm;
  padding: 3.5mm 4mm;
  display: flex;
  gap: 3mm;
  overflow: hidden;
}
.text { flex: 1; min-width: 0; display: flex; flex-direction: column; }
.title { font-size: 12pt; font-weight: 700; letter-spacing: 0.1em; }
.group { font-weight: 700; }
.meta { font-size: 8.5pt; line-height: 1.35; overflow-wrap: anywhere; }
.code {
  font-family: "DejaVu Sans Mono", "Noto Sans Mono", Consolas, Menlo, monospace;
  font-size: 21pt;
  font-weight: 700;
  letter-spacing: 0.06em;
  white-space: nowrap;
  margin: auto 0 1mm;
}
.howto { font-size: 7pt; line-height: 1.35; }
.url { font-size: 7pt; color: #333; overflow-wrap: anywhere; }
.qr { width: 34mm; height: 34mm; flex: none; align-self: center; }
.qr svg { width: 100%; height: 100%; display: block; }
@media print { .hint { display: none; } }
@media screen {
  body { background: #eee; padding: 8mm; }
  .sheet { background: #fff; padding: 0; margin: 0 auto 8mm; }
  .hint { width: 190mm; margin: 0 auto 4mm; }
}
"""


def _slip(
    *, round_name: str, group_name: str, code: str, page: str, base_url: str, form: str
) -> str:
    url = ballot_url(code, base_url)
    group = f"{group_name} · {form}" if form else group_name
    return (
        '<div class="slip">'
        '<div class="text">'
        '<div class="title">群众评议测评码</div>'
        f'<div class="meta">{escape(round_name)}</div>'
        f'<div class="meta group">{escape(group)}</div>'
        f'<div class="code">{escape(group_code(code))}</div>'
        f'<div class="howto">{escape(INSTRUCTIONS)}</div>'
        f'<div class="url">{escape(page)}</div>'
        "</div>"
        f'<div class="qr" role="img" aria-label="二维码 {escape(url)}" title="{escape(url)}">'
        f"{qr_svg(url)}</div>"
        "</div>"
    )


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
    page = ballot_page(base)
    slips = [
        _slip(
            round_name=round_name,
            group_name=group_name,
            code=c,
            page=page,
            base_url=base,
            form=form,
        )
        for c in codes
    ]
    sheets = "".join(
        '<section class="sheet">' + "".join(slips[i : i + SLIPS_PER_SHEET]) + "</section>"
        for i in range(0, len(slips), SLIPS_PER_SHEET)
    )
    title = f"测评码 · {round_name} · {group_name}"
    hint = (
        f"共 {len(slips)} 张测评码。请用浏览器打印:A4 纸,缩放 100%,"
        "不打印页眉页脚;打印后沿虚线裁开。测评码只在此时显示,请妥善保管。"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f'<p class="hint">{escape(hint)}</p>'
        f"{sheets}"
        "</body></html>\n"
    )


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


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
        writer.writerow([_cell(value) for value in row])
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
        writer.writerow([_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def initial_passwords_html(lines: Sequence[InitialPassword], *, base_url: str | None = None) -> str:
    """A print-ready page: one strip per person, to cut and hand out."""
    address = settings().base_url if base_url is None else base_url
    strips = "".join(
        '<div class="strip">'
        f"<div><b>{escape(name)}</b> · {escape(branch)}</div>"
        f"<div>登录地址:{escape(address)}</div>"
        f"<div>用户名:<code>{escape(username)}</code> "
        f"初始密码:<code>{escape(password)}</code></div>"
        "<div class='howto'>首次登录后须修改密码;初始密码只能使用一次,请勿转交他人。</div>"
        "</div>"
        for username, name, branch, password in _password_rows(lines)
    )
    css = (
        "@page { size: A4; margin: 12mm; } body { font-family: 'Noto Sans CJK SC', sans-serif; }"
        " .strip { border-bottom: 1px dashed #999; padding: 4mm 0; break-inside: avoid; }"
        " code { font-size: 14pt; letter-spacing: 1px; } .howto { font-size: 8pt; color: #444; }"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN"><head><meta charset="utf-8"><title>账号初始密码</title>'
        f"<style>{css}</style></head><body>{strips}</body></html>\n"
    )
