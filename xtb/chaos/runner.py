"""Run scenarios: one in-process paper run each (engine + simulator on 127.0.0.1), judged on the way out.

`run_one(scenario)` runs a single scenario in the current event loop; `run_many(scenarios, jobs)` spreads
them over worker processes (each worker runs its scenarios one after another, a few concurrently in one
event loop) and yields `Result`s as they finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xtb.chaos.judge import BotRecord, LogWatch, RunFacts, SimLedger, Violation, judge
from xtb.chaos.scenarios import Scenario
from xtb.engine.engine import Engine
from xtb.engine.settle import ExitReport

log = logging.getLogger("xtb.chaos")


@dataclass
class Result:
    name: str
    violations: list[tuple[str, str]] = field(default_factory=list)  # (invariant, detail)
    longest_unhedged_s: float = 0.0
    fills: int = 0
    exit_flat: bool | None = None
    start_failed: str | None = None
    faults: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations


_RUN_LOG: contextvars.ContextVar[LogWatch | None] = contextvars.ContextVar("xtb_chaos_run_log", default=None)


class _LogRouter(logging.Handler):
    """One root handler for every run in this process: a record goes to the run whose task logged it
    (asyncio tasks and callbacks carry the context they were created in), so concurrent runs keep their own
    tracebacks."""

    def emit(self, record: logging.LogRecord) -> None:
        watch = _RUN_LOG.get()
        if watch is not None:
            watch.emit(record)


_ROUTER = _LogRouter(logging.DEBUG)
_RUNS_IN_PROCESS = itertools.count()  # distinct Lighter accounts per run: one signer key per account per process


def _install_log_router() -> None:
    root = logging.getLogger()
    if _ROUTER not in root.handlers:
        root.addHandler(_ROUTER)


class _JudgedEngine(Engine):
    """The paper engine with the judge's listeners attached: the simulator's ledger from its first event,
    the bot's fill record, and the venues' state snapshotted at exit, before the connections close."""

    def __init__(self, config: Any, scenario: Scenario) -> None:
        super().__init__(config)
        self.scenario = scenario
        self.ledger: SimLedger | None = None
        self.record = BotRecord()
        self.tracker_open: list[tuple[str, int, str]] = []
        self.tracker_unresolved: list[tuple[str, int]] = []
        self.pnl_sources: dict[str, float] = {}
        self.plan: Any = None

    async def _start_sim(self) -> None:
        from xtb.sim.cluster import LIGHTER_FIRST_USER_ACCOUNT, ClusterConfig, SimCluster
        from xtb.sim.dialects import dialect
        from xtb.sim.faults import FaultPlan

        venues = tuple(v for v, c in self.config.venues.items() if c.enabled)
        wanted = {v: set(c.symbols) for v, c in self.config.venues.items()}
        sim = self.config.sim
        plan = self.plan = FaultPlan.from_dict(sim.faults or {}, start_ns=time.time_ns())  # type: ignore[arg-type]
        self.sim = SimCluster(ClusterConfig(
            venues=venues, seed=self.scenario.seed, fault_plan=plan, updates_per_s=sim.updates_per_s,
            venue_feed_options=sim.feed_options(), response_timeout_s=10.0,
            lighter_first_account=LIGHTER_FIRST_USER_ACCOUNT + 1000 * next(_RUNS_IN_PROCESS),
            markets={v: tuple(m for m in dialect(v).markets if m.symbol in wanted.get(v, ())) for v in venues}))
        await self.sim.__aenter__()
        self.ledger = SimLedger(self.sim)

    async def _open_venues(self, names: Any) -> None:
        await super()._open_venues(names)
        assert self.ledger is not None
        self.ledger.start_cash()
        self.dispatcher.add_listener(self.record)

    async def _teardown(self) -> None:
        if self.ledger is not None and not self.ledger.exit:
            self.ledger.snapshot()
            now = time.monotonic_ns()
            self.tracker_open = [(o.venue, o.client_id, f"{o.state} {(now - o.created_ns) / 1e9:.1f} s old")
                                 for o in self.tracker.open_orders()]
            self.tracker_unresolved = [(o.venue, o.client_id) for o in self.tracker.unresolved()]
            if self.pnl is not None:
                self.pnl_sources["risk"] = self.pnl.realized()
            if self.telemetry is not None:
                realized, _unrealized, fees = self.telemetry.pnl()
                self.pnl_sources["telemetry"] = realized - fees
            strategy_pnl = getattr(self.strategy, "session_cash", None)  # cross_arb: every fill's cash flow
            if strategy_pnl is not None:
                self.pnl_sources["strategy"] = float(strategy_pnl)
        await super()._teardown()


class _Targeted:
    """The harness's targeted faults: socket drops at the first fills, at the stop, an unanswered close."""

    def __init__(self, engine: _JudgedEngine, fault: str) -> None:
        self.engine, self.fault = engine, fault
        self.fills = 0
        self.fired: dict[str, int] = {}

    def on_fill(self, ev: Any) -> None:
        self.fills += 1
        sim = self.engine.sim
        if sim is None:
            return
        venues = list(sim.venues)
        if self.fault == "disconnect_entry" and self.fills == 1:
            self._drop(venues)
        elif self.fault == "disconnect_hedge":
            others = [v for v in venues if v != ev.venue]
            if others and self.fills == 1:
                self._drop(others)
            elif not others and self.fills == 2:
                self._drop(venues)

    def _drop(self, venues: list[str]) -> None:
        sim = self.engine.sim
        for v in venues:
            self.fired["drop_socket"] = self.fired.get("drop_socket", 0) + sim.drop_sockets(v)

    def at_stop(self) -> None:
        from xtb.sim.faults import FaultKind, FaultRule

        sim = self.engine.sim
        if sim is None:
            return
        if self.fault == "disconnect_stop":  # every stream down for the whole stop: each reconnect dropped again
            self._drop(list(sim.venues))
            sim.faults.plan.rules.append(FaultRule(FaultKind.DROP_SOCKET, probability=1.0))
        elif self.fault == "accept_timeout_close":
            sim.faults.plan.rules.append(FaultRule(FaultKind.ACCEPT_TIMEOUT, every=1, max_count=1))
            self.fired["accept_timeout"] = 1


