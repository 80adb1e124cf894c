"""Spread history kept across runs (SQLite): what the panel's chart and `GET /api/spreads` read.

One row per sample: pair, ts_ms (UTC epoch ms), both prices, the spread and, when known, its rolling mean,
std and z. Written from the event loop in small batches (`flush()` each second by the desk); the file is
created 0600 in a 0700 directory. Default path `<general.run_dir>/history.sqlite` (`control.history_db`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from xtb.private import create_private_file, make_private_dir

SCHEMA = """CREATE TABLE IF NOT EXISTS spreads (
    ts_ms INTEGER NOT NULL, pair TEXT NOT NULL, strategy TEXT, price_a REAL, price_b REAL,
    spread REAL, mean REAL, std REAL, z REAL, unit TEXT)"""
INDEX = "CREATE INDEX IF NOT EXISTS spreads_pair_ts ON spreads(pair, ts_ms)"
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

    def pairs(self) -> list[str]:
        self.flush()
        return [r[0] for r in self._con.execute("SELECT DISTINCT pair FROM spreads ORDER BY pair")]

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._con.close()
