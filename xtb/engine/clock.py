"""A periodic asyncio clock that calls tick handlers with `now_ms`, without drift.

Ticks are scheduled on absolute deadlines (start + k * interval), so a slow handler delays one tick
instead of shifting every later one; missed ticks are skipped (counted), not queued up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

TickHandler = Callable[[int], Awaitable[None] | None]

log = logging.getLogger("xtb.engine.clock")


class Clock:
    def __init__(self, interval_ms: int, *, time_ms: Callable[[], int] | None = None) -> None:
        if interval_ms <= 0:
            raise ValueError(f"clock interval_ms must be > 0, got {interval_ms}")
        self.interval_ms = interval_ms
        self._handlers: list[TickHandler] = []
        self._task: asyncio.Task[None] | None = None
        self._time_ms = time_ms or (lambda: time.time_ns() // 1_000_000)
        self.ticks = 0
        self.skipped = 0

    def add_tick_handler(self, handler: TickHandler) -> None:
        self._handlers.append(handler)

    def remove_tick_handler(self, handler: TickHandler) -> None:
        self._handlers.remove(handler)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="xtb-clock")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.interval_ms / 1000.0
        start = loop.time()
        k = 0
        while True:
            k += 1
            deadline = start + k * interval
            delay = deadline - loop.time()
            if delay < 0:
                missed = int(-delay // interval)
                if missed:
                    self.skipped += missed
                    k += missed
                    deadline = start + k * interval
                delay = max(0.0, deadline - loop.time())
            await asyncio.sleep(delay)
            await self.tick_once()

    async def tick_once(self) -> None:
        """Run every handler once with the current time; a failing handler is logged, not fatal."""
        now_ms = self._time_ms()
        self.ticks += 1
        for h in list(self._handlers):
            try:
                res = h(now_ms)
                if res is not None:
                    await res
            except Exception:
                log.exception("tick handler %r failed", h)