async def run_one(scenario: Scenario, workdir: Path | None = None) -> Result:
    """Run and judge one scenario in this event loop."""
    from xtb.config import ConfigError, validate

    started = time.monotonic()
    result = Result(scenario.name)
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="xtb-chaos-")))
        try:
            cfg = validate(scenario.config(workdir))
        except ConfigError as e:
            result.violations.append(("crash", f"scenario config: {e}"))
            return result
        watch = LogWatch()
        token = _RUN_LOG.set(watch)
        _install_log_router()
        engine = _JudgedEngine(cfg, scenario)
        targeted = _Targeted(engine, scenario.fault)
        crash: str | None = None
        try:
            try:
                await engine.start()
            except Exception as e:  # a start refused under faults exits non-zero with its reason
                result.start_failed = f"{type(e).__name__}: {e}"
            else:
                engine.dispatcher.add_listener(targeted)
                await asyncio.sleep(scenario.duration_s)
                targeted.at_stop()
                await engine.stop(flatten=True)
        except Exception as e:
            crash = f"{type(e).__name__}: {e}"
            log.exception("scenario %s crashed", scenario.name)
            with contextlib.suppress(Exception):
                await engine.stop()
        finally:
            _RUN_LOG.reset(token)
        ledger = engine.ledger
        if ledger is None:
            result.violations.append(("crash", crash or result.start_failed or "the simulator did not start"))
            return result
        ledger.close()
        if not ledger.exit:
            ledger.snapshot()
        report = engine.exit_report
        if result.start_failed is not None and report is None:  # refused to start, said why: judged untouched
            report = ExitReport(errors=[f"start failed: {result.start_failed}"])
        facts = RunFacts(ledger=ledger, record=engine.record, logs=watch, exit_report=report,
                         tracker_open=engine.tracker_open, tracker_unresolved=engine.tracker_unresolved,
                         pnl=engine.pnl_sources, unhedged_bound_s=scenario.unhedged_bound_s, crash=crash)
        violations: list[Violation] = judge(facts)
        result.violations = [(v.invariant, v.detail) for v in violations]
        result.longest_unhedged_s = max(ledger.longest_unhedged.values(), default=0.0) \
            if scenario.unhedged_bound_s is not None else 0.0
        result.fills = len(ledger.fills)
        result.exit_flat = None if report is None else bool(report.flat)
        counts = {k.value: n for k, n in engine_plan_counts(engine).items()}
        for k, n in targeted.fired.items():
            counts[k] = counts.get(k, 0) + n
        result.faults = counts
    result.wall_s = time.monotonic() - started
    return result


def engine_plan_counts(engine: _JudgedEngine) -> dict[Any, int]:
    return {} if engine.plan is None else dict(engine.plan.counts)


async def run_concurrently(scenarios: list[Scenario], concurrency: int) -> list[Result]:
    """Several scenarios at once in this loop (each has its own simulator, ports and accounts)."""
    sem = asyncio.Semaphore(concurrency)

    async def one(sc: Scenario) -> Result:
        async with sem:
            return await run_one(sc)

    return list(await asyncio.gather(*(one(sc) for sc in scenarios)))


def _worker(scenarios: list[Scenario], concurrency: int) -> list[Result]:
    logging.getLogger().setLevel(logging.WARNING)
    return asyncio.run(run_concurrently(scenarios, concurrency))


def run_many(scenarios: list[Scenario], jobs: int | None = None, concurrency: int = 2,
             batch: int = 4) -> Iterator[Result]:
    """Scenarios over `jobs` worker processes, in batches of `batch` run `concurrency` at a time."""
    jobs = jobs or max(1, min(2, os.cpu_count() or 1))
    batches = [scenarios[i:i + batch] for i in range(0, len(scenarios), batch)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_worker, b, concurrency) for b in batches]
        for fut in as_completed(futures):
            yield from fut.result()
