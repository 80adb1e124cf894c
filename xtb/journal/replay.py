"""Replay a recorded event journal through a strategy against the simulator's matching engine.

    result = asyncio.run(replay("runs/2026-11-22T05-30-00/events.journal", config, out_dir="runs/replay-1"))

The strategy is the same class a live run uses, built by the same composition root (xtb.engine.runtime:
ring, tracker, dispatcher, engine position cache, risk guard, gateway, StrategyContext); only the venues
(`ReplayVenue`) and the clock differ. Time is the journal's: an `EventClock` moved by the replayed events,
so `ctx.clock.now_ns()`, timers and ticks run in journal time (a timer due inside a window fires before that
window's events are delivered, at its own deadline). Market data comes from the journal: book updates (top
of book) and trades. The recorded order/fill/position events of the original run are skipped: the replay
produces its own from the simulator. Orders the risk guard refuses are counted in `denied`, as live.

How recorded books meet the matching engine (see docs/journal.md for what this approximates): each
journal market is a market of one `xtb.sim.engine.Exchange` per venue; a "tape" account quotes the
recorded best bid and ask at their recorded sizes. The tape is re-quoted lazily, only when our account has
resting orders in that market (so a recorded move through our price fills us as maker) or right before
one of our orders reaches it (so an aggressive order takes the recorded touch). Book updates are
conflated per window (`window_ns`, like the live dispatcher's per-burst drain): the strategy sees the
latest book of each market once per window.

Outputs in `out_dir`: `events.journal` (this replay's own journal: market data as delivered plus the
simulated orders, fills and positions — the same file a live run writes, so `xtb report` reads it) and
`replay.json` (a summary: events, orders, fills, final positions, PnL inputs); with `records=True` also the
run records a live run writes (`records.sqlite`: orders, fills, positions, equity and the strategy's own
rows; `stats.log`), from the same telemetry listener.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xtb._core import EventRing, JournalReader, JournalWindows
from xtb._core import Position as PositionEvent
from xtb.config import XtbConfig
from xtb.engine.clock import EventClock
from xtb.engine.context import RecordSink
from xtb.engine.dispatcher import Dispatcher
from xtb.engine.gateway import OrderGateway
from xtb.engine.registry import get_strategy
from xtb.engine.runtime import Runtime
from xtb.journal.fills import FillIntensity, IntensityDraws
from xtb.model.types import MarketInfo, OrderKind, OrderRequest, PositionInfo, Side, SubmitOutcome, SubmitResult
from xtb.sim.clock import VirtualClock
from xtb.sim.engine import Exchange
from xtb.sim.types import (
    AccountConfig,
    FillEvent,
    FundingEvent,
    MarketSpec,
    OrderEvent,
    OrderEventKind,
    OrderType,
    SimError,
    VenueRules,
)
from xtb.sim.types import OrderRequest as SimOrder
from xtb.sim.types import (
    PositionEvent as SimPositionEvent,
)
from xtb.sim.types import Side as SimSide
from xtb.sim.types import (
    TimeInForce as SimTif,
)
from xtb.telemetry.journal_markets import MARKETS_SUFFIX, generic_market, load_markets, markets_path, write_markets
from xtb.transport.rest import RestClient

log = logging.getLogger("xtb.replay")

# The markets side file lives in xtb/telemetry/journal_markets.py (the engine writes it); re-exported for callers.
__all__ = ["MARKETS_SUFFIX", "generic_market", "load_markets", "markets_path", "replay", "write_markets"]

#: collateral of the replay and tape accounts, in quote units (margin is not what a replay studies)
COLLATERAL_QUOTE = 10**12


def latency_samples(journal: str | Path) -> list[float]:
    """A run's own order round trips, in ms, from its journal: for each order, the time from its submit (the
    tracker's `pending_new`) to the venue's first answer (acknowledged, rejected, filled, ...). For
    `replay(..., latency_ms=samples)`: the replay's orders then meet the book as late as the run's did."""
    sent: dict[tuple[str, int], int] = {}
    out: list[float] = []
    reader = JournalReader(journal)
    while batch := reader.read_batch(8192):
        for ev in batch:
            if ev.kind != "order":
                continue
            key = (ev.venue, ev.client_id)
            if ev.state == "pending_new":
                sent.setdefault(key, ev.recv_ns)
            elif key in sent:
                out.append(max(0, ev.recv_ns - sent.pop(key)) / 1e6)
    return out


class OrderLatency:
    """Order latency in replay: each submit or cancel reaches the simulated venue `delay` after it was sent,
    in the journal's time (an `EventClock` timer), so it meets the book as recorded then. The delay is a
    constant, or drawn (seeded) from samples, e.g. a run's own tick-to-order plus venue round-trip times."""

    def __init__(self, clock: EventClock, latency_ms: float | Sequence[float], seed: int = 0) -> None:
        samples = [float(latency_ms)] if isinstance(latency_ms, (int, float)) else [float(x) for x in latency_ms]
        if not samples or any(not x >= 0 for x in samples):
            raise ValueError(f"latency_ms: expected a delay or samples >= 0 ms, got {latency_ms!r}")
        self.clock, self.samples = clock, samples
        self._rng = random.Random(seed)
        self.waiting = 0  # sends held by the delay (the replay moves on while they wait)

    def delay_s(self) -> float:
        ms = self.samples[0] if len(self.samples) == 1 else self._rng.choice(self.samples)
        return ms / 1000

    async def wait(self) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def arrive() -> None:
            # a timer of the replay's clock: the send goes on now, at its own time, before later timers and
            # before the window's events (the clock awaits this callback)
            self.waiting -= 1
            fut.set_result(None)
            for _ in range(3):
                await asyncio.sleep(0)

        self.waiting += 1
        timer = self.clock.call_later(self.delay_s(), arrive)
        try:
            await fut
        except asyncio.CancelledError:
            if not fut.done():
                timer.cancel()
                self.waiting -= 1
            raise


