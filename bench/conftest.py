"""Shared fixtures of the benchmark suites and the bench gate (bench/gate.py).

Benchmark modules are named `bench_*.py` and collected through pyproject's `python_files` when `pytest bench`
runs (once each). The gate's options (`--xtb-floors`, `--xtb-save`, `--xtb-compare`, ...) are described in
bench/gate.py and bench/BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gate import Gate, GateFixture, add_options, make_gate, saved_run_path
from md_frames import SNAPSHOT_SEQ, depth_frame

_GATE = pytest.StashKey[Gate]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gate: a benchmark whose interleaved ratio is held against its floor")
    config.stash[_GATE] = make_gate(config)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `pytest bench -m gate` runs exactly the gated groups (the tests that take the ratio_gate fixture).
    for item in items:
        if "ratio_gate" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.gate)


def pytest_sessionfinish(session: pytest.Session) -> None:
    name = session.config.getoption("--xtb-save")
    gate = session.config.stash.get(_GATE, None)
    if name and gate is not None and gate.measured:
        path = saved_run_path(session.config.rootpath, name)
        gate.save(path)
        print(f"\nbench gate: {len(gate.measured)} group ratios saved to {path}")


@pytest.fixture
def ratio_gate(request: pytest.FixtureRequest) -> Iterator[GateFixture]:
    yield GateFixture(request.config.stash[_GATE])


@pytest.fixture(scope="session")
def depth_frames() -> list[bytes]:
    """256 consecutive frames (U = 101..356): small enough to stay hot in cache, as a socket buffer is."""
    return [depth_frame(SNAPSHOT_SEQ + 1 + i) for i in range(256)]
