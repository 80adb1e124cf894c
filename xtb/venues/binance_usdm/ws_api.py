"""Order entry over Binance's WebSocket API (`order.place`, `order.cancel`): one reconnecting session
(xtb.transport.ws) and requests matched to their responses by id.

A request's params carry `apiKey`, `timestamp` and `recvWindow`; `signature` is the HMAC (core signer) of
every other param as `k=v`, sorted by name, joined by `&`. A request without an answer within its timeout,
or on a session that drops before it is answered, raises `WsApiTimeout`: the caller leaves the order
unresolved until the venue says otherwise (reconciliation).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping
from typing import Any

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport

from xtb.transport.ws import WsSession

log = logging.getLogger("xtb.venues.binance_usdm")


class WsApiTimeout(Exception):
    """No answer: the venue may or may not have acted."""


class WsApiError(Exception):
    """The venue answered with an error: it did not act."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"HTTP {status} {code}: {msg}")
        self.status, self.code, self.msg = status, code, msg


class _Listener(WSListener):
    def __init__(self, client: WsApiClient) -> None:
        super().__init__()
        self.client = client
        self.frames = 0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not WSMsgType.TEXT:
            return
        self.frames += 1
        try:
            msg = orjson.loads(frame.get_payload_as_bytes())
        except orjson.JSONDecodeError:
            log.warning("binance_usdm ws-api: a frame that is not JSON")
            return
        if isinstance(msg, dict):
            self.client._answer(msg)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.client._fail_pending("the WebSocket API session dropped")


class WsApiClient:
    def __init__(self, url: str, signer: Any, *, backoff_initial_s: float = 0.25, backoff_max_s: float = 10.0) -> None:
        self.signer = signer
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self.session = WsSession("binance_usdm-ws-api", url, lambda: _Listener(self),
                                 backoff_initial_s=backoff_initial_s, backoff_max_s=backoff_max_s)  # fmt: skip
        self.requests = 0
        self.timeouts = 0

    def start(self) -> None:
        self.session.start()

    async def stop(self) -> None:
        await self.session.stop()
        self._fail_pending("stopped")

    def connected(self) -> bool:
        return self.session.connected.is_set()

    def signed_params(self, params: Mapping[str, str]) -> dict[str, str]:
        p = dict(params)
        p["apiKey"] = self.signer.headers["X-MBX-APIKEY"]
        p["recvWindow"] = str(self.signer.recv_window_ms)
        p["timestamp"] = str(self.signer.timestamp_ms())
        payload = "&".join(f"{k}={v}" for k, v in sorted(p.items()))
        p["signature"] = self.signer.sign(payload)
        return p

    async def request(self, method: str, params: Mapping[str, str], timeout_s: float) -> Any:
        """Send one signed request; the venue's `result`, or WsApiError / WsApiTimeout."""
        if not self.connected():
            raise WsApiError(0, -1, "the WebSocket API session is not connected; not sent")
        rid = f"x{next(self._ids)}"
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        frame = orjson.dumps({"id": rid, "method": method, "params": self.signed_params(params)})
        self.requests += 1
        try:
            self.session.send(frame)
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            self.timeouts += 1
            raise WsApiTimeout(f"{method}: no answer in {timeout_s} s") from None
        finally:
            self._pending.pop(rid, None)

    def _answer(self, msg: dict[str, Any]) -> None:
        fut = self._pending.get(str(msg.get("id")))
        if fut is None or fut.done():
            return
        err = msg.get("error")
        if isinstance(err, dict):
            fut.set_exception(WsApiError(int(msg.get("status") or 400), int(err.get("code") or 0),
                                         str(err.get("msg") or "")))  # fmt: skip
        else:
            fut.set_result(msg.get("result"))

    def _fail_pending(self, why: str) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(WsApiTimeout(why))
