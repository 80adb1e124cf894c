"""Realized PnL from our own fills: average cost basis per (venue, symbol), fees included.

    ledger = PnlLedger(market=lambda venue, symbol: MarketInfo | None)
    ledger.seed(venue, symbol, size, entry_px)        # a position held before the first fill we saw
    ledger.on_fill(venue, symbol, "ask", px, sz, fee)  # -> the realized PnL of this fill (quote)
    ledger.realized()                                   # total over every market (quote)

Prices and sizes are the venue's integers; PnL is kept exactly, in each market's notional units
(price units x size units, fees are in the same units) and converted to the quote currency only when
read. A fill that shrinks the position realizes (fill price - average cost) on the closed part; one that
grows it moves the average cost; one that flips it closes the old position and opens the rest at the
fill price. The fee (negative: a rebate) is subtracted from realized PnL at every fill.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from xtb.model.types import MarketInfo

log = logging.getLogger("xtb.risk")


@dataclass
class _Book:
    position: int = 0  # signed venue size units
    cost: Fraction = Fraction(0)  # signed: position x average entry price (notional units)
    realized: Fraction = Fraction(0)  # notional units, fees included
    fees: int = 0  # notional units paid (negative: rebates received)
    fills: int = 0


class PnlLedger:
    def __init__(self, market: Callable[[str, str], MarketInfo | None]) -> None:
        self._market = market
        self._books: dict[tuple[str, str], _Book] = {}
        self._scale: dict[tuple[str, str], int] = {}  # notional units per quote unit
        self.unknown_market_fills = 0

    def seed(self, venue: str, symbol: str, size: int, entry_px: int) -> None:
        """Start a market from a position opened before this process saw its fills (at its entry price)."""
        book = self._books.setdefault((venue, symbol), _Book())
        if book.fills:
            raise ValueError(f"{venue} {symbol}: cannot seed a market whose fills are already counted")
        book.position = int(size)
        book.cost = Fraction(int(size) * int(entry_px))

    def on_fill(self, venue: str, symbol: str, side: str, px: int, sz: int, fee: int = 0) -> float:
        """Apply one of our executions; returns the PnL it realized (quote, fee included)."""
        if side not in ("bid", "ask"):
            raise ValueError(f"fill side must be 'bid' or 'ask' (got {side!r})")
        if sz <= 0 or px <= 0:
            raise ValueError(f"{venue} {symbol}: fill px and sz must be > 0 (got px={px}, sz={sz})")
        key = (venue, symbol)
        scale = self._notional_scale(key)
        if scale is None:
            self.unknown_market_fills += 1
            log.warning("risk: fill on %s %s, a market without MarketInfo: PnL not counted", venue, symbol)
            return 0.0
        book = self._books.setdefault(key, _Book())
        signed = sz if side == "bid" else -sz
        pos = book.position
        realized = Fraction(-int(fee))
        if pos == 0 or (pos > 0) == (signed > 0):
            book.cost += signed * px  # opening or adding: the average cost moves
        else:
            closed = min(abs(signed), abs(pos))
            avg = book.cost / pos  # average entry price
            # a long sold above its average gains; a short bought back below its average gains
            realized += (px - avg) * closed * (1 if pos > 0 else -1)
            if abs(signed) <= abs(pos):
                book.cost -= avg * (closed if pos > 0 else -closed)
            else:  # flipped: the remainder opens at the fill price
                book.cost = Fraction((pos + signed) * px)
        book.position = pos + signed
        if book.position == 0:
            book.cost = Fraction(0)
        book.realized += realized
        book.fees += int(fee)
        book.fills += 1
        return float(realized / scale)

    def _notional_scale(self, key: tuple[str, str]) -> int | None:
        scale = self._scale.get(key)
        if scale is None:
            info = self._market(*key)
            if info is None:
                return None
            scale = self._scale[key] = 10 ** (info.price_decimals + info.size_decimals)
        return scale

    def realized(self, venue: str | None = None, symbol: str | None = None) -> float:
        """Realized PnL (quote) over every market, or one venue, or one market."""
        total = 0.0
        for key, book in self._books.items():
            if (venue is None or key[0] == venue) and (symbol is None or key[1] == symbol):
                scale = self._scale.get(key)
                if scale is not None:
                    total += float(book.realized / scale)
        return total

    def position(self, venue: str, symbol: str) -> int:
        """The position our fills (and the seed) add up to, in venue size units."""
        book = self._books.get((venue, symbol))
        return 0 if book is None else book.position

    def average_cost(self, venue: str, symbol: str) -> float | None:
        """Average entry price (price units) of the open position, None when flat."""
        book = self._books.get((venue, symbol))
        if book is None or book.position == 0:
            return None
        return float(book.cost / book.position)

    def snapshot(self) -> dict[str, dict[str, float | int]]:
        """Per market "venue:symbol": position, realized (quote), fees (quote), fills."""
        out: dict[str, dict[str, float | int]] = {}
        for (venue, symbol), book in sorted(self._books.items()):
            scale = self._scale.get((venue, symbol)) or self._notional_scale((venue, symbol)) or 1
            out[f"{venue}:{symbol}"] = {
                "position": book.position,
                "realized": float(book.realized / scale),
                "fees": book.fees / scale,
                "fills": book.fills,
            }
        return out
