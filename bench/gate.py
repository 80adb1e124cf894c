"""The bench gate: interleaved xtb/baseline ratios held against floors, so `pytest bench` fails on a regression.

Every gated group measures its two paths *interleaved inside one test* (ABAB blocks of rounds), so a machine
that drifts between slow and fast phases moves both sides alike, and the figure is the ratio of the two
medians (and, where a group declares one, of the two p99s). Floors live in bench/floors.toml (or the file
given with `--xtb-floors`); a ratio under its floor fails the test with the group, the ratio and the floor.

    pytest bench                                   measure, gate against bench/floors.toml
    pytest bench --xtb-floors my_floors.toml       a user's own bars (raised or relaxed for their machine)
    pytest bench --xtb-save main                   store this run's ratios (.benchmarks/xtb/main.json)
    pytest bench --xtb-compare main                fail when a ratio drops more than --xtb-max-drop (25%)
    pytest bench --benchmark-disable               smoke run: every path once, nothing measured or gated

`--xtb-inject-delay-us N` busy-waits N µs in every timed xtb round: the gate's own self-test (a deliberate
slowdown must fail), never for measuring.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

DEFAULT_FLOORS = Path(__file__).with_name("floors.toml")
DEFAULT_MAX_DROP = 0.25


class GateConfigError(Exception):
    """A floors file or saved run that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Floor:
    ratio: float
    p99_ratio: float | None = None


@dataclass(frozen=True)
class Ratio:
    """One interleaved measurement: per-round medians and p99s (µs) of both legs, and their ratios."""

    baseline_p50_us: float
    xtb_p50_us: float
    baseline_p99_us: float
    xtb_p99_us: float
    rounds: int

    @property
    def ratio(self) -> float:
        return self.baseline_p50_us / max(self.xtb_p50_us, 1e-9)

    @property
    def p99_ratio(self) -> float:
        return self.baseline_p99_us / max(self.xtb_p99_us, 1e-9)

    def as_extra_info(self) -> dict[str, float]:
        return {
            "interleaved_baseline_p50_us": round(self.baseline_p50_us, 3),
            "interleaved_xtb_p50_us": round(self.xtb_p50_us, 3),
            "interleaved_baseline_p99_us": round(self.baseline_p99_us, 3),
            "interleaved_xtb_p99_us": round(self.xtb_p99_us, 3),
            "interleaved_ratio": round(self.ratio, 2),
            "interleaved_p99_ratio": round(self.p99_ratio, 2),
            "interleaved_rounds": self.rounds,
        }


def load_floors(path: Path) -> dict[str, Floor]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise GateConfigError(f"floors file {path}: cannot read ({e.strerror or e})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise GateConfigError(f"floors file {path}: not valid TOML ({e})") from None
    floors: dict[str, Floor] = {}
    for group, table in raw.items():
        if not isinstance(table, dict):
            raise GateConfigError(f"floors file {path}: [{group}] must be a table with `ratio`")
        unknown = set(table) - {"ratio", "p99_ratio", "note"}
        if unknown:
            raise GateConfigError(f"floors file {path}: [{group}] unknown key {sorted(unknown)[0]!r}")
        values: dict[str, float | None] = {}
        for key in ("ratio", "p99_ratio"):
            v = table.get(key)
            if v is None and key == "p99_ratio":
                values[key] = None
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise GateConfigError(f"floors file {path}: [{group}].{key} must be a positive number, got {v!r}")
            values[key] = float(v)
        floors[group] = Floor(ratio=values["ratio"] or 0.0, p99_ratio=values["p99_ratio"])
    return floors


def saved_run_path(rootdir: Path, name: str) -> Path:
    """NAME alone is stored under .benchmarks/xtb/; a name with a slash or a .json suffix is a path."""
    if "/" in name or name.endswith(".json"):
        return Path(name)
    return rootdir / ".benchmarks" / "xtb" / f"{name}.json"


def load_saved(path: Path) -> dict[str, dict[str, float]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise GateConfigError(f"saved bench run {path}: cannot read ({e.strerror or e})") from None
    except ValueError as e:
        raise GateConfigError(f"saved bench run {path}: not JSON ({e})") from None
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, dict):
        raise GateConfigError(f"saved bench run {path}: no `groups` table")
    return groups


@dataclass
class Gate:
    """Session state: the floors, the saved run to compare with, and every ratio measured so far."""

    floors: dict[str, Floor]
    floors_path: Path
    enabled: bool
    compare: dict[str, dict[str, float]] | None = None
    compare_path: Path | None = None
    max_drop: float = DEFAULT_MAX_DROP
    inject_delay_us: float = 0.0
    measured: dict[str, dict[str, float]] = field(default_factory=dict)

    def verdict(self, group: str, r: Ratio) -> list[str]:
        """Every way this measurement fails the gate (empty: it passes)."""
        self.measured[group] = {"ratio": round(r.ratio, 3), "p99_ratio": round(r.p99_ratio, 3),
                                "baseline_p50_us": round(r.baseline_p50_us, 3), "xtb_p50_us": round(r.xtb_p50_us, 3)}
        failures = []
        floor = self.floors.get(group)
        if floor is not None:
            if r.ratio < floor.ratio:
                failures.append(f"bench gate: {group}: ratio {r.ratio:.2f}x is below its floor {floor.ratio:.2f}x "
                                f"(baseline {r.baseline_p50_us:.2f} µs / xtb {r.xtb_p50_us:.2f} µs per round, "
                                f"floors from {self.floors_path})")
            if floor.p99_ratio is not None and r.p99_ratio < floor.p99_ratio:
                failures.append(f"bench gate: {group}: p99 ratio {r.p99_ratio:.2f}x is below its floor "
                                f"{floor.p99_ratio:.2f}x (baseline p99 {r.baseline_p99_us:.2f} µs / xtb p99 "
                                f"{r.xtb_p99_us:.2f} µs, floors from {self.floors_path})")
        saved = (self.compare or {}).get(group)
        if saved is not None:
            for key, now in (("ratio", r.ratio), ("p99_ratio", r.p99_ratio)):
                before = saved.get(key)
                if key == "p99_ratio" and (floor is None or floor.p99_ratio is None):
                    continue  # tails are compared only where the group gates its tail
                if isinstance(before, int | float) and now < before * (1 - self.max_drop):
                    failures.append(f"bench gate: {group}: {key} {now:.2f}x dropped more than "
                                    f"{self.max_drop:.0%} against the saved run {self.compare_path} "
                                    f"({before:.2f}x)")
        return failures

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"groups": self.measured}, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        raise ValueError("no samples")
    i = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[i]


