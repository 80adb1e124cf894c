"""The one reconciler: what the venue reports about our orders, fills and positions -> the core tracker.

Connectors only translate. A venue's order-status rows (REST open orders, an order query, order history),
its fills (REST fill history, recent trades) and its positions become `OrderReport`, `FillReport` and
`PositionReport`; this module decides what they mean, with the same rules for every venue:

- **Open orders listed by the venue** (`Reconciler.open_orders`): a tracked live order takes the venue's
  state and cumulative fill; an order we do not track is adopted, cancelled or ignored by the
  `unknown_order_policy` (an order without a client id of ours cannot be adopted: left alone); a *ghost*
  (listed open at the venue, already ended here) is cancelled unless the policy is `ignore`, because a
  terminal order never moves back.
- **Missing orders**: tracked live orders the venue does not list open, not in flight, and quiet for the
  submit window (`submit_window_s`, counted from the last update, so a submit or an ack still travelling
  is never judged). The connector looks them up (order query, every page of history it needs, fills) and
  feeds what it finds through `apply_order` / `apply_fill`; `settle_missing` then ends the rest:
  fully filled -> `filled`; never acknowledged, no venue order id, nothing filled -> `rejected` (the
  venue never had it); otherwise -> `cancelled` with what filled.
- **Fills**: one source of truth for filled size, the tracker: it counts a trade id once and takes the
  larger of the summed fills and the highest cumulative fill the venue reported, so a fill arriving after
  the order update only adds its price and fee. Over-fills are refused by the tracker and counted here.
- **Positions** (`merge_positions`): a REST read replaces the cached positions, except for markets the
  stream updated while the request was under way (newer than the read); it says which markets changed
  so the connector can publish them.

No I/O here: time comes in as `now_ns`, actions go out as values (`OpenOrdersVerdict.cancel`). The
`settle` helper of each connector loops reconciliations until `disagreements` is empty.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from xtb._core import Order, OrderTracker, OrderTrackerError

if TYPE_CHECKING:
    from xtb._core import TrackerOutcome

log = logging.getLogger("xtb.orders.reconcile")

UnknownOrderPolicy = Literal["adopt", "cancel", "ignore"]
UNKNOWN_ORDER_POLICIES: tuple[UnknownOrderPolicy, ...] = ("adopt", "cancel", "ignore")
#: The venue's view of an order, in the tracker's state names.
VenueOrderState = Literal["open", "partially_filled", "filled", "cancelled", "expired", "rejected"]
VENUE_ORDER_STATES: frozenset[str] = frozenset(
    ("open", "partially_filled", "filled", "cancelled", "expired", "rejected")
)
_LIVE = frozenset(("open", "partially_filled"))


@dataclass(frozen=True, slots=True)
class OrderReport:
    """One order as the venue reports it (stream snapshot, REST open orders, query or history row)."""

    symbol: str
    state: VenueOrderState
    filled: int  # cumulative, size units
    client_id: int | None = None  # None: the venue order carries no client id of ours
    order_id: str | None = None
    side: Literal["bid", "ask"] = "bid"
    size: int = 0  # original size, size units (needed to adopt)
    price: int = 0  # limit price, price units (0 for a market order)
    avg_px: int | None = None
    post_only: bool = False
    reduce_only: bool = False
    time_in_force: Literal["GTC", "IOC", "FOK"] = "GTC"
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.state not in VENUE_ORDER_STATES:
            raise ValueError(f"order report: state {self.state!r} is not one of {sorted(VENUE_ORDER_STATES)}")
        if self.filled < 0:
            raise ValueError(f"order report: filled must be >= 0, got {self.filled}")


@dataclass(frozen=True, slots=True)
class FillReport:
    """One execution of one of our orders (stream or REST history)."""

    client_id: int
    trade_id: int
    px: int
    sz: int
    maker: bool = False
    fee: int = 0  # notional units, negative = rebate
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class PositionReport:
    """One market's position (signed size: long > 0)."""

    symbol: str
    size: int
    entry_px: int
    unrealized_pnl: int = 0


