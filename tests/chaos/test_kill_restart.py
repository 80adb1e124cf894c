"""kill -9 mid-trade, then restart: the live bot (`xtb run --live`, its own process) trades a standalone simulator
on 127.0.0.1 until it holds orders at the venue, is killed with SIGKILL, and is started again on the same
account and run directory. The restarted bot adopts the orders the dead one left (Backpack's
`unknown_order_policy: adopt`), never reuses a client id (the allocator's state survives the kill), and stops
flat (`--flatten-on-exit`): judged on the simulator's own record of the account."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from nacl.signing import SigningKey

from xtb.sim.backpack.dialect import MARKETS as BACKPACK_MARKETS
from xtb.sim.cluster import ClusterConfig, SimCluster
from xtb.sim.faults import FaultPlan
from xtb.sim.types import Side as SimSide

ROOT = Path(__file__).resolve().parents[2]
SOL = next(m for m in BACKPACK_MARKETS if m.symbol == "SOL_USDC_PERP")
pytestmark = pytest.mark.timeout(120)


def _bot_config(tmp_path: Path, sim: SimCluster, key_file: Path) -> Path:
    data = yaml.safe_load((ROOT / "configs" / "perp_mm.yaml").read_text())
    data["general"].update(log_dir=str(tmp_path / "logs"), run_dir=str(tmp_path / "runs"),
                           lock_dir=str(tmp_path / "locks"), uvloop=False)
    urls = sim.urls()["backpack"]
    data["venues"] = {"backpack": {"symbols": ["SOL_USDC_PERP"], "rest_url": urls["rest"], "ws_url": urls["ws"],
                                   "key_file": str(key_file), "account": "kill-test",
                                   "options": {"unknown_order_policy": "adopt"}}}
    data["strategy"]["params"].update(cycle_interval_s=30.0, base_spread_percentage=0.2)  # orders rest
    data["control"] = {"enabled": False}
    data["telemetry"] = {"journal": False}
    path = tmp_path / "live.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def _start_bot(config: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "xtb.cli", "run", str(config), "--live", "--status-every", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def _wait(cond: Any, timeout_s: float) -> bool:
    for _ in range(int(timeout_s / 0.1)):  # bounded
        if cond():
            return True
        await asyncio.sleep(0.1)
    return bool(cond())


async def test_kill_9_mid_trade_then_restart_adopts_reuses_no_id_and_ends_flat(tmp_path):
    signing = SigningKey.generate()
    public = base64.b64encode(bytes(signing.verify_key)).decode()
    secret = base64.b64encode(bytes(signing)).decode()
    key_file = tmp_path / "backpack.keys"
    key_file.write_text(f"api key: {public}\napi secret: {secret}\n")
    key_file.chmod(0o600)
    # orders outlive their session (no cancel-on-disconnect): the dead bot's quotes stay on the book
    async with SimCluster(ClusterConfig(venues=("backpack",), seed=4, backpack_markets=(SOL,), updates_per_s=20,
                                        fault_plan=FaultPlan(cancel_on_disconnect=False))) as sim:
        _, _, account = sim.add_backpack_account(100_000, api_key_b64=public)
        ex = sim.venues["backpack"].exchange
        config = _bot_config(tmp_path, sim, key_file)

        first = await _start_bot(config)
        try:
            assert await _wait(lambda: len(ex.open_orders(account)) >= 2, 30), "the bot never quoted"
            # mid-trade: a taker sweep fills one of its quotes, so it holds a position as it dies
            bid = max(o.price for o in ex.open_orders(account) if o.side is SimSide.BUY)
            sim.sweep("backpack", SOL.symbol, "sell", 10**6, bid)  # through the book down to its bid
            assert await _wait(lambda: any(p.size for p in ex.positions(account)), 5)
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        assert first.returncode == -signal.SIGKILL
        left = {o.client_id for o in ex.open_orders(account)}
        assert left, "the killed bot left no order to adopt"
        held = sum(p.size for p in ex.positions(account))
        assert held != 0

        second = await _start_bot(config, "--duration", "4", "--flatten-on-exit")
        out_b, _ = await asyncio.wait_for(second.communicate(), 90)
        out = out_b.decode(errors="replace")
        assert second.returncode == 0, out
        assert "STOPPED: flat" in out, out
        for cid in left:  # every order the dead bot left was adopted by the new one, by policy
            assert f"adopted open order client id {cid}" in out, (cid, out)

        # the venue's record: nothing open, nothing held, no client id used twice across both lives
        assert ex.open_orders(account) == []
        assert [p.size for p in ex.positions(account) if p.size] == []
        ids = [o.client_id for o in ex.order_history(account)]
        assert len(ids) > len(left) and len(ids) == len(set(ids)), ids
