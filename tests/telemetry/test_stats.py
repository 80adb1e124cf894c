import pytest

from xtb.telemetry.stats import StatsWriter, TradingStats


def test_stats_arithmetic_from_known_fills():
    s = TradingStats()
    for ok in (True, True, True, False):
        s.record_order(ok)
    s.record_fill("bid", is_maker=True)
    s.record_fill("bid", is_maker=True)
    s.record_fill("ask", is_maker=False)
    for pnl in (1.5, -0.5, 2.0):
        s.record_pnl(pnl)
    s.record_fee(0.25)
    s.rest_calls, s.ws_messages = 10, 250
    assert (s.maker_fills, s.taker_fills, s.total_fills) == (2, 1, 3)
    assert s.success_rate == 0.75
    assert s.long_short_ratio == 2.0
    assert s.avg_pnl == pytest.approx(1.0)
    assert (s.best_trade, s.worst_trade) == (2.0, -0.5)
    assert s.ws_api_ratio == 25.0
    line = s.to_log_string(1234.5)
    assert "maker=2 taker=1 total=3" in line
    assert "success=75.0%" in line and "ratio=2.00" in line
    assert "equity=1234.50" in line and "best=2.0000 worst=-0.5000" in line and "ws/api=25.0" in line


def test_empty_stats_say_na_not_zero_division():
    line = TradingStats().to_log_string(None)
    assert "success=n/a" in line and "ratio=n/a" in line and "equity=n/a" in line


def test_bad_side_is_named():
    with pytest.raises(ValueError, match="'buy'"):
        TradingStats().record_fill("buy", is_maker=True)


def test_writer_respects_interval(tmp_path):
    w = StatsWriter(tmp_path / "stats" / "log.txt", interval_s=60, header="config: demo")
    s = TradingStats()
    assert w.maybe_write(s, 100.0, now_s=0.0) is not None
    assert w.maybe_write(s, 100.0, now_s=30.0) is None
    s.record_fill("ask", is_maker=False)
    assert "taker=1" in w.maybe_write(s, 101.0, now_s=61.0)
    lines = (tmp_path / "stats" / "log.txt").read_text().splitlines()
    assert lines[0].endswith("config: demo") and len(lines) == 3
