"""Today's PnL across runs: the history database's daily rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xtb.control.history import SpreadHistory


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_runs_of_a_day_add_up_and_a_run_across_midnight_counts_only_its_new_day(tmp_path):
    h = SpreadHistory(tmp_path / "h.sqlite")
    # run A: started yesterday, +3 by midnight, +5 at 00:30 -> today it made 2
    a_start = ms("2026-12-05T20:00:00")
    h.record_pnl(ms("2026-12-05T23:59:00"), "A", "cross_arb", 3.0, run_started_ms=a_start)
    h.record_pnl(ms("2026-12-06T00:00:05"), "A", "cross_arb", 3.0, run_started_ms=a_start)
    h.record_pnl(ms("2026-12-06T00:30:00"), "A", "cross_arb", 5.0, run_started_ms=a_start)
    # run B: today, -1 then -0.5 (its latest counts)
    b_start = ms("2026-12-06T08:00:00")
    h.record_pnl(ms("2026-12-06T08:10:00"), "B", "perp_mm", -1.0, run_started_ms=b_start)
    h.record_pnl(ms("2026-12-06T09:00:00"), "B", "perp_mm", -0.5, run_started_ms=b_start)
    today = h.day_pnl(ms("2026-12-06T12:00:00"))
    assert today == {"day": "2026-12-06", "net": pytest.approx(1.5), "runs": 2}
    assert h.day_pnl(ms("2026-12-05T12:00:00")) == {"day": "2026-12-05", "net": pytest.approx(3.0), "runs": 1}
    assert h.day_pnl(ms("2026-12-07T12:00:00"))["runs"] == 0
    h.close()
    # kept across processes
    again = SpreadHistory(tmp_path / "h.sqlite")
    assert again.day_pnl(ms("2026-12-06T23:00:00"))["net"] == pytest.approx(1.5)
    again.close()
