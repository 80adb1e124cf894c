"""The GRVT simulator's sessions and order checks: orders signed by the connector's OrderBuilder pass; each
documented refusal comes with GRVT's code; a tampered, foreign or expired signature is refused; a repeated
payload + nonce is dropped as a duplicate."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb.core import GrvtSigner
from xtb.sim.grvt.auth import ApiKey, Auth, GrvtError, Instrument
from xtb.venues.grvt.orders import GrvtInstrument, OrderBuilder

KEY = "f7934647276a6e1fa0af3f4467b4b8ddaf45d25a7368fa1a295eef49a446819d"
OTHER = "11" * 32
SUB = 8289849667772468
NOW = 1_800_000_000 * 10**9
BTC = Instrument("BTC_USDT_Perp", "0x030501", 9, tick_1e9=10**8, min_size=10**6)  # tick 0.1, min size 0.001
INSTRUMENTS = {BTC.name: BTC}
SIGN_INST = GrvtInstrument(BTC.name, BTC.instrument_hash, BTC.base_decimals)


def setup(chain_id: int = 325) -> tuple[Auth, Any, OrderBuilder]:
    auth = Auth(chain_id=chain_id, session_ttl_ns=60 * 10**9)
    signer = GrvtSigner(KEY, chain_id)
    auth.register(ApiKey("key-1", "0xacc", signer.address, frozenset({SUB})))
    session = auth.login("key-1", NOW)
    return auth, session, OrderBuilder(signer, SUB)


def order(b: OrderBuilder, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"time_in_force": "GTT", "post_only": True, "expiration_ns": NOW + 60 * 10**9}
    args.update(kw)
    size = args.pop("size", 1_013_000_000)
    price = args.pop("price", 68_900_500_000_000)
    return b.order(SIGN_INST, 42, True, size, price, **args)


def code_of(auth: Auth, session: Any, o: Any) -> int:
    with pytest.raises(GrvtError) as e:
        auth.verify_order(session, o, INSTRUMENTS, NOW)
    assert e.value.body()["code"] == e.value.code
    return e.value.code


def refused(fn: Any, *args: Any) -> GrvtError:
    with pytest.raises(GrvtError) as e:
        fn(*args)
    return e.value


def test_sessions() -> None:
    auth, session, _ = setup()
    assert auth.session(session.token, "0xacc", NOW + 1) is session
    assert refused(auth.session, session.token, "0xother", NOW).code == 1001
    assert refused(auth.session, "nope", "0xacc", NOW).code == 1000
    assert refused(auth.login, "unknown-key", NOW).status == 401
    # expiry: the cookie stops working at its deadline; a fresh login works again
    e = refused(auth.session, session.token, "0xacc", session.expires_ns)
    assert (e.code, e.status) == (1000, 401)
    fresh = auth.login("key-1", NOW)
    auth.expire_sessions()
    assert refused(auth.session, fresh.token, "0xacc", NOW).code == 1000


def test_signed_orders_pass_and_duplicates_are_dropped() -> None:
    auth, session, b = setup()
    o = order(b)
    v = auth.verify_order(session, o, INSTRUMENTS, NOW)
    assert v is not None
    assert (v.size, v.price, v.is_buy, v.post_only, v.client_order_id, v.time_in_force) == (
        1_013_000_000, 68_900_500_000_000, True, True, 42, 1)
    assert auth.verify_order(session, o, INSTRUMENTS, NOW) is None  # same payload + nonce
    assert auth.verify_order(session, order(b), INSTRUMENTS, NOW) is not None  # a fresh nonce
    m = order(b, post_only=False, time_in_force="IOC", is_market=True, price=0)
    assert auth.verify_order(session, m, INSTRUMENTS, NOW) is not None


def test_testnet_chain() -> None:
    auth, session, b = setup(326)
    assert auth.verify_order(session, order(b), INSTRUMENTS, NOW) is not None
    mainnet = OrderBuilder(GrvtSigner(KEY, 325), SUB)
    o = order(mainnet)
    assert code_of(auth, session, o) == 1012  # signature.chain_id says 325
    del o["signature"]["chain_id"]
    assert code_of(auth, session, o) == 2002  # signed for another domain


def test_signature_refusals() -> None:
    auth, session, b = setup()
    tampered = order(b)
    tampered["legs"][0]["size"] = "2.0"
    assert code_of(auth, session, tampered) == 2002
    foreign = order(OrderBuilder(GrvtSigner(OTHER, 325), SUB))
    assert code_of(auth, session, foreign) == 2000
    assert code_of(auth, session, order(b, expiration_ns=NOW - 1)) == 2001
    assert code_of(auth, session, order(b, expiration_ns=NOW + 31 * 86400 * 10**9)) == 2001
    o = order(b)
    o["signature"]["v"] = 29
    assert code_of(auth, session, o) == 2005
    o = order(b)
    o["signature"]["r"] = "0x12"
    assert code_of(auth, session, o) == 2006
    o = order(b)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    o["signature"]["s"] = "0x" + format(n - int(o["signature"]["s"], 16), "064x")
    assert code_of(auth, session, o) == 2007
    other_sub = OrderBuilder(GrvtSigner(KEY, 325), SUB + 1)
    assert code_of(auth, session, order(other_sub)) == 2003


@pytest.mark.parametrize(("change", "code"), [
    ({"order_id": "0x1234"}, 2010),
    ({"metadata": {}}, 2011),
    ({"legs": []}, 2042),
    ({"time_in_force": "ALL_OR_NONE"}, 2030),
    ({"time_in_force": "IMMEDIATE_OR_CANCEL"}, 2032),
    ({"legs": [{"instrument": "DOGE_USDT_Perp", "size": "1", "limit_price": "1", "is_buying_asset": True}]}, 2061),
    ({"legs": [{"instrument": "BTC_USDT_Perp", "size": "0.0001", "limit_price": "1", "is_buying_asset": True}]}, 2062),
    ({"legs": [{"instrument": "BTC_USDT_Perp", "size": "0.0015", "limit_price": "1", "is_buying_asset": True}]}, 2065),
    ({"legs": [{"instrument": "BTC_USDT_Perp", "size": "1", "limit_price": "1.05", "is_buying_asset": True}]}, 2064),
    ({"legs": [{"instrument": "BTC_USDT_Perp", "size": "1", "is_buying_asset": True}]}, 2021),
    ({"is_market": True}, 2020),
    ({"legs": [{"instrument": "BTC_USDT_Perp", "size": "x", "limit_price": "1", "is_buying_asset": True}]}, 1003),
])
def test_order_shape_refusals(change: dict[str, Any], code: int) -> None:
    auth, session, b = setup()
    assert code_of(auth, session, {**order(b), **change}) == code


def test_an_order_signed_and_serialised_by_grvt_pysdk_passes() -> None:
    """The official SDK's own signing and JSON encoding (its REST client sends exactly this body)."""
    raw_signing = pytest.importorskip("pysdk.grvt_raw_signing", reason="grvt-pysdk is not installed")
    import json
    from types import SimpleNamespace

    from eth_account import Account
    from pysdk.grvt_raw_base import DataclassJSONEncoder, GrvtApiConfig, GrvtEnv
    from pysdk.grvt_raw_types import Order, OrderLeg, OrderMetadata, Signature, TimeInForce

    auth, session, _ = setup()
    sdk_order = Order(
        sub_account_id=str(SUB),
        time_in_force=TimeInForce.GOOD_TILL_TIME,
        legs=[OrderLeg("BTC_USDT_Perp", "1.013", True, "68900.5")],
        signature=Signature("", "", "", 0, str(NOW + 60 * 10**9), 828700936),
        metadata=OrderMetadata(client_order_id="77"),
        is_market=False, post_only=True, reduce_only=False,
    )
    config = GrvtApiConfig(env=GrvtEnv.PROD, trading_account_id="0xacc", private_key=KEY, api_key="key-1",
                           logger=None)
    instruments = {BTC.name: SimpleNamespace(instrument_hash=BTC.instrument_hash, base_decimals=9)}
    signed = raw_signing.sign_order(sdk_order, config, Account.from_key(KEY), instruments)
    wire = json.loads(json.dumps({"order": signed}, cls=DataclassJSONEncoder))["order"]
    v = auth.verify_order(session, wire, INSTRUMENTS, NOW)
    assert v is not None and (v.size, v.price, v.client_order_id) == (1_013_000_000, 68_900_500_000_000, 77)


