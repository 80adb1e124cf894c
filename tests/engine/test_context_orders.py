"""StrategyContext's order builders: what reaches the gateway (the gateway itself is tested elsewhere)."""

import itertools

import pytest

from xtb._core import EventRing, OrderUpdate
from xtb.engine.context import Positions, StrategyContext
from xtb.engine.dispatcher import Dispatcher
from xtb.model.types import OrderKind, Side, TimeInForce


class RecordingGateway:
    def __init__(self):
        self.calls: list = []

    def submit(self, venue, reqs, trigger_ns=None):
        self.calls.append((venue, list(reqs), trigger_ns))
        return [r.client_id for r in reqs]


def context(dispatcher=None):
    gw = RecordingGateway()
    ids = itertools.count(100)

    class Ids:
        def next(self):
            return next(ids)

    ctx = StrategyContext("t", connectors={}, gateway=gw, tracker=None, id_allocators={"backpack": Ids()},
                          positions=Positions(), dispatcher=dispatcher)
    return ctx, gw


def test_place_limit_builds_the_request_from_strings_or_members():
    ctx, gw = context()
    assert ctx.place_limit("backpack", "SOL_USDC_PERP", "bid", 14100, 5) == 100
    assert ctx.place_limit("backpack", "SOL_USDC_PERP", Side.ASK, 14200, 6, post_only=True, reduce_only=True,
                           tif="ioc") == 101
    (_, [a], trig_a), (_, [b], _) = gw.calls
    assert trig_a is None  # outside a dispatcher callback
    assert (a.client_id, a.symbol, a.side, a.size, a.kind, a.price, a.tif, a.post_only, a.reduce_only) == \
        (100, "SOL_USDC_PERP", Side.BID, 5, OrderKind.LIMIT, 14100, TimeInForce.GTC, False, False)
    assert type(a.side) is Side and type(a.tif) is TimeInForce and type(b.tif) is TimeInForce
    assert (b.side, b.tif, b.post_only, b.reduce_only) == (Side.ASK, TimeInForce.IOC, True, True)


def test_place_market_and_bad_values():
    ctx, gw = context()
    ctx.place_market("backpack", "SOL_USDC_PERP", "ask", 7, worst_price=13000, reduce_only=True)
    [r] = gw.calls[0][1]
    assert (r.side, r.kind, r.tif, r.price, r.reduce_only) == (Side.ASK, OrderKind.MARKET, TimeInForce.IOC, 13000, True)
    with pytest.raises(ValueError, match="buy"):
        ctx.place_limit("backpack", "SOL_USDC_PERP", "buy", 1, 1)
    with pytest.raises(ValueError, match="gtd"):
        ctx.place_limit("backpack", "SOL_USDC_PERP", "bid", 1, 1, tif="gtd")
    with pytest.raises(KeyError):
        ctx.place_limit("lighter", "SOL", "bid", 1, 1)
    assert len(gw.calls) == 1


def test_orders_placed_from_a_callback_carry_the_frame_time():
    ring = EventRing(16)
    d = Dispatcher(ring)
    ctx, gw = context(d)

    class Placer:
        def on_order(self, ev):
            assert ctx.trigger_ns == ev.recv_ns
            ctx.place_limit("backpack", "SOL_USDC_PERP", "bid", 1, 1)

    d.add_listener(Placer())
    ring.push(OrderUpdate("backpack", 1, "open", recv_ns=4242))
    assert d.drain() == 1
    assert gw.calls[0][2] == 4242 and ctx.trigger_ns is None and d.current_recv_ns is None
