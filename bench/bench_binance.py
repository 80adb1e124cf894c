"""Binance USD-M hot paths, each against the pure-Python code a bot would write.

`binance_decode_depth_20x20`: decode + apply 256 consecutive combined-stream `depthUpdate` frames (20+20
levels, `pu` == previous `u`) from a snapshot. Baseline: orjson + float + dict with the same `pu` check.
`binance_sign_order`: one LIMIT order from integer units to the signed form body of `POST /fapi/v1/order`
(format price/quantity, percent-encode, HMAC-SHA256, hex). Baseline: urlencode + hmac + hashlib.

Run: python -m pytest bench/bench_binance.py --benchmark-only  (ratio = median baseline / median xtb)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from xtb._core import BinanceSigner, EventRing, FeedDecoder, OrderBook

SYMBOL = "BTCUSDC"
PRICE_DECIMALS, SIZE_DECIMALS = 1, 3
SNAPSHOT_ID = 1_000
LAST_UPDATE_ID = SNAPSHOT_ID + 5  # the snapshot's lastUpdateId falls inside the first event's [U, u]
FRAMES = 256
SNAPSHOT_BIDS = [(866000 - i, 1_000) for i in range(20)]
SNAPSHOT_ASKS = [(866010 + i, 1_000) for i in range(20)]
DEPTH_GROUP = "binance_decode_depth_20x20"
SIGN_GROUP = "binance_sign_order"


def depth_frame(n: int) -> bytes:
    """The n-th event after the snapshot: U..u covers 10 update ids, pu is the previous event's u."""
    u = SNAPSHOT_ID + 10 * n
    data = {
        "e": "depthUpdate", "E": 1790134357267, "T": 1790134357265, "s": SYMBOL,
        "U": u - 9, "u": u, "pu": u - 10,
        "b": [[f"{86600.0 - i / 10:.1f}", f"{1 + (n % 5) / 10:.3f}"] for i in range(20)],
        "a": [[f"{86601.0 + i / 10:.1f}", f"{1 + (n % 7) / 10:.3f}"] for i in range(20)],
    }  # fmt: skip
    return orjson.dumps({"stream": f"{SYMBOL.lower()}@depth@100ms", "data": data})


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    return [depth_frame(n) for n in range(1, FRAMES + 1)]


def python_batch(frames: list[bytes]) -> tuple[Callable[[], None], Callable[[], None]]:
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}

    def reset() -> None:
        bids.clear()
        asks.clear()
        bids.update({p / 10: s / 1e3 for p, s in SNAPSHOT_BIDS})
        asks.update({p / 10: s / 1e3 for p, s in SNAPSHOT_ASKS})

    def run() -> None:
        last = 0
        loads = orjson.loads
        for frame in frames:
            d = loads(frame)["data"]
            if last == 0:  # the documented alignment: the first event covers lastUpdateId
                if not d["U"] <= LAST_UPDATE_ID <= d["u"]:
                    raise RuntimeError("first event does not cover the snapshot")
            elif d["pu"] != last:
                raise RuntimeError("gap")
            last = d["u"]
            for side, levels in ((bids, d["b"]), (asks, d["a"])):
                for p, q in levels:
                    px, sz = float(p), float(q)
                    if sz == 0:
                        side.pop(px, None)
                    else:
                        side[px] = sz

    return reset, run


def core_batch(frames: list[bytes]) -> tuple[Callable[[], None], Callable[[], None], OrderBook]:
    ring = EventRing(1 << 12)
    drain = getattr(ring, "drain", None)
    dec = FeedDecoder("binance_usdm", ring)
    book = OrderBook("binance_usdm", SYMBOL, PRICE_DECIMALS, SIZE_DECIMALS)
    dec.add_book(book)

    def reset() -> None:
        if drain is not None:
            drain()
        book.apply_snapshot(SNAPSHOT_BIDS, SNAPSHOT_ASKS, LAST_UPDATE_ID)

    def run() -> None:
        feed = dec.feed
        for frame in frames:
            feed(frame, 0)

    return reset, run, book


ROUNDS = 200


@pytest.mark.benchmark(group=DEPTH_GROUP)
def test_baseline_binance_depth_orjson_float_dict(benchmark: Any, frames: list[bytes]) -> None:
    reset, run = python_batch(frames)
    benchmark.pedantic(run, setup=reset, rounds=ROUNDS, iterations=1)
    benchmark.extra_info["frames_per_round"] = len(frames)


@pytest.mark.benchmark(group=DEPTH_GROUP)
def test_xtb_binance_depth_feed_decoder(benchmark: Any, frames: list[bytes], ratio_gate: Any) -> None:
    reset, run, book = core_batch(frames)
    benchmark.pedantic(run, setup=reset, rounds=ROUNDS, iterations=1)
    benchmark.extra_info["frames_per_round"] = len(frames)
    assert not book.is_stale and book.seq == SNAPSHOT_ID + 10 * FRAMES
    py_reset, py_run = python_batch(frames)
    ratio_gate.check(benchmark, DEPTH_GROUP, py_run, run, setup_baseline=py_reset, setup_xtb=reset, blocks=10,
                     rounds=10)  # fmt: skip


# ---- the signed order path

API_KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
TS = 1591702613943
ORDER: dict[str, Any] = dict(symbol=SYMBOL, side="BUY", price=866005, size=1_250, price_decimals=PRICE_DECIMALS,
                             size_decimals=SIZE_DECIMALS, time_in_force="GTX", reduce_only=False,
                             client_order_id="4000000042")  # fmt: skip


def _fixed(units: int, decimals: int) -> str:
    q, r = divmod(units, 10**decimals)
    return f"{q}.{r:0{decimals}d}" if decimals else str(q)


def py_limit_order(symbol: str, side: str, price: int, size: int, price_decimals: int, size_decimals: int,
                   time_in_force: str, reduce_only: bool, client_order_id: str, ts: int = TS) -> bytes:  # fmt: skip
    """What a bot writes with the standard library: the same body, byte for byte."""
    params: dict[str, str] = {"symbol": symbol, "side": side, "type": "LIMIT", "timeInForce": time_in_force}
    params["quantity"] = _fixed(size, size_decimals)
    params["price"] = _fixed(price, price_decimals)
    if reduce_only:
        params["reduceOnly"] = "true"
    params["newClientOrderId"] = client_order_id
    params["recvWindow"] = "5000"
    params["timestamp"] = str(ts)
    text = urlencode(params)
    sig = hmac.new(SECRET_BYTES, text.encode(), hashlib.sha256).hexdigest()
    return f"{text}&signature={sig}".encode()


SECRET_BYTES = SECRET.encode()


def test_same_output() -> None:
    signer = BinanceSigner(API_KEY, SECRET)
    assert signer.limit_order(**ORDER, timestamp_ms=TS) == py_limit_order(**ORDER)


@pytest.mark.benchmark(group=SIGN_GROUP)
def test_baseline_binance_sign_order(benchmark: Any) -> None:
    body = benchmark(py_limit_order, **ORDER)
    assert body.endswith(b"0") or body


@pytest.mark.benchmark(group=SIGN_GROUP)
def test_xtb_binance_sign_order(benchmark: Any, ratio_gate: Any) -> None:
    signer = BinanceSigner(API_KEY, SECRET)
    limit_order = signer.limit_order

    def xtb() -> bytes:
        return limit_order(**ORDER, timestamp_ms=TS)

    def base() -> bytes:
        return py_limit_order(**ORDER)

    body = benchmark(xtb)
    assert b"&signature=" in body
    ratio_gate.check(benchmark, SIGN_GROUP, base, xtb)
