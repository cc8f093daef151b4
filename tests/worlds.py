"""Small worlds for tests and benches: a bureau built through the app's own models and rounds.

`build_bureau` makes a 机关 with its branch and two grassroots units with theirs, opens a round
on the 方案's default rules and returns the ids a test needs. It is small (15 members) so tests
stay fast; `bench/ballot_write.py` asks for wider grassroots branches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from pingyi import ballots, codes, db, evaluation, groups, rounds, tally
from pingyi.models import (
    Account,
    Branch,
    GroupKey,
    Inspection,
    Member,
    Round,
    Target,
    Unit,
    UnitKind,
)

ORGAN_BRANCH = "机关党支部"
GRASSROOTS_BRANCHES = ("第一市场党支部", "第二市场党支部")
HEADCOUNTS = {GroupKey.ALL_STAFF: 40, GroupKey.UNIT_STAFF: 25, GroupKey.VENDORS: 60}


@dataclass(frozen=True)
class Bureau:
    round_id: int
    groups: dict[GroupKey, int]  # evaluator group ids
    members: dict[str, int]  # member name → id


def build_bureau(
    *,
    session: Session,
    round_name: str = "2026年第四季度评议",
    grassroots: tuple[int, int] = (4, 5),
    cadres: bool = True,
    prepare: Callable[[Session, Round], None] | None = None,
) -> Bureau:
    """Six 机关 people and two grassroots branches of `grassroots` members, with an open round.

    `prepare(session, round)` runs while the round is in 筹备, before it opens.
    Default rules give: 局全体工作人员 → 领导班子 + 3 班子成员; 基层单位工作人员 → 3 other
    机关 members; 市场经营户 → every grassroots member (9 by default).
    """
    organ = Unit(name="市场服务局机关", kind=UnitKind.ORGAN)
    session.add(organ)
    session.flush()
    organ_branch = Branch(name=ORGAN_BRANCH, unit_id=organ.id)  # type: ignore[arg-type]
    session.add(organ_branch)
    session.flush()
    members: dict[str, int] = {}

    def add(name: str, unit: Unit, branch: Branch, **flags: bool) -> Member:
        member = Member(
            roster_id=f"M{len(members) + 1:03d}",
            name=name,
            unit_id=unit.id,  # type: ignore[arg-type]
            branch_id=branch.id,
            **flags,
        )
        session.add(member)
        session.flush()
        members[name] = member.id  # type: ignore[assignment]
        return member

    add("王书记", organ, organ_branch, is_party_secretary=True)
    liaisons = [
        add("李副局长", organ, organ_branch, is_leadership=True),
        add("张副局长", organ, organ_branch, is_leadership=True),
    ]
    add("赵科长", organ, organ_branch, is_cadre=True, is_branch_secretary=True)
    add("钱干事", organ, organ_branch)
    add("孙老同志", organ, organ_branch, is_elderly=True)

    for number, (branch_name, size, liaison) in enumerate(
        zip(GRASSROOTS_BRANCHES, grassroots, liaisons, strict=True), start=1
    ):
        unit = Unit(name=f"第{number}市场管理所", kind=UnitKind.GRASSROOTS)
        session.add(unit)
        session.flush()
        branch = Branch(name=branch_name, unit_id=unit.id, liaison_id=liaison.id)  # type: ignore[arg-type]
        session.add(branch)
        session.flush()
        for index in range(size):
            add(
                f"{branch_name[:2]}党员{index + 1}",
                unit,
                branch,
                is_branch_secretary=index == 0,
                is_cadre=cadres and index == 1,
            )

    groups.set_headcounts(session=session, headcounts=HEADCOUNTS)
    round_ = rounds.create_round(actor="测试", session=session, name=round_name, quarter="2026Q4")
    if prepare is not None:  # the round in 筹备: its forms, scale or minimum, before it opens
        prepare(session, round_)
    rounds.open_round(actor="测试", session=session, round_=round_)
    group_ids = {key: group.id for key, group in groups.by_key(session=session).items()}
    return Bureau(round_id=round_.id, groups=group_ids, members=members)  # type: ignore[arg-type]


def bureau(engine: Engine, **kwargs: object) -> Bureau:
    with db.transaction(engine) as s:
        return build_bureau(session=s, **kwargs)  # type: ignore[arg-type]


def issue(engine: Engine, round_id: int, group_id: int, count: int) -> list[str]:
    with db.transaction(engine) as s:
        return codes.issue(
            actor="测试", session=s, round_id=round_id, group_id=group_id, count=count
        )


def full_answers(
    engine: Engine, round_id: int, group_id: int, *, level: int = 0, vary: bool = True
) -> dict[tuple[int, int], int]:
    """A complete ballot: level `level` of the scale, or every level in turn when `vary`."""
    with db.session(engine) as s:
        form = ballots.ballot_form(session=s, round_id=round_id, group_id=group_id)
    level_ids = [lvl.id for lvl in form.levels]
    answers = {}
    for index, key in enumerate(form.items):
        answers[key] = level_ids[(level + index) % len(level_ids)] if vary else level_ids[level]
    return answers


def tally_problems(engine: Engine) -> list[str]:
    """Every stored tally that does not match the ratings, in every round."""
    with db.session(engine) as s:
        round_ids = list(s.exec(select(Round.id)))
        return [
            problem
            for round_id in round_ids
            for problem in tally.verify(session=s, round_id=round_id)  # type: ignore[arg-type]
        ]


@pytest.fixture
def verified_tallies(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the test, the stored tallies must equal a recount from the ratings."""
    name = next(
        (n for n in ("engine", "sqlite_engine", "pg_engine") if n in request.fixturenames), None
    )
    # Asked for here, so the database is torn down after this check, not before.
    bind = request.getfixturevalue(name) if name else None
    yield
    if bind is not None:
        assert tally_problems(bind) == []


def count(engine: Engine, round_id: int) -> None:
    """开箱计票 of every group of the round that has cast ballots, as the office closes them."""
    with db.session(engine) as s:
        waiting = evaluation.open_groups(session=s, round_id=round_id)
    group_ids = [state.group_id for state in waiting]
    for group_id in group_ids:
        evaluation.close(engine, round_id=round_id, group_id=group_id)


def account_of(session: Session, member_id: int) -> Account:
    """The login account made for a member (tests look it up to change or log in with it)."""
    found = session.exec(select(Account).where(Account.member_id == member_id)).first()
    assert found is not None, f"member {member_id} has no account"
    return found


def inspections_of_round(session: Session, round_id: int) -> list[Inspection]:
    """Every finding of the round, branch by branch, then by date of the visit."""
    query = (
        select(Inspection)
        .join(Target, col(Target.id) == col(Inspection.target_id))
        .where(Inspection.round_id == round_id)
        .order_by(col(Target.position), col(Inspection.visited_on), col(Inspection.id))
    )
    return list(session.exec(query))
