"""Binance USD-M connector: the shared conformance suite against the Binance simulator dialect, plus
Binance-only checks (exchangeInfo parsing, settings at start, clock re-sync on -1021, the 418 ban gate,
listenKey renewal, keys)."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from xtb.keys import KeyFileError
from xtb.model.types import OrderRequest, Side, SubmitOutcome, TimeInForce
from xtb.sim.cluster import SimCluster
from xtb.venues.binance_usdm.config import BinanceConfig
from xtb.venues.binance_usdm.connector import BinanceConnector
from xtb.venues.binance_usdm.keys import load_binance_keys
from xtb.venues.binance_usdm.markets import MarketDataError, parse_markets
from xtb.venues.binance_usdm.rest_api import Banned, UsageGate

from .conformance import Account, ConnectorConformance, Harness, eventually

NAME = "binance_usdm"


class TestBinanceConformance(ConnectorConformance):
    venue = NAME
    symbol = "BTCUSDC"
    ws_conn = "binance_usdm-ws-*"
    rest_conn = "binance_usdm-rest"

    async def open_account(self, sim: SimCluster) -> Account:
        key, secret, account = sim.add_binance_account(100_000)
        return Account(key, secret, account)

    def make_connector(self, sim: SimCluster, account: Account, harness: Harness, **options: Any) -> Any:
        server = sim.venues[NAME].server
        urls = server.urls  # type: ignore[union-attr]
        cfg = BinanceConfig.from_options({
            "rest_url": urls["rest"], "ws_public_url": urls["public"], "ws_market_url": urls["market"],
            "ws_private_url": urls["private"], "symbols": [self.symbol, "ETHUSDC"],
            "backoff_initial_s": 0.05, "backoff_max_s": 0.5, "snapshot_retry_s": 0.05,
            "reconcile_interval_s": options.pop("reconcile_interval_s", 5.0), **options,
        })  # fmt: skip
        return BinanceConnector(cfg, account.api_key, account.secret, ring=harness.ring, tracker=harness.tracker,
                                on_burst_end=harness.dispatcher.drain)

    def _market(self, sim: SimCluster, symbol: str) -> Any:
        return sim.venues[NAME].exchange.market_by_symbol(symbol)

    def venue_top(self, sim: SimCluster, symbol: str) -> tuple[Any, Any]:
        snap = sim.venues[NAME].exchange.book_snapshot(self._market(sim, symbol).market_id, 1)
        bid = (snap.bids[0].price, snap.bids[0].size) if snap.bids else None
        ask = (snap.asks[0].price, snap.asks[0].size) if snap.asks else None
        return bid, ask

    def venue_open_client_ids(self, sim: SimCluster, account: Account, symbol: str) -> set[int]:
        ex = sim.venues[NAME].exchange
        orders = ex.open_orders(account.account, self._market(sim, symbol).market_id)
        return {int(sim.protocol("binance_usdm").client_text(account.account, o.client_id)) for o in orders}

    def venue_position(self, sim: SimCluster, account: Account, symbol: str) -> int:
        ex = sim.venues[NAME].exchange
        return int(ex.position(account.account, self._market(sim, symbol).market_id).size)

    def rate_limited_count(self, connector: Any) -> int:
        return int(connector.http.rest.stats.rate_limited + connector.http.orders.stats.rate_limited)

    def order_transport(self, connector: Any) -> Any:
        return connector._order_transport

    async def taking_order(self, conn: Any, harness: Harness, side: Side = Side.BID) -> OrderRequest:
        """As the suite's, 50 ticks through the touch instead of 5: BTCUSDC's 0.1 tick is 0.01 bp of the
        price, so the moving book can outrun 5 ticks between reading the top and the order arriving."""
        bid, ask = await self.top(conn, harness)
        m = conn.markets()[self.symbol]
        px = ask[0] + 50 * m.tick if side is Side.BID else bid[0] - 50 * m.tick
        return OrderRequest(self.next_cid(), self.symbol, side, max(m.min_size, m.step), price=px,
                            tif=TimeInForce.IOC)

    # ---- Binance-only, against the simulator ---------------------------------------------------
    async def test_clock_offset_resynced_after_minus_1021(self, sim: SimCluster, account: Account,
                                                          harness: Harness) -> None:
        conn = await self.start_connector(sim, account, harness, reconcile_interval_s=None)
        try:
            server = sim.venues[NAME].server
            server.server_time_offset_ms = 20_000  # the venue's clock jumps 20 s ahead of ours
            req = await self.resting_order(conn, harness)
            res = await conn.submit(req)
            assert res.outcome is SubmitOutcome.REJECTED and "-1021" in (res.reason or "")
            assert conn.http.timestamp_rejections == 1
            assert abs(conn._signer.time_offset_ms - 20_000) < 1_000  # re-synced, not retried
            assert self.venue_open_client_ids(sim, account, self.symbol) == set()
            again = await self.resting_order(conn, harness)
            assert (await conn.submit(again)).outcome is SubmitOutcome.ACCEPTED
        finally:
            await conn.close()

    async def test_settings_applied_at_start_and_verified(self, sim: SimCluster, account: Account,
                                                          harness: Harness) -> None:
        conn = await self.start_connector(sim, account, harness, leverage={"BTCUSDC": 7}, margin_type="ISOLATED")
        try:
            assert conn.settings["BTCUSDC"] == {"leverage": 7, "margin_type": "ISOLATED"}
            assert conn.settings["ETHUSDC"] == {"margin_type": "ISOLATED"}
            assert sim.protocol("binance_usdm").leverage_of(account.account, "BTCUSDC") == 7
            assert sim.protocol("binance_usdm").margin_type_of(account.account, "ETHUSDC") == "ISOLATED"
        finally:
            await conn.close()
        # a second start finds the margin type already set (-4046) and accepts it
        conn = await self.start_connector(sim, account, Harness.create(), margin_type="ISOLATED")
        await conn.close()

    async def test_trades_from_the_market_host_reach_the_ring(self, sim: SimCluster, account: Account,
                                                              harness: Harness) -> None:
        conn = await self.start_connector(sim, account, harness, trades=True, reconcile_interval_s=None)
        try:
            await eventually(lambda: [t for t in harness.recorder.of("trade") if t.venue == NAME], timeout_s=10,
                             what="aggTrade prints decoded in the core", pump=harness.dispatcher.drain)  # fmt: skip
        finally:
            await conn.close()

    async def test_user_stream_survives_listen_key_expiry(self, sim: SimCluster, account: Account,
                                                          harness: Harness) -> None:
        conn = await self.start_connector(sim, account, harness, reconcile_interval_s=None)
        try:
            first = conn._listen_key
            sim.venues[NAME].server.expire_listen_keys()
            await eventually(lambda: conn._listen_key != first and conn.user_ws.connected.is_set(), timeout_s=10,
                             what="a new listenKey and a reconnected user stream")  # fmt: skip
            req = await self.resting_order(conn, harness)
            assert (await conn.submit(req)).outcome is SubmitOutcome.ACCEPTED
            sim.venues[NAME].exchange.cancel_order(account.account, self._market(sim, self.symbol).market_id,
                                                   client_id=sim.protocol("binance_usdm")._cid_in[account.account][str(req.client_id)])
            await eventually(lambda: self.state(harness, req.client_id) == "cancelled", timeout_s=5,
                             what="the cancel over the new stream", pump=harness.dispatcher.drain)  # fmt: skip
        finally:
            await conn.close()


class TestBinanceWsApiConformance(TestBinanceConformance):
    """The same suite with orders over the WebSocket API (`order.place` / `order.cancel`)."""

    def make_connector(self, sim: SimCluster, account: Account, harness: Harness, **options: Any) -> Any:
        return super().make_connector(sim, account, harness, order_entry="ws_api",
                                      ws_api_url=sim.venues[NAME].server.urls["ws_api"], **options)  # type: ignore[union-attr]

    def order_transport(self, connector: Any) -> Any:
        return None  # orders do not travel over REST

    async def test_orders_go_over_the_ws_api(self, sim: SimCluster, account: Account, connector: Any,
                                             harness: Harness) -> None:
        req = await self.resting_order(connector, harness)
        assert (await connector.submit(req)).outcome is SubmitOutcome.ACCEPTED
        assert (await connector.cancel(self.symbol, req.client_id)).outcome is SubmitOutcome.ACCEPTED
        assert connector.venue_stats().extra["ws_api_requests"] >= 2
        assert sim.venues[NAME].server.requests.get("/fapi/v1/order", 0) == 0  # type: ignore[union-attr]


# ---- Binance-only checks (no simulator) ------------------------------------------------------------

INFO = {"symbols": [
    {"symbol": "BTCUSDC", "contractType": "PERPETUAL", "status": "TRADING", "marginAsset": "USDC",
     "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.10", "minPrice": "0.1", "maxPrice": "1000000"},
                 {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.002", "maxQty": "100"},
                 {"filterType": "MIN_NOTIONAL", "notional": "5"}]},
    {"symbol": "1000PEPEUSDT", "contractType": "PERPETUAL", "status": "TRADING", "marginAsset": "USDT",
     "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.0000001"},
                 {"filterType": "LOT_SIZE", "stepSize": "1", "minQty": "1"}]},
    {"symbol": "ETHUSDT_250328", "contractType": "CURRENT_QUARTER", "status": "TRADING", "filters": []},
]}  # fmt: skip


def test_exchange_info_to_integer_markets() -> None:
    markets = parse_markets(INFO)
    assert set(markets) == {"BTCUSDC", "1000PEPEUSDT"}
    btc = markets["BTCUSDC"]
    assert (btc.price_decimals, btc.tick, btc.size_decimals, btc.step, btc.min_size) == (1, 1, 3, 1, 2)
    assert btc.min_notional == 5 * 10**4 and btc.quote == "USDC" and btc.base == "BTC"
    pepe = markets["1000PEPEUSDT"]
    assert (pepe.base, pepe.multiplier, pepe.price_decimals, pepe.quote) == ("PEPE", 1000, 7, "USDT")
    with pytest.raises(MarketDataError, match="DOGEUSDT"):
        parse_markets(INFO, ("DOGEUSDT",))
    with pytest.raises(MarketDataError, match="ETHUSDT_250328"):
        parse_markets(INFO, ("ETHUSDT_250328",))


def test_config_refuses_bad_options_by_name() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        BinanceConfig.from_options({"recv_window": 10})
    with pytest.raises(ValueError, match="max_batch"):
        BinanceConfig.from_options({"max_batch": 6})
    with pytest.raises(ValueError, match="leverage"):
        BinanceConfig.from_options({"leverage": {"BTCUSDC": 200}})
    with pytest.raises(ValueError, match="profile"):
        BinanceConfig.from_options({"profile": "devnet"})
    test = BinanceConfig.from_options({"profile": "testnet"})
    assert test.rest_url == "https://demo-fapi.binance.com" and test.ws_private_url.endswith("/private")
    main = BinanceConfig.from_options({})
    assert main.rest_url == "https://fapi.binance.com" and main.ws_public_url == "wss://fstream.binance.com/public"


def test_usage_gate_blocks_pools_and_holds_everything_while_banned() -> None:
    from xtb import _core
    from xtb.venues.binance_usdm import ratelimits

    limiter = _core.RateLimiter.from_config(ratelimits.binance_usdm())
    gate = UsageGate(limiter, 2400, 300, 1200, headroom=100, ban_default_s=120)
    gate.on_response("/fapi/v1/depth", 200, {"X-MBX-USED-WEIGHT-1M": "2350"})
    assert limiter.would_wait("public", 1) > 0  # the venue says the minute is spent
    assert limiter.would_wait("order", 1) == 0
    gate.on_response("/fapi/v1/order", 200, {"X-MBX-ORDER-COUNT-10S": "300"})
    assert limiter.would_wait("order", 1) > 0
    gate.check("GET", "/fapi/v1/time")  # no ban yet
    gate.on_response("/fapi/v1/time", 418, {"Retry-After": "30"})
    with pytest.raises(Banned, match="418"):
        gate.check("GET", "/fapi/v1/time")
    assert gate.banned_until - time.monotonic() > 25 and gate.bans == 1


def test_order_params_and_hot_path_agree() -> None:
    conn = BinanceConnector(BinanceConfig.from_options({"symbols": ["BTCUSDC"]}), "key", "secret")
    conn.load_markets(INFO)
    req = OrderRequest(77, "BTCUSDC", Side.ASK, 2, price=1_000_005, post_only=True)
    hot = conn.prepare_submit([req]).body.decode()
    params = conn._order_params(req)
    assert params == {"symbol": "BTCUSDC", "side": "SELL", "type": "LIMIT", "timeInForce": "GTX",
                      "quantity": "0.002", "price": "100000.5", "newClientOrderId": "77"}  # fmt: skip
    assert hot.startswith("symbol=BTCUSDC&side=SELL&type=LIMIT&timeInForce=GTX&quantity=0.002&price=100000.5"
                          "&newClientOrderId=77&recvWindow=5000&timestamp=")  # fmt: skip
    with pytest.raises(ValueError, match="tick"):
        conn.prepare_submit([OrderRequest(78, "BTCUSDC", Side.ASK, 2, price=0)])
    with pytest.raises(ValueError, match="unknown symbol"):
        conn.prepare_submit([OrderRequest(79, "DOGEUSDT", Side.ASK, 2, price=10)])
    assert "secret" not in repr(conn)


def test_keys_from_file_or_environment(tmp_path: Any) -> None:
    f = tmp_path / "Binance_key.txt"
    f.write_text("api key: AK\napi secret: SK\n")
    os.chmod(f, 0o600)
    keys = load_binance_keys(f)
    assert keys.api_key.reveal() == "AK" and keys.api_secret.reveal() == "SK" and "SK" not in repr(keys)
    os.chmod(f, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_binance_keys(f)
    env = {"BINANCE_API_KEY": "A", "BINANCE_API_SECRET": "S"}
    assert load_binance_keys(None, env).api_secret.reveal() == "S"
    with pytest.raises(KeyFileError, match="secret missing"):
        load_binance_keys(None, {"BINANCE_API_KEY": "A"})
