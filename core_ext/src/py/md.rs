//! Python bindings for market data: fixed-point helpers, OrderBook, FeedDecoder, FeedError.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::buffer::PyBuffer;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule, PyDict, PyInt, PyString};

use crate::book::{Applied, DeltaSeq, Levels, OrderBook, SyncState, DEFAULT_MAX_BUFFERED};
use crate::decode::{lock_book, FeedDecoder, FeedError as RsFeedError, SharedBook};
use crate::events::{monotonic_ns, Px, Sz, Venue};
use crate::ffi::{make_entry, FeedEntry, FEED_CAPSULE_NAME};
use crate::fixed::{self, FixedError};
use crate::py::ring::PyEventRing;

create_exception!(
    _core,
    FeedError,
    PyException,
    "A frame the FeedDecoder refused; nothing it carried was applied. Attributes: venue, channel, reason."
);

fn fixed_err(text: &str, e: FixedError) -> PyErr {
    PyValueError::new_err(format!("cannot parse {text:?} as a fixed-point number: {e}"))
}

fn feed_err(py: Python<'_>, e: &RsFeedError) -> PyErr {
    let err = FeedError::new_err(e.to_string());
    let v = err.value(py);
    // Setting plain attributes on a fresh exception instance cannot fail short of memory exhaustion.
    let _ = v.setattr("venue", e.venue.name());
    let _ = v.setattr("channel", e.channel.as_str());
    let _ = v.setattr("reason", e.reason.as_str());
    err
}

use super::args::venue_arg;

fn text_of<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<std::borrow::Cow<'a, str>> {
    if let Ok(s) = obj.cast::<PyString>() {
        Ok(std::borrow::Cow::Owned(s.to_str()?.to_owned()))
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(std::borrow::Cow::Owned(String::from_utf8_lossy(b.as_bytes()).into_owned()))
    } else {
        Err(PyValueError::new_err(format!("expected str or bytes, got {}", obj.get_type().name()?)))
    }
}

/// `parse_fixed(text, decimals) -> int`: decimal text to integer units of 10^-decimals (no floats).
#[pyfunction]
fn parse_fixed(text: &Bound<'_, PyAny>, decimals: u32) -> PyResult<i64> {
    if let Ok(b) = text.cast::<PyBytes>() {
        let raw = b.as_bytes();
        return fixed::parse_fixed(raw, decimals).map_err(|e| fixed_err(&String::from_utf8_lossy(raw), e));
    }
    let s = text_of(text)?;
    fixed::parse_fixed(s.as_bytes(), decimals).map_err(|e| fixed_err(&s, e))
}

/// `format_fixed(value, decimals) -> str`: integer units back to decimal text.
#[pyfunction]
fn format_fixed(value: i64, decimals: u32) -> PyResult<String> {
    fixed::format_fixed(value, decimals)
        .map_err(|e| PyValueError::new_err(format!("cannot format {value}: {e}")))
}

/// Levels from Python: an iterable of (px, sz) pairs, each an int (already in units) or decimal text.
fn extract_levels(obj: &Bound<'_, PyAny>, side: &str, pd: u32, sd: u32) -> PyResult<Vec<(Px, Sz)>> {
    let mut out = Vec::new();
    for (k, item) in obj.try_iter()?.enumerate() {
        let item = item?;
        if let Ok(pair) = item.extract::<(i64, i64)>() {
            out.push(pair);
            continue;
        }
        let (p, s): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item
            .extract()
            .map_err(|_| PyValueError::new_err(format!("{side}[{k}] is not a (price, size) pair")))?;
        let num = |v: &Bound<'_, PyAny>, what: &str, d: u32| -> PyResult<i64> {
            if v.is_instance_of::<PyInt>() {
                return v.extract();
            }
            let t = text_of(v)
                .map_err(|_| PyValueError::new_err(format!("{side}[{k}] {what} must be int or str")))?;
            fixed::parse_fixed(t.as_bytes(), d)
                .map_err(|e| PyValueError::new_err(format!("{side}[{k}] {what} {t:?}: {e}")))
        };
        out.push((num(&p, "price", pd)?, num(&s, "size", sd)?));
    }
    Ok(out)
}

