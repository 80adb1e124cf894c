"""Binance USD-M protocol front-end on 127.0.0.1: the `/fapi` REST API, the routed market-stream hosts
(`/public` for depth and bookTicker, `/market` for the rest), the user data stream (`/private`) and the
WebSocket API (`/ws-fapi/v1`: order.place, order.cancel, order.status).

Signed requests are checked the venue's way: HMAC-SHA256 over the raw received parameter string (query
string then body, the `signature` parameter taken out), `timestamp` against the server clock with the
recvWindow rule. A `FapiDialect` (xtb/sim/binance/fapi.py) says which paths, authentication and WebSocket
layout a venue has: Aster serves its V3 paths with EIP-712 agent signatures (the signer recovered from the
signature over the received string, an approved agent of `user`, the nonce within 10 s of the server clock
and new among the user's last 100) next to its V1 paths with HMAC, and Binance's legacy `/ws` + `/stream`
host.

Every reply carries the weight header, order replies the order-count headers; going over a limit
answers 429 and continuing into it answers 418 (an IP ban). Venue state and the
translation to engine calls live in `BinanceVenue`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import hmac
import itertools
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import WSMsgType, web

from xtb import _core
from xtb.sim.binance.fapi import BINANCE_USDM, PUBLIC, FapiDialect
from xtb.sim.binance.venue import MAX_BATCH, BinanceError, BinanceVenue, StreamMessage, bad_param
from xtb.sim.faults import FaultKind
from xtb.sim.loopback import LoopbackServer, abort, send_with_faults
from xtb.sim.wire_faults import WireFaults

log = logging.getLogger(__name__)

NAME = "binance_usdm"  # the default dialect's
NONCE_EXPIRED = -4225  # Aster V3: every nonce refusal (a duplicate's own code is UNCONFIRMED)
MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000
PUBLIC_KINDS = {"depth", "bookTicker"}  # served on /public; everything else on /market
MARKET_KINDS = {"aggTrade", "markPrice"}
DEPTH_LIMITS = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}  # limit -> request weight
# diff-depth stream suffix -> the venue's update interval (s): each event aggregates that long's changes
DEPTH_SPEEDS = {"@depth": 0.25, "@depth@100ms": 0.1, "@depth@500ms": 0.5}


@dataclass
class _DepthWindow:
    """The book changes of one symbol in one interval, merged the way the venue aggregates a diff-depth
    event: `U` of the first change, `u` of the last, `pu` = the `u` before the window, the latest
    quantity per price."""

    started: float
    first: dict[str, Any]
    last: dict[str, Any]
    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)

    def add(self, data: dict[str, Any]) -> None:
        self.last = data
        for price, qty in data["b"]:
            self.bids[price] = qty
        for price, qty in data["a"]:
            self.asks[price] = qty

    def event(self) -> dict[str, Any]:
        return {**self.last, "U": self.first["U"], "pu": self.first["pu"],
                "b": [[p, q] for p, q in self.bids.items()], "a": [[p, q] for p, q in self.asks.items()]}  # fmt: skip


@dataclass
class Limits:
    """The venue's published limits (docs/venues/binance_usdm.md section 4). `orders_10s` is UNCONFIRMED
    (300 is the common figure); `ban_after_429s`, `ban_s` and `retry_after` are the simulator's choices."""

    weight_1m: int = 2400
    orders_10s: int = 300
    orders_1m: int = 1200
    ban_after_429s: int = 5  # requests answered 429 within a minute before the IP is banned (418)
    ban_s: float = 120.0
    retry_after: bool = True  # send Retry-After on 429/418 (documented for spot only: UNCONFIRMED here)
    weight_window_s: float = 60.0  # the IP weight's window (the venue's minute; tests shorten it)


@dataclass
class _Window:
    span_s: float
    events: deque[tuple[float, int]] = field(default_factory=deque)
    total: int = 0

    def used(self, now: float) -> int:
        while self.events and self.events[0][0] <= now - self.span_s:
            self.total -= self.events.popleft()[1]
        return self.total

    def add(self, now: float, n: int) -> None:
        if n:
            self.events.append((now, n))
            self.total += n


