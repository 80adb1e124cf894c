"""Dispatcher listeners that feed the RiskGuard from the event stream.

RiskPriceFeed: the shock detector, one mid per book update, per canonical asset. Added to the
dispatcher (engine-internal, before strategies) only when `risk.shock_pct` is set, so a config without
shock detection pays nothing per book event. Prices are per canonical unit (price / multiplier), so one
asset's window can mix venues that quote kPEPE and PEPE.

RiskFillFeed: our fills into a PnlLedger (average cost, fees included); each fill hands the new
realized total to the guard, so the pnl band and the stop loss see realized + unrealized at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from xtb.model.types import FeeSource, MarketInfo, fill_fee_units
from xtb.risk.guard import RiskGuard, TopOfBook
from xtb.risk.pnl import PnlLedger

log = logging.getLogger("xtb.risk")


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


class RiskFillFeed:
    """Fill events carry the venue and client id; the order tracker knows the symbol."""

    def __init__(self, guard: RiskGuard, ledger: PnlLedger, *, order_of: Callable[[int, str], Any],
                 connectors: Mapping[str, FeeSource] | None = None) -> None:
        self.guard = guard
        self.ledger = ledger
        self._order_of = order_of
        self._connectors = connectors or {}  # for venues whose fills carry no fee (fill_fee_units)
        self.unknown_orders = 0

    def on_fill(self, ev: Any) -> None:
        order = self._order_of(ev.client_id, ev.venue)
        if order is None:  # pruned or never ours: its PnL cannot be attributed
            self.unknown_orders += 1
            log.warning("risk: fill for unknown order %s on %s: PnL not counted", ev.client_id, ev.venue)
            return
        fee = fill_fee_units(self._connectors.get(ev.venue), order.symbol, ev.px, ev.sz, bool(ev.maker), ev.fee)
        self.ledger.on_fill(ev.venue, order.symbol, ev.side, ev.px, ev.sz, fee)
        self.guard.on_realized(self.ledger.realized())