fn outcome(a: Applied) -> &'static str {
    match a {
        Applied::Applied => "applied",
        Applied::Buffered => "buffered",
        Applied::DroppedOld => "dropped",
        Applied::WentStale => "stale",
    }
}

/// L2 order book in integer units with the venue's sequence rule (see docs/core_api.md).
#[pyclass(name = "OrderBook", module = "xtb_core._core")]
pub struct PyOrderBook {
    pub inner: SharedBook,
    venue: Venue,
    symbol: Py<PyString>,
    price_decimals: u32,
    size_decimals: u32,
    /// The book's change counter; best_bid/best_ask hand out cached tuples while it is unchanged.
    version: Arc<AtomicU64>,
    cached_version: u64,
    cached_bid: Option<Py<PyAny>>,
    cached_ask: Option<Py<PyAny>>,
}

impl PyOrderBook {
    #[inline]
    fn book(&self) -> MutexGuard<'_, OrderBook> {
        lock_book(&self.inner)
    }

    /// Refresh the cached top-of-book tuples if the book changed since they were built.
    #[inline]
    fn refresh_top(&mut self, py: Python<'_>) -> PyResult<()> {
        let v = self.version.load(Ordering::Acquire);
        if v == self.cached_version && self.cached_bid.is_some() {
            return Ok(());
        }
        let (b, a, v) = {
            let book = lock_book(&self.inner);
            // Read the version under the lock so the cache matches what we read.
            (book.best_bid(), book.best_ask(), self.version.load(Ordering::Acquire))
        };
        self.cached_bid = Some(level(py, b)?);
        self.cached_ask = Some(level(py, a)?);
        self.cached_version = v;
        Ok(())
    }
}

#[inline]
fn level(py: Python<'_>, l: Option<(Px, Sz)>) -> PyResult<Py<PyAny>> {
    match l {
        Some(pair) => Ok(pair.into_pyobject(py)?.into_any().unbind()),
        None => Ok(py.None()),
    }
}

#[pymethods]
impl PyOrderBook {
    #[new]
    #[pyo3(signature = (venue, symbol, price_decimals, size_decimals, max_buffered = DEFAULT_MAX_BUFFERED))]
    fn new(
        py: Python<'_>,
        venue: &str,
        symbol: &str,
        price_decimals: u32,
        size_decimals: u32,
        max_buffered: usize,
    ) -> PyResult<Self> {
        let v = venue_arg(venue)?;
        if price_decimals > fixed::MAX_DECIMALS || size_decimals > fixed::MAX_DECIMALS {
            return Err(PyValueError::new_err("price_decimals and size_decimals must be between 0 and 18"));
        }
        let mut b = OrderBook::new(v, symbol, price_decimals, size_decimals);
        b.set_max_buffered(max_buffered);
        let version = b.version_handle();
        Ok(PyOrderBook {
            inner: Arc::new(Mutex::new(b)),
            venue: v,
            symbol: PyString::new(py, symbol).unbind(),
            price_decimals,
            size_decimals,
            version,
            cached_version: 0,
            cached_bid: None,
            cached_ask: None,
        })
    }

