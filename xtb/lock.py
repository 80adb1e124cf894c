"""Single-instance lock per trading account.

Two bots on one account fight over its orders (the original system's "shadow runner" incident: a
forgotten second process kept re-quoting against the first). Each bot takes an exclusive `flock` on
`<lock_dir>/<venue>-<account>.lock` before it starts; the kernel releases it if the process dies, so a
crash never leaves a stale lock. The file also carries the holder's PID, host and a heartbeat time so
that the refusal message and `xtb status` can say who holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
from pathlib import Path
from types import TracebackType


class AccountLockedError(RuntimeError):
    """Another live process trades this account."""


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", part) or "_"


class AccountLock:
    def __init__(self, lock_dir: str | os.PathLike[str], venue: str, account: str) -> None:
        self.path = Path(lock_dir).expanduser() / f"{_safe(venue)}-{_safe(account)}.lock"
        self.venue = venue
        self.account = account
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(self.path)
            os.close(fd)
            who = "another process"
            if holder:
                age = time.time() - float(str(holder.get("heartbeat", 0)))
                who = f"PID {holder.get('pid')} on {holder.get('host')} (heartbeat {age:.0f} s ago)"
            raise AccountLockedError(
                f"{self.venue} account {self.account!r} is already traded by {who}; "
                f"stop it first (lock file {self.path})"
            ) from None
        self._fd = fd
        self.heartbeat()

    def heartbeat(self) -> None:
        """Refresh the holder record; call periodically while running."""
        if self._fd is None:
            raise RuntimeError("lock not held")
        record = {"pid": os.getpid(), "host": socket.gethostname(), "heartbeat": time.time()}
        data = json.dumps(record).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AccountLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def read_holder(path: str | os.PathLike[str]) -> dict[str, object] | None:
    """The holder record of a lock file, or None when empty/unreadable."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    try:
        rec = json.loads(text)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None
