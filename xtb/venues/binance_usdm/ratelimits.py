"""Binance USD-M's limits as a `RateLimiter` preset (docs/venues/binance_usdm.md section 4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from xtb.ratelimits import MINUTE_MS, at_least_one, sliding_window

BINANCE_USDM_WEIGHT_PER_MINUTE: Final = 2400
BINANCE_USDM_ORDERS_PER_MINUTE: Final = 1200
BINANCE_USDM_ORDERS_PER_10S: Final = 300  # UNCONFIRMED: the common figure, no official example seen
#: limiter key -> (IP weight, order count); the connector's REST paths map onto these keys
BINANCE_USDM_KEYS: Final[Mapping[str, tuple[int, int]]] = {
    "public": (1, 0),
    "depth": (20, 0),  # /fapi/v1/depth at limit 1000
    "private": (5, 0),  # positionRisk / account / balance / userTrades v3
    "open_orders": (40, 0),  # all symbols
    "income": (30, 0),
    "position_mode": (30, 0),  # GET /fapi/v1/positionSide/dual
    "signed": (1, 0),  # order query, cancel, cancel-all, leverage, margin type, listenKey
    "order": (0, 1),  # POST /fapi/v1/order: order count only
    "batch_order": (5, 1),  # one order of a batch (the batch's IP weight 5 is charged per order: over-counts)
}


def binance_usdm(
    weight_per_minute: int = BINANCE_USDM_WEIGHT_PER_MINUTE,
    orders_per_10s: int = BINANCE_USDM_ORDERS_PER_10S,
    orders_per_minute: int = BINANCE_USDM_ORDERS_PER_MINUTE,
) -> dict[str, Any]:
    """Binance USD-M: IP weight per minute and the account's order counts per 10 s and per minute, as
    sliding windows. The connector also reads the venue's own counts from the response headers and blocks
    a pool until its window turns when the venue says it is spent (see the connector)."""
    at_least_one(weight_per_minute=weight_per_minute, orders_per_10s=orders_per_10s,
                 orders_per_minute=orders_per_minute)
    keys: dict[str, dict[str, int]] = {}
    for key, (weight, orders) in BINANCE_USDM_KEYS.items():
        draws = {}
        if weight:
            draws["weight"] = weight
        if orders:
            draws["orders_10s"] = orders
            draws["orders_1m"] = orders
        keys[key] = draws
    return {
        "pools": {
            "weight": sliding_window(weight_per_minute, MINUTE_MS),
            "orders_10s": sliding_window(orders_per_10s, 10_000),
            "orders_1m": sliding_window(orders_per_minute, MINUTE_MS),
        },
        "keys": keys,
    }
