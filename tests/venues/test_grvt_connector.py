"""GRVT connector: the pure parts (login answer, keys, signed order bodies, REST rows -> reports, the session
retry), then the shared conformance suite against the simulator's GRVT dialect."""

from __future__ import annotations

import os
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict

from xtb.core import grvt_recover_signer
from xtb.keys import KeyFileError
from xtb.model.types import OrderKind, OrderRequest, Side, TimeInForce
from xtb.transport.rest import VenueRejected
from xtb.venues.grvt.config import GrvtConfig
from xtb.venues.grvt.connector import GrvtConnector, trade_id
from xtb.venues.grvt.keys import load_grvt_keys
from xtb.venues.grvt.rest_api import GrvtRest, SessionError, parse_login
from xtb.venues.registry import venue_spec

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
