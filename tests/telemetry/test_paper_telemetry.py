"""Telemetry in a real paper run: the smoke-test strategy against the in-process simulator.

One engine run (module fixture, a few seconds) is scraped over HTTP while it runs; the run directory's
stats log and SQLite records are then checked against the fills the simulator itself reports.
"""

import asyncio
import re
import sqlite3
import urllib.request

import pytest

from xtb.config import validate
from xtb.engine.engine import Engine
from xtb.sim.types import FillEvent, Side

SYMBOL = "SOL_USDC_PERP"


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def sample(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total, found = 0.0, False
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total, found = total + float(m.group(3)), True
    assert found, f"no sample {name}{labels}"
    return total


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("telemetry")
    cfg = validate({
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 7, "log_dir": str(tmp / "logs"),
                    "run_dir": str(tmp / "runs"), "gc_freeze": False},
        "venues": {"backpack": {"symbols": [SYMBOL]}},
        "strategy": {"name": "smoke_test", "params": {"venue": "backpack", "symbol": SYMBOL, "size": "0.10"}},
        "telemetry": {"prometheus_port": 0, "stats_interval_s": 3600, "poll_interval_s": 0.05,
                      "flush_interval_s": 0.05},
    })
    engine = Engine(cfg)
    sim_fills: list = []
    cash_decimals: list[int] = []

    async def run():
        await engine.start()
        venue = engine.sim.protocol("backpack")
        cash_decimals.append(venue.engine.rules.cash_decimals)
        account = venue.account_for_key(engine.connectors["backpack"]._signer.public_key_b64)
        venue.engine.subscribe(lambda e: sim_fills.append(e.fill)
                               if isinstance(e, FillEvent) and e.fill.account == account else None)
        try:
            for _ in range(200):  # bounded: at most ~10 s
                if engine.strategy.step in ("done", "failed"):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)  # a few polls after the last fill
            engine.context.record("spreads", pair="SOL/backpack-lighter", spread=1.25, mean=1.0, std=0.5, z=0.5)
            engine.context.record("quotes_debug", bid=141.2, ask=141.3, note="from the test")
            text = scrape(engine.telemetry.metrics_port)
            status = engine.status()
        finally:
            await engine.stop()
        return text, status

    text, status = asyncio.run(run())
    assert status["smoke_test_step"] == "done", status
    return engine, text, sim_fills, cash_decimals[0]


def test_metrics_scraped_during_the_run_move(paper_run):
    engine, text, sim_fills, _ = paper_run
    assert sim_fills, "the simulator reported no fills for the bot's account"
    lab = {"venue": "backpack", "symbol": SYMBOL}
    assert sample(text, "mm_total_fills", **lab) == len(sim_fills)
    assert sample(text, "mm_total_fills", **lab, side="bid") == sum(f.side is Side.BUY for f in sim_fills)
    assert sample(text, "mm_orders_placed_count", **lab) == 3  # limit, market buy, reduce-only sell
    assert sample(text, "mm_orders_canceled_count", **lab) == 1
    assert sample(text, "xtb_tick_to_order_seconds_count", venue="backpack", trigger="tick") == 3
    assert sample(text, "xtb_frame_to_event_seconds_count", venue="backpack") > 0
    assert sample(text, "mm_rest_latency_seconds_count", venue="backpack", endpoint="order") == 3
    assert sample(text, "mm_rest_requests_total", venue="backpack") > 0
    assert 100 < sample(text, "mm_mid_price", **lab) < 1_000_000
    assert sample(text, "xtb_book_spread_bps", **lab) > 0
    assert sample(text, "mm_active_orders", **lab, side="bid") == 0
    assert sample(text, "xtb_trading_state", state="active") == 1
    assert sample(text, "mm_position", **lab) == 0
    with pytest.raises(OSError):  # the exporter stopped with the engine
        scrape(engine.telemetry.metrics_port)


