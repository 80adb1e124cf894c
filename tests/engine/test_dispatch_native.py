"""The dispatcher's loop run by the core (DispatchLoop / EventRing.dispatch) keeps the Python loop's contract."""

import gc
import logging
import time
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb._core import BookUpdate, DispatchLoop, EventRing, Fill, OrderUpdate, Trade
from xtb.engine.dispatcher import Dispatcher
from xtb.engine.strategy import Strategy


class Recorder(Strategy):
    def __init__(self, dispatcher=None):
        self.seen: list = []
        self.dispatcher = dispatcher
        self.current: list = []

    def _note(self, ev, *what):
        self.seen.append(what)
        if self.dispatcher is not None:
            self.current.append(self.dispatcher.current_event is ev)

    def on_book(self, ev):
        self._note(ev, "book", ev.book_id, ev.best_bid)

    def on_order(self, ev):
        self._note(ev, "order", ev.client_id, ev.state)

    def on_fill(self, ev):
        self._note(ev, "fill", ev.client_id, ev.trade_id)


def book(book_id, bid):
    return BookUpdate("backpack", book_id, best_bid=(bid, 1), best_ask=(bid + 10, 1))


def python_loop(ring):
    """A dispatcher forced onto the Python loop (an injected clock the core cannot use)."""
    return Dispatcher(ring, clock_ns=lambda: time.perf_counter_ns())


def test_the_core_loop_is_used_for_the_core_ring_only():
    ring = EventRing(16)
    native, python = Dispatcher(ring), python_loop(ring)
    native.add_listener(Recorder())
    python.add_listener(Recorder())
    assert native._loop is not None and python._loop is None
    assert len(native._loop.routes) == len(EventRing.KINDS) and native._loop.routes[0][0][0] == "Recorder.on_book"
    assert EventRing.KINDS == [
        "book", "trade", "order", "fill", "position", "resync", "rate_limited", "operator", "mark"]


def test_current_event_is_set_per_event_and_cleared_after():
    ring = EventRing(16)
    d = Dispatcher(ring)
    rec = Recorder(d)
    d.add_listener(rec)
    ring.push(OrderUpdate("backpack", 1, "open"))
    ring.push(book(0, 100))
    assert d.drain() == 2
    assert rec.current == [True, True] and d.current_event is None


def test_exceptions_are_reported_and_the_drain_goes_on(caplog):
    class Faulty(Strategy):
        def __init__(self):
            pass

        def on_order(self, ev):
            if ev.client_id == 1:
                raise RuntimeError("strategy bug")

    ring = EventRing(16)
    d = Dispatcher(ring)
    d.add_listener(Faulty())
    rec = Recorder()
    d.add_listener(rec)
    for cid in (1, 2, 3):
        ring.push(OrderUpdate("lighter", cid, "open"))
    with caplog.at_level(logging.ERROR, logger="xtb.engine.dispatcher"):
        assert d.drain() == 3
    assert [s[1] for s in rec.seen] == [1, 2, 3]  # the later handler still saw event 1, and 2 and 3 came
    assert d.stats.errors == 1 and d.current_event is None
    msg = [r for r in caplog.records if "Faulty.on_order failed on order event" in r.getMessage()]
    assert msg and msg[0].exc_info is not None and "strategy bug" in str(msg[0].exc_info[1])


def test_keyboard_interrupt_propagates_and_no_event_is_lost():
    class Interrupting(Strategy):
        def __init__(self):
            self.seen = []

        def on_order(self, ev):
            self.seen.append(ev.client_id)
            if ev.client_id == 2 and len(self.seen) == 2:
                raise KeyboardInterrupt

    ring = EventRing(16)
    d = Dispatcher(ring)
    s = Interrupting()
    d.add_listener(s)
    for cid in (1, 2, 3, 4):
        ring.push(OrderUpdate("lighter", cid, "open"))
    with pytest.raises(KeyboardInterrupt):
        d.drain()
    assert d.current_event is None
    assert d.drain() == 2  # 3 and 4 were put back, in order
    assert s.seen == [1, 2, 3, 4]


def test_slow_callbacks_are_counted_and_named():
    class Slow(Strategy):
        def __init__(self):
            pass

        def on_fill(self, ev):
            time.sleep(0.060)

    ring = EventRing(16)
    # A threshold far above what the recording listener takes even on a loaded machine (a preempted
    # 1 ms threshold counted it too), far below the slow callback's sleep.
    d = Dispatcher(ring, slow_callback_ns=25_000_000)
    d.add_listener(Recorder())
    d.add_listener(Slow())
    ring.push(Fill("backpack", 7, 1, "bid", 100, 5, True))
    ring.push(OrderUpdate("backpack", 7, "open"))
    d.drain()
    assert d.stats.slow_callbacks == 1 and d.stats.slowest_where == "Slow.on_fill"
    assert d.stats.slowest_ns >= 60_000_000


def test_kinds_without_a_listener_are_counted_not_built():
    ring = EventRing(16)
    d = Dispatcher(ring)
    d.add_listener(Recorder())
    ring.push(Trade("backpack", 0, 100, 1, "bid", 1))
    ring.push(book(3, 100))
    ring.push(book(3, 101))
    assert d.drain() == 2  # the two updates of book 3 conflate
    assert d.stats.per_kind["trade"] == 1 and d.stats.per_kind["book"] == 1
    assert d.stats.events == 2 and d.stats.drains == 1


