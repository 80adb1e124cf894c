"""Aster connector: the shared conformance suite against the simulator's Aster dialect, once with V3 (API
wallet, EIP-712 signed requests) and once with V1 (legacy HMAC), plus the V3 rules the simulator enforces
(recovered signer, approved agent of `user`, the nonce window and the last-100 rule), the clock re-sync on
-4225, config and keys."""

from __future__ import annotations

import os
import time
from typing import Any

import aiohttp
import orjson
import pytest

from xtb import _core
from xtb.keys import KeyFileError, Secret
from xtb.model.types import SubmitOutcome
from xtb.sim.cluster import SimCluster
from xtb.venues.aster.config import AsterConfig
from xtb.venues.aster.dialect import ASTER_V1, ASTER_V3
from xtb.venues.aster.keys import AsterKeys, load_aster_keys
from xtb.venues.aster.spec import SPEC, connector
from xtb.venues.contract import ConnectorWiring
from xtb.venues.registry import venue_spec

from .conformance import Account, ConnectorConformance, Harness, eventually
from .fapi_band import PercentPriceBandChecks

NAME = "aster"


class TestAsterV3Conformance(PercentPriceBandChecks, ConnectorConformance):
    venue = NAME
    symbol = "BTCUSDT"
    ws_conn = "aster-ws-*"
    rest_conn = "aster-rest"
    auth = "v3"

    async def open_account(self, sim: SimCluster) -> Account:
        user, private_key, account = sim.open_account(NAME, 100_000)
        return Account(user, private_key, account)

    def make_connector(self, sim: SimCluster, account: Account, harness: Harness, **options: Any) -> Any:
        urls = sim.urls()[NAME]
        cfg = AsterConfig.from_options({
            "rest_url": urls["rest"], "ws_public_url": urls["ws"], "ws_market_url": urls["ws"],
            "ws_private_url": urls["ws"], "symbols": [self.symbol, "ETHUSDT"], "auth": self.auth,
            "backoff_initial_s": 0.05, "backoff_max_s": 0.5, "snapshot_retry_s": 0.05,
            "reconcile_interval_s": options.pop("reconcile_interval_s", 5.0), **options,
        })  # fmt: skip
        if self.auth == "v3":
            keys = AsterKeys(user=account.api_key, private_key=Secret(account.secret))
        else:
            keys = AsterKeys(api_key=Secret(account.api_key), api_secret=Secret(account.secret))
        return connector(cfg, keys, ConnectorWiring(harness.ring, harness.tracker, harness.dispatcher.drain))

    def _market(self, sim: SimCluster, symbol: str) -> Any:
        return sim.venues[NAME].exchange.market_by_symbol(symbol)

    def venue_top(self, sim: SimCluster, symbol: str) -> tuple[Any, Any]:
        snap = sim.venues[NAME].exchange.book_snapshot(self._market(sim, symbol).market_id, 1)
        bid = (snap.bids[0].price, snap.bids[0].size) if snap.bids else None
        ask = (snap.asks[0].price, snap.asks[0].size) if snap.asks else None
        return bid, ask

    def venue_open_client_ids(self, sim: SimCluster, account: Account, symbol: str) -> set[int]:
        ex = sim.venues[NAME].exchange
        orders = ex.open_orders(account.account, self._market(sim, symbol).market_id)
        return {int(sim.protocol(NAME).client_text(account.account, o.client_id)) for o in orders}

    def venue_position(self, sim: SimCluster, account: Account, symbol: str) -> int:
        ex = sim.venues[NAME].exchange
        return int(ex.position(account.account, self._market(sim, symbol).market_id).size)

    def rate_limited_count(self, connector: Any) -> int:
        return int(connector.http.rest.stats.rate_limited + connector.http.orders.stats.rate_limited)

    def order_transport(self, connector: Any) -> Any:
        return connector._order_transport

    # ---- Aster, against the simulator ------------------------------------------------------------
    async def test_mark_price_events_reach_the_ring(self, sim: SimCluster, account: Account,
                                                    harness: Harness) -> None:
        """Aster's markPriceUpdate (Binance's shape) is decoded by the same core decoder into MarkPrice events."""
        conn = await self.start_connector(sim, account, harness, mark_price=True, reconcile_interval_s=None)
        try:
            await eventually(lambda: [e for e in harness.recorder.of("mark") if e.venue == NAME], timeout_s=10,
                             what="Aster MarkPrice events in the ring", pump=harness.dispatcher.drain)  # fmt: skip
            market = self._market(sim, self.symbol)
            ev = [e for e in harness.recorder.of("mark") if e.book_id == conn._book_ids[self.symbol]][-1]
            venue_mark = sim.venues[NAME].exchange.mark_price(market.market_id)
            assert abs(ev.mark_px - venue_mark) < venue_mark // 100
            assert ev.funding_rate is not None and ev.next_funding_ms > ev.venue_ms > 0
            assert conn.stats.feed_errors == 0
        finally:
            await conn.close()

    async def test_requests_use_this_generation_paths(self, sim: SimCluster, account: Account,
                                                      connector: Any, harness: Harness) -> None:
        req = await self.resting_order(connector, harness)
        assert (await connector.submit(req)).outcome is SubmitOutcome.ACCEPTED
        assert (await connector.cancel(self.symbol, req.client_id)).outcome is SubmitOutcome.ACCEPTED
        seen = sim.venues[NAME].server.requests  # type: ignore[union-attr]
        dialect = ASTER_V3 if self.auth == "v3" else ASTER_V1
        for endpoint in ("order", "listen_key", "open_orders", "position_risk", "exchange_info", "depth"):
            assert seen.get(dialect.path(endpoint), 0) >= 1, endpoint
        other = ASTER_V1 if self.auth == "v3" else ASTER_V3
        assert seen.get(other.path("order"), 0) == 0

    async def test_clock_offset_resynced_after_a_refused_time(self, sim: SimCluster, account: Account,
                                                              harness: Harness) -> None:
        """The venue's clock jumps 20 s ahead: V3 refuses the nonce (-4225), V1 the timestamp (-1021); the
        order is rejected (never retried blindly), the offset re-synced, the next order accepted."""
        conn = await self.start_connector(sim, account, harness, reconcile_interval_s=None)
        try:
            sim.venues[NAME].server.server_time_offset_ms = 20_000  # type: ignore[union-attr]
            req = await self.resting_order(conn, harness)
            res = await conn.submit(req)
            code = "-4225" if self.auth == "v3" else "-1021"
            assert res.outcome is SubmitOutcome.REJECTED and code in (res.reason or ""), res
            assert conn.http.timestamp_rejections == 1
            assert abs(conn._signer.time_offset_ms - 20_000) < 1_000
            assert self.venue_open_client_ids(sim, account, self.symbol) == set()
            again = await self.resting_order(conn, harness)
            assert (await conn.submit(again)).outcome is SubmitOutcome.ACCEPTED
        finally:
            await conn.close()

    async def test_user_stream_survives_listen_key_expiry(self, sim: SimCluster, account: Account,
                                                          harness: Harness) -> None:
        conn = await self.start_connector(sim, account, harness, reconcile_interval_s=None)
        try:
            first = conn._listen_key
            sim.venues[NAME].server.expire_listen_keys()  # type: ignore[union-attr]
            await eventually(lambda: conn._listen_key != first and conn.user_ws.connected.is_set(), timeout_s=10,
                             what="a new listenKey and a reconnected user stream")  # fmt: skip
            req = await self.resting_order(conn, harness)
            assert (await conn.submit(req)).outcome is SubmitOutcome.ACCEPTED
            sim.venues[NAME].exchange.cancel_order(account.account, self._market(sim, self.symbol).market_id,
                                                   client_id=sim.protocol(NAME)._cid_in[account.account][str(req.client_id)])
            await eventually(lambda: self.state(harness, req.client_id) == "cancelled", timeout_s=5,
                             what="the cancel over the new stream", pump=harness.dispatcher.drain)  # fmt: skip
        finally:
            await conn.close()


