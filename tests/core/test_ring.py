"""EventRing and event classes (docs/core_api.md, "Events and EventRing")."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb import _core
from xtb._core import (
    BookUpdate,
    EventRing,
    Fill,
    OrderUpdate,
    Position,
    RateLimited,
    Resync,
    Trade,
)


def trade(trade_id: int, book_id: int = 1) -> Trade:
    return Trade("lighter", book_id, 100 + trade_id, 2, "bid", trade_id, recv_ns=trade_id)


def book(book_id: int, book_seq: int, venue: str = "lighter") -> BookUpdate:
    return BookUpdate(venue, book_id, (100, 1), (101, 2), book_seq)


# ---- construction and counters ----


def test_capacity_rounds_up_to_power_of_two() -> None:
    assert EventRing(5).capacity == 8
    assert EventRing().capacity == 1 << 16


@pytest.mark.parametrize("capacity", [0, (1 << 24) + 1])
def test_capacity_out_of_range_is_value_error(capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity"):
        EventRing(capacity)


def test_len_counts_waiting_events() -> None:
    ring = EventRing(8)
    assert len(ring) == 0
    ring.push(trade(1))
    ring.push(trade(2))
    assert len(ring) == 2
    ring.drain(max_events=1)
    assert len(ring) == 1


def test_repr_shows_counters() -> None:
    assert repr(EventRing(4)) == "EventRing(capacity=4, len=0, overflowed=0, conflated=0, coalesced=0)"


# ---- push ----


def test_push_assigns_seq_and_decoded_ns_keeps_recv_ns() -> None:
    ring = EventRing(8)
    before = time.monotonic_ns()
    assert ring.push(Trade("backpack", 3, 5, 6, "ask", 77, recv_ns=123)) == "queued"
    (ev,) = ring.drain()
    assert (ev.seq, ev.recv_ns) == (1, 123)
    assert before <= ev.decoded_ns <= time.monotonic_ns()


def test_push_rejects_non_events() -> None:
    ring = EventRing(8)
    with pytest.raises(ValueError, match=r"event: expected an xtb\._core event"):
        ring.push("trade")  # type: ignore[arg-type]
    assert len(ring) == 0


def test_full_ring_spills_non_book_events_and_conflates_books() -> None:
    ring = EventRing(2)
    assert ring.push(trade(1)) == "queued"
    assert ring.push(trade(2)) == "queued"
    assert ring.push(book(1, 9)) == "conflated"
    assert ring.push(trade(3)) == "spilled"
    assert (ring.overflowed, ring.conflated, ring.spilled) == (1, 1, 1)
    assert len(ring) == 3
    got: list[Any] = ring.drain()
    assert [e.trade_id for e in got] == [1, 2, 3]
    assert [e.seq for e in got] == [1, 2, 3]
    assert ring.spilled == 0
    assert ring.push(book(1, 10)) == "queued"


# ---- drain ----


def test_drain_returns_events_in_order_with_max_events() -> None:
    ring = EventRing(16)
    for i in range(5):
        ring.push(trade(i))
    first: list[Any] = ring.drain(max_events=2)
    rest: list[Any] = ring.drain()
    assert [e.trade_id for e in first] == [0, 1]
    assert [e.trade_id for e in rest] == [2, 3, 4]
    assert [e.seq for e in first + rest] == [1, 2, 3, 4, 5]
    assert ring.drain() == []


def test_drain_conflate_keeps_latest_book_per_venue_and_book_in_place() -> None:
    ring = EventRing(16)
    events: list[Any] = [
        book(1, 1),
        trade(10),
        book(2, 1),
        book(1, 2),
        book(1, 1, venue="backpack"),
        trade(11),
        book(2, 2),
    ]
    for ev in events:
        ring.push(ev)
    got: list[Any] = ring.drain(conflate=True)
    assert [(e.kind, getattr(e, "book_seq", None), e.venue) for e in got] == [
        ("trade", None, "lighter"),
        ("book", 2, "lighter"),  # book 1: only the latest, at its own position
        ("book", 1, "backpack"),
        ("trade", None, "lighter"),
        ("book", 2, "lighter"),  # book 2
    ]
    assert ring.coalesced == 2
    # Gaps in seq are exactly the coalesced updates.
    assert [e.seq for e in got] == [2, 4, 5, 6, 7]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("book"), st.integers(0, 3)), st.tuples(st.just("trade"), st.integers(0, 3))
        ),
        max_size=40,
    )
)
def test_drain_conflate_matches_reference(ops: list[tuple[str, int]]) -> None:
    ring = EventRing(64)
    for i, (kind, key) in enumerate(ops):
        ring.push(book(key, i) if kind == "book" else trade(i, key))
    got = [(e.kind, e.seq) for e in ring.drain(conflate=True)]
    last_book: dict[int, int] = {}
    for i, (kind, key) in enumerate(ops):
        if kind == "book":
            last_book[key] = i
    expected = [(kind, i + 1) for i, (kind, key) in enumerate(ops) if kind == "trade" or last_book[key] == i]
    assert got == expected
    assert ring.coalesced == len(ops) - len(expected)


# ---- drain_into ----


def test_drain_into_calls_callback_per_event_and_returns_count() -> None:
    ring = EventRing(16)
    for i in range(4):
        ring.push(trade(i))
    seen: list[int] = []

    def record(e: Any) -> None:
        seen.append(e.trade_id)

    assert ring.drain_into(record, max_events=3) == 3
    assert seen == [0, 1, 2]
    assert ring.drain_into(record) == 1
    assert seen == [0, 1, 2, 3]


def test_drain_into_exception_propagates_and_failing_event_is_redelivered_first() -> None:
    ring = EventRing(16)
    for i in range(4):
        ring.push(trade(i))
    seen: list[tuple[int, int]] = []
    failures = [RuntimeError("strategy bug")]

    def callback(ev: Any) -> None:
        if ev.trade_id == 1 and failures:
            raise failures.pop()
        seen.append((ev.trade_id, ev.seq))

    with pytest.raises(RuntimeError, match="strategy bug"):
        ring.drain_into(callback)
    assert seen == [(0, 1)]
    assert len(ring) == 3
    ring.push(trade(9))
    assert ring.drain_into(callback) == 4
    assert seen == [(0, 1), (1, 2), (2, 3), (3, 4), (9, 5)]


def test_drain_into_conflate_exception_keeps_rest_of_batch() -> None:
    ring = EventRing(16)
    evs2: list[Any] = [book(1, 1), trade(1), book(1, 2), trade(2)]
    for ev in evs2:
        ring.push(ev)
    calls: list[str] = []

    def callback(ev: Any) -> None:
        calls.append(ev.kind)
        if len(calls) == 1:
            raise KeyError("boom")

    with pytest.raises(KeyError):
        ring.drain_into(callback, conflate=True)
    got: list[Any] = ring.drain()
    assert [(e.kind, e.seq) for e in got] == [("trade", 2), ("book", 3), ("trade", 4)]


def test_python_producer_threads_deliver_every_event_once_in_order() -> None:
    ring = EventRing(32)  # small: forces the overflow spill
    per, threads = 2000, 4

    def produce(t: int) -> None:
        for i in range(per):
            ring.push(Trade("lighter", t, i, 1, "bid", t * 1_000_000 + i))

    workers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    got: list[Trade] = []
    while any(w.is_alive() for w in workers) or len(ring):
        got.extend(ring.drain())  # type: ignore[arg-type]
    for w in workers:
        w.join()
    got.extend(ring.drain())  # type: ignore[arg-type]
    assert len(got) == per * threads
    assert [e.seq for e in got] == list(range(1, per * threads + 1))
    for t in range(threads):
        ids = [e.trade_id for e in got if e.book_id == t]
        assert ids == [t * 1_000_000 + i for i in range(per)]


# ---- event classes ----


def test_event_classes_fields_kind_and_repr() -> None:
    b = BookUpdate("lighter", 3, (100, 1), None, 7, recv_ns=5)
    assert (
        b.kind,
        b.venue,
        b.book_id,
        b.best_bid,
        b.best_ask,
        b.book_seq,
        b.seq,
        b.recv_ns,
        b.decoded_ns,
    ) == ("book", "lighter", 3, (100, 1), None, 7, 0, 5, 0)
    assert repr(b) == (
        "BookUpdate(seq=0, venue='lighter', book_id=3, best_bid=(100, 1), best_ask=None, book_seq=7, "
        "recv_ns=5, decoded_ns=0)"
    )
    r = Resync("backpack", 2, "gap", recv_ns=1)
    assert (r.kind, r.venue, r.book_id, r.reason) == ("resync", "backpack", 2, "gap")
    assert repr(r) == "Resync(seq=0, venue='backpack', book_id=2, reason='gap', recv_ns=1, decoded_ns=0)"
    t = Trade("lighter", 1, 50, 3, "ask", 99, recv_ns=1)
    assert (t.kind, t.px, t.sz, t.taker_side, t.trade_id) == ("trade", 50, 3, "ask", 99)
    assert "taker_side='ask'" in repr(t)
    o = OrderUpdate("lighter", 11, "rejected", order_id=None, reason="post-only would cross", recv_ns=1)
    assert (o.kind, o.client_id, o.state, o.is_terminal, o.order_id, o.filled, o.avg_px, o.reason) == (
        "order",
        11,
        "rejected",
        True,
        None,
        0,
        0,
        "post-only would cross",
    )
    assert "reason='post-only would cross'" in repr(o)
    f = Fill("backpack", 11, 5, "bid", 100, 2, True, fee=-3, recv_ns=1)
    assert (f.kind, f.client_id, f.trade_id, f.side, f.px, f.sz, f.maker, f.fee) == (
        "fill",
        11,
        5,
        "bid",
        100,
        2,
        True,
        -3,
    )
    assert "maker=True" in repr(f)
    p = Position("lighter", 4, -7, 1000, recv_ns=1)
    assert (p.kind, p.book_id, p.size, p.entry_px) == ("position", 4, -7, 1000)
    rl = RateLimited("sendTx", 1500, recv_ns=1)
    assert (rl.kind, rl.key, rl.wait_ns) == ("rate_limited", "sendTx", 1500)
    assert repr(rl) == "RateLimited(seq=0, key='sendTx', wait_ns=1500, recv_ns=1, decoded_ns=0)"


def test_events_survive_the_ring_unchanged_and_compare_equal() -> None:
    events: list[Any] = [
        BookUpdate("lighter", 3, (100, 1), (102, 4), 7, recv_ns=5),
        Resync("backpack", 2, "crossed", recv_ns=6),
        OrderUpdate("lighter", 11, "open", order_id="281474976710656", recv_ns=7),
        Fill("backpack", 11, 5, "ask", 100, 2, False, fee=4, recv_ns=8),
        Position("lighter", 4, 7, 1000, recv_ns=9),
        RateLimited("rest", 10, recv_ns=10),
    ]
    ring = EventRing(16)
    for ev in events:
        ring.push(ev)
    out: list[Any] = ring.drain()
    assert [type(e) for e in out] == [type(e) for e in events]
    for before, after in zip(events, out, strict=True):
        assert after.recv_ns == before.recv_ns
        assert (
            repr(after).split(", decoded_ns")[0].replace(f"seq={after.seq}", "seq=0")
            == repr(before).split(", decoded_ns")[0]
        )
    assert Trade("lighter", 1, 1, 1, "bid", 1, recv_ns=0) == Trade("lighter", 1, 1, 1, "bid", 1, recv_ns=0)
    assert Trade("lighter", 1, 1, 1, "bid", 1, recv_ns=0) != Trade("lighter", 1, 1, 1, "bid", 2, recv_ns=0)


def test_events_are_frozen() -> None:
    t = trade(1)
    with pytest.raises(AttributeError):
        t.px = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Trade("kraken", 1, 1, 1, "bid", 1), "venue"),
        (lambda: Trade("lighter", 1, 1, 1, "buy", 1), "taker_side"),  # type: ignore[arg-type]
        (lambda: Fill("lighter", 1, 1, "long", 1, 1, True), "side"),  # type: ignore[arg-type]
        (lambda: OrderUpdate("lighter", 1, "done"), "state"),  # type: ignore[arg-type]
    ],
)
def test_bad_enum_strings_name_the_field(make: object, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        make()  # type: ignore[operator]


# ---- benchmark hooks ----


def test_ring_push_synthetic_pushes_from_rust() -> None:
    ring = EventRing(8)
    assert _core._ring_push_synthetic(ring, 5) == 5
    assert _core._ring_push_synthetic(ring, 5, kind="book", books=2) == 3  # 3 fit, 2 conflated
    assert ring.conflated == 2
    got: list[Any] = ring.drain(conflate=True)
    assert [e.kind for e in got] == ["trade"] * 5 + ["book", "book"]
    with pytest.raises(ValueError, match="kind"):
        _core._ring_push_synthetic(ring, 1, kind="fill")  # type: ignore[arg-type]


def test_bench_ring_rust_returns_ns_per_push_pop() -> None:
    ns = _core._bench_ring_rust(10_000)
    assert 0 < ns < 100_000
    assert 0 < _core._bench_ring_rust(10_000, read_clock=False) < 100_000


def test_drain_into_callback_may_push_and_drain_the_same_ring() -> None:
    ring = EventRing(8)
    ring.push(trade(1))
    seen: list[int] = []

    def callback(ev: Any) -> None:
        seen.append(ev.trade_id)
        if ev.trade_id == 1:
            ring.push(trade(2))
            ring.push(trade(3))
            drained: list[Any] = ring.drain(max_events=1)
            assert [e.trade_id for e in drained] == [2]

    assert ring.drain_into(callback) == 1  # the batch was what waited when the drain started
    rest: list[Any] = ring.drain()
    assert [e.trade_id for e in rest] == [3]
    assert seen == [1]


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.sampled_from([2, 4]),
    ops=st.lists(st.sampled_from(["book", "trade", "drain1", "drain"]), max_size=60),
)
def test_push_and_drain_match_a_deque_model(capacity: int, ops: list[str]) -> None:
    """Python-level model: bounded ring + spill, books conflated when full or while the spill waits."""
    ring = EventRing(capacity)
    model_ring: list[int] = []
    model_spill: list[int] = []
    next_id = 0
    for op in ops:
        if op in ("book", "trade"):
            next_id += 1
            event: Any = book(0, next_id) if op == "book" else trade(next_id)
            if not model_spill and len(model_ring) < capacity:
                expected = "queued"
                model_ring.append(next_id)
            elif op == "book":
                expected = "conflated"
            else:
                expected = "spilled"
                model_spill.append(next_id)
            assert ring.push(event) == expected
        else:
            limit = 1 if op == "drain1" else None
            drained: list[Any] = ring.drain(max_events=limit)
            got = [e.book_seq if e.kind == "book" else e.trade_id for e in drained]
            waiting = model_ring + model_spill
            take = waiting[: (1 if limit else len(waiting))]
            assert got == take
            model_ring, model_spill = (
                model_ring[len(take) :],
                model_spill[max(0, len(take) - len(model_ring)) :],
            )
        assert len(ring) == len(model_ring) + len(model_spill)
