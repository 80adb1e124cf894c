"""The types every layer shares: sides, order kinds, market info, order requests, positions, balances,
submit outcomes. The connector contract that speaks them is `xtb.venues.contract.Connector`.

The contract covers what the original system's IConnector offered (lifecycle, markets and scales, top of book, open
orders, positions, balances, place limit/market, cancel by client id, cancel all, latency probe) without
per-venue quirks: everything is integers in the market's units, orders are addressed by our client id,
and events (books, order updates, fills, positions) flow through the core's event ring, not callbacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import EnumType, StrEnum
from typing import Any, Protocol


class _ValueLookupFirst(EnumType):
    """`Side("bid")` runs for every order placed; the plain enum call goes through two Python-level
    functions before its value lookup. This looks the value up first and falls back to it."""

    def __call__(cls, value: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs:
            try:
                return cls._value2member_map_[value]
            except (KeyError, TypeError):  # unknown (the fallback raises the usual error) or unhashable
                pass
        return super().__call__(value, *args, **kwargs)


class Side(StrEnum, metaclass=_ValueLookupFirst):
    BID = "bid"
    ASK = "ask"


class OrderKind(StrEnum, metaclass=_ValueLookupFirst):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum, metaclass=_ValueLookupFirst):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OrderState(StrEnum, metaclass=_ValueLookupFirst):
    """An order's state as the core's OrderTracker names it (`Order.state`, `OrderUpdate.state`).

    `OrderState(o.state)` turns the core's string into the member (a dict lookup); members compare equal to
    their strings, so either side of a comparison may be the core's value."""

    PENDING_NEW = "pending_new"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNRESOLVED = "unresolved"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_live(self) -> bool:
        """Working at the venue or possibly so (not terminal): pending, open, cancelling or unresolved."""
        return self not in TERMINAL_STATES


#: states no event moves an order out of
TERMINAL_STATES = frozenset({OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED, OrderState.EXPIRED})
#: states in which an order rests on the book (or may): everything not terminal
LIVE_STATES = frozenset(set(OrderState) - TERMINAL_STATES)


@dataclass(frozen=True)
class MarketInfo:
    """One market's identity and scales. Prices/sizes elsewhere are ints in these units."""

    venue: str
    symbol: str  # the venue's own name: SOL_USDC_PERP, SOL, SOLUSDT
    base: str  # canonical base asset (xtb.venues.symbols)
    quote: str
    price_decimals: int
    size_decimals: int
    tick: int  # price increment, in price units
    step: int  # size increment, in size units
    min_size: int  # in size units
    min_notional: int  # in notional units: 10^-(price_decimals + size_decimals) of the quote
    market_id: int | None = None  # venue numeric id (Lighter market_index)
    multiplier: int = 1  # venue units per canonical unit (kPEPE: 1000)
    maker_fee_ppm: int = 0  # fee rates in parts per million of notional; negative = rebate
    taker_fee_ppm: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def round_px(self, px: int, side: Side | str) -> int:
        """Round a price to the tick, away from crossing: bids down, asks up."""
        if Side(side) is Side.BID:
            return (px // self.tick) * self.tick
        return -((-px) // self.tick) * self.tick

    def round_sz(self, sz: int) -> int:
        return (sz // self.step) * self.step

    def notional(self, px: int, sz: int) -> int:
        return px * sz


@dataclass(slots=True)
class OrderRequest:
    """One order as a strategy asks for it (integers in the market's units).

    Slotted and deliberately not frozen: a frozen dataclass's `__init__` sets each field through
    `object.__setattr__`, ~1-2.5 us per order on the tick-to-order path (bench/BENCHMARKS.md). The gateway
    reads a request once, synchronously (checks, signing, tracking), so changing it afterwards cannot
    change what was signed or tracked; treat it as a value all the same.
    """

    client_id: int
    symbol: str
    side: Side
    size: int
    kind: OrderKind = OrderKind.LIMIT
    price: int | None = None  # limit price; for market orders the worst acceptable price
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False


@dataclass(frozen=True)
class PositionInfo:
    symbol: str
    size: int  # signed: long > 0
    entry_px: int
    unrealized_pnl: int = 0  # notional units
    source: str = "stream"  # "stream" or "rest"


@dataclass(frozen=True)
class Balance:
    asset: str
    total: int  # in the asset's units at `decimals`
    available: int
    decimals: int


class SubmitOutcome(StrEnum):
    ACCEPTED = "accepted"  # the venue acknowledged
    REJECTED = "rejected"  # the venue said no (structural: never retried blindly)
    UNRESOLVED = "unresolved"  # no answer (timeout, disconnect): reconcile by client id


@dataclass(frozen=True)
class SubmitResult:
    client_id: int
    outcome: SubmitOutcome
    venue_order_id: str | None = None
    reason: str | None = None


class FeeSource(Protocol):
    """The part of a connector the fee rule reads."""

    reports_fill_fees: bool

    def markets(self) -> dict[str, MarketInfo]: ...


def fill_fee_units(connector: FeeSource | None, symbol: str, px: int, sz: int, maker: bool, reported: int) -> int:
    """A fill's fee in notional units (price units x size units; negative = rebate).

    The venue's own figure when its fills carry one; for a connector whose venue does not report fees in
    documented units (`reports_fill_fees = False`: Lighter), the market's published maker/taker rate."""
    if reported or connector is None or connector.reports_fill_fees:
        return reported
    market: MarketInfo | None = connector.markets().get(symbol)
    if market is None:
        return reported
    ppm = market.maker_fee_ppm if maker else market.taker_fee_ppm
    return (px * sz * ppm + 500_000) // 1_000_000
