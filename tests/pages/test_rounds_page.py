"""轮次与进度 in AppTest: create and open a round, move it step by step, see who is not done."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from pingyi import audit, ballots, codes, db, evaluation, groups, rounds
from pingyi.models import GroupKey, Round, Step

PAGE = "pages/rounds.py"


def button(at, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.main.button if b.label == label)


def stored_step(name: str) -> Step:
    with db.session() as s:
        return Step(s.exec(select(Round).where(Round.name == name)).one().step)


def test_the_current_round_shows_each_step_s_progress(demo_db: Path, open_page) -> None:
    at = open_page(PAGE)
    assert at.title[0].value == "轮次与进度"
    labels = [e.label for e in at.main.expander]
    assert any(label.startswith("自我小结:已完成 0 / ") for label in labels)
    assert any(label.startswith("整改落实:已完成 0 / 0") for label in labels)
    assert any(b.label.startswith("进入下一阶段「调研督查」") for b in at.main.button)
    pending = at.main.dataframe[0].value
    assert list(pending.columns) == ["责任人", "待办事项"]
    assert pending["待办事项"].str.contains("自我小结").all()


def test_the_office_moves_the_round_on_and_back_and_it_is_logged(demo_db: Path, open_page) -> None:
    at = open_page(PAGE)
    name = at.selectbox[0].format_func(at.selectbox[0].value).split("(")[0]
    at = button(at, "进入下一阶段「调研督查」").click().run()
    assert not at.exception
    assert at.success[0].value == f"「{name}」已进入「调研督查」阶段。"
    assert stored_step(name) == Step.INSPECTION
    at = button(at, "退回「自我小结」").click().run()
    assert stored_step(name) == Step.SELF_SUMMARY
    with db.session() as s:
        assert [e.action for e in audit.events(session=s)][:2] == ["推进阶段", "推进阶段"]


def test_a_new_round_is_created_then_opened(demo_db: Path, open_page) -> None:
    at = open_page(PAGE)
    name_box = next(t for t in at.main.text_input if t.label == "名称")
    name_box.set_value("2027年第一季度评议")
    at = next(b for b in at.main.button if b.label == "新建").click().run()
    assert "已新建「2027年第一季度评议」" in at.success[0].value
    assert stored_step("2027年第一季度评议") == Step.DRAFT

    with db.session() as s:
        new_id = s.exec(select(Round.id).where(Round.name == "2027年第一季度评议")).one()
    at.selectbox(key="rounds_round").set_value(new_id).run()
    assert any("开启后评议对象和评议关系确定" in m.value for m in at.main.markdown)
    at = button(at, "开启本轮").click().run()
    assert not at.exception and not at.error
    assert stored_step("2027年第一季度评议") == Step.SELF_SUMMARY


def test_an_empty_name_is_refused_in_chinese(demo_db: Path, open_page) -> None:
    at = open_page(PAGE)
    at = next(b for b in at.main.button if b.label == "新建").click().run()
    assert [e.value for e in at.error] == ["请填写评议轮次的名称"]
    with db.session() as s:
        assert len(rounds.list_rounds(session=s)) == 1


def test_the_round_is_not_ended_while_a_box_waits_and_the_page_says_why(
    demo_db: Path, open_page
) -> None:
    with db.transaction() as s:
        round_ = rounds.current(session=s)
        assert round_ is not None
        rounds.set_step(
            actor="测试", session=s, round_=round_, step=Step.RECTIFICATION
        )  # the last step
        round_id, name = round_.id, round_.name
        group_id = groups.by_key(session=s)[GroupKey.VENDORS].id
        (code,) = codes.issue(
            actor="测试", session=s, round_id=round_id, group_id=group_id, count=1
        )  # type: ignore[arg-type]
    with db.session() as s:
        form = ballots.ballot_form(session=s, round_id=round_id, group_id=group_id)  # type: ignore[arg-type]
    ballots.submit_with_retry(db.engine(), code, dict.fromkeys(form.items, form.levels[0].id))

    at = open_page(PAGE)
    at = button(at, "进入下一阶段「已结束」").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "票箱中还有未计票的评议票(市场经营户 1 票)" in at.error[0].value
    assert "开箱计票" in at.error[0].value
    assert not at.success
    assert stored_step(name) == Step.RECTIFICATION
    with db.session() as s:  # the refused step leaves no 推进阶段 in the log
        assert not [e for e in audit.events(session=s, action="推进阶段") if "已结束" in e.detail]
    # Still on 整改落实: the office can try again once the box is counted.
    assert "进入下一阶段「已结束」" in [b.label for b in at.main.button]

    evaluation.close(db.engine(), round_id=round_id, group_id=group_id)  # type: ignore[arg-type]
    at = button(open_page(PAGE), "进入下一阶段「已结束」").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    assert stored_step(name) == Step.CLOSED
    with db.session() as s:
        assert [e for e in audit.events(session=s, action="推进阶段") if "已结束" in e.detail]


def test_a_click_racing_another_window_says_the_step_was_already_taken(
    demo_db: Path, open_page, monkeypatch
) -> None:
    at = open_page(PAGE)
    with db.session() as s:
        name = rounds.current(session=s).name  # type: ignore[union-attr]
    read_rounds = rounds.list_rounds
    raced = []

    def read_then_race(*, session):  # type: ignore[no-untyped-def]
        """The page has read the round; another office window moves it before the click."""
        seen = read_rounds(session=session)
        if not raced:
            raced.append(True)
            with db.transaction() as other:
                round_ = rounds.current(session=other)
                rounds.set_step(
                    session=other, round_=round_, step=Step.INSPECTION, actor="另一窗口"
                )  # type: ignore[arg-type]
        return seen

    monkeypatch.setattr(rounds, "list_rounds", read_then_race)
    at = button(at, "进入下一阶段「调研督查」").click().run()
    assert not at.exception and not at.error
    assert not at.success  # this click did nothing: no success to report
    assert [i.value for i in at.info] == [f"「{name}」已在「调研督查」阶段。"]
    assert stored_step(name) == Step.INSPECTION
    with db.session() as s:
        moves = audit.events(session=s, action=audit.Action.MOVE_STEP)
    assert [e.actor for e in moves] == ["另一窗口"]
