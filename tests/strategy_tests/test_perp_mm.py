"""Perp market maker: grid, skew and exit formulas, then paper mode: the grid is cancelled and re-posted each
cycle, and a position past the limit is cut back with a reduce-only market order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paper_helpers import quiet_engine, wait_for

from strategies.perp_mm import PerpMMParams, exit_order, grid_prices, skew_fraction
from xtb.config import validate
from xtb.engine.engine import Engine
from xtb.engine.registry import get_strategy
from xtb.model.types import Side
from xtb.sim.sweep import sweep


# --- formulas ---------------------------------------------------------------------------------------------
def test_grid_levels_spread_and_spacing():
    bids, asks = grid_prices(100.0, 0.2, 0.05, 3, 0.0)
    assert bids == pytest.approx([99.9, 99.85, 99.8]) and asks == pytest.approx([100.1, 100.15, 100.2])
    down_bids, down_asks = grid_prices(100.0, 0.2, 0.05, 3, -0.5)  # half a half-spread down
    assert down_bids[0] == pytest.approx(99.85) and down_asks[0] == pytest.approx(100.05)


@settings(max_examples=200, deadline=None)
@given(dev=st.floats(-1e6, 1e6), max_dev=st.floats(1e-3, 1e6), skew=st.floats(1e-6, 1))
def test_skew_opposes_the_inventory_and_is_capped(dev, max_dev, skew):
    s = skew_fraction(dev, max_dev, skew)
    assert -skew <= s <= skew
    if abs(dev) > 1e-6 * max_dev:
        assert s * dev < 0


@settings(max_examples=200, deadline=None)
@given(dev=st.integers(-10_000, 10_000), max_units=st.integers(1, 5_000), step=st.integers(1, 50))
def test_exit_brings_the_deviation_back_inside_the_limit(dev, max_units, step):
    order = exit_order(dev, max_units, step)
    if abs(dev) <= max_units:
        assert order is None
        return
    assert order is not None
    side, size = order
    assert side is (Side.ASK if dev > 0 else Side.BID)
    assert size % step == 0 and abs(dev) - size <= max_units and size - step < abs(dev) - max_units


def test_params_validation():
    with pytest.raises(ValueError, match="position_threshold"):
        PerpMMParams(max_position=Decimal("0.2"), position_threshold=Decimal("0.5"))
    with pytest.raises(ValueError, match="unknown parameter"):
        get_strategy("perp_mm").parse_params({"spread": 1})


# --- paper mode -------------------------------------------------------------------------------------------
def mm_config(tmp_path: Any, **params: Any) -> Any:
    base = {"venue": "backpack", "symbol": "SOL_USDC_PERP", "base_spread_percentage": 0.1,
            "level_spacing_percentage": 0.03, "max_orders": 3, "order_quantity": "0.1", "max_position": "0.2",
            "position_threshold": "0.1", "inventory_skew": 0.5, "cycle_interval_s": 0.4, "exit_retry_s": 2.0}
    base.update(params)
    return validate({
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 17, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {"backpack": {"symbols": ["SOL_USDC_PERP"]}},
        "strategy": {"name": "perp_mm", "params": base},
    })


def quotes(engine: Engine) -> list[Any]:
    return [o for o in engine.tracker.open_orders("backpack", "SOL_USDC_PERP") if o.state == "open"]


async def test_grid_is_cancelled_and_reposted_each_cycle(tmp_path):
    engine = quiet_engine(mm_config(tmp_path), venues=("backpack",), taker_fraction=0.0)
    await engine.start()
    try:
        assert await wait_for(lambda: len(quotes(engine)) == 6, 5)
        first = quotes(engine)
        assert all(o.post_only and not o.reduce_only and o.sz == 10 for o in first)
        bids = sorted((o.px for o in first if o.side == "bid"), reverse=True)
        asks = sorted(o.px for o in first if o.side == "ask")
        assert len(bids) == len(asks) == 3 and bids[0] < asks[0]
        mid = (bids[0] + asks[0]) / 2
        assert asks[0] - bids[0] == pytest.approx(mid * 0.001, abs=2)  # 0.1 % spread, rounded outward
        first_ids = {o.client_id for o in first}
        def replaced() -> bool:
            now = quotes(engine)
            return len(now) == 6 and not first_ids & {o.client_id for o in now}

        assert await wait_for(replaced, 3)
        cycles = engine.strategy.stats["cycles"]
        old_cancelled = await wait_for(
            lambda: all(engine.tracker.get(cid, "backpack").state == "cancelled" for cid in first_ids), 3)
    finally:
        await engine.stop()
    assert cycles >= 2 and old_cancelled  # the previous grid was cancelled, not left resting


async def test_position_past_the_limit_exits_reduce_only(tmp_path):
    engine = quiet_engine(mm_config(tmp_path), venues=("backpack",), taker_fraction=0.0)
    await engine.start()
    strat = engine.strategy
    try:
        assert await wait_for(lambda: len(quotes(engine)) == 6, 5)
        lowest_bid = min(o.px for o in quotes(engine) if o.side == "bid")
        filled = sweep(engine.sim.venues["backpack"].exchange, "SOL_USDC_PERP", "sell", lowest_bid)
        assert filled > 0
        # all three bids fill: long 0.3 SOL against a 0.2 limit -> sell 0.1 reduce-only at market
        assert await wait_for(lambda: strat.exit_cids != [], 5)
        exit_order_ = engine.tracker.get(strat.exit_cids[0], "backpack")
        assert exit_order_.reduce_only and exit_order_.side == "ask" and exit_order_.sz == 10
        assert exit_order_.time_in_force == "IOC"
        assert await wait_for(lambda: engine.positions.get("backpack", "SOL_USDC_PERP").size == 20, 5)
        assert await wait_for(lambda: len(quotes(engine)) > 0, 3)
        after = quotes(engine)
        stats = dict(strat.stats)
    finally:
        await engine.stop()
    assert stats["exits"] == 1 and stats["position_updates"] >= 1 and stats["fills_bid"] >= 3
    # still long past position_threshold: only the reducing side (asks) is quoted
    assert after and all(o.side == "ask" for o in after)
