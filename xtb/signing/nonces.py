"""Nonce allocation and in-order dispatch for one Lighter (account_index, api_key_index).

Lighter accepts a key's transactions only in nonce order: the API server wants exactly the next nonce,
an API reject (HTTP 400) does not consume it, and a tx accepted by the API consumes it even if the
sequencer later rejects it. ``NonceManager.submit`` runs one transaction through that protocol:

1. **allocate** the next nonce under an asyncio lock, in call order (the first call, and the first call
   after ``invalidate()``, awaits the injected fetch of ``GET /api/v1/nextNonce`` while holding the lock);
2. **sign** with that nonce (concurrently with other submitters: signing runs on the signer thread);
3. **dispatch** strictly in nonce order: a tx waits for its turn, then the connector's ``dispatch`` is
   called and returns an awaitable for the reply. With ``pass_turn_on="dispatch"`` (default) the turn
   passes to the next nonce as soon as ``dispatch`` returns, so ``dispatch`` must put the tx on the wire
   (or in an ordered queue, e.g. a WS transport write) before returning or before its first suspension
   point; txs are then pipelined. With ``pass_turn_on="reply"`` the turn passes only when the reply
   arrives (one tx in flight per key, like the SDK), which is safe for any transport, e.g. pooled REST;
4. **settle** on the reply: accepted -> done; ``TxRejected`` -> rollback (or resync on a nonce error);
   anything else (timeout, lost connection, cancellation) -> outcome unknown -> resync.

Rollback rules (an *epoch* is the span between two seeds from the venue):

* A nonce released without being consumed (sign failure, dispatch raised, API reject) while it is the
  **highest nonce handed out** is reused: the next allocation gets it again.
* If **later nonces were already handed out** the hole cannot be filled without re-signing them, and the
  venue would answer each of them with ``invalid nonce``. The manager then ends the epoch: waiters of the
  old epoch that were not dispatched yet fail with ``NonceInvalidated`` (their tx never left the process;
  retry them), and the next allocation re-reads the nonce from the venue. Holes are never reused.
* ``invalidate()`` (after a reconnect, or on ``invalid nonce``) ends the epoch the same way.
* Outcomes reported by a tx of an older epoch never touch the current epoch.

A reply to an old-epoch tx can still arrive after the re-read; because the venue itself enforces the
order, the worst case is one extra ``invalid nonce`` reply and one more resync, never a reused nonce.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

S = TypeVar("S")
R = TypeVar("R")

FetchNextNonce = Callable[[int, int], Awaitable[int]]
"""``async fetch(account_index, api_key_index) -> next nonce`` (GET /api/v1/nextNonce)."""


class NonceError(Exception):
    """Base class of the nonce manager's errors."""


class NonceInvalidated(NonceError):
    """The nonce given to this submission is void (epoch ended before dispatch); nothing was sent."""


class NonceFetchError(NonceError):
    """The injected fetch returned something that is not a nonce."""


