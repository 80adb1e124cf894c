"""Backpack connector: the shared conformance suite against the Backpack simulator, plus Backpack-only
checks (market metadata parsing, order params, keys)."""

from __future__ import annotations

from typing import Any

from xtb.sim.cluster import SimCluster
from xtb.venues.backpack import BackpackConfig, BackpackConnector

from .conformance import Account, ConnectorConformance, Harness


class TestBackpackConformance(ConnectorConformance):
    venue = "backpack"
    symbol = "SOL_USDC_PERP"
    ws_conn = "backpack-ws-*"
    rest_conn = "backpack-rest"

    async def open_account(self, sim: SimCluster) -> Account:
        key, secret, account = sim.add_backpack_account(collateral_usdc=100_000)
        assert secret is not None
        return Account(key, secret, account)

    def make_connector(self, sim: SimCluster, account: Account, harness: Harness, **options: Any) -> Any:
        urls = sim.urls()["backpack"]
        cfg = BackpackConfig(rest_url=urls["rest"], ws_url=urls["ws"], symbols=(self.symbol, "BTC_USDC_PERP"),
                             backoff_initial_s=0.05, backoff_max_s=0.5, snapshot_retry_s=0.05,
                             reconcile_interval_s=options.pop("reconcile_interval_s", 5.0), **options)
        return BackpackConnector(cfg, account.api_key, account.secret, ring=harness.ring,
                                 tracker=harness.tracker, on_burst_end=harness.dispatcher.drain)

    def _market(self, sim: SimCluster, symbol: str) -> Any:
        return sim.venues["backpack"].exchange.market_by_symbol(symbol)

    def venue_top(self, sim: SimCluster, symbol: str) -> tuple[Any, Any]:
        snap = sim.venues["backpack"].exchange.book_snapshot(self._market(sim, symbol).market_id, 1)
        bid = (snap.bids[0].price, snap.bids[0].size) if snap.bids else None
        ask = (snap.asks[0].price, snap.asks[0].size) if snap.asks else None
        return bid, ask

    def venue_open_client_ids(self, sim: SimCluster, account: Account, symbol: str) -> set[int]:
        ex = sim.venues["backpack"].exchange
        return {o.client_id for o in ex.open_orders(account.account, self._market(sim, symbol).market_id)}

    def venue_position(self, sim: SimCluster, account: Account, symbol: str) -> int:
        ex = sim.venues["backpack"].exchange
        return int(ex.position(account.account, self._market(sim, symbol).market_id).size)

    def rate_limited_count(self, connector: Any) -> int:
        return int(connector.http.rest.stats.rate_limited + connector.http.orders.stats.rate_limited)
