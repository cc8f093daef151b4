"""The linking statistics flag an order that leaked and pass one that did not."""

from __future__ import annotations

import random

import pytest
from linking_stats import (
    LINKED_LIMIT,
    assert_no_order,
    linked,
    measure,
    order_by_first_position,
    order_by_mean_position,
    rho_limit,
    spearman,
)

N = 56


def test_the_order_of_casting_itself_is_flagged() -> None:
    leak = measure("cast order", list(range(N)))
    assert leak.rho == pytest.approx(1.0)
    assert leak.linked == N
    assert leak.leaks
    with pytest.raises(AssertionError, match="order of casting recovered"):
        assert_no_order("cast order", list(range(N)), expected=N)


def test_the_order_of_casting_reversed_is_flagged() -> None:
    leak = measure("newest first", list(reversed(range(N))))
    assert leak.rho == pytest.approx(-1.0)
    assert leak.linked == N  # the attacker tries both directions
    assert leak.leaks


def test_an_order_kept_only_roughly_is_flagged() -> None:
    """Casts shuffled within blocks of eight (pages written again now and then): few exact
    pairs, but the rank correlation still shows the order."""
    rng = random.Random(14)
    blocks = [rng.sample(range(start, start + 8), 8) for start in range(0, N, 8)]
    leak = measure("blocks", [cast for block in blocks for cast in block])
    assert leak.linked <= LINKED_LIMIT
    assert leak.rho > rho_limit(N)
    assert leak.leaks


def test_a_few_exact_links_without_any_order_are_flagged() -> None:
    """Eight casts where they were, the rest shuffled: the rank correlation may not notice,
    the count of correct pairs does."""
    rng = random.Random(3)
    rest = list(range(8, N))
    while any(a == b for a, b in zip(rest, range(8, N), strict=True)):
        rng.shuffle(rest)
    leak = measure("fixed points", [*range(8), *rest])
    assert leak.linked >= 8
    assert leak.leaks


def test_a_random_permutation_passes() -> None:
    order = random.Random(2026).sample(range(N), N)
    leak = assert_no_order("shuffled", order, expected=N)
    assert abs(leak.rho) < rho_limit(N)


def test_random_permutations_almost_never_raise_an_alarm() -> None:
    """1000 shuffles: the limits are ~4.5 standard deviations and P(Poisson(1) ≥ 8) ≈ 1e-5,
    so not one of them should be flagged (a fixed seed: the same shuffles every run)."""
    rng = random.Random(20261205)
    flagged = [measure("shuffled", rng.sample(range(N), N)).leaks for _ in range(1000)]
    assert sum(flagged) == 0


def test_spearman_and_linked_on_a_subset_of_casts() -> None:
    """Comments come from some casts only: their order is scored among themselves."""
    assert spearman([3, 10, 11, 40]) == pytest.approx(1.0)
    assert linked([3, 10, 11, 40]) == 4
    assert linked([40, 3, 11, 10]) == 1


def test_an_attack_that_finds_too_little_fails() -> None:
    with pytest.raises(AssertionError, match="found 10 of 56"):
        assert_no_order("broken parser", list(range(10)), expected=N)


def test_rows_are_ordered_by_their_casts_mean_or_first_position() -> None:
    rows = [2, None, 0, 2, 1, 0, 1, 1]
    assert order_by_mean_position(rows) == [2, 0, 1]
    assert order_by_first_position(rows) == [2, 0, 1]
    assert order_by_mean_position([0, 1, 1, 1, 0, 0, 0]) == [1, 0]
    assert order_by_first_position([0, 1, 1, 1, 0, 0, 0]) == [0, 1]
