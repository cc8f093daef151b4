"""Hostile and bad input below the pages (issue 7, item 4), on SQLite and PostgreSQL.

- Script, HTML, Markdown and Streamlit directives typed into any free-text field are stored
  exactly as typed, and every HTML export shows them as text (`&lt;script&gt;`), never as markup.
- Text longer than its column is refused with a Chinese message, one test per field family;
  nothing is written.
- Roster files: 10,000 rows all or nothing, GBK, merged cells, formulas, renamed and random files.

The pages showing the same text are `tests/pages/test_hostile_pages.py`, which builds its
database with `build_hostile` below. Code guessing is `tests/test_codes.py` (the limit of the
process) and `tests/pages/test_ballot_page.py` (both lockouts, logged; a code of another
round); members opening other people's pages by URL is `tests/pages/test_permissions.py`.
"""

from __future__ import annotations

import csv
import html
import io
import random
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from markupsafe import escape
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from worlds import Bureau, bureau, count, full_answers

from pingyi import (
    auth,
    ballots,
    briefing,
    codes,
    criteria,
    db,
    groups,
    highlights,
    inspections,
    meeting,
    progress,
    rectification,
    reports,
    reviews,
    roster,
    rounds,
    slips,
    summaries,
)
from pingyi.models import (
    Account,
    BallotBox,
    Branch,
    Commitment,
    CommitmentStatus,
    GroupKey,
    Highlight,
    Inspection,
    ItemStatus,
    MassComment,
    Member,
    Review,
    Round,
    ScaleLevel,
    Step,
    Summary,
    Target,
    TargetKind,
    TemplateKey,
    Unit,
)
from pingyi.roster import COLUMNS, NOT_A_SPREADSHEET

# ---- what a hostile person types

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
BOLD = "**粗**"
LINK = "[链](javascript:alert(1))"
RED = ":red[红]"
ICON = ":material/skull:"
ENTITY = "&lt;b&gt;"  # would show as <b>, not as typed
# Each would change the page if it reached Markdown or HTML as typed; their escaped forms
# (\*\*粗\*\*, \:red\[红\], &lt;script&gt; …) contain none of them.
RAW = (SCRIPT, IMG, BOLD, LINK, RED, ICON, ENTITY)
# Markdown that only works on lines of its own: a heading, a quote, === under a line.
LINE_RAW = (
    re.compile(r"(?:^|\n)\s*# 大标题"),
    re.compile(r"(?:^|\n)\s*> 引用"),
    re.compile(r"\n\s*=+\s*(?:$|\n)"),
)
EVERYTHING = "".join(RAW) + "\n# 大标题\n> 引用\n小标题\n==="  # 137 characters: long fields

# Short fields get part of it, within their column sizes (names 50, units and branches 100).
ORGAN_UNIT = "机关" + SCRIPT + BOLD + RED + ICON
ORGAN_BRANCH = "机关支部" + IMG + LINK
GRASS_UNIT = "市场" + IMG + LINK + RED
GRASS_BRANCH = "市场支部" + SCRIPT + BOLD + ICON
NAMES = {
    "H01": "甲" + SCRIPT + BOLD + RED,  # 党组书记
    "H02": "乙" + IMG + ICON,  # 班子成员, 联系 the market branch
    "H03": "丙" + LINK + BOLD,  # secretary of the 机关 branch
    "H04": "丁" + SCRIPT + RED + ICON,  # an ordinary 机关 member: reviewed, owns a 整改 item
    "H05": "戊" + IMG + BOLD,  # secretary of the market branch
    "H06": "己" + LINK + RED,
}
ROUND_NAME = "第四季度" + SCRIPT + IMG + BOLD + RED
QUARTER = ":red[Q4]"
CRITERION = "测评项" + SCRIPT + IMG + LINK + RED
LEVEL = "较好" + BOLD + RED  # replaces 较好 (80 points); levels have 20 characters
ADMIN, ADMIN_PASSWORD = "hostile", "hostile-pass-1"
ADMIN_NAME = "办公室" + SCRIPT + BOLD + ICON
TITLE = "标题" + SCRIPT + IMG + BOLD + LINK
SOURCE = "出处" + "".join(RAW)

G = GRASS_BRANCH
ROWS = [  # 编号 姓名 单位 单位类型 党支部 党组书记 班子成员 党员干部 支部书记 年老体弱 联系支部
    ["H01", NAMES["H01"], ORGAN_UNIT, "机关", ORGAN_BRANCH, "是", "是", "否", "否", "否", ""],
    ["H02", NAMES["H02"], ORGAN_UNIT, "机关", ORGAN_BRANCH, "否", "是", "否", "否", "否", G],
    ["H03", NAMES["H03"], ORGAN_UNIT, "机关", ORGAN_BRANCH, "否", "否", "是", "是", "否", ""],
    ["H04", NAMES["H04"], ORGAN_UNIT, "机关", ORGAN_BRANCH, "否", "否", "否", "否", "否", ""],
    ["H05", NAMES["H05"], GRASS_UNIT, "基层单位", GRASS_BRANCH, "否", "否", "否", "是", "否", ""],
    ["H06", NAMES["H06"], GRASS_UNIT, "基层单位", GRASS_BRANCH, "否", "否", "否", "否", "否", ""],
]  # fmt: skip
BALLOTS = 5  # the default threshold: fewer ballots and the masses' comments stay hidden


