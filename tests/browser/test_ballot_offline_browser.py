"""The 群众评议 ballot element while the app server goes away, in Debian's chromium on a tablet
(768×1024) and a phone (390×844), both with touch.

The server is a demo server of this module's own (`stoppable_demo_app`) that a test stops
for real (SIGTERM, or SIGKILL as a crash would) and starts again on the same port and
database. The page says that it cannot reach the server and keeps taking taps; the answers
are on the device, and the ballot submitted afterwards is stored exactly once with every
answer as tapped. A reply to 提交 that is lost on the way (the test routes the page's
Streamlit connection) is retried and stores one ballot. Before each submit the database is
dumped, every table, and holds nothing of the ballot being filled in.
"""

from __future__ import annotations

import time

import pytest
from ballotdevice import (
    COUNT,
    ITEMS,
    MESSAGE,
    OFFLINE,
    SCALE,
    SEND,
    THANKS_AGAIN,
    THANKS_DETAIL,
    TIMEOUT,
    USED,
    VIEWPORTS,
    Snapshot,
    StreamProxy,
    Tapped,
    assert_nothing_stored,
    assert_shows,
    assert_stored_once,
    ballot_count,
    database,
    issue,
    new_tab,
    open_link,
    stored,
    submit_once,
    tap_rows,
    wait_thanks,
    wait_until,
    write_comment,
)

pytestmark = pytest.mark.browser

OUTAGE_SECONDS = 60
NO_SERVER = "暂时连不上服务器"  # the element's line while the server does not answer


def connection_error_shown(page) -> bool:  # type: ignore[no-untyped-def]
    """Streamlit's modal "Connection error" dialog, which would make the page inert."""
    dialog = page.get_by_role("dialog").filter(has_text="Connection error")
    return dialog.count() > 0 and dialog.first.is_visible()


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_answers_tapped_while_the_server_is_stopped_for_a_minute_are_stored_once(  # type: ignore[no-untyped-def]
    stoppable_demo_app, new_page, screenshot, device
):
    """SIGTERM, 60 s without a server with taps all along, start again. On the tablet the
    ballot is finished and submitted while the server is away (sent once it is back); on
    the phone the last item is tapped and the ballot submitted after the restart."""
    server = stoppable_demo_app
    submit_while_down = device == "tablet"
    (code,) = issue(server)
    before = Snapshot.take(database(server))
    page = new_tab(new_page, device)
    open_link(page, server, code)
    tapped = Tapped()
    tap_rows(page, tapped, range(15))
    write_comment(page, tapped, 0, f"未提交的意见ZQX-outage-{device} {code}")

    server.terminate()
    stopped = time.monotonic()
    page.locator(OFFLINE).wait_for(state="visible", timeout=TIMEOUT)
    assert NO_SERVER in page.locator(OFFLINE).text_content()

    # Taps all through the minute, in four batches 15 s apart; each is drawn at once.
    rows = list(range(15, ITEMS if submit_while_down else ITEMS - 1))
    batches = [rows[k::4] for k in range(4)]
    for k, batch in enumerate(batches):
        page.wait_for_timeout(max(0.0, stopped + 15 * k - time.monotonic()) * 1000)
        tap_rows(page, tapped, batch)
        page.locator(COUNT, has_text=f"已选 {len(tapped.answers)}/{ITEMS} 项").wait_for()
        assert page.locator(OFFLINE).is_visible()
        if k == 2:
            write_comment(page, tapped, 3, f"断网时写的意见ZQX-{device} {code}")
    kept = stored(page, code)
    assert kept is not None and len(kept["answers"]) == len(tapped.answers)
    if submit_while_down:
        page.locator(SEND).tap()
        page.locator(SEND, has_text="正在提交").wait_for()
        page.locator(MESSAGE, has_text=NO_SERVER).wait_for()
        assert stored(page, code)["pending"] is True
    screenshot(page, f"ballot-{device}-offline")
    assert_nothing_stored(server, before, code, tapped)

    page.wait_for_timeout(max(0.0, stopped + OUTAGE_SECONDS - time.monotonic()) * 1000)
    assert time.monotonic() - stopped >= OUTAGE_SECONDS
    assert page.locator(OFFLINE).is_visible()
    assert not connection_error_shown(page)
    assert_shows(page, tapped)
    assert ballot_count(database(server)) == len(before.ballots)

    server.start()
    if submit_while_down:  # sent again by itself once the server answers
        wait_thanks(page, code)
        assert_stored_once(server, before, code, tapped)
    else:
        page.locator(OFFLINE).wait_for(state="hidden", timeout=TIMEOUT)
        tap_rows(page, tapped, [ITEMS - 1])
        submit_once(page, server, before, code, tapped)


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_a_ballot_goes_on_after_a_sigkill_and_restart_and_is_stored_once(  # type: ignore[no-untyped-def]
    stoppable_demo_app, new_page, device
):
    """SIGKILL half way; the server starts again and the page reconnects (a new Streamlit
    session, the page run again); the rest is tapped after that, and submitted once."""
    server = stoppable_demo_app
    (code,) = issue(server)
    before = Snapshot.take(database(server))
    page = new_tab(new_page, device)
    connections: list[object] = []
    page.on("websocket", lambda socket: connections.append(socket))
    open_link(page, server, code)
    tapped = Tapped()
    tap_rows(page, tapped, range(0, ITEMS, 2))
    write_comment(page, tapped, 1, f"未提交的意见ZQX-kill-{device} {code}")

    server.kill()
    page.locator(OFFLINE).wait_for(state="visible", timeout=TIMEOUT)
    assert_nothing_stored(server, before, code, tapped)
    server.start()
    page.locator(OFFLINE).wait_for(state="hidden", timeout=TIMEOUT)
    wait_until(page, lambda: len(connections) >= 2, "the page connects to the new server")
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidget"]')""", timeout=TIMEOUT
    )
    assert_shows(page, tapped)

    tap_rows(page, tapped, range(1, ITEMS, 2))
    write_comment(page, tapped, 1, f"重启后改过的意见ZQX-kill-{device} {code}")
    write_comment(page, tapped, 6, f"重启后新写的意见 {code}")
    page.locator(COUNT, has_text=f"已选 {ITEMS}/{ITEMS} 项").wait_for()
    submit_once(page, server, before, code, tapped)


