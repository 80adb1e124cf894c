"""Run telemetry: what one engine run exports and records, fed from the dispatcher and the clock.

Built by the engine in `start()` from the config's `telemetry` section (`RunTelemetry.for_engine`):

* a run directory `<general.run_dir>/<strategy>-<UTC yyyymmddThhmmssZ>/` with `run.json` (what ran),
  the stats log and the SQLite records (docs/telemetry.md lists the files);
* the Prometheus exporter (mm_* and xtb_* families) when `telemetry.prometheus_port` is set;
* the trading stats (seed 002) written every `stats_interval_s` and summarised on stop.

It is a dispatcher listener (after the strategy, so the strategy's callbacks run first): fills, order
updates, positions, book tops, resyncs and rate-limit events update metrics, stats, the PnL ledger and
the records. The gateway's latency samples arrive through `on_order_latency`. Two clock handlers
bracket the engine's tick: `tick_started` opens the tick window (an order decided inside it, with no
frame behind it, is measured from the tick's start) and `on_tick` closes it and refreshes the polled
gauges (ring depth, open orders, REST counters, risk denials and trading state) every `poll_interval_s`.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import Gauge

from xtb.model.types import fill_fee_units
from xtb.private import make_private_dir, write_private_text
from xtb.telemetry.ledger import MarketBook
from xtb.telemetry.metrics import FAMILIES, TRADING_STATES, Metrics
from xtb.telemetry.recorder import SqliteRecorder
from xtb.telemetry.stats import StatsWriter, TradingStats

log = logging.getLogger("xtb.telemetry")

_GAUGES = {f.name: f for f in FAMILIES if f.kind == "gauge"}
_FAMILY_NAMES = {f.name: "counter" if f.kind == "raw_counter" else f.kind for f in FAMILIES}
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass(frozen=True)
class _Scale:
    price: float  # 10 ** price_decimals
    size: float
    notional: float


BOOK_LATENCY_STRIDE = 16  # frame-to-event latency of book events: 1 sample in this many per book
VOL_SHORT_POLLS = 60  # volatility regime: the last minute's mid changes (at 1 poll/s) ...
VOL_LONG_POLLS = 1800  # ... against the last half hour's; regime 0 below half, 2 above twice, else 1
ADVERSE_HORIZON_S = 5.0  # a maker fill is adverse when the mid this much later is through its price
ADVERSE_WINDOW = 100  # the rate covers the latest this many maker fills


class _BookGauges:
    """One book's metric children and its latest top, written by on_book, published by the poll."""

    __slots__ = (
        "ask",
        "bid",
        "dirty",
        "g_ask",
        "g_bid",
        "g_mid",
        "g_spread",
        "latency",
        "scale",
        "seen",
        "symbol",
    )

    def __init__(self, symbol: str, scale: _Scale, g_bid: Any, g_ask: Any, g_mid: Any, g_spread: Any,
                 latency: Any) -> None:
        self.symbol, self.scale = symbol, scale
        self.g_bid, self.g_ask, self.g_mid, self.g_spread, self.latency = g_bid, g_ask, g_mid, g_spread, latency
        self.bid: tuple[int, int] | None = None
        self.ask: tuple[int, int] | None = None
        self.dirty = False
        self.seen = 0


