"""BackpackSigner: the docs' worked examples byte for byte, PyNaCl equality, request builders, bad input."""

from __future__ import annotations

import base64

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from xtb._core import BackpackSigner

# backpack.md section 2.7: seed bytes 0x01..0x20.
SECRET = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
API_KEY = "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ="
TS = 1750793021519


def nacl_sign(secret_b64: str, message: str) -> str:
    key = SigningKey(base64.b64decode(secret_b64))
    return base64.b64encode(key.sign(message.encode()).signature).decode()


def reference_string(segments: list[tuple[str, dict[str, object]]], ts: int, window: int) -> str:
    """The venue's algorithm written plainly in Python (backpack.md 2.3 / 2.4)."""

    def text(v: object) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    parts = []
    for instruction, params in segments:
        items = "&".join(f"{k}={text(v)}" for k, v in sorted(params.items()) if v is not None)
        parts.append(f"instruction={instruction}" + (f"&{items}" if items else ""))
    return "&".join(parts) + f"&timestamp={ts}&window={window}"


@pytest.fixture
def signer() -> BackpackSigner:
    return BackpackSigner(SECRET)


# ---- the docs' worked examples (2.7)


def test_public_key(signer: BackpackSigner) -> None:
    assert signer.public_key_b64 == API_KEY


def test_example_1_cancel(signer: BackpackSigner) -> None:
    params = {"orderId": 28, "symbol": "BTC_USDT"}
    s = signer.signing_string("orderCancel", params, 1614550000000, 5000)
    assert s == "instruction=orderCancel&orderId=28&symbol=BTC_USDT&timestamp=1614550000000&window=5000"
    headers = signer.sign("orderCancel", params, 1614550000000, 5000)
    assert headers == {
        "X-API-Key": API_KEY,
        "X-Signature": "E7UijHVsR5NAdTGNA8aOPfAGdwe6Qu5oVcEJPNdG8Kx9HxV2pX+U3IsodvFn1MUHh0CuD+AhMMnJJvtPE"
        "at9DA==",
        "X-Timestamp": "1614550000000",
        "X-Window": "5000",
    }


BATCH = [
    {"symbol": "SOL_USDC_PERP", "side": "Bid", "orderType": "Limit", "price": "141", "quantity": "12"},
    {"symbol": "SOL_USDC_PERP", "side": "Bid", "orderType": "Limit", "price": "140", "quantity": "11"},
]


def test_example_2_batch(signer: BackpackSigner) -> None:
    assert signer.batch_signing_string(BATCH, TS, 5000) == (
        "instruction=orderExecute&orderType=Limit&price=141&quantity=12&side=Bid&symbol=SOL_USDC_PERP"
        "&instruction=orderExecute&orderType=Limit&price=140&quantity=11&side=Bid&symbol=SOL_USDC_PERP"
        "&timestamp=1750793021519&window=5000"
    )
    headers = signer.sign_batch(BATCH, TS, 5000)
    assert headers["X-Signature"] == (
        "dossw5xxpYslAw1BgSEqBEom/n5ESR5aNNX5Q4It1+gMA6tNL6YkDT7eVy2jILl0/i/DDDJQlEYYT8vaCyakCg=="
    )


SINGLE = {"symbol": "SOL_USDC_PERP", "side": "Bid", "orderType": "Limit", "price": "141", "quantity": "12",
          "postOnly": True, "clientId": 42, "timeInForce": "GTC"}


def test_example_3_single_order_with_bool_and_int(signer: BackpackSigner) -> None:
    assert signer.signing_string("orderExecute", SINGLE, TS, 5000) == (
        "instruction=orderExecute&clientId=42&orderType=Limit&postOnly=true&price=141&quantity=12&side=Bid"
        "&symbol=SOL_USDC_PERP&timeInForce=GTC&timestamp=1750793021519&window=5000"
    )
    assert signer.sign("orderExecute", SINGLE, TS, 5000)["X-Signature"] == (
        "JpLusJCQp4VT+TJ35Xi7igJWt2V0QA6yaArIhB4QMUEej/a+MAH+JSb1AP0pEn3pIUi+jHQoLBqciEP/lpOsDQ=="
    )


def test_example_4_no_params(signer: BackpackSigner) -> None:
    assert signer.signing_string("balanceQuery", None, TS, 5000) == (
        "instruction=balanceQuery&timestamp=1750793021519&window=5000"
    )
    assert signer.sign("balanceQuery", {}, TS, 5000)["X-Signature"] == (
        "W302ikmg6UH6ISPnjHZbmef/YWmsUfEWl9nav+EMtqsLmWlZpfcjA7DPUWIeI8eQhgFPPJOy0wB4DS3puswnDg=="
    )


