"""Lighter connector against the simulator: markets, books and resync, orders over WS and REST, nonce
order under concurrency, batches, reconciliation under faults, restart with open orders, secrets."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from xtb.engine.gateway import OrderGateway
from xtb.model.types import OrderKind, OrderRequest, Side, SubmitOutcome, TimeInForce
from xtb.signing import LighterSigner
from xtb.sim.cluster import SimCluster
from xtb.sim.faults import FaultKind, FaultPlan, FaultRule
from xtb.venues.lighter import LighterConfig, LighterConnector

from .conformance import Account, ConnectorConformance, Harness
from .lighter_env import API_KEY_INDEX, CHAIN_ID, FAST, api_key, lighter_env, wait_for

pytestmark = pytest.mark.timeout(60)


def bid_below(env_conn, symbol: str = "ETH", ticks: int = 500) -> int:  # type: ignore[no-untyped-def]
    bid, _ = env_conn.top_of_book(symbol)
    assert bid is not None
    return int(bid[0] - ticks)


def order(cid: int, px: int, size: int = 1000, **kw) -> OrderRequest:  # type: ignore[no-untyped-def]
    return OrderRequest(cid, kw.pop("symbol", "ETH"), kw.pop("side", Side.BID), size, price=px, **kw)


# ------------------------------------------------------------------ the shared conformance suite


class TestLighterConformance(ConnectorConformance):
    """Transactions over the WebSocket (the default); the REST path runs the suite again below."""

    venue = "lighter"
    symbol = "ETH"
    ws_conn = "lighter-ws-*"
    rest_conn = "lighter-rest"
    ws_tx = True

    async def open_account(self, sim: SimCluster) -> Account:
        priv, pub = api_key()
        account = sim.add_lighter_account(pub, api_key_index=API_KEY_INDEX)
        return Account(pub, priv, account)

    def make_connector(self, sim: SimCluster, account: Account, harness: Harness, **options: Any) -> Any:
        urls = sim.urls()["lighter"]
        opts = {**FAST, "symbols": (self.symbol, "BTC"), "ws_tx": self.ws_tx, "reconcile_interval_s": 5.0}
        opts.update(options)
        cfg = LighterConfig(rest_url=urls["rest"], ws_url=urls["ws"], chain_id=CHAIN_ID,
                            account_index=account.account, api_key_index=API_KEY_INDEX, **opts)
        signer = LighterSigner(account.secret, chain_id=CHAIN_ID, api_key_index=API_KEY_INDEX,
                               account_index=account.account)
        return LighterConnector(cfg, signer, own_signer=True, ring=harness.ring, tracker=harness.tracker,
                                on_burst_end=harness.dispatcher.drain)

    def venue_top(self, sim: SimCluster, symbol: str) -> tuple[Any, Any]:
        market = 0 if symbol == "ETH" else 1
        snap = sim.exchange("lighter").book_snapshot(market, 1)
        bid = (snap.bids[0].price, snap.bids[0].size) if snap.bids else None
        ask = (snap.asks[0].price, snap.asks[0].size) if snap.asks else None
        return bid, ask

    def venue_open_client_ids(self, sim: SimCluster, account: Account, symbol: str) -> set[int]:
        market = 0 if symbol == "ETH" else 1
        return {o.client_id for o in sim.exchange("lighter").open_orders(account.account, market)}

    def venue_position(self, sim: SimCluster, account: Account, symbol: str) -> int:
        return int(sim.exchange("lighter").position(account.account, 0 if symbol == "ETH" else 1).size)

    def rate_limited_count(self, connector: Any) -> int:
        return int(connector.api.rest.stats.rate_limited + connector.api.tx_rest.stats.rate_limited)

    def order_transport(self, connector: Any) -> Any:
        return None if self.ws_tx else connector._tx_transport

    async def taking_order(self, conn: Any, harness: Harness, side: Side = Side.BID) -> OrderRequest:
        # ETH's tick is 0.01 on ~3500: the base's 5 ticks through the touch is 0.0003 % and a moving
        # market can leave the IOC unfilled; cross by 0.2 % instead.
        req = await super().taking_order(conn, harness, side)
        bid, ask = await self.top(conn, harness)
        px = ask[0] * 1002 // 1000 if side is Side.BID else bid[0] * 998 // 1000
        return OrderRequest(req.client_id, req.symbol, side, req.size, price=px, tif=TimeInForce.IOC)

    async def test_ambiguous_submit_is_unresolved_then_settled_by_query(
        self, sim: SimCluster, account: Account, harness: Harness
    ) -> None:
        if not self.ws_tx:
            await super().test_ambiguous_submit_is_unresolved_then_settled_by_query(sim, account, harness)
            return
        # Over the WebSocket the simulator's accept-then-timeout fault does not apply (it is a REST fault):
        # the same ambiguity comes from a socket that stops talking after the venue applied the order.
        conn = await self.start_connector(sim, account, harness, order_timeout_s=0.5, reconcile_interval_s=None,
                                          stale_after_s=30.0, client_ping_interval_s=None)
        try:
            req = await self.resting_order(conn, harness)
            sim.stall_sockets("lighter", 1.5)
            res = await conn.submit(req)
            assert res.outcome is SubmitOutcome.UNRESOLVED
            assert self.state(harness, req.client_id) != "rejected"
            assert req.client_id in self.venue_open_client_ids(sim, account, self.symbol)
            await conn.reconcile()
            harness.dispatcher.drain()
            o = harness.tracker.get(req.client_id, self.venue)
            assert o.state == "open" and o.order_id
        finally:
            await conn.close()


class TestLighterConformanceRestTx(TestLighterConformance):
    """The same suite with every transaction over REST (sendTx / sendTxBatch)."""

    ws_tx = False


# ------------------------------------------------------------------ markets and books


async def test_markets_scales_and_symbols() -> None:
    async with lighter_env() as env:
        conn = await env.connector()
        m = conn.markets()
        assert set(m) >= {"ETH", "BTC", "SOL"}
        eth, btc = m["ETH"], m["BTC"]
        assert (eth.market_id, eth.price_decimals, eth.size_decimals, eth.base) == (0, 2, 4, "ETH")
        assert (btc.market_id, btc.price_decimals, btc.size_decimals) == (1, 1, 5)
        assert eth.quote == "USDC" and eth.min_size >= 1
        with pytest.raises(KeyError, match="SOL"):
            conn.book("SOL")  # not subscribed


async def test_unknown_symbol_is_refused_by_name() -> None:
    async with lighter_env() as env:
        with pytest.raises(ValueError, match="DOGE"):
            await env.connector(symbols=("ETH", "DOGE"))


async def test_book_snapshot_matches_the_venue() -> None:
    async with lighter_env(updates_per_s=20.0) as env:
        conn = await env.connector()
        await env.sim.stop_generator()
        await asyncio.sleep(0.3)  # last deltas flushed
        bid, ask = env.sim.exchange("lighter").best_bid_ask(0)
        await wait_for(lambda: conn.top_of_book("ETH") and conn.top_of_book("ETH")[0] is not None
                       and conn.top_of_book("ETH")[0][0] == bid, what="book converges")
        assert conn.top_of_book("ETH")[1][0] == ask


async def test_sequence_gap_resyncs_and_never_serves_stale() -> None:
    plan = FaultPlan([FaultRule(FaultKind.SKIP_SEQ, every=15, conn="lighter-ws-*", max_count=2)])
    async with lighter_env(plan, updates_per_s=60.0) as env:
        conn = await env.connector(symbols=("ETH",))
        seen_stale_top: list[object] = []
        book = conn.book("ETH")

        def check() -> None:  # after every burst: a stale or unsynced book must show no top of book
            if book.state not in ("live", "awaiting_first") and book.best_bid() is not None:
                seen_stale_top.append(book.state)

        conn._user_burst_end = check
        await wait_for(lambda: conn.stats["resyncs"] >= 1, 10, "a resync after a gap")
        await wait_for(lambda: book.state == "live", 5, "book live again")
        assert not seen_stale_top


async def test_reconnect_marks_books_stale_then_resubscribes_and_rereads_nonce() -> None:
    async with lighter_env() as env:
        conn = await env.connector()
        r = await conn.submit(order(1, bid_below(conn), post_only=True))
        assert r.outcome is SubmitOutcome.ACCEPTED
        resyncs = conn.nonces.resyncs
        assert env.sim.drop_sockets("lighter") >= 2
        await wait_for(lambda: conn.book("ETH").best_bid() is None, 2, "book cleared on disconnect")
        await wait_for(lambda: conn.book("ETH").state in ("awaiting_first", "live"), 5, "fresh snapshot")
        r2 = await conn.submit(order(2, bid_below(conn), post_only=True))
        assert r2.outcome is SubmitOutcome.ACCEPTED
        assert conn.nonces.resyncs > resyncs  # nonce re-read from the venue after the reconnect
        assert {o.client_id for o in conn.open_orders()} == {1, 2}


# ------------------------------------------------------------------ orders


async def test_limit_post_only_ack_stream_and_cancel() -> None:
    async with lighter_env() as env:
        conn = await env.connector()
        px = bid_below(conn)
        res = await conn.submit(order(10, px, post_only=True))
        assert res.outcome is SubmitOutcome.ACCEPTED
        await wait_for(lambda: conn.tracker.get(10, "lighter").order_id is not None, what="stream order id")
        assert [o.client_id for o in env.venue_open_orders()] == [10]
        assert env.venue_open_orders()[0].price == px
        res = await conn.cancel("ETH", 10)
        assert res.outcome is SubmitOutcome.ACCEPTED
        assert conn.tracker.get(10, "lighter").state == "cancelled"
        assert env.venue_open_orders() == []


async def test_post_only_that_would_cross_does_not_rest() -> None:
    async with lighter_env() as env:
        conn = await env.connector()
        _, ask = conn.top_of_book("ETH")
        await conn.submit(order(11, ask[0] + 100, post_only=True))
        await wait_for(lambda: conn.tracker.get(11, "lighter").is_terminal, what="post-only cancelled")
        assert conn.tracker.get(11, "lighter").filled == 0
        assert env.venue_open_orders() == []


async def test_market_order_with_worst_price_fills_and_position_follows() -> None:
    async with lighter_env() as env:
        conn = await env.connector()
        res = await conn.submit(OrderRequest(20, "ETH", Side.BID, 500, kind=OrderKind.MARKET))
        assert res.outcome is SubmitOutcome.ACCEPTED
        await wait_for(lambda: conn.tracker.get(20, "lighter").state == "filled", what="market order filled")
        positions = await conn.positions()
        assert positions["ETH"].size == 500 and positions["ETH"].source == "rest"
        # reduce-only IOC sell closes it
        _, _ = conn.top_of_book("ETH")
        bid, _ = conn.top_of_book("ETH")
        await conn.submit(OrderRequest(21, "ETH", Side.ASK, 500, price=bid[0] - 2000, tif=TimeInForce.IOC,
                                       reduce_only=True))
        await wait_for(lambda: conn.tracker.get(21, "lighter").state == "filled", what="reduce-only filled")
        assert "ETH" not in await conn.positions()


async def test_invalid_requests_are_rejected_without_reaching_the_venue() -> None:
    async with lighter_env() as env:
        conn = await env.connector()
        nonce = env.venue_nonce()
        with pytest.raises(ValueError, match="tif"):
            conn.to_signer_order(order(30, 100, tif=TimeInForce.FOK))
        with pytest.raises(ValueError, match="client_id"):
            conn.to_signer_order(order(0, 100))
        with pytest.raises(ValueError, match="price"):
            conn.to_signer_order(OrderRequest(31, "ETH", Side.BID, 10))
        with pytest.raises(ValueError, match="tif"):
            await conn.submit(order(32, 100, tif=TimeInForce.FOK))
        assert conn.tracker.get(32, "lighter") is None  # refused before anything was tracked
        # a venue refusal (duplicate client order index, 21728) is REJECTED and does not use a nonce
        px = bid_below(conn)
        assert (await conn.submit(order(33, px, post_only=True))).outcome is SubmitOutcome.ACCEPTED
        # a second connector with its own tracker (the first one's refuses a reused id before sending)
        other = await env.connector(unknown_order_policy="ignore")
        dup = await other.submit(order(33, px - 10, post_only=True))
        assert dup.outcome is SubmitOutcome.REJECTED and "21728" in (dup.reason or "")
        assert other.tracker.get(33, "lighter").state == "rejected"
        assert env.venue_nonce() == nonce + 1


async def test_cancel_all_one_market() -> None:
    async with lighter_env() as env:
        conn = await env.connector()
        px = bid_below(conn)
        btc_bid, _ = conn.top_of_book("BTC")
        await conn.submit_batch([order(40, px, post_only=True), order(41, px - 10, post_only=True),
                                 order(42, btc_bid[0] - 500, symbol="BTC", post_only=True)])
        await conn.cancel_all("ETH")
        await wait_for(lambda: {o.client_id for o in conn.open_orders()} == {42}, what="ETH orders cancelled")
        assert [o.client_id for o in env.venue_open_orders()] == [42]


# ------------------------------------------------------------------ transport, nonces, batches


async def test_ws_submit_and_rest_fallback_when_the_tx_socket_is_down() -> None:
    async with lighter_env() as env:
        conn = await env.connector()
        px = bid_below(conn)
        assert (await conn.submit(order(50, px, post_only=True))).outcome is SubmitOutcome.ACCEPTED
        assert conn.stats["ws_tx"] == 1 and conn.stats["rest_tx"] == 0
        assert conn.tx_socket is not None
        await conn.tx_socket.stop()
        assert (await conn.submit(order(51, px, post_only=True))).outcome is SubmitOutcome.ACCEPTED
        assert conn.stats["rest_tx"] == 1
        rest_only = await env.connector(ws_tx=False)
        assert (await rest_only.submit(order(52, px, post_only=True))).outcome is SubmitOutcome.ACCEPTED
        assert rest_only.tx_socket is None and rest_only.stats["rest_tx"] == 1
        await wait_for(lambda: len(env.venue_open_orders()) == 3, what="three resting orders")


@pytest.mark.parametrize("ws_tx", [True, False])
async def test_concurrent_submits_reach_the_venue_in_nonce_order(ws_tx: bool) -> None:
    async with lighter_env() as env:
        conn = await env.connector(ws_tx=ws_tx)
        start = env.venue_nonce()
        eth, btc = bid_below(conn, ticks=2000), bid_below(conn, "BTC", ticks=2000)
        reqs = [order(100 + i, eth - i, post_only=True) for i in range(15)]
        reqs += [order(200 + i, btc - i, symbol="BTC", post_only=True) for i in range(15)]
        results = await asyncio.gather(*(conn.submit(r) for r in reqs))
        assert all(r.outcome is SubmitOutcome.ACCEPTED for r in results), [r for r in results if r.reason]
        assert env.venue_nonce() == start + 30  # a gap-free run: no nonce was refused or skipped
        assert conn.stats["nonce_retries"] == 0
        await wait_for(lambda: len(env.venue_open_orders()) == 30, what="30 resting orders")


async def test_a_rejection_inside_a_pipeline_does_not_lose_later_orders() -> None:
    # The venue caps resting orders at 16 per market (21718): 20 concurrent orders on one market give
    # 4 venue refusals in the middle of the pipeline; every later tx already on the wire then meets
    # `invalid nonce`, is re-signed with a fresh nonce and goes through.
    async with lighter_env() as env:
        conn = await env.connector()
        start = env.venue_nonce()
        px = bid_below(conn, ticks=2000)
        results = await asyncio.gather(*(conn.submit(order(100 + i, px - i, post_only=True)) for i in range(20)))
        outcomes = [r.outcome for r in results]
        assert outcomes.count(SubmitOutcome.ACCEPTED) == 16
        refused = [r for r in results if r.outcome is SubmitOutcome.REJECTED]
        assert len(refused) == 4 and all("21718" in (r.reason or "") for r in refused), refused
        assert env.venue_nonce() == start + 16
        assert len(env.venue_open_orders()) == 16


async def test_gateway_path_prepare_signs_before_send_and_keeps_nonce_order() -> None:
    async with lighter_env() as env:
        conn = await env.connector()
        gw = OrderGateway({"lighter": conn}, conn.tracker)  # the connector's limiter by default
        assert gw.limiters["lighter"] is conn.limiter
        budget = conn.limiter.available("rest")
        start = env.venue_nonce()
        px = bid_below(conn, ticks=2000)
        for i in range(12):
            gw.submit("lighter", [order(200 + i, px - i, post_only=True)])
        gw.cancel("lighter", "ETH", [200])
        await gw.drain()
        assert gw.stats.acked == 12 and gw.stats.rejected == 0 and gw.stats.unresolved == 0
        assert env.venue_nonce() == start + 13
        # 13 txs at sendTx weight 6 from the premium budget, counted once (not again by the REST client),
        # plus the one nextNonce read (weight 6) that seeded the nonce manager
        assert budget - conn.limiter.available("rest") == 13 * 6 + 6
        await wait_for(lambda: len(env.venue_open_orders()) == 11, what="11 resting orders")
        assert conn.tracker.get(200, "lighter").state == "cancelled"


async def test_batch_submit_and_cap() -> None:
    async with lighter_env() as env:
        conn = await env.connector(max_batch=3)
        px = bid_below(conn, ticks=2000)
        start = env.venue_nonce()
        sent = conn.tx_socket.sent if conn.tx_socket else 0
        results = await conn.submit_batch([order(300 + i, px - i, post_only=True) for i in range(7)])
        assert [r.outcome for r in results] == [SubmitOutcome.ACCEPTED] * 7
        assert conn.tx_socket is not None and conn.tx_socket.sent - sent == 3  # 3 + 3 + 1
        assert env.venue_nonce() == start + 7
        with pytest.raises(ValueError, match="max_batch"):
            conn.prepare_submit([order(400 + i, px, post_only=True) for i in range(4)])
        with pytest.raises(ValueError, match="max_batch"):
            LighterConfig(rest_url="x", ws_url="y", chain_id=1, account_index=1, api_key_index=3, max_batch=51)


# ------------------------------------------------------------------ faults and reconciliation


async def test_rate_limited_rest_is_retried_after_the_hint() -> None:
    plan = FaultPlan([FaultRule(FaultKind.HTTP_429, every=2, conn="lighter-rest", retry_after_s=0.2, max_count=3)])
    async with lighter_env(plan) as env:
        conn = await env.connector(ws_tx=False)
        res = await conn.submit(order(500, bid_below(conn), post_only=True))
        assert res.outcome is SubmitOutcome.ACCEPTED
        assert conn.api is not None
        assert conn.api.rest.stats.rate_limited + conn.api.tx_rest.stats.rate_limited >= 1


async def test_ambiguous_submit_timeout_is_resolved_by_query() -> None:
    plan = FaultPlan([FaultRule(FaultKind.ACCEPT_TIMEOUT, every=1, conn="lighter-rest", max_count=1)])
    async with lighter_env(plan, response_timeout_s=5.0) as env:
        conn = await env.connector(ws_tx=False, order_timeout_s=0.5)
        res = await conn.submit(order(600, bid_below(conn), post_only=True))
        assert res.outcome is SubmitOutcome.UNRESOLVED
        assert conn.tracker.get(600, "lighter").state in ("unresolved", "open")  # the stream may beat us
        await conn.reconcile()
        o = conn.tracker.get(600, "lighter")
        assert o.state == "open" and o.order_id is not None
        # the next submit re-reads the nonce (the outcome of the lost one was unknown) and goes through
        assert (await conn.submit(order(601, bid_below(conn), post_only=True))).outcome is SubmitOutcome.ACCEPTED


async def test_dropped_private_events_are_recovered_by_reconciliation() -> None:
    # every private event held for 30 s: the stream tells us nothing during the test
    plan = FaultPlan([FaultRule(FaultKind.DELAY_PRIVATE, probability=1.0, conn="lighter-ws-*", duration_s=30.0)])
    async with lighter_env(plan) as env:
        conn = await env.connector()
        px = bid_below(conn)
        await conn.submit(order(700, px, post_only=True))
        _, ask = conn.top_of_book("ETH")
        await conn.submit(OrderRequest(701, "ETH", Side.BID, 300, price=ask[0] + 500, tif=TimeInForce.IOC))
        await asyncio.sleep(0.5)
        assert conn.tracker.get(701, "lighter").state == "open"  # acked, but no fill seen
        await conn.reconcile()
        assert conn.tracker.get(700, "lighter").state == "open"
        filled = conn.tracker.get(701, "lighter")
        assert filled.state == "filled" and filled.filled == 300 and filled.trade_ids
        assert (await conn.positions())["ETH"].size == 300


@pytest.mark.parametrize("by_client_id", [True, False], ids=["accountOrders", "inactive_orders"])
async def test_reconciliation_reads_every_page_it_needs(by_client_id: bool) -> None:
    """More missing orders than one page of history (5 rows here): each is found on its page (by client id
    in chunks, or in the closed-order history), and its fills in the account's trades, page by page."""
    plan = FaultPlan([FaultRule(FaultKind.DELAY_PRIVATE, probability=1.0, conn="lighter-ws-*", duration_s=30.0)])
    async with lighter_env(plan) as env:
        conn = await env.connector(history_limit=5, lookup_by_client_id=by_client_id)
        _, ask = conn.top_of_book("ETH")
        cids = list(range(800, 812))
        for cid in cids:  # 12 takers: each fills at once, and the stream says nothing for 30 s
            res = await conn.submit(OrderRequest(cid, "ETH", Side.BID, 100, price=ask[0] + 500, tif=TimeInForce.IOC))
            assert res.outcome is SubmitOutcome.ACCEPTED
        await asyncio.sleep(0.5)  # past the submit window
        passed = await conn.reconcile()
        orders = [conn.tracker.get(cid, "lighter") for cid in cids]
        assert [o.state for o in orders] == ["filled"] * len(cids), passed.disagreements
        assert all(o.filled == 100 and o.trade_ids for o in orders)
        assert conn.reconcile_stats.settled_by_query == len(cids) and conn.reconcile_stats.settled_missing == 0
        assert (await conn.positions())["ETH"].size == 100 * len(cids)
        assert env.sim.exchange("lighter").position(env.account, 0).size == 100 * len(cids)


