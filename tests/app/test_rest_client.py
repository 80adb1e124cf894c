"""The REST client's retry policy against a real aiohttp server on 127.0.0.1."""

import asyncio
import random

import pytest
from aiohttp import web
from local_http import serve

from xtb.transport.keepalive_http import KeepAliveClient
from xtb.transport.rest import AmbiguousResponse, RestClient, RetriesExhausted, VenueRejected


@pytest.fixture
async def server():
    hits: dict[str, int] = {}
    script: dict[str, list] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        key = f"{request.method} {request.path}"
        hits[key] = hits.get(key, 0) + 1
        steps = script.get(key, [])
        step = steps.pop(0) if steps else ("ok", None)
        kind, arg = step
        if kind == "ok":
            return web.json_response({"ok": True, "n": hits[key], "q": dict(request.query),
                                      "ct": request.content_type, "body": (await request.read()).decode()})
        if kind == "status":
            status, body, headers = arg
            return web.Response(status=status, body=body, headers=headers, content_type="application/json")
        if kind == "sleep":
            await asyncio.sleep(arg)
            return web.json_response({"late": True})
        raise AssertionError(kind)

    async with serve(handler) as port:
        yield f"http://127.0.0.1:{port}", hits, script


@pytest.fixture(params=["aiohttp", "keepalive"])
def client(request):
    """A RestClient on either transport: the policy must not depend on it."""

    def make(url, **kw):
        kw.setdefault("backoff_s", 0.001)
        if request.param == "keepalive":
            kw["transport"] = KeepAliveClient(url)
        return RestClient("testvenue", url, rng=random.Random(1), **kw)

    return make


async def test_plain_get_decodes_json(server, client):
    url, hits, _ = server
    async with client(url) as c:
        got = await c.request("GET", "/api/v1/depth", params={"symbol": "SOL"})
        assert (got["ok"], got["n"], got["q"], got["body"]) == (True, 1, {"symbol": "SOL"}, "")


async def test_form_data_is_sent_url_encoded(server, client):
    url, _, _ = server
    async with client(url) as c:
        got = await c.request("POST", "/api/v1/sendTx", data={"tx_type": "14", "tx_info": '{"a": 1}'})
    assert got["ct"] == "application/x-www-form-urlencoded"
    assert got["body"] == "tx_type=14&tx_info=%7B%22a%22%3A+1%7D"


async def test_429_waits_for_hint_then_succeeds(server, client):
    url, hits, script = server
    script["POST /api/v1/order"] = [("status", (429, b'{"code":"TOO_MANY_REQUESTS","message":"slow"}',
                                                {"Retry-After": "0.05"}))]
    async with client(url) as c:
        t0 = asyncio.get_running_loop().time()
        res = await c.request("POST", "/api/v1/order", body=b"{}")
        assert asyncio.get_running_loop().time() - t0 >= 0.045
        assert res["n"] == 2 and c.stats.rate_limited == 1


async def test_5xx_on_read_is_retried_but_on_submit_is_ambiguous(server, client):
    url, hits, script = server
    script["GET /api/v1/orders"] = [("status", (503, b"busy", {}))] * 2
    script["POST /api/v1/order"] = [("status", (502, b"bad gateway", {}))]
    async with client(url) as c:
        assert (await c.request("GET", "/api/v1/orders"))["n"] == 3
        with pytest.raises(AmbiguousResponse, match="HTTP 502"):
            await c.request("POST", "/api/v1/order", body=b"{}")
    assert hits["POST /api/v1/order"] == 1  # never re-sent


async def test_timeout_on_submit_is_ambiguous_not_rejected(server, client):
    url, hits, script = server
    script["POST /api/v1/order"] = [("sleep", 1.0)]
    async with client(url, timeout_s=0.1) as c:
        with pytest.raises(AmbiguousResponse, match="no response"):
            await c.request("POST", "/api/v1/order", body=b"{}")
    assert hits["POST /api/v1/order"] == 1


async def test_structural_reject_carries_the_venue_code_and_is_not_retried(server, client):
    url, hits, script = server
    script["POST /api/v1/order"] = [
        ("status", (400, b'{"code":"INVALID_ORDER","message":"Order would immediately match and take."}', {}))]
    async with client(url) as c:
        with pytest.raises(VenueRejected) as ei:
            await c.request("POST", "/api/v1/order", body=b"{}")
    assert ei.value.code == "INVALID_ORDER" and ei.value.status == 400
    assert "immediately match" in str(ei.value)
    assert hits["POST /api/v1/order"] == 1


async def test_retries_are_bounded(server, client):
    url, hits, script = server
    script["GET /x"] = [("status", (500, b"", {}))] * 10
    async with client(url, max_retries=2) as c:
        with pytest.raises(RetriesExhausted):
            await c.request("GET", "/x")
    assert hits["GET /x"] == 3


async def test_limiter_is_consulted_with_the_venue_weight(server, client):
    url, _, _ = server
    calls = []

    class CountingLimiter:
        def acquire(self, key, weight=1, now_ns=None):
            calls.append((key, weight))
            return 2_000_000 if len(calls) == 1 else 0  # first call: wait 2 ms

    async with client(url, limiter=CountingLimiter(), limit_key=lambda m, p: ("sendTx", 6)) as c:
        await c.request("POST", "/api/v1/sendTx", body=b"")
    assert calls == [("sendTx", 6), ("sendTx", 6)]
    assert c.stats.limiter_wait_ns == 2_000_000
