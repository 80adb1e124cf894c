"""Drives Binance's official USD-M SDK, unchanged, against a Binance REST endpoint and prints one JSON summary.

Run by tests/sim/test_binance_sdk_fidelity.py in a venv of its own that holds only the SDK (its urllib3>=2.7 pin
cannot share an environment with lighter-sdk's urllib3<2.1), so this file imports nothing from xtb or the tests:

    BINANCE_API_KEY=... BINANCE_API_SECRET=... python binance_sdk_client.py --base-url http://127.0.0.1:PORT

Every step's result goes into the summary as the SDK's own response models turned into dicts (their to_dict);
an error case records the qualified name of the exception class the SDK raised.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from binance_common.configuration import ConfigurationRestAPI
from binance_sdk_derivatives_trading_usds_futures import DerivativesTradingUsdsFutures
from binance_sdk_derivatives_trading_usds_futures.rest_api.models import (
    NewOrderSideEnum,
    NewOrderTimeInForceEnum,
    NewOrderTypeEnum,
    PlaceMultipleOrdersBatchOrdersParameterInner,
)


def plain(x: Any) -> Any:
    """The SDK's response models as plain dicts/lists (its own to_dict, element by element)."""
    if isinstance(x, list):
        return [plain(i) for i in x]
    return x.to_dict() if hasattr(x, "to_dict") else x


def raised(fn: Callable[[], Any]) -> dict[str, str] | None:
    """The exception class the SDK raised for a call (None when it did not raise)."""
    try:
        fn()
    except Exception as exc:
        return {"exception": f"{type(exc).__module__}.{type(exc).__name__}", "message": str(exc)}
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--base-url", required=True, help="the simulator's Binance REST base URL")
    ap.add_argument("--symbol", default="BTCUSDC")
    args = ap.parse_args()
    cfg = ConfigurationRestAPI(api_key=os.environ["BINANCE_API_KEY"], api_secret=os.environ["BINANCE_API_SECRET"],
                               base_path=args.base_url, timeout=5000, retries=0)  # fmt: skip
    client = DerivativesTradingUsdsFutures(config_rest_api=cfg).rest_api
    sym = args.symbol
    out: dict[str, Any] = {}

    def call(name: str, fn: Callable[..., Any], **kw: Any) -> Any:
        out[name] = plain(fn(**kw).data())
        return out[name]

    call("server_time", client.check_server_time)
    info = call("exchange_information", client.exchange_information)
    out["exchange_information"] = {"symbols": [s["symbol"] for s in info["symbols"]]}  # the summary stays small
    call("order_book", client.order_book, symbol=sym, limit=5)
    call("new_order", client.new_order, symbol=sym, side=NewOrderSideEnum["BUY"], type=NewOrderTypeEnum["LIMIT"],
         time_in_force=NewOrderTimeInForceEnum["GTC"], quantity=0.01, price=99500.0,
         new_client_order_id="sdk-1")  # fmt: skip
    call("query_order", client.query_order, symbol=sym, orig_client_order_id="sdk-1")
    batch = [PlaceMultipleOrdersBatchOrdersParameterInner(symbol=sym, side="SELL", type="LIMIT", timeInForce="GTX",
                                                          quantity=0.01, price=p, newClientOrderId=f"sdk-b{i}")
             for i, p in enumerate((100500.0, 99000.0))]  # fmt: skip
    call("batch_orders", client.place_multiple_orders, batch_orders=batch)
    call("market_order", client.new_order, symbol=sym, side=NewOrderSideEnum["BUY"], type=NewOrderTypeEnum["MARKET"],
         quantity=0.005)  # fmt: skip
    call("positions", client.position_information_v3, symbol=sym)
    call("cancel_order", client.cancel_order, symbol=sym, orig_client_order_id="sdk-1")
    out["cancel_again"] = raised(lambda: client.cancel_order(symbol=sym, orig_client_order_id="sdk-1"))
    call("balances", client.futures_account_balance_v3)
    call("cancel_all", client.cancel_all_open_orders, symbol=sym)
    call("open_orders_after", client.current_all_open_orders, symbol=sym)
    json.dump(out, sys.stdout, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
