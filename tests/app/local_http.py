"""An aiohttp app served on 127.0.0.1 for the HTTP client tests."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web


@contextlib.asynccontextmanager
async def serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]], *, path: str = "/{tail:.*}",
                method: str = "*", ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """`handler` on a free port of 127.0.0.1; yields the port, cleans up on exit."""
    app = web.Application()
    app.router.add_route(method, path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()
