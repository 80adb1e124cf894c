"""Cross-venue arbitrage between any two configured venues (the original bot's CrossMarketArbitrageStrategy,
which ran Backpack against Lighter).

The same underlying is quoted on both venues; when one venue is richer than the other by more than both
venues' fees plus a threshold, buy the cheap venue and sell the rich one, then unwind when the spread
converges (take profit), widens further (stop loss) or the position has been held too long.

The two legs have roles, set by params: the entry leg (`maker_venue`) is a tracking limit order, resting
post-only at its own touch (`maker_post_only`, a maker) or taking the opposite touch, re-posted when the
touch drifts beyond a tolerance and optionally finished with a market order after a timeout; every entry
fill is hedged on the other venue (`hedge_venue`) at once (`on_fill`), by a market order with a worst price
or a marketable IOC limit (`hedge_execution`). A balance check compares both venues' positions
as the context reports them and trades away any unhedged excess after a failed or partial leg (or, with a
hedge still in flight, once the exposure is `max_unhedged_s` old). Both legs are closed a lead time before
a maintenance window, and no entries are made from then until it ends; entries also stop for a cooldown
after each round trip and after N consecutive failures (circuit breaker); on stop both venues are
flattened with reduce-only market orders. Each round trip logs ENTER, LEGS FILLED, EXIT and CLOSED (with
its realised PnL after fees) at INFO.

Prices and sizes stay integers in each venue's units; cross-venue comparisons go through exact
`Fraction`s of the canonical base asset, and fee/threshold math in bps is exact too.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from xtb.api import (
    LIVE_STATES,
    Context,
    Fill,
    MarketInfo,
    Order,
    OrderDenied,
    OrderState,
    OrderUpdate,
    Params,
    Side,
    Strategy,
    register_strategy,
    seconds_of_day_utc,
)

BPS = 10_000
UNANSWERED_CLOSE_RETRY_S = 0.25  # a close without an answer is sent again after this (not exit_retry_s)
#: the params' names before the legs had roles: old name -> new name
LEGACY_PARAMS = {
    "backpack_fee_bps": "maker_fee_bps", "lighter_fee_bps": "hedge_fee_bps", "backpack_post_only": "maker_post_only",
    "backpack_fill_timeout_s": "maker_fill_timeout_s", "backpack_market_fallback": "maker_market_fallback",
    "lighter_market_execution": "hedge_execution",
}


# --- params --------------------------------------------------------------------------------------------
class CrossArbParams(Params):
    maker_venue: str | None = Field(None, description="venue of the entry leg, the tracking limit order (the "
                                    "maker_* params apply to it); None = the first configured venue")
    hedge_venue: str | None = Field(None, description="venue of the hedge leg (the hedge_* params apply to it); "
                                    "None = the other configured venue")
    symbol_filters: list[str] = Field(default_factory=list,
                                      description="canonical bases to trade (e.g. [SOL, ETH]); empty = all common")
    order_size: Decimal | None = Field(None, gt=0, description="size per arbitrage in base units; "
                                       "None = the smallest size both venues accept")
    max_positions: int = Field(1, ge=1, description="concurrent open arbitrages (one per pair at most)")
    entry_threshold_bps: Decimal = Field(Decimal(10), description="enter when the spread net of fees reaches this")
    take_profit_bps: Decimal = Field(Decimal(2), description="exit when the unwind spread has converged to this")
    stop_loss_bps: Decimal = Field(Decimal(30), gt=0, description="exit when the spread widened this far past entry")
    max_hold_s: float = Field(300.0, gt=0, description="exit after holding this long")
    cooldown_s: float = Field(5.0, ge=0, description="no new entry on a pair for this long after a round trip")
    maker_fee_bps: Decimal = Field(Decimal(2), description="fee of the entry leg's venue (its maker rate if "
                                   "post-only, else its taker rate)")
    hedge_fee_bps: Decimal = Field(Decimal(0), description="fee of the hedge leg's venue (its taker rate)")
    maker_post_only: bool = Field(True, description="the entry leg rests post-only at the same-side touch (maker); "
                                  "false: it takes the opposite touch (taker)")
    reprice_tolerance_bps: Decimal = Field(Decimal(3), ge=0, description="re-post the entry leg when the "
                                           "touch moved further than this from its price")
    maker_fill_timeout_s: float = Field(10.0, gt=0, description="give the entry leg this long to fill")
    maker_market_fallback: bool = Field(False, description="after the timeout, fill the rest with a market order")
    hedge_execution: Literal["market", "ioc"] = Field("market", description="hedge with market orders with a "
                                                      "worst price, or IOC limits at the touch")
    slippage_bps: int = Field(50, gt=0, description="worst-price distance for market orders")
    balance_grace_s: float = Field(1.5, gt=0, description="tolerate a leg imbalance this long before rebalancing")
    max_unhedged_s: float = Field(5.0, gt=0, description="rebalance an imbalance this old even while hedge orders "
                                  "are still in flight (a hedge stuck in a 429 retry or an unanswered request)")
    exit_retry_s: float = Field(3.0, gt=0, description="re-send exit orders when a venue is not flat after this")
    max_consecutive_failures: int = Field(3, ge=1, description="circuit breaker: failures before entries stop")
    circuit_breaker_pause_s: float = Field(300.0, ge=0, description="entries stay off this long (0: until restart)")
    maintenance_windows: list[str] = Field(default_factory=list,
                                           description="UTC 'HH:MM-HH:MM' venue maintenance ranges")
    maintenance_close_lead_s: float = Field(60.0, ge=0, description="close both legs this long before a "
                                            "maintenance window starts; no entries from then until it ends")
    flatten_on_stop: bool = Field(True, description="close both venues' positions on the pairs at shutdown")
    flatten_timeout_s: float = Field(8.0, gt=0, description="how long stop waits for the venues to be flat")

    @model_validator(mode="before")
    @classmethod
    def _legacy_names(cls, data: Any) -> Any:
        """Configs written for the Backpack/Lighter-only version keep working (the old names map onto the
        leg roles; backpack was the entry leg, lighter the hedge)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for old, new in LEGACY_PARAMS.items():
            if old in data:
                if new in data:
                    raise ValueError(f"both {old} and {new} given (use {new})")
                value = data.pop(old)
                data[new] = ("market" if value else "ioc") if old == "lighter_market_execution" else value
        return data

    @field_validator("maintenance_windows")
    @classmethod
    def _windows_parse(cls, v: list[str]) -> list[str]:
        for w in v:
            parse_window(w)
        return v

    @field_validator("symbol_filters")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        return [s.upper() for s in v]


