from collections import Counter

import pytest
from sqlalchemy import Engine
from sqlmodel import func, select
from worlds import bureau

from pingyi import criteria, db, demo, demo_history, evaluation, reviews, rounds, scoring, tally
from pingyi.models import (
    Branch,
    EvaluatorGroup,
    FormKind,
    ItemStatus,
    Member,
    RectificationItem,
    Round,
    Step,
    Summary,
    Target,
)


def test_demo_rows_describe_the_bureau_of_the_issue() -> None:
    rows = demo.demo_rows()
    team = [r for r in rows if r["班子成员"] == "是"]
    assert len(team) == 7
    assert sum(r["党组书记"] == "是" for r in rows) == 1
    per_branch = Counter(r["党支部"] for r in rows)
    assert 20 <= per_branch[demo.ORGAN_BRANCH] <= 30
    grassroots = [n for b, n in per_branch.items() if b != demo.ORGAN_BRANCH]
    assert len(grassroots) == 6
    assert all(8 <= n <= 20 for n in grassroots)
    assert sum(r["党员干部"] == "是" for r in rows) >= 5
    assert sum(r["年老体弱"] == "是" for r in rows) >= 3
    assert all(r["联系支部"] for r in team if r["党组书记"] == "否")


def test_large_demo_has_about_two_thousand_members() -> None:
    assert 1800 <= len(demo.demo_rows("large")) <= 2200


def test_demo_bureau_has_no_problems(engine: Engine) -> None:
    with db.transaction(engine) as s:
        summary = demo.load_demo(actor="测试", session=s, history=False)
    with db.session(engine) as s:
        result = rounds.preview(session=s)
        current = rounds.current(session=s)
        headcounts = {g.key: g.headcount for g in s.exec(select(EvaluatorGroup))}
        members = s.exec(select(func.count()).select_from(Member)).one()
        targets = s.exec(select(func.count()).select_from(Target)).one()
        branches = s.exec(select(func.count()).select_from(Branch)).one()
    assert result.problems == ()
    assert current is not None and current.step == Step.SELF_SUMMARY
    assert current.name == summary.round_name
    assert headcounts == {"all_staff": 60, "unit_staff": 80, "vendors": 200}
    assert members == summary.members
    assert targets == members + branches + 1  # every member, every branch, the 领导班子


def test_demo_refuses_to_overwrite_data_unless_replace(engine: Engine) -> None:
    with db.transaction(engine) as s:
        demo.load_demo(actor="测试", session=s, history=False)
    with pytest.raises(demo.DemoError, match="--replace"), db.transaction(engine) as s:
        demo.load_demo(actor="测试", session=s)
    with db.transaction(engine) as s:
        demo.load_demo(actor="测试", session=s, replace=True)
    with db.session(engine) as s:
        assert [r.name for r in rounds.list_rounds(session=s)] == [
            demo.DEMO_ROUND,
            demo_history.EARLIER_ROUND,
        ]


def test_the_demo_shows_a_finished_round_and_one_under_review(engine: Engine) -> None:
    """The earlier quarter finished (ballots counted, results published, 整改 items followed
    up) and this quarter at 开展点评 with part of the reviews in: every page has something."""
    with db.transaction(engine) as s:
        demo.load_demo(actor="测试", session=s)
    with db.session(engine) as s:
        earlier = s.exec(select(Round).where(Round.name == demo_history.EARLIER_ROUND)).one()
        current = rounds.current(session=s)
        assert current is not None and current.name == demo.DEMO_ROUND
        assert (earlier.step, earlier.results_published) == (Step.CLOSED, True)
        assert current.step == Step.REVIEW and not current.results_published
        counted = {
            g.group_name: (g.counted, g.ballots)
            for g in evaluation.status(session=s, round_id=earlier.id)  # type: ignore[arg-type]
        }
        assert counted == {
            "局全体工作人员": (True, 24),
            "基层单位工作人员": (True, 36),
            "市场经营户": (True, 60),
        }
        assert tally.verify(session=s, round_id=earlier.id) == []  # type: ignore[arg-type]
        assert evaluation.open_groups(session=s, round_id=current.id) == []  # type: ignore[arg-type]
        last = scoring.round_results(session=s, round_id=earlier.id)  # type: ignore[arg-type]
        now = scoring.round_results(session=s, round_id=current.id)  # type: ignore[arg-type]
        progress = reviews.progress(session=s, round_id=current.id)  # type: ignore[arg-type]
        items = s.exec(
            select(RectificationItem).where(RectificationItem.round_id == earlier.id)
        ).all()
        written = s.exec(
            select(func.count()).select_from(Summary).where(Summary.round_id == current.id)
        ).one()
        forms = criteria.group_forms(session=s, round_id=current.id)  # type: ignore[arg-type]
    assert all(t.combined is not None for t in last.targets if t.groups)
    assert {g.status for g in last.groups} == {"ok"}
    # This quarter's leader scores against last quarter's results: 较上轮变化 has values.
    assert sum(t.change is not None for t in now.targets) >= 10
    done = sum(p.done for p in progress)
    assert 0 < done < sum(p.total for p in progress)
    assert items and {i.status for i in items} >= {ItemStatus.DONE, ItemStatus.IN_PROGRESS}
    assert written > 20
    assert {f.group_key: f.kind for f in forms.values()}["vendors"] == FormKind.OVERALL


def test_simulate_casts_a_meetings_ballots_and_only_on_the_demo(engine: Engine) -> None:
    with db.transaction(engine) as s:
        demo.load_demo(actor="测试", session=s, history=False)
    said: list[str] = []
    slept: list[float] = []
    done = demo.simulate(engine, minutes=2, group="all_staff", say=said.append, sleep=slept.append)
    assert done.ballots == 48  # 80 % of 局全体工作人员's 60
    assert said[0] == "将在 2 分钟内投出 48 张评议票(约每 2.5 秒一张)……"
    assert said[-1] == "已投 48/48 张"
    assert max(slept) <= 2.5 * 48 and len(slept) == 48
    with db.session(engine) as s:
        current = rounds.current(session=s)
        assert current is not None
        (state,) = [
            g
            for g in evaluation.status(session=s, round_id=current.id)
            if g.cast  # type: ignore[arg-type]
        ]
    assert (state.group_name, state.cast, state.in_box) == ("局全体工作人员", 48, 48)
    again = demo.simulate(engine, minutes=1, group="all_staff", say=said.append, sleep=slept.append)
    assert again.ballots == 0 and said[-1] == "各评议群体都已投票,没有需要模拟的评议票"
    with pytest.raises(demo.DemoError, match="没有评议群体"):
        demo.simulate(engine, group="nobody", say=said.append, sleep=slept.append)


def test_simulate_refuses_a_database_that_is_not_the_demo(engine: Engine) -> None:
    bureau(engine)
    with pytest.raises(demo.DemoError, match="不是示例数据库"):
        demo.simulate(engine, minutes=1, say=print, sleep=lambda _: None)
