"""Drawdown bands, the staged Reducer (each mode) and the kill switch, against fakes."""

from dataclasses import dataclass, field

import pytest

from xtb.config import ConfigError
from xtb.engine.gateway import OrderDenied
from xtb.model.types import MarketInfo, OrderRequest, Side
from xtb.risk import DrawdownBands, Reducer, RiskGuard, TradingState, kill_switch, parse_risk_config

SOL = MarketInfo("backpack", "SOL_USDC_PERP", "SOL", "USDC", 2, 2, 1, 1, 2, 0)
ETH = MarketInfo("lighter", "ETH", "ETH", "USDC", 2, 4, 1, 10, 10, 0)


# --- bands -------------------------------------------------------------------------------------------
def test_each_band_fires_once_on_the_way_down_and_rearms_on_recovery():
    d = DrawdownBands([5, 8, 12], [0.15, 0.25, 0.40], cooldown_s=0)
    assert d.update(-4.9, 0) is None
    r = d.update(-5.0, 1)
    assert (r.band, r.fraction, r.loss) == (0, 0.15, 5.0)
    assert d.update(-6, 2) is None  # same band: once
    assert d.update(-13, 3).band == 2  # straight to the deepest band entered
    assert d.update(-9, 4) is None  # back up into band 1: re-arms band 2
    assert d.update(-12.5, 5).band == 2
    assert d.update(3, 6) is None
    assert d.update(-5, 7).band == 0


def test_cooldown_defers_a_deeper_band_until_it_ends():
    d = DrawdownBands([5, 8], [0.1, 0.2], cooldown_s=120)
    assert d.update(-6, 0).band == 0
    assert d.update(-9, 60) is None
    r = d.update(-9, 120)
    assert r is not None and r.band == 1


@pytest.mark.parametrize("raw, needle", [
    ({"drawdownBands": [5, 8], "reduceFractions": [0.1]}, "same length"),
    ({"drawdownBands": [8, 5], "reduceFractions": [0.1, 0.2]}, "strictly ascending"),
    ({"drawdownBands": [5], "reduceFractions": [1.5]}, "(0, 1]"),
    ({"reduceMode": "yolo"}, "risk.reduceMode"),
])
def test_drawdown_config_errors(raw, needle):
    with pytest.raises(ConfigError) as e:
        parse_risk_config(raw)
    assert needle in str(e.value)


def test_guard_runs_the_bands_from_pnl_and_calls_on_reduce():
    seen = []
    t = [0.0]
    g = RiskGuard({"drawdownBands": [5, 8, 12], "reduceFractions": [0.15, 0.25, 0.4], "reduceCooldownSeconds": 0},
                  market=lambda v, s: SOL, clock=lambda: t[0], on_reduce=seen.append)
    g.on_pnl(100, -4)
    g.on_pnl(100, -8)  # realized profit does not offset: the bands watch the unrealized loss
    assert [r.band for r in seen] == [1] and g.status()["risk_reduce_requests"] == 1
    assert g.state is TradingState.ACTIVE  # a staged reduce is an action, not a state


# --- reducer -----------------------------------------------------------------------------------------
@dataclass
class FakeOrder:
    side: str
    size: int
    post_only: bool
    reduce_only: bool
    price: int | None
    filled: int = 0
    is_terminal: bool = False


@dataclass
class FakeApi:
    maker_fill: float = 0.0  # fraction of a maker order that fills before the cancel
    fill_on_place: bool = False  # maker fills completely at once
    deny: str | None = None
    books: dict = field(default_factory=lambda: {"SOL_USDC_PERP": ((15_000, 9), (15_010, 9)),
                                                 "ETH": ((300_000, 9), (300_100, 9))})
    orders: dict = field(default_factory=dict)
    log: list = field(default_factory=list)

    def market(self, venue, symbol):
        return SOL if symbol == "SOL_USDC_PERP" else ETH

    def best_bid(self, venue, symbol):
        return self.books[symbol][0]

    def best_ask(self, venue, symbol):
        return self.books[symbol][1]

    def _new(self, venue, **kw):
        if self.deny:
            raise OrderDenied(self.deny)
        cid = len(self.orders) + 1
        self.orders[(venue, cid)] = o = FakeOrder(**kw)
        return cid, o

    def place_limit(self, venue, symbol, side, price, size, *, post_only=False, reduce_only=False):
        cid, o = self._new(venue, side=side, size=size, post_only=post_only, reduce_only=reduce_only, price=price)
        self.log.append(("limit", venue, symbol, side, price, size))
        if self.fill_on_place:
            o.filled, o.is_terminal = size, True
        return cid

    def place_market(self, venue, symbol, side, size, *, worst_price=None, reduce_only=False):
        cid, o = self._new(venue, side=side, size=size, post_only=False, reduce_only=reduce_only, price=worst_price)
        self.log.append(("market", venue, symbol, side, worst_price, size))
        o.filled, o.is_terminal = size, True
        return cid

    def order(self, venue, cid):
        return self.orders.get((venue, cid))

    def cancel(self, venue, cid):
        o = self.orders[(venue, cid)]
        o.filled = int(o.size * self.maker_fill)
        o.is_terminal = True
        self.log.append(("cancel", venue, cid))


