"""Clocks for the simulator: virtual time for tests, wall time for the protocol servers.

Every simulator component reads time only through a `Clock`, so a test can run an hour of market
activity in milliseconds (`VirtualClock.advance`) and a server can run the same code in real time.
"""

from __future__ import annotations

import time
from typing import Protocol

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
NS_PER_US = 1_000


class Clock(Protocol):
    def now_ns(self) -> int:
        """Current time in integer nanoseconds since the Unix epoch."""
        ...


class RealClock:
    """Wall-clock time (`time.time_ns`), optionally shifted (e.g. to simulate a skewed venue clock)."""

    def __init__(self, offset_ns: int = 0) -> None:
        self.offset_ns = offset_ns

    def now_ns(self) -> int:
        return time.time_ns() + self.offset_ns


class VirtualClock:
    """Time that moves only when told to. Starts at a fixed epoch so runs are reproducible."""

    DEFAULT_START_NS = 1_750_000_000 * NS_PER_S

    def __init__(self, start_ns: int = DEFAULT_START_NS) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance(self, dt_ns: int) -> int:
        if dt_ns < 0:
            raise ValueError(f"dt_ns must be >= 0, got {dt_ns}")
        self._now += dt_ns
        return self._now

    def set(self, t_ns: int) -> None:
        """Move to `t_ns` (never backwards)."""
        if t_ns < self._now:
            raise ValueError(f"time cannot go backwards: {t_ns} < {self._now}")
        self._now = t_ns
