"""The judge against a real simulator (no generator: the test makes every trade), one invariant at a time:
a clean round trip passes, and each kind of damage is named."""

from __future__ import annotations

import json
import logging
import time
from fractions import Fraction
from typing import Any

import pytest

from xtb.chaos.judge import BotRecord, LogWatch, RunFacts, SimLedger, judge
from xtb.engine.settle import ExitReport
from xtb.sim.backpack.dialect import MARKETS as BACKPACK_MARKETS
from xtb.sim.cluster import ClusterConfig, SimCluster
from xtb.sim.lighter.dialect import MARKETS as LIGHTER_MARKETS
from xtb.sim.types import OrderRequest, Side

SOL_BP = next(m for m in BACKPACK_MARKETS if m.symbol == "SOL_USDC_PERP")
SOL_LG = next(m for m in LIGHTER_MARKETS if m.symbol == "SOL")


@pytest.fixture
async def sim():
    cluster = SimCluster(ClusterConfig(generate=False, backpack_markets=(SOL_BP,), lighter_markets=(SOL_LG,)))
    async with cluster:
        yield cluster


def _bot(sim: Any, venue: str) -> int:
    ex = sim.venues[venue].exchange
    return ex.create_account(10**6 * 10**ex.rules.cash_decimals)


def _fill(sim: Any, venue: str, account: int, side: Side, qty: int, px: int, cid: int, record: BotRecord | None,
          trade_ids: list[int]) -> None:
    """A resting order of the bot, filled by the simulator's sweep account; the bot records the fill."""
    ex = sim.venues[venue].exchange
    market = SOL_BP.market_id if venue == "backpack" else SOL_LG.market_id
    symbol = SOL_BP.symbol if venue == "backpack" else SOL_LG.symbol
    before = len(trade_ids)
    unsub = ex.subscribe(lambda ev: trade_ids.append(ev.fill.trade_id)
                         if type(ev).__name__ == "FillEvent" and ev.fill.account == account else None)
    ex.place_order(OrderRequest(account, market, side, qty, px, client_id=cid))
    sim.sweep(venue, symbol, "sell" if side is Side.BUY else "buy", qty, px)
    unsub()
    if record is not None:
        for tid in trade_ids[before:]:
            record.fills.append((venue, cid, tid, qty))


def _facts(ledger: SimLedger, record: BotRecord, *, pnl: float | None = None, **kw: Any) -> RunFacts:
    ledger.snapshot()
    facts = RunFacts(ledger=ledger, record=record, logs=kw.pop("logs", LogWatch()),
                     exit_report=kw.pop("exit_report", ExitReport(agreed=True)), **kw)
    if pnl is not None:
        facts.pnl = {"risk": pnl}
    return facts


def _round_trip(sim: Any, record: BotRecord | None, trade_ids: list[int]) -> int:
    acct = _bot(sim, "backpack")
    _fill(sim, "backpack", acct, Side.BUY, 10, 15_000, 1, record, trade_ids)
    _fill(sim, "backpack", acct, Side.SELL, 10, 15_010, 2, record, trade_ids)
    return acct


async def test_a_clean_round_trip_passes(sim):
    ledger, record = SimLedger(sim), BotRecord()
    acct = _bot(sim, "backpack")
    ledger.start_cash()
    trades: list[int] = []
    _fill(sim, "backpack", acct, Side.BUY, 10, 15_000, 1, record, trades)
    _fill(sim, "backpack", acct, Side.SELL, 10, 15_010, 2, record, trades)
    cash = _facts(ledger, record).ledger.exit["cash_change"]
    # 0.1 SOL bought at 150.00 and sold at 150.10: +0.01 USDC before the simulator's maker fees
    assert Fraction(0) < cash < Fraction("0.01")
    assert judge(_facts(ledger, record, pnl=float(cash))) == []


async def test_a_fill_the_bot_never_recorded_or_recorded_twice_is_named(sim):
    ledger, record = SimLedger(sim), BotRecord()
    trades: list[int] = []
    _round_trip(sim, record, trades)
    lost = record.fills.pop()
    names = {v.invariant for v in judge(_facts(ledger, record))}
    assert "fills" in names and "duplicate" not in names
    record.fills.extend([lost, lost])
    ledger.exit = {}
    names = {v.invariant for v in judge(_facts(ledger, record))}
    assert {"fills", "duplicate"} <= names


async def test_pnl_off_by_more_than_a_notional_unit_per_fill_is_named(sim):
    ledger, record = SimLedger(sim), BotRecord()
    ledger.start_cash()
    trades: list[int] = []
    _round_trip(sim, record, trades)
    cash = float(_facts(ledger, record).ledger.exit["cash_change"])
    assert judge(_facts(ledger, record, pnl=cash + 0.0001)) == []  # two fills: 2 units of 0.0001 USDC
    [v] = judge(_facts(ledger, record, pnl=cash + 0.0095))
    assert v.invariant == "pnl" and "risk" in v.detail


