"""GRVT connector: the pure parts (login answer, keys, signed order bodies, REST rows -> reports, the session
retry), then the shared conformance suite against the simulator's GRVT dialect."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import orjson
import pytest
from multidict import CIMultiDict

from xtb.core import GrvtSigner, grvt_recover_signer
from xtb.keys import KeyFileError
from xtb.model.types import OrderKind, OrderRequest, Side, SubmitOutcome, TimeInForce
from xtb.sim.cluster import SimCluster
from xtb.sim.faults import FaultKind
from xtb.transport.rest import VenueRejected
from xtb.venues.grvt.config import GrvtConfig
from xtb.venues.grvt.connector import GrvtConnector, trade_id
from xtb.venues.grvt.keys import load_grvt_keys
from xtb.venues.grvt.rest_api import GrvtRest, SessionError, parse_login
from xtb.venues.registry import venue_spec

from .conformance import Account, ConnectorConformance, Harness, eventually

KEY = "f7934647276a6e1fa0af3f4467b4b8ddaf45d25a7368fa1a295eef49a446819d"
ADDRESS = "0xE10eC9Bb1eE30Af8bE35B32B163E7458a07aD987"
SUB = 8289849667772468
BTC = {"instrument": "BTC_USDT_Perp", "instrument_hash": "0x030501", "base": "BTC", "quote": "USDT",
       "kind": "PERPETUAL", "base_decimals": 9, "quote_decimals": 6, "tick_size": "0.1", "min_size": "0.001",
       "min_notional": "20.0"}
LOCAL = {k: "http://127.0.0.1:1" for k in ("edge_url", "trades_url", "trades_ws_url", "market_data_url",
                                           "market_data_ws_url")}


def offline(**options: Any) -> GrvtConnector:
    cfg = GrvtConfig.from_options({**LOCAL, "chain_id": 326, "sub_account_id": SUB, **options})
    conn = GrvtConnector(cfg, "api-key", KEY)
    conn.load_markets([BTC])
    return conn


# --- session ---------------------------------------------------------------------------------------------
def test_login_answer_gives_cookie_expiry_and_account() -> None:
    h = CIMultiDict([("Set-Cookie", "other=1; Path=/"),
                     ("Set-Cookie", "gravity=tok123; Expires=Sun, 06 Dec 2026 23:00:00 GMT; Path=/; HttpOnly"),
                     ("X-Grvt-Account-Id", "0xacc")])
    s = parse_login(h, {"sub_account_id": "42", "funding_account_address": "0xfund"}, now=0.0, default_ttl_s=60)
    assert (s.cookie, s.account_id, s.sub_account_id) == ("tok123", "0xacc", 42)
    assert s.expires_at == 1796598000.0
    assert s.headers() == {"Cookie": "gravity=tok123", "X-Grvt-Account-Id": "0xacc"}
    assert "tok123" not in repr(s)
    s = parse_login(CIMultiDict([("Set-Cookie", "gravity=t; Max-Age=90")]), {"funding_account_address": "0xf"},
                    now=100.0, default_ttl_s=60)
    assert (s.account_id, s.expires_at) == ("0xf", 190.0)  # the body's account when the header is missing
    s = parse_login(CIMultiDict([("Set-Cookie", "gravity=t"), ("X-Grvt-Account-Id", "a")]), {}, 100.0, 60)
    assert s.expires_at == 160.0  # no lifetime given: the configured default
    with pytest.raises(SessionError, match="gravity cookie"):
        parse_login(CIMultiDict([("X-Grvt-Account-Id", "a")]), {}, 0.0, 60)
    with pytest.raises(SessionError, match="X-Grvt-Account-Id"):
        parse_login(CIMultiDict([("Set-Cookie", "gravity=t")]), {}, 0.0, 60)


class FakeClient:
    """A RestClient stand-in: answers from a script, records what was sent."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers, self.sent = answers, []

    async def request(self, method: str, path: str, **kw: Any) -> Any:
        self.sent.append((path, kw.get("headers"), kw.get("body")))
        a = self.answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    async def request_with_headers(self, method: str, path: str, **kw: Any) -> Any:
        self.sent.append((path, kw.get("headers"), kw.get("body")))
        n = len([p for p, _, _ in self.sent if p == path])
        return {}, CIMultiDict([("Set-Cookie", f"gravity=c{n}; Max-Age=3600"), ("X-Grvt-Account-Id", "acc")])


