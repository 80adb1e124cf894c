"""Trend ladder: EMA/ATR/slope and coverage formulas, then paper mode (an uptrend places bid entries,
a fill gets a reduce-only take-profit, and the coverage check restores cover the test takes away)."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paper_helpers import wait_for

from strategies.trend_ladder import (
    Bar,
    BarBuilder,
    TrendLadderParams,
    atr,
    ema_series,
    entry_price,
    estimate,
    slope,
    sum_open_coverage,
    take_profit_price,
    trend_direction,
)
from xtb.config import validate
from xtb.engine.engine import Engine
from xtb.model.types import Side


# --- pure pieces ---------------------------------------------------------------------------------------
def test_ema_seeded_with_the_mean_then_smoothed():
    assert ema_series([1, 2], 3) == []
    out = ema_series([1.0, 2.0, 3.0, 10.0], 3)  # seed mean(1,2,3) = 2, alpha = 0.5
    assert out == [2.0, 6.0]
    assert ema_series([5.0] * 10, 4) == [5.0] * 7  # a constant stays constant


def test_atr_is_the_mean_true_range_including_gaps():
    bars = [Bar(10, 11, 9, 10), Bar(10, 12, 10, 11), Bar(14, 15, 14, 15)]
    # TR1 = max(2, |12-10|, |10-10|) = 2; TR2 = max(1, |15-11|, |14-11|) = 4 (the gap counts)
    assert atr(bars, 2) == 3.0
    assert atr(bars, 3) is None


@given(st.floats(-100, 100), st.floats(-1000, 1000), st.integers(2, 30))
def test_slope_recovers_a_line(a, b, n):
    values = [b + a * i for i in range(n)]
    assert slope(values) == pytest.approx(a, abs=1e-6)


def test_trend_needs_the_emas_and_the_slope_to_agree():
    assert trend_direction(101, 100, 0.05, 100, 2.0) == 1  # 5 bps per bar up
    assert trend_direction(101, 100, 0.01, 100, 2.0) == 0  # too flat
    assert trend_direction(99, 100, 0.05, 100, 2.0) == 0  # EMAs say down, slope says up
    assert trend_direction(99, 100, -0.05, 100, 2.0) == -1


def test_estimate_on_a_rising_series():
    p = TrendLadderParams(ema_fast=3, ema_slow=6, atr_length=4, slope_lookback=3, slope_threshold_bps=1)
    bars = [Bar(100 + i, 100.5 + i, 99.5 + i, 100 + i) for i in range(10)]
    est = estimate(bars, p)
    assert est is not None and est.direction == 1 and est.atr == pytest.approx(1.5)
    assert estimate(bars[: p.warmup_bars - 1], p) is None


def test_bar_builder_closes_bars_on_the_interval():
    b = BarBuilder(1.0, 10)
    assert not b.add(0.0, 5) and not b.add(0.5, 7) and not b.add(0.9, 4)
    assert b.add(1.0, 6)
    assert b.bars[-1] == Bar(5, 7, 4, 4)


def test_coverage_counts_reduce_only_orders_on_the_closing_side():
    o = SimpleNamespace
    orders = [o(side="ask", reduce_only=True, remaining=30), o(side="ask", reduce_only=False, remaining=50),
              o(side="bid", reduce_only=True, remaining=20), o(side="ask", reduce_only=True, remaining=5)]
    assert sum_open_coverage(True, orders) == (35, 2, 4)
    assert sum_open_coverage(False, orders) == (20, 1, 4)


def test_prices_round_away_from_crossing():
    assert entry_price(Side.BID, 1000, 1002, 2.5, 1) == 997
    assert entry_price(Side.ASK, 1000, 1002, 2.5, 1) == 1005
    assert entry_price(Side.BID, 1000, 1002, 0.0, 5) == 1000
    assert take_profit_price(Side.BID, 1000, 3.2, 1, 2) == 1004
    assert take_profit_price(Side.ASK, 1000, 0.1, 1, 2) == 998  # floor of two ticks


def test_params_check_the_ema_lengths():
    with pytest.raises(ValueError, match="shorter"):
        TrendLadderParams(ema_fast=10, ema_slow=5)
    assert TrendLadderParams(order_size=Decimal("0.2")).warmup_bars == 21


# --- paper mode ----------------------------------------------------------------------------------------
def ladder_config(tmp_path: Any, flush: bool = False) -> dict[str, Any]:
    return {
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 6, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {"backpack": {"symbols": ["SOL_USDC_PERP"]}},
        "strategy": {"name": "trend_ladder", "params": {
            "venue": "backpack", "symbol": "SOL_USDC_PERP", "bar_interval_s": 0.1, "ema_fast": 3, "ema_slow": 6,
            "atr_length": 4, "slope_lookback": 3, "slope_threshold_bps": 0.3, "order_size": "0.5",
            "max_entries": 1, "max_position": "2", "entry_offset_atr": 0.0, "take_profit_atr": 1.0,
            "min_take_profit_ticks": 50, "entry_ttl_s": 30, "requote_atr": 3.0, "coverage_check_interval_s": 0.3,
            "flush_on_trend_flip": flush}},
    }


def orders(engine: Engine) -> list[Any]:
    return [o for o in engine.tracker.open_orders("backpack", "SOL_USDC_PERP") if str(o.state) == "open"]


async def test_uptrend_entry_take_profit_and_coverage(tmp_path):
    engine = Engine(validate(ladder_config(tmp_path)))
    await engine.start()
    strat = engine.strategy
    basis = [0.0]

    def ramp() -> None:  # the mid climbs 1 bp every 50 ms: a clean uptrend
        basis[0] += 1.0
        engine.sim.set_basis("backpack", "SOL_USDC_PERP", basis[0])

    try:
        assert await wait_for(lambda: strat.trend is not None and strat.trend.direction == 1, 8, ramp), strat.trend
        assert await wait_for(lambda: any(str(o.side) == "bid" and not o.reduce_only for o in orders(engine)), 5,
                              ramp)
        entry = next(o for o in orders(engine) if str(o.side) == "bid" and not o.reduce_only)
        assert entry.sz == 50
        # a seller fills the entry: a reduce-only ask take-profit above the fill covers the position
        assert engine.sim.sweep("backpack", "SOL_USDC_PERP", "sell", 100_000, entry.px) > 0

        def covered() -> bool:
            pos = engine.positions.get("backpack", "SOL_USDC_PERP").size
            tps = [o for o in orders(engine) if o.reduce_only and str(o.side) == "ask"]
            return pos > 0 and sum(o.remaining for o in tps) == pos

        assert await wait_for(covered, 5), orders(engine)
        tp = next(o for o in orders(engine) if o.reduce_only)
        assert tp.px >= entry.px + 50  # at least min_take_profit_ticks (0.50 USDC, far from the flow) above
        assert strat.stats["take_profits"] >= 1

        # take the cover away behind the strategy's back: the coverage check must restore it
        engine.context.cancel("backpack", tp.client_id)
        assert await wait_for(lambda: strat.stats["coverage_fixes"] >= 1, 5)
        assert await wait_for(covered, 5), orders(engine)
    finally:
        await engine.stop()


async def test_trend_turning_against_the_position_flushes_at_the_touch(tmp_path):
    engine = Engine(validate(ladder_config(tmp_path, flush=True)))
    await engine.start()
    strat = engine.strategy
    basis = [0.0]

    def ramp(step: float) -> Any:
        def go() -> None:
            basis[0] += step
            engine.sim.set_basis("backpack", "SOL_USDC_PERP", basis[0])
        return go

    try:
        assert await wait_for(lambda: any(str(o.side) == "bid" and not o.reduce_only for o in orders(engine)), 8,
                              ramp(1.0))
        entry = next(o for o in orders(engine) if str(o.side) == "bid" and not o.reduce_only)
        engine.sim.sweep("backpack", "SOL_USDC_PERP", "sell", 100_000, entry.px)
        assert await wait_for(lambda: any(o.reduce_only for o in orders(engine)), 5)
        tp = next(o for o in orders(engine) if o.reduce_only)
        # the mid now falls: the downtrend is against the long, so everything is cancelled and one
        # reduce-only ask for the whole position rests at the touch
        assert await wait_for(lambda: strat.stats["flushes"] >= 1, 8, ramp(-2.0)), strat.trend
        cid, touch, size = strat.flush_history[0]
        flush = engine.tracker.get(cid, "backpack")
        # the whole position at that moment (entries may have filled more than once before the turn)
        assert (str(flush.side), flush.reduce_only, flush.px, flush.sz) == ("ask", True, touch, size)
        assert size >= 50 and size % 50 == 0
        assert flush.px < tp.px  # nearer than the take-profit it replaced
        assert await wait_for(lambda: engine.tracker.get(tp.client_id, "backpack").is_terminal, 5)
    finally:
        await engine.stop()


# --- re-quoting, driven step by step ---------------------------------------------------------------------
class StepContext:
    """A scripted context: the test sets the touch and the position; orders are recorded."""

    def __init__(self) -> None:
        import logging

        from xtb.model.types import MarketInfo

        self.log = logging.getLogger("test.trend_ladder")
        from xtb.engine.clock import EventClock

        self.clock = EventClock(1_750_000_000 * 10**9)  # the strategy's time: moves only when the test says
        self.mkt = MarketInfo(venue="backpack", symbol="SOL_USDC_PERP", base="SOL", quote="USDC", price_decimals=2,
                              size_decimals=2, tick=1, step=1, min_size=1, min_notional=0)
        self.bid, self.ask, self.pos = 15_000, 15_002, 0
        self.orders: dict[int, SimpleNamespace] = {}
        self.cancels: list[int] = []

    def market(self, venue: str, symbol: str) -> Any:
        return self.mkt

    def best_bid(self, venue: str, symbol: str) -> Any:
        return (self.bid, 10)

    def best_ask(self, venue: str, symbol: str) -> Any:
        return (self.ask, 10)

    def position(self, venue: str, symbol: str) -> int:
        return self.pos

    def entry_price(self, venue: str, symbol: str) -> int:
        return 0

    def open_orders(self, venue: str, symbol: str) -> list[Any]:
        return [o for o in self.orders.values() if o.state == "open"]

    def order(self, venue: str, cid: int) -> Any:
        return self.orders.get(cid)

    def place_limit(self, venue: str, symbol: str, side: Any, price: int, size: int, **kw: Any) -> int:
        cid = len(self.orders) + 1
        self.orders[cid] = SimpleNamespace(client_id=cid, side=str(side), px=price, sz=size, remaining=size,
                                           reduce_only=kw.get("reduce_only", False), state="open")
        return cid

    def cancel(self, venue: str, cid: int) -> None:
        self.cancels.append(cid)
        self.orders[cid].state = "cancelled"

    def record(self, table: str, **fields: Any) -> None:
        pass


async def test_stale_entries_are_requoted_on_drift_and_on_age():
    from strategies import trend_ladder

    ctx = StepContext()
    clock = ctx.clock  # the strategy's time, moved by the test

    async def later(s: float) -> None:
        await clock.advance_to(clock.now_ns() + round(s * 1e9))
    p = TrendLadderParams(max_entries=2, entry_offset_atr=0.0, ladder_step_atr=1.0, requote_atr=0.5,
                          entry_ttl_s=30, bar_interval_s=1.0, order_size=Decimal("0.5"), max_position=Decimal(5))
    strat = trend_ladder.TrendLadder(ctx, p)
    strat.market = ctx.mkt
    strat.trend = trend_ladder.TrendEstimate(1, 101.0, 100.0, 2.0, 4.0)  # up, ATR 4 ticks
    strat.bars.add(clock.now_s(), 15_001)  # an open bar, so the tick does not re-estimate the trend
    await strat.on_tick(0)
    assert sorted((o.side, o.px) for o in ctx.orders.values()) == [("bid", 14_996), ("bid", 15_000)]  # rungs 0, 1
    ctx.bid, ctx.ask = 15_001, 15_003  # one tick: within 0.5 ATR, nothing moves
    await later(0.5)
    await strat.on_tick(0)
    assert ctx.cancels == []
    ctx.bid, ctx.ask = 15_006, 15_008  # six ticks > 2: both rungs re-quoted at the new touch
    await later(0.4)
    await strat.on_tick(0)
    assert sorted(ctx.cancels) == [1, 2] and strat.stats["requotes"] == 2
    assert sorted(o.px for o in ctx.open_orders("backpack", "SOL_USDC_PERP")) == [15_002, 15_006]
    await later(31)  # too old: re-quoted at the same prices
    strat.bars = trend_ladder.BarBuilder(1000.0, 10)
    strat.bars.add(clock.now_s(), 15_007)
    await strat.on_tick(0)
    assert strat.stats["requotes"] == 4 and len(ctx.open_orders("backpack", "SOL_USDC_PERP")) == 2
    # the trend fades: entries are cancelled, nothing new
    strat.trend = trend_ladder.TrendEstimate(0, 100.0, 100.0, 0.0, 4.0)
    await later(0.1)
    await strat.on_tick(0)
    assert ctx.open_orders("backpack", "SOL_USDC_PERP") == [] and strat.stats["side_cancels"] == 2
