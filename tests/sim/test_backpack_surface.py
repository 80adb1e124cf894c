"""Backpack front-end surface beyond orders: market data that follows the trades (trades, klines, open
interest, funding), account histories with the venue's paging headers, order limits, leverage updates, the
`kline` and `openInterest` streams, and the venue-style refusal of non-perp paths."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from xtb.sim.types import OrderRequest, OrderType, Side, TimeInForce

from .proto_helpers import BackpackSigner, cluster_factory_fixture, recv_until  # noqa: F401

pytestmark = pytest.mark.timeout(30)
SOL = "SOL_USDC_PERP"


async def signed(
    http: aiohttp.ClientSession, base: str, signer: BackpackSigner, method: str, path: str, instruction: str,
    params: dict[str, Any],
) -> tuple[int, Any, Any]:  # fmt: skip
    headers = signer.headers(instruction, params)
    if method == "GET":
        resp = await http.request(method, base + path, params=params, headers=headers)
    else:
        resp = await http.request(method, base + path, json=params, headers=headers)
    body = await resp.read()
    return resp.status, resp.headers, (await resp.json()) if body else None


def trade(ex: Any, account: int, side: Side, qty: int, price: int) -> None:
    """A resting order from a counterparty, taken by `account` (SOL: 2 price / 2 size decimals)."""
    maker = ex.create_account(10**20)
    market = ex.market_by_symbol(SOL).market_id
    ex.place_order(OrderRequest(maker, market, side.opposite, qty, price))
    ex.place_order(OrderRequest(account, market, side, qty, None, OrderType.MARKET, TimeInForce.IOC))


async def test_market_data_follows_trades(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",))
    ex = sim.venues["backpack"].exchange
    base = sim.urls()["backpack"]["rest"]
    taker = ex.create_account(10**20)
    trade(ex, taker, Side.BUY, 150, 14_000)  # 1.5 SOL at 140.00
    trade(ex, taker, Side.BUY, 50, 14_100)
    async with aiohttp.ClientSession() as http:
        trades = await (await http.get(f"{base}/api/v1/trades", params={"symbol": SOL})).json()
        assert [(t["price"], t["quantity"], t["isBuyerMaker"]) for t in trades] == [
            ("140.00", "1.50", False),
            ("141.00", "0.50", False),
        ]
        assert trades[0]["quoteQuantity"] == "210"
        hist = await (await http.get(f"{base}/api/v1/trades/history", params={"symbol": SOL, "limit": "1"})).json()
        assert [t["price"] for t in hist] == ["141.00"]  # newest first
        oi = await (await http.get(f"{base}/api/v1/openInterest", params={"symbol": SOL})).json()
        assert oi[0]["openInterest"] == "2.00"
        resp = await http.get(f"{base}/api/v1/klines", params={"symbol": SOL, "interval": "1h", "startTime": "0"})
        assert resp.headers["Cache-Control"]
        (candle,) = await resp.json()
        assert (candle["open"], candle["high"], candle["low"], candle["close"]) == (
            "140.00",
            "141.00",
            "140.00",
            "141.00",
        )
        assert (candle["volume"], candle["trades"]) == ("2.00", "2")
        markets = await (await http.get(f"{base}/api/v1/markets")).json()
        sol = next(m for m in markets if m["symbol"] == SOL)
        assert sol["filters"]["price"]["maxPrice"] == "10000000.00"
        assert sol["imfFunction"] == {"type": "sqrt", "base": "0.1", "factor": "0"}
        assert sol["fundingRateUpperBound"] == "100"
        assets = await (await http.get(f"{base}/api/v1/assets")).json()
        assert {a["symbol"] for a in assets} == {"USDC", "BTC", "ETH", "SOL"}
        assert await (await http.get(f"{base}/api/v1/ping")).text() == "pong"


async def test_account_histories_page_with_the_venues_headers(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",))
    ex = sim.venues["backpack"].exchange
    _, secret, acct = sim.add_backpack_account()
    signer = BackpackSigner(secret)
    base = sim.urls()["backpack"]["rest"]
    market = ex.market_by_symbol(SOL).market_id
    for _ in range(3):
        trade(ex, acct, Side.BUY, 100, 14_000)
    ex.set_mark_price(market, 14_000)
    ex.settle_funding(market, 100)  # 0.01 % on 3 SOL long at 140: the long pays 0.042
    trade(ex, acct, Side.SELL, 300, 14_100)  # closed at a profit of 3.00
    async with aiohttp.ClientSession() as http:
        status, headers, fills = await signed(
            http, base, signer, "GET", "/wapi/v1/history/fills", "fillHistoryQueryAll", {"limit": "2"}
        )
        assert status == 200 and len(fills) == 2
        assert (headers["X-TOTAL"], headers["X-PAGE-SIZE"], headers["X-PAGE-COUNT"], headers["X-CURRENT-PAGE"]) == (
            "4", "2", "2", "1",
        )  # fmt: skip
        assert fills[0]["side"] == "Ask"  # newest first
        _, _, asc = await signed(
            http, base, signer, "GET", "/wapi/v1/history/fills", "fillHistoryQueryAll",
            {"limit": "2", "offset": "2", "sortDirection": "Asc"},
        )  # fmt: skip
        assert [f["side"] for f in asc] == ["Bid", "Ask"]
        _, _, funding = await signed(
            http, base, signer, "GET", "/wapi/v1/history/funding", "fundingHistoryQueryAll", {}
        )
        assert [(f["symbol"], f["quantity"], f["fundingRate"]) for f in funding] == [(SOL, "-0.042", "0.0001")]
        _, _, rows = await signed(http, base, signer, "GET", "/wapi/v1/history/position", "positionHistoryQueryAll", {})
        (row,) = rows
        assert (row["state"], row["closedVolume"], row["cumulativePnlRealized"]) == ("Closed", "3.00", "3")
        assert row["fundingQuantity"] == "-0.042" and row["closingPrice"] == "141.00"
        _, _, settlements = await signed(
            http, base, signer, "GET", "/wapi/v1/history/settlement", "settlementHistoryQueryAll",
            {"source": "FundingPayment"},
        )  # fmt: skip
        assert [s["quantity"] for s in settlements] == ["-0.042"]
        rates = await (await http.get(f"{base}/api/v1/fundingRates", params={"symbol": SOL})).json()
        assert [r["fundingRate"] for r in rates] == ["0.0001"]


async def test_order_limit_and_leverage(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",))
    ex = sim.venues["backpack"].exchange
    _, secret, acct = sim.add_backpack_account(collateral_usdc=1_000)
    signer = BackpackSigner(secret)
    base = sim.urls()["backpack"]["rest"]
    async with aiohttp.ClientSession() as http:
        params = {"symbol": SOL, "side": "Bid", "price": "100"}
        _, _, body = await signed(http, base, signer, "GET", "/api/v1/account/limits/order", "maxOrderQuantity", params)
        assert body["maxOrderQuantity"] == "100.00"  # 1,000 USDC at 10x (IMF 0.1) buys 10,000 / 100
        status, _, _ = await signed(
            http, base, signer, "PATCH", "/api/v1/account", "accountUpdate", {"leverageLimit": "5"}
        )
        assert status == 200 and ex.account_config(acct).leverage == 5
        _, _, body = await signed(http, base, signer, "GET", "/api/v1/account/limits/order", "maxOrderQuantity", params)
        assert body["maxOrderQuantity"] == "50.00"
        status, _, body = await signed(
            http, base, signer, "PATCH", "/api/v1/account", "accountUpdate", {"leverageLimit": "2.5"}
        )
        assert status == 400 and ex.account_config(acct).leverage == 5


async def test_kline_and_open_interest_streams(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",))
    ex = sim.venues["backpack"].exchange
    sim.venues["backpack"].server.open_interest_interval_s = 0.2
    taker = ex.create_account(10**20)
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["backpack"]["ws"]) as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": [f"kline.1m.{SOL}", f"openInterest.{SOL}"]})
        await asyncio.sleep(0.1)
        trade(ex, taker, Side.BUY, 150, 14_000)
        trade(ex, taker, Side.BUY, 50, 14_100)
        k = await recv_until(ws, lambda f: f["stream"] == f"kline.1m.{SOL}" and f["data"]["n"] == 2)
        data = k["data"]
        assert (data["o"], data["h"], data["l"], data["c"], data["v"], data["X"]) == (
            "140.00", "141.00", "140.00", "141.00", "2.00", False,
        )  # fmt: skip
        assert data["t"].endswith(":00") and "T" in data["t"]
        oi = await recv_until(ws, lambda f: f["stream"] == f"openInterest.{SOL}")
        assert oi["data"]["o"] == "2.00" and oi["data"]["e"] == "openInterest"
        await ws.send_json({"method": "SUBSCRIBE", "params": ["liquidation"]})  # accepted, silent
        await ws.send_json({"method": "SUBSCRIBE", "params": [f"kline.7m.{SOL}"]})
        err = await recv_until(ws, lambda f: "error" in f)
        assert err["error"]["code"] == 4006


async def test_non_perp_paths_are_refused_in_the_venues_shape(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",))
    base = sim.urls()["backpack"]["rest"]
    async with aiohttp.ClientSession() as http:
        for method, path in (("GET", "/api/v1/borrowLend/markets"), ("POST", "/api/v1/rfq"), ("GET", "/api/v1/vaults")):
            resp = await http.request(method, base + path)
            assert resp.status == 400
            assert (await resp.json())["code"] == "NOT_IMPLEMENTED"
