"""GrvtConnector: the Connector protocol and the gateway's VenueOrderPort for GRVT perpetuals.

Data path: the market-data socket (`v1.book.d` snapshot + deltas, optionally `v1.trade`) and the trading
socket (`v1.order`, `v1.fill`, `v1.position`; its upgrade carries the session cookie and account id) both
feed one core FeedDecoder: books in the core (contiguous sequence numbers; a gap marks the book stale and
the connector subscribes that instrument again, which restarts it from a fresh snapshot), private updates
through the core OrderTracker, events in the EventRing.

Orders are signed in the core (EIP-712, `xtb.core.GrvtSigner` through `OrderBuilder`) and sent one
`create_order` each. A cancel is acknowledged before it happens (`{"ack": true}`): the order stays
`pending_cancel` until the order stream (or reconciliation) says how it ended. Reconciliation reads open
orders, fill history, order look-ups (by client id, then the order history page by page) and positions
over REST and hands them to the shared Reconciler (xtb/orders/reconcile.py), which decides.

The session (xtb/venues/grvt/rest_api.py) is renewed before it expires; a refused session logs in again
and the refused call is repeated, so a lost session costs one round trip and no order state.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
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
from xtb.transport.rest import AmbiguousResponse, RestClient, RestError, RetriesExhausted, VenueRejected
from xtb.transport.ws import WsSession
from xtb.venues.connector_base import StreamingConnector
from xtb.venues.contract import VenueStats
from xtb.venues.grvt.config import GrvtConfig
from xtb.venues.grvt.markets import markets as parse_markets
from xtb.venues.grvt.markets import signing_instrument
from xtb.venues.grvt.orders import PRICE_DECIMALS, GrvtInstrument, OrderBuilder
from xtb.venues.grvt.ratelimits import grvt as grvt_limits
from xtb.venues.grvt.rest_api import GrvtRest, SessionError, rest_limit_key

log = logging.getLogger("xtb.venues.grvt")

VENUE = "grvt"
#: client_order_id is a uint64; the engine's ids stay in the signed range
CLIENT_ID_MAX = 2**63 - 1

_TIF = {TimeInForce.GTC: "GTT", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
_REST_TIF = {"IMMEDIATE_OR_CANCEL": "IOC", "FILL_OR_KILL": "FOK"}
_LIMIT = OrderKind.LIMIT
_PRIVATE_STREAMS = ("v1.order", "v1.fill", "v1.position")
_TERMINAL = frozenset({"cancelled", "filled", "rejected", "expired"})


_ENDED: dict[str, VenueOrderState] = {"FILLED": "filled", "CANCELLED": "cancelled", "REJECTED": "rejected"}


def _order_state(status: str, filled: int) -> VenueOrderState | None:
    if status in ("PENDING", "OPEN"):
        return "partially_filled" if filled > 0 else "open"
    return _ENDED.get(status)


def trade_id(text: Any) -> int:
    """GRVT trade ids "<trade>-<n>" -> (trade << 16) | n, as the core decoder numbers stream fills (so a fill
    seen on the stream and in the history counts once)."""
    s = str(text)
    if "-" in s:
        a, b = s.split("-", 1)
        return (int(a) << 16) | int(b)
    return int(s)


def _first(values: Any, default: str = "0") -> str:
    if isinstance(values, list) and values:
        return str(values[0])
    if isinstance(values, str | int | float) and not isinstance(values, bool):
        return str(values)
    return default


def _is_zero(text: str) -> bool:
    try:
        return Decimal(text) == 0
    except ArithmeticError:  # unreadable: not known to be zero (the reply is applied and judged there)
        return False


def _rounded(text: Any, decimals: int) -> int:
    return int(Decimal(str(text)).scaleb(decimals).to_integral_value())


@dataclass
class ConnectorStats:
    resyncs: int = 0
    resubscribes: int = 0
    feed_errors: int = 0
    reconnects: int = 0
    private_reconnects: int = 0
    session_renewals: int = 0


@dataclass(slots=True)
class _PreparedSubmit:
    bodies: list[tuple[int, bytes]]  # (client id, the signed create_order body)


@dataclass(slots=True)
class _PreparedCancel:
    symbol: str
    client_ids: tuple[int, ...]


class GrvtConnector(StreamingConnector):
    venue = VENUE
    reports_fill_fees = True  # v1.fill and fill_history carry `fee` in the quote currency
    # `cancel`: ACCEPTED once the stream reported the order cancelled; UNRESOLVED when it did not within
    # `cancel_confirm_s` (filled first, or the stream is late: the order stays `pending_cancel` until the
    # stream or reconciliation tells); REJECTED when the venue refused the cancel.
    _cancel_unanswered = "cancel not confirmed yet"

    def __init__(
        self,
        config: GrvtConfig,
        api_key: Any,  # xtb.keys.Secret or str: logs in
        private_key: Any,  # the API key's secp256k1 key: signs orders
        *,
        ring: Any | None = None,
        tracker: Any | None = None,
        limiter: Any | None = None,
        on_burst_end: Callable[[], object] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._api_key = api_key
        key = private_key.reveal() if hasattr(private_key, "reveal") else str(private_key)
        self.signer = _core.GrvtSigner(key, config.endpoints.chain_id)
        del key
        self.builder = OrderBuilder(self.signer, config.sub_account_id, expiration_s=config.signature_expiration_s)
        self.ring = ring if ring is not None else _core.EventRing(config.ring_capacity)
        self.tracker = tracker if tracker is not None else _core.OrderTracker(self.ring)
        self.limiter = limiter if limiter is not None else _core.RateLimiter.from_config(
            grvt_limits(config.requests_per_second), self.ring)
        self._on_burst_end = on_burst_end
        self._rng = rng or random.Random()
        self.decoder = _core.FeedDecoder(VENUE, self.ring)
        self.decoder.set_tracker(self.tracker)
        self._markets: dict[str, MarketInfo] = {}
        self._instruments: dict[str, GrvtInstrument] = {}
        self._books: dict[str, Any] = {}
        self._book_symbols: dict[int, str] = {}
        self._book_ids: dict[str, int] = {}
        self._positions: dict[str, PositionInfo] = {}
        self._positions_seeded = False
        self._position_seen_ns: dict[str, int] = {}
        self._balances: dict[str, Balance] = {}
        self._balances_ns = 0
        self._session: aiohttp.ClientSession | None = None
        self._http: GrvtRest | None = None
        self._order_transport: KeepAliveClient | None = None
        self._ws: WsSession | None = None
        self._private_ws: WsSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._resubscribed: dict[str, float] = {}  # symbol -> when its book was subscribed again
        self._rpc_ids = itertools.count(1)
        self._reconcile_lock = asyncio.Lock()
        self._frames_seen = 0
        self._frames_seen_ns = time.monotonic_ns()
        self._private_frames_seen = 0
        self._private_frames_seen_ns = time.monotonic_ns()
        self._started = False
        self.stats = ConnectorStats()
        self.reconcile_stats = ReconcileStats()
        self._reconciler = Reconciler(
            VENUE, self.tracker, ReconcileRules(config.unknown_order_policy, config.submit_window_s),
            self.reconcile_stats,
        )

    def __repr__(self) -> str:
        return f"GrvtConnector(signer={self.signer.address!r}, sub_account={self.config.sub_account_id})"

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._started:
            return
        cfg, ep = self.config, self.config.endpoints
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64, ttl_dns_cache=300, enable_cleanup_closed=True))

        def client(url: str, *, limiter: Any, timeout_s: float, retries: int,
                   transport: KeepAliveClient | None = None) -> RestClient:
            return RestClient(VENUE, url, limiter=limiter, limit_key=rest_limit_key, timeout_s=timeout_s,
                              max_retries=retries, session=self._session, rng=self._rng, transport=transport)

        edge = client(ep.edge_url, limiter=self.limiter, timeout_s=cfg.request_timeout_s, retries=cfg.max_retries)
        trades = client(ep.trades_url, limiter=self.limiter, timeout_s=cfg.request_timeout_s,
                        retries=cfg.max_retries)
        market = client(ep.market_data_url, limiter=self.limiter, timeout_s=cfg.request_timeout_s,
                        retries=cfg.max_retries)
        # Orders: the gateway (or `submit`) took the slot; a 429 is not retried here: the order is refused
        self._order_transport = order_transport(ep.trades_url, cfg.order_http, cfg.order_connections)
        orders = client(ep.trades_url, limiter=None, timeout_s=cfg.order_timeout_s, retries=0,
                        transport=self._order_transport)
        self._http = GrvtRest(edge, trades, market, orders, self._api_key, cfg.sub_account_id,
                              renew_before_s=cfg.session_renew_before_s, default_ttl_s=cfg.session_default_ttl_s)
        session = await self._http.login()
        if session.sub_account_id is not None and session.sub_account_id != cfg.sub_account_id:
            log.warning("grvt: the login names sub-account %s; trading sub-account %s as configured",
                        session.sub_account_id, cfg.sub_account_id)
        self.load_markets(await self._http.all_instruments())
        await warm_order_transport(VENUE, self._order_transport, cfg.order_connections)
        self._ws = WsSession(
            "grvt", ep.market_data_ws_url, self._make_listener,
            on_connected=self._on_connected, on_disconnected=self._on_disconnected,
            last_activity_ns=self._last_activity_ns, stale_after_s=cfg.stale_after_s,
            backoff_initial_s=cfg.backoff_initial_s, backoff_max_s=cfg.backoff_max_s, rng=self._rng,
        )
        self._private_ws = WsSession(
            "grvt-trading", ep.trades_ws_url, self._make_listener,
            on_connected=self._on_private_connected, on_disconnected=self._on_private_disconnected,
            backoff_initial_s=cfg.backoff_initial_s, backoff_max_s=cfg.backoff_max_s, rng=self._rng,
            extra_headers=self.http.auth_headers(),
        )
        self._started = True
        self._private_ws.start()
        self._ws.start()
        self._spawn(self._book_watchdog(), "book-watchdog")
        self._spawn(self._session_keeper(), "session")
        if cfg.reconcile_interval_s:
            self._spawn(self._reconcile_loop(cfg.reconcile_interval_s), "reconcile")
        await self.wait_ready(cfg.start_timeout_s)

    async def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_ready():
                return
            await asyncio.sleep(0.02)
        states = {s: b.state for s, b in self._books.items()}
        raise TimeoutError(f"grvt connector not ready after {timeout_s} s (books: {states}, private stream "
                           f"{'up' if self._private_up() else 'down'}, positions read: {self._positions_seeded})")

    def _private_up(self) -> bool:
        ws = self._private_ws
        return ws is not None and ws.connected.is_set()

    def is_ready(self) -> bool:
        ws = self._ws
        books_ok = all(b.state == "live" for b in self._books.values())
        return ws is not None and ws.connected.is_set() and self._private_up() and self._positions_seeded \
            and books_ok

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self.config.cancel_all_on_stop and self._http is not None:
            with contextlib.suppress(RestError, asyncio.TimeoutError, SessionError):
                await self.cancel_all()
        await self._cancel_tasks()
        for ws in (self._ws, self._private_ws):
            if ws is not None:
                await ws.stop()
        for book in self._books.values():
            book.mark_stale("connector stopped")

    # ------------------------------------------------------------------ markets and data
    def load_markets(self, raw: Any) -> dict[str, MarketInfo]:
        """Markets from an `all_instruments` result, one core book each on the decoder."""
        if self._books:
            raise RuntimeError("grvt: markets are already loaded")
        if not isinstance(raw, list):
            raise ValueError(f"grvt all_instruments: expected a list of instruments, got {type(raw).__name__}")
        self._markets = parse_markets(raw, symbols=self.config.symbols, aliases=self.config.aliases)
        for sym, m in self._markets.items():
            self._instruments[sym] = signing_instrument(m)
            book = _core.OrderBook(VENUE, sym, m.price_decimals, m.size_decimals)
            book_id = self.decoder.add_book(book)
            self._books[sym] = book
            self._book_symbols[book_id] = sym
            self._book_ids[sym] = book_id
        return dict(self._markets)

    def book(self, symbol: str) -> Any:
        try:
            return self._books[symbol]
        except KeyError:
            raise KeyError(f"grvt: no book for {symbol!r} (have: {', '.join(self._books)})") from None

    async def rest_touch(self, symbol: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """Best bid and ask from the REST book (closing orders when the stream's book is stale or empty)."""
        m = self._markets[symbol]
        data = await self.http.book(symbol, 10) or {}

        def best(rows: Any, pick: Callable[..., Any]) -> tuple[int, int] | None:
            levels = [(_rounded(r["price"], m.price_decimals), _rounded(r["size"], m.size_decimals))
                      for r in rows or [] if isinstance(r, dict)]
            levels = [lv for lv in levels if lv[0] > 0 and lv[1] > 0]
            return pick(levels, key=lambda lv: lv[0]) if levels else None

        return best(data.get("bids"), max), best(data.get("asks"), min)

    def rest_clients(self) -> list[RestClient]:
        h = self._http
        return [] if h is None else [h.edge, h.trades, h.market, h.orders]

    def venue_stats(self) -> VenueStats:
        st, h = self.stats, self._http
        return VenueStats(VENUE, resyncs=st.resyncs, reconnects=st.reconnects, feed_errors=st.feed_errors,
                          reconcile=replace(self.reconcile_stats),
                          extra={"resubscribes": st.resubscribes, "private_reconnects": st.private_reconnects,
                                 "logins": h.logins if h else 0, "relogins": h.relogins if h else 0,
                                 "session_renewals": st.session_renewals})

    @property
    def http(self) -> GrvtRest:
        if self._http is None:
            raise RuntimeError("grvt connector is not started")
        return self._http

    @property
    def private_ws(self) -> WsSession | None:
        return self._private_ws

    # ------------------------------------------------------------------ sockets
    def _on_feed_error(self, exc: BaseException) -> None:
        self.stats.feed_errors += 1
        log.warning("grvt feed: %s", exc)

    def _subscribe_frame(self, stream: str, selectors: Sequence[str], method: str = "subscribe") -> bytes:
        return orjson.dumps({"jsonrpc": "2.0", "method": method, "params": {"stream": stream,
                             "selectors": list(selectors)}, "id": next(self._rpc_ids)})

    def _book_selector(self, symbol: str) -> str:
        return f"{symbol}@{self.config.book_rate_ms}"

    async def _on_connected(self, transport: Any, listener: Any) -> None:
        from picows import WSMsgType

        self.stats.reconnects += 1
        self._frames_seen, self._frames_seen_ns = 0, time.monotonic_ns()
        for book in self._books.values():
            book.clear()  # deltas of an old session never line up with a new snapshot
        now = time.monotonic()
        self._resubscribed = dict.fromkeys(self._books, now)
        if self._books:
            transport.send(WSMsgType.TEXT, self._subscribe_frame("v1.book.d", [self._book_selector(s)
                                                                                for s in self._books]))
            if self.config.trades:
                transport.send(WSMsgType.TEXT, self._subscribe_frame("v1.trade", [f"{s}@50" for s in self._books]))

    def _on_disconnected(self, reason: str) -> None:
        for book in self._books.values():
            if book.state != "stale":
                book.mark_stale(f"disconnected: {reason}")

    async def _on_private_connected(self, transport: Any, listener: Any) -> None:
        from picows import WSMsgType

        self.stats.private_reconnects += 1
        selector = str(self.config.sub_account_id)
        for stream in _PRIVATE_STREAMS:
            transport.send(WSMsgType.TEXT, self._subscribe_frame(stream, [selector]))
        # Private events may have been lost while disconnected: the REST view settles them.
        self._spawn(self._reconcile_safely("trading stream connected"), "reconcile-connect")

    def _on_private_disconnected(self, reason: str) -> None:
        self._positions_seeded = False
        # The next upgrade must carry a live session (it may be what ended this one).
        self._spawn(self._refresh_private_headers(), "private-headers")

    async def _refresh_private_headers(self) -> None:
        try:
            await self.http.ensure_session()
        except (RestError, SessionError) as e:
            log.warning("grvt: login before reconnecting the trading stream failed: %s", e)
            return
        if self._private_ws is not None:
            self._private_ws.ws_kwargs["extra_headers"] = self.http.auth_headers()

    async def _session_keeper(self) -> None:
        """Renew the session before it expires (the venue refuses calls and upgrades after)."""
        while True:
            s = self.http.session
            wait = 1.0 if s is None else max(0.5, s.expires_at - self.config.session_renew_before_s - time.time())
            await asyncio.sleep(min(wait, 60.0))
            if not self.http.session_due():
                continue
            try:
                await self.http.ensure_session()
                self.stats.session_renewals += 1
            except (RestError, SessionError) as e:
                log.warning("grvt: session renewal failed (retrying): %s", e)
                await asyncio.sleep(1.0)
                continue
            if self._private_ws is not None:
                self._private_ws.ws_kwargs["extra_headers"] = self.http.auth_headers()

    # ------------------------------------------------------------------ books
    def _resubscribe(self, symbol: str) -> None:
        """A fresh snapshot for one instrument: unsubscribe and subscribe again (the acknowledgement clears
        the core book; the next frame is the snapshot)."""
        ws = self._ws
        if ws is None or not ws.connected.is_set():
            return
        self.stats.resubscribes += 1
        self._resubscribed[symbol] = time.monotonic()
        sel = [self._book_selector(symbol)]
        try:
            ws.send(self._subscribe_frame("v1.book.d", sel, "unsubscribe"))
            ws.send(self._subscribe_frame("v1.book.d", sel))
        except ConnectionError:
            pass

    async def _book_watchdog(self) -> None:
        cfg = self.config
        while True:
            await asyncio.sleep(cfg.book_check_interval_s)
            ws = self._ws
            if ws is None or not ws.connected.is_set():
                continue
            now = time.monotonic()
            for sym, book in self._books.items():
                if book.state == "live":
                    self._resubscribed.pop(sym, None)  # a later gap starts its own resubscribe
                    continue
                since = self._resubscribed.get(sym)
                if since is None:
                    self.stats.resyncs += 1
                    self._resubscribe(sym)
                elif now - since > cfg.resync_timeout_s:
                    log.warning("grvt %s: no snapshot %.1f s after subscribing; reconnecting", sym, now - since)
                    self._resubscribed.clear()
                    ws.drop()
                    break

    # dispatcher listener hooks -------------------------------------------------------------------
    def on_resync(self, ev: Any) -> None:
        if ev.venue != VENUE:
            return
        sym = self._book_symbols.get(ev.book_id)
        if sym is not None:
            self.stats.resyncs += 1
            self._resubscribe(sym)

    # ------------------------------------------------------------------ account state
    async def positions(self) -> dict[str, PositionInfo]:
        if not (self._positions_seeded and self._private_up()):
            await self._read_positions()
        return {s: p for s, p in self._positions.items() if p.size != 0}

    async def _read_positions(self) -> PositionMerge:
        asked_ns = time.monotonic_ns()
        rows = await self.http.positions()
        fresh: list[PositionReport] = []
        for row in rows or []:
            m = self._markets.get(str(row.get("instrument"))) if isinstance(row, dict) else None
            if m is None:
                continue
            fresh.append(PositionReport(
                m.symbol, to_units(str(row.get("size") or "0"), m.size_decimals),
                _rounded(row.get("entry_price") or "0", m.price_decimals),
                _rounded(row.get("unrealized_pnl") or "0", m.price_decimals + m.size_decimals),
            ))
        cached = {s: PositionReport(s, p.size, p.entry_px, p.unrealized_pnl) for s, p in self._positions.items()}
        merge = merge_positions(cached, fresh, self._markets, asked_ns=asked_ns,
                                stream_seen_ns=self._position_seen_ns)
        now = time.monotonic_ns()
        for sym in self._markets:
            p = merge.positions.get(sym)
            if self._position_seen_ns.get(sym, 0) <= asked_ns:
                self._positions[sym] = PositionInfo(sym, p.size, p.entry_px, p.unrealized_pnl, "rest") \
                    if p is not None else PositionInfo(sym, 0, 0, source="rest")
        for sym in merge.changed:
            if sym in self._book_ids:
                p = merge.positions.get(sym)
                self.ring.push(_core.Position(VENUE, self._book_ids[sym], p.size if p else 0,
                                              p.entry_px if p else 0, now))
        self._positions_seeded = True
        return merge

    async def balances(self) -> dict[str, Balance]:
        """`account_summary`: each spot balance, and the settlement currency's available balance."""
        if self._balances and time.monotonic_ns() - self._balances_ns < self.config.balance_poll_s * 1e9:
            return dict(self._balances)
        acct = await self.http.account_summary() or {}
        d = self.config.balance_decimals
        settle = str(acct.get("settle_currency") or "USDT")
        out: dict[str, Balance] = {}
        for row in acct.get("spot_balances") or []:
            cur = str(row.get("currency"))
            total = _rounded(row.get("balance") or "0", d)
            out[cur] = Balance(cur, total=total, available=total, decimals=d)
        equity = _rounded(acct.get("total_equity") or "0", d)
        avail = _rounded(acct.get("available_balance") or "0", d)
        prev = out.get(settle)
        out[settle] = Balance(settle, total=prev.total if prev else equity, available=avail, decimals=d)
        self._balances, self._balances_ns = out, time.monotonic_ns()
        return dict(out)

    async def latency_probe(self) -> float:
        t0 = time.perf_counter()
        await self.http.book(next(iter(self._markets)), 10)
        return (time.perf_counter() - t0) * 1e3

    # ------------------------------------------------------------------ orders: VenueOrderPort
    def limit_key(self, op: str, count: int) -> tuple[str, int]:
        return ("order", count)

    def _checked_market(self, r: OrderRequest) -> MarketInfo:
        m = self._markets.get(r.symbol)
        if m is None:
            raise ValueError(f"grvt: unknown symbol {r.symbol!r}")
        if r.size <= 0 or r.size % m.step:
            raise ValueError(f"size {r.size} is not a positive multiple of the step {m.step} ({r.symbol})")
        if not 0 < r.client_id <= CLIENT_ID_MAX:
            raise ValueError(f"client id {r.client_id} out of range (1..{CLIENT_ID_MAX})")
        return m

    def _order_body(self, r: OrderRequest) -> bytes:
        m = self._checked_market(r)
        inst = self._instruments[r.symbol]
        is_buy = Side(r.side) is Side.BID
        if r.price is not None:
            price = self._checked_price(r, m) * 10 ** (PRICE_DECIMALS - m.price_decimals)
            # a market order with a worst price goes out as an IOC limit there (price protection)
            tif = "IOC" if r.kind is not _LIMIT else _TIF[TimeInForce(r.tif)]
            if r.post_only:
                tif = "GTT"
            return self.builder.create_order_body(inst, r.client_id, is_buy, r.size, price, time_in_force=tif,
                                                  post_only=r.post_only, reduce_only=r.reduce_only)
        if r.kind is _LIMIT:
            raise ValueError(f"a limit order needs a price ({r.symbol})")
        return self.builder.create_order_body(inst, r.client_id, is_buy, r.size, 0, time_in_force="IOC",
                                              reduce_only=r.reduce_only, is_market=True)

    def prepare_submit(self, reqs: Sequence[OrderRequest]) -> _PreparedSubmit:
        if not reqs:
            raise ValueError("empty batch")
        return _PreparedSubmit([(r.client_id, self._order_body(r)) for r in reqs])  # all checked before any is sent

    async def send_submit(self, prepared: _PreparedSubmit) -> list[SubmitResult]:
        return list(await asyncio.gather(*(self._send_one(cid, body) for cid, body in prepared.bodies)))

    async def _send_one(self, cid: int, body: bytes) -> SubmitResult:
        try:
            row = await self.http.create_order(body)
        except VenueRejected as e:
            if e.status == 429:
                return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"rate limited: {e.code} {e.venue_message}")
            return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"{e.code}: {e.venue_message}")
        except RetriesExhausted as e:  # a 429: the venue did not act
            return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"rate limited: {e}")
        except (TimeoutError, AmbiguousResponse, RestError, SessionError) as e:
            return SubmitResult(cid, SubmitOutcome.UNRESOLVED, reason=str(e))
        if not isinstance(row, dict):
            return SubmitResult(cid, SubmitOutcome.UNRESOLVED, reason="unreadable create_order reply")
        got = (row.get("metadata") or {}).get("client_order_id")
        if got is not None and str(got) != str(cid):
            return SubmitResult(cid, SubmitOutcome.UNRESOLVED, reason=f"reply is for client id {got}")
        state = row.get("state") or {}
        status = str(state.get("status") or "PENDING")
        if status == "REJECTED":
            return SubmitResult(cid, SubmitOutcome.REJECTED, reason=str(state.get("reject_reason") or "REJECTED"))
        oid = row.get("order_id")
        venue_oid = str(oid) if oid not in (None, "", "0x00") else None
        if status not in ("PENDING", "OPEN") or not _is_zero(_first(state.get("traded_size"))):
            try:
                report = self._order_report({**row, "metadata": {**(row.get("metadata") or {}),
                                                                 "client_order_id": cid}})
            except (ValueError, ArithmeticError) as e:  # the stream or reconciliation will tell
                log.warning("grvt create_order %s: unreadable reply state (%s)", cid, e)
                report = None
            if report is not None:
                self._reconciler.apply_order(report)
        return SubmitResult(cid, SubmitOutcome.ACCEPTED, venue_order_id=venue_oid)

    def prepare_cancel(self, symbol: str, client_ids: Sequence[int]) -> _PreparedCancel:
        return _PreparedCancel(symbol, tuple(client_ids))

    async def send_cancel(self, prepared: _PreparedCancel) -> list[SubmitResult]:
        """An acknowledged cancel (`{"ack": true}`) is only a request: the order stream says how the order
        ended. A cancel is ACCEPTED once the stream reported the order cancelled (waiting at most
        `cancel_confirm_s`); otherwise nothing is reported and the order stays `pending_cancel` until the stream
        or reconciliation tells (it may have filled first). Refusals are REJECTED."""
        async def one(cid: int) -> SubmitResult | None:
            try:
                await self.http.cancel_order(client_order_id=cid)
            except VenueRejected as e:
                return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"{e.code}: {e.venue_message}")
            except (RestError, SessionError) as e:
                log.warning("grvt cancel %s: no answer (%s)", cid, e)
                return None
            if await self._ended(cid, self.config.cancel_confirm_s) == "cancelled":
                return SubmitResult(cid, SubmitOutcome.ACCEPTED)
            return None

        results = await asyncio.gather(*(one(cid) for cid in prepared.client_ids))
        return [r for r in results if r is not None]

    async def _ended(self, cid: int, timeout_s: float) -> str | None:
        """The order's terminal state once the decoder (fed by the trading socket) reached one, polled for at
        most `timeout_s`; None if it is still live."""
        deadline = time.monotonic() + timeout_s
        while True:
            o = self.tracker.get(cid, VENUE)
            if o is None or o.state in _TERMINAL:
                return None if o is None else str(o.state)
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.005)

    # ------------------------------------------------------------------ orders: Connector
    async def cancel_all(self, symbol: str | None = None) -> None:
        """cancel_all_orders (every perpetual, or the symbol's base and quote); the cancelled orders come
        through the stream and the reconciliation that follows."""
        if symbol is None:
            await self.http.cancel_all_orders()
        else:
            m = self._markets[symbol]
            # the venue's own base (kPEPE, not the canonical PEPE) and quote select exactly this instrument
            await self.http.cancel_all_orders(symbol.split("_", 1)[0], m.quote)
        await self._reconcile_safely("cancel all")

    # ------------------------------------------------------------------ reconciliation
    async def _reconcile_safely(self, why: str) -> None:
        try:
            await self.reconcile()
        except (TimeoutError, RestError, SessionError, ValueError, KeyError) as e:
            self.reconcile_stats.reconcile_errors += 1
            log.warning("grvt reconciliation (%s) failed: %s", why, e)

    async def _reconcile(self) -> ReconcilePass:
        http, rec = self.http, self._reconciler
        rows = await http.open_orders() or []
        reports = [r for r in map(self._order_report, rows) if r is not None]
        await self._apply_fill_history()
        verdict = rec.open_orders(reports, time.monotonic_ns())
        for r in verdict.cancel:
            try:
                if r.order_id:
                    await http.cancel_order(order_id=r.order_id)
                else:
                    await http.cancel_order(client_order_id=r.client_id)
            except VenueRejected as e:
                log.warning("grvt: cancelling venue order %s (%s) failed: %s", r.order_id, r.symbol, e)
        if verdict.missing:
            await self._look_up(verdict.missing)
            rec.settle_missing(verdict.missing)
        merge = await self._read_positions()
        return ReconcilePass(verdict, merge, rec.disagreements(verdict, merge))

    async def _unlisted(self, client_ids: Sequence[int]) -> Sequence[Any]:
        """`check_orders`' first half, GRVT's way: the open-order list applied to the tracked live orders it
        lists (nothing settled, adopted or cancelled here: that is the reconciliation's); the live ones among
        `client_ids` it no longer lists are returned, to be looked up."""
        trk, rec = self.tracker, self._reconciler
        listed: set[int] = set()
        for r in map(self._order_report, await self.http.open_orders() or []):
            tracked = trk.get(r.client_id, VENUE) if r is not None and r.client_id else None
            if r is not None and r.client_id and tracked is not None and not tracked.is_terminal:
                listed.add(r.client_id)
                rec.apply_order(r)
        return [o for o in (trk.get(c, VENUE) for c in client_ids if c not in listed)
                if o is not None and not o.is_terminal]

    async def _look_up(self, missing: Sequence[Any]) -> None:
        """Missing orders: asked for by client id, then searched for in the order history, page by page
        (GRVT's cursor), until each is found or the history ends."""
        http, rec = self.http, self._reconciler
        not_found: set[int] = set()
        for o in missing:
            try:
                row = await http.order(o.client_id)
            except VenueRejected as e:
                if e.code not in ("1004", "3020", "3021") and e.status != 404:
                    raise
                row = None
            report = self._order_report(row) if isinstance(row, dict) else None
            if report is None or not rec.found(report):
                not_found.add(o.client_id)
        cursor: str | None = None
        for _ in range(self.config.history_max_pages):
            if not not_found:
                return
            rows, cursor = await http.order_history(self.config.history_limit, cursor)
            for row in rows:
                report = self._order_report(row) if isinstance(row, dict) else None
                if report is not None and report.client_id in not_found and rec.found(report):
                    not_found.discard(report.client_id)
            if not cursor or not rows:
                return
        if not_found:
            log.warning("grvt: %d orders not found in %d pages of order history", len(not_found),
                        self.config.history_max_pages)

    def _order_report(self, row: dict[str, Any]) -> OrderReport | None:
        """A REST Order object (open orders, order query, history, a create reply) as the reconciler's report."""
        legs = row.get("legs") or []
        if not legs or not isinstance(legs[0], dict):
            return None
        leg = legs[0]
        m = self._markets.get(str(leg.get("instrument")))
        if m is None:
            return None
        st = row.get("state") or {}
        filled = to_units(_first(st.get("traded_size")), m.size_decimals)
        state = _order_state(str(st.get("status")), filled)
        if state is None:
            log.warning("grvt order %s: unknown status %r", row.get("order_id"), st.get("status"))
            return None
        avg = _rounded(_first(st.get("avg_fill_price")), m.price_decimals) if filled > 0 else None
        cid_text = str((row.get("metadata") or {}).get("client_order_id") or "")
        price = leg.get("limit_price")
        oid = row.get("order_id")
        return OrderReport(
            symbol=m.symbol, state=state, filled=filled, client_id=int(cid_text) if cid_text.isdigit() else None,
            order_id=str(oid) if oid not in (None, "", "0x00") else None,
            side="bid" if leg.get("is_buying_asset") else "ask",
            size=to_units(str(leg.get("size") or "0"), m.size_decimals),
            price=_rounded(price, m.price_decimals) if price not in (None, "") and not row.get("is_market") else 0,
            avg_px=avg, post_only=bool(row.get("post_only")), reduce_only=bool(row.get("reduce_only")),
            time_in_force=_REST_TIF.get(str(row.get("time_in_force")), "GTC"),  # type: ignore[arg-type]
            reason=st.get("reject_reason") if state in ("rejected", "cancelled") else None,
        )

    async def _apply_fill_history(self) -> None:
        """Recent fills (a fill the stream lost still counts once, by trade id, with its price and fee);
        pages are read while they are full and still teach something new."""
        cursor: str | None = None
        for _ in range(self.config.history_max_pages):
            rows, cursor = await self.http.fill_history(self.config.history_limit, cursor)
            fills = [f for f in map(self._fill_report, rows) if f is not None]
            if self._reconciler.apply_fills(fills) == 0 or not cursor or len(rows) < self.config.history_limit:
                return

    def _fill_report(self, f: Any) -> FillReport | None:
        if not isinstance(f, dict):
            return None
        m = self._markets.get(str(f.get("instrument")))
        cid = str(f.get("client_order_id") or "")
        if m is None or not cid.isdigit() or int(cid) == 0:
            return None
        fee_currency = f.get("fee_currency")
        fee = _rounded(f.get("fee") or "0", m.price_decimals + m.size_decimals) \
            if fee_currency in (None, "", m.quote) else 0
        return FillReport(int(cid), trade_id(f.get("trade_id")), _rounded(f["price"], m.price_decimals),
                          to_units(str(f["size"]), m.size_decimals), maker=not f.get("is_taker", True), fee=fee,
                          order_id=str(f.get("order_id")) if f.get("order_id") else None)

    # ------------------------------------------------------------------ plumbing
    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"grvt-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("grvt task %s failed: %r", task.get_name(), task.exception())
