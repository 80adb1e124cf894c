"""Simulator benchmarks.

- group `sim_matching`: replay one fixed order stream (limit GTC/IOC orders around a mid, some crossing, and
  cancels) into a naive list-scan book that does the same price-time matching, partial fills and position
  and cash bookkeeping (`baseline_*`), and into `xtb.sim.Exchange` (`xtb_*`), which also validates, charges
  fees and tracks margin exposure. Figure: time per stream; orders/s = ops / median.
- group `sim_generator`: one virtual second of a market at 5,000 book updates/s. The baseline drives the naive
  book with the same event mix (a mid random walk, ladder re-quotes as cancel + place, 10 % taker IOCs);
  the xtb case runs `MarketDataGenerator` on an `Exchange`. A separate test runs the generator for a bounded
  stretch under tracemalloc and checks that memory stays flat.

Run: python -m pytest bench/bench_sim.py --benchmark-group-by=group --benchmark-columns=median,iqr,ops,rounds
"""

from __future__ import annotations

import math
import random
import tracemalloc
from typing import Any

import pytest

from xtb.sim import (
    Exchange,
    FeedConfig,
    MarketDataGenerator,
    MarketSpec,
    OrderRequest,
    SelfTradeMode,
    Side,
    SimError,
    TimeInForce,
    UnderlyingConfig,
    VenueRules,
    VirtualClock,
)

N_OPS = 5_000
MID = 300_000
SCALE = 10**4


def order_stream(n: int, seed: int = 42) -> list[tuple[Any, ...]]:
    """("place", account, is_buy, price, qty, ioc) or ("cancel", index of an earlier place)."""
    rng = random.Random(seed)
    ops: list[tuple[Any, ...]] = []
    places = 0
    for _ in range(n):
        r = rng.random()
        if r < 0.25 and places:
            ops.append(("cancel", rng.randrange(places)))
            continue
        is_buy = rng.random() < 0.5
        # Mostly passive around the mid, sometimes crossing by a few ticks.
        offset = rng.randint(-5, 60)
        price = MID - offset if is_buy else MID + offset
        ops.append(("place", rng.randrange(4), is_buy, price, rng.randint(1, 20), rng.random() < 0.1))
        places += 1
    return ops


STREAM = order_stream(N_OPS)


class NaiveBook:
    """A careful-but-simple book: per side a list of [seq, order_id, account, price, qty]; the best order is
    found by scanning. Same matching rules as the engine (price-time priority, partial fills, IOC)."""

    def __init__(self) -> None:
        self.bids: list[list[int]] = []
        self.asks: list[list[int]] = []
        self.where: dict[int, list[list[int]]] = {}
        self.position: dict[int, int] = {}
        self.cash: dict[int, int] = {}
        self.seq = 0

    def place(self, order_id: int, account: int, is_buy: bool, price: int, qty: int, ioc: bool) -> None:
        opposite = self.asks if is_buy else self.bids
        while qty > 0 and opposite:
            best = opposite[0]
            for o in opposite:
                if (o[3] < best[3] if is_buy else o[3] > best[3]) or (o[3] == best[3] and o[0] < best[0]):
                    best = o
            if (best[3] > price) if is_buy else (best[3] < price):
                break
            take = min(qty, best[4])
            best[4] -= take
            qty -= take
            value = best[3] * take * SCALE
            sign = 1 if is_buy else -1
            self.position[account] = self.position.get(account, 0) + sign * take
            self.position[best[2]] = self.position.get(best[2], 0) - sign * take
            self.cash[account] = self.cash.get(account, 0) - sign * value
            self.cash[best[2]] = self.cash.get(best[2], 0) + sign * value
            if best[4] == 0:
                opposite.remove(best)
                del self.where[best[1]]
        if qty > 0 and not ioc:
            self.seq += 1
            side = self.bids if is_buy else self.asks
            entry = [self.seq, order_id, account, price, qty]
            side.append(entry)
            self.where[order_id] = side

    def cancel(self, order_id: int) -> None:
        side = self.where.pop(order_id, None)
        if side is None:
            return
        for i, o in enumerate(side):
            if o[1] == order_id:
                del side[i]
                return


def replay_naive(ops: list[tuple[Any, ...]]) -> NaiveBook:
    book = NaiveBook()
    placed = 0
    for op in ops:
        if op[0] == "place":
            _, account, is_buy, price, qty, ioc = op
            book.place(placed, account, is_buy, price, qty, ioc)
            placed += 1
        else:
            book.cancel(op[1])
    return book


def make_exchange() -> tuple[Exchange, list[int]]:
    ex = Exchange(VenueRules(), VirtualClock())
    ex.add_market(MarketSpec(0, "ETH_USDC_PERP", 2, 4))
    accounts = [ex.create_account(10**20) for _ in range(4)]
    return ex, accounts


_ALLOW = SelfTradeMode.ALLOW  # the naive book has no self-trade prevention; keep the work identical


