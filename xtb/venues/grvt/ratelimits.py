"""GRVT's REST limits as a `RateLimiter` preset (docs/venues/grvt.md: only the 429 signals are published,
the numbers are UNCONFIRMED)."""

from __future__ import annotations

from typing import Any, Final

from xtb.ratelimits import token_bucket

GRVT_KEYS: Final = ("public", "private", "order", "login")


def grvt(requests_per_second: float = 10.0, burst: int | None = None) -> dict[str, Any]:
    """GRVT REST limits (UNCONFIRMED defaults: GRVT documents codes 1006 and 2090 with HTTP 429, no numbers):
    one token bucket `rest` refilled at `requests_per_second`; every key weighs 1."""
    if requests_per_second <= 0:
        raise ValueError(f"requests_per_second: must be > 0, got {requests_per_second}")
    capacity = max(1, int(requests_per_second)) if burst is None else burst
    if capacity < 1:
        raise ValueError(f"burst: must be >= 1, got {burst}")
    return {
        "pools": {"rest": token_bucket(capacity, max(1, round(requests_per_second)), 1000)},
        "keys": {key: {"rest": 1} for key in GRVT_KEYS},
    }
