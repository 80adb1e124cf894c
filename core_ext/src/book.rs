//! L2 order book; each venue's sequence rule plugs in through [`SequenceRule`].
//!
//! Each side is a sorted `Vec<(px, sz)>` with the best level at the END (bids ascending, asks
//! descending), as in hftbacktest: most changes land near the touch, so inserts and removes shift
//! few elements, and the best level is `last()`: O(1).
//!
//! Lifecycle: deltas that arrive before the snapshot are buffered (bounded); `apply_snapshot` replaces
//! the levels and replays the buffer through the venue's alignment rule, so a connector subscribes,
//! fetches the snapshot and calls `apply_snapshot`, nothing more. A broken rule or a crossed book marks
//! the book stale (with a reason, and a `Resync` event when the book is attached to a ring); a stale book
//! reports no best price and keeps buffering deltas (bounded) so the next snapshot can be aligned.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::events::{BookUpdate, EventBody, Px, Resync, Sz, Venue};
use crate::ring::EventRing;

/// Where a book stands when a delta arrives: what a sequence rule reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqState {
    /// The last applied update id (the snapshot's, then each delta's).
    pub seq: u64,
    /// The last offset seen (venues that number frames by a server offset).
    pub offset: Option<u64>,
    /// No delta applied since the snapshot: the alignment rule applies.
    pub first_after_snapshot: bool,
}

/// How a venue numbers its book updates. Each rule is a unit type in its venue's decoder module (a rule
/// shared by several venues lives with the first, e.g. Binance USD-M's serves Aster), declared through
/// `VenueProtocol::SEQ_RULE`; this module names no venue and no rule but [`Monotonic`].
pub trait SequenceRule {
    /// What the rule is called in errors and tests.
    const NAME: &'static str;
    /// Whether an applied delta whose `last` is 0 (no id) keeps the book's seq (true: Lighter's frames
    /// numbered only by offset) or sets it to 0.
    const KEEPS_SEQ_WITHOUT_ID: bool = false;
    /// Ok(true) = apply, Ok(false) = drop as older than the snapshot, Err(reason) = a gap.
    fn check(at: SeqState, d: DeltaSeq) -> Result<bool, String>;
}

/// A sequence rule as a book holds it: a value, since books are not generic over their venue. The check
/// is a plain function pointer (one indirect call per delta, no allocation).
#[derive(Clone, Copy)]
pub struct SeqRule {
    pub name: &'static str,
    keeps_seq_without_id: bool,
    check: fn(SeqState, DeltaSeq) -> Result<bool, String>,
}

impl SeqRule {
    pub const fn of<R: SequenceRule>() -> SeqRule {
        SeqRule { name: R::NAME, keeps_seq_without_id: R::KEEPS_SEQ_WITHOUT_ID, check: R::check }
    }

    /// The rule a venue registered for its books (`venues.rs`).
    pub fn for_venue(v: Venue) -> SeqRule {
        v.seq_rule()
    }

    #[inline]
    pub fn check(&self, at: SeqState, d: DeltaSeq) -> Result<bool, String> {
        (self.check)(at, d)
    }
}

impl PartialEq for SeqRule {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for SeqRule {}

impl std::fmt::Debug for SeqRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SeqRule({})", self.name)
    }
}

/// Any venue without a documented rule: each delta's first id must exceed the book's seq.
pub struct Monotonic;

impl SequenceRule for Monotonic {
    const NAME: &'static str = "monotonic";
    fn check(at: SeqState, d: DeltaSeq) -> Result<bool, String> {
        let l = at.seq;
        if d.last != 0 && d.last <= l && at.first_after_snapshot {
            Ok(false)
        } else if d.first > l {
            Ok(true)
        } else {
            Err(format!("sequence {} not after {}", d.first, l))
        }
    }
}

/// Sequence numbers one delta frame carries. Venue mapping:
/// Backpack `first=U, last=u`; Binance `first=U, last=u, prev=pu`;
/// Lighter `first=last=nonce, prev=begin_nonce, offset=offset` (prev None when begin_nonce is absent;
/// last 0 when nonce is absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeltaSeq {
    pub first: u64,
    pub last: u64,
    pub prev: Option<u64>,
    pub offset: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncState {
    /// No snapshot yet: deltas are buffered.
    AwaitingSnapshot,
    /// Snapshot applied, no delta yet: the next delta must satisfy the alignment rule.
    AwaitingFirst,
    Live,
    /// Rule broken or book crossed: waiting for a new snapshot (deltas are buffered).
    Stale,
}

