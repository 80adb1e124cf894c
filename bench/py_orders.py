"""The pure-Python baselines' Backpack order, as a careful bot builds it: PyNaCl (libsodium) signature over the
instruction string, orjson body. Shared by the tick-to-order benchmarks (in process and on loopback)."""

from __future__ import annotations

import base64
import time

import orjson
from nacl.signing import SigningKey


def signed_limit_bid(
    key: SigningKey, api_key: str, client_id: int, symbol: str, price: str, quantity: str, window_ms: int
) -> tuple[dict[str, str], bytes]:
    """Headers and JSON body of a GTC limit bid (`POST /api/v1/order`)."""
    params = {  # already in key order, as the signed string needs
        "clientId": client_id, "orderType": "Limit", "price": price, "quantity": quantity, "side": "Bid",
        "symbol": symbol, "timeInForce": "GTC",
    }
    ts = time.time_ns() // 1_000_000
    msg = "instruction=orderExecute&" + "&".join(f"{k}={v}" for k, v in params.items()) \
        + f"&timestamp={ts}&window={window_ms}"
    sig = base64.b64encode(key.sign(msg.encode()).signature).decode()
    headers = {"X-API-Key": api_key, "X-Signature": sig, "X-Timestamp": str(ts), "X-Window": str(window_ms),
               "Content-Type": "application/json; charset=utf-8"}
    return headers, orjson.dumps(params)
