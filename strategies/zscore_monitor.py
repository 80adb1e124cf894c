"""Z-score spread monitor: mean-reversion signals on the spread between two markets.

For each configured pair (two markets on the same or different venues) the monitor samples both mids every
`sample_interval_ms`, forms the spread `P_A − P_B` in quote units (or `ln(P_A / P_B)` for pairs of
different underlyings), and keeps its rolling mean and standard deviation over the last `lookback_secs`
(a time-windowed deque with running sums: O(1) per sample). `z = (spread − mean) / std`.

- z ≥ enter_z_high: A rich, B cheap -> short A, long B; z ≤ −enter_z_high: the reverse. No entry beyond
  stop_z (it would be stopped at once), within `min_reentry_secs` of the last exit, when either leg's book
  is thinner than `min_liquidity_usd` within `max_slippage_bps` of the touch, when filling the order size
  would slip more than `max_slippage_bps`, or when the gross notional would pass `max_gross_notional_usd`.
- Exit once z is back within `exit_z_low` of the mean (or past it) after `min_hold_secs`; stop at once when
  z runs to `stop_z` against the position.

Modes: `reminder` only emits signals (logged, and recorded as `signals` rows); `auto` also trades both legs
with market orders bounded by a worst price: the thinner leg first, then the other leg sized to what the
first one filled; exits are reduce-only. Every sample is recorded as a `spreads` row (pair, spread, mean,
std, z) for the run's SQLite recorder.

Floats are used for the statistics only; orders are integer venue units, rounded down to the step.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from xtb.api import Context, MarketInfo, OrderDenied, Params, Side, Strategy, register_strategy

BPS = 10_000


# --- params --------------------------------------------------------------------------------------------
class PairSpec(Params):
    name: str = Field(description="label in logs and records, e.g. SOL-bp-lg")
    venue_a: str
    symbol_a: str
    venue_b: str
    symbol_b: str


def _default_pairs() -> list[PairSpec]:
    return [PairSpec(name="SOL", venue_a="backpack", symbol_a="SOL_USDC_PERP", venue_b="lighter", symbol_b="SOL")]


class ZScoreMonitorParams(Params):
    pairs: list[PairSpec] = Field(default_factory=_default_pairs, min_length=1, description="markets A and B")
    mode: Literal["reminder", "auto"] = Field("reminder", description="signals only, or trade both legs")
    spread_kind: Literal["price_diff", "log_ratio"] = Field("price_diff", description="P_A − P_B (quote units) "
                                                            "or ln(P_A / P_B) for different underlyings")
    sample_interval_ms: int = Field(500, ge=10, description="how often the spread is sampled")
    lookback_secs: float = Field(900.0, gt=0, description="rolling window of the mean and std")
    min_samples: int = Field(30, ge=2, description="no z-score before this many samples are in the window")
    min_std: float = Field(0.0, ge=0, description="floor on the std (spread units), so tick noise in a "
                           "quiet window cannot make large z-scores")
    enter_z_high: float = Field(2.0, gt=0, description="enter at |z| >= this")
    exit_z_low: float = Field(0.5, ge=0, description="exit once |z| <= this (or z crossed the mean)")
    stop_z: float = Field(4.0, gt=0, description="stop when z runs this far against the position")
    min_hold_secs: float = Field(30.0, ge=0, description="no normal exit before this")
    min_reentry_secs: float = Field(60.0, ge=0, description="no entry this soon after an exit")
    min_liquidity_usd: float = Field(25_000.0, ge=0, description="depth needed on each leg within max_slippage_bps")
    max_slippage_bps: int = Field(20, gt=0, description="worst-price distance and estimated-slippage limit")
    order_notional_usd: float = Field(1_000.0, gt=0, description="size of each leg")
    max_gross_notional_usd: float = Field(50_000.0, gt=0, description="cap on the sum of all legs' notionals")
    exit_retry_s: float = Field(3.0, gt=0, description="re-send exit orders when a leg is not flat after this")
    flatten_on_stop: bool = Field(True, description="auto mode: close the legs on shutdown")
    stop_timeout_s: float = Field(8.0, gt=0, description="how long shutdown keeps closing")

    @model_validator(mode="after")
    def _thresholds(self) -> ZScoreMonitorParams:
        if not self.exit_z_low < self.enter_z_high < self.stop_z:
            raise ValueError("need exit_z_low < enter_z_high < stop_z, got "
                             f"{self.exit_z_low} / {self.enter_z_high} / {self.stop_z}")
        names = [p.name for p in self.pairs]
        if len(set(names)) != len(names):
            raise ValueError(f"pairs: duplicate name in {names}")
        return self


# --- pure pieces ---------------------------------------------------------------------------------------
class RollingStats:
    """Mean and sample std of the values seen in the last `window_s` seconds, O(1) amortized per sample.

    Sums are kept of values shifted by a reference (the first value of the current run), which keeps the
    running variance accurate when the mean is large against the spread of the values; they are recomputed
    exactly (fsum) once per window's worth of evictions, so rounding cannot accumulate, and at once when the
    variance left is small against everything that went through them (it would be mostly rounding)."""

    def __init__(self, window_s: float) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self.window_s = window_s
        self._items: deque[tuple[float, float]] = deque()
        self._ref = 0.0
        self._s1 = 0.0
        self._s2 = 0.0
        self._gross = 0.0  # every d*d added since the sums were last exact: the scale of their rounding
        self._evicted = 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, t: float, x: float) -> None:
        if not math.isfinite(x):
            raise ValueError(f"sample must be finite, got {x}")
        if not self._items:
            self._ref, self._s1, self._s2, self._gross = x, 0.0, 0.0, 0.0
        d = x - self._ref
        self._items.append((t, x))
        self._s1 += d
        self._s2 += d * d
        self._gross += d * d
        horizon = t - self.window_s
        while self._items and self._items[0][0] <= horizon:
            _, old = self._items.popleft()
            d = old - self._ref
            self._s1 -= d
            self._s2 -= d * d
            self._evicted += 1
        n = len(self._items)
        if self._evicted >= max(n, 64):
            self._recompute()
        elif self._evicted and self._gross > 0 and self._s2 - self._s1 * self._s1 / n < 1e-9 * self._gross:
            # The variance left is small against what went through the sums (the reference left the window
            # and the rest sits far from it, or large values were evicted and the rest is flat): it is then
            # mostly their rounding; recompute so it is exact again.
            self._recompute()

    def _recompute(self) -> None:
        self._evicted = 0
        if not self._items:
            return
        self._ref = self._items[0][1]
        self._s1 = math.fsum(x - self._ref for _, x in self._items)
        self._s2 = self._gross = math.fsum((x - self._ref) ** 2 for _, x in self._items)

    @property
    def mean(self) -> float | None:
        n = len(self._items)
        return None if n == 0 else self._ref + self._s1 / n

    @property
    def std(self) -> float | None:
        """Sample standard deviation (n − 1), None below two samples."""
        n = len(self._items)
        if n < 2:
            return None
        var = (self._s2 - self._s1 * self._s1 / n) / (n - 1)
        return math.sqrt(max(var, 0.0))


def zscore(x: float, mean: float, std: float, min_std: float = 0.0) -> float | None:
    scale = max(std, min_std)
    return None if scale <= 0 else (x - mean) / scale


def real_price(m: MarketInfo, px: float) -> float:
    """Quote per canonical base unit (kPEPE's price per 1000 PEPE becomes the price of one PEPE)."""
    scale: int = 10 ** m.price_decimals * m.multiplier
    return float(px) / scale


def spread_value(pa: float, pb: float, kind: str) -> float:
    return pa - pb if kind == "price_diff" else math.log(pa / pb)


class Position(StrEnum):
    FLAT = "flat"
    LONG_A = "long_a"  # long A, short B: entered at z <= -enter
    SHORT_A = "short_a"  # short A, long B: entered at z >= enter


def decide(pos: Position, z: float, held_s: float, since_exit_s: float | None,
           p: ZScoreMonitorParams) -> str | None:
    """The signal for this sample: enter_long_a / enter_short_a / exit / stop, or None."""
    if pos is Position.FLAT:
        if since_exit_s is not None and since_exit_s < p.min_reentry_secs:
            return None
        if abs(z) >= p.stop_z:
            return None  # already past the stop: entering would be stopped out at once
        if z >= p.enter_z_high:
            return "enter_short_a"
        if z <= -p.enter_z_high:
            return "enter_long_a"
        return None
    against = z if pos is Position.SHORT_A else -z  # how far z has run against the position
    if against >= p.stop_z:
        return "stop"
    if against <= p.exit_z_low and held_s >= p.min_hold_secs:
        return "exit"
    return None


def depth_usd(levels: list[tuple[int, int]], m: MarketInfo, bps: int) -> float:
    """Notional (quote units) resting within `bps` of the first level, on one side of a book."""
    if not levels:
        return 0.0
    touch = levels[0][0]
    lo, hi = touch * (BPS - bps) / BPS, touch * (BPS + bps) / BPS
    sz_scale = 10 ** m.size_decimals / m.multiplier
    return math.fsum(real_price(m, px) * sz / sz_scale for px, sz in levels if lo <= px <= hi)


def slippage_bps(levels: list[tuple[int, int]], units: int) -> float | None:
    """Estimated slippage of taking `units` through `levels` (VWAP vs the touch, bps); None if too thin."""
    if not levels or units <= 0:
        return None
    left, cost = units, 0
    for px, sz in levels:
        take = min(left, sz)
        cost += take * px
        left -= take
        if left == 0:
            return abs(cost / units - levels[0][0]) * BPS / levels[0][0]
    return None


def units_for_notional(m: MarketInfo, usd: float, px: int) -> int:
    """Venue size units worth `usd` at `px`, rounded down to the step."""
    per_unit = real_price(m, px) * m.multiplier / 10 ** m.size_decimals  # quote per size unit
    return m.round_sz(math.floor(usd / per_unit)) if per_unit > 0 else 0


def convert_size(src: MarketInfo, units: int, dst: MarketInfo) -> int:
    """The same base quantity in `dst` units, rounded down to its step."""
    base = units * src.multiplier * 10 ** dst.size_decimals
    return dst.round_sz(base // (10 ** src.size_decimals * dst.multiplier))


def worst_price(m: MarketInfo, side: Side, touch: int, bps: int) -> int:
    move = touch * bps // BPS
    return m.round_px(touch + move, Side.ASK) if side is Side.BID else m.round_px(touch - move, Side.BID)


# --- the strategy --------------------------------------------------------------------------------------
@dataclass
class PairState:
    spec: PairSpec
    a: MarketInfo
    b: MarketInfo
    stats: RollingStats
    pos: Position = Position.FLAT
    entered_at: float = 0.0
    exited_at: float | None = None
    # auto mode execution
    phase: str = "idle"  # idle -> first_leg -> second_leg -> open -> exiting -> idle
    cids: dict[str, list[int]] = field(default_factory=lambda: {"a": [], "b": []})
    first: str = "a"
    exit_sent: float = 0.0
    last: dict[str, Any] = field(default_factory=dict)


@register_strategy("zscore_monitor", params=ZScoreMonitorParams)
class ZScoreMonitor(Strategy[ZScoreMonitorParams]):
    """Z-score spread monitor: rolling z of a two-market spread; reminder signals or auto two-leg trades."""

    live_params = frozenset({
        "mode", "enter_z_high", "exit_z_low", "stop_z", "lookback_secs", "min_samples", "min_std",
        "min_hold_secs", "min_reentry_secs", "min_liquidity_usd", "max_slippage_bps", "order_notional_usd",
        "max_gross_notional_usd", "sample_interval_ms", "exit_retry_s",
    })
    panel_view = "pairs"

    def __init__(self, ctx: Context, params: ZScoreMonitorParams) -> None:
        super().__init__(ctx, params)
        self.pairs: list[PairState] = []
        self.signals: list[dict[str, Any]] = []
        self.skips: dict[str, int] = {}
        self.stats = {"samples": 0, "entries": 0, "exits": 0, "stops": 0, "failed_entries": 0}
        self._next_sample = 0.0

    def _now(self) -> float:
        """Seconds on the context's clock (the journal's time in replay)."""
        return self.ctx.clock.now_s()

    async def on_start(self) -> None:
        for spec in self.params.pairs:
            a, b = self.ctx.market(spec.venue_a, spec.symbol_a), self.ctx.market(spec.venue_b, spec.symbol_b)
            self.pairs.append(PairState(spec, a, b, RollingStats(self.params.lookback_secs)))
        self.ctx.log.info("zscore_monitor (%s mode): %s", self.params.mode,
                          ", ".join(f"{s.name}={s.venue_a}:{s.symbol_a}/{s.venue_b}:{s.symbol_b}"
                                    for s in self.params.pairs))

    async def on_tick(self, now_ms: int) -> None:
        now = self._now()
        for pair in self.pairs:
            if self.params.mode == "auto":
                self._drive_execution(pair, now)
        if now < self._next_sample:
            return
        self._next_sample = now + self.params.sample_interval_ms / 1000
        for pair in self.pairs:
            self._sample(pair, now)

    # sampling and signals ----------------------------------------------------------------------------
    def _mid(self, venue: str, symbol: str, m: MarketInfo) -> float | None:
        bid, ask = self.ctx.best_bid(venue, symbol), self.ctx.best_ask(venue, symbol)
        if bid is None or ask is None:
            return None
        return real_price(m, (bid[0] + ask[0]) / 2)

    def _sample(self, pair: PairState, now: float) -> None:
        s, p = pair.spec, self.params
        pa, pb = self._mid(s.venue_a, s.symbol_a, pair.a), self._mid(s.venue_b, s.symbol_b, pair.b)
        if pa is None or pb is None or pa <= 0 or pb <= 0:
            return
        x = spread_value(pa, pb, p.spread_kind)
        pair.stats.add(now, x)
        self.stats["samples"] += 1
        mean, std = pair.stats.mean, pair.stats.std
        z = None
        if len(pair.stats) >= p.min_samples and mean is not None and std is not None:
            z = zscore(x, mean, std, p.min_std)
        pair.last = {"spread": x, "mean": mean, "std": std, "z": z}
        self.ctx.record("spreads", pair=s.name, spread=x, mean=mean, std=std, z=z)
        if z is None:
            return
        since_exit = None if pair.exited_at is None else now - pair.exited_at
        if p.mode == "auto" and pair.phase not in ("idle", "open"):
            return  # legs in flight: decide again once they settle
        signal = decide(pair.pos, z, now - pair.entered_at, since_exit, p)
        if signal is None:
            return
        if signal.startswith("enter"):
            reason = self._entry_blocked(pair, signal)
            if reason is not None:
                self.skips[reason] = self.skips.get(reason, 0) + 1
                return
        self._emit(pair, signal, x, z, now)

    def _emit(self, pair: PairState, signal: str, spread: float, z: float, now: float) -> None:
        row = {"pair": pair.spec.name, "action": signal, "z": z, "spread": spread, "mode": self.params.mode}
        self.signals.append(row)
        self.ctx.record("signals", **row)
        log = self.ctx.log.warning if signal == "stop" else self.ctx.log.info
        log("zscore_monitor %s: %s at z=%.2f (spread %.6g)", pair.spec.name, signal, z, spread)
        if signal.startswith("enter"):
            self.stats["entries"] += 1
            pair.pos = Position.SHORT_A if signal == "enter_short_a" else Position.LONG_A
            pair.entered_at = now
            if self.params.mode == "auto":
                self._start_entry(pair)
        else:
            self.stats["stops" if signal == "stop" else "exits"] += 1
            if self.params.mode == "auto":
                self._close_legs(pair, now)
            else:
                pair.pos, pair.exited_at = Position.FLAT, now

    # guards ------------------------------------------------------------------------------------------
    def _legs(self, pair: PairState, pos: Position) -> list[tuple[str, str, str, MarketInfo, Side]]:
        s = pair.spec
        side_a = Side.BID if pos is Position.LONG_A else Side.ASK
        side_b = Side.ASK if side_a is Side.BID else Side.BID
        return [("a", s.venue_a, s.symbol_a, pair.a, side_a), ("b", s.venue_b, s.symbol_b, pair.b, side_b)]

    def _taking_side(self, venue: str, symbol: str, side: Side) -> list[tuple[int, int]]:
        bids, asks = self.ctx.book(venue, symbol).top(50)
        return [(int(px), int(sz)) for px, sz in (asks if side is Side.BID else bids)]

    def _entry_blocked(self, pair: PairState, signal: str) -> str | None:
        p = self.params
        pos = Position.SHORT_A if signal == "enter_short_a" else Position.LONG_A
        depths = {}
        for leg, venue, symbol, m, side in self._legs(pair, pos):
            levels = self._taking_side(venue, symbol, side)
            if not levels:
                return "no_book"
            depths[leg] = depth_usd(levels, m, p.max_slippage_bps)
            if depths[leg] < p.min_liquidity_usd:
                return "min_liquidity"
            units = units_for_notional(m, p.order_notional_usd, levels[0][0])
            if units < m.min_size:
                return "size_below_minimum"
            slip = slippage_bps(levels, units)
            if slip is None or slip > p.max_slippage_bps:
                return "max_slippage"
        if self._gross_notional() + 2 * p.order_notional_usd > p.max_gross_notional_usd:
            return "max_gross_notional"
        pair.first = min(depths, key=lambda k: depths[k])  # the thinner leg trades first
        return None

    def _gross_notional(self) -> float:
        """Sum of every open leg's notional (auto), or of the signalled positions' order sizes (reminder)."""
        total = 0.0
        for pair in self.pairs:
            if pair.pos is Position.FLAT:
                continue
            if self.params.mode == "reminder":
                total += 2 * self.params.order_notional_usd
                continue
            for leg, venue, symbol, m in (("a", pair.spec.venue_a, pair.spec.symbol_a, pair.a),
                                          ("b", pair.spec.venue_b, pair.spec.symbol_b, pair.b)):
                mid = self._mid(venue, symbol, m) or 0.0
                total += abs(self._held(pair, leg)) * mid * m.multiplier / 10 ** m.size_decimals
        return total

    # auto-mode execution ----------------------------------------------------------------------------
    def _held(self, pair: PairState, leg: str) -> int:
        venue = pair.spec.venue_a if leg == "a" else pair.spec.venue_b
        total = 0
        for cid in pair.cids[leg]:
            o = self.ctx.order(venue, cid)
            if o is not None:
                total += o.filled if Side(o.side) is Side.BID else -o.filled
        return total

    def _live(self, pair: PairState, leg: str) -> bool:
        venue = pair.spec.venue_a if leg == "a" else pair.spec.venue_b
        return any((o := self.ctx.order(venue, c)) is not None and not o.is_terminal for c in pair.cids[leg])

    def _market(self, pair: PairState, leg: str, side: Side, units: int, reduce_only: bool = False) -> bool:
        s = pair.spec
        venue, symbol, m = (s.venue_a, s.symbol_a, pair.a) if leg == "a" else (s.venue_b, s.symbol_b, pair.b)
        touch = (self.ctx.best_ask if side is Side.BID else self.ctx.best_bid)(venue, symbol)
        if touch is None or units <= 0:
            return False
        try:
            cid = self.ctx.place_market(venue, symbol, side, units, reduce_only=reduce_only,
                                        worst_price=worst_price(m, side, touch[0], self.params.max_slippage_bps))
        except (OrderDenied, ValueError) as e:
            self.ctx.log.warning("zscore_monitor %s: %s leg order refused: %s", s.name, leg, e)
            return False
        pair.cids[leg].append(cid)
        return True

    def _start_entry(self, pair: PairState) -> None:
        leg = pair.first
        _, venue, symbol, m, side = next(x for x in self._legs(pair, pair.pos) if x[0] == leg)
        touch = (self.ctx.best_ask if side is Side.BID else self.ctx.best_bid)(venue, symbol)
        units = 0 if touch is None else units_for_notional(m, self.params.order_notional_usd, touch[0])
        if self._market(pair, leg, side, units):
            pair.phase = "first_leg"
        else:
            self._entry_failed(pair)

    def _entry_failed(self, pair: PairState) -> None:
        self.stats["failed_entries"] += 1
        pair.pos, pair.phase, pair.exited_at = Position.FLAT, "idle", self._now()

    def _drive_execution(self, pair: PairState, now: float) -> None:
        if pair.phase == "first_leg" and not self._live(pair, pair.first):
            filled = abs(self._held(pair, pair.first))
            if filled == 0:
                self.ctx.log.warning("zscore_monitor %s: first leg did not fill; entry dropped", pair.spec.name)
                self._entry_failed(pair)
                return
            second = "b" if pair.first == "a" else "a"
            legs = {x[0]: x for x in self._legs(pair, pair.pos)}
            src, dst = legs[pair.first][3], legs[second][3]
            if src.base == dst.base:
                units = convert_size(src, filled, dst)
            else:  # different underlyings: match the first leg's notional
                mid = self._mid(legs[pair.first][1], legs[pair.first][2], src) or 0.0
                notional = filled * mid * src.multiplier / 10 ** src.size_decimals
                touch = self.ctx.best_bid(legs[second][1], legs[second][2])
                units = 0 if touch is None else units_for_notional(dst, notional, touch[0])
            if self._market(pair, second, legs[second][4], units):
                pair.phase = "second_leg"
            else:  # cannot hedge the first leg: unwind it
                self._close_legs(pair, now)
        elif pair.phase == "second_leg" and not self._live(pair, "a") and not self._live(pair, "b"):
            pair.phase = "open"
        elif pair.phase == "exiting" and not self._live(pair, "a") and not self._live(pair, "b"):
            if self._held(pair, "a") == 0 and self._held(pair, "b") == 0:
                pair.phase, pair.pos, pair.exited_at = "idle", Position.FLAT, now
            elif now - pair.exit_sent >= self.params.exit_retry_s:
                self._close_legs(pair, now)

    def _close_legs(self, pair: PairState, now: float) -> None:
        pair.phase, pair.exit_sent = "exiting", now
        for leg in ("a", "b"):
            held = self._held(pair, leg)
            if held != 0 and not self._live(pair, leg):
                self._market(pair, leg, Side.ASK if held > 0 else Side.BID, abs(held), reduce_only=True)

    async def on_stop(self) -> None:
        if self.params.mode != "auto" or not self.params.flatten_on_stop:
            return
        deadline = self._now() + self.params.stop_timeout_s
        # Bounded by the count too: in replay the clock only moves with the journal, not while we wait here.
        for _ in range(max(1, math.ceil(self.params.stop_timeout_s / 0.05))):
            if self._now() >= deadline:
                break
            open_pairs = [p for p in self.pairs if self._held(p, "a") or self._held(p, "b")
                          or self._live(p, "a") or self._live(p, "b")]
            if not open_pairs:
                return
            now = self._now()
            for pair in open_pairs:
                if not self._live(pair, "a") and not self._live(pair, "b"):
                    self._close_legs(pair, now)
            await asyncio.sleep(0.05)
        self.ctx.log.error("zscore_monitor: legs still open after %.0f s", self.params.stop_timeout_s)

    def on_params_changed(self, old: ZScoreMonitorParams, new: ZScoreMonitorParams) -> None:
        if old.mode == "auto" and new.mode == "reminder":
            busy = [f"{p.spec.name} ({p.phase})" for p in self.pairs if p.phase != "idle"]
            if busy:  # reminder mode does not manage legs: they would be left open
                raise ValueError(f"mode: {', '.join(busy)} holds or is trading legs; "
                                 "let them close or flatten before switching to reminder")
        if old.mode == "reminder" and new.mode == "auto":
            for pair in self.pairs:  # a reminder 'position' holds nothing: auto starts flat
                pair.pos = Position.FLAT
        if new.lookback_secs != old.lookback_secs:
            for pair in self.pairs:
                pair.stats.window_s = new.lookback_secs  # the next sample evicts what is now too old
        self.ctx.log.info("zscore_monitor params changed: %s", ", ".join(
            f"{k}={getattr(new, k)}" for k in type(new).model_fields if getattr(new, k) != getattr(old, k)))

    def on_operator_flatten(self) -> None:
        """The operator flattened every venue: no leg is held any more, start over flat."""
        now = self._now()
        for pair in self.pairs:
            pair.pos, pair.phase, pair.exited_at = Position.FLAT, "idle", now
            pair.cids = {"a": [], "b": []}

    def traded_pairs(self) -> list[tuple[str, tuple[str, str], tuple[str, str]]]:
        return [(s.name, (s.venue_a, s.symbol_a), (s.venue_b, s.symbol_b)) for s in self.params.pairs]

    def status(self) -> dict[str, Any]:
        return {
            "zscore_pairs": {p.spec.name: {"position": str(p.pos), "phase": p.phase, **p.last} for p in self.pairs},
            "zscore_signals": len(self.signals),
            "zscore_skips": dict(self.skips),
            **{f"zscore_{k}": v for k, v in self.stats.items()},
        }
