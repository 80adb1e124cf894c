"""LighterSigner with the native backend (the default): inline signing in the core, errors, secrets,
batches, the nonce commitment pool (also across os.fork) and the loop staying responsive."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable

import pytest

from xtb import _core
from xtb.signing import (
    CancelAllRequest,
    CancelRequest,
    LighterSigner,
    LighterSignerError,
    OrderRequest,
    generate_api_key,
)
from xtb.venues.lighter import LighterConfig

CHAIN_ID = 304
ACCOUNT = 4242
API_KEY = 5
ORDER = OrderRequest.limit(0, 77, 1000, 300_000, False, expiry_ms=1_900_000_000_000)


def _signer(**kw: object) -> LighterSigner:
    private, _ = generate_api_key()
    return LighterSigner(private, chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT, **kw)  # type: ignore[arg-type]


def _wait_pool(signer: LighterSigner, done: Callable[[dict[str, int]], bool] | None = None) -> None:
    """Until the pool is full (or `done(stats)`)."""
    for _ in range(4000):  # up to 20 s: generous for a loaded CI machine (a commitment is ~25 us)
        stats = signer.nonce_pool_stats()
        assert stats is not None
        if done(stats) if done is not None else stats["available"] == stats["capacity"]:
            return
        time.sleep(0.005)
    raise AssertionError(f"pool never filled: {signer.nonce_pool_stats()}")


def test_default_backend_is_native_and_needs_no_thread() -> None:
    with _signer() as s:
        assert s.backend == "native" and s.thread_ident is None and not s.native_path
        assert s.public_key_hex is not None and len(s.public_key_hex) == 82
        tx = s.create_order_sync(ORDER, nonce=3)
        assert tx.tx_type == 14 and tx.nonce == 3 and len(tx.tx_hash or "") == 80
        assert _core.lighter_verify_tx(14, tx.tx_info, CHAIN_ID, s.public_key_hex)[0]


async def test_async_api_signs_inline_and_verifies() -> None:
    with _signer() as s:
        assert s.public_key_hex is not None
        txs = [await s.create_order(ORDER, nonce=1), await s.cancel_order(CancelRequest(0, 77), nonce=2),
               await s.cancel_all_orders(CancelAllRequest(market_index=3), nonce=3)]
        for i, tx in enumerate(txs):
            assert tx.nonce == i + 1
            assert _core.lighter_verify_tx(tx.tx_type, tx.tx_info, CHAIN_ID, s.public_key_hex)[0]
        token = await s.create_auth_token(ttl_s=60)
        assert _core.lighter_verify_auth_token(token.token, s.public_key_hex)
        assert token.token not in repr(token)


def test_batch_is_one_call_with_consecutive_nonces() -> None:
    with _signer() as s:
        txs = s.sign_batch_sync([ORDER] * 5, first_nonce=10)
        assert [t.nonce for t in txs] == [10, 11, 12, 13, 14]
        assert [json.loads(t.tx_info)["Nonce"] for t in txs] == [10, 11, 12, 13, 14]
        assert s.public_key_hex is not None
        assert all(_core.lighter_verify_tx(14, t.tx_info, CHAIN_ID, s.public_key_hex)[0] for t in txs)
        with pytest.raises(ValueError, match="max_batch_size"):
            s.sign_batch_sync([ORDER] * 51, first_nonce=1)


def test_refusals_are_signer_errors_naming_the_field() -> None:
    with _signer() as s:
        bad = OrderRequest(0, 1, 10, 100, False, order_expiry=0)  # limit GTT needs an expiry
        with pytest.raises(LighterSignerError) as err:
            s.create_order_sync(bad, nonce=1)
        assert (err.value.operation, err.value.library_message) == ("SignCreateOrder", "OrderExpiry is invalid")
        with pytest.raises(ValueError, match="nonce"):
            s.create_order_sync(ORDER, nonce=-1)
    with pytest.raises(LighterSignerError, match="closed"):
        s.create_order_sync(ORDER, nonce=1)


def test_the_key_never_shows() -> None:
    private, _ = generate_api_key()
    with LighterSigner(private, chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT) as s:
        text = repr(s) + repr(vars(s)) + repr(s._key)
        assert private[2:] not in text and private[2:].upper() not in text
    with pytest.raises(ValueError) as err:
        _core.LighterKey("zz" * 40, chain_id=1, account_index=1, api_key_index=1)
    assert "zz" not in str(err.value)


def test_nonce_pool_serves_signatures_and_refills() -> None:
    with _signer(nonce_pool=8) as s:
        _wait_pool(s)
        assert s.public_key_hex is not None
        txs = [s.create_order_sync(ORDER, nonce=n) for n in range(8)]
        assert all(_core.lighter_verify_tx(14, t.tx_info, CHAIN_ID, s.public_key_hex)[0] for t in txs)
        assert len({json.loads(t.tx_info)["Sig"] for t in txs}) == 8
        stats = s.nonce_pool_stats()
        assert stats is not None and stats["used"] == 8 and stats["misses"] == 0
        # Topped up: the refill runs whenever half the pool is used, so it ends full, or above half when its
        # last pass finished while the signatures were still taking entries (both are the rule).
        _wait_pool(s, lambda st: st["available"] > st["capacity"] // 2)
    with _signer(nonce_pool=0) as off:
        assert off.nonce_pool_stats() is None
        assert off.create_order_sync(ORDER, nonce=1).tx_type == 14


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_uses_the_parents_commitments() -> None:
    with _signer(nonce_pool=4) as s:
        _wait_pool(s)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: sign, report, leave without running any cleanup of the parent's objects
            try:
                tx = s.create_order_sync(ORDER, nonce=1)
                stats = s.nonce_pool_stats() or {}
                ok = _core.lighter_verify_tx(14, tx.tx_info, CHAIN_ID, s.public_key_hex or "")[0]
                os.write(write, json.dumps({"ok": ok, "used": stats.get("used"),
                                            "misses": stats.get("misses")}).encode())
            finally:
                os._exit(0)
        os.close(write)
        child = json.loads(os.read(read, 4096))
        os.close(read)
        os.waitpid(pid, 0)
        assert child == {"ok": True, "used": 0, "misses": 0}  # signed with a fresh nonce, pool untouched
        assert s.nonce_pool_stats() == {**(s.nonce_pool_stats() or {}), "used": 0}


async def test_loop_keeps_ticking_while_100_orders_are_signed() -> None:
    # Behaviour, with a generous bound (the < 1 ms figure is the bench `lighter_loop_stall_100`): each
    # signature is tens of microseconds on the loop's thread, handed on with one loop iteration.
    with _signer() as s:
        gaps: list[float] = []
        done = False

        async def ticker() -> None:
            while not done:
                t = time.perf_counter()
                await asyncio.sleep(0)
                gaps.append(time.perf_counter() - t)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        for n in range(100):
            await s.create_order(ORDER, nonce=n)
            await asyncio.sleep(0)
        done = True
        await task
        assert len(gaps) >= 100
        assert sorted(gaps)[len(gaps) // 2] < 0.005  # typical gap: one signature, far below 5 ms


def test_venue_option_chooses_the_signer() -> None:
    cfg = LighterConfig.from_options({"signer": "go"}, account_index=1, api_key_index=3, profile="testnet")
    assert cfg.signer == "go"
    assert LighterConfig.from_options({}, account_index=1, api_key_index=3, profile="testnet").signer == "native"
    with pytest.raises(ValueError, match="signer must be native or go"):
        LighterConfig.from_options({"signer": "rust"}, account_index=1, api_key_index=3, profile="testnet")
    private, _ = generate_api_key()
    with pytest.raises(ValueError, match="backend must be one of native, go"):
        LighterSigner(private, chain_id=1, api_key_index=3, account_index=1, backend="python")
