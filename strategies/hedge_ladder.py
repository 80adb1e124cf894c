"""Hedge ladder (the original bot's HedgeLadderStrategy): a long limit ladder on a main venue, hedged on another.

A ladder of `levels` resting buy limits sits below the main venue's best bid (`entry_offset_bps`, then
`level_spacing_bps` apart). A filled rung records its entry price and its hedge trigger
`hedge_price = entry × hedge_trigger_ratio`, and rests a reduce-only take-profit sell at
`entry × (1 + take_profit_bps)`. While the main venue's bid is below a rung's trigger, that rung is hedged
by a market sell of the same base quantity on the hedge venue; once the bid recovers to
`hedge_price × (1 + hedge_release_bps)` (hysteresis, so the hedge does not flap on the line) the hedge is
bought back. When the take profit fills, any hedge is closed and the rung re-arms.

Hedge orders are market orders with a worst price. They share a sliding-window limit (the core's
`RateLimiter`, `hedge_orders_per_second` per `hedge_rate_window_ms`); an order that comes back short
(worst price too tight, venue refusal, gateway denial) is retried after `hedge_retry_delay` with a wider
worst price (`hedge_slippage_step_bps` per attempt, capped). Hedges are reconciled against targets each
tick from the order tracker's fill counts, so a missed or partial order is always made good. `on_stop`
cancels the ladder and closes every remaining hedge (the main-venue position is left to the engine's
`flatten` option, as in the original, whose shutdown only closed the hedge).

Prices and sizes are integers in each venue's units; ratios and bps are exact `Decimal`/`Fraction` math
rounded explicitly (entry bids and trigger down, take profit and release up, sizes down to the step).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from pydantic import Field, model_validator

from xtb.api import Context, MarketInfo, OrderDenied, Params, Side, Strategy, register_strategy
from xtb.core import RateLimiter

BPS = 10_000
HEDGE_KEY = "hedge"


# --- params --------------------------------------------------------------------------------------------
class HedgeLadderParams(Params):
    main_venue: str = Field("backpack", description="venue of the limit ladder (the original: Backpack)")
    main_symbol: str = Field("SOL_USDC_PERP", description="ladder market, main venue symbol")
    hedge_venue: str = Field("lighter", description="venue of the market hedges (the original: Lighter)")
    hedge_symbol: str = Field("SOL", description="hedge market, hedge venue symbol (same underlying)")
    quantity: Decimal = Field(Decimal("0.10"), gt=0, description="entry size per rung, base units")
    levels: int = Field(3, ge=1, le=50, description="rungs in the ladder (max concurrent entries)")
    entry_offset_bps: Decimal = Field(Decimal(5), ge=0, description="first rung's distance below the best bid")
    level_spacing_bps: Decimal = Field(Decimal(10), gt=0, description="distance between rungs")
    reprice_bps: Decimal = Field(Decimal(25), gt=0, description="re-anchor unfilled rungs when the bid moved "
                                 "this far from where they were placed")
    post_only: bool = Field(True, description="entries rest post-only")
    take_profit_bps: Decimal = Field(Decimal(30), gt=0, description="take-profit sell at entry × (1 + this)")
    hedge_trigger_ratio: Decimal = Field(Decimal("0.99"), gt=0, lt=1,
                                         description="hedge_price = entry × this; hedge while the bid is below")
    hedge_release_bps: Decimal = Field(Decimal(5), ge=0, description="close the hedge once the bid is back at "
                                       "hedge_price × (1 + this)")
    hedge_slippage_bps: int = Field(30, gt=0, description="first hedge order's worst-price distance")
    hedge_slippage_step_bps: int = Field(20, ge=0, description="added to the worst-price distance per retry")
    hedge_max_slippage_bps: int = Field(150, gt=0, description="cap on the worst-price distance")
    hedge_retry_delay: float = Field(0.5, ge=0, description="seconds before re-sending a short hedge order")
    hedge_orders_per_second: int = Field(10, ge=1, description="sliding-window limit on hedge orders")
    hedge_rate_window_ms: int = Field(1000, ge=1, description="the limit's window")
    close_hedge_on_stop: bool = Field(True, description="on_stop closes every remaining hedge")
    stop_timeout_s: float = Field(8.0, gt=0, description="how long on_stop keeps closing hedges")

    @model_validator(mode="after")
    def _slippage_cap(self) -> HedgeLadderParams:
        if self.hedge_max_slippage_bps < self.hedge_slippage_bps:
            raise ValueError("hedge_max_slippage_bps must be >= hedge_slippage_bps")
        return self


# --- pure pieces ---------------------------------------------------------------------------------------
def _scaled(px: int, factor: Fraction) -> Fraction:
    return px * factor


def ladder_prices(bid: int, offset_bps: Decimal, spacing_bps: Decimal, levels: int, m: MarketInfo) -> list[int]:
    """Rung i rests at bid × (1 − (offset + i × spacing) bps), rounded down to the tick."""
    out = []
    for i in range(levels):
        factor = 1 - (Fraction(offset_bps) + i * Fraction(spacing_bps)) / BPS
        out.append(m.round_px(math.floor(_scaled(bid, factor)), Side.BID))
    return out


def hedge_trigger_price(entry_px: int, ratio: Decimal, m: MarketInfo) -> int:
    """hedge_price = entry × hedge_trigger_ratio, rounded down to the tick (the trigger is never raised)."""
    return m.round_px(math.floor(_scaled(entry_px, Fraction(ratio))), Side.BID)


def release_price(hedge_px: int, release_bps: Decimal, m: MarketInfo) -> int:
    """The bid at which a hedge is closed again: hedge_price × (1 + release), rounded up."""
    return m.round_px(math.ceil(_scaled(hedge_px, 1 + Fraction(release_bps) / BPS)), Side.ASK)


def take_profit_price(entry_px: int, tp_bps: Decimal, m: MarketInfo) -> int:
    return m.round_px(math.ceil(_scaled(entry_px, 1 + Fraction(tp_bps) / BPS)), Side.ASK)


def hedge_action(bid: int, hedge_px: int, release_px: int, hedged: bool) -> str | None:
    """'open' when the bid broke below the trigger, 'close' when it recovered to the release price."""
    if not hedged and bid < hedge_px:
        return "open"
    if hedged and bid >= release_px:
        return "close"
    return None


def convert_size(src: MarketInfo, units: int, dst: MarketInfo) -> int:
    """The same base quantity in `dst` size units, rounded down to its step (multipliers respected)."""
    base = Fraction(units * src.multiplier, 10 ** src.size_decimals)
    return dst.round_sz(math.floor(base * 10 ** dst.size_decimals / dst.multiplier))


def slippage_for_attempt(attempt: int, first_bps: int, step_bps: int, cap_bps: int) -> int:
    """Worst-price distance of the n-th try (0-based): widened per retry, capped."""
    return min(cap_bps, first_bps + attempt * step_bps)


def worst_price(m: MarketInfo, side: Side, touch: int, slippage_bps: int) -> int:
    """A market order's limit: the opposite touch moved `slippage_bps` against us, rounded safely."""
    move = touch * slippage_bps // BPS
    return m.round_px(touch + move, Side.ASK) if side is Side.BID else m.round_px(touch - move, Side.BID)


