"""调研督查 on SQLite and PostgreSQL: findings are recorded per branch of the round, while the
round is between 自我小结 and 开展点评, with what was checked and what was found.

The world is `worlds.build_bureau`: the 机关党支部 and two grassroots branches.
"""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from worlds import GRASSROOTS_BRANCHES, ORGAN_BRANCH, Bureau, bureau, inspections_of_round

from pingyi import auth, db, inspections, rounds
from pingyi.inspections import InspectionError
from pingyi.models import Inspection, Round, Step, Target, TargetKind

TODAY = date(2026, 11, 20)
FIRST, SECOND = GRASSROOTS_BRANCHES


@pytest.fixture
def world(engine: Engine) -> Bureau:
    return bureau(engine)


def target(s: Session, round_id: int, name: str) -> Target:
    return s.exec(select(Target).where(Target.round_id == round_id, Target.name == name)).one()


def record(s: Session, round_id: int, name: str, **kw: object) -> Inspection:
    values: dict[str, object] = {
        "inspector": "李副局长",
        "visited_on": date(2026, 11, 12),
        "checked": "三会一课记录、党费收缴台账",
        "findings": "记录齐全;党费按时收缴",
    } | kw
    return inspections.record(
        session=s,
        round_id=round_id,
        target_id=target(s, round_id, name).id,  # type: ignore[arg-type]
        today=TODAY,
        **values,  # type: ignore[arg-type]
    )


def set_step(engine: Engine, round_id: int, step: Step) -> None:
    with db.transaction(engine) as s:
        rounds.set_step(actor="测试", session=s, round_=s.get(Round, round_id), step=step)  # type: ignore[arg-type]


