"""评议关系 in AppTest: the rules on today's roster, per reviewer and group, problems first."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from pingyi import db
from pingyi.models import Branch

PAGE = "pages/relations.py"


def test_empty_roster_says_what_to_do(empty_db: Path, open_page) -> None:
    at = open_page(PAGE)
    assert at.title[0].value == "评议关系"
    assert "名册是空的" in at.info[0].value
    assert not at.dataframe and not at.error


def test_demo_relations_are_complete(demo_db: Path, open_page) -> None:
    at = open_page(PAGE)
    assert [s.value for s in at.success] == ["评议关系完整,没有发现问题"]
    assert not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["评议对象"] == "113"
    assert [t.label for t in at.tabs] == ["按点评人", "按评议群体"]
    summary, leader, groups, mass = (d.value for d in at.dataframe)
    assert int(metrics["领导点评"]) == len(leader) == summary["点评对象数"].sum()
    assert int(metrics["群众评议"]) == len(mass) == groups["数量"].sum()
    assert set(leader["点评人身份"]) == {"党组书记", "联系班子成员", "支部书记"}
    assert set(groups["评议群体"]) == {"局全体工作人员", "基层单位工作人员", "市场经营户"}
    assert len(at.get("plotly_chart")) == 2


def test_picking_a_reviewer_shows_only_their_targets(demo_db: Path, open_page) -> None:
    at = open_page(PAGE)
    summary = at.dataframe[0].value
    busiest = summary.iloc[0]
    at.selectbox[0].select(busiest["点评人"]).run()
    (shown,) = (d.value for d in at.tabs[0].dataframe)
    assert set(shown["点评人"]) == {busiest["点评人"]}
    assert len(shown) == busiest["点评对象数"]
    assert f"共 {busiest['点评对象数']} 条领导点评" in at.caption[1].value


def test_picking_a_group_shows_only_its_targets(demo_db: Path, open_page) -> None:
    at = open_page(PAGE)
    at.selectbox[1].select("局全体工作人员").run()
    (shown,) = (d.value for d in at.tabs[1].dataframe)
    assert set(shown["评议群体"]) == {"局全体工作人员"}
    assert "局领导班子" in set(shown["评议对象"])


def test_problems_are_listed_at_the_top(demo_db: Path, open_page) -> None:
    with db.transaction() as s:
        branch = s.exec(select(Branch).where(Branch.name != "机关党支部")).first()
        assert branch is not None
        branch.liaison_id = None
        s.add(branch)
        name = branch.name
    at = open_page(PAGE)
    assert not at.success
    message = at.error[0].value
    assert message.startswith("发现 ")
    assert f"{name}没有联系班子成员" in message.replace("\\", "")