# --- pure pieces ---------------------------------------------------------------------------------------
def leg_venues(params: CrossArbParams, configured: list[str]) -> tuple[str, str]:
    """(entry venue, hedge venue): the named ones, the unnamed taken from the configured venues in order."""
    named = [v for v in (params.maker_venue, params.hedge_venue) if v is not None]
    for v in named:
        if v not in configured:
            raise ValueError(f"cross_arb: venue {v!r} is not configured (venues: {', '.join(configured) or 'none'})")
    rest = iter(v for v in configured if v not in named)
    maker = params.maker_venue if params.maker_venue is not None else next(rest, None)
    hedge = params.hedge_venue if params.hedge_venue is not None else next(rest, None)
    if maker is None or hedge is None or maker == hedge:
        raise ValueError("cross_arb needs two different venues: set maker_venue and hedge_venue, or configure "
                         f"two venues (configured: {', '.join(configured) or 'none'})")
    return maker, hedge


@dataclass(frozen=True)
class Pair:
    base: str
    maker: MarketInfo  # the entry leg's market
    hedge: MarketInfo  # the hedge leg's market


def discover_pairs(maker_markets: dict[str, MarketInfo], hedge_markets: dict[str, MarketInfo],
                   symbol_filters: list[str]) -> list[Pair]:
    """Markets of the same canonical base on both venues, filtered by base (or either venue symbol)."""
    hedge_by_base = {m.base: m for m in hedge_markets.values()}
    wanted = {s.upper() for s in symbol_filters}
    pairs = []
    for mk in sorted(maker_markets.values(), key=lambda m: m.base):
        hg = hedge_by_base.get(mk.base)
        if hg is None:
            continue
        if wanted and not wanted & {mk.base.upper(), mk.symbol.upper(), hg.symbol.upper()}:
            continue
        pairs.append(Pair(mk.base, mk, hg))
    return pairs


def units_per_base(m: MarketInfo) -> Fraction:
    """Venue size units in one canonical base unit (one kPEPE unit is `multiplier` PEPE)."""
    return Fraction(10 ** m.size_decimals, m.multiplier)


def base_qty(m: MarketInfo, units: int) -> Fraction:
    return units / units_per_base(m)


def to_units(m: MarketInfo, qty: Fraction) -> int:
    """Base quantity -> venue size units, rounded down to the market's step."""
    return m.round_sz(math.floor(qty * units_per_base(m)))


def real_price(m: MarketInfo, px: int) -> Fraction:
    """Quote per canonical base unit, exact (the original 'real price normalised by scale')."""
    return Fraction(px, 10 ** m.price_decimals * m.multiplier)


def _lcm(a: Fraction, b: Fraction) -> Fraction:
    return Fraction(math.lcm(a.numerator, b.numerator), math.gcd(a.denominator, b.denominator))


@dataclass(frozen=True)
class CommonSize:
    maker_units: int
    hedge_units: int
    base: Fraction


def common_size(mk: MarketInfo, hg: MarketInfo, wanted: Decimal | None) -> CommonSize:
    """The largest size <= `wanted` (or the smallest valid size) that is a whole number of steps on both
    venues and meets both minimums; raises ValueError when `wanted` is below the common minimum."""
    step = _lcm(base_qty(mk, mk.step), base_qty(hg, hg.step))
    minimum = max(base_qty(mk, mk.min_size), base_qty(hg, hg.min_size))
    minimum = math.ceil(minimum / step) * step
    if wanted is None:
        size = minimum
    else:
        size = math.floor(Fraction(wanted) / step) * step
        if size < minimum:
            raise ValueError(f"order_size {wanted} is below the common minimum {minimum} "
                             f"of {mk.symbol} and {hg.symbol}")
    return CommonSize(int(size * units_per_base(mk)), int(size * units_per_base(hg)), size)


def spread_bps(buy_m: MarketInfo, buy_px: int, sell_m: MarketInfo, sell_px: int) -> Fraction:
    """What selling at sell_px and buying at buy_px earns, in bps of the buy price (exact)."""
    buy = real_price(buy_m, buy_px)
    return (real_price(sell_m, sell_px) - buy) * BPS / buy


class Direction(StrEnum):
    LONG_MAKER = "long_maker"  # buy on the entry leg's venue, sell on the hedge venue
    SHORT_MAKER = "short_maker"  # sell on the entry leg's venue, buy on the hedge venue

    @property
    def maker_side(self) -> Side:
        return Side.BID if self is Direction.LONG_MAKER else Side.ASK

    @property
    def hedge_side(self) -> Side:
        return Side.ASK if self is Direction.LONG_MAKER else Side.BID


Top = tuple[tuple[int, int] | None, tuple[int, int] | None]  # (best bid, best ask)


def maker_entry_price(direction: Direction, maker_top: Top, post_only: bool) -> int | None:
    """Post-only rests at the same-side touch; otherwise the limit takes the opposite touch."""
    bid, ask = maker_top
    same, other = (bid, ask) if direction is Direction.LONG_MAKER else (ask, bid)
    lvl = same if post_only else other
    return None if lvl is None else lvl[0]


def entry_spread(direction: Direction, pair: Pair, maker_px: int, hedge_top: Top) -> Fraction | None:
    """Gross spread of entering in `direction` with the entry leg at maker_px and the hedge at its touch."""
    hedge_bid, hedge_ask = hedge_top
    if direction is Direction.LONG_MAKER:
        return None if hedge_bid is None else spread_bps(pair.maker, maker_px, pair.hedge, hedge_bid[0])
    return None if hedge_ask is None else spread_bps(pair.hedge, hedge_ask[0], pair.maker, maker_px)


