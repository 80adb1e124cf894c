"""A reconnecting WebSocket session on picows.

The session owns the connect/reconnect loop; what happens on the socket is the listener's job (the
Cython core listener, or a plain-Python one) and what to send after connecting is the connector's
(`on_connected`: subscribe, authenticate). Behaviour:

- reconnect with exponential backoff and full jitter, reset after a connection that stayed up;
- a stale-stream watchdog: no frame for `stale_after_s` (read through `last_activity_ns`) drops the
  connection, because a silent socket is as bad as a closed one for a book;
- `on_disconnected` is called on every loss (the connector marks its books stale and its in-flight
  orders unresolved there) before the next attempt;
- protocol pings are answered by picows (auto-pong); venue JSON pings are the listener's business.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from picows import WSListener, WSMsgType, WSTransport, ws_connect

log = logging.getLogger("xtb.transport.ws")


@dataclass
class WsStats:
    connects: int = 0
    failures: int = 0
    disconnects: int = 0
    stale_drops: int = 0


class WsSession:
    def __init__(
        self,
        name: str,
        url: str,
        listener_factory: Callable[[], WSListener],
        *,
        on_connected: Callable[[WSTransport, WSListener], Awaitable[None]] | None = None,
        on_disconnected: Callable[[str], Awaitable[None] | None] | None = None,
        last_activity_ns: Callable[[WSListener], int] | None = None,
        stale_after_s: float | None = None,
        backoff_initial_s: float = 0.25,
        backoff_max_s: float = 30.0,
        stable_after_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        rng: random.Random | None = None,
        **ws_kwargs: Any,
    ) -> None:
        self.name = name
        self.url = url
        self.listener_factory = listener_factory
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.last_activity_ns = last_activity_ns
        self.stale_after_s = stale_after_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.stable_after_s = stable_after_s
        self.connect_timeout_s = connect_timeout_s
        self.ws_kwargs = ws_kwargs
        self._rng = rng or random.Random()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.transport: WSTransport | None = None
        self.listener: WSListener | None = None
        self.connected = asyncio.Event()
        self.stats = WsStats()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"ws-{self.name}")

    async def stop(self) -> None:
        self._stopping = True
        if self.transport is not None:
            self.transport.disconnect()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self.connected.clear()

    def drop(self) -> None:
        """Force a reconnect (e.g. after a sequence gap the venue only fixes with a new session)."""
        if self.transport is not None:
            self.transport.disconnect()

    def send(self, data: bytes) -> None:
        if self.transport is None:
            raise ConnectionError(f"{self.name}: not connected")
        self.transport.send(WSMsgType.TEXT, data)

    def _next_backoff(self, attempt: int) -> float:
        cap = min(self.backoff_max_s, self.backoff_initial_s * (2**attempt))
        return self._rng.uniform(cap / 2, cap)

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                transport, listener = await asyncio.wait_for(
                    ws_connect(self.listener_factory, self.url, **self.ws_kwargs), self.connect_timeout_s
                )
            except Exception as e:  # OSError, TimeoutError, picows' WSError: all mean "try again later"
                self.stats.failures += 1
                delay = self._next_backoff(attempt)
                attempt += 1
                log.warning("%s: connect to %s failed (%s); retry in %.2f s", self.name, self.url, e, delay)
                await asyncio.sleep(delay)
                continue

            if self._stopping:
                # stop() came while connecting and Python 3.11's wait_for returned the finished connect
                # instead of raising the cancel: close it rather than hold a session nobody will end.
                transport.disconnect()
                break
            self.transport, self.listener = transport, listener
            self.stats.connects += 1
            up_since = time.monotonic()
            reason = "closed by peer"
            try:
                if self.on_connected is not None:
                    await self.on_connected(transport, listener)
                self.connected.set()
                reason = await self._hold(transport, listener)
            except Exception as e:
                reason = f"session error: {e}"
                log.exception("%s: session error", self.name)
                transport.disconnect()
            finally:
                self.connected.clear()
                self.transport = None
                self.stats.disconnects += 1
            if self.on_disconnected is not None:
                res = self.on_disconnected(reason)
                if res is not None:
                    await res
            if self._stopping:
                break
            if time.monotonic() - up_since >= self.stable_after_s:
                attempt = 0
            delay = self._next_backoff(attempt)
            attempt += 1
            log.warning("%s: disconnected (%s); reconnecting in %.2f s", self.name, reason, delay)
            await asyncio.sleep(delay)

    async def _hold(self, transport: WSTransport, listener: WSListener) -> str:
        """Wait until the connection ends; returns why."""
        if self.stale_after_s is None or self.last_activity_ns is None:
            await transport.wait_disconnected()
            return "closed"
        waiter = asyncio.ensure_future(transport.wait_disconnected())
        try:
            check = max(0.01, self.stale_after_s / 4)
            while True:
                done, _ = await asyncio.wait({waiter}, timeout=check)
                if done:
                    return "closed"
                idle = (time.monotonic_ns() - self.last_activity_ns(listener)) / 1e9
                if idle > self.stale_after_s:
                    self.stats.stale_drops += 1
                    transport.disconnect()
                    await waiter
                    return f"stale: no frame for {idle:.1f} s"
        finally:
            if not waiter.done():
                waiter.cancel()