@dataclass(frozen=True, slots=True)
class ReconcileRules:
    """The rules every venue shares (config: `unknown_order_policy`, `submit_window_s`)."""

    unknown_order_policy: UnknownOrderPolicy = "adopt"
    submit_window_s: float = 10.0

    def __post_init__(self) -> None:
        if self.unknown_order_policy not in UNKNOWN_ORDER_POLICIES:
            raise ValueError(f"unknown_order_policy: expected one of {', '.join(UNKNOWN_ORDER_POLICIES)}, "
                             f"got {self.unknown_order_policy!r}")
        if not self.submit_window_s >= 0:
            raise ValueError(f"submit_window_s: must be >= 0, got {self.submit_window_s!r}")

    @property
    def submit_window_ns(self) -> int:
        return int(self.submit_window_s * 1e9)


@dataclass
class ReconcileStats:
    """Counters every venue reports the same way (telemetry reads them)."""

    reconciles: int = 0
    reconcile_errors: int = 0
    adopted: int = 0
    cancelled_unknown: int = 0
    left_unknown: int = 0  # untracked venue orders left alone (no client id, or policy `ignore`)
    ghosts: int = 0  # open at the venue, ended here
    settled_by_query: int = 0  # missing orders the venue's history or order query settled
    settled_missing: int = 0  # missing orders ended by the not-found rule
    fills_applied: int = 0
    fills_refused: int = 0  # over-fills and conflicting order ids: the tracker kept its state
    reports_refused: int = 0


@dataclass(frozen=True, slots=True)
class OpenOrdersVerdict:
    """What to do after reading the venue's open orders."""

    cancel: tuple[OrderReport, ...]  # cancel at the venue by its order id (unknown by policy, ghosts)
    missing: tuple[Order, ...]  # tracked live orders the venue did not list: look them up, then settle
    listed: frozenset[int]  # client ids the venue listed open (ours)
    untracked: tuple[OrderReport, ...]  # open at the venue, not ours after the policy ran


@dataclass(frozen=True, slots=True)
class PositionMerge:
    positions: dict[str, PositionReport]  # the new cache (markets without a position are absent)
    changed: tuple[str, ...]  # markets whose (size, entry) changed, flat ones included
    disagreed: tuple[str, ...]  # markets where the cache (the bot's belief) differed from the venue


