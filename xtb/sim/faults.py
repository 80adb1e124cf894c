"""Fault injection plan for the simulated venues: what goes wrong, on which connection, and when.

A `FaultPlan` is data (a list of `FaultRule`s, loadable from a dict or YAML) plus decision helpers that the
protocol servers call at each opportunity: `plan.should(FaultKind.HTTP_429, conn_id, now_ns)` returns a
`Fault` (with its parameters: stall length, retry hint, status, skew) or None.

Decisions are deterministic for a seed: each (connection, kind) pair has its own random stream seeded from
(seed, connection id, kind), so a connection's faults do not depend on how other connections interleave.
A rule fires by probability per decision, on every n-th decision, or at scheduled times (once per connection
per time), within an optional [start_s, end_s) window measured from the plan's start, at most `max_count`
times per connection.
"""

from __future__ import annotations

import enum
import fnmatch
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from xtb.sim.clock import NS_PER_MS, NS_PER_S


class FaultKind(enum.Enum):
    DROP_SOCKET = "drop_socket"  # close the connection abruptly
    STALL_SOCKET = "stall_socket"  # stop sending (and answering pings) for `duration_s`
    SKIP_SEQ = "skip_seq"  # send a book delta whose sequence jumps (a gap the client must detect)
    DUPLICATE_SEQ = "duplicate_seq"  # send the same book delta twice
    REORDER_PRIVATE = "reorder_private"  # swap a private event with the next one
    DELAY_PRIVATE = "delay_private"  # hold private events for `duration_s`
    HTTP_429 = "http_429"  # rate-limited, with a retry hint of `retry_after_s`
    HTTP_5XX = "http_5xx"  # server error with `status`
    ACCEPT_TIMEOUT = "accept_timeout"  # apply the order but never answer the request (client times out)
    CLOCK_SKEW = "clock_skew"  # the venue's clock is off by `skew_ms` for this connection


@dataclass(frozen=True, slots=True)
class FaultRule:
    kind: FaultKind
    probability: float = 0.0  # chance per decision
    every: int | None = None  # fire on every n-th decision (deterministic)
    at_s: tuple[float, ...] = ()  # fire once (per connection) at the first decision at/after each time
    conn: str = "*"  # fnmatch pattern on the connection id, e.g. "backpack-ws-*"
    start_s: float = 0.0
    end_s: float | None = None
    max_count: int | None = None  # per connection
    duration_s: float = 1.0  # STALL_SOCKET, DELAY_PRIVATE
    retry_after_s: float = 1.0  # HTTP_429
    status: int = 503  # HTTP_5XX
    skew_ms: int = 0  # CLOCK_SKEW

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"{self.kind.value}: probability must be in [0, 1], got {self.probability}")
        if self.every is not None and self.every <= 0:
            raise ValueError(f"{self.kind.value}: every must be positive, got {self.every}")
        if self.kind is FaultKind.HTTP_5XX and not 500 <= self.status <= 599:
            raise ValueError(f"{self.kind.value}: status must be 5xx, got {self.status}")
        if self.duration_s < 0 or self.retry_after_s < 0:
            raise ValueError(f"{self.kind.value}: duration_s and retry_after_s must be >= 0")


@dataclass(frozen=True, slots=True)
class Fault:
    """A decision to inject a fault now, with the parameters the server needs."""

    kind: FaultKind
    conn_id: str
    duration_s: float = 0.0
    retry_after_s: float = 0.0
    status: int = 0
    skew_ms: int = 0


@dataclass(slots=True)
class _Stream:
    rng: random.Random
    decisions: dict[int, int] = field(default_factory=dict)  # rule index -> decisions seen
    fired: dict[int, int] = field(default_factory=dict)  # rule index -> times fired
    at_done: set[tuple[int, int]] = field(default_factory=set)  # (rule index, at index) fired


PROFILES: dict[str, list[dict[str, Any]]] = {
    "none": [],
    # Occasional trouble a robust client must ride out without losing state.
    "flaky": [
        {"kind": "http_429", "probability": 0.02, "retry_after_s": 0.5},
        {"kind": "http_5xx", "probability": 0.005, "status": 503},
        {"kind": "delay_private", "probability": 0.01, "duration_s": 0.2},
        {"kind": "skip_seq", "probability": 0.001},
        {"kind": "stall_socket", "probability": 0.0005, "duration_s": 2.0},
        {"kind": "drop_socket", "probability": 0.0002},
    ],
    # Everything, often: for reconnect/resync/reconcile tests.
    "chaos": [
        {"kind": "http_429", "probability": 0.1, "retry_after_s": 1.0},
        {"kind": "http_5xx", "probability": 0.05, "status": 502},
        {"kind": "accept_timeout", "probability": 0.02},
        {"kind": "delay_private", "probability": 0.05, "duration_s": 0.5},
        {"kind": "reorder_private", "probability": 0.05},
        {"kind": "skip_seq", "probability": 0.01},
        {"kind": "duplicate_seq", "probability": 0.01},
        {"kind": "stall_socket", "probability": 0.002, "duration_s": 5.0},
        {"kind": "drop_socket", "probability": 0.002},
        {"kind": "clock_skew", "probability": 1.0, "skew_ms": 1500},
    ],
}


