"""LighterSigner against the SDK's own SignerClient, on the same native library, with a generated key.

Nothing here touches the network: both paths get explicit nonces, and the SDK client is built inside a
running loop only because its aiohttp connector wants one (it sends nothing).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sysconfig
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from xtb.signing import (
    AuthToken,
    CancelAllRequest,
    CancelAllTimeInForce,
    CancelRequest,
    GroupedOrdersRequest,
    GroupingType,
    LighterLibraryError,
    LighterSigner,
    LighterSignerError,
    LoopThreadCallError,
    ModifyRequest,
    OrderRequest,
    OrderType,
    TimeInForce,
    generate_api_key,
    load_library,
    locate_library,
    send_tx_batch_fields,
)
from xtb.signing.lighter_lib import library_file_name, parse_header

ACCOUNT = 12345
API_KEY = 3
CHAIN_ID = 304
EXPIRY_MS = 1_900_000_000_000
# Native code stamps ExpiredAt = now + 10 min - 1 s (ms); two calls a few ms apart differ only by that.
EXPIRED_AT_SLACK_MS = 2_000


@pytest.fixture(scope="module")
def key() -> tuple[str, str]:
    return generate_api_key()


@pytest.fixture(scope="module")
def signer(key: tuple[str, str]) -> Iterator[LighterSigner]:
    with LighterSigner(key[0], chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT, backend="go") as s:
        yield s


@pytest.fixture(scope="module")
def sdk(key: tuple[str, str]) -> Iterator[Any]:
    from lighter.signer_client import SignerClient

    loop = asyncio.new_event_loop()

    async def build() -> Any:
        return SignerClient("http://127.0.0.1:9", ACCOUNT, {API_KEY: key[0]}, chain_id=CHAIN_ID)

    client = loop.run_until_complete(build())
    yield client
    loop.run_until_complete(client.close())
    loop.close()


def _sdk_order_struct(order: OrderRequest) -> Any:
    from lighter.signer_client import CreateOrderTxReq

    return CreateOrderTxReq(order.market_index, order.client_order_index, order.base_amount, order.price,
                            int(order.is_ask), int(order.order_type), int(order.time_in_force),
                            int(order.reduce_only), order.trigger_price, order.order_expiry)


def _sdk_sign(sdk: Any, request: Any, nonce: int) -> tuple[int, str, str]:
    kw = {"nonce": nonce, "api_key_index": API_KEY}
    if isinstance(request, OrderRequest):
        out = sdk.sign_create_order(request.market_index, request.client_order_index, request.base_amount,
                                    request.price, request.is_ask, int(request.order_type),
                                    int(request.time_in_force), int(request.reduce_only),
                                    request.trigger_price, request.order_expiry, **kw)
    elif isinstance(request, CancelRequest):
        out = sdk.sign_cancel_order(request.market_index, request.order_index, **kw)
    elif isinstance(request, CancelAllRequest):
        market = 255 if request.market_index is None else request.market_index
        out = sdk.sign_cancel_all_orders(int(request.time_in_force), request.time_ms, market, **kw)
    elif isinstance(request, ModifyRequest):
        out = sdk.sign_modify_order(request.market_index, request.order_index, request.base_amount,
                                    request.price, request.trigger_price, **kw)
    else:
        out = sdk.sign_create_grouped_orders(int(request.grouping_type),
                                             [_sdk_order_struct(o) for o in request.orders], **kw)
    tx_type, tx_info, tx_hash, err = out
    assert err is None, err
    return tx_type, tx_info, tx_hash


def _scheduled_ms() -> int:
    return (int(time.time()) + 3600) * 1000


CASES: dict[str, Callable[[], Any]] = {
    "limit_gtt": lambda: OrderRequest.limit(0, 77, 1000, 300_000, False, expiry_ms=EXPIRY_MS),
    "post_only_ask": lambda: OrderRequest.limit(1, 78, 25, 4_000_000_000, True, expiry_ms=EXPIRY_MS,
                                                post_only=True),
    "reduce_only_limit": lambda: OrderRequest.limit(0, 79, 10, 300_000, True, expiry_ms=EXPIRY_MS,
                                                    reduce_only=True),
    "ioc_limit": lambda: OrderRequest.ioc(0, 80, 1000, 300_500, False),
    "market_worst_price": lambda: OrderRequest.market(0, 81, 1000, 290_000, True, reduce_only=True),
    "stop_loss_limit": lambda: OrderRequest(0, 82, 1000, 270_000, True, OrderType.STOP_LOSS_LIMIT,
                                            TimeInForce.GOOD_TILL_TIME, True, 271_000, EXPIRY_MS),
    "cancel": lambda: CancelRequest(0, 77),
    "cancel_by_order_index": lambda: CancelRequest(3, 281_474_977_354_074),
    "cancel_all_markets": lambda: CancelAllRequest(),
    "cancel_all_market_0": lambda: CancelAllRequest(market_index=0),
    "cancel_all_scheduled": lambda: CancelAllRequest(CancelAllTimeInForce.SCHEDULED, _scheduled_ms()),
    "modify": lambda: ModifyRequest(0, 77, 2000, 300_100),
    "grouped_otoco": lambda: GroupedOrdersRequest(GroupingType.ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER, (
        OrderRequest.limit(0, 0, 1000, 300_000, False, expiry_ms=EXPIRY_MS),
        OrderRequest(0, 0, 0, 330_000, True, OrderType.TAKE_PROFIT_LIMIT, TimeInForce.GOOD_TILL_TIME, True,
                     329_000, EXPIRY_MS),
        OrderRequest(0, 0, 0, 270_000, True, OrderType.STOP_LOSS_LIMIT, TimeInForce.GOOD_TILL_TIME, True,
                     271_000, EXPIRY_MS),
    )),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tx_info_matches_sdk_except_signature(case: str, signer: LighterSigner, sdk: Any) -> None:
    request = CASES[case]()
    ours = signer.sign_sync(request, nonce=4242)
    tx_type, sdk_info, sdk_hash = _sdk_sign(sdk, request, 4242)
    assert ours.tx_type == tx_type
    assert ours.nonce == 4242
    mine, theirs = json.loads(ours.tx_info), json.loads(sdk_info)
    assert list(mine) == list(theirs)  # same keys in the same (Go struct) order
    assert abs(mine.pop("ExpiredAt") - theirs.pop("ExpiredAt")) <= EXPIRED_AT_SLACK_MS
    assert mine.pop("Sig") != theirs.pop("Sig")  # randomized Schnorr signature
    assert mine == theirs
    assert ours.tx_hash is not None and len(ours.tx_hash) == len(sdk_hash) == 80


def test_tx_hash_matches_sdk_when_expired_at_coincides(signer: LighterSigner, sdk: Any) -> None:
    # The tx hash covers every field but the signature; retry until both land in the same millisecond.
    # The SDK signs on a helper thread released together with ours by a barrier.
    request = CASES["limit_gtt"]()
    barrier = threading.Barrier(2)

    def sdk_side() -> tuple[int, str, str]:
        barrier.wait()
        return _sdk_sign(sdk, request, 7)

    with ThreadPoolExecutor(max_workers=1) as pool:
        for _ in range(300):
            theirs = pool.submit(sdk_side)
            barrier.wait()
            ours = signer.sign_sync(request, nonce=7)
            _, sdk_info, sdk_hash = theirs.result()
            if json.loads(ours.tx_info)["ExpiredAt"] == json.loads(sdk_info)["ExpiredAt"]:
                assert ours.tx_hash == sdk_hash
                return
    pytest.skip("never signed within the same millisecond as the SDK (loaded machine)")


def test_auth_token_matches_sdk_format(signer: LighterSigner, sdk: Any) -> None:
    deadline = int(time.time()) + 600
    token = signer.create_auth_token_sync(deadline)
    sdk_token, err = sdk.create_auth_token_with_expiry(deadline=600, timestamp=deadline - 600,
                                                       api_key_index=API_KEY)
    assert err is None
    prefix = f"{deadline}:{ACCOUNT}:{API_KEY}:"
    assert token.token.startswith(prefix) and sdk_token.startswith(prefix)
    assert len(token.token) == len(sdk_token)
    assert token.deadline_s == deadline and token.account_index == ACCOUNT
    assert token.token not in repr(token)


async def test_auth_token_async_default_ttl(signer: LighterSigner) -> None:
    before = int(time.time())
    token = await signer.create_auth_token(ttl_s=120)
    assert before + 120 <= token.deadline_s <= int(time.time()) + 120
    assert isinstance(token, AuthToken)


def test_auth_token_deadline_bounds(signer: LighterSigner) -> None:
    with pytest.raises(ValueError, match="deadline_s"):
        signer.create_auth_token_sync(int(time.time()) - 5)
    with pytest.raises(ValueError, match="deadline_s"):
        signer.create_auth_token_sync(int(time.time()) + 9 * 3600)


async def test_batch_uses_consecutive_nonces(signer: LighterSigner) -> None:
    requests = [CASES["limit_gtt"](), CASES["cancel"](), CASES["modify"]()]
    txs = await signer.sign_batch(requests, first_nonce=100)
    assert [tx.nonce for tx in txs] == [100, 101, 102]
    assert [json.loads(tx.tx_info)["Nonce"] for tx in txs] == [100, 101, 102]
    assert [tx.tx_type for tx in txs] == [14, 15, 17]
    fields = send_tx_batch_fields(txs)
    assert json.loads(fields["tx_types"]) == [14, 15, 17]
    assert json.loads(fields["tx_infos"]) == [tx.tx_info for tx in txs]


def test_batch_cap_is_enforced(key: tuple[str, str]) -> None:
    with LighterSigner(key[0], chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT, backend="go",
                       max_batch_size=2) as small:
        with pytest.raises(ValueError, match="max_batch_size=2"):
            small.sign_batch_sync([CASES["cancel"]()] * 3, first_nonce=0)
        assert len(small.sign_batch_sync([CASES["cancel"]()] * 2, first_nonce=0)) == 2


# --- threading ------------------------------------------------------------------------------------------


class _ThreadSpy:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.threads: list[int] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.threads.append(threading.get_ident())
        return self.inner(**kwargs)


async def test_async_calls_run_on_the_signer_thread_not_the_loop(
    key: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Python-thread path (native=False; the GIL-free path is covered in test_lighter_native.py).
    signer = LighterSigner(key[0], chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT, backend="go",
                           native=False)
    assert not signer.native_path
    spy = _ThreadSpy(signer._sign_create_order)
    monkeypatch.setattr(signer, "_sign_create_order", spy)
    loop_thread = threading.get_ident()
    await asyncio.gather(*(signer.create_order(CASES["limit_gtt"](), nonce=n) for n in range(20)))
    assert len(spy.threads) == 20
    assert set(spy.threads) == {signer.thread_ident}
    assert loop_thread not in spy.threads
    signer.close()


def test_sync_calls_run_on_the_signer_thread(signer: LighterSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _ThreadSpy(signer._sign_cancel)
    monkeypatch.setattr(signer, "_sign_cancel", spy)
    signer.cancel_order_sync(CancelRequest(0, 1), nonce=1)
    assert spy.threads == [signer.thread_ident] and signer.thread_ident != threading.get_ident()


async def test_native_call_on_loop_thread_is_refused(signer: LighterSigner) -> None:
    with pytest.raises(LoopThreadCallError, match="SignCancelOrder"):
        signer._sign_cancel(cMarketIndex=0, cOrderIndex=1, cSkipNonce=0, cNonce=1, cApiKeyIndex=API_KEY,
                            cAccountIndex=ACCOUNT)


# --- errors and secrets ---------------------------------------------------------------------------------


def test_library_error_is_raised_with_its_message_and_no_secret(signer: LighterSigner, key: Any) -> None:
    bad = OrderRequest(0, 1, 1000, 300_000, False, OrderType.MARKET, TimeInForce.GOOD_TILL_TIME)
    with pytest.raises(LighterSignerError) as info:
        signer.create_order_sync(bad, nonce=1)
    assert info.value.operation == "SignCreateOrder"
    assert "OrderTimeInForce is not valid" in str(info.value)
    for text in (str(info.value), repr(info.value)):
        assert key[0][2:] not in text.lower()


def test_private_key_never_in_repr_or_state(signer: LighterSigner, key: Any) -> None:
    secret = key[0][2:].lower()
    assert secret not in repr(signer).lower()
    assert secret not in repr(vars(signer)).lower()


@pytest.mark.parametrize("bad_key", ["", "0x1234", "zz" * 40, "0x" + "ab" * 41])
def test_malformed_key_is_rejected_without_echo(bad_key: str) -> None:
    with pytest.raises(ValueError) as info:
        LighterSigner(bad_key, chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=999, backend="go")
    assert "80 hex digits" in str(info.value)
    if bad_key:
        assert bad_key not in str(info.value)


def test_different_key_for_a_taken_pair_is_refused(signer: LighterSigner) -> None:
    other, _ = generate_api_key()
    with pytest.raises(ValueError, match="different key"):
        LighterSigner(other, chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT, backend="go")


@pytest.mark.parametrize(("field", "build"), [
    ("nonce", lambda s: s.cancel_order_sync(CancelRequest(0, 1), nonce=-1)),
    ("price", lambda s: OrderRequest(0, 1, 1, 1 << 32, False)),
    ("base_amount", lambda s: OrderRequest(0, 1, -5, 100, False)),
    ("market_index", lambda s: CancelRequest(5000, 1)),
    ("order_index", lambda s: CancelRequest(0, 0)),
    ("is_ask", lambda s: OrderRequest(0, 1, 1, 100, 2)),  # type: ignore[arg-type]
    ("first_nonce", lambda s: s.sign_batch_sync([CancelRequest(0, 1)], first_nonce=-1)),
])
def test_bad_input_names_the_field(field: str, build: Callable[[LighterSigner], Any],
                                   signer: LighterSigner) -> None:
    with pytest.raises((ValueError, TypeError), match=field):
        build(signer)


def test_closed_signer_refuses_work(key: Any) -> None:
    s = LighterSigner(key[0], chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT, backend="go")
    s.close()
    with pytest.raises(LighterSignerError, match="closed"):
        s.cancel_order_sync(CancelRequest(0, 1), nonce=1)


def test_create_client_error_is_reported(key: Any) -> None:
    with pytest.raises(ValueError, match="account_index"):
        LighterSigner(key[0], chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=0, backend="go")


# --- locating and binding -------------------------------------------------------------------------------


def test_library_is_found_in_the_installed_lighter_package() -> None:
    spec = importlib.util.find_spec("lighter")
    assert spec is not None and spec.origin is not None
    location = locate_library()
    assert location.binary == Path(spec.origin).parent / "signers" / library_file_name()
    assert location.header == location.binary.with_suffix(".h")
    # Found where pip installed lighter-sdk (wherever the environment lives, inside the checkout or not).
    site_dirs = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    assert site_dirs & set(location.binary.resolve().parents)


def test_env_override_and_missing_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTB_LIGHTER_SIGNER_LIB", str(tmp_path / "nope.so"))
    with pytest.raises(LighterLibraryError, match="not found"):
        locate_library()
    with pytest.raises(LighterLibraryError, match="no Lighter signer binary"):
        library_file_name("Plan9", "mips")


def test_header_drives_the_signatures() -> None:
    lib = load_library()
    decl = lib.header.functions["SignCreateOrder"]
    assert decl.return_type == "SignedTxResponse"
    assert decl.params[0] == ("long long int", "cMarketIndex")
    assert ("uint8_t", "cSkipNonce") in decl.params
    fields = dict((name, ctype) for ctype, name in lib.header.structs["CreateOrderTxReq"])
    assert fields["Price"] == "uint32_t" and fields["IsAsk"] == "uint8_t"


def test_header_mismatch_fails_loudly() -> None:
    lib = load_library()
    with pytest.raises(LighterLibraryError, match="differ"):
        lib.function("SignCancelOrder", ("cMarketIndex", "cOrderIndex", "cNonce"))
    with pytest.raises(LighterLibraryError, match="does not export"):
        lib.function("SignTeleport", ())


def test_parse_header_handles_skewed_struct() -> None:
    text = """typedef struct {
    int16_t MarketIndex;
    uint32_t Price;
} CreateOrderTxReq;
extern SignedTxResponse SignX(long long int cA, uint8_t cB);
extern void Free(void* ptr);
"""
    parsed = parse_header(text)
    assert parsed.structs["CreateOrderTxReq"] == (("int16_t", "MarketIndex"), ("uint32_t", "Price"))
    assert parsed.functions["SignX"].params == (("long long int", "cA"), ("uint8_t", "cB"))
    assert parsed.functions["Free"].return_type == "void"