def test_a_handler_may_drain_again_from_its_callback():
    ring = EventRing(16)
    d = Dispatcher(ring)
    got = []

    class Reentrant(Strategy):
        def __init__(self):
            pass

        def on_order(self, ev):
            got.append(ev.client_id)
            if ev.client_id == 1:
                ring.push(OrderUpdate("backpack", 9, "open"))
                d.drain()  # delivers 9 now, inside this callback; 2 follows from the outer batch

    d.add_listener(Reentrant())
    ring.push(OrderUpdate("backpack", 1, "open"))
    ring.push(OrderUpdate("backpack", 2, "open"))
    d.drain()
    assert got == [1, 9, 2] and d.drain() == 0


def test_bad_routes_are_refused_with_the_kinds_named():
    ring = EventRing(4)
    with pytest.raises(ValueError, match="KINDS order"):
        ring.dispatch(((),))
    ring.push(OrderUpdate("backpack", 1, "open"))
    routes = [()] * len(EventRing.KINDS)
    routes[2] = ("not a pair",)
    with pytest.raises(TypeError, match=r"routes\[2\] \(order\)"):
        ring.dispatch(tuple(routes))
    assert len(ring) == 1  # refused before any event was taken
    assert ring.dispatch(tuple([()] * len(EventRing.KINDS))) == 1  # then counted and skipped (nobody listens)


EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("book"), st.integers(0, 2), st.integers(100, 110)),
        st.tuples(st.just("order"), st.integers(1, 5), st.sampled_from(["open", "filled", "cancelled"])),
        st.tuples(st.just("fill"), st.integers(1, 5), st.integers(1, 10**6)),
    ),
    max_size=40,
)


def _push(ring, spec):
    kind, a, b = spec
    if kind == "book":
        ring.push(book(a, b))
    elif kind == "order":
        ring.push(OrderUpdate("backpack", a, b))
    else:
        ring.push(Fill("backpack", a, b, "bid", 100, 5, True))


@settings(max_examples=60, deadline=None)
@given(EVENTS, st.lists(st.integers(1, 40), min_size=1, max_size=4), st.one_of(st.none(), st.integers(1, 8)))
def test_the_core_loop_delivers_what_the_python_loop_delivers(events, cuts, max_events):
    rings = EventRing(64), EventRing(64)
    dispatchers = Dispatcher(rings[0], max_events_per_drain=max_events), \
        Dispatcher(rings[1], clock_ns=lambda: time.perf_counter_ns(), max_events_per_drain=max_events)
    recs = Recorder(), Recorder()
    for d, r in zip(dispatchers, recs, strict=True):
        d.add_listener(r)
    assert dispatchers[0]._loop is not None and dispatchers[1]._loop is None
    start = 0
    for cut in [*cuts, len(events)]:  # push a slice, drain, ... in the same steps for both
        for ring in rings:
            for spec in events[start:cut]:
                _push(ring, spec)
        start = max(start, min(cut, len(events)))
        counts = [d.drain() for d in dispatchers]
        assert counts[0] == counts[1]
    while any(len(r) for r in rings):
        assert dispatchers[0].drain() == dispatchers[1].drain()
    assert recs[0].seen == recs[1].seen
    assert dict(dispatchers[0].stats.per_kind) == {k: v for k, v in dispatchers[1].stats.per_kind.items() if v}


def test_a_drain_hook_taken_before_the_listeners_were_added_reaches_them():
    """Connectors keep `dispatcher.drain` as their burst hook when they are built, before strategies exist."""
    ring = EventRing(16)
    d = Dispatcher(ring)
    hook = d.drain
    rec = Recorder()
    d.add_listener(rec)
    ring.push(OrderUpdate("backpack", 5, "open"))
    assert hook() == 1 and rec.seen == [("order", 5, "open")]
    d.remove_listener(rec)
    ring.push(OrderUpdate("backpack", 6, "open"))
    assert hook() == 1 and rec.seen == [("order", 5, "open")]  # counted, no longer delivered


def test_limits_set_on_the_dispatcher_reach_the_core_loop():
    ring = EventRing(16)
    d = Dispatcher(ring)
    d.add_listener(Recorder())
    d.max_events_per_drain, d.slow_callback_ns = 2, 5
    assert (d._loop.max_events, d._loop.slow_ns) == (2, 5)
    for cid in (1, 2, 3):
        ring.push(OrderUpdate("backpack", cid, "open"))
    assert d.drain() == 2 and d.drain() == 1
    assert d.stats.slow_callbacks >= 1  # anything is slower than 5 ns


def test_the_loop_refuses_bad_routes_and_keeps_the_old_ones():
    ring = EventRing(4)
    with pytest.raises(ValueError, match="KINDS order"):
        DispatchLoop(ring, ((),))
    seen = []
    loop = DispatchLoop(ring, ((("w", seen.append),),) + ((),) * (len(EventRing.KINDS) - 1))
    with pytest.raises(TypeError, match=r"routes\[1\] \(trade\)"):
        loop.set_routes(((), (1,)) + ((),) * (len(EventRing.KINDS) - 2))
    ring.push(book(0, 100))
    assert loop.drain() == 1 and [e.best_bid for e in seen] == [(100, 1)]
    assert loop.current_event is None and "DispatchLoop(" in repr(loop)


def test_a_dispatcher_and_its_loop_are_collected():
    """The loop holds the dispatcher's hooks (bound methods) and the listeners: a cycle the GC must break."""
    ring = EventRing(4)
    d = Dispatcher(ring)
    d.add_listener(Recorder(d))
    gone = weakref.ref(d)
    del d
    gc.collect()
    assert gone() is None
