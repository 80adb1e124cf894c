"""The bench gate (bench/gate.py): floors, saved runs, and that a slowed-down xtb path fails `pytest bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

from gate import Floor, Gate, GateConfigError, Ratio, interleave, load_floors, load_saved  # noqa: E402

pytestmark = pytest.mark.skipif(not BENCH.is_dir(), reason="bench/ is not in this checkout")


def _gate(floors: dict[str, Floor], compare: dict[str, dict[str, float]] | None = None) -> Gate:
    return Gate(floors=floors, floors_path=Path("floors.toml"), enabled=True, compare=compare,
                compare_path=Path("saved.json") if compare is not None else None)


def test_committed_floors_cover_every_gated_group() -> None:
    floors = load_floors(BENCH / "floors.toml")
    assert {"decode_depth_20x20", "best_bid", "ring_push_drain_callback", "limiter_acquire", "tracker_lifecycle",
            "backpack_limit_order_pooled", "tick_to_order_backpack", "tick_no_order"} <= set(floors)
    assert all(f.ratio > 1.0 for f in floors.values()), "a floor at or below 1x gates nothing"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[g]\nratio = 0\n", r"\[g\]\.ratio must be a positive number, got 0"),
        ("[g]\nratio = 'fast'\n", r"\[g\]\.ratio must be a positive number"),
        ("[g]\np99_ratio = 2.0\n", r"\[g\]\.ratio must be a positive number, got None"),
        ("[g]\nratio = 2.0\nfloor = 3\n", r"\[g\] unknown key 'floor'"),
        ("g = 2.0\n", r"\[g\] must be a table"),
        ("[g\nratio = 2\n", "not valid TOML"),
    ],
)
def test_a_bad_floors_file_names_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "floors.toml"
    path.write_text(text)
    with pytest.raises(GateConfigError, match=message) as info:
        load_floors(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_floors_file_and_bad_saved_run(tmp_path: Path) -> None:
    with pytest.raises(GateConfigError, match="cannot read"):
        load_floors(tmp_path / "nope.toml")
    bad = tmp_path / "saved.json"
    bad.write_text("{\"no\": 1}")
    with pytest.raises(GateConfigError, match="no `groups` table"):
        load_saved(bad)


def test_verdict_against_floor_tail_and_saved_run() -> None:
    r = Ratio(baseline_p50_us=30.0, xtb_p50_us=10.0, baseline_p99_us=60.0, xtb_p99_us=40.0, rounds=100)  # 3x, 1.5x
    assert _gate({"g": Floor(2.5)}).verdict("g", r) == []
    [msg] = _gate({"g": Floor(3.5)}).verdict("g", r)
    assert msg.startswith("bench gate: g: ratio 3.00x is below its floor 3.50x")
    [msg] = _gate({"g": Floor(2.0, p99_ratio=2.0)}).verdict("g", r)
    assert "g: p99 ratio 1.50x is below its floor 2.00x" in msg
    # Against a saved run: a drop of more than 25% fails, a smaller one passes; groups not saved are ignored.
    assert _gate({}, {"g": {"ratio": 3.9}}).verdict("g", r) == []
    [msg] = _gate({}, {"g": {"ratio": 4.1}}).verdict("g", r)
    assert "g: ratio 3.00x dropped more than 25% against the saved run saved.json (4.10x)" in msg
    assert _gate({}, {"other": {"ratio": 100.0}}).verdict("g", r) == []


def test_interleave_alternates_and_counts_rounds() -> None:
    calls: list[str] = []
    r = interleave(lambda: calls.append("b"), lambda: calls.append("x"), blocks=3, rounds=4, warmup=1)
    assert r.rounds == 12
    assert "".join(calls) == ("b" * 5 + "x" * 5) * 3  # block by block, warm-up rounds run but not counted


def _pytest_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "gate", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )


def test_a_slowed_xtb_path_fails_the_gate_and_names_the_group() -> None:
    res = _pytest_bench("bench/bench_limiter.py", "--xtb-inject-delay-us", "400")
    assert res.returncode == 1, res.stdout[-2000:]
    assert "bench gate: limiter_acquire: ratio" in res.stdout and "is below its floor" in res.stdout


def test_save_then_compare_fails_on_a_drop(tmp_path: Path) -> None:
    saved = tmp_path / "before.json"
    res = _pytest_bench("bench/bench_limiter.py", "--xtb-save", str(saved))
    assert res.returncode == 0, res.stdout[-2000:]
    measured = json.loads(saved.read_text())["groups"]["limiter_acquire"]["ratio"]
    assert measured > 1.0
    # A saved run far better than anything this machine measures: the comparison must fail.
    better = tmp_path / "better.json"
    better.write_text(json.dumps({"groups": {"limiter_acquire": {"ratio": measured * 100}}}))
    res = _pytest_bench("bench/bench_limiter.py", "--xtb-compare", str(better))
    assert res.returncode == 1, res.stdout[-2000:]
    assert "limiter_acquire: ratio" in res.stdout and "dropped more than 25%" in res.stdout


def test_a_bad_floors_option_is_a_one_line_usage_error(tmp_path: Path) -> None:
    res = _pytest_bench("bench/bench_limiter.py", "--xtb-floors", str(tmp_path / "missing.toml"))
    assert res.returncode == 4
    assert f"floors file {tmp_path / 'missing.toml'}: cannot read" in res.stderr
    assert "Traceback" not in res.stderr
