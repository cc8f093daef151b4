"""Tables the pages show, as pandas frames with Chinese column names.

Pure functions of domain objects: no Streamlit, no database, so they are tested directly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from pingyi import roster, rules
from pingyi.groups import GROUP_LABELS
from pingyi.models import TEMPLATE_LABELS, Branch, Member, Unit

FLAG_COLUMNS: tuple[str, ...] = tuple(roster.FLAG_COLUMNS)
NAME_SEPARATOR = "、"


# ---- 名册


@dataclass(frozen=True)
class MemberFilter:
    """What the office picked above the members table; empty means everyone."""

    unit: str | None = None
    branch: str | None = None
    query: str = ""  # part of a name or a 编号
    flags: tuple[str, ...] = field(default=())  # roster flag columns that must all be 是


MEMBER_COLUMNS = ["编号", "姓名", "单位", "党支部", "身份", "联系支部"]


def members_frame(table: pd.DataFrame) -> pd.DataFrame:
    """`roster.roster_table` with the 是/否 flags as booleans, and 身份 naming the true ones.

    Five flag columns do not fit beside the names on a laptop; 身份 does, and the flags stay
    for filtering.
    """
    frame = table.copy()
    for column in FLAG_COLUMNS:
        frame[column] = frame[column] == roster.YES
    frame["身份"] = [
        NAME_SEPARATOR.join(flag for flag, on in zip(FLAG_COLUMNS, values, strict=True) if on)
        for values in zip(*(frame[flag] for flag in FLAG_COLUMNS), strict=True)
    ]
    return frame


def filter_members(frame: pd.DataFrame, chosen: MemberFilter) -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    if chosen.unit:
        keep &= frame["单位"] == chosen.unit
    if chosen.branch:
        keep &= frame["党支部"] == chosen.branch
    query = chosen.query.strip()
    if query:
        keep &= frame["姓名"].str.contains(query, regex=False) | frame["编号"].str.contains(
            query, case=False, regex=False
        )
    for flag in chosen.flags:
        keep &= frame[flag].astype(bool)
    return frame[keep]


def branches_frame(
    branches: Sequence[Branch], members: Sequence[Member], units: Sequence[Unit]
) -> pd.DataFrame:
    """Active branches with their unit, 支部书记, 联系班子成员 and size."""
    unit_names = {u.id: u.name for u in units}
    names = {m.id: m.name for m in members}
    rows = []
    for branch in branches:
        own = [m for m in members if m.branch_id == branch.id]
        rows.append(
            {
                "党支部": branch.name,
                "单位": unit_names.get(branch.unit_id, ""),
                "支部书记": NAME_SEPARATOR.join(m.name for m in own if m.is_branch_secretary),
                "联系班子成员": names.get(branch.liaison_id, "") if branch.liaison_id else "",
                "党员人数": len(own),
            }
        )
    return pd.DataFrame(rows, columns=["党支部", "单位", "支部书记", "联系班子成员", "党员人数"])


def units_frame(
    units: Sequence[Unit], branches: Sequence[Branch], members: Sequence[Member]
) -> pd.DataFrame:
    """Units that still have someone in the roster, with their branch and member counts."""
    branch_counts = Counter(b.unit_id for b in branches)
    member_counts = Counter(m.unit_id for m in members)
    rows = [
        {
            "单位": unit.name,
            "单位类型": str(unit.kind),
            "党支部数": branch_counts[unit.id],
            "党员人数": member_counts[unit.id],
        }
        for unit in units
        if branch_counts[unit.id] or member_counts[unit.id]
    ]
    return pd.DataFrame(rows, columns=["单位", "单位类型", "党支部数", "党员人数"])


# ---- 评议关系

LEADER_COLUMNS = ["点评人", "点评人身份", "点评对象", "类别", "规则"]
MASS_COLUMNS = ["评议群体", "评议对象", "类别"]


def leader_frame(result: rules.Assignments, people: rules.Roster) -> pd.DataFrame:
    """One row per leader review: who reviews whom, with which template, by which rule."""
    rows = [
        {
            "点评人": people.person(review.reviewer).label,
            "点评人身份": review.rule.who,
            "点评对象": review.target.label(people),
            "类别": TEMPLATE_LABELS[review.template],
            "规则": review.rule.label,
        }
        for review in result.leader
    ]
    return pd.DataFrame(rows, columns=LEADER_COLUMNS)


def reviewer_summary(leader: pd.DataFrame) -> pd.DataFrame:
    """Reviews per reviewer, the busiest first: an uneven load shows at a glance."""
    if leader.empty:
        return pd.DataFrame(columns=["点评人", "点评人身份", "点评对象数"])
    summary = (
        leader.groupby(["点评人", "点评人身份"], sort=False)
        .size()
        .reset_index(name="点评对象数")
        .sort_values("点评对象数", ascending=False, kind="stable")
    )
    return summary.reset_index(drop=True)


def mass_frame(result: rules.Assignments, people: rules.Roster) -> pd.DataFrame:
    rows = [
        {
            "评议群体": GROUP_LABELS[evaluation.group],
            "评议对象": evaluation.target.label(people),
            "类别": TEMPLATE_LABELS[evaluation.template],
        }
        for evaluation in result.mass
    ]
    return pd.DataFrame(rows, columns=MASS_COLUMNS)


def counts_frame(counts: dict[str, int], *, label: str, every: Sequence[str] = ()) -> pd.DataFrame:
    """`Assignments.leader_counts()` or `.mass_counts()` as a two-column table.

    Each name in `every` gets a row even with nothing to do: a group with 0 targets is news.
    """
    names = [*every, *(name for name in counts if name not in every)]
    return pd.DataFrame({label: names, "数量": [counts.get(name, 0) for name in names]})
