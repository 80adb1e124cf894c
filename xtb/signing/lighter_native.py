"""Event-loop side of the GIL-free Lighter signing path (``xtb._core.LighterNativeSigner``).

The Rust core calls the Go signer from a thread of its own that never takes this process's GIL. Each
finished job lands in a queue and the thread writes one byte to an fd that the event loop watches with
``add_reader``; the reader callback drains the queue and resolves the futures on the loop's own thread.
A Python worker thread cannot do this: handing its result back needs the GIL, and the loop then waits up
to a switch interval for it (multi-ms stalls, see ``bench/bench_lighter_signer.py``).

The path is used only when the installed header declares ``SignCreateOrder``, ``SignCancelOrder``,
``Free`` and ``SignedTxResponse`` exactly as the Rust side was compiled for; otherwise the caller keeps
the thread path, so a drifting SDK version can never shift arguments.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from xtb.signing.lighter_lib import LighterLibrary

T = TypeVar("T")
log = logging.getLogger(__name__)

CLOSED_MESSAGE = "signer closed before this request was signed"

Complete = Callable[[str, int, int, "str | None", "str | None", "str | None"], T]
"""(operation, nonce, tx_type, tx_info, tx_hash, error) -> result; raises for an error."""

_reported: set[str] = set()


def _report_once(reason: str) -> None:
    if reason not in _reported:
        _reported.add(reason)
        log.warning("Lighter native signing path unavailable, signing on a Python thread: %s", reason)


def native_unavailable_reason(library: LighterLibrary) -> str | None:
    """Why the native path cannot serve this library (``None``: it can)."""
    try:
        from xtb import _core
    except ImportError as exc:
        return f"xtb._core is not importable ({exc})"
    abi = getattr(_core, "lighter_native_abi", None)
    if abi is None or not hasattr(_core, "LighterNativeSigner"):
        return "this build of xtb._core has no native Lighter signer"
    mismatch = library.abi_mismatch(abi())
    if mismatch is not None:
        return f"signer header differs from the compiled declarations: {mismatch}"
    return None


class NativeSigningPath(Generic[T]):
    """Submits jobs to the Rust signing thread and resolves their futures from the loop's reader callback.

    One loop at a time owns the fd. Another loop takes it over when the owner is closed, or stopped with
    nothing pending; until then ``submit`` returns ``None`` there and the caller uses the thread path.
    """

    def __init__(self, native: Any, complete: Complete[T]) -> None:
        self.native = native
        self._fd: int = native.fileno()
        self._complete = complete
        self._pending: dict[int, tuple[asyncio.Future[T], str, int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @classmethod
    def open(cls, library: LighterLibrary, complete: Complete[T], *, thread_name: str) -> NativeSigningPath[T] | None:
        """The native path for ``library``, or ``None`` (logged once per reason) when it cannot be used."""
        reason = native_unavailable_reason(library)
        if reason is None:
            from xtb import _core

            try:
                return cls(_core.LighterNativeSigner(str(library.location.binary), thread_name=thread_name),
                           complete)
            except RuntimeError as exc:
                reason = str(exc)
        _report_once(reason)
        return None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def submit(
        self, operation: str, nonce: int, submit: Callable[..., int], /, **kwargs: Any
    ) -> asyncio.Future[T] | None:
        """Queue one job on the running loop; ``None`` if this loop cannot use the path right now."""
        if self._closed:
            return None
        loop = asyncio.get_running_loop()
        if loop is not self._loop and not self._attach(loop):
            return None
        try:
            job = submit(**kwargs)
        except RuntimeError:  # closed from another thread meanwhile: the thread path reports it
            return None
        future: asyncio.Future[T] = loop.create_future()
        self._pending[job] = (future, operation, nonce)
        return future

    def _attach(self, loop: asyncio.AbstractEventLoop) -> bool:
        old = self._loop
        if old is not None and old.is_closed():
            self._pending.clear()  # nobody can await those futures any more
        elif old is not None and (old.is_running() or self._pending):
            return False
        if old is not None and not old.is_closed():
            old.remove_reader(self._fd)
        self._loop = None
        try:
            loop.add_reader(self._fd, self._on_readable)
        except NotImplementedError:  # a loop without fd readers (Windows' proactor)
            _report_once(f"{type(loop).__name__} cannot watch file descriptors")
            return False
        self._loop = loop
        return True

    def _on_readable(self) -> None:
        for job, tx_type, tx_info, tx_hash, error in self.native.drain():
            entry = self._pending.pop(job, None)
            if entry is None:
                continue
            future, operation, nonce = entry
            if future.done():  # the awaiting task was cancelled
                continue
            try:
                result = self._complete(operation, nonce, tx_type, tx_info, tx_hash, error)
            except Exception as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

    def close(self) -> None:
        """Stop the signing thread; pending futures fail with ``CLOSED_MESSAGE`` (or get their result)."""
        if self._closed:
            return
        self._closed = True
        self.native.close()  # the job in flight finishes, queued ones complete with an error
        loop = self._loop
        if loop is None or loop.is_closed():
            self._pending.clear()
            return

        def finish() -> None:
            self._on_readable()
            for future, operation, nonce in self._pending.values():
                if not future.done():
                    try:
                        self._complete(operation, nonce, 0, None, None, CLOSED_MESSAGE)
                    except Exception as exc:
                        future.set_exception(exc)
            self._pending.clear()
            if not loop.is_closed():
                loop.remove_reader(self._fd)

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop or not loop.is_running():
            finish()
        else:
            loop.call_soon_threadsafe(finish)
