"""Benchmark collection and shared fixtures.

pytest only collects `test_*.py` by default; benchmark modules here are named `bench_*.py`, so they are
collected by the hook below (run them with `pytest bench`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from md_frames import SNAPSHOT_SEQ, depth_frame


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    # Files named on the command line are collected by pytest itself; collecting them here too would
    # run them twice.
    if (
        file_path.suffix == ".py"
        and file_path.name.startswith("bench_")
        and not parent.session.isinitpath(file_path)
    ):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def depth_frames() -> list[bytes]:
    """256 consecutive frames (U = 101..356): small enough to stay hot in cache, as a socket buffer is."""
    return [depth_frame(SNAPSHOT_SEQ + 1 + i) for i in range(256)]