async def test_a_refused_session_logs_in_again_and_repeats_the_call_once() -> None:
    edge = FakeClient([])
    refused = VenueRejected("grvt", "POST", "/full/v1/create_order", 401, "1000", "You need to authenticate")
    trades = FakeClient([refused, {"result": {"order_id": "0x1"}}])
    rest = GrvtRest(edge, trades, trades, trades, "k", SUB)  # type: ignore[arg-type]
    await rest.login()
    assert await rest.create_order(b'{"order":{}}') == {"order_id": "0x1"}
    cookies = [h["Cookie"] for _, h, _ in trades.sent]
    assert cookies == ["gravity=c1", "gravity=c2"] and rest.relogins == 1 and rest.logins == 2
    assert [b for _, _, b in trades.sent] == [b'{"order":{}}'] * 2
    # a second refusal is the caller's
    trades.answers = [refused, refused]
    with pytest.raises(VenueRejected, match="1000"):
        await rest.open_orders()
    # an error object in a 2xx answer is a rejection too
    trades.answers = [{"request_id": 1, "code": 2064, "message": "Invalid limit price tick", "status": 400}]
    with pytest.raises(VenueRejected, match="2064"):
        await rest.positions()


async def test_history_pages_follow_the_cursor() -> None:
    trades = FakeClient([{"result": [{"a": 1}], "next": "c2"}, {"result": [], "next": ""}])
    rest = GrvtRest(FakeClient([]), trades, trades, trades, "k", SUB)  # type: ignore[arg-type]
    await rest.login()
    assert await rest.order_history(10) == ([{"a": 1}], "c2")
    assert await rest.order_history(10, "c2") == ([], None)
    bodies = [orjson.loads(b) for _, _, b in trades.sent]
    assert bodies[0]["limit"] == 10 and "cursor" not in bodies[0] and bodies[1]["cursor"] == "c2"
    assert bodies[0]["sub_account_id"] == str(SUB)


# --- keys ------------------------------------------------------------------------------------------------
def test_keys_from_file_and_environment(tmp_path: Any) -> None:
    f = tmp_path / "grvt_key.txt"
    f.write_text(f"api key: abc\nprivate key: 0x{KEY}\nsub account id: {SUB}\n")
    os.chmod(f, 0o600)
    k = load_grvt_keys(f)
    assert k.api_key.reveal() == "abc" and k.private_key.reveal() == f"0x{KEY}" and k.sub_account_id == SUB
    assert KEY not in repr(k)
    os.chmod(f, 0o644)
    with pytest.raises(KeyFileError, match="group or others"):
        load_grvt_keys(f)
    k = load_grvt_keys(None, {"GRVT_API_KEY": "abc", "GRVT_PRIVATE_KEY": KEY})
    assert k.sub_account_id is None
    with pytest.raises(KeyFileError, match="private key missing"):
        load_grvt_keys(None, {"GRVT_API_KEY": "abc"})
    with pytest.raises(KeyFileError, match="64 hex") as e:
        load_grvt_keys(None, {"GRVT_API_KEY": "abc", "GRVT_PRIVATE_KEY": "0x1234"})
    assert "1234" not in str(e.value)


def test_spec_is_registered() -> None:
    spec = venue_spec("grvt")
    assert spec.sim_dialect == "grvt" and spec.client_id_range == (1, 2**63 - 1)
    limits = spec.rate_limits({"requests_per_second": 5})
    assert limits["pools"]["rest"]["refill"] == 5 and set(limits["keys"]) >= {"order", "private", "public"}


