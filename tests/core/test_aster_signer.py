"""The core's Aster V3 signer: the official demo API wallet (key -> documented address), signatures equal to
eth-account's for the same key and message (the official sample's procedure), address recovery both ways,
nonce rules, batch signing and bad input."""

from __future__ import annotations

import itertools
import threading
from urllib.parse import urlencode

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb.core import AsterSigner, aster_message_digest, aster_recover_signer, eth_address_of

# The V3 doc's demonstration credentials (public sample values): the signer is the key's address.
DEMO_KEY = "0x4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bae1"
DEMO_SIGNER = "0x21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0"
DEMO_USER = "0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e"
# The doc's order example as the official sample builds it: urlencode(params + nonce + signer).
DEMO_PARAMS = {"symbol": "ASTERUSDT", "type": "LIMIT", "side": "BUY", "timeInForce": "GTC", "quantity": "20",
               "price": "0.5", "nonce": "1748310859508867", "signer": DEMO_SIGNER}  # fmt: skip
DEMO_MSG = urlencode(DEMO_PARAMS)
# eth-account's signatures of DEMO_MSG (re-derived below, so a wrong constant cannot pass).
DEMO_SIG = {
    1666: "d82a6784f5eff00b95ecb88145cf7a5fa6803ea6f67e0217262073da628750a7"
          "42bb3ba555af418320e55029afe358957808d4f810d73ea663d9c91852cd6d941c",
    714: "798abbc1eb6244bdf530e3890383494679aecf574a0d65cd79ed48b151df2e18"
         "2cafc9a2b055701c9c0dbc091898f6c3eae29307ca554f3ab97c8b860de35bef1c",
}  # fmt: skip


def typed(msg: str, chain_id: int) -> dict[str, object]:
    return {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"},
                             {"name": "verifyingContract", "type": "address"}],
            "Message": [{"name": "msg", "type": "string"}],
        },
        "primaryType": "Message",
        "domain": {"name": "AsterSignTransaction", "version": "1", "chainId": chain_id,
                   "verifyingContract": "0x0000000000000000000000000000000000000000"},
        "message": {"msg": msg},
    }  # fmt: skip


def eth_sign(key: str, msg: str, chain_id: int) -> str:
    return Account.sign_message(encode_typed_data(full_message=typed(msg, chain_id)), private_key=key).signature.hex()


def test_demo_wallet_address_and_signatures() -> None:
    assert eth_address_of(DEMO_KEY) == DEMO_SIGNER
    assert DEMO_MSG.startswith("symbol=ASTERUSDT&type=LIMIT") and DEMO_MSG.endswith(f"&signer={DEMO_SIGNER}")
    for chain_id, want in DEMO_SIG.items():
        s = AsterSigner(DEMO_KEY, DEMO_USER, chain_id)
        assert s.address == DEMO_SIGNER and s.user == DEMO_USER and s.chain_id == chain_id
        assert eth_sign(DEMO_KEY, DEMO_MSG, chain_id).removeprefix("0x") == want
        assert s.sign_message(DEMO_MSG) == want
        assert aster_recover_signer(chain_id, DEMO_MSG, want) == DEMO_SIGNER
        assert aster_recover_signer(chain_id, DEMO_MSG, "0x" + want) == DEMO_SIGNER
        signable = encode_typed_data(full_message=typed(DEMO_MSG, chain_id))
        assert Account.recover_message(signable, signature=bytes.fromhex(want)) == DEMO_SIGNER
        assert aster_message_digest(chain_id, DEMO_MSG) == _hash_eip191_message(signable)


def test_signed_string_matches_the_official_procedure() -> None:
    s = AsterSigner(DEMO_KEY, DEMO_USER, 1666)
    params = {"symbol": "BTCUSDT", "side": "SELL", "batchOrders": '[{"a": "b c"}]', "reduceOnly": True}
    out = s.signed(params, nonce=1748310859508867)
    msg, sig = out.split("&signature=")
    want_msg = urlencode({**{k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()},
                          "nonce": 1748310859508867, "user": DEMO_USER, "signer": DEMO_SIGNER})  # fmt: skip
    assert msg == want_msg
    assert sig == eth_sign(DEMO_KEY, msg, 1666).removeprefix("0x")
    body = s.limit_order("BTCUSDT", "BUY", 1_000_005, 25, 1, 3, "GTX", True, "42", nonce=7).decode()
    msg, sig = body.split("&signature=")
    assert msg == ("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTX&quantity=0.025&price=100000.5"
                   f"&reduceOnly=true&newClientOrderId=42&nonce=7&user={DEMO_USER}&signer={DEMO_SIGNER}")
    assert aster_recover_signer(1666, msg, sig) == DEMO_SIGNER


