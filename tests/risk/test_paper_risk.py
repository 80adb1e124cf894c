"""The guard inside the real Engine in paper mode: the net cap refuses the order that would breach it."""

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from xtb._core import parse_fixed
from xtb.config import ConfigError, validate
from xtb.engine.engine import Engine
from xtb.engine.gateway import OrderDenied
from xtb.engine.registry import register_strategy
from xtb.engine.strategy import Strategy

VENUE, SYMBOL = "backpack", "SOL_USDC_PERP"


class ProbeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: str = "0.10"
    buys: int = 3


@register_strategy("risk_probe", params=ProbeParams)
class RiskProbe(Strategy[ProbeParams]):
    """Buys `size` at market, waits for the position, repeats `buys` times; records what risk denied."""

    def __init__(self, ctx: Any, params: ProbeParams) -> None:
        super().__init__(ctx, params)
        self.sent = 0
        self.expected = 0
        self.denied: list[str] = []

    async def on_tick(self, now_ms: int) -> None:
        ctx = self.ctx
        if self.sent >= self.params.buys or self.denied or ctx.position(VENUE, SYMBOL) != self.expected:
            return
        market = ctx.market(VENUE, SYMBOL)
        ask = ctx.best_ask(VENUE, SYMBOL)
        if ask is None:
            return
        size = market.round_sz(parse_fixed(self.params.size, market.size_decimals))
        worst = market.round_px(ask[0] + ask[0] // 100, "ask")
        try:
            ctx.place_market(VENUE, SYMBOL, "bid", size, worst_price=worst)
        except OrderDenied as e:
            self.denied.append(e.reason)
            return
        self.sent += 1
        self.expected += size


def config(tmp_path, risk: dict) -> dict:
    return {
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 7, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {VENUE: {"symbols": [SYMBOL]}},
        "strategy": {"name": "risk_probe", "params": {"size": "0.10", "buys": 3}},
        "risk": risk,
    }


async def test_net_cap_refuses_the_breaching_order_in_paper_mode(tmp_path):
    risk = {"netMax": 0.25, "singleMax": 0.2, "shockPct": 0.5, "priceBandBps": 200}
    engine = Engine(validate(config(tmp_path, risk)))
    await engine.start()
    try:
        for _ in range(300):  # bounded: at most ~15 s
            if engine.strategy.denied:
                break
            await asyncio.sleep(0.05)
        status = engine.status()
    finally:
        await engine.stop(flatten=True)
    assert engine.strategy.denied == ["net_max"], status
    assert engine.strategy.sent == 2
    assert status["positions"] == {f"{VENUE}:{SYMBOL}": "0.2 SOL"}  # the third buy never left
    assert status["orders_submitted"] == 2
    assert status["orders_denied"] == {"net_max": 1}
    assert status["risk_denied"] == {"net_max": 1} and status["risk_net"] == {"SOL": 0.2}
    assert status["risk_state"] == "active"


async def test_bad_risk_section_fails_before_anything_starts(tmp_path):
    with pytest.raises(ConfigError, match=r"risk\.netMax"):
        Engine(validate(config(tmp_path, {"netMax": "a lot"})))


async def test_drawdown_band_reduces_the_position_in_paper_mode(tmp_path):
    risk = {"netMax": 1.0, "drawdownBands": [5, 8], "reduceFractions": [0.25, 0.5], "reduceMode": "taker",
            "reduceOnlyMaxSlippagePct": 0.01}
    cfg = config(tmp_path, risk)
    cfg["strategy"]["params"] = {"size": "0.10", "buys": 2}
    engine = Engine(validate(cfg))
    await engine.start()
    try:
        for _ in range(300):
            if engine.positions.get(VENUE, SYMBOL).size == 20:
                break
            await asyncio.sleep(0.05)
        assert engine.strategy.sent == 2
        engine.risk.on_pnl(0.0, -6.0)  # enters the first band: close 25 % of 0.20 SOL
        for _ in range(300):
            if engine.positions.get(VENUE, SYMBOL).size == 15:
                break
            await asyncio.sleep(0.05)
        status = engine.status()
    finally:
        await engine.stop(flatten=True)
    assert status["positions"] == {f"{VENUE}:{SYMBOL}": "0.15 SOL"}, status
    assert status["risk_reduce_requests"] == 1 and status["orders_submitted"] == 3
