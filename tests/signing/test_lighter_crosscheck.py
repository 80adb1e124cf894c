"""The native Lighter signer (xtb._core) against the Go library shipped in the lighter-sdk wheel.

For thousands of random transactions of every type the connector signs (create, cancel, cancel-all,
modify, grouped orders) and for auth tokens:
- the Go signature verifies under the native verifier over the native hash, and the native hash equals
  the Go library's tx hash (so both hash the same field elements);
- the native signature of the same transaction verifies, and its tx_info equals the Go library's in
  every field and in key order except the randomized ``Sig``;
- any changed field, a flipped signature byte, another key or another chain id fails verification;
- both refuse the same invalid requests.
Public keys: the native public key of every Go-generated private key equals the Go one, and Go
signatures made with natively generated keys verify under the native public key.

The count per type is XTB_LIGHTER_XCHECK_N (default 1000); the seed is printed on failure
(XTB_LIGHTER_XCHECK_SEED to replay).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from xtb import _core
from xtb.signing import (
    CancelAllRequest,
    CancelAllTimeInForce,
    CancelRequest,
    GroupedOrdersRequest,
    GroupingType,
    LighterSigner,
    LighterSignerError,
    ModifyRequest,
    OrderRequest,
    OrderType,
    SelfTradeBehavior,
    SelfTradeEquality,
    TimeInForce,
    generate_api_key,
)
from xtb.signing.lighter import TxRequest

N = int(os.environ.get("XTB_LIGHTER_XCHECK_N", "1000"))
SEED = int(os.environ.get("XTB_LIGHTER_XCHECK_SEED", str(time.time_ns() % 1_000_000)))
ACCOUNT = 281474976710000  # a sub-account index near the top of the range
API_KEY = 7
CHAIN_ID = 304
MAX48 = (1 << 48) - 1
NOW_MS = int(time.time() * 1000)


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_api_key(backend="go")


@pytest.fixture(scope="module")
def go(keys: tuple[str, str]) -> Iterator[LighterSigner]:
    with LighterSigner(keys[0], chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT,
                       backend="go", native=False) as s:
        yield s


@pytest.fixture(scope="module")
def native(keys: tuple[str, str]) -> Iterator[LighterSigner]:
    with LighterSigner(keys[0], chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT) as s:
        yield s


@pytest.fixture
def rng() -> random.Random:
    return random.Random(SEED)


# --- random valid requests ------------------------------------------------------------------------------


def _market(r: random.Random, perps_only: bool = False) -> int:
    """Perps 0..254 mostly, spot 2048..4094 sometimes (the signer itself accepts any 0..4094 but 255)."""
    return r.randint(0, 254) if perps_only or r.random() < 0.8 else r.randint(2048, 4094)


def _expiry(r: random.Random) -> int:
    return r.choice([NOW_MS + r.randint(5 * 60_000, 30 * 86_400_000), r.randint(1, MAX48)])


def _trade_settings(r: random.Random) -> dict[str, Any]:
    """Integrator fields or self-trade settings (never both, as the venue requires), often neither."""
    roll = r.random()
    if roll < 0.25:
        return {"integrator_account_index": r.randint(1, MAX48 - 1), "integrator_taker_fee": r.randint(0, 1_000_000),
                "integrator_maker_fee": r.randint(0, 1_000_000)}
    if roll < 0.5:
        stb = r.randint(0, 3)
        ste = 0 if stb == 3 else r.randint(0, 1)
        return {"self_trade_behavior": SelfTradeBehavior(stb), "self_trade_equality": SelfTradeEquality(ste)}
    return {}


def random_order(r: random.Random, *, market: int | None = None, grouped: bool = False) -> OrderRequest:
    kind = r.choice([OrderType.LIMIT, OrderType.LIMIT, OrderType.MARKET, OrderType.STOP_LOSS,
                     OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT, OrderType.TWAP])
    if grouped and kind == OrderType.TWAP:
        kind = OrderType.LIMIT
    perps_only = kind not in (OrderType.LIMIT, OrderType.MARKET, OrderType.TWAP)
    m = market if market is not None else _market(r, perps_only)
    spot = m >= 2048
    tif, trigger, expiry = TimeInForce.GOOD_TILL_TIME, 0, _expiry(r)
    if kind == OrderType.LIMIT:
        tif = r.choice(list(TimeInForce))
        expiry = 0 if tif == TimeInForce.IMMEDIATE_OR_CANCEL else expiry
    elif kind == OrderType.MARKET:
        tif, expiry = TimeInForce.IMMEDIATE_OR_CANCEL, 0
    elif kind in (OrderType.STOP_LOSS, OrderType.TAKE_PROFIT):
        tif, trigger = TimeInForce.IMMEDIATE_OR_CANCEL, r.randint(1, (1 << 32) - 1)
    elif kind in (OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT):
        tif, trigger = r.choice(list(TimeInForce)), r.randint(1, (1 << 32) - 1)
    reduce_only = (not spot) and r.random() < 0.3
    base = 0 if reduce_only and r.random() < 0.2 else r.randint(1, MAX48)
    settings = {} if grouped else _trade_settings(r)
    return OrderRequest(m, r.choice([0, r.randint(1, MAX48)]), base, r.randint(1, (1 << 32) - 1), r.random() < 0.5,
                        kind, tif, reduce_only, trigger, expiry, **settings)


def random_cancel(r: random.Random) -> CancelRequest:
    return CancelRequest(_market(r), r.choice([r.randint(1, MAX48), r.randint(MAX48 + 1, (1 << 60) - 1)]))


def random_cancel_all(r: random.Random) -> CancelAllRequest:
    tif = r.choice(list(CancelAllTimeInForce))
    time_ms = NOW_MS + r.randint(5 * 60_000, 15 * 86_400_000) if tif == CancelAllTimeInForce.SCHEDULED else 0
    market = r.choice([None, _market(r)]) if tif == CancelAllTimeInForce.IMMEDIATE else None
    return CancelAllRequest(tif, time_ms, market)


def random_modify(r: random.Random) -> ModifyRequest:
    idx = r.choice([r.randint(1, MAX48), r.randint(MAX48 + 1, (1 << 60) - 1)])
    trigger = r.choice([0, r.randint(1, (1 << 32) - 1)])
    version = r.choice([0, 0, r.randint(1, 1 << 40)])
    return ModifyRequest(_market(r), idx, r.randint(0, MAX48), r.randint(1, (1 << 32) - 1), trigger,
                         order_version=version, **_trade_settings(r))


def random_group(r: random.Random) -> GroupedOrdersRequest:
    market = r.randint(0, 254)
    grouping = r.choice(list(GroupingType))
    exp = _expiry(r)
    if r.random() < 0.5:
        entry = OrderRequest.limit(market, r.randint(1, MAX48), r.randint(1, MAX48), r.randint(2, 1 << 30),
                                   r.random() < 0.5, expiry_ms=exp)
    else:
        entry = OrderRequest.market(market, r.randint(1, MAX48), r.randint(1, MAX48), r.randint(2, 1 << 30),
                                    r.random() < 0.5)
    tp_type, sl_type = r.choice([(OrderType.TAKE_PROFIT_LIMIT, OrderType.STOP_LOSS_LIMIT),
                                 (OrderType.TAKE_PROFIT, OrderType.STOP_LOSS)])
    tif = TimeInForce.IMMEDIATE_OR_CANCEL if tp_type == OrderType.TAKE_PROFIT else TimeInForce.GOOD_TILL_TIME
    tp = OrderRequest(market, 0, 0, r.randint(1, 1 << 31), not entry.is_ask, tp_type, tif, True,
                      r.randint(1, 1 << 31), exp)
    sl = OrderRequest(market, 0, 0, r.randint(1, 1 << 31), not entry.is_ask, sl_type, tif, True,
                      r.randint(1, 1 << 31), exp)
    orders = {GroupingType.ONE_TRIGGERS_THE_OTHER: (entry, tp), GroupingType.ONE_CANCELS_THE_OTHER: (tp, sl),
              GroupingType.ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER: (entry, tp, sl)}[grouping]
    return GroupedOrdersRequest(grouping, orders, **_trade_settings(r))


GENERATORS: dict[str, Callable[[random.Random], TxRequest]] = {
    "create_order": random_order,
    "cancel_order": random_cancel,
    "cancel_all_orders": random_cancel_all,
    "modify_order": random_modify,
    "create_grouped_orders": random_group,
}


# --- checks ---------------------------------------------------------------------------------------------


def _tampered(tx_info: str, r: random.Random) -> str:
    """The same tx_info with one integer field (or attribute, or order field) moved by one."""
    doc = json.loads(tx_info)
    slots: list[tuple[dict[str, Any], str]] = [(doc, k) for k, v in doc.items() if isinstance(v, int)]
    for order in doc.get("Orders", []):
        slots += [(order, k) for k in order]
    if doc.get("L2TxAttributes"):
        slots += [(doc["L2TxAttributes"], k) for k in doc["L2TxAttributes"]]
    target, key = r.choice(slots)
    target[key] = target[key] + 1 if target[key] < 2 or r.random() < 0.5 else target[key] - 1
    return json.dumps(doc, separators=(",", ":"))


def _flip_sig(tx_info: str, r: random.Random) -> str:
    import base64

    doc = json.loads(tx_info)
    sig = bytearray(base64.b64decode(doc["Sig"]))
    sig[r.randrange(80)] ^= 1 << r.randrange(8)
    doc["Sig"] = base64.b64encode(bytes(sig)).decode()
    return json.dumps(doc, separators=(",", ":"))


def _check_pair(go: LighterSigner, native: LighterSigner, pub: str, other_pub: str, req: TxRequest, nonce: int,
                r: random.Random, counts: dict[str, int]) -> None:
    try:
        g = go.sign_sync(req, nonce=nonce)
    except LighterSignerError as go_err:
        with pytest.raises(LighterSignerError):
            native._sign_native(req, nonce)
        counts["both_refused"] += 1
        del go_err
        return
    # Go's signature under the native verifier, over the native hash
    ok, reason, tx_hash = _core.lighter_verify_tx(g.tx_type, g.tx_info, CHAIN_ID, pub)
    assert ok, (reason, g.tx_info)
    assert tx_hash == g.tx_hash
    # native signature of the same tx (same ExpiredAt; order expiries are explicit here)
    go_doc = json.loads(g.tx_info)
    n = native._sign_native(req, nonce, expired_at=go_doc["ExpiredAt"])
    n_doc = json.loads(n.tx_info)
    assert n.tx_type == g.tx_type and n.tx_hash == g.tx_hash and n.nonce == g.nonce
    assert list(n_doc) == list(go_doc)
    assert n_doc.pop("Sig") != go_doc.pop("Sig")
    assert n_doc == go_doc
    assert _core.lighter_verify_tx(n.tx_type, n.tx_info, CHAIN_ID, pub)[0]
    # anything changed fails
    for bad in (_tampered(n.tx_info, r), _tampered(g.tx_info, r), _flip_sig(n.tx_info, r)):
        ok, reason, _ = _core.lighter_verify_tx(n.tx_type, bad, CHAIN_ID, pub)
        assert not ok and reason is not None, bad
    assert _core.lighter_verify_tx(n.tx_type, n.tx_info, CHAIN_ID, other_pub)[1] == "invalid signature"
    assert _core.lighter_verify_tx(n.tx_type, n.tx_info, CHAIN_ID + 1, pub)[1] == "invalid signature"
    counts["checked"] += 1


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_random_transactions_cross_check(kind: str, go: LighterSigner, native: LighterSigner,
                                         keys: tuple[str, str], rng: random.Random) -> None:
    pub = keys[1]
    other_pub = generate_api_key()[1]
    counts = {"checked": 0, "both_refused": 0}
    gen = GENERATORS[kind]
    try:
        for i in range(N):
            _check_pair(go, native, pub, other_pub, gen(rng), rng.randint(0, (1 << 48) - 1) if i % 2 else i,
                        rng, counts)
    except AssertionError:
        print(f"replay with XTB_LIGHTER_XCHECK_SEED={SEED}")
        raise
    print(f"{kind}: {counts}")
    # the generators make valid requests: nearly all are signed by both and checked
    assert counts["checked"] >= N * 0.95


def test_public_keys_match_the_go_library() -> None:
    for _ in range(max(20, N // 10)):
        private, public = generate_api_key(backend="go")
        key = _core.LighterKey(private, chain_id=CHAIN_ID, account_index=ACCOUNT, api_key_index=API_KEY)
        assert "0x" + key.public_key_hex == public


def test_go_signatures_with_native_keys_verify(rng: random.Random) -> None:
    # Native key generation: the Go library accepts the key and signs; its signature verifies under the
    # native public key (so both derive the same public key from it).
    for i in range(max(10, N // 100)):
        private, public = generate_api_key()
        with LighterSigner(private, chain_id=CHAIN_ID, api_key_index=API_KEY, account_index=ACCOUNT + 1 + i,
                           backend="go", native=False) as go_signer:
            tx = go_signer.sign_sync(random_order(rng), nonce=i)
            assert _core.lighter_verify_tx(tx.tx_type, tx.tx_info, CHAIN_ID, public)[0]
            token = go_signer.create_auth_token_sync(ttl_s=600)
            assert _core.lighter_verify_auth_token(token.token, public)


def test_auth_tokens_cross_check(go: LighterSigner, native: LighterSigner, keys: tuple[str, str]) -> None:
    pub, other = keys[1], generate_api_key()[1]
    now = int(time.time())
    for i in range(max(50, N // 5)):
        deadline = now + 60 + i % 28_000
        g, n = go.create_auth_token_sync(deadline), native.create_auth_token_sync(deadline)
        prefix = f"{deadline}:{ACCOUNT}:{API_KEY}:"
        assert g.token.startswith(prefix) and n.token.startswith(prefix)
        assert len(g.token) == len(n.token) == len(prefix) + 160
        assert _core.lighter_verify_auth_token(g.token, pub)
        assert _core.lighter_verify_auth_token(n.token, pub)
        assert not _core.lighter_verify_auth_token(n.token, other)
        assert not _core.lighter_verify_auth_token(n.token.replace(prefix, f"{deadline + 1}:{ACCOUNT}:{API_KEY}:"), pub)


def test_default_expiries_match_the_go_library(go: LighterSigner, native: LighterSigner) -> None:
    # order expiry -1 (now + 28 days) and the tx deadline (now + 10 min - 1 s) are stamped from the clock
    order = OrderRequest.limit(1, 5, 10, 100, True)
    g, n = json.loads(go.sign_sync(order, nonce=1).tx_info), json.loads(native.sign_sync(order, nonce=1).tx_info)
    assert abs(g["OrderExpiry"] - n["OrderExpiry"]) < 2_000
    assert abs(g["ExpiredAt"] - n["ExpiredAt"]) < 2_000


def test_invalid_requests_are_refused_by_both(go: LighterSigner, native: LighterSigner) -> None:
    bad: list[TxRequest] = [
        OrderRequest(0, 1, 10, 100, False, OrderType.LIMIT, TimeInForce.GOOD_TILL_TIME, order_expiry=0),
        OrderRequest(0, 1, 10, 100, False, OrderType.MARKET, TimeInForce.GOOD_TILL_TIME, order_expiry=0),
        OrderRequest(0, 1, 10, 100, False, OrderType.MARKET, TimeInForce.IMMEDIATE_OR_CANCEL, order_expiry=5),
        OrderRequest(0, 1, 10, 0, False, OrderType.LIMIT, TimeInForce.IMMEDIATE_OR_CANCEL, order_expiry=0),
        OrderRequest(0, 1, 0, 10, False, OrderType.LIMIT, TimeInForce.IMMEDIATE_OR_CANCEL, order_expiry=0),
        OrderRequest(255, 1, 10, 10, False, OrderType.LIMIT, TimeInForce.IMMEDIATE_OR_CANCEL, False, 0, 0),
        OrderRequest(1, 1, 10, 10, False, OrderType.STOP_LOSS, TimeInForce.IMMEDIATE_OR_CANCEL, False, 0, 10),
        OrderRequest(1, 1, 10, 10, False, OrderType.TWAP, TimeInForce.IMMEDIATE_OR_CANCEL, False, 0, 10),
        GroupedOrdersRequest(GroupingType.ONE_CANCELS_THE_OTHER, (
            OrderRequest(1, 0, 0, 10, True, OrderType.TAKE_PROFIT_LIMIT, TimeInForce.GOOD_TILL_TIME, True, 5, 10),
            OrderRequest(1, 0, 0, 10, True, OrderType.TAKE_PROFIT_LIMIT, TimeInForce.GOOD_TILL_TIME, True, 5, 10))),
        GroupedOrdersRequest(GroupingType.ONE_TRIGGERS_THE_OTHER, (
            OrderRequest.limit(1, 0, 5, 10, False, expiry_ms=NOW_MS + 3_600_000),
            OrderRequest(1, 0, 0, 10, True, OrderType.TAKE_PROFIT_LIMIT, TimeInForce.GOOD_TILL_TIME, True, 5, 10))),
        OrderRequest(0, 1, 10, 10, False, OrderType.LIMIT, TimeInForce.IMMEDIATE_OR_CANCEL, False, 0, 0,
                     integrator_taker_fee=5),
        OrderRequest(0, 1, 10, 10, False, OrderType.LIMIT, TimeInForce.IMMEDIATE_OR_CANCEL, False, 0, 0,
                     SelfTradeBehavior.REDUCE, SelfTradeEquality.MASTER_ACCOUNT_INDEX),
        CancelAllRequest(CancelAllTimeInForce.IMMEDIATE, 5),
        CancelAllRequest(CancelAllTimeInForce.SCHEDULED, 0),
        CancelAllRequest(CancelAllTimeInForce.SCHEDULED, NOW_MS + 3_600_000, market_index=3),
        CancelRequest(255, 5),
        ModifyRequest(0, 5, 10, 0),
    ]
    for req in bad:
        with pytest.raises(LighterSignerError) as go_err:
            go.sign_sync(req, nonce=1)
        with pytest.raises(LighterSignerError) as native_err:
            native.sign_sync(req, nonce=1)
        assert go_err.value.operation == native_err.value.operation, req


def test_random_field_values_are_signed_or_refused_alike(go: LighterSigner, native: LighterSigner,
                                                         keys: tuple[str, str], rng: random.Random) -> None:
    # Any values the request types accept, valid or not for the venue: both sign (and agree) or both refuse.
    counts = {"checked": 0, "both_refused": 0}
    other_pub = generate_api_key()[1]
    r = rng
    for i in range(N):
        req: TxRequest
        if i % 2:
            req = OrderRequest(r.choice([0, 1, 255, 2048, 4094, r.randint(0, 4094)]),
                               r.choice([0, r.randint(0, MAX48)]),
                               r.choice([0, 1, r.randint(0, MAX48)]), r.choice([0, 1, r.randint(0, (1 << 32) - 1)]),
                               r.random() < 0.5, OrderType(r.randint(0, 6)), TimeInForce(r.randint(0, 2)),
                               r.random() < 0.5, r.choice([0, r.randint(0, (1 << 32) - 1)]),
                               r.choice([-1, 0, r.randint(0, MAX48)]))
        else:
            req = ModifyRequest(r.choice([0, 255, r.randint(0, 4094)]), r.randint(1, (1 << 60) - 1),
                                r.choice([0, r.randint(0, MAX48)]), r.choice([0, r.randint(0, (1 << 32) - 1)]),
                                r.choice([0, r.randint(0, (1 << 32) - 1)]))
        if isinstance(req, OrderRequest) and req.order_expiry == -1:
            continue  # stamped from the clock: covered by test_default_expiries_match_the_go_library
        _check_pair(go, native, keys[1], other_pub, req, i, r, counts)
    print(counts)
    assert counts["checked"] > 0 and counts["both_refused"] > 0
