"""Aster as a simulator dialect (xtb/sim/dialects.py): Binance USD-M's engine rules, venue state and `/fapi`
front-end, served with Aster's API generations (`xtb.sim.binance.fapi.aster`: V3 with EIP-712 agent
signatures next to V1 with HMAC, one legacy WebSocket host), its markets and its two kinds of account."""

from __future__ import annotations

import dataclasses
import secrets
from typing import NamedTuple

from xtb.core import eth_address_of
from xtb.sim.binance import dialect as binance
from xtb.sim.binance import fapi
from xtb.sim.binance.server import BinanceServer
from xtb.sim.binance.venue import BinanceVenue
from xtb.sim.dialects import DialectSetup, SimDialect, SimMarket, VenueHandle
from xtb.sim.engine import Exchange

NAME = "aster"
MARKETS = (  # USDT-margined perps; ticks and steps as listed on the venue
    SimMarket("BTC", 0, "BTCUSDT", 1, 3, 1_000, 500),
    SimMarket("ETH", 1, "ETHUSDT", 2, 3, 10_000, 5_000),
    SimMarket("SOL", 2, "SOLUSDT", 2, 2, 10_000, 5_000),
)
RULES = dataclasses.replace(binance.RULES, name=NAME)  # Aster answers as Binance does (-5022, -2022, ...)
#: dialect options (ClusterConfig.dialect_options["aster"]) and their defaults
OPTIONS = {
    "chain_id": 1666,  # the EIP-712 chainId V3 signatures are verified against (714 on testnet)
    "listen_key_ttl_s": binance.LISTEN_KEY_TTL_S,
    "require_user": False,  # refuse V3 requests without `user` (UNCONFIRMED on the venue)
}


def open_venue(setup: DialectSetup) -> VenueHandle:
    unknown = set(setup.options) - set(OPTIONS)
    if unknown:
        raise ValueError(f"aster dialect options: unknown {sorted(unknown)} (have {sorted(OPTIONS)})")
    opts = {**OPTIONS, **setup.options}
    ex = Exchange(RULES, setup.clock)
    for m in setup.markets:
        ex.add_market(binance.market_spec(m))
    venue = BinanceVenue(ex)
    api = fapi.aster(int(opts["chain_id"]), require_user=bool(opts["require_user"]))
    server = BinanceServer(venue, setup.faults, listen_key_ttl_s=float(opts["listen_key_ttl_s"]), dialect=api)
    return VenueHandle(NAME, ex, server, venue, setup.markets)


class AsterAccount(NamedTuple):
    """What opening an account gives: V3 (user, agent private key hex or None when the caller holds it,
    account id); V1 (api key, secret, account id)."""

    key: str
    secret: str | None
    account: int


def _check_address(what: str, addr: str) -> None:
    if len(addr) != 42 or not addr.startswith("0x") or any(c not in "0123456789abcdefABCDEF" for c in addr[2:]):
        raise ValueError(f"{what} address must be 0x + 40 hex characters")


def open_account(
    handle: VenueHandle,
    collateral: int = 100_000,
    *,
    auth: str = "v3",
    agent_private_key: str | None = None,
    agent_address: str | None = None,
    user: str | None = None,
    api_key: str | None = None,
    secret: str | None = None,
) -> AsterAccount:
    """Open an account holding `collateral` (quote units).

    auth "v3": for main wallet `user` (a fresh address nobody here holds the key of unless given), approve
    an API wallet (agent): `agent_private_key` (fresh unless given) or only `agent_address` (its key stays
    with the caller, as on the standalone simulator's command line). Returns (user, agent private key or
    None, account). auth "v1": register an HMAC pair (fresh unless given, as Binance's); returns (api key,
    secret, account)."""
    venue: BinanceVenue = handle.protocol
    ex = handle.exchange
    if auth == "v1":
        api_key, secret, account = binance.open_account(handle, collateral, api_key, secret)
        return AsterAccount(api_key, secret, account)
    if auth != "v3":
        raise ValueError(f"auth must be 'v3' or 'v1', got {auth!r}")
    if agent_private_key is not None and agent_address is not None:
        raise ValueError("give agent_private_key or agent_address, not both")
    if agent_address is not None:
        _check_address("agent", agent_address)
        agent = agent_address
    elif agent_private_key is not None:
        agent = eth_address_of(agent_private_key)
    else:
        while True:
            agent_private_key = secrets.token_hex(32)
            try:
                agent = eth_address_of(agent_private_key)
                break
            except ValueError:  # zero or above the curve order: about 2^-128 likely
                continue
    if user is None:
        user = eth_address_of(secrets.token_hex(32))
    else:
        _check_address("user", user)
    account = ex.create_account(collateral * 10**ex.rules.cash_decimals)
    venue.register_agent(agent, user, account)
    return AsterAccount(user, agent_private_key, account)


DIALECT = SimDialect(NAME, MARKETS, open_venue, open_account)
