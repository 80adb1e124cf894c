"""Lighter protocol front-end: `/api/v1/*` REST and the `/stream` WebSocket on 127.0.0.1.

REST errors are HTTP 400 `{"code": <int>, "message": ...}` (429 when rate-limited). The socket sends
`connected`, answers subscribe/unsubscribe, serves `order_book/{m}` (snapshot, then deltas batched every
`book_interval_s` with `nonce`/`begin_nonce` chaining), `trade/{m}`, `account_all/{a}` and the
authenticated `account_all_orders|trades|positions/{a}`, `account_orders/{m}/{a}` and `account_tx/{a}`
channels, `height`, app-level ping/pong (close 1008 "no pong"), and tx submission (`jsonapi/sendtx`,
`jsonapi/sendtxbatch`). Channels outside perp trading (spot, pools, notifications) get 30005.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from xtb.sim.faults import FaultKind
from xtb.sim.lighter import wire
from xtb.sim.lighter.ratelimit import WeightedLimiter
from xtb.sim.lighter.txinfo import TxError
from xtb.sim.lighter.venue import ChannelMessage, LighterVenue
from xtb.sim.loopback import LoopbackServer, abort, send_with_faults
from xtb.sim.types import BookDelta, OrderView, PositionView
from xtb.sim.wire_faults import WireFaults

# WS app error codes. 30005 "Invalid Channel" is documented; the others in 30000-30012 are the
# simulator's assignment of the documented meanings (UNCONFIRMED numbers).
WS_INVALID_JSON = 30000
WS_INVALID_TYPE = 30001
WS_NOT_SUBSCRIBED = 30003
WS_ALREADY_SUBSCRIBED = 30004
WS_INVALID_CHANNEL = 30005
WS_AUTH_FAILED = 20001

PUBLIC_CHANNELS = {"order_book", "trade", "account_all", "market_stats", "user_stats", "height"}
AUTH_CHANNELS = {
    "account_all_orders", "account_all_trades", "account_all_positions", "account_orders", "account_all_assets",
    "account_market", "account_tx",
}  # fmt: skip
log = logging.getLogger(__name__)
_INT = re.compile(r"-?[0-9]{1,19}")  # ASCII digits only (`int()` also takes `١٢` and `1_000`)

# REST paths served (GET unless noted) -> handler method name.
REST_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/orderBooks"): "_order_books",
    ("GET", "/api/v1/orderBookDetails"): "_order_book_details",
    ("GET", "/api/v1/orderBookOrders"): "_order_book_orders",
    ("GET", "/api/v1/recentTrades"): "_recent_trades",
    ("GET", "/api/v1/trades"): "_trades",
    ("GET", "/api/v1/candles"): "_candles",
    ("GET", "/api/v1/nextNonce"): "_next_nonce",
    ("GET", "/api/v1/apikeys"): "_apikeys",
    ("GET", "/api/v1/account"): "_account",
    ("GET", "/api/v1/accountActiveOrders"): "_active_orders",
    ("GET", "/api/v1/accountInactiveOrders"): "_inactive_orders",
    ("GET", "/api/v1/accountOrders"): "_account_orders",
    ("GET", "/api/v1/fundings"): "_fundings",
    ("GET", "/api/v1/funding-rates"): "_funding_rates",
    ("GET", "/api/v1/markPriceCandles"): "_mark_price_candles",
    ("GET", "/api/v1/accountsByL1Address"): "_accounts_by_l1_address",
    ("GET", "/api/v1/tx"): "_tx",
    ("GET", "/api/v1/txs"): "_txs",
    ("GET", "/api/v1/accountTxs"): "_account_txs",
    ("GET", "/api/v1/blockTxs"): "_block_txs",
    ("POST", "/api/v1/sendTx"): "_send_tx",
    ("POST", "/api/v1/sendTxBatch"): "_send_tx_batch",
    ("POST", "/api/v1/changeAccountTier"): "_change_account_tier",
}
# Documented REST endpoints the simulator does not model (404): none left.
NOT_MODELLED_REST: tuple[str, ...] = ()
# Documented WS channels outside perp trading (spot, public pools, notifications): refused with the venue's
# 30005 "Invalid Channel" error naming why.
NOT_MODELLED_CHANNELS = ("spot_market_stats", "notification", "pool_data", "pool_info")
# Channels named `<kind>/<account>`.
ACCOUNT_CHANNELS = (
    "account_all", "account_all_orders", "account_all_trades", "account_all_positions", "account_all_assets",
    "user_stats", "account_tx",
)  # fmt: skip
FUNDING_SECONDS = {"1h": 3600, "1d": 86400}
_L1_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
TRADE_SORT_BY = ("block_height", "timestamp", "trade_id")
CANDLE_SECONDS = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14400, "12h": 43200,
                  "1d": 86400, "1w": 604800}  # fmt: skip
MAX_CANDLE_TS = 5_000_000_000_000  # the SDK's bound on start/end timestamps (ms)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, headers=headers, content_type="application/json")


def _error(code: int, message: str, status: int = 400) -> web.Response:
    return _json({"code": code, "message": message}, status=status)


class Subscription:
    __slots__ = ("account", "begin", "channel", "kind", "market", "nonce", "pending_asks", "pending_bids")

    def __init__(self, kind: str, market: int | None, account: int | None, channel: str) -> None:
        self.kind = kind
        self.market = market
        self.account = account
        self.channel = channel  # reply form, with ':' (e.g. "order_book:0")
        self.nonce = 0  # last nonce sent (order_book)
        self.begin = 0
        self.pending_bids: dict[int, int] = {}
        self.pending_asks: dict[int, int] = {}


class Session:
    def __init__(self, ws: web.WebSocketResponse, number: int) -> None:
        self.ws = ws
        self.id = str(uuid.uuid4())
        self.conn_id = f"lighter-ws-{number}"
        self.held: dict[str, Any] | None = None
        self.subs: dict[str, Subscription] = {}
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.last_pong = time.monotonic()
        self.accounts: set[int] = set()
        self.stalled_until = 0.0

    def send(self, payload: dict[str, Any]) -> None:
        self.queue.put_nowait(orjson.dumps(payload))


def parse_channel(raw: Any) -> tuple[str, int | None, int | None] | None:
    """`order_book/0` -> ("order_book", 0, None); `account_orders/0/12` -> ("account_orders", 0, 12)."""
    if not isinstance(raw, str):
        return None
    parts = raw.split("/")
    if raw in ("market_stats/all", "height"):
        return raw.split("/")[0], None, None
    if not all(p.isascii() and p.isdigit() and len(p) <= 19 for p in parts[1:]):
        return None
    kind = parts[0]
    nums = [int(p) for p in parts[1:]]
    if kind in ("order_book", "trade", "market_stats") and len(nums) == 1:
        return kind, nums[0], None
    if kind in ACCOUNT_CHANNELS and len(nums) == 1:
        return kind, None, nums[0]
    if kind in ("account_orders", "account_market") and len(nums) == 2:
        return kind, nums[0], nums[1]
    return None


class LighterServer(LoopbackServer):
    ws_path = "/stream"

    def __init__(
        self,
        venue: LighterVenue,
        faults: WireFaults | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ping_interval_s: float = 60.0,
        pong_timeout_s: float = 120.0,
        book_interval_s: float = 0.05,
        cancel_on_disconnect: bool | None = None,
        rate_limit_per_minute: int | None = None,
    ) -> None:
        super().__init__(host, port)
        self.venue = venue
        self.faults = faults or WireFaults()
        self.ping_interval_s = ping_interval_s
        self.pong_timeout_s = pong_timeout_s
        self.book_interval_s = book_interval_s
        # Lighter documents no cancel-on-disconnect (its dead-man switch is the scheduled cancel-all), so the
        # cluster turns it off; None defers to the fault plan's setting.
        self.cancel_on_disconnect = cancel_on_disconnect
        self.limiter = None if rate_limit_per_minute is None else WeightedLimiter(rate_limit_per_minute)
        self.sessions: set[Session] = set()
        self._offset = 0
        self._sessions_opened = 0
        self._stats_dirty: set[int] = set()  # markets whose market_stats changed since the last flush
        self.app = self._build_app()
        venue.add_listener(self._on_channel_message)
        venue.skew_ms = lambda: self.faults.clock_skew_ms("lighter-rest")

    def _background(self) -> Iterable[Coroutine[Any, Any, Any]]:
        return (self._book_flush_loop(),)

    def _open_sockets(self) -> Iterable[Any]:
        return (session.ws for session in list(self.sessions))

    # ------------------------------------------------------------------ REST

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/", self._root)
        r.add_get("/stream", self._ws_handler)
        for (method, path), name in REST_ROUTES.items():
            r.add_route(method, path, getattr(self, name))
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if request.path != "/stream":
            if self.limiter is not None:
                wait = self.limiter.try_spend(request.remote or "?", request.path, time.monotonic())
                if wait is not None:
                    headers = {"Retry-After": str(max(1, math.ceil(wait)))}
                    return _json({"code": 23000, "message": "Too Many Requests!"}, 429, headers)
            fault = self.faults.http_fault("lighter")
            if fault is not None:
                headers = {"Retry-After": str(max(1, round(fault.retry_after_s)))}
                if fault.kind is FaultKind.HTTP_429:
                    return _json({"code": 23000, "message": "Too Many Requests!"}, 429, headers)
                return _json({"code": 29500, "message": "internal server error"}, fault.status)
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except TxError as exc:
            return _error(exc.code, exc.message)
        except web.HTTPException:
            raise
        except Exception:
            # A simulator bug, not the client's: logged with its traceback, answered in the venue's shape.
            log.exception("lighter sim: %s %s failed", request.method, request.path)
            return _json({"code": 29500, "message": "internal server error"}, 500)

    # The REST validation layer: every query parameter is read through one of these, so a malformed
    # value is a 400 `{"code": 20001, "message": "invalid param: ..."}` naming it.

    @staticmethod
    def _int_param(request: web.Request, name: str, default: int | None = None) -> int:
        values = request.query.getall(name, [])
        if not values:
            if default is not None:
                return default
            raise TxError(20001, f"invalid param: {name} is required")
        raw = values[0]
        if len(values) > 1 or not _INT.fullmatch(raw) or not -(2**63) <= int(raw) < 2**63:
            raise TxError(20001, f"invalid param: {name} must be an integer")
        return int(raw)

    def _opt_int(self, request: web.Request, name: str) -> int | None:
        return self._int_param(request, name) if name in request.query else None

    @staticmethod
    def _enum_param(request: web.Request, name: str, values: tuple[str, ...], default: str | None) -> str | None:
        raw = request.query.get(name)
        if raw is None:
            if default is None and name in ("sort_by",):
                raise TxError(20001, f"invalid param: {name} is required")
            return default
        if raw not in values:
            raise TxError(20001, f"invalid param: {name} must be one of {', '.join(values)}")
        return raw

    def _limit(self, request: web.Request, high: int) -> int:
        limit = self._int_param(request, "limit")
        if not 1 <= limit <= high:
            raise TxError(20001, f"invalid param: limit must be 1..{high}")
        return limit

    def _market_param(self, request: web.Request, required: bool) -> int | None:
        if "market_id" not in request.query and not required:
            return None
        market = self._int_param(request, "market_id")
        if self.venue.spec(market) is None:
            raise TxError(21602, "invalid market index")
        return market

    async def _root(self, request: web.Request) -> web.Response:
        return _json({"status": "1", "network_id": "1", "timestamp": str(self.venue.now_ms() // 1000)})

    async def _order_books(self, request: web.Request) -> web.Response:
        market = self._market_param(request, False)
        specs = [s for s in self.venue.markets() if market is None or s.market_id == market]
        return _json({"code": 200, "order_books": [wire.order_book(s) for s in specs]})

    async def _order_book_details(self, request: web.Request) -> web.Response:
        market = self._market_param(request, False)
        details = [
            self.venue.detail(s.market_id) for s in self.venue.markets() if market is None or s.market_id == market
        ]
        return _json({"code": 200, "order_book_details": details, "spot_order_book_details": []})

    async def _order_book_orders(self, request: web.Request) -> web.Response:
        market = self._market_param(request, True)
        assert market is not None
        return _json(self.venue.book_orders(market, self._limit(request, 250)))

    async def _recent_trades(self, request: web.Request) -> web.Response:
        market = self._market_param(request, True)
        assert market is not None
        limit = self._limit(request, 100)
        trades = list(self.venue.recent_trades[market])[-limit:][::-1]
        return _json({"code": 200, "trades": trades})

    async def _trades(self, request: web.Request) -> web.Response:
        """`/api/v1/trades`: public trades of a market, or (with an auth token) one account's trades, from
        the venue's bounded recent-trade records; `cursor` = the trade id to continue below/above."""
        sort_by = self._enum_param(request, "sort_by", TRADE_SORT_BY, None)
        sort_dir = self._enum_param(request, "sort_dir", ("asc", "desc"), "desc")
        limit = self._limit(request, 100)
        market = self._market_param(request, False)
        account = self._opt_int(request, "account_index")
        order_index = self._opt_int(request, "order_index")
        since = self._opt_int(request, "from")
        ask_filter = self._opt_int(request, "ask_filter")
        role = self._enum_param(request, "role", ("all", "maker", "taker"), "all")
        kind = self._enum_param(request, "type", ("all", "trade", "liquidation", "deleverage"), "all")
        cursor = self._opt_cursor(request)
        if ask_filter not in (None, -1, 0, 1):
            raise TxError(20001, "invalid param: ask_filter must be -1, 0 or 1")
        if account is not None:
            self.venue.check_auth(request.headers.get("Authorization") or request.query.get("auth"), account)
            per_market = self.venue.account_trades.get(account, {})
            rows = [t for m, ts in per_market.items() if market in (None, m) for t in ts]
        elif market is not None:
            rows = list(self.venue.recent_trades[market])
        else:
            rows = [t for ts in self.venue.recent_trades.values() for t in ts]
        rows = [
            t
            for t in rows
            if kind in ("all", "trade")
            and (order_index is None or order_index in (t["ask_id"], t["bid_id"]))
            and (since is None or t["timestamp"] >= since)
            and _role_matches(t, account, role, ask_filter)
        ]
        key = "timestamp" if sort_by == "timestamp" else "trade_id"
        descending = sort_dir == "desc"
        rows.sort(key=lambda t: (t[key], t["trade_id"]), reverse=descending)
        if cursor is not None:
            rows = [t for t in rows if (t["trade_id"] < cursor if descending else t["trade_id"] > cursor)]
        page = rows[:limit]
        next_cursor = str(page[-1]["trade_id"]) if len(rows) > limit else ""
        return _json({"code": 200, "next_cursor": next_cursor, "trades": page})

    async def _candles(self, request: web.Request) -> web.Response:
        """`/api/v1/candles` (last-price candles; `merge_mark_price` is accepted and not applied). Error
        codes 22400 (timestamps) and 22401 (resolution) are the simulator's picks in the documented
        22400-22403 candlestick range."""
        market = self._market_param(request, True)
        assert market is not None
        resolution = request.query.get("resolution", "")
        if resolution not in CANDLE_SECONDS:
            raise TxError(22401, f"invalid resolution: expected one of {', '.join(CANDLE_SECONDS)}")
        start = self._int_param(request, "start_timestamp")
        end = self._int_param(request, "end_timestamp")
        count = self._int_param(request, "count_back")
        for flag in ("set_timestamp_to_end", "merge_mark_price"):
            if request.query.get(flag, "false") not in ("true", "false"):
                raise TxError(20001, f"invalid param: {flag} must be true or false")
        if not (0 <= start <= MAX_CANDLE_TS and 0 <= end <= MAX_CANDLE_TS) or start > end:
            raise TxError(22400, "invalid candlestick timestamps")
        if not 1 <= count <= 500:
            raise TxError(20001, "invalid param: count_back must be 1..500")
        rows = self.venue.candles(market, CANDLE_SECONDS[resolution], start, end, count)
        if request.query.get("set_timestamp_to_end") == "true":
            for row in rows:
                row["t"] += CANDLE_SECONDS[resolution] * 1000
        return _json({"code": 200, "r": resolution, "c": rows})

    def _time_range(self, request: web.Request) -> tuple[int, int, int]:
        start = self._int_param(request, "start_timestamp")
        end = self._int_param(request, "end_timestamp")
        count = self._int_param(request, "count_back")
        if not (0 <= start <= MAX_CANDLE_TS and 0 <= end <= MAX_CANDLE_TS) or start > end:
            raise TxError(22400, "invalid candlestick timestamps")
        if not 1 <= count <= 500:
            raise TxError(20001, "invalid param: count_back must be 1..500")
        return start, end, count

    async def _fundings(self, request: web.Request) -> web.Response:
        """`/api/v1/fundings`: the market's funding payments (one per funding time; for `1d`, the last of
        each day) in [start, end] ms, the last `count_back`, oldest first. `timestamp` is in seconds,
        `value` the mark price at payment, `rate` the rate paid in percent (unsigned) and `direction` the
        side that paid (`long` when the rate is positive): the simulator's reading of the documented shape."""
        market = self._market_param(request, True)
        assert market is not None
        resolution = request.query.get("resolution", "")
        if resolution not in FUNDING_SECONDS:
            raise TxError(22401, f"invalid resolution: expected one of {', '.join(FUNDING_SECONDS)}")
        start, end, count = self._time_range(request)
        spec = self.venue.spec(market)
        assert spec is not None
        width = FUNDING_SECONDS[resolution] * 1000
        buckets: dict[int, tuple[int, int, int]] = {}
        for ms, rate, mark in self.venue.funding_history(market):
            if start <= ms <= end:
                buckets[ms - ms % width] = (ms, rate, mark)
        rows = [
            {
                "timestamp": ms // 1000,
                "value": spec.format_price(mark),
                "rate": format(Decimal(abs(rate)).scaleb(-4).normalize(), "f"),
                "direction": "long" if rate >= 0 else "short",
            }
            for ms, rate, mark in (buckets[k] for k in sorted(buckets)[-count:])
        ]
        return _json({"code": 200, "resolution": resolution, "fundings": rows})

    async def _funding_rates(self, request: web.Request) -> web.Response:
        """`/api/v1/funding-rates`: each market's current funding-rate estimate (percent per interval)."""
        rates = [
            {
                "market_id": s.market_id,
                "exchange": "lighter",
                "symbol": s.symbol,
                "rate": float(Decimal(self.venue.engine.funding_rate(s.market_id)).scaleb(-4)),
            }
            for s in self.venue.markets()
        ]
        return _json({"code": 200, "funding_rates": rates})

    async def _mark_price_candles(self, request: web.Request) -> web.Response:
        """`/api/v1/markPriceCandles`: candles of the mark prices the simulator published; `sc` is the number
        of mark samples in the candle."""
        market = self._market_param(request, True)
        assert market is not None
        resolution = request.query.get("resolution", "")
        if resolution not in CANDLE_SECONDS:
            raise TxError(22401, f"invalid resolution: expected one of {', '.join(CANDLE_SECONDS)}")
        start, end, count = self._time_range(request)
        spec = self.venue.spec(market)
        assert spec is not None
        width = CANDLE_SECONDS[resolution] * 1000
        rows: dict[int, list[int]] = {}
        for ms, mark in self.venue.mark_samples(market):
            key = ms - ms % width
            if not start <= key <= end:
                continue
            row = rows.get(key)
            if row is None:
                rows[key] = [mark, mark, mark, mark, 1]
            else:
                row[1], row[2], row[3], row[4] = max(row[1], mark), min(row[2], mark), mark, row[4] + 1

        def px(v: int) -> float:
            return float(Decimal(v).scaleb(-spec.price_decimals))

        out = [
            {"t": k, "o": px(r[0]), "h": px(r[1]), "l": px(r[2]), "c": px(r[3]), "sc": r[4]}
            for k, r in ((k, rows[k]) for k in sorted(rows)[-count:])
        ]
        return _json({"code": 200, "r": resolution, "c": out})

    async def _accounts_by_l1_address(self, request: web.Request) -> web.Response:
        raw = request.query.get("l1_address", "")
        accounts = [self.venue.account(a) for a in self._accounts_of(raw)]
        return _json({"code": 200, "l1_address": raw.lower(), "sub_accounts": accounts, "next_cursor": ""})

    async def _tx(self, request: web.Request) -> web.Response:
        by = self._enum_param(request, "by", ("hash", "sequence_index"), None)
        value = request.query.get("value", "")
        if by is None:
            raise TxError(20001, "invalid param: by is required")
        if by == "sequence_index" and not _INT.fullmatch(value):
            raise TxError(20001, "invalid param: value must be an integer sequence index")
        if by == "hash" and not re.fullmatch(r"[0-9a-f]{1,128}", value):
            raise TxError(20001, "invalid param: value must be a hex tx hash")
        record = self.venue.find_tx(by, value)
        if record is None:
            raise TxError(21500, "transaction not found")
        return _json({"code": 200, **record, "committed_at": 0, "verified_at": 0})

    async def _txs(self, request: web.Request) -> web.Response:
        """Every recorded tx from sequence index `index` (default: the oldest kept), ascending."""
        limit = self._limit(request, 100)
        since = self._opt_int(request, "index") or 0
        rows = [t for t in self.venue.txs.values() if t["sequence_index"] >= since][:limit]
        return _json({"code": 200, "txs": rows})

    async def _account_txs(self, request: web.Request) -> web.Response:
        """An account's recorded txs, newest first; `index` = the sequence index to continue below, `types`
        a list of tx types (`[14,15]` or `14,15`). Needs the account's auth token."""
        limit = self._limit(request, 100)
        if self._enum_param(request, "by", ("account_index",), None) is None:
            raise TxError(20001, "invalid param: by is required")
        account = self._int_param(request, "value")
        self.venue.check_auth(request.headers.get("Authorization") or request.query.get("auth"), account)
        below = self._opt_int(request, "index")
        types: set[int] | None = None
        if "types" in request.query:
            parts = [p.strip() for p in request.query["types"].strip("[]").split(",") if p.strip()]
            if not parts or not all(_INT.fullmatch(p) for p in parts):
                raise TxError(20001, "invalid param: types must be a list of integers")
            types = {int(p) for p in parts}
        rows = [
            t
            for t in reversed(self.venue.txs.values())
            if t["account_index"] == account
            and (below is None or t["sequence_index"] < below)
            and (types is None or t["type"] in types)
        ][:limit]
        return _json({"code": 200, "txs": rows})

    async def _block_txs(self, request: web.Request) -> web.Response:
        """The recorded txs of one block (one accepted sendTx/sendTxBatch). `by=commitment` is refused: the
        simulator keeps no commitments."""
        if self._enum_param(request, "by", ("block_height",), None) is None:
            raise TxError(20001, "invalid param: by is required")
        height = self._int_param(request, "value")
        rows = [t for t in self.venue.txs.values() if t["block_height"] == height]
        return _json({"code": 200, "txs": rows})

    async def _change_account_tier(self, request: web.Request) -> web.Response:
        form = await request.post()
        values = form.getall("account_index", [])
        raw = values[0] if len(values) == 1 else ""
        if not isinstance(raw, str) or not _INT.fullmatch(raw):
            raise TxError(20001, "invalid param: account_index must be an integer")
        account = int(raw)
        auth = request.headers.get("Authorization") or form.get("auth") or request.query.get("auth")
        self.venue.check_auth(auth if isinstance(auth, str) else None, account)
        tier = form.get("new_tier")
        if not isinstance(tier, str):
            raise TxError(20001, "invalid param: new_tier is required")
        self.venue.change_tier(account, tier)
        return _json({"code": 200, "message": "success"})

    def _opt_cursor(self, request: web.Request) -> int | None:
        raw = request.query.get("cursor")
        if not raw:
            return None
        if not _INT.fullmatch(raw):
            raise TxError(20001, "invalid param: cursor")
        return int(raw)

    async def _next_nonce(self, request: web.Request) -> web.Response:
        nonce = self.venue.next_nonce(
            self._int_param(request, "account_index"), self._int_param(request, "api_key_index")
        )
        return _json({"code": 200, "nonce": nonce})

    async def _apikeys(self, request: web.Request) -> web.Response:
        keys = self.venue.api_keys(
            self._int_param(request, "account_index"), self._int_param(request, "api_key_index", 255)
        )
        return _json({"code": 200, "api_keys": keys})

    async def _account(self, request: web.Request) -> web.Response:
        by = self._enum_param(request, "by", ("index", "l1_address"), None)
        if by == "l1_address":
            found = self._accounts_of(request.query.get("value", ""))
        elif by == "index":
            found = [self._int_param(request, "value")]
            if not self.venue.has_account(found[0]):
                raise TxError(29404, "account not found")
        else:
            raise TxError(20001, "invalid param: by is required")
        accounts = [self.venue.account(a) for a in found]
        return _json({"code": 200, "total": len(accounts), "accounts": accounts, "next_cursor": ""})

    def _accounts_of(self, raw: str) -> list[int]:
        """The accounts of an L1 address. The simulator registers no wallets: each account has the stable
        stand-in address its `account` object shows (`0x` + the index in 40 hex digits)."""
        if not _L1_ADDRESS.fullmatch(raw):
            raise TxError(20001, "invalid param: l1_address must be 0x and 40 hex digits")
        found = [a for a in sorted(self.venue.engine.accounts()) if wire.l1_address(a) == raw.lower()]
        if not found:
            raise TxError(29404, "account not found")
        return found

    async def _active_orders(self, request: web.Request) -> web.Response:
        account = self._int_param(request, "account_index")
        token = request.headers.get("Authorization") or request.query.get("auth")
        self.venue.check_auth(token, account)
        market = self._market_param(request, False)
        return _json({"code": 200, "orders": self.venue.active_orders(account, market)})

    async def _inactive_orders(self, request: web.Request) -> web.Response:
        """Closed orders, newest first; `cursor` = the order index to continue below."""
        account = self._int_param(request, "account_index")
        token = request.headers.get("Authorization") or request.query.get("auth")
        self.venue.check_auth(token, account)
        limit = self._limit(request, 100)
        market = self._market_param(request, False)
        ask_filter = self._opt_int(request, "ask_filter")
        if ask_filter not in (None, -1, 0, 1):
            raise TxError(20001, "invalid param: ask_filter must be -1, 0 or 1")
        between = request.query.get("between_timestamps")
        window: tuple[int, int] | None = None
        if between is not None:
            m = re.fullmatch(r"([0-9]{1,19})-([0-9]{1,19})", between)
            if m is None:
                raise TxError(20001, "invalid param: between_timestamps must be `<from>-<to>`")
            window = (int(m.group(1)), int(m.group(2)))
        cursor = self._opt_cursor(request)
        rows = [
            o
            for o in self.venue.inactive_orders(account, market)
            if (ask_filter in (None, -1) or o["is_ask"] == (ask_filter == 1))
            and (window is None or window[0] <= o["timestamp"] <= window[1])
            and (cursor is None or o["order_index"] < cursor)
        ]
        page = rows[:limit]
        next_cursor = str(page[-1]["order_index"]) if len(rows) > limit else ""
        return _json({"code": 200, "next_cursor": next_cursor, "orders": page})

    async def _account_orders(self, request: web.Request) -> web.Response:
        """Orders (open or recently closed) by client order index: `client_order_indexes=1,2,3`."""
        account = self._int_param(request, "account_index")
        token = request.headers.get("Authorization") or request.query.get("auth")
        self.venue.check_auth(token, account)
        raw = request.query.get("client_order_indexes", "")
        parts = [p.strip() for p in raw.strip("[]").split(",") if p.strip()]
        if not parts or len(parts) > 100 or not all(_INT.fullmatch(p) for p in parts):
            raise TxError(20001, "invalid param: client_order_indexes must be a list of integers")
        wanted = {int(p) for p in parts}
        rows = self.venue.active_orders(account, None) + self.venue.inactive_orders(account, None)
        orders = [o for o in rows if o["client_order_index"] in wanted]
        return _json({"code": 200, "next_cursor": "", "orders": orders})

    async def _send_tx(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            tx_type = int(str(form.get("tx_type", "")))
        except ValueError:
            raise TxError(21505, "unsupported tx type: tx_type must be an integer") from None
        tx_info = form.get("tx_info")
        if not isinstance(tx_info, str):
            raise TxError(21501, "invalid tx info: tx_info form field is required")
        reply = self.venue.send_tx(tx_type, tx_info)
        await self._maybe_timeout()
        return _json(reply)

    async def _send_tx_batch(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            tx_types = orjson.loads(str(form.get("tx_types", "")))
            tx_infos = orjson.loads(str(form.get("tx_infos", "")))
        except orjson.JSONDecodeError:
            raise TxError(21501, "invalid tx info: tx_types and tx_infos must be JSON arrays") from None
        if not isinstance(tx_types, list) or not isinstance(tx_infos, list):
            raise TxError(21501, "invalid tx info: tx_types and tx_infos must be JSON arrays")
        reply = self.venue.send_tx_batch(tx_types, tx_infos)
        await self._maybe_timeout()
        return _json(reply)

    async def _maybe_timeout(self) -> None:
        if self.faults.accept_timeout("lighter"):
            await asyncio.sleep(self.faults.response_timeout_s)

    # ------------------------------------------------------------------ WebSocket

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
        if not ws.can_prepare(request).ok:
            return _error(20001, "websocket upgrade required")
        await ws.prepare(request)
        self._sessions_opened += 1
        session = Session(ws, self._sessions_opened)
        self.sessions.add(session)
        writer = self._spawn(self._writer(session))
        pinger = self._spawn(self._pinger(session))
        session.send({"session_id": session.id, "type": "connected"})
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_client_frame(session, msg.data)
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            self.sessions.discard(session)
            session.queue.put_nowait(None)
            pinger.cancel()
            writer.cancel()
            self.faults.forget(session.conn_id)
            for account in session.accounts:
                if not any(account in s.accounts for s in self.sessions):
                    cancel = self.cancel_on_disconnect
                    self.venue.on_disconnect(account, self.faults.cancel_on_disconnect if cancel is None else cancel)
        return ws

    async def _writer(self, session: Session) -> None:
        while True:
            payload = await session.queue.get()
            if payload is None or session.ws.closed:
                return
            if not await send_with_faults(session, self.faults, payload):
                return

    async def _pinger(self, session: Session) -> None:
        while not session.ws.closed:
            await asyncio.sleep(self.ping_interval_s)
            if time.monotonic() - session.last_pong > self.pong_timeout_s:
                await session.ws.close(code=1008, message=b"no pong")
                return
            session.send({"type": "ping"})

    def _on_client_frame(self, session: Session, data: str) -> None:
        session.last_pong = time.monotonic()  # any client frame proves liveness
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError:
            session.send({"error": {"code": WS_INVALID_JSON, "message": "Invalid JSON"}})
            return
        if not isinstance(frame, dict):
            session.send({"error": {"code": WS_INVALID_JSON, "message": "Invalid JSON"}})
            return
        kind = frame.get("type")
        if kind == "pong":
            return
        if kind == "ping":
            session.send({"type": "pong"})
        elif kind == "subscribe":
            self._subscribe(session, frame)
        elif kind == "unsubscribe":
            self._unsubscribe(session, frame)
        elif kind in ("jsonapi/sendtx", "jsonapi/sendtxbatch"):
            self._ws_send_tx(session, kind, frame.get("data"))
        else:
            session.send({"error": {"code": WS_INVALID_TYPE, "message": f"Invalid type: {kind}"}})

    def _subscribe(self, session: Session, frame: dict[str, Any]) -> None:
        raw = frame.get("channel")
        parsed = parse_channel(raw)
        if parsed is None:
            why = ""
            if isinstance(raw, str) and raw.split("/")[0] in NOT_MODELLED_CHANNELS:
                why = " (not supported: the simulator models perpetual futures trading only)"
            session.send({"error": {"code": WS_INVALID_CHANNEL, "message": f"Invalid Channel: {raw}{why}"}})
            return
        kind, market, account = parsed
        if market is not None and self.venue.spec(market) is None:
            session.send({"error": {"code": WS_INVALID_CHANNEL, "message": f"Invalid Channel: {raw} (marketId)"}})
            return
        if account is not None and not self.venue.has_account(account):
            session.send({"error": {"code": WS_INVALID_CHANNEL, "message": f"Invalid Channel: {raw} (account)"}})
            return
        if kind in AUTH_CHANNELS:
            assert account is not None
            try:
                self.venue.check_auth(frame.get("auth"), account)
            except TxError as exc:
                session.send({"error": {"code": WS_AUTH_FAILED, "message": exc.message}})
                return
        if raw in session.subs and kind != "account_all":
            session.send({"error": {"code": WS_ALREADY_SUBSCRIBED, "message": f"Already subscribed: {raw}"}})
            return
        reply_channel = str(raw).replace("/", ":")
        sub = Subscription(kind, market, account, reply_channel)
        session.subs[str(raw)] = sub
        if account is not None and kind in AUTH_CHANNELS:  # a signed-in session, for cancel-on-disconnect
            session.accounts.add(account)
        session.send(self._snapshot(sub))

    def _unsubscribe(self, session: Session, frame: dict[str, Any]) -> None:
        raw = frame.get("channel")
        sub = session.subs.pop(str(raw), None)
        if sub is None:
            session.send({"error": {"code": WS_NOT_SUBSCRIBED, "message": f"Not subscribed: {raw}"}})
            return
        session.send({"type": "unsubscribed", "channel": sub.channel})

    def _snapshot(self, sub: Subscription) -> dict[str, Any]:
        now = self.venue.now_ms()
        if sub.kind == "order_book":
            assert sub.market is not None
            seq, asks, bids = self.venue.book_levels(sub.market)
            sub.nonce = seq
            self._offset += 1
            return {
                "channel": sub.channel,
                "offset": self._offset,
                "type": "subscribed/order_book",
                "timestamp": now,
                "order_book": {
                    "code": 0,
                    "asks": asks,
                    "bids": bids,
                    "offset": self._offset,
                    "nonce": seq,
                    "begin_nonce": seq,
                },
            }
        if sub.kind == "trade":
            assert sub.market is not None
            trades = list(self.venue.recent_trades[sub.market])[-20:]
            return {"channel": sub.channel, "type": "subscribed/trade", "trades": trades}
        if sub.kind == "market_stats":
            return self._market_stats_frame(sub, "subscribed", None)
        if sub.kind == "height":
            return {"channel": sub.channel, "type": "subscribed/height", "height": self.venue.height}
        assert sub.account is not None
        return self._account_payload(sub, "subscribed", full=True)

    def _account_payload(
        self,
        sub: Subscription,
        prefix: str,
        *,
        full: bool,
        orders: list[OrderView] | None = None,
        trades: list[dict[str, Any]] | None = None,
        positions: list[PositionView] | None = None,
    ) -> dict[str, Any]:
        account = sub.account
        assert account is not None
        v = self.venue
        msg: dict[str, Any] = {"channel": sub.channel, "type": f"{prefix}/{sub.kind}", "account": account}
        if sub.kind in ("account_all_orders", "account_orders"):
            market = sub.market
            current = v.engine.open_orders(account, market) if full else (orders or [])
            msg["orders"] = v.orders_by_market(account, [o for o in current if market in (None, o.market)])
        if sub.kind in ("account_all_trades", "account_all"):
            if full:
                msg["trades"] = {str(m): list(ts) for m, ts in v.account_trades.get(account, {}).items()}
            else:
                grouped: dict[str, list[dict[str, Any]]] = {}
                for t in trades or []:
                    grouped.setdefault(str(t["market_id"]), []).append(t)
                msg["trades"] = grouped
        if sub.kind in ("account_all_positions", "account_all"):
            msg["positions"] = {str(p["market_id"]): p for p in v.positions(account)}
            msg["shares"] = []
        if sub.kind == "account_market":
            market = sub.market
            current = v.engine.open_orders(account, market) if full else (orders or [])
            msg["orders"] = [v.order(o) for o in current if o.market == market]
            if full:
                msg["trades"] = list(v.account_trades.get(account, {}).get(market or 0, ()))
            else:
                msg["trades"] = [t for t in trades or [] if t["market_id"] == market]
            held = [p for p in v.positions(account) if p["market_id"] == market]
            msg["position"] = held[0] if held else None
            msg["funding_history"] = None  # per-position funding history is not kept
            msg["assets"] = v.assets(account)
        if sub.kind == "user_stats":
            msg["stats"] = v.user_stats(account)
        if sub.kind == "account_all_assets":
            msg["assets"] = v.assets(account)
        if sub.kind == "account_tx":  # the snapshot: the account's last 20 recorded txs, oldest first
            msg["txs"] = [t for t in v.txs.values() if t["account_index"] == account][-20:]
        if sub.kind == "account_all":
            acct = v.account(account)
            msg["assets"] = {"3": acct["assets"][0]}
            msg["funding_histories"] = {}
            msg["daily_trades_count"] = 0
            msg["daily_volume"] = 0
            msg["total_trades_count"] = 0
            msg["total_volume"] = 0
        return msg

    def _market_stats_frame(self, sub: Subscription, prefix: str, markets: set[int] | None) -> dict[str, Any]:
        """One market's object, or for `market_stats/all` a map by market id (changed markets only on
        updates)."""
        if sub.market is not None:
            stats: Any = self.venue.market_stats(sub.market)
        else:
            ids = [s.market_id for s in self.venue.markets() if markets is None or s.market_id in markets]
            stats = {str(m): self.venue.market_stats(m) for m in ids}
        return {"channel": sub.channel, "type": f"{prefix}/market_stats", "market_stats": stats}

    # ------------------------------------------------------------------ fan-out

    def _on_channel_message(self, msg: ChannelMessage) -> None:
        if msg.kind == "book":
            delta: BookDelta = msg.payload
            for session in self.sessions:
                for sub in session.subs.values():
                    if sub.kind == "order_book" and sub.market == delta.market and delta.seq > sub.nonce:
                        if not sub.pending_bids and not sub.pending_asks:
                            sub.begin = sub.nonce
                        for lv in delta.bids:
                            sub.pending_bids[lv.price] = lv.size
                        for lv in delta.asks:
                            sub.pending_asks[lv.price] = lv.size
                        sub.nonce = delta.seq
            return
        if msg.kind == "market_stats":
            if msg.market is not None:
                self._stats_dirty.add(msg.market)  # sent with the next book batch (every 50 ms)
            return
        if msg.kind == "height":
            for session in self.sessions:
                if "height" in session.subs:
                    session.send({"channel": "height", "type": "update/height", "height": msg.payload})
            return
        for session in self.sessions:
            for sub in session.subs.values():
                if msg.kind == "trade" and sub.kind == "trade" and sub.market == msg.market:
                    session.send({"channel": sub.channel, "type": "update/trade", "trades": [msg.payload]})
                elif msg.account is not None and sub.account == msg.account:
                    self._account_update(session, sub, msg)

    def _account_update(self, session: Session, sub: Subscription, msg: ChannelMessage) -> None:
        if sub.kind == "account_tx":
            if msg.kind == "account_tx":
                session.send({"channel": sub.channel, "type": "update/account_tx", "account": sub.account,
                              "txs": [dict(msg.payload)]})  # fmt: skip
            return
        if msg.kind == "account_tx" or (sub.market is not None and msg.market != sub.market):
            return
        payload: dict[str, Any] | None = None
        if msg.kind == "account_order" and sub.kind in ("account_all_orders", "account_orders"):
            payload = self._account_payload(sub, "update", full=False, orders=[msg.payload])
        elif msg.kind == "account_trade" and sub.kind in ("account_all_trades", "account_all"):
            payload = self._account_payload(sub, "update", full=False, trades=[msg.payload])
        elif msg.kind == "account_position" and sub.kind in ("account_all_positions", "account_all"):
            payload = self._account_payload(sub, "update", full=False)
        elif msg.kind == "account_balance" and sub.kind == "account_all_assets":
            payload = self._account_payload(sub, "update", full=False)
        elif sub.kind == "account_market" and msg.kind == "account_order":
            payload = self._account_payload(sub, "update", full=False, orders=[msg.payload])
        elif sub.kind == "account_market" and msg.kind in ("account_trade", "account_position"):
            trades = [msg.payload] if msg.kind == "account_trade" else []
            payload = self._account_payload(sub, "update", full=False, trades=trades)
        elif sub.kind == "user_stats" and msg.kind in ("account_balance", "account_order", "account_position"):
            payload = self._account_payload(sub, "update", full=False)  # margin moves with orders too
        if payload is None:
            return
        fault = self.faults.private_fault(session.conn_id)
        if fault is not None and fault[0] == "delay":
            asyncio.get_running_loop().call_later(fault[1], session.send, payload)
            return
        held, session.held = session.held, None
        if fault is not None:  # reorder: this update goes out after the next one
            session.held = payload
            asyncio.get_running_loop().call_later(1.0, _release_held, session, payload)
        else:
            session.send(payload)
        if held is not None:
            session.send(held)

    async def _book_flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.book_interval_s)
            self.venue.poll()
            now = self.venue.now_ms()
            dirty, self._stats_dirty = self._stats_dirty, set()
            for session in list(self.sessions):
                for sub in session.subs.values():
                    if sub.kind == "market_stats" and dirty and (sub.market is None or sub.market in dirty):
                        session.send(self._market_stats_frame(sub, "update", dirty))
                    if sub.kind != "order_book" or not (sub.pending_bids or sub.pending_asks):
                        continue
                    self._flush_book(session, sub, now)

    def _flush_book(self, session: Session, sub: Subscription, now: int) -> None:
        assert sub.market is not None
        spec = self.venue.spec(sub.market)
        assert spec is not None
        asks = [
            {"price": spec.format_price(p), "size": spec.format_quantity(s)}
            for p, s in sorted(sub.pending_asks.items())
        ]
        bids = [
            {"price": spec.format_price(p), "size": spec.format_quantity(s)}
            for p, s in sorted(sub.pending_bids.items(), reverse=True)
        ]
        sub.pending_asks.clear()
        sub.pending_bids.clear()
        action = self.faults.sequence_fault(session.conn_id)
        if action == "skip":
            return
        self._offset += 1
        frame = {
            "channel": sub.channel,
            "offset": self._offset,
            "type": "update/order_book",
            "timestamp": now,
            "order_book": {
                "code": 0,
                "asks": asks,
                "bids": bids,
                "offset": self._offset,
                "nonce": sub.nonce,
                "begin_nonce": sub.begin,
            },
        }
        session.send(frame)
        if action == "duplicate":
            session.send(frame)

    def _ws_send_tx(self, session: Session, kind: str, data: Any) -> None:
        req_id = data.get("id") if isinstance(data, dict) else None
        try:
            if not isinstance(data, dict):
                raise TxError(21501, "invalid tx info: data must be an object")
            if kind == "jsonapi/sendtx":
                tx_type = data.get("tx_type")
                if isinstance(tx_type, bool) or not isinstance(tx_type, int):
                    raise TxError(21505, "unsupported tx type: tx_type must be an integer")
                reply = self.venue.send_tx(tx_type, data.get("tx_info"))
            else:
                tx_types, tx_infos = data.get("tx_types"), data.get("tx_infos")
                if isinstance(tx_types, str):
                    tx_types = orjson.loads(tx_types)
                if isinstance(tx_infos, str):
                    tx_infos = orjson.loads(tx_infos)
                if not isinstance(tx_types, list) or not isinstance(tx_infos, list):
                    raise TxError(21501, "invalid tx info: tx_types and tx_infos must be arrays")
                reply = self.venue.send_tx_batch(tx_types, tx_infos)
                if not isinstance(reply["tx_hash"], list):
                    reply["tx_hash"] = [reply["tx_hash"]]
        except TxError as exc:
            session.send({"id": req_id, "type": kind, "error": {"code": exc.code, "message": exc.message}})
            return
        except orjson.JSONDecodeError:
            session.send({"id": req_id, "type": kind, "error": {"code": 21501, "message": "invalid tx info: not JSON"}})
            return
        reply.pop("message", None)
        session.send({**reply, "id": req_id, "type": kind})

    # ------------------------------------------------------------------ fault hooks

    def drop_sockets(self) -> int:
        """Cut every socket abruptly (no close frame). Returns how many were open."""
        sessions = list(self.sessions)
        for session in sessions:
            abort(session.ws)
        return len(sessions)

    def stall_sockets(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        for session in self.sessions:
            session.stalled_until = until


def _release_held(session: Session, payload: dict[str, Any]) -> None:
    """A reordered update with no successor within 1 s goes out anyway (never lost)."""
    if session.held is payload:
        session.held = None
        session.send(payload)



def _role_matches(trade: dict[str, Any], account: int | None, role: str | None, ask_filter: int | None) -> bool:
    """`role` (maker/taker) and `ask_filter` (1: the account's side was the ask) for an account's trades."""
    if account is None or (role in (None, "all") and ask_filter in (None, -1)):
        return True
    is_ask = trade["ask_account_id"] == account
    maker_is_ask = trade["is_maker_ask"]
    if role == "maker" and is_ask != maker_is_ask:
        return False
    if role == "taker" and is_ask == maker_is_ask:
        return False
    return ask_filter in (None, -1) or is_ask == (ask_filter == 1)
