"""A venue added with its package and one registration only (tests/venues/toy_venue): the config
validates it, the engine builds its connector through its VenueSpec, the simulator opens it through its
registered dialect, and a strategy trades on it in paper mode and ends flat by the simulator's ledger.

Nothing in xtb or the compiled core's venue table names the toy venue: if a shared module needed an edit
for a new venue, this would fail. Its core entry (name `toy`, wire id `CORE_ID`) comes from its `VenueSpec`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.venues import toy_venue
from tests.venues.toy_venue.connector import CORE_ID
from xtb import _core
from xtb.config import validate
from xtb.engine.engine import Engine
from xtb.sim.dialects import known_dialects
from xtb.sim.types import Side
from xtb.venues.contract import Connector
from xtb.venues.registry import known_venues, venue_spec

NAME = toy_venue.NAME
SYMBOL = "SOLUSDC"


@pytest.fixture
def toy() -> Iterator[None]:
    toy_venue.register()
    try:
        yield
    finally:
        toy_venue.unregister()
    assert NAME not in known_venues() and NAME not in known_dialects(), "unregister() takes the toy out"


def smoke_config(tmp_path: Path) -> dict:
    return {
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 3, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {NAME: {"symbols": [SYMBOL], "options": {"submit_window_s": 1.0}}},
        "strategy": {"name": "smoke_test", "params": {"venue": NAME, "symbol": SYMBOL, "size": "0.10"}},
    }


def test_registration_makes_the_venue_known(toy: None) -> None:
    assert venue_spec(NAME) is toy_venue.spec.SPEC
    assert NAME in known_venues() and NAME in known_dialects()
    validate(smoke_config(Path("/nonexistent")))  # config validation asks the registry
    assert NAME == "toy" and (NAME, CORE_ID, True) in _core.core_venues()  # its own core entry, no borrowed one
    decoder = _core.FeedDecoder(NAME, _core.EventRing(8))  # holds books; the core decodes no toy frame
    with pytest.raises(_core.FeedError, match="no decoder for this venue"):
        decoder.feed(b"{}")


_READ_BACK = textwrap.dedent("""
    import sys
    from xtb import _core
    from xtb.core import JournalFormatError, JournalReader
    if sys.argv[2] == "register":
        from tests.venues import toy_venue
        toy_venue.register()
    try:
        print(*[f"{e.kind}:{e.venue}" for e in JournalReader(sys.argv[1])])
    except JournalFormatError as e:
        print("error:", e)
""")


def test_the_toy_venues_events_round_trip_through_a_journal(toy: None, tmp_path: Path) -> None:
    from xtb.core import BookUpdate, Fill, Journal, JournalReader, OrderUpdate, Position, Trade

    path = tmp_path / "toy.journal"
    ring = _core.EventRing(64)
    with Journal(ring, path):
        ring.push(BookUpdate(NAME, 0, (10_000, 5), (10_100, 7), 1))
        ring.push(Trade(NAME, 0, 10_050, 3, "ask", 9))
        ring.push(OrderUpdate(NAME, 42, "open", "70000001"))
        ring.push(Fill(NAME, 42, 9, "bid", 10_050, 3, True, 1))
        ring.push(Position(NAME, 0, 3, 10_050))
    events = list(JournalReader(path))
    assert [(e.kind, e.venue) for e in events] == [(k, NAME) for k in ("book", "trade", "order", "fill", "position")]
    assert events[3].client_id == 42 and events[3].px == 10_050
    # the wire id is the plugin's own, so another process reads the journal back once the toy is registered,
    # and refuses it clearly (naming the unknown code) before
    root = Path(__file__).resolve().parents[2]
    runs = {}
    for mode in ("register", "bare"):
        out = subprocess.run([sys.executable, "-c", _READ_BACK, str(path), mode], capture_output=True, text=True,
                             timeout=60, cwd=root, check=True)
        runs[mode] = out.stdout.strip()
    assert runs["register"] == "book:toy trade:toy order:toy fill:toy position:toy"
    assert runs["bare"].startswith("error:") and f"unknown venue code {CORE_ID}" in runs["bare"], runs["bare"]


async def test_a_strategy_trades_on_the_toy_venue_and_ends_flat(toy: None, tmp_path: Path) -> None:
    engine = Engine(validate(smoke_config(tmp_path)))
    await engine.start()
    try:
        conn = engine.connectors[NAME]
        assert isinstance(conn, Connector)  # the contract, checked structurally
        for _ in range(400):  # bounded: at most ~20 s
            if engine.strategy.step in ("done", "failed"):
                break
            await asyncio.sleep(0.05)
        status = engine.status()
        sim = engine.sim
        assert sim is not None
        ex = sim.exchange(NAME)
        account = next(iter(sim.protocol(NAME).keys.values()))
        market = ex.market_by_symbol(SYMBOL).market_id
        fills = [o for o in ex.order_history(account) if o.filled]
    finally:
        await engine.stop()
    assert status["smoke_test_step"] == "done", status
    assert status["smoke_test_steps"] == ["wait_open", "wait_cancel", "wait_fill", "wait_position", "wait_flat", "done"]
    assert status["unresolved_orders"] == 0 and status["open_orders"] == 0
    # the simulator's ledger: flat, nothing open, the two market orders filled
    assert ex.position(account, market).size == 0
    assert ex.open_orders(account) == []
    assert len(fills) == 2 and {o.side for o in fills} == {Side.BUY, Side.SELL}
    assert engine.exit_report is not None


async def test_reconciliation_reads_every_history_page(toy: None, tmp_path: Path) -> None:
    """More ended orders than one history page: each missing order is found on its page, none is settled by
    the not-found rule."""
    from xtb._core import EventRing, OrderTracker
    from xtb.model.types import OrderKind, OrderRequest, TimeInForce
    from xtb.model.types import Side as OrderSide
    from xtb.sim.cluster import ClusterConfig, SimCluster
    from xtb.venues.contract import ConnectorWiring, PaperSetup

    async with SimCluster(ClusterConfig(venues=(NAME,), seed=5, updates_per_s=20)) as sim:
        ring = EventRing(1 << 14)
        tracker = OrderTracker(ring)
        conn = venue_spec(NAME).connect_paper(
            PaperSetup(NAME, {"symbols": [SYMBOL], "page_limit": 10, "reconcile_interval_s": None,
                              "submit_window_s": 0.0}, sim, 10_000),
            ConnectorWiring(ring, tracker))
        await conn.start()
        try:
            for _ in range(100):
                bid, _ask = conn.top_of_book(SYMBOL)
                if bid is not None:
                    break
                await asyncio.sleep(0.05)
            assert bid is not None
            # 25 IOC bids far below the touch: each ends `expired` at once, never filled
            reqs = [OrderRequest(1000 + i, SYMBOL, OrderSide.BID, 10, OrderKind.LIMIT, bid[0] // 2, TimeInForce.IOC)
                    for i in range(25)]
            results = await conn.submit_batch(reqs)
            assert all(r.outcome == "accepted" for r in results)
            conn._events_next = 10**9  # the event log is not read: only the history can settle them
            passed = await conn.reconcile()
        finally:
            await conn.stop()
            await conn.close()
    assert passed.agreed, passed.disagreements
    assert {tracker.get(1000 + i, NAME).state for i in range(25)} == {"expired"}
    assert conn.reconcile_stats.settled_by_query == 25 and conn.reconcile_stats.settled_missing == 0