def test_example_5_subscribe(signer: BackpackSigner) -> None:
    assert signer.subscribe_signature(TS, 5000) == [
        API_KEY,
        "J0ESphheEEryXBb6x0mMX+9icsbyx2uSgVtAajlKI5YAAGAjmyc0Lq4qoyfcqIW+yygW0aKzq+Zn3/jVI3aCDw==",
        "1750793021519",
        "5000",
    ]


def test_subscribe_frame(signer: BackpackSigner) -> None:
    frame = orjson.loads(signer.subscribe_frame(["account.orderUpdate", "account.positionUpdate"], TS))
    assert frame == {
        "method": "SUBSCRIBE",
        "params": ["account.orderUpdate", "account.positionUpdate"],
        "signature": signer.subscribe_signature(TS, 5000),
    }
    with pytest.raises(ValueError, match="streams"):
        signer.subscribe_frame([], TS)


# ---- request builders: the body carries exactly the signed params


def test_order_request(signer: BackpackSigner) -> None:
    headers, body = signer.order(SINGLE, TS, 5000)
    assert orjson.loads(body) == SINGLE
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-Signature"] == signer.sign("orderExecute", orjson.loads(body), TS, 5000)["X-Signature"]


def test_batch_request(signer: BackpackSigner) -> None:
    headers, body = signer.orders(BATCH, TS, 5000)
    assert orjson.loads(body) == BATCH
    assert headers["X-Signature"].startswith("dossw5xx")
    with pytest.raises(ValueError, match="at least one"):
        signer.orders([], TS)


def test_cancel_and_cancel_all_requests(signer: BackpackSigner) -> None:
    headers, body = signer.cancel({"orderId": 28, "symbol": "BTC_USDT"}, 1614550000000, 5000)
    assert body == b'{"orderId":28,"symbol":"BTC_USDT"}'
    assert headers["X-Signature"].startswith("E7UijHVs")
    headers, body = signer.cancel_all({"symbol": "SOL_USDC_PERP"}, TS, 5000)
    assert orjson.loads(body) == {"symbol": "SOL_USDC_PERP"}
    want = nacl_sign(SECRET, f"instruction=orderCancelAll&symbol=SOL_USDC_PERP&timestamp={TS}&window=5000")
    assert headers["X-Signature"] == want


def test_query_request(signer: BackpackSigner) -> None:
    headers, url = signer.query("/api/v1/orders", {"symbol": "SOL_USDC_PERP", "marketType": "PERP"}, TS, 5000)
    assert url == "/api/v1/orders?marketType=PERP&symbol=SOL_USDC_PERP"
    want = nacl_sign(SECRET, f"instruction=orderQueryAll&marketType=PERP&symbol=SOL_USDC_PERP&timestamp={TS}"
                             "&window=5000")
    assert headers["X-Signature"] == want and "Content-Type" not in headers
    _, url = signer.query("/api/v1/capital", None, TS)
    assert url == "/api/v1/capital"
    with pytest.raises(ValueError, match="path"):
        signer.query("/api/v1/nope", None, TS)


def test_broker_id_header_and_default_timestamp() -> None:
    s = BackpackSigner(SECRET, broker_id=1500)
    headers = s.sign("orderExecute", SINGLE)
    assert headers["X-Broker-Id"] == "1500" and s.broker_id == 1500
    assert headers["X-Window"] == "5000" and int(headers["X-Timestamp"]) > 1_700_000_000_000


def test_none_values_are_left_out_of_signature_and_body(signer: BackpackSigner) -> None:
    headers, body = signer.order({**SINGLE, "reduceOnly": None}, TS, 5000)
    assert orjson.loads(body) == SINGLE
    assert headers["X-Signature"] == signer.sign("orderExecute", SINGLE, TS, 5000)["X-Signature"]


# ---- bad input: clear errors, the secret never shown

SECRETISH = "c2VjcmV0LXNlY3JldC1zZWNyZXQ="  # base64, 20 bytes


@pytest.mark.parametrize("bad", ["not base64 !!", SECRETISH, "", base64.b64encode(bytes(64)).decode()])
def test_bad_secret_is_value_error_without_the_secret(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid Backpack secret") as info:
        BackpackSigner(bad)
    if bad:
        assert bad not in str(info.value)


def test_repr_never_shows_the_secret(signer: BackpackSigner) -> None:
    assert SECRET not in repr(signer) and API_KEY in repr(signer)


def test_64_byte_seed_and_public_key_secret_is_accepted() -> None:
    full = base64.b64encode(base64.b64decode(SECRET) + base64.b64decode(API_KEY)).decode()
    assert BackpackSigner(full).public_key_b64 == API_KEY


def test_bad_params(signer: BackpackSigner) -> None:
    with pytest.raises(TypeError, match="price"):
        signer.sign("orderExecute", {"price": 141.5}, TS)
    with pytest.raises(TypeError, match="dict"):
        signer.sign("orderExecute", [("price", "1")], TS)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"orders\[1\]"):
        signer.sign_batch([SINGLE, "x"], TS)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="window_ms"):
        signer.sign("orderExecute", SINGLE, TS, 60_001)
    with pytest.raises(ValueError, match="window_ms"):
        signer.sign("orderExecute", SINGLE, TS, 0)


