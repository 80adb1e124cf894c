"""The z-score monitor on the Lighter ↔ Aster pair in paper mode (configs/zscore_lighter_aster.yaml): the
shipped config validates; with the cross-venue basis driven by the test, reminder mode signals without
orders and auto mode trades both legs (Aster's V3-signed by a simulated API wallet) and unwinds flat."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from paper_helpers import quiet_engine, user_positions, wait_for

from xtb.config import validate
from xtb.engine.engine import Engine

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "zscore_lighter_aster.yaml"
VENUES = ("lighter", "aster")


class CaptureSink:
    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, Any]]] = []

    def record(self, table: str, row: Mapping[str, Any]) -> None:
        self.rows.append((table, dict(row)))

    def gauge(self, name: str, value: float, labels: Mapping[str, str]) -> None:
        pass

    def table(self, name: str) -> list[dict[str, Any]]:
        return [r for t, r in self.rows if t == name]


def pair_config(tmp_path: Any, **params: Any) -> dict[str, Any]:
    """The shipped config with test timings (a 3 s window, a std floor) and the run's files under tmp_path."""
    raw = yaml.safe_load(CONFIG.read_text())
    raw["general"].update(log_dir=str(tmp_path / "logs"), run_dir=str(tmp_path / "runs"), tick_interval_ms=50,
                          seed=6)  # fmt: skip
    raw["strategy"]["params"].update({"sample_interval_ms": 100, "lookback_secs": 3.0, "min_samples": 20,
                                      "min_std": 0.05, "min_hold_secs": 0.5, "min_reentry_secs": 60,
                                      "stop_z": 10.0, **params})  # fmt: skip
    return raw


def engine_for(config: dict[str, Any]) -> Engine:
    """SOL only, calm, no random basis: the basis the test sets is what moves the spread."""
    return quiet_engine(validate(config), venues=VENUES, calm_sol=True, basis_amplitude_bps=0.0,
                        basis_half_life_s=1e9)  # fmt: skip


def set_basis(engine: Engine, venue: str, symbol: str, bps: float) -> None:
    ex = engine.sim.venues[venue].exchange
    market = next(m.market_id for m in ex.markets if m.symbol == symbol)
    gen = engine.sim.generator
    gen.set_basis_bps(gen.feed_index(ex, market), bps)


async def round_trip(engine: Engine, on_open: Any = None) -> None:
    strat = engine.strategy
    assert await wait_for(lambda: strat.pairs[0].last.get("z") is not None, 5)  # warmed up
    await asyncio.sleep(0.3)
    assert strat.signals == []  # a quiet basis: no signal
    set_basis(engine, "lighter", "SOL", 20.0)  # A (Lighter) 20 bps rich
    assert await wait_for(lambda: len(strat.signals) >= 1, 4)
    if on_open is not None:
        await on_open()
    assert await wait_for(lambda: len(strat.signals) >= 2, 6)  # the window absorbs the new level: z decays


def test_shipped_config_is_the_lighter_aster_pair() -> None:
    cfg = validate(yaml.safe_load(CONFIG.read_text()))
    assert set(cfg.venues) == set(VENUES) and cfg.general.mode == "paper"
    (pair,) = cfg.strategy.params["pairs"]
    assert (pair["venue_a"], pair["symbol_a"], pair["venue_b"], pair["symbol_b"]) == ("lighter", "SOL", "aster",
                                                                                      "SOLUSDT")  # fmt: skip
    assert cfg.strategy.params["mode"] == "reminder"


async def test_reminder_mode_signals_on_lighter_aster_without_orders(tmp_path: Any) -> None:
    engine = engine_for(pair_config(tmp_path, mode="reminder"))
    await engine.start()
    sink = CaptureSink()
    engine.context.sink = sink
    try:
        await round_trip(engine)
        status = engine.status()
        venues = user_positions(engine.sim)
    finally:
        await engine.stop()
    enter, exit_ = sink.table("signals")[:2]
    assert enter["action"] == "enter_short_a" and enter["z"] >= 2.0 and enter["mode"] == "reminder"
    assert exit_["action"] == "exit" and abs(exit_["z"]) <= 0.5
    assert status["orders_submitted"] == 0 and venues == {"lighter": [], "aster": []}
    warm = [r for r in sink.table("spreads") if r["z"] is not None]
    assert abs(warm[-1]["spread"] - 0.30) < 0.06  # 20 bps of ~150


async def test_auto_mode_trades_both_legs_and_unwinds_flat(tmp_path: Any) -> None:
    engine = engine_for(pair_config(tmp_path, mode="auto"))
    await engine.start()
    sink = CaptureSink()
    engine.context.sink = sink
    strat = engine.strategy
    held: dict[str, list[int]] = {}

    async def check_open() -> None:
        assert await wait_for(lambda: strat.pairs[0].phase == "open", 4)
        held.update(user_positions(engine.sim))

    try:
        await round_trip(engine, check_open)
        assert await wait_for(lambda: strat.pairs[0].phase == "idle", 4)
        venues = user_positions(engine.sim)
        aster_requests = dict(engine.sim.venues["aster"].server.requests)
    finally:
        await engine.stop()
    assert [s["action"] for s in sink.table("signals")[:2]] == ["enter_short_a", "exit"]
    (lg,), (ast,) = held["lighter"], held["aster"]  # 500 USDC a leg: ~3.33 SOL short Lighter, long Aster
    assert lg < 0 < ast and abs(-lg - 10 * ast) < 10  # the same SOL quantity within one Aster step (0.01)
    assert 320 <= ast <= 334
    assert venues == {"lighter": [], "aster": []}
    assert strat.stats["failed_entries"] == 0
    assert aster_requests.get("/fapi/v3/order", 0) >= 2 and aster_requests.get("/fapi/v1/order", 0) == 0
