"""A SQLite file read the way an attacker reads it: page by page, cell by cell.

SQLite writes a new cell at the top of the free gap of its page, so within a page the cells'
content offsets go down in the order the rows were inserted (until a page split or a VACUUM
writes the page again in key order). Where each row of a table sits therefore tells the order
the rows came in, whatever their keys are, WITHOUT ROWID tables included. This module walks a
table's b-tree from its root page and gives every cell with its page, offset and values.

The format is https://www.sqlite.org/fileformat2.html: nothing here goes through SQLite's own
reading of the file, which would hide where the rows sit.
"""

from __future__ import annotations

import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SQLITE_MAGIC = b"SQLite format 3\x00"
FILE_HEADER = 100  # bytes before page 1's b-tree header
# Page types.
INDEX_INTERIOR, TABLE_INTERIOR, INDEX_LEAF, TABLE_LEAF = 0x02, 0x05, 0x0A, 0x0D


@dataclass(frozen=True)
class Cell:
    """One row of a table (or index entry) where it sits in the file."""

    page: int  # 1-based page number
    offset: int  # where the cell's content starts within its page
    values: tuple[Any, ...]  # the record, in the b-tree's column order

    @property
    def insertion_key(self) -> tuple[int, int]:
        """The attacker's guess at the order of insertion: pages as the file grew, then cells
        from the end of the page towards its start."""
        return (self.page, -self.offset)


@dataclass(frozen=True)
class _File:
    data: bytes
    page_size: int
    usable: int  # page size less the reserved bytes at the end of each page

    def page(self, number: int) -> bytes:
        start = (number - 1) * self.page_size
        return self.data[start : start + self.page_size]


def _open(data: bytes) -> _File:
    if not data.startswith(SQLITE_MAGIC):
        raise ValueError("not a SQLite database file")
    size = int.from_bytes(data[16:18], "big")
    size = 65536 if size == 1 else size
    return _File(data, size, size - data[20])


def _varint(buf: bytes, at: int) -> tuple[int, int]:
    """SQLite's big-endian varint at `at`: its value and the offset after it."""
    value = 0
    for i in range(8):
        byte = buf[at + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    return (value << 8) | buf[at + 8], at + 9


def _signed(raw: bytes) -> int:
    return int.from_bytes(raw, "big", signed=True)


def decode_record(payload: bytes) -> tuple[Any, ...]:
    """A record's values: integers, floats, text (UTF-8) and blobs."""
    header_size, at = _varint(payload, 0)
    types = []
    while at < header_size:
        serial, at = _varint(payload, at)
        types.append(serial)
    body = header_size
    values: list[Any] = []
    int_sizes = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}
    for serial in types:
        if serial == 0:
            values.append(None)
        elif serial in int_sizes:
            size = int_sizes[serial]
            values.append(_signed(payload[body : body + size]))
            body += size
        elif serial == 7:
            values.append(struct.unpack(">d", payload[body : body + 8])[0])
            body += 8
        elif serial in (8, 9):
            values.append(serial - 8)
        else:
            size = (serial - 12) // 2
            raw = payload[body : body + size]
            values.append(raw if serial % 2 == 0 else raw.decode("utf-8", "replace"))
            body += size
    return tuple(values)


def _local_size(file: _File, payload: int, *, index: bool) -> int:
    """How much of a payload of this size is kept on the b-tree page itself."""
    usable = file.usable
    most = ((usable - 12) * 64 // 255) - 23 if index else usable - 35
    if payload <= most:
        return payload
    least = ((usable - 12) * 32 // 255) - 23
    local = least + (payload - least) % (usable - 4)
    return local if local <= most else least


def _payload(file: _File, page: bytes, at: int, size: int, *, index: bool) -> bytes:
    """The whole payload starting at `at` on `page`, overflow pages followed."""
    local = _local_size(file, size, index=index)
    parts = [page[at : at + local]]
    remaining = size - local
    next_page = int.from_bytes(page[at + local : at + local + 4], "big") if remaining else 0
    while remaining > 0 and next_page:
        overflow = file.page(next_page)
        chunk = overflow[4 : 4 + min(remaining, file.usable - 4)]
        parts.append(chunk)
        remaining -= len(chunk)
        next_page = int.from_bytes(overflow[:4], "big")
    return b"".join(parts)


def _cells_of_page(file: _File, number: int, found: list[Cell]) -> None:
    """Appends the page's cells to `found`, then those of its children."""
    page = file.page(number)
    head = FILE_HEADER if number == 1 else 0
    kind = page[head]
    count = int.from_bytes(page[head + 3 : head + 5], "big")
    interior = kind in (INDEX_INTERIOR, TABLE_INTERIOR)
    pointers = head + (12 if interior else 8)
    children: list[int] = []
    if interior:
        children.append(int.from_bytes(page[head + 8 : head + 12], "big"))  # right-most
    for i in range(count):
        offset = int.from_bytes(page[pointers + 2 * i : pointers + 2 * i + 2], "big")
        at = offset
        if interior:
            children.append(int.from_bytes(page[at : at + 4], "big"))
            at += 4
        if kind == TABLE_INTERIOR:
            continue  # a key only: the rows are on the leaves
        size, at = _varint(page, at)
        if kind == TABLE_LEAF:
            rowid, at = _varint(page, at)
            values = (rowid, *decode_record(_payload(file, page, at, size, index=False)))
        else:
            values = decode_record(_payload(file, page, at, size, index=True))
        found.append(Cell(number, offset, values))
    for child in children:
        _cells_of_page(file, child, found)


def btree_cells(data: bytes, root: int) -> list[Cell]:
    """Every cell of the b-tree rooted at page `root`, in no particular order. Cells of a
    rowid table start with the rowid; a WITHOUT ROWID table's hold its primary key first."""
    file = _open(data)
    found: list[Cell] = []
    _cells_of_page(file, root, found)
    return found


def root_pages(path: Path) -> dict[str, int]:
    """Table name → root page, from the schema of a database file that has no -wal beside it."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        rows = conn.execute("SELECT name, rootpage FROM sqlite_schema WHERE type = 'table'")
        return {name: int(root) for name, root in rows}
    finally:
        conn.close()


def page_size(data: bytes) -> int:
    return _open(data).page_size


def merged_copy(files: dict[str, bytes], directory: Path) -> Path:
    """The copied `.db`, `-wal` and `-shm` written to `directory` and the WAL checkpointed into
    the database, as whoever opens a copied database gets it: one file, the latest pages."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "copy.db"
    for suffix, data in files.items():
        Path(f"{path}{suffix}").write_bytes(data)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
    return path
