"""Hostile text on every page (issue 7, item 4): shown as text, never as Markdown or HTML.

The database is `build_hostile` of tests/test_hostile_input.py: every name, title, comment and
note in it carries `<script>`, `<img onerror>`, `**bold**`, a `javascript:` link, `:red[…]`,
`:material/…:`, a heading and a quote. Each page is opened by someone who may see it, and every
string the browser renders as Markdown (bodies of st.markdown, captions, headings and alerts;
labels and help of widgets, tabs, expanders and metrics; progress texts; radio and segmented
options) must hold none of them as typed. The page must also show the hostile text, escaped in
Markdown or as typed in a plain-text element (st.text, a table, a selectbox option, an input).

Members opening the office's or other members' pages by URL: tests/pages/test_permissions.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apptools import component_data, forget_engines, logged_in, trigger
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from sqlmodel import select
from streamlit.testing.v1 import AppTest
from test_hostile_input import (
    ADMIN,
    ADMIN_NAME,
    CRITERION,
    EVERYTHING,
    GRASS_BRANCH,
    LEVEL,
    NAMES,
    ORGAN_BRANCH,
    ORGAN_UNIT,
    RAW,
    ROUND_NAME,
    SOURCE,
    TITLE,
    Hostile,
    build_hostile,
    leaks,
)
from worlds import count

from pingyi import audit, auth, ballots, box, db, highlights, rectification, reviews, rounds
from pingyi.models import Account, BallotBox, MassComment, Step
from pingyi.ui import ballot as ballot_view
from pingyi.ui.text import md_escape

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
FIRST_LINE = EVERYTHING.splitlines()[0]  # the fragments without the heading and the quote

# ---- the database


@pytest.fixture(scope="module")
def hostile_template(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Hostile]:
    """The hostile bureau, built once for this file."""
    path = tmp_path_factory.mktemp("hostile") / "hostile.db"
    shutil.copy(sqlite_template, path)
    engine = db.make_engine(f"sqlite:///{path}")
    world = build_hostile(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path, world


@pytest.fixture
def world(
    hostile_template: tuple[Path, Hostile], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Hostile]:
    """A copy of the hostile bureau that the app (and `db.session()`) uses."""
    template, built = hostile_template
    path = tmp_path / "app.db"
    shutil.copy(template, path)
    monkeypatch.setenv("PINGYI_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("PINGYI_DATA_DIR", str(tmp_path))
    forget_engines()
    yield built
    forget_engines()


def open_as(page: str, who: str | None) -> AppTest:
    at = logged_in(AppTest.from_file(APP, default_timeout=60), who).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# ---- what the page renders, and how


def _strings(message: Message) -> Iterator[tuple[str, str, str]]:
    """(message type, field, text) of every string in a proto, nested ones included."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        for item in values:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                yield from _strings(item)
            elif field.type == FieldDescriptor.TYPE_STRING:
                yield message.DESCRIPTOR.full_name, field.name, item


# Fields the frontend renders as Markdown (Streamlit's docs of each element and widget).
_MARKDOWN_ANYWHERE = {"label", "help", "captions"}  # every widget, block, metric, link
_MARKDOWN_BY_TYPE = {
    "Markdown": {"body"},  # st.markdown, st.caption
    "Heading": {"body"},  # st.title, st.header, st.subheader
    "Alert": {"body"},  # st.error, st.warning, st.info, st.success
    "Toast": {"body"},
    "Progress": {"text"},
    "Radio": {"options"},
    "ButtonGroup.Option": {"content", "selected_content"},  # st.segmented_control, st.pills
}


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def rendered(at: AppTest) -> tuple[list[str], list[str]]:
    """(Markdown strings, plain-text strings) of the whole page, sidebar included."""
    markdown: list[str] = []
    plain: list[str] = []
    for node in _nodes(at._tree):
        proto = getattr(node, "proto", None)
        if isinstance(proto, Message):
            for kind, name, text in _strings(proto):
                md = name in _MARKDOWN_ANYWHERE or name in _MARKDOWN_BY_TYPE.get(kind, ())
                (markdown if md else plain).append(text)
        if node.type in ("dataframe", "arrow_data_frame"):
            plain.append(node.value.to_csv())
        elif node.type in ("text", "code", "text_input", "text_area"):
            plain.append(str(node.value))
        elif node.type in ("selectbox", "multiselect"):
            plain.extend(str(option) for option in node.options)
    return markdown, plain


