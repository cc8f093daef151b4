"""票箱: a cast ballot sealed with the app's secret until its group is counted.

A ballot goes into the box as one AES-GCM blob (`seal`), opened only by `pingyi.evaluation`
when the office closes the group's evaluation (`open_sealed`). The key is derived from
`settings().secret_key` (`PINGYI_SECRET_KEY`, or the key file beside the database) and is never
written to the database: a copy of the database, its WAL or a backup shows at most which code
cast which blob, and no blob can be read.

Every blob of a group has the same size: the answers are one byte per item of the form (the
level's place on the scale, in the form's order: every ballot answers every item), and the
comments are padded to the most a ballot may carry (`comment_budget`: `COMMENT_MAX`
characters per target, `COMMENT_TOTAL_MAX` in all, each of up to 4 bytes). A blob's length
would otherwise tell who wrote the long comment. The form of a round never changes once the
round is open, so the count reads the blob with the form it was sealed with.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pingyi.config import settings

if TYPE_CHECKING:
    from pingyi.ballots import BallotForm

VERSION = 1
NONCE_BYTES = 12
COMMENT_MAX = 200  # characters per target, as the ballot page allows
COMMENT_TOTAL_MAX = 2000  # characters per ballot, all its targets together
_CHAR_BYTES = 4  # the most UTF-8 needs for one character
_HEADER = struct.Struct("<BII")  # version, items, comments
_COMMENT_HEAD = struct.Struct("<HH")  # the target's card on the form, UTF-8 length
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


def comment_budget(cards: int) -> int:
    """The most characters of comments a ballot of `cards` targets may carry."""
    return min(cards * COMMENT_MAX, COMMENT_TOTAL_MAX)


def plain_size(items: int, cards: int, budget: int | None = None) -> int:
    """The size every ballot of a form with `items` items and `cards` targets is padded to: a
    level per item, and as many comments and characters as a ballot may carry (`budget`, by
    default `comment_budget(cards)`; 0 for a form without a comment box)."""
    budget = comment_budget(cards) if budget is None else budget
    return _HEADER.size + items + min(cards, budget) * _COMMENT_HEAD.size + budget * _CHAR_BYTES


def _plain(
    form: BallotForm, answers: Mapping[tuple[int, int], int], comments: Mapping[int, str]
) -> bytes:
    places = form.level_places
    cards = form.card_places
    parts = [
        _HEADER.pack(VERSION, len(form.items), len(comments)),
        bytes(places[answers[item]] for item in form.items),
    ]
    for target, text in comments.items():
        encoded = text.encode()
        parts += [_COMMENT_HEAD.pack(cards[target], len(encoded)), encoded]
    body = b"".join(parts)
    size = plain_size(len(form.items), len(form.cards), form.comment_budget)
    if len(body) > size:  # the ballot's checks keep comments within the budget: never here
        raise ValueError("ballot larger than its form allows")
    return body + bytes(size - len(body))


def seal(
    *,
    form: BallotForm,
    answers: Mapping[tuple[int, int], int],
    comments: Mapping[int, str],
) -> bytes:
    """The ballot (every item of `form` answered) as the box keeps it: nonce ‖ AES-GCM(padded
    ballot)."""
    nonce = os.urandom(NONCE_BYTES)
    context = _context(form.round_id, form.group_id)
    return nonce + _box_cipher().encrypt(nonce, _plain(form, answers, comments), context)


def open_sealed(blob: bytes, *, form: BallotForm) -> Opened:
    """The ballot in a blob of the box of `form`'s group; BoxError when this key cannot open
    it, or it was not sealed with this form."""
    nonce, sealed = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    try:
        plain = _box_cipher().decrypt(nonce, sealed, _context(form.round_id, form.group_id))
    except InvalidTag:
        raise BoxError(
            "票箱中的评议票无法用本系统的密钥打开:PINGYI_SECRET_KEY(或数据目录中的 secret.key)"
            "与投票时不同。请换回投票时的密钥后再开箱计票。"
        ) from None
    version, items, count = _HEADER.unpack_from(plain)
    if version != VERSION:
        raise BoxError(f"票箱中有无法识别的评议票格式(版本 {version})")
    if items != len(form.items):
        raise BoxError("票箱中的评议票与本轮的评议表不符:评议表在投票后被改动过")
    offset = _HEADER.size
    levels = form.levels
    answers = {
        item: levels[place].id
        for item, place in zip(form.items, plain[offset : offset + items], strict=True)
    }
    offset += items
    comments: dict[int, str] = {}
    for _ in range(count):
        card, length = _COMMENT_HEAD.unpack_from(plain, offset)
        offset += _COMMENT_HEAD.size
        comments[form.cards[card].target_id] = plain[offset : offset + length].decode()
        offset += length
    return Opened(answers, comments)
