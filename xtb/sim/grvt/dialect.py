"""GRVT as a simulator dialect: its markets, engine rules and fees, how the venue is opened (engine, venue,
auth, server) and how a funded sub-account with an API key is opened on it. `DIALECT` registers it
(xtb/sim/dialects.py)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from xtb.core import GrvtSigner
from xtb.sim.clock import Clock
from xtb.sim.dialects import DialectSetup, SimDialect, SimMarket, VenueHandle
from xtb.sim.engine import Exchange
from xtb.sim.grvt.auth import ApiKey, Auth
from xtb.sim.grvt.server import GrvtServer
from xtb.sim.grvt.venue import GrvtVenue
from xtb.sim.types import AccountConfig, MarketSpec, VenueRules
from xtb.sim.wire_faults import WireFaults

NAME = "grvt"
#: (underlying, market id, symbol, price decimals, size decimals, generator level size, taker size)
MARKETS = (  # USDT-margined perps; GRVT signs sizes with 9 decimals whatever the step
    ("BTC", 0, "BTC_USDT_Perp", 1, 3, 1_000, 500),
    ("ETH", 1, "ETH_USDT_Perp", 2, 2, 1_000, 500),
    ("SOL", 2, "SOL_USDT_Perp", 2, 1, 1_000, 500),
)
# instrument_hash (the EIP-712 assetID): BTC and ETH as on the venue; SOL is the simulator's pick
INSTRUMENT_HASHES = {"BTC_USDT_Perp": "0x030501", "ETH_USDT_Perp": "0x030401", "SOL_USDT_Perp": "0x030601"}
FIRST_SUB_ACCOUNT = 2_000_000_000_000_000  # sub-account ids are uint64s, 16 digits on the venue
# UNCONFIRMED venue behaviour chosen here: a post-only order that would cross and a reduce-only order that
# cannot reduce are accepted and end REJECTED (FAIL_POST_ONLY / FAIL_REDUCE_ONLY) on the order stream, not
# refused by the create call (the engine's EXPIRE refusal style). Order ids are 0x + 32 hex digits.
RULES = VenueRules(name=NAME, default_leverage=10, first_order_id=0x0101_0105_0000_0001)
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def market_spec(market_id: int, symbol: str, price_decimals: int, size_decimals: int) -> MarketSpec:
    # min notional 20 USDT (the venue's instrument example); fees taker 0.045 %, maker -0.01 % (a rebate)
    # and 50x leverage are the simulator's figures (UNCONFIRMED per tier); funding every 8 hours
    return MarketSpec(
        market_id=market_id,
        symbol=symbol,
        price_decimals=price_decimals,
        size_decimals=size_decimals,
        min_notional=20 * 10**10,
        maker_fee_ppm=-100,
        taker_fee_ppm=450,
        initial_margin_ppm=20_000,
        funding_interval_ns=8 * 3600 * 10**9,
    )


def instrument_hash(symbol: str, market_id: int) -> str:
    return INSTRUMENT_HASHES.get(symbol, f"0x{0x030001 + ((0x10 + market_id) << 8):06x}")


@dataclass
class GrvtDialect:
    """One running GRVT venue: engine, venue state, sessions/keys and the server."""

    exchange: Exchange
    venue: GrvtVenue
    auth: Auth
    server: GrvtServer
    chain_id: int


#: dialect options (ClusterConfig.dialect_options["grvt"]) and their defaults
OPTIONS = {
    "chain_id": 326,  # EIP-712 chain id orders must be signed for: testnet's, so no key ever signs for mainnet
    "session_ttl_s": 3600.0,  # session cookie lifetime (the venue's is UNCONFIRMED)
    "speed_bump_ms": 25.0,  # delay before non-post-only orders reach the book (documented: 25 ms)
}


def open_venue(
    clock: Clock,
    faults: WireFaults,
    markets: tuple[tuple[int, str, int, int], ...],
    options: Mapping[str, Any],
) -> GrvtDialect:
    """`markets`: (market id, symbol, price decimals, size decimals) each; `options` as in OPTIONS."""
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise ValueError(f"grvt dialect options: unknown {sorted(unknown)} (have {sorted(OPTIONS)})")
    opts = {**OPTIONS, **options}
    chain_id = int(opts["chain_id"])
    ex = Exchange(RULES, clock)
    for market_id, symbol, pd, sd in markets:
        ex.add_market(market_spec(market_id, symbol, pd, sd))
    venue = GrvtVenue(ex, {symbol: (instrument_hash(symbol, mid), 1) for mid, symbol, _, _ in markets})
    auth = Auth(chain_id=chain_id, session_ttl_ns=int(float(opts["session_ttl_s"]) * 1e9))
    server = GrvtServer(venue, auth, faults, speed_bump_ms=float(opts["speed_bump_ms"]), chain_id=chain_id)
    return GrvtDialect(ex, venue, auth, server, chain_id)


class GrvtAccount(NamedTuple):
    """A funded sub-account and the API key that trades it. `private_key` (hex) is set only when the
    simulator made the signing key (paper mode); with a signer address given the venue never sees a key."""

    api_key: str
    account_id: str  # the funding account: X-Grvt-Account-Id
    sub_account_id: int
    signer: str
    private_key: str | None


def open_account(
    d: GrvtDialect,
    collateral: int = 100_000,
    signer: str | None = None,
    api_key: str | None = None,
    sub_account_id: int | None = None,
) -> GrvtAccount:
    """Open a sub-account holding `collateral` USDT and register an API key whose orders must be signed by
    `signer` (a 0x address). Without `signer` a fresh secp256k1 key is made and returned. The API key (a
    session credential) is fresh unless given."""
    private_key = None
    if signer is None:
        while True:
            private_key = secrets.token_hex(32)
            if 0 < int(private_key, 16) < _SECP256K1_N:
                break
        signer = GrvtSigner(private_key, d.chain_id).address
    if not (isinstance(signer, str) and signer.startswith("0x") and len(signer) == 42):
        raise ValueError(f"signer must be a 0x + 40 hex address, got {signer!r}")
    try:
        int(signer, 16)
    except ValueError:
        raise ValueError(f"signer must be a 0x + 40 hex address, got {signer!r}") from None
    if api_key is None:
        api_key = secrets.token_hex(16)
    elif api_key in d.auth.keys:
        raise ValueError("this GRVT api key is already registered")
    if sub_account_id is None:
        sub_account_id = FIRST_SUB_ACCOUNT + len(d.auth.keys) + 1
    ex = d.exchange
    # GRVT keeps orders when sockets drop (its dead-man switch is `cancel_on_disconnect`, served separately)
    account = ex.create_account(collateral * 10**ex.rules.cash_decimals,
                                config=AccountConfig(cancel_on_disconnect=False))  # fmt: skip
    d.venue.add_sub_account(sub_account_id, account)
    account_id = "0x" + secrets.token_hex(20)
    d.auth.register(ApiKey(api_key, account_id, signer, frozenset({sub_account_id})))
    return GrvtAccount(api_key, account_id, sub_account_id, signer, private_key)


def _open(setup: DialectSetup) -> VenueHandle:
    markets = tuple((m.market_id, m.symbol, m.price_decimals, m.size_decimals) for m in setup.markets)
    d = open_venue(setup.clock, setup.faults, markets, setup.options)
    return VenueHandle(NAME, d.exchange, d.server, d, setup.markets)


def _open_account(handle: VenueHandle, collateral: int = 100_000, signer: str | None = None,
                  api_key: str | None = None, sub_account_id: int | None = None) -> GrvtAccount:
    return open_account(handle.protocol, collateral, signer, api_key, sub_account_id)


DIALECT = SimDialect(NAME, tuple(SimMarket(*m) for m in MARKETS), _open, _open_account)
