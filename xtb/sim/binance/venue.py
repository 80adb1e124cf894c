"""Binance USD-M's view of the simulated venue: `/fapi` request parameters -> engine calls, engine events
-> market streams (depthUpdate, bookTicker, aggTrade, markPriceUpdate) and user-data events
(ORDER_TRADE_UPDATE, TRADE_LITE, ACCOUNT_UPDATE).

Holds what is Binance-specific and not the engine's business: API key -> (secret, account), the string
client order ids (`newClientOrderId`) <-> the engine's integer ones, per-symbol leverage and margin type,
trade and income history. Field names and error codes follow docs/venues/binance_usdm.md.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from xtb.sim.engine import Exchange
from xtb.sim.types import (
    BalanceEvent,
    BookDelta,
    ErrorCode,
    Fill,
    FillEvent,
    FundingEvent,
    MarketSpec,
    MarkPriceEvent,
    OrderEvent,
    OrderEventKind,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderView,
    PositionEvent,
    Reason,
    SelfTradeMode,
    Side,
    SimError,
    TimeInForce,
    TradeEvent,
)

HISTORY_LIMIT = 1000
MAX_BATCH = 5
CLIENT_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.:/_-")
CONDITIONAL_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
MAX_LEVERAGE = 125
FOK_REJECTED = ("Due to the order could not be filled immediately, the FOK order has been rejected. "
                "The order will not be recorded in the order history")


class BinanceError(Exception):
    """An error reply: HTTP status and the venue's `{"code": -NNNN, "msg": "..."}` body."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg

    def body(self) -> bytes:
        return orjson.dumps({"code": self.code, "msg": self.msg})


def bad_param(msg: str, code: int = -1102) -> BinanceError:
    return BinanceError(400, code, msg)


_ERRORS: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.UNKNOWN_MARKET: (-1121, "Invalid symbol."),
    ErrorCode.MARKET_CLOSED: (-4140, "Invalid symbol status for opening position."),
    ErrorCode.PRICE_DECIMALS_TOO_LONG: (-1111, "Precision is over the maximum defined for this asset."),
    ErrorCode.QUANTITY_DECIMALS_TOO_LONG: (-1111, "Precision is over the maximum defined for this asset."),
    ErrorCode.PRICE_OUT_OF_BAND: (-4016, "Limit price can't be higher than the percent price limit."),
    ErrorCode.INVALID_PRICE: (-4013, "Price less than min price."),
    ErrorCode.PRICE_NOT_ON_TICK: (-4014, "Price not increased by tick size."),
    ErrorCode.PRICE_OUT_OF_RANGE: (-4013, "Price less than min price."),
    ErrorCode.INVALID_QUANTITY: (-4003, "Quantity less than or equal to zero."),
    ErrorCode.QUANTITY_NOT_ON_STEP: (-4023, "Quantity not increased by step size."),
    ErrorCode.QUANTITY_BELOW_MIN: (-4004, "Quantity less than min quantity."),
    ErrorCode.QUANTITY_ABOVE_MAX: (-4005, "Quantity greater than max quantity."),
    ErrorCode.NOTIONAL_BELOW_MIN: (
        -4164,
        "Order's notional must be no smaller than 5 (unless you choose reduce only).",
    ),
    ErrorCode.INVALID_ORDER: (-1102, "Mandatory parameter was not sent, was empty/null, or malformed."),
    ErrorCode.DUPLICATE_CLIENT_ID: (-4116, "ClientOrderId is duplicated."),
    ErrorCode.ORDER_NOT_FOUND: (-2013, "Order does not exist."),
    ErrorCode.NOT_ORDER_OWNER: (-2013, "Order does not exist."),
    ErrorCode.TOO_MANY_OPEN_ORDERS_MARKET: (-2025, "Reach max open order limit."),
    ErrorCode.TOO_MANY_OPEN_ORDERS_ACCOUNT: (-2025, "Reach max open order limit."),
    ErrorCode.INSUFFICIENT_MARGIN: (-2019, "Margin is insufficient."),
    ErrorCode.REDUCE_ONLY_WOULD_INCREASE: (-2022, "ReduceOnly Order is rejected."),
    ErrorCode.POST_ONLY_WOULD_CROSS: (
        -5022,
        "Due to the order could not be executed as maker, the Post Only order will be rejected. "
        "The order will not be recorded in the order history",
    ),
    ErrorCode.NO_LIQUIDITY: (-2010, "Order would immediately trigger."),
    ErrorCode.UNKNOWN_ACCOUNT: (-2015, "Invalid API-key, IP, or permissions for action."),
}


def api_error(exc: SimError, spec: MarketSpec | None = None) -> BinanceError:
    if exc.code is ErrorCode.PRICE_OUT_OF_BAND and exc.band_edge is not None and spec is not None:
        # PERCENT_PRICE: -4016 above multiplierUp, -4024 below multiplierDown, the limit in the message
        above, edge = exc.band_edge
        if above:
            return BinanceError(400, -4016, f"Limit price can't be higher than {spec.format_price(edge)}.")
        return BinanceError(400, -4024, f"Limit price can't be lower than {spec.format_price(edge)}.")
    code, msg = _ERRORS.get(exc.code, (-2010, exc.message))
    return BinanceError(400, code, msg)


