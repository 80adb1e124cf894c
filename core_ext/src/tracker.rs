//! OrderTracker: one order-state machine for every venue.
//!
//! Every order event (ours, a venue stream, a REST answer, a reconciliation) is reduced to one
//! [`Event`] and looked up in [`TRANSITIONS`], the single (state, event) -> step table below. The
//! table is the whole state machine; the code around it only (1) de-duplicates fills, (2) keeps the
//! filled size consistent and (3) records what changed.
//!
//! Invariants (checked by the property tests):
//! - a terminal order (filled, cancelled, rejected, expired) never leaves the terminal states;
//! - `filled <= size`: a fill or cumulative report that would over-fill is an error, nothing applied;
//! - a fill is counted once per (venue, client_id, trade_id): a venue's trade id is not globally unique
//!   (Backpack numbers trades per symbol; a self-cross gives both our orders the same trade id);
//! - `filled == max(sum of unique fills, highest cumulative filled the venue reported)`: per-fill
//!   updates and cumulative ones (Backpack `z`, REST `executedQuantity`) never double count.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use crate::events::{EventBody, Fill, OrderState, OrderUpdate, Px, Side, Sz, Venue};
use crate::ring::EventRing;

/// What happened to an order, reduced to the table's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Event {
    /// The venue accepted the order (or reconciliation says it rests on the book unfilled).
    Ack = 0,
    /// The venue refused the order; it never rested.
    Reject = 1,
    /// A fill (or cumulative report) that leaves part of the order unfilled.
    FillPartial = 2,
    /// A fill (or cumulative report) that completes the order.
    FillFull = 3,
    /// We sent a cancel.
    CancelRequested = 4,
    /// The venue refused our cancel (e.g. order not found / already done).
    CancelRejected = 5,
    /// The venue cancelled the order.
    Cancelled = 6,
    /// The venue expired the order (IOC remainder, post-only cross, ...).
    Expired = 7,
    /// We lost track of the outcome (a timeout, a dropped connection).
    Unresolved = 8,
}

impl Event {
    pub const ALL: [Event; 9] = [
        Event::Ack,
        Event::Reject,
        Event::FillPartial,
        Event::FillFull,
        Event::CancelRequested,
        Event::CancelRejected,
        Event::Cancelled,
        Event::Expired,
        Event::Unresolved,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::Ack => "ack",
            Event::Reject => "reject",
            Event::FillPartial => "fill_partial",
            Event::FillFull => "fill_full",
            Event::CancelRequested => "cancel_requested",
            Event::CancelRejected => "cancel_rejected",
            Event::Cancelled => "cancelled",
            Event::Expired => "expired",
            Event::Unresolved => "unresolved",
        }
    }

    pub fn from_name(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// One cell of the transition table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Apply the event and move to this state (which may be the current one, e.g. one more partial fill).
    To(OrderState),
    /// The event repeats what we already know: nothing changes.
    Duplicate,
    /// The event is older than what we know (late ack, cancel reply after the fill): nothing changes.
    Stale,
    /// The event contradicts what the venue already told us: nothing changes, reported to the caller.
    Illegal,
}

use OrderState as S;
use Step::{Duplicate as Dup, Illegal as Bad, Stale as Old, To};

/// THE state machine. Rows: current state (`OrderState as usize`); columns: event (`Event as usize`):
///
/// |                  | Ack       | Reject   | FillPartial     | FillFull | CancelRequested | CancelRejected | Cancelled  | Expired  | Unresolved |
///
/// Two rules sit outside the table because they depend on numbers, not names:
/// - a move to `Open` with something already filled lands in `PartiallyFilled`;
/// - a `Reject` of an order that has fills is `Illegal` (a rejected order never traded).
#[rustfmt::skip]
pub const TRANSITIONS: [[Step; 9]; 9] = [
    // pending_new: everything can overtake the ack (fill before ack, cancel before ack).
    [To(S::Open), To(S::Rejected), To(S::PartiallyFilled), To(S::Filled), To(S::PendingCancel), Old,
     To(S::Cancelled), To(S::Expired), To(S::Unresolved)],
    // open
    [Dup, Bad, To(S::PartiallyFilled), To(S::Filled), To(S::PendingCancel), Old,
     To(S::Cancelled), To(S::Expired), To(S::Unresolved)],
    // partially_filled: a late ack is stale.
    [Old, Bad, To(S::PartiallyFilled), To(S::Filled), To(S::PendingCancel), Old,
     To(S::Cancelled), To(S::Expired), To(S::Unresolved)],
    // pending_cancel: an ack after the cancel request is stale; fills still count while the cancel
    // travels; a full fill wins the race; a refused cancel puts the order back on the book.
    [Old, To(S::Rejected), To(S::PendingCancel), To(S::Filled), Dup, To(S::Open),
     To(S::Cancelled), To(S::Expired), To(S::Unresolved)],
    // filled (terminal): everything after it is late.
    [Old, Bad, Bad, To(S::Filled), Old, Old, Old, Old, Old],
    // cancelled (terminal): a late partial fill still counts (cancel then fill); a full one means
    // the order was in fact filled.
    [Old, Bad, To(S::Cancelled), To(S::Filled), Old, Old, Dup, Old, Old],
    // rejected (terminal): it never rested, so acks, fills, cancels and expiries contradict it.
    [Bad, Dup, Bad, Bad, Old, Old, Bad, Bad, Old],
    // expired (terminal): like cancelled.
    [Old, Bad, To(S::Expired), To(S::Filled), Old, Old, Old, Dup, Old],
    // unresolved: stays until the venue speaks (never guessed as rejected). A cancel sent to clean
    // up does not resolve it; a refused cancel tells us nothing either.
    [To(S::Open), To(S::Rejected), To(S::PartiallyFilled), To(S::Filled), To(S::Unresolved), Old,
     To(S::Cancelled), To(S::Expired), Dup],
];

