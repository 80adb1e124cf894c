//! EventRing: the bounded multi-producer single-consumer queue of typed events between the core's
//! producers (feed decoders, order tracker, limiter) and the Python dispatcher.
//!
//! CONTRACT (stable; the implementation behind it may change):
//! - `push` assigns the sequence number and `decoded_ns`, never blocks, and never drops an event that is
//!   not conflatable (orders, fills, positions, resyncs, trades). When the ring is full such events go to
//!   an overflow spill that the consumer drains after the ring, and `overflowed()` counts them: a full
//!   ring is reported loudly (counter + `PushOutcome::Spilled`), never silently.
//! - Book updates may be conflated: when the ring is full a book update is dropped and counted in
//!   `conflated()` (the book itself always holds the latest state).
//! - `pop` is for the single consumer only.
//!
//! ADDITIONS (lock-free version):
//! - The sequence number is fixed when the event enters the consumer's total order, i.e. when it is
//!   popped: `seq` is 1, 2, 3, ... in delivery order (contiguous, unique, increasing; per-producer
//!   order is kept, so it also increases along each producer's pushes). A gap seen by a consumer means
//!   only that book updates were coalesced by the consumer itself (see `note_coalesced`).
//! - Per-producer order holds across the spill: while the spill is non-empty, every non-book push goes
//!   to the spill (behind the events spilled before it) and every book push is conflated; the consumer
//!   takes spilled events only once the ring is empty of everything pushed before them.
//! - `push_stamped` is `push` with a `decoded_ns` the producer read itself (one clock read per frame).
//! - `requeue_front` lets the consumer put events it popped but could not deliver back in front of
//!   everything else (they keep their `seq`); `spilled_len`, `coalesced` / `note_coalesced` are counters.
//! - `pop` is memory-safe if misused from several threads at once (the head is claimed by CAS), but the
//!   ordering guarantees above are for one consumer.
//! - Journal (second consumer): once `journal::Journal::attach` has run, every push also copies the event
//!   into the ring's `JournalTap` before it enters the ring (so the journal holds even the book updates
//!   this ring conflates); see `journal` and docs/journal.md.
//!
//! Implementation: a bounded array queue after Dmitry Vyukov (per-slot sequence stamps, head and tail
//! on their own cache lines), with a mutex-guarded spill that is touched only when the ring is full.
//! Why not crossbeam-queue's `ArrayQueue` (the same algorithm): the spill-ordering rule above needs the
//! raw tail position (to know that nothing pushed earlier is still in flight), and owning the slots lets
//! `pop` return the event by move without an extra `Option` layer; the measured push+pop is in
//! docs/core_api.md.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crossbeam_utils::CachePadded;

use crate::events::{monotonic_ns, Event, EventBody};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// In the ring.
    Queued,
    /// The ring was full: a non-conflatable event went to the overflow spill (still delivered, in order).
    Spilled,
    /// The ring was full: a book update was dropped (the book holds the latest state).
    Conflated,
}

impl PushOutcome {
    pub fn name(self) -> &'static str {
        match self {
            PushOutcome::Queued => "queued",
            PushOutcome::Spilled => "spilled",
            PushOutcome::Conflated => "conflated",
        }
    }
}

/// What a slot holds while it sits in the ring: the event without its `seq` (fixed at pop).
struct Pending {
    recv_ns: i64,
    decoded_ns: i64,
    body: EventBody,
}

struct Slot {
    /// Vyukov stamp: `pos` when free for the producer of position `pos`, `pos + 1` when it holds that
    /// producer's event, `pos + capacity` once the consumer has taken it.
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<Pending>>,
}

/// Counters written rarely (on spill, conflation, coalescing): kept off the hot cache lines.
#[derive(Default)]
struct Counters {
    overflowed: AtomicU64,
    conflated: AtomicU64,
    coalesced: AtomicU64,
}

