"""Decode + apply one 20+20-level Backpack depth frame: orjson + float + dict vs the core's FeedDecoder.

Each call handles the next frame of a 256-frame cycle; at the wrap both sides restart from the snapshot
(amortised over 256 frames).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from md_frames import PRICE_DECIMALS, SIZE_DECIMALS, SNAPSHOT_ASKS, SNAPSHOT_BIDS, SNAPSHOT_SEQ, SYMBOL

from xtb._core import EventRing, FeedDecoder, OrderBook

GROUP = "decode_depth_20x20"


def python_decoder(frames: list[bytes]) -> Callable[[], None]:
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    state = {"i": 0, "last": SNAPSHOT_SEQ}

    def reset() -> None:
        bids.clear()
        asks.clear()
        bids.update({p / 10: s / 1e5 for p, s in SNAPSHOT_BIDS})
        asks.update({p / 10: s / 1e5 for p, s in SNAPSHOT_ASKS})
        state["i"], state["last"] = 0, SNAPSHOT_SEQ

    def step() -> None:
        if state["i"] == len(frames):
            reset()
        d = orjson.loads(frames[state["i"]])["data"]
        if d["U"] != state["last"] + 1:
            raise RuntimeError("gap")
        state["last"] = d["u"]
        for side, levels in ((bids, d["b"]), (asks, d["a"])):
            for p, q in levels:
                px, sz = float(p), float(q)
                if sz == 0:
                    side.pop(px, None)
                else:
                    side[px] = sz
        state["i"] += 1

    reset()
    return step


def core_decoder(frames: list[bytes]) -> tuple[Callable[[], None], OrderBook]:
    ring = EventRing(1 << 12)
    drain = getattr(ring, "drain", None)  # the dispatcher drains once per burst; do the same per cycle
    dec = FeedDecoder("backpack", ring)
    book = OrderBook("backpack", SYMBOL, PRICE_DECIMALS, SIZE_DECIMALS)
    dec.add_book(book)
    feed = dec.feed
    state = {"i": len(frames)}

    def step() -> None:
        i = state["i"]
        if i == len(frames):
            if drain is not None:
                drain()
            book.apply_snapshot(SNAPSHOT_BIDS, SNAPSHOT_ASKS, SNAPSHOT_SEQ)
            i = 0
        feed(frames[i], 0)
        state["i"] = i + 1

    return step, book


@pytest.mark.benchmark(group=GROUP)
def test_baseline_orjson_float_dict(benchmark, depth_frames: list[bytes]) -> None:
    benchmark(python_decoder(depth_frames))


@pytest.mark.benchmark(group=GROUP)
def test_xtb_feed_decoder(benchmark, depth_frames: list[bytes]) -> None:
    step, book = core_decoder(depth_frames)
    benchmark(step)
    assert not book.is_stale and book.best_bid() is not None
