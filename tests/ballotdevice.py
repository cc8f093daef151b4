"""The ballot element as a browser test or a benchmark drives it: selectors, scripts that read
what the element shows and what it keeps in the browser's storage, taps that record what was
chosen, what the server's SQLite database holds before and after a ballot, and the checks the
browser tests of the ballot share (tests/browser/test_ballot*_browser.py).

The element (pingyi/ui/ballot_element.js) draws in an open shadow root: Playwright's CSS
locators reach into it, `document.querySelector` does not, so the scripts here search the
element's shadow root. No pytest here: bench/ uses it too (tests/browser/conftest.py has
pytest rewrite the asserts here, so that a failed check says what differed).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pingyi import ballots, box, codes, db, slips

ROOT = ".pingyi-ballot"  # the element's root, inside its shadow root
CARD = f"{ROOT} .card"
SCALE = f"{ROOT} .scale"  # one row of scale buttons per item on the page shown
NOTE = f"{ROOT} .card textarea"  # one comment field per card on the page shown
NEXT_PAGE = f"{ROOT} .turn.forward"
PREVIOUS_PAGE = f"{ROOT} .turn.back"
WHERE = f"{ROOT} .turner .where"  # 第 n/N 页
NEXT_GAP = f"{ROOT} .bar .next"  # 下一张未完成:… (or 全部评完,请提交)
SEND = f"{ROOT} .send"  # 提交评议
MESSAGE = f"{ROOT} .submit .message"
OFFLINE = f"{ROOT} .net"  # shown while the server does not answer
COUNT = f"{ROOT} .bar .count"  # 已完成 n/N 张 · 已选 m/M 项
TO_REVIEW = f"{ROOT} .bar .to-review"  # 核对 ↓: to the 提交前核对 list
SHORTCUTS = f"{ROOT} .card .shortcuts"  # 本张全部选「X」 and 不了解此人 / 撤销不了解, per card
REVIEW_HEAD = f"{ROOT} .review-head"  # 提交前核对:已评 a · 不了解 b · 未完成 c
REVIEW_ENTRY = f"{ROOT} ol.review button"  # one a card, in order: its name and its state
STORE = "pingyi.ballot.v1."  # localStorage key prefix, + the code
EXCEPTION = '[data-testid="stException"]'  # a Streamlit traceback on the page
THANKS = "谢谢您的评议"
THANKS_DETAIL = "您的评议已匿名提交"
THANKS_AGAIN = "此前已经提交成功"
USED = codes.MSG_USED  # 此测评码已使用

# The devices of the meeting: a tablet and a phone, both with touch.
VIEWPORTS = {
    "tablet": {"width": 768, "height": 1024, "has_touch": True, "is_mobile": True},
    "phone": {"width": 390, "height": 844, "has_touch": True, "is_mobile": True},
}
ITEMS = 55  # the demo's 局全体工作人员: 领导班子 (6 criteria) + 7 班子成员 (7 each)
CARDS = 8
TIMEOUT = 60_000  # ms for anything the page waits for: two cores shared with other test runs

# `(() => …)()` scripts run in the page: the element's root, through the shadow roots.
FIND_ROOT = """
const findRoot = () => {
  for (const host of document.querySelectorAll('.stBidiComponent *')) {
    const inside = host.shadowRoot && host.shadowRoot.querySelector('.pingyi-ballot');
    if (inside) return inside;
  }
  for (const host of document.querySelectorAll('*')) {
    const inside = host.shadowRoot && host.shadowRoot.querySelector('.pingyi-ballot');
    if (inside) return inside;
  }
  return document.querySelector('.pingyi-ballot');
};
"""

CHECKED = (
    "() => {"
    + FIND_ROOT
    + """
  const root = findRoot();
  if (!root) return null;
  return [...root.querySelectorAll('.scale')].map(row => {
    const buttons = [...row.querySelectorAll('button')];
    const i = buttons.findIndex(b => b.getAttribute('aria-checked') === 'true');
    return i < 0 ? null : i;
  });
}"""
)

# The page shown: every item row as [item "t:c", [level ids]], the chosen level of each item
# ("t:c" → level id) and every comment field's text (target id → text, the empty ones left out).
SHOWN = (
    "() => {"
    + FIND_ROOT
    + """
  const root = findRoot();
  if (!root) return null;
  const rows = [...root.querySelectorAll('.scale')].map(row => {
    const buttons = [...row.querySelectorAll('button')];
    return [buttons[0].dataset.item, buttons.map(b => Number(b.dataset.level))];
  });
  const answers = {};
  for (const b of root.querySelectorAll('.scale button[aria-checked="true"]'))
    answers[b.dataset.item] = Number(b.dataset.level);
  const comments = {};
  for (const note of root.querySelectorAll('textarea[data-note]'))
    if (note.value) comments[note.dataset.note] = note.value;
  return { rows, answers, comments };
}"""
)

# Whether the card of target `id` is in view just under the sticky progress bar: its top at or
# below the bar's bottom, and in the upper half of the window.
CARD_UNDER_BAR = (
    "id => {"
    + FIND_ROOT
    + """
  const root = findRoot();
  const card = root && root.querySelector('#card-' + id);
  if (!card) return false;
  const bar = root.querySelector('.bar').getBoundingClientRect();
  const top = card.getBoundingClientRect().top;
  return top >= bar.bottom - 1 && top < window.innerHeight / 2;
}"""
)

# Whether the 提交前核对 heading is in view just under the sticky progress bar (核对 ↓ was tapped).
REVIEW_UNDER_BAR = (
    "() => {"
    + FIND_ROOT
    + """
  const root = findRoot();
  const head = root && root.querySelector('.review-head');
  if (!head) return false;
  const bar = root.querySelector('.bar').getBoundingClientRect();
  const top = head.getBoundingClientRect().top;
  return top >= bar.bottom - 1 && top < window.innerHeight / 2;
}"""
)

# Sideways scrolling of the page and of Streamlit's main area: [scrollWidth, width] pairs.
WIDTHS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  return [[document.documentElement.scrollWidth, window.innerWidth],
          [main.scrollWidth, main.clientWidth]];
}"""