pub struct EventRing {
    /// Next position the consumer takes.
    head: CachePadded<AtomicUsize>,
    /// Next position a producer claims.
    tail: CachePadded<AtomicUsize>,
    /// Consumer-side: next sequence number to hand out.
    next_seq: CachePadded<AtomicU64>,
    /// Events in the spill, readable without its lock (producers check it on every push).
    spill_len: CachePadded<AtomicUsize>,
    /// Events the consumer put back (`requeue_front`), checked on every pop.
    returned_len: AtomicUsize,
    slots: Box<[Slot]>,
    mask: usize,
    spill: Mutex<VecDeque<Event>>,
    returned: Mutex<VecDeque<Event>>,
    counters: CachePadded<Counters>,
    /// The journal's copy of every push (see `journal`); unset until a journal first attaches.
    journal: OnceLock<Arc<JournalTap>>,
}

// SAFETY: a slot's value is written only by the producer that claimed its position (CAS on `tail`) and
// read only by the consumer that claimed it (CAS on `head`); the stamp's release/acquire pair orders the
// write before the read. Events are `Send`.
unsafe impl Sync for EventRing {}
unsafe impl Send for EventRing {}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the deques half-updated (push/pop are atomic
    // operations on VecDeque), so a poisoned lock is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl EventRing {
    /// A ring holding `capacity` events, rounded up to a power of two (at least 2).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(2).next_power_of_two();
        let slots = (0..capacity)
            .map(|i| Slot { stamp: AtomicUsize::new(i), value: UnsafeCell::new(MaybeUninit::uninit()) })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        EventRing {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            next_seq: CachePadded::new(AtomicU64::new(1)),
            spill_len: CachePadded::new(AtomicUsize::new(0)),
            returned_len: AtomicUsize::new(0),
            slots,
            mask: capacity - 1,
            spill: Mutex::new(VecDeque::new()),
            returned: Mutex::new(VecDeque::new()),
            counters: CachePadded::new(Counters::default()),
            journal: OnceLock::new(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// Push one event stamped with the frame's receive time; `decoded_ns` is taken now. Never blocks.
    pub fn push(&self, recv_ns: i64, body: EventBody) -> PushOutcome {
        self.push_stamped(recv_ns, monotonic_ns(), body)
    }

    /// `push` with a `decoded_ns` the producer already read: a decoder that turns one frame into
    /// several events reads the clock once per frame (the clock read is most of a push's cost).
    pub fn push_stamped(&self, recv_ns: i64, decoded_ns: i64, body: EventBody) -> PushOutcome {
        if let Some(tap) = self.journal.get() {
            tap.record(recv_ns, decoded_ns, &body);
        }
        let pending = Pending { recv_ns, decoded_ns, body };
        // While anything waits in the spill, the ring is closed to new events: this producer's earlier
        // events may be there, and nothing it pushes now may overtake them.
        let pending = if self.spill_len.load(Ordering::Acquire) == 0 {
            match self.try_push_ring(pending) {
                Ok(()) => return PushOutcome::Queued,
                Err(p) => p,
            }
        } else {
            pending
        };
        if pending.body.is_conflatable() {
            self.counters.conflated.fetch_add(1, Ordering::Relaxed);
            return PushOutcome::Conflated;
        }
        let mut spill = lock(&self.spill);
        spill.push_back(Event {
            seq: 0,
            recv_ns: pending.recv_ns,
            decoded_ns: pending.decoded_ns,
            body: pending.body,
        });
        // Under the lock, so the count never shows an event the consumer cannot find.
        self.spill_len.fetch_add(1, Ordering::Release);
        drop(spill);
        self.counters.overflowed.fetch_add(1, Ordering::Relaxed);
        PushOutcome::Spilled
    }

    fn try_push_ring(&self, pending: Pending) -> Result<(), Pending> {
        let mut pos = self.tail.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos & self.mask];
            let stamp = slot.stamp.load(Ordering::Acquire);
            let diff = stamp.wrapping_sub(pos) as isize;
            if diff == 0 {
                match self.tail.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the CAS made this producer the only writer of this slot until it
                        // publishes the stamp below; the consumer freed it (stamp == pos).
                        unsafe { (*slot.value.get()).write(pending) };
                        slot.stamp.store(pos.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(current) => pos = current,
                }
            } else if diff < 0 {
                return Err(pending); // full: the slot still holds an event from one lap ago
            } else {
                pos = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    fn try_pop_ring(&self) -> Option<Pending> {
        let mut pos = self.head.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos & self.mask];
            let stamp = slot.stamp.load(Ordering::Acquire);
            let diff = stamp.wrapping_sub(pos.wrapping_add(1)) as isize;
            if diff == 0 {
                match self.head.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the stamp (acquire) shows the producer's write is complete, and the
                        // CAS made this the only reader of the slot for this lap.
                        let value = unsafe { (*slot.value.get()).assume_init_read() };
                        slot.stamp.store(pos.wrapping_add(self.mask + 1), Ordering::Release);
                        return Some(value);
                    }
                    Err(current) => pos = current,
                }
            } else if diff < 0 {
                return None; // empty, or the producer of this position has not finished writing
            } else {
                pos = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// The consumer's next sequence number. A plain load+store, not an atomic add: there is one
    /// consumer, and if `pop` is misused from two threads the worst outcome is a repeated number.
    fn take_seq(&self) -> u64 {
        let seq = self.next_seq.load(Ordering::Relaxed);
        self.next_seq.store(seq + 1, Ordering::Relaxed);
        seq
    }

    fn stamp_seq(&self, p: Pending) -> Event {
        let seq = self.take_seq();
        Event { seq, recv_ns: p.recv_ns, decoded_ns: p.decoded_ns, body: p.body }
    }

    /// Single consumer: next event in order (requeued events, then the ring, then the overflow spill).
    /// `None` also while a producer is half-way through a push at the head of the ring.
    pub fn pop(&self) -> Option<Event> {
        if self.returned_len.load(Ordering::Acquire) > 0 {
            let mut returned = lock(&self.returned);
            if let Some(ev) = returned.pop_front() {
                self.returned_len.store(returned.len(), Ordering::Release);
                return Some(ev);
            }
        }
        if let Some(p) = self.try_pop_ring() {
            return Some(self.stamp_seq(p));
        }
        if self.spill_len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut spill = lock(&self.spill);
        // Spilled events come after everything their producers pushed into the ring before them. Under
        // the lock, every such ring push is visible in `tail`; if anything is still between head and
        // tail (published or in flight), it goes first.
        if self.tail.load(Ordering::Acquire) != self.head.load(Ordering::Acquire) {
            drop(spill);
            return self.try_pop_ring().map(|p| self.stamp_seq(p));
        }
        let mut ev = spill.pop_front()?;
        self.spill_len.fetch_sub(1, Ordering::Release);
        drop(spill);
        ev.seq = self.take_seq();
        Some(ev)
    }

    /// Consumer only: put popped events back in front of everything else, in the order given (the first
    /// one is popped next). They keep their sequence numbers.
    pub fn requeue_front<I>(&self, events: I)
    where
        I: IntoIterator<Item = Event>,
        I::IntoIter: DoubleEndedIterator,
    {
        let mut returned = lock(&self.returned);
        for ev in events.into_iter().rev() {
            returned.push_front(ev);
        }
        self.returned_len.store(returned.len(), Ordering::Release);
    }

    /// Events waiting (requeued + ring, including pushes in flight + spill).
    pub fn len(&self) -> usize {
        // Head first: head only grows up to tail, so a later tail is never behind it.
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        let in_ring = tail.wrapping_sub(head).min(self.capacity());
        self.returned_len.load(Ordering::Acquire) + in_ring + self.spill_len.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The journal hand-off buffer of this ring, created with `capacity` on first use.
    pub fn journal_tap(&self, capacity: usize) -> Arc<JournalTap> {
        Arc::clone(self.journal.get_or_init(|| Arc::new(JournalTap::new(capacity))))
    }

    /// Non-conflatable events that found the ring full (delivered through the spill).
    pub fn overflowed(&self) -> u64 {
        self.counters.overflowed.load(Ordering::Relaxed)
    }

    /// Book updates dropped because the ring was full.
    pub fn conflated(&self) -> u64 {
        self.counters.conflated.load(Ordering::Relaxed)
    }

    /// Events waiting in the overflow spill now.
    pub fn spilled_len(&self) -> usize {
        self.spill_len.load(Ordering::Acquire)
    }

    /// Book updates the consumer skipped because a later update of the same book was in the same drain.
    pub fn coalesced(&self) -> u64 {
        self.counters.coalesced.load(Ordering::Relaxed)
    }

    /// Consumer: count `n` book updates superseded within one drain.
    pub fn note_coalesced(&self, n: u64) {
        if n > 0 {
            self.counters.coalesced.fetch_add(n, Ordering::Relaxed);
        }
    }
}

impl Drop for EventRing {
    fn drop(&mut self) {
        while self.try_pop_ring().is_some() {}
    }
}

/// Single-thread push+pop cost in nanoseconds per pair, measured inside Rust (for the benchmark suite).
/// With `read_clock` each push reads the clock for `decoded_ns` (`push`); without, it uses a
/// timestamp taken once (`push_stamped`, as a decoder does per frame).
pub fn bench_push_pop_ns(n: u64, read_clock: bool) -> f64 {
    use crate::events::{Side, Trade, Venue};
    let ring = EventRing::new(1024);
    let n = n.max(1);
    let start = std::time::Instant::now();
    let mut sink = 0u64;
    for i in 0..n {
        let body = EventBody::Trade(Trade {
            venue: Venue::Lighter,
            book_id: 1,
            px: i as i64,
            sz: 1,
            taker_side: Side::Bid,
            trade_id: i,
        });
        let body = std::hint::black_box(body);
        if read_clock {
            ring.push(i as i64, body);
        } else {
            ring.push_stamped(i as i64, i as i64, body);
        }
        if let Some(ev) = ring.pop() {
            sink = sink.wrapping_add(ev.seq);
        }
    }
    std::hint::black_box(sink);
    start.elapsed().as_nanos() as f64 / n as f64
}

// ---------------------------------------------------------------------------------------------
// the journal tap: what the ring's producers write into (here, so that the journal depends on the
// ring and not the other way round; the writer is in `journal`)

/// The per-ring hand-off buffer between producers and the journal writer. Created on the first attach
/// and kept for the ring's lifetime (so the hot path reads it without a lock or a reference count).
pub struct JournalTap {
    pub(crate) buffer: EventRing,
    pub(crate) active: AtomicBool,
    pub(crate) dropped: AtomicU64,
}

impl JournalTap {
    pub fn new(capacity: usize) -> Self {
        JournalTap { buffer: EventRing::new(capacity), active: AtomicBool::new(false), dropped: AtomicU64::new(0) }
    }

    /// Producer side, called from `EventRing::push_stamped` for every event.
    #[inline]
    pub fn record(&self, recv_ns: i64, decoded_ns: i64, body: &EventBody) {
        if self.active.load(Ordering::Relaxed)
            && self.buffer.push_stamped(recv_ns, decoded_ns, body.clone()) == PushOutcome::Conflated
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn capacity(&self) -> usize {
        self.buffer.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{BookUpdate, OrderState, OrderUpdate, Side, Trade, Venue};
    use proptest::prelude::*;
    use std::sync::Arc;

    fn trade(id: u64) -> EventBody {
        EventBody::Trade(Trade { venue: Venue::Lighter, book_id: 0, px: 1, sz: 1, taker_side: Side::Ask, trade_id: id })
    }

    fn book(id: u64) -> EventBody {
        EventBody::Book(BookUpdate { venue: Venue::Backpack, book_id: 0, best_bid: None, best_ask: None, seq: id })
    }

    /// The producer-side identity of a test event (trade_id or book seq).
    fn ident(body: &EventBody) -> u64 {
        match body {
            EventBody::Trade(t) => t.trade_id,
            EventBody::Book(b) => b.seq,
            _ => unreachable!(),
        }
    }

    #[test]
    fn fifo_with_seq_and_timestamps() {
        let ring = EventRing::new(8);
        assert_eq!(ring.capacity(), 8);
        let before = monotonic_ns();
        for i in 0..5 {
            assert_eq!(ring.push(100 + i as i64, trade(i)), PushOutcome::Queued);
        }
        assert_eq!(ring.len(), 5);
        let mut last_decoded = before;
        for i in 0..5u64 {
            let ev = ring.pop().unwrap();
            assert_eq!(ev.seq, i + 1);
            assert_eq!(ev.recv_ns, 100 + i as i64);
            assert!(ev.decoded_ns >= last_decoded);
            last_decoded = ev.decoded_ns;
            assert_eq!(ident(&ev.body), i);
        }
        assert!(ring.pop().is_none());
        assert!(ring.is_empty());
    }

    #[test]
    fn push_stamped_keeps_the_producers_timestamps() {
        let ring = EventRing::new(4);
        assert_eq!(ring.push_stamped(10, 20, trade(1)), PushOutcome::Queued);
        let ev = ring.pop().unwrap();
        assert_eq!((ev.seq, ev.recv_ns, ev.decoded_ns), (1, 10, 20));
    }

    #[test]
    fn bench_hook_measures_something() {
        assert!(bench_push_pop_ns(1000, true) > 0.0);
        assert!(bench_push_pop_ns(1000, false) > 0.0);
    }

    #[test]
    fn capacity_rounds_up() {
        assert_eq!(EventRing::new(0).capacity(), 2);
        assert_eq!(EventRing::new(5).capacity(), 8);
    }

    #[test]
    fn full_ring_spills_orders_and_conflates_books() {
        let ring = EventRing::new(2);
        assert_eq!(ring.push(0, trade(1)), PushOutcome::Queued);
        assert_eq!(ring.push(0, book(2)), PushOutcome::Queued);
        assert_eq!(ring.push(0, book(3)), PushOutcome::Conflated);
        let order = EventBody::Order(OrderUpdate {
            venue: Venue::Lighter,
            client_id: 7,
            order_id: None,
            state: OrderState::Open,
            filled: 0,
            avg_px: 0,
            reason: None,
        });
        assert_eq!(ring.push(0, order.clone()), PushOutcome::Spilled);
        assert_eq!(ring.overflowed(), 1);
        assert_eq!(ring.conflated(), 1);
        assert_eq!(ring.spilled_len(), 1);
        assert_eq!(ring.len(), 3);
        assert_eq!(ident(&ring.pop().unwrap().body), 1);
        // Ring has room now, but the spill is not empty: books are conflated, others spill behind it.
        assert_eq!(ring.push(0, book(4)), PushOutcome::Conflated);
        assert_eq!(ring.push(0, trade(5)), PushOutcome::Spilled);
        assert_eq!(ident(&ring.pop().unwrap().body), 2);
        let ev = ring.pop().unwrap();
        assert_eq!(ev.body, order);
        assert_eq!(ev.seq, 3);
        assert_eq!(ident(&ring.pop().unwrap().body), 5);
        assert!(ring.pop().is_none());
        assert_eq!(ring.spilled_len(), 0);
        // Spill empty again: the ring takes pushes.
        assert_eq!(ring.push(0, book(6)), PushOutcome::Queued);
    }

    #[test]
    fn requeue_front_keeps_seq_and_goes_first() {
        let ring = EventRing::new(4);
        for i in 0..3 {
            ring.push(0, trade(i));
        }
        let a = ring.pop().unwrap();
        let b = ring.pop().unwrap();
        ring.requeue_front(vec![a.clone(), b.clone()]);
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.pop().unwrap(), a);
        assert_eq!(ring.pop().unwrap(), b);
        assert_eq!(ring.pop().unwrap().seq, 3);
    }

    #[test]
    fn drop_releases_queued_events() {
        // Strings inside events must be freed (checked under Miri/ASan; here: no double free).
        let ring = EventRing::new(4);
        ring.push(0, EventBody::Resync(crate::events::Resync { venue: Venue::Lighter, book_id: 1, reason: "gap".into() }));
        ring.push(0, trade(1));
        drop(ring);
    }

    #[test]
    fn wraps_around_many_laps() {
        let ring = EventRing::new(4);
        for i in 0..10_000u64 {
            assert_eq!(ring.push(0, trade(i)), PushOutcome::Queued);
            if i % 3 == 2 {
                for _ in 0..3 {
                    ring.pop().unwrap();
                }
            }
        }
        assert_eq!(ring.overflowed(), 0);
    }

    #[test]
    fn many_producers_exactly_once_in_order() {
        const PRODUCERS: u64 = 4;
        const PER: u64 = 20_000;
        let ring = Arc::new(EventRing::new(64));
        let handles: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let ring = Arc::clone(&ring);
                std::thread::spawn(move || {
                    let (mut spilled, mut conflated) = (0u64, 0u64);
                    for i in 0..PER {
                        let id = (p << 32) | i;
                        let body = if i % 3 == 0 { book(id) } else { trade(id) };
                        match ring.push(0, body) {
                            PushOutcome::Spilled => spilled += 1,
                            PushOutcome::Conflated => conflated += 1,
                            PushOutcome::Queued => {}
                        }
                        // Let the consumer in now and then, so the ring fills, spills and drains
                        // back to normal many times during the run.
                        if i % 50 == 0 {
                            std::thread::yield_now();
                        }
                    }
                    (spilled, conflated)
                })
            })
            .collect();
        let mut last = vec![None::<u64>; PRODUCERS as usize];
        let mut trades = vec![0u64; PRODUCERS as usize];
        let mut books = 0u64;
        let mut next_seq = 1u64;
        let mut done = false;
        while !done {
            done = handles.iter().all(|h| h.is_finished());
            while let Some(ev) = ring.pop() {
                assert_eq!(ev.seq, next_seq, "seq contiguous and unique");
                next_seq += 1;
                let id = ident(&ev.body);
                let (p, i) = ((id >> 32) as usize, id & 0xffff_ffff);
                if let Some(prev) = last[p] {
                    assert!(i > prev, "producer {p}: {i} after {prev}");
                }
                last[p] = Some(i);
                match ev.body {
                    EventBody::Trade(_) => trades[p] += 1,
                    _ => books += 1,
                }
            }
            // A consumer slower than the producers: the ring fills and spills between drains.
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        let (mut spilled, mut conflated) = (0, 0);
        for h in handles {
            let (s, c) = h.join().unwrap();
            spilled += s;
            conflated += c;
        }
        while let Some(ev) = ring.pop() {
            // Stragglers pushed after the last loop's check.
            match ev.body {
                EventBody::Trade(t) => trades[(t.trade_id >> 32) as usize] += 1,
                _ => books += 1,
            }
        }
        let trades_per = PER - PER.div_ceil(3);
        for (p, n) in trades.iter().enumerate() {
            assert_eq!(*n, trades_per, "producer {p} lost or duplicated trades");
        }
        assert_eq!(books + conflated, PRODUCERS * PER.div_ceil(3));
        assert_eq!(ring.overflowed(), spilled);
        assert_eq!(ring.conflated(), conflated);
        assert!(ring.is_empty());
        assert!(spilled > 0 && conflated > 0, "the overflow path was not exercised");
    }

    #[derive(Debug, Clone)]
    enum Op {
        PushBook,
        PushTrade,
        Pop,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![Just(Op::PushBook), Just(Op::PushTrade), Just(Op::Pop)]
    }

    proptest! {
        /// Single-thread model: a bounded VecDeque plus a spill VecDeque with the documented rules.
        #[test]
        fn matches_vecdeque_model(cap_log in 1u32..4, ops in proptest::collection::vec(op(), 0..200)) {
            let cap = 1usize << cap_log;
            let ring = EventRing::new(cap);
            let mut model_ring: VecDeque<u64> = VecDeque::new();
            let mut model_spill: VecDeque<u64> = VecDeque::new();
            let (mut next_id, mut next_seq, mut overflowed, mut conflated) = (0u64, 1u64, 0u64, 0u64);
            for op in ops {
                match op {
                    Op::PushBook | Op::PushTrade => {
                        let is_book = matches!(op, Op::PushBook);
                        next_id += 1;
                        let body = if is_book { book(next_id) } else { trade(next_id) };
                        let expected = if model_spill.is_empty() && model_ring.len() < cap {
                            model_ring.push_back(next_id);
                            PushOutcome::Queued
                        } else if is_book {
                            conflated += 1;
                            PushOutcome::Conflated
                        } else {
                            overflowed += 1;
                            model_spill.push_back(next_id);
                            PushOutcome::Spilled
                        };
                        prop_assert_eq!(ring.push(0, body), expected);
                    }
                    Op::Pop => {
                        let expected = model_ring.pop_front().or_else(|| model_spill.pop_front());
                        let got = ring.pop();
                        prop_assert_eq!(got.as_ref().map(|e| ident(&e.body)), expected);
                        if let Some(ev) = got {
                            prop_assert_eq!(ev.seq, next_seq);
                            next_seq += 1;
                        }
                    }
                }
                prop_assert_eq!(ring.len(), model_ring.len() + model_spill.len());
                prop_assert_eq!(ring.overflowed(), overflowed);
                prop_assert_eq!(ring.conflated(), conflated);
            }
        }
    }
}
