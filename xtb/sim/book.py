"""Price levels of one market: two sides, each a sorted map price -> FIFO queue of resting orders."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sortedcontainers import SortedList

if TYPE_CHECKING:
    from xtb.sim.order import RestingOrder


class Level:
    """Orders at one price in time priority. A dict keeps insertion order and removes by id in O(1)."""

    __slots__ = ("orders", "price", "total")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: dict[int, RestingOrder] = {}
        self.total = 0


class BookSide:
    __slots__ = ("_keys", "is_bid", "levels")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[int, Level] = {}
        # Sorted keys, best first: bids are stored negated so that index 0 is always the best.
        self._keys: SortedList = SortedList()

    def best_price(self) -> int | None:
        if not self._keys:
            return None
        key: int = self._keys[0]
        return -key if self.is_bid else key

    def best_level(self) -> Level | None:
        price = self.best_price()
        return None if price is None else self.levels[price]

    def add(self, order: RestingOrder) -> None:
        price = order.price
        assert price is not None, "only priced orders rest"
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            self._keys.add(-price if self.is_bid else price)
        level.orders[order.order_id] = order
        level.total += order.quantity - order.filled

    def remove(self, order: RestingOrder) -> None:
        level = self.levels[order.price]  # type: ignore[index]  # resting orders are priced
        del level.orders[order.order_id]
        level.total -= order.quantity - order.filled
        if not level.orders:
            self._drop(level)

    def reduce(self, order: RestingOrder, qty: int) -> None:
        """`qty` of a resting order traded (the caller updates the order's fill and removes it if done)."""
        self.levels[order.price].total -= qty  # type: ignore[index]

    def _drop(self, level: Level) -> None:
        del self.levels[level.price]
        self._keys.remove(-level.price if self.is_bid else level.price)

    def iter_levels(self) -> Iterator[Level]:
        """Levels best first. Do not mutate the side while iterating."""
        for key in self._keys:
            yield self.levels[-key if self.is_bid else key]

    def __len__(self) -> int:
        return len(self.levels)


class Book:
    __slots__ = ("asks", "bids")

    def __init__(self) -> None:
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)