async def test_restart_with_open_orders_adopts_them() -> None:
    async with lighter_env() as env:
        first = await env.connector()
        px = bid_below(first)
        await first.submit_batch([order(800, px, post_only=True), order(801, px - 5, post_only=True)])
        await first.close()
        second = await env.connector()  # a fresh tracker: the orders exist only at the venue
        assert {o.client_id for o in second.open_orders()} == {800, 801}
        assert second.reconcile_stats.adopted == 2
        assert (await second.cancel("ETH", 800)).outcome is SubmitOutcome.ACCEPTED
        await wait_for(lambda: [o.client_id for o in env.venue_open_orders()] == [801], what="cancel adopted order")


async def test_restart_with_cancel_policy_cancels_unknown_orders() -> None:
    async with lighter_env() as env:
        first = await env.connector()
        await first.submit(order(900, bid_below(first), post_only=True))
        await first.close()
        second = await env.connector(unknown_order_policy="cancel")
        assert second.reconcile_stats.cancelled_unknown == 1
        await wait_for(lambda: env.venue_open_orders() == [], what="unknown order cancelled")
        assert second.open_orders() == []


# ------------------------------------------------------------------ secrets


async def test_no_secret_in_logs_reprs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with lighter_env() as env:
        conn = await env.connector()
        await conn.submit(order(950, bid_below(conn), post_only=True))
        with pytest.raises(ValueError, match="client_id: 950"):
            await conn.submit(order(950, bid_below(conn), post_only=True))
        env.sim.drop_sockets("lighter")
        await conn.reconcile()
        token = conn._current_token()
        key_hex = env.private_key.removeprefix("0x")
        texts = [r.getMessage() for r in caplog.records] + [repr(conn), repr(conn.signer), repr(conn.config),
                                                            repr(conn._auth_token), str(conn.stats)]
        for t in texts:
            assert key_hex.lower() not in t.lower()
            assert token not in t
            assert token.rsplit(":", 1)[1] not in t  # not even the signature part
        with pytest.raises(ValueError) as err:
            LighterConfig.from_options(profile="testnet", account_index=1, api_key_index=3,
                                       options={"bogus": key_hex})
        assert "bogus" in str(err.value) and key_hex not in str(err.value)




