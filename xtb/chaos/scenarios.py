"""The campaign's scenarios: every bundled trading strategy x fault plan x seed.

A strategy entry starts from the strategy's own paper config (configs/<name>.yaml) and shortens what a run
of a few seconds needs (warm-up windows, cycle times, basis jumps for the arbitrage). A fault entry is either
a plan for the simulator (`xtb.sim.faults`: the `flaky` and `chaos` profiles, a 5xx storm, a silent private
stream) or a targeted action the harness takes at a moment of the bot's life:

    disconnect_entry      all venues' sockets dropped at the bot's first fill
    disconnect_hedge      the other venue's sockets dropped at the first fill (the hedge leg's venue; on one
                          venue: at the second fill)
    disconnect_stop       all sockets dropped as the stop begins, every reconnect dropped again
    accept_timeout_close  from the stop on, each venue's first order is applied and never answered
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StrategyCase:
    config: str  # file under configs/
    params: dict[str, Any] = field(default_factory=dict)  # over strategy.params
    symbols: dict[str, list[str]] | None = None  # venues.<v>.symbols (None: the config's)
    basis: dict[str, dict[str, float]] = field(default_factory=dict)  # sim.basis
    hedged: bool = False  # judged on unhedged time (one underlying across venues)
    max_unhedged_s: float | None = None


_ARB = {
    "order_size": "0.10", "entry_threshold_bps": 8, "take_profit_bps": 10, "stop_loss_bps": 60, "max_hold_s": 3,
    "cooldown_s": 0.5, "maker_fee_bps": 2, "hedge_fee_bps": 5, "maker_post_only": False,
    "maker_fill_timeout_s": 1.5, "maker_market_fallback": True, "balance_grace_s": 0.5, "max_unhedged_s": 2.0,
    "exit_retry_s": 1.0, "flatten_timeout_s": 4,
}
_JUMPY = {"basis_amplitude_bps": 2, "basis_half_life_s": 1.5, "basis_jumps_per_min": 40, "basis_jump_bps": 35}

STRATEGIES: dict[str, StrategyCase] = {
    "cross_arb_sol": StrategyCase("cross_arb.yaml", {**_ARB, "symbol_filters": ["SOL"]},
                                  {"backpack": ["SOL_USDC_PERP"], "lighter": ["SOL"]},
                                  {"backpack": _JUMPY, "lighter": _JUMPY}, hedged=True, max_unhedged_s=2.0),
    "cross_arb_eth": StrategyCase("cross_arb.yaml", {**_ARB, "symbol_filters": ["ETH"], "order_size": "0.01"},
                                  {"backpack": ["ETH_USDC_PERP"], "lighter": ["ETH"]},
                                  {"backpack": _JUMPY, "lighter": _JUMPY}, hedged=True, max_unhedged_s=2.0),
    "perp_mm": StrategyCase("perp_mm.yaml", {"cycle_interval_s": 0.5, "base_spread_percentage": 0.02}),
    "avellaneda": StrategyCase("avellaneda.yaml", {"vol_min_samples": 5, "vol_window_s": 5, "k": 300.0,
                                                   "min_spread_ticks": 1}),
    "asmm": StrategyCase("asmm.yaml", {"quoteIntervalMs": 300}),
    "geometric_grid": StrategyCase("geometric_grid.yaml", {"range_pct": "0.002", "budget": "1500",
                                                           "sync_interval_s": 1}),
    "trend_ladder": StrategyCase("trend_ladder.yaml", {"bar_interval_s": 0.25, "ema_fast": 2, "ema_slow": 4,
                                                       "atr_length": 3, "slope_lookback": 2, "entry_ttl_s": 3}),
    "hedge_ladder": StrategyCase("hedge_ladder.yaml", {"entry_offset_bps": 0, "level_spacing_bps": 2,
                                                       "stop_timeout_s": 4}),
    "tier_hunter": StrategyCase("tier_hunter.yaml", {"trade_lookback_s": 1.0, "min_side_hold_s": 0.5,
                                                     "stats_log_path": None}),
    "zscore_auto": StrategyCase("zscore_monitor.yaml", {"mode": "auto", "sample_interval_ms": 100,
                                                        "lookback_secs": 3, "min_samples": 10,
                                                        "enter_z_high": 1.5, "exit_z_low": 0.3,
                                                        "min_hold_secs": 1, "min_reentry_secs": 1}),
}

# Plans for the simulator. Times are seconds from the simulator's start (the bot trades from ~1 s on).
FAULT_PLANS: dict[str, dict[str, Any] | None] = {
    "flaky": {"profile": "flaky", "rules": [
        {"kind": "http_429", "probability": 0.1, "retry_after_s": 0.3, "start_s": 1.5},
        {"kind": "delay_private", "probability": 0.1, "duration_s": 0.3, "start_s": 1.5}]},
    "chaos": {"profile": "chaos"},
    "rest_5xx_storm": {"rules": [{"kind": "http_5xx", "probability": 0.5, "status": 503, "start_s": 2.0,
                                  "end_s": 8.0}]},  # from trading into the stop
    "private_silent": {"rules": [{"kind": "delay_private", "probability": 1.0, "duration_s": 60.0,
                                  "start_s": 2.0}]},
    "disconnect_entry": None,
    "disconnect_hedge": None,
    "disconnect_stop": None,
    "accept_timeout_close": None,
}
FAULTS = tuple(FAULT_PLANS)


@dataclass(frozen=True)
class Scenario:
    strategy: str
    fault: str
    seed: int
    duration_s: float = 5.0

    @property
    def name(self) -> str:
        return f"{self.strategy}-{self.fault}-{self.seed}"

    @property
    def case(self) -> StrategyCase:
        return STRATEGIES[self.strategy]

    def config(self, workdir: Path) -> dict[str, Any]:
        """The raw config of this run (validated by the engine's loader)."""
        import yaml

        data: dict[str, Any] = yaml.safe_load((ROOT / "configs" / self.case.config).read_text(encoding="utf-8"))
        case = self.case
        g = data.setdefault("general", {})
        g.update(seed=self.seed, log_dir=str(workdir / "logs"), run_dir=str(workdir / "runs"),
                 lock_dir=str(workdir / "locks"), tick_interval_ms=100, uvloop=False, gc_freeze=False)
        if case.symbols is not None:
            for venue, symbols in case.symbols.items():
                data["venues"][venue]["symbols"] = symbols
        for vcfg in data["venues"].values():  # short request timeouts: an unanswered order resolves within a run
            opts = vcfg.setdefault("options", {})
            opts.setdefault("order_timeout_s", 1.5)
            opts.setdefault("tx_timeout_s", 1.5)
        data["venues"] = {v: _venue_options(v, c) for v, c in data["venues"].items()}
        params = data["strategy"].setdefault("params", {})
        params.update({k: v for k, v in case.params.items() if v is not None})
        for k in [k for k, v in case.params.items() if v is None]:
            params.pop(k, None)
        sim = data.setdefault("sim", {})
        sim["updates_per_s"] = 20
        if case.basis:
            sim["basis"] = case.basis
        plan = FAULT_PLANS[self.fault]
        sim["faults"] = {**(plan or {}), "seed": self.seed}
        data["control"] = {"enabled": False}
        data["telemetry"] = {"journal": False, "stats_interval_s": 3600}
        return data

    @property
    def unhedged_bound_s(self) -> float | None:
        """max_unhedged_s + one round trip (the hedge or rebalance order's request timeout)."""
        case = self.case
        if not case.hedged or case.max_unhedged_s is None:
            return None
        return case.max_unhedged_s + ROUND_TRIP_S


ROUND_TRIP_S = 1.5  # the runs' order request timeout (order_timeout_s / tx_timeout_s)


def _venue_options(venue: str, vcfg: dict[str, Any]) -> dict[str, Any]:
    opts = vcfg["options"]
    if venue == "backpack":
        opts.pop("tx_timeout_s", None)
    else:
        opts.pop("order_timeout_s", None)
    return vcfg


def catalogue(seeds: range | list[int], strategies: list[str] | None = None, faults: list[str] | None = None,
              duration_s: float = 5.0) -> list[Scenario]:
    return [Scenario(s, f, seed, duration_s) for seed in seeds for s in (strategies or list(STRATEGIES))
            for f in (faults or list(FAULTS))]


# The CI subset: every strategy under every fault, one seed each (seeds differ per strategy so that the
# subset covers more than one market path).
def ci_subset() -> list[Scenario]:
    return [Scenario(s, f, 100 + i) for i, s in enumerate(STRATEGIES) for f in FAULTS]
