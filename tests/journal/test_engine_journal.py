"""The engine's telemetry.journal switch: the engine's ring is journaled into the run directory."""

from __future__ import annotations

import json
from pathlib import Path

from xtb.config import XtbConfig
from xtb.core import JournalReader, Trade
from xtb.engine.engine import Engine


def engine(tmp_path: Path, journal: bool) -> Engine:
    cfg = XtbConfig(general={"run_dir": str(tmp_path)}, strategy={"name": "smoke_test"},  # type: ignore[arg-type]
                    telemetry={"journal": journal})
    return Engine(cfg)


def test_engine_journals_its_ring_into_the_run_dir(tmp_path: Path) -> None:
    eng = engine(tmp_path, True)
    eng._start_journal()
    path = eng.journal.path
    assert path.name == "events.journal" and path.parent.parent == tmp_path
    eng.ring.push(Trade("backpack", 0, 100, 1, "ask", 5))
    eng._write_journal_markets()  # no connectors yet: an empty market list, still a valid sidecar
    eng._close_journal()
    assert eng.journal is None
    reader = JournalReader(path)
    assert json.loads(reader.meta) == {"strategy": "smoke_test", "mode": "paper"}
    assert [e.trade_id for e in reader] == [5]
    assert json.loads(Path(str(path) + ".markets.json").read_text()) == {}


def test_journal_off_writes_nothing(tmp_path: Path) -> None:
    eng = engine(tmp_path, False)
    eng._start_journal()
    assert eng.journal is None and not any(tmp_path.iterdir())
