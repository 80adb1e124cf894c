"""Binance USD-M REST endpoints over the shared RestClient, signed by the core's BinanceSigner.

Signed requests carry the exact string the core signed: in the query string for GET, in the form body
otherwise (the venue signs query + body, so one place is enough). The venue's usage headers feed the
core limiter (`UsageGate`); -1021 (timestamp outside recvWindow) re-syncs the clock offset and is
reported as a rejection, never retried blindly; a 429 blocks every pool until Retry-After, and a 418
(IP ban) blocks everything until the ban ends: no request leaves while banned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from xtb.transport.rest import RestClient, RestError, RetriesExhausted, VenueRejected
from xtb.transport.throttle import SlotNeverGranted, take_slot
from xtb.venues.binance_usdm.dialect import BINANCE_USDM, FapiDialect

log = logging.getLogger("xtb.venues.binance_usdm")

VENUE = "binance_usdm"
POOLS = ("weight", "orders_10s", "orders_1m")


def rest_limit_key(method: str, path: str) -> tuple[str, int]:
    """Binance's limiter keys (other dialects: `FapiDialect.limit_key`)."""
    return BINANCE_USDM.limit_key(method, path)


class Banned(RestError):
    """The venue banned this IP (HTTP 418): nothing is sent until the ban ends."""


