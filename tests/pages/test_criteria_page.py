"""测评内容 in AppTest: valid criteria, scale, rules and headcounts are stored with an audit
event; invalid ones are refused in Chinese and store nothing; an opened round is read-only;
only the office may open the page.

AppTest cannot edit an `st.data_editor`, so the scale and rules tests stand in for the
office's edits: `st.data_editor` returns the table the office would have left (`edited`).
The real editor is edited in chromium in tests/browser/test_criteria_browser.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit
from apptools import OFFICE
from sqlmodel import col, select
from streamlit.testing.v1 import AppTest

from pingyi import audit, auth, criteria, db, groups, rounds, rules
from pingyi.models import (
    STEP_LABELS,
    Account,
    FormKind,
    GroupKey,
    Member,
    Round,
    Step,
    TemplateKey,
)
from pingyi.ui.auth import MSG_NO_ACCESS
from pingyi.ui.text import md_escape

PAGE = "pages/criteria.py"
DEFAULTS = None
DEFAULT_RULES = list(rules.DEFAULT_RULES)


def check(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def text_area(at: AppTest, label: str) -> Any:
    return next(t for t in at.text_area if t.label == label)


def button(at: AppTest, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


def saved(at: AppTest) -> list[str]:
    """The page's success messages about a save (the rules preview has its own)."""
    return [s.value for s in at.success if s.value.startswith("已保存")]


def click(at: AppTest, label: str) -> AppTest:
    button(at, label).click().run()
    return check(at)


def choose(at: AppTest, round_id: int) -> AppTest:
    """Pick a round in the page's selectbox (the office's defaults come first)."""
    box = at.selectbox(key="criteria_target")
    box.select_index(box.options.index(label_of(round_id))).run()
    return check(at)


def label_of(round_id: int) -> str:
    with db.session() as s:
        round_ = s.get(Round, round_id)
        assert round_ is not None
        return f"{round_.name}({STEP_LABELS[Step(round_.step)]})"


def names(round_id: int | None) -> dict[TemplateKey, list[str]]:
    with db.session() as s:
        return criteria.criteria_names(session=s, round_id=round_id)


def levels(round_id: int | None) -> list[tuple[str, float | None]]:
    with db.session() as s:
        return [(lv.label, lv.score) for lv in criteria.scale(session=s, round_id=round_id)]


def rules_of(round_id: int | None) -> list[rules.Rule]:
    with db.session() as s:
        return rounds.rules_of(session=s, round_id=round_id)


def events(action: str) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(e.actor, e.detail) for e in audit.events(session=s, action=action)]


def draft_round(name: str = "2027年第一季度评议") -> int:
    with db.transaction() as s:
        return rounds.create_round(actor="测试", session=s, name=name, quarter="2027Q1").id  # type: ignore[return-value]


def current_round_id() -> int:
    with db.session() as s:
        current = rounds.current(session=s)
        assert current is not None
        return current.id  # type: ignore[return-value]


@pytest.fixture
def edited(monkeypatch: pytest.MonkeyPatch) -> dict[str, pd.DataFrame]:
    """Tables by key part ("scale", "rules"): what `st.data_editor` returns for that table."""
    tables: dict[str, pd.DataFrame] = {}
    real: Callable[..., Any] = streamlit.data_editor

    def data_editor(data: Any, *args: Any, key: str = "", **kwargs: Any) -> Any:
        for part, table in tables.items():
            if key.endswith(f"_{part}"):
                return table
        return real(data, *args, key=key, **kwargs)

    monkeypatch.setattr(streamlit, "data_editor", data_editor)
    return tables


# ---- criteria


def test_the_page_starts_from_the_office_s_defaults(empty_db: Path, open_page) -> None:
    at = open_page(PAGE)
    assert at.title[0].value == "测评内容"
    assert at.selectbox(key="criteria_target").index == 0
    assert text_area(at, "党组织").value == "\n".join(criteria.DEFAULT_CRITERIA[TemplateKey.BRANCH])
    assert text_area(at, "普通党员").value == "\n".join(
        criteria.DEFAULT_CRITERIA[TemplateKey.MEMBER]
    )
    assert not at.info, "the defaults are never frozen"
    assert not button(at, "保存测评项目").disabled


