"""Slips that work on the first try: the office opens the app under the office machine's name,
the 测评码 page offers that address for the slips, the printed QR code carries it, and a tablet
that follows the QR code gets the ballot of that code.

Every packet stays on this machine: Chromium maps the made-up name office.test to 127.0.0.1
(`--host-resolver-rules`), so the app sees a name that is not loopback, and nothing else ever
resolves it (the server's reachability check is only asked about 127.0.0.1 here).
"""

from __future__ import annotations

import io
import socket
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
from appserver import CHROMIUM, CHROMIUM_ARGS

from pingyi import address, codes

OFFICE_HOST = "office.test"
pytestmark = pytest.mark.browser


@pytest.fixture
def office_browser(browser):  # type: ignore[no-untyped-def]
    """Chromium that resolves office.test to 127.0.0.1, and nothing else differently."""
    mapped = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {OFFICE_HOST} 127.0.0.1"],
    )
    yield mapped
    mapped.close()


def decode_qr(png: bytes) -> str:
    import zxingcpp
    from PIL import Image

    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(found) == 1, found
    return str(found[0].text)


def test_slips_printed_under_the_office_name_lead_a_tablet_to_its_ballot(
    own_demo_app, office_browser, log_in, settle, screenshot
):  # type: ignore[no-untyped-def]
    port = urlsplit(own_demo_app.url).port
    office_url = f"http://{OFFICE_HOST}:{port}"
    office = office_browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = office.new_page()
    log_in(page, replace(own_demo_app, url=office_url), "codes")
    settle(page, "测评码条上的地址")

    # No PINGYI_BASE_URL: the address offered is the one this browser used.
    field = page.get_by_role("textbox", name="评议人员手机访问本系统的地址")
    assert field.input_value() == office_url
    assert page.get_by_text(f"{office_url}/ballot").first.is_visible()
    assert page.get_by_text("是本机地址").count() == 0

    # A loopback address is refused for printing, saying what to do; then back to the office's.
    field.fill(f"http://127.0.0.1:{port}")
    field.press("Enter")
    page.get_by_text("是本机地址").first.wait_for()
    assert page.get_by_role("button", name="生成测评码").is_disabled()
    field.fill(office_url)
    field.press("Enter")
    page.get_by_text(f"{office_url}/ballot").first.wait_for()
    screenshot(page, "codes-address")

    # Two slips of 局全体工作人员, printed.
    count = page.get_by_role("spinbutton", name="数量")
    count.fill("2")
    count.press("Enter")
    settle(page, "测评码条上的地址")
    page.get_by_role("button", name="生成测评码").click()
    page.get_by_text("已为「局全体工作人员」生成 2 个测评码").wait_for(timeout=60_000)
    with page.expect_download() as download:
        page.get_by_role("button", name="打印页(A4 测评码条)").click()
    printed = download.value.path().read_text(encoding="utf-8")
    assert f"{office_url}/ballot?code=" in printed and "localhost" not in printed

    # The first slip as printed: its QR code read from the image, its code in large type.
    sheet = office.new_page()
    sheet.set_content(printed)
    link = decode_qr(sheet.locator(".qr").first.screenshot())
    assert link.startswith(f"{office_url}/ballot?code=")
    code = parse_qs(urlsplit(link).query)["code"][0]
    assert codes.format_problem(code) is None
    first_code = sheet.locator(".code").first.inner_text()
    assert first_code.replace(" ", "") == code
    size = sheet.locator(".code").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 18  # px: readable to type by hand when a QR code cannot be scanned

    # A tablet of its own follows the QR code: the ballot of that code.
    tablet_context = office_browser.new_context(
        viewport={"width": 768, "height": 1024}, locale="zh-CN", has_touch=True
    )
    tablet = tablet_context.new_page()
    tablet.goto(link)
    tablet.get_by_text("已完成 0/8").first.wait_for(timeout=60_000)
    assert "局全体工作人员" in tablet.inner_text("body")
    screenshot(tablet, "slip-qr-ballot")
    tablet_context.close()
    office.close()


def test_the_check_says_reachable_for_the_running_app_and_not_for_a_closed_port(
    own_demo_app,
):  # type: ignore[no-untyped-def]
    running = address.check(own_demo_app.url)
    assert running.ok, running.message
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    assert not address.check(f"http://127.0.0.1:{closed}", timeout=2).ok
