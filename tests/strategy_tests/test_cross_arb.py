"""Cross-venue arbitrage: the pure pieces, then the strategy end to end in paper mode (simulator + connectors)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from paper_helpers import open_spread, user_cash_usdc, user_positions, wait_for

from strategies.cross_arb import (
    CircuitBreaker,
    CrossArbParams,
    Direction,
    common_size,
    discover_pairs,
    entry_spread,
    exit_reason,
    in_maintenance,
    net_of_fees,
    real_price,
    unwind_spread,
)
from xtb.config import validate
from xtb.engine.clock import NS_PER_S, EventClock
from xtb.engine.engine import Engine
from xtb.model.types import MarketInfo, Side
from xtb.sim.backpack.dialect import RULES as BACKPACK_RULES


def market(venue: str, symbol: str, base: str, pd: int, sd: int, *, step: int = 1, min_size: int = 1,
           multiplier: int = 1) -> MarketInfo:
    return MarketInfo(venue=venue, symbol=symbol, base=base, quote="USDC", price_decimals=pd, size_decimals=sd,
                      tick=1, step=step, min_size=min_size, min_notional=0, multiplier=multiplier)


BP_SOL = market("backpack", "SOL_USDC_PERP", "SOL", 2, 2)
LG_SOL = market("lighter", "SOL", "SOL", 3, 3)
BP_ETH = market("backpack", "ETH_USDC_PERP", "ETH", 2, 4)
LG_ETH = market("lighter", "ETH", "ETH", 2, 4)
LG_BTC = market("lighter", "BTC", "BTC", 1, 5)


# --- pair discovery ------------------------------------------------------------------------------------
def test_pairs_match_by_canonical_base_and_respect_filters():
    bp = {m.symbol: m for m in (BP_SOL, BP_ETH)}
    lg = {m.symbol: m for m in (LG_SOL, LG_ETH, LG_BTC)}
    assert [(p.base, p.maker.symbol, p.hedge.symbol) for p in discover_pairs(bp, lg, [])] == [
        ("ETH", "ETH_USDC_PERP", "ETH"), ("SOL", "SOL_USDC_PERP", "SOL")]
    assert [p.base for p in discover_pairs(bp, lg, ["sol"])] == ["SOL"]
    assert [p.base for p in discover_pairs(bp, lg, ["ETH_USDC_PERP"])] == ["ETH"]
    assert discover_pairs(bp, lg, ["BTC"]) == []  # BTC is only on Lighter here


# --- common size ---------------------------------------------------------------------------------------
def test_common_size_uses_the_coarser_step_and_both_minimums():
    bp = market("backpack", "SOL_USDC_PERP", "SOL", 2, 2, step=1, min_size=5)  # 0.01 step, 0.05 min
    lg = market("lighter", "SOL", "SOL", 3, 3, step=5, min_size=20)  # 0.005 step, 0.020 min
    smallest = common_size(bp, lg, None)
    assert (smallest.maker_units, smallest.hedge_units, smallest.base) == (5, 50, Fraction(5, 100))
    wanted = common_size(bp, lg, Decimal("0.1234"))  # rounded down to a 0.01 grid
    assert (wanted.maker_units, wanted.hedge_units) == (12, 120)
    with pytest.raises(ValueError, match="below the common minimum"):
        common_size(bp, lg, Decimal("0.04"))


def test_common_size_converts_through_multipliers():
    bp = market("backpack", "kPEPE_USDC_PERP", "PEPE", 6, 0, multiplier=1000)  # 1 unit = 1000 PEPE
    lg = market("lighter", "PEPE", "PEPE", 8, 0, step=100)  # 100 PEPE steps
    size = common_size(bp, lg, Decimal(2500))
    assert (size.maker_units, size.hedge_units, size.base) == (2, 2000, Fraction(2000))


# --- spreads -------------------------------------------------------------------------------------------
def test_real_price_normalises_each_venue_scale():
    assert real_price(BP_SOL, 15_000) == real_price(LG_SOL, 150_000) == 150


def test_net_spread_both_directions():
    from strategies.cross_arb import Pair

    pair = Pair("SOL", BP_SOL, LG_SOL)
    params = CrossArbParams(maker_fee_bps=Decimal(2), hedge_fee_bps=Decimal(5))
    hedge_rich = ((150_300, 1), (150_310, 1))  # Lighter bid 150.30, ask 150.31
    # buy Backpack at 150.00, sell Lighter at 150.30: +20 bps gross, 13 net
    gross = entry_spread(Direction.LONG_MAKER, pair, 15_000, hedge_rich)
    assert gross == 20 and net_of_fees(gross, params) == 13
    # the other direction loses: sell Backpack at 150.00, buy Lighter at 150.31
    short = entry_spread(Direction.SHORT_MAKER, pair, 15_000, hedge_rich)
    assert short is not None and short < 0
    hedge_cheap = ((149_700, 1), (149_700, 1))
    assert entry_spread(Direction.SHORT_MAKER, pair, 15_000, hedge_cheap) == Fraction(300 * 10_000, 149_700)
    # unwinding a long-Backpack arb: sell Backpack at its bid, buy Lighter at its ask
    maker_top = ((15_000, 1), (15_001, 1))
    assert unwind_spread(Direction.LONG_MAKER, pair, maker_top, ((150_000, 1), (150_030, 1))) == 2
    assert unwind_spread(Direction.SHORT_MAKER, pair, maker_top, ((None), (150_030, 1))) is None
    assert Direction.LONG_MAKER.maker_side is Side.BID and Direction.LONG_MAKER.hedge_side is Side.ASK


# --- exits, maintenance, breaker -------------------------------------------------------------------------
def test_exit_rules():
    p = CrossArbParams(take_profit_bps=Decimal(3), stop_loss_bps=Decimal(20), max_hold_s=60)
    assert exit_reason(Fraction(15), Fraction(10), 1.0, p) is None
    assert exit_reason(Fraction(15), Fraction(3), 1.0, p) == "take_profit"
    assert exit_reason(Fraction(15), Fraction(35), 1.0, p) == "stop_loss"
    assert exit_reason(Fraction(15), Fraction(10), 60.0, p) == "max_hold"


def hms(h: int, m: int, s: int = 0) -> int:
    return h * 3600 + m * 60 + s


def at(h: int, m: int, s: int = 0) -> int:
    """A clock reading (ns since the epoch) at h:m:s UTC of some day."""
    return (20_000 * 86_400 + hms(h, m, s)) * NS_PER_S


def test_maintenance_windows_including_midnight_wrap():
    windows = ["08:00-08:30", "23:50-00:10"]
    assert in_maintenance(windows, hms(8, 15))
    assert not in_maintenance(windows, hms(8, 30))
    assert in_maintenance(windows, hms(23, 55)) and in_maintenance(windows, hms(0, 5))
    assert not in_maintenance(windows, hms(12, 0))
    # with a lead time, the minutes before a window count too (across midnight as well)
    assert in_maintenance(windows, hms(7, 59, 30), lead_s=60)
    assert not in_maintenance(windows, hms(7, 58, 30), lead_s=60)
    assert in_maintenance(["00:00-00:10"], hms(23, 58, 30), lead_s=120)
    assert not in_maintenance(["00:00-00:10"], hms(23, 57, 30), lead_s=120)
    with pytest.raises(ValueError, match="maintenance window"):
        CrossArbParams(maintenance_windows=["8am-9am"])
    with pytest.raises(ValueError, match="maintenance window"):
        CrossArbParams(maintenance_windows=["08:00-24:30"])


def test_circuit_breaker_opens_after_consecutive_failures_and_closes_after_pause():
    b = CircuitBreaker(max_failures=2, pause_s=10)
    b.record_failure(0.0)
    b.record_success()  # a success resets the count
    b.record_failure(1.0)
    assert not b.is_open(1.0)
    b.record_failure(2.0)
    assert b.is_open(5.0)
    assert not b.is_open(12.0) and b.consecutive == 0
    forever = CircuitBreaker(max_failures=1, pause_s=0)
    forever.record_failure(0.0)
    assert forever.is_open(1e9)


def test_leg_roles_come_from_params_or_the_configured_venues():
    from strategies.cross_arb import leg_venues

    assert leg_venues(CrossArbParams(), ["backpack", "grvt"]) == ("backpack", "grvt")
    assert leg_venues(CrossArbParams(maker_venue="grvt"), ["lighter", "grvt"]) == ("grvt", "lighter")
    assert leg_venues(CrossArbParams(hedge_venue="grvt"), ["grvt", "lighter"]) == ("lighter", "grvt")
    with pytest.raises(ValueError, match="'binance_usdm' is not configured"):
        leg_venues(CrossArbParams(maker_venue="binance_usdm"), ["backpack", "grvt"])
    with pytest.raises(ValueError, match="two different venues"):
        leg_venues(CrossArbParams(), ["backpack"])
    with pytest.raises(ValueError, match="two different venues"):
        leg_venues(CrossArbParams(maker_venue="grvt", hedge_venue="grvt"), ["backpack", "grvt"])


def test_params_written_for_backpack_and_lighter_still_load():
    old = CrossArbParams(backpack_fee_bps=Decimal(3), lighter_fee_bps=Decimal(4), backpack_post_only=False,
                         backpack_fill_timeout_s=7, backpack_market_fallback=True, lighter_market_execution=False)
    assert (old.maker_fee_bps, old.hedge_fee_bps, old.maker_post_only) == (3, 4, False)
    assert (old.maker_fill_timeout_s, old.maker_market_fallback, old.hedge_execution) == (7, True, "ioc")
    assert CrossArbParams(lighter_market_execution=True).hedge_execution == "market"
    with pytest.raises(ValueError, match="both backpack_fee_bps and maker_fee_bps"):
        CrossArbParams(backpack_fee_bps=Decimal(1), maker_fee_bps=Decimal(2))
    with pytest.raises(ValueError):
        CrossArbParams(hedge_execution="limit")


def test_params_reject_unknown_fields():
    with pytest.raises(ValueError):
        CrossArbParams(entry_treshold_bps=5)  # type: ignore[call-arg]


# --- end to end in paper mode ----------------------------------------------------------------------------
QUIET_BASIS = {"basis_amplitude_bps": 0.0, "basis_half_life_s": 2.0}


def arb_config(tmp_path: Any, **params: Any) -> dict[str, Any]:
    base = {
        "symbol_filters": ["SOL"], "order_size": "0.10", "entry_threshold_bps": 10, "take_profit_bps": 6,
        "stop_loss_bps": 100, "max_hold_s": 20, "cooldown_s": 30, "maker_fee_bps": 2, "hedge_fee_bps": 5,
        "maker_fill_timeout_s": 2, "maker_market_fallback": True, "balance_grace_s": 0.5,
        "exit_retry_s": 1.0, "flatten_timeout_s": 5,
    }
    base.update(params)
    return {
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 3, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {"backpack": {"symbols": ["SOL_USDC_PERP"]}, "lighter": {"symbols": ["SOL"]}},
        "strategy": {"name": "cross_arb", "params": base},
        # the simulator's random venue basis off (the config's sim section), so each test opens the spread
        "sim": {"basis": {v: QUIET_BASIS for v in ("backpack", "lighter")}},
    }


@pytest.mark.parametrize("hedge_execution", ["market", "ioc"], ids=["hedge_market", "hedge_ioc_limit"])
async def test_enters_when_the_spread_opens_and_takes_profit_when_it_closes(tmp_path, hedge_execution):
    engine = Engine(validate(arb_config(tmp_path, hedge_execution=hedge_execution)))
    await engine.start()
    strat = engine.strategy
    cash_before = user_cash_usdc(engine.sim)
    try:
        await asyncio.sleep(1.0)
        assert strat.stats["entries"] == 0  # no basis, no spread, no trade
        open_spread(engine, "lighter", "SOL", 40.0)  # Lighter rich: buy Backpack, sell Lighter
        assert await wait_for(lambda: strat.arbs.get("SOL") is not None, 3)
        assert strat.arbs["SOL"].direction is Direction.LONG_MAKER
        assert await wait_for(lambda: strat.arbs.get("SOL", None) is not None and strat.arbs["SOL"].state == "open", 6)

        def legs() -> tuple[int, int]:
            return engine.positions.get("backpack", "SOL_USDC_PERP").size, engine.positions.get("lighter", "SOL").size

        # 0.10 SOL long on Backpack, hedged short on Lighter (the hedge may still be landing when the leg opens)
        assert await wait_for(lambda: legs() == (10, -100), 3), legs()
        assert await wait_for(lambda: strat.stats["round_trips"] == 1, 20)
        status = engine.status()
        venues = user_positions(engine.sim)
        venue_pnl = user_cash_usdc(engine.sim) - cash_before
        realized, _, fees = engine.telemetry.pnl()  # the run's records and the risk guard agree with the venues
        telemetry_pnl, risk_pnl = realized - fees, engine.pnl.realized()
    finally:
        await engine.stop()
    assert status["cross_arb_exits"] == ["take_profit"], status
    # the PnL the CLOSED line reports is what the venues booked (fills, fees) to a micro-dollar
    assert abs(strat.realized_pnl - venue_pnl) <= Fraction(1, 10**6), (float(strat.realized_pnl), float(venue_pnl))
    # Lighter's fills carry no fee: both ledgers charge its published rate (fill_fee_units)
    assert abs(telemetry_pnl - float(venue_pnl)) < 1e-5 and abs(risk_pnl - float(venue_pnl)) < 1e-5, \
        (telemetry_pnl, risk_pnl, float(venue_pnl))
    assert status["cross_arb_failures"] == 0 and status["cross_arb_rebalances"] == 0
    assert venues == {"backpack": [], "lighter": []}


async def test_failed_lighter_leg_is_rebalanced_flat_and_trips_the_breaker(tmp_path):
    engine = Engine(validate(arb_config(tmp_path, maker_post_only=False, cooldown_s=0,
                                                  max_consecutive_failures=1, circuit_breaker_pause_s=0)))
    await engine.start()
    strat = engine.strategy

    def unfillable(arb: Any, side: Side, top: Any) -> int:  # a sell limit 5 % above the bid never fills
        return int(top[0][0] * 105 // 100) if side is Side.ASK else int(top[1][0] * 95 // 100)

    strat._hedge_worst_price = unfillable
    try:
        open_spread(engine, "lighter", "SOL", 40.0)
        assert await wait_for(lambda: strat.stats["rebalances"] >= 1, 8)
        assert await wait_for(lambda: strat.stats["failures"] == 1, 8)
        venues = user_positions(engine.sim)
        await asyncio.sleep(0.5)  # the spread is still open, but the breaker keeps entries off
        status = engine.status()
    finally:
        await engine.stop()
    assert venues == {"backpack": [], "lighter": []}, status
    assert status["cross_arb_exits"] == ["rebalance"]
    assert status["cross_arb_round_trips"] == 0
    assert status["cross_arb_breaker_open"] and status["cross_arb_entries"] == 1


async def test_stop_loss_when_the_spread_keeps_widening(tmp_path):
    engine = Engine(validate(arb_config(tmp_path, stop_loss_bps=20, max_hold_s=30)))
    await engine.start()
    strat = engine.strategy
    try:
        open_spread(engine, "lighter", "SOL", 40.0)
        assert await wait_for(lambda: "SOL" in strat.arbs and strat.arbs["SOL"].state == "open", 8)
        open_spread(engine, "lighter", "SOL", 120.0)  # Lighter runs further away from Backpack
        assert await wait_for(lambda: strat.exits != [], 8)
        assert await wait_for(lambda: strat.arbs == {}, 8)
        venues = user_positions(engine.sim)
    finally:
        await engine.stop()
    assert strat.exits == ["stop_loss"]
    assert venues == {"backpack": [], "lighter": []}


async def test_stop_flattens_both_venues(tmp_path):
    # take profit can never trigger and the hold is long: the arbitrage is still open at shutdown
    engine = Engine(validate(arb_config(tmp_path, take_profit_bps=-1000, max_hold_s=600)))
    await engine.start()
    strat = engine.strategy
    sim = engine.sim
    try:
        open_spread(engine, "backpack", "SOL", 40.0)  # Backpack rich: sell Backpack, buy Lighter
        assert await wait_for(lambda: "SOL" in strat.arbs and strat.arbs["SOL"].state == "open", 8)
        assert strat.arbs["SOL"].direction is Direction.SHORT_MAKER
        await asyncio.sleep(0.5)
        before = user_positions(sim)
    finally:
        await engine.stop()
    assert before == {"backpack": [-10], "lighter": [100]}
    assert user_positions(sim) == {"backpack": [], "lighter": []}


# --- the tracking limit executor and the hedge, driven step by step --------------------------------------
class StepOrder:
    def __init__(self, venue: str, cid: int, symbol: str, side: str, px: int | None, sz: int, kind: str,
                 reduce_only: bool = False) -> None:
        self.venue, self.client_id, self.symbol, self.side = venue, cid, symbol, side
        self.px, self.sz, self.kind, self.reduce_only = px, sz, kind, reduce_only
        self.state, self.filled = "open", 0


class StepContext:
    """A scripted context: books and order states are set by the test, actions are recorded."""

    def __init__(self) -> None:
        import logging

        self.log = logging.getLogger("test.cross_arb")
        self.clock = EventClock(at(12, 0))  # the strategy's time: moves only when the test says
        self.venues = ["backpack", "lighter"]
        self.tops = {("backpack", "SOL_USDC_PERP"): ((15_000, 100), (15_001, 100)),
                     ("lighter", "SOL"): ((150_400, 1000), (150_410, 1000))}
        self.orders: dict[tuple[str, int], StepOrder] = {}
        self.placed: list[StepOrder] = []
        self.cancels: list[int] = []
        self.pos: dict[tuple[str, str], int] = {}
        self.deny: set[str] = set()  # venues whose orders the gateway refuses
        self._cid = 0
        self.records: list[tuple[str, dict[str, Any]]] = []

    def record(self, table: str, **fields: Any) -> None:
        self.records.append((table, fields))

    def markets(self, venue: str) -> dict[str, MarketInfo]:
        return {"SOL_USDC_PERP": BP_SOL} if venue == "backpack" else {"SOL": LG_SOL}

    def best_bid(self, venue: str, symbol: str) -> Any:
        return self.tops[(venue, symbol)][0]

    def best_ask(self, venue: str, symbol: str) -> Any:
        return self.tops[(venue, symbol)][1]

    def position(self, venue: str, symbol: str) -> int:
        return self.pos.get((venue, symbol), 0)

    async def fetch_positions(self, venue: str) -> dict[str, int]:
        return {s: n for (v, s), n in self.pos.items() if v == venue and n != 0}

    def order(self, venue: str, cid: int) -> Any:
        return self.orders.get((venue, cid))

    def open_orders(self, venue: str | None = None, symbol: str | None = None) -> list[Any]:
        return [o for o in self.orders.values()
                if o.state in ("open", "unresolved") and o.venue == venue and o.symbol == symbol]

    def _add(self, venue: str, symbol: str, side: Any, px: Any, sz: int, kind: str, reduce_only: bool = False) -> int:
        if venue in self.deny:
            from xtb.engine.gateway import OrderDenied

            raise OrderDenied("rate_limited")
        self._cid += 1
        o = StepOrder(venue, self._cid, symbol, str(side), px, sz, kind, reduce_only)
        self.orders[(venue, self._cid)] = o
        self.placed.append(o)
        return self._cid

    def place_limit(self, venue: str, symbol: str, side: Any, price: int, size: int, **kw: Any) -> int:
        return self._add(venue, symbol, side, price, size, "limit", kw.get("reduce_only", False))

    def place_market(self, venue: str, symbol: str, side: Any, size: int, *, worst_price: Any = None,
                     reduce_only: bool = False) -> int:
        return self._add(venue, symbol, side, worst_price, size, "market", reduce_only)

    def cancel(self, venue: str, cid: int) -> None:
        self.cancels.append(cid)
        self.orders[(venue, cid)].state = "pending_cancel"


def fill(ctx: StepContext, strat: Any, order: StepOrder, sz: int) -> None:
    from types import SimpleNamespace

    order.filled += sz
    order.state = "filled" if order.filled >= order.sz else "partially_filled"
    strat.on_fill(SimpleNamespace(venue=order.venue, client_id=order.client_id, side=order.side, px=order.px,
                                  sz=sz, fee=0))


async def later(ctx: StepContext, seconds: float) -> None:
    await ctx.clock.advance_to(ctx.clock.now_ns() + round(seconds * NS_PER_S))


async def test_tracking_leg_reposts_on_drift_hedges_each_fill_and_falls_back_to_market():
    from strategies import cross_arb

    ctx = StepContext()
    params = CrossArbParams(symbol_filters=["SOL"], order_size=Decimal("0.10"), maker_fee_bps=Decimal(2),
                            hedge_fee_bps=Decimal(5), reprice_tolerance_bps=Decimal(3),
                            maker_fill_timeout_s=10, maker_market_fallback=True)
    strat = cross_arb.CrossArb(ctx, params)
    await strat.on_start()
    await strat.on_tick(0)  # Lighter bid 150.40 vs Backpack bid 150.00: 26.7 bps gross -> enter long Backpack
    first = ctx.placed[-1]
    assert (first.venue, first.side, first.px, first.sz, first.kind) == ("backpack", "bid", 15_000, 10, "limit")

    fill(ctx, strat, first, 4)  # 0.04 SOL filled -> 0.040 SOL sold on Lighter at once, market with a worst price
    hedge = ctx.placed[-1]
    assert (hedge.venue, hedge.side, hedge.sz, hedge.kind) == ("lighter", "ask", 40, "market")
    assert hedge.px == 150_400 - 150_400 * 50 // 10_000
    hedge.state, hedge.filled = "filled", 40

    ctx.tops[("backpack", "SOL_USDC_PERP")] = ((15_010, 100), (15_011, 100))  # bid moved 6.7 bps: re-post
    await strat.on_tick(0)
    assert ctx.cancels == [first.client_id]
    first.state = "cancelled"
    await strat.on_tick(0)
    repost = ctx.placed[-1]
    assert (repost.venue, repost.px, repost.sz) == ("backpack", 15_010, 6)  # only the remainder
    assert strat.stats["reposts"] == 1

    await later(ctx, 11)  # the leg times out: cancel, then finish with a market order
    await strat.on_tick(0)
    assert ctx.cancels[-1] == repost.client_id
    repost.state = "cancelled"
    await strat.on_tick(0)
    fallback = ctx.placed[-1]
    assert (fallback.venue, fallback.kind, fallback.sz) == ("backpack", "market", 6)
    fill(ctx, strat, fallback, 6)
    assert (ctx.placed[-1].venue, ctx.placed[-1].sz) == ("lighter", 60)
    ctx.placed[-1].state = "filled"
    ctx.pos = {("backpack", "SOL_USDC_PERP"): 10, ("lighter", "SOL"): -100}
    await strat.on_tick(0)
    assert strat.arbs["SOL"].state == "open" and strat.stats["rebalances"] == 0


async def test_no_entries_inside_a_maintenance_window_or_with_the_breaker_open():
    from strategies import cross_arb

    window = "11:55-12:05"  # the step context's clock reads 12:00 UTC
    ctx = StepContext()
    strat = cross_arb.CrossArb(ctx, CrossArbParams(maintenance_windows=[window]))
    await strat.on_start()
    await strat.on_tick(0)
    assert ctx.placed == []
    ctx2 = StepContext()
    strat2 = cross_arb.CrossArb(ctx2, CrossArbParams(max_consecutive_failures=1, circuit_breaker_pause_s=0))
    await strat2.on_start()
    strat2.breaker.record_failure(0.0)
    await strat2.on_tick(0)
    assert ctx2.placed == []
    strat2.breaker = CircuitBreaker(1, 0)  # closed again: the same book enters
    await strat2.on_tick(0)
    assert len(ctx2.placed) == 1


async def test_gateway_denials_drop_the_entry_and_retry_the_hedge():
    from strategies import cross_arb

    ctx = StepContext()
    strat = cross_arb.CrossArb(ctx, CrossArbParams(order_size=Decimal("0.10")))
    await strat.on_start()
    ctx.deny = {"backpack"}
    await strat.on_tick(0)
    assert strat.arbs == {} and strat.stats["entries"] == 0 and ctx.placed == []
    ctx.deny = set()
    await strat.on_tick(0)
    first = ctx.placed[-1]
    ctx.deny = {"lighter"}
    fill(ctx, strat, first, 10)  # the hedge is refused: nothing sent, still owed
    assert ctx.placed[-1] is first
    ctx.deny = set()
    await strat.on_tick(0)
    hedge = ctx.placed[-1]
    assert (hedge.venue, hedge.side, hedge.sz) == ("lighter", "ask", 100)


def open_arb(ctx: StepContext, strat: Any) -> None:
    """Drive the scripted venues through one complete long-Backpack entry (0.10 SOL, hedged)."""
    entry = ctx.placed[-1]
    fill(ctx, strat, entry, 10)
    hedge = ctx.placed[-1]
    hedge.state, hedge.filled = "filled", hedge.sz
    ctx.pos = {("backpack", "SOL_USDC_PERP"): 10, ("lighter", "SOL"): -100}


async def test_both_legs_close_ahead_of_a_maintenance_window_and_entries_wait_until_it_ends():
    from strategies import cross_arb

    ctx = StepContext()
    ctx.clock = EventClock(at(7, 50))
    params = CrossArbParams(order_size=Decimal("0.10"), maintenance_windows=["08:00-08:30"],
                            maintenance_close_lead_s=120, cooldown_s=0, max_hold_s=3600)
    strat = cross_arb.CrossArb(ctx, params)
    await strat.on_start()
    await strat.on_tick(0)  # ten minutes before the window: trades as usual
    open_arb(ctx, strat)
    await strat.on_tick(0)
    assert strat.arbs["SOL"].state == "open"
    placed = len(ctx.placed)

    await ctx.clock.advance_to(at(7, 58, 30))  # 90 s before the window, inside the 120 s lead: close both legs
    await strat.on_tick(0)
    closes = ctx.placed[placed:]
    assert [(o.venue, o.side, o.sz, o.kind, o.reduce_only) for o in closes] == [
        ("backpack", "ask", 10, "market", True), ("lighter", "bid", 100, "market", True)]
    assert strat.arbs["SOL"].state == "exiting" and strat.arbs["SOL"].exit_reason == "maintenance"
    for o in closes:
        o.state, o.filled = "filled", o.sz
    ctx.pos = {}
    await strat.on_tick(0)
    assert strat.arbs == {} and strat.exits == ["maintenance"]

    for t in (at(7, 59), at(8, 15)):  # the same open spread: no entry just before or inside
        await ctx.clock.advance_to(t)
        await strat.on_tick(0)
        assert len(ctx.placed) == placed + 2, t
    await ctx.clock.advance_to(at(8, 30))  # the window is over
    await strat.on_tick(0)
    assert len(ctx.placed) == placed + 3 and ctx.placed[-1].venue == "backpack"


async def test_a_resting_entry_is_pulled_when_maintenance_approaches():
    from strategies import cross_arb

    ctx = StepContext()
    ctx.clock = EventClock(at(23, 0))
    strat = cross_arb.CrossArb(ctx, CrossArbParams(maintenance_windows=["23:59-00:30"], maintenance_close_lead_s=300,
                                                   maker_fill_timeout_s=3600))
    await strat.on_start()
    await strat.on_tick(0)
    entry = ctx.placed[-1]
    assert entry.venue == "backpack" and entry.state == "open"
    await ctx.clock.advance_to(at(23, 55))  # 4 minutes before the window
    await strat.on_tick(0)
    assert ctx.cancels == [entry.client_id]  # nothing filled: nothing to close, nothing else sent
    assert ctx.placed[-1] is entry
    entry.state = "cancelled"
    await strat.on_tick(0)
    assert strat.arbs == {} and strat.exits == ["maintenance"]


async def test_an_unhedged_leg_is_rebalanced_after_max_unhedged_s_even_with_the_hedge_in_flight():
    from strategies import cross_arb

    ctx = StepContext()
    strat = cross_arb.CrossArb(ctx, CrossArbParams(order_size=Decimal("0.10"), balance_grace_s=0.5, max_unhedged_s=2))
    await strat.on_start()
    await strat.on_tick(0)
    fill(ctx, strat, ctx.placed[-1], 10)
    hedge = ctx.placed[-1]
    assert hedge.venue == "lighter" and hedge.state == "open"  # sent, never answered (e.g. a held request)
    ctx.pos = {("backpack", "SOL_USDC_PERP"): 10}
    for _ in range(4):  # 1.5 s: past the grace, but a hedge is in flight: wait for it
        await strat.on_tick(0)
        await later(ctx, 0.5)
    assert strat.stats["rebalances"] == 0 and ctx.placed[-1] is hedge
    await later(ctx, 0.5)
    await strat.on_tick(0)  # 2 s unhedged: confirmed by the position read and traded away
    fix = ctx.placed[-1]
    assert (fix.venue, fix.side, fix.sz, fix.kind, fix.reduce_only) == ("backpack", "ask", 10, "market", True)
    assert strat.stats["rebalances"] == 1 and strat.arbs["SOL"].state == "exiting"


async def test_a_close_left_unresolved_is_sent_again_soon_and_never_holds_the_exit():
    """A 5xx or a dropped socket leaves the Backpack close unresolved while Lighter's closed: the close is sent
    again after a short pause (reduce-only, so a late first one cannot add exposure), not `exit_retry_s`
    later, and the unresolved order does not count as a close still working."""
    from strategies import cross_arb

    ctx = StepContext()
    strat = cross_arb.CrossArb(ctx, CrossArbParams(order_size=Decimal("0.10"), max_hold_s=5, exit_retry_s=3))
    await strat.on_start()
    await strat.on_tick(0)
    open_arb(ctx, strat)
    await strat.on_tick(0)
    placed = len(ctx.placed)
    await later(ctx, 6)  # held past max_hold_s: both legs closed
    await strat.on_tick(0)
    bp_close, lg_close = ctx.placed[placed:]
    assert (bp_close.venue, lg_close.venue) == ("backpack", "lighter") and bp_close.reduce_only
    bp_close.state = "unresolved"  # no answer
    lg_close.state, lg_close.filled = "filled", lg_close.sz
    ctx.pos = {("backpack", "SOL_USDC_PERP"): 10}
    await later(ctx, 0.1)
    await strat.on_tick(0)
    assert len(ctx.placed) == placed + 2  # not at once
    await later(ctx, 0.2)
    await strat.on_tick(0)
    again = ctx.placed[-1]
    assert len(ctx.placed) == placed + 3
    assert (again.venue, again.side, again.sz, again.reduce_only) == ("backpack", "ask", 10, True)
    await later(ctx, 0.3)  # the new close is working (open): nothing more is sent
    await strat.on_tick(0)
    assert len(ctx.placed) == placed + 3
    again.state, again.filled = "filled", again.sz
    ctx.pos = {}
    await strat.on_tick(0)
    assert strat.arbs == {}  # flat: done, the unresolved first close does not hold it


# --- the simulator's basis, from the config's sim section ---------------------------------------------------
def test_basis_jumps_dislocate_one_venue_and_leave_the_default_stream_unchanged():
    from xtb.sim.clock import VirtualClock
    from xtb.sim.cluster import ClusterConfig
    from xtb.sim.engine import Exchange
    from xtb.sim.generator import FeedConfig, MarketDataGenerator, UnderlyingConfig
    from xtb.sim.types import MarketSpec

    def basis_path(**opts: Any) -> list[float]:
        clock = VirtualClock()
        ex = Exchange(BACKPACK_RULES, clock)
        ex.add_market(MarketSpec(market_id=0, symbol="SOL_USDC_PERP", price_decimals=2, size_decimals=2))
        gen = MarketDataGenerator([UnderlyingConfig("SOL", 150.0)],
                                  [FeedConfig(ex, 0, "SOL", updates_per_s=20, level_size=100, taker_size=50, **opts)],
                                  seed=4, clock=clock)
        out = []
        for _ in range(120):
            gen.advance(1.0)
            out.append(gen.basis_bps(0))
        return out

    assert basis_path() == basis_path(basis_jumps_per_min=0.0, basis_jump_bps=30.0)  # off: same random stream
    calm = basis_path(basis_amplitude_bps=1.0, basis_half_life_s=3.0)
    jumpy = basis_path(basis_amplitude_bps=1.0, basis_half_life_s=3.0, basis_jumps_per_min=3.0, basis_jump_bps=30.0)
    assert max(map(abs, calm)) < 6 and max(map(abs, jumpy)) > 17  # crosses an entry level; calm never does
    assert sum(abs(b) < 3 for b in jumpy) > 40  # and it reverts: most of the time the venue is back in line
    with pytest.raises(ValueError, match="venue_feed_options"):
        ClusterConfig(venue_feed_options={"binance": {}})
    with pytest.raises(ValueError, match="basis_jumps_per_min"):
        basis_path(basis_jumps_per_min=-1.0)


def test_config_sim_section_validates_and_names_the_bad_key():
    from xtb.config import ConfigError

    base = {"strategy": {"name": "cross_arb"}}
    cfg = validate({**base, "sim": {"basis": {"lighter": {"basis_jumps_per_min": 2, "basis_jump_bps": 30}}}})
    assert cfg.sim.feed_options() == {"lighter": {"basis_jumps_per_min": 2.0, "basis_jump_bps": 30.0}}
    assert validate(base).sim.feed_options() == {}  # no section: the simulator's defaults
    for bad, key in (({"basis": {"binance": {}}}, "sim.basis.binance"),
                     ({"basis": {"lighter": {"basis_half_life_s": 0}}}, "sim.basis.lighter.basis_half_life_s"),
                     ({"faults": "sometimes"}, "sim.faults"), ({"speed": 2}, "sim.speed")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            validate({**base, "sim": bad})