# [width, height, text] of every button of the element a finger taps, the hidden ones left out.
TOUCH_TARGETS = (
    "() => {"
    + FIND_ROOT
    + """
  const root = findRoot();
  if (!root) return [];
  return [...root.querySelectorAll('.scale button, .shortcuts button, .turn, .send, button.link')]
    .map(b => { const r = b.getBoundingClientRect(); return [r.width, r.height, b.textContent]; })
    .filter(([w, h]) => w > 0 && h > 0);
}"""
)


def checked_levels(page: Any) -> list[int | None] | None:
    """Per item row on the page shown: the index of the chosen level, or None."""
    return page.evaluate(CHECKED)  # type: ignore[no-any-return]


def stored(page: Any, code: str) -> dict[str, Any] | None:
    """What the browser keeps for the code (answers, comments, token…), or None."""
    return page.evaluate(  # type: ignore[no-any-return]
        "key => { const raw = localStorage.getItem(key); return raw ? JSON.parse(raw) : null; }",
        STORE + code,
    )


def chosen_count(page: Any) -> int | None:
    """The 已选 n of the progress line, or None when the element is not drawn."""
    if not page.locator(COUNT).count():
        return None
    found = re.search(r"已选\s*(\d+)", page.locator(COUNT).first.text_content() or "")
    return int(found.group(1)) if found else None


def _item(key: str) -> tuple[int, int]:
    target, criterion = key.split(":")
    return int(target), int(criterion)


@dataclass
class Tapped:
    """What a test tapped and typed on one ballot: what the server must store, once."""

    answers: dict[tuple[int, int], int] = field(default_factory=dict)  # (t, c) → level id
    comments: dict[int, str] = field(default_factory=dict)  # target id → text
    taps: int = 0


@dataclass(frozen=True)
class Shown:
    """The page of the ballot the element shows."""

    items: list[tuple[int, int]]  # every item row, in order
    levels: list[list[int]]  # each row's level ids, in order
    answers: dict[tuple[int, int], int]  # the chosen ones
    comments: dict[int, str]  # the comment fields that are not empty

    def expected(self, tapped: Tapped) -> tuple[dict[tuple[int, int], int], dict[int, str]]:
        """What this page must show of `tapped`: its answers and comments here."""
        here = set(self.items)
        cards = {target for target, _ in self.items}
        return (
            {item: level for item, level in tapped.answers.items() if item in here},
            {target: text for target, text in tapped.comments.items() if target in cards},
        )


def shown(page: Any) -> Shown:
    raw = page.evaluate(SHOWN)
    if raw is None:
        raise AssertionError("the ballot element is not drawn")
    return Shown(
        items=[_item(key) for key, _ in raw["rows"]],
        levels=[levels for _, levels in raw["rows"]],
        answers={_item(key): level for key, level in raw["answers"].items()},
        comments={int(target): text for target, text in raw["comments"].items()},
    )


