"""Backpack as a simulator dialect (xtb/sim/dialects.py): its markets, price band, rules and accounts."""

from __future__ import annotations

import base64

from nacl.signing import SigningKey

from xtb.sim.backpack.server import BackpackServer
from xtb.sim.backpack.venue import BackpackVenue
from xtb.sim.dialects import DialectSetup, SimDialect, SimMarket, VenueHandle
from xtb.sim.engine import Exchange
from xtb.sim.types import MarketSpec, PriceBand, VenueRules

NAME = "backpack"
MARKETS = (
    SimMarket("BTC", 0, "BTC_USDC_PERP", 1, 5, 1_000, 500),
    SimMarket("ETH", 1, "ETH_USDC_PERP", 2, 4, 1_000, 500),
    SimMarket("SOL", 2, "SOL_USDC_PERP", 2, 2, 1_000, 500),
)
# Backpack's published price filter: limit prices within 0.75x..1.25x of the last active price.
BAND = PriceBand(750_000, 1_250_000, "last")
# UNCONFIRMED details: post-only cross and reduce-only refusals end as Expired orders
# (`PostOnlyTaker`, `ReduceOnlyNotReduced`); ids look like large decimal integers.
RULES = VenueRules(name=NAME, first_order_id=4_228_978_330)


def open_venue(setup: DialectSetup) -> VenueHandle:
    ex = Exchange(RULES, setup.clock)
    for m in setup.markets:
        ex.add_market(MarketSpec(market_id=m.market_id, symbol=m.symbol, price_decimals=m.price_decimals,
                                 size_decimals=m.size_decimals, band=BAND))
    venue = BackpackVenue(ex)
    server = BackpackServer(venue, setup.faults, ping_interval_s=setup.ping_interval_s,
                            pong_timeout_s=setup.pong_timeout_s, now_ms=setup.now_ms)
    return VenueHandle(NAME, ex, server, venue, setup.markets)


def open_account(
    handle: VenueHandle, collateral_usdc: int = 100_000, api_key_b64: str | None = None
) -> tuple[str, str | None, int]:
    """Open an account and register an ED25519 API key for it. Without `api_key_b64` a fresh key
    pair is made. Returns (api key b64, secret seed b64 or None, account id)."""
    secret = None
    if api_key_b64 is None:
        signing = SigningKey.generate()
        secret = base64.b64encode(bytes(signing)).decode()
        api_key_b64 = base64.b64encode(bytes(signing.verify_key)).decode()
    elif len(base64.b64decode(api_key_b64)) != 32:
        raise ValueError("api_key_b64 must be a base64 32-byte ED25519 public key")
    ex = handle.exchange
    account = ex.create_account(collateral_usdc * 10**ex.rules.cash_decimals)
    handle.protocol.register_api_key(api_key_b64, account)
    return api_key_b64, secret, account


DIALECT = SimDialect(NAME, MARKETS, open_venue, open_account, default=True)