class UsageGate:
    """Reads the venue's usage headers into the core limiter: when the venue's own count of the minute's
    weight (or of the account's orders) is spent, the pool is blocked until its window turns; a 429
    blocks every pool for Retry-After; a 418 sets a ban that stops every request."""

    def __init__(self, limiter: Any, weight_limit: int, orders_10s: int, orders_1m: int, headroom: int,
                 ban_default_s: float, weight_window_s: float = 60.0, venue: str = VENUE,
                 order_paths: tuple[str, ...] = ("/fapi/v1/order", "/fapi/v1/batchOrders")) -> None:  # fmt: skip
        self.limiter = limiter
        self.venue = venue
        # a 429 on these may be the order count, not weight
        self.order_paths = order_paths
        self.weight_limit, self.orders_10s, self.orders_1m = weight_limit, orders_10s, orders_1m
        self.weight_window_s = weight_window_s
        self._last_ok_weight = 0
        self.headroom = headroom
        self.ban_default_s = ban_default_s
        self.banned_until = 0.0  # time.monotonic()
        self.used_weight = 0
        self.order_count_10s = 0
        self.order_count_1m = 0
        self.rate_limited = 0
        self.bans = 0

    def _block(self, pool: str, seconds: float) -> None:
        if seconds > 0:
            self.limiter.block_until(pool, time.monotonic_ns() + int(seconds * 1e9))

    def check(self, method: str, path: str) -> None:
        left = self.banned_until - time.monotonic()
        if left > 0:
            raise Banned(self.venue, method, path, f"IP banned by the venue (HTTP 418) for {left:.0f} s more; not sent")

    def on_response(self, path: str, status: int, headers: Mapping[str, str]) -> None:
        now = time.time()
        w = headers.get("X-MBX-USED-WEIGHT-1M")
        if w is not None and w.isdigit():
            self.used_weight = int(w)
            if status < 400:
                self._last_ok_weight = self.used_weight
            elif (status == 429 and not path.startswith(self.order_paths)
                  and 0 < self._last_ok_weight < self.weight_limit):  # fmt: skip
                # A weight 429 below the published limit: the venue's real budget for this IP is smaller
                # (a shared IP, lowered limits). Learn it (the last count it accepted), so the header check
                # holds before the next 429: repeated 429s are what earn a 418 ban.
                log.warning("%s: HTTP 429 at weight %d of %d; holding below %d from now on", self.venue,
                            self.used_weight, self.weight_limit, self._last_ok_weight)
                self.weight_limit = self._last_ok_weight
            span = self.weight_window_s
            if self.used_weight >= self.weight_limit - min(self.headroom, self.weight_limit // 10):
                self._block("weight", span - now % span)
        for header, limit, span, pool in (("X-MBX-ORDER-COUNT-10S", self.orders_10s, 10.0, "orders_10s"),
                                          ("X-MBX-ORDER-COUNT-1M", self.orders_1m, 60.0, "orders_1m")):  # fmt: skip
            v = headers.get(header)
            if v is not None and v.isdigit():
                if pool == "orders_10s":
                    self.order_count_10s = int(v)
                else:
                    self.order_count_1m = int(v)
                if int(v) >= limit:
                    self._block(pool, span - now % span)
        if status in (429, 418):
            retry = headers.get("Retry-After")
            try:
                wait = float(retry) if retry is not None else None
            except ValueError:
                wait = None
            if status == 418:
                self.bans += 1
                wait = wait if wait is not None else self.ban_default_s
                self.banned_until = time.monotonic() + wait
                log.error("%s: IP banned (HTTP 418) for %.0f s; every request held until then", self.venue, wait)
            else:
                self.rate_limited += 1
                wait = wait if wait is not None else 60.0 - now % 60.0
                log.warning("%s: rate limited (HTTP 429) on %s; all requests held %.1f s", self.venue, path, wait)
            for pool in POOLS:
                self._block(pool, wait)


class BinanceRest:
    """Typed wrappers for the endpoints the connector uses. Returns decoded JSON."""

    def __init__(self, rest: RestClient, orders: RestClient, signer: Any, gate: UsageGate,
                 limiter: Any | None = None, dialect: FapiDialect = BINANCE_USDM) -> None:  # fmt: skip
        """`rest` has no limiter of its own: the slot is taken here, before signing, so a wait in the
        limiter never eats into the request's recvWindow."""
        self.rest = rest
        self.limiter = limiter
        self.dialect = dialect
        self.venue = dialect.venue
        self.paths = dialect.paths
        self.orders = orders
        self.signer = signer
        self.gate = gate
        self.time_syncs = 0
        self.timestamp_rejections = 0

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.signer.headers)

    # --- public ---
    async def exchange_info(self) -> Any:
        return await self._send(self.rest, "GET", self.paths["exchange_info"])

    async def depth(self, symbol: str, limit: int = 1000) -> Any:
        return await self._send(self.rest, "GET", f"{self.paths['depth']}?symbol={symbol}&limit={limit}")

    async def server_time(self) -> int:
        return int((await self._send(self.rest, "GET", self.paths["time"]))["serverTime"])

    async def sync_time(self) -> int:
        """Set the signer's offset to the server clock from one round trip; returns it (ms)."""
        sent = int(time.time() * 1000)
        server = await self.server_time()
        received = int(time.time() * 1000)
        self.time_syncs += 1
        return int(self.signer.sync_time(server, sent, received))

    # --- plumbing ---
    async def _slot(self, method: str, path: str) -> None:
        if self.limiter is None:
            return
        key, weight = self.dialect.limit_key(method, path)
        try:
            await take_slot(self.limiter, key, weight, what=self.venue)
        except SlotNeverGranted as e:
            raise RetriesExhausted(self.venue, method, path, str(e)) from None

    async def _send(self, client: RestClient, method: str, path: str, body: bytes | None = None,
                    headers: dict[str, str] | None = None, idempotent: bool | None = None,
                    slot: bool = True) -> Any:  # fmt: skip
        self.gate.check(method, path)
        if slot and client is self.rest:
            await self._slot(method, path)
        try:
            return await client.request(method, path, body=body, headers=headers, idempotent=idempotent)
        except VenueRejected as e:
            if e.code in self.dialect.clock_errors:
                await self.clock_rejected(f"{method} {path.split('?', 1)[0]}")
            raise

    async def clock_rejected(self, what: str) -> None:
        """A -1021 (or the dialect's nonce error): the venue's clock and ours disagree. Re-sync the offset;
        the rejected request stays rejected (its caller sees it), never re-sent here."""
        self.timestamp_rejections += 1
        try:
            offset = await self.sync_time()
            log.warning("%s: clock refused on %s; offset re-synced to %d ms", self.venue, what, offset)
        except RestError as sync_error:
            log.warning("%s: clock refused on %s and the time re-sync failed: %s", self.venue, what, sync_error)

    async def signed(self, method: str, path: str, params: Mapping[str, Any] | None = None, *,
                     client: RestClient | None = None, idempotent: bool | None = None) -> Any:  # fmt: skip
        client = client or self.rest
        self.gate.check(method, path)
        if client is self.rest:
            await self._slot(method, path)  # before signing: the timestamp is taken after any wait
        text = self.signer.signed(dict(params or {}))
        headers = self.headers
        if method == "GET":
            return await self._send(client, method, f"{path}?{text}", headers=headers, slot=False)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return await self._send(client, method, path, body=text.encode(), headers=headers,
                                idempotent=idempotent, slot=False)

    async def send_signed(self, method: str, path: str, body: bytes, *, idempotent: bool) -> Any:
        """An order request signed beforehand (the gateway took its slot): over the order client."""
        headers = self.headers
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return await self._send(self.orders, method, path, body=body, headers=headers, idempotent=idempotent)

    # --- signed reads ---
    async def open_orders(self, symbol: str | None = None) -> Any:
        return await self.signed("GET", self.paths["open_orders"], {"symbol": symbol} if symbol else None)

    async def order(self, symbol: str, client_id: int) -> Any:
        return await self.signed("GET", self.paths["order"], {"symbol": symbol, "origClientOrderId": str(client_id)})

    async def user_trades(self, symbol: str, limit: int = 1000) -> Any:
        return await self.signed("GET", self.paths["user_trades"], {"symbol": symbol, "limit": limit})

    async def positions(self) -> Any:
        return await self.signed("GET", self.paths["position_risk"])

    async def balance(self) -> Any:
        return await self.signed("GET", self.paths["balance"])

    async def account(self) -> Any:
        return await self.signed("GET", self.paths["account"])

    async def income(self, symbol: str | None = None, income_type: str | None = None, *,
                     start_ms: int | None = None, limit: int = 1000) -> Any:  # fmt: skip
        params: dict[str, Any] = {"symbol": symbol, "incomeType": income_type, "startTime": start_ms,
                                  "limit": limit}  # fmt: skip
        return await self.signed("GET", self.paths["income"], {k: v for k, v in params.items() if v is not None})

    async def position_mode(self) -> Any:
        """`{"dualSidePosition": bool}`: true is hedge mode."""
        return await self.signed("GET", self.paths["position_mode"])

    async def premium_index(self, symbol: str) -> Any:
        return await self._send(self.rest, "GET", f"{self.paths['premium_index']}?symbol={symbol}")

    # --- settings ---
    async def set_leverage(self, symbol: str, leverage: int) -> Any:
        return await self.signed("POST", self.paths["leverage"], {"symbol": symbol, "leverage": leverage},
                                 idempotent=True)

    async def set_margin_type(self, symbol: str, margin_type: str) -> Any:
        return await self.signed("POST", self.paths["margin_type"], {"symbol": symbol, "marginType": margin_type},
                                 idempotent=True)

    # --- orders ---
    async def cancel_all(self, symbol: str) -> Any:
        return await self.signed("DELETE", self.paths["all_open_orders"], {"symbol": symbol})

    async def cancel_by_order_id(self, symbol: str, order_id: str) -> Any:
        return await self.signed("DELETE", self.paths["order"], {"symbol": symbol, "orderId": order_id})

    # --- user data stream (the API key only; signed where the dialect says so) ---
    async def listen_key(self, method: str = "POST") -> Any:
        path = self.paths["listen_key"]
        if self.dialect.listen_key_signed:
            return await self.signed(method, path, idempotent=method != "POST")
        return await self._send(self.rest, method, path, headers=self.headers, idempotent=method != "POST")