    #[getter]
    fn venue(&self) -> &'static str {
        self.venue.name()
    }

    #[getter]
    fn symbol(&self, py: Python<'_>) -> Py<PyString> {
        self.symbol.clone_ref(py)
    }

    #[getter]
    fn price_decimals(&self) -> u32 {
        self.price_decimals
    }

    #[getter]
    fn size_decimals(&self) -> u32 {
        self.size_decimals
    }

    /// Replace the book; buffered deltas are replayed through the venue's alignment rule.
    /// Returns "applied" or "stale".
    #[pyo3(signature = (bids, asks, seq, offset = None, recv_ns = None))]
    fn apply_snapshot(
        &self,
        bids: &Bound<'_, PyAny>,
        asks: &Bound<'_, PyAny>,
        seq: u64,
        offset: Option<u64>,
        recv_ns: Option<i64>,
    ) -> PyResult<&'static str> {
        let b = extract_levels(bids, "bids", self.price_decimals, self.size_decimals)?;
        let a = extract_levels(asks, "asks", self.price_decimals, self.size_decimals)?;
        let now = recv_ns.unwrap_or_else(monotonic_ns);
        self.book()
            .apply_snapshot(&b, &a, seq, offset, now)
            .map(outcome)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Apply one delta frame. Returns "applied", "buffered", "dropped" (older than the snapshot) or
    /// "stale" (this delta broke the rule or crossed the book).
    #[pyo3(signature = (bids, asks, first_seq, last_seq, prev_seq = None, offset = None, recv_ns = None))]
    #[allow(clippy::too_many_arguments)]
    fn apply_deltas(
        &self,
        bids: &Bound<'_, PyAny>,
        asks: &Bound<'_, PyAny>,
        first_seq: u64,
        last_seq: u64,
        prev_seq: Option<u64>,
        offset: Option<u64>,
        recv_ns: Option<i64>,
    ) -> PyResult<&'static str> {
        if first_seq > last_seq && last_seq != 0 {
            return Err(PyValueError::new_err(format!("first_seq {first_seq} > last_seq {last_seq}")));
        }
        let b = extract_levels(bids, "bids", self.price_decimals, self.size_decimals)?;
        let a = extract_levels(asks, "asks", self.price_decimals, self.size_decimals)?;
        let now = recv_ns.unwrap_or_else(monotonic_ns);
        let seq = DeltaSeq { first: first_seq, last: last_seq, prev: prev_seq, offset };
        self.book()
            .apply_deltas(seq, &b, &a, now)
            .map(outcome)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Best bid as (px, sz), or None when empty, stale or not yet snapshotted.
    fn best_bid(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.refresh_top(py)?;
        Ok(self.cached_bid.as_ref().map_or_else(|| py.None(), |o| o.clone_ref(py)))
    }

    /// Best ask as (px, sz), or None when empty, stale or not yet snapshotted.
    fn best_ask(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.refresh_top(py)?;
        Ok(self.cached_ask.as_ref().map_or_else(|| py.None(), |o| o.clone_ref(py)))
    }

    /// Up to n levels per side, best first: ([(px, sz)...], [(px, sz)...]).
    #[pyo3(signature = (n = 10))]
    fn top(&self, n: usize) -> (Levels, Levels) {
        self.book().top(n)
    }

    /// Number of levels per side (bids, asks).
    fn depth(&self) -> (usize, usize) {
        self.book().depth()
    }

    #[getter]
    fn seq(&self) -> u64 {
        self.book().seq()
    }

    #[getter]
    fn is_stale(&self) -> bool {
        self.book().is_stale()
    }

    #[getter]
    fn stale_reason(&self) -> Option<String> {
        self.book().stale_reason().map(str::to_owned)
    }

    /// "awaiting_snapshot", "awaiting_first", "live" or "stale".
    #[getter]
    fn state(&self) -> &'static str {
        match self.book().state() {
            SyncState::AwaitingSnapshot => "awaiting_snapshot",
            SyncState::AwaitingFirst => "awaiting_first",
            SyncState::Live => "live",
            SyncState::Stale => "stale",
        }
    }

    /// Deltas held for the next snapshot.
    #[getter]
    fn buffered(&self) -> usize {
        self.book().buffered()
    }

    /// Deltas dropped because the buffer was full.
    #[getter]
    fn buffer_dropped(&self) -> u64 {
        self.book().buffer_dropped()
    }

    #[getter]
    fn max_buffered(&self) -> usize {
        self.book().max_buffered()
    }

    /// Mark the book stale from outside (e.g. the feed went quiet); emits a Resync when attached.
    #[pyo3(signature = (reason, recv_ns = None))]
    fn mark_stale(&self, reason: &str, recv_ns: Option<i64>) {
        self.book().mark_stale(reason, recv_ns.unwrap_or_else(monotonic_ns));
    }

    /// Forget levels, sequence, buffer and staleness; the book waits for a snapshot.
    fn clear(&self) {
        self.book().clear();
    }

    fn __repr__(&self) -> String {
        let b = self.book();
        format!(
            "OrderBook(venue={:?}, symbol={:?}, seq={}, state={:?}, depth={:?})",
            self.venue.name(),
            b.symbol,
            b.seq(),
            b.state(),
            b.depth()
        )
    }
}

