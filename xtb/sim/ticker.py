"""Rolling 24 h trade statistics per market (Backpack `/ticker`, `ticker.<symbol>`, klines; Lighter daily_* stats).

Trades are folded into one-minute buckets (at most 1440 kept), so memory stays flat at any trade rate;
the window therefore moves in one-minute steps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

MINUTE_NS = 60 * 1_000_000_000
WINDOW_MINUTES = 24 * 60


@dataclass(slots=True)
class _Bucket:
    minute: int
    open: int
    high: int
    low: int
    close: int
    volume: int = 0  # quantity units
    quote_volume: int = 0  # price units x quantity units
    trades: int = 0
    last_trade_id: int = 0


@dataclass(frozen=True, slots=True)
class TickerStats:
    first: int
    last: int
    high: int
    low: int
    volume: int
    quote_volume: int
    trades: int


class RollingTicker:
    def __init__(self) -> None:
        self._buckets: deque[_Bucket] = deque()

    def add(self, ts_ns: int, price: int, quantity: int, trade_id: int = 0) -> None:
        minute = ts_ns // MINUTE_NS
        if not self._buckets or self._buckets[-1].minute != minute:
            self._buckets.append(_Bucket(minute, price, price, price, price))
        b = self._buckets[-1]
        b.high = max(b.high, price)
        b.low = min(b.low, price)
        b.close = price
        b.volume += quantity
        b.quote_volume += price * quantity
        b.trades += 1
        b.last_trade_id = trade_id
        self._expire(minute)

    def _expire(self, minute: int) -> None:
        while self._buckets and self._buckets[0].minute <= minute - WINDOW_MINUTES:
            self._buckets.popleft()

    def buckets(self, now_ns: int) -> list[_Bucket]:
        """The one-minute buckets of the last 24 h, oldest first (klines are built from them)."""
        self._expire(now_ns // MINUTE_NS)
        return list(self._buckets)

    def stats(self, now_ns: int) -> TickerStats | None:
        self._expire(now_ns // MINUTE_NS)
        if not self._buckets:
            return None
        bs = self._buckets
        return TickerStats(
            bs[0].open,
            bs[-1].close,
            max(b.high for b in bs),
            min(b.low for b in bs),
            sum(b.volume for b in bs),
            sum(b.quote_volume for b in bs),
            sum(b.trades for b in bs),
        )
