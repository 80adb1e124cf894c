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

import itertools
import json
import math
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xtb._core import JournalReader, MarkPrice
from xtb.telemetry.journal_markets import load_markets

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
    operator: list[tuple[float, str, str]] = field(default_factory=list)  # (t, action, detail JSON)
    #: "venue:symbol" -> [marks, last mark (display units), last funding rate (fraction) or None, funding times]
    marks: dict[str, list[Any]] = field(default_factory=dict)
    truncated: bool = False
    unattributed_fills: int = 0
    base_of: dict[str, str] = field(default_factory=dict)  # "venue:symbol" -> canonical base asset
    t0_wall_s: float = 0.0  # wall-clock time of the charts' zero (records' ts_ms are placed against it)


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
    data.t0_wall_s = data.start_wall_s + (t0 - reader.start_monotonic_ns) / 1e9
    markets = load_markets(path, books)
    for venue, by_id in markets.items():
        for m in by_id.values():
            data.base_of[f"{venue}:{m.symbol}"] = m.base
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
        elif kind == "operator":
            data.operator.append((t, ev.action, ev.detail))
        elif kind == "mark":
            name, ps, _ = _scale(markets, ev.venue, ev.book_id)
            row = data.marks.setdefault(name, [0, 0.0, None, set()])
            row[0] += 1
            row[1] = ev.mark_px * ps
            row[2] = None if ev.funding_rate is None else ev.funding_rate / 10**MarkPrice.FUNDING_RATE_DECIMALS
            if ev.next_funding_ms:
                row[3].add(ev.next_funding_ms)
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
        for table in ("spreads", "signals", "equity", "fills", "orders", "positions"):
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


def rolling_bands(values: list[float], window: int = 200) -> tuple[list[float], list[float], list[float]]:
    """Rolling mean, std and z-score of `values` over the last `window` points (population std)."""
    means: list[float] = []
    stds: list[float] = []
    zs: list[float] = []
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
        std = math.sqrt(max(s2 / n - mean * mean, 0.0))
        means.append(mean)
        stds.append(std)
        zs.append((x - mean) / std if std > 0 else 0.0)
    return means, stds, zs


def _net(row: Any) -> float:
    return float(row["realized_pnl"] or 0) - float(row["fees"] or 0) + float(row["unrealized_pnl"] or 0)


@dataclass
class PnlSummary:
    """The run's PnL as telemetry defines it (average-cost ledger of this run's fills, quote units)."""

    gross: float  # realized, before fees
    fees: float
    unrealized: float
    source: str
    sharpe: float | None = None
    max_drawdown: float | None = None
    win_rate: float | None = None
    closing_fills: int = 0

    @property
    def net(self) -> float:
        return self.gross - self.fees + self.unrealized


def pnl_summary(records: dict[str, list[Any]]) -> PnlSummary | None:
    """Gross / fees / unrealized / net from the last equity row (telemetry's figures at stop), else from the
    fills; Sharpe of the net PnL's changes between equity rows (annualized), its max drawdown (quote), and
    the win rate of the fills that closed a position (realized PnL > 0, before fees)."""
    equity = records.get("equity") or []
    fills = records.get("fills") or []
    if equity and "fees" in equity[-1].keys():
        last = equity[-1]
        out = PnlSummary(float(last["realized_pnl"] or 0), float(last["fees"] or 0),
                         float(last["unrealized_pnl"] or 0), "telemetry's last equity row")
    elif fills:
        out = PnlSummary(sum(float(f["realized_pnl"] or 0) for f in fills), sum(float(f["fee"] or 0) for f in fills),
                         0.0, "fills (no equity rows: unrealized unknown)")
    else:
        return None
    if len(equity) >= 3:
        net = [_net(r) for r in equity]
        steps = [b - a for a, b in itertools.pairwise(net)]
        dt = (equity[-1]["ts_ms"] - equity[0]["ts_ms"]) / 1e3 / max(len(steps), 1)
        sd = _stdev(steps)
        if sd > 0 and dt > 0:
            out.sharpe = (sum(steps) / len(steps)) / sd * math.sqrt(365 * 24 * 3600 / dt)
        peak, dd = net[0], 0.0
        for v in net:
            peak = max(peak, v)
            dd = max(dd, peak - v)
        out.max_drawdown = dd
    closing = [float(f["realized_pnl"]) for f in fills if f["realized_pnl"]]
    out.closing_fills = len(closing)
    if closing:
        out.win_rate = sum(1 for x in closing if x > 0) / len(closing)
    return out


