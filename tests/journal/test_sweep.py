"""`xtb sweep`: journal replays over a parameter grid, on a process pool and on a local Ray instance."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xtb._core import BookUpdate, EventRing, Journal
from xtb.cli import app
from xtb.config import XtbConfig
from xtb.journal.replay import write_markets
from xtb.journal.sweep import expand, jobs_for, load_grid, rank, run_sweep
from xtb.model.types import MarketInfo

MS = 1_000_000
SOL = MarketInfo(venue="backpack", symbol="SOL_USDC_PERP", base="SOL", quote="USDC", price_decimals=2,
                 size_decimals=2, tick=1, step=1, min_size=1, min_notional=0)


def make_journal(path: Path, n: int = 3000) -> Path:
    """3 s of a SOL book that swings down 2 % and back: resting quotes fill on the way."""
    ring = EventRing(1 << 12)
    with Journal(ring, path):
        for i in range(n):
            swing = i if i < n // 2 else n - i
            bid = 15_000 - swing // 5
            ring.push(BookUpdate("backpack", 0, (bid, 500), (bid + 2, 500), book_seq=i, recv_ns=10**10 + i * MS))
            ring.drain()
    write_markets(path, {"backpack": {0: SOL}})
    return path


def config() -> XtbConfig:
    return XtbConfig(general={"tick_interval_ms": 100},  # type: ignore[arg-type]
                     strategy={"name": "perp_mm", "params": {  # type: ignore[arg-type]
                         "venue": "backpack", "symbol": "SOL_USDC_PERP", "order_quantity": "0.1",
                         "max_position": "1", "position_threshold": "0.5", "cycle_interval_s": 0.2}})


GRID = {"base_spread_percentage": [0.05, 0.2], "max_orders": [1, 2]}


def test_grid_file_and_expansion(tmp_path: Path) -> None:
    (tmp_path / "g.yaml").write_text("max_orders: [1, 2]\nbase_spread_percentage: 0.1\n")
    assert load_grid(tmp_path / "g.yaml") == {"max_orders": [1, 2], "base_spread_percentage": [0.1]}
    assert expand(GRID) == [{"base_spread_percentage": 0.05, "max_orders": 1},
                            {"base_spread_percentage": 0.05, "max_orders": 2},
                            {"base_spread_percentage": 0.2, "max_orders": 1},
                            {"base_spread_percentage": 0.2, "max_orders": 2}]
    (tmp_path / "bad.yaml").write_text("max_orders: []\n")
    with pytest.raises(ValueError, match="max_orders: an empty list"):
        load_grid(tmp_path / "bad.yaml")
    with pytest.raises(ValueError, match="cannot read"):
        load_grid(tmp_path / "none.yaml")


def test_sweep_on_the_process_pool_ranks_runs_and_writes_its_table(tmp_path: Path) -> None:
    journal = make_journal(tmp_path / "events.journal")
    jobs = jobs_for(config(), GRID, [journal])
    rows = run_sweep(jobs, workers=2)
    assert [r["run"] for r in rows] == [0, 1, 2, 3] and all(r["error"] is None for r in rows), rows
    assert any(r["fills"] > 0 for r in rows)  # the swing fills resting quotes
    again = run_sweep(jobs[:1], workers=1)
    assert again[0] == rows[0]  # a replay is deterministic: the same run, the same result
    ranked = rank(rows)
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4]
    assert [r["pnl"] for r in ranked] == sorted((r["pnl"] for r in rows), reverse=True)


def test_a_bad_combination_fails_its_run_only(tmp_path: Path) -> None:
    journal = make_journal(tmp_path / "events.journal", n=300)
    rows = run_sweep(jobs_for(config(), {"max_orders": [1, 99]}, [journal]), workers=1)
    assert rows[0]["error"] is None and "max_orders" in rows[1]["error"]


def test_sweep_on_local_ray_gives_the_pool_results(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (the dev extra installs it; .ci/run uses it)")
    journal = make_journal(tmp_path / "events.journal", n=1500)
    jobs = jobs_for(config(), {"max_orders": [1, 2]}, [journal])
    pool = run_sweep(jobs, workers=2)
    on_ray = run_sweep(jobs, ray_address="local")
    assert on_ray == pool


def test_cli_sweep(tmp_path: Path) -> None:
    journal = make_journal(tmp_path / "events.journal", n=1500)
    (tmp_path / "cfg.yaml").write_text(json.dumps(config().model_dump(mode="json")))
    (tmp_path / "grid.yaml").write_text("max_orders: [1, 2]\n")
    res = CliRunner().invoke(app, ["sweep", str(tmp_path / "cfg.yaml"), str(journal), "--grid",
                                   str(tmp_path / "grid.yaml"), "--out", str(tmp_path / "out"), "--workers", "2",
                                   "--no-progress"])
    assert res.exit_code == 0, res.output
    con = sqlite3.connect(tmp_path / "out" / "sweep.sqlite")
    assert sorted(con.execute("SELECT run, rank IS NOT NULL, p_max_orders FROM runs").fetchall()) == [
        (0, 1, 1), (1, 1, 2)]
    assert (tmp_path / "out" / "sweep.png").stat().st_size > 0 and "ranked by PnL" in res.output
    bad = CliRunner().invoke(app, ["sweep", str(tmp_path / "cfg.yaml"), str(journal), "--grid",
                                   str(tmp_path / "nope.yaml")])
    assert bad.exit_code == 2 and "nope.yaml" in bad.output