def test_live_setup_builds_a_connector_from_the_profile_and_the_environment() -> None:
    from xtb import _core
    from xtb.venues.contract import ConnectorWiring, LiveSetup, VenueEndpoints

    ring = _core.EventRing(1024)
    wiring = ConnectorWiring(ring=ring, tracker=_core.OrderTracker(ring))
    env = {"GRVT_API_KEY": "k", "GRVT_PRIVATE_KEY": KEY, "GRVT_TRADING_ACCOUNT_ID": str(SUB)}
    spec = venue_spec("grvt")
    conn = spec.connect_live(LiveSetup("grvt", {}, VenueEndpoints(), None, None, env), wiring)
    assert conn.config.endpoints.edge_url == "https://edge.grvt.io" and conn.signer.chain_id == 325
    assert conn.config.sub_account_id == SUB and conn.signer.address == ADDRESS
    conn = spec.connect_live(LiveSetup("grvt", {"profile": "testnet", "sub_account_id": 5},
                                       VenueEndpoints("http://127.0.0.1:9"), None, None, env), wiring)
    ep = conn.config.endpoints
    assert (ep.chain_id, ep.trades_url, ep.market_data_ws_url, conn.config.sub_account_id) == \
        (326, "http://127.0.0.1:9", "wss://market-data.testnet.grvt.io/ws/full", 5)
    with pytest.raises(KeyFileError, match="api key missing"):
        spec.connect_live(LiveSetup("grvt", {}, VenueEndpoints(), None, None, {}), wiring)


# --- signed order bodies ---------------------------------------------------------------------------------
def signed(body: bytes) -> dict[str, Any]:
    order = orjson.loads(body)["order"]
    sig = order["signature"]
    leg = order["legs"][0]
    tif = {"GOOD_TILL_TIME": 1, "IMMEDIATE_OR_CANCEL": 3, "FILL_OR_KILL": 4}[order["time_in_force"]]
    from decimal import Decimal

    msg = {"sub_account_id": int(order["sub_account_id"]), "time_in_force": tif, "is_market": order["is_market"],
           "post_only": order["post_only"], "reduce_only": order["reduce_only"],
           "legs": [("0x030501", int(Decimal(leg["size"]).scaleb(9)),
                     int(Decimal(leg.get("limit_price", "0")).scaleb(9)), leg["is_buying_asset"])],
           "nonce": sig["nonce"], "expiration": int(sig["expiration"])}
    assert grvt_recover_signer(326, msg, sig["r"], sig["s"], sig["v"]) == sig["signer"] == ADDRESS
    return order


def test_orders_are_signed_with_the_right_flags() -> None:
    conn = offline()
    post = signed(conn.prepare_submit([OrderRequest(7, "BTC_USDT_Perp", Side.BID, 2_000_000, price=650_381,
                                                    post_only=True)]).bodies[0][1])
    assert post["legs"] == [{"instrument": "BTC_USDT_Perp", "size": "0.002000000", "is_buying_asset": True,
                             "limit_price": "65038.100000000"}]
    assert (post["time_in_force"], post["post_only"], post["is_market"]) == ("GOOD_TILL_TIME", True, False)
    assert post["metadata"] == {"client_order_id": "7"} and post["sub_account_id"] == str(SUB)
    ioc = signed(conn.prepare_submit([OrderRequest(8, "BTC_USDT_Perp", Side.ASK, 1_000_000, price=650_000,
                                                   tif=TimeInForce.IOC, reduce_only=True)]).bodies[0][1])
    assert (ioc["time_in_force"], ioc["reduce_only"], ioc["legs"][0]["is_buying_asset"]) == \
        ("IMMEDIATE_OR_CANCEL", True, False)
    # a market order with a worst price: an IOC limit there; without one: a market order (no price)
    worst = signed(conn.prepare_submit([OrderRequest(9, "BTC_USDT_Perp", Side.BID, 1_000_000,
                                                     kind=OrderKind.MARKET, price=660_000)]).bodies[0][1])
    assert (worst["time_in_force"], worst["is_market"], worst["legs"][0]["limit_price"]) == \
        ("IMMEDIATE_OR_CANCEL", False, "66000.000000000")
    mkt = signed(conn.prepare_submit([OrderRequest(10, "BTC_USDT_Perp", Side.BID, 1_000_000,
                                                   kind=OrderKind.MARKET)]).bodies[0][1])
    assert mkt["is_market"] and "limit_price" not in mkt["legs"][0]
    nonces = {orjson.loads(b)["order"]["signature"]["nonce"] for _, b in conn.prepare_submit(
        [OrderRequest(i, "BTC_USDT_Perp", Side.BID, 1_000_000, price=650_000) for i in range(20, 25)]).bodies}
    assert len(nonces) == 5  # every order its own nonce (a repeated payload + nonce is a duplicate)