# ------------------------------------------------------------------ configuration


def test_live_template_is_a_valid_config() -> None:
    from pathlib import Path

    from xtb.config import load_config

    path = Path(__file__).resolve().parents[2] / "configs" / "live" / "lighter.yaml"
    cfg = load_config(path, env={})
    venue = cfg.venues["lighter"]
    lc = LighterConfig.from_options(rest_url=venue.rest_url, ws_url=venue.ws_url, account_index=1,
                                    api_key_index=3, options=venue.options, symbols=venue.symbols)
    assert (lc.chain_id, lc.max_batch, lc.symbols, lc.unknown_order_policy) == (304, 15, ("ETH", "BTC"), "adopt")
    assert lc.rest_url.startswith("https://mainnet.zklighter")
    testnet = LighterConfig.from_options(profile="testnet", account_index=1, api_key_index=3)
    assert testnet.chain_id == 300 and testnet.ws_url.endswith("/stream")
    with pytest.raises(ValueError, match="unknown_order_policy"):
        LighterConfig.from_options(profile="testnet", account_index=1, api_key_index=3,
                                   options={"unknown_order_policy": "keep"})


def test_old_option_names_still_work_with_a_deprecation() -> None:
    deprecated = r"venues\.lighter\.options\.tx_timeout_s is deprecated: call it order_timeout_s"
    with pytest.warns(DeprecationWarning, match=deprecated):
        lc = LighterConfig.from_options(profile="testnet", account_index=1, api_key_index=3,
                                        options={"tx_timeout_s": 4.0, "unknown_orders": "cancel",
                                                 "reconcile_grace_s": 1.0, "max_batch_size": 7})
    assert (lc.order_timeout_s, lc.unknown_order_policy, lc.submit_window_s, lc.max_batch) == (4.0, "cancel", 1.0, 7)
    with pytest.raises(ValueError, match="together with its new name"):
        LighterConfig.from_options(profile="testnet", account_index=1, api_key_index=3,
                                   options={"tx_timeout_s": 4.0, "order_timeout_s": 4.0})


