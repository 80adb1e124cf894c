"""Fidelity: the venues' own client libraries, unchanged, talk to the simulator as they would to the venue.

lighter-sdk (REST API classes, the native-signer `SignerClient`, `WsClient`) and bpx-py (async REST client,
real ED25519 signatures) are pointed at the loopback URLs. Nothing here touches our connectors.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import lighter
import pytest
from bpx.async_.account import Account as BpxAccount
from bpx.async_.public import Public as BpxPublic
from lighter.signer_client import SignerClient, create_api_key

from xtb.sim.types import OrderRequest, Side

from .proto_helpers import cluster_factory_fixture, recv_until  # noqa: F401

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------- Lighter


async def test_lighter_sdk_reads_markets_books_and_account(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",), generate=True, updates_per_s=20.0)
    url = sim.urls()["lighter"]["rest"]
    _, pub, err = create_api_key()
    assert err is None
    acct = sim.add_lighter_account(pub, api_key_index=3, collateral_usdc=5_000)
    api = lighter.ApiClient(configuration=lighter.Configuration(host=url))
    try:
        details = await lighter.OrderApi(api).order_book_details(market_id=0)
        eth = details.order_book_details[0]
        assert (eth.symbol, eth.size_decimals, eth.price_decimals) == ("ETH", 4, 2)
        books = await lighter.OrderApi(api).order_books()
        assert {b.market_id for b in books.order_books} == {0, 1, 2}
        orders = await lighter.OrderApi(api).order_book_orders(market_id=0, limit=5)
        assert orders.bids and orders.asks
        best_bid, best_ask = float(orders.bids[0].price), float(orders.asks[0].price)
        assert best_bid < best_ask  # best-first on both sides, as the SDK's get_best_price assumes
        assert all(float(b.price) <= best_bid for b in orders.bids)
        accounts = await lighter.AccountApi(api).account(by="index", value=str(acct))
        assert accounts.accounts[0].index == acct
        assert accounts.accounts[0].collateral == "5000.000000"
        nonce = await lighter.TransactionApi(api).next_nonce(account_index=acct, api_key_index=3)
        assert nonce.nonce == 0
    finally:
        await api.close()


async def test_lighter_signer_client_places_queries_and_cancels(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    url = sim.urls()["lighter"]["rest"]
    ex = sim.venues["lighter"].exchange
    maker = ex.create_account(10**20)
    ex.place_order(OrderRequest(maker, 0, Side.SELL, 5_000, 350_100))  # 0.5 ETH ask at 3501.00
    priv, pub, _ = create_api_key()
    acct = sim.add_lighter_account(pub, api_key_index=3)
    client = SignerClient(url, account_index=acct, api_private_keys={3: priv})
    api = lighter.ApiClient(configuration=lighter.Configuration(host=url))
    try:
        # The native signer fetches /api/v1/apikeys and compares the public key (blocking Go HTTP call).
        assert await asyncio.to_thread(client.check_client) is None
        _, resp, err = await client.create_order(0, 11, 1_000, 300_000, False, 0, 1)  # bid 0.1 @ 3000 GTT
        assert err is None and resp.code == 200 and len(resp.tx_hash) == 80
        token, err = client.create_auth_token_with_expiry(api_key_index=3)
        assert err is None
        active = await lighter.OrderApi(api).account_active_orders(
            account_index=acct, market_id=0, authorization=token
        )
        assert [(o.client_order_index, o.price, o.status, o.is_ask) for o in active.orders] == [
            (11, "3000.00", "open", False)
        ]
        _, resp, err = await client.cancel_order(0, 11)
        assert err is None and resp.code == 200
        active = await lighter.OrderApi(api).account_active_orders(account_index=acct, authorization=token)
        assert active.orders == []
        # A market buy with a worst price fills against the ask.
        _, resp, err = await client.create_market_order(0, 12, 1_000, 360_000, False)
        assert err is None
        account = (await lighter.AccountApi(api).account(by="index", value=str(acct))).accounts[0]
        pos = account.positions[0]
        assert (pos.market_id, pos.sign, pos.position, pos.avg_entry_price) == (0, 1, "0.1000", "3501.00")
        nonce = await lighter.TransactionApi(api).next_nonce(account_index=acct, api_key_index=3)
        assert nonce.nonce == 3  # create, cancel, market: three accepted txs
    finally:
        await client.close()
        await api.close()


async def test_lighter_signer_client_nonce_error_is_recognised_by_the_sdk(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    url = sim.urls()["lighter"]["rest"]
    priv, pub, _ = create_api_key()
    acct = sim.add_lighter_account(pub, api_key_index=3)
    client = SignerClient(url, account_index=acct, api_private_keys={3: priv})
    try:
        _, resp, err = await client.create_order(0, 21, 1_000, 300_000, False, 0, 1, nonce=7)
        assert resp is None and "invalid nonce" in str(err)
        _, resp, err = await client.create_order(0, 21, 1_000, 300_000, False, 0, 1)  # SDK refetches
        assert err is None and resp.code == 200
    finally:
        await client.close()


async def test_lighter_ws_client_gets_book_and_account(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",), generate=True, updates_per_s=50.0)
    priv, pub, _ = create_api_key()
    acct = sim.add_lighter_account(pub, api_key_index=3)
    signer = SignerClient(sim.urls()["lighter"]["rest"], account_index=acct, api_private_keys={3: priv})
    books: list[tuple[str, dict[str, Any]]] = []
    accounts: list[tuple[str, dict[str, Any]]] = []
    ws = lighter.WsClient(
        ws_url=sim.urls()["lighter"]["ws"],
        order_book_ids=[0],
        account_ids=[acct],
        on_order_book_update=lambda m, ob: books.append((m, ob)),
        on_account_update=lambda a, msg: accounts.append((a, msg)),
    )
    task = asyncio.create_task(ws.run_async())
    try:
        deadline = time.monotonic() + 5
        while (len(books) < 3 or not accounts) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(books) >= 3 and accounts
        market, state = books[-1]
        assert market == "0"
        bids = [float(b["price"]) for b in state["bids"]]
        asks = [float(a["price"]) for a in state["asks"]]
        assert bids and asks and max(bids) < min(asks)  # the SDK's merged book is uncrossed
        assert accounts[0][0] == str(acct) and accounts[0][1]["type"] == "subscribed/account_all"
        # A fill made through the SDK's signer shows up on the account channel.
        best_ask = float(state["asks"][0]["price"]) if state["asks"] else 3_600.0
        _, _, err = await signer.create_market_order(0, 5, 1_000, int(best_ask * 1.05 * 100), False)
        assert err is None
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not any(
            m["type"] == "update/account_all" and m.get("positions", {}).get("0") for _, m in accounts
        ):
            await asyncio.sleep(0.02)
        update = next(m for _, m in accounts if m["type"] == "update/account_all" and m.get("positions"))
        assert update["positions"]["0"]["position"] == "0.1000" and update["positions"]["0"]["sign"] == 1
    finally:
        await signer.close()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        if ws.ws is not None:
            await ws.ws.close()


# ---------------------------------------------------------------- Backpack


async def test_bpx_py_places_queries_and_cancels_with_real_signatures(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",))
    base = sim.urls()["backpack"]["rest"] + "/"
    ex = sim.venues["backpack"].exchange
    maker = ex.create_account(10**20)
    ex.place_order(OrderRequest(maker, 0, Side.SELL, 1_000, 1_000_010))  # 0.01 BTC ask at 100001.0
    key, secret, _ = sim.add_backpack_account(collateral_usdc=50_000)
    public = BpxPublic()
    public.BASE_URL = base
    markets = await public.get_markets()
    assert {m["symbol"] for m in markets} == {"BTC_USDC_PERP", "ETH_USDC_PERP", "SOL_USDC_PERP"}
    depth = await public.get_depth("BTC_USDC_PERP")
    assert depth["asks"] == [["100001.0", "0.01000"]] and isinstance(depth["lastUpdateId"], str)

    account = BpxAccount(key, secret)
    account.BPX_API_URL = base
    placed = await account.execute_order(
        "BTC_USDC_PERP",
        "Bid",
        "Limit",
        time_in_force="GTC",
        quantity="0.002",
        price="90000.0",
        client_id=42,
        post_only=True,
    )
    assert placed["status"] == "New" and placed["clientId"] == 42 and placed["price"] == "90000.0"
    queried = await account.get_open_order("BTC_USDC_PERP", client_id=42)
    assert queried["id"] == placed["id"]
    assert [o["id"] for o in await account.get_open_orders(symbol="BTC_USDC_PERP")] == [placed["id"]]
    cancelled = await account.cancel_order("BTC_USDC_PERP", order_id=placed["id"])
    assert cancelled["status"] == "Cancelled"
    gone = await account.get_open_order("BTC_USDC_PERP", order_id=placed["id"])
    assert gone == {"code": "RESOURCE_NOT_FOUND", "message": "Order not found"}

    filled = await account.execute_order("BTC_USDC_PERP", "Bid", "Market", quantity="0.004")
    assert filled["status"] == "Filled" and filled["executedQuantity"] == "0.00400"
    positions = await account.get_open_positions()
    assert [(p["symbol"], p["netQuantity"], p["entryPrice"]) for p in positions] == [
        ("BTC_USDC_PERP", "0.00400", "100001")
    ]
    fills = await account.get_fill_history(symbol="BTC_USDC_PERP")
    assert [(f["orderId"], f["price"], f["quantity"], f["isMaker"]) for f in fills] == [
        (filled["id"], "100001.0", "0.00400", False)
    ]
    history = await account.get_order_history(symbol="BTC_USDC_PERP")
    assert [h["status"] for h in history] == ["Filled", "Cancelled"]
    balances = await account.get_balances()
    assert set(balances) == {"USDC"}
    assert await account.cancel_all_orders("BTC_USDC_PERP") == []


async def test_bpx_py_signature_accepted_on_private_stream(cluster_factory: Any) -> None:
    """bpx-py has no WS client; its signer (`_sign`) produces the subscribe signature."""
    import aiohttp

    sim = await cluster_factory(venues=("backpack",))
    key, secret, _ = sim.add_backpack_account()
    account = BpxAccount(key, secret)
    account.BPX_API_URL = sim.urls()["backpack"]["rest"] + "/"
    ts = int(time.time() * 1000)
    sig = account._sign({}, "subscribe", ts, 5000)
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["backpack"]["ws"]) as ws:
        await ws.send_json(
            {
                "method": "SUBSCRIBE",
                "params": ["account.orderUpdate"],
                "signature": [key, sig, str(ts), "5000"],
            }
        )
        await asyncio.sleep(0.05)
        placed = await account.execute_order("ETH_USDC_PERP", "Ask", "Limit", quantity="0.1", price="4000.00")
        update = await recv_until(ws, lambda f: f.get("stream") == "account.orderUpdate")
        assert update["data"]["e"] == "orderAccepted" and update["data"]["i"] == placed["id"]
