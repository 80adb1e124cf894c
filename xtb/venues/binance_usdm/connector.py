"""BinanceConnector: the Connector protocol and the gateway's VenueOrderPort for Binance USD-M perps.

Data path: the `/public` market socket (diff depth + bookTicker, combined streams) -> Cython listener ->
core FeedDecoder -> books in the core (the core applies the venue's documented procedure: deltas buffered
until a REST snapshot, `u < lastUpdateId` dropped, the first applied event must cover lastUpdateId, then
`pu` == previous `u`, a stale book otherwise). `/market` carries aggTrade when `trades` is on. The user
data stream (`/private/ws/<listenKey>`) goes to the same decoder: ORDER_TRADE_UPDATE is decoded in the core
into the tracker, ACCOUNT_UPDATE into `Position` events; listenKeyExpired is handled here.

The connector only translates: open orders, order queries and trade rows become reports for the shared
Reconciler (xtb/orders/reconcile.py), which decides. Client ids go out as decimal `newClientOrderId`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import orjson

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
    VenueOrderState,
    merge_positions,
)
from xtb.transport.keepalive_http import KeepAliveClient, order_transport, warm_order_transport
from xtb.transport.pylistener import PyFeedListener
from xtb.transport.rest import AmbiguousResponse, RestClient, RestError, RetriesExhausted, VenueRejected
from xtb.transport.ws import WsSession
from xtb.venues.binance_usdm.config import BinanceConfig
from xtb.venues.binance_usdm.dialect import BINANCE_USDM, FapiDialect
from xtb.venues.binance_usdm.markets import parse_markets, percent_price_band, rounded_units
from xtb.venues.binance_usdm.ratelimits import binance_usdm as binance_limits
from xtb.venues.binance_usdm.rest_api import Banned, BinanceRest, UsageGate
from xtb.venues.binance_usdm.ws_api import WsApiClient, WsApiError, WsApiTimeout
from xtb.venues.common import touch_from_levels
from xtb.venues.connector_base import StreamingConnector
from xtb.venues.contract import VenueStats

log = logging.getLogger("xtb.venues.binance_usdm")

VENUE = "binance_usdm"

_STATUS: dict[str, VenueOrderState] = {
    "NEW": "open",
    "PARTIALLY_FILLED": "partially_filled",
    "FILLED": "filled",
    "CANCELED": "cancelled",
    "EXPIRED": "expired",
    "EXPIRED_IN_MATCH": "expired",
    "REJECTED": "rejected",
}
_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
_SIDE = {Side.BID: "BUY", Side.ASK: "SELL"}
_LIMIT = OrderKind.LIMIT
CLIENT_ID_MAX = 10**36 - 1  # newClientOrderId: up to 36 characters; ours are decimal integers
_NO_BOUNDS = (1 << 62, 0, 1 << 62)
_NO_BAND = (0, 1 << 62)  # no mark known yet (or no PERCENT_PRICE filter): the venue decides


@dataclass
class ConnectorStats:
    snapshots: int = 0
    snapshot_retries: int = 0
    resyncs: int = 0
    feed_errors: int = 0
    reconnects: int = 0
    user_reconnects: int = 0
    listen_keys: int = 0


@dataclass(slots=True)
class _PreparedSubmit:
    path: str
    body: bytes
    client_ids: tuple[int, ...]
    more: tuple[_PreparedSubmit, ...] = ()  # further requests of a batch larger than the venue's cap


@dataclass
class _PreparedWsSubmit:
    """Orders for `order.place` over the WebSocket API (signed when sent: the timestamp is fresh)."""

    params: list[dict[str, str]]
    client_ids: tuple[int, ...]


@dataclass
class _PreparedCancel:
    symbol: str
    bodies: list[tuple[int, bytes]]


class _UserListener(PyFeedListener):
    """The user data stream: ORDER_TRADE_UPDATE and ACCOUNT_UPDATE to the core decoder, the rest
    (listenKeyExpired; TRADE_LITE, which repeats ORDER_TRADE_UPDATE's fill) to the connector."""

    def __init__(self, decoder: Any, on_other: Callable[[bytes], None], **kw: Any) -> None:
        super().__init__(decoder, **kw)
        self._on_other = on_other

    def _feed(self, transport: Any, payload: bytes) -> None:
        if b'"ORDER_TRADE_UPDATE"' in payload or b'"ACCOUNT_UPDATE"' in payload:
            super()._feed(transport, payload)
        else:
            self.frames += 1
            try:
                self._on_other(payload)
            except Exception as e:  # a bad frame must not kill the socket; it is counted and logged
                self.errors += 1
                log.warning("user data stream frame refused: %s", e)


class _MarketListener(PyFeedListener):
    """The `/market` host: every frame goes to the core feed decoder (aggTrade -> Trade, markPriceUpdate ->
    MarkPrice ring events); a mark frame the core took is also handed to the connector's latest-value view."""

    def __init__(self, decoder: Any, on_marks: Callable[[bytes], None], **kw: Any) -> None:
        super().__init__(decoder, **kw)
        self._on_marks = on_marks

    def _feed(self, transport: Any, payload: bytes) -> None:
        errors = self.errors
        super()._feed(transport, payload)
        if self.errors != errors or b'"markPriceUpdate"' not in payload:
            return  # a refused frame is counted and reported once, by the feed decoder's path
        try:
            self._on_marks(payload)
        except Exception as e:  # a listener's bug must not kill the socket; it is logged
            log.warning("mark price listener failed: %s", e)


class BinanceConnector(StreamingConnector):
    """Also the connector of venues that copy Binance's `/fapi` API: `dialect` names the venue, its paths and
    error codes, `signer` its request signer (Binance's HMAC signer from the key pair by default)."""

    venue = VENUE
    reports_fill_fees = True

    def __init__(
        self,
        config: BinanceConfig,
        api_key: Any,  # xtb.keys.Secret or str
        api_secret: Any,
        *,
        ring: Any | None = None,
        tracker: Any | None = None,
        limiter: Any | None = None,
        on_burst_end: Callable[[], object] | None = None,
        rng: random.Random | None = None,
        dialect: FapiDialect = BINANCE_USDM,
        signer: Any | None = None,
    ) -> None:
        self.config = config
        self.dialect = dialect
        self.venue = dialect.venue
        self._paths = dialect.paths
        if signer is None:
            key = api_key.reveal() if hasattr(api_key, "reveal") else str(api_key)
            secret = api_secret.reveal() if hasattr(api_secret, "reveal") else str(api_secret)
            signer = _core.BinanceSigner(key, secret, config.recv_window_ms)
            del key, secret
        self._signer = signer
        self.ring = ring if ring is not None else _core.EventRing(config.ring_capacity)
        self.tracker = tracker if tracker is not None else _core.OrderTracker(self.ring)
        self.limiter = limiter if limiter is not None else _core.RateLimiter.from_config(
            binance_limits(config.weight_per_minute, config.orders_per_10s, config.orders_per_minute), self.ring
        )
        self.gate = UsageGate(self.limiter, config.weight_per_minute, config.orders_per_10s,
                              config.orders_per_minute, config.weight_headroom, config.ban_default_s,
                              config.weight_window_s, venue=self.venue,
                              order_paths=(self._paths["order"], self._paths["batch_orders"]))  # fmt: skip
        self._on_burst_end = on_burst_end
        self._rng = rng or random.Random()
        self.decoder = _core.FeedDecoder(self.venue, self.ring)
        self.decoder.set_tracker(self.tracker)
        self._markets: dict[str, MarketInfo] = {}
        self._bounds: dict[str, tuple[int, int, int]] = {}
        self._books: dict[str, Any] = {}
        self._book_symbols: dict[int, str] = {}
        self._book_ids: dict[str, int] = {}
        self._positions: dict[str, PositionInfo] = {}
        self._positions_seeded = False
        self._position_seen_ns: dict[str, int] = {}
        self._balances: dict[str, Balance] = {}
        self._balances_ns = 0
        self._session: aiohttp.ClientSession | None = None
        self._order_transport: KeepAliveClient | None = None
        self._http: BinanceRest | None = None
        self._ws: WsSession | None = None
        self._user_ws: WsSession | None = None
        self._trades_ws: WsSession | None = None  # the /market host: aggTrade and/or markPrice
        self._marks: dict[str, Any] = {}  # symbol -> the latest core BinanceMarkPrice
        self._bands: dict[str, tuple[Any, tuple[int, int]]] = {}  # symbol -> (the mark, its band)
        self._mark_listeners: list[Callable[[Any], object]] = []
        self._ws_api: WsApiClient | None = None
        self._listen_key: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._resyncing: set[str] = set()
        self._traded: set[str] = set()
        self._reconcile_lock = asyncio.Lock()
        self._listen_key_lock = asyncio.Lock()
        self._frames_seen = 0
        self._frames_seen_ns = time.monotonic_ns()
        self._started = False
        self.position_mode = ""  # "one-way" once verified at start
        self.settings: dict[str, dict[str, Any]] = {}  # symbol -> the leverage / margin type verified at start
        self.stats = ConnectorStats()
        self.reconcile_stats = ReconcileStats()
        self._reconciler = Reconciler(
            self.venue, self.tracker, ReconcileRules(config.unknown_order_policy, config.submit_window_s),
            self.reconcile_stats,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._signer!r}, rest={self.config.rest_url!r})"

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._started:
            return
        cfg = self.config
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64, ttl_dns_cache=300, enable_cleanup_closed=True)
        )
        rest = RestClient(self.venue, cfg.rest_url, limiter=None, limit_key=self.dialect.limit_key,
                          timeout_s=cfg.request_timeout_s, max_retries=cfg.max_retries, session=self._session,
                          rng=self._rng, on_response=self.gate.on_response)  # fmt: skip
        self._order_transport = order_transport(cfg.rest_url, cfg.order_http, cfg.order_connections)
        # Orders: the gateway took the slot; a 429 is not retried here (the order is refused and the pools
        # are blocked for Retry-After, so nothing else is sent into a ban either).
        orders = RestClient(self.venue, cfg.rest_url, limiter=None, timeout_s=cfg.order_timeout_s, max_retries=0,
                            session=self._session, transport=self._order_transport, rng=self._rng,
                            on_response=self.gate.on_response)  # fmt: skip
        self._http = BinanceRest(rest, orders, self._signer, self.gate, self.limiter, self.dialect)
        await self._http.sync_time()
        self.load_markets(await self._http.exchange_info())
        await self._check_position_mode()
        await self._apply_settings()
        await warm_order_transport(self.venue, self._order_transport, cfg.order_connections)
        self._listen_key = await self._new_listen_key()
        self._ws = WsSession(
            self.venue, self._market_url(), self._make_listener,
            on_connected=self._on_connected, on_disconnected=self._on_disconnected,
            last_activity_ns=self._last_activity_ns, stale_after_s=cfg.stale_after_s,
            backoff_initial_s=cfg.backoff_initial_s, backoff_max_s=cfg.backoff_max_s, rng=self._rng,
        )
        if cfg.trades or cfg.mark_price:
            # aggTrade and markPrice live on the /market host (on /public they would be silent): one session
            names = [f"{s.lower()}@aggTrade" for s in self._books] if cfg.trades else []
            speed = f"@{cfg.mark_price_speed}" if cfg.mark_price_speed else ""
            names += [f"{s.lower()}@markPrice{speed}" for s in self._books] if cfg.mark_price else []
            self._trades_ws = WsSession(
                f"{self.venue}-market", f"{cfg.ws_market_url}/stream?streams={'/'.join(names)}",
                self._make_market_listener if cfg.mark_price else self._make_listener,
                backoff_initial_s=cfg.backoff_initial_s, backoff_max_s=cfg.backoff_max_s, rng=self._rng,
            )
        self._user_ws = WsSession(
            f"{self.venue}-user", self._user_url(), self._make_user_listener,
            on_connected=self._on_user_connected, on_disconnected=self._on_user_disconnected,
            backoff_initial_s=cfg.backoff_initial_s, backoff_max_s=cfg.backoff_max_s, rng=self._rng,
        )
        self._started = True
        if cfg.order_entry == "ws_api":
            self._ws_api = WsApiClient(cfg.ws_api_url, self._signer, backoff_initial_s=cfg.backoff_initial_s,
                                       backoff_max_s=cfg.backoff_max_s)  # fmt: skip
            self._ws_api.start()
        self._user_ws.start()
        self._ws.start()
        if self._trades_ws is not None:
            self._trades_ws.start()
        self._spawn(self._book_watchdog(), "book-watchdog")
        self._spawn(self._listen_key_keepalive(), "listen-key")
        if cfg.reconcile_interval_s:
            self._spawn(self._reconcile_loop(cfg.reconcile_interval_s), "reconcile")
        await self.wait_ready(cfg.start_timeout_s)

    def _market_url(self) -> str:
        speed = f"@{self.config.depth_speed}" if self.config.depth_speed else ""
        streams = [f"{s.lower()}@depth{speed}" for s in self._books]
        return f"{self.config.ws_public_url}/stream?streams={'/'.join(streams)}"

    def _user_url(self) -> str:
        return f"{self.config.ws_private_url}/ws/{self._listen_key}"

    async def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_ready():
                return
            await asyncio.sleep(0.02)
        states = {s: b.state for s, b in self._books.items()}
        raise TimeoutError(f"{self.venue} connector not ready after {timeout_s} s (books: {states})")

    def is_ready(self) -> bool:
        ws, user = self._ws, self._user_ws
        books_ok = all(b.state == "live" for b in self._books.values())
        api_ok = self._ws_api is None or self._ws_api.connected()
        return (ws is not None and ws.connected.is_set() and user is not None and user.connected.is_set()
                and self._positions_seeded and books_ok and api_ok)

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self.config.cancel_all_on_stop and self._http is not None:
            with contextlib.suppress(RestError, asyncio.TimeoutError):
                await self.cancel_all()
        await self._cancel_tasks()
        for ws in (self._ws, self._user_ws, self._trades_ws):
            if ws is not None:
                await ws.stop()
        if self._ws_api is not None:
            await self._ws_api.stop()
        if self._http is not None and self._listen_key is not None:
            with contextlib.suppress(RestError, asyncio.TimeoutError):
                await self._http.listen_key("DELETE")
        for book in self._books.values():
            book.mark_stale("connector stopped")

    # ------------------------------------------------------------------ account settings
    async def _check_position_mode(self) -> None:
        """xtb nets one position per market (one-way mode). A hedge-mode account (dualSidePosition) would
        need positionSide on every order and reports LONG and SHORT legs apart: refused at start, never
        switched behind the operator's back."""
        reply = await self.http.position_mode()
        dual = reply.get("dualSidePosition") if isinstance(reply, dict) else None
        if not isinstance(dual, bool):
            raise RuntimeError(f"{self.venue}: unexpected position-mode reply {reply!r} (want dualSidePosition)")
        if dual:
            raise RuntimeError(f"{self.venue}: the account is in hedge mode (dualSidePosition=true); xtb trades "
                               "one-way mode only: switch the account to one-way mode and start again")
        self.position_mode = "one-way"

    async def _apply_settings(self) -> None:
        """Leverage and margin type as configured, each verified from the venue's reply. Nothing is
        changed that the config does not name; a reply that disagrees stops the start."""
        cfg = self.config
        for sym in self._markets:
            got: dict[str, Any] = {}
            lev = cfg.leverage_for(sym)
            if lev is not None:
                reply = await self.http.set_leverage(sym, lev)
                if not isinstance(reply, dict) or int(reply.get("leverage", -1)) != lev:
                    raise RuntimeError(f"{self.venue} {sym}: leverage {lev} not confirmed by the venue ({reply!r})")
                got["leverage"] = lev
            if cfg.margin_type is not None:
                try:
                    await self.http.set_margin_type(sym, cfg.margin_type)
                    log.warning("%s %s: margin type set to %s (as configured)", self.venue, sym, cfg.margin_type)
                except VenueRejected as e:
                    if e.code != "-4046":  # -4046: it already is
                        raise RuntimeError(f"{self.venue} {sym}: margin type {cfg.margin_type} refused: "
                                           f"{e.code} {e.venue_message}") from None  # fmt: skip
                got["margin_type"] = cfg.margin_type
            if got:
                self.settings[sym] = got

    # ------------------------------------------------------------------ markets and data
    def load_markets(self, raw: Any) -> dict[str, MarketInfo]:
        """Markets from an exchangeInfo reply, one core book each on the decoder (offline users call it
        with a recorded reply and feed the decoder themselves)."""
        if self._books:
            raise RuntimeError(f"{self.venue}: markets are already loaded")
        self._markets = parse_markets(raw, self.config.symbols, self.config.aliases, self.venue)
        # (max size, min price, max price) of each market, for the hot path's inlined checks
        self._bounds = {sym: (m.extra.get("max_size", _NO_BOUNDS[0]), m.extra.get("min_price", _NO_BOUNDS[1]),
                              m.extra.get("max_price", _NO_BOUNDS[2])) for sym, m in self._markets.items()}  # fmt: skip
        for sym, m in self._markets.items():
            book = _core.OrderBook(self.venue, sym, m.price_decimals, m.size_decimals)
            book_id = self.decoder.add_book(book)
            self._books[sym] = book
            self._book_symbols[book_id] = sym
            self._book_ids[sym] = book_id
        return dict(self._markets)

    def book(self, symbol: str) -> Any:
        try:
            return self._books[symbol]
        except KeyError:
            raise KeyError(f"{self.venue}: no book for {symbol!r} (have: {', '.join(self._books)})") from None

    async def rest_touch(self, symbol: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """Best bid and ask from the REST depth (closing orders when the stream's book is not live)."""
        m = self._markets[symbol]
        data = await self.http.depth(symbol, 5) or {}
        return touch_from_levels(data.get("bids"), data.get("asks"), m.price_decimals, m.size_decimals)

    def venue_stats(self) -> VenueStats:
        st, gate = self.stats, self.gate
        http = self._http
        return VenueStats(self.venue, resyncs=st.resyncs, reconnects=st.reconnects, feed_errors=st.feed_errors,
                          reconcile=replace(self.reconcile_stats),
                          extra={"snapshots": st.snapshots, "snapshot_retries": st.snapshot_retries,
                                 "user_reconnects": st.user_reconnects, "listen_keys": st.listen_keys,
                                 "used_weight_1m": gate.used_weight, "order_count_10s": gate.order_count_10s,
                                 "rate_limited": gate.rate_limited, "bans": gate.bans,
                                 "time_syncs": http.time_syncs if http else 0,
                                 "ws_api_requests": self._ws_api.requests if self._ws_api else 0,
                                 "ws_api_timeouts": self._ws_api.timeouts if self._ws_api else 0,
                                 "timestamp_rejections": http.timestamp_rejections if http else 0})  # fmt: skip

    @property
    def http(self) -> BinanceRest:
        if self._http is None:
            raise RuntimeError(f"{self.venue} connector is not started")
        return self._http

    @property
    def user_ws(self) -> WsSession | None:
        return self._user_ws

    # ------------------------------------------------------------------ market socket
    def _on_feed_error(self, exc: BaseException) -> None:
        self.stats.feed_errors += 1
        log.warning("%s feed: %s", self.venue, exc)

    async def _on_connected(self, transport: Any, listener: Any) -> None:
        self.stats.reconnects += 1
        self._frames_seen, self._frames_seen_ns = 0, time.monotonic_ns()
        for book in self._books.values():
            book.clear()  # deltas of an old session never line up with a new snapshot
        for sym in self._books:
            self._start_resync(sym)

    def _on_disconnected(self, reason: str) -> None:
        for book in self._books.values():
            if book.state != "stale":
                book.mark_stale(f"disconnected: {reason}")

    def _make_market_listener(self) -> Any:
        return _MarketListener(self.decoder, self._on_mark_frame, on_error=self._on_feed_error,
                               on_burst_end=self._on_burst_end)  # fmt: skip

    # ------------------------------------------------------------------ mark price and funding
    def _on_mark_frame(self, payload: bytes) -> None:
        # the frame already went into the ring as MarkPrice events (book units); this is the fixed-scale view
        for m in _core.decode_binance_mark_prices(payload, venue=self.venue):
            if m.symbol not in self._books:
                continue
            self._marks[m.symbol] = m
            for fn in self._mark_listeners:
                fn(m)

    def mark_price(self, symbol: str) -> Any | None:
        """The latest `BinanceMarkPrice` of a symbol (mark, index and settle price, funding rate and the next
        funding time; prices and rate in units of 10^-decimals), None before the first one (option
        `mark_price`)."""
        return self._marks.get(symbol)

    def add_mark_listener(self, fn: Callable[[Any], object]) -> None:
        """Call `fn(mark)` for every mark price of a traded symbol, on the event loop, as it arrives."""
        self._mark_listeners.append(fn)

    def _latest_mark(self, symbol: str) -> Any | None:
        """The latest mark this connector knows for `symbol` (`mark_px` in units of 10^-`decimals`; a new
        object per update), None before the first one. The PERCENT_PRICE check's only read of the mark feed:
        whatever keeps the mark, this says."""
        return self._marks.get(symbol)

    def price_band(self, symbol: str) -> tuple[int, int]:
        """The prices (lowest, highest; the market's price units) the venue's PERCENT_PRICE filter accepts
        around the latest known mark; (0, 2^62) while no mark is known or the market has no band (option
        `mark_price` subscribes the mark stream that feeds it)."""
        mark = self._latest_mark(symbol)
        if mark is None:
            return _NO_BAND
        cached = self._bands.get(symbol)
        if cached is not None and cached[0] is mark:  # the order path: one band per mark update
            return cached[1]
        m = self._markets.get(symbol)
        band = (percent_price_band(m, mark.mark_px, mark.decimals) if m is not None else None) or _NO_BAND
        self._bands[symbol] = (mark, band)
        return band

    async def income(self, symbol: str | None = None, income_type: str | None = None, *,
                     start_ms: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:  # fmt: skip
        """The venue's income history (`GET .../income`): FUNDING_FEE, COMMISSION, REALIZED_PNL, ...
        rows as the venue sends them (amounts are decimal strings of the margin asset)."""
        rows = await self.http.income(symbol, income_type, start_ms=start_ms, limit=limit)
        if not isinstance(rows, list):
            raise RestError(self.venue, "GET", self._paths["income"], f"expected a list, got {type(rows).__name__}")
        return rows

    # ------------------------------------------------------------------ user data stream
    def _make_user_listener(self) -> Any:
        return _UserListener(self.decoder, self._on_user_frame, on_error=self._on_feed_error,
                             on_burst_end=self._on_burst_end)  # fmt: skip

    async def _on_user_connected(self, transport: Any, listener: Any) -> None:
        self.stats.user_reconnects += 1
        # Private events may have been lost while disconnected: the REST view settles them.
        self._spawn(self._reconcile_safely("user stream connected"), "reconcile-connect")

    def _on_user_disconnected(self, reason: str) -> None:
        self._positions_seeded = False
        # The key may have expired (the venue closes the stream after listenKeyExpired): renew it before
        # the next attempt; a key that is still valid comes back unchanged.
        self._spawn(self._renew_listen_key(), "listen-key-renew")

    def _on_user_frame(self, payload: bytes) -> None:
        msg = orjson.loads(payload)
        kind = msg.get("e") if isinstance(msg, dict) else None
        if kind == "listenKeyExpired":
            log.warning("%s: listenKey expired; renewing it", self.venue)
            self._spawn(self._renew_listen_key(), "listen-key-expired")

    async def _new_listen_key(self) -> str:
        reply = await self.http.listen_key("POST")
        self.stats.listen_keys += 1
        return str(reply["listenKey"])

    async def _renew_listen_key(self) -> None:
        async with self._listen_key_lock:
            try:
                key = await self._new_listen_key()
            except RestError as e:
                log.warning("%s: listenKey renewal failed: %s", self.venue, e)
                return
            if key != self._listen_key:
                self._listen_key = key
                if self._user_ws is not None:
                    self._user_ws.url = self._user_url()
                    self._user_ws.drop()

    async def _listen_key_keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.config.listen_key_keepalive_s)
            try:
                await self.http.listen_key("PUT")
            except VenueRejected as e:
                if e.code != "-1125":
                    log.warning("%s: listenKey keepalive failed: %s", self.venue, e)
                await self._renew_listen_key()
            except RestError as e:
                log.warning("%s: listenKey keepalive failed: %s", self.venue, e)

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
                    bids = [(p, q) for p, q in snap["bids"]]
                    asks = [(p, q) for p, q in snap["asks"]]
                    result = book.apply_snapshot(bids, asks, int(snap["lastUpdateId"]))
                except (RestError, KeyError, TypeError, ValueError) as e:
                    log.warning("%s %s snapshot failed: %s", self.venue, symbol, e)
                    result = "failed"
                self.stats.snapshots += 1
                if result == "applied":
                    return
                self.stats.snapshot_retries += 1
                await asyncio.sleep(self.config.snapshot_retry_s * (1 + attempt))
            log.warning("%s %s: no snapshot lined up after %d tries; reconnecting", self.venue, symbol,
                        self.config.snapshot_attempts)  # fmt: skip
            if self._ws is not None:
                self._ws.drop()
        finally:
            self._resyncing.discard(symbol)

    async def _book_watchdog(self) -> None:
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
    # ------------------------------------------------------------------ account state
    async def positions(self) -> dict[str, PositionInfo]:
        user = self._user_ws
        if not (self._positions_seeded and user is not None and user.connected.is_set()):
            await self._read_positions()
        return {s: p for s, p in self._positions.items() if p.size != 0}

    async def _read_positions(self) -> PositionMerge:
        asked_ns = time.monotonic_ns()
        rows = await self.http.positions()
        fresh: list[PositionReport] = []
        for row in rows or []:
            m = self._markets.get(row.get("symbol"))
            if m is None or row.get("positionSide", "BOTH") != "BOTH":
                continue
            fresh.append(PositionReport(
                m.symbol, to_units(str(row.get("positionAmt", "0")), m.size_decimals),
                rounded_units(row.get("entryPrice") or "0", m.price_decimals),
                rounded_units(row.get("unRealizedProfit") or "0", m.price_decimals + m.size_decimals),
            ))
        cached = {s: PositionReport(s, p.size, p.entry_px, p.unrealized_pnl) for s, p in self._positions.items()}
        merge = merge_positions(cached, fresh, self._markets, asked_ns=asked_ns,
                                stream_seen_ns=self._position_seen_ns)  # fmt: skip
        now = time.monotonic_ns()
        for sym in self._markets:
            p = merge.positions.get(sym)
            if self._position_seen_ns.get(sym, 0) <= asked_ns:
                self._positions[sym] = PositionInfo(sym, p.size, p.entry_px, p.unrealized_pnl, "rest") \
                    if p is not None else PositionInfo(sym, 0, 0, source="rest")
        for sym in merge.changed:
            if sym in self._book_ids:
                p = merge.positions.get(sym)
                self.ring.push(_core.Position(self.venue, self._book_ids[sym], p.size if p else 0,
                                              p.entry_px if p else 0, now))  # fmt: skip
        return merge

    async def balances(self) -> dict[str, Balance]:
        if self._balances and time.monotonic_ns() - self._balances_ns < self.config.balance_poll_s * 1e9:
            return dict(self._balances)
        rows = await self.http.balance()
        d = self.config.balance_decimals
        out: dict[str, Balance] = {}
        for row in rows or []:
            total = rounded_units(row.get("balance") or "0", d)
            avail = rounded_units(row.get("availableBalance") or "0", d)
            out[str(row.get("asset"))] = Balance(str(row.get("asset")), total=total, available=avail, decimals=d)
        self._balances, self._balances_ns = out, time.monotonic_ns()
        return dict(out)

    async def latency_probe(self) -> float:
        t0 = time.perf_counter()
        await self.http.server_time()
        return (time.perf_counter() - t0) * 1e3

    # ------------------------------------------------------------------ orders: VenueOrderPort
    def limit_key(self, op: str, count: int) -> tuple[str, int]:
        if op == "cancel":
            return ("signed", count)
        return ("order", count) if count == 1 else ("batch_order", count)

    def _checked_market(self, r: OrderRequest) -> MarketInfo:
        m = self._markets.get(r.symbol)
        if m is None:
            raise ValueError(f"{self.venue}: unknown symbol {r.symbol!r}")
        if r.size <= 0 or r.size % m.step:
            raise ValueError(f"size {r.size} is not a positive multiple of the step {m.step} ({r.symbol})")
        top = m.extra.get("market_max_size" if r.kind is OrderKind.MARKET and r.price is None else "max_size")
        if top is not None and r.size > top:
            raise ValueError(f"size {r.size} is above the venue's maximum quantity {top} ({r.symbol})")
        if not 0 < r.client_id <= CLIENT_ID_MAX:
            raise ValueError(f"client id {r.client_id} out of range (1..{CLIENT_ID_MAX})")
        return m

    @staticmethod
    def _checked_price(r: OrderRequest, m: MarketInfo) -> int:
        if r.price is None or r.price <= 0 or r.price % m.tick:
            raise ValueError(f"price {r.price} is not a positive multiple of the tick {m.tick} ({r.symbol})")
        lo, hi = m.extra.get("min_price"), m.extra.get("max_price")
        if (lo is not None and r.price < lo) or (hi is not None and r.price > hi):
            raise ValueError(f"price {r.price} is outside the venue's price filter [{lo}, {hi}] ({r.symbol})")
        return r.price

    def _checked_in_band(self, symbol: str, px: int) -> int:
        lo, hi = self.price_band(symbol)
        if not lo <= px <= hi:
            mark, m = self._latest_mark(symbol), self._markets[symbol]
            at = f" {mark.mark_px * 10**m.price_decimals // 10**mark.decimals}" if mark is not None else ""
            raise ValueError(f"price {px} is outside the venue's PERCENT_PRICE band [{lo}, {hi}] around the mark "
                             f"price{at} ({symbol})")
        return px

    def _worst_price_in_band(self, r: OrderRequest) -> OrderRequest:
        """A market order's worst price beyond the PERCENT_PRICE band comes back to the band's edge: the venue
        refuses any price outside it (-4016 / -4024), and the edge is still the worst price accepted (a
        flatten or reduce escalation walks its price out through the touch; clamped, it is never refused)."""
        lo, hi = self.price_band(r.symbol)
        px = r.price
        if px is not None and Side(r.side) is Side.BID and px > hi:
            return replace(r, price=hi)
        if px is not None and Side(r.side) is Side.ASK and px < lo:
            return replace(r, price=lo)
        return r

    def _order_params(self, r: OrderRequest) -> dict[str, str]:
        m = self._checked_market(r)
        p = {"symbol": r.symbol, "side": _SIDE[Side(r.side)]}
        if r.kind is OrderKind.LIMIT or r.price is not None:
            # a market order with a worst price goes out as an IOC limit (price protection), inside the band
            if r.kind is OrderKind.MARKET:
                r = self._worst_price_in_band(r)
            px = self._checked_in_band(r.symbol, self._checked_price(r, m))
            p["type"] = "LIMIT"
            p["timeInForce"] = "GTX" if r.post_only else "IOC" if r.kind is OrderKind.MARKET \
                else _TIF[TimeInForce(r.tif)]
            p["quantity"] = _core.format_fixed(r.size, m.size_decimals)
            p["price"] = _core.format_fixed(px, m.price_decimals)
        else:
            p["type"] = "MARKET"
            p["quantity"] = _core.format_fixed(r.size, m.size_decimals)
        if r.reduce_only:
            p["reduceOnly"] = "true"
        p["newClientOrderId"] = str(r.client_id)
        return p

    def prepare_submit(self, reqs: Sequence[OrderRequest]) -> _PreparedSubmit | _PreparedWsSubmit:
        for r in reqs:
            self._traded.add(r.symbol)  # reconciliation reads these symbols' trades
        if self._ws_api is not None:
            if not reqs:
                raise ValueError("empty batch")
            return _PreparedWsSubmit([self._order_params(r) for r in reqs], tuple(r.client_id for r in reqs))
        if len(reqs) == 1 and reqs[0].kind is _LIMIT:
            # The hot path: checks inlined, formatting + signing in one core call.
            r = reqs[0]
            cid, size, px = r.client_id, r.size, r.price
            m = self._markets.get(r.symbol)
            b = self._bounds.get(r.symbol, _NO_BOUNDS)
            band = self.price_band(r.symbol)
            if m is None or size <= 0 or size % m.step or not 0 < cid <= CLIENT_ID_MAX or px is None \
                    or px <= 0 or px % m.tick or size > b[0] or not b[1] <= px <= b[2] \
                    or not band[0] <= px <= band[1]:  # fmt: skip
                m = self._checked_market(r)
                px = self._checked_in_band(r.symbol, self._checked_price(r, m))
            tif = "GTX" if r.post_only else _TIF[r.tif]
            body = self._signer.limit_order(r.symbol, _SIDE[r.side], px, size, m.price_decimals, m.size_decimals,
                                            tif, bool(r.reduce_only), str(cid))  # fmt: skip
            return _PreparedSubmit(self._paths["order"], body, (cid,))
        if not reqs:
            raise ValueError("empty batch")
        params = [self._order_params(r) for r in reqs]  # every order checked before any is prepared
        n = self.config.max_batch
        # The venue takes at most 5 orders per batchOrders: a larger batch goes out as several requests.
        chunks = [self._prepared_chunk(params[i:i + n], reqs[i:i + n]) for i in range(0, len(reqs), n)]
        if len(chunks) == 1:
            return chunks[0]
        return replace(chunks[0], more=tuple(chunks[1:]))

    def _prepared_chunk(self, params: list[dict[str, str]], reqs: Sequence[OrderRequest]) -> _PreparedSubmit:
        cids = tuple(r.client_id for r in reqs)
        if len(params) == 1:
            return _PreparedSubmit(self._paths["order"], self._signer.signed(params[0]).encode(), cids)
        text = self._signer.signed({"batchOrders": orjson.dumps(params).decode()})
        return _PreparedSubmit(self._paths["batch_orders"], text.encode(), cids)

    async def send_submit(self, prepared: _PreparedSubmit | _PreparedWsSubmit) -> list[SubmitResult]:
        if isinstance(prepared, _PreparedWsSubmit):
            return list(await asyncio.gather(*(self._ws_place(cid, p) for cid, p in
                                               zip(prepared.client_ids, prepared.params, strict=True))))  # fmt: skip
        if not prepared.more:
            return await self._send_one(prepared)
        parts = await asyncio.gather(*(self._send_one(p) for p in (replace(prepared, more=()), *prepared.more)))
        return [r for part in parts for r in part]

    async def _send_one(self, prepared: _PreparedSubmit) -> list[SubmitResult]:
        cids = prepared.client_ids
        try:
            reply = await self.http.send_signed("POST", prepared.path, prepared.body, idempotent=False)
        except VenueRejected as e:
            reason = f"{e.code}: {e.venue_message}"
            return [SubmitResult(c, SubmitOutcome.REJECTED, reason=reason) for c in cids]
        except (Banned, RetriesExhausted) as e:
            # 418 ban or a 429: the venue did not act
            return [SubmitResult(c, SubmitOutcome.REJECTED, reason=f"rate limited: {e}") for c in cids]
        except (TimeoutError, AmbiguousResponse, RestError) as e:
            return [SubmitResult(c, SubmitOutcome.UNRESOLVED, reason=str(e)) for c in cids]
        if prepared.path == self._paths["order"]:
            items = [reply]
        elif not isinstance(reply, list) or len(reply) != len(cids):
            return [SubmitResult(c, SubmitOutcome.UNRESOLVED, reason="batch reply does not match the request")
                    for c in cids]  # fmt: skip
        else:
            items = reply
        results = [_result_of(c, item) for c, item in zip(cids, items, strict=True)]
        for res, item in zip(results, items, strict=True):
            if res.outcome is SubmitOutcome.ACCEPTED and item.get("status") != "NEW":
                self._apply_venue_order(item)
        return results

    async def _ws_place(self, cid: int, params: dict[str, str]) -> SubmitResult:
        api = self._ws_api
        assert api is not None
        try:
            reply = await api.request("order.place", params, self.config.order_timeout_s)
        except WsApiError as e:
            if e.code == -1021:
                await self.http.clock_rejected("order.place")
            return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"{e.code}: {e.msg}")
        except WsApiTimeout as e:
            return SubmitResult(cid, SubmitOutcome.UNRESOLVED, reason=str(e))
        res = _result_of(cid, reply)
        if res.outcome is SubmitOutcome.ACCEPTED and isinstance(reply, dict) and reply.get("status") != "NEW":
            self._apply_venue_order(reply)
        return res

    async def _ws_cancel(self, symbol: str, cid: int) -> SubmitResult | None:
        api = self._ws_api
        assert api is not None
        try:
            reply = await api.request("order.cancel", {"symbol": symbol, "origClientOrderId": str(cid)},
                                      self.config.order_timeout_s)  # fmt: skip
        except WsApiError as e:
            return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"{e.code}: {e.msg}")
        except WsApiTimeout as e:
            log.warning("%s cancel %s: no answer (%s)", self.venue, cid, e)
            return None
        status = reply.get("status") if isinstance(reply, dict) else None
        if status in ("CANCELED", "EXPIRED"):
            return SubmitResult(cid, SubmitOutcome.ACCEPTED, venue_order_id=str(reply.get("orderId")))
        return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"order is {status}")

    def prepare_cancel(self, symbol: str, client_ids: Sequence[int]) -> _PreparedCancel:
        return _PreparedCancel(symbol, [
            (cid, self._signer.signed({"symbol": symbol, "origClientOrderId": str(cid)}).encode())
            for cid in client_ids
        ])

    async def send_cancel(self, prepared: _PreparedCancel) -> list[SubmitResult]:
        if self._ws_api is not None:
            got = await asyncio.gather(*(self._ws_cancel(prepared.symbol, cid) for cid, _ in prepared.bodies))
            return [r for r in got if r is not None]

        async def one(cid: int, body: bytes) -> SubmitResult | None:
            try:
                reply = await self.http.send_signed("DELETE", self._paths["order"], body, idempotent=True)
            except VenueRejected as e:
                return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"{e.code}: {e.venue_message}")
            except RestError as e:
                log.warning("%s cancel %s: no answer (%s)", self.venue, cid, e)
                return None  # unknown: the stream or reconciliation will tell
            status = reply.get("status") if isinstance(reply, dict) else None
            if status in ("CANCELED", "EXPIRED"):
                return SubmitResult(cid, SubmitOutcome.ACCEPTED, venue_order_id=str(reply.get("orderId")))
            return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"order is {status}")

        results = await asyncio.gather(*(one(cid, body) for cid, body in prepared.bodies))
        return [r for r in results if r is not None]

    # ------------------------------------------------------------------ orders: Connector
    async def cancel_all(self, symbol: str | None = None) -> None:
        """Cancel-all answers only `{code, msg}`: the cancelled orders come through the stream and the
        reconciliation that follows."""
        for sym in [symbol] if symbol else list(self._markets):
            await self.http.cancel_all(sym)
        await self._reconcile_safely("cancel all")

    # ------------------------------------------------------------------ reconciliation
    async def _reconcile_safely(self, why: str) -> None:
        try:
            await self.reconcile()
        except (TimeoutError, RestError, ValueError, KeyError) as e:
            self.reconcile_stats.reconcile_errors += 1
            log.warning("%s reconciliation (%s) failed: %s", self.venue, why, e)

    async def _reconcile(self) -> ReconcilePass:
        http, rec = self.http, self._reconciler
        reports = await self._open_order_reports()
        await self._apply_fill_history()
        verdict = rec.open_orders(reports, time.monotonic_ns())
        for r in verdict.cancel:
            try:
                await http.cancel_by_order_id(r.symbol, str(r.order_id))
            except VenueRejected as e:
                log.warning("%s: cancelling venue order %s (%s) failed: %s", self.venue, r.order_id, r.symbol, e)
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
        """Missing orders, asked for one by one by client id. The venue answers closed orders for days
        (docs/venues/binance_usdm.md): an order it no longer knows was never accepted."""
        http, rec = self.http, self._reconciler
        for o in missing:
            try:
                row = await http.order(o.symbol, o.client_id)
            except VenueRejected as e:
                if e.code != "-2013":
                    raise
                continue
            report = self._order_report(row) if isinstance(row, dict) else None
            if report is not None:
                rec.found(report)

    def _order_report(self, row: dict[str, Any]) -> OrderReport | None:
        m = self._markets.get(row.get("symbol"))  # type: ignore[arg-type]
        if m is None:
            return None
        state = _STATUS.get(str(row.get("status")))
        if state is None:
            log.warning("%s order %s: unknown status %r", self.venue, row.get("clientOrderId"), row.get("status"))
            return None
        filled = to_units(str(row.get("executedQty") or "0"), m.size_decimals)
        avg = rounded_units(row.get("avgPrice") or "0", m.price_decimals) if filled > 0 else None
        cid_text = str(row.get("clientOrderId") or "")
        tif = str(row.get("timeInForce") or "GTC")
        price = row.get("price")
        return OrderReport(
            symbol=m.symbol, state=state, filled=filled, client_id=int(cid_text) if cid_text.isdigit() else None,
            order_id=str(row["orderId"]) if row.get("orderId") is not None else None,
            side="bid" if row.get("side") == "BUY" else "ask",
            size=to_units(str(row.get("origQty") or "0"), m.size_decimals),
            price=rounded_units(price, m.price_decimals) if price not in (None, "") else 0,
            avg_px=avg, post_only=tif == "GTX", reduce_only=bool(row.get("reduceOnly")),
            time_in_force="IOC" if tif == "IOC" else "FOK" if tif == "FOK" else "GTC",
            reason=str(row.get("status")) if state in ("expired", "rejected") else None,
        )

    def _apply_venue_order(self, row: dict[str, Any]) -> None:
        report = self._order_report(row)
        if report is not None:
            self._reconciler.apply_order(report)

    async def _apply_fill_history(self) -> None:
        """Recent trades of every symbol we have sent orders to: a fill the stream lost still counts once
        (by trade id), with its price and fee. userTrades carries the venue's order id, not the client
        id: the tracker maps one to the other."""
        for sym in sorted(self._traded):
            rows = await self.http.user_trades(sym, self.config.trades_limit) or []
            fills = [f for f in map(self._fill_report, rows) if f is not None]
            self._reconciler.apply_fills(fills)

    def _fill_report(self, f: dict[str, Any]) -> FillReport | None:
        m = self._markets.get(f.get("symbol"))  # type: ignore[arg-type]
        order = self.tracker.get_by_order_id(self.venue, str(f.get("orderId")))
        if m is None or order is None:
            return None
        fee = rounded_units(f.get("commission") or "0", m.price_decimals + m.size_decimals) \
            if f.get("commissionAsset") in (None, m.quote) else 0
        return FillReport(order.client_id, int(f["id"]), to_units(str(f["price"]), m.price_decimals),
                          to_units(str(f["qty"]), m.size_decimals), maker=bool(f.get("maker")), fee=fee,
                          order_id=str(f.get("orderId")))  # fmt: skip

    # ------------------------------------------------------------------ plumbing
    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.venue}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s task %s failed: %r", self.venue, task.get_name(), task.exception())


def _result_of(cid: int, item: Any) -> SubmitResult:
    if not isinstance(item, dict):
        return SubmitResult(cid, SubmitOutcome.UNRESOLVED, reason="unreadable reply")
    if "code" in item and "orderId" not in item:
        return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"{item.get('code')}: {item.get('msg')}")
    got = item.get("clientOrderId")
    if got is not None and str(got) != str(cid):
        return SubmitResult(cid, SubmitOutcome.UNRESOLVED, reason=f"reply is for client id {got}")
    if "orderId" not in item:
        return SubmitResult(cid, SubmitOutcome.UNRESOLVED, reason="reply without an order id")
    return SubmitResult(cid, SubmitOutcome.ACCEPTED, venue_order_id=str(item["orderId"]))

