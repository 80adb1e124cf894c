//! Venue feed decoders: raw WebSocket frame bytes in, books updated, typed events out.
//!
//! One `FeedDecoder` per venue connection. Each frame is handled atomically: the whole frame is parsed
//! and every number converted first; only then are books mutated and events pushed. A malformed frame
//! returns a `FeedError` (venue, channel, reason) and changes nothing. Frames for symbols / markets with
//! no book are ignored and counted, not errors.
//!
//! Private-stream events (order updates, fills, positions) all leave through `FeedDecoder::emit_private`,
//! the one place where they can later be routed through the order tracker.

pub mod backpack;
pub mod binance;
pub mod grvt;
pub mod json;
pub mod lighter;
pub mod private;
pub mod scan;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::book::{Applied, BookSink, DeltaSeq, OrderBook};
use crate::events::{EventBody, Px, Sz, Venue};
use crate::fixed::{parse_fixed, Decimal, FixedError};
use crate::ring::EventRing;

/// A book shared between the decoder and its Python handle.
pub type SharedBook = Arc<Mutex<OrderBook>>;

pub fn lock_book(b: &SharedBook) -> MutexGuard<'_, OrderBook> {
    b.lock().unwrap_or_else(|p| p.into_inner())
}

/// A frame the decoder refused. Nothing it carried was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedError {
    pub venue: Venue,
    pub channel: String,
    pub reason: String,
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} frame on channel {:?} rejected: {}", self.venue.name(), self.channel, self.reason)
    }
}

impl std::error::Error for FeedError {}

/// Counters a connector can read (and export as metrics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecoderStats {
    pub frames: u64,
    pub events: u64,
    pub errors: u64,
    /// Frames (or items inside a frame) for a symbol / market with no book.
    pub unknown_symbol: u64,
    /// Frames of a channel or event type the decoder does not use (acks, stats, heartbeats).
    pub ignored: u64,
    /// Application-level pings seen (Lighter `{"type":"ping"}`): each needs a `{"type":"pong"}`.
    pub pings: u64,
    /// Fills whose fee asset is neither the market's base nor quote asset (fee reported as 0).
    pub fee_unconverted: u64,
}

pub struct FeedDecoder {
    pub venue: Venue,
    ring: Arc<EventRing>,
    books: Vec<SharedBook>,
    /// Route key -> book id. A decoder serves a handful of books: a linear scan over short keys beats
    /// hashing them.
    routes: Vec<(Box<str>, u32)>,
    pub stats: DecoderStats,
    pending_pings: u64,
    last_error: Option<FeedError>,
    /// When set, private order updates and fills go through the order tracker (see `private`).
    tracker: Option<private::SharedTracker>,
    pub route_stats: private::RouteStats,
    // Scratch buffers reused across frames (no allocation per depth frame).
    scratch_bids: Vec<(Px, Sz)>,
    scratch_asks: Vec<(Px, Sz)>,
    span_bids: Vec<scan::RawLevel>,
    span_asks: Vec<scan::RawLevel>,
    /// Depth columns' shapes learnt by the fast path, kept from frame to frame.
    column_shapes: scan::ColumnShapes,
}

/// What a depth frame carries: a full snapshot or a delta.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Depth {
    Snapshot { seq: u64, offset: Option<u64> },
    Delta(DeltaSeq),
}

/// Parse context shared by the venue modules: builds errors that name the channel.
pub(crate) struct Ctx<'c> {
    pub venue: Venue,
    pub channel: &'c str,
}

