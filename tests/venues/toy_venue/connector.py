"""The toy venue's connector, written against the public contract only: `xtb.venues.contract.Connector`,
the shared reconciler (`xtb.orders.reconcile`), the transport's REST client and the compiled core.

It only translates. Books: REST snapshots into core `OrderBook`s, published as `BookUpdate` events.
Orders: the venue's account event log (order status, fills, positions; polled, every page) becomes
`OrderReport` / `FillReport` / `Position` events; `reconcile()` reads open orders, then every page of
history the missing orders need, and lets the `Reconciler` decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from xtb._core import BookUpdate, EventRing, FeedDecoder, Order, OrderBook, OrderTracker, Position, RateLimiter
from xtb.model.types import Balance, MarketInfo, OrderKind, OrderRequest, PositionInfo, SubmitOutcome, SubmitResult
from xtb.model.units import to_units
from xtb.orders.reconcile import (
    FillReport,
    OrderReport,
    PositionReport,
    ReconcilePass,
    Reconciler,
    ReconcileRules,
    ReconcileStats,
    SettleReport,
    UnknownOrderPolicy,
    merge_positions,
)
from xtb.ratelimits import token_bucket
from xtb.transport.rest import RestClient, RestError, VenueRejected
from xtb.venues.common import touch_from_levels
from xtb.venues.contract import VenueStats
from xtb.venues.settle import settle_until_agreed
from xtb.venues.symbols import base_then_quote

log = logging.getLogger("toy_venue")

NAME = "toy"
CORE_ID = 200  # the toy's core wire id (128..255): journals store it, so it never changes
_STATES = {"new": "open", "partially_filled": "partially_filled", "filled": "filled", "cancelled": "cancelled",
           "expired": "expired"}


def rate_limits(options: Mapping[str, Any]) -> dict[str, Any]:
    per_s = int(options.get("requests_per_second", ToyConfig.requests_per_second))
    return {"pools": {"rest": token_bucket(per_s, per_s, 1000)}, "keys": {"rest": {"rest": 1}}}


@dataclass
class ToyConfig:
    """`venues.<toy>.options`: the shared option names (xtb/venues/options.py) and the toy's own."""

    rest_url: str = ""
    symbols: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    order_timeout_s: float = 5.0
    submit_window_s: float = 1.0
    unknown_order_policy: UnknownOrderPolicy = "adopt"
    reconcile_interval_s: float | None = 2.0
    requests_per_second: int = 200
    poll_interval_s: float = 0.05
    page_limit: int = 50

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ToyConfig:
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"venues.{NAME}.options: unknown keys {sorted(unknown)}")
        merged = dict(options)
        if "symbols" in merged:
            merged["symbols"] = tuple(merged["symbols"])
        return cls(**merged)