class RateLimiter:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._weight: dict[str, _Window] = {}
        self._orders_10s: dict[int, _Window] = {}
        self._orders_1m: dict[int, _Window] = {}
        self._rejections: dict[str, _Window] = {}
        self._banned_until: dict[str, float] = {}

    def banned(self, ip: str, now: float) -> float:
        """Seconds left of the ban on `ip` (0 if none)."""
        return max(0.0, self._banned_until.get(ip, 0.0) - now)

    def charge(self, ip: str, weight: int, now: float) -> int:
        """Count `weight` against the IP; returns the minute's total (may be over the limit)."""
        w = self._weight.setdefault(ip, _Window(self.limits.weight_window_s))
        w.used(now)
        w.add(now, weight)
        return w.total

    def retry_in(self, ip: str, now: float) -> float:
        """Seconds until enough weight has left the window for the IP to be under its limit again."""
        w = self._weight.get(ip)
        if w is None or not w.events:
            return 0.0
        total = w.used(now)
        until = now
        for t, n in w.events:
            if total < self.limits.weight_1m:
                break
            total -= n
            until = t + w.span_s
        return max(0.0, until - now)

    def weight(self, ip: str, now: float) -> int:
        w = self._weight.get(ip)
        return w.used(now) if w else 0

    def reject(self, ip: str, now: float) -> bool:
        """Record a 429; True when this one earns the IP a ban."""
        r = self._rejections.setdefault(ip, _Window(60.0))  # the ban counts 429s of the last minute
        r.used(now)
        r.add(now, 1)
        if r.total > self.limits.ban_after_429s:
            self._banned_until[ip] = now + self.limits.ban_s
            r.events.clear()
            r.total = 0
            return True
        return False

    def charge_orders(self, account: int, n: tuple[int, int], now: float) -> tuple[int, int]:
        """Count (10 s, 1 min) orders against the account; returns both windows' totals."""
        a = self._orders_10s.setdefault(account, _Window(10.0))
        b = self._orders_1m.setdefault(account, _Window(60.0))
        a.used(now)
        b.used(now)
        a.add(now, n[0])
        b.add(now, n[1])
        return a.total, b.total


@dataclass
class ListenKey:
    key: str
    account: int
    expires: float


class NonceBook:
    """Aster V3's nonce rule per user: within the window of the server clock, never one of the last
    `memory` nonces, and not below the smallest of them once that many are kept."""

    def __init__(self, memory: int, window_us: int) -> None:
        self.memory, self.window_us = memory, window_us
        self._heaps: dict[str, list[int]] = {}
        self._seen: dict[str, set[int]] = {}

    def check(self, user: str, nonce: int, now_us: int) -> None:
        if abs(nonce - now_us) > self.window_us:
            raise BinanceError(400, NONCE_EXPIRED, "Nonce Expired: not within 10 s of the server time.")
        heap = self._heaps.setdefault(user, [])
        seen = self._seen.setdefault(user, set())
        if nonce in seen:
            raise BinanceError(400, NONCE_EXPIRED, "Nonce Expired: duplicate nonce.")
        if len(heap) >= self.memory and nonce < heap[0]:
            raise BinanceError(400, NONCE_EXPIRED, "Nonce Expired")
        heapq.heappush(heap, nonce)
        seen.add(nonce)
        while len(heap) > self.memory:
            seen.discard(heapq.heappop(heap))


class Session:
    def __init__(self, ws: web.WebSocketResponse, route: str, conn_id: str = "") -> None:
        self.ws = ws
        self.conn_id = conn_id  # the fault plan's name of this connection
        self.held: bytes | None = None
        self.route = route  # "public", "market", "private" or "api"
        self.streams: set[str] = set()
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.combined = False
        self.listen_key: str | None = None
        self.stalled_until = 0.0

    def send(self, payload: bytes) -> None:
        self.queue.put_nowait(payload)


