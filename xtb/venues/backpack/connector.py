"""BackpackConnector: the Connector protocol and the gateway's VenueOrderPort for Backpack USDC perps.

Data path: one picows socket (public depth deltas and the signed private streams share Backpack's single
WS URL) -> Cython listener -> core FeedDecoder -> books in the core, private updates through the core
OrderTracker, events in the EventRing. The connector only steers: it subscribes, fetches snapshots (the
core lines them up on lastUpdateId), notices stale books and resyncs them, and reconciles orders,
fills and positions from REST at start, after every reconnect and periodically.

Wiring in the engine: pass the shared `ring`, `tracker` and `limiter`, set `on_burst_end` to the
dispatcher's drain, and register the connector as a first dispatcher listener (`on_position`,
`on_resync`, `on_order`), so positions stream into its cache and resyncs start at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
from picows import WSMsgType

from xtb import _core
from xtb.model.types import (
    Balance,
    MarketInfo,
    OrderKind,
    OrderRequest,
    PositionInfo,
    Side,
    SubmitOutcome,
    SubmitResult,
    TimeInForce,
)
from xtb.model.units import to_units
from xtb.orders.reconcile import (
    FillReport,
    OrderReport,
    PositionMerge,
    PositionReport,
    ReconcilePass,
    Reconciler,
    ReconcileRules,
    ReconcileStats,
    UnknownOrderPolicy,
    VenueOrderState,
    merge_positions,
)
from xtb.transport.keepalive_http import KeepAliveClient, check_order_http, order_transport, warm_order_transport
from xtb.transport.rest import AmbiguousResponse, RestClient, RestError, RetriesExhausted, VenueRejected
from xtb.transport.ws import WsSession
from xtb.venues.backpack.markets import parse_markets
from xtb.venues.backpack.ratelimits import backpack as backpack_limits
from xtb.venues.backpack.rest_api import BackpackRest, rest_limit_key
from xtb.venues.common import touch_from_levels
from xtb.venues.connector_base import StreamingConnector
from xtb.venues.contract import VenueStats
from xtb.venues.options import migrate_options

log = logging.getLogger("xtb.venues.backpack")

VENUE = "backpack"

#: REST order status -> tracker state
_STATUS: dict[str, VenueOrderState] = {
    "New": "open",
    "PartiallyFilled": "partially_filled",
    "Filled": "filled",
    "Cancelled": "cancelled",
    "Expired": "expired",
    "TriggerPending": "open",
    "Triggered": "open",
    "TriggerFailed": "rejected",
}
_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
_SIDE = {Side.BID: "Bid", Side.ASK: "Ask"}
_LIMIT = OrderKind.LIMIT  # hoisted: enum class attribute access runs EnumType.__getattr__ on Python 3.11
_PRIVATE_STREAMS = ("account.orderUpdate", "account.positionUpdate")


@dataclass
class BackpackConfig:
    """Connector options (configs: `venues.backpack.options`). UNCONFIRMED venue facts are options."""

    rest_url: str = "https://api.backpack.exchange"
    ws_url: str = "wss://ws.backpack.exchange"
    symbols: tuple[str, ...] = ()  # empty: every PERP market
    aliases: dict[str, str] = field(default_factory=dict)
    window_ms: int = 5000
    broker_id: int | None = None
    request_timeout_s: float = 10.0
    order_timeout_s: float = 5.0  # a submit without an answer by then is unresolved
    max_retries: int = 3
    requests_per_second: int = 20  # UNCONFIRMED: Backpack publishes no limits
    max_batch: int = 50  # UNCONFIRMED: batch size cap
    snapshot_limit: int = 1000
    snapshot_retry_s: float = 0.2
    snapshot_attempts: int = 25
    stale_after_s: float | None = 30.0  # no frame at all for this long -> drop and resync
    book_check_interval_s: float = 0.05
    reconcile_interval_s: float | None = 30.0
    position_check_delay_s: float = 0.5  # a fill without a position update by then: positions from REST
    submit_window_s: float = 10.0  # an order missing at the venue is only judged after this
    history_limit: int = 200  # rows per history page
    history_max_pages: int = 50  # reconciliation reads history pages until it has what it needs, at most this
    unknown_order_policy: UnknownOrderPolicy = "adopt"
    balance_poll_s: float = 10.0
    balance_decimals: int = 8
    cancel_all_on_stop: bool = False
    start_timeout_s: float = 20.0
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 10.0
    ring_capacity: int = 1 << 16
    trades: bool = False  # also subscribe the public `trade.<symbol>` prints (order-flow strategies)
    # also subscribe `markPrice.<symbol>`: MarkPrice ring events (on_mark, journal); on when a strategy has on_mark
    mark_price: bool = False
    # Presigned ED25519 nonces kept by the signer (0: deterministic RFC 8032; max 65536). A bigger pool absorbs
    # longer bursts on a busy machine but costs ~20 us of background CPU per nonce at start. docs/core_api.md
    nonce_pool: int = 256
    # Order submits over the lean keep-alive client (xtb/transport/keepalive_http.py) or aiohttp; connections
    # opened at start so the first order pays no connect/TLS.
    order_http: str = "keepalive"
    order_connections: int = 2

    @classmethod
    def from_options(cls, options: dict[str, Any], **overrides: Any) -> BackpackConfig:
        options = migrate_options("venues.backpack.options", options)
        known = set(cls.__dataclass_fields__)
        unknown = set(options) - known
        if unknown:
            raise ValueError(f"venues.backpack.options: unknown keys {sorted(unknown)}")
        merged = {**options, **overrides}
        if "symbols" in merged:
            merged["symbols"] = tuple(merged["symbols"])
        pool = merged.get("nonce_pool", 0)
        if isinstance(pool, bool) or not isinstance(pool, int) or not 0 <= pool <= 65_536:
            raise ValueError(f"venues.backpack.options.nonce_pool: expected an int in 0..65536, got {pool!r}")
        check_order_http("venues.backpack.options", merged)
        return cls(**merged)


@dataclass
class ConnectorStats:
    snapshots: int = 0
    snapshot_retries: int = 0
    resyncs: int = 0
    feed_errors: int = 0
    reconnects: int = 0


@dataclass(slots=True)
class _PreparedSubmit:
    path: str
    headers: dict[str, str]
    body: bytes
    client_ids: tuple[int, ...]


@dataclass
class _PreparedCancel:
    symbol: str
    requests: list[tuple[int, dict[str, str], bytes]]


class BackpackConnector(StreamingConnector):
    venue = VENUE
    reports_fill_fees = True

    def __init__(
        self,
        config: BackpackConfig,
        api_key: str,
        api_secret: Any,  # xtb.keys.Secret or str (seed, base64)
        *,
        ring: Any | None = None,
        tracker: Any | None = None,
        limiter: Any | None = None,
        on_burst_end: Callable[[], object] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        secret = api_secret.reveal() if hasattr(api_secret, "reveal") else str(api_secret)
        self._signer = _core.BackpackSigner(secret, config.broker_id, nonce_pool=config.nonce_pool)
        del secret
        if self._signer.public_key_b64 != api_key:
            raise ValueError("Backpack api key does not match the api secret (public key mismatch)")
        self.ring = ring if ring is not None else _core.EventRing(config.ring_capacity)
        self.tracker = tracker if tracker is not None else _core.OrderTracker(self.ring)
        self.limiter = limiter if limiter is not None else _core.RateLimiter.from_config(
            backpack_limits(config.requests_per_second), self.ring
        )
        self._on_burst_end = on_burst_end
        self._rng = rng or random.Random()
        self.decoder = _core.FeedDecoder(VENUE, self.ring)
        self.decoder.set_tracker(self.tracker)
        self._markets: dict[str, MarketInfo] = {}
        self._order_entries: list[Any] = []  # the core order entries handed out (they follow load_markets)
        self._books: dict[str, Any] = {}
        self._book_symbols: dict[int, str] = {}
        self._positions: dict[str, PositionInfo] = {}
        self._positions_seeded = False
        self._position_seen_ns: dict[str, int] = {}  # symbol -> last stream position event
        self._fill_pending: dict[str, int] = {}  # symbol -> first fill not yet followed by a position
        self._position_check: asyncio.Task[Any] | None = None
        self._balances: dict[str, Balance] = {}
        self._balances_ns = 0
        self._session: aiohttp.ClientSession | None = None
        self._order_transport: KeepAliveClient | None = None
        self._http: BackpackRest | None = None
        self._ws: WsSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._resyncing: set[str] = set()
        self._reconcile_lock = asyncio.Lock()
        self._frames_seen = 0
        self._frames_seen_ns = time.monotonic_ns()
        self._started = False
        self.stats = ConnectorStats()
        self.reconcile_stats = ReconcileStats()
        self._reconciler = Reconciler(
            VENUE, self.tracker, ReconcileRules(config.unknown_order_policy, config.submit_window_s),
            self.reconcile_stats,
        )

    @classmethod
    def from_venue_config(cls, venue_cfg: Any, **kwargs: Any) -> BackpackConnector:
        """From a `venues.backpack` config section: keys from `key_file` (refused when group/other
        readable) or BPX_API_KEY / BPX_API_SECRET in the environment."""
        from xtb.venues.backpack.keys import load_backpack_keys

        overrides: dict[str, Any] = {}
        if venue_cfg.rest_url:
            overrides["rest_url"] = venue_cfg.rest_url
        if venue_cfg.ws_url:
            overrides["ws_url"] = venue_cfg.ws_url
        if venue_cfg.symbols:
            overrides["symbols"] = tuple(venue_cfg.symbols)
        config = BackpackConfig.from_options(dict(venue_cfg.options), **overrides)
        keys = load_backpack_keys(venue_cfg.key_file)
        return cls(config, keys.api_key, keys.api_secret, **kwargs)

    def __repr__(self) -> str:
        return f"BackpackConnector(key={self._signer.public_key_b64!r}, rest={self.config.rest_url!r})"

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._started:
            return
        cfg = self.config
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64, ttl_dns_cache=300, enable_cleanup_closed=True)
        )
        rest = RestClient(VENUE, cfg.rest_url, limiter=self.limiter, limit_key=rest_limit_key,
                          timeout_s=cfg.request_timeout_s, max_retries=cfg.max_retries,
                          session=self._session, rng=self._rng)
        self._order_transport = order_transport(cfg.rest_url, cfg.order_http, cfg.order_connections)
        orders = RestClient(VENUE, cfg.rest_url, limiter=None, timeout_s=cfg.order_timeout_s,
                            max_retries=cfg.max_retries, session=self._session, transport=self._order_transport,
                            rng=self._rng)
        self._http = BackpackRest(rest, orders, self._signer, cfg.window_ms)
        self.load_markets(await self._http.markets())
        await warm_order_transport(VENUE, self._order_transport, cfg.order_connections)
        self._ws = WsSession(
            "backpack", cfg.ws_url, self._make_listener,
            on_connected=self._on_connected, on_disconnected=self._on_disconnected,
            last_activity_ns=self._last_activity_ns, stale_after_s=cfg.stale_after_s,
            backoff_initial_s=cfg.backoff_initial_s, backoff_max_s=cfg.backoff_max_s,
            rng=self._rng,
        )
        self._started = True
        self._ws.start()
        self._spawn(self._book_watchdog(), "book-watchdog")
        if cfg.reconcile_interval_s:
            self._spawn(self._reconcile_loop(cfg.reconcile_interval_s), "reconcile")
        await self.wait_ready(cfg.start_timeout_s)

    async def wait_ready(self, timeout_s: float) -> None:
        """Until connected, every book live and the first reconciliation done."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_ready():
                return
            await asyncio.sleep(0.02)
        states = {s: b.state for s, b in self._books.items()}
        raise TimeoutError(f"backpack connector not ready after {timeout_s} s (books: {states})")

    def is_ready(self) -> bool:
        ws = self._ws
        return (ws is not None and ws.connected.is_set() and self._positions_seeded
                and all(b.state == "live" for b in self._books.values()))

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self.config.cancel_all_on_stop and self._http is not None:
            with contextlib.suppress(RestError, asyncio.TimeoutError):
                await self.cancel_all()
        await self._cancel_tasks()
        if self._ws is not None:
            await self._ws.stop()
        for book in self._books.values():
            book.mark_stale("connector stopped")

    # ------------------------------------------------------------------ markets and data
    def load_markets(self, raw: Any) -> dict[str, MarketInfo]:
        """Markets from a `GET /api/v1/markets` reply, with one core book each on the decoder. `start`
        calls it with the venue's reply; offline users (the tick-to-order benchmark, replays) call it
        with a recorded one and feed the decoder themselves, without starting the connector."""
        if self._books:
            raise RuntimeError("backpack: markets are already loaded")
        self._markets = parse_markets(raw, self.config.symbols, self.config.aliases)
        for sym, m in self._markets.items():
            book = _core.OrderBook(VENUE, sym, m.price_decimals, m.size_decimals)
            book_id = self.decoder.add_book(book)
            self._books[sym] = book
            self._book_symbols[book_id] = sym
        for entry in self._order_entries:
            self._entry_markets(entry)
        return dict(self._markets)

    def book(self, symbol: str) -> Any:
        try:
            return self._books[symbol]
        except KeyError:
            raise KeyError(f"backpack: no book for {symbol!r} (have: {', '.join(self._books)})") from None

    async def rest_touch(self, symbol: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """Best bid and ask from the REST depth (for closing orders when the stream's book is stale or empty)."""
        m = self._markets[symbol]
        data = await self.http.depth(symbol, limit=5) or {}
        return touch_from_levels(data.get("bids"), data.get("asks"), m.price_decimals, m.size_decimals)

    def venue_stats(self) -> VenueStats:
        st = self.stats
        return VenueStats(VENUE, resyncs=st.resyncs, reconnects=st.reconnects, feed_errors=st.feed_errors,
                          reconcile=replace(self.reconcile_stats),
                          extra={"snapshots": st.snapshots, "snapshot_retries": st.snapshot_retries})

    @property
    def http(self) -> BackpackRest:
        if self._http is None:
            raise RuntimeError("backpack connector is not started")
        return self._http

    # ------------------------------------------------------------------ websocket
    def _on_feed_error(self, exc: BaseException) -> None:
        self.stats.feed_errors += 1
        log.warning("backpack feed: %s", exc)

    async def _on_connected(self, transport: Any, listener: Any) -> None:
        self.stats.reconnects += 1
        self._frames_seen, self._frames_seen_ns = 0, time.monotonic_ns()
        # Deltas from an old session can never line up with a new snapshot.
        for book in self._books.values():
            book.clear()
        public = [f"depth.{s}" for s in self._books]
        if self.config.trades:
            public += [f"trade.{s}" for s in self._books]
        if self.config.mark_price:
            public += [f"markPrice.{s}" for s in self._books]
        if public:
            transport.send(WSMsgType.TEXT, orjson.dumps({"method": "SUBSCRIBE", "params": public}))
        transport.send(WSMsgType.TEXT, self._signer.subscribe_frame(list(_PRIVATE_STREAMS),
                                                                   window_ms=self.config.window_ms))
        for sym in self._books:
            self._start_resync(sym)
        self._spawn(self._reconcile_safely("connect"), "reconcile-connect")

    def _on_disconnected(self, reason: str) -> None:
        for book in self._books.values():
            if book.state != "stale":
                book.mark_stale(f"disconnected: {reason}")
        # Private events may be lost until the next session's reconciliation.
        self._positions_seeded = False

    # ------------------------------------------------------------------ books
    async def _resync(self, symbol: str) -> None:
        book = self._books[symbol]
        try:
            for attempt in range(self.config.snapshot_attempts):
                ws = self._ws
                if ws is None or not ws.connected.is_set():
                    return
                try:
                    snap = await self.http.depth(symbol, self.config.snapshot_limit)
                    # The core takes (price, size) tuples of decimal text and parses them at the book's scale.
                    bids = [(p, q) for p, q in snap["bids"]]
                    asks = [(p, q) for p, q in snap["asks"]]
                    result = book.apply_snapshot(bids, asks, int(snap["lastUpdateId"]))
                except (RestError, KeyError, TypeError, ValueError) as e:
                    log.warning("backpack %s snapshot failed: %s", symbol, e)
                    result = "failed"
                self.stats.snapshots += 1
                if result == "applied":
                    return
                self.stats.snapshot_retries += 1
                await asyncio.sleep(self.config.snapshot_retry_s * (1 + attempt))
            # The alignment never held: a new session starts from scratch.
            log.warning("backpack %s: no snapshot lined up after %d tries; reconnecting",
                        symbol, self.config.snapshot_attempts)
            if self._ws is not None:
                self._ws.drop()
        finally:
            self._resyncing.discard(symbol)

    async def _book_watchdog(self) -> None:
        """Stale books (gap, crossed, marked from outside) get a new snapshot."""
        while True:
            await asyncio.sleep(self.config.book_check_interval_s)
            ws = self._ws
            if ws is None or not ws.connected.is_set():
                continue
            for sym, book in self._books.items():
                if book.state == "stale" and sym not in self._resyncing:
                    self.stats.resyncs += 1
                    self._start_resync(sym)

    # dispatcher listener hooks -------------------------------------------------------------------
    def on_order(self, ev: Any) -> None:
        """Updates the tracker passed through unabsorbed: orders it does not know. A filled size (from the
        stream, a submit reply or REST) should be followed by a position update: checked."""
        if ev.venue != VENUE:
            return
        if ev.filled > 0:
            self._fill_seen(ev.client_id)
        if not ev.is_terminal and not self.tracker.knows(ev.client_id, VENUE):
            self._spawn(self._reconcile_safely("unknown order on stream"), "reconcile-unknown")

    def on_fill(self, ev: Any) -> None:
        if ev.venue == VENUE:
            self._fill_seen(ev.client_id)

    def _fill_seen(self, client_id: int) -> None:
        order = self.tracker.get(client_id, VENUE)
        if order is None or order.symbol not in self._markets:
            return
        self._fill_pending.setdefault(order.symbol, time.monotonic_ns())
        if self._started and (self._position_check is None or self._position_check.done()):
            self._position_check = asyncio.get_running_loop().create_task(self._check_positions_after_fills())
            self._tasks.add(self._position_check)
            self._position_check.add_done_callback(self._task_done)

    async def _check_positions_after_fills(self) -> None:
        """No position update within `position_check_delay_s` of a fill (the private stream late or silent):
        read the positions over REST (changes are published like the stream's)."""
        await asyncio.sleep(self.config.position_check_delay_s)
        if not self._fill_pending:
            return
        self._fill_pending.clear()
        try:
            await self._read_positions()
        except (TimeoutError, RestError, ValueError, KeyError) as e:
            log.warning("backpack position check after fills failed: %s", e)

    def on_position(self, ev: Any) -> None:
        super().on_position(ev)
        if ev.venue == VENUE and (sym := self._book_symbols.get(ev.book_id)) is not None:
            self._fill_pending.pop(sym, None)  # the stream showed the position

    # ------------------------------------------------------------------ account state
    async def positions(self) -> dict[str, PositionInfo]:
        """The stream cache once seeded this session and showing every fill's position; otherwise from REST."""
        if not (self._positions_seeded and self._ws is not None and self._ws.connected.is_set()) or self._fill_pending:
            self._fill_pending.clear()  # a fill the stream's positions do not show yet: REST
            await self._read_positions()
        return {s: p for s, p in self._positions.items() if p.size != 0}

    async def _read_positions(self) -> PositionMerge:
        """REST positions merged into the cache by the shared rule; changed markets go to the ring."""
        asked_ns = time.monotonic_ns()
        rows = await self.http.positions()
        fresh: list[PositionReport] = []
        for row in rows or []:
            m = self._markets.get(row.get("symbol"))
            if m is None:
                continue
            fresh.append(PositionReport(
                m.symbol, to_units(str(row.get("netQuantity", "0")), m.size_decimals),
                _rounded_units(row.get("entryPrice") or "0", m.price_decimals),
                _rounded_units(row.get("pnlUnrealized") or "0", m.price_decimals + m.size_decimals),
            ))
        cached = {s: PositionReport(s, p.size, p.entry_px, p.unrealized_pnl) for s, p in self._positions.items()}
        merge = merge_positions(cached, fresh, self._markets, asked_ns=asked_ns,
                                stream_seen_ns=self._position_seen_ns)
        now = time.monotonic_ns()
        book_ids = {sym: bid for bid, sym in self._book_symbols.items()}
        for sym in self._markets:
            p = merge.positions.get(sym)
            if self._position_seen_ns.get(sym, 0) <= asked_ns:
                self._positions[sym] = PositionInfo(sym, p.size, p.entry_px, p.unrealized_pnl, "rest") \
                    if p is not None else PositionInfo(sym, 0, 0, source="rest")
        for sym in merge.changed:
            if sym in book_ids:
                p = merge.positions.get(sym)
                self.ring.push(_core.Position(VENUE, book_ids[sym], p.size if p else 0, p.entry_px if p else 0, now))
        return merge

    async def balances(self) -> dict[str, Balance]:
        """Backpack has no balance stream: polled, cached for `balance_poll_s`."""
        if self._balances and time.monotonic_ns() - self._balances_ns < self.config.balance_poll_s * 1e9:
            return dict(self._balances)
        data = await self.http.capital()
        d = self.config.balance_decimals
        out: dict[str, Balance] = {}
        for asset, row in (data or {}).items():
            avail = _rounded_units(row.get("available") or "0", d)
            locked = _rounded_units(row.get("locked") or "0", d)
            out[asset] = Balance(asset, total=avail + locked, available=avail, decimals=d)
        self._balances, self._balances_ns = out, time.monotonic_ns()
        return dict(out)

    async def collateral(self) -> dict[str, Any]:
        """The venue's collateral summary (netEquity, netEquityAvailable, ...), as sent."""
        return await self.http.collateral()  # type: ignore[no-any-return]

    async def latency_probe(self) -> float:
        t0 = time.perf_counter()
        await self.http.time()
        return (time.perf_counter() - t0) * 1e3

    # ------------------------------------------------------------------ orders: VenueOrderPort
    def limit_key(self, op: str, count: int) -> tuple[str, int]:
        return ("order", count)

    def _checked_market(self, r: OrderRequest) -> MarketInfo:
        """The order's market, after the checks every order passes (size on the step, client id range)."""
        m = self._markets.get(r.symbol)
        if m is None:
            raise ValueError(f"backpack: unknown symbol {r.symbol!r}")
        if r.size <= 0 or r.size % m.step:
            raise ValueError(f"size {r.size} is not a positive multiple of the step {m.step} ({r.symbol})")
        if not 0 < r.client_id < 2**32:
            raise ValueError(f"clientId {r.client_id} out of the uint32 range")
        return m

    def _order_params(self, r: OrderRequest) -> dict[str, Any]:
        m = self._checked_market(r)
        p: dict[str, Any] = {
            "symbol": r.symbol,
            "side": _SIDE[Side(r.side)],
            "quantity": _core.format_fixed(r.size, m.size_decimals),
            "clientId": r.client_id,
            "reduceOnly": True if r.reduce_only else None,
        }
        if r.kind is OrderKind.LIMIT or r.price is not None:
            # A market order with a worst price goes out as an IOC limit: the venue's market orders
            # take no price protection.
            px = self._checked_price(r, m)
            p["orderType"] = "Limit"
            p["price"] = _core.format_fixed(px, m.price_decimals)
            p["timeInForce"] = "IOC" if r.kind is OrderKind.MARKET else _TIF[TimeInForce(r.tif)]
            p["postOnly"] = True if r.post_only else None
        else:
            p["orderType"] = "Market"
        return p

    def order_entry(self, tracker: Any, limiter: Any | None) -> Any | None:
        """The core's one-call path for a single limit order (OrderGateway.place_limit): this connector's
        order checks and markets, a client id, `limiter`'s slot, the signature and `tracker.submitted` in
        one `BackpackOrderEntry.limit` call. None unless `tracker` (and `limiter`, if any) are core objects."""
        if not isinstance(tracker, _core.OrderTracker) or (
                limiter is not None and not isinstance(limiter, _core.RateLimiter)):
            return None
        key, weight = self.limit_key("submit", 1)
        entry = _core.BackpackOrderEntry(self._signer, tracker, limiter, key, weight, self.config.window_ms)
        self._entry_markets(entry)
        self._order_entries.append(entry)
        return entry

    def _entry_markets(self, entry: Any) -> None:
        for sym, m in self._markets.items():
            entry.set_market(sym, m.tick, m.step, m.price_decimals, m.size_decimals)

    @staticmethod
    def prepared_order(signed: Any) -> _PreparedSubmit:
        """An order entry's SignedOrder as the request `send_submit` posts (built in the send task)."""
        return _PreparedSubmit("/api/v1/order", signed.headers(), signed.body, (signed.client_id,))

    def prepare_submit(self, reqs: Sequence[OrderRequest]) -> _PreparedSubmit:
        if len(reqs) == 1 and reqs[0].kind is _LIMIT:
            # The hot path (one limit order): the checks of _checked_market/_checked_price inlined (no
            # calls unless one fails, then they raise the precise error), formatting + signing in one core
            # call, no parameter dict. Same request as the general path below (tests/venues compare them).
            r = reqs[0]
            cid, size, px = r.client_id, r.size, r.price
            m = self._markets.get(r.symbol)
            if m is None or size <= 0 or size % m.step or not 0 < cid < 2**32 or px is None or px <= 0 \
                    or px % m.tick:
                m = self._checked_market(r)
                px = self._checked_price(r, m)
            headers, body = self._signer.limit_order(
                cid, r.symbol, _SIDE[r.side], px, size, m.price_decimals, m.size_decimals, _TIF[r.tif],
                True if r.post_only else False, True if r.reduce_only else False, None, self.config.window_ms,
            )
            return _PreparedSubmit("/api/v1/order", headers, body, (cid,))
        if not reqs:
            raise ValueError("empty batch")
        if len(reqs) > self.config.max_batch:
            raise ValueError(f"batch of {len(reqs)} exceeds max_batch {self.config.max_batch}")
        params = [self._order_params(r) for r in reqs]
        cids = tuple(r.client_id for r in reqs)
        if len(params) == 1:
            headers, body = self._signer.order(params[0], window_ms=self.config.window_ms)
            return _PreparedSubmit("/api/v1/order", headers, body, cids)
        headers, body = self._signer.orders(params, window_ms=self.config.window_ms)
        return _PreparedSubmit("/api/v1/orders", headers, body, cids)

    async def send_submit(self, prepared: _PreparedSubmit) -> list[SubmitResult]:
        cids = prepared.client_ids
        try:
            reply = await self.http.send_signed("POST", prepared.path, prepared.headers, prepared.body,
                                                idempotent=False)
        except VenueRejected as e:
            reason = f"{e.code}: {e.venue_message}"
            return [SubmitResult(c, SubmitOutcome.REJECTED, reason=reason) for c in cids]
        except RetriesExhausted as e:
            # Only 429s reach here for a submit: the venue did not act.
            return [SubmitResult(c, SubmitOutcome.REJECTED, reason=f"rate limited: {e}") for c in cids]
        except (TimeoutError, AmbiguousResponse, RestError) as e:
            return [SubmitResult(c, SubmitOutcome.UNRESOLVED, reason=str(e)) for c in cids]
        if prepared.path == "/api/v1/order":
            items = [reply]
        elif not isinstance(reply, list) or len(reply) != len(cids):
            return [SubmitResult(c, SubmitOutcome.UNRESOLVED, reason="batch reply does not match the request")
                    for c in cids]
        else:
            items = reply
        results = [_result_of(c, item) for c, item in zip(cids, items, strict=True)]
        for res, item in zip(results, items, strict=True):
            if res.outcome is SubmitOutcome.ACCEPTED and item.get("status") != "New":
                # The reply already says filled / expired: tell the tracker through the same table as
                # the stream (the ack that follows is then stale, and stream fills add trade ids).
                self._apply_venue_order(res.client_id, item)
        return results

    def prepare_cancel(self, symbol: str, client_ids: Sequence[int]) -> _PreparedCancel:
        reqs = []
        for cid in client_ids:
            headers, body = self._signer.cancel({"symbol": symbol, "clientId": cid}, window_ms=self.config.window_ms)
            reqs.append((cid, headers, body))
        return _PreparedCancel(symbol, reqs)

    async def send_cancel(self, prepared: _PreparedCancel) -> list[SubmitResult]:
        async def one(cid: int, headers: dict[str, str], body: bytes) -> SubmitResult | None:
            try:
                reply = await self.http.send_signed("DELETE", "/api/v1/order", headers, body, idempotent=True)
            except VenueRejected as e:
                return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"{e.code}: {e.venue_message}")
            except RestError as e:
                log.warning("backpack cancel %s: no answer (%s)", cid, e)
                return None  # unknown: the stream or reconciliation will tell
            status = reply.get("status") if isinstance(reply, dict) else None
            if status in ("Cancelled", "Expired"):
                return SubmitResult(cid, SubmitOutcome.ACCEPTED, venue_order_id=reply.get("id"))
            return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"order is {status}")

        results = await asyncio.gather(*(one(*r) for r in prepared.requests))
        return [r for r in results if r is not None]

    # ------------------------------------------------------------------ orders: Connector
    async def cancel_all(self, symbol: str | None = None) -> None:
        for sym in [symbol] if symbol else list(self._markets):
            reply = await self.http.cancel_all(sym)
            for o in reply or []:
                cid = o.get("clientId")
                if cid is not None and self.tracker.get(int(cid), VENUE) is not None:
                    self.tracker.on_cancel(int(cid), VENUE, "cancel all")

    # ------------------------------------------------------------------ reconciliation
    async def _reconcile_safely(self, why: str) -> None:
        try:
            await self.reconcile()
        except (TimeoutError, RestError, ValueError, KeyError) as e:
            self.reconcile_stats.reconcile_errors += 1
            log.warning("backpack reconciliation (%s) failed: %s", why, e)

    async def _reconcile(self) -> ReconcilePass:
        http, rec = self.http, self._reconciler
        reports = await self._open_order_reports()
        await self._apply_fill_history()
        verdict = rec.open_orders(reports, time.monotonic_ns())
        for r in verdict.cancel:
            try:
                await http.cancel_by_order_id(r.symbol, str(r.order_id))
            except VenueRejected as e:
                log.warning("backpack: cancelling venue order %s (%s) failed: %s", r.order_id, r.symbol, e)
        if verdict.missing:
            await self._look_up(verdict.missing)
            rec.settle_missing(verdict.missing)
        merge = await self._read_positions()
        self._positions_seeded = True
        return ReconcilePass(verdict, merge, rec.disagreements(verdict, merge))

    async def _open_order_reports(self) -> list[OrderReport]:
        """The venue's open orders on the loaded markets, as the reconciler's reports."""
        rows = [o for o in (await self.http.open_orders() or []) if o.get("symbol") in self._markets]
        return [r for r in map(self._order_report, rows) if r is not None]

    async def _look_up(self, missing: Sequence[Any]) -> None:
        """Missing orders: asked for by client id, then searched in the order history, page by page,
        until each is found or the history ends."""
        http, rec = self.http, self._reconciler
        not_found: dict[str, set[int]] = {}
        for o in missing:
            try:
                row = await http.order(o.symbol, o.client_id)
            except VenueRejected as e:
                if e.status != 404:
                    raise
                row = None
            report = self._order_report(row) if isinstance(row, dict) else None
            if report is None or not rec.found(report):
                not_found.setdefault(o.symbol, set()).add(o.client_id)
        limit = self.config.history_limit
        for symbol, cids in not_found.items():
            for page in range(self.config.history_max_pages):
                rows = await http.order_history(symbol, limit, offset=page * limit) or []
                for row in rows:
                    cid = row.get("clientId")
                    if cid is not None and int(cid) in cids:
                        report = self._order_report(row)
                        if report is not None and rec.found(report):
                            cids.discard(int(cid))
                if not cids or len(rows) < limit:
                    break
            else:
                log.warning("backpack: %d orders on %s not found in %d pages of history", len(cids), symbol,
                            self.config.history_max_pages)

    def _order_report(self, row: dict[str, Any]) -> OrderReport | None:
        """A REST order row (open orders, order query, history, a submit reply) as the reconciler's report."""
        m = self._markets.get(row.get("symbol"))  # type: ignore[arg-type]
        if m is None:
            return None
        state = _STATUS.get(str(row.get("status")))
        if state is None:
            log.warning("backpack order %s: unknown status %r", row.get("clientId"), row.get("status"))
            return None
        filled = to_units(str(row.get("executedQuantity") or "0"), m.size_decimals)
        avg = None
        if filled > 0:
            quote = Decimal(str(row.get("executedQuoteQuantity") or "0"))
            avg = int((quote / Decimal(str(row["executedQuantity"]))).scaleb(m.price_decimals).to_integral_value())
        price = row.get("price")
        tif = str(row.get("timeInForce") or "GTC")
        cid = row.get("clientId")
        return OrderReport(
            symbol=m.symbol, state=state, filled=filled, client_id=int(cid) if cid is not None else None,
            order_id=str(row["id"]) if row.get("id") is not None else None,
            side="bid" if row.get("side") == "Bid" else "ask",
            size=to_units(str(row.get("quantity") or "0"), m.size_decimals),
            price=to_units(str(price), m.price_decimals) if price not in (None, "") else 0,
            avg_px=avg, post_only=bool(row.get("postOnly")), reduce_only=bool(row.get("reduceOnly")),
            time_in_force="IOC" if tif == "IOC" else "FOK" if tif == "FOK" else "GTC",
            reason=row.get("expiryReason") if state == "expired" else None,
        )

    def _apply_venue_order(self, cid: int, row: dict[str, Any]) -> None:
        report = self._order_report({**row, "clientId": cid})
        if report is not None:
            self._reconciler.apply_order(report)

    async def _apply_fill_history(self) -> None:
        """Recent fills of orders we track (ended ones too: a fill the stream lost still counts once,
        by trade id, and carries the price and fee the order state alone does not). Pages are read while
        they are full and still teach something new."""
        limit = self.config.history_limit
        for page in range(self.config.history_max_pages):
            rows = await self.http.fill_history(None, limit, offset=page * limit) or []
            fills = [f for f in map(self._fill_report, rows) if f is not None]
            if self._reconciler.apply_fills(fills) == 0 or len(rows) < limit:
                return

    def _fill_report(self, f: dict[str, Any]) -> FillReport | None:
        m = self._markets.get(f.get("symbol"))  # type: ignore[arg-type]
        cid = f.get("clientId")
        if m is None or cid is None:
            return None
        fee = _rounded_units(f.get("fee") or "0", m.price_decimals + m.size_decimals) \
            if f.get("feeSymbol") in (None, m.quote) else 0
        return FillReport(int(cid), int(f["tradeId"]), to_units(str(f["price"]), m.price_decimals),
                          to_units(str(f["quantity"]), m.size_decimals), maker=bool(f.get("isMaker")), fee=fee,
                          order_id=str(f.get("orderId")))

    # ------------------------------------------------------------------ plumbing
    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"backpack-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("backpack task %s failed: %r", task.get_name(), task.exception())


def _rounded_units(text: Any, decimals: int) -> int:
    return int(Decimal(str(text)).scaleb(decimals).to_integral_value())


def _result_of(cid: int, item: Any) -> SubmitResult:
    if not isinstance(item, dict):
        return SubmitResult(cid, SubmitOutcome.UNRESOLVED, reason="unreadable reply")
    if item.get("operation") == "Err" or ("code" in item and "id" not in item):
        return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"{item.get('code')}: {item.get('message')}")
    got = item.get("clientId")
    if got is not None and int(got) != cid:
        return SubmitResult(cid, SubmitOutcome.UNRESOLVED, reason=f"reply is for client id {got}")
    if "id" not in item:
        return SubmitResult(cid, SubmitOutcome.UNRESOLVED, reason="reply without an order id")
    return SubmitResult(cid, SubmitOutcome.ACCEPTED, venue_order_id=str(item["id"]))