class ToyConnector:
    reports_fill_fees = True  # the toy's fills carry their fee

    def __init__(self, config: ToyConfig, api_key: str, *, ring: EventRing, tracker: OrderTracker,
                 on_burst_end: Any = None) -> None:
        self.venue = NAME
        self.config = config
        self.ring = ring
        self.tracker = tracker
        self.decoder = FeedDecoder(NAME, ring)  # no core decoder for the toy (it polls REST): holds its books
        self.limiter = RateLimiter.from_config(rate_limits({"requests_per_second": config.requests_per_second}))
        self._on_burst_end = on_burst_end
        self._rest = RestClient(NAME, config.rest_url, limiter=self.limiter, limit_key=lambda m, p: ("rest", 1),
                                timeout_s=config.order_timeout_s)
        self._headers = {"X-Toy-Key": api_key}
        self.reconcile_stats = ReconcileStats()
        self._reconciler = Reconciler(NAME, tracker, ReconcileRules(config.unknown_order_policy,
                                                                    config.submit_window_s), self.reconcile_stats)
        self._markets: dict[str, MarketInfo] = {}
        self._books: dict[str, OrderBook] = {}
        self._book_ids: dict[str, int] = {}
        self._positions: dict[str, PositionReport] = {}
        self._position_seen_ns: dict[str, int] = {}
        self._events_next = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self.polls = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        rows = await self._get("/markets")
        wanted = set(self.config.symbols)
        for i, row in enumerate(rows):
            sym = row["symbol"]
            if wanted and sym not in wanted:
                continue
            pd, sd = int(row["price_decimals"]), int(row["size_decimals"])
            canon = base_then_quote(sym, self.config.aliases)
            self._markets[sym] = MarketInfo(NAME, sym, canon.base, "USDC", pd, sd,
                                            tick=to_units(row["tick"], 0), step=to_units(row["step"], 0),
                                            min_size=to_units(row["min_size"], 0), min_notional=0,
                                            market_id=i, maker_fee_ppm=200, taker_fee_ppm=500)
            self._books[sym] = OrderBook(NAME, sym, pd, sd)
            self._book_ids[sym] = i
        await self._poll_books()
        await self._poll_events()
        await self.reconcile()
        self._tasks.append(asyncio.get_running_loop().create_task(self._poll_loop()))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t
        self._tasks.clear()

    async def close(self) -> None:
        await self._rest.close()

    async def _poll_loop(self) -> None:
        every = self.config.reconcile_interval_s
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.config.poll_interval_s)
            try:
                await self._poll_books()
                await self._poll_events()
                if every is not None and time.monotonic() - last >= every:
                    last = time.monotonic()
                    await self.reconcile()
            except (TimeoutError, RestError, OSError) as e:
                log.warning("%s poll failed: %s", NAME, e)
            if self._on_burst_end is not None:
                self._on_burst_end()

    # ------------------------------------------------------------------ REST
    async def _get(self, path: str, **params: Any) -> Any:
        return await self._rest.request("GET", path, params=params or None, headers=self._headers)

    # ------------------------------------------------------------------ markets and data
    def markets(self) -> dict[str, MarketInfo]:
        return dict(self._markets)

    def book(self, symbol: str) -> OrderBook:
        return self._books[symbol]

    def books(self) -> dict[int, str]:
        return {i: s for s, i in self._book_ids.items()}

    def symbol_of_book(self, book_id: int) -> str:
        return self.books()[book_id]

    def top_of_book(self, symbol: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        b = self._books[symbol]
        return b.best_bid(), b.best_ask()

    async def rest_touch(self, symbol: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        m = self._markets[symbol]
        snap = await self._get("/depth", symbol=symbol)
        return touch_from_levels(snap["bids"], snap["asks"], m.price_decimals, m.size_decimals)

    async def _poll_books(self) -> None:
        for sym, book in self._books.items():
            snap = await self._get("/depth", symbol=sym)
            before = (book.best_bid(), book.best_ask())
            book.apply_snapshot([tuple(lv) for lv in snap["bids"]], [tuple(lv) for lv in snap["asks"]],
                                int(snap["seq"]))
            top = (book.best_bid(), book.best_ask())
            if top != before:
                self.ring.push(BookUpdate(NAME, self._book_ids[sym], top[0], top[1], book.seq))
        self.polls += 1

    # ------------------------------------------------------------------ account state
    def _order_report(self, row: Mapping[str, Any]) -> OrderReport | None:
        m = self._markets.get(row["symbol"])
        if m is None:
            return None
        return OrderReport(
            symbol=m.symbol, state=_STATES[row["status"]],  # type: ignore[arg-type]
            filled=to_units(row["filled"], m.size_decimals), client_id=row.get("client_id"),
            order_id=row["order_id"], side="bid" if row["side"] == "buy" else "ask",
            size=to_units(row["size"], m.size_decimals),
            price=0 if row.get("price") is None else to_units(row["price"], m.price_decimals),
            post_only=bool(row.get("post_only")), reduce_only=bool(row.get("reduce_only")),
            time_in_force=str(row.get("tif", "gtc")).upper(),  # type: ignore[arg-type]
        )

    async def _poll_events(self) -> None:
        """Every page of the account's event log since the last read."""
        while True:
            page = await self._get("/events", since=self._events_next, limit=self.config.page_limit)
            for ev in page["events"]:
                self._apply_event(ev)
            self._events_next = int(page["next"])
            if not page["more"]:
                return

    def _apply_event(self, ev: Mapping[str, Any]) -> None:
        kind = ev["type"]
        if kind == "order":
            report = self._order_report(ev)
            if report is not None and report.client_id and self.tracker.knows(report.client_id, NAME):
                self._reconciler.apply_order(report)
        elif kind == "fill":
            m = self._markets.get(ev["symbol"])
            if m is None or not ev.get("client_id"):
                return
            fee = int(Decimal(ev["fee"]).scaleb(m.price_decimals + m.size_decimals))
            self._reconciler.apply_fills([FillReport(
                int(ev["client_id"]), int(ev["trade_id"]), to_units(ev["price"], m.price_decimals),
                to_units(ev["size"], m.size_decimals), maker=bool(ev["maker"]), fee=fee, order_id=ev["order_id"])])
        elif kind == "position":
            self._set_position(self._position_report(ev), time.monotonic_ns())

    def _position_report(self, row: Mapping[str, Any]) -> PositionReport:
        m = self._markets[row["symbol"]]
        return PositionReport(m.symbol, to_units(row["size"], m.size_decimals),
                              to_units(row["entry_price"], m.price_decimals))

    def _set_position(self, p: PositionReport, seen_ns: int) -> None:
        if p.symbol not in self._markets:
            return
        self._position_seen_ns[p.symbol] = seen_ns
        if p.size:
            self._positions[p.symbol] = p
        else:
            self._positions.pop(p.symbol, None)
        self._publish_position(p.symbol)

    def _publish_position(self, symbol: str) -> None:
        p = self._positions.get(symbol)
        self.ring.push(Position(NAME, self._book_ids[symbol], 0 if p is None else p.size,
                                0 if p is None else p.entry_px))

    async def positions(self) -> dict[str, PositionInfo]:
        return {s: PositionInfo(s, p.size, p.entry_px, source="rest") for s, p in self._positions.items()}

    async def balances(self) -> dict[str, Balance]:
        b = await self._get("/balance")
        return {"USD": Balance("USD", to_units(b["cash"], 10), to_units(b["available"], 10), 10)}

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.tracker.open_orders(NAME) if symbol is None or o.symbol == symbol]

    # ------------------------------------------------------------------ orders
    def limit_key(self, op: str, count: int) -> tuple[str, int]:
        return ("rest", count)

    def prepare_submit(self, reqs: Sequence[OrderRequest]) -> list[tuple[int, dict[str, Any]]]:
        out = []
        for r in reqs:
            m = self._markets.get(r.symbol)
            if m is None:
                raise ValueError(f"{NAME}: unknown symbol {r.symbol!r}")
            body: dict[str, Any] = {
                "symbol": r.symbol, "side": "buy" if r.side == "bid" else "sell", "client_id": r.client_id,
                "type": "market" if r.kind is OrderKind.MARKET else "limit",
                "size": str(Decimal(r.size).scaleb(-m.size_decimals)), "tif": str(r.tif),
                "post_only": r.post_only, "reduce_only": r.reduce_only,
            }
            if r.price:
                body["price"] = str(Decimal(r.price).scaleb(-m.price_decimals))
            out.append((r.client_id, body))
        return out

    async def send_submit(self, prepared: list[tuple[int, dict[str, Any]]]) -> list[SubmitResult]:
        async def one(cid: int, body: dict[str, Any]) -> SubmitResult:
            try:
                row = await self._rest.request("POST", "/orders", body=_json(body), idempotent=False,
                                               headers={**self._headers, "Content-Type": "application/json"})
            except VenueRejected as e:
                return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"{e.code}: {e.venue_message}")
            except (TimeoutError, RestError, OSError) as e:
                return SubmitResult(cid, SubmitOutcome.UNRESOLVED, reason=str(e))
            return SubmitResult(cid, SubmitOutcome.ACCEPTED, venue_order_id=str(row["order_id"]))

        return list(await asyncio.gather(*(one(cid, body) for cid, body in prepared)))

    def prepare_cancel(self, symbol: str, client_ids: Sequence[int]) -> tuple[str, tuple[int, ...]]:
        return symbol, tuple(client_ids)

    async def send_cancel(self, prepared: tuple[str, tuple[int, ...]]) -> list[SubmitResult]:
        symbol, cids = prepared

        async def one(cid: int) -> SubmitResult:
            try:
                await self._rest.request("DELETE", "/orders", params={"symbol": symbol, "client_id": cid},
                                         headers=self._headers)
            except VenueRejected as e:  # not open: already ended (the event log says how)
                return SubmitResult(cid, SubmitOutcome.REJECTED, reason=f"{e.code}: {e.venue_message}")
            return SubmitResult(cid, SubmitOutcome.ACCEPTED)

        return list(await asyncio.gather(*(one(c) for c in cids)))

    async def submit(self, req: OrderRequest) -> SubmitResult:
        return (await self.submit_batch([req]))[0]

    async def submit_batch(self, reqs: list[OrderRequest]) -> list[SubmitResult]:
        for r in reqs:
            self.tracker.submitted(r.client_id, NAME, r.symbol, str(r.side), r.price or 0, r.size, r.post_only,
                                   r.reduce_only, _TIF[str(r.tif)])
        results = await self.send_submit(self.prepare_submit(reqs))
        for res in results:
            if res.outcome is SubmitOutcome.ACCEPTED:
                self.tracker.on_ack(res.client_id, NAME, res.venue_order_id)
            elif res.outcome is SubmitOutcome.REJECTED:
                self.tracker.on_reject(res.client_id, NAME, res.reason)
            else:
                self.tracker.on_unresolved(res.client_id, NAME, res.reason)
        return results

    async def cancel(self, symbol: str, client_id: int) -> SubmitResult:
        self.tracker.on_cancel_requested(client_id, NAME)
        (res,) = await self.send_cancel((symbol, (client_id,)))
        if res.outcome is SubmitOutcome.ACCEPTED:
            self.tracker.on_cancel(client_id, NAME, None)
        return res

    async def cancel_all(self, symbol: str | None = None) -> None:
        for o in self.open_orders(symbol):
            await self.cancel(o.symbol, o.client_id)

    # ------------------------------------------------------------------ reconciliation
    async def reconcile(self) -> ReconcilePass:
        self.reconcile_stats.reconciles += 1
        asked_ns = time.monotonic_ns()
        await self._poll_events()
        rows = await self._get("/orders/open")
        reports = [r for r in (self._order_report(row) for row in rows) if r is not None]
        verdict = self._reconciler.open_orders(reports, time.monotonic_ns())
        for r in verdict.cancel:
            with contextlib.suppress(VenueRejected):
                await self._rest.request("DELETE", "/orders", params={"symbol": r.symbol, "client_id": r.client_id},
                                         headers=self._headers)
        await self._look_up(verdict.missing)
        self._reconciler.settle_missing(verdict.missing)
        venue_positions = [self._position_report(row) for row in await self._get("/positions")
                           if row["symbol"] in self._markets]
        merged = merge_positions(self._positions, venue_positions, self._markets, asked_ns=asked_ns,
                                 stream_seen_ns=self._position_seen_ns)
        self._positions = merged.positions
        for sym in merged.changed:
            self._publish_position(sym)
        return ReconcilePass(verdict, merged, self._reconciler.disagreements(verdict, merged))

    async def _look_up(self, missing: Sequence[Order]) -> None:
        """Every page of history the missing orders need (newest first), until each is found."""
        wanted = {o.client_id for o in missing}
        page = 0
        while wanted:
            rows = await self._get("/orders/history", page=page, limit=self.config.page_limit)
            for row in rows["orders"]:
                report = self._order_report(row)
                if report is not None and report.client_id in wanted and self._reconciler.found(report):
                    wanted.discard(report.client_id)
            if not rows["more"]:
                return
            page += 1

    async def settle(self, timeout_s: float = 10.0, interval_s: float = 0.25) -> SettleReport:
        return await settle_until_agreed(NAME, self.reconcile, self.tracker, timeout_s, interval_s)

    # ------------------------------------------------------------------ diagnostics
    async def latency_probe(self) -> float:
        t0 = time.perf_counter()
        await self._get("/markets")
        return (time.perf_counter() - t0) * 1000.0

    def rest_clients(self) -> list[RestClient]:
        return [self._rest]

    def feed_frames(self) -> int:
        return self.polls

    def venue_stats(self) -> VenueStats:
        return VenueStats(NAME, reconcile=replace(self.reconcile_stats), extra={"polls": self.polls})


_TIF = {"gtc": "GTC", "ioc": "IOC", "fok": "FOK"}


def _json(body: Mapping[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(body)
