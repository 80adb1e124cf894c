"""What the streaming connectors share (Backpack, Binance USD-M): the parts of the contract that are the
same whichever venue is behind them, written once.

A connector that mixes `StreamingConnector` in keeps its books in `_books`/`_book_symbols`, its markets in
`_markets`, its stream-fed positions in `_positions`, and provides the venue-specific halves: `book`,
`limit_key`, `prepare_cancel`/`send_cancel`, `submit_batch`, `_resync`, `_spawn`, `_reconcile_safely`, `stop`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from typing import Any

import aiohttp

from xtb._core import FeedDecoder, Order, OrderTracker, RateLimiter
from xtb.model.types import MarketInfo, OrderRequest, PositionInfo, SubmitOutcome, SubmitResult
from xtb.transport.keepalive_http import KeepAliveClient
from xtb.transport.rest import RestClient
from xtb.transport.throttle import take_slot
from xtb.transport.ws import WsSession


class StreamingConnector:
    """Shared halves of a connector with one market-data socket, REST order entry and a reconciler."""

    venue: str
    decoder: FeedDecoder
    tracker: OrderTracker
    limiter: RateLimiter
    stats: Any  # the connector's counters (`resyncs` among them)
    _markets: dict[str, MarketInfo]
    _book_symbols: dict[int, str]
    _positions: dict[str, PositionInfo]
    _position_seen_ns: dict[str, int]
    _resyncing: set[str]
    _ws: WsSession | None
    _http: Any  # the venue's REST wrapper (`rest` and `orders` RestClients)
    _session: aiohttp.ClientSession | None
    _order_transport: KeepAliveClient | None
    _frames_seen: int
    _frames_seen_ns: int
    _on_burst_end: Any

    # ------------------------------------------------------------------ the venue's halves
    async def stop(self) -> None:
        raise NotImplementedError

    def book(self, symbol: str) -> Any:
        raise NotImplementedError

    def limit_key(self, op: str, count: int) -> tuple[str, int]:
        raise NotImplementedError

    def prepare_cancel(self, symbol: str, client_ids: Sequence[int]) -> Any:
        raise NotImplementedError

    async def send_cancel(self, prepared: Any) -> list[SubmitResult]:
        raise NotImplementedError

    async def submit_batch(self, reqs: list[OrderRequest]) -> list[SubmitResult]:
        raise NotImplementedError

    async def _resync(self, symbol: str) -> None:
        raise NotImplementedError

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        raise NotImplementedError

    async def _reconcile_safely(self, why: str) -> None:
        raise NotImplementedError

    def _on_feed_error(self, exc: BaseException) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ shared
    async def close(self) -> None:
        await self.stop()
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
        if self._order_transport is not None:
            await self._order_transport.close()
            self._order_transport = None

    def markets(self) -> dict[str, MarketInfo]:
        return dict(self._markets)

    def top_of_book(self, symbol: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        b = self.book(symbol)
        return b.best_bid(), b.best_ask()

    def symbol_of_book(self, book_id: int) -> str:
        return self._book_symbols[book_id]

    def books(self) -> dict[int, str]:
        return dict(self._book_symbols)

    def rest_clients(self) -> list[RestClient]:
        return [] if self._http is None else [self._http.rest, self._http.orders]

    def feed_frames(self) -> int:
        return int(self.decoder.stats().get("frames", 0))

    @property
    def ws(self) -> WsSession | None:
        return self._ws

    def _make_listener(self) -> Any:
        from xtb.transport._cylistener import CyFeedListener

        return CyFeedListener(self.decoder, on_error=self._on_feed_error, on_burst_end=self._on_burst_end)

    def _last_activity_ns(self, listener: Any) -> int:
        frames = int(listener.frames)
        if frames != self._frames_seen:
            self._frames_seen, self._frames_seen_ns = frames, time.monotonic_ns()
        return self._frames_seen_ns

    def _start_resync(self, symbol: str) -> None:
        if symbol in self._resyncing:
            return
        self._resyncing.add(symbol)
        self._spawn(self._resync(symbol), f"resync-{symbol}")

    def on_resync(self, ev: Any) -> None:
        if ev.venue != self.venue:
            return
        sym = self._book_symbols.get(ev.book_id)
        ws = self._ws
        if sym is not None and ws is not None and ws.connected.is_set() and sym not in self._resyncing:
            self.stats.resyncs += 1
            self._start_resync(sym)

    def on_position(self, ev: Any) -> None:
        if ev.venue != self.venue:
            return
        sym = self._book_symbols.get(ev.book_id)
        if sym is not None:
            self._positions[sym] = PositionInfo(sym, ev.size, ev.entry_px, source="stream")
            self._position_seen_ns[sym] = time.monotonic_ns()

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return self.tracker.open_orders(self.venue, symbol)

    @staticmethod
    def _checked_price(r: OrderRequest, m: MarketInfo) -> int:
        if r.price is None or r.price <= 0 or r.price % m.tick:
            raise ValueError(f"price {r.price} is not a positive multiple of the tick {m.tick} ({r.symbol})")
        return r.price

    async def _take_slot(self, op: str, count: int) -> None:
        key, weight = self.limit_key(op, count)
        await take_slot(self.limiter, key, weight, what=self.venue)

    async def submit(self, req: OrderRequest) -> SubmitResult:
        return (await self.submit_batch([req]))[0]

    async def cancel(self, symbol: str, client_id: int) -> SubmitResult:
        await self._take_slot("cancel", 1)
        self.tracker.on_cancel_requested(client_id, self.venue)
        results = await self.send_cancel(self.prepare_cancel(symbol, [client_id]))
        if not results:
            return SubmitResult(client_id, SubmitOutcome.UNRESOLVED, reason="no answer to the cancel")
        res = results[0]
        if res.outcome is SubmitOutcome.ACCEPTED:
            self.tracker.on_cancel(client_id, self.venue)
        else:
            self.tracker.on_cancel_rejected(client_id, self.venue, res.reason)
        return res

    async def _reconcile_loop(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            await self._reconcile_safely("periodic")
