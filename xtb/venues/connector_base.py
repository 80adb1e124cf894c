"""What the streaming connectors share (Backpack, Binance USD-M, GRVT): the parts of the contract that are the
same whichever venue is behind them, written once.

A connector that mixes `StreamingConnector` in keeps its books in `_books`/`_book_symbols`, its markets in
`_markets`, its stream-fed positions in `_positions`, and provides the venue-specific halves: `book`,
`limit_key`, `prepare_submit`/`send_submit`, `prepare_cancel`/`send_cancel`, `_resync`, `_spawn`, `_reconcile`,
`_reconcile_safely`, `stop`,
and for `check_orders` the REST halves `_open_order_reports`, `_look_up`, `_apply_fill_history`, `_read_positions`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Sequence
from typing import Any

import aiohttp

from xtb._core import FeedDecoder, Order, OrderTracker, RateLimiter
from xtb.model.types import MarketInfo, OrderRequest, PositionInfo, Side, SubmitOutcome, SubmitResult, TimeInForce
from xtb.orders.reconcile import OrderReport, ReconcilePass, Reconciler, ReconcileStats, SettleReport
from xtb.transport import FeedListener
from xtb.transport.keepalive_http import KeepAliveClient
from xtb.transport.rest import RestClient
from xtb.transport.throttle import take_slot
from xtb.transport.ws import WsSession
from xtb.venues.settle import settle_until_agreed

#: the tracker's names for the time in force (each venue maps them to its own words on the wire)
_TRACKER_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}


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
    _reconcile_lock: asyncio.Lock
    _reconciler: Reconciler
    reconcile_stats: ReconcileStats
    config: Any  # the venue's config (`submit_window_s` among its fields)
    _tasks: set[asyncio.Task[Any]]
    #: the cancel's reason when the venue gave no verdict (the order stays `pending_cancel`)
    _cancel_unanswered = "no answer to the cancel"

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

    def prepare_submit(self, reqs: Sequence[OrderRequest]) -> Any:
        raise NotImplementedError

    async def send_submit(self, prepared: Any) -> list[SubmitResult]:
        raise NotImplementedError

    async def _reconcile(self) -> ReconcilePass:
        raise NotImplementedError

    async def _resync(self, symbol: str) -> None:
        raise NotImplementedError

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        raise NotImplementedError

    async def _reconcile_safely(self, why: str) -> None:
        raise NotImplementedError

    def _on_feed_error(self, exc: BaseException) -> None:
        raise NotImplementedError

    async def _open_order_reports(self) -> list[OrderReport]:
        raise NotImplementedError

    async def _look_up(self, missing: Sequence[Any]) -> None:
        raise NotImplementedError

    async def _apply_fill_history(self) -> None:
        raise NotImplementedError

    async def _read_positions(self) -> Any:
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
        # the Cython listener where compiled (every install), else the pure-Python one (a bare source checkout)
        return FeedListener(self.decoder, on_error=self._on_feed_error, on_burst_end=self._on_burst_end)

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

    async def submit_batch(self, reqs: list[OrderRequest]) -> list[SubmitResult]:
        """Direct submit (without the OrderGateway): same tracking rules as the gateway."""
        if not reqs:
            return []
        prepared = self.prepare_submit(reqs)  # refuses bad input before anything is tracked
        await self._take_slot("submit", len(reqs))
        trk, venue = self.tracker, self.venue
        for r in reqs:
            trk.submitted(r.client_id, venue, r.symbol, Side(r.side).value, r.price or 0, r.size,
                          post_only=r.post_only, reduce_only=r.reduce_only,
                          time_in_force=_TRACKER_TIF[TimeInForce(r.tif)])
        results = await self.send_submit(prepared)
        for res in results:
            if res.outcome is SubmitOutcome.ACCEPTED:
                trk.on_ack(res.client_id, venue, res.venue_order_id)
            elif res.outcome is SubmitOutcome.REJECTED:
                trk.on_reject(res.client_id, venue, res.reason)
            else:
                trk.on_unresolved(res.client_id, venue, res.reason)
        return results

    async def cancel(self, symbol: str, client_id: int) -> SubmitResult:
        await self._take_slot("cancel", 1)
        self.tracker.on_cancel_requested(client_id, self.venue)
        results = await self.send_cancel(self.prepare_cancel(symbol, [client_id]))
        if not results:
            return SubmitResult(client_id, SubmitOutcome.UNRESOLVED, reason=self._cancel_unanswered)
        res = results[0]
        if res.outcome is SubmitOutcome.ACCEPTED:
            self.tracker.on_cancel(client_id, self.venue)
        else:
            self.tracker.on_cancel_rejected(client_id, self.venue, res.reason)
        return res

    def on_order(self, ev: Any) -> None:
        """A live order on the stream that the tracker does not know: the REST view settles it."""
        if ev.venue != self.venue or ev.is_terminal:
            return
        if not self.tracker.knows(ev.client_id, self.venue):
            self._spawn(self._reconcile_safely("unknown order on stream"), "reconcile-unknown")

    async def _cancel_tasks(self) -> None:
        tasks, self._tasks = self._tasks, set()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t

    async def reconcile(self) -> ReconcilePass:
        """Open orders, fills and positions from REST, through the shared reconciler (xtb/orders/reconcile.py)."""
        async with self._reconcile_lock:
            result = await self._reconcile()
            self.reconcile_stats.reconciles += 1
            return result

    async def settle(self, timeout_s: float = 10.0, interval_s: float = 0.25) -> SettleReport:
        """Re-read orders, fills and positions over REST until the bot and the venue agree (or timeout)."""
        return await settle_until_agreed(self.venue, self.reconcile, self.tracker, timeout_s, interval_s,
                                         self.config.submit_window_s)

    async def _reconcile_loop(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            await self._reconcile_safely("periodic")

    async def check_orders(self, client_ids: Sequence[int]) -> bool:
        """What the venue says now of these live orders, over REST (the engine's order watch asks when the
        stream may have missed something: a cancel refused, a quiet private stream): the open-order list,
        then each order it no longer lists looked up, through the reconciler. When a filled size moved, the
        fills (trade ids, prices, fees) and positions are read too. Returns whether a filled size moved."""
        async with self._reconcile_lock:
            before = self._filled_of(client_ids)
            gone = await self._unlisted(client_ids)
            if gone:
                await self._look_up(gone)
            moved = self._filled_of(client_ids) != before
            if moved:
                await self._apply_fill_history()
                await self._read_positions()
            return moved

    async def _unlisted(self, client_ids: Sequence[int]) -> Sequence[Any]:
        """The open-order list through the reconciler; the orders among `client_ids` it no longer lists."""
        return self._reconciler.check_listed(await self._open_order_reports(), client_ids)

    def _filled_of(self, client_ids: Sequence[int]) -> list[int]:
        trk, venue = self.tracker, self.venue
        return [o.filled if o is not None else 0 for o in (trk.get(c, venue) for c in client_ids)]
