"""Rating forms per evaluator group: 分项 (every criterion) or 总体 (one rating per target), each
group on the round's scale or its own, with or without 不了解 and a comment box.

The round of `world`: 市场经营户 rate 总体 on 满意 / 基本满意 / 不满意 (100 / 70 / 40) + 不了解,
基层单位工作人员 and 局全体工作人员 rate 分项 on the round's 好 / 较好 / 一般 / 差
(100 / 80 / 60 / 40) + 不了解; at least 2 ballots a group. Every expected number below is
worked by hand from the ballots cast in `cast_all`, on both backends.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from worlds import bureau, count, issue

from pingyi import ballots, box, cli, config, criteria, db, meeting, reports, rounds, scoring, tally
from pingyi.models import FormKind, GroupKey, Round, ScaleLevel

VENDOR_SCALE = "满意=100,基本满意=70,不满意=40"


def vendors_overall(session: Session, round_: Round) -> None:
    vendors = next(
        g
        for g in criteria.group_forms(session=session, round_id=round_.id).values()
        if g.group_key == GroupKey.VENDORS
    )
    criteria.set_group_form(
        session=session,
        round_id=round_.id,
        group_id=vendors.group_id,
        kind=FormKind.OVERALL,
        scale_levels=criteria.parse_scale(VENDOR_SCALE),
        actor="测试",
    )
    scoring.save_settings(
        actor="测试",
        session=session,
        round_=round_,
        settings=scoring.ScoringSettings(min_ballots=2),
    )


@dataclass(frozen=True)
class World:
    round_id: int
    groups: dict[GroupKey, int]
    forms: dict[GroupKey, ballots.BallotForm]

    def level(self, key: GroupKey, label: str) -> int:
        return next(lv.id for lv in self.forms[key].levels if lv.label == label)

    def target(self, key: GroupKey, name: str) -> int:
        return next(c.target_id for c in self.forms[key].cards if c.name == name)


@pytest.fixture
def world(engine: Engine) -> World:
    built = bureau(engine, prepare=vendors_overall)
    with db.session(engine) as s:
        forms = {
            key: ballots.ballot_form(session=s, round_id=built.round_id, group_id=gid)
            for key, gid in built.groups.items()
        }
    return World(built.round_id, built.groups, forms)


def overall(w: World, chosen: Mapping[str, str], rest: str = "不了解") -> ballots.Answers:
    """A vendors' ballot: the named targets at their level, every other target at `rest`."""
    form = w.forms[GroupKey.VENDORS]
    return {
        (card.target_id, 0): w.level(GroupKey.VENDORS, chosen.get(card.name, rest))
        for card in form.cards
    }


def itemized(w: World, key: GroupKey, first: str, rest: str) -> ballots.Answers:
    """A 分项 ballot: the first criterion of every card at `first`, the others at `rest`."""
    form = w.forms[key]
    return {
        (card.target_id, c.id): w.level(key, first if n == 0 else rest)
        for card in form.cards
        for n, c in enumerate(card.criteria)
    }


def cast(engine: Engine, w: World, key: GroupKey, sent: list[ballots.Answers], **kw: Any) -> None:
    codes = issue(engine, w.round_id, w.groups[key], len(sent))
    for code, answers in zip(codes, sent, strict=True):
        ballots.submit_with_retry(engine, code, answers, **kw.get(code, {}))


def cast_all(engine: Engine, w: World) -> None:
    vendors = [
        overall(w, {"第一党员1": "满意", "第一党员2": "基本满意"}),  # A
        overall(w, {"第一党员1": "满意", "第一党员2": "不满意", "第一党员3": "满意"}),  # B
        overall(w, {}, rest="基本满意"),  # C: 一刀切, the same level for every target
    ]
    cast(engine, w, GroupKey.VENDORS, vendors)
    cast(
        engine,
        w,
        GroupKey.UNIT_STAFF,
        [
            itemized(w, GroupKey.UNIT_STAFF, "好", "好"),  # D: 一刀切
            itemized(w, GroupKey.UNIT_STAFF, "差", "一般"),  # E
        ],
    )
    cast(
        engine,
        w,
        GroupKey.ALL_STAFF,
        [
            itemized(w, GroupKey.ALL_STAFF, "较好", "较好"),  # F: 一刀切
            itemized(w, GroupKey.ALL_STAFF, "好", "好"),  # G: 一刀切
        ],
    )
    count(engine, w.round_id)