def assert_text_only(at: AppTest, *shown: str) -> None:
    """No Markdown on the page holds hostile text as typed, and each of `shown` is on it:
    escaped in Markdown, or as typed in plain text."""
    markdown, plain = rendered(at)
    leaked = {text: leaks(text) for text in markdown if leaks(text)}
    assert leaked == {}, "hostile text reached Markdown as typed"
    for text in shown:
        escaped = md_escape(text)
        found = any(escaped in m for m in markdown) or any(text in p for p in plain)
        assert found, f"{text!r} is not on the page"


# ---- the office's pages, as an office account with a hostile name

OFFICE_PAGES: dict[str, tuple[str, ...]] = {
    "pages/home.py": (ROUND_NAME, ADMIN_NAME),  # ADMIN_NAME: the sidebar's 当前用户
    "pages/rounds.py": (ROUND_NAME, NAMES["H05"]),  # a pending 点评 of the market branch
    "pages/roster.py": (NAMES["H01"], ORGAN_UNIT, GRASS_BRANCH),
    "pages/relations.py": (NAMES["H02"], ORGAN_BRANCH),
    "pages/criteria.py": (CRITERION, LEVEL),
    "pages/accounts.py": (ADMIN_NAME, NAMES["H06"]),
    "pages/codes.py": (ROUND_NAME,),
    "pages/meeting.py": (ROUND_NAME, ORGAN_BRANCH),  # the first tab: the branches
    "pages/results.py": (ROUND_NAME, NAMES["H04"]),
    "pages/settings.py": (ADMIN_NAME,),
    "pages/audit.py": (ADMIN_NAME,),
    "pages/highlights.py": (TITLE, SOURCE, EVERYTHING),
    "pages/briefing.py": (ORGAN_BRANCH, NAMES["H01"], FIRST_LINE),
    "pages/inspection.py": (ORGAN_BRANCH, NAMES["H01"], FIRST_LINE),
    "pages/rectification.py": ("".join(RAW), NAMES["H04"], EVERYTHING),
}


@pytest.mark.parametrize("page", list(OFFICE_PAGES), ids=[p[6:-3] for p in OFFICE_PAGES])
def test_office_pages_show_hostile_text_as_text(world: Hostile, page: str) -> None:
    assert_text_only(open_as(page, ADMIN), *OFFICE_PAGES[page])


def test_the_results_report_card_shows_reviews_and_mass_comments_as_text(world: Hostile) -> None:
    count(db.engine(), world.round_id)  # 开箱计票: the masses' comments are counted
    at = open_as("pages/results.py", ADMIN)
    for target in ("H04", "H01"):  # reviewed by the 党组书记; commented on by the masses
        at.selectbox(key=f"results_target_{world.round_id}").set_value(world.targets[target])
        at.run()
        assert not at.exception
        assert_text_only(at, NAMES[target], FIRST_LINE)


def test_the_criteria_of_an_opened_round_show_as_text(world: Hostile) -> None:
    at = open_as("pages/criteria.py", ADMIN)
    at.selectbox(key="criteria_target").set_value(world.round_id).run()
    assert not at.exception
    assert_text_only(at, ROUND_NAME, CRITERION, LEVEL)


def test_the_meeting_screen_shows_a_target_drilled_down_as_text(world: Hostile) -> None:
    at = open_as("pages/meeting.py", ADMIN)
    box = next(s for s in at.selectbox if s.label == "查看评议对象的分项情况")
    box.set_value(world.targets[GRASS_BRANCH]).run()
    assert not at.exception
    assert_text_only(at, GRASS_BRANCH)


# ---- members' pages

MEMBER_PAGES: list[tuple[str, str, tuple[str, ...]]] = [
    ("pages/home.py", "H01", (ROUND_NAME, NAMES["H01"])),
    ("pages/summary.py", "H04", (NAMES["H04"], EVERYTHING)),
    ("pages/summary.py", "H03", (ORGAN_BRANCH, NAMES["H03"])),  # their own and the branch's
    ("pages/my_reviews.py", "H04", (NAMES["H01"], FIRST_LINE, "".join(RAW))),
    ("pages/rectification.py", "H04", ("".join(RAW), EVERYTHING)),
    ("pages/review.py", "H01", (NAMES["H01"],)),
    ("pages/inspection.py", "H01", (NAMES["H01"], FIRST_LINE)),
    ("pages/briefing.py", "H01", (ORGAN_BRANCH, FIRST_LINE)),
    ("pages/highlights.py", "H06", (TITLE, SOURCE, EVERYTHING)),
]