async def test_stream_positions_through_the_dispatcher_and_rest_fallback() -> None:
    from xtb._core import EventRing
    from xtb.engine.dispatcher import Dispatcher

    async with lighter_env() as env:
        ring = EventRing(1 << 14)
        dispatcher = Dispatcher(ring)
        conn = await env.connector(start=False, ring=ring, on_burst_end=dispatcher.drain)
        dispatcher.add_listener(conn, first=True)
        await conn.start()
        await conn.submit(OrderRequest(60, "ETH", Side.BID, 700, kind=OrderKind.MARKET))
        await wait_for(lambda: conn._stream_positions_live, what="a streamed position")
        pos = await conn.positions()
        assert pos["ETH"].size == 700 and pos["ETH"].source == "stream"
        env.sim.drop_sockets("lighter")
        await wait_for(lambda: not conn._stream_positions_live, what="stream marked down")
        pos = await conn.positions()  # read through REST while the stream is down
        assert pos["ETH"].size == 700 and pos["ETH"].source == "rest"


async def test_stalled_stream_is_dropped_and_recovers() -> None:
    async with lighter_env() as env:
        conn = await env.connector(stale_after_s=0.6, client_ping_interval_s=0.2)
        assert conn._md is not None
        env.sim.stall_sockets("lighter", 2.0)
        await wait_for(lambda: conn._md is not None and conn._md.stats.stale_drops >= 1, 5, "stale drop")
        await wait_for(lambda: conn.book("ETH").state in ("awaiting_first", "live"), 5, "books back")
        assert (await conn.submit(order(70, bid_below(conn), post_only=True))).outcome is SubmitOutcome.ACCEPTED


