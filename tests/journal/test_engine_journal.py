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


async def test_a_paper_run_leaves_one_run_directory_that_report_reads(tmp_path: Path) -> None:
    """Journal, stats, SQLite records and run.json land in the same run directory; `xtb report` reads both
    the journal and the recorder's equity rows from it."""
    import asyncio

    from xtb.config import load_config
    from xtb.journal.report import write_report

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "configs/paper_smoke.yaml", env={}, sets=[
        f"general.run_dir={tmp_path}", f"general.log_dir={tmp_path / 'logs'}", "telemetry.equity_interval_s=0.2"])
    eng = Engine(cfg)
    await eng.start()
    try:
        for _ in range(100):  # bounded: the smoke test is done in about 2 s
            if eng.strategy.step == "done":
                break
            await asyncio.sleep(0.1)
    finally:
        await eng.stop()
    assert eng.strategy.step == "done"
    run = eng.run_path
    assert run is not None and run.parent == tmp_path
    assert {"events.journal", "records.sqlite", "stats.log", "run.json"} <= {p.name for p in run.iterdir()}
    kinds = {e.kind for e in JournalReader(run / "events.journal")}
    assert {"book", "order", "fill"} <= kinds
    written = write_report(run)
    md = written["report"].read_text()
    assert "records.sqlite: equity" in md and written["pnl"].stat().st_size > 0


async def test_a_paper_runs_journal_replayed_reproduces_its_fills(tmp_path: Path) -> None:
    """The same strategy replayed over the paper run's own journal makes the same trades: the same number of
    fills, the same sides and sizes, at prices within 0.5 % of the paper run's (the replay fills against the
    recorded touch, the paper run against the simulator's live book a few ms apart). Replayed twice: identical."""
    import asyncio

    from xtb.config import load_config
    from xtb.journal.replay import replay

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "configs/paper_smoke.yaml", env={}, sets=[
        f"general.run_dir={tmp_path}", f"general.log_dir={tmp_path / 'logs'}"])
    eng = Engine(cfg)
    await eng.start()
    try:
        for _ in range(100):  # bounded: the smoke test is done in about 2 s
            if eng.strategy.step == "done":
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # a little market data after the last fill
    finally:
        await eng.stop()
    assert eng.strategy.step == "done" and eng.run_path is not None
    journal = eng.run_path / "events.journal"

    def fills(path: Path) -> list[tuple[str, int, int]]:
        return [(e.side, e.px, e.sz) for e in JournalReader(path) if e.kind == "fill"]

    paper = fills(journal)
    first = await replay(journal, cfg, out_dir=tmp_path / "replay1")
    second = await replay(journal, cfg, out_dir=tmp_path / "replay2")
    replayed = fills(tmp_path / "replay1" / "events.journal")
    assert [(s, z) for s, _, z in paper] == [(s, z) for s, _, z in replayed], (first.orders, first.timers)
    assert [s for s, _, _ in paper] == ["bid", "ask"]  # the market buy, then the reduce-only close
    for (_, p_px, _), (_, r_px, _) in zip(paper, replayed, strict=True):
        assert abs(r_px - p_px) <= p_px * 0.005, (paper, replayed)
    assert first.orders == second.orders and replayed == fills(tmp_path / "replay2" / "events.journal")
    assert first.positions == {} and first.denied == {}
    # with the run's own order round trips as the latency model, the same trades still
    from xtb.journal.replay import latency_samples

    samples = latency_samples(journal)
    assert len(samples) == 3 and all(0 < ms < 1000 for ms in samples), samples  # limit, market, close
    delayed = await replay(journal, cfg, out_dir=tmp_path / "replay3", latency_ms=samples, seed=1)
    late = fills(tmp_path / "replay3" / "events.journal")
    assert [(s, z) for s, _, z in late] == [(s, z) for s, _, z in paper] and delayed.positions == {}
    for (_, p_px, _), (_, r_px, _) in zip(paper, late, strict=True):
        assert abs(r_px - p_px) <= p_px * 0.005, (paper, late)
