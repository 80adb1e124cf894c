"""OrderGateway: the one way an order leaves the process.

    strategy decision
      -> risk pre-check            (a denied order never reaches the venue; counted per reason)
      -> core RateLimiter          (the venue's limiter: wait up to `max_limiter_wait_ns`, else denied)
      -> venue port prepare        (validate + sign: Backpack in the core, inline; Lighter returns a
                                    future from its signer thread)
      -> core OrderTracker.submitted
      -> send task                 (transport) -> ack / reject / unresolved back into the tracker

Everything up to the signed request runs synchronously in the caller's stack, so the tick-to-order
latency (frame received -> request ready for the transport) is measured on the real path, live.
A send that ends without a trustworthy answer leaves the order `unresolved`, never `rejected`.

`place_limit` is the same path for one limit order on a venue whose connector offers a core order entry
(`order_entry(tracker, limiter)`, Backpack): the connector's checks, the client id, the rate limit, the
signature and the tracker entry are one core call; the risk check, denials, counters and the send task
stay here, with the same rules as `submit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from xtb.model.denials import OrderDenied as OrderDenied  # re-exported: strategies catch it here
from xtb.model.types import OrderKind, OrderRequest, Side, SubmitOutcome, SubmitResult, TimeInForce
from xtb.transport.throttle import take_slot

log = logging.getLogger("xtb.engine.gateway")
_running_loop = asyncio.get_running_loop


class VenueOrderPort(Protocol):
    """What a connector offers the gateway. Prepare builds and signs; send only transports."""

    venue: str
    @property
    def limiter(self) -> Limiter | None:
        """The venue's rate limiter: the gateway takes order slots from it unless given its own."""

    def limit_key(self, op: str, count: int) -> tuple[str, int]: ...
    def prepare_submit(self, reqs: Sequence[OrderRequest]) -> Any: ...  # value or awaitable
    async def send_submit(self, prepared: Any) -> list[SubmitResult]: ...
    def prepare_cancel(self, symbol: str, client_ids: Sequence[int]) -> Any: ...
    async def send_cancel(self, prepared: Any) -> list[SubmitResult]: ...


class RiskCheck(Protocol):
    """The pre-trade check. A guard may also offer `commit()` / `rollback()`: the gateway calls one of them
    after each submit's checks, so a batch that is not sent books nothing (daily budget, order rate)."""

    def check(self, venue: str, req: OrderRequest) -> str | None: ...  # None = allowed, else the rule


class Limiter(Protocol):
    def acquire(self, key: str, weight: int = 1, now_ns: int | None = None) -> int: ...


class Tracker(Protocol):
    """The part of the core OrderTracker the gateway drives (outcomes: "applied", "duplicate", ...)."""

    def submitted(
        self, client_id: int, venue: str, symbol: str, side: str, px: int, sz: int, post_only: bool = ...,
        reduce_only: bool = ..., time_in_force: str = ..., ts_ns: int | None = ...,
    ) -> None: ...  # the gateway passes the flags positionally
    def on_ack(self, client_id: int, venue: str, order_id: str | None = ..., *, ts_ns: int | None = ...) -> str: ...
    def on_reject(self, client_id: int, venue: str, reason: str | None = ..., *, ts_ns: int | None = ...) -> str: ...
    def on_unresolved(
        self, client_id: int, venue: str, reason: str | None = ..., *, ts_ns: int | None = ...
    ) -> str: ...
    def on_cancel_requested(self, client_id: int, venue: str, *, ts_ns: int | None = ...) -> str: ...
    def on_cancel(self, client_id: int, venue: str, reason: str | None = ..., *, ts_ns: int | None = ...) -> str: ...
    def on_cancel_rejected(
        self, client_id: int, venue: str, reason: str | None = ..., *, ts_ns: int | None = ...
    ) -> str: ...


@dataclass(slots=True)
class LatencySample:
    venue: str
    client_ids: tuple[int, ...]
    trigger_ns: int | None  # frame received (the event that led to the decision), if known
    decided_ns: int  # gateway entry
    signed_ns: int  # request ready for the transport
    sent_ns: int = 0  # transport call returned (set by the send task)

    @property
    def tick_to_order_ns(self) -> int | None:
        return None if self.trigger_ns is None else self.signed_ns - self.trigger_ns


@dataclass
class GatewayStats:
    submitted: int = 0
    denied: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    unresolved: int = 0
    acked: int = 0
    limiter_waits: int = 0


