"""RunTelemetry fed with known core events: exact stats, PnL, records and latency attribution."""

import sqlite3
import time
from datetime import UTC, datetime

import pytest

from xtb._core import BookUpdate, Fill, OrderTracker, OrderUpdate, Position
from xtb.engine.gateway import LatencySample
from xtb.model.types import MarketInfo
from xtb.telemetry.metrics import Metrics
from xtb.telemetry.recorder import SqliteRecorder
from xtb.telemetry.run import RunTelemetry, new_run_dir
from xtb.telemetry.stats import StatsWriter

MARKET = MarketInfo(venue="backpack", symbol="SOL_USDC_PERP", base="SOL", quote="USDC", price_decimals=2,
                    size_decimals=2, tick=1, step=1, min_size=1, min_notional=1)


class Venue:
    """The part of a connector telemetry reads: its markets, REST clients (none) and feed frames."""

    def markets(self):
        return {MARKET.symbol: MARKET}

    def rest_clients(self):
        return []

    def feed_frames(self):
        return 0


def value(metric, **labels):
    child = metric.labels(**labels) if labels else metric
    return getattr(child, "_value", child).get()  # the board's raw counters keep their value themselves


def hist_count(metric, **labels):
    return sum(b.get() for b in metric.labels(**labels)._buckets)


@pytest.fixture
def tel(tmp_path):
    tracker = OrderTracker()
    for cid, side in ((1, "bid"), (2, "ask"), (3, "ask")):
        tracker.submitted(cid, "backpack", MARKET.symbol, side, 15_000, 10)
    t = RunTelemetry(
        strategy="demo", run_dir=tmp_path, metrics=Metrics(),
        stats_writer=StatsWriter(tmp_path / "stats.log", 60.0, header="demo"),
        recorder=SqliteRecorder(tmp_path / "records.sqlite"), connectors={"backpack": Venue()},
        tracker=tracker, symbol_of=lambda venue, book_id: MARKET.symbol, starting_equity=1000.0,
    )
    yield t
    t.close()


def test_known_fills_give_exact_stats_pnl_and_rows(tel, tmp_path):
    now = time.monotonic_ns()
    tel.on_book(BookUpdate("backpack", 0, (15_100, 5), (15_110, 5), recv_ns=now))
    # buy 0.10 @ 150.00 (maker), sell 0.04 @ 152.00 (taker), sell 0.06 @ 149.00 (taker): +0.08 - 0.06
    tel.on_fill(Fill("backpack", 1, 11, "bid", 15_000, 10, True, fee=-30, recv_ns=now))
    tel.on_fill(Fill("backpack", 2, 12, "ask", 15_200, 4, False, fee=300, recv_ns=now))
    tel.on_fill(Fill("backpack", 3, 13, "ask", 14_900, 6, False, fee=450, recv_ns=now))
    tel.on_order(OrderUpdate("backpack", 1, "filled", "v1", filled=10, avg_px=15_000, recv_ns=now))
    tel.on_position(Position("backpack", 0, 0, 0, recv_ns=now))
    summary = tel.close()
    lab = {"venue": "backpack", "symbol": MARKET.symbol}
    m = tel.metrics
    assert value(m.mm_total_fills, **lab, side="bid") == 1 and value(m.mm_total_fills, **lab, side="ask") == 2
    assert value(m.mm_realized_pnl, **lab) == pytest.approx(0.02 - 0.072)  # net of 0.072 fees
    assert value(m.mm_mid_price, **lab) == pytest.approx(151.05)
    assert value(m.xtb_book_spread_bps, **lab) == pytest.approx(10 * 20_000 / 30_210)
    assert hist_count(m.xtb_frame_to_event_seconds, venue="backpack") == 5
    last = (tmp_path / "stats.log").read_text().splitlines()[-1]
    assert "fills maker=1 taker=2 total=3" in last
    assert "long/short=1/2 ratio=0.50" in last
    assert "pnl total=0.0200 avg=0.0100 best=0.0800 worst=-0.0600 fees=0.0720" in last
    assert "equity=999.95" in last  # 1000 + 0.02 - 0.072
    assert summary is not None and "run PnL gross=0.0200 (realized, before fees) fees=0.0720" in summary
    with sqlite3.connect(tmp_path / "records.sqlite") as con:
        fills = con.execute("SELECT trade_id, side, price, size, maker, fee, realized_pnl FROM fills").fetchall()
        orders = con.execute("SELECT client_id, order_id, side, price, size, state, filled, avg_price FROM orders")
        orders = orders.fetchall()
        equity = con.execute("SELECT equity, realized_pnl, fees FROM equity").fetchall()
    assert fills == [(11, "bid", 150.0, 0.1, 1, -0.003, 0.0), (12, "ask", 152.0, 0.04, 0, 0.03, pytest.approx(0.08)),
                     (13, "ask", 149.0, 0.06, 0, 0.045, pytest.approx(-0.06))]
    assert orders == [(1, "v1", "bid", 150.0, 0.1, "filled", 0.1, 150.0)]
    assert equity[-1] == (pytest.approx(999.948), pytest.approx(0.02), pytest.approx(0.072))


