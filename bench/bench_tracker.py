"""Order tracker: applying order events from Python.

Baseline: a pure-Python, dict-based tracker doing the same transitions (same table, fill de-duplication,
over-fill check, terminal pruning). Two groups:
- tracker_cancel_cycle: 2 applied transitions per call (cancel requested -> cancel refused -> back open);
  steady state, no growth. Per event = median / 2.
- tracker_lifecycle: 4 events per call (submitted, ack, partial fill, final fill) on a fresh order, with
  terminal orders pruned beyond a retention. Per event = median / 4.
Run: python -m pytest bench/bench_tracker.py --benchmark-only
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest

from xtb._core import OrderTracker

V = "backpack"
TERMINAL = {"filled", "cancelled", "rejected", "expired"}
EVENTS = ["ack", "reject", "fill_partial", "fill_full", "cancel_requested", "cancel_rejected",
          "cancelled", "expired", "unresolved"]
# Same table as the core, read once from it so both trackers follow identical rules.
TABLE = {(s, e): OrderTracker.transition(s, e) for s in OrderTracker.STATES for e in EVENTS}


class PyTracker:
    """What a careful pure-Python tracker does per event."""

    def __init__(self, retention: int = 1000) -> None:
        self.orders: dict[tuple[str, int], dict[str, Any]] = {}
        self.terminal: deque[tuple[str, int]] = deque()
        self.retention = retention

    def submitted(self, cid: int, venue: str, symbol: str, side: str, px: int, sz: int) -> None:
        key = (venue, cid)
        if key in self.orders:
            raise ValueError("duplicate client id")
        self.orders[key] = {"state": "pending_new", "sz": sz, "filled": 0, "notional": 0, "trades": set(),
                            "order_id": None, "symbol": symbol, "side": side, "px": px}

    def _step(self, o: dict[str, Any], event: str) -> str:
        cell = TABLE[(o["state"], event)]
        if event == "reject" and o["filled"] > 0 and o["state"] not in TERMINAL:
            return "illegal"
        if cell == "open" and o["filled"] > 0:
            return "partially_filled"
        return cell

    def _move(self, key: tuple[str, int], o: dict[str, Any], to: str) -> str:
        was_terminal = o["state"] in TERMINAL
        o["state"] = to
        if to in TERMINAL and not was_terminal:
            self.terminal.append(key)
            while len(self.terminal) > self.retention:
                self.orders.pop(self.terminal.popleft(), None)
        return "applied"

    def apply(self, cid: int, venue: str, event: str, order_id: str | None = None) -> str:
        key = (venue, cid)
        o = self.orders.get(key)
        if o is None:
            return "unknown_order"
        to = self._step(o, event)
        if to in ("duplicate", "stale", "illegal"):
            return to
        if order_id is not None and o["order_id"] is None:
            o["order_id"] = order_id
        return self._move(key, o, to)

    def on_fill(self, cid: int, venue: str, trade_id: int, px: int, sz: int) -> str:
        key = (venue, cid)
        o = self.orders.get(key)
        if o is None:
            return "unknown_order"
        if trade_id in o["trades"]:
            return "duplicate"
        filled = o["filled"] + sz
        if filled > o["sz"]:
            raise ValueError("over-fill")
        to = self._step(o, "fill_full" if filled == o["sz"] else "fill_partial")
        if to in ("duplicate", "stale", "illegal"):
            return to
        o["trades"].add(trade_id)
        o["filled"] = filled
        o["notional"] += px * sz
        return self._move(key, o, to)


def _open_order(trk: Any) -> None:
    trk.submitted(1, V, "SOL_USDC_PERP", "bid", 14_100, 10)
    if isinstance(trk, PyTracker):
        trk.apply(1, V, "ack", "111")
    else:
        trk.on_ack(1, V, "111")


@pytest.mark.benchmark(group="tracker_cancel_cycle")
def test_baseline_tracker_cancel_cycle(benchmark: Any) -> None:
    trk = PyTracker()
    _open_order(trk)

    def cycle() -> tuple[str, str]:
        return trk.apply(1, V, "cancel_requested"), trk.apply(1, V, "cancel_rejected")

    assert benchmark(cycle) == ("applied", "applied")


@pytest.mark.benchmark(group="tracker_cancel_cycle")
def test_xtb_tracker_cancel_cycle(benchmark: Any) -> None:
    trk = OrderTracker()
    _open_order(trk)

    def cycle() -> tuple[str, str]:
        return trk.on_cancel_requested(1, V), trk.on_cancel_rejected(1, V)

    assert benchmark(cycle) == ("applied", "applied")


@pytest.mark.benchmark(group="tracker_lifecycle")
def py_lifecycle(trk: PyTracker) -> Callable[[], str]:
    """One order's life in the baseline tracker: submitted, acked, two fills (a fresh client id per call)."""
    ids = itertools.count(10)

    def lifecycle() -> str:
        cid = next(ids)
        trk.submitted(cid, V, "SOL_USDC_PERP", "bid", 14_100, 10)
        trk.apply(cid, V, "ack", None)
        trk.on_fill(cid, V, 1, 14_100, 4)
        return trk.on_fill(cid, V, 2, 14_100, 6)

    return lifecycle


def test_baseline_tracker_lifecycle(benchmark: Any) -> None:
    trk = PyTracker(retention=1000)
    assert benchmark(py_lifecycle(trk)) == "applied"
    assert len(trk.orders) <= 1000


@pytest.mark.benchmark(group="tracker_lifecycle")
def test_xtb_tracker_lifecycle(benchmark: Any, ratio_gate: Any) -> None:
    trk = OrderTracker(terminal_retention=1000)
    ids = itertools.count(10)

    def lifecycle() -> str:
        cid = next(ids)
        trk.submitted(cid, V, "SOL_USDC_PERP", "bid", 14_100, 10)
        trk.on_ack(cid, V)
        trk.on_fill(cid, V, 1, 14_100, 4)
        return trk.on_fill(cid, V, 2, 14_100, 6)

    assert benchmark(lifecycle) == "applied"
    assert len(trk) <= 1000
    def many(fn: Any) -> Any:
        def run() -> None:
            for _ in range(LIFECYCLES):
                fn()
        return run

    ratio_gate.check(benchmark, "tracker_lifecycle", many(py_lifecycle(PyTracker(retention=1000))), many(lifecycle))


LIFECYCLES = 100  # per gate round
