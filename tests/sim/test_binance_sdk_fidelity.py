"""Fidelity: Binance's official USD-M SDK (`binance-sdk-derivatives-trading-usds-futures`), unchanged, trades
against the simulator's Binance dialect as it would against the venue: its own HMAC signing, parameter
encoding, batch orders, response models and exceptions. Nothing here touches our connector.

The SDK cannot live in the test environment (binance-common needs urllib3>=2.7, lighter-sdk pins urllib3<2.1),
so it gets a venv of its own, made once per module from PyPI; tests/sim/binance_sdk_client.py runs there as a
subprocess against the simulator served from this process, and prints a JSON summary asserted on here together
with the simulator's own ledger."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import venv
from pathlib import Path
from typing import Any

import pytest

from xtb.sim.types import AccountConfig, OrderRequest, Side

from .proto_helpers import cluster_factory_fixture

SDK_REQUIREMENT = "binance-sdk-derivatives-trading-usds-futures>=18.1.0,<19"  # 18.1.0 verified here
CLIENT = Path(__file__).with_name("binance_sdk_client.py")
INSTALL_TIMEOUT = 300.0
CLIENT_TIMEOUT = 60.0
# Set to 1 where the SDK must be installable (CI): a failed install then fails the test instead of skipping it.
REQUIRE_ENV = "XTB_REQUIRE_BINANCE_SDK"

pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT + CLIENT_TIMEOUT + 60)
cluster_factory = cluster_factory_fixture


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without its Python settings (the SDK venv has its own), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def sdk_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding only the official SDK (and what it pulls in) from PyPI; its python."""
    env_dir = tmp_path_factory.mktemp("binance-sdk") / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    cmd = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", SDK_REQUIREMENT]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), timeout=INSTALL_TIMEOUT)
        why = None if res.returncode == 0 else (res.stderr.strip().splitlines() or ["(no output)"])[-1]
    except subprocess.TimeoutExpired:
        why = f"pip did not finish in {INSTALL_TIMEOUT:.0f}s"
    if why is not None:
        msg = f"cannot install {SDK_REQUIREMENT} from PyPI into a venv of its own: {why}"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{msg} ({REQUIRE_ENV}=1)")
        pytest.skip(msg)
    return python


async def run_client(python: Path, base_url: str, api_key: str, secret: str) -> dict[str, Any]:
    """Runs the SDK client to completion (bounded) while this loop keeps serving the simulator."""
    proc = await asyncio.create_subprocess_exec(
        str(python), str(CLIENT), "--base-url", base_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=clean_env(BINANCE_API_KEY=api_key, BINANCE_API_SECRET=secret), cwd=CLIENT.parent,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CLIENT_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"the SDK client did not finish in {CLIENT_TIMEOUT:.0f}s")
    assert proc.returncode == 0, f"the SDK client failed:\n{err.decode()}"
    summary: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return summary


async def test_official_sdk_trades_against_the_simulator(sdk_python: Path, cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("binance_usdm",))
    api_key, secret, account = sim.add_binance_account(50_000)
    ex = sim.venues["binance_usdm"].exchange
    maker = ex.create_account(10**20, config=AccountConfig(check_margin=False, check_order_limits=False))
    ex.place_order(OrderRequest(maker, 0, Side.SELL, 2_000, 1_001_000))  # BTCUSDC ask 100100.0 x 2
    ex.place_order(OrderRequest(maker, 0, Side.BUY, 2_000, 999_000))

    r = await run_client(sdk_python, sim.urls()["binance_usdm"]["rest"], api_key, secret)

    assert r["server_time"]["serverTime"] > 0
    assert "BTCUSDC" in r["exchange_information"]["symbols"]
    assert r["order_book"]["asks"][0] == ["100100.0", "2.000"]
    # a resting GTC limit buy, found again by its client id
    placed = r["new_order"]
    assert placed["status"] == "NEW" and placed["clientOrderId"] == "sdk-1"
    assert r["query_order"]["orderId"] == placed["orderId"]
    # a batch of two post-only sells: the second would take, so -5022 for it alone
    rows = r["batch_orders"]
    assert rows[0]["clientOrderId"] == "sdk-b0" and rows[0]["status"] == "NEW" and rows[1]["code"] == -5022
    # a market buy takes the ask: the position and the trade are the venue's
    assert r["market_order"]["status"] == "FILLED" and r["market_order"]["executedQty"] == "0.005"
    positions = r["positions"]
    assert positions[0]["positionAmt"] == "0.005" and positions[0]["symbol"] == "BTCUSDC"
    assert ex.position(account, 0).size == 5
    assert r["cancel_order"]["status"] == "CANCELED" and r["cancel_order"]["clientOrderId"] == "sdk-1"
    # cancelling it again is the venue's -2011, which the SDK maps to its own exception
    assert r["cancel_again"] is not None, "the second cancel did not raise"
    assert r["cancel_again"]["exception"] == "binance_common.errors.BadRequestError", r["cancel_again"]
    assert "-2011" in r["cancel_again"]["message"], r["cancel_again"]
    assert {b["asset"] for b in r["balances"]} == {"USDC", "USDT"}
    # cancel-all took the batch's resting sell; nothing is left open, on the SDK's view or the ledger's
    assert r["open_orders_after"] == []
    assert ex.open_orders(account) == []