def tap_rows(page: Any, tapped: Tapped, rows: Iterable[int]) -> None:
    """Tap a level on each item row of `rows` on the page shown, as a finger would, and wait
    until the element has drawn it; the levels go round 好 较好 一般 差 不了解 tap by tap.
    Records what was chosen in `tapped`."""
    page_shown = shown(page)
    for row in rows:
        item, levels = page_shown.items[row], page_shown.levels[row]
        level = levels[tapped.taps % len(levels)]
        line = page.locator(SCALE).nth(row)
        line.locator(f'button[data-level="{level}"]').tap()
        line.locator(f'button[data-level="{level}"][aria-checked="true"]').wait_for()
        tapped.answers[item] = level
        tapped.taps += 1


def tap_page(page: Any, tapped: Tapped) -> None:
    """Every item row of the page shown that is not answered yet."""
    page_shown = shown(page)
    tap_rows(
        page,
        tapped,
        [row for row, item in enumerate(page_shown.items) if item not in page_shown.answers],
    )


def write_comment(page: Any, tapped: Tapped, card: int, text: str) -> None:
    """Type `text` into the comment field of the `card`-th card of the page shown."""
    note = page.locator(NOTE).nth(card)
    note.tap()
    note.fill(text)
    tapped.comments[int(note.get_attribute("data-note"))] = text


def wait_until(page: Any, condition: Any, what: str, timeout_ms: float = TIMEOUT) -> None:
    """Wait until `condition()` is true, letting Playwright run meanwhile (a `StreamProxy`
    only passes messages on while it does: never `time.sleep` while one is routing)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_ms / 1000:g} s: {what}")
        page.wait_for_timeout(50)


def _is_submit(message: str | bytes) -> bool:
    return b'"submit"' in (message.encode() if isinstance(message, str) else message)


class StreamProxy:
    """The page's Streamlit connections (/_stcore/stream) routed through the test with
    `page.route_web_socket` (set up before `goto`): every message is passed on both ways, and
    a close on either side closes the other, except that

    - `hold()` keeps the server's messages back until `release()` (a slow reply);
    - with `drop_reply=True` the server's messages are dropped for good on the connection
      that sends the first ballot, from that send on (the reply that is lost on the way).
      Once only: on a new connection the frontend sends its last trigger again, and that
      one is answered.

    The callbacks run while Playwright runs: wait with `wait_until` or `page.wait_for_*`."""

    def __init__(self, page: Any, *, drop_reply: bool = False) -> None:
        self.drop_reply = drop_reply
        self.connections = 0
        self.submits: list[int] = []  # the connection number of every ballot sent
        self.dropping: int | None = None  # the connection whose replies are dropped
        self.dropped = 0
        self.holding = False
        self.held: list[tuple[Any, str | bytes]] = []
        self.sockets: list[tuple[Any, Any]] = []  # each connection: (page's end, server's)
        page.route_web_socket(re.compile(r".*/_stcore/stream"), self._route)

    def _route(self, socket: Any) -> None:
        self.connections += 1
        number = self.connections
        server = socket.connect_to_server()
        self.sockets.append((socket, server))

        def up(message: str | bytes) -> None:
            if _is_submit(message):
                self.submits.append(number)
                if self.drop_reply and self.dropping is None:
                    self.dropping = number
            server.send(message)

        def down(message: str | bytes) -> None:
            if self.dropping == number:
                self.dropped += 1
            elif self.holding:
                self.held.append((socket, message))
            else:
                socket.send(message)

        socket.on_message(up)
        server.on_message(down)
        server.on_close(lambda code, reason: socket.close(code=code or 1000, reason=reason or ""))
        socket.on_close(lambda code, reason: server.close())

    def hold(self) -> None:
        self.holding = True

    def release(self) -> None:
        """Pass on what was held, in order, and hold nothing more."""
        self.holding = False
        held, self.held = self.held, []
        for socket, message in held:
            socket.send(message)

    def cut(self) -> None:
        """The network drops the page's latest connection: closed at both ends."""
        page_end, server_end = self.sockets[-1]
        server_end.close()
        page_end.close()


# ---- what the server's SQLite database holds


def database_file(database_url: str) -> Path:
    """The file of a `sqlite:///…` database URL."""
    if not database_url.startswith("sqlite:///"):
        raise ValueError(f"not a SQLite database: {database_url}")
    return Path(database_url.removeprefix("sqlite:///"))


