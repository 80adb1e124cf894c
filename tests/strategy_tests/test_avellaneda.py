"""Avellaneda-Stoikov: the closed-form quotes (AS and GLFT), the volatility estimator, the quote policy with a
scripted context, and the strategy in paper mode skewing its quotes after a fill."""

from __future__ import annotations

import logging
import math
import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paper_helpers import quiet_engine, wait_for

from strategies.avellaneda import Avellaneda, AvellanedaParams, model_quotes, target_prices, time_left
from xtb.config import validate
from xtb.engine.registry import get_strategy
from xtb.model.types import MarketInfo, Side
from xtb.quant.avellaneda import (
    MidVolatility,
    Quotes,
    as_quotes,
    glft_inventory_coefficient,
    glft_quotes,
    optimal_spread,
    reservation_price,
)
from xtb.sim.sweep import sweep

SOL = MarketInfo(venue="backpack", symbol="SOL_USDC_PERP", base="SOL", quote="USDC", price_decimals=2,
                 size_decimals=2, tick=1, step=1, min_size=1, min_notional=0)

pos_float = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)


# --- closed forms ---------------------------------------------------------------------------------------
def test_reservation_and_spread_match_the_paper():
    assert reservation_price(100.0, 2.0, 0.5, 0.2, 10.0) == pytest.approx(100.0 - 2 * 0.5 * 0.04 * 10)
    assert optimal_spread(0.5, 0.2, 10.0, 1.5) == pytest.approx(0.5 * 0.04 * 10 + 4 * math.log(1 + 0.5 / 1.5))
    q = as_quotes(100.0, 0.0, gamma=0.5, sigma=0.2, tau=10.0, k=1.5)
    assert q.ask - q.bid == pytest.approx(q.spread) and (q.bid + q.ask) / 2 == pytest.approx(100.0)


@settings(max_examples=200, deadline=None)
@given(sigma=pos_float, d_sigma=pos_float, gamma=pos_float, tau=pos_float, k=pos_float)
def test_spread_grows_with_volatility(sigma, d_sigma, gamma, tau, k):
    assert optimal_spread(gamma, sigma + d_sigma, tau, k) >= optimal_spread(gamma, sigma, tau, k)


@settings(max_examples=200, deadline=None)
@given(gamma=pos_float, d_gamma=pos_float, sigma=pos_float, tau=pos_float, q=st.floats(-100, 100))
def test_inventory_term_grows_with_risk_aversion(gamma, d_gamma, sigma, tau, q):
    # |r - s| = |q| gamma sigma^2 tau; the spread's liquidity term (2/gamma) ln(1 + gamma/k) falls with gamma,
    # so the spread itself is not monotone in gamma: only the inventory penalty is.
    shift = abs(reservation_price(0.0, q, gamma, sigma, tau))
    assert abs(reservation_price(0.0, q, gamma + d_gamma, sigma, tau)) >= shift


@settings(max_examples=200, deadline=None)
@given(q=st.floats(-100, 100).filter(lambda v: abs(v) > 1e-6), gamma=pos_float, sigma=pos_float, tau=pos_float,
       k=pos_float)
def test_skew_is_opposite_the_inventory(q, gamma, sigma, tau, k):
    quotes = as_quotes(0.0, q, gamma=gamma, sigma=sigma, tau=tau, k=k)  # mid 0: no float absorption
    flat = as_quotes(0.0, 0.0, gamma=gamma, sigma=sigma, tau=tau, k=k)
    assert math.copysign(1, quotes.reservation) == -math.copysign(1, q)
    # both quotes move with the reservation price (exactly its shift, up to float rounding of the spread)
    tol = 1e-12 * (abs(flat.spread) + abs(quotes.reservation))
    assert quotes.bid - flat.bid == pytest.approx(quotes.reservation, abs=tol)
    assert quotes.ask - flat.ask == pytest.approx(quotes.reservation, abs=tol)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="gamma"):
        optimal_spread(0.0, 0.1, 1.0, 1.0)
    with pytest.raises(ValueError, match="k must"):
        as_quotes(1.0, 0.0, gamma=1.0, sigma=0.1, tau=1.0, k=-1.0)
    with pytest.raises(ValueError, match="sigma"):
        reservation_price(1.0, 0.0, 1.0, float("nan"), 1.0)


