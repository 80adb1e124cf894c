"""The settle at stop: re-read orders, fills and positions over REST until the bot and the venues agree.

After the strategy stopped, orders were cancelled and (if asked) positions flattened, the streams may still
owe us updates: a fill the venue made two seconds ago, a cancel's confirmation, a position. `settle()` asks
each venue over REST, concurrently and bounded in time: the connector's `settle()` (the contract's: a loop
of reconciliations through xtb.orders.reconcile until a pass finds nothing to correct). The result is an
`ExitReport` — flat or not, with what is left — which the engine logs
as its last word (`STOPPED: flat ...` / `STOPPED: NOT FLAT ...`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xtb.venues.contract import Connector

log = logging.getLogger("xtb.settle")


@dataclass
class ExitReport:
    """Where the bot left the venues, as the venues said over REST at the end of the settle."""

    positions: dict[str, dict[str, int]] = field(default_factory=dict)  # venue -> symbol -> size left
    open_orders: dict[str, list[int]] = field(default_factory=dict)  # venue -> client ids live in the tracker
    unresolved: dict[str, list[int]] = field(default_factory=dict)  # venue -> client ids still unresolved
    errors: list[str] = field(default_factory=list)  # venues that could not be read
    agreed: bool = False  # every venue agreed with the bot at the last read

    @property
    def flat(self) -> bool:
        return not self.errors and not any(self.positions.values()) and not any(self.open_orders.values()) \
            and not any(self.unresolved.values())

    def summary(self, markets: Mapping[str, Mapping[str, Any]] | None = None) -> str:
        """One line: `STOPPED: flat on a, b ...` or `STOPPED: NOT FLAT a SYM +0.1; 2 orders open on b; ...`."""
        venues = sorted(set(self.positions) | set(self.open_orders) | set(self.unresolved))
        if self.flat:
            return f"STOPPED: flat on {', '.join(venues) or 'no venue'} (confirmed by the venues over REST)"
        parts = []
        for venue, held in sorted(self.positions.items()):
            for symbol, size in sorted(held.items()):
                info = (markets or {}).get(venue, {}).get(symbol)
                qty = size / 10 ** info.size_decimals if info is not None else size
                parts.append(f"{venue} {symbol} {qty:+g}")
        for venue, cids in sorted(self.open_orders.items()):
            if cids:
                parts.append(f"{len(cids)} orders open on {venue} (client ids {', '.join(map(str, cids[:5]))})")
        for venue, cids in sorted(self.unresolved.items()):
            if cids:
                parts.append(f"{len(cids)} orders unresolved on {venue}")
        parts.extend(f"unverified: {e}" for e in self.errors)
        return "STOPPED: NOT FLAT " + "; ".join(parts) + " (check and close with: xtb flatten CONFIG)"

    def as_dict(self) -> dict[str, Any]:
        return {"flat": self.flat, "positions": self.positions, "open_orders": self.open_orders,
                "unresolved": self.unresolved, "errors": self.errors, "agreed": self.agreed}


@dataclass
class _VenueSettle:
    positions: dict[str, int]
    agreed: bool


async def _settle_venue(venue: str, conn: Connector, drain: Callable[[], Any] | None,
                        timeout_s: float, step_s: float) -> _VenueSettle:
    """The connector's reconciler loop (xtb.orders.reconcile.SettleReport), bounded by `timeout_s`."""
    rep = await conn.settle(timeout_s=timeout_s, interval_s=step_s)
    if drain is not None:
        drain()
    return _VenueSettle(dict(rep.positions), bool(rep.agreed))


async def settle(connectors: Mapping[str, Connector], tracker: Any, *, timeout_s: float = 6.0, step_s: float = 0.3,
                 drain: Callable[[], Any] | None = None) -> ExitReport:
    """Settle every venue concurrently (each bounded by `timeout_s`); the report of the last reads.
    `drain` (the dispatcher's) delivers the events the reads produced before the tracker is asked."""
    names = list(connectors)
    results = await asyncio.gather(*(_settle_venue(n, connectors[n], drain, timeout_s, step_s)
                                     for n in names), return_exceptions=True)
    if drain is not None:
        drain()
    report = ExitReport(agreed=True)
    for name, res in zip(names, results, strict=True):
        if isinstance(res, BaseException):
            report.errors.append(f"{name}: {type(res).__name__}: {res}")
            report.agreed = False
            continue
        report.positions[name] = res.positions
        report.agreed = report.agreed and res.agreed
        report.open_orders[name] = [o.client_id for o in tracker.open_orders(name) if o.state != "unresolved"]
        report.unresolved[name] = [o.client_id for o in tracker.unresolved() if o.venue == name]
    if not report.agreed:
        log.warning("settle: bot and venues did not agree within %.1f s (%s)", timeout_s, report.as_dict())
    return report
