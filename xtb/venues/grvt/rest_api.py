"""GRVT REST: JSON-RPC-like `POST /full/v1/<method>` calls and the API-key session they need.

A private call carries the session's `Cookie: gravity=...` and `X-Grvt-Account-Id` headers. The session
comes from `POST {edge}/auth/api_key/login` (the cookie's `expires` tells its lifetime); it is renewed
`session_renew_before_s` before it ends, and a call the venue refuses as unauthenticated (code 1000: the
session ended early, e.g. a venue-side logout) logs in again and is sent once more (the venue did not act
on it, so even an order submit may be repeated). Nothing here touches order state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.cookies import CookieError, SimpleCookie
from typing import Any

import orjson

from xtb.transport.rest import RestClient, VenueRejected

log = logging.getLogger("xtb.venues.grvt")

VENUE = "grvt"
LOGIN_PATH = "/auth/api_key/login"
COOKIE_NAME = "gravity"
ACCOUNT_HEADER = "X-Grvt-Account-Id"
#: the error code of a call made without a (valid) session
NOT_AUTHENTICATED = "1000"


class SessionError(RuntimeError):
    """The login failed or its answer carries no session: the message names what is missing."""


@dataclass(frozen=True)
class Session:
    cookie: str  # the `gravity` cookie's value (a secret: never logged)
    account_id: str
    expires_at: float  # time.time() seconds
    sub_account_id: int | None = None  # the login answer's, when it names one

    def __repr__(self) -> str:
        return f"Session(account_id={self.account_id!r}, expires_at={self.expires_at:.0f})"

    def headers(self) -> dict[str, str]:
        return {"Cookie": f"{COOKIE_NAME}={self.cookie}", ACCOUNT_HEADER: self.account_id}


def _header_values(headers: Mapping[str, str], name: str) -> list[str]:
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return [str(v) for v in getall(name, [])]
    value = headers.get(name)
    return [] if value is None else [value]


def parse_login(headers: Mapping[str, str], body: Any, now: float, default_ttl_s: float) -> Session:
    """The session of a login answer: the `gravity` cookie (its `expires` or `max-age`, else `default_ttl_s`),
    the account id (header, else the body's `funding_account_address`) and the body's `sub_account_id`."""
    cookie: str | None = None
    expires_at = now + default_ttl_s
    for raw in _header_values(headers, "Set-Cookie"):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            continue
        morsel = jar.get(COOKIE_NAME)
        if morsel is None:
            continue
        cookie = morsel.value
        if morsel["max-age"]:
            try:
                expires_at = now + float(morsel["max-age"])
            except ValueError:
                pass
        elif morsel["expires"]:
            try:
                expires_at = parsedate_to_datetime(morsel["expires"]).timestamp()
            except (TypeError, ValueError):
                pass
    if not cookie:
        raise SessionError(f"grvt login: the answer sets no {COOKIE_NAME} cookie")
    fields = body if isinstance(body, dict) else {}
    account = headers.get(ACCOUNT_HEADER) or fields.get("funding_account_address")
    if not account:
        raise SessionError(f"grvt login: the answer has no {ACCOUNT_HEADER} header")
    sub = fields.get("sub_account_id")
    try:
        sub_id = int(sub) if sub not in (None, "", "0") else None
    except (TypeError, ValueError):
        sub_id = None
    return Session(cookie, str(account), expires_at, sub_id)


def rest_limit_key(method: str, path: str) -> tuple[str, int]:
    """The limiter key of a REST path (xtb/venues/grvt/ratelimits.py)."""
    name = path.rsplit("/", 1)[-1]
    if name in ("create_order", "cancel_order", "cancel_all_orders"):
        return ("order", 1)
    if path.startswith("/auth"):
        return ("login", 1)
    return ("private" if name in PRIVATE_METHODS else "public", 1)


PRIVATE_METHODS = frozenset({
    "create_order", "cancel_order", "cancel_all_orders", "order", "open_orders", "order_history", "fill_history",
    "positions", "account_summary", "cancel_on_disconnect",
})


class GrvtRest:
    """The calls the connector makes; `result` objects out, `VenueRejected` (with GRVT's code) for errors."""

    def __init__(self, edge: RestClient, trades: RestClient, market: RestClient, orders: RestClient,
                 api_key: Any, sub_account_id: int, *, renew_before_s: float = 30.0,
                 default_ttl_s: float = 3600.0) -> None:
        self.edge, self.trades, self.market, self.orders = edge, trades, market, orders
        self._api_key = api_key  # xtb.keys.Secret or str
        self.sub_account_id = sub_account_id
        self.renew_before_s = renew_before_s
        self.default_ttl_s = default_ttl_s
        self.session: Session | None = None
        self._login_lock = asyncio.Lock()
        self.logins = 0
        self.relogins = 0  # logins forced by a refused session (not by the timer)

    # ------------------------------------------------------------------ session
    async def login(self) -> Session:
        key = self._api_key.reveal() if hasattr(self._api_key, "reveal") else str(self._api_key)
        body, headers = await self.edge.request_with_headers(
            "POST", LOGIN_PATH, body=orjson.dumps({"api_key": key}),
            headers={"Content-Type": "application/json"}, idempotent=True)
        del key
        session = parse_login(headers, body, time.time(), self.default_ttl_s)
        self.session = session
        self.logins += 1
        log.info("grvt: logged in (account %s, session until %s)", session.account_id,
                 time.strftime("%H:%M:%S", time.gmtime(session.expires_at)))
        return session

    def session_due(self) -> bool:
        s = self.session
        return s is None or time.time() >= s.expires_at - self.renew_before_s

    async def ensure_session(self, *, force: bool = False, stale: Session | None = None) -> Session:
        """A live session; logs in when there is none, it is due for renewal, or `force` (a call was refused
        with `stale`: only one of the callers that saw it logs in)."""
        async with self._login_lock:
            s = self.session
            if s is not None and not self.session_due() and not (force and s is stale):
                return s
            return await self.login()

    def auth_headers(self) -> dict[str, str]:
        if self.session is None:
            raise SessionError("grvt: no session (not logged in)")
        return self.session.headers()

    # ------------------------------------------------------------------ calls
    async def call(self, client: RestClient, method: str, payload: Mapping[str, Any], *, private: bool,
                   idempotent: bool, whole: bool = False, raw_body: bytes | None = None) -> Any:
        """POST /full/v1/<method>; the `result` (or the whole reply with `whole`: paged history)."""
        body = raw_body if raw_body is not None else orjson.dumps(payload)
        path = f"/full/v1/{method}"
        for attempt in (0, 1):
            headers = {"Content-Type": "application/json"}
            session = None
            if private:
                session = await self.ensure_session() if self.session_due() else self.session
                assert session is not None
                headers.update(session.headers())
            try:
                reply = await client.request("POST", path, body=body, headers=headers, idempotent=idempotent)
            except VenueRejected as e:
                if private and attempt == 0 and e.code == NOT_AUTHENTICATED:
                    log.warning("grvt %s: session refused (%s); logging in again", method, e.venue_message)
                    self.relogins += 1
                    await self.ensure_session(force=True, stale=session)
                    continue
                raise
            if isinstance(reply, dict) and "result" not in reply and "code" in reply:
                # an error object in a 2xx answer: the same meaning as with an error status
                status = int(reply.get("status") or 400)
                raise VenueRejected(VENUE, "POST", path, status, str(reply.get("code")), str(reply.get("message")))
            if whole:
                return reply
            return reply.get("result") if isinstance(reply, dict) else reply
        raise AssertionError("unreachable")

    def _sub(self, **extra: Any) -> dict[str, Any]:
        return {"sub_account_id": str(self.sub_account_id), **extra}

    # public
    async def all_instruments(self) -> Any:
        return await self.call(self.market, "all_instruments", {"is_active": True}, private=False, idempotent=True)

    async def book(self, instrument: str, depth: int = 10) -> Any:
        return await self.call(self.market, "book", {"instrument": instrument, "depth": depth}, private=False,
                               idempotent=True)

    # private
    async def create_order(self, body: bytes) -> Any:
        return await self.call(self.orders, "create_order", {}, private=True, idempotent=False, raw_body=body)

    async def cancel_order(self, client_order_id: int | None = None, order_id: str | None = None) -> Any:
        payload = self._sub()
        if client_order_id is not None:
            payload["client_order_id"] = str(client_order_id)
        if order_id is not None:
            payload["order_id"] = order_id
        return await self.call(self.orders, "cancel_order", payload, private=True, idempotent=True)

    async def cancel_all_orders(self, base: str | None = None, quote: str | None = None) -> Any:
        payload = self._sub(kind=["PERPETUAL"])
        if base is not None:
            payload["base"] = [base]
        if quote is not None:
            payload["quote"] = [quote]
        return await self.call(self.orders, "cancel_all_orders", payload, private=True, idempotent=True)

    async def order(self, client_order_id: int) -> Any:
        return await self.call(self.trades, "order", self._sub(client_order_id=str(client_order_id)), private=True,
                               idempotent=True)

    async def open_orders(self) -> Any:
        return await self.call(self.trades, "open_orders", self._sub(kind=["PERPETUAL"]), private=True,
                               idempotent=True)

    async def order_history(self, limit: int, cursor: str | None = None) -> tuple[list[Any], str | None]:
        return await self._page("order_history", limit, cursor)

    async def fill_history(self, limit: int, cursor: str | None = None) -> tuple[list[Any], str | None]:
        return await self._page("fill_history", limit, cursor)

    async def _page(self, method: str, limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
        payload = self._sub(kind=["PERPETUAL"], limit=limit)
        if cursor:
            payload["cursor"] = cursor
        reply = await self.call(self.trades, method, payload, private=True, idempotent=True, whole=True)
        if not isinstance(reply, dict):
            return [], None
        rows = reply.get("result") or []
        nxt = reply.get("next") or None
        return (rows if isinstance(rows, list) else []), (str(nxt) if nxt else None)

    async def positions(self) -> Any:
        return await self.call(self.trades, "positions", self._sub(kind=["PERPETUAL"]), private=True,
                               idempotent=True)

    async def account_summary(self) -> Any:
        return await self.call(self.trades, "account_summary", self._sub(), private=True, idempotent=True)
