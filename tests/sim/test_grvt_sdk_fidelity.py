"""Fidelity: GRVT's official Python SDK (`grvt-pysdk`, a dev dependency), unchanged, trades against the
simulator's GRVT dialect as it would against the venue: its own session login and cookie parsing, its own
EIP-712 signing (eth-account), payload shapes, WS subscribe formats (legacy `/ws` and JSON-RPC `/ws/full`)
and JSON-RPC order entry. Nothing here touches our connector.

The SDK can only target GRVT's hard-coded hosts (`https://edge.grvt.io`, ...): it has no base-URL option or
environment hook. So the test replaces the two lookup functions of its endpoint table for the duration of
the test (`grvt_ccxt_env.get_grvt_endpoint_domains`, which `get_grvt_endpoint` calls for every REST path,
and `grvt_ccxt_ws.get_grvt_ws_endpoint`) with ones returning the simulator's URLs; the SDK's code is not
modified. Its async client logs in with a blocking `requests` call from its constructor, so the simulator
runs on an event loop of its own in a thread, and the SDK in the test's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from decimal import Decimal
from typing import Any, TypeVar

import pytest
import requests
from eth_account import Account

pysdk_env = pytest.importorskip("pysdk.grvt_ccxt_env")
from pysdk import grvt_ccxt_ws  # noqa: E402
from pysdk.grvt_ccxt import GrvtCcxt  # noqa: E402
from pysdk.grvt_ccxt_env import GrvtEndpointType, GrvtEnv, GrvtWSEndpointType  # noqa: E402

from xtb.sim.cluster import ClusterConfig, SimCluster  # noqa: E402

pytestmark = pytest.mark.timeout(120)

KEY = "f7934647276a6e1fa0af3f4467b4b8ddaf45d25a7368fa1a295eef49a446819d"
BTC = "BTC_USDT_Perp"
T = TypeVar("T")
log = logging.getLogger("grvt-sdk")


class SimThread:
    """A SimCluster (GRVT only, generated market) on its own loop in a daemon thread; stopped at exit."""

    def __init__(self, **config: Any) -> None:
        self.loop = asyncio.new_event_loop()
        # testnet's chain id (the simulator's default): the SDK signs for GrvtEnv.TESTNET
        self.sim = SimCluster(ClusterConfig(venues=("grvt",), seed=11, updates_per_s=20.0, **config))
        self._thread = threading.Thread(target=self.loop.run_forever, name="grvt-sim", daemon=True)

    def __enter__(self) -> SimThread:
        self._thread.start()
        self.run(self.sim.start())
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.run(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the simulator thread did not stop"
        self.loop.close()

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run `fn` on the simulator's loop (engine state is only touched there)."""
        fut: Future[T] = Future()

        def go() -> None:
            try:
                fut.set_result(fn())
            except BaseException as e:  # handed back to the caller
                fut.set_exception(e)

        self.loop.call_soon_threadsafe(go)
        return fut.result(timeout)


@pytest.fixture
def grvt_sim(monkeypatch: pytest.MonkeyPatch,
             request: pytest.FixtureRequest) -> Iterator[tuple[SimThread, dict[str, str]]]:  # fmt: skip
    """The running simulator and its GRVT URLs; ClusterConfig overrides come as the indirect parameter."""
    with SimThread(**getattr(request, "param", {})) as st:
        urls = st.sim.urls()["grvt"]
        domains = {GrvtEndpointType.EDGE: urls["edge"], GrvtEndpointType.TRADE_DATA: urls["trades"],
                   GrvtEndpointType.MARKET_DATA: urls["market_data"]}  # fmt: skip
        ws = {GrvtWSEndpointType.TRADE_DATA: urls["trading_ws_legacy"],
              GrvtWSEndpointType.MARKET_DATA: urls["market_ws_legacy"],
              GrvtWSEndpointType.TRADE_DATA_RPC_FULL: urls["trading_ws"],
              GrvtWSEndpointType.MARKET_DATA_RPC_FULL: urls["market_ws"]}  # fmt: skip
        monkeypatch.setattr(pysdk_env, "get_grvt_endpoint_domains", lambda env_name: domains)
        monkeypatch.setattr(grvt_ccxt_ws, "get_grvt_ws_endpoint", lambda env, endpoint_type: ws[endpoint_type])
        yield st, urls