def test_saving_valid_criteria_stores_them_with_an_audit_event(empty_db: Path, open_page) -> None:
    at = open_page(PAGE)
    text_area(at, "普通党员").set_value(" 履行岗位职责情况\n\n工作成效\n服务群众情况\n")
    at = click(at, "保存测评项目")
    assert not at.error
    assert saved(at) == ["已保存办公室默认设置的测评项目。"]
    assert names(DEFAULTS)[TemplateKey.MEMBER] == ["履行岗位职责情况", "工作成效", "服务群众情况"]
    assert names(DEFAULTS)[TemplateKey.BRANCH] == list(
        criteria.DEFAULT_CRITERIA[TemplateKey.BRANCH]
    )
    [(actor, detail)] = events("修改测评项目")
    assert actor == OFFICE
    assert "普通党员共 3 项" in detail
    # The form shows what is stored now.
    assert text_area(at, "普通党员").value == "履行岗位职责情况\n工作成效\n服务群众情况"


def test_a_draft_round_is_edited_apart_from_the_defaults(empty_db: Path, open_page) -> None:
    round_id = draft_round()
    at = choose(open_page(PAGE), round_id)
    assert not at.info
    text_area(at, "领导班子").set_value("班子团结情况\n组织领导情况")
    at = click(at, "保存测评项目")
    assert saved(at) == [md_escape("已保存「2027年第一季度评议」的测评项目。")]
    assert names(round_id)[TemplateKey.TEAM] == ["班子团结情况", "组织领导情况"]
    assert names(DEFAULTS)[TemplateKey.TEAM] == list(criteria.DEFAULT_CRITERIA[TemplateKey.TEAM])


@pytest.mark.parametrize(
    ("label", "typed", "message"),
    [
        ("党组织", "组织领导情况\n组织领导情况", "党组织第 2 项:「组织领导情况」重复"),
        ("党员领导干部", "长" * 101, "党员领导干部第 1 项:名称超过 100 个字"),
        ("领导班子", "\n  \n", "领导班子至少要有一项测评内容"),
    ],
)
def test_invalid_criteria_show_an_error_and_store_nothing(
    empty_db: Path, open_page, label: str, typed: str, message: str
) -> None:
    before = names(DEFAULTS)
    at = open_page(PAGE)
    text_area(at, "普通党员").set_value("工作成效")  # valid, but not stored either
    text_area(at, label).set_value(typed)
    at = click(at, "保存测评项目")
    assert [e.value for e in at.error] == [md_escape(message)]
    assert not saved(at)
    assert names(DEFAULTS) == before
    assert not events("修改测评项目")
    assert text_area(at, label).value == typed, "what was typed stays, to be corrected"


# ---- an opened round


def test_an_opened_round_is_read_only(demo_db: Path, open_page) -> None:
    round_id = current_round_id()
    at = choose(open_page(PAGE), round_id)
    with db.session() as s:
        message = criteria.frozen_message(s.get(Round, round_id))  # type: ignore[arg-type]
    assert [i.value for i in at.info] == [md_escape(message)]
    assert at.text_area and all(t.disabled for t in at.text_area)
    assert button(at, "保存测评项目").disabled
    labels = {b.label for b in at.button}
    assert not labels & {"保存评价等级", "保存评议规则"}, "scale and rules shown as tables only"
    assert {"等级", "分数"} <= {c for d in at.dataframe for c in d.value.columns}
    assert "保存人数" in labels, "headcounts are office-wide, never frozen"


def test_a_save_sent_after_the_round_was_opened_changes_nothing(demo_db: Path, open_page) -> None:
    round_id = draft_round()
    at = choose(open_page(PAGE), round_id)
    text_area(at, "普通党员").set_value("工作成效")
    before = names(round_id)
    with db.transaction() as s:  # in another tab, after this form was drawn
        rounds.open_round(
            actor="测试", session=s, round_=s.get(Round, round_id), allow_problems=True
        )  # type: ignore[arg-type]
    at = click(at, "保存测评项目")
    assert not saved(at)
    assert names(round_id) == before
    assert not events("修改测评项目")
    assert any("已冻结" in i.value for i in at.info)


# ---- the rating scale


SCALE = pd.DataFrame(
    {
        "等级": ["优秀", "良好", "一般", "较差", "不了解", None],
        "分数": [100.0, 85.0, 70.0, 50.0, float("nan"), float("nan")],  # the last row: left empty
    }
)


