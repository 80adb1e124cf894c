"""Client order ids that are unique per venue account and survive a restart.

A venue refuses (Backpack: "Order with client ID already exists") or, worse, confuses two orders that share a
client id, and the tracker keys orders by (venue, client_id). So ids must never repeat for one account, even
across restarts and between processes trading the same account.

How: a high-water mark is persisted in a small JSON file. Before handing out any id, an allocator reserves a
block `[mark, mark + block)` by writing `mark + block` to the file (temp file + fsync + atomic rename, under
an exclusive `flock` so two processes never reserve the same block). Ids of a reserved block that were not
used before a restart are skipped, never reused. Allocation inside a block is a lock and an increment.
Once half of the current block is handed out, the next block is reserved on a background thread, so the
file write and its fsync stay off the caller's stack (a strategy's tick-to-order path); only when a burst
outruns the prefetch does `next()` wait for it.

Ranges are the venue's (its VenueSpec's `client_id_range`: Backpack's `clientId` is a uint32, Lighter's
`client_order_index` 48 bits).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

_STATE_VERSION = 1
_SAFE_LABEL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


_prefetcher: ThreadPoolExecutor | None = None
_prefetcher_lock = threading.Lock()


def _prefetch_pool() -> ThreadPoolExecutor:
    """One shared worker for every allocator's block reservations (they are rare and short)."""
    global _prefetcher
    with _prefetcher_lock:
        if _prefetcher is None:
            _prefetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xtb-client-ids")
        return _prefetcher


def _forget_prefetcher_in_child() -> None:
    # A forked child inherits the executor but not its thread: work submitted to it would never run.
    global _prefetcher, _prefetcher_lock
    _prefetcher, _prefetcher_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_prefetcher_in_child)


class ClientIdError(RuntimeError):
    """The id state file is unreadable or does not match this allocator (ids could repeat: refuse)."""


class ClientIdsExhausted(ClientIdError):
    """Every id of the venue's range has been reserved for this account."""


class ClientIdAllocator:
    """Hands out unique client order ids for one venue account; thread-safe and restart-safe.

    `state_path` is the JSON file holding the high-water mark (created on first use). `lo..hi` is the
    venue's id range (inclusive); `block` is how many ids one file write reserves.
    """

    def __init__(self, state_path: str | os.PathLike[str], *, lo: int, hi: int, block: int = 1024) -> None:
        if not 0 <= lo <= hi:
            raise ValueError(f"lo/hi: need 0 <= lo <= hi, got lo={lo} hi={hi}")
        if block < 1:
            raise ValueError(f"block: must be >= 1, got {block}")
        self._path = Path(state_path)
        self._lock_path = self._path.with_name(self._path.name + ".lock")
        self._lo, self._hi, self._block = lo, hi, block
        self._mutex = threading.Lock()
        self._next = 0  # next id to hand out
        self._end = 0  # end (exclusive) of the block we hold; next == end means reserve first
        self._spare: Future[tuple[int, int]] | None = None  # the next block, being or already reserved
        self._spare_pid = 0  # the process that asked for it (in a forked child its thread does not exist)

    @classmethod
    def for_venue(
        cls, state_dir: str | os.PathLike[str], venue: str, account: str, *, id_range: tuple[int, int],
        block: int = 1024,
    ) -> ClientIdAllocator:
        """The allocator for `venue` and one account (a label, an API key, an account index), with the
        venue's id range (`id_range`: its VenueSpec's `client_id_range`) and a state file under `state_dir`."""
        lo, hi = id_range
        path = Path(state_dir) / f"client_ids.{venue}.{_file_label(str(account))}.json"
        return cls(path, lo=lo, hi=hi, block=block)

    @property
    def state_path(self) -> Path:
        return self._path

    @property
    def range(self) -> tuple[int, int]:
        return (self._lo, self._hi)

    def next(self) -> int:
        """A fresh id, never handed out before for this state file."""
        with self._mutex:
            if self._next >= self._end:
                # The prefetched block if there is one (waiting for it only if a burst outran it).
                self._next, self._end = self._take_spare()
            cid = self._next
            self._next += 1
            if self._spare is None and self._block > 1 and self._end - self._next <= self._block // 2 \
                    and self._end <= self._hi:
                self._prefetch()
            return cid

    def take_block(self) -> tuple[int, int]:
        """A whole reserved block, [start, end), handed out at once (to a core order entry that numbers its
        orders itself): the prefetched one when it is there. `next()` keeps its own block; the next spare
        is reserved in the background right away."""
        with self._mutex:
            start, end = self._take_spare()
            if self._block > 1 and end <= self._hi:
                self._prefetch()
            return start, end

    def _take_spare(self) -> tuple[int, int]:
        spare, self._spare = self._spare, None
        if spare is not None and self._spare_pid == os.getpid():
            return spare.result()
        return self._reserve()  # none asked for, or asked for by the process this one was forked from

    def _prefetch(self) -> None:
        self._spare_pid = os.getpid()
        self._spare = _prefetch_pool().submit(self._reserve)

    def high_water_mark(self) -> int:
        """The persisted mark: every id below it is reserved (used or skipped); none above is used."""
        with self._file_lock():
            return self._read_mark()

    # ---- persistence

    def _reserve(self) -> tuple[int, int]:
        with self._file_lock():
            start = self._read_mark()
            if start > self._hi:
                raise ClientIdsExhausted(
                    f"all client ids {self._lo}..{self._hi} are reserved in {self._path}"
                )
            end = min(start + self._block, self._hi + 1)
            self._write_mark(end)
            return start, end

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock

    def _read_mark(self) -> int:
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return self._lo
        try:
            state = json.loads(raw)
            mark = state["next"]
            lo, hi = state["lo"], state["hi"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ClientIdError(
                f"{self._path}: unreadable client id state ({exc}); refusing to guess"
            ) from exc
        if not isinstance(mark, int) or (lo, hi) != (self._lo, self._hi) or not lo <= mark <= hi + 1:
            raise ClientIdError(
                f"{self._path}: state (next={mark!r}, range {lo}..{hi}) does not match range "
                f"{self._lo}..{self._hi}; refusing to guess"
            )
        return mark

    def _write_mark(self, mark: int) -> None:
        data = json.dumps({"version": _STATE_VERSION, "next": mark, "lo": self._lo, "hi": self._hi})
        fd, tmp = tempfile.mkstemp(prefix=self._path.name + ".", suffix=".tmp", dir=self._path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        # The rename itself must reach the disk before any id of the block is used.
        dir_fd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def __repr__(self) -> str:
        return (
            f"ClientIdAllocator(state_path={str(self._path)!r}, range={self._lo}..{self._hi}, "
            f"block={self._block})"
        )


def _file_label(account: str) -> str:
    """A file-name-safe label: the account itself when safe, else a hash (API keys contain '/' and '+')."""
    if _SAFE_LABEL.match(account):
        return account
    return "h" + hashlib.sha256(account.encode()).hexdigest()[:24]
