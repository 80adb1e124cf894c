"""Trading statistics (seed 002's TradingStats): counted as events arrive, written to a log file every
interval and summarised on the console.

Counts are exact integers; money is kept in the quote asset's notional units of each market and
converted to floats only when a line is written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from xtb.private import create_private_file


@dataclass
class TradingStats:
    maker_fills: int = 0
    taker_fills: int = 0
    failed_orders: int = 0
    placed_orders: int = 0
    long_fills: int = 0
    short_fills: int = 0
    closed_trades: int = 0
    total_pnl: float = 0.0
    best_trade: float | None = None
    worst_trade: float | None = None
    fees: float = 0.0
    rest_calls: int = 0
    ws_messages: int = 0

    # --- recording -------------------------------------------------------------------------------
    def record_order(self, ok: bool) -> None:
        self.placed_orders += 1
        if not ok:
            self.failed_orders += 1

    def record_failure(self) -> None:
        """An order already counted as placed failed afterwards (rejected, or no answer from the venue)."""
        self.failed_orders += 1

    def record_fill(self, side: str, is_maker: bool) -> None:
        if is_maker:
            self.maker_fills += 1
        else:
            self.taker_fills += 1
        if side == "bid":
            self.long_fills += 1
        elif side == "ask":
            self.short_fills += 1
        else:
            raise ValueError(f"fill side must be 'bid' or 'ask', got {side!r}")

    def record_pnl(self, pnl: float) -> None:
        """One closed trade's realized PnL (quote)."""
        self.closed_trades += 1
        self.total_pnl += pnl
        self.best_trade = pnl if self.best_trade is None else max(self.best_trade, pnl)
        self.worst_trade = pnl if self.worst_trade is None else min(self.worst_trade, pnl)

    def record_fee(self, fee: float) -> None:
        self.fees += fee

    # --- derived ---------------------------------------------------------------------------------
    @property
    def total_fills(self) -> int:
        return self.maker_fills + self.taker_fills

    @property
    def success_rate(self) -> float | None:
        if not self.placed_orders:
            return None
        return (self.placed_orders - self.failed_orders) / self.placed_orders

    @property
    def long_short_ratio(self) -> float | None:
        return None if not self.short_fills else self.long_fills / self.short_fills

    @property
    def avg_pnl(self) -> float | None:
        return None if not self.closed_trades else self.total_pnl / self.closed_trades

    @property
    def ws_api_ratio(self) -> float | None:
        return None if not self.rest_calls else self.ws_messages / self.rest_calls

    def to_log_string(self, equity: float | None) -> str:
        def f(v: float | None, spec: str = ".4f") -> str:
            return "n/a" if v is None else format(v, spec)

        return (
            f"fills maker={self.maker_fills} taker={self.taker_fills} total={self.total_fills} | "
            f"orders placed={self.placed_orders} failed={self.failed_orders} success={f(self.success_rate, '.1%')} | "
            f"long/short={self.long_fills}/{self.short_fills} ratio={f(self.long_short_ratio, '.2f')} | "
            f"equity={f(equity, '.2f')} pnl total={self.total_pnl:.4f} avg={f(self.avg_pnl)} "
            f"best={f(self.best_trade)} worst={f(self.worst_trade)} fees={self.fees:.4f} | "
            f"rest={self.rest_calls} ws={self.ws_messages} ws/api={f(self.ws_api_ratio, '.1f')}"
        )


class StatsWriter:
    """Appends a timestamped stats line to `path` every `interval_s` (call `maybe_write` from a tick)."""

    def __init__(self, path: str | Path, interval_s: float = 60.0, header: str | None = None) -> None:
        if interval_s <= 0:
            raise ValueError(f"stats interval must be > 0, got {interval_s}")
        self.path = Path(path)
        self.interval_s = interval_s
        self._last = float("-inf")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        create_private_file(self.path)  # 0600, kept by the appends below
        if header:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {header}\n")

    def maybe_write(self, stats: TradingStats, equity: float | None, now_s: float | None = None) -> str | None:
        now_s = time.monotonic() if now_s is None else now_s
        if now_s - self._last < self.interval_s:
            return None
        self._last = now_s
        return self.write(stats, equity)

    def write(self, stats: TradingStats, equity: float | None) -> str:
        """Append a line now (the end of a run writes its last line whatever the interval)."""
        line = stats.to_log_string(equity)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
        return line