class HedgeRateLimit:
    """At most `limit` hedge orders in any `window_ms` (the core's exact sliding window)."""

    def __init__(self, limit: int, window_ms: int) -> None:
        self.limiter = RateLimiter.from_config({
            "pools": {HEDGE_KEY: {"type": "sliding_window", "limit": limit, "window_ms": window_ms}},
            "keys": {HEDGE_KEY: {HEDGE_KEY: 1}},
        })

    def acquire(self, now_ns: int | None = None) -> int:
        """0 = granted (counted); otherwise nanoseconds until one would be."""
        return int(self.limiter.acquire(HEDGE_KEY, 1, now_ns))


# --- the strategy --------------------------------------------------------------------------------------
@dataclass
class Rung:
    level: int
    entry_cid: int
    anchor: int  # the bid the rung's price was derived from
    state: str = "resting"  # resting -> open -> closing -> (freed)
    cancel_sent: bool = False
    entry_px: int = 0
    size: int = 0  # filled, main venue units
    hedge_size: int = 0  # the same base quantity on the hedge venue
    hedge_px: int = 0
    release_px: int = 0
    tp_cids: list[int] = field(default_factory=list)
    hedge_target: int = 0  # hedge venue units we want short: 0 or hedge_size
    hedge_cids: list[int] = field(default_factory=list)
    hedge_attempt: int = 0
    hedge_next_try: float = 0.0


