"""Prometheus metrics: the original system's `mm_*` families plus xtb's latency and health families.

Names and labels follow seed 003 section 13 so existing Grafana boards keep working; `xtb_*` families are
ours (tick-to-order and frame-to-event latency, ring depth, resyncs, rate-limit waits, risk denials,
trading state). Each `Metrics` owns its registry (no global state), and the exporter binds 127.0.0.1 by
default: metrics describe positions and PnL and are not for the open network.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics_core import Metric

# Latency buckets in seconds: 1 µs .. 1 s, dense where the hot path lives.
LATENCY_BUCKETS = (
    1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0,
)
REST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

TRADING_STATES = ("active", "reducing", "halted")

MK = ("venue", "symbol")


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # gauge | counter (exposed `<name>_total`) | raw_counter (exposed as named) | histogram
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None


FAMILIES: tuple[Family, ...] = (
    # market data (seed 003 §13)
    Family("mm_mid_price", "gauge", "Mid price", MK),
    Family("mm_bid_price", "gauge", "Best bid price", MK),
    Family("mm_ask_price", "gauge", "Best ask price", MK),
    # position and PnL
    Family("mm_position", "gauge", "Net position (base units, signed)", MK),
    Family("mm_entry_price", "gauge", "Average entry price", MK),
    Family("mm_unrealized_pnl", "gauge", "Unrealized PnL (quote)", MK),
    Family("mm_realized_pnl", "gauge", "Realized PnL (quote)", MK),
    # orders
    Family("mm_active_orders", "gauge", "Open orders by side", (*MK, "side")),
    # the board reads these three under their own names (no `_total`): counters exposed as they are named
    Family("mm_total_fills", "raw_counter", "Fills by side", (*MK, "side")),
    Family("mm_orders_placed_count", "raw_counter", "Orders placed by side", (*MK, "side")),
    Family("mm_orders_canceled_count", "raw_counter", "Orders cancelled", MK),
    # strategy state
    Family("mm_spread_gauge", "gauge", "Quoted spread (bps)", MK),
    Family("mm_quote_interval_gauge", "gauge", "Quote interval (s)", MK),
    Family("mm_reservation_price", "gauge", "Reservation price", MK),
    Family("mm_inventory_skew_bps", "gauge", "Inventory skew (bps)", MK),
    Family("mm_adaptive_netmax", "gauge", "Net position cap in force (base units)", MK),
    # extended families of the original board, fed where a strategy or the engine has the quantity
    Family("mm_quotes_generated", "counter", "Quotes (orders) a market maker generated", MK),
    Family("mm_fills", "counter", "Fills", MK),
    Family("mm_fill_rate_current", "gauge", "Fills per order placed over the last 5 minutes (ratio)", MK),
    Family("mm_recent_fills_count", "gauge", "Fills in the last 60 s", MK),
    Family("mm_volatility_regime", "gauge", "Volatility regime: 0 calm, 1 normal, 2 high", MK),
    Family("mm_adverse_selection_rate", "gauge", "Share of maker fills the mid moved against within the horizon",
           MK),
    Family("mm_vpin_current", "gauge", "Volume-synchronized probability of informed trading (0..1)", MK),
    Family("mm_cancel_suppression_active", "gauge", "1 while cancels are being held back", MK),
    # REST
    Family("mm_rest_requests", "counter", "REST requests", ("venue", "endpoint")),
    Family("mm_rest_errors", "counter", "REST errors", ("venue", "endpoint", "code")),
    Family("mm_rest_latency_seconds", "histogram", "REST round trip", ("venue", "endpoint"), REST_BUCKETS),
    # ours
    Family("xtb_tick_to_order_seconds", "histogram",
           "Trigger -> signed order ready for the transport; trigger=frame: the frame behind the event, "
           "trigger=tick: the start of the clock tick that decided", ("venue", "trigger"), LATENCY_BUCKETS),
    Family("xtb_frame_to_event_seconds", "histogram",
           "Frame received -> event seen by the telemetry listener (after the strategy's callbacks)",
           ("venue",), LATENCY_BUCKETS),
    Family("xtb_book_spread_bps", "gauge", "Top-of-book spread (bps of mid)", MK),
    Family("xtb_ring_depth", "gauge", "Events waiting in the core ring"),
    Family("xtb_ring_overflowed", "counter", "Non-conflatable events that found the ring full"),
    Family("xtb_resyncs", "counter", "Book resyncs", (*MK, "reason")),
    Family("xtb_rate_limit_waits", "counter", "Requests that had to wait for the rate limiter", ("venue", "key")),
    Family("xtb_risk_denials", "counter", "Orders denied by the risk guard", ("reason",)),
    Family("xtb_trading_state", "gauge", "1 for the current trading state", ("state",)),
    Family("xtb_slow_callbacks", "counter", "Strategy callbacks slower than the threshold", ("strategy",)),
    # alert inputs (the bot's alert rules and the shipped Prometheus rules read the same quantities)
    Family("xtb_orders_failed", "counter", "Orders that failed: rejected, unresolved, or denied before sending",
           ("venue", "reason")),
    Family("xtb_consecutive_failures", "gauge", "Orders failed in a row (reset by an accepted order or a fill)"),
    Family("xtb_book_age_seconds", "gauge", "Seconds since the book last changed", MK),
    Family("xtb_unresolved_orders", "gauge", "Orders the venue has not answered"),
)


class RawCounter:
    """A counter family exposed under its own name, without the `_total` suffix the client library adds
    (the original board queries `mm_total_fills`, `mm_orders_placed_count`, ...). Exposed as `untyped` in
    the text format (the format's type line would otherwise name `<name>_total`); `rate()` and
    `increase()` work on it as on any counter."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...], registry: CollectorRegistry) -> None:
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self._children: dict[tuple[str, ...], _RawChild] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def labels(self, **labels: str) -> _RawChild:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(labels)}")
        key = tuple(str(labels[n]) for n in self.labelnames)
        with self._lock:
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = _RawChild()
        return child

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self.name, self.documentation, "unknown")
        with self._lock:
            items = list(self._children.items())
        for key, child in items:
            metric.add_sample(self.name, dict(zip(self.labelnames, key, strict=True)), child.value)
        yield metric

    def describe(self) -> Iterator[Metric]:
        yield Metric(self.name, self.documentation, "unknown")


