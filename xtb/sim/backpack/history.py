"""Backpack's bounded records of what happened, fed by engine events: public trades, funding intervals,
open interest per market; funding payments, settlements and position lifetimes per account.

Everything is kept in memory with a fixed bound (`LIMIT` entries per market or account), so a long run
stays flat. `Page` carries one page of a history with the totals the venue's `X-PAGE-*` headers report.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from xtb.sim.types import Fill, FundingEvent, PositionView, Side, TradeEvent

LIMIT = 1000
T = TypeVar("T")

PAGE_HEADERS = ("X-PAGE-COUNT", "X-CURRENT-PAGE", "X-PAGE-SIZE", "X-TOTAL")


@dataclass(slots=True)
class Page(Generic[T]):
    """One page of a history, newest first unless `ascending`."""

    items: list[T]
    total: int
    limit: int
    offset: int

    def headers(self) -> dict[str, str]:
        pages = -(-self.total // self.limit) if self.limit else 0
        return {
            "ACCESS-CONTROL-EXPOSE-HEADERS": ", ".join(PAGE_HEADERS),
            "X-PAGE-COUNT": str(pages),
            "X-CURRENT-PAGE": str(self.offset // self.limit + 1 if self.limit else 1),
            "X-PAGE-SIZE": str(self.limit),
            "X-TOTAL": str(self.total),
        }


def page(rows: list[T], limit: int, offset: int, ascending: bool) -> Page[T]:
    """`rows` oldest first -> the requested page in the requested order."""
    ordered = rows if ascending else rows[::-1]
    return Page(ordered[offset : offset + limit], len(rows), limit, offset)


@dataclass(slots=True)
class PublicTrade:
    trade_id: int
    price: int
    quantity: int
    ts_ns: int
    buyer_is_maker: bool


@dataclass(slots=True)
class FundingInterval:
    market: int
    rate_ppm: int
    ts_ns: int


@dataclass(slots=True)
class Settlement:
    account: int
    market: int
    source: str  # TradingFees | FundingPayment | RealizePnl
    amount: int  # cash units, + credited to the account
    ts_ns: int
    position_id: int | None


@dataclass(slots=True)
class PositionLife:
    """One position from open to close (a flip closes one and opens the next)."""

    position_id: int
    account: int
    market: int
    opened_ns: int
    realized_at_open: int
    funding_at_open: int
    view: PositionView
    fees: int = 0
    closed_volume: int = 0
    closed_ns: int | None = None
    closing_price: int | None = None


@dataclass(slots=True)
class MarketRecords:
    trades: deque[PublicTrade] = field(default_factory=lambda: deque(maxlen=LIMIT))
    funding: deque[FundingInterval] = field(default_factory=lambda: deque(maxlen=LIMIT))
    open_interest: int = 0  # sum of long sizes, quantity units


@dataclass(slots=True)
class AccountRecords:
    funding: deque[FundingEvent] = field(default_factory=lambda: deque(maxlen=LIMIT))
    settlements: deque[Settlement] = field(default_factory=lambda: deque(maxlen=LIMIT))
    positions: deque[PositionLife] = field(default_factory=lambda: deque(maxlen=LIMIT))
    open_positions: dict[int, PositionLife] = field(default_factory=dict)


class Records:
    """The venue's records; `on_*` are called from the venue's engine listener."""

    def __init__(self, markets: list[int]) -> None:
        self.markets: dict[int, MarketRecords] = {m: MarketRecords() for m in markets}
        self.accounts: dict[int, AccountRecords] = {}
        self._sizes: dict[tuple[int, int], int] = {}  # as of the last position event
        self._running: dict[tuple[int, int], int] = {}  # moved by each fill within an operation
        self._unassigned_fees: dict[tuple[int, int], int] = {}  # fees of the fill that opens a position
        self._next_position_id = 1

    def account(self, account: int) -> AccountRecords:
        rec = self.accounts.get(account)
        if rec is None:
            rec = self.accounts[account] = AccountRecords()
        return rec

    def on_trade(self, t: TradeEvent) -> None:
        rec = self.markets.get(t.market)
        if rec is not None:
            buyer_is_maker = t.taker_side is Side.SELL
            rec.trades.append(PublicTrade(t.trade_id, t.price, t.quantity, t.ts_ns, buyer_is_maker))

    def on_fill(self, f: Fill) -> None:
        rec = self.account(f.account)
        life = rec.open_positions.get(f.market)
        if f.fee:
            rec.settlements.append(
                Settlement(f.account, f.market, "TradingFees", -f.fee, f.ts_ns, _position_id(life))
            )
        key = (f.account, f.market)
        size = self._running.get(key, 0)
        if life is None:
            self._unassigned_fees[key] = self._unassigned_fees.get(key, 0) + f.fee
        else:
            life.fees += f.fee
            if size and (size > 0) != (f.side is Side.BUY):
                life.closed_volume += min(f.quantity, abs(size))
                life.closing_price = f.price
        self._running[key] = size + f.side.sign * f.quantity

    def on_funding(self, e: FundingEvent) -> None:
        rec = self.account(e.account)
        rec.funding.append(e)
        life = rec.open_positions.get(e.market)
        rec.settlements.append(
            Settlement(e.account, e.market, "FundingPayment", -e.amount, e.ts_ns, _position_id(life))
        )
        market = self.markets.get(e.market)
        if market is not None and (not market.funding or market.funding[-1].ts_ns != e.ts_ns):
            market.funding.append(FundingInterval(e.market, e.rate_ppm, e.ts_ns))

    def on_position(self, p: PositionView, ts_ns: int) -> None:
        """Track open interest and position lifetimes; call after `on_fill` for the same operation."""
        key = (p.account, p.market)
        before = self._sizes.get(key, 0)
        after = p.size
        self._sizes[key] = after
        self._running[key] = after
        market = self.markets.get(p.market)
        if market is not None:
            market.open_interest += max(after, 0) - max(before, 0)
        rec = self.account(p.account)
        life = rec.open_positions.get(p.market)
        if life is not None:
            realized_delta = p.realized_pnl - life.view.realized_pnl
            if realized_delta:
                rec.settlements.append(
                    Settlement(p.account, p.market, "RealizePnl", realized_delta, ts_ns, life.position_id)
                )
            life.view = p
            if after == 0 or (before > 0) != (after > 0):
                life.closed_ns = ts_ns
                del rec.open_positions[p.market]
        if after != 0 and p.market not in rec.open_positions:
            life = PositionLife(self._next_position_id, p.account, p.market, ts_ns, p.realized_pnl, p.funding_paid, p)
            life.fees = self._unassigned_fees.pop(key, 0)
            self._next_position_id += 1
            rec.open_positions[p.market] = life
            rec.positions.append(life)


def _position_id(life: PositionLife | None) -> int | None:
    return None if life is None else life.position_id