# ---- equal to PyNaCl for any seed and params (ED25519 is deterministic)

key_st = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=12)
value_st = st.one_of(
    st.booleans(),
    st.integers(min_value=0, max_value=2**48),
    st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False).map(str),
    st.sampled_from(["Bid", "Ask", "Limit", "GTC", "SOL_USDC_PERP"]),
)
params_st = st.dictionaries(key_st, value_st, max_size=10)


@settings(max_examples=150, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), params=params_st, ts=st.integers(0, 2**45),
       window=st.integers(1, 60_000))
def test_single_matches_pynacl(seed: bytes, params: dict[str, object], ts: int, window: int) -> None:
    secret = base64.b64encode(seed).decode()
    s = BackpackSigner(secret)
    want = reference_string([("orderExecute", params)], ts, window)
    assert s.signing_string("orderExecute", params, ts, window) == want
    headers, body = s.order(params, ts, window)
    assert headers["X-Signature"] == nacl_sign(secret, want)
    assert headers["X-API-Key"] == base64.b64encode(bytes(SigningKey(seed).verify_key)).decode()
    assert orjson.loads(body) == params


@settings(max_examples=60, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), orders=st.lists(params_st, min_size=1, max_size=6),
       ts=st.integers(0, 2**45))
def test_batch_and_subscribe_match_pynacl(seed: bytes, orders: list[dict[str, object]], ts: int) -> None:
    secret = base64.b64encode(seed).decode()
    s = BackpackSigner(secret)
    want = reference_string([("orderExecute", o) for o in orders], ts, 5000)
    assert s.batch_signing_string(orders, ts) == want
    headers, body = s.orders(orders, ts)
    assert headers["X-Signature"] == nacl_sign(secret, want)
    assert orjson.loads(body) == orders
    sub = s.subscribe_signature(ts, 5000)
    assert sub[1] == nacl_sign(secret, f"instruction=subscribe&timestamp={ts}&window=5000")


# ---- limit_order: the gateway's one-call path equals `order` with the equivalent dict


@settings(max_examples=100, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), cid=st.integers(1, 2**32 - 1), bid=st.booleans(),
       px=st.integers(1, 10**12), sz=st.integers(1, 10**12), pd=st.integers(0, 8), sd=st.integers(0, 8),
       tif=st.sampled_from(["GTC", "IOC", "FOK"]), post_only=st.booleans(), reduce_only=st.booleans(),
       ts=st.integers(0, 2**45))
def test_limit_order_equals_order_dict(seed: bytes, cid: int, bid: bool, px: int, sz: int, pd: int, sd: int,
                                       tif: str, post_only: bool, reduce_only: bool, ts: int) -> None:
    from decimal import Decimal

    s = BackpackSigner(base64.b64encode(seed).decode())
    side = "Bid" if bid else "Ask"
    params: dict[str, object] = {
        "clientId": cid, "orderType": "Limit", "price": f"{Decimal(px).scaleb(-pd):.{pd}f}",
        "quantity": f"{Decimal(sz).scaleb(-sd):.{sd}f}", "side": side, "symbol": "SOL_USDC_PERP",
        "timeInForce": tif, "postOnly": True if post_only else None, "reduceOnly": True if reduce_only else None,
    }
    got = s.limit_order(cid, "SOL_USDC_PERP", side, px, sz, pd, sd, tif, post_only, reduce_only, ts, 5000)
    assert got == s.order(params, ts, 5000)
    want = reference_string([("orderExecute", params)], ts, 5000)
    assert got[0]["X-Signature"] == nacl_sign(base64.b64encode(seed).decode(), want)


def test_limit_order_bad_input(signer: BackpackSigner) -> None:
    args = dict(client_id=1, symbol="SOL_USDC_PERP", side="Bid", price=100, size=10, price_decimals=2,
                size_decimals=2)
    with pytest.raises(ValueError, match="side"):
        signer.limit_order(**{**args, "side": "bid"})
    with pytest.raises(ValueError, match="time_in_force"):
        signer.limit_order(**args, time_in_force="DAY")
    with pytest.raises(ValueError, match="positive"):
        signer.limit_order(**{**args, "price": 0})
    with pytest.raises(ValueError, match="price_decimals"):
        signer.limit_order(**{**args, "price_decimals": 40})
    with pytest.raises(OverflowError):
        signer.limit_order(**{**args, "client_id": 2**32})
    with pytest.raises(ValueError, match="window_ms"):
        signer.limit_order(**args, window_ms=0)
