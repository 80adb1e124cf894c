"""ASMM (Round7): layer geometry, inventory pressure, momentum and skew as pure functions, the ladder diff, then
paper mode: geometric layers on the book, and a long inventory pushing the bid side out."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paper_helpers import quiet_engine, wait_for
from prometheus_client import generate_latest

from strategies.asmm import (
    ASMMParams,
    build_ladder,
    half_spread,
    inventory_pressure,
    layer_offsets,
    layer_sizes,
    momentum_ema,
    momentum_widening,
    take_profit_hit,
)
from xtb.config import load_config, validate
from xtb.engine.engine import Engine
from xtb.quant.quoting import reconcile
from xtb.risk import parse_risk_config
from xtb.sim.sweep import sweep

ROOT = Path(__file__).resolve().parents[2]


# --- formulas ---------------------------------------------------------------------------------------------
def test_half_spread_covers_fees_plus_buffer():
    assert half_spread(0.0006, 0.0002, 0.0) == pytest.approx(0.0003)  # the minimum spread rules
    assert half_spread(0.0006, 0.0002, 0.0002) == pytest.approx(0.0004)  # a 2 bps maker fee needs 4 bps a side
    assert half_spread(0.0006, 0.0002, -0.0001) == pytest.approx(0.0003)  # a rebate never narrows below min


@settings(max_examples=200, deadline=None)
@given(first=st.floats(1e-5, 0.01), spacing=st.floats(1e-5, 0.01), ratio=st.floats(1.0, 2.0),
       n=st.integers(2, 30))
def test_geometric_gaps_grow_by_the_ratio(first, spacing, ratio, n):
    offs = layer_offsets(first, spacing, ratio, n, "geometric")
    gaps = [b - a for a, b in itertools.pairwise(offs)]
    assert offs[0] == first and gaps[0] == pytest.approx(spacing)
    for a, b in itertools.pairwise(gaps):
        assert b == pytest.approx(a * ratio)
    lin = layer_offsets(first, spacing, ratio, n, "linear")
    assert all(b - a == pytest.approx(spacing) for a, b in itertools.pairwise(lin))


def test_layer_sizes_decay_round_to_step_and_stop_below_minimum():
    assert layer_sizes(90, 0.9, 6, 1, 1) == [90, 81, 72, 65, 59, 53]
    assert layer_sizes(90, 0.5, 24, 5, 10) == [90, 45, 20, 10]  # 5.6 < min 10: the ladder ends
    assert layer_sizes(90, 0.9, 3, 100, 1) == []  # the base size is below one step


@settings(max_examples=300, deadline=None)
@given(x=st.floats(-1.5, 1.5), y=st.floats(-1.5, 1.5), thr=st.floats(0, 0.95), strength=st.floats(0, 2),
       exponent=st.floats(0.1, 5))
def test_pressure_is_zero_inside_the_threshold_and_monotone_outside(x, y, thr, strength, exponent):
    px = inventory_pressure(x, thr, strength, exponent)
    assert px == inventory_pressure(-x, thr, strength, exponent)  # symmetric
    assert 0 <= px <= strength + 1e-12
    if abs(x) <= thr:
        assert px == 0
    if abs(y) >= abs(x):
        assert inventory_pressure(y, thr, strength, exponent) >= px - 1e-12
    assert inventory_pressure(1.0, thr, strength, exponent) == pytest.approx(strength)


def test_momentum_tweak_backs_off_the_side_the_price_runs_into():
    m = 0.0
    for _ in range(50):
        m = momentum_ema(m, 0.001, 0.08)  # a steady 10 bps rise per interval
    assert m == pytest.approx(0.001 * (1 - 0.92**50))
    assert momentum_widening(m, 0.0006) == (0.0, pytest.approx(m))  # rising: asks move out
    assert momentum_widening(-m, 0.0006) == (pytest.approx(m), 0.0)
    assert momentum_widening(0.0005, 0.0006) == (0.0, 0.0)  # below the threshold: no tweak


def test_ladder_skews_and_pressure_widens_the_inventory_side():
    p = ASMMParams(inventory_limit="0.2", inventory_pressure_threshold=0.4, inventory_pressure_strength=0.5,
                   inventory_pressure_exponent=2.5, max_layers=5)
    flat = build_ladder(p, 3000.0, 0.0, 0.0, 0.0)
    assert flat.reservation == 3000.0 and flat.bid_offsets == flat.ask_offsets and flat.pressure == 0
    long = build_ladder(p, 3000.0, 0.15, 0.0, 0.0)  # x = 0.75: past the threshold
    assert long.reservation < 3000.0 and long.skew == pytest.approx(0.75)
    expected = 0.5 * ((0.75 - 0.4) / 0.6) ** 2.5
    assert long.pressure == pytest.approx(expected)
    assert long.bid_offsets == pytest.approx([d * (1 + expected) for d in flat.bid_offsets])  # buying: pushed out
    assert long.ask_offsets == pytest.approx(flat.ask_offsets)  # selling (reduces inventory): unchanged
    short = build_ladder(p, 3000.0, -0.15, 0.0, 0.0)
    assert short.reservation > 3000.0 and short.ask_offsets[0] > short.bid_offsets[0]
    mild = build_ladder(p, 3000.0, 0.05, 0.0, 0.0)  # x = 0.25: skew without pressure
    assert mild.pressure == 0 and 3000.0 > mild.reservation > long.reservation


def test_take_profit_trigger():
    assert take_profit_hit(10, 100.0, 100.3, 0.0025) and not take_profit_hit(10, 100.0, 100.2, 0.0025)
    assert take_profit_hit(-10, 100.0, 99.7, 0.0025) and not take_profit_hit(-10, 100.0, 100.3, 0.0025)
    assert not take_profit_hit(0, 100.0, 200.0, 0.0025) and not take_profit_hit(5, 0.0, 1.0, 0.0025)


def test_reconcile_keeps_orders_within_tolerance_and_replaces_the_rest():
    live = [(1, "bid", 1000), (2, "bid", 990), (3, "ask", 1010), (4, "ask", 1100)]
    targets = [("bid", 1001, 5, 2), ("ask", 1010, 5, 1), ("bid", 980, 4, 3), ("ask", 1020, 4, 3)]
    cancel, place = reconcile(live, targets)
    assert sorted(cancel) == [2, 4]  # 990 is 10 from 980 (tolerance 3); 1100 matches nothing
    assert place == [("bid", 980, 4), ("ask", 1020, 4)]


def test_seed_camelcase_params_and_risk_section_parse():
    raw = load_config(ROOT / "configs" / "asmm.yaml")
    params = ASMMParams.model_validate(raw.strategy.params)
    assert params.spacing_ratio == 1.2 and params.max_layers == 24 and params.quote_interval_ms == 500
    assert params.inventory_pressure_exponent == 2.5 and str(params.base_size) == "0.009"
    risk = parse_risk_config(raw.risk)
    assert risk.net_max == 0.21 and risk.reduce_fractions == [0.15, 0.25, 0.40] and risk.shock_pct == 0.10
    assert ASMMParams(spacing_ratio=1.5).spacing_ratio == 1.5  # snake_case works as well
    with pytest.raises(ValueError):
        ASMMParams(spacingRatio=0.5)  # gaps must not shrink


# --- paper mode -------------------------------------------------------------------------------------------
def asmm_config(tmp_path: Any, **params: Any) -> Any:
    base = {"venue": "backpack", "symbol": "ETH_USDC_PERP", "baseSize": "0.009", "minSpread": 0.0006,
            "feeBuffer": 0.0002, "layerSpacing": 0.0003, "spacingRatio": 1.2, "layerSizeDecay": 0.9,
            "maxLayers": 5, "inventoryLimit": "0.02", "inventoryPressureThreshold": 0.4,
            "inventoryPressureStrength": 0.5, "inventoryPressureExponent": 2.5, "quoteIntervalMs": 300,
            "takeProfitPct": 0.05}
    base.update(params)
    return validate({
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 29, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {"backpack": {"symbols": ["ETH_USDC_PERP"]}},
        "strategy": {"name": "asmm", "params": base},
    })


def side_quotes(engine: Engine, side: str) -> list[Any]:
    orders = [o for o in engine.tracker.open_orders("backpack", "ETH_USDC_PERP") if o.side == side
              and o.state == "open"]
    return sorted(orders, key=lambda o: o.px, reverse=side == "bid")


async def test_paper_layers_are_geometric_and_pressure_widens_the_long_side(tmp_path):
    engine = quiet_engine(asmm_config(tmp_path), venues=("backpack",), taker_fraction=0.0)
    await engine.start()
    strat = engine.strategy
    try:
        assert await wait_for(lambda: len(side_quotes(engine, "bid")) == 5 and len(side_quotes(engine, "ask")) == 5, 5)
        bids, asks = side_quotes(engine, "bid"), side_quotes(engine, "ask")
        r = strat.last.reservation * 100  # price units
        first_distance = {"bid": r - bids[0].px, "ask": asks[0].px - r}
        for book in (bids, asks):
            gaps = [abs(b.px - a.px) for a, b in itertools.pairwise(book)]
            # 0.03 % of ~3500 USDC = ~105 ticks, then x1.2 each: 105, 126, 151, 181 (+-1 tick rounding)
            assert 95 <= gaps[0] <= 115
            for a, b in itertools.pairwise(gaps):
                assert b / a == pytest.approx(1.2, abs=0.03)
            assert [o.sz for o in book] == [90, 81, 72, 65, 59]  # 0.009 ETH decaying by 0.9
        # fill the two nearest bids: long 0.0171 ETH of a 0.02 limit -> x = 0.855, pressure 0.25
        sweep(engine.sim.venues["backpack"].exchange, "ETH_USDC_PERP", "sell", bids[1].px)
        assert await wait_for(lambda: engine.positions.get("backpack", "ETH_USDC_PERP").size == 171, 5)
        assert await wait_for(lambda: strat.last is not None and strat.last.pressure > 0.2, 3)

        def relaid() -> bool:
            b, a = side_quotes(engine, "bid"), side_quotes(engine, "ask")
            return len(b) == 5 and len(a) == 5 and strat.last is not None and \
                b[0].px <= strat.last.reservation * 100 - first_distance["bid"] * 1.2
        assert await wait_for(relaid, 4)
        ladder = strat.last
        bids, asks = side_quotes(engine, "bid"), side_quotes(engine, "ask")
        mid = strat._prev_mid
    finally:
        await engine.stop()
    r = ladder.reservation * 100
    assert ladder.reservation < mid and ladder.skew == pytest.approx(0.855)
    bid_distance, ask_distance = r - bids[0].px, asks[0].px - r
    assert bid_distance / ask_distance == pytest.approx(1 + ladder.pressure, abs=0.05)  # the long side is wider
    assert bid_distance > first_distance["bid"] * 1.2 and ask_distance == pytest.approx(first_distance["ask"], abs=2)


async def test_runs_from_its_config_with_the_risk_guard(tmp_path):
    raw = load_config(ROOT / "configs" / "asmm.yaml").model_dump()
    raw["general"].update(log_dir=str(tmp_path / "logs"), run_dir=str(tmp_path / "runs"))
    raw["strategy"]["params"]["maxLayers"] = 4  # fewer orders to cancel at shutdown
    engine = Engine(validate(raw))
    await engine.start()
    try:
        assert await wait_for(lambda: engine.strategy.stats["placed"] >= 8, 5)
        status = engine.status()
    finally:
        await engine.stop()
    assert status["risk_state"] == "active" and status["risk_allowed"] >= 8
    assert status["asmm_cycles"] >= 1 and status["asmm_denied"] == 0


async def test_vpin_and_cancel_suppression_gauges_are_fed_in_paper(tmp_path):
    """The board's mm_vpin_current and mm_cancel_suppression_active come from the strategy's own quantities."""
    raw = load_config(ROOT / "configs" / "asmm.yaml").model_dump()
    raw["general"].update(log_dir=str(tmp_path / "logs"), run_dir=str(tmp_path / "runs"))
    raw["strategy"]["params"].update(maxLayers=4, vpinBucketSize="0.02", vpinWindow=5, quoteIntervalMs=100,
                                     requoteTolerance=0.5)
    engine = Engine(validate(raw))
    await engine.start()
    strat = engine.strategy
    try:
        assert await wait_for(lambda: strat.vpin is not None and strat.vpin.buckets >= 2, 15)
        assert await wait_for(lambda: strat.suppressing, 15)  # the wide tolerance keeps drifted quotes
        await asyncio.sleep(0.3)  # one more cycle publishes both
        text = generate_latest(engine.telemetry.metrics.registry).decode()
    finally:
        await engine.stop()
    vpin = [ln for ln in text.splitlines() if ln.startswith("mm_vpin_current{")]
    assert len(vpin) == 1 and 'symbol="ETH_USDC_PERP"' in vpin[0] and 0.0 <= float(vpin[0].split()[-1]) <= 1.0
    assert any(ln.startswith("mm_cancel_suppression_active{") for ln in text.splitlines())
    assert engine.status()["asmm_vpin"] is not None
