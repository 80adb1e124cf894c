"""Fault plan: profiles, deterministic decisions per seed and connection, schedules, loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from xtb.sim import FaultKind, FaultPlan, FaultRule
from xtb.sim.clock import NS_PER_S

T0 = 1_000 * NS_PER_S


def decisions(plan: FaultPlan, kind: FaultKind, conn: str, n: int, dt_ns: int = 0) -> list[bool]:
    return [plan.should(kind, conn, T0 + i * dt_ns) is not None for i in range(n)]


def test_none_profile_never_fires() -> None:
    plan = FaultPlan.profile("none", seed=1, start_ns=T0)
    assert not any(any(decisions(plan, kind, "c1", 200)) for kind in FaultKind)


def test_chaos_fires_every_kind_it_lists() -> None:
    plan = FaultPlan.profile("chaos", seed=1, start_ns=T0)
    for kind in FaultKind:
        assert any(decisions(plan, kind, "ws-1", 5_000)), kind
    assert plan.counts[FaultKind.HTTP_429] > plan.counts[FaultKind.DROP_SOCKET]


def test_decisions_are_deterministic_per_seed_and_connection() -> None:
    first = decisions(FaultPlan.profile("flaky", seed=3), FaultKind.HTTP_429, "rest-a", 2_000)
    again = FaultPlan.profile("flaky", seed=3)
    decisions(again, FaultKind.HTTP_429, "rest-b", 500)  # another connection does not disturb rest-a
    assert decisions(again, FaultKind.HTTP_429, "rest-a", 2_000) == first
    assert decisions(FaultPlan.profile("flaky", seed=4), FaultKind.HTTP_429, "rest-a", 2_000) != first
    assert 10 <= sum(first) <= 80  # probability 0.02


def test_every_n_window_pattern_and_max_count() -> None:
    plan = FaultPlan(
        [FaultRule(FaultKind.SKIP_SEQ, every=3, conn="bp-ws-*", start_s=1.0, end_s=2.0, max_count=2)],
        start_ns=T0,
    )
    assert not any(decisions(plan, FaultKind.SKIP_SEQ, "bp-ws-1", 10))  # before the window
    inside = [plan.should(FaultKind.SKIP_SEQ, "bp-ws-1", T0 + NS_PER_S + i) is not None for i in range(12)]
    assert inside == [False, False, True, False, False, True] + [False] * 6  # every 3rd, at most twice
    after = [plan.should(FaultKind.SKIP_SEQ, "bp-ws-2", T0 + 2 * NS_PER_S) for _ in range(6)]
    assert after == [None] * 6  # window closed
    assert plan.should(FaultKind.SKIP_SEQ, "lighter-ws-1", T0 + NS_PER_S + 3) is None  # pattern


def test_scheduled_faults_fire_once_per_connection() -> None:
    plan = FaultPlan([FaultRule(FaultKind.DROP_SOCKET, at_s=(5.0, 10.0))], start_ns=T0)
    assert plan.should(FaultKind.DROP_SOCKET, "c", T0 + 4 * NS_PER_S) is None
    assert plan.should(FaultKind.DROP_SOCKET, "c", T0 + 5 * NS_PER_S) is not None
    assert plan.should(FaultKind.DROP_SOCKET, "c", T0 + 6 * NS_PER_S) is None
    assert plan.should(FaultKind.DROP_SOCKET, "d", T0 + 6 * NS_PER_S) is not None  # its own schedule
    assert plan.should(FaultKind.DROP_SOCKET, "c", T0 + 11 * NS_PER_S) is not None
    assert plan.counts[FaultKind.DROP_SOCKET] == 3


def test_fault_parameters_reach_the_server() -> None:
    plan = FaultPlan(
        [
            FaultRule(FaultKind.HTTP_429, probability=1.0, retry_after_s=2.5),
            FaultRule(FaultKind.HTTP_5XX, probability=1.0, status=502),
            FaultRule(FaultKind.CLOCK_SKEW, probability=1.0, skew_ms=-1500),
        ]
    )
    limited = plan.should(FaultKind.HTTP_429, "c", 0)
    assert limited is not None and limited.retry_after_s == 2.5
    server = plan.should(FaultKind.HTTP_5XX, "c", 0)
    assert server is not None and server.status == 502
    assert plan.clock_skew_ns("c", 0) == -1_500_000_000


def test_load_from_yaml_and_round_trip(tmp_path: Path) -> None:
    text = """
profile: flaky
seed: 9
cancel_on_disconnect: false
rules:
  - {kind: accept_timeout, probability: 0.5, conn: "lighter-*"}
  - {kind: stall_socket, at_s: [3], duration_s: 4.5}
"""
    path = tmp_path / "faults.yaml"
    path.write_text(text)
    plan = FaultPlan.from_yaml(path)
    assert plan.seed == 9 and plan.cancel_on_disconnect is False
    assert plan.rules[-1] == FaultRule(FaultKind.STALL_SOCKET, at_s=(3.0,), duration_s=4.5)
    assert len(plan.rules) == 6 + 2  # the profile's rules, then the listed ones
    copy = FaultPlan.from_dict(plan.to_dict())
    assert copy.rules == plan.rules and copy.seed == plan.seed
    assert FaultPlan.from_yaml(text).rules == plan.rules


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rules": [{"kind": "explode"}]}, "unknown kind 'explode'"),
        ({"rules": [{"kind": "http_429", "probabilty": 0.1}]}, "unknown keys \\['probabilty'\\]"),
        ({"rules": [{"kind": "http_429", "probability": 1.5}]}, "probability must be in"),
        ({"rules": [{"kind": "http_5xx", "status": 429}]}, "status must be 5xx"),
        ({"rules": [{"probability": 0.1}]}, "missing 'kind'"),
        ({"profile": "calm"}, "unknown profile 'calm'"),
        ({"rule": []}, "unknown keys"),
    ],
)
def test_bad_plans_name_the_problem(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultPlan.from_dict(data)


def test_forget_resets_a_connection() -> None:
    plan = FaultPlan([FaultRule(FaultKind.DROP_SOCKET, every=2)])
    assert decisions(plan, FaultKind.DROP_SOCKET, "c", 3) == [False, True, False]
    plan.forget("c")
    assert decisions(plan, FaultKind.DROP_SOCKET, "c", 2) == [False, True]
