"""The GIL-free Lighter signing path (Rust thread + loop fd reader) against the Python-thread path.

Both paths call the same native library with a generated key and explicit nonces; nothing touches the
network.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from xtb.signing import (
    CancelRequest,
    LighterSigner,
    LighterSignerError,
    OrderRequest,
    OrderType,
    TimeInForce,
    generate_api_key,
    lighter_native,
    locate_library,
)
from xtb.signing.lighter_lib import HeaderDecl, LighterLibrary

ACCOUNT = 23456
API_KEY = 5
CHAIN_ID = 304
EXPIRY_MS = 1_900_000_000_000
EXPIRED_AT_SLACK_MS = 2_000

ORDERS = {
    "limit_gtt": OrderRequest.limit(0, 77, 1000, 300_000, False, expiry_ms=EXPIRY_MS),
    "post_only_ask_high_price": OrderRequest.limit(1, 78, 25, 4_000_000_000, True, expiry_ms=EXPIRY_MS,
                                                   post_only=True),
    "market_reduce_only": OrderRequest.market(0, 81, 1000, 290_000, True, reduce_only=True),
    "ioc": OrderRequest.ioc(2, 80, 1000, 300_500, False),
    "stop_loss_limit": OrderRequest(0, 82, 1000, 270_000, True, OrderType.STOP_LOSS_LIMIT,
                                    TimeInForce.GOOD_TILL_TIME, True, 271_000, EXPIRY_MS),
}


@pytest.fixture(scope="module")
def key() -> tuple[str, str]:
    return generate_api_key()


@pytest.fixture(scope="module")
def signer(key: tuple[str, str]) -> Iterator[LighterSigner]:
    with LighterSigner(key[0], chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT, backend="go") as s:
        yield s


class _NoThreadPath:
    """Stands in for the Python-thread binding: any call means the native path was not taken."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, **kwargs: Any) -> Any:
        self.calls += 1
        raise AssertionError("the Python-thread path was used")


def _same_except_signature(native: str, thread: str) -> None:
    mine, theirs = json.loads(native), json.loads(thread)
    assert list(mine) == list(theirs)
    assert abs(mine.pop("ExpiredAt") - theirs.pop("ExpiredAt")) <= EXPIRED_AT_SLACK_MS
    assert mine.pop("Sig") != theirs.pop("Sig")  # randomized Schnorr signature
    assert mine == theirs


def test_native_path_is_on_when_the_header_matches(signer: LighterSigner) -> None:
    assert signer.native_path
    assert load_abi_mismatch(signer) is None


def load_abi_mismatch(signer: LighterSigner) -> str | None:
    from xtb import _core

    return signer._lib.abi_mismatch(_core.lighter_native_abi())


