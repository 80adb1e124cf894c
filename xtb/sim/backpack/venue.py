"""Backpack's view of the simulated venue: request payloads -> engine calls, engine events -> streams.

Holds what is Backpack-specific and not the engine's business: API key -> account, symbol <-> market,
order/fill history for the `/wapi/v1/history/*` endpoints, last trade per symbol, and the translation of
engine events into stream payloads (`depth`, `bookTicker`, `trade`, `markPrice`, `account.*`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from xtb.sim.backpack import wire
from xtb.sim.backpack.errors import ApiError, bad_request, not_found
from xtb.sim.backpack.history import Page, Records, page
from xtb.sim.engine import Exchange
from xtb.sim.ticker import RollingTicker
from xtb.sim.types import (
    BookDelta,
    ErrorCode,
    FillEvent,
    FundingEvent,
    MarketSpec,
    MarkPriceEvent,
    OrderEvent,
    OrderEventKind,
    OrderRequest,
    OrderType,
    OrderView,
    PositionEvent,
    SimError,
    TimeInForce,
    TradeEvent,
)

UINT32_MAX = 2**32 - 1
HISTORY_LIMIT = 1000
# Published `maxPrice` (whole quote units) of a market whose spec sets none; limit prices above it are
# refused here, as the venue's price filter does.
DEFAULT_MAX_PRICE = 10_000_000
NOT_PERP = "Only perpetual futures markets are modelled by the simulator"

_ERRORS: dict[ErrorCode, tuple[int, str, str | None]] = {
    ErrorCode.UNKNOWN_MARKET: (400, "INVALID_CLIENT_REQUEST", "Invalid market symbol"),
    ErrorCode.MARKET_CLOSED: (400, "INVALID_MARKET", None),
    ErrorCode.PRICE_DECIMALS_TOO_LONG: (400, "INVALID_CLIENT_REQUEST", "Price decimal too long"),
    ErrorCode.QUANTITY_DECIMALS_TOO_LONG: (400, "INVALID_CLIENT_REQUEST", "Quantity decimal too long"),
    ErrorCode.PRICE_OUT_OF_BAND: (400, "INVALID_PRICE", "Price is too far from the last active price"),
    ErrorCode.INVALID_PRICE: (400, "INVALID_PRICE", None),
    ErrorCode.PRICE_NOT_ON_TICK: (400, "INVALID_PRICE", None),
    ErrorCode.PRICE_OUT_OF_RANGE: (400, "INVALID_PRICE", None),
    ErrorCode.INVALID_QUANTITY: (400, "INVALID_QUANTITY", None),
    ErrorCode.QUANTITY_NOT_ON_STEP: (400, "INVALID_QUANTITY", None),
    ErrorCode.QUANTITY_BELOW_MIN: (400, "INVALID_QUANTITY", None),
    ErrorCode.QUANTITY_ABOVE_MAX: (400, "INVALID_QUANTITY", None),
    ErrorCode.NOTIONAL_BELOW_MIN: (400, "INVALID_QUANTITY", None),
    ErrorCode.INVALID_ORDER: (400, "INVALID_ORDER", None),
    ErrorCode.DUPLICATE_CLIENT_ID: (400, "INVALID_ORDER", None),
    ErrorCode.ORDER_NOT_FOUND: (400, "INVALID_CLIENT_REQUEST", "Order not found"),
    ErrorCode.NOT_ORDER_OWNER: (400, "INVALID_CLIENT_REQUEST", "Order not found"),
    ErrorCode.TOO_MANY_OPEN_ORDERS_MARKET: (400, "ORDER_LIMIT", None),
    ErrorCode.TOO_MANY_OPEN_ORDERS_ACCOUNT: (400, "ORDER_LIMIT", None),
    ErrorCode.INSUFFICIENT_MARGIN: (400, "INSUFFICIENT_MARGIN", "Insufficient margin"),
    ErrorCode.REDUCE_ONLY_WOULD_INCREASE: (400, "INVALID_ORDER", "Reduce only order not reduced"),
    ErrorCode.POST_ONLY_WOULD_CROSS: (400, "INVALID_ORDER", "Order would immediately match and take"),
    ErrorCode.NO_LIQUIDITY: (400, "INVALID_ORDER", "Insufficient liquidity"),
    ErrorCode.UNKNOWN_ACCOUNT: (401, "UNAUTHORIZED", "Unknown account"),
}


def api_error(exc: SimError) -> ApiError:
    status, code, message = _ERRORS.get(exc.code, (400, "INVALID_ORDER", None))
    if exc.code is ErrorCode.DUPLICATE_CLIENT_ID:
        message = f"Order with client ID already exists: {exc.message}"
    return ApiError(status, code, message or exc.message)


@dataclass(frozen=True, slots=True)
class StreamMessage:
    kind: str  # stream type: depth, bookTicker, trade, markPrice, account.orderUpdate, account.positionUpdate
    symbol: str
    account: int | None  # private messages go only to this account's signed sessions
    data: dict[str, Any]


_ORDER_EVENT = {
    OrderEventKind.ACCEPTED: "orderAccepted",
    OrderEventKind.CANCELLED: "orderCancelled",
    OrderEventKind.EXPIRED: "orderExpired",
    OrderEventKind.MODIFIED: "orderModified",
}


class BackpackVenue:
    def __init__(self, engine: Exchange, *, base_assets: dict[str, str] | None = None) -> None:
        self.engine = engine
        self.cash_decimals = engine.rules.cash_decimals
        self._specs: dict[str, MarketSpec] = {s.symbol: s for s in engine.markets}
        self._by_market: dict[int, MarketSpec] = {s.market_id: s for s in self._specs.values()}
        self._base = base_assets or {}
        self._keys: dict[str, int] = {}
        self._listeners: list[Callable[[StreamMessage], None]] = []
        self._orders_hist: dict[int, deque[OrderView]] = {}
        self._fills_hist: dict[int, deque[Any]] = {}
        self._pending_fill: dict[int, Any] = {}
        self._position_sizes: dict[tuple[int, int], int] = {}
        self._tickers: dict[int, RollingTicker] = {m: RollingTicker() for m in self._by_market}
        self._marks: dict[int, MarkPriceEvent] = {}
        self.records = Records(list(self._by_market))
        engine.subscribe(self._on_event)

    # ------------------------------------------------------------------ accounts and markets

    def register_api_key(self, api_key_b64: str, account: int) -> None:
        self._keys[api_key_b64] = account

    def account_for_key(self, api_key_b64: str) -> int | None:
        return self._keys.get(api_key_b64)

    def add_stream_listener(self, listener: Callable[[StreamMessage], None]) -> None:
        self._listeners.append(listener)

    def spec_for(self, symbol: str) -> MarketSpec | None:
        return self._specs.get(symbol)

    def symbols(self) -> list[str]:
        return list(self._specs)

    def _spec(self, params: dict[str, Any]) -> MarketSpec:
        symbol = params.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise bad_request("Missing parameter `symbol`")
        spec = self._specs.get(symbol)
        if spec is None:
            raise bad_request("Invalid market symbol")
        return spec

    def _base_of(self, spec: MarketSpec) -> str:
        return self._base.get(spec.symbol, spec.symbol.split("_")[0])

    # ------------------------------------------------------------------ public market data

    def max_price(self, spec: MarketSpec) -> int:
        if spec.max_price is not None:
            return spec.max_price
        scale: int = 10**spec.price_decimals
        return DEFAULT_MAX_PRICE * scale

    def markets(self, market_types: list[str] | None = None) -> list[dict[str, Any]]:
        if market_types and "PERP" not in market_types:
            return []  # every market here is a perpetual
        return [wire.market_object(s, self._base_of(s), self.max_price(s)) for s in self._specs.values()]

    def market(self, symbol: str) -> dict[str, Any]:
        spec = self._specs[symbol]
        return wire.market_object(spec, self._base_of(spec), self.max_price(spec))

    def assets(self) -> list[dict[str, Any]]:
        """`/api/v1/assets`: the collateral asset and every market's base asset."""
        names = ["USDC", *dict.fromkeys(self._base_of(s) for s in self._specs.values())]
        return [
            {
                "symbol": name,
                "displayName": name,
                "coingeckoId": None,
                "tokens": [
                    {
                        "displayName": name,
                        "blockchain": "Solana",
                        "contractAddress": None,
                        "depositEnabled": name == "USDC",
                        "minimumDeposit": "0",
                        "withdrawEnabled": name == "USDC",
                        "minimumWithdrawal": "0",
                        "maximumWithdrawal": None,
                        "withdrawalFee": "0",
                        "nativeDecimals": None,
                    }
                ],
            }
            for name in names
        ]

    def collateral_parameters(self) -> list[dict[str, Any]]:
        """`/api/v1/collateral`: USDC is the only collateral, at full weight."""
        return [
            {
                "symbol": "USDC",
                "imfFunction": wire.margin_function(0),
                "mmfFunction": wire.margin_function(0),
                "haircutFunction": {"weight": "1", "kind": {"type": "identity"}},
            }
        ]

    def recent_trades(self, symbol: str, limit: int) -> list[dict[str, Any]]:
        """`/api/v1/trades`: the newest `limit` public trades, oldest first."""
        spec = self._specs[symbol]
        rows = list(self.records.markets[spec.market_id].trades)
        return [self._trade(spec, t) for t in rows[len(rows) - min(limit, len(rows)) :]]

    def trade_history(self, symbol: str, limit: int, offset: int) -> list[dict[str, Any]]:
        """`/api/v1/trades/history`: `offset` trades back from the newest, `limit` of them, newest first."""
        spec = self._specs[symbol]
        rows = page(list(self.records.markets[spec.market_id].trades), limit, offset, ascending=False)
        return [self._trade(spec, t) for t in rows.items]

    def _trade(self, spec: MarketSpec, t: Any) -> dict[str, Any]:
        quote = Decimal(t.price * t.quantity).scaleb(-(spec.price_decimals + spec.size_decimals))
        return {
            "id": t.trade_id,
            "price": spec.format_price(t.price),
            "quantity": spec.format_quantity(t.quantity),
            "quoteQuantity": format(quote.normalize(), "f") if quote else "0",
            "timestamp": t.ts_ns // 1_000_000,
            "isBuyerMaker": t.buyer_is_maker,
        }

    def klines(self, symbol: str, interval_s: int, start_s: int, end_s: int | None) -> list[dict[str, Any]]:
        """`/api/v1/klines` from the one-minute trade buckets of the last 24 h (times in seconds)."""
        spec = self._specs[symbol]
        end_s = end_s if end_s is not None else self.engine.clock.now_ns() // 1_000_000_000 + 1
        candles: dict[int, list[int]] = {}
        for b in self._tickers[spec.market_id].buckets(self.engine.clock.now_ns()):
            t = b.minute * 60
            if not start_s <= t < end_s:
                continue
            key = t - t % interval_s
            row = candles.get(key)
            if row is None:
                candles[key] = [b.open, b.high, b.low, b.close, b.volume, b.quote_volume, b.trades]
            else:
                row[1] = max(row[1], b.high)
                row[2] = min(row[2], b.low)
                row[3] = b.close
                row[4] += b.volume
                row[5] += b.quote_volume
                row[6] += b.trades
        out = []
        for key in sorted(candles):
            o, h, low, close, v, qv, n = candles[key]
            quote = Decimal(qv).scaleb(-(spec.price_decimals + spec.size_decimals)).normalize()
            out.append(
                {
                    "start": wire.iso_seconds(key),
                    "end": wire.iso_seconds(key + interval_s),
                    "open": spec.format_price(o),
                    "high": spec.format_price(h),
                    "low": spec.format_price(low),
                    "close": spec.format_price(close),
                    "volume": spec.format_quantity(v),
                    "quoteVolume": format(quote, "f") if qv else "0",
                    "trades": str(n),
                }
            )
        return out

    def open_interest(self, symbol: str | None) -> list[dict[str, Any]]:
        specs = [self._specs[symbol]] if symbol else list(self._specs.values())
        now_ms = self.engine.clock.now_ns() // 1_000_000
        return [
            {
                "symbol": s.symbol,
                "openInterest": s.format_quantity(self.records.markets[s.market_id].open_interest),
                "timestamp": now_ms,
            }
            for s in specs
        ]

    def funding_rates(self, symbol: str, limit: int, offset: int) -> Page[dict[str, Any]]:
        """Settled funding intervals of one market, newest first."""
        spec = self._specs[symbol]
        rows = page(list(self.records.markets[spec.market_id].funding), limit, offset, ascending=False)
        items = [
            {
                "symbol": symbol,
                "intervalEndTimestamp": wire.iso_naive(f.ts_ns),
                "fundingRate": wire._ppm(f.rate_ppm),
            }
            for f in rows.items
        ]
        return Page(items, rows.total, rows.limit, rows.offset)

    def depth(self, symbol: str, limit: int) -> dict[str, Any]:
        spec = self._specs[symbol]
        snap = self.engine.book_snapshot(spec.market_id, limit)
        # Both sides ascending by price: best bid last, best ask first.
        return {
            "asks": [[spec.format_price(lv.price), spec.format_quantity(lv.size)] for lv in snap.asks],
            "bids": [[spec.format_price(lv.price), spec.format_quantity(lv.size)] for lv in reversed(snap.bids)],
            "lastUpdateId": str(snap.seq),
            "timestamp": snap.ts_ns // 1_000,
        }

    def ticker(self, symbol: str) -> dict[str, Any]:
        """24 h statistics (REST shape). Before any trade every figure is "0"."""
        spec = self._specs[symbol]
        st = self._tickers[spec.market_id].stats(self.engine.clock.now_ns())
        if st is None:
            zero = {
                k: "0"
                for k in (
                    "firstPrice",
                    "lastPrice",
                    "priceChange",
                    "priceChangePercent",
                    "high",
                    "low",
                    "volume",
                    "quoteVolume",
                    "trades",
                )
            }
            return {"symbol": symbol, **zero}
        change = st.last - st.first
        pct = Decimal(change) / Decimal(st.first) if st.first else Decimal(0)
        quote = Decimal(st.quote_volume).scaleb(-(spec.price_decimals + spec.size_decimals)).normalize()
        return {
            "symbol": symbol,
            "firstPrice": spec.format_price(st.first),
            "lastPrice": spec.format_price(st.last),
            "priceChange": spec.format_price(change),
            "priceChangePercent": format(pct.quantize(Decimal("0.000001")), "f"),
            "high": spec.format_price(st.high),
            "low": spec.format_price(st.low),
            "volume": spec.format_quantity(st.volume),
            "quoteVolume": format(quote, "f"),
            "trades": str(st.trades),
        }

    def ticker_event(self, symbol: str) -> dict[str, Any] | None:
        """The `ticker.<symbol>` stream payload, or None before the first trade."""
        t = self.ticker(symbol)
        if t["trades"] == "0":
            return None
        us = self.engine.clock.now_ns() // 1_000
        return {
            "e": "ticker",
            "E": us,
            "s": symbol,
            "o": t["firstPrice"],
            "c": t["lastPrice"],
            "h": t["high"],
            "l": t["low"],
            "v": t["volume"],
            "V": t["quoteVolume"],
            "n": int(t["trades"]),
        }

    def mark_price(self, symbol: str) -> dict[str, Any]:
        spec = self._specs[symbol]
        mark = self._marks.get(spec.market_id)
        if mark is None:
            return {
                "symbol": symbol,
                "markPrice": "0",
                "indexPrice": "0",
                "fundingRate": "0",
                "nextFundingTimestamp": 0,
            }
        return {
            "symbol": symbol,
            "markPrice": spec.format_price(mark.mark_price),
            "indexPrice": spec.format_price(mark.index_price),
            "fundingRate": wire._ppm(mark.funding_rate_ppm),
            "nextFundingTimestamp": mark.next_funding_ns // 1_000_000,
        }

    # ------------------------------------------------------------------ orders

    def _order_request(self, account: int, p: dict[str, Any]) -> OrderRequest:
        spec = self._spec(p)
        side = wire.SIDE_IN.get(p.get("side"))  # type: ignore[arg-type]
        if side is None:
            raise bad_request("Invalid `side`: expected Bid or Ask")
        order_type = wire.ORDER_TYPE_IN.get(p.get("orderType"))  # type: ignore[arg-type]
        if order_type is None:
            raise bad_request("Invalid `orderType`: expected Limit or Market")
        for unsupported in (
            "triggerPrice",
            "triggerQuantity",
            "stopLossTriggerPrice",
            "takeProfitTriggerPrice",
        ):
            if p.get(unsupported) is not None:
                raise ApiError(400, "NOT_IMPLEMENTED", f"`{unsupported}` orders are not modelled by the simulator")
        tif = wire.TIF_IN.get(p.get("timeInForce", "GTC"))
        if tif is None:
            raise bad_request("Invalid `timeInForce`: expected GTC, IOC or FOK")
        stp_raw = p.get("selfTradePrevention")
        stp = None if stp_raw is None else wire.STP_IN.get(stp_raw)
        if stp_raw is not None and stp is None:
            raise bad_request("Invalid `selfTradePrevention`")
        client_id = p.get("clientId")
        if client_id is not None:
            client_id = _uint32(client_id, "clientId")
        post_only = _bool(p.get("postOnly"), "postOnly")
        reduce_only = _bool(p.get("reduceOnly"), "reduceOnly")
        try:
            quantity = None if p.get("quantity") is None else spec.parse_quantity(_text(p["quantity"], "quantity"))
            price = None if p.get("price") is None else spec.parse_price(_text(p["price"], "price"))
            quote_qty = None
            if p.get("quoteQuantity") is not None:
                quote_qty = _cash(_text(p["quoteQuantity"], "quoteQuantity"), self.cash_decimals)
        except SimError as exc:
            raise api_error(exc) from None
        if price is not None and price > self.max_price(spec):
            raise ApiError(400, "INVALID_PRICE", "Price is above the market's maximum price")
        if quote_qty is not None and quote_qty <= 0:
            raise ApiError(400, "INVALID_QUANTITY", "Quote quantity must be positive")
        if order_type is OrderType.MARKET:
            if quantity is None and quote_qty is None:
                raise bad_request("Market orders must specify a `quantity` or `quoteQuantity`")
            if post_only:
                raise bad_request("Post only orders cannot be market orders", "INVALID_ORDER")
            if tif is TimeInForce.GTC:
                tif = TimeInForce.IOC
        else:
            if quantity is None:
                raise bad_request("Limit orders must specify a `quantity`")
            if price is None:
                raise bad_request("Limit orders must specify a `price`")
        return OrderRequest(
            account=account,
            market=spec.market_id,
            side=side,
            quantity=quantity,
            price=price,
            order_type=order_type,
            time_in_force=tif,
            post_only=post_only,
            reduce_only=reduce_only,
            client_id=client_id,
            self_trade=stp,
            quote_quantity=quote_qty,
        )

    def _render(self, o: OrderView) -> dict[str, Any]:
        return wire.order_object(o, self._by_market[o.market], self.cash_decimals)

    def execute_order(self, account: int, params: dict[str, Any]) -> dict[str, Any]:
        request = self._order_request(account, params)
        try:
            view = self.engine.place_order(request)
        except SimError as exc:
            raise api_error(exc) from None
        return self._render(view)

    def execute_batch(self, account: int, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Orders already checked field by field (a malformed one refuses the whole batch before this);
        each is placed in turn and reported as `Ok` (the order) or `Err` (code, message): one entry per
        order, so no order exists that the reply does not mention."""
        results: list[dict[str, Any]] = []
        for params in orders:
            try:
                results.append({"operation": "Ok", **self.execute_order(account, params)})
            except ApiError as exc:
                results.append({"operation": "Err", "code": exc.code, "message": exc.message})
        return results

    def _ids(self, params: dict[str, Any]) -> tuple[int | None, int | None]:
        order_id, client_id = params.get("orderId"), params.get("clientId")
        if order_id is not None and client_id is not None:
            raise bad_request("Must specify only one of `clientId` or `orderId`")
        if order_id is None and client_id is None:
            raise bad_request("Must specify either `clientId` or `orderId`")
        oid = None
        if order_id is not None:
            try:
                oid = int(str(order_id))
            except ValueError:
                raise bad_request("Invalid `orderId`") from None
        cid = None if client_id is None else _uint32(client_id, "clientId")
        return oid, cid

    def query_order(self, account: int, params: dict[str, Any]) -> dict[str, Any]:
        spec = self._spec(params)
        oid, cid = self._ids(params)
        try:
            view = self.engine.get_order(account, spec.market_id, order_id=oid, client_id=cid)
        except SimError:
            raise not_found("Order not found") from None
        if not view.is_open:
            raise not_found("Order not found")
        return self._render(view)

    def cancel_order(self, account: int, params: dict[str, Any]) -> dict[str, Any]:
        spec = self._spec(params)
        oid, cid = self._ids(params)
        try:
            view = self.engine.cancel_order(account, spec.market_id, order_id=oid, client_id=cid)
        except SimError as exc:
            raise api_error(exc) from None
        return self._render(view)

    def open_orders(self, account: int, params: dict[str, Any]) -> list[dict[str, Any]]:
        if params.get("marketType", "PERP") != "PERP":
            return []
        market = self._spec(params).market_id if params.get("symbol") else None
        return [self._render(o) for o in self.engine.open_orders(account, market)]

    def cancel_all(self, account: int, params: dict[str, Any]) -> list[dict[str, Any]]:
        spec = self._spec(params)
        order_type = params.get("orderType")
        if order_type == "ConditionalOrder":
            return []  # no conditional orders are modelled, so there is nothing to cancel
        if order_type not in (None, "RestingLimitOrder"):
            raise bad_request("Invalid `orderType`")
        return [self._render(o) for o in self.engine.cancel_all(account, spec.market_id)]

    def on_disconnect(self, account: int, cancel: bool) -> None:
        self.engine.set_cancel_on_disconnect(account, cancel)
        self.engine.on_disconnect(account)

    # ------------------------------------------------------------------ account state

    def positions(self, account: int, params: dict[str, Any]) -> list[dict[str, Any]]:
        if params.get("marketType", "PERP") != "PERP":
            return []
        markets = [self._spec(params)] if params.get("symbol") else list(self._specs.values())
        out = []
        for spec in markets:
            pos = self.engine.position(account, spec.market_id)
            if pos.size != 0:
                out.append(wire.position_object(pos, spec, self.cash_decimals))
        return out

    def position_snapshot(self, account: int, symbol: str | None) -> list[dict[str, Any]]:
        now = self.engine.clock.now_ns()
        out = []
        for spec in self._specs.values():
            if symbol is not None and spec.symbol != symbol:
                continue
            pos = self.engine.position(account, spec.market_id)
            if pos.size != 0:
                out.append(wire.position_update(pos, spec, self.cash_decimals, now, None))
        return out

    def balances(self, account: int) -> dict[str, Any]:
        bal = self.engine.balance(account)
        locked = max(bal.initial_margin, 0)
        return {
            "USDC": {
                "available": wire.cash_str(max(bal.available, 0), self.cash_decimals),
                "locked": wire.cash_str(locked, self.cash_decimals),
                "staked": "0",
            }
        }

    def collateral(self, account: int) -> dict[str, Any]:
        bal = self.engine.balance(account)
        c = self.cash_decimals
        equity = wire.cash_str(bal.equity, c)
        return {
            "assetsValue": wire.cash_str(bal.cash, c),
            "borrowLiability": "0",
            "collateral": [
                {
                    "symbol": "USDC",
                    "assetMarkPrice": "1",
                    "totalQuantity": wire.cash_str(bal.cash, c),
                    "balanceNotional": wire.cash_str(bal.cash, c),
                    "collateralWeight": "1",
                    "collateralValue": wire.cash_str(bal.cash, c),
                    "openOrderQuantity": "0",
                    "lendQuantity": "0",
                    "availableQuantity": wire.cash_str(max(bal.available, 0), c),
                }
            ],
            "imf": "0",
            "unsettledEquity": wire.cash_str(bal.equity - bal.cash, c),
            "liabilitiesValue": "0",
            "marginFraction": None,
            "mmf": "0",
            "netEquity": equity,
            "netEquityAvailable": wire.cash_str(max(bal.available, 0), c),
            "netEquityLocked": wire.cash_str(bal.initial_margin, c),
            "netExposureFutures": "0",
            "pnlUnrealized": wire.cash_str(bal.equity - bal.cash, c),
        }

    def account_settings(self, account: int) -> dict[str, Any]:
        return {
            "autoBorrowSettlements": False,
            "autoLend": False,
            "autoRealizePnl": True,
            "autoRepayBorrows": False,
            "borrowLimit": "0",
            "futuresMakerFee": "2",
            "futuresTakerFee": "5",
            "leverageLimit": str(self.engine.account_config(account).leverage or self.engine.rules.default_leverage),
            "limitOrders": 500,
            "liquidating": False,
            "positionLimit": "0",
            "spotMakerFee": "0",
            "spotTakerFee": "0",
            "triggerOrders": 0,
        }

    def order_history(self, account: int, params: dict[str, Any]) -> Page[dict[str, Any]]:
        if not _perp_wanted(params):
            return _empty(params)
        symbol = params.get("symbol")
        rows = [
            o
            for o in self._orders_hist.get(account, ())
            if (symbol is None or self._by_market[o.market].symbol == symbol)
            and ("orderId" not in params or str(o.order_id) == params["orderId"])
            and "strategyId" not in params  # no strategies are modelled
        ]
        return self._page(
            rows, params, lambda o: wire.history_order_object(o, self._by_market[o.market], self.cash_decimals)
        )

    def fill_history(self, account: int, params: dict[str, Any]) -> Page[dict[str, Any]]:
        # Only the account's own order fills exist (no liquidations, ADL or conversions are modelled).
        if not _perp_wanted(params) or params.get("fillType", "User") not in ("User",) or "strategyId" in params:
            return _empty(params)
        symbol = params.get("symbol")
        start = params.get("from")
        stop = params.get("to")
        rows = [
            f
            for f in self._fills_hist.get(account, ())
            if (symbol is None or self._by_market[f.market].symbol == symbol)
            and ("orderId" not in params or str(f.order_id) == params["orderId"])
            and (start is None or f.ts_ns // 1_000_000 >= start)
            and (stop is None or f.ts_ns // 1_000_000 <= stop)
        ]
        return self._page(rows, params, lambda f: wire.fill_object(f, self._by_market[f.market], self.cash_decimals))

    def funding_history(self, account: int, params: dict[str, Any]) -> Page[dict[str, Any]]:
        symbol = params.get("symbol")
        rec = self.records.account(account)
        rows = [e for e in rec.funding if symbol is None or self._by_market[e.market].symbol == symbol]

        def render(e: FundingEvent) -> dict[str, Any]:
            return {
                "userId": account,
                "subaccountId": None,
                "symbol": self._by_market[e.market].symbol,
                "quantity": wire.cash_str(-e.amount, self.cash_decimals),
                "intervalEndTimestamp": wire.iso_naive(e.ts_ns),
                "fundingRate": wire._ppm(e.rate_ppm),
            }

        return self._page(rows, params, render)

    def settlement_history(self, account: int, params: dict[str, Any]) -> Page[dict[str, Any]]:
        source = params.get("source")
        rows = [x for x in self.records.account(account).settlements if source is None or x.source == source]

        def render(x: Any) -> dict[str, Any]:
            return {
                "quantity": wire.cash_str(x.amount, self.cash_decimals),
                "source": x.source,
                "subaccountId": None,
                "timestamp": wire.iso(x.ts_ns),
                "userId": account,
                "positionId": None if x.position_id is None else str(x.position_id),
            }

        return self._page(rows, params, render)

    def position_history(self, account: int, params: dict[str, Any]) -> Page[dict[str, Any]]:
        if not _perp_wanted(params):
            return _empty(params)
        symbol = params.get("symbol")
        state = params.get("state")
        rows = [
            life
            for life in self.records.account(account).positions
            if (symbol is None or self._by_market[life.market].symbol == symbol)
            and (state is None or ("Open" if life.closed_ns is None else "Closed") == state)
        ]
        return self._page(rows, params, self._position_row)

    def _position_row(self, life: Any) -> dict[str, Any]:
        spec = self._by_market[life.market]
        c = self.cash_decimals
        if life.closed_ns is None:  # an open position: its current figures
            view = self.engine.position(life.account, life.market)
        else:
            view = life.view
        obj = wire.position_object(view, spec, c)
        closed = life.closed_ns is not None
        return {
            "id": str(life.position_id),
            "symbol": spec.symbol,
            "netQuantity": "0" if closed else obj["netQuantity"],
            "netExposureQuantity": "0" if closed else obj["netExposureQuantity"],
            "netExposureNotional": "0" if closed else obj["netExposureNotional"],
            "netCost": "0" if closed else obj["netCost"],
            "markPrice": obj["markPrice"],
            "entryPrice": obj["entryPrice"],
            "cumulativePnlRealized": wire.cash_str(view.realized_pnl - life.realized_at_open, c),
            "unrealizedPnl": "0" if closed else obj["pnlUnrealized"],
            "fundingQuantity": wire.cash_str(-(view.funding_paid - life.funding_at_open), c),
            "interest": "0",
            "liquidated": "0",
            "imf": obj["imf"],
            "fees": wire.cash_str(life.fees, c),
            "state": "Closed" if closed else "Open",
            "closedVolume": spec.format_quantity(life.closed_volume),
            "liquidationFees": "0",
            "closingPrice": None if life.closing_price is None or not closed else spec.format_price(life.closing_price),
            "accountLeverage": str(
                self.engine.account_config(life.account).leverage or self.engine.rules.default_leverage
            ),
            "openedAt": wire.iso(life.opened_ns),
            "closedAt": None if life.closed_ns is None else wire.iso(life.closed_ns),
        }

    def _page(
        self, rows: list[Any], params: dict[str, Any], render: Callable[[Any], dict[str, Any]]
    ) -> Page[dict[str, Any]]:
        """`rows` oldest first -> one rendered page (`limit` default 100, max 1000; `sortDirection`,
        default newest first)."""
        limit, offset = _paging(params)
        p = page(list(rows), limit, offset, ascending=params.get("sortDirection") == "Asc")
        return Page([render(r) for r in p.items], p.total, p.limit, p.offset)

    def max_order_quantity(self, account: int, params: dict[str, Any]) -> dict[str, Any]:
        """`/api/v1/account/limits/order`: what initial margin allows at `price` (default: the mark, else
        the last trade), or the position's size for a reduce-only order on the closing side."""
        spec = self._spec(params)
        side = wire.SIDE_IN[params["side"]]
        position = self.engine.position(account, spec.market_id).size
        reduce_only = bool(params.get("reduceOnly"))
        try:
            price = spec.parse_price(params["price"]) if "price" in params else None
        except SimError as exc:
            raise api_error(exc) from None
        if price is None:
            price = self.engine.mark_price(spec.market_id) or self.engine.last_trade_price(spec.market_id)
        closing = position * side.sign < 0
        if reduce_only:
            quantity = abs(position) if closing else 0
        elif not price or price <= 0:
            quantity = 0
        else:
            bal = self.engine.balance(account)
            leverage = self.engine.account_config(account).leverage or self.engine.rules.default_leverage
            fraction_ppm = max(spec.initial_margin_ppm, -(-1_000_000 // leverage))
            scale = 10 ** (self.cash_decimals - spec.price_decimals - spec.size_decimals)
            per_unit = price * scale * fraction_ppm  # margin of one quantity unit, in cash units x 1e6
            quantity = max(bal.available, 0) * 1_000_000 // per_unit
            if closing:
                quantity += 2 * abs(position)  # closing frees margin and the flip uses the same
            quantity -= quantity % spec.step
        return {
            "autoBorrow": params.get("autoBorrow"),
            "autoBorrowRepay": params.get("autoBorrowRepay"),
            "autoLendRedeem": params.get("autoLendRedeem"),
            "maxOrderQuantity": spec.format_quantity(quantity),
            "price": None if not price else spec.format_price(price),
            "side": params["side"],
            "symbol": spec.symbol,
            "reduceOnly": params.get("reduceOnly"),
        }

    def update_account(self, account: int, params: dict[str, Any]) -> None:
        """`PATCH /api/v1/account`: the leverage limit is modelled (initial margin uses it); the lending
        switches are accepted only when off (no borrow/lend is modelled)."""
        for flag in ("autoBorrowSettlements", "autoLend", "autoRepayBorrows"):
            if params.get(flag):
                raise ApiError(400, "NOT_IMPLEMENTED", f"`{flag}` is not modelled by the simulator")
        if "leverageLimit" in params:
            leverage = Decimal(params["leverageLimit"])
            if leverage != leverage.to_integral_value() or not 1 <= leverage <= 100:
                raise bad_request("Invalid `leverageLimit`: expected a whole number from 1 to 100")
            self.engine.account_config(account).leverage = int(leverage)

    # ------------------------------------------------------------------ engine events -> streams

    def _emit(self, kind: str, spec: MarketSpec, account: int | None, data: dict[str, Any]) -> None:
        msg = StreamMessage(kind, spec.symbol, account, data)
        for listener in self._listeners:
            listener(msg)

    def _on_event(self, event: object) -> None:
        if isinstance(event, BookDelta):
            self._on_book_delta(event)
        elif isinstance(event, FillEvent):
            self._pending_fill[event.fill.order_id] = event.fill
            self._fills_hist.setdefault(event.account, deque(maxlen=HISTORY_LIMIT)).append(event.fill)
            self.records.on_fill(event.fill)
        elif isinstance(event, FundingEvent):
            self.records.on_funding(event)
        elif isinstance(event, OrderEvent):
            self._on_order_event(event)
        elif isinstance(event, TradeEvent):
            self._on_trade(event)
        elif isinstance(event, PositionEvent):
            self._on_position(event)
        elif isinstance(event, MarkPriceEvent):
            self._marks[event.market] = event
            spec = self._by_market.get(event.market)
            if spec is not None:
                self._emit(
                    "markPrice",
                    spec,
                    None,
                    {
                        "e": "markPrice",
                        "E": event.ts_ns // 1_000,
                        "s": spec.symbol,
                        "p": spec.format_price(event.mark_price),
                        "f": wire._ppm(event.funding_rate_ppm),
                        "i": spec.format_price(event.index_price),
                        "n": event.next_funding_ns // 1_000_000,
                        "T": event.ts_ns // 1_000,
                    },
                )

    def _on_book_delta(self, d: BookDelta) -> None:
        spec = self._by_market.get(d.market)
        if spec is None:
            return
        us = d.ts_ns // 1_000
        self._emit(
            "depth",
            spec,
            None,
            {
                "e": "depth",
                "E": us,
                "s": spec.symbol,
                "a": [
                    [spec.format_price(lv.price), spec.format_quantity(lv.size)]
                    for lv in sorted(d.asks, key=lambda lv: lv.price)
                ],
                "b": [
                    [spec.format_price(lv.price), spec.format_quantity(lv.size)]
                    for lv in sorted(d.bids, key=lambda lv: lv.price)
                ],
                "U": d.seq,
                "u": d.seq,
                "T": us,
            },
        )
        snap = self.engine.book_snapshot(d.market, 1)
        if snap.bids or snap.asks:
            bid = snap.bids[0] if snap.bids else None
            ask = snap.asks[0] if snap.asks else None
            self._emit(
                "bookTicker",
                spec,
                None,
                {
                    "e": "bookTicker",
                    "E": us,
                    "s": spec.symbol,
                    "a": spec.format_price(ask.price) if ask else None,
                    "A": spec.format_quantity(ask.size) if ask else None,
                    "b": spec.format_price(bid.price) if bid else None,
                    "B": spec.format_quantity(bid.size) if bid else None,
                    "u": d.seq,
                    "T": us,
                },
            )

    def _on_trade(self, t: TradeEvent) -> None:
        spec = self._by_market.get(t.market)
        if spec is None:
            return
        self._tickers[t.market].add(t.ts_ns, t.price, t.quantity)
        self.records.on_trade(t)
        us = t.ts_ns // 1_000
        buyer_is_maker = t.taker_side.name == "SELL"
        buy_id, sell_id = (
            (t.maker_order_id, t.taker_order_id) if buyer_is_maker else (t.taker_order_id, t.maker_order_id)
        )
        self._emit(
            "trade",
            spec,
            None,
            {
                "e": "trade",
                "E": us,
                "s": spec.symbol,
                "p": spec.format_price(t.price),
                "q": spec.format_quantity(t.quantity),
                "b": str(buy_id),
                "a": str(sell_id),
                "t": t.trade_id,
                "T": us,
                "m": buyer_is_maker,
            },
        )

    def _on_order_event(self, e: OrderEvent) -> None:
        spec = self._by_market.get(e.market)
        if spec is None:
            return
        o = e.order
        fill = None
        if e.kind is OrderEventKind.FILL:
            fill = self._pending_fill.pop(o.order_id, None)
            name = "orderFill"
        else:
            name = _ORDER_EVENT[e.kind]
        if not o.is_open:
            self._orders_hist.setdefault(o.account, deque(maxlen=HISTORY_LIMIT)).append(o)
            self._pending_fill.pop(o.order_id, None) if fill is not None else None
        self._emit(
            "account.orderUpdate",
            spec,
            o.account,
            wire.order_update(name, o, spec, self.cash_decimals, e.ts_ns, fill),
        )

    def _on_position(self, e: PositionEvent) -> None:
        spec = self._by_market.get(e.market)
        if spec is None:
            return
        self.records.on_position(e.position, e.ts_ns)
        key = (e.account, e.market)
        before = self._position_sizes.get(key, 0)
        after = e.position.size
        self._position_sizes[key] = after
        if before == 0 and after != 0:
            name = "positionOpened"
        elif after == 0:
            name = "positionClosed"
        else:
            name = "positionAdjusted"
        self._emit(
            "account.positionUpdate",
            spec,
            e.account,
            wire.position_update(e.position, spec, self.cash_decimals, e.ts_ns, name),
        )


def _text(value: Any, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise bad_request(f"Invalid `{name}`: expected a decimal string")
    return str(value)


def _uint32(value: Any, name: str) -> int:
    try:
        number = int(value) if not isinstance(value, bool) else -1
    except (TypeError, ValueError):
        number = -1
    if not 0 <= number <= UINT32_MAX:
        raise bad_request(f"Invalid `{name}`: expected an unsigned 32-bit integer")
    return number


def _bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise bad_request(f"Invalid `{name}`: expected a boolean")


def _cash(text: str, decimals: int) -> int:
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text)
    except InvalidOperation:
        raise bad_request("Invalid `quoteQuantity`") from None
    return int(value.scaleb(decimals).to_integral_value())


def _paging(params: dict[str, Any]) -> tuple[int, int]:
    try:
        limit = int(params.get("limit", 100))
        offset = int(params.get("offset", 0))
    except (TypeError, ValueError):
        raise bad_request("Invalid `limit` or `offset`") from None
    if not 1 <= limit <= 1000 or offset < 0:
        raise bad_request("`limit` must be 1..1000 and `offset` >= 0")
    return limit, offset


def _perp_wanted(params: dict[str, Any]) -> bool:
    types = params.get("marketType")
    return not types or "PERP" in types


def _empty(params: dict[str, Any]) -> Page[dict[str, Any]]:
    limit, offset = _paging(params)
    return Page([], 0, limit, offset)