/// The table lookup, for callers and tests that want the raw cell.
pub const fn transition(state: OrderState, event: Event) -> Step {
    TRANSITIONS[state as usize][event as usize]
}

/// What an `on_*` call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// State or fills changed; an OrderUpdate (and a Fill, for a new trade) went to the ring.
    Applied,
    /// Already known (same trade id, repeated ack, ...): nothing changed.
    Duplicate,
    /// Older than what we know: nothing changed.
    Stale,
    /// Contradicts what we know: nothing changed.
    Illegal,
    /// No such order (never submitted here, or pruned after it ended).
    UnknownOrder,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Illegal => "illegal",
            Outcome::UnknownOrder => "unknown_order",
        }
    }
}

/// Errors: the call was malformed or would break an invariant. Nothing was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackerError {
    DuplicateClientId {
        venue: Venue,
        client_id: u64,
    },
    InvalidSize {
        venue: Venue,
        client_id: u64,
        field: &'static str,
        value: i64,
    },
    Overfill {
        venue: Venue,
        client_id: u64,
        size: Sz,
        filled_after: Sz,
    },
    OrderIdConflict {
        venue: Venue,
        client_id: u64,
        known: String,
        got: String,
    },
}

impl fmt::Display for TrackerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrackerError::DuplicateClientId { venue, client_id } => write!(
                f,
                "client_id {client_id} on {} is already tracked (client ids are unique per venue account)",
                venue.name()
            ),
            TrackerError::InvalidSize { venue, client_id, field, value } => write!(
                f,
                "{field} must be > 0 (got {value}) for client_id {client_id} on {}",
                venue.name()
            ),
            TrackerError::Overfill { venue, client_id, size, filled_after } => write!(
                f,
                "over-fill rejected for client_id {client_id} on {}: filled would be {filled_after} > size {size}",
                venue.name()
            ),
            TrackerError::OrderIdConflict { venue, client_id, known, got } => write!(
                f,
                "client_id {client_id} on {} already has venue order id {known:?}, got {got:?}",
                venue.name()
            ),
        }
    }
}

impl std::error::Error for TrackerError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TimeInForce {
    Gtc = 0,
    Ioc = 1,
    Fok = 2,
}

impl TimeInForce {
    pub fn name(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "GTC",
            TimeInForce::Ioc => "IOC",
            TimeInForce::Fok => "FOK",
        }
    }

    pub fn from_name(name: &str) -> Option<TimeInForce> {
        match name {
            "GTC" | "gtc" => Some(TimeInForce::Gtc),
            "IOC" | "ioc" => Some(TimeInForce::Ioc),
            "FOK" | "fok" => Some(TimeInForce::Fok),
            _ => None,
        }
    }
}

/// What the caller knew when it submitted the order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    pub venue: Venue,
    pub client_id: u64,
    pub symbol: String,
    pub side: Side,
    pub px: Px,
    pub sz: Sz,
    pub post_only: bool,
    pub reduce_only: bool,
    pub tif: TimeInForce,
}

/// One tracked order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub venue: Venue,
    pub client_id: u64,
    pub symbol: String,
    pub side: Side,
    pub px: Px,
    pub sz: Sz,
    pub post_only: bool,
    pub reduce_only: bool,
    pub tif: TimeInForce,
    pub order_id: Option<String>,
    pub state: OrderState,
    /// max(sum of unique fills, highest venue-reported cumulative filled).
    pub filled: Sz,
    /// Sum of the unique fills we saw, and their notional (px * sz) for the average price.
    pub fills_sz: Sz,
    pub fills_notional: i128,
    /// Highest cumulative filled size the venue reported (0 if it never did).
    pub venue_cum: Sz,
    /// Average price the venue reported with a cumulative report (used when we lack the fills).
    pub venue_avg_px: Px,
    pub trade_ids: Vec<u64>,
    pub reason: Option<String>,
    pub created_ns: i64,
    pub acked_ns: i64,
    pub updated_ns: i64,
    pub cancel_requested_ns: i64,
}

