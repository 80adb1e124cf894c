"""What every simulated venue server shares: an aiohttp app on 127.0.0.1 (ephemeral port by default),
its background tasks, and a shutdown that closes client sockets before the runner."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Iterable
from typing import Any, Protocol

from aiohttp import web

from xtb.sim.wire_faults import WireFaults


class LoopbackServer:
    #: the WebSocket path of the venue (Backpack "/", Lighter "/stream")
    ws_path = "/"

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # hooks for the venue servers
    app: web.Application

    def _background(self) -> Iterable[Coroutine[Any, Any, Any]]:
        """Coroutines to run while the server is up (e.g. the book flush loop)."""
        return ()

    def _open_sockets(self) -> Iterable[Any]:
        """The aiohttp WebSocketResponse of every connected client."""
        return ()

    @property
    def extra_urls(self) -> dict[str, Any]:
        """What else a client needs beyond `rest_url` and `ws_url` (more hosts, a chain id); none by default."""
        return {}

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{self.ws_path}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the ephemeral port actually bound
        for coro in self._background():
            self._spawn(coro)

    async def stop(self) -> None:
        for ws in list(self._open_sockets()):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"server shutdown")
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


class FaultySocket(Protocol):
    """A server-side WebSocket session that the fault plan may drop or stall."""

    ws: web.WebSocketResponse
    conn_id: str
    stalled_until: float  # time.monotonic() before which nothing is sent


def abort(ws: web.WebSocketResponse) -> None:
    """Close the TCP connection under a WebSocket without a close frame (what a network drop looks like)."""
    req = ws._req
    if req is not None and req.transport is not None:
        req.transport.close()


async def send_with_faults(session: FaultySocket, faults: WireFaults, frame: bytes) -> bool:
    """Send one frame after the socket's faults: a drop aborts the connection, a stall holds this and every
    later frame until it ends. False when the socket is gone (dropped, or the send failed)."""
    fault = faults.socket_fault(session.conn_id)
    if fault is not None and fault[0] == "drop":
        abort(session.ws)
        return False
    if fault is not None:
        session.stalled_until = max(session.stalled_until, time.monotonic() + fault[1])
    stall = session.stalled_until - time.monotonic()
    if stall > 0:
        await asyncio.sleep(stall)
    try:
        await session.ws.send_str(frame.decode())
    except (ConnectionError, RuntimeError):
        return False
    return True
