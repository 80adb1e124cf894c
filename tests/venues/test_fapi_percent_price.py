"""The PERCENT_PRICE band of Binance USD-M and Aster (`/fapi` venues), offline: the band arithmetic against the
venue's rule (mark x multiplierDown <= price <= mark x multiplierUp), and the connector's order checks against
the band (property tests); the simulator tests are in test_binance_usdm_connector.py."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb.model.types import MarketInfo, OrderKind, OrderRequest, Side, TimeInForce
from xtb.venues.binance_usdm.config import BinanceConfig
from xtb.venues.binance_usdm.connector import BinanceConnector
from xtb.venues.binance_usdm.markets import percent_price_band

PPM = 1_000_000
MARK_DECIMALS = 8  # the core's mark prices (BinanceMarkPrice.decimals)


def market(price_decimals: int, tick: int, up_ppm: int | None, down_ppm: int | None) -> MarketInfo:
    extra = {k: v for k, v in (("percent_up_ppm", up_ppm), ("percent_down_ppm", down_ppm)) if v is not None}
    return MarketInfo(venue="binance_usdm", symbol="X", base="X", quote="USDT", price_decimals=price_decimals,
                      size_decimals=3, tick=tick, step=1, min_size=1, min_notional=0, extra=extra)


def accepted(price: int, m: MarketInfo, mark: int) -> bool:
    """The venue's rule, exactly (prices as fractions: price / 10^pd against mark / 10^8 x multiplier)."""
    p = price * 10**MARK_DECIMALS * PPM
    scale = 10**m.price_decimals
    up, down = m.extra.get("percent_up_ppm"), m.extra.get("percent_down_ppm")
    return (up is None or p <= mark * up * scale) and (down is None or p >= mark * down * scale)


@given(pd=st.integers(0, 8), tick=st.sampled_from([1, 2, 5, 10, 25, 100, 1000]),
       up=st.none() | st.integers(PPM, 2 * PPM), down=st.none() | st.integers(1, PPM),
       mark=st.integers(1, 10**16))
@settings(max_examples=400, deadline=None)
def test_the_band_is_the_widest_range_on_the_tick_the_venue_accepts(pd: int, tick: int, up: int | None,
                                                                     down: int | None, mark: int) -> None:
    m = market(pd, tick, up, down)
    band = percent_price_band(m, mark, MARK_DECIMALS)
    if up is None and down is None:
        assert band is None
        return
    assert band is not None
    lo, hi = band
    assert lo % tick == 0 and lo >= 0 and (hi % tick == 0 if up is not None else hi == 1 << 62)
    if lo <= hi:  # a band narrower than one tick can be empty on the grid
        assert accepted(lo, m, mark) and accepted(hi, m, mark)
    if up is not None:
        assert not accepted(hi + tick, m, mark)  # the next tick up is refused
    if down is not None and lo >= tick:
        assert not accepted(lo - tick, m, mark)  # the next tick down is refused


# ---- the connector's checks, offline (markets from an exchangeInfo reply, marks from markPriceUpdate frames)

INFO = {"symbols": [
    {"symbol": "BTCUSDT", "contractType": "PERPETUAL", "status": "TRADING", "marginAsset": "USDT",
     "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.10", "minPrice": "0.1", "maxPrice": "1000000"},
                 {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.001", "maxQty": "100"},
                 {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
                  "multiplierDecimal": "4"}]},
    {"symbol": "ETHUSDT", "contractType": "PERPETUAL", "status": "TRADING", "marginAsset": "USDT",
     "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.01", "minPrice": "0.01", "maxPrice": "100000"},
                 {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.001", "maxQty": "1000"}]},
]}  # fmt: skip


def offline_connector() -> BinanceConnector:
    conn = BinanceConnector(BinanceConfig.from_options({"symbols": ["BTCUSDT", "ETHUSDT"]}), "key", "secret")
    conn.load_markets(INFO)
    return conn


def feed_mark(conn: BinanceConnector, symbol: str, mark: str) -> None:
    """A markPriceUpdate frame through the connector's own mark path, as the /market socket delivers it."""
    frame = {"stream": f"{symbol.lower()}@markPrice@1s", "data": {
        "e": "markPriceUpdate", "E": 1_700_000_000_000, "s": symbol, "p": mark, "i": mark, "P": mark,
        "r": "0.00010000", "T": 1_700_003_600_000}}  # fmt: skip
    conn._on_mark_frame(orjson.dumps(frame))


def limit(cid: int, price: int, side: Side = Side.BID, symbol: str = "BTCUSDT", **kw: Any) -> OrderRequest:
    return OrderRequest(cid, symbol, side, 2, price=price, **kw)


def test_no_mark_yet_means_no_local_band_check() -> None:
    conn = offline_connector()
    assert conn.price_band("BTCUSDT") == (0, 1 << 62)
    conn.prepare_submit([limit(1, 9_000_000)])  # 900000.0: far above any band, still the venue's to judge


