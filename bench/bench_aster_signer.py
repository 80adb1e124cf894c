"""Aster V3 order signing: integer units in, the signed form body of `POST /fapi/v3/order` out (decimal
strings, form encoding, nonce/user/signer, the EIP-712 `Message{msg}` digest with keccak-256, secp256k1
recoverable ECDSA, 65-byte hex).

Baseline: the official sample's pure-Python path: `urllib.parse.urlencode` + eth-account's
`encode_typed_data` + `Account.sign_message` (RFC 6979, low-S: the same signature bytes). xtb: the core's
`AsterSigner.limit_order`. Both produce the same body for the same nonce (asserted first).
Run: python -m pytest bench/bench_aster_signer.py --benchmark-only  (ratio = median baseline / median xtb)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from xtb.core import AsterSigner, format_fixed

eth_account = pytest.importorskip("eth_account", reason="eth-account (the baseline) is not installed")
from eth_account import Account  # noqa: E402
from eth_account.messages import encode_typed_data  # noqa: E402

KEY = "0x4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bae1"  # the V3 doc's demo API wallet
USER = "0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e"
CHAIN_ID = 1666
PRICE_DECIMALS, SIZE_DECIMALS = 1, 3
ORDERS_PER_ROUND = 10
NONCE0 = 1_748_310_859_508_867
GROUP = "aster_sign_order"

DOMAIN = {"name": "AsterSignTransaction", "version": "1", "chainId": CHAIN_ID,
          "verifyingContract": "0x0000000000000000000000000000000000000000"}  # fmt: skip
TYPES = {"Message": [{"name": "msg", "type": "string"}]}


class PySigner:
    """The pure-Python equivalent: the same message string, signature and body."""

    def __init__(self, key: str, user: str) -> None:
        self.account = Account.from_key(key)
        self.user = user

    def limit_order(self, cid: int, is_buy: bool, price: int, size: int, nonce: int) -> bytes:
        params = {"symbol": "BTCUSDT", "side": "BUY" if is_buy else "SELL", "type": "LIMIT", "timeInForce": "GTX",
                  "quantity": format_fixed(size, SIZE_DECIMALS), "price": format_fixed(price, PRICE_DECIMALS),
                  "newClientOrderId": str(cid), "nonce": nonce, "user": self.user, "signer": self.account.address}
        msg = urlencode(params)
        signed = self.account.sign_message(encode_typed_data(DOMAIN, TYPES, {"msg": msg}))
        return f"{msg}&signature={signed.signature.hex().removeprefix('0x')}".encode()


def xtb_round(s: AsterSigner) -> list[bytes]:
    return [
        s.limit_order("BTCUSDT", "BUY" if i % 2 == 0 else "SELL", 1_000_005 + i, 25 + i, PRICE_DECIMALS,
                      SIZE_DECIMALS, "GTX", False, str(1000 + i), NONCE0 + i)
        for i in range(ORDERS_PER_ROUND)
    ]


def baseline_round(s: PySigner) -> list[bytes]:
    return [s.limit_order(1000 + i, i % 2 == 0, 1_000_005 + i, 25 + i, NONCE0 + i) for i in range(ORDERS_PER_ROUND)]


def test_same_bodies() -> None:
    assert xtb_round(AsterSigner(KEY, USER, CHAIN_ID)) == baseline_round(PySigner(KEY, USER))


@pytest.mark.benchmark(group=GROUP)
def test_baseline_eth_account_order(benchmark: Any) -> None:
    s = PySigner(KEY, USER)
    benchmark.extra_info["orders_per_round"] = ORDERS_PER_ROUND
    benchmark(baseline_round, s)


@pytest.mark.benchmark(group=GROUP)
def test_xtb_aster_order(benchmark: Any, ratio_gate: Any) -> None:
    s = AsterSigner(KEY, USER, CHAIN_ID)
    py = PySigner(KEY, USER)
    benchmark.extra_info["orders_per_round"] = ORDERS_PER_ROUND
    benchmark(xtb_round, s)
    ratio_gate.check(benchmark, GROUP, lambda: baseline_round(py), lambda: xtb_round(s))
