"""StrategyContext: the only API a strategy sees.

Reads (books, top of book, markets, positions, open orders) come from the connectors' core objects and
the engine's caches; actions go through the OrderGateway, which owns risk, rate limits, tracking and
signing. Client ids are allocated here (unique per venue account, surviving restarts), so a strategy can
refer to an order before the venue has acknowledged it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from xtb.engine.clock import StrategyClock, Timer, TimerFn, WallClock
from xtb.engine.gateway import OrderGateway
from xtb.model.types import Balance, MarketInfo, OrderKind, OrderRequest, Side, TimeInForce

if TYPE_CHECKING:
    from xtb._core import OrderBook
    from xtb.venues.contract import Connector

# Member lookups hoisted out of the order path: attribute access on an enum class goes through
# EnumType.__getattr__ on Python 3.11 (~0.2 us each).
_LIMIT, _MARKET, _IOC = OrderKind.LIMIT, OrderKind.MARKET, TimeInForce.IOC
#: value (or member: a StrEnum member hashes and compares as its value) -> member
_SIDES: Mapping[Any, Side] = Side._value2member_map_  # type: ignore[assignment]
_TIFS: Mapping[Any, TimeInForce] = TimeInForce._value2member_map_  # type: ignore[assignment]


class IdAllocator(Protocol):
    def next(self) -> int: ...


class RecordSink(Protocol):
    """Where a strategy's own records and gauges go (the run's SQLite recorder and Prometheus exporter)."""

    def record(self, table: str, row: Mapping[str, Any]) -> None: ...

    def gauge(self, name: str, value: float, labels: Mapping[str, str]) -> None: ...


class NullSink:
    """No telemetry configured: records and gauges are dropped."""

    def record(self, table: str, row: Mapping[str, Any]) -> None:
        return None

    def gauge(self, name: str, value: float, labels: Mapping[str, str]) -> None:
        return None


@dataclass
class PositionState:
    size: int = 0
    entry_px: int = 0


class Positions:
    """Latest position per (venue, symbol), fed by Position events and connector REST fallbacks."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], PositionState] = {}

    def set(self, venue: str, symbol: str, size: int, entry_px: int) -> None:
        self._by_key[(venue, symbol)] = PositionState(size, entry_px)

    def get(self, venue: str, symbol: str) -> PositionState:
        return self._by_key.get((venue, symbol), PositionState())

    def items(self) -> list[tuple[tuple[str, str], PositionState]]:
        return list(self._by_key.items())


