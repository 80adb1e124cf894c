"""The strategy API: the one import a strategy needs.

    from xtb.api import BookUpdate, Context, Fill, OrderState, Params, Side, Strategy, register_strategy

    class MyParams(Params):
        venue: str = "backpack"
        symbol: str = "SOL_USDC_PERP"

    @register_strategy("my_strategy", params=MyParams)
    class MyStrategy(Strategy[MyParams]):
        def on_book(self, ev: BookUpdate) -> None:
            now_ns = self.ctx.clock.now_ns()        # wall time live and in paper, the journal's in replay
            ...

The same class runs live, in paper mode and in replay (`xtb replay`, `xtb sweep`): it reads time and sets
timers only through `ctx.clock` (a ruff rule forbids `time` and `datetime` under strategies/), and reaches
venues only through its context. Events are the core's own classes; states, sides and time in force are
enums whose members compare equal to the core's strings (`OrderState(o.state) is OrderState.FILLED`).
Pricing helpers (tick rounding, post-only clamps, Avellaneda-Stoikov) live in `xtb.quant`.
"""

from __future__ import annotations

from xtb._core import (
    BookUpdate,
    Fill,
    MarkPrice,
    Order,
    OrderUpdate,
    Position,
    RateLimited,
    Resync,
    Trade,
    format_fixed,
    parse_fixed,
)
from xtb.engine.clock import NS_PER_MS, NS_PER_S, StrategyClock, Timer, TimerFn, seconds_of_day_utc
from xtb.engine.gateway import OrderDenied
from xtb.engine.multi import MultiSymbolParams
from xtb.engine.registry import register_strategy
from xtb.engine.strategy import BookView, Context, Params, Strategy, Top
from xtb.model.types import (
    LIVE_STATES,
    TERMINAL_STATES,
    Balance,
    MarketInfo,
    OrderKind,
    OrderState,
    Side,
    TimeInForce,
)

#: any event a strategy callback receives
Event = BookUpdate | Trade | OrderUpdate | Fill | Position | Resync | RateLimited | MarkPrice

__all__ = [
    "LIVE_STATES",
    "NS_PER_MS",
    "NS_PER_S",
    "TERMINAL_STATES",
    "Balance",
    "BookUpdate",
    "BookView",
    "Context",
    "Event",
    "Fill",
    "MarkPrice",
    "MarketInfo",
    "MultiSymbolParams",
    "Order",
    "OrderDenied",
    "OrderKind",
    "OrderState",
    "OrderUpdate",
    "Params",
    "Position",
    "RateLimited",
    "Resync",
    "Side",
    "Strategy",
    "StrategyClock",
    "TimeInForce",
    "Timer",
    "TimerFn",
    "Top",
    "Trade",
    "format_fixed",
    "parse_fixed",
    "register_strategy",
    "seconds_of_day_utc",
]
