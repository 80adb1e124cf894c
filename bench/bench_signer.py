"""Backpack signing: one order and a batch of 10 (string + ED25519 + headers + JSON body).

Baseline: the pure-Python path a bot would write with PyNaCl (libsodium) and orjson.
Run: python -m pytest bench/bench_signer.py --benchmark-only  (ratio = median baseline / median xtb)

`backpack_limit_order` / `backpack_limit_order_pooled`: the gateway's hot call (`limit_order`: integer units
in, headers + body out) with deterministic RFC 8032 signing, then with a presigned-nonce pool
(`nonce_pool=N`). The pool refills on a background thread at ~20 us per nonce, slower than pooled signing
(~3 us), so a tight loop would drain it and measure fallbacks: the pooled bench fills a pool larger than its
round count first, runs a fixed number of rounds (the refill thread keeps running alongside, as in
production), and reports presigned vs fallback signatures in extra_info.
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


# ---- limit_order: deterministic vs presigned nonces

LIMIT: dict[str, Any] = dict(client_id=4_000_000_042, symbol="SOL_USDC_PERP", side="Bid", price=14125, size=125,
             price_decimals=2, size_decimals=1)
LIMIT_ROUNDS = 4000
POOL = 8192  # > LIMIT_ROUNDS: every timed round finds a presigned nonce


def _fixed(units: int, decimals: int) -> str:
    q, r = divmod(units, 10**decimals)
    return f"{q}.{r:0{decimals}d}" if decimals else str(q)


def py_limit_order(signer: PyBackpackSigner, client_id: int, symbol: str, side: str, price: int, size: int,
                   price_decimals: int, size_decimals: int, ts: int = TS,
                   window: int = WINDOW) -> tuple[dict[str, str], bytes]:
    """What `BackpackSigner.limit_order` does, in Python: format units, sorted string, sign, headers, body."""
    params = {"clientId": client_id, "orderType": "Limit", "price": _fixed(price, price_decimals),
              "quantity": _fixed(size, size_decimals), "side": side, "symbol": symbol, "timeInForce": "GTC"}
    return signer.order(params, ts, window)


def _run_rounds(benchmark: Any, fn: Any) -> Any:
    """A fixed number of single calls (the pooled case must not outrun its pool); pedantic runs it once
    under --benchmark-disable."""
    return benchmark.pedantic(fn, rounds=LIMIT_ROUNDS, iterations=1, warmup_rounds=0)


def _wait_full(signer: BackpackSigner, timeout_s: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while signer.nonce_pool_stats["available"] < signer.nonce_pool_stats["capacity"]:
        assert time.monotonic() < deadline, f"nonce pool did not fill: {signer.nonce_pool_stats}"
        time.sleep(0.005)


def test_limit_order_same_output(py_signer: PyBackpackSigner, xtb_signer: BackpackSigner) -> None:
    a = py_limit_order(py_signer, **LIMIT)
    b = xtb_signer.limit_order(**LIMIT, timestamp_ms=TS, window_ms=WINDOW)
    assert a[0] == b[0]
    assert orjson.loads(a[1]) == orjson.loads(b[1])


@pytest.mark.benchmark(group="backpack_limit_order")
def test_baseline_limit_order(benchmark: Any, py_signer: PyBackpackSigner) -> None:
    headers, body = _run_rounds(benchmark, lambda: py_limit_order(py_signer, **LIMIT))
    assert headers["X-Signature"] and body


@pytest.mark.benchmark(group="backpack_limit_order")
def test_xtb_limit_order(benchmark: Any, xtb_signer: BackpackSigner) -> None:
    headers, body = _run_rounds(
        benchmark, lambda: xtb_signer.limit_order(**LIMIT, timestamp_ms=TS, window_ms=WINDOW))
    assert headers["X-Signature"] and body


@pytest.mark.benchmark(group="backpack_limit_order_pooled")
def test_baseline_limit_order_pooled(benchmark: Any, py_signer: PyBackpackSigner) -> None:
    headers, body = _run_rounds(benchmark, lambda: py_limit_order(py_signer, **LIMIT))
    assert headers["X-Signature"] and body


@pytest.mark.benchmark(group="backpack_limit_order_pooled")
def test_xtb_limit_order_pooled(benchmark: Any, py_signer: PyBackpackSigner, ratio_gate: Any) -> None:
    signer = BackpackSigner(SECRET, nonce_pool=POOL)
    _wait_full(signer)
    before = signer.nonce_pool_stats
    headers, body = _run_rounds(
        benchmark, lambda: signer.limit_order(**LIMIT, timestamp_ms=TS, window_ms=WINDOW))
    after = signer.nonce_pool_stats
    presigned = after["presigned"] - before["presigned"]
    fallbacks = after["fallbacks"] - before["fallbacks"]
    benchmark.extra_info.update(nonce_pool=POOL, presigned=presigned, fallbacks=fallbacks)
    assert headers["X-Signature"] and body
    assert fallbacks == 0 and presigned >= 1, after  # the figure is the pooled path, not the fallback
    # Gate: single orders, interleaved; 10 blocks x 105 orders < POOL, so every xtb round is presigned.
    gate_signer = BackpackSigner(SECRET, nonce_pool=POOL)
    _wait_full(gate_signer)
    ratio_gate.check(benchmark, "backpack_limit_order_pooled", lambda: py_limit_order(py_signer, **LIMIT),
                     lambda: gate_signer.limit_order(**LIMIT, timestamp_ms=TS, window_ms=WINDOW),
                     blocks=10, rounds=100, warmup=5)
    assert gate_signer.nonce_pool_stats["fallbacks"] == 0
