"""OrderGateway with the real core OrderTracker; the venue side is a recording port (the connectors'
own behaviour is tested against the simulator in tests/venues)."""

import asyncio

import pytest

from xtb._core import OrderTracker
from xtb.engine.gateway import OrderDenied, OrderGateway
from xtb.model.types import OrderRequest, Side, SubmitOutcome, SubmitResult, TimeInForce


class RecordingPort:
    venue = "backpack"
    limiter = None

    def __init__(self, answer="accept", async_prepare=False):
        self.answer = answer
        self.async_prepare = async_prepare
        self.prepared: list = []
        self.sent: list = []
        self.cancels: list = []

    def limit_key(self, op, count):
        return ("orders", count)

    def prepare_submit(self, reqs):
        payload = [("signed", r.client_id) for r in reqs]
        self.prepared.append(payload)
        if self.async_prepare:
            async def later():
                await asyncio.sleep(0)
                return payload
            return later()
        return payload

    async def send_submit(self, prepared):
        self.sent.append(prepared)
        if self.answer == "timeout":
            raise TimeoutError("no response in 10 s")
        if self.answer == "partial":
            return [SubmitResult(prepared[0][1], SubmitOutcome.ACCEPTED, "oid-1")]
        if self.answer == "reject":
            return [SubmitResult(cid, SubmitOutcome.REJECTED, reason="POST_ONLY_TAKER") for _, cid in prepared]
        return [SubmitResult(cid, SubmitOutcome.ACCEPTED, f"oid-{cid}") for _, cid in prepared]

    def prepare_cancel(self, symbol, client_ids):
        return list(client_ids)

    async def send_cancel(self, prepared):
        self.cancels.append(prepared)
        return [SubmitResult(cid, SubmitOutcome.ACCEPTED) for cid in prepared]


def req(cid, px=14125, sz=100, **kw):
    return OrderRequest(client_id=cid, symbol="SOL_USDC_PERP", side=Side.BID, size=sz, price=px, **kw)


async def settle(gw):
    await gw.drain(5)


async def test_submit_acks_and_records_latency():
    trk, port, samples = OrderTracker(), RecordingPort(), []
    gw = OrderGateway({"backpack": port}, trk, on_latency=samples.append)
    ids = gw.submit("backpack", [req(1, post_only=True, tif=TimeInForce.GTC)], trigger_ns=1)
    assert ids == [1]
    assert trk.get(1, "backpack").state == "pending_new"  # tracked before the send
    await settle(gw)
    o = trk.get(1, "backpack")
    assert (o.state, o.order_id, o.post_only) == ("open", "oid-1", True)
    assert samples and samples[0].tick_to_order_ns is not None and samples[0].sent_ns >= samples[0].signed_ns


async def test_timeout_leaves_order_unresolved_not_rejected():
    trk, port = OrderTracker(), RecordingPort("timeout")
    gw = OrderGateway({"backpack": port}, trk)
    gw.submit("backpack", [req(7)])
    await settle(gw)
    assert trk.get(7, "backpack").state == "unresolved"
    assert [o.client_id for o in trk.unresolved()] == [7]
    assert gw.stats.unresolved == 1 and gw.stats.rejected == 0


async def test_batch_answer_missing_an_order_marks_it_unresolved():
    trk, port = OrderTracker(), RecordingPort("partial")
    gw = OrderGateway({"backpack": port}, trk)
    gw.submit("backpack", [req(1), req(2)])
    await settle(gw)
    assert trk.get(1, "backpack").state == "open"
    assert trk.get(2, "backpack").state == "unresolved"


async def test_venue_reject_is_recorded_with_reason():
    trk = OrderTracker()
    gw = OrderGateway({"backpack": RecordingPort("reject")}, trk)
    gw.submit("backpack", [req(3)])
    await settle(gw)
    o = trk.get(3, "backpack")
    assert (o.state, o.reason) == ("rejected", "POST_ONLY_TAKER")


async def test_risk_denial_sends_and_tracks_nothing():
    class NoBigOrders:
        def check(self, venue, r):
            return "single_max" if r.size > 500 else None

    trk, port = OrderTracker(), RecordingPort()
    gw = OrderGateway({"backpack": port}, trk, risk=NoBigOrders())
    with pytest.raises(OrderDenied) as ei:
        gw.submit("backpack", [req(1), req(2, sz=1000)])
    assert ei.value.reason == "single_max"
    assert len(trk) == 0 and port.prepared == [] and gw.stats.denied == {"single_max": 1}


async def test_a_closed_gateway_sends_and_tracks_nothing():
    """After the strategy stopped, a strategy reacting to the stop's cancels and fills opens nothing new."""
    trk, port = OrderTracker(), RecordingPort()
    gw = OrderGateway({"backpack": port}, trk)
    gw.closed = True
    with pytest.raises(OrderDenied) as ei:
        gw.submit("backpack", [req(1)])
    assert ei.value.reason == "stopping"
    assert len(trk) == 0 and port.prepared == [] and gw.stats.denied == {"stopping": 1}


async def test_async_prepare_lighter_style():
    trk, port = OrderTracker(), RecordingPort(async_prepare=True)
    gw = OrderGateway({"backpack": port}, trk)
    gw.submit("backpack", [req(9)])
    await settle(gw)
    assert trk.get(9, "backpack").state == "open" and port.sent == [[("signed", 9)]]


async def test_cancel_path_and_unknown_venue():
    trk, port = OrderTracker(), RecordingPort()
    gw = OrderGateway({"backpack": port}, trk)
    gw.submit("backpack", [req(1)])
    await settle(gw)
    gw.cancel("backpack", "SOL_USDC_PERP", [1])
    assert trk.get(1, "backpack").state == "pending_cancel"
    await settle(gw)
    assert trk.get(1, "backpack").state == "cancelled"
    with pytest.raises(KeyError, match="lighter"):
        gw.submit("lighter", [req(2)])


