"""Best-bid read: sortedcontainers.SortedDict.peekitem vs OrderBook.best_bid (cached tuple, O(1))."""

from __future__ import annotations

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
def test_xtb_best_bid(benchmark) -> None:
    book = OrderBook("backpack", SYMBOL, PRICE_DECIMALS, SIZE_DECIMALS)
    book.apply_snapshot(SNAPSHOT_BIDS, SNAPSHOT_ASKS, 1)
    assert benchmark(book.best_bid) == SNAPSHOT_BIDS[0]
