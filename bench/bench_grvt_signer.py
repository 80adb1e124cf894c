"""GRVT order signing: integer units in, the signed `create_order` JSON body out (EIP-712 digest with
keccak-256, secp256k1 recoverable ECDSA, decimal strings, JSON).

Baseline: the pure-Python path of the official SDK, eth-account's `encode_typed_data` + `Account.sign_message`
(RFC 6979, low-S; the same signature bytes) with orjson for the body. xtb: `OrderBuilder` over the core's
`GrvtSigner`. Both produce the same body for the same nonce and expiration (asserted first).
Run: python -m pytest bench/bench_grvt_signer.py --benchmark-only  (ratio = median baseline / median xtb)
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from xtb.core import GrvtSigner, format_fixed
from xtb.venues.grvt.orders import GrvtInstrument, OrderBuilder

eth_account = pytest.importorskip("eth_account", reason="eth-account (the baseline) is not installed")
from eth_account import Account  # noqa: E402
from eth_account.messages import encode_typed_data  # noqa: E402

KEY = "f7934647276a6e1fa0af3f4467b4b8ddaf45d25a7368fa1a295eef49a446819d"
SUB = 8289849667772468
INST = GrvtInstrument("BTC_USDT_Perp", "0x030501", 9)
EXP = 1730800479321350000
ORDERS_PER_ROUND = 10

TYPES = {
    "Order": [
        {"name": "subAccountID", "type": "uint64"},
        {"name": "isMarket", "type": "bool"},
        {"name": "timeInForce", "type": "uint8"},
        {"name": "postOnly", "type": "bool"},
        {"name": "reduceOnly", "type": "bool"},
        {"name": "legs", "type": "OrderLeg[]"},
        {"name": "nonce", "type": "uint32"},
        {"name": "expiration", "type": "int64"},
    ],
    "OrderLeg": [
        {"name": "assetID", "type": "uint256"},
        {"name": "contractSize", "type": "uint64"},
        {"name": "limitPrice", "type": "uint64"},
        {"name": "isBuyingContract", "type": "bool"},
    ],
}


class PyOrderBuilder:
    """The pure-Python equivalent: the same message, signature and body."""

    def __init__(self, key: str, chain_id: int) -> None:
        self.account = Account.from_key(key)
        self.domain = {"name": "GRVT Exchange", "version": "0", "chainId": chain_id}
        self.chain_id = chain_id

    def create_order_body(self, cid: int, is_buy: bool, size: int, price: int, nonce: int) -> bytes:
        msg = {
            "subAccountID": SUB, "isMarket": False, "timeInForce": 1, "postOnly": True, "reduceOnly": False,
            "legs": [{"assetID": INST.instrument_hash, "contractSize": size, "limitPrice": price,
                      "isBuyingContract": is_buy}],
            "nonce": nonce, "expiration": EXP,
        }
        signed = self.account.sign_message(encode_typed_data(self.domain, TYPES, msg))
        order = {
            "sub_account_id": str(SUB), "is_market": False, "time_in_force": "GOOD_TILL_TIME", "post_only": True,
            "reduce_only": False,
            "legs": [{"instrument": INST.name, "size": format_fixed(size, INST.base_decimals),
                      "is_buying_asset": is_buy, "limit_price": format_fixed(price, 9)}],
            "signature": {"signer": self.account.address, "r": "0x" + signed.r.to_bytes(32, "big").hex(),
                          "s": "0x" + signed.s.to_bytes(32, "big").hex(), "v": signed.v, "expiration": str(EXP),
                          "nonce": nonce, "chain_id": str(self.chain_id)},
            "metadata": {"client_order_id": str(cid)},
        }
        return orjson.dumps({"order": order})


def xtb_round(b: OrderBuilder) -> list[bytes]:
    return [
        b.create_order_body(INST, 1000 + i, i % 2 == 0, 1_013_000_000 + i, 68_900_500_000_000 + i * 10**7,
                            post_only=True, nonce=i, expiration_ns=EXP)
        for i in range(ORDERS_PER_ROUND)
    ]


def baseline_round(b: PyOrderBuilder) -> list[bytes]:
    return [
        b.create_order_body(1000 + i, i % 2 == 0, 1_013_000_000 + i, 68_900_500_000_000 + i * 10**7, i)
        for i in range(ORDERS_PER_ROUND)
    ]


def test_same_bodies() -> None:
    assert xtb_round(OrderBuilder(GrvtSigner(KEY, 325), SUB)) == baseline_round(PyOrderBuilder(KEY, 325))


@pytest.mark.benchmark(group="grvt_sign_order")
def test_baseline_eth_account_order(benchmark: Any) -> None:
    b = PyOrderBuilder(KEY, 325)
    benchmark.extra_info["orders_per_round"] = ORDERS_PER_ROUND
    benchmark(baseline_round, b)


@pytest.mark.benchmark(group="grvt_sign_order")
def test_xtb_grvt_order(benchmark: Any, ratio_gate: Any) -> None:
    b = OrderBuilder(GrvtSigner(KEY, 325), SUB)
    py = PyOrderBuilder(KEY, 325)
    benchmark.extra_info["orders_per_round"] = ORDERS_PER_ROUND
    benchmark(xtb_round, b)
    ratio_gate.check(benchmark, "grvt_sign_order", lambda: baseline_round(py), lambda: xtb_round(b))


# --- the order path: an OrderRequest in, the checked and signed create_order body out ---------------------
# xtb: `GrvtConnector.prepare_submit` (symbol/step/tick/client-id checks, units -> 10^-9 price, signing in the
# core, the body). Baseline: the same steps in pure Python over eth-account.
from xtb.model.types import OrderRequest, Side  # noqa: E402
from xtb.venues.grvt.config import GrvtConfig  # noqa: E402
from xtb.venues.grvt.connector import GrvtConnector  # noqa: E402

_INSTRUMENT = {"instrument": INST.name, "instrument_hash": INST.instrument_hash, "base": "BTC", "quote": "USDT",
               "kind": "PERPETUAL", "base_decimals": 9, "quote_decimals": 6, "tick_size": "0.1",
               "min_size": "0.001"}
_LOCAL = {k: "http://127.0.0.1:1" for k in ("edge_url", "trades_url", "trades_ws_url", "market_data_url",
                                            "market_data_ws_url")}


def _connector() -> GrvtConnector:
    cfg = GrvtConfig.from_options({**_LOCAL, "chain_id": 325, "sub_account_id": SUB})
    conn = GrvtConnector(cfg, "api-key", KEY)
    conn.load_markets([_INSTRUMENT])
    return conn


class PyOrderPath:
    """The pure-Python order path: the connector's checks and conversions, then `PyOrderBuilder`."""

    def __init__(self) -> None:
        self.builder = PyOrderBuilder(KEY, 325)
        self.markets = {INST.name: (1, 1_000_000, 1)}  # price decimals, step, tick
        self.nonce = 0

    def prepare(self, req: OrderRequest) -> bytes:
        m = self.markets.get(req.symbol)
        if m is None:
            raise ValueError(f"unknown symbol {req.symbol!r}")
        price_decimals, step, tick = m
        if req.size <= 0 or req.size % step or req.price is None or req.price <= 0 or req.price % tick:
            raise ValueError("bad size or price")
        self.nonce += 1
        return self.builder.create_order_body(req.client_id, req.side is Side.BID, req.size,
                                              req.price * 10 ** (9 - price_decimals), self.nonce)