class BinanceServer(LoopbackServer):
    ws_path = "/public"

    def __init__(
        self,
        venue: BinanceVenue,
        faults: WireFaults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        limits: Limits | None = None,
        listen_key_ttl_s: float = 3600.0,
        server_time_offset_ms: int = 0,
        dialect: FapiDialect = BINANCE_USDM,
    ) -> None:
        super().__init__(host, port)
        self.dialect = dialect
        self.name = dialect.name
        if dialect.ws_layout == "legacy":
            self.ws_path = ""
        self.nonces = NonceBook(dialect.nonce_memory, dialect.nonce_window_us)
        self._depth_route = "legacy" if dialect.ws_layout == "legacy" else "public"  # the sessions depth goes to
        self._endpoint_of: dict[str, str] = {p: e for g in dialect.generations for e, p in g.routes()}
        self.venue = venue
        self.faults = faults or WireFaults()
        self._conn_seq = itertools.count(1)
        self.limiter = RateLimiter(limits or Limits())
        self.listen_key_ttl_s = listen_key_ttl_s
        self.server_time_offset_ms = server_time_offset_ms  # tests: a server clock ahead of/behind the host
        self._listen_keys: dict[str, ListenKey] = {}
        self._sessions: set[Session] = set()
        self._depth_windows: dict[tuple[str, str], _DepthWindow] = {}  # (symbol, stream suffix) -> open window
        self.app = self._build_app()
        venue.add_stream_listener(self._on_stream)
        self.requests: dict[str, int] = {}  # path -> count (tests)
        self.error_statuses: dict[int, int] = {}  # HTTP status -> error replies sent (tests: 429s, 418s)

    # ------------------------------------------------------------------ lifecycle

    def _background(self) -> Iterable[Coroutine[Any, Any, Any]]:
        return (self._expiry_loop(), self._depth_loop())

    def _open_sockets(self) -> Iterable[Any]:
        return [s.ws for s in self._sessions]

    def server_now_ms(self) -> int:
        skew = self.faults.clock_skew_ms(f"{self.name}-rest")
        return int(time.time() * 1000) + self.server_time_offset_ms + skew

    @property
    def urls(self) -> dict[str, str]:
        base = f"ws://{self.host}:{self.port}"
        if self.dialect.ws_layout == "legacy":
            return {"rest": self.rest_url, "ws": base}
        return {"rest": self.rest_url, "public": f"{base}/public", "market": f"{base}/market",
                "private": f"{base}/private", "ws_api": f"{base}/ws-fapi/v1"}  # fmt: skip

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        public: dict[str, Callable[[web.Request, dict[str, Any]], Any]] = {
            "ping": self._ping, "time": self._time, "exchange_info": self._exchange_info, "depth": self._depth,
            "book_ticker": self._book_ticker, "premium_index": self._premium_index,
        }  # fmt: skip
        signed: dict[str, dict[str, Callable[[int, dict[str, Any]], Any]]] = {
            "order": {"POST": self._place, "GET": self._query, "DELETE": self._cancel},
            "batch_orders": {"POST": self._batch}, "all_open_orders": {"DELETE": self._cancel_all},
            "open_orders": {"GET": self._open_orders}, "position_risk": {"GET": self._position_risk},
            "account": {"GET": self._account}, "balance": {"GET": self._balance},
            "user_trades": {"GET": self._user_trades}, "income": {"GET": self._income},
            "leverage": {"POST": self._leverage}, "margin_type": {"POST": self._margin_type},
            "algo_order": {"POST": self._algo},
            "position_mode": {"GET": self._position_mode, "POST": self._set_position_mode},
        }  # fmt: skip
        for gen in self.dialect.generations:
            for endpoint, path in gen.routes():
                if endpoint in PUBLIC:
                    r.add_get(path, self._public(public[endpoint]))
                elif endpoint == "listen_key":
                    for method in ("POST", "PUT", "DELETE"):
                        r.add_route(method, path, self._listen_key_handler(gen.auth))
                else:
                    for method, fn in signed[endpoint].items():
                        r.add_route(method, path, self._signed(fn, gen.auth))
        if self.dialect.ws_layout == "legacy":
            r.add_get("/ws", self._legacy_ws)
            r.add_get("/ws/{streams:.*}", self._legacy_ws)
            r.add_get("/stream", self._legacy_ws)
            return app
        for route in ("public", "market"):
            r.add_get(f"/{route}/ws", self._market_ws(route))
            r.add_get(f"/{route}/ws/{{streams:.*}}", self._market_ws(route))
            r.add_get(f"/{route}/stream", self._market_ws(route))
        r.add_get("/private/ws", self._private_ws)
        r.add_get("/private/ws/{key}", self._private_ws)
        if self.dialect.ws_api:
            r.add_get("/ws-fapi/v1", self._api_ws)
        return app

    # ------------------------------------------------------------------ REST plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        self.requests[request.path] = self.requests.get(request.path, 0) + 1
        ip = request.remote or "?"
        now = time.monotonic()
        if request.path.startswith("/fapi"):
            fault = self.faults.http_fault(self.name)
            if fault is not None:
                headers = {"Retry-After": str(max(1, round(fault.retry_after_s)))}
                if fault.kind is FaultKind.HTTP_429:
                    exc = BinanceError(429, -1003, "Too many requests; please use the websocket for live updates.")
                elif fault.status == 503:
                    exc = BinanceError(503, -1000, "Service Unavailable.")
                else:
                    exc = BinanceError(fault.status, -1000, "An unknown error occured while processing the request.")
                return web.Response(status=exc.status, body=exc.body(), content_type="application/json",
                                    headers=headers)  # fmt: skip
        ban = self.limiter.banned(ip, now)
        if ban > 0:
            return self._error(BinanceError(418, -1003, f"Way too many requests; IP banned for {int(ban) + 1} s."),
                               ip, now, retry_after=ban)  # fmt: skip
        try:
            resp: web.StreamResponse = await handler(request)
        except BinanceError as exc:
            return self._error(exc, ip, now)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("binance sim: %s %s failed", request.method, request.path)
            return self._error(BinanceError(500, -1000, "An unknown error occured while processing the request."),
                               ip, now)  # fmt: skip
        resp.headers["X-MBX-USED-WEIGHT-1M"] = str(self.limiter.weight(ip, now))
        return resp

    def _error(self, exc: BinanceError, ip: str, now: float, retry_after: float | None = None) -> web.Response:
        headers = {"X-MBX-USED-WEIGHT-1M": str(self.limiter.weight(ip, now))}
        if exc.status == 429:
            retry_after = self.limiter.retry_in(ip, now)
            if self.limiter.reject(ip, now):
                exc = BinanceError(418, -1003, "Way too many requests; IP banned after repeated 429s.")
                retry_after = self.limiter.limits.ban_s
        if retry_after is not None and self.limiter.limits.retry_after:
            headers["Retry-After"] = str(int(retry_after) + 1)
        self.error_statuses[exc.status] = self.error_statuses.get(exc.status, 0) + 1
        return web.Response(status=exc.status, body=exc.body(), content_type="application/json", headers=headers)

    def _charge(self, request: web.Request, weight: int) -> None:
        ip = request.remote or "?"
        now = time.monotonic()
        used = self.limiter.charge(ip, weight, now)
        if used > self.limiter.limits.weight_1m:
            raise BinanceError(429, -1003, f"Too many requests; current limit of IP is "
                                           f"{self.limiter.limits.weight_1m} requests per minute.")  # fmt: skip

    def _public(self, fn: Callable[[web.Request, dict[str, Any]], Any]) -> Callable[..., Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            params = dict(parse_qsl(request.raw_path.partition("?")[2], keep_blank_values=True))
            result = fn(request, params)
            return _json(result)

        return handler

    async def _raw_params(self, request: web.Request) -> tuple[str, str, dict[str, str]]:
        query = request.raw_path.partition("?")[2]  # as received: `query_string` is percent-decoded
        body = ""
        if request.can_read_body:
            body = (await request.read()).decode("utf-8", "replace")
        params = dict(parse_qsl(body, keep_blank_values=True))
        params.update(parse_qsl(query, keep_blank_values=True))  # the query string wins
        return query, body, params

    def _api_key(self, request: web.Request) -> tuple[str, int]:
        key = request.headers.get("X-MBX-APIKEY", "")
        found = self.venue.key(key)
        if found is None:
            if not key:
                raise BinanceError(401, -2014, "API-key format invalid.")
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        return key, found.account

    def _verify(self, api_key: str, query: str, body: str, params: dict[str, str]) -> None:
        """The HMAC over the received string (signature taken out) and the recvWindow rule."""
        secret = self.venue.key(api_key)
        assert secret is not None
        total, sig = _strip_signature(query, body)
        if sig is None:
            raise bad_param("Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        want = hmac.new(secret.secret.encode(), total.encode(), sha256).hexdigest()
        if not hmac.compare_digest(want, sig.lower()):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        self._check_time(params)

    def _verify_v3(self, query: str, body: str, params: dict[str, str]) -> int:
        """Aster V3: the EIP-712 signature over the received string (signature taken out) recovers to
        `signer`, an approved agent of `user`; the nonce rules. Returns the account."""
        msg, sig = _strip_signature(query, body)
        if sig is None:
            raise bad_param("Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        signer = params.get("signer", "")
        if not signer:
            raise bad_param("Mandatory parameter 'signer' was not sent, was empty/null, or malformed.")
        user = params.get("user")
        if user is None and self.dialect.require_user:
            raise bad_param("Mandatory parameter 'user' was not sent, was empty/null, or malformed.")
        try:
            nonce = int(params["nonce"])
        except (KeyError, ValueError):
            raise bad_param("Mandatory parameter 'nonce' was not sent, was empty/null, or malformed.") from None
        try:
            recovered = _core.aster_recover_signer(self.dialect.chain_id, msg, sig)
        except ValueError:
            raise BinanceError(400, -1022, "Signature for this request is not valid.") from None
        if recovered.lower() != signer.lower():
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        agent = self.venue.agent(signer)
        if agent is None or (user is not None and user.lower() != agent.user.lower()):
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        self.nonces.check(agent.user.lower(), nonce, self.server_now_ms() * 1000)
        return agent.account

    async def _authenticate(self, request: web.Request, auth: str) -> tuple[int, dict[str, str]]:
        """The account a signed request acts for and its parameters, or BinanceError."""
        if auth == "eip712":
            query, body, params = await self._raw_params(request)
            return self._verify_v3(query, body, params), params
        api_key, account = self._api_key(request)
        query, body, params = await self._raw_params(request)
        self._verify(api_key, query, body, params)
        return account, params

    def _check_time(self, params: dict[str, Any]) -> None:
        try:
            ts = int(params["timestamp"])
        except (KeyError, TypeError, ValueError):
            raise bad_param("Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.") from None
        try:
            window = int(params.get("recvWindow", DEFAULT_RECV_WINDOW_MS))
        except (TypeError, ValueError):
            raise bad_param("Illegal characters found in parameter 'recvWindow'.", -1100) from None
        if not 0 < window <= MAX_RECV_WINDOW_MS:
            raise bad_param("Param 'recvWindow' must be less than 60000.", -1131)
        now = self.server_now_ms()
        if ts >= now + 1000:
            raise BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - ts > window:
            raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    def _signed(self, fn: Callable[[int, dict[str, Any]], Any], auth: str = "hmac") -> Callable[..., Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            account, params = await self._authenticate(request, auth)
            endpoint = self._endpoint_of.get(request.path, "")
            orders = _order_count(request.method, endpoint, params)
            weight = _weight(request.method, endpoint, params)
            self._charge(request, weight)
            headers: dict[str, str] = {}
            if orders:
                n10, n1m = self.limiter.charge_orders(account, orders, time.monotonic())
                headers = {"X-MBX-ORDER-COUNT-10S": str(n10), "X-MBX-ORDER-COUNT-1M": str(n1m)}
                lim = self.limiter.limits
                if n10 > lim.orders_10s or n1m > lim.orders_1m:
                    window = "10 seconds" if n10 > lim.orders_10s else "1 minute"
                    limit = lim.orders_10s if n10 > lim.orders_10s else lim.orders_1m
                    msg = f"Too many new orders; current limit is {limit} orders per {window}."
                    raise BinanceError(429, -1015, msg)
            result = fn(account, params)
            if orders and self.faults.accept_timeout(self.name):
                # The order is in the book; the client never hears so (until its own timeout fires).
                await asyncio.sleep(self.faults.response_timeout_s)
            resp = _json(result)
            resp.headers.update(headers)
            return resp

        return handler

    # ------------------------------------------------------------------ public endpoints

    def _ping(self, request: web.Request, params: dict[str, Any]) -> Any:
        self._charge(request, 1)
        return {}

    def _time(self, request: web.Request, params: dict[str, Any]) -> Any:
        self._charge(request, 1)
        return {"serverTime": self.server_now_ms()}

    def _exchange_info(self, request: web.Request, params: dict[str, Any]) -> Any:
        self._charge(request, 1)
        lim = self.limiter.limits
        limits = [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": lim.weight_1m},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": lim.orders_1m},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": lim.orders_10s},
        ]
        return self.venue.exchange_info(self.server_now_ms(), limits)

    def _depth(self, request: web.Request, params: dict[str, Any]) -> Any:
        try:
            limit = int(params.get("limit", 500))
        except ValueError:
            raise bad_param("Illegal characters found in parameter 'limit'.", -1100) from None
        weight = DEPTH_LIMITS.get(limit)
        if weight is None:
            raise bad_param("Invalid limit.", -4021)
        self._charge(request, weight)
        return self.venue.depth(params.get("symbol", ""), limit, self.server_now_ms())

    def _book_ticker(self, request: web.Request, params: dict[str, Any]) -> Any:
        if params.get("symbol"):
            self._charge(request, 2)
            return self.venue.book_ticker(params["symbol"], self.server_now_ms())
        self._charge(request, 5)
        return [self.venue.book_ticker(s, self.server_now_ms()) for s in self.venue.symbols()]

    def _premium_index(self, request: web.Request, params: dict[str, Any]) -> Any:
        self._charge(request, 1)
        if params.get("symbol"):
            return self.venue.premium_index(params["symbol"], self.server_now_ms())
        return [self.venue.premium_index(s, self.server_now_ms()) for s in self.venue.symbols()]

    # ------------------------------------------------------------------ signed endpoints

    def _place(self, account: int, params: dict[str, Any]) -> Any:
        return self.venue.place(account, params)

    def _batch(self, account: int, params: dict[str, Any]) -> Any:
        orders = _batch_list(params.get("batchOrders"))
        return self.venue.place_batch(account, orders)

    def _query(self, account: int, params: dict[str, Any]) -> Any:
        return self.venue.query(account, params)

    def _cancel(self, account: int, params: dict[str, Any]) -> Any:
        return self.venue.cancel(account, params)

    def _cancel_all(self, account: int, params: dict[str, Any]) -> Any:
        return self.venue.cancel_all(account, params)

    def _open_orders(self, account: int, params: dict[str, Any]) -> Any:
        return self.venue.open_orders(account, params)

    def _position_risk(self, account: int, params: dict[str, Any]) -> Any:
        return self.venue.position_risk(account, params, self.server_now_ms())

    def _account(self, account: int, params: dict[str, Any]) -> Any:
        return self.venue.account(account, self.server_now_ms())

    def _balance(self, account: int, params: dict[str, Any]) -> Any:
        return self.venue.balance(account, self.server_now_ms())

    def _user_trades(self, account: int, params: dict[str, Any]) -> Any:
        return self.venue.user_trades(account, params)

    def _income(self, account: int, params: dict[str, Any]) -> Any:
        return self.venue.income(account, params)

    def _leverage(self, account: int, params: dict[str, Any]) -> Any:
        return self.venue.leverage(account, params)

    def _margin_type(self, account: int, params: dict[str, Any]) -> Any:
        return self.venue.margin_type(account, params)

    def _position_mode(self, account: int, params: dict[str, Any]) -> Any:
        return self.venue.position_mode(account)

    def _set_position_mode(self, account: int, params: dict[str, Any]) -> Any:
        return self.venue.set_position_mode(account, params)

    def _algo(self, account: int, params: dict[str, Any]) -> Any:
        raise BinanceError(400, -4120, "Conditional (algo) orders are not modelled by the simulator")

    # ------------------------------------------------------------------ listenKey

    def _listen_key_handler(self, auth: str) -> Callable[..., Any]:
        """HMAC generations: the API key alone (USER_STREAM); EIP-712: a signed request (Aster V3)."""
        if auth == "hmac":
            return self._listen_key

        async def handler(request: web.Request) -> web.StreamResponse:
            account, _ = await self._authenticate(request, auth)
            return self._listen_key_for(request, account)

        return handler

    async def _listen_key(self, request: web.Request) -> web.StreamResponse:
        _, account = self._api_key(request)
        return self._listen_key_for(request, account)

    def _listen_key_for(self, request: web.Request, account: int) -> web.StreamResponse:
        self._charge(request, 1)
        now = time.monotonic()
        current = next((k for k in self._listen_keys.values() if k.account == account and k.expires > now), None)
        if request.method == "POST":
            if current is None:
                current = ListenKey(secrets.token_urlsafe(48), account, 0.0)
                self._listen_keys[current.key] = current
            current.expires = now + self.listen_key_ttl_s
            return _json({"listenKey": current.key})
        if current is None:
            raise BinanceError(400, -1125, "This listenKey does not exist.")
        if request.method == "PUT":
            current.expires = now + self.listen_key_ttl_s
            return _json({"listenKey": current.key})
        del self._listen_keys[current.key]
        self._close_private(current.key)
        return _json({})

    async def _expiry_loop(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.listen_key_ttl_s / 4))
            now = time.monotonic()
            for key in [k for k in self._listen_keys.values() if k.expires <= now]:
                del self._listen_keys[key.key]
                frame = orjson.dumps({"e": "listenKeyExpired", "E": self.server_now_ms(), "listenKey": key.key})
                for s in self._sessions:
                    if s.listen_key == key.key:
                        s.send(frame)
                        s.send(b"")  # close after the event
                log.info("binance sim: listenKey of account %d expired", key.account)

    async def _depth_loop(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            for key, window in list(self._depth_windows.items()):
                if now - window.started >= DEPTH_SPEEDS[key[1]]:
                    del self._depth_windows[key]
                    self._send_depth(key[0].lower() + key[1], window.event())

    def _on_depth(self, msg: StreamMessage) -> None:
        """Book changes are aggregated per symbol and stream speed while anyone listens to that stream."""
        lower = msg.symbol.lower()
        now = time.monotonic()
        for suffix in DEPTH_SPEEDS:
            name = lower + suffix
            if not any(s.route == self._depth_route and name in s.streams for s in self._sessions):
                self._depth_windows.pop((msg.symbol, suffix), None)
                continue
            window = self._depth_windows.get((msg.symbol, suffix))
            if window is None:
                window = self._depth_windows[(msg.symbol, suffix)] = _DepthWindow(now, msg.data, msg.data)
            window.add(msg.data)

    def _send_depth(self, name: str, data: dict[str, Any]) -> None:
        raw: bytes | None = None
        for s in self._sessions:
            if s.route != self._depth_route or name not in s.streams:
                continue
            action = self.faults.sequence_fault(s.conn_id)
            if action == "skip":
                continue
            if s.combined:
                frame = orjson.dumps({"stream": name, "data": data})
            else:
                raw = raw or orjson.dumps(data)
                frame = raw
            s.send(frame)
            if action == "duplicate":
                s.send(frame)

    def _close_private(self, key: str) -> None:
        for s in self._sessions:
            if s.listen_key == key:
                s.send(b"")

    # ------------------------------------------------------------------ WebSocket

    def _market_ws(self, route: str) -> Callable[..., Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            ws = web.WebSocketResponse(heartbeat=None, autoping=True)
            await ws.prepare(request)
            session = Session(ws, route, f"{self.name}-ws-{next(self._conn_seq)}")
            names = request.match_info.get("streams") or request.query.get("streams", "")
            session.combined = request.path.endswith("/stream")
            for name in filter(None, names.split("/")):
                session.streams.add(name)
            return await self._serve(session)

        return handler

    async def _private_ws(self, request: web.Request, key: str = "") -> web.StreamResponse:
        key = key or request.match_info.get("key") or request.query.get("listenKey", "")
        if key not in self._listen_keys:
            raise web.HTTPBadRequest(text='{"code":-1125,"msg":"This listenKey does not exist."}')
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        session = Session(ws, "private", f"{self.name}-ws-user-{next(self._conn_seq)}")
        session.listen_key = key
        return await self._serve(session)

    async def _api_ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        return await self._serve(Session(ws, "api", f"{self.name}-ws-api-{next(self._conn_seq)}"))

    async def _legacy_ws(self, request: web.Request) -> web.StreamResponse:
        """One host for everything (Binance's legacy layout, Aster): `/ws/<listenKey>` is the user data
        stream, any other `/ws/<streams>` or `/stream?streams=` market data."""
        name = request.match_info.get("streams", "")
        if name and "@" not in name and "/" not in name:
            return await self._private_ws(request, name)
        resp: web.StreamResponse = await self._market_ws("legacy")(request)
        return resp

    async def _serve(self, session: Session) -> web.StreamResponse:
        self._sessions.add(session)
        writer = self._spawn(self._writer(session))
        try:
            async for msg in session.ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_client_frame(session, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self._sessions.discard(session)
            self.faults.forget(session.conn_id)
            session.queue.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(BaseException):
                await writer
        return session.ws

    async def _writer(self, session: Session) -> None:
        while True:
            frame = await session.queue.get()
            if frame is None:
                return
            if frame == b"":
                await session.ws.close()
                return
            if not await send_with_faults(session, self.faults, frame):
                return

    def _on_client_frame(self, session: Session, data: str) -> None:
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            session.send(orjson.dumps({"code": 3, "msg": "Invalid JSON", "id": None}))
            return
        if not isinstance(msg, dict):
            session.send(orjson.dumps({"code": 3, "msg": "Invalid request", "id": None}))
            return
        if session.route == "api":
            self._on_api_request(session, msg)
            return
        method, params, rid = msg.get("method"), msg.get("params"), msg.get("id")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                session.send(orjson.dumps({"code": 2, "msg": "Invalid request: params must be a list of stream names",
                                           "id": rid}))  # fmt: skip
                return
            if method == "SUBSCRIBE":
                session.streams.update(params)
            else:
                session.streams.difference_update(params)
            session.send(orjson.dumps({"result": None, "id": rid}))
        elif method == "LIST_SUBSCRIPTIONS":
            session.send(orjson.dumps({"result": sorted(session.streams), "id": rid}))
        elif method == "SET_PROPERTY" and isinstance(params, list) and params[:1] == ["combined"]:
            session.combined = bool(params[1]) if len(params) > 1 else False
            session.send(orjson.dumps({"result": None, "id": rid}))
        else:
            session.send(orjson.dumps({"code": 2, "msg": f"Invalid request: unknown method {method!r}", "id": rid}))

    def _on_stream(self, msg: StreamMessage) -> None:
        if msg.kind == "user":
            if msg.account is None:
                return
            frame = orjson.dumps(msg.data)
            for s in self._sessions:
                if s.route == "private" and s.listen_key is not None:
                    key = self._listen_keys.get(s.listen_key)
                    if key is not None and key.account == msg.account:
                        self._send_private(s, frame)
            return
        if msg.kind == "depth":
            self._on_depth(msg)
            return
        route = "legacy" if self.dialect.ws_layout == "legacy" else "public" if msg.kind in PUBLIC_KINDS else "market"
        lower = msg.symbol.lower()
        names = [f"{lower}@{msg.kind}"]
        if msg.kind == "markPrice":
            names += [f"{lower}@markPrice@1s"]
        raw: bytes | None = None
        for s in self._sessions:
            if s.route != route:
                continue  # a stream asked on the wrong host gets nothing, as on the venue
            for name in names:
                if name in s.streams:
                    if s.combined:
                        frame = orjson.dumps({"stream": name, "data": msg.data})
                    else:
                        raw = raw or orjson.dumps(msg.data)
                        frame = raw
                    s.send(frame)
                    break

    def _send_private(self, session: Session, frame: bytes) -> None:
        fault = self.faults.private_fault(session.conn_id)
        if fault is not None and fault[0] == "delay":
            asyncio.get_running_loop().call_later(fault[1], session.send, frame)  # later events overtake it
            return
        held, session.held = session.held, None
        if fault is not None:  # reorder: this one goes out after the next private event
            session.held = frame
            asyncio.get_running_loop().call_later(1.0, self._release_held, session, frame)
        else:
            session.send(frame)
        if held is not None:
            session.send(held)

    @staticmethod
    def _release_held(session: Session, frame: bytes) -> None:
        if session.held is frame:
            session.held = None
            session.send(frame)

    # ------------------------------------------------------------------ WebSocket API

    def _on_api_request(self, session: Session, msg: dict[str, Any]) -> None:
        rid = msg.get("id")
        method = msg.get("method")
        params = msg.get("params")
        try:
            if not isinstance(params, dict):
                raise bad_param("Mandatory parameter 'params' was not sent, was empty/null, or malformed.")
            params = {k: (v if isinstance(v, str) else orjson.dumps(v).decode() if not isinstance(v, (int, float))
                          else str(v)) for k, v in params.items()}  # fmt: skip
            api_key = params.get("apiKey", "")
            found = self.venue.key(api_key)
            if found is None:
                raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            sig = params.pop("signature", None)
            payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
            want = hmac.new(found.secret.encode(), payload.encode(), sha256).hexdigest()
            if sig is None or not hmac.compare_digest(want, str(sig).lower()):
                raise BinanceError(400, -1022, "Signature for this request is not valid.")
            self._check_time(params)
            if method == "order.place":
                n10, n1m = self.limiter.charge_orders(found.account, (1, 1), time.monotonic())
                result = self.venue.place(found.account, params)
                limits = [
                    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "count": n10},
                    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "count": n1m},
                ]
            elif method == "order.cancel":
                result, limits = self.venue.cancel(found.account, params), []
            elif method == "order.status":
                result, limits = self.venue.query(found.account, params), []
            else:
                raise BinanceError(400, -1102, f"Unknown method {method!r}")
            reply = orjson.dumps({"id": rid, "status": 200, "result": result, "rateLimits": limits})
            if method == "order.place" and self.faults.accept_timeout(self.name):
                # The order is in the book; the answer comes after the client has given up on it.
                asyncio.get_running_loop().call_later(self.faults.response_timeout_s, session.send, reply)
                return
            session.send(reply)
        except BinanceError as exc:
            session.send(orjson.dumps({"id": rid, "status": exc.status,
                                       "error": {"code": exc.code, "msg": exc.msg}}))  # fmt: skip

    # ------------------------------------------------------------------ test hooks

    def drop_sockets(self) -> int:
        """Cut every socket abruptly (no close frame). Returns how many were open."""
        sessions = list(self._sessions)
        for session in sessions:
            abort(session.ws)
        return len(sessions)

    def stall_sockets(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        for s in self._sessions:
            s.stalled_until = until

    def expire_listen_keys(self) -> None:
        """Tests: every listenKey expires now (the expiry loop sends listenKeyExpired)."""
        for k in self._listen_keys.values():
            k.expires = 0.0



def _strip_signature(query: str, body: str) -> tuple[str, str | None]:
    """totalParams without the `signature` parameter, and the signature (None if absent)."""
    for part in ("body", "query"):
        text = body if part == "body" else query
        head, sep, sig = text.rpartition("signature=")
        if sep and (head == "" or head.endswith("&")) and "&" not in sig:
            head = head[:-1] if head.endswith("&") else head
            return (query + head, sig) if part == "body" else (head + body, sig)
    return query + body, None


def _order_count(method: str, endpoint: str, params: dict[str, Any]) -> tuple[int, int] | None:
    """What an order request adds to the (10 s, 1 min) order counters: 1 and 1 for an order, 5 and 1 for
    a batch (the documented counts), None for anything else."""
    if method != "POST":
        return None
    if endpoint == "order":
        return (1, 1)
    if endpoint == "batch_orders":
        return (5, 1)
    return None


def _weight(method: str, endpoint: str, params: dict[str, Any]) -> int:
    if endpoint == "open_orders":
        return 1 if params.get("symbol") else 40
    if endpoint in ("position_risk", "account", "balance", "user_trades"):
        return 5
    if endpoint == "income" or (method == "GET" and endpoint == "position_mode"):
        return 30
    if endpoint == "batch_orders":
        return 5
    if method == "POST" and endpoint == "order":
        return 0
    return 1


def _batch_list(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, str) or not raw:
        raise bad_param("Mandatory parameter 'batchOrders' was not sent, was empty/null, or malformed.")
    try:
        orders = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_param("Data sent for parameter 'batchOrders' is not valid.", -1130) from None
    if not isinstance(orders, list) or not orders or not all(isinstance(o, dict) for o in orders):
        raise bad_param("Data sent for parameter 'batchOrders' is not valid.", -1130)
    if len(orders) > MAX_BATCH:
        raise bad_param(f"Param 'batchOrders' must be less than or equal to {MAX_BATCH}.", -1130)
    return [{k: (v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v))
             for k, v in o.items()} for o in orders]  # fmt: skip


def _json(result: Any) -> web.Response:
    return web.Response(body=orjson.dumps(result), content_type="application/json")
