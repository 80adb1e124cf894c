"""Realized PnL from our fills (average cost, fees), fed to the guard: a realized loss trips the stop loss."""

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb._core import Fill, OrderTracker
from xtb.model.types import MarketInfo
from xtb.risk import PnlLedger, RiskGuard, TradingState
from xtb.risk.feed import RiskFillFeed

SOL = MarketInfo("backpack", "SOL_USDC_PERP", "SOL", "USDC", 2, 2, 1, 1, 2, 0)  # px in cents, size in 0.01


def ledger() -> PnlLedger:
    return PnlLedger(lambda v, s: SOL if s == "SOL_USDC_PERP" else None)


def test_close_realizes_against_the_average_cost_and_fees_count():
    pnl = ledger()
    assert pnl.on_fill("backpack", "SOL_USDC_PERP", "bid", 15_000, 100, fee=75) == pytest.approx(-0.0075)
    pnl.on_fill("backpack", "SOL_USDC_PERP", "bid", 16_000, 100)  # average cost 155.00
    assert pnl.average_cost("backpack", "SOL_USDC_PERP") == 15_500
    # sell 1.5 SOL at 157: +2 x 1.5 = +3.00, minus a 0.01 fee
    got = pnl.on_fill("backpack", "SOL_USDC_PERP", "ask", 15_700, 150, fee=100)
    assert got == pytest.approx(3.0 - 0.01)
    assert pnl.position("backpack", "SOL_USDC_PERP") == 50
    assert pnl.average_cost("backpack", "SOL_USDC_PERP") == 15_500  # closing does not move the average
    assert pnl.realized() == pytest.approx(3.0 - 0.01 - 0.0075)
    snap = pnl.snapshot()["backpack:SOL_USDC_PERP"]
    assert snap["fills"] == 3 and snap["fees"] == pytest.approx(0.0175)


def test_a_flip_closes_then_opens_at_the_fill_price_and_shorts_gain_when_price_falls():
    pnl = ledger()
    pnl.on_fill("backpack", "SOL_USDC_PERP", "bid", 10_000, 100)
    assert pnl.on_fill("backpack", "SOL_USDC_PERP", "ask", 9_000, 300) == pytest.approx(-10.0)
    assert pnl.position("backpack", "SOL_USDC_PERP") == -200
    assert pnl.average_cost("backpack", "SOL_USDC_PERP") == 9_000
    assert pnl.on_fill("backpack", "SOL_USDC_PERP", "bid", 8_500, 200, fee=-50) == pytest.approx(10.0 + 0.005)
    assert pnl.position("backpack", "SOL_USDC_PERP") == 0
    assert pnl.average_cost("backpack", "SOL_USDC_PERP") is None
    assert pnl.realized(venue="backpack") == pytest.approx(0.005)


def test_seed_counts_a_position_held_before_the_run_and_bad_fills_change_nothing():
    pnl = ledger()
    pnl.seed("backpack", "SOL_USDC_PERP", -100, 20_000)
    assert pnl.on_fill("backpack", "SOL_USDC_PERP", "bid", 19_000, 100) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="already counted"):
        pnl.seed("backpack", "SOL_USDC_PERP", 5, 1)
    for bad in (dict(side="buy", px=1, sz=1), dict(side="bid", px=0, sz=1), dict(side="bid", px=1, sz=0)):
        with pytest.raises(ValueError):
            pnl.on_fill("backpack", "SOL_USDC_PERP", **bad)
    assert pnl.on_fill("backpack", "NOPE", "bid", 1, 1) == 0.0 and pnl.unknown_market_fills == 1
    assert pnl.realized() == pytest.approx(10.0)


@settings(deadline=None, max_examples=150)  # under CI load a Fraction-heavy example can exceed 200 ms
@given(st.lists(st.tuples(st.sampled_from(["bid", "ask"]), st.integers(9_000, 11_000), st.integers(1, 500)),
                min_size=1, max_size=30), st.integers(9_000, 11_000))
def test_realized_plus_marked_value_is_the_cash_flow(fills, final_px):
    """Whatever the sequence, realized + position x (mark - average cost) equals the cash flow valued at
    the mark: no PnL is lost or made up by the cost-basis bookkeeping."""
    pnl = ledger()
    cash = 0
    for side, px, sz in fills:
        pnl.on_fill("backpack", "SOL_USDC_PERP", side, px, sz)
        cash += (-1 if side == "bid" else 1) * px * sz
    pos = pnl.position("backpack", "SOL_USDC_PERP")
    avg = pnl.average_cost("backpack", "SOL_USDC_PERP") or 0
    total = pnl.realized() + pos * (final_px - avg) / 10_000
    assert total == pytest.approx((cash + pos * final_px) / 10_000, abs=1e-6)


def test_fill_events_through_the_tracker_move_the_guards_pnl_and_a_realized_loss_halts():
    guard = RiskGuard({"stopLoss": -5, "pnlMin": -100}, market=lambda v, s: SOL)
    trk = OrderTracker()
    feed = RiskFillFeed(guard, ledger(), order_of=trk.get)
    trk.submitted(1, "backpack", "SOL_USDC_PERP", "bid", 15_000, 1_000)
    trk.submitted(2, "backpack", "SOL_USDC_PERP", "ask", 14_900, 1_000)
    feed.on_fill(Fill("backpack", 1, 11, "bid", 15_000, 1_000, False, fee=0))
    assert guard.pnl[0] == 0.0 and guard.state is TradingState.ACTIVE
    feed.on_fill(Fill("backpack", 2, 12, "ask", 14_950, 1_000, False, fee=1_000))  # -5.00 - 0.10 fee
    assert guard.pnl[0] == pytest.approx(-5.1)
    assert guard.state is TradingState.HALTED and guard.status()["risk_until"] is None  # latched
    assert "stop_loss" in guard.status()["risk_reason"]
    feed.on_fill(SimpleNamespace(venue="backpack", client_id=99, side="bid", px=1, sz=1, fee=0))
    assert feed.unknown_orders == 1
