"""Before the group is counted, no copy of the database holds a readable ballot.

The copies: SQLite's `.db`, `-wal` and `-shm` taken with the app running, and `pingyi backup`;
PostgreSQL's pg_dump, `pingyi backup`, the database's files and the WAL written while casting.
A cast may write its sealed ballot into the box and count itself for the participation chart,
nothing else: no ballot, rating, comment or tally row, no comment text, no 一刀切, no audit.
"""

from __future__ import annotations

from anon_attacks import copy_bytes, dump_rows, marker_hits, sqlite_query
from anon_scenario import BOX_TABLE, CASTS, CONTENT_TABLES, PgCopy, Scenario, SqliteCopy

# What a cast may add rows to: its sealed ballot, and the per-minute count of casts.
CAST_MAY_GROW = {BOX_TABLE, "ballot_tally"}


def test_casting_writes_only_the_sealed_box_and_the_count_of_casts(scenario: Scenario) -> None:
    grown = {
        table: scenario.rows_after_casting[table] - scenario.rows_before_casting.get(table, 0)
        for table in scenario.rows_after_casting
        if scenario.rows_after_casting[table] != scenario.rows_before_casting.get(table, 0)
    }
    assert set(grown) <= CAST_MAY_GROW, f"rows added while casting: {grown}"
    assert grown.get(BOX_TABLE) == CASTS, f"the box holds {grown.get(BOX_TABLE)} of {CASTS} casts"


def test_no_comment_can_be_read_in_any_copy_before_close(scenario: Scenario) -> None:
    found = {
        name: len(hits)
        for name, data in copy_bytes(scenario.before).items()
        if (hits := marker_hits(data, scenario.truth))
    }
    assert found == {}, f"comment markers readable before close (copy: markers): {found}"


def _sqlite_group_rows(copy: SqliteCopy, scenario: Scenario) -> dict[str, int]:
    counts = {}
    for name, path in (("merged copy", copy.merged), ("backup", copy.backup)):
        for table in CONTENT_TABLES:
            (n,) = sqlite_query(
                path,
                f"SELECT COUNT(*) FROM {table} WHERE round_id = ? AND group_id = ?",
                *scenario.group,
            )[0]
            if n:
                counts[f"{name}: {table}"] = n
    return counts


def _pg_group_rows(copy: PgCopy, scenario: Scenario) -> dict[str, int]:
    counts = {}
    for name, dump in (("pg_dump", copy.dump), ("pingyi backup", copy.backup_text)):
        for table in CONTENT_TABLES:
            if n := len(dump_rows(dump, table, scenario.group)):
                counts[f"{name}: {table}"] = n
    return counts


def test_no_ballot_rating_comment_or_tally_row_before_close(scenario: Scenario) -> None:
    copy = scenario.before
    if isinstance(copy, SqliteCopy):
        counts = _sqlite_group_rows(copy, scenario)
    else:
        counts = _pg_group_rows(copy, scenario)  # type: ignore[arg-type]
    assert counts == {}, f"rows of the group's ballots before close: {counts}"


def test_every_sealed_ballot_has_the_same_size(scenario: Scenario) -> None:
    """A blob as long as its comments would tell which ballot wrote the long comment; here the
    comments' lengths differ from ballot to ballot."""
    assert scenario.box_sizes is not None, "there is no box: ballots are stored as rows"
    assert len(scenario.box_sizes) == CASTS
    assert len(set(scenario.box_sizes)) == 1, (
        f"sealed ballot sizes: {sorted(set(scenario.box_sizes))}"
    )


def test_the_audit_log_is_not_written_by_casting(scenario: Scenario) -> None:
    added = len(scenario.audit_after_casting) - len(scenario.audit_before)
    assert added == 0, f"{added} audit events written while casting"