@pytest.mark.parametrize(("req", "msg"), [
    (OrderRequest(1, "ETH_USDT_Perp", Side.BID, 1_000_000, price=1), "unknown symbol"),
    (OrderRequest(1, "BTC_USDT_Perp", Side.BID, 1_500_000, price=650_000), "step"),
    (OrderRequest(1, "BTC_USDT_Perp", Side.BID, 1_000_000, price=0), "tick"),
    (OrderRequest(1, "BTC_USDT_Perp", Side.BID, 1_000_000), "needs a price"),
    (OrderRequest(0, "BTC_USDT_Perp", Side.BID, 1_000_000, price=650_000), "client id"),
])
def test_bad_orders_are_refused_by_name(req: OrderRequest, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        offline().prepare_submit([req])


# --- REST rows -> reports --------------------------------------------------------------------------------
ORDER_ROW = {
    "order_id": "0x1234", "sub_account_id": str(SUB), "is_market": False, "time_in_force": "IMMEDIATE_OR_CANCEL",
    "post_only": False, "reduce_only": True,
    "legs": [{"instrument": "BTC_USDT_Perp", "size": "0.005", "limit_price": "65000.1", "is_buying_asset": False}],
    "metadata": {"client_order_id": "77"},
    "state": {"status": "OPEN", "reject_reason": "UNSPECIFIED", "book_size": ["0.003"], "traded_size": ["0.002"],
              "avg_fill_price": ["65000.12"]},
}


def test_order_rows_become_reconciler_reports() -> None:
    conn = offline()
    r = conn._order_report(ORDER_ROW)
    assert r is not None
    assert (r.symbol, r.state, r.filled, r.client_id, r.order_id, r.side) == \
        ("BTC_USDT_Perp", "partially_filled", 2_000_000, 77, "0x1234", "ask")
    assert (r.size, r.price, r.avg_px, r.time_in_force, r.reduce_only) == (5_000_000, 650_001, 650_001, "IOC", True)
    gone = {**ORDER_ROW, "order_id": "0x00",
            "state": {**ORDER_ROW["state"], "status": "CANCELLED", "reject_reason": "CLIENT_CANCEL"}}
    r = conn._order_report(gone)
    assert r is not None and (r.state, r.reason, r.order_id) == ("cancelled", "CLIENT_CANCEL", None)
    assert conn._order_report({**ORDER_ROW, "legs": [{**ORDER_ROW["legs"][0], "instrument": "X"}]}) is None


def test_fill_rows_number_trades_as_the_decoder_does() -> None:
    conn = offline()
    f = conn._fill_report({"instrument": "BTC_USDT_Perp", "is_buyer": True, "is_taker": False, "size": "0.002",
                           "price": "65000.1", "fee": "-0.013", "fee_currency": "USDT", "trade_id": "123-4",
                           "order_id": "0x1234", "client_order_id": "77"})
    assert f is not None
    assert (f.client_id, f.trade_id, f.px, f.sz, f.maker, f.fee) == (77, (123 << 16) | 4, 650_001, 2_000_000,
                                                                      True, -130_000_000)
    assert trade_id("55") == 55
    assert conn._fill_report({"instrument": "BTC_USDT_Perp", "client_order_id": "0"}) is None  # not ours


# --- the shared conformance suite against the simulator's GRVT dialect -------------------------------------
class TestGrvtConformance(ConnectorConformance):
    venue = "grvt"
    symbol = "BTC_USDT_Perp"
    ws_conn = "grvt-ws-*"
    rest_conn = "grvt-rest"
    cluster_options: ClassVar[dict[str, Any]] = {**ConnectorConformance.cluster_options,
                                                 "dialect_options": {"grvt": {"chain_id": 326}}}

    async def open_account(self, sim: SimCluster) -> Account:
        signer = GrvtSigner(KEY, 326)
        acct = sim.add_grvt_account(100_000, signer=signer.address)  # the venue only learns the address
        return Account(acct.api_key, KEY, acct.sub_account_id)

    def make_connector(self, sim: SimCluster, account: Account, harness: Harness, **options: Any) -> Any:
        urls = sim.urls()["grvt"]
        opts: dict[str, Any] = {
            "edge_url": urls["edge"], "trades_url": urls["trades"], "market_data_url": urls["market_data"],
            "trades_ws_url": urls["trading_ws"], "market_data_ws_url": urls["market_ws"], "chain_id": 326,
            "sub_account_id": account.account, "symbols": [self.symbol, "SOL_USDT_Perp"],
            "backoff_initial_s": 0.05, "backoff_max_s": 0.5, "reconcile_interval_s": 5.0, "book_rate_ms": 50,
        }
        opts.update(options)
        return GrvtConnector(GrvtConfig.from_options(opts), account.api_key, account.secret, ring=harness.ring,
                             tracker=harness.tracker, on_burst_end=harness.dispatcher.drain)

    def _market(self, sim: SimCluster, symbol: str) -> Any:
        return next(m for m in sim.venues["grvt"].exchange.markets if m.symbol == symbol)

    def _size_scale(self, sim: SimCluster, symbol: str) -> int:
        """Connector size units (10^-9, GRVT's base_decimals) per engine quantity unit."""
        return int(10 ** (9 - self._market(sim, symbol).size_decimals))

    def venue_top(self, sim: SimCluster, symbol: str) -> tuple[Any, Any]:
        snap = sim.venues["grvt"].exchange.book_snapshot(self._market(sim, symbol).market_id, 1)
        k = self._size_scale(sim, symbol)
        bid = (snap.bids[0].price, snap.bids[0].size * k) if snap.bids else None
        ask = (snap.asks[0].price, snap.asks[0].size * k) if snap.asks else None
        return bid, ask

    def _engine_account(self, sim: SimCluster, account: Account) -> int:
        return int(sim.protocol("grvt").venue.account_of(account.account))

    def venue_open_client_ids(self, sim: SimCluster, account: Account, symbol: str) -> set[int]:
        ex = sim.venues["grvt"].exchange
        return {o.client_id for o in ex.open_orders(self._engine_account(sim, account),
                                                    self._market(sim, symbol).market_id)}

    def venue_position(self, sim: SimCluster, account: Account, symbol: str) -> int:
        ex = sim.venues["grvt"].exchange
        pos = ex.position(self._engine_account(sim, account), self._market(sim, symbol).market_id)
        return int(pos.size) * self._size_scale(sim, symbol)

    def rate_limited_count(self, connector: Any) -> int:
        h = connector.http
        return int(sum(c.stats.rate_limited for c in (h.edge, h.trades, h.market, h.orders)))

    def order_transport(self, connector: Any) -> Any:
        return connector._order_transport

    # --- GRVT only -------------------------------------------------------------------------------------
    async def test_a_session_ended_by_the_venue_is_renewed_without_losing_orders(
        self, sim: SimCluster, account: Account, connector: Any, harness: Harness
    ) -> None:
        req = await self.resting_order(connector, harness)
        assert (await connector.submit(req)).outcome is SubmitOutcome.ACCEPTED
        logins = connector.http.logins
        sim.protocol("grvt").auth.expire_sessions()  # a venue-side logout: every cookie is refused from now on
        second = await self.resting_order(connector, harness, Side.ASK)
        assert (await connector.submit(second)).outcome is SubmitOutcome.ACCEPTED  # re-logged in, sent again
        assert connector.http.logins == logins + 1 and connector.http.relogins == 1
        await connector.reconcile()
        assert {req.client_id, second.client_id} <= self.venue_open_client_ids(sim, account, self.symbol)
        assert {self.state(harness, req.client_id), self.state(harness, second.client_id)} == {"open"}

    async def test_check_orders_reports_a_fill_the_silent_stream_missed(
        self, sim: SimCluster, account: Account, harness: Harness
    ) -> None:
        from xtb.sim.types import OrderRequest as SimOrder
        from xtb.sim.types import Side as SimSide

        conn = await self.start_connector(sim, account, harness, reconcile_interval_s=None)
        try:
            hit = await self.resting_order(conn, harness, Side.BID)
            kept = await self.resting_order(conn, harness, Side.ASK)
            for r in (hit, kept):
                assert (await conn.submit(r)).outcome is SubmitOutcome.ACCEPTED
            lost = await self.resting_order(conn, harness, Side.BID)  # sent as far as we know, never at the venue
            harness.tracker.submitted(lost.client_id, self.venue, lost.symbol, "bid", lost.price or 0, lost.size)
            harness.tracker.on_unresolved(lost.client_id, self.venue, "connection lost")
            self.add_fault(sim, kind=FaultKind.DELAY_PRIVATE, probability=1.0, duration_s=60.0, conn=self.ws_conn)
            await sim.stop_generator()
            ex = sim.venues[self.venue].exchange
            market = self._market(sim, self.symbol).market_id
            snap = ex.book_snapshot(market, 10_000)
            through = sum(lv.size for lv in snap.bids if lv.price >= (hit.price or 0))  # every bid down to ours
            taker = ex.create_account(collateral=10**15)
            ex.place_order(SimOrder(taker, market, SimSide.SELL, through, price=hit.price))
            assert self.venue_position(sim, account, self.symbol) == hit.size
            harness.dispatcher.drain()
            assert self.state(harness, hit.client_id) == "open"  # the stream said nothing
            assert await conn.check_orders([hit.client_id, kept.client_id, lost.client_id])
            harness.dispatcher.drain()
            order = harness.tracker.get(hit.client_id, self.venue)
            assert order.state == "filled" and order.filled == hit.size
            assert sum(f.sz for f in harness.recorder.of("fill") if f.client_id == hit.client_id) == hit.size
            assert self.state(harness, kept.client_id) == "open"
            assert self.state(harness, lost.client_id) == "unresolved"  # settling it is the reconciliation's
            assert (await conn.positions())[self.symbol].size == hit.size
            assert not await conn.check_orders([kept.client_id])  # nothing moved
        finally:
            await conn.close()

    async def test_post_only_that_would_cross_is_rejected(self, connector: Any, harness: Harness) -> None:
        bid, ask = await self.top(connector, harness)
        m = connector.markets()[self.symbol]
        req = OrderRequest(self.next_cid(), self.symbol, Side.BID, max(m.min_size, m.step), price=ask[0],
                           post_only=True)
        await connector.submit(req)
        await eventually(lambda: self.state(harness, req.client_id) == "rejected", what="post-only rejected",
                         pump=harness.dispatcher.drain)
        assert "POST_ONLY" in (harness.tracker.get(req.client_id, self.venue).reason or "")


async def test_the_session_is_renewed_before_it_expires_and_reconnects_use_the_new_cookie() -> None:
    from xtb.sim.cluster import ClusterConfig
    from xtb.sim.faults import FaultPlan

    cfg = ClusterConfig(venues=("grvt",), seed=3, fault_plan=FaultPlan([], seed=1, cancel_on_disconnect=False),
                        dialect_options={"grvt": {"session_ttl_s": 2.0}}, updates_per_s=20.0)
    async with SimCluster(cfg) as sim:
        suite = TestGrvtConformance()
        account = await suite.open_account(sim)
        harness = Harness.create()
        conn = await suite.start_connector(sim, account, harness, session_renew_before_s=1.0,
                                           session_default_ttl_s=2.0)
        try:
            first = conn.http.session
            await eventually(lambda: conn.stats.session_renewals >= 2, timeout_s=6.0, what="two renewals")
            assert conn.http.session.cookie != first.cookie and conn.http.relogins == 0  # never refused
            sim.drop_sockets("grvt")  # the trading socket's upgrade must carry the renewed cookie
            await eventually(lambda: conn.private_ws.stats.connects >= 2 and conn.is_ready(), timeout_s=8.0,
                             what="both sockets back", pump=harness.dispatcher.drain)
            req = await suite.resting_order(conn, harness)
            assert (await conn.submit(req)).outcome is SubmitOutcome.ACCEPTED
            assert conn.http.relogins == 0
        finally:
            await conn.close()