def test_engine_and_naive_agree() -> None:
    naive = replay_naive(STREAM)
    ex, accounts = make_exchange()
    _replay_owned(ex, accounts, STREAM)
    bids, asks = ex.book_orders(0)
    assert sorted((o[3], o[4]) for o in naive.bids) == sorted((o.price, o.remaining) for o in bids)
    assert sorted((o[3], o[4]) for o in naive.asks) == sorted((o.price, o.remaining) for o in asks)
    for i, acct in enumerate(accounts):
        assert ex.position(acct, 0).size == naive.position.get(i, 0)


def _replay_owned(ex: Exchange, accounts: list[int], ops: list[tuple[Any, ...]]) -> None:
    """Replay with cancels addressed to the right owner (what a protocol server would do)."""
    owners: list[tuple[int, int]] = []
    for op in ops:
        if op[0] == "place":
            _, account, is_buy, price, qty, ioc = op
            view = ex.place_order(
                OrderRequest(
                    accounts[account],
                    0,
                    Side.BUY if is_buy else Side.SELL,
                    qty,
                    price,
                    time_in_force=TimeInForce.IOC if ioc else TimeInForce.GTC,
                    self_trade=_ALLOW,
                )
            )
            owners.append((accounts[account], view.order_id))
        else:
            acct, order_id = owners[op[1]]
            try:
                ex.cancel_order(acct, 0, order_id=order_id)
            except SimError:
                pass  # already filled or cancelled


@pytest.mark.benchmark(group="sim_matching")
def test_baseline_naive_list_book(benchmark: Any) -> None:
    book = benchmark(replay_naive, STREAM)
    assert book.bids or book.asks


@pytest.mark.benchmark(group="sim_matching")
def test_xtb_engine(benchmark: Any) -> None:
    def run() -> Exchange:
        ex, accounts = make_exchange()
        _replay_owned(ex, accounts, STREAM)
        return ex

    ex = benchmark(run)
    assert ex.book_seq(0) > 0


# ---------------------------------------------------------------- generator

RATE = 5_000.0  # book updates per second per market


def naive_generator_second(seed: int = 1) -> NaiveBook:
    """One virtual second at RATE: a mid random walk, a 2 x 10 ladder re-quoted by cancel + place, 10 %
    taker IOCs, with exponential sizes and Poisson arrivals drawn like the real generator's."""
    rng = random.Random(seed)
    book = NaiveBook()
    log_mid = math.log(3000.0)
    slots: dict[tuple[int, int], int] = {}
    next_id = 0
    t = 0.0
    while True:
        dt = rng.expovariate(RATE)
        t += dt
        if t >= 1.0:
            return book
        log_mid += 0.6 * math.sqrt(dt / 31_536_000.0) * rng.gauss()
        mid = math.exp(log_mid) * 100.0
        next_id += 1
        if rng.random() < 0.1:
            is_buy = rng.random() < 0.5
            worst = int(mid * (1.002 if is_buy else 0.998))
            book.place(next_id, 1, is_buy, worst, max(1, int(rng.expovariate(0.2))), True)
            continue
        side = 1 if rng.random() < 0.5 else -1
        level = int(rng.random() ** 2 * 10)
        offset = max(1, round(mid * 1e-4)) * (level + 1)
        price = math.ceil(mid) - offset if side > 0 else math.floor(mid) + offset
        old = slots.pop((side, level), None)
        if old is not None:
            book.cancel(old)
        book.place(next_id, 0, side > 0, price, max(1, int(rng.expovariate(0.1))), False)
        slots[(side, level)] = next_id


def make_generator(seed: int = 1, history: int = 1_000) -> tuple[MarketDataGenerator, Exchange]:
    clock = VirtualClock()
    ex = Exchange(VenueRules(history_per_account=history), clock)
    ex.add_market(MarketSpec(0, "ETH_USDC_PERP", 2, 4))
    feed = FeedConfig(ex, 0, "ETH", updates_per_s=RATE)
    return MarketDataGenerator([UnderlyingConfig("ETH", 3000.0)], [feed], seed=seed, clock=clock), ex


@pytest.mark.benchmark(group="sim_generator")
def test_baseline_generator_naive_book(benchmark: Any) -> None:
    book = benchmark(naive_generator_second)
    assert book.bids and book.asks


@pytest.mark.benchmark(group="sim_generator")
def test_xtb_generator_one_virtual_second(benchmark: Any) -> None:
    gen, ex = make_generator()
    benchmark(gen.advance, 1.0)
    updates, _ = gen.counts(0)
    assert updates > 0 and ex.best_bid_ask(0)[0] is not None
    benchmark.extra_info["updates_per_virtual_second"] = RATE


def test_generator_memory_stays_flat() -> None:
    """Bounded run at 5,000 updates/s: once warm (under tracing, so that objects replaced later were
    traced when made), 6 more virtual seconds (about 30k updates) must not grow traced memory by more than
    64 KiB. A small closed-order history keeps the warm-up short; the bound is what keeps memory flat."""
    gen, _ = make_generator(history=100)
    tracemalloc.start()
    try:
        gen.advance(3.0)
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(6):
            gen.advance(1.0)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    updates, _ = gen.counts(0)
    assert updates > 40_000
    assert after - before < 64 * 1024, (before, after)
