"""Settle: REST reconciliations, repeated until the bot and the venue agree (the engine's stop path)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from xtb._core import OrderTracker
from xtb.orders.reconcile import ReconcilePass, SettleReport


async def settle_until_agreed(
    venue: str,
    reconcile: Callable[[], Awaitable[ReconcilePass]],
    tracker: OrderTracker,
    timeout_s: float,
    interval_s: float,
    submit_window_s: float = 0.0,
) -> SettleReport:
    """Reconcile, and again every `interval_s`, until one pass finds nothing to correct or `timeout_s`
    has passed (at least one pass runs). A pass that fails counts as a disagreement, not an error.

    An order still unresolved at the deadline (sent, never answered, not found by the look-ups) is settled
    by the reconciler's not-found rule once its submit window (`submit_window_s`) has passed: the settle
    waits for that, at most `timeout_s` more, instead of ending with an order the venue does not have
    reported as unresolved; one whose window ends later stays unresolved in the report (never guessed)."""
    started = time.monotonic()
    deadline = started + timeout_s
    rounds = 0
    last: tuple[str, ...] = ()
    positions: dict[str, int] = {}
    while True:
        rounds += 1
        try:
            result = await reconcile()
        except Exception as e:  # the stop path reports a failing venue, it does not raise
            last = (f"reconciliation failed: {type(e).__name__}: {e}",)
        else:
            last = result.disagreements
            positions = {s: p.size for s, p in result.positions.positions.items() if p.size}
            if not last:
                live = tuple(sorted(o.client_id for o in tracker.open_orders(venue)))
                return SettleReport(venue, True, rounds, (), live, positions)
        if time.monotonic() + interval_s > deadline:
            deadline = _unresolved_deadline(venue, tracker, deadline, submit_window_s, interval_s,
                                            started + timeout_s + min(submit_window_s, timeout_s))
        if time.monotonic() + interval_s > deadline:
            live = tuple(sorted(o.client_id for o in tracker.open_orders(venue)))
            return SettleReport(venue, False, rounds, last, live, positions)
        await asyncio.sleep(interval_s)


def _unresolved_deadline(venue: str, tracker: OrderTracker, deadline: float, window_s: float, interval_s: float,
                         limit: float) -> float:
    """The deadline, moved to just past the submit window of the newest unresolved order (capped)."""
    newest = max((o.updated_ns for o in tracker.unresolved() if o.venue == venue), default=None)
    if newest is None or window_s <= 0:
        return deadline
    # a whole pass must start after the window ends: one interval to wait, one for a pass, a margin
    return min(max(deadline, newest / 1e9 + window_s + 2 * interval_s + 0.25), limit)