def test_a_finding_is_recorded_for_a_branch(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        record(s, world.round_id, FIRST)
    with db.session(engine) as s:
        found = inspections.for_branch(
            session=s,
            target_id=target(s, world.round_id, FIRST).id,  # type: ignore[arg-type]
        )
    assert [(i.inspector, i.visited_on, i.checked, i.findings) for i in found] == [
        ("李副局长", date(2026, 11, 12), "三会一课记录、党费收缴台账", "记录齐全;党费按时收缴")
    ]


@pytest.mark.parametrize("name", ["钱干事", "局领导班子"])
def test_findings_are_recorded_only_for_branches(engine: Engine, world: Bureau, name: str) -> None:
    with db.transaction(engine) as s:
        kinds = {t.name: t.kind for t in rounds.targets_of(session=s, round_id=world.round_id)}
        assert kinds[name] != TargetKind.BRANCH
        with pytest.raises(InspectionError, match="只能记在本轮的党支部名下"):
            record(s, world.round_id, name)


def test_a_branch_of_another_round_is_refused(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        branch = target(s, world.round_id, FIRST)
        other = rounds.create_round(actor="测试", session=s, name="另一轮", quarter="2027Q1")
        rounds.open_round(actor="测试", session=s, round_=other)
        with pytest.raises(InspectionError, match="只能记在本轮的党支部名下"):
            inspections.record(
                session=s,
                round_id=other.id,  # type: ignore[arg-type]
                target_id=branch.id,  # type: ignore[arg-type]
                inspector="李副局长",
                visited_on=TODAY,
                checked="台账",
                findings="齐全",
                today=TODAY,
            )


@pytest.mark.parametrize("step", [Step.SELF_SUMMARY, Step.INSPECTION, Step.BRIEFING, Step.REVIEW])
def test_findings_are_recorded_from_self_summary_to_the_reviews(
    engine: Engine, world: Bureau, step: Step
) -> None:
    set_step(engine, world.round_id, step)
    with db.transaction(engine) as s:
        assert record(s, world.round_id, FIRST).id is not None


@pytest.mark.parametrize("step", [Step.RECTIFICATION, Step.CLOSED])
def test_findings_are_closed_after_the_reviews(engine: Engine, world: Bureau, step: Step) -> None:
    with db.transaction(engine) as s:
        kept = record(s, world.round_id, FIRST).id
    set_step(engine, world.round_id, step)
    with db.transaction(engine) as s:
        with pytest.raises(InspectionError, match="不能再记录或删除调研督查情况"):
            record(s, world.round_id, SECOND)
        with pytest.raises(InspectionError, match="不能再记录或删除调研督查情况"):
            inspections.delete(session=s, inspection_id=kept)  # type: ignore[arg-type]


def test_a_round_still_in_preparation_takes_no_findings(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        draft = rounds.create_round(actor="测试", session=s, name="筹备中", quarter="2027Q1")
        with pytest.raises(InspectionError, match="「筹备」阶段"):
            inspections.record(
                session=s,
                round_id=draft.id,  # type: ignore[arg-type]
                target_id=target(s, world.round_id, FIRST).id,  # type: ignore[arg-type]
                inspector="李副局长",
                visited_on=TODAY,
                checked="台账",
                findings="齐全",
                today=TODAY,
            )


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("checked", "请填写「调研督查内容」"),
        ("findings", "请填写「发现的情况」"),
        ("inspector", "请填写「调研人」"),
    ],
)
def test_what_was_checked_and_found_must_be_filled_in(
    engine: Engine, world: Bureau, field: str, message: str
) -> None:
    with db.transaction(engine) as s, pytest.raises(InspectionError, match=message):
        record(s, world.round_id, FIRST, **{field: " \n "})


@pytest.mark.parametrize(
    ("field", "maximum", "label"),
    [
        ("checked", 1000, "调研督查内容"),
        ("findings", 3000, "发现的情况"),
        ("inspector", 50, "调研人"),
    ],
)
def test_texts_longer_than_their_columns_are_refused(
    engine: Engine, world: Bureau, field: str, maximum: int, label: str
) -> None:
    with db.transaction(engine) as s:
        assert record(s, world.round_id, FIRST, **{field: "字" * maximum})
        with pytest.raises(InspectionError, match=f"「{label}」不能超过 {maximum} 个字"):
            record(s, world.round_id, FIRST, **{field: "字" * (maximum + 1)})


def test_a_visit_cannot_be_dated_in_the_future(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        assert record(s, world.round_id, FIRST, visited_on=TODAY)
        with pytest.raises(InspectionError, match="调研日期不能晚于今天"):
            record(s, world.round_id, FIRST, visited_on=date(2026, 11, 21))


def test_the_same_finding_sent_twice_is_stored_once(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        first = record(s, world.round_id, FIRST)
        assert record(s, world.round_id, FIRST, findings=" 记录齐全;党费按时收缴 ").id == first.id
        assert record(s, world.round_id, FIRST, findings="另一条").id != first.id
    with db.session(engine) as s:
        assert len(inspections_of_round(s, world.round_id)) == 2


def test_a_double_tap_stores_the_finding_once(engine: Engine, world: Bureau) -> None:
    """Two requests at once: the second waits for the first and finds its finding."""

    def tap() -> None:
        with db.transaction(engine) as s:
            record(s, world.round_id, FIRST)
            time.sleep(0.3)  # still uncommitted while the other tap arrives

    taps = [threading.Thread(target=tap) for _ in range(2)]
    for thread in taps:
        thread.start()
    for thread in taps:
        thread.join()
    with db.session(engine) as s:
        assert len(inspections_of_round(s, world.round_id)) == 1


def test_findings_are_listed_by_branch_then_date(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        record(s, world.round_id, SECOND, visited_on=date(2026, 11, 1), findings="二支部")
        record(s, world.round_id, FIRST, visited_on=date(2026, 11, 15), findings="一支部后")
        record(s, world.round_id, FIRST, visited_on=date(2026, 11, 3), findings="一支部先")
    with db.session(engine) as s:
        found = inspections_of_round(s, world.round_id)
        first = inspections.for_branch(
            session=s,
            target_id=target(s, world.round_id, FIRST).id,  # type: ignore[arg-type]
        )
    assert [i.findings for i in found] == ["一支部先", "一支部后", "二支部"]
    assert [i.findings for i in first] == ["一支部先", "一支部后"]


def test_progress_shows_the_branches_without_findings(engine: Engine, world: Bureau) -> None:
    with db.transaction(engine) as s:
        record(s, world.round_id, FIRST)
        record(s, world.round_id, FIRST, findings="第二条")
    with db.session(engine) as s:
        lines = inspections.progress(session=s, round_id=world.round_id)
    assert [(line.branch, line.findings, line.done) for line in lines] == [
        (ORGAN_BRANCH, 0, False),
        (FIRST, 2, True),
        (SECOND, 0, False),
    ]


def test_an_inspector_deletes_only_their_own_findings_the_office_any(
    engine: Engine, world: Bureau
) -> None:
    with db.transaction(engine) as s:
        # Two leaders of the same name: only the account that recorded a finding counts.
        me, namesake = (
            auth.create_admin(
                actor="测试",
                session=s,
                username=username,
                password="inspect-pass-1",
                display_name="李副局长",
            ).id
            for username in ("li", "li2")
        )
        mine = record(s, world.round_id, FIRST, recorded_by=me).id
        theirs = record(s, world.round_id, FIRST, findings="另一次", recorded_by=namesake).id
    with db.transaction(engine) as s:
        with pytest.raises(InspectionError, match="只能删除自己记录的"):
            inspections.delete(session=s, inspection_id=theirs, recorded_by=me)  # type: ignore[arg-type]
        assert inspections.delete(session=s, inspection_id=mine, recorded_by=me)  # type: ignore[arg-type]
        assert inspections.delete(session=s, inspection_id=theirs)  # type: ignore[arg-type]
        # Already gone (a double tap): nothing to do.
        assert inspections.delete(session=s, inspection_id=mine) is None  # type: ignore[arg-type]
    with db.session(engine) as s:
        assert inspections_of_round(s, world.round_id) == []
