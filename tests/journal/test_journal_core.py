"""The event journal through the Python surface: round trip, flush, errors, crash bound."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb.core import (
    BookUpdate,
    EventRing,
    Fill,
    Journal,
    JournalFormatError,
    JournalReader,
    JournalWindows,
    MarkPrice,
    OperatorAction,
    OrderUpdate,
    Position,
    RateLimited,
    Resync,
    Trade,
    read_journal,
)


def every_kind() -> list[object]:
    return [
        BookUpdate("backpack", 0, (14125, 300), (14130, 120), book_seq=7, recv_ns=1_000),
        BookUpdate("lighter", 3, None, (99, 1), book_seq=8, recv_ns=1_001),
        Trade("lighter", 3, 100, 5, "ask", 77, recv_ns=1_002),
        OrderUpdate("backpack", 42, "rejected", order_id="1234", reason="post-only would cross", recv_ns=1_003),
        OrderUpdate("lighter", 43, "partially_filled", filled=3, avg_px=101, recv_ns=1_004),
        Fill("backpack", 42, 9, "bid", 14125, 3, True, fee=-2, recv_ns=1_005),
        Position("backpack", 0, -3, 14125, recv_ns=1_006),
        Resync("lighter", 3, "gap 5 -> 9", recv_ns=1_007),
        RateLimited("backpack:orders", 5_000, recv_ns=1_008),
        MarkPrice("binance_usdm", 2, 117_942, index_px=117_846, funding_rate=-38_167,
                  next_funding_ms=1_562_306_400_000, venue_ms=1_562_305_380_000, recv_ns=1_009),
        MarkPrice("aster", 0, 5, recv_ns=1_010),  # no index, a contract without funding
    ]


def fields(ev: object) -> dict[str, object]:
    """What an event says, without `seq`/`decoded_ns` (the ring assigns those)."""
    names = [n for n in dir(ev) if not n.startswith("_") and n not in ("seq", "decoded_ns")]
    return {n: getattr(ev, n) for n in names if not callable(getattr(ev, n))}


def test_every_kind_round_trips_in_order(tmp_path: Path) -> None:
    ring = EventRing(64)
    path = tmp_path / "events.journal"
    sent = every_kind()
    with Journal(ring, path, meta='{"run": "t1"}') as j:
        for ev in sent:
            assert ring.push(ev) == "queued"
        pushed = ring.drain()  # the dispatcher's view: same events, with decoded_ns from the ring
    assert j.closed and j.events == len(sent) and j.dropped == 0 and j.bytes > 0
    reader = read_journal(path)
    assert reader.meta == '{"run": "t1"}'
    got = list(reader)
    assert [fields(e) for e in got] == [fields(e) for e in sent]
    assert [e.decoded_ns for e in got] == [e.decoded_ns for e in pushed]
    assert [e.seq for e in got] == list(range(1, len(sent) + 1))
    assert not reader.truncated


def test_a_journal_written_before_the_mark_kind_still_reads() -> None:
    """A version-1 file from a build without MarkPrice (kind 8 was added inside version 1: old files have none)."""
    reader = JournalReader(Path(__file__).parent / "data" / "v1_before_mark.journal")
    got = list(reader)
    assert [e.kind for e in got] == ["book", "trade", "position", "operator"]
    assert fields(got[0]) == fields(BookUpdate("binance_usdm", 0, (1000, 5), (1001, 7), book_seq=1, recv_ns=100))
    assert fields(got[3]) == fields(OperatorAction("params", '{"ok": true}', recv_ns=400))
    assert reader.meta == '{"run": "v1 before the mark kind"}' and not reader.truncated


def test_journal_keeps_books_the_ring_conflated(tmp_path: Path) -> None:
    ring = EventRing(2)
    path = tmp_path / "j"
    j = Journal(ring, path)
    outcomes = [ring.push(BookUpdate("backpack", 0, (100 + i, 1), (200, 1), book_seq=i)) for i in range(10)]
    assert outcomes.count("conflated") == 8
    j.close()
    assert [e.book_seq for e in JournalReader(path)] == list(range(10))


def test_flush_makes_events_readable_while_running(tmp_path: Path) -> None:
    ring = EventRing(64)
    path = tmp_path / "j"
    j = Journal(ring, path, flush_interval_ms=60_000.0)  # the writer would otherwise sleep a minute
    for i in range(5):
        ring.push(Trade("lighter", 0, 100, 1, "bid", i))
    j.flush()
    assert [e.trade_id for e in JournalReader(path)] == [0, 1, 2, 3, 4]
    j.close()
    j.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        j.flush()


def test_errors_are_clear_and_change_nothing(tmp_path: Path) -> None:
    ring = EventRing(8)
    with pytest.raises(FileNotFoundError):
        Journal(ring, tmp_path / "no" / "such" / "dir" / "j")
    j = Journal(ring, tmp_path / "a")  # the failed attach left the ring free
    with pytest.raises(RuntimeError, match="already attached"):
        Journal(ring, tmp_path / "b")
    j.close()
    with pytest.raises(ValueError, match="capacity"):
        Journal(ring, tmp_path / "c", capacity=0)
    with pytest.raises(ValueError, match="flush_interval_ms"):
        Journal(ring, tmp_path / "c", flush_interval_ms=-1.0)
    (tmp_path / "text").write_text("hello, this is not a journal file at all")
    with pytest.raises(JournalFormatError, match="bad magic"):
        JournalReader(tmp_path / "text")
    with pytest.raises(FileNotFoundError):
        JournalReader(tmp_path / "missing")


def test_damage_in_the_middle_names_the_frame(tmp_path: Path) -> None:
    ring = EventRing(8)
    path = tmp_path / "j"
    j = Journal(ring, path, flush_interval_ms=60_000.0)
    ring.push(Trade("lighter", 0, 100, 1, "bid", 1))
    j.flush()
    size_one = path.stat().st_size
    ring.push(Trade("lighter", 0, 100, 1, "bid", 2))
    j.close()
    data = bytearray(path.read_bytes())
    data[size_one - 1] ^= 0xFF  # last byte of the first frame's payload
    path.write_bytes(bytes(data))
    with pytest.raises(JournalFormatError, match=r"frame 0 .*checksum"):
        list(JournalReader(path))


CRASHER = textwrap.dedent("""
    import os, signal, sys
    from xtb.core import EventRing, Journal, Trade
    ring = EventRing(1 << 12)
    j = Journal(ring, sys.argv[1], flush_interval_ms=60_000.0)
    for i in range(1000):
        ring.push(Trade("lighter", 0, 100, 1, "bid", i))
        ring.drain()
    j.flush()                       # the first 1000 are on disk
    for i in range(1000, 1500):
        ring.push(Trade("lighter", 0, 100, 1, "bid", i))
    print("flushed", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no close(): the writer dies with the process
""")


def test_crash_loses_at_most_the_unflushed_batch(tmp_path: Path) -> None:
    path = tmp_path / "events.journal"
    proc = subprocess.run([sys.executable, "-c", CRASHER, str(path)], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "flushed" in proc.stdout
    ids = [e.trade_id for e in JournalReader(path)]
    # Everything flushed survives, in order; what came after the last write is lost, nothing else.
    assert ids[:1000] == list(range(1000))
    assert ids == list(range(len(ids))) and len(ids) <= 1500


def test_torn_tail_reads_up_to_the_last_whole_frame(tmp_path: Path) -> None:
    ring = EventRing(8)
    path = tmp_path / "j"
    j = Journal(ring, path, flush_interval_ms=60_000.0)
    ring.push(Trade("lighter", 0, 100, 1, "bid", 1))
    j.flush()
    ring.push(Trade("lighter", 0, 100, 1, "bid", 2))
    j.close()
    data = path.read_bytes()
    path.write_bytes(data[:-2])  # the writer died while writing the second frame
    reader = JournalReader(path)
    assert [e.trade_id for e in reader] == [1]
    assert reader.truncated


_i64 = st.integers(-(2**63), 2**63 - 1)
_level = st.none() | st.tuples(_i64, _i64)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), _level, _level, st.integers(0, 2**64 - 1),
                          st.integers(0, 2**62)), max_size=50))
def test_property_books_round_trip(tmp_path_factory: pytest.TempPathFactory, books: list[tuple]) -> None:
    path = tmp_path_factory.mktemp("prop") / "j"
    ring = EventRing(1 << 8)
    sent = [BookUpdate("grvt", b, bid, ask, book_seq=s, recv_ns=r) for b, bid, ask, s, r in books]
    with Journal(ring, path):
        for ev in sent:
            ring.push(ev)
    assert [fields(e) for e in read_journal(path)] == [fields(e) for e in sent]


def test_read_batch_and_start_clock(tmp_path: Path) -> None:
    ring = EventRing(1 << 12)
    path = tmp_path / "j"
    with Journal(ring, path) as j:
        for i in range(3000):
            ring.push(BookUpdate("lighter", 1, (1_412_500 + i % 7, 300 + i), (1_412_510, 120), book_seq=i))
    # Compact: real timestamps and prices, about 15 bytes per top-of-book update.
    assert j.bytes / 3000 < 20, j.bytes
    reader = JournalReader(path)
    assert reader.start_monotonic_ns > 0 and reader.start_wall_ns > 1_600_000_000 * 10**9
    first = reader.read_batch(1000)
    rest = reader.read_batch()
    assert len(first) == 1000 and len(rest) == 2000 and reader.read_batch() == []
    assert os.path.getsize(path) > 0


def test_windows_coalesce_books_and_keep_other_events(tmp_path: Path) -> None:
    ring = EventRing(64)
    path = tmp_path / "j"
    with Journal(ring, path):
        for t, ev in [(0, BookUpdate("lighter", 1, (1, 1), (2, 1), book_seq=1, recv_ns=0)),
                      (1, BookUpdate("lighter", 2, (5, 1), (6, 1), book_seq=1, recv_ns=1)),
                      (2, Trade("lighter", 1, 2, 1, "bid", 9, recv_ns=2)),
                      (3, BookUpdate("lighter", 1, (1, 2), (2, 2), book_seq=2, recv_ns=3)),
                      (12, BookUpdate("lighter", 1, (1, 3), (2, 3), book_seq=3, recv_ns=12))]:
            assert ev.recv_ns == t
            ring.push(ev)
    w = JournalWindows(path, 10)
    windows = w.next_windows()
    assert [(end, [(e.kind, e.recv_ns) for e in evs]) for end, evs in windows] == [
        (10, [("book", 1), ("trade", 2), ("book", 3)]),
        (22, [("book", 12)]),
    ]
    assert w.next_windows() == [] and w.events_read == 5 and w.coalesced == 1
    assert w.progress[0] == w.progress[1] > 0
    with pytest.raises(ValueError, match="window_ns"):
        JournalWindows(path, 0)
