"""Decode and validate Lighter L2 transactions (`tx_type` + `tx_info` JSON) as the API server would.

The Schnorr signature is checked by the venue (venue.py, with the core's native verifier); here `Sig`
must only be well-formed base64 of 80 bytes. Everything else in `tx_info` is checked: key set, JSON
types, integer ranges, enums, the order-type/time-in-force/expiry rules the venue's signer enforces,
the tx deadline (`ExpiredAt`) and the attributes map. Nonces are checked by the caller, which owns the
per-(account, api key) state.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import orjson

TX_CREATE_ORDER = 14
TX_CANCEL_ORDER = 15
TX_CANCEL_ALL_ORDERS = 16
TX_MODIFY_ORDER = 17
TX_CREATE_GROUPED_ORDERS = 28

ORDER_LIMIT, ORDER_MARKET = 0, 1
ORDER_TYPES = range(0, 7)  # LIMIT..TWAP; 7/8 are internal
TIF_IOC, TIF_GTT, TIF_POST_ONLY = 0, 1, 2

MAX_ACCOUNT_INDEX = 2**48 - 2
MAX_API_KEY_INDEX = 254
MAX_CLIENT_ORDER_INDEX = 2**48 - 1
MAX_BASE_AMOUNT = 2**48 - 1
MAX_PRICE = 2**32 - 1
MAX_EXPIRED_AT = 2**48 - 1
ORDER_INDEX_MIN = 2**48  # exchange order indexes live in [2^48, 2^60)
ORDER_INDEX_MAX = 2**60 - 1
SIG_BYTES = 80
MAX_ATTRIBUTES = 4
ATTR_SKIP_NONCE = "4"
ATTR_CANCEL_ALL_MARKET = "5"
MIN_ORDER_EXPIRY_MS = 5 * 60 * 1000
MAX_ORDER_EXPIRY_MS = 30 * 24 * 3600 * 1000
ALL_MARKETS = 255


class TxError(Exception):
    """A tx rejected by the API server: HTTP 400 with the venue's numeric code. The nonce is not used."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _invalid(message: str) -> TxError:
    return TxError(21501, f"invalid tx info: {message}")


@dataclass(frozen=True)
class TxHeader:
    account_index: int
    api_key_index: int
    nonce: int
    expired_at: int
    attributes: dict[str, int] = field(default_factory=dict)

    @property
    def skip_nonce(self) -> bool:
        return self.attributes.get(ATTR_SKIP_NONCE, 0) == 1


@dataclass(frozen=True)
class CreateOrderTx:
    header: TxHeader
    market_index: int
    client_order_index: int
    base_amount: int
    price: int
    is_ask: bool
    order_type: int
    time_in_force: int
    reduce_only: bool
    trigger_price: int
    order_expiry: int


@dataclass(frozen=True)
class CancelOrderTx:
    header: TxHeader
    market_index: int
    index: int  # client order index or exchange order index


@dataclass(frozen=True)
class CancelAllOrdersTx:
    header: TxHeader
    time_in_force: int  # 0 immediate, 1 scheduled, 2 abort scheduled
    time: int
    market_index: int  # ALL_MARKETS unless attribute 5 restricts it


@dataclass(frozen=True)
class ModifyOrderTx:
    header: TxHeader
    market_index: int
    index: int
    base_amount: int
    price: int
    trigger_price: int


@dataclass(frozen=True)
class GroupedOrdersTx:
    header: TxHeader
    grouping_type: int
    orders: tuple[CreateOrderTx, ...]


Tx = CreateOrderTx | CancelOrderTx | CancelAllOrdersTx | ModifyOrderTx | GroupedOrdersTx


