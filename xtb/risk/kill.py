"""Kill switch: halt the guard (latched), cancel every open order, optionally close every position.

`kill_switch` returns what the flatten left; `kill_and_verify` (the control endpoint's and `xtb kill`'s)
returns the per-venue flatten reports: positions found, closing orders, what is left, open orders left,
whether the final read succeeded.

The halt comes first so that no strategy order slips out while the cancels are in flight; cancels and
the flatten are never denied by the guard (the flatten's reduce-only market orders go through the
connectors directly). Trading stays halted until the operator sets the guard back to active.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from xtb.risk.guard import RiskGuard
from xtb.risk.state import TradingState

log = logging.getLogger("xtb.risk")


class Killable(Protocol):
    async def cancel_all(self) -> None: ...
    async def flatten(self) -> Any: ...


class VerifiedKillable(Protocol):
    async def cancel_all(self) -> None: ...
    async def flatten_report(self) -> dict[str, Any]: ...


async def kill_switch(guard: RiskGuard, engine: Killable, reason: str, *, flatten: bool = True) -> Any:
    """Returns what the flatten left per venue/symbol (None without a flatten)."""
    guard.set_state(TradingState.HALTED, f"kill switch: {reason}")
    log.critical("kill switch: %s (flatten=%s)", reason, flatten)
    await engine.cancel_all()
    if not flatten:
        return None
    return await engine.flatten()


async def kill_and_verify(
    guard: RiskGuard, engine: VerifiedKillable, reason: str, *, flatten: bool = True
) -> dict[str, Any] | None:
    """Halt (latched), cancel all, then (with flatten) close every position reduce-only and verify each
    venue: returns one report per venue (each with `.flat`), None without a flatten."""
    guard.set_state(TradingState.HALTED, f"kill switch: {reason}")
    log.critical("kill switch: %s (flatten=%s)", reason, flatten)
    await engine.cancel_all()
    if not flatten:
        return None
    reports = await engine.flatten_report()
    for venue, rep in reports.items():
        if rep.flat:
            log.warning("kill switch: %s flat (closed %s with %d orders)", venue, rep.before or "nothing",
                        rep.orders_sent)
        else:
            log.critical("kill switch: %s NOT flat: left %s, open orders %d, errors %s", venue, rep.left,
                         rep.open_orders_left, rep.errors)
    return reports
