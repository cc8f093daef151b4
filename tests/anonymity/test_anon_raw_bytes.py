"""After the count, the bytes of the files and of the WAL say nothing of the order of casting.

The comments are readable once counted, by design; where their markers sit must not follow
the order they were cast in. A file of pages (SQLite's database, PostgreSQL's relation
files) fills each page from its end, so markers are ordered by page, then by offset from the
end of the page; a WAL is written from start to end, so by where each marker first shows.
pg_waldump also shows which relations each transaction wrote: a transaction that writes a
code row and a ballot, rating, comment or tally links them.
"""

from __future__ import annotations

import pytest
from anon_attacks import expected, logged_marker_order, measured, paged_marker_order
from anon_scenario import CODE_TABLE, CONTENT_TABLES, PgCopy, Scenario, SqliteCopy
from linking_stats import assert_none_leaks, measure
from sqlite_pages import page_size

PG_PAGE = 8192


def sqlite_after(scenario: Scenario) -> SqliteCopy:
    if not isinstance(scenario.after, SqliteCopy):
        raise AssertionError("SQLite files only: see pytest_generate_tests in conftest.py")
    return scenario.after


def pg_after(scenario: Scenario) -> PgCopy:
    if not isinstance(scenario.after, PgCopy):
        raise AssertionError("PostgreSQL files only: see pytest_generate_tests in conftest.py")
    return scenario.after


def test_sqlite_database_bytes_keep_no_order_of_casting(scenario: Scenario) -> None:
    """The copy as opened (WAL applied) and `pingyi backup` hold every comment: in no order.
    The `.db` as copied, without its WAL, holds what was checkpointed: in no order either."""
    copy = sqlite_after(scenario)
    truth = scenario.truth
    commented = expected("mass_comment", truth)
    leaks = []
    for name, data in (
        ("merged copy", copy.merged.read_bytes()),
        ("backup", copy.backup.read_bytes()),
    ):
        order = paged_marker_order(data, truth, page_size(data))
        leaks.append(
            measured(f"{name}: comment markers by page and offset", order, expected=commented)
        )
    raw = copy.files[""]
    leaks.append(measure(".db as copied: markers", paged_marker_order(raw, truth, page_size(raw))))
    assert_none_leaks(leaks)


def test_sqlite_wal_after_close_keeps_no_order_of_casting(scenario: Scenario) -> None:
    """The WAL after the count is emptied by the seal; whatever it still holds, its markers
    in the order they were written must not be the order of casting."""
    copy = sqlite_after(scenario)
    wal = copy.files.get("-wal", b"")
    leak = measure(
        f"-wal of {len(wal)} bytes: markers as written", logged_marker_order(wal, scenario.truth)
    )
    assert not leak.leaks, str(leak)


def test_postgresql_comment_file_keeps_no_order_of_casting(scenario: Scenario) -> None:
    copy = pg_after(scenario)
    if copy.comment_file is None:
        pytest.skip(copy.unavailable)
    order = paged_marker_order(copy.comment_file, scenario.truth, PG_PAGE)
    leak = measured(
        "mass_comment relation file: markers by block and offset",
        order,
        expected=expected("mass_comment", scenario.truth),
    )
    assert not leak.leaks, str(leak)


def test_postgresql_wal_keeps_no_order_of_casting(scenario: Scenario) -> None:
    """The WAL from the first cast to after the count holds every comment (the count's
    inserts): where each first shows is when it was written."""
    copy = pg_after(scenario)
    if copy.wal is None:
        pytest.skip(copy.wal_unavailable)
    leak = measured(
        f"WAL ({len(copy.wal)} bytes): comment markers as first written",
        logged_marker_order(copy.wal, scenario.truth),
        expected=expected("mass_comment", scenario.truth),
    )
    assert not leak.leaks, str(leak)


def test_postgresql_no_transaction_writes_a_code_and_a_ballot(scenario: Scenario) -> None:
    """pg_waldump from the first cast to after the count: every transaction and the relation
    files it wrote, mapped to tables (every file a table had: VACUUM FULL gives new ones)."""
    live = scenario.pg_live
    if live is None:
        raise AssertionError("PostgreSQL WAL only: see pytest_generate_tests in conftest.py")
    if live.transactions is None:
        pytest.skip(live.unavailable)
    tables_by_tx = {
        tx: {live.filenodes[node] for node in nodes if node in live.filenodes}
        for tx, nodes in live.transactions.items()
    }
    assert any(CODE_TABLE in tables for tables in tables_by_tx.values()), (
        "the WAL shows no write of a code: the dump did not cover the casting"
    )
    linking = {
        tx: sorted(tables)
        for tx, tables in tables_by_tx.items()
        if CODE_TABLE in tables and tables & set(CONTENT_TABLES)
    }
    sample = dict(list(linking.items())[:3])
    assert linking == {}, (
        f"{len(linking)} transactions write a code and ballot content, e.g. {sample}"
    )
