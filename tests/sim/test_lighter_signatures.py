"""The Lighter simulator verifies every transaction and auth-token signature with the core's native
verifier: forged, wrong-key and tampered transactions are refused (HTTP 400 / WS error frame,
`{"code": 21501, "message": "invalid tx info: invalid signature"}`) and use no nonce; the Go library's
signatures and the native signer's are accepted."""

from __future__ import annotations

import base64
import time
from typing import Any

import aiohttp
import orjson
import pytest

from xtb import _core
from xtb.signing import LighterSigner, OrderRequest, generate_api_key

from .proto_helpers import cluster_factory_fixture, recv_json, recv_until  # noqa: F401

pytestmark = pytest.mark.timeout(30)

CHAIN_ID = 304
BAD_SIG = {"code": 21501, "message": "invalid tx info: invalid signature"}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _order(key: Any, nonce: int, cid: int = 77) -> str:
    order = (0, cid, 1000, 300_000, 0, 0, 1, 0, 0, now_ms() + 86_400_000)
    return str(key.sign_create_order(order, nonce)[1])


def _tampered(tx_info: str, field: str, delta: int = 1) -> str:
    doc = orjson.loads(tx_info)
    doc[field] += delta
    return orjson.dumps(doc).decode()


def _forged(tx_info: str) -> str:
    doc = orjson.loads(tx_info)
    sig = bytearray(base64.b64decode(doc["Sig"]))
    sig[3] ^= 0x10
    doc["Sig"] = base64.b64encode(bytes(sig)).decode()
    return orjson.dumps(doc).decode()


async def _post(http: aiohttp.ClientSession, url: str, form: dict[str, str]) -> tuple[int, Any]:
    resp = await http.post(url, data=form)
    return resp.status, await resp.json()


async def test_forged_wrong_key_and_tampered_txs_are_refused(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    private, public = generate_api_key()
    acct = sim.add_lighter_account(public, api_key_index=3)
    key = _core.LighterKey(private, chain_id=CHAIN_ID, account_index=acct, api_key_index=3)
    intruder = _core.LighterKey(generate_api_key()[0], chain_id=CHAIN_ID, account_index=acct, api_key_index=3)
    base = sim.urls()["lighter"]["rest"]
    good = _order(key, 0)
    bad = {
        "forged": _forged(good),
        "wrong key": _order(intruder, 0),
        "tampered price": _tampered(good, "Price"),
        "tampered size": _tampered(good, "BaseAmount", 1000),
        "tampered deadline": _tampered(good, "ExpiredAt", -1),
        "other chain": str(_core.LighterKey(private, chain_id=1, account_index=acct, api_key_index=3)
                           .sign_create_order((0, 77, 1000, 300_000, 0, 0, 1, 0, 0, now_ms() + 86_400_000), 0)[1]),
    }
    async with aiohttp.ClientSession() as http:
        for name, tx_info in bad.items():
            status, body = await _post(http, f"{base}/api/v1/sendTx", {"tx_type": "14", "tx_info": tx_info})
            assert (status, body) == (400, BAD_SIG), name
        assert sim.protocol("lighter").next_nonce(acct, 3) == 0  # refused txs use no nonce
        assert sim.exchange("lighter").open_orders(acct) == []
        # a batch with one bad signature is refused whole, naming the tx
        batch = [_order(key, 0, 100), _forged(_order(key, 1, 101))]
        status, body = await _post(http, f"{base}/api/v1/sendTxBatch",
                                   {"tx_types": "[14,14]", "tx_infos": orjson.dumps(batch).decode()})
        assert (status, body) == (400, {"code": 21501, "message": "tx 1: invalid tx info: invalid signature"})
        assert sim.exchange("lighter").open_orders(acct) == []
        status, body = await _post(http, f"{base}/api/v1/sendTx", {"tx_type": "14", "tx_info": good})
        assert status == 200 and body["code"] == 200
    assert [o.client_id for o in sim.exchange("lighter").open_orders(acct)] == [77]


async def test_ws_sendtx_and_auth_tokens_are_verified(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("lighter",))
    private, public = generate_api_key()
    acct = sim.add_lighter_account(public, api_key_index=3)
    key = _core.LighterKey(private, chain_id=CHAIN_ID, account_index=acct, api_key_index=3)
    deadline = now_ms() // 1000 + 600
    token = key.create_auth_token(deadline)
    forged_token = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    other_token = _core.LighterKey(generate_api_key()[0], chain_id=CHAIN_ID, account_index=acct,
                                   api_key_index=3).create_auth_token(deadline)
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.urls()["lighter"]["ws"]) as ws:
        await recv_json(ws)
        for bad in (forged_token, other_token):
            await ws.send_json({"type": "subscribe", "channel": f"account_all_orders/{acct}", "auth": bad})
            err = await recv_json(ws)
            assert err["error"]["code"] == 20001 and "invalid signature" in err["error"]["message"]
        resp = await http.get(f"{sim.urls()['lighter']['rest']}/api/v1/accountActiveOrders",
                              params={"account_index": acct}, headers={"Authorization": forged_token})
        assert resp.status in (400, 401, 403)
        await ws.send_json({"type": "subscribe", "channel": f"account_all_orders/{acct}", "auth": token})
        assert (await recv_json(ws))["type"] == "subscribed/account_all_orders"
        forged = orjson.loads(_forged(_order(key, 0)))
        await ws.send_json({"type": "jsonapi/sendtx", "data": {"id": "f", "tx_type": 14, "tx_info": forged}})
        reply = await recv_until(ws, lambda f: f.get("id") == "f")
        assert reply["error"] == BAD_SIG
        await ws.send_json({"type": "jsonapi/sendtx",
                            "data": {"id": "g", "tx_type": 14, "tx_info": orjson.loads(_order(key, 0))}})
        reply = await recv_until(ws, lambda f: f.get("id") == "g")
        assert reply["code"] == 200


async def test_go_library_signatures_are_accepted(cluster_factory: Any) -> None:
    # The lighter-sdk Go library's signatures verify in the simulator as well (both signers, one verifier).
    sim = await cluster_factory(venues=("lighter",))
    private, public = generate_api_key(backend="go")
    acct = sim.add_lighter_account(public, api_key_index=3)
    with LighterSigner(private, chain_id=CHAIN_ID, api_key_index=3, account_index=acct, backend="go",
                       native=False) as go:
        for nonce in range(3):
            signed = go.sign_sync(OrderRequest.limit(0, 500 + nonce, 1000, 300_000, False,
                                                     expiry_ms=now_ms() + 86_400_000), nonce=nonce)
            reply = sim.protocol("lighter").send_tx(signed.tx_type, signed.tx_info)
            assert reply["code"] == 200
        tampered = _tampered(go.sign_sync(OrderRequest.limit(0, 600, 1000, 300_000, False,
                                                               expiry_ms=now_ms() + 86_400_000), nonce=3).tx_info,
                             "ClientOrderIndex")
        with pytest.raises(Exception, match="invalid signature"):
            sim.protocol("lighter").send_tx(14, tampered)
