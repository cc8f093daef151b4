"""The two statistics every attack of this suite reports, and the limits that say "leaked".

An attack recovers an order of ballots (or comments) from a copy of the database: which cast
came first, second, … as far as the copy tells. It is written as the cast indices (ground
truth: 0 is the first ballot cast) in the recovered order. Two questions are asked of it:

- linked: the attacker pairs the k-th code used (the order of casting is known to whoever
  watched the room or reads the code rows) with the k-th ballot of the recovered order. The
  number of correct pairs of a random order is the number of fixed points of a random
  permutation: about Poisson(1). P(Poisson(1) ≥ 8) ≈ 1.0e-5, so more than LINKED_LIMIT = 7
  correct pairs is a leak, not luck. Both directions are tried (an attacker does not know
  whether the copy lists the newest first), which at most doubles that chance.
- ρ: Spearman's rank correlation between the order of casting and the recovered order. Under
  a random order it has mean 0 and standard deviation 1/sqrt(n − 1), so |ρ| above
  RHO_SIGMAS / sqrt(n − 1) = 4.5 standard deviations (two-sided chance ≈ 7e-6) is a leak.

Under the null (a shuffled order) neither figure depends on the order it is compared to, so
a ground truth that is slightly wrong (the commit order inside a burst of concurrent casts
is only known up to near-ties) can weaken an attack but never raise a false alarm.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

LINKED_LIMIT = 7
RHO_SIGMAS = 4.5
MIN_ROWS = 20  # fewer casts than this and no order can be told from chance


@dataclass(frozen=True)
class Leak:
    """The figures of one recovered order."""

    what: str
    n: int
    rho: float
    linked: int

    @property
    def rho_limit(self) -> float:
        return rho_limit(self.n)

    @property
    def leaks(self) -> bool:
        return abs(self.rho) > self.rho_limit or self.linked > LINKED_LIMIT

    def __str__(self) -> str:
        return (
            f"{self.what}: n={self.n}, ρ={self.rho:+.3f} (limit ±{self.rho_limit:.3f}), "
            f"linked={self.linked} (limit {LINKED_LIMIT})"
        )


def rho_limit(n: int) -> float:
    return RHO_SIGMAS / math.sqrt(n - 1) if n > 1 else math.inf


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 0, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2
        start = end + 1
    return ranks


def spearman(recovered: Sequence[int]) -> float:
    """Spearman's ρ between the cast indices in `recovered` and their positions in it."""
    n = len(recovered)
    if n < 2:
        return 0.0
    cast = _ranks([float(i) for i in recovered])
    place = [float(p) for p in range(n)]
    mean = (n - 1) / 2
    covariance = sum((c - mean) * (p - mean) for c, p in zip(cast, place, strict=True))
    spread = math.sqrt(sum((c - mean) ** 2 for c in cast) * sum((p - mean) ** 2 for p in place))
    return covariance / spread if spread else 0.0


def linked(recovered: Sequence[int]) -> int:
    """Correct pairs when the k-th cast (of these) is paired with the k-th recovered, in the
    direction that pairs more."""
    in_cast_order = sorted(recovered)
    forward = sum(a == b for a, b in zip(recovered, in_cast_order, strict=True))
    backward = sum(a == b for a, b in zip(reversed(recovered), in_cast_order, strict=True))
    return max(forward, backward)


def measure(what: str, recovered: Sequence[int]) -> Leak:
    """The figures of one recovered order, also printed: `pytest -s` shows every attack's."""
    if len(set(recovered)) != len(recovered):
        raise ValueError(f"{what}: a cast appears twice in the recovered order")
    leak = Leak(what, len(recovered), spearman(recovered), linked(recovered))
    print(f"attack {leak}")
    return leak


def order_by_mean_position(keys: Sequence[Hashable | None]) -> list[Hashable]:
    """Rows in the order a copy shows them, each labelled with its cast (None: not one of
    ours) → the casts in order of the mean position of their rows. A ballot has many rating
    rows; an order shows through the mean even when single rows were moved by a page split."""
    positions: dict[Hashable, list[int]] = {}
    for position, key in enumerate(keys):
        if key is not None:
            positions.setdefault(key, []).append(position)
    return sorted(positions, key=lambda key: sum(positions[key]) / len(positions[key]))


def order_by_first_position(keys: Sequence[Hashable | None]) -> list[Hashable]:
    """As `order_by_mean_position`, by where each cast first shows: in a log (a WAL) a row
    first appears in the record of the transaction that wrote it; later page images repeat it."""
    first: dict[Hashable, int] = {}
    for position, key in enumerate(keys):
        if key is not None:
            first.setdefault(key, position)
    return sorted(first, key=first.__getitem__)


def assert_no_order(what: str, recovered: Sequence[int], *, expected: int) -> Leak:
    """Fails when the recovered order links casts to ballots better than chance, or when the
    attack did not find the `expected` rows (an attack that finds nothing proves nothing)."""
    leak = measure(what, recovered)
    assert leak.n == expected, f"{what}: the attack found {leak.n} of {expected} casts"
    assert leak.n >= MIN_ROWS, f"{what}: {leak.n} casts are too few to tell an order from chance"
    assert not leak.leaks, f"order of casting recovered from {leak}"
    return leak


def leaks_among(leaks: Sequence[Leak]) -> list[str]:
    """The figures of the orders that leak."""
    return [str(leak) for leak in leaks if leak.leaks]


def assert_none_leaks(leaks: Sequence[Leak]) -> None:
    """One assertion over several attacks, reporting the figures of every one that leaks."""
    leaking = leaks_among(leaks)
    assert not leaking, "order of casting recovered from\n" + "\n".join(leaking)
