"""Start simulated venues in-process: an engine per venue, one market-data generator across them, and
each venue's protocol server on an ephemeral 127.0.0.1 port.

    async with SimCluster(ClusterConfig(venues=("backpack", "lighter"), seed=7)) as sim:
        sim.urls()            # {"backpack": {"rest": "http://127.0.0.1:..", "ws": "ws://..."}, ...}
        key, secret, acct = sim.add_backpack_account(collateral_usdc=10_000)
        acct = sim.add_lighter_account(public_key, api_key_index=3)

Test and runner hooks: `drop_sockets(venue)`, `stall_sockets(venue, s)`; the configured `FaultPlan`
injects the rest.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from nacl.signing import SigningKey

from xtb import _core
from xtb.sim.backpack.server import BackpackServer
from xtb.sim.backpack.venue import BackpackVenue
from xtb.sim.binance import dialect as fapi_dialects
from xtb.sim.binance.server import BinanceServer
from xtb.sim.binance.venue import BinanceVenue
from xtb.sim.clock import Clock, RealClock
from xtb.sim.engine import Exchange
from xtb.sim.faults import FaultPlan
from xtb.sim.generator import FeedConfig, MarketDataGenerator, UnderlyingConfig
from xtb.sim.grvt import dialect as grvt_dialect
from xtb.sim.grvt.server import GrvtServer
from xtb.sim.lighter import txinfo
from xtb.sim.lighter.server import LighterServer
from xtb.sim.lighter.venue import SPEED_BUMPS, LighterVenue
from xtb.sim.types import MarketSpec, PriceBand, VenueRules
from xtb.sim.wire_faults import WireFaults

VENUES = ("backpack", "lighter")  # started when no venue list is given (`_DIALECTS` at the end of this module)
OPTIONAL_VENUES = ("binance_usdm", "grvt", "aster")  # started only when asked for
KNOWN_VENUES = VENUES + OPTIONAL_VENUES


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


UNDERLYINGS = (
    UnderlyingConfig("BTC", 100_000.0),
    UnderlyingConfig("ETH", 3_500.0),
    UnderlyingConfig("SOL", 150.0),
)
BACKPACK_MARKETS = (
    SimMarket("BTC", 0, "BTC_USDC_PERP", 1, 5, 1_000, 500),
    SimMarket("ETH", 1, "ETH_USDC_PERP", 2, 4, 1_000, 500),
    SimMarket("SOL", 2, "SOL_USDC_PERP", 2, 2, 1_000, 500),
)
LIGHTER_MARKETS = (  # market ids and decimals as on mainnet (ETH 0, BTC 1, SOL 2)
    SimMarket("ETH", 0, "ETH", 2, 4, 1_000, 500),
    SimMarket("BTC", 1, "BTC", 1, 5, 1_000, 500),
    SimMarket("SOL", 2, "SOL", 3, 3, 10_000, 5_000),
)
BINANCE_MARKETS = (  # USDC- and USDT-margined perps; ticks and steps as listed on the venue
    SimMarket("BTC", 0, "BTCUSDC", 1, 3, 1_000, 500),
    SimMarket("ETH", 1, "ETHUSDC", 2, 3, 10_000, 5_000),
    SimMarket("SOL", 2, "SOLUSDC", 2, 2, 10_000, 5_000),
    SimMarket("BTC", 3, "BTCUSDT", 1, 3, 1_000, 500),
)
GRVT_MARKETS = tuple(SimMarket(*m) for m in grvt_dialect.MARKETS)
ASTER_MARKETS = (  # USDT-margined perps; ticks and steps as listed on the venue
    SimMarket("BTC", 0, "BTCUSDT", 1, 3, 1_000, 500),
    SimMarket("ETH", 1, "ETHUSDT", 2, 3, 10_000, 5_000),
    SimMarket("SOL", 2, "SOLUSDT", 2, 2, 10_000, 5_000),
)
LIGHTER_FIRST_ORDER_INDEX = txinfo.ORDER_INDEX_MIN + 1  # exchange order indexes are >= 2^48
LIGHTER_FIRST_USER_ACCOUNT = 100_000


@dataclass
class ClusterConfig:
    venues: tuple[str, ...] = VENUES
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
    backpack_markets: tuple[SimMarket, ...] = BACKPACK_MARKETS
    lighter_markets: tuple[SimMarket, ...] = LIGHTER_MARKETS
    binance_markets: tuple[SimMarket, ...] = BINANCE_MARKETS
    binance_listen_key_ttl_s: float = 3600.0  # the venue's 60 min; tests shorten it
    grvt_markets: tuple[SimMarket, ...] = GRVT_MARKETS
    # each dialect's own options; GRVT: chain_id (326), session_ttl_s (3600), speed_bump_ms (25), see
    # xtb/sim/grvt/dialect.py
    dialect_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    aster_markets: tuple[SimMarket, ...] = ASTER_MARKETS
    aster_chain_id: int = 1666  # the EIP-712 chainId V3 signatures are verified against (714 on testnet)
    extra_feed_options: dict[str, Any] = field(default_factory=dict)  # FeedConfig fields for every feed
    # FeedConfig fields per venue (e.g. {"lighter": {"basis_jumps_per_min": 2, "basis_jump_bps": 25}}),
    # applied over extra_feed_options.
    venue_feed_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.lighter_tier not in SPEED_BUMPS:
            raise ValueError(f"lighter_tier must be one of {sorted(SPEED_BUMPS)}, got {self.lighter_tier!r}")
        unknown = set(self.venues) - set(KNOWN_VENUES)
        if unknown or not self.venues:
            raise ValueError(f"venues must be a non-empty subset of {KNOWN_VENUES}, got {self.venues}")
        stray = (set(self.venue_feed_options) | set(self.dialect_options)) - set(KNOWN_VENUES)
        if stray:
            raise ValueError(f"venue_feed_options / dialect_options: unknown venues {sorted(stray)} "
                             f"(have {KNOWN_VENUES})")


@dataclass
class VenueHandle:
    name: str
    exchange: Exchange
    server: BackpackServer | LighterServer | BinanceServer | GrvtServer

    @property
    def rest_url(self) -> str:
        return self.server.rest_url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url


# Backpack's published price filter: limit prices within 0.75x..1.25x of the last active price.
BACKPACK_BAND = PriceBand(750_000, 1_250_000, "last")


def _binance_spec(m: SimMarket) -> MarketSpec:
    # MIN_NOTIONAL 5 (quote units at the engine's 10 cash decimals); taker 0.04 %, maker 0.02 %
    return MarketSpec(
        market_id=m.market_id,
        symbol=m.symbol,
        price_decimals=m.price_decimals,
        size_decimals=m.size_decimals,
        min_notional=5 * 10**10,
        maker_fee_ppm=200,
        taker_fee_ppm=400,
        initial_margin_ppm=8_000,  # 125x maximum leverage
        band=PriceBand(950_000, 1_050_000, "mark"),
    )


def _spec(m: SimMarket, band: PriceBand | None = None) -> MarketSpec:
    return MarketSpec(
        market_id=m.market_id,
        symbol=m.symbol,
        price_decimals=m.price_decimals,
        size_decimals=m.size_decimals,
        band=band,
    )


class SimCluster:
    def __init__(self, config: ClusterConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or ClusterConfig()
        self.clock = clock or RealClock()
        self.faults = WireFaults(self.config.fault_plan, self.clock, self.config.response_timeout_s)
        self.venues: dict[str, VenueHandle] = {}
        self.generator: MarketDataGenerator | None = None
        self._stop = asyncio.Event()
        self._gen_task: asyncio.Task[None] | None = None
        self._next_lighter_account = self.config.lighter_first_account
        self._lighter_user_accounts: set[int] = set()
        self._backpack_venue: BackpackVenue | None = None
        self._lighter_venue: LighterVenue | None = None
        self._binance_venue: BinanceVenue | None = None
        self._grvt: grvt_dialect.GrvtDialect | None = None
        self._aster_venue: BinanceVenue | None = None
        self._sweep_accounts: dict[str, int] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> dict[str, dict[str, str]]:
        cfg = self.config
        feeds: list[FeedConfig] = []
        for name in (v for v in KNOWN_VENUES if v in cfg.venues):  # a fixed order: seeded feeds stay the same
            handle, markets = _DIALECTS[name](self)
            self.venues[name] = handle
            feeds += self._feeds(handle.exchange, markets, name)
        if cfg.generate and feeds:
            used = {m.underlying for m in cfg.backpack_markets + cfg.lighter_markets + cfg.binance_markets
                    + cfg.grvt_markets + cfg.aster_markets}
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

    # ------------------------------------------------------------------ dialects: one starter each
    def _open_backpack(self) -> tuple[VenueHandle, tuple[SimMarket, ...]]:
        cfg = self.config
        ex = Exchange(VenueRules.backpack(), self.clock)
        for m in cfg.backpack_markets:
            ex.add_market(_spec(m, BACKPACK_BAND))
        self._backpack_venue = BackpackVenue(ex)
        server = BackpackServer(
            self._backpack_venue,
            self.faults,
            ping_interval_s=cfg.ping_interval_s,
            pong_timeout_s=cfg.pong_timeout_s,
            now_ms=lambda: self.clock.now_ns() // 1_000_000,
        )
        return VenueHandle("backpack", ex, server), cfg.backpack_markets

    def _open_binance_usdm(self) -> tuple[VenueHandle, tuple[SimMarket, ...]]:
        cfg = self.config
        ex = Exchange(VenueRules.binance_usdm(), self.clock)
        for m in cfg.binance_markets:
            ex.add_market(_binance_spec(m))
        self._binance_venue = BinanceVenue(ex)
        server = BinanceServer(self._binance_venue, self.faults, listen_key_ttl_s=cfg.binance_listen_key_ttl_s)
        return VenueHandle("binance_usdm", ex, server), cfg.binance_markets

    def _open_grvt(self) -> tuple[VenueHandle, tuple[SimMarket, ...]]:
        cfg = self.config
        self._grvt = grvt_dialect.open_venue(
            self.clock, self.faults,
            tuple((m.market_id, m.symbol, m.price_decimals, m.size_decimals) for m in cfg.grvt_markets),
            cfg.dialect_options.get("grvt", {}),
        )  # fmt: skip
        return VenueHandle("grvt", self._grvt.exchange, self._grvt.server), cfg.grvt_markets
    def _open_aster(self) -> tuple[VenueHandle, tuple[SimMarket, ...]]:
        """Aster: Binance's engine rules and `/fapi` front-end with Aster's dialect (V3 + V1, legacy WS)."""
        cfg = self.config
        ex = Exchange(dataclasses.replace(VenueRules.binance_usdm(), name="aster"), self.clock)
        for m in cfg.aster_markets:
            ex.add_market(_binance_spec(m))
        self._aster_venue = BinanceVenue(ex)
        server = BinanceServer(self._aster_venue, self.faults, listen_key_ttl_s=cfg.binance_listen_key_ttl_s,
                               dialect=fapi_dialects.aster(cfg.aster_chain_id))  # fmt: skip
        return VenueHandle("aster", ex, server), cfg.aster_markets

    def _open_lighter(self) -> tuple[VenueHandle, tuple[SimMarket, ...]]:
        cfg = self.config
        rules = dataclasses.replace(VenueRules.lighter(), first_order_id=LIGHTER_FIRST_ORDER_INDEX)
        ex = Exchange(rules, self.clock)
        for m in cfg.lighter_markets:
            ex.add_market(_spec(m))
        self._lighter_venue = LighterVenue(
            ex, now_ms=lambda: self.clock.now_ns() // 1_000_000, speed_bump=SPEED_BUMPS[cfg.lighter_tier]
        )
        server = LighterServer(
            self._lighter_venue,
            self.faults,
            ping_interval_s=cfg.ping_interval_s,
            pong_timeout_s=cfg.pong_timeout_s,
            book_interval_s=cfg.book_interval_s,
            cancel_on_disconnect=cfg.lighter_cancel_on_disconnect,
            rate_limit_per_minute=cfg.lighter_rate_limit_per_minute,
        )
        return VenueHandle("lighter", ex, server), cfg.lighter_markets

    def protocol(self, venue: str) -> Any:
        """The dialect's venue object behind one simulated venue (BackpackVenue, LighterVenue, BinanceVenue;
        for GRVT its GrvtDialect: venue state, auth and server)."""
        self.exchange(venue)
        return {"backpack": self._backpack_venue, "lighter": self._lighter_venue, "binance_usdm": self._binance_venue,
                "grvt": self._grvt}[venue]  # fmt: skip

    def exchange(self, venue: str) -> Exchange:
        """The matching engine behind one simulated venue (the same handle shape for every dialect)."""
        try:
            return self.venues[venue].exchange
        except KeyError:
            raise KeyError(f"venue {venue!r} is not simulated here (have: {', '.join(self.venues)})") from None

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

    def urls(self) -> dict[str, dict[str, str]]:
        """Each venue's REST and WS URL, plus what its server adds (`extra_urls`: GRVT's three hosts, both
        sockets and the chain id)."""
        return {name: {"rest": h.rest_url, "ws": h.ws_url, **getattr(h.server, "extra_urls", {})}
                for name, h in self.venues.items()}  # fmt: skip

    # ------------------------------------------------------------------ accounts

    @property
    def backpack(self) -> BackpackVenue:
        if self._backpack_venue is None:
            raise RuntimeError("backpack is not among the configured venues")
        return self._backpack_venue

    @property
    def lighter(self) -> LighterVenue:
        if self._lighter_venue is None:
            raise RuntimeError("lighter is not among the configured venues")
        return self._lighter_venue

    @property
    def binance(self) -> BinanceVenue:
        if self._binance_venue is None:
            raise RuntimeError("binance_usdm is not among the configured venues")
        return self._binance_venue

    def add_grvt_account(
        self,
        collateral: int = 100_000,
        signer: str | None = None,
        api_key: str | None = None,
        sub_account_id: int | None = None,
    ) -> grvt_dialect.GrvtAccount:
        """Open a GRVT sub-account holding `collateral` USDT with an API key whose orders must be signed by
        `signer` (a 0x address; the venue never sees the private key). Without `signer` the simulator makes
        a signing key and returns it (paper mode). Returns (api_key, account_id for X-Grvt-Account-Id,
        sub_account_id, signer, private_key or None)."""
        if self._grvt is None:
            raise RuntimeError("grvt is not among the configured venues")
        return grvt_dialect.open_account(self._grvt, collateral, signer, api_key, sub_account_id)

    def add_binance_account(
        self, collateral: int = 100_000, api_key: str | None = None, secret: str | None = None
    ) -> tuple[str, str, int]:
        """Open an account holding `collateral` (quote units) and register an HMAC API key pair for it
        (a fresh pair unless given: HMAC keys are shared secrets, the venue holds both halves).
        Returns (api key, secret, account id)."""
        return self._add_hmac_account(self.binance, collateral, api_key, secret)

    @staticmethod
    def _add_hmac_account(
        venue: BinanceVenue, collateral: int, api_key: str | None, secret: str | None
    ) -> tuple[str, str, int]:
        if (api_key is None) != (secret is None):
            raise ValueError("give both api_key and secret, or neither")
        if api_key is None or secret is None:
            api_key, secret = secrets.token_hex(32), secrets.token_hex(32)
        ex = venue.engine
        account = ex.create_account(collateral * 10**ex.rules.cash_decimals)
        venue.register_api_key(api_key, secret, account)
        return api_key, secret, account

    @property
    def aster(self) -> BinanceVenue:
        if self._aster_venue is None:
            raise RuntimeError("aster is not among the configured venues")
        return self._aster_venue

    def add_aster_account(
        self, collateral: int = 100_000, agent_private_key: str | None = None, user: str | None = None
    ) -> tuple[str, str, int]:
        """Open an Aster account holding `collateral` (quote units) for a main wallet `user` and approve an
        API wallet (agent) for it (a fresh key and wallet address unless given). Returns (user, agent
        private key hex, account id): what a V3 connector signs with."""
        venue = self.aster
        if agent_private_key is None:
            while True:
                agent_private_key = secrets.token_hex(32)
                try:
                    agent = _core.eth_address_of(agent_private_key)
                    break
                except ValueError:  # zero or above the curve order: about 2^-128 likely
                    continue
        else:
            agent = _core.eth_address_of(agent_private_key)
        if user is None:
            user = _core.eth_address_of(secrets.token_hex(32))  # an address nobody here holds the key of
        ex = venue.engine
        account = ex.create_account(collateral * 10**ex.rules.cash_decimals)
        venue.register_agent(agent, user, account)
        return user, agent_private_key, account

    def approve_aster_agent(self, agent_address: str, user: str, collateral: int = 100_000) -> tuple[str, int]:
        """Open an account for main wallet `user` and approve the API wallet `agent_address` (its key stays
        with the caller: the standalone simulator's command line). Returns (user, account id); ValueError
        for an address that is not 0x + 40 hex."""
        for what, addr in (("agent", agent_address), ("user", user)):
            if len(addr) != 42 or not addr.startswith("0x") or any(c not in "0123456789abcdefABCDEF" for c in addr[2:]):
                raise ValueError(f"{what} address must be 0x + 40 hex characters")
        venue = self.aster
        ex = venue.engine
        account = ex.create_account(collateral * 10**ex.rules.cash_decimals)
        venue.register_agent(agent_address, user, account)
        return user, account

    def add_aster_hmac_account(
        self, collateral: int = 100_000, api_key: str | None = None, secret: str | None = None
    ) -> tuple[str, str, int]:
        """An Aster account with a legacy V1 HMAC key pair (as `add_binance_account`)."""
        return self._add_hmac_account(self.aster, collateral, api_key, secret)

    def add_backpack_account(
        self, collateral_usdc: int = 100_000, api_key_b64: str | None = None
    ) -> tuple[str, str | None, int]:
        """Open an account and register an ED25519 API key for it. Without `api_key_b64` a fresh key
        pair is made. Returns (api key b64, secret seed b64 or None, account id)."""
        venue = self.backpack
        secret = None
        if api_key_b64 is None:
            signing = SigningKey.generate()
            secret = base64.b64encode(bytes(signing)).decode()
            api_key_b64 = base64.b64encode(bytes(signing.verify_key)).decode()
        elif len(base64.b64decode(api_key_b64)) != 32:
            raise ValueError("api_key_b64 must be a base64 32-byte ED25519 public key")
        ex = venue.engine
        account = ex.create_account(collateral_usdc * 10**ex.rules.cash_decimals)
        venue.register_api_key(api_key_b64, account)
        return api_key_b64, secret, account

    def add_lighter_account(
        self,
        public_key: str,
        api_key_index: int = 3,
        collateral_usdc: int = 100_000,
        account_index: int | None = None,
    ) -> int:
        """Open a Lighter account (index allocated from 100000 unless given) holding `collateral_usdc`
        and register the API public key (0x + 80 hex, e.g. from lighter-sdk `create_api_key()`)."""
        venue = self.lighter
        ex = venue.engine
        if account_index is None:
            while self._next_lighter_account in ex.accounts():
                self._next_lighter_account += 1
            account_index = self._next_lighter_account
            self._next_lighter_account += 1
        if account_index not in ex.accounts():
            ex.create_account(collateral_usdc * 10**ex.rules.cash_decimals, account=account_index)
            self._lighter_user_accounts.add(account_index)
        elif account_index not in self._lighter_user_accounts:
            raise ValueError(f"account {account_index} belongs to the market-data generator")
        venue.register_api_key(account_index, api_key_index, public_key)
        return account_index

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


#: simulator dialects by venue name (a VenueSpec's `sim_dialect`): each opens its engine and protocol server
_DIALECTS: dict[str, Callable[[SimCluster], tuple[VenueHandle, tuple[SimMarket, ...]]]] = {
    "backpack": SimCluster._open_backpack,
    "lighter": SimCluster._open_lighter,
    "binance_usdm": SimCluster._open_binance_usdm,
    "grvt": SimCluster._open_grvt,
    "aster": SimCluster._open_aster,
}