def results(engine: Engine, w: World, **kw: Any) -> scoring.RoundResult:
    with db.session(engine) as s:
        return scoring.round_results(session=s, round_id=w.round_id, **kw)


def group_score(result: scoring.TargetResult, group_id: int) -> scoring.GroupScore:
    return next(g for g in result.groups if g.group_id == group_id)


# ---- the forms


def test_each_group_gets_its_own_form_and_the_round_freezes_them(
    engine: Engine, world: World
) -> None:
    vendors, unit = world.forms[GroupKey.VENDORS], world.forms[GroupKey.UNIT_STAFF]
    assert vendors.kind == FormKind.OVERALL
    assert [(lv.label, lv.score) for lv in vendors.levels] == [
        ("满意", 100.0),
        ("基本满意", 70.0),
        ("不满意", 40.0),
        ("不了解", None),
    ]
    assert len(vendors.cards) == 9 and vendors.items == tuple(
        (c.target_id, 0) for c in vendors.cards
    )
    with db.session(engine) as s:
        by_template = criteria.round_criteria(session=s, round_id=world.round_id)
    for card in vendors.cards:
        assert card.criteria == (criteria.OVERALL,)
        key = next(k for k, label in criteria.TEMPLATE_LABELS.items() if label == card.category)
        assert card.weigh == tuple(c.name for c in by_template[key]) and len(card.weigh) >= 6
    assert unit.kind == FormKind.ITEMIZED and all(not card.weigh for card in unit.cards)
    assert [lv.label for lv in unit.levels] == ["好", "较好", "一般", "差", "不了解"]
    assert all(len(card.criteria) in (6, 7) for card in unit.cards)

    with db.transaction(engine) as s:
        with pytest.raises(criteria.CriteriaError, match="已开启,测评内容已冻结"):
            criteria.set_group_form(
                session=s,
                round_id=world.round_id,
                group_id=world.groups[GroupKey.VENDORS],
                kind=FormKind.ITEMIZED,
                actor="测试",
            )
        with pytest.raises(criteria.CriteriaError, match="已开启"):
            criteria.replace_scale(
                session=s, round_id=world.round_id, levels=[("好", 100), ("差", 0)], actor="测试"
            )
        described = {
            f.group_key: f.describe()
            for f in criteria.group_forms(session=s, round_id=world.round_id).values()
        }
    assert described == {
        "all_staff": "分项评议 · 好/较好/一般/差/不了解",
        "unit_staff": "分项评议 · 好/较好/一般/差/不了解",
        "vendors": "总体评议 · 满意/基本满意/不满意/不了解",
    }


def test_a_ballot_that_does_not_fit_its_groups_form_is_refused(
    engine: Engine, world: World
) -> None:
    (code,) = issue(engine, world.round_id, world.groups[GroupKey.VENDORS], 1)
    good = overall(world, {"第一党员1": "满意"})
    round_level = world.level(GroupKey.UNIT_STAFF, "好")  # of the round's scale, not the vendors'
    wrong_scale = {item: round_level for item in good}
    with pytest.raises(ballots.BallotError, match="评价等级无效"):
        ballots.submit_with_retry(engine, code, wrong_scale)
    itemized_card = itemized(world, GroupKey.UNIT_STAFF, "好", "好")
    with pytest.raises(ballots.BallotError, match="评议内容与评议表不符"):
        ballots.submit_with_retry(engine, code, {**good, **itemized_card})
    with pytest.raises(ballots.IncompleteBallot):
        ballots.submit_with_retry(engine, code, dict(list(good.items())[:3]))
    ballots.submit_with_retry(engine, code, good)  # the code was never used by the refusals


# ---- counting and scoring, against numbers worked by hand