def test_a_valid_scale_is_stored(empty_db: Path, open_page, edited) -> None:
    edited["scale"] = SCALE
    at = click(open_page(PAGE), "保存评价等级")
    assert not at.error
    assert saved(at) == ["已保存办公室默认设置的评价等级。"]
    assert levels(DEFAULTS) == [
        ("优秀", 100.0),
        ("良好", 85.0),
        ("一般", 70.0),
        ("较差", 50.0),
        ("不了解", None),
    ]
    [(_, detail)] = events("修改评价等级")
    assert "共 5 项" in detail


def test_an_invalid_scale_shows_an_error_and_stores_nothing(
    empty_db: Path, open_page, edited
) -> None:
    edited["scale"] = pd.DataFrame({"等级": ["差", "好"], "分数": [40.0, 100.0]})
    at = click(open_page(PAGE), "保存评价等级")
    assert [e.value for e in at.error] == [
        md_escape("计分的等级应按分数从高到低排列,且分数不能相同")
    ]
    assert not saved(at)
    assert levels(DEFAULTS) == list(criteria.DEFAULT_SCALE)


# ---- rules


def table(rows: list[tuple[str | None, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["种类", "点评人或评议群体", "对象"])


def test_saved_rules_are_stored_and_their_preview_shown(demo_db: Path, open_page, edited) -> None:
    at = open_page(PAGE)
    assert any("没有发现问题" in s.value for s in at.success), "the demo bureau's rules are fine"
    # Without the 支部书记 rule, the members of grassroots branches have no 点评领导.
    kept = [r for r in DEFAULT_RULES if r.reviewer is not rules.Reviewer.BRANCH_SECRETARY]
    edited["rules"] = table([rounds.rule_labels(r) for r in kept])
    at = click(at, "保存评议规则")
    assert not at.error
    assert saved(at) == ["已保存办公室默认设置的评议规则。"]
    assert rules_of(DEFAULTS) == kept
    assert len(at.warning) == 1 and "没有点评领导" in at.warning[0].value
    [(_, detail)] = events("修改评议规则")
    assert f"共 {len(kept)} 条规则" in detail


def test_a_draft_round_s_rules_are_saved_apart(demo_db: Path, open_page, edited) -> None:
    round_id = draft_round()
    rows = [rounds.rule_labels(r) for r in DEFAULT_RULES]
    rows[-1] = ("群众评议", "基层单位工作人员", "基层单位党员")
    edited["rules"] = table([*rows, (None, None, None)])  # a row added, then left empty
    at = click(choose(open_page(PAGE), round_id), "保存评议规则")
    assert not at.error
    assert rules_of(round_id)[-1] == rules.Rule(
        rules.RuleKind.MASS, rules.Targets.GRASSROOTS_MEMBERS, group=GroupKey.UNIT_STAFF
    )
    assert rules_of(DEFAULTS) == DEFAULT_RULES


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("领导点评", "支部书记", "局领导班子"), "第 12 条规则无效:支部书记不能点评局领导班子"),
        (("群众评议", None, "局领导班子"), "第 12 条规则无效:请选择评议群体"),
    ],
)
def test_invalid_rules_show_an_error_and_store_nothing(
    demo_db: Path, open_page, edited, row: tuple[str | None, ...], message: str
) -> None:
    edited["rules"] = table([*(rounds.rule_labels(r) for r in DEFAULT_RULES), row])
    at = click(open_page(PAGE), "保存评议规则")
    assert [e.value for e in at.error] == [md_escape(message)]
    assert not saved(at)
    assert rules_of(DEFAULTS) == DEFAULT_RULES
    assert not events("修改评议规则")


# ---- headcounts


def test_headcounts_are_stored(empty_db: Path, open_page) -> None:
    at = open_page(PAGE)
    next(n for n in at.number_input if n.label == "市场经营户").set_value(180)
    next(n for n in at.number_input if n.label == "局全体工作人员").set_value(65)
    at = click(at, "保存人数")
    assert saved(at) == ["已保存评议群体人数。"]
    with db.session() as s:
        stored = {key: g.headcount for key, g in groups.by_key(session=s).items()}
    assert stored == {GroupKey.ALL_STAFF: 65, GroupKey.UNIT_STAFF: 0, GroupKey.VENDORS: 180}
    [(_, detail)] = events("修改评议群体人数")
    assert detail == "局全体工作人员 0 → 65;市场经营户 0 → 180"


# ---- who may open it


