"""Flatten on the real paper stack: the engine's connectors only (no strategy), the in-process simulator.

Each venue gets an open position (a taker order through the connector) and a resting order far from the
touch; flatten must cancel the order, close the position reduce-only and verify both at the venue.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from xtb.config import validate
from xtb.engine.engine import Engine
from xtb.engine.flatten import VenueFlatten
from xtb.model.types import OrderKind, OrderRequest, Side, SubmitOutcome, TimeInForce

SYMBOLS = {"backpack": "SOL_USDC_PERP", "lighter": "SOL"}


def paper_config(tmp_path: Path, venues: dict[str, str]) -> Any:
    return validate({
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 11, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs"), "lock_dir": str(tmp_path / "locks")},
        "venues": {v: {"symbols": [s]} for v, s in venues.items()},
        "strategy": {"name": "smoke_test", "params": {}},  # not started by start_venues
    })


async def wait_until(cond: Any, what: str, timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.05)):  # bounded
        if await cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def open_position_and_resting_order(engine: Engine, venue: str, symbol: str) -> int:
    conn = engine.connectors[venue]
    m = conn.markets()[symbol]
    bid, ask = conn.top_of_book(symbol)
    assert bid is not None and ask is not None
    size = max(m.min_size, m.step * 10)
    while m.notional(ask[0], size) < m.min_notional:
        size += m.step
    buy = OrderRequest(engine._next_client_id(venue), symbol, Side.BID, size, kind=OrderKind.MARKET,
                       price=m.round_px(ask[0] * 102 // 100, Side.ASK), tif=TimeInForce.IOC)
    assert (await conn.submit(buy)).outcome is not SubmitOutcome.REJECTED

    async def has_position() -> bool:
        return (await conn.positions()).get(symbol) is not None

    await wait_until(has_position, f"a {venue} position")
    rest_px = m.round_px(bid[0] * 80 // 100, Side.BID)  # far below the touch: it rests
    rest = OrderRequest(engine._next_client_id(venue), symbol, Side.BID, size, price=rest_px)
    assert (await conn.submit(rest)).outcome is SubmitOutcome.ACCEPTED
    assert len(conn.open_orders(symbol)) == 1
    return (await conn.positions())[symbol].size  # type: ignore[no-any-return]


@pytest.mark.parametrize("venue", sorted(SYMBOLS))
async def test_flatten_cancels_closes_and_verifies(venue: str, tmp_path: Path) -> None:
    engine = Engine(paper_config(tmp_path, {venue: SYMBOLS[venue]}))
    await engine.start_venues()
    try:
        assert engine.strategy is None and engine.status()["state"] == "running"
        held = await open_position_and_resting_order(engine, venue, SYMBOLS[venue])
        assert held > 0
        reports = await engine.flatten_report(settle_s=0.3)
        after = await engine.connectors[venue].positions()
        resting = engine.connectors[venue].open_orders()
    finally:
        await engine.stop(cancel_orders=False)
    rep = reports[venue]
    assert isinstance(rep, VenueFlatten)
    assert rep.before == {SYMBOLS[venue]: held}
    assert rep.orders_sent >= 1 and rep.verified and rep.errors == []
    assert rep.left == {} and rep.open_orders_left == 0 and rep.flat
    assert after == {} and resting == []
    assert engine.status()["state"] == "stopped"


async def test_flatten_with_nothing_open_sends_nothing(tmp_path: Path) -> None:
    engine = Engine(paper_config(tmp_path, SYMBOLS))
    await engine.start_venues(["backpack"])  # a subset of the enabled venues
    try:
        assert list(engine.connectors) == ["backpack"]
        reports = await engine.flatten_report(settle_s=0.1)
    finally:
        await engine.stop(cancel_orders=False)
    assert list(reports) == ["backpack"]
    assert reports["backpack"].flat and reports["backpack"].orders_sent == 0 and reports["backpack"].before == {}


async def test_start_venues_refuses_an_unknown_venue(tmp_path: Path) -> None:
    engine = Engine(paper_config(tmp_path, {"backpack": "SOL_USDC_PERP"}))
    with pytest.raises(ValueError, match="venue lighter is not enabled"):
        await engine.start_venues(["lighter"])
    assert engine.sim is None and not engine.connectors


def test_unverified_is_not_flat() -> None:
    rep = VenueFlatten("backpack", errors=["verify: timeout"])
    assert not rep.flat
    assert VenueFlatten("backpack", verified=True).flat
    assert not VenueFlatten("backpack", verified=True, open_orders_left=1).flat