STATUS_OUT = {
    OrderStatus.NEW: "NEW",
    OrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED",
    OrderStatus.FILLED: "FILLED",
    OrderStatus.CANCELLED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
}
# The `er` expiry reason of ORDER_TRADE_UPDATE (0 none, 1 STP, 2 IOC remainder, 4 reduce-only knocked out).
EXPIRY_REASON = {Reason.SELF_TRADE: 1, Reason.IMMEDIATE_OR_CANCEL: 2, Reason.INSUFFICIENT_LIQUIDITY: 2,
                 Reason.FILL_OR_KILL: 2, Reason.REDUCE_ONLY: 4}  # fmt: skip
TIF_IN = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK, "GTX": TimeInForce.GTC}
STP_IN = {"NONE": SelfTradeMode.ALLOW, "EXPIRE_TAKER": SelfTradeMode.REJECT_TAKER,
          "EXPIRE_MAKER": SelfTradeMode.REJECT_MAKER, "EXPIRE_BOTH": SelfTradeMode.REJECT_BOTH}  # fmt: skip
STP_OUT = {v: k for k, v in STP_IN.items()}


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """`kind`: a market stream suffix (depth, bookTicker, aggTrade, markPrice) or "user" (account only)."""

    kind: str
    symbol: str
    account: int | None
    data: dict[str, Any]


@dataclass
class ApiKey:
    secret: str
    account: int


@dataclass
class Agent:
    """An API wallet approved to trade for a main wallet (Aster V3)."""

    user: str
    account: int


