"""Replay pays the funding the journal recorded: MarkPrice events (mark price, funding rate, next funding time)
written through the core's journal writer, a strategy holding a position across two funding times, and the
amount computed by hand (longs pay a positive rate, shorts receive it)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from xtb.api import MarkPrice, Strategy, register_strategy
from xtb.config import XtbConfig
from xtb.core import BookUpdate, EventRing, Journal, JournalReader
from xtb.journal.replay import replay, write_markets
from xtb.journal.report import write_report
from xtb.model.types import MarketInfo

VENUE, SYMBOL = "binance_usdm", "ETHUSDC"
MARKET = MarketInfo(venue=VENUE, symbol=SYMBOL, base="ETH", quote="USDC", price_decimals=2, size_decimals=3,
                    tick=1, step=1, min_size=1, min_notional=0)
T0 = 50 * 10**9  # monotonic ns of the first recorded event
S = 10**9


class HoldParams(BaseModel):
    side: str = "bid"
    size: int = 1_000  # 1.000 ETH


@register_strategy("funding_test_hold", params=HoldParams)
class Hold(Strategy[HoldParams]):
    """Takes a position at market on the first two-sided book and holds it; keeps the marks it is shown."""

    def __init__(self, ctx: Any, params: HoldParams) -> None:
        super().__init__(ctx, params)
        self.sent = False
        self.marks: list[MarkPrice] = []

    def on_book(self, ev: Any) -> None:
        if not self.sent and ev.best_bid is not None and ev.best_ask is not None:
            self.sent = True
            self.ctx.place_market(VENUE, SYMBOL, self.params.side, self.params.size)

    def on_mark(self, ev: MarkPrice) -> None:
        self.marks.append(ev)


def write_journal(path: Path, marks: list[tuple[int, int, int, int]] | None, end_s: int = 25) -> int:
    """Books every second for 25 s (and one at `end_s`); `marks`: (seconds after T0, mark_px, rate 1e-8, next
    funding in seconds after T0) as MarkPrice events with venue times in wall ms. Returns the journal's wall -
    monotonic offset."""
    ring = EventRing(1 << 12)
    offset = time.time_ns() - time.monotonic_ns()  # the header's, within microseconds
    events: list[Any] = [BookUpdate(VENUE, 0, (300_000, 5_000), (300_010, 5_000), book_seq=i, recv_ns=T0 + i * S)
                         for i in [*range(26), *([end_s] if end_s > 25 else [])]]
    for at_s, mark, rate, next_s in marks or []:
        wall_ms = (T0 + at_s * S + offset) // 1_000_000
        events.append(MarkPrice(VENUE, 0, mark, index_px=mark - 3, funding_rate=rate,
                                next_funding_ms=(T0 + next_s * S + offset) // 1_000_000, venue_ms=wall_ms,
                                recv_ns=T0 + at_s * S + 1))
    events.sort(key=lambda e: e.recv_ns)
    with Journal(ring, path):
        for ev in events:
            ring.push(ev)
            ring.drain()
    write_markets(path, {VENUE: {0: MARKET}})
    head = JournalReader(path)
    return head.start_wall_ns - head.start_monotonic_ns


# marks: (s, mark, rate, next funding s): funding at 10 s (rate 0.00012345 announced before it, mark 3000.07 the
# last before it) and at 20 s (rate -0.00005, mark 2999.90); the one at 30 s is after the journal's end
MARKS = [
    (0, 300_005, 10_000, 10), (4, 300_006, 11_000, 10), (8, 300_007, 12_345, 10),
    (11, 300_001, -2_000, 20), (15, 299_995, -4_000, 20), (19, 299_990, -5_000, 20),
    (21, 299_980, 7_000, 30), (24, 299_970, 7_500, 30),
]


def by_hand(size_units: int) -> float:
    """position (ETH) * mark (USDC) * rate, at each funding time the journal passes; > 0 paid."""
    pos = size_units / 1_000
    return pos * 3000.07 * 0.00012345 + pos * 2999.90 * -0.00005


def config(side: str) -> XtbConfig:
    return XtbConfig(general={"tick_interval_ms": 60_000},  # type: ignore[arg-type]
                     strategy={"name": "funding_test_hold", "params": {"side": side}})  # type: ignore[arg-type]


@pytest.mark.parametrize(("side", "sign"), [("bid", 1), ("ask", -1)])
async def test_recorded_funding_is_paid_at_the_recorded_times_long_pays_short_receives(
        tmp_path: Path, side: str, sign: int) -> None:
    funded_path, plain_path = tmp_path / "funded.journal", tmp_path / "plain.journal"
    write_journal(funded_path, MARKS)
    write_journal(plain_path, None)
    funded = await replay(funded_path, config(side), out_dir=tmp_path / "out")
    plain = await replay(plain_path, config(side))
    assert funded.positions == plain.positions == {f"{VENUE}:{SYMBOL}": sign * 1_000}
    want = sign * by_hand(1_000)
    assert funded.funding == pytest.approx(want, rel=1e-9, abs=1e-12), (funded.funding, want)
    assert funded.funding_settlements == 2  # 10 s and 20 s; 30 s is after the end
    assert funded.funding_source == "recorded" and plain.funding_source == "none" and plain.funding == 0
    assert funded.pnl == pytest.approx(plain.pnl - want, abs=1e-9)  # booked in the PnL
    summary = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert summary["funding_source"] == "recorded" and summary["funding"] == pytest.approx(want, rel=1e-9)
    # the replay delivers the recorded marks to the strategy and journals them again
    marks_out = [e for e in JournalReader(tmp_path / "out" / "events.journal") if e.kind == "mark"]
    assert [e.mark_px for e in marks_out] == [m for _, m, _, _ in MARKS]
    # and `xtb report` on the replay's run lists them: 8 marks, the last 2999.70 at 0.0075 %, 3 funding times
    md = write_report(tmp_path / "out")["report"].read_text()
    assert "| binance_usdm:ETHUSDC | 8 | 2999.7 | 0.007500% | 3 |" in md and "mark: 8" in md


async def test_funding_ppm_is_only_the_fallback(tmp_path: Path) -> None:
    path = tmp_path / "funded.journal"
    write_journal(path, MARKS)
    recorded = await replay(path, config("bid"))
    both = await replay(path, config("bid"), funding_ppm=5_000)  # a huge constant rate: must not be charged
    assert both.funding_source == "recorded" and both.funding == pytest.approx(recorded.funding, rel=1e-12)
    # a journal without marks: the constant rate, at each UTC hour boundary it crosses, on the recorded mid
    plain = tmp_path / "plain.journal"
    offset = write_journal(plain, None, end_s=3_700)
    hour = 3_600 * S
    boundaries = (T0 + 3_700 * S + offset) // hour - (T0 + offset) // hour
    constant = await replay(plain, config("bid"), funding_ppm=5_000)
    assert constant.funding_source == "constant" and boundaries >= 1
    assert constant.funding == pytest.approx(boundaries * 1.0 * 3000.05 * 5_000e-6, rel=1e-9)


async def test_a_funding_time_announced_early_by_the_stream_is_settled_once(tmp_path: Path) -> None:
    """The venue's clock runs ahead: the mark after funding time 10 s is recorded before our clock reaches it
    (at 10 s it already announces 20 s). Settled then, at the rate and mark before it, and only once."""
    marks = [(0, 300_005, 10_000, 11), (8, 300_007, 12_345, 11), (10, 300_001, -2_000, 21),
             (19, 299_990, -5_000, 21), (22, 299_980, 7_000, 31)]
    path = tmp_path / "early.journal"
    write_journal(path, marks)
    res = await replay(path, config("bid"))
    want = 3000.07 * 0.00012345 + 2999.90 * -0.00005
    assert res.funding_settlements == 2 and res.funding == pytest.approx(want, rel=1e-9)
