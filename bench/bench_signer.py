"""Backpack signing: one order and a batch of 10 (string + ED25519 + headers + JSON body).

Baseline: the pure-Python path a bot would write with PyNaCl (libsodium) and orjson.
Run: python -m pytest bench/bench_signer.py --benchmark-only  (ratio = median baseline / median xtb)
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from nacl.signing import SigningKey

from xtb._core import BackpackSigner

SECRET = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
TS = 1750793021519
WINDOW = 5000

ORDER = {
    "symbol": "SOL_USDC_PERP", "side": "Bid", "orderType": "Limit", "price": "141.25", "quantity": "12.5",
    "postOnly": True, "clientId": 4_000_000_042, "timeInForce": "GTC", "selfTradePrevention": "RejectTaker",
}
BATCH = [{**ORDER, "clientId": 4_000_000_000 + i, "price": f"{141 + i}.25"} for i in range(10)]


class PyBackpackSigner:
    """The pure-Python equivalent: same string, same headers, same body."""

    def __init__(self, secret_b64: str) -> None:
        self.key = SigningKey(base64.b64decode(secret_b64))
        self.api_key = base64.b64encode(bytes(self.key.verify_key)).decode()

    @staticmethod
    def _segment(params: dict[str, Any]) -> str:
        items = "&".join(
            f"{k}={('true' if v else 'false') if isinstance(v, bool) else v}"
            for k, v in sorted(params.items())
        )
        return "instruction=orderExecute&" + items

    def _headers(self, msg: str, ts: int, window: int) -> dict[str, str]:
        sig = base64.b64encode(self.key.sign(msg.encode()).signature).decode()
        return {
            "X-API-Key": self.api_key, "X-Signature": sig, "X-Timestamp": str(ts), "X-Window": str(window),
            "Content-Type": "application/json; charset=utf-8",
        }

    def order(self, params: dict[str, Any], ts: int, window: int) -> tuple[dict[str, str], bytes]:
        msg = f"{self._segment(params)}&timestamp={ts}&window={window}"
        return self._headers(msg, ts, window), orjson.dumps(params)

    def orders(self, orders: list[dict[str, Any]], ts: int, window: int) -> tuple[dict[str, str], bytes]:
        msg = "&".join(self._segment(o) for o in orders) + f"&timestamp={ts}&window={window}"
        return self._headers(msg, ts, window), orjson.dumps(orders)


@pytest.fixture(scope="module")
def py_signer() -> PyBackpackSigner:
    return PyBackpackSigner(SECRET)


@pytest.fixture(scope="module")
def xtb_signer() -> BackpackSigner:
    return BackpackSigner(SECRET)


def test_same_output(py_signer: PyBackpackSigner, xtb_signer: BackpackSigner) -> None:
    """The two paths do the same work: identical headers and bodies (bodies compared as JSON)."""
    for a, b in ((py_signer.order(ORDER, TS, WINDOW), xtb_signer.order(ORDER, TS, WINDOW)),
                 (py_signer.orders(BATCH, TS, WINDOW), xtb_signer.orders(BATCH, TS, WINDOW))):
        assert a[0] == b[0]
        assert orjson.loads(a[1]) == orjson.loads(b[1])


@pytest.mark.benchmark(group="backpack_sign_order")
def test_baseline_sign_order(benchmark: Any, py_signer: PyBackpackSigner) -> None:
    headers, body = benchmark(py_signer.order, ORDER, TS, WINDOW)
    assert headers["X-Signature"] and body


@pytest.mark.benchmark(group="backpack_sign_order")
def test_xtb_sign_order(benchmark: Any, xtb_signer: BackpackSigner) -> None:
    headers, body = benchmark(xtb_signer.order, ORDER, TS, WINDOW)
    assert headers["X-Signature"] and body


@pytest.mark.benchmark(group="backpack_sign_batch10")
def test_baseline_sign_batch10(benchmark: Any, py_signer: PyBackpackSigner) -> None:
    headers, body = benchmark(py_signer.orders, BATCH, TS, WINDOW)
    assert headers["X-Signature"] and body


@pytest.mark.benchmark(group="backpack_sign_batch10")
def test_xtb_sign_batch10(benchmark: Any, xtb_signer: BackpackSigner) -> None:
    headers, body = benchmark(xtb_signer.orders, BATCH, TS, WINDOW)
    assert headers["X-Signature"] and body
