"""GRVT instruments -> MarketInfo (integer tick/step/min size/decimals, signing data) and the connector options
(profiles, explicit endpoints, unknown keys refused by name)."""

from __future__ import annotations

import pytest

from xtb.venues.grvt.config import PROFILES, GrvtConfig
from xtb.venues.grvt.markets import MarketDataError, market_info, markets, signing_instrument

BTC = {"instrument": "BTC_USDT_Perp", "instrument_hash": "0x030501", "base": "BTC", "quote": "USDT",
       "kind": "PERPETUAL", "base_decimals": 9, "quote_decimals": 6, "tick_size": "0.1", "min_size": "0.001",
       "min_notional": "20.0"}
KPEPE = {**BTC, "instrument": "kPEPE_USDT_Perp", "instrument_hash": "0x0a0501", "base": "kPEPE",
         "tick_size": "0.000001", "min_size": "100", "base_decimals": 0}
CALL = {**BTC, "instrument": "BTC_USDT_Call_20Oct23_28000", "kind": "CALL"}


def test_instrument_to_market_info() -> None:
    m = market_info(BTC)
    assert (m.venue, m.symbol, m.base, m.quote) == ("grvt", "BTC_USDT_Perp", "BTC", "USDT")
    assert (m.price_decimals, m.size_decimals, m.tick, m.step, m.min_size) == (1, 9, 1, 1_000_000, 1_000_000)
    assert m.min_notional == 20 * 10 ** (1 + 9)
    assert signing_instrument(m).instrument_hash == "0x030501" and signing_instrument(m).base_decimals == 9
    p = market_info(KPEPE)
    assert (p.base, p.multiplier, p.price_decimals, p.tick, p.step) == ("PEPE", 1000, 6, 1, 100)


def test_perpetuals_only_unless_named() -> None:
    assert set(markets([BTC, KPEPE, CALL])) == {"BTC_USDT_Perp", "kPEPE_USDT_Perp"}
    assert set(markets([BTC, CALL], symbols=["BTC_USDT_Call_20Oct23_28000"])) == {"BTC_USDT_Call_20Oct23_28000"}
    with pytest.raises(MarketDataError, match="ETH_USDT_Perp"):
        markets([BTC], symbols=["ETH_USDT_Perp"])


@pytest.mark.parametrize(("field", "value", "msg"), [
    ("base_decimals", "9", "base_decimals"),
    ("instrument_hash", "030501", "instrument_hash"),
    ("instrument_hash", "0xzz", "instrument_hash"),
    ("tick_size", "abc", "tick_size"),
    ("tick_size", "0", "positive"),
    ("min_size", "0.0000000001", "min_size"),
    ("instrument", None, "without a name"),
])
def test_bad_instruments_are_named(field: str, value: object, msg: str) -> None:
    with pytest.raises(MarketDataError, match=msg) as e:
        market_info({**BTC, field: value})
    assert "\n" not in str(e.value)


def test_config_profiles_and_options() -> None:
    c = GrvtConfig.from_options({"profile": "testnet", "sub_account_id": 7, "book_rate_ms": 50})
    assert c.endpoints == PROFILES["testnet"] and c.endpoints.chain_id == 326 and c.sub_account_id == 7
    assert GrvtConfig.from_options({}, sub_account_id=1, profile="mainnet").endpoints.chain_id == 325
    local = {k: "http://127.0.0.1:1" for k in ("edge_url", "trades_url", "trades_ws_url", "market_data_url",
                                               "market_data_ws_url")}
    c = GrvtConfig.from_options({**local, "chain_id": 326, "sub_account_id": 1, "symbols": ["BTC_USDT_Perp"]})
    assert c.endpoints.trades_url == "http://127.0.0.1:1" and c.symbols == ("BTC_USDT_Perp",)
    # a profile with one endpoint overridden (a simulator for the trades host only)
    c = GrvtConfig.from_options({"profile": "mainnet", "sub_account_id": 1, "trades_url": "http://127.0.0.1:2"})
    assert c.endpoints.trades_url == "http://127.0.0.1:2" and c.endpoints.edge_url == "https://edge.grvt.io"
    bad: list[tuple[dict[str, object], str]] = [
        ({"profile": "moon", "sub_account_id": 1}, "profile"),
        ({"sub_account_id": 1}, "edge_url"),
        ({"profile": "mainnet"}, "sub_account_id"),
        ({"profile": "mainnet", "sub_account_id": 1, "bogus": 1}, "bogus"),
        ({"profile": "mainnet", "sub_account_id": 1, "book_rate_ms": 7}, "book_rate_ms"),
        ({"profile": "mainnet", "sub_account_id": 1, "signature_expiration_s": 40 * 86400}, "signature_expiration_s"),
    ]
    for opts, msg in bad:
        with pytest.raises(ValueError, match=msg):
            GrvtConfig.from_options(opts)
