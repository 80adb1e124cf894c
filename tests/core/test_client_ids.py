"""Client order ids: unique per venue account, across threads, processes and restarts."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from xtb.orders import ClientIdAllocator, ClientIdError, ClientIdsExhausted
from xtb.venues.registry import venue_spec

UINT32 = (1, 2**32 - 1)  # Backpack clientId


def test_sequential_ids_are_unique_and_in_range(tmp_path: Path) -> None:
    alloc = ClientIdAllocator(tmp_path / "ids.json", lo=1, hi=1000, block=8)
    ids = [alloc.next() for _ in range(50)]
    assert ids == list(range(1, 51))
    assert alloc.high_water_mark() == 57  # 7 blocks of 8 reserved
    assert alloc.range == (1, 1000)


def test_next_block_is_reserved_ahead_off_the_callers_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alloc = ClientIdAllocator(tmp_path / "ids.json", lo=1, hi=10**6, block=10)
    assert [alloc.next() for _ in range(6)] == [1, 2, 3, 4, 5, 6]  # half the block used: prefetch starts
    spare = alloc._spare
    assert spare is not None and spare.result(timeout=5) == (11, 21)
    assert alloc.high_water_mark() == 21  # reserved (fsynced) before any of its ids is handed out
    writer_threads: list[str] = []
    write = alloc._write_mark

    def spy(mark: int) -> None:
        writer_threads.append(threading.current_thread().name)
        write(mark)

    monkeypatch.setattr(alloc, "_write_mark", spy)
    ids = [alloc.next() for _ in range(30)]
    assert ids == list(range(7, 37))  # contiguous: one allocator, blocks in order
    if alloc._spare is not None:
        alloc._spare.result(timeout=5)
    assert writer_threads and all(name.startswith("xtb-client-ids") for name in writer_threads)


def test_restart_never_reuses_ids(tmp_path: Path) -> None:
    path = tmp_path / "ids.json"
    first = ClientIdAllocator(path, lo=1, hi=10**6, block=100)
    used = {first.next() for _ in range(130)}
    # "Restart": a new allocator on the same file; the unused rest of the old block is skipped.
    second = ClientIdAllocator(path, lo=1, hi=10**6, block=100)
    after = [second.next() for _ in range(10)]
    assert not used & set(after)
    assert after[0] == 201
    assert json.loads(path.read_text())["next"] == 301


def test_concurrent_threads_get_unique_ids(tmp_path: Path) -> None:
    alloc = ClientIdAllocator(tmp_path / "ids.json", lo=1, hi=2**32 - 1, block=16)
    out: list[list[int]] = [[] for _ in range(8)]

    def work(i: int) -> None:
        out[i].extend(alloc.next() for _ in range(500))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    all_ids = [x for chunk in out for x in chunk]
    assert len(all_ids) == 4000 and len(set(all_ids)) == 4000


def _allocate_in_process(path: str, n: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    alloc = ClientIdAllocator(path, lo=1, hi=2**48 - 1, block=7)
    queue.put([alloc.next() for _ in range(n)])


def test_two_processes_sharing_the_state_file_get_unique_ids(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    path = str(tmp_path / "ids.json")
    procs = [ctx.Process(target=_allocate_in_process, args=(path, 300, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    all_ids = [x for r in results for x in r]
    assert len(set(all_ids)) == 900


def test_exhaustion_raises(tmp_path: Path) -> None:
    alloc = ClientIdAllocator(tmp_path / "ids.json", lo=5, hi=7, block=2)
    assert [alloc.next() for _ in range(3)] == [5, 6, 7]
    with pytest.raises(ClientIdsExhausted, match=r"5\.\.7"):
        alloc.next()


def test_corrupt_or_mismatched_state_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ids.json"
    path.write_text("{not json")
    with pytest.raises(ClientIdError, match="unreadable"):
        ClientIdAllocator(path, lo=1, hi=100).next()
    path.write_text(json.dumps({"version": 1, "next": 50, "lo": 1, "hi": 2**32 - 1}))
    with pytest.raises(ClientIdError, match="does not match"):
        ClientIdAllocator(path, lo=1, hi=2**48 - 1).next()


def test_for_venue_ranges_and_file_names(tmp_path: Path) -> None:
    bp_range, lt_range = venue_spec("backpack").client_id_range, venue_spec("lighter").client_id_range
    bp = ClientIdAllocator.for_venue(tmp_path, "backpack", "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=",
                                     id_range=bp_range)
    lt = ClientIdAllocator.for_venue(tmp_path, "lighter", "12345", id_range=lt_range)
    assert bp.range == bp_range == (1, 2**32 - 1)
    assert lt.range == lt_range == (1, 2**48 - 1)
    assert "/" not in bp.state_path.name[len("client_ids.") :] and bp.state_path.parent == tmp_path
    assert lt.state_path.name == "client_ids.lighter.12345.json"
    assert bp.next() == 1 and lt.next() == 1  # separate accounts, separate id spaces
    with pytest.raises(ValueError, match="lo"):
        ClientIdAllocator.for_venue(tmp_path, "kraken", "x", id_range=(5, 1))
    with pytest.raises(ValueError, match="block"):
        ClientIdAllocator(tmp_path / "x.json", lo=1, hi=2, block=0)
    assert "block=1024" in repr(bp)


def test_take_block_leaves_next_its_own_block(tmp_path: Path) -> None:
    """A core order entry takes whole blocks; `next()` (market orders, batches) keeps numbering its own block
    without waiting for a reservation, and no id is handed out twice."""
    a = ClientIdAllocator.for_venue(tmp_path, "backpack", "mixed", block=8, id_range=UINT32)
    first = a.next()
    blocks = [a.take_block() for _ in range(3)]
    assert a.next() == first + 1
    taken = [i for s, e in blocks for i in range(s, e)]
    assert all(e - s == 8 for s, e in blocks) and first not in taken and len(set(taken)) == len(taken)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
def test_a_forked_child_reserves_blocks_without_the_parents_prefetch_thread(tmp_path: Path) -> None:
    """The prefetch worker is a thread: a forked child (a process pool's worker) gets the executor but not the
    thread, so work queued there would never run and a block reservation would wait forever."""
    ClientIdAllocator.for_venue(tmp_path, "backpack", "parent", block=4, id_range=UINT32).take_block()
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 once it has reserved blocks through the prefetch path
        try:
            b = ClientIdAllocator.for_venue(tmp_path, "backpack", "child", block=4, id_range=UINT32)
            ids = [i for _ in range(3) for i in range(*b.take_block())] + [b.next() for _ in range(9)]
            os._exit(0 if len(set(ids)) == len(ids) == 21 else 2)
        except BaseException:
            os._exit(3)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child's block reservation never finished")
