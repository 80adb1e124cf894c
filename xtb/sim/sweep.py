"""Test and demo hook: trade through a simulated book up to a price, as an outside taker would.

`sweep(exchange, symbol, side, limit_px)` sends one IOC order from a fresh taker account (no margin
checks) large enough to take every resting order priced at `limit_px` or better, so a strategy's resting
quote at that price is filled deterministically. The generator's liquidity re-quotes afterwards.
"""

from __future__ import annotations

from xtb.sim.engine import Exchange
from xtb.sim.types import AccountConfig, OrderRequest, OrderType, SelfTradeMode, Side, TimeInForce


def sweep(exchange: Exchange, symbol: str, side: Side | str, limit_px: int) -> int:
    """Take all liquidity up to `limit_px`: side "sell"/"ask" hits bids >= limit_px, "buy"/"bid" lifts
    asks <= limit_px. Returns the quantity filled (market units)."""
    if isinstance(side, str):
        side = Side.SELL if side.lower() in ("sell", "ask") else Side.BUY
    spec = exchange.market_by_symbol(symbol)
    bids, asks = exchange.book_orders(spec.market_id)
    resting = bids if side is Side.SELL else asks
    quantity = sum(o.quantity - o.filled for o in resting if o.price is not None
                   and (o.price >= limit_px if side is Side.SELL else o.price <= limit_px))
    if quantity <= 0:
        return 0
    account = exchange.create_account(10**30, config=AccountConfig(
        check_margin=False, check_order_limits=False, cancel_on_disconnect=False))
    view = exchange.place_order(OrderRequest(
        account, spec.market_id, side, quantity, limit_px, order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.IOC, self_trade=SelfTradeMode.REJECT_TAKER))
    return view.filled
