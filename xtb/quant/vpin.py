"""VPIN: volume-synchronized probability of informed trading (Easley, López de Prado, O'Hara 2012).

The tape is cut into buckets of equal traded volume; each bucket's order-flow imbalance is
|buy volume - sell volume| / bucket volume, and VPIN is the mean imbalance over the last `window`
buckets (0: balanced flow, 1: one-sided flow). Trades carry the aggressor's side, so volume is
classified exactly (no bulk classification needed). A trade larger than the room left in a bucket is
split across buckets, so every bucket holds exactly `bucket_volume`. Sizes are integers in venue units.
"""

from __future__ import annotations

from collections import deque


class Vpin:
    def __init__(self, bucket_volume: int, window: int = 50) -> None:
        if bucket_volume <= 0:
            raise ValueError(f"bucket_volume must be > 0, got {bucket_volume}")
        if window <= 0:
            raise ValueError(f"window must be > 0, got {window}")
        self.bucket_volume = bucket_volume
        self._imbalances: deque[float] = deque(maxlen=window)
        self._buy = 0
        self._sell = 0
        self.buckets = 0

    def add(self, taker_buys: bool, size: int) -> None:
        """One trade: `taker_buys` when the aggressor bought (lifted the ask)."""
        left = size
        while left > 0:
            room = self.bucket_volume - self._buy - self._sell
            take = min(room, left)
            if taker_buys:
                self._buy += take
            else:
                self._sell += take
            left -= take
            if self._buy + self._sell == self.bucket_volume:
                self._imbalances.append(abs(self._buy - self._sell) / self.bucket_volume)
                self._buy = self._sell = 0
                self.buckets += 1

    @property
    def value(self) -> float | None:
        """The mean imbalance of the completed buckets in the window; None before the first bucket."""
        if not self._imbalances:
            return None
        return sum(self._imbalances) / len(self._imbalances)