QUEUE_MODELS = ("none", "risk_averse", "probabilistic")

#: recorded funding rates (MarkPrice.funding_rate) are in 10^-8 per interval
FUNDING_RATE_SCALE = 10**8


class RecordedFunding:
    """One market's recorded funding schedule: the latest recorded rate and the funding time it applies at."""

    __slots__ = ("due_ms", "rate", "settled_ms")

    def __init__(self) -> None:
        self.rate = 0  # 10^-8 per interval, > 0: longs pay
        self.due_ms = 0  # the next funding time (Unix ms) not yet settled; 0: none
        self.settled_ms = 0  # the last funding time settled


class QueueSlot:
    """Where one of our resting orders stands in its price level's queue (hftbacktest's queue models, on the
    recorded top of book and public trades).

    `ahead`: recorded quantity in front of us, the level's size when we joined at the touch (0 when our price
    improved the touch). Trades at our price consume it first; what trades past it fills us. When the level
    shrinks without a trade, `risk_averse` assumes the cancels were behind us (we only move up as far as the
    level is now smaller than what is ahead), `probabilistic` moves us up by the share of the decrease that
    came from in front: (1 - p) with p = f(back) / (f(back) + f(front)), f(x) = x**power."""

    __slots__ = ("ahead", "level", "model", "power")

    def __init__(self, model: str, ahead: int, power: float = 3.0) -> None:
        self.model, self.power = model, power
        self.ahead = float(ahead)
        self.level = float(ahead)  # the level's recorded size (not counting us)

    def on_trade(self, size: int) -> int:
        """A print at our price against our side: the quantity that reaches us (to fill, before our size cap)."""
        past = size - self.ahead
        self.ahead = max(0.0, self.ahead - size)
        self.level = max(self.ahead, self.level - size)
        return max(0, math.floor(past + 1e-9))

    def on_level(self, size: int) -> None:
        """The level's recorded size is now `size` (after the trades already counted)."""
        if size < self.level:
            if self.model == "probabilistic":
                change = self.level - size
                front, back = self.ahead, max(0.0, self.level - self.ahead)
                fb, ff = back**self.power, front**self.power
                p_back = fb / (fb + ff) if fb + ff > 0 else 1.0
                self.ahead = max(0.0, self.ahead - (1.0 - p_back) * change)
            self.ahead = min(self.ahead, float(size))
        self.level = float(size)


