"""The judge: one run of a bot against the simulator, checked against the simulator's own ledger.

`SimLedger` listens to each simulated exchange's event stream (the venue's truth: every fill of the bot's
accounts, every position change with the time it happened). `BotRecord` is a dispatcher listener that keeps
what the bot recorded (each Fill event it was given). After the run, `judge()` compares the two and returns
the violations, one per broken invariant:

    flat          the venues hold a position at exit and the bot did not say so (STOPPED: NOT FLAT, non-zero
                  exit); or the bot said NOT FLAT while the venues were flat
    fills         the venue's fills of an order differ from the fills the bot recorded (count or quantity)
    duplicate     the bot recorded the same execution (venue, trade id) twice
    pnl           strategy / risk / telemetry PnL differs from the change of the bot's cash at the venues
                  (compared when flat, to the resolution of the markets' notional units per fill)
    open_orders   an order is open at the venue at exit, or open in the bot's tracker
    unresolved    the bot holds an order as unresolved that the venue does not have open
    unhedged      (hedged strategies) net exposure of one underlying across venues lasted longer than
                  max_unhedged_s + one round trip
    traceback     a log record carried a traceback
    crash         the run itself raised (start failures that name their reason are not crashes)
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

INVARIANTS = ("flat", "fills", "duplicate", "pnl", "open_orders", "unresolved", "unhedged", "traceback", "crash")


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


@dataclass
class _Market:
    venue: str
    symbol: str
    underlying: str
    size_decimals: int
    notional_unit: Fraction  # one unit of price x size, in quote currency


class SimLedger:
    """The simulator's record of the bot's accounts: fills, positions over time, and (at `snapshot()`) the
    open orders, positions and cash at exit. Generator accounts are left out at the source."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        gen = sim.generator
        self._generated: set[int] = set() if gen is None else {
            a for i in range(len(gen._feeds)) for a in gen.accounts(i)}
        self.markets: dict[tuple[str, int], _Market] = {}
        self.fills: list[tuple[str, Any]] = []  # (venue, sim Fill)
        self._size: dict[tuple[str, int], int] = {}  # (venue, market) -> bot's position size
        self._net: dict[str, Fraction] = {}  # underlying -> net base position across venues
        self._unhedged_since: dict[str, float] = {}
        self.longest_unhedged: dict[str, float] = {}
        self.cash_start: dict[str, dict[int, int]] = {}
        self.exit: dict[str, Any] = {}
        self._unsubscribe: list[Any] = []
        for venue, handle in sim.venues.items():
            ex = handle.exchange
            listed_ids = {spec.market_id for spec in ex.markets}
            for m in handle.markets:
                if m.market_id not in listed_ids:
                    continue
                self.markets[(venue, m.market_id)] = _Market(
                    venue, m.symbol, m.underlying, m.size_decimals,
                    Fraction(1, 10 ** (m.price_decimals + m.size_decimals)))
            self._unsubscribe.append(ex.subscribe(lambda ev, v=venue: self._on_event(v, ev)))

    def bot_accounts(self, venue: str) -> list[int]:
        ex = self.sim.venues[venue].exchange
        sweepers = set(getattr(self.sim, "_sweep_accounts", {}).values())
        return [a for a in ex.accounts() if a not in self._generated and a not in sweepers]

    def _not_ours(self, account: int) -> bool:
        return account in self._generated or account in getattr(self.sim, "_sweep_accounts", {}).values()

    def _on_event(self, venue: str, ev: Any) -> None:
        from xtb.sim.types import FillEvent, PositionEvent

        if isinstance(ev, FillEvent):
            if not self._not_ours(ev.fill.account):
                self.fills.append((venue, ev.fill))
        elif isinstance(ev, PositionEvent):
            pos = ev.position
            if self._not_ours(pos.account):
                return
            market = self.markets.get((venue, pos.market))
            if market is None:
                return
            key = (venue, pos.market)
            delta = pos.size - self._size.get(key, 0)
            self._size[key] = pos.size
            if delta:
                self._move(market.underlying, Fraction(delta, 10 ** market.size_decimals))

    def _move(self, underlying: str, delta: Fraction) -> None:
        now = time.monotonic()
        net = self._net.get(underlying, Fraction(0)) + delta
        self._net[underlying] = net
        if net != 0:
            self._unhedged_since.setdefault(underlying, now)
        else:
            self._close_interval(underlying, now)

    def _close_interval(self, underlying: str, now: float) -> None:
        since = self._unhedged_since.pop(underlying, None)
        if since is not None:
            self.longest_unhedged[underlying] = max(self.longest_unhedged.get(underlying, 0.0), now - since)

    def start_cash(self) -> None:
        """Remember each bot account's cash (call once the bot's accounts exist, before it trades)."""
        for venue in self.sim.venues:
            ex = self.sim.venues[venue].exchange
            self.cash_start[venue] = {a: self._cash(ex, a) for a in self.bot_accounts(venue)}

    @staticmethod
    def _cash(ex: Any, account: int) -> int:
        # funding is not trading PnL: added back so that a run straddling the funding time is still exact
        return int(ex.balance(account).cash + ex._account(account).account.funding_paid)

    def snapshot(self) -> None:
        """The venues' state at the bot's exit (before its connections close): positions, open orders, cash."""
        now = time.monotonic()
        for u in list(self._unhedged_since):
            self._close_interval(u, now)
        positions: dict[str, dict[str, int]] = {}
        open_orders: dict[str, list[int | None]] = {}
        cash = Fraction(0)
        for venue, handle in self.sim.venues.items():
            ex = handle.exchange
            scale = 10 ** ex.rules.cash_decimals
            for a in self.bot_accounts(venue):
                for p in ex.positions(a):
                    if p.size:
                        sym = self.markets[(venue, p.market)].symbol if (venue, p.market) in self.markets else p.market
                        positions.setdefault(venue, {})[str(sym)] = p.size
                open_orders.setdefault(venue, []).extend(o.client_id for o in ex.open_orders(a))
                start = self.cash_start.get(venue, {}).get(a)
                if start is not None:
                    cash += Fraction(self._cash(ex, a) - start, scale)
        self.exit = {"positions": positions, "open_orders": {v: o for v, o in open_orders.items() if o},
                     "cash_change": cash}

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()


