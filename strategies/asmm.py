"""ASMM: adaptive skewed market making (the original bot's ASMM design), on any Connector venue.

Every `quote_interval_ms` the strategy builds a ladder of `max_layers` post-only orders per side:
- half spread h = max(min_spread / 2, maker fee + fee_buffer): the spread never undercuts the fees;
- inventory ratio x = position / inventory_limit (clamped to [-1, 1]) is the skew factor; the ladder is
  centred on the reservation price r = mid * (1 - skew_intensity * x * h);
- geometric layers: layer i sits h + layer_spacing * (1 + R + ... + R^(i-1)) from r (R = spacing_ratio,
  `linear` mode: equal gaps), sized base_size * layer_size_decay^i (layers below the minimum size dropped);
- inventory pressure: once |x| passes the threshold, the side that would grow the inventory is pushed out
  by a factor 1 + strength * ((|x| - threshold) / (1 - threshold))^exponent;
- momentum tweak: an EMA (momentum_alpha) of the mid's relative change per interval; while its magnitude
  is at least momentum_threshold, the side the price is running into moves out by that magnitude;
- take profit: when the position is take_profit_pct in the money against its entry price, a reduce-only
  IOC limit at the opposite touch closes it.
Resting orders that still match a ladder slot keep their queue place; the rest are cancelled and replaced.
Exposure caps, PnL and drawdown rules are the risk guard's (config `risk:`, the original camelCase keys
accepted). Gauges: mm_reservation_price, mm_inventory_skew_bps, mm_spread_gauge (bps),
mm_quote_interval_gauge (s), mm_adaptive_netmax (base units), mm_vpin_current (VPIN over the market's
public prints, 0..1), mm_cancel_suppression_active (1 while the requote tolerance keeps quotes that are off
their target instead of cancelling them); position and open orders are telemetry's
(from events, in base units); a "quotes" record per ladder change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import AliasChoices, ConfigDict, Field

from xtb.api import (
    Context,
    MarketInfo,
    MultiSymbolParams,
    Order,
    OrderDenied,
    OrderState,
    Side,
    Strategy,
    TimeInForce,
    Trade,
    register_strategy,
)
from xtb.quant.quoting import (
    CANCELLABLE,
    bps_of,
    cancel_live,
    post_only_clamp,
    price_units,
    reconcile,
    size_units,
    to_price,
    to_qty,
)
from xtb.quant.vpin import Vpin


def _alias(snake: str, camel: str) -> Any:
    return AliasChoices(snake, camel)


class ASMMParams(MultiSymbolParams):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    venue: str = Field("backpack", description="venue to quote on")
    symbol: str = Field("ETH_USDC_PERP", description="market, venue symbol")
    base_size: Decimal = Field(Decimal("0.009"), gt=0, validation_alias=_alias("base_size", "baseSize"),
                               description="first layer size, base units")
    min_spread: float = Field(0.0006, gt=0, validation_alias=_alias("min_spread", "minSpread"),
                              description="minimum bid-ask spread (fraction of mid), fee buffer included")
    fee_buffer: float = Field(0.0002, ge=0, validation_alias=_alias("fee_buffer", "feeBuffer"),
                              description="each side's distance covers the maker fee plus this (fraction)")
    maker_fee: float | None = Field(None, validation_alias=_alias("maker_fee", "makerFee"),
                                    description="maker fee (fraction); None = the market's maker fee")
    layer_spacing_mode: Literal["geometric", "linear"] = Field(
        "geometric", validation_alias=_alias("layer_spacing_mode", "layerSpacingMode"))
    layer_spacing: float = Field(0.0003, gt=0, validation_alias=_alias("layer_spacing", "layerSpacing"),
                                 description="gap between the first two layers (fraction of mid)")
    spacing_ratio: float = Field(1.2, ge=1, validation_alias=_alias("spacing_ratio", "spacingRatio"),
                                 description="geometric mode: each gap is this times the previous one")
    layer_size_decay: float = Field(0.9, gt=0, le=1, validation_alias=_alias("layer_size_decay", "layerSizeDecay"))
    max_layers: int = Field(24, ge=1, le=64, validation_alias=_alias("max_layers", "maxLayers"))
    momentum_threshold: float = Field(0.0006, gt=0, validation_alias=_alias("momentum_threshold", "momentumThreshold"))
    momentum_alpha: float = Field(0.08, gt=0, le=1, validation_alias=_alias("momentum_alpha", "momentumAlpha"),
                                  description="EMA weight of the latest mid change in the momentum signal")
    inventory_limit: Decimal = Field(Decimal("0.21"), gt=0, validation_alias=_alias("inventory_limit",
                                                                                     "inventoryLimit"),
                                     description="position (base units) at which skew and pressure saturate; "
                                     "keep it at or below risk.netMax")
    inventory_pressure_threshold: float = Field(0.4, ge=0, lt=1, validation_alias=_alias(
        "inventory_pressure_threshold", "inventoryPressureThreshold"))
    inventory_pressure_strength: float = Field(0.5, ge=0, validation_alias=_alias(
        "inventory_pressure_strength", "inventoryPressureStrength"))
    inventory_pressure_exponent: float = Field(2.5, gt=0, validation_alias=_alias(
        "inventory_pressure_exponent", "inventoryPressureExponent"))
    skew_intensity: float = Field(1.0, ge=0, validation_alias=_alias("skew_intensity", "skewIntensity"),
                                  description="reservation shift at full inventory, in half spreads")
    quote_interval_ms: int = Field(500, ge=50, validation_alias=_alias("quote_interval_ms", "quoteIntervalMs"))
    take_profit_pct: float = Field(0.0025, gt=0, validation_alias=_alias("take_profit_pct", "takeProfitPct"))
    requote_tolerance: float = Field(0.2, ge=0, validation_alias=_alias("requote_tolerance", "requoteTolerance"),
                                     description="a resting layer stays while within this fraction of its "
                                     "distance from the reservation price (at least one tick) of its target")
    max_orders_per_cycle: int = Field(10, ge=1, validation_alias=_alias("max_orders_per_cycle", "maxOrdersPerCycle"),
                                      description="new orders per interval (nearest layers first): the "
                                      "venue's request budget")
    take_profit_cooldown_s: float = Field(2.0, ge=0, validation_alias=_alias("take_profit_cooldown_s",
                                                                             "takeProfitCooldownS"))
    flatten_on_stop: bool = Field(False, validation_alias=_alias("flatten_on_stop", "flattenOnStop"),
                                  description="close the position reduce-only at shutdown (the engine's flatten)")
    vpin_bucket_size: Decimal = Field(Decimal("1"), gt=0, validation_alias=_alias("vpin_bucket_size",
                                                                                "vpinBucketSize"),
                                      description="VPIN volume bucket (base units of traded volume)")
    vpin_window: int = Field(50, ge=1, validation_alias=_alias("vpin_window", "vpinWindow"),
                             description="VPIN: completed buckets averaged (mm_vpin_current)")


# --- pure pieces -------------------------------------------------------------------------------------
def half_spread(min_spread: float, fee_buffer: float, maker_fee: float) -> float:
    """Each side's base distance (fraction): half the minimum spread, but never less than fee + buffer."""
    return max(min_spread / 2.0, maker_fee + fee_buffer)