async def test_silent_book_limit_resubscribes() -> None:
    async with lighter_env() as env:
        conn = await env.connector(book_stale_after_s=0.4, symbols=("ETH",))
        await env.sim.stop_generator()  # the market goes quiet: no deltas at all
        await wait_for(lambda: conn.stats["resyncs"] >= 1, 5, "silent book resync")
        await wait_for(lambda: conn.book("ETH").state in ("awaiting_first", "live"), 5, "fresh snapshot")


async def test_order_ended_here_but_live_at_the_venue_is_cancelled_there() -> None:
    async with lighter_env() as env:
        conn = await env.connector()
        await conn.submit(order(75, bid_below(conn), post_only=True))
        await wait_for(lambda: conn.tracker.get(75, "lighter").order_id is not None, what="stream ack")
        # e.g. a wrong conclusion after a lost message: the tracker ended it, the venue still has it
        assert conn.tracker.on_cancel(75, "lighter", "test: assumed cancelled") == "applied"
        await conn.reconcile()
        await wait_for(lambda: env.venue_open_orders() == [], what="ghost cancelled at the venue")


async def test_reconcile_never_concludes_on_an_order_still_being_sent() -> None:
    async with lighter_env() as env:
        conn = await env.connector(submit_window_s=0.0)
        conn.tx_socket = None  # REST path, so the send can be held below
        assert conn.api is not None
        release = asyncio.Event()
        real_send = conn.api.send_tx

        async def held_send(tx, price_protection=None):  # type: ignore[no-untyped-def]
            await release.wait()
            return await real_send(tx, price_protection)

        conn.api.send_tx = held_send  # type: ignore[method-assign]
        task = asyncio.create_task(conn.submit(order(76, bid_below(conn), post_only=True)))
        await wait_for(lambda: conn.tracker.get(76, "lighter") is not None, what="tracked")
        await asyncio.sleep(0.1)
        await conn.reconcile()  # not active at the venue yet, but in flight: left alone
        assert conn.tracker.get(76, "lighter").state == "pending_new"
        release.set()
        assert (await task).outcome is SubmitOutcome.ACCEPTED
        await wait_for(lambda: conn.tracker.get(76, "lighter").state == "open", what="open")


