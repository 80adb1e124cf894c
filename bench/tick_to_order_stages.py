"""Where the Backpack leg's time and tail go: a per-stage histogram over many orders.

    python bench/tick_to_order_stages.py                   100,000 orders (about a minute here)
    python bench/tick_to_order_stages.py --orders 20000 --json stages.json
    python bench/tick_to_order_stages.py --path submit     the OrderRequest path (gateway.submit + prepare)
    python bench/tick_to_order_stages.py --nonce-pool 65536   a pool that never refills during the run

Runs the `tick_to_order_backpack` pipeline of bench/bench_tick_to_order.py (the real listener, decoder,
dispatcher, strategy, gateway and connector; the send transports nothing) under the same harness: before
each frame, untimed, the event loop runs the send tasks spawned so far; the frame is then handed to the
listener with the loop marked running. Clock stamps (`perf_counter_ns`, ~50 ns each) are taken at the stage
boundaries by thin wrappers around the strategy's `on_book`, the gateway's submit and the venue's order
call, so each round is split into:

    frame -> on_book      listener, decoder, book, ring push, dispatcher up to the strategy's callback
    decision -> gateway   the strategy's own code and StrategyContext.place_limit before the gateway
    gateway -> order call risk check (none here) and what the gateway does before the venue's order call
    order call            the core call: client id, rate limit, connector checks, signature, tracker
    task spawn            the gateway's send task created (and the rest of the gateway)
    return to drain       back out of place_limit and on_book
    rest of burst         the dispatcher's remaining events (the tracker's order update, the connector's
                          listener), the listener's return

For the rounds in the total's slowest 1% it says which stage took the excess (the stage whose time is
furthest above its own median) and how many of them had a garbage collection running (`gc.callbacks`) or
a block of client ids reserved on the caller's stack. The wrappers add ~0.1-0.2 µs per stage boundary:
the per-stage figures are for attribution, the bench gate's figure is bench_tick_to_order.py's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_tick_to_order import SECRET, TRADE_AT, XtbPipeline, frames, new_loop, wait_for_nonce_pool

from xtb import _core

STAGES = ("frame -> on_book", "decision -> gateway", "gateway -> order call", "order call", "task spawn",
          "return to drain", "rest of burst", "total")
# stamp slots, in the order a round passes them
T0, BOOK_IN, SUBMIT_IN, CALL_IN, CALL_OUT, SUBMIT_OUT, BOOK_OUT, T1 = range(8)


class Stamps:
    def __init__(self) -> None:
        self.now = [0] * 8
        self.gc_active = False
        self.gc_in_round = False
        self.id_blocks = 0  # client id blocks taken by the order path (a lock and, rarely, a wait)
        self.id_writes_on_stack = 0  # blocks whose file write + fsync ran on the caller's thread

    def gc_callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.gc_active = True
            self.gc_in_round = True
        else:
            self.gc_active = False


def _wrap(fn: Callable[..., Any], now: list[int], slot_in: int, slot_out: int) -> Callable[..., Any]:
    clock = time.perf_counter_ns

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        now[slot_in] = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            now[slot_out] = clock()

    return wrapped


def instrument(xp: XtbPipeline, st: Stamps, path: str) -> None:
    """Put the stamps around the stage boundaries of this pipeline's order path."""
    now = st.now
    alloc = xp.strategy.ctx._ids["backpack"]
    main = threading.get_ident()
    take_block, reserve, nxt = alloc.take_block, alloc._reserve, alloc.next

    def counted_take() -> tuple[int, int]:
        st.id_blocks += 1
        return take_block()

    def counted_next() -> int:
        if alloc._next >= alloc._end:
            st.id_blocks += 1
        return nxt()

    def counted_reserve() -> tuple[int, int]:
        if threading.get_ident() == main:
            st.id_writes_on_stack += 1
        return reserve()

    alloc.take_block, alloc._reserve, alloc.next = counted_take, counted_reserve, counted_next  # type: ignore[method-assign]
    xp.strategy.on_book = _wrap(xp.strategy.on_book, now, BOOK_IN, BOOK_OUT)  # type: ignore[method-assign]
    # the dispatcher bound the strategy's callbacks when it was added: rebind it
    xp.dispatcher.remove_listener(xp.strategy)
    xp.dispatcher.add_listener(xp.strategy)
    gw = xp.gateway
    entry = getattr(gw, "place_limit", None) if path == "entry" else None
    if entry is not None:  # the one-call order path (gateway.place_limit -> the venue's core order entry)
        gw.place_limit = _wrap(entry, now, SUBMIT_IN, SUBMIT_OUT)  # type: ignore[method-assign]
        xp.strategy.ctx._place = gw.place_limit  # the context bound the gateway's entry point at construction
        lane = gw._lane("backpack")
        assert lane is not None, "the Backpack connector offers no core order entry"
        lane.call = _wrap(lane.call, now, CALL_IN, CALL_OUT)
    else:  # the OrderRequest path: StrategyContext -> gateway.submit -> connector.prepare_submit
        xp.strategy.ctx._place = None
        gw.submit = _wrap(gw.submit, now, SUBMIT_IN, SUBMIT_OUT)  # type: ignore[method-assign]
        route = gw._route("backpack")
        route.prepare = _wrap(route.prepare, now, CALL_IN, CALL_OUT)


