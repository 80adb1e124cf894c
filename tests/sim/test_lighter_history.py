"""Lighter front-end history surface: `fundings`, `funding-rates`, `markPriceCandles`, `accountsByL1Address`,
the tx record (`tx`, `txs`, `accountTxs`, `blockTxs`), `changeAccountTier`, the `account_tx` and `height`
channels, and the venue-style refusal of the channels outside perp trading."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson
import pytest

from xtb import _core
from xtb.sim.types import OrderRequest, Side

from .proto_helpers import cluster_factory_fixture, recv_json, recv_until  # noqa: F401

pytestmark = pytest.mark.timeout(60)

PRIV, _PUB_HEX = _core.lighter_generate_api_key()
PUB = "0x" + _PUB_HEX
TX_FIELDS = {"hash", "type", "info", "event_info", "status", "transaction_index", "l1_address", "account_index",
             "nonce", "expire_at", "block_height", "queued_at", "executed_at", "sequence_index", "parent_hash",
             "api_key_index", "transaction_time"}  # fmt: skip


def _key(account: int) -> Any:
    return _core.LighterKey(PRIV, chain_id=304, account_index=account, api_key_index=3)


def token(account: int) -> str:
    return str(_key(account).create_auth_token(time.time_ns() // 1_000_000_000 + 600))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def signed_order(account: int, nonce: int, client_id: int, price: int = 250000) -> str:
    order = (0, client_id, 1000, price, 0, 0, 1, 0, 0, now_ms() + 86_400_000)
    return str(_key(account).sign_create_order(order, nonce, expired_at=now_ms() + 600_000)[1])


async def send_tx(http: aiohttp.ClientSession, url: str, info: str) -> dict[str, Any]:
    resp = await http.post(f"{url}/api/v1/sendTx", data={"tx_type": "14", "tx_info": info})
    body: dict[str, Any] = await resp.json()
    assert resp.status == 200, body
    return body


async def test_tx_record_endpoints_and_account_tx_height_channels(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    url = sim.urls()["lighter"]["rest"]
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    auth = {"Authorization": token(acct)}
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["lighter"]["ws"]) as ws:
        await recv_json(ws)  # connected
        await ws.send_json({"type": "subscribe", "channel": f"account_tx/{acct}"})
        assert (await recv_json(ws))["error"]["code"] == 20001  # needs the auth token
        await ws.send_json({"type": "subscribe", "channel": f"account_tx/{acct}", "auth": token(acct)})
        snap = await recv_json(ws)
        assert (snap["type"], snap["channel"], snap["txs"]) == ("subscribed/account_tx", f"account_tx:{acct}", [])
        await ws.send_json({"type": "subscribe", "channel": "height"})
        h0 = await recv_json(ws)
        assert h0["type"] == "subscribed/height" and isinstance(h0["height"], int)

        first = await send_tx(http, url, signed_order(acct, 0, 7))
        second = await send_tx(http, url, signed_order(acct, 1, 8))
        update = await recv_until(ws, lambda f: f.get("type") == "update/account_tx")
        (tx,) = update["txs"]
        assert set(tx) >= TX_FIELDS and tx["hash"] == first["tx_hash"] and tx["type"] == 14
        assert (tx["status"], tx["nonce"], tx["account_index"]) == (2, 0, acct)
        assert orjson.loads(tx["info"])["ClientOrderIndex"] == 7 and isinstance(tx["event_info"], str)
        height = await recv_until(ws, lambda f: f.get("type") == "update/height")
        assert height["height"] == h0["height"] + 1 == tx["block_height"]

        body = await (await http.get(f"{url}/api/v1/tx?by=hash&value={second['tx_hash']}")).json()
        assert body["code"] == 200 and set(body) >= TX_FIELDS | {"committed_at", "verified_at"}
        assert body["nonce"] == 1 and body["block_height"] == tx["block_height"] + 1
        by_seq = await (await http.get(f"{url}/api/v1/tx?by=sequence_index&value={body['sequence_index']}")).json()
        assert by_seq["hash"] == second["tx_hash"]
        resp = await http.get(f"{url}/api/v1/tx?by=hash&value={'0' * 80}")
        assert resp.status == 400 and (await resp.json())["code"] == 21500

        txs = await (await http.get(f"{url}/api/v1/txs?limit=10&index={tx['sequence_index']}")).json()
        assert [t["hash"] for t in txs["txs"]] == [first["tx_hash"], second["tx_hash"]]

        q = f"by=account_index&value={acct}&limit=10"
        resp = await http.get(f"{url}/api/v1/accountTxs?{q}")
        assert resp.status == 400  # needs the auth token
        mine = await (await http.get(f"{url}/api/v1/accountTxs?{q}", headers=auth)).json()
        assert [t["nonce"] for t in mine["txs"]] == [1, 0]  # newest first
        page = await http.get(f"{url}/api/v1/accountTxs?{q}&index={body['sequence_index']}", headers=auth)
        assert [t["nonce"] for t in (await page.json())["txs"]] == [0]
        none = await (await http.get(f"{url}/api/v1/accountTxs?{q}&types=[15]", headers=auth)).json()
        assert none["txs"] == []

        block = await (await http.get(f"{url}/api/v1/blockTxs?by=block_height&value={tx['block_height']}")).json()
        assert [t["hash"] for t in block["txs"]] == [first["tx_hash"]]
        resp = await http.get(f"{url}/api/v1/blockTxs?by=commitment&value=1")
        assert resp.status == 400 and (await resp.json())["code"] == 20001


async def test_tx_record_is_bounded(cluster_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from xtb.sim.lighter import venue as lighter_venue

    monkeypatch.setattr(lighter_venue, "TX_RECORD", 2)
    sim = await cluster_factory(venues=("lighter",))
    url = sim.urls()["lighter"]["rest"]
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    async with aiohttp.ClientSession() as http:
        hashes = [(await send_tx(http, url, signed_order(acct, n, 10 + n)))["tx_hash"] for n in range(3)]
        assert list(sim.protocol("lighter").txs) == hashes[1:]
        resp = await http.get(f"{url}/api/v1/tx?by=hash&value={hashes[0]}")
        assert resp.status == 400 and (await resp.json())["code"] == 21500  # the oldest was dropped
        assert (await http.get(f"{url}/api/v1/tx?by=hash&value={hashes[2]}")).status == 200


async def test_fundings_funding_rates_and_mark_price_candles(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    url = sim.urls()["lighter"]["rest"]
    ex = sim.venues["lighter"].exchange
    ex.set_mark_price(0, 301000)
    ex.set_mark_price(0, 302000)
    ex.set_mark_price(0, 300500)
    maker = ex.create_account(10**20)
    taker = ex.create_account(10**20)
    ex.place_order(OrderRequest(maker, 0, Side.SELL, 5000, 300000))
    ex.place_order(OrderRequest(taker, 0, Side.BUY, 5000, 300000))
    ex.settle_funding(0, 120)  # 0.012 % paid by longs
    ex.set_funding_rate(0, -50)
    now = now_ms()
    q = f"market_id=0&start_timestamp={now - 3_600_000}&end_timestamp={now + 1000}&count_back=10"
    async with aiohttp.ClientSession() as http:
        body = await (await http.get(f"{url}/api/v1/fundings?resolution=1h&{q}")).json()
        assert body["code"] == 200 and body["resolution"] == "1h"
        (funding,) = body["fundings"]
        assert (funding["rate"], funding["direction"]) == ("0.012", "long")
        assert funding["value"] == "3005.00" and abs(funding["timestamp"] - now // 1000) <= 5
        resp = await http.get(f"{url}/api/v1/fundings?resolution=1m&{q}")
        assert resp.status == 400 and (await resp.json())["code"] == 22401

        rates = await (await http.get(f"{url}/api/v1/funding-rates")).json()
        by_market = {r["market_id"]: r for r in rates["funding_rates"]}
        assert by_market[0] == {"market_id": 0, "exchange": "lighter", "symbol": "ETH", "rate": -0.005}

        candles = await (await http.get(f"{url}/api/v1/markPriceCandles?resolution=1h&{q}")).json()
        assert candles["code"] == 200 and candles["r"] == "1h"
        last = candles["c"][-1]
        assert set(last) == {"t", "o", "h", "l", "c", "sc"} and last["t"] % 3_600_000 == 0
        assert (last["h"], last["c"]) == (3020.0, 3005.0) and last["sc"] >= 3
        zero = q.replace("count_back=10", "count_back=0")
        resp = await http.get(f"{url}/api/v1/markPriceCandles?resolution=1h&{zero}")
        assert resp.status == 400 and (await resp.json())["code"] == 20001


async def test_accounts_by_l1_address(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    url = sim.urls()["lighter"]["rest"]
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    async with aiohttp.ClientSession() as http:
        account = await (await http.get(f"{url}/api/v1/account?by=index&value={acct}")).json()
        address = account["accounts"][0]["l1_address"]
        body = await (await http.get(f"{url}/api/v1/accountsByL1Address?l1_address={address.upper()[2:]}")).json()
        assert body["code"] == 20001  # not 0x + 40 hex
        body = await (await http.get(f"{url}/api/v1/accountsByL1Address?l1_address={address}")).json()
        assert body["code"] == 200 and body["l1_address"] == address and body["next_cursor"] == ""
        assert [a["index"] for a in body["sub_accounts"]] == [acct]
        resp = await http.get(f"{url}/api/v1/accountsByL1Address?l1_address=0x{'f' * 40}")
        assert resp.status == 400 and (await resp.json())["code"] == 29404
        by_l1 = await (await http.get(f"{url}/api/v1/account?by=l1_address&value={address}")).json()
        assert by_l1["total"] == 1 and by_l1["accounts"][0]["index"] == acct


async def test_change_account_tier(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    url = sim.urls()["lighter"]["rest"]
    ex = sim.venues["lighter"].exchange
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    auth = {"Authorization": token(acct)}
    tier_url = f"{url}/api/v1/changeAccountTier"
    async with aiohttp.ClientSession() as http:
        resp = await http.post(tier_url, data={"account_index": str(acct), "new_tier": "premium"})
        assert resp.status == 400 and (await resp.json())["code"] == 20001  # no auth token
        resp = await http.post(tier_url, data={"account_index": str(acct), "new_tier": "gold"}, headers=auth)
        assert resp.status == 400 and (await resp.json())["code"] == 62001
        resp = await http.post(tier_url, data={"account_index": "1.5", "new_tier": "premium"}, headers=auth)
        assert resp.status == 400 and (await resp.json())["code"] == 20001
        view = ex.place_order(OrderRequest(acct, 0, Side.BUY, 1000, 250000))
        resp = await http.post(tier_url, data={"account_index": str(acct), "new_tier": "premium"}, headers=auth)
        assert resp.status == 400 and (await resp.json())["code"] == 62002  # an open order
        ex.cancel_order(acct, 0, order_id=view.order_id)
        resp = await http.post(tier_url, data={"account_index": str(acct), "new_tier": "premium"}, headers=auth)
        assert resp.status == 200 and (await resp.json())["code"] == 200
        account = await (await http.get(f"{url}/api/v1/account?by=index&value={acct}")).json()
        assert account["accounts"][0]["account_type"] == 1
        resp = await http.post(tier_url, data={"account_index": str(acct), "new_tier": "standard"}, headers=auth)
        assert resp.status == 400 and (await resp.json())["code"] == 62003  # within 24 h of the last switch


@pytest.mark.parametrize("channel", ["spot_market_stats/0", "notification/1", "pool_data/1", "pool_info/1"])
async def test_channels_outside_perp_trading_are_refused(cluster_factory: Any, channel: str) -> None:
    sim = await cluster_factory(venues=("lighter",))
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["lighter"]["ws"]) as ws:
        await recv_json(ws)  # connected
        await ws.send_json({"type": "subscribe", "channel": channel})
        err = await recv_json(ws)
        assert err["error"]["code"] == 30005 and "not supported" in err["error"]["message"]


async def test_replies_parse_with_the_sdk_models(cluster_factory: Any) -> None:
    """Every new reply parses with lighter-sdk's own (strict) response models."""
    models = pytest.importorskip("lighter.models")
    sim = await cluster_factory(venues=("lighter",))
    url = sim.urls()["lighter"]["rest"]
    ex = sim.venues["lighter"].exchange
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    ex.set_mark_price(0, 301000)
    maker = ex.create_account(10**20)
    ex.place_order(OrderRequest(maker, 0, Side.SELL, 5000, 300000))
    ex.place_order(OrderRequest(acct, 0, Side.BUY, 5000, 300000))
    ex.settle_funding(0, -80)
    now = now_ms()
    q = f"market_id=0&start_timestamp={now - 3_600_000}&end_timestamp={now + 1000}&count_back=10"
    auth = {"Authorization": token(acct)}
    async with aiohttp.ClientSession() as http:
        sent = await send_tx(http, url, signed_order(acct, 0, 5))

        async def get(path: str, **kw: Any) -> dict[str, Any]:
            resp = await http.get(f"{url}/api/v1/{path}", **kw)
            body: dict[str, Any] = await resp.json()
            assert resp.status == 200, (path, body)
            return body

        fundings = models.Fundings.from_dict(await get(f"fundings?resolution=1h&{q}"))
        assert fundings.fundings[0].direction == "short" and fundings.fundings[0].rate == "0.008"
        rates = models.FundingRates.from_dict(await get("funding-rates"))
        assert {r.symbol for r in rates.funding_rates} == {"ETH", "BTC", "SOL"}
        marks = models.MarkPriceCandles.from_dict(await get(f"markPriceCandles?resolution=1m&{q}"))
        assert marks.c and marks.c[-1].c == 3010.0
        tx = models.EnrichedTx.from_dict(await get(f"tx?by=hash&value={sent['tx_hash']}"))
        assert (tx.type, tx.status, tx.account_index) == (14, 2, acct)
        assert len(models.Txs.from_dict(await get("txs?limit=5")).txs) == 1
        mine = await get(f"accountTxs?by=account_index&value={acct}&limit=5", headers=auth)
        assert models.Txs.from_dict(mine).txs[0].hash == sent["tx_hash"]
        block = await get(f"blockTxs?by=block_height&value={tx.block_height}")
        assert models.Txs.from_dict(block).txs[0].hash == sent["tx_hash"]
        address = f"0x{acct:040x}"
        subs = models.SubAccounts.from_dict(await get(f"accountsByL1Address?l1_address={address}"))
        assert subs.l1_address == address and [a.index for a in subs.sub_accounts] == [acct]