def test_an_order_outside_the_band_is_refused_by_name_before_signing() -> None:
    conn = offline_connector()
    feed_mark(conn, "BTCUSDT", "100000.00000000")
    assert conn.price_band("BTCUSDT") == (950_000, 1_050_000)  # 95000.0 .. 105000.0 in 0.1 units
    conn.prepare_submit([limit(1, 1_050_000)])  # the edges are in
    conn.prepare_submit([limit(2, 950_000, Side.ASK)])
    with pytest.raises(ValueError) as ei:
        conn.prepare_submit([limit(3, 1_050_001)])
    msg = str(ei.value)
    assert msg == ("price 1050001 is outside the venue's PERCENT_PRICE band [950000, 1050000] around the mark "
                   "price 1000000 (BTCUSDT)")
    with pytest.raises(ValueError, match="PERCENT_PRICE band"):
        conn.prepare_submit([limit(4, 949_999, Side.ASK)])
    # every path checks it: a batch, and the WebSocket API's params
    with pytest.raises(ValueError, match="PERCENT_PRICE band"):
        conn.prepare_submit([limit(5, 1_000_000), limit(6, 949_999)])
    with pytest.raises(ValueError, match="PERCENT_PRICE band"):
        conn._order_params(limit(7, 1_050_001))
    # a market without the filter has no band, whatever the mark
    feed_mark(conn, "ETHUSDT", "3000.00000000")
    conn.prepare_submit([limit(8, 900_000, symbol="ETHUSDT")])


def test_the_band_follows_the_latest_mark() -> None:
    conn = offline_connector()
    feed_mark(conn, "BTCUSDT", "100000.00000000")
    with pytest.raises(ValueError, match="PERCENT_PRICE"):
        conn.prepare_submit([limit(1, 1_100_000)])
    feed_mark(conn, "BTCUSDT", "110000.00000000")
    assert conn.price_band("BTCUSDT") == (1_045_000, 1_155_000)
    conn.prepare_submit([limit(2, 1_100_000)])


def test_a_market_orders_worst_price_is_clamped_to_the_band_edge() -> None:
    conn = offline_connector()
    feed_mark(conn, "BTCUSDT", "100000.00000000")
    buy = conn._order_params(OrderRequest(1, "BTCUSDT", Side.BID, 2, kind=OrderKind.MARKET, price=1_200_000,
                                          tif=TimeInForce.IOC, reduce_only=True))
    assert (buy["type"], buy["timeInForce"], buy["price"], buy["reduceOnly"]) == ("LIMIT", "IOC", "105000.0", "true")
    sell = conn._order_params(OrderRequest(2, "BTCUSDT", Side.ASK, 2, kind=OrderKind.MARKET, price=800_000,
                                           tif=TimeInForce.IOC))
    assert sell["price"] == "95000.0"
    # never more aggressive than asked: a buy whose worst price is below the band is refused, not raised
    with pytest.raises(ValueError, match="PERCENT_PRICE band"):
        conn._order_params(OrderRequest(3, "BTCUSDT", Side.BID, 2, kind=OrderKind.MARKET, price=900_000))
    # a limit order is never moved: refused
    with pytest.raises(ValueError, match="PERCENT_PRICE band"):
        conn._order_params(limit(4, 1_200_000, tif=TimeInForce.IOC))


@given(mark=st.integers(10_000, 200_000), price=st.integers(1, 10_000_000), side=st.sampled_from([Side.BID, Side.ASK]),
       kind=st.sampled_from([OrderKind.LIMIT, OrderKind.MARKET]))
@settings(max_examples=300, deadline=None)
def test_the_connector_sends_only_prices_the_venue_accepts(mark: int, price: int, side: Side, kind: OrderKind) -> None:
    """Any order the connector prepares carries a price inside the band (the venue's rule); one it refuses
    is outside it, or a market order whose worst price the band cannot bring nearer."""
    conn = offline_connector()
    feed_mark(conn, "BTCUSDT", f"{mark}.00000000")
    m = conn.markets()["BTCUSDT"]
    rule = market(m.price_decimals, m.tick, m.extra["percent_up_ppm"], m.extra["percent_down_ppm"])
    mark8 = mark * 10**MARK_DECIMALS
    req = OrderRequest(1, "BTCUSDT", side, 2, kind=kind, price=price, tif=TimeInForce.IOC)
    try:
        params = conn._order_params(req)
    except ValueError as e:
        assert "PERCENT_PRICE band" in str(e) or "price filter" in str(e)
        clampable = kind is OrderKind.MARKET and ((side is Side.BID and price > conn.price_band("BTCUSDT")[1])
                                                  or (side is Side.ASK and price < conn.price_band("BTCUSDT")[0]))
        assert not accepted(price, rule, mark8) and not clampable
        return
    sent = int(params["price"].replace(".", ""))
    assert accepted(sent, rule, mark8)
    if kind is OrderKind.LIMIT:
        assert sent == price
        hot = conn.prepare_submit([req]).body.decode()  # the hot path agrees with the checked path
        assert f"price={params['price']}&" in hot
    else:  # the worst price only ever comes nearer the touch
        assert sent <= price if side is Side.BID else sent >= price
