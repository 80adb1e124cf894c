"""Lighter front-end surface: `/api/v1/trades`, `accountInactiveOrders`, `accountOrders`, the
`market_stats` channel, daily statistics and open interest that move as trades print, and the REST
validation layer (malformed query values are `400 {"code": 20001, ...}`, never a server error)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xtb import _core
from xtb.sim.lighter.server import REST_ROUTES
from xtb.sim.types import OrderRequest, Side

from .proto_helpers import ThreadedCluster, cluster_factory_fixture, http_call, recv_json, recv_until  # noqa: F401

pytestmark = pytest.mark.timeout(60)

# The simulator verifies auth-token signatures: tokens are signed with a real key (the core's signer).
PRIV, _PUB_HEX = _core.lighter_generate_api_key()
PUB = "0x" + _PUB_HEX


def token(account: int) -> str:
    key = _core.LighterKey(PRIV, chain_id=304, account_index=account, api_key_index=3)
    return str(key.create_auth_token(time.time_ns() // 1_000_000_000 + 600))


def trade_once(ex: Any, market: int = 0) -> tuple[int, int]:
    """A maker and a taker account, one trade of 0.5 ETH at 3000.00 between them."""
    maker = ex.create_account(10**20)
    taker = ex.create_account(10**20)
    ex.place_order(OrderRequest(maker, market, Side.SELL, 5000, 300000, client_id=41))
    ex.place_order(OrderRequest(taker, market, Side.BUY, 5000, 300000, client_id=42))
    return maker, taker


async def test_daily_stats_and_open_interest_move_as_trades_print(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    url = sim.urls()["lighter"]["rest"]
    ex = sim.venues["lighter"].exchange
    async with aiohttp.ClientSession() as http:
        before = await (await http.get(f"{url}/api/v1/orderBookDetails?market_id=0")).json()
        d0 = before["order_book_details"][0]
        assert (d0["daily_trades_count"], d0["open_interest"]) == (0, 0)
        trade_once(ex)
        after = await (await http.get(f"{url}/api/v1/orderBookDetails?market_id=0")).json()
    d1 = after["order_book_details"][0]
    assert d1["daily_trades_count"] == 1
    assert d1["daily_base_token_volume"] == 0.5 and d1["daily_quote_token_volume"] == 1500.0
    assert d1["daily_price_low"] == d1["daily_price_high"] == 3000.0
    assert d1["open_interest"] == 0.5  # one long of 0.5 against one short


async def test_trades_endpoint_public_and_per_account(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    url = sim.urls()["lighter"]["rest"]
    ex = sim.venues["lighter"].exchange
    maker, taker = trade_once(ex)
    trade_once(ex)
    async with aiohttp.ClientSession() as http:
        body = await (await http.get(f"{url}/api/v1/trades?sort_by=trade_id&limit=1&market_id=0")).json()
        assert body["code"] == 200 and len(body["trades"]) == 1 and body["next_cursor"]
        newest = body["trades"][0]["trade_id"]
        page2 = await (
            await http.get(f"{url}/api/v1/trades?sort_by=trade_id&limit=5&market_id=0&cursor={body['next_cursor']}")
        ).json()
        assert [t["trade_id"] for t in page2["trades"]] == [newest - 1] and page2["next_cursor"] == ""
        resp = await http.get(f"{url}/api/v1/trades?limit=5")
        assert resp.status == 400 and (await resp.json())["code"] == 20001  # sort_by is required
        resp = await http.get(f"{url}/api/v1/trades?sort_by=trade_id&limit=5&account_index={taker}")
        assert resp.status == 400  # an account's trades need its auth token


async def test_inactive_orders_and_orders_by_client_index(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    url = sim.urls()["lighter"]["rest"]
    ex = sim.venues["lighter"].exchange
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    ex.place_order(OrderRequest(acct, 0, Side.BUY, 1000, 250000, client_id=7))
    ex.place_order(OrderRequest(acct, 0, Side.BUY, 1000, 250000, client_id=8))
    ex.cancel_order(acct, 0, client_id=8)
    headers = {"Authorization": token(acct)}
    async with aiohttp.ClientSession() as http:
        q = f"account_index={acct}&limit=10"
        body = await (await http.get(f"{url}/api/v1/accountInactiveOrders?{q}", headers=headers)).json()
        assert [(o["client_order_index"], o["status"]) for o in body["orders"]] == [(8, "canceled")]
        resp = await http.get(f"{url}/api/v1/accountInactiveOrders?{q}")
        assert resp.status == 400  # no token
        q = f"account_index={acct}&client_order_indexes=7,8,9"
        body = await (await http.get(f"{url}/api/v1/accountOrders?{q}", headers=headers)).json()
        assert sorted(o["client_order_index"] for o in body["orders"]) == [7, 8]


async def test_market_stats_channel(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    ex = sim.venues["lighter"].exchange
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["lighter"]["ws"]) as ws:
        await recv_json(ws)  # connected
        await ws.send_json({"type": "subscribe", "channel": "market_stats/0"})
        snap = await recv_json(ws)
        assert snap["type"] == "subscribed/market_stats" and snap["channel"] == "market_stats:0"
        assert snap["market_stats"]["market_id"] == 0 and snap["market_stats"]["daily_trades_count"] == 0
        await ws.send_json({"type": "subscribe", "channel": "market_stats/all"})
        snap_all = await recv_json(ws)
        assert set(snap_all["market_stats"]) == {"0", "1", "2"}
        trade_once(ex)
        one = await recv_until(
            ws, lambda f: f.get("type") == "update/market_stats" and f["channel"] == "market_stats:0"
        )
        assert one["market_stats"]["daily_trades_count"] == 1 and one["market_stats"]["open_interest"] == "0.5000"
        every = await recv_until(
            ws, lambda f: f.get("type") == "update/market_stats" and f["channel"] == "market_stats:all"
        )
        assert set(every["market_stats"]) == {"0"} and every["market_stats"]["0"]["last_trade_price"] == "3000.00"
        await ws.send_json({"type": "subscribe", "channel": "order_book/²"})
        err = await recv_until(ws, lambda f: "error" in f)
        assert err["error"]["code"] == 30005
        await ws.send_json({"type": "ping"})
        assert (await recv_until(ws, lambda f: f.get("type") == "pong"))["type"] == "pong"  # still alive


async def test_candles_follow_trades(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    url = sim.urls()["lighter"]["rest"]
    ex = sim.venues["lighter"].exchange
    trade_once(ex)
    maker = ex.create_account(10**20)
    taker = ex.create_account(10**20)
    ex.place_order(OrderRequest(maker, 0, Side.BUY, 1000, 299000))
    ex.place_order(OrderRequest(taker, 0, Side.SELL, 1000, 299000))
    now = time.time_ns() // 1_000_000
    q = f"market_id=0&resolution=1h&start_timestamp={now - 7_200_000}&end_timestamp={now}&count_back=10"
    async with aiohttp.ClientSession() as http:
        body = await (await http.get(f"{url}/api/v1/candles?{q}")).json()
        assert body["code"] == 200 and body["r"] == "1h"
        (candle,) = body["c"]
        assert (candle["o"], candle["h"], candle["l"], candle["c"]) == (3000.0, 3000.0, 2990.0, 2990.0)
        assert (candle["v"], candle["V"]) == (0.6, 1799.0) and candle["i"] > 0
        assert candle["t"] % 3_600_000 == 0
        resp = await http.get(f"{url}/api/v1/candles?{q.replace('1h', '7m')}")
        assert resp.status == 400 and (await resp.json())["code"] == 22401


async def test_user_stats_and_assets_channels(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    ex = sim.venues["lighter"].exchange
    acct = sim.add_lighter_account(PUB, api_key_index=3, collateral_usdc=5_000)
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["lighter"]["ws"]) as ws:
        await recv_json(ws)  # connected
        await ws.send_json({"type": "subscribe", "channel": f"user_stats/{acct}"})
        stats = await recv_json(ws)
        assert stats["type"] == "subscribed/user_stats" and stats["stats"]["collateral"] == "5000.000000"
        assert stats["stats"]["buying_power"] == "50000.000000"  # 10x default leverage
        await ws.send_json({"type": "subscribe", "channel": f"account_all_assets/{acct}"})
        err = await recv_json(ws)
        assert err["error"]["code"] == 20001  # assets need the auth token
        await ws.send_json({"type": "subscribe", "channel": f"account_all_assets/{acct}", "auth": token(acct)})
        assets = await recv_json(ws)
        assert assets["assets"]["3"]["balance"] == "5000.000000"
        ex.place_order(OrderRequest(acct, 0, Side.BUY, 10000, 250000))  # 1 ETH bid at 2500: margin 250
        update = await recv_until(ws, lambda f: f.get("type") == "update/user_stats")
        assert update["stats"]["available_balance"] == "4750.000000" and update["stats"]["margin_usage"] == "5.00"


async def test_account_market_channel(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    ex = sim.venues["lighter"].exchange
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    maker = ex.create_account(10**20)
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["lighter"]["ws"]) as ws:
        await recv_json(ws)  # connected
        await ws.send_json({"type": "subscribe", "channel": f"account_market/0/{acct}", "auth": token(acct)})
        snap = await recv_json(ws)
        assert snap["type"] == "subscribed/account_market" and snap["channel"] == f"account_market:0:{acct}"
        assert (snap["orders"], snap["trades"], snap["position"]) == ([], [], None)
        ex.place_order(OrderRequest(maker, 0, Side.SELL, 5000, 300000))
        ex.place_order(OrderRequest(acct, 0, Side.BUY, 5000, 300000, client_id=9))
        frame = await recv_until(ws, lambda f: f.get("type") == "update/account_market" and f.get("trades"))
        assert frame["trades"][0]["size"] == "0.5000" and frame["assets"]["3"]["symbol"] == "USDC"
        pos = await recv_until(ws, lambda f: f.get("type") == "update/account_market" and f.get("position"))
        assert pos["position"]["market_id"] == 0


# ---------------------------------------------------------------- validation layer (fuzz)

PARAMS = ("market_id", "limit", "account_index", "api_key_index", "sort_by", "cursor", "ask_filter", "value", "by",
          "client_order_indexes", "between_timestamps", "from", "role", "type", "sort_dir", "resolution",
          "start_timestamp", "end_timestamp", "count_back", "set_timestamp_to_end", "l1_address", "index", "types",
          "merge_mark_price")  # fmt: skip
VALUES = st.sampled_from(["²", "١٢", "1_0", " 1", "-1", "0", "1e3", "9" * 40, "", "[]", "x", "all"]) | st.text(
    st.characters(blacklist_categories=("Cs",)), max_size=8
)


@pytest.fixture(scope="module")
def lighter_live() -> Any:
    cluster = ThreadedCluster(venues=("lighter",))
    try:
        acct = cluster.call(cluster.sim.add_lighter_account, PUB, 3)
        yield cluster, acct
    finally:
        cluster.close()


GET_PATHS = sorted(p for m, p in REST_ROUTES if m == "GET")
WELL_TYPED = st.integers(-2, 3).map(str) | st.sampled_from(
    ["0", "1", "100", "trade_id", "timestamp", "desc", "1-2", "1h", "1d", "hash", "sequence_index", "block_height",
     "account_index", "[14,15]", "0x" + "0" * 40, "a" * 80]
)  # fmt: skip


@pytest.mark.parametrize("path", GET_PATHS)
def test_no_query_value_makes_a_server_error(lighter_live: Any, path: str) -> None:
    from urllib.parse import urlencode

    cluster, acct = lighter_live
    base = cluster.sim.urls()["lighter"]["rest"]

    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(st.sampled_from(PARAMS), VALUES | WELL_TYPED, max_size=4))
    def check(params: dict[str, str]) -> None:
        query = urlencode({"account_index": str(acct), **params})
        status, _, body = http_call(base, "GET", f"{path}?{query}", None, {"Authorization": token(acct)})
        assert status < 500, (path, params, status, body)
        if status >= 400:
            assert b'"code"' in body and b'"message"' in body

    check()


def test_no_form_value_makes_a_server_error_on_change_account_tier(lighter_live: Any) -> None:
    """`changeAccountTier` form fields through the same strict reader: 4xx `{code, message}`, never a 5xx."""
    cluster, acct = lighter_live
    base = cluster.sim.urls()["lighter"]["rest"]

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(st.sampled_from(("account_index", "new_tier", "auth")), VALUES | WELL_TYPED, max_size=3))
    def check(fields: dict[str, str]) -> None:
        from urllib.parse import urlencode

        form = {"account_index": str(acct), **fields}
        headers = {"Authorization": token(acct), "Content-Type": "application/x-www-form-urlencoded"}
        status, _, body = http_call(base, "POST", "/api/v1/changeAccountTier", urlencode(form).encode(), headers)
        assert status < 500, (fields, status, body)
        if status >= 400:
            assert b'"code"' in body and b'"message"' in body

    check()
