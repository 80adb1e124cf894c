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

from xtb.sim.backpack import auth
from xtb.sim.backpack.errors import ApiError, bad_request, json_response
from xtb.sim.backpack.venue import BackpackVenue, StreamMessage
from xtb.sim.faults import FaultKind
from xtb.sim.loopback import LoopbackServer
from xtb.sim.wire_faults import WireFaults

log = logging.getLogger(__name__)

DEPTH_WINDOWS = {"200ms": 0.2, "600ms": 0.6, "1000ms": 1.0}
PUBLIC_STREAMS = {"depth", "bookTicker", "trade", "markPrice", "ticker"}
PRIVATE_STREAMS = {"account.orderUpdate", "account.positionUpdate"}
# The error for a bad private-stream signature is UNCONFIRMED; this code is the simulator's choice.
WS_AUTH_ERROR = 4005


def ws_error(code: int, message: str) -> bytes:
    return orjson.dumps({"id": None, "error": {"code": code, "message": message}})


class StreamName:
    """A parsed stream name: kind (`depth`, `account.orderUpdate`, ...), symbol or None, depth window."""

    __slots__ = ("kind", "name", "symbol", "window_s")

    def __init__(self, name: str, kind: str, symbol: str | None, window_s: float | None = None) -> None:
        self.name = name
        self.kind = kind
        self.symbol = symbol
        self.window_s = window_s


def parse_stream(name: str) -> StreamName | int:
    """Parse a stream name; returns an error code (4006 invalid stream, 4008 bad depth window)."""
    if not isinstance(name, str) or not name:
        return 4006
    for private in PRIVATE_STREAMS:
        if name == private:
            return StreamName(name, private, None)
        if name.startswith(private + "."):
            return StreamName(name, private, name[len(private) + 1 :])
    parts = name.split(".")
    kind = parts[0]
    if kind not in PUBLIC_STREAMS or len(parts) < 2:
        return 4006
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

    def send(self, payload: bytes) -> None:
        self.queue.put_nowait(payload)