class BinanceVenue:
    def __init__(self, engine: Exchange, *, margin_assets: dict[str, str] | None = None) -> None:
        self.engine = engine
        self.cash_decimals = engine.rules.cash_decimals
        self._specs: dict[str, MarketSpec] = {s.symbol: s for s in engine.markets}
        self._by_market: dict[int, MarketSpec] = {s.market_id: s for s in self._specs.values()}
        self._margin = margin_assets or {}
        self._keys: dict[str, ApiKey] = {}
        self._agents: dict[str, Agent] = {}  # lower-case agent address -> its main wallet and account
        self._user_accounts: set[int] = set()  # accounts with an API key: the generator's keep no history
        self._listeners: list[Callable[[StreamMessage], None]] = []
        # newClientOrderId <-> the engine's integer client id, per account
        self._cid_in: dict[int, dict[str, int]] = {}
        self._cid_out: dict[int, dict[int, str]] = {}
        self._cid_seq = itertools.count(1)
        self._leverage: dict[tuple[int, str], int] = {}
        self._margin_type: dict[tuple[int, str], str] = {}
        self._trades: dict[int, deque[tuple[Fill, int]]] = {}  # account -> (fill, realized pnl)
        self._income: dict[int, deque[dict[str, Any]]] = {}
        self._realized: dict[tuple[int, int], int] = {}
        self._pending_fill: dict[int, Fill] = {}
        self._agg_ids = itertools.count(1)
        self._income_ids = itertools.count(1)
        self._dual_side: set[int] = set()  # accounts in hedge mode (dualSidePosition)
        self._held: list[StreamMessage] | None = None  # user events of a FOK order until it is known to fill
        self._unrecorded: set[tuple[int, int]] = set()  # (account, order id) of FOK orders refused with -5021
        engine.subscribe(self._on_event)

    # ------------------------------------------------------------------ accounts and markets

    def register_api_key(self, api_key: str, secret: str, account: int) -> None:
        self._keys[api_key] = ApiKey(secret, account)
        self._user_accounts.add(account)

    def key(self, api_key: str) -> ApiKey | None:
        return self._keys.get(api_key)

    def register_agent(self, agent_address: str, user: str, account: int) -> None:
        """Approve an API wallet (agent) to sign for `user`, whose account is `account`."""
        self._agents[agent_address.lower()] = Agent(user, account)
        self._user_accounts.add(account)

    def agent(self, agent_address: str) -> Agent | None:
        return self._agents.get(agent_address.lower())

    def add_stream_listener(self, listener: Callable[[StreamMessage], None]) -> None:
        self._listeners.append(listener)

    def symbols(self) -> list[str]:
        return list(self._specs)

    def spec(self, symbol: Any) -> MarketSpec:
        if not isinstance(symbol, str) or not symbol:
            raise bad_param("Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        spec = self._specs.get(symbol)
        if spec is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return spec

    def margin_asset(self, spec: MarketSpec) -> str:
        if spec.symbol in self._margin:
            return self._margin[spec.symbol]
        return "USDT" if spec.symbol.endswith("USDT") else "USDC"

    def _cash(self, amount: int) -> str:
        return _fmt(Decimal(amount).scaleb(-self.cash_decimals))

    def _cash_per_unit(self, spec: MarketSpec) -> int:
        return self.engine.cash_scale(spec.market_id)

    def exchange_info(self, server_ms: int, limits: list[dict[str, Any]]) -> dict[str, Any]:
        symbols = []
        for spec in self._specs.values():
            asset = self.margin_asset(spec)
            base = spec.symbol[: -len(asset)] if spec.symbol.endswith(asset) else spec.symbol
            max_px = spec.max_price if spec.max_price is not None else 10 ** (7 + spec.price_decimals)
            filters: list[dict[str, Any]] = [
                {"filterType": "PRICE_FILTER", "minPrice": spec.format_price(spec.min_price or spec.tick),
                 "maxPrice": spec.format_price(max_px), "tickSize": spec.format_price(spec.tick)},
                {"filterType": "LOT_SIZE", "minQty": spec.format_quantity(spec.min_quantity),
                 "maxQty": spec.format_quantity(spec.max_quantity or 10 ** (9 + spec.size_decimals)),
                 "stepSize": spec.format_quantity(spec.step)},
                {"filterType": "MARKET_LOT_SIZE", "minQty": spec.format_quantity(spec.min_quantity),
                 "maxQty": spec.format_quantity(spec.max_quantity or 10 ** (9 + spec.size_decimals)),
                 "stepSize": spec.format_quantity(spec.step)},
                {"filterType": "MAX_NUM_ORDERS", "limit": self.engine.rules.max_open_orders_per_market or 200},
                {"filterType": "MIN_NOTIONAL", "notional": self._cash(spec.min_notional)},
            ]  # fmt: skip
            if spec.band is not None:
                filters.append({
                    "filterType": "PERCENT_PRICE",
                    "multiplierUp": _fmt(Decimal(spec.band.upper_ppm).scaleb(-6)),
                    "multiplierDown": _fmt(Decimal(spec.band.lower_ppm).scaleb(-6)),
                    "multiplierDecimal": "4",
                })
            symbols.append({
                "symbol": spec.symbol, "pair": spec.symbol, "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
                "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
                "baseAsset": base, "quoteAsset": asset, "marginAsset": asset,
                "pricePrecision": spec.price_decimals, "quantityPrecision": spec.size_decimals,
                "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
                "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
                "liquidationFee": "0.012500", "marketTakeBound": "0.05",
                "filters": filters, "orderTypes": ["LIMIT", "MARKET", *CONDITIONAL_TYPES],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
            })  # fmt: skip
        assets = sorted({self.margin_asset(s) for s in self._specs.values()})
        return {
            "timezone": "UTC",
            "serverTime": server_ms,
            "futuresType": "U_MARGINED",
            "rateLimits": limits,
            "exchangeFilters": [],
            "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "0"} for a in assets],
            "symbols": symbols,
        }

    def depth(self, symbol: str, limit: int, now_ms: int) -> dict[str, Any]:
        spec = self.spec(symbol)
        snap = self.engine.book_snapshot(spec.market_id, limit)
        return {
            "lastUpdateId": snapshot_update_id(snap.seq),
            "E": now_ms,
            "T": snap.ts_ns // 1_000_000,
            "bids": [[spec.format_price(lv.price), spec.format_quantity(lv.size)] for lv in snap.bids],
            "asks": [[spec.format_price(lv.price), spec.format_quantity(lv.size)] for lv in snap.asks],
        }

    def book_ticker(self, symbol: str, now_ms: int) -> dict[str, Any]:
        spec = self.spec(symbol)
        snap = self.engine.book_snapshot(spec.market_id, 1)
        bid = snap.bids[0] if snap.bids else None
        ask = snap.asks[0] if snap.asks else None
        return {
            "symbol": symbol,
            "bidPrice": spec.format_price(bid.price) if bid else "0",
            "bidQty": spec.format_quantity(bid.size) if bid else "0",
            "askPrice": spec.format_price(ask.price) if ask else "0",
            "askQty": spec.format_quantity(ask.size) if ask else "0",
            "time": now_ms,
            "lastUpdateId": snapshot_update_id(snap.seq),
        }

    def premium_index(self, symbol: str, now_ms: int) -> dict[str, Any]:
        spec = self.spec(symbol)
        mark = self.engine.mark_price(spec.market_id)
        index = self.engine.index_price(spec.market_id)
        return {
            "symbol": symbol,
            "markPrice": spec.format_price(mark) if mark is not None else "0",
            "indexPrice": spec.format_price(index) if index is not None else "0",
            "estimatedSettlePrice": spec.format_price(index) if index is not None else "0",
            "lastFundingRate": _ppm(self.engine.funding_rate(spec.market_id)),
            "interestRate": "0.00010000",
            "nextFundingTime": self.engine.next_funding_ns(spec.market_id) // 1_000_000,
            "time": now_ms,
        }

    # ------------------------------------------------------------------ client order ids

    def _client_int(self, account: int, text: str) -> int:
        ids = self._cid_in.setdefault(account, {})
        n = ids.get(text)
        if n is None:
            n = next(self._cid_seq)
            ids[text] = n
            self._cid_out.setdefault(account, {})[n] = text
        return n

    def client_text(self, account: int, n: int | None) -> str:
        if n is None:
            return ""
        return self._cid_out.get(account, {}).get(n, str(n))

    # ------------------------------------------------------------------ orders

    def order_request(self, account: int, p: dict[str, Any]) -> OrderRequest:
        spec = self.spec(p.get("symbol"))
        side = {"BUY": Side.BUY, "SELL": Side.SELL}.get(p.get("side", ""))
        if side is None:
            raise bad_param("Invalid side.", -1117)
        order_type = p.get("type")
        if order_type in CONDITIONAL_TYPES:
            raise BinanceError(400, -4120, "Order type not supported for this endpoint. Please use the Algo Order API")
        if order_type not in ("LIMIT", "MARKET"):
            raise bad_param("Invalid orderType.", -1116)
        if p.get("positionSide", "BOTH") != "BOTH" or account in self._dual_side:
            # hedge mode is not modelled: an account switched to it can only be refused (as a mismatch)
            raise BinanceError(400, -4061, "Order's position side does not match user's setting.")
        reduce_only = _flag(p.get("reduceOnly"), "reduceOnly")
        cid_text = p.get("newClientOrderId")
        if cid_text is None:
            cid_text = f"sim{next(self._cid_seq):020d}"
        elif not (1 <= len(cid_text) <= 36 and set(cid_text) <= CLIENT_ID_CHARS):
            raise bad_param("Illegal characters found in parameter 'newClientOrderId'; legal range is "
                            "'^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.", -1100)  # fmt: skip
        stp = STP_IN.get(p.get("selfTradePreventionMode", "EXPIRE_TAKER"))
        if stp is None:
            raise bad_param("Invalid selfTradePreventionMode.")
        quantity = _parse(spec.parse_quantity, p.get("quantity"), "quantity")
        if quantity is None:
            raise bad_param("Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
        price = _parse(spec.parse_price, p.get("price"), "price")
        tif_text = p.get("timeInForce")
        if order_type == "LIMIT":
            if price is None:
                raise bad_param("Mandatory parameter 'price' was not sent, was empty/null, or malformed.")
            if tif_text is None:
                raise bad_param("Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.")
            tif = TIF_IN.get(tif_text)
            if tif is None:
                raise bad_param("Invalid timeInForce.", -1115)
        else:
            if price is not None:
                raise bad_param("Parameter 'price' sent when not required.", -1106)
            tif = TimeInForce.IOC
        return OrderRequest(
            account=account,
            market=spec.market_id,
            side=side,
            quantity=quantity,
            price=price,
            order_type=OrderType.LIMIT if order_type == "LIMIT" else OrderType.MARKET,
            time_in_force=tif,
            post_only=tif_text == "GTX",
            reduce_only=reduce_only,
            client_id=self._client_int(account, cid_text),
            self_trade=stp,
        )

    def render(self, o: OrderView, *, gtx: bool = False) -> dict[str, Any]:
        spec = self._by_market[o.market]
        avg = "0"
        if o.filled:
            scale = Decimal(self._cash_per_unit(spec))
            avg = _fmt((Decimal(o.filled_cash) / scale / Decimal(o.filled)).scaleb(-spec.price_decimals)
                       .quantize(Decimal(1).scaleb(-spec.price_decimals - 2)))  # fmt: skip
        tif = "GTX" if o.post_only else o.time_in_force.name
        order_type = "LIMIT" if o.order_type is OrderType.LIMIT else "MARKET"
        updated = o.updated_ns // 1_000_000
        return {
            "orderId": o.order_id,
            "symbol": spec.symbol,
            "status": STATUS_OUT[o.status],
            "clientOrderId": self.client_text(o.account, o.client_id),
            "price": spec.format_price(o.price) if o.price is not None and order_type == "LIMIT" else "0",
            "avgPrice": avg,
            "origQty": spec.format_quantity(o.quantity),
            "executedQty": spec.format_quantity(o.filled),
            "cumQty": spec.format_quantity(o.filled),
            "cumQuote": self._cash(o.filled_cash),
            "timeInForce": tif,
            "type": order_type,
            "reduceOnly": o.reduce_only,
            "closePosition": False,
            "side": o.side.name,
            "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": order_type,
            "priceMatch": "NONE",
            "selfTradePreventionMode": STP_OUT.get(o.self_trade, "EXPIRE_TAKER"),
            "goodTillDate": 0,
            "time": o.created_ns // 1_000_000,
            "updateTime": updated,
        }

    def place(self, account: int, params: dict[str, Any]) -> dict[str, Any]:
        request = self.order_request(account, params)
        fok = request.time_in_force is TimeInForce.FOK
        if fok:
            self._held = []
        try:
            view = self.engine.place_order(request)
        except SimError as exc:
            raise api_error(exc, self._by_market.get(request.market)) from None
        finally:
            held, self._held = self._held, None
        if fok and view.status is OrderStatus.EXPIRED and view.filled == 0:
            # The venue refuses a FOK that cannot fill at once (-5021) and keeps no record of it: no user
            # stream events, and an order query does not find it.
            self._unrecorded.add((account, view.order_id))
            raise BinanceError(400, -5021, FOK_REJECTED)
        for msg in held or ():
            self._send(msg)
        return self.render(view)

    def place_batch(self, account: int, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One result per order, in order: the order object or its `{code, msg}`."""
        results: list[dict[str, Any]] = []
        for params in orders:
            try:
                results.append(self.place(account, params))
            except BinanceError as exc:
                results.append({"code": exc.code, "msg": exc.msg})
        return results

    def _ids(self, account: int, params: dict[str, Any]) -> tuple[int | None, int | None]:
        order_id, client = params.get("orderId"), params.get("origClientOrderId")
        if order_id is None and client is None:
            raise bad_param("Either orderId or origClientOrderId must be sent.")
        if order_id is not None:
            try:
                return int(order_id), None
            except (TypeError, ValueError):
                raise bad_param("Illegal characters found in parameter 'orderId'.", -1100) from None
        cid = self._cid_in.get(account, {}).get(str(client))
        return None, cid if cid is not None else -1

    def query(self, account: int, params: dict[str, Any]) -> dict[str, Any]:
        spec = self.spec(params.get("symbol"))
        oid, cid = self._ids(account, params)
        if cid == -1:
            raise BinanceError(400, -2013, "Order does not exist.")
        try:
            view = self.engine.get_order(account, spec.market_id, order_id=oid, client_id=cid)
        except SimError:
            raise BinanceError(400, -2013, "Order does not exist.") from None
        if (account, view.order_id) in self._unrecorded:
            raise BinanceError(400, -2013, "Order does not exist.")
        return self.render(view)

    def cancel(self, account: int, params: dict[str, Any]) -> dict[str, Any]:
        spec = self.spec(params.get("symbol"))
        oid, cid = self._ids(account, params)
        if cid == -1:
            raise BinanceError(400, -2011, "Unknown order sent.")
        try:
            view = self.engine.cancel_order(account, spec.market_id, order_id=oid, client_id=cid)
        except SimError:
            raise BinanceError(400, -2011, "Unknown order sent.") from None
        return self.render(view)

    def cancel_all(self, account: int, params: dict[str, Any]) -> dict[str, Any]:
        spec = self.spec(params.get("symbol"))
        self.engine.cancel_all(account, spec.market_id)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def open_orders(self, account: int, params: dict[str, Any]) -> list[dict[str, Any]]:
        market = self.spec(params["symbol"]).market_id if params.get("symbol") else None
        return [self.render(o) for o in self.engine.open_orders(account, market)]

    def on_disconnect(self, account: int) -> None:
        """Binance keeps orders open when a stream drops (no cancel-on-disconnect; the dead-man switch
        is countdownCancelAll, not modelled)."""

    # ------------------------------------------------------------------ settings

    def leverage(self, account: int, params: dict[str, Any]) -> dict[str, Any]:
        spec = self.spec(params.get("symbol"))
        try:
            lev = int(params.get("leverage", ""))
        except ValueError:
            lev = 0
        if not 1 <= lev <= MAX_LEVERAGE:
            raise bad_param("Leverage is not valid.", -4028)
        self._leverage[(account, spec.symbol)] = lev
        # the engine's leverage is per account: the most recent setting applies to every market
        self.engine.account_config(account).leverage = lev
        return {"leverage": lev, "maxNotionalValue": "1000000", "symbol": spec.symbol}

    def leverage_of(self, account: int, symbol: str) -> int:
        return self._leverage.get((account, symbol), self.engine.rules.default_leverage)

    def margin_type(self, account: int, params: dict[str, Any]) -> dict[str, Any]:
        spec = self.spec(params.get("symbol"))
        wanted = params.get("marginType")
        if wanted not in ("ISOLATED", "CROSSED"):
            raise bad_param("Invalid marginType.", -4044)
        if self.margin_type_of(account, spec.symbol) == wanted:
            raise BinanceError(400, -4046, "No need to change margin type.")
        if any(o.market == spec.market_id for o in self.engine.open_orders(account)) or \
                self.engine.position(account, spec.market_id).size:  # fmt: skip
            raise BinanceError(400, -4048, "Margin type cannot be changed if there exists position.")
        self._margin_type[(account, spec.symbol)] = wanted
        return {"code": 200, "msg": "success"}

    def margin_type_of(self, account: int, symbol: str) -> str:
        return self._margin_type.get((account, symbol), "CROSSED")

    # ------------------------------------------------------------------ account state

    def position_risk(self, account: int, params: dict[str, Any], now_ms: int) -> list[dict[str, Any]]:
        specs = [self.spec(params["symbol"])] if params.get("symbol") else list(self._specs.values())
        out = []
        for spec in specs:
            pos = self.engine.position(account, spec.market_id)
            has_orders = any(o.market == spec.market_id for o in self.engine.open_orders(account))
            if pos.size == 0 and not has_orders:
                continue
            out.append(self._position_row(account, spec, now_ms))
        return out

    def _position_row(self, account: int, spec: MarketSpec, now_ms: int) -> dict[str, Any]:
        pos = self.engine.position(account, spec.market_id)
        scale = Decimal(self._cash_per_unit(spec))
        entry = (Decimal(pos.cost) / scale / Decimal(pos.size)).scaleb(-spec.price_decimals) if pos.size else Decimal(0)
        mark = pos.mark_price if pos.mark_price is not None else 0
        notional = Decimal(pos.size * mark).scaleb(-spec.price_decimals - spec.size_decimals)
        lev = self.leverage_of(account, spec.symbol)
        initial = abs(notional) / lev
        return {
            "symbol": spec.symbol, "positionSide": "BOTH", "positionAmt": spec.format_quantity(pos.size),
            "entryPrice": _fmt(entry.quantize(Decimal(1).scaleb(-spec.price_decimals - 2))),
            "breakEvenPrice": _fmt(entry.quantize(Decimal(1).scaleb(-spec.price_decimals - 2))),
            "markPrice": spec.format_price(mark), "unRealizedProfit": self._cash(pos.unrealized_pnl),
            "liquidationPrice": "0", "isolatedMargin": "0", "notional": _fmt(notional),
            "marginAsset": self.margin_asset(spec), "isolatedWallet": "0",
            "initialMargin": _fmt(initial), "maintMargin": _fmt(abs(notional) / 40),
            "positionInitialMargin": _fmt(initial), "openOrderInitialMargin": "0", "adl": 0,
            "bidNotional": "0", "askNotional": "0", "updateTime": now_ms,
        }  # fmt: skip

    def _asset_rows(self, account: int, now_ms: int) -> list[dict[str, Any]]:
        bal = self.engine.balance(account)
        unrealized = bal.equity - bal.cash
        assets = sorted({self.margin_asset(s) for s in self._specs.values()})
        rows = []
        for i, asset in enumerate(assets):
            # one collateral pool: it is reported under the first asset, the others hold nothing
            own = i == 0
            rows.append({
                "asset": asset,
                "walletBalance": self._cash(bal.cash if own else 0),
                "unrealizedProfit": self._cash(unrealized if own else 0),
                "marginBalance": self._cash(bal.equity if own else 0),
                "maintMargin": "0",
                "initialMargin": self._cash(bal.initial_margin if own else 0),
                "positionInitialMargin": self._cash(bal.initial_margin if own else 0),
                "openOrderInitialMargin": "0",
                "crossWalletBalance": self._cash(bal.cash if own else 0),
                "crossUnPnl": self._cash(unrealized if own else 0),
                "availableBalance": self._cash(max(bal.available, 0) if own else 0),
                "maxWithdrawAmount": self._cash(max(bal.available, 0) if own else 0),
                "updateTime": now_ms,
            })  # fmt: skip
        return rows

    def account(self, account: int, now_ms: int) -> dict[str, Any]:
        bal = self.engine.balance(account)
        unrealized = bal.equity - bal.cash
        positions = [
            {"symbol": spec.symbol, "positionSide": "BOTH",
             "positionAmt": spec.format_quantity(self.engine.position(account, spec.market_id).size),
             "unrealizedProfit": self._cash(self.engine.position(account, spec.market_id).unrealized_pnl),
             "isolatedMargin": "0", "notional": "0", "isolatedWallet": "0", "initialMargin": "0",
             "maintMargin": "0", "updateTime": now_ms}
            for spec in self._specs.values() if self.engine.position(account, spec.market_id).size
        ]  # fmt: skip
        return {
            "totalInitialMargin": self._cash(bal.initial_margin), "totalMaintMargin": "0",
            "totalWalletBalance": self._cash(bal.cash), "totalUnrealizedProfit": self._cash(unrealized),
            "totalMarginBalance": self._cash(bal.equity), "totalPositionInitialMargin": self._cash(bal.initial_margin),
            "totalOpenOrderInitialMargin": "0", "totalCrossWalletBalance": self._cash(bal.cash),
            "totalCrossUnPnl": self._cash(unrealized), "availableBalance": self._cash(max(bal.available, 0)),
            "maxWithdrawAmount": self._cash(max(bal.available, 0)),
            "assets": self._asset_rows(account, now_ms), "positions": positions,
        }  # fmt: skip

    def balance(self, account: int, now_ms: int) -> list[dict[str, Any]]:
        return [
            {"accountAlias": "SimAccount", "asset": r["asset"], "balance": r["walletBalance"],
             "crossWalletBalance": r["crossWalletBalance"], "crossUnPnl": r["crossUnPnl"],
             "availableBalance": r["availableBalance"], "maxWithdrawAmount": r["maxWithdrawAmount"],
             "marginAvailable": True, "updateTime": now_ms}
            for r in self._asset_rows(account, now_ms)
        ]  # fmt: skip

    def user_trades(self, account: int, params: dict[str, Any]) -> list[dict[str, Any]]:
        spec = self.spec(params.get("symbol"))
        limit = _limit(params, 500, 1000)
        order_id = params.get("orderId")
        from_id = params.get("fromId")
        rows = []
        for fill, realized in self._trades.get(account, ()):
            if fill.market != spec.market_id:
                continue
            if order_id is not None and str(fill.order_id) != str(order_id):
                continue
            if from_id is not None and fill.trade_id < int(from_id):
                continue
            rows.append(self._trade_row(spec, fill, realized))
        return rows[-limit:] if from_id is None else rows[:limit]

    def _trade_row(self, spec: MarketSpec, fill: Fill, realized: int) -> dict[str, Any]:
        quote = Decimal(fill.price * fill.quantity).scaleb(-spec.price_decimals - spec.size_decimals)
        return {
            "buyer": fill.side is Side.BUY, "commission": self._cash(fill.fee),
            "commissionAsset": self.margin_asset(spec), "id": fill.trade_id, "maker": fill.is_maker,
            "orderId": fill.order_id, "price": spec.format_price(fill.price),
            "qty": spec.format_quantity(fill.quantity), "quoteQty": _fmt(quote),
            "realizedPnl": self._cash(realized), "side": fill.side.name, "positionSide": "BOTH",
            "symbol": spec.symbol, "time": fill.ts_ns // 1_000_000,
        }  # fmt: skip

    def income(self, account: int, params: dict[str, Any]) -> list[dict[str, Any]]:
        limit = _limit(params, 100, 1000)
        symbol = params.get("symbol")
        kind = params.get("incomeType")
        rows = [r for r in self._income.get(account, ())
                if (symbol is None or r["symbol"] == symbol) and (kind is None or r["incomeType"] == kind)]  # fmt: skip
        return rows[-limit:]

    # ------------------------------------------------------------------ engine events -> streams

    def _emit(self, kind: str, symbol: str, account: int | None, data: dict[str, Any]) -> None:
        msg = StreamMessage(kind, symbol, account, data)
        if kind == "user" and self._held is not None:
            self._held.append(msg)
            return
        self._send(msg)

    def _send(self, msg: StreamMessage) -> None:
        for listener in self._listeners:
            listener(msg)

    def _on_event(self, event: object) -> None:
        if isinstance(event, BookDelta):
            self._on_book_delta(event)
        elif isinstance(event, FillEvent):
            self._on_fill(event.fill)
        elif isinstance(event, OrderEvent):
            self._on_order_event(event)
        elif isinstance(event, TradeEvent):
            self._on_trade(event)
        elif isinstance(event, PositionEvent):
            self._on_position(event)
        elif isinstance(event, BalanceEvent):
            pass  # balances go out with the position's ACCOUNT_UPDATE
        elif isinstance(event, MarkPriceEvent):
            self._on_mark(event)
        elif isinstance(event, FundingEvent):
            self._on_funding(event)

    def _on_book_delta(self, d: BookDelta) -> None:
        spec = self._by_market.get(d.market)
        if spec is None:
            return
        ms = d.ts_ns // 1_000_000
        self._emit("depth", spec.symbol, None, {
            "e": "depthUpdate", "E": ms, "T": ms, "s": spec.symbol,
            "U": 2 * d.seq - 1, "u": 2 * d.seq, "pu": 2 * d.prev_seq,
            "b": [[spec.format_price(lv.price), spec.format_quantity(lv.size)] for lv in d.bids],
            "a": [[spec.format_price(lv.price), spec.format_quantity(lv.size)] for lv in d.asks],
        })  # fmt: skip
        snap = self.engine.book_snapshot(d.market, 1)
        if snap.bids and snap.asks:
            bid, ask = snap.bids[0], snap.asks[0]
            self._emit("bookTicker", spec.symbol, None, {
                "e": "bookTicker", "u": 2 * d.seq, "E": ms, "T": ms, "s": spec.symbol,
                "b": spec.format_price(bid.price), "B": spec.format_quantity(bid.size),
                "a": spec.format_price(ask.price), "A": spec.format_quantity(ask.size),
            })  # fmt: skip

    def _on_trade(self, t: TradeEvent) -> None:
        spec = self._by_market.get(t.market)
        if spec is None:
            return
        ms = t.ts_ns // 1_000_000
        self._emit("aggTrade", spec.symbol, None, {
            "e": "aggTrade", "E": ms, "s": spec.symbol, "a": next(self._agg_ids),
            "p": spec.format_price(t.price), "q": spec.format_quantity(t.quantity),
            "f": t.trade_id, "l": t.trade_id, "T": ms, "m": t.taker_side is Side.SELL,
        })  # fmt: skip

    def _on_mark(self, e: MarkPriceEvent) -> None:
        spec = self._by_market.get(e.market)
        if spec is None:
            return
        ms = e.ts_ns // 1_000_000
        self._emit("markPrice", spec.symbol, None, {
            "e": "markPriceUpdate", "E": ms, "s": spec.symbol, "p": spec.format_price(e.mark_price),
            "i": spec.format_price(e.index_price), "P": spec.format_price(e.index_price),
            "r": _ppm(e.funding_rate_ppm), "T": e.next_funding_ns // 1_000_000,
        })  # fmt: skip

    def _on_funding(self, e: FundingEvent) -> None:
        """A funding settlement: a FUNDING_FEE income row and an ACCOUNT_UPDATE (reason FUNDING_FEE, the
        balance only, as for a crossed position)."""
        if e.account not in self._user_accounts or not e.amount:
            return
        spec = self._by_market[e.market]
        ms = e.ts_ns // 1_000_000
        asset = self.margin_asset(spec)
        income = self._income.setdefault(e.account, deque(maxlen=HISTORY_LIMIT))
        income.append({"symbol": spec.symbol, "incomeType": "FUNDING_FEE", "income": self._cash(-e.amount),
                       "asset": asset, "info": "FUNDING_FEE", "time": ms, "tranId": next(self._income_ids),
                       "tradeId": ""})  # fmt: skip
        cash = self._cash(self.engine.balance(e.account).cash)
        self._emit("user", spec.symbol, e.account, {
            "e": "ACCOUNT_UPDATE", "E": ms, "T": ms,
            "a": {"m": "FUNDING_FEE", "B": [{"a": asset, "wb": cash, "cw": cash, "bc": "0"}], "P": []},
        })  # fmt: skip

    def position_mode(self, account: int) -> dict[str, Any]:
        return {"dualSidePosition": account in self._dual_side}

    def set_position_mode(self, account: int, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("dualSidePosition") is None:
            raise bad_param("Mandatory parameter 'dualSidePosition' was not sent, was empty/null, or malformed.")
        dual = _flag(params["dualSidePosition"], "dualSidePosition")
        if dual == (account in self._dual_side):
            raise BinanceError(400, -4059, "No need to change position side.")
        if self.engine.open_orders(account, None):
            raise BinanceError(400, -4067, "Position side cannot be changed if there exists open orders.")
        if any(self.engine.position(account, s.market_id).size for s in self._specs.values()):
            raise BinanceError(400, -4068, "Position side cannot be changed if there exists position.")
        (self._dual_side.add if dual else self._dual_side.discard)(account)
        return {"code": 200, "msg": "success"}

    def _on_fill(self, fill: Fill) -> None:
        if fill.account not in self._user_accounts:
            return  # the generator's liquidity accounts keep no history
        spec = self._by_market[fill.market]
        key = (fill.account, fill.market)
        before = self._realized.get(key, 0)
        after = self.engine.position(fill.account, fill.market).realized_pnl
        self._realized[key] = after
        realized = after - before
        self._pending_fill[fill.order_id] = fill
        self._trades.setdefault(fill.account, deque(maxlen=HISTORY_LIMIT)).append((fill, realized))
        ms = fill.ts_ns // 1_000_000
        income = self._income.setdefault(fill.account, deque(maxlen=HISTORY_LIMIT))
        asset = self.margin_asset(spec)
        for kind, amount in (("COMMISSION", -fill.fee), ("REALIZED_PNL", realized)):
            if amount:
                income.append({"symbol": spec.symbol, "incomeType": kind, "income": self._cash(amount),
                               "asset": asset, "info": "", "time": ms, "tranId": next(self._income_ids),
                               "tradeId": str(fill.trade_id)})  # fmt: skip

    def _on_order_event(self, e: OrderEvent) -> None:
        o = e.order
        if o.account not in self._user_accounts:
            return
        spec = self._by_market.get(e.market)
        if spec is None:
            return
        fill = self._pending_fill.pop(o.order_id, None) if e.kind is OrderEventKind.FILL else None
        if e.kind is OrderEventKind.FILL:
            x = "TRADE"
        elif e.kind is OrderEventKind.ACCEPTED:
            x = "NEW"
        elif e.kind is OrderEventKind.CANCELLED:
            x = "CANCELED"
        elif e.kind is OrderEventKind.EXPIRED:
            x = "EXPIRED"
        else:
            x = "AMENDMENT"
        row = self.render(o)
        ms = e.ts_ns // 1_000_000
        realized = self._trades[o.account][-1][1] if fill is not None and self._trades.get(o.account) else 0
        body = {
            "s": spec.symbol, "c": row["clientOrderId"], "S": o.side.name, "o": row["type"],
            "f": row["timeInForce"], "q": row["origQty"], "p": row["price"], "ap": row["avgPrice"],
            "sp": "0", "x": x, "X": row["status"], "i": o.order_id,
            "l": spec.format_quantity(fill.quantity) if fill else "0",
            "z": row["executedQty"], "L": spec.format_price(fill.price) if fill else "0",
            "N": self.margin_asset(spec), "n": self._cash(fill.fee) if fill else "0",
            "T": ms, "t": fill.trade_id if fill else 0, "b": "0", "a": "0",
            "m": fill.is_maker if fill else False, "R": o.reduce_only, "wt": "CONTRACT_PRICE",
            "ot": row["type"], "ps": "BOTH", "cp": False, "rp": self._cash(realized),
            "pP": False, "si": 0, "ss": 0, "V": row["selfTradePreventionMode"], "pm": "NONE", "gtd": 0,
            "er": str(EXPIRY_REASON.get(o.reason, 0)) if x == "EXPIRED" else "0",
        }  # fmt: skip
        self._emit("user", spec.symbol, o.account, {"e": "ORDER_TRADE_UPDATE", "E": ms, "T": ms, "o": body})
        if fill is not None:
            self._emit("user", spec.symbol, o.account, {
                "e": "TRADE_LITE", "E": ms, "T": ms, "s": spec.symbol, "q": body["l"], "p": row["price"],
                "m": fill.is_maker, "c": row["clientOrderId"], "S": o.side.name, "L": body["L"],
                "l": body["l"], "t": fill.trade_id, "i": o.order_id,
            })  # fmt: skip

    def _on_position(self, e: PositionEvent) -> None:
        account = e.position.account
        if account not in self._user_accounts:
            return
        spec = self._by_market.get(e.position.market)
        if spec is None:
            return
        ms = e.ts_ns // 1_000_000
        row = self._position_row(account, spec, ms)
        assets = self._asset_rows(account, ms)
        self._emit("user", spec.symbol, account, {
            "e": "ACCOUNT_UPDATE", "E": ms, "T": ms,
            "a": {"m": "ORDER",
                  "B": [{"a": r["asset"], "wb": r["walletBalance"], "cw": r["crossWalletBalance"], "bc": "0"}
                        for r in assets],
                  "P": [{"s": spec.symbol, "pa": row["positionAmt"], "ep": row["entryPrice"],
                         "bep": row["breakEvenPrice"], "cr": self._cash(e.position.realized_pnl),
                         "up": row["unRealizedProfit"], "mt": self.margin_type_of(account, spec.symbol).lower()
                         .replace("crossed", "cross"), "iw": "0", "ps": "BOTH"}]},
        })  # fmt: skip


def snapshot_update_id(seq: int) -> int:
    """Update ids: the engine's book change `s` is sent as the event U=2s-1, u=2s, pu=2(s-1), and a
    snapshot taken after change S says lastUpdateId=2S+1, which falls inside the next event's [U, u] as on
    the venue (where one event aggregates many updates). So the documented procedure holds exactly: events
    already in the snapshot have u < lastUpdateId, the next one has U <= lastUpdateId <= u."""
    return 2 * seq + 1


def _fmt(d: Decimal) -> str:
    text = format(d.normalize(), "f") if d else "0"
    return text


def _ppm(ppm: int) -> str:
    return format(Decimal(ppm).scaleb(-6).quantize(Decimal("0.00000001")), "f")


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if value in ("true", "TRUE", "True"):
        return True
    if value in ("false", "FALSE", "False"):
        return False
    raise bad_param(f"Invalid {name}.", -1102)


def _parse(parse: Callable[[str], int], value: Any, name: str) -> int | None:
    if value is None:
        return None
    try:
        Decimal(str(value))
    except InvalidOperation:
        raise bad_param(f"Illegal characters found in parameter '{name}'.", -1100) from None
    try:
        return parse(str(value))
    except SimError as exc:
        raise api_error(exc) from None


def _limit(params: dict[str, Any], default: int, top: int) -> int:
    try:
        limit = int(params.get("limit", default))
    except (TypeError, ValueError):
        raise bad_param("Illegal characters found in parameter 'limit'.", -1100) from None
    return max(1, min(limit, top))
