"""After the count, where the rows sit says nothing of the order of casting.

SQLite: each cell of `ballot`, `rating` and `mass_comment` by page, then content offset from
the end of the page (the order SQLite fills a page in), in the file copied with the app
running (WAL applied) and in `pingyi backup` (a page-for-page copy). PostgreSQL: the rows by
ctid (block, line pointer: the order the heap was filled in), and by the transaction that
inserted them (xmin), which a ballot inserted with its code's claim shares with the code row.

Each recovered order is scored by linking_stats: the k-th code used paired with the k-th
ballot gets ≈ Poisson(1) right by chance, and more than 7 is a leak (P ≈ 1e-5); Spearman's ρ
with the order of casting beyond 4.5/sqrt(n − 1) is a leak.
"""

from __future__ import annotations

from anon_attacks import (
    ORDERED_TABLES,
    casts_of_ballots,
    expected,
    measured,
    sqlite_cells,
    sqlite_physical_orders,
    sqlite_ratings,
    sqlite_rowid_orders,
)
from anon_scenario import PgLive, Scenario, SqliteCopy
from linking_stats import assert_none_leaks, order_by_mean_position


def sqlite_copy(scenario: Scenario) -> SqliteCopy:
    if not isinstance(scenario.after, SqliteCopy):
        raise AssertionError("SQLite files only: see pytest_generate_tests in conftest.py")
    return scenario.after


def pg_live(scenario: Scenario) -> PgLive:
    if scenario.pg_live is None:
        raise AssertionError("PostgreSQL only: see pytest_generate_tests in conftest.py")
    return scenario.pg_live


def pg_casts(live: PgLive, scenario: Scenario) -> dict[str, int]:
    ratings = [
        (r["ballot_id"], r["target_id"], r["criterion_id"], r["level_id"]) for r in live.ratings
    ]
    return casts_of_ballots(ratings, scenario.truth)


def test_sqlite_cells_sit_in_no_order_of_casting(scenario: Scenario) -> None:
    copy = sqlite_copy(scenario)
    leaks = [
        *sqlite_physical_orders(copy.merged, scenario.truth, scenario.group),
        *sqlite_physical_orders(copy.backup, scenario.truth, scenario.group),
    ]
    assert_none_leaks(leaks)


def test_sqlite_tables_of_ballots_have_no_rowid_to_order_by(scenario: Scenario) -> None:
    copy = sqlite_copy(scenario)
    assert_none_leaks(sqlite_rowid_orders(copy.merged, scenario.truth, scenario.group))


def test_postgresql_rows_sit_in_no_order_of_casting(scenario: Scenario) -> None:
    """Rows by ctid, as a sequential scan, pg_dump or a copy of the heap file sees them."""
    live = pg_live(scenario)
    casts = pg_casts(live, scenario)
    labels = {
        "ballot": [casts.get(row["id"]) for row in live.ballots],
        "rating": [casts.get(row["ballot_id"]) for row in live.ratings],
        "mass_comment": [scenario.truth.cast_of_text(row["text"]) for row in live.comments],
    }
    leaks = [
        measured(
            f"{table} by ctid",
            order_by_mean_position(labels[table]),
            expected=expected(table, scenario.truth),
        )
        for table in ORDERED_TABLES
    ]
    assert_none_leaks(leaks)


def test_postgresql_no_ballot_shares_its_inserting_transaction_with_a_code(
    scenario: Scenario,
) -> None:
    """xmin: a ballot written in the transaction that claimed its code carries that code's
    transaction id; pairing them by xmin links each ballot to its code."""
    live = pg_live(scenario)
    code_xmins = set(live.code_xmins.values())
    shared = {
        table: sum(1 for row in rows if row["xmin"] in code_xmins)
        for table, rows in (
            ("ballot", live.ballots),
            ("rating", live.ratings),
            ("mass_comment", live.comments),
        )
    }
    assert shared == {"ballot": 0, "rating": 0, "mass_comment": 0}, (
        f"rows whose xmin is a code row's xmin: {shared}"
    )


def test_postgresql_xmin_orders_nothing(scenario: Scenario) -> None:
    """Transaction ids grow with time: ballots by xmin are ballots by the time they were
    written. Ties (one transaction wrote them all) order nothing."""
    live = pg_live(scenario)
    casts = pg_casts(live, scenario)
    distinct = len({row["xmin"] for row in live.ballots})
    by_xmin = sorted(live.ballots, key=lambda row: row["xmin"])
    order = order_by_mean_position([casts.get(row["id"]) for row in by_xmin])
    leak = measured("ballots by xmin", order, expected=len(scenario.truth.casts))
    assert distinct == 1 or not leak.leaks, f"{distinct} transactions wrote the ballots: {leak}"


def _ballot_order(scenario: Scenario) -> tuple[str, list[int]]:
    """The counted ballots in the order the backend's copy keeps them."""
    if isinstance(scenario.after, SqliteCopy):
        path = scenario.after.merged
        casts = casts_of_ballots(sqlite_ratings(path, scenario.group), scenario.truth)
        cells = sorted(sqlite_cells(path, "ballot"), key=lambda cell: cell.insertion_key)
        labels = [next((casts[v] for v in cell.values if v in casts), None) for cell in cells]
        return "ballot cells by page and offset", [int(c) for c in order_by_mean_position(labels)]
    live = pg_live(scenario)
    casts = pg_casts(live, scenario)
    order = order_by_mean_position([casts.get(row["id"]) for row in live.ballots])
    return "ballots by ctid", [int(c) for c in order]


def test_the_count_does_not_keep_the_order_of_the_box(scenario: Scenario) -> None:
    """Whoever holds a copy from before the count knows which box row each code wrote (by
    the WAL, xmin, the row's place): ballots counted in the order of the box's ids would be
    linked through it. Scored on the casts whose box row is known (those cast alone)."""
    by_id = sorted(scenario.cast_row_ids, key=scenario.cast_row_ids.__getitem__)
    box_rank = {cast: rank for rank, cast in enumerate(by_id)}
    what, order = _ballot_order(scenario)
    leak = measured(
        f"{what}, against the order of the box's ids",
        [box_rank[cast] for cast in order if cast in box_rank],
        expected=len(box_rank),
    )
    assert not leak.leaks, str(leak)
