"""The strategies' clock (ctx.clock): wall time live and in paper mode, event time in replay."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb.engine.clock import NS_PER_S, EventClock, WallClock, seconds_of_day_utc

ROOT = Path(__file__).resolve().parents[2]


async def test_event_clock_fires_due_timers_in_deadline_order_at_their_own_time() -> None:
    clock = EventClock(100 * NS_PER_S)
    seen: list[tuple[str, int]] = []
    clock.call_later(2.0, lambda: seen.append(("late", clock.now_ns())))
    clock.call_later(0.5, lambda: seen.append(("early", clock.now_ns())))

    async def co() -> None:
        seen.append(("async", clock.now_ns()))

    clock.call_later(1.0, co)
    assert await clock.advance_to(101 * NS_PER_S) == 2  # early and async; late is not due yet
    assert seen == [("early", 100_500_000_000), ("async", 101 * NS_PER_S)]
    assert clock.now_ns() == 101 * NS_PER_S
    await clock.advance_to(200 * NS_PER_S)
    assert seen[-1] == ("late", 102 * NS_PER_S) and clock.now_ns() == 200 * NS_PER_S


async def test_event_clock_every_repeats_on_a_fixed_grid_and_cancels() -> None:
    clock = EventClock(0)
    ticks: list[int] = []
    timer = clock.every(0.25, lambda: ticks.append(clock.now_ns()))
    await clock.advance_to(NS_PER_S)
    assert ticks == [250_000_000, 500_000_000, 750_000_000, NS_PER_S]
    timer.cancel()
    await clock.advance_to(2 * NS_PER_S)
    assert len(ticks) == 4


async def test_event_clock_never_goes_back_and_a_failing_timer_is_contained(caplog: pytest.LogCaptureFixture) -> None:
    clock = EventClock(10 * NS_PER_S)
    clock.call_later(0, lambda: 1 / 0)
    ok: list[int] = []
    clock.every(1, lambda: ok.append(1))
    assert await clock.advance_to(5 * NS_PER_S) == 0  # earlier than now: nothing is due, time stays
    assert clock.now_ns() == 10 * NS_PER_S
    await clock.advance_to(12 * NS_PER_S)
    assert ok == [1, 1] and "timer" in caplog.text  # the failing one was logged, the others ran
    with pytest.raises(ValueError, match="interval"):
        clock.every(0, lambda: None)
    with pytest.raises(ValueError, match="delay"):
        clock.call_later(-1, lambda: None)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5_000), min_size=1, max_size=30), st.lists(st.integers(0, 6_000), max_size=20))
def test_event_clock_property_fires_each_timer_once_in_order(delays_ms: list[int], steps_ms: list[int]) -> None:
    async def run() -> list[tuple[int, int]]:
        clock = EventClock(0)
        fired: list[tuple[int, int]] = []
        for i, d in enumerate(delays_ms):
            clock.call_later(d / 1000, lambda i=i: fired.append((clock.now_ns(), i)))
        for t in sorted(steps_ms):
            await clock.advance_to(t * 1_000_000)
        await clock.advance_to(10 * NS_PER_S)
        return fired

    fired = asyncio.run(run())
    assert sorted(i for _, i in fired) == list(range(len(delays_ms)))  # each once
    assert [t for t, _ in fired] == sorted(t for t, _ in fired)  # in time order
    assert all(t == delays_ms[i] * 1_000_000 for t, i in fired)  # at its own deadline


async def test_wall_clock_reads_wall_time_and_runs_timers_on_the_loop() -> None:
    clock = WallClock()
    assert abs(clock.now_ns() - time.time_ns()) < 50_000_000
    reads = [clock.now_ns() for _ in range(1000)]
    assert reads == sorted(reads)  # monotonic: never back, whatever the system clock does
    fired = asyncio.Event()
    ticks: list[int] = []
    clock.call_later(0.01, fired.set)
    clock.every(0.01, lambda: ticks.append(1))
    await asyncio.wait_for(fired.wait(), 2)
    for _ in range(100):  # bounded
        if len(ticks) >= 3:
            break
        await asyncio.sleep(0.01)
    assert len(ticks) >= 3
    clock.cancel_all()
    n = len(ticks)
    await asyncio.sleep(0.05)
    assert len(ticks) == n


def test_seconds_of_day_utc() -> None:
    assert seconds_of_day_utc(0) == 0
    assert seconds_of_day_utc((86_400 * 3 + 3_600 * 7 + 61) * NS_PER_S + 999) == 3_600 * 7 + 61


@pytest.mark.parametrize(("path", "banned"), [("strategies/new_one.py", True), ("xtb/engine/new_one.py", False)])
def test_ruff_forbids_time_and_datetime_in_strategies_only(path: str, banned: bool) -> None:
    ruff = [sys.executable, "-m", "ruff"]
    if subprocess.run([*ruff, "--version"], capture_output=True).returncode != 0:
        pytest.skip("ruff is not installed (the dev extra)")
    src = "import time\nfrom datetime import datetime\n\nNOW = (time.monotonic(), datetime.now())\n"
    out = subprocess.run([*ruff, "check", "--no-cache", "--select", "TID251", "--stdin-filename", path, "-"],
                         input=src, capture_output=True, text=True, cwd=ROOT)
    assert (out.returncode != 0) == banned, out.stdout + out.stderr
    if banned:
        assert out.stdout.count("TID251") >= 2 and "ctx.clock" in out.stdout


async def test_event_clock_start_at_rebases_pending_timers() -> None:
    clock = EventClock(10 * NS_PER_S)
    seen: list[int] = []
    clock.call_later(1.0, lambda: seen.append(clock.now_ns()))  # set before the first event is known
    clock.start_at(3 * NS_PER_S)  # the journal starts earlier than the clock's provisional origin
    assert clock.now_ns() == 3 * NS_PER_S
    await clock.advance_to(5 * NS_PER_S)
    assert seen == [4 * NS_PER_S]
