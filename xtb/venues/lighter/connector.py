"""LighterConnector: the Connector and VenueOrderPort for Lighter (docs/venues/lighter.md).

Streams. One market-data socket through the Cython listener into the core FeedDecoder: `order_book/{m}`
for the configured markets and the authenticated private channels (`account_all_orders|trades|positions`
by default). The core applies snapshots and `begin_nonce` continuity; when a book goes stale (gap,
crossed book, our own staleness rules) or the socket is lost, the book is cleared (strategies see no
top of book) and resubscribed for a fresh snapshot. A second socket only carries transactions.

Orders go through the TxPipeline (txpipeline.py): nonce in call order, signature on the signer's thread,
dispatch strictly in nonce order, rollback on an API reject, nonce re-read after a reconnect or a nonce
error. `prepare_submit` starts the signing at once and returns an awaitable for the signed handle; the
tx leaves only when `send_submit` releases it, so the gateway's rate-limit wait stays in front of it.

Outcomes. API accepted -> ACCEPTED (code 200 only means the API took it; the stream and reconciliation
carry the execution). HTTP 400 / WS error -> REJECTED (nothing applied). No trustworthy answer ->
UNRESOLVED; reconciliation settles it by client id (active orders, accountOrders where served, recent
trades of our account).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
import orjson
from picows import WSListener, WSMsgType, WSTransport

from xtb._core import EventRing, FeedDecoder, OrderBook, OrderTracker, Position, RateLimiter
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
from xtb.orders.reconcile import (
    FillReport,
    OrderReport,
    PositionMerge,
    PositionReport,
    ReconcilePass,
    Reconciler,
    ReconcileRules,
    ReconcileStats,
    SettleReport,
    VenueOrderState,
    merge_positions,
)
from xtb.signing import (
    CancelAllRequest,
    CancelRequest,
    LighterSigner,
    NonceManager,
    TxRejected,
)
from xtb.signing import OrderRequest as SignerOrder
from xtb.transport import FeedListener
from xtb.transport.keepalive_http import KeepAliveClient, order_transport, warm_order_transport
from xtb.transport.rest import RestClient, VenueRejected
from xtb.transport.throttle import take_slot
from xtb.transport.ws import WsSession
from xtb.venues.contract import VenueStats
from xtb.venues.lighter import ratelimits
from xtb.venues.lighter.api import LighterApi, rest_limit_key
from xtb.venues.lighter.config import LighterConfig
from xtb.venues.lighter.keys import LighterKeys
from xtb.venues.lighter.markets import parse_markets
from xtb.venues.lighter.txpipeline import PreparedTx, TxPipeline
from xtb.venues.lighter.txsocket import PING, PONG, TxSocket
from xtb.venues.settle import settle_until_agreed

log = logging.getLogger("xtb.venues.lighter")

VENUE = "lighter"
USDC_DECIMALS = 6
MAX_CLIENT_ORDER_INDEX = (1 << 48) - 1
_LIVE_STATES = {"open": "open", "pending": "open", "in-progress": "open"}
def _units(text: Any, decimals: int) -> int:
    """Decimal text -> integer units (rounded half-even); 0 for missing values."""
    if text in (None, ""):
        return 0
    try:
        return int(Decimal(str(text)).scaleb(decimals).to_integral_value())
    except InvalidOperation:
        raise ValueError(f"not a decimal: {text!r}") from None


class LighterConnector:
    venue = VENUE
    # Trade messages carry taker_fee / maker_fee in undocumented units (UNCONFIRMED in the venue notes), so
    # fills are decoded with fee 0 and PnL ledgers charge the market's published rate instead.
    reports_fill_fees = False

    def __init__(
        self,
        config: LighterConfig,
        signer: LighterSigner,
        *,
        ring: EventRing | None = None,
        tracker: OrderTracker | None = None,
        limiter: RateLimiter | None = None,
        on_burst_end: Callable[[], object] | None = None,
        listener_cls: type | None = None,
        own_signer: bool = False,
    ) -> None:
        if signer.account_index != config.account_index or signer.api_key_index != config.api_key_index:
            raise ValueError("signer account_index/api_key_index do not match the connector config")
        self.config = config
        self.signer = signer
        self._own_signer = own_signer
        self.ring = ring if ring is not None else EventRing(1 << 16)
        self.tracker = tracker if tracker is not None else OrderTracker()
        self.limiter = limiter if limiter is not None else RateLimiter.from_config(ratelimits.lighter(config.tier))
        self.decoder = FeedDecoder(VENUE, self.ring)
        self.decoder.set_tracker(self.tracker)  # private order updates go through the core tracker
        self._user_burst_end = on_burst_end
        self._listener_cls = listener_cls or FeedListener
        self.nonces = NonceManager(config.account_index, config.api_key_index, self._fetch_nonce)
        self._markets: dict[str, MarketInfo] = {}
        self._by_id: dict[int, MarketInfo] = {}
        self._books: dict[str, OrderBook] = {}
        self._book_list: list[tuple[str, OrderBook]] = []
        self._resyncing: dict[str, int] = {}  # symbol -> monotonic ns of the resubscribe
        self._book_seen: dict[str, tuple[int, int]] = {}  # symbol -> (seq, ns it was first seen)
        self._http: aiohttp.ClientSession | None = None
        self._tx_transport: KeepAliveClient | None = None
        self._rest: RestClient | None = None
        self.api: LighterApi | None = None
        self._auth_token: Any = None  # xtb.signing.AuthToken (its repr hides the token)
        self._auth_lock = asyncio.Lock()
        self._md: WsSession | None = None
        self.tx_socket: TxSocket | None = None
        self._md_last_ns = 0
        self._md_connects = 0
        self._md_subscribed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconcile_lock = asyncio.Lock()
        # One position cache: replaced by every REST `account` read, updated per market by stream events.
        self._positions: dict[str, PositionInfo] = {}
        self._stream_positions_live = False
        self._position_seen_ns: dict[str, int] = {}  # symbol -> last stream position event
        self._fill_pending: dict[str, int] = {}  # symbol -> first fill not yet followed by a position
        self._position_check: asyncio.Task[Any] | None = None
        self._book_ids: dict[str, int] = {}
        self._book_symbols: dict[int, str] = {}
        self._lookup_supported = config.lookup_by_client_id
        self._last_auth_error_ns = 0
        self._started = False
        self.stats: dict[str, int] = {
            "resyncs": 0, "ws_tx": 0, "rest_tx": 0, "nonce_retries": 0, "feed_errors": 0,
        }
        self.reconcile_stats = ReconcileStats()
        self._reconciler = Reconciler(
            VENUE, self.tracker, ReconcileRules(config.unknown_order_policy, config.submit_window_s),
            self.reconcile_stats,
        )
        self.tx = TxPipeline(config, signer, self.nonces, self._require_api, lambda: self.tx_socket, self.stats)

    @classmethod
    def from_keys(cls, config: LighterConfig, keys: LighterKeys, **kwargs: Any) -> LighterConnector:
        """Build the signer from loaded keys (xtb.keys.load_lighter_keys); the connector owns and closes it."""
        if keys.account_index is not None and keys.account_index != config.account_index:
            raise ValueError("key file account index does not match the connector config")
        if keys.api_key_index != config.api_key_index:
            raise ValueError("key file api key index does not match the connector config")
        signer = LighterSigner(keys.private_key.reveal(), chain_id=config.chain_id,
                               api_key_index=config.api_key_index, account_index=config.account_index,
                               backend=config.signer, nonce_pool=config.nonce_pool)
        return cls(config, signer, own_signer=True, **kwargs)

    def __repr__(self) -> str:
        return (f"LighterConnector(account_index={self.config.account_index}, "
                f"api_key_index={self.config.api_key_index}, rest_url={self.config.rest_url!r}, "
                f"books={len(self._books)}, started={self._started})")

    # ------------------------------------------------------------------ lifecycle

    async def start(self, ready_timeout_s: float = 10.0) -> None:
        """Load markets, open the sockets, wait for the books' snapshots, reconcile."""
        if self._started:
            return
        cfg = self.config
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64, ttl_dns_cache=300, enable_cleanup_closed=True)
        )
        self._rest = RestClient(VENUE, cfg.rest_url, limiter=self.limiter, limit_key=rest_limit_key,
                                timeout_s=cfg.rest_timeout_s, max_retries=cfg.rest_max_retries, session=self._http)
        self._tx_transport = order_transport(cfg.rest_url, cfg.order_http, cfg.order_connections)
        tx_rest = RestClient(VENUE, cfg.rest_url, limiter=None, timeout_s=cfg.order_timeout_s,
                             max_retries=cfg.rest_max_retries, session=self._http, transport=self._tx_transport)
        self.api = LighterApi(self._rest, tx_rest, self._current_token)
        self.nonces.invalidate()  # (a restart after close) the first tx re-reads the venue's nonce
        self._started = True
        try:
            await self._load_markets()
            await warm_order_transport(VENUE, self._tx_transport, cfg.order_connections)
            await self._ensure_auth()
            self._md = WsSession(
                "lighter-md", cfg.ws_url, self._make_listener,
                on_connected=self._on_md_connected, on_disconnected=self._on_md_disconnected,
                last_activity_ns=lambda _listener: self._md_last_ns, stale_after_s=cfg.stale_after_s,
                backoff_initial_s=cfg.reconnect_backoff_initial_s, backoff_max_s=cfg.reconnect_backoff_max_s,
            )
            self._md.start()
            if cfg.ws_tx:
                self.tx_socket = TxSocket(cfg.ws_url, stale_after_s=cfg.stale_after_s,
                                          client_ping_interval_s=cfg.client_ping_interval_s,
                                          backoff_initial_s=cfg.reconnect_backoff_initial_s,
                                          backoff_max_s=cfg.reconnect_backoff_max_s)
                self.tx_socket.on_reconnect = self.nonces.invalidate
                self.tx_socket.start()
            await asyncio.wait_for(self._md.connected.wait(), ready_timeout_s)
            if not await self.wait_books_ready(ready_timeout_s):
                waiting = [s for s, b in self._books.items() if b.state not in ("awaiting_first", "live")]
                log.warning("lighter: no snapshot yet for %s after %.1f s; their books stay empty until it comes",
                            ", ".join(waiting), ready_timeout_s)
            await self.reconcile()
        except BaseException:
            await self.close()
            raise
        self._spawn(self._watchdog_loop())
        self._spawn(self._auth_loop())
        if cfg.reconcile_interval_s:
            self._spawn(self._reconcile_loop(cfg.reconcile_interval_s))
        if cfg.client_ping_interval_s:
            self._spawn(self._ping_loop(cfg.client_ping_interval_s))

    async def stop(self) -> None:
        """Stop streams and background tasks (REST stays usable until close)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        if self._md is not None:
            await self._md.stop()
        if self.tx_socket is not None:
            await self.tx_socket.stop()

    async def close(self) -> None:
        await self.stop()
        if self._http is not None and not self._http.closed:
            await self._http.close()
        if self._tx_transport is not None:
            await self._tx_transport.close()
            self._tx_transport = None
        if self._own_signer:
            self.signer.close()
        self._started = False

    async def wait_books_ready(self, timeout_s: float = 10.0, live_within_s: float = 1.0) -> bool:
        """Wait until every book has a snapshot (False on timeout), then up to `live_within_s` more for the
        first delta that makes it `live` (a quiet market may send none: its snapshot is still served)."""
        deadline = time.monotonic() + timeout_s
        while not all(b.state in ("awaiting_first", "live") for b in self._books.values()):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        live_by = min(deadline, time.monotonic() + live_within_s)
        while time.monotonic() < live_by and not all(b.state == "live" for b in self._books.values()):
            await asyncio.sleep(0.02)
        return True

    # ------------------------------------------------------------------ markets and books

    async def _load_markets(self) -> None:
        assert self.api is not None
        markets = parse_markets(await self.api.order_book_details(), self.config.aliases)
        wanted = self.config.symbols or tuple(markets)
        missing = [s for s in wanted if s not in markets]
        if missing:
            raise ValueError(f"symbols: not active Lighter perp markets: {', '.join(missing)}")
        self._markets = markets
        self._by_id = {m.market_id: m for m in markets.values() if m.market_id is not None}
        for symbol in wanted:
            if symbol in self._books:
                continue
            m = markets[symbol]
            book = OrderBook(VENUE, symbol, m.price_decimals, m.size_decimals)
            self._book_ids[symbol] = self.decoder.add_book(book, route=m.market_id)
            self._book_symbols[self._book_ids[symbol]] = symbol
            self._books[symbol] = book
        self._book_list = list(self._books.items())

    def markets(self) -> dict[str, MarketInfo]:
        return dict(self._markets)

    def _market(self, symbol: str) -> MarketInfo:
        try:
            return self._markets[symbol]
        except KeyError:
            raise ValueError(f"symbol: unknown Lighter market {symbol!r}") from None

    def _market_of(self, market_id: Any) -> MarketInfo | None:
        return self._by_id.get(market_id) if isinstance(market_id, int) else None

    def book(self, symbol: str) -> OrderBook:
        try:
            return self._books[symbol]
        except KeyError:
            raise KeyError(f"no Lighter book for {symbol!r} (subscribed: {', '.join(self._books)})") from None

    def top_of_book(self, symbol: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        book = self.book(symbol)
        return book.best_bid(), book.best_ask()

    async def rest_touch(self, symbol: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """Best bid and ask from REST `orderBookOrders` (for closing orders when the stream's book is stale
        or empty)."""
        assert self.api is not None
        m = self._markets[symbol]
        assert m.market_id is not None
        data = await self.api.order_book_orders(m.market_id, limit=5)

        def best(rows: Any, higher: bool) -> tuple[int, int] | None:
            levels = [(_units(o.get("price"), m.price_decimals),
                       _units(o.get("remaining_base_amount"), m.size_decimals)) for o in rows or []]
            levels = [lv for lv in levels if lv[0] > 0 and lv[1] > 0]
            if not levels:
                return None
            return max(levels) if higher else min(levels)

        return best(data.get("bids"), True), best(data.get("asks"), False)

    def books(self) -> dict[int, str]:
        return dict(self._book_symbols)

    def symbol_of_book(self, book_id: int) -> str:
        return self._book_symbols[book_id]

    def rest_clients(self) -> list[RestClient]:
        return [] if self._rest is None or self.api is None else [self._rest, self.api.tx_rest]

    def feed_frames(self) -> int:
        return int(self.decoder.stats().get("frames", 0))

    def venue_stats(self) -> VenueStats:
        st = self.stats
        extra = {k: v for k, v in st.items() if k not in ("resyncs", "feed_errors")}
        return VenueStats(VENUE, resyncs=st["resyncs"], reconnects=self._md_connects, feed_errors=st["feed_errors"],
                          reconcile=replace(self.reconcile_stats), extra=extra)

    # ------------------------------------------------------------------ market-data socket

    def _make_listener(self) -> WSListener:
        listener: WSListener = self._listener_cls(
            self.decoder, on_error=self._on_feed_error, on_burst_end=self._on_burst_end, app_pong=PONG
        )
        return listener

    def _on_burst_end(self) -> None:
        self._md_last_ns = time.monotonic_ns()
        if self._md_subscribed:  # (a fresh connection subscribes everything in _on_md_connected)
            for symbol, book in self._book_list:
                if book.is_stale:
                    self._resubscribe(symbol, book.stale_reason or "stale")
        if self._user_burst_end is not None:
            self._user_burst_end()

    def _on_feed_error(self, exc: BaseException) -> None:
        self.stats["feed_errors"] += 1
        text = str(exc)
        log.warning("lighter feed: %s", text)
        if "auth" in text.lower():
            now = time.monotonic_ns()
            if now - self._last_auth_error_ns > 5_000_000_000:  # at most one re-auth every 5 s
                self._last_auth_error_ns = now
                self._spawn(self._reauthenticate())

    def _send_md(self, payload: dict[str, Any]) -> None:
        if self._md is None or self._md.transport is None:
            return
        self._md.transport.send(WSMsgType.TEXT, orjson.dumps(payload))

    def _private_subscriptions(self) -> list[dict[str, Any]]:
        acct = self.config.account_index
        token = self._current_token()
        return [{"type": "subscribe", "channel": f"{ch}/{acct}", "auth": token}
                for ch in self.config.private_channels]

    async def _on_md_connected(self, transport: WSTransport, listener: WSListener) -> None:
        self._md_last_ns = time.monotonic_ns()
        self._md_connects += 1
        await self._ensure_auth()
        now = time.monotonic_ns()
        frames = []
        for symbol, book in self._book_list:
            book.clear()
            self._resyncing[symbol] = now
            frames.append({"type": "subscribe", "channel": f"order_book/{self._markets[symbol].market_id}"})
            if self.config.trades:
                frames.append({"type": "subscribe", "channel": f"trade/{self._markets[symbol].market_id}"})
        frames += self._private_subscriptions()
        for f in frames:
            transport.send(WSMsgType.TEXT, orjson.dumps(f))
        self._md_subscribed = True
        if self._md_connects > 1:
            self.nonces.invalidate()
            self._spawn(self._reconcile_quietly("reconnect"))

    def _on_md_disconnected(self, reason: str) -> None:
        self._md_subscribed = False
        self._stream_positions_live = False
        for _symbol, book in self._book_list:
            book.mark_stale(f"disconnected: {reason}")

    def _resubscribe(self, symbol: str, reason: str) -> None:
        """Fresh snapshot for one book: clear it (no top of book meanwhile), unsubscribe, subscribe.

        Called for a stale book only; a cleared book waits for its snapshot without going stale, so a
        book that goes stale again (e.g. a gap right after the new snapshot) is resubscribed again.
        """
        self.stats["resyncs"] += 1
        log.info("lighter %s book resync: %s", symbol, reason)
        book = self._books[symbol]
        book.clear()
        self._resyncing[symbol] = time.monotonic_ns()
        channel = f"order_book/{self._markets[symbol].market_id}"
        self._send_md({"type": "unsubscribe", "channel": channel})
        self._send_md({"type": "subscribe", "channel": channel})

    async def _reauthenticate(self) -> None:
        await self._ensure_auth(force=True)
        for f in self._private_subscriptions():
            self._send_md({"type": "unsubscribe", "channel": f["channel"]})
            self._send_md(f)

    async def _watchdog_loop(self) -> None:
        """Resyncs that got no snapshot reconnect the socket; optional per-book silence limit."""
        cfg = self.config
        while True:
            await asyncio.sleep(min(0.25, cfg.resync_timeout_s / 4))
            now = time.monotonic_ns()
            for symbol in list(self._resyncing):
                book = self._books[symbol]
                if book.state in ("awaiting_first", "live"):
                    del self._resyncing[symbol]
                elif now - self._resyncing[symbol] > cfg.resync_timeout_s * 1e9 and self._md is not None:
                    log.warning("lighter %s: no snapshot %.1f s after resubscribing; reconnecting",
                                symbol, cfg.resync_timeout_s)
                    self._resyncing.clear()
                    self._md.drop()
                    break
            if cfg.book_stale_after_s is not None:
                for symbol, book in self._book_list:
                    if symbol in self._resyncing:
                        continue
                    seq = book.seq
                    seen = self._book_seen.get(symbol)
                    if seen is None or seen[0] != seq:
                        self._book_seen[symbol] = (seq, now)
                    elif now - seen[1] > cfg.book_stale_after_s * 1e9:
                        book.mark_stale(f"no update for {cfg.book_stale_after_s} s")
                        self._book_seen.pop(symbol, None)
                        self._resubscribe(symbol, "silent book")

    async def _ping_loop(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            if self._md is not None and self._md.transport is not None:
                with contextlib.suppress(Exception):
                    self._md.transport.send(WSMsgType.TEXT, PING)

    # ------------------------------------------------------------------ auth

    def _current_token(self) -> str:
        if self._auth_token is None:
            raise RuntimeError("lighter auth token not created yet (call start)")
        return str(self._auth_token.token)

    async def _ensure_auth(self, force: bool = False) -> None:
        cfg = self.config
        async with self._auth_lock:
            tok = self._auth_token
            if not force and tok is not None and tok.deadline_s - time.time() > cfg.auth_refresh_before_s:
                return
            self._auth_token = await self.signer.create_auth_token(ttl_s=cfg.auth_ttl_s)

    async def _auth_loop(self) -> None:
        cfg = self.config
        while True:
            tok = self._auth_token
            wait = 1.0 if tok is None else max(1.0, tok.deadline_s - time.time() - cfg.auth_refresh_before_s)
            await asyncio.sleep(wait)
            try:
                await self._ensure_auth()
            except Exception as e:  # keep the loop: the next REST call or reconnect retries
                log.warning("lighter auth token refresh failed: %s", type(e).__name__)

    # ------------------------------------------------------------------ nonces

    def _require_api(self) -> LighterApi:
        if self.api is None:
            raise RuntimeError("lighter connector not started")
        return self.api

    async def _fetch_nonce(self, account_index: int, api_key_index: int) -> int:
        assert self.api is not None
        return await self.api.next_nonce(account_index, api_key_index)

    # ------------------------------------------------------------------ VenueOrderPort

    def limit_key(self, op: str, count: int) -> tuple[str, int]:
        """Every Lighter write is a tx: one sendTx (weight 6 in the preset) or one sendTxBatch."""
        return ("sendTx" if count <= 1 else "sendTxBatch"), 1

    def to_signer_order(self, req: OrderRequest) -> SignerOrder:
        """Our OrderRequest -> the signer's CreateOrder; ValueError names the field."""
        m = self._market(req.symbol)
        assert m.market_id is not None
        if not 1 <= req.client_id <= MAX_CLIENT_ORDER_INDEX:
            raise ValueError(f"client_id: must be 1..2^48-1 for Lighter, got {req.client_id}")
        if req.size < 1:
            raise ValueError(f"size: must be >= 1 size unit, got {req.size}")
        is_ask = req.side is Side.ASK
        if req.kind is OrderKind.MARKET:
            price = req.price if req.price is not None else self._worst_price(m, req.side)
            return SignerOrder.market(m.market_id, req.client_id, req.size, price, is_ask,
                                      reduce_only=req.reduce_only)
        if req.price is None or req.price < 1:
            raise ValueError(f"price: a limit order needs a price >= 1, got {req.price}")
        if req.tif is TimeInForce.FOK:
            raise ValueError("tif: Lighter has no fill-or-kill (use ioc)")
        if req.tif is TimeInForce.IOC:
            if req.post_only:
                raise ValueError("post_only: cannot be combined with tif=ioc")
            return SignerOrder.ioc(m.market_id, req.client_id, req.size, req.price, is_ask,
                                   reduce_only=req.reduce_only)
        expiry = -1 if self.config.order_expiry_ms < 0 else int(time.time() * 1000) + self.config.order_expiry_ms
        return SignerOrder.limit(m.market_id, req.client_id, req.size, req.price, is_ask, expiry_ms=expiry,
                                 post_only=req.post_only, reduce_only=req.reduce_only)

    def _worst_price(self, m: MarketInfo, side: Side) -> int:
        bid, ask = self.top_of_book(m.symbol)
        ref = ask if side is Side.BID else bid
        if ref is None:
            raise ValueError(f"price: market order on {m.symbol} needs a worst price (the book has no top)")
        bps = self.config.market_slippage_bps
        if side is Side.BID:
            return ref[0] * (10_000 + bps) // 10_000
        return max(1, -((-ref[0] * (10_000 - bps)) // 10_000))

    def prepare_submit(self, reqs: Sequence[OrderRequest]) -> asyncio.Future[PreparedTx]:
        if len(reqs) > self.config.max_batch:
            raise ValueError(f"batch of {len(reqs)} orders exceeds max_batch={self.config.max_batch}")
        orders = [self.to_signer_order(r) for r in reqs]
        return self.tx.begin("submit", [r.client_id for r in reqs], orders)

    async def send_submit(self, prepared: PreparedTx) -> list[SubmitResult]:
        return await self.tx.release(prepared)

    def prepare_cancel(self, symbol: str, client_ids: Sequence[int]) -> asyncio.Future[PreparedTx]:
        m = self._market(symbol)
        assert m.market_id is not None
        if len(client_ids) > self.config.max_batch:
            raise ValueError(f"{len(client_ids)} cancels exceed max_batch={self.config.max_batch}")
        for cid in client_ids:
            if not 1 <= cid <= MAX_CLIENT_ORDER_INDEX:
                raise ValueError(f"client_id: must be 1..2^48-1 for Lighter, got {cid}")
        reqs = [CancelRequest(m.market_id, cid) for cid in client_ids]
        return self.tx.begin("cancel", client_ids, reqs)

    async def send_cancel(self, prepared: PreparedTx) -> list[SubmitResult]:
        return await self.tx.release(prepared)

    # ------------------------------------------------------------------ Connector orders

    async def _acquire(self, count: int) -> None:
        key, weight = self.limit_key("submit", count)
        await take_slot(self.limiter, key, weight, what=VENUE)

    async def submit(self, req: OrderRequest) -> SubmitResult:
        return (await self.submit_batch([req]))[0]

    async def submit_batch(self, reqs: list[OrderRequest]) -> list[SubmitResult]:
        """Direct submit (without the OrderGateway): tracks, rate-limits, and splits by max_batch.

        Bad input (unknown symbol, missing price, fill-or-kill, a reused client id...) raises ValueError
        naming the field before anything is tracked or sent.
        """
        ids = [r.client_id for r in reqs]
        for cid in ids:
            if self.tracker.get(cid, VENUE) is not None or ids.count(cid) > 1:
                raise ValueError(f"client_id: {cid} is already used on lighter (ids are unique per account)")
        orders = [self.to_signer_order(r) for r in reqs]
        out: list[SubmitResult] = []
        cap = self.config.max_batch
        for i in range(0, len(reqs), cap):
            chunk = reqs[i:i + cap]
            for r in chunk:
                self.tracker.submitted(
                    r.client_id, VENUE, r.symbol, r.side.value, r.price or 0, r.size, post_only=r.post_only,
                    reduce_only=r.reduce_only, time_in_force=r.tif.value.upper(),
                )
            ready = self.tx.begin("submit", [r.client_id for r in chunk], orders[i:i + cap])
            await self._acquire(len(chunk))
            results = await self.send_submit(await ready)
            self._apply_submit(results)
            out += results
        return out

    def _apply_submit(self, results: Sequence[SubmitResult]) -> None:
        for r in results:
            if r.outcome is SubmitOutcome.ACCEPTED:
                self.tracker.on_ack(r.client_id, VENUE, r.venue_order_id)
            elif r.outcome is SubmitOutcome.REJECTED:
                self.tracker.on_reject(r.client_id, VENUE, r.reason)
            else:
                seen = self.tracker.get(r.client_id, VENUE)
                if seen is not None and seen.order_id is not None:
                    continue  # the private stream already showed the venue has it: nothing is unknown
                self.tracker.on_unresolved(r.client_id, VENUE, r.reason)

    async def cancel(self, symbol: str, client_id: int) -> SubmitResult:
        return (await self.cancel_many(symbol, [client_id]))[0]

    async def cancel_many(self, symbol: str, client_ids: Sequence[int]) -> list[SubmitResult]:
        out: list[SubmitResult] = []
        cap = self.config.max_batch
        for i in range(0, len(client_ids), cap):
            chunk = list(client_ids[i:i + cap])
            ready = self.prepare_cancel(symbol, chunk)
            for cid in chunk:
                self.tracker.on_cancel_requested(cid, VENUE)
            await self._acquire(len(chunk))
            results = await self.send_cancel(await ready)
            for r in results:
                if r.outcome is SubmitOutcome.ACCEPTED:
                    self.tracker.on_cancel(r.client_id, VENUE, r.reason)
                elif r.outcome is SubmitOutcome.REJECTED:
                    self.tracker.on_cancel_rejected(r.client_id, VENUE, r.reason)
            out += results
        return out

    async def cancel_all(self, symbol: str | None = None) -> None:
        """CancelAllOrders (immediate), all markets or one.

        Accepted by the API: the tracked resting orders are cancelled in the tracker (as for a single cancel;
        a fill the stream reports afterwards still lands, and an order the venue kept is found by
        reconciliation and cancelled there). Raises TxRejected when the venue refused it, ConnectionError
        when the outcome is unknown (the orders stay pending_cancel until the stream or reconciliation).
        """
        market = None if symbol is None else self._market(symbol).market_id
        # Only resting orders are cancelled here: an IOC / market order was decided by the venue the moment it
        # arrived (filled or expired), so it is left to the stream or reconciliation, never assumed cancelled
        # (that would lose a fill the private stream has not delivered yet).
        live = [o for o in self.tracker.open_orders(VENUE, symbol) if o.time_in_force == "GTC"]
        # Cancelling everything twice is harmless, so a cancel-all without an answer (a socket that died
        # under it) is sent again, like any idempotent request.
        for _attempt in range(3):
            ready = self.tx.begin("cancel_all", [0], [CancelAllRequest(market_index=market)])
            await self._acquire(1)
            result = (await self.tx.release(await ready))[0]
            if result.outcome is not SubmitOutcome.UNRESOLVED:
                break
            log.warning("lighter cancel all: %s; sending it again", result.reason)
        if result.outcome is SubmitOutcome.REJECTED:
            raise TxRejected(f"cancel all refused: {result.reason}")
        for o in live:
            self.tracker.on_cancel_requested(o.client_id, VENUE)
        if result.outcome is SubmitOutcome.UNRESOLVED:
            raise ConnectionError(f"cancel all: {result.reason}")
        for o in live:
            self.tracker.on_cancel(o.client_id, VENUE, "cancel all")

    # ------------------------------------------------------------------ account state

    def on_position(self, event: Any) -> None:
        """Dispatcher listener: stream position cache."""
        if event.venue != VENUE:
            return
        book = self.decoder.book(event.book_id)
        self._positions[book.symbol] = PositionInfo(book.symbol, event.size, event.entry_px, 0, "stream")
        self._stream_positions_live = True
        self._position_seen_ns[book.symbol] = time.monotonic_ns()
        self._fill_pending.pop(book.symbol, None)

    def on_fill(self, event: Any) -> None:
        """Dispatcher listener: a fill should be followed by a position update; check that it is."""
        delay = self.config.position_check_delay_s
        if delay is None or event.venue != VENUE:
            return
        order = self.tracker.get(event.client_id, VENUE)
        if order is None or order.symbol not in self._book_ids:
            return
        self._fill_pending.setdefault(order.symbol, time.monotonic_ns())
        if self._position_check is None or self._position_check.done():
            self._position_check = self._spawn(self._check_positions_after_fills(delay))

    async def _check_positions_after_fills(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        if not self._fill_pending:
            return  # the stream sent the positions
        self._fill_pending.clear()
        try:
            await self._refresh_account()  # publishes what changed
        except Exception as e:
            log.warning("lighter position check after fills failed: %s", e)

    async def positions(self) -> dict[str, PositionInfo]:
        """The cache while the private stream is live and feeding it and has shown every fill's position, else
        a REST `account` read.

        A market the stream stops mentioning (e.g. closed to flat) keeps its last streamed size until
        the next REST read (every reconciliation replaces the cache).
        """
        if not self._stream_positions_live or self._fill_pending:  # a fill the stream's positions do not show yet
            self._fill_pending.clear()
            await self._refresh_account()
        return {s: p for s, p in self._positions.items() if p.size != 0}

    async def balances(self) -> dict[str, Balance]:
        acct, _ = await self._refresh_account()
        out = {"USDC": Balance("USDC", _units(acct.get("collateral"), USDC_DECIMALS),
                               _units(acct.get("available_balance"), USDC_DECIMALS), USDC_DECIMALS)}
        for a in acct.get("assets") or []:
            sym = a.get("symbol")
            if not isinstance(sym, str) or sym == "USDC":
                continue
            dec = 6 if a.get("asset_id") == 3 else 8  # USDC 1e6, others 1e8 (the venue's asset decimals)
            total = _units(a.get("balance"), dec)
            out[sym] = Balance(sym, total, total - _units(a.get("locked_balance"), dec), dec)
        return out

    def open_orders(self, symbol: str | None = None) -> list[Any]:
        return list(self.tracker.open_orders(VENUE, symbol))

    async def _refresh_account(self) -> tuple[dict[str, Any], PositionMerge]:
        """REST `account`: merged into the position cache by the shared rule (a market the stream updated
        while the request was under way keeps the stream's value); every change of a kept market goes to
        the ring as a Position event (a market gone flat included)."""
        assert self.api is not None
        asked_ns = time.monotonic_ns()
        acct = await self.api.account(self.config.account_index)
        fresh: list[PositionReport] = []
        for p in acct.get("positions") or []:
            m = self._market_of(p.get("market_id"))
            if m is None:
                continue
            size = _units(p.get("position"), m.size_decimals) * (-1 if p.get("sign") == -1 else 1)
            fresh.append(PositionReport(
                m.symbol, size, _units(p.get("avg_entry_price"), m.price_decimals) if size else 0,
                _units(p.get("unrealized_pnl"), m.price_decimals + m.size_decimals),
            ))
        cached = {s: PositionReport(s, p.size, p.entry_px, p.unrealized_pnl) for s, p in self._positions.items()}
        merge = merge_positions(cached, fresh, self._book_ids, asked_ns=asked_ns,
                                stream_seen_ns=self._position_seen_ns)
        positions = {s: PositionInfo(s, p.size, p.entry_px, p.unrealized_pnl,
                                     "rest" if self._position_seen_ns.get(s, 0) <= asked_ns else "stream")
                     for s, p in merge.positions.items()}
        # Markets we keep no book for are cached as read (positions() reports them too).
        for p in fresh:
            if p.symbol not in self._book_ids and p.size:
                positions[p.symbol] = PositionInfo(p.symbol, p.size, p.entry_px, p.unrealized_pnl, "rest")
        now = time.monotonic_ns()
        for symbol in merge.changed:
            q = merge.positions.get(symbol)
            self.ring.push(Position(VENUE, self._book_ids[symbol], q.size if q else 0, q.entry_px if q else 0, now))
        self._positions = positions
        return acct, merge

    async def _refresh_positions(self) -> PositionMerge:
        return (await self._refresh_account())[1]

    # ------------------------------------------------------------------ reconciliation

    async def reconcile(self) -> ReconcilePass:
        """Venue truth -> tracker through the shared reconciler (xtb/orders/reconcile.py): active orders,
        unknown orders by policy, ghosts cancelled, missing orders looked up and settled, positions."""
        assert self.api is not None
        async with self._reconcile_lock:
            self.reconcile_stats.reconciles += 1
            await self._ensure_auth()
            rec = self._reconciler
            venue_orders = await self.api.active_orders(self.config.account_index)
            reports = [r for r in map(self._order_report, venue_orders) if r is not None]
            verdict = rec.open_orders(reports, time.monotonic_ns(), in_flight=self.tx.inflight)
            for r in verdict.cancel:
                res = await self._cancel_by_order_index(r)
                log.info("lighter: cancelled venue order %s on %s: %s", r.order_id, r.symbol, res.outcome.value)
            if verdict.missing:
                await self._look_up(verdict.missing)
                rec.settle_missing(verdict.missing)
            merge = await self._refresh_positions()
            return ReconcilePass(verdict, merge, rec.disagreements(verdict, merge))

    async def check_orders(self, client_ids: Sequence[int]) -> bool:
        """What the venue says now of these live orders, over REST (the engine's order watch asks when the
        stream may have missed something): the active orders, then each order no longer listed (and not in
        flight) looked up, through the reconciler; positions re-read when a filled size moved. Returns
        whether a filled size moved."""
        assert self.api is not None
        async with self._reconcile_lock:
            before = self._filled_of(client_ids)
            await self._ensure_auth()
            venue_orders = await self.api.active_orders(self.config.account_index)
            reports = [r for r in map(self._order_report, venue_orders) if r is not None]
            inflight = self.tx.inflight
            gone = [o for o in self._reconciler.check_listed(reports, client_ids) if o.client_id not in inflight]
            if gone:
                await self._look_up(gone)
            moved = self._filled_of(client_ids) != before
            if moved:
                await self._refresh_positions()
            return moved

    def _filled_of(self, client_ids: Sequence[int]) -> list[int]:
        return [o.filled if o is not None else 0 for o in (self.tracker.get(c, VENUE) for c in client_ids)]

    async def settle(self, timeout_s: float = 10.0, interval_s: float = 0.25) -> SettleReport:
        """Re-read orders, fills and positions over REST until the bot and the venue agree (or timeout)."""
        return await settle_until_agreed(VENUE, self.reconcile, self.tracker, timeout_s, interval_s,
                                         self.config.submit_window_s)

    def _order_report(self, o: dict[str, Any]) -> OrderReport | None:
        """An order row (accountActiveOrders, accountOrders) as the reconciler's report."""
        m = self._market_of(o.get("market_index"))
        if m is None:
            return None
        filled = _units(o.get("filled_base_amount"), m.size_decimals)
        status = str(o.get("status", ""))
        state: VenueOrderState
        if status in _LIVE_STATES:
            state = "partially_filled" if filled > 0 else "open"
        elif status == "filled":
            state = "filled"
        elif status == "canceled-expired":
            state = "expired"
        elif status.startswith("canceled"):
            state = "cancelled"
        else:
            log.warning("lighter reconcile: unknown order status %r (client id %s)", status,
                        o.get("client_order_index"))
            return None
        quote = _units(o.get("filled_quote_amount"), USDC_DECIMALS)
        avg = None
        if filled > 0 and quote > 0:  # quote (1e6 USDC) / base -> price units
            avg = quote * 10 ** (m.price_decimals + m.size_decimals) // (filled * 10**USDC_DECIMALS)
        oid = o.get("order_index")
        tif = str(o.get("time_in_force", ""))
        return OrderReport(
            symbol=m.symbol, state=state, filled=filled, client_id=int(o.get("client_order_index") or 0) or None,
            order_id=str(oid) if oid is not None else None, side="ask" if o.get("is_ask") else "bid",
            size=_units(o.get("initial_base_amount"), m.size_decimals), price=_units(o.get("price"), m.price_decimals),
            avg_px=avg, post_only=tif == "post-only", reduce_only=bool(o.get("reduce_only")),
            time_in_force="IOC" if tif == "immediate-or-cancel" else "GTC",
            reason=None if state in ("open", "partially_filled", "filled") else status,
        )

    async def _cancel_by_order_index(self, r: OrderReport) -> SubmitResult:
        m = self._markets[r.symbol]
        assert m.market_id is not None and r.order_id is not None
        ready = self.tx.begin("cancel", [r.client_id or 0], [CancelRequest(m.market_id, int(r.order_id))])
        await self._acquire(1)
        return (await self.tx.release(await ready))[0]

    async def _look_up(self, missing: Sequence[Any]) -> None:
        """Missing orders: their venue records (by client id where served, else every page of closed
        orders they need), their fills first when the record shows fills we never saw (every page of the
        account's trades they need), then the reconciler's verdict on each record found."""
        assert self.api is not None
        by_cid = {o.client_id: o for o in missing}
        found = await self._order_records(list(by_cid))
        reports = [r for r in map(self._order_report, found) if r is not None and r.client_id in by_cid]
        unseen = {r.client_id: r.filled for r in reports if r.client_id and r.filled > by_cid[r.client_id].filled}
        unfound = {cid: 0 for cid in by_cid if cid not in {r.client_id for r in reports}}
        if unseen or unfound:
            # An order record carries totals, not trades: recover the fills (ids, prices) first.
            await self._fills_from_trades({**unfound, **unseen}, {o.client_id: o.symbol for o in missing})
        for report in reports:
            self._reconciler.found(report)

    async def _order_records(self, client_ids: list[int]) -> list[dict[str, Any]]:
        """The venue's records of these orders: accountOrders in chunks of one page, else (not served)
        accountInactiveOrders page by page until each is found, the pages end, or `history_max_pages`."""
        assert self.api is not None
        acct, limit = self.config.account_index, self.config.history_limit
        if self._lookup_supported:
            out: list[dict[str, Any]] = []
            try:
                for i in range(0, len(client_ids), limit):
                    out += await self.api.orders_by_client_id(acct, client_ids[i:i + limit])
                return out
            except VenueRejected as e:
                if e.status not in (404, 405, 501):
                    raise
                self._lookup_supported = False  # not served here: the closed-order history below
        wanted, out, cursor = set(client_ids), [], None
        for _ in range(self.config.history_max_pages):
            rows, cursor = await self.api.inactive_orders(acct, limit, cursor)
            for row in rows:
                cid = int(row.get("client_order_index") or 0)
                if cid in wanted:
                    wanted.discard(cid)
                    out.append(row)
            if not wanted or not cursor:
                break
        return out

    async def _fills_from_trades(self, targets: Mapping[int, int], symbols: Mapping[int, str]) -> None:
        """Our fills of these client ids among the account's trades, newest first, page by page until each
        order's fills reach its target (the venue's filled size; 0 = unknown, read on), the pages end, or
        `history_max_pages`."""
        assert self.api is not None
        acct, limit = self.config.account_index, self.config.history_limit
        seen: dict[int, int] = {}
        cursor: str | None = None
        for _ in range(self.config.history_max_pages):
            try:
                trades, cursor = await self.api.account_trades(acct, limit, cursor)
            except Exception as e:
                log.warning("lighter reconcile: account trades failed: %s", e)
                return
            for t in trades:
                for side, acct_key, cid_key in (("bid", "bid_account_id", "bid_client_id"),
                                                ("ask", "ask_account_id", "ask_client_id")):
                    if t.get(acct_key) != acct:
                        continue
                    cid = int(t.get(cid_key) or 0)
                    m = self._markets.get(symbols.get(cid, ""))
                    if cid not in targets or m is None:
                        continue
                    sz = _units(t.get("size"), m.size_decimals)
                    seen[cid] = seen.get(cid, 0) + sz
                    maker = bool(t.get("is_maker_ask")) == (side == "ask")
                    self._reconciler.apply_fill(FillReport(
                        cid, int(t["trade_id"]), _units(t.get("price"), m.price_decimals), sz, maker=maker))
            done = all(target and seen.get(cid, 0) >= target for cid, target in targets.items())
            if done or not cursor:
                return

    async def _reconcile_quietly(self, why: str) -> None:
        try:
            await self.reconcile()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.reconcile_stats.reconcile_errors += 1
            log.warning("lighter reconcile (%s) failed: %s", why, e)

    async def _reconcile_loop(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self._reconcile_quietly("periodic")

    # ------------------------------------------------------------------ diagnostics

    async def latency_probe(self) -> float:
        """Round trip of GET nextNonce (weight 6, the cheapest endpoint) in ms."""
        assert self.api is not None
        t0 = time.perf_counter()
        await self.api.next_nonce(self.config.account_index, self.config.api_key_index)
        return (time.perf_counter() - t0) * 1000.0

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