impl Order {
    pub fn remaining(&self) -> Sz {
        self.sz - self.filled
    }

    /// Average fill price (rounded to nearest unit), 0 when nothing filled.
    pub fn avg_px(&self) -> Px {
        if self.fills_sz > 0 && self.fills_sz >= self.venue_cum {
            let n = self.fills_notional;
            let d = self.fills_sz as i128;
            ((2 * n + d) / (2 * d)) as Px
        } else if self.venue_cum > 0 && self.venue_avg_px > 0 {
            self.venue_avg_px
        } else if self.fills_sz > 0 {
            ((2 * self.fills_notional + self.fills_sz as i128) / (2 * self.fills_sz as i128)) as Px
        } else {
            0
        }
    }

    fn update_event(&self) -> OrderUpdate {
        OrderUpdate {
            venue: self.venue,
            client_id: self.client_id,
            order_id: self.order_id.clone(),
            state: self.state,
            filled: self.filled,
            avg_px: self.avg_px(),
            reason: self.reason.clone(),
        }
    }
}

/// One execution report for [`OrderTracker::on_fill`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillReport {
    pub trade_id: u64,
    pub px: Px,
    pub sz: Sz,
    pub maker: bool,
    pub fee: i64,
    /// The venue's cumulative filled size after this fill, when it sends one (Backpack `z`).
    pub cum_filled: Option<Sz>,
}

/// What the venue says about one order when we reconcile (REST order query, order history).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueReport<'a> {
    pub state: OrderState,
    /// Cumulative filled size.
    pub cum_filled: Sz,
    pub avg_px: Option<Px>,
    pub order_id: Option<&'a str>,
    pub reason: Option<&'a str>,
}

impl VenueReport<'_> {
    pub fn new(state: OrderState, cum_filled: Sz) -> Self {
        VenueReport {
            state,
            cum_filled,
            avg_px: None,
            order_id: None,
            reason: None,
        }
    }
}

/// How many terminal orders to keep for late events and lookups before the oldest are pruned.
pub const DEFAULT_TERMINAL_RETENTION: usize = 100_000;

type Key = (Venue, u64);

pub struct OrderTracker {
    orders: HashMap<Key, Order>,
    by_order_id: HashMap<(Venue, String), u64>,
    /// Terminal orders in the order they ended: pruned from the front beyond `retention`.
    terminal: VecDeque<Key>,
    retention: usize,
    ring: Option<Arc<EventRing>>,
}

impl fmt::Debug for OrderTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderTracker")
            .field("orders", &self.orders.len())
            .field("terminal", &self.terminal.len())
            .field("retention", &self.retention)
            .finish()
    }
}

impl Default for OrderTracker {
    fn default() -> Self {
        OrderTracker::new(None, DEFAULT_TERMINAL_RETENTION)
    }
}

impl OrderTracker {
    pub fn new(ring: Option<Arc<EventRing>>, terminal_retention: usize) -> Self {
        OrderTracker {
            orders: HashMap::new(),
            by_order_id: HashMap::new(),
            terminal: VecDeque::new(),
            retention: terminal_retention,
            ring,
        }
    }

