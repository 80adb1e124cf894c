"""Spread and daily PnL history kept across runs (SQLite): what the panel's chart, `GET /api/spreads` and the
"today's PnL" card read.

One row per sample: pair, ts_ms (UTC epoch ms), both prices, the spread and, when known, its rolling mean,
std and z. Written from the event loop in small batches (`flush()` each second by the desk); the file is
created 0600 in a 0700 directory. Default path `<general.run_dir>/history.sqlite` (`control.history_db`).

Daily PnL: one row per (UTC day, run) with the run's net PnL when it entered that day (0 for a run that
started that day) and its latest net PnL; today's PnL is the sum over today's rows of (latest - at entry),
so earlier runs of the day count with their final figure and a run that crosses midnight counts only what
it made after it.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from xtb.private import create_private_file, make_private_dir

SCHEMA = """CREATE TABLE IF NOT EXISTS spreads (
    ts_ms INTEGER NOT NULL, pair TEXT NOT NULL, strategy TEXT, price_a REAL, price_b REAL,
    spread REAL, mean REAL, std REAL, z REAL, unit TEXT)"""
INDEX = "CREATE INDEX IF NOT EXISTS spreads_pair_ts ON spreads(pair, ts_ms)"
PNL_SCHEMA = """CREATE TABLE IF NOT EXISTS pnl_days (
    day TEXT NOT NULL, run TEXT NOT NULL, strategy TEXT, net_at_entry REAL NOT NULL, net REAL NOT NULL,
    updated_ms INTEGER NOT NULL, PRIMARY KEY (day, run))"""
MAX_LIMIT = 100_000


class SpreadHistory:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        make_private_dir(self.path.parent)
        create_private_file(self.path)
        self._con = sqlite3.connect(self.path, check_same_thread=False)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute(SCHEMA)
        self._con.execute(INDEX)
        self._con.execute(PNL_SCHEMA)
        self._con.commit()
        self._pending: list[tuple[Any, ...]] = []

    def add(self, ts_ms: int, pair: str, strategy: str, price_a: float | None, price_b: float | None,
            spread: float, mean: float | None, std: float | None, z: float | None, unit: str) -> None:
        self._pending.append((ts_ms, pair, strategy, price_a, price_b, spread, mean, std, z, unit))

    def flush(self) -> int:
        rows, self._pending = self._pending, []
        if rows:
            self._con.executemany("INSERT INTO spreads VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            self._con.commit()
        return len(rows)

    def query(self, pair: str, limit: int = 1000) -> list[dict[str, Any]]:
        """The newest `limit` samples of `pair`, returned old -> new."""
        limit = max(1, min(int(limit), MAX_LIMIT))
        self.flush()
        cur = self._con.execute(
            "SELECT ts_ms, price_a, price_b, spread, mean, std, z, unit, strategy FROM spreads WHERE pair = ? "
            "ORDER BY ts_ms DESC, rowid DESC LIMIT ?", (pair, limit))
        cols = [c[0] for c in cur.description]
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        rows.reverse()
        return rows

    def record_pnl(self, ts_ms: int, run: str, strategy: str, net: float, *, run_started_ms: int) -> None:
        """This run's net PnL now (quote units). The first row of a day keeps the net it entered the day with."""
        day = utc_day(ts_ms)
        entry = 0.0 if utc_day(run_started_ms) == day else net
        self._con.execute(
            "INSERT INTO pnl_days VALUES (?,?,?,?,?,?) ON CONFLICT(day, run) DO UPDATE SET net = excluded.net, "
            "updated_ms = excluded.updated_ms", (day, run, strategy, entry, net, ts_ms))
        self._con.commit()

    def day_pnl(self, ts_ms: int) -> dict[str, Any]:
        """The UTC day of `ts_ms`: net PnL summed over its runs, and how many runs traded that day."""
        day = utc_day(ts_ms)
        total, runs = self._con.execute(
            "SELECT COALESCE(SUM(net - net_at_entry), 0.0), COUNT(*) FROM pnl_days WHERE day = ?", (day,)).fetchone()
        return {"day": day, "net": float(total), "runs": int(runs)}

    def pairs(self) -> list[str]:
        self.flush()
        return [r[0] for r in self._con.execute("SELECT DISTINCT pair FROM spreads ORDER BY pair")]

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._con.close()


def utc_day(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d")
