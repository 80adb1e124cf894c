"""Geometric grid (the original bot's GeometricGridStrategy and the geometric layers of its ASMM design).

Grid prices form a geometric series between a lower and an upper bound (a constant ratio between
neighbours, so the spacing widens with the price). At start the level nearest the mid is left empty, the
nearest `active_levels_per_side` levels below it get post-only bids and the nearest above it get asks,
each sized from a quote budget split evenly over all active slots. When an order fills, its level is freed
and the opposite order is armed one level away: a filled bid at level i arms an ask at level i+1, a filled
ask at level i arms a bid at level i-1 (buy low, sell one rung higher). A periodic sync reconciles the
strategy's order cache with `ctx.open_orders`: orders that vanished are dropped, grid orders it did not
know (a restart) are adopted, strays on the symbol away from the grid are cancelled, and armed levels
without a live order (a post-only reject, a denial) are placed again when the touch allows.

Prices and sizes are integers in venue units; the geometric series is computed in Decimal and rounded
to the tick once, when the grid is built.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, getcontext
from typing import Any

from pydantic import Field, model_validator

from xtb.api import (
    LIVE_STATES,
    Context,
    Fill,
    MarketInfo,
    MultiSymbolParams,
    OrderDenied,
    OrderState,
    OrderUpdate,
    Side,
    Strategy,
    register_strategy,
)


class GeometricGridParams(MultiSymbolParams):
    venue: str = Field("backpack", description="venue to trade on")
    symbol: str = Field("SOL_USDC_PERP", description="market, venue symbol")
    lower_price: Decimal | None = Field(None, gt=0, description="lowest grid price (quote); "
                                        "None: mid x (1 - range_pct)")
    upper_price: Decimal | None = Field(None, gt=0, description="highest grid price; None: mid x (1 + range_pct)")
    range_pct: Decimal = Field(Decimal("0.05"), gt=0, lt=1, description="grid half-width around the first mid "
                               "when the bounds are not given")
    levels: int = Field(21, ge=3, le=1000, description="number of grid prices (geometric series)")
    budget: Decimal = Field(Decimal(1000), gt=0, description="quote amount spread over all active slots")
    active_levels_per_side: int = Field(3, ge=1, description="levels armed on each side of the mid at start")
    post_only: bool = Field(True, description="grid orders only rest (a crossing order waits for the sync)")
    sync_interval_s: float = Field(5.0, gt=0, description="reconcile the order cache with open orders this often")
    cancel_strays: bool = Field(True, description="cancel this symbol's open orders that are not on the grid")

    @model_validator(mode="after")
    def _bounds_ordered(self) -> GeometricGridParams:
        if self.lower_price is not None and self.upper_price is not None and self.lower_price >= self.upper_price:
            raise ValueError("lower_price must be below upper_price")
        if (self.lower_price is None) != (self.upper_price is None):
            raise ValueError("give both lower_price and upper_price, or neither (range_pct around the mid)")
        return self


# --- pure pieces ---------------------------------------------------------------------------------------
def geometric_levels(lower: Decimal, upper: Decimal, n: int) -> list[Decimal]:
    """n prices from lower to upper with a constant ratio (upper/lower)^(1/(n-1)) between neighbours."""
    if n < 2:
        raise ValueError(f"levels must be >= 2, got {n}")
    if not 0 < lower < upper:
        raise ValueError(f"need 0 < lower < upper, got {lower}, {upper}")
    prec = getcontext().copy()
    prec.prec = 34
    ratio = prec.power(upper / lower, Decimal(1) / Decimal(n - 1))
    return [lower] + [prec.multiply(lower, prec.power(ratio, Decimal(i))) for i in range(1, n - 1)] + [upper]


def grid_prices(lower: Decimal, upper: Decimal, n: int, m: MarketInfo) -> list[int]:
    """The geometric levels in integer price units, each rounded to the nearest tick; strictly increasing,
    else the tick is too coarse for that many levels (ValueError)."""
    out = []
    for px in geometric_levels(lower, upper, n):
        units = px * (10 ** m.price_decimals)
        ticks = int((units / m.tick).to_integral_value())
        out.append(max(1, ticks) * m.tick)
    for a, b in itertools.pairwise(out):
        if b <= a:
            raise ValueError(f"{n} levels between {lower} and {upper} collide at tick {m.tick}: use fewer levels")
    return out


def budget_size(budget_units: int, slots: int, price: int, m: MarketInfo) -> int:
    """Size (venue units) of one slot: budget / slots of quote at `price`, rounded down to the step.

    `budget_units` is the budget in notional units (10^-(price_decimals + size_decimals) quote), so that
    price x size is directly comparable. Returns 0 when the slot is below the market's minimums."""
    if slots <= 0 or price <= 0:
        raise ValueError("slots and price must be positive")
    raw = budget_units // slots // price
    size = m.round_sz(raw)
    if size < max(m.min_size, 1) or m.notional(price, size) < m.min_notional:
        return 0
    return size


