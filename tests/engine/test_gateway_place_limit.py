"""OrderGateway.place_limit through Backpack's core order entry (one core call: the connector's checks, the
client id, the rate limit, the signature, the tracker): the same request, rules and outcomes as `submit`
through the connector's prepare path. The connector is real but not started; its send is replaced here."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import VerifyKey

from xtb import _core
from xtb.engine.gateway import OrderDenied, OrderGateway
from xtb.model.types import MarketInfo, OrderRequest, Side, SubmitOutcome, SubmitResult, TimeInForce
from xtb.orders.client_ids import ClientIdAllocator
from xtb.venues.backpack import BackpackConfig, BackpackConnector

SEED = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="  # the venue notes' test seed (0x01..0x20)
PUB = "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ="
SYM = "SOL_USDC_PERP"
MARKETS = [{"symbol": SYM, "baseSymbol": "SOL", "quoteSymbol": "USDC", "marketType": "PERP",
            "filters": {"price": {"tickSize": "0.01"}, "quantity": {"stepSize": "0.01", "minQuantity": "0.01"}}}]
BUCKET_OF_2 = {"pools": {"order": {"type": "token_bucket", "capacity": 2, "refill": 2, "window_ms": 100}},
               "keys": {"order": {"order": 1}}}

UINT32 = (1, 2**32 - 1)  # Backpack clientId


class Port(BackpackConnector):
    """The real connector; its send records the request and answers as told."""

    def __init__(self, answer: str = "accept", **kw: Any) -> None:
        super().__init__(BackpackConfig(nonce_pool=0), PUB, SEED, **kw)
        self.load_markets(MARKETS)
        self.answer = answer
        self.sent: list[Any] = []

    async def send_submit(self, prepared: Any) -> list[SubmitResult]:
        self.sent.append(prepared)
        if self.answer == "timeout":
            raise TimeoutError("no response in 5 s")
        return [SubmitResult(c, SubmitOutcome.ACCEPTED, venue_order_id=f"oid-{c}") for c in prepared.client_ids]


def gateway(tmp_path: Path, answer: str = "accept", **kw: Any) -> tuple[OrderGateway, Port, ClientIdAllocator]:
    ring = _core.EventRing(1 << 10)
    trk = _core.OrderTracker(ring)
    port = Port(answer, ring=ring, tracker=trk)
    gw = OrderGateway({"backpack": port}, trk, **kw)
    return gw, port, ClientIdAllocator.for_venue(tmp_path, "backpack", "test", block=8, id_range=UINT32)


def verified_body(prepared: Any) -> dict[str, Any]:
    """The body's order, after checking the signature over the instruction string the venue rebuilds."""
    params = orjson.loads(prepared.body)
    items = "&".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in sorted(params.items()))
    h = prepared.headers
    msg = f"instruction=orderExecute&{items}&timestamp={h['X-Timestamp']}&window={h['X-Window']}"
    VerifyKey(base64.b64decode(h["X-API-Key"])).verify(msg.encode(), base64.b64decode(h["X-Signature"]))
    return params  # type: ignore[no-any-return]


async def test_one_call_order_is_the_prepare_path_request_and_is_tracked(tmp_path: Path) -> None:
    samples: list[Any] = []
    gw, port, ids = gateway(tmp_path, on_latency=samples.append)
    cids = [gw.place_limit("backpack", ids, SYM, "bid", 14100, 1200, True, False, "gtc", trigger_ns=1),
            gw.place_limit("backpack", ids, SYM, Side.ASK, 14101, 1, False, True, TimeInForce.IOC)]
    assert gw._lanes["backpack"] is not None  # the core order entry, not the OrderRequest path
    assert [gw.tracker.get(c, "backpack").state for c in cids] == ["pending_new"] * 2  # tracked before the send
    assert cids[1] == cids[0] + 1 and ids.high_water_mark() > cids[1]  # from a reserved block
    await gw.drain(5)
    assert [gw.tracker.get(c, "backpack").state for c in cids] == ["open"] * 2
    o = gw.tracker.get(cids[0], "backpack")
    assert (o.side, o.px, o.sz, o.post_only, o.reduce_only, o.time_in_force) == ("bid", 14100, 1200, True, False, "GTC")
    for prepared, (cid, side, px, sz, tif, post, reduce) in zip(port.sent, [
            (cids[0], Side.BID, 14100, 1200, TimeInForce.GTC, True, False),
            (cids[1], Side.ASK, 14101, 1, TimeInForce.IOC, False, True)], strict=True):
        general = port.prepare_submit([OrderRequest(cid, SYM, side, sz, price=px, tif=tif, post_only=post,
                                                    reduce_only=reduce)])
        assert (prepared.path, prepared.client_ids) == ("/api/v1/order", (cid,))
        assert verified_body(prepared) == verified_body(general)
        assert prepared.headers.keys() == general.headers.keys()
    assert gw.stats.submitted == gw.stats.acked == 2
    assert samples[0].tick_to_order_ns is not None and samples[0].client_ids == (cids[0],)