# Keyed by the TimeInForce values; a StrEnum member hashes and compares as its value, so the member
# itself is the key (no `.value` lookup per order).
_TIF = {"gtc": "GTC", "ioc": "IOC", "fok": "FOK"}
# The core binds a plain str ~0.25 us faster than a str subclass (the Side member); an unknown side
# passes through to the tracker, which names it in its error.
_SIDE_STR = {"bid": "bid", "ask": "ask"}
_LIMIT = OrderKind.LIMIT
#: value (or member) -> member, for the OrderRequest a risk check or a venue without an order entry needs
_SIDES: Mapping[Any, Side] = Side._value2member_map_  # type: ignore[assignment]
_TIFS: Mapping[Any, TimeInForce] = TimeInForce._value2member_map_  # type: ignore[assignment]
_UNSET: Any = object()


@dataclass(slots=True)
class _Route:
    """One venue's order path, resolved once (first use) instead of per order."""

    port: VenueOrderPort
    prepare: Callable[[Sequence[OrderRequest]], Any]
    acquire: Callable[[str, int, int], int] | None  # the venue limiter's bound `acquire`, if it has one
    submit_key: tuple[str, int]  # port.limit_key("submit", 1): the single-order rate-limit key


@dataclass(slots=True)
class _Lane:
    """One venue's one-call order path: its connector's core order entry, bound to this gateway's tracker
    and limiter (BackpackOrderEntry: checks, client id, rate limit, signature, tracker in one call)."""

    port: VenueOrderPort
    entry: Any
    call: Callable[..., tuple[int, int, Any]]  # entry.limit
    key: str  # the rate-limit key, for the denial's message
    ids: Any = None  # the id allocator whose blocks the entry numbers orders from (its `take_block`)


class IdAllocator(Protocol):
    def next(self) -> int: ...