/// What the capsule points at: the C entry first (repr(C)), then the decoder object it belongs to, so
/// the capsule keeps the decoder alive.
#[repr(C)]
struct CapsuleBox {
    entry: FeedEntry,
    _owner: Py<PyFeedDecoder>,
}

// SAFETY: the raw ctx pointer targets the decoder's Mutex, which is Sync; the owner reference keeps it alive.
unsafe impl Send for CapsuleBox {}

/// Raw venue frames in, books updated, typed events pushed to the ring (see docs/core_api.md).
#[pyclass(name = "FeedDecoder", module = "xtb_core._core", frozen)]
pub struct PyFeedDecoder {
    core: Box<Mutex<FeedDecoder>>,
    books: Mutex<Vec<Py<PyOrderBook>>>,
    venue: Venue,
}

impl PyFeedDecoder {
    fn core(&self) -> MutexGuard<'_, FeedDecoder> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl PyFeedDecoder {
    #[new]
    fn new(venue: &str, ring: &Bound<'_, PyEventRing>) -> PyResult<Self> {
        // a venue without a core decoder (a registered plugin venue) gets one that holds its books and
        // refuses every frame with a FeedError: its connector pushes typed events itself
        let v = venue_arg(venue)?;
        let ring = ring.get().inner.clone();
        Ok(PyFeedDecoder {
            core: Box::new(Mutex::new(FeedDecoder::new(v, ring))),
            books: Mutex::new(Vec::new()),
            venue: v,
        })
    }

