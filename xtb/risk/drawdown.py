"""Drawdown bands: entering a deeper unrealized-loss band asks for a staged reduce of every position.

    bands [5, 8, 12], fractions [0.15, 0.25, 0.40]: a loss of 8.3 (quote) closes 25 % of each position

Each band fires once on the way down; a loss that recovers above a band re-arms it. After a reduce the
cooldown (reduceCooldownSeconds) holds any further one, so fees and noise do not pile up; a band entered
during the cooldown fires when it ends, if the loss is still there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReduceRequest:
    band: int  # index into the bands
    loss: float  # the unrealized loss that triggered it (quote, positive)
    fraction: float  # of each position to close
    reason: str = "drawdown"  # or "reduce_only_threshold" (band -1: close everything)


class DrawdownBands:
    def __init__(self, bands: list[float], fractions: list[float], cooldown_s: float) -> None:
        if len(bands) != len(fractions) or not bands:
            raise ValueError("drawdown bands and reduce fractions must be non-empty and of the same length")
        self.bands = list(bands)
        self.fractions = list(fractions)
        self.cooldown_s = cooldown_s
        self.fired = -1  # deepest band already acted on
        self.cooldown_until = float("-inf")

    def update(self, unrealized: float, now: float) -> ReduceRequest | None:
        loss = -unrealized
        deepest = -1
        for i, level in enumerate(self.bands):
            if loss >= level:
                deepest = i
        if deepest < self.fired:
            self.fired = deepest  # recovered: the bands above re-arm
            return None
        if deepest == self.fired or now < self.cooldown_until:
            return None
        self.fired = deepest
        self.cooldown_until = now + self.cooldown_s
        return ReduceRequest(deepest, loss, self.fractions[deepest])