class Reconciler:
    """Venue reports -> the core OrderTracker, for one venue. Holds no state of its own beyond counters."""

    def __init__(self, venue: str, tracker: OrderTracker, rules: ReconcileRules,
                 stats: ReconcileStats | None = None) -> None:
        self.venue = venue
        self.tracker = tracker
        self.rules = rules
        self.stats = stats if stats is not None else ReconcileStats()

    # ------------------------------------------------------------------ single reports
    def apply_order(self, report: OrderReport) -> TrackerOutcome | None:
        """A status report for an order we track (None when it carries no client id of ours)."""
        cid = report.client_id
        if not cid:
            return None
        try:
            return self.tracker.on_venue_state(
                cid, self.venue, report.state, report.filled, avg_px=report.avg_px, order_id=report.order_id,
                reason=report.reason if report.state not in ("open", "partially_filled", "filled") else None,
            )
        except OrderTrackerError as e:
            self.stats.reports_refused += 1
            log.warning("%s order %s: venue report refused by the tracker: %s", self.venue, cid, e)
            return None

    def apply_fill(self, fill: FillReport) -> TrackerOutcome | None:
        """One execution; counted once by trade id (later copies are `duplicate`)."""
        try:
            outcome = self.tracker.on_fill(fill.client_id, self.venue, fill.trade_id, fill.px, fill.sz,
                                           maker=fill.maker, fee=fill.fee, order_id=fill.order_id)
        except OrderTrackerError as e:
            self.stats.fills_refused += 1
            log.warning("%s fill %s of order %s refused by the tracker: %s", self.venue, fill.trade_id,
                        fill.client_id, e)
            return None
        if outcome == "applied":
            self.stats.fills_applied += 1
        return outcome

    def apply_fills(self, fills: Iterable[FillReport]) -> int:
        """Fills of orders we track (others are skipped); returns how many were new."""
        new = 0
        for f in fills:
            if self.tracker.knows(f.client_id, self.venue) and self.apply_fill(f) == "applied":
                new += 1
        return new

    # ------------------------------------------------------------------ a reconciliation pass
    def open_orders(self, reports: Sequence[OrderReport], now_ns: int,
                    in_flight: Collection[int] = ()) -> OpenOrdersVerdict:
        """The venue's complete list of open orders (for the markets we trade) -> tracker + actions."""
        trk, venue, policy = self.tracker, self.venue, self.rules.unknown_order_policy
        cancel: list[OrderReport] = []
        untracked: list[OrderReport] = []
        listed: set[int] = set()
        for r in reports:
            cid = r.client_id or 0
            tracked = trk.get(cid, venue) if cid else None
            if tracked is None:
                if policy == "adopt" and cid:
                    self._adopt(r)
                    listed.add(cid)
                elif policy == "cancel":
                    cancel.append(r)
                    self.stats.cancelled_unknown += 1
                else:
                    if policy == "adopt":
                        log.warning("%s order %s on %s has no client id: cannot adopt, left alone", venue,
                                    r.order_id, r.symbol)
                    untracked.append(r)
                    self.stats.left_unknown += 1
                continue
            listed.add(cid)
            if tracked.is_terminal:
                self.stats.ghosts += 1
                log.warning("%s order %s is open at the venue but %s here", venue, cid, tracked.state)
                # What the listing adds (a fill we missed) still counts; the state cannot move back.
                self.apply_order(r)
                if policy != "ignore":
                    cancel.append(r)
                continue
            self.apply_order(r)
        window = self.rules.submit_window_ns
        missing = tuple(
            o for o in trk.open_orders(venue)
            if o.client_id not in listed and o.client_id not in in_flight and now_ns - o.updated_ns >= window
        )
        return OpenOrdersVerdict(tuple(cancel), missing, frozenset(listed), tuple(untracked))

    def check_listed(self, reports: Sequence[OrderReport], watched: Collection[int]) -> tuple[Order, ...]:
        """A quick check of some live orders (`watched` client ids) against the venue's open-order list,
        between reconciliations: what the list says of a tracked live order is applied (a fill the stream
        has not delivered moves its filled size at once). Returns the watched live orders the venue no
        longer lists: look each one up (`found`). Nothing is settled, adopted or cancelled here: an order
        the look-up does not find is left to the reconciliation's submit-window rule."""
        trk, venue = self.tracker, self.venue
        listed: set[int] = set()
        for r in reports:
            cid = r.client_id or 0
            tracked = trk.get(cid, venue) if cid else None
            if tracked is not None and not tracked.is_terminal:
                listed.add(cid)
                self.apply_order(r)
        out = []
        for cid in watched:
            o = trk.get(cid, venue)
            if o is not None and not o.is_terminal and cid not in listed:
                out.append(o)
        return tuple(out)

    def found(self, report: OrderReport) -> bool:
        """A missing order's row from an order query or the history: applied; True when it was ours."""
        if not report.client_id or not self.tracker.knows(report.client_id, self.venue):
            return False
        self.stats.settled_by_query += 1
        self.apply_order(report)
        return True

    def settle_missing(self, missing: Iterable[Order]) -> dict[int, str]:
        """Missing orders the lookups did not end: the not-found rule. Returns client id -> new state."""
        out: dict[int, str] = {}
        for o in missing:
            cur = self.tracker.get(o.client_id, self.venue)
            if cur is None or cur.is_terminal:
                continue
            if cur.filled >= cur.sz:
                state = "filled"
                self.tracker.on_venue_state(o.client_id, self.venue, "filled", cur.filled)
            elif cur.order_id is None and cur.filled == 0 and cur.acked_ns is None:
                # Never acknowledged, never on a stream, unknown to the venue after the submit window.
                state = "rejected"
                self.tracker.on_venue_state(o.client_id, self.venue, "rejected", 0,
                                            reason="unknown to the venue after the submit window (reconciliation)")
            else:
                state = "cancelled"
                self.tracker.on_venue_state(o.client_id, self.venue, "cancelled", cur.filled,
                                            reason="not open at the venue (reconciliation)")
            self.stats.settled_missing += 1
            out[o.client_id] = state
        return out

    def _adopt(self, r: OrderReport) -> None:
        assert r.client_id
        self.tracker.submitted(r.client_id, self.venue, r.symbol, r.side, r.price, r.size, post_only=r.post_only,
                               reduce_only=r.reduce_only, time_in_force=r.time_in_force)
        self.apply_order(r)
        self.stats.adopted += 1
        log.info("%s: adopted open order client id %s on %s", self.venue, r.client_id, r.symbol)

    # ------------------------------------------------------------------ agreement (settle)
    def disagreements(self, verdict: OpenOrdersVerdict, positions: PositionMerge | None = None) -> tuple[str, ...]:
        """What still differs between us and the venue after a pass; empty when they agree.

        Agreement: every order we hold live is listed open at the venue, every order the venue lists
        open is ours (or left alone by policy `ignore`), nothing is unresolved, and the venue's positions
        equal what we held before reading them.
        """
        out: list[str] = []
        for o in self.tracker.open_orders(self.venue):
            if o.client_id not in verdict.listed:
                out.append(f"order {o.client_id} is {o.state} here, not open at the venue")
            elif o.state not in _LIVE:
                out.append(f"order {o.client_id} is {o.state} here")
        if self.rules.unknown_order_policy != "ignore":
            out += [f"venue order {r.order_id} on {r.symbol} is not ours" for r in verdict.untracked]
        out += [f"venue order {r.order_id} on {r.symbol} to cancel" for r in verdict.cancel]
        if positions is not None:
            out += [f"position {s} differed from the venue" for s in positions.disagreed]
        return tuple(out)


