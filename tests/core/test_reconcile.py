"""The one reconciler (xtb/orders/reconcile.py) over the core OrderTracker.

Property tests drive a small venue model: orders with a true history (fills with trade ids, then maybe a
cancel or an expiry; some submits never reach the venue). Their reports (status snapshots at any point of
the history, fills) arrive in a random order, some lost, some twice, old snapshots after new ones. A final
reconciliation (open orders, then lookups of the missing ones, then the not-found rule) must leave every
order exactly as the venue has it: nothing lost, nothing counted twice, terminal states never left.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb._core import OrderTracker
from xtb.orders.reconcile import (
    FillReport,
    OrderReport,
    PositionReport,
    Reconciler,
    ReconcileRules,
    merge_positions,
)

VENUE = "backpack"
SYMBOL = "SOL_USDC_PERP"
FAR = 10**15  # an instant far past every submit window
TERMINAL = {"filled", "cancelled", "expired", "rejected"}


@dataclass
class TrueOrder:
    """One order as the venue knows it, with every status it went through."""

    client_id: int
    size: int
    reached_venue: bool
    fills: list[tuple[int, int]] = field(default_factory=list)  # (trade_id, size)
    end: str | None = None  # cancelled / expired, or None (still open unless fully filled)
    snapshots: list[tuple[str, int]] = field(default_factory=list)  # (state, cumulative filled), in order

    @property
    def filled(self) -> int:
        return sum(sz for _, sz in self.fills)

    @property
    def final_state(self) -> str:
        if not self.reached_venue:
            return "rejected"
        if self.filled == self.size:
            return "filled"
        if self.end is not None:
            return self.end
        return "partially_filled" if self.filled else "open"

    def report(self, state: str, filled: int) -> OrderReport:
        return OrderReport(SYMBOL, state, filled, client_id=self.client_id, order_id=f"v{self.client_id}",  # type: ignore[arg-type]
                           side="bid", size=self.size, price=100)


@st.composite
def venue_histories(draw: st.DrawFn) -> list[TrueOrder]:
    orders = []
    trade_id = 1
    for i in range(draw(st.integers(1, 6))):
        size = draw(st.integers(1, 10))
        o = TrueOrder(client_id=100 + i, size=size, reached_venue=draw(st.booleans()) or draw(st.booleans()))
        if o.reached_venue:
            o.snapshots.append(("open", 0))
            left = size
            for _ in range(draw(st.integers(0, 3))):
                if left == 0:
                    break
                sz = draw(st.integers(1, left))
                o.fills.append((trade_id, sz))
                trade_id += 1
                left -= sz
                o.snapshots.append(("filled" if left == 0 else "partially_filled", size - left))
            if left and draw(st.booleans()):
                o.end = draw(st.sampled_from(["cancelled", "expired"]))
                o.snapshots.append((o.end, size - left))
        orders.append(o)
    return orders


Msg = tuple[str, int, int]  # ("snap" | "fill", order index, item index)


@st.composite
def deliveries(draw: st.DrawFn, orders: list[TrueOrder]) -> list[Msg]:
    msgs: list[Msg] = []
    for i, o in enumerate(orders):
        msgs += [("snap", i, k) for k in range(len(o.snapshots))]
        msgs += [("fill", i, k) for k in range(len(o.fills))]
    kept = [m for m in msgs if draw(st.integers(0, 3)) > 0]  # about a quarter lost
    kept += draw(st.lists(st.sampled_from(msgs), max_size=6)) if msgs else []  # duplicates
    return draw(st.permutations(kept))


def _deliver(rec: Reconciler, orders: list[TrueOrder], msg: Msg) -> None:
    kind, i, k = msg
    o = orders[i]
    if kind == "snap":
        state, filled = o.snapshots[k]
        rec.apply_order(o.report(state, filled))
    else:
        tid, sz = o.fills[k]
        rec.apply_fill(FillReport(o.client_id, tid, 100, sz, order_id=f"v{o.client_id}"))


def _final_reconciliation(rec: Reconciler, orders: list[TrueOrder]) -> None:
    """What a connector does: the venue's open orders, then the missing ones looked up (order query,
    history), then the not-found rule."""
    live = [o.report(o.final_state, o.filled) for o in orders if o.final_state in ("open", "partially_filled")]
    verdict = rec.open_orders(live, FAR)
    known = {o.client_id: o for o in orders if o.reached_venue}
    for m in verdict.missing:
        t = known.get(m.client_id)
        if t is not None:
            rec.found(t.report(t.final_state, t.filled))
    rec.settle_missing(verdict.missing)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_interleaving_ends_as_the_venue_has_it(data: st.DataObject) -> None:
    orders = data.draw(venue_histories())
    msgs = data.draw(deliveries(orders))
    tracker = OrderTracker()
    rec = Reconciler(VENUE, tracker, ReconcileRules("adopt", 1.0))
    for o in orders:
        tracker.submitted(o.client_id, VENUE, SYMBOL, "bid", 100, o.size)
    ended: dict[int, str] = {}
    for msg in msgs:
        _deliver(rec, orders, msg)
        for o in orders:  # terminal states are final
            cur = tracker.get(o.client_id, VENUE)
            assert cur is not None
            if o.client_id in ended:
                assert cur.is_terminal, (o, ended[o.client_id], cur.state)
            elif cur.is_terminal:
                ended[o.client_id] = cur.state
            assert cur.filled <= o.filled, "counted more than the venue filled"
    _final_reconciliation(rec, orders)
    for o in orders:
        cur = tracker.get(o.client_id, VENUE)
        assert cur is not None
        assert (cur.state, cur.filled) == (o.final_state, o.filled), (o, cur.state, cur.filled)
        assert set(cur.trade_ids) <= {tid for tid, _ in o.fills}
    # Running the reconciliation again changes nothing (idempotent) and nothing is left to settle.
    before = [(tracker.get(o.client_id, VENUE).state, tracker.get(o.client_id, VENUE).filled) for o in orders]  # type: ignore[union-attr]
    _final_reconciliation(rec, orders)
    assert before == [(tracker.get(o.client_id, VENUE).state, tracker.get(o.client_id, VENUE).filled)  # type: ignore[union-attr]
                      for o in orders]


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_fills_count_once_whatever_their_order(data: st.DataObject) -> None:
    orders = data.draw(venue_histories())
    tracker = OrderTracker()
    rec = Reconciler(VENUE, tracker, ReconcileRules())
    fills = [FillReport(o.client_id, tid, 100, sz) for o in orders for tid, sz in o.fills]
    for o in orders:
        tracker.submitted(o.client_id, VENUE, SYMBOL, "bid", 100, o.size)
    copies = data.draw(st.lists(st.sampled_from(fills), max_size=8)) if fills else []
    stream = data.draw(st.permutations(fills + copies))
    assert rec.apply_fills(stream) == len(fills)
    for o in orders:
        assert tracker.get(o.client_id, VENUE).filled == o.filled  # type: ignore[union-attr]


def _tracked(tracker: OrderTracker, cid: int, size: int = 5) -> None:
    tracker.submitted(cid, VENUE, SYMBOL, "bid", 100, size)


def test_missing_order_is_judged_only_after_the_submit_window() -> None:
    tracker = OrderTracker()
    rec = Reconciler(VENUE, tracker, ReconcileRules("adopt", 5.0))
    _tracked(tracker, 1)
    tracker.on_unresolved(1, VENUE, "timeout")
    verdict = rec.open_orders([], time.monotonic_ns())
    assert verdict.missing == ()  # inside the window: no verdict
    verdict = rec.open_orders([], time.monotonic_ns() + 6 * 10**9)
    assert [o.client_id for o in verdict.missing] == [1]
    assert rec.settle_missing(verdict.missing) == {1: "rejected"}
    assert "reconciliation" in (tracker.get(1, VENUE).reason or "")  # type: ignore[union-attr]


def test_orders_in_flight_are_never_judged() -> None:
    tracker = OrderTracker()
    rec = Reconciler(VENUE, tracker, ReconcileRules("adopt", 0.0))
    _tracked(tracker, 1)
    assert rec.open_orders([], FAR, in_flight={1}).missing == ()


@pytest.mark.parametrize(("acked", "filled", "expected"), [
    (True, 0, "cancelled"), (True, 2, "cancelled"), (True, 5, "filled"), (False, 0, "rejected"),
])
def test_not_found_rule(acked: bool, filled: int, expected: str) -> None:
    tracker = OrderTracker()
    rec = Reconciler(VENUE, tracker, ReconcileRules("adopt", 0.0))
    _tracked(tracker, 1)
    if acked:
        tracker.on_ack(1, VENUE, "v1")
    if filled:
        rec.apply_order(OrderReport(SYMBOL, "partially_filled", filled - 1, client_id=1))
        rec.apply_fill(FillReport(1, 9, 100, filled))
    verdict = rec.open_orders([], FAR)
    if expected == "filled":  # a full fill already ended it: nothing was missing
        assert verdict.missing == () and tracker.get(1, VENUE).state == "filled"  # type: ignore[union-attr]
        return
    assert rec.settle_missing(verdict.missing) == {1: expected}
    assert tracker.get(1, VENUE).filled == filled  # type: ignore[union-attr]


def _unknown(cid: int | None) -> OrderReport:
    return OrderReport(SYMBOL, "partially_filled", 1, client_id=cid, order_id="x9", side="ask", size=3, price=250,
                       post_only=True)


def test_unknown_order_adopted_with_what_the_venue_says() -> None:
    tracker = OrderTracker()
    rec = Reconciler(VENUE, tracker, ReconcileRules("adopt"))
    verdict = rec.open_orders([_unknown(7)], FAR)
    o = tracker.get(7, VENUE)
    assert o is not None and (o.state, o.filled, o.side, o.px, o.sz, o.post_only, o.order_id) == (
        "partially_filled", 1, "ask", 250, 3, True, "x9")
    assert verdict.cancel == () and rec.stats.adopted == 1 and rec.disagreements(verdict) == ()


def test_unknown_order_without_our_client_id_is_left_alone_under_adopt() -> None:
    rec = Reconciler(VENUE, OrderTracker(), ReconcileRules("adopt"))
    verdict = rec.open_orders([_unknown(None)], FAR)
    assert verdict.cancel == () and len(verdict.untracked) == 1
    assert rec.disagreements(verdict)  # someone else's order is open on the account


@pytest.mark.parametrize("cid", [7, None])
def test_unknown_order_cancelled_by_policy(cid: int | None) -> None:
    tracker = OrderTracker()
    rec = Reconciler(VENUE, tracker, ReconcileRules("cancel"))
    verdict = rec.open_orders([_unknown(cid)], FAR)
    assert [r.order_id for r in verdict.cancel] == ["x9"] and tracker.get(7, VENUE) is None


def test_unknown_order_ignored_by_policy() -> None:
    rec = Reconciler(VENUE, OrderTracker(), ReconcileRules("ignore"))
    verdict = rec.open_orders([_unknown(7)], FAR)
    assert verdict.cancel == () and rec.disagreements(verdict) == ()


@pytest.mark.parametrize(("policy", "cancelled"), [("adopt", True), ("cancel", True), ("ignore", False)])
def test_ghost_order_is_cancelled_at_the_venue_unless_ignored(policy: str, cancelled: bool) -> None:
    tracker = OrderTracker()
    rec = Reconciler(VENUE, tracker, ReconcileRules(policy))  # type: ignore[arg-type]
    _tracked(tracker, 1)
    tracker.on_ack(1, VENUE, "v1")
    tracker.on_cancel(1, VENUE)
    verdict = rec.open_orders([OrderReport(SYMBOL, "open", 0, client_id=1, order_id="v1")], FAR)
    assert bool(verdict.cancel) is cancelled and rec.stats.ghosts == 1
    assert tracker.get(1, VENUE).state == "cancelled"  # type: ignore[union-attr]


def test_overfill_report_is_refused_and_counted() -> None:
    tracker = OrderTracker()
    rec = Reconciler(VENUE, tracker, ReconcileRules())
    _tracked(tracker, 1, size=2)
    assert rec.apply_fill(FillReport(1, 1, 100, 3)) is None
    assert rec.stats.fills_refused == 1 and tracker.get(1, VENUE).filled == 0  # type: ignore[union-attr]


def test_report_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="state"):
        OrderReport(SYMBOL, "pending", 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown_order_policy"):
        ReconcileRules("keep")  # type: ignore[arg-type]


def test_positions_merge_keeps_what_the_stream_said_after_the_read() -> None:
    cached = {"A": PositionReport("A", 5, 100), "B": PositionReport("B", 2, 50)}
    venue = [PositionReport("A", 3, 101), PositionReport("C", -1, 9), PositionReport("X", 4, 1)]
    merge = merge_positions(cached, venue, {"A", "B", "C"}, asked_ns=10, stream_seen_ns={"B": 11})
    assert merge.positions == {"A": venue[0], "B": cached["B"], "C": venue[1]}  # X: not our market
    assert set(merge.changed) == {"A", "C"} and set(merge.disagreed) == {"A", "C"}
    again = merge_positions(merge.positions, venue, {"A", "B", "C"}, asked_ns=20, stream_seen_ns={"B": 11})
    assert set(again.changed) == {"B"}  # the venue says B is flat now


def test_a_fill_after_the_order_update_only_adds_its_price_and_fee() -> None:
    from xtb._core import EventRing

    ring = EventRing(64)
    tracker = OrderTracker(ring)
    rec = Reconciler(VENUE, tracker, ReconcileRules())
    _tracked(tracker, 1, size=5)
    rec.apply_order(OrderReport(SYMBOL, "filled", 5, client_id=1, order_id="v1", avg_px=101))
    ring.drain()
    assert rec.apply_fill(FillReport(1, 77, 102, 5, maker=True, fee=-3, order_id="v1")) == "applied"
    o = tracker.get(1, VENUE)
    assert o is not None and (o.state, o.filled, o.trade_ids, o.avg_px) == ("filled", 5, [77], 102)
    events = ring.drain()
    assert [e.kind for e in events] == ["fill"] and events[0].fee == -3  # no second order update
    assert rec.apply_fill(FillReport(1, 77, 102, 5)) == "duplicate"


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_quick_check_brings_watched_orders_to_the_venue_and_settles_nothing(data: st.DataObject) -> None:
    """`check_listed` between reconciliations: whatever the stream delivered before, the venue's open list
    plus a look-up of each watched order it no longer lists leave every watched order the venue knows as
    the venue has it; an order the venue never had is left live (the submit-window rule is not run);
    nothing is adopted or cancelled, and an unwatched order changes only by what the open list says of it."""
    orders = data.draw(venue_histories())
    msgs = data.draw(deliveries(orders))
    tracker = OrderTracker()
    rec = Reconciler(VENUE, tracker, ReconcileRules("adopt", 0.0))
    for o in orders:
        tracker.submitted(o.client_id, VENUE, SYMBOL, "bid", 100, o.size)
    for msg in msgs[: data.draw(st.integers(0, len(msgs)))]:
        _deliver(rec, orders, msg)
    watched = data.draw(st.lists(st.sampled_from([o.client_id for o in orders]), unique=True))
    before = {o.client_id: (tracker.get(o.client_id, VENUE).state, tracker.get(o.client_id, VENUE).filled)  # type: ignore[union-attr]
              for o in orders}
    stranger = OrderReport(SYMBOL, "open", 0, client_id=999, order_id="x", size=1, price=100)
    listed = [o.report(o.final_state, o.filled) for o in orders if o.final_state in ("open", "partially_filled")]
    gone = rec.check_listed([*listed, stranger], watched)
    assert tracker.get(999, VENUE) is None  # not adopted: that is the reconciliation's
    by_cid = {o.client_id: o for o in orders}
    for g in gone:
        assert g.client_id in watched and not g.is_terminal
        t = by_cid[g.client_id]
        if t.reached_venue:
            rec.found(t.report(t.final_state, t.filled))
    for o in orders:
        cur = tracker.get(o.client_id, VENUE)
        assert cur is not None
        if o.client_id not in watched:
            live_listed = o.final_state in ("open", "partially_filled") and before[o.client_id][0] not in TERMINAL
            if not live_listed:
                assert (cur.state, cur.filled) == before[o.client_id]
        elif o.reached_venue and before[o.client_id][0] not in TERMINAL:
            assert (cur.state, cur.filled) == (o.final_state, o.filled), (o, cur.state, cur.filled)
        elif not o.reached_venue:
            assert not cur.is_terminal  # never settled by a quick check
