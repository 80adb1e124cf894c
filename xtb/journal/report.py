"""End-of-run report (seed 003): `report.md` plus PNG charts, from a run directory.

    paths = write_report("runs/20261122T053000")     # -> runs/.../report/report.md and *.png

Sources, each optional: `events.journal` (+ `events.journal.markets.json`) — books, trades, our orders,
fills and positions with core timestamps; `records.sqlite` — the telemetry recorder's tables
(`spreads(ts_ms, strategy, pair, spread, mean, std, z)`, `equity`, ...). A chart whose data is missing is
left out and the report says why. Prices are converted to decimals with the journal's market scales.

Charts: price and quotes (best bid/ask, our fills), inventory (signed position per market), PnL (the
recorder's equity if present, else cash flow of fills marked to the mid), spread and z-score (the
recorder's spreads if present, else the relative spread between the first two markets and its rolling
z-score), latency histogram (frame received -> event decoded, per event).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xtb._core import JournalReader
from xtb.journal.markets import load_markets

#: most points per plotted series (longer series are thinned evenly)
MAX_POINTS = 20_000
#: decode latencies above this are not latencies (replayed or hand-made timestamps) and are left out
MAX_LATENCY_NS = 1_000_000_000


@dataclass
class Series:
    t: list[float] = field(default_factory=list)
    v: list[float] = field(default_factory=list)

    def add(self, t: float, v: float) -> None:
        self.t.append(t)
        self.v.append(v)

    def thinned(self) -> tuple[list[float], list[float]]:
        step = max(1, len(self.t) // MAX_POINTS)
        return self.t[::step], self.v[::step]


@dataclass
class JournalData:
    start_wall_s: float = 0.0
    duration_s: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bid: dict[str, Series] = field(default_factory=lambda: defaultdict(Series))
    ask: dict[str, Series] = field(default_factory=lambda: defaultdict(Series))
    mid_last: dict[str, float] = field(default_factory=dict)
    fills: dict[str, list[tuple[float, float, str, float]]] = field(default_factory=lambda: defaultdict(list))
    position: dict[str, Series] = field(default_factory=lambda: defaultdict(Series))
    pnl: Series = field(default_factory=Series)
    latency_us: list[float] = field(default_factory=list)
    truncated: bool = False
    unattributed_fills: int = 0


def _scale(markets: dict[str, dict[int, Any]], venue: str, book_id: int) -> tuple[str, float, float]:
    m = markets.get(venue, {}).get(book_id)
    if m is None:
        return f"{venue}:book{book_id}", 1.0, 1.0
    return f"{venue}:{m.symbol}", 10.0**-m.price_decimals, 10.0**-m.size_decimals


def read_journal_data(path: Path) -> JournalData:
    """One pass over the journal: everything the charts need, in display units (seconds from start)."""
    reader = JournalReader(path)
    books: set[tuple[str, int]] = set()
    data = JournalData(start_wall_s=reader.start_wall_ns / 1e9)
    t0 = reader.start_monotonic_ns
    events: list[Any] = []
    while batch := reader.read_batch(65536):
        events.extend(batch)
        for ev in batch:
            if ev.kind == "book" or ev.kind == "trade":
                books.add((ev.venue, ev.book_id))
    data.truncated = reader.truncated
    if events:
        t0 = events[0].recv_ns  # a replay's journal carries the recorded clock, not its own start time
    markets = load_markets(path, books)
    # A Fill names its order, not its market: it goes to the venue's market whose touch is nearest its
    # price (markets of one venue trade at distinct prices: SOL vs ETH), or to the only one.
    last_mid: dict[str, dict[int, float]] = defaultdict(dict)  # venue -> book_id -> mid in raw units

    def market_of_fill(venue: str, px: int) -> int | None:
        mids = last_mid.get(venue)
        if not mids:
            by_id = markets.get(venue, {})
            return next(iter(by_id)) if len(by_id) == 1 else None
        return min(mids, key=lambda b: abs(px - mids[b]) / max(abs(mids[b]), 1.0))
    cash = 0.0
    pos_units: dict[str, float] = defaultdict(float)
    last_t = 0.0
    for ev in events:
        kind = ev.kind
        data.counts[kind] += 1
        t = (ev.recv_ns - t0) / 1e9
        last_t = max(last_t, t)
        lat = ev.decoded_ns - ev.recv_ns
        # Only plausible samples: a replay re-stamps decoded_ns at replay time (its recv_ns is recorded).
        if 0 <= lat < MAX_LATENCY_NS and (kind == "book" or kind == "trade"):
            data.latency_us.append(lat / 1e3)
        if kind == "book":
            name, ps, _ = _scale(markets, ev.venue, ev.book_id)
            if ev.best_bid is not None:
                data.bid[name].add(t, ev.best_bid[0] * ps)
            if ev.best_ask is not None:
                data.ask[name].add(t, ev.best_ask[0] * ps)
            if ev.best_bid is not None and ev.best_ask is not None:
                data.mid_last[name] = (ev.best_bid[0] + ev.best_ask[0]) * ps / 2
                last_mid[ev.venue][ev.book_id] = (ev.best_bid[0] + ev.best_ask[0]) / 2
        elif kind == "position":
            name, _, ss = _scale(markets, ev.venue, ev.book_id)
            data.position[name].add(t, ev.size * ss)
        elif kind == "fill":
            book_id = market_of_fill(ev.venue, ev.px)
            if book_id is None:
                data.unattributed_fills += 1
                continue
            name, ps, ss = _scale(markets, ev.venue, book_id)
            px, sz = ev.px * ps, ev.sz * ss
            sign = 1.0 if ev.side == "bid" else -1.0
            data.fills[name].append((t, px, ev.side, sz))
            cash -= sign * px * sz + ev.fee * ps * ss
            pos_units[name] += sign * sz
            marked = sum(q * data.mid_last.get(n, px) for n, q in pos_units.items())
            data.pnl.add(t, cash + marked)
    data.duration_s = max(last_t, 0.0)
    return data


def read_sqlite(path: Path) -> dict[str, list[sqlite3.Row]]:
    """Rows of the recorder's tables that exist (missing tables are simply absent)."""
    out: dict[str, list[sqlite3.Row]] = {}
    if not path.exists():
        return out
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for table in ("spreads", "equity", "fills", "orders", "positions"):
            if table in tables:
                out[table] = con.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
    finally:
        con.close()
    return out


