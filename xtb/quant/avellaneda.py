"""Avellaneda-Stoikov quotes in closed form, with the Gueant-Lehalle-Fernandez-Tapia bounded-inventory variant.

Units: prices in quote currency per base unit (floats), time in seconds, sigma the standard deviation of
the mid *in price units* per sqrt(second) (what `MidVolatility` estimates), gamma the risk aversion in
1/(price x inventory unit), k the order-book liquidity parameter in 1/price (fills arrive at intensity
A*exp(-k*delta) for a quote delta away from the mid), A in 1/second.

Avellaneda & Stoikov, "High-frequency trading in a limit order book", Quantitative Finance 8(3), 2008:

    reservation price   r = s - q * gamma * sigma^2 * (T - t)
    optimal spread      delta_a + delta_b = gamma * sigma^2 * (T - t) + (2 / gamma) * ln(1 + gamma / k)

and the quotes sit symmetrically around r. These are floats at the model edge: a caller converts them to
venue ticks with `xtb.quant.quoting` (bids rounded down, asks up).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from itertools import pairwise


def _positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0 (got {value!r})")


def _non_negative(name: str, value: float) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0 (got {value!r})")


def reservation_price(mid: float, inventory: float, gamma: float, sigma: float, tau: float) -> float:
    """r = s - q * gamma * sigma^2 * tau: the mid shifted against the inventory q."""
    _positive("gamma", gamma)
    _non_negative("sigma", sigma)
    _non_negative("tau", tau)
    return mid - inventory * gamma * sigma * sigma * tau


def optimal_spread(gamma: float, sigma: float, tau: float, k: float) -> float:
    """Total distance between the two quotes: gamma * sigma^2 * tau + (2 / gamma) * ln(1 + gamma / k)."""
    _positive("gamma", gamma)
    _positive("k", k)
    _non_negative("sigma", sigma)
    _non_negative("tau", tau)
    return gamma * sigma * sigma * tau + (2.0 / gamma) * math.log1p(gamma / k)


@dataclass(frozen=True)
class Quotes:
    """Model quotes in price units; a side is None when the model says not to quote it."""

    bid: float | None
    ask: float | None
    reservation: float
    spread: float  # ask - bid (when both sides quote)


def as_quotes(mid: float, inventory: float, *, gamma: float, sigma: float, tau: float, k: float) -> Quotes:
    """Avellaneda-Stoikov bid/ask: r -/+ half the optimal spread."""
    r = reservation_price(mid, inventory, gamma, sigma, tau)
    spread = optimal_spread(gamma, sigma, tau, k)
    return Quotes(r - spread / 2.0, r + spread / 2.0, r, spread)


def glft_quotes(
    mid: float, inventory_lots: float, *, gamma: float, sigma: float, k: float, a: float, max_inventory_lots: float,
) -> Quotes:
    """Gueant-Lehalle-Fernandez-Tapia closed-form approximation for inventory bounded in [-Q, Q].

    Gueant, Lehalle & Fernandez-Tapia, "Dealing with the inventory risk: a solution to the market making
    problem", Mathematics and Financial Economics 7(4), 477-507 (2013), asymptotic (T -> infinity)
    approximation of the optimal quotes, with q the inventory in lots:

        c        = sqrt( (sigma^2 * gamma) / (2 * k * A) * (1 + gamma / k) ** (1 + k / gamma) )
        delta_b  = (1 / gamma) * ln(1 + gamma / k) + (2q + 1) / 2 * c       (bid distance below the mid)
        delta_a  = (1 / gamma) * ln(1 + gamma / k) - (2q - 1) / 2 * c       (ask distance above the mid)

    so the spread (2 / gamma) * ln(1 + gamma / k) + c does not depend on q and the centre moves by -q * c.
    The inventory bound is what the model is solved under: at q >= Q no bid is quoted, at q <= -Q no ask.
    Unlike Avellaneda-Stoikov there is no horizon: the quotes are stationary.
    """
    _positive("gamma", gamma)
    _positive("k", k)
    _positive("a", a)
    _non_negative("sigma", sigma)
    _positive("max_inventory_lots", max_inventory_lots)
    c = glft_inventory_coefficient(gamma=gamma, sigma=sigma, k=k, a=a)
    base = math.log1p(gamma / k) / gamma
    q = max(-max_inventory_lots, min(max_inventory_lots, inventory_lots))
    delta_b = base + (2.0 * q + 1.0) / 2.0 * c
    delta_a = base - (2.0 * q - 1.0) / 2.0 * c
    bid = None if inventory_lots >= max_inventory_lots else mid - delta_b
    ask = None if inventory_lots <= -max_inventory_lots else mid + delta_a
    return Quotes(bid, ask, mid - q * c, delta_a + delta_b)


def glft_inventory_coefficient(*, gamma: float, sigma: float, k: float, a: float) -> float:
    """The GLFT skew per lot: sqrt(sigma^2 gamma / (2 k A) * (1 + gamma/k)^(1 + k/gamma))."""
    _positive("gamma", gamma)
    _positive("k", k)
    _positive("a", a)
    _non_negative("sigma", sigma)
    # (1 + g/k)^(1 + k/g) through logs: for tiny g/k the power is large but the product stays near e.
    log_term = (1.0 + k / gamma) * math.log1p(gamma / k)
    return math.sqrt(sigma * sigma * gamma / (2.0 * k * a) * math.exp(log_term))


class MidVolatility:
    """Volatility of the mid from rolling samples: realized variance per second over a time window.

    sigma^2 = sum((m_i - m_{i-1})^2) / sum(t_i - t_{i-1}) over the samples inside `window_s`, in price
    units per sqrt(second). Summing squared moves over the elapsed time makes irregular sampling (ticks
    skipped under load) unbiased for a Brownian mid.
    """

    def __init__(self, window_s: float, *, min_samples: int = 10, max_samples: int = 10_000) -> None:
        _positive("window_s", window_s)
        if min_samples < 2:
            raise ValueError(f"min_samples must be >= 2 (got {min_samples})")
        self.window_s = window_s
        self.min_samples = min_samples
        self._samples: deque[tuple[float, float]] = deque(maxlen=max_samples)

    def add(self, t_s: float, mid: float) -> None:
        """Add a mid sample at time t_s (seconds, non-decreasing); samples older than the window drop out."""
        if self._samples and t_s < self._samples[-1][0]:
            raise ValueError(f"sample time went backwards ({t_s} < {self._samples[-1][0]})")
        self._samples.append((t_s, mid))
        horizon = t_s - self.window_s
        while len(self._samples) > 2 and self._samples[0][0] < horizon:
            self._samples.popleft()

    def __len__(self) -> int:
        return len(self._samples)

    def sigma(self) -> float | None:
        """Price units per sqrt(second); None until `min_samples` samples span a positive time."""
        if len(self._samples) < self.min_samples:
            return None
        mids = [m for _, m in self._samples]
        sq = sum((b - a) ** 2 for a, b in pairwise(mids))
        elapsed = self._samples[-1][0] - self._samples[0][0]
        if elapsed <= 0:
            return None
        return math.sqrt(sq / elapsed)
