"""Mark price / funding events in paper mode: the simulator's Binance USD-M / Aster markPriceUpdate and Backpack
markPrice streams, decoded in the core into MarkPrice ring events, reach a strategy's `on_mark` (the engine
subscribes the stream because the strategy overrides it) and the run's journal."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from xtb.api import MarkPrice, Strategy, register_strategy
from xtb.config import validate
from xtb.core import JournalReader
from xtb.engine.engine import Engine


class WatchParams(BaseModel):
    venue: str = "binance_usdm"
    symbol: str = "ETHUSDC"


@register_strategy("mark_watch_test", params=WatchParams)
class MarkWatch(Strategy[WatchParams]):
    """Keeps the mark events it is given, and the book's mid at that moment."""

    def __init__(self, ctx: Any, params: WatchParams) -> None:
        super().__init__(ctx, params)
        self.marks: list[tuple[MarkPrice, str | None, tuple[Any, Any]]] = []

    def on_mark(self, ev: MarkPrice) -> None:
        sym = self.ctx.symbol_of(ev.venue, ev.book_id)
        touch = (self.ctx.best_bid(ev.venue, sym), self.ctx.best_ask(ev.venue, sym)) if sym else (None, None)
        self.marks.append((ev, sym, touch))


@pytest.mark.parametrize(("venue", "symbol"), [("binance_usdm", "ETHUSDC"), ("aster", "ETHUSDT"),
                                                ("backpack", "SOL_USDC_PERP")])
async def test_a_strategy_sees_mark_events_from_the_simulator_and_the_journal_keeps_them(
        tmp_path: Path, venue: str, symbol: str) -> None:
    cfg = validate({
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 3, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {venue: {"symbols": [symbol]}},  # no mark_price option: on_mark asks for it
        "strategy": {"name": "mark_watch_test", "params": {"venue": venue, "symbol": symbol}},
    })
    engine = Engine(cfg)
    await engine.start()
    try:
        for _ in range(200):  # bounded: at most ~10 s
            if len(engine.strategy.marks) >= 3:
                break
            await asyncio.sleep(0.05)
        marks = list(engine.strategy.marks)
        market = engine.connectors[venue].markets()[symbol]
    finally:
        await engine.stop()
    assert len(marks) >= 3, "no markPriceUpdate reached on_mark"
    for ev, sym, (bid, ask) in marks:
        assert ev.kind == "mark" and ev.venue == venue and sym == symbol
        assert ev.funding_rate is not None and ev.index_px is not None and ev.next_funding_ms > ev.venue_ms > 0
        if bid is not None and ask is not None:  # the mark in the book's price units: near the touch
            mid = (bid[0] + ask[0]) / 2
            assert abs(ev.mark_px - mid) < mid * 0.02, (ev, bid, ask, market.price_decimals)
    assert [m[0].recv_ns for m in marks] == sorted(m[0].recv_ns for m in marks)
    # the run's journal holds them, with the same values, in order
    journal = next((tmp_path / "runs").rglob("events.journal"))
    recorded = [e for e in JournalReader(journal) if e.kind == "mark"]
    assert len(recorded) >= len(marks)
    first = recorded[[e.recv_ns for e in recorded].index(marks[0][0].recv_ns)]
    assert (first.book_id, first.mark_px, first.funding_rate, first.next_funding_ms) == (
        marks[0][0].book_id, marks[0][0].mark_px, marks[0][0].funding_rate, marks[0][0].next_funding_ms)
