"""Fill models for replay's resting orders: the recorded tape (default) or a fill intensity.

`tape` (no model object): a resting order fills when the recorded touch trades through its price (or, with a
queue model, when recorded prints at its price use up the queue ahead) — see xtb/journal/replay.py.

`FillIntensity`: Avellaneda & Stoikov's (2008) Poisson fill model, the one hftbacktest-style and market-making
papers calibrate: market orders reach a depth delta from the mid at intensity A*exp(-k*delta), so over a step
of dt seconds an order delta away from the mid fills with probability min(1, A*exp(-k*delta)*dt). In replay the
step is the time between two delivered book updates of the book, delta is measured from the mid recorded at the
start of the step (the mid in force while the order rested), and one uniform draw per side and step decides how
deep the arriving order reaches: every order of ours on that side whose probability exceeds the draw fills (the
best-priced first, at its own price), up to `size` base units per step (default: all of them in full). Each
order's own fill probability per step is then exactly the paper's. The recorded touch never fills a resting
order in this mode; aggressive orders still take the recorded touch.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

FILL_MODELS = ("tape", "intensity")


@dataclass(frozen=True)
class FillIntensity:
    """A = intensity at zero distance, per second; k = decay per unit of price (quote currency per base unit,
    the paper's units); `seed` seeds the draws; `size` caps the base units filled per side and step."""

    a: float
    k: float
    seed: int = 0
    size: Decimal | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.a) and self.a > 0):
            raise ValueError(f"fill_a: must be a finite number > 0 (got {self.a!r})")
        if not (math.isfinite(self.k) and self.k >= 0):
            raise ValueError(f"fill_k: must be a finite number >= 0 (got {self.k!r})")
        if self.size is not None and not (Decimal(self.size).is_finite() and Decimal(self.size) > 0):
            raise ValueError(f"fill_size: must be > 0 base units (got {self.size!r})")

    def probability(self, distance: float, dt_s: float) -> float:
        """P(an order `distance` from the mid fills within `dt_s` seconds), per the model (capped at 1)."""
        x = self.a * dt_s * math.exp(min(700.0, -self.k * distance))
        return min(1.0, x)


class IntensityDraws:
    """The seeded draws of one venue: which of our orders on one side the step's arriving order reaches."""

    def __init__(self, model: FillIntensity, venue: str) -> None:
        self.model = model
        self._rng = random.Random(f"{model.seed}:{venue}")
        self.steps = 0  # side-steps drawn (orders on that side were resting)

    def reach(self, distances: Sequence[float], dt_s: float) -> int:
        """How many of `distances` (one side's orders, best-priced first: distances ascending) fill this step."""
        self.steps += 1
        u = self._rng.random()
        n = 0
        for d in distances:
            if self.model.probability(d, dt_s) <= u:
                break
            n += 1
        return n
