"""The connector conformance suite every venue connector inherits (Hummingbot-style base test class).

A venue's test module subclasses `ConnectorConformance`, sets the class attributes and implements the
hooks (how to open a simulator account, build the connector, and read the simulator's truth); every
test below then runs against that venue's simulator, over loopback, through the real wire protocol.

Wiring under test is the engine's: one EventRing, one OrderTracker, a Dispatcher draining the ring on
every socket burst (`on_burst_end`), the connector registered as a first listener and a recorder after
it. Nothing here touches a live endpoint.

Venue hooks (subclass):
    venue, symbol                          class attributes
    ws_conn, rest_conn                     fault-plan connection patterns (e.g. "backpack-ws-*")
    open_account(sim) -> Account           register an account/key in the simulator
    make_connector(sim, account, harness, **options) -> connector (not started)
        options the suite passes: order_timeout_s, unknown_order_policy ("adopt" | "cancel" | "ignore"),
        reconcile_interval_s (None = no periodic reconciliation), submit_window_s
    venue_top(sim, symbol) -> (bid, ask)   the simulator's best levels as (px, sz) in connector units
    venue_open_client_ids(sim, account, symbol) -> set[int]
    venue_position(sim, account, symbol) -> int (signed, connector size units)
    rate_limited_count(connector) -> int   429s the connector's REST client has seen
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from xtb import _core
from xtb.engine.dispatcher import Dispatcher
from xtb.engine.gateway import OrderGateway
from xtb.model.types import OrderKind, OrderRequest, Side, SubmitOutcome, TimeInForce
from xtb.sim.cluster import ClusterConfig, SimCluster
from xtb.sim.faults import FaultKind, FaultPlan, FaultRule
from xtb.venues.contract import Connector


@dataclass
class Account:
    api_key: str
    secret: str  # what must never appear in logs
    account: Any  # the simulator's account id / index
    extra: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """A dispatcher listener that keeps every event it is given, by kind."""

    def __init__(self) -> None:
        self.events: dict[str, list[Any]] = {}

    def _add(self, ev: Any) -> None:
        self.events.setdefault(ev.kind, []).append(ev)

    on_book = on_trade = on_order = on_fill = on_position = on_resync = on_mark = _add

    def of(self, kind: str) -> list[Any]:
        return list(self.events.get(kind, ()))


@dataclass
class Harness:
    ring: Any
    tracker: Any
    dispatcher: Dispatcher
    recorder: Recorder

    @classmethod
    def create(cls) -> Harness:
        ring = _core.EventRing(1 << 16)
        tracker = _core.OrderTracker(ring)
        dispatcher = Dispatcher(ring)
        recorder = Recorder()
        dispatcher.add_listener(recorder)
        return cls(ring, tracker, dispatcher, recorder)

    def attach(self, connector: Any) -> None:
        self.dispatcher.add_listener(connector, first=True)


async def eventually(pred: Callable[[], Any], timeout_s: float = 5.0, what: str = "condition",
                     pump: Callable[[], Any] | None = None) -> Any:
    """Poll `pred` until truthy (bounded); `pump` runs before each check (e.g. a dispatcher drain)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if pump is not None:
            pump()
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


async def eventually_async(pred: Callable[[], Awaitable[Any]], timeout_s: float = 5.0,
                           what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)


