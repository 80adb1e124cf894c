"""Cython vs Python picows listener on the same frames over loopback.

A picows server on 127.0.0.1 writes N pre-encoded depth frames in one burst, then a close frame; the
client listener feeds every frame to a FeedDecoder. One round = one connection carrying N frames, so
frames/s = N / median. Both listeners do identical decoding work; the difference is the per-frame glue
(Python bytes object + Python call vs payload pointer + C call).
"""

from __future__ import annotations

import asyncio
import struct

import picows
import pytest
from md_frames import (
    PRICE_DECIMALS,
    SIZE_DECIMALS,
    SNAPSHOT_ASKS,
    SNAPSHOT_BIDS,
    SNAPSHOT_SEQ,
    SYMBOL,
    depth_frame,
)

from xtb._core import EventRing, FeedDecoder, OrderBook
from xtb.transport import CyFeedListener, PyFeedListener

GROUP = "listener_loopback_frames"
N_FRAMES = 2560


def ws_text_frame(payload: bytes) -> bytes:
    """An unmasked server-to-client text frame."""
    n = len(payload)
    if n < 126:
        return bytes([0x81, n]) + payload
    if n < 1 << 16:
        return bytes([0x81, 126]) + struct.pack("!H", n) + payload
    return bytes([0x81, 127]) + struct.pack("!Q", n) + payload


class BurstServer(picows.WSListener):  # type: ignore[misc]
    def __init__(self, blob: bytes) -> None:
        super().__init__()
        self.blob = blob

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        transport.underlying_transport.write(self.blob)
        transport.send_close(picows.WSCloseCode.OK)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.CLOSE:
            transport.disconnect()


async def one_session(listener_cls: type, blob: bytes) -> int:
    ring = EventRing(1 << 12)
    dec = FeedDecoder("backpack", ring)
    book = OrderBook("backpack", SYMBOL, PRICE_DECIMALS, SIZE_DECIMALS)
    dec.add_book(book)
    book.apply_snapshot(SNAPSHOT_BIDS, SNAPSHOT_ASKS, SNAPSHOT_SEQ)
    drain = getattr(ring, "drain", None)
    listener = listener_cls(dec, on_burst_end=drain)
    server = await picows.ws_create_server(lambda _r: BurstServer(blob), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        transport, _ = await picows.ws_connect(lambda: listener, f"ws://127.0.0.1:{port}/")
        await asyncio.wait_for(transport.wait_disconnected(), timeout=30)
    finally:
        server.close()
        await server.wait_closed()
    assert listener.errors == 0 and book.seq == SNAPSHOT_SEQ + N_FRAMES, (listener.errors, book.seq)
    return int(listener.frames)


@pytest.fixture(scope="module")
def burst() -> bytes:

    return b"".join(ws_text_frame(depth_frame(SNAPSHOT_SEQ + 1 + i)) for i in range(N_FRAMES))


def run(benchmark, cls: type, blob: bytes) -> None:
    frames = benchmark.pedantic(lambda: asyncio.run(one_session(cls, blob)), rounds=7, iterations=1)
    assert frames == N_FRAMES
    benchmark.extra_info["frames_per_round"] = N_FRAMES


@pytest.mark.benchmark(group=GROUP)
def test_baseline_python_listener(benchmark, burst: bytes) -> None:
    run(benchmark, PyFeedListener, burst)


@pytest.mark.benchmark(group=GROUP)
def test_xtb_cython_listener(benchmark, burst: bytes) -> None:
    assert CyFeedListener is not None, "build the Cython listener first: python build.py"
    run(benchmark, CyFeedListener, burst)
