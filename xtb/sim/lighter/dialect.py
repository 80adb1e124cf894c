"""Lighter as a simulator dialect (xtb/sim/dialects.py): its markets, rules, tiers and accounts."""

from __future__ import annotations

from xtb.sim.dialects import DialectSetup, SimDialect, SimMarket, VenueHandle
from xtb.sim.engine import Exchange
from xtb.sim.lighter import txinfo
from xtb.sim.lighter.server import LighterServer
from xtb.sim.lighter.venue import SPEED_BUMPS, LighterVenue
from xtb.sim.types import MarketSpec, ReduceOnlyMode, SelfTradeMode, VenueRules

NAME = "lighter"
MARKETS = (  # market ids and decimals as on mainnet (ETH 0, BTC 1, SOL 2)
    SimMarket("ETH", 0, "ETH", 2, 4, 1_000, 500),
    SimMarket("BTC", 1, "BTC", 1, 5, 1_000, 500),
    SimMarket("SOL", 2, "SOL", 3, 3, 10_000, 5_000),
)
FIRST_ORDER_INDEX = txinfo.ORDER_INDEX_MIN + 1  # exchange order indexes are >= 2^48
FIRST_USER_ACCOUNT = 100_000
# Error codes 21717/21718 cap active limit orders per account / per market; the figures are
# UNCONFIRMED guesses, hence configurable. Default self-trade behaviour is "expire maker".
RULES = VenueRules(
    name=NAME,
    reduce_only_mode=ReduceOnlyMode.REJECT,
    default_self_trade=SelfTradeMode.REJECT_MAKER,
    market_order_needs_worst_price=True,
    max_open_orders_per_market=16,
    max_open_orders_per_account=500,
    first_order_id=FIRST_ORDER_INDEX,
)


def open_venue(setup: DialectSetup) -> VenueHandle:
    opts = setup.options
    tier = str(opts.get("tier", "none"))
    if tier not in SPEED_BUMPS:
        raise ValueError(f"lighter_tier must be one of {sorted(SPEED_BUMPS)}, got {tier!r}")
    ex = Exchange(RULES, setup.clock)
    for m in setup.markets:
        ex.add_market(MarketSpec(market_id=m.market_id, symbol=m.symbol, price_decimals=m.price_decimals,
                                 size_decimals=m.size_decimals))
    venue = LighterVenue(ex, now_ms=setup.now_ms, speed_bump=SPEED_BUMPS[tier])
    server = LighterServer(
        venue,
        setup.faults,
        ping_interval_s=setup.ping_interval_s,
        pong_timeout_s=setup.pong_timeout_s,
        book_interval_s=setup.book_interval_s,
        # no documented cancel-on-disconnect: off unless asked
        cancel_on_disconnect=bool(opts.get("cancel_on_disconnect", False)),
        rate_limit_per_minute=opts.get("rate_limit_per_minute"),
    )
    state = {"next_account": int(opts.get("first_account", FIRST_USER_ACCOUNT)), "user_accounts": set()}
    return VenueHandle(NAME, ex, server, venue, setup.markets, state)


def open_account(
    handle: VenueHandle,
    public_key: str,
    api_key_index: int = 3,
    collateral_usdc: int = 100_000,
    account_index: int | None = None,
) -> int:
    """Open a Lighter account (index allocated from `lighter_first_account` unless given) holding
    `collateral_usdc` and register the API public key (0x + 80 hex, e.g. from lighter-sdk `create_api_key()`)."""
    ex = handle.exchange
    users: set[int] = handle.state["user_accounts"]
    if account_index is None:
        while handle.state["next_account"] in ex.accounts():
            handle.state["next_account"] += 1
        account_index = int(handle.state["next_account"])
        handle.state["next_account"] += 1
    if account_index not in ex.accounts():
        ex.create_account(collateral_usdc * 10**ex.rules.cash_decimals, account=account_index)
        users.add(account_index)
    elif account_index not in users:
        raise ValueError(f"account {account_index} belongs to the market-data generator")
    handle.protocol.register_api_key(account_index, api_key_index, public_key)
    return account_index


DIALECT = SimDialect(NAME, MARKETS, open_venue, open_account, default=True)
