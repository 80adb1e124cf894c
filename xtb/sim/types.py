"""Data types of the venue simulator: market specs, venue rules, orders, fills, events, errors.

Units (integers everywhere inside the simulator):
- price: an int in units of 10**-price_decimals of the quote asset (Lighter's wire `Price`);
  Backpack's "141.25" with price_decimals=2 is 14125. `MarketSpec.tick` is the tick in these units.
- quantity: an int in units of 10**-size_decimals of the base asset; `MarketSpec.step` is the step.
- cash (balances, notionals, fees, PnL, funding): an int in units of 10**-cash_decimals of the quote asset,
  one scale per exchange (`VenueRules.cash_decimals`), so that sums across markets are exact.
  notional_cash = price * quantity * 10**(cash_decimals - price_decimals - size_decimals).
- rates (fees, funding, band multipliers): ints in parts per million (ppm); negative maker fee = rebate.
- time: int nanoseconds from the simulator's clock (`xtb.sim.clock`).

Nothing here imports the connectors or `xtb._core`: the simulator shares only the venues' protocols with them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

PPM = 1_000_000


class Side(enum.IntEnum):
    BUY = 1
    SELL = -1

    @property
    def sign(self) -> int:
        return int(self)

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(enum.Enum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(enum.Enum):
    GTC = "gtc"  # also Lighter's good-till-time (set `expiry_ns` on the request)
    IOC = "ioc"
    FOK = "fok"


class SelfTradeMode(enum.Enum):
    """What happens when a taker would match a resting order of the same account.

    Backpack `selfTradePrevention`: RejectTaker (default) / RejectMaker / RejectBoth / Allow.
    Lighter self-trade behaviour: 0 expire maker (default) / 1 expire taker / 2 expire both.
    """

    REJECT_TAKER = "reject_taker"  # the taker's remainder expires (fills so far stand)
    REJECT_MAKER = "reject_maker"  # the resting order is cancelled and matching goes on
    REJECT_BOTH = "reject_both"  # both: maker cancelled, taker remainder expired
    ALLOW = "allow"  # trade with yourself (fees are charged on both sides)


class ReduceOnlyMode(enum.Enum):
    CLIP = "clip"  # quantity is clipped to the position; an order that cannot reduce at all is refused
    REJECT = "reject"  # an order larger than the position is refused


class RefusalStyle(enum.Enum):
    """How an order refused by a trading rule (post-only cross, reduce-only) is reported."""

    ERROR = "error"  # `place_order` raises SimError; no order exists afterwards
    EXPIRE = "expire"  # the order is accepted and ends at once as EXPIRED with a `Reason` (events sent)


class OrderStatus(enum.Enum):
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class Reason(enum.Enum):
    """Why an order ended (CANCELLED / EXPIRED). Maps to Backpack expiry reasons and Lighter statuses."""

    NONE = "none"
    USER_CANCEL = "user_cancel"
    CANCEL_ALL = "cancel_all"
    DISCONNECT = "disconnect"  # cancel-on-disconnect
    IMMEDIATE_OR_CANCEL = "immediate_or_cancel"  # IOC / market remainder
    FILL_OR_KILL = "fill_or_kill"
    POST_ONLY_TAKER = "post_only_taker"
    REDUCE_ONLY = "reduce_only"  # reduce-only order could not reduce (any more)
    SELF_TRADE = "self_trade"
    INSUFFICIENT_LIQUIDITY = "insufficient_liquidity"  # market order found nothing within its worst price
    EXPIRED_TIME = "expired_time"  # good-till-time expiry passed
    MODIFIED = "modified"  # replaced by modify_order (never surfaces: the order keeps its id)


class ErrorCode(enum.Enum):
    """Machine-readable refusal codes; the protocol layer maps them to each venue's error shape."""

    UNKNOWN_MARKET = "unknown_market"
    UNKNOWN_ACCOUNT = "unknown_account"
    MARKET_CLOSED = "market_closed"
    INVALID_PRICE = "invalid_price"  # missing, zero or negative, or given where not allowed
    PRICE_DECIMALS_TOO_LONG = "price_decimals_too_long"
    PRICE_NOT_ON_TICK = "price_not_on_tick"
    PRICE_OUT_OF_RANGE = "price_out_of_range"  # outside [min_price, max_price]
    PRICE_OUT_OF_BAND = "price_out_of_band"  # too far from the band's reference (last / mark)
    INVALID_QUANTITY = "invalid_quantity"  # missing, zero or negative
    QUANTITY_DECIMALS_TOO_LONG = "quantity_decimals_too_long"
    QUANTITY_NOT_ON_STEP = "quantity_not_on_step"
    QUANTITY_BELOW_MIN = "quantity_below_min"
    QUANTITY_ABOVE_MAX = "quantity_above_max"
    NOTIONAL_BELOW_MIN = "notional_below_min"
    INVALID_ORDER = "invalid_order"  # contradictory fields (post-only market, FOK post-only, ...)
    DUPLICATE_CLIENT_ID = "duplicate_client_id"
    ORDER_NOT_FOUND = "order_not_found"
    NOT_ORDER_OWNER = "not_order_owner"
    TOO_MANY_OPEN_ORDERS_MARKET = "too_many_open_orders_market"
    TOO_MANY_OPEN_ORDERS_ACCOUNT = "too_many_open_orders_account"
    INSUFFICIENT_MARGIN = "insufficient_margin"
    REDUCE_ONLY_WOULD_INCREASE = "reduce_only_would_increase"
    POST_ONLY_WOULD_CROSS = "post_only_would_cross"
    NO_LIQUIDITY = "no_liquidity"  # market order with nothing to match and RefusalStyle.ERROR


