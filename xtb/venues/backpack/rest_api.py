"""Backpack REST endpoints over the shared RestClient, signed by the core's BackpackSigner.

Two clients share one pooled aiohttp session: `rest` (reads, cancels, reconciliation) takes its slots from
the core rate limiter itself; `orders` carries submits whose slot the OrderGateway (or the connector's
own submit) already took, so no request is counted twice.
"""

from __future__ import annotations

from typing import Any

from xtb.transport.rest import RestClient

#: method + path -> limiter key (ratelimits.BACKPACK_KEYS)
_ORDER_PATHS = {("POST", "/api/v1/order"), ("POST", "/api/v1/orders"), ("DELETE", "/api/v1/order"),
                ("DELETE", "/api/v1/orders")}
_PUBLIC_PREFIXES = ("/api/v1/markets", "/api/v1/market", "/api/v1/depth", "/api/v1/time", "/api/v1/status",
                    "/api/v1/ticker")


def rest_limit_key(method: str, path: str) -> tuple[str, int]:
    if (method, path) in _ORDER_PATHS:
        return ("order", 1)
    if path.startswith(_PUBLIC_PREFIXES):
        return ("public", 1)
    return ("private", 1)


class BackpackRest:
    """Typed wrappers for the endpoints the connector uses. Returns decoded JSON."""

    def __init__(self, rest: RestClient, orders: RestClient, signer: Any, window_ms: int) -> None:
        self.rest = rest
        self.orders = orders
        self.signer = signer
        self.window_ms = window_ms

    # --- public ---
    async def markets(self) -> Any:
        return await self.rest.request("GET", "/api/v1/markets")

    async def depth(self, symbol: str, limit: int = 1000) -> Any:
        return await self.rest.request("GET", "/api/v1/depth", params={"symbol": symbol, "limit": str(limit)})

    async def time(self) -> Any:
        return await self.rest.request("GET", "/api/v1/time")

    # --- signed reads ---
    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        headers, path_q = self.signer.query(path, clean or None, window_ms=self.window_ms)
        return await self.rest.request("GET", path_q, headers=headers)

    async def open_orders(self, symbol: str | None = None) -> Any:
        return await self._get("/api/v1/orders", {"symbol": symbol, "marketType": None})

    async def order(self, symbol: str, client_id: int) -> Any:
        return await self._get("/api/v1/order", {"symbol": symbol, "clientId": client_id})

    async def order_history(self, symbol: str | None = None, limit: int = 200, offset: int = 0) -> Any:
        """One page of order history, newest first."""
        return await self._get("/wapi/v1/history/orders",
                               {"symbol": symbol, "limit": limit, "offset": offset or None})

    async def fill_history(self, symbol: str | None = None, limit: int = 200, offset: int = 0) -> Any:
        """One page of fill history, newest first."""
        return await self._get("/wapi/v1/history/fills", {"symbol": symbol, "limit": limit, "offset": offset or None})

    async def positions(self) -> Any:
        return await self._get("/api/v1/position")

    async def capital(self) -> Any:
        return await self._get("/api/v1/capital")

    async def collateral(self) -> Any:
        return await self._get("/api/v1/capital/collateral")

    # --- orders (bodies signed beforehand) ---
    async def send_signed(self, method: str, path: str, headers: dict[str, str], body: bytes,
                          *, idempotent: bool) -> Any:
        """An order request (submit or cancel) whose rate-limit slot its caller already took (gateway or
        connector): sent by the order client, which has no limiter of its own (one slot per request), over
        the order transport."""
        return await self.orders.request(method, path, body=body, headers=headers, idempotent=idempotent)

    async def cancel_all(self, symbol: str) -> Any:
        headers, body = self.signer.cancel_all({"symbol": symbol}, window_ms=self.window_ms)
        return await self.rest.request("DELETE", "/api/v1/orders", body=body, headers=headers)

    async def cancel_by_order_id(self, symbol: str, order_id: str) -> Any:
        headers, body = self.signer.cancel({"symbol": symbol, "orderId": order_id}, window_ms=self.window_ms)
        return await self.rest.request("DELETE", "/api/v1/order", body=body, headers=headers)