class FaultPlan:
    def __init__(
        self,
        rules: list[FaultRule] | None = None,
        seed: int = 0,
        start_ns: int = 0,
        cancel_on_disconnect: bool = True,
    ) -> None:
        self.rules = list(rules or [])
        self.seed = seed
        self.start_ns = start_ns
        self.cancel_on_disconnect = cancel_on_disconnect
        self._streams: dict[tuple[str, FaultKind], _Stream] = {}
        self.counts: dict[FaultKind, int] = {}  # faults fired, for test assertions and logs

    # ------------------------------------------------------------------ construction

    @classmethod
    def profile(cls, name: str, seed: int = 0, start_ns: int = 0) -> FaultPlan:
        if name not in PROFILES:
            raise ValueError(f"unknown fault profile {name!r}; known: {', '.join(PROFILES)}")
        return cls.from_dict({"rules": PROFILES[name], "seed": seed}, start_ns=start_ns)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], start_ns: int = 0) -> FaultPlan:
        """{"profile": name?, "seed": int, "cancel_on_disconnect": bool, "rules": [{"kind": ..., ...}]}.
        Rules of a named profile come first, then the listed ones."""
        known = {"profile", "seed", "cancel_on_disconnect", "rules"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"fault plan: unknown keys {sorted(unknown)}")
        raw_rules: list[Mapping[str, Any]] = []
        if data.get("profile") is not None:
            name = str(data["profile"])
            if name not in PROFILES:
                raise ValueError(f"fault plan: unknown profile {name!r}")
            raw_rules.extend(PROFILES[name])
        raw_rules.extend(data.get("rules") or [])
        return cls(
            [_rule_from_dict(r, i) for i, r in enumerate(raw_rules)],
            seed=int(data.get("seed", 0)),
            start_ns=start_ns,
            cancel_on_disconnect=bool(data.get("cancel_on_disconnect", True)),
        )

    @classmethod
    def from_yaml(cls, source: str | Path, start_ns: int = 0) -> FaultPlan:
        """YAML text, or a path to a YAML file, in the `from_dict` shape."""
        text = source.read_text() if isinstance(source, Path) else source
        data = yaml.safe_load(text) or {}
        if not isinstance(data, Mapping):
            raise ValueError("fault plan YAML must be a mapping")
        return cls.from_dict(data, start_ns=start_ns)

    def to_dict(self) -> dict[str, Any]:
        rules = []
        for rule in self.rules:
            d: dict[str, Any] = {"kind": rule.kind.value}
            for f in fields(FaultRule):
                if f.name == "kind":
                    continue
                value = getattr(rule, f.name)
                if value != f.default:
                    d[f.name] = list(value) if isinstance(value, tuple) else value
            rules.append(d)
        return {"seed": self.seed, "cancel_on_disconnect": self.cancel_on_disconnect, "rules": rules}

    # ------------------------------------------------------------------ decisions

    def should(self, kind: FaultKind, conn_id: str, now_ns: int) -> Fault | None:
        """Decide whether to inject `kind` on `conn_id` now. Each call is one decision opportunity."""
        stream = self._stream(conn_id, kind)
        elapsed_s = (now_ns - self.start_ns) / NS_PER_S
        for i, rule in enumerate(self.rules):
            if rule.kind is not kind or not fnmatch.fnmatchcase(conn_id, rule.conn):
                continue
            if elapsed_s < rule.start_s or (rule.end_s is not None and elapsed_s >= rule.end_s):
                continue
            fired = stream.fired.get(i, 0)
            if rule.max_count is not None and fired >= rule.max_count:
                continue
            n = stream.decisions.get(i, 0) + 1
            stream.decisions[i] = n
            hit = False
            for j, at in enumerate(rule.at_s):
                if elapsed_s >= at and (i, j) not in stream.at_done:
                    stream.at_done.add((i, j))
                    hit = True
                    break
            if not hit and rule.every is not None and n % rule.every == 0:
                hit = True
            # Draw on every decision so that the stream does not depend on which rules fired.
            if stream.rng.random() < rule.probability:
                hit = True
            if hit:
                stream.fired[i] = fired + 1
                self.counts[kind] = self.counts.get(kind, 0) + 1
                return Fault(kind, conn_id, rule.duration_s, rule.retry_after_s, rule.status, rule.skew_ms)
        return None

    def clock_skew_ns(self, conn_id: str, now_ns: int) -> int:
        """Skew to add to the venue's clock for this connection (0 unless a CLOCK_SKEW rule fires)."""
        fault = self.should(FaultKind.CLOCK_SKEW, conn_id, now_ns)
        return 0 if fault is None else fault.skew_ms * NS_PER_MS

    def _stream(self, conn_id: str, kind: FaultKind) -> _Stream:
        key = (conn_id, kind)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(random.Random(f"{self.seed}:{conn_id}:{kind.value}"))
        return stream

    def forget(self, conn_id: str) -> None:
        """Drop a closed connection's decision state (keeps memory flat with many reconnects)."""
        for key in [k for k in self._streams if k[0] == conn_id]:
            del self._streams[key]


def _rule_from_dict(raw: Mapping[str, Any], index: int) -> FaultRule:
    if not isinstance(raw, Mapping):
        raise ValueError(f"fault rule {index}: must be a mapping, got {type(raw).__name__}")
    names = {f.name for f in fields(FaultRule)}
    unknown = set(raw) - names
    if unknown:
        raise ValueError(f"fault rule {index}: unknown keys {sorted(unknown)}")
    if "kind" not in raw:
        raise ValueError(f"fault rule {index}: missing 'kind'")
    try:
        kind = FaultKind(raw["kind"])
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise ValueError(f"fault rule {index}: unknown kind {raw['kind']!r}; known: {known}") from None
    kwargs = {k: v for k, v in raw.items() if k != "kind"}
    if "at_s" in kwargs:
        kwargs["at_s"] = tuple(float(x) for x in kwargs["at_s"])
    try:
        return FaultRule(kind=kind, **kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"fault rule {index}: {err}") from None
