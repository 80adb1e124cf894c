"""docs/simulator.md's coverage table is the one generated from the servers' route tables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "sim_coverage.py"


def _tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("sim_coverage", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_coverage_table_is_current() -> None:
    tool = _tool()
    text = tool.DOC.read_text(encoding="utf-8")
    assert tool.current_block(text) == tool.block(), "run `python tools/sim_coverage.py --write`"


def test_every_row_has_a_known_status() -> None:
    statuses = {status.split(":")[0].split(" (")[0] for *_, status in _tool().rows()}
    assert statuses <= {"served", "refused", "not modelled"}
