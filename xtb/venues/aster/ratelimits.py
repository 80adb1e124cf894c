"""Aster's limits as a `RateLimiter` preset (docs/venues/aster.md, "Limits"): Binance USD-M's shape and keys
(REQUEST_WEIGHT per minute by IP, ORDERS per minute by account), with no documented 10-second order limit,
so that pool is as wide as the minute's."""

from __future__ import annotations

from typing import Any, Final

from xtb.venues.binance_usdm.ratelimits import binance_usdm

ASTER_WEIGHT_PER_MINUTE: Final = 2400
ASTER_ORDERS_PER_MINUTE: Final = 1200
ASTER_ORDERS_PER_10S: Final = ASTER_ORDERS_PER_MINUTE  # none documented


def aster(
    weight_per_minute: int = ASTER_WEIGHT_PER_MINUTE,
    orders_per_10s: int = ASTER_ORDERS_PER_10S,
    orders_per_minute: int = ASTER_ORDERS_PER_MINUTE,
) -> dict[str, Any]:
    """Aster: the same pools and keys as Binance USD-M's preset (the connector maps Aster's paths onto them)."""
    return binance_usdm(weight_per_minute, orders_per_10s, orders_per_minute)
