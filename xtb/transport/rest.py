"""One pooled REST client per venue: rate limiter, venue error parsing, and a retry policy that never
guesses about money.

Policy, by what the venue could have done with the request:
- 429 (or the venue's rate-limit code): nothing was done; wait for the venue's hint (Retry-After or
  the body's), then retry, up to `max_retries`.
- 5xx, timeouts and dropped connections on an idempotent request (reads, cancels): retry with
  exponential backoff and jitter.
- The same on a non-idempotent request (an order submit): the venue may have acted. Raise
  `AmbiguousResponse`; the caller marks the order unresolved and reconciles by client id. Never retried
  here, never treated as a rejection.
- Any other 4xx: a structural rejection (post-only would cross, min notional, price band...). Raise
  `VenueRejected` with the venue's code; never retried.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp
import orjson

from xtb.transport.keepalive_http import HttpTransportError, KeepAliveClient
from xtb.transport.throttle import SlotNeverGranted, take_slot

log = logging.getLogger("xtb.transport.rest")


class Limiter(Protocol):
    def acquire(self, key: str, weight: int = 1, now_ns: int | None = None) -> int: ...


class RestError(Exception):
    """Base of the REST client's errors."""

    def __init__(self, venue: str, method: str, path: str, message: str) -> None:
        super().__init__(f"{venue} {method} {path}: {message}")
        self.venue, self.method, self.path = venue, method, path


class VenueRejected(RestError):
    """The venue answered with an error: it did not act. Never retried blindly."""

    def __init__(self, venue: str, method: str, path: str, status: int, code: str, message: str) -> None:
        super().__init__(venue, method, path, f"HTTP {status} {code}: {message}")
        self.status, self.code, self.venue_message = status, code, message


class AmbiguousResponse(RestError):
    """No trustworthy answer to a non-idempotent request: the venue may or may not have acted."""


class RetriesExhausted(RestError):
    """An idempotent request kept failing (rate limits, 5xx, timeouts)."""


@dataclass
class RestStats:
    requests: int = 0
    errors: int = 0
    retries: int = 0
    rate_limited: int = 0
    limiter_wait_ns: int = 0


ErrorParser = Callable[[int, bytes], tuple[str, str]]