class StrategyContext:
    def __init__(
        self,
        name: str,
        *,
        connectors: Mapping[str, Connector],
        gateway: OrderGateway,
        tracker: Any,
        id_allocators: Mapping[str, IdAllocator],
        positions: Positions,
        dispatcher: Any = None,
        logger: logging.Logger | None = None,
        sink: RecordSink | None = None,
        clock: StrategyClock | None = None,
    ) -> None:
        self.name = name
        self._connectors = connectors
        self._gateway = gateway
        self._place: Callable[..., int] | None = getattr(gateway, "place_limit", None)  # the one-call order path
        self._tracker = tracker
        self._ids = id_allocators
        self._positions = positions
        self.log = logger or logging.getLogger(f"xtb.strategy.{name}")
        self._dispatcher = dispatcher
        #: the only time a strategy reads: wall time live and in paper mode, the journal's in replay
        self.clock: StrategyClock = clock or WallClock()
        self.sink: RecordSink = sink or NullSink()

    @property
    def trigger_ns(self) -> int | None:
        """Receive time of the frame behind the event being dispatched (None outside a callback)."""
        d = self._dispatcher
        ev = None if d is None else d.current_event
        return None if ev is None else ev.recv_ns

    # --- reads -----------------------------------------------------------------------------------
    @property
    def venues(self) -> list[str]:
        return list(self._connectors)

    def markets(self, venue: str) -> dict[str, MarketInfo]:
        return self._connector(venue).markets()

    def market(self, venue: str, symbol: str) -> MarketInfo:
        try:
            return self.markets(venue)[symbol]
        except KeyError:
            raise KeyError(f"{venue} has no market {symbol!r}") from None

    def book(self, venue: str, symbol: str) -> OrderBook:
        return self._connector(venue).book(symbol)

    def best_bid(self, venue: str, symbol: str) -> tuple[int, int] | None:
        return self.book(venue, symbol).best_bid()

    def best_ask(self, venue: str, symbol: str) -> tuple[int, int] | None:
        return self.book(venue, symbol).best_ask()

    def position(self, venue: str, symbol: str) -> int:
        return self._positions.get(venue, symbol).size

    def entry_price(self, venue: str, symbol: str) -> int:
        return self._positions.get(venue, symbol).entry_px

    async def closing_touch(self, venue: str, symbol: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """The touch to price a close with: the live stream book, else the venue's REST book (stop and
        flatten never depend on a stream that is down)."""
        from xtb.engine.flatten import closing_touch

        return await closing_touch(self._connector(venue), symbol)

    async def fetch_positions(self, venue: str) -> dict[str, int]:
        """Signed position per symbol from the connector: its stream cache while the private stream is
        live, a REST read otherwise (flat symbols omitted). For decisions that must not trust a cache miss."""
        fresh = await self._connector(venue).positions()
        return {s: p.size for s, p in fresh.items() if p.size != 0}

    async def fetch_balances(self, venue: str) -> dict[str, Balance]:
        """Balances per asset from the connector (a REST read, or the connector's own short cache)."""
        return await self._connector(venue).balances()

    def symbol_of(self, venue: str, book_id: int) -> str | None:
        """The symbol behind an event's `book_id` (trade prints, book updates); None if unknown."""
        conn = self._connectors.get(venue)
        if conn is None:
            return None
        try:
            return conn.symbol_of_book(book_id)
        except KeyError:
            return None

    def open_orders(self, venue: str | None = None, symbol: str | None = None) -> list[Any]:
        return self._tracker.open_orders(venue, symbol)  # type: ignore[no-any-return]

    def order(self, venue: str, client_id: int) -> Any:
        return self._tracker.get(client_id, venue)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    # --- records ---------------------------------------------------------------------------------
    def record(self, table: str, **fields: Any) -> None:
        """Append a row (spreads, z-scores, signals, ...) to the run's records; a no-op without telemetry."""
        self.sink.record(table, {"ts_ms": self.now_ms(), "strategy": self.name, **fields})

    def gauge(self, name: str, value: float, **labels: str) -> None:
        """Set a strategy gauge, e.g. `mm_reservation_price`; a no-op without telemetry."""
        self.sink.gauge(name, value, labels)

    # --- actions ---------------------------------------------------------------------------------
    def next_client_id(self, venue: str) -> int:
        return self._ids[venue].next()

    def place_limit(
        self,
        venue: str,
        symbol: str,
        side: Side | str,
        price: int,
        size: int,
        *,
        post_only: bool = False,
        reduce_only: bool = False,
        tif: TimeInForce | str = TimeInForce.GTC,
    ) -> int:
        d = self._dispatcher
        ev = None if d is None else d.current_event
        place = self._place
        if place is not None:
            # The gateway numbers the order from this venue's allocator (in the core, where the venue has an
            # order entry) and builds, checks, signs and tracks it.
            return place(venue, self._ids[venue], symbol, side, price, size, post_only, reduce_only, tif,
                         None if ev is None else ev.recv_ns)
        # A gateway with `submit` only (replays, tests): positional OrderRequest (keywords cost ~1 us per
        # order), enum members looked up by value in their own table; an unknown value raises the enum's error.
        req = OrderRequest(
            self._ids[venue].next(), symbol, _SIDES.get(side) or Side(side), size, _LIMIT, price,
            _TIFS.get(tif) or TimeInForce(tif), post_only, reduce_only,
        )
        return self._gateway.submit(venue, [req], None if ev is None else ev.recv_ns)[0]

    def place_market(
        self, venue: str, symbol: str, side: Side | str, size: int, *, worst_price: int | None = None,
        reduce_only: bool = False,
    ) -> int:
        req = OrderRequest(
            self._ids[venue].next(), symbol, _SIDES.get(side) or Side(side), size, _MARKET, worst_price, _IOC,
            False, reduce_only,
        )
        return self._gateway.submit(venue, [req], self.trigger_ns)[0]

    def submit_batch(self, venue: str, orders: Sequence[Mapping[str, Any]]) -> list[int]:
        """Several orders in one venue request; each dict has the keyword arguments of place_limit."""
        reqs = []
        for o in orders:
            reqs.append(OrderRequest(
                client_id=self.next_client_id(venue), symbol=o["symbol"], side=Side(o["side"]), size=o["size"],
                price=o["price"], kind=OrderKind.LIMIT, tif=TimeInForce(o.get("tif", "gtc")),
                post_only=o.get("post_only", False), reduce_only=o.get("reduce_only", False),
            ))
        return self._gateway.submit(venue, reqs, self.trigger_ns)

    def cancel(self, venue: str, client_id: int) -> None:
        order = self._tracker.get(client_id, venue)
        if order is None:
            raise KeyError(f"{venue} has no tracked order with client id {client_id}")
        if not order.is_terminal:
            self._gateway.cancel(venue, order.symbol, [client_id])

    def cancel_all(self, venue: str | None = None, symbol: str | None = None) -> None:
        for o in self._tracker.open_orders(venue, symbol):
            self._gateway.cancel(o.venue, o.symbol, [o.client_id])

    # --- timers (the clock's; kept here for callers of the older context API) -------------------
    def call_later(self, delay_s: float, fn: TimerFn) -> Timer:
        return self.clock.call_later(delay_s, fn)

    def every(self, interval_s: float, fn: TimerFn) -> Timer:
        return self.clock.every(interval_s, fn)

    def cancel_timers(self) -> None:
        self.clock.cancel_all()

    def _connector(self, venue: str) -> Connector:
        try:
            return self._connectors[venue]
        except KeyError:
            have = ", ".join(self._connectors)
            raise KeyError(f"strategy {self.name} has no venue {venue!r} (have: {have})") from None
