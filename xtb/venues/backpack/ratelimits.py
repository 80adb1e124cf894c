"""Backpack's REST limits as a `RateLimiter` preset (docs/venues/backpack.md section 5.2)."""

from __future__ import annotations

from typing import Any, Final

from xtb.ratelimits import at_least_one, token_bucket

#: UNCONFIRMED: Backpack publishes no REST limits. ccxt assumes 50 ms between requests (20 per second);
#: a probe at 5 per second never saw a 429. Tune per deployment.
BACKPACK_DEFAULT_REQUESTS_PER_SECOND: Final = 20
BACKPACK_KEYS: Final = ("public", "private", "order")


def backpack(
    requests_per_second: int = BACKPACK_DEFAULT_REQUESTS_PER_SECOND, burst: int | None = None
) -> dict[str, Any]:
    """Backpack REST limits (UNCONFIRMED defaults): one token bucket `rest` refilled at
    `requests_per_second`, holding up to `burst` (default: one second's worth); keys `public`,
    `private` and `order` weigh 1 each."""
    at_least_one(requests_per_second=requests_per_second)
    capacity = requests_per_second if burst is None else burst
    if capacity < 1:
        raise ValueError(f"burst: must be >= 1, got {burst}")
    return {
        "pools": {"rest": token_bucket(capacity, requests_per_second, 1000)},
        "keys": {key: {"rest": 1} for key in BACKPACK_KEYS},
    }
