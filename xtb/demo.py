"""`xtb demo`: the compiled core on a recorded Backpack depth stream, next to the pure-Python way.

The capture (xtb/data/backpack_sol_depth.jsonl, made by tools/record_capture.py from the simulator speaking
Backpack's protocol) holds a REST snapshot and the WebSocket frames that followed. The demo lines the
stream up on the snapshot exactly as a connector does, decodes every frame from raw bytes into the core's
fixed-point book, and times it against orjson + floats + a dict book doing the same work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from xtb._core import EventRing, FeedDecoder, OrderBook, format_fixed, parse_fixed

CAPTURE = "backpack_sol_depth.jsonl"


@dataclass
class DemoResult:
    frames: int
    events: int
    xtb_ns_per_frame: float
    baseline_ns_per_frame: float
    best_bid: tuple[int, int] | None
    best_ask: tuple[int, int] | None
    baseline_best: tuple[float | None, float | None]
    seq: int
    stale: bool


def load_capture(path: Path | None = None) -> tuple[str, dict[str, Any], list[bytes]]:
    if path is None:
        text = resources.files("xtb").joinpath("data", CAPTURE).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    lines = text.splitlines()
    head = orjson.loads(lines[0])
    frames = [orjson.loads(line)["frame"].encode() for line in lines[1:] if line]
    return head["symbol"], head["snapshot"], frames


def _baseline(snapshot: dict[str, Any], frames: list[bytes]) -> tuple[int, tuple[float | None, float | None]]:
    """What a careful pure-Python bot does: orjson, floats, one dict per side, sequence check."""
    bids = {float(p): float(s) for p, s in snapshot["bids"]}
    asks = {float(p): float(s) for p, s in snapshot["asks"]}
    last = int(snapshot["lastUpdateId"])
    t0 = time.perf_counter_ns()
    for raw in frames:
        d = orjson.loads(raw)["data"]
        if d["u"] <= last:
            continue
        last = d["u"]
        for p, s in d["b"]:
            px, sz = float(p), float(s)
            if sz == 0.0:
                bids.pop(px, None)
            else:
                bids[px] = sz
        for p, s in d["a"]:
            px, sz = float(p), float(s)
            if sz == 0.0:
                asks.pop(px, None)
            else:
                asks[px] = sz
        best = (max(bids) if bids else None, min(asks) if asks else None)
    elapsed = time.perf_counter_ns() - t0
    return elapsed, best


def run(path: Path | None = None, out: Callable[[str], None] = print) -> DemoResult:
    symbol, snapshot, frames = load_capture(path)
    pd, sd = 2, 2
    ring = EventRing(1 << 16)
    decoder = FeedDecoder("backpack", ring)
    book = OrderBook("backpack", symbol, pd, sd)
    decoder.add_book(book)
    book.apply_snapshot(
        [(parse_fixed(p, pd), parse_fixed(s, sd)) for p, s in snapshot["bids"]],
        [(parse_fixed(p, pd), parse_fixed(s, sd)) for p, s in snapshot["asks"]],
        int(snapshot["lastUpdateId"]),
    )
    feed = decoder.feed
    t0 = time.perf_counter_ns()
    for raw in frames:
        feed(raw)
    xtb_ns = time.perf_counter_ns() - t0
    events = len(ring.drain())
    base_ns, base_best = _baseline(snapshot, frames)
    n = len(frames)
    res = DemoResult(n, events, xtb_ns / n, base_ns / n, book.best_bid(), book.best_ask(), base_best, book.seq,
                     book.is_stale)

    def fmt(level: tuple[int, int] | None) -> str:
        return "-" if level is None else f"{format_fixed(level[1], sd)} @ {format_fixed(level[0], pd)}"

    out(f"replayed {n} Backpack depth frames for {symbol} (snapshot lastUpdateId {snapshot['lastUpdateId']})")
    out(f"  core book:  best bid {fmt(res.best_bid)}   best ask {fmt(res.best_ask)}   seq {res.seq}"
        f"   {'STALE' if res.stale else 'fresh'}   {events} events")
    bids, asks = book.top(5)
    out("  top 5:      bids " + ", ".join(format_fixed(p, pd) for p, _ in bids)
        + " | asks " + ", ".join(format_fixed(p, pd) for p, _ in asks))
    out(f"  decode + apply per frame: core {res.xtb_ns_per_frame / 1000:.2f} us,"
        f" pure Python (orjson + float + dict) {res.baseline_ns_per_frame / 1000:.2f} us"
        f"  -> {res.baseline_ns_per_frame / max(res.xtb_ns_per_frame, 1):.1f}x")
    return res