def leaks(text: str) -> list[str]:
    """The hostile pieces `text` holds as typed: [] when it shows them only as text."""
    found = [raw for raw in RAW if raw in text]
    return found + [pattern.pattern for pattern in LINE_RAW if pattern.search(text)]


@dataclass(frozen=True)
class Hostile:
    """The ids a test needs of the hostile bureau."""

    round_id: int
    members: dict[str, int]  # roster 编号 → member id
    targets: dict[str, int]  # roster 编号, ORGAN_BRANCH, GRASS_BRANCH, "team" → target id
    all_staff: int  # 局全体工作人员: evaluates the 领导班子 and 班子成员
    item_id: int  # the 整改 item H01's review gave H04
    spare_codes: list[str]  # unused codes of 局全体工作人员


def build_hostile(engine: Engine) -> Hostile:
    """A bureau whose every free text is hostile, taken through every step that stores text:
    roster import, criteria, round, accounts, summaries, commitments, 调研督查, 领导点评, 整改,
    群众评议 with comments, highlights; the round ends in 开展点评 with results published.

    The ballots are cast, not counted: they wait sealed in 局全体工作人员's box, so the spare
    codes can still vote. A test that reads the comments or the results counts the box first
    (`worlds.count`), as the office closes the group."""
    data = _csv(ROWS)
    with db.transaction(engine) as s:
        report = roster.import_roster(actor="测试", session=s, filename="名册.csv", data=data)
        assert report.ok, report.lines()
        names = criteria.criteria_names(session=s, round_id=None)
        criteria.replace_criteria(
            session=s,
            round_id=None,
            names={key: [CRITERION, *names[key][1:]] for key in TemplateKey},
            actor="测试",
        )
        levels = criteria.scale(session=s, round_id=None)
        criteria.replace_scale(
            session=s,
            round_id=None,
            levels=[(LEVEL if lv.label == "较好" else lv.label, lv.score) for lv in levels],
            actor="测试",
        )
        groups.set_headcounts(session=s, headcounts={GroupKey.ALL_STAFF: 20})
        round_ = rounds.create_round(actor="测试", session=s, name=ROUND_NAME, quarter=QUARTER)
        rounds.open_round(actor="测试", session=s, round_=round_)
        round_id: int = round_.id  # type: ignore[assignment]
        members = {m.roster_id: m.id for m in roster.active_members(session=s)}
        targets: dict[str, Any] = {}
        for target in rounds.targets_of(session=s, round_id=round_id):
            if target.kind == TargetKind.MEMBER:
                roster_id = next(r for r, i in members.items() if i == target.member_id)
                targets[roster_id] = target.id
            elif target.kind == TargetKind.BRANCH:
                targets[target.name] = target.id
            else:
                targets["team"] = target.id
        auth.create_member_accounts(actor="测试", session=s)
        for account in s.exec(select(Account)):
            account.must_change_password = False
            s.add(account)
        auth.create_admin(
            actor="测试",
            session=s,
            username=ADMIN,
            password=ADMIN_PASSWORD,
            display_name=ADMIN_NAME,
        )
        all_staff: int = groups.by_key(session=s)[GroupKey.ALL_STAFF].id  # type: ignore[assignment]

        # 自我小结 and 公开承诺: a member's and the 机关 branch's, submitted.
        for writer, target in (("H04", "H04"), ("H03", ORGAN_BRANCH)):
            summaries.save_summary(
                session=s,
                round_id=round_id,
                target_id=targets[target],
                member_id=members[writer],
                achievements=EVERYTHING,
                problems=EVERYTHING,
                causes=EVERYTHING,
                submit=True,
            )
            summaries.add_commitment(
                session=s,
                round_id=round_id,
                target_id=targets[target],
                member_id=members[writer],
                text=EVERYTHING,
                status=CommitmentStatus.KEPT,
                evidence=EVERYTHING,
            )
        # 调研督查 of the 机关 branch by the 党组书记, whose name is hostile too.
        secretary = s.exec(select(Account).where(Account.member_id == members["H01"])).one()
        inspections.record(
            session=s,
            round_id=round_id,
            target_id=targets[ORGAN_BRANCH],
            inspector=NAMES["H01"],
            recorded_by=secretary.id,
            visited_on=date.today(),
            checked=EVERYTHING,
            findings=EVERYTHING,
        )
        rounds.set_step(actor="测试", session=s, round_=round_, step=Step.REVIEW)
        # 领导点评 of H04 by the 党组书记: four comments and one 整改要求, submitted.
        form = reviews.form(session=s, round_id=round_id, target_id=targets["H04"])
        reviews.save(
            session=s,
            round_id=round_id,
            reviewer_id=members["H01"],
            target_id=targets["H04"],
            scores={c.id: form.levels[1].id for c in form.criteria},
            achievements=EVERYTHING,
            problems=EVERYTHING,
            direction=EVERYTHING,
            requirements="".join(RAW),
            submit=True,
        )
        (item,) = rectification.items_for_owner(session=s, member_id=members["H04"])
        rectification.update(
            session=s,
            item_id=item.id,
            member_id=members["H04"],
            status=ItemStatus.IN_PROGRESS,
            evidence=EVERYTHING,
        )
        highlights.publish(
            actor="测试",
            session=s,
            round_id=round_id,
            kind=highlights.KINDS[0],
            title=TITLE,
            text=EVERYTHING,
            source=SOURCE,
        )
        issued = codes.issue(
            actor="测试", session=s, round_id=round_id, group_id=all_staff, count=BALLOTS + 2
        )
        meeting.publish(actor="测试", session=s, round_id=round_id, published=True)

    # 群众评议: enough ballots for the comments to be shown, each with a hostile comment.
    answers = full_answers(engine, round_id, all_staff)
    commented = [targets["team"], targets["H01"], targets["H02"]]
    for code in issued[:BALLOTS]:
        ballots.submit_with_retry(
            engine, code, answers, dict.fromkeys(commented, EVERYTHING), round_id=round_id
        )
    return Hostile(
        round_id=round_id,
        members=members,  # type: ignore[arg-type]
        targets=targets,
        all_staff=all_staff,
        item_id=item.id,
        spare_codes=issued[BALLOTS:],
    )