def merge_positions(
    cached: Mapping[str, PositionReport],
    venue: Iterable[PositionReport],
    symbols: Collection[str],
    *,
    asked_ns: int,
    stream_seen_ns: Mapping[str, int] | None = None,
) -> PositionMerge:
    """A REST position read against the cache, for the markets in `symbols`.

    A market the stream updated after `asked_ns` keeps its cached value (it is newer than the read).
    """
    fresh = {p.symbol: p for p in venue if p.symbol in symbols}
    seen = stream_seen_ns or {}
    out: dict[str, PositionReport] = {}
    changed: list[str] = []
    disagreed: list[str] = []
    for sym in symbols:
        old = cached.get(sym)
        if seen.get(sym, 0) > asked_ns:
            if old is not None:
                out[sym] = old
            continue
        new = fresh.get(sym)
        if new is not None and new.size != 0:
            out[sym] = new
        new_pair = (new.size, new.entry_px) if new is not None and new.size else (0, 0)
        old_pair = (old.size, old.entry_px) if old is not None and old.size else (0, 0)
        if new_pair != old_pair:
            changed.append(sym)
        if new_pair[0] != old_pair[0]:
            disagreed.append(sym)
    return PositionMerge(out, tuple(changed), tuple(disagreed))


@dataclass(frozen=True, slots=True)
class ReconcilePass:
    """What one reconciliation found (`Connector.reconcile` returns it)."""

    verdict: OpenOrdersVerdict
    positions: PositionMerge
    disagreements: tuple[str, ...]  # empty: bot and venue agree

    @property
    def agreed(self) -> bool:
        return not self.disagreements


@dataclass(frozen=True)
class SettleReport:
    """The outcome of `Connector.settle`: REST re-reads until the bot and the venue agree."""

    venue: str
    agreed: bool
    rounds: int
    disagreements: tuple[str, ...] = ()  # of the last round (empty when agreed)
    open_orders: tuple[int, ...] = ()  # client ids live at both, after the last round
    positions: dict[str, int] = field(default_factory=dict)  # the venue's non-zero positions (signed size)