class TxRejected(Exception):
    """Raised by a dispatch reply when the API refused the tx (HTTP 400): the nonce was not consumed.

    ``nonce_error`` marks the venue's ``invalid nonce`` reply, which makes the manager re-read the nonce.
    """

    def __init__(self, message: str, *, code: int | None = None, nonce_error: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.nonce_error = nonce_error


@dataclass(frozen=True, slots=True)
class Submitted(Generic[S, R]):
    nonce: int
    count: int
    signed: S
    reply: R


@dataclass(slots=True)
class _Ticket:
    nonce: int
    count: int
    epoch: int


class NonceManager:
    """Nonces for one (account_index, api_key_index); see the module docstring for the rules."""

    def __init__(
        self,
        account_index: int,
        api_key_index: int,
        fetch_next_nonce: FetchNextNonce,
        *,
        pass_turn_on: Literal["dispatch", "reply"] = "dispatch",
    ) -> None:
        if pass_turn_on not in ("dispatch", "reply"):
            raise ValueError(f"pass_turn_on={pass_turn_on!r} must be 'dispatch' or 'reply'")
        self.pass_turn_on = pass_turn_on
        self.account_index = account_index
        self.api_key_index = api_key_index
        self._fetch = fetch_next_nonce
        self._lock = asyncio.Lock()
        self._epoch = 0
        self._seeded = False
        self._next = 0  # next nonce to hand out
        self._turn = 0  # next nonce allowed to dispatch
        self._waiters: dict[int, asyncio.Future[None]] = {}
        self.resyncs = 0  # seeds taken from the venue, for metrics and tests

    def __repr__(self) -> str:
        return (f"NonceManager(account_index={self.account_index}, api_key_index={self.api_key_index}, "
                f"next={self._next if self._seeded else None}, epoch={self._epoch})")

    @property
    def next_nonce(self) -> int | None:
        """Next nonce to hand out, or None until (re)seeded from the venue."""
        return self._next if self._seeded else None

    @property
    def epoch(self) -> int:
        return self._epoch

    def invalidate(self) -> None:
        """Forget the local nonce (reconnect, nonce error); the next allocation re-reads it from the venue.

        Submitters holding a nonce that was not dispatched yet get ``NonceInvalidated``.
        """
        self._end_epoch()

    async def submit(
        self,
        sign: Callable[[int], Awaitable[S]],
        dispatch: Callable[[S], Awaitable[R]],
    ) -> Submitted[S, R]:
        """Allocate one nonce, ``sign(nonce)``, ``dispatch(signed)`` in nonce order, await the reply."""
        return await self.submit_batch(1, sign, dispatch)

    async def submit_batch(
        self,
        count: int,
        sign: Callable[[int], Awaitable[S]],
        dispatch: Callable[[S], Awaitable[R]],
    ) -> Submitted[S, R]:
        """Like ``submit`` for a sendTxBatch: ``count`` consecutive nonces, ``sign(first_nonce)``.

        A rejected batch ends the epoch (whether the venue applies part of a batch is not documented).
        """
        if count < 1:
            raise ValueError(f"count={count} must be >= 1")
        ticket = await self._allocate(count)
        try:
            signed = await sign(ticket.nonce)
            await self._wait_turn(ticket)
            reply_awaitable = dispatch(signed)
        except BaseException:
            self._release(ticket)
            raise
        if self.pass_turn_on == "dispatch":
            self._pass_turn(ticket)
        try:
            reply = await reply_awaitable
        except TxRejected as rejected:
            if rejected.nonce_error or count > 1:
                self._end_epoch(ticket.epoch)
            else:
                self._release(ticket)
            raise
        except BaseException:
            self._end_epoch(ticket.epoch)  # outcome unknown: the tx may or may not have consumed the nonce
            raise
        if self.pass_turn_on == "reply":
            self._pass_turn(ticket)
        return Submitted(ticket.nonce, count, signed, reply)

    # -- internals

    async def _allocate(self, count: int) -> _Ticket:
        async with self._lock:
            if not self._seeded:
                epoch = self._epoch
                nonce = await self._fetch(self.account_index, self.api_key_index)
                if isinstance(nonce, bool) or not isinstance(nonce, int) or nonce < 0:
                    raise NonceFetchError(f"nextNonce fetch returned {nonce!r}, expected an int >= 0")
                if epoch == self._epoch:  # no invalidate() raced with the fetch
                    self._next = self._turn = nonce
                    self._seeded = True
                    self.resyncs += 1
                else:
                    raise NonceInvalidated("nonce invalidated while it was being fetched")
            ticket = _Ticket(self._next, count, self._epoch)
            self._next += count
            return ticket

    async def _wait_turn(self, ticket: _Ticket) -> None:
        if ticket.epoch != self._epoch:
            raise NonceInvalidated(f"nonce {ticket.nonce} was invalidated before dispatch")
        if self._turn == ticket.nonce:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[ticket.nonce] = waiter
        try:
            await waiter
        finally:
            if self._waiters.get(ticket.nonce) is waiter:
                del self._waiters[ticket.nonce]
        # Woken, but the epoch may have ended before this task got to run again.
        if ticket.epoch != self._epoch:
            raise NonceInvalidated(f"nonce {ticket.nonce} was invalidated before dispatch")

    def _pass_turn(self, ticket: _Ticket) -> None:
        if ticket.epoch == self._epoch:
            self._turn = ticket.nonce + ticket.count
            self._wake(self._turn)

    def _release(self, ticket: _Ticket) -> None:
        """The ticket's nonces were not consumed by the venue."""
        if ticket.epoch != self._epoch:
            return
        if self._next == ticket.nonce + ticket.count:
            # Highest nonces handed out: hand them out again. Nothing later exists, so nothing waits for
            # them; lower nonces may still be waiting for their turn, which must not move past them.
            self._next = ticket.nonce
            self._turn = min(self._turn, ticket.nonce)
        else:
            self._end_epoch(ticket.epoch)

    def _end_epoch(self, epoch: int | None = None) -> None:
        if epoch is not None and epoch != self._epoch:
            return
        self._epoch += 1
        self._seeded = False
        waiters, self._waiters = self._waiters, {}
        for nonce, waiter in waiters.items():
            if not waiter.done():
                waiter.set_exception(NonceInvalidated(f"nonce {nonce} was invalidated before dispatch"))

    def _wake(self, nonce: int) -> None:
        waiter = self._waiters.pop(nonce, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
