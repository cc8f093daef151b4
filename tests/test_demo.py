from collections import Counter

import pytest
from sqlalchemy import Engine
from sqlmodel import func, select

from pingyi import db, demo, rounds
from pingyi.models import Branch, EvaluatorGroup, Member, Step, Target


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
        summary = demo.load_demo(session=s)
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
        demo.load_demo(session=s)
    with pytest.raises(demo.DemoError, match="--replace"), db.transaction(engine) as s:
        demo.load_demo(session=s)
    with db.transaction(engine) as s:
        demo.load_demo(session=s, replace=True)
    with db.session(engine) as s:
        assert len(rounds.list_rounds(session=s)) == 1