class _RawChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("counters only go up")
        self.value += amount

    def get(self) -> float:
        return self.value


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._m: dict[str, Any] = {}
        self._server: Any = None
        self._server_thread: Any = None
        for f in FAMILIES:
            if f.kind == "gauge":
                self._m[f.name] = Gauge(f.name, f.help, f.labels, registry=self.registry)
            elif f.kind == "counter":
                self._m[f.name] = Counter(f.name, f.help, f.labels, registry=self.registry)
            elif f.kind == "raw_counter":
                self._m[f.name] = RawCounter(f.name, f.help, f.labels, self.registry)
            else:
                self._m[f.name] = Histogram(f.name, f.help, f.labels, buckets=f.buckets or (), registry=self.registry)
        self.set_trading_state("active")

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_m"][name]
        except KeyError:
            raise AttributeError(name) from None

    def family_names(self) -> Iterator[str]:
        """Family names (counters are exposed with `_total`, raw counters as named, histograms with
        `_bucket/_sum/_count`)."""
        for f in FAMILIES:
            yield f.name

    def set_trading_state(self, state: str) -> None:
        if state not in TRADING_STATES:
            raise ValueError(f"trading state must be one of {TRADING_STATES}, got {state!r}")
        for s in TRADING_STATES:
            self._m["xtb_trading_state"].labels(state=s).set(1 if s == state else 0)

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Start the exporter thread; returns the bound port (pass 0 for an ephemeral one)."""
        if self._server is not None:
            raise RuntimeError(f"exporter already serving on port {self._server.server_port}")
        server, thread = start_http_server(port, addr=addr, registry=self.registry)
        self._server, self._server_thread = server, thread
        return int(server.server_port)

    def stop(self) -> None:
        """Stop the exporter (idempotent): the port is closed when this returns."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            if self._server_thread is not None:
                self._server_thread.join(5.0)