def run(orders: int, warmup: int, path: str = "entry", nonce_pool: int | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        xp = XtbPipeline(Path(tmp), TRADE_AT)
        if nonce_pool is not None:
            xp.conn._signer = _core.BackpackSigner(SECRET, None, nonce_pool=nonce_pool)
            wait_for_nonce_pool(xp.conn._signer)
        st = Stamps()
        instrument(xp, st, path)
        loop = new_loop()
        clock = time.perf_counter_ns
        on_frame = xp.on_frame
        now = st.now
        rows: list[tuple[int, ...]] = []
        flags: list[tuple[bool, bool, bool]] = []
        gc.callbacks.append(st.gc_callback)
        try:
            for i, frame in enumerate(frames(orders + warmup)):
                asyncio.events._set_running_loop(None)
                loop.run_until_complete(xp.gateway.drain(10.0))
                asyncio.events._set_running_loop(loop)
                st.gc_in_round = st.gc_active
                blocks, writes = st.id_blocks, st.id_writes_on_stack
                now[T0] = clock()
                on_frame(frame)
                now[T1] = clock()
                if i >= warmup:
                    rows.append((now[BOOK_IN] - now[T0], now[SUBMIT_IN] - now[BOOK_IN],
                                 now[CALL_IN] - now[SUBMIT_IN], now[CALL_OUT] - now[CALL_IN],
                                 now[SUBMIT_OUT] - now[CALL_OUT], now[BOOK_OUT] - now[SUBMIT_OUT],
                                 now[T1] - now[BOOK_OUT], now[T1] - now[T0]))
                    flags.append((st.gc_in_round, st.id_blocks != blocks, st.id_writes_on_stack != writes))
            asyncio.events._set_running_loop(None)
            loop.run_until_complete(xp.gateway.drain(10.0))
        finally:
            gc.callbacks.remove(st.gc_callback)
            asyncio.events._set_running_loop(None)
            loop.close()
        assert xp.strategy.orders == orders + warmup and xp.gateway.stats.denied == {}
        res = summarize(rows, flags)
        res["path"] = path
        res["nonce_pool"] = xp.conn._signer.nonce_pool_stats
    return res


def pct(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1e3


def summarize(rows: list[tuple[int, ...]], flags: list[tuple[bool, bool, bool]]) -> dict[str, Any]:
    cols = list(zip(*rows, strict=True))
    table = {}
    medians = []
    for name, col in zip(STAGES, cols, strict=True):
        s = sorted(col)
        medians.append(statistics.median(s))
        table[name] = {"p50": pct(s, 0.5), "p90": pct(s, 0.9), "p99": pct(s, 0.99), "p99.9": pct(s, 0.999),
                       "max": s[-1] / 1e3, "mean": sum(s) / len(s) / 1e3}
    total = cols[-1]
    cut = sorted(total)[int(0.99 * len(total))]
    slow = [i for i, t in enumerate(total) if t >= cut]
    blame = dict.fromkeys(STAGES[:-1], 0)
    excess = dict.fromkeys(STAGES[:-1], 0.0)
    for i in slow:
        over = [rows[i][k] - medians[k] for k in range(len(STAGES) - 1)]
        k = max(range(len(over)), key=over.__getitem__)
        blame[STAGES[k]] += 1
        for k, v in enumerate(over):
            excess[STAGES[k]] += max(v, 0) / 1e3
    return {
        "orders": len(rows), "stages_us": table,
        "slowest_1pct": {
            "rounds": len(slow), "threshold_us": cut / 1e3,
            "stage_with_most_excess": blame,
            "excess_us_mean": {k: round(v / max(len(slow), 1), 2) for k, v in excess.items()},
            "with_gc": sum(1 for i in slow if flags[i][0]),
            "with_id_block": sum(1 for i in slow if flags[i][1]),
            "with_id_write_on_stack": sum(1 for i in slow if flags[i][2]),
        },
        "all_rounds_with_gc": sum(1 for f in flags if f[0]),
        "all_rounds_with_id_block": sum(1 for f in flags if f[1]),
    }


def print_table(res: dict[str, Any]) -> None:
    print(f"{res['orders']} orders through the {res['path']} path, nonce pool {res['nonce_pool']}; per stage (µs):")
    print("| stage | p50 | p90 | p99 | p99.9 | max | mean |\n|---|---|---|---|---|---|---|")
    for name, r in res["stages_us"].items():
        print(f"| {name} | {r['p50']:.2f} | {r['p90']:.2f} | {r['p99']:.2f} | {r['p99.9']:.2f} | {r['max']:.1f} | "
              f"{r['mean']:.2f} |")
    s = res["slowest_1pct"]
    print(f"\nslowest 1% ({s['rounds']} rounds, total >= {s['threshold_us']:.1f} µs): stage with the most excess "
          f"over its median, and mean excess per stage (µs):")
    print("| stage | rounds it dominated | mean excess |\n|---|---|---|")
    for name in s["stage_with_most_excess"]:
        print(f"| {name} | {s['stage_with_most_excess'][name]} | {s['excess_us_mean'][name]:.2f} |")
    print(f"\nof those, with a GC collection running: {s['with_gc']}; with a client id block taken: "
          f"{s['with_id_block']} (its file write on the caller's thread: {s['with_id_write_on_stack']}); over all "
          f"rounds: a GC collection in {res['all_rounds_with_gc']}, an id block taken in "
          f"{res['all_rounds_with_id_block']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=100_000, help="measured orders (default 100000)")
    ap.add_argument("--warmup", type=int, default=2_000)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--path", choices=("entry", "submit"), default="entry",
                    help="entry: gateway.place_limit -> the core order entry (what strategies use); submit: the "
                         "OrderRequest path (gateway.submit -> connector.prepare_submit), for comparison")
    ap.add_argument("--nonce-pool", type=int, help="replace the signer with one holding this many presigned nonces "
                                                   "(filled before the run)")
    args = ap.parse_args()
    if args.orders < 100:
        print("--orders: need at least 100", file=sys.stderr)
        return 2
    res = run(args.orders, args.warmup, args.path, args.nonce_pool)
    print_table(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
