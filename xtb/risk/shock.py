"""Shock detection: a price move beyond `pct` within a sliding time window (per asset).

Monotonic deques keep the window's min and max in O(1) amortised per price, so feeding every mid
is cheap even when the window holds thousands of points.
"""

from __future__ import annotations

from collections import deque


class ShockDetector:
    def __init__(self, pct: float, window_s: float) -> None:
        if pct <= 0 or window_s <= 0:
            raise ValueError(f"shock pct and window must be > 0 (got {pct}, {window_s})")
        self.pct = pct
        self.window_s = window_s
        self._min: dict[str, deque[tuple[float, float]]] = {}
        self._max: dict[str, deque[tuple[float, float]]] = {}

    def on_price(self, asset: str, px: float, now: float) -> float | None:
        """Feed one price; returns the move (fraction) when it exceeds `pct`, else None."""
        if not px > 0:
            raise ValueError(f"price of {asset} must be > 0 (got {px})")
        lo = self._min.setdefault(asset, deque())
        hi = self._max.setdefault(asset, deque())
        horizon = now - self.window_s
        for d in (lo, hi):
            while d and d[0][0] < horizon:
                d.popleft()
        while lo and lo[-1][1] >= px:
            lo.pop()
        lo.append((now, px))
        while hi and hi[-1][1] <= px:
            hi.pop()
        hi.append((now, px))
        low, high = lo[0][1], hi[0][1]
        move = max(px / low - 1.0, 1.0 - px / high)
        return move if move > self.pct else None

    def reset(self, asset: str | None = None) -> None:
        """Forget the history (after a halt, so the same move does not re-trigger on resume)."""
        if asset is None:
            self._min.clear()
            self._max.clear()
        else:
            self._min.pop(asset, None)
            self._max.pop(asset, None)