class TestAsterV1Conformance(TestAsterV3Conformance):
    """The same suite with a legacy V1 HMAC key pair on the V1 paths."""

    auth = "v1"

    async def open_account(self, sim: SimCluster) -> Account:
        key, secret, account = sim.open_account(NAME, 100_000, auth="v1")
        return Account(key, secret, account)


# ---- the simulator's V3 verification, request by request ------------------------------------------------
@pytest.fixture
async def aster_sim() -> Any:
    from xtb.sim.cluster import ClusterConfig

    async with SimCluster(ClusterConfig(venues=(NAME,), seed=3, generate=False)) as sim:
        yield sim


async def _post(sim: SimCluster, path: str, body: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(
        sim.urls()[NAME]["rest"] + path, data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ) as resp:  # fmt: skip
        return resp.status, orjson.loads(await resp.read())


async def _get(sim: SimCluster, path_and_query: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(sim.urls()[NAME]["rest"] + path_and_query) as resp:
        return resp.status, orjson.loads(await resp.read())


ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
         "price": "90000.0"}  # fmt: skip


async def test_v3_signature_agent_user_and_nonce_rules(aster_sim: SimCluster) -> None:
    sim = aster_sim
    user, key, account = sim.open_account(NAME, 10_000)
    signer = _core.AsterSigner(key, user, 1666)
    now_us = time.time_ns() // 1000

    # a good request, then the very same bytes again: the nonce is a duplicate
    body = signer.signed({**ORDER, "newClientOrderId": "1"}, nonce=now_us)
    status, reply = await _post(sim, "/fapi/v3/order", body)
    assert status == 200 and reply["clientOrderId"] == "1", reply
    status, reply = await _post(sim, "/fapi/v3/order", body)
    assert status == 400 and reply["code"] == -4225 and "duplicate" in reply["msg"]

    # the nonce must be within 10 s of the server's clock, either way
    for off in (-11_000_000, 11_000_000):
        status, reply = await _post(sim, "/fapi/v3/order", signer.signed(ORDER, nonce=now_us + off))
        assert (status, reply["code"]) == (400, -4225)

    # GET with the signed query string; the 100 most recent nonces are kept, anything older is refused
    for i in range(1, 101):
        status, reply = await _get(sim, "/fapi/v3/openOrders?" + signer.signed({"symbol": "BTCUSDT"},
                                                                                nonce=now_us + i))  # fmt: skip
        assert status == 200, reply
    status, reply = await _get(sim, "/fapi/v3/openOrders?" + signer.signed({"symbol": "BTCUSDT"},
                                                                            nonce=now_us - 5))  # fmt: skip
    assert (status, reply["code"], reply["msg"]) == (400, -4225, "Nonce Expired")
    status, reply = await _get(sim, "/fapi/v3/openOrders?" + signer.signed({"symbol": "BTCUSDT"},
                                                                            nonce=now_us + 500))  # fmt: skip
    assert status == 200 and [o["clientOrderId"] for o in reply] == ["1"]

    # a tampered message: the signature recovers someone else
    good = signer.signed({**ORDER, "newClientOrderId": "2"})
    status, reply = await _post(sim, "/fapi/v3/order", good.replace("quantity=0.001", "quantity=0.002"))
    assert (status, reply["code"]) == (400, -1022)

    # an agent nobody approved; an approved agent speaking for another user
    stranger = _core.AsterSigner("11" * 32, user, 1666)
    status, reply = await _post(sim, "/fapi/v3/order", stranger.signed(ORDER))
    assert (status, reply["code"]) == (401, -2015)
    other_user, _, _ = sim.open_account(NAME, 10)
    impostor = _core.AsterSigner(key, other_user, 1666)
    status, reply = await _post(sim, "/fapi/v3/order", impostor.signed(ORDER))
    assert (status, reply["code"]) == (401, -2015)

    # the testnet chain id signs a different digest: refused on a mainnet venue
    status, reply = await _post(sim, "/fapi/v3/order", _core.AsterSigner(key, user, 714).signed(ORDER))
    assert (status, reply["code"]) == (400, -1022)

    # `user` may be left out (UNCONFIRMED on the venue): the agent's main wallet is used
    status, reply = await _post(sim, "/fapi/v3/order", _core.AsterSigner(key, user, include_user=False).signed(
        {**ORDER, "newClientOrderId": "3"}))  # fmt: skip
    assert status == 200 and reply["clientOrderId"] == "3"
    # the V1 paths do not take V3 signatures
    status, reply = await _post(sim, "/fapi/v1/order", signer.signed(ORDER))
    assert status == 401 and reply["code"] == -2014
    opened = sim.venues[NAME].exchange.open_orders(account, 0)
    assert sorted(sim.protocol(NAME).client_text(account, o.client_id) for o in opened) == ["1", "3"]


async def test_v3_listen_key_needs_a_signature(aster_sim: SimCluster) -> None:
    user, key, _ = aster_sim.open_account(NAME, 10)
    status, reply = await _post(aster_sim, "/fapi/v3/listenKey", "")
    assert status == 400 and reply["code"] == -1102
    status, reply = await _post(aster_sim, "/fapi/v3/listenKey", _core.AsterSigner(key, user).signed())
    assert status == 200 and reply["listenKey"]


# ---- no simulator ------------------------------------------------------------------------------------
def test_registered_with_the_aster_dialect() -> None:
    assert venue_spec(NAME) is SPEC and SPEC.sim_dialect == NAME
    assert ASTER_V3.path("order") == "/fapi/v3/order" and ASTER_V3.path("balance") == "/fapi/v3/balance"
    assert ASTER_V1.path("balance") == "/fapi/v2/balance" and ASTER_V1.path("account") == "/fapi/v4/account"
    assert ASTER_V3.limit_key("POST", "/fapi/v3/order") == ("order", 1)
    assert ASTER_V3.limit_key("GET", "/fapi/v3/exchangeInfo") == ("public", 1)
    assert ASTER_V3.clock_errors == {"-4225"} and ASTER_V3.listen_key_signed and not ASTER_V1.listen_key_signed


def test_config_profiles_and_refusals() -> None:
    main = AsterConfig.from_options({})
    assert main.rest_url == "https://fapi.asterdex.com" and main.ws_private_url == "wss://fstream.asterdex.com"
    assert main.chain_id == 1666 and main.auth == "v3" and main.include_user and not main.signature_0x
    test = AsterConfig.from_options({"profile": "testnet"})
    assert test.chain_id == 714 and test.rest_url == "https://fapi.asterdex-testnet.com"
    for options, field in [({"auth": "v2"}, "auth"), ({"chain_id": "x"}, "chain_id"),
                           ({"order_entry": "ws_api"}, "order_entry"), ({"include_user": "yes"}, "include_user"),
                           ({"profile": "devnet"}, "profile"), ({"bogus": 1}, "unknown keys")]:  # fmt: skip
        with pytest.raises(ValueError, match=f"venues.aster.options.*{field}|{field}"):
            AsterConfig.from_options(options)


def test_keys_from_file_or_environment(tmp_path: Any) -> None:
    key = "0x" + "ab" * 32
    f = tmp_path / "aster.keys"
    f.write_text(f"user: 0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e\nprivate key: {key}\n")
    os.chmod(f, 0o600)
    keys = load_aster_keys(f).require("v3")
    assert keys.private_key is not None and keys.private_key.reveal() == key and key not in repr(keys)
    with pytest.raises(KeyFileError, match="api key and api secret missing"):
        keys.require("v1")
    env = {"ASTER_API_KEY": "k", "ASTER_API_SECRET": "s"}
    assert load_aster_keys(None, env).require("v1").api_key == Secret("k")
    with pytest.raises(KeyFileError, match="user and private key missing"):
        load_aster_keys(None, env).require("v3")
    with pytest.raises(KeyFileError, match="Aster keys missing"):
        load_aster_keys(None, {})
    os.chmod(f, 0o644)
    with pytest.raises(KeyFileError):
        load_aster_keys(f)


async def test_an_agent_approved_by_address_signs_for_its_user(aster_sim: SimCluster) -> None:
    """The standalone simulator's `--aster-agent AGENT:USER`: only addresses are given; the caller keeps the key."""
    demo_key = "0x4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bae1"
    demo_user = "0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e"
    user, _, account = aster_sim.open_account(NAME, 1_000, agent_address=_core.eth_address_of(demo_key),
                                              user=demo_user)
    status, reply = await _post(aster_sim, "/fapi/v3/order",
                                _core.AsterSigner(demo_key, user).signed({**ORDER, "newClientOrderId": "9"}))
    assert status == 200 and reply["clientOrderId"] == "9"
    assert [o.client_id for o in aster_sim.venues[NAME].exchange.open_orders(account, 0)]
    with pytest.raises(ValueError, match="agent address"):
        aster_sim.open_account(NAME, agent_address="0x21", user=demo_user)