async def test_a_gap_right_after_the_resync_snapshot_is_resynced_again() -> None:
    # The state right after a resync: the new snapshot is in, the resync is still being tracked (the
    # watchdog has not looked yet), and the subscription's first delta breaks the chain.
    async with lighter_env(updates_per_s=50.0) as env:
        conn = await env.connector(symbols=("ETH",), resync_timeout_s=30.0)
        book = conn.book("ETH")
        conn._resyncing["ETH"] = time.monotonic_ns()
        book.mark_stale("gap: begin_nonce=9 but previous nonce=8")
        await wait_for(lambda: conn.stats["resyncs"] >= 1, 5, "a resync")
        await wait_for(lambda: book.state == "live", 5, "book live again")
        assert conn._md is not None and conn._md.stats.connects == 1  # recovered without reconnecting


async def test_cancel_all_sent_on_a_dying_socket_is_sent_again() -> None:
    from xtb.venues.lighter.txsocket import TxConnectionLost

    async with lighter_env() as env:
        conn = await env.connector()
        await conn.submit(order(80, bid_below(conn), post_only=True))
        sock = conn.tx_socket
        assert sock is not None
        real_send, lost = sock.send_tx, []

        def send_then_lose(tx):  # type: ignore[no-untyped-def]
            # the socket dies with this tx on it: written, no answer (the venue never saw it here)
            if not lost:
                lost.append(tx)
                fut = asyncio.get_running_loop().create_future()
                fut.set_exception(TxConnectionLost("tx socket lost (test) before the reply"))
                return fut
            return real_send(tx)

        sock.send_tx = send_then_lose  # type: ignore[method-assign]
        await conn.cancel_all("ETH")
        assert len(lost) == 1 and env.venue_open_orders() == []
        assert conn.tracker.get(80, "lighter").state == "cancelled"


