"""The toy venue's simulator dialect: JSON REST on 127.0.0.1 over the simulator's matching engine.

    GET  /markets                                  listed markets (decimal scales, tick, step)
    GET  /depth?symbol=S                           book snapshot {seq, bids, asks} (decimal strings)
    POST /orders  {symbol, side, type, price, size, tif, post_only, reduce_only, client_id}
    DELETE /orders?symbol=S&client_id=N            cancel one open order
    GET  /orders/open                              every open order of the account
    GET  /orders/history?page=P&limit=L            closed orders, newest first, paged ({orders, more})
    GET  /events?since=N&limit=L                   the account's order / fill / position events ({events, next, more})
    GET  /positions                                non-zero positions
    GET  /balance                                  cash and equity

Requests carry `X-Toy-Key`; errors are `{"code": .., "message": ..}` with HTTP 400 / 401 / 404.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from aiohttp import web

from xtb.sim.dialects import DialectSetup, SimDialect, SimMarket, VenueHandle
from xtb.sim.engine import Exchange
from xtb.sim.loopback import LoopbackServer
from xtb.sim.types import (
    ErrorCode,
    FillEvent,
    MarketSpec,
    OrderEvent,
    OrderRequest,
    OrderType,
    OrderView,
    PositionEvent,
    Side,
    SimError,
    TimeInForce,
    VenueRules,
)

NAME = "toy"  # the venue name (the connector's NAME)
MARKETS = (SimMarket("SOL", 0, "SOLUSDC", 2, 2, 1_000, 500), SimMarket("ETH", 1, "ETHUSDC", 2, 3, 1_000, 500))
RULES = VenueRules(name="toy", first_order_id=70_000_000)
MAX_PAGE = 50  # the most rows one history / events page returns


def _dec(value: int, decimals: int) -> str:
    return str(Decimal(value).scaleb(-decimals))


def _units(text: Any, decimals: int, what: str) -> int:
    code = ErrorCode.INVALID_QUANTITY if what == "size" else ErrorCode.INVALID_PRICE
    try:
        q = Decimal(str(text)).scaleb(decimals)
    except ArithmeticError:
        raise SimError(code, f"{what} is not a decimal number", what) from None
    if not q.is_finite() or q != q.to_integral_value():
        raise SimError(code, f"{what} has more than {decimals} decimals", what)
    return int(q)


class ToyVenue:
    """Accounts (API key -> account), and each account's event log, over one matching engine."""

    def __init__(self, engine: Exchange) -> None:
        self.engine = engine
        self.keys: dict[str, int] = {}
        self.events: dict[int, list[dict[str, Any]]] = {}
        engine.subscribe(self._on_event)

    def _log(self, account: int, event: dict[str, Any]) -> None:
        log = self.events.get(account)
        if log is not None:
            log.append(event)

    def _on_event(self, ev: Any) -> None:
        if isinstance(ev, OrderEvent):
            self._log(ev.order.account, {"type": "order", **self.order_row(ev.order)})
        elif isinstance(ev, FillEvent):
            f = ev.fill
            spec = self.engine.market(f.market)
            self._log(f.account, {"type": "fill", "trade_id": f.trade_id, "symbol": spec.symbol,
                                  "client_id": f.client_id, "order_id": str(f.order_id),
                                  "price": _dec(f.price, spec.price_decimals),
                                  "size": _dec(f.quantity, spec.size_decimals),
                                  "fee": str(Decimal(f.fee).scaleb(-self.engine.rules.cash_decimals)),
                                  "maker": f.is_maker})
        elif isinstance(ev, PositionEvent):
            self._log(ev.position.account, {"type": "position", **self.position_row(ev.position)})

    def order_row(self, o: OrderView) -> dict[str, Any]:
        spec = self.engine.market(o.market)
        return {"order_id": str(o.order_id), "client_id": o.client_id, "symbol": spec.symbol,
                "side": "buy" if o.side is Side.BUY else "sell", "status": o.status.value,
                "price": None if o.price is None else _dec(o.price, spec.price_decimals),
                "size": _dec(o.quantity, spec.size_decimals), "filled": _dec(o.filled, spec.size_decimals),
                "post_only": o.post_only, "reduce_only": o.reduce_only, "tif": o.time_in_force.value}

    def position_row(self, p: Any) -> dict[str, Any]:
        spec = self.engine.market(p.market)
        entry = p.entry_price(spec, self.engine.rules.cash_decimals) if p.size else None
        return {"symbol": spec.symbol, "size": _dec(p.size, spec.size_decimals),
                "entry_price": "0" if entry is None else str(entry.quantize(Decimal(1).scaleb(-spec.price_decimals)))}