def wait_until(pred: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_sdk_rest_trading_flow(grvt_sim: tuple[SimThread, dict[str, str]]) -> None:
    """GrvtCcxt (sync REST): login, instruments, book, place / query / cancel, a fill, positions, balance."""
    st, _ = grvt_sim
    address = Account.from_key(KEY).address
    api_key, account_id, sub, _, _ = st.call(lambda: st.sim.add_grvt_account(100_000, signer=address))
    wait_until(lambda: st.call(lambda: st.sim.exchange("grvt").best_bid_ask(0)[1] is not None))
    client = GrvtCcxt(GrvtEnv.TESTNET, log, parameters={"api_key": api_key, "trading_account_id": str(sub),
                                                     "private_key": KEY})  # fmt: skip
    assert client._cookie is not None and client._cookie["X-Grvt-Account-Id"] == account_id
    assert client._cookie["expires"] > time.time() + 60  # parsed from the Set-Cookie expiry
    assert set(client.markets) == {"BTC_USDT_Perp", "ETH_USDT_Perp", "SOL_USDT_Perp"}
    assert client.markets[BTC]["instrument_hash"] == "0x030501" and client.markets[BTC]["base_decimals"] == 9
    book = client.fetch_order_book(BTC, limit=10)
    best_bid, best_ask = Decimal(book["bids"][0]["price"]), Decimal(book["asks"][0]["price"])
    assert best_bid < best_ask
    assert client.fetch_mini_ticker(BTC)["instrument"] == BTC
    assert client.fetch_ticker(BTC)["best_ask_price"]

    # a resting post-only bid well below the touch: placed, listed, queried, cancelled
    price = str((best_bid * Decimal("0.95")).quantize(Decimal("0.1")))
    ack = client.create_limit_order(BTC, "buy", "0.01", price, params={"client_order_id": 1001, "post_only": True})
    assert (ack["order_id"], ack["metadata"]["client_order_id"]) == ("0x00", "1001")
    opened = client.fetch_open_orders(BTC)
    assert [(o["metadata"]["client_order_id"], o["state"]["status"], o["legs"][0]["limit_price"]) for o in opened] == [
        ("1001", "OPEN", price)]
    order_id = opened[0]["order_id"]
    assert client.fetch_order(id=order_id)["result"]["metadata"]["client_order_id"] == "1001"
    assert client.cancel_order(id=order_id) is True
    cancelled = client.fetch_order(params={"client_order_id": 1001})["result"]["state"]
    assert (cancelled["status"], cancelled["reject_reason"]) == ("CANCELLED", "CLIENT_CANCEL")
    assert client.fetch_open_orders(BTC) == []

    # a market buy fills against the generated book
    client.create_order(BTC, "market", "buy", "0.01", None, params={"client_order_id": 1002})
    assert wait_until(lambda: client.fetch_order(params={"client_order_id": 1002})["result"]["state"]["status"]
                      == "FILLED")  # fmt: skip
    trades = client.fetch_my_trades(BTC)["result"]
    assert [(t["client_order_id"], t["is_buyer"], t["size"]) for t in trades] == [("1002", True, "0.010")]
    positions = client.fetch_positions([BTC])
    assert [(p["instrument"], p["size"]) for p in positions] == [(BTC, "0.010")]
    balance = client.fetch_balance()
    fee = Decimal(trades[0]["fee"])
    assert Decimal(balance["total"]["USDT"]) == Decimal(100_000) - fee
    assert trades[0]["trade_id"] in {t["trade_id"] for t in client.fetch_recent_trades(BTC, 100)}
    assert client.fetch_trades(BTC, limit=100)["result"]
    assert client.fetch_funding_rate_history(BTC)["result"][0]["instrument"] == BTC
    assert client.get_account_summary("funding")["main_account_id"] == account_id
    assert Decimal(client.get_account_summary("aggregated")["total_equity"]) > 0
    assert client.fetch_account_history()["result"][0]["sub_account_id"] == str(sub)
    assert client.fetch_ohlcv(BTC, "1m")["result"] == []  # the simulator keeps no candles
    history = client.fetch_order_history({"limit": 10})
    assert [o["metadata"]["client_order_id"] for o in history["result"]] == ["1002", "1001"]
    # a forged order (signed by another key, declared as ours) is refused; nothing is placed
    other = GrvtCcxt(GrvtEnv.TESTNET, log, parameters={"api_key": api_key, "trading_account_id": str(sub),
                                                    "private_key": "22" * 32})  # fmt: skip
    assert other.create_limit_order(BTC, "buy", "0.01", price, params={"client_order_id": 1003}) == {}
    assert other.get_endpoint_return_value(pysdk_env.get_grvt_endpoint(GrvtEnv.TESTNET, "CREATE_ORDER"))["code"] == 2000
    assert client.cancel_all_orders() is True

    # the simulator's ledger agrees with what the SDK saw: one fill, the position, the fee
    def ledger() -> tuple[int, int, int]:
        ex = st.sim.exchange("grvt")
        account = st.sim.protocol("grvt").venue.account_of(sub)
        return ex.position(account, 0).size, ex.fees_paid(account), len(ex.open_orders(account))

    size, fees, open_count = st.call(ledger)
    assert (size, open_count) == (10, 0)
    assert Decimal(fees).scaleb(-10) == fee


async def test_sdk_websockets(grvt_sim: tuple[SimThread, dict[str, str]]) -> None:
    """GrvtCcxtWS (async): book.d and trades on the legacy market socket, book.s over JSON-RPC, order and
    fill streams on the trading socket, an order sent as a JSON-RPC `v1/create_order` that fills."""
    st, _ = grvt_sim
    address = Account.from_key(KEY).address
    api_key, _, sub, _, _ = st.call(lambda: st.sim.add_grvt_account(100_000, signer=address))
    loop = asyncio.get_running_loop()
    before = asyncio.all_tasks()
    # its constructor logs in with a blocking call: fine here, the simulator answers from its own thread
    params = {"api_key": api_key, "trading_account_id": str(sub), "private_key": KEY}
    client = grvt_ccxt_ws.GrvtCcxtWS(GrvtEnv.TESTNET, loop, log, parameters=params)
    got: dict[str, list[dict[str, Any]]] = {}

    def collect(name: str) -> Callable[[dict[str, Any]], Any]:
        async def callback(message: dict[str, Any]) -> None:
            got.setdefault(name, []).append(message)

        return callback

    try:
        await client.initialize()
        await client.subscribe("book.d", collect("book.d"), params={"instrument": BTC, "rate": 50})
        await client.subscribe("trade", collect("trade"), params={"instrument": BTC})
        await client.subscribe("book.s", collect("book.s"), GrvtWSEndpointType.MARKET_DATA_RPC_FULL,
                               params={"instrument": BTC, "rate": 500, "depth": 10})  # fmt: skip
        await client.subscribe("order", collect("order"), params={})
        await client.subscribe("fill", collect("fill"), params={"instrument": BTC})

        async def until(pred: Callable[[], bool], timeout: float = 15.0) -> None:
            deadline = time.monotonic() + timeout
            while not pred():
                seen = {k: len(v) for k, v in got.items()}
                assert time.monotonic() < deadline, f"timed out; messages per stream: {seen}"
                await asyncio.sleep(0.05)

        await until(lambda: len(got.get("book.d", ())) >= 5 and bool(got.get("book.s"))
                    and client.is_endpoint_connected(GrvtWSEndpointType.TRADE_DATA_RPC_FULL)
                    and client.are_endpoints_connected(client.endpoint_types))  # fmt: skip
        seqs = [int(m["sequence_number"]) for m in got["book.d"]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) and seqs[0] == 0  # snapshot 0, then contiguous
        assert got["book.d"][0]["selector"] == f"{BTC}@50" and got["book.s"][0]["feed"]["bids"]
        await until(lambda: st.call(lambda: st.sim.exchange("grvt").best_bid_ask(0)[1] is not None))
        ask = Decimal(st.call(lambda: st.sim.exchange("grvt").best_bid_ask(0)[1] or 0)).scaleb(-1)
        # a marketable limit buy (IOC) through JSON-RPC on the trading socket
        await client.rpc_create_order(BTC, "limit", "buy", "0.01", str(ask + 50),
                                      params={"client_order_id": 2001, "time_in_force": "IMMEDIATE_OR_CANCEL"})
        await until(lambda: any(m["feed"]["client_order_id"] == "2001" for m in got.get("fill", ())))
        fill = next(m["feed"] for m in got["fill"] if m["feed"]["client_order_id"] == "2001")
        assert (fill["is_buyer"], fill["is_taker"], fill["instrument"]) == (True, True, BTC)
        await until(lambda: any(m["feed"]["metadata"]["client_order_id"] == "2001"
                                and m["feed"]["state"]["status"] in ("FILLED", "CANCELLED")
                                for m in got.get("order", ())))  # fmt: skip
        await until(lambda: any(m["feed"]["trade_id"] == fill["trade_id"] for m in got.get("trade", ())))
        # a resting post-only order over JSON-RPC, then the SDK's RPC cancel by client order id
        bid = Decimal(st.call(lambda: st.sim.exchange("grvt").best_bid_ask(0)[0] or 0)).scaleb(-1)
        await client.rpc_create_order(BTC, "limit", "buy", "0.01", str(bid - 500),
                                      params={"client_order_id": 2002, "post_only": True})  # fmt: skip

        def state_of(cid: str) -> str | None:
            states = [m["feed"]["state"]["status"] for m in got.get("order", ())
                      if m["feed"]["metadata"]["client_order_id"] == cid]  # fmt: skip
            return states[-1] if states else None

        await until(lambda: state_of("2002") == "OPEN")
        await client.rpc_fetch_open_orders()
        await client.rpc_cancel_order(params={"client_order_id": 2002})
        await until(lambda: state_of("2002") == "CANCELLED")
        account = st.call(lambda: st.sim.protocol("grvt").venue.account_of(sub))
        filled = st.call(lambda: st.sim.exchange("grvt").position(account, 0).size)
        assert Decimal(filled).scaleb(-3) == sum(Decimal(m["feed"]["size"]) for m in got["fill"])
    finally:
        for endpoint in client.endpoint_types:
            await client._close_connection(endpoint)
        for task in asyncio.all_tasks() - before - {asyncio.current_task()}:
            task.cancel()
        await client._session.close()
        client._session = None


def test_sdk_raw_client_parses_every_reply(grvt_sim: tuple[SimThread, dict[str, str]],
                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """GrvtRawSync parses each reply into the SDK's typed dataclasses (dacite): every field the SDK's types
    require is present with its type and enum values. Its host table (`grvt_raw_env.get_env_config`, looked
    up by `grvt_raw_base`) is pointed at the simulator."""
    from pysdk import grvt_raw_base
    from pysdk import grvt_raw_types as t
    from pysdk.grvt_raw_env import GrvtEndpointConfig, GrvtEnvConfig
    from pysdk.grvt_raw_env import GrvtEnv as RawEnv
    from pysdk.grvt_raw_signing import sign_order
    from pysdk.grvt_raw_sync import GrvtRawSync

    st, urls = grvt_sim
    env = GrvtEnvConfig(edge=GrvtEndpointConfig(urls["edge"], None),
                        trade_data=GrvtEndpointConfig(urls["trades"], urls["trading_ws"]),
                        market_data=GrvtEndpointConfig(urls["market_data"], urls["market_ws"]),
                        chain_id=326)  # fmt: skip
    monkeypatch.setattr(grvt_raw_base, "get_env_config", lambda environment: env)
    address = Account.from_key(KEY).address
    api_key, _, sub, _, _ = st.call(lambda: st.sim.add_grvt_account(100_000, signer=address))
    wait_until(lambda: st.call(lambda: st.sim.exchange("grvt").best_bid_ask(0)[1] is not None))
    raw = GrvtRawSync(grvt_raw_base.GrvtApiConfig(RawEnv.TESTNET, str(sub), KEY, api_key, log))

    def ok(reply: Any) -> Any:
        assert not isinstance(reply, grvt_raw_base.GrvtError), reply
        return reply

    instruments = ok(raw.get_all_instruments_v1(t.ApiGetAllInstrumentsRequest(is_active=True))).result
    assert {i.instrument for i in instruments} == {"BTC_USDT_Perp", "ETH_USDT_Perp", "SOL_USDT_Perp"}
    assert ok(raw.get_instrument_v1(t.ApiGetInstrumentRequest(BTC))).result.kind is t.Kind.PERPETUAL
    book = ok(raw.orderbook_levels_v1(t.ApiOrderbookLevelsRequest(BTC, 10))).result
    ok(raw.mini_ticker_v1(t.ApiMiniTickerRequest(BTC)))
    ok(raw.ticker_v1(t.ApiTickerRequest(BTC)))
    ok(raw.funding_rate_v1(t.ApiFundingRateRequest(BTC)))
    by_name = {i.instrument: i for i in instruments}
    price = str((Decimal(book.bids[0].price) * Decimal("0.95")).quantize(Decimal("0.1")))
    order = t.Order(
        sub_account_id=str(sub), time_in_force=t.TimeInForce.GOOD_TILL_TIME, is_market=False, post_only=True,
        reduce_only=False, legs=[t.OrderLeg(BTC, "0.01", True, price)],
        signature=t.Signature("", "", "", 0, str(time.time_ns() + 60 * 10**9), 123456),
        metadata=t.OrderMetadata(client_order_id="4242"),
    )  # fmt: skip
    signed = sign_order(order, raw.config, raw.account, by_name)
    created = ok(raw.create_order_v1(t.ApiCreateOrderRequest(signed))).result
    assert created.metadata.client_order_id == "4242" and created.state.status is t.OrderStatus.PENDING
    opened = ok(raw.open_orders_v1(t.ApiOpenOrdersRequest(str(sub)))).result
    assert [(o.metadata.client_order_id, o.state.status) for o in opened] == [("4242", t.OrderStatus.OPEN)]
    got = ok(raw.get_order_v1(t.ApiGetOrderRequest(str(sub), client_order_id="4242"))).result
    assert got.order_id == opened[0].order_id
    assert ok(raw.cancel_order_v1(t.ApiCancelOrderRequest(str(sub), order_id=got.order_id))).result.ack is True
    history = ok(raw.order_history_v1(t.ApiOrderHistoryRequest(str(sub))))
    assert [(o.state.status, o.state.reject_reason) for o in history.result] == [
        (t.OrderStatus.CANCELLED, t.OrderRejectReason.CLIENT_CANCEL)]
    # a taker order that fills, then everything about it parses
    ask = Decimal(ok(raw.orderbook_levels_v1(t.ApiOrderbookLevelsRequest(BTC, 10))).result.asks[0].price)
    taker = t.Order(
        sub_account_id=str(sub), time_in_force=t.TimeInForce.IMMEDIATE_OR_CANCEL, is_market=False,
        post_only=False, reduce_only=False, legs=[t.OrderLeg(BTC, "0.01", True, str(ask))],
        signature=t.Signature("", "", "", 0, str(time.time_ns() + 60 * 10**9), 654321),
        metadata=t.OrderMetadata(client_order_id="4243"),
    )  # fmt: skip
    ok(raw.create_order_v1(t.ApiCreateOrderRequest(sign_order(taker, raw.config, raw.account, by_name))))
    fills = ok(raw.fill_history_v1(t.ApiFillHistoryRequest(str(sub)))).result
    assert [(f.client_order_id, f.is_buyer, f.venue) for f in fills] == [("4243", True, t.Venue.ORDERBOOK)]
    positions = ok(raw.positions_v1(t.ApiPositionsRequest(str(sub)))).result
    assert [(p.instrument, p.size) for p in positions] == [(BTC, "0.010")]
    summary = ok(raw.sub_account_summary_v1(t.ApiSubAccountSummaryRequest(str(sub)))).result
    assert summary.margin_type is t.MarginType.SIMPLE_CROSS_MARGIN and summary.positions[0].instrument == BTC
    trades = ok(raw.trade_v1(t.ApiTradeRequest(BTC, 50))).result
    assert fills[0].trade_id in {x.trade_id for x in trades}
    ok(raw.get_all_initial_leverage_v1(t.ApiGetAllInitialLeverageRequest(str(sub))))
    assert ok(raw.cancel_all_orders_v1(t.ApiCancelAllOrdersRequest(str(sub)))).result.ack is True


@pytest.mark.parametrize("grvt_sim", [{"dialect_options": {"grvt": {"session_ttl_s": 7.0}}}], indirect=True)
def test_sdk_renews_its_session(grvt_sim: tuple[SimThread, dict[str, str]]) -> None:
    """The SDK logs in again once fewer than 5 s of the cookie's life remain (it reads the expiry from
    Set-Cookie); the new session works and the old one ends at its expiry."""
    st, urls = grvt_sim
    address = Account.from_key(KEY).address
    api_key, _, sub, _, _ = st.call(lambda: st.sim.add_grvt_account(100_000, signer=address))
    client = GrvtCcxt(GrvtEnv.TESTNET, log, parameters={"api_key": api_key, "trading_account_id": str(sub),
                                                        "private_key": KEY})  # fmt: skip
    logins = st.sim.venues["grvt"].server.requests
    first = client._cookie
    assert first is not None and logins["/edge/auth/api_key/login"] == 1
    assert client.fetch_open_orders() == []
    time.sleep(2.5)  # now under 5 s left: the next call logs in first
    assert client.fetch_open_orders() == []
    assert client._cookie is not None and client._cookie["gravity"] != first["gravity"]
    assert logins["/edge/auth/api_key/login"] == 2
    time.sleep(first["expires"] - time.time() + 1.2)  # the first cookie has expired (1 s resolution)
    headers = {"Cookie": f"gravity={first['gravity']}", "X-Grvt-Account-Id": str(first["X-Grvt-Account-Id"])}
    r = requests.post(urls["trades"] + "/full/v1/open_orders", json={"sub_account_id": str(sub)}, timeout=5,
                      headers=headers)
    assert (r.status_code, r.json()["code"]) == (401, 1000)
