//! Typed events: what the core hands to Python through the event ring.
//!
//! This file is the contract between the producers (feed decoders, order tracker, rate limiter)
//! and the consumer (the Python dispatcher, the journal thread). Everything is integers in the
//! market's units; strings appear only where the venue's own identifiers are strings and on rare
//! paths (resync reasons, reject reasons).

/// Price in a market's integer units (10^-price_decimals).
pub type Px = i64;
/// Size in a market's integer units (10^-size_decimals).
pub type Sz = i64;

/// The venues the core knows: defined by the one registration table in `venues.rs`.
pub use crate::venues::Venue;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    Bid = 0,
    Ask = 1,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Bid => "bid",
            Side::Ask => "ask",
        }
    }
}

/// Order states of the one order-state machine (see `tracker`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderState {
    PendingNew = 0,
    Open = 1,
    PartiallyFilled = 2,
    PendingCancel = 3,
    Filled = 4,
    Cancelled = 5,
    Rejected = 6,
    Expired = 7,
    /// We do not know (a timeout, a dropped connection) until the venue tells us.
    Unresolved = 8,
}

impl OrderState {
    pub const ALL: [OrderState; 9] = [
        OrderState::PendingNew,
        OrderState::Open,
        OrderState::PartiallyFilled,
        OrderState::PendingCancel,
        OrderState::Filled,
        OrderState::Cancelled,
        OrderState::Rejected,
        OrderState::Expired,
        OrderState::Unresolved,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OrderState::PendingNew => "pending_new",
            OrderState::Open => "open",
            OrderState::PartiallyFilled => "partially_filled",
            OrderState::PendingCancel => "pending_cancel",
            OrderState::Filled => "filled",
            OrderState::Cancelled => "cancelled",
            OrderState::Rejected => "rejected",
            OrderState::Expired => "expired",
            OrderState::Unresolved => "unresolved",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderState::Filled | OrderState::Cancelled | OrderState::Rejected | OrderState::Expired
        )
    }
}

/// A book changed. `book_id` is the index the decoder gave the book when it was added.
/// Top of book is copied at push time; the dispatcher may conflate several updates of one
/// book into the latest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookUpdate {
    pub venue: Venue,
    pub book_id: u32,
    pub best_bid: Option<(Px, Sz)>,
    pub best_ask: Option<(Px, Sz)>,
    pub seq: u64,
}

/// A book broke its sequence rule (or crossed, or went quiet) and must be re-snapshotted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resync {
    pub venue: Venue,
    pub book_id: u32,
    pub reason: String,
}

/// A public trade print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trade {
    pub venue: Venue,
    pub book_id: u32,
    pub px: Px,
    pub sz: Sz,
    /// Side of the aggressor (taker).
    pub taker_side: Side,
    pub trade_id: u64,
}

/// An order changed state (from a venue stream, a REST answer, or our own submit path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderUpdate {
    pub venue: Venue,
    pub client_id: u64,
    /// The venue's order id, when known (Backpack: decimal string; Lighter: order index).
    pub order_id: Option<String>,
    pub state: OrderState,
    /// Cumulative filled size.
    pub filled: Sz,
    /// Average fill price, 0 when nothing filled.
    pub avg_px: Px,
    /// Why (rejects, expiries, unresolved); None otherwise.
    pub reason: Option<String>,
}

/// One execution of one of our orders. De-duplicated by (venue, trade_id) in the tracker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fill {
    pub venue: Venue,
    pub client_id: u64,
    pub trade_id: u64,
    pub side: Side,
    pub px: Px,
    pub sz: Sz,
    pub maker: bool,
    /// Fee in notional units: 10^-(price_decimals + size_decimals) of the quote asset.
    /// Negative for a rebate.
    pub fee: i64,
}

/// Our position in one market (signed size: long > 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub venue: Venue,
    pub book_id: u32,
    pub size: Sz,
    pub entry_px: Px,
}

/// A rate-limit key made a caller wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimited {
    pub key: String,
    pub wait_ns: u64,
}