def inventory_pressure(x: float, threshold: float, strength: float, exponent: float) -> float:
    """0 inside the threshold, rising to `strength` at full inventory (|x| = 1) with the given exponent."""
    excess = (min(abs(x), 1.0) - threshold) / (1.0 - threshold)
    return 0.0 if excess <= 0 else strength * excess**exponent


def momentum_ema(prev: float, change: float, alpha: float) -> float:
    return alpha * change + (1.0 - alpha) * prev


def momentum_widening(momentum: float, threshold: float) -> tuple[float, float]:
    """Extra distance (fraction) for (bid, ask): the side the price runs into backs off by |momentum|."""
    if abs(momentum) < threshold:
        return 0.0, 0.0
    return (0.0, abs(momentum)) if momentum > 0 else (abs(momentum), 0.0)


def layer_offsets(first: float, spacing: float, ratio: float, layers: int, mode: str = "geometric") -> list[float]:
    """Distances from the reservation price (fractions): first, then gaps spacing * ratio^i (geometric)
    or equal gaps (linear)."""
    out, d, gap = [], first, spacing
    for _ in range(layers):
        out.append(d)
        d += gap
        if mode == "geometric":
            gap *= ratio
    return out


def layer_sizes(base_units: int, decay: float, layers: int, step: int, min_size: int) -> list[int]:
    """base * decay^i rounded down to the step; the ladder stops at the first layer below the minimum."""
    out = []
    for i in range(layers):
        units = int(base_units * decay**i) // step * step
        if units < max(min_size, step):
            break
        out.append(units)
    return out


