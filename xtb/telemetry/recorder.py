"""SQLite run records: one file per run, written by a background thread so the hot path only queues.

`record(table, row)` validates the row against the table's columns in the caller (a typo fails at once,
naming the column) and puts one tuple on a queue; the writer thread groups what has queued into one
transaction (`executemany` per table) at least every `flush_interval_s`. `close()` flushes everything
queued before it and closes the file. The schema is documented in docs/telemetry.md; `xtb report`
reads these table names.

Known tables are typed; any other table name a strategy passes to `ctx.record` lands in `records` as a
JSON object (`table_name`, `data`), so nothing a strategy records is dropped.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from xtb.private import create_private_file

log = logging.getLogger("xtb.telemetry.recorder")

# table -> ordered (column, SQL type); every table starts with ts_ms (UTC epoch ms) and strategy.
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "spreads": (("ts_ms", "INTEGER NOT NULL"), ("strategy", "TEXT"), ("pair", "TEXT"), ("spread", "REAL"),
                ("mean", "REAL"), ("std", "REAL"), ("z", "REAL")),
    "signals": (("ts_ms", "INTEGER NOT NULL"), ("strategy", "TEXT"), ("pair", "TEXT"), ("action", "TEXT"),
                ("side", "TEXT"), ("value", "REAL"), ("z", "REAL"), ("spread", "REAL"), ("detail", "TEXT")),
    "orders": (("ts_ms", "INTEGER NOT NULL"), ("strategy", "TEXT"), ("venue", "TEXT"), ("symbol", "TEXT"),
               ("client_id", "INTEGER"), ("order_id", "TEXT"), ("side", "TEXT"), ("price", "REAL"),
               ("size", "REAL"), ("state", "TEXT"), ("filled", "REAL"), ("avg_price", "REAL"),
               ("reason", "TEXT")),
    "fills": (("ts_ms", "INTEGER NOT NULL"), ("strategy", "TEXT"), ("venue", "TEXT"), ("symbol", "TEXT"),
              ("client_id", "INTEGER"), ("trade_id", "INTEGER"), ("side", "TEXT"), ("price", "REAL"),
              ("size", "REAL"), ("maker", "INTEGER"), ("fee", "REAL"), ("realized_pnl", "REAL"),
              ("price_units", "INTEGER"), ("size_units", "INTEGER"), ("fee_units", "INTEGER")),
    "positions": (("ts_ms", "INTEGER NOT NULL"), ("strategy", "TEXT"), ("venue", "TEXT"), ("symbol", "TEXT"),
                  ("size", "REAL"), ("entry_price", "REAL"), ("size_units", "INTEGER"),
                  ("entry_units", "INTEGER")),
    "equity": (("ts_ms", "INTEGER NOT NULL"), ("strategy", "TEXT"), ("equity", "REAL"), ("realized_pnl", "REAL"),
               ("unrealized_pnl", "REAL"), ("fees", "REAL")),
    "records": (("ts_ms", "INTEGER NOT NULL"), ("strategy", "TEXT"), ("table_name", "TEXT NOT NULL"),
                ("data", "TEXT NOT NULL")),
}
GENERIC = "records"
EXTRA = "extra"  # typed tables: fields outside the schema, as a JSON object (NULL when none)
TABLES = {t: cols if t == GENERIC else (*cols, (EXTRA, "TEXT")) for t, cols in TABLES.items()}
_COLUMNS = {t: tuple(c for c, _ in cols) for t, cols in TABLES.items()}
_TYPED = {t: frozenset(cols) - {EXTRA} for t, cols in _COLUMNS.items()}
_INDEXES = ("CREATE INDEX IF NOT EXISTS fills_ts ON fills(ts_ms)",
            "CREATE INDEX IF NOT EXISTS spreads_pair_ts ON spreads(pair, ts_ms)",
            "CREATE INDEX IF NOT EXISTS records_table_ts ON records(table_name, ts_ms)")

_STOP = object()
_SCALARS = (int, float, str, bytes)
_FAST_SCALARS = frozenset({int, float, str, bytes, type(None)})  # exact types: one set lookup per value


def schema_sql() -> list[str]:
    stmts = []
    for table, cols in TABLES.items():
        body = ", ".join(f"{c} {t}" for c, t in cols)
        stmts.append(f"CREATE TABLE IF NOT EXISTS {table} ({body})")
    return [*stmts, *_INDEXES]


def _json_default(value: Any) -> Any:
    return str(value)


class SqliteRecorder:
    """Run records in one SQLite file; thread-safe `record()`, background writes, `close()` flushes."""

    def __init__(self, path: str | Path, *, flush_interval_s: float = 0.5) -> None:
        if flush_interval_s <= 0:
            raise ValueError(f"flush_interval_s must be > 0, got {flush_interval_s}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.flush_interval_s = flush_interval_s
        self.rows_written = 0
        self.write_errors = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._wake = threading.Event()
        # Create the schema here so a bad path fails in the caller, not silently in the thread. The file is
        # made 0600 first: SQLite gives its -wal and -shm files the database file's mode.
        create_private_file(self.path)
        con = sqlite3.connect(self.path)
        try:
            con.execute("PRAGMA journal_mode=WAL")  # `xtb report` may read while the run writes
            for stmt in schema_sql():
                con.execute(stmt)
            con.commit()
        finally:
            con.close()
        self._thread = threading.Thread(target=self._run, name="xtb-recorder", daemon=True)
        self._thread.start()

    # --- producer side (any thread) ----------------------------------------------------------------
    def record(self, table: str, row: Mapping[str, Any]) -> None:
        """Queue one row. Known tables: schema columns typed (missing ones NULL; a value that is not a
        number or text raises ValueError naming the column), other fields kept as JSON in `extra`. Any
        other table name is stored in `records` as JSON."""
        if self._closed:
            raise RuntimeError(f"recorder {self.path} is closed")
        if row.get("ts_ms") is None:
            raise ValueError(f"table {table!r}: ts_ms is required")
        cols = _COLUMNS.get(table)
        if cols is None or table == GENERIC:
            data = {k: v for k, v in row.items() if k not in ("ts_ms", "strategy")}
            payload = orjson.dumps(data, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()
            self._queue.put((GENERIC, (row.get("ts_ms"), row.get("strategy"), table, payload)))
            return
        get = row.get
        values = [get(c) for c in cols]
        values[-1] = None  # `extra` is filled below from the fields outside the schema
        for c, v in zip(cols, values, strict=True):
            if type(v) not in _FAST_SCALARS and not isinstance(v, _SCALARS):
                raise ValueError(f"table {table!r} column {c!r}: expected a number or text, got {type(v).__name__}")
        typed = _TYPED[table]
        if not typed.issuperset(row):
            extra = {k: v for k, v in row.items() if k not in typed}
            values[-1] = orjson.dumps(extra, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()
        self._queue.put((table, tuple(values)))

    def gauge(self, name: str, value: float, labels: Mapping[str, str]) -> None:
        """RecordSink's gauge half: the recorder keeps no gauges (the metrics exporter does)."""
        return None

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything queued so far is committed."""
        done = threading.Event()
        self._queue.put(done)
        self._wake.set()
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        """Commit everything queued and close the file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._wake.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("recorder %s did not finish within %.1f s; rows may be missing", self.path, timeout_s)

    # --- writer thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        # The writer wakes on its own period (or for flush/close), never per row: a put from the hot path
        # must not hand the GIL to this thread.
        con = sqlite3.connect(self.path)
        con.execute("PRAGMA synchronous=NORMAL")
        stop = False
        try:
            while not stop:
                self._wake.wait(self.flush_interval_s)
                self._wake.clear()
                batch: dict[str, list[tuple[Any, ...]]] = {}
                waiters: list[threading.Event] = []
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                    elif isinstance(item, threading.Event):
                        waiters.append(item)
                    else:
                        batch.setdefault(item[0], []).append(item[1])
                self._write(con, batch)
                for w in waiters:
                    w.set()
        finally:
            con.close()

    def _write(self, con: sqlite3.Connection, batch: dict[str, list[tuple[Any, ...]]]) -> None:
        if not batch:
            return
        try:
            with con:
                for table, rows in batch.items():
                    cols = _COLUMNS[table]
                    marks = ", ".join("?" * len(cols))
                    con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)
            self.rows_written += sum(len(r) for r in batch.values())
        except sqlite3.Error:
            # A value sqlite cannot bind (or a full disk): count it, keep the run going.
            self.write_errors += 1
            log.exception("recorder %s: writing %d table batch(es) failed", self.path, len(batch))
