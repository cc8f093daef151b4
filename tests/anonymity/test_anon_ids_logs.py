"""Ids, times, per-minute counts, the audit log and the server log link no ballot to its code.

Ids of counted ballots and comments are random and new (sorted, they are in no order of
casting, and none is an id a cast wrote into the box); no table holding what a ballot says
has a time column; the per-minute count of casts carries no 一刀切; the office's audit log and
everything logged while casting and counting hold no code, code hash, device token, comment
or ballot id; and no copy holds the key the box is sealed with.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from collections.abc import Iterator

import pytest
from anon_attacks import (
    copy_bytes,
    dump_casts,
    dump_rows,
    expected,
    measured,
    sqlite_id_orders,
    sqlite_query,
)
from anon_scenario import (
    BOX_TABLE,
    CANARY,
    CASTS,
    CODE_TABLE,
    CONTENT_TABLES,
    SECRET_ENV,
    PgCopy,
    Scenario,
    SqliteCopy,
)
from linking_stats import assert_none_leaks, order_by_first_position
from sqlalchemy import Date, DateTime, Interval, Time, inspect, text

from pingyi import codes

_TIME_NAME = re.compile(r"(^|_)(at|time|minute|date|day|created|updated|when|ts)(_|$)")


def test_counted_ids_are_in_no_order_of_casting(scenario: Scenario) -> None:
    after = scenario.after
    if isinstance(after, SqliteCopy):
        leaks = sqlite_id_orders(after.merged, scenario.truth, scenario.group)
    else:
        assert isinstance(after, PgCopy)
        casts = dump_casts(after.dump, scenario.truth, scenario.group)
        comments = sorted(
            dump_rows(after.dump, "mass_comment", scenario.group), key=lambda r: str(r["id"])
        )
        truth = scenario.truth
        leaks = [
            measured("ballots by id", [casts[b] for b in sorted(casts)], expected=CASTS),
            measured(
                "comments by id",
                order_by_first_position([truth.cast_of_text(r["text"]) for r in comments]),
                expected=expected("mass_comment", truth),
            ),
        ]
    assert_none_leaks(leaks)


def _ids_after(scenario: Scenario) -> set[str]:
    """Every id of the counted tables after the count."""
    after = scenario.after
    found: set[str] = set()
    for table, column in (("ballot", "id"), ("rating", "ballot_id"), ("mass_comment", "id")):
        if isinstance(after, SqliteCopy):
            found |= {
                str(v) for (v,) in sqlite_query(after.merged, f"SELECT {column} FROM {table}")
            }
        else:
            assert isinstance(after, PgCopy)
            found |= {str(row[column]) for row in dump_rows(after.dump, table, scenario.group)}
    return found


def test_counted_ballots_get_new_ids(scenario: Scenario) -> None:
    """A copy from before the count links each code to the id of the row it wrote (the box's
    entry); a ballot counted under that id would be linked by it."""
    kept = set(scenario.cast_row_ids.values()) & _ids_after(scenario)
    assert not kept, (
        f"{len(kept)} of {len(scenario.cast_row_ids)} ids a cast wrote survive the count"
    )


def _columns(scenario: Scenario, table: str) -> list[dict]:
    names = inspect(scenario.engine).get_table_names()
    return inspect(scenario.engine).get_columns(table) if table in names else []


def test_no_table_holding_ballots_or_codes_has_a_time_column(scenario: Scenario) -> None:
    """A time on a ballot dates it, and the codes were used in a known order at known times.
    Code rows carry none either: a time of use per code is one half of such a link."""
    timed = {
        f"{table}.{column['name']}"
        for table in (*CONTENT_TABLES, BOX_TABLE, CODE_TABLE)
        for column in _columns(scenario, table)
        if isinstance(column["type"], (DateTime, Date, Time, Interval))
        or _TIME_NAME.search(column["name"])
    }
    assert timed == set(), f"time columns beside ballot content: {sorted(timed)}"


def test_code_rows_hold_no_id_of_a_ballot_comment_or_box_entry(scenario: Scenario) -> None:
    ids = _ids_after(scenario) | set(scenario.cast_row_ids.values())
    with scenario.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT * FROM {CODE_TABLE}")).all()
    holding = [row for row in rows if any(str(value) in ids for value in row)]
    assert holding == []


def _uniform_by_minute(copy: SqliteCopy | PgCopy | None, scenario: Scenario) -> list[int]:
    if isinstance(copy, SqliteCopy):
        columns = {
            name for _, name, *_ in sqlite_query(copy.merged, "PRAGMA table_info(ballot_tally)")
        }
        if "uniform" not in columns:
            return []
        return [int(n) for (n,) in sqlite_query(copy.merged, "SELECT uniform FROM ballot_tally")]
    assert isinstance(copy, PgCopy)
    return [
        int(row.get("uniform") or 0) for row in dump_rows(copy.dump, "ballot_tally", scenario.group)
    ]


@pytest.mark.parametrize("when", ["before", "after"])
def test_casts_per_minute_carry_no_uniform_count(scenario: Scenario, when: str) -> None:
    """一刀切 per minute, with the order of the rows, told the minute of each uniform ballot."""
    copy = scenario.before if when == "before" else scenario.after
    uniform = _uniform_by_minute(copy, scenario)
    assert sum(uniform) == 0, f"ballot_tally.uniform {when} close: {uniform}"


def secrets_of_casting(scenario: Scenario) -> dict[str, str]:
    """What must not be written anywhere but where it belongs: value → what it is."""
    found: dict[str, str] = {}
    for cast in scenario.truth.casts:
        found[cast.code] = f"code of cast {cast.index}"
        found[codes.hash_code(cast.code)] = f"code hash of cast {cast.index}"
        if cast.token:
            found[cast.token] = f"device token of cast {cast.index}"
    for cast, row_id in scenario.cast_row_ids.items():
        found[row_id] = f"box entry of cast {cast}"
    with scenario.engine.connect() as conn:
        for (ballot_id,) in conn.execute(text("SELECT id FROM ballot")):
            found[str(ballot_id)] = "counted ballot id"
    found[scenario.truth.marker_prefix] = "comment text"
    return found


def _leaked(texts: Iterator[tuple[str, str]], secrets: dict[str, str]) -> list[str]:
    return [
        f"{where}: {what}"
        for where, body in texts
        for value, what in secrets.items()
        if value in body
    ]


def test_the_audit_log_holds_nothing_of_a_cast(scenario: Scenario) -> None:
    added = len(scenario.audit_after_close) - len(scenario.audit_after_casting)
    assert added <= 2, f"the count wrote {added} audit events: one per ballot?"
    texts = (
        (f"audit {event.get('action')}", " ".join(str(v) for v in event.values()))
        for event in scenario.audit_after_close
    )
    assert _leaked(texts, secrets_of_casting(scenario)) == []


def test_the_server_log_holds_nothing_of_a_cast(scenario: Scenario) -> None:
    """Every record logged at DEBUG or above while casting and counting (the root logger at
    DEBUG). SQLAlchemy keeps its own loggers at WARN unless SQL echo is turned on, so its
    statements are not among them."""
    assert any(r.message.startswith(CANARY) for r in scenario.logs), "the capture saw nothing"
    texts = ((f"log {r.logger}", r.message) for r in scenario.logs)
    assert _leaked(texts, secrets_of_casting(scenario)) == []


def _key_forms() -> dict[bytes, str]:
    secret = os.environ[SECRET_ENV].encode()
    forms = {secret: "the app's secret"}
    box = importlib.util.find_spec("pingyi.box")
    if box is not None:
        key = importlib.import_module("pingyi.box").key_of(secret)
        forms |= {key: "the box key", key.hex().encode(): "the box key in hex"}
    return forms


def test_no_copy_holds_the_key(scenario: Scenario) -> None:
    """The box is sealed with a key derived from the app's secret: in no copy, before or
    after the count, is either (the secret file beside a SQLite database is not the database)."""
    copies = {
        f"{when}: {name}": data
        for when, copy in (("before", scenario.before), ("after", scenario.after))
        for name, data in copy_bytes(copy).items()
    }
    found = [
        f"{name}: {what}"
        for name, data in copies.items()
        for key, what in _key_forms().items()
        if key in data
    ]
    assert found == []
