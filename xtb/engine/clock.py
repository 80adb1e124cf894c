"""Time for the engine and its strategies.

`Clock` is the engine's periodic tick: it calls tick handlers with `now_ms`, without drift.
`StrategyClock` (`ctx.clock`) is the only time a strategy reads: `WallClock` live and in paper mode,
`EventClock` in replay (the journal's time, advanced by events; timers fire in event time).

Ticks are scheduled on absolute deadlines (start + k * interval), so a slow handler delays one tick
instead of shifting every later one; missed ticks are skipped (counted), not queued up.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

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


# --- the strategy clock (ctx.clock) ------------------------------------------------------------------------
#
# A strategy reads time and sets timers only through its context's clock, so the same code runs live, in
# paper mode and in replay: `WallClock` live and in paper, `EventClock` in replay (the journal's time, moved by
# the replayed events; timers fire in event time, in deadline order).

TimerFn = Callable[[], Awaitable[None] | None]

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


class Timer:
    """A timer set through a strategy clock; `cancel()` stops it (idempotent)."""

    __slots__ = ("_cancel", "cancelled")

    def __init__(self, cancel: Callable[[], None]) -> None:
        self._cancel = cancel
        self.cancelled = False

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self._cancel()


class StrategyClock:
    """What a strategy sees as time: `now_ns()` / `now_ms()` (Unix epoch, never backwards) and timers.

    Timer callbacks may be plain functions or coroutine functions; an exception in one is logged, never
    raised into the clock (a failing `every` keeps running)."""

    log = logging.getLogger("xtb.strategy.clock")

    def now_ns(self) -> int:
        raise NotImplementedError

    def now_ms(self) -> int:
        return self.now_ns() // NS_PER_MS

    def now_s(self) -> float:
        """Seconds since the epoch as a float: for rates and windows, not for identity."""
        return self.now_ns() / NS_PER_S

    def call_later(self, delay_s: float, fn: TimerFn) -> Timer:
        raise NotImplementedError

    def every(self, interval_s: float, fn: TimerFn) -> Timer:
        raise NotImplementedError

    def cancel_all(self) -> None:
        raise NotImplementedError


def _check_delay(delay_s: float, what: str) -> None:
    if not delay_s >= 0 or delay_s != delay_s:
        raise ValueError(f"timer {what} must be >= 0 seconds, got {delay_s}")


class WallClock(StrategyClock):
    """Live and paper time: the wall clock at start advanced by the monotonic clock (so it never steps back
    when the system clock is adjusted), timers on the running asyncio loop."""

    def __init__(self) -> None:
        self._wall0 = time.time_ns()
        self._mono0 = time.monotonic_ns()
        self._timers: set[Timer] = set()
        self._handles: dict[Timer, asyncio.TimerHandle | asyncio.Task[None]] = {}

    def now_ns(self) -> int:
        return self._wall0 + (time.monotonic_ns() - self._mono0)

    def _track(self, handle: asyncio.TimerHandle | asyncio.Task[None]) -> Timer:
        timer: Timer

        def cancel() -> None:
            handle.cancel()
            self._handles.pop(timer, None)

        timer = Timer(cancel)
        self._handles[timer] = handle
        return timer

    def call_later(self, delay_s: float, fn: TimerFn) -> Timer:
        _check_delay(delay_s, "delay")
        loop = asyncio.get_running_loop()
        timer: Timer | None = None

        def fire() -> None:
            if timer is not None:
                self._handles.pop(timer, None)
            try:
                res = fn()
                if asyncio.iscoroutine(res):
                    task = loop.create_task(res)
                    task.add_done_callback(self._report)
            except Exception:
                self.log.exception("timer %r failed", fn)

        timer = self._track(loop.call_later(delay_s, fire))
        return timer

    def _report(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.error("timer task failed", exc_info=task.exception())

    def every(self, interval_s: float, fn: TimerFn) -> Timer:
        if not interval_s > 0:
            raise ValueError(f"timer interval must be > 0 seconds, got {interval_s}")
        loop = asyncio.get_running_loop()

        async def run() -> None:
            start = loop.time()
            k = 0
            while True:
                k += 1
                await asyncio.sleep(max(0.0, start + k * interval_s - loop.time()))
                try:
                    res = fn()
                    if res is not None:
                        await res
                except Exception:
                    self.log.exception("timer %r failed", fn)

        return self._track(loop.create_task(run()))

    def cancel_all(self) -> None:
        for timer in list(self._handles):
            timer.cancel()


class EventClock(StrategyClock):
    """Replay time: set by the replayed events (`advance_to`), never by the machine's clock.

    Timers are kept in a heap of (deadline, order set); `advance_to(t)` fires every timer due at or before
    `t` in deadline order with the clock set to the timer's own deadline, so a strategy's timer sees the
    time it asked for, and a journal replayed twice fires the same timers at the same times."""

    def __init__(self, start_ns: int = 0, *, on_advance: Callable[[int], None] | None = None) -> None:
        self._now = start_ns
        self._on_advance = on_advance  # told each new time (e.g. the simulated exchanges' clock)
        self._heap: list[tuple[int, int, Timer, TimerFn, int]] = []  # deadline, order, timer, fn, interval_ns
        self._order = 0

    def now_ns(self) -> int:
        return self._now

    def _schedule(self, deadline: int, timer: Timer, fn: TimerFn, interval_ns: int) -> None:
        self._order += 1
        heapq.heappush(self._heap, (deadline, self._order, timer, fn, interval_ns))

    def call_later(self, delay_s: float, fn: TimerFn) -> Timer:
        _check_delay(delay_s, "delay")
        timer = Timer(lambda: None)  # cancelled timers are skipped when they come up
        self._schedule(self._now + round(delay_s * NS_PER_S), timer, fn, 0)
        return timer

    def every(self, interval_s: float, fn: TimerFn) -> Timer:
        if not interval_s > 0:
            raise ValueError(f"timer interval must be > 0 seconds, got {interval_s}")
        interval_ns = max(1, round(interval_s * NS_PER_S))
        timer = Timer(lambda: None)
        self._schedule(self._now + interval_ns, timer, fn, interval_ns)
        return timer

    def cancel_all(self) -> None:
        for entry in self._heap:
            entry[2].cancelled = True
        self._heap.clear()

    @property
    def next_deadline(self) -> int | None:
        """The earliest pending timer's deadline (cancelled ones included), or None."""
        return self._heap[0][0] if self._heap else None

    def start_at(self, t_ns: int) -> None:
        """Move the clock's origin to `t_ns` (earlier or later, once, before the first event): timers already
        set keep their delays from it. A replay calls this at its first event."""
        delta = t_ns - self._now
        self._heap = [(d + delta, o, timer, fn, i) for d, o, timer, fn, i in self._heap]
        heapq.heapify(self._heap)
        self._set(t_ns)

    async def advance_to(self, t_ns: int) -> int:
        """Fire every timer due at or before `t_ns` (in order), then move to `t_ns` (never backwards).
        Returns how many timers fired."""
        fired = 0
        heap = self._heap
        while heap and heap[0][0] <= t_ns:
            deadline, _, timer, fn, interval_ns = heapq.heappop(heap)
            if timer.cancelled:
                continue
            if deadline > self._now:
                self._set(deadline)
            if interval_ns:
                self._schedule(deadline + interval_ns, timer, fn, interval_ns)
            fired += 1
            try:
                res = fn()
                if res is not None:
                    await res
            except Exception:
                self.log.exception("timer %r failed", fn)
        if t_ns > self._now:
            self._set(t_ns)
        return fired

    def _set(self, t_ns: int) -> None:
        self._now = t_ns
        if self._on_advance is not None:
            self._on_advance(t_ns)


def seconds_of_day_utc(now_ns: int) -> int:
    """Seconds since 00:00 UTC of `now_ns` (a clock's `now_ns()`): for daily windows such as maintenance."""
    return (now_ns // NS_PER_S) % 86_400
