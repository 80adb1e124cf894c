"""RiskGuard: the pre-trade check the OrderGateway runs before any order leaves the process.

    gateway = OrderGateway(connectors, tracker, risk=RiskGuard(cfg, market=..., touch=...))
    guard.check(venue, req) -> None (allowed) | the rule that denied it

Exposure is per canonical asset (xtb.venues.symbols / MarketInfo.base) summed over venues, so an
arbitrage long on one venue and short on another is flat. Sizes are compared as exact integers in
10^-18 canonical units (no float rounding at the cap). Cancels never come here: they are never denied.

Rules, in the order they are checked (the first failing one is the answer):
  halted / reducing_only     trading state (see xtb.risk.state)
  bad_size                   size <= 0
  unknown_market             no MarketInfo for (venue, symbol): sizes cannot be compared
  single_max                 order size above the per-order cap
  no_touch / price_band      limit price more than price_band_bps through the touch
  notional_min / max         order notional (price x size) outside bounds
  order_rate                 more than max_orders accepted within rate_window_s
  net_max                    |net position + working orders + this order| above the asset's cap
  venue_gross_max            |this venue's position + working + order| above the per-venue cap
  daily_max                  base units sent today (UTC) for the asset above the budget
An order flagged reduce_only that shrinks the venue position without growing |net| (counting the resting
orders on its side) passes the exposure caps and the daily budget, so a position over a cap can always be
closed; the other rules still apply to it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction
from typing import Any, Protocol

from xtb.config import ConfigError
from xtb.model.types import MarketInfo, OrderRequest, Side
from xtb.risk.config import RiskConfig, parse_risk_config
from xtb.risk.drawdown import DrawdownBands, ReduceRequest
from xtb.risk.shock import ShockDetector
from xtb.risk.state import StateMachine, TradingState

log = logging.getLogger("xtb.risk")

#: limits the operator may change on a running guard (`update_limits`); the others shape state built at start
LIVE_LIMITS = frozenset({
    "net_max", "net_max_by_asset", "venue_gross_max", "single_max", "daily_max", "price_band_bps", "min_notional",
    "max_notional", "max_orders", "pnl_min", "pnl_max", "stop_loss", "halt_seconds", "latency_ms",
    "deny_without_touch",
})

UNIT = 10**18  # canonical sizes are integers in 10^-18 base units
_SCALE_UP: tuple[int, ...] = tuple(UNIT // 10**d for d in range(19))  # venue size decimals -> UNIT

TopOfBook = tuple[tuple[int, int] | None, tuple[int, int] | None]


class WorkingOrder(Protocol):
    """What the guard reads of a live order (the core tracker's Order fits)."""

    @property
    def client_id(self) -> int: ...
    @property
    def venue(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def remaining(self) -> int: ...
    @property
    def reduce_only(self) -> bool: ...


# An allowed order is not in the tracker until the gateway has checked the whole batch, so the guard
# counts it itself until then: until the event loop's next iteration (the gateway's submit is synchronous,
# so by then the batch is tracked or refused), it shows up among the working orders, or, outside an event
# loop, this long has passed.
PENDING_TTL_S = 0.25


def _units(x: float) -> int:
    return int(Decimal(str(x)) * UNIT)


@dataclass(frozen=True, slots=True)
class _Meta:
    """What the hot path needs of one market, computed once from its MarketInfo."""

    asset: str
    unit: int  # 10^-18 canonical units per venue size unit
    min_notional: int | None  # in the market's notional units (price units x size units)
    max_notional: int | None
    notional_scale: int  # notional units per quote unit: 10^(price_decimals + size_decimals)


def _day(now: float) -> int:
    return int(now // 86_400)  # UTC day number: the budget resets at midnight UTC


class RiskGuard:
    def __init__(
        self,
        config: RiskConfig | Mapping[str, Any] | None,
        *,
        market: Callable[[str, str], MarketInfo | None],
        touch: Callable[[str, str], TopOfBook] | None = None,
        working: Callable[[], Iterable[WorkingOrder]] | None = None,
        clock: Callable[[], float] = time.time,
        on_reduce: Callable[[ReduceRequest], None] | None = None,
    ) -> None:
        self.config = cfg = parse_risk_config(config)
        if cfg.price_band_bps is not None and touch is None:
            raise ValueError("risk.price_band_bps is set but the guard was given no touch reader")
        self._market_reader = market
        self._metas: dict[tuple[str, str], _Meta] = {}  # MarketInfo is immutable: read once per market
        self._touch = touch
        self._working = working
        self._clock = clock
        self.machine = StateMachine(since=clock())
        self._positions: dict[tuple[str, str], int] = {}  # (venue, symbol) -> venue units, signed
        self._asset_keys: dict[str, set[tuple[str, str]]] = {}  # asset -> markets seen for it
        self._entry_px: dict[tuple[str, str], int] = {}
        self._derive_limits(cfg)
        self._sent_today: dict[str, int] = {}
        self._today = _day(clock())
        self._accepted: deque[float] = deque()
        # (venue, client_id) -> (expires, asset, venue symbol, signed units): allowed, not yet seen working
        self._pending: dict[tuple[str, int], tuple[float, str, str, int]] = {}
        # What the checks since the last commit()/rollback() booked, so that orders which passed the check
        # but were never sent (a later order of the batch denied, the rate limit, a prepare error) can be
        # taken back: ("sent", day, asset, size) | ("pending", venue, client_id) | ("accepted",)
        self._booked: list[tuple[Any, ...]] = []
        self._shock = None if cfg.shock_pct is None else ShockDetector(cfg.shock_pct, cfg.shock_window_s)
        self._drawdown = None
        if cfg.drawdown_bands:
            self._drawdown = DrawdownBands(cfg.drawdown_bands, cfg.reduce_fractions, cfg.reduce_cooldown_s)
        self._converge_armed = True  # reduce_only_threshold: armed until the loss crosses it
        self._converge_after = float("-inf")
        self.on_reduce = on_reduce  # called with each ReduceRequest (a Reducer carries it out)
        self.reduce_requests: list[ReduceRequest] = []
        self.denied: dict[str, int] = {}
        self.allowed = 0
        self.latency_warnings = 0
        self.pnl: tuple[float, float] = (0.0, 0.0)

    def _derive_limits(self, cfg: RiskConfig) -> None:
        """The integer forms of the limits the pre-trade check compares against."""
        self._venue_gross = None if cfg.venue_gross_max is None else _units(cfg.venue_gross_max)
        self._single = None if cfg.single_max is None else _units(cfg.single_max)
        self._daily = None if cfg.daily_max is None else _units(cfg.daily_max)
        band = None if cfg.price_band_bps is None else Fraction(str(cfg.price_band_bps)) / 10_000
        # a buy is denied when px * den > ask * (den + num); a sell when px * den < bid * (den - num)
        self._band = None if band is None else (band.numerator, band.denominator)
        self._net_caps: dict[str, int | None] = {}

    def update_limits(self, changes: Mapping[str, Any]) -> RiskConfig:
        """Change limits of a running guard (the operator's panel): each key in LIVE_LIMITS, None turns its
        rule off. Validated as the config section is (a ConfigError names `risk.<key>`); all or nothing."""
        unknown = [k for k in changes if k not in LIVE_LIMITS]
        if unknown:
            raise ConfigError(f"risk.{unknown[0]}: cannot change while running "
                              f"(live limits: {', '.join(sorted(LIVE_LIMITS))})")
        if self.config.price_band_bps is None and changes.get("price_band_bps") is not None and self._touch is None:
            raise ConfigError("risk.price_band_bps: this guard has no touch reader")
        merged = {**self.config.model_dump(exclude_none=True), **changes}
        cfg = parse_risk_config({k: v for k, v in merged.items() if v is not None})
        self.config = cfg
        self._derive_limits(cfg)
        log.warning("risk: operator changed limits: %s", ", ".join(f"{k}={v}" for k, v in changes.items()))
        return cfg

    # --- the pre-trade check -----------------------------------------------------------------------
    def check(self, venue: str, req: OrderRequest) -> str | None:
        rule = self._check(venue, req)
        if rule is None:
            self.allowed += 1
        else:
            self.denied[rule] = self.denied.get(rule, 0) + 1
        return rule

    def _check(self, venue: str, req: OrderRequest) -> str | None:
        cfg = self.config
        now = self._clock()
        m = self.machine
        m.refresh(now)
        if m.state is TradingState.HALTED:
            return "halted"
        if m.state is TradingState.REDUCING and not req.reduce_only:
            return "reducing_only"
        if req.size <= 0:
            return "bad_size"
        meta = self._meta(venue, req.symbol)
        if meta is None:
            return "unknown_market"
        size = req.size * meta.unit
        if self._single is not None and size > self._single:
            return "single_max"
        rule = self._check_price(venue, req, meta)
        if rule is not None:
            return rule
        if cfg.max_orders is not None:
            horizon = now - cfg.rate_window_s
            while self._accepted and self._accepted[0] <= horizon:
                self._accepted.popleft()
            if len(self._accepted) >= cfg.max_orders:
                return "order_rate"
        asset = meta.asset
        signed = size if req.side is Side.BID else -size
        venue_pos = self._positions.get((venue, req.symbol), 0) * meta.unit
        net = self.net_position(asset)
        work_net, work_venue = self._working_exposure(venue, req.symbol, asset, req.side, now)
        # Exposure-reducing: shrinks the venue position and does not grow |net| even once every resting
        # order on its side has filled.
        reducing = (
            req.reduce_only and abs(venue_pos + signed) < abs(venue_pos)
            and abs(net + work_net + signed) <= abs(net + work_net)
        )
        day = _day(now)
        if day != self._today:
            self._today, self._sent_today = day, {}
        if not reducing:
            cap = self._net_cap(asset)
            if cap is not None:
                after = net + work_net + signed
                if abs(after) > cap and abs(after) > abs(net + work_net):
                    return "net_max"
            if self._venue_gross is not None:
                after = venue_pos + work_venue + signed
                if abs(after) > self._venue_gross and abs(after) > abs(venue_pos + work_venue):
                    return "venue_gross_max"
            if self._daily is not None and self._sent_today.get(asset, 0) + size > self._daily:
                return "daily_max"
            self._sent_today[asset] = self._sent_today.get(asset, 0) + size
            self._booked.append(("sent", day, asset, size))
        if self._working is not None:
            self._add_pending(venue, req.client_id, (now + PENDING_TTL_S, asset, req.symbol, signed))
            self._booked.append(("pending", venue, req.client_id))
        if cfg.max_orders is not None:
            self._accepted.append(now)
            self._booked.append(("accepted",))
        return None

    def commit(self) -> None:
        """The orders checked since the last commit/rollback were sent: keep what their checks booked."""
        self._booked.clear()

    def rollback(self) -> None:
        """The orders checked since the last commit/rollback were not sent: take back their daily budget,
        working exposure and order-rate slots."""
        for entry in reversed(self._booked):
            if entry[0] == "sent":
                _, day, asset, size = entry
                if day == self._today:
                    self._sent_today[asset] = self._sent_today.get(asset, 0) - size
            elif entry[0] == "pending":
                self._pending.pop((entry[1], entry[2]), None)
            elif self._accepted:
                self._accepted.pop()
        self._booked.clear()

    def _add_pending(self, venue: str, client_id: int, entry: tuple[float, str, str, int]) -> None:
        if not self._pending:
            try:
                asyncio.get_running_loop().call_soon(self._pending.clear)
            except RuntimeError:
                pass  # no event loop (a synchronous caller): the TTL or the tracker clears it
        self._pending[(venue, client_id)] = entry

    def _check_price(self, venue: str, req: OrderRequest, meta: _Meta) -> str | None:
        px = req.price
        if px is None:
            return None  # a market order without a worst price: nothing to compare
        if self._band is not None and self._touch is not None:
            bid, ask = self._touch(venue, req.symbol)
            num, den = self._band
            if req.side is Side.BID:
                if ask is None:
                    if self.config.deny_without_touch:
                        return "no_touch"
                elif px * den > ask[0] * (den + num):
                    return "price_band"
            elif bid is None:
                if self.config.deny_without_touch:
                    return "no_touch"
            elif px * den < bid[0] * (den - num):
                return "price_band"
        notional = px * req.size
        # Reduce-only orders may be dust: closing a small leftover must stay possible.
        if meta.min_notional is not None and notional < meta.min_notional and not req.reduce_only:
            return "notional_min"
        if meta.max_notional is not None and notional > meta.max_notional:
            return "notional_max"
        return None

    # --- positions -----------------------------------------------------------------------------------
    def on_position(self, venue: str, symbol: str, size: int, entry_px: int | None = None) -> None:
        """The venue position of one market (signed, venue size units), as the engine's events report it;
        with the entry price (price units) `mark_to_market` can value it."""
        self._positions[(venue, symbol)] = int(size)
        if entry_px is not None:
            self._entry_px[(venue, symbol)] = int(entry_px)
        if self._meta(venue, symbol) is None:
            log.warning("risk: position on %s %s, a market without MarketInfo: not counted", venue, symbol)

    def positions(self) -> dict[tuple[str, str], int]:
        """Every known venue position (venue, symbol) -> signed size in venue units."""
        return {k: v for k, v in self._positions.items() if v != 0}

    def net_position(self, asset: str) -> int:
        """Net position of a canonical asset over all venues, in 10^-18 base units."""
        total = 0
        positions, metas = self._positions, self._metas
        for key in self._asset_keys.get(asset, ()):
            total += positions.get(key, 0) * metas[key].unit
        return total

    def _working_exposure(self, venue: str, symbol: str, asset: str, side: Side, now: float) -> tuple[int, int]:
        """Worst case of live orders on the order's side: (over all venues of the asset, on this market)."""
        if self._working is None:
            return 0, 0
        net = on_venue = 0
        pending, metas = self._pending, self._metas
        side_value = side.value
        for o in self._working():
            if pending:
                pending.pop((o.venue, o.client_id), None)  # tracked now: counted below
            if o.side != side_value:  # reduce-only ones count too: closing one leg can move the net
                continue
            key = (o.venue, o.symbol)
            meta = metas.get(key) or self._meta(o.venue, o.symbol)
            if meta is None or meta.asset != asset:
                continue
            q = o.remaining * meta.unit
            net += q
            if key == (venue, symbol):
                on_venue += q
        if side is Side.ASK:
            net, on_venue = -net, -on_venue
        for pkey, (expires, p_asset, p_symbol, p_signed) in list(pending.items()):
            if expires <= now:
                del pending[pkey]
            elif p_asset == asset and (p_signed > 0) == (side is Side.BID):
                net += p_signed
                if pkey[0] == venue and p_symbol == symbol:
                    on_venue += p_signed
        return net, on_venue


    def _net_cap(self, asset: str) -> int | None:
        if asset not in self._net_caps:
            cap = self.config.net_cap(asset)
            self._net_caps[asset] = None if cap is None else _units(cap)
        return self._net_caps[asset]

    def _meta(self, venue: str, symbol: str) -> _Meta | None:
        key = (venue, symbol)
        meta = self._metas.get(key)
        if meta is not None:
            return meta
        info = self._market_reader(venue, symbol)
        if info is None:
            return None
        if not 0 <= info.size_decimals <= 18:
            log.error("risk: %s %s has %d size decimals: not supported", venue, symbol, info.size_decimals)
            return None
        cfg = self.config
        scale = Decimal(10) ** (info.price_decimals + info.size_decimals)
        meta = _Meta(
            info.base,
            info.multiplier * _SCALE_UP[info.size_decimals],
            None if cfg.min_notional is None else int((Decimal(str(cfg.min_notional)) * scale).to_integral_value(
                ROUND_CEILING)),
            None if cfg.max_notional is None else int((Decimal(str(cfg.max_notional)) * scale).to_integral_value(
                ROUND_FLOOR)),
            10 ** (info.price_decimals + info.size_decimals),
        )
        self._metas[key] = meta
        self._asset_keys.setdefault(info.base, set()).add(key)
        return meta

    def refresh_markets(self) -> None:
        """Re-read every known market (after a connector reloaded them); positions stay counted."""
        keys = set(self._metas) | set(self._positions)
        self._metas.clear()
        self._asset_keys.clear()
        for venue, symbol in keys:
            self._meta(venue, symbol)

    # --- state ---------------------------------------------------------------------------------------
    def set_state(self, state: TradingState | str, reason: str, *, for_s: float | None = None) -> None:
        """The operator's switch (active / reducing / halted); `for_s` lifts it back to active by itself."""
        self.machine.operator(state, reason, self._clock(), for_s)
        log.warning("risk: operator set trading %s (%s)", self.machine.state, reason)
        if self.machine.state is TradingState.ACTIVE and self._shock is not None:
            self._shock.reset()

    @property
    def state(self) -> TradingState:
        self.machine.refresh(self._clock())
        return self.machine.state

    def _halt(self, reason: str, *, latch: bool = False) -> None:
        now = self._clock()
        if self.machine.rule(TradingState.HALTED, reason, now, None if latch else self.config.halt_seconds):
            log.error("risk: trading halted: %s", reason)

    def on_pnl(self, realized: float, unrealized: float) -> None:
        """Total PnL in the quote currency; the stop loss latches a halt, the pnl band halts for halt_seconds."""
        cfg = self.config
        self.pnl = (realized, unrealized)
        total = realized + unrealized
        if cfg.stop_loss is not None and total <= cfg.stop_loss:
            self._halt(f"stop_loss: pnl {total:.2f} <= {cfg.stop_loss}", latch=True)
        elif cfg.pnl_min is not None and total < cfg.pnl_min:
            self._halt(f"pnl_min: pnl {total:.2f} < {cfg.pnl_min}")
        elif cfg.pnl_max is not None and total > cfg.pnl_max:
            self._halt(f"pnl_max: pnl {total:.2f} > {cfg.pnl_max}")
        if cfg.reduce_only_threshold is not None:
            self._check_reduce_only_threshold(unrealized)
        if self._drawdown is not None:
            req = self._drawdown.update(unrealized, self._clock())
            if req is not None:
                log.warning("risk: unrealized loss %.2f entered drawdown band %d: reduce %.0f%% of positions",
                            req.loss, req.band, req.fraction * 100)
                self._request_reduce(req)

    def on_realized(self, realized: float) -> None:
        """Realized PnL (quote, fees included) changed: re-check with the last unrealized PnL."""
        self.on_pnl(realized, self.pnl[1])

    def _check_reduce_only_threshold(self, unrealized: float) -> None:
        """An unrealized loss at or beyond reduce_only_threshold turns trading reduce-only (lifting
        halt_seconds after the loss was last seen there) and, once per crossing and at most once per
        reduce_cooldown_s, asks to close every position (the reduce mode with its slippage cap)."""
        cfg = self.config
        threshold = cfg.reduce_only_threshold
        assert threshold is not None
        loss = -unrealized
        if loss < threshold:
            self._converge_armed = True
            return
        now = self._clock()
        if self.machine.rule(TradingState.REDUCING, f"reduce_only_threshold: unrealized {unrealized:.2f} <= "
                             f"-{threshold}", now, cfg.halt_seconds):
            log.warning("risk: trading reduce-only: unrealized loss %.2f >= %s", loss, threshold)
        if not self._converge_armed or now < self._converge_after or self.machine.state is TradingState.HALTED:
            return  # a halted guard would deny the reduce: it waits for the halt to lift
        self._converge_armed = False
        self._converge_after = now + cfg.reduce_cooldown_s
        self._request_reduce(ReduceRequest(-1, loss, 1.0, "reduce_only_threshold"))

    def _request_reduce(self, req: ReduceRequest) -> None:
        self.reduce_requests.append(req)
        if self.on_reduce is not None:
            self.on_reduce(req)

    def unrealized_pnl(self) -> float | None:
        """Unrealized PnL (quote) of every position with an entry price, valued at the mid (or the one side
        of the book there is); None when a position cannot be valued (no entry price or no book)."""
        if self._touch is None:
            return None
        total = 0.0
        for (venue, symbol), size in self._positions.items():
            if size == 0:
                continue
            entry = self._entry_px.get((venue, symbol))
            meta = self._meta(venue, symbol)
            if not entry or meta is None:
                return None
            bid, ask = self._touch(venue, symbol)
            if bid is not None and ask is not None:
                mid = (bid[0] + ask[0]) / 2
            elif bid is not None or ask is not None:
                mid = (bid or ask or (0, 0))[0]
            else:
                return None
            total += size * (mid - entry) / meta.notional_scale
        return total

    def mark_to_market(self) -> float | None:
        """Value the positions and feed `on_pnl` (realized PnL stays what on_pnl last had; the engine calls
        this every tick). Returns the unrealized PnL, or None (nothing fed) when it cannot be valued."""
        unrealized = self.unrealized_pnl()
        if unrealized is not None:
            self.on_pnl(self.pnl[0], unrealized)
        return unrealized

    def on_price(self, asset: str, px: float, now: float | None = None) -> None:
        """A mid price of a canonical asset; a move beyond shock_pct within shock_window_s halts."""
        if self._shock is None:
            return
        move = self._shock.on_price(asset, px, self._clock() if now is None else now)
        if move is not None:
            self._halt(f"shock: {asset} moved {move:.2%} within {self.config.shock_window_s:g}s")
            self._shock.reset(asset)

    def on_latency_ms(self, ms: float) -> None:
        if self.config.latency_ms is not None and ms > self.config.latency_ms:
            self.latency_warnings += 1
            log.warning("risk: order latency %.1f ms above %.1f ms", ms, self.config.latency_ms)

    def status(self) -> dict[str, Any]:
        m = self.machine
        m.refresh(self._clock())
        nets = {a: self.net_position(a) / UNIT for a in sorted(self._asset_keys)}
        return {
            "risk_state": str(m.state),
            "risk_reason": m.reason,
            "risk_since": m.since,
            "risk_until": m.until,
            "risk_by_operator": m.by_operator,
            "risk_allowed": self.allowed,
            "risk_denied": dict(self.denied),
            "risk_net": nets,
            "risk_sent_today": {a: v / UNIT for a, v in self._sent_today.items()},
            "risk_latency_warnings": self.latency_warnings,
            "risk_pnl": self.pnl[0] + self.pnl[1],
            "risk_pnl_realized": self.pnl[0],
            "risk_pnl_unrealized": self.pnl[1],
            "risk_reduce_requests": len(self.reduce_requests),
        }