class TopBook:
    """The recorded top of one book, with the read API strategies use on a core OrderBook."""

    __slots__ = ("ask", "bid", "seq", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bid: tuple[int, int] | None = None
        self.ask: tuple[int, int] | None = None
        self.seq = 0

    def best_bid(self) -> tuple[int, int] | None:
        return self.bid

    def best_ask(self) -> tuple[int, int] | None:
        return self.ask

    def top(self, n: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return ([self.bid] if self.bid else []), ([self.ask] if self.ask else [])

    @property
    def is_stale(self) -> bool:
        return False


class ReplayVenue:
    """A connector stand-in for one venue: recorded books, orders matched by a simulated Exchange."""

    limiter = None
    reports_fill_fees = True  # recorded fills carry the fee the simulated exchange charged

    def rest_clients(self) -> list[RestClient]:
        return []  # no REST: the journal is the venue

    def feed_frames(self) -> int:
        return 0

    def __init__(self, venue: str, markets: dict[int, MarketInfo], tracker: Any, ring: EventRing,
                 clock: VirtualClock, latency: OrderLatency | None = None, queue: str = "none",
                 funding: tuple[int, int] | None = None, fills: FillIntensity | None = None) -> None:
        if queue not in QUEUE_MODELS:
            raise ValueError(f"queue: expected one of {', '.join(QUEUE_MODELS)}, got {queue!r}")
        if fills is not None and queue != "none":
            raise ValueError("queue: the queue models place orders in the recorded queue; with fills from an "
                             "intensity model use queue none")
        self.venue = venue
        self.queue_model = queue
        # (rate ppm per interval, wall - monotonic offset): funding on open positions at the recorded mid, at
        # each interval boundary of UTC time (the venues' schedule), in the journal's time
        self.funding = funding
        self._funding_armed: set[int] = set()
        # recorded funding (MarkPrice events): book_id -> schedule; these books pay the recorded rates, not `funding`
        self._recorded: dict[int, RecordedFunding] = {}
        self.funding_paid = 0  # our account's funding, cash units (> 0: paid), whichever path charged it
        self.funding_settlements = 0  # funding times at which our account held a position and paid or received
        self._queue: dict[int, tuple[int, SimSide, int, QueueSlot]] = {}  # our order id -> book, side, px, slot
        self.latency = latency  # the order path's delay, in the replay's (the journal's) time
        self.tracker = tracker
        self.ring = ring
        self._markets: dict[str, MarketInfo] = {}
        self._book_of_symbol: dict[str, int] = {}
        self._symbol_of_book: dict[int, str] = {}
        self.known_books: set[int] = set()
        self.books: dict[str, TopBook] = {}
        cash = max((m.price_decimals + m.size_decimals for m in markets.values()), default=0)
        self.exchange = Exchange(VenueRules(cash_decimals=max(18, cash)), clock=clock)
        for book_id, m in markets.items():
            self.add_book(book_id, m)
        collateral = COLLATERAL_QUOTE * 10**self.exchange.rules.cash_decimals
        self.account = self.exchange.create_account(collateral)
        self.tape = self.exchange.create_account(
            collateral, config=AccountConfig(check_margin=False, check_order_limits=False))
        self._tape_orders: dict[int, list[int]] = {}  # book_id -> tape order ids
        self._tape_synced: dict[int, tuple[Any, Any]] = {}  # book_id -> (bid, ask) the tape quotes
        self._open: dict[int, set[int]] = {}  # book_id -> our open order ids there
        self.exchange.subscribe(self._on_sim_event)
        self.fills = 0
        # fills of resting orders from a fill intensity instead of the recorded tape (xtb/journal/fills.py)
        self.intensity = None if fills is None else IntensityDraws(fills, venue)
        if fills is not None:
            self._book_ns: dict[int, int] = {}  # book_id -> recorded time of its last delivered update
            self.on_book = self._on_book_intensity  # type: ignore[method-assign]

    def add_book(self, book_id: int, market: MarketInfo | None = None) -> None:
        """Make `book_id` a market of this venue (a generic one unless `market` names it)."""
        if book_id in self.known_books:
            return
        m = market or generic_market(self.venue, book_id)
        self.exchange.add_market(MarketSpec(
            market_id=book_id, symbol=m.symbol, price_decimals=m.price_decimals, size_decimals=m.size_decimals,
            maker_fee_ppm=m.maker_fee_ppm, taker_fee_ppm=m.taker_fee_ppm,
        ))
        self._markets[m.symbol] = m
        self._book_of_symbol[m.symbol] = book_id
        self._symbol_of_book[book_id] = m.symbol
        self.books[m.symbol] = TopBook(m.symbol)
        self.known_books.add(book_id)

    def markets_by_book(self) -> dict[int, MarketInfo]:
        return {b: self._markets[s] for b, s in self._symbol_of_book.items()}

    # --- the Connector surface a strategy reaches through its context ----------------------------
    def markets(self) -> dict[str, MarketInfo]:
        return self._markets

    def book(self, symbol: str) -> TopBook:
        return self.books[symbol]

    def top_of_book(self, symbol: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        b = self.books[symbol]
        return b.bid, b.ask

    def symbol_of_book(self, book_id: int) -> str | None:
        return self._symbol_of_book.get(book_id)

    async def positions(self) -> dict[str, PositionInfo]:
        out = {}
        for pv in self.exchange.positions(self.account):
            sym = self._symbol_of_book[pv.market]
            out[sym] = PositionInfo(sym, pv.size, self.entry_px(pv), source="stream")
        return out

    # --- market data -------------------------------------------------------------------------------
    def on_book(self, ev: Any) -> None:
        sym = self._symbol_of_book.get(ev.book_id)
        if sym is None:
            return
        b = self.books[sym]
        b.bid, b.ask, b.seq = ev.best_bid, ev.best_ask, ev.book_seq
        if self.funding is not None and b.bid is not None and b.ask is not None and ev.book_id not in self._recorded:
            self._mark(ev.book_id, b)
        if self._queue:
            self._queue_levels(ev.book_id, b)
        if self._open.get(ev.book_id) and self.intensity is None:
            self._sync_tape(ev.book_id)

    def _on_book_intensity(self, ev: Any) -> None:
        """`on_book` with intensity fills: the step since the book's previous update fills our resting orders
        (against the mid of that step), then the book moves on as in `on_book` (the tape is not re-quoted)."""
        sym = self._symbol_of_book.get(ev.book_id)
        if sym is None:
            return
        b = self.books[sym]
        last_ns = self._book_ns.get(ev.book_id)
        self._book_ns[ev.book_id] = ev.recv_ns
        if (last_ns is not None and ev.recv_ns > last_ns and b.bid is not None and b.ask is not None
                and self._open.get(ev.book_id)):
            self._intensity_step(ev.book_id, b.bid[0] + b.ask[0], (ev.recv_ns - last_ns) / 1e9)
        ReplayVenue.on_book(self, ev)

    def _intensity_step(self, book_id: int, mid2: int, dt_s: float) -> None:
        """One step of the fill intensity on book `book_id`: `mid2` is twice the step's mid (price units)."""
        assert self.intensity is not None
        m = self._markets[self._symbol_of_book[book_id]]
        scale = 2 * 10**m.price_decimals  # distances in price (quote per base unit), as the model's k
        mine = self.exchange.open_orders(self.account, book_id)
        for side in (SimSide.BUY, SimSide.SELL):
            sign = 1 if side is SimSide.BUY else -1
            # (distance in twice-price units, price, remaining), best-priced first
            orders = sorted((sign * (mid2 - 2 * o.price), o.price, o.remaining) for o in mine
                            if o.side is side and o.price is not None and o.remaining > 0)
            if not orders:
                continue
            n = self.intensity.reach([d / scale for d, _, _ in orders], dt_s)
            if n:
                qty = sum(rem for _, _, rem in orders[:n])
                cap = self.intensity.model.size
                if cap is not None:
                    qty = min(qty, max(1, int(cap.scaleb(m.size_decimals))))
                self._queue_fill(0, book_id, side, orders[n - 1][1], qty)  # 0: no one order (logs only)

    # --- funding ----------------------------------------------------------------------------------------
    def _mark(self, book_id: int, b: TopBook) -> None:
        assert self.funding is not None and b.bid is not None and b.ask is not None
        ex = self.exchange
        ex.set_mark_price(book_id, (b.bid[0] + b.ask[0]) // 2)
        if book_id not in self._funding_armed:  # first two-sided book: the rate, the next UTC boundary
            self._funding_armed.add(book_id)
            rate, offset = self.funding
            ex.set_funding_rate(book_id, rate)
            ms = ex._market(book_id)  # the simulator's own schedule, moved onto UTC boundaries
            interval = ms.spec.funding_interval_ns
            ms.next_funding_ns = ((ex.clock.now_ns() + offset) // interval + 1) * interval - offset

    def poll_funding(self, now_wall_ns: int) -> None:
        """The journal's clock moved to `now_wall_ns`: settle what is due (recorded funding times, the constant
        rate's interval boundaries)."""
        for book_id, st in self._recorded.items():
            if st.due_ms and st.due_ms * 1_000_000 <= now_wall_ns:
                self._settle_recorded(book_id, st)
        if self._funding_armed:
            self.exchange.poll_timers()

    def funding_source(self) -> str:
        """"recorded" (MarkPrice events), "constant" (`funding_ppm`), both (per market) or "none"."""
        used = [name for name, on in (("recorded", self._recorded), ("constant", self._funding_armed)) if on]
        return "+".join(used) or "none"

    def on_mark(self, ev: Any) -> None:
        """A recorded mark price (MarkPrice event): the market's mark from now on (funding, margin), and its funding
        schedule. Funding is settled once per recorded funding time T, at the recorded rate published before T, on
        the position held then: when the journal's clock reaches T (`poll_funding`), or here when the recorded
        stream already announces a later funding time (the venue's clock ahead of ours)."""
        book_id = ev.book_id
        if book_id not in self.known_books or ev.mark_px <= 0:
            return
        st = self._recorded.get(book_id)
        if st is not None and st.due_ms and ev.next_funding_ms > st.due_ms:
            self._settle_recorded(book_id, st)  # at the mark recorded before T
        index = ev.index_px if ev.index_px is not None and ev.index_px > 0 else None
        self.exchange.set_mark_price(book_id, ev.mark_px, index)
        if ev.funding_rate is None or not ev.next_funding_ms:
            return
        if st is None:
            st = self._recorded[book_id] = RecordedFunding()
            # the simulator's own schedule pays nothing here (neither the constant rate nor its premium estimate)
            self.exchange.set_funding_rate(book_id, 0)
            self._funding_armed.discard(book_id)
        st.rate = ev.funding_rate
        if ev.next_funding_ms > st.settled_ms:
            st.due_ms = ev.next_funding_ms

    def _settle_recorded(self, book_id: int, st: RecordedFunding) -> None:
        self.exchange.settle_funding(book_id, st.rate, rate_scale=FUNDING_RATE_SCALE)
        st.settled_ms, st.due_ms = st.due_ms, 0

    # --- queue position (QueueSlot) -----------------------------------------------------------------------
    def _level_size(self, b: TopBook, side: SimSide, px: int) -> int | None:
        """The recorded size at `px` on `side`: the touch's size there, 0 when the touch is behind `px` (the
        level is gone), None when `px` is behind the touch (top of book only: not seen)."""
        touch = b.bid if side is SimSide.BUY else b.ask
        if touch is None:
            return 0
        if touch[0] == px:
            return int(touch[1])
        better = touch[0] > px if side is SimSide.BUY else touch[0] < px
        return None if better else 0

    def _queue_join(self, o: Any) -> None:
        b = self.books[self._symbol_of_book[o.market]]
        ahead = self._level_size(b, o.side, o.price) or 0
        self._queue[o.order_id] = (o.market, o.side, o.price, QueueSlot(self.queue_model, ahead))

    def _queue_levels(self, book_id: int, b: TopBook) -> None:
        for market, side, px, slot in self._queue.values():
            if market == book_id:
                size = self._level_size(b, side, px)
                if size is not None:
                    slot.on_level(size)

    def on_trade(self, ev: Any) -> None:
        """A recorded public print: it consumes the queue in front of our orders at its price, then fills them."""
        if not self._queue or ev.book_id not in self.known_books:
            return
        # a taker sell ("ask") trades against bids, a taker buy against asks
        side = SimSide.BUY if ev.taker_side == "ask" else SimSide.SELL
        for oid, (market, o_side, px, slot) in list(self._queue.items()):
            if market == ev.book_id and o_side is side and px == ev.px:
                reach = slot.on_trade(ev.sz)
                if reach > 0:
                    self._queue_fill(oid, market, side, px, reach)

    def _queue_fill(self, oid: int, market: int, side: SimSide, px: int, qty: int) -> None:
        """Fill our resting order `oid` by `qty` at `px`: the tape takes it (the tape's own quotes are pulled
        first so that ours is the one at that price), then the tape re-quotes the recorded touch (not with intensity
        fills: there the tape quotes only for an order of ours that takes it)."""
        ex = self.exchange
        self._pull_tape(market)
        taker = SimSide.SELL if side is SimSide.BUY else SimSide.BUY
        try:
            ex.place_order(SimOrder(account=self.tape, market=market, side=taker, quantity=qty, price=px,
                                    time_in_force=SimTif.IOC))
        except SimError as e:
            log.debug("queue fill of order %d refused: %s", oid, e)
        if self.intensity is None:  # intensity fills: the tape is re-quoted only when an order of ours arrives
            self._sync_tape(market)

    def _pull_tape(self, book_id: int) -> None:
        for tid in self._tape_orders.pop(book_id, ()):
            try:
                self.exchange.cancel_order(self.tape, book_id, order_id=tid)
            except SimError:
                pass  # already filled
        self._tape_synced.pop(book_id, None)

    def _sync_tape(self, book_id: int) -> None:
        b = self.books[self._symbol_of_book[book_id]]
        want = (b.bid, b.ask)
        if self.intensity is not None:  # the tape never trades with our resting orders: the model fills them
            want = self._uncrossed(book_id, want)
        if self._tape_synced.get(book_id) == want:
            return
        ex = self.exchange
        self._pull_tape(book_id)
        ids = []
        for level, side in zip(want, (SimSide.BUY, SimSide.SELL), strict=True):
            if level is None or level[1] <= 0:
                continue
            try:
                view = ex.place_order(SimOrder(account=self.tape, market=book_id, side=side, quantity=level[1],
                                               price=level[0]))
            except SimError as e:
                log.debug("tape quote refused on book %d: %s", book_id, e)
                continue
            ids.append(view.order_id)
        self._tape_orders[book_id] = ids
        self._tape_synced[book_id] = want

    def _uncrossed(self, book_id: int, levels: tuple[Any, Any]) -> tuple[Any, Any]:
        """The recorded (bid, ask) without a level that would trade with one of our resting orders."""
        bid, ask = levels
        mine = self.exchange.open_orders(self.account, book_id)
        our_bid = max((o.price for o in mine if o.side is SimSide.BUY and o.price is not None), default=None)
        our_ask = min((o.price for o in mine if o.side is SimSide.SELL and o.price is not None), default=None)
        if bid is not None and our_ask is not None and bid[0] >= our_ask:
            bid = None
        if ask is not None and our_bid is not None and ask[0] <= our_bid:
            ask = None
        return bid, ask

    # --- orders (the gateway's VenueOrderPort) ----------------------------------------------------
    def limit_key(self, op: str, count: int) -> tuple[str, int]:
        return (f"replay:{op}", count)

    def prepare_submit(self, reqs: Sequence[OrderRequest]) -> Sequence[OrderRequest]:
        for r in reqs:
            if r.symbol not in self._markets:
                raise KeyError(f"{self.venue} has no market {r.symbol!r} in this journal")
        return reqs

    async def send_submit(self, reqs: Sequence[OrderRequest]) -> list[SubmitResult]:
        if self.latency is not None:
            await self.latency.wait()  # the order reaches the venue later, on the book as it is then
        out = []
        for r in reqs:
            book_id = self._book_of_symbol[r.symbol]
            market = r.kind is OrderKind.MARKET
            # intensity fills: the tape quotes the recorded touch only for an order that reaches it
            taking = self.intensity is None or market or self._reaches_touch(book_id, r)
            if taking:
                self._sync_tape(book_id)
            tif = {"gtc": SimTif.GTC, "ioc": SimTif.IOC, "fok": SimTif.FOK}[r.tif.value]
            req = SimOrder(account=self.account, market=book_id,
                           side=SimSide.BUY if r.side is Side.BID else SimSide.SELL, quantity=r.size,
                           price=r.price, order_type=OrderType.MARKET if market else OrderType.LIMIT,
                           time_in_force=SimTif.IOC if market else tif, post_only=r.post_only,
                           reduce_only=r.reduce_only, client_id=r.client_id)
            try:
                view = self.exchange.place_order(req)
            except SimError as e:
                out.append(SubmitResult(r.client_id, SubmitOutcome.REJECTED, reason=str(e)))
                continue
            finally:
                if taking and self.intensity is not None:
                    self._pull_tape(book_id)
            out.append(SubmitResult(r.client_id, SubmitOutcome.ACCEPTED, venue_order_id=str(view.order_id)))
        return out

    def _reaches_touch(self, book_id: int, r: OrderRequest) -> bool:
        """A limit order priced at or through the recorded opposite touch (it would take it, or post-only fail)."""
        b = self.books[self._symbol_of_book[book_id]]
        if r.side is Side.BID:
            return b.ask is not None and r.price is not None and r.price >= b.ask[0]
        return b.bid is not None and r.price is not None and r.price <= b.bid[0]

    def prepare_cancel(self, symbol: str, client_ids: Sequence[int]) -> tuple[str, Sequence[int]]:
        return symbol, client_ids

    async def send_cancel(self, prepared: tuple[str, Sequence[int]]) -> list[SubmitResult]:
        if self.latency is not None:
            await self.latency.wait()
        symbol, cids = prepared
        book_id = self._book_of_symbol[symbol]
        out = []
        for cid in cids:
            try:
                self.exchange.cancel_order(self.account, book_id, client_id=cid)
            except SimError as e:
                out.append(SubmitResult(cid, SubmitOutcome.REJECTED, reason=str(e)))
                continue
            out.append(SubmitResult(cid, SubmitOutcome.ACCEPTED))
        return out

    # --- simulator events -> tracker and ring (as a live connector's private stream would) -------
    def _on_sim_event(self, ev: Any) -> None:
        if isinstance(ev, FundingEvent):
            if ev.account == self.account:
                self.funding_paid += ev.amount
                self.funding_settlements += 1
            return
        if isinstance(ev, FillEvent):
            f = ev.fill
            if f.account != self.account or f.client_id is None:
                return
            self.fills += 1
            scale = self.exchange.cash_scale(f.market)
            self.tracker.on_fill(f.client_id, self.venue, f.trade_id, f.price, f.quantity, maker=f.is_maker,
                                 fee=f.fee // scale, order_id=str(f.order_id), ts_ns=f.ts_ns)
        elif isinstance(ev, OrderEvent):
            o = ev.order
            if o.account != self.account:
                return
            open_ids = self._open.setdefault(o.market, set())
            if o.status.is_open:
                open_ids.add(o.order_id)
                if self.queue_model != "none" and o.order_id not in self._queue and o.price is not None:
                    self._queue_join(o)
            else:
                open_ids.discard(o.order_id)
                self._queue.pop(o.order_id, None)
            if o.client_id is not None and ev.kind is OrderEventKind.EXPIRED:
                    self.tracker.on_expire(o.client_id, self.venue, str(o.reason.value), ts_ns=ev.ts_ns)
            elif o.client_id is not None and ev.kind is OrderEventKind.CANCELLED:
                self.tracker.on_cancel(o.client_id, self.venue, str(o.reason.value), ts_ns=ev.ts_ns)
        elif isinstance(ev, SimPositionEvent):
            p = ev.position
            if p.account == self.account:
                self.ring.push(PositionEvent(self.venue, p.market, p.size, self.entry_px(p), recv_ns=ev.ts_ns))

    def pnl(self) -> float:
        """Our account's PnL in quote currency: the cash change (realized, fees, funding) plus each open position
        marked at the last recorded mid (at its entry when the book was never seen two-sided)."""
        ex = self.exchange
        cash = ex.balance(self.account).cash - COLLATERAL_QUOTE * 10**ex.rules.cash_decimals
        for pv in ex.positions(self.account):
            if not pv.size:
                continue
            book = self.books.get(self._symbol_of_book.get(pv.market, ""))
            if book is not None and book.bid is not None and book.ask is not None:
                mid2 = book.bid[0] + book.ask[0]  # twice the mid, in price units
                cash += (pv.size * mid2 * ex.cash_scale(pv.market)) // 2 - pv.cost
        return float(cash / 10**ex.rules.cash_decimals)

    def entry_px(self, p: Any) -> int:
        """Average entry price in price units (the position's cost is in cash units), rounded half up."""
        size: int = abs(p.size)
        if size == 0:
            return 0
        denom = size * self.exchange.cash_scale(p.market)
        return (2 * abs(int(p.cost)) + denom) // (2 * denom)


@dataclass
class ReplayResult:
    events_read: int = 0
    book_events: int = 0
    delivered: int = 0
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    truncated: bool = False
    #: orders the risk guard refused, per reason (as in a live run's gateway stats)
    denied: dict[str, int] = field(default_factory=dict)
    timers: int = 0  # timer firings (ticks included), in journal time
    #: quote currency: cash change (fees, realized PnL, funding) plus open positions marked at the last recorded mid
    pnl: float = 0.0
    #: funding our positions paid (> 0) or received (< 0), quote currency, included in `pnl`; `funding_source`:
    #: "recorded" (the journal's MarkPrice events), "constant" (`funding_ppm`, for journals without them),
    #: "recorded+constant" (per market) or "none"
    funding: float = 0.0
    funding_source: str = "none"
    funding_settlements: int = 0
    seconds: float = 0.0
    out_dir: str | None = None
    #: what filled resting orders: {"model": "tape", "queue": ...} or the intensity model's parameters
    fill_model: dict[str, Any] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        return self.events_read / self.seconds if self.seconds > 0 else 0.0


class _Counter:
    """Venue-independent per-venue client ids, deterministic from 1."""

    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


async def replay(
    journal: str | Path,
    config: XtbConfig,
    *,
    strategy: str | None = None,
    out_dir: str | Path | None = None,
    window_ns: int = 1_000_000,
    progress: Callable[[int, int], None] | None = None,
    sink: RecordSink | None = None,
    records: bool = False,
    latency_ms: float | Sequence[float] = 0.0,
    seed: int = 0,
    queue: str = "none",
    funding_ppm: float | None = None,
    fills: FillIntensity | None = None,
) -> ReplayResult:
    """Run `strategy` (default: the config's) over the journal's market data; see the module docstring.

    `progress(bytes_read, file_size)` is called after each chunk; `sink` receives the strategy's
    `ctx.record()` rows and gauges (e.g. the run's SQLite recorder), as in a live run. `latency_ms`: the
    order path's delay in journal time, a constant or samples drawn with `seed` (`OrderLatency`). `queue`:
    "none" (only a recorded touch through our price fills a resting order), "risk_averse" or "probabilistic"
    (recorded prints at our price also fill it once the queue ahead is used up: `QueueSlot`). Funding: a journal
    with MarkPrice events (the venue's mark price stream) pays the recorded rates at the recorded funding times
    (`ReplayVenue.on_mark`); for markets without them, `funding_ppm` is a funding rate per funding interval (ppm
    of notional; > 0: longs pay) charged on open positions at the recorded mid at each UTC interval boundary
    (hourly) of journal time. `funding_source` in the result says which was used. `fills`: resting orders fill
    from that fill intensity (A*exp(-k*delta) per second, seeded draws; xtb/journal/fills.py) instead of the
    recorded tape.
    """
    path = Path(journal)
    spec = get_strategy(strategy or config.strategy.name)
    params = spec.parse_params(config.strategy.params if (strategy is None or strategy == config.strategy.name)
                               else {})
    all_markets = load_markets(path)
    windows = JournalWindows(path, window_ns)
    wall_offset_ns = windows.start_wall_ns - windows.start_monotonic_ns
    sim_clock = VirtualClock(0)  # the simulated exchanges' time: the journal's monotonic clock

    funding = None if funding_ppm is None else (round(funding_ppm), wall_offset_ns)

    def follow(now_wall_ns: int) -> None:
        # the exchanges stamp orders and fills with the strategy clock's time (a timer's own deadline)
        if now_wall_ns - wall_offset_ns > sim_clock.now_ns():
            sim_clock.set(now_wall_ns - wall_offset_ns)
            for v in venues.values():
                v.poll_funding(now_wall_ns)

    # The live stack from the one composition root: only the venues (replayed) and the clock (the journal's,
    # advanced by events; timers fire in event time) differ. The risk guard is there as live.
    # from the journal's own start (a strategy built now reads a sensible time), moved by its events
    clock = EventClock(windows.start_wall_ns, on_advance=follow)
    latency = None if latency_ms == 0 else OrderLatency(clock, latency_ms, seed)
    rt = Runtime(config, mode="replay", clock=clock)
    ring, tracker, dispatcher = rt.ring, rt.tracker, rt.dispatcher
    out_path = None
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        out_path = Path(out_dir) / "events.journal"
        rt.start_journal(out_path, {"replay_of": str(path), "strategy": spec.name})
    for name, markets in all_markets.items():
        rt.add_venue(name, ReplayVenue(name, markets, tracker, ring, sim_clock, latency, queue, funding, fills),
                     _Counter())
    venues: dict[str, ReplayVenue] = rt.connectors  # shared with the gateway: venues found later join it
    ids = rt.client_ids
    rt.listen_to_venues(connectors=False)  # the replay feeds its venues' books itself, before each push
    rt.build_risk()
    gateway = rt.build_gateway()
    telemetry = None
    if records and out_dir is not None:
        telemetry = _replay_telemetry(spec.name, Path(out_dir), config, venues, tracker, ring, dispatcher, gateway)
        sink = sink or telemetry.sink
    strat = rt.add_strategy(spec, params, sink=sink)
    if telemetry is not None:
        rt.add_listener(telemetry)  # after the strategy, as in a live run
    res = ReplayResult(out_dir=None if out_dir is None else str(out_dir))
    res.fill_model = {"model": "tape", "queue": queue} if fills is None else {
        "model": "intensity", "a": fills.a, "k": fills.k, "seed": fills.seed,
        "size": None if fills.size is None else str(fills.size)}
    tick_s = config.general.tick_interval_ms / 1000
    t0 = time.perf_counter()
    started = False

    async def tick() -> None:
        tick_ms = clock.now_ms()
        if rt.risk is not None:
            rt.risk.mark_to_market()
        if telemetry is not None:
            telemetry.tick_started(tick_ms)
        await strat.on_tick(tick_ms)
        if telemetry is not None:
            telemetry.on_tick(tick_ms)

    def venue_for(name: str, book_id: int) -> ReplayVenue:
        """A venue or book the markets file does not name: a generic market (integer units)."""
        v = venues.get(name)
        if v is None:
            v = ReplayVenue(name, {}, tracker, ring, sim_clock, latency, queue, funding, fills)
            rt.add_venue(name, v, _Counter())
        v.add_book(book_id)
        return v

    push = ring.push
    drain = dispatcher.drain

    async def settle_orders() -> None:
        res.delivered += drain()
        # the gateway's send tasks (synchronous against the simulator), except those a latency holds back:
        # they arrive when the journal's time reaches them
        while gateway.in_flight > (0 if latency is None else latency.waiting):
            await asyncio.sleep(0)
            res.delivered += drain()

    while chunk := windows.next_windows(8192):
        for end_ns, events in chunk:
            end_wall = end_ns + wall_offset_ns
            if not started:
                # The clock starts at the first event; the strategy starts there and ticks every interval.
                started = True
                clock.start_at(end_wall)
                await strat.on_start()
                clock.every(tick_s, tick)
                await settle_orders()
            else:
                next_timer = clock.next_deadline
                # Timers (ticks included) due by this window's end fire first, each at its own time, on the
                # books as they stood: nothing of this window has been delivered yet.
                fired = await clock.advance_to(end_wall)
                if next_timer is not None and next_timer <= end_wall:
                    res.timers += fired
                    await settle_orders()
            for ev in events:
                if ev.kind == "book":
                    v = venues.get(ev.venue)
                    if v is None or ev.book_id not in v.known_books:
                        v = venue_for(ev.venue, ev.book_id)
                    v.on_book(ev)
                    res.book_events += 1
                    push(ev)
                elif ev.kind == "trade":
                    v = venues.get(ev.venue)
                    if v is not None:
                        v.on_trade(ev)
                    push(ev)
                elif ev.kind == "mark":
                    v = venues.get(ev.venue)
                    if v is None or ev.book_id not in v.known_books:
                        v = venue_for(ev.venue, ev.book_id)
                    v.on_mark(ev)
                    push(ev)
                elif ev.kind == "resync":
                    push(ev)
            await settle_orders()
        if progress is not None:
            progress(*windows.progress)
    res.events_read = windows.events_read
    res.book_events += windows.coalesced
    if not started:
        await strat.on_start()
    await strat.on_stop()
    if latency is not None:  # what was sent last arrives too (ticks may fire meanwhile)
        for _ in range(100):
            if not gateway.in_flight:
                break
            await clock.advance_to(clock.now_ns() + round(max(latency.samples) * 1_000_000) + 1)
            await settle_orders()
    clock.cancel_all()
    await gateway.drain(5.0)
    res.delivered += dispatcher.drain()
    if telemetry is not None:
        telemetry.close()
    res.seconds = time.perf_counter() - t0
    res.truncated = windows.truncated
    res.fills = sum(v.fills for v in venues.values())
    res.denied = dict(gateway.stats.denied)
    sources: set[str] = set()
    for venue, v in venues.items():
        res.pnl += v.pnl()
        res.funding += v.funding_paid / 10**v.exchange.rules.cash_decimals
        res.funding_settlements += v.funding_settlements
        sources.update(v.funding_source().split("+"))
        sources.discard("none")
        for pv in v.exchange.positions(v.account):
            if pv.size:
                res.positions[f"{venue}:{v.symbol_of_book(pv.market)}"] = pv.size
        counter = ids[venue]
        assert isinstance(counter, _Counter)
        for cid in range(1, counter.n + 1):
            o = tracker.get(cid, venue)
            if o is not None:
                res.orders.append({"venue": venue, "client_id": cid, "symbol": o.symbol, "side": o.side,
                                   "px": o.px, "sz": o.sz, "state": o.state, "filled": o.filled})
    res.funding_source = "+".join(x for x in ("recorded", "constant") if x in sources) or "none"
    if out_path is not None:
        rt.write_journal_markets({name: v.markets_by_book() for name, v in venues.items()})
        rt.close_journal()
        summary = {k: v for k, v in vars(res).items()}
        summary["events_per_s"] = res.events_per_s
        (Path(out_dir) / "replay.json").write_text(json.dumps(summary, indent=1))  # type: ignore[arg-type]
    return res


def _replay_telemetry(strategy: str, out_dir: Path, config: XtbConfig, venues: dict[str, Any], tracker: Any,
                      ring: EventRing, dispatcher: Dispatcher, gateway: OrderGateway) -> Any:
    """The live run's telemetry listener on the replay's venues: the same SQLite tables and stats file."""
    from xtb.telemetry.metrics import Metrics
    from xtb.telemetry.recorder import SqliteRecorder
    from xtb.telemetry.run import RunTelemetry
    from xtb.telemetry.stats import StatsWriter

    tcfg = config.telemetry
    out_dir.mkdir(parents=True, exist_ok=True)

    def symbol_of(venue: str, book_id: int) -> str | None:
        v = venues.get(venue)
        return None if v is None else v.symbol_of_book(book_id)

    return RunTelemetry(
        strategy=strategy, run_dir=out_dir, metrics=Metrics(),
        stats_writer=StatsWriter(out_dir / tcfg.stats_file, tcfg.stats_interval_s,
                                 header=f"strategy {strategy}, replay"),
        recorder=SqliteRecorder(out_dir / tcfg.sqlite_file, flush_interval_s=tcfg.flush_interval_s),
        connectors=venues, tracker=tracker, symbol_of=symbol_of, ring=ring, dispatcher=dispatcher, gateway=gateway,
        poll_interval_s=tcfg.poll_interval_s, equity_interval_s=tcfg.equity_interval_s,
    )
