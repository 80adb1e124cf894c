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
from .fapi_band import PercentPriceBandChecks

NAME = "binance_usdm"


class TestBinanceConformance(PercentPriceBandChecks, ConnectorConformance):
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

    async def test_usdt_and_usdc_margined_symbols_trade_side_by_side(self, sim: SimCluster, account: Account,
                                                                     harness: Harness) -> None:
        conn = await self.start_connector(sim, account, harness, symbols=["BTCUSDC", "BTCUSDT"],
                                          reconcile_interval_s=None)  # fmt: skip
        try:
            markets = conn.markets()
            assert (markets["BTCUSDC"].quote, markets["BTCUSDT"].quote) == ("USDC", "USDT")
            for sym in ("BTCUSDC", "BTCUSDT"):
                bid, ask = await eventually(lambda s=sym: all(conn.top_of_book(s)) and conn.top_of_book(s),
                                            what=f"a live {sym} book", pump=harness.dispatcher.drain)  # fmt: skip
                m = markets[sym]
                take = OrderRequest(self.next_cid(), sym, Side.BID, max(m.min_size, m.step),
                                    price=ask[0] + 50 * m.tick, tif=TimeInForce.IOC)  # fmt: skip
                assert (await conn.submit(take)).outcome is SubmitOutcome.ACCEPTED
                await eventually(lambda s=sym: self.venue_position(sim, account, s) > 0, timeout_s=5,
                                 what=f"a {sym} position")  # fmt: skip
            # both positions reach the connector (ACCOUNT_UPDATE decoded in the core) and match the venue
            await eventually(lambda: {s for s, p in conn._positions.items() if p.size} == {"BTCUSDC", "BTCUSDT"},
                             timeout_s=10, what="both positions from the user stream",
                             pump=harness.dispatcher.drain)  # fmt: skip
            for sym in ("BTCUSDC", "BTCUSDT"):
                assert (await conn.positions())[sym].size == self.venue_position(sim, account, sym)
            assert {"USDC", "USDT"} <= set(await conn.balances())
        finally:
            await conn.close()

    async def test_mark_price_feed_decoded_in_the_core(self, sim: SimCluster, account: Account,
                                                       harness: Harness) -> None:
        conn = await self.start_connector(sim, account, harness, mark_price=True, trades=True,
                                          reconcile_interval_s=None)  # fmt: skip
        try:
            seen: list[Any] = []
            conn.add_mark_listener(seen.append)
            await eventually(lambda: conn.mark_price(self.symbol) is not None, timeout_s=10,
                             what="a markPriceUpdate from the /market host")  # fmt: skip
            mark = conn.mark_price(self.symbol)
            venue_mark = sim.venues[NAME].exchange.mark_price(self._market(sim, self.symbol).market_id)
            m = conn.markets()[self.symbol]
            # the core's 8-decimal mark against the venue's mark in the market's price units
            assert mark.decimals == 8 and mark.mark_px > 0 and mark.funding_rate is not None
            assert abs(mark.mark_px // 10 ** (8 - m.price_decimals) - venue_mark) < venue_mark // 100
            assert mark.next_funding_ms > mark.event_ms > 0
            await eventually(lambda: seen, timeout_s=5, what="the mark listener called")
            assert {x.symbol for x in seen} <= {self.symbol, "ETHUSDC"}
            # the same frames are MarkPrice ring events (what strategies' on_mark and the journal see): the mark
            # in the book's price units, the rate in 1e-8 (the simulator's ppm x 100), the book's own id
            await eventually(lambda: [e for e in harness.recorder.of("mark") if e.venue == NAME], timeout_s=10,
                             what="MarkPrice events in the ring", pump=harness.dispatcher.drain)  # fmt: skip
            ev = [e for e in harness.recorder.of("mark") if e.book_id == conn._book_ids[self.symbol]][-1]
            assert abs(ev.mark_px - venue_mark) < venue_mark // 100 and ev.index_px is not None
            same = [x for x in seen if x.symbol == self.symbol and x.event_ms == ev.venue_ms]
            assert same and ev.funding_rate == same[-1].funding_rate and ev.funding_rate % 100 == 0
            assert ev.next_funding_ms == same[-1].next_funding_ms
            assert ev.next_funding_ms > ev.venue_ms > 0 and ev.recv_ns > 0
            # aggTrade still reaches the ring over the same /market session
            await eventually(lambda: [t for t in harness.recorder.of("trade") if t.venue == NAME], timeout_s=10,
                             what="aggTrade prints beside the marks", pump=harness.dispatcher.drain)  # fmt: skip
            assert conn.stats.feed_errors == 0
        finally:
            await conn.close()

    async def test_hedge_mode_account_is_refused_at_start(self, sim: SimCluster, account: Account,
                                                          harness: Harness) -> None:
        sim.protocol("binance_usdm")._dual_side.add(account.account)  # switched to hedge mode on the venue
        conn = self.make_connector(sim, account, harness, reconcile_interval_s=None)
        try:
            with pytest.raises(RuntimeError, match="hedge mode"):
                await conn.start()
            # never switched behind the operator's back
            assert sim.protocol("binance_usdm").position_mode(account.account) == {"dualSidePosition": True}
        finally:
            await conn.close()
        sim.protocol("binance_usdm")._dual_side.discard(account.account)
        conn = await self.start_connector(sim, account, Harness.create(), reconcile_interval_s=None)
        try:
            assert conn.position_mode == "one-way"
        finally:
            await conn.close()

    async def test_income_reports_funding_fees(self, sim: SimCluster, account: Account, harness: Harness) -> None:
        conn = await self.start_connector(sim, account, harness, reconcile_interval_s=None)
        try:
            req = await self.taking_order(conn, harness)
            assert (await conn.submit(req)).outcome is SubmitOutcome.ACCEPTED
            await eventually(lambda: self.venue_position(sim, account, self.symbol) != 0, timeout_s=5,
                             what="a position")  # fmt: skip
            ex = sim.venues[NAME].exchange
            ex.settle_funding(self._market(sim, self.symbol).market_id, rate_ppm=100)
            rows = await conn.income(self.symbol, "FUNDING_FEE")
            assert len(rows) == 1 and rows[0]["asset"] == "USDC" and float(rows[0]["income"]) < 0
            kinds = {r["incomeType"] for r in await conn.income()}
            assert {"FUNDING_FEE", "COMMISSION"} <= kinds
        finally:
            await conn.close()

    async def test_429_holds_every_request_and_never_reaches_a_ban(self, sim: SimCluster, account: Account,
                                                                   harness: Harness) -> None:
        from xtb.sim.binance.server import Limits

        server = sim.venues[NAME].server
        # a 3 s weight window on both sides stands for the venue's minute (the test would take minutes)
        conn = await self.start_connector(sim, account, harness, reconcile_interval_s=None, weight_window_s=3.0)
        try:
            # the venue's budget turns out far smaller than the published one: 60 weight per window, and a
            # second 429 within a minute is a ban
            server.limiter.limits = Limits(weight_1m=60, weight_window_s=3.0, ban_after_429s=1, ban_s=60)
            server.limiter._weight.clear()
            sent_at: list[float] = []
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                await conn.http.positions()  # weight 5 each
                sent_at.append(time.monotonic())
            got = dict(server.error_statuses)
            assert got.get(429, 0) >= 1, got  # the venue did say "too many"
            assert got.get(418, 0) == 0, got  # and the connector never went on into a ban
            assert conn.gate.rate_limited >= 1 and conn.gate.bans == 0
            # after the 429 the connector learnt the budget and holds below it: one 429, reads go on
            assert got[429] == 1 and conn.gate.weight_limit <= 60 and len(sent_at) > 20
        finally:
            await conn.close()

    async def test_a_ban_stops_every_request_until_it_ends(self, sim: SimCluster, account: Account,
                                                           harness: Harness) -> None:
        server = sim.venues[NAME].server
        conn = await self.start_connector(sim, account, harness, reconcile_interval_s=None)
        try:
            server.limiter._banned_until["127.0.0.1"] = time.monotonic() + 3  # the venue bans our IP
            with pytest.raises(Exception, match=r"418|banned"):
                await conn.http.positions()
            before = sum(server.requests.values())
            for _ in range(5):
                with pytest.raises(Banned):
                    await conn.http.positions()
            assert sum(server.requests.values()) == before  # nothing reached the venue while banned
            assert conn.gate.bans == 1
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
    assert (btc.extra["min_price"], btc.extra["max_price"], btc.extra["max_size"]) == (1, 10_000_000, 100_000)
    assert "market_max_size" not in btc.extra and "percent_up_ppm" not in pepe.extra
    more = [{"filterType": "MARKET_LOT_SIZE", "stepSize": "0.001", "minQty": "0.001", "maxQty": "12"},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500"}]
    btc_row = INFO["symbols"][0]
    band = parse_markets({"symbols": [{**btc_row, "filters": [*btc_row["filters"], *more]}]})["BTCUSDC"]
    assert (band.extra["market_max_size"], band.extra["percent_up_ppm"], band.extra["percent_down_ppm"]) == (
        12_000, 1_050_000, 950_000)
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
    # the venue's filters, checked before anything is signed or sent
    with pytest.raises(ValueError, match="maximum quantity"):
        conn.prepare_submit([OrderRequest(80, "BTCUSDC", Side.ASK, 100_001, price=1_000_000)])
    with pytest.raises(ValueError, match="price filter"):
        conn.prepare_submit([OrderRequest(81, "BTCUSDC", Side.ASK, 2, price=10_000_001)])
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
