"""GRVT front-end of the simulator on real sockets: the edge login and its session cookie, the JSON-RPC-style
REST on the trades and market-data hosts with GRVT's error objects, EIP-712 verification of every order
(forged, wrong-key, tampered, expired and wrong-chain signatures refused, nothing placed), order states and
histories with cursors, and both WebSockets (book snapshot + contiguous deltas that rebuild the book, trades,
private order/state/fill/position streams, legacy subscribe, RPC calls). Orders are signed here with
eth-account, independent of the core's signer."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from xtb.sim.cluster import SimCluster
from xtb.sim.types import AccountConfig, OrderRequest, Side

from .proto_helpers import cluster_factory_fixture

pytestmark = pytest.mark.timeout(60)

cluster_factory = cluster_factory_fixture

KEY = "f7934647276a6e1fa0af3f4467b4b8ddaf45d25a7368fa1a295eef49a446819d"
OTHER_KEY = "11" * 32
BTC = "BTC_USDT_Perp"
HASHES = {"BTC_USDT_Perp": "0x030501", "ETH_USDT_Perp": "0x030401"}
ORDER_TYPES = {
    "Order": [
        {"name": "subAccountID", "type": "uint64"}, {"name": "isMarket", "type": "bool"},
        {"name": "timeInForce", "type": "uint8"}, {"name": "postOnly", "type": "bool"},
        {"name": "reduceOnly", "type": "bool"}, {"name": "legs", "type": "OrderLeg[]"},
        {"name": "nonce", "type": "uint32"}, {"name": "expiration", "type": "int64"},
    ],
    "OrderLeg": [
        {"name": "assetID", "type": "uint256"}, {"name": "contractSize", "type": "uint64"},
        {"name": "limitPrice", "type": "uint64"}, {"name": "isBuyingContract", "type": "bool"},
    ],
}  # fmt: skip
TIF = {"GOOD_TILL_TIME": 1, "IMMEDIATE_OR_CANCEL": 3, "FILL_OR_KILL": 4}


def signed_order(sub: int, *, buy: bool, size: str, price: str | None, cid: int, key: str = KEY,
                 tif: str = "GOOD_TILL_TIME", post_only: bool = False, reduce_only: bool = False,
                 chain_id: int = 326, expiration_ns: int | None = None,
                 instrument: str = BTC) -> dict[str, Any]:  # fmt: skip
    """A create_order body signed the venue's way (EIP-712, eth-account)."""
    expiration = expiration_ns if expiration_ns is not None else time.time_ns() + 60 * 10**9
    nonce = random.randrange(2**32)
    is_market = price is None
    message = {
        "subAccountID": sub, "isMarket": is_market, "timeInForce": TIF[tif], "postOnly": post_only,
        "reduceOnly": reduce_only, "nonce": nonce, "expiration": expiration,
        "legs": [{"assetID": int(HASHES[instrument], 16), "contractSize": int(Decimal(size) * 10**9),
                  "limitPrice": int(Decimal(price or 0) * 10**9), "isBuyingContract": buy}],
    }  # fmt: skip
    domain = {"name": "GRVT Exchange", "version": "0", "chainId": chain_id}
    sig = Account.sign_message(encode_typed_data(domain, ORDER_TYPES, message), key)
    return {"order": {
        "sub_account_id": str(sub), "is_market": is_market, "time_in_force": tif, "post_only": post_only,
        "reduce_only": reduce_only,
        "legs": [{"instrument": instrument, "size": size, "limit_price": price or "0", "is_buying_asset": buy}],
        "signature": {"signer": Account.from_key(key).address, "r": f"0x{sig.r:064x}", "s": f"0x{sig.s:064x}",
                      "v": sig.v, "expiration": str(expiration), "nonce": nonce},
        "metadata": {"client_order_id": str(cid)},
    }}  # fmt: skip