class _Market:
    """Per (venue, symbol): scale, PnL ledger and the metric children its events touch (a `labels()`
    lookup costs microseconds; these are resolved once)."""

    def __init__(self, metrics: Metrics, venue: str, symbol: str, scale: _Scale) -> None:
        lab = {"venue": venue, "symbol": symbol}
        self.scale = scale
        self.ledger = MarketBook()
        self.fills = {s: metrics.mm_total_fills.labels(**lab, side=s) for s in ("bid", "ask")}
        self.realized = metrics.mm_realized_pnl.labels(**lab)
        self.unrealized = metrics.mm_unrealized_pnl.labels(**lab)
        self.cancelled = metrics.mm_orders_canceled_count.labels(**lab)
        self.fills_total = metrics.mm_fills.labels(**lab)
        self.quotes = metrics.mm_quotes_generated.labels(**lab)
        self.recent_fills: deque[float] = deque()  # monotonic times of fills (last 5 min)
        self.recent_placed: deque[float] = deque()  # monotonic times of placed orders (last 5 min)
        self.last_mid = 0.0
        self.mid_returns: deque[float] = deque(maxlen=VOL_LONG_POLLS)  # log mid change per poll (volatility regime)
        self.maker_fills: deque[tuple[float, str, int]] = deque()  # (time, side, price) awaiting the check
        self.adverse: deque[bool] = deque(maxlen=ADVERSE_WINDOW)  # did the mid move against each maker fill
        self.placed = {s: metrics.mm_orders_placed_count.labels(**lab, side=s) for s in ("bid", "ask")}
        self.position = metrics.mm_position.labels(**lab)
        self.entry = metrics.mm_entry_price.labels(**lab)


