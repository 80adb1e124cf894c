"""The desk's event log: the last N operator-relevant events (fills, rejects, denials, alerts, signals,
operator actions), numbered so the panel asks only for what it has not seen."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class DeskEvent:
    seq: int
    ts_ms: int
    kind: str  # fill | order | denial | alert | signal | risk | operator | retry | resync
    level: str  # info | warning | error
    text: str


class EventLog:
    def __init__(self, size: int = 2000) -> None:
        if size < 1:
            raise ValueError(f"event log size must be >= 1, got {size}")
        self._items: deque[DeskEvent] = deque(maxlen=size)
        self.seq = 0

    def add(self, kind: str, text: str, level: str = "info") -> DeskEvent:
        self.seq += 1
        ev = DeskEvent(self.seq, time.time_ns() // 1_000_000, kind, level, text)
        self._items.append(ev)
        return ev

    def since(self, seq: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        """Events after `seq`, oldest first, at most the newest `limit` of them."""
        out = [asdict(e) for e in self._items if e.seq > seq]
        return out[-limit:]