/// An operator's action on the running bot (panel or control endpoint): what, and its details as JSON
/// text. Pushed so the journal holds it in order with the market data and orders it acted on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorAction {
    pub action: String,
    pub detail: String,
}

/// Funding rates are integers in units of 10^-8 per funding interval (the precision Binance publishes;
/// 1 ppm = 100). Positive: longs pay shorts.
pub const FUNDING_RATE_DECIMALS: u32 = 8;

/// A venue's mark price and funding for one market (Binance / Aster `markPriceUpdate`). Prices are in the
/// book's price units (rounded half-even to its tick decimals); `recv_ns` of the event is the local receive
/// time, `venue_ms` the venue's own event time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkPrice {
    pub venue: Venue,
    pub book_id: u32,
    pub mark_px: Px,
    /// None where the venue does not publish an index price.
    pub index_px: Option<Px>,
    /// Current funding rate (the estimate for the interval ending at `next_funding_ms`), 10^-8 units;
    /// None for a contract without funding.
    pub funding_rate: Option<i64>,
    /// Venue milliseconds (Unix) of the next funding settlement; 0 when unknown or without funding.
    pub next_funding_ms: u64,
    /// Venue milliseconds (Unix) of the event.
    pub venue_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventBody {
    Book(BookUpdate),
    Resync(Resync),
    Trade(Trade),
    Order(OrderUpdate),
    Fill(Fill),
    Position(Position),
    RateLimited(RateLimited),
    Operator(OperatorAction),
    Mark(MarkPrice),
}

impl EventBody {
    /// Book updates may be conflated; every other kind must be delivered.
    pub fn is_conflatable(&self) -> bool {
        matches!(self, EventBody::Book(_))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::Book(_) => "book",
            EventBody::Resync(_) => "resync",
            EventBody::Trade(_) => "trade",
            EventBody::Order(_) => "order",
            EventBody::Fill(_) => "fill",
            EventBody::Position(_) => "position",
            EventBody::RateLimited(_) => "rate_limited",
            EventBody::Operator(_) => "operator",
            EventBody::Mark(_) => "mark",
        }
    }
}

/// One event as it travels through the ring. `seq` is assigned by the ring on push;
/// timestamps are monotonic nanoseconds (CLOCK_MONOTONIC, same clock as Python's
/// `time.monotonic_ns()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub recv_ns: i64,
    pub decoded_ns: i64,
    pub body: EventBody,
}

/// Monotonic nanoseconds on the same clock as Python's `time.monotonic_ns()` (CLOCK_MONOTONIC,
/// read through the vDSO: about 20 ns).
pub fn monotonic_ns() -> i64 {
    clock_monotonic_ns_raw()
}

#[cfg(unix)]
fn clock_monotonic_ns_raw() -> i64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clk: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_MONOTONIC: i32 = 1;
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the struct we own; CLOCK_MONOTONIC always exists on Linux.
    unsafe {
        clock_gettime(CLOCK_MONOTONIC, &mut ts);
    }
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

#[cfg(not(unix))]
fn clock_monotonic_ns_raw() -> i64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_names_round_trip() {
        for &v in Venue::BUILTIN {
            assert_eq!(Venue::from_name(v.name()), Some(v));
        }
        assert_eq!(Venue::from_name("nope"), None);
    }

    #[test]
    fn terminal_states() {
        let terminal: Vec<_> = OrderState::ALL.iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(terminal.len(), 4);
        assert!(!OrderState::Unresolved.is_terminal());
    }

    #[test]
    fn only_book_updates_conflate() {
        let b = EventBody::Book(BookUpdate {
            venue: Venue::Backpack,
            book_id: 0,
            best_bid: None,
            best_ask: None,
            seq: 1,
        });
        assert!(b.is_conflatable());
        let r = EventBody::Resync(Resync { venue: Venue::Lighter, book_id: 0, reason: "gap".into() });
        assert!(!r.is_conflatable());
    }

    #[test]
    fn monotonic_is_monotonic_and_near_clock() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a);
        let raw = clock_monotonic_ns_raw();
        assert!((raw - b).abs() < 1_000_000_000);
    }
}