def to_notional_units(amount: Decimal, m: MarketInfo) -> int:
    return int((amount * 10 ** (m.price_decimals + m.size_decimals)).to_integral_value(ROUND_FLOOR))


def select_initial_levels(prices: list[int], mid: int, per_side: int) -> tuple[list[int], list[int], int]:
    """(bid level indexes, ask level indexes, the empty level): the level nearest the mid stays empty,
    the `per_side` nearest below it are bids and above it asks (nearest first)."""
    nearest = min(range(len(prices)), key=lambda i: (abs(prices[i] - mid), i))
    bids = list(range(nearest - 1, max(-1, nearest - 1 - per_side), -1))
    asks = list(range(nearest + 1, min(len(prices), nearest + 1 + per_side)))
    return bids, asks, nearest


def follow_up(level: int, filled_side: Side, n_levels: int) -> tuple[int, Side] | None:
    """The order a fill arms: the opposite side one level away (None off the grid's ends)."""
    if filled_side is Side.BID:
        return (level + 1, Side.ASK) if level + 1 < n_levels else None
    return (level - 1, Side.BID) if level >= 1 else None


@dataclass
class Slot:
    side: Side
    size: int
    client_id: int | None = None


# --- strategy ------------------------------------------------------------------------------------------
@register_strategy("geometric_grid", params=GeometricGridParams)
class GeometricGrid(Strategy[GeometricGridParams]):
    """Geometric grid: post-only orders on geometric price levels; each fill arms the opposite level."""

    panel_view = "ladder"

    def __init__(self, ctx: Context, params: GeometricGridParams) -> None:
        super().__init__(ctx, params)
        self.market: MarketInfo | None = None
        self.prices: list[int] = []
        self.slot_size = 0
        #: armed levels: level index -> what should rest there
        self.slots: dict[int, Slot] = {}
        #: order cache: client id -> level index
        self.by_cid: dict[int, int] = {}
        self.stats = {"placed": 0, "fills": 0, "follow_ups": 0, "rejects": 0, "denied": 0, "syncs": 0,
                      "dropped": 0, "adopted": 0, "strays_cancelled": 0}
        self._last_sync = 0.0
        self.disabled: str | None = None

    # --- setup -------------------------------------------------------------------------------------
    def _ensure_ready(self) -> bool:
        if self.prices:
            return True
        p, ctx = self.params, self.ctx
        bid, ask = ctx.best_bid(p.venue, p.symbol), ctx.best_ask(p.venue, p.symbol)
        if bid is None or ask is None:
            return False
        m = self.market = ctx.market(p.venue, p.symbol)
        mid = (bid[0] + ask[0]) // 2
        if p.lower_price is not None and p.upper_price is not None:
            lower, upper = p.lower_price, p.upper_price
        else:
            mid_q = Decimal(mid) / (10 ** m.price_decimals)
            lower, upper = mid_q * (1 - p.range_pct), mid_q * (1 + p.range_pct)
        self.prices = grid_prices(lower, upper, p.levels, m)
        bids, asks, empty = select_initial_levels(self.prices, mid, p.active_levels_per_side)
        slots = len(bids) + len(asks)
        budget = to_notional_units(p.budget, m)
        # One size for every slot, from the highest armed price, so each slot stays within budget / slots.
        top = max(self.prices[i] for i in bids + asks)
        self.slot_size = budget_size(budget, slots, top, m)
        if self.slot_size == 0:
            raise ValueError(f"budget {p.budget} over {slots} slots is below {p.symbol}'s minimum order size")
        for i in bids:
            self.slots[i] = Slot(Side.BID, self.slot_size)
        for i in asks:
            self.slots[i] = Slot(Side.ASK, self.slot_size)
        ctx.log.info("grid %s: %d levels %d..%d, empty level %d, %d bids, %d asks of %d units", p.symbol,
                     len(self.prices), self.prices[0], self.prices[-1], empty, len(bids), len(asks), self.slot_size)
        ctx.record("grid_levels", symbol=p.symbol, prices=self.prices, empty_level=empty, slot_size=self.slot_size)
        return True

    # --- loop --------------------------------------------------------------------------------------
    async def on_tick(self, now_ms: int) -> None:
        if self.disabled is not None:
            return
        try:
            if not self._ensure_ready():
                return
        except ValueError as err:  # a grid that cannot be built (levels vs tick, budget vs minimums)
            self.disabled = str(err)
            self.ctx.log.error("geometric grid disabled: %s", err)
            return
        now = self.ctx.clock.now_s()
        if self._last_sync == 0.0:
            self._last_sync = now
            self._ensure_grid_orders()
        elif now - self._last_sync >= self.params.sync_interval_s:
            self._last_sync = now
            self.sync_open_orders()
            self._ensure_grid_orders()

    def _ensure_grid_orders(self) -> None:
        """Place every armed level without a live order (skipping post-only orders that would cross)."""
        p, ctx = self.params, self.ctx
        bid, ask = ctx.best_bid(p.venue, p.symbol), ctx.best_ask(p.venue, p.symbol)
        for level, slot in sorted(self.slots.items()):
            if slot.client_id is not None:
                continue
            px = self.prices[level]
            if p.post_only and ((slot.side is Side.BID and ask is not None and px >= ask[0])
                                or (slot.side is Side.ASK and bid is not None and px <= bid[0])):
                continue  # would cross the touch: wait for the price to come back
            self._place(level, slot)

    def _place(self, level: int, slot: Slot) -> None:
        p = self.params
        try:
            cid = self.ctx.place_limit(p.venue, p.symbol, slot.side, self.prices[level], slot.size,
                                       post_only=p.post_only)
        except OrderDenied as err:
            self.stats["denied"] += 1
            self.ctx.log.warning("grid level %d %s denied: %s", level, slot.side, err.reason)
            return
        slot.client_id = cid
        self.by_cid[cid] = level
        self.stats["placed"] += 1

    # --- events ------------------------------------------------------------------------------------
    def on_fill(self, ev: Fill) -> None:
        if ev.venue == self.params.venue and ev.client_id in self.by_cid:
            self.stats["fills"] += 1

    def on_order(self, ev: OrderUpdate) -> None:
        if ev.venue != self.params.venue or not ev.is_terminal:
            return
        level = self.by_cid.pop(ev.client_id, None)
        if level is None:
            return
        slot = self.slots.get(level)
        if slot is None or slot.client_id != ev.client_id:
            return
        state = OrderState(ev.state)
        if state is OrderState.REJECTED:
            self.stats["rejects"] += 1
            slot.client_id = None  # stays armed; the next sync places it again
            return
        if ev.filled <= 0:
            slot.client_id = None  # cancelled unfilled (by us or the venue): re-armed at the next sync
            return
        del self.slots[level]
        self._handle_fill_followup(level, slot.side, ev.filled)
        min_size = max(1, self.market.min_size if self.market else 1)
        if state is not OrderState.FILLED and slot.size - ev.filled >= min_size:
            self.slots[level] = Slot(slot.side, slot.size - ev.filled)  # the unfilled rest stays armed

    def _handle_fill_followup(self, level: int, side: Side, size: int) -> None:
        nxt = follow_up(level, side, len(self.prices))
        if nxt is None:
            self.ctx.log.info("grid level %d %s filled at the grid's edge: no follow-up", level, side)
            return
        target, new_side = nxt
        existing = self.slots.get(target)
        if existing is not None and existing.side is new_side:
            existing.size += size  # already armed that way: grow it (applies from its next placement)
            return
        if existing is not None and existing.client_id is not None:
            self.ctx.cancel(self.params.venue, existing.client_id)
            self.by_cid.pop(existing.client_id, None)
        self.slots[target] = Slot(new_side, size)
        self.stats["follow_ups"] += 1
        self.ctx.record("grid_fills", symbol=self.params.symbol, level=level, side=str(side), size=size,
                        follow_level=target, follow_side=str(new_side))
        self._ensure_grid_orders()

    # --- reconciliation ----------------------------------------------------------------------------
    def sync_open_orders(self) -> None:
        """Reconcile the order cache with the context's open orders (the seed's _sync_open_orders_cache)."""
        p, ctx = self.params, self.ctx
        self.stats["syncs"] += 1
        live = {o.client_id: o for o in ctx.open_orders(p.venue, p.symbol)}
        for cid, level in list(self.by_cid.items()):
            if cid in live:
                continue
            o = ctx.order(p.venue, cid)
            if o is not None and OrderState(o.state) in LIVE_STATES:
                continue
            # terminal without our on_order (or forgotten by the tracker): free the level, keep it armed
            self.by_cid.pop(cid)
            slot = self.slots.get(level)
            if slot is not None and slot.client_id == cid:
                slot.client_id = None
            self.stats["dropped"] += 1
        index = {px: i for i, px in enumerate(self.prices)}
        for cid, o in live.items():
            if cid in self.by_cid or o.px is None:
                continue
            at = index.get(o.px)
            slot = self.slots.get(at) if at is not None else None
            if at is not None and (slot is None or slot.client_id is None):
                self.slots[at] = Slot(Side(o.side), o.remaining, cid)
                self.by_cid[cid] = at
                self.stats["adopted"] += 1
            elif p.cancel_strays and OrderState(o.state) is not OrderState.PENDING_CANCEL:
                ctx.cancel(p.venue, cid)
                self.stats["strays_cancelled"] += 1

    async def on_stop(self) -> None:
        self.ctx.log.info("grid stopping: %s", self.stats)

    def status(self) -> dict[str, Any]:
        armed = {str(k): f"{v.side}:{v.size}" for k, v in sorted(self.slots.items())}
        return {"grid_levels": len(self.prices), "grid_armed": armed, "grid_disabled": self.disabled,
                **{f"grid_{k}": v for k, v in self.stats.items()}}
