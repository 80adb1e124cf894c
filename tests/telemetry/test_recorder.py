import json
import sqlite3
import threading

import pytest

from xtb.engine.context import Positions, StrategyContext
from xtb.telemetry.recorder import TABLES, SqliteRecorder


def rows(path, sql):
    with sqlite3.connect(path) as con:
        return con.execute(sql).fetchall()


def test_known_tables_typed_unknown_tables_as_json(tmp_path):
    rec = SqliteRecorder(tmp_path / "r.sqlite", flush_interval_s=10)
    ctx = StrategyContext("arb", connectors={}, gateway=None, tracker=None, id_allocators={},
                          positions=Positions(), sink=rec)
    ctx.record("spreads", pair="SOL", spread=3.5, mean=1.0, std=0.5, z=5.0)
    ctx.record("signals", pair="SOL", action="enter", z=2.5, spread=3.5, mode="paper", legs=["bp", "lg"])
    ctx.record("inventory", skew_bps=-2.5, levels=[1, 2], why={"k": "v"})
    rec.close()  # flushes although the writer's own period (10 s) has not passed
    path = tmp_path / "r.sqlite"
    spreads = rows(path, "SELECT strategy, pair, spread, mean, std, z FROM spreads")
    assert spreads == [("arb", "SOL", 3.5, 1.0, 0.5, 5.0)]
    ((action, z, spread, side, extra),) = rows(path, "SELECT action, z, spread, side, extra FROM signals")
    assert (action, z, spread, side) == ("enter", 2.5, 3.5, None)
    assert json.loads(extra) == {"mode": "paper", "legs": ["bp", "lg"]}  # fields outside the schema
    assert rows(path, "SELECT extra FROM spreads") == [(None,)]
    ((table, data),) = rows(path, "SELECT table_name, data FROM records")
    assert table == "inventory" and json.loads(data) == {"skew_bps": -2.5, "levels": [1, 2], "why": {"k": "v"}}
    ts = rows(path, "SELECT ts_ms FROM spreads")[0][0]
    assert ts > 1_600_000_000_000  # UTC epoch milliseconds


def test_bad_rows_fail_in_the_caller_naming_the_column(tmp_path):
    rec = SqliteRecorder(tmp_path / "r.sqlite")
    with pytest.raises(ValueError, match=r"column 'spread'.*dict"):
        rec.record("spreads", {"ts_ms": 1, "spread": {"a": 1}})
    with pytest.raises(ValueError, match="ts_ms"):
        rec.record("fills", {"venue": "backpack"})
    with pytest.raises(ValueError, match="ts_ms"):
        rec.record("my_own_table", {"x": 1})
    rec.record("spreads", {"ts_ms": 1, "pair": "SOL"})
    rec.close()
    assert rows(tmp_path / "r.sqlite", "SELECT ts_ms, pair, spread FROM spreads") == [(1, "SOL", None)]
    with pytest.raises(RuntimeError, match="closed"):
        rec.record("spreads", {"ts_ms": 2})


def test_rows_from_many_threads_all_land_and_flush_waits(tmp_path):
    rec = SqliteRecorder(tmp_path / "r.sqlite", flush_interval_s=0.05)

    def produce(k):
        for i in range(500):
            rec.record("equity", {"ts_ms": i, "strategy": f"t{k}", "equity": float(i)})

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rec.flush()
    assert rows(tmp_path / "r.sqlite", "SELECT count(*), count(DISTINCT strategy) FROM equity") == [(2000, 4)]
    rec.close()
    assert rec.rows_written == 2000 and rec.write_errors == 0


def test_schema_has_the_tables_reports_read(tmp_path):
    SqliteRecorder(tmp_path / "r.sqlite").close()
    names = {r[0] for r in rows(tmp_path / "r.sqlite", "SELECT name FROM sqlite_master WHERE type='table'")}
    assert names == set(TABLES) == {"spreads", "signals", "orders", "fills", "positions", "equity", "records"}
