"""Event journal benchmarks: hot-path cost of an attached journal, and replay speed.

Per-event figures = median / events per round. Run:
    python -m pytest bench/bench_journal.py --benchmark-group-by=group --benchmark-columns=median,iqr,rounds

journal_hot_path: the same book updates pushed (from Rust, as a decoder does) and popped on a ring without a
journal and on a ring with a journal attached (the writer thread running, writing to a temp file): the
difference of the two medians per event is what the journal adds to the producer. The pure-Python baseline
does the same work the way a Python bot would: a deque for the dispatcher plus a second deque drained by a
writer thread that struct-packs each record into a buffered file.

journal_hot_path_paced: the same, in bursts of 2000 events 2 ms apart (untimed gaps): the writer drains
between bursts, as it does at any sustained rate below its throughput; this is the producer-side cost.

journal_replay: book updates (4 markets, 40 per ms, 1 ms conflation window) from a journal through a
Python strategy: xtb's `replay` (core reader, Dispatcher, simulator matching ready) against a pure-Python
replay of a struct-packed file with the same conflation and callback.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from xtb import _core
from xtb._core import BookUpdate, EventRing, Journal
from xtb.config import XtbConfig
from xtb.engine.registry import register_strategy
from xtb.engine.strategy import Strategy
from xtb.journal.replay import replay

HOT_EVENTS = 200_000
REPLAY_EVENTS = 200_000
RECORD = struct.Struct("<qqBIqqqqQ")  # recv, decoded, venue, book_id, bid px/sz, ask px/sz, seq


# ---- journal_hot_path -------------------------------------------------------------------------------


class PyJournal:
    """The baseline: a queue a writer thread drains into a buffered file, one struct per event."""

    def __init__(self, path: Path) -> None:
        self.queue: deque[tuple[int, ...]] = deque()
        self.file = open(path, "wb", buffering=1 << 16)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        pop, pack, write = self.queue.popleft, RECORD.pack, self.file.write
        while not self.stop.is_set() or self.queue:
            try:
                while True:
                    write(pack(*pop()))
            except IndexError:
                self.file.flush()
                self.stop.wait(0.001)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.file.close()


def baseline_push_pop(ring: deque[tuple[int, ...]], journal: PyJournal, n: int) -> int:
    popped = 0
    jq = journal.queue.append
    for i in range(n):
        ev = (i, i, 1, i & 3, 100_000 + (i & 7), 5, 100_010, 7, i)
        ring.append(ev)
        jq(ev)  # the journal's copy (a tuple is immutable: sharing it is the copy)
        if ring:
            ring.popleft()
            popped += 1
    return popped


@pytest.mark.benchmark(group="journal_hot_path")
def test_baseline_deque_plus_python_writer_thread(benchmark: Any, tmp_path: Path) -> None:
    journal = PyJournal(tmp_path / "py.journal")
    ring: deque[tuple[int, ...]] = deque()
    benchmark.extra_info["events_per_round"] = HOT_EVENTS
    try:
        assert benchmark(baseline_push_pop, ring, journal, HOT_EVENTS) == HOT_EVENTS
    finally:
        journal.close()


@pytest.mark.benchmark(group="journal_hot_path")
def test_xtb_ring_push_pop_without_journal(benchmark: Any) -> None:
    ring = EventRing(1 << 16)
    benchmark.extra_info["events_per_round"] = HOT_EVENTS
    assert benchmark(_core._ring_push_pop_synthetic, ring, HOT_EVENTS) == HOT_EVENTS


@pytest.mark.benchmark(group="journal_hot_path")
def test_xtb_ring_push_pop_with_journal(benchmark: Any, tmp_path: Path) -> None:
    ring = EventRing(1 << 16)
    path = tmp_path / "events.journal"
    journal = Journal(ring, path)
    benchmark.extra_info["events_per_round"] = HOT_EVENTS
    calls = []

    def push_pop() -> int:
        calls.append(1)
        return _core._ring_push_pop_synthetic(ring, HOT_EVENTS)

    try:
        assert benchmark(push_pop) == HOT_EVENTS
    finally:
        journal.close()
    # Nothing lost: every push of every round reached the file, or (writer a whole buffer behind: a
    # book update) was counted as dropped.
    assert journal.events + journal.dropped == HOT_EVENTS * len(calls)
    benchmark.extra_info["journal_dropped"] = journal.dropped
    # The Rust-side figure (push+pop ns with vs without, timed inside Rust) for the record.
    benchmark.extra_info["rust_ns_without"] = _core._bench_ring_journal_rust(HOT_EVENTS, None)
    benchmark.extra_info["rust_ns_with"] = _core._bench_ring_journal_rust(HOT_EVENTS, tmp_path / "r.journal")


# ---- journal_hot_path_paced: bursts of 2000 events, 2 ms apart (the writer drains between bursts) ----

BURST = 2000
PACED_ROUNDS = 200


def pause() -> None:
    time.sleep(0.002)  # untimed (pedantic setup): a quiet gap between bursts, as between socket reads


@pytest.mark.benchmark(group="journal_hot_path_paced")
def test_baseline_paced_deque_plus_python_writer_thread(benchmark: Any, tmp_path: Path) -> None:
    journal = PyJournal(tmp_path / "py.journal")
    ring: deque[tuple[int, ...]] = deque()
    benchmark.extra_info["events_per_round"] = BURST
    try:
        benchmark.pedantic(baseline_push_pop, (ring, journal, BURST), setup=pause, rounds=PACED_ROUNDS)
    finally:
        journal.close()


@pytest.mark.benchmark(group="journal_hot_path_paced")
def test_xtb_paced_ring_push_pop_without_journal(benchmark: Any) -> None:
    ring = EventRing(1 << 16)
    benchmark.extra_info["events_per_round"] = BURST
    benchmark.pedantic(_core._ring_push_pop_synthetic, (ring, BURST), setup=pause, rounds=PACED_ROUNDS)


@pytest.mark.benchmark(group="journal_hot_path_paced")
def test_xtb_paced_ring_push_pop_with_journal(benchmark: Any, tmp_path: Path) -> None:
    ring = EventRing(1 << 16)
    journal = Journal(ring, tmp_path / "events.journal")
    benchmark.extra_info["events_per_round"] = BURST
    try:
        benchmark.pedantic(_core._ring_push_pop_synthetic, (ring, BURST), setup=pause, rounds=PACED_ROUNDS)
    finally:
        journal.close()
    assert journal.dropped == 0 and journal.events % BURST == 0 and journal.events > 0


# ---- journal_replay ---------------------------------------------------------------------------------


class CountParams(BaseModel):
    pass


@register_strategy("journal_bench_reader", params=CountParams)
class BookReader(Strategy[CountParams]):
    """Reads each delivered book's touch (a strategy's minimum work per book update)."""

    def __init__(self, ctx: Any, params: CountParams) -> None:
        super().__init__(ctx, params)
        self.books = 0
        self.last_mid = 0

    def on_book(self, ev: Any) -> None:
        self.books += 1
        bid, ask = ev.best_bid, ev.best_ask
        if bid is not None and ask is not None:
            self.last_mid = (bid[0] + ask[0]) // 2


def synthetic_books(n: int) -> list[tuple[int, ...]]:
    t0 = 10**12
    return [(t0 + i * 25_000, t0 + i * 25_000 + 3_000, 1, i & 3, 100_000 + (i % 13), 5 + i % 3, 100_010 + (i % 13),
             7, i) for i in range(n)]


@pytest.fixture(scope="module")
def journals(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("replay")
    rows = synthetic_books(REPLAY_EVENTS)
    ring = EventRing(1 << 12)
    with Journal(ring, d / "events.journal"):
        for r in rows:
            ring.push(BookUpdate("lighter", r[3], (r[4], r[5]), (r[6], r[7]), book_seq=r[8], recv_ns=r[0]))
            if len(ring) > 2048:
                ring.drain()
    with open(d / "py.journal", "wb") as f:
        for r in rows:
            f.write(RECORD.pack(*r))
    return d / "events.journal", d / "py.journal"


class PyBook:
    __slots__ = ("best_ask", "best_bid", "book_id", "book_seq", "recv_ns", "venue")

    def __init__(self, r: tuple[int, ...]) -> None:
        self.venue = "lighter"
        self.book_id = r[3]
        self.best_bid = (r[4], r[5])
        self.best_ask = (r[6], r[7])
        self.book_seq = r[8]
        self.recv_ns = r[0]


def baseline_replay(path: Path, window_ns: int) -> int:
    strat = BookReader.__new__(BookReader)
    strat.books, strat.last_mid = 0, 0
    pending: dict[tuple[str, int], PyBook] = {}
    window_end = None
    n = 0
    with open(path, "rb") as f:
        data = f.read()
    for r in RECORD.iter_unpack(data):
        n += 1
        t = r[0]
        if window_end is None:
            window_end = t + window_ns
        elif t >= window_end:
            for ev in pending.values():
                strat.on_book(ev)
            pending.clear()
            window_end = t + window_ns
        pending[("lighter", r[3])] = PyBook(r)
    for ev in pending.values():
        strat.on_book(ev)
    return n


@pytest.mark.benchmark(group="journal_replay")
def test_baseline_python_replay_struct_file(benchmark: Any, journals: tuple[Path, Path]) -> None:
    benchmark.extra_info["events_per_round"] = REPLAY_EVENTS
    assert benchmark.pedantic(baseline_replay, (journals[1], 1_000_000), rounds=3, iterations=1) == REPLAY_EVENTS


@pytest.mark.benchmark(group="journal_replay")
def test_xtb_replay_through_strategy(benchmark: Any, journals: tuple[Path, Path], ratio_gate: Any) -> None:
    cfg = XtbConfig(strategy={"name": "journal_bench_reader"})  # type: ignore[arg-type]

    def run() -> Any:
        return asyncio.run(replay(journals[0], cfg, window_ns=1_000_000))

    res = benchmark.pedantic(run, rounds=3, iterations=1)
    assert res.events_read == REPLAY_EVENTS and res.book_events == REPLAY_EVENTS
    assert res.delivered < REPLAY_EVENTS // 5  # conflated: 10 updates per book per 1 ms window
    benchmark.extra_info["events_per_round"] = REPLAY_EVENTS
    benchmark.extra_info["events_per_s"] = round(res.events_per_s)
    # gated: the whole replay (journal reader, windows, dispatcher, risk guard, simulator) against the Python
    # baseline, interleaved; a few long rounds (each replays the whole journal)
    ratio_gate.check(benchmark, "journal_replay", lambda: baseline_replay(journals[1], 1_000_000), run,
                     blocks=4, rounds=3, warmup=1)
