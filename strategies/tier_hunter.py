"""Tier hunter (the original Backpack MM Tier Hunter v3.2): a single-sided maker steered by taker order flow.

One post-only order rests at the touch on one side only. Which side comes from the public trade prints:
taker buy and sell volume over the last `trade_lookback_s`, their ratio smoothed by an EMA
(`imbalance_ema_alpha`); a smoothed ratio at or above `imbalance_threshold` means buy pressure, at or
below its inverse sell pressure, anything between keeps the current side, and a flow-driven switch waits
until the side has been held `min_side_hold_s`. With `follow_flow` buy pressure puts the order on the
bid (quote with the flow); off, on the ask (serve the takers). The seed does not say which: UNCONFIRMED,
so it is a parameter.

Inventory first: as soon as the position reaches `inventory_threshold`, the side flips at once (no hold
time) to the closing side, and the order becomes reduce-only for the whole position; the flow decides
again only when flat.

Stats follow the seed's TradingStats (xtb.telemetry.stats): maker/taker fills, failures and success rate,
long/short fills, equity, realized PnL (average cost), fees, request count and stream messages, written
to `stats_log_path` every `stats_log_interval_s`. Equity and position reads are cached like the seed's
(10 s and 3 s); stream events update the position between reads. "REST calls" counts the strategy's own
requests (orders, cancels, position and balance reads); "WS messages" counts the stream events it
received (books, trades, order updates, fills, positions).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from pydantic import Field

from xtb.api import (
    BookUpdate,
    Context,
    Fill,
    MarketInfo,
    MultiSymbolParams,
    OrderDenied,
    OrderState,
    OrderUpdate,
    Position,
    Side,
    Strategy,
    Trade,
    register_strategy,
)
from xtb.telemetry.stats import StatsWriter, TradingStats


class TierHunterParams(MultiSymbolParams):
    venue: str = Field("backpack", description="venue to trade on (its connector needs `trades: true`)")
    symbol: str = Field("SOL_USDC_PERP", description="market, venue symbol")
    order_size: Decimal = Field(Decimal("0.1"), gt=0, description="flow-side order size, base units")
    trade_lookback_s: float = Field(2.0, gt=0, description="TRADE_LOOKBACK_SEC: taker volume window")
    imbalance_threshold: float = Field(1.3, gt=1, description="IMBALANCE_THRESHOLD: buy/sell ratio for a side")
    imbalance_ema_alpha: float = Field(0.4, gt=0, le=1, description="IMBALANCE_EMA_ALPHA")
    max_ratio: float = Field(10.0, gt=1, description="cap of the buy/sell ratio (one-sided windows)")
    min_side_hold_s: float = Field(1.5, ge=0, description="MIN_SIDE_HOLD_SEC: flow switches wait this long")
    follow_flow: bool = Field(True, description="buy pressure -> bid (else ask); UNCONFIRMED in the seed")
    inventory_threshold: Decimal = Field(Decimal("0.001"), ge=0, description="INVENTORY_THRESHOLD, base units")
    force_reduce_on_inventory: bool = Field(True, description="FORCE_REDUCE_ON_INVENTORY: any position -> "
                                            "reduce-only closing order")
    quote_offset_ticks: int = Field(0, ge=0, description="ticks behind the touch (0: join it)")
    requote_ticks: int = Field(1, ge=1, description="re-quote when the desired price moved this many ticks")
    equity_update_interval_s: float = Field(10.0, gt=0, description="EQUITY_UPDATE_INTERVAL: equity cache")
    position_update_interval_s: float = Field(3.0, gt=0, description="POSITION_UPDATE_INTERVAL: position cache")
    collateral_asset: str = Field("USDC", description="balance reported as equity")
    stats_log_path: str = Field("logs/tier_hunter_stats.log", description="LOG_FILE_PATH")
    stats_log_interval_s: float = Field(60.0, gt=0, description="STATS_LOG_INTERVAL")


# --- pure pieces ---------------------------------------------------------------------------------------
class FlowWindow:
    """Taker volume per side over a sliding time window (trade prints, oldest first)."""

    def __init__(self, lookback_s: float) -> None:
        self.lookback_s = lookback_s
        self._prints: deque[tuple[float, bool, int]] = deque()
        self.buy = 0
        self.sell = 0

    def add(self, t: float, taker_buy: bool, size: int) -> None:
        self._prints.append((t, taker_buy, size))
        if taker_buy:
            self.buy += size
        else:
            self.sell += size

    def volumes(self, now: float) -> tuple[int, int]:
        cutoff = now - self.lookback_s
        while self._prints and self._prints[0][0] < cutoff:
            _, taker_buy, size = self._prints.popleft()
            if taker_buy:
                self.buy -= size
            else:
                self.sell -= size
        return self.buy, self.sell


def flow_ratio(buy: int, sell: int, cap: float) -> float:
    """Taker buy/sell volume ratio, 1.0 with no flow, clamped to [1/cap, cap]."""
    if buy == 0 and sell == 0:
        return 1.0
    if sell == 0:
        return cap
    return max(1.0 / cap, min(cap, buy / sell))


def ema(prev: float | None, value: float, alpha: float) -> float:
    return value if prev is None else alpha * value + (1.0 - alpha) * prev


def pressure(ratio_ema: float, threshold: float) -> Side | None:
    """BID for buy pressure, ASK for sell pressure, None in the neutral band."""
    if ratio_ema >= threshold:
        return Side.BID
    if ratio_ema <= 1.0 / threshold:
        return Side.ASK
    return None


class SideSelector:
    """The flow side, switched only after it has been held `min_hold_s`."""

    def __init__(self, min_hold_s: float, initial: Side = Side.BID) -> None:
        self.min_hold_s = min_hold_s
        self.side = initial
        self.since = float("-inf")

    def update(self, now: float, wanted: Side | None) -> Side:
        if wanted is not None and wanted is not self.side and now - self.since >= self.min_hold_s:
            self.side, self.since = wanted, now
        return self.side

    def force(self, now: float, side: Side) -> None:
        if side is not self.side:
            self.side, self.since = side, now


def choose_side(position: int, threshold: int, flow_side: Side, force_reduce: bool) -> tuple[Side, bool]:
    """(side, reduce_only): inventory first, then the order flow."""
    if force_reduce and position != 0 and abs(position) >= threshold:
        return (Side.ASK if position > 0 else Side.BID), True
    return flow_side, False


@dataclass
class AvgCostBook:
    """Signed position and average entry (price units) from fills; realized PnL in notional units."""

    position: int = 0
    avg_px: float = 0.0

    def fill(self, side: Side, px: int, sz: int) -> float:
        signed = sz if side is Side.BID else -sz
        if self.position == 0 or (self.position > 0) == (signed > 0):
            total = self.position + signed
            self.avg_px = (self.avg_px * abs(self.position) + px * sz) / abs(total)
            self.position = total
            return 0.0
        closed = min(sz, abs(self.position))
        direction = 1 if self.position > 0 else -1
        pnl = (px - self.avg_px) * closed * direction
        self.position += signed
        if self.position == 0:
            self.avg_px = 0.0
        elif (self.position > 0) != (direction > 0):  # flipped through zero: the rest opens at px
            self.avg_px = float(px)
        return pnl


def units(qty: Decimal, decimals: int) -> int:
    return int((qty * 10**decimals).to_integral_value(ROUND_FLOOR))


# --- strategy ------------------------------------------------------------------------------------------
@register_strategy("tier_hunter", params=TierHunterParams)
class TierHunter(Strategy[TierHunterParams]):
    """Single-sided maker chosen by taker order-flow imbalance; any position flips to reduce-only closing."""

    panel_view = "mm"

    def __init__(self, ctx: Context, params: TierHunterParams) -> None:
        super().__init__(ctx, params)
        self.flow = FlowWindow(params.trade_lookback_s)
        self.selector = SideSelector(params.min_side_hold_s)
        self.ratio_ema: float | None = None
        self.stats = TradingStats()
        self.book = AvgCostBook()
        self.writer = StatsWriter(params.stats_log_path, params.stats_log_interval_s,
                                  header=f"tier_hunter {params.venue} {params.symbol} {params.model_dump_json()}")
        self.market: MarketInfo | None = None
        self.live: int | None = None  # client id of the one resting order
        self.live_reduce = False
        self.equity: float | None = None
        self._equity_at = float("-inf")
        self._position = 0
        self._position_at = float("-inf")
        self._book_ids: dict[int, bool] = {}  # book id -> is it our symbol
        self.trades_seen = 0
        self.side_switches: list[tuple[str, bool]] = []
        self._pending_ack: set[int] = set()

    # --- cached reads ------------------------------------------------------------------------------
    async def position(self) -> int:
        """Signed position, read through the venue at most every `position_update_interval_s`; position
        events and our fills keep it current in between."""
        now = self.ctx.clock.now_s()
        if now - self._position_at >= self.params.position_update_interval_s:
            self.stats.rest_calls += 1
            try:
                fresh = await self.ctx.fetch_positions(self.params.venue)
                self._position = fresh.get(self.params.symbol, 0)
            except Exception as err:  # a failed read keeps the cache; retried next interval
                self.ctx.log.warning("tier hunter: position read failed: %s", err)
            self._position_at = now
        return self._position

    async def refresh_equity(self) -> float | None:
        now = self.ctx.clock.now_s()
        if now - self._equity_at < self.params.equity_update_interval_s:
            return self.equity
        self._equity_at = now
        self.stats.rest_calls += 1
        try:
            bal = (await self.ctx.fetch_balances(self.params.venue)).get(self.params.collateral_asset)
        except Exception as err:
            self.ctx.log.warning("tier hunter: balance read failed: %s", err)
            return self.equity
        if bal is not None:
            self.equity = bal.total / 10**bal.decimals
        return self.equity

    # --- stream ------------------------------------------------------------------------------------
    def _ours(self, venue: str, book_id: int) -> bool:
        if venue != self.params.venue:
            return False
        hit = self._book_ids.get(book_id)
        if hit is None:
            hit = self._book_ids[book_id] = self.ctx.symbol_of(venue, book_id) == self.params.symbol
        return hit

    def on_book(self, ev: BookUpdate) -> None:
        self.stats.ws_messages += 1

    def on_trade(self, ev: Trade) -> None:
        self.stats.ws_messages += 1
        if self._ours(ev.venue, ev.book_id):
            self.trades_seen += 1
            self.flow.add(self.ctx.clock.now_s(), Side(ev.taker_side) is Side.BID, ev.sz)

    def on_position(self, ev: Position) -> None:
        self.stats.ws_messages += 1
        if self._ours(ev.venue, ev.book_id):
            self._position = ev.size

    def on_order(self, ev: OrderUpdate) -> None:
        self.stats.ws_messages += 1
        if ev.venue != self.params.venue:
            return
        state = OrderState(ev.state)
        if ev.client_id in self._pending_ack and state is not OrderState.PENDING_NEW:
            self._pending_ack.discard(ev.client_id)
            if state is OrderState.REJECTED:
                self.stats.failed_orders += 1  # counted as placed when sent
        if ev.client_id == self.live and ev.is_terminal:
            self.live = None

    def on_fill(self, ev: Fill) -> None:
        self.stats.ws_messages += 1
        order = self.ctx.order(ev.venue, ev.client_id) if ev.venue == self.params.venue else None
        if order is None or order.symbol != self.params.symbol:
            return
        side = Side(ev.side)
        self.stats.record_fill(side, ev.maker)
        m = self.market or self.ctx.market(self.params.venue, self.params.symbol)
        scale = 10 ** (m.price_decimals + m.size_decimals)
        self.stats.record_fee(ev.fee / scale)
        pnl = self.book.fill(side, ev.px, ev.sz)
        if pnl:
            self.stats.record_pnl(pnl / scale)
        # our own fill moves the position now; the position event (or the next read) confirms it
        self._position += ev.sz if side is Side.BID else -ev.sz

    # --- loop --------------------------------------------------------------------------------------
    async def on_start(self) -> None:
        self.market = self.ctx.market(self.params.venue, self.params.symbol)
        await self.refresh_equity()

    async def on_tick(self, now_ms: int) -> None:
        p, ctx = self.params, self.ctx
        m = self.market
        assert m is not None
        now = self.ctx.clock.now_s()
        await self.refresh_equity()
        self.writer.maybe_write(self.stats, self.equity, now_s=now)
        bid, ask = ctx.best_bid(p.venue, p.symbol), ctx.best_ask(p.venue, p.symbol)
        if bid is None or ask is None:
            return
        buy, sell = self.flow.volumes(now)
        self.ratio_ema = ema(self.ratio_ema, flow_ratio(buy, sell, p.max_ratio), p.imbalance_ema_alpha)
        wanted = pressure(self.ratio_ema, p.imbalance_threshold)
        if wanted is not None and not p.follow_flow:
            wanted = Side.ASK if wanted is Side.BID else Side.BID
        flow_side = self.selector.update(now, wanted)
        pos = await self.position()
        side, reduce = choose_side(pos, units(p.inventory_threshold, m.size_decimals), flow_side,
                                   p.force_reduce_on_inventory)
        if reduce:
            self.selector.force(now, side)  # immediate, no hold time
        size = abs(pos) if reduce else m.round_sz(units(p.order_size, m.size_decimals))
        if size <= 0:
            return
        off = p.quote_offset_ticks * m.tick
        price = bid[0] - off if side is Side.BID else ask[0] + off
        self._maintain(side, reduce, price, size)

    def _maintain(self, side: Side, reduce: bool, price: int, size: int) -> None:
        p, ctx = self.params, self.ctx
        m = self.market
        assert m is not None
        if self.live is not None:
            o = ctx.order(p.venue, self.live)
            if o is None or o.is_terminal:
                self.live = None
            else:
                stale = (o.side != side or o.reduce_only != reduce or o.remaining != size
                         or abs((o.px or 0) - price) >= p.requote_ticks * m.tick)
                if stale and OrderState(o.state) not in (OrderState.PENDING_CANCEL, OrderState.PENDING_NEW):
                    if o.side != side or o.reduce_only != reduce:
                        ctx.log.info("tier hunter %s: side %s%s -> %s%s (position %d)", p.symbol, o.side,
                                     " reduce" if o.reduce_only else "", side, " reduce" if reduce else "",
                                     self._position)
                    self.stats.rest_calls += 1
                    ctx.cancel(p.venue, self.live)
                return  # one order at a time: the next tick places the replacement
        if not self.side_switches or self.side_switches[-1] != (str(side), reduce):
            self.side_switches.append((str(side), reduce))
            ctx.record("tier_hunter_side", symbol=p.symbol, side=str(side), reduce_only=reduce,
                       position=self._position, ratio_ema=self.ratio_ema)
        self.stats.rest_calls += 1
        try:
            cid = ctx.place_limit(p.venue, p.symbol, side, price, size, post_only=True, reduce_only=reduce)
        except OrderDenied as err:
            self.stats.record_order(False)
            ctx.log.warning("tier hunter order denied: %s", err.reason)
            return
        self.stats.record_order(True)
        self._pending_ack.add(cid)
        self.live, self.live_reduce = cid, reduce

    async def on_stop(self) -> None:
        line = self.writer.maybe_write(self.stats, self.equity, now_s=float("inf"))
        self.ctx.log.info("tier hunter final stats: %s", line)

    def status(self) -> dict[str, Any]:
        s = self.stats
        return {"tier_side": str(self.selector.side), "tier_reduce_only": self.live_reduce,
                "tier_ratio_ema": self.ratio_ema, "tier_maker_fills": s.maker_fills,
                "tier_taker_fills": s.taker_fills, "tier_failed": s.failed_orders, "tier_pnl": s.total_pnl}
