"""Model prices (floats) to venue integer units and back, with the rounding that never crosses.

Bids round down and asks up to the tick; a post-only quote is kept one tick off the opposite touch so it
rests instead of being rejected; sizes round down to the step and up to the market minimums.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Protocol

from xtb.model.types import MarketInfo, OrderState, Side

#: order states a cancel can still act on (members equal the tracker's strings)
CANCELLABLE = frozenset({OrderState.OPEN, OrderState.PARTIALLY_FILLED})


class _Cancels(Protocol):
    def cancel(self, venue: str, client_id: int) -> None: ...


def to_price(m: MarketInfo, px: int) -> float:
    """Venue price units -> quote currency per venue size unit (float, for model math)."""
    return px / float(10**m.price_decimals)


def to_qty(m: MarketInfo, units: int) -> float:
    """Venue size units -> base quantity (float, for model math)."""
    return units / float(10**m.size_decimals)


def price_units(m: MarketInfo, price: float, side: Side | str) -> int:
    """A model price in quote currency -> venue price units on the tick: bids down, asks up, at least one tick."""
    if not math.isfinite(price):
        raise ValueError(f"{m.symbol}: model price is not finite ({price!r})")
    scaled = price * 10**m.price_decimals
    raw = math.floor(scaled + 1e-9) if Side(side) is Side.BID else math.ceil(scaled - 1e-9)
    return max(m.tick, m.round_px(raw, side))


def post_only_clamp(m: MarketInfo, px: int, side: Side | str, best_bid: int | None, best_ask: int | None) -> int:
    """Keep a post-only price on its own side of the book: a bid below the best ask, an ask above the best bid."""
    if Side(side) is Side.BID:
        return min(px, best_ask - m.tick) if best_ask is not None else px
    return max(px, best_bid + m.tick) if best_bid is not None else px


def size_units(m: MarketInfo, qty: Decimal | float | str) -> int:
    """A base quantity -> venue size units, rounded down to the step."""
    units = Decimal(str(qty)) * 10**m.size_decimals
    return m.round_sz(int(units.to_integral_value(rounding="ROUND_FLOOR")))


def valid_size(m: MarketInfo, units: int, px: int) -> int:
    """`units` rounded down to the step, then raised to the minimum size and minimum notional at `px`."""
    units = max(m.round_sz(units), m.min_size)
    if m.min_notional > 0 and px > 0 and units * px < m.min_notional:
        units = -(-m.min_notional // px)
    return -(-units // m.step) * m.step


def bps_of(value: float, ref: float) -> float:
    return 0.0 if ref == 0 else value / ref * 10_000.0



def reconcile(live: list[tuple[int, str, int]], targets: list[tuple[str, int, int, int]]
              ) -> tuple[list[int], list[tuple[str, int, int]]]:
    """Diff resting orders against a target ladder.

    `live` holds (client id, side, price) of cancellable resting orders; `targets` (side, price, size,
    tolerance), most important first. Each target keeps the nearest unmatched resting order of its side
    within `tolerance` price units (it keeps its queue place: no cancel, no new request); every other
    resting order is returned for cancelling, every unmatched target for placing, in the targets' order.
    """
    free = list(live)
    place: list[tuple[str, int, int]] = []
    for side, px, size, tol in targets:
        best = None
        for i, (_, lside, lpx) in enumerate(free):
            if lside == side and abs(lpx - px) <= tol and (best is None or abs(lpx - px) < abs(free[best][2] - px)):
                best = i
        if best is None:
            place.append((side, px, size))
        else:
            free.pop(best)
    return [cid for cid, _, _ in free], place


def cancel_live(ctx: _Cancels, venue: str, orders: list[Any]) -> int:
    """Cancel the orders that are still working (through the strategy's context); returns how many."""
    n = 0
    for o in orders:
        if OrderState(o.state) in CANCELLABLE:
            ctx.cancel(venue, o.client_id)
            n += 1
    return n