# --- GLFT -------------------------------------------------------------------------------------------------
def test_glft_coefficient_by_hand():
    gamma, sigma, k, a = 0.1, 0.3, 1.5, 2.0
    c = math.sqrt(sigma**2 * gamma / (2 * k * a) * (1 + gamma / k) ** (1 + k / gamma))
    assert glft_inventory_coefficient(gamma=gamma, sigma=sigma, k=k, a=a) == pytest.approx(c)
    q = glft_quotes(100.0, 1.0, gamma=gamma, sigma=sigma, k=k, a=a, max_inventory_lots=5)
    base = math.log(1 + gamma / k) / gamma
    assert q.bid == pytest.approx(100.0 - (base + 1.5 * c))
    assert q.ask == pytest.approx(100.0 + (base - 0.5 * c))


@settings(max_examples=200, deadline=None)
@given(q=st.floats(-50, 50), max_q=st.floats(0.5, 20), gamma=pos_float, sigma=st.floats(1e-3, 10), k=pos_float,
       a=pos_float)
def test_glft_quotes_respect_the_inventory_bound(q, max_q, gamma, sigma, k, a):
    quotes = glft_quotes(0.0, q, gamma=gamma, sigma=sigma, k=k, a=a, max_inventory_lots=max_q)  # mid 0: exact
    c = glft_inventory_coefficient(gamma=gamma, sigma=sigma, k=k, a=a)
    assert (quotes.bid is None) == (q >= max_q)  # full long: no more buying
    assert (quotes.ask is None) == (q <= -max_q)  # full short: no more selling
    assert abs(quotes.reservation) <= max_q * c * (1 + 1e-9)  # the skew is bounded by Q c
    flat = glft_quotes(0.0, 0.0, gamma=gamma, sigma=sigma, k=k, a=a, max_inventory_lots=max_q)
    assert quotes.spread == pytest.approx(flat.spread)  # the spread does not depend on q
    if q > 1e-9 and quotes.ask is not None and flat.ask is not None:
        assert quotes.ask < flat.ask  # long: the ask comes down to sell


def test_strategy_model_switch_uses_lots_for_glft():
    p = AvellanedaParams(model="glft", order_size=Decimal("0.5"), max_position=Decimal("2"), gamma=0.1, k=1.5,
                         intensity_a=2.0)
    got = model_quotes(p, 100.0, 1.0, 0.3, 30.0)  # 1.0 base = 2 lots of 0.5; the horizon plays no part
    assert got == glft_quotes(100.0, 2.0, gamma=0.1, sigma=0.3, k=1.5, a=2.0, max_inventory_lots=4.0)
    assert model_quotes(p, 100.0, 2.0, 0.3, 30.0).bid is None  # at the bound: no bid
    p_as = AvellanedaParams(gamma=0.1, k=1.5)
    assert model_quotes(p_as, 100.0, 1.0, 0.3, 30.0) == as_quotes(100.0, 1.0, gamma=0.1, sigma=0.3, tau=30.0, k=1.5)


# --- volatility ----------------------------------------------------------------------------------------
def test_volatility_recovers_a_known_brownian_sigma():
    rng = random.Random(7)
    vol = MidVolatility(window_s=1e9, min_samples=10)
    assert vol.sigma() is None
    mid, t, sigma = 100.0, 0.0, 0.05
    for _ in range(20_000):
        dt = rng.uniform(0.05, 0.15)  # irregular sampling
        t += dt
        mid += sigma * math.sqrt(dt) * rng.gauss(0, 1)
        vol.add(t, mid)
    est = vol.sigma()
    assert est is not None and est == pytest.approx(sigma, rel=0.05)


def test_volatility_window_drops_old_samples_and_rejects_time_travel():
    vol = MidVolatility(window_s=10, min_samples=2)
    for i in range(5):
        vol.add(float(i), 100.0 + (5.0 if i % 2 else 0.0))  # violent, then ...
    for i in range(5, 40):
        vol.add(float(i), 100.0)  # ... calm long enough for the violence to leave the window
    assert vol.sigma() == 0.0 and len(vol) <= 12
    with pytest.raises(ValueError, match="backwards"):
        vol.add(1.0, 100.0)