def dump(database: Path) -> list[str]:
    """Every table, schema and rows, as SQL (Python's `iterdump`), read-only."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@dataclass(frozen=True)
class Snapshot:
    """The database at one moment: the dump, and the rows a ballot adds, to compare."""

    lines: frozenset[str]
    text: str  # the whole dump
    ballots: frozenset[str]  # ballot_box ids: cast ballots, sealed until 开箱计票
    comments: frozenset[str]  # mass_comment ids
    codes: dict[str, dict[str, Any]]  # code_hash → its evaluation_code row
    tallies: Counter[tuple[int, int, int]]  # (target, criterion, level) → count, every round

    @classmethod
    def take(cls, database: Path) -> Snapshot:
        lines = dump(database)
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            ballots = frozenset(row[0] for row in conn.execute("SELECT id FROM ballot_box"))
            comments = frozenset(row[0] for row in conn.execute("SELECT id FROM mass_comment"))
            code_rows = {
                row["code_hash"]: dict(row) for row in conn.execute("SELECT * FROM evaluation_code")
            }
            tallies: Counter[tuple[int, int, int]] = Counter()
            for row in conn.execute(
                "SELECT target_id, criterion_id, level_id, SUM(count) FROM tally"
                " GROUP BY target_id, criterion_id, level_id"
            ):
                tallies[row[0], row[1], row[2]] = row[3]
        finally:
            conn.close()
        return cls(frozenset(lines), "\n".join(lines), ballots, comments, code_rows, tallies)


def _form(engine: Any, round_id: int, group_id: int) -> ballots.BallotForm:
    with db.session(engine) as s:
        return ballots.ballot_form(session=s, round_id=round_id, group_id=group_id)


def new_ballot(database: Path, before: Snapshot) -> dict[str, Any]:
    """What was cast since `before`: the blobs dropped into the box, opened with the app's key
    (the tests share it) as 开箱计票 opens them; and what changed in the counted tables
    (nothing, until the box is counted)."""
    now = Snapshot.take(database)
    new = sorted(now.ballots - before.ballots)
    engine = db.make_engine(f"sqlite:///{database}")
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        opened = [
            box.open_sealed(sealed, form=_form(engine, round_id, group_id))
            for ballot in new
            for round_id, group_id, sealed in conn.execute(
                "SELECT round_id, group_id, sealed FROM ballot_box WHERE id = ?", (ballot,)
            )
        ]
        counted_comments = sorted(
            (row[1], row[2])
            for row in conn.execute("SELECT id, target_id, text FROM mass_comment")
            if row[0] not in before.comments
        )
    finally:
        conn.close()
        engine.dispose()
    growth = now.tallies.copy()
    growth.subtract(before.tallies)
    return {
        "ballots": new,
        "ratings": [ballot.answers for ballot in opened],
        "comments": sorted(item for ballot in opened for item in ballot.comments.items()),
        "counted comments": counted_comments,
        "tallies": +growth,
        "snapshot": now,
    }


def unsubmitted_leaks(
    before: Snapshot, now: Snapshot, code_hash: str, texts: Iterable[str]
) -> list[str]:
    """What the database holds of a ballot being filled in (nothing, if all is well): compared
    with `before` (taken before its code was opened), the only change allowed is the code's
    row marked opened; no table of drafts; none of `texts` (its comments) anywhere."""
    problems = []
    for line in now.lines:
        if line.startswith("CREATE TABLE") and "draft" in line.lower():
            problems.append(f"a table of drafts: {line}")
    for text in texts:
        if text in now.text:
            problems.append(f"a comment not submitted is in the database: {text!r}")
    changed = (now.lines ^ before.lines) - {
        line for line in now.lines ^ before.lines if code_hash in line
    }
    problems.extend(f"changed besides the code's row: {line}" for line in sorted(changed))
    was, row = before.codes.get(code_hash), now.codes.get(code_hash)
    if was is None or row is None:
        problems.append(f"the code's row is missing: before {was}, now {row}")
    elif row != {**was, "opened": 1}:
        problems.append(f"the code's row changed other than opened: {was} → {row}")
    return problems


def ballot_count(database: Path) -> int:
    """Ballots cast: sealed in the box, or counted (each is in one or the other)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return sum(
            int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in ("ballot_box", "ballot")
        )
    finally:
        conn.close()


# ---- what the browser tests of the ballot share


def issue(server: Any, count: int = 1, group: str = "all_staff") -> list[str]:
    """`count` new codes of `group` (all_staff: 8 cards; vendors: 80), through the CLI."""
    out = server.cli("codes", "issue", "--group", group, "--count", str(count)).stdout
    found = re.findall(r"^[A-Z0-9]{8}$", out, flags=re.MULTILINE)
    assert len(found) == count, out
    return found