def test_a_member_without_the_office_role_is_turned_away(demo_db: Path, open_page) -> None:
    with db.transaction() as s:
        member = s.exec(select(Member).where(col(Member.active))).first()
        assert member is not None
        auth.create_member_accounts(actor="测试", session=s, member_ids=[member.id])  # type: ignore[list-item]
        account = s.exec(select(Account).where(Account.member_id == member.id)).one()
        account.must_change_password = False  # as after the first login
        s.add(account)
        roster_id = member.roster_id
    at = open_page(PAGE, as_=roster_id)
    assert [e.value for e in at.error] == [MSG_NO_ACCESS]
    assert not at.text_area and not at.number_input


# ---- 各群体评议表


def group_form(round_id: int | None, key: GroupKey) -> criteria.GroupFormView:
    with db.session() as s:
        forms = criteria.group_forms(session=s, round_id=round_id)
    return next(f for f in forms.values() if f.group_key == key)


def form_widgets(at: AppTest, group_id: int) -> tuple[Any, Any, Any, Any]:
    """The kind radio, scale box and the 不了解 / comment checkboxes of one group's editor."""
    prefix = next(r.key for r in at.radio if r.key.endswith(f"_form_{group_id}_kind"))[
        : -len("_kind")
    ]
    return (
        at.radio(key=f"{prefix}_kind"),
        at.text_input(key=f"{prefix}_scale"),
        at.checkbox(key=f"{prefix}_unknown"),
        at.checkbox(key=f"{prefix}_comments"),
    )


def save_form(at: AppTest, group_id: int) -> AppTest:
    """保存评议表 of one group's editor (each group has its own form and button)."""
    (submit,) = [
        b
        for b in at.button
        if b.label == "保存评议表" and b.proto.form_id.endswith(f"_form_{group_id}")
    ]
    submit.click().run()
    return check(at)


def test_a_group_s_form_is_saved_with_its_own_scale(empty_db: Path, open_page) -> None:
    vendors = group_form(DEFAULTS, GroupKey.VENDORS)
    at = open_page(PAGE)
    kind, scale, unknown, comments = form_widgets(at, vendors.group_id)
    kind.set_value(FormKind.OVERALL)
    scale.set_value("满意,基本满意,不满意")
    comments.uncheck()
    at = save_form(at, vendors.group_id)
    assert saved(at) == ["已保存办公室默认设置「市场经营户」的评议表。"]
    stored = group_form(DEFAULTS, GroupKey.VENDORS)
    assert stored.describe() == "总体评议 · 满意/基本满意/不满意/不了解 · 不设意见建议栏"
    assert [lv.score for lv in stored.levels] == [100.0, 70.0, 40.0, None]
    assert [detail for _, detail in events("修改评议表")] == [
        "办公室默认设置市场经营户:总体评议 · 满意/基本满意/不满意/不了解 · 不设意见建议栏"
    ]
    shown = {row for d in at.dataframe if "评议表" in d.value.columns for row in d.value["评议表"]}
    assert stored.describe() in shown
    # Shown again as it was saved: the scale with its scores, to be edited further.
    kind, scale, unknown, comments = form_widgets(at, vendors.group_id)
    assert (kind.value, scale.value, unknown.value, comments.value) == (
        FormKind.OVERALL,
        "满意=100,基本满意=70,不满意=40",
        True,
        False,
    )


def test_a_group_s_form_that_cannot_be_scored_is_refused(empty_db: Path, open_page) -> None:
    vendors = group_form(DEFAULTS, GroupKey.VENDORS)
    at = open_page(PAGE)
    _, scale, _, _ = form_widgets(at, vendors.group_id)
    scale.set_value("满意")
    at = save_form(at, vendors.group_id)
    assert [e.value for e in at.error] == ["至少要有两个计分的等级"]
    assert group_form(DEFAULTS, GroupKey.VENDORS) == vendors
    assert not events("修改评议表")


def test_an_opened_round_shows_its_forms_without_editors(demo_db: Path, open_page) -> None:
    at = choose(open_page(PAGE), current_round_id())
    shown = {row for d in at.dataframe if "评议表" in d.value.columns for row in d.value["评议表"]}
    assert "总体评议 · 满意/基本满意/不满意/不了解" in shown  # the demo's vendors
    assert "分项评议 · 好/较好/一般/差/不了解" in shown
    assert not [b for b in at.button if b.label == "保存评议表"]