@pytest.mark.parametrize(
    ("page", "who", "shown"), MEMBER_PAGES, ids=[f"{p[6:-3]}-{w}" for p, w, _ in MEMBER_PAGES]
)
def test_member_pages_show_hostile_text_as_text(
    world: Hostile, page: str, who: str, shown: tuple[str, ...]
) -> None:
    assert_text_only(open_as(page, who), *shown)


def test_the_review_form_shows_criteria_levels_and_the_summary_as_text(world: Hostile) -> None:
    """The 党组书记's form for H04: H04's 自我小结 beside it, hostile criterion and level as
    the radio buttons' label and option."""
    at = open_as("pages/review.py", "H01")
    next(s for s in at.selectbox if s.label == "点评对象").set_value(world.targets["H04"]).run()
    assert not at.exception
    assert_text_only(at, NAMES["H04"], CRITERION, LEVEL, FIRST_LINE)
    assert any(md_escape(CRITERION) in radio.label for radio in at.radio)


# ---- the ballot: no account, a spare code


def test_the_ballot_shows_names_criteria_and_levels_as_text(world: Hostile) -> None:
    """The page around the ballot escapes its Markdown; names, criteria and levels go to the
    ballot element as data, exactly as typed, and the element sets them as text only
    (tests/test_hostile_input.py checks its script)."""
    at = AppTest.from_file(ROOT / "pages" / "ballot.py", default_timeout=60)
    at.query_params["code"] = world.spare_codes[0]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert_text_only(at, ROUND_NAME)
    data = component_data(at, ballot_view.ELEMENT)
    assert data["mode"] == "ballot"
    cards = {card["id"]: card for card in data["form"]["cards"]}
    assert cards[world.targets["H01"]]["name"] == NAMES["H01"]
    assert cards[world.targets["H02"]]["name"] == NAMES["H02"]
    assert any(name == CRITERION for card in cards.values() for _, name in card["criteria"])
    assert LEVEL in [label for _, label, _ in data["form"]["levels"]]

    # A hostile comment sent with the ballot is stored as typed; the thanks are text only.
    answers = [
        [card["id"], criterion, data["form"]["levels"][0][0]]
        for card in cards.values()
        for criterion, _ in card["criteria"]
    ]
    target_id = world.targets["H01"]
    sent = {
        "sid": "send-1",
        "code": world.spare_codes[0],
        "token": "0123456789abcdef" * 2,
        "answers": answers,
        "comments": {str(target_id): EVERYTHING},
    }
    before = _comments_on(target_id)
    trigger(at, ballot_view.ELEMENT, "submit", sent)
    assert not at.exception, [e.value for e in at.exception]
    assert any(ballot_view.THANKS in h.value for h in at.header)
    assert_text_only(at)
    assert _comments_on(target_id) == sorted([*before, EVERYTHING])


def _comments_on(target_id: int) -> list[str]:
    """Comments on the target: counted, and sealed in the 票箱 (opened as 开箱计票 opens them)."""
    with db.session() as s:
        query = select(MassComment.text).where(MassComment.target_id == target_id)
        texts = list(s.exec(query).all())
        for round_id, group_id, sealed in s.exec(
            select(BallotBox.round_id, BallotBox.group_id, BallotBox.sealed)
        ):
            form = ballots.ballot_form(session=s, round_id=round_id, group_id=group_id)
            ballot = box.open_sealed(sealed, form=form)
            texts += [text for target, text in ballot.comments.items() if target == target_id]
        return sorted(texts)


# ---- what people type on the pages comes back as text in the success messages


def test_a_new_round_with_a_hostile_name_is_confirmed_as_text(world: Hostile) -> None:
    at = open_as("pages/rounds.py", ADMIN)
    name = "新轮次" + "".join(RAW)[:90]
    next(t for t in at.text_input if t.label == "名称").input(name)
    next(t for t in at.text_input if t.label == "季度").input("**Q1**")
    next(b for b in at.button if b.label == "新建").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with db.session() as s:
        assert any(r.name == name for r in rounds.list_rounds(session=s))
    assert_text_only(at, name)


