"""GRVT's view of the simulated venue: JSON-RPC-style request bodies -> engine calls, engine state -> GRVT
objects (Instrument, Order with `state`, Fill, Positions, SubAccount, book levels, tickers, trades), and
engine events -> stream messages for the `v1.*` feeds.

Holds what is GRVT-specific and not the engine's business: sub-account ids (uint64) <-> engine accounts,
the signature and metadata each order arrived with, client-order-id cancel tombstones (`time_to_live_ms`),
fill history with cursors. Signature and session checks live in `auth.py`; field names follow
docs/venues/grvt.md and the official SDK's types.
"""

from __future__ import annotations

import base64
import itertools
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from xtb.sim.engine import Exchange
from xtb.sim.grvt.auth import PRICE_DECIMALS, GrvtError, Instrument, VerifiedOrder, err
from xtb.sim.types import (
    BookDelta,
    ErrorCode,
    Fill,
    FillEvent,
    FundingEvent,
    MarketSpec,
    OrderEvent,
    OrderEventKind,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderView,
    PositionEvent,
    Reason,
    Side,
    SimError,
    TimeInForce,
    TradeEvent,
)

BASE_DECIMALS = 9  # every GRVT perpetual signs sizes with 9 decimals (the SDK's BTC/ETH multiplier)
HISTORY_LIMIT = 1000  # per-page cap of order_history / fill_history (the venue's max)
FILL_HISTORY_KEPT = 10_000  # fills kept per sub-account
ORDER_META_KEPT = 20_000  # signatures/metadata of orders kept for rendering (oldest forgotten first)
PUBLIC_TRADES_KEPT = 1000  # per instrument
CANCEL_TTL_KEPT = 10_000  # pending cancel-by-client-id tombstones before lapsed ones are swept

TIF_NAMES = {1: "GOOD_TILL_TIME", 2: "ALL_OR_NONE", 3: "IMMEDIATE_OR_CANCEL", 4: "FILL_OR_KILL"}
TIF_ENGINE = {1: TimeInForce.GTC, 3: TimeInForce.IOC, 4: TimeInForce.FOK}
TIF_CODE = {v: k for k, v in TIF_ENGINE.items()}
#: why an order ended -> GRVT's reject_reason
REASON_OUT = {
    Reason.NONE: "UNSPECIFIED",
    Reason.USER_CANCEL: "CLIENT_CANCEL",
    Reason.CANCEL_ALL: "CLIENT_BULK_CANCEL",
    Reason.DISCONNECT: "CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED",
    Reason.IMMEDIATE_OR_CANCEL: "IOC_CANCEL",
    Reason.FILL_OR_KILL: "FOK_CANCEL",
    Reason.POST_ONLY_TAKER: "FAIL_POST_ONLY",
    Reason.REDUCE_ONLY: "FAIL_REDUCE_ONLY",
    Reason.SELF_TRADE: "SELF_TRADE_PROTECTION",
    Reason.INSUFFICIENT_LIQUIDITY: "MARKET_CANCEL",
    Reason.EXPIRED_TIME: "EXPIRED",
    Reason.MODIFIED: "CLIENT_REPLACE",
}
#: refusals that end an order before it ever rested: REJECTED rather than CANCELLED (the docs: CANCELLED
#: only once the order is open)
REJECT_REASONS = {Reason.POST_ONLY_TAKER, Reason.REDUCE_ONLY}

_ENGINE_ERRORS: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.UNKNOWN_MARKET: (2061, "Order instrument is unsupported"),
    ErrorCode.MARKET_CLOSED: (2060, "Order instrument is inactive"),
    ErrorCode.PRICE_NOT_ON_TICK: (2064, "Invalid limit price tick"),
    ErrorCode.PRICE_DECIMALS_TOO_LONG: (2064, "Invalid limit price tick"),
    ErrorCode.INVALID_PRICE: (2064, "Invalid limit price tick"),
    ErrorCode.PRICE_OUT_OF_RANGE: (2064, "Invalid limit price tick"),
    ErrorCode.PRICE_OUT_OF_BAND: (2064, "Invalid limit price tick"),
    ErrorCode.QUANTITY_NOT_ON_STEP: (2065, "Order size too granular"),
    ErrorCode.QUANTITY_DECIMALS_TOO_LONG: (2065, "Order size too granular"),
    ErrorCode.QUANTITY_BELOW_MIN: (2062, "Order size smaller than min size"),
    ErrorCode.INVALID_QUANTITY: (2062, "Order size smaller than min size"),
    ErrorCode.QUANTITY_ABOVE_MAX: (2081, "Order would exceed the max position size"),
    ErrorCode.NOTIONAL_BELOW_MIN: (2066, "Order below minimum notional"),
    ErrorCode.INSUFFICIENT_MARGIN: (2080, "Insufficient margin to place the order"),
    ErrorCode.DUPLICATE_CLIENT_ID: (2012, "Client Order ID is already in use by an active order"),
    ErrorCode.TOO_MANY_OPEN_ORDERS_MARKET: (2090, "Max open orders exceeded"),
    ErrorCode.TOO_MANY_OPEN_ORDERS_ACCOUNT: (2090, "Max open orders exceeded"),
    ErrorCode.REDUCE_ONLY_WOULD_INCREASE: (2401, "Reduce only order would increase the position"),
    ErrorCode.POST_ONLY_WOULD_CROSS: (2032, "Post only order would cross"),
}


