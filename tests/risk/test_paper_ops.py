"""Operations in paper mode (the in-process simulator, real connectors): the kill switch through the control
endpoint and through `xtb kill`, the operator's reducing state, a shock halt that lifts, realized PnL from
fills tripping the stop loss, and the shutdown order."""

import asyncio
import math
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict
from typer.testing import CliRunner

from xtb._core import parse_fixed
from xtb.cli import app
from xtb.config import validate
from xtb.control import ControlClient
from xtb.engine.engine import Engine
from xtb.engine.gateway import OrderDenied
from xtb.engine.registry import register_strategy
from xtb.engine.strategy import Strategy

MARKETS = {"backpack": ("SOL_USDC_PERP", "0.10"), "lighter": ("SOL", "0.100")}
runner = CliRunner()


class IdleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@register_strategy("ops_idle", params=IdleParams)
class Idle(Strategy[IdleParams]):
    """Trades nothing by itself: the tests place orders through its context."""

    async def on_stop(self) -> None:
        self.ctx.engine_calls.append("strategy.on_stop")  # type: ignore[attr-defined]


def config(tmp_path, venues=("backpack",), risk=None, tick_ms=50) -> dict[str, Any]:
    return {
        "general": {"mode": "paper", "tick_interval_ms": tick_ms, "seed": 7, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {v: {"symbols": [MARKETS[v][0]]} for v in venues},
        "strategy": {"name": "ops_idle"},
        "risk": risk or {},
    }


async def started(cfg: dict[str, Any]) -> Engine:
    engine = Engine(validate(cfg), env={})
    await engine.start()
    engine.context.engine_calls = []  # type: ignore[union-attr]
    for _ in range(200):  # books up: at most ~10 s
        if all(engine.context.best_ask(v, MARKETS[v][0]) for v in engine.connectors):
            break
        await asyncio.sleep(0.05)
    return engine


def market_order(engine: Engine, venue: str, side: str, *, reduce_only: bool = False) -> int:
    ctx = engine.context
    symbol, size_text = MARKETS[venue]
    market = ctx.market(venue, symbol)
    size = market.round_sz(parse_fixed(size_text, market.size_decimals))
    ref = ctx.best_ask(venue, symbol) if side == "bid" else ctx.best_bid(venue, symbol)
    worst = market.round_px(ref[0] + ref[0] // 50 if side == "bid" else ref[0] - ref[0] // 50, side)
    ctx.place_market(venue, symbol, side, size, worst_price=worst, reduce_only=reduce_only)
    return size


async def until(cond, limit_s: float = 10.0) -> bool:
    for _ in range(int(limit_s / 0.05)):
        if cond():
            return True
        await asyncio.sleep(0.05)
    return cond()


def position(engine: Engine, venue: str) -> int:
    return engine.positions.get(venue, MARKETS[venue][0]).size


async def test_kill_switch_via_cli_and_endpoint_leaves_every_venue_flat(tmp_path):
    cfg = config(tmp_path, venues=("backpack", "lighter"))
    path = tmp_path / "bot.yaml"
    path.write_text(yaml.safe_dump(cfg))
    engine = await started(cfg)
    try:
        sizes = {v: market_order(engine, v, "bid") for v in MARKETS}
        assert await until(lambda: all(position(engine, v) == sizes[v] for v in MARKETS)), engine.status()

        res = await asyncio.to_thread(runner.invoke, app, ["kill", str(path), "--reason", "test"])
        assert res.exit_code == 0, res.output
        assert "trading halted" in res.output
        assert "backpack: FLAT" in res.output and "lighter: FLAT" in res.output
        assert await until(lambda: all(position(engine, v) == 0 for v in MARKETS))
        with pytest.raises(OrderDenied, match="halted"):  # latched until the operator resumes
            market_order(engine, "backpack", "bid")

        res = await asyncio.to_thread(runner.invoke, app, ["risk", "state", "active", str(path)])
        assert res.exit_code == 0 and "trading active" in res.output, res.output
        market_order(engine, "lighter", "ask")
        assert await until(lambda: position(engine, "lighter") == -sizes["lighter"])

        client = ControlClient.discover(tmp_path / "runs" / "state", env={})
        rep = await client.kill("endpoint")
        assert rep["flat"] and rep["state"] == "halted"
        assert rep["venues"]["lighter"]["before"] == {"SOL": -sizes["lighter"]}
        assert rep["venues"]["backpack"]["before"] == {}
        assert all(r["verified"] and not r["left"] and r["open_orders_left"] == 0 for r in rep["venues"].values())
        assert await until(lambda: position(engine, "lighter") == 0)

        res = await asyncio.to_thread(runner.invoke, app, ["status", str(path), "--json"])
        assert res.exit_code == 0, res.output
        assert '"risk_state": "halted"' in res.output and '"bot"' in res.output
    finally:
        await engine.stop()
    res = await asyncio.to_thread(runner.invoke, app, ["kill", str(path)])
    assert res.exit_code == 3 and "xtb flatten" in res.output  # the bot is gone: no endpoint


async def test_reducing_lets_only_reduce_only_orders_through(tmp_path):
    engine = await started(config(tmp_path))
    try:
        size = market_order(engine, "backpack", "bid")
        assert await until(lambda: position(engine, "backpack") == size)
        client = ControlClient.discover(tmp_path / "runs" / "state", env={})
        await client.set_state("reducing", "test")
        with pytest.raises(OrderDenied, match="reducing_only"):
            market_order(engine, "backpack", "bid")
        with pytest.raises(OrderDenied, match="reducing_only"):
            market_order(engine, "backpack", "ask")  # closes, but not flagged reduce-only
        market_order(engine, "backpack", "ask", reduce_only=True)
        assert await until(lambda: position(engine, "backpack") == 0)
        st = engine.status()
        assert st["orders_denied"] == {"reducing_only": 2} and st["orders_submitted"] == 2
    finally:
        await engine.stop()


async def test_shock_halts_and_the_halt_lifts_after_halt_seconds(tmp_path):
    risk = {"shockPct": 0.01, "shock_window_s": 3, "haltSeconds": 0.5}
    engine = await started(config(tmp_path, risk=risk))
    try:
        assert engine.risk.state == "active"
        books = engine.dispatcher.stats.per_kind
        seen = books["book"]
        assert await until(lambda: books["book"] >= seen + 5)  # the detector has pre-jump prices
        gen = engine.sim.generator
        gen._underlyings["SOL"].log_price += math.log(1.05)  # the fair value jumps 5 %
        assert await until(lambda: engine.risk.state == "halted", 5.0), engine.status()
        assert "shock: SOL moved" in engine.status()["risk_reason"]
        with pytest.raises(OrderDenied, match="halted"):
            market_order(engine, "backpack", "bid")
        await engine.sim.stop_generator()  # the market settles: no further shock extends the halt
        halted_until = engine.status()["risk_until"]
        assert await until(lambda: engine.risk.state == "active", 3.0), engine.status()
        assert engine.risk.machine.since >= halted_until  # lifted by the cooldown, not earlier
        assert "cooldown over" in engine.status()["risk_reason"]
        market_order(engine, "backpack", "bid")  # trading again
    finally:
        await engine.stop(flatten=True)


async def test_realized_loss_from_fills_trips_the_stop_loss(tmp_path):
    # A tick far away: no mark-to-market, so only the realized PnL of the fills can move the guard.
    engine = await started(config(tmp_path, risk={"stopLoss": -1e-9}, tick_ms=600_000))
    try:
        market_order(engine, "backpack", "bid")  # a round trip through the spread: a realized loss
        market_order(engine, "backpack", "ask")
        assert await until(lambda: engine.risk.state == "halted"), engine.status()
        await until(lambda: engine.status()["risk_pnl_realized"] < 0 and not engine.tracker.open_orders())
        st = engine.status()
        assert "stop_loss" in st["risk_reason"] and st["risk_until"] is None
        assert st["risk_pnl_unrealized"] == 0.0
        # the realized PnL is what the two fills say: (sell avg - buy avg) x size - fees
        buy, sell = sorted((o for o in engine.tracker.open_orders() + _done(engine)), key=lambda o: o.client_id)
        scale = 10 ** 4  # SOL_USDC_PERP: 2 price + 2 size decimals
        fees = engine.pnl.snapshot()["backpack:SOL_USDC_PERP"]["fees"]
        expected = (sell.avg_px - buy.avg_px) * sell.filled / scale - fees
        assert st["risk_pnl_realized"] == pytest.approx(expected) and expected < 0
    finally:
        await engine.stop(flatten=True)


def _done(engine: Engine) -> list[Any]:
    return [o for cid in range(1, 1 << 12) if (o := engine.tracker.get(cid, "backpack")) is not None]


async def test_shutdown_order_strategy_cancel_flatten_connectors(tmp_path):
    engine = await started(config(tmp_path))
    calls = engine.context.engine_calls
    conn = engine.connectors["backpack"]
    for name, obj in (("cancel_all", engine), ("flatten", engine), ("stop", conn)):
        orig = getattr(obj, name)

        async def wrapped(*a, _orig=orig, _name=name, **kw):
            calls.append(_name)
            return await _orig(*a, **kw)

        setattr(obj, name, wrapped)
    size = market_order(engine, "backpack", "bid")
    assert await until(lambda: position(engine, "backpack") == size)
    bid = engine.context.best_bid("backpack", "SOL_USDC_PERP")
    engine.context.place_limit("backpack", "SOL_USDC_PERP", "bid", bid[0] - bid[0] // 20, size, post_only=True)
    assert await until(lambda: len(engine.tracker.open_orders()) == 1)
    state_dir = tmp_path / "runs" / "state"
    assert (state_dir / "control.json").exists()
    await engine.stop(flatten=True)
    assert calls[:4] == ["strategy.on_stop", "cancel_all", "flatten", "stop"]
    assert set(calls[4:]) <= {"stop"}  # close() may stop again: idempotent
    assert not engine.tracker.open_orders()
    assert not (state_dir / "control.json").exists()  # the endpoint went first
    st = engine.status()
    assert st["state"] == "stopped"
