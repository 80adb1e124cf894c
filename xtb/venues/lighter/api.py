"""Typed wrappers over Lighter's REST endpoints (docs/venues/lighter.md), on xtb's RestClient.

Reads are idempotent and retried by the RestClient. `send_tx` / `send_tx_batch` are not: a timeout,
a dropped connection or a 5xx raises `AmbiguousResponse` (the venue may have applied the tx); an HTTP
400 becomes `TxRejected` (the API did not apply it, so its nonce was not used; `invalid nonce` is
flagged so the nonce manager re-reads the nonce). The auth token travels in the `Authorization`
header and is never part of a log line or an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from xtb.signing import TxRejected, send_tx_batch_fields
from xtb.signing.lighter import SignedTx
from xtb.transport.rest import RestClient, VenueRejected
from xtb.venues.lighter.ratelimits import lighter_rest_key

PREFIX = "/api/v1/"


def rest_limit_key(method: str, path: str) -> tuple[str, int]:
    """RestClient hook: the Lighter limiter key (ratelimits.py) of a path; the weight is in the preset."""
    return lighter_rest_key(path), 1


def is_nonce_error(message: str) -> bool:
    return "invalid nonce" in message.lower()


def tx_rejected(exc: VenueRejected) -> TxRejected:
    """An HTTP 4xx reply to sendTx/sendTxBatch, as the nonce manager's TxRejected."""
    try:
        code: int | None = int(exc.code)
    except ValueError:
        code = None
    return TxRejected(f"{exc.code}: {exc.venue_message}", code=code, nonce_error=is_nonce_error(exc.venue_message))


def _expect_dict(reply: Any, what: str) -> dict[str, Any]:
    if not isinstance(reply, dict):
        raise ValueError(f"lighter {what}: expected a JSON object, got {type(reply).__name__}")
    return reply


def _check_code(reply: dict[str, Any]) -> dict[str, Any]:
    """A 2xx reply whose body `code` is not 200 is an API refusal too (whether the venue ever does
    this is UNCONFIRMED: business errors are documented as HTTP 400)."""
    code = reply.get("code", 200)
    if code != 200:
        message = str(reply.get("message", ""))
        raise TxRejected(f"{code}: {message}", code=code if isinstance(code, int) else None,
                         nonce_error=is_nonce_error(message))
    return reply


class LighterApi:
    """One method per endpoint the connector uses. `auth` returns the current auth token."""

    def __init__(self, rest: RestClient, tx_rest: RestClient, auth: Callable[[], str]) -> None:
        self.rest = rest
        #: sendTx/sendTxBatch go through a client without a limiter: the OrderGateway (or the connector's
        #: direct submit) already took the rate-limit slot for the tx, so it must not be counted twice.
        self.tx_rest = tx_rest
        self._auth = auth

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": self._auth()}

    async def order_books(self, market_id: int | None = None) -> list[dict[str, Any]]:
        params = {} if market_id is None else {"market_id": market_id}
        reply = _expect_dict(await self.rest.request("GET", PREFIX + "orderBooks", params=params), "orderBooks")
        return list(reply.get("order_books") or [])

    async def order_book_details(self, market_id: int | None = None) -> list[dict[str, Any]]:
        params = {} if market_id is None else {"market_id": market_id}
        reply = _expect_dict(
            await self.rest.request("GET", PREFIX + "orderBookDetails", params=params), "orderBookDetails"
        )
        return list(reply.get("order_book_details") or [])

    async def order_book_orders(self, market_id: int, limit: int = 50) -> dict[str, Any]:
        params = {"market_id": market_id, "limit": limit}
        return _expect_dict(
            await self.rest.request("GET", PREFIX + "orderBookOrders", params=params), "orderBookOrders"
        )

    async def next_nonce(self, account_index: int, api_key_index: int) -> int:
        params = {"account_index": account_index, "api_key_index": api_key_index}
        reply = _expect_dict(await self.rest.request("GET", PREFIX + "nextNonce", params=params), "nextNonce")
        nonce = reply.get("nonce")
        if isinstance(nonce, bool) or not isinstance(nonce, int):
            raise ValueError(f"lighter nextNonce: field nonce must be an integer, got {nonce!r}")
        return nonce

    async def account(self, account_index: int) -> dict[str, Any]:
        params = {"by": "index", "value": account_index}
        reply = _expect_dict(await self.rest.request("GET", PREFIX + "account", params=params), "account")
        accounts = reply.get("accounts") or []
        if not accounts or not isinstance(accounts[0], dict):
            raise ValueError(f"lighter account: no account {account_index} in the reply")
        account: dict[str, Any] = accounts[0]
        return account

    async def active_orders(self, account_index: int, market_id: int | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"account_index": account_index}
        if market_id is not None:
            params["market_id"] = market_id
        reply = _expect_dict(
            await self.rest.request("GET", PREFIX + "accountActiveOrders", params=params,
                                    headers=self._auth_headers()),
            "accountActiveOrders",
        )
        return list(reply.get("orders") or [])

    async def orders_by_client_id(self, account_index: int, client_ids: Sequence[int]) -> list[dict[str, Any]]:
        """GET accountOrders?client_order_indexes=... (SDK endpoint); VenueRejected 404 where not served."""
        params = {"account_index": account_index, "client_order_indexes": ",".join(str(c) for c in client_ids)}
        reply = _expect_dict(
            await self.rest.request("GET", PREFIX + "accountOrders", params=params, headers=self._auth_headers()),
            "accountOrders",
        )
        return list(reply.get("orders") or [])

    async def inactive_orders(
        self, account_index: int, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of accountInactiveOrders (closed orders, newest first): (orders, next cursor or "")."""
        params: dict[str, Any] = {"account_index": account_index, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        reply = _expect_dict(
            await self.rest.request("GET", PREFIX + "accountInactiveOrders", params=params,
                                    headers=self._auth_headers()),
            "accountInactiveOrders",
        )
        return list(reply.get("orders") or []), str(reply.get("next_cursor") or "")

    async def account_trades(
        self, account_index: int, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of the account's trades, newest first: (trades, next cursor or "")."""
        params: dict[str, Any] = {"account_index": account_index, "sort_by": "trade_id", "sort_dir": "desc",
                                  "limit": limit}
        if cursor:
            params["cursor"] = cursor
        reply = _expect_dict(
            await self.rest.request("GET", PREFIX + "trades", params=params, headers=self._auth_headers()),
            "trades",
        )
        return list(reply.get("trades") or []), str(reply.get("next_cursor") or "")

    async def send_tx(self, tx: SignedTx, price_protection: bool | None = None) -> dict[str, Any]:
        data = {"tx_type": str(tx.tx_type), "tx_info": tx.tx_info}
        if price_protection is not None:
            data["price_protection"] = "true" if price_protection else "false"
        try:
            reply = await self.tx_rest.request("POST", PREFIX + "sendTx", data=data, idempotent=False)
        except VenueRejected as exc:
            if exc.status == 429:  # pragma: no cover - the RestClient retries 429s itself
                raise
            raise tx_rejected(exc) from None
        return _check_code(_expect_dict(reply, "sendTx"))

    async def send_tx_batch(self, txs: Sequence[SignedTx]) -> dict[str, Any]:
        try:
            reply = await self.tx_rest.request(
                "POST", PREFIX + "sendTxBatch", data=send_tx_batch_fields(txs), idempotent=False
            )
        except VenueRejected as exc:
            raise tx_rejected(exc) from None
        return _check_code(_expect_dict(reply, "sendTxBatch"))