class BotRecord:
    """A dispatcher listener: every Fill event the bot was given (what its strategy, risk and records saw)."""

    def __init__(self) -> None:
        self.fills: list[tuple[str, int, int, int]] = []  # (venue, client id, trade id, size)

    def on_fill(self, ev: Any) -> None:
        self.fills.append((str(ev.venue), int(ev.client_id), int(ev.trade_id), int(ev.sz)))


class LogWatch(logging.Handler):
    """Counts log records with a traceback (and keeps the first few) during a run."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.tracebacks: list[str] = []
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string is itself worth seeing
            msg = str(record.msg)
        if record.name.startswith("xtb.sim"):  # the simulator's own log is not the bot's (paper mode shares it)
            return
        if record.exc_info or "Traceback (most recent call last)" in msg:
            exc = record.exc_info[1] if record.exc_info else None
            self.tracebacks.append(f"{record.name}: {msg[:200]} ({type(exc).__name__ if exc else ''}: {exc})")
        elif record.levelno >= logging.ERROR:
            self.errors.append(f"{record.name}: {msg[:300]}")


@dataclass
class RunFacts:
    """What the harness collected from one run, for `judge()`."""

    ledger: SimLedger
    record: BotRecord
    logs: LogWatch
    exit_report: Any = None  # the engine's settle report at stop (xtb.engine.settle.ExitReport) or None
    tracker_open: list[tuple[str, int, str]] = field(default_factory=list)  # (venue, client id, state)
    tracker_unresolved: list[tuple[str, int]] = field(default_factory=list)
    pnl: dict[str, float] = field(default_factory=dict)  # source -> realized PnL after fees, quote currency
    unhedged_bound_s: float | None = None  # None: not a hedged strategy
    crash: str | None = None


def judge(f: RunFacts) -> list[Violation]:
    out: list[Violation] = []
    ex = f.ledger.exit
    held = {v: p for v, p in ex.get("positions", {}).items() if p}
    flat = not held
    said_not_flat = f.exit_report is not None and not f.exit_report.flat
    if f.crash is not None:
        out.append(Violation("crash", f.crash))
    if not flat and not said_not_flat:
        out.append(Violation("flat", f"venues hold {held} at exit and the bot did not report NOT FLAT"))
    if flat and said_not_flat and any(f.exit_report.positions.values()):
        out.append(Violation("flat", f"bot reported NOT FLAT ({f.exit_report.positions}) but the venues are flat"))

    venue_by_order: Counter[tuple[str, int]] = Counter()
    venue_count: Counter[tuple[str, int]] = Counter()
    units = Fraction(0)
    for venue, fill in f.ledger.fills:
        key = (venue, int(fill.client_id or 0))
        venue_by_order[key] += fill.quantity
        venue_count[key] += 1
        m = f.ledger.markets.get((venue, fill.market))
        units += m.notional_unit if m is not None else Fraction(1, 10**6)
    bot_by_order: Counter[tuple[str, int]] = Counter()
    bot_count: Counter[tuple[str, int]] = Counter()
    seen: Counter[tuple[str, int]] = Counter()
    for venue, cid, trade_id, sz in f.record.fills:
        bot_by_order[(venue, cid)] += sz
        bot_count[(venue, cid)] += 1
        seen[(venue, trade_id)] += 1
    dups = [k for k, n in seen.items() if n > 1]
    if dups:
        out.append(Violation("duplicate", f"{len(dups)} executions recorded twice, e.g. {dups[:3]}"))
    diffs = [(k, venue_by_order.get(k, 0), bot_by_order.get(k, 0), venue_count.get(k, 0), bot_count.get(k, 0))
             for k in sorted(set(venue_by_order) | set(bot_by_order))
             if venue_by_order.get(k, 0) != bot_by_order.get(k, 0) or venue_count.get(k, 0) != bot_count.get(k, 0)]
    if diffs:
        shown = "; ".join(f"{v} #{c}: venue {vq} in {vn} fills, bot {bq} in {bn}"
                          for (v, c), vq, bq, vn, bn in diffs[:3])
        out.append(Violation("fills", f"{len(diffs)} orders differ: {shown}"))

    if flat and ex:
        cash = ex["cash_change"]
        tolerance = units + Fraction(1, 10**6)
        for source, value in sorted(f.pnl.items()):
            if abs(Fraction(value) - cash) > tolerance:
                out.append(Violation("pnl", f"{source} PnL {float(value):+.6f} vs venue cash change "
                                            f"{float(cash):+.6f} (tolerance {float(tolerance):.6f})"))

    if ex.get("open_orders"):
        out.append(Violation("open_orders", f"open at the venue at exit: {ex['open_orders']}"))
    if f.tracker_open:
        out.append(Violation("open_orders", f"open in the bot's tracker at exit: {f.tracker_open[:5]}"))
    venue_open = {(v, c) for v, cids in ex.get("open_orders", {}).items() for c in cids}
    false_unresolved = [k for k in f.tracker_unresolved if k not in venue_open]
    if false_unresolved:
        out.append(Violation("unresolved", f"unresolved in the bot, not open at the venue: {false_unresolved[:5]}"))

    if f.unhedged_bound_s is not None:
        for underlying, longest in sorted(f.ledger.longest_unhedged.items()):
            if longest > f.unhedged_bound_s:
                out.append(Violation("unhedged", f"{underlying} unhedged for {longest:.2f} s "
                                                 f"(bound {f.unhedged_bound_s:.2f} s)"))
    if f.logs.tracebacks:
        out.append(Violation("traceback", f"{len(f.logs.tracebacks)} in the log, first: {f.logs.tracebacks[0]}"))
    return out
