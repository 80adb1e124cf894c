"""What every simulated venue server shares: an aiohttp app on 127.0.0.1 (ephemeral port by default),
its background tasks, and a shutdown that closes client sockets before the runner."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterable
from typing import Any

from aiohttp import web


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