async def test_a_refused_tx_makes_no_block_and_no_record(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    url = sim.urls()["lighter"]["rest"]
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    async with aiohttp.ClientSession() as http:
        await send_tx(http, url, signed_order(acct, 0, 5))
        height = sim.protocol("lighter").height
        dup = signed_order(acct, 1, 5)  # the same client order index: 21728 from the engine
        resp = await http.post(f"{url}/api/v1/sendTx", data={"tx_type": "14", "tx_info": dup})
        assert resp.status == 400 and (await resp.json())["code"] == 21728
        assert sim.protocol("lighter").height == height and len(sim.protocol("lighter").txs) == 1


async def test_account_tx_follows_a_delayed_tx_from_pending_to_failed(cluster_factory: Any) -> None:
    """Behind the standard tier's speed bump the API accepts first (status 1), then the sequencer decides:
    a duplicate client order index turns the record to failed (0) with the refusal in `event_info.ae`."""
    sim = await cluster_factory(venues=("lighter",), lighter_tier="standard")
    url = sim.urls()["lighter"]["rest"]
    acct = sim.add_lighter_account(PUB, api_key_index=3)
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["lighter"]["ws"]) as ws:
        await recv_json(ws)  # connected
        await ws.send_json({"type": "subscribe", "channel": f"account_tx/{acct}", "auth": token(acct)})
        await recv_json(ws)  # subscribed
        await send_tx(http, url, signed_order(acct, 0, 5))
        dup = await send_tx(http, url, signed_order(acct, 1, 5))
        statuses: dict[str, list[int]] = {}
        while len(statuses.get(dup["tx_hash"], [])) < 2:
            frame = await recv_until(ws, lambda f: f.get("type") == "update/account_tx")
            for tx in frame["txs"]:
                statuses.setdefault(tx["hash"], []).append(tx["status"])
        assert statuses[dup["tx_hash"]] == [1, 0]
        failed = sim.protocol("lighter").txs[dup["tx_hash"]]
        assert "client order index already exists" in orjson.loads(failed["event_info"])["ae"]
        assert failed["executed_at"] >= failed["queued_at"]
