"""The order-entry HTTP client against real servers on 127.0.0.1 (aiohttp's, and raw asyncio ones for
replies aiohttp will not produce), plus a property test of reply parsing across read boundaries."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ssl
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from local_http import serve

from xtb.transport.keepalive_http import (
    BadResponse,
    ConnectFailed,
    ConnectionLost,
    HttpReply,
    KeepAliveClient,
    _Connection,
)


@pytest.fixture
async def server():
    """An aiohttp server recording what it saw: (method, path_qs, headers, body, peer port)."""
    seen: list[tuple[str, str, dict[str, str], bytes, int]] = []
    active = {"now": 0, "max": 0}

    async def handler(request: web.Request) -> web.StreamResponse:
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        try:
            body = await request.read()
            peer = request.transport.get_extra_info("peername")[1]
            seen.append((request.method, request.path_qs, dict(request.headers), body, peer))
            mode = request.headers.get("X-Mode", "")
            if mode == "sleep":
                await asyncio.sleep(1.0)
            if mode == "chunked":
                resp = web.StreamResponse(status=201)
                resp.enable_chunked_encoding()
                await resp.prepare(request)
                await resp.write(b'{"part":')
                await resp.write(b'"two"}')
                await resp.write_eof()
                return resp
            if mode == "gzip":
                return web.Response(body=gzip.compress(b'{"zipped":true}'),
                                    headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
            if mode == "close":
                return web.Response(body=b"bye", headers={"Connection": "close"})
            if mode == "slowish":
                await asyncio.sleep(0.02)
            return web.Response(status=int(request.headers.get("X-Status", "200")), body=b"echo:" + body,
                                headers={"X-Reply": "yes", "Retry-After": "0.5"})
        finally:
            active["now"] -= 1

    async with serve(handler) as port:
        yield f"http://127.0.0.1:{port}", seen, active


async def raw_server(reply: bytes, *, close_after: bool = True):
    """A server that reads one request head and answers `reply` verbatim (b"" = closes without a reply)."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")]
            if length and length[0]:
                await reader.readexactly(length[0])
            if reply:
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if close_after:
                writer.close()

    srv = await asyncio.start_server(on_client, "127.0.0.1", 0)
    return srv, f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"


async def test_round_trip_reuses_one_warm_connection(server):
    url, seen, _ = server
    c = KeepAliveClient(url)
    await c.warm(1)
    assert c.connects == 1
    for i in range(3):
        r = await c.request("POST", "/api/v1/order", headers={"X-API-Key": "k", "Content-Type": "application/json"},
                            body=b'{"n":%d}' % i)
        assert r.status == 200 and r.body == b'echo:{"n":%d}' % i
        assert r.headers["x-reply"] == "yes"  # case-insensitive
    assert c.connects == 1
    assert len({s[4] for s in seen}) == 1  # one client port: one connection
    method, path, headers, body, _ = seen[0]
    assert (method, path, body) == ("POST", "/api/v1/order", b'{"n":0}')
    assert headers["X-API-Key"] == "k" and headers["Host"].startswith("127.0.0.1:")
    assert headers["User-Agent"].startswith("xtb") and headers["Accept"] == "*/*"
    await c.close()


async def test_query_params_path_prefix_and_empty_body(server):
    url, seen, _ = server
    c = KeepAliveClient(url + "/base/")
    r = await c.request("GET", "/orders", params={"symbol": "SOL_USDC", "limit": 5, "skip": None})
    assert r.status == 200 and r.body == b"echo:"
    assert seen[-1][1] == "/base/orders?symbol=SOL_USDC&limit=5"
    await c.close()


async def test_chunked_and_gzip_replies(server):
    url, _, _ = server
    c = KeepAliveClient(url)
    r = await c.request("POST", "/x", headers={"X-Mode": "chunked"}, body=b"{}")
    assert (r.status, r.body) == (201, b'{"part":"two"}')
    r = await c.request("GET", "/x", headers={"X-Mode": "gzip"})
    assert r.body == b'{"zipped":true}'
    assert c.connects == 1
    await c.close()


