"""Avellaneda-Stoikov market maker (the original bot's as_model and AvellanedaStoikovStrategy).

Every tick: sample the mid, estimate its volatility from the rolling samples (`MidVolatility`), compute the
reservation price r = s - q*gamma*sigma^2*(T - t) and the optimal spread gamma*sigma^2*(T - t) +
(2/gamma)*ln(1 + gamma/k) (or, with `model: glft`, the Gueant-Lehalle-Fernandez-Tapia quotes for inventory
bounded by `max_position`), and quote both sides post-only around r.

Quote updates follow the original's double buffer: a side keeps its resting order while that order is
within `requote_ticks` of the new target; otherwise a new order is placed first and the old one cancelled
after, so the side is never empty, and never more than `max_orders_per_side` orders rest per side (a side
at the cap waits for its cancels to land). Inventory comes from the position stream (`ctx.position`, kept
current by the engine before `on_position` runs). `T - t` runs over a rolling session of `horizon_s`, or, with
`session: once`, over one session of `horizon_s` from the start (the paper's finite horizon: quotes stop, and
resting ones are cancelled, once it is over).
Telemetry: gauges mm_reservation_price, mm_inventory_skew_bps, mm_spread_gauge (bps), mm_sigma,
mm_position, mm_active_orders{side}, and a "quotes" record per quote change.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from xtb.api import (
    Context,
    Fill,
    MarketInfo,
    MultiSymbolParams,
    Order,
    OrderDenied,
    OrderState,
    Position,
    Side,
    Strategy,
    register_strategy,
)
from xtb.quant.avellaneda import MidVolatility, Quotes, as_quotes, glft_quotes
from xtb.quant.quoting import (
    bps_of,
    cancel_live,
    post_only_clamp,
    price_units,
    size_units,
    to_price,
    to_qty,
    valid_size,
)


class AvellanedaParams(MultiSymbolParams):
    venue: str = Field("backpack", description="venue to quote on")
    symbol: str = Field("SOL_USDC_PERP", description="market, venue symbol")
    order_size: Decimal = Field(Decimal("0.1"), gt=0, description="quote size in base units")
    model: Literal["as", "glft"] = Field("as", description="as: Avellaneda-Stoikov with horizon; "
                                         "glft: Gueant-Lehalle-Fernandez-Tapia bounded-inventory approximation")
    gamma: float = Field(1.0, gt=0, description="risk aversion, 1/(price x base unit)")
    k: float = Field(20.0, gt=0, description="order-book liquidity: fill intensity decays as exp(-k * distance)")
    intensity_a: float = Field(1.0, gt=0, description="glft: fill intensity A at zero distance, per second")
    horizon_s: float = Field(60.0, gt=0, description="session length T; T - t restarts every session")
    session: Literal["rolling", "once"] = Field("rolling", description="rolling: T - t restarts every horizon_s; "
                                                "once: one session of horizon_s from the start, no quotes after")
    vol_window_s: float = Field(60.0, gt=0, description="rolling window of mid samples for the volatility")
    vol_min_samples: int = Field(20, ge=2, description="quote only once this many mid samples exist")
    sigma: float | None = Field(None, ge=0, description="fixed volatility (price/sqrt(s)) instead of the estimate")
    sigma_floor: float = Field(0.0, ge=0, description="lower bound on the estimated volatility")
    max_position: Decimal = Field(Decimal("1"), gt=0, description="no quote that grows |position| beyond this "
                                  "(base units); glft: the inventory bound Q")
    requote_ticks: int = Field(2, ge=0, description="keep a resting quote within this many ticks of the target")
    max_orders_per_side: int = Field(2, ge=1, le=4, description="live orders per side (new + the one cancelling)")
    min_spread_ticks: int = Field(1, ge=0, description="floor on ask - bid, ticks")

    @model_validator(mode="after")
    def _size_vs_cap(self) -> AvellanedaParams:
        if self.order_size > self.max_position:
            raise ValueError(f"order_size ({self.order_size}) exceeds max_position ({self.max_position})")
        return self


def model_quotes(p: AvellanedaParams, mid: float, q: float, sigma: float, tau: float) -> Quotes:
    """The configured model's quotes (floats) for mid `mid`, inventory `q` base units and volatility `sigma`."""
    if p.model == "glft":
        lot = float(p.order_size)
        return glft_quotes(mid, q / lot, gamma=p.gamma, sigma=sigma, k=p.k, a=p.intensity_a,
                           max_inventory_lots=float(p.max_position) / lot)
    return as_quotes(mid, q, gamma=p.gamma, sigma=sigma, tau=tau, k=p.k)


def target_prices(m: MarketInfo, quotes: Quotes, q: float, max_position: float, min_spread_ticks: int,
                  top: tuple[int | None, int | None]) -> tuple[int | None, int | None]:
    """Model quotes -> post-only venue prices: bids down, asks up, a minimum spread, off the opposite touch,
    and no side that would grow |q| past `max_position`."""
    bid = None if quotes.bid is None or q >= max_position else price_units(m, quotes.bid, Side.BID)
    ask = None if quotes.ask is None or q <= -max_position else price_units(m, quotes.ask, Side.ASK)
    if bid is not None and ask is not None and ask - bid < min_spread_ticks * m.tick:
        ask = m.round_px(bid + min_spread_ticks * m.tick, Side.ASK)
    if bid is not None:
        bid = post_only_clamp(m, bid, Side.BID, *top)
    if ask is not None:
        ask = post_only_clamp(m, ask, Side.ASK, *top)
    return bid, ask


def time_left(elapsed_s: float, horizon_s: float) -> float:
    """T - t in a rolling session of length `horizon_s`."""
    return horizon_s - (elapsed_s % horizon_s)