/// What one call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// Kept for the next snapshot.
    Buffered,
    /// Older than the snapshot: dropped by the alignment rule.
    DroppedOld,
    /// This call broke a rule or crossed the book: the book is now stale.
    WentStale,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BookError {
    NegativeSize { px: Px, sz: Sz },
    /// A price at or below zero is never a level (a frame carrying one is refused whole).
    NonPositivePrice { px: Px },
}

impl std::fmt::Display for BookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BookError::NegativeSize { px, sz } => write!(f, "negative size {sz} at price {px}"),
            BookError::NonPositivePrice { px } => write!(f, "price {px} is not above zero"),
        }
    }
}

impl std::error::Error for BookError {}

/// Where an attached book reports BookUpdate / Resync events.
#[derive(Clone)]
pub struct BookSink {
    pub ring: Arc<EventRing>,
    pub book_id: u32,
}

#[derive(Clone, Debug)]
struct BufferedDelta {
    seq: DeltaSeq,
    bids: Vec<(Px, Sz)>,
    asks: Vec<(Px, Sz)>,
}

/// One side of the book: sorted with the best level last.
#[derive(Clone, Debug, Default)]
struct Ladder {
    levels: Vec<(Px, Sz)>,
    is_bid: bool,
}

impl Ladder {
    fn new(is_bid: bool) -> Self {
        Ladder { levels: Vec::with_capacity(64), is_bid }
    }

    /// Index of `px` (Ok) or where it would go (Err), keeping the best level last.
    #[inline]
    fn find(&self, px: Px) -> Result<usize, usize> {
        if self.is_bid {
            find_near::<true>(&self.levels, px)
        } else {
            find_near::<false>(&self.levels, px)
        }
    }

    #[cfg(test)]
    fn set(&mut self, px: Px, sz: Sz) {
        let mut hint = usize::MAX;
        self.set_hinted(px, sz, &mut hint);
    }

    /// Apply a side's updates. Consecutive updates in one frame usually walk the book level by level,
    /// so the slot next to the previous hit is tried first (one comparison instead of a search).
    fn apply(&mut self, updates: &[(Px, Sz)]) {
        let mut hint = usize::MAX;
        for &(px, sz) in updates {
            self.set_hinted(px, sz, &mut hint);
        }
    }

    /// `hint` is the index of the previous hit (usize::MAX: none); updated to this hit.
    #[inline]
    fn set_hinted(&mut self, px: Px, sz: Sz, hint: &mut usize) {
        let guess = [hint.wrapping_sub(1), hint.wrapping_add(1)];
        let found = guess
            .into_iter()
            .find(|&g| self.levels.get(g).is_some_and(|l| l.0 == px))
            .map(Ok)
            .unwrap_or_else(|| self.find(px));
        match found {
            Ok(i) => {
                if sz == 0 {
                    self.levels.remove(i);
                    *hint = i;
                } else {
                    self.levels[i].1 = sz;
                    *hint = i;
                }
            }
            Err(i) => {
                if sz != 0 {
                    self.levels.insert(i, (px, sz));
                    *hint = i;
                } else {
                    *hint = usize::MAX;
                }
            }
        }
    }

    fn replace(&mut self, levels: &[(Px, Sz)]) {
        self.levels.clear();
        self.levels.extend(levels.iter().copied().filter(|l| l.1 != 0));
        if self.is_bid {
            self.levels.sort_by_key(|l| l.0);
        } else {
            self.levels.sort_by_key(|l| std::cmp::Reverse(l.0));
        }
        // Duplicated prices in a snapshot: the later entry wins (stable sort kept input order).
        self.levels.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 = later.1;
                true
            } else {
                false
            }
        });
    }

    #[inline]
    fn best(&self) -> Option<(Px, Sz)> {
        self.levels.last().copied()
    }

    fn top(&self, n: usize) -> impl Iterator<Item = (Px, Sz)> + '_ {
        self.levels.iter().rev().take(n).copied()
    }
}

/// One side's levels (px, sz), best first when returned by `top`.
pub type Levels = Vec<(Px, Sz)>;

/// Most updates land near the touch: scan the best `NEAR` levels from the end (predictable branches)
/// and binary-search the rest of the side only when the price is deeper.
#[inline]
fn find_near<const BID: bool>(levels: &[(Px, Sz)], px: Px) -> Result<usize, usize> {
    const NEAR: usize = 16;
    let n = levels.len();
    let stop = n.saturating_sub(NEAR);
    let mut i = n;
    while i > stop {
        let p = levels[i - 1].0;
        if p == px {
            return Ok(i - 1);
        }
        // `p` ranks behind `px` (lower bid / higher ask): `px` goes right after it.
        if (BID && p < px) || (!BID && p > px) {
            return Err(i);
        }
        i -= 1;
    }
    if stop == 0 {
        return Err(0);
    }
    let deep = &levels[..stop];
    if BID {
        deep.binary_search_by(|l| l.0.cmp(&px))
    } else {
        deep.binary_search_by(|l| px.cmp(&l.0))
    }
}

