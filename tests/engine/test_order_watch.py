"""OrderWatch with the real core OrderTracker and an injected clock; the venue side is a port that records
which orders it was asked about (the connectors' `check_orders` runs against the simulator in the chaos
campaign and in tests/venues)."""

import asyncio
from types import SimpleNamespace

import pytest

from xtb._core import OrderTracker
from xtb.config import validate
from xtb.engine.engine import Engine
from xtb.engine.order_watch import OrderWatch
from xtb.engine.runtime import Runtime

S = 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 1_000 * S

    def __call__(self) -> int:
        return self.now


class Port:
    """A connector's `check_orders`: records each ask; optionally moves an order to filled meanwhile."""

    def __init__(self, tracker: OrderTracker, venue: str = "backpack") -> None:
        self.tracker, self.venue = tracker, venue
        self.asked: list[list[int]] = []
        self.fill_on_check: set[int] = set()
        self.fail = False

    async def check_orders(self, client_ids):
        self.asked.append(list(client_ids))
        if self.fail:
            raise TimeoutError("no answer")
        moved = False
        for cid in client_ids:
            if cid in self.fill_on_check:
                self.tracker.on_venue_state(cid, self.venue, "filled", 100)
                moved = True
        return moved


def setup(quiet_s=1.0, max_interval_s=16.0):
    clock = Clock()
    trk = OrderTracker()
    port = Port(trk)
    watch = OrderWatch({"backpack": port, "lighter": object()}, trk, quiet_s=quiet_s,
                       max_interval_s=max_interval_s, clock_ns=clock)
    return clock, trk, port, watch


def place(trk, clock, cid, ack=True):
    trk.submitted(cid, "backpack", "SOL_USDC_PERP", "bid", 14125, 100, ts_ns=clock.now)
    if ack:
        trk.on_ack(cid, "backpack", f"oid-{cid}", ts_ns=clock.now)


async def tick(watch, clock, advance_s=0.0):
    clock.now += int(advance_s * S)
    watch.on_tick()
    await asyncio.sleep(0)  # the check task runs
    await asyncio.sleep(0)


async def test_a_refused_cancel_is_checked_at_the_next_tick():
    clock, trk, port, watch = setup()
    place(trk, clock, 7)
    port.fill_on_check.add(7)
    watch.cancel_refused("backpack", 7, "order is Filled")
    await tick(watch, clock, 0.1)
    assert port.asked == [[7]]
    assert trk.get(7, "backpack").state == "filled" and watch.moved == 1


async def test_a_quiet_live_order_is_checked_after_the_quiet_time_then_less_and_less_often():
    clock, trk, port, watch = setup(quiet_s=1.0, max_interval_s=4.0)
    place(trk, clock, 1)
    asked_at = []
    for _ in range(130):  # 13 s in ticks of 0.1 s
        before = len(port.asked)
        await tick(watch, clock, 0.1)
        if len(port.asked) > before:
            asked_at.append(round((clock.now - 1_000 * S) / S, 1))
    # quiet since the ack: asked at 1 s, 2 s, 4 s, then every 4 s (the cap)
    assert asked_at == [1.0, 2.0, 4.0, 8.0, 12.0]
    assert all(a == [1] for a in port.asked)


async def test_a_private_event_or_an_order_update_restarts_the_quiet_time():
    clock, trk, port, watch = setup()
    place(trk, clock, 1)
    await tick(watch, clock, 0.8)
    watch.on_fill(SimpleNamespace(venue="backpack"))  # the stream speaks: nothing to ask yet
    await tick(watch, clock, 0.5)
    assert port.asked == []
    await tick(watch, clock, 0.6)
    assert port.asked == [[1]]
    trk.on_venue_state(1, "backpack", "partially_filled", 40, ts_ns=clock.now)  # the order moved: 1 s again
    await tick(watch, clock, 0.9)
    assert port.asked == [[1]]
    await tick(watch, clock, 0.2)
    assert port.asked == [[1], [1]]


async def test_submits_in_flight_ended_orders_and_venues_without_checks_are_left_alone():
    clock, trk, port, watch = setup()
    place(trk, clock, 1, ack=False)  # pending_new: the submit's own answer will tell
    place(trk, clock, 2)
    trk.on_venue_state(2, "backpack", "filled", 100, ts_ns=clock.now)
    trk.submitted(3, "lighter", "SOL", "bid", 1, 1, ts_ns=clock.now)  # a venue whose connector has no check
    trk.on_ack(3, "lighter", "x", ts_ns=clock.now)
    watch.cancel_refused("lighter", 3)
    for _ in range(30):
        await tick(watch, clock, 0.1)
    assert port.asked == []


async def test_one_check_at_a_time_per_venue_and_a_failed_check_is_retried_later():
    clock, trk, port, watch = setup()
    place(trk, clock, 1)
    port.fail = True
    await tick(watch, clock, 1.0)
    assert port.asked == [[1]] and watch.errors == 1
    port.fail = False
    await tick(watch, clock, 1.0)  # 2 s quiet: the next step of the schedule
    assert port.asked == [[1], [1]]

    gate = asyncio.Event()

    async def slow(client_ids):
        port.asked.append(list(client_ids))
        await gate.wait()
        return False

    port.check_orders = slow
    watch.cancel_refused("backpack", 1)
    await tick(watch, clock, 0.1)
    watch.cancel_refused("backpack", 1)
    await tick(watch, clock, 0.1)  # the first check is still under way: not asked twice
    assert port.asked == [[1], [1], [1]]
    gate.set()
    await asyncio.sleep(0)
    await tick(watch, clock, 0.1)
    assert port.asked == [[1], [1], [1], [1]]
    await watch.stop()


def test_bad_timing_is_refused_by_name():
    trk = OrderTracker()
    with pytest.raises(ValueError, match="quiet_s: must be positive"):
        OrderWatch({}, trk, quiet_s=0)
    with pytest.raises(ValueError, match=r"max_interval_s: must be at least quiet_s \(2\.0\)"):
        OrderWatch({}, trk, quiet_s=2.0, max_interval_s=1.0)


async def test_the_configured_timing_reaches_the_engines_watch(tmp_path):
    """general.order_watch_* -> the composition root -> the watch the engine wires (gateway, dispatcher, clock)."""
    cfg = validate({
        "general": {"mode": "paper", "tick_interval_ms": 100, "seed": 3, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs"), "lock_dir": str(tmp_path / "locks"),
                    "order_watch_quiet_s": 0.3, "order_watch_max_interval_s": 2.5},
        "venues": {"backpack": {"symbols": ["SOL_USDC_PERP"]}},
        "strategy": {"name": "smoke_test", "params": {"venue": "backpack", "symbol": "SOL_USDC_PERP"}},
    })
    watch = Runtime(cfg, mode="paper").build_order_watch()
    assert (watch.quiet_ns, watch.max_interval_ns) == (300_000_000, 2_500_000_000)
    eng = Engine(cfg)
    await eng.start()
    try:
        w = eng.order_watch
        assert w is not None and (w.quiet_ns, w.max_interval_ns) == (300_000_000, 2_500_000_000)
        assert "backpack" in w.ports and eng.gateway is not None
        assert eng.gateway.on_cancel_refused == w.cancel_refused
    finally:
        await eng.stop()
