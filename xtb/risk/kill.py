"""Kill switch: halt the guard (latched), cancel every open order, optionally close every position.

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


async def kill_switch(guard: RiskGuard, engine: Killable, reason: str, *, flatten: bool = True) -> Any:
    """Returns what the flatten left per venue/symbol (None without a flatten)."""
    guard.set_state(TradingState.HALTED, f"kill switch: {reason}")
    log.critical("kill switch: %s (flatten=%s)", reason, flatten)
    await engine.cancel_all()
    if not flatten:
        return None
    return await engine.flatten()
