"""A lean HTTP/1.1 client for order entry: warm keep-alive connections, one write per request, the reply
parsed by llhttp (httptools, the parser uvicorn uses).

Why not aiohttp on this path: on loopback against the same server, aiohttp's client costs several hundred
microseconds of Python per request on this machine (URL and header objects, cookie jar, request/response
wrappers, a task per timeout), more than everything from the depth frame to the signed order.
`bench/bench_order_http.py` pairs the two. Every other request (reads, account queries) stays on aiohttp
through `RestClient`; this client plugs into it (`RestClient(..., transport=KeepAliveClient(...))`) so the
retry and ambiguity policy is the same code for both.

What it does and does not do:
- Connections are opened ahead of need (`warm`) and reused most-recent-first; an idle one older than
  `idle_ttl_s` is closed instead of reused (servers drop idle keep-alive connections; a request written
  into one that is being closed could be lost in flight, which for an order means an ambiguous submit).
- Each request is one `transport.write` of head and body, with TCP_NODELAY.
- Replies: Content-Length, chunked, or delimited by the server closing; gzip/deflate bodies are decoded
  (none is asked for). `Connection: close` replies close the connection after reading.
- Errors say what could have happened: `ConnectFailed` (nothing was sent), `ConnectionLost` and
  `TimeoutError` (the server may have acted), `BadResponse` (unparseable reply). A connection that failed
  or timed out is closed, never reused.
- No redirects, no cookies, no proxies, no HTTP/2: order-entry endpoints need none of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl as ssl_module
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

log = logging.getLogger("xtb.transport.keepalive_http")


DEFAULT_USER_AGENT = "xtb (python keep-alive order client)"


class HttpTransportError(Exception):
    """The request did not get a complete HTTP reply."""


class ConnectFailed(HttpTransportError):
    """No connection could be opened: nothing was sent."""


class ConnectionLost(HttpTransportError):
    """The connection ended before the reply was complete: the server may have acted on the request."""


class BadResponse(HttpTransportError):
    """The reply is not valid HTTP/1.1."""


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight (no pipelining)."""

    __slots__ = (
        "body",
        "complete",
        "delimited",
        "headers",
        "headers_done",
        "keep_alive",
        "last_used",
        "lost",
        "parser",
        "status",
        "transport",
        "waiter",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[HttpReply] | None = None
        self.lost = False
        self.last_used = time.monotonic()
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.complete = False
        self.keep_alive = True
        self.headers_done = False
        self.delimited = False  # Content-Length or chunked: the end is known without the close

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            # Bytes nobody asked for (a late reply after a timeout, a server's goodbye): this connection's
            # stream can no longer be trusted to line up with requests.
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(BadResponse(f"unparseable reply: {e}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is None or self.waiter.done():
            return
        if self.headers_done and not self.delimited:
            self._finish()  # a body delimited by the close: the close completes it
        else:
            self._fail(ConnectionLost("connection closed before the reply was complete"
                                      + (f" ({exc})" if exc else "")))

    # --- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.status = self.parser.get_status_code()
        for k, v in self.headers:
            lk = k.lower()
            if lk == "content-length" or (lk == "transfer-encoding" and "chunked" in v.lower()):
                self.delimited = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        self._finish()

    # ---
    def _finish(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        self.complete = True
        body = b"".join(self.body)
        headers = CIMultiDict(self.headers)
        encoding = headers.get("Content-Encoding", "").lower()
        if encoding in ("gzip", "deflate"):
            try:
                body = zlib.decompress(body, 47 if encoding == "gzip" else 15)
            except zlib.error as e:
                self._fail(BadResponse(f"{encoding} body does not decode: {e}"))
                return
        waiter.set_result(HttpReply(self.status, CIMultiDictProxy(headers), body))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def send(self, data: bytes, waiter: asyncio.Future[HttpReply]) -> None:
        self._reset()
        self.waiter = waiter
        assert self.transport is not None
        self.transport.write(data)

    def reusable(self, now: float, idle_ttl_s: float) -> bool:
        return (not self.lost and self.keep_alive and self.transport is not None
                and not self.transport.is_closing() and now - self.last_used < idle_ttl_s)

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[HttpReply], timeout_s: float) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError(f"no complete reply within {timeout_s:g} s"))


class KeepAliveClient:
    """Keep-alive HTTP/1.1 connections to one origin (`base_url`: scheme, host, port, optional path
    prefix). At most `max_connections` are open; requests beyond that wait for one to come back."""

    def __init__(self, base_url: str, *, max_connections: int = 8, idle_ttl_s: float = 15.0,
                 connect_timeout_s: float = 5.0, ssl_context: ssl_module.SSLContext | None = None,
                 user_agent: str = DEFAULT_USER_AGENT) -> None:
        url = URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url: expected http(s)://host[:port][/prefix], got {base_url!r}")
        if max_connections < 1:
            raise ValueError(f"max_connections: must be >= 1, got {max_connections}")
        self.host = url.host
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.tls = url.scheme == "https"
        self._ssl = (ssl_context or ssl_module.create_default_context()) if self.tls else None
        default_port = url.port is None or url.is_default_port()
        host_header = f"[{self.host}]" if ":" in self.host else self.host
        if "\r" in user_agent or "\n" in user_agent:
            raise ValueError("user_agent: line breaks are not allowed in a header")
        # Sent with every request (CDN front ends may refuse requests without a User-Agent, as aiohttp's
        # client always sends one).
        self._host_line = (f"Host: {host_header}" + ("" if default_port else f":{self.port}") + "\r\n"
                           + f"User-Agent: {user_agent}\r\nAccept: */*\r\n")
        self._prefix = url.path.rstrip("/")
        self.max_connections = max_connections
        self.idle_ttl_s = idle_ttl_s
        self.connect_timeout_s = connect_timeout_s
        self._idle: list[_Connection] = []
        self._open = 0  # connections open or being opened, idle included
        self._slot_waiters: list[asyncio.Future[None]] = []
        self.connects = 0  # connections opened so far (a measure of reuse)
        self.closed = False
        self._keeper: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return (f"KeepAliveClient({'https' if self.tls else 'http'}://{self.host}:{self.port}, "
                f"open={self._open}, idle={len(self._idle)})")

    async def warm(self, connections: int = 1) -> None:
        """Open connections ahead of the first request (connect and TLS off the tick-to-order path)."""
        want = min(connections, self.max_connections) - self._open
        for _ in range(max(0, want)):
            self._open += 1
            try:
                conn = await self._connect()
            except BaseException:
                self._open -= 1
                raise
            if self.closed:
                conn.close()
                self._open -= 1
                return
            self._idle.append(conn)

    def keep_warm(self, connections: int) -> None:
        """Keep `connections` idle connections ready: a background task replaces idle ones before they reach
        `idle_ttl_s` and tops the pool up, so an order after a quiet spell still finds a warm connection
        (connect and TLS stay off its path). Stopped by `close`."""
        if self._keeper is None and connections > 0:
            self._keeper = asyncio.get_running_loop().create_task(self._keep_warm(connections))

    async def _keep_warm(self, connections: int) -> None:
        period = self.idle_ttl_s / 3
        while not self.closed:
            await asyncio.sleep(period)
            now = time.monotonic()
            # Idle connections past two thirds of their ttl are retired while nothing uses them.
            fresh = [c for c in self._idle if c.reusable(now, self.idle_ttl_s * 2 / 3)]
            for c in self._idle:
                if c not in fresh:
                    c.close()
                    self._open -= 1
            self._idle[:] = fresh
            try:
                await self.warm(connections)
            except ConnectFailed as e:
                # The venue is unreachable now: the next round (or the next order) tries again.
                log.debug("%s:%d: keeping order connections warm failed: %s", self.host, self.port, e)

    async def request(self, method: str, target: str, *, headers: Mapping[str, str] | None = None,
                      body: bytes | None = None, params: Mapping[str, object] | None = None,
                      timeout_s: float = 10.0) -> HttpReply:
        """Send one request and read its reply. `target` is the path (and query) under the base URL."""
        if self.closed:
            raise ConnectFailed("client is closed")
        if method == "HEAD":
            raise ValueError("method: HEAD is not supported by the order-entry client")
        path = self._prefix + target
        if params:
            path += ("&" if "?" in path else "?") + urlencode(
                {k: v for k, v in params.items() if v is not None}, doseq=True)
        parts = [f"{method} {path} HTTP/1.1\r\n", self._host_line]
        if headers:
            for k, v in headers.items():
                if "\r" in v or "\n" in v or "\r" in k or "\n" in k:
                    raise ValueError(f"header {k!r}: line breaks are not allowed in a header")
                parts.append(f"{k}: {v}\r\n")
        parts.append(f"Content-Length: {len(body) if body else 0}\r\n\r\n")
        data = "".join(parts).encode("latin-1")
        if body:
            data += body

        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[HttpReply] = loop.create_future()
        # One timer for the whole exchange (waiting for a connection, connecting, the reply).
        timer = loop.call_later(timeout_s, _expire, waiter, timeout_s)
        conn: _Connection | None = None
        try:
            conn = await self._acquire(waiter)
            conn.send(data, waiter)
            return await waiter
        finally:
            timer.cancel()
            if conn is not None:
                self._release(conn)  # closed unless its reply was read whole

    async def close(self) -> None:
        self.closed = True
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        self._open -= len(idle)
        for w in self._slot_waiters:
            if not w.done():
                w.set_exception(ConnectFailed("client is closed"))
        self._slot_waiters.clear()
        await asyncio.sleep(0)  # let the transports' close callbacks run

    # --- the pool
    def _pop_idle(self) -> _Connection | None:
        """The most recently used idle connection still fit to carry a request (the warmest, the least likely
        to be timed out by the server); unfit ones met on the way are closed."""
        now = time.monotonic()
        idle = self._idle
        while idle:
            conn = idle.pop()
            if conn.reusable(now, self.idle_ttl_s):
                return conn
            conn.close()
            self._open -= 1
        return None

    async def _acquire(self, deadline: asyncio.Future[HttpReply]) -> _Connection:
        while (conn := self._pop_idle()) is None and self._open >= self.max_connections:
            slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._slot_waiters.append(slot)
            done, _ = await asyncio.wait((slot, deadline), return_when=asyncio.FIRST_COMPLETED)
            if deadline in done:
                slot.cancel()
                deadline.result()  # raises the timeout
        if conn is not None:
            return conn
        self._open += 1
        try:
            connect = asyncio.ensure_future(self._connect())
            done, _ = await asyncio.wait((connect, deadline), return_when=asyncio.FIRST_COMPLETED)
            if connect not in done:
                connect.cancel()
                deadline.result()
            return connect.result()
        except BaseException:
            self._open -= 1
            self._wake_one()
            raise

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(_Connection, self.host, self.port, ssl=self._ssl,
                                       server_hostname=self.host if self.tls else None),
                self.connect_timeout_s)
        except (OSError, TimeoutError, ssl_module.SSLError) as e:
            raise ConnectFailed(f"connect to {self.host}:{self.port} failed: {type(e).__name__}: {e}") from None
        self.connects += 1
        return conn

    def _release(self, conn: _Connection) -> None:
        if not self.closed and conn.complete and conn.reusable(time.monotonic(), float("inf")):
            conn.waiter = None
            conn.last_used = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()
            self._open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._slot_waiters:
            w = self._slot_waiters.pop(0)
            if not w.done():
                w.set_result(None)
                return


# ---- connector wiring (the same options for every venue: `order_http`, `order_connections`) ------------

ORDER_HTTP_CHOICES = ("keepalive", "aiohttp")


def check_order_http(where: str, options: Mapping[str, object]) -> None:
    """Validate the two options; a bad value names its key."""
    kind = options.get("order_http", "keepalive")
    if kind not in ORDER_HTTP_CHOICES:
        raise ValueError(f"{where}.order_http: expected one of {', '.join(ORDER_HTTP_CHOICES)}, got {kind!r}")
    n = options.get("order_connections", 2)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 64:
        raise ValueError(f"{where}.order_connections: expected an int in 0..64, got {n!r}")


def order_transport(rest_url: str, kind: str, connections: int) -> KeepAliveClient | None:
    """The keep-alive client for a connector's order requests, or None for aiohttp."""
    if kind != "keepalive":
        return None
    return KeepAliveClient(rest_url, max_connections=max(8, connections))


async def warm_order_transport(venue: str, client: KeepAliveClient | None, connections: int) -> None:
    """Open the order connections at start. A failure is logged, not raised: the first order connects."""
    if client is None or connections <= 0:
        return
    try:
        await client.warm(connections)
    except ConnectFailed as e:
        log.warning("%s: order connections not opened ahead (%s); the first order will connect", venue, e)
    client.keep_warm(connections)
