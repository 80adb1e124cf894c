"""The one composition root: ring, tracker, dispatcher, positions, risk guard, gateway, strategies, journal.

Live, paper and replay build their trading stack here; only the venue set differs (real connectors,
connectors on the in-process simulator, replayed venues) and the strategies' clock (wall time, or the
journal's). The order matters and is kept in one place:

    rt = Runtime(config, mode="paper")                    # ring, tracker, dispatcher, positions, risk config
    rt.add_venue(name, connector, client_ids)             # each venue, built on rt.wiring()
    rt.listen_to_venues()                                 # engine state first, then each connector
    rt.build_risk(); rt.build_gateway()                   # risk feeds run before any strategy
    rt.build_order_watch()                                # live/paper: REST checks when a stream goes quiet
    rt.add_strategy(spec, params)                         # StrategyContext on rt.clock, listener after the engine's
    ...
    rt.add_listener(telemetry)                            # telemetry last, as it sees what the strategy did

Several strategy instances share one runtime: one account lock, one tracker, one risk guard, one rate
limiter per venue. Each has its own context (its name in logs and records, its own client ids from the
venue's allocator) and sees every event; a strategy keeps to its own orders by client id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from xtb._core import EventRing, OrderTracker
from xtb.config import XtbConfig
from xtb.engine.clock import StrategyClock, WallClock
from xtb.engine.context import IdAllocator, Positions, RecordSink, StrategyContext
from xtb.engine.dispatcher import Dispatcher
from xtb.engine.gateway import LatencySample, OrderGateway
from xtb.engine.order_watch import OrderWatch
from xtb.engine.registry import StrategySpec
from xtb.risk import PnlLedger, RiskConfig, RiskGuard, parse_risk_config
from xtb.venues.contract import ConnectorWiring

log = logging.getLogger("xtb.engine.runtime")

Mode = Literal["live", "paper", "replay"]


class EngineStateListener:
    """Engine-side caches fed by the dispatcher before any strategy sees an event: the position cache
    (`ctx.position`) and the risk guard's positions."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def on_position(self, ev: Any) -> None:
        rt = self.runtime
        symbol = rt.symbol_of(ev.venue, ev.book_id)
        if symbol is not None:
            rt.positions.set(ev.venue, symbol, ev.size, ev.entry_px)
            if rt.risk is not None:
                rt.risk.on_position(ev.venue, symbol, ev.size, ev.entry_px)


