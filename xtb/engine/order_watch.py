"""OrderWatch: ask a venue over REST about our live orders when its stream may have missed a change.

A venue's private stream is how the bot learns that an order filled. When the stream is late (stalled,
silent, reconnecting), a strategy holding the other leg of an arbitrage would otherwise wait for the next
periodic reconciliation (30 s). The watch asks the connector's `check_orders` (REST, through the
reconciler) about:

- an order whose cancel the venue refused (already filled, or unknown there): at once;
- a live order nothing has been heard of for `quiet_s` (no update of the order, no private event from its
  venue): then again after 2x, 4x ... that quiet time (capped at `max_interval_s`), until the order or its
  venue's stream speaks again, so a resting order on a quiet venue costs a few requests, not a steady poll.
  The engine takes both from the config (`general.order_watch_quiet_s`, default 1 s, and
  `general.order_watch_max_interval_s`, default 16 s; xtb.engine.runtime builds the watch).

The watch only decides when to ask; the connector translates the venue's answer, the reconciler applies it
to the core tracker, and a filled size that moved reaches the strategy as an order update (and the fills
and positions follow), whichever report would have come first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("xtb.engine.order_watch")

#: tracker states worth asking about (acknowledged or unknown outcome; a submit in flight is not)
WATCHED_STATES = frozenset(("open", "partially_filled", "pending_cancel", "unresolved"))


class OrderWatch:
    """Per venue: which live orders to check over REST, and when. A dispatcher listener (private events
    reset the quiet time) and a clock tick handler (`on_tick`)."""

    def __init__(self, connectors: Mapping[str, Any], tracker: Any, *, quiet_s: float = 1.0,
                 max_interval_s: float = 16.0, clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        if not quiet_s > 0:
            raise ValueError(f"quiet_s: must be positive, got {quiet_s}")
        if not max_interval_s >= quiet_s:
            raise ValueError(f"max_interval_s: must be at least quiet_s ({quiet_s}), got {max_interval_s}")
        self.tracker = tracker
        self.ports = {v: c for v, c in connectors.items() if hasattr(c, "check_orders")}
        self.quiet_ns = int(quiet_s * 1e9)
        self.max_interval_ns = int(max_interval_s * 1e9)
        self._clock_ns = clock_ns
        self._heard_ns: dict[str, int] = {}  # venue -> last private event (order, fill, position)
        self._due: dict[tuple[str, int], tuple[int, int]] = {}  # (venue, cid) -> (checks this quiet time, last ns)
        self._urgent: dict[str, set[int]] = {}  # venue -> client ids to check at once
        self._busy: dict[str, asyncio.Task[None]] = {}
        self.checks = 0
        self.moved = 0  # checks that found a filled size the streams had not delivered
        self.errors = 0

    # dispatcher listener ---------------------------------------------------------------------------
    def on_order(self, ev: Any) -> None:
        self._heard_ns[ev.venue] = self._clock_ns()

    on_fill = on_position = on_order

    # triggers --------------------------------------------------------------------------------------
    def cancel_refused(self, venue: str, client_id: int, reason: str | None = None) -> None:
        """The venue refused a cancel: the order may have filled meanwhile; ask at the next tick."""
        if venue in self.ports:
            self._urgent.setdefault(venue, set()).add(client_id)

    def on_tick(self, now_ms: int | None = None) -> None:
        now = self._clock_ns()
        live: set[tuple[str, int]] = set()
        for venue in self.ports:
            if venue in self._busy:
                continue
            wanted = self._urgent.pop(venue, set())
            heard = self._heard_ns.get(venue, 0)
            for o in self.tracker.open_orders(venue):
                key = (venue, o.client_id)
                live.add(key)
                if o.state not in WATCHED_STATES:
                    continue
                checks, last_check = self._due.get(key, (0, 0))
                quiet_since = max(o.updated_ns, heard)
                if quiet_since > last_check:  # heard of since the last check: a new quiet time starts
                    checks = 0
                self._due[key] = (checks, last_check)
                gap = self.quiet_ns if checks == 0 else min(self.quiet_ns << (checks - 1), self.max_interval_ns)
                if now - max(quiet_since, last_check) >= gap:
                    wanted.add(o.client_id)
            if wanted:
                for cid in wanted:
                    checks, _ = self._due.get((venue, cid), (0, 0))
                    self._due[(venue, cid)] = (min(checks + 1, 30), now)
                self._start(venue, sorted(wanted))
        for key in [k for k in self._due if k not in live and k[0] not in self._busy]:
            del self._due[key]

    # checks ----------------------------------------------------------------------------------------
    def _start(self, venue: str, client_ids: list[int]) -> None:
        task = asyncio.get_running_loop().create_task(self._check(venue, client_ids),
                                                      name=f"order-watch-{venue}")
        self._busy[venue] = task

    async def _check(self, venue: str, client_ids: list[int]) -> None:
        try:
            self.checks += 1
            if await self.ports[venue].check_orders(client_ids):
                self.moved += 1
                log.info("%s: orders %s had moved at the venue before the stream said so (REST check)",
                         venue, client_ids)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the next tick (or the reconciliation) asks again
            self.errors += 1
            log.warning("%s: order check over REST failed: %s", venue, e)
        finally:
            self._busy.pop(venue, None)

    async def stop(self) -> None:
        tasks = list(self._busy.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        self._busy.clear()
