"""Backpack front-end: signing rules, REST shapes and errors, the WebSocket protocol, and wire faults."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from xtb.sim.backpack import auth
from xtb.sim.backpack.server import parse_stream
from xtb.sim.faults import FaultKind, FaultRule
from xtb.sim.types import OrderRequest, Side

from .proto_helpers import BackpackSigner, cluster_factory_fixture, no_frame, plan, recv_json, recv_until  # noqa: F401

pytestmark = pytest.mark.timeout(30)

# Offline vectors from the venue notes (seed bytes 0x01..0x20; ED25519 is deterministic).
SEED_B64 = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
PUB_B64 = "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ="
VECTORS = [
    (
        "orderCancel",
        {"orderId": 28, "symbol": "BTC_USDT"},
        1614550000000,
        "instruction=orderCancel&orderId=28&symbol=BTC_USDT&timestamp=1614550000000&window=5000",
        "E7UijHVsR5NAdTGNA8aOPfAGdwe6Qu5oVcEJPNdG8Kx9HxV2pX+U3IsodvFn1MUHh0CuD+AhMMnJJvtPEat9DA==",
    ),
    (
        "orderExecute",
        {
            "symbol": "SOL_USDC_PERP",
            "side": "Bid",
            "orderType": "Limit",
            "price": "141",
            "quantity": "12",
            "postOnly": True,
            "clientId": 42,
            "timeInForce": "GTC",
        },
        1750793021519,
        "instruction=orderExecute&clientId=42&orderType=Limit&postOnly=true&price=141&quantity=12&side=Bid"
        "&symbol=SOL_USDC_PERP&timeInForce=GTC&timestamp=1750793021519&window=5000",
        "JpLusJCQp4VT+TJ35Xi7igJWt2V0QA6yaArIhB4QMUEej/a+MAH+JSb1AP0pEn3pIUi+jHQoLBqciEP/lpOsDQ==",
    ),
    (
        "balanceQuery",
        {},
        1750793021519,
        "instruction=balanceQuery&timestamp=1750793021519&window=5000",
        "W302ikmg6UH6ISPnjHZbmef/YWmsUfEWl9nav+EMtqsLmWlZpfcjA7DPUWIeI8eQhgFPPJOy0wB4DS3puswnDg==",
    ),
    (
        "subscribe",
        {},
        1750793021519,
        "instruction=subscribe&timestamp=1750793021519&window=5000",
        "J0ESphheEEryXBb6x0mMX+9icsbyx2uSgVtAajlKI5YAAGAjmyc0Lq4qoyfcqIW+yygW0aKzq+Zn3/jVI3aCDw==",
    ),
]


@pytest.mark.parametrize(("instruction", "params", "ts", "expected", "sig"), VECTORS)
def test_signing_string_and_signature_match_the_venue_vectors(
    instruction: str, params: dict[str, Any], ts: int, expected: str, sig: str
) -> None:
    assert base64.b64encode(bytes(SigningKey(base64.b64decode(SEED_B64)).verify_key)).decode() == PUB_B64
    message = auth.signing_string(instruction, params, ts, 5000)
    assert message == expected
    auth.verify(PUB_B64, message, base64.b64decode(sig))


def test_batch_signing_string_matches_the_docs_example() -> None:
    orders = [
        {"symbol": "SOL_USDC_PERP", "side": "Bid", "orderType": "Limit", "price": "141", "quantity": "12"},
        {"symbol": "SOL_USDC_PERP", "side": "Bid", "orderType": "Limit", "price": "140", "quantity": "11"},
    ]
    message = auth.batch_signing_string("orderExecute", orders, 1750793021519, 5000)
    assert message == (
        "instruction=orderExecute&orderType=Limit&price=141&quantity=12&side=Bid&symbol=SOL_USDC_PERP"
        "&instruction=orderExecute&orderType=Limit&price=140&quantity=11&side=Bid&symbol=SOL_USDC_PERP"
        "&timestamp=1750793021519&window=5000"
    )
    auth.verify(
        PUB_B64,
        message,
        base64.b64decode(
            "dossw5xxpYslAw1BgSEqBEom/n5ESR5aNNX5Q4It1+gMA6tNL6YkDT7eVy2jILl0/i/DDDJQlEYYT8vaCyakCg=="
        ),
    )


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.text("abcdefghXYZ", min_size=1, max_size=6),
        st.one_of(st.booleans(), st.integers(-(10**6), 10**6), st.text("0123456789.", max_size=8)),
        max_size=5,
    )
)
def test_any_param_change_breaks_the_signature(params: dict[str, Any]) -> None:
    signer = BackpackSigner(SEED_B64)
    message = auth.signing_string("orderExecute", params, 1, 5000)
    sig = base64.b64decode(signer.sign(message))
    auth.verify(PUB_B64, message, sig)
    tampered = dict(params, zz="1")
    with pytest.raises(auth.AuthError) as err:
        auth.verify(PUB_B64, auth.signing_string("orderExecute", tampered, 1, 5000), sig)
    assert err.value.code == "INVALID_SIGNATURE"


def test_window_rules() -> None:
    auth.check_window(1_000, 5_000, 5_900)
    with pytest.raises(auth.AuthError, match="Request has expired") as err:
        auth.check_window(1_000, 5_000, 6_001)
    assert err.value.status == 401
    with pytest.raises(auth.AuthError):
        auth.check_window(10_000, 5_000, 4_000, symmetric=False)  # from the future, one-sided rule
    with pytest.raises(auth.AuthError) as err:
        auth.parse_headers(
            {"X-API-Key": PUB_B64, "X-Signature": "AA==", "X-Timestamp": "1", "X-Window": "60001"}
        )
    assert err.value.status == 400


def test_stream_names() -> None:
    ok = parse_stream("depth.200ms.SOL_USDC_PERP")
    assert not isinstance(ok, int) and (ok.kind, ok.symbol, ok.window_s) == ("depth", "SOL_USDC_PERP", 0.2)
    assert parse_stream("depth.100ms.SOL_USDC_PERP") == 4008
    assert parse_stream("candles.SOL_USDC_PERP") == 4006
    private = parse_stream("account.orderUpdate.ETH_USDC_PERP")
    assert not isinstance(private, int) and (private.kind, private.symbol) == (
        "account.orderUpdate",
        "ETH_USDC_PERP",
    )


# ---------------------------------------------------------------- REST


async def _signed(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    signer: BackpackSigner,
    instruction: str,
    params: Any,
    **kw: Any,
) -> tuple[int, Any]:
    headers = signer.headers(instruction, params, **kw)
    if method == "GET":
        resp = await http.request(method, url, params=params, headers=headers)
    else:
        resp = await http.request(method, url, data=orjson.dumps(params), headers=headers)
    body = await resp.read()
    try:
        return resp.status, orjson.loads(body)
    except orjson.JSONDecodeError:
        return resp.status, body.decode()


async def test_rest_auth_failures_have_the_venue_shape(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",))
    _, secret, acct = sim.add_backpack_account()
    signer = BackpackSigner(secret)
    base = sim.urls()["backpack"]["rest"]
    order = {
        "symbol": "ETH_USDC_PERP",
        "side": "Bid",
        "orderType": "Limit",
        "price": "3000.00",
        "quantity": "0.1",
    }
    async with aiohttp.ClientSession() as http:
        status, body = await _signed(http, "GET", f"{base}/api/v1/capital", signer, "balanceQuery", {})
        assert status == 200 and "USDC" in body
        # Signed for a different instruction than the route's.
        status, body = await _signed(http, "POST", f"{base}/api/v1/order", signer, "orderCancel", order)
        assert (status, body["code"]) == (401, "INVALID_SIGNATURE")
        old = time.time_ns() // 1_000_000 - 10_000
        status, body = await _signed(
            http, "POST", f"{base}/api/v1/order", signer, "orderExecute", order, ts=old
        )
        assert (status, body) == (401, {"code": "UNAUTHORIZED", "message": "Request has expired"})
        status, body = await _signed(
            http, "POST", f"{base}/api/v1/order", signer, "orderExecute", order, window=60_001
        )
        assert status == 400 and body["code"] == "INVALID_CLIENT_REQUEST"
        stranger = BackpackSigner(base64.b64encode(bytes(SigningKey.generate())).decode())
        status, body = await _signed(http, "GET", f"{base}/api/v1/capital", stranger, "balanceQuery", {})
        assert (status, body["code"]) == (401, "UNAUTHORIZED")
        # Body changed after signing.
        headers = signer.headers("orderExecute", order)
        resp = await http.post(
            f"{base}/api/v1/order", data=orjson.dumps(dict(order, quantity="0.2")), headers=headers
        )
        assert resp.status == 401 and (await resp.json())["code"] == "INVALID_SIGNATURE"
        assert sim.venues["backpack"].exchange.open_orders(acct) == []  # nothing got through
        resp = await http.get(f"{base}/api/v1/nothing")
        assert resp.status == 404 and await resp.text() == "not found"


async def test_batch_returns_per_order_results(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",))
    _, secret, acct = sim.add_backpack_account()
    signer = BackpackSigner(secret)
    base = sim.urls()["backpack"]["rest"]
    orders = [
        {"symbol": "SOL_USDC_PERP", "side": "Bid", "orderType": "Limit", "price": "141", "quantity": "12"},
        {
            "symbol": "SOL_USDC_PERP",
            "side": "Bid",
            "orderType": "Limit",
            "price": "140.001",
            "quantity": "11",
        },
        {"symbol": "NOPE_USDC_PERP", "side": "Bid", "orderType": "Limit", "price": "1", "quantity": "1"},
        {
            "symbol": "SOL_USDC_PERP",
            "side": "Ask",
            "orderType": "Limit",
            "price": "150",
            "quantity": "1",
            "clientId": 7,
            "postOnly": True,
        },
    ]
    async with aiohttp.ClientSession() as http:
        status, body = await _signed(http, "POST", f"{base}/api/v1/orders", signer, "orderExecute", orders)
    assert status == 200
    assert [r["operation"] for r in body] == ["Ok", "Err", "Err", "Ok"]
    assert body[1] == {
        "operation": "Err",
        "code": "INVALID_CLIENT_REQUEST",
        "message": "Price decimal too long",
    }
    assert body[2]["message"] == "Invalid market symbol"
    assert body[3]["clientId"] == 7 and body[3]["status"] == "New"
    assert len(sim.venues["backpack"].exchange.open_orders(acct)) == 2


async def test_depth_snapshot_shape_and_limits(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",))
    ex = sim.venues["backpack"].exchange
    lp = ex.create_account(10**20)
    for px in (14_000, 14_010, 14_020):
        ex.place_order(OrderRequest(lp, 2, Side.BUY, 100, px))
        ex.place_order(OrderRequest(lp, 2, Side.SELL, 100, px + 100))
    base = sim.urls()["backpack"]["rest"]
    async with aiohttp.ClientSession() as http:
        body = await (await http.get(f"{base}/api/v1/depth", params={"symbol": "SOL_USDC_PERP"})).json()
        assert body["bids"] == [["140.00", "1.00"], ["140.10", "1.00"], ["140.20", "1.00"]]  # ascending
        assert body["asks"][0] == ["141.00", "1.00"]  # ascending: best ask first
        assert body["lastUpdateId"] == str(ex.book_seq(2))
        resp = await http.get(f"{base}/api/v1/depth", params={"symbol": "SOL_USDC_PERP", "limit": "7"})
        assert resp.status == 400 and "DepthLimit" in await resp.text()
        resp = await http.get(f"{base}/api/v1/time")
        assert abs(int(await resp.text()) - time.time() * 1000) < 5_000
        assert await (await http.get(f"{base}/api/v1/status")).json() == {"status": "Ok", "message": None}


# ---------------------------------------------------------------- WebSocket


async def test_depth_stream_deltas_chain_and_line_up_with_the_snapshot(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",), generate=True, updates_per_s=100.0)
    urls = sim.urls()["backpack"]
    async with aiohttp.ClientSession() as http, http.ws_connect(urls["ws"]) as ws:
        await ws.send_json(
            {"method": "SUBSCRIBE", "params": ["depth.BTC_USDC_PERP", "bookTicker.BTC_USDC_PERP"]}
        )
        first = await recv_until(ws, lambda f: f["stream"] == "depth.BTC_USDC_PERP")  # no ack, no snapshot
        snap = await (
            await http.get(f"{urls['rest']}/api/v1/depth", params={"symbol": "BTC_USDC_PERP"})
        ).json()
        book = {"b": {p: q for p, q in snap["bids"]}, "a": {p: q for p, q in snap["asks"]}}
        last = int(snap["lastUpdateId"])
        assert first["data"]["U"] <= last + 1
        prev_u = None
        deltas = 0
        tickers = 0
        while deltas < 30:
            frame = await recv_json(ws)
            data = frame["data"]
            if frame["stream"] == "bookTicker.BTC_USDC_PERP":
                assert data["u"] <= (prev_u or data["u"])  # bookTicker u is a depth u already seen
                tickers += 1
                continue
            assert data["e"] == "depth" and data["E"] > 10**15  # µs
            if prev_u is not None:
                assert data["U"] == prev_u + 1
            prev_u = data["u"]
            if data["u"] <= last:
                continue
            deltas += 1
            for side in ("a", "b"):
                for price, qty in data[side]:
                    if float(qty) == 0:
                        book[side].pop(price, None)
                    else:
                        book[side][price] = qty
        assert tickers > 0
        await sim.stop_generator()  # freeze the book, then drain what is in flight
        while True:
            try:
                frame = await recv_json(ws, 0.3)
            except TimeoutError:
                break
            if frame["stream"] != "depth.BTC_USDC_PERP":
                continue
            data = frame["data"]
            assert data["U"] == prev_u + 1
            prev_u = data["u"]
            for side in ("a", "b"):
                for price, qty in data[side]:
                    if float(qty) == 0:
                        book[side].pop(price, None)
                    else:
                        book[side][price] = qty
    # The book kept from snapshot + deltas is exactly the venue's book.
    final = sim.venues["backpack"].exchange.book_snapshot(0)
    spec = sim.protocol("backpack").spec_for("BTC_USDC_PERP")
    assert spec is not None and final.seq == prev_u
    assert book["b"] == {spec.format_price(lv.price): spec.format_quantity(lv.size) for lv in final.bids}
    assert book["a"] == {spec.format_price(lv.price): spec.format_quantity(lv.size) for lv in final.asks}


async def test_ws_errors_and_silent_unknown_symbols(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",))
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["backpack"]["ws"]) as ws:
        await ws.send_str("not json")
        assert await recv_json(ws) == {"id": None, "error": {"code": 4002, "message": "Parse error"}}
        await ws.send_json({"method": "FOO", "params": []})
        assert (await recv_json(ws))["error"]["code"] == 4002
        await ws.send_json({"method": "SUBSCRIBE", "params": ["kandles.BTC_USDC_PERP"]})
        assert (await recv_json(ws))["error"] == {"code": 4006, "message": "Invalid stream"}
        await ws.send_json({"method": "SUBSCRIBE", "params": ["depth.100ms.BTC_USDC_PERP"]})
        assert (await recv_json(ws))["error"] == {"code": 4008, "message": "Invalid depth window"}
        await ws.send_json({"method": "SUBSCRIBE", "params": ["depth.NOPE_USDC_PERP"]})
        assert await no_frame(ws, 0.2)
        await ws.send_json(
            {
                "method": "SUBSCRIBE",
                "params": ["account.orderUpdate"],
                "signature": ["AAAA", "AAAA", "1", "5000"],
            }
        )
        assert (await recv_json(ws))["error"]["message"] == "Invalid signature"


async def test_private_order_and_position_streams(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",))
    ex = sim.venues["backpack"].exchange
    lp = ex.create_account(10**20)
    ex.place_order(OrderRequest(lp, 1, Side.SELL, 5_000, 350_000))  # 0.5 ETH at 3500.00
    _, secret, _ = sim.add_backpack_account()
    signer = BackpackSigner(secret)
    urls = sim.urls()["backpack"]
    async with aiohttp.ClientSession() as http, http.ws_connect(urls["ws"]) as ws:
        await ws.send_json(
            {
                "method": "SUBSCRIBE",
                "params": ["account.orderUpdate", "account.positionUpdate"],
                "signature": signer.ws_signature(),
            }
        )
        await asyncio.sleep(0.05)
        order = {
            "symbol": "ETH_USDC_PERP",
            "side": "Bid",
            "orderType": "Limit",
            "price": "3500.00",
            "quantity": "0.2",
            "clientId": 9,
            "timeInForce": "IOC",
        }
        status, body = await _signed(
            http, "POST", f"{urls['rest']}/api/v1/order", signer, "orderExecute", order
        )
        assert status == 200 and body["status"] == "Filled"
        frames = [await recv_until(ws, lambda f: f["stream"] == "account.orderUpdate") for _ in range(2)]
        accepted, fill = (f["data"] for f in frames)
        assert accepted["e"] == "orderAccepted" and accepted["X"] == "New" and accepted["c"] == 9
        assert fill["e"] == "orderFill" and fill["X"] == "Filled"
        assert (fill["l"], fill["L"], fill["z"], fill["m"], fill["i"]) == (
            "0.2000",
            "3500.00",
            "0.2000",
            False,
            body["id"],
        )
        assert fill["E"] > 10**15 and isinstance(fill["t"], int)
        pos = await recv_until(ws, lambda f: f["stream"] == "account.positionUpdate")
        assert pos["data"]["e"] == "positionOpened" and pos["data"]["q"] == "0.2000"
    # A new subscription gets the open positions first, without `e`.
    async with aiohttp.ClientSession() as http, http.ws_connect(urls["ws"]) as ws:
        await ws.send_json(
            {
                "method": "SUBSCRIBE",
                "params": ["account.positionUpdate.ETH_USDC_PERP"],
                "signature": signer.ws_signature(),
            }
        )
        snap = await recv_json(ws)
        assert snap["stream"] == "account.positionUpdate.ETH_USDC_PERP" and "e" not in snap["data"]


async def test_protocol_ping_and_pong_timeout(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",), ping_interval_s=0.1, pong_timeout_s=0.25)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(sim.urls()["backpack"]["ws"], autoping=False) as ws:
            msg = await asyncio.wait_for(ws.receive(), 2)
            assert msg.type == aiohttp.WSMsgType.PING
            while msg.type == aiohttp.WSMsgType.PING:  # never answer: the server gives up
                msg = await asyncio.wait_for(ws.receive(), 2)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1008
        async with http.ws_connect(sim.urls()["backpack"]["ws"]) as ws:  # aiohttp answers pings
            assert await no_frame(ws, 0.6)
            assert not ws.closed


# ---------------------------------------------------------------- faults


async def test_rate_limit_and_server_error_faults(cluster_factory: Any) -> None:
    rules = (
        FaultRule(FaultKind.HTTP_429, every=2, max_count=1, retry_after_s=3.0, conn="backpack-rest"),
        FaultRule(FaultKind.HTTP_5XX, every=3, max_count=1, status=502, conn="backpack-rest"),
    )
    sim = await cluster_factory(venues=("backpack",), fault_plan=plan(*rules))
    base = sim.urls()["backpack"]["rest"]
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(4):
            resp = await http.get(f"{base}/api/v1/markets")
            statuses.append(
                (
                    resp.status,
                    resp.headers.get("Retry-After"),
                    (await resp.json()) if resp.status != 200 else None,
                )
            )
    assert statuses[0][0] == 200
    assert statuses[1] == (429, "3", {"code": "TOO_MANY_REQUESTS", "message": "Too many requests"})
    assert [s[0] for s in statuses].count(502) == 1


async def test_accept_then_timeout_leaves_the_order_working(cluster_factory: Any) -> None:
    rule = FaultRule(FaultKind.ACCEPT_TIMEOUT, every=1, max_count=1, conn="backpack-rest")
    sim = await cluster_factory(venues=("backpack",), fault_plan=plan(rule), response_timeout_s=5.0)
    _, secret, acct = sim.add_backpack_account()
    signer = BackpackSigner(secret)
    order = {
        "symbol": "ETH_USDC_PERP",
        "side": "Bid",
        "orderType": "Limit",
        "price": "3000.00",
        "quantity": "0.1",
        "clientId": 5,
    }
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as http:
        with pytest.raises(asyncio.TimeoutError):
            await _signed(
                http, "POST", f"{sim.urls()['backpack']['rest']}/api/v1/order", signer, "orderExecute", order
            )
    assert [o.client_id for o in sim.venues["backpack"].exchange.open_orders(acct)] == [5]


async def test_skip_and_duplicate_sequence_faults(cluster_factory: Any) -> None:
    rules = (
        FaultRule(FaultKind.SKIP_SEQ, at_s=(0.0,), conn="backpack-ws-*"),
        FaultRule(FaultKind.DUPLICATE_SEQ, every=3, max_count=1, conn="backpack-ws-*"),
    )
    sim = await cluster_factory(venues=("backpack",), fault_plan=plan(*rules))
    ex = sim.venues["backpack"].exchange
    lp = ex.create_account(10**20)
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["backpack"]["ws"]) as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": ["depth.SOL_USDC_PERP"]})
        await asyncio.sleep(0.05)
        for i in range(6):
            ex.place_order(OrderRequest(lp, 2, Side.BUY, 100, 14_000 + i))
        seen = [(await recv_json(ws))["data"]["U"] for _ in range(6)]
    assert seen[0] == 2  # update 1 was skipped: a gap the client must detect
    assert len(seen) != len(set(seen))  # and one update came twice


async def test_cancel_on_disconnect_on_and_off(cluster_factory: Any) -> None:
    for enabled in (True, False):
        sim = await cluster_factory(venues=("backpack",), fault_plan=plan(cancel_on_disconnect=enabled))
        _, secret, acct = sim.add_backpack_account()
        signer = BackpackSigner(secret)
        urls = sim.urls()["backpack"]
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(urls["ws"]) as ws:
                await ws.send_json(
                    {
                        "method": "SUBSCRIBE",
                        "params": ["account.orderUpdate"],
                        "signature": signer.ws_signature(),
                    }
                )
                order = {
                    "symbol": "ETH_USDC_PERP",
                    "side": "Ask",
                    "orderType": "Limit",
                    "price": "4000.00",
                    "quantity": "0.1",
                }
                status, _ = await _signed(
                    http, "POST", f"{urls['rest']}/api/v1/order", signer, "orderExecute", order
                )
                assert status == 200
                await recv_until(ws, lambda f: f["data"]["e"] == "orderAccepted")
                assert sim.drop_sockets("backpack") == 1
            for _ in range(50):
                if not sim.venues["backpack"].server.sessions:
                    break
                await asyncio.sleep(0.02)
        left = sim.venues["backpack"].exchange.open_orders(acct)
        assert (len(left) == 0) is enabled


async def test_clock_skew_expires_requests(cluster_factory: Any) -> None:
    rule = FaultRule(FaultKind.CLOCK_SKEW, probability=1.0, skew_ms=8_000, conn="backpack-rest")
    sim = await cluster_factory(venues=("backpack",), fault_plan=plan(rule))
    _, secret, _ = sim.add_backpack_account()
    signer = BackpackSigner(secret)
    async with aiohttp.ClientSession() as http:
        status, body = await _signed(
            http, "GET", f"{sim.urls()['backpack']['rest']}/api/v1/capital", signer, "balanceQuery", {}
        )
        assert (status, body["message"]) == (401, "Request has expired")
        status, _ = await _signed(
            http,
            "GET",
            f"{sim.urls()['backpack']['rest']}/api/v1/capital",
            signer,
            "balanceQuery",
            {},
            window=20_000,
        )
        assert status == 200


async def test_aggregated_depth_stream_merges_a_window(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",))
    ex = sim.venues["backpack"].exchange
    lp = ex.create_account(10**20)
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["backpack"]["ws"]) as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": ["depth.200ms.SOL_USDC_PERP"]})
        await asyncio.sleep(0.05)
        first = ex.book_seq(2) + 1
        for i in range(3):
            ex.place_order(OrderRequest(lp, 2, Side.BUY, 100, 14_000 + i))
        ex.place_order(OrderRequest(lp, 2, Side.BUY, 100, 14_000))  # same level again: absolute size 2.00
        frame = await recv_json(ws, 2)
    data = frame["data"]
    assert (data["U"], data["u"]) == (first, first + 3)
    assert data["b"] == [["140.00", "2.00"], ["140.01", "1.00"], ["140.02", "1.00"]]


def test_standalone_runner_prints_urls_and_stops() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "xtb.sim",
            "--venues",
            "backpack,lighter",
            "--duration",
            "0.5",
            "--backpack-api-key",
            PUB_B64,
            "--lighter-key",
            f"100:3:0x{'ab' * 40}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = out.stdout.splitlines()
    assert any(line.startswith("backpack: rest http://127.0.0.1:") for line in lines)
    assert any(
        line.startswith("lighter: rest http://127.0.0.1:") and line.endswith("/stream") for line in lines
    )
    bad = subprocess.run(
        [sys.executable, "-m", "xtb.sim", "--venues", "nope", "--duration", "0.1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode != 0 and "venues must be" in bad.stderr


async def test_price_band_and_decimals_rejections(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",))
    ex = sim.venues["backpack"].exchange
    lp, taker = ex.create_account(10**20), ex.create_account(10**20)
    ex.place_order(OrderRequest(lp, 1, Side.SELL, 1_000, 350_000))
    ex.place_order(OrderRequest(taker, 1, Side.BUY, 1_000, 350_000))  # last active price 3500.00
    _, secret, _ = sim.add_backpack_account()
    signer = BackpackSigner(secret)
    url = f"{sim.urls()['backpack']['rest']}/api/v1/order"
    base = {"symbol": "ETH_USDC_PERP", "side": "Bid", "orderType": "Limit", "quantity": "0.1"}
    async with aiohttp.ClientSession() as http:
        status, body = await _signed(http, "POST", url, signer, "orderExecute", dict(base, price="2000.00"))
        assert (status, body["message"]) == (400, "Price is too far from the last active price")
        status, body = await _signed(http, "POST", url, signer, "orderExecute", dict(base, price="3000.001"))
        assert (status, body) == (
            400,
            {"code": "INVALID_CLIENT_REQUEST", "message": "Price decimal too long"},
        )
        status, body = await _signed(
            http, "POST", url, signer, "orderExecute", dict(base, quantity="0.00001", price="3000")
        )
        assert (status, body["message"]) == (400, "Quantity decimal too long")
        status, body = await _signed(http, "POST", url, signer, "orderExecute", dict(base, price="3000"))
        assert status == 200 and body["price"] == "3000.00"


async def test_delayed_private_event_is_overtaken(cluster_factory: Any) -> None:
    rule = FaultRule(FaultKind.DELAY_PRIVATE, every=1, max_count=1, duration_s=0.3, conn="backpack-ws-*")
    sim = await cluster_factory(venues=("backpack",), fault_plan=plan(rule))
    ex = sim.venues["backpack"].exchange
    lp = ex.create_account(10**20)
    ex.place_order(OrderRequest(lp, 1, Side.SELL, 1_000, 350_000))
    _, secret, _ = sim.add_backpack_account()
    signer = BackpackSigner(secret)
    urls = sim.urls()["backpack"]
    async with aiohttp.ClientSession() as http, http.ws_connect(urls["ws"]) as ws:
        await ws.send_json(
            {"method": "SUBSCRIBE", "params": ["account.orderUpdate"], "signature": signer.ws_signature()}
        )
        await asyncio.sleep(0.05)
        order = {"symbol": "ETH_USDC_PERP", "side": "Bid", "orderType": "Market", "quantity": "0.1"}
        status, _ = await _signed(http, "POST", f"{urls['rest']}/api/v1/order", signer, "orderExecute", order)
        assert status == 200
        events = [(await recv_json(ws, 2))["data"]["e"] for _ in range(2)]
    assert events == ["orderFill", "orderAccepted"]  # the held accept arrives after the fill


async def test_ticker_rest_and_stream(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("backpack",))
    ex = sim.venues["backpack"].exchange
    lp, taker = ex.create_account(10**20), ex.create_account(10**20)
    for price, qty in ((14_000, 100), (14_100, 300), (13_900, 200)):
        ex.place_order(OrderRequest(lp, 2, Side.SELL, qty, price))
        ex.place_order(OrderRequest(taker, 2, Side.BUY, qty, price))
    urls = sim.urls()["backpack"]
    async with aiohttp.ClientSession() as http:
        t = await (await http.get(f"{urls['rest']}/api/v1/ticker", params={"symbol": "SOL_USDC_PERP"})).json()
        assert (t["firstPrice"], t["lastPrice"], t["high"], t["low"]) == (
            "140.00",
            "139.00",
            "141.00",
            "139.00",
        )
        assert (t["volume"], t["quoteVolume"], t["trades"], t["priceChange"]) == ("6.00", "841", "3", "-1.00")
        quiet = await (
            await http.get(f"{urls['rest']}/api/v1/ticker", params={"symbol": "ETH_USDC_PERP"})
        ).json()
        assert quiet["trades"] == "0"
        async with http.ws_connect(urls["ws"]) as ws:
            await ws.send_json(
                {"method": "SUBSCRIBE", "params": ["ticker.SOL_USDC_PERP", "ticker.ETH_USDC_PERP"]}
            )
            frame = await recv_json(ws, 3)
            assert frame["stream"] == "ticker.SOL_USDC_PERP"  # ETH has no trade yet: nothing sent
            assert (frame["data"]["o"], frame["data"]["c"], frame["data"]["n"]) == ("140.00", "139.00", 3)


async def test_reordered_private_event_and_stalled_socket(cluster_factory: Any) -> None:
    rules = (
        FaultRule(FaultKind.REORDER_PRIVATE, every=1, max_count=1, conn="backpack-ws-*"),
        FaultRule(FaultKind.STALL_SOCKET, at_s=(0.0,), duration_s=0.4, conn="backpack-ws-*"),
    )
    sim = await cluster_factory(venues=("backpack",), fault_plan=plan(*rules))
    ex = sim.venues["backpack"].exchange
    lp = ex.create_account(10**20)
    ex.place_order(OrderRequest(lp, 1, Side.SELL, 1_000, 350_000))
    _, secret, _ = sim.add_backpack_account()
    signer = BackpackSigner(secret)
    urls = sim.urls()["backpack"]
    async with aiohttp.ClientSession() as http, http.ws_connect(urls["ws"]) as ws:
        await ws.send_json(
            {"method": "SUBSCRIBE", "params": ["account.orderUpdate"], "signature": signer.ws_signature()}
        )
        await asyncio.sleep(0.05)
        order = {"symbol": "ETH_USDC_PERP", "side": "Bid", "orderType": "Market", "quantity": "0.1"}
        sent = time.monotonic()
        status, _ = await _signed(http, "POST", f"{urls['rest']}/api/v1/order", signer, "orderExecute", order)
        assert status == 200
        events = [(await recv_json(ws, 2))["data"]["e"] for _ in range(2)]
        assert time.monotonic() - sent >= 0.35  # the stalled socket held its first frame
    assert events == ["orderFill", "orderAccepted"]  # swapped with the next private event
