"""Replay (journal -> strategy -> simulator matching) and the run report, plus their CLI commands."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from xtb.cli import app
from xtb.config import XtbConfig
from xtb.core import BookUpdate, EventRing, Fill, Journal, JournalReader, Position, Trade
from xtb.engine.registry import register_strategy
from xtb.engine.strategy import Strategy
from xtb.journal.replay import replay, write_markets
from xtb.journal.report import write_report
from xtb.model.types import MarketInfo

T0 = 5_000_000_000
MS = 1_000_000
MARKET = MarketInfo(venue="backpack", symbol="SOL_USDC_PERP", base="SOL", quote="USDC", price_decimals=2,
                    size_decimals=2, tick=1, step=1, min_size=1, min_notional=0)


class DipParams(BaseModel):
    dip_px: int = 14_000
    size: int = 100


@register_strategy("journal_test_dip", params=DipParams)
class DipBuyer(Strategy[DipParams]):
    """Deterministic: rests a post-only bid 1.00 under the first bid; buys at market when the ask dips."""

    def __init__(self, ctx: Any, params: DipParams) -> None:
        super().__init__(ctx, params)
        self.rested = False
        self.bought = False
        self.fills: list[tuple[int, int, bool]] = []

    def on_book(self, ev: Any) -> None:
        if ev.best_bid is None or ev.best_ask is None:
            return
        if not self.rested:
            self.rested = True
            self.ctx.place_limit("backpack", "SOL_USDC_PERP", "bid", ev.best_bid[0] - 100, self.params.size,
                                 post_only=True)
        if not self.bought and ev.best_ask[0] <= self.params.dip_px:
            self.bought = True
            self.ctx.place_market("backpack", "SOL_USDC_PERP", "bid", self.params.size)

    def on_fill(self, ev: Any) -> None:
        self.fills.append((ev.px, ev.sz, ev.maker))
        self.ctx.record("fills_seen", px=ev.px, maker=ev.maker)


class ListSink:
    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, Any]]] = []

    def record(self, table: str, row: Any) -> None:
        self.rows.append((table, dict(row)))

    def gauge(self, name: str, value: float, labels: Any) -> None:
        pass


def record(path: Path, n: int = 2000) -> list[BookUpdate]:
    """A journal of a market that drifts down through the strategy's resting bid, then recovers."""
    ring = EventRing(1 << 12)
    books = []
    for i in range(n):
        drift = -(i // 5) if i < n // 2 else -(n // 10) + (i - n // 2) // 5
        bid = 14_100 + drift
        books.append(BookUpdate("backpack", 0, (bid, 500), (bid + 5, 400), book_seq=i, recv_ns=T0 + i * MS // 4))
    with Journal(ring, path, meta=json.dumps({"test": True})):
        for i, ev in enumerate(books):
            ring.push(ev)
            if i % 100 == 0:
                ring.push(Trade("backpack", 0, ev.best_ask[0], 3, "bid", i, recv_ns=ev.recv_ns))
            ring.drain()
    write_markets(path, {"backpack": {0: MARKET}})
    return books


def config(**params: Any) -> XtbConfig:
    return XtbConfig(strategy={"name": "journal_test_dip", "params": params})  # type: ignore[arg-type]


async def test_replay_is_deterministic_and_matches_recorded_books(tmp_path: Path) -> None:
    journal = tmp_path / "events.journal"
    books = record(journal)
    sink = ListSink()
    first = await replay(journal, config(dip_px=14_000), out_dir=tmp_path / "r1", sink=sink)
    second = await replay(journal, config(dip_px=14_000), out_dir=tmp_path / "r2")
    assert first.events_read == len(books) + 20
    assert first.orders == second.orders
    # The orders the strategy must have sent, from the input alone: the resting bid at the first bid - 1.00,
    # and one market buy once the recorded ask reached 140.00.
    assert [(o["side"], o["px"], o["sz"]) for o in first.orders] == [("bid", 14_000, 100), ("bid", 0, 100)]
    by_id = {o["client_id"]: o for o in first.orders}
    assert by_id[1]["state"] == "filled"  # the recorded ask fell through 140.00: our resting bid filled as maker
    assert by_id[2]["state"] == "filled"
    assert first.fills == 2 and first.positions == {"backpack:SOL_USDC_PERP": 200}
    # The replay wrote its own journal: market data as delivered plus the simulated orders and fills.
    kinds = [e.kind for e in JournalReader(tmp_path / "r1" / "events.journal")]
    assert kinds.count("fill") == 2 and kinds.count("order") >= 4 and "position" in kinds
    assert json.loads((tmp_path / "r1" / "replay.json").read_text())["fills"] == 2
    # ctx.record() rows reach the sink, stamped with the recorded clock (not the wall clock of the replay).
    assert [t for t, _ in sink.rows] == ["fills_seen", "fills_seen"]
    head = JournalReader(journal)
    offset = head.start_wall_ns - head.start_monotonic_ns  # recorded monotonic -> wall clock
    first_ms, last_ms = (books[0].recv_ns + offset) // MS, (books[-1].recv_ns + offset) // MS + 1
    assert all(first_ms <= r["ts_ms"] <= last_ms for _, r in sink.rows), (first_ms, last_ms, sink.rows)


async def test_replay_without_a_dip_sends_only_the_resting_order(tmp_path: Path) -> None:
    journal = tmp_path / "events.journal"
    record(journal)
    res = await replay(journal, config(dip_px=10_000))
    assert [(o["side"], o["px"]) for o in res.orders] == [("bid", 14_000)]


async def test_replay_conflates_books_per_window(tmp_path: Path) -> None:
    journal = tmp_path / "events.journal"
    record(journal, n=400)  # 4 updates per ms
    fine = await replay(journal, config(), window_ns=1)
    coarse = await replay(journal, config(), window_ns=10 * MS)
    assert fine.delivered > 3 * coarse.delivered


def make_records(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE spreads(ts_ms INTEGER, strategy TEXT, pair TEXT, spread REAL, mean REAL, std REAL, "
                "z REAL)")
    rows = [(1000 + i * 100, "x", "SOL", 0.001 * (i % 17), 0.008, 0.004, (i % 17 - 8) / 4) for i in range(200)]
    con.executemany("INSERT INTO spreads VALUES (?,?,?,?,?,?,?)", rows)
    con.execute("CREATE TABLE equity(ts_ms INTEGER, equity REAL)")
    con.executemany("INSERT INTO equity VALUES (?,?)", [(1000 + i * 1000, 100_000 + i) for i in range(30)])
    con.commit()
    con.close()


def live_like_run(run: Path) -> None:
    """A run directory as a live run leaves it: core-stamped books, our fills and positions, records."""
    run.mkdir()
    ring = EventRing(1 << 12)
    with Journal(ring, run / "events.journal"):
        for i in range(300):
            ring.push(BookUpdate("backpack", 0, (14_100 + i % 9, 500), (14_105 + i % 9, 400), book_seq=i))
            ring.push(BookUpdate("lighter", 2, (14_101 + i % 5, 500), (14_104 + i % 5, 400), book_seq=i))
            if i % 50 == 0:
                ring.push(Fill("backpack", i, i, "bid" if i % 100 else "ask", 14_100, 10, True, fee=-1))
                ring.push(Position("backpack", 0, 10 * (i // 50), 14_100))
            ring.drain()
    write_markets(run / "events.journal", {"backpack": {0: MARKET}})
    make_records(run / "records.sqlite")


def test_report_from_journal_and_records(tmp_path: Path) -> None:
    run = tmp_path / "run"
    live_like_run(run)
    written = write_report(run)
    for name in ("price", "inventory", "pnl", "spread_1", "latency", "report"):
        assert written[name].exists() and written[name].stat().st_size > 0, name
        if name != "report":
            assert written[name].read_bytes()[:4] == b"\x89PNG"
    md = written["report"].read_text()
    assert "![Prices (one panel per asset)](price.png)" in md
    assert "records.sqlite: equity (30 rows), spreads (200 rows)" in md
    assert "| fills | 6 |" in md and "backpack:SOL_USDC_PERP: 0.5" in md


async def test_report_of_a_replay_run(tmp_path: Path) -> None:
    journal = tmp_path / "src.journal"
    record(journal)
    run = tmp_path / "run"
    await replay(journal, config(), out_dir=run)
    written = write_report(run)
    assert {"price", "inventory", "pnl", "report"} <= set(written)
    md = written["report"].read_text()
    assert "| fills | 2 |" in md and "latency: no market-data events" in md  # replay timestamps are not latencies


def test_report_tolerates_a_run_without_records_or_journal(tmp_path: Path) -> None:
    written = write_report(tmp_path)
    assert set(written) == {"report"}
    assert "No `events.journal`" in written["report"].read_text()
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "missing")


def test_cli_replay_and_report(tmp_path: Path) -> None:
    journal = tmp_path / "events.journal"
    record(journal)
    runner = CliRunner()
    out = tmp_path / "replayed"
    res = runner.invoke(app, ["replay", str(journal), "--strategy", "journal_test_dip", "--out", str(out),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "orders" in res.output and (out / "events.journal").exists()
    # the records a live run writes: every simulated fill of the replay is a row of records.sqlite
    import re
    import sqlite3

    fills = int(re.search(r"(\d+) fills", res.output).group(1))  # type: ignore[union-attr]
    assert fills > 0
    with sqlite3.connect(out / "records.sqlite") as db:
        assert db.execute("select count(*) from fills").fetchone()[0] == fills
        assert db.execute("select count(*) from orders").fetchone()[0] > 0
    assert (out / "stats.log").stat().st_size > 0
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "report" / "report.md").stat().st_size > 0
    res = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "Error" in res.output  # a usage error, not a traceback


# --- replay time is the journal's: ctx.clock, timers and ticks -----------------------------------------------
class TimerParams(BaseModel):
    every_s: float = 0.05


@register_strategy("journal_test_timer", params=TimerParams)
class TimerSampler(Strategy[TimerParams]):
    """Samples the best bid from a ctx.clock timer and notes each tick's time."""

    def __init__(self, ctx: Any, params: TimerParams) -> None:
        super().__init__(ctx, params)
        self.samples: list[tuple[int, Any]] = []
        self.ticks: list[tuple[int, int]] = []
        self.started_ns = 0

    async def on_start(self) -> None:
        self.started_ns = self.ctx.clock.now_ns()
        self.ctx.clock.every(self.params.every_s, self.sample)

    def sample(self) -> None:
        self.samples.append((self.ctx.clock.now_ns(), self.ctx.best_bid("backpack", "SOL_USDC_PERP")))

    async def on_tick(self, now_ms: int) -> None:
        self.ticks.append((now_ms, self.ctx.clock.now_ms()))

    def status(self) -> dict[str, Any]:
        return {"samples": self.samples, "ticks": self.ticks, "started_ns": self.started_ns}


async def test_replay_runs_timers_and_ticks_in_journal_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = tmp_path / "events.journal"
    books = record(journal)  # 0.5 s of recorded books, one every 0.25 ms
    head = JournalReader(journal)
    offset = head.start_wall_ns - head.start_monotonic_ns
    seen: list[Any] = []
    original = TimerSampler.on_stop

    async def keep(self: TimerSampler) -> None:
        seen.append(self.status())
        await original(self)

    monkeypatch.setattr(TimerSampler, "on_stop", keep)
    cfg = XtbConfig(general={"tick_interval_ms": 100},  # type: ignore[arg-type]
                    strategy={"name": "journal_test_timer", "params": {"every_s": 0.05}})  # type: ignore[arg-type]
    first = await replay(journal, cfg)
    second = await replay(journal, cfg)
    a, b = seen
    assert a == b and first.timers == second.timers  # replayed twice: the same timers at the same times
    start = a["started_ns"]
    assert start == books[0].recv_ns + offset + MS  # the clock starts at the end of the first window (1 ms)
    times = [t for t, _ in a["samples"]]
    span = books[-1].recv_ns - books[0].recv_ns
    assert len(times) == span // 50_000_000 and times == [start + (k + 1) * 50_000_000 for k in range(len(times))]
    # each sample saw a book recorded shortly before its own time, never a later one: the last book of the
    # windows that had ended by then (a window spans 1 ms from its first event, so at most 2 ms old)
    for t, bid in a["samples"]:
        recent = {ev.best_bid for ev in books if t - 2 * MS <= ev.recv_ns + offset <= t}
        later = {ev.best_bid for ev in books if ev.recv_ns + offset > t} - recent
        assert bid in recent and bid not in later, (t, bid)
    assert [n for n, c in a["ticks"]] == [c for n, c in a["ticks"]]  # on_tick's now_ms is the clock's
    assert [n for n, _ in a["ticks"]] == [(start + (k + 1) * 100_000_000) // MS for k in range(len(a["ticks"]))]


async def test_replay_includes_the_risk_guard(tmp_path: Path) -> None:
    journal = tmp_path / "events.journal"
    record(journal)
    cfg = XtbConfig(strategy={"name": "journal_test_dip", "params": {"dip_px": 14_000}},  # type: ignore[arg-type]
                    risk={"single_max": 0.5})  # 1.00 SOL per order is over it: every order is refused
    res = await replay(journal, cfg, out_dir=tmp_path / "r")
    assert res.orders == [] and res.fills == 0
    assert res.denied.get("single_max", 0) == 2  # the resting bid and the market buy
    assert json.loads((tmp_path / "r" / "replay.json").read_text())["denied"] == res.denied


async def test_replay_order_latency_meets_the_book_later_and_is_repeatable(tmp_path: Path) -> None:
    journal = tmp_path / "events.journal"
    record(journal)  # the ask drifts down one tick every 1.25 ms through 140.00

    async def taker_fill_px(out: str, **kw: Any) -> list[int]:
        await replay(journal, config(dip_px=14_000), out_dir=tmp_path / out, **kw)
        return [e.px for e in JournalReader(tmp_path / out / "events.journal") if e.kind == "fill" and not e.maker]

    instant = await taker_fill_px("r0")
    delayed = await taker_fill_px("r1", latency_ms=20.0)
    assert len(instant) == len(delayed) == 1
    # 20 ms later the recorded ask is ~16 ticks lower: the market buy fills there, not at the trigger's ask
    assert 10 <= instant[0] - delayed[0] <= 20, (instant, delayed)
    sampled = [await taker_fill_px(f"s{i}", latency_ms=[1.0, 5.0, 20.0], seed=3) for i in range(2)]
    assert sampled[0] == sampled[1]  # drawn from the samples with a seed: the same replay twice
    with pytest.raises(ValueError, match="latency_ms"):
        await replay(journal, config(), latency_ms=-1.0)


# --- queue position models (hftbacktest's risk-averse and probabilistic) -------------------------------------
class RestParams(BaseModel):
    size: int = 100


@register_strategy("journal_test_rest", params=RestParams)
class RestAtBid(Strategy[RestParams]):
    """Joins the best bid once with one post-only order."""

    def __init__(self, ctx: Any, params: RestParams) -> None:
        super().__init__(ctx, params)
        self.placed = False

    def on_book(self, ev: Any) -> None:
        if not self.placed and ev.best_bid is not None:
            self.placed = True
            self.ctx.place_limit("backpack", "SOL_USDC_PERP", "bid", ev.best_bid[0], self.params.size, post_only=True)


def queue_journal(path: Path, trades: int) -> None:
    """We join 500 at 140.00; 500 more join behind us; 300 leave the level; then prints of 100 at 140.00."""
    ring = EventRing(1 << 12)
    with Journal(ring, path):
        t = T0
        for size in (500, 500, 1000, 700):
            ring.push(BookUpdate("backpack", 0, (14_000, size), (14_005, 400), recv_ns=t))
            ring.drain()
            t += 10 * MS
        for i in range(trades):
            ring.push(Trade("backpack", 0, 14_000, 100, "ask", i, recv_ns=t))
            ring.drain()
            t += 5 * MS
        ring.push(BookUpdate("backpack", 0, (14_000, 700 - 100 * trades), (14_005, 400), recv_ns=t))
        ring.drain()
    write_markets(path, {"backpack": {0: MARKET}})


@pytest.mark.parametrize(("trades", "queue", "filled"), [
    (5, "none", 0),  # prints alone never fill: only a touch through our price does
    (5, "risk_averse", 0),  # 500 ahead, cancels assumed behind us: five prints only clear the queue
    (6, "risk_averse", 100),
    (3, "probabilistic", 0),  # half of the 300 cancelled was ahead of us (equal front and back): 350 ahead
    (4, "probabilistic", 50),  # the fourth print reaches us with 50
    (5, "probabilistic", 100),
])
async def test_queue_models_fill_resting_orders_from_prints(tmp_path: Path, trades: int, queue: str,
                                                              filled: int) -> None:
    journal = tmp_path / "events.journal"
    queue_journal(journal, trades)
    cfg = XtbConfig(strategy={"name": "journal_test_rest"})  # type: ignore[arg-type]
    res = await replay(journal, cfg, queue=queue)
    assert [(o["px"], o["filled"]) for o in res.orders] == [(14_000, filled)]


def test_queue_slot_property() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from xtb.journal.replay import QueueSlot

    @settings(max_examples=300, deadline=None)
    @given(st.sampled_from(["risk_averse", "probabilistic"]), st.integers(0, 1000),
           st.lists(st.tuples(st.booleans(), st.integers(0, 1500)), max_size=30))
    def check(model: str, ahead: int, steps: list[tuple[bool, int]]) -> None:
        slot = QueueSlot(model, ahead)
        traded = reached = 0
        for is_trade, n in steps:
            if is_trade:
                traded += n
                reached += slot.on_trade(n)
            else:
                slot.on_level(n)
            assert 0 <= slot.ahead <= max(slot.level, 0) + 1e-9
        assert reached <= max(0, traded)  # nothing reaches us that did not trade
        if model == "risk_averse" and all(t for t, _ in steps):
            assert reached == max(0, traded - ahead)  # only prints move us: exactly what trades past the queue

    check()


async def test_replay_charges_funding_on_open_positions_at_utc_boundaries(tmp_path: Path) -> None:
    journal = tmp_path / "events.journal"
    ring = EventRing(1 << 12)
    hour = 3_600 * 10**9
    times = [T0 + i * MS for i in range(20)] + [T0 + hour + 10**9]  # a little over an hour of journal time
    with Journal(ring, journal):
        for t in times:
            ring.push(BookUpdate("backpack", 0, (14_000, 500), (14_002, 500), recv_ns=t))
            ring.drain()
    write_markets(journal, {"backpack": {0: MARKET}})
    head = JournalReader(journal)
    offset = head.start_wall_ns - head.start_monotonic_ns
    boundaries = (times[-1] + offset) // hour - (times[1] + offset) // hour  # while we hold the position
    cfg = XtbConfig(general={"tick_interval_ms": 60_000},  # type: ignore[arg-type]
                    strategy={"name": "journal_test_dip", "params": {"dip_px": 20_000}})  # type: ignore[arg-type]
    plain = await replay(journal, cfg)
    funded = await replay(journal, cfg, funding_ppm=100)  # 0.01 % per hour, longs pay
    assert plain.positions == funded.positions == {"backpack:SOL_USDC_PERP": 100}  # 1.00 SOL long
    paid = plain.pnl - funded.pnl
    assert boundaries >= 1 and paid == pytest.approx(boundaries * 1.0 * 140.01 * 100e-6, rel=1e-3), (paid, boundaries)