def unwind_spread(direction: Direction, pair: Pair, maker_top: Top, hedge_top: Top) -> Fraction | None:
    """The entry direction's spread at the prices an unwind would trade (both legs taking)."""
    (maker_bid, maker_ask), (hedge_bid, hedge_ask) = maker_top, hedge_top
    if direction is Direction.LONG_MAKER:  # unwind: sell the entry venue at its bid, buy the hedge at its ask
        if maker_bid is None or hedge_ask is None:
            return None
        return spread_bps(pair.maker, maker_bid[0], pair.hedge, hedge_ask[0])
    if maker_ask is None or hedge_bid is None:  # unwind: buy the entry venue at its ask, sell the hedge at its bid
        return None
    return spread_bps(pair.hedge, hedge_bid[0], pair.maker, maker_ask[0])


def net_of_fees(gross: Fraction, params: CrossArbParams) -> Fraction:
    return gross - Fraction(params.maker_fee_bps) - Fraction(params.hedge_fee_bps)


def exit_reason(entry: Fraction, current: Fraction, held_s: float, params: CrossArbParams) -> str | None:
    if current <= Fraction(params.take_profit_bps):
        return "take_profit"
    if current - entry >= Fraction(params.stop_loss_bps):
        return "stop_loss"
    if held_s >= params.max_hold_s:
        return "max_hold"
    return None


def parse_window(text: str) -> tuple[int, int]:
    """'HH:MM-HH:MM' (or HH:MM:SS) in UTC -> (start, end) in seconds of the day."""
    try:
        start, end = (_parse_hms(p) for p in text.split("-"))
    except ValueError:
        raise ValueError(f"maintenance window {text!r}: expected 'HH:MM-HH:MM' (UTC)") from None
    return start, end


def _parse_hms(text: str) -> int:
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise ValueError(text)
    h, m, sec = (int(p) for p in (*parts, "00")[:3])
    if h > 23 or m > 59 or sec > 59:
        raise ValueError(text)
    return h * 3600 + m * 60 + sec


def in_maintenance(windows: list[str], now_s: float, lead_s: float = 0.0) -> bool:
    """True inside any [start, end) UTC window, or within `lead_s` before one starts; a window whose end
    precedes its start wraps midnight. `now_s`: seconds since 00:00 UTC (`seconds_of_day_utc`)."""
    day = 24 * 3600
    t = now_s
    for w in windows:
        start, end = parse_window(w)
        inside = start <= t < end if start <= end else (t >= start or t < end)
        if inside or (start - t) % day <= lead_s:
            return True
    return False


class CircuitBreaker:
    """Opens after `max_failures` consecutive failures; closes after `pause_s` (never when 0)."""

    def __init__(self, max_failures: int, pause_s: float) -> None:
        self.max_failures, self.pause_s = max_failures, pause_s
        self.consecutive = 0
        self.opened_at: float | None = None

    def record_failure(self, now: float) -> None:
        self.consecutive += 1
        if self.consecutive >= self.max_failures and self.opened_at is None:
            self.opened_at = now

    def record_success(self) -> None:
        self.consecutive = 0

    def is_open(self, now: float) -> bool:
        if self.opened_at is None:
            return False
        if self.pause_s > 0 and now - self.opened_at >= self.pause_s:
            self.opened_at, self.consecutive = None, 0
            return False
        return True


def fill_cash(m: MarketInfo, side: str, px: int, sz: int, fee: int) -> Fraction:
    """One fill's cash flow in quote currency: sells +, buys -, fees - (the market's taker rate when the
    venue reported none)."""
    qty, price = base_qty(m, sz), real_price(m, px)
    notional = qty * price
    paid = Fraction(fee, 10 ** (m.price_decimals + m.size_decimals)) if fee else notional * m.taker_fee_ppm / 1_000_000
    return (notional if side == Side.ASK else -notional) - paid


def worst_price(m: MarketInfo, side: Side, top: Top, slippage_bps: int) -> int | None:
    """A market order's limit: the opposite touch moved `slippage_bps` against us, rounded safely."""
    bid, ask = top
    ref = ask if side is Side.BID else bid
    if ref is None:
        return None
    move = ref[0] * slippage_bps // BPS
    return m.round_px(ref[0] + move, Side.ASK) if side is Side.BID else m.round_px(ref[0] - move, Side.BID)


# --- the strategy --------------------------------------------------------------------------------------
@dataclass
class Arb:
    """One arbitrage on one pair, from the first entry order to both venues flat again."""

    pair: Pair
    direction: Direction
    size: CommonSize
    entry_spread: Fraction
    started: float  # monotonic seconds
    state: str = "entering"  # entering -> open -> exiting -> (done)
    opened: float | None = None
    maker_cids: list[int] = field(default_factory=list)
    cancels_sent: set[int] = field(default_factory=set)
    maker_px: int = 0
    repricing: bool = False
    fallback_cid: int | None = None
    hedge_cids: list[int] = field(default_factory=list)
    unhedged: Fraction = Fraction(0)  # base units the entry leg filled, not yet sent to the hedge
    maker_accounted: int = 0  # entry-leg size units already counted into `unhedged` (the tracker's filled)
    imbalance_since: float | None = None
    exit_sent: float | None = None
    last_closes: list[tuple[str, int]] = field(default_factory=list)  # (venue, client id) of the last close
    exit_reason: str = ""
    failed: bool = False
    legs_logged: bool = False
    # realised cash flow of every fill (sells +, buys -, fees -), quote currency; the round trip's PnL once flat
    cash: Fraction = Fraction(0)
    fees: Fraction = Fraction(0)
    entry_fills: dict[str, list[Fraction]] = field(default_factory=dict)  # venue -> [base qty, notional]

    def record_fill(self, venue: str, market: MarketInfo, side: str, px: int, sz: int, fee: int) -> None:
        qty, price = base_qty(market, sz), real_price(market, px)
        notional = qty * price
        if fee:  # the venue's own figure, in notional units
            paid = Fraction(fee, 10 ** (market.price_decimals + market.size_decimals))
        else:  # not reported: the market's published rate (taker unless the order rested)
            paid = notional * market.taker_fee_ppm / 1_000_000
        self.cash += (notional if side == Side.ASK else -notional) - paid
        self.fees += paid
        if self.state in ("entering", "open"):
            acc = self.entry_fills.setdefault(venue, [Fraction(0), Fraction(0)])
            acc[0] += qty
            acc[1] += notional

    def entry_summary(self, maker_venue: str, hedge_venue: str) -> str:
        parts = []
        for venue, side in ((maker_venue, self.direction.maker_side), (hedge_venue, self.direction.hedge_side)):
            qty, notional = self.entry_fills.get(venue, (Fraction(0), Fraction(0)))
            verb = "buy" if side is Side.BID else "sell"
            avg = f"{float(notional / qty):.4f}" if qty else "-"
            parts.append(f"{venue} {verb} {float(qty):g} @ {avg}")
        return ", ".join(parts)


