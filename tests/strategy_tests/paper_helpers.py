"""Paper-mode helpers shared by the strategy tests: the bounded poll, readers of the bot's accounts on the simulated
venues, and a paper engine whose simulator the test calms down (no random taker flow, no random basis).

tests/strategy_tests has no __init__.py: pytest's default (prepend) import mode puts this directory on sys.path,
so the test files import it as ``from paper_helpers import ...``."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

from xtb.engine.engine import Engine
from xtb.sim.aster.dialect import MARKETS as ASTER_MARKETS
from xtb.sim.backpack.dialect import MARKETS as BACKPACK_MARKETS
from xtb.sim.lighter.dialect import MARKETS as LIGHTER_MARKETS


async def wait_for(cond: Any, timeout_s: float, step: Any = None) -> bool:
    """Poll ``cond`` every 50 ms for at most ``timeout_s``; ``step`` (if given) runs between polls."""
    for _ in range(int(timeout_s / 0.05)):  # bounded
        if cond():
            return True
        if step is not None:
            step()
        await asyncio.sleep(0.05)
    return bool(cond())


# --- the bot's accounts on the simulated venues (the venues' own truth) ------------------------------------
def generator_accounts(sim: Any) -> set[Any]:
    """The accounts the simulator's market-data generator trades with: every other account is the bot's."""
    gen = sim.generator
    return {a for i in range(len(gen._feeds)) for a in gen.accounts(i)}


def user_positions(sim: Any) -> dict[str, list[int]]:
    """Non-zero positions of every non-generator account on each simulated venue."""
    generated = generator_accounts(sim)
    return {name: [p.size for a in h.exchange.accounts() if a not in generated
                   for p in h.exchange.positions(a) if p.size != 0] for name, h in sim.venues.items()}


def user_cash_usdc(sim: Any) -> Fraction:
    """Cash of the bot's accounts on all venues (collateral with realised PnL and fees, funding added back), USDC."""
    generated = generator_accounts(sim)
    total = Fraction(0)
    for handle in sim.venues.values():
        ex = handle.exchange
        for a in ex.accounts():
            if a not in generated:
                # funding is not trading PnL: a test that straddles the hourly funding time must not see it
                funding = ex._account(a).account.funding_paid
                total += Fraction(ex.balance(a).cash + funding, 10 ** ex.rules.cash_decimals)
    return total


def open_spread(engine: Engine, venue: str, underlying: str, bps: float) -> None:
    """Push one venue's basis away from fair value; it decays back with the configured half-life."""
    exchange = engine.sim.venues[venue].exchange
    for feed in engine.sim.generator._feeds:  # test hook into the generator's per-feed state
        if feed.cfg.exchange is exchange and feed.cfg.underlying == underlying:
            feed.basis_bps = bps
            return
    raise AssertionError(f"no {venue} {underlying} feed")


# --- a paper engine on a quiet simulator -------------------------------------------------------------------
class _QuietEngine(Engine):
    """The paper engine with the simulator built from the test's options instead of the config's sim section."""

    def __init__(self, config: Any, venues: tuple[str, ...] | None, calm_sol: bool,
                 feed_options: dict[str, Any]) -> None:
        super().__init__(config)
        self._sim_venues, self._calm_sol, self._feed_options = venues, calm_sol, feed_options

    async def _start_sim(self) -> None:
        from xtb.sim.cluster import ClusterConfig, SimCluster
        from xtb.sim.generator import UnderlyingConfig

        options: dict[str, Any] = {}
        if self._sim_venues is not None:
            options["venues"] = self._sim_venues
        if self._calm_sol:
            options.update(
                updates_per_s=150.0,
                underlyings=(UnderlyingConfig("SOL", 150.0, volatility=0.05, jumps_per_hour=0.0),),
                backpack_markets=tuple(m for m in BACKPACK_MARKETS if m.underlying == "SOL"),
                lighter_markets=tuple(m for m in LIGHTER_MARKETS if m.underlying == "SOL"),
                markets={"aster": tuple(m for m in ASTER_MARKETS if m.underlying == "SOL")},
            )
        self.sim = SimCluster(ClusterConfig(seed=self.config.general.seed or 0, **options,
                                            extra_feed_options=dict(self._feed_options)))
        await self.sim.__aenter__()


def quiet_engine(config: Any, *, venues: tuple[str, ...] | None = None, calm_sol: bool = False,
                 **feed_options: Any) -> Engine:
    """A paper engine whose simulator runs the test's choice of venues (all by default) with ``feed_options``
    for every feed (e.g. ``taker_fraction=0.0``: no random taker flow, only the test's sweeps fill quotes;
    ``basis_amplitude_bps=0.0``: no random venue basis). ``calm_sol``: SOL only, at 150 updates a second, with a
    calm price (no jumps, little noise), so that the test's price shifts are what moves the market."""
    return _QuietEngine(config, venues, calm_sol, feed_options)
