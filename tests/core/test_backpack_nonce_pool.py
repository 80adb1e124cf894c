"""BackpackSigner(nonce_pool=N): presigned-nonce signatures verify with PyNaCl, stats, the fork rule, bad sizes."""

from __future__ import annotations

import base64
import os
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from xtb._core import BackpackSigner

SECRET = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
TS = 1750793021519
MAX_POOL = 65_536


def verify(signer: BackpackSigner, message: str, signature_b64: str) -> None:
    """Raises BadSignatureError unless the signature is a valid ED25519 signature of `message`."""
    VerifyKey(base64.b64decode(signer.public_key_b64)).verify(message.encode(), base64.b64decode(signature_b64))


def nacl_sign(secret_b64: str, message: str) -> str:
    return base64.b64encode(SigningKey(base64.b64decode(secret_b64)).sign(message.encode()).signature).decode()


def wait_full(signer: BackpackSigner, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while signer.nonce_pool_stats["available"] < signer.nonce_pool_stats["capacity"]:
        assert time.monotonic() < deadline, f"pool did not fill: {signer.nonce_pool_stats}"
        time.sleep(0.002)


@pytest.fixture
def pooled() -> BackpackSigner:
    s = BackpackSigner(SECRET, nonce_pool=64)
    wait_full(s)
    return s


ORDER = {"clientId": 7, "orderType": "Limit", "price": "141.25", "quantity": "12.5", "side": "Bid",
         "symbol": "SOL_USDC_PERP", "timeInForce": "GTC"}


def test_limit_order_signature_verifies_and_is_not_deterministic(pooled: BackpackSigner) -> None:
    msg = pooled.signing_string("orderExecute", ORDER, TS, 5000)
    sigs = [pooled.limit_order(7, "SOL_USDC_PERP", "Bid", 14125, 125, 2, 1, timestamp_ms=TS)[0]["X-Signature"]
            for _ in range(3)]
    for sig in sigs:
        verify(pooled, msg, sig)
    assert len({s[:43] for s in sigs}) == 3, "R repeated"
    assert nacl_sign(SECRET, msg) not in sigs
    with pytest.raises(BadSignatureError):
        verify(pooled, msg.replace("141.25", "141.26"), sigs[0])


def test_request_batch_query_and_subscribe_verify(pooled: BackpackSigner) -> None:
    before = pooled.nonce_pool_stats
    headers, _ = pooled.order(ORDER, TS, 5000)
    verify(pooled, pooled.signing_string("orderExecute", ORDER, TS, 5000), headers["X-Signature"])
    headers, _ = pooled.cancel({"orderId": 28, "symbol": "BTC_USDT"}, TS, 5000)
    verify(pooled, f"instruction=orderCancel&orderId=28&symbol=BTC_USDT&timestamp={TS}&window=5000",
           headers["X-Signature"])
    batch = [ORDER, {**ORDER, "clientId": 8}]
    headers, _ = pooled.orders(batch, TS, 5000)
    verify(pooled, pooled.batch_signing_string(batch, TS, 5000), headers["X-Signature"])
    headers, _ = pooled.query("/api/v1/orders", {"symbol": "SOL_USDC_PERP"}, TS, 5000)
    verify(pooled, f"instruction=orderQueryAll&symbol=SOL_USDC_PERP&timestamp={TS}&window=5000",
           headers["X-Signature"])
    sub = pooled.subscribe_signature(TS, 5000)
    verify(pooled, f"instruction=subscribe&timestamp={TS}&window=5000", sub[1])
    after = pooled.nonce_pool_stats
    # order, signing_string, cancel, orders, batch_signing_string, query, subscribe: 7 signatures, all pooled.
    assert after["presigned"] - before["presigned"] == 7
    assert after["fallbacks"] == before["fallbacks"] == 0


def test_stats_move_and_a_tiny_pool_falls_back() -> None:
    s = BackpackSigner(SECRET, nonce_pool=2)
    wait_full(s)
    assert s.nonce_pool_stats == {"capacity": 2, "available": 2, "presigned": 0, "fallbacks": 0}
    sigs: list[str] = []
    while len(sigs) < 10_000 and (len(sigs) < 20 or s.nonce_pool_stats["fallbacks"] == 0):
        sigs.append(s.sign("x", {"n": len(sigs)}, TS, 5000)["X-Signature"])
    stats = s.nonce_pool_stats
    assert stats["presigned"] >= 2 and stats["fallbacks"] >= 1, stats
    assert stats["presigned"] + stats["fallbacks"] == len(sigs)
    deterministic = 0
    for n, sig in enumerate(sigs):
        msg = f"instruction=x&n={n}&timestamp={TS}&window=5000"
        verify(s, msg, sig)
        deterministic += sig == nacl_sign(SECRET, msg)
    assert deterministic == stats["fallbacks"]
    wait_full(s)  # the refill thread woke and filled it again


def test_pool_off_is_rfc8032_and_counts_fallbacks() -> None:
    s = BackpackSigner(SECRET, nonce_pool=0)
    sig = s.sign("balanceQuery", None, TS, 5000)["X-Signature"]
    assert sig == nacl_sign(SECRET, f"instruction=balanceQuery&timestamp={TS}&window=5000")
    assert s.nonce_pool_stats == {"capacity": 0, "available": 0, "presigned": 0, "fallbacks": 1}
    assert BackpackSigner(SECRET).nonce_pool_stats["capacity"] == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_discards_the_pool_and_signs_deterministically(pooled: BackpackSigner) -> None:
    msg = f"instruction=subscribe&timestamp={TS}&window=5000"
    pooled.subscribe_signature(TS, 5000)  # the parent has used the pool before the fork
    presigned_at_fork = pooled.nonce_pool_stats["presigned"]
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report, then leave without running pytest's teardown
        code = 1
        try:
            os.close(read_fd)
            sig = pooled.subscribe_signature(TS, 5000)[1]
            stats = pooled.nonce_pool_stats
            ok = (sig == nacl_sign(SECRET, msg) and stats["presigned"] == presigned_at_fork
                  and stats["available"] == 0 and stats["fallbacks"] == 1)
            os.write(write_fd, f"{ok} {stats}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("forked child did not finish")
        time.sleep(0.005)
    with os.fdopen(read_fd, "rb") as f:
        report = f.read().decode()
    assert os.waitstatus_to_exitcode(status) == 0
    assert report.startswith("True"), report
    # The parent keeps its pool.
    sig = pooled.subscribe_signature(TS, 5000)[1]
    verify(pooled, msg, sig)
    assert sig != nacl_sign(SECRET, msg)
    assert pooled.nonce_pool_stats["presigned"] == presigned_at_fork + 1


@pytest.mark.parametrize("bad", [-1, MAX_POOL + 1, 10**30])
def test_out_of_range_pool_is_a_value_error(bad: int) -> None:
    with pytest.raises(ValueError, match="nonce_pool"):
        BackpackSigner(SECRET, nonce_pool=bad)


@pytest.mark.parametrize("bad", [True, "8", 1.5])
def test_non_int_pool_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="nonce_pool"):
        BackpackSigner(SECRET, nonce_pool=bad)  # type: ignore[arg-type]


def test_largest_pool_starts_and_drops_promptly() -> None:
    s = BackpackSigner(SECRET, nonce_pool=MAX_POOL)
    assert s.nonce_pool_stats["capacity"] == MAX_POOL
    t0 = time.monotonic()
    del s  # the refill thread is mid-fill: dropping stops it between two nonces
    assert time.monotonic() - t0 < 1.0


@settings(max_examples=20, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), params=st.dictionaries(
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8), st.integers(0, 2**40), max_size=5))
def test_pooled_signatures_verify_for_random_keys(seed: bytes, params: dict[str, int]) -> None:
    s = BackpackSigner(base64.b64encode(seed).decode(), nonce_pool=1)
    wait_full(s)
    headers, _ = s.order(params, TS, 5000)
    verify(s, s.signing_string("orderExecute", params, TS, 5000), headers["X-Signature"])
    assert s.nonce_pool_stats["presigned"] >= 1
