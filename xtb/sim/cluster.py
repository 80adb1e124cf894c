"""Start simulated venues in-process: an engine per venue, one market-data generator across them, and
each venue's protocol server on an ephemeral 127.0.0.1 port.

    async with SimCluster(ClusterConfig(venues=("backpack", "lighter"), seed=7)) as sim:
        sim.urls()            # {"backpack": {"rest": "http://127.0.0.1:..", "ws": "ws://..."}, ...}
        key, secret, acct = sim.open_account("backpack", collateral_usdc=10_000)
        acct = sim.open_account("lighter", public_key, api_key_index=3)
        sim.exchange("lighter")     # the matching engine behind a venue; sim.protocol(name) its dialect object

Venues are simulator dialects (xtb/sim/dialects.py), each in its own package; this module names none.

Test and runner hooks: `drop_sockets(venue)`, `stall_sockets(venue, s)`; the configured `FaultPlan`
injects the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from xtb.sim.clock import Clock, RealClock
from xtb.sim.dialects import (
    DialectSetup,
    SimMarket,
    VenueHandle,
    default_dialects,
    dialect,
    known_dialects,
)
from xtb.sim.engine import Exchange
from xtb.sim.faults import FaultPlan
from xtb.sim.generator import FeedConfig, MarketDataGenerator, UnderlyingConfig
from xtb.sim.wire_faults import WireFaults

__all__ = ["ClusterConfig", "SimCluster", "SimMarket", "VenueHandle"]

UNDERLYINGS = (
    UnderlyingConfig("BTC", 100_000.0),
    UnderlyingConfig("ETH", 3_500.0),
    UnderlyingConfig("SOL", 150.0),
)
LIGHTER_FIRST_USER_ACCOUNT = 100_000


@dataclass
class ClusterConfig:
    venues: tuple[str, ...] = field(default_factory=default_dialects)  # simulator dialect names
    seed: int = 0
    fault_plan: FaultPlan | None = None
    generate: bool = True  # run the market-data generator (books, trades, marks)
    updates_per_s: float = 50.0  # per market
    ping_interval_s: float = 60.0
    pong_timeout_s: float = 120.0
    book_interval_s: float = 0.05  # Lighter order_book delta batching
    response_timeout_s: float = 30.0  # how long an accept-then-timeout fault holds a response
    # Lighter has no documented cancel-on-disconnect: off unless asked (Backpack follows the fault plan).
    lighter_cancel_on_disconnect: bool = False
    # Lighter account-tier speed bump applied before matching: "none", "standard" (taker 300 ms, maker and
    # cancel 200 ms) or "premium" (taker 200 ms, maker 0).
    lighter_tier: str = "none"
    # Weighted REST budget per minute and client (e.g. 24_000 for Premium); None = unlimited.
    lighter_rate_limit_per_minute: int | None = None
    # First Lighter account index handed out to users (several clusters in one process: distinct ranges, as
    # the native signer holds one key per account and key index per process).
    lighter_first_account: int = LIGHTER_FIRST_USER_ACCOUNT
    underlyings: tuple[UnderlyingConfig, ...] = UNDERLYINGS
    # markets listed per dialect (a dialect not named here lists its default `SimDialect.markets`)
    markets: dict[str, tuple[SimMarket, ...]] = field(default_factory=dict)
    # each dialect's own options (e.g. {"binance_usdm": {"listen_key_ttl_s": 5}})
    dialect_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # older names of `markets[...]` for the first three dialects (still honoured)
    backpack_markets: tuple[SimMarket, ...] | None = None
    lighter_markets: tuple[SimMarket, ...] | None = None
    binance_markets: tuple[SimMarket, ...] | None = None
    grvt_markets: tuple[SimMarket, ...] | None = None
    binance_listen_key_ttl_s: float = 3600.0  # the venue's 60 min; tests shorten it
    extra_feed_options: dict[str, Any] = field(default_factory=dict)  # FeedConfig fields for every feed
    # FeedConfig fields per venue (e.g. {"lighter": {"basis_jumps_per_min": 2, "basis_jump_bps": 25}}),
    # applied over extra_feed_options.
    venue_feed_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        known = known_dialects()
        unknown = set(self.venues) - set(known)
        if unknown or not self.venues:
            raise ValueError(f"venues must be a non-empty subset of {known}, got {self.venues}")
        for field_name, name in (("backpack_markets", "backpack"), ("lighter_markets", "lighter"),
                                 ("binance_markets", "binance_usdm"), ("grvt_markets", "grvt")):  # fmt: skip
            value = getattr(self, field_name)
            if value is not None:
                self.markets.setdefault(name, value)
        # the older Lighter / Binance fields are those dialects' options
        legacy: dict[str, dict[str, Any]] = {
            "lighter": {"tier": self.lighter_tier, "cancel_on_disconnect": self.lighter_cancel_on_disconnect,
                        "rate_limit_per_minute": self.lighter_rate_limit_per_minute,
                        "first_account": self.lighter_first_account},
            "binance_usdm": {"listen_key_ttl_s": self.binance_listen_key_ttl_s},
        }
        for name, values in legacy.items():
            if name in known:
                self.dialect_options[name] = {**values, **self.dialect_options.get(name, {})}
        for what, per_venue in (("venue_feed_options", self.venue_feed_options), ("markets", self.markets),
                                ("dialect_options", self.dialect_options)):  # fmt: skip
            stray = set(per_venue) - set(known)
            if stray:
                raise ValueError(f"{what}: unknown venues {sorted(stray)} (have {known})")

    def markets_of(self, venue: str) -> tuple[SimMarket, ...]:
        """The markets a dialect lists in this cluster."""
        listed = self.markets.get(venue)
        return listed if listed is not None else dialect(venue).markets


class SimCluster:
    def __init__(self, config: ClusterConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or ClusterConfig()
        self.clock = clock or RealClock()
        self.faults = WireFaults(self.config.fault_plan, self.clock, self.config.response_timeout_s)
        self.venues: dict[str, VenueHandle] = {}
        self.generator: MarketDataGenerator | None = None
        self._stop = asyncio.Event()
        self._gen_task: asyncio.Task[None] | None = None
        self._sweep_accounts: dict[str, int] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> dict[str, dict[str, Any]]:
        cfg = self.config
        feeds: list[FeedConfig] = []
        for name in (v for v in known_dialects() if v in cfg.venues):  # a fixed order: seeded feeds stay the same
            setup = DialectSetup(name, self.clock, self.faults, cfg.markets_of(name), cfg.dialect_options.get(name, {}),
                                 cfg.ping_interval_s, cfg.pong_timeout_s, cfg.book_interval_s)
            handle = dialect(name).open(setup)
            self.venues[name] = handle
            feeds += self._feeds(handle.exchange, handle.markets, name)
        if cfg.generate and feeds:
            used = {m.underlying for h in self.venues.values() for m in h.markets}
            self.generator = MarketDataGenerator(
                [u for u in cfg.underlyings if u.name in used], feeds, cfg.seed, self.clock
            )
        try:
            for handle in self.venues.values():
                await handle.server.start()
        except BaseException:
            await self.stop()
            raise
        if self.generator is not None:
            self._gen_task = asyncio.get_running_loop().create_task(self.generator.run(stop=self._stop))
        return self.urls()

    def exchange(self, venue: str) -> Exchange:
        """The matching engine behind one simulated venue (the same handle shape for every dialect)."""
        return self.venue(venue).exchange

    def venue(self, venue: str) -> VenueHandle:
        """The handle of one running simulated venue (engine, protocol object, server)."""
        try:
            return self.venues[venue]
        except KeyError:
            raise KeyError(f"venue {venue!r} is not simulated here (have: {', '.join(self.venues)})") from None

    def protocol(self, venue: str) -> Any:
        """The dialect's venue object behind one simulated venue (BackpackVenue, LighterVenue, ...)."""
        return self.venue(venue).protocol

    def _feeds(self, ex: Exchange, markets: tuple[SimMarket, ...], venue: str) -> list[FeedConfig]:
        options = {**self.config.extra_feed_options, **self.config.venue_feed_options.get(venue, {})}
        return [
            FeedConfig(
                exchange=ex,
                market=m.market_id,
                underlying=m.underlying,
                updates_per_s=self.config.updates_per_s,
                level_size=m.level_size,
                taker_size=m.taker_size,
                **options,
            )
            for m in markets
        ]

    async def stop_generator(self) -> None:
        """Freeze the market: no more generated book updates or trades (servers keep running)."""
        self._stop.set()
        if self._gen_task is not None:
            self._gen_task.cancel()
            with contextlib.suppress(BaseException):
                await self._gen_task
            self._gen_task = None

    async def stop(self) -> None:
        await self.stop_generator()
        for handle in self.venues.values():
            await handle.server.stop()

    async def __aenter__(self) -> SimCluster:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def urls(self) -> dict[str, dict[str, Any]]:
        """Each venue's REST and WS URL, plus what its server adds (`extra_urls`: GRVT's hosts, both sockets
        and the chain id)."""
        return {name: {"rest": h.rest_url, "ws": h.ws_url, **h.server.extra_urls} for name, h in self.venues.items()}

    # ------------------------------------------------------------------ accounts

    def open_account(self, venue: str, *args: Any, **credentials: Any) -> Any:
        """Open a funded account on one simulated venue, with the dialect's own arguments (collateral,
        credentials) and result (e.g. Backpack (api key, secret, account), Lighter the account index)."""
        handle = self.venue(venue)
        return dialect(venue).open_account(handle, *args, **credentials)

    # the first dialects' account helpers, kept under their older names
    def add_backpack_account(self, *args: Any, **kwargs: Any) -> Any:
        return self.open_account("backpack", *args, **kwargs)

    def add_lighter_account(self, *args: Any, **kwargs: Any) -> Any:
        return self.open_account("lighter", *args, **kwargs)

    def add_binance_account(self, *args: Any, **kwargs: Any) -> Any:
        return self.open_account("binance_usdm", *args, **kwargs)

    def add_grvt_account(self, *args: Any, **kwargs: Any) -> Any:
        return self.open_account("grvt", *args, **kwargs)

    # ------------------------------------------------------------------ on-demand flow

    def sweep(self, venue: str, symbol: str, side: str, quantity: int, limit_price: int) -> int:
        """Send one aggressive IOC limit order from a dedicated taker account (created on first use):
        `side` "buy" lifts asks up to `limit_price`, "sell" hits bids down to it, for at most `quantity`
        (market units). Fills resting orders (the user's too) and prints public trades. Returns the
        quantity filled."""
        from xtb.sim.types import AccountConfig, OrderRequest, Side, TimeInForce

        ex = self.venues[venue].exchange
        spec = ex.market_by_symbol(symbol)
        account = self._sweep_accounts.get(venue)
        if account is None:
            account = ex.create_account(10**30, config=AccountConfig(
                check_margin=False, check_order_limits=False, cancel_on_disconnect=False))
            self._sweep_accounts[venue] = account
        order_side = {"buy": Side.BUY, "sell": Side.SELL}[side]
        view = ex.place_order(OrderRequest(account, spec.market_id, order_side, quantity, limit_price,
                                           time_in_force=TimeInForce.IOC))
        return int(view.filled)

    def set_basis(self, venue: str, symbol: str, bps: float) -> None:
        """Move one market's mid to fair value x (1 + bps/10^4) now (the basis then decays back as
        configured); a ramp of calls makes a trend."""
        if self.generator is None:
            raise RuntimeError("the market-data generator is not running")
        ex = self.venues[venue].exchange
        market = ex.market_by_symbol(symbol).market_id
        for feed in self.generator._feeds:
            if feed.cfg.exchange is ex and feed.cfg.market == market:
                feed.basis_bps = bps
                return
        raise KeyError(f"no generator feed for {venue} {symbol}")

    # ------------------------------------------------------------------ on-demand faults

    def drop_sockets(self, venue: str) -> int:
        return self.venues[venue].server.drop_sockets()

    def stall_sockets(self, venue: str, seconds: float) -> None:
        self.venues[venue].server.stall_sockets(seconds)