def database(server: Any) -> Path:
    """The SQLite file of a test server (`AppServer`)."""
    return database_file(server.env["PINGYI_DATABASE_URL"])


# Any address but the test server's: nothing of a test may leave the machine (a material icon
# as the page icon was once fetched from fonts.gstatic.com; the app's is an emoji now).
NOT_LOOPBACK = re.compile(r"^(?!(https?|wss?)://(127\.0\.0\.1|localhost)[:/])[a-z]+://")


def new_tab(new_page: Any, device: str) -> Any:
    """A tab of a new browser context as `device` (tablet or phone: touch) whose requests
    anywhere but the loopback are refused (every tab of the context)."""
    page = new_page(**VIEWPORTS[device])
    page.context.route(NOT_LOOPBACK, lambda route: route.abort())
    return page


def open_link(page: Any, server: Any, code: str, shows: str = f"已完成 0/{CARDS}") -> None:
    """Open the code's QR link and wait until the element shows `shows` and its cards."""
    page.set_default_timeout(TIMEOUT)
    page.goto(slips.ballot_url(code, server.url))
    page.get_by_text(shows).first.wait_for()
    page.locator(SCALE).first.wait_for()


def assert_shows(page: Any, tapped: Tapped) -> None:
    """The page shown has exactly the answers and comments tapped and typed on it."""
    now = shown(page)
    answers, comments = now.expected(tapped)
    assert now.answers == answers
    assert now.comments == comments


TOUCH_MIN = 44  # px, the smallest comfortable touch target


def assert_fits_and_touchable(page: Any, *, rows: int) -> None:
    """No sideways scrolling; every scale button and button of the element ≥ 44 px."""
    for scroll_width, width in page.evaluate(WIDTHS):
        assert scroll_width <= width, f"horizontal scrolling: {scroll_width} > {width}"
    sizes = page.evaluate(TOUCH_TARGETS)
    assert len(sizes) >= rows * 4
    small = [size for size in sizes if size[0] < TOUCH_MIN or size[1] < TOUCH_MIN]
    assert small == [], small


def assert_nothing_stored(server: Any, before: Snapshot, code: str, tapped: Tapped) -> None:
    """A dump of every table holds nothing of the ballot being filled in but its code's
    `opened` (`before` was taken before the code was opened)."""
    now = Snapshot.take(database(server))
    assert unsubmitted_leaks(before, now, codes.hash_code(code), tapped.comments.values()) == []


def assert_stored_once(server: Any, before: Snapshot, code: str, tapped: Tapped) -> None:
    """Exactly one ballot cast since `before`, sealed in the box: opened, its answers and
    comments are what was tapped and typed; nothing of it is counted or readable in the
    tables yet; and the code is used."""
    new = new_ballot(database(server), before)
    assert len(new["ballots"]) == 1, new["ballots"]
    assert new["ratings"][0] == tapped.answers
    assert new["comments"] == sorted(tapped.comments.items())
    assert new["tallies"] == Counter() and new["counted comments"] == []
    row = new["snapshot"].codes[codes.hash_code(code)]
    assert row["used"] == 1 and row["opened"] == 1, row


def wait_thanks(page: Any, code: str, *texts: str) -> str:
    """Wait for the thanks, saying one of `texts` (default: the first-time thanks); the form
    is gone, the code out of the address and the device has forgotten the ballot. The text
    said."""
    texts = texts or (THANKS_DETAIL,)
    page.get_by_text(THANKS).first.wait_for(timeout=TIMEOUT)
    page.wait_for_function(
        "texts => texts.some(text => document.body.innerText.includes(text))", arg=list(texts)
    )
    body = page.inner_text("body")
    assert page.locator(EXCEPTION).count() == 0
    assert page.locator(SCALE).count() == 0
    page.wait_for_function("() => !location.search.includes('code=')")
    page.wait_for_function("key => localStorage.getItem(key) === null", arg=STORE + code)
    return next(text for text in texts if text in body)


def submit_once(page: Any, server: Any, before: Snapshot, code: str, tapped: Tapped) -> None:
    """Nothing of the ballot is stored until 提交; then the thanks, the device forgets it, and
    exactly the ballot tapped is stored, once."""
    assert_nothing_stored(server, before, code, tapped)
    page.locator(SEND).tap()
    wait_thanks(page, code)
    assert_stored_once(server, before, code, tapped)