def new_run_dir(root: str | Path, strategy: str, now: datetime | None = None) -> Path:
    """`root/<strategy>-<UTC stamp>`, created; a second run in the same second gets `-2`, `-3`, ..."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = Path(root) / f"{strategy}-{stamp}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            return make_private_dir(path, exist_ok=False)  # 0700: positions, fills and PnL are nobody else's
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run directory under {root}: too many runs named {base.name}")


class TelemetrySink:
    """The StrategyContext's RecordSink: rows to the SQLite recorder, gauges to the exporter.

    `gauge(name, ...)` sets one of the exporter's gauge families (`mm_spread_gauge`, ...); a label the
    family has but the call lacks is exported as "" and an extra label is dropped (each warned once), so a
    strategy written against other labels keeps running. Any other valid metric name becomes a strategy
    gauge of its own, with the label names of its first call.
    """

    def __init__(self, recorder: SqliteRecorder | None, metrics: Metrics) -> None:
        self.recorder = recorder
        self.metrics = metrics
        self._children: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
        self._custom: dict[str, tuple[Any, tuple[str, ...]]] = {}
        self._warned: set[tuple[str, tuple[str, ...]]] = set()

    def record(self, table: str, row: Mapping[str, Any]) -> None:
        if self.recorder is not None:
            self.recorder.record(table, row)

    def gauge(self, name: str, value: float, labels: Mapping[str, str]) -> None:
        key = (name, tuple(sorted(labels.items())))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._resolve(name, labels)
        child.set(value)

    def _resolve(self, name: str, labels: Mapping[str, str]) -> Any:
        fam = _GAUGES.get(name)
        if fam is not None:
            metric, names = getattr(self.metrics, name), fam.labels
        elif name in _FAMILY_NAMES:
            raise ValueError(f"{name} is a {_FAMILY_NAMES[name]}, not a gauge: telemetry sets it from events")
        elif name in self._custom:
            metric, names = self._custom[name]
        else:
            if not _METRIC_NAME.fullmatch(name):
                raise ValueError(f"gauge name {name!r} is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
            names = tuple(sorted(labels))
            metric = Gauge(name, f"strategy gauge {name}", names, registry=self.metrics.registry)
            self._custom[name] = (metric, names)
        given = tuple(sorted(labels))
        if set(given) != set(names) and (name, given) not in self._warned:
            self._warned.add((name, given))
            log.warning("gauge %s takes labels (%s), got (%s): missing ones are exported as \"\", extra ones "
                        "dropped", name, ", ".join(names), ", ".join(given))
        if not names:
            return metric
        return metric.labels(**{n: str(labels.get(n, "")) for n in names})


class RunTelemetry:
    def __init__(
        self,
        *,
        strategy: str,
        run_dir: Path,
        metrics: Metrics,
        stats_writer: StatsWriter | None,
        recorder: SqliteRecorder | None,
        connectors: Mapping[str, Any],
        tracker: Any,
        symbol_of: Any,
        ring: Any = None,
        dispatcher: Any = None,
        gateway: Any = None,
        risk: Any = None,
        starting_equity: float | None = None,
        poll_interval_s: float = 1.0,
        equity_interval_s: float = 5.0,
        metrics_port: int | None = None,
    ) -> None:
        self.strategy = strategy
        self.run_dir = run_dir
        self.metrics = metrics
        self.stats = TradingStats()
        self.stats_writer = stats_writer
        self.recorder = recorder
        self.sink = TelemetrySink(recorder, metrics)
        self.connectors = connectors
        self.tracker = tracker
        self.symbol_of = symbol_of
        self.ring = ring
        self.dispatcher = dispatcher
        self.gateway = gateway
        self.risk = risk
        self.starting_equity = starting_equity
        self.poll_interval_s = poll_interval_s
        self.equity_interval_s = equity_interval_s
        self.metrics_port = metrics_port
        self._markets: dict[tuple[str, str], _Market] = {}
        self._frame_hist: dict[str, Any] = {}
        self.mids: dict[tuple[str, str], int] = {}
        self.latency_samples = 0
        self.t2o_recent_us: deque[float] = deque(maxlen=1024)  # tick-to-order of the latest orders (panel, alerts)
        self._scales: dict[tuple[str, str], _Scale] = {}
        self._books: dict[tuple[str, int], _BookGauges] = {}
        self._wall_offset_ns = time.time_ns() - time.monotonic_ns()
        # Recent clock ticks as [start_ns, end_ns] (end 0 while running): a latency sample arrives when
        # its send ends, possibly ticks later, and is matched to the tick that decided it.
        self._ticks: deque[list[int]] = deque(maxlen=256)
        self._last_poll = float("-inf")
        self._last_equity = float("-inf")
        self._seen_denied: dict[str, int] = {}
        self._seen_rest: dict[int, tuple[int, int]] = {}
        self._seen_overflowed = 0
        self._seen_slow = 0
        self._active_keys: set[tuple[str, str, str]] = set()
        self.consecutive_failures = 0  # orders failed in a row (alert input)
        self._book_changed: dict[tuple[str, int], tuple[int, float]] = {}
        self._state = ""
        self._closed = False

    # --- construction ------------------------------------------------------------------------------
    @classmethod
    def for_engine(cls, engine: Any, *, starting_equity: float | None = None) -> RunTelemetry | None:
        """From `engine.config.telemetry`; None when telemetry is disabled."""
        tcfg = engine.config.telemetry
        if not tcfg.enabled:
            return None
        strategy = engine.config.strategy.name
        if starting_equity is None and not engine.live:
            from xtb.model.constants import PAPER_COLLATERAL_USDC  # each paper account starts with this

            starting_equity = float(PAPER_COLLATERAL_USDC * len(engine.connectors))
        run_dir = getattr(engine, "run_path", None) or new_run_dir(engine.config.general.run_dir, strategy)
        engine.run_path = run_dir  # the journal (if any) writes into the same directory
        metrics = Metrics()
        writer = StatsWriter(run_dir / tcfg.stats_file, tcfg.stats_interval_s,
                             header=f"strategy {strategy}, {'live' if engine.live else 'paper'} mode")
        recorder = (SqliteRecorder(run_dir / tcfg.sqlite_file, flush_interval_s=tcfg.flush_interval_s)
                    if tcfg.sqlite else None)
        port = None
        try:
            if tcfg.prometheus_port is not None:
                try:
                    port = metrics.serve(tcfg.prometheus_port, tcfg.prometheus_addr)
                except OSError as e:
                    raise OSError(e.errno, f"telemetry.prometheus_port: cannot listen on "
                                           f"{tcfg.prometheus_addr}:{tcfg.prometheus_port}: {e.strerror}") from None
            manifest = {
                "strategy": strategy,
                "mode": "live" if engine.live else "paper",
                "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                "venues": {v: list(c.symbols) for v, c in engine.config.venues.items() if c.enabled},
                "params": engine.config.strategy.params,
                "metrics_port": port,
                "stats_file": tcfg.stats_file,
                "sqlite_file": tcfg.sqlite_file if tcfg.sqlite else None,
            }
            write_private_text(run_dir / "run.json", json.dumps(manifest, indent=2, default=str) + "\n")
        except BaseException:
            # A port in use or an unwritable directory: leave no exporter thread or writer behind.
            metrics.stop()
            if recorder is not None:
                recorder.close()
            raise
        log.info("run directory %s%s", run_dir, "" if port is None else f", metrics on {tcfg.prometheus_addr}:{port}")
        telemetry = cls(
            strategy=strategy, run_dir=run_dir, metrics=metrics, stats_writer=writer, recorder=recorder,
            connectors=engine.connectors, tracker=engine.tracker, symbol_of=engine.symbol_of, ring=engine.ring,
            dispatcher=engine.dispatcher, gateway=engine.gateway, risk=engine.risk, starting_equity=starting_equity,
            poll_interval_s=tcfg.poll_interval_s, equity_interval_s=tcfg.equity_interval_s, metrics_port=port,
        )
        for venue, vcfg in engine.config.venues.items():
            if venue in engine.connectors:
                telemetry.prepare(venue, vcfg.symbols)
        return telemetry

    def note_pairs(self, pairs: Any) -> None:
        """Add the strategy's traded pairs to run.json: [{"name", "a": "venue:symbol", "b": ...}]."""
        path = self.run_dir / "run.json"
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            manifest["pairs"] = [{"name": n, "a": f"{a[0]}:{a[1]}", "b": f"{b[0]}:{b[1]}"} for n, a, b in pairs]
            write_private_text(path, json.dumps(manifest, indent=2, default=str) + "\n")
        except (OSError, ValueError, TypeError) as e:
            log.warning("run.json: traded pairs not recorded: %s", e)

    def prepare(self, venue: str, symbols: Any) -> None:
        """Resolve the markets' scales and metric children now, so the first fill does not pay for it."""
        for symbol in symbols:
            self._market(venue, symbol)

    # --- helpers -----------------------------------------------------------------------------------
    def _scale(self, venue: str, symbol: str) -> _Scale:
        key = (venue, symbol)
        sc = self._scales.get(key)
        if sc is None:
            pd = sd = 0
            conn = self.connectors.get(venue)
            m = None if conn is None else conn.markets().get(symbol)
            if m is not None:
                pd, sd = m.price_decimals, m.size_decimals
            sc = self._scales[key] = _Scale(10.0**pd, 10.0**sd, 10.0 ** (pd + sd))
        return sc

    def _market(self, venue: str, symbol: str) -> _Market:
        mk = self._markets.get((venue, symbol))
        if mk is None:
            mk = self._markets[(venue, symbol)] = _Market(self.metrics, venue, symbol, self._scale(venue, symbol))
        return mk

    @property
    def ledgers(self) -> dict[tuple[str, str], MarketBook]:
        """This run's position and PnL per (venue, symbol), from its fills."""
        return {k: mk.ledger for k, mk in self._markets.items()}

    def _ts_ms(self, mono_ns: int) -> int:
        if mono_ns <= 0:
            return time.time_ns() // 1_000_000
        return (mono_ns + self._wall_offset_ns) // 1_000_000

    def _record(self, table: str, **row: Any) -> None:
        if self.recorder is not None:
            try:
                self.recorder.record(table, {"strategy": self.strategy, **row})
            except Exception:
                log.exception("recording a %s row failed", table)

    def _frame_latency(self, ev: Any) -> None:
        recv = ev.recv_ns
        if recv > 0:
            hist = self._frame_hist.get(ev.venue)
            if hist is None:
                hist = self._frame_hist[ev.venue] = self.metrics.xtb_frame_to_event_seconds.labels(venue=ev.venue)
            hist.observe(max(0, time.monotonic_ns() - recv) / 1e9)

    # --- dispatcher listener -----------------------------------------------------------------------
    def on_book(self, ev: Any) -> None:
        # Every book event passes here, in the dispatcher's drain: keep the latest top only (the price and
        # spread gauges are set at the poll) and time 1 in BOOK_LATENCY_STRIDE frames (each book's first
        # too). Setting four gauges and a histogram per event cost ~7 µs, more than the strategy's path.
        key = (ev.venue, ev.book_id)
        book = self._books.get(key)
        if book is None:
            symbol = self.symbol_of(ev.venue, ev.book_id)
            if symbol is None:
                return
            labels = {"venue": ev.venue, "symbol": symbol}
            m = self.metrics
            book = self._books[key] = _BookGauges(
                symbol, self._scale(ev.venue, symbol), m.mm_bid_price.labels(**labels),
                m.mm_ask_price.labels(**labels), m.mm_mid_price.labels(**labels),
                m.xtb_book_spread_bps.labels(**labels), m.xtb_frame_to_event_seconds.labels(venue=ev.venue))
        book.bid, book.ask = ev.best_bid, ev.best_ask
        book.dirty = True
        book.seen += 1
        if book.seen % BOOK_LATENCY_STRIDE == 1 and ev.recv_ns > 0:
            book.latency.observe(max(0, time.monotonic_ns() - ev.recv_ns) / 1e9)

    def book_updates(self) -> dict[str, int]:
        """Book events seen so far per "venue:symbol" (the desk's stale-book alert compares them)."""
        return {f"{venue}:{book.symbol}": book.seen for (venue, _), book in self._books.items()}

    def _poll_books(self) -> None:
        """Price, mid and spread gauges (and the mids unrealized PnL uses) from each book's latest top."""
        for (venue, _), book in self._books.items():
            if not book.dirty:
                continue
            book.dirty = False
            bid, ask, sc = book.bid, book.ask, book.scale
            if bid is not None:
                book.g_bid.set(bid[0] / sc.price)
            if ask is not None:
                book.g_ask.set(ask[0] / sc.price)
            if bid is not None and ask is not None:
                mid2 = bid[0] + ask[0]
                self.mids[(venue, book.symbol)] = mid2 // 2
                book.g_mid.set(mid2 / 2 / sc.price)
                if mid2 > 0:
                    book.g_spread.set((ask[0] - bid[0]) * 20_000 / mid2)

    def on_order(self, ev: Any) -> None:
        self._frame_latency(ev)
        order = self.tracker.get(ev.client_id, ev.venue)
        symbol = None if order is None else order.symbol
        side = None if order is None else order.side
        state = str(ev.state)
        mk = None if symbol is None else self._market(ev.venue, symbol)
        if state == "cancelled" and mk is not None:
            mk.cancelled.inc()
        elif state in ("rejected", "unresolved"):
            self.stats.record_failure()
            self.metrics.xtb_orders_failed.labels(venue=ev.venue, reason=state).inc()
            self.consecutive_failures += 1
        elif state in ("open", "filled", "partially_filled"):
            self.consecutive_failures = 0
        price = size = avg = filled = None
        if order is not None and mk is not None:
            sc = mk.scale
            price, size = order.px / sc.price, order.sz / sc.size
            filled, avg = ev.filled / sc.size, ev.avg_px / sc.price
        self._record("orders", ts_ms=self._ts_ms(ev.recv_ns), venue=ev.venue, symbol=symbol, client_id=ev.client_id,
                     order_id=ev.order_id, side=side, price=price, size=size, state=state, filled=filled,
                     avg_price=avg, reason=ev.reason)

    def on_fill(self, ev: Any) -> None:
        self._frame_latency(ev)
        order = self.tracker.get(ev.client_id, ev.venue)
        symbol = "?" if order is None else order.symbol
        side = str(ev.side)
        mk = self._market(ev.venue, symbol)
        ledger = mk.ledger
        fee_units = fill_fee_units(self.connectors.get(ev.venue), symbol, ev.px, ev.sz, bool(ev.maker), ev.fee)
        realized_units = ledger.apply_fill(side, ev.px, ev.sz, fee_units)
        sc = mk.scale
        realized = realized_units / sc.notional
        fee = fee_units / sc.notional
        st = self.stats
        st.record_fill(side, bool(ev.maker))
        st.record_fee(fee)
        if realized_units:
            st.record_pnl(realized)
        mk.fills[side].inc()
        mk.fills_total.inc()
        mk.recent_fills.append(time.monotonic())
        if ev.maker:
            mk.maker_fills.append((time.monotonic(), side, ev.px))
        self.consecutive_failures = 0
        mk.realized.set((ledger.realized - ledger.fees) / sc.notional)
        self._record("fills", ts_ms=self._ts_ms(ev.recv_ns), venue=ev.venue, symbol=symbol, client_id=ev.client_id,
                     trade_id=ev.trade_id, side=side, price=ev.px / sc.price, size=ev.sz / sc.size,
                     maker=int(bool(ev.maker)), fee=fee, realized_pnl=realized, price_units=ev.px,
                     size_units=ev.sz, fee_units=fee_units)

    def on_position(self, ev: Any) -> None:
        symbol = self.symbol_of(ev.venue, ev.book_id)
        if symbol is None:
            return
        mk = self._market(ev.venue, symbol)
        sc = mk.scale
        mk.position.set(ev.size / sc.size)
        mk.entry.set(ev.entry_px / sc.price)
        self._record("positions", ts_ms=self._ts_ms(ev.recv_ns), venue=ev.venue, symbol=symbol,
                     size=ev.size / sc.size, entry_price=ev.entry_px / sc.price, size_units=ev.size,
                     entry_units=ev.entry_px)

    def on_resync(self, ev: Any) -> None:
        symbol = self.symbol_of(ev.venue, ev.book_id) or "?"
        self.metrics.xtb_resyncs.labels(venue=ev.venue, symbol=symbol, reason=ev.reason).inc()

    def on_rate_limited(self, ev: Any) -> None:
        key = str(ev.key)
        venue = getattr(ev, "venue", None) or key.split(":", 1)[0]
        self.metrics.xtb_rate_limit_waits.labels(venue=venue, key=key).inc()

    # --- gateway latency ---------------------------------------------------------------------------
    def on_order_latency(self, sample: Any) -> None:
        """One submitted request (OrderGateway's LatencySample), called when its send ends."""
        self.latency_samples += 1
        m = self.metrics
        venue = sample.venue
        if sample.trigger_ns is not None:
            t2o = max(0, sample.signed_ns - sample.trigger_ns)
            m.xtb_tick_to_order_seconds.labels(venue=venue, trigger="frame").observe(t2o / 1e9)
            self.t2o_recent_us.append(t2o / 1e3)
        else:
            tick_start = self._tick_of(sample.decided_ns)
            if tick_start is not None:
                t2o = max(0, sample.signed_ns - tick_start)
                m.xtb_tick_to_order_seconds.labels(venue=venue, trigger="tick").observe(t2o / 1e9)
                self.t2o_recent_us.append(t2o / 1e3)
        if sample.sent_ns:
            m.mm_rest_latency_seconds.labels(venue=venue, endpoint="order").observe(
                max(0, sample.sent_ns - sample.signed_ns) / 1e9)
        for cid in sample.client_ids:
            order = self.tracker.get(cid, venue)
            if order is not None:
                mk = self._market(venue, order.symbol)
                mk.placed[order.side].inc()
                mk.recent_placed.append(time.monotonic())
                if order.post_only:  # a resting quote
                    mk.quotes.inc()
            self.stats.record_order(True)

    # --- clock -------------------------------------------------------------------------------------
    def _tick_of(self, t_ns: int) -> int | None:
        """Start of the tick whose handlers were running at `t_ns` (None: decided outside a tick)."""
        for start, end in reversed(self._ticks):
            if start <= t_ns:
                return start if (end == 0 or t_ns <= end) else None
        return None

    def tick_started(self, now_ms: int) -> None:
        self._ticks.append([time.monotonic_ns(), 0])

    def on_tick(self, now_ms: int) -> None:
        if self._ticks:
            self._ticks[-1][1] = time.monotonic_ns()
        now = time.monotonic()
        if now - self._last_poll >= self.poll_interval_s:
            self._last_poll = now
            try:
                self.poll()
            except Exception:
                log.exception("telemetry poll failed")
        if now - self._last_equity >= self.equity_interval_s:
            self._last_equity = now
            self.snapshot_equity()
        if self.stats_writer is not None:
            self.stats_writer.maybe_write(self.stats, self.equity(), now)

    def poll(self) -> None:
        """Engine-side gauges and counters that have no event of their own."""
        m = self.metrics
        if self.ring is not None:
            m.xtb_ring_depth.set(len(self.ring))
            over = int(self.ring.overflowed)
            if over > self._seen_overflowed:
                m.xtb_ring_overflowed.inc(over - self._seen_overflowed)
            self._seen_overflowed = over
        if self.dispatcher is not None:
            slow = int(self.dispatcher.stats.slow_callbacks)
            if slow > self._seen_slow:
                m.xtb_slow_callbacks.labels(strategy=self.strategy).inc(slow - self._seen_slow)
            self._seen_slow = slow
        if self.gateway is not None:
            for reason, n in self.gateway.stats.denied.items():
                seen = self._seen_denied.get(reason, 0)
                if n > seen:
                    m.xtb_risk_denials.labels(reason=reason).inc(n - seen)
                    m.xtb_orders_failed.labels(venue="any", reason=f"denied:{reason}").inc(n - seen)
                    self.consecutive_failures += n - seen
                    for _ in range(n - seen):
                        self.stats.record_order(False)
                self._seen_denied[reason] = n
        if self.risk is not None:
            state = str(getattr(getattr(self.risk, "machine", None), "state", "active"))
            if state != self._state and state in TRADING_STATES:
                m.set_trading_state(state)
                self._state = state
        self._poll_books()
        self._poll_open_orders()
        self._poll_io()
        self._poll_unrealized()
        self._poll_alert_inputs()

    def _poll_alert_inputs(self) -> None:
        """The gauges the alert rules read: failures in a row, unresolved orders, book ages, fill rates."""
        m = self.metrics
        now = time.monotonic()
        m.xtb_consecutive_failures.set(self.consecutive_failures)
        m.xtb_unresolved_orders.set(len(self.tracker.unresolved()))
        for key, book in self._books.items():
            seen, since = self._book_changed.get(key, (-1, now))
            if seen != book.seen:
                seen, since = book.seen, now
                self._book_changed[key] = (seen, since)
            m.xtb_book_age_seconds.labels(venue=key[0], symbol=book.symbol).set(now - since)
        for (venue, symbol), mk in self._markets.items():
            for times, horizon in ((mk.recent_fills, 300.0), (mk.recent_placed, 300.0)):
                while times and times[0] < now - horizon:
                    times.popleft()
            recent = sum(1 for t in mk.recent_fills if t >= now - 60.0)
            lab = {"venue": venue, "symbol": symbol}
            m.mm_recent_fills_count.labels(**lab).set(recent)
            if mk.recent_placed:
                m.mm_fill_rate_current.labels(**lab).set(len(mk.recent_fills) / len(mk.recent_placed))
            self._poll_market_quality(m, mk, lab, self.mids.get((venue, symbol)), now)

    @staticmethod
    def _poll_market_quality(m: Metrics, mk: _Market, lab: dict[str, str], mid: int | None, now: float) -> None:
        """Volatility regime (the last minute's mid changes against the last half hour's) and the adverse
        selection rate (maker fills the mid went through within ADVERSE_HORIZON_S)."""
        if mid is None or mid <= 0:
            return
        if mk.last_mid > 0:
            mk.mid_returns.append(math.log(mid / mk.last_mid))
        mk.last_mid = float(mid)
        rets = mk.mid_returns
        if len(rets) > VOL_SHORT_POLLS * 5:
            short = _rms(list(itertools.islice(rets, len(rets) - VOL_SHORT_POLLS, None)))
            long = _rms(list(rets))
            if long > 0:
                ratio = short / long
                m.mm_volatility_regime.labels(**lab).set(0 if ratio < 0.5 else 2 if ratio > 2 else 1)
        while mk.maker_fills and now - mk.maker_fills[0][0] >= ADVERSE_HORIZON_S:
            _, side, px = mk.maker_fills.popleft()
            mk.adverse.append(mid < px if side == "bid" else mid > px)
        if mk.adverse:
            m.mm_adverse_selection_rate.labels(**lab).set(sum(mk.adverse) / len(mk.adverse))

    def book_ages(self) -> dict[str, float]:
        """Seconds since each book last changed, per "venue:symbol" (as of the last poll)."""
        now = time.monotonic()
        return {f"{key[0]}:{self._books[key].symbol}": now - since for key, (_, since) in self._book_changed.items()
                if key in self._books}

    def _poll_open_orders(self) -> None:
        counts: dict[tuple[str, str, str], int] = {}
        for o in self.tracker.open_orders():
            key = (o.venue, o.symbol, o.side)
            counts[key] = counts.get(key, 0) + 1
        g = self.metrics.mm_active_orders
        for key in self._active_keys | set(counts):
            g.labels(venue=key[0], symbol=key[1], side=key[2]).set(counts.get(key, 0))
        self._active_keys |= set(counts)

    def _poll_io(self) -> None:
        rest_total = ws_total = 0
        for venue, conn in self.connectors.items():
            for client in conn.rest_clients():
                st = client.stats
                seen_req, seen_err = self._seen_rest.get(id(client), (0, 0))
                if st.requests > seen_req:
                    self.metrics.mm_rest_requests.labels(venue=venue, endpoint="all").inc(st.requests - seen_req)
                if st.errors > seen_err:
                    self.metrics.mm_rest_errors.labels(venue=venue, endpoint="all", code="any").inc(
                        st.errors - seen_err)
                self._seen_rest[id(client)] = (st.requests, st.errors)
                rest_total += st.requests
            ws_total += conn.feed_frames()
        self.stats.rest_calls, self.stats.ws_messages = rest_total, ws_total

    def _poll_unrealized(self) -> None:
        for key, mk in self._markets.items():
            mk.unrealized.set(mk.ledger.unrealized(self.mids.get(key)) / mk.scale.notional)

    # --- PnL and equity ----------------------------------------------------------------------------
    def pnl(self) -> tuple[float, float, float]:
        """(realized before fees, unrealized at the last mid, fees), quote units, over every market."""
        realized = unrealized = fees = 0.0
        for key, mk in self._markets.items():
            n = mk.scale.notional
            realized += mk.ledger.realized / n
            unrealized += mk.ledger.unrealized(self.mids.get(key)) / n
            fees += mk.ledger.fees / n
        return realized, unrealized, fees

    def equity(self) -> float | None:
        """Starting equity plus this run's PnL net of fees; None when the starting equity is unknown."""
        if self.starting_equity is None:
            return None
        realized, unrealized, fees = self.pnl()
        return self.starting_equity + realized + unrealized - fees

    def snapshot_equity(self) -> None:
        realized, unrealized, fees = self.pnl()
        self._record("equity", ts_ms=time.time_ns() // 1_000_000, equity=self.equity(), realized_pnl=realized,
                     unrealized_pnl=unrealized, fees=fees)

    # --- end of run --------------------------------------------------------------------------------
    def summary(self) -> str:
        realized, unrealized, fees = self.pnl()
        return (f"run {self.run_dir.name}: {self.stats.to_log_string(self.equity())} | "
                f"run PnL gross={realized:.4f} (realized, before fees) fees={fees:.4f} unrealized={unrealized:.4f} "
                f"net={realized - fees + unrealized:.4f}")

    def close(self) -> str | None:
        """Last poll, last equity snapshot and stats line, console summary, records flushed and closed."""
        if self._closed:
            return None
        self._closed = True
        try:
            self.poll()
        except Exception:
            log.exception("telemetry poll failed")
        self.snapshot_equity()
        if self.stats_writer is not None:
            self.stats_writer.write(self.stats, self.equity())
        summary = self.summary()
        log.info("%s", summary)
        self.metrics.stop()
        if self.recorder is not None:
            self.recorder.close()
        return summary


def _rms(xs: list[float]) -> float:
    return math.sqrt(math.fsum(x * x for x in xs) / len(xs)) if xs else 0.0
