"""Cross-venue arbitrage end to end in paper mode: the README's config trading on its own, and the strategy
under injected venue faults (no order lost, exposure never unhedged beyond the timeout, flat at the end).

The simulator's basis is set from the config's `sim` section; the fault test switches the random basis off
and opens spreads itself, so every run trades the same way.
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from paper_helpers import open_spread, user_positions, wait_for

from strategies.cross_arb import CrossArb
from xtb.config import load_config, validate
from xtb.engine.engine import Engine
from xtb.sim.faults import FaultKind

ROOT = Path(__file__).resolve().parents[2]
SIZE_SCALE = {"backpack": 10**2, "lighter": 10**3}  # simulated SOL size units per SOL on each venue


def net_exposure_sol(sim: Any) -> Fraction:
    """Backpack plus Lighter SOL position of the bot, in SOL, from the venues themselves."""
    pos = user_positions(sim)
    return sum((Fraction(sum(pos[v]), SIZE_SCALE[v]) for v in pos), Fraction(0))


async def test_the_readme_paper_config_trades_by_itself_and_stops_flat(tmp_path):
    """configs/cross_arb.yaml as README's first command runs it: the seeded basis opens a spread within
    seconds, the strategy enters with both legs hedged, and shutdown leaves both venues flat."""
    cfg = load_config(ROOT / "configs/cross_arb.yaml", env={},
                      sets=[f"general.log_dir={tmp_path / 'logs'}", f"general.run_dir={tmp_path / 'runs'}"])
    assert cfg.sim.feed_options()["lighter"]["basis_jumps_per_min"] > 0
    assert cfg.strategy.params["entry_threshold_bps"] >= 10  # the demo does not trade on a lowered threshold
    engine = Engine(cfg)
    await engine.start()
    sim, strat = engine.sim, engine.strategy
    assert isinstance(strat, CrossArb)
    try:
        assert await wait_for(lambda: any(a.legs_logged for a in strat.arbs.values()) or strat.stats["round_trips"],
                              15), engine.status()  # seeded jumps come within ~5 s; slack for a loaded CI
    finally:
        await engine.stop()
    assert strat.stats["entries"] >= 1 and strat.stats["failures"] == 0
    assert user_positions(sim) == {"backpack": [], "lighter": []}


FAULT_PLAN = {
    "profile": "flaky",  # drops, stalls, 429s, 5xx, delayed private events, sequence gaps ...
    "seed": 5,
    "rules": [  # ... and more of them once the venues are up (start_s), so every run meets some
        {"kind": "http_429", "probability": 0.25, "retry_after_s": 0.3, "start_s": 2.0},
        {"kind": "delay_private", "probability": 0.15, "duration_s": 0.3, "start_s": 2.0},
        {"kind": "accept_timeout", "every": 3, "start_s": 2.0, "max_count": 1},  # one order applied, unanswered
    ],
}
MAX_UNHEDGED_S = 2.0
# The strategy acts on exposure older than max_unhedged_s; its rebalance order then needs one round trip.
UNHEDGED_TIMEOUT_S = MAX_UNHEDGED_S + 1.5


async def test_faults_lose_no_order_and_never_leave_exposure_unhedged(tmp_path):
    params = {
        "symbol_filters": ["SOL"], "order_size": "0.10", "entry_threshold_bps": 10, "take_profit_bps": 12,
        "stop_loss_bps": 100, "max_hold_s": 6, "cooldown_s": 0.5, "maker_fee_bps": 2, "hedge_fee_bps": 5,
        "maker_post_only": False, "maker_fill_timeout_s": 2, "maker_market_fallback": True,
        "balance_grace_s": 0.5, "max_unhedged_s": MAX_UNHEDGED_S, "exit_retry_s": 1.0, "flatten_timeout_s": 5,
    }
    quiet = {"basis_amplitude_bps": 0.0, "basis_half_life_s": 1.0}
    cfg = validate({
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 5, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {"backpack": {"symbols": ["SOL_USDC_PERP"], "options": {"order_timeout_s": 1.5}},
                   "lighter": {"symbols": ["SOL"], "options": {"order_timeout_s": 2.0}}},
        "strategy": {"name": "cross_arb", "params": params},
        "sim": {"faults": FAULT_PLAN, "basis": {"backpack": quiet, "lighter": quiet}},
    })
    engine = Engine(cfg)
    await engine.start()
    sim, strat, ctx = engine.sim, engine.strategy, engine.context
    sent: list[tuple[str, int]] = []

    def recorded(place: Any) -> Any:  # every order the strategy submits
        def recording(venue: str, *a: Any, **kw: Any) -> int:
            cid = int(place(venue, *a, **kw))
            sent.append((venue, cid))
            return cid
        return recording

    ctx.place_limit = recorded(ctx.place_limit)  # type: ignore[method-assign]
    ctx.place_market = recorded(ctx.place_market)  # type: ignore[method-assign]

    unhedged_since: list[float | None] = [None]
    longest = [0.0]

    def sample(_now_ms: int) -> None:  # every engine tick: how long has the bot been unhedged?
        now = time.monotonic()
        if net_exposure_sol(sim) != 0:
            unhedged_since[0] = unhedged_since[0] or now
            longest[0] = max(longest[0], now - unhedged_since[0])
        else:
            unhedged_since[0] = None

    engine.clock.add_tick_handler(sample)
    try:
        for venue, bps in (("lighter", 40.0), ("backpack", 40.0)):  # Lighter rich, then Backpack rich
            done = len(strat.exits)
            open_spread(engine, venue, "SOL", bps)
            # take profit usually; max_hold_s (6 s) at the latest, plus retries under the fault plan
            assert await wait_for(lambda d=done: len(strat.exits) > d and not strat.arbs, 12), engine.status()
    finally:
        await engine.stop()
    fired = sim.faults.plan.counts
    status = engine.status()
    assert fired.get(FaultKind.HTTP_429, 0) > 0 and fired.get(FaultKind.ACCEPT_TIMEOUT, 0) > 0, fired

    assert strat.stats["entries"] >= 2, status
    assert longest[0] <= UNHEDGED_TIMEOUT_S, (longest[0], status)
    # no order lost: every one the strategy sent ended (filled / cancelled / rejected / expired), none unknown
    assert sent
    for venue, cid in sent:
        order = engine.tracker.get(cid, venue)
        assert order is not None and order.is_terminal, (venue, cid, order)
    assert engine.tracker.unresolved() == [] and engine.tracker.open_orders() == []
    assert user_positions(sim) == {"backpack": [], "lighter": []}, status
