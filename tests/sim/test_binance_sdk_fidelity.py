"""Fidelity: Binance's official USD-M SDK (`binance-sdk-derivatives-trading-usds-futures`), unchanged, trades
against the simulator's Binance dialect as it would against the venue: its own HMAC signing, parameter
encoding, batch orders and response models. Nothing here touches our connector."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from xtb.sim.types import AccountConfig, OrderRequest, Side

from .proto_helpers import cluster_factory_fixture

# Not in the dev extras: binance-common (its dependency) pins urllib3>=2.7 while lighter-sdk pins urllib3<2.1,
# so the two cannot share one resolved environment. Install it beside them to run this test:
#   pip install binance-sdk-derivatives-trading-usds-futures
sdk = pytest.importorskip(
    "binance_sdk_derivatives_trading_usds_futures",
    reason="binance-sdk-derivatives-trading-usds-futures is not installed (its urllib3>=2.7 pin conflicts with "
    "lighter-sdk's urllib3<2.1, so it is not in the dev extras)",
)
from binance_common.configuration import ConfigurationRestAPI  # noqa: E402
from binance_common.errors import BadRequestError  # noqa: E402
from binance_sdk_derivatives_trading_usds_futures.rest_api.models import (  # noqa: E402
    NewOrderSideEnum,
    NewOrderTimeInForceEnum,
    NewOrderTypeEnum,
    PlaceMultipleOrdersBatchOrdersParameterInner,
)

pytestmark = pytest.mark.timeout(60)
cluster_factory = cluster_factory_fixture


def plain(x: Any) -> Any:
    """The SDK's response models as plain dicts/lists (its own to_dict, element by element)."""
    if isinstance(x, list):
        return [plain(i) for i in x]
    return x.to_dict() if hasattr(x, "to_dict") else x


def data(resp: Any) -> Any:
    return plain(resp.data())


async def test_official_sdk_trades_against_the_simulator(cluster_factory: Any) -> None:
    sim = await cluster_factory(venues=("binance_usdm",))
    api_key, secret, account = sim.add_binance_account(50_000)
    ex = sim.venues["binance_usdm"].exchange
    maker = ex.create_account(10**20, config=AccountConfig(check_margin=False, check_order_limits=False))
    ex.place_order(OrderRequest(maker, 0, Side.SELL, 2_000, 1_001_000))  # BTCUSDC ask 100100.0 x 2
    ex.place_order(OrderRequest(maker, 0, Side.BUY, 2_000, 999_000))
    cfg = ConfigurationRestAPI(api_key=api_key, api_secret=secret, base_path=sim.urls()["binance_usdm"]["rest"],
                               timeout=5000, retries=0)  # fmt: skip
    client = sdk.DerivativesTradingUsdsFutures(config_rest_api=cfg).rest_api

    def run(fn: Any, *args: Any, **kw: Any) -> Any:
        return asyncio.to_thread(lambda: data(fn(*args, **kw)))

    assert (await run(client.check_server_time))["serverTime"] > 0
    info = await run(client.exchange_information)
    assert "BTCUSDC" in {s["symbol"] for s in info["symbols"]}
    book = await run(client.order_book, symbol="BTCUSDC", limit=5)
    assert book["asks"][0] == ["100100.0", "2.000"]

    placed = await run(client.new_order, symbol="BTCUSDC", side=NewOrderSideEnum["BUY"],
                       type=NewOrderTypeEnum["LIMIT"], time_in_force=NewOrderTimeInForceEnum["GTC"],
                       quantity=0.01, price=99500.0, new_client_order_id="sdk-1")  # fmt: skip
    assert placed["status"] == "NEW" and placed["clientOrderId"] == "sdk-1"
    got = await run(client.query_order, symbol="BTCUSDC", orig_client_order_id="sdk-1")
    assert got["orderId"] == placed["orderId"]
    batch = [PlaceMultipleOrdersBatchOrdersParameterInner(symbol="BTCUSDC", side="SELL", type="LIMIT",
                                                          timeInForce="GTX", quantity=0.01, price=p,
                                                          newClientOrderId=f"sdk-b{i}")
             for i, p in enumerate((100500.0, 99000.0))]  # the second would take: -5022 for it alone  # fmt: skip
    rows = await run(client.place_multiple_orders, batch_orders=batch)
    assert rows[0]["clientOrderId"] == "sdk-b0" and rows[1]["code"] == -5022
    # a market buy takes the ask: the position and the trade are the venue's
    await run(client.new_order, symbol="BTCUSDC", side=NewOrderSideEnum["BUY"], type=NewOrderTypeEnum["MARKET"],
              quantity=0.005)  # fmt: skip
    positions = await run(client.position_information_v3, symbol="BTCUSDC")
    assert positions[0]["positionAmt"] == "0.005" and positions[0]["symbol"] == "BTCUSDC"
    assert ex.position(account, 0).size == 5
    cancelled = await run(client.cancel_order, symbol="BTCUSDC", orig_client_order_id="sdk-1")
    assert cancelled["status"] == "CANCELED"
    with pytest.raises(BadRequestError):
        await run(client.cancel_order, symbol="BTCUSDC", orig_client_order_id="sdk-1")
    balances = await run(client.futures_account_balance_v3)
    assert {b["asset"] for b in balances} == {"USDC", "USDT"}
    await run(client.cancel_all_open_orders, symbol="BTCUSDC")
    assert ex.open_orders(account) == []
