"""OrderTracker: the transition table cell by cell, real-world orderings, random-sequence invariants."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb._core import EventRing, OrderTracker, OrderTrackerError

V = "backpack"
SYM = "SOL_USDC_PERP"
SIZE = 10

STATES = [
    "pending_new", "open", "partially_filled", "pending_cancel",
    "filled", "cancelled", "rejected", "expired", "unresolved",
]
EVENTS = [
    "ack", "reject", "fill_partial", "fill_full", "cancel_requested",
    "cancel_rejected", "cancelled", "expired", "unresolved",
]

# The specification, written independently of the Rust table: EXPECTED[state][event].
# A state name = apply and move there; otherwise "duplicate" / "stale" / "illegal" = nothing changes.
EXPECTED: dict[str, dict[str, str]] = {
    "pending_new": dict(zip(EVENTS, [
        "open", "rejected", "partially_filled", "filled", "pending_cancel",
        "stale", "cancelled", "expired", "unresolved"], strict=True)),
    "open": dict(zip(EVENTS, [
        "duplicate", "illegal", "partially_filled", "filled", "pending_cancel",
        "stale", "cancelled", "expired", "unresolved"], strict=True)),
    "partially_filled": dict(zip(EVENTS, [
        "stale", "illegal", "partially_filled", "filled", "pending_cancel",
        "stale", "cancelled", "expired", "unresolved"], strict=True)),
    "pending_cancel": dict(zip(EVENTS, [
        "stale", "rejected", "pending_cancel", "filled", "duplicate",
        "open", "cancelled", "expired", "unresolved"], strict=True)),
    "filled": dict(zip(EVENTS, [
        "stale", "illegal", "illegal", "filled", "stale",
        "stale", "stale", "stale", "stale"], strict=True)),
    "cancelled": dict(zip(EVENTS, [
        "stale", "illegal", "cancelled", "filled", "stale",
        "stale", "duplicate", "stale", "stale"], strict=True)),
    "rejected": dict(zip(EVENTS, [
        "illegal", "duplicate", "illegal", "illegal", "stale",
        "stale", "illegal", "illegal", "stale"], strict=True)),
    "expired": dict(zip(EVENTS, [
        "stale", "illegal", "expired", "filled", "stale",
        "stale", "stale", "duplicate", "stale"], strict=True)),
    "unresolved": dict(zip(EVENTS, [
        "open", "rejected", "partially_filled", "filled", "unresolved",
        "stale", "cancelled", "expired", "duplicate"], strict=True)),
}
TERMINAL = {"filled", "cancelled", "rejected", "expired"}


def new_tracker(ring: EventRing | None = None, cid: int = 1, **kw: int) -> OrderTracker:
    trk = OrderTracker(ring, **kw)
    trk.submitted(cid, V, SYM, "bid", 14_100, SIZE)
    return trk


def drive_to(state: str) -> OrderTracker:
    """An order (client id 1, size 10, nothing filled unless the state needs it) in `state`."""
    trk = new_tracker()
    steps: Sequence[Callable[[], str]] = {
        "pending_new": [],
        "open": [lambda: trk.on_ack(1, V, "111")],
        "partially_filled": [lambda: trk.on_ack(1, V, "111"), lambda: trk.on_fill(1, V, 900, 14_100, 3)],
        "pending_cancel": [lambda: trk.on_ack(1, V, "111"), lambda: trk.on_cancel_requested(1, V)],
        # Filled through a cumulative report (no trade ids yet) so a per-fill event can still arrive.
        "filled": [lambda: trk.on_venue_state(1, V, "filled", SIZE)],
        "cancelled": [lambda: trk.on_ack(1, V, "111"), lambda: trk.on_cancel(1, V)],
        "rejected": [lambda: trk.on_reject(1, V, "INVALID_PRICE")],
        "expired": [lambda: trk.on_ack(1, V, "111"), lambda: trk.on_expire(1, V, "PostOnlyTaker")],
        "unresolved": [lambda: trk.on_unresolved(1, V, "timeout")],
    }[state]
    for step in steps:
        assert step() == "applied"
    order = trk.get(1, V)
    assert order is not None and order.state == state
    return trk


def send(trk: OrderTracker, event: str) -> str:
    order = trk.get(1, V)
    assert order is not None
    if event == "fill_partial":
        return trk.on_fill(1, V, 1, 14_000, 1)
    if event == "fill_full":
        return trk.on_fill(1, V, 2, 14_000, SIZE - order.filled if order.filled < SIZE else SIZE)
    call: Callable[[], str] = {
        "ack": lambda: trk.on_ack(1, V),
        "reject": lambda: trk.on_reject(1, V, "x"),
        "cancel_requested": lambda: trk.on_cancel_requested(1, V),
        "cancel_rejected": lambda: trk.on_cancel_rejected(1, V, "Order not found"),
        "cancelled": lambda: trk.on_cancel(1, V),
        "expired": lambda: trk.on_expire(1, V, "x"),
        "unresolved": lambda: trk.on_unresolved(1, V, "x"),
    }[event]
    return call()


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("event", EVENTS)
def test_transition_table_cell(state: str, event: str) -> None:
    assert OrderTracker.transition(state, event) == EXPECTED[state][event]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("event", EVENTS)
def test_transition_applied_through_the_api(state: str, event: str) -> None:
    if state == "filled" and event == "fill_partial":
        pytest.skip("unreachable: any fill on a filled order leaves filled == size (a fill_full)")
    trk = drive_to(state)
    before = trk.get(1, V)
    assert before is not None
    result = send(trk, event)
    after = trk.get(1, V)
    assert after is not None
    cell = EXPECTED[state][event]
    if cell in STATES:
        assert result == "applied"
        # The numeric rules: "open" with fills is partially_filled.
        want = "partially_filled" if cell == "open" and after.filled > 0 else cell
        assert after.state == want
    else:
        assert result == cell
        fields = (after.state, after.filled, after.updated_ns)
        assert fields == (before.state, before.filled, before.updated_ns)


def test_states_and_events_class_attributes() -> None:
    assert list(OrderTracker.STATES) == STATES
    assert list(OrderTracker.EVENTS) == EVENTS
    with pytest.raises(ValueError, match="event"):
        OrderTracker.transition("open", "bogus")
    with pytest.raises(ValueError, match="state"):
        OrderTracker.transition("bogus", "ack")


# ---- real-world orderings


def test_happy_path_order_fields_and_lookup_by_order_id() -> None:
    trk = new_tracker()
    o = trk.get(1, V)
    assert o is not None
    fields = (o.state, o.filled, o.remaining, o.avg_px, o.order_id, o.acked_ns)
    assert fields == ("pending_new", 0, 10, 0, None, None)
    assert (o.venue, o.symbol, o.side, o.px, o.sz, o.time_in_force) == (V, SYM, "bid", 14_100, 10, "GTC")
    assert trk.on_ack(1, V, "4228978330", ts_ns=50) == "applied"
    assert trk.on_fill(1, V, 7, 14_100, 4, maker=True, fee=3) == "applied"
    assert trk.on_fill(1, V, 8, 14_200, 6) == "applied"
    o = trk.get_by_order_id(V, "4228978330")
    assert o is not None
    done = (o.client_id, o.state, o.filled, o.remaining, o.avg_px, o.acked_ns)
    assert done == (1, "filled", 10, 0, 14_160, 50)
    assert o.trade_ids == [7, 8] and o.is_terminal and 0 < o.created_ns <= o.updated_ns
    assert trk.get(1, "lighter") is None and trk.get_by_order_id(V, "nope") is None
    assert "4228978330" in repr(o)


def test_cancel_then_fill_counts_the_late_fill() -> None:
    trk = drive_to("pending_cancel")
    assert trk.on_cancel(1, V) == "applied"
    assert trk.on_fill(1, V, 5, 14_100, 2) == "applied"
    o = trk.get(1, V)
    assert o is not None and (o.state, o.filled) == ("cancelled", 2)
    # A full fill after a cancel means the cancel lost the race: the order is filled.
    assert trk.on_fill(1, V, 6, 14_100, 8) == "applied"
    o = trk.get(1, V)
    assert o is not None and (o.state, o.filled) == ("filled", 10)


def test_fill_before_ack_then_late_ack_is_stale_but_records_order_id() -> None:
    trk = new_tracker()
    assert trk.on_fill(1, V, 5, 14_100, 3) == "applied"
    assert trk.on_ack(1, V, "99") == "stale"
    o = trk.get(1, V)
    assert o is not None and (o.state, o.order_id) == ("partially_filled", "99")
    assert trk.get_by_order_id(V, "99") is not None


def test_fill_before_ack_carries_the_order_id() -> None:
    trk = new_tracker()
    assert trk.on_fill(1, V, 5, 14_100, 3, order_id="5406825793") == "applied"
    o = trk.get_by_order_id(V, "5406825793")
    assert o is not None and o.client_id == 1
    assert trk.on_fill(1, V, 5, 14_100, 3, order_id="5406825793") == "duplicate"
    with pytest.raises(OrderTrackerError, match="venue order id"):
        trk.on_fill(1, V, 6, 14_100, 1, order_id="other")
    assert trk.get(1, V).filled == 3  # type: ignore[union-attr]


def test_ack_after_cancel_request_is_stale() -> None:
    trk = new_tracker()
    assert trk.on_cancel_requested(1, V) == "applied"
    assert trk.on_ack(1, V, "7") == "stale"
    o = trk.get(1, V)
    assert o is not None and o.state == "pending_cancel" and o.cancel_requested_ns is not None


def test_late_ack_after_fill_and_duplicates() -> None:
    trk = drive_to("open")
    assert trk.on_fill(1, V, 5, 14_100, 10) == "applied"
    assert trk.on_ack(1, V) == "stale"
    assert trk.on_fill(1, V, 5, 14_100, 10) == "duplicate"
    assert trk.on_cancel(1, V) == "stale"
    o = trk.get(1, V)
    assert o is not None and (o.state, o.filled) == ("filled", 10)


def test_reject_after_unresolved_and_never_guessed() -> None:
    trk = new_tracker()
    assert trk.on_unresolved(1, V, "timeout") == "applied"
    assert [o.client_id for o in trk.unresolved()] == [1]
    assert trk.on_cancel_rejected(1, V, "Order not found") == "stale"
    o = trk.get(1, V)
    assert o is not None and o.state == "unresolved" and o.reason == "timeout"
    assert trk.on_reject(1, V, "INSUFFICIENT_MARGIN") == "applied"
    o = trk.get(1, V)
    assert o is not None and (o.state, o.reason) == ("rejected", "INSUFFICIENT_MARGIN")
    assert trk.unresolved() == []


def test_reject_after_a_fill_is_illegal() -> None:
    trk = new_tracker()
    trk.on_fill(1, V, 5, 14_100, 2)
    assert trk.on_reject(1, V, "x") == "illegal"


def test_cancel_rejected_returns_order_to_the_book() -> None:
    trk = drive_to("partially_filled")
    trk.on_cancel_requested(1, V)
    assert trk.on_cancel_rejected(1, V, "busy") == "applied"
    o = trk.get(1, V)
    assert o is not None and o.state == "partially_filled"


def test_reconciliation_venue_state() -> None:
    trk = new_tracker()
    trk.on_unresolved(1, V, "connection dropped")
    # The venue says: resting with 4 filled at avg 14050, order id 77.
    assert trk.on_venue_state(1, V, "partially_filled", 4, avg_px=14_050, order_id="77") == "applied"
    o = trk.get(1, V)
    assert o is not None
    assert (o.state, o.filled, o.avg_px, o.order_id) == ("partially_filled", 4, 14_050, "77")
    # A stale snapshot (less filled, "open") never moves it back.
    assert trk.on_venue_state(1, V, "open", 2) == "stale"
    # Then: cancelled with 6 filled: the size applies, then the terminal state.
    assert trk.on_venue_state(1, V, "cancelled", 6) == "applied"
    o = trk.get(1, V)
    assert o is not None and (o.state, o.filled) == ("cancelled", 6)
    # The per-fill events arriving afterwards do not double count.
    assert trk.on_fill(1, V, 1, 14_000, 4) == "applied"
    assert trk.on_fill(1, V, 2, 14_100, 2) == "applied"
    o = trk.get(1, V)
    assert o is not None and (o.filled, o.avg_px) == (6, 14_033)
    assert trk.on_venue_state(1, V, "pending_new", 0) == "illegal"
    with pytest.raises(ValueError, match="state"):
        trk.on_venue_state(1, V, "New", 0)


def test_cumulative_and_per_fill_updates_do_not_double_count() -> None:
    trk = drive_to("open")
    # Backpack orderFill: l=2, z=5 (an earlier fill of 3 was missed).
    assert trk.on_fill(1, V, 11, 14_100, 2, cum_filled=5) == "applied"
    assert trk.get(1, V).filled == 5  # type: ignore[union-attr]
    assert trk.on_fill(1, V, 10, 14_100, 3, cum_filled=3) == "applied"  # the missed one, late
    assert trk.get(1, V).filled == 5  # type: ignore[union-attr]
    assert trk.on_fill(1, V, 12, 14_100, 5, cum_filled=10) == "applied"
    o = trk.get(1, V)
    assert o is not None and (o.state, o.filled, o.remaining) == ("filled", 10, 0)


def test_overfill_is_an_error_and_changes_nothing() -> None:
    trk = drive_to("partially_filled")
    with pytest.raises(OrderTrackerError, match="over-fill"):
        trk.on_fill(1, V, 77, 14_100, 8)
    with pytest.raises(OrderTrackerError, match="over-fill"):
        trk.on_fill(1, V, 78, 14_100, 1, cum_filled=11)
    with pytest.raises(OrderTrackerError, match="over-fill"):
        trk.on_venue_state(1, V, "partially_filled", 11)
    o = trk.get(1, V)
    assert o is not None and (o.filled, o.trade_ids) == (3, [900])


def test_bad_input_is_a_clear_error() -> None:
    trk = new_tracker()
    with pytest.raises(OrderTrackerError, match="already tracked"):
        trk.submitted(1, V, SYM, "bid", 1, 1)
    with pytest.raises(ValueError, match="venue"):
        trk.submitted(2, "kraken", SYM, "bid", 1, 1)
    with pytest.raises(ValueError, match="side"):
        trk.submitted(2, V, SYM, "long", 1, 1)
    with pytest.raises(OrderTrackerError, match="sz"):
        trk.submitted(2, V, SYM, "bid", 1, 0)
    with pytest.raises(ValueError, match="time_in_force"):
        trk.submitted(2, V, SYM, "bid", 1, 1, time_in_force="GTD")
    with pytest.raises(OrderTrackerError, match="sz"):
        trk.on_fill(1, V, 1, 1, 0)
    trk.on_ack(1, V, "A")
    with pytest.raises(OrderTrackerError, match="venue order id"):
        trk.on_ack(1, V, "B")
    assert trk.get(1, V).order_id == "A"  # type: ignore[union-attr]
    assert len(trk) == 1
    assert trk.on_ack(42, V) == "unknown_order"


def test_open_orders_filters_and_same_client_id_on_two_venues() -> None:
    trk = OrderTracker()
    trk.submitted(1, "backpack", "SOL_USDC_PERP", "bid", 1, 1)
    trk.submitted(1, "lighter", "SOL", "ask", 1, 1, post_only=True, reduce_only=True, time_in_force="IOC")
    trk.submitted(2, "backpack", "ETH_USDC_PERP", "ask", 1, 1)
    trk.on_cancel(2, "backpack")
    assert [(o.venue, o.client_id) for o in trk.open_orders()] == [("backpack", 1), ("lighter", 1)]
    assert [o.venue for o in trk.open_orders(venue="lighter")] == ["lighter"]
    assert [o.symbol for o in trk.open_orders(symbol="SOL_USDC_PERP")] == ["SOL_USDC_PERP"]
    lt = trk.get(1, "lighter")
    assert lt is not None
    assert (lt.side, lt.post_only, lt.reduce_only, lt.time_in_force) == ("ask", True, True, "IOC")


def test_events_go_into_the_ring() -> None:
    ring = EventRing(capacity=64)
    trk = new_tracker(ring)
    assert len(ring) == 1  # submitted -> OrderUpdate(pending_new)
    trk.on_ack(1, V, "1")
    trk.on_fill(1, V, 5, 14_100, 3)  # Fill + OrderUpdate
    trk.on_fill(1, V, 5, 14_100, 3)  # duplicate: nothing
    trk.on_ack(1, V)  # stale: nothing
    assert len(ring) == 4


def test_terminal_orders_are_pruned_to_the_retention() -> None:
    trk = OrderTracker(terminal_retention=5)
    assert trk.terminal_retention == 5
    for cid in range(20):
        trk.submitted(cid, V, SYM, "bid", 1, 2)
        trk.on_ack(cid, V, f"o{cid}")
        trk.on_fill(cid, V, cid, 1, 2)
    trk.submitted(100, V, SYM, "bid", 1, 2)  # live orders are never pruned
    assert len(trk) == 6
    assert trk.get(14, V) is None and trk.get(15, V) is not None and trk.get_by_order_id(V, "o3") is None
    assert trk.on_cancel(3, V) == "unknown_order"
    assert trk.prune_terminal(0) == 5
    assert len(trk) == 1 and trk.get(100, V) is not None
    assert "OrderTracker(orders=1" in repr(trk)


# ---- invariants under random event sequences (any order, duplicates)

event_st = st.one_of(
    st.tuples(st.sampled_from(["ack", "reject", "cancel_requested", "cancel_rejected", "cancel", "expire",
                               "unresolved"])),
    st.tuples(st.just("fill"), st.integers(0, 7), st.integers(1, 6), st.none() | st.integers(0, 12)),
    st.tuples(st.just("venue"), st.sampled_from(["open", "partially_filled", "filled", "cancelled", "expired",
                                                 "rejected"]), st.integers(0, 12)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(event_st, max_size=40))
def test_invariants_over_random_sequences(events: list[tuple]) -> None:  # type: ignore[type-arg]
    trk = new_tracker()
    trade_size: dict[int, int] = {}  # one trade id is one trade: same size every time it is reported
    counted: dict[int, int] = {}
    venue_cum = 0
    was_terminal = False
    for ev in events:
        before = trk.get(1, V)
        assert before is not None
        kind = ev[0]
        result: str
        try:
            if kind == "fill":
                _, tid, sz, cum = ev
                sz = trade_size.setdefault(tid, sz)
                result = trk.on_fill(1, V, tid, 14_000 + tid, sz, cum_filled=cum)
                if result == "applied":
                    counted[tid] = sz
                    venue_cum = max(venue_cum, cum or 0)
            elif kind == "venue":
                _, state, filled = ev
                result = trk.on_venue_state(1, V, state, filled)
                if result == "applied":
                    venue_cum = max(venue_cum, filled)
            else:
                result = getattr(trk, {"ack": "on_ack", "reject": "on_reject", "cancel_requested":
                                       "on_cancel_requested", "cancel_rejected": "on_cancel_rejected",
                                       "cancel": "on_cancel", "expire": "on_expire",
                                       "unresolved": "on_unresolved"}[kind])(1, V)
        except OrderTrackerError as exc:
            assert "over-fill" in str(exc)
            result = "error"
        after = trk.get(1, V)
        assert after is not None
        if result != "applied":
            now = (after.state, after.filled, after.trade_ids)
            assert now == (before.state, before.filled, before.trade_ids)
        assert 0 <= after.filled <= SIZE
        assert after.filled >= before.filled
        assert sorted(after.trade_ids) == sorted(counted)  # each fill counted once
        assert after.filled == max(sum(counted.values()), venue_cum)
        if not venue_cum:
            assert after.filled == sum(counted.values())
        if was_terminal:
            assert after.state in TERMINAL
        if after.state == "filled":
            assert after.filled == SIZE
        was_terminal = after.state in TERMINAL


def test_documented_table_matches_the_core() -> None:
    """docs/core_api.md shows the transition table; it must be the one the core runs."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "core_api.md").read_text()
    start = doc.index("| state \\ event |")
    lines = doc[start:].splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")][1:]
    assert header == EVENTS
    rows = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header, cells[1:], strict=True))
    assert rows == {s: {e: OrderTracker.transition(s, e) for e in EVENTS} for s in STATES}


