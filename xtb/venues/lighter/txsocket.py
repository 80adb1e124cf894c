"""A WebSocket used only to send transactions (`jsonapi/sendtx`, `jsonapi/sendtxbatch`) and read replies.

Why a socket of its own: the market-data socket goes through the core decoder (which has no use for tx
replies), and a burst of book frames must never delay a tx reply. Replies are matched by the request
`id` the venue echoes. A write happens synchronously in `send_tx` (so the nonce manager can pass the
turn as soon as it returns: frames on one socket keep their order). Lost connection or no reply in time
means the outcome is unknown: the caller's future fails with `TxConnectionLost` or `TimeoutError`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport

from xtb.signing import TxRejected
from xtb.signing.lighter import SignedTx, send_tx_batch_fields
from xtb.transport.ws import WsSession
from xtb.venues.lighter.api import is_nonce_error

log = logging.getLogger("xtb.venues.lighter.tx")

PONG = b'{"type":"pong"}'
PING = b'{"type":"ping"}'


class TxConnectionLost(ConnectionError):
    """The socket went away with the tx on it: the venue may or may not have applied it."""


class _TxListener(WSListener):
    def __init__(self, owner: TxSocket) -> None:
        super().__init__()
        self.owner = owner
        self.last_frame_ns = time.monotonic_ns()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.last_frame_ns = time.monotonic_ns()
        if frame.msg_type == WSMsgType.TEXT:
            self.owner._on_text(transport, frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.owner._fail_all("tx socket closed")


def _last_frame_ns(listener: WSListener) -> int:
    return listener.last_frame_ns if isinstance(listener, _TxListener) else time.monotonic_ns()


class TxSocket:
    def __init__(
        self,
        url: str,
        *,
        stale_after_s: float,
        client_ping_interval_s: float | None,
        backoff_initial_s: float = 0.25,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.session = WsSession(
            "lighter-tx",
            url,
            lambda: _TxListener(self),
            on_connected=self._on_connected,
            on_disconnected=self._on_disconnected,
            last_activity_ns=_last_frame_ns,
            stale_after_s=stale_after_s,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
        )
        self.client_ping_interval_s = client_ping_interval_s
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._ping_task: asyncio.Task[None] | None = None
        self.on_reconnect: Any = None  # callable(): the connector re-reads its nonce after a reconnect
        self.sent = 0
        self.unmatched = 0

    @property
    def connected(self) -> bool:
        return self.session.transport is not None and self.session.connected.is_set()

    def start(self) -> None:
        self.session.start()
        if self.client_ping_interval_s and self._ping_task is None:
            self._ping_task = asyncio.get_running_loop().create_task(self._ping_loop())

    async def stop(self) -> None:
        if self._ping_task is not None:
            self._ping_task.cancel()
            try:
                await self._ping_task
            except asyncio.CancelledError:
                pass
            self._ping_task = None
        await self.session.stop()
        self._fail_all("tx socket stopped")

    def send_tx(self, tx: SignedTx) -> asyncio.Future[dict[str, Any]]:
        """Write one tx now; the future gets the reply. Raises ConnectionError (nothing sent) when down."""
        req_id, fut = self._new_request()
        frame = b"".join((
            b'{"type":"jsonapi/sendtx","data":{"id":"', req_id.encode(), b'","tx_type":',
            str(tx.tx_type).encode(), b',"tx_info":', tx.tx_info.encode(), b"}}",
        ))
        return self._write(req_id, fut, frame)

    def send_batch(self, txs: Sequence[SignedTx]) -> asyncio.Future[dict[str, Any]]:
        req_id, fut = self._new_request()
        data = {"id": req_id, **send_tx_batch_fields(txs)}
        return self._write(req_id, fut, orjson.dumps({"type": "jsonapi/sendtxbatch", "data": data}))

    def _new_request(self) -> tuple[str, asyncio.Future[dict[str, Any]]]:
        return f"xtb-{next(self._ids)}", asyncio.get_running_loop().create_future()

    def _write(self, req_id: str, fut: asyncio.Future[dict[str, Any]], frame: bytes) -> asyncio.Future[dict[str, Any]]:
        if not self.connected:
            raise ConnectionError("lighter tx socket is not connected")
        self.session.send(frame)  # raises ConnectionError before anything is written
        self._pending[req_id] = fut
        fut.add_done_callback(lambda _f: self._pending.pop(req_id, None))
        self.sent += 1
        return fut

    def _on_text(self, transport: WSTransport, payload: bytes) -> None:
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("lighter tx socket: frame is not JSON (%d bytes)", len(payload))
            return
        if not isinstance(msg, dict):
            return
        kind = msg.get("type")
        if kind == "ping":
            transport.send(WSMsgType.TEXT, PONG)
            return
        req_id = msg.get("id")
        fut = self._pending.get(req_id) if isinstance(req_id, str) else None
        if fut is None:
            if kind not in ("connected", "pong"):
                # An error without our id cannot be matched: the tx waits for its timeout and reconciliation.
                self.unmatched += 1
                log.warning("lighter tx socket: unmatched frame type=%s error=%s", kind, msg.get("error"))
            return
        if fut.done():
            return
        err = msg.get("error")
        code = msg.get("code", 200)
        if isinstance(err, dict) or code != 200:
            e = err if isinstance(err, dict) else msg
            text = str(e.get("message", ""))
            ecode = e.get("code")
            fut.set_exception(TxRejected(f"{ecode}: {text}", code=ecode if isinstance(ecode, int) else None,
                                         nonce_error=is_nonce_error(text)))
        else:
            fut.set_result(msg)

    def _fail_all(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(TxConnectionLost(f"{why} before the reply"))

    async def _on_connected(self, transport: WSTransport, listener: WSListener) -> None:
        if isinstance(listener, _TxListener):
            listener.last_frame_ns = time.monotonic_ns()
        if self.session.stats.connects > 1 and self.on_reconnect is not None:
            self.on_reconnect()

    def _on_disconnected(self, reason: str) -> None:
        self._fail_all(f"tx socket lost ({reason})")

    async def _ping_loop(self) -> None:
        assert self.client_ping_interval_s
        while True:
            await asyncio.sleep(self.client_ping_interval_s)
            if self.connected:
                try:
                    self.session.send(PING)
                except ConnectionError:
                    pass
