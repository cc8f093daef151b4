"""The frames and text helpers the pages draw with, without Streamlit."""

from __future__ import annotations

import pandas as pd

from pingyi import roster, rules
from pingyi.ui import tables
from pingyi.ui.text import bullets, md_escape


def small_roster() -> rules.Roster:
    people = (
        rules.Person(1, "A1", "书记", "机关党支部", True, is_party_secretary=True),
        rules.Person(2, "A2", "班子", "机关党支部", True, is_leadership=True),
        rules.Person(3, "B1", "支书", "一支部", False, is_branch_secretary=True),
        rules.Person(4, "B2", "党员", "一支部", False),
    )
    branches = (
        rules.BranchInfo("机关党支部", organ=True),
        rules.BranchInfo("一支部", organ=False, liaison=2),
    )
    return rules.Roster(people, branches)


def roster_frame() -> pd.DataFrame:
    rows = [
        ["A1", "张三", "局机关", "机关", "机关党支部", "是", "是", "否", "否", "否", ""],
        ["B1", "王五", "东城所", "基层单位", "一支部", "否", "否", "否", "是", "否", ""],
        ["B2", "赵六", "东城所", "基层单位", "一支部", "否", "否", "否", "否", "是", ""],
    ]
    return pd.DataFrame(rows, columns=list(roster.COLUMNS))


def test_members_frame_names_each_member_s_flags() -> None:
    frame = tables.members_frame(roster_frame())
    assert list(frame["身份"]) == ["党组书记、班子成员", "支部书记", "年老体弱"]
    assert frame["党组书记"].tolist() == [True, False, False]


def test_filter_members_combines_every_choice() -> None:
    frame = tables.members_frame(roster_frame())
    pick = tables.filter_members
    assert len(pick(frame, tables.MemberFilter())) == 3
    assert list(pick(frame, tables.MemberFilter(unit="东城所"))["编号"]) == ["B1", "B2"]
    assert list(pick(frame, tables.MemberFilter(query="王"))["编号"]) == ["B1"]
    assert list(pick(frame, tables.MemberFilter(query="b2"))["编号"]) == ["B2"]
    assert list(pick(frame, tables.MemberFilter(flags=("年老体弱",)))["编号"]) == ["B2"]
    assert pick(frame, tables.MemberFilter(branch="一支部", flags=("党组书记",))).empty


def test_leader_and_mass_frames_label_everyone() -> None:
    people = small_roster()
    result = rules.assignments(people)
    leader = tables.leader_frame(result, people)
    assert list(leader.columns) == tables.LEADER_COLUMNS
    liaison = leader[leader["点评人"] == "班子(A2)"]
    assert set(liaison["点评对象"]) == {"一支部", "支书(B1)"}
    assert set(liaison["点评人身份"]) == {"联系班子成员"}
    mass = tables.mass_frame(result, people)
    assert "局领导班子" in set(mass[mass["评议群体"] == "局全体工作人员"]["评议对象"])
    summary = tables.reviewer_summary(leader)
    assert summary["点评对象数"].is_monotonic_decreasing
    assert summary["点评对象数"].sum() == len(leader)


def test_counts_frame_keeps_groups_with_nothing_to_do() -> None:
    frame = tables.counts_frame({"市场经营户": 3}, label="评议群体", every=["局全体工作人员"])
    assert frame.to_dict("list") == {"评议群体": ["局全体工作人员", "市场经营户"], "数量": [0, 3]}


def test_reviewer_summary_of_no_reviews_is_an_empty_table() -> None:
    empty = tables.leader_frame(rules.assignments(rules.Roster((), ())), rules.Roster((), ()))
    assert tables.reviewer_summary(empty).empty


def test_markdown_from_people_is_shown_as_typed() -> None:
    assert md_escape("**张三**") == r"\*\*张三\*\*"
    assert md_escape(":red[李四]") == r"\:red\[李四\]"
    assert md_escape("[点我](http://x)") == r"\[点我\]\(http\://x\)"
    assert bullets(["一", "*二*", "三\n四"]) == "- 一\n- \\*二\\*\n- 三 四"
