"""Render the engine's integer views as Backpack wire objects (decimal strings, enums, µs/ms times)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from xtb.sim.types import (
    Fill,
    MarketSpec,
    OrderStatus,
    OrderType,
    OrderView,
    PositionView,
    Reason,
    SelfTradeMode,
    Side,
    TimeInForce,
)

SIDE = {Side.BUY: "Bid", Side.SELL: "Ask"}
SIDE_IN = {"Bid": Side.BUY, "Ask": Side.SELL}
ORDER_TYPE = {OrderType.LIMIT: "Limit", OrderType.MARKET: "Market"}
ORDER_TYPE_IN = {"Limit": OrderType.LIMIT, "Market": OrderType.MARKET}
TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
TIF_IN = {v: k for k, v in TIF.items()}
STP = {
    SelfTradeMode.REJECT_TAKER: "RejectTaker",
    SelfTradeMode.REJECT_MAKER: "RejectMaker",
    SelfTradeMode.REJECT_BOTH: "RejectBoth",
    SelfTradeMode.ALLOW: "Allow",
}
STP_IN = {v: k for k, v in STP.items()}
STATUS = {
    OrderStatus.NEW: "New",
    OrderStatus.PARTIALLY_FILLED: "PartiallyFilled",
    OrderStatus.FILLED: "Filled",
    OrderStatus.CANCELLED: "Cancelled",
    OrderStatus.EXPIRED: "Expired",
}
EXPIRY_REASON = {
    Reason.IMMEDIATE_OR_CANCEL: "ImmediateOrCancel",
    Reason.FILL_OR_KILL: "FillOrKill",
    Reason.POST_ONLY_TAKER: "PostOnlyTaker",
    Reason.REDUCE_ONLY: "ReduceOnlyNotReduced",
    Reason.SELF_TRADE: "SelfTradePrevention",
    Reason.INSUFFICIENT_LIQUIDITY: "InsufficientLiquidity",
}


def cash_str(cash: int, cash_decimals: int) -> str:
    """Cash units -> plain decimal text without trailing zeros (`"4.29916"`, `"0"`)."""
    value = Decimal(cash).scaleb(-cash_decimals).normalize()
    text = format(value, "f")
    return "0" if text in ("-0", "") else text


def iso(ts_ns: int) -> str:
    """Naive UTC ISO date-time, as history endpoints print it."""
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


def iso_naive(ts_ns: int) -> str:
    """Naive UTC ISO date-time to the second (funding interval ends)."""
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC).replace(tzinfo=None).isoformat()


def iso_seconds(ts_s: int) -> str:
    """Kline bounds: `YYYY-MM-DD HH:MM:SS` (naive UTC)."""
    return datetime.fromtimestamp(ts_s, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def order_object(o: OrderView, spec: MarketSpec, cash_decimals: int) -> dict[str, Any]:
    """The REST order object (`OrderExecute` reply, `/order`, `/orders`)."""
    obj: dict[str, Any] = {
        "id": str(o.order_id),
        "clientId": o.client_id,
        "symbol": spec.symbol,
        "side": SIDE[o.side],
        "orderType": ORDER_TYPE[o.order_type],
        "quantity": spec.format_quantity(o.quantity),
        "executedQuantity": spec.format_quantity(o.filled),
        "executedQuoteQuantity": cash_str(o.filled_cash, cash_decimals),
        "reduceOnly": o.reduce_only or None,
        "timeInForce": TIF[o.time_in_force],
        "selfTradePrevention": STP[o.self_trade],
        "status": STATUS[o.status],
        "createdAt": o.created_ns // 1_000_000,
        "relatedOrderId": None,
        "strategyId": None,
        "triggerBy": None,
        "triggerPrice": None,
        "triggerQuantity": None,
        "triggeredAt": None,
        "stopLossTriggerPrice": None,
        "stopLossLimitPrice": None,
        "stopLossTriggerBy": None,
        "takeProfitTriggerPrice": None,
        "takeProfitLimitPrice": None,
        "takeProfitTriggerBy": None,
    }
    if o.order_type is OrderType.LIMIT:
        obj["price"] = spec.format_price(o.price or 0)
        obj["postOnly"] = o.post_only
    else:
        obj["quoteQuantity"] = None if o.quote_quantity is None else cash_str(o.quote_quantity, cash_decimals)
    return obj


def history_order_object(o: OrderView, spec: MarketSpec, cash_decimals: int) -> dict[str, Any]:
    obj = order_object(o, spec, cash_decimals)
    obj["createdAt"] = iso(o.created_ns)
    obj["expiryReason"] = EXPIRY_REASON.get(o.reason) if o.status is OrderStatus.EXPIRED else None
    obj["systemOrderType"] = None
    return obj


def order_update(
    event: str, o: OrderView, spec: MarketSpec, cash_decimals: int, ts_ns: int, fill: Fill | None = None
) -> dict[str, Any]:
    """`account.orderUpdate` payload with the venue's one-letter keys and µs times."""
    us = ts_ns // 1_000
    data: dict[str, Any] = {
        "e": event,
        "E": us,
        "s": spec.symbol,
        "S": SIDE[o.side],
        "o": ORDER_TYPE[o.order_type].upper(),
        "f": TIF[o.time_in_force],
        "q": spec.format_quantity(o.quantity),
        "X": STATUS[o.status],
        "i": str(o.order_id),
        "z": spec.format_quantity(o.filled),
        "Z": cash_str(o.filled_cash, cash_decimals),
        "V": STP[o.self_trade],
        "T": us,
        "O": "USER",
        "r": o.reduce_only,
        "t": None,
    }
    if o.client_id is not None:
        data["c"] = o.client_id
    if o.price is not None and o.order_type is OrderType.LIMIT:
        data["p"] = spec.format_price(o.price)
    if o.quote_quantity is not None:
        data["Q"] = cash_str(o.quote_quantity, cash_decimals)
    if event == "orderExpired":
        data["R"] = EXPIRY_REASON.get(o.reason, "Unknown")
    if fill is not None:
        data["t"] = fill.trade_id
        data["l"] = spec.format_quantity(fill.quantity)
        data["L"] = spec.format_price(fill.price)
        data["m"] = fill.is_maker
        data["n"] = cash_str(fill.fee, cash_decimals)
        data["N"] = "USDC"
    return data


