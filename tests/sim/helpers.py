"""Shared helpers for the simulator tests: one ETH-like market, price in cents, size in 1e-4 ETH."""

from __future__ import annotations

from xtb.sim import Event, Exchange, MarketSpec, OrderRequest, Side

# cash_decimals 10, price_decimals 2, size_decimals 4: one price unit x one size unit = 10**4 cash units.
SCALE = 10**4
USD = 10**10  # one dollar in cash units


def eth_spec(**overrides: object) -> MarketSpec:
    base: dict[str, object] = dict(market_id=0, symbol="ETH_USDC_PERP", price_decimals=2, size_decimals=4)
    base.update(overrides)
    return MarketSpec(**base)  # type: ignore[arg-type]


def funded(ex: Exchange, n: int, collateral: int = 1_000_000 * USD) -> list[int]:
    return [ex.create_account(collateral) for _ in range(n)]


def limit(account: int, side: Side, qty: int, price: int, **kw: object) -> OrderRequest:
    return OrderRequest(account, 0, side, qty, price, **kw)  # type: ignore[arg-type]


def record(ex: Exchange) -> list[Event]:
    events: list[Event] = []
    ex.subscribe(events.append)
    return events