async def test_refused_auth_on_subscribe_is_renewed_and_private_channels_come_back() -> None:
    from xtb.signing import AuthToken

    async with lighter_env() as env:
        conn = await env.connector()
        good = conn._auth_token
        # A token the venue refuses (another account), far from expiry so a reconnect keeps it.
        conn._auth_token = AuthToken("4102444800:1:3:" + "00" * 80, 4_102_444_800, 1, API_KEY_INDEX)
        env.sim.drop_sockets("lighter")
        await wait_for(lambda: conn.stats["feed_errors"] >= 1, 5, "the venue's auth refusal")
        await wait_for(lambda: conn._auth_token.token != "4102444800:1:3:" + "00" * 80, 5, "a fresh token")
        assert conn._auth_token is not good
        await wait_for(lambda: conn.book("ETH").state in ("awaiting_first", "live"), 5, "books back")
        await conn.submit(order(85, bid_below(conn), post_only=True))
        # the venue order id only comes from the private stream: it is subscribed again
        await wait_for(lambda: conn.tracker.get(85, "lighter").order_id is not None, 5, "private stream back")


async def test_venue_json_pings_are_answered_on_both_sockets() -> None:
    from xtb.transport import CyFeedListener

    # The simulator closes a socket (1008 "no pong") when no client frame follows its ping in time;
    # our own pings are off, so only the pongs keep the sockets up.
    async with lighter_env(ping_interval_s=0.2, pong_timeout_s=0.5) as env:
        conn = await env.connector(client_ping_interval_s=None)
        assert conn._md is not None and conn.tx_socket is not None
        if CyFeedListener is not None:
            assert isinstance(conn._md.listener, CyFeedListener)  # frames go straight to the core
        await asyncio.sleep(1.5)
        assert conn.decoder.stats()["pings"] >= 3
        assert conn._md.stats.connects == 1 and conn.tx_socket.session.stats.connects == 1


