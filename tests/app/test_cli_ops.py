"""`xtb status` (account lock files) and `xtb flatten` (standalone, paper mode) from the command line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from xtb.cli import app, lock_records
from xtb.engine.flatten import VenueFlatten
from xtb.lock import AccountLock

runner = CliRunner()


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_config(tmp_path: Path, venues: dict[str, list[str]]) -> Path:
    cfg = {
        "general": {"mode": "paper", "seed": 3, "log_dir": str(tmp_path / "logs"), "run_dir": str(tmp_path / "runs"),
                    "lock_dir": str(tmp_path / "locks"), "uvloop": False},
        "venues": {v: {"symbols": s} for v, s in venues.items()},
        "strategy": {"name": "smoke_test", "params": {}},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


# ---- status ------------------------------------------------------------------------------------------


def test_status_reports_live_dead_and_free_locks(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    held = AccountLock(locks, "backpack", "main")
    held.acquire()
    try:
        stale = locks / "lighter-42.lock"  # a holder that died: the record stays, the flock went with it
        stale.write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname(), "heartbeat": time.time() - 90}))
        (locks / "backpack-old.lock").write_text("")  # released cleanly
        cfg = write_config(tmp_path, {"backpack": ["SOL_USDC_PERP"]})

        res = runner.invoke(app, ["status", str(cfg)])
        assert res.exit_code == 0, res.output
        lines = res.output.splitlines()
        me = f"pid {os.getpid()} on {socket.gethostname()}"
        assert lines[0] == f"backpack-main: running  {me}, heartbeat 0 s ago"
        assert lines[1] == "backpack-old: free"
        assert lines[2].startswith("lighter-42: dead") and "heartbeat 90 s ago" in lines[2]

        out = runner.invoke(app, ["status", "--lock-dir", str(locks), "--json"]).output
        recs = {r["lock"]: r for r in json.loads(out)}
        assert recs["backpack-main"]["state"] == "running" and recs["backpack-main"]["pid"] == os.getpid()
        assert recs["lighter-42"]["state"].startswith("dead") and 89 <= recs["lighter-42"]["heartbeat_age_s"] < 120
        old = {"lock": "backpack-old", "path": str(locks / "backpack-old.lock"), "state": "free"}
        assert recs["backpack-old"] == old
    finally:
        held.release()
    # Released: the file is truncated, so the same lock now reads as free.
    assert {r["lock"]: r["state"] for r in lock_records(locks)}["backpack-main"] == "free"


def test_status_other_host_and_empty_dir(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    res = runner.invoke(app, ["status", "--lock-dir", str(locks)])
    assert res.exit_code == 0 and "nothing is running" in res.output
    locks.mkdir()
    (locks / "backpack-x.lock").write_text(json.dumps({"pid": 1, "host": "elsewhere", "heartbeat": "bad"}))
    [rec] = lock_records(locks)
    assert rec["state"] == "unknown (other host)" and rec["heartbeat_age_s"] is None


def test_status_bad_config_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("general: {mode: sideways}\n")
    res = runner.invoke(app, ["status", str(bad)])
    assert res.exit_code == 2 and "config error" in res.output


# ---- flatten -----------------------------------------------------------------------------------------


def test_flatten_paper_standalone_reports_flat(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, {"backpack": ["SOL_USDC_PERP"], "lighter": ["SOL"]})
    res = runner.invoke(app, ["flatten", str(cfg), "--venue", "backpack", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output.splitlines()[-1])
    assert list(report) == ["backpack"]
    assert report["backpack"]["flat"] and report["backpack"]["verified"] and report["backpack"]["left"] == {}


def test_flatten_unknown_venue_exits_2(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, {"backpack": ["SOL_USDC_PERP"]})
    res = runner.invoke(app, ["flatten", str(cfg), "--venue", "binance"])
    assert res.exit_code == 2 and "venue binance is not enabled" in res.output


def test_flatten_locked_account_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Live flatten takes the account lock first: with a bot holding it, nothing is touched."""
    cfg = write_config(tmp_path, {"backpack": ["SOL_USDC_PERP"]})
    with AccountLock(tmp_path / "locks", "backpack", "default"):
        res = runner.invoke(app, ["flatten", str(cfg), "--live"])
    assert res.exit_code == 3 and "already traded by PID" in res.output


def test_flatten_exits_1_when_something_is_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exit status and report follow the verified result (here a venue that stays long)."""
    from xtb.engine.engine import Engine

    async def stuck(self: Engine, **_: object) -> dict[str, VenueFlatten]:
        return {"backpack": VenueFlatten("backpack", before={"SOL_USDC_PERP": 10}, orders_sent=5,
                                         left={"SOL_USDC_PERP": 4}, verified=True, errors=["close order rejected"])}

    monkeypatch.setattr(Engine, "flatten_report", stuck)
    cfg = write_config(tmp_path, {"backpack": ["SOL_USDC_PERP"]})
    res = runner.invoke(app, ["flatten", str(cfg)])
    assert res.exit_code == 1, res.output
    assert "backpack: NOT FLAT" in res.output and "left {'SOL_USDC_PERP': 4}" in res.output
    assert "error: close order rejected" in res.output


def test_flatten_live_without_keys_exits_2_and_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BPX_API_KEY", raising=False)
    monkeypatch.delenv("BPX_API_SECRET", raising=False)
    cfg = write_config(tmp_path, {"backpack": ["SOL_USDC_PERP"]})
    res = runner.invoke(app, ["flatten", str(cfg), "--live", "--set", f"venues.backpack.key_file={tmp_path / 'nope'}"])
    assert res.exit_code == 2, res.output
    assert "cannot flatten" in res.output and "does not exist" in res.output
    assert [r["state"] for r in lock_records(tmp_path / "locks")] == ["free"]  # taken, then released
