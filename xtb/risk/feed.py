"""Feeds the guard's shock detector from book events: one mid per book update, per canonical asset.

Added to the dispatcher (engine-internal, before strategies) only when `risk.shock_pct` is set, so a
config without shock detection pays nothing per book event. Prices are per canonical unit
(price / multiplier), so one asset's window can mix venues that quote kPEPE and PEPE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xtb.risk.guard import RiskGuard, TopOfBook
from xtb.venues.base import MarketInfo


class RiskPriceFeed:
    def __init__(
        self,
        guard: RiskGuard,
        *,
        symbol_of: Callable[[str, int], str | None],
        market: Callable[[str, str], MarketInfo | None],
        touch: Callable[[str, str], TopOfBook],
    ) -> None:
        self.guard = guard
        self._symbol_of = symbol_of
        self._market = market
        self._touch = touch
        self._scale: dict[tuple[str, int], tuple[str, str, float]] = {}  # (venue, book) -> symbol, asset, 1/unit

    def on_book(self, ev: Any) -> None:
        key = (ev.venue, ev.book_id)
        known = self._scale.get(key)
        if known is None:
            symbol = self._symbol_of(ev.venue, ev.book_id)
            info = None if symbol is None else self._market(ev.venue, symbol)
            if symbol is None or info is None:
                return
            known = self._scale[key] = (symbol, info.base, 1.0 / (10**info.price_decimals * info.multiplier))
        symbol, asset, per_unit = known
        bid, ask = self._touch(ev.venue, symbol)
        if bid is None or ask is None:
            return
        self.guard.on_price(asset, (bid[0] + ask[0]) * 0.5 * per_unit)