impl Ctx<'_> {
    pub fn err(&self, reason: impl Into<String>) -> FeedError {
        FeedError { venue: self.venue, channel: self.channel.to_owned(), reason: reason.into() }
    }

    pub fn fixed(&self, field: &str, text: &str, decimals: u32) -> Result<i64, FeedError> {
        parse_fixed(text.as_bytes(), decimals).map_err(|e| self.err(format!("bad {field} {text:?}: {e}")))
    }

    pub fn decimal(&self, field: &str, text: &str) -> Result<Decimal, FeedError> {
        Decimal::parse(text.as_bytes()).map_err(|e| self.err(format!("bad {field} {text:?}: {e}")))
    }

    pub fn rounded(&self, field: &str, text: &str, decimals: u32) -> Result<i64, FeedError> {
        self.decimal(field, text)?
            .to_units_rounded(decimals)
            .map_err(|e: FixedError| self.err(format!("bad {field} {text:?}: {e}")))
    }

    pub fn levels(
        &self,
        side: &str,
        levels: &[(&str, &str)],
        pd: u32,
        sd: u32,
        out: &mut Vec<(Px, Sz)>,
    ) -> Result<(), FeedError> {
        out.clear();
        for (k, (p, s)) in levels.iter().enumerate() {
            let px = parse_fixed(p.as_bytes(), pd)
                .map_err(|e| self.err(format!("bad price {p:?} in {side}[{k}]: {e}")))?;
            let sz = parse_fixed(s.as_bytes(), sd)
                .map_err(|e| self.err(format!("bad size {s:?} in {side}[{k}]: {e}")))?;
            if sz < 0 {
                return Err(self.err(format!("negative size {s:?} in {side}[{k}]")));
            }
            out.push((px, sz));
        }
        Ok(())
    }
}

/// Average price in price units from a cumulative quote amount and a cumulative base amount (both
/// decimal text): quote / base, rounded. 0 when nothing filled.
pub(crate) fn avg_price(quote: Decimal, base: Decimal, pd: u32) -> Option<i64> {
    if base.mantissa == 0 {
        return Some(0);
    }
    // px = (q_m / 10^q_s) / (b_m / 10^b_s) * 10^pd = q_m * 10^(b_s + pd) / (b_m * 10^q_s)
    let num = quote.mantissa.checked_mul(10i128.checked_pow(base.scale + pd)?)?;
    let den = base.mantissa.checked_mul(10i128.checked_pow(quote.scale)?)?;
    i64::try_from(crate::fixed::div_round(num, den)).ok()
}

/// Fee in notional units (10^-(pd+sd) of the quote asset). A fee paid in the base asset is converted
/// at the fill price (`px` in price units). None when the fee asset is neither.
pub(crate) fn fee_notional(
    fee: Decimal,
    fee_asset: Option<&str>,
    base: &str,
    quote: &str,
    px: Px,
    pd: u32,
    sd: u32,
) -> Option<i64> {
    match fee_asset {
        Some(a) if a == base => {
            // fee_base * px: (m / 10^s) * (px / 10^pd) in units of 10^-(pd+sd)
            let v = fee.mantissa.checked_mul(px as i128)?.checked_mul(10i128.checked_pow(sd)?)?;
            i64::try_from(crate::fixed::div_round(v, 10i128.checked_pow(fee.scale)?)).ok()
        }
        Some(a) if a == quote || a.is_empty() => fee.to_units_rounded(pd + sd).ok(),
        None => fee.to_units_rounded(pd + sd).ok(),
        _ => None,
    }
}

impl FeedDecoder {
    pub fn new(venue: Venue, ring: Arc<EventRing>) -> Self {
        FeedDecoder {
            venue,
            ring,
            books: Vec::new(),
            routes: Vec::new(),
            stats: DecoderStats::default(),
            pending_pings: 0,
            last_error: None,
            tracker: None,
            route_stats: private::RouteStats::default(),
            scratch_bids: Vec::with_capacity(256),
            scratch_asks: Vec::with_capacity(256),
            span_bids: Vec::with_capacity(256),
            span_asks: Vec::with_capacity(256),
            column_shapes: scan::ColumnShapes::default(),
        }
    }

    pub fn ring(&self) -> &Arc<EventRing> {
        &self.ring
    }