def test_results_mix_overall_and_itemized_groups_on_their_own_scales(
    engine: Engine, world: World
) -> None:
    cast_all(engine, world)
    result = results(engine, world)
    vendors, unit, staff = (
        world.groups[GroupKey.VENDORS],
        world.groups[GroupKey.UNIT_STAFF],
        world.groups[GroupKey.ALL_STAFF],
    )
    summaries = {g.group_id: (g.ballots, g.uniform, g.status) for g in result.groups}
    assert summaries == {staff: (2, 2, "ok"), unit: (2, 1, "ok"), vendors: (3, 1, "ok")}

    # 市场经营户, 总体: one rating per target and ballot, 满意 100 / 基本满意 70 / 不满意 40.
    expected = {
        "第一党员1": (90.0, 1.0, {"满意": 2, "基本满意": 1, "不了解": 0}),  # 100, 100, 70
        "第一党员2": (60.0, 0.6667, {"基本满意": 2, "不满意": 1}),  # 70, 40, 70
        "第一党员3": (85.0, 1.0, {"满意": 1, "基本满意": 1, "不了解": 1}),  # 100, 70
        "第二党员5": (70.0, 1.0, {"基本满意": 1, "不了解": 2}),  # 70
    }
    for name, (score, good_rate, levels) in expected.items():
        target = result.target(world.target(GroupKey.VENDORS, name))
        assert group_score(target, vendors).score == score, name
        assert target.mass_score == target.combined == score  # no leader reviews: mass alone
        (item,) = [c for c in target.criteria if c.criterion_id == criteria.OVERALL.id]
        assert item.good_rate == good_rate, name
        assert {label: item.distribution[label] for label in levels} == levels, name
        assert item.distribution["好"] == 0  # the round's labels are columns too, empty here
    assert result.target(world.target(GroupKey.VENDORS, "第一党员1")).grade == "优秀"
    assert result.target(world.target(GroupKey.VENDORS, "第一党员2")).grade == "基本合格"

    # 基层单位工作人员, 分项: D all 好 (100); E 差 (40) on the first criterion, 一般 (60) on the
    # others: a target with n criteria scores (100n + 40 + 60(n − 1)) / 2n = 80 − 10/n.
    for card in world.forms[GroupKey.UNIT_STAFF].cards:
        n = len(card.criteria)
        target = result.target(card.target_id)
        assert group_score(target, unit).score == {6: 78.33, 7: 78.57}[n], card.name
        assert [c.good_rate for c in target.criteria] == [0.5] * n  # 好 once in two
        assert [c.criterion_id for c in target.criteria] == [c.id for c in card.criteria]
    # 局全体工作人员: F all 较好 (80), G all 好 (100): 90 everywhere, 好评率 100 %.
    for card in world.forms[GroupKey.ALL_STAFF].cards:
        target = result.target(card.target_id)
        assert group_score(target, staff).score == 90.0
        assert {c.good_rate for c in target.criteria} == {1.0}

    with db.session(engine) as s:
        assert scoring.results_from_ratings(session=s, round_id=world.round_id) == result
        assert tally.verify(session=s, round_id=world.round_id) == []
        round_ = s.get(Round, world.round_id)
        standings = meeting.standings(session=s, round_=round_)
        detail = meeting.target_detail(
            session=s,
            round_id=world.round_id,
            target_id=world.target(GroupKey.VENDORS, "第一党员1"),
        )
    # The meeting screen's drill-down: the overall item by its name, one bar per label.
    (item,) = detail.result.criteria
    assert detail.criterion_names[item.criterion_id] == "总体评价"
    assert (item.mean, item.good_rate, item.distribution["满意"]) == (90.0, 1.0, 2)
    assert criteria.level_labels(detail.levels)[-3:] == ["满意", "基本满意", "不满意"]
    ranked = {r.target_id: r for rows in standings.rankings.values() for r in rows}
    for target in result.targets:
        assert ranked[target.target_id].combined == target.combined
    first = world.target(GroupKey.VENDORS, "第一党员2")
    assert ranked[first].good_rate == 0.6667