def _stdev(xs: list[float]) -> float:
    if len(xs) < 2:
        return 0.0
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _run_manifest(run: Path) -> dict[str, Any]:
    try:
        data = json.loads((run / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def traded_pairs(run: Path, data: JournalData | None) -> list[tuple[str, str, str]]:
    """(name, "venue:symbol" A, B): the pairs the strategy declared (run.json), else each asset quoted on
    two venues (the same asset across venues; never two different assets)."""
    declared = _run_manifest(run).get("pairs")
    if isinstance(declared, list) and declared:
        return [(str(p["name"]), str(p["a"]), str(p["b"])) for p in declared if isinstance(p, dict)]
    if data is None:
        return []
    by_base: dict[str, list[str]] = defaultdict(list)
    for name in sorted(data.bid):
        by_base[data.base_of.get(name, name)].append(name)
    out = []
    for base, names in sorted(by_base.items()):
        venues = {n.split(":", 1)[0]: n for n in names}
        if len(venues) >= 2:
            a, b = sorted(venues.values())[:2]
            out.append((base, a, b))
    return out


def band_k(run: Path) -> float:
    """k of the MA ± k·σ bands: the strategy's entry z (enter_z_high) when it has one, else 2."""
    params = _run_manifest(run).get("params") or {}
    try:
        return float(params.get("enter_z_high", 2.0))
    except (TypeError, ValueError):
        return 2.0


def _price_chart(data: JournalData, path: Path) -> Path:
    """One panel per asset (its venues overlaid, our fills marked): never two assets on one axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_base: dict[str, list[str]] = defaultdict(list)
    for name in sorted(data.bid):
        by_base[data.base_of.get(name, name)].append(name)
    bases = sorted(by_base)[:6]
    fig, axes = plt.subplots(len(bases), 1, figsize=(10, 3.2 * len(bases)), dpi=100, squeeze=False, sharex=True)
    for ax, base in zip(axes[:, 0], bases, strict=True):
        ax.set_title(f"{base}: best bid / ask and our fills")
        ax.grid(True, alpha=0.3)
        for name in by_base[base]:
            ax.plot(*data.bid[name].thinned(), lw=0.8, label=f"{name} bid")
            if name in data.ask:
                ax.plot(*data.ask[name].thinned(), lw=0.8, label=f"{name} ask")
            fills = data.fills.get(name, [])
            for side, marker, color in (("bid", "^", "green"), ("ask", "v", "red")):
                pts = [(t, p) for t, p, sd, _ in fills if sd == side]
                if pts:
                    ax.scatter(*zip(*pts, strict=True), marker=marker, color=color, s=18,
                               label=f"{name} {'buys' if side == 'bid' else 'sells'}")
        ax.legend(fontsize=7)
    axes[-1, 0].set_xlabel("seconds from start")
    return _save(fig, path)


def _spread_chart(name: str, a_key: str, b_key: str, data: JournalData | None, spreads: list[Any],
                  signals: list[Any], k: float, path: Path) -> bool:
    """Spread of one pair with MA ± k·σ bands, entry ▲ / exit ▼ markers, and its z-score below."""
    rows = [r for r in spreads if r["pair"] == name and r["spread"] is not None]
    t0 = data.t0_wall_s if data is not None and data.t0_wall_s else (rows[0]["ts_ms"] / 1e3 if rows else 0.0)
    if rows:
        ts = [r["ts_ms"] / 1e3 - t0 for r in rows]
        spread = [float(r["spread"]) for r in rows]
        mean = [float(r["mean"]) if r["mean"] is not None else math.nan for r in rows]
        std = [float(r["std"]) if r["std"] is not None else math.nan for r in rows]
        z = [float(r["z"]) if r["z"] is not None else math.nan for r in rows]
        unit, source = "quote", "the strategy's spreads records"
    elif data is not None and a_key in data.bid and b_key in data.bid:
        ts, spread = _aligned_spread(_mid_series(data, a_key), _mid_series(data, b_key))
        if not ts:
            return False
        mean, std, z = rolling_bands(spread)
        unit, source = "bps", "(A - B) / B of the journal's mids, rolling 200 updates"
    else:
        return False
    fig, (ax, az) = _twin(f"Spread {name}: {a_key} - {b_key} ({unit}), MA ± {k:g}σ; {source}")
    ax.plot(ts, spread, lw=0.8, label="spread")
    ax.plot(ts, mean, lw=0.8, ls="--", color="gray", label="MA")
    ax.plot(ts, [m + k * s for m, s in zip(mean, std, strict=True)], lw=0.6, ls=":", color="orange",
            label=f"MA ± {k:g}σ")
    ax.plot(ts, [m - k * s for m, s in zip(mean, std, strict=True)], lw=0.6, ls=":", color="orange")
    az.plot(ts, z, lw=0.8, color="purple")
    for level in (k, -k):
        az.axhline(level, lw=0.6, ls=":", color="orange")
    marks = [s for s in signals if s["pair"] == name]
    for kind, marker, color in (("enter", "^", "green"), ("exit", "v", "red")):
        pts = []
        for s in marks:
            is_entry = str(s["action"]).startswith("enter")
            if is_entry != (kind == "enter"):
                continue
            t = s["ts_ms"] / 1e3 - t0
            y = s["spread"] if unit == "quote" and s["spread"] is not None else _at(ts, spread, t)
            if y is not None:
                pts.append((t, y))
        if pts:
            ax.scatter(*zip(*pts, strict=True), marker=marker, color=color, s=40, zorder=3,
                       label="entries" if kind == "enter" else "exits")
    ax.legend(fontsize=7)
    _save(fig, path)
    return True


def _at(ts: list[float], values: list[float], t: float) -> float | None:
    """The series' value at time t (the last point at or before it)."""
    import bisect

    i = bisect.bisect_right(ts, t) - 1
    return values[i] if 0 <= i < len(values) else None


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
        written["price"] = _price_chart(data, out / "price.png")
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

    pnl = pnl_summary(records)
    equity = records.get("equity")
    if equity and {"realized_pnl", "unrealized_pnl", "fees"} <= set(equity[0].keys()):
        fig, ax = _figure("Run PnL (quote): net = realized - fees + unrealized")
        t0 = data.t0_wall_s if data is not None else equity[0]["ts_ms"] / 1e3
        xs = [r["ts_ms"] / 1e3 - t0 for r in equity]
        ax.plot(xs, [_net(r) for r in equity], label="net")
        ax.plot(xs, [float(r["realized_pnl"] or 0) for r in equity], lw=0.8, label="realized (gross, before fees)")
        ax.plot(xs, [-float(r["fees"] or 0) for r in equity], lw=0.8, label="fees (paid, negative)")
        ax.legend(fontsize=7)
        ax.set_xlabel("seconds from start")
        written["pnl"] = _save(fig, out / "pnl.png")
    elif data is not None and data.pnl.t:
        fig, ax = _figure("Cash flow of the journal's fills marked to the mid (no telemetry equity records)")
        ax.plot(*data.pnl.thinned())
        ax.set_xlabel("seconds from start")
        written["pnl"] = _save(fig, out / "pnl.png")
    else:
        notes.append("pnl: no equity records and no fills")

    pairs = traded_pairs(run, data)
    spreads = records.get("spreads") or []
    named = {p[0] for p in pairs}
    for pair_name in dict.fromkeys(str(r["pair"]) for r in spreads):  # recorded pairs of a run.json without
        if pair_name not in named:  # declared ones (an older run, a replay): their own records only
            pairs.append((pair_name, "A", "B"))
    signals = records.get("signals") or []
    k = band_k(run)
    for i, (name, a_key, b_key) in enumerate(pairs):
        path = out / f"spread_{i + 1}.png"
        if _spread_chart(name, a_key, b_key, data, spreads, signals, k, path):
            written[f"spread_{i + 1}"] = path
        else:
            notes.append(f"spread {name}: no spreads records and no books of {a_key} / {b_key}")
    if not pairs:
        notes.append("spread: no traded pair (the strategy declares none and no asset trades on two venues)")

    if data is not None and data.latency_us:
        fig, ax = _figure("Frame received -> event decoded (µs)")
        lat = sorted(data.latency_us)
        cap = lat[min(len(lat) - 1, int(len(lat) * 0.999))]
        ax.hist([x for x in lat if x <= cap], bins=60)
        ax.set_xlabel("µs (up to p99.9)")
        written["latency"] = _save(fig, out / "latency.png")
    else:
        notes.append("latency: no market-data events with decode timestamps")

    md = _markdown(run, data, records, written, notes, pnl)
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
              notes: list[str], pnl: PnlSummary | None) -> str:
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
    if pnl is not None:
        def opt(v: float | None, fmt: str) -> str:
            return "n/a" if v is None else format(v, fmt)
        lines += [
            "## PnL (quote units)", "",
            f"From {pnl.source}: the run's own fills, average cost per venue and market; the same figures as the "
            "telemetry summary, the stats' equity and the panel.", "",
            "| | |", "|---|---|",
            f"| gross (realized, before fees) | {pnl.gross:.4f} |",
            f"| fees | {pnl.fees:.4f} |",
            f"| unrealized (open positions at the mid) | {pnl.unrealized:.4f} |",
            f"| **net** (gross - fees + unrealized) | **{pnl.net:.4f}** |",
            f"| Sharpe (net PnL changes between equity rows, annualized) | {opt(pnl.sharpe, '.2f')} |",
            f"| max drawdown of net PnL | {opt(pnl.max_drawdown, '.4f')} |",
            f"| win rate (fills that closed a position with realized PnL > 0) | "
            f"{'n/a' if pnl.win_rate is None else f'{pnl.win_rate:.0%} of {pnl.closing_fills}'} |",
            "",
        ]
    if data is not None and data.marks:
        lines += ["## Mark price and funding", "",
                  "From the journal's MarkPrice events (the venue's mark price stream).", "",
                  "| market | marks | last mark | last funding rate | funding times announced |",
                  "|---|---|---|---|---|"]
        for name, (n, mark, rate, times) in sorted(data.marks.items()):
            shown = "-" if rate is None else f"{rate:.6%}"
            lines.append(f"| {name} | {n} | {mark:g} | {shown} | {len(times)} |")
        lines.append("")
    if data is not None and data.operator:
        lines += ["## Operator actions", "", "From the journal, in order with the market data they acted on.", "",
                  "| t (s) | action | detail |", "|---|---|---|"]
        lines += [f"| {t:.1f} | {action} | `{detail.replace('|', '/')}` |" for t, action, detail in data.operator]
        lines.append("")
    if records:
        lines += ["records.sqlite: " + ", ".join(f"{t} ({len(r)} rows)" for t, r in sorted(records.items())), ""]
    titles = {"price": "Prices (one panel per asset)", "inventory": "Inventory", "pnl": "PnL", "latency": "Latency"}
    for key, title in titles.items():
        if key in written:
            lines += [f"## {title}", "", f"![{title}]({written[key].name})", ""]
    for key in sorted(k for k in written if k.startswith("spread_")):
        lines += [f"## Spread {key.split('_')[1]}", "", f"![spread]({written[key].name})", ""]
    if notes:
        lines += ["## Not charted", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def summary_json(run_dir: str | Path) -> str:
    """The report's table as JSON (for scripts)."""
    data = read_journal_data(Path(run_dir) / "events.journal")
    return json.dumps({"events": dict(data.counts), "duration_s": data.duration_s,
                       "fills": sum(len(v) for v in data.fills.values()), "truncated": data.truncated})