def engine_error(exc: SimError) -> GrvtError:
    code, message = _ENGINE_ERRORS.get(exc.code, (1003, f"Request could not be processed: {exc.message}"))
    return err(code, message)


@dataclass(frozen=True)
class StreamMessage:
    """`stream` is a GRVT feed name without the version ("book.d", "trade", "order", "fill", ...);
    `instrument` its instrument, `sub_account_id` set for private feeds."""

    stream: str
    instrument: str
    sub_account_id: int | None
    feed: dict[str, Any]


@dataclass
class _OrderMeta:
    sub_account_id: int
    signature: dict[str, Any]
    time_in_force: int
    is_market: bool
    created_ns: int


def order_id_text(order_id: int) -> str:
    return f"0x{order_id:032x}"


def _fmt(d: Decimal) -> str:
    if not d:
        return "0"
    text = format(d.normalize(), "f")
    return text


class GrvtVenue:
    def __init__(self, engine: Exchange, instruments: dict[str, tuple[str, int]]) -> None:
        """`instruments`: symbol -> (instrument_hash, min_size in engine quantity units)."""
        self.engine = engine
        self.cash_decimals = engine.rules.cash_decimals
        self._specs: dict[str, MarketSpec] = {s.symbol: s for s in engine.markets}
        self._by_market: dict[int, MarketSpec] = {s.market_id: s for s in self._specs.values()}
        self._hash = {sym: h for sym, (h, _) in instruments.items()}
        self._min_size = {sym: m for sym, (_, m) in instruments.items()}
        self.auth_instruments: dict[str, Instrument] = {}
        for sym, spec in self._specs.items():
            per_unit = 10 ** (BASE_DECIMALS - spec.size_decimals)
            self.auth_instruments[sym] = Instrument(
                sym, self._hash[sym], BASE_DECIMALS,
                tick_1e9=spec.tick * 10 ** (PRICE_DECIMALS - spec.price_decimals),
                min_size=self._min_size[sym] * per_unit,
            )  # fmt: skip
        self._sub_to_account: dict[int, int] = {}
        self._account_to_sub: dict[int, int] = {}
        self._meta: OrderedDict[int, _OrderMeta] = OrderedDict()
        self._fills: dict[int, deque[tuple[int, dict[str, Any]]]] = {}  # sub -> (sequence, Fill)
        self._realized: dict[tuple[int, int], int] = {}
        self._fees: dict[tuple[int, int], int] = {}
        self._fill_seq = itertools.count(1)
        self._cancel_ttl: dict[tuple[int, int], int] = {}  # (sub, client id) -> until ns
        self._listeners: list[Callable[[StreamMessage], None]] = []
        self._trade_seq = itertools.count(1)
        self._last_trade: dict[int, tuple[int, int]] = {}  # market -> (price, size)
        self._public_trades: dict[int, deque[tuple[int, dict[str, Any]]]] = {}  # market -> (trade id, Trade)
        self._funding: dict[int, deque[tuple[int, dict[str, Any]]]] = {}  # sub -> (sequence, FundingPayment)
        self._leverage: dict[tuple[int, str], int] = {}
        engine.subscribe(self._on_event)

    # ------------------------------------------------------------------ accounts and instruments

    def add_sub_account(self, sub_account_id: int, account: int) -> None:
        if sub_account_id in self._sub_to_account:
            raise ValueError(f"sub-account {sub_account_id} already exists")
        self._sub_to_account[sub_account_id] = account
        self._account_to_sub[account] = sub_account_id

    def account_of(self, sub_account_id: Any) -> int:
        try:
            sub = int(str(sub_account_id))
        except ValueError:
            raise err(1003, "Request could not be processed due to malformed syntax: sub_account_id") from None
        account = self._sub_to_account.get(sub)
        if account is None:
            raise err(1004, "Data Not Found: sub_account_id")
        return account

    def sub_of(self, account: int) -> int | None:
        return self._account_to_sub.get(account)

    def add_stream_listener(self, listener: Callable[[StreamMessage], None]) -> None:
        self._listeners.append(listener)

    def spec(self, instrument: Any) -> MarketSpec:
        spec = self._specs.get(str(instrument)) if instrument is not None else None
        if spec is None:
            raise err(1004, f"Data Not Found: instrument {instrument!r}")
        return spec

    def symbols(self) -> list[str]:
        return list(self._specs)

    def instrument(self, symbol: str) -> dict[str, Any]:
        spec = self.spec(symbol)
        base, quote, _ = symbol.split("_", 2)
        return {
            "instrument": symbol, "instrument_hash": self._hash[symbol], "base": base, "quote": quote,
            "kind": "PERPETUAL", "venues": ["ORDERBOOK"], "settlement_period": "PERPETUAL",
            "base_decimals": BASE_DECIMALS, "quote_decimals": 6,
            "tick_size": spec.format_price(spec.tick), "min_size": spec.format_quantity(self._min_size[symbol]),
            "create_time": "1697788800000000000",
            "max_position_size": spec.format_quantity(spec.max_quantity or 10 ** (6 + spec.size_decimals)),
            "funding_interval_hours": spec.funding_interval_ns // (3600 * 10**9),
            "adjusted_funding_rate_cap": _fmt(Decimal(spec.funding_rate_cap_ppm).scaleb(-4)),
            "adjusted_funding_rate_floor": _fmt(-Decimal(spec.funding_rate_cap_ppm).scaleb(-4)),
            "min_notional": self._cash(spec.min_notional),
        }  # fmt: skip

    def instruments(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """`instruments` / `all_instruments`: filters kind/base/quote (lists), is_active, limit."""
        out = []
        kinds, bases, quotes = (_list(params.get(k)) for k in ("kind", "base", "quote"))
        for symbol in self._specs:
            row = self.instrument(symbol)
            if (kinds and "PERPETUAL" not in kinds) or (bases and row["base"] not in bases) or \
                    (quotes and row["quote"] not in quotes):  # fmt: skip
                continue
            out.append(row)
        limit = params.get("limit")
        return out[: int(limit)] if isinstance(limit, int) and limit > 0 else out

    def _matches(self, symbol: str, params: dict[str, Any]) -> bool:
        base, quote, _ = symbol.split("_", 2)
        kinds, bases, quotes = (_list(params.get(k)) for k in ("kind", "base", "quote"))
        return not ((kinds and "PERPETUAL" not in kinds) or (bases and base not in bases)
                    or (quotes and quote not in quotes))  # fmt: skip

    # ------------------------------------------------------------------ formatting

    def _cash(self, amount: int) -> str:
        return _fmt(Decimal(amount).scaleb(-self.cash_decimals))

    def _price_of_cash(self, spec: MarketSpec, cash: int, qty: int) -> str:
        if not qty:
            return "0"
        scale = Decimal(self.engine.cash_scale(spec.market_id))
        return _fmt((Decimal(cash) / scale / Decimal(qty)).scaleb(-spec.price_decimals)
                    .quantize(Decimal(1).scaleb(-PRICE_DECIMALS)))  # fmt: skip

    def _px(self, spec: MarketSpec, price: int | None) -> str:
        return spec.format_price(price) if price is not None else "0"

    # ------------------------------------------------------------------ market data

    def levels(self, spec: MarketSpec, depth: int | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        bids, asks = self.engine.book_orders(spec.market_id, None)
        return self._agg(spec, bids, depth, True), self._agg(spec, asks, depth, False)

    def _agg(self, spec: MarketSpec, orders: list[OrderView], depth: int | None, bids: bool) -> list[dict[str, Any]]:
        by_price: dict[int, list[int]] = {}
        for o in orders:
            if o.price is None:
                continue
            level = by_price.setdefault(o.price, [0, 0])
            level[0] += o.remaining
            level[1] += 1
        prices = sorted(by_price, reverse=bids)
        if depth is not None:
            prices = prices[:depth]
        return [{"price": spec.format_price(p), "size": spec.format_quantity(by_price[p][0]),
                 "num_orders": by_price[p][1]} for p in prices]  # fmt: skip

    def book(self, params: dict[str, Any], now_ns: int) -> dict[str, Any]:
        spec = self.spec(params.get("instrument"))
        depth = params.get("depth", 10)
        try:
            depth = int(depth)
        except (TypeError, ValueError):
            raise err(1003, "Request could not be processed due to malformed syntax: depth") from None
        if depth not in (10, 50, 100, 500):
            raise err(3031, "Depth is invalid: must be one of 10, 50, 100, 500")
        bids, asks = self.levels(spec, depth)
        return {"event_time": str(now_ns), "instrument": spec.symbol, "bids": bids, "asks": asks}

    def mini_ticker(self, symbol: str, now_ns: int) -> dict[str, Any]:
        spec = self.spec(symbol)
        bid, ask = self.engine.best_bid_ask(spec.market_id)
        snap = self.engine.book_snapshot(spec.market_id, 1)
        last = self._last_trade.get(spec.market_id)
        mark = self.engine.mark_price(spec.market_id)
        index = self.engine.index_price(spec.market_id)
        return {
            "event_time": str(now_ns), "instrument": symbol,
            "mark_price": self._px(spec, mark), "index_price": self._px(spec, index),
            "last_price": self._px(spec, last[0] if last else None),
            "last_size": spec.format_quantity(last[1]) if last else "0",
            "mid_price": _fmt(Decimal(bid + ask).scaleb(-spec.price_decimals) / 2)
            if bid is not None and ask is not None else "0",
            "best_bid_price": self._px(spec, bid),
            "best_bid_size": spec.format_quantity(snap.bids[0].size) if snap.bids else "0",
            "best_ask_price": self._px(spec, ask),
            "best_ask_size": spec.format_quantity(snap.asks[0].size) if snap.asks else "0",
        }  # fmt: skip

    def ticker(self, symbol: str, now_ns: int) -> dict[str, Any]:
        spec = self.spec(symbol)
        row = self.mini_ticker(symbol, now_ns)
        rate = _fmt(Decimal(self.engine.funding_rate(spec.market_id)).scaleb(-4))  # ppm -> percent
        row.update({
            "funding_rate_8h_curr": rate, "funding_rate_8h_avg": rate, "funding_rate": rate,
            "next_funding_time": str(self.engine.next_funding_ns(spec.market_id)),
            "interest_rate": "0", "forward_price": "0",
            "buy_volume_24h_b": "0", "sell_volume_24h_b": "0", "buy_volume_24h_q": "0", "sell_volume_24h_q": "0",
            "high_price": row["last_price"], "low_price": row["last_price"], "open_price": row["last_price"],
            "open_interest": "0", "long_short_ratio": "1",
        })  # fmt: skip
        return row

    def funding_rates(self, params: dict[str, Any], now_ns: int) -> dict[str, Any]:
        """`funding`: the current estimate as the one entry the simulator keeps (no settled history)."""
        spec = self.spec(params.get("instrument"))
        rate = _fmt(Decimal(self.engine.funding_rate(spec.market_id)).scaleb(-4))
        mark = self.engine.mark_price(spec.market_id)
        return {"result": [{"instrument": spec.symbol, "funding_rate": rate, "funding_time": str(now_ns),
                            "mark_price": self._px(spec, mark), "funding_rate_8_h_avg": rate}], "next": ""}

    def recent_trades(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        spec = self.spec(params.get("instrument"))
        limit = _limit(params.get("limit"), 500)
        return [t for _, t in reversed(self._public_trades.get(spec.market_id, ()))][:limit]

    def trade_history(self, params: dict[str, Any]) -> dict[str, Any]:
        spec = self.spec(params.get("instrument"))
        start, end = _time(params.get("start_time")), _time(params.get("end_time"))
        rows = [(n, t) for n, t in reversed(self._public_trades.get(spec.market_id, ()))
                if (start is None or int(t["event_time"]) >= start) and (end is None or int(t["event_time"]) <= end)]
        page, nxt = _page(rows, params, 500)
        return {"result": page, "next": nxt}

    # ------------------------------------------------------------------ leverage and funding

    def leverages(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        account = self.account_of(params.get("sub_account_id"))
        sub = self._account_to_sub[account]
        top = 1_000_000 // max(1, min(s.initial_margin_ppm for s in self._specs.values()))
        return [{"instrument": sym, "leverage": str(self._leverage.get((sub, sym), self.engine.rules.default_leverage)),
                 "min_leverage": "1", "max_leverage": str(1_000_000 // max(1, spec.initial_margin_ppm) or top)}
                for sym, spec in self._specs.items()]  # fmt: skip

    def set_leverage(self, params: dict[str, Any]) -> bool:
        account = self.account_of(params.get("sub_account_id"))
        spec = self.spec(params.get("instrument"))
        try:
            lev = int(Decimal(str(params.get("leverage"))))
        except ArithmeticError:
            raise err(1003, "Request could not be processed due to malformed syntax: leverage") from None
        if not 1 <= lev <= 1_000_000 // max(1, spec.initial_margin_ppm):
            raise err(1003, f"Request could not be processed: leverage {lev} out of range")
        self._leverage[(self._account_to_sub[account], spec.symbol)] = lev
        # the engine's leverage is per account: the most recent setting applies to every market
        self.engine.account_config(account).leverage = lev
        return True

    def funding_payments(self, params: dict[str, Any]) -> dict[str, Any]:
        account = self.account_of(params.get("sub_account_id"))
        sub = self._account_to_sub[account]
        instrument = params.get("instrument")
        rows = [(n, f) for n, f in reversed(self._funding.get(sub, ()))
                if instrument in (None, "") or f["instrument"] == instrument]
        page, nxt = _page(rows, params, 500)
        return {"result": page, "next": nxt}

    def cancel_on_disconnect(self, sub_account_id: int) -> None:
        """The dead-man switch fired: every open order of the sub-account ends."""
        account = self._sub_to_account.get(sub_account_id)
        if account is not None:
            self.engine.cancel_all(account, None, Reason.DISCONNECT)

    # ------------------------------------------------------------------ orders

    def duplicate_ack(self, order: dict[str, Any], now_ns: int) -> dict[str, Any]:
        """A repeated payload + nonce: acknowledged and ignored (no second order)."""
        ack = dict(order)
        ack["order_id"] = "0x00"
        return ack

    def create(self, order: dict[str, Any], v: VerifiedOrder, now_ns: int) -> dict[str, Any]:
        """Place a verified order; the reply is the venue's acknowledgement: the order echoed with the
        placeholder order id "0x00" and state PENDING (the outcome follows on v1.order / `order`)."""
        account = self.account_of(v.sub_account_id)
        spec = self.spec(v.instrument.name)
        until = self._cancel_ttl.pop((v.sub_account_id, v.client_order_id), None)
        size = v.size // 10 ** (BASE_DECIMALS - spec.size_decimals)
        if v.size % 10 ** (BASE_DECIMALS - spec.size_decimals):
            raise err(2065, "Order size too granular")
        price = None
        if not v.is_market:
            unit = 10 ** (PRICE_DECIMALS - spec.price_decimals)
            if v.price % unit:
                raise err(2064, "Invalid limit price tick")
            price = v.price // unit
        ack = self._echo(order, v, now_ns)
        if until is not None and until >= now_ns:
            # a cancel by client_order_id with time_to_live_ms arrived first: the order dies on arrival
            ack["state"]["status"] = "REJECTED"
            ack["state"]["reject_reason"] = "CLIENT_CANCEL"
            return ack
        request = OrderRequest(
            account=account,
            market=spec.market_id,
            side=Side.BUY if v.is_buy else Side.SELL,
            quantity=size,
            price=price,
            order_type=OrderType.MARKET if v.is_market else OrderType.LIMIT,
            time_in_force=TIF_ENGINE[v.time_in_force],
            post_only=v.post_only,
            reduce_only=v.reduce_only,
            client_id=v.client_order_id,
        )
        # the metadata must be known before the engine's events render the order
        meta = _OrderMeta(v.sub_account_id, dict(order.get("signature") or {}), v.time_in_force, v.is_market, now_ns)
        self._pending_meta = meta
        try:
            self.engine.place_order(request)
        except SimError as exc:
            raise engine_error(exc) from None
        finally:
            self._pending_meta = None
            self._release_accepted(None)
        return ack

    _pending_meta: _OrderMeta | None = None

    def _echo(self, order: dict[str, Any], v: VerifiedOrder, now_ns: int) -> dict[str, Any]:
        leg = dict(order["legs"][0])
        return {
            "order_id": "0x00", "sub_account_id": str(v.sub_account_id), "is_market": v.is_market,
            "time_in_force": TIF_NAMES[v.time_in_force], "post_only": v.post_only, "reduce_only": v.reduce_only,
            "legs": [{"instrument": leg.get("instrument"), "size": str(leg.get("size")),
                      "limit_price": str(leg.get("limit_price") or "0"),
                      "is_buying_asset": v.is_buy}],
            "signature": order.get("signature"),
            "metadata": {"client_order_id": str(v.client_order_id), "create_time": str(now_ns)},
            "state": {"status": "PENDING", "reject_reason": "UNSPECIFIED", "book_size": [str(leg.get("size"))],
                      "traded_size": ["0"], "update_time": str(now_ns), "avg_fill_price": ["0"]},
        }  # fmt: skip

    def render(self, o: OrderView) -> dict[str, Any]:
        spec = self._by_market[o.market]
        meta = self._meta.get(o.order_id)
        sub = self._account_to_sub.get(o.account, 0)
        if o.status.is_open:
            status = "OPEN"
        elif o.status is OrderStatus.FILLED:
            status = "FILLED"
        elif o.reason in REJECT_REASONS and not o.filled:
            status = "REJECTED"
        else:
            status = "CANCELLED"
        reason = "UNSPECIFIED" if o.status.is_open or status == "FILLED" else REASON_OUT.get(o.reason, "UNSPECIFIED")
        if reason == "IOC_CANCEL" and o.order_type is OrderType.MARKET:
            reason = "MARKET_CANCEL"
        tif = meta.time_in_force if meta else TIF_CODE[o.time_in_force]
        book = o.remaining if o.status.is_open else 0
        return {
            "order_id": order_id_text(o.order_id), "sub_account_id": str(sub),
            "is_market": o.order_type is OrderType.MARKET, "time_in_force": TIF_NAMES[tif],
            "post_only": o.post_only, "reduce_only": o.reduce_only,
            "legs": [{"instrument": spec.symbol, "size": spec.format_quantity(o.quantity),
                      "limit_price": self._px(spec, o.price), "is_buying_asset": o.side is Side.BUY}],
            "signature": meta.signature if meta else {},
            "metadata": {"client_order_id": str(o.client_id or 0), "create_time": str(o.created_ns)},
            "state": {"status": status, "reject_reason": reason, "book_size": [spec.format_quantity(book)],
                      "traded_size": [spec.format_quantity(o.filled)], "update_time": str(o.updated_ns),
                      "avg_fill_price": [self._price_of_cash(spec, o.filled_cash, o.filled)]},
        }  # fmt: skip

    def _find(self, account: int, params: dict[str, Any]) -> OrderView | None:
        oid, cid = params.get("order_id"), params.get("client_order_id")
        if oid in (None, "", "0x00") and cid in (None, ""):
            raise err(3021, "Either order_id or client_order_id must be supplied")
        order_id = client_id = None
        try:
            if oid not in (None, "", "0x00"):
                order_id = int(str(oid), 16)
            else:
                client_id = int(str(cid))
        except ValueError:
            raise err(1003, "Request could not be processed due to malformed syntax: order_id") from None
        for market in self._by_market:
            try:
                return self.engine.get_order(account, market, order_id=order_id, client_id=client_id)
            except SimError:
                continue
        return None

    def get_order(self, params: dict[str, Any]) -> dict[str, Any]:
        account = self.account_of(params.get("sub_account_id"))
        view = self._find(account, params)
        if view is None:
            raise err(1004, "Data Not Found")
        return self.render(view)

    def cancel(self, params: dict[str, Any], now_ns: int) -> dict[str, Any]:
        """Acknowledged at once; the end state arrives on v1.order. An order not found by client_order_id
        leaves a tombstone for `time_to_live_ms` (default 100 ms) that kills a create arriving later."""
        account = self.account_of(params.get("sub_account_id"))
        view = self._find(account, params)
        if view is not None and view.is_open:
            self.engine.cancel_order(account, view.market, order_id=view.order_id)
        elif view is None and params.get("client_order_id") not in (None, ""):
            try:
                ttl = int(str(params.get("time_to_live_ms") or 100))
            except ValueError:
                raise err(1003, "Request could not be processed due to malformed syntax: time_to_live_ms") from None
            if ttl > 0:
                if len(self._cancel_ttl) >= CANCEL_TTL_KEPT:  # forget lapsed tombstones (memory stays flat)
                    self._cancel_ttl = {k: t for k, t in self._cancel_ttl.items() if t >= now_ns}
                sub = int(str(params["sub_account_id"]))
                self._cancel_ttl[(sub, int(str(params["client_order_id"])))] = now_ns + ttl * 1_000_000
        return {"ack": True}

    def cancel_all(self, params: dict[str, Any]) -> dict[str, Any]:
        account = self.account_of(params.get("sub_account_id"))
        for spec in self._specs.values():
            if self._matches(spec.symbol, params):
                self.engine.cancel_all(account, spec.market_id)
        return {"ack": True}

    def open_orders(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        account = self.account_of(params.get("sub_account_id"))
        return [self.render(o) for o in self.engine.open_orders(account)
                if self._matches(self._by_market[o.market].symbol, params)]  # fmt: skip

    def order_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """Orders that have ended (filled, cancelled, rejected), newest first, paged by an opaque cursor."""
        account = self.account_of(params.get("sub_account_id"))
        start, end = _time(params.get("start_time")), _time(params.get("end_time"))
        rows = [o for o in self.engine.order_history(account)
                if self._matches(self._by_market[o.market].symbol, params)
                and (start is None or o.created_ns >= start) and (end is None or o.created_ns <= end)]  # fmt: skip
        keyed = sorted(((o.order_id, o) for o in rows), key=lambda r: r[0], reverse=True)
        page, nxt = _page(keyed, params, 500)
        return {"result": [self.render(o) for o in page], "next": nxt}

    def fill_history(self, params: dict[str, Any]) -> dict[str, Any]:
        account = self.account_of(params.get("sub_account_id"))
        sub = self._account_to_sub[account]
        start, end = _time(params.get("start_time")), _time(params.get("end_time"))
        instrument = params.get("instrument")
        rows = [(n, f) for n, f in reversed(self._fills.get(sub, ()))
                if (instrument is None or f["instrument"] == instrument) and self._matches(f["instrument"], params)
                and (start is None or int(f["event_time"]) >= start)
                and (end is None or int(f["event_time"]) <= end)]  # fmt: skip
        page, nxt = _page(rows, params, 500)
        return {"result": page, "next": nxt}

    def positions(self, params: dict[str, Any], now_ns: int) -> list[dict[str, Any]]:
        account = self.account_of(params.get("sub_account_id"))
        return [self.position_row(account, p.market, now_ns) for p in self.engine.positions(account)
                if self._matches(self._by_market[p.market].symbol, params)]  # fmt: skip

    def position_row(self, account: int, market: int, now_ns: int) -> dict[str, Any]:
        spec = self._by_market[market]
        p = self.engine.position(account, market)
        entry = p.entry_price(spec, self.cash_decimals)
        notional = Decimal(0)
        if p.mark_price is not None:
            notional = Decimal(p.size).scaleb(-spec.size_decimals) * Decimal(p.mark_price).scaleb(-spec.price_decimals)
        fees = self._fees.get((account, market), 0)
        total = p.realized_pnl + p.unrealized_pnl
        cost = abs(p.cost) or 1
        return {
            "event_time": str(now_ns), "sub_account_id": str(self._account_to_sub.get(account, 0)),
            "instrument": spec.symbol, "size": spec.format_quantity(p.size), "notional": _fmt(notional),
            "entry_price": _fmt(entry.quantize(Decimal(1).scaleb(-PRICE_DECIMALS))) if entry is not None else "0",
            "exit_price": "0", "mark_price": self._px(spec, p.mark_price),
            "unrealized_pnl": self._cash(p.unrealized_pnl), "realized_pnl": self._cash(p.realized_pnl),
            "total_pnl": self._cash(total),
            "roi": _fmt((Decimal(total) / Decimal(cost) * 100).quantize(Decimal("0.0001"))),
            "quote_index_price": "1", "est_liquidation_price": "0",
            "leverage": str(self.engine.account_config(account).leverage or self.engine.rules.default_leverage),
            "cumulative_fee": self._cash(fees), "cumulative_realized_funding_payment": self._cash(-p.funding_paid),
            "margin_type": "CROSS",
        }  # fmt: skip

    def account_summary(self, params: dict[str, Any], now_ns: int) -> dict[str, Any]:
        account = self.account_of(params.get("sub_account_id"))
        bal = self.engine.balance(account)
        return {
            "event_time": str(now_ns), "sub_account_id": str(self._account_to_sub[account]),
            "margin_type": "SIMPLE_CROSS_MARGIN", "settle_currency": "USDT",
            "unrealized_pnl": self._cash(bal.equity - bal.cash), "total_equity": self._cash(bal.equity),
            "initial_margin": self._cash(bal.initial_margin), "maintenance_margin": self._cash(bal.initial_margin // 2),
            "available_balance": self._cash(max(bal.available, 0)),
            "spot_balances": [{"currency": "USDT", "balance": self._cash(bal.cash), "index_price": "1"}],
            "positions": [self.position_row(account, p.market, now_ns) for p in self.engine.positions(account)],
            "settle_index_price": "1", "derisk_margin": "0", "derisk_to_maintenance_margin_ratio": "1",
            "total_cross_equity": self._cash(bal.equity), "cross_unrealized_pnl": self._cash(bal.equity - bal.cash),
            "margin_balance": self._cash(bal.equity),
        }  # fmt: skip

    def funding_account_summary(self, account_id: str, subs: frozenset[int]) -> dict[str, Any]:
        """The funding (main) account holds nothing in the simulator: all collateral sits in sub-accounts."""
        return {"main_account_id": account_id, "total_equity": "0",
                "spot_balances": [{"currency": "USDT", "balance": "0", "index_price": "1"}],
                "tier": {"tier": 1, "futures_taker_fee": 450, "futures_maker_fee": -100}}  # fmt: skip

    def aggregated_summary(self, account_id: str, subs: frozenset[int]) -> dict[str, Any]:
        equity = sum(self.engine.balance(self._sub_to_account[s]).equity for s in subs if s in self._sub_to_account)
        return {"main_account_id": account_id, "total_equity": self._cash(equity),
                "spot_balances": [{"currency": "USDT", "balance": self._cash(equity), "index_price": "1"}]}

    # ------------------------------------------------------------------ engine events -> streams

    def _emit(self, stream: str, instrument: str, sub: int | None, feed: dict[str, Any]) -> None:
        msg = StreamMessage(stream, instrument, sub, feed)
        for listener in self._listeners:
            listener(msg)

    def _on_event(self, event: object) -> None:
        if isinstance(event, BookDelta):
            spec = self._by_market.get(event.market)
            if spec is not None:
                self._emit("book.delta", spec.symbol, None, {"delta": event})
        elif isinstance(event, TradeEvent):
            self._on_trade(event)
        elif isinstance(event, FillEvent):
            self._on_fill(event.fill)
        elif isinstance(event, OrderEvent):
            self._on_order(event)
        elif isinstance(event, FundingEvent):
            sub = self._account_to_sub.get(event.account)
            spec = self._by_market.get(event.market)
            if sub is not None and spec is not None:
                n = next(self._fill_seq)
                self._funding.setdefault(sub, deque(maxlen=FILL_HISTORY_KEPT)).append((n, {
                    "event_time": str(event.ts_ns), "sub_account_id": str(sub), "instrument": spec.symbol,
                    "currency": "USDT", "amount": self._cash(-event.amount), "tx_id": str(n),
                }))  # fmt: skip
        elif isinstance(event, PositionEvent):
            sub = self._account_to_sub.get(event.position.account)
            spec = self._by_market.get(event.position.market)
            if sub is not None and spec is not None:
                self._emit("position", spec.symbol, sub,
                           self.position_row(event.position.account, event.position.market, event.ts_ns))

    def _on_trade(self, t: TradeEvent) -> None:
        spec = self._by_market.get(t.market)
        if spec is None:
            return
        self._last_trade[t.market] = (t.price, t.quantity)
        mark, index = self.engine.mark_price(t.market), self.engine.index_price(t.market)
        row = {
            "event_time": str(t.ts_ns), "instrument": spec.symbol, "is_taker_buyer": t.taker_side is Side.BUY,
            "size": spec.format_quantity(t.quantity), "price": spec.format_price(t.price),
            "mark_price": self._px(spec, mark), "index_price": self._px(spec, index), "interest_rate": "0",
            "forward_price": "0", "trade_id": f"{t.trade_id}-1", "venue": "ORDERBOOK", "is_rpi": False,
        }  # fmt: skip
        self._public_trades.setdefault(t.market, deque(maxlen=PUBLIC_TRADES_KEPT)).append((t.trade_id, row))
        self._emit("trade", spec.symbol, None, row)

    def _on_fill(self, fill: Fill) -> None:
        sub = self._account_to_sub.get(fill.account)
        if sub is None:
            return  # the generator's liquidity accounts keep no history
        spec = self._by_market[fill.market]
        key = (fill.account, fill.market)
        before = self._realized.get(key, 0)
        p = self.engine.position(fill.account, fill.market)
        self._realized[key] = p.realized_pnl
        self._fees[key] = self._fees.get(key, 0) + fill.fee
        meta = self._meta.get(fill.order_id)
        notional = fill.price * fill.quantity * self.engine.cash_scale(fill.market)
        fee_rate = Decimal(fill.fee) / Decimal(notional) * 100 if notional else Decimal(0)
        mark, index = self.engine.mark_price(fill.market), self.engine.index_price(fill.market)
        row = {
            "event_time": str(fill.ts_ns), "sub_account_id": str(sub), "instrument": spec.symbol,
            "is_buyer": fill.side is Side.BUY, "is_taker": not fill.is_maker,
            "size": spec.format_quantity(fill.quantity), "price": spec.format_price(fill.price),
            "mark_price": self._px(spec, mark), "index_price": self._px(spec, index),
            "interest_rate": "0", "forward_price": "0",
            "realized_pnl": self._cash(p.realized_pnl - before), "fee": self._cash(fill.fee),
            "fee_rate": _fmt(fee_rate.quantize(Decimal("0.000001"))),
            "trade_id": f"{fill.trade_id}-1", "order_id": order_id_text(fill.order_id),
            "venue": "ORDERBOOK", "client_order_id": str(fill.client_id or 0),
            "signer": str(meta.signature.get("signer", "")) if meta else "", "is_rpi": False,
            "fee_currency": "USDT",
        }  # fmt: skip
        self._fills.setdefault(sub, deque(maxlen=FILL_HISTORY_KEPT)).append((next(self._fill_seq), row))
        self._emit("fill", spec.symbol, sub, row)

    def _on_order(self, e: OrderEvent) -> None:
        o = e.order
        sub = self._account_to_sub.get(o.account)
        if sub is None:
            return
        spec = self._by_market.get(o.market)
        if spec is None:
            return
        if o.order_id not in self._meta and self._pending_meta is not None:
            self._meta[o.order_id] = self._pending_meta
            if len(self._meta) > ORDER_META_KEPT:
                self._meta.popitem(last=False)
        row = self.render(o)
        if e.kind is OrderEventKind.ACCEPTED and self._pending_meta is not None:
            # held until the engine is done with the order: one refused before it could rest (post-only
            # crossing, reduce-only) is REJECTED without ever having been OPEN, as the venue documents
            self._accepted = (spec.symbol, sub, row)
            return
        self._release_accepted(row)
        self._emit_order_row(spec.symbol, sub, row)

    _accepted: tuple[str, int, dict[str, Any]] | None = None

    def _release_accepted(self, following: dict[str, Any] | None) -> None:
        held, self._accepted = self._accepted, None
        if held is None:
            return
        if following is not None and following["order_id"] == held[2]["order_id"] \
                and following["state"]["status"] == "REJECTED":
            return
        self._emit_order_row(*held)

    def _emit_order_row(self, symbol: str, sub: int, row: dict[str, Any]) -> None:
        self._emit("order", symbol, sub, row)
        self._emit("state", symbol, sub, {"order_id": row["order_id"],
                                          "client_order_id": row["metadata"]["client_order_id"],
                                          "order_state": row["state"]})


def _list(value: Any) -> list[str]:
    if value in (None, "", []):
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _limit(value: Any, default: int) -> int:
    try:
        limit = int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        raise err(1003, "Request could not be processed due to malformed syntax: limit") from None
    return max(1, min(limit, HISTORY_LIMIT))


def _time(value: Any) -> int | None:
    if value in (None, "", "0", 0):
        return None
    try:
        return int(str(value))
    except ValueError:
        raise err(1003, "Request could not be processed due to malformed syntax: start_time/end_time") from None


def _page(rows: list[tuple[int, Any]], params: dict[str, Any], default: int) -> tuple[list[Any], str]:
    """One page of `rows` ((key, item), newest = highest key first) after the cursor; `next` is "" at the
    end. The cursor names the last key served, so rows arriving between pages shift nothing."""
    try:
        limit = int(params.get("limit") or default)
    except (TypeError, ValueError):
        raise err(1003, "Request could not be processed due to malformed syntax: limit") from None
    limit = max(1, min(limit, HISTORY_LIMIT))
    cursor = params.get("cursor")
    if cursor:
        try:
            after = int(base64.urlsafe_b64decode(str(cursor).encode()).decode().removeprefix("k:"))
        except (ValueError, UnicodeDecodeError):
            raise err(1003, "Request could not be processed due to malformed syntax: cursor") from None
        rows = [r for r in rows if r[0] < after]
    page = rows[:limit]
    nxt = base64.urlsafe_b64encode(f"k:{page[-1][0]}".encode()).decode() if len(rows) > limit else ""
    return [item for _, item in page], nxt
