"""What every venue's rate-limit preset is built from: the config shape of `xtb._core.RateLimiter.from_config`.

Each venue package holds its own preset (`xtb/venues/<name>/ratelimits.py`, named by its VenueSpec's
`rate_limits`), returning a plain config dict, so a deployment can inspect or adjust it before building
the limiter::

    from xtb._core import RateLimiter
    from xtb.venues.lighter import ratelimits

    limiter = RateLimiter.from_config(ratelimits.lighter("premium"))
    wait_ns = limiter.acquire_many(ratelimits.lighter_send_tx_request(limiter.keys, "CreateOrder"))

Numbers a venue does not publish are parameters with defaults marked UNCONFIRMED.
"""

from __future__ import annotations

from typing import Any, Final

MINUTE_MS: Final = 60_000


def sliding_window(limit: int, window_ms: int) -> dict[str, Any]:
    """An exact sliding-window pool: at most `limit` draws in any `window_ms`."""
    return {"type": "sliding_window", "limit": limit, "window_ms": window_ms}


def token_bucket(capacity: int, refill: int, window_ms: int) -> dict[str, Any]:
    """A token-bucket pool holding up to `capacity`, refilled by `refill` every `window_ms`."""
    return {"type": "token_bucket", "capacity": capacity, "refill": refill, "window_ms": window_ms}


def at_least_one(**values: int) -> None:
    """ValueError naming the first argument below 1."""
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name}: must be >= 1, got {value}")
