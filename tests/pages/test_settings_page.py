"""评分设置 in AppTest: valid settings are stored in the round, invalid ones are refused in
Chinese and store nothing, and a round whose results are published cannot be changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from worlds import count

from pingyi import ballots, codes, db, groups, rounds, scoring
from pingyi.models import GroupKey, Round
from pingyi.scoring import ScoringSettings

PAGE = "pages/settings.py"
FROZEN = "结果已公布,评分设置已冻结"


def current_round() -> Round:
    with db.session() as s:
        current = rounds.current(session=s)
        assert current is not None
        return current


def stored() -> tuple[dict[str, Any], int]:
    """The current round's settings and minimum, read in a fresh session."""
    round_ = current_round()
    return dict(round_.settings), round_.settings.get(scoring.KEY_MIN_BALLOTS)


def field(at: AppTest, label: str) -> Any:
    return next(n for n in at.number_input if n.label == label)


def button(at: AppTest, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


def fill(at: AppTest, values: dict[str, float]) -> AppTest:
    for label, value in values.items():
        field(at, label).set_value(value)
    return at


def click(at: AppTest, label: str) -> AppTest:
    button(at, label).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_form_starts_from_the_round_s_settings(demo_db: Path, open_page) -> None:
    at = open_page(PAGE)
    assert at.title[0].value == "评分设置"
    assert field(at, "领导点评权重(%)").value == 40
    assert field(at, "群众评议权重(%)").value == 60
    assert [field(at, f"{name}(分)").value for name in ("优秀", "合格", "基本合格")] == [
        90,
        75,
        60,
    ]
    assert field(at, "每个评议群体的最少有效票数").value == 5
    assert [field(at, name).value for name in groups.GROUP_LABELS.values()] == [1, 1, 1]
    assert at.checkbox[0].value is False
    assert not at.info, "not published: nothing frozen"


def test_saving_valid_settings_stores_them_in_the_round(demo_db: Path, open_page) -> None:
    at = fill(
        open_page(PAGE),
        {
            "领导点评权重(%)": 30,
            "群众评议权重(%)": 70,
            "市场经营户": 2,
            "优秀(分)": 85,
            "每个评议群体的最少有效票数": 3,
        },
    )
    at.checkbox[0].check()
    at = click(at, "保存")
    assert not at.error
    assert at.success[0].value.startswith("已保存")

    settings, minimum = stored()
    assert minimum == 3
    with db.session() as s:
        by_key = groups.by_key(session=s)
    weights = {g.id: 1.0 for g in by_key.values()} | {by_key[GroupKey.VENDORS].id: 2.0}
    assert ScoringSettings.from_round(current_round()) == ScoringSettings(
        leader_weight=0.3,
        mass_weight=0.7,
        group_weights=weights,  # type: ignore[arg-type]
        grades=(("优秀", 85.0), ("合格", 75.0), ("基本合格", 60.0), ("不合格", 0.0)),
        min_ballots=3,
        drop_uniform=True,
    )
    assert settings[scoring.KEY_DROP_UNIFORM] is True
    # The form shows what is stored now.
    assert field(at, "领导点评权重(%)").value == 30


def test_equal_group_weights_are_stored_as_equal(demo_db: Path, open_page) -> None:
    click(open_page(PAGE), "保存")
    settings, _ = stored()
    assert settings[scoring.KEY_GROUP_WEIGHTS] is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"领导点评权重(%)": 50, "群众评议权重(%)": 60},
            "领导点评与群众评议的权重之和应为 100%(现为 110%)",
        ),
        ({"合格(分)": 95}, "等级分数线应从高到低排列,且不能相同"),
        ({"局全体工作人员": 0, "基层单位工作人员": 0, "市场经营户": 0}, "评议群体的权重不能全为 0"),
    ],
)
def test_invalid_settings_are_refused_in_chinese_and_store_nothing(
    demo_db: Path, open_page, values: dict[str, float], message: str
) -> None:
    before = stored()
    at = click(fill(open_page(PAGE), values), "保存")
    assert [e.value for e in at.error] == [message]
    assert not at.success
    assert stored() == before
    # What was typed stays, to be corrected.
    label, value = next(iter(values.items()))
    assert field(at, label).value == value


def publish() -> None:
    with db.transaction() as s:
        round_ = rounds.current(session=s)
        assert round_ is not None
        round_.results_published = True
        s.add(round_)


def test_published_results_freeze_the_form(demo_db: Path, open_page) -> None:
    publish()
    at = open_page(PAGE)
    assert [i.value for i in at.info] == [FROZEN]
    assert at.number_input and all(n.disabled for n in at.number_input)
    assert all(c.disabled for c in at.checkbox)
    assert {b.label for b in at.main.button} == {"预览", "保存"}
    assert all(b.disabled for b in at.main.button)


def test_a_save_sent_after_the_results_were_published_changes_nothing(
    demo_db: Path, open_page
) -> None:
    at = fill(open_page(PAGE), {"领导点评权重(%)": 50, "群众评议权重(%)": 50})
    publish()  # in another tab, after this form was drawn
    before = stored()
    at = click(at, "保存")
    assert not at.success
    assert [i.value for i in at.info] == [FROZEN]
    assert stored() == before


def test_preview_counts_grades_under_the_new_settings_without_saving(
    demo_db: Path, open_page
) -> None:
    round_ = current_round()
    # 市场经营户 give five ballots: their targets get a score and a grade.
    with db.transaction() as s:
        vendors = groups.by_key(session=s)[GroupKey.VENDORS].id
        plain = codes.issue(actor="测试", session=s, round_id=round_.id, group_id=vendors, count=5)  # type: ignore[arg-type]
        form = ballots.ballot_form(session=s, round_id=round_.id, group_id=vendors)  # type: ignore[arg-type]
    # The lowest scored level (差, or 不满意 on the vendors' own scale): every score is 40,
    # 不合格 by default.
    worst = min((lv for lv in form.levels if lv.scored), key=lambda lv: lv.score or 0).id
    for code in plain:
        with db.transaction() as s:
            ballots.submit(session=s, code=code, answers=dict.fromkeys(form.items, worst))
    count(db.engine(), round_.id)  # type: ignore[arg-type]  # 开箱计票: the ballots score
    scored = len(form.cards)

    at = open_page(PAGE)
    assert any(f"不合格 {scored} 个" in c.value for c in at.caption)
    before = stored()
    at = click(fill(at, {"基本合格(分)": 30}), "预览")
    assert [i.value for i in at.info] == [
        f"按新设置:优秀 0 个、合格 0 个、基本合格 {scored} 个、不合格 0 个、"
        f"暂无 {len(scoring_targets(round_)) - scored} 个(尚未保存)。"
    ]
    assert stored() == before


def scoring_targets(round_: Round) -> list[scoring.TargetResult]:
    with db.session() as s:
        return scoring.round_results(session=s, round_id=round_.id).targets  # type: ignore[arg-type]
