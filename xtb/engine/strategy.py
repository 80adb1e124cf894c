"""The Strategy base class: callbacks in, decisions out through the context only.

A strategy never touches sockets, signers or venue clients. It reads books, positions and orders from
its `StrategyContext` and acts through it (`place_limit`, `place_market`, `cancel`, `submit_batch`,
timers). Market-data callbacks are synchronous on purpose: the tick-to-order path runs from the frame
to the signed request without an extra event-loop hop. Long work belongs in `on_tick` or a timer.

Callbacks (all optional):
    on_start()                      async, before the first event
    on_book(ev)                     a book changed (BookUpdate: venue, book_id, best_bid, best_ask, seq)
    on_trade(ev)                    a public trade print
    on_order(ev)                    one of our orders changed state (OrderUpdate)
    on_fill(ev)                     one of our orders traded (Fill)
    on_position(ev)                 our position changed (Position)
    on_resync(ev)                   a book went stale and is being re-snapshotted (Resync)
    on_tick(now_ms)                 async, every clock interval
    on_stop()                       async, before orders are cancelled at shutdown
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from xtb.engine.context import StrategyContext

P = TypeVar("P", bound=BaseModel)


class Strategy(Generic[P]):
    #: set by @register_strategy; informational
    name: ClassVar[str] = ""
    #: params the operator may change while the strategy runs (xtb.control.live_params)
    live_params: ClassVar[frozenset[str]] = frozenset()
    #: the panel's strategy view: "pairs" (spread table, z chart), "mm" (quotes, inventory, reservation
    #: price), "ladder" (resting orders by price) or "orders"
    panel_view: ClassVar[str] = "orders"

    def __init__(self, ctx: StrategyContext, params: P) -> None:
        self.ctx = ctx
        self.params = params

    async def on_start(self) -> None:
        pass

    async def on_stop(self) -> None:
        pass

    async def on_tick(self, now_ms: int) -> None:
        pass

    def on_book(self, ev: Any) -> None:
        pass

    def on_trade(self, ev: Any) -> None:
        pass

    def on_order(self, ev: Any) -> None:
        pass

    def on_fill(self, ev: Any) -> None:
        pass

    def on_position(self, ev: Any) -> None:
        pass

    def on_resync(self, ev: Any) -> None:
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