def test_a_published_highlight_is_confirmed_as_text(world: Hostile) -> None:
    at = open_as("pages/highlights.py", ADMIN)
    next(t for t in at.text_input if t.label == "标题").input(TITLE[:-1])
    next(t for t in at.text_area if t.label.startswith("内容")).input(EVERYTHING)
    next(b for b in at.button if b.label == "发布").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert_text_only(at, TITLE[:-1])
    with db.session() as s:
        assert TITLE[:-1] in {h.title for h in highlights.everything(session=s)}


def test_resetting_a_hostile_account_is_confirmed_as_text(world: Hostile) -> None:
    with db.session() as s:
        h06 = s.exec(select(Account).where(Account.username == "H06")).one()
    at = open_as("pages/accounts.py", ADMIN)
    at.selectbox(key="accounts_chosen").set_value(h06.id).run()
    next(b for b in at.button if b.label == "重置密码").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert_text_only(at, NAMES["H06"])
    assert any("已重置" in s.value for s in at.success)


# ---- every text box has a limit the browser enforces


# Each box of stored text, with the limit its domain function refuses beyond (in Chinese).
LIMITS: list[tuple[str, str, dict[str, int]]] = [
    (
        "pages/summary.py",
        "H01",
        {"成绩": 3000, "问题": 3000, "原因": 3000, "承诺内容": 500, "佐证材料": 1000},
    ),
    ("pages/inspection.py", "H01", {"调研督查内容": 1000, "发现的情况": 3000}),
    (
        "pages/review.py",
        "H01",
        dict.fromkeys(["肯定成绩", "指出问题", "明确方向", "整改要求"], reviews.COMMENT_MAX),
    ),
    ("pages/rectification.py", "H04", {"整改情况说明": rectification.EVIDENCE_MAX}),
    (
        "pages/highlights.py",
        ADMIN,
        {
            "标题": highlights.TITLE_MAX,
            "内容(可删改选段)": highlights.TEXT_MAX,
            "出处": highlights.SOURCE_MAX,
        },
    ),
    ("pages/rounds.py", ADMIN, {"名称": rounds.NAME_LENGTH, "季度": rounds.QUARTER_LENGTH}),
    (
        "pages/accounts.py",
        ADMIN,
        {
            "用户名": auth.USERNAME_LENGTH,
            "姓名或名称": auth.DISPLAY_NAME_LENGTH,
            "密码": auth.MAX_PASSWORD_LENGTH,
        },
    ),
    ("pages/password.py", "H04", dict.fromkeys(["原密码", "新密码"], auth.MAX_PASSWORD_LENGTH)),
]


@pytest.mark.parametrize(("page", "who", "limits"), LIMITS, ids=[p[6:-3] for p, _, _ in LIMITS])
def test_every_box_of_stored_text_limits_it_as_its_domain_function_does(
    world: Hostile, page: str, who: str, limits: dict[str, int]
) -> None:
    """The browser stops typing where the domain would refuse with its Chinese message."""
    with db.transaction() as s:  # the summary form is open only in 自我小结 and 调研督查
        round_ = rounds.current(session=s)
        assert round_ is not None
        if page == "pages/summary.py":
            rounds.set_step(actor="测试", session=s, round_=round_, step=Step.SELF_SUMMARY)
    at = open_as(page, who)
    boxes = {box.label: box.max_chars for box in (*at.text_input, *at.text_area)}
    assert {label: boxes.get(label) for label in limits} == limits


def test_the_ballot_code_and_comment_boxes_have_max_chars(world: Hostile) -> None:
    """The code box is Streamlit's; the comment boxes are the ballot element's, which sets
    their `maxlength` from the form's `commentMax`."""
    at = AppTest.from_file(ROOT / "pages" / "ballot.py", default_timeout=60).run()
    assert at.text_input[0].max_chars == 20
    at.query_params["code"] = world.spare_codes[0]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    form = component_data(at, ballot_view.ELEMENT)["form"]
    assert form["commentMax"] == ballots.COMMENT_MAX


def test_the_audit_log_keeps_hostile_names_as_text(world: Hostile) -> None:
    with db.transaction() as s:
        audit.record(session=s, actor=ADMIN_NAME, action="测试", detail=EVERYTHING)
    assert_text_only(open_as("pages/audit.py", ADMIN), ADMIN_NAME, FIRST_LINE)
