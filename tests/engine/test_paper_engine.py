"""The engine end to end in paper mode: the in-process simulator, real connectors, the core, a strategy."""

import asyncio

import pytest

from xtb.config import validate
from xtb.engine.engine import Engine

VENUES = {
    "backpack": ("SOL_USDC_PERP", "0.10"),
    "lighter": ("SOL", "0.100"),
}


def smoke_config(venue: str, tmp_path) -> dict:
    symbol, size = VENUES[venue]
    return {
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 7, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {venue: {"symbols": [symbol]}},
        "strategy": {"name": "smoke_test", "params": {"venue": venue, "symbol": symbol, "size": size}},
    }


@pytest.mark.parametrize("venue", sorted(VENUES))
async def test_smoke_strategy_walks_every_step_and_ends_flat(venue, tmp_path):
    engine = Engine(validate(smoke_config(venue, tmp_path)))
    await engine.start()
    try:
        for _ in range(300):  # bounded: at most ~15 s
            if engine.strategy.step in ("done", "failed"):
                break
            await asyncio.sleep(0.05)
        status = engine.status()
    finally:
        await engine.stop()
    assert status["smoke_test_step"] == "done", status
    assert status["smoke_test_steps"] == ["wait_open", "wait_cancel", "wait_fill", "wait_position", "wait_flat", "done"]
    assert status["unresolved_orders"] == 0 and status["open_orders"] == 0
    assert all(text.split()[0] == "0" for text in status["positions"].values())
    assert engine.status()["state"] == "stopped"


async def test_bad_strategy_params_fail_before_anything_starts(tmp_path):
    cfg = smoke_config("backpack", tmp_path)
    cfg["strategy"]["params"]["offset_bps"] = "wide"
    engine = Engine(validate(cfg))
    with pytest.raises(ValueError, match=r"strategy\.params\.offset_bps"):
        await engine.start()
    assert engine.sim is None and not engine.connectors