    /// Register a book; frames are routed to it by `route` (the venue symbol, or Lighter's market index).
    /// The book is attached to this decoder's ring: its updates and resyncs become events.
    pub fn add_book(&mut self, book: SharedBook, route: &str) -> Result<u32, String> {
        let venue = lock_book(&book).venue;
        if venue != self.venue {
            return Err(format!(
                "book is for {} but this decoder decodes {}",
                venue.name(),
                self.venue.name()
            ));
        }
        if self.route(route).is_some() {
            return Err(format!("a book is already routed by {route:?}"));
        }
        let id = self.books.len() as u32;
        {
            let mut b = lock_book(&book);
            if b.sink().is_some() {
                return Err(format!("book {:?} is already attached to a decoder", b.symbol));
            }
            b.attach(BookSink { ring: self.ring.clone(), book_id: id });
        }
        self.books.push(book);
        self.routes.push((route.into(), id));
        Ok(id)
    }

    pub fn book(&self, id: u32) -> Option<&SharedBook> {
        self.books.get(id as usize)
    }

    pub fn route(&self, key: &str) -> Option<u32> {
        self.routes.iter().find(|(k, _)| &**k == key).map(|&(_, id)| id)
    }

    pub fn last_error(&self) -> Option<&FeedError> {
        self.last_error.as_ref()
    }

    pub fn take_last_error(&mut self) -> Option<FeedError> {
        self.last_error.take()
    }

    pub fn set_last_error(&mut self, e: FeedError) {
        self.last_error = Some(e);
    }

    /// Pings seen since the last call (each needs an application-level pong).
    pub fn take_pings(&mut self) -> u64 {
        std::mem::take(&mut self.pending_pings)
    }

