"""Cython vs Python picows listener on the same frames over loopback.

A picows server on 127.0.0.1 writes N pre-encoded frames in one burst, then a close frame; the client
listener feeds every frame to a FeedDecoder. One round = one connection carrying N frames, so
frames/s = N / median. Two frame kinds: 20+20-level depth deltas and bookTicker messages.
Both listeners do identical decoding work; the difference is the per-frame glue
(Python bytes object + Python call vs payload pointer + C call).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator

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
    ticker_frame,
)

from xtb._core import EventRing, FeedDecoder, OrderBook
from xtb.transport import CyFeedListener, PyFeedListener

N_DEPTH = 4096
N_TICKER = 20000


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


async def one_session(listener_cls: type, blob: bytes, n_frames: int) -> int:
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
        await asyncio.wait_for(transport.wait_disconnected(), timeout=60)
    finally:
        server.close()
        await server.wait_closed()
    assert listener.errors == 0 and listener.frames == n_frames, (listener.errors, listener.frames)
    assert dec.stats()["unknown_symbol"] == 0 and not book.is_stale
    return int(listener.frames)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


@pytest.fixture(scope="module")
def depth_burst() -> bytes:
    return b"".join(ws_text_frame(depth_frame(SNAPSHOT_SEQ + 1 + i)) for i in range(N_DEPTH))


@pytest.fixture(scope="module")
def ticker_burst() -> bytes:
    return b"".join(ws_text_frame(ticker_frame(SNAPSHOT_SEQ + 1 + i)) for i in range(N_TICKER))


def run(benchmark, loop: asyncio.AbstractEventLoop, cls: type, blob: bytes, n: int) -> None:
    assert cls is not None, "build the Cython listener first: python build.py"
    frames = benchmark.pedantic(lambda: loop.run_until_complete(one_session(cls, blob, n)), rounds=9)
    assert frames == n
    benchmark.extra_info["frames_per_round"] = n


@pytest.mark.benchmark(group="listener_loopback_depth_20x20")
def test_baseline_python_listener_depth(benchmark, loop, depth_burst: bytes) -> None:
    run(benchmark, loop, PyFeedListener, depth_burst, N_DEPTH)


@pytest.mark.benchmark(group="listener_loopback_depth_20x20")
def test_xtb_cython_listener_depth(benchmark, loop, depth_burst: bytes) -> None:
    run(benchmark, loop, CyFeedListener, depth_burst, N_DEPTH)


@pytest.mark.benchmark(group="listener_loopback_book_ticker")
def test_baseline_python_listener_ticker(benchmark, loop, ticker_burst: bytes) -> None:
    run(benchmark, loop, PyFeedListener, ticker_burst, N_TICKER)


@pytest.mark.benchmark(group="listener_loopback_book_ticker")
def test_xtb_cython_listener_ticker(benchmark, loop, ticker_burst: bytes) -> None:
    run(benchmark, loop, CyFeedListener, ticker_burst, N_TICKER)