class SimError(Exception):
    """A refused request. State is unchanged. `field` names the offending request field if any; `band_edge`
    (PRICE_OUT_OF_BAND) is (the price is above the band, the edge it crossed on the tick), for dialects whose
    message names the limit."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None,
                 band_edge: tuple[bool, int] | None = None) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.field = field
        self.band_edge = band_edge


@dataclass(frozen=True, slots=True)
class PriceBand:
    """Limit prices must lie within [ref * lower_ppm / 1e6, ref * upper_ppm / 1e6].

    Backpack: `minMultiplier`/`maxMultiplier` around the last active price (0.75 / 1.25 -> 750_000 /
    1_250_000). Lighter: "price too far from the mark price" (reference="mark"). No reference yet -> no check.
    """

    lower_ppm: int
    upper_ppm: int
    reference: str = "last"  # "last" (last trade price) or "mark"


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """One perpetual market. `market_id` is Lighter's market index; `symbol` Backpack's name."""

    market_id: int
    symbol: str
    price_decimals: int
    size_decimals: int
    tick: int = 1  # price units
    step: int = 1  # quantity units
    min_quantity: int = 1
    max_quantity: int | None = None
    min_notional: int = 0  # cash units
    min_price: int | None = None
    max_price: int | None = None
    maker_fee_ppm: int = 200  # 0.02 %
    taker_fee_ppm: int = 500  # 0.05 %
    initial_margin_ppm: int = 100_000  # 10x max leverage
    band: PriceBand | None = None
    market_order_band: PriceBand | None = None  # Backpack impact multipliers: how far a market order sweeps
    funding_interval_ns: int = 3_600 * 1_000_000_000
    funding_rate_cap_ppm: int = 10_000  # |rate| per interval is clamped to this

    def parse_price(self, text: str) -> int:
        """Decimal string -> price units; raises SimError(PRICE_DECIMALS_TOO_LONG / INVALID_PRICE)."""
        return _parse_scaled(
            text, self.price_decimals, "price", ErrorCode.PRICE_DECIMALS_TOO_LONG, ErrorCode.INVALID_PRICE
        )

    def parse_quantity(self, text: str) -> int:
        """Decimal string -> quantity units; raises SimError(QUANTITY_DECIMALS_TOO_LONG, INVALID_QUANTITY)."""
        return _parse_scaled(
            text,
            self.size_decimals,
            "quantity",
            ErrorCode.QUANTITY_DECIMALS_TOO_LONG,
            ErrorCode.INVALID_QUANTITY,
        )

    def format_price(self, price: int) -> str:
        return _format_scaled(price, self.price_decimals)

    def format_quantity(self, quantity: int) -> str:
        return _format_scaled(quantity, self.size_decimals)


@dataclass(frozen=True, slots=True)
class VenueRules:
    """Venue-wide behaviour switches; each dialect holds its preset (`RULES` in xtb/sim/<dialect>/dialect.py)."""

    name: str = "generic"
    cash_decimals: int = 10
    reduce_only_mode: ReduceOnlyMode = ReduceOnlyMode.CLIP
    reduce_only_refusal: RefusalStyle = RefusalStyle.EXPIRE
    post_only_refusal: RefusalStyle = RefusalStyle.EXPIRE
    default_self_trade: SelfTradeMode = SelfTradeMode.REJECT_TAKER
    market_order_needs_worst_price: bool = False  # Lighter: a market order's Price is its worst price
    max_open_orders_per_market: int | None = None  # per account and market
    max_open_orders_per_account: int | None = None
    client_id_unique_among_open: bool = True  # a client id may be reused once its order has closed
    default_leverage: int = 10
    first_order_id: int = 1
    history_per_account: int = 1_000  # closed orders kept for queries (bounded: memory stays flat)
    min_notional_on_reduce_only: bool = True  # Binance: reduce-only orders are exempt from MIN_NOTIONAL


@dataclass(slots=True)
class OrderRequest:
    """A new order. `price` is the limit price, or for a market order the worst acceptable price
    (required when `VenueRules.market_order_needs_worst_price`). A market order gives `quantity` or
    (Backpack's reverse market order) `quote_quantity` in cash units. `expiry_ns` = 0: no expiry."""

    account: int
    market: int
    side: Side
    quantity: int | None
    price: int | None = None
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    client_id: int | None = None
    self_trade: SelfTradeMode | None = None  # None: the venue's default
    quote_quantity: int | None = None
    expiry_ns: int = 0


@dataclass(slots=True)
class OrderView:
    """A snapshot of an order, as reported to listeners and callers. Treat views and events as read-only:
    they are plain (not frozen) slotted dataclasses because a frozen 20-field init costs ~7x more, and the
    engine builds one per event. The engine never keeps or reuses a view it handed out."""

    order_id: int
    client_id: int | None
    account: int
    market: int
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    price: int | None
    quantity: int  # current total quantity (after clipping or modify)
    filled: int
    filled_cash: int  # sum of price*qty over fills, in cash units
    status: OrderStatus
    reason: Reason
    post_only: bool
    reduce_only: bool
    self_trade: SelfTradeMode
    created_ns: int
    updated_ns: int
    quote_quantity: int | None = None
    expiry_ns: int = 0

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled

    @property
    def is_open(self) -> bool:
        return self.status.is_open


@dataclass(slots=True)
class Fill:
    """One side of one trade, as seen by `account`."""

    trade_id: int
    account: int
    market: int
    order_id: int
    client_id: int | None
    side: Side
    price: int
    quantity: int
    fee: int  # cash units; negative = rebate
    is_maker: bool
    ts_ns: int


@dataclass(slots=True)
class BookLevel:
    price: int
    size: int  # 0 in a delta = level removed


@dataclass(slots=True)
class PositionView:
    account: int
    market: int
    size: int  # signed quantity units; > 0 long
    cost: int  # signed cash units: entry value of the open size (entry price = cost / size)
    realized_pnl: int  # cash units, fees excluded
    unrealized_pnl: int  # at the market's mark price
    funding_paid: int  # cumulative, cash units; > 0 paid out
    mark_price: int | None

    def entry_price(self, spec: MarketSpec, cash_decimals: int) -> Decimal | None:
        """Average entry price as a Decimal in quote currency (display only)."""
        if self.size == 0:
            return None
        return (Decimal(self.cost) / Decimal(self.size)).scaleb(spec.size_decimals - cash_decimals)


@dataclass(slots=True)
class BalanceView:
    account: int
    cash: int  # collateral incl. realized PnL, fees and funding
    equity: int  # cash + unrealized PnL at mark
    initial_margin: int  # required by positions and open orders
    available: int  # equity - initial_margin


# ---------------------------------------------------------------- events sent to listeners


class OrderEventKind(enum.Enum):
    ACCEPTED = "accepted"  # entered the engine (sent before any fill of it)
    FILL = "fill"  # partial or full fill (the Fill event carries the trade)
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    MODIFIED = "modified"


@dataclass(slots=True)
class OrderEvent:
    kind: OrderEventKind
    order: OrderView
    ts_ns: int

    @property
    def account(self) -> int:
        return self.order.account

    @property
    def market(self) -> int:
        return self.order.market


@dataclass(slots=True)
class FillEvent:
    fill: Fill

    @property
    def account(self) -> int:
        return self.fill.account

    @property
    def market(self) -> int:
        return self.fill.market


@dataclass(slots=True)
class TradeEvent:
    """A public trade. Sent after both sides' FillEvents."""

    market: int
    trade_id: int
    price: int
    quantity: int
    taker_side: Side
    maker_order_id: int
    taker_order_id: int
    maker_account: int
    taker_account: int
    ts_ns: int


@dataclass(slots=True)
class BookDelta:
    """All level changes of one engine operation in one market. `seq` rises by exactly 1 per delta
    and per market (`prev_seq == seq - 1`); a snapshot carries the seq of the last delta it includes.
    Levels give the new total size at that price; size 0 removes the level."""

    market: int
    seq: int
    prev_seq: int
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    ts_ns: int


@dataclass(slots=True)
class BookSnapshot:
    market: int
    seq: int
    bids: tuple[BookLevel, ...]  # best (highest) first
    asks: tuple[BookLevel, ...]  # best (lowest) first
    ts_ns: int


@dataclass(slots=True)
class PositionEvent:
    position: PositionView
    ts_ns: int

    @property
    def account(self) -> int:
        return self.position.account

    @property
    def market(self) -> int:
        return self.position.market


@dataclass(slots=True)
class BalanceEvent:
    balance: BalanceView
    ts_ns: int

    @property
    def account(self) -> int:
        return self.balance.account


@dataclass(slots=True)
class FundingEvent:
    account: int
    market: int
    rate_ppm: int
    amount: int  # cash units; > 0 paid by the account
    position_size: int
    mark_price: int
    ts_ns: int


@dataclass(slots=True)
class MarkPriceEvent:
    market: int
    mark_price: int
    index_price: int
    funding_rate_ppm: int  # estimate for the coming interval
    next_funding_ns: int
    ts_ns: int


Event = (
    OrderEvent
    | FillEvent
    | TradeEvent
    | BookDelta
    | PositionEvent
    | BalanceEvent
    | FundingEvent
    | MarkPriceEvent
)


@dataclass(slots=True)
class AccountConfig:
    """Per-account overrides. Fees None: the market's fees."""

    leverage: int | None = None
    maker_fee_ppm: int | None = None
    taker_fee_ppm: int | None = None
    check_margin: bool = True  # liquidity-provider accounts of the generator turn this off
    check_order_limits: bool = True  # open-order caps; the generator's accounts are exempt
    cancel_on_disconnect: bool = True
    extra: dict[str, object] = field(default_factory=dict)


# ---------------------------------------------------------------- decimal helpers (edge only)


def _parse_scaled(text: str, decimals: int, name: str, too_long: ErrorCode, invalid: ErrorCode) -> int:
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        raise SimError(invalid, f"{name} {text!r} is not a decimal number", name) from None
    if not value.is_finite():
        raise SimError(invalid, f"{name} {text!r} is not finite", name)
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise SimError(too_long, f"{name} {text!r} has more than {decimals} decimals", name)
    return int(scaled)


def _format_scaled(value: int, decimals: int) -> str:
    if decimals == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"
