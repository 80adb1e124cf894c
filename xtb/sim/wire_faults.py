"""The protocol servers' view of the fault plan: the questions a server asks at each hop on the wire.

`xtb.sim.faults.FaultPlan` decides (seeded, per connection id); this adapter names the connections
(`<venue>-rest`, `<venue>-ws-<n>`), reads the clock, and turns decisions into what the servers need:
an HTTP error with its retry hint, a skipped or duplicated book delta, a delayed or reordered private
event, a stalled or dropped socket, an accepted order whose response never comes in time, clock skew,
and whether a dropped session cancels its account's orders.
"""

from __future__ import annotations

from xtb.sim.clock import NS_PER_MS, Clock, RealClock
from xtb.sim.faults import Fault, FaultKind, FaultPlan


class WireFaults:
    def __init__(
        self, plan: FaultPlan | None = None, clock: Clock | None = None, response_timeout_s: float = 30.0
    ) -> None:
        self.plan = plan or FaultPlan()
        self.clock = clock or RealClock()
        # How long an ACCEPT_TIMEOUT response is held: longer than any sane client timeout.
        self.response_timeout_s = response_timeout_s

    def _should(self, kind: FaultKind, conn_id: str) -> Fault | None:
        if not self.plan.rules:
            return None
        return self.plan.should(kind, conn_id, self.clock.now_ns())

    def http_fault(self, venue: str) -> Fault | None:
        """A 429 or 5xx instead of running a REST call."""
        conn = f"{venue}-rest"
        return self._should(FaultKind.HTTP_429, conn) or self._should(FaultKind.HTTP_5XX, conn)

    def accept_timeout(self, venue: str) -> bool:
        return self._should(FaultKind.ACCEPT_TIMEOUT, f"{venue}-rest") is not None

    def sequence_fault(self, conn_id: str) -> str | None:
        """ "skip" (a book delta is not sent: a gap) or "duplicate" (sent twice) or None."""
        if self._should(FaultKind.SKIP_SEQ, conn_id) is not None:
            return "skip"
        if self._should(FaultKind.DUPLICATE_SEQ, conn_id) is not None:
            return "duplicate"
        return None

    def private_fault(self, conn_id: str) -> tuple[str, float] | None:
        """("delay", seconds) or ("reorder", 0) for one private event, or None."""
        fault = self._should(FaultKind.DELAY_PRIVATE, conn_id)
        if fault is not None:
            return "delay", fault.duration_s
        if self._should(FaultKind.REORDER_PRIVATE, conn_id) is not None:
            return "reorder", 0.0
        return None

    def socket_fault(self, conn_id: str) -> tuple[str, float] | None:
        """("drop", 0) or ("stall", seconds) before sending a frame, or None."""
        if self._should(FaultKind.DROP_SOCKET, conn_id) is not None:
            return "drop", 0.0
        fault = self._should(FaultKind.STALL_SOCKET, conn_id)
        if fault is not None:
            return "stall", fault.duration_s
        return None

    def clock_skew_ms(self, conn_id: str) -> int:
        if not self.plan.rules:
            return 0
        return self.plan.clock_skew_ns(conn_id, self.clock.now_ns()) // NS_PER_MS

    @property
    def cancel_on_disconnect(self) -> bool:
        return self.plan.cancel_on_disconnect

    def forget(self, conn_id: str) -> None:
        self.plan.forget(conn_id)
