"""Synthetic event journals: a random-walk mid written as top-of-book updates by the core's journal writer.

    write_synthetic_journal("syn/events.journal", MidWalk(s0=100, sigma=2, dt_s=0.005, horizon_s=1, seed=7))

The file is a real journal (the same `Journal` writer a run uses, the same format) plus its markets side file, so
`xtb replay` reads it like any recorded run. The mid starts at `s0` and takes `round(horizon_s / dt_s)` steps of
`dt_s` seconds: `binomial` moves +/- sigma*sqrt(dt) with probability 1/2 each (Avellaneda & Stoikov's
simulation), `gaussian` adds sigma*sqrt(dt)*N(0, 1) (Brownian motion sampled every dt). Each step is one book
update at recorded time start + i*dt: the best bid is the mid rounded down to the tick, the best ask
`spread_ticks` ticks above it, both `touch_size` deep. The market has no fees; `sigma` is in price units
(quote per base unit) per sqrt(second), as the strategies' volatility is.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from xtb._core import BookUpdate, EventRing, Journal
from xtb.model.types import MarketInfo
from xtb.telemetry.journal_markets import write_markets

WALKS = ("binomial", "gaussian")
NS_PER_S = 1_000_000_000


class SynthError(ValueError):
    """A bad generator parameter: `param` names it (the CLI option is `--` + param with dashes)."""

    def __init__(self, param: str, detail: str) -> None:
        super().__init__(f"{param}: {detail}")
        self.param, self.detail = param, detail


@dataclass(frozen=True)
class MidWalk:
    """The mid's random walk (prices in quote currency per base unit, times in seconds)."""

    s0: float = 100.0
    sigma: float = 2.0
    dt_s: float = 0.005
    horizon_s: float = 1.0
    tick: Decimal = Decimal("0.0001")
    walk: Literal["binomial", "gaussian"] = "binomial"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("s0", "dt_s", "horizon_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise SynthError(name, f"must be a finite number > 0 (got {v!r})")
        if not (math.isfinite(self.sigma) and self.sigma >= 0):
            raise SynthError("sigma", f"must be a finite number >= 0 (got {self.sigma!r})")
        if self.walk not in WALKS:
            raise SynthError("walk", f"expected one of {', '.join(WALKS)} (got {self.walk!r})")
        try:
            tick = Decimal(self.tick)
        except (InvalidOperation, TypeError, ValueError):
            raise SynthError("tick", f"not a decimal number (got {self.tick!r})") from None
        if not (tick.is_finite() and tick > 0):
            raise SynthError("tick", f"must be > 0 (got {self.tick!r})")
        object.__setattr__(self, "tick", tick)
        if self.dt_ns < 1 or abs(self.dt_s * NS_PER_S - self.dt_ns) > 1e-6 * self.dt_ns:
            raise SynthError("dt_s", f"must be a whole number of nanoseconds (got {self.dt_s!r})")
        if abs(self.steps * self.dt_s - self.horizon_s) > 1e-9 * self.horizon_s or self.steps < 1:
            raise SynthError("horizon_s", f"must be a whole number of steps of dt_s={self.dt_s} "
                                          f"(got {self.horizon_s!r})")

    @property
    def dt_ns(self) -> int:
        return round(self.dt_s * NS_PER_S)

    @property
    def steps(self) -> int:
        return round(self.horizon_s / self.dt_s)

    @property
    def price_decimals(self) -> int:
        return max(0, -int(self.tick.normalize().as_tuple().exponent))

    @property
    def tick_units(self) -> int:
        return int(self.tick.scaleb(self.price_decimals))

    def mids(self) -> Iterator[float]:
        """s0 and the mid after each of the `steps` steps (seeded: the same seed gives the same path)."""
        rng = random.Random(self.seed)
        step = self.sigma * math.sqrt(self.dt_s)
        s = self.s0
        yield s
        for _ in range(self.steps):
            if self.walk == "binomial":
                s += step if rng.random() < 0.5 else -step
            else:
                s += step * rng.gauss(0.0, 1.0)
            yield s


@dataclass(frozen=True)
class SynthJournal:
    path: Path
    markets_path: Path
    market: MarketInfo
    book_id: int
    events: int
    first_ns: int  # recorded time of the first book update
    last_mid: float  # the last book's mid (best bid + ask) / 2, in price (quote per base unit)


def write_synthetic_journal(
    path: str | Path,
    walk: MidWalk,
    *,
    venue: str = "backpack",
    symbol: str = "SYN_USDC_PERP",
    book_id: int = 0,
    size_decimals: int = 2,
    touch_size: Decimal = Decimal(100),
    spread_ticks: int = 1,
    start_ns: int | None = None,
) -> SynthJournal:
    """Write `walk` as a journal of top-of-book updates at `path` (and its markets file); see the module doc.
    `start_ns`: recorded (monotonic) time of the first update, default now."""
    if not 0 <= size_decimals <= 18:
        raise SynthError("size_decimals", f"must be 0..18 (got {size_decimals!r})")
    if spread_ticks < 1:
        raise SynthError("spread_ticks", f"must be >= 1 (got {spread_ticks!r})")
    size = Decimal(touch_size).scaleb(size_decimals)
    if not (size > 0 and size == size.to_integral_value()):
        raise SynthError("touch_size", f"must be > 0 and a whole number of 10^-{size_decimals} (got {touch_size})")
    path = Path(path)
    if not path.parent.is_dir():
        raise SynthError("path", f"directory {path.parent} does not exist")
    try:
        BookUpdate(venue, book_id)
    except (ValueError, TypeError, OverflowError) as e:
        raise SynthError("venue" if isinstance(e, ValueError) else "book_id", str(e).removeprefix("venue: ")) from None
    pd, tick = walk.price_decimals, walk.tick_units
    market = MarketInfo(venue=venue, symbol=symbol, base=symbol.split("_")[0], quote="USD", price_decimals=pd,
                        size_decimals=size_decimals, tick=tick, step=1, min_size=1, min_notional=0)
    t0 = time.monotonic_ns() if start_ns is None else start_ns
    meta = {"synthetic": {**asdict(walk), "tick": str(walk.tick), "venue": venue, "symbol": symbol,
                          "book_id": book_id, "spread_ticks": spread_ticks, "touch_size": str(touch_size)}}
    sz, scale = int(size), 10**pd
    ring = EventRing(1 << 12)
    events = 0
    bid = ask = 0
    with Journal(ring, path, meta=json.dumps(meta)) as j:
        for i, mid in enumerate(walk.mids()):
            bid = math.floor(mid * scale / tick) * tick
            if bid <= 0:
                j.close()
                path.unlink(missing_ok=True)  # no half-written journal left behind
                raise SynthError("s0", f"the mid fell to {mid:.6g} at step {i}: raise s0 or lower sigma")
            ask = bid + spread_ticks * tick
            ring.push(BookUpdate(venue, book_id, (bid, sz), (ask, sz), book_seq=i + 1, recv_ns=t0 + i * walk.dt_ns))
            events += 1
            if len(ring) >= 2048:
                ring.drain()
            if events % 32_768 == 0:
                j.flush()  # keep the writer's tap (65536 events) from overflowing: books would be dropped
        j.close()
        if j.dropped:
            raise RuntimeError(f"{path}: the journal writer dropped {j.dropped} book updates")
    mpath = write_markets(path, {venue: {book_id: market}})
    return SynthJournal(path, mpath, market, book_id, events, t0, (bid + ask) / 2 / scale)
