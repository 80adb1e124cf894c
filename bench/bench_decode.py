"""Decode + apply one 20+20-level Backpack depth frame: orjson + float + dict vs the core's FeedDecoder.

One round decodes and applies 256 consecutive frames (hot in cache, as a just-read socket buffer is),
starting from the snapshot; the per-frame figure is the round's median / 256.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from md_frames import PRICE_DECIMALS, SIZE_DECIMALS, SNAPSHOT_ASKS, SNAPSHOT_BIDS, SNAPSHOT_SEQ, SYMBOL

from xtb._core import EventRing, FeedDecoder, OrderBook

GROUP = "decode_depth_20x20"


def python_batch(frames: list[bytes]) -> tuple[Callable[[], None], Callable[[], None]]:
    """(reset, run): run decodes + applies every frame once, from the snapshot."""
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}

    def reset() -> None:
        bids.clear()
        asks.clear()
        bids.update({p / 10: s / 1e5 for p, s in SNAPSHOT_BIDS})
        asks.update({p / 10: s / 1e5 for p, s in SNAPSHOT_ASKS})

    def run() -> None:
        last = SNAPSHOT_SEQ
        loads = orjson.loads
        for frame in frames:
            d = loads(frame)["data"]
            if d["U"] != last + 1:
                raise RuntimeError("gap")
            last = d["u"]
            for side, levels in ((bids, d["b"]), (asks, d["a"])):
                for p, q in levels:
                    px, sz = float(p), float(q)
                    if sz == 0:
                        side.pop(px, None)
                    else:
                        side[px] = sz

    return reset, run


def core_batch(frames: list[bytes]) -> tuple[Callable[[], None], Callable[[], None], OrderBook]:
    ring = EventRing(1 << 12)
    drain = getattr(ring, "drain", None)  # the dispatcher drains once per burst; do the same per batch
    dec = FeedDecoder("backpack", ring)
    book = OrderBook("backpack", SYMBOL, PRICE_DECIMALS, SIZE_DECIMALS)
    dec.add_book(book)

    def reset() -> None:
        if drain is not None:
            drain()
        book.apply_snapshot(SNAPSHOT_BIDS, SNAPSHOT_ASKS, SNAPSHOT_SEQ)

    def run() -> None:
        feed = dec.feed
        for frame in frames:
            feed(frame, 0)

    return reset, run, book


# One round = the 256-frame batch from a fresh snapshot (setup, not timed); per frame = median / 256.
ROUNDS = 200


@pytest.mark.benchmark(group=GROUP)
def test_baseline_orjson_float_dict(benchmark, depth_frames: list[bytes]) -> None:
    reset, run = python_batch(depth_frames)
    benchmark.pedantic(run, setup=reset, rounds=ROUNDS, iterations=1)
    benchmark.extra_info["frames_per_round"] = len(depth_frames)


@pytest.mark.benchmark(group=GROUP)
def test_xtb_feed_decoder(benchmark, depth_frames: list[bytes], ratio_gate) -> None:
    reset, run, book = core_batch(depth_frames)
    benchmark.pedantic(run, setup=reset, rounds=ROUNDS, iterations=1)
    benchmark.extra_info["frames_per_round"] = len(depth_frames)
    assert not book.is_stale and book.seq == SNAPSHOT_SEQ + len(depth_frames)
    py_reset, py_run = python_batch(depth_frames)
    ratio_gate.check(benchmark, GROUP, py_run, run, setup_baseline=py_reset, setup_xtb=reset, blocks=10, rounds=10)
