"""The attacker's tools: from a copy of the database to the casts in the order the copy shows.

Every attack labels the rows it finds with the cast they came from, as the attacker can once
the box is open: a ballot by its answer pattern (its ratings), a comment by its marker. The
attacker's goal is the order; the labels are what the test knows to score it.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

from anon_scenario import PgCopy, SqliteCopy, Truth
from linking_stats import Leak, measure, order_by_first_position, order_by_mean_position
from pg_forensics import copy_rows
from sqlite_pages import Cell, btree_cells, page_size, root_pages

ORDERED_TABLES = ("ballot", "rating", "mass_comment")  # rows an order of casting could be in
_HEX_ID = re.compile(r"[0-9a-f]{32}")

Rating = tuple[str, int, int, int]  # ballot id, target, criterion, level


def casts_of_ballots(ratings: Iterable[Rating], truth: Truth) -> dict[str, int]:
    """Ballot id → the cast whose answers its ratings are."""
    answers: dict[str, set[tuple[int, int, int]]] = defaultdict(set)
    for ballot_id, target, criterion, level in ratings:
        answers[ballot_id].add((int(target), int(criterion), int(level)))
    found = {bid: truth.cast_of_pattern(frozenset(items)) for bid, items in answers.items()}
    return {bid: cast for bid, cast in found.items() if cast is not None}


def expected(table: str, truth: Truth) -> int:
    """How many casts a table's rows stand for, once counted."""
    return truth.commented if table == "mass_comment" else len(truth.casts)


def measured(what: str, recovered: Sequence[Hashable], *, expected: int) -> Leak:
    """The figures of a recovered order; fails when the attack did not find every cast it
    should have (an attack that finds nothing proves nothing)."""
    leak = measure(what, [int(cast) for cast in recovered])  # type: ignore[call-overload]
    assert leak.n == expected, f"{what}: the attack found {leak.n} of {expected} casts"
    return leak


def copy_bytes(copy: SqliteCopy | PgCopy | None) -> dict[str, bytes]:
    """Every file or text of a copy, by name, as the attacker holds it."""
    if isinstance(copy, SqliteCopy):
        named = {f"pingyi.db{suffix}": data for suffix, data in copy.files.items()}
        return {
            **named,
            "merged copy": copy.merged.read_bytes(),
            "backup": copy.backup.read_bytes(),
        }
    assert isinstance(copy, PgCopy)
    texts = {"pg_dump": copy.dump.encode(), "pingyi backup": copy.backup_text.encode()}
    if copy.files is not None:
        texts.update({f"base/…/{name}": data for name, data in copy.files.items()})
    if copy.wal is not None:
        texts["WAL since casting began"] = copy.wal
    return texts


# ---- SQLite files


