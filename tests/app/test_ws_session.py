"""WsSession against a real picows server on 127.0.0.1: reconnects, stale drops, backoff."""

import asyncio
import random
import time

from picows import WSListener, WSMsgType, ws_create_server

from xtb.transport.ws import WsSession


class ServerSide(WSListener):
    """Per connection: sends `hello` on connect; answers 'close-me' by closing; 'silence' stops nothing."""

    def __init__(self, registry):
        self.registry = registry

    def on_ws_connected(self, transport):
        self.registry.append(transport)
        transport.send(WSMsgType.TEXT, b"hello")

    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.TEXT and frame.get_payload_as_bytes() == b"close-me":
            transport.disconnect()


class ClientSide(WSListener):
    def __init__(self):
        self.frames: list[bytes] = []
        self.last_ns = time.monotonic_ns()

    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.TEXT:
            self.frames.append(frame.get_payload_as_bytes())
            self.last_ns = time.monotonic_ns()


async def start_server(conns, port=0):
    server = await ws_create_server(lambda req: ServerSide(conns), "127.0.0.1", port)
    return server, server.sockets[0].getsockname()[1]


async def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_reconnects_after_peer_close_and_resubscribes():
    conns: list = []
    server, port = await start_server(conns)
    subscribed, lost = [], []

    async def on_connected(transport, listener):
        subscribed.append(listener)
        transport.send(WSMsgType.TEXT, b"subscribe")

    s = WsSession("t", f"ws://127.0.0.1:{port}/", ClientSide, on_connected=on_connected,
                  on_disconnected=lost.append, backoff_initial_s=0.01, rng=random.Random(0))
    s.start()
    try:
        await wait_for(lambda: s.connected.is_set() and subscribed and subscribed[0].frames == [b"hello"])
        s.send(b"close-me")
        await wait_for(lambda: len(subscribed) == 2 and s.connected.is_set())
        assert lost == ["closed"]
        assert s.stats.connects == 2 and s.stats.disconnects == 1
    finally:
        await s.stop()
        server.close()
    assert not s.connected.is_set()


async def test_stale_stream_is_dropped_and_reconnected():
    conns: list = []
    server, port = await start_server(conns)
    lost = []
    s = WsSession("t", f"ws://127.0.0.1:{port}/", ClientSide, on_disconnected=lost.append,
                  last_activity_ns=lambda lst: lst.last_ns, stale_after_s=0.1,
                  backoff_initial_s=0.01, rng=random.Random(0))
    s.start()
    try:
        await wait_for(lambda: s.stats.stale_drops >= 1 and s.stats.connects >= 2)
        assert lost[0].startswith("stale: no frame for")
    finally:
        await s.stop()
        server.close()


async def test_connect_failures_back_off_until_the_server_appears():
    # find a free port, leave it closed for a while
    probe, port = await start_server([])
    probe.close()
    await probe.wait_closed()
    s = WsSession("t", f"ws://127.0.0.1:{port}/", ClientSide, backoff_initial_s=0.02, backoff_max_s=0.05,
                  connect_timeout_s=1.0, rng=random.Random(0))
    s.start()
    server = None
    try:
        await wait_for(lambda: s.stats.failures >= 2)
        assert not s.connected.is_set()
        server, _ = await start_server([], port)
        await wait_for(lambda: s.connected.is_set())
    finally:
        await s.stop()
        if server is not None:
            server.close()


def test_backoff_grows_and_is_capped():
    s = WsSession("t", "ws://127.0.0.1:1/", ClientSide, backoff_initial_s=0.1, backoff_max_s=1.0,
                  rng=random.Random(3))
    delays = [s._next_backoff(a) for a in range(8)]
    assert all(0.05 <= d <= 1.0 for d in delays)
    assert delays[0] <= 0.1 and max(delays[5:]) <= 1.0 and min(delays[5:]) >= 0.5
