"""Market-data generator: a seeded price process that drives resting liquidity and taker flow into one or more
simulated venues through their public `Exchange` API (the generator is just a few more accounts).

Model (floats live only here, at the edge; every order sent is in integer ticks/steps):
- Underlying fair value F: geometric Brownian motion with Poisson jumps (normal log-jumps) and a Markov
  volatility regime (each regime scales the volatility; switches at a configurable hourly rate).
- Per-venue basis b: an Ornstein-Uhlenbeck process in bps with a configurable stationary amplitude and
  half-life, so the same underlying quoted on two venues shows a cross-venue spread (b_A - b_B) that opens
  and closes. Optional basis jumps (Poisson, normal sizes) model a venue dislocating on its own (a lagging
  book, a liquidation cascade on one venue); they decay with the same half-life. The venue's mid is
  F * (1 + b).
- A liquidity-provider account keeps a ladder of `levels` orders per side around the venue mid. Each book
  update re-quotes one ladder slot (`modify_order`, one engine operation, so about one book delta).
- A taker account sends IOC market orders with a worst price, so resting orders (the user's included) get
  filled by flow. Its side leans against its own inventory so that it stays bounded.
- Events arrive as Poisson processes at `updates_per_s` per feed.

Time comes from a `Clock`: `step(n)` / `advance(dt_s)` run in virtual time (needs a `VirtualClock`, which
they move), `run()` runs in real time on asyncio. The same seed and the same calls give the same books.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import random
from dataclasses import dataclass, field

from xtb.sim.clock import NS_PER_S, Clock, VirtualClock
from xtb.sim.engine import Exchange
from xtb.sim.types import (
    AccountConfig,
    OrderRequest,
    OrderType,
    SelfTradeMode,
    Side,
    SimError,
    TimeInForce,
)

SECONDS_PER_YEAR = 365.0 * 24 * 3600


@dataclass(frozen=True, slots=True)
class UnderlyingConfig:
    """The common fair-value process of one asset (e.g. ETH) quoted on several venues."""

    name: str
    start_price: float
    volatility: float = 0.6  # annualized, in the calm regime multiplier 1.0
    drift: float = 0.0  # annualized
    jumps_per_hour: float = 2.0
    jump_sigma: float = 0.003  # std of the log jump
    regime_multipliers: tuple[float, ...] = (1.0, 2.5)
    regime_switches_per_hour: float = 2.0


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """One market on one exchange that follows an underlying. Sizes are in the market's quantity units."""

    exchange: Exchange
    market: int
    underlying: str
    updates_per_s: float = 300.0
    basis_mean_bps: float = 0.0
    basis_amplitude_bps: float = 4.0  # stationary std of the venue basis
    basis_half_life_s: float = 20.0
    basis_jumps_per_min: float = 0.0  # Poisson rate of this venue's own basis dislocations (0: none)
    basis_jump_bps: float = 0.0  # std of a dislocation; it then decays with basis_half_life_s
    levels: int = 10
    half_spread_bps: float = 1.0  # best quote's distance from the mid (at least one tick)
    level_spacing_bps: float = 1.0  # distance between ladder levels (at least one tick)
    level_size: int = 10  # mean size per ladder order
    taker_fraction: float = 0.1  # share of events that are taker trades
    taker_size: int = 5  # mean taker order size
    taker_slippage_bps: float = 20.0  # the taker's worst price around the mid
    mark_interval_s: float = 1.0  # how often the mark/index price is pushed to the exchange
    lp_collateral: int = 10**30
    taker_collateral: int = 10**30


@dataclass(slots=True)
class _Underlying:
    cfg: UnderlyingConfig
    log_price: float
    regime: int = 0
    t_ns: int = 0

    @property
    def price(self) -> float:
        return math.exp(self.log_price)


@dataclass(slots=True)
class _Feed:
    cfg: FeedConfig
    index: int
    lp_account: int
    taker_account: int
    basis_bps: float
    t_ns: int
    next_mark_ns: int = 0
    slots: dict[tuple[int, int], int] = field(default_factory=dict)  # (side sign, level) -> order id
    updates: int = 0
    trades: int = 0