def _csv(rows: list[list[Any]], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


@pytest.fixture
def hostile(engine: Engine) -> Hostile:
    return build_hostile(engine)


# ---- stored as typed


def test_every_free_text_field_stores_hostile_text_exactly_as_typed(
    engine: Engine, hostile: Hostile
) -> None:
    count(engine, hostile.round_id)  # the masses' comments are stored when the box is opened
    with db.session(engine) as s:
        members = {m.roster_id: m.name for m in s.exec(select(Member))}
        assert members == NAMES
        assert set(s.exec(select(Unit.name))) == {ORGAN_UNIT, GRASS_UNIT}
        assert set(s.exec(select(Branch.name))) == {ORGAN_BRANCH, GRASS_BRANCH}
        round_ = s.get(Round, hostile.round_id)
        assert round_ is not None and (round_.name, round_.quarter) == (ROUND_NAME, QUARTER)
        names = criteria.criteria_names(session=s, round_id=hostile.round_id)
        assert all(names[key][0] == CRITERION for key in TemplateKey)
        assert LEVEL in {lv.label for lv in s.exec(select(ScaleLevel))}
        admin = s.exec(select(Account).where(Account.username == ADMIN)).one()
        assert admin.display_name == ADMIN_NAME
        for summary in s.exec(select(Summary)):
            assert (summary.achievements, summary.problems, summary.causes) == (EVERYTHING,) * 3
        for commitment in s.exec(select(Commitment)):
            assert (commitment.text, commitment.evidence) == (EVERYTHING, EVERYTHING)
        inspection = s.exec(select(Inspection)).one()
        assert (inspection.inspector, inspection.checked, inspection.findings) == (
            NAMES["H01"],
            EVERYTHING,
            EVERYTHING,
        )
        review = s.exec(select(Review)).one()
        assert [review.achievements, review.problems, review.direction] == [EVERYTHING] * 3
        (item,) = rectification.all_items(session=s)
        assert (item.text, item.evidence) == ("".join(RAW), EVERYTHING)
        comments = list(s.exec(select(MassComment.text)))
        assert comments == [EVERYTHING] * (3 * BALLOTS)
        highlight = s.exec(select(Highlight)).one()
        assert (highlight.title, highlight.text, highlight.source) == (TITLE, EVERYTHING, SOURCE)


# ---- HTML exports: text, never markup


def assert_escaped(page: str) -> None:
    """An HTML export with hostile text in it: the text is there, escaped, and no markup of
    it is: no script or img element and no javascript: link."""
    assert html.escape(SCRIPT) in page
    lowered = page.lower()
    assert "<script" not in lowered and "<img" not in lowered
    assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", lowered)
    assert "onerror=alert(1)>" not in page


def test_the_briefings_show_hostile_text_as_text(engine: Engine, hostile: Hostile) -> None:
    with db.session(engine) as s:
        sheets = [
            briefing.briefing_for(session=s, round_id=hostile.round_id, target_id=target_id)
            for target_id in (hostile.targets[ORGAN_BRANCH], hostile.targets["team"])
        ]
    page = briefing.briefing_html(sheets[0])
    assert_escaped(page)
    for text in (ORGAN_BRANCH, NAMES["H01"], NAMES["H04"], ROUND_NAME):
        assert html.escape(text) in page  # branch, inspector, a member, the round
    assert page.count(html.escape("".join(RAW))) >= 6  # summaries, commitments, findings
    assert_escaped(briefing.briefing_html(sheets[1]))
    for sheet in sheets:
        assert leaks(briefing.overview(sheet)) == []  # shown with st.info, Markdown


def test_the_target_reports_show_hostile_text_as_text(engine: Engine, hostile: Hostile) -> None:
    count(engine, hostile.round_id)  # the masses' comments are shown once the box is opened
    with db.session(engine) as s:
        reviewed = reports.target_report_html(
            session=s, round_id=hostile.round_id, target_id=hostile.targets["H04"]
        )
        evaluated = reports.target_report_html(
            session=s, round_id=hostile.round_id, target_id=hostile.targets["H01"]
        )
    for page in (reviewed, evaluated):
        assert_escaped(page)
        assert escape(ROUND_NAME) in page
    assert escape(NAMES["H04"]) in reviewed and escape(NAMES["H01"]) in reviewed
    assert escape(CRITERION) in reviewed
    assert escape("".join(RAW)) in evaluated  # the masses' comments


def test_slips_password_strips_and_reminders_show_hostile_text_as_text(
    engine: Engine, hostile: Hostile
) -> None:
    slip_page = slips.slips_html(
        round_name=ROUND_NAME, group_name=ORGAN_UNIT, codes=hostile.spare_codes
    )
    assert_escaped(slip_page)
    assert escape(ROUND_NAME) in slip_page
    lines = [auth.InitialPassword("H01", NAMES["H01"], ORGAN_BRANCH, "abcd2345")]
    strips = slips.initial_passwords_html(lines)
    assert_escaped(strips)
    assert escape(NAMES["H01"]) in strips and escape(ORGAN_BRANCH) in strips
    with db.session(engine) as s:
        steps = progress.all_steps(session=s, round_id=hostile.round_id)
    pending = [step for step in steps if step.pending]
    assert pending, "someone still has work to do"
    for step in pending:
        page = progress.reminders_html(round_name=ROUND_NAME, progress=step)
        assert_escaped(page)
    shown = "".join(progress.reminders_html(round_name=ROUND_NAME, progress=p) for p in pending)
    assert any(escape(name) in shown for name in NAMES.values())


def test_no_page_passes_text_to_unsafe_html() -> None:
    """`unsafe_allow_html` is used nowhere, `st.html` only for static style sheets, and
    the one custom component is the ballot element, whose script and styles are files."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sources = [*root.glob("pages/*.py"), *root.glob("pingyi/**/*.py"), root / "app.py"]
    calls: list[str] = []
    components: list[str] = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert "unsafe_allow_html=" not in text, path
        # The one script: the login cookie's errand, whose only inputs are a constant path and
        # a server-made ticket (URL-safe base64), both JSON-encoded.
        if path.parts[-2:] == ("ui", "auth.py"):
            assert "_ERRAND.format(path=json.dumps(path), body=json.dumps(body))" in text
        else:
            assert "unsafe_allow_javascript" not in text, path
        assert "components.html(" not in text and "components.v1" not in text, path
        found = re.findall(r"st\.html\((.*)\)\s*$", text, flags=re.MULTILINE)
        assert len(found) == text.count("st.html("), f"{path}: an st.html call over lines"
        calls += [f"{path.name}: {m}" for m in found]
        components += [path.name for _ in re.findall(r"st\.components\.v2\.component\(", text)]
    assert sorted(calls) == [
        'auth.py: f"<style>.st-key-{_ERRAND_KEY} {{display: none}}</style>"',
        "auth.py: script, unsafe_allow_javascript=True",
        "auth.py: script, unsafe_allow_javascript=True",
        "ballot.py: _CSS",
        "meeting.py: _CSS",
        "meeting.py: _PROJECTOR_CSS",
    ]
    assert components == ["ballot.py"]
    from pingyi.ui import ballot as view

    source = Path(view.__file__).read_text(encoding="utf-8")
    call = source[source.index("st.components.v2.component(") :]
    call = call[: call.index("\n)\n")]
    assert "html=" not in call  # no HTML of its own: the script draws everything
    assert 'js=(_HERE / "ballot_element.js")' in call


def test_the_ballot_element_sets_roster_text_as_text_only() -> None:
    """Names, criteria and levels reach the ballot element as data: its script makes every
    node with `createElement` and sets their text as `textContent`, never as HTML."""
    from pathlib import Path

    script = (
        Path(__file__).resolve().parents[1] / "pingyi" / "ui" / "ballot_element.js"
    ).read_text(encoding="utf-8")
    code = re.sub(r"//[^\n]*", "", script)  # the comments may name what the code avoids
    for unsafe in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "setHTMLUnsafe",
        "createContextualFragment",
        "DOMParser",
        "document.write",
        "srcdoc",
        "eval(",
        "Function(",
        "javascript:",
    ):
        assert unsafe not in code, unsafe
    assert 'name === "text"' in code and "node.textContent = value" in code
    # Attributes set by name are the script's own, never an event handler or a link.
    for name in re.findall(r'setAttribute\("([^"]+)"', code):
        assert not name.startswith("on") and name not in {"href", "src"}, name
    keys = re.findall(r'[{,]\s*"?([A-Za-z][\w-]*)"?\s*:', code)  # of `el(tag, {…})` too
    assert "data-target" in keys and "aria-label" in keys
    for name in keys:
        assert not name.lower().startswith("on") and name not in {"href", "src"}, name


# ---- over-long text: refused in Chinese, nothing written


@pytest.fixture
def world(engine: Engine) -> Bureau:
    return bureau(engine)


def _member_target(s: Session, round_id: int, member_id: int) -> int:
    target = s.exec(
        select(Target).where(Target.round_id == round_id, Target.member_id == member_id)
    ).one()
    return target.id  # type: ignore[return-value]


def _count(engine: Engine, model: type[Any]) -> int:
    with db.session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def _refused(engine: Engine, error: type[Exception], change: Any) -> str:
    """Run `change(session)`: it must raise `error` with a Chinese message."""
    with pytest.raises(error) as caught, db.transaction(engine) as s:
        change(s)
    message = str(caught.value)
    assert re.search(r"[\u4e00-\u9fff]", message), message
    return message


@pytest.mark.parametrize(("field", "size"), [("achievements", 3000), ("problems", 3000)])
def test_an_over_long_summary_is_refused(
    engine: Engine, world: Bureau, field: str, size: int
) -> None:
    writer = world.members["钱干事"]
    with db.session(engine) as s:
        target_id = _member_target(s, world.round_id, writer)
    texts = {"achievements": "成绩", "problems": "问题", "causes": ""} | {field: "字" * (size + 1)}
    message = _refused(
        engine,
        summaries.SummaryError,
        lambda s: summaries.save_summary(
            session=s,
            round_id=world.round_id,
            target_id=target_id,
            member_id=writer,
            submit=False,
            **texts,
        ),
    )
    assert f"不能超过 {size} 个字" in message and f"现有 {size + 1} 个字" in message
    assert _count(engine, Summary) == 0


@pytest.mark.parametrize(("field", "size"), [("text", 500), ("evidence", 1000)])
def test_an_over_long_commitment_is_refused(
    engine: Engine, world: Bureau, field: str, size: int
) -> None:
    writer = world.members["钱干事"]
    with db.session(engine) as s:
        target_id = _member_target(s, world.round_id, writer)
    values = {"text": "按时完成任务", "evidence": "台账"} | {field: "字" * (size + 1)}
    message = _refused(
        engine,
        summaries.SummaryError,
        lambda s: summaries.add_commitment(
            session=s, round_id=world.round_id, target_id=target_id, member_id=writer, **values
        ),
    )
    assert f"不能超过 {size} 个字" in message
    assert _count(engine, Commitment) == 0


@pytest.mark.parametrize(("field", "size"), [("checked", 1000), ("findings", 3000)])
def test_over_long_inspection_findings_are_refused(
    engine: Engine, world: Bureau, field: str, size: int
) -> None:
    with db.session(engine) as s:
        branch = s.exec(
            select(Target).where(
                Target.round_id == world.round_id, Target.kind == TargetKind.BRANCH
            )
        ).first()
    texts = {"checked": "查阅台账", "findings": "较好"} | {field: "字" * (size + 1)}
    message = _refused(
        engine,
        inspections.InspectionError,
        lambda s: inspections.record(
            session=s,
            round_id=world.round_id,
            target_id=branch.id,  # type: ignore[union-attr]
            inspector="王书记",
            visited_on=date.today(),
            **texts,
        ),
    )
    assert f"不能超过 {size} 个字" in message
    assert _count(engine, Inspection) == 0


def _set_step(engine: Engine, round_id: int, step: Step) -> None:
    with db.transaction(engine) as s:
        rounds.set_step(actor="测试", session=s, round_=s.get(Round, round_id), step=step)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        ("achievements", "字" * (reviews.COMMENT_MAX + 1), f"不能超过 {reviews.COMMENT_MAX} 字"),
        ("direction", "字" * (reviews.COMMENT_MAX + 1), f"不能超过 {reviews.COMMENT_MAX} 字"),
        ("requirements", "字" * (reviews.ITEM_MAX + 1), f"每一条不能超过 {reviews.ITEM_MAX} 字"),
    ],
    ids=["comment", "direction", "requirement-line"],
)
def test_an_over_long_leader_review_is_refused(
    engine: Engine, world: Bureau, field: str, text: str, expected: str
) -> None:
    _set_step(engine, world.round_id, Step.REVIEW)
    reviewer, reviewed = world.members["王书记"], world.members["钱干事"]
    with db.session(engine) as s:
        target_id = _member_target(s, world.round_id, reviewed)
    message = _refused(
        engine,
        reviews.ReviewError,
        lambda s: reviews.save(
            session=s,
            round_id=world.round_id,
            reviewer_id=reviewer,
            target_id=target_id,
            scores={},
            **{field: text},
        ),
    )
    assert expected in message
    assert _count(engine, Review) == 0


def test_over_long_rectification_evidence_is_refused(engine: Engine, world: Bureau) -> None:
    _set_step(engine, world.round_id, Step.REVIEW)
    reviewer, owner = world.members["王书记"], world.members["钱干事"]
    with db.transaction(engine) as s:
        target_id = _member_target(s, world.round_id, owner)
        form = reviews.form(session=s, round_id=world.round_id, target_id=target_id)
        reviews.save(
            session=s,
            round_id=world.round_id,
            reviewer_id=reviewer,
            target_id=target_id,
            scores={c.id: form.levels[0].id for c in form.criteria},
            achievements="成绩突出",
            direction="再接再厉",
            requirements="加强学习",
            submit=True,
        )
        (item,) = rectification.items_for_owner(session=s, member_id=owner)
    size = rectification.EVIDENCE_MAX
    message = _refused(
        engine,
        rectification.RectificationError,
        lambda s: rectification.update(
            session=s,
            item_id=item.id,
            member_id=owner,
            status=ItemStatus.DONE,
            evidence="字" * (size + 1),
        ),
    )
    assert f"不能超过 {size} 字" in message
    with db.session(engine) as s:
        (after,) = rectification.items_for_owner(session=s, member_id=owner)
    assert (after.stored, after.evidence) == (ItemStatus.NOT_STARTED, "")


def test_an_over_long_mass_comment_is_refused_in_a_ballot(engine: Engine, world: Bureau) -> None:
    """Refused by `submit` and by `submit_with_retry` (whose quick path claims the code before
    it checks the ballot: the claim is rolled back with it)."""
    group = world.groups[GroupKey.ALL_STAFF]
    with db.transaction(engine) as s:
        (code,) = codes.issue(
            actor="测试", session=s, round_id=world.round_id, group_id=group, count=1
        )
    answers = full_answers(engine, world.round_id, group)
    target_id = next(iter(answers))[0]
    comments = {target_id: "字" * (ballots.COMMENT_MAX + 1)}
    message = _refused(
        engine,
        ballots.BallotError,
        lambda s: ballots.submit(session=s, code=code, answers=answers, comments=comments),
    )
    assert f"超过 {ballots.COMMENT_MAX} 字" in message
    for _ in range(2):  # the second time with the form in the quick path's cache
        with pytest.raises(ballots.BallotError, match=f"超过 {ballots.COMMENT_MAX} 字"):
            ballots.submit_with_retry(engine, code, answers, comments, receipt="ab" * 16)
    # Nothing cast: a comment would be stored only inside a sealed ballot in the box.
    assert _count(engine, BallotBox) == _count(engine, MassComment) == 0
    with db.session(engine) as s:
        assert codes.lookup(session=s, code=code).ok  # the code can still vote


@pytest.mark.parametrize(
    ("field", "size", "expected"),
    [
        ("title", highlights.TITLE_MAX, "标题不能超过"),
        ("text", highlights.TEXT_MAX, "内容不能超过"),
        ("source", 200, "出处不能超过"),
    ],
)
def test_an_over_long_highlight_is_refused(
    engine: Engine, field: str, size: int, expected: str
) -> None:
    values = {"title": "好做法", "text": "经验", "source": "出处"} | {field: "字" * (size + 1)}
    message = _refused(
        engine,
        highlights.HighlightError,
        lambda s: highlights.publish(
            actor="测试", session=s, round_id=None, kind=highlights.KINDS[0], **values
        ),
    )
    assert expected in message and str(size) in message
    assert _count(engine, Highlight) == 0


def test_over_long_criteria_and_scale_labels_are_refused(engine: Engine) -> None:
    with db.session(engine) as s:
        names = criteria.criteria_names(session=s, round_id=None)
        levels = [(lv.label, lv.score) for lv in criteria.scale(session=s, round_id=None)]
    too_long = "字" * (criteria.MAX_CRITERION_CHARS + 1)
    message = _refused(
        engine,
        criteria.CriteriaError,
        lambda s: criteria.replace_criteria(
            session=s, round_id=None, names={TemplateKey.MEMBER: [too_long]}, actor="测试"
        ),
    )
    assert f"名称超过 {criteria.MAX_CRITERION_CHARS} 个字" in message
    levels[0] = ("字" * (criteria.MAX_LEVEL_CHARS + 1), levels[0][1])
    message = _refused(
        engine,
        criteria.CriteriaError,
        lambda s: criteria.replace_scale(session=s, round_id=None, levels=levels, actor="测试"),
    )
    assert f"等级名称超过 {criteria.MAX_LEVEL_CHARS} 个字" in message
    with db.session(engine) as s:
        assert criteria.criteria_names(session=s, round_id=None) == names


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("username", "u" * (auth.USERNAME_LENGTH + 1), "用户名不能超过"),
        ("display_name", "名" * 51, "姓名不能超过 50 个字"),
        ("password", "a1" * auth.MAX_PASSWORD_LENGTH, "密码不能超过"),
    ],
)
def test_an_over_long_account_is_refused(
    engine: Engine, field: str, value: str, expected: str
) -> None:
    values = {"username": "office2", "password": "office-pass-2", "display_name": "办公室"}
    values[field] = value
    message = _refused(
        engine, auth.AuthError, lambda s: auth.create_admin(actor="测试", session=s, **values)
    )
    assert expected in message
    assert _count(engine, Account) == 0


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("name", "季" * 101, "名称不能超过 100 个字"),
        ("quarter", "2026Q4" * 2, "季度不能超过 10 个字"),
    ],
)
def test_an_over_long_round_is_refused(
    engine: Engine, field: str, value: str, expected: str
) -> None:
    values = {"name": "2026年第四季度评议", "quarter": "2026Q4"} | {field: value}
    message = _refused(
        engine, rounds.RoundError, lambda s: rounds.create_round(actor="测试", session=s, **values)
    )
    assert expected in message
    assert _count(engine, Round) == 0


# Roster cells over their column sizes: tests/test_roster.py,
# test_text_longer_than_the_database_column_is_refused.


# ---- roster files


def _big_rows(count: int) -> list[list[str]]:
    """`count` members in branches of 100, each branch with its secretary."""
    rows = []
    for number in range(count):
        branch = number // 100
        rows.append(
            [f"M{number:05d}", f"党员{number}", f"第{branch}市场管理所", "基层单位",
             f"第{branch}市场党支部", "否", "否", "否", "是" if number % 100 == 0 else "否",
             "否", ""]
        )  # fmt: skip
    return rows


def _roster_state(engine: Engine) -> tuple[int, int, int, int]:
    with db.session(engine) as s:
        return (
            s.exec(select(func.count()).select_from(Member)).one(),
            s.exec(select(func.count()).where(col(Member.active))).one(),
            s.exec(select(func.count()).select_from(Branch)).one(),
            s.exec(select(func.count()).select_from(Unit)).one(),
        )


def test_a_roster_of_ten_thousand_rows_imports_all_or_nothing(engine: Engine) -> None:
    rows = _big_rows(10_000)
    with db.transaction(engine) as s:
        report = roster.import_roster(actor="测试", session=s, filename="名册.csv", data=_csv(rows))
    assert report.ok, report.lines()[:5]
    assert len(report.added) == 10_000
    assert _roster_state(engine) == (10_000, 10_000, 100, 100)

    # One bad cell in the very last row: none of the other 9,999 changes is written.
    changed = [[row[0], row[1] + "改", *row[2:]] for row in rows]
    changed[-1][3] = "公司"
    with db.transaction(engine) as s:
        report = roster.import_roster(
            actor="测试", session=s, filename="名册.csv", data=_csv(changed)
        )
    assert [str(e) for e in report.errors] == [
        "第 10001 行「单位类型」的值「公司」无效:只能填「机关」或「基层单位」"
    ]
    with db.session(engine) as s:
        assert s.exec(select(func.count()).where(col(Member.name).like("%改"))).one() == 0
    assert _roster_state(engine) == (10_000, 10_000, 100, 100)


def test_a_gbk_csv_keeps_chinese_names_beyond_gb2312(engine: Engine) -> None:
    # 镕, 堃, 喆 and 彧 are in GBK but not in GB2312: a GB2312 decoder would lose them.
    rows = [list(row) for row in ROWS]
    for row, name in zip(rows, ["朱镕基", "王堃", "张喆", "李彧", "陈昇", "刘䶮"], strict=True):
        row[1] = name
    rows[-1][1] = "刘岩"  # 䶮 is only in GB18030; GBK has no code for it
    data = _csv(rows, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    with db.transaction(engine) as s:
        report = roster.import_roster(actor="测试", session=s, filename="名册.csv", data=data)
    assert report.ok, report.lines()
    with db.session(engine) as s:
        stored = {m.roster_id: m.name for m in s.exec(select(Member))}
        units = set(s.exec(select(Unit.name)))
    assert stored == {row[0]: row[1] for row in rows}
    assert units == {ORGAN_UNIT, GRASS_UNIT}  # and hostile text survives GBK too


def _xlsx(rows: list[list[Any]]) -> openpyxl.Workbook:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append(row)
    return workbook


def _saved(workbook: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_a_unit_merged_over_several_rows_imports_as_its_value(engine: Engine) -> None:
    rows = [list(row) for row in ROWS]
    for row in rows[1:4]:
        row[2] = row[3] = None  # 单位 and 单位类型 of H02-H04 merged down from H01's
    for row in rows[5:]:
        row[4] = None  # 党支部 of H06 merged down from H05's
    workbook = _xlsx(rows)
    sheet = workbook.active
    assert sheet is not None
    sheet.merge_cells("C2:C5")
    sheet.merge_cells("D2:D5")
    sheet.merge_cells("E6:E7")
    with db.transaction(engine) as s:
        report = roster.import_roster(
            actor="测试", session=s, filename="名册.xlsx", data=_saved(workbook)
        )
    assert report.ok, report.lines()
    with db.session(engine) as s:
        table = roster.roster_table(session=s)
    assert list(table["单位"]) == [ORGAN_UNIT] * 4 + [GRASS_UNIT] * 2
    assert list(table["单位类型"]) == ["机关"] * 4 + ["基层单位"] * 2
    assert list(table["党支部"]) == [ORGAN_BRANCH] * 4 + [GRASS_BRANCH] * 2


FORMULAS = ["=1+1", '=HYPERLINK("http://evil.example/x","张三")', "=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_formula_without_a_saved_result_is_refused_naming_its_cell(
    engine: Engine, formula: str
) -> None:
    rows = [list(row) for row in ROWS]
    rows[3][1] = formula  # openpyxl saves a formula and no result: nothing to show for it
    with db.transaction(engine) as s:
        report = roster.import_roster(
            actor="测试", session=s, filename="名册.xlsx", data=_saved(_xlsx(rows))
        )
    assert [str(e) for e in report.errors] == [
        "第 5 行「姓名」(单元格 B5)是公式,文件里没有保存它的计算结果:"
        "请用 Excel 打开并保存后再导入,或把公式改成数值"
    ]
    assert _roster_state(engine) == (0, 0, 0, 0)


def test_a_formula_imports_as_the_text_excel_saved_never_as_its_target(engine: Engine) -> None:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, COLUMNS)
    for number, row in enumerate(ROWS, start=1):
        for column, value in enumerate(row):
            sheet.write_string(number, column, value)
    sheet.write_formula(1, 1, '=HYPERLINK("http://evil.example/x","张三")', None, "张三")
    sheet.write_formula(2, 1, "=1+1", None, 2)
    workbook.close()
    with db.transaction(engine) as s:
        report = roster.import_roster(
            actor="测试", session=s, filename="名册.xlsx", data=buffer.getvalue()
        )
    assert report.ok, report.lines()
    with db.session(engine) as s:
        stored = {m.roster_id: m.name for m in s.exec(select(Member))}
    # What the sheet shows; neither the formula nor the link it points to is kept anywhere.
    assert (stored["H01"], stored["H02"]) == ("张三", "2")
    assert not any("evil" in name or name.startswith("=") for name in stored.values())


def test_formula_text_in_a_csv_stays_text_and_stays_inert_in_every_export(
    engine: Engine,
) -> None:
    rows = [list(row) for row in ROWS]
    for row, formula in zip(rows, FORMULAS, strict=False):
        row[1] = formula
    with db.transaction(engine) as s:
        assert roster.import_roster(
            actor="测试", session=s, filename="名册.csv", data=_csv(rows)
        ).ok
    with db.session(engine) as s:
        stored = {m.roster_id: m.name for m in s.exec(select(Member))}
        exported_xlsx = roster.roster_bytes(session=s, fmt="xlsx")
        exported_csv = roster.roster_bytes(session=s, fmt="csv")
    assert [stored[f"H0{n}"] for n in (1, 2, 3)] == FORMULAS  # text, as typed
    # Excel gets text cells, never formulas, from the xlsx export...
    sheet = openpyxl.load_workbook(io.BytesIO(exported_xlsx)).worksheets[0]
    names = [sheet.cell(row, 2) for row in range(2, 5)]
    assert [(cell.value, cell.data_type) for cell in names] == [(f, "s") for f in FORMULAS]
    # ...and from the CSV export a leading ', which reading the CSV back removes.
    exported_rows = list(csv.reader(io.StringIO(exported_csv.decode("utf-8-sig"))))
    assert [row[1] for row in exported_rows[1:4]] == ["'" + f for f in FORMULAS]
    with db.transaction(engine) as s:
        again = roster.import_roster(
            actor="测试", session=s, filename="导出.csv", data=exported_csv
        )
    assert again.ok and (again.added, again.changed, again.removed) == ([], [], [])


def _workbook_bytes() -> bytes:
    return _saved(_xlsx([list(row) for row in ROWS]))


def test_an_xlsx_renamed_csv_is_read_as_the_workbook_it_is(engine: Engine) -> None:
    with db.transaction(engine) as s:
        report = roster.import_roster(
            actor="测试", session=s, filename="名册.csv", data=_workbook_bytes()
        )
    assert report.ok, report.lines()  # decided by content: never its zip bytes as CSV text
    with db.session(engine) as s:
        assert {m.name for m in s.exec(select(Member))} == set(NAMES.values())


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("名册.csv", _workbook_bytes()[:2000]),  # a renamed .xlsx cut short
        ("名册.xlsx", random.Random(7).randbytes(4096)),
        ("名册.csv", random.Random(7).randbytes(4096)),
    ],
    ids=["truncated-xlsx-as-csv", "random-xlsx", "random-csv"],
)
def test_a_broken_or_random_file_gives_one_chinese_error_and_changes_nothing(
    engine: Engine, filename: str, data: bytes
) -> None:
    with db.transaction(engine) as s:
        assert roster.import_roster(
            actor="测试", session=s, filename="名册.csv", data=_csv(ROWS)
        ).ok
    before = _roster_state(engine)
    with db.transaction(engine) as s:
        report = roster.import_roster(actor="测试", session=s, filename=filename, data=data)
    assert [str(e) for e in report.errors] == [NOT_A_SPREADSHEET]
    assert report.summary() == "名册有 1 处错误,没有导入任何数据:请改正后重新上传"
    assert _roster_state(engine) == before


def test_random_text_bytes_give_row_numbered_chinese_errors_and_change_nothing(
    engine: Engine,
) -> None:
    # Random bytes without NULs decode as GB18030 (every byte pair is a character there).
    noise = bytes(b for b in random.Random(8).randbytes(4096) if b not in b"\x00")
    with db.transaction(engine) as s:
        assert roster.import_roster(
            actor="测试", session=s, filename="名册.csv", data=_csv(ROWS)
        ).ok
    before = _roster_state(engine)
    with db.transaction(engine) as s:
        report = roster.import_roster(actor="测试", session=s, filename="名册.csv", data=noise)
    assert not report.ok
    assert all(re.search(r"[\u4e00-\u9fff]", str(e)) for e in report.errors)
    assert all(e.row is None or f"第 {e.row} 行" in str(e) for e in report.errors)
    assert _roster_state(engine) == before
