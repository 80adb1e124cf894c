"""The venue contract: what a venue package provides (`VenueSpec`) and what its connector offers (`Connector`).

A venue is a package (xtb/venues/<name>/ or a third party's) with a `spec.py` that builds one `VenueSpec`.
The registry (xtb/venues/registry.py) finds it: the built-in venues by name, others through the
`xtb.venues` entry-point group. The engine, telemetry, flatten and the CLI only talk to a venue through
these two types, so adding a venue adds a package and its registration, and edits no shared module.
See docs/adding_a_venue.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from xtb._core import EventRing, FeedDecoder, Order, OrderBook, OrderTracker, RateLimiter
from xtb.model.types import Balance, MarketInfo, OrderRequest, PositionInfo, SubmitResult
from xtb.orders.reconcile import ReconcilePass, ReconcileStats, SettleReport
from xtb.venues.symbols import Canonical

if TYPE_CHECKING:
    from xtb.sim.cluster import SimCluster
    from xtb.transport.rest import RestClient


@dataclass(frozen=True)
class VenueStats:
    """One typed shape of a connector's counters, the same for every venue (telemetry, the panel)."""

    venue: str
    resyncs: int = 0  # books resynchronised (gap, crossed, stale)
    reconnects: int = 0  # market-data socket connections made
    feed_errors: int = 0  # frames the decoder refused
    reconcile: ReconcileStats = field(default_factory=ReconcileStats)
    extra: Mapping[str, int] = field(default_factory=dict)  # venue-only counters (ws_tx, nonce_retries...)


@runtime_checkable
class Connector(Protocol):
    """Everything the engine, the gateway, telemetry and flatten use of a venue connector."""

    venue: str
    #: the core objects the engine shares with the connector
    ring: EventRing
    tracker: OrderTracker
    decoder: FeedDecoder
    limiter: RateLimiter
    #: False when the venue's fills carry no fee in documented units (PnL charges the published rate)
    reports_fill_fees: bool

    # lifecycle
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def close(self) -> None: ...

    # markets and data
    def markets(self) -> dict[str, MarketInfo]: ...
    def book(self, symbol: str) -> OrderBook: ...
    def books(self) -> dict[int, str]: ...  # the core book id of each kept market -> its symbol
    def symbol_of_book(self, book_id: int) -> str: ...  # KeyError for a book id it does not keep
    def top_of_book(self, symbol: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]: ...
    #: the venue's REST book top (flatten and stop price closes with it when the stream book is not live)
    async def rest_touch(self, symbol: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]: ...

    # account state (stream caches with REST fallback)
    async def positions(self) -> dict[str, PositionInfo]: ...
    async def balances(self) -> dict[str, Balance]: ...
    def open_orders(self, symbol: str | None = None) -> list[Order]: ...

    # orders (direct; the gateway uses the VenueOrderPort half below)
    async def submit(self, req: OrderRequest) -> SubmitResult: ...
    async def submit_batch(self, reqs: list[OrderRequest]) -> list[SubmitResult]: ...
    async def cancel(self, symbol: str, client_id: int) -> SubmitResult: ...
    async def cancel_all(self, symbol: str | None = None) -> None: ...

    # the gateway's port: prepare (sync: checks, signing) then send (after the rate-limit slot)
    def limit_key(self, op: str, count: int) -> tuple[str, int]: ...
    def prepare_submit(self, reqs: Sequence[OrderRequest]) -> Any: ...  # the venue's prepared request
    async def send_submit(self, prepared: Any) -> list[SubmitResult]: ...
    def prepare_cancel(self, symbol: str, client_ids: Sequence[int]) -> Any: ...
    async def send_cancel(self, prepared: Any) -> list[SubmitResult]: ...

    # reconciliation (xtb/orders/reconcile.py decides; the connector reads and translates)
    async def reconcile(self) -> ReconcilePass: ...
    async def settle(self, timeout_s: float = 10.0, interval_s: float = 0.25) -> SettleReport: ...

    # diagnostics
    async def latency_probe(self) -> float: ...  # round trip in ms
    def rest_clients(self) -> list[RestClient]: ...
    def feed_frames(self) -> int: ...  # market-data frames the decoder took
    def venue_stats(self) -> VenueStats: ...


@dataclass(frozen=True)
class VenueEndpoints:
    """Where a connector connects (a live venue from config, or the simulator's loopback URLs)."""

    rest_url: str | None = None
    ws_url: str | None = None


@dataclass(frozen=True)
class ConnectorWiring:
    """The engine's shared core objects and hooks, handed to every connector."""

    ring: EventRing
    tracker: OrderTracker
    on_burst_end: Callable[[], object] | None = None


@dataclass(frozen=True)
class LiveSetup:
    """A live venue section (`venues.<name>`): options (shared names, xtb/venues/options.py) and keys."""

    name: str
    options: Mapping[str, Any]
    endpoints: VenueEndpoints
    key_file: str | None
    account: str | None
    env: Mapping[str, str]


@dataclass(frozen=True)
class PaperSetup:
    """A paper venue: the same options, and the simulator to open a funded account on."""

    name: str
    options: Mapping[str, Any]
    sim: SimCluster
    collateral: int


@dataclass(frozen=True)
class VenueSpec:
    """One venue, as a package declares it."""

    name: str  # the config key (`venues.<name>`) and the core's venue name
    #: config class with the shared option names; `from_options`-style validation happens in the factories
    config_cls: type
    #: connector factories (live: keys from the key file / environment; paper: an account on the simulator)
    connect_live: Callable[[LiveSetup, ConnectorWiring], Connector]
    connect_paper: Callable[[PaperSetup, ConnectorWiring], Connector]
    #: loads and checks the venue's keys (a key file refused when group/other readable, or the environment)
    load_keys: Callable[[str | None, Mapping[str, str] | None], object]
    client_id_range: tuple[int, int]  # client order ids the venue accepts (inclusive)
    #: the core RateLimiter config for the venue's published limits, from the venue's options
    rate_limits: Callable[[Mapping[str, Any]], dict[str, Any]]
    #: venue market name -> canonical base asset (aliases: symbol -> base overrides)
    canonical: Callable[[str, Mapping[str, str] | None], Canonical]
    sim_dialect: str | None = None  # the simulator dialect that speaks this venue's protocol (paper mode)
    #: the name the compiled core knows the venue by (decoder, sequence rule, tracker key)
    core_venue: str = ""
    #: a venue the core has no built-in entry for (a Python-only plugin): its core wire id (128..255, chosen
    #: once and kept: journals store it) and its books' sequence rule; `registry.register()` registers it
    #: with the core under `core_venue`. None for the built-in venues.
    core_id: int | None = None
    core_seq_rule: str = "monotonic"
    summary: str = ""

    def __post_init__(self) -> None:
        lo, hi = self.client_id_range
        if not 0 < lo <= hi:
            raise ValueError(f"venue {self.name}: client_id_range must be 0 < lo <= hi, got {self.client_id_range}")
        if not self.core_venue:
            object.__setattr__(self, "core_venue", self.name)
