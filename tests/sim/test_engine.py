"""Matching engine behaviour: priority, order types, self-trade, validation, queries, events."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from xtb.sim import (
    AccountConfig,
    BookDelta,
    ErrorCode,
    Exchange,
    FillEvent,
    OrderEvent,
    OrderEventKind,
    OrderRequest,
    OrderStatus,
    OrderType,
    PriceBand,
    Reason,
    ReduceOnlyMode,
    RefusalStyle,
    SelfTradeMode,
    Side,
    SimError,
    TimeInForce,
    TradeEvent,
    VenueRules,
)
from xtb.sim.backpack.dialect import RULES as BACKPACK_RULES
from xtb.sim.binance.dialect import RULES as BINANCE_RULES
from xtb.sim.lighter.dialect import RULES as LIGHTER_RULES

from .helpers import SCALE, USD, eth_spec, funded, limit, record

BUY, SELL = Side.BUY, Side.SELL


def fills_of(events: Sequence[object]) -> list[tuple[int, int, int, bool]]:
    """(account, price, qty, is_maker) of every fill, in order."""
    return [
        (e.fill.account, e.fill.price, e.fill.quantity, e.fill.is_maker)
        for e in events
        if isinstance(e, FillEvent)
    ]


def test_price_time_priority(ex: Exchange) -> None:
    a, b, c, t = funded(ex, 4)
    ex.place_order(limit(a, SELL, 5, 300_000))
    ex.place_order(limit(b, SELL, 5, 300_000))
    ex.place_order(limit(c, SELL, 5, 299_900))  # better price, later
    events = record(ex)
    taker = ex.place_order(limit(t, BUY, 12, 300_000))
    assert taker.status is OrderStatus.FILLED
    makers = [(acct, price, qty) for acct, price, qty, maker in fills_of(events) if maker]
    assert makers == [(c, 299_900, 5), (a, 300_000, 5), (b, 300_000, 2)]
    snap = ex.book_snapshot(0)
    assert [(lv.price, lv.size) for lv in snap.asks] == [(300_000, 3)]
    assert ex.open_orders(b)[0].filled == 2
    assert ex.open_orders(b)[0].status is OrderStatus.PARTIALLY_FILLED


def test_partial_fill_rests_remainder_and_reports_average(ex: Exchange) -> None:
    a, t = funded(ex, 2)
    ex.place_order(limit(a, SELL, 4, 300_000))
    ex.place_order(limit(a, SELL, 4, 300_100))
    view = ex.place_order(limit(t, BUY, 10, 300_100))
    assert (view.status, view.filled, view.remaining) == (OrderStatus.PARTIALLY_FILLED, 8, 2)
    assert view.filled_cash == (4 * 300_000 + 4 * 300_100) * SCALE
    snap = ex.book_snapshot(0)
    assert [(lv.price, lv.size) for lv in snap.bids] == [(300_100, 2)]
    assert snap.asks == ()
    assert ex.get_order(t, 0, order_id=view.order_id).remaining == 2


def test_post_only_crossing_expires_without_touching_book(ex: Exchange) -> None:
    a, b = funded(ex, 2)
    ex.place_order(limit(a, SELL, 5, 300_000))
    before = ex.book_snapshot(0)
    view = ex.place_order(limit(b, BUY, 5, 300_000, post_only=True))
    assert (view.status, view.reason, view.filled) == (OrderStatus.EXPIRED, Reason.POST_ONLY_TAKER, 0)
    assert ex.book_snapshot(0).asks == before.asks and ex.book_snapshot(0).bids == ()
    resting = ex.place_order(limit(b, BUY, 5, 299_999, post_only=True))
    assert resting.status is OrderStatus.NEW
    assert ex.best_bid_ask(0) == (299_999, 300_000)


def test_post_only_error_style(make_exchange: Callable[..., Exchange]) -> None:
    ex = make_exchange(VenueRules(post_only_refusal=RefusalStyle.ERROR))
    a, b = funded(ex, 2)
    ex.place_order(limit(a, SELL, 5, 300_000))
    seq = ex.book_seq(0)
    with pytest.raises(SimError) as err:
        ex.place_order(limit(b, BUY, 5, 300_001, post_only=True))
    assert err.value.code is ErrorCode.POST_ONLY_WOULD_CROSS
    assert ex.open_orders(b) == [] and ex.book_seq(0) == seq


def open_long(ex: Exchange, account: int, other: int, qty: int, price: int = 300_000) -> None:
    ex.place_order(limit(other, SELL, qty, price))
    ex.place_order(limit(account, BUY, qty, price))
    assert ex.position(account, 0).size == qty


def test_reduce_only_clips_to_position(ex: Exchange) -> None:
    a, b, c = funded(ex, 3)
    open_long(ex, a, b, 10)
    ex.place_order(limit(c, BUY, 50, 299_000))
    view = ex.place_order(limit(a, SELL, 15, 299_000, reduce_only=True))
    assert (view.quantity, view.filled, view.status) == (10, 10, OrderStatus.FILLED)
    assert ex.position(a, 0).size == 0
    # Nothing left to reduce: refused (expired with the reduce-only reason).
    again = ex.place_order(limit(a, SELL, 1, 299_000, reduce_only=True))
    assert (again.status, again.reason, again.filled) == (OrderStatus.EXPIRED, Reason.REDUCE_ONLY, 0)


def test_reduce_only_reject_mode(make_exchange: Callable[..., Exchange]) -> None:
    ex = make_exchange(
        VenueRules(reduce_only_mode=ReduceOnlyMode.REJECT, reduce_only_refusal=RefusalStyle.ERROR)
    )
    a, b = funded(ex, 2)
    open_long(ex, a, b, 10)
    with pytest.raises(SimError) as err:
        ex.place_order(limit(a, SELL, 11, 310_000, reduce_only=True))
    assert err.value.code is ErrorCode.REDUCE_ONLY_WOULD_INCREASE and err.value.field == "reduce_only"
    with pytest.raises(SimError):
        ex.place_order(limit(a, BUY, 1, 290_000, reduce_only=True))  # same direction as the position
    assert ex.place_order(limit(a, SELL, 10, 310_000, reduce_only=True)).status is OrderStatus.NEW


def test_resting_reduce_only_is_clipped_when_position_shrank(ex: Exchange) -> None:
    a, b, c = funded(ex, 3)
    open_long(ex, a, b, 10)
    ro = ex.place_order(limit(a, SELL, 10, 310_000, reduce_only=True))
    ex.place_order(limit(c, BUY, 6, 300_500))
    ex.place_order(limit(a, SELL, 6, 300_500))  # the position shrinks to 4 by another order
    taker = ex.place_order(limit(c, BUY, 10, 310_000, time_in_force=TimeInForce.IOC))
    assert taker.filled == 4
    assert ex.position(a, 0).size == 0
    done = ex.get_order(a, 0, order_id=ro.order_id)
    assert (done.filled, done.status) == (4, OrderStatus.EXPIRED) and done.reason is Reason.REDUCE_ONLY


def test_ioc_remainder_expires(ex: Exchange) -> None:
    a, t = funded(ex, 2)
    ex.place_order(limit(a, SELL, 3, 300_000))
    view = ex.place_order(limit(t, BUY, 5, 300_000, time_in_force=TimeInForce.IOC))
    assert (view.filled, view.status, view.reason) == (3, OrderStatus.EXPIRED, Reason.IMMEDIATE_OR_CANCEL)
    assert ex.book_snapshot(0).bids == ()


def test_fok_all_or_nothing(ex: Exchange) -> None:
    a, t = funded(ex, 2)
    ex.place_order(limit(a, SELL, 3, 300_000))
    ex.place_order(limit(a, SELL, 3, 300_200))
    before = ex.book_snapshot(0)
    miss = ex.place_order(limit(t, BUY, 5, 300_100, time_in_force=TimeInForce.FOK))
    assert (miss.filled, miss.status, miss.reason) == (0, OrderStatus.EXPIRED, Reason.FILL_OR_KILL)
    assert ex.book_snapshot(0).asks == before.asks
    hit = ex.place_order(limit(t, BUY, 5, 300_200, time_in_force=TimeInForce.FOK))
    assert (hit.filled, hit.status) == (5, OrderStatus.FILLED)


def test_market_order_respects_worst_price(make_exchange: Callable[..., Exchange]) -> None:
    ex = make_exchange(LIGHTER_RULES)
    a, t = funded(ex, 2)
    for i, price in enumerate((300_000, 300_100, 300_200)):
        ex.place_order(limit(a, SELL, 2, price, client_id=i))
    view = ex.place_order(
        OrderRequest(t, 0, BUY, 10, 300_100, order_type=OrderType.MARKET, time_in_force=TimeInForce.IOC)
    )
    assert (view.filled, view.status, view.reason) == (4, OrderStatus.EXPIRED, Reason.IMMEDIATE_OR_CANCEL)
    assert view.price == 300_100
    assert ex.best_bid_ask(0) == (None, 300_200)
    with pytest.raises(SimError) as err:  # Lighter-style venues need the worst price
        ex.place_order(OrderRequest(t, 0, BUY, 1, None, order_type=OrderType.MARKET))
    assert err.value.code is ErrorCode.INVALID_PRICE and err.value.field == "price"


def test_market_order_by_quantity_and_by_quote(ex: Exchange) -> None:
    a, t = funded(ex, 2)
    ex.place_order(limit(a, SELL, 2, 300_000))
    ex.place_order(limit(a, SELL, 10, 300_100))
    by_qty = ex.place_order(OrderRequest(t, 0, BUY, 3, order_type=OrderType.MARKET))
    assert (by_qty.filled, by_qty.status) == (3, OrderStatus.FILLED)
    assert by_qty.filled_cash == (2 * 300_000 + 300_100) * SCALE
    # Quote-sized: 7.5 steps' worth at 3001.00 buys 7 whole steps.
    quote = 300_100 * SCALE * 15 // 2
    by_quote = ex.place_order(
        OrderRequest(t, 0, BUY, None, order_type=OrderType.MARKET, quote_quantity=quote)
    )
    assert (by_quote.filled, by_quote.status) == (7, OrderStatus.FILLED)
    assert ex.book_snapshot(0).asks[0].size == 2
    empty = ex.place_order(OrderRequest(t, 0, SELL, 1, order_type=OrderType.MARKET))
    assert (empty.status, empty.reason) == (OrderStatus.EXPIRED, Reason.INSUFFICIENT_LIQUIDITY)


@pytest.mark.parametrize(
    ("mode", "taker_filled", "taker_status", "own_left", "other_filled"),
    [
        (SelfTradeMode.REJECT_TAKER, 0, OrderStatus.EXPIRED, 5, 0),
        (SelfTradeMode.REJECT_MAKER, 5, OrderStatus.FILLED, 0, 5),
        (SelfTradeMode.REJECT_BOTH, 0, OrderStatus.EXPIRED, 0, 0),
        (SelfTradeMode.ALLOW, 5, OrderStatus.FILLED, 0, 0),
    ],
)
def test_self_trade_modes(
    ex: Exchange,
    mode: SelfTradeMode,
    taker_filled: int,
    taker_status: OrderStatus,
    own_left: int,
    other_filled: int,
) -> None:
    me, other = funded(ex, 2)
    own = ex.place_order(limit(me, SELL, 5, 300_000))
    theirs = ex.place_order(limit(other, SELL, 5, 300_000))
    view = ex.place_order(limit(me, BUY, 5, 300_000, time_in_force=TimeInForce.IOC, self_trade=mode))
    assert (view.filled, view.status) == (taker_filled, taker_status)
    if taker_status is OrderStatus.EXPIRED:
        assert view.reason is Reason.SELF_TRADE
    own_now = ex.get_order(me, 0, order_id=own.order_id)
    assert own_now.remaining == own_left or not own_now.is_open
    if mode in (SelfTradeMode.REJECT_MAKER, SelfTradeMode.REJECT_BOTH):
        assert (own_now.status, own_now.reason) == (OrderStatus.CANCELLED, Reason.SELF_TRADE)
    assert ex.get_order(other, 0, order_id=theirs.order_id).filled == other_filled
    if mode is SelfTradeMode.ALLOW:
        assert ex.position(me, 0).size == 0 and ex.fees_paid(me) > 0


def test_self_trade_default_comes_from_rules(make_exchange: Callable[..., Exchange]) -> None:
    assert BACKPACK_RULES.default_self_trade is SelfTradeMode.REJECT_TAKER
    ex = make_exchange(LIGHTER_RULES)
    (me,) = funded(ex, 1)
    ex.place_order(limit(me, SELL, 5, 300_000))
    view = ex.place_order(limit(me, BUY, 5, 300_000))
    assert view.self_trade is SelfTradeMode.REJECT_MAKER
    assert view.status is OrderStatus.NEW and ex.best_bid_ask(0) == (300_000, None)


@pytest.mark.parametrize(
    ("spec", "req", "code", "field"),
    [
        ({"tick": 5}, dict(qty=1, price=300_001), ErrorCode.PRICE_NOT_ON_TICK, "price"),
        ({"step": 10}, dict(qty=15, price=300_000), ErrorCode.QUANTITY_NOT_ON_STEP, "quantity"),
        ({"min_quantity": 50}, dict(qty=10, price=300_000), ErrorCode.QUANTITY_BELOW_MIN, "quantity"),
        ({"max_quantity": 100}, dict(qty=101, price=300_000), ErrorCode.QUANTITY_ABOVE_MAX, "quantity"),
        ({"min_notional": 10 * USD}, dict(qty=1, price=300_000), ErrorCode.NOTIONAL_BELOW_MIN, "quantity"),
        ({"max_price": 200_000}, dict(qty=1, price=300_000), ErrorCode.PRICE_OUT_OF_RANGE, "price"),
        ({}, dict(qty=0, price=300_000), ErrorCode.INVALID_QUANTITY, "quantity"),
        ({}, dict(qty=1, price=0), ErrorCode.INVALID_PRICE, "price"),
        ({}, dict(qty=1, price=None), ErrorCode.INVALID_PRICE, "price"),
    ],
)
def test_validation_errors_change_nothing(
    make_exchange: Callable[..., Exchange],
    spec: dict[str, int],
    req: dict[str, int | None],
    code: ErrorCode,
    field: str,
) -> None:
    ex = make_exchange(**spec)
    (a,) = funded(ex, 1)
    events = record(ex)
    with pytest.raises(SimError) as err:
        ex.place_order(OrderRequest(a, 0, BUY, req["qty"], req["price"]))
    assert (err.value.code, err.value.field) == (code, field)
    assert events == [] and ex.open_orders(a) == [] and ex.book_seq(0) == 0


def test_notional_at_minimum_is_accepted(make_exchange: Callable[..., Exchange]) -> None:
    ex = make_exchange(min_notional=30 * USD)
    (a,) = funded(ex, 1)
    assert ex.place_order(limit(a, BUY, 1000, 300_000)).is_open  # 0.1 ETH x 3000 = 300 USD
    with pytest.raises(SimError):
        ex.place_order(limit(a, BUY, 99, 300_000))  # 29.70 USD


def test_reduce_only_is_exempt_from_min_notional_where_the_venue_says_so(
        make_exchange: Callable[..., Exchange]) -> None:
    # Binance USD-M: "-4164 Order's notional must be no smaller than 5 (unless you choose reduce only)": a
    # position below the minimum notional can always be closed. Venues without that rule refuse it.
    for rules, exempt in ((BINANCE_RULES, True), (BACKPACK_RULES, False)):
        ex = make_exchange(rules, min_notional=30 * USD)
        a, b = funded(ex, 2)
        ex.place_order(limit(b, SELL, 1000, 300_000))
        ex.place_order(limit(a, BUY, 1000, 300_000))  # a: long 0.1 ETH
        ex.place_order(limit(b, BUY, 1000, 290_000))
        small_close = limit(a, SELL, 99, 290_000, reduce_only=True)  # 28.71 USD
        if exempt:
            assert ex.place_order(small_close).status is OrderStatus.FILLED
            assert ex.position(a, 0).size == 901
        else:
            with pytest.raises(SimError) as err:
                ex.place_order(small_close)
            assert err.value.code is ErrorCode.NOTIONAL_BELOW_MIN
        with pytest.raises(SimError):
            ex.place_order(limit(a, BUY, 99, 290_000))  # an opening order still needs the minimum


def test_price_band_around_last_trade(make_exchange: Callable[..., Exchange]) -> None:
    ex = make_exchange(band=PriceBand(750_000, 1_250_000, "last"))
    a, b = funded(ex, 2)
    assert ex.place_order(limit(a, BUY, 1, 10_000)).is_open  # no last price yet: no band
    ex.place_order(limit(a, SELL, 1, 300_000))
    ex.place_order(limit(b, BUY, 1, 300_000))
    assert ex.last_trade_price(0) == 300_000
    assert ex.place_order(limit(a, SELL, 1, 375_000)).is_open  # exactly 1.25x
    with pytest.raises(SimError) as err:
        ex.place_order(limit(a, SELL, 1, 375_001))
    assert err.value.code is ErrorCode.PRICE_OUT_OF_BAND
    with pytest.raises(SimError):
        ex.place_order(limit(a, BUY, 1, 224_999))


def test_market_order_band_limits_sweep(make_exchange: Callable[..., Exchange]) -> None:
    ex = make_exchange(market_order_band=PriceBand(970_000, 1_030_000, "last"))
    a, b = funded(ex, 2)
    ex.place_order(limit(a, SELL, 1, 100_000))
    ex.place_order(limit(b, BUY, 1, 100_000))
    ex.place_order(limit(a, SELL, 5, 103_000))
    ex.place_order(limit(a, SELL, 5, 103_100))
    view = ex.place_order(OrderRequest(b, 0, BUY, 10, order_type=OrderType.MARKET))
    assert view.filled == 5 and ex.best_bid_ask(0)[1] == 103_100
    # Now the last trade is 1030.00: a market sell may go down to 0.97 x 1030.00 = 999.10.
    ex.place_order(limit(a, BUY, 3, 99_910))
    ex.place_order(limit(a, BUY, 3, 99_909))
    sold = ex.place_order(OrderRequest(b, 0, SELL, 6, order_type=OrderType.MARKET))
    assert sold.filled == 3 and ex.best_bid_ask(0)[0] == 99_909


def test_client_ids_unique_among_open_and_queries(ex: Exchange) -> None:
    a, b = funded(ex, 2)
    first = ex.place_order(limit(a, BUY, 1, 290_000, client_id=7))
    with pytest.raises(SimError) as err:
        ex.place_order(limit(a, BUY, 1, 290_000, client_id=7))
    assert err.value.code is ErrorCode.DUPLICATE_CLIENT_ID
    assert ex.place_order(limit(b, BUY, 1, 290_000, client_id=7)).is_open  # other account: fine
    assert ex.get_order(a, 0, client_id=7).order_id == first.order_id
    cancelled = ex.cancel_order(a, 0, client_id=7)
    assert (cancelled.status, cancelled.reason) == (OrderStatus.CANCELLED, Reason.USER_CANCEL)
    assert ex.get_order(a, 0, order_id=first.order_id).status is OrderStatus.CANCELLED  # from history
    second = ex.place_order(limit(a, BUY, 1, 290_000, client_id=7))  # reusable once closed
    assert ex.get_order(a, 0, client_id=7).order_id == second.order_id
    with pytest.raises(SimError) as err:
        ex.cancel_order(a, 0, order_id=first.order_id)
    assert err.value.code is ErrorCode.ORDER_NOT_FOUND
    with pytest.raises(SimError) as err:
        ex.cancel_order(b, 0, order_id=second.order_id)
    assert err.value.code is ErrorCode.NOT_ORDER_OWNER
    with pytest.raises(SimError) as err:
        ex.cancel_order(a, 0, order_id=second.order_id, client_id=7)
    assert err.value.code is ErrorCode.INVALID_ORDER


def test_cancel_all_per_market_and_account(make_exchange: Callable[..., Exchange]) -> None:
    ex = make_exchange()
    ex.add_market(eth_spec(market_id=1, symbol="BTC_USDC_PERP"))
    (a,) = funded(ex, 1)
    for market in (0, 1):
        for i in range(3):
            ex.place_order(OrderRequest(a, market, BUY, 1, 100_000 + i))
    gone = ex.cancel_all(a, market=1)
    assert len(gone) == 3 and all(o.reason is Reason.CANCEL_ALL for o in gone)
    assert {o.market for o in ex.open_orders(a)} == {0}
    assert len(ex.cancel_all(a)) == 3 and ex.open_orders(a) == []
    assert ex.book_snapshot(0).bids == () and ex.book_snapshot(1).bids == ()


def test_open_order_limits(make_exchange: Callable[..., Exchange]) -> None:
    ex = make_exchange(VenueRules(max_open_orders_per_market=2, max_open_orders_per_account=3))
    ex.add_market(eth_spec(market_id=1, symbol="BTC_USDC_PERP"))
    (a,) = funded(ex, 1)
    ex.place_order(limit(a, BUY, 1, 100_000))
    ex.place_order(limit(a, BUY, 1, 100_001))
    with pytest.raises(SimError) as err:
        ex.place_order(limit(a, BUY, 1, 100_002))
    assert err.value.code is ErrorCode.TOO_MANY_OPEN_ORDERS_MARKET
    # IOC orders never rest, so the limit does not apply to them.
    ex.place_order(limit(a, BUY, 1, 100_002, time_in_force=TimeInForce.IOC))
    ex.place_order(OrderRequest(a, 1, BUY, 1, 100_000))
    with pytest.raises(SimError) as err:
        ex.place_order(OrderRequest(a, 1, BUY, 1, 100_001))
    assert err.value.code is ErrorCode.TOO_MANY_OPEN_ORDERS_ACCOUNT
    exempt = ex.create_account(10**20, config=AccountConfig(check_order_limits=False))
    for i in range(5):
        assert ex.place_order(limit(exempt, BUY, 1, 100_000 + i)).is_open


def test_cancel_on_disconnect(ex: Exchange) -> None:
    a, b = funded(ex, 2)
    ex.place_order(limit(a, BUY, 1, 290_000))
    ex.place_order(limit(b, BUY, 1, 290_000))
    ex.set_cancel_on_disconnect(b, False)
    assert [o.reason for o in ex.on_disconnect(a)] == [Reason.DISCONNECT]
    assert ex.on_disconnect(b) == [] and len(ex.open_orders(b)) == 1


def test_modify_keeps_or_loses_priority(ex: Exchange) -> None:
    a, b, t = funded(ex, 3)
    first = ex.place_order(limit(a, SELL, 5, 300_000))
    ex.place_order(limit(b, SELL, 5, 300_000))
    ex.modify_order(a, 0, first.order_id, quantity=3)  # smaller, same price: keeps its place
    events = record(ex)
    ex.place_order(limit(t, BUY, 1, 300_000))
    assert fills_of(events)[0][0] == a
    ex.modify_order(a, 0, first.order_id, price=300_000, quantity=4)  # larger: goes to the back
    events.clear()
    ex.place_order(limit(t, BUY, 1, 300_000))
    assert fills_of(events)[0][0] == b
    moved = ex.modify_order(a, 0, first.order_id, price=299_000)  # now crosses the bid? no bids: rests
    assert moved.price == 299_000 and moved.order_id == first.order_id and moved.is_open
    assert ex.best_bid_ask(0) == (None, 299_000)


def test_modify_that_crosses_trades(ex: Exchange) -> None:
    a, b = funded(ex, 2)
    ex.place_order(limit(a, SELL, 5, 300_000))
    bid = ex.place_order(limit(b, BUY, 5, 299_000))
    view = ex.modify_order(b, 0, bid.order_id, price=300_000)
    assert (view.filled, view.status) == (5, OrderStatus.FILLED)
    assert ex.position(b, 0).size == 5 and ex.open_orders(b) == []


def test_good_till_time_expiry(ex: Exchange) -> None:
    (a,) = funded(ex, 1)
    now = ex.clock.now_ns()
    view = ex.place_order(limit(a, BUY, 1, 290_000, expiry_ns=now + 1_000))
    ex.poll_timers()
    assert ex.get_order(a, 0, order_id=view.order_id).is_open
    ex.clock.advance(1_000)  # type: ignore[attr-defined]
    ex.poll_timers()
    done = ex.get_order(a, 0, order_id=view.order_id)
    assert (done.status, done.reason) == (OrderStatus.EXPIRED, Reason.EXPIRED_TIME)
    assert ex.book_snapshot(0).bids == ()


def test_event_order_and_book_deltas_replay_to_snapshot(ex: Exchange) -> None:
    a, b = funded(ex, 2)
    snap0 = ex.book_snapshot(0)
    events = record(ex)
    ex.place_order(limit(a, SELL, 5, 300_000))
    ex.place_order(limit(a, SELL, 5, 300_100))
    ex.place_order(limit(a, BUY, 5, 299_000))
    start = len(events)
    taker = ex.place_order(limit(b, BUY, 7, 300_100))
    kinds = [type(e).__name__ for e in events[start:]]
    one_match = ["FillEvent", "FillEvent", "TradeEvent", "OrderEvent", "OrderEvent"]
    assert kinds == [
        "OrderEvent",
        *one_match,
        *one_match,
        "PositionEvent",
        "PositionEvent",
        "BalanceEvent",
        "BalanceEvent",
        "BookDelta",
    ]
    taker_events = [e for e in events if isinstance(e, OrderEvent) and e.order.order_id == taker.order_id]
    assert [e.kind for e in taker_events] == [
        OrderEventKind.ACCEPTED,
        OrderEventKind.FILL,
        OrderEventKind.FILL,
    ]
    trades = [e for e in events if isinstance(e, TradeEvent)]
    assert [(t.price, t.quantity, t.taker_side) for t in trades] == [(300_000, 5, BUY), (300_100, 2, BUY)]
    deltas = [e for e in events if isinstance(e, BookDelta)]
    assert [d.seq for d in deltas] == list(range(snap0.seq + 1, snap0.seq + 1 + len(deltas)))
    assert all(d.prev_seq == d.seq - 1 for d in deltas)
    assert isinstance(events[-1], BookDelta)  # the book delta closes each operation
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for d in deltas:
        for side, levels in ((bids, d.bids), (asks, d.asks)):
            for lv in levels:
                if lv.size:
                    side[lv.price] = lv.size
                else:
                    side.pop(lv.price, None)
    snap = ex.book_snapshot(0)
    assert sorted(bids.items(), reverse=True) == [(lv.price, lv.size) for lv in snap.bids]
    assert sorted(asks.items()) == [(lv.price, lv.size) for lv in snap.asks]
    assert snap.seq == deltas[-1].seq


def test_l3_orders_in_priority(ex: Exchange) -> None:
    a, b = funded(ex, 2)
    o1 = ex.place_order(limit(a, BUY, 1, 299_000))
    o2 = ex.place_order(limit(b, BUY, 2, 299_000))
    o3 = ex.place_order(limit(b, BUY, 3, 299_500))
    bids, asks = ex.book_orders(0)
    assert [o.order_id for o in bids] == [o3.order_id, o1.order_id, o2.order_id] and asks == []


def test_decimal_parsing_at_the_edge() -> None:
    spec = eth_spec()
    assert spec.parse_price("3000.5") == 300_050
    assert spec.parse_quantity("0.0010") == 10
    assert spec.format_price(300_050) == "3000.50"
    with pytest.raises(SimError) as err:
        spec.parse_price("3000.001")
    assert err.value.code is ErrorCode.PRICE_DECIMALS_TOO_LONG
    with pytest.raises(SimError) as err:
        spec.parse_quantity("abc")
    assert err.value.code is ErrorCode.INVALID_QUANTITY and err.value.field == "quantity"


def test_unknown_market_and_account(ex: Exchange) -> None:
    (a,) = funded(ex, 1)
    with pytest.raises(SimError) as err:
        ex.place_order(OrderRequest(a, 9, BUY, 1, 1))
    assert err.value.code is ErrorCode.UNKNOWN_MARKET
    with pytest.raises(SimError) as err:
        ex.place_order(OrderRequest(99, 0, BUY, 1, 1))
    assert err.value.code is ErrorCode.UNKNOWN_ACCOUNT
    with pytest.raises(SimError):
        ex.market_by_symbol("NOPE")


def test_listener_may_call_back_into_the_exchange(ex: Exchange) -> None:
    a, b = funded(ex, 2)
    seen: list[object] = []

    def hedge(event: object) -> None:
        seen.append(event)
        if isinstance(event, FillEvent) and event.fill.account == b and not event.fill.is_maker:
            ex.cancel_all(a)  # re-entrant call: its events arrive after the current batch

    ex.subscribe(hedge)
    ex.place_order(limit(a, SELL, 5, 300_000))
    ex.place_order(limit(a, SELL, 5, 300_100))
    ex.place_order(limit(b, BUY, 1, 300_000))
    assert ex.open_orders(a) == []
    cancels = [e for e in seen if isinstance(e, OrderEvent) and e.kind is OrderEventKind.CANCELLED]
    assert len(cancels) == 2
    deltas = [e.seq for e in seen if isinstance(e, BookDelta)]
    assert deltas == sorted(deltas) and len(set(deltas)) == len(deltas)