async def test_connection_close_reply_is_read_then_a_new_connection_is_used(server):
    url, seen, _ = server
    c = KeepAliveClient(url)
    assert (await c.request("GET", "/a", headers={"X-Mode": "close"})).body == b"bye"
    assert (await c.request("GET", "/b")).status == 200
    assert c.connects == 2 and seen[0][4] != seen[1][4]
    await c.close()


async def test_body_delimited_by_the_close():
    srv, url = await raw_server(b"HTTP/1.1 200 OK\r\nConnection: close\r\nX-A: 1\r\n\r\nhello, world")
    async with srv:
        c = KeepAliveClient(url)
        r = await c.request("GET", "/")
        assert (r.status, r.body, r.headers["X-A"]) == (200, b"hello, world", "1")
        await c.close()


@pytest.mark.parametrize(("reply", "close_after", "error", "match"), [
    (b"", True, ConnectionLost, "before the reply was complete"),  # dropped without a reply
    (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"partial\"", True, ConnectionLost,
     "before the reply was complete"),  # half a reply, then the close
    (b"SMTP READY\r\n\r\n", False, BadResponse, "unparseable"),  # not HTTP
], ids=["dropped", "half_reply", "garbage"])
async def test_a_broken_reply_says_what_could_have_happened(reply, close_after, error, match):
    srv, url = await raw_server(reply, close_after=close_after)
    async with srv:
        c = KeepAliveClient(url)
        with pytest.raises(error, match=match):
            await c.request("POST", "/api/v1/order", body=b"{}")
        await c.close()


async def test_refused_connect_is_connect_failed():
    srv, url = await raw_server(b"")
    srv.close()
    await srv.wait_closed()
    c = KeepAliveClient(url, connect_timeout_s=1.0)
    with pytest.raises(ConnectFailed, match=r"connect to 127\.0\.0\.1"):
        await c.request("GET", "/")
    await c.close()


async def test_timeout_closes_the_connection_and_the_next_request_works(server):
    url, _, _ = server
    c = KeepAliveClient(url)
    with pytest.raises(TimeoutError, match=r"0\.1 s"):
        await c.request("POST", "/o", headers={"X-Mode": "sleep"}, body=b"{}", timeout_s=0.1)
    # The late reply must never be read as the next request's: that connection is gone.
    r = await c.request("POST", "/o", body=b"next")
    assert r.body == b"echo:next" and c.connects == 2
    await c.close()


async def test_idle_connection_past_its_ttl_is_replaced(server):
    url, _, _ = server
    c = KeepAliveClient(url, idle_ttl_s=0.05)
    await c.request("GET", "/")
    await asyncio.sleep(0.1)
    await c.request("GET", "/")
    assert c.connects == 2
    await c.close()


async def test_kept_warm_a_quiet_spell_costs_the_next_request_no_connect(server):
    url, _, _ = server
    c = KeepAliveClient(url, idle_ttl_s=0.3)
    await c.warm(1)
    c.keep_warm(1)
    await asyncio.sleep(0.75)  # past the ttl: the keeper has replaced the idle connection
    before = c.connects
    assert before >= 2
    assert (await c.request("GET", "/")).status == 200
    assert c.connects == before  # the request found a warm connection
    await c.close()
    assert c._keeper is None and not c._idle


async def test_connection_cap_queues_requests(server):
    url, seen, active = server
    c = KeepAliveClient(url, max_connections=2)
    replies = await asyncio.gather(*(c.request("POST", "/o", headers={"X-Mode": "slowish"}, body=b"%d" % i)
                                     for i in range(6)))
    assert sorted(r.body for r in replies) == sorted(b"echo:%d" % i for i in range(6))
    assert c.connects == 2 and active["max"] <= 2 and len({s[4] for s in seen}) == 2
    await c.close()


