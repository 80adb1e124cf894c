"""Connector feed path: Backpack depth frames from a loopback socket to book events.

A server process (forked, so it does not share this core's time) streams FRAMES realistic Backpack
`depth.<s>` deltas (one level per frame, U == u, as the venue sends under normal load) as fast as the
socket takes them. Two clients receive the same stream in the same run:

- baseline: `websockets` + `orjson` + a dict book (levels keyed by numeric price, top recomputed per
  frame, the sequence rule checked), one Python event tuple per frame;
- xtb: picows + the Cython listener handing frame pointers to the core FeedDecoder (books in Rust,
  events in the EventRing), drained once per socket read burst with book conflation, as the engine does.

Figure: frames per second = FRAMES / median round time (`extra_info.frames_per_s`), and frame-to-event
latency p50/p99 from the events' own stamps (xtb: recv_ns -> decoded_ns, set by the listener and the
decoder; baseline: message handed to Python -> book updated). Run:
    python -m pytest bench/bench_connector_feed.py --benchmark-group-by=group --benchmark-columns=median,rounds
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from xtb import _core

FRAMES = 50_000
SYMBOL = "BTC_USDC_PERP"
LEVELS = 20  # distinct prices per side the stream touches
ROUNDS = 5


def build_frames(n: int) -> list[bytes]:
    frames = []
    e_us = 1_790_134_357_267_289
    for i in range(n):
        u = i + 1
        k = i % (2 * LEVELS)
        side_bid = k < LEVELS
        step = k % LEVELS
        px = f"{86600.0 - step * 0.1:.1f}" if side_bid else f"{86601.0 + step * 0.1:.1f}"
        qty = "0.00000" if i % 7 == 3 else f"{1 + (i % 13) / 10:.5f}"
        lv = f'[["{px}","{qty}"]]'
        bids, asks = (lv, "[]") if side_bid else ("[]", lv)
        frames.append(
            (
                f'{{"data":{{"E":{e_us + i},"T":{e_us + i - 200},"U":{u},"a":{asks},"b":{bids},'
                f'"e":"depth","s":"{SYMBOL}","u":{u}}},"stream":"depth.{SYMBOL}"}}'
            ).encode()
        )
    return frames


def snapshot_levels() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    bids = [(f"{86600.0 - s * 0.1:.1f}", "1.00000") for s in range(LEVELS)]
    asks = [(f"{86601.0 + s * 0.1:.1f}", "1.00000") for s in range(LEVELS)]
    return bids, asks


# ---- the server (separate process) ---------------------------------------------------------------


def _serve(port_pipe: Any, n: int) -> None:
    from picows import WSListener, WSMsgType, ws_create_server

    frames = build_frames(n)

    async def pump(transport: Any) -> None:
        # Paced by the socket: keep at most ~256 KiB queued, so a slow reader is not fed from a
        # multi-megabyte backlog (both clients see the same pacing).
        under = transport.underlying_transport
        sock = under.get_extra_info("socket")
        if sock is not None:  # no Nagle: a reader with delayed ACKs must not stall the stream
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(frames), 256):
            while under.get_write_buffer_size() > 256 * 1024:
                await asyncio.sleep(0)
            if transport.is_disconnected:
                return
            for f in frames[i : i + 256]:
                transport.send(WSMsgType.TEXT, f)

    class Sender(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: Any) -> None:
            asyncio.get_running_loop().create_task(pump(transport))

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == WSMsgType.CLOSE:  # answer the client's close handshake at once
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    async def main() -> None:
        server = await ws_create_server(lambda _req: Sender(), "127.0.0.1", 0)
        port_pipe.send(server.sockets[0].getsockname()[1])
        await asyncio.sleep(3600)  # killed by the fixture

    # uvloop's transport keeps its write backlog as a list of buffers; asyncio's default one moves the
    # whole backlog on every partial send, which would make a slow reader's stream quadratic.
    loop = _new_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


@pytest.fixture(scope="module")
def feed_url() -> Iterator[str]:
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child, FRAMES), daemon=True)
    proc.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("feed server did not start")
        port = parent.recv()
        yield f"ws://127.0.0.1:{port}/"
    finally:
        if proc.pid is not None:
            os.kill(proc.pid, signal.SIGTERM)
        proc.join(5)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()  # type: ignore[no-any-return]
    except ImportError:
        return asyncio.new_event_loop()


def _pct(values: list[int], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] / 1e3  # µs


# ---- baseline: websockets + orjson + dict book ------------------------------------------------------


class DictBook:
    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.seq = 0

    def snapshot(self, bids: list[tuple[str, str]], asks: list[tuple[str, str]], seq: int) -> None:
        self.bids = {float(p): float(q) for p, q in bids}
        self.asks = {float(p): float(q) for p, q in asks}
        self.seq = seq

    def apply(self, d: dict[str, Any]) -> tuple[Any, Any]:
        if d["U"] != self.seq + 1:
            raise RuntimeError(f"gap: U={d['U']} after {self.seq}")
        self.seq = d["u"]
        for side, levels in ((self.bids, d["b"]), (self.asks, d["a"])):
            for p, q in levels:
                px, sz = float(p), float(q)
                if sz == 0:
                    side.pop(px, None)
                else:
                    side[px] = sz
        bb = max(self.bids) if self.bids else None
        ba = min(self.asks) if self.asks else None
        return bb, ba


async def baseline_round(url: str, latencies: list[int]) -> int:
    import websockets

    book = DictBook()
    book.snapshot(*snapshot_levels(), 0)
    events: list[tuple[int, int, Any, Any]] = []
    n = 0
    async with websockets.connect(url, compression=None, max_size=None) as ws:
        async for msg in ws:
            recv = time.monotonic_ns()
            frame = orjson.loads(msg)
            bb, ba = book.apply(frame["data"])
            events.append((recv, time.monotonic_ns(), bb, ba))
            n += 1
            if n == FRAMES:
                break
    latencies.extend(done - recv for recv, done, _, _ in events[::50])
    return n


# ---- xtb: picows + Cython listener + core decoder --------------------------------------------------


async def xtb_round(url: str, latencies: list[int]) -> int:
    from picows import ws_connect
    from xtb.transport._cylistener import CyFeedListener

    ring = _core.EventRing(1 << 16)
    decoder = _core.FeedDecoder("backpack", ring)
    book = _core.OrderBook("backpack", SYMBOL, 1, 5)
    decoder.add_book(book)
    book.apply_snapshot(*snapshot_levels(), 0)
    ring.drain()
    done = asyncio.get_running_loop().create_future()
    holder: dict[str, Any] = {}
    delivered = 0

    def on_burst_end() -> None:
        nonlocal delivered
        events = ring.drain(None, True)  # the engine's drain: latest book state per burst
        delivered += len(events)
        for ev in events[::8]:
            latencies.append(ev.decoded_ns - ev.recv_ns)
        listener = holder.get("listener")
        if listener is not None and listener.frames >= FRAMES and not done.done():
            done.set_result(listener.frames)

    def factory() -> Any:
        lst = CyFeedListener(decoder, on_burst_end=on_burst_end)
        holder["listener"] = lst
        return lst

    transport, listener = await ws_connect(factory, url)
    try:
        frames = await asyncio.wait_for(done, 60)
    finally:
        transport.disconnect()
        await transport.wait_disconnected()
    if listener.errors or book.state != "live" or book.seq != FRAMES:
        raise RuntimeError(f"feed failed: errors={listener.errors} state={book.state} seq={book.seq}")
    assert delivered > 0
    return int(frames)


def _run(benchmark: Any, fn: Any, url: str) -> None:
    latencies: list[int] = []
    loop = _new_loop()
    try:
        counts: list[int] = []
        benchmark.pedantic(lambda: counts.append(loop.run_until_complete(fn(url, latencies))),
                           rounds=ROUNDS, iterations=1, warmup_rounds=1)
    finally:
        loop.close()
    assert counts and all(c == FRAMES for c in counts)
    benchmark.extra_info["frames_per_round"] = FRAMES
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["frames_per_s"] = round(FRAMES / stats.stats.median)
    benchmark.extra_info["latency_p50_us"] = round(_pct(latencies, 0.50), 2)
    benchmark.extra_info["latency_p99_us"] = round(_pct(latencies, 0.99), 2)


@pytest.mark.benchmark(group="connector_feed_backpack_depth")
def test_baseline_websockets_orjson_dict_book(benchmark: Any, feed_url: str) -> None:
    _run(benchmark, baseline_round, feed_url)


@pytest.mark.benchmark(group="connector_feed_backpack_depth")
def test_xtb_picows_cython_core_decoder(benchmark: Any, feed_url: str) -> None:
    _run(benchmark, xtb_round, feed_url)


def test_frames_are_valid_backpack_depth() -> None:
    """The bench stream decodes cleanly and keeps an uncrossed book (so both paths do real work)."""
    ring = _core.EventRing(1 << 12)
    dec = _core.FeedDecoder("backpack", ring)
    book = _core.OrderBook("backpack", SYMBOL, 1, 5)
    dec.add_book(book)
    book.apply_snapshot(*snapshot_levels(), 0)
    for f in build_frames(500):
        dec.feed(f)
    assert book.state == "live" and book.seq == 500
    ref = DictBook()
    ref.snapshot(*snapshot_levels(), 0)
    for f in build_frames(500):
        bb, ba = ref.apply(orjson.loads(f)["data"])
    assert book.best_bid()[0] == round(bb * 10) and book.best_ask()[0] == round(ba * 10)

