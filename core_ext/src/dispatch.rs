//! The dispatcher's Rust side, free of Python: event kinds, the per-drain batch (taken from the ring,
//! book updates conflated to the latest per book), and the dispatch counters. The `EventRing.dispatch`
//! and `DispatchLoop` bindings (py/ring.rs) only turn these events into Python objects and call
//! handlers.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::events::{Event, EventBody, Venue};
use crate::ring::EventRing;

/// Event kinds, in the order `EventRing.dispatch` takes its routes (`EventRing.KINDS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventKind {
    Book = 0,
    Trade = 1,
    Order = 2,
    Fill = 3,
    Position = 4,
    Resync = 5,
    RateLimited = 6,
    Operator = 7,
    Mark = 8,
}

impl EventKind {
    pub const COUNT: usize = 9;
    pub const NAMES: [&'static str; Self::COUNT] =
        ["book", "trade", "order", "fill", "position", "resync", "rate_limited", "operator", "mark"];

    pub fn of(body: &EventBody) -> EventKind {
        match body {
            EventBody::Book(_) => EventKind::Book,
            EventBody::Trade(_) => EventKind::Trade,
            EventBody::Order(_) => EventKind::Order,
            EventBody::Fill(_) => EventKind::Fill,
            EventBody::Position(_) => EventKind::Position,
            EventBody::Resync(_) => EventKind::Resync,
            EventBody::RateLimited(_) => EventKind::RateLimited,
            EventBody::Operator(_) => EventKind::Operator,
            EventBody::Mark(_) => EventKind::Mark,
        }
    }

    pub const ALL: [EventKind; Self::COUNT] = [
        EventKind::Book,
        EventKind::Trade,
        EventKind::Order,
        EventKind::Fill,
        EventKind::Position,
        EventKind::Resync,
        EventKind::RateLimited,
        EventKind::Operator,
        EventKind::Mark,
    ];

    /// The kind at position `i` of `ALL` (panics past the end: callers iterate `NAMES`).
    pub fn of_index(i: usize) -> EventKind {
        Self::ALL[i]
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self.index()]
    }
}

/// Within one batch keep only the last book update of each (venue, book_id); returns how many were
/// dropped. Everything else keeps its place (and its order).
pub fn coalesce_books(batch: &mut Vec<Event>) -> u64 {
    if batch.iter().filter(|e| e.body.is_conflatable()).nth(1).is_none() {
        return 0;
    }
    let mut seen: HashSet<(Venue, u32)> = HashSet::new();
    let mut keep = vec![true; batch.len()];
    for (i, ev) in batch.iter().enumerate().rev() {
        if let EventBody::Book(b) = &ev.body {
            keep[i] = seen.insert((b.venue, b.book_id));
        }
    }
    let before = batch.len();
    let mut flags = keep.into_iter();
    batch.retain(|_| flags.next().unwrap_or(true));
    (before - batch.len()) as u64
}

/// One drain's events: up to `limit` from the ring, in delivery order; with `conflate`, book updates
/// superseded within the batch are dropped and counted on the ring (`coalesced`).
pub fn take_batch(ring: &EventRing, limit: usize, conflate: bool) -> Vec<Event> {
    let mut batch = Vec::with_capacity(limit.min(ring.len()).min(4096));
    while batch.len() < limit {
        match ring.pop() {
            Some(ev) => batch.push(ev),
            None => break,
        }
    }
    if conflate {
        let dropped = coalesce_books(&mut batch);
        ring.note_coalesced(dropped);
    }
    batch
}

/// What dispatching has taken so far: drains that took at least one event, events per kind.
/// One writer at a time (the dispatch loop, which holds the GIL): a load and a store cannot lose an
/// update there and cost less than a locked read-modify-write per event. Readers may be anywhere.
#[derive(Default)]
pub struct DispatchCounters {
    drains: AtomicU64,
    per_kind: [AtomicU64; EventKind::COUNT],
}

impl DispatchCounters {
    #[inline]
    fn bump(c: &AtomicU64) {
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    pub fn drain_started(&self) {
        Self::bump(&self.drains);
    }

    #[inline]
    pub fn taken(&self, kind: EventKind) {
        Self::bump(&self.per_kind[kind.index()]);
    }

    pub fn drains(&self) -> u64 {
        self.drains.load(Ordering::Relaxed)
    }

    pub fn of(&self, kind: EventKind) -> u64 {
        self.per_kind[kind.index()].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{BookUpdate, Fill, Side};
    use proptest::prelude::*;

    fn book(venue: Venue, book_id: u32, seq: u64) -> EventBody {
        EventBody::Book(BookUpdate {
            venue,
            book_id,
            seq,
            best_bid: None,
            best_ask: None,
        })
    }

    fn fill(trade_id: u64) -> EventBody {
        EventBody::Fill(Fill {
            venue: Venue::Backpack,
            client_id: 1,
            trade_id,
            side: Side::Bid,
            px: 1,
            sz: 1,
            maker: false,
            fee: 0,
        })
    }

    #[test]
    fn kinds_cover_every_body_in_route_order() {
        assert_eq!(EventKind::of(&book(Venue::Lighter, 0, 1)), EventKind::Book);
        assert_eq!(EventKind::of(&fill(1)).name(), "fill");
        assert_eq!(EventKind::NAMES.len(), EventKind::COUNT);
    }

    #[test]
    fn take_batch_respects_the_limit_and_counts_what_conflation_dropped() {
        let ring = EventRing::new(64);
        for seq in 0..5 {
            ring.push(0, book(Venue::Backpack, 0, seq));
        }
        ring.push(0, fill(7));
        let first = take_batch(&ring, 3, false);
        assert_eq!(first.len(), 3);
        let rest = take_batch(&ring, usize::MAX, true);
        assert_eq!(rest.len(), 2); // the last book update (seq 4) and the fill
        assert_eq!(ring.coalesced(), 1);
        assert!(take_batch(&ring, usize::MAX, true).is_empty());
    }

    proptest! {
        /// Conflation keeps exactly the last update of each book, and every other event, in order.
        #[test]
        fn coalescing_keeps_the_latest_book_update_and_everything_else(
            items in proptest::collection::vec((0u8..3, 0u32..4), 0..60)
        ) {
            let mut batch: Vec<Event> = items.iter().enumerate().map(|(i, &(kind, book_id))| {
                let body = match kind {
                    0 => book(Venue::Backpack, book_id, i as u64),
                    1 => book(Venue::Lighter, book_id, i as u64),
                    _ => fill(i as u64),
                };
                Event { seq: i as u64, recv_ns: 0, decoded_ns: 0, body }
            }).collect();
            let original = batch.clone();
            let dropped = coalesce_books(&mut batch);
            prop_assert_eq!(dropped as usize, original.len() - batch.len());
            let kept: Vec<u64> = batch.iter().map(|e| e.seq).collect();
            let mut sorted = kept.clone();
            sorted.sort_unstable();
            prop_assert_eq!(&kept, &sorted); // order kept
            for ev in &original {
                let later_same_book = |b: &BookUpdate| original.iter().any(|o| o.seq > ev.seq
                    && matches!(&o.body, EventBody::Book(x) if (x.venue, x.book_id) == (b.venue, b.book_id)));
                let expected = match &ev.body {
                    EventBody::Book(b) => !later_same_book(b),
                    _ => true,
                };
                prop_assert_eq!(kept.contains(&ev.seq), expected);
            }
        }
    }
}