class MarketDataGenerator:
    """Drives one or more feeds. Create it after adding the markets to the exchanges; all exchanges and the
    generator must share `clock`."""

    def __init__(
        self, underlyings: list[UnderlyingConfig], feeds: list[FeedConfig], seed: int, clock: Clock
    ) -> None:
        if not feeds:
            raise ValueError("at least one feed is needed")
        self.clock = clock
        self._rng = random.Random(seed)
        now = clock.now_ns()
        self._underlyings = {u.name: _Underlying(u, math.log(u.start_price), 0, now) for u in underlyings}
        self._feeds: list[_Feed] = []
        self._queue: list[tuple[int, int]] = []  # (due ns, feed index)
        for i, cfg in enumerate(feeds):
            if cfg.underlying not in self._underlyings:
                raise ValueError(f"feed {i}: unknown underlying {cfg.underlying!r}")
            if cfg.updates_per_s <= 0 or cfg.levels <= 0 or cfg.level_size <= 0 or cfg.taker_size <= 0:
                raise ValueError(f"feed {i}: updates_per_s, levels, level_size, taker_size must be positive")
            if cfg.basis_amplitude_bps < 0 or cfg.basis_half_life_s <= 0:
                raise ValueError(f"feed {i}: basis_amplitude_bps must be >= 0 and basis_half_life_s > 0")
            if cfg.basis_jumps_per_min < 0 or cfg.basis_jump_bps < 0:
                raise ValueError(f"feed {i}: basis_jumps_per_min and basis_jump_bps must be >= 0")
            ex = cfg.exchange
            lp = ex.create_account(
                cfg.lp_collateral,
                config=AccountConfig(
                    check_margin=False, check_order_limits=False, cancel_on_disconnect=False
                ),
            )
            taker = ex.create_account(
                cfg.taker_collateral,
                config=AccountConfig(
                    check_margin=False, check_order_limits=False, cancel_on_disconnect=False
                ),
            )
            feed = _Feed(cfg, i, lp, taker, cfg.basis_mean_bps, now)
            self._feeds.append(feed)
            self._schedule(feed, now)
            self._push_mark(feed, now)
        for feed in self._feeds:  # a full ladder from the start, so the book is never empty
            for level in range(feed.cfg.levels):
                self._quote(feed, 1, level)
                self._quote(feed, -1, level)

    # ------------------------------------------------------------------ observation

    def fair_price(self, underlying: str) -> float:
        return self._underlyings[underlying].price

    def venue_mid(self, feed: int) -> float:
        """The feed's target mid in quote currency (fair value times the venue basis)."""
        f = self._feeds[feed]
        return self._underlyings[f.cfg.underlying].price * (1.0 + f.basis_bps * 1e-4)

    def basis_bps(self, feed: int) -> float:
        return self._feeds[feed].basis_bps

    def spread_bps(self, feed_a: int, feed_b: int) -> float:
        """The model's cross-venue spread between two feeds of the same underlying, in bps."""
        return self._feeds[feed_a].basis_bps - self._feeds[feed_b].basis_bps

    def accounts(self, feed: int) -> tuple[int, int]:
        """(liquidity provider, taker) account ids of a feed on its exchange."""
        f = self._feeds[feed]
        return f.lp_account, f.taker_account

    def counts(self, feed: int) -> tuple[int, int]:
        """(book updates sent, taker orders sent) so far."""
        f = self._feeds[feed]
        return f.updates, f.trades

    # ------------------------------------------------------------------ deterministic shocks (tests, demos)

    def shift_fair_price(self, underlying: str, factor: float) -> float:
        """Multiply an underlying's fair value by `factor` at once (0.98 = a 2 % drop); every venue quoting
        it follows as its ladder re-quotes. Returns the new fair value."""
        if not factor > 0:
            raise ValueError(f"factor must be > 0, got {factor}")
        try:
            und = self._underlyings[underlying]
        except KeyError:
            raise KeyError(f"unknown underlying {underlying!r}") from None
        und.log_price += math.log(factor)
        return und.price

    def feed_index(self, exchange: Exchange, market: int) -> int:
        """The feed that quotes `market` on `exchange`."""
        for f in self._feeds:
            if f.cfg.exchange is exchange and f.cfg.market == market:
                return f.index
        raise KeyError(f"no feed for market {market} on this exchange")

    def set_basis_bps(self, feed: int, bps: float) -> None:
        """Set a feed's venue basis now; it then follows its Ornstein-Uhlenbeck process (decays to the mean)."""
        self._feeds[feed].basis_bps = bps

    # ------------------------------------------------------------------ driving

    def step(self, n: int = 1) -> None:
        """Run the next `n` events in virtual time (moves the VirtualClock to each event)."""
        clock = self._virtual_clock()
        for _ in range(n):
            due, index = heapq.heappop(self._queue)
            clock.set(max(due, clock.now_ns()))
            self._run_event(self._feeds[index], due)

    def advance(self, dt_s: float) -> None:
        """Run every event due within the next `dt_s` seconds of virtual time, then move the clock there."""
        clock = self._virtual_clock()
        end = clock.now_ns() + int(dt_s * NS_PER_S)
        while self._queue and self._queue[0][0] <= end:
            due, index = heapq.heappop(self._queue)
            clock.set(max(due, clock.now_ns()))
            self._run_event(self._feeds[index], due)
        clock.set(end)
        for ex in {id(f.cfg.exchange): f.cfg.exchange for f in self._feeds}.values():
            ex.poll_timers()

    async def run(
        self, duration_s: float | None = None, stop: asyncio.Event | None = None, max_batch: int = 2_000
    ) -> None:
        """Run in real time on the running event loop until `duration_s` passes or `stop` is set.
        Events that fell due while the loop was busy run in batches of at most `max_batch`."""
        start = self.clock.now_ns()
        end = None if duration_s is None else start + int(duration_s * NS_PER_S)
        exchanges = {id(f.cfg.exchange): f.cfg.exchange for f in self._feeds}.values()
        while True:
            now = self.clock.now_ns()
            if (end is not None and now >= end) or (stop is not None and stop.is_set()):
                return
            done = 0
            while self._queue and self._queue[0][0] <= now and done < max_batch:
                due, index = heapq.heappop(self._queue)
                self._run_event(self._feeds[index], due)
                done += 1
            for ex in exchanges:
                ex.poll_timers()
            wait_ns = (self._queue[0][0] - self.clock.now_ns()) if self._queue else 10_000_000
            await asyncio.sleep(min(max(wait_ns, 0) / NS_PER_S, 0.01))

    # ------------------------------------------------------------------ internals

    def _virtual_clock(self) -> VirtualClock:
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("step()/advance() need a VirtualClock; use run() with a real clock")
        return self.clock

    def _schedule(self, feed: _Feed, now: int) -> None:
        gap_s = self._rng.expovariate(feed.cfg.updates_per_s)
        heapq.heappush(self._queue, (now + max(1, int(gap_s * NS_PER_S)), feed.index))

    def _evolve(self, feed: _Feed, t_ns: int) -> None:
        rng = self._rng
        und = self._underlyings[feed.cfg.underlying]
        if t_ns > und.t_ns:
            cfg = und.cfg
            dt = (t_ns - und.t_ns) / NS_PER_S
            hours = dt / 3600.0
            if rng.random() < cfg.regime_switches_per_hour * hours and len(cfg.regime_multipliers) > 1:
                und.regime = (und.regime + 1 + rng.randrange(len(cfg.regime_multipliers) - 1)) % len(
                    cfg.regime_multipliers
                )
            sigma = cfg.volatility * cfg.regime_multipliers[und.regime]
            dt_y = dt / SECONDS_PER_YEAR
            und.log_price += (cfg.drift - 0.5 * sigma * sigma) * dt_y + sigma * math.sqrt(dt_y) * rng.gauss()
            if rng.random() < cfg.jumps_per_hour * hours:
                und.log_price += rng.gauss(0.0, cfg.jump_sigma)
            und.t_ns = t_ns
        if t_ns > feed.t_ns:
            fc = feed.cfg
            dt = (t_ns - feed.t_ns) / NS_PER_S
            decay = math.exp(-math.log(2.0) * dt / fc.basis_half_life_s)
            noise = fc.basis_amplitude_bps * math.sqrt(max(0.0, 1.0 - decay * decay))
            feed.basis_bps = (
                fc.basis_mean_bps + (feed.basis_bps - fc.basis_mean_bps) * decay + noise * rng.gauss()
            )
            # Drawn only when jumps are on, so the default random stream (and every seeded book) is unchanged.
            if fc.basis_jumps_per_min > 0 and rng.random() < -math.expm1(-fc.basis_jumps_per_min * dt / 60.0):
                feed.basis_bps += rng.gauss(0.0, fc.basis_jump_bps)
            feed.t_ns = t_ns

    def _run_event(self, feed: _Feed, due: int) -> None:
        self._evolve(feed, due)
        now = self.clock.now_ns()
        if now >= feed.next_mark_ns:
            self._push_mark(feed, now)
        if self._rng.random() < feed.cfg.taker_fraction:
            self._take(feed)
        else:
            side = 1 if self._rng.random() < 0.5 else -1
            # Inner levels are re-quoted more often than deep ones, as on a real book.
            self._quote(feed, side, int(self._rng.random() ** 2 * feed.cfg.levels))
        self._schedule(feed, due)

    def _push_mark(self, feed: _Feed, now: int) -> None:
        ex = feed.cfg.exchange
        spec = ex.market(feed.cfg.market)
        scale = 10.0**spec.price_decimals
        mark = max(spec.tick, round(self.venue_mid(feed.index) * scale / spec.tick) * spec.tick)
        index = max(spec.tick, round(self.fair_price(feed.cfg.underlying) * scale / spec.tick) * spec.tick)
        ex.set_mark_price(feed.cfg.market, mark, index)
        feed.next_mark_ns = now + int(feed.cfg.mark_interval_s * NS_PER_S)

    def _size(self, mean: int, step: int, minimum: int) -> int:
        raw = self._rng.expovariate(1.0 / mean)
        units = max(minimum, int(raw) // step * step)
        return -(-units // step) * step

    def _quote(self, feed: _Feed, side_sign: int, level: int) -> None:
        """Re-quote one ladder slot at its target price for the current mid."""
        cfg = feed.cfg
        ex = cfg.exchange
        spec = ex.market(cfg.market)
        tick = spec.tick
        mid = self.venue_mid(feed.index) * 10.0**spec.price_decimals / tick  # in ticks (float)
        half_spread = max(1, round(mid * cfg.half_spread_bps * 1e-4))
        spacing = max(1, round(mid * cfg.level_spacing_bps * 1e-4))
        offset = half_spread + level * spacing
        # ceil/floor keep a mid that sits exactly on a tick from being quoted on both sides.
        if side_sign > 0:
            price = (math.ceil(mid) - offset) * tick
        else:
            price = (math.floor(mid) + offset) * tick
        if price <= 0:
            return
        size = self._size(cfg.level_size, spec.step, spec.min_quantity)
        key = (side_sign, level)
        order_id = feed.slots.get(key)
        feed.updates += 1
        if order_id is not None:
            try:
                view = ex.modify_order(feed.lp_account, cfg.market, order_id, quantity=size, price=price)
                if view.is_open:
                    return
                del feed.slots[key]
                return
            except SimError:
                del feed.slots[key]  # filled or cancelled since: place a fresh one
        side = Side.BUY if side_sign > 0 else Side.SELL
        try:
            view = ex.place_order(
                OrderRequest(
                    feed.lp_account, cfg.market, side, size, price, self_trade=SelfTradeMode.REJECT_MAKER
                )
            )
        except SimError:
            return  # e.g. out of a price band after a jump; the next update retries
        if view.is_open:
            feed.slots[key] = view.order_id

    def _take(self, feed: _Feed) -> None:
        cfg = feed.cfg
        ex = cfg.exchange
        spec = ex.market(cfg.market)
        pos = ex.position(feed.taker_account, cfg.market).size
        lean = max(-0.4, min(0.4, -pos / (20.0 * cfg.taker_size)))
        side = Side.BUY if self._rng.random() < 0.5 + lean else Side.SELL
        mid = self.venue_mid(feed.index) * 10.0**spec.price_decimals
        slip = 1.0 + side.sign * cfg.taker_slippage_bps * 1e-4
        worst = max(spec.tick, int(mid * slip / spec.tick) * spec.tick)
        size = self._size(cfg.taker_size, spec.step, spec.min_quantity)
        feed.trades += 1
        try:
            ex.place_order(
                OrderRequest(
                    feed.taker_account,
                    cfg.market,
                    side,
                    size,
                    worst,
                    order_type=OrderType.MARKET,
                    time_in_force=TimeInForce.IOC,
                    self_trade=SelfTradeMode.REJECT_TAKER,
                )
            )
        except SimError:
            pass  # refused (e.g. band); flow resumes at the next event