@register_strategy("cross_arb", params=CrossArbParams)
class CrossArb(Strategy[CrossArbParams]):
    """Cross-venue arbitrage: a tracking limit entry leg on one venue hedged on the other, exits on convergence."""

    live_params = frozenset({
        "entry_threshold_bps", "take_profit_bps", "stop_loss_bps", "max_hold_s", "cooldown_s", "max_positions",
        "reprice_tolerance_bps", "maker_fill_timeout_s", "slippage_bps", "balance_grace_s", "max_unhedged_s",
        "exit_retry_s", "max_consecutive_failures", "circuit_breaker_pause_s", "maker_fee_bps", "hedge_fee_bps",
    })
    panel_view = "pairs"

    def __init__(self, ctx: Context, params: CrossArbParams) -> None:
        super().__init__(ctx, params)
        # the tracking limit leg and the market / IOC hedge leg
        self.maker_venue, self.hedge_venue = leg_venues(params, list(ctx.venues))
        self.pairs: list[Pair] = []
        self.sizes: dict[str, CommonSize] = {}
        self.arbs: dict[str, Arb] = {}
        self.cooldown_until: dict[str, float] = {}
        self.breaker = CircuitBreaker(params.max_consecutive_failures, params.circuit_breaker_pause_s)
        self.stats = {"entries": 0, "round_trips": 0, "failures": 0, "rebalances": 0, "reposts": 0}
        self.exits: list[str] = []
        self.realized_pnl = Fraction(0)
        self._owner: dict[tuple[str, int], str] = {}  # (venue, client id) -> base of the arb that sent it
        self._symbols: dict[str, set[str]] = {}  # venue -> the pairs' symbols there
        self.session_cash = Fraction(0)  # cash flow of every fill on the pairs' markets, fees included: the
        # session's PnL once flat (the engine's flatten at stop included, as the venue counts it)
        self._stopping = False
        self._notional_warned: set[str] = set()

    # lifecycle ---------------------------------------------------------------------------------------
    async def on_start(self) -> None:
        self._discover_pairs()

    def _discover_pairs(self) -> None:
        ctx = self.ctx
        self.pairs = discover_pairs(ctx.markets(self.maker_venue), ctx.markets(self.hedge_venue),
                                    self.params.symbol_filters)
        for pair in self.pairs:
            self.sizes[pair.base] = common_size(pair.maker, pair.hedge, self.params.order_size)
        self._symbols = {self.maker_venue: {p.maker.symbol for p in self.pairs},
                         self.hedge_venue: {p.hedge.symbol for p in self.pairs}}
        self.ctx.log.info("cross_arb pairs: %s", ", ".join(f"{p.maker.symbol}/{p.hedge.symbol}" for p in self.pairs))

    async def on_tick(self, now_ms: int) -> None:
        if self._stopping:
            return
        now = self.ctx.clock.now_s()
        maintenance = self._near_maintenance()
        for base, arb in list(self.arbs.items()):
            if maintenance and arb.state in ("entering", "open"):
                self._close_for_maintenance(arb)
            try:
                await self._monitor(arb, now)
            except OrderDenied as e:  # risk or rate limit: nothing was sent; the next tick retries
                self.ctx.log.warning("cross_arb %s: order denied while %s: %s", base, arb.state, e)
            if arb.state == "done":
                self._finish(base, arb, now)
        if not maintenance and not self.breaker.is_open(now):
            for pair in self.pairs:
                if len(self.arbs) >= self.params.max_positions:
                    break
                if pair.base not in self.arbs and now >= self.cooldown_until.get(pair.base, 0.0):
                    opportunity = self._check_spread(pair)
                    if opportunity is not None:
                        self._enter_position(pair, *opportunity, now)

    async def on_stop(self) -> None:
        self._stopping = True  # ticks that still run during shutdown leave the arbs to the flatten below
        if self.params.flatten_on_stop:
            await self._flatten_all_positions()

    # entries -----------------------------------------------------------------------------------------
    def _near_maintenance(self) -> bool:
        """Inside a maintenance window or within the close lead before one: hold nothing, enter nothing."""
        if not self.params.maintenance_windows:
            return False
        return in_maintenance(self.params.maintenance_windows, self._utc_time(), self.params.maintenance_close_lead_s)

    def _utc_time(self) -> int:
        """Seconds since 00:00 UTC on the strategy's clock (the journal's time in replay)."""
        return seconds_of_day_utc(self.ctx.clock.now_ns())

    def _close_for_maintenance(self, arb: Arb) -> None:
        """Pull the entry leg and close both venues before the venues go down."""
        self.ctx.log.info("cross_arb %s: maintenance window within %.0f s: closing both legs", arb.pair.base,
                          self.params.maintenance_close_lead_s)
        self._cancel_maker_orders(arb, self._orders(self.maker_venue, arb.maker_cids))
        arb.unhedged = Fraction(0)
        arb.exit_reason = "maintenance"
        self._close_pair(arb)

    def _legs(self, pair: Pair) -> tuple[tuple[str, MarketInfo], tuple[str, MarketInfo]]:
        """(venue, market) of the entry leg, then of the hedge leg."""
        return (self.maker_venue, pair.maker), (self.hedge_venue, pair.hedge)

    def _tops(self, pair: Pair) -> tuple[Top, Top]:
        ctx = self.ctx
        return ((ctx.best_bid(self.maker_venue, pair.maker.symbol), ctx.best_ask(self.maker_venue, pair.maker.symbol)),
                (ctx.best_bid(self.hedge_venue, pair.hedge.symbol), ctx.best_ask(self.hedge_venue, pair.hedge.symbol)))

    def _check_spread(self, pair: Pair) -> tuple[Direction, int, Fraction] | None:
        """The better direction when its spread net of both fees reaches the entry threshold."""
        maker_top, hedge_top = self._tops(pair)
        best: tuple[Direction, int, Fraction] | None = None
        for direction in Direction:
            maker_px = maker_entry_price(direction, maker_top, self.params.maker_post_only)
            gross = None if maker_px is None else entry_spread(direction, pair, maker_px, hedge_top)
            if gross is None or maker_px is None:
                continue
            if net_of_fees(gross, self.params) >= Fraction(self.params.entry_threshold_bps):
                if best is None or gross > best[2]:
                    best = (direction, maker_px, gross)
        return best

    def _below_min_notional(self, pair: Pair, maker_px: int) -> str | None:
        """The leg whose venue would refuse the size at this price (its minimum notional), if any."""
        size = self.sizes[pair.base]
        hedge_px = maker_px * Fraction(10 ** pair.hedge.price_decimals * pair.hedge.multiplier,
                                       10 ** pair.maker.price_decimals * pair.maker.multiplier)
        for venue, m, px, units in ((self.maker_venue, pair.maker, maker_px, size.maker_units),
                                    (self.hedge_venue, pair.hedge, hedge_px, size.hedge_units)):
            if m.min_notional and px * units < m.min_notional:
                return f"{venue} {m.symbol}"
        return None

    def _enter_position(self, pair: Pair, direction: Direction, maker_px: int, gross: Fraction, now: float) -> None:
        short = self._below_min_notional(pair, maker_px)
        if short is not None:  # the venue would refuse a leg: entering would only leave the other unhedged
            if pair.base not in self._notional_warned:
                self._notional_warned.add(pair.base)
                self.ctx.log.warning("cross_arb %s: size %g is below the minimum notional of %s at this price; "
                                     "not entering (raise order_size)", pair.base,
                                     float(self.sizes[pair.base].base), short)
            return
        arb = Arb(pair, direction, self.sizes[pair.base], gross, now)
        self.arbs[pair.base] = arb
        buy, sell = (self.maker_venue, self.hedge_venue)
        if direction is Direction.SHORT_MAKER:
            buy, sell = sell, buy
        how = f"buy {buy} / sell {sell}"
        self.ctx.log.info("cross_arb ENTER %s %s (%s): spread %.1f bps gross, %.1f net of fees (threshold %s); "
                          "size %g, %s limit @ %.4f", pair.base, self._label(direction), how, float(gross),
                          float(net_of_fees(gross, self.params)), self.params.entry_threshold_bps,
                          float(arb.size.base), self.maker_venue, float(real_price(pair.maker, maker_px)))
        try:
            self._post_maker_leg(arb, maker_px, arb.size.maker_units)
        except OrderDenied as e:
            self.ctx.log.warning("cross_arb %s: entry denied: %s", pair.base, e)
            del self.arbs[pair.base]
            return
        self.stats["entries"] += 1
        self.ctx.record("signals", pair=pair.base, action=f"enter_{self._label(direction)}", value=float(gross),
                        detail=f"gross {float(gross):.1f} bps, net {float(net_of_fees(gross, self.params)):.1f}")

    def _label(self, direction: Direction) -> str:
        """The direction as operators read it: long/short the entry venue (long_backpack, short_grvt...)."""
        return f"{'long' if direction is Direction.LONG_MAKER else 'short'}_{self.maker_venue}"

    def _post_maker_leg(self, arb: Arb, px: int, units: int) -> None:
        cid = self.ctx.place_limit(self.maker_venue, arb.pair.maker.symbol, arb.direction.maker_side, px, units,
                                   post_only=self.params.maker_post_only)
        arb.maker_cids.append(cid)
        arb.maker_px, arb.repricing = px, False
        self._own(self.maker_venue, cid, arb.pair.base)

    # hedging -----------------------------------------------------------------------------------------
    def on_fill(self, ev: Fill) -> None:
        """Price and fee detail of a fill; the hedge follows the filled quantity (`_follow_fills`), which the
        order update may have moved first."""
        key = (ev.venue, ev.client_id)
        market = self._market_of(ev.venue, key)
        if market is not None and market.symbol in self._symbols.get(ev.venue, ()):
            self.session_cash += fill_cash(market, ev.side, ev.px, ev.sz, ev.fee)
        base = self._owner.get(key)
        arb = self.arbs.get(base) if base is not None else None
        if arb is None:
            return
        market = arb.pair.maker if ev.venue == self.maker_venue else arb.pair.hedge
        arb.record_fill(ev.venue, market, ev.side, ev.px, ev.sz, ev.fee)
        self._log_when_hedged(arb)
        if ev.venue == self.maker_venue:
            self._follow_fills(arb)

    def on_order(self, ev: OrderUpdate) -> None:
        """An order update that moved an entry leg's filled quantity hedges it now, without waiting for
        the Fill event (which may come seconds later, or only from a REST re-read)."""
        if ev.venue != self.maker_venue:
            return
        base = self._owner.get((ev.venue, ev.client_id))
        arb = self.arbs.get(base) if base is not None else None
        if arb is not None:
            self._follow_fills(arb)

    def _follow_fills(self, arb: Arb) -> None:
        """Hedge what the entry leg filled since the last look: one source of truth, the tracker's filled
        quantity (fed by order updates, fills and REST alike, de-duplicated)."""
        if arb.state not in ("entering", "open"):  # exit and rebalance orders are not hedged
            return
        filled = self._maker_filled(arb)
        if filled > arb.maker_accounted:
            arb.unhedged += base_qty(arb.pair.maker, filled - arb.maker_accounted)
            arb.maker_accounted = filled
            self._hedge(arb)

    def _market_of(self, venue: str, key: tuple[str, int]) -> MarketInfo | None:
        order = self.ctx.order(venue, key[1])
        if order is None:
            return None
        return self.ctx.markets(venue).get(order.symbol)

    def _hedge(self, arb: Arb) -> None:
        """Send the unhedged entry quantity to the hedge venue, in whole steps of its market."""
        hg = arb.pair.hedge
        units = to_units(hg, arb.unhedged)
        if units <= 0:
            return
        hedge_top = self._tops(arb.pair)[1]
        side = arb.direction.hedge_side
        try:
            if self.params.hedge_execution == "market":
                worst = self._hedge_worst_price(arb, side, hedge_top)
                if worst is None:
                    return
                cid = self.ctx.place_market(self.hedge_venue, hg.symbol, side, units, worst_price=worst)
            else:
                touch = hedge_top[1] if side is Side.BID else hedge_top[0]
                if touch is None:
                    return
                cid = self.ctx.place_limit(self.hedge_venue, hg.symbol, side, touch[0], units, tif="ioc")
        except OrderDenied as e:  # kept unhedged: the next tick retries
            self.ctx.log.warning("cross_arb %s: hedge denied: %s", arb.pair.base, e)
            return
        arb.hedge_cids.append(cid)
        self._own(self.hedge_venue, cid, arb.pair.base)
        arb.unhedged -= base_qty(hg, units)

    def _hedge_worst_price(self, arb: Arb, side: Side, hedge_top: Top) -> int | None:
        return worst_price(arb.pair.hedge, side, hedge_top, self.params.slippage_bps)

    # monitoring --------------------------------------------------------------------------------------
    async def _monitor(self, arb: Arb, now: float) -> None:
        if arb.state == "entering":
            self._track_maker_leg(arb, now)
        if arb.state in ("entering", "open"):
            if to_units(arb.pair.hedge, arb.unhedged) > 0:  # a hedge the gateway refused earlier
                self._hedge(arb)
            await self._ensure_balanced_positions(arb, now)
        if arb.state == "open":
            self._check_exit(arb, now)
        if arb.state == "exiting":
            self._monitor_exit(arb, now)

    def _orders(self, venue: str, cids: list[int]) -> list[Order]:
        return [o for o in (self.ctx.order(venue, c) for c in cids) if o is not None]

    def _maker_filled(self, arb: Arb) -> int:
        return sum(o.filled for o in self._orders(self.maker_venue, arb.maker_cids))

    def _track_maker_leg(self, arb: Arb, now: float) -> None:
        """The tracking limit executor: re-post on drift, fall back or give up after the timeout."""
        filled = self._maker_filled(arb)
        remaining = arb.size.maker_units - filled
        live = [o for o in self._orders(self.maker_venue, arb.maker_cids) if OrderState(o.state) in LIVE_STATES]
        if remaining <= 0 and not live:
            self._opened(arb, now)
            return
        if arb.fallback_cid is not None:
            if not live:  # the market fallback finished short: keep what is filled
                self._settle_partial_entry(arb, now, filled)
            return
        maker_top = self._tops(arb.pair)[0]
        target = maker_entry_price(arb.direction, maker_top, self.params.maker_post_only)
        if now - arb.started >= self.params.maker_fill_timeout_s:
            self._on_maker_timeout(arb, now, live, remaining, filled)
        elif live:
            if target is not None and not arb.repricing and self._drifted(arb.maker_px, target):
                self._cancel_maker_orders(arb, live)
                arb.repricing = True
        elif target is not None:  # nothing resting: cancelled for a re-post, or rejected (post-only crossed)
            self._repost_or_abandon(arb, now, target, remaining, filled)

    def _cancel_maker_orders(self, arb: Arb, orders: list[Order]) -> None:
        """Cancel each order once (a cancel in flight is not repeated every tick)."""
        for o in orders:
            if o.client_id not in arb.cancels_sent and OrderState(o.state) in LIVE_STATES \
                    and OrderState(o.state) is not OrderState.PENDING_CANCEL:
                self.ctx.cancel(self.maker_venue, o.client_id)
                arb.cancels_sent.add(o.client_id)

    def _drifted(self, px: int, target: int) -> bool:
        return abs(target - px) * BPS > Fraction(self.params.reprice_tolerance_bps) * px

    def _repost_or_abandon(self, arb: Arb, now: float, target: int, remaining: int, filled: int) -> None:
        hedge_top = self._tops(arb.pair)[1]
        gross = entry_spread(arb.direction, arb.pair, target, hedge_top)
        still_good = gross is not None and net_of_fees(gross, self.params) >= Fraction(self.params.entry_threshold_bps)
        if still_good or filled > 0:
            self.stats["reposts"] += 1
            self._post_maker_leg(arb, target, remaining)
        else:  # the spread closed before anything filled: walk away, no exposure, not a failure
            arb.state = "done"

    def _on_maker_timeout(self, arb: Arb, now: float, live: list[Order], remaining: int, filled: int) -> None:
        self._cancel_maker_orders(arb, live)
        if live:
            return  # wait for the cancels to land before deciding on the remainder
        if self.params.maker_market_fallback and remaining > 0:
            worst = worst_price(arb.pair.maker, arb.direction.maker_side, self._tops(arb.pair)[0],
                                self.params.slippage_bps)
            if worst is not None:
                cid = self.ctx.place_market(self.maker_venue, arb.pair.maker.symbol, arb.direction.maker_side,
                                            remaining,
                                            worst_price=worst)
                arb.fallback_cid = cid
                arb.maker_cids.append(cid)
                self._own(self.maker_venue, cid, arb.pair.base)
                return
        self._settle_partial_entry(arb, now, filled)

    def _settle_partial_entry(self, arb: Arb, now: float, filled: int) -> None:
        """The entry leg ended short: hold what is filled (hedged), or nothing if nothing filled."""
        if filled == 0:
            arb.state = "done"
            return
        self._opened(arb, now)

    def _opened(self, arb: Arb, now: float) -> None:
        arb.state, arb.opened = "open", now
        self._log_when_hedged(arb)

    def _log_when_hedged(self, arb: Arb) -> None:
        """One line per arbitrage once the entry leg is complete and the hedge holds the same quantity."""
        if arb.state != "open" or arb.legs_logged:
            return
        mk, hg = (arb.entry_fills.get(v, [Fraction(0)])[0] for v in (self.maker_venue, self.hedge_venue))
        if mk > 0 and mk == hg:
            arb.legs_logged = True
            held_s = self.ctx.clock.now_s() - arb.started
            self.ctx.log.info("cross_arb LEGS FILLED %s in %.1f s: %s", arb.pair.base, held_s,
                              arb.entry_summary(self.maker_venue, self.hedge_venue))

    async def _ensure_balanced_positions(self, arb: Arb, now: float) -> None:
        """Both legs must net to zero in base units; an imbalance that outlives the grace period (with no
        hedge in flight) or `max_unhedged_s` (whatever is in flight) and is confirmed by the connectors' own
        position reads (REST when a stream is down) is traded away."""
        if not self._imbalanced(arb.pair, *self._positions(arb.pair)):
            arb.imbalance_since = None
            return
        if arb.imbalance_since is None:
            arb.imbalance_since = now
            return
        waited = now - arb.imbalance_since
        overdue = waited >= self.params.max_unhedged_s
        if waited < self.params.balance_grace_s or (self._orders_in_flight(arb) and not overdue):
            return
        arb.imbalance_since = None
        maker_pos, hedge_pos = await self._confirmed_positions(arb.pair)
        # events were dispatched during the read: act only if nothing moved meanwhile
        if arb.state in ("entering", "open") and (overdue or not self._orders_in_flight(arb)) \
                and self._imbalanced(arb.pair, maker_pos, hedge_pos):
            if overdue:
                self.ctx.log.warning("cross_arb %s: unhedged for %.1f s with orders in flight", arb.pair.base, waited)
            self._rebalance(arb, maker_pos, hedge_pos, maker_pos + hedge_pos)

    @staticmethod
    def _imbalanced(pair: Pair, maker_pos: Fraction, hedge_pos: Fraction) -> bool:
        excess = abs(maker_pos + hedge_pos)
        return to_units(pair.hedge, excess) > 0 or to_units(pair.maker, excess) > 0

    async def _confirmed_positions(self, pair: Pair) -> tuple[Fraction, Fraction]:
        mk, hg = await asyncio.gather(self.ctx.fetch_positions(self.maker_venue),
                                      self.ctx.fetch_positions(self.hedge_venue))
        return base_qty(pair.maker, mk.get(pair.maker.symbol, 0)), base_qty(pair.hedge, hg.get(pair.hedge.symbol, 0))

    def _orders_in_flight(self, arb: Arb) -> bool:
        hedge_live = any(OrderState(o.state) in LIVE_STATES for o in self._orders(self.hedge_venue, arb.hedge_cids))
        return hedge_live or (arb.state == "entering" and to_units(arb.pair.hedge, arb.unhedged) > 0)

    def _positions(self, pair: Pair) -> tuple[Fraction, Fraction]:
        return (base_qty(pair.maker, self.ctx.position(self.maker_venue, pair.maker.symbol)),
                base_qty(pair.hedge, self.ctx.position(self.hedge_venue, pair.hedge.symbol)))

    def _rebalance(self, arb: Arb, maker_pos: Fraction, hedge_pos: Fraction, excess: Fraction) -> None:
        """A leg failed or filled short: stop entering and reduce the larger leg to match the other."""
        self.stats["rebalances"] += 1
        arb.failed = True
        self.ctx.log.warning("cross_arb %s: legs out of balance (%s %s, %s %s): rebalancing",
                             arb.pair.base, self.maker_venue, float(maker_pos), self.hedge_venue, float(hedge_pos))
        self._cancel_maker_orders(arb, self._orders(self.maker_venue, arb.maker_cids))
        maker_leg, hedge_leg = self._legs(arb.pair)
        venue, market = maker_leg if abs(maker_pos) > abs(hedge_pos) else hedge_leg
        units = to_units(market, abs(excess))
        side = Side.ASK if excess > 0 else Side.BID
        if units > 0:
            cid = self._reduce_only_market(venue, market, side, units)
            if cid is not None:
                self._own(venue, cid, arb.pair.base)
                if venue == self.hedge_venue:
                    arb.hedge_cids.append(cid)
        arb.unhedged = Fraction(0)
        arb.state = "exiting"  # after a failed leg the pair is closed out, then cooled down
        arb.exit_reason, arb.exit_sent = "rebalance", self.ctx.clock.now_s()

    # exits -------------------------------------------------------------------------------------------
    def _check_exit(self, arb: Arb, now: float) -> None:
        maker_top, hedge_top = self._tops(arb.pair)
        current = unwind_spread(arb.direction, arb.pair, maker_top, hedge_top)
        if current is None or arb.opened is None:
            return
        reason = exit_reason(arb.entry_spread, current, now - arb.opened, self.params)
        if reason is not None:
            self.ctx.log.info("cross_arb EXIT %s (%s): spread %.1f bps at entry, %.1f now; closing both legs",
                              arb.pair.base, reason, float(arb.entry_spread), float(current))
            arb.exit_reason = reason
            self.ctx.record("signals", pair=arb.pair.base, action="exit", value=float(current), detail=reason)
            self._close_pair(arb)

    def _close_pair(self, arb: Arb) -> None:
        """Reduce-only market orders on both venues for whatever each reports open."""
        arb.state, arb.exit_sent = "exiting", self.ctx.clock.now_s()
        arb.last_closes = []
        for venue, market in self._legs(arb.pair):
            pos = self.ctx.position(venue, market.symbol)
            if pos != 0:
                cid = self._reduce_only_market(venue, market, Side.ASK if pos > 0 else Side.BID, abs(pos))
                if cid is not None:
                    self._own(venue, cid, arb.pair.base)
                    arb.last_closes.append((venue, cid))

    def _own(self, venue: str, cid: int, base: str) -> None:
        self._owner[(venue, cid)] = base

    def _reduce_only_market(self, venue: str, market: MarketInfo, side: Side, units: int,
                            top: Top | None = None) -> int | None:
        """A reduce-only market order priced through the touch (the stream's book unless `top` is given).
        None only with a logged reason (no price, or denied); the exit / flatten loops re-send."""
        if top is None:
            top = (self.ctx.best_bid(venue, market.symbol), self.ctx.best_ask(venue, market.symbol))
        worst = worst_price(market, side, top, self.params.slippage_bps)
        if worst is None:
            self.ctx.log.warning("cross_arb: no %s %s price to close %s at (book empty); retrying", venue,
                                 market.symbol, side)
            return None
        try:
            return int(self.ctx.place_market(venue, market.symbol, side, units, worst_price=worst, reduce_only=True))
        except OrderDenied as e:
            self.ctx.log.warning("cross_arb: reduce-only %s %s denied: %s", venue, market.symbol, e)
            return None

    def _closing(self, venue: str, symbol: str) -> list[Order]:
        """Orders a close waits for. An unresolved close (sent, no answer: a dropped socket, a 5xx) does not
        hold the next one back: closes are reduce-only, so a late one can never add exposure."""
        return [o for o in self.ctx.open_orders(venue, symbol)
                if not (o.reduce_only and OrderState(o.state) is OrderState.UNRESOLVED)]

    def _monitor_exit(self, arb: Arb, now: float) -> None:
        if any(self._closing(venue, market.symbol) for venue, market in self._legs(arb.pair)):
            return
        maker_pos, hedge_pos = self._positions(arb.pair)
        if maker_pos == 0 and hedge_pos == 0:
            arb.state = "done"
        elif arb.exit_sent is not None and (now - arb.exit_sent >= self.params.exit_retry_s
                                            or self._close_unanswered(arb, now)):
            self._close_pair(arb)

    def _close_unanswered(self, arb: Arb, now: float) -> bool:
        """The last close came back unresolved (a 5xx, a dropped socket): sent again after a short pause, not
        `exit_retry_s` later (reduce-only: a late one cannot add exposure)."""
        if arb.exit_sent is None or now - arb.exit_sent < UNANSWERED_CLOSE_RETRY_S:
            return False
        return any((o := self.ctx.order(venue, cid)) is not None and OrderState(o.state) is OrderState.UNRESOLVED
                   for venue, cid in arb.last_closes)

    def _finish(self, base: str, arb: Arb, now: float) -> None:
        del self.arbs[base]
        for key in [k for k, b in self._owner.items() if b == base]:
            del self._owner[key]
        if arb.exit_reason:
            self.realized_pnl += arb.cash
            notional = arb.entry_fills.get(self.maker_venue, [Fraction(0), Fraction(0)])[1]
            bps = f" ({float(arb.cash / notional * BPS):+.1f} bps)" if notional else ""
            held = "" if arb.opened is None else f", held {now - arb.opened:.1f} s"
            self.ctx.log.info("cross_arb CLOSED %s (%s): PnL %+.4f %s%s after %.4f fees%s; session PnL %+.4f",
                              base, arb.exit_reason, float(arb.cash), arb.pair.maker.quote, bps, float(arb.fees), held,
                              float(self.realized_pnl))
            self.exits.append(arb.exit_reason)
            self.cooldown_until[base] = now + self.params.cooldown_s
        if arb.failed:
            self.stats["failures"] += 1
            self.breaker.record_failure(now)
        elif arb.exit_reason:
            self.stats["round_trips"] += 1
            self.breaker.record_success()

    # shutdown ----------------------------------------------------------------------------------------
    async def _flatten_all_positions(self) -> None:
        """Cancel our orders and close both venues on every pair, reduce-only, until flat or timed out."""
        if self.arbs:
            self.ctx.log.info("cross_arb stopping: closing %s on both venues", ", ".join(self.arbs))
        for arb in self.arbs.values():
            arb.state, arb.exit_reason = "exiting", arb.exit_reason or "shutdown"
        by_symbol = {(v, m.symbol): p.base for p in self.pairs for v, m in self._legs(p)}
        for pair in self.pairs:
            self.ctx.cancel_all(self.maker_venue, pair.maker.symbol)
            self.ctx.cancel_all(self.hedge_venue, pair.hedge.symbol)
        deadline = self.ctx.clock.now_s() + self.params.flatten_timeout_s
        # Bounded by the count too: in replay the clock only moves with the journal, not while we wait here.
        for _ in range(max(1, math.ceil(self.params.flatten_timeout_s / 0.5))):
            if self.ctx.clock.now_s() >= deadline:
                break
            try:  # REST if a stream is down or a fill is not yet in the stream's positions
                held = {v: await self.ctx.fetch_positions(v) for v in (self.maker_venue, self.hedge_venue)}
            except Exception as e:  # a read that failed (5xx, timeout): the next round reads again
                self.ctx.log.warning("cross_arb: positions not read while flattening (%s); retrying", e)
                await asyncio.sleep(0.5)
                continue
            legs = [(v, m) for pair in self.pairs for v, m in self._legs(pair)]
            open_legs = [(v, m, p) for v, m in legs if (p := held[v].get(m.symbol, 0)) != 0]
            # an order still live (a hedge whose fill the stream has not shown yet) may still move a position
            if not open_legs and not any(self._closing(v, m.symbol) for v, m in legs):
                now = self.ctx.clock.now_s()
                for base, arb in list(self.arbs.items()):
                    self._finish(base, arb, now)
                self.ctx.log.info("cross_arb STOPPED: both venues flat on %s; session PnL %+.4f (%d round trips)",
                                  ", ".join(p.base for p in self.pairs), float(self.realized_pnl),
                                  self.stats["round_trips"])
                return
            if not any(self._closing(v, m.symbol) for v, m, _ in open_legs):
                for venue, market, pos in open_legs:
                    # priced from REST when the stream's book is stale or empty (a stream down at stop)
                    top = await self.ctx.closing_touch(venue, market.symbol)
                    cid = self._reduce_only_market(venue, market, Side.ASK if pos > 0 else Side.BID, abs(pos), top)
                    base = by_symbol[(venue, market.symbol)]
                    if cid is not None and base in self.arbs:  # its fills count toward that arb's PnL
                        self._owner[(venue, cid)] = base
            await asyncio.sleep(0.5)
        self.ctx.log.error("cross_arb: positions still open after %.0f s of flattening (the engine's flatten and "
                           "settle follow)", self.params.flatten_timeout_s)

    def on_params_changed(self, old: CrossArbParams, new: CrossArbParams) -> None:
        self.breaker.max_failures, self.breaker.pause_s = new.max_consecutive_failures, new.circuit_breaker_pause_s
        self.ctx.log.info("cross_arb params changed: %s", ", ".join(
            f"{k}={getattr(new, k)}" for k in type(new).model_fields if getattr(new, k) != getattr(old, k)))

    def traded_pairs(self) -> list[tuple[str, tuple[str, str], tuple[str, str]]]:
        return [(p.base, (self.maker_venue, p.maker.symbol), (self.hedge_venue, p.hedge.symbol)) for p in self.pairs]

    def status(self) -> dict[str, Any]:
        return {
            "cross_arb_pairs": [p.base for p in self.pairs],
            "cross_arb_active": {b: a.state for b, a in self.arbs.items()},
            "cross_arb_exits": list(self.exits),
            "cross_arb_breaker_open": self.breaker.opened_at is not None,
            "cross_arb_pnl": round(float(self.realized_pnl), 6),
            "cross_arb_session_cash": round(float(self.session_cash), 6),
            **{f"cross_arb_{k}": v for k, v in self.stats.items()},
        }