class SharedAccountContext(StrategyContext):
    """The context of one of several strategy instances on the same accounts: its reads of working orders
    and its `cancel_all` are limited to the orders it placed itself (another instance's quotes are not its
    to cancel). Positions are the account's, shared by every instance (give instances distinct symbols)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owned: set[tuple[str, int]] = set()

    def owns(self, venue: str, client_id: int) -> bool:
        return (venue, client_id) in self._owned

    def place_limit(self, venue: str, symbol: str, side: Any, price: int, size: int, **kwargs: Any) -> int:
        cid = super().place_limit(venue, symbol, side, price, size, **kwargs)
        self._owned.add((venue, cid))
        return cid

    def place_market(self, venue: str, symbol: str, side: Any, size: int, **kwargs: Any) -> int:
        cid = super().place_market(venue, symbol, side, size, **kwargs)
        self._owned.add((venue, cid))
        return cid

    def submit_batch(self, venue: str, orders: Any) -> list[int]:
        cids = super().submit_batch(venue, orders)
        self._owned.update((venue, c) for c in cids)
        return cids

    def open_orders(self, venue: str | None = None, symbol: str | None = None) -> list[Any]:
        owned = self._owned
        mine = [o for o in super().open_orders(venue, symbol) if (o.venue, o.client_id) in owned]
        if len(owned) > 4096:  # forget terminal orders now and then: the set stays the size of what works
            self._owned = {(o.venue, o.client_id) for o in mine} | {
                k for k in owned if (o := self._tracker.get(k[1], k[0])) is not None and not o.is_terminal}
        return mine

    def cancel_all(self, venue: str | None = None, symbol: str | None = None) -> None:
        for o in self.open_orders(venue, symbol):
            self._gateway.cancel(o.venue, o.symbol, [o.client_id])


class Runtime:
    def __init__(self, config: XtbConfig, *, mode: Mode, clock: StrategyClock | None = None,
                 ring_capacity: int = 1 << 16) -> None:
        self.config = config
        self.mode: Mode = mode
        #: the strategies' time (ctx.clock) and the risk guard's: wall time, or the journal's in replay
        self.clock: StrategyClock = clock or WallClock()
        self.ring = EventRing(ring_capacity)
        self.tracker = OrderTracker(self.ring)
        self.dispatcher = Dispatcher(self.ring)
        self.positions = Positions()
        self.connectors: dict[str, Any] = {}
        self.client_ids: dict[str, IdAllocator] = {}
        # A bad risk section fails here, before anything starts. An empty one still builds a guard (its
        # rules all off) so that the operator's trading state and the kill switch always work.
        self.risk_config: RiskConfig | None = parse_risk_config(config.risk)
        self.risk: RiskGuard | None = None
        self.pnl: PnlLedger | None = None
        self.gateway: OrderGateway | None = None
        self.contexts: list[StrategyContext] = []
        self.strategies: list[Any] = []
        self.journal: Any = None

    # --- venues --------------------------------------------------------------------------------------
    def wiring(self) -> ConnectorWiring:
        return ConnectorWiring(ring=self.ring, tracker=self.tracker, on_burst_end=self.dispatcher.drain)

    def add_venue(self, name: str, connector: Any, client_ids: IdAllocator) -> None:
        self.connectors[name] = connector
        self.client_ids[name] = client_ids

    def symbol_of(self, venue: str, book_id: int) -> str | None:
        conn = self.connectors.get(venue)
        if conn is None:
            return None
        try:
            sym = conn.symbol_of_book(book_id)
        except KeyError:
            return None
        return None if sym is None else str(sym)

    def listen_to_venues(self, *, connectors: bool = True) -> None:
        """Engine state sees each event before anything else, then each connector (Resync, positions);
        a replayed venue is fed by the replay itself (`connectors=False`)."""
        self.dispatcher.add_listener(EngineStateListener(self), first=True)
        if connectors:
            for conn in self.connectors.values():
                self.dispatcher.add_listener(conn)

    # --- risk and orders -----------------------------------------------------------------------------
    def _market(self, venue: str, symbol: str) -> Any:
        conn = self.connectors.get(venue)
        return None if conn is None else conn.markets().get(symbol)

    def _touch(self, venue: str, symbol: str) -> Any:
        try:
            return self.connectors[venue].top_of_book(symbol)
        except KeyError:  # a market without a subscribed book: no touch (the guard decides what that means)
            return None, None

    def build_risk(self) -> RiskGuard | None:
        """The risk guard with its feeds (our fills -> realized PnL; prices -> shock detector), registered
        first so the guard is current before any strategy acts on an event."""
        if self.risk_config is None:
            return None
        from xtb.risk.feed import RiskFillFeed

        guard = RiskGuard(self.risk_config, market=self._market, touch=self._touch, working=self.tracker.open_orders,
                          clock=self.clock.now_s)
        self.pnl = PnlLedger(self._market)
        self.dispatcher.add_listener(RiskFillFeed(guard, self.pnl, order_of=self.tracker.get,
                                                  connectors=self.connectors), first=True)
        if self.risk_config.shock_pct is not None:
            from xtb.risk.feed import RiskPriceFeed

            self.dispatcher.add_listener(RiskPriceFeed(guard, symbol_of=self.symbol_of, market=self._market,
                                                       touch=self._touch), first=True)
        self.risk = guard
        return guard

    def build_gateway(self, on_latency: Callable[[LatencySample], None] | None = None) -> OrderGateway:
        self.gateway = OrderGateway(self.connectors, self.tracker, risk=self.risk, on_latency=on_latency)
        return self.gateway

    def build_order_watch(self) -> OrderWatch:
        """The order watch over this runtime's venues and tracker, timed by `general.order_watch_*`; the caller
        wires it to the gateway, dispatcher and clock (the engine does; replay has no REST to ask)."""
        g = self.config.general
        return OrderWatch(self.connectors, self.tracker, quiet_s=g.order_watch_quiet_s,
                          max_interval_s=g.order_watch_max_interval_s)

    # --- strategies ----------------------------------------------------------------------------------
    def add_strategy(self, spec: StrategySpec, params: BaseModel, *, name: str | None = None,
                     sink: RecordSink | None = None, shared: bool = False) -> Any:
        """One strategy instance on this runtime's venues, gateway and clock, listening after the engine.
        `shared`: one of several instances on the same accounts (its order reads limited to its own)."""
        if self.gateway is None:
            raise RuntimeError("build_gateway() before add_strategy()")
        from xtb.engine.multi import MultiSymbol, symbols_of

        symbols = list(getattr(params, "symbols", None) or [])
        if len(symbols) == 1:  # one symbol listed: a plain instance on it
            params = params.model_copy(update={"symbol": symbols[0], "symbols": []})
        cls = SharedAccountContext if shared else StrategyContext
        ctx = cls(name or spec.name, connectors=self.connectors, gateway=self.gateway,
                              tracker=self.tracker, id_allocators=self.client_ids, positions=self.positions,
                              dispatcher=self.dispatcher, sink=sink, clock=self.clock)
        # several symbols: one state per symbol (the strategy class per symbol) behind one budget
        strategy = MultiSymbol(ctx, params, spec.cls) if symbols_of(params) else spec.cls(ctx, params)
        self.contexts.append(ctx)
        self.strategies.append(strategy)
        self.dispatcher.add_listener(strategy)
        return strategy

    def add_listener(self, listener: Any) -> None:
        self.dispatcher.add_listener(listener)

    # --- journal -------------------------------------------------------------------------------------
    def start_journal(self, path: Path, meta: Mapping[str, Any]) -> None:
        from xtb._core import Journal

        self.journal = Journal(self.ring, path, meta=json.dumps(dict(meta)))
        log.info("event journal: %s", path)

    def write_journal_markets(self, books: Mapping[str, Mapping[int, Any]] | None = None) -> None:
        """The journal's markets side file: book id -> market per venue (from the connectors by default)."""
        if self.journal is None:
            return
        from xtb.telemetry.journal_markets import write_markets

        if books is None:
            by_venue: dict[str, dict[int, Any]] = {}
            for venue, conn in self.connectors.items():
                markets = conn.markets()
                for book_id, symbol in conn.books().items():
                    if symbol in markets:
                        by_venue.setdefault(venue, {})[book_id] = markets[symbol]
            books = by_venue
        write_markets(self.journal.path, {v: dict(b) for v, b in books.items()})

    def close_journal(self) -> Path | None:
        journal, self.journal = self.journal, None
        if journal is None:
            return None
        try:
            journal.close()
        except OSError:
            log.exception("event journal close failed")
        return Path(journal.path)