def test_knows_matches_get() -> None:
    trk = OrderTracker()
    assert not trk.knows(1, V)
    trk.submitted(1, V, "SOL_USDC_PERP", "bid", 14_000, SIZE)
    assert trk.knows(1, V) and trk.get(1, V) is not None
    assert not trk.knows(2, V) and not trk.knows(1, "lighter")
    with pytest.raises(ValueError, match="venue"):
        trk.knows(1, "nope")


def test_venue_filled_short_of_the_size_ends_the_order() -> None:
    """A venue that clips an order (a reduce-only order to the position) reports it Filled with less than we
    sent: terminal with what filled (the rest cancelled there), never left live."""
    trk = OrderTracker()
    trk.submitted(1, V, "SOL", "ask", 14_000, 30, reduce_only=True)
    assert trk.on_ack(1, V, "9") == "applied"
    assert trk.on_venue_state(1, V, "filled", 20) == "applied"
    o = trk.get(1, V)
    assert o is not None and o.is_terminal and o.state == "cancelled" and o.filled == 20
    assert "short" in (o.reason or "")
    assert trk.open_orders() == [] and trk.unresolved() == []
    trk.submitted(2, V, "SOL", "ask", 14_000, 30)  # never acknowledged: the report alone ends it
    assert trk.on_venue_state(2, V, "filled", 10) == "applied"
    assert trk.get(2, V).state == "cancelled" and trk.get(2, V).filled == 10