def test_options_user_and_prefix() -> None:
    s = AsterSigner(DEMO_KEY, DEMO_USER.lower(), 714, include_user=False, signature_0x=True)
    assert s.user == DEMO_USER  # checksummed
    out = s.signed({"symbol": "X"}, nonce=3)
    assert out.startswith(f"symbol=X&nonce=3&signer={DEMO_SIGNER}&signature=0x")
    msg, sig = out.split("&signature=")
    assert aster_recover_signer(714, msg, sig) == DEMO_SIGNER


@settings(max_examples=25, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), values=st.lists(st.text(max_size=12), min_size=1, max_size=4),
       chain_id=st.sampled_from([1666, 714]))  # fmt: skip
def test_equal_to_eth_account_for_random_keys_and_messages(key: bytes, values: list[str], chain_id: int) -> None:
    hexkey = key.hex()
    try:
        s = AsterSigner(hexkey, DEMO_USER, chain_id)
    except ValueError:
        return  # zero or >= the curve order: not a key
    acct = Account.from_key(key)
    assert s.address == acct.address
    params = [(f"p{i}", v) for i, v in enumerate(values)]
    out = s.signed(params, nonce=1)
    msg, sig = out.split("&signature=")
    assert msg == urlencode([*params, ("nonce", "1"), ("user", DEMO_USER), ("signer", acct.address)])
    assert sig == eth_sign("0x" + hexkey, msg, chain_id).removeprefix("0x")
    assert aster_recover_signer(chain_id, msg, sig) == acct.address


def test_nonces_are_microseconds_unique_and_monotonic_across_threads() -> None:
    import time

    s = AsterSigner(DEMO_KEY, DEMO_USER)
    before = time.time_ns() // 1000
    got: list[list[int]] = [[] for _ in range(4)]

    def take(i: int) -> None:
        got[i].extend(s.next_nonce() for _ in range(2000))

    threads = [threading.Thread(target=take, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [n for part in got for n in part]
    assert len(set(flat)) == len(flat)
    assert all(a < b for part in got for a, b in itertools.pairwise(part))
    assert before <= min(flat) and max(flat) < time.time_ns() // 1000 + 1_000_000
    assert s.last_nonce == max(flat)
    # the server clock offset moves nonces; a persisted floor keeps a restart above the old ones
    s.time_offset_ms = 5_000
    assert s.next_nonce() >= time.time_ns() // 1000 + 4_000_000
    far = 2**62
    assert AsterSigner(DEMO_KEY, DEMO_USER, min_nonce=far).next_nonce() == far + 1


def test_batch_signing_gives_each_request_its_own_nonce() -> None:
    s = AsterSigner(DEMO_KEY, DEMO_USER)
    outs = s.signed_many([{"symbol": "A"}, [("symbol", "B")], {"symbol": "C", "n": 3}])
    nonces = []
    for out, sym in zip(outs, "ABC", strict=True):
        msg, sig = out.split("&signature=")
        assert msg.startswith(f"symbol={sym}&")
        assert aster_recover_signer(1666, msg, sig) == DEMO_SIGNER
        nonces.append(int(msg.split("nonce=")[1].split("&")[0]))
    assert nonces == sorted(set(nonces))


def test_bad_input_is_refused_clearly_and_never_shows_the_key() -> None:
    for bad in ("", "12", "zz" * 32, "00" * 32):
        with pytest.raises(ValueError, match="private key") as e:
            AsterSigner(bad, DEMO_USER)
        assert "zzzz" not in str(e.value)
    with pytest.raises(ValueError, match="user address"):
        AsterSigner(DEMO_KEY, "0x1234")
    s = AsterSigner(DEMO_KEY, DEMO_USER)
    assert DEMO_KEY[6:20] not in repr(s) and DEMO_SIGNER in repr(s)
    with pytest.raises(ValueError, match="nonce"):
        s.signed({"nonce": 1})
    with pytest.raises(ValueError, match="signature"):
        s.signed({"signature": "x"})
    with pytest.raises(TypeError, match="params"):
        s.signed({"x": 1.5})
    with pytest.raises(ValueError, match="side"):
        s.limit_order("BTCUSDT", "LONG", 1, 1, 1, 1)
    with pytest.raises(ValueError, match="invalid signature"):
        aster_recover_signer(1666, DEMO_MSG, "00" * 10)
    # a tampered message recovers someone else
    assert aster_recover_signer(1666, DEMO_MSG + "&x=1", DEMO_SIG[1666]) != DEMO_SIGNER
