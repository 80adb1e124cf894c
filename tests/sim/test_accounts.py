"""Accounts: PnL and fee arithmetic against hand-computed cases, funding, margin, conservation."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from xtb.sim import (
    AccountConfig,
    ErrorCode,
    Exchange,
    OrderRequest,
    OrderType,
    SelfTradeMode,
    Side,
    SimError,
    TimeInForce,
    VenueRules,
    VirtualClock,
)
from xtb.sim.accounts import fee_for, funding_for
from xtb.sim.backpack.dialect import RULES as BACKPACK_RULES
from xtb.sim.lighter.dialect import RULES as LIGHTER_RULES

from .helpers import SCALE, USD, eth_spec, funded, limit

BUY, SELL = Side.BUY, Side.SELL
HOUR_NS = 3_600 * 10**9


def trade(ex: Exchange, taker: int, maker: int, side: Side, qty: int, price: int) -> None:
    ex.place_order(limit(maker, side.opposite, qty, price))
    view = ex.place_order(limit(taker, side, qty, price, time_in_force=TimeInForce.IOC))
    assert view.filled == qty


def test_average_entry_partial_close_and_flip(make_exchange: Callable[..., Exchange]) -> None:
    ex = make_exchange(maker_fee_ppm=0, taker_fee_ppm=0)
    a, b = funded(ex, 2, collateral=0)
    for acct in (a, b):
        ex.account_config(acct).check_margin = False
    trade(ex, a, b, BUY, 10, 10_000)  # buy 0.0010 @ 100.00
    trade(ex, a, b, BUY, 10, 11_000)  # buy 0.0010 @ 110.00
    pos = ex.position(a, 0)
    assert (pos.size, pos.cost) == (20, (10_000 * 10 + 11_000 * 10) * SCALE)
    assert pos.entry_price(ex.market(0), ex.rules.cash_decimals) == Decimal(105)
    trade(ex, a, b, SELL, 5, 12_000)  # reduce 5 @ 120: realized 5 x (120 - 105)
    assert ex.position(a, 0).realized_pnl == 5 * 1_500 * SCALE
    trade(ex, a, b, SELL, 25, 9_000)  # close 15 @ 90 (-15 x 15), open short 10 @ 90
    pos = ex.position(a, 0)
    assert pos.realized_pnl == 5 * 1_500 * SCALE - 15 * 1_500 * SCALE
    assert (pos.size, pos.cost) == (-10, -10 * 9_000 * SCALE)
    assert pos.entry_price(ex.market(0), ex.rules.cash_decimals) == Decimal(90)
    assert ex.balance(a).cash == pos.realized_pnl  # no fees: cash moves by realized PnL only
    ex.set_mark_price(0, 8_000)
    assert ex.position(a, 0).unrealized_pnl == 10 * 1_000 * SCALE  # short 10 from 90 to 80
    other = ex.position(b, 0)
    assert (other.size, other.realized_pnl) == (10, -pos.realized_pnl)
    assert other.unrealized_pnl == -10 * 1_000 * SCALE


def test_maker_rebate_and_taker_fee(make_exchange: Callable[..., Exchange]) -> None:
    ex = make_exchange(maker_fee_ppm=-100, taker_fee_ppm=500)
    maker, taker = funded(ex, 2, collateral=1_000 * USD)
    trade(ex, taker, maker, BUY, 10_000, 300_000)  # 1 ETH @ 3000.00 = 3000 USD
    assert ex.fees_paid(taker) == 3 * USD // 2  # 0.05 % of 3000
    assert ex.fees_paid(maker) == -3 * USD // 10  # 0.01 % rebate
    assert ex.balance(taker).cash == 1_000 * USD - 3 * USD // 2
    assert ex.balance(maker).cash == 1_000 * USD + 3 * USD // 10
    assert ex.fees_collected == 12 * USD // 10


def test_account_fee_override(make_exchange: Callable[..., Exchange]) -> None:
    ex = make_exchange()
    maker = ex.create_account(1_000 * USD)
    taker = ex.create_account(1_000 * USD, config=AccountConfig(taker_fee_ppm=0))
    trade(ex, taker, maker, BUY, 10_000, 300_000)
    assert ex.fees_paid(taker) == 0 and ex.fees_paid(maker) == 6 * USD // 10  # 0.02 % of 3000


def test_fee_rounding_never_favours_the_trader() -> None:
    assert fee_for(7, 333) == 1  # 0.002331 rounds up
    assert fee_for(7, -333) == 0  # a rebate of 0.002331 rounds toward zero
    assert fee_for(3_000_000, 500) == 1_500
    assert funding_for(-3, 10, 1, 50_000) == -2  # short receives floor(-1.5): 2


def test_funding_on_schedule_and_from_premium(make_exchange: Callable[..., Exchange]) -> None:
    ex = make_exchange(maker_fee_ppm=0, taker_fee_ppm=0)
    long_, short = funded(ex, 2, collateral=10_000 * USD)
    trade(ex, long_, short, BUY, 10_000, 300_000)
    ex.set_mark_price(0, 300_000, 300_000)
    ex.set_funding_rate(0, 100)  # 0.01 % per interval
    clock = ex.clock
    assert isinstance(clock, VirtualClock)
    due = ex.next_funding_ns(0)
    assert due % HOUR_NS == 0 and due > clock.now_ns()
    clock.set(due - 1)
    ex.poll_timers()
    assert ex.position(long_, 0).funding_paid == 0
    clock.set(due)
    ex.poll_timers()
    assert ex.position(long_, 0).funding_paid == 3 * USD // 10  # 0.01 % of 3000
    assert ex.position(short, 0).funding_paid == -3 * USD // 10
    assert ex.balance(long_).cash == 10_000 * USD - 3 * USD // 10
    assert ex.next_funding_ns(0) == due + HOUR_NS
    # Premium-based: mark 0.1 % over index -> 1000 ppm, clamped by the market's cap.
    ex.set_funding_rate(0, None)
    ex.set_mark_price(0, 300_300, 300_000)
    assert ex.funding_rate(0) == 1_000
    paid = ex.settle_funding(0)
    assert paid == 10_000 * 300_300 * SCALE * 1_000 // 1_000_000
    assert ex.funding_residual == 0


def test_margin_check_rejects_beyond_collateral(make_exchange: Callable[..., Exchange]) -> None:
    ex = make_exchange()  # 10 % initial margin
    (a,) = funded(ex, 1, collateral=100 * USD)
    ex.place_order(limit(a, BUY, 3_000, 300_000))  # 900 USD notional -> 90 USD margin
    assert ex.balance(a).initial_margin == 90 * USD
    with pytest.raises(SimError) as err:
        ex.place_order(limit(a, BUY, 500, 300_000))  # +150 USD notional -> 105 USD > 100
    assert err.value.code is ErrorCode.INSUFFICIENT_MARGIN
    # An ask on the same account does not raise the worst-case exposure, so it is allowed.
    assert ex.place_order(limit(a, SELL, 3_000, 310_000)).is_open
    assert ex.balance(a).initial_margin == 93 * USD  # asks valued at their price: 930 USD
    with pytest.raises(SimError):
        ex.deposit(a, -10 * USD)  # withdrawal beyond what is available
    ex.deposit(a, 50 * USD)
    assert ex.place_order(limit(a, BUY, 500, 300_000)).is_open


def test_account_leverage_and_reduce_only_skip_margin(make_exchange: Callable[..., Exchange]) -> None:
    ex = make_exchange()
    a = ex.create_account(100 * USD, config=AccountConfig(leverage=2))
    (b,) = funded(ex, 1)
    with pytest.raises(SimError):
        ex.place_order(limit(a, BUY, 700, 300_000))  # 210 USD at 50 % margin
    ex.place_order(limit(b, SELL, 600, 300_000))
    assert ex.place_order(limit(a, BUY, 600, 300_000)).filled == 600  # 180 USD -> 90 USD margin
    ex.set_mark_price(0, 200_000)  # a loses 60 USD: equity 40 < margin needed
    assert ex.balance(a).available < 0
    with pytest.raises(SimError):
        ex.place_order(limit(a, BUY, 1, 200_000))
    view = ex.place_order(limit(a, SELL, 600, 200_000, reduce_only=True))  # reducing is always allowed
    assert view.is_open


# ---------------------------------------------------------------- conservation property

SELF_TRADE = list(SelfTradeMode)
op_place = st.tuples(
    st.just("place"),
    st.integers(0, 2),
    st.sampled_from([BUY, SELL]),
    st.integers(1, 30),
    st.integers(9_997, 10_003),
    st.sampled_from([TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]),
    st.sampled_from([False, False, False, True]),  # post-only
    st.sampled_from([False, False, False, True]),  # reduce-only
    st.sampled_from(SELF_TRADE),
)
op_market = st.tuples(st.just("market"), st.integers(0, 2), st.sampled_from([BUY, SELL]), st.integers(1, 40))
op_cancel = st.tuples(st.just("cancel"), st.integers(0, 2), st.integers(0, 50))
op_modify = st.tuples(
    st.just("modify"), st.integers(0, 2), st.integers(0, 50), st.integers(1, 30), st.integers(9_997, 10_003)
)
op_mark = st.tuples(st.just("mark"), st.integers(9_000, 11_000))
op_funding = st.tuples(st.just("funding"), st.integers(-5_000, 5_000))
ops = st.lists(
    st.one_of(op_place, op_place, op_place, op_market, op_cancel, op_modify, op_mark, op_funding),
    min_size=20,
    max_size=80,
)


def check_book_consistent(ex: Exchange, accounts: list[int]) -> None:
    bid, ask = ex.best_bid_ask(0)
    assert bid is None or ask is None or bid < ask
    bids, asks = ex.book_orders(0)
    snap = ex.book_snapshot(0)
    for levels, orders in ((snap.bids, bids), (snap.asks, asks)):
        totals: dict[int, int] = {}
        for o in orders:
            assert o.is_open and o.remaining > 0
            totals[o.price or 0] = totals.get(o.price or 0, 0) + o.remaining
        assert {lv.price: lv.size for lv in levels} == totals
    resting = {o.order_id for o in bids + asks}
    assert resting == {o.order_id for a in accounts for o in ex.open_orders(a)}
    for a in accounts:
        pos = ex._accounts[a].account.positions.get(0)  # internal: open-order exposure must not leak
        if pos is None:
            continue
        opened = ex.open_orders(a, 0)
        assert pos.bid_value == sum((o.price or 0) * o.remaining * SCALE for o in opened if o.side is BUY)
        assert pos.ask_value == sum((o.price or 0) * o.remaining * SCALE for o in opened if o.side is SELL)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops,
    st.sampled_from([VenueRules(), BACKPACK_RULES, LIGHTER_RULES]),
    st.integers(-300, 300),
    st.integers(0, 800),
)
def test_cash_and_positions_are_conserved(
    stream: list[tuple[Any, ...]], rules: VenueRules, maker_fee: int, taker_fee: int
) -> None:
    ex = Exchange(rules, VirtualClock())
    ex.add_market(eth_spec(maker_fee_ppm=maker_fee, taker_fee_ppm=taker_fee))
    start = 1_000 * USD
    accounts = [ex.create_account(start) for _ in range(3)]
    ex.account_config(accounts[2]).check_margin = False  # one account may go beyond its collateral
    placed: list[tuple[int, int]] = []
    for op in stream:
        kind = op[0]
        try:
            if kind == "place":
                _, who, side, qty, price, tif, post, reduce, stp = op
                post = bool(post) and tif is TimeInForce.GTC
                view = ex.place_order(
                    OrderRequest(
                        accounts[who],
                        0,
                        side,
                        qty,
                        price,
                        time_in_force=tif,
                        post_only=post,
                        reduce_only=bool(reduce),
                        self_trade=stp,
                    )
                )
                placed.append((accounts[who], view.order_id))
            elif kind == "market":
                _, who, side, qty = op
                worst = 11_000 if side is BUY else 9_000
                ex.place_order(
                    OrderRequest(
                        accounts[who],
                        0,
                        side,
                        qty,
                        worst,
                        order_type=OrderType.MARKET,
                        time_in_force=TimeInForce.IOC,
                    )
                )
            elif kind == "cancel" and placed:
                _, _, pick = op
                acct, oid = placed[pick % len(placed)]
                ex.cancel_order(acct, 0, order_id=oid)
            elif kind == "modify" and placed:
                _, _, pick, qty, price = op
                acct, oid = placed[pick % len(placed)]
                ex.modify_order(acct, 0, oid, quantity=qty, price=price)
            elif kind == "mark":
                ex.set_mark_price(0, op[1])
            elif kind == "funding":
                ex.settle_funding(0, op[1])
        except SimError:
            pass  # refusals are fine; they must change nothing, which the invariants below also cover
        check_book_consistent(ex, accounts)

    event(
        "traded"
        if any(ex.position(a, 0).realized_pnl or ex.position(a, 0).size for a in accounts)
        else "no trade"
    )
    positions = [ex.position(a, 0) for a in accounts]
    assert sum(p.size for p in positions) == 0
    cash_delta = sum(ex.balance(a).cash - start for a in accounts)
    fees = sum(ex.fees_paid(a) for a in accounts)
    funding = sum(p.funding_paid for p in positions)
    assert fees == ex.fees_collected and funding == ex.funding_residual
    assert cash_delta + fees + funding == sum(p.cost for p in positions)
    # Valued at any common mark, the accounts' equity changes plus what the venue took sum to zero.
    for mark in (9_000, 10_000, 11_000):
        value = sum(p.size * mark * SCALE - p.cost for p in positions)
        assert cash_delta + fees + funding + value == 0

    # Flatten everyone against each other; then cash changes plus fees plus funding sum to exactly zero.
    for acct in accounts:
        ex.cancel_all(acct)
    for _ in range(6):
        sizes = {a: ex.position(a, 0).size for a in accounts}
        longs = [a for a, s in sizes.items() if s > 0]
        shorts = [a for a, s in sizes.items() if s < 0]
        if not longs:
            break
        qty = min(sizes[longs[0]], -sizes[shorts[0]])
        ex.place_order(OrderRequest(longs[0], 0, SELL, qty, 10_000, reduce_only=True))
        taker = ex.place_order(
            OrderRequest(shorts[0], 0, BUY, qty, 10_000, reduce_only=True, time_in_force=TimeInForce.IOC)
        )
        assert taker.filled == qty
    assert all(ex.position(a, 0).size == 0 and ex.position(a, 0).cost == 0 for a in accounts)
    cash_delta = sum(ex.balance(a).cash - start for a in accounts)
    fees = sum(ex.fees_paid(a) for a in accounts)
    funding = sum(ex.position(a, 0).funding_paid for a in accounts)
    assert cash_delta + fees + funding == 0
