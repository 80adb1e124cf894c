import multiprocessing as mp
import os

import pytest

from xtb.lock import AccountLock, AccountLockedError, read_holder


def _hold_then_report(lock_dir, q_ready, q_done):
    lock = AccountLock(lock_dir, "backpack", "main")
    lock.acquire()
    q_ready.put(os.getpid())
    q_done.get(timeout=20)
    lock.release()


def test_second_process_is_refused_and_named(tmp_path):
    ctx = mp.get_context("fork")
    ready, done = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_hold_then_report, args=(str(tmp_path), ready, done))
    p.start()
    try:
        pid = ready.get(timeout=20)
        with pytest.raises(AccountLockedError) as ei:
            AccountLock(tmp_path, "backpack", "main").acquire()
        assert f"PID {pid}" in str(ei.value)
        # another account is independent
        with AccountLock(tmp_path, "backpack", "other"):
            pass
    finally:
        done.put(1)
        p.join(timeout=20)
    # the holder exited: the lock is free again
    with AccountLock(tmp_path, "backpack", "main") as lock:
        rec = read_holder(lock.path)
        assert rec is not None and rec["pid"] == os.getpid()


def test_lock_released_when_holder_dies(tmp_path):
    ctx = mp.get_context("fork")
    ready, done = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_hold_then_report, args=(str(tmp_path), ready, done))
    p.start()
    ready.get(timeout=20)
    p.kill()
    p.join(timeout=20)
    with AccountLock(tmp_path, "backpack", "main"):
        pass


def test_account_names_are_sanitised(tmp_path):
    lock = AccountLock(tmp_path, "lighter", "../../etc/x")
    assert lock.path.parent == tmp_path
    with lock:
        assert lock.held
    assert not lock.held