def test_dropping_uniform_ballots_drops_them_from_every_form(engine: Engine, world: World) -> None:
    cast_all(engine, world)
    settings = scoring.ScoringSettings(drop_uniform=True, min_ballots=2)
    result = results(engine, world, settings=settings)
    vendors, unit, staff = (
        world.groups[GroupKey.VENDORS],
        world.groups[GroupKey.UNIT_STAFF],
        world.groups[GroupKey.ALL_STAFF],
    )
    counted = {g.group_id: (g.counted, g.status) for g in result.groups}
    assert counted == {vendors: (2, "ok"), unit: (1, "样本不足"), staff: (0, "样本不足")}
    # Without C (all 基本满意): A and B only.
    scores = {
        name: group_score(result.target(world.target(GroupKey.VENDORS, name)), vendors).score
        for name in ("第一党员1", "第一党员2", "第一党员3", "第二党员5")
    }
    assert scores == {"第一党员1": 100.0, "第一党员2": 55.0, "第一党员3": 100.0, "第二党员5": None}


def test_the_export_says_which_form_and_scale_each_group_used(engine: Engine, world: World) -> None:
    cast_all(engine, world)
    with db.session(engine) as s:
        data = reports.summary_workbook(session=s, round_id=world.round_id)
        page = reports.target_report_html(
            session=s,
            round_id=world.round_id,
            target_id=world.target(GroupKey.VENDORS, "第一党员1"),
        )
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book[reports.SHEET_PARTICIPATION]
    header = [cell.value for cell in sheet[1]]
    rows = {row[0].value: [cell.value for cell in row] for row in sheet.iter_rows(min_row=2)}
    form_column, scale_column = header.index("评议方式"), header.index("评价等级")
    uniform_column = header.index("一刀切份数")
    assert rows["市场经营户"][form_column] == "总体评议"
    assert (
        rows["市场经营户"][scale_column] == "满意 100 分、基本满意 70 分、不满意 40 分;不了解不计分"
    )
    assert rows["市场经营户"][uniform_column] == 1
    assert rows["基层单位工作人员"][form_column] == "分项评议"
    assert rows["基层单位工作人员"][scale_column] == (
        "好 100 分、较好 80 分、一般 60 分、差 40 分;不了解不计分"
    )
    assert rows["局全体工作人员"][uniform_column] == 2

    items = book[reports.SHEET_ITEMS]
    header = [cell.value for cell in items[1]]
    # Each label once: the round's scale, then the vendors' own (不了解 shared).
    assert header[4:12] == ["好", "较好", "一般", "差", "不了解", "满意", "基本满意", "不满意"]
    (row,) = [
        [cell.value for cell in r]
        for r in items.iter_rows(min_row=2)
        if r[1].value == "第一党员1" and r[3].value == "总体评价"
    ]
    assert row[4:] == [0, 0, 0, 0, 0, 2, 1, 0, 3, 1.0, 90.0]
    # Rated 总体 only: its one row is 总体评价, not the category's criteria left empty.
    assert [r[3].value for r in items.iter_rows(min_row=2) if r[1].value == "第一党员1"] == [
        "总体评价"
    ]
    assert "市场经营户:总体评议,满意 100 分、基本满意 70 分、不满意 40 分;不了解不计分。" in page
    assert "总体评价" in page


# ---- options: no 不了解, no comment box; the defaults new rounds copy


