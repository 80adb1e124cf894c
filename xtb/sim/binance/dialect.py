"""Binance USD-M as a simulator dialect (xtb/sim/dialects.py): its markets, filters, rules and accounts."""

from __future__ import annotations

import secrets

from xtb.sim.binance.server import BinanceServer
from xtb.sim.binance.venue import BinanceVenue
from xtb.sim.dialects import DialectSetup, SimDialect, SimMarket, VenueHandle
from xtb.sim.engine import Exchange
from xtb.sim.types import MarketSpec, PriceBand, RefusalStyle, VenueRules

NAME = "binance_usdm"
MARKETS = (  # USDC- and USDT-margined perps; ticks and steps as listed on the venue
    SimMarket("BTC", 0, "BTCUSDC", 1, 3, 1_000, 500),
    SimMarket("ETH", 1, "ETHUSDC", 2, 3, 10_000, 5_000),
    SimMarket("SOL", 2, "SOLUSDC", 2, 2, 10_000, 5_000),
    SimMarket("BTC", 3, "BTCUSDT", 1, 3, 1_000, 500),
)
# Post-only (GTX) that would take is refused with -5022 and leaves no order; a reduce-only order
# that cannot reduce is refused (-2022); 200 open orders per symbol (MAX_NUM_ORDERS); default
# leverage 20 (the venue's default for most symbols: UNCONFIRMED per symbol).
RULES = VenueRules(
    name=NAME,
    reduce_only_refusal=RefusalStyle.ERROR,
    post_only_refusal=RefusalStyle.ERROR,
    max_open_orders_per_market=200,
    min_notional_on_reduce_only=False,  # -4164 "... (unless you choose reduce only)"
    default_leverage=20,
    first_order_id=4_000_000_000,
)
LISTEN_KEY_TTL_S = 3600.0  # the venue's 60 min; tests shorten it (dialect option listen_key_ttl_s)


def market_spec(m: SimMarket) -> MarketSpec:
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


def open_venue(setup: DialectSetup) -> VenueHandle:
    ex = Exchange(RULES, setup.clock)
    for m in setup.markets:
        ex.add_market(market_spec(m))
    venue = BinanceVenue(ex)
    ttl = float(setup.options.get("listen_key_ttl_s", LISTEN_KEY_TTL_S))
    server = BinanceServer(venue, setup.faults, listen_key_ttl_s=ttl)
    return VenueHandle(NAME, ex, server, venue, setup.markets)


def open_account(
    handle: VenueHandle, collateral: int = 100_000, api_key: str | None = None, secret: str | None = None
) -> tuple[str, str, int]:
    """Open an account holding `collateral` (quote units) and register an HMAC API key pair for it
    (a fresh pair unless given: HMAC keys are shared secrets, the venue holds both halves).
    Returns (api key, secret, account id)."""
    if (api_key is None) != (secret is None):
        raise ValueError("give both api_key and secret, or neither")
    if api_key is None or secret is None:
        api_key, secret = secrets.token_hex(32), secrets.token_hex(32)
    ex = handle.exchange
    account = ex.create_account(collateral * 10**ex.rules.cash_decimals)
    handle.protocol.register_api_key(api_key, secret, account)
    return api_key, secret, account


DIALECT = SimDialect(NAME, MARKETS, open_venue, open_account)
