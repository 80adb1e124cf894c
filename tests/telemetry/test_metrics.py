import urllib.request

import pytest

from xtb.telemetry.metrics import FAMILIES, Metrics


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def test_exporter_serves_seed_names_on_localhost():
    m = Metrics()
    m.mm_mid_price.labels(venue="backpack", symbol="SOL_USDC_PERP").set(141.25)
    m.mm_total_fills.labels(venue="lighter", symbol="SOL", side="bid").inc(3)
    m.xtb_tick_to_order_seconds.labels(venue="backpack", trigger="frame").observe(15e-6)
    m.xtb_risk_denials.labels(reason="net_max").inc()
    port = m.serve(0)
    text = scrape(port)
    assert 'mm_mid_price{symbol="SOL_USDC_PERP",venue="backpack"} 141.25' in text
    assert 'mm_total_fills{side="bid",symbol="SOL",venue="lighter"} 3.0' in text  # the board's name
    assert 'xtb_tick_to_order_seconds_bucket{le="2e-05",trigger="frame",venue="backpack"} 1.0' in text
    assert 'xtb_risk_denials_total{reason="net_max"} 1.0' in text
    assert 'xtb_trading_state{state="active"} 1.0' in text
    m.stop()
    with pytest.raises(OSError):
        scrape(port)


def test_trading_state_is_one_hot_and_validated():
    m = Metrics()
    m.set_trading_state("halted")
    vals = {s: m.xtb_trading_state.labels(state=s)._value.get() for s in ("active", "reducing", "halted")}
    assert vals == {"active": 0, "reducing": 0, "halted": 1}
    with pytest.raises(ValueError, match="trading state"):
        m.set_trading_state("panic")


def test_every_seed_family_is_defined():
    names = {f.name for f in FAMILIES}
    seed = {
        "mm_mid_price", "mm_bid_price", "mm_ask_price", "mm_position", "mm_entry_price", "mm_unrealized_pnl",
        "mm_realized_pnl", "mm_active_orders", "mm_total_fills", "mm_orders_placed_count",
        "mm_orders_canceled_count", "mm_spread_gauge", "mm_quote_interval_gauge", "mm_reservation_price",
        "mm_inventory_skew_bps", "mm_adaptive_netmax", "mm_rest_latency_seconds",
    }
    assert seed <= names
    # counters are exposed with _total: the seed's mm_rest_requests_total / mm_rest_errors_total
    assert {"mm_rest_requests", "mm_rest_errors"} <= names


def test_registries_are_independent():
    a, b = Metrics(), Metrics()
    a.xtb_ring_depth.set(5)
    assert b.xtb_ring_depth._value.get() == 0
