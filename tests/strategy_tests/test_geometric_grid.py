"""Geometric grid: the pure formulas, then the strategy in paper mode (fills re-arm the opposite level)."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paper_helpers import wait_for

from strategies.geometric_grid import (
    GeometricGridParams,
    budget_size,
    follow_up,
    geometric_levels,
    grid_prices,
    select_initial_levels,
    to_notional_units,
)
from xtb.config import validate
from xtb.engine.engine import Engine
from xtb.model.types import MarketInfo, Side

SOL = MarketInfo(venue="backpack", symbol="SOL_USDC_PERP", base="SOL", quote="USDC", price_decimals=2,
                 size_decimals=2, tick=1, step=1, min_size=1, min_notional=0)


# --- pure pieces ---------------------------------------------------------------------------------------
def test_levels_are_geometric():
    lv = geometric_levels(Decimal(100), Decimal(200), 5)
    assert lv[0] == 100 and lv[-1] == 200
    ratios = [b / a for a, b in itertools.pairwise(lv)]
    assert all(abs(r - ratios[0]) < Decimal("1e-20") for r in ratios)
    assert abs(ratios[0] ** 4 - 2) < Decimal("1e-20")  # (upper/lower)^(1/(n-1))
    gaps = [b - a for a, b in itertools.pairwise(lv)]
    assert gaps == sorted(gaps) and gaps[0] < gaps[-1]  # spacing widens with the price


def test_grid_prices_round_to_the_tick_and_refuse_collisions():
    coarse = MarketInfo(**{**SOL.__dict__, "tick": 50})
    prices = grid_prices(Decimal(120), Decimal(180), 13, coarse)
    assert all(p % 50 == 0 for p in prices) and prices == sorted(set(prices))
    with pytest.raises(ValueError, match="collide"):
        grid_prices(Decimal("100"), Decimal("100.05"), 20, SOL)
    with pytest.raises(ValueError):
        geometric_levels(Decimal(2), Decimal(1), 5)


@given(budget=st.integers(1, 10**6), slots=st.integers(1, 50), price=st.integers(100, 10**7),
       step=st.sampled_from([1, 5, 10]))
def test_budget_sizing_stays_within_budget(budget, slots, price, step):
    m = MarketInfo(**{**SOL.__dict__, "step": step, "min_size": step})
    budget_units = to_notional_units(Decimal(budget), m)
    size = budget_size(budget_units, slots, price, m)
    assert size % step == 0
    assert slots * price * size <= budget_units  # every slot filled at once still fits the budget
    assert slots * price * (size + step) > budget_units  # and it is the largest such step multiple


def test_budget_sizing_respects_minimums():
    m = MarketInfo(**{**SOL.__dict__, "min_size": 100, "min_notional": 10 * 10**4})  # 1 SOL, 10 USDC
    assert budget_size(to_notional_units(Decimal(1000), m), 5, 15_000, m) == 133
    assert budget_size(to_notional_units(Decimal(100), m), 5, 15_000, m) == 0  # 0.13 SOL < 1 SOL minimum


def test_initial_levels_leave_the_nearest_empty_and_arm_the_neighbours():
    prices = [100, 110, 121, 133, 146, 161]
    bids, asks, empty = select_initial_levels(prices, 134, 2)
    assert (bids, asks, empty) == ([2, 1], [4, 5], 3)
    bids, asks, empty = select_initial_levels(prices, 99, 3)  # below the grid: only asks
    assert (bids, empty) == ([], 0) and asks == [1, 2, 3]


def test_follow_up_is_the_opposite_side_one_level_away():
    assert follow_up(3, Side.BID, 10) == (4, Side.ASK)
    assert follow_up(3, Side.ASK, 10) == (2, Side.BID)
    assert follow_up(9, Side.BID, 10) is None and follow_up(0, Side.ASK, 10) is None


def test_params_validate_bounds():
    with pytest.raises(ValueError, match="below upper_price"):
        GeometricGridParams(lower_price=Decimal(2), upper_price=Decimal(1))
    with pytest.raises(ValueError, match="both"):
        GeometricGridParams(lower_price=Decimal(2))
    with pytest.raises(ValueError):
        GeometricGridParams(levelz=3)  # type: ignore[call-arg]


# --- paper mode ----------------------------------------------------------------------------------------
def grid_config(tmp_path: Any) -> dict[str, Any]:
    return {
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 4, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {"backpack": {"symbols": ["SOL_USDC_PERP"]}},
        "strategy": {"name": "geometric_grid", "params": {
            "venue": "backpack", "symbol": "SOL_USDC_PERP", "lower_price": "120", "upper_price": "180",
            "levels": 13, "budget": "3000", "active_levels_per_side": 3, "sync_interval_s": 0.5}},
    }


def resting(engine: Engine) -> dict[int, tuple[str, int]]:
    """Open grid orders as the tracker sees them: price -> (side, size)."""
    return {o.px: (str(o.side), o.remaining) for o in engine.tracker.open_orders("backpack", "SOL_USDC_PERP")
            if str(o.state) == "open"}


async def test_a_fill_rearms_the_opposite_level(tmp_path):
    engine = Engine(validate(grid_config(tmp_path)))
    await engine.start()
    strat = engine.strategy
    try:
        # 120..180 in 13 geometric steps; the mid (~150) is nearest 152.02 (level 7), which stays empty
        assert await wait_for(lambda: len(resting(engine)) == 6, 5), resting(engine)
        prices = strat.prices
        assert prices[6:9] == [14697, 15202, 15724]
        size = strat.slot_size
        assert size == 297  # 3000 USDC / 6 slots at the highest armed price (168.24), floored to 0.01
        book = resting(engine)
        assert {px: s for px, (s, _) in book.items()} == {
            prices[6]: "bid", prices[5]: "bid", prices[4]: "bid",
            prices[8]: "ask", prices[9]: "ask", prices[10]: "ask"}

        # a seller sweeps the book down to the top grid bid (146.97): it fills, level 7 gets an ask
        assert engine.sim.sweep("backpack", "SOL_USDC_PERP", "sell", 100_000, prices[6]) > 0
        assert await wait_for(lambda: resting(engine).get(prices[7]) == ("ask", size), 5), resting(engine)
        assert prices[6] not in resting(engine)
        assert await wait_for(lambda: engine.positions.get("backpack", "SOL_USDC_PERP").size == size, 5)

        # a buyer lifts up to 152.02: the follow-up ask fills and re-arms the bid one level down
        assert engine.sim.sweep("backpack", "SOL_USDC_PERP", "buy", 100_000, prices[7]) > 0
        assert await wait_for(lambda: resting(engine).get(prices[6]) == ("bid", size), 5), resting(engine)
        assert prices[7] not in resting(engine)
        assert await wait_for(lambda: engine.positions.get("backpack", "SOL_USDC_PERP").size == 0, 5)
        assert strat.stats["follow_ups"] == 2 and strat.stats["fills"] >= 2
    finally:
        await engine.stop()


async def test_sync_adopts_grid_orders_and_cancels_strays(tmp_path):
    engine = Engine(validate(grid_config(tmp_path)))
    await engine.start()
    strat = engine.strategy
    ctx = engine.context
    try:
        assert await wait_for(lambda: len(resting(engine)) == 6, 5)
        prices = strat.prices
        # an order the cache does not know at a grid price (e.g. left from a previous run) and a stray
        known = ctx.place_limit("backpack", "SOL_USDC_PERP", "bid", prices[2], 100, post_only=True)
        stray = ctx.place_limit("backpack", "SOL_USDC_PERP", "bid", prices[2] + 7, 100, post_only=True)
        # both reach the venue (the stray may already be cancelled by a sync that ran in between)
        assert await wait_for(lambda: prices[2] in resting(engine) and (
            prices[2] + 7 in resting(engine) or strat.stats["strays_cancelled"] >= 1), 5), resting(engine)
        # the cache loses one of its own orders: the sync must notice it is still live and keep it
        assert await wait_for(lambda: strat.stats["syncs"] >= 2, 5)
        assert await wait_for(lambda: prices[2] + 7 not in resting(engine), 5)
        assert strat.by_cid.get(known) == 2 and strat.slots[2].side is Side.BID
        assert stray not in strat.by_cid and strat.stats["strays_cancelled"] == 1
        assert strat.stats["adopted"] == 1
    finally:
        await engine.stop()


async def test_a_grid_that_cannot_be_built_disables_itself_without_orders():
    import logging
    from types import SimpleNamespace

    from strategies.geometric_grid import GeometricGrid

    placed: list[Any] = []
    ctx = SimpleNamespace(
        log=logging.getLogger("test.grid"), best_bid=lambda v, s: (15_000, 10), best_ask=lambda v, s: (15_001, 10),
        market=lambda v, s: MarketInfo(**{**SOL.__dict__, "min_size": 1000}), record=lambda *a, **k: None,
        place_limit=lambda *a, **k: placed.append(a))
    grid = GeometricGrid(ctx, GeometricGridParams(budget=Decimal(10)))  # 10 USDC cannot buy 6 x 10 SOL
    await grid.on_tick(0)
    await grid.on_tick(0)
    assert grid.disabled is not None and "minimum order size" in grid.disabled and placed == []