def test_tick_to_order_is_attributed_to_the_frame_or_the_deciding_tick(tel):
    h = tel.metrics.xtb_tick_to_order_seconds
    now = time.monotonic_ns()
    tel.on_order_latency(LatencySample("backpack", (1,), now - 50_000, now - 20_000, now, now + 10**6))
    assert hist_count(h, venue="backpack", trigger="frame") == 1
    tel.tick_started(0)
    decided = time.monotonic_ns()
    tel.on_tick(0)
    # The send ended later (after the tick): still measured from that tick's start.
    tel.on_order_latency(LatencySample("backpack", (2,), None, decided, decided + 1000, decided + 10**6))
    assert hist_count(h, venue="backpack", trigger="tick") == 1
    # Decided outside any tick (a timer): no tick-to-order sample, but the order still counts as placed.
    later = time.monotonic_ns()
    tel.on_order_latency(LatencySample("backpack", (3,), None, later, later + 1000, later + 10**6))
    assert hist_count(h, venue="backpack", trigger="tick") == 1
    lab = {"venue": "backpack", "symbol": MARKET.symbol}
    assert value(tel.metrics.mm_orders_placed_count, **lab, side="ask") == 2
    assert tel.stats.placed_orders == 3
    assert hist_count(tel.metrics.mm_rest_latency_seconds, venue="backpack", endpoint="order") == 3


def test_strategy_gauges_reach_the_exporter(tel, caplog):
    sink, m = tel.sink, tel.metrics
    sink.gauge("mm_reservation_price", 150.5, {"venue": "backpack", "symbol": "SOL_USDC_PERP"})
    assert value(m.mm_reservation_price, venue="backpack", symbol="SOL_USDC_PERP") == 150.5
    # Labels that do not match the family: missing ones are "", extra ones dropped, warned once.
    sink.gauge("mm_quote_interval_gauge", 0.5, {"symbol": "SOL", "level": "1"})
    sink.gauge("mm_quote_interval_gauge", 0.25, {"symbol": "SOL", "level": "1"})
    assert value(m.mm_quote_interval_gauge, venue="", symbol="SOL") == 0.25
    assert sum("mm_quote_interval_gauge takes labels" in r.message for r in caplog.records) == 1
    # A name of the strategy's own becomes its own gauge.
    sink.gauge("mm_sigma", 0.02, {"symbol": "SOL"})
    assert m.registry.get_sample_value("mm_sigma", {"symbol": "SOL"}) == 0.02
    with pytest.raises(ValueError, match="mm_total_fills is a counter"):
        sink.gauge("mm_total_fills", 1.0, {})
    with pytest.raises(ValueError, match="not a valid metric name"):
        sink.gauge("bad-name", 1.0, {})


def test_run_dirs_are_unique_per_second(tmp_path):
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    a, b = new_run_dir(tmp_path, "arb", now), new_run_dir(tmp_path, "arb", now)
    assert (a.name, b.name) == ("arb-20260102T030405Z", "arb-20260102T030405Z-2")


def test_volatility_regime_and_adverse_selection_from_mids_and_maker_fills():
    from xtb.telemetry.metrics import Metrics
    from xtb.telemetry.run import RunTelemetry, _Market, _Scale

    m = Metrics()
    mk = _Market(m, "backpack", "SOL", _Scale(100.0, 100.0, 10_000.0))
    lab = {"venue": "backpack", "symbol": "SOL"}
    poll = RunTelemetry._poll_market_quality
    mid = 15_000
    for i in range(400):  # calm: one tick up and down
        mid += 1 if i % 2 else -1
        poll(m, mk, lab, mid, float(i))
    assert m.registry.get_sample_value("mm_volatility_regime", lab) == 1
    for i in range(60):  # the last minute moves 30 ticks a poll
        mid += 30 if i % 2 else -30
        poll(m, mk, lab, mid, 400.0 + i)
    assert m.registry.get_sample_value("mm_volatility_regime", lab) == 2
    mk.maker_fills.append((1000.0, "bid", 15_000))  # bought at 150.00 ...
    poll(m, mk, lab, 14_990, 1003.0)  # not checked before the horizon
    assert m.registry.get_sample_value("mm_adverse_selection_rate", lab) is None
    poll(m, mk, lab, 14_990, 1005.0)  # ... and the mid is below it 5 s later: adverse
    assert m.registry.get_sample_value("mm_adverse_selection_rate", lab) == 1.0
    mk.maker_fills.append((1010.0, "ask", 15_000))  # sold at 150.00, mid lower later: a good fill
    poll(m, mk, lab, 14_990, 1016.0)
    assert m.registry.get_sample_value("mm_adverse_selection_rate", lab) == 0.5
