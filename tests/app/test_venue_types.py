import pytest

from xtb.model.types import MarketInfo, Side
from xtb.venues.registry import canonical
from xtb.venues.symbols import base_first


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
    ],
)
def test_canonical_names(venue, symbol, base, mult):
    c = canonical(venue, symbol)
    assert (c.base, c.multiplier) == (base, mult)


def test_grvt_names_follow_the_base_first_rule():
    assert base_first("BTC_USDT_Perp", None).base == "BTC"


def test_aliases_override():
    assert canonical("lighter", "XBT", aliases={"XBT": "BTC"}).base == "BTC"


def test_market_rounding_never_crosses():
    m = MarketInfo("backpack", "SOL_USDC_PERP", "SOL", "USDC", 2, 2, tick=5, step=10, min_size=10, min_notional=500)
    assert m.round_px(14127, Side.BID) == 14125
    assert m.round_px(14127, Side.ASK) == 14130
    assert m.round_px(14125, Side.ASK) == 14125
    assert m.round_sz(123) == 120


def test_fill_fee_units_charges_the_published_rate_only_where_fills_carry_no_fee():
    from xtb.model.types import MarketInfo, fill_fee_units

    m = MarketInfo("lighter", "SOL", "SOL", "USDC", 3, 3, 1, 1, 1, 0, maker_fee_ppm=20, taker_fee_ppm=200)

    class Quiet:  # a venue whose fills come with fee 0 (Lighter)
        reports_fill_fees = False

        def markets(self):
            return {"SOL": m}

    class Reports(Quiet):
        reports_fill_fees = True

    # 150.000 x 0.100 = 15 USDC = 15_000_000 notional units; taker 200 ppm -> 3_000, maker 20 ppm -> 300
    assert fill_fee_units(Quiet(), "SOL", 150_000, 100, False, 0) == 3_000
    assert fill_fee_units(Quiet(), "SOL", 150_000, 100, True, 0) == 300
    assert fill_fee_units(Quiet(), "SOL", 150_000, 100, False, 7) == 7  # a reported fee wins
    assert fill_fee_units(Reports(), "SOL", 150_000, 100, False, 0) == 0  # a venue's own zero is real
    assert fill_fee_units(Quiet(), "ETH", 150_000, 100, False, 0) == 0  # unknown market: nothing to charge
    assert fill_fee_units(None, "SOL", 150_000, 100, False, 0) == 0
