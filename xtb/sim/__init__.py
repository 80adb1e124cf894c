"""The venue simulator's venue-neutral heart: matching engine, accounts, market-data generator, faults.

Public surface (protocol servers build on these):
- `Exchange` (xtb.sim.engine): one simulated venue; place/cancel/modify/query orders, books, accounts,
  funding, and `subscribe(listener)` for the event stream.
- data types and enums (xtb.sim.types): `MarketSpec`, `VenueRules`, `OrderRequest`, `OrderView`, `Fill`,
  `BookDelta`, `BookSnapshot`, events, `SimError` with `ErrorCode`.
- clocks (xtb.sim.clock): `VirtualClock` for tests, `RealClock` for servers.
- `MarketDataGenerator` (xtb.sim.generator) and `FaultPlan` (xtb.sim.faults).

The simulator shares nothing with the connectors or `xtb._core`, only the venues' public protocols.
"""

from xtb.sim.clock import Clock, RealClock, VirtualClock
from xtb.sim.engine import Exchange, Listener
from xtb.sim.faults import Fault, FaultKind, FaultPlan, FaultRule
from xtb.sim.generator import FeedConfig, MarketDataGenerator, UnderlyingConfig
from xtb.sim.types import (
    AccountConfig,
    BalanceEvent,
    BalanceView,
    BookDelta,
    BookLevel,
    BookSnapshot,
    ErrorCode,
    Event,
    Fill,
    FillEvent,
    FundingEvent,
    MarketSpec,
    MarkPriceEvent,
    OrderEvent,
    OrderEventKind,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderView,
    PositionEvent,
    PositionView,
    PriceBand,
    Reason,
    ReduceOnlyMode,
    RefusalStyle,
    SelfTradeMode,
    Side,
    SimError,
    TimeInForce,
    TradeEvent,
    VenueRules,
)

__all__ = [
    "AccountConfig",
    "BalanceEvent",
    "BalanceView",
    "BookDelta",
    "BookLevel",
    "BookSnapshot",
    "Clock",
    "ErrorCode",
    "Event",
    "Exchange",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "FaultRule",
    "FeedConfig",
    "Fill",
    "FillEvent",
    "FundingEvent",
    "Listener",
    "MarkPriceEvent",
    "MarketDataGenerator",
    "MarketSpec",
    "OrderEvent",
    "OrderEventKind",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "OrderView",
    "PositionEvent",
    "PositionView",
    "PriceBand",
    "RealClock",
    "Reason",
    "ReduceOnlyMode",
    "RefusalStyle",
    "SelfTradeMode",
    "Side",
    "SimError",
    "TimeInForce",
    "TradeEvent",
    "UnderlyingConfig",
    "VenueRules",
    "VirtualClock",
]
