import pytest
from hypothesis import given
from hypothesis import strategies as st

from xtb.telemetry.ledger import MarketBook


def test_long_then_partial_close_realizes_on_the_closed_part():
    b = MarketBook()
    assert b.apply_fill("bid", 100, 10) == 0
    assert b.apply_fill("bid", 110, 10) == 0
    assert (b.position, b.entry_px) == (20, 105)
    assert b.apply_fill("ask", 120, 5) == 5 * 15
    assert (b.position, b.entry_px, b.realized) == (15, 105, 75)
    assert b.unrealized(100) == 15 * (100 - 105)


def test_short_and_flip_through_zero():
    b = MarketBook()
    b.apply_fill("ask", 100, 10, fee=3)
    assert b.apply_fill("bid", 90, 15, fee=4) == 10 * 10  # closes the short at a profit, opens 5 long at 90
    assert (b.position, b.entry_px, b.fees) == (5, 90, 7)
    assert b.apply_fill("ask", 95, 5) == 25
    assert (b.position, b.cost, b.realized) == (0, 0, 125)


def test_bad_fill_is_refused_and_changes_nothing():
    b = MarketBook()
    with pytest.raises(ValueError, match="'buy'"):
        b.apply_fill("buy", 100, 1)
    with pytest.raises(ValueError, match="size"):
        b.apply_fill("bid", 100, 0)
    assert (b.position, b.cost, b.fills) == (0, 0, 0)


fills = st.lists(st.tuples(st.sampled_from(["bid", "ask"]), st.integers(1, 10_000), st.integers(1, 1_000)),
                 min_size=1, max_size=40)


@given(fills, st.integers(1, 10_000))
def test_realized_plus_unrealized_is_the_mark_to_market_of_all_fills(seq, mark):
    b = MarketBook()
    for side, px, sz in seq:
        b.apply_fill(side, px, sz)
    exact = sum((sz if side == "bid" else -sz) * (mark - px) for side, px, sz in seq)
    # Only the integer split of the cost basis on partial closes rounds (at most one unit each).
    assert abs(b.realized + b.unrealized(mark) - exact) <= len(seq)
    assert b.position == sum(sz if side == "bid" else -sz for side, _, sz in seq)