    /// Decode one frame. Ok(n) = events pushed to the ring.
    pub fn feed(&mut self, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
        self.stats.frames += 1;
        let venue = self.venue;
        let r = venue.feed(self, frame, recv_ns);
        match r {
            Ok(n) => {
                self.stats.events += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.stats.errors += 1;
                self.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Book lookup for a route key; counts unknown keys.
    pub(crate) fn lookup(&mut self, key: &str) -> Option<(u32, SharedBook)> {
        match self.route(key) {
            Some(id) => Some((id, self.books[id as usize].clone())),
            None => {
                self.stats.unknown_symbol += 1;
                None
            }
        }
    }

    pub(crate) fn scales(book: &SharedBook) -> (u32, u32) {
        let b = lock_book(book);
        (b.price_decimals, b.size_decimals)
    }

    /// Parse both sides of a depth frame into the scratch buffers, then apply: parse errors leave the
    /// book untouched. Returns events pushed.
    pub(crate) fn apply_depth(
        &mut self,
        ctx: &Ctx<'_>,
        book: &SharedBook,
        bids: &[(&str, &str)],
        asks: &[(&str, &str)],
        kind: Depth,
        recv_ns: i64,
    ) -> Result<u32, FeedError> {
        let mut b = lock_book(book);
        let (pd, sd) = (b.price_decimals, b.size_decimals);
        ctx.levels("bids", bids, pd, sd, &mut self.scratch_bids)?;
        ctx.levels("asks", asks, pd, sd, &mut self.scratch_asks)?;
        let r = match kind {
            Depth::Snapshot { seq, offset } => {
                b.apply_snapshot(&self.scratch_bids, &self.scratch_asks, seq, offset, recv_ns)
            }
            Depth::Delta(seq) => b.apply_deltas(seq, &self.scratch_bids, &self.scratch_asks, recv_ns),
        };
        match r {
            Ok(Applied::Applied) | Ok(Applied::WentStale) => Ok(1),
            Ok(Applied::Buffered) | Ok(Applied::DroppedOld) => Ok(0),
            Err(e) => Err(ctx.err(e.to_string())),
        }
    }

    /// Fast path for diff-depth and ticker frames (see `scan`); `depth_event` is the venue's name of
    /// its diff-depth event. None = declined: decode with the general path.
    pub(crate) fn fast_path(
        &mut self,
        frame: &[u8],
        depth_event: &str,
        recv_ns: i64,
    ) -> Option<Result<u32, FeedError>> {
        let mut bids = std::mem::take(&mut self.span_bids);
        let mut asks = std::mem::take(&mut self.span_asks);
        let r = self.fast_path_inner(frame, depth_event, &mut bids, &mut asks, recv_ns);
        self.span_bids = bids;
        self.span_asks = asks;
        r
    }

    fn fast_path_inner(
        &mut self,
        frame: &[u8],
        depth_event: &str,
        bids: &mut Vec<scan::RawLevel>,
        asks: &mut Vec<scan::RawLevel>,
        recv_ns: i64,
    ) -> Option<Result<u32, FeedError>> {
        let head = scan::market_with(frame, bids, asks, &mut self.column_shapes).ok()?;
        let event = head.event?;
        let is_depth = event == depth_event;
        if is_depth {
            // A price string where levels belong: the general path names the field in its error.
            if head.bid_px.is_some() || head.ask_px.is_some() {
                return None;
            }
        } else if event != "bookTicker" || head.bid_levels || head.ask_levels {
            return None;
        }
        let sym = head.symbol?;
        let last = head.last?;
        let ticker = if is_depth {
            None
        } else {
            Some((head.bid_px?, head.bid_sz?, head.ask_px?, head.ask_sz?))
        };
        let first = if is_depth { head.first? } else { 0 };
        if is_depth && first > last {
            return None;
        }
        let Some(id) = self.route(sym) else {
            self.stats.unknown_symbol += 1;
            return Some(Ok(0));
        };
        let book = &self.books[id as usize];
        let mut b = lock_book(book);
        let (pd, sd) = (b.price_decimals, b.size_decimals);
        if let Some((bp, bq, ap, aq)) = ticker {
            // As the general path: sizes are not checked for sign, a ticker never touches the levels.
            let bid = (bp.to_units(pd)?, bq.to_units(sd)?);
            let ask = (ap.to_units(pd)?, aq.to_units(sd)?);
            // a crossed, negative or zero-priced top: the general path refuses it with its reason
            check_ticker(bid, ask).ok()?;
            let ev = ticker_update(self.venue, id, &b, bid, ask, last);
            drop(b);
            return Some(Ok(self.push_ticker(ev, recv_ns)));
        }
        // A value the raw form cannot express at this scale declines the fast path: the general path
        // then names the exact text and reason in its error.
        let conv = |levels: &[scan::RawLevel], out: &mut Vec<(Px, Sz)>| -> Option<()> {
            out.clear();
            out.reserve(levels.len());
            for &(p, q) in levels {
                let (px, sz) = (p.to_units(pd)?, q.to_units(sd)?);
                if sz < 0 || px <= 0 {
                    return None;
                }
                out.push((px, sz));
            }
            Some(())
        };
        conv(bids, &mut self.scratch_bids)?;
        conv(asks, &mut self.scratch_asks)?;
        let seq = DeltaSeq { first, last, prev: head.prev, offset: None };
        // `conv` refused negative sizes.
        Some(match b.apply_deltas_nonnegative(seq, &self.scratch_bids, &self.scratch_asks, recv_ns) {
            Applied::Applied | Applied::WentStale => Ok(1),
            Applied::Buffered | Applied::DroppedOld => Ok(0),
        })
    }

    /// A top-of-book ticker: becomes a BookUpdate when the book is valid and the ticker is newer than it.
    /// The L2 levels are not touched (the depth stream stays the source of truth).
    pub(crate) fn emit_ticker(
        &mut self,
        book_id: u32,
        book: &SharedBook,
        bid: (Px, Sz),
        ask: (Px, Sz),
        u: u64,
        recv_ns: i64,
    ) -> u32 {
        let ev = ticker_update(self.venue, book_id, &lock_book(book), bid, ask, u);
        self.push_ticker(ev, recv_ns)
    }

    fn push_ticker(&mut self, ev: Option<crate::events::BookUpdate>, recv_ns: i64) -> u32 {
        match ev {
            Some(ev) => {
                self.ring.push(recv_ns, EventBody::Book(ev));
                1
            }
            None => {
                self.stats.ignored += 1;
                0
            }
        }
    }

    pub(crate) fn emit_public(&mut self, recv_ns: i64, body: EventBody) {
        self.ring.push(recv_ns, body);
    }

    /// Attach (or detach) the order tracker that private updates are routed through.
    pub fn set_tracker(&mut self, tracker: Option<private::SharedTracker>) {
        self.tracker = tracker;
    }

    /// The one exit for private-stream events (OrderUpdate, Fill, Position): through the order tracker
    /// when one is attached (it emits what changed), straight to the ring otherwise.
    pub fn emit_private(&mut self, recv_ns: i64, body: EventBody) {
        debug_assert!(matches!(body, EventBody::Order(_) | EventBody::Fill(_) | EventBody::Position(_)));
        match &self.tracker {
            Some(t) => private::route(t, &self.ring, &mut self.route_stats, recv_ns, body),
            None => {
                self.ring.push(recv_ns, body);
            }
        }
    }

    pub(crate) fn ping(&mut self) {
        self.stats.pings += 1;
        self.pending_pings += 1;
    }
}

/// The BookUpdate a ticker makes: None when the book is not valid or the ticker is not newer than it.
/// A top-of-book ticker consumers may trust: sizes not negative, a quoted side priced above zero, and
/// bid below ask when both sides are quoted. Otherwise the reason (the frame is refused, nothing emitted).
pub(crate) fn check_ticker(bid: (Px, Sz), ask: (Px, Sz)) -> Result<(), String> {
    for (name, (px, sz)) in [("bid", bid), ("ask", ask)] {
        if sz < 0 {
            return Err(format!("bookTicker {name} size {sz} is negative"));
        }
        if sz > 0 && px <= 0 {
            return Err(format!("bookTicker {name} price {px} is not above zero"));
        }
    }
    if bid.1 > 0 && ask.1 > 0 && bid.0 >= ask.0 {
        return Err(format!("bookTicker crossed: bid {} >= ask {}", bid.0, ask.0));
    }
    Ok(())
}

fn ticker_update(
    venue: Venue,
    book_id: u32,
    b: &OrderBook,
    bid: (Px, Sz),
    ask: (Px, Sz),
    u: u64,
) -> Option<crate::events::BookUpdate> {
    if !b.is_valid() || u <= b.seq() {
        return None;
    }
    Some(crate::events::BookUpdate {
        venue,
        book_id,
        best_bid: Some(bid).filter(|l| l.1 > 0),
        best_ask: Some(ask).filter(|l| l.1 > 0),
        seq: u,
    })
}

/// Split "ETH_USDC_PERP" into ("ETH", "USDC"); Binance "BTCUSDT" by known quote suffixes.
pub(crate) fn base_quote(symbol: &str) -> (&str, &str) {
    let mut parts = symbol.split('_');
    if let (Some(b), Some(q)) = (parts.next(), parts.next()) {
        return (b, q);
    }
    for q in ["USDT", "USDC", "FDUSD", "BUSD", "USD"] {
        if let Some(b) = symbol.strip_suffix(q) {
            return (b, q);
        }
    }
    (symbol, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avg_and_fee_math() {
        let q = Decimal::parse(b"4.299160").unwrap();
        let b = Decimal::parse(b"0.0010").unwrap();
        assert_eq!(avg_price(q, b, 2), Some(429916));
        assert_eq!(avg_price(q, Decimal::parse(b"0").unwrap(), 2), Some(0));
        // 0.000001 ETH at 4299.16 = 0.00429916 USDC = 4299.16 units of 10^-(2+4) -> 4299
        let fee = Decimal::parse(b"0.000001").unwrap();
        assert_eq!(fee_notional(fee, Some("ETH"), "ETH", "USDC", 429916, 2, 4), Some(4299));
        assert_eq!(
            fee_notional(Decimal::parse(b"0.5").unwrap(), Some("USDC"), "ETH", "USDC", 1, 2, 4),
            Some(500000)
        );
        assert_eq!(fee_notional(fee, Some("BNB"), "BTC", "USDT", 1, 2, 4), None);
        assert_eq!(base_quote("ETH_USDC_PERP"), ("ETH", "USDC"));
        assert_eq!(base_quote("BTCUSDT"), ("BTC", "USDT"));
    }
}

#[cfg(test)]
mod frame_tests;
