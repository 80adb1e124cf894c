"""The write path for one Lighter (account, api key): nonce-ordered signing and sending of txs.

`begin` starts a tx (or batch) at once: a nonce from the NonceManager (in call order), the signature on
the signer's thread, and then it waits; `release` lets it go to the wire in nonce order (WS writes are
ordered; REST sends are chained one after another) and returns its outcome per client id. Splitting the
two keeps the OrderGateway's rate-limit wait in front of the wire while the signature is already done.

Outcomes: API accepted -> ACCEPTED; HTTP 400 / WS error -> REJECTED (nothing applied; `invalid nonce` is
re-signed with a fresh nonce up to `nonce_retries` times); no trustworthy answer -> UNRESOLVED; never
dispatched (nonce fetch or signature failed, never released) -> REJECTED "not sent".
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xtb.model.types import SubmitOutcome, SubmitResult
from xtb.signing import LighterSigner, LighterSignerError, NonceInvalidated, NonceManager, TxRejected
from xtb.signing.lighter import SignedTx, TxRequest
from xtb.venues.lighter.api import LighterApi
from xtb.venues.lighter.config import LighterConfig
from xtb.venues.lighter.txsocket import TxSocket

_BATCH_INDEX = re.compile(r"\btx (\d+):")


class _NotSent(Exception):
    """The tx never left the process (the send was not released in time, or the transport refused it)."""


@dataclass
class PreparedTx:
    """One signed tx (or batch) waiting for `send` to release it."""

    client_ids: tuple[int, ...]
    requests: tuple[TxRequest, ...]
    kind: str  # "submit" | "cancel" | "cancel_all"
    go: asyncio.Future[None]
    ready: asyncio.Future[PreparedTx]
    task: asyncio.Task[list[SubmitResult]] | None = None
    dispatched: bool = False  # set once a send was attempted: before that, nothing can have reached the venue
    tx_hashes: list[str] = field(default_factory=list)


def results_for(client_ids: Sequence[int], outcome: SubmitOutcome, reason: str | None = None) -> list[SubmitResult]:
    return [SubmitResult(cid, outcome, None, reason) for cid in client_ids]


class TxPipeline:
    def __init__(
        self,
        config: LighterConfig,
        signer: LighterSigner,
        nonces: NonceManager,
        api: Callable[[], LighterApi],
        tx_socket: Callable[[], TxSocket | None],
        stats: dict[str, int],
    ) -> None:
        self.config = config
        self.signer = signer
        self.nonces = nonces
        self._api = api
        self._tx_socket = tx_socket
        self.stats = stats
        #: client id -> submits under way; reconciliation never concludes on these
        self.inflight: dict[int, int] = {}
        self._rest_chain: asyncio.Future[Any] | None = None

    def _dispatch(self, signed: SignedTx | list[SignedTx]) -> Awaitable[dict[str, Any]]:
        """Put the tx on the wire now (WS) or queue it behind earlier REST sends; returns the reply."""
        sock = self._tx_socket()
        if sock is not None and sock.connected:
            try:
                fut = sock.send_batch(signed) if isinstance(signed, list) else sock.send_tx(signed)
            except ConnectionError:
                pass  # nothing was written: REST below
            else:
                self.stats["ws_tx"] += 1
                return asyncio.wait_for(fut, self.config.order_timeout_s)
        self.stats["rest_tx"] += 1
        prev = self._rest_chain
        task = asyncio.get_running_loop().create_task(self._rest_send_after(prev, signed))
        self._rest_chain = task
        return task

    async def _rest_send_after(self, prev: asyncio.Future[Any] | None, signed: SignedTx | list[SignedTx]) -> Any:
        if prev is not None and not prev.done():
            with contextlib.suppress(BaseException):
                await asyncio.shield(prev)  # REST order on the wire == nonce order
        api = self._api()
        if isinstance(signed, list):
            return await api.send_tx_batch(signed)
        return await api.send_tx(signed, self.config.price_protection)

    def begin(self, kind: str, client_ids: Sequence[int], requests: Sequence[TxRequest]) -> asyncio.Future[PreparedTx]:
        loop = asyncio.get_running_loop()
        p = PreparedTx(tuple(client_ids), tuple(requests), kind, loop.create_future(), loop.create_future())
        if kind == "submit":
            for cid in p.client_ids:
                self.inflight[cid] = self.inflight.get(cid, 0) + 1
        p.task = loop.create_task(self._run(p))
        return p.ready

    async def _run(self, p: PreparedTx) -> list[SubmitResult]:
        try:
            return await self._run_inner(p)
        finally:
            if not p.ready.done():
                p.ready.set_result(p)
            if p.kind == "submit":
                # the caller applies the results right after this task ends; the grace period covers the gap
                for cid in p.client_ids:
                    left = self.inflight.get(cid, 0) - 1
                    if left > 0:
                        self.inflight[cid] = left
                    else:
                        self.inflight.pop(cid, None)

    async def _run_inner(self, p: PreparedTx) -> list[SubmitResult]:
        cfg = self.config
        count = len(p.requests)

        async def sign(nonce: int) -> SignedTx | list[SignedTx]:
            if count == 1:
                signed: SignedTx | list[SignedTx] = await self.signer.sign(p.requests[0], nonce=nonce)
            else:
                signed = await self.signer.sign_batch(p.requests, first_nonce=nonce)
            if not p.ready.done():
                p.ready.set_result(p)
            try:  # the send is released by send_submit/send_cancel (after the gateway's rate-limit wait)
                await asyncio.wait_for(asyncio.shield(p.go), cfg.order_timeout_s)
            except TimeoutError:
                raise _NotSent("the signed tx was never released for sending") from None
            return signed

        def dispatch(signed: SignedTx | list[SignedTx]) -> Awaitable[dict[str, Any]]:
            p.dispatched = True
            return self._dispatch(signed)

        retries = invalidated = 0
        while True:
            p.dispatched = False
            try:
                done = await self.nonces.submit_batch(count, sign, dispatch)
            except NonceInvalidated as e:  # the epoch ended before our turn: nothing was sent
                invalidated += 1
                if invalidated > cfg.nonce_retries:
                    return results_for(p.client_ids, SubmitOutcome.REJECTED, f"not sent: {e}")
                continue
            except TxRejected as e:
                if e.nonce_error and retries < cfg.nonce_retries:
                    retries += 1
                    self.stats["nonce_retries"] += 1
                    continue
                return self._rejected(p, e)
            except (_NotSent, LighterSignerError, ValueError, TypeError) as e:
                if p.dispatched:  # e.g. a reply we cannot read: the venue may have applied the tx
                    return results_for(p.client_ids, SubmitOutcome.UNRESOLVED, f"unreadable answer: {e}")
                return results_for(p.client_ids, SubmitOutcome.REJECTED, f"not sent: {e}")
            except asyncio.CancelledError:
                raise
            except Exception as e:  # timeout, lost socket, ambiguous REST: the venue may have it
                if not p.dispatched:  # e.g. the nextNonce fetch failed: nothing left the process
                    return results_for(p.client_ids, SubmitOutcome.REJECTED, f"not sent: {type(e).__name__}: {e}")
                reason = f"no answer: {type(e).__name__}: {e}" if str(e) else f"no answer: {type(e).__name__}"
                return results_for(p.client_ids, SubmitOutcome.UNRESOLVED, reason)
            reply = done.reply if isinstance(done.reply, dict) else {}
            hashes = reply.get("tx_hash")
            p.tx_hashes = hashes if isinstance(hashes, list) else [hashes] if isinstance(hashes, str) else []
            return results_for(p.client_ids, SubmitOutcome.ACCEPTED)

    def _rejected(self, p: PreparedTx, e: TxRejected) -> list[SubmitResult]:
        reason = str(e)
        if len(p.requests) == 1 or e.nonce_error or e.code in (21513, 21514):
            return results_for(p.client_ids, SubmitOutcome.REJECTED, reason)
        # A refused batch may have been applied up to the refused tx (undocumented): only the tx the
        # venue names is rejected; the others are reconciled by client id.
        m = _BATCH_INDEX.search(reason)
        bad = int(m.group(1)) if m else -1
        return [
            SubmitResult(cid, SubmitOutcome.REJECTED if i == bad else SubmitOutcome.UNRESOLVED, None,
                         reason if i == bad else f"batch refused at tx {bad}: outcome unknown")
            for i, cid in enumerate(p.client_ids)
        ]

    async def release(self, prepared: PreparedTx) -> list[SubmitResult]:
        if not prepared.go.done():
            prepared.go.set_result(None)
        assert prepared.task is not None
        return await prepared.task