# --- venue prices ----------------------------------------------------------------------------------------
def test_targets_round_outward_stay_post_only_and_respect_the_cap():
    q = Quotes(bid=149.994, ask=150.001, reservation=150.0, spread=0.007)
    bid, ask = target_prices(SOL, q, 0.0, 1.0, 1, (14_990, 15_010))
    assert (bid, ask) == (14_999, 15_001)  # bid rounded down, ask up
    bid, ask = target_prices(SOL, Quotes(151.0, 152.0, 151.5, 1.0), 0.0, 1.0, 1, (15_000, 15_002))
    assert bid == 15_001  # a bid through the best ask would cross: one tick under it instead
    assert target_prices(SOL, q, 1.0, 1.0, 1, (14_990, 15_010))[0] is None  # at the cap: no bid
    assert target_prices(SOL, q, -1.0, 1.0, 1, (14_990, 15_010))[1] is None
    assert target_prices(SOL, Quotes(150.0, 150.0, 150.0, 0.0), 0.0, 1.0, 3, (14_990, 15_010)) == (15_000, 15_003)


def test_time_left_restarts_every_session():
    assert time_left(0.0, 60) == 60 and time_left(59.5, 60) == pytest.approx(0.5) and time_left(61, 60) == 59


def test_params_are_validated_and_listed():
    with pytest.raises(ValueError, match="exceeds max_position"):
        AvellanedaParams(order_size=Decimal(2), max_position=Decimal(1))
    with pytest.raises(ValueError, match=r"strategy\.params\.gama: unknown parameter"):
        get_strategy("avellaneda").parse_params({"gama": 1})
    assert "requote_ticks" in get_strategy("avellaneda").params.model_fields


# --- the quote policy with a scripted context ----------------------------------------------------------------
class Order:
    def __init__(self, cid: int, side: str, px: int, sz: int) -> None:
        self.client_id, self.side, self.px, self.sz = cid, side, px, sz
        self.state, self.reduce_only, self.is_terminal = "open", False, False


class ScriptedContext:
    def __init__(self) -> None:
        self.log = logging.getLogger("test.avellaneda")
        from xtb.engine.clock import EventClock

        self.clock = EventClock(1_750_000_000 * 10**9)  # the strategy's time: moves only when the test says
        self.top = ((15_000, 100), (15_002, 100))
        self.pos = 0
        self.orders: dict[int, Order] = {}
        self.actions: list[tuple[str, int]] = []
        self.gauges: dict[str, float] = {}
        self._cid = 0

    def market(self, venue: str, symbol: str) -> MarketInfo:
        return SOL

    def best_bid(self, venue: str, symbol: str) -> Any:
        return self.top[0]

    def best_ask(self, venue: str, symbol: str) -> Any:
        return self.top[1]

    def position(self, venue: str, symbol: str) -> int:
        return self.pos

    def open_orders(self, venue: str, symbol: str) -> list[Order]:
        return [o for _, o in sorted(self.orders.items()) if o.state in ("open", "pending_cancel")]

    def place_limit(self, venue: str, symbol: str, side: Any, price: int, size: int, **kw: Any) -> int:
        assert kw.get("post_only") is True
        self._cid += 1
        self.orders[self._cid] = Order(self._cid, Side(side).value, price, size)
        self.actions.append(("place", self._cid))
        return self._cid

    def cancel(self, venue: str, cid: int) -> None:
        self.orders[cid].state = "pending_cancel"
        self.actions.append(("cancel", cid))

    def gauge(self, name: str, value: float, **labels: str) -> None:
        self.gauges[name + (f"{{{labels['side']}}}" if "side" in labels else "")] = value

    def record(self, table: str, **fields: Any) -> None:
        pass