def test_sqlite_fills_match_the_simulator(paper_run):
    engine, _, sim_fills, cash_decimals = paper_run
    db = engine.telemetry.run_dir / "records.sqlite"
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT trade_id, side, price_units, size_units, maker, symbol, strategy, fee "
                           "FROM fills ORDER BY trade_id").fetchall()
        orders = con.execute("SELECT DISTINCT client_id, state FROM orders").fetchall()
        equity = con.execute("SELECT count(*), max(equity) FROM equity").fetchone()
    want = sorted((f.trade_id, "bid" if f.side is Side.BUY else "ask", f.price, f.quantity, int(f.is_maker),
                   SYMBOL, "smoke_test", f.fee / 10**cash_decimals) for f in sim_fills)
    assert [r[:-1] for r in rows] == [w[:-1] for w in want]
    # The venue reports fees in quote units rounded to the market's notional scale.
    assert [r[-1] for r in rows] == pytest.approx([w[-1] for w in want], abs=1e-4)
    assert all(r[-1] > 0 for r in rows)
    states = {s for _, s in orders}
    assert {"open", "cancelled", "filled"} <= states
    assert equity[0] >= 1 and equity[1] is not None


def test_stats_log_counts_the_simulators_fills(paper_run):
    engine, _, sim_fills, _ = paper_run
    lines = (engine.telemetry.run_dir / "stats.log").read_text().splitlines()
    assert lines[0].endswith("strategy smoke_test, paper mode")
    last = lines[-1]
    n = len(sim_fills)
    bids = sum(f.side is Side.BUY for f in sim_fills)
    assert f"fills maker=0 taker={n} total={n}" in last, last
    assert "orders placed=3 failed=0 success=100.0%" in last, last
    assert f"long/short={bids}/{n - bids}" in last, last
    assert re.search(r"rest=[1-9]\d* ws=[1-9]\d*", last), last


def test_ctx_record_rows_land_in_their_tables(paper_run):
    engine, _, _, _ = paper_run
    with sqlite3.connect(engine.telemetry.run_dir / "records.sqlite") as con:
        spreads = con.execute("SELECT strategy, pair, spread, mean, std, z FROM spreads").fetchall()
        generic = con.execute("SELECT strategy, table_name, data FROM records").fetchall()
    assert spreads == [("smoke_test", "SOL/backpack-lighter", 1.25, 1.0, 0.5, 0.5)]
    assert generic == [("smoke_test", "quotes_debug", '{"bid":141.2,"ask":141.3,"note":"from the test"}')]


def test_run_directory_holds_the_manifest(paper_run):
    engine, _, _, _ = paper_run
    run_dir = engine.telemetry.run_dir
    assert re.fullmatch(r"smoke_test-\d{8}T\d{6}Z", run_dir.name)
    assert {p.name for p in run_dir.iterdir()} >= {"run.json", "stats.log", "records.sqlite"}


async def test_telemetry_off_means_no_run_directory_and_silent_records(tmp_path):
    cfg = validate({
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 7, "run_dir": str(tmp_path / "runs"),
                    "gc_freeze": False},
        "venues": {"backpack": {"symbols": [SYMBOL]}},
        "strategy": {"name": "smoke_test", "params": {"venue": "backpack", "symbol": SYMBOL}},
        "telemetry": {"enabled": False},
    })
    engine = Engine(cfg)
    await engine.start()
    try:
        assert engine.telemetry is None
        engine.context.record("spreads", pair="SOL", spread=1.0)  # a no-op, not an error
    finally:
        await engine.stop()
    runs = tmp_path / "runs"
    assert not runs.exists() or [p.name for p in runs.iterdir()] == ["state"]  # client-id state only


def test_bad_telemetry_settings_name_the_key():
    from xtb.config import ConfigError

    base = {"strategy": {"name": "smoke_test"}}
    for key, bad in (("stats_interval_s", 0), ("prometheus_port", 70000), ("flush_interval_s", -1),
                     ("metrics_port", 1)):
        with pytest.raises(ConfigError, match=rf"telemetry\.{key}"):
            validate({**base, "telemetry": {key: bad}})


async def test_exporter_port_in_use_fails_start_naming_the_key(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cfg = validate({
            "general": {"mode": "paper", "seed": 7, "run_dir": str(tmp_path / "runs"), "gc_freeze": False},
            "venues": {"backpack": {"symbols": [SYMBOL]}},
            "strategy": {"name": "smoke_test", "params": {"venue": "backpack", "symbol": SYMBOL}},
            "telemetry": {"prometheus_port": busy.getsockname()[1]},
        })
        engine = Engine(cfg)
        with pytest.raises(OSError, match=r"telemetry\.prometheus_port: cannot listen on 127\.0\.0\.1"):
            await engine.start()
    assert engine.sim is None and engine.telemetry is None
