"""Backpack request authentication, checked the way the venue checks it.

The venue signs `instruction=<name>&<params sorted by key>&timestamp=<ms>&window=<ms>` with ED25519
(a batch repeats the instruction per order and appends timestamp/window once). The simulator rebuilds
that string from what it received and verifies the signature with the key in `X-API-Key`, so a client
that signs anything differently from the venue fails here exactly as it would live.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

DEFAULT_WINDOW_MS = 5000
_DIGITS = re.compile(r"[0-9]{1,20}")
MAX_WINDOW_MS = 60000

# (method, path) -> instruction, per the venue's documented table.
INSTRUCTIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/account"): "accountQuery",
    ("PATCH", "/api/v1/account"): "accountUpdate",
    ("GET", "/api/v1/account/limits/order"): "maxOrderQuantity",
    ("GET", "/api/v1/capital"): "balanceQuery",
    ("GET", "/api/v1/capital/collateral"): "collateralQuery",
    ("GET", "/api/v1/position"): "positionQuery",
    ("GET", "/api/v1/order"): "orderQuery",
    ("POST", "/api/v1/order"): "orderExecute",
    ("DELETE", "/api/v1/order"): "orderCancel",
    ("GET", "/api/v1/orders"): "orderQueryAll",
    ("POST", "/api/v1/orders"): "orderExecute",
    ("DELETE", "/api/v1/orders"): "orderCancelAll",
    ("GET", "/wapi/v1/history/orders"): "orderHistoryQueryAll",
    ("GET", "/wapi/v1/history/fills"): "fillHistoryQueryAll",
    ("GET", "/wapi/v1/history/funding"): "fundingHistoryQueryAll",
    ("GET", "/wapi/v1/history/settlement"): "settlementHistoryQueryAll",
    ("GET", "/wapi/v1/history/position"): "positionHistoryQueryAll",
}


class AuthError(Exception):
    """A request failed authentication; carries the venue's HTTP status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def render_value(value: Any) -> str:
    """Render one parameter value the way the venue's signers do (bools lowercase, strings bare).

    Numbers parsed from a request body arrive as their received text (`validate.JsonNumber`, a `str`), so
    the string is rebuilt from exactly what the client sent, never from a lossy float/int copy.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    # Nested values: compact JSON text (numbers as received).
    return _compact_json(value)


def _compact_json(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{_compact_json(str(k))}:{_compact_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_compact_json(v) for v in value) + "]"
    if type(value) is str:
        return orjson.dumps(value).decode()
    return render_value(value)  # bools, null, numbers (received text)


def render_params(params: Mapping[str, Any]) -> str:
    """`key=value` pairs sorted by key; a repeated query key (a multidict) keeps each of its values, in
    the order received."""
    pairs = sorted(params.items(), key=lambda kv: kv[0])
    return "&".join(f"{key}={render_value(value)}" for key, value in pairs)


def signing_string(
    instruction: str, params: Mapping[str, Any], timestamp: int | str, window: int | str
) -> str:
    body = render_params(params)
    head = f"instruction={instruction}&{body}" if body else f"instruction={instruction}"
    return f"{head}&timestamp={timestamp}&window={window}"


def batch_signing_string(
    instruction: str, orders: Iterable[Mapping[str, Any]], timestamp: int | str, window: int | str
) -> str:
    segments = []
    for order in orders:
        body = render_params(order)
        segments.append(f"instruction={instruction}&{body}" if body else f"instruction={instruction}")
    return "&".join(segments) + f"&timestamp={timestamp}&window={window}"


@dataclass(frozen=True)
class SignedHeaders:
    api_key: str
    signature: bytes
    timestamp: int
    window: int
    raw_timestamp: str
    raw_window: str


def parse_headers(headers: Mapping[str, str]) -> SignedHeaders:
    """Read X-API-Key / X-Signature / X-Timestamp / X-Window; missing or malformed -> 401/400."""
    api_key = headers.get("X-API-Key")
    signature = headers.get("X-Signature")
    raw_ts = headers.get("X-Timestamp")
    if not api_key or not signature or not raw_ts:
        raise AuthError(401, "UNAUTHORIZED", "Missing authentication headers")
    raw_window = headers.get("X-Window") or str(DEFAULT_WINDOW_MS)
    # ASCII digits only (`str.isdigit` accepts `²` and other Unicode digits); int64 / uint64 widths.
    if not _DIGITS.fullmatch(raw_ts) or int(raw_ts) >= 2**63:
        raise AuthError(400, "INVALID_CLIENT_REQUEST", "Invalid X-Timestamp header")
    if not _DIGITS.fullmatch(raw_window) or int(raw_window) >= 2**64:
        raise AuthError(400, "INVALID_CLIENT_REQUEST", "Invalid X-Window header")
    window = int(raw_window)
    if window > MAX_WINDOW_MS:
        raise AuthError(400, "INVALID_CLIENT_REQUEST", f"Window must be at most {MAX_WINDOW_MS}")
    try:
        sig = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise AuthError(401, "INVALID_SIGNATURE", "Invalid signature encoding") from None
    return SignedHeaders(api_key, sig, int(raw_ts), window, raw_ts, raw_window)


def check_window(timestamp_ms: int, window_ms: int, now_ms: int, *, symmetric: bool = True) -> None:
    """Reject requests outside the validity window.

    Whether the venue rule is |now-ts| <= window or ts <= now <= ts+window is UNCONFIRMED, so both are
    available; the symmetric rule is the default (it tolerates a client clock slightly ahead).
    """
    if symmetric:
        expired = abs(now_ms - timestamp_ms) > window_ms
    else:
        expired = not (timestamp_ms <= now_ms <= timestamp_ms + window_ms)
    if expired:
        raise AuthError(401, "UNAUTHORIZED", "Request has expired")


def verify(api_key_b64: str, message: str, signature: bytes) -> None:
    """Verify an ED25519 signature; any failure is an INVALID_SIGNATURE 401."""
    try:
        key_bytes = base64.b64decode(api_key_b64, validate=True)
        VerifyKey(key_bytes).verify(message.encode(), signature)
    except (binascii.Error, ValueError, BadSignatureError, TypeError):
        raise AuthError(401, "INVALID_SIGNATURE", "Invalid signature") from None
    except Exception:  # nacl raises its own CryptoError subclasses for malformed keys
        raise AuthError(401, "INVALID_SIGNATURE", "Invalid signature") from None
