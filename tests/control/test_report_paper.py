"""`xtb report` on paper runs of cross_arb and zscore_monitor: the traded pairs' spreads (the same asset
across venues, never ETH against SOL), one price panel per asset, PnL labelled gross / fees / net and equal
to the strategy's and telemetry's figures."""

from __future__ import annotations

import asyncio

import pytest
from panel_helpers import paper_config, start_paper, until

from xtb.journal.report import pnl_summary, read_sqlite, traded_pairs, write_report


async def test_cross_arb_report_pnl_matches_strategy_and_telemetry(tmp_path):
    cfg = paper_config(tmp_path, "cross_arb", params={
        "entry_threshold_bps": -100, "take_profit_bps": 1000, "cooldown_s": 0.5, "max_hold_s": 5})
    cfg["control"]["panel"] = False
    engine = await start_paper(cfg)
    # no web panel: the desk (alerts, notifications) runs all the same
    assert engine.control.panel is None and engine.control.desk is not None
    try:
        assert await until(lambda: engine.strategy.stats["round_trips"] >= 2, 40), engine.strategy.status()
    finally:
        await engine.stop()
    run = engine.run_path
    strategy_net = float(engine.strategy.realized_pnl)  # every round trip's cash after fees
    gross, unrealized, fees = engine.telemetry.pnl()
    assert unrealized == 0 and all(p.size == 0 for _, p in engine.positions.items())  # flat at exit
    # telemetry keeps money in whole notional units per fill (1e-6 USDC on Lighter SOL), the strategy exact
    # fractions: they agree to a few units per fill
    assert gross - fees == pytest.approx(strategy_net, abs=1e-4)

    written = write_report(run)
    md = written["report"].read_text()
    pnl = pnl_summary(read_sqlite(run / "records.sqlite"))
    assert pnl is not None and pnl.net == pytest.approx(strategy_net, abs=1e-4)
    assert pnl.gross == pytest.approx(gross, abs=1e-9) and pnl.fees == pytest.approx(fees, abs=1e-9)
    assert f"| gross (realized, before fees) | {gross:.4f} |" in md
    assert f"| fees | {fees:.4f} |" in md and f"| **net** (gross - fees + unrealized) | **{gross - fees:.4f}** |" in md
    assert "| win rate" in md and "| max drawdown of net PnL |" in md and "| Sharpe" in md
    # the pairs traded: SOL and ETH, each across the two venues
    pairs = traded_pairs(run, None)
    assert pairs == [("ETH", "backpack:ETH_USDC_PERP", "lighter:ETH"), ("SOL", "backpack:SOL_USDC_PERP", "lighter:SOL")]
    assert {"spread_1", "spread_2", "price", "pnl"} <= set(written)
    assert "ETH_USDC_PERP vs backpack:SOL" not in md


async def test_zscore_report_has_the_pair_bands_and_markers(tmp_path):
    cfg = paper_config(tmp_path, "zscore_monitor", params={
        "enter_z_high": 0.8, "exit_z_low": 0.2, "stop_z": 50, "min_samples": 5, "min_hold_secs": 0.5,
        "min_reentry_secs": 0.5, "min_liquidity_usd": 0})
    cfg["control"]["panel"] = False
    engine = await start_paper(cfg)
    try:
        assert await until(lambda: len(engine.strategy.signals) >= 2, 30)
        await asyncio.sleep(0.6)  # the recorder's flush
    finally:
        await engine.stop()
    run = engine.run_path
    records = read_sqlite(run / "records.sqlite")
    assert records["signals"] and records["spreads"]
    assert traded_pairs(run, None) == [("SOL", "backpack:SOL_USDC_PERP", "lighter:SOL")]
    written = write_report(run)
    assert "spread_1" in written and "spread_2" not in written
    md = written["report"].read_text()
    assert "## Spread 1" in md and "## PnL (quote units)" in md
