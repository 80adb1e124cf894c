"""Engine (the original TradingCore): connectors, strategies, clock, dispatcher, gateway, lifecycle.

    engine = Engine(load_config("configs/cross_arb.yaml"))      # paper mode unless live=True
    await engine.start()
    await engine.run(duration_s=60)                               # or until stop() / a signal
    await engine.stop()                                           # strategy -> cancel all -> connectors

Paper mode starts the venue simulator in-process (xtb.sim), opens an account on each simulated venue
with fresh keys, and points the connectors at its loopback URLs: no keys, no network. Live mode reads
keys from the configured key files (or the environment) and takes the single-instance account lock.

Shutdown order: stop the strategy, cancel every open order, optionally flatten positions
reduce-only, wait for in-flight sends, stop the connectors, stop the simulator.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from xtb.config import VenueConfig, XtbConfig
from xtb.control.server import ControlServer
from xtb.engine.clock import Clock
from xtb.engine.context import StrategyContext
from xtb.engine.gateway import OrderGateway
from xtb.engine.order_watch import OrderWatch
from xtb.engine.registry import get_strategy
from xtb.engine.runtime import EngineStateListener, Runtime
from xtb.engine.strategy import Strategy
from xtb.lock import AccountLock
from xtb.model.constants import PAPER_COLLATERAL_USDC
from xtb.private import create_private_file, make_private_dir
from xtb.risk import PnlLedger, RiskConfig, RiskGuard
from xtb.telemetry.run import RunTelemetry, new_run_dir
from xtb.venues.contract import Connector, LiveSetup, PaperSetup, VenueEndpoints
from xtb.venues.registry import venue_spec

log = logging.getLogger("xtb.engine")

__all__ = ["Engine", "EngineStateListener"]


class Engine:
    def __init__(self, config: XtbConfig, *, live: bool = False, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.live = live or config.general.mode == "live"
        self.env = os.environ if env is None else env
        # The trading stack (ring, tracker, dispatcher, positions, risk, gateway, strategies, journal) is
        # built by the one composition root replay shares (xtb.engine.runtime); these are its objects.
        self.runtime = rt = Runtime(config, mode="live" if self.live else "paper")
        self.ring, self.tracker, self.dispatcher, self.positions = rt.ring, rt.tracker, rt.dispatcher, rt.positions
        self.connectors: dict[str, Connector] = rt.connectors
        self.gateway: OrderGateway | None = None
        self.order_watch: OrderWatch | None = None
        # --- risk / control (xtb.risk, xtb.control) ---
        self.risk_config: RiskConfig | None = rt.risk_config
        self.risk: RiskGuard | None = None
        self.pnl: PnlLedger | None = None
        self.control: ControlServer | None = None
        self._reduce_tasks: set[asyncio.Task[Any]] = set()
        self.strategy: Any = None  # the first instance (`strategy`); all of them in `strategies`
        self.strategies: list[Any] = []
        self.context: StrategyContext | None = None
        self.telemetry: RunTelemetry | None = None  # metrics, stats, records of this run (xtb.telemetry.run)
        self.clock = Clock(config.general.tick_interval_ms)
        self.sim: Any = None
        self._wants_marks = False  # a strategy overrides on_mark: venues that can subscribe their mark price do
        self._locks: list[AccountLock] = []
        self._client_ids: dict[str, Any] = rt.client_ids
        self._started_at: float | None = None
        self._stop = asyncio.Event()
        self._state = "created"
        # --- event journal (telemetry.journal): see docs/journal.md ---
        self.journal: Any = None
        self.run_path: Path | None = None  # this run's directory (journal, stats, records), made at start
        self.exit_report: Any = None  # xtb.engine.settle.ExitReport once stopped (None: never ran)

    # --- building ----------------------------------------------------------------------------------
    def symbol_of(self, venue: str, book_id: int) -> str | None:
        return self.runtime.symbol_of(venue, book_id)

    async def _start_sim(self) -> None:
        from xtb.sim.cluster import ClusterConfig, SimCluster
        from xtb.sim.faults import FaultPlan

        venues = tuple(v for v, c in self.config.venues.items() if c.enabled)
        sim = self.config.sim
        seed = sim.seed if sim.seed is not None else self.config.general.seed or 0
        plan = None
        if isinstance(sim.faults, str):
            plan = FaultPlan.profile(sim.faults, seed=seed, start_ns=time.time_ns())
        elif sim.faults is not None:
            plan = FaultPlan.from_dict(sim.faults, start_ns=time.time_ns())
        self.sim = SimCluster(ClusterConfig(venues=venues, seed=seed, fault_plan=plan, updates_per_s=sim.updates_per_s,
                                            venue_feed_options=sim.feed_options()))
        await self.sim.__aenter__()

    def _state_dir(self) -> Path:
        return Path(self.config.general.run_dir) / "state"

    def _build_connector(self, name: str, vcfg: VenueConfig) -> Connector:
        """The venue's own factory (its VenueSpec): live keys and endpoints, or a funded simulator account."""
        spec = venue_spec(name)
        wiring = self.runtime.wiring()
        options = dict(vcfg.options)
        if vcfg.symbols:
            options["symbols"] = tuple(vcfg.symbols)
        if self._wants_marks and "mark_price" not in options and hasattr(spec.config_cls, "mark_price"):
            options["mark_price"] = True  # a strategy's on_mark asks for the venue's mark price / funding stream
        if self.live:
            return spec.connect_live(LiveSetup(name, options, VenueEndpoints(vcfg.rest_url, vcfg.ws_url),
                                               vcfg.key_file, vcfg.account, self.env), wiring)
        return spec.connect_paper(PaperSetup(name, options, self.sim, PAPER_COLLATERAL_USDC), wiring)

    def _take_locks(self, names: Sequence[str]) -> None:
        for name, vcfg in self.config.venues.items():
            if name in names:
                lock = AccountLock(self.config.general.lock_dir, name, vcfg.account or vcfg.key_file or "default")
                lock.acquire()
                self._locks.append(lock)

    # --- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._state != "created":
            raise RuntimeError(f"engine already {self._state}")
        self._state = "starting"
        instances = self._parse_instances()  # bad params fail before anything starts
        self._wants_marks = any(getattr(spec.cls, "on_mark", None) is not Strategy.on_mark for _, spec, _ in instances)
        try:
            self._start_journal()
            await self._open_venues([n for n, v in self.config.venues.items() if v.enabled])
            self._write_journal_markets()
            self.risk = self._build_risk()
            await self._seed_pnl()
            self.gateway = self.runtime.build_gateway(self._on_order_latency)
            self.order_watch = self.runtime.build_order_watch()
            self.gateway.on_cancel_refused = self.order_watch.cancel_refused
            self.dispatcher.add_listener(self.order_watch)
            self.clock.add_tick_handler(self.order_watch.on_tick)
            self.telemetry = RunTelemetry.for_engine(self)  # telemetry: run dir, exporter, stats, records
            if self.risk is not None:
                self.risk.on_reduce = self._start_reduce
            sink = None if self.telemetry is None else self.telemetry.sink
            shared = len(instances) > 1  # several instances on one account: each sees only its own orders
            for name, spec, params in instances:
                self.runtime.add_strategy(spec, params, name=name, sink=sink, shared=shared)
            self.strategies = self.runtime.strategies
            self.strategy, self.context = self.strategies[0], self.runtime.contexts[0]
            if self.telemetry is not None:  # telemetry: after the strategies, around the engine's tick
                self.runtime.add_listener(self.telemetry)
                self.clock.add_tick_handler(self.telemetry.tick_started)
            for strategy in self.strategies:
                await strategy.on_start()
            if self.telemetry is not None:  # `xtb report` charts the spreads of the pairs the strategies trade
                self.telemetry.note_pairs([p for s in self.strategies for p in s.traded_pairs()])
            self.clock.add_tick_handler(self._on_tick)
            if self.telemetry is not None:
                self.clock.add_tick_handler(self.telemetry.on_tick)
            self.clock.start()
            await self._start_control()
        except BaseException:
            await self._teardown()
            self._state = "failed"
            raise
        if self.config.general.gc_freeze:
            # Everything imported and built so far lives as long as the process: freeze it, so that a
            # full collection never walks it again (a gen-2 pass over it stalls the loop for ms).
            gc.collect()
            gc.freeze()
        self._started_at = time.monotonic()
        self._state = "running"
        log.info("engine running: strategy %s on %s (%s mode)", ", ".join(c.name for c in self.runtime.contexts),
                 ", ".join(self.connectors), "live" if self.live else "paper")

    def _parse_instances(self) -> list[tuple[str, Any, Any]]:
        """(instance name, spec, params) for `strategy` and each of `strategies`; errors name the key."""
        out: list[tuple[str, Any, Any]] = []
        seen: set[str] = set()
        for i, section in enumerate([self.config.strategy, *self.config.strategies]):
            key = "strategy" if i == 0 else f"strategies.{i - 1}"
            spec = get_strategy(section.name)
            try:
                params = spec.parse_params(section.params)
            except ValueError as e:
                raise ValueError(str(e).replace("strategy.params.", f"{key}.params.")) from None
            name = section.id or (spec.name if spec.name not in seen else f"{spec.name}#{i + 1}")
            if name in seen:
                raise ValueError(f"{key}.id: {name!r} names another strategy instance already")
            seen.add(name)
            out.append((name, spec, params))
        return out

    async def _open_venues(self, names: Sequence[str]) -> None:
        """Locks (live) or the simulator (paper), then the named venues' connectors, started."""
        if self.live:
            self._take_locks(names)
        else:
            await self._start_sim()
        from xtb.orders.client_ids import ClientIdAllocator

        for name in names:
            vcfg = self.config.venues[name]
            account = vcfg.account or ("paper" if not self.live else "default")
            self.runtime.add_venue(name, self._build_connector(name, vcfg),
                                   ClientIdAllocator.for_venue(self._state_dir(), name, account,
                                                               id_range=venue_spec(name).client_id_range))
        # Engine state and connectors see each event before any strategy.
        self.runtime.listen_to_venues()
        await asyncio.gather(*(c.start() for c in self.connectors.values()))

    async def start_venues(self, venues: Sequence[str] | None = None) -> dict[str, Any]:
        """Only the connectors, started, with no strategy (`xtb flatten` with the bot down): the account
        locks in live mode, the simulator in paper mode. `venues` defaults to every enabled one;
        `stop()` tears everything down."""
        if self._state != "created":
            raise RuntimeError(f"engine already {self._state}")
        enabled = [n for n, v in self.config.venues.items() if v.enabled]
        names = list(venues) if venues else enabled
        unknown = [n for n in names if n not in enabled]
        if unknown:
            raise ValueError(f"venue {', '.join(unknown)} is not enabled in the config (enabled: {', '.join(enabled)})")
        self._state = "starting"
        try:
            await self._open_venues(names)
        except BaseException:
            await self._teardown()
            self._state = "failed"
            raise
        self._started_at = time.monotonic()
        self._state = "running"
        return dict(self.connectors)

    def _build_risk(self) -> RiskGuard | None:
        guard = self.runtime.build_risk()
        self.pnl = self.runtime.pnl
        return guard

    async def _seed_pnl(self) -> None:
        """Positions held before this run have no fills here: start their cost basis at the venue's entry
        price. Runs before the strategy starts, so no fill of ours can be counted twice."""
        if self.pnl is None:
            return
        for name, conn in self.connectors.items():
            try:
                held = await conn.positions()
            except Exception as e:
                log.error("%s: positions unreadable at start: realized PnL of what is held is not counted (%s)",
                          name, e)
                continue
            for symbol, p in held.items():
                if p.size:
                    self.pnl.seed(name, symbol, p.size, p.entry_px)

    async def _start_control(self) -> None:
        ccfg = self.config.control
        if not ccfg.enabled:
            return
        token = None if ccfg.token is None else ccfg.token.get_secret_value()
        desk = self._build_desk()  # alerts and notifications run with or without the web panel
        try:
            self.control = await ControlServer.start(self, port=ccfg.port, token=token, token_env=ccfg.token_env,
                                                     state_dir=self._state_dir(), env=self.env, desk=desk,
                                                     panel=ccfg.panel)
        except BaseException:
            if desk is not None:
                await desk.stop()
            raise

    def _build_desk(self) -> Any:
        """The panel's model (xtb.control.desk) with its notification channels, started."""
        from xtb.control.desk import Desk
        from xtb.control.notify import Notifier

        ncfg = self.config.notify
        notifier = None
        if ncfg.urls:
            notifier = Notifier([u.get_secret_value() for u in ncfg.urls], events=ncfg.events,
                                queue_size=ncfg.queue_size, title=f"xtb {self.config.strategy.name}")
        try:
            desk = Desk(self, notifier=notifier)
        except (OSError, ValueError) as e:
            if notifier is not None:
                notifier.close(0.1)
            raise ValueError(f"control.history_db: cannot open the spread history: {e}") from None
        desk.start()
        return desk

    async def _stop_control(self) -> None:
        if self.control is not None:
            try:
                await self.control.stop()
            except Exception:
                log.exception("control endpoint stop failed")
            self.control = None

    def _start_reduce(self, req: Any) -> None:
        """A drawdown band asked for a staged reduce: run it in the background through the gateway."""
        from xtb.risk.reducer import Reducer

        if self.risk is None or self.context is None or self.risk_config is None:
            return
        cfg = self.risk_config
        reducer = Reducer(self.context, mode=cfg.reduce_mode, maker_wait_s=cfg.reduce_maker_wait_s,
                          max_slippage_pct=cfg.reduce_max_slippage_pct,
                          market_trigger_pct=cfg.reduce_market_trigger_pct)
        task = asyncio.get_running_loop().create_task(reducer.run(self.risk.positions(), req.fraction))
        self._reduce_tasks.add(task)
        task.add_done_callback(self._reduce_tasks.discard)

    def _on_order_latency(self, sample: Any) -> None:
        if self.risk is not None:
            self.risk.on_latency_ms((sample.sent_ns - sample.decided_ns) / 1e6)
        if self.telemetry is not None:
            self.telemetry.on_order_latency(sample)

    async def _on_tick(self, now_ms: int) -> None:
        self.dispatcher.drain()
        if self.risk is not None:
            try:
                self.risk.mark_to_market()  # unrealized PnL -> pnl band, stop loss, drawdown bands
            except Exception:
                log.exception("risk mark-to-market failed")  # the strategy's tick still runs
        for lock in self._locks:
            lock.heartbeat()
        for strategy in self.strategies:
            try:
                await strategy.on_tick(now_ms)
            except Exception:  # one instance's bug does not stop the others' ticks
                if len(self.strategies) == 1:
                    raise
                log.exception("strategy %s on_tick failed", strategy.ctx.name)

    async def run(self, duration_s: float | None = None) -> None:
        """Run until `stop()` is requested (or the duration passes)."""
        try:
            await asyncio.wait_for(self._stop.wait(), duration_s)
        except TimeoutError:
            pass

    def request_stop(self) -> None:
        self._stop.set()

    async def stop(self, *, cancel_orders: bool = True, flatten: bool = False,
                   settle_timeout_s: float = 6.0) -> Any:
        """Strategy stop, cancel all, flatten (asked here or by the strategy's `flatten_on_stop`), then a
        bounded settle over REST until bot and venues agree. Returns the `ExitReport` (also `exit_report`);
        not flat -> `STOPPED: NOT FLAT ...` logged as an error (the CLI exits non-zero)."""
        if self._state not in ("running", "starting"):
            return self.exit_report
        self._state = "stopping"
        try:
            await self._stop_control()  # no operator command races the shutdown
            for strategy in self.strategies:
                try:
                    await strategy.on_stop()
                except Exception:
                    log.exception("strategy %s on_stop failed", strategy.ctx.name)
            if self.gateway is not None:
                self.gateway.closed = True  # from here on only the engine closes (cancel all, flatten, settle)
            for ctx in self.runtime.contexts:
                ctx.cancel_timers()
            for task in self._reduce_tasks:
                task.cancel()
            await self.clock.stop()
            if self.order_watch is not None:
                await self.order_watch.stop()
            wants_flat = flatten or any(bool(getattr(getattr(s, "params", None), "flatten_on_stop", False))
                                        for s in self.strategies)
            if cancel_orders:
                await self.cancel_all()
            if flatten:
                await self._flatten_at_stop()
            if self.gateway is not None:
                await self.gateway.drain(10.0)
            self.dispatcher.drain()
            if self.connectors:
                report = await self._settle(settle_timeout_s)
                if wants_flat and not report.flat and not report.errors:
                    # the engine's flatten as the fallback of the strategy's own close (REST-priced)
                    log.warning("not flat after the strategy's stop: engine flatten (%s)", report.as_dict())
                    await self._flatten_at_stop()
                    if self.gateway is not None:
                        await self.gateway.drain(10.0)
                    report = await self._settle(settle_timeout_s)
                await self._announce_exit(report)
        finally:
            await self._teardown()
            self._state = "stopped"
        return self.exit_report

    async def _flatten_at_stop(self) -> None:
        try:
            await self.flatten()
        except Exception as e:  # the settle below reports what is left
            log.error("flatten at stop failed: %s", e)

    async def _settle(self, timeout_s: float) -> Any:
        from xtb.engine.settle import settle

        return await settle(self.connectors, self.tracker, timeout_s=timeout_s, drain=self.dispatcher.drain)

    async def _announce_exit(self, report: Any) -> None:
        """The bot's last word on where it left the venues: a log line, `exit.json` in the run directory and,
        when not flat, an `alert` to the notification channels (`notify.urls`)."""
        self.exit_report = report
        markets = {v: c.markets() for v, c in self.connectors.items()}
        line = report.summary(markets)
        if report.flat:
            log.info("%s", line)
        else:
            log.error("%s", line)
            await self._notify_alert(line)
        if self.run_path is not None:
            import json

            try:
                (self.run_path / "exit.json").write_text(json.dumps(report.as_dict(), default=str))
            except OSError as e:
                log.error("cannot write %s: %s", self.run_path / "exit.json", e)

    async def _notify_alert(self, text: str) -> None:
        """One alert through the configured channels, delivered before returning (the desk's notifier has
        stopped with the control endpoint by now)."""
        ncfg = getattr(self.config, "notify", None)
        if ncfg is None or not ncfg.urls:
            return
        from xtb.control.notify import Notifier

        try:
            notifier = Notifier([u.get_secret_value() for u in ncfg.urls], events=ncfg.events,
                                title=f"xtb {self.config.strategy.name}")
        except ValueError as e:
            log.error("NOT FLAT alert not sent: %s", e)
            return
        notifier.send("alert", text)
        await asyncio.to_thread(notifier.close, 5.0)

    async def cancel_all(self) -> None:
        results = await asyncio.gather(*(c.cancel_all() for c in self.connectors.values()), return_exceptions=True)
        for name, res in zip(self.connectors, results, strict=True):
            if isinstance(res, Exception):
                log.error("%s cancel_all failed: %s", name, res)

    async def flatten(self) -> dict[str, dict[str, int]]:
        """Close every position with reduce-only market orders; returns what was left per venue/symbol."""
        from xtb.engine.flatten import flatten_connectors

        return await flatten_connectors(self.connectors, next_client_id=self._next_client_id)

    async def flatten_report(self, **options: Any) -> dict[str, Any]:
        """Cancel all, close positions reduce-only, verify: one `VenueFlatten` per connector."""
        from xtb.engine.flatten import flatten_venues

        return await flatten_venues(self.connectors, next_client_id=self._next_client_id, **options)

    def _next_client_id(self, venue: str) -> int:
        return int(self._client_ids[venue].next())

    # --- event journal (telemetry.journal) ---------------------------------------------------------
    def journal_path(self) -> Path:
        """`<run dir>/events.journal`: the run directory the telemetry section sets up when present."""
        if self.run_path is None:
            self.run_path = new_run_dir(self.config.general.run_dir, self.config.strategy.name)
        return self.run_path / "events.journal"

    def _start_journal(self) -> None:
        tcfg = self.config.telemetry
        if not (tcfg.enabled and tcfg.journal) or self.journal is not None:  # telemetry off: no files at all
            return
        path = self.journal_path()
        make_private_dir(path.parent)
        create_private_file(path)  # 0600: the journal's writer truncates it and keeps the mode
        self.runtime.start_journal(path, {"strategy": self.config.strategy.name,
                                          "mode": "live" if self.live else "paper"})
        self.journal = self.runtime.journal

    def _write_journal_markets(self) -> None:
        self.runtime.write_journal_markets()

    def _close_journal(self) -> None:
        self.runtime.close_journal()
        self.journal = None

    async def _teardown(self) -> None:
        await self._stop_control()  # first: no operator command races the teardown
        for name, conn in list(self.connectors.items()):
            try:
                await conn.stop()
                await conn.close()
            except Exception:
                log.exception("%s: stop failed", name)
        if self.sim is not None:
            try:
                await self.sim.__aexit__(None, None, None)
            except Exception:
                log.exception("simulator stop failed")
            self.sim = None
        for lock in self._locks:
            lock.release()
        self._locks.clear()
        if self.telemetry is not None:  # telemetry: last stats line, console summary, records closed
            try:
                self.telemetry.close()
            except Exception:
                log.exception("telemetry close failed")
        self._close_journal()  # last: every event up to here is in the journal

    def _position_text(self, venue: str, symbol: str, units: int) -> str:
        """A position in base units with its asset, e.g. "-0.1 SOL" (the venue's units when unknown)."""
        conn = self.connectors.get(venue)
        m = None if conn is None else conn.markets().get(symbol)
        if m is None:
            return f"{units} units"
        return f"{units * m.multiplier / 10**m.size_decimals:g} {m.base}"

    def status(self) -> dict[str, Any]:
        st: dict[str, Any] = {
            "state": self._state,
            "mode": "live" if self.live else "paper",
            "strategy": self.config.strategy.name,
            "venues": list(self.connectors),
            "uptime_s": None if self._started_at is None else round(time.monotonic() - self._started_at, 1),
            "open_orders": len(self.tracker.open_orders()),
            "unresolved_orders": len(self.tracker.unresolved()),
            "positions": {f"{v}:{s}": self._position_text(v, s, p.size) for (v, s), p in self.positions.items()},
            "events": self.dispatcher.stats.events,
            "slow_callbacks": self.dispatcher.stats.slow_callbacks,
        }
        if self.gateway is not None:
            st["orders_submitted"] = self.gateway.stats.submitted
            st["orders_denied"] = dict(self.gateway.stats.denied)
        if self.risk is not None:
            st.update(self.risk.status())
        if self.control is not None:
            st["control_port"] = self.control.port
        for strategy in self.strategies:
            st.update(strategy.status())
        if len(self.strategies) > 1:
            st["strategy_instances"] = [c.name for c in self.runtime.contexts]
        return st