async def test_requote_places_new_before_cancelling_old_and_caps_two_per_side():
    ctx = ScriptedContext()
    params = AvellanedaParams(order_size=Decimal("0.1"), sigma=0.05, gamma=2.0, k=10.0, horizon_s=600,
                              requote_ticks=2, max_orders_per_side=2, min_spread_ticks=1)
    strat = Avellaneda(ctx, params)
    await strat.on_start()
    await strat.on_tick(0)
    first = dict(ctx.orders)
    assert [o.side for o in first.values()] == ["bid", "ask"] and ctx.actions == [("place", 1), ("place", 2)]
    await strat.on_tick(0)  # nothing moved: both quotes kept
    assert len(ctx.actions) == 2 and strat.stats["kept"] == 2
    ctx.top = ((15_001, 100), (15_003, 100))  # one tick: inside the threshold
    await strat.on_tick(0)
    assert len(ctx.actions) == 2
    ctx.top = ((15_010, 100), (15_012, 100))  # ten ticks: re-quote, the new order first
    await strat.on_tick(0)
    assert ctx.actions[2:] == [("place", 3), ("cancel", 1), ("place", 4), ("cancel", 2)]
    ctx.top = ((15_030, 100), (15_032, 100))  # the old ones are still cancelling: the cap holds at two
    await strat.on_tick(0)
    per_side = {s: sum(o.side == s for o in ctx.open_orders("", "")) for s in ("bid", "ask")}
    assert per_side == {"bid": 2, "ask": 2}
    for name in ("mm_reservation_price", "mm_inventory_skew_bps", "mm_spread_gauge", "mm_sigma", "mm_adaptive_netmax"):
        assert name in ctx.gauges
    # position and open orders are telemetry's gauges (from events, base units): the strategy leaves them alone
    assert "mm_position" not in ctx.gauges and not any(k.startswith("mm_active_orders") for k in ctx.gauges)
    ctx.pos = 100  # long 1 SOL = max_position: the bid side is pulled
    for o in ctx.orders.values():
        o.state = "cancelled" if o.state == "pending_cancel" else o.state
    await strat.on_tick(0)
    assert not [o for o in ctx.open_orders("", "") if o.side == "bid" and o.state == "open"]
    assert ctx.gauges["mm_inventory_skew_bps"] < 0


# --- paper mode -------------------------------------------------------------------------------------------
def paper_config(tmp_path: Any, **params: Any) -> Any:
    base = {"venue": "backpack", "symbol": "SOL_USDC_PERP", "order_size": "0.5", "gamma": 2.0, "k": 10.0,
            "sigma": 0.05, "horizon_s": 60, "max_position": "2", "requote_ticks": 1, "min_spread_ticks": 1}
    base.update(params)
    return validate({
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 21, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {"backpack": {"symbols": ["SOL_USDC_PERP"]}},
        "strategy": {"name": "avellaneda", "params": base},
    })


async def test_paper_quotes_move_down_after_a_fill_makes_us_long(tmp_path):
    engine = quiet_engine(paper_config(tmp_path), venues=("backpack",), taker_fraction=0.0)
    await engine.start()
    strat = engine.strategy
    try:
        assert await wait_for(lambda: len(engine.tracker.open_orders("backpack")) == 2
                              and all(o.state == "open" for o in engine.tracker.open_orders("backpack")), 5)
        before = dict(strat.last)
        assert before["q"] == 0.0
        our_bid = next(o for o in engine.tracker.open_orders("backpack") if o.side == "bid")
        sweep(engine.sim.venues["backpack"].exchange, "SOL_USDC_PERP", "sell", our_bid.px)
        assert await wait_for(lambda: engine.positions.get("backpack", "SOL_USDC_PERP").size == 50, 5)
        assert await wait_for(lambda: strat.last.get("q") == 0.5, 3)
        after = dict(strat.last)
        status = engine.status()
    finally:
        await engine.stop()
    # r - s = -q gamma sigma^2 tau = -0.5 * 2 * 0.0025 * ~60 = -0.15 (15 ticks); spread ~0.48 either way
    assert after["reservation"] - after["mid"] < -0.1
    assert before["reservation"] == pytest.approx(before["mid"])
    mid_ticks_before, mid_ticks_after = before["mid"] * 100, after["mid"] * 100
    assert (after["bid"] - mid_ticks_after) - (before["bid"] - mid_ticks_before) <= -10  # both quotes lower
    assert (after["ask"] - mid_ticks_after) - (before["ask"] - mid_ticks_before) <= -10
    assert status["avellaneda_fills"] >= 1 and status["avellaneda_position_updates"] >= 1
