"""ASMM on its home venue: configs/asmm_binance.yaml (the Round7 keys unchanged) quoting a Binance USD-M
USDC perpetual in paper mode, through the Binance simulator dialect and connector: layers rest on the
venue, a sweep fills the nearest bids, the fills reach the tracker and the position, and nothing is left
open at stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paper_helpers import wait_for

from xtb.config import load_config, validate
from xtb.engine.engine import Engine
from xtb.sim.sweep import sweep

ROOT = Path(__file__).resolve().parents[2]
VENUE, SYMBOL = "binance_usdm", "ETHUSDC"


def bids(engine: Engine) -> list[Any]:
    orders = [o for o in engine.tracker.open_orders(VENUE, SYMBOL) if o.side == "bid" and o.state == "open"]
    return sorted(orders, key=lambda o: o.px, reverse=True)


async def test_asmm_quotes_and_fills_on_the_binance_dialect(tmp_path: Any) -> None:
    raw = load_config(ROOT / "configs" / "asmm_binance.yaml").model_dump()
    raw["general"].update(log_dir=str(tmp_path / "logs"), run_dir=str(tmp_path / "runs"))
    raw["strategy"]["params"]["maxLayers"] = 6  # fewer orders to cancel at shutdown
    engine = Engine(validate(raw))
    await engine.start()
    try:
        assert await wait_for(lambda: len(bids(engine)) >= 6 and engine.strategy.stats["placed"] >= 12, 10)
        ex = engine.sim.venues[VENUE].exchange
        market = ex.market_by_symbol(SYMBOL).market_id
        ours = {o.px for o in bids(engine)}
        # the venue holds the same bids as the tracker, under our decimal client ids
        venue_bids = {o.price for o in ex.book_orders(market)[0]}
        assert ours <= venue_bids
        near = bids(engine)[1].px
        sweep(ex, SYMBOL, "sell", near)
        assert await wait_for(lambda: engine.positions.get(VENUE, SYMBOL).size > 0, 5)
        status = engine.status()
    finally:
        await engine.stop()
    assert status["risk_state"] == "active" and status["asmm_denied"] == 0
    assert status["open_orders"] == 0 or engine.tracker.open_orders(VENUE) == []
    conn = engine.connectors[VENUE]
    assert conn.venue_stats().feed_errors == 0
    # every order of ours is off the venue's book after stop
    ex = engine.sim.venues[VENUE].exchange if engine.sim is not None else None
    if ex is not None:
        keys = engine.sim.protocol(VENUE)._keys.values()
        user = [a for a in ex.accounts() if a in {k.account for k in keys}]
        assert all(ex.open_orders(a) == [] for a in user)