async def test_a_position_left_must_be_reported_not_flat(sim):
    ledger, record = SimLedger(sim), BotRecord()
    acct = _bot(sim, "backpack")
    trades: list[int] = []
    _fill(sim, "backpack", acct, Side.BUY, 10, 15_000, 1, record, trades)
    [v] = judge(_facts(ledger, record))
    assert v.invariant == "flat" and "SOL_USDC_PERP" in v.detail
    loud = ExitReport(positions={"backpack": {"SOL_USDC_PERP": 10}})
    assert judge(_facts(ledger, record, exit_report=loud)) == []  # said so: a non-zero exit that says why


async def test_a_false_not_flat_is_named(sim):
    ledger, record = SimLedger(sim), BotRecord()
    wrong = ExitReport(positions={"backpack": {"SOL_USDC_PERP": 10}})
    [v] = judge(_facts(ledger, record, exit_report=wrong))
    assert v.invariant == "flat" and "venues are flat" in v.detail


async def test_orders_open_at_exit_and_false_unresolved_are_named(sim):
    ledger, record = SimLedger(sim), BotRecord()
    acct = _bot(sim, "backpack")
    sim.venues["backpack"].exchange.place_order(
        OrderRequest(acct, SOL_BP.market_id, Side.BUY, 10, 14_000, client_id=7))
    names = [v.invariant for v in judge(_facts(ledger, record, tracker_unresolved=[("backpack", 7)]))]
    assert names == ["open_orders"]  # unresolved while the venue has it open: not a false unresolved
    ledger.exit = {}
    names = [v.invariant for v in judge(_facts(ledger, record, tracker_unresolved=[("backpack", 8)]))]
    assert names == ["open_orders", "unresolved"]


async def test_unhedged_time_across_venues_is_measured_from_the_venue_events(sim):
    ledger, record = SimLedger(sim), BotRecord()
    bp, lg = _bot(sim, "backpack"), _bot(sim, "lighter")
    trades: list[int] = []
    _fill(sim, "backpack", bp, Side.BUY, 10, 15_000, 1, record, trades)  # +0.1 SOL
    time.sleep(0.2)
    _fill(sim, "lighter", lg, Side.SELL, 100, 150_000, 2, record, trades)  # -0.1 SOL: hedged
    assert 0.2 <= ledger.longest_unhedged["SOL"] < 1.0
    _fill(sim, "backpack", bp, Side.SELL, 10, 15_000, 3, record, trades)
    _fill(sim, "lighter", lg, Side.BUY, 100, 150_000, 4, record, trades)
    names = [v.invariant for v in judge(_facts(ledger, record, unhedged_bound_s=0.1))]
    assert names == ["unhedged"]
    ledger.exit = {}
    assert judge(_facts(ledger, record, unhedged_bound_s=1.0)) == []


async def test_a_traceback_in_the_log_is_named(sim):
    ledger, record, watch = SimLedger(sim), BotRecord(), LogWatch()
    logger = logging.getLogger("test.judge")
    logger.addHandler(watch)
    try:
        logger.warning("plain warning")
        sim_logger = logging.getLogger("xtb.sim.lighter.server")  # the simulator's own log is not the bot's
        sim_logger.addHandler(watch)
        try:
            raise ConnectionResetError("closing transport")
        except ConnectionResetError:
            sim_logger.exception("GET /stream failed")
        finally:
            sim_logger.removeHandler(watch)
        assert judge(_facts(ledger, record, logs=watch)) == []
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("callback failed")
    finally:
        logger.removeHandler(watch)
    ledger.exit = {}
    [v] = judge(_facts(ledger, record, logs=watch))
    assert v.invariant == "traceback" and "boom" in v.detail


def test_report_exits_non_zero_when_a_run_did_not_start(tmp_path):
    """A run that never started tested nothing: the campaign's page says so and its exit code is 1, even with no
    invariant violated (a whole campaign of runs that could not start must not read as clean)."""
    from typer.testing import CliRunner

    from xtb.chaos.__main__ import app
    from xtb.chaos.runner import Result

    clean = Result(name="cross_arb_sol-flaky-1", fills=3, exit_flat=True)
    idle = Result(name="cross_arb_sol-flaky-2", start_failed="TimeoutError: backpack connector not ready")
    for rows, code in (([clean], 0), ([clean, idle], 1)):
        verdicts = tmp_path / f"runs{code}.json"
        verdicts.write_text(json.dumps([r.__dict__ for r in rows], default=str))
        res = CliRunner().invoke(app, ["report", "--json", str(verdicts), "--out", str(tmp_path / "page.md")])
        assert res.exit_code == code, res.output
        assert f"{len(rows) - 1 if code else 0} did not start" in res.output