class BackpackServer(LoopbackServer):
    ws_path = '/'

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
        r.add_get("/api/v1/markets", self._markets)
        r.add_get("/api/v1/market", self._market)
        r.add_get("/api/v1/depth", self._depth)
        r.add_get("/api/v1/ticker", self._ticker)
        r.add_get("/api/v1/tickers", self._tickers)
        r.add_get("/api/v1/markPrices", self._mark_prices)
        r.add_get("/api/v1/time", self._time)
        r.add_get("/api/v1/status", self._status)
        for method, path in auth.INSTRUCTIONS:
            r.add_route(method, path, self._signed)
        return app

    @web.middleware
    async def _error_middleware(
        self, request: web.Request, handler: Callable[..., Any]
    ) -> web.StreamResponse:
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

    def _symbol(self, request: web.Request) -> str:
        symbol = request.query.get("symbol")
        if not symbol:
            raise bad_request("Missing parameter `symbol`")
        if self.venue.spec_for(symbol) is None:
            raise bad_request("Invalid market symbol")
        return symbol

    async def _markets(self, request: web.Request) -> web.Response:
        return json_response(self.venue.markets())

    async def _market(self, request: web.Request) -> web.Response:
        return json_response(self.venue.market(self._symbol(request)))

    async def _depth(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        raw_limit = request.query.get("limit", "1000")
        if raw_limit not in {"5", "10", "20", "50", "100", "500", "1000"}:
            return web.Response(
                status=400,
                text=(
                    'failed to parse parameter `limit`: failed to parse "DepthLimit": '
                    "Expect a valid enumeration value."
                ),
            )
        return json_response(self.venue.depth(symbol, int(raw_limit)))

    async def _ticker(self, request: web.Request) -> web.Response:
        return json_response(self.venue.ticker(self._symbol(request)))

    async def _tickers(self, request: web.Request) -> web.Response:
        return json_response([self.venue.ticker(s) for s in self.venue.symbols()])

    async def _mark_prices(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol")
        symbols = [self._symbol(request)] if symbol else self.venue.symbols()
        return json_response([self.venue.mark_price(s) for s in symbols])

    async def _time(self, request: web.Request) -> web.Response:
        return web.Response(text=str(self.server_now_ms()), content_type="text/plain")

    async def _status(self, request: web.Request) -> web.Response:
        return json_response({"status": "Ok", "message": None})

    async def _signed(self, request: web.Request) -> web.Response:
        method = request.method
        if self.on_request is not None:
            self.on_request(method, request.path, time.monotonic_ns())
        instruction = auth.INSTRUCTIONS[(method, request.path)]
        params: dict[str, Any] | list[Any]
        if method == "GET":
            params = dict(request.query)
        else:
            raw = await request.read()
            if not raw.strip():
                params = {}
            else:
                try:
                    params = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    return web.Response(status=400, text="failed to parse request body: invalid JSON")
        headers = auth.parse_headers(request.headers)
        auth.check_window(
            headers.timestamp, headers.window, self.server_now_ms(), symmetric=self.symmetric_window
        )
        if isinstance(params, list):
            if not (method == "POST" and request.path == "/api/v1/orders"):
                return web.Response(status=400, text="failed to parse request body: expected an object")
            if not all(isinstance(p, dict) for p in params):
                return web.Response(
                    status=400, text="failed to parse request body: expected an array of orders"
                )
            message = auth.batch_signing_string(
                instruction, params, headers.raw_timestamp, headers.raw_window
            )
        elif isinstance(params, dict):
            message = auth.signing_string(instruction, params, headers.raw_timestamp, headers.raw_window)
        else:
            return web.Response(status=400, text="failed to parse request body: expected an object")
        auth.verify(headers.api_key, message, headers.signature)
        account = self.venue.account_for_key(headers.api_key)
        if account is None:
            raise ApiError(401, "UNAUTHORIZED", "API key not found")
        result = self._dispatch(method, request.path, account, params)
        if method == "POST" and self.faults.accept_timeout("backpack"):
            # The order is in the book; the client never hears so (until its own timeout fires).
            await asyncio.sleep(self.faults.response_timeout_s)
        return json_response(result)

    def _dispatch(self, method: str, path: str, account: int, params: Any) -> Any:
        v = self.venue
        key = (method, path)
        if key == ("POST", "/api/v1/order"):
            return v.execute_order(account, params)
        if key == ("POST", "/api/v1/orders"):
            return v.execute_batch(account, params)
        if key == ("GET", "/api/v1/order"):
            return v.query_order(account, params)
        if key == ("DELETE", "/api/v1/order"):
            return v.cancel_order(account, params)
        if key == ("GET", "/api/v1/orders"):
            return v.open_orders(account, params)
        if key == ("DELETE", "/api/v1/orders"):
            return v.cancel_all(account, params)
        if key == ("GET", "/api/v1/position"):
            return v.positions(account, params)
        if key == ("GET", "/api/v1/capital"):
            return v.balances(account)
        if key == ("GET", "/api/v1/capital/collateral"):
            return v.collateral(account)
        if key == ("GET", "/api/v1/account"):
            return v.account_settings(account)
        if key == ("GET", "/wapi/v1/history/orders"):
            return v.order_history(account, params)
        if key == ("GET", "/wapi/v1/history/fills"):
            return v.fill_history(account, params)
        raise ApiError(400, "NOT_IMPLEMENTED", f"{method} {path} is not modelled by the simulator")

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
            if session.account is not None and not any(
                s.account == session.account for s in self.sessions.values()
            ):
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
            fault = self.faults.socket_fault(session.conn_id)
            if fault is not None and fault[0] == "drop":
                _abort(ws)
                return
            if fault is not None:
                session.stalled_until = max(session.stalled_until, time.monotonic() + fault[1])
            stall = session.stalled_until - time.monotonic()
            if stall > 0:
                await asyncio.sleep(stall)
            try:
                await ws.send_str(payload.decode())
            except (ConnectionError, RuntimeError):
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
            auth.check_window(
                headers.timestamp, headers.window, self.server_now_ms(), symmetric=self.symmetric_window
            )
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

    def _buffer_depth(self, session: Session, stream: StreamName, data: dict[str, Any]) -> None:
        buf = session.depth_buffers.get(stream.name)
        if buf is None:
            buf = DepthBuffer(data["U"], time.monotonic() + (stream.window_s or 0.0))
            session.depth_buffers[stream.name] = buf
        buf.add(data)

    async def _depth_flush_loop(self) -> None:
        """Send the aggregated `depth.<window>.<symbol>` streams: one frame per window, U < u."""
        next_ticker = time.monotonic() + 1.0
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            if now >= next_ticker:
                next_ticker = now + 1.0
                self._send_tickers()
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
                if (
                    stream.kind != "ticker"
                    or stream.symbol is None
                    or self.venue.spec_for(stream.symbol) is None
                ):
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
            _abort(session.ws)
        return len(sessions)

    def stall_sockets(self, seconds: float) -> None:
        """Hold every socket's outgoing frames for `seconds` (frames queue up, then burst)."""
        until = time.monotonic() + seconds
        for session in self.sessions.values():
            session.stalled_until = until


def _abort(ws: web.WebSocketResponse) -> None:
    """Close the TCP connection under a WebSocket without a close frame (what a network drop looks like)."""
    req = ws._req
    if req is not None and req.transport is not None:
        req.transport.close()
