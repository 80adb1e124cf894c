"""Lighter's weighted REST rate limit: a budget of weight per rolling minute, per client address.

Documented weights: sendTx / sendTxBatch / nextNonce 6, apikeys 150, accountInactiveOrders 100,
trades / recentTrades 600, everything else 300. Budgets by account type: Premium 24,000, Plus 120,000,
Builder 240,000 per minute (Standard is 60 unweighted requests per minute).
"""

from __future__ import annotations

from collections import deque

WINDOW_S = 60.0
WEIGHTS = {
    "/api/v1/sendTx": 6,
    "/api/v1/sendTxBatch": 6,
    "/api/v1/nextNonce": 6,
    "/api/v1/apikeys": 150,
    "/api/v1/accountInactiveOrders": 100,
    "/api/v1/recentTrades": 600,
    "/api/v1/trades": 600,
    "/api/v1/changeAccountTier": 3000,
}
DEFAULT_WEIGHT = 300


class WeightedLimiter:
    def __init__(self, budget_per_minute: int) -> None:
        if budget_per_minute <= 0:
            raise ValueError("budget_per_minute must be positive")
        self.budget = budget_per_minute
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._used: dict[str, int] = {}

    def try_spend(self, client: str, path: str, now_s: float) -> float | None:
        """Charge `path`'s weight to `client`; None if allowed, else seconds until it would fit."""
        weight = WEIGHTS.get(path, DEFAULT_WEIGHT)
        spent = self._spent.setdefault(client, deque())
        used = self._used.get(client, 0)
        while spent and spent[0][0] <= now_s - WINDOW_S:
            used -= spent.popleft()[1]
        if used + weight > self.budget:
            self._used[client] = used
            freed, wait = 0, WINDOW_S
            for ts, w in spent:  # the earliest time enough weight has left the window
                freed += w
                if used - freed + weight <= self.budget:
                    wait = ts + WINDOW_S - now_s
                    break
            return max(wait, 0.0)
        spent.append((now_s, weight))
        self._used[client] = used + weight
        return None
