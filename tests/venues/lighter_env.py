"""Helpers for the Lighter connector tests: a simulator, an account with a real API key, connectors."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from xtb.signing import LighterSigner, generate_api_key
from xtb.sim.cluster import ClusterConfig, SimCluster
from xtb.sim.faults import FaultPlan
from xtb.venues.lighter import LighterConfig, LighterConnector

CHAIN_ID = 304
API_KEY_INDEX = 3
_KEY: tuple[str, str] | None = None


def api_key() -> tuple[str, str]:
    """One generated key per process: the native library keeps one client per (account, api key)."""
    global _KEY
    if _KEY is None:
        _KEY = generate_api_key()
    return _KEY


#: Fast timers so faults resolve within a test's budget.
FAST = {
    "reconcile_interval_s": None,
    "submit_window_s": 0.3,
    "order_timeout_s": 2.0,
    "stale_after_s": 5.0,
    "resync_timeout_s": 2.0,
    "reconnect_backoff_initial_s": 0.05,
    "reconnect_backoff_max_s": 0.2,
    "client_ping_interval_s": 1.0,
    "rest_timeout_s": 3.0,
}


@dataclass
class LighterEnv:
    sim: SimCluster
    account: int
    private_key: str
    connectors: list[LighterConnector] = field(default_factory=list)

    def config(self, **options: Any) -> LighterConfig:
        urls = self.sim.urls()["lighter"]
        opts = {"symbols": ("ETH", "BTC"), **FAST, **options}
        return LighterConfig(rest_url=urls["rest"], ws_url=urls["ws"], chain_id=CHAIN_ID,
                             account_index=self.account, api_key_index=API_KEY_INDEX, **opts)

    async def connector(self, start: bool = True, **options: Any) -> LighterConnector:
        """A connector for the env's account; ring/tracker/limiter/on_burst_end go to the constructor,
        everything else to LighterConfig."""
        ctor = {k: options.pop(k) for k in ("ring", "tracker", "limiter", "on_burst_end") if k in options}
        signer = LighterSigner(self.private_key, chain_id=CHAIN_ID, api_key_index=API_KEY_INDEX,
                               account_index=self.account)
        conn = LighterConnector(self.config(**options), signer, own_signer=True, **ctor)
        self.connectors.append(conn)
        if start:
            await conn.start()
        return conn

    def venue_nonce(self) -> int:
        return self.sim.protocol("lighter").next_nonce(self.account, API_KEY_INDEX)

    def venue_open_orders(self) -> list[Any]:
        return list(self.sim.exchange("lighter").open_orders(self.account))


@contextlib.asynccontextmanager
async def lighter_env(fault_plan: FaultPlan | None = None, **cluster: Any) -> AsyncIterator[LighterEnv]:
    priv, pub = api_key()
    cfg = ClusterConfig(venues=("lighter",), seed=11, fault_plan=fault_plan, **cluster)
    async with SimCluster(cfg) as sim:
        account = sim.add_lighter_account(pub, api_key_index=API_KEY_INDEX)
        env = LighterEnv(sim, account, priv)
        try:
            yield env
        finally:
            for conn in env.connectors:
                await conn.close()


async def wait_for(pred: Callable[[], bool], timeout_s: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)