def _figure(title: str) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _rolling_z(values: list[float], window: int = 200) -> list[float]:
    out: list[float] = []
    s = s2 = 0.0
    for i, x in enumerate(values):
        s += x
        s2 += x * x
        if i >= window:
            old = values[i - window]
            s -= old
            s2 -= old * old
        n = min(i + 1, window)
        mean = s / n
        var = max(s2 / n - mean * mean, 0.0)
        out.append((x - mean) / math.sqrt(var) if var > 0 else 0.0)
    return out


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Write report.md and the charts; returns {name: path} of what was written."""
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run directory {run} does not exist")
    out = Path(out_dir) if out_dir is not None else run / "report"
    out.mkdir(parents=True, exist_ok=True)
    journal = run / "events.journal"
    data = read_journal_data(journal) if journal.exists() else None
    records = read_sqlite(run / "records.sqlite")
    written: dict[str, Path] = {}
    notes: list[str] = []

    if data is not None and data.bid:
        fig, ax = _figure("Price and quotes")
        for name in sorted(data.bid)[:4]:
            ax.plot(*data.bid[name].thinned(), lw=0.8, label=f"{name} bid")
            if name in data.ask:
                ax.plot(*data.ask[name].thinned(), lw=0.8, label=f"{name} ask")
            fills = data.fills.get(name, [])
            for side, marker, color in (("bid", "^", "green"), ("ask", "v", "red")):
                pts = [(t, p) for t, p, s, _ in fills if s == side]
                if pts:
                    ax.scatter(*zip(*pts, strict=True), marker=marker, color=color, s=18, label=f"{name} {side} fills")
        ax.set_xlabel("seconds from start")
        ax.legend(fontsize=7)
        written["price"] = _save(fig, out / "price.png")
    else:
        notes.append("price: no book updates in the journal")

    if data is not None and data.position:
        fig, ax = _figure("Inventory (signed position)")
        for name, s in sorted(data.position.items()):
            ax.step(*s.thinned(), where="post", label=name)
        ax.set_xlabel("seconds from start")
        ax.legend(fontsize=7)
        written["inventory"] = _save(fig, out / "inventory.png")
    else:
        notes.append("inventory: no position events")

    equity = records.get("equity")
    if equity:
        cols = equity[0].keys()
        if "ts_ms" in cols and {"realized_pnl", "unrealized_pnl"} <= set(cols):  # the telemetry recorder's rows
            fig, ax = _figure("PnL (realized + unrealized, records.sqlite)")
            t0 = equity[0]["ts_ms"]
            xs = [(r["ts_ms"] - t0) / 1e3 for r in equity]
            total = [float(r["realized_pnl"] or 0) + float(r["unrealized_pnl"] or 0) for r in equity]
            ax.plot(xs, total, label="total")
            ax.plot(xs, [float(r["realized_pnl"] or 0) for r in equity], label="realized")
            ax.legend()
            ax.set_xlabel("seconds from start")
            written["pnl"] = _save(fig, out / "pnl.png")
    if "pnl" not in written:
        if data is not None and data.pnl.t:
            fig, ax = _figure("PnL (fills marked to mid, quote units)")
            ax.plot(*data.pnl.thinned())
            ax.set_xlabel("seconds from start")
            written["pnl"] = _save(fig, out / "pnl.png")
        else:
            notes.append("pnl: no fills and no equity records")

    spreads = records.get("spreads")
    if spreads:
        fig, (ax, az) = _twin("Spread and z-score (records.sqlite)")
        by_pair: dict[str, list[sqlite3.Row]] = defaultdict(list)
        for r in spreads:
            by_pair[r["pair"]].append(r)
        t0 = spreads[0]["ts_ms"]
        for pair, rows in by_pair.items():
            ts = [(r["ts_ms"] - t0) / 1e3 for r in rows]
            ax.plot(ts, [r["spread"] for r in rows], lw=0.8, label=f"{pair} spread")
            az.plot(ts, [r["z"] if r["z"] is not None else 0.0 for r in rows], lw=0.8, label=f"{pair} z")
        ax.legend(fontsize=7)
        written["spread"] = _save(fig, out / "spread.png")
    elif data is not None and len(data.bid) >= 2:
        a, b = sorted(data.bid)[:2]
        sa, sb = _mid_series(data, a), _mid_series(data, b)
        ts, rel = _aligned_spread(sa, sb)
        if ts:
            fig, (ax, az) = _twin(f"Spread {a} vs {b} (bps) and z-score")
            ax.plot(ts, rel, lw=0.8)
            az.plot(ts, _rolling_z(rel), lw=0.8, color="purple")
            written["spread"] = _save(fig, out / "spread.png")
    if "spread" not in written:
        notes.append("spread: no spreads records and fewer than two markets with books")

    if data is not None and data.latency_us:
        fig, ax = _figure("Frame received -> event decoded (µs)")
        lat = sorted(data.latency_us)
        cap = lat[min(len(lat) - 1, int(len(lat) * 0.999))]
        ax.hist([x for x in lat if x <= cap], bins=60)
        ax.set_xlabel("µs (up to p99.9)")
        written["latency"] = _save(fig, out / "latency.png")
    else:
        notes.append("latency: no market-data events with decode timestamps")

    md = _markdown(run, data, records, written, notes)
    (out / "report.md").write_text(md)
    written["report"] = out / "report.md"
    return written


def _twin(title: str) -> tuple[Any, tuple[Any, Any]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, az) = plt.subplots(2, 1, figsize=(10, 6), dpi=100, sharex=True)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    az.grid(True, alpha=0.3)
    az.set_ylabel("z")
    az.set_xlabel("seconds from start")
    return fig, (ax, az)


def _mid_series(data: JournalData, name: str) -> Series:
    bids, asks = data.bid[name], data.ask.get(name, Series())
    s = Series()
    for t, b, a in zip(bids.t, bids.v, asks.v, strict=False):
        s.add(t, (a + b) / 2)
    return s


def _aligned_spread(a: Series, b: Series) -> tuple[list[float], list[float]]:
    """Relative spread (a - b) / b in bps, sampled at each update of either market (last value held)."""
    ts: list[float] = []
    out: list[float] = []
    i = j = 0
    va = vb = None
    while i < len(a.t) or j < len(b.t):
        if j >= len(b.t) or (i < len(a.t) and a.t[i] <= b.t[j]):
            t, va = a.t[i], a.v[i]
            i += 1
        else:
            t, vb = b.t[j], b.v[j]
            j += 1
        if va is not None and vb:
            ts.append(t)
            out.append((va - vb) / vb * 1e4)
    step = max(1, len(ts) // MAX_POINTS)
    return ts[::step], out[::step]


def _markdown(run: Path, data: JournalData | None, records: dict[str, list[Any]], written: dict[str, Path],
              notes: list[str]) -> str:
    lines = [f"# Run report: {run.name}", ""]
    if data is None:
        lines += ["No `events.journal` in this run directory (telemetry.journal off?).", ""]
    else:
        lines += [
            "| | |", "|---|---|",
            f"| journal events | {sum(data.counts.values())} |",
            f"| by kind | {', '.join(f'{k}: {v}' for k, v in sorted(data.counts.items()))} |",
            f"| duration | {data.duration_s:.1f} s |",
            f"| markets | {', '.join(sorted(data.bid)) or '-'} |",
            f"| fills | {sum(len(v) for v in data.fills.values())} |",
            f"| final positions | {', '.join(f'{n}: {s.v[-1]:g}' for n, s in sorted(data.position.items())) or '-'} |",
            f"| PnL (fills marked to mid) | {data.pnl.v[-1]:.4f} |" if data.pnl.v else "| PnL | no fills |",
        ]
        if data.latency_us:
            lat = sorted(data.latency_us)
            pct = {p: lat[min(len(lat) - 1, int(len(lat) * p / 100))] for p in (50, 99, 99.9)}
            lines.append(f"| decode latency p50 / p99 / p99.9 | {pct[50]:.1f} / {pct[99]:.1f} / {pct[99.9]:.1f} µs |")
        if data.unattributed_fills:
            lines.append(f"| fills without a market | {data.unattributed_fills} (no book of their venue yet) |")
        if data.truncated:
            lines.append("| journal | **truncated** (writer stopped mid-frame; events up to the last whole frame) |")
        lines.append("")
    if records:
        lines += ["records.sqlite: " + ", ".join(f"{t} ({len(r)} rows)" for t, r in sorted(records.items())), ""]
    titles = {"price": "Price and quotes", "inventory": "Inventory", "pnl": "PnL", "spread": "Spread and z-score",
              "latency": "Latency"}
    for key, title in titles.items():
        if key in written:
            lines += [f"## {title}", "", f"![{title}]({written[key].name})", ""]
    if notes:
        lines += ["## Not charted", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def summary_json(run_dir: str | Path) -> str:
    """The report's table as JSON (for scripts)."""
    data = read_journal_data(Path(run_dir) / "events.journal")
    return json.dumps({"events": dict(data.counts), "duration_s": data.duration_s,
                       "fills": sum(len(v) for v in data.fills.values()), "truncated": data.truncated})