    pub fn len(&self) -> usize {
        self.orders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    pub fn retention(&self) -> usize {
        self.retention
    }

    pub fn get(&self, venue: Venue, client_id: u64) -> Option<&Order> {
        self.orders.get(&(venue, client_id))
    }

    pub fn get_by_order_id(&self, venue: Venue, order_id: &str) -> Option<&Order> {
        // The borrowed-key lookup needs an owned tuple; order ids are short so this is cheap.
        let cid = self.by_order_id.get(&(venue, order_id.to_owned()))?;
        self.orders.get(&(venue, *cid))
    }

    /// Live orders (not terminal, unresolved included), optionally filtered, sorted by client id.
    pub fn open_orders(&self, venue: Option<Venue>, symbol: Option<&str>) -> Vec<&Order> {
        let mut v: Vec<&Order> = self
            .orders
            .values()
            .filter(|o| !o.state.is_terminal())
            .filter(|o| venue.is_none_or(|v| o.venue == v))
            .filter(|o| symbol.is_none_or(|s| o.symbol == s))
            .collect();
        v.sort_by_key(|o| (o.venue, o.client_id));
        v
    }

    /// Orders whose outcome we do not know, sorted by client id.
    pub fn unresolved(&self) -> Vec<&Order> {
        let mut v: Vec<&Order> = self
            .orders
            .values()
            .filter(|o| o.state == OrderState::Unresolved)
            .collect();
        v.sort_by_key(|o| (o.venue, o.client_id));
        v
    }

    /// Start tracking an order we are about to send (state pending_new).
    pub fn submitted(&mut self, new: NewOrder, now_ns: i64) -> Result<(), TrackerError> {
        if new.sz <= 0 {
            return Err(TrackerError::InvalidSize {
                venue: new.venue,
                client_id: new.client_id,
                field: "sz",
                value: new.sz,
            });
        }
        let key = (new.venue, new.client_id);
        match self.orders.entry(key) {
            Entry::Occupied(_) => Err(TrackerError::DuplicateClientId {
                venue: new.venue,
                client_id: new.client_id,
            }),
            Entry::Vacant(slot) => {
                let o = slot.insert(Order {
                    venue: new.venue,
                    client_id: new.client_id,
                    symbol: new.symbol,
                    side: new.side,
                    px: new.px,
                    sz: new.sz,
                    post_only: new.post_only,
                    reduce_only: new.reduce_only,
                    tif: new.tif,
                    order_id: None,
                    state: OrderState::PendingNew,
                    filled: 0,
                    fills_sz: 0,
                    fills_notional: 0,
                    venue_cum: 0,
                    venue_avg_px: 0,
                    trade_ids: Vec::new(),
                    reason: None,
                    created_ns: now_ns,
                    acked_ns: 0,
                    updated_ns: now_ns,
                    cancel_requested_ns: 0,
                });
                if let Some(ring) = &self.ring {
                    ring.push(now_ns, EventBody::Order(o.update_event()));
                }
                Ok(())
            }
        }
    }

    pub fn on_ack(
        &mut self,
        venue: Venue,
        client_id: u64,
        order_id: Option<&str>,
        now_ns: i64,
    ) -> Result<Outcome, TrackerError> {
        self.apply(venue, client_id, Event::Ack, order_id, None, now_ns)
    }

    pub fn on_reject(
        &mut self,
        venue: Venue,
        client_id: u64,
        reason: Option<&str>,
        now_ns: i64,
    ) -> Result<Outcome, TrackerError> {
        self.apply(venue, client_id, Event::Reject, None, reason, now_ns)
    }

    pub fn on_cancel_requested(
        &mut self,
        venue: Venue,
        client_id: u64,
        now_ns: i64,
    ) -> Result<Outcome, TrackerError> {
        self.apply(venue, client_id, Event::CancelRequested, None, None, now_ns)
    }

    pub fn on_cancel_rejected(
        &mut self,
        venue: Venue,
        client_id: u64,
        reason: Option<&str>,
        now_ns: i64,
    ) -> Result<Outcome, TrackerError> {
        self.apply(
            venue,
            client_id,
            Event::CancelRejected,
            None,
            reason,
            now_ns,
        )
    }

    pub fn on_cancel(
        &mut self,
        venue: Venue,
        client_id: u64,
        reason: Option<&str>,
        now_ns: i64,
    ) -> Result<Outcome, TrackerError> {
        self.apply(venue, client_id, Event::Cancelled, None, reason, now_ns)
    }

    pub fn on_expire(
        &mut self,
        venue: Venue,
        client_id: u64,
        reason: Option<&str>,
        now_ns: i64,
    ) -> Result<Outcome, TrackerError> {
        self.apply(venue, client_id, Event::Expired, None, reason, now_ns)
    }

    pub fn on_unresolved(
        &mut self,
        venue: Venue,
        client_id: u64,
        reason: Option<&str>,
        now_ns: i64,
    ) -> Result<Outcome, TrackerError> {
        self.apply(venue, client_id, Event::Unresolved, None, reason, now_ns)
    }

    /// Record the venue's order id for an order that has none yet (any event may carry it first: a fill
    /// before the ack, a late ack). A different id than the one known is an error; nothing changes.
    pub fn note_order_id(
        &mut self,
        venue: Venue,
        client_id: u64,
        order_id: &str,
    ) -> Result<bool, TrackerError> {
        let Some(o) = self.orders.get_mut(&(venue, client_id)) else {
            return Ok(false);
        };
        match o.order_id.as_deref() {
            Some(known) if known == order_id => Ok(false),
            Some(known) => Err(TrackerError::OrderIdConflict {
                venue,
                client_id,
                known: known.to_owned(),
                got: order_id.to_owned(),
            }),
            None => {
                o.order_id = Some(order_id.to_owned());
                self.by_order_id
                    .insert((venue, order_id.to_owned()), client_id);
                Ok(true)
            }
        }
    }

    /// Apply a non-fill event through the table.
    fn apply(
        &mut self,
        venue: Venue,
        client_id: u64,
        event: Event,
        order_id: Option<&str>,
        reason: Option<&str>,
        now_ns: i64,
    ) -> Result<Outcome, TrackerError> {
        let Some(o) = self.orders.get_mut(&(venue, client_id)) else {
            return Ok(Outcome::UnknownOrder);
        };
        if let (Some(known), Some(got)) = (o.order_id.as_deref(), order_id) {
            if known != got {
                return Err(TrackerError::OrderIdConflict {
                    venue,
                    client_id,
                    known: known.to_owned(),
                    got: got.to_owned(),
                });
            }
        }
        let to = match step_for(o, event) {
            To(s) => s,
            Bad => return Ok(Outcome::Illegal),
            quiet => {
                // A duplicate or late event still teaches us the venue's order id (a late ack after
                // the fill); that is a new fact, not a state move.
                if let (None, Some(id)) = (o.order_id.as_deref(), order_id) {
                    o.order_id = Some(id.to_owned());
                    self.by_order_id.insert((venue, id.to_owned()), client_id);
                }
                return Ok(if quiet == Dup {
                    Outcome::Duplicate
                } else {
                    Outcome::Stale
                });
            }
        };
        let was_terminal = o.state.is_terminal();
        o.state = to;
        o.updated_ns = now_ns;
        match event {
            Event::Ack => o.acked_ns = now_ns,
            Event::CancelRequested => o.cancel_requested_ns = now_ns,
            _ => {}
        }
        if let Some(r) = reason {
            o.reason = Some(r.to_owned());
        }
        let new_oid = match order_id {
            Some(id) if o.order_id.is_none() => {
                o.order_id = Some(id.to_owned());
                true
            }
            _ => false,
        };
        let update = self.ring.as_ref().map(|_| o.update_event());
        let now_terminal = o.state.is_terminal();
        if new_oid {
            self.by_order_id
                .insert((venue, order_id.unwrap_or_default().to_owned()), client_id);
        }
        self.emit(now_ns, update, None);
        if now_terminal && !was_terminal {
            self.note_terminal((venue, client_id));
        }
        Ok(Outcome::Applied)
    }

    /// One execution. De-duplicated by trade id; `cum_filled` (the venue's cumulative) is honoured
    /// without double counting.
    pub fn on_fill(
        &mut self,
        venue: Venue,
        client_id: u64,
        fill: FillReport,
        now_ns: i64,
    ) -> Result<Outcome, TrackerError> {
        if fill.sz <= 0 {
            return Err(TrackerError::InvalidSize {
                venue,
                client_id,
                field: "sz",
                value: fill.sz,
            });
        }
        let Some(o) = self.orders.get_mut(&(venue, client_id)) else {
            return Ok(Outcome::UnknownOrder);
        };
        if o.trade_ids.contains(&fill.trade_id) {
            return Ok(Outcome::Duplicate);
        }
        let fills_sz = o.fills_sz + fill.sz;
        let venue_cum = o.venue_cum.max(fill.cum_filled.unwrap_or(0));
        let filled = fills_sz.max(venue_cum);
        if filled > o.sz {
            return Err(TrackerError::Overfill {
                venue,
                client_id,
                size: o.sz,
                filled_after: filled,
            });
        }
        let event = if filled == o.sz {
            Event::FillFull
        } else {
            Event::FillPartial
        };
        let to = match step_for(o, event) {
            To(s) => s,
            Dup => return Ok(Outcome::Duplicate),
            Old => return Ok(Outcome::Stale),
            Bad => return Ok(Outcome::Illegal),
        };
        let was_terminal = o.state.is_terminal();
        // A cumulative report may already have counted this execution: then only the Fill is news.
        let moved = to != o.state || filled != o.filled;
        o.trade_ids.push(fill.trade_id);
        o.fills_sz = fills_sz;
        o.fills_notional += fill.px as i128 * fill.sz as i128;
        o.venue_cum = venue_cum;
        o.filled = filled;
        o.state = to;
        o.updated_ns = now_ns;
        let events = self.ring.as_ref().map(|_| {
            (
                o.update_event(),
                Fill {
                    venue,
                    client_id,
                    trade_id: fill.trade_id,
                    side: o.side,
                    px: fill.px,
                    sz: fill.sz,
                    maker: fill.maker,
                    fee: fill.fee,
                },
            )
        });
        let now_terminal = o.state.is_terminal();
        if let Some((u, f)) = events {
            self.emit(now_ns, moved.then_some(u), Some(f));
        }
        if now_terminal && !was_terminal {
            self.note_terminal((venue, client_id));
        }
        Ok(Outcome::Applied)
    }

    /// Reconciliation: the venue reports the order's state and cumulative filled size (REST order
    /// query, order history, a stream snapshot). The venue is the authority, but its report goes
    /// through the same table: a stale snapshot never moves an order backwards.
    ///
    /// `state` is the venue's view: `Open` / `PartiallyFilled` (resting), `Filled`, `Cancelled`,
    /// `Expired`, `Rejected`. `PendingNew`, `PendingCancel` and `Unresolved` are our own states and
    /// are refused as `Illegal`.
    pub fn on_venue_state(
        &mut self,
        venue: Venue,
        client_id: u64,
        report: VenueReport<'_>,
        now_ns: i64,
    ) -> Result<Outcome, TrackerError> {
        let VenueReport {
            state,
            cum_filled,
            avg_px,
            order_id,
            reason,
        } = report;
        if cum_filled < 0 {
            return Err(TrackerError::InvalidSize {
                venue,
                client_id,
                field: "filled",
                value: cum_filled,
            });
        }
        let Some(o) = self.orders.get(&(venue, client_id)) else {
            return Ok(Outcome::UnknownOrder);
        };
        if cum_filled > o.sz {
            return Err(TrackerError::Overfill {
                venue,
                client_id,
                size: o.sz,
                filled_after: cum_filled,
            });
        }
        let grows = cum_filled > o.filled;
        let event = match state {
            OrderState::Open | OrderState::PartiallyFilled if grows => {
                if cum_filled == o.sz {
                    Event::FillFull
                } else {
                    Event::FillPartial
                }
            }
            OrderState::Open | OrderState::PartiallyFilled => Event::Ack,
            // "Filled" short of our size: the venue ended the order with less than we asked (it clips a
            // reduce-only order to the position, for one). Terminal with what filled, the rest cancelled.
            OrderState::Filled if cum_filled < o.sz => Event::Cancelled,
            OrderState::Filled => Event::FillFull,
            OrderState::Cancelled => Event::Cancelled,
            OrderState::Expired => Event::Expired,
            OrderState::Rejected => Event::Reject,
            OrderState::PendingNew | OrderState::PendingCancel | OrderState::Unresolved => {
                return Ok(Outcome::Illegal);
            }
        };
        let reason = if state == OrderState::Filled && cum_filled < o.sz {
            reason.or(Some("the venue ended it filled short of its size"))
        } else {
            reason
        };
        if state == OrderState::Filled && cum_filled == o.sz && !grows {
            // Already filled == size, which only the Filled state holds.
            return Ok(Outcome::Duplicate);
        }
        if !grows
            && matches!(
                event,
                Event::Cancelled | Event::Expired | Event::Reject | Event::Ack
            )
        {
            // No new size: a plain state report, same path as the stream events.
            return self.apply(venue, client_id, event, order_id, reason, now_ns);
        }
        // The report carries new filled size (and maybe a terminal state on top of it): first the
        // size as a fill-type event, then the terminal state through its own cell.
        let o = self
            .orders
            .get_mut(&(venue, client_id))
            .expect("checked above");
        if let (Some(known), Some(got)) = (o.order_id.as_deref(), order_id) {
            if known != got {
                return Err(TrackerError::OrderIdConflict {
                    venue,
                    client_id,
                    known: known.to_owned(),
                    got: got.to_owned(),
                });
            }
        }
        let fill_event = if cum_filled == o.sz {
            Event::FillFull
        } else {
            Event::FillPartial
        };
        let to = match step_for(o, fill_event) {
            To(s) => s,
            Dup => return Ok(Outcome::Duplicate),
            Old => return Ok(Outcome::Stale),
            Bad => return Ok(Outcome::Illegal),
        };
        let was_terminal = o.state.is_terminal();
        o.venue_cum = o.venue_cum.max(cum_filled);
        if let Some(p) = avg_px {
            o.venue_avg_px = p;
        }
        o.filled = o.fills_sz.max(o.venue_cum);
        o.state = to;
        o.updated_ns = now_ns;
        if o.acked_ns == 0 {
            o.acked_ns = now_ns;
        }
        let new_oid = match order_id {
            Some(id) if o.order_id.is_none() => {
                o.order_id = Some(id.to_owned());
                true
            }
            _ => false,
        };
        let update = self.ring.as_ref().map(|_| o.update_event());
        let now_terminal = o.state.is_terminal();
        if new_oid {
            self.by_order_id
                .insert((venue, order_id.unwrap_or_default().to_owned()), client_id);
        }
        self.emit(now_ns, update, None);
        if now_terminal && !was_terminal {
            self.note_terminal((venue, client_id));
        }
        if matches!(event, Event::Cancelled | Event::Expired | Event::Reject) {
            // The terminal part of the report; its outcome does not undo the size we just applied.
            self.apply(venue, client_id, event, None, reason, now_ns)?;
        }
        Ok(Outcome::Applied)
    }

    /// Drop terminal orders beyond the most recent `keep` (their late events then answer
    /// `UnknownOrder`). Called automatically with the configured retention.
    pub fn prune_terminal(&mut self, keep: usize) -> usize {
        let mut removed = 0;
        while self.terminal.len() > keep {
            let Some(key) = self.terminal.pop_front() else {
                break;
            };
            if let Some(o) = self.orders.remove(&key) {
                if let Some(oid) = o.order_id {
                    self.by_order_id.remove(&(key.0, oid));
                }
                removed += 1;
            }
        }
        removed
    }

    fn note_terminal(&mut self, key: Key) {
        self.terminal.push_back(key);
        if self.terminal.len() > self.retention {
            self.prune_terminal(self.retention);
        }
    }

    fn emit(&self, recv_ns: i64, update: Option<OrderUpdate>, fill: Option<Fill>) {
        if let Some(ring) = &self.ring {
            // Fill first: a consumer that sees the OrderUpdate already has the execution.
            if let Some(f) = fill {
                ring.push(recv_ns, EventBody::Fill(f));
            }
            if let Some(u) = update {
                ring.push(recv_ns, EventBody::Order(u));
            }
        }
    }
}

/// The table cell for this order, with the two numeric rules applied (see [`TRANSITIONS`]).
fn step_for(o: &Order, event: Event) -> Step {
    if event == Event::Reject && o.filled > 0 && !o.state.is_terminal() {
        return Bad;
    }
    match transition(o.state, event) {
        To(OrderState::Open) if o.filled > 0 => To(OrderState::PartiallyFilled),
        step => step,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const V: Venue = Venue::Backpack;

    fn new_order(cid: u64, sz: Sz) -> NewOrder {
        NewOrder {
            venue: V,
            client_id: cid,
            symbol: "SOL_USDC_PERP".into(),
            side: Side::Bid,
            px: 14_100,
            sz,
            post_only: false,
            reduce_only: false,
            tif: TimeInForce::Gtc,
        }
    }

    fn fill(trade_id: u64, sz: Sz) -> FillReport {
        FillReport {
            trade_id,
            px: 14_100,
            sz,
            maker: true,
            fee: 0,
            cum_filled: None,
        }
    }

    fn tracker() -> OrderTracker {
        let mut t = OrderTracker::default();
        t.submitted(new_order(1, 10), 1).unwrap();
        t
    }

    #[test]
    fn happy_path_and_ring_events() {
        let ring = Arc::new(EventRing::new(64));
        let mut t = OrderTracker::new(Some(ring.clone()), 10);
        t.submitted(new_order(1, 10), 1).unwrap();
        assert_eq!(t.on_ack(V, 1, Some("111"), 2), Ok(Outcome::Applied));
        assert_eq!(t.on_fill(V, 1, fill(7, 4), 3), Ok(Outcome::Applied));
        assert_eq!(t.get(V, 1).unwrap().state, OrderState::PartiallyFilled);
        assert_eq!(t.on_fill(V, 1, fill(8, 6), 4), Ok(Outcome::Applied));
        let o = t.get_by_order_id(V, "111").unwrap();
        assert_eq!(
            (o.state, o.filled, o.remaining(), o.avg_px()),
            (OrderState::Filled, 10, 0, 14_100)
        );
        let kinds: Vec<_> = std::iter::from_fn(|| ring.pop())
            .map(|e| e.body.kind())
            .collect();
        assert_eq!(kinds, ["order", "order", "fill", "order", "fill", "order"]);
    }

    #[test]
    fn duplicate_fill_counted_once_and_overfill_is_error() {
        let mut t = tracker();
        assert_eq!(t.on_fill(V, 1, fill(7, 4), 2), Ok(Outcome::Applied));
        assert_eq!(t.on_fill(V, 1, fill(7, 4), 3), Ok(Outcome::Duplicate));
        assert!(matches!(
            t.on_fill(V, 1, fill(9, 7), 4),
            Err(TrackerError::Overfill { .. })
        ));
        let o = t.get(V, 1).unwrap();
        assert_eq!((o.filled, o.state), (4, OrderState::PartiallyFilled));
    }

    #[test]
    fn cumulative_and_per_fill_do_not_double_count() {
        let mut t = tracker();
        // Fill 7 lost; fill 8 arrives with cumulative 6 (4 from the lost one + 2).
        let f8 = FillReport {
            cum_filled: Some(6),
            ..fill(8, 2)
        };
        assert_eq!(t.on_fill(V, 1, f8, 2), Ok(Outcome::Applied));
        assert_eq!(t.get(V, 1).unwrap().filled, 6);
        // The lost fill shows up late: now the fills explain the cumulative; nothing doubles.
        assert_eq!(t.on_fill(V, 1, fill(7, 4), 3), Ok(Outcome::Applied));
        assert_eq!(t.get(V, 1).unwrap().filled, 6);
        assert_eq!(
            t.on_venue_state(
                V,
                1,
                VenueReport {
                    avg_px: Some(14_000),
                    ..VenueReport::new(OrderState::Filled, 10)
                },
                4
            ),
            Ok(Outcome::Applied)
        );
        let o = t.get(V, 1).unwrap();
        assert_eq!((o.state, o.filled), (OrderState::Filled, 10));
    }

    #[test]
    fn cancel_then_late_fill_and_unresolved_then_reject() {
        let mut t = tracker();
        t.on_ack(V, 1, None, 2).unwrap();
        t.on_cancel_requested(V, 1, 3).unwrap();
        assert_eq!(t.on_ack(V, 1, None, 4), Ok(Outcome::Stale));
        t.on_cancel(V, 1, None, 5).unwrap();
        assert_eq!(t.on_fill(V, 1, fill(3, 2), 6), Ok(Outcome::Applied));
        let o = t.get(V, 1).unwrap();
        assert_eq!((o.state, o.filled), (OrderState::Cancelled, 2));

        t.submitted(new_order(2, 5), 7).unwrap();
        t.on_unresolved(V, 2, Some("timeout"), 8).unwrap();
        assert_eq!(t.unresolved().len(), 1);
        assert_eq!(
            t.on_reject(V, 2, Some("INSUFFICIENT_MARGIN"), 9),
            Ok(Outcome::Applied)
        );
        assert_eq!(t.get(V, 2).unwrap().state, OrderState::Rejected);
        assert!(t.unresolved().is_empty());
    }

    #[test]
    fn pruning_keeps_memory_bounded() {
        let mut t = OrderTracker::new(None, 3);
        for cid in 0..10 {
            t.submitted(new_order(cid, 1), 0).unwrap();
            t.on_ack(V, cid, Some(&cid.to_string()), 1).unwrap();
            t.on_cancel(V, cid, None, 2).unwrap();
        }
        assert_eq!(t.len(), 3);
        assert!(t.get(V, 6).is_none() && t.get(V, 9).is_some());
        assert!(t.get_by_order_id(V, "2").is_none());
        assert_eq!(t.by_order_id.len(), 3);
        assert_eq!(t.on_cancel(V, 0, None, 3), Ok(Outcome::UnknownOrder));
    }

    #[derive(Clone, Debug)]
    enum Ev {
        Ack,
        Reject,
        Fill(u64, Sz, Option<Sz>),
        CancelReq,
        CancelRej,
        Cancel,
        Expire,
        Unresolved,
        Venue(u8, Sz),
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            Just(Ev::Ack),
            Just(Ev::Reject),
            (0u64..6, 1i64..6, proptest::option::of(0i64..12))
                .prop_map(|(t, s, c)| Ev::Fill(t, s, c)),
            Just(Ev::CancelReq),
            Just(Ev::CancelRej),
            Just(Ev::Cancel),
            Just(Ev::Expire),
            Just(Ev::Unresolved),
            (0u8..9, 0i64..12).prop_map(|(s, f)| Ev::Venue(s, f)),
        ]
    }

    proptest! {
        #[test]
        fn invariants_hold_for_any_sequence(events in proptest::collection::vec(ev(), 0..40)) {
            const SIZE: Sz = 10;
            let mut t = tracker();
            let mut unique: HashMap<u64, Sz> = HashMap::new();
            let mut was_terminal = false;
            for (i, e) in events.iter().enumerate() {
                let before = t.get(V, 1).unwrap().clone();
                let now = i as i64 + 10;
                let r = match e {
                    Ev::Ack => t.on_ack(V, 1, None, now),
                    Ev::Reject => t.on_reject(V, 1, None, now),
                    Ev::Fill(tid, sz, cum) => {
                        // The same trade id always carries the same size (it is the same trade).
                        let sz = *unique.get(tid).unwrap_or(sz);
                        let r = t.on_fill(V, 1, FillReport { cum_filled: *cum, ..fill(*tid, sz) }, now);
                        if r == Ok(Outcome::Applied) { unique.insert(*tid, sz); }
                        r
                    }
                    Ev::CancelReq => t.on_cancel_requested(V, 1, now),
                    Ev::CancelRej => t.on_cancel_rejected(V, 1, None, now),
                    Ev::Cancel => t.on_cancel(V, 1, None, now),
                    Ev::Expire => t.on_expire(V, 1, None, now),
                    Ev::Unresolved => t.on_unresolved(V, 1, None, now),
                    Ev::Venue(s, f) => t.on_venue_state(V, 1, VenueReport::new(OrderState::ALL[*s as usize], *f), now),
                };
                let o = t.get(V, 1).unwrap();
                match r {
                    Ok(Outcome::Applied) => {}
                    _ => prop_assert_eq!(o, &before, "a non-applied event changed the order"),
                }
                prop_assert!(o.filled <= SIZE);
                prop_assert!(o.filled >= before.filled, "filled went down");
                prop_assert_eq!(o.fills_sz, unique.values().sum::<Sz>());
                prop_assert_eq!(o.filled, o.fills_sz.max(o.venue_cum));
                if was_terminal { prop_assert!(o.state.is_terminal(), "left terminal: {:?}", o.state); }
                if o.state == OrderState::Filled { prop_assert_eq!(o.filled, SIZE); }
                was_terminal = o.state.is_terminal();
            }
        }
    }
}
