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
//! This first version is a mutex-guarded deque with the final API; the lock-free version replaces it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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

pub struct EventRing {
    capacity: usize,
    inner: Mutex<(VecDeque<Event>, VecDeque<Event>)>,
    next_seq: AtomicU64,
    overflowed: AtomicU64,
    conflated: AtomicU64,
}

impl EventRing {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(2).next_power_of_two();
        EventRing {
            capacity,
            inner: Mutex::new((VecDeque::with_capacity(capacity), VecDeque::new())),
            next_seq: AtomicU64::new(1),
            overflowed: AtomicU64::new(0),
            conflated: AtomicU64::new(0),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Push one event stamped with the frame's receive time; `decoded_ns` is taken now.
    pub fn push(&self, recv_ns: i64, body: EventBody) -> PushOutcome {
        let decoded_ns = monotonic_ns();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let full = g.0.len() >= self.capacity || !g.1.is_empty();
        if full && body.is_conflatable() {
            self.conflated.fetch_add(1, Ordering::Relaxed);
            return PushOutcome::Conflated;
        }
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let ev = Event { seq, recv_ns, decoded_ns, body };
        if full {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            g.1.push_back(ev);
            PushOutcome::Spilled
        } else {
            g.0.push_back(ev);
            PushOutcome::Queued
        }
    }

    /// Single consumer: next event in order (ring first, then the overflow spill).
    pub fn pop(&self) -> Option<Event> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0.pop_front().or_else(|| g.1.pop_front())
    }

    /// Events waiting (ring + spill).
    pub fn len(&self) -> usize {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0.len() + g.1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Non-conflatable events that found the ring full (delivered through the spill).
    pub fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Book updates dropped because the ring was full.
    pub fn conflated(&self) -> u64 {
        self.conflated.load(Ordering::Relaxed)
    }
}