class ConnectorConformance:
    venue: ClassVar[str]
    symbol: ClassVar[str]
    ws_conn: ClassVar[str]
    rest_conn: ClassVar[str]
    #: simulator options shared by every test (accept-then-timeout holds replies this long)
    cluster_options: ClassVar[dict[str, Any]] = {"response_timeout_s": 3.0, "updates_per_s": 50.0}
    #: how far from the touch a resting order is placed, in ticks (inside any price band)
    rest_ticks: ClassVar[int] = 50

    # ---- hooks --------------------------------------------------------------------------------
    async def open_account(self, sim: SimCluster) -> Account:
        raise NotImplementedError

    def make_connector(self, sim: SimCluster, account: Account, harness: Harness, **options: Any) -> Any:
        raise NotImplementedError

    def venue_top(self, sim: SimCluster, symbol: str) -> tuple[Any, Any]:
        raise NotImplementedError

    def venue_open_client_ids(self, sim: SimCluster, account: Account, symbol: str) -> set[int]:
        raise NotImplementedError

    def venue_position(self, sim: SimCluster, account: Account, symbol: str) -> int:
        raise NotImplementedError

    def rate_limited_count(self, connector: Any) -> int:
        raise NotImplementedError

    def order_transport(self, connector: Any) -> Any:
        """The keep-alive client order submits go through (None: orders do not travel over REST)."""
        raise NotImplementedError

    # ---- fixtures -----------------------------------------------------------------------------
    @pytest.fixture
    async def sim(self) -> AsyncIterator[SimCluster]:
        # Orders survive a dropped session unless a test asks otherwise (restart/adoption tests).
        plan = FaultPlan([], seed=1, cancel_on_disconnect=False)
        cfg = ClusterConfig(venues=(self.venue,), seed=7, fault_plan=plan, **self.cluster_options)
        async with SimCluster(cfg) as cluster:
            yield cluster

    @pytest.fixture
    async def account(self, sim: SimCluster) -> Account:
        return await self.open_account(sim)

    @pytest.fixture
    def harness(self) -> Harness:
        return Harness.create()

    @pytest.fixture
    async def connector(self, sim: SimCluster, account: Account, harness: Harness) -> AsyncIterator[Any]:
        conn = await self.start_connector(sim, account, harness)
        try:
            yield conn
        finally:
            await conn.close()

    async def start_connector(self, sim: SimCluster, account: Account, harness: Harness, **options: Any) -> Any:
        conn = self.make_connector(sim, account, harness, **options)
        harness.attach(conn)
        await conn.start()
        return conn

    # ---- helpers ------------------------------------------------------------------------------
    _cids = itertools.count(1_000)

    def next_cid(self) -> int:
        return next(self._cids)

    def add_fault(self, sim: SimCluster, **rule: Any) -> None:
        plan = sim.faults.plan
        plan.rules.append(FaultRule(**rule))

    async def top(self, conn: Any, harness: Harness) -> tuple[Any, Any]:
        return await eventually(lambda: all(conn.top_of_book(self.symbol)) and conn.top_of_book(self.symbol),
                                what="a live top of book", pump=harness.dispatcher.drain)

    async def resting_order(self, conn: Any, harness: Harness, side: Side = Side.BID, **kw: Any) -> OrderRequest:
        bid, ask = await self.top(conn, harness)
        m = conn.markets()[self.symbol]
        if side is Side.BID:
            px = m.round_px(bid[0] - self.rest_ticks * m.tick, Side.BID)
        else:
            px = m.round_px(ask[0] + self.rest_ticks * m.tick, Side.ASK)
        return OrderRequest(self.next_cid(), self.symbol, side, max(m.min_size, m.step), price=px,
                            post_only=True, **kw)

    async def taking_order(self, conn: Any, harness: Harness, side: Side = Side.BID) -> OrderRequest:
        bid, ask = await self.top(conn, harness)
        m = conn.markets()[self.symbol]
        px = ask[0] + 5 * m.tick if side is Side.BID else bid[0] - 5 * m.tick
        return OrderRequest(self.next_cid(), self.symbol, side, max(m.min_size, m.step), price=px,
                            tif=TimeInForce.IOC)

    def state(self, harness: Harness, cid: int) -> str | None:
        o = harness.tracker.get(cid, self.venue)
        return None if o is None else o.state

    async def book_matches_venue(self, sim: SimCluster, conn: Any, harness: Harness) -> None:
        """Freeze the simulated market, then our top of book must equal the venue's exactly."""
        await sim.stop_generator()
        want = self.venue_top(sim, self.symbol)
        await eventually(lambda: conn.top_of_book(self.symbol) == want, timeout_s=5.0,
                         what=f"top of book == venue {want}", pump=harness.dispatcher.drain)

    # ---- tests: markets and books ---------------------------------------------------------------
    async def test_is_a_connector(self, connector: Any) -> None:
        assert isinstance(connector, Connector)
        assert connector.venue == self.venue

    async def test_markets_have_integer_scales(self, connector: Any) -> None:
        markets = connector.markets()
        assert self.symbol in markets
        for sym, m in markets.items():
            assert m.symbol == sym and m.venue == self.venue
            assert m.base and m.base == m.base.upper()
            assert m.tick > 0 and m.step > 0 and m.min_size >= m.step
            assert all(isinstance(v, int) for v in (m.price_decimals, m.size_decimals, m.tick, m.step))

    async def test_book_top_equals_the_venue(self, sim: SimCluster, connector: Any, harness: Harness) -> None:
        bid, ask = await self.top(connector, harness)
        assert bid[0] < ask[0]
        assert connector.book(self.symbol).state == "live"
        await self.book_matches_venue(sim, connector, harness)
        assert harness.recorder.of("book"), "book updates reached the dispatcher"

    async def test_latency_probe(self, connector: Any) -> None:
        ms = await connector.latency_probe()
        assert 0 < ms < 5_000

    # ---- tests: orders ------------------------------------------------------------------------
    async def test_place_and_cancel_by_client_id(self, sim: SimCluster, account: Account, connector: Any,
                                                 harness: Harness) -> None:
        req = await self.resting_order(connector, harness)
        res = await connector.submit(req)
        assert res.outcome is SubmitOutcome.ACCEPTED and res.client_id == req.client_id
        assert self.state(harness, req.client_id) == "open"
        assert req.client_id in self.venue_open_client_ids(sim, account, self.symbol)
        assert [o.client_id for o in connector.open_orders(self.symbol)] == [req.client_id]
        res = await connector.cancel(self.symbol, req.client_id)
        assert res.outcome is SubmitOutcome.ACCEPTED
        assert self.state(harness, req.client_id) == "cancelled"
        assert req.client_id not in self.venue_open_client_ids(sim, account, self.symbol)
        # The private stream's cancel reaches the tracker as a duplicate: one terminal update only.
        await asyncio.sleep(0.2)
        harness.dispatcher.drain()
        updates = [e for e in harness.recorder.of("order") if e.client_id == req.client_id]
        assert [u.state for u in updates].count("cancelled") == 1

    async def test_orders_travel_on_the_warm_keepalive_connections(
        self, sim: SimCluster, account: Account, connector: Any, harness: Harness
    ) -> None:
        transport = self.order_transport(connector)
        if transport is None:
            pytest.skip("this connector's orders do not travel over REST")
        assert transport.connects == 2  # opened at start (order_connections), before any order
        for _ in range(3):
            res = await connector.submit(await self.resting_order(connector, harness))
            assert res.outcome is SubmitOutcome.ACCEPTED
        assert transport.connects == 2  # reused, no connect on the order path
        # The aiohttp transport stays available as an option, with the same behaviour.
        other_harness = Harness.create()
        other = await self.start_connector(sim, account, other_harness, order_http="aiohttp")
        try:
            assert self.order_transport(other) is None
            req = await self.resting_order(other, other_harness)
            assert (await other.submit(req)).outcome is SubmitOutcome.ACCEPTED
        finally:
            await other.close()

    async def test_bad_order_is_refused_before_anything_is_tracked(self, connector: Any, harness: Harness) -> None:
        req = await self.resting_order(connector, harness)
        m = connector.markets()[self.symbol]
        if m.tick > 1:
            bad = OrderRequest(req.client_id, req.symbol, req.side, req.size, price=req.price + 1)  # type: ignore[operator]
        else:
            bad = OrderRequest(req.client_id, req.symbol, req.side, req.size + (1 if m.step > 1 else 0),
                               price=None, kind=OrderKind.LIMIT)
        with pytest.raises(ValueError):
            await connector.submit(bad)
        assert harness.tracker.get(req.client_id, self.venue) is None

    async def test_gateway_batch_submit_and_cancel_all(self, sim: SimCluster, account: Account, connector: Any,
                                                       harness: Harness) -> None:
        a = await self.resting_order(connector, harness, Side.BID)
        b = await self.resting_order(connector, harness, Side.ASK)
        gateway = OrderGateway({self.venue: connector}, harness.tracker)
        assert gateway.submit(self.venue, [a, b]) == [a.client_id, b.client_id]
        await gateway.drain()
        assert gateway.stats.acked == 2, gateway.stats
        assert {self.state(harness, a.client_id), self.state(harness, b.client_id)} == {"open"}
        assert {a.client_id, b.client_id} <= self.venue_open_client_ids(sim, account, self.symbol)
        gateway.cancel(self.venue, self.symbol, [a.client_id])
        await gateway.drain()
        assert self.state(harness, a.client_id) == "cancelled"
        await connector.cancel_all(self.symbol)
        assert self.state(harness, b.client_id) == "cancelled"
        assert not self.venue_open_client_ids(sim, account, self.symbol)

    async def test_fill_reaches_the_tracker_and_the_position(self, sim: SimCluster, account: Account,
                                                             connector: Any, harness: Harness) -> None:
        req = await self.taking_order(connector, harness, Side.BID)
        res = await connector.submit(req)
        assert res.outcome is SubmitOutcome.ACCEPTED
        order = await eventually(
            lambda: (o := harness.tracker.get(req.client_id, self.venue)) is not None and o.filled > 0 and o,
            what="a fill in the tracker", pump=harness.dispatcher.drain)
        assert order.filled == req.size and order.state == "filled"
        fills = await eventually(lambda: [f for f in harness.recorder.of("fill") if f.client_id == req.client_id],
                                 what="a Fill event", pump=harness.dispatcher.drain)
        assert sum(f.sz for f in fills) == req.size and fills[0].side == "bid"
        want = self.venue_position(sim, account, self.symbol)
        assert want == req.size
        await eventually(lambda: harness.recorder.of("position"), what="a position event",
                         pump=harness.dispatcher.drain)
        positions = await connector.positions()
        assert positions[self.symbol].size == want
        assert positions[self.symbol].entry_px > 0

    # ---- tests: resync ------------------------------------------------------------------------
    async def test_reconnect_mid_stream_resyncs_then_fresh_book(self, sim: SimCluster, connector: Any,
                                                                harness: Harness) -> None:
        await self.top(connector, harness)
        dropped = sim.drop_sockets(self.venue)
        assert dropped >= 1
        await eventually(lambda: harness.recorder.of("resync"), what="a Resync event", pump=harness.dispatcher.drain)
        book = connector.book(self.symbol)

        def live_again() -> bool:
            if book.state in ("stale", "awaiting_snapshot"):
                # Until a new snapshot is in, the book shows no price at all (never a stale one).
                assert connector.top_of_book(self.symbol) == (None, None)
            return book.state == "live"

        await eventually(live_again, timeout_s=10.0, what="the book live again", pump=harness.dispatcher.drain)
        await self.book_matches_venue(sim, connector, harness)

    async def test_sequence_gap_resyncs(self, sim: SimCluster, connector: Any, harness: Harness) -> None:
        await self.top(connector, harness)
        self.add_fault(sim, kind=FaultKind.SKIP_SEQ, every=1, max_count=1, conn=self.ws_conn)
        resync = await eventually(lambda: harness.recorder.of("resync"), what="a Resync after a gap",
                                  pump=harness.dispatcher.drain)
        assert resync[0].reason, "a Resync says why"
        assert sim.faults.plan.counts.get(FaultKind.SKIP_SEQ, 0) >= 1
        await eventually(lambda: connector.book(self.symbol).state == "live", timeout_s=10.0,
                         what="the book live again", pump=harness.dispatcher.drain)
        await self.book_matches_venue(sim, connector, harness)

    # ---- tests: private stream faults and reconciliation -----------------------------------------
    async def test_lost_private_events_are_recovered_by_reconciliation(
        self, sim: SimCluster, account: Account, connector: Any, harness: Harness
    ) -> None:
        # Private events are held far longer than the test: as good as lost.
        self.add_fault(sim, kind=FaultKind.DELAY_PRIVATE, probability=1.0, duration_s=60.0, conn=self.ws_conn)
        req = await self.taking_order(connector, harness, Side.ASK)
        res = await connector.submit(req)
        assert res.outcome is SubmitOutcome.ACCEPTED
        await asyncio.sleep(0.3)
        harness.dispatcher.drain()
        assert not [f for f in harness.recorder.of("fill") if f.client_id == req.client_id], "events were held"
        await connector.reconcile()
        harness.dispatcher.drain()
        order = harness.tracker.get(req.client_id, self.venue)
        assert order is not None and order.state == "filled" and order.filled == req.size
        assert [f for f in harness.recorder.of("fill") if f.client_id == req.client_id]
        positions = await connector.positions()
        assert positions[self.symbol].size == -req.size == self.venue_position(sim, account, self.symbol)

    async def test_rate_limit_429_backs_off_and_succeeds(self, sim: SimCluster, connector: Any,
                                                         harness: Harness) -> None:
        before = self.rate_limited_count(connector)
        self.add_fault(sim, kind=FaultKind.HTTP_429, every=1, max_count=1, retry_after_s=0.0, conn=self.rest_conn)
        t0 = time.monotonic()
        await connector.reconcile()
        assert self.rate_limited_count(connector) == before + 1
        assert time.monotonic() - t0 >= 0.5  # the venue's Retry-After hint was honoured

    async def test_ambiguous_submit_is_unresolved_then_settled_by_query(
        self, sim: SimCluster, account: Account, harness: Harness
    ) -> None:
        conn = await self.start_connector(sim, account, harness, order_timeout_s=0.5, reconcile_interval_s=None)
        try:
            req = await self.resting_order(conn, harness)
            self.add_fault(sim, kind=FaultKind.ACCEPT_TIMEOUT, every=1, max_count=1)
            res = await conn.submit(req)
            assert res.outcome is SubmitOutcome.UNRESOLVED
            assert self.state(harness, req.client_id) != "rejected"  # never a guess
            await conn.reconcile()
            harness.dispatcher.drain()
            order = harness.tracker.get(req.client_id, self.venue)
            assert order.state == "open" and order.order_id
            assert req.client_id in self.venue_open_client_ids(sim, account, self.symbol)
        finally:
            await conn.close()

    async def test_check_orders_finds_what_the_silent_stream_missed(
        self, sim: SimCluster, account: Account, harness: Harness
    ) -> None:
        """The order watch's REST check (`check_orders`): two resting orders, the private stream silent; at the
        venue one is filled by another account's order, one stays open, and an unacknowledged submit the
        venue never had is asked about too. The check reports the fill (tracker, Fill events, position) and
        leaves the open one open and the unknown one unsettled."""
        from xtb.sim.types import OrderRequest as SimOrder
        from xtb.sim.types import Side as SimSide

        conn = await self.start_connector(sim, account, harness, reconcile_interval_s=None)
        try:
            if not hasattr(conn, "check_orders"):
                pytest.skip(f"{self.venue}: no check_orders")
            hit = await self.resting_order(conn, harness, Side.BID)
            kept = await self.resting_order(conn, harness, Side.ASK)
            for r in (hit, kept):
                assert (await conn.submit(r)).outcome is SubmitOutcome.ACCEPTED
            lost = await self.resting_order(conn, harness, Side.BID)
            harness.tracker.submitted(lost.client_id, self.venue, lost.symbol, "bid", lost.price or 0, lost.size)
            harness.tracker.on_unresolved(lost.client_id, self.venue, "connection lost")
            await eventually(lambda: self.state(harness, hit.client_id) == "open", what="acked",
                             pump=harness.dispatcher.drain)
            self.add_fault(sim, kind=FaultKind.DELAY_PRIVATE, probability=1.0, duration_s=60.0, conn=self.ws_conn)
            await sim.stop_generator()
            ex = sim.venues[self.venue].exchange
            market = ex.market_by_symbol(self.symbol).market_id
            snap = ex.book_snapshot(market, 10_000)
            through = sum(lv.size for lv in snap.bids if lv.price >= (hit.price or 0))  # every bid down to ours
            taker = ex.create_account(collateral=10**15)
            ex.place_order(SimOrder(taker, market, SimSide.SELL, through, price=hit.price))
            assert self.venue_position(sim, account, self.symbol) == hit.size
            harness.dispatcher.drain()
            assert self.state(harness, hit.client_id) == "open"  # the stream said nothing
            moved = await conn.check_orders([hit.client_id, kept.client_id, lost.client_id])
            harness.dispatcher.drain()
            assert moved
            order = harness.tracker.get(hit.client_id, self.venue)
            assert order.state == "filled" and order.filled == hit.size
            assert sum(f.sz for f in harness.recorder.of("fill") if f.client_id == hit.client_id) == hit.size
            assert self.state(harness, kept.client_id) == "open"
            assert self.state(harness, lost.client_id) == "unresolved"  # the submit-window rule is not run here
            positions = await conn.positions()
            assert positions[self.symbol].size == hit.size
            assert [p for p in harness.recorder.of("position") if p.size == hit.size]
        finally:
            await conn.close()

    async def test_order_unknown_to_the_venue_is_rejected_only_after_the_submit_window(
        self, sim: SimCluster, account: Account, harness: Harness
    ) -> None:
        conn = await self.start_connector(sim, account, harness, submit_window_s=0.5, reconcile_interval_s=None)
        try:
            req = await self.resting_order(conn, harness)
            # Tracked as sent, but the request never reached the venue (lost before the wire).
            harness.tracker.submitted(req.client_id, self.venue, req.symbol, req.side.value, req.price or 0,
                                      req.size, post_only=True)
            harness.tracker.on_unresolved(req.client_id, self.venue, "connection lost")
            await conn.reconcile()
            assert self.state(harness, req.client_id) == "unresolved"  # inside the window: no verdict
            await asyncio.sleep(0.6)
            await conn.reconcile()
            order = harness.tracker.get(req.client_id, self.venue)
            assert order.state == "rejected" and "reconciliation" in (order.reason or "")
        finally:
            await conn.close()

    async def test_settle_waits_out_the_submit_window_of_an_unresolved_order(
        self, sim: SimCluster, account: Account, harness: Harness
    ) -> None:
        """A stop's settle shorter than the submit window does not end with an order the venue never had
        reported as unresolved: it waits for the window (no longer, and at most its own timeout again), then
        the not-found rule settles it."""
        conn = await self.start_connector(sim, account, harness, submit_window_s=1.5, reconcile_interval_s=None)
        try:
            req = await self.resting_order(conn, harness)
            harness.tracker.submitted(req.client_id, self.venue, req.symbol, req.side.value, req.price or 0,
                                      req.size, post_only=True)
            harness.tracker.on_unresolved(req.client_id, self.venue, "connection lost")
            t0 = time.monotonic()
            report = await conn.settle(timeout_s=1.0, interval_s=0.1)
            waited = time.monotonic() - t0
            assert report.agreed, report
            assert self.state(harness, req.client_id) == "rejected"
            assert 1.4 <= waited < 2.5, waited
        finally:
            await conn.close()

    async def test_settle_rereads_until_bot_and_venue_agree(
        self, sim: SimCluster, account: Account, connector: Any, harness: Harness
    ) -> None:
        resting = await self.resting_order(connector, harness)
        assert (await connector.submit(resting)).outcome is SubmitOutcome.ACCEPTED
        # A fill whose private events are lost: the bot's view is wrong until REST says otherwise.
        self.add_fault(sim, kind=FaultKind.DELAY_PRIVATE, probability=1.0, duration_s=60.0, conn=self.ws_conn)
        taking = await self.taking_order(connector, harness, Side.ASK)
        assert (await connector.submit(taking)).outcome is SubmitOutcome.ACCEPTED
        report = await connector.settle(timeout_s=5.0, interval_s=0.05)
        harness.dispatcher.drain()
        assert report.agreed and report.disagreements == (), report
        assert report.open_orders == (resting.client_id,)
        assert report.positions.get(self.symbol) == -taking.size == self.venue_position(sim, account, self.symbol)
        assert self.state(harness, taking.client_id) == "filled"
        positions = await connector.positions()
        assert positions[self.symbol].size == -taking.size

    async def test_settle_reports_what_still_disagrees(self, sim: SimCluster, account: Account,
                                                       harness: Harness) -> None:
        conn = await self.start_connector(sim, account, harness, submit_window_s=30.0, reconcile_interval_s=None)
        try:
            req = await self.resting_order(conn, harness)
            # Sent as far as we know, never at the venue, still inside the submit window: no verdict yet.
            harness.tracker.submitted(req.client_id, self.venue, req.symbol, req.side.value, req.price or 0,
                                      req.size, post_only=True)
            harness.tracker.on_unresolved(req.client_id, self.venue, "connection lost")
            report = await conn.settle(timeout_s=0.3, interval_s=0.1)
            assert not report.agreed and report.rounds >= 2
            assert any(str(req.client_id) in d for d in report.disagreements), report
            assert self.state(harness, req.client_id) == "unresolved"  # never guessed
        finally:
            await conn.close()

    async def test_restart_adopts_open_orders(self, sim: SimCluster, account: Account) -> None:
        first = Harness.create()
        conn = await self.start_connector(sim, account, first, reconcile_interval_s=None)
        req = await self.resting_order(conn, first)
        assert (await conn.submit(req)).outcome is SubmitOutcome.ACCEPTED
        await conn.close()
        second = Harness.create()
        conn2 = await self.start_connector(sim, account, second, unknown_order_policy="adopt",
                                           reconcile_interval_s=None)
        try:
            adopted = second.tracker.get(req.client_id, self.venue)
            assert adopted is not None and adopted.state == "open" and adopted.px == req.price
            assert [o.client_id for o in conn2.open_orders(self.symbol)] == [req.client_id]
            assert req.client_id in self.venue_open_client_ids(sim, account, self.symbol)
        finally:
            await conn2.close()

    async def test_restart_cancels_unknown_orders_by_policy(self, sim: SimCluster, account: Account) -> None:
        first = Harness.create()
        conn = await self.start_connector(sim, account, first, reconcile_interval_s=None)
        req = await self.resting_order(conn, first)
        assert (await conn.submit(req)).outcome is SubmitOutcome.ACCEPTED
        await conn.close()
        second = Harness.create()
        conn2 = await self.start_connector(sim, account, second, unknown_order_policy="cancel",
                                           reconcile_interval_s=None)
        try:
            assert req.client_id not in self.venue_open_client_ids(sim, account, self.symbol)
            assert not conn2.open_orders(self.symbol)
        finally:
            await conn2.close()

    # ---- tests: security ----------------------------------------------------------------------
    async def test_secret_never_reaches_logs_or_reprs(self, sim: SimCluster, account: Account,
                                                      caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        harness = Harness.create()
        self.add_fault(sim, kind=FaultKind.HTTP_429, every=1, max_count=1, retry_after_s=0.0, conn=self.rest_conn)
        conn = await self.start_connector(sim, account, harness)
        try:
            req = await self.resting_order(conn, harness)
            await conn.submit(req)
            sim.drop_sockets(self.venue)
            await eventually(lambda: conn.book(self.symbol).state == "live", timeout_s=10.0,
                             what="resync after drop", pump=harness.dispatcher.drain)
            await conn.cancel_all(self.symbol)
            texts = [repr(conn), str(conn), repr(getattr(conn, "config", None)), caplog.text]
            texts += [repr(vars(conn))]
        finally:
            await conn.close()
        assert caplog.records, "the run logged something (reconnect, 429)"
        for t in texts:
            assert account.secret not in t