class Client:
    """Plain aiohttp: login at the edge, then cookie + account id on every private call."""

    def __init__(self, http: aiohttp.ClientSession, urls: dict[str, str], api_key: str, sub: int) -> None:
        self.http, self.urls, self.api_key, self.sub = http, urls, api_key, sub
        self.cookie = ""
        self.account_id = ""

    async def login(self) -> dict[str, Any]:
        async with self.http.post(self.urls["edge"] + "/auth/api_key/login", json={"api_key": self.api_key}) as r:
            assert r.status == 200, await r.text()
            self.cookie = r.cookies["gravity"].value
            self.account_id = r.headers["X-Grvt-Account-Id"]
            assert r.cookies["gravity"]["expires"].endswith("GMT")
            return dict(await r.json())

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"gravity={self.cookie}", "X-Grvt-Account-Id": self.account_id}

    async def call(self, method: str, body: dict[str, Any], *, host: str = "trades",
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:  # fmt: skip
        url = f"{self.urls[host]}/full/v1/{method}"
        async with self.http.post(url, data=orjson.dumps(body), headers=self.headers if headers is None else headers,
                                  ) as r:  # fmt: skip
            return r.status, orjson.loads(await r.read())

    async def ok(self, method: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
        status, reply = await self.call(method, {"sub_account_id": str(self.sub), **(body or {})}, **kw)
        assert status == 200, reply
        return reply

    async def error(self, method: str, body: dict[str, Any], **kw: Any) -> tuple[int, int]:
        status, reply = await self.call(method, body, **kw)
        assert set(reply) == {"request_id", "code", "message", "status"}, reply
        assert reply["status"] == status
        return status, reply["code"]

    async def order(self, cid: int) -> dict[str, Any]:
        return dict((await self.ok("order", {"client_order_id": str(cid)}))["result"])


async def setup(cluster_factory: Any, **kw: Any) -> tuple[SimCluster, aiohttp.ClientSession, Client]:
    sim = await cluster_factory(venues=("grvt",), dialect_options={"grvt": {"speed_bump_ms": 0.0}}, **kw)
    acct = sim.add_grvt_account(100_000, signer=Account.from_key(KEY).address)
    assert acct.private_key is None  # the venue never sees a key it did not make
    http = aiohttp.ClientSession()
    client = Client(http, sim.urls()["grvt"], acct.api_key, acct.sub_account_id)
    await client.login()
    return sim, http, client


def add_liquidity(sim: SimCluster, side: Side, price: int, qty: int, market: int = 0) -> int:
    """A resting order from an account outside GRVT's key registry (engine units: BTC price 0.1, size 0.001)."""
    ex = sim.exchange("grvt")
    acct = ex.create_account(10**30, config=AccountConfig(check_margin=False, check_order_limits=False))
    ex.set_mark_price(market, price)
    ex.place_order(OrderRequest(acct, market, side, qty, price))
    return acct


async def recv(ws: aiohttp.ClientWebSocketResponse, pred: Any = None, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive_json(timeout=max(0.05, deadline - time.monotonic()))
        if pred is None or pred(msg):
            return dict(msg)


async def test_login_sessions_and_errors(cluster_factory: Any) -> None:
    sim, http, c = await setup(cluster_factory)
    async with http:
        body = await c.login()
        assert body["sub_account_id"] == str(c.sub) and body["funding_account_address"] == c.account_id
        async with http.post(c.urls["edge"] + "/auth/api_key/login", json={"api_key": "nope"}) as r:
            assert r.status == 401 and (await r.json())["code"] == 1000
        assert await c.error("open_orders", {"sub_account_id": str(c.sub)}, headers={}) == (401, 1000)
        assert await c.error("open_orders", {"sub_account_id": str(c.sub)},
                             headers={**c.headers, "X-Grvt-Account-Id": "0xother"}) == (403, 1001)  # fmt: skip
        assert await c.error("open_orders", {"sub_account_id": "123"}) == (403, 1001)  # not this key's
        # a method of the other host, and malformed bodies
        assert await c.error("create_order", {}, host="market_data") == (404, 1004)
        async with http.post(c.urls["trades"] + "/full/v1/open_orders", data=b"{", headers=c.headers) as r:
            assert r.status == 400 and (await r.json())["code"] == 1003
        # sessions end (venue-side logout): the cookie stops working, a fresh login works
        sim.protocol("grvt").auth.expire_sessions()
        assert await c.error("open_orders", {"sub_account_id": str(c.sub)}) == (401, 1000)
        await c.login()
        assert (await c.ok("open_orders"))["result"] == []


async def test_market_data_rest(cluster_factory: Any) -> None:
    sim, http, c = await setup(cluster_factory)
    async with http:
        add_liquidity(sim, Side.BUY, 999_000, 1_500)
        add_liquidity(sim, Side.BUY, 999_000, 500)
        add_liquidity(sim, Side.SELL, 1_000_100, 2_000)
        status, insts = await c.call("all_instruments", {"is_active": True}, host="market_data", headers={})
        assert status == 200
        btc = next(i for i in insts["result"] if i["instrument"] == BTC)
        assert (btc["instrument_hash"], btc["base_decimals"], btc["tick_size"], btc["min_size"], btc["kind"]) == (
            "0x030501", 9, "0.1", "0.001", "PERPETUAL")
        _, filtered = await c.call("instruments", {"kind": ["PERPETUAL"], "base": ["ETH"]}, host="market_data")
        assert [i["instrument"] for i in filtered["result"]] == ["ETH_USDT_Perp"]
        _, book = await c.call("book", {"instrument": BTC, "depth": 10}, host="market_data")
        assert book["result"]["bids"] == [{"price": "99900.0", "size": "2.000", "num_orders": 2}]
        assert book["result"]["asks"] == [{"price": "100010.0", "size": "2.000", "num_orders": 1}]
        _, mini = await c.call("mini", {"instrument": BTC}, host="market_data")
        assert (mini["result"]["best_bid_price"], mini["result"]["best_ask_price"]) == ("99900.0", "100010.0")
        assert (await c.error("book", {"instrument": BTC, "depth": 7}, host="market_data"))[1] == 3031
        assert await c.error("instrument", {"instrument": "XRP_USDT_Perp"}, host="market_data") == (400, 1004)


async def test_orders_place_query_cancel_and_history(cluster_factory: Any) -> None:
    sim, http, c = await setup(cluster_factory)
    async with http:
        add_liquidity(sim, Side.SELL, 1_000_100, 2_000)
        ack = (await c.ok("create_order", signed_order(c.sub, buy=True, size="0.01", price="99000.0", cid=11,
                                                        post_only=True)))["result"]  # fmt: skip
        assert (ack["order_id"], ack["state"]["status"]) == ("0x00", "PENDING")
        assert ack["metadata"]["client_order_id"] == "11"
        opened = (await c.ok("open_orders"))["result"]
        assert [(o["metadata"]["client_order_id"], o["state"]["status"]) for o in opened] == [("11", "OPEN")]
        oid = opened[0]["order_id"]
        assert oid.startswith("0x") and len(oid) == 34
        by_id = (await c.ok("order", {"order_id": oid}))["result"]
        assert by_id["legs"] == [{"instrument": BTC, "size": "0.010", "limit_price": "99000.0",
                                  "is_buying_asset": True}]
        assert by_id["signature"]["signer"] == Account.from_key(KEY).address
        assert (await c.ok("cancel_order", {"order_id": oid}))["result"] == {"ack": True}
        state = (await c.order(11))["state"]
        assert (state["status"], state["reject_reason"]) == ("CANCELLED", "CLIENT_CANCEL")
        assert (await c.ok("open_orders"))["result"] == []
        # a post-only order that would cross ends REJECTED (FAIL_POST_ONLY); the create is acknowledged
        await c.ok("create_order", signed_order(c.sub, buy=True, size="0.01", price="100010.0", cid=12, post_only=True))
        assert (await c.order(12))["state"]["status"] == "REJECTED"
        assert (await c.order(12))["state"]["reject_reason"] == "FAIL_POST_ONLY"
        # an IOC remainder is cancelled with IOC_CANCEL after its fill
        await c.ok("create_order", signed_order(c.sub, buy=True, size="3", price="100010.0", cid=13,
                                                tif="IMMEDIATE_OR_CANCEL"))  # fmt: skip
        o13 = await c.order(13)
        assert (o13["state"]["status"], o13["state"]["reject_reason"], o13["state"]["traded_size"]) == (
            "CANCELLED", "IOC_CANCEL", ["2.000"])
        assert o13["state"]["avg_fill_price"] == ["100010"]
        # cancel_all by filters, engine refusals with GRVT codes
        for cid in (21, 22, 23):
            await c.ok("create_order", signed_order(c.sub, buy=False, size="0.01", price="101000.0", cid=cid))
        assert await c.error("create_order", signed_order(c.sub, buy=False, size="0.01", price="101000.0",
                                                           cid=21)) == (400, 2012)  # fmt: skip
        assert (await c.ok("cancel_all_orders", {"kind": ["PERPETUAL"], "base": ["ETH"]}))["result"] == {"ack": True}
        assert len((await c.ok("open_orders"))["result"]) == 3
        await c.ok("cancel_all_orders")
        assert (await c.ok("open_orders"))["result"] == []
        assert (await c.order(22))["state"]["reject_reason"] == "CLIENT_BULK_CANCEL"
        assert await c.error("create_order", signed_order(c.sub, buy=True, size="0.0015", price="99000.0",
                                                           cid=30)) == (400, 2065)  # fmt: skip
        assert await c.error("create_order", signed_order(c.sub, buy=True, size="0.01", price="99000.05",
                                                           cid=31)) == (400, 2064)  # fmt: skip
        assert await c.error("create_order", signed_order(c.sub, buy=True, size="100", price="99000.0",
                                                           cid=32)) == (400, 2080)  # fmt: skip
        assert await c.error("create_order", signed_order(c.sub, buy=True, size="0.001", price="9000.0",
                                                           cid=33)) == (400, 2066)  # fmt: skip
        # order history: every ended order once, newest first, across pages of 2
        seen: list[str] = []
        cursor = ""
        for _ in range(10):
            page = await c.ok("order_history", {"limit": 2, **({"cursor": cursor} if cursor else {})})
            seen += [o["metadata"]["client_order_id"] for o in page["result"]]
            cursor = page["next"]
            if not cursor:
                break
        assert seen == ["23", "22", "21", "13", "12", "11"]


async def test_signatures_are_verified(cluster_factory: Any) -> None:
    sim, http, c = await setup(cluster_factory)
    async with http:
        def body(**kw: Any) -> dict[str, Any]:
            return signed_order(c.sub, buy=True, size="0.01", price="99000.0", cid=5, **kw)

        wrong_key = body(key=OTHER_KEY)
        assert await c.error("create_order", wrong_key) == (403, 2000)  # a valid signature by another key
        forged = body()
        forged["order"]["signature"]["s"] = "0x" + "%064x" % (int(forged["order"]["signature"]["s"], 16) ^ 1)
        assert await c.error("create_order", forged) == (403, 2002)
        tampered = body()
        tampered["order"]["legs"][0]["size"] = "0.02"
        assert await c.error("create_order", tampered) == (403, 2002)
        mainnet = body(chain_id=325)  # signed for another chain
        assert await c.error("create_order", mainnet) == (403, 2002)
        labelled = body()
        labelled["order"]["signature"]["chain_id"] = "325"
        assert await c.error("create_order", labelled) == (400, 1012)
        expired = body(expiration_ns=time.time_ns() - 1)
        assert await c.error("create_order", expired) == (403, 2001)
        assert (await c.ok("open_orders"))["result"] == []
        account = sim.protocol("grvt").venue.account_of(c.sub)
        assert sim.exchange("grvt").order_history(account) == []  # nothing reached the engine
        good = body()
        await c.ok("create_order", good)
        await c.ok("create_order", good)  # the same payload + nonce: acknowledged, ignored
        assert len((await c.ok("open_orders"))["result"]) == 1


async def test_cancel_ttl_tombstone_and_dead_man_switch(cluster_factory: Any) -> None:
    sim, http, c = await setup(cluster_factory)
    async with http:
        # a cancel by client_order_id that overtakes its create kills the create within time_to_live_ms
        assert (await c.ok("cancel_order", {"client_order_id": "41", "time_to_live_ms": "5000"}))["result"]["ack"]
        ack = (await c.ok("create_order", signed_order(c.sub, buy=True, size="0.01", price="99000.0", cid=41)))
        state = ack["result"]["state"]
        assert (state["status"], state["reject_reason"]) == ("REJECTED", "CLIENT_CANCEL")
        assert (await c.ok("open_orders"))["result"] == []
        # the dead-man switch: not renewed within the countdown, open orders end
        await c.ok("create_order", signed_order(c.sub, buy=True, size="0.01", price="99000.0", cid=42))
        assert await c.error("cancel_on_disconnect", {"sub_account_id": str(c.sub), "countdown_time": "10"}) == (
            400, 1003)
        await c.ok("cancel_on_disconnect", {"countdown_time": "1000"})
        await asyncio.sleep(0.6)
        await c.ok("cancel_on_disconnect", {"countdown_time": "1000"})  # renewed
        await asyncio.sleep(0.6)
        assert (await c.order(42))["state"]["status"] == "OPEN"
        await asyncio.sleep(0.7)
        state = (await c.order(42))["state"]
        assert (state["status"], state["reject_reason"]) == ("CANCELLED", "CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED")


async def test_fill_position_account_and_private_streams(cluster_factory: Any) -> None:
    sim, http, c = await setup(cluster_factory)
    async with http:
        add_liquidity(sim, Side.SELL, 1_000_000, 50)
        async with http.ws_connect(c.urls["trading_ws"], headers=c.headers) as tws, \
                http.ws_connect(c.urls["market_ws"]) as mws:  # fmt: skip
            for i, (stream, sel) in enumerate([("v1.order", str(c.sub)), ("v1.fill", f"{c.sub}-{BTC}"),
                                               ("v1.position", f"{c.sub}-PERPETUAL-BTC-USDT"),
                                               ("v1.state", str(c.sub))]):  # fmt: skip
                await tws.send_json({"jsonrpc": "2.0", "method": "subscribe", "id": i,
                                     "params": {"stream": stream, "selectors": [sel]}})  # fmt: skip
                ack = await recv(tws)
                assert ack["result"]["subs"] == [sel] and ack["id"] == i
            await mws.send_json({"jsonrpc": "2.0", "method": "subscribe", "id": 9,
                                 "params": {"stream": "v1.trade", "selectors": [f"{BTC}@50"]}})  # fmt: skip
            await recv(mws)
            await c.ok("create_order", signed_order(c.sub, buy=True, size="0.05", price="100000.0", cid=77))
            fill = await recv(tws, lambda m: m.get("stream") == "v1.fill")
            f = fill["feed"]
            assert (fill["selector"], f["is_buyer"], f["is_taker"], f["size"], f["price"], f["client_order_id"]) == (
                f"{c.sub}-{BTC}", True, True, "0.050", "100000.0", "77")
            assert Decimal(f["fee"]) == Decimal("5000") * Decimal("0.00045")
            order = await recv(tws, lambda m: m.get("stream") == "v1.order" and
                               m["feed"]["state"]["status"] == "FILLED")  # fmt: skip
            assert order["feed"]["metadata"]["client_order_id"] == "77" and order["feed"]["order_id"] == f["order_id"]
            state = await recv(tws, lambda m: m.get("stream") == "v1.state" and
                                m["feed"]["order_state"]["status"] == "FILLED")  # fmt: skip
            assert state["feed"]["client_order_id"] == "77"
            pos = await recv(tws, lambda m: m.get("stream") == "v1.position")
            assert (pos["feed"]["size"], pos["feed"]["entry_price"]) == ("0.050", "100000")
            trade = await recv(mws, lambda m: m.get("stream") == "v1.trade")
            assert (trade["feed"]["is_taker_buyer"], trade["feed"]["trade_id"], trade["feed"]["size"]) == (
                True, f["trade_id"], "0.050")
            # RPC on the trading socket: the REST body comes back as `result`
            await tws.send_json({"jsonrpc": "2.0", "method": "v1/positions", "id": 50,
                                 "params": {"sub_account_id": str(c.sub)}})  # fmt: skip
            rpc = await recv(tws, lambda m: m.get("id") == 50)
            assert rpc["result"]["result"][0]["size"] == "0.050"
            await tws.send_json({"jsonrpc": "2.0", "method": "v1/create_order", "id": 51,
                                 "params": signed_order(c.sub, buy=True, size="0.01", price="1.0",
                                                        cid=78)})  # fmt: skip
            assert (await recv(tws, lambda m: m.get("id") == 51))["error"]["code"] == 2066
            await tws.send_json({"jsonrpc": "2.0", "method": "subscribe", "id": 52,
                                 "params": {"stream": "v1.order", "selectors": ["999"]}})  # fmt: skip
            assert (await recv(tws, lambda m: m.get("id") == 52))["error"]["code"] == 1001
        fills = (await c.ok("fill_history", {"instrument": BTC}))["result"]
        assert [(x["size"], x["client_order_id"]) for x in fills] == [("0.050", "77")]
        positions = (await c.ok("positions"))["result"]
        assert [(p["instrument"], p["size"]) for p in positions] == [(BTC, "0.050")]
        summary = (await c.ok("account_summary"))["result"]
        assert Decimal(summary["spot_balances"][0]["balance"]) == Decimal(100_000) - Decimal(f["fee"])
        assert summary["positions"][0]["instrument"] == BTC
    # the trading socket needs the session on the upgrade
    async with aiohttp.ClientSession() as bare:
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await bare.ws_connect(c.urls["trading_ws"])
        assert e.value.status == 401


async def test_book_stream_rebuilds_the_book(cluster_factory: Any) -> None:
    """book.d: the snapshot (sequence 0) then batches of changed levels numbered 1, 2, ... rebuild exactly
    the book REST reports, while the generator moves it; the legacy socket serves the same feed."""
    sim, http, c = await setup(cluster_factory, generate=True, updates_per_s=40.0, seed=3)
    async with http, http.ws_connect(c.urls["market_ws"]) as ws, \
            http.ws_connect(c.urls["market_ws_legacy"]) as legacy:  # fmt: skip
        await ws.send_json({"jsonrpc": "2.0", "method": "subscribe", "id": 1,
                            "params": {"stream": "v1.book.d", "selectors": [f"{BTC}@50"]}})  # fmt: skip
        ack = await recv(ws)
        assert ack["result"]["num_snapshots"] == [1] and ack["result"]["first_sequence_number"] == ["0"]
        await legacy.send_json({"request_id": 7, "stream": "v1.book.s", "feed": [f"{BTC}@500-10"],
                                "method": "subscribe", "is_full": True})  # fmt: skip
        lack = await recv(legacy)
        assert (lack["request_id"], lack["subs"]) == (7, [f"{BTC}@500-10"])
        snap_s = await recv(legacy)
        assert snap_s["sequence_number"] == "0" and len(snap_s["feed"]["bids"]) <= 10
        bids: dict[str, str] = {}
        asks: dict[str, str] = {}
        expected = 0
        deltas = 0
        while deltas < 15:
            m = await recv(ws)
            assert m["stream"] == "v1.book.d" and m["selector"] == f"{BTC}@50"
            assert int(m["sequence_number"]) == expected
            expected += 1
            if m["sequence_number"] == "0":
                bids = {lv["price"]: lv["size"] for lv in m["feed"]["bids"]}
                asks = {lv["price"]: lv["size"] for lv in m["feed"]["asks"]}
                continue
            deltas += 1
            assert int(m["prev_sequence_number"]) == int(m["sequence_number"]) - 1
            for side, levels in ((bids, m["feed"]["bids"]), (asks, m["feed"]["asks"])):
                for lv in levels:
                    if lv["size"] == "0":
                        side.pop(lv["price"], None)
                    else:
                        side[lv["price"]] = lv["size"]
        await sim.stop_generator()
        while True:  # drain the last batch, then compare with REST
            try:
                m = await ws.receive_json(timeout=0.3)
            except TimeoutError:
                break
            assert int(m["sequence_number"]) == expected
            expected += 1
            for side, levels in ((bids, m["feed"]["bids"]), (asks, m["feed"]["asks"])):
                for lv in levels:
                    if lv["size"] == "0":
                        side.pop(lv["price"], None)
                    else:
                        side[lv["price"]] = lv["size"]
        _, book = await c.call("book", {"instrument": BTC, "depth": 500}, host="market_data")
        assert {lv["price"]: lv["size"] for lv in book["result"]["bids"]} == bids
        assert {lv["price"]: lv["size"] for lv in book["result"]["asks"]} == asks
        await ws.send_json({"jsonrpc": "2.0", "method": "subscribe", "id": 2,
                            "params": {"stream": "v1.book.d", "selectors": [f"{BTC}@70"]}})  # fmt: skip
        assert (await recv(ws, lambda m: m.get("id") == 2))["error"]["code"] == 3030
        await ws.send_json({"jsonrpc": "2.0", "method": "subscribe", "id": 3,
                            "params": {"stream": "v1.order", "selectors": ["1"]}})  # fmt: skip
        assert (await recv(ws, lambda m: m.get("id") == 3))["error"]["code"] == 1003


async def test_generated_key_and_single_base_url(cluster_factory: Any) -> None:
    """Paper mode: an account opened without a signer gets a key made by the simulator, whose orders pass;
    the root URL serves the login and every method for clients configured with one base URL."""
    sim = await cluster_factory(venues=("grvt",), dialect_options={"grvt": {"speed_bump_ms": 0.0}})
    acct = sim.add_grvt_account(50_000)
    assert acct.private_key is not None and Account.from_key(acct.private_key).address == acct.signer
    urls = sim.urls()["grvt"]
    assert urls["chain_id"] == "326"
    single = {**urls, "edge": urls["rest"], "trades": urls["rest"], "market_data": urls["rest"]}
    async with aiohttp.ClientSession() as http:
        c = Client(http, single, acct.api_key, acct.sub_account_id)
        await c.login()
        await c.ok("create_order", signed_order(c.sub, buy=True, size="0.01", price="99000.0", cid=3,
                                                key=acct.private_key))  # fmt: skip
        assert [o["metadata"]["client_order_id"] for o in (await c.ok("open_orders"))["result"]] == ["3"]
        assert (await c.call("all_instruments", {}, host="market_data", headers={}))[0] == 200
        summary = (await c.ok("account_summary"))["result"]
        assert summary["total_equity"] == "50000"
        assert await c.error("open_orders", {"sub_account_id": str(c.sub)}, headers={}) == (401, 1000)


async def test_wire_faults(cluster_factory: Any) -> None:
    """The fault plan reaches the GRVT wire: a 429 with GRVT's rate-limit code, a lost book.d message (a
    sequence gap the client must resync on) and a duplicated one (same number twice)."""
    from xtb.sim.faults import FaultKind, FaultRule

    from .proto_helpers import plan

    rules = (FaultRule(FaultKind.HTTP_429, every=1, max_count=1, retry_after_s=2.0, conn="grvt-rest"),
             FaultRule(FaultKind.SKIP_SEQ, every=3, max_count=1, conn="grvt-ws-*"),
             FaultRule(FaultKind.DUPLICATE_SEQ, every=5, max_count=1, conn="grvt-ws-*"))  # fmt: skip
    sim = await cluster_factory(venues=("grvt",), fault_plan=plan(*rules), generate=True, updates_per_s=40.0)
    urls = sim.urls()["grvt"]
    async with aiohttp.ClientSession() as http:
        async with http.post(urls["market_data"] + "/full/v1/all_instruments", json={}) as r:
            assert (r.status, (await r.json())["code"], r.headers["Retry-After"]) == (429, 1006, "2")
        async with http.post(urls["market_data"] + "/full/v1/all_instruments", json={}) as r:
            assert r.status == 200
        async with http.ws_connect(urls["market_ws"]) as ws:
            await ws.send_json({"jsonrpc": "2.0", "method": "subscribe", "id": 1,
                                "params": {"stream": "v1.book.d", "selectors": [f"{BTC}@50"]}})  # fmt: skip
            await recv(ws)
            seqs = [int((await recv(ws))["sequence_number"]) for _ in range(12)]
    steps = [b - a for a, b in itertools.pairwise(seqs)]
    assert seqs[0] == 0 and 2 in steps and 0 in steps and set(steps) <= {0, 1, 2}


def test_key_file_for_the_command_line(tmp_path: Any) -> None:
    from xtb.sim.__main__ import grvt_key

    good = tmp_path / "k"
    good.write_text("key123:0xE10eC9Bb1eE30Af8bE35B32B163E7458a07aD987:77\n")
    assert grvt_key(str(good)) == ("key123", "0xE10eC9Bb1eE30Af8bE35B32B163E7458a07aD987", 77)
    for text, why in (("justakey", "expected one line"), ("k:0xabc:notanumber", "SUB_ACCOUNT_ID")):
        bad = tmp_path / "bad"
        bad.write_text(text)
        with pytest.raises(SystemExit, match=why):
            grvt_key(str(bad))
    with pytest.raises(SystemExit, match="cannot read"):
        grvt_key(str(tmp_path / "missing"))


async def test_unknown_dialect_option_is_named(cluster_factory: Any) -> None:
    with pytest.raises(ValueError, match="bogus"):
        await cluster_factory(venues=("grvt",), dialect_options={"grvt": {"bogus": 1}})


async def test_speed_bump_delays_orders_that_may_take(cluster_factory: Any) -> None:
    """Non-post-only orders wait the speed bump before they reach the book; post-only orders do not."""
    sim = await cluster_factory(venues=("grvt",), dialect_options={"grvt": {"speed_bump_ms": 300.0}})
    acct = sim.add_grvt_account(100_000, signer=Account.from_key(KEY).address)
    async with aiohttp.ClientSession() as http:
        c = Client(http, sim.urls()["grvt"], acct.api_key, acct.sub_account_id)
        await c.login()
        t0 = time.monotonic()
        await c.ok("create_order", signed_order(c.sub, buy=True, size="0.01", price="99000.0", cid=1, post_only=True))
        t1 = time.monotonic()
        await c.ok("create_order", signed_order(c.sub, buy=True, size="0.01", price="99000.0", cid=2))
        t2 = time.monotonic()
    assert t1 - t0 < 0.25 and t2 - t1 >= 0.3


async def test_reduce_only(cluster_factory: Any) -> None:
    """Reduce-only with no position ends REJECTED (FAIL_REDUCE_ONLY); against a long it sells at most the
    position."""
    sim, http, c = await setup(cluster_factory)
    async with http:
        add_liquidity(sim, Side.SELL, 1_000_000, 1_000)
        add_liquidity(sim, Side.BUY, 999_000, 1_000)
        await c.ok("create_order", signed_order(c.sub, buy=False, size="0.01", price=None, cid=1, reduce_only=True,
                                                tif="IMMEDIATE_OR_CANCEL"))  # fmt: skip
        state = (await c.order(1))["state"]
        assert (state["status"], state["reject_reason"]) == ("REJECTED", "FAIL_REDUCE_ONLY")
        await c.ok("create_order", signed_order(c.sub, buy=True, size="0.02", price=None, cid=2,
                                                tif="IMMEDIATE_OR_CANCEL"))  # fmt: skip
        assert (await c.order(2))["state"]["status"] == "FILLED"
        await c.ok("create_order", signed_order(c.sub, buy=False, size="0.05", price=None, cid=3, reduce_only=True,
                                                tif="IMMEDIATE_OR_CANCEL"))  # fmt: skip
        assert (await c.order(3))["state"]["traded_size"] == ["0.020"]
        assert (await c.ok("positions"))["result"] == []
