"""Trend ladder (the original bot's TrendAdaptiveLadderStrategy).

The mid is sampled into fixed-interval OHLC bars. The trend is the sign of EMA(fast) - EMA(slow),
confirmed when the least-squares slope of the fast EMA over `slope_lookback` bars is at least
`slope_threshold_bps` per bar in the same direction; ATR over `atr_length` bars scales every distance.

In an uptrend the ladder rests post-only bids (rung k sits `entry_offset_atr + k * ladder_step_atr` ATRs
behind the touch, at most `max_entries` rungs and never beyond `max_position`); in a downtrend asks. Each
entry fill gets a reduce-only take-profit `take_profit_atr` ATRs away from its fill price. Entries on the
wrong side are cancelled when the trend changes or fades; an entry that is older than `entry_ttl_s` or
has drifted more than `requote_atr` ATRs from its rung's price is re-quoted. A coverage check (at most
every `coverage_check_interval_s`) sums the open reduce-only orders on the closing side and, when they
cover less than the position by at least one lot, places a reduce-only take-profit for the deficit
(reduce-only orders left over once flat are cancelled). When the trend turns against the position
(`flush_on_trend_flip`), entries and take-profits are cancelled and one reduce-only take-profit for the
whole position rests at the touch to flatten it.

Prices and sizes are integer venue units; the EMA/ATR/slope model works in floats and its outputs are
rounded back to ticks (bids down, asks up).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from pydantic import Field, model_validator

from xtb.api import (
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
)

#: working orders this strategy counts (one being cancelled is not)
WORKING = frozenset({OrderState.PENDING_NEW, OrderState.OPEN, OrderState.PARTIALLY_FILLED, OrderState.UNRESOLVED})


class TrendLadderParams(Params):
    venue: str = Field("backpack", description="venue to trade on")
    symbol: str = Field("SOL_USDC_PERP", description="market, venue symbol")
    bar_interval_s: float = Field(5.0, gt=0, description="mid samples are grouped into bars this long")
    ema_fast: int = Field(9, ge=1, description="fast EMA length, bars")
    ema_slow: int = Field(21, ge=2, description="slow EMA length, bars")
    atr_length: int = Field(14, ge=1, description="ATR length, bars")
    slope_lookback: int = Field(5, ge=2, description="bars of the fast EMA the slope is fitted over")
    slope_threshold_bps: float = Field(1.0, ge=0, description="minimum |slope| per bar, bps of price")
    order_size: Decimal = Field(Decimal("0.1"), gt=0, description="size per entry, base units")
    max_entries: int = Field(3, ge=1, description="resting entry rungs at most")
    max_position: Decimal = Field(Decimal("1"), gt=0, description="no new entries beyond this |position|, base")
    entry_offset_atr: float = Field(0.25, ge=0, description="first rung's distance behind the touch, ATRs")
    ladder_step_atr: float = Field(0.5, ge=0, description="extra distance per further rung, ATRs")
    take_profit_atr: float = Field(1.0, gt=0, description="take-profit distance from the entry, ATRs")
    min_take_profit_ticks: int = Field(2, ge=1, description="take-profit distance floor, ticks")
    entry_ttl_s: float = Field(30.0, gt=0, description="re-quote entries older than this")
    requote_atr: float = Field(0.5, gt=0, description="re-quote entries drifted further than this, ATRs")
    coverage_check_interval_s: float = Field(2.0, gt=0, description="rate limit of coverage corrections")
    flush_on_trend_flip: bool = Field(True, description="trend against the position: one reduce-only TP at the "
                                      "touch for all of it")
    history_bars: int = Field(200, ge=10, description="bars kept")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> TrendLadderParams:
        if self.ema_fast >= self.ema_slow:
            raise ValueError("ema_fast must be shorter than ema_slow")
        return self

    @property
    def warmup_bars(self) -> int:
        return max(self.ema_slow, self.atr_length + 1, self.ema_fast + self.slope_lookback - 1)


# --- pure pieces ---------------------------------------------------------------------------------------
@dataclass
class Bar:
    open: float
    high: float
    low: float
    close: float


class BarBuilder:
    """Fixed-interval OHLC bars from price samples; a bar closes at the first sample past its end."""

    def __init__(self, interval_s: float, keep: int) -> None:
        self.interval_s = interval_s
        self.bars: deque[Bar] = deque(maxlen=keep)
        self._cur: Bar | None = None
        self._end = 0.0

    def add(self, t: float, price: float) -> bool:
        """Returns True when a bar closed."""
        closed = False
        if self._cur is not None and t >= self._end:
            self.bars.append(self._cur)
            self._cur = None
            closed = True
        if self._cur is None:
            self._cur = Bar(price, price, price, price)
            self._end = t + self.interval_s
        else:
            c = self._cur
            c.high, c.low, c.close = max(c.high, price), min(c.low, price), price
        return closed


def ema_series(values: Sequence[float], length: int) -> list[float]:
    """EMA with alpha = 2 / (length + 1), seeded with the mean of the first `length` values; one output
    per input from index length - 1 on (empty when there are fewer values)."""
    if length < 1:
        raise ValueError("length must be >= 1")
    if len(values) < length:
        return []
    alpha = 2.0 / (length + 1)
    e = sum(values[:length]) / length
    out = [e]
    for v in values[length:]:
        e = alpha * v + (1 - alpha) * e
        out.append(e)
    return out


def atr(bars: Sequence[Bar], length: int) -> float | None:
    """Mean true range of the last `length` bars (each needs the previous close): None if too few."""
    if len(bars) < length + 1:
        return None
    trs = []
    for prev, b in zip(list(bars)[-length - 1:-1], list(bars)[-length:], strict=True):
        trs.append(max(b.high - b.low, abs(b.high - prev.close), abs(b.low - prev.close)))
    return sum(trs) / length


def slope(values: Sequence[float]) -> float:
    """Least-squares slope per step of `values` (at least two)."""
    n = len(values)
    if n < 2:
        raise ValueError("slope needs at least two values")
    mx = (n - 1) / 2
    my = sum(values) / n
    num = sum((i - mx) * (v - my) for i, v in enumerate(values))
    den = sum((i - mx) ** 2 for i in range(n))
    return num / den


def trend_direction(fast: float, slow: float, slope_per_bar: float, price: float, threshold_bps: float) -> int:
    """+1 up, -1 down, 0 none: the EMAs and the slope agree and the slope clears the threshold."""
    if price <= 0:
        return 0
    slope_bps = slope_per_bar / price * 1e4
    if fast > slow and slope_bps >= threshold_bps and slope_bps > 0:
        return 1
    if fast < slow and slope_bps <= -threshold_bps and slope_bps < 0:
        return -1
    return 0


@dataclass
class TrendEstimate:
    direction: int
    ema_fast: float
    ema_slow: float
    slope_bps: float
    atr: float


def estimate(bars: Sequence[Bar], p: TrendLadderParams) -> TrendEstimate | None:
    if len(bars) < p.warmup_bars:
        return None
    closes = [b.close for b in bars]
    fast = ema_series(closes, p.ema_fast)
    slow = ema_series(closes, p.ema_slow)
    a = atr(bars, p.atr_length)
    if not slow or a is None:
        return None
    s = slope(fast[-p.slope_lookback:])
    price = closes[-1]
    return TrendEstimate(trend_direction(fast[-1], slow[-1], s, price, p.slope_threshold_bps), fast[-1], slow[-1],
                         s / price * 1e4, a)


def sum_open_coverage(need_sell: bool, orders: Sequence[Order]) -> tuple[int, int, int]:
    """(covered size, reduce-only orders on the closing side, orders seen): the seed's _sum_open_coverage_i.
    Closing side: asks for a long (need_sell), bids for a short; only reduce-only orders count."""
    want = Side.ASK if need_sell else Side.BID
    total = matched = 0
    for o in orders:
        if o.reduce_only and o.side == want:
            total += o.remaining
            matched += 1
    return total, matched, len(orders)


def entry_price(side: Side, bid: int, ask: int, offset: float, tick: int) -> int:
    """A rung `offset` price units behind the touch on `side`, on the tick, never crossing."""
    if side is Side.BID:
        return max(tick, math.floor((bid - offset) / tick) * tick)
    return max(ask, math.ceil((ask + offset) / tick) * tick)


def take_profit_price(entry_side: Side, entry_px: int, distance: float, tick: int, min_ticks: int) -> int:
    """Where a fill at `entry_px` is closed: above it for a long entry, below for a short, on the tick."""
    d = max(distance, min_ticks * tick)
    if entry_side is Side.BID:
        return math.ceil((entry_px + d) / tick) * tick
    return max(tick, math.floor((entry_px - d) / tick) * tick)


def units(qty: Decimal, decimals: int) -> int:
    return int((qty * 10**decimals).to_integral_value(ROUND_FLOOR))


@dataclass
class Entry:
    side: Side
    rung: int
    price: int
    placed_at: float


# --- strategy ------------------------------------------------------------------------------------------
@register_strategy("trend_ladder", params=TrendLadderParams)
class TrendLadder(Strategy[TrendLadderParams]):
    """Trend ladder: trend-side post-only entries (EMA/ATR/slope), reduce-only take-profits covering the position.

    Take-profits are flushed to the touch when the trend turns against the position."""

    panel_view = "ladder"

    def __init__(self, ctx: Context, params: TrendLadderParams) -> None:
        super().__init__(ctx, params)
        self.bars = BarBuilder(params.bar_interval_s, params.history_bars)
        self.trend: TrendEstimate | None = None
        self.market: MarketInfo | None = None
        self.entries: dict[int, Entry] = {}
        self.flush_cid: int | None = None
        self.flush_history: list[tuple[int, int, int]] = []  # (client id, touch, size) per flush order
        self._last_coverage = float("-inf")
        self.stats = {"entries": 0, "entry_fills": 0, "take_profits": 0, "requotes": 0, "coverage_fixes": 0,
                      "flushes": 0, "denied": 0, "side_cancels": 0}

    # --- helpers -----------------------------------------------------------------------------------
    def _place(self, side: Side, price: int, size: int, *, reduce_only: bool) -> int | None:
        p = self.params
        try:
            cid: int = self.ctx.place_limit(p.venue, p.symbol, side, price, size, post_only=True,
                                            reduce_only=reduce_only)
            return cid
        except OrderDenied as err:
            self.stats["denied"] += 1
            self.ctx.log.warning("trend ladder %s %s denied: %s", side, "tp" if reduce_only else "entry", err.reason)
            return None

    def _open(self) -> list[Order]:
        p = self.params
        return [o for o in self.ctx.open_orders(p.venue, p.symbol) if OrderState(o.state) in WORKING]

    def _cancel(self, cid: int) -> None:
        o = self.ctx.order(self.params.venue, cid)
        if o is not None and OrderState(o.state) in WORKING:
            self.ctx.cancel(self.params.venue, cid)

    def _lot(self) -> int:
        m = self.market
        assert m is not None
        return max(m.step, m.min_size, 1)

    # --- events ------------------------------------------------------------------------------------
    def on_fill(self, ev: Fill) -> None:
        if ev.venue != self.params.venue:
            return
        entry = self.entries.get(ev.client_id)
        if entry is None or self.market is None:
            return
        self.stats["entry_fills"] += 1
        a = self.trend.atr if self.trend is not None else 0.0
        m = self.market
        tp = take_profit_price(entry.side, ev.px, self.params.take_profit_atr * a * 1.0, m.tick,
                               self.params.min_take_profit_ticks)
        close_side = Side.ASK if entry.side is Side.BID else Side.BID
        if self._place(close_side, tp, ev.sz, reduce_only=True) is not None:
            self.stats["take_profits"] += 1
        self._last_coverage = self.ctx.clock.now_s()  # the new TP is in flight: do not double-cover it now

    def on_order(self, ev: OrderUpdate) -> None:
        if ev.venue == self.params.venue and ev.is_terminal:
            self.entries.pop(ev.client_id, None)
            if ev.client_id == self.flush_cid:
                self.flush_cid = None

    # --- loop --------------------------------------------------------------------------------------
    async def on_tick(self, now_ms: int) -> None:
        p, ctx = self.params, self.ctx
        if self.market is None:
            self.market = ctx.market(p.venue, p.symbol)
        bid, ask = ctx.best_bid(p.venue, p.symbol), ctx.best_ask(p.venue, p.symbol)
        if bid is None or ask is None:
            return
        now = self.ctx.clock.now_s()
        if self.bars.add(now, (bid[0] + ask[0]) / 2):
            self.trend = estimate(self.bars.bars, p)
            if self.trend is not None:
                ctx.record("trend", symbol=p.symbol, direction=self.trend.direction, ema_fast=self.trend.ema_fast,
                           ema_slow=self.trend.ema_slow, slope_bps=self.trend.slope_bps, atr=self.trend.atr)
        pos = ctx.position(p.venue, p.symbol)
        direction = self.trend.direction if self.trend is not None else 0
        if p.flush_on_trend_flip and pos != 0 and direction == (-1 if pos > 0 else 1):
            self._flush(pos, bid[0], ask[0])
            return
        self._cancel_off_trend_entries(direction)
        if now - self._last_coverage >= p.coverage_check_interval_s:
            self._last_coverage = now
            self.tp_coverage_check_and_correct(pos, bid[0], ask[0])
        if direction != 0 and self.trend is not None:
            self._requote_stale_entries(now, bid[0], ask[0])
            self._place_entries(direction, pos, now, bid[0], ask[0])

    def _flush(self, pos: int, bid: int, ask: int) -> None:
        """One reduce-only order at the touch for the whole position (the seed's _place_flush_tp)."""
        close_side = Side.ASK if pos > 0 else Side.BID
        touch = ask if close_side is Side.ASK else bid
        if self.flush_cid is not None:
            o = self.ctx.order(self.params.venue, self.flush_cid)
            if o is not None and OrderState(o.state) in WORKING and o.px == touch and o.remaining == abs(pos):
                return
        for o in self._open():
            if o.client_id != self.flush_cid or o.px != touch or o.remaining != abs(pos):
                if OrderState(o.state) is not OrderState.PENDING_CANCEL:
                    self.ctx.cancel(self.params.venue, o.client_id)
        if any(o.client_id == self.flush_cid for o in self._open()):
            return  # the old flush order is being cancelled; re-post on a later tick
        self.flush_cid = self._place(close_side, touch, abs(pos), reduce_only=True)
        if self.flush_cid is not None:
            self.stats["flushes"] += 1
            self.flush_history.append((self.flush_cid, touch, abs(pos)))
            self.ctx.log.info("trend ladder flush: %s %d at %d (trend turned)", close_side, abs(pos), touch)

    def _cancel_off_trend_entries(self, direction: int) -> None:
        keep = Side.BID if direction > 0 else Side.ASK if direction < 0 else None
        for cid, e in list(self.entries.items()):
            if e.side is not keep:
                self._cancel(cid)
                self.entries.pop(cid, None)
                self.stats["side_cancels"] += 1

    def _rung_price(self, side: Side, rung: int, bid: int, ask: int) -> int:
        assert self.trend is not None and self.market is not None
        p = self.params
        offset = (p.entry_offset_atr + rung * p.ladder_step_atr) * self.trend.atr
        return entry_price(side, bid, ask, offset, self.market.tick)

    def _requote_stale_entries(self, now: float, bid: int, ask: int) -> None:
        assert self.trend is not None and self.market is not None
        p = self.params
        limit = max(p.requote_atr * self.trend.atr, self.market.tick)
        for cid, e in list(self.entries.items()):
            desired = self._rung_price(e.side, e.rung, bid, ask)
            if now - e.placed_at >= p.entry_ttl_s or abs(desired - e.price) > limit:
                self._cancel(cid)
                self.entries.pop(cid, None)  # the rung is free; it is placed again below
                self.stats["requotes"] += 1

    def _place_entries(self, direction: int, pos: int, now: float, bid: int, ask: int) -> None:
        p = self.params
        m = self.market
        assert m is not None
        side = Side.BID if direction > 0 else Side.ASK
        size = m.round_sz(units(p.order_size, m.size_decimals))
        if size < self._lot():
            return
        cap = units(p.max_position, m.size_decimals)
        signed = 1 if side is Side.BID else -1
        pending = sum(o.remaining for o in self._open() if not o.reduce_only and o.side == side)
        used = {e.rung for e in self.entries.values()}
        for rung in range(p.max_entries):
            if rung in used:
                continue
            if abs(pos + signed * (pending + size)) > cap and (pos * signed >= 0):
                break
            price = self._rung_price(side, rung, bid, ask)
            cid = self._place(side, price, size, reduce_only=False)
            if cid is None:
                break
            self.entries[cid] = Entry(side, rung, price, now)
            pending += size
            self.stats["entries"] += 1

    def tp_coverage_check_and_correct(self, pos: int, bid: int, ask: int) -> bool:
        """Reduce-only orders on the closing side must cover the position: place a take-profit for a
        deficit of at least one lot; once flat, cancel leftovers. Returns True when it placed an order."""
        p, ctx = self.params, self.ctx
        m = self.market
        assert m is not None
        opens = self._open()
        if pos == 0:
            for o in opens:
                if o.reduce_only and OrderState(o.state) is not OrderState.PENDING_CANCEL:
                    ctx.cancel(p.venue, o.client_id)
            return False
        need_sell = pos > 0
        working = [o for o in opens if OrderState(o.state) is not OrderState.PENDING_CANCEL]
        covered, _, _ = sum_open_coverage(need_sell, working)
        deficit = abs(pos) - covered
        if deficit < self._lot():
            return False
        deficit = m.round_sz(deficit) or deficit
        entry_side = Side.BID if need_sell else Side.ASK
        ref = ctx.entry_price(p.venue, p.symbol) or (bid if need_sell else ask)
        a = self.trend.atr if self.trend is not None else 0.0
        tp = take_profit_price(entry_side, ref, p.take_profit_atr * a, m.tick, p.min_take_profit_ticks)
        tp = max(tp, ask) if need_sell else min(tp, bid)  # post-only: never through the touch
        close_side = Side.ASK if need_sell else Side.BID
        ctx.log.info("trend ladder coverage: position %d, covered %d, placing %d at %d", pos, covered, deficit, tp)
        if self._place(close_side, tp, deficit, reduce_only=True) is None:
            return False
        self.stats["coverage_fixes"] += 1
        return True

    def status(self) -> dict[str, Any]:
        t = self.trend
        return {"trend_direction": None if t is None else t.direction, "trend_atr": None if t is None else t.atr,
                **{f"trend_{k}": v for k, v in self.stats.items()}}
