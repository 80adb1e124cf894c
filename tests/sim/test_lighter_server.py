"""Lighter front-end: tx_info decoding and validation, nonces, REST shapes and errors, the /stream
protocol (snapshots, nonce-chained deltas, account channels, tx submission, ping/pong) and wire faults."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb import _core
from xtb.sim.faults import FaultKind, FaultRule
from xtb.sim.lighter import txinfo
from xtb.sim.lighter.txinfo import TxError
from xtb.sim.types import OrderRequest, Side

from .proto_helpers import cluster_factory_fixture, no_frame, plan, recv_json, recv_until  # noqa: F401

pytestmark = pytest.mark.timeout(30)

# The simulator verifies every signature: the helpers sign with a real key (the core's native signer).
PRIV, _PUB_HEX = _core.lighter_generate_api_key()
PUB = "0x" + _PUB_HEX
SIG = base64.b64encode(os.urandom(80)).decode()


def _key(account: int, api_key_index: int = 3) -> Any:
    return _core.LighterKey(PRIV, chain_id=304, account_index=account, api_key_index=api_key_index)


def auth_token(account: int, deadline_s: int) -> str:
    return str(_key(account).create_auth_token(deadline_s))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def create_order(account: int, nonce: int, **over: Any) -> dict[str, Any]:
    info = {
        "AccountIndex": account,
        "ApiKeyIndex": 3,
        "MarketIndex": 0,
        "ClientOrderIndex": 77,
        "BaseAmount": 1000,
        "Price": 300000,
        "IsAsk": 0,
        "Type": 0,
        "TimeInForce": 1,
        "ReduceOnly": 0,
        "TriggerPrice": 0,
        "OrderExpiry": now_ms() + 86_400_000,
        "ExpiredAt": now_ms() + 600_000,
        "Nonce": nonce,
        "Sig": SIG,
        "L2TxAttributes": None,
    }
    info.update(over)
    order = tuple(info.get(k) for k in ("MarketIndex", "ClientOrderIndex", "BaseAmount", "Price", "IsAsk", "Type",
                                        "TimeInForce", "ReduceOnly", "TriggerPrice", "OrderExpiry"))
    attrs = [(int(k), v) for k, v in (info.get("L2TxAttributes") or {}).items()]
    try:
        signed = _key(info["AccountIndex"], info["ApiKeyIndex"]).sign_create_order(
            order, info["Nonce"], expired_at=info["ExpiredAt"], attributes=attrs)
    except (ValueError, TypeError, KeyError, OverflowError):
        return info  # a shape the signer refuses: the decoding tests feed these to txinfo directly
    signed_info: dict[str, Any] = orjson.loads(signed[1])
    for k, v in over.items():  # keep overrides the JSON round trip changed (True -> 1, a fake Sig, extra keys)
        if k not in signed_info or type(v) is not type(signed_info[k]) or k == "Sig":
            signed_info[k] = v
    return signed_info


# ---------------------------------------------------------------- decoding


def test_decodes_the_native_signers_shapes() -> None:
    t = now_ms()
    tx = txinfo.decode_tx(14, orjson.dumps(create_order(12345, 42)), t)
    assert isinstance(tx, txinfo.CreateOrderTx)
    assert (tx.header.account_index, tx.header.nonce, tx.price, tx.base_amount, tx.is_ask) == (
        12345,
        42,
        300000,
        1000,
        False,
    )
    cancel = {
        "AccountIndex": 12345,
        "ApiKeyIndex": 3,
        "MarketIndex": 0,
        "Index": 77,
        "ExpiredAt": t + 1000,
        "Nonce": 45,
        "Sig": SIG,
        "L2TxAttributes": None,
    }
    assert txinfo.decode_tx(15, orjson.dumps(cancel), t) == txinfo.CancelOrderTx(
        txinfo.TxHeader(12345, 3, 45, t + 1000, {}), 0, 77
    )
    cancel_all = {
        "AccountIndex": 12345,
        "ApiKeyIndex": 3,
        "TimeInForce": 0,
        "Time": 0,
        "ExpiredAt": t + 1000,
        "Nonce": 46,
        "Sig": SIG,
        "L2TxAttributes": {"5": 0},
    }
    decoded = txinfo.decode_tx(16, cancel_all, t)
    assert isinstance(decoded, txinfo.CancelAllOrdersTx) and decoded.market_index == 0
    modify = {
        "AccountIndex": 12345,
        "ApiKeyIndex": 3,
        "MarketIndex": 0,
        "Index": 77,
        "BaseAmount": 2000,
        "Price": 300100,
        "TriggerPrice": 0,
        "ExpiredAt": t + 1000,
        "Nonce": 47,
        "Sig": SIG,
        "L2TxAttributes": None,
    }
    assert isinstance(txinfo.decode_tx(17, modify, t), txinfo.ModifyOrderTx)


@pytest.mark.parametrize(
    ("override", "code", "needle"),
    [
        ({"Price": 0}, 21702, "Price"),
        ({"Price": 2**32}, 21702, "Price"),
        ({"BaseAmount": 0}, 21701, "BaseAmount"),
        ({"IsAsk": 2}, 21703, "IsAsk"),
        ({"Type": 9}, 21704, "Type"),
        ({"TimeInForce": 3}, 21705, "TimeInForce"),
        ({"MarketIndex": 5000}, 21602, "MarketIndex"),
        ({"ClientOrderIndex": 2**48}, 21727, "ClientOrderIndex"),
        ({"Nonce": "1"}, 21501, "Nonce"),
        ({"IsAsk": True}, 21501, "IsAsk"),
        ({"Sig": "AAAA"}, 21501, "Sig"),
        ({"Sig": 5}, 21501, "Sig"),
        ({"ExpiredAt": 1}, 21711, "ExpiredAt"),
        ({"OrderExpiry": 0}, 21711, "OrderExpiry"),
        ({"Type": 1, "TimeInForce": 0, "OrderExpiry": 5}, 21711, "market"),
        ({"Type": 1, "TimeInForce": 1, "OrderExpiry": 0}, 21705, "market"),
        ({"TimeInForce": 0}, 21711, "IOC"),
        ({"TriggerPrice": 5}, 21702, "TriggerPrice"),
        ({"L2TxAttributes": {"9": 1}}, 21501, "L2TxAttributes"),
        ({"Extra": 1}, 21501, "Extra"),
    ],
)
def test_invalid_fields_are_named(override: dict[str, Any], code: int, needle: str) -> None:
    with pytest.raises(TxError) as err:
        txinfo.decode_tx(14, orjson.dumps(create_order(1, 0, **override)), now_ms())
    assert err.value.code == code and needle in err.value.message


def test_missing_field_and_bad_json() -> None:
    info = create_order(1, 0)
    del info["BaseAmount"]
    with pytest.raises(TxError, match="missing field BaseAmount"):
        txinfo.decode_tx(14, orjson.dumps(info), now_ms())
    with pytest.raises(TxError, match="not valid JSON"):
        txinfo.decode_tx(14, b"{", now_ms())
    with pytest.raises(TxError) as err:
        txinfo.decode_tx(99, b"{}", now_ms())
    assert err.value.code == 21505


_values = st.one_of(st.integers(-(2**64), 2**64), st.booleans(), st.none(), st.text(max_size=4), st.floats())


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([14, 15, 16, 17]), st.dictionaries(st.sampled_from(sorted(create_order(1, 0))), _values)
)
def test_any_tx_info_decodes_or_raises_tx_error(tx_type: int, override: dict[str, Any]) -> None:
    try:
        tx = txinfo.decode_tx(tx_type, create_order(1, 0) | override, now_ms())
    except TxError as err:
        assert err.code in {
            21501,
            21505,
            21602,
            21700,
            21701,
            21702,
            21703,
            21704,
            21705,
            21711,
            21713,
            21714,
            21727,
        }
    else:
        assert tx.header.account_index >= 1


# ---------------------------------------------------------------- REST


async def _post(http: aiohttp.ClientSession, url: str, form: dict[str, str]) -> tuple[int, Any]:
    resp = await http.post(url, data=form)
    return resp.status, await resp.json()


async def test_send_tx_nonce_rules(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    base = sim.urls()["lighter"]["rest"]
    ex = sim.venues["lighter"].exchange

    async def next_nonce(http: aiohttp.ClientSession) -> int:
        resp = await http.get(f"{base}/api/v1/nextNonce", params={"account_index": acct, "api_key_index": 3})
        return int((await resp.json())["nonce"])

    async with aiohttp.ClientSession() as http:
        send = f"{base}/api/v1/sendTx"
        status, body = await _post(
            http, send, {"tx_type": "14", "tx_info": orjson.dumps(create_order(acct, 5)).decode()}
        )
        assert (status, body) == (400, {"code": 400, "message": "invalid nonce"})
        assert await next_nonce(http) == 0
        status, body = await _post(
            http, send, {"tx_type": "14", "tx_info": orjson.dumps(create_order(acct, 0)).decode()}
        )
        assert status == 200 and body["code"] == 200 and len(body["tx_hash"]) == 80
        assert "volume_quota_remaining" in body and "predicted_execution_time_ms" in body
        assert await next_nonce(http) == 1
        # Same client order index again: refused by the venue, nonce not used.
        status, body = await _post(
            http, send, {"tx_type": "14", "tx_info": orjson.dumps(create_order(acct, 1)).decode()}
        )
        assert status == 400 and body["code"] == 21728
        assert await next_nonce(http) == 1
        other = create_order(acct, 1, ApiKeyIndex=4)
        status, body = await _post(http, send, {"tx_type": "14", "tx_info": orjson.dumps(other).decode()})
        assert status == 400 and body["code"] == 21501 and "not registered" in body["message"]
        # skip-nonce attribute: nonce not checked and not advanced (semantics UNCONFIRMED)
        skip = create_order(acct, 2222, ClientOrderIndex=78, L2TxAttributes={"4": 1})
        status, body = await _post(http, send, {"tx_type": "14", "tx_info": orjson.dumps(skip).decode()})
        assert status == 200 and await next_nonce(http) == 1
    assert sorted(o.client_id for o in ex.open_orders(acct)) == [77, 78]


async def test_send_tx_batch(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    url = f"{sim.urls()['lighter']['rest']}/api/v1/sendTxBatch"
    ex = sim.venues["lighter"].exchange
    infos = [orjson.dumps(create_order(acct, n, ClientOrderIndex=100 + n)).decode() for n in range(3)]
    async with aiohttp.ClientSession() as http:
        status, body = await _post(
            http, url, {"tx_types": "[14,14]", "tx_infos": orjson.dumps(infos).decode()}
        )
        assert (status, body["code"]) == (400, 21513)
        status, body = await _post(
            http,
            url,
            {"tx_types": orjson.dumps([14] * 51).decode(), "tx_infos": orjson.dumps(infos * 17).decode()},
        )
        assert (status, body["code"]) == (400, 21514)
        gap = [infos[0], infos[2]]  # nonces 0, 2: the second is wrong, so nothing is applied
        status, body = await _post(http, url, {"tx_types": "[14,14]", "tx_infos": orjson.dumps(gap).decode()})
        assert (status, body["message"]) == (400, "tx 1: invalid nonce")
        assert ex.open_orders(acct) == []
        status, body = await _post(
            http, url, {"tx_types": "[14,14,14]", "tx_infos": orjson.dumps(infos).decode()}
        )
        assert status == 200 and isinstance(body["tx_hash"], list) and len(body["tx_hash"]) == 3
    assert sorted(o.client_id for o in ex.open_orders(acct)) == [100, 101, 102]


async def test_reads_and_auth(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    acct = sim.add_lighter_account(PUB, api_key_index=3, collateral_usdc=1_234)
    base = sim.urls()["lighter"]["rest"]
    ex = sim.venues["lighter"].exchange
    lp = ex.create_account(10**20)
    ex.place_order(OrderRequest(lp, 0, Side.BUY, 1_000, 349_000))
    ex.place_order(OrderRequest(lp, 0, Side.BUY, 2_000, 349_500))
    ex.place_order(OrderRequest(lp, 0, Side.SELL, 1_500, 350_000))
    good = auth_token(acct, now_ms() // 1000 + 600)
    async with aiohttp.ClientSession() as http:
        body = await (
            await http.get(f"{base}/api/v1/orderBookOrders", params={"market_id": 0, "limit": 10})
        ).json()
        assert [b["price"] for b in body["bids"]] == ["3495.00", "3490.00"]  # best first
        assert body["asks"][0]["remaining_base_amount"] == "0.1500" and body["total_asks"] == 1
        resp = await http.get(f"{base}/api/v1/orderBookOrders", params={"market_id": 9, "limit": 10})
        assert resp.status == 400 and (await resp.json())["code"] == 21602
        body = await (await http.get(f"{base}/api/v1/account", params={"by": "index", "value": acct})).json()
        assert body["accounts"][0]["collateral"] == "1234.000000"
        resp = await http.get(f"{base}/api/v1/account", params={"by": "index", "value": 999})
        assert (await resp.json())["code"] == 29404
        path = f"{base}/api/v1/accountActiveOrders"
        for token in (
            None,
            auth_token(acct, now_ms() // 1000 - 5),
            "1:2:3",
            good.replace(":3:", ":4:"),
        ):
            headers = {"Authorization": token} if token else {}
            resp = await http.get(path, params={"account_index": acct}, headers=headers)
            assert resp.status == 400 and (await resp.json())["code"] == 20001
        resp = await http.get(path, params={"account_index": acct}, headers={"Authorization": good})
        assert await resp.json() == {"code": 200, "orders": []}
        keys = await (await http.get(f"{base}/api/v1/apikeys", params={"account_index": acct})).json()
        assert keys["api_keys"][0]["public_key"] == PUB[2:]


async def test_scheduled_cancel_all_is_a_dead_man_switch(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    venue = sim.protocol("lighter")
    venue.send_tx(14, create_order(acct, 0))
    t = now_ms()
    _, schedule, _ = _key(acct).sign_cancel_all_orders(1, t + 600_000, 1, expired_at=t + 60_000)
    venue.send_tx(16, schedule)
    assert venue.cancel_all_time(acct) == t + 600_000
    venue.poll()
    assert len(venue.engine.open_orders(acct)) == 1
    venue.skew_ms = lambda: 601_000  # the venue's clock passes the deadline
    venue.poll()
    assert venue.engine.open_orders(acct) == [] and venue.cancel_all_time(acct) == 0


# ---------------------------------------------------------------- WebSocket


async def test_order_book_channel_snapshot_then_chained_deltas(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",), generate=True, updates_per_s=200.0)
    spec = sim.protocol("lighter").spec(0)
    assert spec is not None
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["lighter"]["ws"]) as ws:
        hello = await recv_json(ws)
        assert hello["type"] == "connected" and hello["session_id"]
        await ws.send_json({"type": "subscribe", "channel": "order_book/0"})
        snap = await recv_json(ws)
        assert snap["type"] == "subscribed/order_book" and snap["channel"] == "order_book:0"
        book = {
            "bids": {b["price"]: b["size"] for b in snap["order_book"]["bids"]},
            "asks": {a["price"]: a["size"] for a in snap["order_book"]["asks"]},
        }
        nonce = snap["order_book"]["nonce"]
        stamps = []
        for _ in range(8):
            upd = await recv_until(ws, lambda f: f.get("type") == "update/order_book")
            ob = upd["order_book"]
            assert ob["begin_nonce"] == nonce and ob["nonce"] > nonce
            nonce = ob["nonce"]
            stamps.append(upd["timestamp"])
            for side in ("bids", "asks"):
                for lv in ob[side]:
                    if float(lv["size"]) == 0:
                        book[side].pop(lv["price"], None)
                    else:
                        book[side][lv["price"]] = lv["size"]
        assert stamps[-1] - stamps[0] >= 6 * 40  # batched about every 50 ms
        await sim.stop_generator()  # freeze the book, then drain what is in flight
        while True:
            try:
                upd = await recv_json(ws, 0.3)
            except TimeoutError:
                break
            ob = upd["order_book"]
            assert ob["begin_nonce"] == nonce
            nonce = ob["nonce"]
            for side in ("bids", "asks"):
                for lv in ob[side]:
                    if float(lv["size"]) == 0:
                        book[side].pop(lv["price"], None)
                    else:
                        book[side][lv["price"]] = lv["size"]
        await ws.send_json({"type": "unsubscribe", "channel": "order_book/0"})
        assert (await recv_json(ws)) == {"type": "unsubscribed", "channel": "order_book:0"}
    final = sim.venues["lighter"].exchange.book_snapshot(0)
    assert final.seq == nonce
    assert book["bids"] == {spec.format_price(lv.price): spec.format_quantity(lv.size) for lv in final.bids}
    assert book["asks"] == {spec.format_price(lv.price): spec.format_quantity(lv.size) for lv in final.asks}


async def test_ws_errors_ping_and_tx_submission(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    token = auth_token(acct, now_ms() // 1000 + 600)
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["lighter"]["ws"]) as ws:
        await recv_json(ws)
        await ws.send_str("{")
        assert (await recv_json(ws))["error"]["code"] == 30000
        await ws.send_json({"type": "subscribe", "channel": "order_book/77"})
        assert (await recv_json(ws))["error"]["code"] == 30005
        await ws.send_json({"type": "subscribe", "channel": "candles/0"})
        assert (await recv_json(ws))["error"]["code"] == 30005
        await ws.send_json({"type": "subscribe", "channel": f"account_all_orders/{acct}"})
        assert (await recv_json(ws))["error"]["code"] == 20001
        await ws.send_json({"type": "ping"})
        assert await recv_json(ws) == {"type": "pong"}
        await ws.send_json({"type": "subscribe", "channel": f"account_all_orders/{acct}", "auth": token})
        snap = await recv_json(ws)
        assert snap["type"] == "subscribed/account_all_orders" and snap["orders"] == {}
        await ws.send_json(
            {
                "type": "jsonapi/sendtx",
                "data": {"id": "req-1", "tx_type": 14, "tx_info": create_order(acct, 0)},
            }
        )
        frames = [await recv_json(ws) for _ in range(2)]
        reply = next(f for f in frames if f.get("type") == "jsonapi/sendtx")
        update = next(f for f in frames if f.get("type") == "update/account_all_orders")
        assert reply["id"] == "req-1" and reply["code"] == 200
        assert update["orders"]["0"][0]["client_order_index"] == 77
        assert update["orders"]["0"][0]["status"] == "open"
        await ws.send_json(
            {
                "type": "jsonapi/sendtx",
                "data": {"id": "req-2", "tx_type": 14, "tx_info": create_order(acct, 0)},
            }
        )
        err = await recv_json(ws)
        assert err == {
            "id": "req-2",
            "type": "jsonapi/sendtx",
            "error": {"code": 400, "message": "invalid nonce"},
        }
        batch = [orjson.dumps(create_order(acct, n, ClientOrderIndex=200 + n)).decode() for n in (1, 2)]
        await ws.send_json(
            {
                "type": "jsonapi/sendtxbatch",
                "data": {"id": "b", "tx_types": "[14,14]", "tx_infos": orjson.dumps(batch).decode()},
            }
        )
        reply = await recv_until(ws, lambda f: f.get("type") == "jsonapi/sendtxbatch")
        assert reply["id"] == "b" and len(reply["tx_hash"]) == 2


async def test_app_ping_and_no_pong_close(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",), ping_interval_s=0.1, pong_timeout_s=0.25)
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["lighter"]["ws"]) as ws:
        await recv_json(ws)
        assert await recv_json(ws, 2) == {"type": "ping"}
        closing = await asyncio.wait_for(ws.receive(), 2)
        while closing.type == aiohttp.WSMsgType.TEXT:
            closing = await asyncio.wait_for(ws.receive(), 2)
        assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1008 and closing.extra == "no pong"


async def test_skip_seq_fault_breaks_the_nonce_chain(cluster_factory: Any) -> None:
    rule = FaultRule(FaultKind.SKIP_SEQ, every=2, max_count=1, conn="lighter-ws-*")
    sim = await cluster_factory(venues=("lighter",), fault_plan=plan(rule))
    ex = sim.venues["lighter"].exchange
    lp = ex.create_account(10**20)
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["lighter"]["ws"]) as ws:
        await recv_json(ws)
        await ws.send_json({"type": "subscribe", "channel": "order_book/0"})
        last = (await recv_json(ws))["order_book"]["nonce"]
        breaks = 0
        for i in range(4):  # one delta per 50 ms flush window; the 2nd flush is dropped
            ex.place_order(OrderRequest(lp, 0, Side.BUY, 100, 300_000 + i))
            try:
                upd = await recv_json(ws, 0.3)
            except TimeoutError:
                continue
            ob = upd["order_book"]
            breaks += ob["begin_nonce"] != last
            last = ob["nonce"]
    assert breaks == 1  # exactly one gap, visible as begin_nonce != previous nonce
    assert sim.faults.plan.counts[FaultKind.SKIP_SEQ] == 1


async def test_cancel_on_disconnect_is_off_by_default_and_can_be_enabled(cluster_factory: Any) -> None:
    for enabled in (False, True):
        sim = await cluster_factory(venues=("lighter",), lighter_cancel_on_disconnect=enabled)
        acct = sim.add_lighter_account(PUB, api_key_index=3)
        sim.protocol("lighter").send_tx(14, create_order(acct, 0))
        token = auth_token(acct, now_ms() // 1000 + 600)
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(sim.urls()["lighter"]["ws"]) as ws:
                await recv_json(ws)
                await ws.send_json(
                    {"type": "subscribe", "channel": f"account_all_orders/{acct}", "auth": token}
                )
                await recv_json(ws)
                assert sim.drop_sockets("lighter") == 1
            for _ in range(50):
                if not sim.venues["lighter"].server.sessions:
                    break
                await asyncio.sleep(0.02)
        left = sim.venues["lighter"].exchange.open_orders(acct)
        assert (left == []) is enabled


async def test_standard_tier_speed_bump_delays_matching(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",), lighter_tier="standard")
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    venue = sim.protocol("lighter")
    ex = venue.engine
    lp = ex.create_account(10**20)
    ex.place_order(OrderRequest(lp, 0, Side.SELL, 1_000, 350_000))
    t0 = now_ms()
    resting = venue.send_tx(14, create_order(acct, 0))  # bid at 3000: a maker, 200 ms
    assert resting["predicted_execution_time_ms"] >= t0 + 200
    taker = create_order(acct, 1, ClientOrderIndex=78, Price=350_000, TimeInForce=0, OrderExpiry=0)
    venue.send_tx(14, taker)  # crosses the ask: a taker, 300 ms
    duplicate = create_order(acct, 2)  # client index 77 again: the sequencer will refuse it
    venue.send_tx(14, duplicate)
    assert venue.next_nonce(acct, 3) == 3  # accepted by the API: nonces used at once
    assert ex.open_orders(acct) == []  # nothing has reached the engine yet
    sent = time.monotonic()
    rested_at = filled_at = None
    while filled_at is None and time.monotonic() - sent < 3:
        await asyncio.sleep(0.01)
        if rested_at is None and ex.open_orders(acct):
            rested_at = time.monotonic() - sent
        if ex.position(acct, 0).size:
            filled_at = time.monotonic() - sent
    assert rested_at is not None and filled_at is not None
    assert 0.19 <= rested_at <= filled_at and filled_at >= 0.29  # maker after 200 ms, taker after 300 ms
    assert ex.position(acct, 0).size == 1_000
    assert [(code, tx.header.nonce) for tx, code, _ in venue.sequencer_rejections] == [(21728, 2)]


def test_weighted_limiter_budget_and_retry_hint() -> None:
    from xtb.sim.lighter.ratelimit import WeightedLimiter

    lim = WeightedLimiter(900)
    assert lim.try_spend("a", "/api/v1/account", 0.0) is None  # 300
    assert lim.try_spend("a", "/api/v1/orderBooks", 10.0) is None  # 600
    assert lim.try_spend("a", "/api/v1/sendTx", 20.0) is None  # 606
    assert lim.try_spend("a", "/api/v1/apikeys", 30.0) is None  # 756
    assert lim.try_spend("a", "/api/v1/account", 40.0) == pytest.approx(20.0)  # needs the first 300 gone
    assert lim.try_spend("b", "/api/v1/account", 40.0) is None  # per client
    assert lim.try_spend("a", "/api/v1/account", 60.5) is None


async def test_rest_rate_limit_answers_429(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",), lighter_rate_limit_per_minute=600)
    base = sim.urls()["lighter"]["rest"]
    async with aiohttp.ClientSession() as http:
        codes = [(await http.get(f"{base}/api/v1/orderBooks")).status for _ in range(2)]
        resp = await http.get(f"{base}/api/v1/orderBooks")
        assert codes == [200, 200] and resp.status == 429
        assert await resp.json() == {"code": 23000, "message": "Too Many Requests!"}
        assert 55 <= int(resp.headers["Retry-After"]) <= 60


async def test_trade_and_account_trade_position_channels(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    ex = sim.venues["lighter"].exchange
    lp = ex.create_account(10**20)
    ex.place_order(OrderRequest(lp, 0, Side.SELL, 2_000, 350_000, client_id=9))
    token = auth_token(acct, now_ms() // 1000 + 600)
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["lighter"]["ws"]) as ws:
        await recv_json(ws)
        await ws.send_json({"type": "subscribe", "channel": "trade/0"})
        assert (await recv_json(ws))["type"] == "subscribed/trade"
        for channel in (f"account_all_trades/{acct}", f"account_all_positions/{acct}"):
            await ws.send_json({"type": "subscribe", "channel": channel, "auth": token})
            assert (await recv_json(ws))["type"] == f"subscribed/{channel.split('/')[0]}"
        sim.protocol("lighter").send_tx(14, create_order(acct, 0, Price=350_000, TimeInForce=0, OrderExpiry=0))
        got: dict[str, Any] = {}
        while len(got) < 3:
            frame = await recv_json(ws)
            got[frame["type"]] = frame
    trade = got["update/trade"]["trades"][0]
    assert got["update/trade"]["channel"] == "trade:0"
    assert (
        trade["price"],
        trade["size"],
        trade["is_maker_ask"],
        trade["ask_client_id"],
        trade["bid_client_id"],
    ) == ("3500.00", "0.1000", True, 9, 77)
    assert (trade["bid_account_id"], trade["ask_account_id"]) == (acct, lp)
    assert got["update/account_all_trades"]["trades"]["0"][0]["trade_id"] == trade["trade_id"]
    assert got["update/account_all_positions"]["positions"]["0"]["position"] == "0.1000"
