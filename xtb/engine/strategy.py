"""The Strategy base class and the typed surface it sees: the `Context` protocol, `Params`, the clock.

A strategy never touches sockets, signers or venue clients. It reads books, positions and orders from
its context and acts through it (`place_limit`, `place_market`, `cancel`, `submit_batch`); it reads time
and sets timers only through `ctx.clock` (wall time live and in paper mode, the journal's time in replay),
so the same class runs unchanged live, in paper mode and in replay. Market-data callbacks are synchronous
on purpose: the tick-to-order path runs from the frame to the signed request without an extra event-loop
hop. Long work belongs in `on_tick` or a timer. Strategies import all of this from `xtb.api`.

Callbacks (all optional):
    on_start()                      async, before the first event
    on_book(ev: BookUpdate)         a book changed (venue, book_id, best_bid, best_ask, book_seq)
    on_trade(ev: Trade)             a public trade print
    on_order(ev: OrderUpdate)       one of our orders changed state
    on_fill(ev: Fill)               one of our orders traded
    on_position(ev: Position)       our position changed
    on_resync(ev: Resync)           a book went stale and is being re-snapshotted
    on_mark(ev: MarkPrice)          the venue's mark price and funding rate (Binance USD-M, Aster, Backpack)
    on_tick(now_ms)                 async, every engine tick (in the clock's time)
    on_stop()                       async, before orders are cancelled at shutdown
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from xtb._core import BookUpdate, Fill, MarkPrice, Order, OrderUpdate, Position, Resync, Trade
from xtb.engine.clock import StrategyClock
from xtb.model.types import Balance, MarketInfo, Side, TimeInForce

if TYPE_CHECKING:
    from xtb.engine.context import RecordSink


class Params(BaseModel):
    """Base of a strategy's typed parameters: unknown keys are an error naming the key, and so is a non-finite
    number (inf / NaN would silently switch a rule off). Live changes (`Strategy.live_params`) are validated by
    the same class."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


P = TypeVar("P", bound=BaseModel)

Top = tuple[int, int]


class BookView(Protocol):
    """The read side of a book (the core's OrderBook; a replayed top of book in replay)."""

    def best_bid(self) -> Top | None: ...

    def best_ask(self) -> Top | None: ...

    def top(self, n: int = 10) -> tuple[list[Top], list[Top]]: ...

    @property
    def is_stale(self) -> bool: ...


class Context(Protocol):
    """What a strategy may read and do (implemented by `xtb.engine.context.StrategyContext`)."""

    name: str
    log: logging.Logger
    clock: StrategyClock
    sink: RecordSink

    @property
    def trigger_ns(self) -> int | None: ...

    @property
    def venues(self) -> list[str]: ...

    def markets(self, venue: str) -> dict[str, MarketInfo]: ...

    def market(self, venue: str, symbol: str) -> MarketInfo: ...

    def book(self, venue: str, symbol: str) -> BookView: ...

    def best_bid(self, venue: str, symbol: str) -> Top | None: ...

    def best_ask(self, venue: str, symbol: str) -> Top | None: ...

    def position(self, venue: str, symbol: str) -> int: ...

    def entry_price(self, venue: str, symbol: str) -> int: ...

    async def closing_touch(self, venue: str, symbol: str) -> tuple[Top | None, Top | None]: ...

    async def fetch_positions(self, venue: str) -> dict[str, int]: ...

    async def fetch_balances(self, venue: str) -> dict[str, Balance]: ...

    def symbol_of(self, venue: str, book_id: int) -> str | None: ...

    def open_orders(self, venue: str | None = None, symbol: str | None = None) -> list[Order]: ...

    def order(self, venue: str, client_id: int) -> Order | None: ...

    def now_ms(self) -> int: ...

    def record(self, table: str, **fields: Any) -> None: ...

    def gauge(self, name: str, value: float, **labels: str) -> None: ...

    def next_client_id(self, venue: str) -> int: ...

    def place_limit(self, venue: str, symbol: str, side: Side | str, price: int, size: int, *,
                    post_only: bool = False, reduce_only: bool = False,
                    tif: TimeInForce | str = TimeInForce.GTC) -> int: ...

    def place_market(self, venue: str, symbol: str, side: Side | str, size: int, *, worst_price: int | None = None,
                     reduce_only: bool = False) -> int: ...

    def submit_batch(self, venue: str, orders: Sequence[Mapping[str, Any]]) -> list[int]: ...

    def cancel(self, venue: str, client_id: int) -> None: ...

    def cancel_all(self, venue: str | None = None, symbol: str | None = None) -> None: ...


class Strategy(Generic[P]):
    #: set by @register_strategy; informational
    name: ClassVar[str] = ""
    #: params the operator may change while the strategy runs (xtb.control.live_params)
    live_params: ClassVar[frozenset[str]] = frozenset()
    #: the panel's strategy view: "pairs" (spread table, z chart), "mm" (quotes, inventory, reservation
    #: price), "ladder" (resting orders by price) or "orders"
    panel_view: ClassVar[str] = "orders"

    def __init__(self, ctx: Context, params: P) -> None:
        self.ctx = ctx
        self.params = params

    async def on_start(self) -> None:
        pass

    async def on_stop(self) -> None:
        pass

    async def on_tick(self, now_ms: int) -> None:
        pass

    def on_book(self, ev: BookUpdate) -> None:
        pass

    def on_trade(self, ev: Trade) -> None:
        pass

    def on_order(self, ev: OrderUpdate) -> None:
        pass

    def on_fill(self, ev: Fill) -> None:
        pass

    def on_position(self, ev: Position) -> None:
        pass

    def on_resync(self, ev: Resync) -> None:
        pass

    def on_mark(self, ev: MarkPrice) -> None:
        pass

    def on_params_changed(self, old: P, new: P) -> None:
        """Live params were swapped in (`self.params` is `new`): update what was derived from `old`.
        Raise ValueError (with the reason) to refuse the change; the old params are then restored."""

    def traded_pairs(self) -> list[tuple[str, tuple[str, str], tuple[str, str]]]:
        """The pairs whose spread this strategy trades: (name, (venue_a, symbol_a), (venue_b, symbol_b)).
        The panel and `xtb report` chart these spreads."""
        return []

    def status(self) -> dict[str, Any]:
        """Extra fields for `xtb status` and the panel."""
        return {}
