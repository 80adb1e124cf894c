"""Binance USD-M front-end of the simulator: HMAC over the raw received string and the recvWindow rule,
the /fapi endpoints with the venue's error codes, weight/order-count headers, 429 -> 418, the routed
market streams (contiguous U/u/pu) and the user data stream. The client here is plain Python (hmac +
urlencode), independent of the core's signer."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import pytest
from yarl import URL

from xtb.sim.binance.server import Limits, _strip_signature
from xtb.sim.types import OrderRequest, Side

from .proto_helpers import cluster_factory_fixture, no_frame, recv_json, recv_until

pytestmark = pytest.mark.timeout(60)

cluster_factory = cluster_factory_fixture


class Client:
    def __init__(self, http: aiohttp.ClientSession, base: str, api_key: str, secret: str) -> None:
        self.http, self.base, self.api_key, self.secret = http, base, api_key, secret
        self.offset_ms = 0

    def sign(self, params: dict[str, Any], prefix: str = "", recv_window: int = 5000,
             timestamp: int | None = None) -> str:  # fmt: skip
        ts = timestamp if timestamp is not None else int(time.time() * 1000) + self.offset_ms
        text = urlencode({**params, "recvWindow": recv_window, "timestamp": ts})
        sig = hmac.new(self.secret.encode(), (prefix + text).encode(), hashlib.sha256).hexdigest()
        return f"{text}&signature={sig}"

    async def call(self, method: str, path: str, params: dict[str, Any] | None = None, *, body: bool = False,
                   **kw: Any) -> tuple[int, Any, dict[str, str]]:  # fmt: skip
        signed = self.sign(params or {}, **kw)
        headers = {"X-MBX-APIKEY": self.api_key}
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            req = self.http.request(method, self.base + path, data=signed, headers=headers)
        else:
            # encoded=True: send the signed bytes exactly (yarl would otherwise re-quote the query)
            req = self.http.request(method, URL(f"{self.base}{path}?{signed}", encoded=True), headers=headers)
        async with req as resp:
            return resp.status, orjson.loads(await resp.read()), dict(resp.headers)

    async def public(self, path: str, **params: Any) -> Any:
        async with self.http.get(self.base + path, params=params) as resp:
            assert resp.status == 200, await resp.text()
            return orjson.loads(await resp.read())


async def setup(cluster_factory: Any, **kw: Any) -> tuple[Any, Client, aiohttp.ClientSession, int]:
    sim = await cluster_factory(venues=("binance_usdm",), **kw)
    api_key, secret, account = sim.add_binance_account(100_000)
    http = aiohttp.ClientSession()
    return sim, Client(http, sim.urls()["binance_usdm"]["rest"], api_key, secret), http, account


def seed_book(sim: Any, symbol: str = "BTCUSDC", bid: int = 999_000, ask: int = 1_001_000, qty: int = 2_000) -> int:
    """A maker account resting one bid and one ask (price units: 0.1, quantity units: 0.001)."""
    from xtb.sim.types import AccountConfig

    ex = sim.venues["binance_usdm"].exchange
    maker = ex.create_account(10**20, config=AccountConfig(check_margin=False, check_order_limits=False))
    market = ex.market_by_symbol(symbol).market_id
    ex.place_order(OrderRequest(maker, market, Side.BUY, qty, bid))
    ex.place_order(OrderRequest(maker, market, Side.SELL, qty, ask))
    return maker


def test_strip_signature_takes_it_from_query_or_body() -> None:
    assert _strip_signature("a=1&signature=ff", "") == ("a=1", "ff")
    assert _strip_signature("a=1", "b=2&signature=ff") == ("a=1b=2", "ff")
    assert _strip_signature("a=1", "b=2") == ("a=1b=2", None)


async def test_signed_order_lifecycle_and_error_codes(cluster_factory: Any) -> None:
    sim, c, http, account = await setup(cluster_factory)
    async with http:
        seed_book(sim)
        info = await c.public("/fapi/v1/exchangeInfo")
        btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDC")
        filters = {f["filterType"]: f for f in btc["filters"]}
        assert filters["PRICE_FILTER"]["tickSize"] == "0.1" and filters["LOT_SIZE"]["stepSize"] == "0.001"
        assert filters["MIN_NOTIONAL"]["notional"] == "5" and btc["marginAsset"] == "USDC"
        assert {s["marginAsset"] for s in info["symbols"]} == {"USDC", "USDT"}
        depth = await c.public("/fapi/v1/depth", symbol="BTCUSDC", limit=5)
        assert depth["bids"] == [["99900.0", "2.000"]] and depth["asks"] == [["100100.0", "2.000"]]
        assert isinstance(depth["lastUpdateId"], int)

        order = {"symbol": "BTCUSDC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                 "quantity": "0.010", "price": "99000.0", "newClientOrderId": "mm-1"}  # fmt: skip
        status, body, headers = await c.call("POST", "/fapi/v1/order", order, body=True)
        assert status == 200, body
        assert body["status"] == "NEW" and body["clientOrderId"] == "mm-1" and body["price"] == "99000.0"
        assert headers["X-MBX-ORDER-COUNT-10S"] == "1" and headers["X-MBX-ORDER-COUNT-1M"] == "1"
        assert "X-MBX-USED-WEIGHT-1M" in headers
        # duplicate client id while open
        status, body, _ = await c.call("POST", "/fapi/v1/order", order, body=True)
        assert (status, body["code"]) == (400, -4116)
        status, opened, _ = await c.call("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDC"})
        assert [o["clientOrderId"] for o in opened] == ["mm-1"]
        status, q, _ = await c.call("GET", "/fapi/v1/order", {"symbol": "BTCUSDC", "origClientOrderId": "mm-1"})
        assert q["orderId"] == opened[0]["orderId"]
        status, cancelled, _ = await c.call("DELETE", "/fapi/v1/order",
                                            {"symbol": "BTCUSDC", "origClientOrderId": "mm-1"})  # fmt: skip
        assert cancelled["status"] == "CANCELED"
        status, body, _ = await c.call("DELETE", "/fapi/v1/order", {"symbol": "BTCUSDC", "orderId": 12345})
        assert (status, body["code"]) == (400, -2011)
        status, body, _ = await c.call("GET", "/fapi/v1/order", {"symbol": "BTCUSDC", "orderId": 12345})
        assert (status, body["code"]) == (400, -2013)

        # GTX that would take -> -5022, below min notional -> -4164, conditional type -> -4120
        gtx = {**order, "newClientOrderId": "mm-2", "price": "100200.0", "timeInForce": "GTX"}
        status, body, _ = await c.call("POST", "/fapi/v1/order", gtx)
        assert (status, body["code"]) == (400, -5022)
        small = {**order, "newClientOrderId": "mm-3", "quantity": "0.001", "price": "4000.0"}
        status, body, _ = await c.call("POST", "/fapi/v1/order", small)
        assert body["code"] in (-4164, -4024)  # below min notional (or under the band once a mark exists)
        stop = {**order, "newClientOrderId": "mm-4", "type": "STOP_MARKET"}
        status, body, _ = await c.call("POST", "/fapi/v1/order", stop)
        assert (status, body["code"]) == (400, -4120)
        status, body, _ = await c.call("POST", "/fapi/v1/order", {**order, "newClientOrderId": "mm-5",
                                                                  "quantity": "1000.000"})  # fmt: skip
        assert (status, body["code"]) == (400, -2019)
        # MARKET with RESULT-free ACK: it takes the ask
        status, body, _ = await c.call("POST", "/fapi/v1/order", {"symbol": "BTCUSDC", "side": "BUY",
                                                                  "type": "MARKET", "quantity": "0.005"})  # fmt: skip
        assert status == 200 and body["status"] == "FILLED" and body["avgPrice"] == "100100"
        status, pos, _ = await c.call("GET", "/fapi/v3/positionRisk", {"symbol": "BTCUSDC"})
        assert pos[0]["positionAmt"] == "0.005"
        status, trades, _ = await c.call("GET", "/fapi/v1/userTrades", {"symbol": "BTCUSDC"})
        assert len(trades) == 1 and trades[0]["price"] == "100100.0" and trades[0]["buyer"] is True
        status, income, _ = await c.call("GET", "/fapi/v1/income", {})
        assert [r["incomeType"] for r in income] == ["COMMISSION"]
        # reduce-only that would increase -> -2022
        status, body, _ = await c.call("POST", "/fapi/v1/order", {**order, "newClientOrderId": "mm-6",
                                                                  "reduceOnly": "true"})  # fmt: skip
        assert (status, body["code"]) == (400, -2022)
        status, acct, _ = await c.call("GET", "/fapi/v3/account", {})
        assert acct["assets"][0]["asset"] == "USDC" and float(acct["totalWalletBalance"]) < 100_000
        status, bal, _ = await c.call("GET", "/fapi/v3/balance", {})
        assert {b["asset"] for b in bal} == {"USDC", "USDT"}
        status, body, _ = await c.call("DELETE", "/fapi/v1/allOpenOrders", {"symbol": "BTCUSDC"})
        assert body["code"] == 200


async def test_percent_price_band_around_the_mark_is_4016_above_and_4024_below(cluster_factory: Any) -> None:
    sim, c, http, account = await setup(cluster_factory)
    async with http:
        seed_book(sim)
        ex = sim.venues["binance_usdm"].exchange
        ex.set_mark_price(ex.market_by_symbol("BTCUSDC").market_id, 1_000_000)  # 100000.0; band 0.95 .. 1.05
        order = {"symbol": "BTCUSDC", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.010"}
        status, body, _ = await c.call("POST", "/fapi/v1/order", {**order, "side": "SELL", "price": "105000.1"})
        assert (status, body) == (400, {"code": -4016, "msg": "Limit price can't be higher than 105000.0."})
        status, body, _ = await c.call("POST", "/fapi/v1/order", {**order, "side": "BUY", "price": "94999.9"})
        assert (status, body) == (400, {"code": -4024, "msg": "Limit price can't be lower than 95000.0."})
        # the edges are inside: both rest
        for side, px in (("SELL", "105000.0"), ("BUY", "95000.0")):
            status, body, _ = await c.call("POST", "/fapi/v1/order", {**order, "side": side, "price": px})
            assert status == 200 and body["status"] == "NEW", body
        assert len(ex.open_orders(account)) == 2


async def test_signature_and_timestamp_rules(cluster_factory: Any) -> None:
    sim, c, http, _ = await setup(cluster_factory)
    async with http:
        # the parameters split between query string and body: signed as query + body, no '&' between
        query = urlencode({"symbol": "BTCUSDC"})
        body = c.sign({"marginType": "ISOLATED"}, prefix=query)
        async with http.post(f"{c.base}/fapi/v1/marginType?{query}", data=body,
                             headers={"X-MBX-APIKEY": c.api_key,
                                      "Content-Type": "application/x-www-form-urlencoded"}) as resp:  # fmt: skip
            assert resp.status == 200, await resp.text()
        status, body2, _ = await c.call("POST", "/fapi/v1/marginType", {"symbol": "BTCUSDC", "marginType": "ISOLATED"})
        assert body2["code"] == -4046
        # a tampered parameter
        signed = c.sign({"symbol": "BTCUSDC"}).replace("BTCUSDC", "ETHUSDC")
        async with http.get(f"{c.base}/fapi/v1/openOrders?{signed}", headers={"X-MBX-APIKEY": c.api_key}) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == -1022
        now = int(time.time() * 1000)
        status, body3, _ = await c.call("GET", "/fapi/v1/openOrders", {}, timestamp=now - 6000)
        assert (status, body3["code"]) == (400, -1021) and "recvWindow" in body3["msg"]
        status, body3, _ = await c.call("GET", "/fapi/v1/openOrders", {}, timestamp=now - 6000, recv_window=10000)
        assert status == 200
        status, body3, _ = await c.call("GET", "/fapi/v1/openOrders", {}, timestamp=now + 1500)
        assert (status, body3["code"]) == (400, -1021) and "ahead" in body3["msg"]
        status, body3, _ = await c.call("GET", "/fapi/v1/openOrders", {}, recv_window=60001)
        assert status == 400
        async with http.get(f"{c.base}/fapi/v1/openOrders?{c.sign({})}", headers={"X-MBX-APIKEY": "nope"}) as resp:
            assert (await resp.json())["code"] == -2015
        status, lev, _ = await c.call("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDC", "leverage": 5})
        assert lev == {"leverage": 5, "maxNotionalValue": "1000000", "symbol": "BTCUSDC"}
        status, lev, _ = await c.call("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDC", "leverage": 500})
        assert status == 400


async def test_batch_orders_report_each_order(cluster_factory: Any) -> None:
    sim, c, http, _ = await setup(cluster_factory)
    async with http:
        seed_book(sim)
        good = {"symbol": "BTCUSDC", "side": "SELL", "type": "LIMIT", "timeInForce": "GTX", "quantity": "0.010"}
        batch = [{**good, "price": "101000", "newClientOrderId": "b1"},
                 {**good, "price": "99000", "newClientOrderId": "b2"},  # post-only would take
                 {**good, "price": "101500", "newClientOrderId": "b3"}]  # fmt: skip
        status, body, headers = await c.call("POST", "/fapi/v1/batchOrders",
                                             {"batchOrders": orjson.dumps(batch).decode()}, body=True)  # fmt: skip
        assert status == 200
        assert body[0]["clientOrderId"] == "b1" and body[1]["code"] == -5022 and body[2]["clientOrderId"] == "b3"
        assert headers["X-MBX-ORDER-COUNT-10S"] == "5"
        status, body, _ = await c.call("POST", "/fapi/v1/batchOrders",
                                       {"batchOrders": orjson.dumps([batch[0]] * 6).decode()})  # fmt: skip
        assert status == 400 and body["code"] == -1130


async def test_rate_limit_429_then_418(cluster_factory: Any) -> None:
    sim, c, http, _ = await setup(cluster_factory)
    sim.venues["binance_usdm"].server.limiter.limits = Limits(weight_1m=10, ban_after_429s=2, ban_s=30)
    async with http:
        statuses = []
        for _ in range(15):
            async with http.get(f"{c.base}/fapi/v1/depth", params={"symbol": "BTCUSDC", "limit": 5}) as resp:
                statuses.append((resp.status, resp.headers.get("Retry-After")))
        codes = [s for s, _ in statuses]
        assert codes[:5] == [200] * 5 and 429 in codes and codes[-1] == 418
        assert codes.index(418) > codes.index(429)
        assert all(r is not None for s, r in statuses if s in (429, 418))


async def test_market_streams_are_routed_and_contiguous(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("binance_usdm",), generate=True, updates_per_s=40)
    base = sim.venues["binance_usdm"].server.urls
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{base['public']}/stream?streams=btcusdc@depth@100ms/btcusdc@bookTicker") as pub, \
                http.ws_connect(f"{base['market']}/ws") as mkt, \
                http.ws_connect(f"{base['public']}/ws/btcusdc@aggTrade") as wrong:  # fmt: skip
            await mkt.send_str(orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdc@aggTrade",
                                                                             "btcusdc@markPrice"], "id": 7}).decode())
            assert await recv_json(mkt) == {"result": None, "id": 7}
            prev_u = None
            kinds: set[str] = set()
            for _ in range(40):
                frame = await recv_json(pub)
                data = frame["data"]
                kinds.add(data["e"])
                if data["e"] == "depthUpdate":
                    assert frame["stream"] == "btcusdc@depth@100ms" and data["U"] <= data["u"]
                    if prev_u is not None:
                        assert data["pu"] == prev_u
                    prev_u = data["u"]
            assert kinds == {"depthUpdate", "bookTicker"}
            got = await recv_until(mkt, lambda f: f.get("e") in ("aggTrade", "markPriceUpdate"))
            assert got["s"] == "BTCUSDC"
            assert await no_frame(wrong, 0.5)  # aggTrade on /public: silently nothing


async def test_user_data_stream(cluster_factory: Any) -> None:
    sim, c, http, account = await setup(cluster_factory, binance_listen_key_ttl_s=2.0)
    server = sim.venues["binance_usdm"].server
    async with http:
        maker = seed_book(sim)
        async with http.post(f"{c.base}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": c.api_key}) as resp:
            key = (await resp.json())["listenKey"]
        async with http.ws_connect(f"{server.urls['private']}/ws/{key}") as ws:
            order = {"symbol": "BTCUSDC", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
                     "quantity": "0.010", "price": "100000.0", "newClientOrderId": "u1"}  # fmt: skip
            status, body, _ = await c.call("POST", "/fapi/v1/order", order)
            assert status == 200
            new = await recv_json(ws)
            assert new["e"] == "ORDER_TRADE_UPDATE" and new["o"]["x"] == "NEW" and new["o"]["c"] == "u1"
            ex = sim.venues["binance_usdm"].exchange
            ex.place_order(OrderRequest(maker, 0, Side.BUY, 4, 100_000 * 10))
            trade = await recv_until(ws, lambda f: f["e"] == "ORDER_TRADE_UPDATE")
            o = trade["o"]
            assert (o["x"], o["X"], o["l"], o["L"], o["z"], o["m"]) == ("TRADE", "PARTIALLY_FILLED", "0.004",
                                                                       "100000.0", "0.004", True)  # fmt: skip
            lite = await recv_until(ws, lambda f: f["e"] == "TRADE_LITE")
            assert lite["i"] == o["i"] and lite["l"] == "0.004"
            upd = await recv_until(ws, lambda f: f["e"] == "ACCOUNT_UPDATE")
            assert upd["a"]["P"][0]["pa"] == "-0.004"
            # keepalive works; then the key expires: listenKeyExpired and the socket closes
            async with http.put(f"{c.base}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": c.api_key}) as resp:
                assert resp.status == 200
            expired = await recv_until(ws, lambda f: f["e"] == "listenKeyExpired", timeout=10)
            assert expired["listenKey"] == key
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        async with http.put(f"{c.base}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": c.api_key}) as resp:
            assert (await resp.json())["code"] == -1125


async def test_ws_api_order_place_and_cancel(cluster_factory: Any) -> None:
    sim, c, http, _ = await setup(cluster_factory)
    server = sim.venues["binance_usdm"].server

    def signed(params: dict[str, Any]) -> dict[str, Any]:
        p = {**params, "apiKey": c.api_key, "timestamp": int(time.time() * 1000)}
        payload = "&".join(f"{k}={v}" for k, v in sorted(p.items()))
        return {**p, "signature": hmac.new(c.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()}

    async with http, http.ws_connect(server.urls["ws_api"]) as ws:
        place = {"symbol": "BTCUSDC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                 "quantity": "0.010", "price": "90000", "newClientOrderId": "w1"}  # fmt: skip
        await ws.send_str(orjson.dumps({"id": "a", "method": "order.place", "params": signed(place)}).decode())
        reply = await recv_json(ws)
        assert reply["status"] == 200 and reply["result"]["status"] == "NEW"
        bad = {**signed(place), "price": "91000"}
        await ws.send_str(orjson.dumps({"id": "b", "method": "order.place", "params": bad}).decode())
        assert (await recv_json(ws))["error"]["code"] == -1022
        cancel = {"symbol": "BTCUSDC", "origClientOrderId": "w1"}
        await ws.send_str(orjson.dumps({"id": "c", "method": "order.cancel", "params": signed(cancel)}).decode())
        reply = await recv_json(ws)
        assert reply["id"] == "c" and reply["result"]["status"] == "CANCELED"


async def test_fok_that_cannot_fill_is_refused_5021_and_not_recorded(cluster_factory: Any) -> None:
    sim, c, http, account = await setup(cluster_factory)
    server = sim.venues["binance_usdm"].server
    async with http:
        seed_book(sim, qty=2_000)  # 2.000 on each side
        async with http.post(f"{c.base}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": c.api_key}) as resp:
            key = (await resp.json())["listenKey"]
        async with http.ws_connect(f"{server.urls['private']}/ws/{key}") as ws:
            fok = {"symbol": "BTCUSDC", "side": "BUY", "type": "LIMIT", "timeInForce": "FOK",
                   "quantity": "3.000", "price": "100100.0", "newClientOrderId": "f1"}  # fmt: skip
            status, body, _ = await c.call("POST", "/fapi/v1/order", fok)
            assert (status, body["code"]) == (400, -5021) and "FOK" in body["msg"]
            status, body, _ = await c.call("GET", "/fapi/v1/order", {"symbol": "BTCUSDC", "origClientOrderId": "f1"})
            assert (status, body["code"]) == (400, -2013)  # not recorded
            assert await no_frame(ws, 0.3)  # and no user-stream event for it
            # a FOK that can fill fills whole, and its events go out
            status, body, _ = await c.call("POST", "/fapi/v1/order", {**fok, "quantity": "1.000",
                                                                      "newClientOrderId": "f2"})  # fmt: skip
            assert status == 200 and body["status"] == "FILLED" and body["executedQty"] == "1.000"
            got = await recv_until(ws, lambda f: f["e"] == "ORDER_TRADE_UPDATE" and f["o"]["X"] == "FILLED")
            assert got["o"]["c"] == "f2"
        # in a batch the refusal is that order's result
        status, body, headers = await c.call("POST", "/fapi/v1/batchOrders", {"batchOrders": orjson.dumps(
            [{**fok, "newClientOrderId": "f3", "quantity": "5.000"}]).decode()}, body=True)  # fmt: skip
        assert status == 200 and body[0]["code"] == -5021
        # a batch counts 5 on the 10 s order counter and 1 on the minute's (the orders before: f1, f2)
        assert headers["X-MBX-ORDER-COUNT-10S"] == "7" and headers["X-MBX-ORDER-COUNT-1M"] == "3"


async def test_funding_fee_income_rows_and_account_update(cluster_factory: Any) -> None:
    sim, c, http, account = await setup(cluster_factory)
    server = sim.venues["binance_usdm"].server
    ex = sim.venues["binance_usdm"].exchange
    market = ex.market_by_symbol("BTCUSDC").market_id
    async with http:
        seed_book(sim)
        status, body, _ = await c.call("POST", "/fapi/v1/order", {"symbol": "BTCUSDC", "side": "BUY",
                                                                  "type": "MARKET", "quantity": "0.100"})  # fmt: skip
        assert status == 200 and body["status"] == "FILLED"
        async with http.post(f"{c.base}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": c.api_key}) as resp:
            key = (await resp.json())["listenKey"]
        async with http.ws_connect(f"{server.urls['private']}/ws/{key}") as ws:
            ex.set_mark_price(market, 1_000_000)  # 100000.0
            cash_before = ex.balance(account).cash
            ex.settle_funding(market, rate_ppm=100)  # longs pay 0.01 % of 0.1 * 100000 = 1 USDC
            paid = cash_before - ex.balance(account).cash
            assert paid > 0
            upd = await recv_until(ws, lambda f: f["e"] == "ACCOUNT_UPDATE" and f["a"]["m"] == "FUNDING_FEE")
            assert upd["a"]["B"][0]["a"] == "USDC" and upd["a"]["P"] == []
        status, rows, _ = await c.call("GET", "/fapi/v1/income", {"incomeType": "FUNDING_FEE"})
        assert status == 200 and len(rows) == 1
        row = rows[0]
        assert (row["symbol"], row["incomeType"], row["asset"]) == ("BTCUSDC", "FUNDING_FEE", "USDC")
        scale = 10 ** ex.rules.cash_decimals
        assert float(row["income"]) == pytest.approx(-paid / scale) and float(row["income"]) == pytest.approx(-1.0)


async def test_position_mode_read_and_switch_rules(cluster_factory: Any) -> None:
    sim, c, http, account = await setup(cluster_factory)
    async with http:
        status, body, _ = await c.call("GET", "/fapi/v1/positionSide/dual", {})
        assert (status, body) == (200, {"dualSidePosition": False})
        status, body, _ = await c.call("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "false"})
        assert (status, body["code"]) == (400, -4059)
        status, body, _ = await c.call("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "true"})
        assert status == 200
        status, body, _ = await c.call("GET", "/fapi/v1/positionSide/dual", {})
        assert body == {"dualSidePosition": True}
        # hedge mode is not modelled: orders are refused as a position-side mismatch
        order = {"symbol": "BTCUSDC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                 "quantity": "0.010", "price": "90000"}  # fmt: skip
        status, body, _ = await c.call("POST", "/fapi/v1/order", order)
        assert (status, body["code"]) == (400, -4061)
        status, body, _ = await c.call("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "false"})
        assert status == 200
        status, body, _ = await c.call("POST", "/fapi/v1/order", order)
        assert status == 200
        status, body, _ = await c.call("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "true"})
        assert (status, body["code"]) == (400, -4067)  # not with open orders


async def test_depth_events_aggregate_per_stream_interval(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("binance_usdm",), generate=True, updates_per_s=200)
    base = sim.venues["binance_usdm"].server.urls
    url = f"{base['public']}/stream?streams=btcusdc@depth@100ms/btcusdc@depth@500ms"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        seen: dict[str, list[tuple[float, dict[str, Any]]]] = {"btcusdc@depth@100ms": [], "btcusdc@depth@500ms": []}
        deadline = time.monotonic() + 10
        while len(seen["btcusdc@depth@500ms"]) < 4 and time.monotonic() < deadline:
            frame = await recv_json(ws)
            seen[frame["stream"]].append((time.monotonic(), frame["data"]))
        for name, interval in (("btcusdc@depth@100ms", 0.1), ("btcusdc@depth@500ms", 0.5)):
            events = seen[name]
            assert len(events) >= 4, name
            for (t0, a), (t1, b) in itertools.pairwise(events):
                assert b["pu"] == a["u"], name  # contiguous across aggregated events
                assert b["U"] == a["u"] + 1
                assert t1 - t0 > interval * 0.5, name  # not one event per change
            # at 200 changes/s an interval holds several changes: one event covers them
            assert max(d["u"] - d["U"] for _, d in events) > 2, name


async def test_standalone_sim_registers_keys_from_the_command_line_and_key_files(tmp_path: Any) -> None:
    import os
    import sys

    key_file = tmp_path / "binance_key.txt"  # the bot's own key-file format
    key_file.write_text("api key: FILEKEY\napi secret: FILESECRET\n")
    os.chmod(key_file, 0o600)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "xtb.sim", "--venues", "binance_usdm", "--duration", "20",
        "--binance-key", "CLIKEY:CLISECRET", "--binance-key-file", str(key_file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any(line.startswith("binance_usdm: rest") for line in lines):
            line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
            assert line, f"the simulator exited: {lines}"
            lines.append(line.strip())
        text = "\n".join(lines)
        assert "for api key CLIK..." in text and "for api key FILE..." in text
        assert "CLISECRET" not in text and "FILESECRET" not in text  # secrets never printed
        rest = next(line for line in lines if line.startswith("binance_usdm: rest")).split()[2]
        async with aiohttp.ClientSession() as http:
            for key, secret in (("CLIKEY", "CLISECRET"), ("FILEKEY", "FILESECRET")):
                status, body, _ = await Client(http, rest, key, secret).call("GET", "/fapi/v3/balance", {})
                assert status == 200 and body, (key, body)
            status, body, _ = await Client(http, rest, "CLIKEY", "WRONG").call("GET", "/fapi/v3/balance", {})
            assert (status, body["code"]) == (400, -1022)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)
    bad = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "xtb.sim", "--venues", "binance_usdm", "--duration", "0.1", "--binance-key", "nocolon",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(bad.communicate(), 30)
    assert bad.returncode != 0 and b"--binance-key noco...: expected API_KEY:SECRET" in err
