"""Recorded-shape Backpack depth frames and the matching snapshot, shared by the market-data benchmarks."""

from __future__ import annotations

import orjson

SYMBOL = "BTC_USDC_PERP"
PRICE_DECIMALS, SIZE_DECIMALS = 1, 5
SNAPSHOT_SEQ = 100
# 20 bid + 20 ask levels around 86600.0 (in price units of 0.1).
SNAPSHOT_BIDS = [(866000 - i, 100000) for i in range(20)]
SNAPSHOT_ASKS = [(866010 + i, 100000) for i in range(20)]


def depth_frame(u: int) -> bytes:
    """One Backpack realtime depth delta (captured shape) with 20+20 levels and U == u."""
    data = {
        "E": 1790134357267289,
        "T": 1790134357267074,
        "U": u,
        "a": [[f"{86601.0 + i / 10:.1f}", f"{1 + (u % 7) / 10:.5f}"] for i in range(20)],
        "b": [[f"{86600.0 - i / 10:.1f}", f"{1 + (u % 5) / 10:.5f}"] for i in range(20)],
        "e": "depth",
        "s": SYMBOL,
        "u": u,
    }
    return orjson.dumps({"data": data, "stream": f"depth.{SYMBOL}"})


def ticker_frame(u: int) -> bytes:
    """One Backpack bookTicker message (the highest-rate, smallest public frame)."""
    data = {
        "A": "0.41200",
        "B": f"{1 + (u % 5) / 10:.5f}",
        "E": 1790134357267301,
        "T": 1790134357267080,
        "a": "86601.0",
        "b": "86600.0",
        "e": "bookTicker",
        "s": SYMBOL,
        "u": u,
    }
    return orjson.dumps({"data": data, "stream": f"bookTicker.{SYMBOL}"})