@pytest.mark.parametrize("case", sorted(ORDERS))
async def test_create_order_equals_thread_path_except_signature(
    case: str, signer: LighterSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = ORDERS[case]
    thread = signer.create_order_sync(order, nonce=4242)
    spy = _NoThreadPath()
    monkeypatch.setattr(signer, "_sign_create_order", spy)
    native = await signer.create_order(order, nonce=4242)
    assert spy.calls == 0
    assert (native.tx_type, native.nonce) == (thread.tx_type, thread.nonce) == (14, 4242)
    _same_except_signature(native.tx_info, thread.tx_info)
    assert native.tx_hash is not None and len(native.tx_hash) == len(thread.tx_hash or "") == 80


async def test_cancel_order_equals_thread_path_except_signature(
    signer: LighterSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    cancel = CancelRequest(3, 123_456_789)
    thread = signer.cancel_order_sync(cancel, nonce=99)
    monkeypatch.setattr(signer, "_sign_cancel", _NoThreadPath())
    native = await signer.cancel_order(cancel, nonce=99)
    via_sign = await signer.sign(cancel, nonce=99)
    assert native.tx_type == via_sign.tx_type == thread.tx_type == 15
    _same_except_signature(native.tx_info, thread.tx_info)
    _same_except_signature(via_sign.tx_info, thread.tx_info)


async def test_library_error_surfaces_with_its_message(signer: LighterSigner, key: Any) -> None:
    bad = OrderRequest(0, 1, 1000, 300_000, False, OrderType.MARKET, TimeInForce.GOOD_TILL_TIME)
    with pytest.raises(LighterSignerError) as info:
        await signer.create_order(bad, nonce=1)
    assert info.value.operation == "SignCreateOrder"
    assert "OrderTimeInForce is not valid" in str(info.value)
    assert key[0][2:] not in str(info.value).lower()
    # The path keeps working after an error.
    assert (await signer.create_order(ORDERS["limit_gtt"], nonce=2)).nonce == 2


async def test_bad_nonce_is_refused_before_the_library(signer: LighterSigner) -> None:
    with pytest.raises(ValueError, match="nonce"):
        await signer.create_order(ORDERS["limit_gtt"], nonce=-1)
    with pytest.raises(ValueError, match="nonce"):
        await signer.cancel_order(CancelRequest(0, 1), nonce=-1)


async def test_concurrent_calls_keep_their_nonces(signer: LighterSigner) -> None:
    async def one(n: int) -> Any:
        if n % 3 == 0:
            return await signer.cancel_order(CancelRequest(0, n + 1), nonce=n)
        return await signer.create_order(ORDERS["limit_gtt"], nonce=n)

    results = await asyncio.gather(*(one(n) for n in range(60)))
    for n, tx in enumerate(results):
        assert tx.nonce == n and json.loads(tx.tx_info)["Nonce"] == n
        assert tx.tx_type == (15 if n % 3 == 0 else 14)


def test_each_new_loop_takes_the_path_over(signer: LighterSigner) -> None:
    for n in range(3):  # asyncio.run makes (and closes) a new loop every time
        assert asyncio.run(signer.create_order(ORDERS["ioc"], nonce=n)).nonce == n
    assert signer.native_path


def test_a_second_running_loop_uses_the_thread_path(signer: LighterSigner,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    owner = asyncio.new_event_loop()
    runner = threading.Thread(target=owner.run_forever, daemon=True)
    runner.start()
    calls: list[int] = []
    thread_fn = signer._sign_create_order

    def spy(**kwargs: Any) -> Any:
        calls.append(threading.get_ident())
        return thread_fn(**kwargs)

    monkeypatch.setattr(signer, "_sign_create_order", spy)
    try:
        first = asyncio.run_coroutine_threadsafe(signer.create_order(ORDERS["ioc"], nonce=1), owner)
        assert first.result(5).nonce == 1 and calls == []  # the owner loop signs natively
        assert asyncio.run(signer.create_order(ORDERS["ioc"], nonce=2)).nonce == 2
        assert calls == [signer.thread_ident]  # a second, concurrently running loop: thread path
    finally:
        owner.call_soon_threadsafe(owner.stop)
        runner.join(5)
        owner.close()
    assert asyncio.run(signer.create_order(ORDERS["ioc"], nonce=3)).nonce == 3
    assert calls == [signer.thread_ident]  # the owner is closed: the next loop takes the fd over


async def test_close_with_pending_jobs_fails_them_cleanly(key: tuple[str, str]) -> None:
    s = LighterSigner(key[0], chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT, backend="go")
    assert s.native_path
    tasks = [asyncio.ensure_future(s.create_order(ORDERS["limit_gtt"], nonce=n)) for n in range(200)]
    await asyncio.sleep(0)  # every task has submitted its job
    s.close()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert failed, "200 signatures cannot all finish before close"
    for error in failed:
        assert isinstance(error, LighterSignerError) and "closed" in str(error)
    for n, result in enumerate(results):
        if not isinstance(result, BaseException):
            assert result.nonce == n
    with pytest.raises(LighterSignerError, match="closed"):
        await s.create_order(ORDERS["limit_gtt"], nonce=1)


def test_close_from_another_thread_while_the_loop_waits(key: tuple[str, str]) -> None:
    s = LighterSigner(key[0], chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT, backend="go")

    async def main() -> list[Any]:
        tasks = [asyncio.ensure_future(s.create_order(ORDERS["limit_gtt"], nonce=n)) for n in range(200)]
        await asyncio.sleep(0)
        await asyncio.to_thread(s.close)
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)

    results = asyncio.run(main())
    assert any(isinstance(r, LighterSignerError) and "closed" in str(r) for r in results)


def test_header_mismatch_falls_back_to_the_thread_path(
    key: tuple[str, str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = LighterLibrary(locate_library())
    decl = lib.header.functions["SignCreateOrder"]
    drifted = tuple(("long long int", n) if n == "cPrice" else (t, n) for t, n in decl.params)
    functions = dict(lib.header.functions)
    functions["SignCreateOrder"] = HeaderDecl(decl.name, decl.return_type, drifted)
    lib.header = dataclasses.replace(lib.header, functions=functions)
    monkeypatch.setattr(lighter_native, "_reported", set())

    with caplog.at_level(logging.WARNING, logger="xtb.signing.lighter_native"):
        signers = [LighterSigner(key[0], chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT, backend="go",
                                 library=lib) for _ in range(2)]
    try:
        assert not any(s.native_path for s in signers)
        warnings = [r for r in caplog.records if "SignCreateOrder" in r.getMessage()]
        assert len(warnings) == 1, "logged once"
        assert "cPrice" in warnings[0].getMessage()
        threads: list[int] = []
        native_fn = signers[0]._sign_create_order

        def spy(**kwargs: Any) -> Any:
            threads.append(threading.get_ident())
            return native_fn(**kwargs)

        monkeypatch.setattr(signers[0], "_sign_create_order", spy)
        tx = asyncio.run(signers[0].create_order(ORDERS["limit_gtt"], nonce=5))
        assert tx.nonce == 5 and threads == [signers[0].thread_ident]
    finally:
        for s in signers:
            s.close()


def test_struct_drift_is_a_mismatch() -> None:
    from xtb import _core

    lib = LighterLibrary(locate_library())
    structs = dict(lib.header.structs)
    structs["SignedTxResponse"] = structs["SignedTxResponse"][:-1]  # a field dropped
    lib.header = dataclasses.replace(lib.header, structs=structs)
    mismatch = lib.abi_mismatch(_core.lighter_native_abi())
    assert mismatch is not None and "SignedTxResponse" in mismatch
    assert lib.abi_mismatch({}) is not None  # nothing to compare is never a match


def test_native_signer_rejects_a_missing_library() -> None:
    from xtb import _core

    with pytest.raises(RuntimeError, match="cannot load"):
        _core.LighterNativeSigner("/nonexistent/lighter-signer.so")