def _entry_price(p: PositionView, spec: MarketSpec, cash_decimals: int) -> str:
    price = p.entry_price(spec, cash_decimals)
    return "0" if price is None else format(price.normalize(), "f")


def position_object(p: PositionView, spec: MarketSpec, cash_decimals: int) -> dict[str, Any]:
    """REST `/api/v1/position` entry."""
    mark = spec.format_price(p.mark_price) if p.mark_price is not None else "0"
    notional = (
        Decimal(0)
        if p.mark_price is None
        else (Decimal(abs(p.size) * p.mark_price).scaleb(-(spec.size_decimals + spec.price_decimals)))
    )
    return {
        "symbol": spec.symbol,
        "positionId": str(p.market + 1),
        "netQuantity": spec.format_quantity(p.size),
        "netExposureQuantity": spec.format_quantity(abs(p.size)),
        "netExposureNotional": format(notional.normalize(), "f") if notional else "0",
        "netCost": cash_str(p.cost, cash_decimals),
        "entryPrice": _entry_price(p, spec, cash_decimals),
        "breakEvenPrice": _entry_price(p, spec, cash_decimals),
        "markPrice": mark,
        "estLiquidationPrice": "0",
        "pnlRealized": cash_str(p.realized_pnl, cash_decimals),
        "pnlUnrealized": cash_str(p.unrealized_pnl, cash_decimals),
        "cumulativeFundingPayment": cash_str(-p.funding_paid, cash_decimals),
        # Borrow interest on the position (being removed by the venue, still required by its document).
        "cumulativeInterest": "0",
        "imf": format(Decimal(spec.initial_margin_ppm).scaleb(-6).normalize(), "f"),
        "imfFunction": margin_function(spec.initial_margin_ppm),
        "mmf": format((Decimal(spec.initial_margin_ppm) / 2).scaleb(-6).normalize(), "f"),
        "mmfFunction": margin_function(spec.initial_margin_ppm // 2),
        "subaccountId": None,
        "userId": p.account,
    }


def position_update(
    p: PositionView, spec: MarketSpec, cash_decimals: int, ts_ns: int, event: str | None
) -> dict[str, Any]:
    """`account.positionUpdate` payload; `event` None for the on-subscribe snapshot (no `e` key)."""
    us = ts_ns // 1_000
    obj = position_object(p, spec, cash_decimals)
    data: dict[str, Any] = {
        "E": us,
        "s": spec.symbol,
        "b": obj["breakEvenPrice"],
        "B": obj["entryPrice"],
        "f": obj["imf"],
        "M": obj["markPrice"],
        "m": obj["mmf"],
        "q": obj["netQuantity"],
        "Q": obj["netExposureQuantity"],
        "n": obj["netExposureNotional"],
        "i": p.market + 1,
        "l": "0",
        "p": obj["pnlRealized"],
        "P": obj["pnlUnrealized"],
        "T": us,
    }
    if event is not None:
        data["e"] = event
    return data


def fill_object(f: Fill, spec: MarketSpec, cash_decimals: int) -> dict[str, Any]:
    return {
        "tradeId": f.trade_id,
        "clientId": None if f.client_id is None else str(f.client_id),
        "orderId": str(f.order_id),
        "symbol": spec.symbol,
        "side": SIDE[f.side],
        "price": spec.format_price(f.price),
        "quantity": spec.format_quantity(f.quantity),
        "fee": cash_str(f.fee, cash_decimals),
        "feeSymbol": "USDC",
        "isMaker": f.is_maker,
        "timestamp": iso(f.ts_ns),
        "systemOrderType": None,
    }


def margin_function(ppm: int) -> dict[str, str]:
    """The venue's `{"type":"sqrt","base","factor"}` margin fraction; the simulator's is flat (factor 0)."""
    return {"type": "sqrt", "base": _ppm(ppm), "factor": "0"}


def market_object(spec: MarketSpec, base: str, max_price: int) -> dict[str, Any]:
    tick = spec.format_price(spec.tick)
    step = spec.format_quantity(spec.step)
    band = spec.band
    impact = spec.market_order_band
    return {
        "symbol": spec.symbol,
        "baseSymbol": base,
        "quoteSymbol": "USDC",
        "marketType": "PERP",
        "filters": {
            "price": {
                "minPrice": spec.format_price(spec.min_price if spec.min_price is not None else spec.tick),
                "maxPrice": spec.format_price(max_price),
                "tickSize": tick,
                "maxMultiplier": None if band is None else _ppm(band.upper_ppm),
                "minMultiplier": None if band is None else _ppm(band.lower_ppm),
                "maxImpactMultiplier": None if impact is None else _ppm(impact.upper_ppm),
                "minImpactMultiplier": None if impact is None else _ppm(impact.lower_ppm),
                # The venue's mark-price smoothing parameters (its samples' values). The simulator's mark
                # is pushed by the generator, not smoothed, so these are published, not applied.
                "meanMarkPriceBand": {"maxMultiplier": "1.1", "minMultiplier": "0.9"},
                "meanPremiumBand": {"tolerancePct": "0.05"},
                "maxPriceUpdateMultiplier": "1.0025",
                "minPriceUpdateMultiplier": "0.9975",
            },
            "quantity": {
                "minQuantity": spec.format_quantity(spec.min_quantity),
                "maxQuantity": None if spec.max_quantity is None else spec.format_quantity(spec.max_quantity),
                "stepSize": step,
            },
        },
        "imfFunction": margin_function(spec.initial_margin_ppm),
        "mmfFunction": margin_function(spec.initial_margin_ppm // 2),
        "fundingInterval": spec.funding_interval_ns // 1_000_000,
        # In bps, as the venue publishes them: the engine clamps each interval's rate to this.
        "fundingRateUpperBound": _bps(spec.funding_rate_cap_ppm),
        "fundingRateLowerBound": _bps(-spec.funding_rate_cap_ppm),
        "openInterestLimit": None,
        "orderBookState": "Open",
        "createdAt": "2025-01-01T00:00:00",
        "visible": True,
        "positionLimitWeight": None,
    }


def _ppm(value: int) -> str:
    return format(Decimal(value).scaleb(-6).normalize(), "f")


def _bps(ppm: int) -> str:
    return format((Decimal(ppm) / 100).normalize(), "f")