    #[getter]
    fn venue(&self) -> &'static str {
        self.venue.name()
    }

    /// Register a book and return its book_id. Frames are routed by `route`: the venue symbol
    /// (default: the book's symbol) or, for Lighter, the market index.
    #[pyo3(signature = (book, route = None))]
    fn add_book(&self, book: &Bound<'_, PyOrderBook>, route: Option<&Bound<'_, PyAny>>) -> PyResult<u32> {
        let key = match route {
            None => book.borrow().symbol.to_string(),
            Some(r) if r.is_instance_of::<PyInt>() => r.extract::<u64>()?.to_string(),
            Some(r) => r.extract::<String>()?,
        };
        let inner = book.borrow().inner.clone();
        let id = self.core().add_book(inner, &key).map_err(PyValueError::new_err)?;
        self.books.lock().unwrap_or_else(|p| p.into_inner()).push(book.clone().unbind());
        Ok(id)
    }

    /// The OrderBook registered under book_id.
    fn book(&self, py: Python<'_>, book_id: u32) -> PyResult<Py<PyOrderBook>> {
        let books = self.books.lock().unwrap_or_else(|p| p.into_inner());
        books
            .get(book_id as usize)
            .map(|b| b.clone_ref(py))
            .ok_or_else(|| PyIndexError::new_err(format!("no book with id {book_id}")))
    }

    /// Decode one frame (bytes, bytearray or memoryview). Returns the number of events pushed.
    /// Raises FeedError (nothing applied) on a malformed frame.
    #[pyo3(signature = (frame, recv_ns = None))]
    fn feed(&self, py: Python<'_>, frame: &Bound<'_, PyAny>, recv_ns: Option<i64>) -> PyResult<u32> {
        let now = recv_ns.unwrap_or_else(monotonic_ns);
        let r = if let Ok(b) = frame.cast::<PyBytes>() {
            self.core().feed(b.as_bytes(), now)
        } else {
            let buf = PyBuffer::<u8>::get(frame)?;
            if !buf.is_c_contiguous() {
                return Err(PyValueError::new_err("frame buffer must be contiguous"));
            }
            // SAFETY: the buffer is contiguous, held by `buf` for this call, and only read.
            let bytes = unsafe { std::slice::from_raw_parts(buf.buf_ptr() as *const u8, buf.len_bytes()) };
            self.core().feed(bytes, now)
        };
        r.map_err(|e| feed_err(py, &e))
    }

    /// PyCapsule named "xtb._core.feed_v1" holding a FeedEntry (see core_ext/src/ffi.rs): the C entry
    /// the Cython listener calls with the frame's payload pointer. The capsule keeps the decoder alive.
    fn feed_capsule<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyCapsule>> {
        let ctx: *const Mutex<FeedDecoder> = &*slf.get().core;
        let value = CapsuleBox { entry: make_entry(ctx), _owner: slf.clone().unbind() };
        PyCapsule::new_with_value(slf.py(), value, FEED_CAPSULE_NAME)
    }

    /// Route private order updates and fills through `tracker` (an OrderTracker; None detaches): the
    /// tracker applies them and emits what changed; unknown orders and conflicts reach the ring as decoded.
    fn set_tracker(&self, tracker: Option<&Bound<'_, crate::py::orders::PyOrderTracker>>) {
        let shared = tracker.map(|t| t.borrow().shared.clone());
        self.core().set_tracker(shared);
    }

    /// Counters of private events routed through the tracker: applied, ignored, unknown, conflicts.
    #[getter]
    fn route_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let st = self.core().route_stats.clone();
        let d = pyo3::types::PyDict::new(py);
        d.set_item("applied", st.applied)?;
        d.set_item("ignored", st.ignored)?;
        d.set_item("unknown", st.unknown)?;
        d.set_item("conflicts", st.conflicts)?;
        Ok(d)
    }

    /// Raise the FeedError recorded by the last rejected frame (and forget it); None if there is none.
    fn raise_last_error(&self, py: Python<'_>) -> PyResult<()> {
        match self.core().take_last_error() {
            Some(e) => Err(feed_err(py, &e)),
            None => Ok(()),
        }
    }

    /// Application-level pings (Lighter `{"type":"ping"}`) seen since the last call; answer each with
    /// `{"type":"pong"}`.
    fn take_pings(&self) -> u64 {
        self.core().take_pings()
    }

    /// Counters: frames, events, errors, unknown_symbol, ignored, pings, fee_unconverted.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.core().stats.clone();
        let d = PyDict::new(py);
        d.set_item("frames", s.frames)?;
        d.set_item("events", s.events)?;
        d.set_item("errors", s.errors)?;
        d.set_item("unknown_symbol", s.unknown_symbol)?;
        d.set_item("ignored", s.ignored)?;
        d.set_item("pings", s.pings)?;
        d.set_item("fee_unconverted", s.fee_unconverted)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let n = self.books.lock().unwrap_or_else(|p| p.into_inner()).len();
        format!("FeedDecoder(venue={:?}, books={n})", self.venue.name())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_fixed, m)?)?;
    m.add_function(wrap_pyfunction!(format_fixed, m)?)?;
    m.add_class::<PyOrderBook>()?;
    m.add_class::<PyFeedDecoder>()?;
    m.add("FeedError", m.py().get_type::<FeedError>())?;
    m.add("FEED_CAPSULE_NAME", FEED_CAPSULE_NAME.to_str().unwrap_or_default())?;
    Ok(())
}