async def test_an_unreadable_answer_after_sending_is_unresolved_not_rejected() -> None:
    async with lighter_env() as env:
        conn = await env.connector(ws_tx=False)
        assert conn.api is not None
        real = conn.api.tx_rest.request

        async def garbled(*args, **kwargs):  # type: ignore[no-untyped-def]
            await real(*args, **kwargs)  # the venue applies the tx...
            return "<html>proxy error</html>"  # ...and the answer cannot be read

        conn.api.tx_rest.request = garbled  # type: ignore[method-assign]
        res = await conn.submit(order(90, bid_below(conn), post_only=True))
        assert res.outcome is SubmitOutcome.UNRESOLVED and "unreadable" in (res.reason or "")
        assert [o.client_id for o in env.venue_open_orders()] == [90]
        # the stream (or reconciliation) settles it; an update the stream gave first is not undone
        await conn.reconcile()
        await wait_for(lambda: conn.tracker.get(90, "lighter").state == "open", what="stream settles it")


async def test_a_position_closed_to_flat_reaches_the_ring() -> None:
    # The simulator's positions map leaves out a market once it is flat (the venue may too: UNCONFIRMED),
    # so the connector reads REST after a fill the stream did not follow with a position.
    from .conformance import Harness

    async with lighter_env() as env:
        h = Harness.create()
        conn = await env.connector(ring=h.ring, tracker=h.tracker, on_burst_end=h.dispatcher.drain,
                                   position_check_delay_s=0.2)
        h.attach(conn)
        await conn.submit(OrderRequest(95, "ETH", Side.BID, 400, kind=OrderKind.MARKET))
        await wait_for(lambda: any(p.size == 400 for p in h.recorder.of("position")), what="long 400")
        bid, _ = conn.top_of_book("ETH")
        await conn.submit(OrderRequest(96, "ETH", Side.ASK, 400, kind=OrderKind.MARKET, price=bid[0] // 2,
                                       reduce_only=True))

        def flat_published() -> bool:
            h.dispatcher.drain()
            last = [p for p in h.recorder.of("position") if p.book_id == 0]
            return bool(last) and last[-1].size == 0

        await wait_for(flat_published, what="a flat position event")
        assert "ETH" not in await conn.positions()


async def test_periodic_reconciliation_adopts_an_order_placed_elsewhere() -> None:
    async with lighter_env() as env:
        conn = await env.connector(reconcile_interval_s=0.3, submit_window_s=0.1)
        other = await env.connector(unknown_order_policy="ignore")  # another process on the same account
        await other.submit(order(98, bid_below(other), post_only=True))
        await wait_for(lambda: conn.tracker.get(98, "lighter") is not None, 3, "adopted by a periodic pass")
        assert conn.tracker.get(98, "lighter").state == "open" and conn.reconcile_stats.adopted == 1