_TAMPER = ("size", "price", "side", "tif", "post_only", "reduce_only", "nonce", "expiration")


@settings(max_examples=60, deadline=None)
@given(
    steps=st.integers(1, 10**6), ticks=st.integers(1, 10**8),
    tif=st.sampled_from(["GTT", "IOC", "FOK"]), post_only=st.booleans(), reduce_only=st.booleans(),
    cid=st.integers(0, 2**64 - 1), nonce=st.integers(0, 2**32 - 1), life_s=st.integers(1, 29 * 86400),
    tamper=st.sampled_from(_TAMPER),
)  # fmt: skip
def test_property_signed_orders_verify_and_any_tampering_is_refused(
    steps: int, ticks: int, tif: str, post_only: bool, reduce_only: bool, cid: int, nonce: int,
    life_s: int, tamper: str,
) -> None:  # fmt: skip
    """Every well-formed signed order verifies to exactly the integers signed; changing any signed field
    afterwards is refused (2002: the recovered signer no longer matches), never accepted."""
    post_only = post_only and tif == "GTT"  # post-only needs GTT (2032)
    auth, session, b = setup()
    size, price = steps * BTC.min_size, ticks * BTC.tick_1e9
    o = order(b, size=size, price=price, time_in_force=tif, post_only=post_only, reduce_only=reduce_only,
              nonce=nonce, expiration_ns=NOW + life_s * 10**9)  # fmt: skip
    o["metadata"]["client_order_id"] = str(cid)
    v = auth.verify_order(session, o, INSTRUMENTS, NOW)
    assert v is not None
    assert (v.size, v.price, v.is_buy, v.post_only, v.reduce_only, v.client_order_id, v.nonce) == (
        size, price, True, post_only, reduce_only, cid, nonce)
    leg = o["legs"][0]
    if tamper == "size":
        leg["size"] = str(Decimal(leg["size"]) + Decimal(BTC.min_size).scaleb(-9))
    elif tamper == "price":
        leg["limit_price"] = str(Decimal(leg["limit_price"]) + Decimal(BTC.tick_1e9).scaleb(-9))
    elif tamper == "side":
        leg["is_buying_asset"] = not leg["is_buying_asset"]
    elif tamper == "tif":
        o["time_in_force"] = "IMMEDIATE_OR_CANCEL" if o["time_in_force"] != "IMMEDIATE_OR_CANCEL" else "FILL_OR_KILL"
        o["post_only"] = False  # post-only needs GTT; a post-only order changes in two signed fields here
    elif tamper == "post_only":
        o["post_only"] = not o["post_only"]
        o["time_in_force"] = "GOOD_TILL_TIME"
    elif tamper == "reduce_only":
        o["reduce_only"] = not o["reduce_only"]
    elif tamper == "nonce":
        o["signature"]["nonce"] = (nonce + 1) % 2**32
    else:
        o["signature"]["expiration"] = str(int(o["signature"]["expiration"]) - 1)
    assert code_of(auth, session, o) == 2002
