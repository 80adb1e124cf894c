"""Backpack request validation: one layer between the wire and the venue logic.

Every field of every served request is checked against the type the venue documents (enums, decimal
strings, booleans, unsigned/signed integers of a given width, strings) before anything acts on it. A
malformed value is a `400 {"code": "INVALID_CLIENT_REQUEST", "message": "Invalid `field`: ..."}`, never a
server error, and a refused request changes nothing. Unknown fields are ignored (as the venue's
deserializer does); `null` is the same as absent.

JSON bodies are parsed keeping every number as the text it arrived as (`JsonNumber`), so the signature is
checked over exactly what the client sent (a `clientId` wider than 64 bits or `1.5` stays that text, and is
then refused here as a bad u32 instead of failing the signature over a lossy copy).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from multidict import MultiMapping

from xtb.sim.backpack.errors import ApiError

# Decimal text as the venue's decimal type parses it: digits, one optional point, optional exponent.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")
MAX_DECIMAL_TEXT = 64
# The venue's decimal holds 28 significant digits; anything beyond (or a huge exponent) is out of range.
MAX_DECIMAL_DIGITS = 28


class JsonNumber(str):
    """A JSON number kept as its received text (a `str` so signing renders it unchanged)."""

    __slots__ = ()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_body(raw: bytes) -> Any:
    """JSON text -> Python values with numbers as `JsonNumber`; malformed JSON (incl. NaN/Infinity) -> 400."""
    try:
        return json.loads(
            raw.decode("utf-8"),
            parse_int=JsonNumber,
            parse_float=JsonNumber,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError):
        # UnicodeDecodeError and JSONDecodeError are ValueErrors; very deep nesting is a RecursionError.
        raise invalid_request("failed to parse request body: invalid JSON") from None


def invalid_request(message: str) -> ApiError:
    return ApiError(400, "INVALID_CLIENT_REQUEST", message)


def _invalid(name: str, expected: str) -> ApiError:
    return invalid_request(f"Invalid `{name}`: expected {expected}")


# ---------------------------------------------------------------------------------------------- kinds


@dataclass(frozen=True, slots=True)
class Kind:
    """One field type. `check(name, value, in_query)` returns the normalized Python value or raises."""

    name: str
    values: tuple[str, ...] = ()
    bits: int = 0
    signed: bool = False
    array: bool = False

    def check(self, field: str, value: Any, in_query: bool) -> Any:
        kind = self.name
        if kind == "string":
            if not isinstance(value, str) or isinstance(value, JsonNumber):
                raise _invalid(field, "a string")
            return str(value)
        if kind == "enum":
            if isinstance(value, JsonNumber) or value not in self.values:
                raise _invalid(field, "one of " + ", ".join(self.values))
            return str(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if in_query and value in ("true", "false"):
                return value == "true"
            raise _invalid(field, "a boolean")
        if kind == "decimal":
            return _decimal(field, value)
        if kind == "integer":
            return _integer(field, value, self.bits, self.signed, in_query)
        if kind == "id":  # an order id: a string of digits (a JSON integer is accepted too)
            if isinstance(value, bool) or not isinstance(value, str):
                raise _invalid(field, "an order id")
            if not _INTEGER.fullmatch(value) or value.startswith("-") or len(value) > 20:
                raise _invalid(field, "an order id")
            number = int(value)
            if number >= 2**64:
                raise _invalid(field, "an order id")
            return str(number)
        raise AssertionError(kind)


def _decimal(field: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str):
        raise _invalid(field, "a decimal string")
    text = str(value)
    if len(text) > MAX_DECIMAL_TEXT or not _DECIMAL.fullmatch(text):
        raise _invalid(field, "a decimal string")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise _invalid(field, "a decimal string") from None
    if not number.is_finite():
        raise _invalid(field, "a decimal string")
    if not number:
        return "0"  # a zero with any exponent (`0e999999`) is plain zero
    digits = number.as_tuple()
    exponent = int(digits.exponent)
    # Too many digits before the point, or a scale beyond what the venue's decimal holds.
    if len(digits.digits) + exponent > MAX_DECIMAL_DIGITS or exponent < -MAX_DECIMAL_DIGITS:
        raise invalid_request(f"Invalid `{field}`: decimal out of range")
    return format(number, "f")


def _integer(field: str, value: Any, bits: int, signed: bool, in_query: bool) -> int:
    what = f"{'a signed' if signed else 'an unsigned'} {bits}-bit integer"
    if isinstance(value, bool) or not isinstance(value, str):
        raise _invalid(field, what)
    if not in_query and not isinstance(value, JsonNumber):
        raise _invalid(field, what)  # a JSON string where the venue wants a number
    if len(value) > 24 or not _INTEGER.fullmatch(value):
        raise _invalid(field, what)
    number = int(value)
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    if not low <= number <= high:
        raise _invalid(field, what)
    return number


STRING = Kind("string")
BOOL = Kind("bool")
DECIMAL = Kind("decimal")
ORDER_ID = Kind("id")
U16 = Kind("integer", bits=16)
U32 = Kind("integer", bits=32)
U64 = Kind("integer", bits=64)
I64 = Kind("integer", bits=64, signed=True)


def enum(*values: str, array: bool = False) -> Kind:
    return Kind("enum", values=values, array=array)


SIDE = enum("Bid", "Ask")
MARKET_TYPES = ("SPOT", "PERP", "IPERP", "DATED", "PREDICTION", "RFQ")
MARKET_TYPE = enum(*MARKET_TYPES)
MARKET_TYPE_ARRAY = enum(*MARKET_TYPES, array=True)
SORT_DIRECTION = enum("Asc", "Desc")
TRIGGER_BY = enum("LastPrice", "MarkPrice", "IndexPrice")
KLINE_INTERVALS = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1month",
)  # fmt: skip
FILL_TYPES = (
    "User", "BookLiquidation", "Adl", "Backstop", "Liquidation", "AllLiquidation", "CollateralConversion",
    "CollateralConversionAndSpotLiquidation",
)  # fmt: skip
SETTLEMENT_SOURCES = (
    "BackstopLiquidation", "CulledBorrowInterest", "CulledRealizePnl", "CulledRealizePnlBookUtilization",
    "FundingPayment", "RealizePnl", "TradingFees", "TradingFeesSystem",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Schema:
    """The fields of one request (query or body) and which of them are required."""

    fields: Mapping[str, Kind]
    required: tuple[str, ...] = ()


ORDER_EXECUTE = Schema(
    {
        "symbol": STRING,
        "side": SIDE,
        "orderType": enum("Limit", "Market"),
        "quantity": DECIMAL,
        "quoteQuantity": DECIMAL,
        "price": DECIMAL,
        "timeInForce": enum("GTC", "IOC", "FOK"),
        "postOnly": BOOL,
        "reduceOnly": BOOL,
        "clientId": U32,
        "selfTradePrevention": enum("RejectTaker", "RejectMaker", "RejectBoth", "Allow"),
        "triggerPrice": DECIMAL,
        "triggerQuantity": STRING,
        "triggerBy": TRIGGER_BY,
        "stopLossTriggerPrice": DECIMAL,
        "stopLossLimitPrice": DECIMAL,
        "stopLossTriggerBy": TRIGGER_BY,
        "takeProfitTriggerPrice": DECIMAL,
        "takeProfitLimitPrice": DECIMAL,
        "takeProfitTriggerBy": TRIGGER_BY,
        "autoLend": BOOL,
        "autoLendRedeem": BOOL,
        "autoBorrow": BOOL,
        "autoBorrowRepay": BOOL,
        "slippageTolerance": DECIMAL,
        "slippageToleranceType": enum("TickSize", "Percent"),
        "brokerId": U16,
    },
    ("symbol", "side", "orderType"),
)
ORDER_ID_FIELDS = {"symbol": STRING, "orderId": ORDER_ID, "clientId": U32}
HISTORY_PAGING = {"limit": U64, "offset": U64, "sortDirection": SORT_DIRECTION}

# (method, path) -> the request's schema; query for GET, JSON body otherwise. A route not listed takes no
# parameters worth checking (its handler refuses it or ignores them).
SCHEMAS: dict[tuple[str, str], Schema] = {
    # public
    ("GET", "/api/v1/markets"): Schema({"marketType": MARKET_TYPE_ARRAY}),
    ("GET", "/api/v1/market"): Schema({"symbol": STRING}, ("symbol",)),
    ("GET", "/api/v1/assets"): Schema({"country": STRING}),
    ("GET", "/api/v1/depth"): Schema({"symbol": STRING}, ("symbol",)),  # `limit`: the handler's own error
    ("GET", "/api/v1/ticker"): Schema({"symbol": STRING, "interval": enum("1d", "1w")}, ("symbol",)),
    ("GET", "/api/v1/tickers"): Schema({"interval": enum("1d", "1w")}),
    ("GET", "/api/v1/markPrices"): Schema({"symbol": STRING, "marketType": MARKET_TYPE}),
    ("GET", "/api/v1/openInterest"): Schema({"symbol": STRING}),
    ("GET", "/api/v1/fundingRates"): Schema({"symbol": STRING, "limit": U64, "offset": U64}, ("symbol",)),
    ("GET", "/api/v1/trades"): Schema({"symbol": STRING, "limit": U16}, ("symbol",)),
    ("GET", "/api/v1/trades/history"): Schema({"symbol": STRING, "limit": U64, "offset": U64}, ("symbol",)),
    ("GET", "/api/v1/klines"): Schema(
        {
            "symbol": STRING,
            "interval": enum(*KLINE_INTERVALS),
            "startTime": I64,
            "endTime": I64,
            "priceType": enum("Last", "Index", "Mark"),
        },
        ("symbol", "interval", "startTime"),
    ),
    # signed
    ("POST", "/api/v1/order"): ORDER_EXECUTE,
    ("GET", "/api/v1/order"): Schema(ORDER_ID_FIELDS, ("symbol",)),
    ("DELETE", "/api/v1/order"): Schema(ORDER_ID_FIELDS, ("symbol",)),
    ("GET", "/api/v1/orders"): Schema({"symbol": STRING, "marketType": MARKET_TYPE}),
    ("DELETE", "/api/v1/orders"): Schema(
        {"symbol": STRING, "orderType": enum("RestingLimitOrder", "ConditionalOrder")}, ("symbol",)
    ),
    ("GET", "/api/v1/position"): Schema({"symbol": STRING, "marketType": MARKET_TYPE}),
    ("GET", "/api/v1/capital/collateral"): Schema({"subaccountId": U16}),
    ("GET", "/api/v1/account/limits/order"): Schema(
        {
            "symbol": STRING,
            "side": SIDE,
            "price": DECIMAL,
            "reduceOnly": BOOL,
            "autoBorrow": BOOL,
            "autoBorrowRepay": BOOL,
            "autoLendRedeem": BOOL,
        },
        ("symbol", "side"),
    ),
    ("PATCH", "/api/v1/account"): Schema(
        {
            "autoBorrowSettlements": BOOL,
            "autoLend": BOOL,
            "autoRepayBorrows": BOOL,
            "leverageLimit": DECIMAL,
        }
    ),
    ("GET", "/wapi/v1/history/orders"): Schema(
        {
            "orderId": ORDER_ID,
            "strategyId": STRING,
            "symbol": STRING,
            "marketType": MARKET_TYPE_ARRAY,
            **HISTORY_PAGING,
        }
    ),
    ("GET", "/wapi/v1/history/fills"): Schema(
        {
            "orderId": ORDER_ID,
            "strategyId": STRING,
            "from": I64,
            "to": I64,
            "symbol": STRING,
            "fillType": enum(*FILL_TYPES),
            "marketType": MARKET_TYPE_ARRAY,
            **HISTORY_PAGING,
        }
    ),
    ("GET", "/wapi/v1/history/funding"): Schema({"subaccountId": U16, "symbol": STRING, **HISTORY_PAGING}),
    ("GET", "/wapi/v1/history/position"): Schema(
        {
            "symbol": STRING,
            "state": enum("Open", "Closed"),
            "marketType": MARKET_TYPE_ARRAY,
            **HISTORY_PAGING,
        }
    ),
    ("GET", "/wapi/v1/history/settlement"): Schema({"source": enum(*SETTLEMENT_SOURCES), **HISTORY_PAGING}),
}


def validate_query(schema: Schema, query: MultiMapping[str]) -> dict[str, Any]:
    """Query parameters -> normalized values (arrays as lists); unknown keys ignored."""
    out: dict[str, Any] = {}
    for name, kind in schema.fields.items():
        values = query.getall(name, [])
        if not values:
            continue
        if kind.array:
            items: list[str] = []
            for v in values:  # `marketType=PERP&marketType=SPOT` or `marketType=PERP,SPOT`
                items.extend(v.split(","))
            out[name] = [kind.check(name, v, True) for v in items]
        else:
            if len(values) > 1:
                raise invalid_request(f"Invalid `{name}`: given more than once")
            out[name] = kind.check(name, values[0], True)
    for name in schema.required:
        if name not in out:
            raise invalid_request(f"Missing parameter `{name}`")
    return out


def validate_body(schema: Schema, body: Any, where: str = "") -> dict[str, Any]:
    """A JSON object body -> normalized values; `where` prefixes the field name (batch index)."""
    if not isinstance(body, dict):
        raise invalid_request(f"Invalid request body{where}: expected an object")
    out: dict[str, Any] = {}
    for name, kind in schema.fields.items():
        value = body.get(name)
        if value is None:
            continue
        if kind.array:
            if not isinstance(value, list):
                raise _invalid(where + name, "an array")
            out[name] = [kind.check(where + name, v, False) for v in value]
        else:
            out[name] = kind.check(where + name, value, False)
    for name in schema.required:
        if name not in out:
            raise invalid_request(f"Missing parameter `{where}{name}`")
    return out


def validate_batch(body: Any) -> list[dict[str, Any]]:
    """`POST /api/v1/orders`: the whole array is checked before any order is placed (as the venue's
    deserializer refuses the whole body); an error names the order's index."""
    if not isinstance(body, list):
        raise invalid_request("Invalid request body: expected an array of orders")
    return [validate_body(ORDER_EXECUTE, order, f"[{i}].") for i, order in enumerate(body)]