async def test_no_answer_leaves_the_order_unresolved(tmp_path: Path) -> None:
    gw, port, ids = gateway(tmp_path, "timeout")
    cid = gw.place_limit("backpack", ids, SYM, "bid", 14100, 100)
    await gw.drain(5)
    assert gw.tracker.get(cid, "backpack").state == "unresolved" and gw.stats.unresolved == 1 and port.sent


async def test_bad_input_raises_and_leaves_nothing_tracked_or_limited(tmp_path: Path) -> None:
    limiter = _core.RateLimiter.from_config(BUCKET_OF_2)
    gw, port, ids = gateway(tmp_path, limiters={"backpack": limiter})
    for args, match in [((SYM, "bid", 14100, -7), "step 1"), ((SYM, "bid", 14100.5, 100), "int"),
                        ((SYM, "bid", 0, 100), "tick"), (("NOPE", "bid", 100, 100), "unknown symbol 'NOPE'"),
                        ((SYM, "buy", 100, 100), "side"), ((SYM, "bid", 100, 0), "step")]:
        with pytest.raises((ValueError, TypeError), match=match):
            gw.place_limit("backpack", ids, *args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="time_in_force"):
        gw.place_limit("backpack", ids, SYM, "bid", 100, 100, tif="gtd")
    assert len(gw.tracker) == 0 and gw.stats.submitted == 0 and gw.in_flight == 0
    assert limiter.available("order") == 2  # checked before the rate limit: no slot taken
    with pytest.raises(KeyError, match="no connector for venue 'lighter'"):
        gw.place_limit("lighter", ids, "ETH", "bid", 1, 1)


async def test_rate_limit_within_budget_waits_beyond_it_is_denied(tmp_path: Path) -> None:
    gw, port, ids = gateway(tmp_path, limiters={"backpack": _core.RateLimiter.from_config(BUCKET_OF_2)},
                            max_limiter_wait_ns=200_000_000)
    a, b = (gw.place_limit("backpack", ids, SYM, "bid", 14100, 100) for _ in range(2))
    c = gw.place_limit("backpack", ids, SYM, "bid", 14100, 100)  # next token ~50 ms away: the send waits
    assert gw.stats.limiter_waits == 1 and gw.tracker.get(c, "backpack").state == "pending_new"
    await gw.drain(5)
    assert [gw.tracker.get(x, "backpack").state for x in (a, b, c)] == ["open"] * 3

    strict_limiter = _core.RateLimiter.from_config(BUCKET_OF_2)
    strict, sport, sids = gateway(tmp_path / "strict", limiters={"backpack": strict_limiter},
                                  max_limiter_wait_ns=1_000_000)
    strict.place_limit("backpack", sids, SYM, "bid", 14100, 100)
    strict.place_limit("backpack", sids, SYM, "bid", 14100, 100)
    with pytest.raises(OrderDenied, match="rate_limited"):
        strict.place_limit("backpack", sids, SYM, "bid", 14100, 100)
    assert len(strict.tracker) == 2 and strict.stats.denied == {"rate_limited": 1} and strict.stats.submitted == 2
    await strict.drain(5)
    assert len(sport.sent) == 2


async def test_risk_check_sees_the_order_and_a_denied_send_books_nothing(tmp_path: Path) -> None:
    from xtb.risk import RiskGuard

    sol = MarketInfo("backpack", SYM, "SOL", "USDC", 2, 2, 1, 1, 1, 0)
    guard = RiskGuard({"singleMax": 5.0, "dailyMax": 20.0, "maxOrders": 10, "rate_window_s": 60},
                      market=lambda v, s: sol, touch=None, working=None)
    gw, port, ids = gateway(tmp_path, risk=guard, limiters={"backpack": _core.RateLimiter.from_config(BUCKET_OF_2)},
                            max_limiter_wait_ns=1_000_000)
    with pytest.raises(OrderDenied, match="single_max"):
        gw.place_limit("backpack", ids, SYM, "bid", 14100, 600)
    with pytest.raises(ValueError, match="tick"):  # allowed by the guard, refused by the checks: not booked
        gw.place_limit("backpack", ids, SYM, "bid", 0, 100)
    assert len(gw.tracker) == 0 and guard.status()["risk_sent_today"] in ({}, {"SOL": 0.0})
    gw.place_limit("backpack", ids, SYM, "bid", 14100, 500)
    gw.place_limit("backpack", ids, SYM, "bid", 14100, 500)
    with pytest.raises(OrderDenied, match="rate_limited"):  # the bucket is empty: denied, not booked
        gw.place_limit("backpack", ids, SYM, "bid", 14100, 500)
    assert guard.status()["risk_sent_today"] == {"SOL": 10.0} and len(guard._accepted) == 2
    await gw.drain(5)
    assert gw.stats.acked == 2


