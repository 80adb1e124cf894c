"""Tier hunter: order-flow formulas, then paper mode (public trades reach it; a fill flips it to a
reduce-only closing order; the stats file carries the seed's fields)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paper_helpers import wait_for

from strategies.tier_hunter import (
    AvgCostBook,
    FlowWindow,
    SideSelector,
    TierHunterParams,
    choose_side,
    ema,
    flow_ratio,
    pressure,
)
from xtb.config import validate
from xtb.engine.engine import Engine
from xtb.model.types import Side


# --- pure pieces ---------------------------------------------------------------------------------------
def test_flow_window_drops_prints_older_than_the_lookback():
    w = FlowWindow(2.0)
    w.add(0.0, True, 10)
    w.add(1.0, False, 4)
    w.add(1.5, True, 3)
    assert w.volumes(1.9) == (13, 4)
    assert w.volumes(2.5) == (3, 4)  # the print at t=0 left the window
    assert w.volumes(10.0) == (0, 0)


def test_flow_ratio_neutral_and_capped():
    assert flow_ratio(0, 0, 10) == 1.0
    assert flow_ratio(5, 0, 10) == 10 and flow_ratio(0, 5, 10) == pytest.approx(0.1)
    assert flow_ratio(13, 10, 10) == pytest.approx(1.3)
    assert flow_ratio(1000, 1, 10) == 10


def test_ema_and_pressure_bands():
    assert ema(None, 2.0, 0.4) == 2.0
    assert ema(1.0, 2.0, 0.4) == pytest.approx(1.4)
    assert pressure(1.3, 1.3) is Side.BID and pressure(1.29, 1.3) is None
    assert pressure(1 / 1.3, 1.3) is Side.ASK and pressure(0.8, 1.3) is None


@given(st.lists(st.floats(0.1, 10), min_size=1, max_size=50), st.floats(0.01, 1))
def test_ema_stays_within_the_range_of_its_inputs(values, alpha):
    e = None
    for v in values:
        e = ema(e, v, alpha)
    assert min(values) - 1e-9 <= e <= max(values) + 1e-9


def test_side_selector_respects_the_minimum_hold():
    s = SideSelector(1.5, Side.BID)
    assert s.update(0.0, Side.ASK) is Side.ASK  # first switch: nothing held yet
    assert s.update(1.0, Side.BID) is Side.ASK  # held only 1 s
    assert s.update(1.6, None) is Side.ASK  # neutral keeps the side
    assert s.update(1.6, Side.BID) is Side.BID
    s.force(1.7, Side.ASK)  # inventory: immediate
    assert s.side is Side.ASK and s.since == 1.7


def test_inventory_first():
    assert choose_side(0, 10, Side.BID, True) == (Side.BID, False)
    assert choose_side(25, 10, Side.BID, True) == (Side.ASK, True)
    assert choose_side(-25, 10, Side.ASK, True) == (Side.BID, True)
    assert choose_side(5, 10, Side.ASK, True) == (Side.ASK, False)  # below the threshold
    assert choose_side(25, 10, Side.BID, False) == (Side.BID, False)  # forced reduce off


def test_average_cost_realized_pnl():
    b = AvgCostBook()
    assert b.fill(Side.BID, 100, 10) == 0 and b.fill(Side.BID, 110, 10) == 0
    assert b.avg_px == 105
    assert b.fill(Side.ASK, 120, 5) == 75  # (120 - 105) x 5
    assert b.fill(Side.ASK, 100, 20) == -75  # closes 15 at -5, opens 5 short at 100
    assert (b.position, b.avg_px) == (-5, 100)
    assert b.fill(Side.BID, 90, 5) == 50 and b.position == 0


# --- paper mode ----------------------------------------------------------------------------------------
def hunter_config(tmp_path: Any, venue: str = "backpack", trades: bool = True, **params: Any) -> dict[str, Any]:
    symbol = "SOL_USDC_PERP" if venue == "backpack" else "SOL"
    base = {"venue": venue, "symbol": symbol, "order_size": "0.5", "trade_lookback_s": 1.0,
            "min_side_hold_s": 0.3, "stats_log_path": str(tmp_path / "stats.log"), "stats_log_interval_s": 0.3,
            "position_update_interval_s": 1.0}
    base.update(params)
    return {
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 8, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {venue: {"symbols": [symbol], "options": {"trades": trades}}},
        "strategy": {"name": "tier_hunter", "params": base},
    }


@pytest.mark.parametrize("venue", ["backpack", "lighter"])
async def test_public_trades_are_subscribed_only_when_opted_in(tmp_path, venue):
    on = Engine(validate(hunter_config(tmp_path / "on", venue, trades=True)))
    await on.start()
    try:
        assert await wait_for(lambda: on.strategy.trades_seen >= 3, 6)
    finally:
        await on.stop()
    off = Engine(validate(hunter_config(tmp_path / "off", venue, trades=False)))
    await off.start()
    try:
        await asyncio.sleep(1.5)  # the simulator prints several trades a second on this market
        assert off.dispatcher.stats.per_kind.get("trade", 0) == 0 and off.strategy.trades_seen == 0
    finally:
        await off.stop()


def live_order(engine: Engine) -> Any:
    orders = [o for o in engine.tracker.open_orders("backpack", "SOL_USDC_PERP") if str(o.state) == "open"]
    return orders[0] if len(orders) == 1 else None


async def test_buy_flow_quotes_the_bid_and_a_fill_flips_to_a_reduce_only_ask(tmp_path):
    # a high threshold: the simulator's own balanced flow stays neutral, only the sweeps below decide
    engine = Engine(validate(hunter_config(tmp_path, imbalance_threshold=3.0, max_ratio=20)))
    await engine.start()
    strat = engine.strategy
    sim = engine.sim
    try:
        assert await wait_for(lambda: engine.context.best_ask("backpack", "SOL_USDC_PERP") is not None, 5)
        for _ in range(4):  # aggressive buyers: taker buy volume far above sell volume
            ask = engine.context.best_ask("backpack", "SOL_USDC_PERP")
            sim.sweep("backpack", "SOL_USDC_PERP", "buy", 3000, ask[0] + 20)
            await asyncio.sleep(0.1)
        assert await wait_for(lambda: strat.selector.side is Side.BID and live_order(engine) is not None
                              and str(live_order(engine).side) == "bid", 5), (strat.ratio_ema, strat.side_switches)
        bid_order = live_order(engine)
        assert not bid_order.reduce_only and bid_order.sz == 50  # 0.5 SOL, flat: the flow decides
        # a seller hits our bid: now long, the hunter must close with a reduce-only ask at once
        sim.sweep("backpack", "SOL_USDC_PERP", "sell", 100_000, bid_order.px)

        def flipped() -> bool:
            o = live_order(engine)
            pos = engine.positions.get("backpack", "SOL_USDC_PERP").size
            return o is not None and pos > 0 and str(o.side) == "ask" and o.reduce_only and o.remaining == pos

        assert await wait_for(flipped, 5), (live_order(engine), strat.side_switches)
        assert strat.stats.maker_fills >= 1 and strat.stats.long_fills >= 1
        assert ("ask", True) in strat.side_switches
        await asyncio.sleep(0.4)  # at least one more stats line after the fill
    finally:
        await engine.stop()
    text = (tmp_path / "stats.log").read_text()
    last = [ln for ln in text.splitlines() if not ln.startswith("#")][-1]
    for field in ("maker=", "taker=", "total=", "failed=", "success=", "long/short=", "ratio=", "equity=",
                  "pnl total=", "avg=", "best=", "worst=", "fees=", "rest=", "ws=", "ws/api="):
        assert field in last, (field, last)
    assert "maker=0 " not in last and "equity=n/a" not in last and "ws=0 " not in last


def test_params_reject_a_threshold_at_or_below_one():
    with pytest.raises(ValueError):
        TierHunterParams(imbalance_threshold=1.0)