LOST_REPLIES = {
    # The server is SIGKILLed and started again: a new session; the page sends the ballot
    # again with its device token and is told that it is in.
    "server restarted": THANKS_AGAIN,
    # The connection stays up and says nothing: the element's sends go unanswered, it loads
    # the page again, the code is used, and its ballot is sent again with the device token.
    "connection silent": THANKS_AGAIN,
    # The connection drops: Streamlit reconnects to the same session, which has the thanks.
    "connection cut": THANKS_DETAIL,
}


@pytest.mark.parametrize("lost", list(LOST_REPLIES))
@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_a_submit_whose_reply_is_lost_is_retried_and_stored_once(  # type: ignore[no-untyped-def]
    stoppable_demo_app, new_page, device, lost
):
    server = stoppable_demo_app
    (code,) = issue(server)
    before = Snapshot.take(database(server))
    page = new_tab(new_page, device)
    proxy = StreamProxy(page, drop_reply=True)
    open_link(page, server, code)
    tapped = Tapped()
    tap_rows(page, tapped, range(ITEMS))
    write_comment(page, tapped, 4, f"未提交的意见ZQX-lost-{device}-{lost} {code}")
    page.locator(COUNT, has_text=f"已选 {ITEMS}/{ITEMS} 项").wait_for()
    assert_nothing_stored(server, before, code, tapped)

    page.locator(SEND).tap()
    count = len(before.ballots)
    wait_until(page, lambda: ballot_count(database(server)) > count, "the ballot is stored")
    wait_until(page, lambda: proxy.dropped > 0, "the reply is lost")
    assert page.locator(SCALE).count() == ITEMS  # the page heard nothing: still the form
    if lost == "server restarted":
        server.kill()
        server.start()
    elif lost == "connection cut":
        proxy.cut()
    said = wait_thanks(page, code, THANKS_AGAIN, THANKS_DETAIL)
    if lost != "connection cut":  # a reconnection may or may not find its session again
        assert said == LOST_REPLIES[lost]
    assert page.get_by_text(USED).count() == 0
    assert len(proxy.submits) >= 2  # sent again
    assert_stored_once(server, before, code, tapped)
