"""Both picows listeners over a real loopback WebSocket (server and client on 127.0.0.1, self-stopping)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import picows
import pytest
from picows import WSFrame, WSListener, WSMsgType, WSTransport

from xtb._core import EventRing, FeedDecoder, FeedError, OrderBook
from xtb.transport import CyFeedListener, FeedListener, PyFeedListener

FRAMES = Path(__file__).resolve().parent.parent / "data" / "frames"
DEPTH = (FRAMES / "backpack_depth.json").read_bytes().strip()
PING = (FRAMES / "lighter_ping.json").read_bytes().strip()
LISTENERS = [PyFeedListener, CyFeedListener]


def depth_frames(first_u: int, n: int) -> list[bytes]:
    return [DEPTH.replace(b"6730019258", str(first_u + i).encode()) for i in range(n)]


class ScriptedServer(WSListener):  # type: ignore[misc]
    """Sends `frames` on connect; closes once it has received `expect_replies` text frames."""

    def __init__(self, frames: list[bytes], expect_replies: int, received: list[bytes]) -> None:
        super().__init__()
        self.frames, self.expect, self.received = frames, expect_replies, received

    def on_ws_connected(self, transport: WSTransport) -> None:
        for f in self.frames:
            transport.send(WSMsgType.TEXT, f)
        if self.expect == 0:
            transport.send_close(picows.WSCloseCode.OK)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.received.append(frame.get_payload_as_bytes())
            if len(self.received) >= self.expect:
                transport.send_close(picows.WSCloseCode.OK)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()


async def session(listener: Any, frames: list[bytes], expect_replies: int = 0) -> list[bytes]:
    received: list[bytes] = []
    server = await picows.ws_create_server(
        lambda _req: ScriptedServer(frames, expect_replies, received), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    try:
        transport, _ = await picows.ws_connect(lambda: listener, f"ws://127.0.0.1:{port}/")
        await asyncio.wait_for(transport.wait_disconnected(), timeout=10)
    finally:
        server.close()
        await server.wait_closed()
    return received


def book_listener(cls: type, ring_capacity: int) -> tuple[EventRing, OrderBook, Any, list[BaseException], list[int]]:
    """A listener of class `cls` feeding a Backpack decoder with one snapshotted book (seq 99); it records
    its errors, and the ring's length at each burst end."""
    ring = EventRing(ring_capacity)
    dec = FeedDecoder("backpack", ring)
    book = OrderBook("backpack", "BTC_USDC_PERP", 1, 5)
    dec.add_book(book)
    book.apply_snapshot([(866500, 1)], [(866560, 1)], seq=99)
    errors: list[BaseException] = []
    bursts: list[int] = []
    listener = cls(dec, on_error=errors.append, on_burst_end=lambda: bursts.append(len(ring)))
    return ring, book, listener, errors, bursts


def test_feed_listener_prefers_cython() -> None:
    assert CyFeedListener is not None, "the Cython listener is not built (run python build.py)"
    assert FeedListener is CyFeedListener


@pytest.mark.parametrize("cls", LISTENERS, ids=lambda c: c.__name__)
async def test_listener_feeds_frames_reports_errors_and_burst_ends(cls: type) -> None:
    ring, book, listener, errors, bursts = book_listener(cls, 1 << 12)
    frames = [*depth_frames(100, 200), b'{"data":{"e":"depth"', *depth_frames(300, 1)]
    await session(listener, frames)
    assert book.seq == 300 and not book.is_stale
    assert book.best_bid() == (866559, 194230)
    assert listener.frames == 202 and listener.events == 201 and listener.errors == 1
    assert len(errors) == 1 and isinstance(errors[0], FeedError)
    assert errors[0].venue == "backpack"
    assert 1 <= len(bursts) <= 202 and bursts[-1] == len(ring) == 202  # 1 snapshot + 201 updates


@pytest.mark.parametrize("cls", LISTENERS, ids=lambda c: c.__name__)
async def test_listener_answers_application_pings(cls: type) -> None:
    dec = FeedDecoder("lighter", EventRing(16))
    listener = cls(dec, app_pong=b'{"type":"pong"}')
    received = await session(listener, [PING, PING], expect_replies=2)
    assert received == [b'{"type":"pong"}', b'{"type":"pong"}']
    assert dec.stats()["pings"] == 2


@pytest.mark.parametrize("cls", LISTENERS, ids=lambda c: c.__name__)
async def test_hook_that_raises_never_kills_the_loop(cls: type) -> None:
    dec = FeedDecoder("backpack", EventRing(16))
    seen: list[BaseException] = []

    def bad_burst_end() -> None:
        raise RuntimeError("strategy bug")

    listener = cls(dec, on_error=seen.append, on_burst_end=bad_burst_end)
    await session(listener, [b"{not json", b"{}"])
    assert listener.frames == 2 and listener.errors == 1
    assert any(isinstance(e, FeedError) for e in seen)
    assert any(isinstance(e, RuntimeError) for e in seen)


@pytest.mark.parametrize("cls", LISTENERS, ids=lambda c: c.__name__)
def test_feed_frame_decodes_one_frame_then_ends_the_burst(cls: type) -> None:
    """A frame handed over outside a socket read (replay, tests, the in-process benchmark) takes the same
    decode path and ends its own burst; a bad one is reported and changes nothing."""
    ring, book, listener, errors, bursts = book_listener(cls, 64)
    listener.feed_frame(depth_frames(100, 1)[0])
    assert book.seq == 100 and listener.frames == 1 and listener.events == 1 and bursts == [2]
    listener.feed_frame(b'{"data":{"e":"depth"')
    assert book.seq == 100 and listener.errors == 1 and isinstance(errors[0], FeedError)
    assert bursts == [2, 2]  # the burst still ends: the dispatcher drains what earlier frames pushed


@pytest.mark.parametrize("cls", LISTENERS, ids=lambda c: c.__name__)
def test_feed_frame_without_a_transport_leaves_pings_unanswered(cls: type) -> None:
    dec = FeedDecoder("lighter", EventRing(16))
    errors: list[BaseException] = []
    listener = cls(dec, on_error=errors.append, app_pong=b'{"type":"pong"}')
    listener.feed_frame(PING)
    assert dec.stats()["pings"] == 1 and listener.frames == 1 and errors == []
