"""Order entry over HTTP on loopback: one signed-order-shaped POST and its reply, round trip.

group `order_http_round_trip`: 20 sequential POSTs per round (request bytes as a Backpack order: the
signer's headers and JSON body) to an aiohttp server in a child process on 127.0.0.1 that reads the body
and answers Backpack's order reply. `baseline_*` is aiohttp's client as `RestClient` uses it (pooled
session, keep-alive, per-request timeout); `xtb_*` is `KeepAliveClient` (xtb/transport/keepalive_http.py), the
connectors' default order transport. Both run on uvloop, as `xtb run` does. The server's share is the same
for both; the difference is the client. The xtb case also runs both clients in alternating blocks of 50
requests (`extra_info.interleaved_ratio`, per-request p50s), the figure to read on this drifting VM.

Run: python -m pytest bench/bench_order_http.py --benchmark-group-by=group --benchmark-columns=median,iqr,rounds
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from collections.abc import Awaitable, Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import pytest

from xtb.transport.keepalive_http import KeepAliveClient

PER_ROUND = 20
ROUNDS = 40
HEADERS = {
    "X-API-Key": "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=",
    "X-Signature": "Zm9v" * 22,
    "X-Timestamp": "1763800000000",
    "X-Window": "5000",
    "Content-Type": "application/json; charset=utf-8",
}
BODY = (b'{"clientId":4242,"orderType":"Limit","postOnly":true,"price":"151.25","quantity":"0.10",'
        b'"side":"Bid","symbol":"SOL_USDC_PERP","timeInForce":"GTC"}')
REPLY = (b'{"clientId":4242,"createdAt":1763800000001,"executedQuantity":"0","executedQuoteQuantity":"0",'
         b'"id":"114328917","orderType":"Limit","postOnly":true,"price":"151.25","quantity":"0.10",'
         b'"selfTradePrevention":"RejectTaker","side":"Bid","status":"New","symbol":"SOL_USDC_PERP",'
         b'"timeInForce":"GTC"}')
LIFETIME_S = 300.0  # the child stops by itself after this, whatever happens to the parent


def _serve(conn: Connection) -> None:
    import uvloop
    from aiohttp import web

    async def order(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=REPLY, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/api/v1/order", order)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        conn.send(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LIFETIME_S
        while loop.time() < deadline and not conn.poll(0):  # the parent's word (or its exit) ends it
            await asyncio.sleep(0.05)
        await runner.cleanup()

    uvloop.run(main())


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child,), daemon=True)
    proc.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("order server did not start")
        yield f"http://127.0.0.1:{parent.recv()}"
    finally:
        parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.kill()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


Post = Callable[[], Awaitable[bytes]]


def _aiohttp_post(session: aiohttp.ClientSession, url: str) -> Post:
    timeout = aiohttp.ClientTimeout(total=5.0)

    async def post() -> bytes:
        async with session.request("POST", url + "/api/v1/order", data=BODY, headers=HEADERS,
                                   timeout=timeout) as resp:
            body = await resp.read()
            assert resp.status == 200
            return body

    return post


def _keepalive_post(client: KeepAliveClient) -> Post:
    async def post() -> bytes:
        reply = await client.request("POST", "/api/v1/order", headers=HEADERS, body=BODY, timeout_s=5.0)
        assert reply.status == 200
        return reply.body

    return post


async def _timed(post: Post, n: int, out: list[float]) -> None:
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        body = await post()
        out.append(clock() - t0)
        assert body == REPLY


def _p(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))] * 1e6, 1)


def _run(benchmark: Any, make: Callable[[], Awaitable[tuple[Post, Callable[[], Awaitable[None]]]]]) -> None:
    loop = _new_loop()
    try:
        post, close = loop.run_until_complete(make())
        samples: list[float] = []
        loop.run_until_complete(_timed(post, 50, []))  # warm: connections open, code paths hot
        benchmark.pedantic(lambda: loop.run_until_complete(_timed(post, PER_ROUND, samples)),
                           rounds=ROUNDS, iterations=1, warmup_rounds=1)
        benchmark.extra_info.update(per_request_p50_us=_p(samples, 0.5), per_request_p99_us=_p(samples, 0.99))
        loop.run_until_complete(close())
    finally:
        loop.close()


@pytest.mark.benchmark(group="order_http_round_trip")
def test_baseline_order_http(benchmark: Any, server_url: str) -> None:
    async def make() -> tuple[Post, Callable[[], Awaitable[None]]]:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64, ttl_dns_cache=300,
                                                                       enable_cleanup_closed=True))
        return _aiohttp_post(session, server_url), session.close

    _run(benchmark, make)


@pytest.mark.benchmark(group="order_http_round_trip")
def test_xtb_order_http(benchmark: Any, server_url: str) -> None:
    async def make() -> tuple[Post, Callable[[], Awaitable[None]]]:
        client = KeepAliveClient(server_url)
        await client.warm(1)
        return _keepalive_post(client), client.close

    _run(benchmark, make)
    if getattr(benchmark, "disabled", False):
        return
    # Both clients in alternating blocks, same minutes: the ratio does not move with the VM's phase.
    loop = _new_loop()

    async def interleaved() -> tuple[list[float], list[float]]:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        client = KeepAliveClient(server_url)
        base, ours = _aiohttp_post(session, server_url), _keepalive_post(client)
        await _timed(base, 20, [])
        await _timed(ours, 20, [])
        tb: list[float] = []
        tx: list[float] = []
        for _ in range(10):
            await _timed(base, 50, tb)
            await _timed(ours, 50, tx)
        await session.close()
        await client.close()
        return tb, tx

    try:
        tb, tx = loop.run_until_complete(interleaved())
    finally:
        loop.close()
    benchmark.extra_info.update(interleaved_baseline_p50_us=_p(tb, 0.5), interleaved_xtb_p50_us=_p(tx, 0.5),
                                interleaved_ratio=round(_p(tb, 0.5) / _p(tx, 0.5), 2))
