"""Cross-venue arbitrage with GRVT in paper mode: the two shipped configs (Backpack <-> GRVT, GRVT <-> Lighter)
trade by themselves against the simulator, with no keys, and stop flat; the strategy's PnL is the venues'
cash change."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from paper_helpers import user_cash_usdc, user_positions, wait_for

from strategies.cross_arb import CrossArb
from xtb.config import load_config
from xtb.engine.engine import Engine

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("config", "maker", "hedge"), [
    ("cross_arb_backpack_grvt.yaml", "backpack", "grvt"),
    ("cross_arb_lighter_grvt.yaml", "grvt", "lighter"),
])
async def test_grvt_paper_config_completes_a_round_trip_and_stops_flat(tmp_path, config, maker, hedge):
    cfg = load_config(ROOT / "configs" / config, env={},
                      sets=[f"general.log_dir={tmp_path / 'logs'}", f"general.run_dir={tmp_path / 'runs'}"])
    assert cfg.strategy.params["entry_threshold_bps"] >= 10  # the demo does not trade on a lowered threshold
    engine = Engine(cfg)
    await engine.start()
    sim, strat = engine.sim, engine.strategy
    assert isinstance(strat, CrossArb) and (strat.maker_venue, strat.hedge_venue) == (maker, hedge)
    cash_before = user_cash_usdc(sim)
    try:
        # the seeded basis jumps open a spread within seconds; slack for a loaded CI
        assert await wait_for(lambda: strat.stats["round_trips"] >= 1, 40), engine.status()
    finally:
        await engine.stop()
    status = engine.status()
    assert strat.stats["failures"] == 0 and strat.stats["rebalances"] == 0, status
    assert user_positions(sim) == {maker: [], hedge: []}
    # every fill on the pairs' markets, fees included, is what the venues booked (flat at the end), up to the
    # fee rounding: a fee is counted in its market's notional units (Backpack SOL: 10^-4 USDC per fill)
    venue_pnl = user_cash_usdc(sim) - cash_before
    fills = strat.stats["round_trips"] * 4 + 4
    assert abs(strat.session_cash - venue_pnl) <= Fraction(fills, 2 * 10**4), \
        (float(strat.session_cash), float(venue_pnl))
    assert not engine.tracker.open_orders(maker, None) and not engine.tracker.open_orders(hedge, None)