def _int(info: dict[str, Any], key: str, lo: int, hi: int, code: int = 21501) -> int:
    if key not in info:
        raise _invalid(f"missing field {key}")
    value = info[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"field {key} must be an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise TxError(code, f"invalid {key}: {value} not in [{lo}, {hi}]")
    return value


def _flag(info: dict[str, Any], key: str, code: int = 21501) -> bool:
    return _int(info, key, 0, 1, code) == 1


def _check_keys(info: dict[str, Any], expected: set[str]) -> None:
    unknown = set(info) - expected - {"L1Sig"}
    if unknown:
        raise _invalid(f"unknown field(s) {sorted(unknown)}")


def _header(info: dict[str, Any], now_ms: int) -> TxHeader:
    account = _int(info, "AccountIndex", 1, MAX_ACCOUNT_INDEX)
    api_key = _int(info, "ApiKeyIndex", 0, MAX_API_KEY_INDEX)
    nonce = _int(info, "Nonce", 0, 2**63 - 1)
    expired_at = _int(info, "ExpiredAt", 0, MAX_EXPIRED_AT)
    if expired_at and expired_at < now_ms:
        raise TxError(21711, f"invalid expiry: tx ExpiredAt {expired_at} is in the past")
    sig = info.get("Sig")
    if not isinstance(sig, str):
        raise _invalid("field Sig must be a base64 string")
    try:
        raw = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("field Sig is not valid base64") from None
    if len(raw) != SIG_BYTES:
        raise _invalid(f"field Sig must decode to {SIG_BYTES} bytes, got {len(raw)}")
    attrs_raw = info.get("L2TxAttributes")
    attributes: dict[str, int] = {}
    if attrs_raw is not None:
        if not isinstance(attrs_raw, dict):
            raise _invalid("field L2TxAttributes must be an object or null")
        if len(attrs_raw) > MAX_ATTRIBUTES:
            raise _invalid(f"at most {MAX_ATTRIBUTES} L2TxAttributes allowed")
        for key, value in attrs_raw.items():
            if key not in {"1", "2", "3", "4", "5", "6", "7"}:
                raise _invalid(f"unknown L2TxAttributes key {key!r}")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise _invalid(f"L2TxAttributes[{key}] must be a non-negative integer")
            attributes[key] = value
    return TxHeader(account, api_key, nonce, expired_at, attributes)


def _order_fields(info: dict[str, Any], header: TxHeader, now_ms: int, *, in_group: bool) -> CreateOrderTx:
    market = _int(info, "MarketIndex", 0, 4094, 21602)
    client_index = _int(info, "ClientOrderIndex", 0, MAX_CLIENT_ORDER_INDEX, 21727)
    reduce_only = _flag(info, "ReduceOnly")
    base_amount = _int(info, "BaseAmount", 0, MAX_BASE_AMOUNT, 21701)
    if base_amount == 0 and not (in_group and reduce_only):
        raise TxError(21701, "invalid base amount: BaseAmount must be positive")
    price = _int(info, "Price", 1, MAX_PRICE, 21702)
    is_ask = _flag(info, "IsAsk", 21703)
    order_type = _int(info, "Type", ORDER_TYPES.start, ORDER_TYPES.stop - 1, 21704)
    tif = _int(info, "TimeInForce", 0, 2, 21705)
    trigger = _int(info, "TriggerPrice", 0, MAX_PRICE, 21702)
    expiry = _int(info, "OrderExpiry", 0, 2**63 - 1, 21711)
    if order_type == ORDER_MARKET:
        if tif != TIF_IOC:
            raise TxError(21705, "invalid OrderTimeInForce: market orders must be immediate-or-cancel")
        if expiry != 0:
            raise TxError(21711, "invalid expiry: market orders must have OrderExpiry 0")
        if trigger != 0:
            raise TxError(21702, "invalid TriggerPrice: market orders take no trigger")
    elif order_type == ORDER_LIMIT:
        if trigger != 0:
            raise TxError(21702, "invalid TriggerPrice: limit orders take no trigger")
        if tif == TIF_IOC and expiry != 0:
            raise TxError(21711, "invalid expiry: IOC orders must have OrderExpiry 0")
        if tif != TIF_IOC:
            if expiry == 0:
                raise TxError(21711, "invalid expiry: GTT/post-only orders need an OrderExpiry")
            lead = expiry - now_ms
            if not MIN_ORDER_EXPIRY_MS - 60_000 <= lead <= MAX_ORDER_EXPIRY_MS + 60_000:
                raise TxError(21711, f"invalid expiry: OrderExpiry {expiry} must be 5 min..30 days ahead")
    else:
        if trigger == 0:
            raise TxError(21702, "invalid TriggerPrice: conditional orders need a trigger price")
        if expiry == 0:
            raise TxError(21711, "invalid expiry: conditional orders need an OrderExpiry")
    return CreateOrderTx(
        header,
        market,
        client_index,
        base_amount,
        price,
        is_ask,
        order_type,
        tif,
        reduce_only,
        trigger,
        expiry,
    )


_HEADER_KEYS = {"AccountIndex", "ApiKeyIndex", "ExpiredAt", "Nonce", "Sig", "L2TxAttributes"}
_ORDER_KEYS = {
    "MarketIndex",
    "ClientOrderIndex",
    "BaseAmount",
    "Price",
    "IsAsk",
    "Type",
    "TimeInForce",
    "ReduceOnly",
    "TriggerPrice",
    "OrderExpiry",
}


def parse_tx_info(tx_info: str | bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(tx_info, dict):
        return tx_info
    try:
        info = orjson.loads(tx_info)
    except orjson.JSONDecodeError:
        raise _invalid("tx_info is not valid JSON") from None
    if not isinstance(info, dict):
        raise _invalid("tx_info must be a JSON object")
    return info


def decode_tx(tx_type: int, tx_info: str | bytes | dict[str, Any], now_ms: int) -> Tx:
    """Decode one transaction; raises TxError naming the offending field."""
    info = parse_tx_info(tx_info)
    if tx_type == TX_CREATE_ORDER:
        _check_keys(info, _HEADER_KEYS | _ORDER_KEYS)
        return _order_fields(info, _header(info, now_ms), now_ms, in_group=False)
    if tx_type == TX_CANCEL_ORDER:
        _check_keys(info, _HEADER_KEYS | {"MarketIndex", "Index"})
        header = _header(info, now_ms)
        market = _int(info, "MarketIndex", 0, 4094, 21602)
        index = _int(info, "Index", 1, ORDER_INDEX_MAX, 21700)
        return CancelOrderTx(header, market, index)
    if tx_type == TX_CANCEL_ALL_ORDERS:
        _check_keys(info, _HEADER_KEYS | {"TimeInForce", "Time"})
        header = _header(info, now_ms)
        tif = _int(info, "TimeInForce", 0, 2, 21713)
        when = _int(info, "Time", 0, 2**63 - 1, 21714)
        if tif == 1:
            lead = when - now_ms
            if not 5 * 60 * 1000 <= lead <= 15 * 24 * 3600 * 1000:
                raise TxError(21714, "invalid cancel-all time: scheduled time must be 5 min..15 days ahead")
        elif when != 0:
            raise TxError(21714, "invalid cancel-all time: Time must be 0 unless scheduled")
        market = header.attributes.get(ATTR_CANCEL_ALL_MARKET, ALL_MARKETS)
        return CancelAllOrdersTx(header, tif, when, market)
    if tx_type == TX_MODIFY_ORDER:
        _check_keys(
            info,
            _HEADER_KEYS | {"MarketIndex", "Index", "BaseAmount", "Price", "TriggerPrice", "OrderVersion"},
        )
        header = _header(info, now_ms)
        return ModifyOrderTx(
            header,
            _int(info, "MarketIndex", 0, 4094, 21602),
            _int(info, "Index", 1, ORDER_INDEX_MAX, 21700),
            _int(info, "BaseAmount", 1, MAX_BASE_AMOUNT, 21701),
            _int(info, "Price", 1, MAX_PRICE, 21702),
            _int(info, "TriggerPrice", 0, MAX_PRICE, 21702),
        )
    if tx_type == TX_CREATE_GROUPED_ORDERS:
        _check_keys(info, _HEADER_KEYS | {"GroupingType", "Orders"})
        header = _header(info, now_ms)
        grouping = _int(info, "GroupingType", 1, 3, 21741)
        raw_orders = info.get("Orders")
        if not isinstance(raw_orders, list) or not 2 <= len(raw_orders) <= 3:
            raise TxError(21742, "invalid group size: Orders must hold 2 or 3 orders")
        orders = []
        for raw in raw_orders:
            if not isinstance(raw, dict):
                raise _invalid("each grouped order must be an object")
            _check_keys(raw, _ORDER_KEYS)
            orders.append(_order_fields(raw, header, now_ms, in_group=True))
        return GroupedOrdersTx(header, grouping, tuple(orders))
    raise TxError(21505, f"unsupported tx type {tx_type}")