def busy_wait_us(us: float) -> None:
    end = time.perf_counter() + us * 1e-6
    while time.perf_counter() < end:
        pass


def interleave(
    baseline: Callable[[], object],
    xtb: Callable[[], object],
    *,
    blocks: int = 12,
    rounds: int = 25,
    warmup: int = 3,
    setup_baseline: Callable[[], object] | None = None,
    setup_xtb: Callable[[], object] | None = None,
    inject_delay_us: float = 0.0,
) -> Ratio:
    """Alternate the two legs in blocks (baseline block, xtb block, ...), timing each round of each leg;
    the first `warmup` rounds of every block are run but not counted (caches refilled after the other leg).
    `setup_*` runs before every round, untimed (e.g. restore a book snapshot)."""
    clock = time.perf_counter
    samples: dict[str, list[float]] = {"baseline": [], "xtb": []}
    legs = (("baseline", baseline, setup_baseline, 0.0), ("xtb", xtb, setup_xtb, inject_delay_us))
    for _ in range(blocks):
        for name, run, setup, delay in legs:
            out = samples[name]
            for i in range(warmup + rounds):
                if setup is not None:
                    setup()
                t0 = clock()
                run()
                if delay:
                    busy_wait_us(delay)
                dt = clock() - t0
                if i >= warmup:
                    out.append(dt * 1e6)
    b, x = sorted(samples["baseline"]), sorted(samples["xtb"])
    return Ratio(percentile(b, 0.5), percentile(x, 0.5), percentile(b, 0.99), percentile(x, 0.99), len(x))


class GateFixture:
    """What a benchmark test uses: `ratio_gate.check(benchmark, group, baseline, xtb, ...)` measures the
    two paths interleaved, records the figures in the xtb case's extra_info and fails below a floor.
    `ratio_gate.judge(benchmark, group, ratio)` gates a measurement a test made its own way."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    @property
    def enabled(self) -> bool:
        return self.gate.enabled

    @property
    def inject_delay_us(self) -> float:
        return self.gate.inject_delay_us

    def check(self, benchmark: Any, group: str, baseline: Callable[[], object], xtb: Callable[[], object],
              **kwargs: Any) -> Ratio | None:
        if not self.gate.enabled:
            return None
        r = interleave(baseline, xtb, inject_delay_us=self.gate.inject_delay_us, **kwargs)
        self.judge(benchmark, group, r)
        return r

    def judge(self, benchmark: Any, group: str, r: Ratio) -> None:
        benchmark.extra_info.update(r.as_extra_info())
        failures = self.gate.verdict(group, r)
        if failures:
            pytest.fail("\n".join(failures), pytrace=False)


def add_options(parser: pytest.Parser) -> None:
    g = parser.getgroup("xtb bench gate")
    g.addoption("--xtb-floors", metavar="FILE", default=None,
                help=f"floors file (TOML: [group] ratio = ..., p99_ratio = ...); default {DEFAULT_FLOORS.name}")
    g.addoption("--xtb-save", metavar="NAME", default=None,
                help="store this run's ratios as NAME (.benchmarks/xtb/NAME.json, or a path)")
    g.addoption("--xtb-compare", metavar="NAME", default=None,
                help="fail when a ratio drops more than --xtb-max-drop against the saved run NAME")
    g.addoption("--xtb-max-drop", metavar="FRACTION", type=float, default=DEFAULT_MAX_DROP,
                help=f"largest accepted drop against --xtb-compare (default {DEFAULT_MAX_DROP})")
    g.addoption("--xtb-inject-delay-us", metavar="US", type=float, default=0.0,
                help="busy-wait this long in every timed xtb round (the gate's self-test)")


def make_gate(config: pytest.Config) -> Gate:
    floors_opt = config.getoption("--xtb-floors")
    floors_path = Path(floors_opt) if floors_opt else DEFAULT_FLOORS
    max_drop = config.getoption("--xtb-max-drop")
    if not 0 <= max_drop < 1:
        raise pytest.UsageError(f"--xtb-max-drop: a fraction in [0, 1), got {max_drop}")
    enabled = not config.getoption("benchmark_disable", default=False)
    try:
        gate = Gate(floors=load_floors(floors_path), floors_path=floors_path, enabled=enabled, max_drop=max_drop,
                    inject_delay_us=config.getoption("--xtb-inject-delay-us"))
        name = config.getoption("--xtb-compare")
        if name:
            gate.compare_path = saved_run_path(config.rootpath, name)
            gate.compare = load_saved(gate.compare_path)
    except GateConfigError as e:
        raise pytest.UsageError(str(e)) from None
    return gate
