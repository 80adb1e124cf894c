"""Trading state: active -> reducing (only reduce-only orders pass) -> halted (nothing but cancels).

Rules and the operator switch it. A rule halt carries a cooldown (`until`) after which trading lifts back
to active; a halt without one (stop loss, or the operator's) latches until the operator resumes. A stricter
state is never replaced by a milder rule action: only the operator can step down from a latched halt.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


@dataclass
class StateMachine:
    state: TradingState = TradingState.ACTIVE
    reason: str = ""
    since: float = 0.0
    until: float | None = None  # a timed state lifts back to active at this time
    by_operator: bool = False
    transitions: int = 0

    def refresh(self, now: float) -> None:
        if self.until is not None and now >= self.until:
            self._go(TradingState.ACTIVE, f"cooldown over after {self.reason}", now, None, False)

    def operator(self, state: TradingState | str, reason: str, now: float, for_s: float | None = None) -> None:
        """The operator's switch: any state, any direction; `for_s` makes it lift by itself."""
        st = TradingState(state)
        if for_s is not None and for_s <= 0:
            raise ValueError(f"for_s must be > 0 (got {for_s})")
        until = None if for_s is None or st is TradingState.ACTIVE else now + for_s
        self._go(st, reason or "operator", now, until, True)

    def rule(self, state: TradingState, reason: str, now: float, cooldown_s: float | None) -> bool:
        """A rule escalates (never relaxes). Returns whether anything changed."""
        self.refresh(now)
        until = None if not cooldown_s else now + cooldown_s
        if _SEVERITY[state] < _SEVERITY[self.state]:
            return False
        if state is self.state:
            if self.until is None:
                return False  # latched already: keep the first reason
            if until is None or until > self.until:
                # Same state again: the later end (or a latch) wins; the reason is the newest cause.
                self.until, self.reason = until, reason
                return True
            return False
        self._go(state, reason, now, until, False)
        return True

    def _go(self, state: TradingState, reason: str, now: float, until: float | None, by_operator: bool) -> None:
        self.state, self.reason, self.since, self.until, self.by_operator = state, reason, now, until, by_operator
        self.transitions += 1
