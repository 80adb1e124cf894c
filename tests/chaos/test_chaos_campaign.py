"""The chaos campaign's CI subset: every bundled strategy x every fault plan (one seed each), each run judged
against the simulator's ledger (xtb/chaos/judge.py). Runs in worker processes, several runs at once per
process; `pytest -m chaos` selects these, `pytest -m "not chaos"` leaves them out."""

from __future__ import annotations

import pytest

from xtb.chaos.runner import Result, run_many
from xtb.chaos.scenarios import ci_subset

SCENARIOS = ci_subset()
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def verdicts() -> dict[str, Result]:
    return {r.name: r for r in run_many(SCENARIOS, jobs=2, concurrency=5, batch=10)}


def test_the_ci_subset_is_large_enough() -> None:
    assert len(SCENARIOS) >= 60
    assert len({s.strategy for s in SCENARIOS}) == 10 and len({s.fault for s in SCENARIOS}) == 8


@pytest.mark.parametrize("scenario", [pytest.param(s, id=s.name) for s in SCENARIOS])
def test_scenario_is_judged_clean(verdicts: dict[str, Result], scenario) -> None:
    res = verdicts[scenario.name]
    assert res.start_failed is None, res.start_failed  # a run that never started tests nothing
    assert res.ok, "\n".join(f"{inv}: {detail}" for inv, detail in res.violations)


def test_the_subset_trades(verdicts: dict[str, Result]) -> None:
    """Most runs must reach the venue's matching engine, or the faults meet no trading to disturb."""
    traded = [r for r in verdicts.values() if r.fills > 0]
    assert len(traded) >= 0.75 * len(SCENARIOS), sorted(r.name for r in verdicts.values() if not r.fills)
