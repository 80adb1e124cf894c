"""Dispatcher on the real core EventRing."""

import logging

from xtb._core import BookUpdate, EventRing, Fill, OrderUpdate
from xtb.engine.dispatcher import Dispatcher
from xtb.engine.strategy import Strategy


class Recorder(Strategy):
    def __init__(self):
        self.seen: list = []

    def on_book(self, ev):
        self.seen.append(("book", ev.book_id, ev.best_bid))

    def on_order(self, ev):
        self.seen.append(("order", ev.client_id, ev.state))

    def on_fill(self, ev):
        self.seen.append(("fill", ev.client_id, ev.trade_id))


def book(book_id, bid):
    return BookUpdate("backpack", book_id, best_bid=(bid, 1), best_ask=(bid + 10, 1))


def test_books_conflate_within_a_drain_and_orders_stay_in_order():
    ring = EventRing(64)
    d = Dispatcher(ring)
    rec = Recorder()
    d.add_listener(rec)
    ring.push(book(0, 100))
    ring.push(OrderUpdate("backpack", 7, "open"))
    ring.push(book(0, 101))
    ring.push(book(1, 500))
    ring.push(Fill("backpack", 7, 1, "bid", 100, 5, True))
    ring.push(book(0, 102))
    assert d.drain() == 4
    # the latest update of each book, at the position of that latest update; orders and fills in order
    assert rec.seen == [("order", 7, "open"), ("book", 1, (500, 1)), ("fill", 7, 1), ("book", 0, (102, 1))]
    assert d.drain() == 0


def test_a_failing_callback_loses_no_later_event(caplog):
    class Faulty(Strategy):
        def __init__(self):
            pass

        def on_order(self, ev):
            if ev.client_id == 1:
                raise RuntimeError("strategy bug")

    ring = EventRing(64)
    d = Dispatcher(ring)
    d.add_listener(Faulty())
    rec = Recorder()
    d.add_listener(rec)
    for cid in (1, 2, 3):
        ring.push(OrderUpdate("lighter", cid, "open"))
    with caplog.at_level(logging.ERROR):
        assert d.drain() == 3
    assert [e[1] for e in rec.seen] == [1, 2, 3]
    assert d.stats.errors == 1 and "strategy bug" in caplog.text


def test_engine_listeners_run_before_strategies_and_slow_callbacks_are_counted():
    order: list[str] = []

    class EngineState:
        def on_fill(self, ev):
            order.append("engine")

    class Slow(Strategy):
        def __init__(self):
            pass

        def on_fill(self, ev):
            order.append("strategy")

    ticks = iter(range(0, 10**9, 2_000_000))  # every clock read advances 2 ms
    ring = EventRing(16)
    d = Dispatcher(ring, slow_callback_ns=1_000_000, clock_ns=lambda: next(ticks))
    d.add_listener(Slow())
    d.add_listener(EngineState(), first=True)
    ring.push(Fill("backpack", 1, 9, "ask", 100, 1, False))
    d.drain()
    assert order == ["engine", "strategy"]
    assert d.stats.slow_callbacks == 2 and d.stats.slowest_ns == 2_000_000


def test_base_class_noops_are_not_routed():
    ring = EventRing(16)
    d = Dispatcher(ring)
    d.add_listener(Strategy.__new__(Strategy))
    ring.push(book(0, 1))
    assert d.drain() == 1
    assert d.stats.per_kind["book"] == 1
    assert "book" not in d._routes


def test_current_recv_ns_is_the_frame_time_of_the_event_being_delivered():
    seen = []
    ring = EventRing(16)
    d = Dispatcher(ring)

    class Probe(Strategy):
        def __init__(self):
            pass

        def on_order(self, ev):
            seen.append(d.current_recv_ns)

    d.add_listener(Probe())
    ring.push(OrderUpdate("backpack", 1, "open", recv_ns=111))
    ring.push(OrderUpdate("backpack", 2, "open", recv_ns=222))
    d.drain()
    assert seen == [111, 222] and d.current_recv_ns is None
