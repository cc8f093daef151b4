"""After the count, pg_dump and `pingyi backup` list the rows in no order of casting.

pg_dump writes a table's rows as its file holds them; `pingyi backup` on PostgreSQL is
pg_dump's custom format, read back to text with pg_restore. (SQLite's `pingyi backup` is a
copy of the pages: test_anon_physical_order reads its cells.)
"""

from __future__ import annotations

from anon_attacks import dump_orders
from anon_scenario import PgCopy, Scenario
from linking_stats import assert_none_leaks


def pg_after(scenario: Scenario) -> PgCopy:
    if not isinstance(scenario.after, PgCopy):
        raise AssertionError("PostgreSQL dumps only: see pytest_generate_tests in conftest.py")
    return scenario.after


def test_postgresql_pg_dump_lists_rows_in_no_order_of_casting(scenario: Scenario) -> None:
    copy = pg_after(scenario)
    leaks = dump_orders("pg_dump", copy.dump, scenario.truth, scenario.group)
    assert_none_leaks(leaks)


def test_postgresql_pingyi_backup_lists_rows_in_no_order_of_casting(scenario: Scenario) -> None:
    copy = pg_after(scenario)
    leaks = dump_orders("pingyi backup", copy.backup_text, scenario.truth, scenario.group)
    assert_none_leaks(leaks)