class OrderGateway:
    def __init__(
        self,
        ports: Mapping[str, VenueOrderPort],
        tracker: Tracker,
        *,
        limiters: dict[str, Limiter] | None = None,
        risk: RiskCheck | None = None,
        max_limiter_wait_ns: int = 50_000_000,
        on_latency: Callable[[LatencySample], None] | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.ports = ports
        self.tracker = tracker
        # Each venue's own limiter (its weights and pools); by default the connector's `limiter`.
        self.limiters: dict[str, Limiter] = dict(limiters or {})
        for venue, port in ports.items():
            lim = port.limiter
            if venue not in self.limiters and lim is not None:
                self.limiters[venue] = lim
        self.risk = risk
        self.max_limiter_wait_ns = max_limiter_wait_ns
        self.on_latency = on_latency
        self._clock_ns = clock_ns
        self._routes: dict[str, _Route] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = GatewayStats()
        self.closed = False  # set once the strategy has stopped: no new order leaves through here
        # told of each cancel the venue refused (venue, client id, reason): the order may have filled
        self.on_cancel_refused: Callable[[str, int, str | None], None] | None = None

    @property
    def tracker(self) -> Tracker:
        return self._tracker

    @tracker.setter
    def tracker(self, tracker: Tracker) -> None:
        self._tracker = tracker
        self._submitted = tracker.submitted  # bound once, not per order
        self._lanes: dict[str, _Lane | None] = {}  # order entries are bound to the tracker: rebuilt

    @property
    def risk(self) -> RiskCheck | None:
        return self._risk

    @risk.setter
    def risk(self, risk: RiskCheck | None) -> None:
        # Bound once here, not looked up per order.
        self._risk = risk
        self._risk_check = None if risk is None else risk.check
        self._risk_commit: Callable[[], object] | None = getattr(risk, "commit", None)
        self._risk_rollback: Callable[[], object] | None = getattr(risk, "rollback", None)

    def _route(self, venue: str) -> _Route:
        """The venue's cached route (ports and limiters are read on a venue's first order)."""
        route = self._routes.get(venue)
        if route is None:
            port = self.ports.get(venue)
            if port is None:
                raise KeyError(f"no connector for venue {venue!r} (have: {', '.join(sorted(self.ports))})")
            limiter = self.limiters.get(venue)
            route = _Route(port, port.prepare_submit, None if limiter is None else limiter.acquire,
                           port.limit_key("submit", 1))
            self._routes[venue] = route
        return route

    def _lane(self, venue: str) -> _Lane | None:
        """The venue's core order entry (None: the connector has none, or the tracker / limiter are not
        the core's), built on the venue's first `place_limit`."""
        port = self.ports.get(venue)
        if port is None:
            raise KeyError(f"no connector for venue {venue!r} (have: {', '.join(sorted(self.ports))})")
        make = getattr(port, "order_entry", None)
        entry = None if make is None else make(self._tracker, self.limiters.get(venue))
        lane = None if entry is None else _Lane(port, entry, entry.limit, port.limit_key("submit", 1)[0])
        self._lanes[venue] = lane
        return lane

    # --- submit ----------------------------------------------------------------------------------
    def place_limit(
        self, venue: str, ids: IdAllocator, symbol: str, side: Side | str, price: int, size: int,
        post_only: bool = False, reduce_only: bool = False, tif: TimeInForce | str = "gtc",
        trigger_ns: int | None = None,
    ) -> int:
        """One limit order; its client id comes from `ids`. Returns the client id.

        Same rules and outcomes as `submit` (risk check, rate limit within `max_limiter_wait_ns`, nothing
        tracked unless signed, the send task, unresolved on no answer), through the venue's core order
        entry when it has one, else through `submit`. Raises OrderDenied, ValueError for bad input
        (nothing sent or tracked), KeyError for an unknown venue.
        """
        decided = self._clock_ns()
        lane = self._lanes.get(venue, _UNSET)
        if lane is _UNSET:
            lane = self._lane(venue)
        if lane is None:
            req = OrderRequest(ids.next(), symbol, _SIDES.get(side) or Side(side), size, _LIMIT, price,
                               _TIFS.get(tif) or TimeInForce(tif), post_only, reduce_only)
            return self.submit(venue, [req], trigger_ns)[0]
        if self.closed:
            self._deny("stopping")
            raise OrderDenied("stopping", f"{venue}: the engine is stopping, no new orders")
        cid: int = 0  # 0: the entry numbers the order from the allocator's blocks
        if ids is not lane.ids:
            # The entry numbers orders from the first allocator it sees; another one (or one without blocks)
            # gives its ids one by one, so allocators used in turn never waste blocks.
            take = getattr(ids, "take_block", None)
            if take is None or lane.ids is not None:
                cid = ids.next()
            else:
                lane.entry.set_id_source(take)
                lane.ids = ids
        check = self._risk_check
        try:
            if check is not None:
                if cid == 0:
                    cid = lane.entry.next_client_id()
                rule = check(venue, OrderRequest(cid, symbol, _SIDES.get(side) or Side(side), size, _LIMIT, price,
                                                 _TIFS.get(tif) or TimeInForce(tif), post_only, reduce_only))
                if rule is not None:
                    self._deny(rule)
                    raise OrderDenied(rule, f"{venue} {symbol} client_id={cid}")
            cid, wait_ns, signed = lane.call(symbol, side, price, size, tif, post_only, reduce_only, decided,
                                             self.max_limiter_wait_ns, cid)
            if wait_ns > 0:
                self.stats.limiter_waits += 1
                if signed is None:  # over the wait budget: nothing signed, nothing tracked
                    self._deny("rate_limited")
                    raise OrderDenied("rate_limited", f"{venue} {lane.key}: next slot in {wait_ns / 1e6:.1f} ms")
        except BaseException:
            if self._risk_rollback is not None:
                self._risk_rollback()
            raise
        if self._risk_commit is not None:
            self._risk_commit()
        signed_ns = self._clock_ns()
        self.stats.submitted += 1
        task = _running_loop().create_task(
            self._send_signed(lane.port, signed, cid, wait_ns, trigger_ns, decided, signed_ns))
        self._tasks.add(task)
        return cid

    def submit(self, venue: str, reqs: Sequence[OrderRequest], trigger_ns: int | None = None) -> list[int]:
        """Send one order or a batch (one request). All-or-nothing on risk and rate limits.

        Returns the client ids. Raises OrderDenied (nothing sent, nothing tracked) or KeyError for an
        unknown venue.
        """
        decided = self._clock_ns()
        route = self._routes.get(venue) or self._route(venue)
        if not reqs:
            return []
        if self.closed:  # a strategy reacting to the stop's cancels and fills must not open anything new
            self._deny("stopping")
            raise OrderDenied("stopping", f"{venue}: the engine is stopping, no new orders")
        check = self._risk_check
        try:
            if check is not None:
                for r in reqs:
                    rule = check(venue, r)
                    if rule is not None:
                        self._deny(rule)
                        raise OrderDenied(rule, f"{venue} {r.symbol} client_id={r.client_id}")
            # The rate limit first: a denied order must not have been prepared (a Lighter prepare takes a
            # nonce).
            acquire = route.acquire
            if acquire is None:
                wait_ns = 0
            else:
                key, weight = route.submit_key if len(reqs) == 1 else route.port.limit_key("submit", len(reqs))
                wait_ns = acquire(key, weight, decided)
                if wait_ns > 0:
                    wait_ns = self._waited(route.port, key, wait_ns, deny=True)
            # Prepare (validate against the market, build, sign) before anything is tracked: bad input raises
            # here and leaves no trace but the rate-limit slot it took.
            prepared = route.prepare(reqs)
        except BaseException:
            # Nothing is sent: the guard takes back what the checks of this batch booked.
            if self._risk_rollback is not None:
                self._risk_rollback()
            raise
        if self._risk_commit is not None:
            self._risk_commit()
        submitted = self._submitted
        for r in reqs:
            submitted(r.client_id, venue, r.symbol, _SIDE_STR.get(r.side, r.side), r.price or 0, r.size,
                      r.post_only, r.reduce_only, _TIF[r.tif])
        signed = self._clock_ns()
        self.stats.submitted += len(reqs)
        # The latency sample is built by the send task, off the tick-to-order path.
        # Created here, inside the caller's stack: the send starts on the loop's next iteration.
        task = _running_loop().create_task(
            self._send_submit(route.port, prepared, reqs, wait_ns, trigger_ns, decided, signed))
        self._tasks.add(task)  # the task takes itself out when it ends (_in_flight)
        # (a comprehension is one more frame on Python 3.11: not for the single order)
        return [reqs[0].client_id] if len(reqs) == 1 else [r.client_id for r in reqs]

    async def _send_submit(
        self, port: VenueOrderPort, prepared: Any, reqs: Sequence[OrderRequest], wait_ns: int,
        trigger_ns: int | None, decided_ns: int, signed_ns: int,
    ) -> None:
        with self._in_flight():
            await self._send_submit_now(port, prepared, tuple(r.client_id for r in reqs), wait_ns, trigger_ns,
                                        decided_ns, signed_ns)

    async def _send_signed(
        self, port: VenueOrderPort, signed: Any, cid: int, wait_ns: int, trigger_ns: int | None, decided_ns: int,
        signed_ns: int,
    ) -> None:
        """The send task of a `place_limit` order: the core's signed order becomes the port's prepared
        request here, off the decision's stack (`port.prepared_order`)."""
        with self._in_flight():
            await self._send_submit_now(port, signed, (cid,), wait_ns, trigger_ns, decided_ns, signed_ns,
                                        port.prepared_order)  # type: ignore[attr-defined]

    async def _send_submit_now(
        self, port: VenueOrderPort, prepared: Any, cids: tuple[int, ...], wait_ns: int,
        trigger_ns: int | None, decided_ns: int, signed_ns: int,
        finish: Callable[[Any], Any] | None = None,
    ) -> None:
        venue = port.venue
        try:
            if wait_ns > 0:
                await self._wait_slot(port, "submit", len(cids), wait_ns)
            if finish is not None:
                prepared = finish(prepared)
            if inspect.isawaitable(prepared):
                prepared = await prepared
            results = await port.send_submit(prepared)
        except Exception as e:
            # Whether the venue acted is unknown: reconciliation settles it.
            log.warning("%s submit of %d order(s) ended without an answer: %s", venue, len(cids), e)
            for c in cids:
                self.tracker.on_unresolved(c, venue, f"no answer: {e}")
            self.stats.unresolved += len(cids)
            return
        finally:
            if self.on_latency is not None:
                self.on_latency(LatencySample(venue, cids, trigger_ns, decided_ns, signed_ns, self._clock_ns()))
        self._apply_results(venue, results, set(cids))

    def _apply_results(self, venue: str, results: Sequence[SubmitResult], expected: set[int]) -> None:
        seen = set()
        for res in results:
            seen.add(res.client_id)
            if res.outcome is SubmitOutcome.ACCEPTED:
                self.tracker.on_ack(res.client_id, venue, res.venue_order_id)
                self.stats.acked += 1
            elif res.outcome is SubmitOutcome.REJECTED:
                self.tracker.on_reject(res.client_id, venue, res.reason)
                self.stats.rejected += 1
            else:
                self.tracker.on_unresolved(res.client_id, venue, res.reason)
                self.stats.unresolved += 1
        for cid in expected - seen:
            # The venue's answer did not mention this order: unknown, not rejected.
            self.tracker.on_unresolved(cid, venue, "missing from the venue's answer")
            self.stats.unresolved += 1

    # --- cancel ----------------------------------------------------------------------------------
    def cancel(self, venue: str, symbol: str, client_ids: Sequence[int]) -> None:
        """Request cancels (cancels are never denied by risk: they only reduce exposure)."""
        port = self.ports.get(venue)
        if port is None:
            raise KeyError(f"no connector for venue {venue!r}")
        if not client_ids:
            return
        wait_ns = self._acquire(port, "cancel", len(client_ids), deny=False)
        for cid in client_ids:
            self.tracker.on_cancel_requested(cid, venue)
        prepared = port.prepare_cancel(symbol, client_ids)
        self._spawn(self._send_cancel(port, prepared, client_ids, wait_ns))

    async def _send_cancel(self, port: VenueOrderPort, prepared: Any, client_ids: Sequence[int], wait_ns: int) -> None:
        with self._in_flight():
            await self._send_cancel_now(port, prepared, client_ids, wait_ns)

    async def _send_cancel_now(
        self, port: VenueOrderPort, prepared: Any, client_ids: Sequence[int], wait_ns: int
    ) -> None:
        venue = port.venue
        try:
            if wait_ns > 0:
                await self._wait_slot(port, "cancel", len(client_ids), wait_ns)
            if inspect.isawaitable(prepared):
                prepared = await prepared
            results = await port.send_cancel(prepared)
        except Exception as e:
            # The cancel may or may not have happened; the stream or reconciliation will tell.
            log.warning("%s cancel of %s ended without an answer: %s", venue, list(client_ids), e)
            return
        for res in results:
            if res.outcome is SubmitOutcome.ACCEPTED:
                self.tracker.on_cancel(res.client_id, venue, res.reason)
            elif res.outcome is SubmitOutcome.REJECTED:
                self.tracker.on_cancel_rejected(res.client_id, venue, res.reason)
                if self.on_cancel_refused is not None:
                    self.on_cancel_refused(venue, res.client_id, res.reason)

    # --- plumbing --------------------------------------------------------------------------------
    def _acquire(self, port: VenueOrderPort, op: str, count: int, deny: bool = True) -> int:
        limiter = self.limiters.get(port.venue)
        if limiter is None:
            return 0
        key, weight = port.limit_key(op, count)
        wait_ns = limiter.acquire(key, weight, self._clock_ns())
        return 0 if wait_ns <= 0 else self._waited(port, key, wait_ns, deny)

    def _waited(self, port: VenueOrderPort, key: str, wait_ns: int, deny: bool) -> int:
        """The limiter said wait `wait_ns` (> 0): deny beyond the budget, else the send task waits."""
        self.stats.limiter_waits += 1
        if deny and wait_ns > self.max_limiter_wait_ns:
            self._deny("rate_limited")
            raise OrderDenied("rate_limited", f"{port.venue} {key}: next slot in {wait_ns / 1e6:.1f} ms")
        # Within budget: the send task waits, then takes the slot (the limiter consumed nothing yet).
        return wait_ns

    async def _wait_slot(self, port: VenueOrderPort, op: str, count: int, wait_ns: int) -> None:
        key, weight = port.limit_key(op, count)
        await take_slot(self.limiters[port.venue], key, weight, already_waiting_ns=wait_ns, what=port.venue)

    def _deny(self, reason: str) -> None:
        self.stats.denied[reason] = self.stats.denied.get(reason, 0) + 1

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a send task (`_send_submit` / `_send_cancel`: they take themselves out of `_tasks`)."""
        self._tasks.add(_running_loop().create_task(coro))

    @contextlib.contextmanager
    def _in_flight(self) -> Iterator[None]:
        """Inside a send task: leave the in-flight set when the send ends. Cheaper on the order path than a
        done callback per task (one call and one loop callback fewer per order)."""
        try:
            yield
        finally:
            self._tasks.discard(asyncio.current_task())

    def _pending(self) -> set[asyncio.Task[None]]:
        # A task cancelled before its first step never ran its body: drop it here instead.
        done = [t for t in self._tasks if t.done()]
        self._tasks.difference_update(done)
        return self._tasks

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for every in-flight send (shutdown)."""
        pending = self._pending()
        if pending:
            await asyncio.wait(set(pending), timeout=timeout_s)

    @property
    def in_flight(self) -> int:
        return len(self._pending())
