"""Best-bid read: sortedcontainers.SortedDict.peekitem vs OrderBook.best_bid (cached tuple, O(1))."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from md_frames import PRICE_DECIMALS, SIZE_DECIMALS, SNAPSHOT_ASKS, SNAPSHOT_BIDS, SYMBOL
from sortedcontainers import SortedDict

from xtb._core import OrderBook

GROUP = "best_bid"


@pytest.mark.benchmark(group=GROUP)
def test_baseline_sorteddict_peekitem(benchmark) -> None:
    bids = SortedDict(dict(SNAPSHOT_BIDS))
    assert benchmark(bids.peekitem, -1) == SNAPSHOT_BIDS[0]


@pytest.mark.benchmark(group=GROUP)
def test_xtb_best_bid(benchmark, ratio_gate) -> None:
    book = OrderBook("backpack", SYMBOL, PRICE_DECIMALS, SIZE_DECIMALS)
    book.apply_snapshot(SNAPSHOT_BIDS, SNAPSHOT_ASKS, 1)
    assert benchmark(book.best_bid) == SNAPSHOT_BIDS[0]
    bids = SortedDict(dict(SNAPSHOT_BIDS))
    ratio_gate.check(benchmark, GROUP, lambda: reads(bids.peekitem, -1), lambda: reads(book.best_bid))


def reads(fn: Callable[..., object], *args: object) -> None:
    """One gate round: READS calls (a single ~100 ns call is below the timer's resolution)."""
    for _ in range(READS):
        fn(*args)


READS = 1000
