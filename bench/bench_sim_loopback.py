"""Simulator end to end on loopback, and the generator soak.

- group `sim_loopback_orders`: 100 signed Backpack limit orders sent one after another over HTTP to the
  simulator's Backpack server on 127.0.0.1 (real ED25519 verification, matching, account update, answer).
  `baseline_*` signs in Python (PyNaCl + orjson); `xtb_*` builds and signs with the core's BackpackSigner.
  The server dominates both; the figure is orders/s end to end.
- `test_generator_soak_60s` (only with XTB_SOAK=1; about a minute): the market-data generator at 5,000
  book updates/s for 60 virtual seconds on one market; resident memory must stay flat after warm-up.

Run: python -m pytest bench/bench_sim_loopback.py --benchmark-group-by=group --benchmark-columns=median,ops
"""

from __future__ import annotations

import asyncio
import base64
import os
import resource
import threading
import time
from typing import Any

import aiohttp
import orjson
import pytest
from nacl.signing import SigningKey

from xtb._core import BackpackSigner
from xtb.sim.clock import VirtualClock
from xtb.sim.cluster import ClusterConfig, SimCluster
from xtb.sim.engine import Exchange
from xtb.sim.generator import FeedConfig, MarketDataGenerator, UnderlyingConfig
from xtb.sim.types import MarketSpec, VenueRules

N_ORDERS = 100
SYMBOL = "SOL_USDC_PERP"


def _params(i: int) -> dict[str, Any]:
    # Far from the touch so they rest (no matching noise); alternating sides.
    side, price = ("Bid", "100.00") if i % 2 else ("Ask", "200.00")
    return {"symbol": SYMBOL, "side": side, "orderType": "Limit", "quantity": "0.10", "price": price,
            "timeInForce": "GTC", "clientId": i + 1}


def _py_signed(seed: bytes, api_key: str, params: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    ts = int(time.time() * 1000)
    items = "&".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in sorted(params.items()))
    msg = f"instruction=orderExecute&{items}&timestamp={ts}&window=5000"
    sig = base64.b64encode(SigningKey(seed).sign(msg.encode()).signature).decode()
    headers = {"X-API-Key": api_key, "X-Signature": sig, "X-Timestamp": str(ts), "X-Window": "5000",
               "Content-Type": "application/json; charset=utf-8"}
    return headers, orjson.dumps(params)


async def _send_all(http: aiohttp.ClientSession, rest: str, sign: Any, first_id: int) -> int:
    ok = 0
    for i in range(first_id, first_id + N_ORDERS):
        headers, body = sign(_params(i))
        async with http.post(f"{rest}/api/v1/order", data=body, headers=headers) as r:
            await r.read()
            ok += r.status == 200
    return ok


class LoopbackSim:
    """The simulator and one HTTP session on a background event loop; rounds are submitted to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.next_id = 0
        self._call(self._start())

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    async def _start(self) -> None:
        self.sim = SimCluster(ClusterConfig(venues=("backpack",), seed=5, generate=False))
        await self.sim.__aenter__()
        self.api_key, secret, _ = self.sim.add_backpack_account(10_000_000)
        assert secret is not None
        self.secret = secret
        self.http = aiohttp.ClientSession()

    def round(self, sign: Any) -> int:
        first = self.next_id
        self.next_id += N_ORDERS
        return int(self._call(_send_all(self.http, self.sim.urls()["backpack"]["rest"], sign, first)))

    def close(self) -> None:
        async def stop() -> None:
            await self.http.close()
            await self.sim.__aexit__(None, None, None)

        self._call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def loopback() -> Any:
    lb = LoopbackSim()
    yield lb
    lb.close()


@pytest.mark.benchmark(group="sim_loopback_orders")
def test_baseline_pynacl_orders_over_loopback(benchmark: Any, loopback: LoopbackSim) -> None:
    seed = base64.b64decode(loopback.secret)
    ok = benchmark.pedantic(loopback.round, args=(lambda p: _py_signed(seed, loopback.api_key, p),),
                            rounds=5, iterations=1)
    assert ok == N_ORDERS
    benchmark.extra_info["orders_per_round"] = N_ORDERS


@pytest.mark.benchmark(group="sim_loopback_orders")
def test_xtb_core_signer_orders_over_loopback(benchmark: Any, loopback: LoopbackSim) -> None:
    signer = BackpackSigner(loopback.secret)
    ok = benchmark.pedantic(loopback.round, args=(signer.order,), rounds=5, iterations=1)
    assert ok == N_ORDERS
    benchmark.extra_info["orders_per_round"] = N_ORDERS


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


@pytest.mark.skipif(os.environ.get("XTB_SOAK") != "1", reason="60-second soak: set XTB_SOAK=1")
def test_generator_soak_60s() -> None:
    clock = VirtualClock()
    ex = Exchange(VenueRules(history_per_account=100), clock)
    ex.add_market(MarketSpec(0, "ETH_USDC_PERP", 2, 4))
    gen = MarketDataGenerator([UnderlyingConfig("ETH", 3000.0)],
                              [FeedConfig(ex, 0, "ETH", updates_per_s=5000.0)], seed=3, clock=clock)
    gen.advance(5.0)  # warm-up
    before = _rss_bytes()
    t0 = time.perf_counter()
    for _ in range(60):
        gen.advance(1.0)
    wall = time.perf_counter() - t0
    grown = _rss_bytes() - before
    updates, _ = gen.counts(0)
    print(f"\nsoak: {updates} book updates in 65 virtual s ({updates / 65:.0f}/s), 60 s took {wall:.1f} s wall "
          f"({updates / 65 * 60 / wall:.0f} updates/s sustained), RSS growth {grown / 1024:.0f} KiB")
    assert updates > 0.85 * 5000 * 65  # taker prints are not book updates
    assert grown < 8 * 1024 * 1024