@dataclass(frozen=True)
class Ladder:
    reservation: float
    skew: float  # the skew factor x in [-1, 1]
    pressure: float
    bid_offsets: list[float]  # fractions of the reservation price
    ask_offsets: list[float]


def build_ladder(p: ASMMParams, mid: float, position: float, momentum: float, maker_fee: float) -> Ladder:
    """The whole quoting decision for one interval, in floats (prices are mid * (1 -/+ offset))."""
    h = half_spread(p.min_spread, p.fee_buffer, maker_fee)
    x = max(-1.0, min(1.0, position / float(p.inventory_limit)))
    r = mid * (1.0 - p.skew_intensity * x * h)
    pressure = inventory_pressure(x, p.inventory_pressure_threshold, p.inventory_pressure_strength,
                                  p.inventory_pressure_exponent)
    mom_bid, mom_ask = momentum_widening(momentum, p.momentum_threshold)
    base = layer_offsets(h, p.layer_spacing, p.spacing_ratio, p.max_layers, p.layer_spacing_mode)
    bid_scale = 1.0 + (pressure if x > 0 else 0.0)  # long: buying more is the inventory side
    ask_scale = 1.0 + (pressure if x < 0 else 0.0)
    return Ladder(r, x, pressure, [d * bid_scale + mom_bid for d in base], [d * ask_scale + mom_ask for d in base])


def take_profit_hit(position: float, entry: float, mid: float, pct: float) -> bool:
    if position == 0 or entry <= 0:
        return False
    gain = (mid - entry) / entry * (1.0 if position > 0 else -1.0)
    return gain >= pct


