"""The core's Binance USD-M HMAC signer: the venue's documented worked example byte for byte, the split
query/body rule, the order hot path against plain hmac + urlencode, the clock offset, and no secret in
reprs or errors."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xtb._core import BinanceSigner

API_KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
EXAMPLE = ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000"
           "&timestamp=1591702613943")  # fmt: skip
EXAMPLE_SIG = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


def signer(**kw: int) -> BinanceSigner:
    return BinanceSigner(API_KEY, SECRET, **kw)


def test_documented_example_byte_for_byte() -> None:
    s = signer()
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "9000",
              "timeInForce": "GTC"}  # fmt: skip
    assert s.signed(params, timestamp_ms=1591702613943) == f"{EXAMPLE}&signature={EXAMPLE_SIG}"
    assert s.sign(EXAMPLE) == EXAMPLE_SIG == s.sign(EXAMPLE.encode())
    assert s.headers == {"X-MBX-APIKEY": API_KEY}


def test_split_query_and_body_are_signed_concatenated() -> None:
    s = signer()
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = s.signed([("quantity", 1), ("price", "9000")], prefix=query, timestamp_ms=1591702613943)
    params, sig = body.split("&signature=")
    assert params == "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943"
    assert sig.startswith("30baaf0f") and sig.endswith("e670a4")


def test_limit_order_matches_plain_python() -> None:
    s = signer()
    body = s.limit_order("BTCUSDC", "SELL", 1_000_005, 1_500, 1, 3, "GTX", True, "42", timestamp_ms=7)
    text = ("symbol=BTCUSDC&side=SELL&type=LIMIT&timeInForce=GTX&quantity=1.500&price=100000.5"
            "&reduceOnly=true&newClientOrderId=42&recvWindow=5000&timestamp=7")  # fmt: skip
    want = hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
    assert body == f"{text}&signature={want}".encode()


@given(st.dictionaries(st.text("abcXYZ", min_size=1, max_size=8), st.text(max_size=20), max_size=5),
       st.integers(0, 2**45), st.integers(1, 60_000))  # fmt: skip
def test_any_params_sign_the_transmitted_string(params: dict[str, str], ts: int, window: int) -> None:
    s = signer()
    out = s.signed(params, timestamp_ms=ts, recv_window_ms=window)
    text, sig = out.rsplit("&signature=", 1)
    encoded = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params.items())
    assert text == (encoded + "&" if encoded else "") + f"recvWindow={window}&timestamp={ts}"
    assert sig == hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()


def test_clock_offset_and_sync() -> None:
    s = signer()
    assert s.sync_time(10_000, 1_000, 1_200) == 8_900
    assert s.time_offset_ms == 8_900
    s.time_offset_ms = -50
    assert s.time_offset_ms == -50
    with pytest.raises(ValueError, match="recv_local_ms"):
        s.sync_time(1, 10, 5)


def test_bad_input_named_and_secret_never_shown() -> None:
    with pytest.raises(ValueError, match="recv_window_ms"):
        BinanceSigner(API_KEY, SECRET, 60_001)
    with pytest.raises(ValueError, match="secret"):
        BinanceSigner(API_KEY, "")
    s = signer()
    with pytest.raises(ValueError, match="timestamp"):
        s.signed({"timestamp": "1"})
    with pytest.raises(TypeError, match="price"):
        s.signed({"price": 1.5})
    with pytest.raises(ValueError, match="side"):
        s.limit_order("BTCUSDC", "BID", 1, 1, 1, 3)
    text = repr(s)
    assert SECRET not in text and API_KEY not in text and "dbef" in text


def test_mark_price_frames_decoded_in_the_core() -> None:
    from xtb.core import BinanceMarkPrice, FeedError, decode_binance_mark_prices

    frame = (b'{"stream":"ethusdc@markPrice@1s","data":{"e":"markPriceUpdate","E":1562305380000,"s":"ETHUSDC",'
             b'"p":"3500.12345678","i":"3499.5","P":"3499.75","r":"-0.00012500","T":1562306400000}}')
    (m,) = decode_binance_mark_prices(frame)
    assert isinstance(m, BinanceMarkPrice)
    assert (m.venue, m.symbol, m.event_ms, m.next_funding_ms) == ("binance_usdm", "ETHUSDC", 1562305380000,
                                                                  1562306400000)  # fmt: skip
    assert (m.mark_px, m.index_px, m.settle_px, m.funding_rate, m.decimals) == (
        350_012_345_678, 349_950_000_000, 349_975_000_000, -12_500, 8)
    (a,) = decode_binance_mark_prices(frame, venue="aster", decimals=2)
    assert (a.venue, a.mark_px, a.funding_rate) == ("aster", 350_012, 0)
    with pytest.raises(FeedError, match="bad p") as err:
        decode_binance_mark_prices(frame.replace(b'"3500.12345678"', b'"3,500"'))
    assert err.value.reason.startswith("bad p") and err.value.venue == "binance_usdm"
    with pytest.raises(FeedError, match="not a markPriceUpdate"):
        decode_binance_mark_prices(b'{"e":"aggTrade","s":"ETHUSDC"}')
    with pytest.raises(ValueError, match="venue"):
        decode_binance_mark_prices(frame, venue="nope")
