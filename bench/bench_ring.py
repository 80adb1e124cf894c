"""EventRing benchmarks: push + drain into a Python callback, and Rust-only push+pop.

Per-event figure = median / EVENTS (each round moves EVENTS events). Run:
    python -m pytest bench/bench_ring.py --benchmark-group-by=group --benchmark-columns=median,iqr,rounds
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import pytest

from xtb import _core
from xtb._core import EventRing, Trade

EVENTS = 1000
RUST_OPS = 100_000


@dataclass(frozen=True, slots=True)
class PyTradeEvent:
    """The baseline's event: what a careful pure-Python framework would put in its queue."""

    seq: int
    recv_ns: int
    decoded_ns: int
    venue: str
    book_id: int
    px: int
    sz: int
    taker_side: str
    trade_id: int


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, ev: Any) -> None:
        self.n += 1


def baseline_push_drain(queue: deque[PyTradeEvent], callback: Counter) -> None:
    for i in range(EVENTS):
        queue.append(PyTradeEvent(i, i, i, "lighter", 1, 100 + i, 1, "bid", i))
    pop = queue.popleft
    while queue:
        callback(pop())


# ---- producer in Rust (as the feed decoders are), consumer a Python callback ----


@pytest.mark.benchmark(group="ring_push_drain_callback")
def test_baseline_deque_dataclass_push_drain(benchmark: Any) -> None:
    queue: deque[PyTradeEvent] = deque()
    callback = Counter()
    benchmark.extra_info["events_per_round"] = EVENTS
    benchmark(baseline_push_drain, queue, callback)
    assert callback.n >= EVENTS and not queue


@pytest.mark.benchmark(group="ring_push_drain_callback")
def test_xtb_ring_rust_push_drain_into(benchmark: Any, ratio_gate: Any) -> None:
    ring = EventRing(1 << 16)
    callback = Counter()
    push = _core._ring_push_synthetic
    drain_into = ring.drain_into

    def run() -> None:
        push(ring, EVENTS)
        drain_into(callback)

    benchmark.extra_info["events_per_round"] = EVENTS
    benchmark(run)
    assert callback.n >= EVENTS and len(ring) == 0 and ring.overflowed == 0
    queue: deque[PyTradeEvent] = deque()
    ratio_gate.check(benchmark, "ring_push_drain_callback", lambda: baseline_push_drain(queue, callback), run,
                     blocks=10, rounds=15)


# ---- producer in Python too (Python-built events pushed one by one) ----


@pytest.mark.benchmark(group="ring_python_push_drain_callback")
def test_baseline_deque_dataclass_python_push_drain(benchmark: Any) -> None:
    queue: deque[PyTradeEvent] = deque()
    callback = Counter()
    benchmark.extra_info["events_per_round"] = EVENTS
    benchmark(baseline_push_drain, queue, callback)
    assert callback.n >= EVENTS


@pytest.mark.benchmark(group="ring_python_push_drain_callback")
def test_xtb_ring_python_push_drain_into(benchmark: Any) -> None:
    ring = EventRing(1 << 16)
    callback = Counter()

    def run() -> None:
        push = ring.push
        for i in range(EVENTS):
            push(Trade("lighter", 1, 100 + i, 1, "bid", i, recv_ns=i))
        ring.drain_into(callback)

    benchmark.extra_info["events_per_round"] = EVENTS
    benchmark(run)
    assert callback.n >= EVENTS and len(ring) == 0


# ---- Rust-only push+pop per op (target <= 50 ns) ----


def baseline_deque_append_popleft(n: int) -> None:
    queue: deque[tuple[int, int]] = deque()
    append, pop = queue.append, queue.popleft
    for i in range(n):
        append((i, i))
        pop()


@pytest.mark.benchmark(group="ring_push_pop_per_op")
def test_baseline_deque_append_popleft(benchmark: Any) -> None:
    benchmark.extra_info["ops_per_round"] = RUST_OPS
    benchmark(baseline_deque_append_popleft, RUST_OPS)


@pytest.mark.benchmark(group="ring_push_pop_per_op")
def test_xtb_ring_rust_push_pop(benchmark: Any) -> None:
    benchmark.extra_info["ops_per_round"] = RUST_OPS
    ns = benchmark(_core._bench_ring_rust, RUST_OPS)
    benchmark.extra_info["ns_per_push_pop_inside_rust"] = ns
    assert ns > 0


@pytest.mark.benchmark(group="ring_push_pop_per_op")
def test_xtb_ring_rust_push_stamped_pop(benchmark: Any) -> None:
    """Same without a clock read per push (`push_stamped`: one read per frame, as decoders do)."""
    benchmark.extra_info["ops_per_round"] = RUST_OPS
    ns = benchmark(_core._bench_ring_rust, RUST_OPS, False)
    benchmark.extra_info["ns_per_push_pop_inside_rust"] = ns
    assert ns > 0