_REQS = [OrderRequest(1000 + i, INST.name, Side.BID if i % 2 == 0 else Side.ASK, 1_000_000 * (i + 1),
                      price=689_005 + i, post_only=True) for i in range(ORDERS_PER_ROUND)]


def xtb_path_round(conn: GrvtConnector) -> list[Any]:
    return [conn.prepare_submit([r]) for r in _REQS]


def baseline_path_round(py: PyOrderPath) -> list[bytes]:
    return [py.prepare(r) for r in _REQS]


def test_order_path_bodies_agree() -> None:
    """Both paths sign the same order (nonce and expiration aside): same legs, flags and signer."""
    conn, py = _connector(), PyOrderPath()
    for r in _REQS[:3]:
        ours = orjson.loads(conn.prepare_submit([r]).bodies[0][1])["order"]
        theirs = orjson.loads(py.prepare(r))["order"]
        for body in (ours, theirs):
            del body["signature"]["r"], body["signature"]["s"], body["signature"]["v"]
            del body["signature"]["nonce"], body["signature"]["expiration"]
        assert ours == theirs


@pytest.mark.benchmark(group="grvt_order_path")
def test_baseline_python_order_path(benchmark: Any) -> None:
    py = PyOrderPath()
    benchmark.extra_info["orders_per_round"] = ORDERS_PER_ROUND
    benchmark(baseline_path_round, py)


@pytest.mark.benchmark(group="grvt_order_path")
def test_xtb_grvt_order_path(benchmark: Any, ratio_gate: Any) -> None:
    conn, py = _connector(), PyOrderPath()
    benchmark.extra_info["orders_per_round"] = ORDERS_PER_ROUND
    benchmark(xtb_path_round, conn)
    ratio_gate.check(benchmark, "grvt_order_path", lambda: baseline_path_round(py), lambda: xtb_path_round(conn))
