"""The bot's own alert rules, evaluated by the desk once a second from what the engine observes.

The same conditions ship as Prometheus alerting rules (`xtb/telemetry/grafana/xtb_alerts.yml`) over the
exported families, with the same default thresholds (a test compares them):

Each alert names its rule: api_budget (a venue's REST requests over the last minute at `api_budget_pct`
% of `api_budget_per_min`), success_rate (failed / placed orders over `success_window_s`), inventory_stuck
(a position non-zero for `inventory_stuck_s`), consecutive_failures, stale_book (a book unchanged for
`stale_book_s`), resync_storm (resyncs in the last minute), unresolved_orders (unanswered for
`unresolved_s`), latency_over_budget (tick-to-order p99 of the last `latency_window` orders over
`latency_budget_ms`). docs/panel.md has the table.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from xtb.config import AlertsConfig


@dataclass
class Observation:
    """What the desk saw at one evaluation (cumulative counters are totals since start)."""

    now: float  # monotonic seconds
    rest_requests: dict[str, int] = field(default_factory=dict)  # venue -> total requests
    orders_placed: int = 0
    orders_failed: int = 0
    consecutive_failures: int = 0
    positions: dict[str, int] = field(default_factory=dict)  # "venue:symbol" -> units
    book_age_s: dict[str, float] = field(default_factory=dict)  # "venue:symbol" -> seconds since it changed
    resyncs: int = 0
    unresolved_orders: int = 0
    t2o_p99_ms: float | None = None


@dataclass
class Alert:
    name: str
    firing: bool
    text: str
    since: float | None = None


class AlertRules:
    def __init__(self, cfg: AlertsConfig) -> None:
        self.cfg = cfg
        self._minute: deque[tuple[float, dict[str, int], int]] = deque()
        self._orders: deque[tuple[float, int, int]] = deque()
        self._nonzero_since: dict[str, float] = {}
        self._unresolved_since: float | None = None
        self.active: dict[str, Alert] = {}

    def evaluate(self, obs: Observation) -> list[Alert]:
        """All rules on this observation; returns the alerts that changed (fired, or resolved)."""
        if not self.cfg.enabled:
            return []
        now, c = obs.now, self.cfg
        self._minute.append((now, dict(obs.rest_requests), obs.resyncs))
        while len(self._minute) > 1 and self._minute[1][0] <= now - 60.0:
            self._minute.popleft()
        self._orders.append((now, obs.orders_placed, obs.orders_failed))
        while len(self._orders) > 1 and self._orders[1][0] <= now - c.success_window_s:
            self._orders.popleft()
        found: dict[str, str] = {}

        t0, rest0, resync0 = self._minute[0]
        span = max(now - t0, 1e-9)
        if span >= 5.0:  # a rate needs some history
            for venue, total in obs.rest_requests.items():
                per_min = (total - rest0.get(venue, 0)) * 60.0 / span if span < 60 else total - rest0.get(venue, 0)
                if per_min >= c.api_budget_per_min * c.api_budget_pct / 100:
                    found[f"api_budget:{venue}"] = (f"{venue}: {per_min:.0f} REST requests/min, "
                                                    f"{c.api_budget_pct:g}% of the {c.api_budget_per_min}/min budget")
        if obs.resyncs - resync0 >= c.resync_storm_per_min:
            found["resync_storm"] = f"{obs.resyncs - resync0} book resyncs in the last minute"

        _, placed0, failed0 = self._orders[0]
        placed, failed = obs.orders_placed - placed0, obs.orders_failed - failed0
        if placed >= c.success_min_orders:
            rate = 100.0 * (placed - failed) / placed
            if rate < c.min_success_rate_pct:
                found["success_rate"] = (f"order success rate {rate:.1f}% over the last {placed} orders "
                                         f"(alert below {c.min_success_rate_pct:g}%)")
        if obs.consecutive_failures >= c.consecutive_failures:
            found["consecutive_failures"] = f"{obs.consecutive_failures} orders failed in a row"

        for key, units in obs.positions.items():
            if units == 0:
                self._nonzero_since.pop(key, None)
                continue
            since = self._nonzero_since.setdefault(key, now)
            if now - since >= c.inventory_stuck_s:
                found[f"inventory_stuck:{key}"] = f"{key} has held a position for {now - since:.0f} s"
        for key in [k for k in self._nonzero_since if k not in obs.positions]:
            del self._nonzero_since[key]

        for key, age in obs.book_age_s.items():
            if age >= c.stale_book_s:
                found[f"stale_book:{key}"] = f"{key} book unchanged for {age:.0f} s"

        if obs.unresolved_orders:
            if self._unresolved_since is None:
                self._unresolved_since = now
            if now - self._unresolved_since >= c.unresolved_s:
                found["unresolved_orders"] = (f"{obs.unresolved_orders} order(s) unresolved for "
                                              f"{now - self._unresolved_since:.0f} s")
        else:
            self._unresolved_since = None

        if obs.t2o_p99_ms is not None and obs.t2o_p99_ms > c.latency_budget_ms:
            found["latency_over_budget"] = (f"tick-to-order p99 {obs.t2o_p99_ms:.1f} ms over the "
                                            f"{c.latency_budget_ms:g} ms budget")

        changed: list[Alert] = []
        for name, text in found.items():
            current = self.active.get(name)
            if current is None:
                alert = self.active[name] = Alert(name, True, text, now)
                changed.append(alert)
            else:
                current.text = text
        for name in [n for n in self.active if n not in found]:
            alert = self.active.pop(name)
            changed.append(Alert(name, False, f"resolved: {alert.text}", alert.since))
        return changed

    def status(self) -> list[dict[str, Any]]:
        return [{"name": a.name, "text": a.text, "since": a.since} for a in self.active.values()]
