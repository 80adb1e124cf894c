"""One composition root (xtb.engine.runtime) and several strategy instances on one account."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from xtb.config import validate
from xtb.engine.engine import Engine
from xtb.engine.runtime import SharedAccountContext
from xtb.preflight import ConfigError, check_strategy


def two_smoke_tests(tmp_path: Path, **second: object) -> object:
    return validate({
        "general": {"mode": "paper", "tick_interval_ms": 100, "seed": 7, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {"backpack": {"symbols": ["SOL_USDC_PERP", "ETH_USDC_PERP"]}},
        "strategy": {"name": "smoke_test", "params": {"venue": "backpack", "symbol": "SOL_USDC_PERP"}},
        "strategies": [{"name": "smoke_test", "id": "smoke-eth",
                        "params": {"venue": "backpack", "symbol": "ETH_USDC_PERP", "size": "0.01", **second}}],
    })


async def test_two_instances_share_one_account_and_keep_to_their_own_orders(tmp_path: Path) -> None:
    eng = Engine(two_smoke_tests(tmp_path))  # type: ignore[arg-type]
    await eng.start()
    sol, eth = eng.strategies
    seen_by: dict[str, set[str]] = {"smoke_test": set(), "smoke-eth": set()}
    try:
        for _ in range(150):  # bounded: each smoke test is done in about 2 s
            for s in eng.strategies:
                seen_by[s.ctx.name] |= {o.symbol for o in s.ctx.open_orders("backpack")}
            if sol.step == eth.step == "done":
                break
            await asyncio.sleep(0.05)
    finally:
        await eng.stop()
    assert (sol.step, eth.step) == ("done", "done")
    assert isinstance(sol.ctx, SharedAccountContext) and sol.ctx.clock is eth.ctx.clock
    # one tracker, one gateway, one risk guard for both; each instance saw only its own working orders
    assert sol.ctx._gateway is eth.ctx._gateway and eng.risk is not None
    assert seen_by == {"smoke_test": {"SOL_USDC_PERP"}, "smoke-eth": {"ETH_USDC_PERP"}}
    assert eng.exit_report is not None and eng.exit_report.flat
    assert eng.status()["strategy_instances"] == ["smoke_test", "smoke-eth"]


def test_an_instance_with_bad_params_is_named_by_its_key(tmp_path: Path) -> None:
    cfg = two_smoke_tests(tmp_path, offset_bps=-1)
    with pytest.raises(ConfigError, match=r"strategies\.0\.params\.offset_bps"):
        check_strategy(cfg)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"strategies\.0\.params\.offset_bps"):
        asyncio.run(Engine(cfg).start())  # type: ignore[arg-type]