async def test_rate_limit_within_budget_waits_beyond_budget_is_denied():
    from xtb._core import RateLimiter

    cfg = {
        "pools": {"orders": {"type": "token_bucket", "capacity": 2, "refill": 2, "window_ms": 100}},
        "keys": {"orders": {"orders": 1}},
    }
    trk, port = OrderTracker(), RecordingPort()
    gw = OrderGateway({"backpack": port}, trk, limiters={"backpack": RateLimiter.from_config(cfg)},
                      max_limiter_wait_ns=200_000_000)
    gw.submit("backpack", [req(1), req(2)])  # takes the whole bucket
    gw.submit("backpack", [req(3)])  # the next token is ~50 ms away: within budget, the send waits
    assert trk.get(3, "backpack").state == "pending_new"
    await settle(gw)
    assert trk.get(3, "backpack").state == "open"
    assert gw.stats.limiter_waits == 1

    strict_port = RecordingPort()
    strict = OrderGateway({"backpack": strict_port}, OrderTracker(),
                          limiters={"backpack": RateLimiter.from_config(cfg)},
                          max_limiter_wait_ns=1_000_000)
    strict.submit("backpack", [req(4), req(5)])
    with pytest.raises(OrderDenied, match="rate_limited"):
        strict.submit("backpack", [req(6)])
    assert strict.tracker.get(6, "backpack") is None and len(strict_port.prepared) == 1
    assert strict.stats.denied == {"rate_limited": 1}


async def test_bad_input_raises_before_anything_is_tracked():
    class Picky(RecordingPort):
        def prepare_submit(self, reqs):
            raise ValueError("size 7 is not a positive multiple of the step 10")

    trk = OrderTracker()
    gw = OrderGateway({"backpack": Picky()}, trk)
    with pytest.raises(ValueError, match="step 10"):
        gw.submit("backpack", [req(1, sz=7)])
    assert len(trk) == 0 and gw.stats.submitted == 0


async def test_connector_limiter_is_used_by_default():
    from xtb._core import RateLimiter

    port = RecordingPort()
    port.limiter = RateLimiter.from_config({
        "pools": {"orders": {"type": "token_bucket", "capacity": 1, "refill": 1, "window_ms": 60_000}},
        "keys": {"orders": {"orders": 1}},
    })
    gw = OrderGateway({"backpack": port}, OrderTracker(), max_limiter_wait_ns=1_000_000)
    gw.submit("backpack", [req(1)])
    with pytest.raises(OrderDenied, match="rate_limited"):
        gw.submit("backpack", [req(2)])
    await settle(gw)



async def test_a_batch_that_is_not_sent_books_nothing_in_the_risk_guard():
    """Orders that passed the guard but were never sent (a later order of the batch denied, the rate limit,
    a batch heavier than the limiter's bucket) give back their daily budget and order-rate slots."""
    from xtb._core import RateLimiter
    from xtb.model.types import MarketInfo
    from xtb.risk import RiskGuard

    sol = MarketInfo("backpack", "SOL_USDC_PERP", "SOL", "USDC", 2, 2, 1, 1, 1, 0)
    guard = RiskGuard({"singleMax": 5.0, "dailyMax": 20.0, "maxOrders": 10, "rate_window_s": 60},
                      market=lambda v, s: sol, touch=None, working=None)
    cfg = {"pools": {"orders": {"type": "token_bucket", "capacity": 2, "refill": 2, "window_ms": 1000}},
           "keys": {"orders": {"orders": 1}}}
    trk, port = OrderTracker(), RecordingPort()
    gw = OrderGateway({"backpack": port}, trk, risk=guard, limiters={"backpack": RateLimiter.from_config(cfg)},
                      max_limiter_wait_ns=1_000_000)

    with pytest.raises(OrderDenied, match="single_max"):  # the second order is too big: neither is sent
        gw.submit("backpack", [req(1, sz=100), req(2, sz=600)])
    with pytest.raises(ValueError):  # three orders can never fit a bucket of two
        gw.submit("backpack", [req(3, sz=100), req(4, sz=100), req(5, sz=100)])
    assert guard.status()["risk_sent_today"] in ({}, {"SOL": 0.0})
    assert len(trk) == 0 and port.prepared == []

    gw.submit("backpack", [req(6, sz=500), req(7, sz=500)])  # 10 SOL sent: booked
    with pytest.raises(OrderDenied, match="rate_limited"):  # the bucket is empty: denied, not booked
        gw.submit("backpack", [req(8, sz=500)])
    assert guard.status()["risk_sent_today"] == {"SOL": 10.0}
    assert len(guard._accepted) == 2  # order-rate slots: only the two sent orders
    await settle(gw)


async def test_in_flight_counts_sends_until_they_end_even_a_cancelled_one():
    trk, port = OrderTracker(), RecordingPort()
    gw = OrderGateway({"backpack": port}, trk)
    gw.submit("backpack", [req(1)])
    gw.submit("backpack", [req(2)])
    gw.cancel("backpack", "SOL_USDC_PERP", [1])
    assert gw.in_flight == 3 and port.sent == []  # created in the caller's stack, not yet run
    next(iter(gw._tasks)).cancel()  # cancelled before its first step: its body never runs
    await settle(gw)
    assert gw.in_flight == 0 and gw._tasks == set()
    await asyncio.sleep(0)
    assert len(port.sent) + len(port.cancels) == 2
