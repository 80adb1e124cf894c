"""The Avellaneda strategy's quotes reproduce Avellaneda & Stoikov (2008), Table 1 (gamma = 0.1).

The paper's own simulation: s0 = 100, T = 1, sigma = 2, dt = 0.005, a mid that moves +/- sigma*sqrt(dt) each step
with probability 1/2, fills of our bid / ask with probability A*exp(-k*delta)*dt (A = 140, k = 1.5), inventory
strategy quoting around the reservation price. Target for gamma = 0.1: spread 1.49, profit ~65, std(profit) ~6.6
(the paper's model and parameters simulated over 1000 paths). The quotes come from the strategy's own
`model_quotes` (strategies/avellaneda.py), 2000 seeded paths; tolerances are a few standard errors
(std/sqrt(2000) = 0.15 on the mean profit).

This checks the model itself: the closed-form quotes in the paper's own loop, no orders, no venue. The same table
reproduced by the strategy class unchanged, replayed over synthetic journals with replay's intensity fill model
(orders, gateway, simulated exchange, journal clock), is tests/quant/test_avellaneda_replay.py."""

from __future__ import annotations

import math
import random
import statistics

from strategies.avellaneda import AvellanedaParams, model_quotes

S0, T, SIGMA, DT, A, K = 100.0, 1.0, 2.0, 0.005, 140.0, 1.5


def simulate(gamma: float, paths: int, seed: int) -> tuple[float, list[float]]:
    p = AvellanedaParams(gamma=gamma, k=K, model="as")
    rng = random.Random(seed)
    steps = round(T / DT)
    step = SIGMA * math.sqrt(DT)
    spreads: list[float] = []
    profits: list[float] = []
    for _ in range(paths):
        s, q, cash = S0, 0.0, 0.0
        for i in range(steps):
            quotes = model_quotes(p, s, q, SIGMA, T - i * DT)
            assert quotes.bid is not None and quotes.ask is not None
            spreads.append(quotes.ask - quotes.bid)
            if rng.random() < A * math.exp(-K * (s - quotes.bid)) * DT:
                q, cash = q + 1, cash - quotes.bid
            if rng.random() < A * math.exp(-K * (quotes.ask - s)) * DT:
                q, cash = q - 1, cash + quotes.ask
            s += step if rng.random() < 0.5 else -step
        profits.append(cash + q * s)
    return statistics.fmean(spreads), profits


def test_inventory_strategy_matches_table_1_for_gamma_0_1() -> None:
    spread, profits = simulate(0.1, paths=2000, seed=2008)
    assert abs(spread - 1.49) < 0.01
    assert abs(statistics.fmean(profits) - 65.0) < 1.0
    assert abs(statistics.pstdev(profits) - 6.6) < 0.6