async def test_waiting_for_a_connection_counts_against_the_timeout(server):
    url, _, _ = server
    c = KeepAliveClient(url, max_connections=1)
    slow = asyncio.ensure_future(c.request("POST", "/o", headers={"X-Mode": "sleep"}, body=b"", timeout_s=2))
    await asyncio.sleep(0.05)
    with pytest.raises(TimeoutError):
        await c.request("GET", "/", timeout_s=0.1)
    await slow
    assert (await c.request("GET", "/")).status == 200
    await c.close()


async def test_bad_input_is_refused_with_the_field_named(server):
    url, _, _ = server
    with pytest.raises(ValueError, match="base_url"):
        KeepAliveClient("ftp://example.com")
    with pytest.raises(ValueError, match="max_connections"):
        KeepAliveClient(url, max_connections=0)
    with pytest.raises(ValueError, match="user_agent"):
        KeepAliveClient(url, user_agent="x\r\nEvil: 1")
    c = KeepAliveClient(url)
    with pytest.raises(ValueError, match="header 'X-Evil'"):
        await c.request("GET", "/", headers={"X-Evil": "a\r\nX-Injected: 1"})
    await c.close()
    with pytest.raises(ConnectFailed, match="closed"):
        await c.request("GET", "/")


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_tls_with_verification(tmp_path):
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=b"secure:" + await request.read())

    async with serve(handler, path="/o", method="POST", ssl_context=server_ctx) as port:
        trusting = ssl.create_default_context(cafile=str(cert))
        c = KeepAliveClient(f"https://localhost:{port}", ssl_context=trusting)
        await c.warm(1)
        assert (await c.request("POST", "/o", body=b"x")).body == b"secure:x"
        assert (await c.request("POST", "/o", body=b"y")).body == b"secure:y"
        assert c.connects == 1
        await c.close()
        # The default context does not trust a self-signed certificate: refused before anything is sent.
        strict = KeepAliveClient(f"https://localhost:{port}")
        with pytest.raises(ConnectFailed, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            await strict.request("POST", "/o", body=b"z")
        await strict.close()


# ---- reply parsing does not depend on where the socket reads split the bytes ---------------------------

_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).filter(
    lambda s: s.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"))
_value = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=20)


class _FakeTransport:
    closed = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


@settings(max_examples=150, deadline=None)
@given(status=st.sampled_from([200, 201, 202, 400, 404, 429, 500, 503]),
       headers=st.lists(st.tuples(_token, _value), max_size=5),
       body=st.binary(max_size=300), chunked=st.booleans(), data=st.data())
def test_reply_split_anywhere_parses_the_same(status, headers, body, chunked, data):
    head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    if chunked:
        cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=4)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if b > a]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        raw = (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + payload
    else:
        raw = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    splits = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(raw) - 1)), max_size=6))))

    loop = asyncio.new_event_loop()
    try:
        conn = _Connection()
        conn.connection_made(_FakeTransport())  # type: ignore[arg-type]
        waiter: asyncio.Future[HttpReply] = loop.create_future()
        conn.send(b"", waiter)
        for a, b in zip([0, *splits], [*splits, len(raw)], strict=True):
            if b > a:
                conn.data_received(raw[a:b])
        assert waiter.done()
        reply = waiter.result()
    finally:
        loop.close()
    assert reply.status == status and reply.body == body
    for k, v in headers:
        assert v in reply.headers.getall(k)
    assert conn.keep_alive


def test_connector_options_are_validated_with_the_key_named():
    from xtb.venues.backpack import BackpackConfig
    from xtb.venues.lighter.config import LighterConfig

    assert BackpackConfig.from_options({}).order_http == "keepalive"
    with pytest.raises(ValueError, match=r"venues\.backpack\.options\.order_http: expected one of keepalive"):
        BackpackConfig.from_options({"order_http": "curl"})
    with pytest.raises(ValueError, match=r"venues\.backpack\.options\.order_connections"):
        BackpackConfig.from_options({"order_connections": -1})
    with pytest.raises(ValueError, match=r"venues\.lighter\.options\.order_http"):
        LighterConfig(rest_url="http://x", ws_url="ws://x", chain_id=1, account_index=1, api_key_index=2,
                      order_http="requests")