@register_strategy("avellaneda", params=AvellanedaParams)
class Avellaneda(Strategy[AvellanedaParams]):
    """Avellaneda-Stoikov (or GLFT) market maker: reservation price, optimal spread, post-only double buffer."""

    panel_view = "mm"

    def __init__(self, ctx: Context, params: AvellanedaParams) -> None:
        super().__init__(ctx, params)
        self.vol = MidVolatility(params.vol_window_s, min_samples=params.vol_min_samples)
        self.market: MarketInfo | None = None
        self.size = 0
        self._t0 = ctx.clock.now_s()
        self._t0_ns = ctx.clock.now_ns()
        self.last: dict[str, Any] = {}
        self.stats = {"placed": 0, "cancelled": 0, "kept": 0, "fills": 0, "position_updates": 0, "denied": 0}

    async def on_start(self) -> None:
        p = self.params
        self.market = self.ctx.market(p.venue, p.symbol)
        self.size = size_units(self.market, p.order_size)
        if self.size <= 0:
            raise ValueError(f"strategy.params.order_size: {p.order_size} is below one step of {p.symbol}")
        self._t0 = self.ctx.clock.now_s()
        self._t0_ns = self.ctx.clock.now_ns()

    def on_fill(self, ev: Fill) -> None:
        if ev.venue == self.params.venue:
            self.stats["fills"] += 1

    def on_position(self, ev: Position) -> None:
        # The engine has already stored the new size: the next tick quotes with it.
        if ev.venue == self.params.venue:
            self.stats["position_updates"] += 1

    async def on_tick(self, now_ms: int) -> None:
        p, ctx, m = self.params, self.ctx, self.market
        if m is None:
            return
        left_ns = round(p.horizon_s * 1e9) - (ctx.clock.now_ns() - self._t0_ns)  # exact: no float time
        if p.session == "once" and left_ns < 0:
            for side in (Side.BID, Side.ASK):
                self._update_side(side, None)  # the session is over
            return
        bid, ask = ctx.best_bid(p.venue, p.symbol), ctx.best_ask(p.venue, p.symbol)
        if bid is None or ask is None:
            return
        now = ctx.clock.now_s()  # the journal's time in replay: sigma is per journal second
        mid = to_price(m, bid[0] + ask[0]) / 2.0
        self.vol.add(now, mid)
        sigma = p.sigma if p.sigma is not None else self.vol.sigma()
        if sigma is None:
            return  # warming up
        sigma = max(sigma, p.sigma_floor)
        pos = ctx.position(p.venue, p.symbol)
        q = to_qty(m, pos)
        tau = left_ns / 1e9 if p.session == "once" else time_left(now - self._t0, p.horizon_s)
        quotes = model_quotes(p, mid, q, sigma, tau)
        targets = target_prices(m, quotes, q, float(p.max_position), p.min_spread_ticks, (bid[0], ask[0]))
        changed = False
        for side, target in ((Side.BID, targets[0]), (Side.ASK, targets[1])):
            changed |= self._update_side(side, target)
        self.last = {"mid": mid, "q": q, "sigma": sigma, "tau": tau, "reservation": quotes.reservation,
                     "bid": targets[0], "ask": targets[1], "model_bid": quotes.bid, "model_ask": quotes.ask}
        self._telemetry(mid, pos, quotes, sigma, changed)

    def _update_side(self, side: Side, target: int | None) -> bool:
        """Keep, or place-new-then-cancel-old; returns True when an order was placed."""
        p, ctx, m = self.params, self.ctx, self.market
        assert m is not None
        live = [o for o in ctx.open_orders(p.venue, p.symbol) if o.side == side and not o.reduce_only]
        newest = live[-1] if live else None  # open_orders is sorted by client id: the last is the newest
        if target is None:
            self._cancel(live)
            return False
        resting = newest is not None and OrderState(newest.state) is not OrderState.PENDING_CANCEL
        if resting and newest is not None and abs(newest.px - target) <= p.requote_ticks * m.tick:
            self.stats["kept"] += 1
            self._cancel(live[:-1])  # a previous buffer still resting
            return False
        if len(live) >= p.max_orders_per_side:
            self._cancel(live[:-1] if resting else live)
            return False  # at the cap: wait for cancels to land before placing
        try:
            ctx.place_limit(p.venue, p.symbol, side, target, valid_size(m, self.size, target), post_only=True)
        except OrderDenied as e:
            self.stats["denied"] += 1
            ctx.log.warning("avellaneda: %s quote denied: %s", side.value, e)
            return False
        self.stats["placed"] += 1
        self._cancel(live)  # new order first, then the old ones
        return True

    def _cancel(self, orders: list[Order]) -> None:
        self.stats["cancelled"] += cancel_live(self.ctx, self.params.venue, orders)

    def _telemetry(self, mid: float, pos: int, quotes: Quotes, sigma: float, changed: bool) -> None:
        ctx, p = self.ctx, self.params
        labels = {"venue": p.venue, "symbol": p.symbol}
        ctx.gauge("mm_reservation_price", quotes.reservation, **labels)
        ctx.gauge("mm_inventory_skew_bps", bps_of(quotes.reservation - mid, mid), **labels)
        ctx.gauge("mm_adaptive_netmax", float(p.max_position), **labels)  # no quote grows |position| past it
        ctx.gauge("mm_spread_gauge", bps_of(quotes.spread, mid), **labels)
        ctx.gauge("mm_sigma", sigma, **labels)
        if changed:
            ctx.record("quotes", **{k: v for k, v in self.last.items() if v is not None})

    def status(self) -> dict[str, Any]:
        return {"avellaneda_last": dict(self.last), **{f"avellaneda_{k}": v for k, v in self.stats.items()}}
