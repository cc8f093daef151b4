"""票箱: a cast ballot sealed with the app's secret until its group is counted.

A ballot goes into the box as one AES-GCM blob (`seal`), opened only by `pingyi.evaluation`
when the office closes the group's evaluation (`open_sealed`). The key is derived from
`settings().secret_key` (`PINGYI_SECRET_KEY`, or the key file beside the database) and is never
written to the database: a copy of the database, its WAL or a backup shows at most which code
cast which blob, and no blob can be read.

Every blob of a group has the same size: the answers are one fixed-size record per item of the
form (every ballot answers every item), and the comments are padded to the most the form
allows (each of its targets `COMMENT_MAX` characters of up to 4 bytes). A blob's length would
otherwise tell who wrote the long comment.
"""

from __future__ import annotations

import functools
import os
import struct
from array import array
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pingyi.config import settings

VERSION = 1
NONCE_BYTES = 12
COMMENT_MAX = 200  # characters per target, as the ballot page allows
_CHAR_BYTES = 4  # the most UTF-8 needs for one character
_HEADER = struct.Struct("<BII")  # version, items, comments
_COMMENT_HEAD = struct.Struct("<iH")  # target id, UTF-8 length
_INFO = b"pingyi ballot box v1"


class BoxError(ValueError):
    """A blob that cannot be opened with this app's key; the message is for the office."""


@dataclass(frozen=True)
class Opened:
    """A ballot taken out of the box."""

    answers: dict[tuple[int, int], int]  # (target, criterion) → level
    comments: dict[int, str]  # target → text


def key_of(secret: bytes) -> bytes:
    """The box's 256-bit key, derived from the app's secret (which also keys code hashes:
    HKDF with its own label keeps the two uses apart)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)


@functools.cache
def _cipher(secret: bytes) -> AESGCM:
    return AESGCM(key_of(secret))


def _box_cipher() -> AESGCM:
    return _cipher(settings().secret_key)


def _context(round_id: int, group_id: int) -> bytes:
    """Bound to the blob as associated data: a blob moved to another group does not open."""
    return f"pingyi/{VERSION}/{round_id}/{group_id}".encode()


def plain_size(items: int, cards: int) -> int:
    """The size every ballot of a form with `items` items and `cards` targets is padded to."""
    per_comment = _COMMENT_HEAD.size + COMMENT_MAX * _CHAR_BYTES
    return _HEADER.size + 12 * items + cards * per_comment


def _plain(answers: Mapping[tuple[int, int], int], comments: Mapping[int, str], size: int) -> bytes:
    flat = array("i")
    for (target, criterion), level in answers.items():
        flat.extend((target, criterion, level))
    parts = [_HEADER.pack(VERSION, len(answers), len(comments)), flat.tobytes()]
    for target, text in comments.items():
        encoded = text.encode()
        parts += [_COMMENT_HEAD.pack(target, len(encoded)), encoded]
    body = b"".join(parts)
    if len(body) > size:  # the form's checks keep comments within COMMENT_MAX: never here
        raise ValueError("ballot larger than its form allows")
    return body + bytes(size - len(body))


def seal(
    *,
    round_id: int,
    group_id: int,
    answers: Mapping[tuple[int, int], int],
    comments: Mapping[int, str],
    cards: int,
) -> bytes:
    """The ballot as the box keeps it: nonce ‖ AES-GCM(padded ballot)."""
    plain = _plain(answers, comments, plain_size(len(answers), cards))
    nonce = os.urandom(NONCE_BYTES)
    return nonce + _box_cipher().encrypt(nonce, plain, _context(round_id, group_id))


def open_sealed(blob: bytes, *, round_id: int, group_id: int) -> Opened:
    """The ballot in a blob of this group's box; BoxError when this key cannot open it."""
    nonce, sealed = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    try:
        plain = _box_cipher().decrypt(nonce, sealed, _context(round_id, group_id))
    except InvalidTag:
        raise BoxError(
            "票箱中的评议票无法用本系统的密钥打开:PINGYI_SECRET_KEY(或数据目录中的 secret.key)"
            "与投票时不同。请换回投票时的密钥后再开箱计票。"
        ) from None
    version, items, count = _HEADER.unpack_from(plain)
    if version != VERSION:
        raise BoxError(f"票箱中有无法识别的评议票格式(版本 {version})")
    offset = _HEADER.size
    flat = array("i")
    flat.frombytes(plain[offset : offset + 12 * items])
    offset += 12 * items
    answers = {(flat[i], flat[i + 1]): flat[i + 2] for i in range(0, len(flat), 3)}
    comments: dict[int, str] = {}
    for _ in range(count):
        target, length = _COMMENT_HEAD.unpack_from(plain, offset)
        offset += _COMMENT_HEAD.size
        comments[target] = plain[offset : offset + length].decode()
        offset += length
    return Opened(answers, comments)
