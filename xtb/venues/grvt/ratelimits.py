"""GRVT's REST limits as a `RateLimiter` preset (docs/venues/grvt.md: only the 429 signals are published,
codes 1006 and 2090; the numbers are UNCONFIRMED)."""

from __future__ import annotations

from typing import Any, Final

GRVT_DEFAULT_REQUESTS_PER_SECOND: Final = 10.0
GRVT_KEYS: Final = ("public", "private", "order", "login")


def grvt(requests_per_second: float = GRVT_DEFAULT_REQUESTS_PER_SECOND, burst: int | None = None) -> dict[str, Any]:
    """One token bucket `rest` refilled at `requests_per_second` (UNCONFIRMED default), holding up to `burst`
    (default: one second's worth); every key weighs 1."""
    if requests_per_second <= 0:
        raise ValueError(f"requests_per_second: must be > 0, got {requests_per_second}")
    refill = max(1, round(requests_per_second))
    capacity = refill if burst is None else burst
    if capacity < 1:
        raise ValueError(f"burst: must be >= 1, got {burst}")
    return {
        "pools": {"rest": {"type": "token_bucket", "capacity": capacity, "refill": refill, "window_ms": 1000}},
        "keys": {key: {"rest": 1} for key in GRVT_KEYS},
    }
