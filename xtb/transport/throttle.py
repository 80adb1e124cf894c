"""Waiting for a rate-limit slot: the one loop every sender shares (REST client, gateway, connectors)."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Limiter(Protocol):
    def acquire(self, key: str, weight: int = 1, now_ns: int | None = None) -> int: ...


class SlotNeverGranted(RuntimeError):
    """A limiter kept refusing (misconfiguration: a weight above what a window can ever hold)."""


async def take_slot(
    limiter: Limiter, key: str, weight: int = 1, *, already_waiting_ns: int = 0, what: str = "",
    max_rounds: int = 10_000,
) -> int:
    """Sleep until `limiter` grants (key, weight) and take it; returns the nanoseconds waited.

    The core limiter answers 0 (granted, consumed) or how long until the same request would be granted
    (nothing consumed), so each round sleeps exactly that long. `already_waiting_ns` is a refusal the
    caller already got. Bounded by `max_rounds`.
    """
    waited = 0
    wait_ns = already_waiting_ns
    for _ in range(max_rounds):
        if wait_ns > 0:
            waited += wait_ns
            await asyncio.sleep(wait_ns / 1e9)
        wait_ns = limiter.acquire(key, weight, time.monotonic_ns())
        if wait_ns <= 0:
            return waited
    raise SlotNeverGranted(f"{what or 'rate limiter'}: key {key!r} (weight {weight}) never granted")
