"""Hedge ladder: the pure formulas, the hedge executor against a scripted context, then paper mode."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paper_helpers import quiet_engine, user_positions, wait_for

from strategies.hedge_ladder import (
    HedgeLadder,
    HedgeLadderParams,
    HedgeRateLimit,
    Rung,
    convert_size,
    hedge_action,
    hedge_trigger_price,
    ladder_prices,
    release_price,
    slippage_for_attempt,
    take_profit_price,
    worst_price,
)
from xtb.config import validate
from xtb.engine.clock import NS_PER_S, EventClock
from xtb.model.types import MarketInfo, Side
from xtb.sim.backpack.dialect import RULES as BACKPACK_RULES
from xtb.sim.lighter.dialect import RULES as LIGHTER_RULES


def market(venue: str, symbol: str, pd: int, sd: int, *, tick: int = 1, step: int = 1, multiplier: int = 1,
           min_size: int = 1) -> MarketInfo:
    return MarketInfo(venue=venue, symbol=symbol, base="SOL", quote="USDC", price_decimals=pd, size_decimals=sd,
                      tick=tick, step=step, min_size=min_size, min_notional=0, multiplier=multiplier)


BP = market("backpack", "SOL_USDC_PERP", 2, 2)
LG = market("lighter", "SOL", 3, 3)
TICK5 = market("backpack", "SOL_USDC_PERP", 2, 2, tick=5)


# --- formulas ------------------------------------------------------------------------------------------
def test_ladder_rungs_step_down_from_the_bid_rounded_down_to_the_tick():
    assert ladder_prices(15_000, Decimal(5), Decimal(10), 3, BP) == [14_992, 14_977, 14_962]
    assert ladder_prices(15_000, Decimal(5), Decimal(10), 3, TICK5) == [14_990, 14_975, 14_960]


def test_trigger_release_and_take_profit_prices():
    assert hedge_trigger_price(15_000, Decimal("0.99"), BP) == 14_850
    assert hedge_trigger_price(15_001, Decimal("0.99"), TICK5) == 14_850  # 14850.99 -> down to the tick
    assert release_price(14_850, Decimal(5), BP) == 14_858  # 14857.4 rounded up
    assert take_profit_price(15_000, Decimal(30), TICK5) == 15_045


@given(entry=st.integers(1, 10**9), ratio=st.decimals("0.5", "0.9999", places=4), tick=st.sampled_from([1, 5, 10]))
def test_trigger_is_the_last_tick_at_or_below_entry_times_ratio(entry, ratio, tick):
    m = market("backpack", "X", 2, 2, tick=tick)
    trigger = hedge_trigger_price(entry, ratio, m)
    exact = entry * Fraction(ratio)
    assert trigger % tick == 0 and trigger <= exact < trigger + tick


def test_hedge_action_opens_below_the_trigger_and_closes_at_the_release():
    assert hedge_action(14_849, 14_850, 14_858, hedged=False) == "open"
    assert hedge_action(14_850, 14_850, 14_858, hedged=False) is None  # at the line: not below
    assert hedge_action(14_855, 14_850, 14_858, hedged=True) is None  # inside the hysteresis band
    assert hedge_action(14_858, 14_850, 14_858, hedged=True) == "close"
    assert hedge_action(14_000, 14_850, 14_858, hedged=True) is None


def test_sizes_convert_through_base_units_and_round_down_to_the_step():
    assert convert_size(BP, 10, LG) == 100  # 0.10 SOL
    assert convert_size(LG, 105, BP) == 10  # 0.105 SOL -> 0.10 on a 0.01 grid
    kpepe = market("backpack", "kPEPE", 6, 0, multiplier=1000)
    pepe = market("lighter", "PEPE", 8, 0, step=100)
    assert convert_size(kpepe, 3, pepe) == 3000 and convert_size(pepe, 2_999, kpepe) == 2


def test_slippage_widens_per_retry_up_to_the_cap_and_worst_prices_are_safe():
    assert [slippage_for_attempt(a, 30, 20, 100) for a in range(6)] == [30, 50, 70, 90, 100, 100]
    assert worst_price(LG, Side.ASK, 150_000, 30) == 149_550
    assert worst_price(TICK5, Side.BID, 15_001, 10) == 15_020  # 15016 rounded up to the tick


def test_rate_limit_grants_ten_per_second_then_waits_exactly():
    lim = HedgeRateLimit(10, 1000)
    t0 = 5 * 10**9
    assert [lim.acquire(t0 + i) for i in range(10)] == [0] * 10
    wait = lim.acquire(t0 + 10)
    assert wait > 0 and t0 + 10 + wait == t0 + 10**9  # the first grant leaves the window
    assert lim.acquire(t0 + 10**9) == 0


@given(st.lists(st.integers(0, 3 * 10**9), min_size=1, max_size=80))
def test_rate_limit_never_exceeds_the_window(offsets):
    lim = HedgeRateLimit(10, 1000)
    granted = [t for t in sorted(offsets) if lim.acquire(t) == 0]
    for i, t in enumerate(granted):  # any 1 s window starting at a grant holds at most 10 grants
        assert sum(1 for u in granted[i:] if u < t + 10**9) <= 10


def test_params_are_validated_by_name():
    with pytest.raises(ValueError, match="hedge_trigger_ratio"):
        HedgeLadderParams(hedge_trigger_ratio=Decimal("1.01"))
    with pytest.raises(ValueError, match="hedge_max_slippage_bps"):
        HedgeLadderParams(hedge_slippage_bps=50, hedge_max_slippage_bps=20)


# --- the hedge executor against a scripted context -----------------------------------------------------
class ScriptOrder:
    def __init__(self, venue: str, cid: int, side: str, px: int | None, sz: int, kind: str, reduce_only: bool):
        self.venue, self.client_id, self.side, self.px, self.sz = venue, cid, side, px, sz
        self.kind, self.reduce_only = kind, reduce_only
        self.state, self.filled, self.avg_px = "open", 0, 0

    @property
    def is_terminal(self) -> bool:
        return self.state in ("filled", "cancelled", "expired", "rejected")

    def end(self, filled: int, px: int = 0) -> None:
        self.filled, self.avg_px = filled, px
        self.state = "filled" if filled == self.sz else "expired"


class ScriptContext:
    def __init__(self) -> None:
        self.log = logging.getLogger("test.hedge_ladder")
        self.clock = EventClock(100 * NS_PER_S)  # the strategy's time, moved by the test
        self.tops = {"backpack": ((15_000, 100), (15_001, 100)), "lighter": ((150_000, 1000), (150_010, 1000))}
        self.orders: dict[tuple[str, int], ScriptOrder] = {}
        self.placed: list[ScriptOrder] = []
        self.records: list[tuple[str, dict[str, Any]]] = []
        self._cid = 0

    def market(self, venue: str, symbol: str) -> MarketInfo:
        return BP if venue == "backpack" else LG

    def best_bid(self, venue: str, symbol: str) -> Any:
        return self.tops[venue][0]

    def best_ask(self, venue: str, symbol: str) -> Any:
        return self.tops[venue][1]

    def order(self, venue: str, cid: int) -> Any:
        return self.orders.get((venue, cid))

    def _add(self, venue: str, side: Any, px: Any, sz: int, kind: str, reduce_only: bool) -> int:
        self._cid += 1
        o = ScriptOrder(venue, self._cid, str(Side(side)), px, sz, kind, reduce_only)
        self.orders[(venue, self._cid)] = o
        self.placed.append(o)
        return self._cid

    def place_limit(self, venue: str, symbol: str, side: Any, price: int, size: int, **kw: Any) -> int:
        return self._add(venue, side, price, size, "limit", kw.get("reduce_only", False))

    def place_market(self, venue: str, symbol: str, side: Any, size: int, *, worst_price: Any = None,
                     reduce_only: bool = False) -> int:
        return self._add(venue, side, worst_price, size, "market", reduce_only)

    def cancel(self, venue: str, cid: int) -> None:
        self.orders[(venue, cid)].state = "cancelled"

    def record(self, table: str, **fields: Any) -> None:
        self.records.append((table, fields))

    def hedges(self) -> list[ScriptOrder]:
        return [o for o in self.placed if o.venue == "lighter"]


async def test_short_hedges_are_retried_with_wider_slippage_until_filled():
    ctx = ScriptContext()
    strat = HedgeLadder(ctx, HedgeLadderParams(levels=1, quantity=Decimal("0.10"), entry_offset_bps=Decimal(0),
                                               hedge_trigger_ratio=Decimal("0.99"), hedge_retry_delay=0.5,
                                               hedge_slippage_bps=30, hedge_slippage_step_bps=20))
    await strat.on_start()
    await strat.on_tick(0)
    entry = ctx.placed[-1]
    assert (entry.venue, entry.side, entry.px, entry.sz) == ("backpack", "bid", 15_000, 10)
    entry.end(10, 15_000)
    await strat.on_tick(0)
    tp = ctx.placed[-1]
    assert (tp.side, tp.px, tp.reduce_only) == ("ask", 15_045, True)  # 30 bps take profit
    assert strat.rungs[0].hedge_px == 14_850 and ctx.hedges() == []

    ctx.tops["backpack"] = ((14_849, 100), (14_850, 100))  # below the trigger
    await strat.on_tick(0)
    first = ctx.hedges()[-1]
    assert (first.side, first.sz, first.kind, first.px) == ("ask", 100, "market", 150_000 - 450)
    first.end(40, 150_000)  # worst price too tight: only 0.040 filled
    await strat.on_tick(0)
    assert len(ctx.hedges()) == 1  # waits hedge_retry_delay
    await ctx.clock.advance_to(ctx.clock.now_ns() + NS_PER_S // 2)
    await strat.on_tick(0)
    retry = ctx.hedges()[-1]
    assert (retry.side, retry.sz, retry.px) == ("ask", 60, 150_000 - 750)  # the rest, 50 bps worst price
    retry.end(60, 149_900)
    await strat.on_tick(0)
    assert strat._hedged(strat.rungs[0]) == 100 and len(ctx.hedges()) == 2
    assert strat.stats["hedge_retries"] == 1 and strat.stats["hedges_opened"] == 1

    ctx.tops["backpack"] = ((14_858, 100), (14_859, 100))  # recovered to hedge price + 5 bps
    await strat.on_tick(0)
    close = ctx.hedges()[-1]
    assert (close.side, close.sz, close.reduce_only) == ("bid", 100, True)
    assert close.px == LG.round_px(150_010 + 150_010 * 30 // 10_000, Side.ASK)
    close.end(100, 150_010)
    await strat.on_tick(0)
    assert strat._hedged(strat.rungs[0]) == 0 and strat.stats["hedges_closed"] == 1
    assert [f["event"] for t, f in ctx.records if t == "hedge_ladder"] == [
        "entry", "hedge_open", "hedge_open", "hedge_close"]


async def test_a_burst_of_hedges_is_held_to_ten_orders_per_second():
    ctx = ScriptContext()
    strat = HedgeLadder(ctx, HedgeLadderParams(levels=12, hedge_orders_per_second=10))
    await strat.on_start()
    for level in range(12):  # twelve filled rungs, all far above the current bid
        rung = Rung(level, entry_cid=1000 + level, anchor=15_000, state="open", entry_px=16_000, size=10,
                    hedge_size=100, hedge_px=15_840, release_px=15_848, tp_cids=[])
        strat.rungs[level] = rung
    for _ in range(3):
        await strat.on_tick(0)
    assert len(ctx.hedges()) == 10 and strat.stats["hedge_rate_limited"] >= 2
    for o in ctx.hedges():
        o.end(o.sz, 150_000)
    await ctx.clock.advance_to(ctx.clock.now_ns() + NS_PER_S // 2)
    await strat.on_tick(0)
    assert len(ctx.hedges()) == 10  # the window is still full
    await ctx.clock.advance_to(ctx.clock.now_ns() + NS_PER_S // 2)
    await strat.on_tick(0)
    assert len(ctx.hedges()) == 12


async def test_on_stop_closes_the_remaining_hedge():
    ctx = ScriptContext()
    strat = HedgeLadder(ctx, HedgeLadderParams(levels=1, stop_timeout_s=1.0))
    await strat.on_start()
    rung = Rung(0, entry_cid=999, anchor=15_000, state="open", entry_px=15_000, size=10, hedge_size=100,
                hedge_px=14_850, release_px=14_858, hedge_target=100)
    strat.rungs[0] = rung
    ctx.tops["backpack"] = ((14_000, 100), (14_001, 100))
    await strat.on_tick(0)
    ctx.hedges()[-1].end(100, 150_000)

    async def fill_closes() -> None:
        for _ in range(40):
            for o in ctx.hedges():
                if o.side == "bid" and not o.is_terminal:
                    o.end(o.sz, 150_010)
            await asyncio.sleep(0.02)

    filler = asyncio.create_task(fill_closes())
    await strat.on_stop()
    await filler
    assert strat._hedged(rung) == 0
    assert [(o.side, o.reduce_only) for o in ctx.hedges()] == [("ask", False), ("bid", True)]


# --- paper mode ------------------------------------------------------------------------------------------
def ladder_config(tmp_path: Any, **params: Any) -> dict[str, Any]:
    base = {"quantity": "0.10", "levels": 1, "entry_offset_bps": 3, "reprice_bps": 200, "take_profit_bps": 500,
            "hedge_trigger_ratio": "0.99", "hedge_release_bps": 5, "hedge_retry_delay": 0.3, "stop_timeout_s": 5}
    base.update(params)
    return {
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 4, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {"backpack": {"symbols": ["SOL_USDC_PERP"]}, "lighter": {"symbols": ["SOL"]}},
        "strategy": {"name": "hedge_ladder", "params": base},
    }


async def test_paper_hedges_below_the_trigger_unwinds_on_recovery_and_closes_on_stop(tmp_path):
    engine = quiet_engine(validate(ladder_config(tmp_path)), calm_sol=True, basis_amplitude_bps=0.0)
    await engine.start()
    strat, sim = engine.strategy, engine.sim
    try:
        assert await wait_for(lambda: strat.rungs.get(0) is not None, 3)
        sim.generator.shift_fair_price("SOL", 0.997)  # 30 bps down: the resting rung gets filled
        assert await wait_for(lambda: strat.rungs.get(0) is not None and strat.rungs[0].state == "open", 6)
        rung = strat.rungs[0]
        assert rung.size == 10 and rung.hedge_px == hedge_trigger_price(rung.entry_px, Decimal("0.99"), strat.main)
        await asyncio.sleep(0.5)
        assert user_positions(sim) == {"backpack": [10], "lighter": []}  # above the trigger: unhedged

        sim.generator.shift_fair_price("SOL", 0.98)  # 2 % lower: below entry x 0.99
        assert await wait_for(lambda: user_positions(sim)["lighter"] == [-100], 6)
        assert strat.stats["hedges_opened"] == 1

        sim.generator.shift_fair_price("SOL", 1 / 0.98)  # back up: above the release price
        assert await wait_for(lambda: user_positions(sim)["lighter"] == [], 6)
        assert strat.stats["hedges_closed"] == 1 and strat.rungs[0].state == "open"

        sim.generator.shift_fair_price("SOL", 0.98)  # down again: hedged again, then shut down
        assert await wait_for(lambda: user_positions(sim)["lighter"] == [-100], 6)
        assert strat.stats["hedges_opened"] == 2
    finally:
        await engine.stop()
    assert user_positions(sim) == {"backpack": [10], "lighter": []}  # on_stop closed the hedge


# --- the simulator's price-shock helpers these tests drive -----------------------------------------------
def test_generator_price_shift_moves_every_venue_and_basis_is_settable():
    from xtb.sim import Exchange, FeedConfig, MarketDataGenerator, UnderlyingConfig, VirtualClock
    from xtb.sim.types import MarketSpec

    clock = VirtualClock()
    a, b = Exchange(BACKPACK_RULES, clock), Exchange(LIGHTER_RULES, clock)
    for ex in (a, b):
        ex.add_market(MarketSpec(market_id=0, symbol="SOL", price_decimals=2, size_decimals=2))
    gen = MarketDataGenerator([UnderlyingConfig("SOL", 150.0)], [FeedConfig(a, 0, "SOL"), FeedConfig(b, 0, "SOL")],
                              seed=1, clock=clock)
    before = gen.fair_price("SOL")
    assert gen.shift_fair_price("SOL", 0.98) == pytest.approx(before * 0.98)
    gen.set_basis_bps(gen.feed_index(b, 0), 25.0)
    assert gen.spread_bps(gen.feed_index(b, 0), gen.feed_index(a, 0)) == pytest.approx(25.0 - gen.basis_bps(0))
    gen.advance(2.0)  # the books follow the shocked mid
    best_bid = a.book_snapshot(0).bids[0].price / 100
    assert abs(best_bid / (before * 0.98) - 1) < 0.003
    with pytest.raises(ValueError, match="factor"):
        gen.shift_fair_price("SOL", 0.0)
    with pytest.raises(KeyError, match="BTC"):
        gen.shift_fair_price("BTC", 1.1)
    with pytest.raises(KeyError, match="no feed"):
        gen.feed_index(a, 7)
