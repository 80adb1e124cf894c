"""Shared helpers for the protocol front-end tests: a running cluster, signed Backpack requests, WS reads.

(Fixtures live here rather than in tests/sim/conftest.py, which holds the engine tests' fixtures.)
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from nacl.signing import SigningKey

from xtb.sim.backpack import auth
from xtb.sim.cluster import ClusterConfig, SimCluster
from xtb.sim.faults import FaultPlan, FaultRule

WS_TIMEOUT = 5.0


def plan(*rules: FaultRule, cancel_on_disconnect: bool = True) -> FaultPlan:
    return FaultPlan(list(rules), seed=1, cancel_on_disconnect=cancel_on_disconnect)


@pytest.fixture(name="cluster_factory")
async def cluster_factory_fixture() -> AsyncIterator[Callable[..., Any]]:
    """`await cluster_factory(venues=("backpack",), generate=False, ...)` -> a started SimCluster; all
    clusters made are stopped at teardown."""
    made: list[SimCluster] = []

    async def make(**kwargs: Any) -> SimCluster:
        kwargs.setdefault("generate", False)
        sim = SimCluster(ClusterConfig(**kwargs))
        await sim.start()
        made.append(sim)
        return sim

    yield make
    for sim in made:
        await sim.stop()


class BackpackSigner:
    """Signs Backpack requests with our own ED25519 code (PyNaCl) for raw-HTTP tests."""

    def __init__(self, secret_b64: str) -> None:
        self.key = SigningKey(base64.b64decode(secret_b64))
        self.api_key = base64.b64encode(bytes(self.key.verify_key)).decode()

    def sign(self, message: str) -> str:
        return base64.b64encode(self.key.sign(message.encode()).signature).decode()

    def headers(
        self,
        instruction: str,
        params: dict[str, Any] | list[dict[str, Any]],
        *,
        ts: int | None = None,
        window: int = 5000,
    ) -> dict[str, str]:
        ts = ts if ts is not None else time.time_ns() // 1_000_000
        if isinstance(params, list):
            message = auth.batch_signing_string(instruction, params, ts, window)
        else:
            message = auth.signing_string(instruction, params, ts, window)
        return {
            "X-API-Key": self.api_key,
            "X-Signature": self.sign(message),
            "X-Timestamp": str(ts),
            "X-Window": str(window),
            "Content-Type": "application/json; charset=utf-8",
        }

    def ws_signature(self, ts: int | None = None, window: int = 5000) -> list[str]:
        ts = ts if ts is not None else time.time_ns() // 1_000_000
        message = auth.signing_string("subscribe", {}, ts, window)
        return [self.api_key, self.sign(message), str(ts), str(window)]


async def recv_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = WS_TIMEOUT) -> Any:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    if msg.type != aiohttp.WSMsgType.TEXT:
        raise AssertionError(f"expected a text frame, got {msg.type} {msg.data!r}")
    return orjson.loads(msg.data)


async def recv_until(
    ws: aiohttp.ClientWebSocketResponse, pred: Callable[[Any], bool], timeout: float = WS_TIMEOUT
) -> Any:
    """Read frames until one satisfies `pred` (bounded by `timeout` overall)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError("no matching frame before the timeout")
        frame = await recv_json(ws, left)
        if pred(frame):
            return frame


async def no_frame(ws: aiohttp.ClientWebSocketResponse, within: float) -> bool:
    """True if no text frame arrives within `within` seconds."""
    try:
        msg = await asyncio.wait_for(ws.receive(), within)
    except TimeoutError:
        return True
    return msg.type != aiohttp.WSMsgType.TEXT


class ThreadedCluster:
    """A SimCluster on its own event loop in a daemon thread, for synchronous drivers (hypothesis
    `@given` tests, schemathesis). `call(fn)` runs `fn` on the loop thread (engine state is read there);
    `close()` stops the cluster and the thread (bounded waits)."""

    def __init__(self, **config: Any) -> None:
        import threading

        config.setdefault("generate", False)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sim-loop", daemon=True)
        self._thread.start()
        self.sim = SimCluster(ClusterConfig(**config))
        self.run(self.sim.start())

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        async def invoke() -> Any:
            return fn(*args)

        return self.run(invoke())

    def close(self) -> None:
        try:
            self.run(self.sim.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


def http_call(
    base: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One blocking HTTP request (stdlib only) -> (status, headers, body)."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()
