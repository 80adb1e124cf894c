import pytest

from xtb.venues.base import MarketInfo, Side
from xtb.venues.symbols import canonical


@pytest.mark.parametrize(
    ("venue", "symbol", "base", "mult"),
    [
        ("backpack", "SOL_USDC_PERP", "SOL", 1),
        ("backpack", "kPEPE_USDC_PERP", "PEPE", 1000),
        ("backpack", "AAPL.US_USDC_PERP", "AAPL.US", 1),
        ("lighter", "SOL", "SOL", 1),
        ("lighter", "1000PEPE", "PEPE", 1000),
        ("lighter", "KAITO", "KAITO", 1),
        ("binance_usdm", "SOLUSDT", "SOL", 1),
        ("binance_usdm", "1000PEPEUSDT", "PEPE", 1000),
        ("grvt", "BTC_USDT_Perp", "BTC", 1),
    ],
)
def test_canonical_names(venue, symbol, base, mult):
    c = canonical(venue, symbol)
    assert (c.base, c.multiplier) == (base, mult)


def test_aliases_override():
    assert canonical("lighter", "XBT", aliases={"XBT": "BTC"}).base == "BTC"


def test_market_rounding_never_crosses():
    m = MarketInfo("backpack", "SOL_USDC_PERP", "SOL", "USDC", 2, 2, tick=5, step=10, min_size=10, min_notional=500)
    assert m.round_px(14127, Side.BID) == 14125
    assert m.round_px(14127, Side.ASK) == 14130
    assert m.round_px(14125, Side.ASK) == 14125
    assert m.round_sz(123) == 120