class ToyServer(LoopbackServer):
    def __init__(self, venue: ToyVenue, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.venue = venue
        self.app = web.Application()
        r = self.app.router
        r.add_get("/markets", self._markets)
        r.add_get("/depth", self._depth)
        r.add_post("/orders", self._place)
        r.add_delete("/orders", self._cancel)
        r.add_get("/orders/open", self._open)
        r.add_get("/orders/history", self._history)
        r.add_get("/events", self._events)
        r.add_get("/positions", self._positions)
        r.add_get("/balance", self._balance)

    # the cluster's socket hooks: this dialect has no sockets
    def drop_sockets(self) -> int:
        return 0

    def stall_sockets(self, seconds: float) -> None:
        return None

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message}, status=status)

    def _account(self, request: web.Request) -> int | None:
        return self.venue.keys.get(request.headers.get("X-Toy-Key", ""))

    def _spec(self, symbol: str | None) -> MarketSpec:
        return self.venue.engine.market_by_symbol(symbol or "")

    async def _markets(self, request: web.Request) -> web.Response:
        return web.json_response([
            {"symbol": m.symbol, "price_decimals": m.price_decimals, "size_decimals": m.size_decimals,
             "tick": "1", "step": "1", "min_size": "1"}
            for m in self.venue.engine.markets
        ])

    async def _depth(self, request: web.Request) -> web.Response:
        try:
            spec = self._spec(request.query.get("symbol"))
        except SimError as e:
            return self._error(404, e.code.name, e.message)
        snap = self.venue.engine.book_snapshot(spec.market_id, 50)
        return web.json_response({
            "seq": snap.seq,
            "bids": [[_dec(lv.price, spec.price_decimals), _dec(lv.size, spec.size_decimals)] for lv in snap.bids],
            "asks": [[_dec(lv.price, spec.price_decimals), _dec(lv.size, spec.size_decimals)] for lv in snap.asks],
        })

    async def _place(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._error(401, "UNAUTHORIZED", "unknown API key")
        body = await request.json()
        try:
            spec = self._spec(body.get("symbol"))
            market = body.get("type") == "market"
            req = OrderRequest(
                account=account, market=spec.market_id, side=Side.BUY if body.get("side") == "buy" else Side.SELL,
                quantity=_units(body.get("size"), spec.size_decimals, "size"),
                price=_units(body.get("price"), spec.price_decimals, "price") if body.get("price") else None,
                order_type=OrderType.MARKET if market else OrderType.LIMIT,
                time_in_force=TimeInForce(body.get("tif", "gtc")), post_only=bool(body.get("post_only")),
                reduce_only=bool(body.get("reduce_only")), client_id=int(body["client_id"]),
            )
            view = self.venue.engine.place_order(req)
        except (KeyError, ValueError, TypeError) as e:
            return self._error(400, "BAD_REQUEST", f"malformed order: {e}")
        except SimError as e:
            return self._error(400, e.code.name, e.message)
        return web.json_response(self.venue.order_row(view))

    async def _cancel(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._error(401, "UNAUTHORIZED", "unknown API key")
        try:
            spec = self._spec(request.query.get("symbol"))
            view = self.venue.engine.cancel_order(account, spec.market_id, client_id=int(request.query["client_id"]))
        except SimError as e:
            return self._error(404 if e.code.name == "ORDER_NOT_FOUND" else 400, e.code.name, e.message)
        return web.json_response(self.venue.order_row(view))

    async def _open(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._error(401, "UNAUTHORIZED", "unknown API key")
        return web.json_response([self.venue.order_row(o) for o in self.venue.engine.open_orders(account)])

    @staticmethod
    def _page(request: web.Request) -> tuple[int, int]:
        return int(request.query.get("page", 0)), min(int(request.query.get("limit", MAX_PAGE)), MAX_PAGE)

    async def _history(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._error(401, "UNAUTHORIZED", "unknown API key")
        page, limit = self._page(request)
        rows = list(reversed(self.venue.engine.order_history(account)))
        chunk = rows[page * limit:(page + 1) * limit]
        return web.json_response({"orders": [self.venue.order_row(o) for o in chunk],
                                  "more": (page + 1) * limit < len(rows)})

    async def _events(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._error(401, "UNAUTHORIZED", "unknown API key")
        since = int(request.query.get("since", 0))
        limit = min(int(request.query.get("limit", MAX_PAGE)), MAX_PAGE)
        log = self.venue.events[account]
        chunk = log[since:since + limit]
        return web.json_response({"events": chunk, "next": since + len(chunk), "more": since + len(chunk) < len(log)})

    async def _positions(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._error(401, "UNAUTHORIZED", "unknown API key")
        return web.json_response([self.venue.position_row(p) for p in self.venue.engine.positions(account)])

    async def _balance(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return self._error(401, "UNAUTHORIZED", "unknown API key")
        b = self.venue.engine.balance(account)
        scale = self.venue.engine.rules.cash_decimals
        return web.json_response({"cash": _dec(b.cash, scale), "equity": _dec(b.equity, scale),
                                  "available": _dec(b.available, scale)})


def open_venue(setup: DialectSetup) -> VenueHandle:
    ex = Exchange(RULES, setup.clock)
    for m in setup.markets:
        ex.add_market(MarketSpec(market_id=m.market_id, symbol=m.symbol, price_decimals=m.price_decimals,
                                 size_decimals=m.size_decimals))
    venue = ToyVenue(ex)
    return VenueHandle(NAME, ex, ToyServer(venue), venue, setup.markets)


def open_account(handle: VenueHandle, collateral: int = 100_000) -> tuple[str, int]:
    """A funded account and a fresh API key for it: (api key, account id)."""
    ex = handle.exchange
    account = ex.create_account(collateral * 10**ex.rules.cash_decimals)
    key = secrets.token_hex(16)
    handle.protocol.keys[key] = account
    handle.protocol.events[account] = []
    return key, account


DIALECT = SimDialect(NAME, MARKETS, open_venue, open_account)
