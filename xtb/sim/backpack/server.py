"""Backpack protocol front-end: the venue's REST API and its one WebSocket URL on 127.0.0.1.

REST: public market data, signed account/order endpoints (ED25519 over the rebuilt instruction string,
timestamp/window checks), the venue's `{"code","message"}` errors. WS (path `/`): SUBSCRIBE/UNSUBSCRIBE,
depth/bookTicker/trade/markPrice streams, signed `account.*` streams, protocol pings. Venue state and
the translation to engine calls live in `BackpackVenue`; fault injection is consulted at each hop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from xtb.sim.backpack import auth, validate
from xtb.sim.backpack.errors import ApiError, bad_request, json_response
from xtb.sim.backpack.history import Page
from xtb.sim.backpack.venue import NOT_PERP, BackpackVenue, StreamMessage
from xtb.sim.backpack.wire import iso_naive
from xtb.sim.faults import FaultKind
from xtb.sim.loopback import LoopbackServer, abort, send_with_faults
from xtb.sim.wire_faults import WireFaults

log = logging.getLogger(__name__)

DEPTH_WINDOWS = {"200ms": 0.2, "600ms": 0.6, "1000ms": 1.0}
PUBLIC_STREAMS = {"depth", "bookTicker", "trade", "markPrice", "ticker", "kline", "openInterest"}
PRIVATE_STREAMS = {"account.orderUpdate", "account.positionUpdate"}
# Documented streams not modelled: a subscription gets the venue's 4006 "Invalid stream".
NOT_MODELLED_STREAMS = ("account.rfqUpdate",)
# Accepted and silent: the simulator liquidates no one, so the venue-wide `liquidation` stream never fires.
SILENT_STREAMS = ("liquidation",)
# The error for a bad private-stream signature is UNCONFIRMED; this code is the simulator's choice.
WS_AUTH_ERROR = 4005
KLINE_SECONDS = {
    "1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
    "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400, "3d": 259200, "1w": 604800,
    "1month": 2592000,
}  # fmt: skip
# Cache-Control values are the simulator's choice (the venue documents the header, not its value).
PUBLIC_CACHE = "public, max-age=1"
PRIVATE_CACHE = "no-store"

# Public REST paths served (GET) -> handler method name.
PUBLIC_ROUTES: dict[str, str] = {
    "/api/v1/markets": "_markets",
    "/api/v1/market": "_market",
    "/api/v1/assets": "_assets",
    "/api/v1/collateral": "_collateral_parameters",
    "/api/v1/depth": "_depth",
    "/api/v1/ticker": "_ticker",
    "/api/v1/tickers": "_tickers",
    "/api/v1/markPrices": "_mark_prices",
    "/api/v1/openInterest": "_open_interest",
    "/api/v1/fundingRates": "_funding_rates",
    "/api/v1/trades": "_trades",
    "/api/v1/trades/history": "_trades_history",
    "/api/v1/klines": "_klines",
    "/api/v1/securities": "_empty_list",
    "/api/v1/market-sessions": "_empty_list",
    "/api/v1/time": "_time",
    "/api/v1/ping": "_ping",
    "/api/v1/status": "_status",
}

# Signed REST routes served -> BackpackVenue method (called with account, validated params).
SIGNED_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/order"): "execute_order",
    ("POST", "/api/v1/orders"): "execute_batch",
    ("GET", "/api/v1/order"): "query_order",
    ("DELETE", "/api/v1/order"): "cancel_order",
    ("GET", "/api/v1/orders"): "open_orders",
    ("DELETE", "/api/v1/orders"): "cancel_all",
    ("GET", "/api/v1/position"): "positions",
    ("GET", "/api/v1/capital"): "balances",
    ("GET", "/api/v1/capital/collateral"): "collateral",
    ("GET", "/api/v1/account"): "account_settings",
    ("PATCH", "/api/v1/account"): "update_account",
    ("GET", "/api/v1/account/limits/order"): "max_order_quantity",
    ("GET", "/wapi/v1/history/orders"): "order_history",
    ("GET", "/wapi/v1/history/fills"): "fill_history",
    ("GET", "/wapi/v1/history/funding"): "funding_history",
    ("GET", "/wapi/v1/history/settlement"): "settlement_history",
    ("GET", "/wapi/v1/history/position"): "position_history",
}

# Documented paths outside perpetual trading (spot margin, borrow/lend, RFQ, strategies, vaults,
# prediction markets, deposits/withdrawals): answered with the venue's NOT_IMPLEMENTED error, not 404.
REFUSED_ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "/api/v1/account/convertDust"),
    ("GET", "/api/v1/account/limits/borrow"),
    ("GET", "/api/v1/account/limits/withdrawal"),
    ("GET", "/api/v1/borrowLend/positions"),
    ("GET", "/api/v1/borrowLend/position/liquidationPrice"),
    ("POST", "/api/v1/borrowLend"),
    ("GET", "/api/v1/borrowLend/markets"),
    ("GET", "/api/v1/borrowLend/markets/history"),
    ("GET", "/api/v1/borrowLend/apy"),
    ("GET", "/wapi/v1/capital/deposits"),
    ("GET", "/wapi/v1/capital/deposit/address"),
    ("GET", "/api/v1/prediction"),
    ("GET", "/api/v1/prediction/tags"),
    ("POST", "/api/v1/rfq/quote"),
    ("GET", "/api/v1/rfqs"),
    ("POST", "/api/v1/rfq"),
    ("POST", "/api/v1/rfq/accept"),
    ("POST", "/api/v1/rfq/refresh"),
    ("POST", "/api/v1/rfq/cancel"),
    ("GET", "/api/v1/strategy"),
    ("POST", "/api/v1/strategy"),
    ("DELETE", "/api/v1/strategy"),
    ("GET", "/api/v1/strategies"),
    ("DELETE", "/api/v1/strategies"),
    ("GET", "/api/v1/vaults"),
    ("POST", "/api/v1/vault/mint"),
    ("POST", "/api/v1/vault/redeem"),
    ("DELETE", "/api/v1/vault/redeem"),
    ("GET", "/api/v1/vault/redeems/pending"),
    ("GET", "/api/v1/vault/nav"),
    ("GET", "/api/v1/vaults/history"),
    ("GET", "/api/v1/wallets"),
    ("GET", "/wapi/v1/capital/withdrawals"),
    ("POST", "/wapi/v1/capital/withdrawals"),
    ("GET", "/wapi/v1/capital/withdrawals/delay"),
    ("POST", "/wapi/v1/capital/withdrawals/delay"),
    ("PATCH", "/wapi/v1/capital/withdrawals/delay"),
    ("GET", "/wapi/v1/history/borrowLend"),
    ("GET", "/wapi/v1/history/interest"),
    ("GET", "/wapi/v1/history/borrowLend/positions"),
    ("GET", "/wapi/v1/history/dust"),
    ("GET", "/wapi/v1/history/rfq"),
    ("GET", "/wapi/v1/history/quote"),
    ("GET", "/wapi/v1/history/rfq/fill"),
    ("GET", "/wapi/v1/history/quote/fill"),
    ("GET", "/wapi/v1/history/strategies"),
)


def ws_error(code: int, message: str) -> bytes:
    return orjson.dumps({"id": None, "error": {"code": code, "message": message}})


class StreamName:
    """A parsed stream name: kind (`depth`, `account.orderUpdate`, ...), symbol or None, depth window."""

    __slots__ = ("interval_s", "kind", "name", "symbol", "window_s")

    def __init__(
        self,
        name: str,
        kind: str,
        symbol: str | None,
        window_s: float | None = None,
        interval_s: int | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.symbol = symbol
        self.window_s = window_s
        self.interval_s = interval_s  # kline streams


def parse_stream(name: str) -> StreamName | int:
    """Parse a stream name; returns an error code (4006 invalid stream, 4008 bad depth window)."""
    if not isinstance(name, str) or not name:
        return 4006
    for private in PRIVATE_STREAMS:
        if name == private:
            return StreamName(name, private, None)
        if name.startswith(private + "."):
            return StreamName(name, private, name[len(private) + 1 :])
    if name in SILENT_STREAMS:
        return StreamName(name, name, None)
    parts = name.split(".")
    kind = parts[0]
    if kind not in PUBLIC_STREAMS or len(parts) < 2:
        return 4006
    if kind == "kline":
        interval = KLINE_SECONDS.get(parts[1])
        if interval is None or len(parts) < 3:
            return 4006
        return StreamName(name, kind, ".".join(parts[2:]), interval_s=interval)
    if kind == "depth" and len(parts) >= 3 and parts[1].endswith("ms"):
        window = DEPTH_WINDOWS.get(parts[1])
        if window is None:
            return 4008
        return StreamName(name, kind, ".".join(parts[2:]), window)
    return StreamName(name, kind, ".".join(parts[1:]))


class DepthBuffer:
    """Level changes of one aggregated depth stream within its current window (absolute sizes)."""

    __slots__ = ("asks", "bids", "due", "first_u", "last")

    def __init__(self, first_u: int, due: float) -> None:
        self.first_u = first_u
        self.due = due
        self.asks: dict[str, str] = {}
        self.bids: dict[str, str] = {}
        self.last: dict[str, Any] = {}

    def add(self, data: dict[str, Any]) -> None:
        for price, size in data["a"]:
            self.asks[price] = size
        for price, size in data["b"]:
            self.bids[price] = size
        self.last = data

    def frame(self, symbol: str) -> dict[str, Any]:
        def ascending(levels: dict[str, str]) -> list[list[str]]:
            return [[p, q] for p, q in sorted(levels.items(), key=lambda kv: Decimal(kv[0]))]

        last = self.last
        return {
            "e": "depth",
            "E": last["E"],
            "s": symbol,
            "a": ascending(self.asks),
            "b": ascending(self.bids),
            "U": self.first_u,
            "u": last["u"],
            "T": last["T"],
        }


class Candle:
    """The current candle of one `kline.<interval>.<symbol>` subscription, built from the trades it sees."""

    __slots__ = ("close", "high", "low", "open", "start_s", "trades", "volume")

    def __init__(self, start_s: int, price: str) -> None:
        self.start_s = start_s
        self.open = self.high = self.low = self.close = price
        self.volume = Decimal(0)
        self.trades = 0

    def add(self, price: str, quantity: str) -> None:
        if Decimal(price) > Decimal(self.high):
            self.high = price
        if Decimal(price) < Decimal(self.low):
            self.low = price
        self.close = price
        self.volume += Decimal(quantity)
        self.trades += 1

    def frame(self, symbol: str, interval_s: int, now_us: int, closed: bool) -> dict[str, Any]:
        return {
            "e": "kline",
            "E": now_us,
            "s": symbol,
            "t": iso_naive(self.start_s * 1_000_000_000),
            "T": iso_naive((self.start_s + interval_s) * 1_000_000_000),
            "o": self.open,
            "c": self.close,
            "h": self.high,
            "l": self.low,
            "v": format(self.volume, "f"),
            "n": self.trades,
            "X": closed,
        }


class Session:
    """One WebSocket client: its subscriptions, its account (once a private stream is signed) and an
    outgoing queue drained by a writer task, so engine callbacks never block on a socket."""

    def __init__(self, ws: web.WebSocketResponse, session_id: int) -> None:
        self.ws = ws
        self.id = session_id
        self.streams: dict[str, StreamName] = {}
        self.account: int | None = None
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.last_pong = time.monotonic()
        self.stalled_until = 0.0
        self.conn_id = f"backpack-ws-{session_id}"
        self.held: bytes | None = None  # a private frame held back to be sent after the next one
        self.depth_buffers: dict[str, DepthBuffer] = {}  # aggregated depth streams
        self.candles: dict[str, Candle] = {}  # kline streams

    def send(self, payload: bytes) -> None:
        self.queue.put_nowait(payload)


class BackpackServer(LoopbackServer):
    ws_path = "/"

    def __init__(
        self,
        venue: BackpackVenue,
        faults: WireFaults | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ping_interval_s: float = 60.0,
        pong_timeout_s: float = 120.0,
        symmetric_window: bool = True,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(host, port)
        self.venue = venue
        self.faults = faults or WireFaults()
        self.ping_interval_s = ping_interval_s
        self.pong_timeout_s = pong_timeout_s
        self.symmetric_window = symmetric_window
        self._now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        self.sessions: dict[int, Session] = {}
        self._next_session = 1
        self.open_interest_interval_s = 60.0  # the venue's `openInterest.<symbol>` cadence
        #: Latency probe: called with (method, path, time.monotonic_ns()) as each signed request arrives,
        #: before it is read or verified (benchmarks time "book change -> order at the venue" with it).
        self.on_request: Callable[[str, str, int], None] | None = None
        self.app = self._build_app()
        venue.add_stream_listener(self._on_stream_message)

    # ------------------------------------------------------------------ lifecycle

    def _background(self) -> Iterable[Coroutine[Any, Any, Any]]:
        return (self._depth_flush_loop(),)

    def _open_sockets(self) -> Iterable[Any]:
        return (session.ws for session in list(self.sessions.values()))

    def server_now_ms(self) -> int:
        """The venue's clock: wall time plus any injected skew."""
        return self._now_ms() + self.faults.clock_skew_ms("backpack-rest")

    # ------------------------------------------------------------------ REST

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._error_middleware])
        r = app.router
        r.add_get("/", self._ws_handler)
        for path, name in PUBLIC_ROUTES.items():
            r.add_get(path, getattr(self, name))
        for method, path in SIGNED_ROUTES:
            r.add_route(method, path, self._signed)
        for method, path in REFUSED_ROUTES:
            r.add_route(method, path, self._refused)
        return app

    @web.middleware
    async def _error_middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if request.path != "/":
            fault = self.faults.http_fault("backpack")
            if fault is not None:
                headers = {"Retry-After": str(max(1, round(fault.retry_after_s)))}
                if fault.kind is FaultKind.HTTP_429:
                    return ApiError(429, "TOO_MANY_REQUESTS", "Too many requests").response(headers)
                if fault.status == 503:
                    return ApiError(503, "MAINTENANCE", "System under maintenance").response(headers)
                return ApiError(fault.status, "SERVER_ERROR", "Internal server error").response()
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except ApiError as exc:
            return exc.response()
        except auth.AuthError as exc:
            return ApiError(exc.status, exc.code, exc.message).response()
        except web.HTTPNotFound:
            return web.Response(status=404, text="not found")
        except web.HTTPException:
            raise
        except Exception:
            # A simulator bug, not the client's: logged with its traceback, answered in the venue's shape.
            log.exception("backpack sim: %s %s failed", request.method, request.path)
            return ApiError(500, "SERVER_ERROR", "Internal server error").response()

    def _query(self, request: web.Request) -> dict[str, Any]:
        """The request's query, checked against its documented schema (unknown keys ignored)."""
        schema = validate.SCHEMAS.get((request.method, request.path))
        return {} if schema is None else validate.validate_query(schema, request.query)

    def _symbol_of(self, query: dict[str, Any]) -> str:
        symbol = query.get("symbol")
        if not symbol:
            raise bad_request("Missing parameter `symbol`")
        if self.venue.spec_for(symbol) is None:
            raise bad_request("Invalid market symbol")
        return str(symbol)

    def _symbol(self, request: web.Request) -> str:
        return self._symbol_of(self._query(request))

    async def _markets(self, request: web.Request) -> web.Response:
        query = self._query(request)
        return json_response(self.venue.markets(query.get("marketType")), headers=_cache())

    async def _market(self, request: web.Request) -> web.Response:
        return json_response(self.venue.market(self._symbol(request)), headers=_cache())

    async def _assets(self, request: web.Request) -> web.Response:
        self._query(request)
        return json_response(self.venue.assets(), headers=_cache())

    async def _collateral_parameters(self, request: web.Request) -> web.Response:
        return json_response(self.venue.collateral_parameters())

    async def _depth(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        raw_limit = request.query.get("limit", "1000")
        if raw_limit not in {"5", "10", "20", "50", "100", "500", "1000"}:
            # The venue's own answer here is this plain-text parse error (seen live), not JSON.
            return web.Response(
                status=400,
                text=(
                    'failed to parse parameter `limit`: failed to parse "DepthLimit": Expect a valid enumeration value.'
                ),
            )
        return json_response(self.venue.depth(symbol, int(raw_limit)))

    async def _ticker(self, request: web.Request) -> web.Response:
        # `interval` 1d|1w is checked; the simulator keeps 24 h of statistics, which both answer from.
        return json_response(self.venue.ticker(self._symbol(request)), headers=_cache())

    async def _tickers(self, request: web.Request) -> web.Response:
        self._query(request)
        return json_response([self.venue.ticker(s) for s in self.venue.symbols()], headers=_cache())

    async def _mark_prices(self, request: web.Request) -> web.Response:
        query = self._query(request)
        if query.get("marketType", "PERP") != "PERP":
            return json_response([], headers=_cache())
        symbols = [self._symbol_of(query)] if query.get("symbol") else self.venue.symbols()
        return json_response([self.venue.mark_price(s) for s in symbols], headers=_cache())

    async def _open_interest(self, request: web.Request) -> web.Response:
        query = self._query(request)
        symbol = self._symbol_of(query) if query.get("symbol") else None
        return json_response(self.venue.open_interest(symbol))

    async def _funding_rates(self, request: web.Request) -> web.Response:
        query = self._query(request)
        limit, offset = _paging(query)
        rows = self.venue.funding_rates(self._symbol_of(query), limit, offset)
        return json_response(rows.items, headers=rows.headers())

    async def _trades(self, request: web.Request) -> web.Response:
        query = self._query(request)
        limit = query.get("limit", 100)
        if not 1 <= limit <= 1000:
            raise bad_request("`limit` must be 1..1000")
        return json_response(self.venue.recent_trades(self._symbol_of(query), limit), headers=_cache())

    async def _trades_history(self, request: web.Request) -> web.Response:
        query = self._query(request)
        limit, offset = _paging(query)
        return json_response(self.venue.trade_history(self._symbol_of(query), limit, offset), headers=_cache())

    async def _klines(self, request: web.Request) -> web.Response:
        query = self._query(request)
        symbol = self._symbol_of(query)
        if query.get("priceType", "Last") != "Last":
            raise ApiError(400, "NOT_IMPLEMENTED", "Only last-price klines are modelled by the simulator")
        interval = KLINE_SECONDS[query["interval"]]
        if interval < 60:
            raise ApiError(400, "NOT_IMPLEMENTED", "Klines finer than 1m are not modelled by the simulator")
        end = query.get("endTime")
        if end is not None and end < query["startTime"]:
            raise ApiError(400, "INVALID_RANGE", "`endTime` is before `startTime`")
        return json_response(self.venue.klines(symbol, interval, query["startTime"], end), headers=_cache())

    async def _empty_list(self, request: web.Request) -> web.Response:
        # Tokenized securities and their trading sessions: the simulated venue lists none.
        return json_response([])

    async def _time(self, request: web.Request) -> web.Response:
        return web.Response(text=str(self.server_now_ms()), content_type="text/plain")

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text="pong", content_type="text/plain")

    async def _status(self, request: web.Request) -> web.Response:
        return json_response({"status": "Ok", "message": None})

    async def _refused(self, request: web.Request) -> web.Response:
        raise ApiError(400, "NOT_IMPLEMENTED", f"{request.method} {request.path} is not supported: {NOT_PERP.lower()}")

    async def _signed(self, request: web.Request) -> web.Response:
        """Read, authenticate (over the values exactly as received), validate, then act."""
        method, path = request.method, request.path
        if self.on_request is not None:
            self.on_request(method, path, time.monotonic_ns())
        instruction = auth.INSTRUCTIONS[(method, path)]
        received: Any
        if method == "GET":
            received = request.query
        else:
            raw = await request.read()
            received = validate.parse_body(raw) if raw.strip() else {}
        headers = auth.parse_headers(request.headers)
        auth.check_window(headers.timestamp, headers.window, self.server_now_ms(), symmetric=self.symmetric_window)
        batch = (method, path) == ("POST", "/api/v1/orders")
        if batch:
            if not isinstance(received, list) or not all(isinstance(p, dict) for p in received):
                raise validate.invalid_request("Invalid request body: expected an array of order objects")
            message = auth.batch_signing_string(instruction, received, headers.raw_timestamp, headers.raw_window)
        elif method == "GET" or isinstance(received, dict):
            message = auth.signing_string(instruction, received, headers.raw_timestamp, headers.raw_window)
        else:
            raise validate.invalid_request("Invalid request body: expected an object")
        auth.verify(headers.api_key, message, headers.signature)
        account = self.venue.account_for_key(headers.api_key)
        if account is None:
            raise ApiError(401, "UNAUTHORIZED", "API key not found")
        params: Any
        if batch:
            params = validate.validate_batch(received)
        else:
            schema = validate.SCHEMAS.get((method, path))
            if schema is None:
                params = {}
            elif method == "GET":
                params = validate.validate_query(schema, received)
            else:
                params = validate.validate_body(schema, received)
        result = self._dispatch(method, path, account, params)
        if method == "POST" and self.faults.accept_timeout("backpack"):
            # The order is in the book; the client never hears so (until its own timeout fires).
            await asyncio.sleep(self.faults.response_timeout_s)
        if isinstance(result, Page):
            return json_response(result.items, headers={**result.headers(), "Cache-Control": PRIVATE_CACHE})
        if result is None:
            return web.Response(status=200)
        return json_response(result, headers={"Cache-Control": PRIVATE_CACHE})

    def _dispatch(self, method: str, path: str, account: int, params: Any) -> Any:
        handler = getattr(self.venue, SIGNED_ROUTES[(method, path)])
        if (method, path) in (
            ("GET", "/api/v1/capital"),
            ("GET", "/api/v1/capital/collateral"),
            ("GET", "/api/v1/account"),
        ):
            return handler(account)
        return handler(account, params)

    # ------------------------------------------------------------------ WebSocket

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20)
        if not ws.can_prepare(request).ok:
            return web.Response(status=404, text="not found")
        await ws.prepare(request)
        session = Session(ws, self._next_session)
        self._next_session += 1
        self.sessions[session.id] = session
        writer = self._spawn(self._writer(session))
        pinger = self._spawn(self._pinger(session))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_client_frame(session, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    session.send(ws_error(4002, "Parse error"))
                elif msg.type == WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type == WSMsgType.PONG:
                    session.last_pong = time.monotonic()
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            self.sessions.pop(session.id, None)
            session.queue.put_nowait(None)
            pinger.cancel()
            writer.cancel()
            self.faults.forget(session.conn_id)
            if session.account is not None and not any(s.account == session.account for s in self.sessions.values()):
                self.venue.on_disconnect(session.account, self.faults.cancel_on_disconnect)
        return ws

    async def _pinger(self, session: Session) -> None:
        while not session.ws.closed:
            await asyncio.sleep(self.ping_interval_s)
            if time.monotonic() - session.last_pong > self.pong_timeout_s:
                await session.ws.close(code=1008, message=b"pong timeout")
                return
            with contextlib.suppress(ConnectionError, RuntimeError):
                await session.ws.ping()

    async def _writer(self, session: Session) -> None:
        ws = session.ws
        while True:
            payload = await session.queue.get()
            if payload is None or ws.closed:
                return
            if not await send_with_faults(session, self.faults, payload):
                return

    def _on_client_frame(self, session: Session, data: str) -> None:
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError:
            session.send(ws_error(4002, "Parse error"))
            return
        if not isinstance(frame, dict):
            session.send(ws_error(4002, "Parse error"))
            return
        method = frame.get("method")
        params = frame.get("params")
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            session.send(ws_error(4002, "Parse error"))
            return
        parsed: list[StreamName] = []
        for name in params:
            stream = parse_stream(name)
            if isinstance(stream, int):
                session.send(ws_error(stream, "Invalid stream" if stream == 4006 else "Invalid depth window"))
                return
            parsed.append(stream)
        if method == "UNSUBSCRIBE":
            for stream in parsed:
                session.streams.pop(stream.name, None)
                session.depth_buffers.pop(stream.name, None)
                session.candles.pop(stream.name, None)
            return
        if any(s.kind in PRIVATE_STREAMS for s in parsed):
            account = self._ws_auth(frame.get("signature"))
            if account is None:
                session.send(ws_error(WS_AUTH_ERROR, "Invalid signature"))
                return
            session.account = account
        for stream in parsed:
            session.streams[stream.name] = stream
            if stream.kind == "account.positionUpdate" and session.account is not None:
                for position in self.venue.position_snapshot(session.account, stream.symbol):
                    session.send(orjson.dumps({"stream": stream.name, "data": position}))

    def _ws_auth(self, signature: Any) -> int | None:
        if not isinstance(signature, list) or len(signature) != 4:
            return None
        api_key, sig_b64, raw_ts, raw_window = (str(x) for x in signature)
        try:
            headers = auth.parse_headers(
                {"X-API-Key": api_key, "X-Signature": sig_b64, "X-Timestamp": raw_ts, "X-Window": raw_window}
            )
            auth.check_window(headers.timestamp, headers.window, self.server_now_ms(), symmetric=self.symmetric_window)
            auth.verify(api_key, auth.signing_string("subscribe", {}, raw_ts, raw_window), headers.signature)
        except auth.AuthError:
            return None
        return self.venue.account_for_key(api_key)

    # ------------------------------------------------------------------ fan-out

    def _on_stream_message(self, msg: StreamMessage) -> None:
        """Route one venue message (public or private) to the sessions subscribed to it."""
        for session in list(self.sessions.values()):
            if msg.account is not None:
                if session.account != msg.account:
                    continue
                for stream in session.streams.values():
                    if stream.kind == msg.kind and stream.symbol in (None, msg.symbol):
                        self._send_private(session, stream.name, msg.data)
                continue
            for stream in session.streams.values():
                if stream.kind == "kline" and msg.kind == "trade" and stream.symbol == msg.symbol:
                    self._kline_trade(session, stream, msg.data)
                    continue
                if stream.kind != msg.kind or stream.symbol != msg.symbol:
                    continue
                if stream.window_s is not None:
                    self._buffer_depth(session, stream, msg.data)
                elif msg.kind == "depth":
                    self._send_depth(session, stream.name, msg.data)
                else:
                    session.send(orjson.dumps({"stream": stream.name, "data": msg.data}))

    def _send_depth(self, session: Session, name: str, data: dict[str, Any]) -> None:
        action = self.faults.sequence_fault(session.conn_id)
        if action == "skip":
            return
        frame = orjson.dumps({"stream": name, "data": data})
        session.send(frame)
        if action == "duplicate":
            session.send(frame)

    def _send_private(self, session: Session, name: str, data: dict[str, Any]) -> None:
        frame = orjson.dumps({"stream": name, "data": data})
        fault = self.faults.private_fault(session.conn_id)
        if fault is not None and fault[0] == "delay":
            # Delivered later, so later events overtake it.
            asyncio.get_running_loop().call_later(fault[1], session.send, frame)
            return
        held, session.held = session.held, None
        if fault is not None:  # reorder: this one goes out after the next private event
            session.held = frame
            asyncio.get_running_loop().call_later(1.0, self._release_held, session, frame)
        else:
            session.send(frame)
        if held is not None:
            session.send(held)

    def _kline_trade(self, session: Session, stream: StreamName, trade: dict[str, Any]) -> None:
        """Fold one trade into the subscription's candle: the previous candle goes out closed (`X` true)
        when a trade opens the next one, then the current candle (`X` false)."""
        interval = stream.interval_s or 60
        ts_s = trade["T"] // 1_000_000
        start = ts_s - ts_s % interval
        candle = session.candles.get(stream.name)
        symbol = stream.symbol or ""
        if candle is not None and candle.start_s != start:
            frame = candle.frame(symbol, interval, trade["E"], True)
            session.send(orjson.dumps({"stream": stream.name, "data": frame}))
            candle = None
        if candle is None:
            candle = session.candles[stream.name] = Candle(start, trade["p"])
        candle.add(trade["p"], trade["q"])
        frame = candle.frame(symbol, interval, trade["E"], False)
        session.send(orjson.dumps({"stream": stream.name, "data": frame}))

    def _send_open_interest(self) -> None:
        """`openInterest.<symbol>` to its subscribers (every `open_interest_interval_s`)."""
        now_us = time.time_ns() // 1_000
        cache: dict[str, str] = {}
        for session in list(self.sessions.values()):
            for stream in session.streams.values():
                if stream.kind != "openInterest" or self.venue.spec_for(stream.symbol or "") is None:
                    continue
                symbol = stream.symbol or ""
                if symbol not in cache:
                    cache[symbol] = self.venue.open_interest(symbol)[0]["openInterest"]
                data = {"e": "openInterest", "E": now_us, "s": symbol, "o": cache[symbol]}
                session.send(orjson.dumps({"stream": stream.name, "data": data}))

    def _buffer_depth(self, session: Session, stream: StreamName, data: dict[str, Any]) -> None:
        buf = session.depth_buffers.get(stream.name)
        if buf is None:
            buf = DepthBuffer(data["U"], time.monotonic() + (stream.window_s or 0.0))
            session.depth_buffers[stream.name] = buf
        buf.add(data)

    async def _depth_flush_loop(self) -> None:
        """Send the aggregated `depth.<window>.<symbol>` streams: one frame per window, U < u."""
        next_ticker = time.monotonic() + 1.0
        next_open_interest = time.monotonic() + self.open_interest_interval_s
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            if now >= next_ticker:
                next_ticker = now + 1.0
                self._send_tickers()
            if now >= next_open_interest:
                next_open_interest = now + self.open_interest_interval_s
                self._send_open_interest()
            for session in list(self.sessions.values()):
                for name, buf in list(session.depth_buffers.items()):
                    if buf.due > now:
                        continue
                    del session.depth_buffers[name]
                    stream = session.streams.get(name)
                    if stream is not None:
                        session.send(orjson.dumps({"stream": name, "data": buf.frame(stream.symbol or "")}))

    def _send_tickers(self) -> None:
        """`ticker.<symbol>` every second to its subscribers (nothing before the market's first trade)."""
        cache: dict[str, dict[str, Any] | None] = {}
        for session in list(self.sessions.values()):
            for stream in session.streams.values():
                if stream.kind != "ticker" or stream.symbol is None or self.venue.spec_for(stream.symbol) is None:
                    continue
                if stream.symbol not in cache:
                    cache[stream.symbol] = self.venue.ticker_event(stream.symbol)
                data = cache[stream.symbol]
                if data is not None:
                    session.send(orjson.dumps({"stream": stream.name, "data": data}))

    @staticmethod
    def _release_held(session: Session, frame: bytes) -> None:
        """A reordered frame with no successor within 1 s goes out anyway (never lost)."""
        if session.held is frame:
            session.held = None
            session.send(frame)

    # ------------------------------------------------------------------ on-demand faults (tests, runner)

    def drop_sockets(self) -> int:
        """Cut every socket abruptly (no close frame). Returns how many were open."""
        sessions = list(self.sessions.values())
        for session in sessions:
            abort(session.ws)
        return len(sessions)

    def stall_sockets(self, seconds: float) -> None:
        """Hold every socket's outgoing frames for `seconds` (frames queue up, then burst)."""
        until = time.monotonic() + seconds
        for session in self.sessions.values():
            session.stalled_until = until



def _cache() -> dict[str, str]:
    return {"Cache-Control": PUBLIC_CACHE}


def _paging(query: dict[str, Any]) -> tuple[int, int]:
    limit = query.get("limit", 100)
    offset = query.get("offset", 0)
    if not 1 <= limit <= 1000:
        raise bad_request("`limit` must be 1..1000")
    return limit, offset