def default_error_parser(status: int, body: bytes) -> tuple[str, str]:
    """`{"code": .., "message": ..}` (Backpack, Lighter and most venues) or plain text."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return (str(status), body.decode("utf-8", "replace")[:300])
    if isinstance(data, dict):
        inner = data.get("error")
        err: dict[str, Any] = inner if isinstance(inner, dict) else data
        code = err.get("code", status)
        msg = err.get("message") or err.get("msg") or ""
        return (str(code), str(msg))
    return (str(status), str(data)[:300])


def retry_after_seconds(headers: Mapping[str, str], default: float) -> float:
    raw = headers.get("Retry-After")
    if raw is not None:
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
    return default


class RestClient:
    def __init__(
        self,
        venue: str,
        base_url: str,
        *,
        limiter: Limiter | None = None,
        limit_key: Callable[[str, str], tuple[str, int]] | None = None,
        timeout_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        error_parser: ErrorParser = default_error_parser,
        session: aiohttp.ClientSession | None = None,
        transport: KeepAliveClient | None = None,
        rng: random.Random | None = None,
        on_response: Callable[[str, int, Mapping[str, str]], None] | None = None,
    ) -> None:
        """`transport`: send through this lean keep-alive client instead of aiohttp (order entry; the
        policy below is the same for both). It must point at `base_url`. `on_response(path, status,
        headers)` sees every reply before the policy acts on it (venues whose usage counts come in
        headers feed their limiter from it)."""
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.limit_key = limit_key or (lambda method, path: (path, 1))
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.timeout_s = timeout_s
        self.transport = transport
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.error_parser = error_parser
        self._session = session
        self._own_session = session is None
        self._rng = rng or random.Random()
        self.on_response = on_response
        self.stats = RestStats()

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # One pooled session per venue; keep-alive connections are reused across requests.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64, ttl_dns_cache=300, enable_cleanup_closed=True),
                json_serialize=lambda o: orjson.dumps(o).decode(),
            )
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._own_session and not self._session.closed:
            await self._session.close()
        if self.transport is not None:
            await self.transport.close()

    async def _wait_limiter(self, method: str, path: str) -> None:
        if self.limiter is None:
            return
        key, weight = self.limit_key(method, path)
        try:
            self.stats.limiter_wait_ns += await take_slot(self.limiter, key, weight, what=self.venue)
        except SlotNeverGranted as e:
            raise RetriesExhausted(self.venue, method, path, str(e)) from None

    def _backoff(self, attempt: int) -> float:
        base: float = min(self.max_backoff_s, self.backoff_s * (2**attempt))
        return base * (0.5 + self._rng.random() / 2)  # jitter: 50-100 % of the step

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request with the policy above; returns the decoded JSON (or text) body."""
        return (await self.request_with_headers(method, path, params=params, body=body, data=data, headers=headers,
                                                idempotent=idempotent))[0]

    async def request_with_headers(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> tuple[Any, Mapping[str, str]]:
        """`request`, also returning the reply's headers (a session login reads its cookie from them)."""
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "DELETE")
        url = self.base_url + path
        transport = self.transport
        session = self._get_session() if transport is None else None
        if transport is not None and body is None and data is not None:
            body = urlencode(data).encode()  # a form, as aiohttp would send it
            headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        attempt = 0
        while True:
            await self._wait_limiter(method, path)
            self.stats.requests += 1
            resp_headers: Mapping[str, str]
            try:
                if transport is not None:
                    reply = await transport.request(method, path, headers=headers, body=body, params=params,
                                                    timeout_s=self.timeout_s)
                    raw, status, resp_headers = reply.body, reply.status, reply.headers
                else:
                    assert session is not None
                    async with session.request(
                        method, url, params=params, data=body if body is not None else data,
                        headers=headers, timeout=self.timeout,
                    ) as resp:
                        raw = await resp.read()
                        status = resp.status
                        resp_headers = resp.headers
            except (TimeoutError, aiohttp.ClientError, HttpTransportError) as e:
                self.stats.errors += 1
                reason = type(e).__name__ if not str(e) else f"{type(e).__name__}: {e}"
                if not idempotent:
                    raise AmbiguousResponse(self.venue, method, path, f"no response ({reason})") from None
                if attempt >= self.max_retries:
                    msg = f"gave up after {attempt + 1} tries: {reason}"
                    raise RetriesExhausted(self.venue, method, path, msg) from None
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1
                self.stats.retries += 1
                continue

            if self.on_response is not None:
                self.on_response(path, status, resp_headers)
            if status < 400:
                if not raw:
                    return None, resp_headers
                try:
                    return orjson.loads(raw), resp_headers
                except orjson.JSONDecodeError:
                    return raw.decode("utf-8", "replace"), resp_headers

            self.stats.errors += 1
            code, message = self.error_parser(status, raw)
            if status == 429:
                self.stats.rate_limited += 1
                if attempt >= self.max_retries:
                    raise RetriesExhausted(self.venue, method, path, f"still rate limited after {attempt + 1} tries")
                delay = retry_after_seconds(resp_headers, self._backoff(attempt))
                log.warning("%s %s %s rate limited; retrying in %.3f s", self.venue, method, path, delay)
                await asyncio.sleep(delay)
                attempt += 1
                self.stats.retries += 1
                continue
            if status >= 500:
                if not idempotent:
                    raise AmbiguousResponse(self.venue, method, path, f"HTTP {status} {code}: {message}")
                if attempt >= self.max_retries:
                    raise RetriesExhausted(self.venue, method, path, f"HTTP {status} after {attempt + 1} tries")
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1
                self.stats.retries += 1
                continue
            raise VenueRejected(self.venue, method, path, status, code, message)
