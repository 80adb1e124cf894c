"""Reducer: carries out a staged reduce (a fraction of every position) with reduce-only orders.

Modes (reduceMode):
  maker                    a post-only reduce-only limit joining our side of the touch (a long sells at
                           the best ask); whatever has not filled after `maker_wait_s` is cancelled
  taker                    a reduce-only market order, worst price `max_slippage_pct` through the touch
  maker_first_then_taker   the maker leg, then a taker order for what it did not fill; with a market
                           trigger (reduceOnlyMarketTriggerPct) the maker leg is cut short as soon as
                           the far touch moves that far against it (a long's bid falls below the maker
                           price x (1 - trigger), a short's ask rises above x (1 + trigger))

Every order goes through the gateway (and so through the RiskGuard): reduce-only orders that shrink a
position pass its exposure caps, but a halted guard stops them too. Each market's legs run concurrently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol

from xtb.model.denials import OrderDenied
from xtb.model.types import MarketInfo

log = logging.getLogger("xtb.risk.reducer")

ReduceMode = Literal["maker_first_then_taker", "maker", "taker"]


class OrderApi(Protocol):
    """The part of StrategyContext the reducer uses."""

    def market(self, venue: str, symbol: str) -> MarketInfo: ...
    def best_bid(self, venue: str, symbol: str) -> tuple[int, int] | None: ...
    def best_ask(self, venue: str, symbol: str) -> tuple[int, int] | None: ...
    def place_limit(self, venue: str, symbol: str, side: str, price: int, size: int, *, post_only: bool = ...,
                    reduce_only: bool = ...) -> int: ...
    def place_market(self, venue: str, symbol: str, side: str, size: int, *, worst_price: int | None = ...,
                     reduce_only: bool = ...) -> int: ...
    def order(self, venue: str, client_id: int) -> Any: ...
    def cancel(self, venue: str, client_id: int) -> None: ...


@dataclass
class ReduceLeg:
    venue: str
    symbol: str
    side: str  # "ask" closes a long, "bid" a short
    size: int  # venue units
    maker_filled: int = 0
    taker_sent: int = 0
    triggered: bool = False  # the market trigger cut the maker leg short
    error: str | None = None


class Reducer:
    def __init__(
        self,
        api: OrderApi,
        *,
        mode: ReduceMode = "maker_first_then_taker",
        maker_wait_s: float = 5.0,
        max_slippage_pct: float = 0.0003,
        market_trigger_pct: float | None = None,
        poll_s: float = 0.05,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if mode not in ("maker_first_then_taker", "maker", "taker"):
            raise ValueError(f"reduce mode must be maker_first_then_taker, maker or taker (got {mode!r})")
        self.api = api
        self.mode = mode
        self.maker_wait_s = maker_wait_s
        self._slip = Decimal(str(max_slippage_pct))
        if market_trigger_pct is not None and not 0 < market_trigger_pct < 1:
            raise ValueError(f"market trigger must be in (0, 1) (got {market_trigger_pct})")
        self._trigger = None if market_trigger_pct is None else Decimal(str(market_trigger_pct))
        self.poll_s = poll_s
        self._sleep = sleep

    def plan(self, positions: Mapping[tuple[str, str], int], fraction: float) -> list[ReduceLeg]:
        """One leg per non-zero position: `fraction` of it, rounded down to the step (dust is skipped)."""
        if not 0 < fraction <= 1:
            raise ValueError(f"reduce fraction must be in (0, 1] (got {fraction})")
        frac = Decimal(str(fraction))
        legs = []
        for (venue, symbol), pos in sorted(positions.items()):
            if pos == 0:
                continue
            info = self.api.market(venue, symbol)
            size = info.round_sz(int(abs(pos) * frac))
            if size <= 0 or size < info.min_size:
                continue
            legs.append(ReduceLeg(venue, symbol, "ask" if pos > 0 else "bid", size))
        return legs

    async def run(self, positions: Mapping[tuple[str, str], int], fraction: float) -> list[ReduceLeg]:
        legs = self.plan(positions, fraction)
        await asyncio.gather(*(self._leg(leg) for leg in legs))
        return legs

    async def _leg(self, leg: ReduceLeg) -> None:
        try:
            remaining = leg.size
            if self.mode != "taker":
                leg.maker_filled = await self._maker(leg)
                remaining -= leg.maker_filled
            if self.mode != "maker" and remaining > 0:
                self._taker(leg, remaining)
                leg.taker_sent = remaining
        except OrderDenied as e:
            leg.error = f"denied: {e.reason}"
        except Exception as e:  # one market's failure must not stop the others
            leg.error = str(e)
            log.exception("reduce %s %s failed", leg.venue, leg.symbol)

    async def _maker(self, leg: ReduceLeg) -> int:
        api = self.api
        touch = api.best_ask(leg.venue, leg.symbol) if leg.side == "ask" else api.best_bid(leg.venue, leg.symbol)
        if touch is None:
            return 0  # nothing to join: the taker (if any) does it all
        cid = api.place_limit(leg.venue, leg.symbol, leg.side, touch[0], leg.size, post_only=True, reduce_only=True)
        moved_away = self._market_trigger(leg, touch[0]) if self.mode == "maker_first_then_taker" else None
        if await self._until_terminal(leg.venue, cid, self.maker_wait_s, moved_away):
            return int(api.order(leg.venue, cid).filled)
        if moved_away is not None and moved_away():
            leg.triggered = True
            log.warning("reduce %s %s: price moved past the market trigger: taker now", leg.venue, leg.symbol)
        api.cancel(leg.venue, cid)
        # The cancel races a fill: count only what the venue reports once the order is over. If it is
        # still not over, assume the worst for the taker (the maker filled nothing more): reduce-only
        # orders cannot flip the position either way.
        await self._until_terminal(leg.venue, cid, self.maker_wait_s)
        order = api.order(leg.venue, cid)
        return 0 if order is None else int(order.filled)

    def _taker(self, leg: ReduceLeg, size: int) -> None:
        api = self.api
        info = api.market(leg.venue, leg.symbol)
        if leg.side == "ask":
            bid = api.best_bid(leg.venue, leg.symbol)
            worst = None if bid is None else info.round_px(int(bid[0] * (1 - self._slip)), "bid")
        else:
            ask = api.best_ask(leg.venue, leg.symbol)
            worst = None if ask is None else info.round_px(int(ask[0] * (1 + self._slip)), "ask")
        if worst is None:
            raise RuntimeError(f"{leg.venue} {leg.symbol}: no touch to price the taker leg against")
        api.place_market(leg.venue, leg.symbol, leg.side, size, worst_price=worst, reduce_only=True)

    def _market_trigger(self, leg: ReduceLeg, maker_px: int) -> Callable[[], bool] | None:
        """A check: has the far touch moved past the trigger against the maker leg priced at maker_px?"""
        if self._trigger is None:
            return None
        api, trigger = self.api, self._trigger
        if leg.side == "ask":  # selling a long: a falling bid leaves the ask behind
            limit = int(maker_px * (1 - trigger))

            def moved() -> bool:
                bid = api.best_bid(leg.venue, leg.symbol)
                return bid is not None and bid[0] <= limit
        else:  # buying back a short: a rising ask leaves the bid behind
            limit = int(maker_px * (1 + trigger))

            def moved() -> bool:
                ask = api.best_ask(leg.venue, leg.symbol)
                return ask is not None and ask[0] >= limit
        return moved

    async def _until_terminal(
        self, venue: str, cid: int, timeout_s: float, abort: Callable[[], bool] | None = None
    ) -> bool:
        """True once the order is over; False at the timeout or as soon as `abort()` says so."""
        waited = 0.0
        while True:
            o = self.api.order(venue, cid)
            if o is not None and o.is_terminal:
                return True
            if waited >= timeout_s or (abort is not None and abort()):
                return False
            await self._sleep(self.poll_s)
            waited += self.poll_s
