"""Per-market position and PnL from the run's own fills, in integer venue units.

Average-cost accounting: a fill that adds to the position adds `px * sz` to the cost basis; a fill that
reduces it realizes `closed * px - (basis share of the closed size)`, signed by the position's side, and
flips the remainder into a new position at the fill price. Everything is kept in notional units
(10^-(price_decimals + size_decimals) of the quote) and converted to floats only for display.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MarketBook:
    """One (venue, symbol): signed position, cost basis (notional units, signed like the position),
    realized PnL and fees (notional units)."""

    position: int = 0
    cost: int = 0
    realized: int = 0
    fees: int = 0
    fills: int = 0

    @property
    def entry_px(self) -> int:
        """Average entry price (price units), 0 when flat."""
        return 0 if self.position == 0 else self.cost // self.position

    def apply_fill(self, side: str, px: int, sz: int, fee: int = 0) -> int:
        """Apply one fill; returns the PnL it realized (notional units, before fees)."""
        if side not in ("bid", "ask"):
            raise ValueError(f"fill side must be 'bid' or 'ask', got {side!r}")
        if sz <= 0:
            raise ValueError(f"fill size must be > 0, got {sz}")
        signed = sz if side == "bid" else -sz
        self.fills += 1
        self.fees += fee
        pos = self.position
        if pos == 0 or (pos > 0) == (signed > 0):
            self.position += signed
            self.cost += signed * px
            return 0
        closed = min(abs(signed), abs(pos))
        basis = self.cost * closed // abs(pos)  # signed like pos
        direction = 1 if pos > 0 else -1
        realized = direction * closed * px - basis
        self.realized += realized
        self.cost -= basis
        self.position += signed
        left = abs(signed) - closed
        if self.position == 0:
            self.cost = 0
        elif left:
            # The fill crossed through zero: the rest opens a position at the fill price.
            self.cost = (left if signed > 0 else -left) * px
        return realized

    def unrealized(self, mark_px: int | None) -> int:
        """Mark-to-market PnL of the open position (notional units); 0 without a mark."""
        if mark_px is None or self.position == 0:
            return 0
        return self.position * mark_px - self.cost