@register_strategy("hedge_ladder", params=HedgeLadderParams)
class HedgeLadder(Strategy[HedgeLadderParams]):
    """Hedge ladder: limit entries on one venue, market hedge on another below entry × hedge_trigger_ratio."""

    panel_view = "ladder"

    def __init__(self, ctx: Context, params: HedgeLadderParams) -> None:
        super().__init__(ctx, params)
        self.rungs: dict[int, Rung] = {}  # level -> rung
        self.limit = HedgeRateLimit(params.hedge_orders_per_second, params.hedge_rate_window_ms)
        self.stats = {"entries_filled": 0, "take_profits": 0, "hedges_opened": 0, "hedges_closed": 0,
                      "hedge_orders": 0, "hedge_retries": 0, "hedge_rate_limited": 0, "hedge_denied": 0}
        self._stopping = False

    def _now(self) -> float:
        """Seconds on the context's clock (the hedge limiter runs on it too: the journal's time in replay)."""
        return self.ctx.clock.now_s()

    async def on_start(self) -> None:
        p = self.params
        self.main = self.ctx.market(p.main_venue, p.main_symbol)
        self.hedge = self.ctx.market(p.hedge_venue, p.hedge_symbol)
        if self.main.base != self.hedge.base:
            raise ValueError(f"hedge_symbol {p.hedge_symbol} ({self.hedge.base}) does not follow "
                             f"main_symbol {p.main_symbol} ({self.main.base})")
        self.qty = self.main.round_sz(math.floor(Fraction(p.quantity) * 10 ** self.main.size_decimals
                                                 / self.main.multiplier))
        if self.qty < self.main.min_size or convert_size(self.main, self.qty, self.hedge) < self.hedge.min_size:
            raise ValueError(f"quantity {p.quantity} is below the minimum size of {p.main_symbol} or {p.hedge_symbol}")

    async def on_tick(self, now_ms: int) -> None:
        if self._stopping:
            return
        bid = self.ctx.best_bid(self.params.main_venue, self.params.main_symbol)
        if bid is None:
            return
        now = self._now()
        for rung in list(self.rungs.values()):
            self._advance(rung, bid[0])
            self._reconcile_hedge(rung, now)
        self._arm_free_levels(bid[0])

    # entries ------------------------------------------------------------------------------------------
    def _arm_free_levels(self, bid: int) -> None:
        p = self.params
        prices = ladder_prices(bid, p.entry_offset_bps, p.level_spacing_bps, p.levels, self.main)
        for level, px in enumerate(prices):
            if level in self.rungs or px <= 0:
                continue
            try:
                cid = self.ctx.place_limit(p.main_venue, p.main_symbol, Side.BID, px, self.qty, post_only=p.post_only)
            except (OrderDenied, ValueError) as e:
                self.ctx.log.warning("hedge_ladder: entry at level %d refused: %s", level, e)
                return
            self.rungs[level] = Rung(level, cid, bid)

    def _advance(self, rung: Rung, bid: int) -> None:
        p = self.params
        if rung.state == "resting":
            o = self.ctx.order(p.main_venue, rung.entry_cid)
            if o is None:
                return
            if o.is_terminal:
                if o.filled > 0:
                    self._on_entry_filled(rung, o.avg_px, o.filled)
                else:
                    del self.rungs[rung.level]
            elif o.filled == 0 and not rung.cancel_sent and \
                    abs(bid - rung.anchor) * BPS > Fraction(p.reprice_bps) * rung.anchor:
                self.ctx.cancel(p.main_venue, rung.entry_cid)  # stale: re-armed at the new bid once cancelled
                rung.cancel_sent = True
            return
        if rung.state == "open":
            tp_filled, tp_live = self._tp_progress(rung)
            if tp_filled >= rung.size:
                self.stats["take_profits"] += 1
                rung.state, rung.hedge_target = "closing", 0
                self.ctx.log.info("hedge_ladder: level %d take profit filled", rung.level)
            else:
                if not tp_live:  # refused or expired: rest the remainder again
                    self._place_take_profit(rung, rung.size - tp_filled)
                action = hedge_action(bid, rung.hedge_px, rung.release_px, rung.hedge_target > 0)
                if action == "open":
                    rung.hedge_target, rung.hedge_attempt = rung.hedge_size, 0
                    self.ctx.log.info("hedge_ladder: level %d bid %d below hedge price %d: hedging %d",
                                      rung.level, bid, rung.hedge_px, rung.hedge_size)
                elif action == "close":
                    rung.hedge_target, rung.hedge_attempt = 0, 0
                    self.ctx.log.info("hedge_ladder: level %d bid %d recovered to %d: closing hedge",
                                      rung.level, bid, rung.release_px)
        if rung.state == "closing" and self._hedged(rung) == 0 and not self._hedge_live(rung):
            del self.rungs[rung.level]

    def _on_entry_filled(self, rung: Rung, avg_px: int, filled: int) -> None:
        p = self.params
        rung.state, rung.entry_px, rung.size = "open", avg_px, filled
        rung.hedge_size = convert_size(self.main, filled, self.hedge)
        rung.hedge_px = hedge_trigger_price(avg_px, p.hedge_trigger_ratio, self.main)
        rung.release_px = release_price(rung.hedge_px, p.hedge_release_bps, self.main)
        self.stats["entries_filled"] += 1
        self.ctx.log.info("hedge_ladder: level %d filled %d at %d; hedge price %d, release %d",
                          rung.level, filled, avg_px, rung.hedge_px, rung.release_px)
        self.ctx.record("hedge_ladder", event="entry", level=rung.level, entry_px=avg_px, size=filled,
                        hedge_px=rung.hedge_px)
        self._place_take_profit(rung, filled)

    def _place_take_profit(self, rung: Rung, size: int) -> None:
        p = self.params
        px = take_profit_price(rung.entry_px, p.take_profit_bps, self.main)
        try:
            rung.tp_cids.append(self.ctx.place_limit(p.main_venue, p.main_symbol, Side.ASK, px, size,
                                                     reduce_only=True))
        except (OrderDenied, ValueError) as e:
            self.ctx.log.warning("hedge_ladder: take profit for level %d refused: %s", rung.level, e)

    def _tp_progress(self, rung: Rung) -> tuple[int, bool]:
        filled, live = 0, False
        for cid in rung.tp_cids:
            o = self.ctx.order(self.params.main_venue, cid)
            if o is not None:
                filled += o.filled
                live = live or not o.is_terminal
        return filled, live

    # hedges -------------------------------------------------------------------------------------------
    def _hedged(self, rung: Rung) -> int:
        """Hedge venue units this rung is short, from the tracker's fill counts of its hedge orders."""
        short = 0
        for cid in rung.hedge_cids:
            o = self.ctx.order(self.params.hedge_venue, cid)
            if o is not None:
                short += o.filled if Side(o.side) is Side.ASK else -o.filled
        return short

    def _hedge_live(self, rung: Rung) -> bool:
        return any((o := self.ctx.order(self.params.hedge_venue, cid)) is not None and not o.is_terminal
                   for cid in rung.hedge_cids)

    def _reconcile_hedge(self, rung: Rung, now: float) -> None:
        """Send one market order towards the rung's hedge target when none is in flight."""
        p = self.params
        if self._hedge_live(rung):
            return
        diff = rung.hedge_target - self._hedged(rung)
        if diff == 0:  # on target: the next move starts fresh (no retry delay, first slippage)
            rung.hedge_attempt, rung.hedge_next_try = 0, 0.0
            return
        if now < rung.hedge_next_try:
            return
        side = Side.ASK if diff > 0 else Side.BID
        touch = (self.ctx.best_bid if side is Side.ASK else self.ctx.best_ask)(p.hedge_venue, p.hedge_symbol)
        if touch is None:
            return
        wait_ns = self.limit.acquire(int(now * 1e9))
        if wait_ns > 0:
            self.stats["hedge_rate_limited"] += 1
            rung.hedge_next_try = now + wait_ns / 1e9
            return
        slip = slippage_for_attempt(rung.hedge_attempt, p.hedge_slippage_bps, p.hedge_slippage_step_bps,
                                    p.hedge_max_slippage_bps)
        if rung.hedge_attempt > 0:
            self.stats["hedge_retries"] += 1
        rung.hedge_attempt += 1
        rung.hedge_next_try = now + p.hedge_retry_delay  # applies if this order comes back short
        try:
            cid = self.ctx.place_market(p.hedge_venue, p.hedge_symbol, side, abs(diff),
                                        worst_price=worst_price(self.hedge, side, touch[0], slip),
                                        reduce_only=diff < 0)
        except (OrderDenied, ValueError) as e:
            self.stats["hedge_denied"] += 1
            self.ctx.log.warning("hedge_ladder: hedge order for level %d refused: %s", rung.level, e)
            return
        rung.hedge_cids.append(cid)
        self.stats["hedge_orders"] += 1
        opening = rung.hedge_target > 0
        if rung.hedge_attempt == 1:
            self.stats["hedges_opened" if opening else "hedges_closed"] += 1
        self.ctx.record("hedge_ladder", event="hedge_open" if opening else "hedge_close", level=rung.level,
                        size=abs(diff), slippage_bps=slip, attempt=rung.hedge_attempt)

    # shutdown -----------------------------------------------------------------------------------------
    async def on_stop(self) -> None:
        """Cancel the ladder and take-profits, then close every remaining hedge (bounded)."""
        p = self.params
        self._stopping = True
        for rung in self.rungs.values():
            for cid in [rung.entry_cid, *rung.tp_cids]:
                o = self.ctx.order(p.main_venue, cid)
                if o is not None and not o.is_terminal:
                    self.ctx.cancel(p.main_venue, cid)
            rung.hedge_target, rung.hedge_attempt, rung.hedge_next_try = 0, 0, 0.0
        if not p.close_hedge_on_stop:
            return
        deadline = self._now() + p.stop_timeout_s
        # Bounded by the count too: in replay the clock only moves with the journal, not while we wait here.
        for _ in range(max(1, math.ceil(p.stop_timeout_s / 0.05))):
            if self._now() >= deadline:
                break
            open_hedges = [r for r in self.rungs.values() if self._hedged(r) != 0 or self._hedge_live(r)]
            if not open_hedges:
                return
            now = self._now()
            for rung in open_hedges:
                self._reconcile_hedge(rung, now)
            await asyncio.sleep(0.05)
        self.ctx.log.error("hedge_ladder: hedges still open after %.0f s", p.stop_timeout_s)

    def status(self) -> dict[str, Any]:
        return {
            "hedge_ladder_rungs": {r.level: r.state for r in self.rungs.values()},
            "hedge_ladder_hedged": {r.level: self._hedged(r) for r in self.rungs.values() if r.hedge_cids},
            **{f"hedge_ladder_{k}": v for k, v in self.stats.items()},
        }