async def test_closed_gateway_and_ports_without_an_order_entry(tmp_path: Path) -> None:
    gw, port, ids = gateway(tmp_path)
    gw.closed = True
    with pytest.raises(OrderDenied, match="stopping"):
        gw.place_limit("backpack", ids, SYM, "bid", 14100, 100)
    assert len(gw.tracker) == 0

    class Counter:  # an allocator without blocks: its ids are used one by one
        n = 500

        def next(self) -> int:
            self.n += 1
            return self.n

    gw2, port2, ids2 = gateway(tmp_path / "b")
    assert gw2.place_limit("backpack", Counter(), SYM, "bid", 14100, 100) == 501
    first = gw2.place_limit("backpack", ids2, SYM, "bid", 14100, 100)  # the entry binds this allocator's blocks
    other = ClientIdAllocator.for_venue(tmp_path / "b", "backpack", "test", block=8, id_range=UINT32)
    assert gw2.place_limit("backpack", other, SYM, "bid", 14100, 100) not in (first, first + 1)  # its own next()
    assert gw2.place_limit("backpack", ids2, SYM, "bid", 14100, 100) == first + 1  # the bound block continues

    class NoEntry(Port):
        order_entry = None  # type: ignore[assignment]

    port3 = NoEntry()
    gw3 = OrderGateway({"backpack": port3}, port3.tracker)
    assert gw3.place_limit("backpack", Counter(), SYM, "ask", 14100, 100) == 501  # through submit
    assert gw3._lanes["backpack"] is None and gw3.tracker.get(501, "backpack").side == "ask"
    await gw2.drain(5)
    await gw3.drain(5)
    assert gw2.stats.acked == 4 and gw3.stats.acked == 1


def test_core_entry_refuses_bad_id_blocks_and_unknown_limiter_keys() -> None:
    port = Port()
    entry = port.order_entry(port.tracker, None)
    with pytest.raises(ValueError, match="no id source"):
        entry.limit(SYM, "bid", 14100, 100, "gtc", False, False, 0, 0)
    entry.set_id_source(lambda: (0, 10))
    with pytest.raises(ValueError, match="1 <= start < end <= 2\\^32"):
        entry.next_client_id()
    entry.set_id_source(lambda: (2**32 - 1, 2**32))
    assert entry.next_client_id() == 2**32 - 1
    with pytest.raises(ValueError, match="uint32"):
        entry.limit(SYM, "bid", 14100, 100, "gtc", False, False, 0, 0, 2**32)
    with pytest.raises(KeyError, match="nope"):
        _core.BackpackOrderEntry(port._signer, port.tracker, _core.RateLimiter.from_config(BUCKET_OF_2), "nope")
    assert port.order_entry(object(), None) is None  # not the core tracker: the gateway uses submit


@settings(max_examples=150, deadline=None)
@given(side=st.sampled_from(["bid", "ask"]), px=st.integers(-5, 10**9), sz=st.integers(-5, 10**7),
       tif=st.sampled_from(["gtc", "ioc", "fok"]), post=st.booleans(), reduce=st.booleans(),
       cid=st.integers(1, 2**32 + 5))
def test_core_entry_agrees_with_the_connector_prepare_path(side: str, px: int, sz: int, tif: str, post: bool,
                                                           reduce: bool, cid: int) -> None:
    """For any order: both paths refuse it, or both produce the same signed body."""
    port = Port()
    entry = port.order_entry(port.tracker, None)
    req = OrderRequest(cid, SYM, Side(side), sz, price=px, tif=TimeInForce(tif), post_only=post, reduce_only=reduce)
    try:
        general = port.prepare_submit([req])
    except ValueError:
        general = None
    try:
        _, wait, signed = entry.limit(SYM, side, px, sz, tif, post, reduce, 0, 0, cid)
    except ValueError:
        signed = None
    assert (general is None) == (signed is None)
    if general is not None:
        assert wait == 0 and port.tracker.get(cid, "backpack").state == "pending_new"
        assert verified_body(port.prepared_order(signed)) == verified_body(general)


def test_take_block_and_next_never_repeat_an_id(tmp_path: Path) -> None:
    seen: list[int] = []
    a = ClientIdAllocator.for_venue(tmp_path, "backpack", "x", block=4, id_range=UINT32)
    for i in range(12):
        if i % 3:
            seen.append(a.next())
        else:
            start, end = a.take_block()
            seen.extend(range(start, end))
    b = ClientIdAllocator.for_venue(tmp_path, "backpack", "x", block=4, id_range=UINT32)  # a restart
    start, end = b.take_block()
    seen.extend(range(start, end))
    assert len(seen) == len(set(seen)) and min(seen) >= 1
