"""The operator's desk: what the panel shows and does, for one running engine.

    desk = Desk(engine)            # the control server builds it when `control.panel` is on
    desk.start(); desk.snapshot(); await desk.flatten(); desk.stop()

Reads (once a second, off the event path): positions in base units, open orders, PnL from the run's
telemetry ledger (one definition: realized before fees, fees, unrealized at the mid, net = realized - fees
+ unrealized), risk state and denials, tick-to-order latency, the strategy's view (pairs: spread table and
z chart with MA ± k·σ bands and entry/exit markers; market makers: mid, reservation price, our quotes,
inventory; ladders: resting orders by price). Events (a dispatcher listener with fills, order updates,
resyncs and rate-limit waits only; no book callback) feed the event log, the alert rules and the
notifications. Operator actions (mode, parameters, pause/resume quoting, flatten) are each written to the
run's `operator.jsonl`, the records, the event log, the bot log and the notification channels.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
import statistics
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xtb._core import OperatorAction
from xtb.control.alerts import AlertRules, Observation
from xtb.control.events import EventLog
from xtb.control.history import SpreadHistory
from xtb.control.live_params import ParamChangeError, apply_param_changes, live_param_names, param_schema
from xtb.control.notify import Notifier
from xtb.private import create_private_file
from xtb.risk.state import TradingState

log = logging.getLogger("xtb.desk")

SERIES_POINTS = 1800  # chart points kept per series (30 min at 1 Hz)
PAIR_WINDOW = 300  # samples of the desk's own rolling spread statistics (pairs without strategy records)
FAILED_STATES = ("rejected", "unresolved")


class _TapSink:
    """Wraps the strategy context's record sink: rows and gauges pass through unchanged, and the desk
    keeps the latest spreads row per pair, the signals and the last value of each gauge."""

    def __init__(self, inner: Any, desk: Desk) -> None:
        self.inner, self.desk = inner, desk

    def record(self, table: str, row: Mapping[str, Any]) -> None:
        self.inner.record(table, row)
        if table == "spreads" or table == "signals":
            self.desk.on_record(table, row)

    def gauge(self, name: str, value: float, labels: Mapping[str, str]) -> None:
        self.inner.gauge(name, value, labels)
        self.desk.gauges[(name, tuple(sorted(labels.items())))] = value


def _f(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class _PairSeries:
    def __init__(self, name: str, a: tuple[str, str], b: tuple[str, str]) -> None:
        self.name, self.a, self.b = name, a, b
        self.points: deque[tuple[int, float, float | None, float | None, float | None]] = deque(maxlen=SERIES_POINTS)
        self.window: deque[float] = deque(maxlen=PAIR_WINDOW)
        self.markers: deque[dict[str, Any]] = deque(maxlen=500)
        self.latest_row: dict[str, Any] | None = None  # the strategy's own spreads row, if it records them
        self.last: dict[str, Any] = {}


class Desk:
    def __init__(self, engine: Any, *, history_path: Path | None = None, notifier: Notifier | None = None) -> None:
        self.engine = engine
        cfg = engine.config
        self.events = EventLog(cfg.control.event_log_size)
        self.alerts = AlertRules(cfg.alerts)
        self.notifier = notifier
        path = history_path or Path(cfg.control.history_db or Path(cfg.general.run_dir) / "history.sqlite")
        # telemetry off means no files at all: no spread history either (the panel still runs)
        self.history: SpreadHistory | None = SpreadHistory(path) if cfg.telemetry.enabled else None
        self.started_ms = time.time_ns() // 1_000_000
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.fills: deque[dict[str, Any]] = deque(maxlen=200)
        self.pairs: dict[str, _PairSeries] = {}
        self.prices: dict[str, deque[tuple[int, float]]] = {}
        self.mm_series: dict[str, deque[tuple[int, float | None, float | None, float | None, float | None]]] = {}
        self.quoting_paused = False
        self.consecutive_failures = 0
        self.resyncs = 0
        self._seen_denied: dict[str, int] = {}
        self._risk_state: str | None = None
        self._book_seen: dict[str, tuple[int, float]] = {}
        self._alert_notified: dict[str, float] = {}
        self._rate_limit_logged = 0.0
        self._task: asyncio.Task[None] | None = None
        self._sink: _TapSink | None = None
        self._listening = False
        self._stopped = False
        self._snapshot: tuple[float, dict[str, Any]] | None = None
        self.last_tick: float | None = None

    # --- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        eng = self.engine
        ctx = getattr(eng, "context", None)
        if ctx is not None:
            self._sink = _TapSink(ctx.sink, self)
            ctx.sink = self._sink
        if getattr(eng, "dispatcher", None) is not None:
            eng.dispatcher.add_listener(self)
            self._listening = True
        strategy = getattr(eng, "strategy", None)
        if strategy is not None:
            for name, a, b in strategy.traded_pairs():
                self.pairs[name] = _PairSeries(name, a, b)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="xtb-desk")

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        ctx = getattr(self.engine, "context", None)
        if ctx is not None and self._sink is not None and ctx.sink is self._sink:
            ctx.sink = self._sink.inner
        if self._listening:
            try:
                self.engine.dispatcher.remove_listener(self)
            except ValueError:
                pass
            self._listening = False
        try:
            if self.history is not None:
                self.history.close()
        except Exception:
            log.exception("spread history close failed")
        if self.notifier is not None:
            await asyncio.to_thread(self.notifier.close, 2.0)

    async def _loop(self) -> None:
        interval = float(self.engine.config.control.push_interval_s)
        while not self._stopped:
            try:
                self.tick()
            except Exception:
                log.exception("desk tick failed")
            await asyncio.sleep(min(interval, 1.0))

    # --- dispatcher listener (no on_book: book events cost the desk nothing) ----------------------
    def on_fill(self, ev: Any) -> None:
        if self._stopped:
            return
        order = self.engine.tracker.get(ev.client_id, ev.venue)
        symbol = None if order is None else order.symbol
        m = self._market(ev.venue, symbol)
        px = ev.px / 10**m.price_decimals if m else float(ev.px)
        sz = ev.sz / 10**m.size_decimals * (m.multiplier if m else 1) if m else float(ev.sz)
        base = m.base if m else (symbol or "?")
        fill = {"ts_ms": time.time_ns() // 1_000_000, "venue": ev.venue, "symbol": symbol, "side": str(ev.side),
                "price": px, "size": sz, "base": base, "maker": bool(ev.maker)}
        self.fills.append(fill)
        self.consecutive_failures = 0
        verb = "bought" if str(ev.side) == "bid" else "sold"
        text = f"{ev.venue} {verb} {sz:g} {base} @ {px:g}{' (maker)' if ev.maker else ''}"
        self.events.add("fill", text)
        self._notify("fill", text)

    def on_order(self, ev: Any) -> None:
        if self._stopped:
            return
        state = str(ev.state)
        if state in FAILED_STATES:
            self.consecutive_failures += 1
            order = self.engine.tracker.get(ev.client_id, ev.venue)
            what = f"{ev.venue} {order.symbol} {order.side}" if order is not None else ev.venue
            reason = f": {ev.reason}" if getattr(ev, "reason", None) else ""
            self.events.add("order", f"order {ev.client_id} ({what}) {state}{reason}", "warning")
        elif state in ("open", "filled", "partially_filled"):
            self.consecutive_failures = 0

    def on_resync(self, ev: Any) -> None:
        if self._stopped:
            return
        self.resyncs += 1
        symbol = self.engine.symbol_of(ev.venue, ev.book_id) or "?"
        self.events.add("resync", f"{ev.venue} {symbol} book resync ({ev.reason})", "warning")

    def on_rate_limited(self, ev: Any) -> None:
        now = time.monotonic()
        if self._stopped or now - self._rate_limit_logged < 5.0:
            return
        self._rate_limit_logged = now
        self.events.add("retry", f"rate limited on {ev.key}: waiting for the venue's budget", "warning")

    def on_record(self, table: str, row: Mapping[str, Any]) -> None:
        name = str(row.get("pair", ""))
        pair = self.pairs.get(name)
        if table == "spreads":
            if pair is not None:
                if pair.latest_row is None:  # the strategy's own spread from now on: drop the desk's bps series
                    pair.points.clear()
                    pair.window.clear()
                pair.latest_row = dict(row)
            return
        action = str(row.get("action", ""))
        z, spread = _f(row.get("z")), _f(row.get("spread"))
        value = _f(row.get("value"))
        if pair is not None:
            y = spread if spread is not None else (pair.last.get("spread"))
            pair.markers.append({"ts_ms": int(row.get("ts_ms") or time.time_ns() // 1_000_000), "action": action,
                                 "spread": y, "z": z})
        params = getattr(self.engine.strategy, "params", None)
        mode = getattr(params, "mode", None)
        detail = f" at z={z:.2f}" if z is not None else (f" ({value:.1f} bps)" if value is not None else "")
        text = f"signal {name}: {action}{detail}" + (f" [{mode} mode]" if mode else "")
        self.events.add("signal", text)
        self._notify("signal", text)

    # --- once a second -------------------------------------------------------------------------------
    def tick(self) -> None:
        now_ms = time.time_ns() // 1_000_000
        self.last_tick = time.monotonic()
        self._sample_prices(now_ms)
        self._sample_pairs(now_ms)
        self._sample_mm(now_ms)
        self._watch_risk()
        self._evaluate_alerts()
        if self.history is not None:
            self.history.flush()
            self._record_day_pnl(now_ms)
        self._snapshot = None

    def _record_day_pnl(self, now_ms: int) -> None:
        net = self.pnl()["net"]
        if net is None or self.history is None:
            return
        run_path = getattr(self.engine, "run_path", None)
        run = run_path.name if run_path is not None else f"{self.engine.config.strategy.name}-{self.started_ms}"
        try:
            self.history.record_pnl(now_ms, run, self.engine.config.strategy.name, net,
                                    run_started_ms=self.started_ms)
        except sqlite3.Error as e:  # the history is a convenience: trading goes on without it
            log.error("daily PnL not recorded: %s", e)

    def today_pnl(self) -> dict[str, Any]:
        """Today's (UTC) net PnL over every run of the day in the history database, this one included."""
        if self.history is None:
            return {"day": None, "net": self.pnl()["net"], "runs": 1}
        return self.history.day_pnl(time.time_ns() // 1_000_000)

    def _market(self, venue: str, symbol: str | None) -> Any:
        if symbol is None:
            return None
        conn = self.engine.connectors.get(venue)
        return None if conn is None else conn.markets().get(symbol)

    def _mid(self, venue: str, symbol: str) -> tuple[float | None, float | None, float | None]:
        """(bid, ask, mid) in quote per venue unit of size (the venue's displayed price)."""
        conn = self.engine.connectors.get(venue)
        m = self._market(venue, symbol)
        if conn is None or m is None:
            return None, None, None
        try:
            bid, ask = conn.top_of_book(symbol)
        except Exception:
            return None, None, None
        sc = 10**m.price_decimals
        b = None if bid is None else bid[0] / sc
        a = None if ask is None else ask[0] / sc
        mid = None if b is None or a is None else (a + b) / 2
        return b, a, mid

    def _subscribed(self) -> list[tuple[str, str]]:
        out = []
        for venue, vcfg in self.engine.config.venues.items():
            if venue in self.engine.connectors:
                out += [(venue, s) for s in vcfg.symbols]
        return out

    def _sample_prices(self, now_ms: int) -> None:
        for venue, symbol in self._subscribed():
            mid = self._mid(venue, symbol)[2]
            if mid is not None:
                self.prices.setdefault(f"{venue}:{symbol}", deque(maxlen=SERIES_POINTS)).append((now_ms, mid))

    def _sample_pairs(self, now_ms: int) -> None:
        strategy = self.engine.strategy
        for name, pair in self.pairs.items():
            pa = self._real_mid(*pair.a)
            pb = self._real_mid(*pair.b)
            row = pair.latest_row
            if row is not None and _f(row.get("spread")) is not None:
                spread, mean, std, z = (_f(row.get(k)) for k in ("spread", "mean", "std", "z"))
                unit = "quote"
            elif pa is not None and pb is not None and pb > 0:
                spread = (pa - pb) / pb * 1e4
                pair.window.append(spread)
                mean = statistics.fmean(pair.window)
                std = statistics.stdev(pair.window) if len(pair.window) >= 2 else None
                z = (spread - mean) / std if std else None
                unit = "bps"
            else:
                continue
            assert spread is not None
            pair.points.append((now_ms, spread, mean, std, z))
            state = self._pair_state(strategy, name)
            pair.last = {"price_a": pa, "price_b": pb, "spread": spread, "mean": mean, "std": std, "z": z,
                         "unit": unit, "state": state}
            if self.history is not None:
                self.history.add(now_ms, name, self.engine.config.strategy.name, pa, pb, spread, mean, std, z, unit)

    def _real_mid(self, venue: str, symbol: str) -> float | None:
        """Mid in quote per canonical base unit (kPEPE's price per 1000 PEPE becomes one PEPE's)."""
        mid = self._mid(venue, symbol)[2]
        m = self._market(venue, symbol)
        return None if mid is None or m is None else mid / max(m.multiplier, 1)

    @staticmethod
    def _pair_state(strategy: Any, name: str) -> str:
        st = strategy.status() if strategy is not None else {}
        if "zscore_pairs" in st:
            p = st["zscore_pairs"].get(name, {})
            return f"{p.get('position', '?')} / {p.get('phase', '?')}"
        if "cross_arb_active" in st:
            return str(st["cross_arb_active"].get(name, "flat"))
        return "-"

    def _gauge(self, name: str, venue: str, symbol: str) -> float | None:
        for (n, labels), v in self.gauges.items():
            d = dict(labels)
            if n == name and d.get("symbol", symbol) == symbol and d.get("venue", venue) == venue:
                return v
        return None

    def _sample_mm(self, now_ms: int) -> None:
        if getattr(self.engine.strategy, "panel_view", "") != "mm":
            return
        for venue, symbol in self._subscribed():
            _, _, mid = self._mid(venue, symbol)
            m = self._market(venue, symbol)
            orders = self.engine.tracker.open_orders(venue, symbol)
            sc = 10 ** (m.price_decimals if m else 0)
            bids = [o.px / sc for o in orders if o.side == "bid"]
            asks = [o.px / sc for o in orders if o.side == "ask"]
            self.mm_series.setdefault(f"{venue}:{symbol}", deque(maxlen=SERIES_POINTS)).append(
                (now_ms, mid, self._gauge("mm_reservation_price", venue, symbol), max(bids) if bids else None,
                 min(asks) if asks else None))

    def _watch_risk(self) -> None:
        guard = getattr(self.engine, "risk", None)
        gateway = getattr(self.engine, "gateway", None)
        if guard is not None:
            st = guard.status()
            state = str(st.get("risk_state"))
            if self._risk_state is not None and state != self._risk_state:
                text = f"risk state {self._risk_state} -> {state}: {st.get('risk_reason') or ''}".rstrip(": ")
                self.events.add("risk", text, "warning" if state != "active" else "info")
                self._notify("risk", text)
            self._risk_state = state
            if state == "active":
                self.quoting_paused = False
        if gateway is not None:
            for reason, n in dict(gateway.stats.denied).items():
                seen = self._seen_denied.get(reason, 0)
                if n > seen:
                    self.consecutive_failures += n - seen
                    self.events.add("denial", f"{n - seen} order(s) denied: {reason}", "warning")
                self._seen_denied[reason] = n

    def observation(self) -> Observation:
        eng = self.engine
        tel = getattr(eng, "telemetry", None)
        rest: dict[str, int] = {}
        placed = failed = 0
        p99 = None
        book_age: dict[str, float] = {}
        now = time.monotonic()
        if tel is not None:
            reg = tel.metrics.registry
            for venue in eng.connectors:
                v = reg.get_sample_value("mm_rest_requests_total", {"venue": venue, "endpoint": "all"})
                rest[venue] = int(v or 0)
            placed, failed = tel.stats.placed_orders, tel.stats.failed_orders
            recent = list(getattr(tel, "t2o_recent_us", ()))[-eng.config.alerts.latency_window:]
            if len(recent) >= 20:
                p99 = sorted(recent)[int(len(recent) * 0.99) - 1] / 1000.0
            for key, seen in tel.book_updates().items():
                prev = self._book_seen.get(key)
                if prev is None or prev[0] != seen:
                    self._book_seen[key] = (seen, now)
                    book_age[key] = 0.0
                else:
                    book_age[key] = now - prev[1]
        positions = {f"{v}:{s}": p.size for (v, s), p in eng.positions.items()}
        failures = self.consecutive_failures if tel is None else tel.consecutive_failures
        return Observation(now=now, rest_requests=rest, orders_placed=placed, orders_failed=failed,
                           consecutive_failures=failures, positions=positions, book_age_s=book_age,
                           resyncs=self.resyncs, unresolved_orders=len(eng.tracker.unresolved()), t2o_p99_ms=p99)

    def _evaluate_alerts(self) -> None:
        obs = self.observation()
        for alert in self.alerts.evaluate(obs):
            prefix = "ALERT" if alert.firing else "alert"
            text = f"{prefix} {alert.name}: {alert.text}"
            self.events.add("alert", text, "error" if alert.firing else "info")
            log.warning("%s", text) if alert.firing else log.info("%s", text)
            self._notify("alert", text)
            self._alert_notified[alert.name] = obs.now
        repeat = self.engine.config.alerts.repeat_s
        for name, alert in self.alerts.active.items():
            if obs.now - self._alert_notified.get(name, obs.now) >= repeat:
                self._alert_notified[name] = obs.now
                self._notify("alert", f"ALERT {name} (still firing): {alert.text}")

    def _notify(self, event: str, text: str) -> None:
        if self.notifier is not None:
            self.notifier.send(event, f"[{self.engine.config.strategy.name}] {text}")

    # --- the panel's reads ---------------------------------------------------------------------------
    def strategy_mode(self) -> str:
        mode = getattr(getattr(self.engine.strategy, "params", None), "mode", None)
        return str(mode) if mode in ("auto", "reminder") else "auto"

    def can_switch_mode(self) -> bool:
        return "mode" in live_param_names(self.engine.strategy)

    def positions(self) -> list[dict[str, Any]]:
        out = []
        eng = self.engine
        held = {k: p for k, p in eng.positions.items()}
        for venue, symbol in self._subscribed():
            m = self._market(venue, symbol)
            p = held.get((venue, symbol))
            units = 0 if p is None else p.size
            bid, ask, mid = self._mid(venue, symbol)
            base = m.base if m else symbol
            qty = position_base(m, units)
            orders = []
            for o in eng.tracker.open_orders(venue, symbol):
                sc_p = 10 ** (m.price_decimals if m else 0)
                orders.append({"client_id": o.client_id, "side": o.side, "price": o.px / sc_p,
                               "size": position_base(m, o.sz), "filled": position_base(m, o.filled),
                               "state": str(o.state), "reduce_only": o.reduce_only})
            entry = None
            if p is not None and p.size and m is not None:
                entry = p.entry_px / 10**m.price_decimals
            out.append({"venue": venue, "symbol": symbol, "base": base, "bid": bid, "ask": ask, "mid": mid,
                        "position": qty, "position_text": f"{qty:g} {base}", "entry": entry,
                        "notional": None if mid is None else qty * mid / max(m.multiplier if m else 1, 1),
                        "open_orders": sorted(orders, key=lambda o: -o["price"])})
        return out

    def pnl(self) -> dict[str, float | None]:
        """This run's PnL, the telemetry ledger's figures (the same as the stats line and the report)."""
        tel = getattr(self.engine, "telemetry", None)
        if tel is None:
            return {"realized": None, "fees": None, "unrealized": None, "net": None}
        realized, unrealized, fees = tel.pnl()
        return {"realized": realized, "fees": fees, "unrealized": unrealized, "net": realized - fees + unrealized}

    def latency(self) -> dict[str, Any]:
        tel = getattr(self.engine, "telemetry", None)
        recent = sorted(getattr(tel, "t2o_recent_us", ()) or ())
        if not recent:
            return {"count": 0}

        def pct(p: float) -> float:
            return float(recent[min(len(recent) - 1, int(len(recent) * p))])

        edges = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000]
        hist = [0] * (len(edges) + 1)
        for x in recent:
            i = next((k for k, e in enumerate(edges) if x <= e), len(edges))
            hist[i] += 1
        return {"count": len(recent), "p50_us": pct(0.5), "p99_us": pct(0.99), "max_us": recent[-1],
                "edges_us": edges, "hist": hist}

    def strategy_view(self) -> dict[str, Any]:
        strategy = self.engine.strategy
        kind = getattr(strategy, "panel_view", "orders")
        view: dict[str, Any] = {"kind": kind}
        params: Any = getattr(strategy, "params", None)
        if kind == "pairs":
            k = _f(getattr(params, "enter_z_high", None)) or 2.0
            size = getattr(params, "order_notional_usd", None) or getattr(params, "order_size", None)
            cost = None
            if hasattr(params, "maker_fee_bps"):
                cost = float(params.maker_fee_bps) + float(params.hedge_fee_bps)
            elif hasattr(params, "max_slippage_bps"):
                cost = float(params.max_slippage_bps)
            view["band_k"] = k
            view["pairs"] = [{
                "name": p.name, "a": f"{p.a[0]}:{p.a[1]}", "b": f"{p.b[0]}:{p.b[1]}", **p.last,
                "expected_size": None if size is None else str(size), "cost_bps": cost,
                "series": [list(x) for x in p.points], "markers": list(p.markers),
            } for p in self.pairs.values()]
        elif kind == "mm":
            view["markets"] = {key: [list(x) for x in s] for key, s in self.mm_series.items()}
            view["gauges"] = [{"name": n, **dict(lab), "value": v} for (n, lab), v in sorted(self.gauges.items())]
        return view

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._snapshot is not None and now - self._snapshot[0] < 0.25:
            return self._snapshot[1]
        eng = self.engine
        status = eng.status()
        guard = getattr(eng, "risk", None)
        risk = guard.status() if guard is not None else {"risk_state": "n/a"}
        positions = self.positions()
        exposure = sum((p["notional"] or 0.0) for p in positions)
        snap = {
            "ts_ms": time.time_ns() // 1_000_000,
            "strategy": eng.config.strategy.name,
            "run_mode": "live" if eng.live else "paper",
            "engine_state": status.get("state"),
            "uptime_s": status.get("uptime_s"),
            "strategy_mode": self.strategy_mode(),
            "mode_switchable": self.can_switch_mode(),
            "quoting_paused": self.quoting_paused,
            "risk": {k: risk.get(k) for k in ("risk_state", "risk_reason", "risk_until", "risk_by_operator",
                                              "risk_denied", "risk_allowed")},
            "denied": status.get("orders_denied", {}),
            "pnl": self.pnl(),
            "pnl_today": self.today_pnl(),
            "net_exposure": exposure,
            "positions": positions,
            "fills": list(self.fills)[-50:][::-1],
            "latency": self.latency(),
            "alerts": self.alerts.status(),
            "prices": {k: [list(x) for x in list(s)[-600:]] for k, s in self.prices.items()},
            "view": self.strategy_view(),
            "strategy_status": _jsonable(eng.strategy.status() if eng.strategy is not None else {}),
            "events_seq": self.events.seq,
            "notify": None if self.notifier is None else self.notifier.stats(),
        }
        self._snapshot = (now, snap)
        return snap

    # --- operator actions ----------------------------------------------------------------------------
    def journal(self, action: str, detail: Mapping[str, Any], ok: bool, text: str) -> None:
        """One operator action: the event journal (in order with the market data and the orders it acted on),
        operator.jsonl in the run directory, records, event log, bot log, channels."""
        row = {"ts_ms": time.time_ns() // 1_000_000, "action": action, "ok": ok, **detail}
        ring = getattr(self.engine, "ring", None)
        if ring is not None:
            ring.push(OperatorAction(action, json.dumps({"ok": ok, **detail}, default=str)))
        run_path = getattr(self.engine, "run_path", None)
        if run_path is not None:
            try:
                path = Path(run_path) / "operator.jsonl"
                create_private_file(path)
                with path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row, default=str) + "\n")
            except OSError as e:
                log.error("operator journal not written: %s", e)
        ctx = getattr(self.engine, "context", None)
        if ctx is not None:
            ctx.sink.record("operator", {"strategy": self.engine.config.strategy.name, **row})
        self.events.add("operator", text, "info" if ok else "warning")
        log.warning("operator: %s", text)
        self._notify("operator", text)
        self._snapshot = None

    def change_params(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        strategy = self.engine.strategy
        if strategy is None:
            raise ParamChangeError("no strategy is running")
        try:
            new = apply_param_changes(strategy, changes)
        except ParamChangeError as e:
            self.journal("params", {"changes": dict(changes) if isinstance(changes, Mapping) else changes,
                                    "error": str(e)}, False, f"parameter change refused: {e}")
            raise
        shown = ", ".join(f"{k}={v}" for k, v in changes.items())
        self.journal("params", {"changes": dict(changes)}, True, f"parameters changed: {shown}")
        return new.model_dump(mode="json")

    def params(self) -> dict[str, Any]:
        strategy = self.engine.strategy
        out: dict[str, Any] = {"params": {}, "live": {}, "risk": self.risk_limits()}
        if strategy is not None:
            out.update(params=strategy.params.model_dump(mode="json"), live=param_schema(strategy))
        return out

    def risk_limits(self) -> dict[str, dict[str, Any]]:
        """The risk guard's live limits: value (None: the rule is off), description."""
        guard = getattr(self.engine, "risk", None)
        if guard is None:
            return {}
        from xtb.risk.guard import LIVE_LIMITS

        props = type(guard.config).model_json_schema(by_alias=False).get("properties", {})
        current = guard.config.model_dump(mode="json")
        return {name: {"value": current.get(name), "description": props.get(name, {}).get("description", "")}
                for name in sorted(LIVE_LIMITS)}

    def change_risk(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        from xtb.config import ConfigError

        guard = getattr(self.engine, "risk", None)
        if guard is None:
            raise ParamChangeError("this bot has no risk guard")
        if not isinstance(changes, Mapping) or not changes:
            raise ParamChangeError("changes: expected a non-empty object of limit -> value (null: rule off)")
        for name, value in changes.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ParamChangeError(f"risk.{name}: must be a finite number (got {value!r})")
        try:
            guard.update_limits(changes)
        except ConfigError as e:
            msg = str(e).removeprefix("invalid config: ")
            self.journal("risk_limits", {"changes": dict(changes), "error": msg}, False,
                         f"risk limit change refused: {msg}")
            raise ParamChangeError(msg) from None
        shown = ", ".join(f"{k}={'off' if v is None else v}" for k, v in changes.items())
        self.journal("risk_limits", {"changes": dict(changes)}, True, f"risk limits changed: {shown}")
        return {name: spec["value"] for name, spec in self.risk_limits().items()}

    def set_mode(self, mode: str) -> dict[str, Any]:
        if mode not in ("auto", "reminder"):
            raise ParamChangeError(f"mode: must be auto or reminder (got {mode!r})")
        if not self.can_switch_mode():
            raise ParamChangeError(f"mode: {self.engine.config.strategy.name} has no reminder mode (it always trades)")
        self.change_params({"mode": mode})
        return {"mode": self.strategy_mode()}

    def pause_quoting(self, paused: bool) -> dict[str, Any]:
        guard = getattr(self.engine, "risk", None)
        if guard is None:
            raise ParamChangeError("this bot has no risk guard: quoting cannot be paused")
        if paused:
            guard.set_state(TradingState.REDUCING, "operator: quoting paused")
            ctx = self.engine.context
            cancelled = 0
            for o in self.engine.tracker.open_orders():
                if not o.reduce_only:
                    ctx.cancel(o.venue, o.client_id)
                    cancelled += 1
            self.quoting_paused = True
            self.journal("pause", {"cancelled": cancelled}, True,
                         f"quoting paused: new exposure refused, {cancelled} resting order(s) cancelled")
        else:
            state = str(guard.state)
            if state == "halted":
                reason = guard.status().get("risk_reason")
                self.journal("resume", {"refused": state}, False, f"resume refused: trading is halted ({reason})")
                raise ParamChangeError(f"trading is halted ({reason}): set the risk state to active to resume")
            guard.set_state(TradingState.ACTIVE, "operator: quoting resumed")
            self.quoting_paused = False
            self.journal("resume", {}, True, "quoting resumed")
        return {"quoting_paused": self.quoting_paused, "risk_state": str(guard.state)}

    async def flatten(self) -> dict[str, Any]:
        """Pause new exposure, cancel every order, close every position reduce-only and verify each venue.
        Trading stays paused (risk state reducing) until the operator resumes."""
        guard = getattr(self.engine, "risk", None)
        if guard is not None:
            guard.set_state(TradingState.REDUCING, "operator: flatten all")
            self.quoting_paused = True
        await self.engine.cancel_all()
        reports = await self.engine.flatten_report()
        strategy = self.engine.strategy
        hook = getattr(strategy, "on_operator_flatten", None)
        if hook is not None:
            hook()
        venues = {v: {"flat": r.flat, "before": r.before, "left": r.left, "orders_sent": r.orders_sent,
                      "open_orders_left": r.open_orders_left, "errors": r.errors} for v, r in reports.items()}
        flat = bool(venues) and all(v["flat"] for v in venues.values())
        summary = ", ".join(f"{v}: {'flat' if r['flat'] else 'NOT flat ' + str(r['left'])}" for v, r in venues.items())
        self.journal("flatten", {"venues": venues}, flat, f"flatten all: {summary}; trading paused until resumed")
        return {"flat": flat, "venues": venues, "risk_state": None if guard is None else str(guard.state)}


def position_base(m: Any, units: int) -> float:
    """Venue size units -> canonical base units (kPEPE's units count 1000 PEPE each)."""
    if m is None:
        return float(units)
    return float(units * m.multiplier / 10**m.size_decimals)


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))
