"""Perpetual market maker (the original bot's BackpackPerpMarketMakerStrategy), on any Connector venue.

Each cycle (`cycle_interval_s`):
1. market limits come from the venue's MarketInfo (tick, step, minimum size and notional), loaded at start;
2. the net position is the stream's (`on_position` -> `ctx.position`), seeded from a REST/stream read at start;
3. if |position - target_position| exceeds `max_position`, every quote is cancelled and the excess is closed
   with a reduce-only market order (worst price `exit_slippage_bps` off the touch); no quotes until it lands;
4. otherwise the previous grid is cancelled and a fresh post-only grid of `max_orders` levels per side is
   posted around the mid, shifted against the inventory (`inventory_skew`), with the side that would grow
   the deviation past `position_threshold` left out.

A position update that breaches the limit triggers the exit at once, without waiting for the next cycle.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from xtb.api import (
    Context,
    Fill,
    MarketInfo,
    MultiSymbolParams,
    OrderDenied,
    OrderState,
    Position,
    Side,
    Strategy,
    register_strategy,
)
from xtb.quant.quoting import CANCELLABLE, post_only_clamp, price_units, size_units, to_price, valid_size

BPS = 10_000


class PerpMMParams(MultiSymbolParams):
    venue: str = Field("backpack", description="venue to quote on")
    symbol: str = Field("SOL_USDC_PERP", description="perpetual market, venue symbol")
    base_spread_percentage: float = Field(0.2, gt=0, description="distance between the first bid and ask, % of mid")
    level_spacing_percentage: float = Field(0.05, ge=0, description="extra distance per further level, % of mid")
    max_orders: int = Field(3, ge=1, le=10, description="grid levels per side")
    order_quantity: Decimal | None = Field(None, gt=0, description="size per level in base units; "
                                           "None = the market minimum")
    target_position: Decimal = Field(Decimal(0), description="inventory the skew pulls toward (base units)")
    max_position: Decimal = Field(Decimal("1"), gt=0, description="|position - target| beyond this is closed "
                                  "at once with a reduce-only market order")
    position_threshold: Decimal = Field(Decimal("0.5"), gt=0, description="beyond this deviation the side that "
                                        "would grow it is not quoted")
    inventory_skew: float = Field(0.3, ge=0, le=1, description="at full deviation both sides move this fraction "
                                  "of the half spread against the inventory")
    cycle_interval_s: float = Field(2.0, gt=0, description="cancel and re-post the grid this often")
    exit_slippage_bps: int = Field(50, gt=0, description="worst price of the exit market order off the touch")
    exit_retry_s: float = Field(3.0, gt=0, description="re-send the exit if the position has not come back by then")

    @model_validator(mode="after")
    def _threshold_within_limit(self) -> PerpMMParams:
        if self.position_threshold > self.max_position:
            raise ValueError(f"position_threshold ({self.position_threshold}) exceeds max_position "
                             f"({self.max_position})")
        return self


def grid_prices(mid: float, spread_pct: float, spacing_pct: float, levels: int, skew_frac: float
                ) -> tuple[list[float], list[float]]:
    """Bid and ask level prices (floats, nearest first) around `mid`, the whole grid moved by `skew_frac`
    of the half spread (negative = down, for a long inventory)."""
    half = mid * spread_pct / 100.0 / 2.0
    centre = mid + skew_frac * half
    step = mid * spacing_pct / 100.0
    bids = [centre - half - i * step for i in range(levels)]
    asks = [centre + half + i * step for i in range(levels)]
    return bids, asks


def skew_fraction(deviation: float, max_deviation: float, inventory_skew: float) -> float:
    """Grid shift in half spreads: opposite the inventory deviation, proportional, capped at full deviation."""
    ratio = max(-1.0, min(1.0, deviation / max_deviation))
    return -inventory_skew * ratio


def exit_order(deviation_units: int, max_units: int, step: int) -> tuple[Side, int] | None:
    """The market order that brings |deviation| back to the limit: side and size (rounded up to the step),
    or None inside the limit."""
    excess = abs(deviation_units) - max_units
    if excess <= 0:
        return None
    size = -(-excess // step) * step
    return (Side.ASK if deviation_units > 0 else Side.BID), size


@register_strategy("perp_mm", params=PerpMMParams)
class PerpMarketMaker(Strategy[PerpMMParams]):
    """Perp market maker: skewed post-only grid re-posted each cycle, reduce-only exit past the position limit."""

    panel_view = "mm"

    def __init__(self, ctx: Context, params: PerpMMParams) -> None:
        super().__init__(ctx, params)
        self.market: MarketInfo | None = None
        self.net = 0  # signed position, venue size units, from the position stream
        self.qty = 0
        self.target = self.max_units = self.threshold_units = 0
        self._next_cycle = 0.0
        self._exit_cid: int | None = None
        self._exit_sent = 0.0
        self.exit_cids: list[int] = []
        self.stats = {"cycles": 0, "posted": 0, "cancelled": 0, "exits": 0, "fills_bid": 0, "fills_ask": 0,
                      "position_updates": 0, "denied": 0}

    # lifecycle -----------------------------------------------------------------------------------------
    async def on_start(self) -> None:
        p, ctx = self.params, self.ctx
        m = self.market = ctx.market(p.venue, p.symbol)
        self.qty = size_units(m, p.order_quantity) if p.order_quantity is not None else m.min_size
        if self.qty <= 0:
            raise ValueError(f"strategy.params.order_quantity: {p.order_quantity} is below one step of {p.symbol}")
        self.target = size_units(m, abs(p.target_position)) * (1 if p.target_position >= 0 else -1)
        self.max_units = size_units(m, p.max_position)
        self.threshold_units = size_units(m, p.position_threshold)
        self.net = (await ctx.fetch_positions(p.venue)).get(p.symbol, 0)
        ctx.log.info("perp_mm %s: qty %d units, max position %d units, starting position %d",
                     p.symbol, self.qty, self.max_units, self.net)

    # stream ----------------------------------------------------------------------------------------------
    def on_position(self, ev: Position) -> None:
        p = self.params
        if ev.venue != p.venue:
            return
        self.net = self.ctx.position(p.venue, p.symbol)  # the engine stored it before calling us
        self.stats["position_updates"] += 1
        self._manage_position(self.ctx.clock.now_s())

    def on_fill(self, ev: Fill) -> None:
        if ev.venue == self.params.venue and ev.client_id != self._exit_cid:
            self.stats["fills_bid" if Side(ev.side) is Side.BID else "fills_ask"] += 1

    async def on_tick(self, now_ms: int) -> None:
        now = self.ctx.clock.now_s()
        if now < self._next_cycle:
            return
        self._next_cycle = now + self.params.cycle_interval_s
        self._run_cycle(now)

    # the cycle -------------------------------------------------------------------------------------------
    def _run_cycle(self, now: float) -> None:
        self.stats["cycles"] += 1
        if self._manage_position(now):
            return
        prices = self._calculate_prices()
        if prices is None:
            return
        self._cancel_quotes()
        self._place_side_orders(*prices)

    def _top(self) -> tuple[int | None, int | None]:
        p = self.params
        bid, ask = self.ctx.best_bid(p.venue, p.symbol), self.ctx.best_ask(p.venue, p.symbol)
        return (None if bid is None else bid[0]), (None if ask is None else ask[0])

    def _manage_position(self, now: float) -> bool:
        """Past the limit: cancel quotes and close the excess reduce-only. True while the limit is breached."""
        p, m = self.params, self.market
        if m is None:
            return False
        order = exit_order(self.net - self.target, self.max_units, m.step)
        if order is None:
            return False
        live = self._exit_cid is not None and not self._is_done(self._exit_cid)
        if live or now - self._exit_sent < p.exit_retry_s:
            return True  # an exit is in flight: wait for it (or for the retry delay)
        side, size = order
        bid, ask = self._top()
        ref = ask if side is Side.BID else bid
        if ref is None:
            return True
        move = ref * p.exit_slippage_bps // BPS
        worst = m.round_px(ref + move, Side.ASK) if side is Side.BID else m.round_px(max(ref - move, m.tick), Side.BID)
        reduces = (self.net > 0) == (side is Side.ASK) and self.net != 0
        self._cancel_quotes()
        try:
            cid = self.ctx.place_market(p.venue, p.symbol, side, min(size, abs(self.net)) if reduces else size,
                                        worst_price=worst, reduce_only=reduces)
        except OrderDenied as e:
            self.stats["denied"] += 1
            self.ctx.log.warning("perp_mm: exit denied: %s", e)
            return True
        self._exit_cid, self._exit_sent = cid, now
        self.exit_cids.append(cid)
        self.stats["exits"] += 1
        self.ctx.log.warning("perp_mm %s: position %d past the limit %d: %s %d units reduce-only",
                             p.symbol, self.net, self.max_units, side.value, size)
        return True

    def _is_done(self, cid: int) -> bool:
        o = self.ctx.order(self.params.venue, cid)
        return o is None or bool(o.is_terminal)

    def _calculate_prices(self) -> tuple[list[int], list[int]] | None:
        p, m = self.params, self.market
        assert m is not None
        bid, ask = self._top()
        if bid is None or ask is None:
            return None
        mid = to_price(m, bid + ask) / 2.0
        deviation = self.net - self.target
        skew = skew_fraction(deviation, self.max_units, p.inventory_skew)
        bids_f, asks_f = grid_prices(mid, p.base_spread_percentage, p.level_spacing_percentage, p.max_orders, skew)
        bids = sorted({post_only_clamp(m, price_units(m, b, Side.BID), Side.BID, bid, ask) for b in bids_f},
                      reverse=True)
        asks = sorted({post_only_clamp(m, price_units(m, a, Side.ASK), Side.ASK, bid, ask) for a in asks_f})
        if deviation >= self.threshold_units:
            bids = []  # long enough: only the reducing side quotes
        if deviation <= -self.threshold_units:
            asks = []
        return bids, asks

    def _cancel_quotes(self) -> None:
        p = self.params
        for o in self.ctx.open_orders(p.venue, p.symbol):
            if OrderState(o.state) in CANCELLABLE and not o.reduce_only:
                self.ctx.cancel(p.venue, o.client_id)
                self.stats["cancelled"] += 1

    def _place_side_orders(self, bids: list[int], asks: list[int]) -> None:
        p, m = self.params, self.market
        assert m is not None
        orders: list[dict[str, Any]] = [
            {"symbol": p.symbol, "side": side, "price": px, "size": valid_size(m, self.qty, px), "post_only": True}
            for side, prices in ((Side.BID, bids), (Side.ASK, asks)) for px in prices]
        if not orders:
            return
        try:
            self.ctx.submit_batch(p.venue, orders)
            self.stats["posted"] += len(orders)
        except OrderDenied as e:  # all-or-nothing batch: post what the risk guard allows, one by one
            if e.reason == "rate_limited":
                self.stats["denied"] += 1
                return  # out of request budget: the next cycle re-posts
            for o in orders:
                try:
                    self.ctx.place_limit(p.venue, **o)
                    self.stats["posted"] += 1
                except OrderDenied:
                    self.stats["denied"] += 1

    def status(self) -> dict[str, Any]:
        return {"perp_mm_position": self.net, "perp_mm_exit_cids": list(self.exit_cids),
                **{f"perp_mm_{k}": v for k, v in self.stats.items()}}