# --- the strategy -------------------------------------------------------------------------------------
@register_strategy("asmm", params=ASMMParams)
class ASMM(Strategy[ASMMParams]):
    """ASMM (Round7): geometric layers, momentum tweak, inventory pressure and skew, fee-aware spread, take profit."""

    panel_view = "mm"

    def __init__(self, ctx: Context, params: ASMMParams) -> None:
        super().__init__(ctx, params)
        self.market: MarketInfo | None = None
        self.base_units = 0
        self.maker_fee = 0.0
        self.momentum = 0.0
        self._prev_mid: float | None = None
        self._next_quote = 0.0
        self._tp_until = 0.0
        self.last: Ladder | None = None
        self.last_prices: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
        self.stats = {"cycles": 0, "placed": 0, "cancelled": 0, "kept": 0, "take_profits": 0, "denied": 0}
        self.vpin: Vpin | None = None
        self.suppressing = False  # resting quotes off their target kept by the requote tolerance this cycle
        self._ours: dict[int, bool] = {}

    async def on_start(self) -> None:
        p = self.params
        m = self.market = self.ctx.market(p.venue, p.symbol)
        self.base_units = size_units(m, p.base_size)
        if self.base_units < max(m.min_size, m.step):
            raise ValueError(f"strategy.params.base_size: {p.base_size} is below the minimum size of {p.symbol}")
        self.maker_fee = p.maker_fee if p.maker_fee is not None else m.maker_fee_ppm / 1e6
        self.vpin = Vpin(max(size_units(m, p.vpin_bucket_size), 1), p.vpin_window)
        self.ctx.gauge("mm_quote_interval_gauge", p.quote_interval_ms / 1000.0, venue=p.venue, symbol=p.symbol)

    async def on_tick(self, now_ms: int) -> None:
        now = self.ctx.clock.now_s()
        if now < self._next_quote or self.market is None:
            return
        self._next_quote = now + self.params.quote_interval_ms / 1000.0
        self._cycle(now)

    def on_trade(self, ev: Trade) -> None:
        """Public prints of our market feed the VPIN estimate (aggressor side known from the venue)."""
        if self.vpin is None or ev.venue != self.params.venue:
            return
        ours = self._ours.get(ev.book_id)
        if ours is None:
            ours = self._ours[ev.book_id] = self.ctx.symbol_of(ev.venue, ev.book_id) == self.params.symbol
        if ours:
            self.vpin.add(Side(ev.taker_side) is Side.BID, ev.sz)

    def _quotes(self) -> list[Order]:
        p = self.params
        return [o for o in self.ctx.open_orders(p.venue, p.symbol) if not o.reduce_only]

    def _cycle(self, now: float) -> None:
        p, ctx, m = self.params, self.ctx, self.market
        assert m is not None
        bid, ask = ctx.best_bid(p.venue, p.symbol), ctx.best_ask(p.venue, p.symbol)
        if bid is None or ask is None:
            return
        self.stats["cycles"] += 1
        mid = to_price(m, bid[0] + ask[0]) / 2.0
        if self._prev_mid:
            self.momentum = momentum_ema(self.momentum, (mid - self._prev_mid) / self._prev_mid, p.momentum_alpha)
        self._prev_mid = mid
        pos_units = ctx.position(p.venue, p.symbol)
        pos = to_qty(m, pos_units)
        if self._take_profit(now, pos_units, mid, bid[0], ask[0]):
            return
        ladder = self.last = build_ladder(p, mid, pos, self.momentum, self.maker_fee)
        bids, asks = self._prices(ladder, bid[0], ask[0])
        self.last_prices = (bids, asks)
        targets = self._targets(ladder.reservation, bids, asks)
        live = [o for o in self._quotes() if OrderState(o.state) in CANCELLABLE]
        cancel, place = reconcile([(o.client_id, o.side, o.px) for o in live], targets)
        self.stats["kept"] += len(live) - len(cancel)
        # cancels held back: a kept quote that is not exactly on a target price stays for its queue place
        on_target = {(side, px) for side, px, _, _ in targets}
        dropped = set(cancel)
        self.suppressing = any((o.side, o.px) not in on_target for o in live if o.client_id not in dropped)
        for cid in cancel:
            ctx.cancel(p.venue, cid)
        self.stats["cancelled"] += len(cancel)
        self._place(place[: p.max_orders_per_cycle])
        self._telemetry(mid, pos_units, ladder, bids, asks, bool(cancel or place))

    def _targets(self, r: float, bids: list[tuple[int, int]], asks: list[tuple[int, int]]
                 ) -> list[tuple[str, int, int, int]]:
        """Layers nearest first, alternating sides, each with its requote tolerance in price units."""
        m = self.market
        assert m is not None
        r_units = r * 10**m.price_decimals
        out: list[tuple[str, int, int, int]] = []
        for i in range(max(len(bids), len(asks))):
            for side, book in ((Side.BID, bids), (Side.ASK, asks)):
                if i < len(book):
                    px, sz = book[i]
                    tol = max(m.tick, int(abs(px - r_units) * self.params.requote_tolerance) // m.tick * m.tick)
                    out.append((side, px, sz, tol))
        return out

    def _prices(self, ladder: Ladder, best_bid: int, best_ask: int
                ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Ladder -> (price, size) per side in venue units, post-only safe, one order per price level."""
        m = self.market
        assert m is not None
        sizes = layer_sizes(self.base_units, self.params.layer_size_decay, self.params.max_layers, m.step, m.min_size)
        r = ladder.reservation
        out: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
        for side, offsets, book in ((Side.BID, ladder.bid_offsets, out[0]), (Side.ASK, ladder.ask_offsets, out[1])):
            seen: set[int] = set()
            for off, size in zip(offsets, sizes, strict=False):
                raw = r * (1.0 - off) if side is Side.BID else r * (1.0 + off)
                px = post_only_clamp(m, price_units(m, raw, side), side, best_bid, best_ask)
                if px in seen:
                    continue  # two layers on one tick: the nearer one keeps it
                seen.add(px)
                book.append((px, size))
        return out

    def _place(self, orders: list[tuple[str, int, int]]) -> None:
        p = self.params
        batch: list[dict[str, Any]] = [
            {"symbol": p.symbol, "side": s, "price": px, "size": sz, "post_only": True} for s, px, sz in orders]
        if not batch:
            return
        try:
            self.ctx.submit_batch(p.venue, batch)
            self.stats["placed"] += len(batch)
        except OrderDenied as e:  # the batch is all-or-nothing: keep the layers the risk guard allows
            if e.reason == "rate_limited":
                self.stats["denied"] += 1
                return  # out of request budget: the next interval places them
            for o in batch:
                try:
                    self.ctx.place_limit(p.venue, **o)
                    self.stats["placed"] += 1
                except OrderDenied:
                    self.stats["denied"] += 1

    def _take_profit(self, now: float, pos_units: int, mid: float, best_bid: int, best_ask: int) -> bool:
        p, ctx, m = self.params, self.ctx, self.market
        assert m is not None
        entry = to_price(m, ctx.entry_price(p.venue, p.symbol))
        if now < self._tp_until or not take_profit_hit(pos_units, entry, mid, p.take_profit_pct):
            return False
        side = Side.ASK if pos_units > 0 else Side.BID
        self._cancel(self._quotes())
        try:
            ctx.place_limit(p.venue, p.symbol, side, best_bid if side is Side.ASK else best_ask, abs(pos_units),
                            reduce_only=True, tif=TimeInForce.IOC)
        except OrderDenied as e:
            self.stats["denied"] += 1
            ctx.log.warning("asmm: take profit denied: %s", e)
            return False
        self.stats["take_profits"] += 1
        self._tp_until = now + p.take_profit_cooldown_s
        ctx.log.info("asmm %s: take profit on %d units (entry %.4f, mid %.4f)", p.symbol, pos_units, entry, mid)
        return True

    def _cancel(self, orders: list[Order]) -> None:
        self.stats["cancelled"] += cancel_live(self.ctx, self.params.venue, orders)

    def _telemetry(self, mid: float, pos: int, ladder: Ladder, bids: list[tuple[int, int]],
                   asks: list[tuple[int, int]], changed: bool) -> None:
        ctx, p = self.ctx, self.params
        labels = {"venue": p.venue, "symbol": p.symbol}
        scale = 10 ** self.market.price_decimals if self.market else 1
        spread = (asks[0][0] - bids[0][0]) / scale if bids and asks else math.nan
        ctx.gauge("mm_reservation_price", ladder.reservation, **labels)
        ctx.gauge("mm_inventory_skew_bps", bps_of(ladder.reservation - mid, mid), **labels)
        ctx.gauge("mm_adaptive_netmax", float(p.inventory_limit), **labels)  # the skew saturates here
        ctx.gauge("mm_cancel_suppression_active", 1.0 if self.suppressing else 0.0, **labels)
        vpin = None if self.vpin is None else self.vpin.value
        if vpin is not None:
            ctx.gauge("mm_vpin_current", vpin, **labels)
        if not math.isnan(spread):
            ctx.gauge("mm_spread_gauge", bps_of(spread, mid), **labels)
        if changed:
            ctx.record("quotes", mid=mid, position=pos, reservation=ladder.reservation, skew=ladder.skew,
                       pressure=ladder.pressure, momentum=self.momentum, layers_bid=len(bids), layers_ask=len(asks),
                       best_quote_bid=bids[0][0] if bids else None, best_quote_ask=asks[0][0] if asks else None)

    def status(self) -> dict[str, Any]:
        last = self.last
        return {
            "asmm_reservation": None if last is None else last.reservation,
            "asmm_skew": None if last is None else last.skew,
            "asmm_pressure": None if last is None else last.pressure,
            "asmm_momentum": self.momentum,
            "asmm_vpin": None if self.vpin is None else self.vpin.value,
            "asmm_cancel_suppression": self.suppressing,
            **{f"asmm_{k}": v for k, v in self.stats.items()},
        }
