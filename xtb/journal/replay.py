"""Replay a recorded event journal through a strategy against the simulator's matching engine.

    result = asyncio.run(replay("runs/2026-11-22T05-30-00/events.journal", config, out_dir="runs/replay-1"))

The strategy is the same class a live run uses, built the same way (registry, params, StrategyContext,
OrderGateway, OrderTracker, Dispatcher); only the connector is a `ReplayVenue`. Market data comes from
the journal: book updates (top of book) and trades. The recorded order/fill/position events of the
original run are skipped: the replay produces its own from the simulator.

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
rows; `stats.log`), from the same telemetry listener — timestamped by the replay's wall clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xtb._core import EventRing, Journal, JournalWindows, OrderTracker
from xtb._core import Position as PositionEvent
from xtb.config import XtbConfig
from xtb.engine.context import Positions, RecordSink, StrategyContext
from xtb.engine.dispatcher import Dispatcher
from xtb.engine.gateway import OrderGateway
from xtb.engine.registry import get_strategy
from xtb.model.types import MarketInfo, OrderKind, OrderRequest, PositionInfo, Side, SubmitOutcome, SubmitResult
from xtb.sim.clock import VirtualClock
from xtb.sim.engine import Exchange
from xtb.sim.types import (
    AccountConfig,
    FillEvent,
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
                 clock: VirtualClock) -> None:
        self.venue = venue
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
        if self._open.get(ev.book_id):
            self._sync_tape(ev.book_id)

    def _sync_tape(self, book_id: int) -> None:
        b = self.books[self._symbol_of_book[book_id]]
        want = (b.bid, b.ask)
        if self._tape_synced.get(book_id) == want:
            return
        ex = self.exchange
        for oid in self._tape_orders.pop(book_id, ()):
            try:
                ex.cancel_order(self.tape, book_id, order_id=oid)
            except SimError:
                pass  # already filled
        ids = []
        for level, side in ((b.bid, SimSide.BUY), (b.ask, SimSide.SELL)):
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

    # --- orders (the gateway's VenueOrderPort) ----------------------------------------------------
    def limit_key(self, op: str, count: int) -> tuple[str, int]:
        return (f"replay:{op}", count)

    def prepare_submit(self, reqs: Sequence[OrderRequest]) -> Sequence[OrderRequest]:
        for r in reqs:
            if r.symbol not in self._markets:
                raise KeyError(f"{self.venue} has no market {r.symbol!r} in this journal")
        return reqs

    async def send_submit(self, reqs: Sequence[OrderRequest]) -> list[SubmitResult]:
        out = []
        for r in reqs:
            book_id = self._book_of_symbol[r.symbol]
            self._sync_tape(book_id)
            market = r.kind is OrderKind.MARKET
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
            out.append(SubmitResult(r.client_id, SubmitOutcome.ACCEPTED, venue_order_id=str(view.order_id)))
        return out

    def prepare_cancel(self, symbol: str, client_ids: Sequence[int]) -> tuple[str, Sequence[int]]:
        return symbol, client_ids

    async def send_cancel(self, prepared: tuple[str, Sequence[int]]) -> list[SubmitResult]:
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
            else:
                open_ids.discard(o.order_id)
            if o.client_id is not None and ev.kind is OrderEventKind.EXPIRED:
                    self.tracker.on_expire(o.client_id, self.venue, str(o.reason.value), ts_ns=ev.ts_ns)
            elif o.client_id is not None and ev.kind is OrderEventKind.CANCELLED:
                self.tracker.on_cancel(o.client_id, self.venue, str(o.reason.value), ts_ns=ev.ts_ns)
        elif isinstance(ev, SimPositionEvent):
            p = ev.position
            if p.account == self.account:
                self.ring.push(PositionEvent(self.venue, p.market, p.size, self.entry_px(p), recv_ns=ev.ts_ns))

    def entry_px(self, p: Any) -> int:
        """Average entry price in price units (the position's cost is in cash units), rounded half up."""
        size: int = abs(p.size)
        if size == 0:
            return 0
        denom = size * self.exchange.cash_scale(p.market)
        return (2 * abs(int(p.cost)) + denom) // (2 * denom)


class ReplayContext(StrategyContext):
    """The live context, with the replay's recorded clock for `now_ms`."""

    def __init__(self, *args: Any, clock: VirtualClock, wall_offset_ns: int, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._clock = clock
        self._wall_offset_ns = wall_offset_ns

    def now_ms(self) -> int:
        return (self._clock.now_ns() + self._wall_offset_ns) // 1_000_000


class _PositionCache:
    """Engine-side position cache (as the engine's EngineStateListener keeps it)."""

    def __init__(self, positions: Positions, venues: dict[str, ReplayVenue]) -> None:
        self.positions = positions
        self.venues = venues

    def on_position(self, ev: Any) -> None:
        sym = self.venues[ev.venue].symbol_of_book(ev.book_id)
        if sym is not None:
            self.positions.set(ev.venue, sym, ev.size, ev.entry_px)


@dataclass
class ReplayResult:
    events_read: int = 0
    book_events: int = 0
    delivered: int = 0
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    truncated: bool = False
    seconds: float = 0.0
    out_dir: str | None = None

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
) -> ReplayResult:
    """Run `strategy` (default: the config's) over the journal's market data; see the module docstring.

    `progress(bytes_read, file_size)` is called after each chunk; `sink` receives the strategy's
    `ctx.record()` rows and gauges (e.g. the run's SQLite recorder), as in a live run.
    """
    path = Path(journal)
    spec = get_strategy(strategy or config.strategy.name)
    params = spec.parse_params(config.strategy.params if (strategy is None or strategy == config.strategy.name)
                               else {})
    all_markets = load_markets(path)
    windows = JournalWindows(path, window_ns)
    clock = VirtualClock(0)
    ring = EventRing(1 << 16)
    out_journal = None
    out_path = None
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        out_path = Path(out_dir) / "events.journal"
        out_journal = Journal(ring, out_path, meta=json.dumps({"replay_of": str(path), "strategy": spec.name}))
    tracker = OrderTracker(ring)
    dispatcher = Dispatcher(ring)
    # One dict shared with the gateway and the context, so venues found later in the journal join it.
    venues: dict[str, ReplayVenue] = {v: ReplayVenue(v, m, tracker, ring, clock) for v, m in all_markets.items()}
    gateway = OrderGateway(venues, tracker)
    positions = Positions()
    ids: dict[str, _Counter] = {v: _Counter() for v in venues}
    wall_offset_ns = windows.start_wall_ns - windows.start_monotonic_ns
    telemetry = None
    if records and out_dir is not None:
        telemetry = _replay_telemetry(spec.name, Path(out_dir), config, venues, tracker, ring, dispatcher, gateway)
        sink = sink or telemetry.sink
    ctx = ReplayContext(spec.name, connectors=venues, gateway=gateway, tracker=tracker, id_allocators=ids,
                        positions=positions, dispatcher=dispatcher, clock=clock, wall_offset_ns=wall_offset_ns,
                        sink=sink)
    strat = spec.cls(ctx, params)
    dispatcher.add_listener(_PositionCache(positions, venues), first=True)
    dispatcher.add_listener(strat)
    if telemetry is not None:
        dispatcher.add_listener(telemetry)  # after the strategy, as in a live run
    res = ReplayResult(out_dir=None if out_dir is None else str(out_dir))
    tick_ns = config.general.tick_interval_ms * 1_000_000
    next_tick: int | None = None
    t0 = time.perf_counter()
    await strat.on_start()

    def venue_for(name: str, book_id: int) -> ReplayVenue:
        """A venue or book the markets file does not name: a generic market (integer units)."""
        v = venues.get(name)
        if v is None:
            v = venues[name] = ReplayVenue(name, {}, tracker, ring, clock)
            ids[name] = _Counter()
        v.add_book(book_id)
        return v

    push = ring.push
    drain = dispatcher.drain
    while chunk := windows.next_windows(8192):
        for end_ns, events in chunk:
            if next_tick is None:
                next_tick = end_ns + tick_ns
            # Producers stamp their own events, so recorded times may step back a little across
            # producers: the simulated clock only moves forward.
            if end_ns > clock.now_ns():
                clock.set(end_ns)
            for ev in events:
                if ev.kind == "book":
                    v = venues.get(ev.venue)
                    if v is None or ev.book_id not in v.known_books:
                        v = venue_for(ev.venue, ev.book_id)
                    v.on_book(ev)
                    res.book_events += 1
                    push(ev)
                elif ev.kind == "trade" or ev.kind == "resync":
                    push(ev)
            res.delivered += drain()
            while gateway.in_flight:
                await asyncio.sleep(0)  # the gateway's send tasks (synchronous against the simulator)
                res.delivered += drain()
            while end_ns >= next_tick:
                if next_tick > clock.now_ns():
                    clock.set(next_tick)
                tick_ms = (next_tick + wall_offset_ns) // 1_000_000
                if telemetry is not None:
                    telemetry.tick_started(tick_ms)
                await strat.on_tick(tick_ms)
                if telemetry is not None:
                    telemetry.on_tick(tick_ms)
                next_tick += tick_ns
        if progress is not None:
            progress(*windows.progress)
    res.events_read = windows.events_read
    res.book_events += windows.coalesced
    await strat.on_stop()
    await gateway.drain(5.0)
    res.delivered += dispatcher.drain()
    if telemetry is not None:
        telemetry.close()
    res.seconds = time.perf_counter() - t0
    res.truncated = windows.truncated
    res.fills = sum(v.fills for v in venues.values())
    for venue, v in venues.items():
        for pv in v.exchange.positions(v.account):
            if pv.size:
                res.positions[f"{venue}:{v.symbol_of_book(pv.market)}"] = pv.size
        for cid in range(1, ids[venue].n + 1):
            o = tracker.get(cid, venue)
            if o is not None:
                res.orders.append({"venue": venue, "client_id": cid, "symbol": o.symbol, "side": o.side,
                                   "px": o.px, "sz": o.sz, "state": o.state, "filled": o.filled})
    if out_journal is not None and out_path is not None:
        out_journal.close()
        write_markets(out_path, {name: v.markets_by_book() for name, v in venues.items()})
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
