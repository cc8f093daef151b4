"""Migrations on both backends: from an empty database, from earlier releases' schemas with
their data in them, and the models equal to what the migrations build.

The first release is revision 0001. Its world is written through the tables as they were
then (reflected from the database at 0001, not today's models), the way that release stored
it: a roster, a round in 开展点评 with targets and assignments, codes (used, opened with a
draft, fresh), two ballots with their ratings, a comment, and the tallies. The previous
release, 0002, still kept drafts on the server; 0003 drops them (the answers of a ballot being
filled in now stay on the device) and gives each code the receipt of the device that used it;
0004 adds the sealed 票箱: ballots stored as rows by an earlier release wait, like the box, for
their group's 开箱计票, which writes them again shuffled with the box's.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing.context import SpawnContext
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from pgtools import scratch_database, scratch_name
from sqlalchemy import Connection, Engine, MetaData, Table, func, inspect, select, text
from sqlmodel import col
from worlds import bureau, count, full_answers, issue

from pingyi import (
    audit,
    ballots,
    bootstrap,
    codes,
    criteria,
    db,
    models,
    reports,
    rounds,
    rules,
    scoring,
    tally,
)
from pingyi.models import Ballot, EvaluationCode, GroupKey, Template

FIRST = "0001"  # the schema of the first release, whose data must still come along
PREVIOUS = "0002"  # the schema of the release with drafts on the server
BEFORE_BOX = "0003"  # the schema of the release before the sealed 票箱
BEFORE_FORMS = "0004"  # the schema of the release before rating forms per group
BEFORE_LOGINS = "0005"  # the schema of the release whose logins ended with the tab
BEFORE_SETTINGS = "0006"  # the schema of the release with Round.min_ballots a column


def head() -> str:
    return ScriptDirectory(str(db.MIGRATIONS_DIR)).get_current_head()  # type: ignore[return-value]


def upgrade(bind: Engine, revision: str) -> None:
    cfg = db.alembic_config(bind)
    with bind.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def downgrade(bind: Engine, revision: str) -> None:
    cfg = db.alembic_config(bind)
    with bind.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)


def revision_of(bind: Engine) -> str | None:
    with bind.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_differences(bind: Engine) -> list[Any]:
    """What alembic autogenerate would write to make the database match the models."""
    with bind.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, models.metadata))


def row_counts(bind: Engine) -> dict[str, int]:
    tables = set(inspect(bind).get_table_names()) - {"alembic_version"}
    with bind.connect() as conn:
        return {
            name: conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            for name in sorted(tables)
        }


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(
    request: pytest.FixtureRequest, empty_database: Callable[[str], AbstractContextManager[Engine]]
) -> Iterator[Engine]:
    """A database with nothing in it at all: no tables, no alembic_version."""
    with empty_database(request.param) as engine:
        yield engine


# ---- from empty


def test_an_empty_database_is_migrated_to_head_and_matches_the_models(
    empty_engine: Engine,
) -> None:
    assert inspect(empty_engine).get_table_names() == []
    bootstrap.initialize(empty_engine)
    assert revision_of(empty_engine) == head()
    assert set(inspect(empty_engine).get_table_names()) == {
        *models.metadata.tables,
        "alembic_version",
    }
    assert schema_differences(empty_engine) == []
    bootstrap.initialize(empty_engine)  # every app process runs it at start: a no-op now
    assert revision_of(empty_engine) == head()


def round_columns(bind: Engine) -> set[str]:
    return {column["name"] for column in inspect(bind).get_columns("round")}


def code_columns(bind: Engine) -> set[str]:
    return {column["name"] for column in inspect(bind).get_columns("evaluation_code")}


def test_the_earlier_releases_can_be_rolled_back_to_and_upgraded_again(
    empty_engine: Engine,
) -> None:
    assert head() == "0007"
    upgrade(empty_engine, "head")
    downgrade(empty_engine, BEFORE_SETTINGS)
    assert "min_ballots" in round_columns(empty_engine)
    upgrade(empty_engine, "head")
    assert "min_ballots" not in round_columns(empty_engine)
    downgrade(empty_engine, BEFORE_LOGINS)
    assert "login_session" not in inspect(empty_engine).get_table_names()
    upgrade(empty_engine, "head")
    assert "login_session" in inspect(empty_engine).get_table_names()
    downgrade(empty_engine, BEFORE_FORMS)
    assert "group_form" not in inspect(empty_engine).get_table_names()
    assert "group_id" not in {c["name"] for c in inspect(empty_engine).get_columns("scale_level")}
    upgrade(empty_engine, "head")
    assert schema_differences(empty_engine) == []
    downgrade(empty_engine, BEFORE_BOX)
    assert not {"ballot_box", "group_evaluation"} & set(inspect(empty_engine).get_table_names())
    upgrade(empty_engine, "head")
    assert {"ballot_box", "group_evaluation"} <= set(inspect(empty_engine).get_table_names())
    downgrade(empty_engine, PREVIOUS)
    assert revision_of(empty_engine) == PREVIOUS
    assert "draft" in inspect(empty_engine).get_table_names()
    assert "receipt" not in code_columns(empty_engine)
    upgrade(empty_engine, "head")
    assert "draft" not in inspect(empty_engine).get_table_names()
    assert "receipt" in code_columns(empty_engine)
    assert schema_differences(empty_engine) == []

    downgrade(empty_engine, FIRST)
    assert revision_of(empty_engine) == FIRST
    assert "audit_event" not in inspect(empty_engine).get_table_names()
    upgrade(empty_engine, "head")
    assert schema_differences(empty_engine) == []


def round_minimums(bind: Engine) -> list[tuple[int, dict[str, Any]]]:
    """(min_ballots, settings) of each round, as the release before 0007 stored them."""
    with bind.connect() as conn:
        meta = MetaData()
        table = Table("round", meta, autoload_with=conn)
        rows = conn.execute(select(table.c.min_ballots, table.c.settings).order_by(table.c.id))
        return [(minimum, json_of(settings)) for minimum, settings in rows]


def json_of(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value  # SQLite reflects JSON as text


def test_the_minimum_of_ballots_moves_into_the_round_settings_and_back(
    empty_engine: Engine,
) -> None:
    engine = empty_engine
    bootstrap.initialize(engine)
    world = bureau(engine)
    chosen = scoring.ScoringSettings(leader_weight=0.3, mass_weight=0.7, min_ballots=3)
    with db.transaction(engine) as s:
        round_ = s.get(models.Round, world.round_id)
        assert round_ is not None
        scoring.save_settings(actor="测试", session=s, round_=round_, settings=chosen)
    before = row_counts(engine)

    downgrade(engine, BEFORE_SETTINGS)
    # The release before reads its minimum from the column, the rest as it stored it.
    weights = {"leader_weight": 0.3, "mass_weight": 0.7}
    [(minimum, settings)] = round_minimums(engine)
    assert minimum == 3
    assert "min_ballots" not in settings and weights.items() <= settings.items()
    assert row_counts(engine) == before  # the round's table rebuilt, nothing cascaded away
    # That release changes the minimum: the upgrade carries the new one.
    with engine.begin() as conn:
        conn.execute(text('UPDATE "round" SET min_ballots = 8'))

    upgrade(engine, "head")
    assert schema_differences(engine) == []
    assert row_counts(engine) == before
    with db.session(engine) as s:
        round_ = s.get(models.Round, world.round_id)
        assert round_ is not None
        assert round_.settings["min_ballots"] == 8
        assert scoring.ScoringSettings.from_round(round_) == replace(chosen, min_ballots=8)


# ---- from the previous release, with its data


@dataclass(frozen=True)
class OldWorld:
    round_id: int
    round_name: str
    groups: dict[str, int]  # key → id
    used: str  # all_staff code with its ballot stored
    opened: str  # all_staff code opened, with a draft
    fresh: str  # all_staff code never opened
    vendor_used: str  # vendors code with its (一刀切) ballot stored
    draft: dict[tuple[int, int], int]  # the opened code's saved answers
    all_staff_items: list[tuple[int, int]]


def _insert(conn: Connection, table: Any, **row: Any) -> int:
    result = conn.execute(table.insert().values(**row))
    key = result.inserted_primary_key
    return key[0] if key else 0


def first_release_world(bind: Engine) -> OldWorld:
    """A little bureau as release 0001 stored it, written through the 0001 tables."""
    meta = MetaData()
    meta.reflect(bind)
    t = meta.tables
    assert "audit_event" not in t, "the database should be at the first release"
    now = datetime(2026, 9, 20, 9, 30, tzinfo=UTC)
    with bind.begin() as conn:
        # What `pingyi init` of that release put there: groups, default criteria and scale.
        groups = {
            key: _insert(conn, t["evaluator_group"], key=key, name=name, headcount=headcount)
            for key, name, headcount in (
                ("all_staff", "局全体工作人员", 40),
                ("unit_staff", "基层单位工作人员", 25),
                ("vendors", "市场经营户", 60),
            )
        }

        def templates(round_id: int | None) -> dict[str, list[int]]:
            made = {}
            for key, names in criteria.DEFAULT_CRITERIA.items():
                label = models.TEMPLATE_LABELS[key]
                tid = _insert(conn, t["template"], round_id=round_id, key=key.value, name=label)
                made[key.value] = [
                    _insert(conn, t["criterion"], template_id=tid, position=i, name=name)
                    for i, name in enumerate(names)
                ]
            return made

        def scale(round_id: int | None) -> list[int]:
            return [
                _insert(
                    conn, t["scale_level"], round_id=round_id, position=i, label=label, score=score
                )
                for i, (label, score) in enumerate(criteria.DEFAULT_SCALE)
            ]

        templates(None)
        scale(None)

        # The roster: the 机关 with its branch, one market with its branch.
        organ = _insert(conn, t["unit"], name="市场服务局机关", kind="机关")
        market = _insert(conn, t["unit"], name="东城市场管理所", kind="基层单位")
        organ_branch = _insert(conn, t["branch"], name="机关党支部", unit_id=organ, active=True)
        market_branch = _insert(conn, t["branch"], name="东城党支部", unit_id=market, active=True)
        people = {}
        flags = ("is_party_secretary", "is_leadership", "is_cadre", "is_branch_secretary")
        flags += ("is_elderly",)
        for number, (name, unit, branch, has) in enumerate(
            (
                ("王书记", organ, organ_branch, "is_party_secretary is_leadership"),
                ("李副局长", organ, organ_branch, "is_leadership"),
                ("赵科长", organ, organ_branch, "is_cadre is_branch_secretary"),
                ("钱干事", organ, organ_branch, ""),
                ("周所长", market, market_branch, "is_cadre is_branch_secretary"),
                ("吴党员", market, market_branch, "is_elderly"),
            ),
            start=1,
        ):
            people[name] = _insert(
                conn,
                t["member"],
                roster_id=f"M{number:03d}",
                name=name,
                unit_id=unit,
                branch_id=branch,
                active=True,
                **{flag: flag in has.split() for flag in flags},
            )
        conn.execute(
            t["branch"]
            .update()
            .where(t["branch"].c.id == market_branch)
            .values(liaison_id=people["李副局长"])
        )

        # A round in 开展点评 with its own copy of criteria and scale.
        round_name = "2026年第三季度领导点评和群众评议"
        round_id = _insert(
            conn,
            t["round"],
            name=round_name,
            quarter="2026Q3",
            step="review",
            min_ballots=5,
            settings={},
            rules=rules.rules_to_json(rules.DEFAULT_RULES),
            results_published=False,
            created_at=now,
        )
        criteria_of = templates(round_id)
        levels = scale(round_id)

        targets: dict[str, tuple[int, str]] = {}  # name → (id, template)
        for position, (name, kind, template, branch, member, branch_name) in enumerate(
            (
                ("领导班子", "team", "team", None, None, ""),
                ("王书记", "member", "leader", None, people["王书记"], "机关党支部"),
                ("李副局长", "member", "leader", None, people["李副局长"], "机关党支部"),
                ("东城党支部", "branch", "branch", market_branch, None, "东城党支部"),
                ("周所长", "member", "leader", None, people["周所长"], "东城党支部"),
                ("吴党员", "member", "member", None, people["吴党员"], "东城党支部"),
            )
        ):
            tid = _insert(
                conn,
                t["target"],
                round_id=round_id,
                kind=kind,
                template_key=template,
                branch_id=branch,
                member_id=member,
                name=name,
                branch_name=branch_name,
                position=position,
            )
            targets[name] = (tid, template)
        for reviewer, target, rule in (
            ("王书记", "李副局长", "党组书记点评班子成员"),
            ("李副局长", "东城党支部", "联系班子成员点评所联系的党支部"),
            ("李副局长", "周所长", "联系班子成员点评所联系党支部的支部书记"),
            ("周所长", "吴党员", "支部书记点评本支部其他党员"),
        ):
            _insert(
                conn,
                t["leader_assignment"],
                round_id=round_id,
                reviewer_id=people[reviewer],
                target_id=targets[target][0],
                rule=rule,
            )
        rated_by = {
            "all_staff": ["领导班子", "王书记", "李副局长"],
            "vendors": ["周所长", "吴党员"],
        }
        items: dict[str, list[tuple[int, int]]] = {}
        for group, names in rated_by.items():
            items[group] = []
            for name in names:
                tid, template = targets[name]
                _insert(
                    conn,
                    t["mass_assignment"],
                    round_id=round_id,
                    group_id=groups[group],
                    target_id=tid,
                )
                items[group] += [(tid, cid) for cid in criteria_of[template]]

        # Codes: one used by each group, one opened with a draft, one fresh.
        plain = {name: codes.generate() for name in ("used", "opened", "fresh", "vendor_used")}
        for name, code in plain.items():
            _insert(
                conn,
                t["evaluation_code"],
                round_id=round_id,
                group_id=groups["vendors" if name == "vendor_used" else "all_staff"],
                code_hash=codes.hash_code(code),
                opened=name != "fresh",
                used=name in ("used", "vendor_used"),
                revoked=False,
            )
        draft = {item: levels[i % 2] for i, item in enumerate(items["all_staff"][:9])}
        _insert(
            conn,
            t["draft"],
            code_hash=codes.hash_code(plain["opened"]),
            answers={"answers": {f"{a}:{b}": lvl for (a, b), lvl in draft.items()}, "comments": {}},
        )

        # The two stored ballots, their ratings, a comment, and the tallies they made.
        counts: Counter[tuple[int, int, int, int, bool]] = Counter()
        for group, uniform in (("all_staff", False), ("vendors", True)):
            ballot_id = secrets.token_hex(16)
            gid = groups[group]
            _insert(
                conn, t["ballot"], id=ballot_id, round_id=round_id, group_id=gid, uniform=uniform
            )
            for index, (tid, cid) in enumerate(items[group]):
                level = levels[0] if uniform else levels[index % len(levels)]
                _insert(
                    conn,
                    t["rating"],
                    ballot_id=ballot_id,
                    target_id=tid,
                    criterion_id=cid,
                    level_id=level,
                    round_id=round_id,
                    group_id=gid,
                )
                counts[gid, tid, cid, level, uniform] += 1
            _insert(
                conn,
                t["ballot_tally"],
                round_id=round_id,
                group_id=gid,
                minute=now,
                ballots=1,
                uniform=int(uniform),
            )
        for (gid, tid, cid, level, uniform), n in sorted(counts.items()):
            _insert(
                conn,
                t["tally"],
                round_id=round_id,
                group_id=gid,
                target_id=tid,
                criterion_id=cid,
                level_id=level,
                uniform=uniform,
                count=n,
            )
        _insert(
            conn,
            t["mass_comment"],
            id=secrets.token_hex(16),
            round_id=round_id,
            group_id=groups["all_staff"],
            target_id=targets["领导班子"][0],
            text="班子团结,作风务实",
        )
    return OldWorld(
        round_id=round_id,
        round_name=round_name,
        groups=groups,
        used=plain["used"],
        opened=plain["opened"],
        fresh=plain["fresh"],
        vendor_used=plain["vendor_used"],
        draft=draft,
        all_staff_items=items["all_staff"],
    )


def old_codes(bind: Engine) -> dict[str, tuple[bool, bool, bool]]:
    """code hash → (opened, used, revoked), as any release stored them."""
    with bind.connect() as conn:
        rows = conn.execute(text("SELECT code_hash, opened, used, revoked FROM evaluation_code"))
        return {h: (bool(o), bool(u), bool(r)) for h, o, u, r in rows}


def receipts(bind: Engine) -> list[str | None]:
    with bind.connect() as conn:
        return list(conn.scalars(text("SELECT receipt FROM evaluation_code")))


def test_the_first_release_data_is_kept_and_usable_after_the_upgrade(
    empty_engine: Engine,
) -> None:
    engine = empty_engine
    upgrade(engine, FIRST)
    world = first_release_world(engine)
    before = row_counts(engine)
    codes_before = old_codes(engine)
    assert before["draft"] == 1

    bootstrap.initialize(engine)  # what the new release does when it starts

    assert revision_of(engine) == head()
    assert schema_differences(engine) == []
    after = row_counts(engine)
    # Nothing lost, no seed twice; only the server's drafts are gone (answers being filled in
    # now stay on the device). Each group with stored ballots has its state: not counted yet.
    assert "draft" not in after
    assert {name: after[name] for name in before if name != "draft"} == {
        name: n for name, n in before.items() if name != "draft"
    }
    assert (after["ballot_box"], after["group_evaluation"]) == (0, 2)
    assert after["audit_event"] == 0 and after["account"] == 0
    assert old_codes(engine) == codes_before  # used stay used, opened stay opened
    assert receipts(engine) == [None] * len(codes_before)

    with db.session(engine) as s:
        current = rounds.current(session=s)
        assert current is not None and current.id == world.round_id
        assert current.name == world.round_name
        assert tally.verify(session=s, round_id=world.round_id) == []
        # The round is still open: its stored ballots wait for 开箱计票 with the box's.
        assert tally.participation(session=s, round_id=world.round_id) == {}
        assert codes.lookup(session=s, code=world.used).state is codes.CodeState.USED
        assert codes.lookup(session=s, code=world.opened).state is codes.CodeState.OK
        defaults = s.exec(select(Template).where(col(Template.round_id).is_(None))).all()
        assert len(defaults) == 4
        # The results and the export read the old round as they read a new one.
        assert reports.summary_workbook(session=s, round_id=world.round_id)[:2] == b"PK"

    # Today's code votes on the old round's codes, exactly once, and keeps the tallies right:
    # the code whose draft was dropped is filled in again on the device and sent whole.
    full = dict.fromkeys(world.all_staff_items, next(iter(world.draft.values())))
    device = secrets.token_hex(16)
    for code in (world.opened, world.fresh):
        ballots.submit_with_retry(engine, code, full, round_id=world.round_id, receipt=device)
    assert ballots.submit_with_retry(engine, world.opened, full, receipt=device).again
    for code in (world.used, world.opened, world.vendor_used):
        with pytest.raises(ballots.AlreadyUsed):
            ballots.submit_with_retry(engine, code, full, round_id=world.round_id)
    # A ballot stored by the old release kept no receipt: no device can claim it.
    with pytest.raises(ballots.AlreadyUsed):
        ballots.submit_with_retry(engine, world.used, full, receipt=device)
    with db.transaction(engine) as s:
        audit.record(session=s, actor=audit.CLI_ACTOR, action="升级检查")
    count(engine, world.round_id)  # 开箱计票: the old rows and the box, shuffled together
    with db.session(engine) as s:
        assert tally.verify(session=s, round_id=world.round_id) == []
        assert tally.participation(session=s, round_id=world.round_id) == {
            world.groups["all_staff"]: (3, 2),
            world.groups["vendors"]: (1, 1),
        }
        assert s.scalar(select(func.count()).select_from(Ballot)) == 4
        used = s.scalar(select(func.count()).where(col(EvaluationCode.used)))
        assert used == 4


def test_the_previous_release_s_drafts_are_dropped_and_its_codes_kept_by_the_upgrade(
    empty_engine: Engine,
) -> None:
    engine = empty_engine
    upgrade(engine, FIRST)
    world = first_release_world(engine)
    upgrade(engine, PREVIOUS)
    # The previous release autosaved a draft of each opened code, through its own tables.
    meta = MetaData()
    meta.reflect(engine)
    assert "receipt" not in meta.tables["evaluation_code"].c
    with engine.begin() as conn:
        conn.execute(
            meta.tables["draft"]
            .insert()
            .values(
                code_hash=codes.hash_code(world.fresh),
                answers={"answers": {"1:1": 1}, "comments": {"1": "还没写完的意见"}},
            )
        )
    before = row_counts(engine)
    codes_before = old_codes(engine)
    assert before["draft"] == 2

    upgrade(engine, "head")

    assert revision_of(engine) == head()
    assert schema_differences(engine) == []
    tables = set(inspect(engine).get_table_names())
    assert "draft" not in tables and not [name for name in tables if "draft" in name]
    receipt = next(
        c for c in inspect(engine).get_columns("evaluation_code") if c["name"] == "receipt"
    )
    assert receipt["nullable"]
    assert receipts(engine) == [None] * len(codes_before)  # no old code has a device's receipt
    assert old_codes(engine) == codes_before
    after = row_counts(engine)
    assert after == {name: n for name, n in before.items() if name != "draft"} | {
        "ballot_box": 0,
        "group_evaluation": 2,
        "group_form": 0,  # every group rates 分项 on the round's scale, as before
        "login_session": 0,  # logins of the release before ended with their tab
    }
    # Nothing of the dropped answers is left anywhere.
    with engine.connect() as conn:
        for name in tables:
            for row in conn.execute(text(f'SELECT * FROM "{name}"')):
                assert not any("还没写完" in str(value) for value in row), name
    with db.session(engine) as s:
        assert codes.lookup(session=s, code=world.used).state is codes.CodeState.USED
        assert codes.lookup(session=s, code=world.vendor_used).state is codes.CodeState.USED
        assert codes.lookup(session=s, code=world.fresh).state is codes.CodeState.OK
        assert tally.verify(session=s, round_id=world.round_id) == []


def test_a_rollback_to_the_previous_release_keeps_the_ballots_and_drops_the_receipts(
    empty_engine: Engine,
) -> None:
    engine = empty_engine
    bootstrap.initialize(engine)
    world = bureau(engine)
    staff = world.groups[GroupKey.UNIT_STAFF]
    used, fresh = issue(engine, world.round_id, staff, 2)
    answers = full_answers(engine, world.round_id, staff)
    device = secrets.token_hex(16)
    ballots.submit_with_retry(engine, used, answers, receipt=device)
    # The release before the box could not read it: the rollback waits for 开箱计票.
    with pytest.raises(RuntimeError, match="未计票"):
        downgrade(engine, PREVIOUS)
    assert revision_of(engine) == head()
    count(engine, world.round_id)
    codes_before = old_codes(engine)

    downgrade(engine, PREVIOUS)
    assert revision_of(engine) == PREVIOUS
    assert "receipt" not in code_columns(engine)
    assert row_counts(engine)["draft"] == 0
    assert old_codes(engine) == codes_before
    assert row_counts(engine)["ballot"] == 1

    upgrade(engine, "head")
    assert schema_differences(engine) == []
    assert old_codes(engine) == codes_before
    assert receipts(engine) == [None, None]
    # The receipt went with the rollback: the device is now told the code is used.
    with pytest.raises(ballots.AlreadyUsed):
        ballots.submit_with_retry(engine, used, answers, receipt=device)
    assert not ballots.submit_with_retry(engine, fresh, answers, receipt=device).again
    count(engine, world.round_id)
    with db.session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Ballot)) == 2
        assert tally.verify(session=s, round_id=world.round_id) == []


# ---- several app processes starting at once on one new PostgreSQL database


def _start_in_process(url: str, start: Any, results: Any) -> None:
    engine = db.make_engine(url)
    try:
        start.wait(timeout=60)
        bootstrap.initialize(engine)  # what every app process does on its first page
        results.put("ok")
    except Exception as exc:  # reported, so a failing start says why
        results.put(f"error: {type(exc).__name__}: {exc}")
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_app_processes_starting_together_on_a_new_database_migrate_and_seed_it_once(
    pg_admin: Engine, spawn: SpawnContext
) -> None:
    with scratch_database(pg_admin, scratch_name("pingyi_migr")) as url:
        start, results = spawn.Barrier(4), spawn.Queue()
        processes = [
            spawn.Process(target=_start_in_process, args=(url, start, results)) for _ in range(4)
        ]
        engine = db.make_engine(url)
        try:
            for process in processes:
                process.start()
            outcomes = Counter(results.get(timeout=120) for _ in processes)
            assert outcomes == Counter(ok=4)
            assert revision_of(engine) == head()
            counts = row_counts(engine)
            assert counts["evaluator_group"] == 3
            assert counts["template"] == 4
            assert counts["scale_level"] == len(criteria.DEFAULT_SCALE)
            assert counts["criterion"] == sum(len(c) for c in criteria.DEFAULT_CRITERIA.values())
        finally:
            for process in processes:
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
            engine.dispose()