pub const DEFAULT_MAX_BUFFERED: usize = 4096;

pub struct OrderBook {
    pub venue: Venue,
    pub symbol: String,
    pub price_decimals: u32,
    pub size_decimals: u32,
    pub rule: SeqRule,
    bids: Ladder,
    asks: Ladder,
    seq: u64,
    offset: Option<u64>,
    state: SyncState,
    stale_reason: Option<String>,
    buffer: VecDeque<BufferedDelta>,
    max_buffered: usize,
    buffer_dropped: u64,
    resyncs: u64,
    sink: Option<BookSink>,
    /// Bumped on every change a reader can see (levels, seq, state): lets a handle cache what it read.
    version: Arc<AtomicU64>,
}

impl OrderBook {
    pub fn new(venue: Venue, symbol: &str, price_decimals: u32, size_decimals: u32) -> Self {
        OrderBook {
            venue,
            symbol: symbol.to_owned(),
            price_decimals,
            size_decimals,
            rule: SeqRule::for_venue(venue),
            bids: Ladder::new(true),
            asks: Ladder::new(false),
            seq: 0,
            offset: None,
            state: SyncState::AwaitingSnapshot,
            stale_reason: None,
            buffer: VecDeque::new(),
            max_buffered: DEFAULT_MAX_BUFFERED,
            buffer_dropped: 0,
            resyncs: 0,
            sink: None,
            version: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn set_max_buffered(&mut self, n: usize) {
        self.max_buffered = n;
        while self.buffer.len() > n {
            self.buffer.pop_front();
            self.buffer_dropped += 1;
        }
    }

    pub fn max_buffered(&self) -> usize {
        self.max_buffered
    }

    pub fn attach(&mut self, sink: BookSink) {
        self.sink = Some(sink);
    }

    pub fn sink(&self) -> Option<&BookSink> {
        self.sink.as_ref()
    }

    /// Shared change counter (see `version`): equal values mean nothing visible changed.
    pub fn version_handle(&self) -> Arc<AtomicU64> {
        self.version.clone()
    }

    #[inline]
    fn touch(&self) {
        self.version.fetch_add(1, Ordering::Release);
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    pub fn state(&self) -> SyncState {
        self.state
    }

    pub fn is_stale(&self) -> bool {
        self.state == SyncState::Stale
    }

    /// True when the levels may be traded on (snapshot applied, no broken rule).
    pub fn is_valid(&self) -> bool {
        matches!(self.state, SyncState::AwaitingFirst | SyncState::Live)
    }

    pub fn stale_reason(&self) -> Option<&str> {
        self.stale_reason.as_deref()
    }

    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Deltas dropped because the pre-snapshot buffer was full.
    pub fn buffer_dropped(&self) -> u64 {
        self.buffer_dropped
    }

    /// How many times this book went stale.
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    #[inline]
    pub fn best_bid(&self) -> Option<(Px, Sz)> {
        if self.is_valid() {
            self.bids.best()
        } else {
            None
        }
    }

    #[inline]
    pub fn best_ask(&self) -> Option<(Px, Sz)> {
        if self.is_valid() {
            self.asks.best()
        } else {
            None
        }
    }

    /// Up to `n` levels per side, best first. Empty when the book is not valid.
    pub fn top(&self, n: usize) -> (Levels, Levels) {
        if !self.is_valid() {
            return (Vec::new(), Vec::new());
        }
        (self.bids.top(n).collect(), self.asks.top(n).collect())
    }

    pub fn depth(&self) -> (usize, usize) {
        (self.bids.levels.len(), self.asks.levels.len())
    }

    /// Forget everything: levels, sequence, buffer, staleness. The book waits for a snapshot.
    pub fn clear(&mut self) {
        self.bids.levels.clear();
        self.asks.levels.clear();
        self.seq = 0;
        self.offset = None;
        self.state = SyncState::AwaitingSnapshot;
        self.stale_reason = None;
        self.buffer.clear();
        self.touch();
    }

    /// Every level of a frame is checked before any is applied: a bad frame leaves the book as it was.
    fn check_levels(bids: &[(Px, Sz)], asks: &[(Px, Sz)]) -> Result<(), BookError> {
        for &(px, sz) in bids.iter().chain(asks) {
            if sz < 0 {
                return Err(BookError::NegativeSize { px, sz });
            }
            if px <= 0 {
                return Err(BookError::NonPositivePrice { px });
            }
        }
        Ok(())
    }

    /// Replace the book with a snapshot and replay buffered deltas through the alignment rule.
    /// `offset` is Lighter's API-server offset (None elsewhere).
    pub fn apply_snapshot(
        &mut self,
        bids: &[(Px, Sz)],
        asks: &[(Px, Sz)],
        seq: u64,
        offset: Option<u64>,
        recv_ns: i64,
    ) -> Result<Applied, BookError> {
        Self::check_levels(bids, asks)?;
        self.touch();
        self.bids.replace(bids);
        self.asks.replace(asks);
        self.seq = seq;
        self.offset = offset;
        self.state = SyncState::AwaitingFirst;
        self.stale_reason = None;
        if self.is_crossed() {
            self.go_stale(format!("snapshot {seq} is crossed"), recv_ns);
            return Ok(Applied::WentStale);
        }
        let pending: Vec<BufferedDelta> = self.buffer.drain(..).collect();
        for d in pending {
            if self.state == SyncState::Stale {
                // Keep later deltas for the next snapshot.
                self.push_buffer(d);
                continue;
            }
            self.apply_checked(d.seq, &d.bids, &d.asks, recv_ns, false);
        }
        if self.state == SyncState::Stale {
            return Ok(Applied::WentStale);
        }
        self.emit_update(recv_ns);
        Ok(Applied::Applied)
    }

    /// Apply one delta frame (absolute sizes; size 0 removes a level).
    pub fn apply_deltas(
        &mut self,
        seq: DeltaSeq,
        bids: &[(Px, Sz)],
        asks: &[(Px, Sz)],
        recv_ns: i64,
    ) -> Result<Applied, BookError> {
        Self::check_levels(bids, asks)?;
        Ok(self.apply_deltas_nonnegative(seq, bids, asks, recv_ns))
    }

    /// `apply_deltas` for a caller that has already refused negative sizes and non-positive prices (the
    /// decoders' fast path checks each level as it converts it): one pass over the levels fewer.
    pub(crate) fn apply_deltas_nonnegative(
        &mut self,
        seq: DeltaSeq,
        bids: &[(Px, Sz)],
        asks: &[(Px, Sz)],
        recv_ns: i64,
    ) -> Applied {
        debug_assert!(Self::check_levels(bids, asks).is_ok());
        match self.state {
            SyncState::AwaitingSnapshot | SyncState::Stale => {
                self.push_buffer(BufferedDelta { seq, bids: bids.to_vec(), asks: asks.to_vec() });
                Applied::Buffered
            }
            SyncState::AwaitingFirst | SyncState::Live => self.apply_checked(seq, bids, asks, recv_ns, true),
        }
    }

    fn push_buffer(&mut self, d: BufferedDelta) {
        if self.max_buffered == 0 {
            self.buffer_dropped += 1;
            return;
        }
        if self.buffer.len() >= self.max_buffered {
            // The oldest delta is the least likely to matter: the snapshot will usually be newer.
            // If it did matter, the alignment rule sees the hole and marks the book stale.
            self.buffer.pop_front();
            self.buffer_dropped += 1;
        }
        self.buffer.push_back(d);
    }

    /// Check the sequence rule; Ok(true) = apply, Ok(false) = drop as old, Err(reason) = gap.
    #[inline]
    fn check_seq(&self, d: DeltaSeq) -> Result<bool, String> {
        let at = SeqState { seq: self.seq, offset: self.offset, first_after_snapshot: self.state == SyncState::AwaitingFirst };
        self.rule.check(at, d)
    }

    fn apply_checked(
        &mut self,
        d: DeltaSeq,
        bids: &[(Px, Sz)],
        asks: &[(Px, Sz)],
        recv_ns: i64,
        emit: bool,
    ) -> Applied {
        match self.check_seq(d) {
            Ok(false) => return Applied::DroppedOld,
            Ok(true) => self.touch(),
            Err(reason) => {
                self.go_stale(reason, recv_ns);
                // This delta may still be needed to align the next snapshot.
                self.push_buffer(BufferedDelta { seq: d, bids: bids.to_vec(), asks: asks.to_vec() });
                return Applied::WentStale;
            }
        }
        self.bids.apply(bids);
        self.asks.apply(asks);
        if d.last != 0 || !self.rule.keeps_seq_without_id {
            self.seq = d.last;
        }
        if d.offset.is_some() {
            self.offset = d.offset;
        }
        self.state = SyncState::Live;
        if self.is_crossed() {
            let (b, a) = (self.bids.best().unwrap_or_default().0, self.asks.best().unwrap_or_default().0);
            self.go_stale(format!("crossed: bid {b} >= ask {a} after seq {}", self.seq), recv_ns);
            return Applied::WentStale;
        }
        if emit {
            self.emit_update(recv_ns);
        }
        Applied::Applied
    }

    fn is_crossed(&self) -> bool {
        matches!((self.bids.best(), self.asks.best()), (Some(b), Some(a)) if b.0 >= a.0)
    }

    fn go_stale(&mut self, reason: String, recv_ns: i64) {
        self.touch();
        self.state = SyncState::Stale;
        self.resyncs += 1;
        if let Some(s) = &self.sink {
            s.ring.push(
                recv_ns,
                EventBody::Resync(Resync { venue: self.venue, book_id: s.book_id, reason: reason.clone() }),
            );
        }
        self.stale_reason = Some(reason);
    }

    /// Mark the book stale from outside (e.g. the feed went quiet); emits a Resync when attached.
    pub fn mark_stale(&mut self, reason: &str, recv_ns: i64) {
        self.go_stale(reason.to_owned(), recv_ns);
    }

    fn emit_update(&self, recv_ns: i64) {
        if let Some(s) = &self.sink {
            s.ring.push(recv_ns, EventBody::Book(self.update_event(s.book_id)));
        }
    }

    pub fn update_event(&self, book_id: u32) -> BookUpdate {
        BookUpdate {
            venue: self.venue,
            book_id,
            best_bid: self.best_bid(),
            best_ask: self.best_ask(),
            seq: self.seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn bp() -> OrderBook {
        OrderBook::new(Venue::Backpack, "SOL_USDC_PERP", 2, 2)
    }

    fn ds(first: u64, last: u64) -> DeltaSeq {
        DeltaSeq { first, last, prev: None, offset: None }
    }

    #[test]
    fn snapshot_and_best() {
        let mut b = bp();
        assert_eq!(b.best_bid(), None);
        b.apply_snapshot(&[(100, 1), (99, 2), (101, 3)], &[(105, 1), (103, 2)], 10, None, 0).unwrap();
        assert_eq!(b.best_bid(), Some((101, 3)));
        assert_eq!(b.best_ask(), Some((103, 2)));
        assert_eq!(b.top(2), (vec![(101, 3), (100, 1)], vec![(103, 2), (105, 1)]));
        assert_eq!(b.seq(), 10);
    }

    #[test]
    fn deep_ladder_matches_sorted_map() {
        for is_bid in [true, false] {
            let mut l = Ladder::new(is_bid);
            let mut m = BTreeMap::new();
            let mut x: i64 = 12345;
            for _ in 0..5000 {
                x = (x * 1103515245 + 12345) % 2147483648;
                let px = 1000 + x % 200;
                let sz = (x / 200) % 4;
                l.set(px, sz);
                if sz == 0 {
                    m.remove(&px);
                } else {
                    m.insert(px, sz);
                }
                // Best first: bids descending, asks ascending.
                let mut expect: Vec<_> = m.iter().map(|(p, s)| (*p, *s)).collect();
                if is_bid {
                    expect.reverse();
                }
                let got: Vec<_> = l.levels.iter().rev().copied().collect();
                assert_eq!(got, expect);
            }
        }
    }

    #[test]
    fn backpack_alignment_and_gap() {
        let mut b = bp();
        assert_eq!(b.apply_deltas(ds(9, 9), &[(100, 5)], &[], 0).unwrap(), Applied::Buffered);
        assert_eq!(b.apply_deltas(ds(10, 11), &[(101, 5)], &[], 0).unwrap(), Applied::Buffered);
        assert_eq!(b.apply_deltas(ds(12, 12), &[(100, 0)], &[], 0).unwrap(), Applied::Buffered);
        b.apply_snapshot(&[(100, 1)], &[(110, 1)], 10, None, 0).unwrap();
        // 9..9 dropped, 10..11 covers L+1=11, 12 follows.
        assert_eq!(b.best_bid(), Some((101, 5)));
        assert_eq!(b.seq(), 12);
        assert_eq!(b.top(5).0, vec![(101, 5)]);
        assert_eq!(b.apply_deltas(ds(14, 14), &[(102, 1)], &[], 0).unwrap(), Applied::WentStale);
        assert!(b.is_stale());
        assert_eq!(b.best_bid(), None);
        assert!(b.stale_reason().unwrap().contains("gap"));
    }

    #[test]
    fn crossed_goes_stale_and_emits_resync() {
        let ring = Arc::new(EventRing::new(16));
        let mut b = bp();
        b.attach(BookSink { ring: ring.clone(), book_id: 3 });
        b.apply_snapshot(&[(100, 1)], &[(110, 1)], 1, None, 7).unwrap();
        assert_eq!(b.apply_deltas(ds(2, 2), &[(111, 1)], &[], 8).unwrap(), Applied::WentStale);
        let e1 = ring.pop().unwrap();
        assert!(matches!(e1.body, EventBody::Book(ref u) if u.book_id == 3 && u.best_bid == Some((100, 1))));
        let e2 = ring.pop().unwrap();
        assert!(matches!(e2.body, EventBody::Resync(ref r) if r.reason.contains("crossed")));
        assert_eq!(e2.recv_ns, 8);
    }

    #[test]
    fn binance_rule() {
        let mut b = OrderBook::new(Venue::BinanceUsdm, "BTCUSDT", 1, 3);
        let d = |u0, u1, pu| DeltaSeq { first: u0, last: u1, prev: Some(pu), offset: None };
        b.apply_deltas(d(150, 155, 149), &[(1, 1)], &[], 0).unwrap();
        b.apply_deltas(d(156, 160, 155), &[(2, 1)], &[], 0).unwrap();
        b.apply_snapshot(&[], &[(10, 1)], 157, None, 0).unwrap();
        assert_eq!(b.best_bid(), Some((2, 1)));
        assert_eq!(b.apply_deltas(d(161, 162, 160), &[(3, 1)], &[], 0).unwrap(), Applied::Applied);
        assert_eq!(b.apply_deltas(d(164, 165, 163), &[(4, 1)], &[], 0).unwrap(), Applied::WentStale);
    }

    #[test]
    fn lighter_rule_and_offset_fallback() {
        let mut b = OrderBook::new(Venue::Lighter, "0", 2, 4);
        b.apply_snapshot(&[(100, 1)], &[(101, 1)], 50, Some(7), 0).unwrap();
        let d = |begin, nonce| DeltaSeq { first: nonce, last: nonce, prev: Some(begin), offset: Some(8) };
        assert_eq!(b.apply_deltas(d(50, 60), &[(99, 1)], &[], 0).unwrap(), Applied::Applied);
        assert_eq!(b.seq(), 60);
        let off = |o| DeltaSeq { first: 0, last: 0, prev: None, offset: Some(o) };
        assert_eq!(b.apply_deltas(off(9), &[(98, 1)], &[], 0).unwrap(), Applied::Applied);
        assert_eq!(b.seq(), 60);
        assert_eq!(b.apply_deltas(off(9), &[(97, 1)], &[], 0).unwrap(), Applied::WentStale);
        assert!(b.stale_reason().unwrap().contains("offset"));
    }

    #[test]
    fn stale_buffers_until_next_snapshot() {
        let mut b = bp();
        b.apply_snapshot(&[(100, 1)], &[(110, 1)], 1, None, 0).unwrap();
        b.apply_deltas(ds(5, 5), &[(101, 1)], &[], 0).unwrap();
        assert!(b.is_stale());
        b.apply_deltas(ds(6, 6), &[(102, 1)], &[], 0).unwrap();
        b.apply_snapshot(&[(100, 1)], &[(110, 1)], 5, None, 0).unwrap();
        assert!(!b.is_stale());
        assert_eq!(b.best_bid(), Some((102, 1)));
        assert_eq!(b.seq(), 6);
    }

    #[test]
    fn negative_size_rejected_without_change() {
        let mut b = bp();
        b.apply_snapshot(&[(100, 1)], &[(110, 1)], 1, None, 0).unwrap();
        assert!(b.apply_deltas(ds(2, 2), &[(101, 1), (102, -1)], &[], 0).is_err());
        assert_eq!(b.best_bid(), Some((100, 1)));
        assert_eq!(b.seq(), 1);
    }

    #[test]
    fn buffer_is_bounded() {
        let mut b = bp();
        b.set_max_buffered(2);
        for i in 1..=5 {
            b.apply_deltas(ds(i, i), &[(100 + i as i64, 1)], &[], 0).unwrap();
        }
        assert_eq!(b.buffered(), 2);
        assert_eq!(b.buffer_dropped(), 3);
        // Snapshot at 2: the buffer starts at 4, so deltas 3 is missing -> stale.
        b.apply_snapshot(&[], &[(200, 1)], 2, None, 0).unwrap();
        assert!(b.is_stale());
    }

    // Reference model: a dict per side, the Backpack rule written the obvious way.
    type Side2 = (Option<(i64, i64)>, Option<(i64, i64)>);
    type Buffered = (u64, u64, Vec<(i64, i64)>, Vec<(i64, i64)>);

    #[derive(Default)]
    struct Model {
        bids: BTreeMap<i64, i64>,
        asks: BTreeMap<i64, i64>,
        seq: u64,
        state: u8, // 0 awaiting snapshot, 1 awaiting first, 2 live, 3 stale
        buffer: Vec<Buffered>,
    }

    impl Model {
        fn apply(&mut self, u0: u64, u1: u64, b: &[(i64, i64)], a: &[(i64, i64)]) {
            if self.state == 0 || self.state == 3 {
                self.buffer.push((u0, u1, b.to_vec(), a.to_vec()));
                return;
            }
            let ok = if self.state == 1 {
                if u1 <= self.seq {
                    return;
                }
                u0 <= self.seq + 1
            } else {
                u0 == self.seq + 1
            };
            if !ok {
                self.state = 3;
                self.buffer.push((u0, u1, b.to_vec(), a.to_vec()));
                return;
            }
            for &(p, s) in b {
                if s == 0 {
                    self.bids.remove(&p);
                } else {
                    self.bids.insert(p, s);
                }
            }
            for &(p, s) in a {
                if s == 0 {
                    self.asks.remove(&p);
                } else {
                    self.asks.insert(p, s);
                }
            }
            self.seq = u1;
            self.state = 2;
            if let (Some((bb, _)), Some((ba, _))) = (self.bids.last_key_value(), self.asks.first_key_value())
            {
                if bb >= ba {
                    self.state = 3;
                }
            }
        }
        fn snapshot(&mut self, b: &[(i64, i64)], a: &[(i64, i64)], seq: u64) {
            self.bids = b.iter().copied().filter(|l| l.1 != 0).collect();
            self.asks = a.iter().copied().filter(|l| l.1 != 0).collect();
            self.seq = seq;
            self.state = 1;
            if let (Some((bb, _)), Some((ba, _))) = (self.bids.last_key_value(), self.asks.first_key_value())
            {
                if bb >= ba {
                    self.state = 3;
                    return;
                }
            }
            let buf = std::mem::take(&mut self.buffer);
            for (u0, u1, b, a) in buf {
                if self.state == 3 {
                    self.buffer.push((u0, u1, b, a));
                } else {
                    self.apply(u0, u1, &b, &a);
                }
            }
        }
        fn best(&self) -> Side2 {
            if self.state == 1 || self.state == 2 {
                (
                    self.bids.last_key_value().map(|(p, s)| (*p, *s)),
                    self.asks.first_key_value().map(|(p, s)| (*p, *s)),
                )
            } else {
                (None, None)
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Snap(Vec<(i64, i64)>, Vec<(i64, i64)>, u64),
        Delta(u64, u64, Vec<(i64, i64)>, Vec<(i64, i64)>),
    }

    fn levels(lo: i64, hi: i64) -> impl Strategy<Value = Vec<(i64, i64)>> {
        prop::collection::vec((lo..hi, 0i64..4), 0..6)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => (levels(90, 101), levels(100, 111), 0u64..30).prop_map(|(b, a, s)| Op::Snap(b, a, s)),
            8 => (0u64..30, 0u64..3, levels(90, 105), levels(96, 111))
                .prop_map(|(u0, n, b, a)| Op::Delta(u0, u0 + n, b, a)),
        ]
    }

    proptest! {
        #[test]
        fn matches_reference_model(ops in prop::collection::vec(op(), 1..60)) {
            let mut b = bp();
            let mut m = Model::default();
            for o in ops {
                match o {
                    Op::Snap(bi, a, s) => {
                        // A snapshot's levels are unique per price in practice.
                        let bi: Vec<_> = bi.into_iter().collect::<BTreeMap<_, _>>().into_iter().collect();
                        let a: Vec<_> = a.into_iter().collect::<BTreeMap<_, _>>().into_iter().collect();
                        b.apply_snapshot(&bi, &a, s, None, 0).unwrap();
                        m.snapshot(&bi, &a, s);
                    }
                    Op::Delta(u0, u1, bi, a) => {
                        // Within one frame, one entry per price (venues aggregate).
                        let bi: Vec<_> = bi.into_iter().collect::<BTreeMap<_, _>>().into_iter().collect();
                        let a: Vec<_> = a.into_iter().collect::<BTreeMap<_, _>>().into_iter().collect();
                        b.apply_deltas(ds(u0, u1), &bi, &a, 0).unwrap();
                        m.apply(u0, u1, &bi, &a);
                    }
                }
                prop_assert_eq!((b.best_bid(), b.best_ask()), m.best());
                prop_assert_eq!(b.is_stale(), m.state == 3);
                if b.is_valid() {
                    let (tb, ta) = b.top(100);
                    let mb: Vec<_> = m.bids.iter().rev().map(|(p, s)| (*p, *s)).collect();
                    let ma: Vec<_> = m.asks.iter().map(|(p, s)| (*p, *s)).collect();
                    prop_assert_eq!(tb, mb);
                    prop_assert_eq!(ta, ma);
                    prop_assert_eq!(b.seq(), m.seq);
                }
            }
        }
    }

    fn levels_of(b: &OrderBook) -> (Levels, Levels, u64, SyncState) {
        let (tb, ta) = b.top(1000);
        (tb, ta, b.seq(), b.state())
    }

    #[test]
    fn a_delta_after_the_last_sequence_number_is_not_applied() {
        for venue in [Venue::Backpack, Venue::BinanceUsdm] {
            let mut b = OrderBook::new(venue, "X", 2, 2);
            b.apply_snapshot(&[(100, 1)], &[(110, 1)], u64::MAX - 1, None, 0).unwrap();
            let last = DeltaSeq { first: u64::MAX - 1, last: u64::MAX, prev: Some(u64::MAX - 1), offset: None };
            assert_eq!(b.apply_deltas(last, &[(101, 1)], &[], 0).unwrap(), Applied::Applied);
            assert_eq!(b.seq(), u64::MAX);
            // U = 0 after u = 2^64-1 is no successor (a wrap): refused, the book goes stale (no consumer reads
            // it until a snapshot) and the delta is not applied: the sequence stays where it was
            let wrapped = DeltaSeq { first: 0, last: 0, prev: None, offset: None };
            assert_eq!(b.apply_deltas(wrapped, &[(105, 9)], &[], 0).unwrap(), Applied::WentStale);
            assert!(b.is_stale());
            assert_eq!(b.seq(), u64::MAX);
            assert!(b.stale_reason().unwrap().contains("gap"));
        }
    }

    #[test]
    fn non_positive_prices_never_become_levels() {
        let mut b = bp();
        assert_eq!(b.apply_snapshot(&[(0, 1)], &[(110, 1)], 1, None, 0), Err(BookError::NonPositivePrice { px: 0 }));
        assert_eq!(b.best_bid(), None);
        b.apply_snapshot(&[(100, 1)], &[(110, 1)], 1, None, 0).unwrap();
        let before = levels_of(&b);
        assert_eq!(b.apply_deltas(ds(2, 2), &[(101, 1), (-333880, 5)], &[], 0),
                   Err(BookError::NonPositivePrice { px: -333880 }));
        assert_eq!(b.apply_deltas(ds(2, 2), &[], &[(-1, 5)], 0), Err(BookError::NonPositivePrice { px: -1 }));
        assert_eq!(levels_of(&b), before);
    }

    fn bad_level() -> impl Strategy<Value = (Px, Sz)> {
        prop_oneof![(-1_000_000i64..=0, 0i64..100), (1i64..200, -100i64..0)]
    }

    proptest! {
        #[test]
        fn a_frame_with_a_bad_level_leaves_the_book_as_it_was(
            ops in prop::collection::vec(op(), 1..20),
            good_b in levels(90, 101), good_a in levels(100, 111),
            bad in bad_level(), on_bid in any::<bool>(), at in 0usize..8,
        ) {
            for venue in [Venue::Backpack, Venue::Lighter, Venue::BinanceUsdm] {
                let mut b = OrderBook::new(venue, "X", 2, 2);
                for o in &ops {
                    match o {
                        Op::Snap(bi, a, s) => {
                            let bi: Vec<_> = bi.iter().copied().collect::<BTreeMap<_, _>>().into_iter().collect();
                            let a: Vec<_> = a.iter().copied().collect::<BTreeMap<_, _>>().into_iter().collect();
                            let _ = b.apply_snapshot(&bi, &a, *s, Some(*s), 0);
                        }
                        Op::Delta(u0, u1, bi, a) => {
                            let seq = DeltaSeq { first: *u0, last: *u1, prev: Some(u0.saturating_sub(1)),
                                                 offset: Some(*u1) };
                            let _ = b.apply_deltas(seq, bi, a, 0);
                        }
                    }
                }
                let before = (levels_of(&b), b.buffered());
                let (mut bi, mut a) = (good_b.clone(), good_a.clone());
                let side = if on_bid { &mut bi } else { &mut a };
                side.insert(at.min(side.len()), bad);
                let seq = DeltaSeq { first: b.seq() + 1, last: b.seq() + 1, prev: Some(b.seq()), offset: Some(b.seq() + 1) };
                prop_assert!(b.apply_deltas(seq, &bi, &a, 0).is_err());
                prop_assert!(b.apply_snapshot(&bi, &a, b.seq() + 1, None, 0).is_err());
                prop_assert_eq!((levels_of(&b), b.buffered()), before);
            }
        }
    }
}