def sqlite_query(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of a database file read as it is, never written (no -wal beside it)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def sqlite_ratings(path: Path, group: tuple[int, int]) -> list[Rating]:
    return sqlite_query(  # type: ignore[return-value]
        path,
        "SELECT ballot_id, target_id, criterion_id, level_id FROM rating"
        " WHERE round_id = ? AND group_id = ?",
        *group,
    )


def _label(values: tuple[Any, ...], casts: dict[str, int], truth: Truth) -> int | None:
    """The cast a cell is of: a ballot id (ballot, rating) or a marker (mass_comment)."""
    for value in values:
        if isinstance(value, str):
            if _HEX_ID.fullmatch(value) and value in casts:
                return casts[value]
            found = truth.cast_of_text(value)
            if found is not None:
                return found
    return None


def sqlite_cells(path: Path, table: str) -> list[Cell]:
    return btree_cells(path.read_bytes(), root_pages(path)[table])


def sqlite_physical_orders(path: Path, truth: Truth, group: tuple[int, int]) -> list[Leak]:
    """Each table's cells by (page, content offset from the end): the order they were
    inserted in, unless something wrote the pages again."""
    casts = casts_of_ballots(sqlite_ratings(path, group), truth)
    leaks = []
    for table in ORDERED_TABLES:
        cells = sorted(sqlite_cells(path, table), key=lambda cell: cell.insertion_key)
        order = order_by_mean_position([_label(cell.values, casts, truth) for cell in cells])
        what = f"{path.name}: {table} cells by page and offset"
        leaks.append(measured(what, order, expected=expected(table, truth)))
    return leaks


def sqlite_rowid_orders(path: Path, truth: Truth, group: tuple[int, int]) -> list[Leak]:
    """A table with a rowid numbers its rows in the order they came: each table that has one."""
    casts = casts_of_ballots(sqlite_ratings(path, group), truth)
    columns = {"ballot": "id", "rating": "ballot_id", "mass_comment": "text"}
    leaks = []
    for table, column in columns.items():
        try:
            rows = sqlite_query(path, f"SELECT {column} FROM {table} ORDER BY rowid")
        except sqlite3.OperationalError:
            continue  # WITHOUT ROWID: nothing to order by
        order = order_by_mean_position([_label((value,), casts, truth) for (value,) in rows])
        leaks.append(measured(f"{path.name}: {table} by rowid", order, expected=len(order)))
    return leaks


def sqlite_id_orders(path: Path, truth: Truth, group: tuple[int, int]) -> list[Leak]:
    """Rows sorted by their ids (what SELECT * and .dump show of a WITHOUT ROWID table)."""
    casts = casts_of_ballots(sqlite_ratings(path, group), truth)
    ballots = sorted(bid for bid in casts)
    comments = sqlite_query(path, "SELECT text FROM mass_comment ORDER BY id")
    comment_order = order_by_first_position([truth.cast_of_text(t) for (t,) in comments])
    return [
        measured(
            f"{path.name}: ballots by id",
            [casts[bid] for bid in ballots],
            expected=expected("ballot", truth),
        ),
        measured(
            f"{path.name}: comments by id",
            comment_order,
            expected=expected("mass_comment", truth),
        ),
    ]


# ---- dumps


def _of_group(row: dict[str, str | None], group: tuple[int, int]) -> bool:
    return row.get("round_id") == str(group[0]) and row.get("group_id") == str(group[1])


def dump_rows(dump: str, table: str, group: tuple[int, int]) -> list[dict[str, str | None]]:
    return [row for row in copy_rows(dump).get(table, []) if _of_group(row, group)]


def dump_casts(dump: str, truth: Truth, group: tuple[int, int]) -> dict[str, int]:
    ratings = [
        (str(r["ballot_id"]), int(r["target_id"]), int(r["criterion_id"]), int(r["level_id"]))  # type: ignore[arg-type]
        for r in dump_rows(dump, "rating", group)
    ]
    return casts_of_ballots(ratings, truth)


def dump_orders(what: str, dump: str, truth: Truth, group: tuple[int, int]) -> list[Leak]:
    """Rows in the order the dump lists them (COPY writes a table's file in order)."""
    casts = dump_casts(dump, truth, group)
    labels = {
        "ballot": [casts.get(str(row["id"])) for row in dump_rows(dump, "ballot", group)],
        "rating": [casts.get(str(row["ballot_id"])) for row in dump_rows(dump, "rating", group)],
        "mass_comment": [
            truth.cast_of_text(row["text"]) for row in dump_rows(dump, "mass_comment", group)
        ],
    }
    return [
        measured(
            f"{what}: {table} rows in dump order",
            order_by_mean_position(labels[table]),
            expected=expected(table, truth),
        )
        for table in ORDERED_TABLES
    ]


# ---- raw bytes


def marker_hits(data: bytes, truth: Truth) -> list[tuple[int, int]]:
    """(offset, cast) of every comment marker in some bytes."""
    hits = []
    for match in truth.marker_bytes.finditer(data):
        cast = truth.cast_of_mark(int(match.group(1)))
        if cast is not None:
            hits.append((match.start(), cast))
    return hits


def paged_marker_order(data: bytes, truth: Truth, page: int) -> list[Hashable]:
    """Markers in a file of pages filled from their end: by page, then offset from the end."""
    hits = sorted(marker_hits(data, truth), key=lambda h: (h[0] // page, -(h[0] % page)))
    return order_by_mean_position([cast for _, cast in hits])


def logged_marker_order(data: bytes, truth: Truth) -> list[Hashable]:
    """Markers in a log written from start to end (a WAL): by where each first shows."""
    return order_by_first_position([cast for _, cast in marker_hits(data, truth)])


def sqlite_page_size(data: bytes) -> int:
    return page_size(data)