def test_a_form_without_unknown_or_comments_refuses_them(engine: Engine) -> None:
    def plain_form(session: Session, round_: Round) -> None:
        unit = criteria.group_forms(session=session, round_id=round_.id)
        gid = next(f.group_id for f in unit.values() if f.group_key == GroupKey.UNIT_STAFF)
        criteria.set_group_form(
            session=session,
            round_id=round_.id,
            group_id=gid,
            kind=FormKind.OVERALL,
            unknown=False,
            comments=False,
            actor="测试",
        )

    built = bureau(engine, prepare=plain_form)
    gid = built.groups[GroupKey.UNIT_STAFF]
    with db.session(engine) as s:
        form = ballots.ballot_form(session=s, round_id=built.round_id, group_id=gid)
        unknown = next(
            lv.id
            for lv in criteria.round_scale(session=s, round_id=built.round_id)
            if not lv.scored
        )
    assert [lv.label for lv in form.levels] == ["好", "较好", "一般", "差"]
    assert (form.comments, form.comment_budget) == (False, 0)
    first = form.cards[0].target_id
    answers = {item: form.levels[0].id for item in form.items}
    codes = issue(engine, built.round_id, gid, 2)
    with pytest.raises(ballots.BallotError, match="评价等级无效"):
        ballots.submit_with_retry(engine, codes[0], {**answers, (first, 0): unknown})
    with pytest.raises(ballots.BallotError, match="不设意见建议栏"):
        ballots.submit_with_retry(engine, codes[0], answers, {first: "很好"})
    ballots.submit_with_retry(engine, codes[0], answers, {first: "  "})
    # No comments to pad: every blob is a header and a byte per item.
    assert len(box.seal(form=form, answers=answers, comments={})) == (
        box.NONCE_BYTES + 16 + box.plain_size(len(form.items), len(form.cards), 0)
    )


def test_new_rounds_copy_the_defaults_forms_and_scales(engine: Engine) -> None:
    with db.transaction(engine) as s:
        gid = next(
            f.group_id
            for f in criteria.group_forms(session=s, round_id=None).values()
            if f.group_key == GroupKey.VENDORS
        )
        criteria.set_group_form(
            session=s,
            round_id=None,
            group_id=gid,
            kind=FormKind.OVERALL,
            scale_levels=criteria.parse_scale("满意,不满意"),
            comments=False,
            actor="测试",
        )
        round_ = rounds.create_round(actor="测试", session=s, name="下一轮", quarter="2027Q1")
        copied = criteria.group_form(session=s, round_id=round_.id, group_id=gid)
        defaults = criteria.group_form(session=s, round_id=None, group_id=gid)
        # The round's own copy: editing it leaves the defaults alone.
        criteria.set_group_form(
            session=s, round_id=round_.id, group_id=gid, kind=FormKind.ITEMIZED, actor="测试"
        )
        after = criteria.group_form(session=s, round_id=None, group_id=gid)
        own_levels = s.exec(select(ScaleLevel).where(ScaleLevel.group_id == gid)).all()
    assert (
        copied.describe() == defaults.describe() == "总体评议 · 满意/不满意/不了解 · 不设意见建议栏"
    )
    assert [lv.score for lv in copied.levels] == [100.0, 40.0, None]
    assert {lv.id for lv in copied.scale}.isdisjoint({lv.id for lv in defaults.scale})
    assert after == defaults
    assert len(own_levels) == 3  # the defaults' three; the round's were removed with its scale


# ---- small rules


def test_parse_scale_spreads_scores_and_takes_given_ones() -> None:
    assert criteria.parse_scale("满意,基本满意,不满意") == [
        ("满意", 100.0),
        ("基本满意", 70.0),
        ("不满意", 40.0),
    ]
    assert criteria.parse_scale("优 、良、 中,差,不了解") == [
        ("优", 100.0),
        ("良", 80.0),
        ("中", 60.0),
        ("差", 40.0),
        ("不了解", None),
    ]
    assert criteria.parse_scale("满意=95,不满意=30") == [("满意", 95.0), ("不满意", 30.0)]
    with pytest.raises(criteria.CriteriaError, match="都写上分数"):
        criteria.parse_scale("满意=100,不满意")
    with pytest.raises(criteria.CriteriaError, match="不是数字"):
        criteria.parse_scale("满意=很高,不满意=0")
    with pytest.raises(criteria.CriteriaError, match="请填写评价等级"):
        criteria.parse_scale(" , ")


