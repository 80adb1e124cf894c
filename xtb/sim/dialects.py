"""The simulator's venue dialects, found the way the venues are (xtb/venues/registry.py): by name.

A dialect is a protocol server speaking one venue's REST/WebSocket API over a matching engine. Its package
(xtb/sim/<dialect>/) holds a `dialect.py` whose `DIALECT` is a `SimDialect`: the default markets, how to
open the venue (engine rules, markets, server) and how to open a funded account on it. `SimCluster` only
talks to dialects through this module, so a new dialect adds its package and one `BUILTIN` line (or a
`register_dialect()` call) and edits nothing else. Every running dialect has the same handle shape,
`VenueHandle`: `exchange` (the matching engine), `protocol` (the dialect's venue object, for tests that
reach past the wire), `server`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from xtb.sim.clock import Clock
from xtb.sim.engine import Exchange
from xtb.sim.wire_faults import WireFaults


@dataclass(frozen=True)
class SimMarket:
    """One listed market: the underlying it follows, its venue symbol/id and integer scales."""

    underlying: str
    market_id: int
    symbol: str
    price_decimals: int
    size_decimals: int
    level_size: int  # generator ladder order size, quantity units
    taker_size: int


class SimServer(Protocol):
    """What the cluster needs of a dialect's protocol server (xtb/sim/loopback.py gives the rest)."""

    @property
    def rest_url(self) -> str: ...
    @property
    def ws_url(self) -> str: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def drop_sockets(self) -> int: ...
    def stall_sockets(self, seconds: float) -> None: ...
    @property
    def extra_urls(self) -> Mapping[str, Any]: ...  # what else a client needs (hosts, chain id); often empty


@dataclass(frozen=True)
class DialectSetup:
    """What a dialect is opened with: the cluster's clock, wire faults and socket timings, its markets, and
    its own options (`ClusterConfig.dialect_options[<name>]`)."""

    name: str
    clock: Clock
    faults: WireFaults
    markets: tuple[SimMarket, ...]
    options: Mapping[str, Any]
    ping_interval_s: float = 60.0
    pong_timeout_s: float = 120.0
    book_interval_s: float = 0.05  # book delta batching, for dialects that batch

    def now_ms(self) -> int:
        return self.clock.now_ns() // 1_000_000


@dataclass
class VenueHandle:
    """One running simulated venue: the same shape for every dialect."""

    name: str
    exchange: Exchange
    server: SimServer
    protocol: Any = None  # the dialect's venue object (BackpackVenue, LighterVenue, ...)
    markets: tuple[SimMarket, ...] = ()
    state: dict[str, Any] = field(default_factory=dict)  # the dialect's own bookkeeping (account allocation)

    @property
    def rest_url(self) -> str:
        return self.server.rest_url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url


@dataclass(frozen=True)
class SimDialect:
    name: str
    markets: tuple[SimMarket, ...]  # listed when the cluster config names none for this dialect
    open: Callable[[DialectSetup], VenueHandle]
    #: open a funded account (and register its credentials): `open_account(handle, collateral, **credentials)`;
    #: what it returns is the dialect's (api key and secret, an account index...)
    open_account: Callable[..., Any]
    default: bool = False  # started when the cluster config names no venues


#: the dialects shipped with xtb, in the order the cluster starts them (seeded feeds depend on it)
BUILTIN: dict[str, str] = {
    "backpack": "xtb.sim.backpack.dialect",
    "lighter": "xtb.sim.lighter.dialect",
    "binance_usdm": "xtb.sim.binance.dialect",
    "grvt": "xtb.sim.grvt.dialect",
    "aster": "xtb.sim.aster.dialect",
}

_dialects: dict[str, SimDialect] = {}


def register_dialect(dialect: SimDialect, *, replace: bool = False) -> SimDialect:
    """Make a dialect known (tests, a third party's venue package)."""
    if dialect.name in _dialects and not replace and _dialects[dialect.name] is not dialect:
        raise ValueError(f"simulator dialect {dialect.name!r} is already registered")
    _dialects[dialect.name] = dialect
    return dialect


def unregister_dialect(name: str) -> None:
    _dialects.pop(name, None)


def dialect(name: str) -> SimDialect:
    """The dialect named `name`; ValueError naming the known ones when there is none."""
    found = _dialects.get(name)
    if found is not None:
        return found
    module = BUILTIN.get(name)
    if module is None:
        raise ValueError(f"simulator dialect {name!r}: no such dialect (known: {', '.join(known_dialects())})")
    loaded = importlib.import_module(module).DIALECT
    assert isinstance(loaded, SimDialect) and loaded.name == name
    _dialects[name] = loaded
    return loaded


def known_dialects() -> tuple[str, ...]:
    """Built-in dialects first (their fixed order), then registered ones in registration order."""
    return tuple(BUILTIN) + tuple(n for n in _dialects if n not in BUILTIN)


def default_dialects() -> tuple[str, ...]:
    return tuple(n for n in known_dialects() if dialect(n).default)