async def no_sleep(_):
    return None


POSITIONS = {("backpack", "SOL_USDC_PERP"): 100, ("lighter", "ETH"): -2_005, ("backpack", "DUST"): 0}


def test_plan_rounds_down_to_the_step_and_skips_dust():
    api = FakeApi()
    legs = Reducer(api, sleep=no_sleep).plan({("backpack", "SOL_USDC_PERP"): 100, ("lighter", "ETH"): -2_005}, 0.25)
    assert [(leg.venue, leg.side, leg.size) for leg in legs] == [("backpack", "ask", 25), ("lighter", "bid", 500)]
    assert Reducer(api, sleep=no_sleep).plan({("backpack", "SOL_USDC_PERP"): 7}, 0.15) == []  # 1 < min size 2
    with pytest.raises(ValueError, match="fraction"):
        Reducer(api).plan({}, 0)


async def test_taker_mode_sends_reduce_only_market_orders_within_the_slippage():
    api = FakeApi()
    legs = await Reducer(api, mode="taker", max_slippage_pct=0.001, sleep=no_sleep).run(POSITIONS, 0.25)
    assert sorted(api.log) == [("market", "backpack", "SOL_USDC_PERP", "ask", 14_985, 25),
                               ("market", "lighter", "ETH", "bid", 300_400, 500)]
    assert all(o.reduce_only for o in api.orders.values())
    assert [leg.taker_sent for leg in legs] == [25, 500]


async def test_maker_first_fills_as_maker_when_it_can():
    api = FakeApi(fill_on_place=True)
    legs = await Reducer(api, sleep=no_sleep).run(POSITIONS, 0.25)
    assert sorted(api.log) == [("limit", "backpack", "SOL_USDC_PERP", "ask", 15_010, 25),
                               ("limit", "lighter", "ETH", "bid", 300_000, 500)]
    assert all(o.post_only and o.reduce_only for o in api.orders.values())
    assert [(leg.maker_filled, leg.taker_sent) for leg in legs] == [(25, 0), (500, 0)]


async def test_maker_first_then_taker_finishes_the_remainder_after_the_wait():
    api = FakeApi(maker_fill=0.4)
    legs = await Reducer(api, maker_wait_s=0.2, poll_s=0.05, sleep=no_sleep).run(
        {("backpack", "SOL_USDC_PERP"): 100}, 0.25)
    kinds = [e[0] for e in api.log]
    assert kinds == ["limit", "cancel", "market"]
    assert (legs[0].maker_filled, legs[0].taker_sent) == (10, 15)
    assert api.log[-1][-1] == 15


async def test_maker_mode_never_takes():
    api = FakeApi(maker_fill=0.0)
    legs = await Reducer(api, mode="maker", maker_wait_s=0.1, sleep=no_sleep).run(
        {("backpack", "SOL_USDC_PERP"): 100}, 0.5)
    assert [e[0] for e in api.log] == ["limit", "cancel"] and legs[0].taker_sent == 0


async def test_a_denied_leg_is_reported_and_does_not_stop_the_others():
    api = FakeApi(deny="halted")
    legs = await Reducer(api, mode="taker", sleep=no_sleep).run(POSITIONS, 0.5)
    assert [leg.error for leg in legs] == ["denied: halted", "denied: halted"]
    with pytest.raises(ValueError, match="reduce mode"):
        Reducer(api, mode="panic")  # type: ignore[arg-type]


# --- kill switch -------------------------------------------------------------------------------------
class FakeEngine:
    def __init__(self, guard):
        self.guard = guard
        self.calls = []

    async def cancel_all(self):
        self.calls.append(("cancel_all", self.guard.state))

    async def flatten(self):
        self.calls.append(("flatten", self.guard.state))
        return {"backpack": {}}


async def test_kill_switch_halts_first_then_cancels_and_flattens():
    g = RiskGuard({"haltSeconds": 1}, market=lambda v, s: SOL)
    eng = FakeEngine(g)
    left = await kill_switch(g, eng, "operator panic")
    assert eng.calls == [("cancel_all", TradingState.HALTED), ("flatten", TradingState.HALTED)]
    assert left == {"backpack": {}}
    st = g.status()
    assert st["risk_reason"] == "kill switch: operator panic" and st["risk_until"] is None
    assert g.check("backpack", OrderRequest(1, "SOL_USDC_PERP", Side.ASK, 5, reduce_only=True)) == "halted"
    eng2 = FakeEngine(RiskGuard({}, market=lambda v, s: SOL))
    assert await kill_switch(eng2.guard, eng2, "x", flatten=False) is None
    assert [c[0] for c in eng2.calls] == ["cancel_all"]
