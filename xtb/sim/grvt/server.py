"""GRVT protocol front-end on 127.0.0.1. One port stands in for GRVT's three hosts, each under a path
prefix (the host's base URL):

- edge `/edge`: `POST /edge/auth/api_key/login` -> `Set-Cookie: gravity=...; expires=...` + `X-Grvt-Account-Id`
- market data `/market-data`: `POST /market-data/full/v1/<method>` (public), WS `/market-data/ws/full`
  (JSON-RPC subscribe) and `/market-data/ws` (the legacy subscribe format the SDK still defaults to)
- trades `/trades`: `POST /trades/full/v1/<method>` (cookie + account id), WS `/trades/ws/full` and
  `/trades/ws` (cookie + account id on the upgrade; private streams and `v1/<method>` RPC calls)

REST answers `{"result": ...}` or GRVT's error object with the HTTP status of the code. Feeds go out as
`{"stream", "selector", "sequence_number", "feed", "prev_sequence_number"}`; every subscription numbers its
messages 0, 1, 2, ... (a snapshot stream's first message, its snapshot, is 0). Venue state lives in
`GrvtVenue`, sessions and signatures in `auth.Auth`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from xtb.sim.faults import FaultKind
from xtb.sim.grvt.auth import Auth, GrvtError, Session, err
from xtb.sim.grvt.venue import GrvtVenue, StreamMessage
from xtb.sim.loopback import LoopbackServer
from xtb.sim.types import BookDelta
from xtb.sim.wire_faults import WireFaults

log = logging.getLogger(__name__)

NAME = "grvt"
MARKET_STREAMS = {"book.s", "book.d", "mini.s", "mini.d", "ticker.s", "ticker.d", "trade"}
PRIVATE_STREAMS = {"order", "state", "fill", "position"}
BOOK_RATES = {"book.s": (500, 1000), "book.d": (50, 100, 500, 1000)}
TICKER_RATES = (100, 200, 500, 1000, 5000)
BOOK_DEPTHS = (10, 50, 100, 500)
FLUSH_S = 0.025  # how often periodic feeds are checked for being due
#: `/full/v1/<method>` -> handler, per host (tools/sim_coverage.py lists them)
MARKET_METHODS = {
    "instrument": "_instrument", "instruments": "_instruments", "all_instruments": "_instruments",
    "currency": "_currency", "book": "_book", "mini": "_mini", "ticker": "_ticker", "trade": "_trades",
    "trade_history": "_trade_history", "funding": "_funding", "kline": "_kline",
}  # fmt: skip
TRADE_METHODS = {
    "create_order": "_create_order", "cancel_order": "_cancel_order", "cancel_all_orders": "_cancel_all",
    "order": "_order", "open_orders": "_open_orders", "order_history": "_order_history",
    "fill_history": "_fill_history", "positions": "_positions", "account_summary": "_account_summary",
    "funding_account_summary": "_funding_account_summary", "aggregated_account_summary": "_aggregated_summary",
    "account_history": "_account_history", "funding_payment_history": "_funding_payments",
    "cancel_on_disconnect": "_cancel_on_disconnect", "get_all_initial_leverage": "_get_leverage",
    "set_initial_leverage": "_set_leverage",
}  # fmt: skip
#: documented but not modelled: answered 404 with code 1004 (REST) or refused with 1003 (streams)
NOT_MODELLED_METHODS = ("transfer", "transfer_history", "withdrawal", "withdrawal_history", "deposit_history",
                        "set_derisk_mm_ratio", "vault_invest", "vault_redeem")  # fmt: skip
NOT_MODELLED_STREAMS = ("v1.candle", "v1.cancel", "v1.deposit", "v1.transfer", "v1.withdrawal")


@dataclass
class Subscription:
    stream: str  # without version, e.g. "book.d"
    selector: str  # as the client sent it (feeds echo it: the SDK routes callbacks by it)
    instrument: str  # "" for private all-instrument selectors
    rate_ms: int = 0
    depth: int | None = None
    sub_account_id: int | None = None
    kind_filter: tuple[str, str, str] | None = None  # private <sa>-<kind>-<base>-<quote>
    seq: int = 0
    due: float = 0.0
    pending_bids: dict[str, str] = field(default_factory=dict)
    pending_asks: dict[str, str] = field(default_factory=dict)
    last: bytes | None = None  # ticker .d: the last feed sent, to send only changes
    versioned: str = ""


class WsSession:
    def __init__(self, ws: web.WebSocketResponse, host: str, legacy: bool, conn_id: str,
                 session: Session | None) -> None:  # fmt: skip
        self.ws = ws
        self.host = host  # "market-data" or "trades"
        self.legacy = legacy
        self.conn_id = conn_id
        self.auth = session
        self.subs: dict[tuple[str, str], Subscription] = {}  # (stream, primary selector) -> subscription
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.stalled_until = 0.0

    def send(self, payload: bytes) -> None:
        self.queue.put_nowait(payload)


Handler = Callable[[dict[str, Any], Session | None], Awaitable[Any]]


class GrvtServer(LoopbackServer):
    ws_path = "/market-data/ws/full"

    def __init__(
        self,
        venue: GrvtVenue,
        auth: Auth,
        faults: WireFaults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        speed_bump_ms: float = 25.0,
        chain_id: int = 326,
    ) -> None:
        super().__init__(host, port)
        self.venue = venue
        self.auth = auth
        self.faults = faults or WireFaults()
        self.speed_bump_s = speed_bump_ms / 1000.0
        self.chain_id = chain_id
        self._conn_seq = itertools.count(1)
        self._sessions: set[WsSession] = set()
        self._cod: dict[int, tuple[float, asyncio.TimerHandle | None]] = {}  # sub -> (countdown s, timer)
        self.market_methods: dict[str, Handler] = {m: getattr(self, h) for m, h in MARKET_METHODS.items()}
        self.trade_methods: dict[str, Handler] = {m: getattr(self, h) for m, h in TRADE_METHODS.items()}
        self.requests: dict[str, int] = {}  # path -> count (tests)
        self.app = self._build_app()
        venue.add_stream_listener(self._on_stream)

    # ------------------------------------------------------------------ lifecycle and URLs

    def _background(self) -> Iterable[Coroutine[Any, Any, Any]]:
        return (self._flush_loop(),)

    def _open_sockets(self) -> Iterable[Any]:
        return [s.ws for s in self._sessions]

    @property
    def extra_urls(self) -> dict[str, str]:
        """`rest` is the root (every REST method and the login; for single-base-URL clients), `edge`,
        `trades`, `market_data` the three hosts; `trading_ws` and `market_ws` the JSON-RPC sockets
        (`*_legacy`: the legacy-subscribe ones); `chain_id` the EIP-712 chain id orders must carry."""
        base = f"http://{self.host}:{self.port}"
        ws = f"ws://{self.host}:{self.port}"
        return {"rest": base, "ws": f"{ws}/market-data/ws/full",
                "edge": f"{base}/edge", "trades": f"{base}/trades", "market_data": f"{base}/market-data",
                "trading_ws": f"{ws}/trades/ws/full", "market_ws": f"{ws}/market-data/ws/full",
                "trading_ws_legacy": f"{ws}/trades/ws", "market_ws_legacy": f"{ws}/market-data/ws",
                "chain_id": str(self.chain_id)}  # fmt: skip

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_post("/edge/auth/api_key/login", self._login)
        r.add_post("/market-data/full/v1/{method}", self._rest("market-data"))
        r.add_post("/trades/full/v1/{method}", self._rest("trades"))
        # the root serves all three hosts' REST (one base URL for clients that take just one)
        r.add_post("/auth/api_key/login", self._login)
        r.add_post("/full/v1/{method}", self._rest("root"))
        for host in ("market-data", "trades"):
            r.add_get(f"/{host}/ws/full", self._ws(host, legacy=False))
            r.add_get(f"/{host}/ws", self._ws(host, legacy=True))
        return app

    @staticmethod
    def now_ns() -> int:
        # wall time: signature expirations and cookie expiry are wall-clock nanoseconds on the client side
        return time.time_ns()

    # ------------------------------------------------------------------ REST

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        self.requests[request.path] = self.requests.get(request.path, 0) + 1
        if request.method == "POST":
            fault = self.faults.http_fault(NAME)
            if fault is not None:
                if fault.kind is FaultKind.HTTP_429:
                    exc = err(1006, "You have exceeded the allocated rate limit for your tier")
                else:
                    exc = GrvtError(1002, fault.status, "Internal Server Error")
                return _error(exc, {"Retry-After": str(max(1, round(fault.retry_after_s)))})
        try:
            resp: web.StreamResponse = await handler(request)
        except GrvtError as exc:
            return _error(exc)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("grvt sim: %s %s failed", request.method, request.path)
            return _error(GrvtError(1002, 500, "Internal Server Error"))
        return resp

    async def _body(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if not raw:
            return {}
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise err(1003, "Request could not be processed due to malformed syntax: body is not JSON") from None
        if not isinstance(body, dict):
            raise err(1003, "Request could not be processed due to malformed syntax: body must be an object")
        return body

    async def _login(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        api_key = body.get("api_key")
        if not isinstance(api_key, str) or not api_key:
            raise err(1003, "Request could not be processed due to malformed syntax: api_key")
        s = self.auth.login(api_key, self.now_ns())
        subs = sorted(s.key.sub_account_ids)
        resp = web.json_response({"status": "success", "sub_account_id": str(subs[0]) if subs else "",
                                  "funding_account_address": s.key.account_id})  # fmt: skip
        expires = email.utils.formatdate(s.expires_ns / 1e9, usegmt=True)
        resp.set_cookie("gravity", s.token, expires=expires, path="/", httponly=True)
        resp.headers["X-Grvt-Account-Id"] = s.key.account_id
        return resp

    def _session_of(self, request: web.Request) -> Session:
        return self.auth.session(request.cookies.get("gravity"), request.headers.get("X-Grvt-Account-Id"),
                                 self.now_ns())  # fmt: skip

    def _rest(self, host: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        methods = {"market-data": self.market_methods, "trades": self.trade_methods,
                   "root": {**self.market_methods, **self.trade_methods}}[host]  # fmt: skip

        async def handler(request: web.Request) -> web.StreamResponse:
            fn = methods.get(request.match_info["method"])
            if fn is None:
                raise GrvtError(1004, 404, f"Data Not Found: no method {request.match_info['method']!r} on {host}")
            private = request.match_info["method"] in self.trade_methods
            session = self._session_of(request) if private else None
            body = await self._body(request)
            result = await fn(body, session)
            reply = web.Response(body=orjson.dumps(result), content_type="application/json")
            if fn == self._create_order and self.faults.accept_timeout(NAME):
                await asyncio.sleep(self.faults.response_timeout_s)  # the order is in; the answer comes late
            return reply

        return handler

    # --------------------------------------------------------------- market-data methods

    async def _instrument(self, p: dict[str, Any], _: Session | None) -> Any:
        return {"result": self.venue.instrument(self.venue.spec(p.get("instrument")).symbol)}

    async def _instruments(self, p: dict[str, Any], _: Session | None) -> Any:
        return {"result": self.venue.instruments(p)}

    async def _currency(self, p: dict[str, Any], _: Session | None) -> Any:
        names = ["USDT", *sorted({s.split("_")[0] for s in self.venue.symbols()})]
        return {"result": [{"id": i + 1, "symbol": n, "balance_decimals": 6, "quantity_multiplier": "1000000000"}
                           for i, n in enumerate(names)]}  # fmt: skip

    async def _book(self, p: dict[str, Any], _: Session | None) -> Any:
        return {"result": self.venue.book(p, self.now_ns())}

    async def _mini(self, p: dict[str, Any], _: Session | None) -> Any:
        return {"result": self.venue.mini_ticker(self.venue.spec(p.get("instrument")).symbol, self.now_ns())}

    async def _ticker(self, p: dict[str, Any], _: Session | None) -> Any:
        return {"result": self.venue.ticker(self.venue.spec(p.get("instrument")).symbol, self.now_ns())}

    async def _trades(self, p: dict[str, Any], _: Session | None) -> Any:
        return {"result": self.venue.recent_trades(p)}

    async def _trade_history(self, p: dict[str, Any], _: Session | None) -> Any:
        return self.venue.trade_history(p)

    async def _funding(self, p: dict[str, Any], _: Session | None) -> Any:
        return self.venue.funding_rates(p, self.now_ns())

    async def _kline(self, p: dict[str, Any], _: Session | None) -> Any:
        self.venue.spec(p.get("instrument"))
        return {"result": [], "next": ""}  # the simulator keeps no candles

    # --------------------------------------------------------------- trading methods

    @staticmethod
    def _own(p: dict[str, Any], s: Session | None) -> None:
        """The body's sub-account must belong to the logged-in key."""
        assert s is not None
        try:
            sub = int(str(p.get("sub_account_id")))
        except ValueError:
            raise err(1003, "Request could not be processed due to malformed syntax: sub_account_id") from None
        if sub not in s.key.sub_account_ids:
            raise err(1001, "You are not authorized to access this functionality")

    async def _create_order(self, p: dict[str, Any], s: Session | None) -> Any:
        assert s is not None
        order = p.get("order")
        now = self.now_ns()
        verified = self.auth.verify_order(s, order, self.venue.auth_instruments, now)
        assert isinstance(order, dict)
        if verified is None:  # the same payload and nonce again: ignored as a duplicate
            return {"result": self.venue.duplicate_ack(order, now)}
        if not verified.post_only and self.speed_bump_s > 0:
            await asyncio.sleep(self.speed_bump_s)  # GRVT delays orders that may take liquidity
        return {"result": self.venue.create(order, verified, now)}

    async def _cancel_order(self, p: dict[str, Any], s: Session | None) -> Any:
        self._own(p, s)
        return {"result": self.venue.cancel(p, self.now_ns())}

    async def _cancel_all(self, p: dict[str, Any], s: Session | None) -> Any:
        self._own(p, s)
        return {"result": self.venue.cancel_all(p)}

    async def _order(self, p: dict[str, Any], s: Session | None) -> Any:
        self._own(p, s)
        return {"result": self.venue.get_order(p)}

    async def _open_orders(self, p: dict[str, Any], s: Session | None) -> Any:
        self._own(p, s)
        return {"result": self.venue.open_orders(p)}

    async def _order_history(self, p: dict[str, Any], s: Session | None) -> Any:
        self._own(p, s)
        return self.venue.order_history(p)

    async def _fill_history(self, p: dict[str, Any], s: Session | None) -> Any:
        self._own(p, s)
        return self.venue.fill_history(p)

    async def _positions(self, p: dict[str, Any], s: Session | None) -> Any:
        self._own(p, s)
        return {"result": self.venue.positions(p, self.now_ns())}

    async def _account_summary(self, p: dict[str, Any], s: Session | None) -> Any:
        self._own(p, s)
        return {"result": self.venue.account_summary(p, self.now_ns())}

    async def _funding_account_summary(self, p: dict[str, Any], s: Session | None) -> Any:
        assert s is not None
        return {"result": self.venue.funding_account_summary(s.key.account_id, s.key.sub_account_ids)}

    async def _aggregated_summary(self, p: dict[str, Any], s: Session | None) -> Any:
        assert s is not None
        return {"result": self.venue.aggregated_summary(s.key.account_id, s.key.sub_account_ids)}

    async def _account_history(self, p: dict[str, Any], s: Session | None) -> Any:
        self._own(p, s)
        return {"result": [self.venue.account_summary(p, self.now_ns())], "next": ""}

    async def _funding_payments(self, p: dict[str, Any], s: Session | None) -> Any:
        self._own(p, s)
        return self.venue.funding_payments(p)

    async def _get_leverage(self, p: dict[str, Any], s: Session | None) -> Any:
        self._own(p, s)
        return {"results": self.venue.leverages(p)}

    async def _set_leverage(self, p: dict[str, Any], s: Session | None) -> Any:
        self._own(p, s)
        return {"success": self.venue.set_leverage(p)}

    async def _cancel_on_disconnect(self, p: dict[str, Any], s: Session | None) -> Any:
        """The dead-man switch: unless called again within `countdown_time` ms, every open order of the
        sub-account is cancelled (CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED). 0 turns it off."""
        self._own(p, s)
        sub = int(str(p["sub_account_id"]))
        try:
            countdown = int(str(p.get("countdown_time") or 0))
        except ValueError:
            raise err(1003, "Request could not be processed due to malformed syntax: countdown_time") from None
        if countdown and not 1000 <= countdown <= 300_000:
            raise err(1003, "Request could not be processed: countdown_time must be 0 or 1000..300000 ms")
        old = self._cod.pop(sub, None)
        if old is not None and old[1] is not None:
            old[1].cancel()
        if countdown:
            timer = asyncio.get_running_loop().call_later(countdown / 1000, self._dead_man, sub)
            self._cod[sub] = (countdown / 1000, timer)
        return {"result": {"ack": True}}

    def _dead_man(self, sub: int) -> None:
        self._cod.pop(sub, None)
        self.venue.cancel_on_disconnect(sub)

    # ------------------------------------------------------------------ WebSocket

    def _ws(self, host: str, legacy: bool) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            session = None
            if host == "trades":
                try:
                    session = self._session_of(request)
                except GrvtError as exc:
                    return _error(exc)
            ws = web.WebSocketResponse(heartbeat=None, autoping=True)
            await ws.prepare(request)
            conn = WsSession(ws, host, legacy, f"{NAME}-ws-{host}-{next(self._conn_seq)}", session)
            return await self._serve(conn)

        return handler

    async def _serve(self, conn: WsSession) -> web.StreamResponse:
        self._sessions.add(conn)
        writer = self._spawn(self._writer(conn))
        try:
            async for msg in conn.ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_client_frame(conn, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self._sessions.discard(conn)
            self.faults.forget(conn.conn_id)
            conn.queue.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(BaseException):
                await writer
        return conn.ws

    async def _writer(self, conn: WsSession) -> None:
        while True:
            frame = await conn.queue.get()
            if frame is None:
                return
            fault = self.faults.socket_fault(conn.conn_id)
            if fault is not None and fault[0] == "drop":
                _abort(conn.ws)
                return
            if fault is not None:
                conn.stalled_until = max(conn.stalled_until, time.monotonic() + fault[1])
            stall = conn.stalled_until - time.monotonic()
            if stall > 0:
                await asyncio.sleep(stall)
            try:
                await conn.ws.send_str(frame.decode())
            except (ConnectionError, RuntimeError):
                return

    async def _on_client_frame(self, conn: WsSession, data: str) -> None:
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            conn.send(self._ws_error(conn, None, err(1003, "Request could not be processed: frame is not JSON")))
            return
        if not isinstance(msg, dict):
            conn.send(self._ws_error(conn, None, err(1003, "Request could not be processed: frame is not an object")))
            return
        rid = msg.get("request_id") if conn.legacy else msg.get("id")
        method = msg.get("method")
        try:
            if method in ("subscribe", "unsubscribe"):
                if conn.legacy:
                    stream, selectors = msg.get("stream"), msg.get("feed")
                else:
                    params = msg.get("params") or {}
                    stream, selectors = params.get("stream"), params.get("selectors")
                if not isinstance(stream, str) or not isinstance(selectors, list) or \
                        not all(isinstance(x, str) for x in selectors):  # fmt: skip
                    raise err(1003, "Request could not be processed: params need stream and selectors[]")
                result = self._subscribe(conn, stream, selectors, method == "subscribe")
                if conn.legacy:
                    conn.send(orjson.dumps({"request_id": rid, **result}))
                else:
                    conn.send(orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "result": result}))
                if method == "subscribe":
                    self._snapshots(conn, stream, selectors)
            elif isinstance(method, str) and method.startswith("v1/") and not conn.legacy:
                methods = self.market_methods if conn.host == "market-data" else self.trade_methods
                fn = methods.get(method[3:])
                if fn is None:
                    raise GrvtError(1004, 404, f"Data Not Found: no method {method!r} on {conn.host}")
                params = msg.get("params") or {}
                if not isinstance(params, dict):
                    raise err(1003, "Request could not be processed: params must be an object")
                if conn.host == "trades":
                    assert conn.auth is not None
                    self.auth.session(conn.auth.token, conn.auth.key.account_id, self.now_ns())
                result = await fn(params, conn.auth)
                conn.send(orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "result": result}))
            else:
                raise err(1003, f"Request could not be processed: unknown method {method!r}")
        except GrvtError as exc:
            conn.send(self._ws_error(conn, rid, exc, method))

    @staticmethod
    def _ws_error(conn: WsSession, rid: Any, exc: GrvtError, method: Any = None) -> bytes:
        if conn.legacy:
            return orjson.dumps({"request_id": rid, "code": exc.code, "message": exc.message, "status": exc.status})
        return orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                             "error": {"code": exc.code, "message": exc.message}})  # fmt: skip

    def _subscribe(self, conn: WsSession, versioned: str, selectors: list[str], add: bool) -> dict[str, Any]:
        version, _, stream = versioned.partition(".")
        if version != "v1":
            raise err(1003, f"Request could not be processed: unknown stream {versioned!r}")
        allowed = MARKET_STREAMS if conn.host == "market-data" else PRIVATE_STREAMS
        if stream not in allowed:
            raise err(1003, f"Request could not be processed: stream {versioned!r} is not served on {conn.host}")
        parsed = [self._selector(conn, stream, sel) for sel in selectors]
        subs, unsubs, snapshots, firsts = [], [], [], []
        for sub in parsed:
            key = (stream, sub.selector.partition("@")[0])
            if add:
                sub.versioned = versioned
                conn.subs[key] = sub  # a second subscribe to the same primary selector replaces it
                subs.append(sub.selector)
                snapshots.append(1 if stream in ("book.s", "book.d", "mini.s", "mini.d", "ticker.s", "ticker.d") else 0)
                firsts.append("0")
            else:
                conn.subs.pop(key, None)
                unsubs.append(sub.selector)
        return {"stream": versioned, "subs": subs, "unsubs": unsubs, "num_snapshots": snapshots,
                "first_sequence_number": firsts, "latest_sequence_number": firsts}  # fmt: skip

    def _selector(self, conn: WsSession, stream: str, selector: str) -> Subscription:
        if stream in PRIVATE_STREAMS:
            assert conn.auth is not None
            parts = selector.split("-")
            try:
                sub_id = int(parts[0])
            except ValueError:
                raise err(1101, f"Feed selector {selector!r} is malformed") from None
            if sub_id not in conn.auth.key.sub_account_ids:
                raise err(1001, "You are not authorized to access this functionality")
            if len(parts) == 1:
                return Subscription(stream, selector, "", sub_account_id=sub_id)
            if len(parts) == 2:
                self._instrument_of(parts[1], selector)
                return Subscription(stream, selector, parts[1], sub_account_id=sub_id)
            if len(parts) == 4:
                return Subscription(stream, selector, "", sub_account_id=sub_id,
                                    kind_filter=(parts[1], parts[2], parts[3]))  # fmt: skip
            raise err(1101, f"Feed selector {selector!r} is malformed")
        instrument, _, secondary = selector.partition("@")
        self._instrument_of(instrument, selector)
        if stream == "trade":
            return Subscription(stream, selector, instrument)
        rate_text, _, depth_text = secondary.partition("-")
        try:
            rate = int(rate_text) if rate_text else 500
            depth = int(depth_text) if depth_text else (10 if stream == "book.s" else None)
        except ValueError:
            raise err(1101, f"Feed selector {selector!r} is malformed") from None
        rates = BOOK_RATES.get(stream, TICKER_RATES)
        if rate not in rates:
            raise err(3030, f"Feed rate {rate} is invalid for {stream}: one of {', '.join(map(str, rates))}")
        if stream == "book.s" and depth not in BOOK_DEPTHS:
            raise err(3031, f"Depth {depth} is invalid: one of {', '.join(map(str, BOOK_DEPTHS))}")
        return Subscription(stream, selector, instrument, rate_ms=rate, depth=depth)

    def _instrument_of(self, name: str, selector: str) -> None:
        if name not in self.venue.symbols():
            raise err(1102, f"Feed selector {selector!r}: unknown instrument {name!r}")

    def _snapshots(self, conn: WsSession, versioned: str, selectors: list[str]) -> None:
        """Snapshot streams start with a full message (sequence 0) right after the acknowledgement."""
        stream = versioned.partition(".")[2]
        now = self.now_ns()
        for selector in selectors:
            sub = conn.subs.get((stream, selector.partition("@")[0]))
            if sub is None or sub.seq:
                continue
            if stream in ("book.d", "book.s"):
                spec = self.venue.spec(sub.instrument)
                bids, asks = self.venue.levels(spec, sub.depth)
                self._send_feed(conn, sub, {"event_time": str(now), "instrument": sub.instrument,
                                            "bids": bids, "asks": asks})  # fmt: skip
                sub.pending_bids.clear()
                sub.pending_asks.clear()
            elif stream in ("mini.s", "mini.d", "ticker.s", "ticker.d"):
                self._send_ticker(conn, sub, now)
            sub.due = time.monotonic() + sub.rate_ms / 1000

    def _send_feed(self, conn: WsSession, sub: Subscription, feed: dict[str, Any]) -> None:
        seq = sub.seq
        sub.seq += 1
        conn.send(orjson.dumps({"stream": sub.versioned, "selector": sub.selector, "sequence_number": str(seq),
                                "feed": feed, "prev_sequence_number": str(max(seq - 1, 0))}))  # fmt: skip

    def _send_ticker(self, conn: WsSession, sub: Subscription, now: int) -> None:
        fn = self.venue.mini_ticker if sub.stream.startswith("mini") else self.venue.ticker
        feed = fn(sub.instrument, now)
        if sub.stream.endswith(".d"):
            body = orjson.dumps({k: v for k, v in feed.items() if k != "event_time"})
            if body == sub.last:
                return  # a delta stream sends nothing when nothing changed
            sub.last = body
        self._send_feed(conn, sub, feed)

    async def _flush_loop(self) -> None:
        """Periodic feeds: book.d batches of changed levels, book.s snapshots, tickers at their rate."""
        while True:
            await asyncio.sleep(FLUSH_S)
            mono = time.monotonic()
            now = self.now_ns()
            for conn in list(self._sessions):
                for sub in list(conn.subs.values()):
                    if not sub.rate_ms or mono < sub.due:
                        continue
                    sub.due = mono + sub.rate_ms / 1000
                    if sub.stream == "book.d":
                        if sub.pending_bids or sub.pending_asks:
                            bids = [{"price": p, "size": s, "num_orders": 0 if s == "0" else 1}
                                    for p, s in sub.pending_bids.items()]  # fmt: skip
                            asks = [{"price": p, "size": s, "num_orders": 0 if s == "0" else 1}
                                    for p, s in sub.pending_asks.items()]  # fmt: skip
                            sub.pending_bids.clear()
                            sub.pending_asks.clear()
                            action = self.faults.sequence_fault(conn.conn_id)
                            if action == "skip":
                                sub.seq += 1  # a lost message: the client sees the gap
                                continue
                            feed = {"event_time": str(now), "instrument": sub.instrument, "bids": bids, "asks": asks}
                            self._send_feed(conn, sub, feed)
                            if action == "duplicate":  # a network retry: the same message again
                                sub.seq -= 1
                                self._send_feed(conn, sub, feed)
                    elif sub.stream == "book.s":
                        spec = self.venue.spec(sub.instrument)
                        bids, asks = self.venue.levels(spec, sub.depth)
                        self._send_feed(conn, sub, {"event_time": str(now), "instrument": sub.instrument,
                                                    "bids": bids, "asks": asks})  # fmt: skip
                    else:
                        self._send_ticker(conn, sub, now)

    def _on_stream(self, msg: StreamMessage) -> None:
        if msg.stream == "book.delta":
            delta: BookDelta = msg.feed["delta"]
            spec = self.venue.spec(msg.instrument)
            for conn in self._sessions:
                if conn.host != "market-data":
                    continue
                sub = conn.subs.get(("book.d", msg.instrument))
                if sub is None:
                    continue
                for lv in delta.bids:  # size "0" removes a level
                    sub.pending_bids[spec.format_price(lv.price)] = spec.format_quantity(lv.size) if lv.size else "0"
                for lv in delta.asks:
                    sub.pending_asks[spec.format_price(lv.price)] = spec.format_quantity(lv.size) if lv.size else "0"
            return
        host = "trades" if msg.sub_account_id is not None else "market-data"
        for conn in self._sessions:
            if conn.host != host:
                continue
            if msg.sub_account_id is None:
                sub = conn.subs.get((msg.stream, msg.instrument))
                if sub is not None:
                    self._send_feed(conn, sub, msg.feed)
                continue
            for sub in conn.subs.values():
                if sub.stream != msg.stream or sub.sub_account_id != msg.sub_account_id:
                    continue
                if sub.instrument and sub.instrument != msg.instrument:
                    continue
                if sub.kind_filter is not None:
                    kind, base, quote = sub.kind_filter
                    b, q, _ = msg.instrument.split("_", 2)
                    if (kind and kind != "PERPETUAL") or (base and base != b) or (quote and quote != q):
                        continue
                fault = self.faults.private_fault(conn.conn_id)
                if fault is not None and fault[0] == "delay":  # delivered later: later events overtake it
                    asyncio.get_running_loop().call_later(fault[1], self._send_feed, conn, sub, msg.feed)
                    continue
                self._send_feed(conn, sub, msg.feed)

    # ------------------------------------------------------------------ test hooks

    def drop_sockets(self) -> int:
        """Cut every socket abruptly (no close frame). Returns how many were open."""
        conns = list(self._sessions)
        for conn in conns:
            _abort(conn.ws)
        return len(conns)

    def stall_sockets(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        for conn in self._sessions:
            conn.stalled_until = until


def _error(exc: GrvtError, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=exc.status, body=orjson.dumps(exc.body()), content_type="application/json",
                        headers=headers)  # fmt: skip


def _abort(ws: web.WebSocketResponse) -> None:
    """Close the TCP connection under a WebSocket without a close frame (a network drop)."""
    req = ws._req
    if req is not None and req.transport is not None:
        req.transport.close()