def test_a_group_scale_that_cannot_be_scored_is_refused(engine: Engine) -> None:
    with db.transaction(engine) as s:
        gid = next(iter(criteria.group_forms(session=s, round_id=None)))
        for levels, message in (
            ([("满意", 100.0)], "至少要有两个计分的等级"),
            ([("满意", 100.0), ("满意", 50.0)], "重复"),
            ([("一般", 50.0), ("满意", 100.0)], "从高到低"),
        ):
            with pytest.raises(criteria.CriteriaError, match=message):
                criteria.set_group_form(
                    session=s,
                    round_id=None,
                    group_id=gid,
                    kind=FormKind.OVERALL,
                    scale_levels=levels,
                    actor="测试",
                )


def test_good_levels_are_the_top_two_of_each_scale() -> None:
    levels = [
        criteria.LevelView(1, "好", 100.0),
        criteria.LevelView(2, "较好", 80.0),
        criteria.LevelView(3, "一般", 60.0),
        criteria.LevelView(4, "不了解", None),
        criteria.LevelView(5, "满意", 100.0, group_id=3),
        criteria.LevelView(6, "基本满意", 70.0, group_id=3),
        criteria.LevelView(7, "不满意", 40.0, group_id=3),
    ]
    assert criteria.good_levels(levels) == {1, 2, 5, 6}
    assert criteria.level_labels([*levels, criteria.LevelView(8, "不了解", None, 3)]) == [
        "好",
        "较好",
        "一般",
        "不了解",
        "满意",
        "基本满意",
        "不满意",
    ]


# ---- the CLI


@pytest.fixture
def cli_db(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The CLI on the test's database (SQLite or PostgreSQL)."""
    monkeypatch.setenv("PINGYI_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    config.settings.cache_clear()
    db.engine.cache_clear()
    yield engine
    db.engine().dispose()
    config.settings.cache_clear()
    db.engine.cache_clear()


def test_cli_form_show_and_set_for_a_round_in_preparation(
    cli_db: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    with db.transaction(cli_db) as s:
        rounds.create_round(actor="测试", session=s, name="筹备轮", quarter="2027Q1")
    assert (
        cli.main(
            [
                "form",
                "set",
                "--group",
                "vendors",
                "--kind",
                "总体",
                "--scale",
                "满意,基本满意,不满意",
                "--no-comments",
            ]
        )
        == 0
    )
    said = capsys.readouterr().out
    assert (
        "已设置「筹备轮」市场经营户的评议表:总体评议 · 满意/基本满意/不满意/不了解 · 不设意见建议栏"
        in said
    )
    assert cli.main(["form", "set", "--group", "unit_staff", "--kind", "分项", "--no-unknown"]) == 0
    assert cli.main(["form", "show"]) == 0
    shown = capsys.readouterr().out
    assert "市场经营户(vendors): 总体评议 · 满意/基本满意/不满意/不了解 · 不设意见建议栏" in shown
    assert "基层单位工作人员(unit_staff): 分项评议 · 好/较好/一般/差\n" in shown
    assert cli.main(["form", "set", "--group", "vendors", "--kind", "逐个"]) == 1
    assert "请写 总体 或 分项" in capsys.readouterr().err
    with db.session(cli_db) as s:
        draft = rounds.resolve(session=s, id_or_name="筹备轮")
        forms = criteria.group_forms(session=s, round_id=draft.id)
    assert {f.group_key: (f.kind, f.unknown, f.comments) for f in forms.values()} == {
        "all_staff": (FormKind.ITEMIZED, True, True),
        "unit_staff": (FormKind.ITEMIZED, False, True),
        "vendors": (FormKind.OVERALL, True, False),
    }


def test_cli_form_set_refuses_an_opened_round(
    cli_db: Engine, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["form", "set", "--group", "vendors", "--kind", "分项"]) == 1
    assert "没有筹备中的轮次" in capsys.readouterr().err
    round_name = "2026年第四季度评议"
    assert (
        cli.main(["form", "set", "--round", round_name, "--group", "vendors", "--kind", "分项"])
        == 1
    )
    assert "已开启,测评内容已冻结" in capsys.readouterr().err
    assert cli.main(["form", "show"]) == 0
    assert "(已开启,评议表已冻结)" in capsys.readouterr().out
