"""RateLimiter.acquire from Python (target <= 200 ns per call) against a pure-Python token bucket.

Per-call figure = median / CALLS. Run:
    python -m pytest bench/bench_limiter.py --benchmark-group-by=group --benchmark-columns=median,iqr,rounds
"""

from __future__ import annotations

from typing import Any

import pytest

from xtb._core import RateLimiter

CALLS = 1000
CAPACITY = 10**12  # never refuses: both sides take the grant path every call
WINDOW_NS = 1_000_000_000


class PyTokenBucket:
    """The baseline: same semantics as the core's bucket (integer-exact, returns wait ns, 0 = consumed)."""

    def __init__(self, capacity: int, refill: int, window_ns: int, weights: dict[str, int]) -> None:
        self.capacity, self.refill, self.window_ns = capacity, refill, window_ns
        self.level = capacity * window_ns
        self.last_ns: int | None = None
        self.weights = weights

    def acquire(self, key: str, weight: int = 1, now_ns: int = 0) -> int:
        demand = self.weights[key] * weight
        if self.last_ns is None:
            self.last_ns = now_ns
        elif now_ns > self.last_ns:
            full = self.capacity * self.window_ns
            self.level = min(full, self.level + (now_ns - self.last_ns) * self.refill)
            self.last_ns = now_ns
        need = demand * self.window_ns
        if self.level >= need:
            self.level -= need
            return 0
        return -(-(need - self.level) // self.refill)


def run_calls(acquire: Any) -> None:
    for now in range(1, CALLS + 1):
        acquire("sendTx", 1, now)


@pytest.mark.benchmark(group="limiter_acquire")
def test_baseline_python_token_bucket_acquire(benchmark: Any) -> None:
    bucket = PyTokenBucket(CAPACITY, CAPACITY, WINDOW_NS, {"sendTx": 6})
    benchmark.extra_info["calls_per_round"] = CALLS
    benchmark(run_calls, bucket.acquire)
    assert bucket.acquire("sendTx", 1, CALLS + 2) == 0


@pytest.mark.benchmark(group="limiter_acquire")
def test_xtb_limiter_acquire(benchmark: Any, ratio_gate: Any) -> None:
    lim = RateLimiter.from_config(
        {
            "pools": {
                "p": {"type": "token_bucket", "capacity": CAPACITY, "refill": CAPACITY, "window_ms": 1000}
            },
            "keys": {"sendTx": {"p": 6}},
        }
    )
    benchmark.extra_info["calls_per_round"] = CALLS
    benchmark(run_calls, lim.acquire)
    assert lim.acquire("sendTx", 1, CALLS + 2) == 0
    bucket = PyTokenBucket(CAPACITY, CAPACITY, WINDOW_NS, {"sendTx": 6})
    ratio_gate.check(benchmark, "limiter_acquire", lambda: run_calls(bucket.acquire), lambda: run_calls(lim.acquire))


@pytest.mark.benchmark(group="limiter_acquire_linked")
def test_baseline_python_linked_acquire(benchmark: Any) -> None:
    """Linked pools in Python: check both buckets, then consume both (what sendTx needs on Lighter)."""
    rest = PyTokenBucket(CAPACITY, CAPACITY, WINDOW_NS, {"sendTx": 6})
    tx = PyTokenBucket(CAPACITY, CAPACITY, WINDOW_NS, {"sendTx": 1})

    def acquire(key: str, weight: int, now_ns: int) -> int:
        # Probe without consuming, then consume both: all-or-nothing like acquire_many.
        wait = max(rest.acquire(key, 0, now_ns), tx.acquire(key, 0, now_ns))
        if wait == 0:
            rest.acquire(key, weight, now_ns)
            tx.acquire(key, weight, now_ns)
        return wait

    benchmark.extra_info["calls_per_round"] = CALLS
    benchmark(run_calls, acquire)


@pytest.mark.benchmark(group="limiter_acquire_linked")
def test_xtb_limiter_acquire_linked(benchmark: Any) -> None:
    lim = RateLimiter.from_config(
        {
            "pools": {
                "rest": {"type": "token_bucket", "capacity": CAPACITY, "refill": CAPACITY, "window_ms": 1000},
                "tx": {"type": "token_bucket", "capacity": CAPACITY, "refill": CAPACITY, "window_ms": 1000},
            },
            "keys": {"sendTx": {"rest": 6, "tx": 1}},
        }
    )
    benchmark.extra_info["calls_per_round"] = CALLS
    benchmark(run_calls, lim.acquire)
