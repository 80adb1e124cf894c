"""Market-data generator: determinism per seed, rates, fills for resting users, cross-venue spread cycles."""

from __future__ import annotations

import asyncio

import pytest

from xtb.sim import (
    BookDelta,
    Exchange,
    FeedConfig,
    MarketDataGenerator,
    RealClock,
    Side,
    UnderlyingConfig,
    VenueRules,
    VirtualClock,
)
from xtb.sim.backpack.dialect import RULES as BACKPACK_RULES
from xtb.sim.lighter.dialect import RULES as LIGHTER_RULES

from .helpers import eth_spec, funded, limit

ETH = UnderlyingConfig("ETH", 3000.0)


def two_venues(
    seed: int, clock: VirtualClock | RealClock | None = None, **feed: object
) -> tuple[MarketDataGenerator, Exchange, Exchange]:
    clock = clock or VirtualClock()
    a = Exchange(BACKPACK_RULES, clock)
    b = Exchange(LIGHTER_RULES, clock)
    a.add_market(eth_spec())
    b.add_market(eth_spec(symbol="ETH"))
    feeds = [FeedConfig(a, 0, "ETH", **feed), FeedConfig(b, 0, "ETH", **feed)]  # type: ignore[arg-type]
    return MarketDataGenerator([ETH], feeds, seed=seed, clock=clock), a, b


def mid(ex: Exchange) -> float:
    bid, ask = ex.best_bid_ask(0)
    assert bid is not None and ask is not None and bid < ask
    return (bid + ask) / 2


def fingerprint(gen: MarketDataGenerator, a: Exchange, b: Exchange) -> tuple[object, ...]:
    return (
        a.book_snapshot(0).bids,
        a.book_snapshot(0).asks,
        b.book_snapshot(0).bids,
        gen.counts(0),
        gen.counts(1),
        a.last_trade_price(0),
        gen.fair_price("ETH"),
    )


def test_same_seed_same_market_different_seed_different() -> None:
    runs = []
    for seed in (7, 7, 8):
        gen, a, b = two_venues(seed)
        gen.advance(3.0)
        gen.step(100)
        runs.append(fingerprint(gen, a, b))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_book_update_rate_and_two_sided_book() -> None:
    gen, a, _ = two_venues(1, updates_per_s=500.0)
    gen.advance(1.0)  # warm up
    deltas: list[BookDelta] = []
    a.subscribe(lambda e: deltas.append(e) if isinstance(e, BookDelta) else None)
    for _ in range(10):
        gen.advance(1.0)
        mid(a)  # never crossed, never one-sided
        assert a.mark_price(0) is not None and a.index_price(0) is not None
    rate = len(deltas) / 10.0
    assert 400 <= rate <= 650, rate
    assert all(d.prev_seq == d.seq - 1 for d in deltas)


def test_full_ladder_on_a_venue_with_order_caps() -> None:
    gen, _, b = two_venues(2)  # b: Lighter rules, 16 open orders per market for ordinary accounts
    gen.advance(0.5)
    lp, _ = gen.accounts(1)
    assert len(b.open_orders(lp)) > b.rules.max_open_orders_per_market  # type: ignore[operator]


def test_resting_user_order_gets_filled_by_flow() -> None:
    gen, a, _ = two_venues(3)
    gen.advance(1.0)
    (user,) = funded(a, 1)
    bid, ask = a.best_bid_ask(0)
    assert bid is not None and ask is not None
    a.place_order(limit(user, Side.BUY, 2, bid + 1))  # improve the best bid by one tick
    gen.advance(5.0)
    assert a.position(user, 0).size == 2
    assert a.open_orders(user) == []


def test_cross_venue_spread_opens_and_closes() -> None:
    gen, a, b = two_venues(11, updates_per_s=40.0, basis_amplitude_bps=5.0, basis_half_life_s=5.0)
    opened = {1: 0, -1: 0}
    state = 0  # 0 closed, +-1 open in that direction
    model_max = 0.0
    for _ in range(300):
        gen.advance(1.0)
        observed = (mid(a) / mid(b) - 1.0) * 1e4
        model_max = max(model_max, abs(gen.spread_bps(0, 1)))
        if state == 0 and abs(observed) > 5.0:
            state = 1 if observed > 0 else -1
            opened[state] += 1
        elif state != 0 and abs(observed) < 1.0:
            state = 0
    assert opened[1] >= 2 and opened[-1] >= 2, opened  # opens both ways and closes in between
    assert model_max < 40.0  # the basis stays stationary (amplitude 5 bps per venue)


def test_virtual_driving_needs_a_virtual_clock() -> None:
    gen, _, _ = two_venues(1, clock=RealClock())
    with pytest.raises(TypeError):
        gen.step(1)


def test_bad_feed_config_is_refused() -> None:
    clock = VirtualClock()
    ex = Exchange(VenueRules(), clock)
    ex.add_market(eth_spec())
    with pytest.raises(ValueError, match="unknown underlying"):
        MarketDataGenerator([ETH], [FeedConfig(ex, 0, "BTC")], seed=1, clock=clock)
    with pytest.raises(ValueError, match="positive"):
        MarketDataGenerator([ETH], [FeedConfig(ex, 0, "ETH", levels=0)], seed=1, clock=clock)


async def test_runs_in_real_time_on_asyncio() -> None:
    gen, a, _ = two_venues(5, clock=RealClock(), updates_per_s=1000.0)
    stop = asyncio.Event()
    task = asyncio.create_task(gen.run(duration_s=5.0, stop=stop))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(task, 2.0)
    updates, _ = gen.counts(0)
    assert 100 <= updates <= 1_000  # about 300 in 0.3 s, with slack for a busy machine
    mid(a)
