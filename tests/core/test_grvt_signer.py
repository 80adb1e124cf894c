"""The core's GRVT order signer: the official SDK's test vector, byte equality with grvt-pysdk's sign_order for
random keys and orders, recovery to the key's address (checked with eth-account), batch signing, bad input."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb.core import GrvtSigner, grvt_order_digest, grvt_recover_signer

try:  # imported here, not inside the hypothesis test: importing it raises the recursion limit
    import pysdk.grvt_raw_signing as raw_signing
except ImportError:  # pragma: no cover - the dev extra installs it
    raw_signing = None

VECTOR_KEY = "f7934647276a6e1fa0af3f4467b4b8ddaf45d25a7368fa1a295eef49a446819d"
VECTOR_ORDER = {
    "sub_account_id": 8289849667772468,
    "time_in_force": 1,
    "is_market": False,
    "post_only": False,
    "reduce_only": False,
    "legs": [("0x030501", 1_013_000_000, 68_900_500_000_000, False)],
    "nonce": 828700936,
    "expiration": 1730800479321350000,
}


def test_sdk_test_vector_testnet() -> None:
    s = GrvtSigner(VECTOR_KEY, 326)
    assert s.address == "0xE10eC9Bb1eE30Af8bE35B32B163E7458a07aD987"
    assert s.chain_id == 326
    assert s.sign_order(VECTOR_ORDER) == (
        "0xb00512d986a718b15136a8ba23de1c1ec84bbdb9958629cbbe4909bae620bb04",
        "0x79f706de61c68cc14d7734594b5d8689df2b2a7b25951f9a3f61d799f4327ffc",
        28,
    )


def test_key_never_leaks_and_bad_input_names_the_field() -> None:
    s = GrvtSigner("0x" + VECTOR_KEY)
    assert s.chain_id == 325
    assert VECTOR_KEY[:12] not in repr(s) and s.address in repr(s)
    for bad in ("", "12", "zz" * 32, "00" * 32):
        with pytest.raises(ValueError, match="private key") as e:
            GrvtSigner(bad)
        assert "zzzz" not in str(e.value)
    for field, value, msg in [
        ("nonce", 2**32, "nonce"),
        ("expiration", "soon", "expiration"),
        ("sub_account_id", -1, "sub_account_id"),
        ("time_in_force", 7, "time_in_force"),
        ("legs", [], "at least one leg"),
        ("legs", [("0xzz", 1, 1, True)], "asset id"),
        ("legs", [("0x01", -1, 1, True)], r"legs\[0\]"),
    ]:
        with pytest.raises((ValueError, TypeError), match=msg):
            s.sign_order({**VECTOR_ORDER, field: value})
    with pytest.raises(ValueError, match="missing field \"nonce\""):
        s.sign_order({k: v for k, v in VECTOR_ORDER.items() if k != "nonce"})
    with pytest.raises(TypeError, match="orders"):
        s.sign_orders("not a list")  # type: ignore[arg-type]


def test_nonces_are_fresh() -> None:
    s = GrvtSigner(VECTOR_KEY)
    seen = {s.next_nonce() for _ in range(1000)}
    assert len(seen) == 1000 and all(0 <= n < 2**32 for n in seen)


def test_batch_equals_single_and_recovery() -> None:
    s = GrvtSigner(VECTOR_KEY, 325)
    orders = [{**VECTOR_ORDER, "nonce": n, "post_only": n % 2 == 0} for n in range(5)]
    sigs = s.sign_orders(orders)
    assert sigs == [s.sign_order(o) for o in orders]
    for n, (o, (r, sv, v)) in enumerate(zip(orders, sigs, strict=True)):
        assert grvt_recover_signer(325, o, r, sv, v) == s.address
        # another chain id or another order recovers to some other address
        assert grvt_recover_signer(326, o, r, sv, v) != s.address
        assert grvt_recover_signer(325, {**o, "nonce": n + 1}, r, sv, v) != s.address
    r, sv, v = sigs[0]
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    high_s = "0x" + format(n - int(sv, 16), "064x")
    with pytest.raises(ValueError, match="lower half"):
        grvt_recover_signer(325, orders[0], r, high_s, 55 - v)
    with pytest.raises(ValueError, match="v must be 27 or 28"):
        grvt_recover_signer(325, orders[0], r, sv, 30)
    with pytest.raises(ValueError, match=r"signature\.r"):
        grvt_recover_signer(325, orders[0], "0x12", sv, v)


keys = st.binary(min_size=32, max_size=32).filter(
    lambda b: 0 < int.from_bytes(b, "big") < 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
)
orders = st.fixed_dictionaries(
    {
        "sub_account_id": st.integers(0, 2**64 - 1),
        "time_in_force": st.sampled_from([1, 3, 4]),
        "is_market": st.booleans(),
        "post_only": st.booleans(),
        "reduce_only": st.booleans(),
        "base_decimals": st.integers(0, 9),
        "size_units": st.integers(1, 10**12),
        "price_units": st.integers(1, 10**15),
        "asset": st.integers(1, 2**64).map(lambda x: hex(x)),
        "is_buying": st.booleans(),
        "nonce": st.integers(0, 2**32 - 1),
        "expiration": st.integers(0, 2**62),
    }
)


@settings(max_examples=40, deadline=None)
@given(key=keys, o=orders, chain_id=st.sampled_from([325, 326]))
def test_signatures_equal_the_official_sdk(key: bytes, o: dict[str, Any], chain_id: int) -> None:
    """grvt-pysdk's own sign_order (eth-account underneath) for the same key and order, byte for byte."""
    if raw_signing is None:
        pytest.skip("grvt-pysdk is not installed")
    from eth_account import Account
    from pysdk.grvt_raw_base import GrvtApiConfig, GrvtEnv
    from pysdk.grvt_raw_types import Order, OrderLeg, OrderMetadata, Signature, TimeInForce

    tif = {1: TimeInForce.GOOD_TILL_TIME, 3: TimeInForce.IMMEDIATE_OR_CANCEL, 4: TimeInForce.FILL_OR_KILL}
    size = Decimal(o["size_units"]).scaleb(-o["base_decimals"])
    price = Decimal(o["price_units"]).scaleb(-9)
    sdk_order = Order(
        sub_account_id=o["sub_account_id"],  # the SDK's own tests pass an int
        time_in_force=tif[o["time_in_force"]],
        legs=[OrderLeg("BTC_USDT_Perp", str(size), o["is_buying"], str(price))],
        signature=Signature("", "", "", 0, o["expiration"], o["nonce"]),
        metadata=OrderMetadata(client_order_id="1"),
        is_market=o["is_market"],
        post_only=o["post_only"],
        reduce_only=o["reduce_only"],
    )
    env = {325: GrvtEnv.PROD, 326: GrvtEnv.TESTNET}[chain_id]
    account = Account.from_key(key)
    config = GrvtApiConfig(env=env, trading_account_id="1", private_key=key.hex(), api_key="k", logger=None)
    instruments = {"BTC_USDT_Perp": SimpleNamespace(instrument_hash=o["asset"], base_decimals=o["base_decimals"])}
    signed = raw_signing.sign_order(sdk_order, config, account, instruments)

    ours = GrvtSigner(key.hex(), chain_id)
    msg = {
        k: o[k]
        for k in ("sub_account_id", "time_in_force", "is_market", "post_only", "reduce_only", "nonce", "expiration")
    }
    msg["legs"] = [(o["asset"], o["size_units"], o["price_units"], o["is_buying"])]
    r, s, v = ours.sign_order(msg)
    assert (r, s, v) == (signed.signature.r, signed.signature.s, signed.signature.v)
    assert ours.address == signed.signature.signer == account.address
    # recoverable to the key's address, checked independently by eth-account
    digest = grvt_order_digest(chain_id, msg)
    assert Account._recover_hash(digest, vrs=(v, int(r, 16), int(s, 16))) == account.address
