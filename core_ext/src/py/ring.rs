//! Python binding of the EventRing and the event classes (documented in docs/core_api.md).
//!
//! Each event class owns its Rust payload; attributes are produced on access, so handing an event to
//! Python costs one object allocation.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::sync::OnceLock;

use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::events::{
    monotonic_ns, BookUpdate, Event, EventBody, Fill, MarkPrice, OrderUpdate, OperatorAction, Position, RateLimited,
    Resync, Side, Trade, Venue, FUNDING_RATE_DECIMALS,
};
use crate::dispatch::{take_batch, DispatchCounters, EventKind};
use crate::ring::{bench_push_pop_ns, EventRing};

use super::args::{side_arg, state_arg, venue_arg};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Held only to copy or swap a field: a poisoned lock still holds a consistent value.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The clock that times dispatcher callbacks (durations only), calibrated once per process.
fn callback_clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Largest ring accepted from Python (2^24 events); larger rings only hide a stalled consumer.
const MAX_CAPACITY: usize = 1 << 24;

/// Bounded multi-producer single-consumer ring of typed events (see docs/core_api.md).
#[pyclass(name = "EventRing", module = "xtb_core._core", frozen)]
pub struct PyEventRing {
    /// Shared with producers (decoders, tracker) that hold a clone of the Arc.
    pub inner: Arc<EventRing>,
    /// Events taken by `dispatch` per kind, and `dispatch` calls that took at least one event.
    counters: DispatchCounters,
}

/// Event kinds in the order `EventRing.dispatch` takes its routes (`EventRing.KINDS`).
const KINDS: [&str; EventKind::COUNT] = EventKind::NAMES;

// ---------------------------------------------------------------------------------------------
// enum <-> str at the edge

fn now_or(recv_ns: Option<i64>) -> i64 {
    recv_ns.unwrap_or_else(monotonic_ns)
}

fn opt_level(level: Option<(i64, i64)>) -> String {
    match level {
        Some((px, sz)) => format!("({px}, {sz})"),
        None => "None".to_string(),
    }
}

/// Python-style repr of a string: single quotes unless the text needs escaping.
fn str_repr(s: &str) -> String {
    if s.chars().all(|c| c != '\'' && c != '\\' && !c.is_control()) {
        format!("'{s}'")
    } else {
        format!("{s:?}")
    }
}

fn opt_str(value: &Option<String>) -> String {
    match value {
        Some(s) => str_repr(s),
        None => "None".to_string(),
    }
}

/// Sequence number and timestamps every event carries. Events built in Python have seq 0 and
/// decoded_ns 0 until the ring hands them out.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Header {
    seq: u64,
    recv_ns: i64,
    decoded_ns: i64,
}

impl Header {
    fn unpushed(recv_ns: Option<i64>) -> Self {
        Header { seq: 0, recv_ns: now_or(recv_ns), decoded_ns: 0 }
    }

    fn repr_tail(&self) -> String {
        format!("recv_ns={}, decoded_ns={}", self.recv_ns, self.decoded_ns)
    }
}

// ---------------------------------------------------------------------------------------------
// event classes

/// The `#[pymethods]` of an event class: `kind` and the header getters every event shares (plus `venue`
/// where the payload has one), followed by the class's own methods.
macro_rules! event_methods {
    ($ty:ident, $kind:literal, { $($methods:tt)* }) => {
        event_methods_no_venue!($ty, $kind, {
            #[getter]
            fn venue(&self) -> &'static str {
                self.e.venue.name()
            }
            $($methods)*
        });
    };
}

macro_rules! event_methods_no_venue {
    ($ty:ident, $kind:literal, { $($methods:tt)* }) => {
        #[pymethods]
        impl $ty {
            #[classattr]
            fn kind() -> &'static str {
                $kind
            }
            #[getter]
            fn seq(&self) -> u64 {
                self.h.seq
            }
            #[getter]
            fn recv_ns(&self) -> i64 {
                self.h.recv_ns
            }
            #[getter]
            fn decoded_ns(&self) -> i64 {
                self.h.decoded_ns
            }
            $($methods)*
        }
    };
}

/// A book changed: top of book at push time (`book_seq` is the venue's book sequence).
#[pyclass(name = "BookUpdate", module = "xtb_core._core", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyBookUpdate {
    h: Header,
    e: BookUpdate,
}

event_methods!(PyBookUpdate, "book", {
    #[new]
    #[pyo3(signature = (venue, book_id, best_bid=None, best_ask=None, book_seq=0, recv_ns=None))]
    fn new(
        venue: &str,
        book_id: u32,
        best_bid: Option<(i64, i64)>,
        best_ask: Option<(i64, i64)>,
        book_seq: u64,
        recv_ns: Option<i64>,
    ) -> PyResult<Self> {
        Ok(PyBookUpdate {
            h: Header::unpushed(recv_ns),
            e: BookUpdate { venue: venue_arg(venue)?, book_id, best_bid, best_ask, seq: book_seq },
        })
    }
    #[getter]
    fn book_id(&self) -> u32 {
        self.e.book_id
    }
    #[getter]
    fn best_bid(&self) -> Option<(i64, i64)> {
        self.e.best_bid
    }
    #[getter]
    fn best_ask(&self) -> Option<(i64, i64)> {
        self.e.best_ask
    }
    #[getter]
    fn book_seq(&self) -> u64 {
        self.e.seq
    }
    fn __repr__(&self) -> String {
        format!(
            "BookUpdate(seq={}, venue='{}', book_id={}, best_bid={}, best_ask={}, book_seq={}, {})",
            self.h.seq,
            self.e.venue.name(),
            self.e.book_id,
            opt_level(self.e.best_bid),
            opt_level(self.e.best_ask),
            self.e.seq,
            self.h.repr_tail()
        )
    }
});

/// A book must be re-snapshotted (sequence gap, crossed book, silence).
#[pyclass(name = "Resync", module = "xtb_core._core", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyResync {
    h: Header,
    e: Resync,
}

event_methods!(PyResync, "resync", {
    #[new]
    #[pyo3(signature = (venue, book_id, reason, recv_ns=None))]
    fn new(venue: &str, book_id: u32, reason: String, recv_ns: Option<i64>) -> PyResult<Self> {
        Ok(PyResync { h: Header::unpushed(recv_ns), e: Resync { venue: venue_arg(venue)?, book_id, reason } })
    }
    #[getter]
    fn book_id(&self) -> u32 {
        self.e.book_id
    }
    #[getter]
    fn reason(&self) -> &str {
        &self.e.reason
    }
    fn __repr__(&self) -> String {
        format!(
            "Resync(seq={}, venue='{}', book_id={}, reason={}, {})",
            self.h.seq,
            self.e.venue.name(),
            self.e.book_id,
            str_repr(&self.e.reason),
            self.h.repr_tail()
        )
    }
});

/// A public trade print (`taker_side` is the aggressor's side).
#[pyclass(name = "Trade", module = "xtb_core._core", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyTrade {
    h: Header,
    e: Trade,
}

event_methods!(PyTrade, "trade", {
    #[new]
    #[pyo3(signature = (venue, book_id, px, sz, taker_side, trade_id, recv_ns=None))]
    fn new(
        venue: &str,
        book_id: u32,
        px: i64,
        sz: i64,
        taker_side: &str,
        trade_id: u64,
        recv_ns: Option<i64>,
    ) -> PyResult<Self> {
        Ok(PyTrade {
            h: Header::unpushed(recv_ns),
            e: Trade {
                venue: venue_arg(venue)?,
                book_id,
                px,
                sz,
                taker_side: side_arg("taker_side", taker_side)?,
                trade_id,
            },
        })
    }
    #[getter]
    fn book_id(&self) -> u32 {
        self.e.book_id
    }
    #[getter]
    fn px(&self) -> i64 {
        self.e.px
    }
    #[getter]
    fn sz(&self) -> i64 {
        self.e.sz
    }
    #[getter]
    fn taker_side(&self) -> &'static str {
        self.e.taker_side.name()
    }
    #[getter]
    fn trade_id(&self) -> u64 {
        self.e.trade_id
    }
    fn __repr__(&self) -> String {
        format!(
            "Trade(seq={}, venue='{}', book_id={}, px={}, sz={}, taker_side='{}', trade_id={}, {})",
            self.h.seq,
            self.e.venue.name(),
            self.e.book_id,
            self.e.px,
            self.e.sz,
            self.e.taker_side.name(),
            self.e.trade_id,
            self.h.repr_tail()
        )
    }
});

/// One of our orders changed state.
#[pyclass(name = "OrderUpdate", module = "xtb_core._core", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyOrderUpdate {
    h: Header,
    e: OrderUpdate,
}

event_methods!(PyOrderUpdate, "order", {
    #[new]
    #[pyo3(signature = (venue, client_id, state, order_id=None, filled=0, avg_px=0, reason=None, recv_ns=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        venue: &str,
        client_id: u64,
        state: &str,
        order_id: Option<String>,
        filled: i64,
        avg_px: i64,
        reason: Option<String>,
        recv_ns: Option<i64>,
    ) -> PyResult<Self> {
        Ok(PyOrderUpdate {
            h: Header::unpushed(recv_ns),
            e: OrderUpdate {
                venue: venue_arg(venue)?,
                client_id,
                order_id,
                state: state_arg(state)?,
                filled,
                avg_px,
                reason,
            },
        })
    }
    #[getter]
    fn client_id(&self) -> u64 {
        self.e.client_id
    }
    #[getter]
    fn order_id(&self) -> Option<&str> {
        self.e.order_id.as_deref()
    }
    #[getter]
    fn state(&self) -> &'static str {
        self.e.state.name()
    }
    #[getter]
    fn is_terminal(&self) -> bool {
        self.e.state.is_terminal()
    }
    #[getter]
    fn filled(&self) -> i64 {
        self.e.filled
    }
    #[getter]
    fn avg_px(&self) -> i64 {
        self.e.avg_px
    }
    #[getter]
    fn reason(&self) -> Option<&str> {
        self.e.reason.as_deref()
    }
    fn __repr__(&self) -> String {
        format!(
            "OrderUpdate(seq={}, venue='{}', client_id={}, order_id={}, state='{}', filled={}, avg_px={}, reason={}, {})",
            self.h.seq,
            self.e.venue.name(),
            self.e.client_id,
            opt_str(&self.e.order_id),
            self.e.state.name(),
            self.e.filled,
            self.e.avg_px,
            opt_str(&self.e.reason),
            self.h.repr_tail()
        )
    }
});

/// One execution of one of our orders (`fee` in notional units, negative for a rebate).
#[pyclass(name = "Fill", module = "xtb_core._core", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyFill {
    h: Header,
    e: Fill,
}

event_methods!(PyFill, "fill", {
    #[new]
    #[pyo3(signature = (venue, client_id, trade_id, side, px, sz, maker, fee=0, recv_ns=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        venue: &str,
        client_id: u64,
        trade_id: u64,
        side: &str,
        px: i64,
        sz: i64,
        maker: bool,
        fee: i64,
        recv_ns: Option<i64>,
    ) -> PyResult<Self> {
        Ok(PyFill {
            h: Header::unpushed(recv_ns),
            e: Fill {
                venue: venue_arg(venue)?,
                client_id,
                trade_id,
                side: side_arg("side", side)?,
                px,
                sz,
                maker,
                fee,
            },
        })
    }
    #[getter]
    fn client_id(&self) -> u64 {
        self.e.client_id
    }
    #[getter]
    fn trade_id(&self) -> u64 {
        self.e.trade_id
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.e.side.name()
    }
    #[getter]
    fn px(&self) -> i64 {
        self.e.px
    }
    #[getter]
    fn sz(&self) -> i64 {
        self.e.sz
    }
    #[getter]
    fn maker(&self) -> bool {
        self.e.maker
    }
    #[getter]
    fn fee(&self) -> i64 {
        self.e.fee
    }
    fn __repr__(&self) -> String {
        format!(
            "Fill(seq={}, venue='{}', client_id={}, trade_id={}, side='{}', px={}, sz={}, maker={}, fee={}, {})",
            self.h.seq,
            self.e.venue.name(),
            self.e.client_id,
            self.e.trade_id,
            self.e.side.name(),
            self.e.px,
            self.e.sz,
            if self.e.maker { "True" } else { "False" },
            self.e.fee,
            self.h.repr_tail()
        )
    }
});

/// Our position in one market (signed size: long > 0).
#[pyclass(name = "Position", module = "xtb_core._core", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyPosition {
    h: Header,
    e: Position,
}

event_methods!(PyPosition, "position", {
    #[new]
    #[pyo3(signature = (venue, book_id, size, entry_px, recv_ns=None))]
    fn new(venue: &str, book_id: u32, size: i64, entry_px: i64, recv_ns: Option<i64>) -> PyResult<Self> {
        Ok(PyPosition {
            h: Header::unpushed(recv_ns),
            e: Position { venue: venue_arg(venue)?, book_id, size, entry_px },
        })
    }
    #[getter]
    fn book_id(&self) -> u32 {
        self.e.book_id
    }
    #[getter]
    fn size(&self) -> i64 {
        self.e.size
    }
    #[getter]
    fn entry_px(&self) -> i64 {
        self.e.entry_px
    }
    fn __repr__(&self) -> String {
        format!(
            "Position(seq={}, venue='{}', book_id={}, size={}, entry_px={}, {})",
            self.h.seq,
            self.e.venue.name(),
            self.e.book_id,
            self.e.size,
            self.e.entry_px,
            self.h.repr_tail()
        )
    }
});

/// A rate-limit key made a caller wait `wait_ns`.
#[pyclass(name = "RateLimited", module = "xtb_core._core", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyRateLimited {
    h: Header,
    e: RateLimited,
}

event_methods_no_venue!(PyRateLimited, "rate_limited", {
    #[new]
    #[pyo3(signature = (key, wait_ns, recv_ns=None))]
    fn new(key: String, wait_ns: u64, recv_ns: Option<i64>) -> Self {
        PyRateLimited { h: Header::unpushed(recv_ns), e: RateLimited { key, wait_ns } }
    }
    #[getter]
    fn key(&self) -> &str {
        &self.e.key
    }
    #[getter]
    fn wait_ns(&self) -> u64 {
        self.e.wait_ns
    }
    fn __repr__(&self) -> String {
        format!(
            "RateLimited(seq={}, key={}, wait_ns={}, {})",
            self.h.seq,
            str_repr(&self.e.key),
            self.e.wait_ns,
            self.h.repr_tail()
        )
    }
});

/// An operator's action on the running bot: `action` (e.g. "params", "flatten") and `detail` (JSON text).
#[pyclass(name = "OperatorAction", module = "xtb_core._core", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyOperatorAction {
    h: Header,
    e: OperatorAction,
}

event_methods_no_venue!(PyOperatorAction, "operator", {
    #[new]
    #[pyo3(signature = (action, detail, recv_ns=None))]
    fn new(action: String, detail: String, recv_ns: Option<i64>) -> Self {
        PyOperatorAction { h: Header::unpushed(recv_ns), e: OperatorAction { action, detail } }
    }
    #[getter]
    fn action(&self) -> &str {
        &self.e.action
    }
    #[getter]
    fn detail(&self) -> &str {
        &self.e.detail
    }
    fn __repr__(&self) -> String {
        format!(
            "OperatorAction(seq={}, action={}, detail={}, {})",
            self.h.seq,
            str_repr(&self.e.action),
            str_repr(&self.e.detail),
            self.h.repr_tail()
        )
    }
});

/// A venue's mark price and funding for one market: prices in the book's units, `funding_rate` in 10^-8 per
/// funding interval (positive: longs pay), venue times in Unix milliseconds.
#[pyclass(name = "MarkPrice", module = "xtb_core._core", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyMarkPrice {
    h: Header,
    e: MarkPrice,
}

event_methods!(PyMarkPrice, "mark", {
    #[new]
    #[pyo3(signature = (venue, book_id, mark_px, index_px=None, funding_rate=None, next_funding_ms=0, venue_ms=0,
                        recv_ns=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        venue: &str,
        book_id: u32,
        mark_px: i64,
        index_px: Option<i64>,
        funding_rate: Option<i64>,
        next_funding_ms: u64,
        venue_ms: u64,
        recv_ns: Option<i64>,
    ) -> PyResult<Self> {
        Ok(PyMarkPrice {
            h: Header::unpushed(recv_ns),
            e: MarkPrice { venue: venue_arg(venue)?, book_id, mark_px, index_px, funding_rate, next_funding_ms, venue_ms },
        })
    }
    /// Decimals of `funding_rate` (8: 10^-8 per interval; 1 ppm = 100).
    #[classattr]
    #[allow(non_snake_case)]
    fn FUNDING_RATE_DECIMALS() -> u32 {
        FUNDING_RATE_DECIMALS
    }
    #[getter]
    fn book_id(&self) -> u32 {
        self.e.book_id
    }
    #[getter]
    fn mark_px(&self) -> i64 {
        self.e.mark_px
    }
    #[getter]
    fn index_px(&self) -> Option<i64> {
        self.e.index_px
    }
    #[getter]
    fn funding_rate(&self) -> Option<i64> {
        self.e.funding_rate
    }
    #[getter]
    fn next_funding_ms(&self) -> u64 {
        self.e.next_funding_ms
    }
    #[getter]
    fn venue_ms(&self) -> u64 {
        self.e.venue_ms
    }
    fn __repr__(&self) -> String {
        let opt = |v: Option<i64>| v.map_or("None".to_owned(), |x| x.to_string());
        format!(
            "MarkPrice(seq={}, venue='{}', book_id={}, mark_px={}, index_px={}, funding_rate={}, next_funding_ms={}, \
             venue_ms={}, {})",
            self.h.seq,
            self.e.venue.name(),
            self.e.book_id,
            self.e.mark_px,
            opt(self.e.index_px),
            opt(self.e.funding_rate),
            self.e.next_funding_ms,
            self.e.venue_ms,
            self.h.repr_tail()
        )
    }
});

// ---------------------------------------------------------------------------------------------
// Event <-> Python object

/// Move one event into its Python class (one allocation; no per-field objects).
pub fn event_into_py(py: Python<'_>, ev: Event) -> PyResult<Bound<'_, PyAny>> {
    let h = Header { seq: ev.seq, recv_ns: ev.recv_ns, decoded_ns: ev.decoded_ns };
    Ok(match ev.body {
        EventBody::Book(e) => Bound::new(py, PyBookUpdate { h, e })?.into_any(),
        EventBody::Trade(e) => Bound::new(py, PyTrade { h, e })?.into_any(),
        EventBody::Order(e) => Bound::new(py, PyOrderUpdate { h, e })?.into_any(),
        EventBody::Fill(e) => Bound::new(py, PyFill { h, e })?.into_any(),
        EventBody::Resync(e) => Bound::new(py, PyResync { h, e })?.into_any(),
        EventBody::Position(e) => Bound::new(py, PyPosition { h, e })?.into_any(),
        EventBody::RateLimited(e) => Bound::new(py, PyRateLimited { h, e })?.into_any(),
        EventBody::Operator(e) => Bound::new(py, PyOperatorAction { h, e })?.into_any(),
        EventBody::Mark(e) => Bound::new(py, PyMarkPrice { h, e })?.into_any(),
    })
}

/// The event a Python event object carries (header included), or None for any other object.
fn event_from_py(obj: &Bound<'_, PyAny>) -> Option<Event> {
    fn ev(h: Header, body: EventBody) -> Event {
        Event { seq: h.seq, recv_ns: h.recv_ns, decoded_ns: h.decoded_ns, body }
    }
    if let Ok(o) = obj.cast::<PyBookUpdate>() {
        let o = o.get();
        return Some(ev(o.h, EventBody::Book(o.e.clone())));
    }
    if let Ok(o) = obj.cast::<PyTrade>() {
        let o = o.get();
        return Some(ev(o.h, EventBody::Trade(o.e.clone())));
    }
    if let Ok(o) = obj.cast::<PyOrderUpdate>() {
        let o = o.get();
        return Some(ev(o.h, EventBody::Order(o.e.clone())));
    }
    if let Ok(o) = obj.cast::<PyFill>() {
        let o = o.get();
        return Some(ev(o.h, EventBody::Fill(o.e.clone())));
    }
    if let Ok(o) = obj.cast::<PyResync>() {
        let o = o.get();
        return Some(ev(o.h, EventBody::Resync(o.e.clone())));
    }
    if let Ok(o) = obj.cast::<PyPosition>() {
        let o = o.get();
        return Some(ev(o.h, EventBody::Position(o.e.clone())));
    }
    if let Ok(o) = obj.cast::<PyRateLimited>() {
        let o = o.get();
        return Some(ev(o.h, EventBody::RateLimited(o.e.clone())));
    }
    if let Ok(o) = obj.cast::<PyOperatorAction>() {
        let o = o.get();
        return Some(ev(o.h, EventBody::Operator(o.e.clone())));
    }
    if let Ok(o) = obj.cast::<PyMarkPrice>() {
        let o = o.get();
        return Some(ev(o.h, EventBody::Mark(o.e.clone())));
    }
    None
}

/// Where the event being delivered is published while its handlers run (None once the drain returns).
#[derive(Clone, Copy)]
enum Current<'a, 'py> {
    Nowhere,
    /// `holder.current_event` (`EventRing.dispatch`)
    Holder(&'a Bound<'py, PyAny>),
    /// `DispatchLoop.current_event`
    Slot(&'a CurrentSlot),
}

/// A strong reference to the event being delivered, or null. Read and written only with the GIL held
/// (this module does not declare itself GIL-free), so plain relaxed loads and stores are enough: no lock
/// and no locked instruction per event.
#[derive(Default)]
struct CurrentSlot(AtomicPtr<pyo3::ffi::PyObject>);

impl CurrentSlot {
    fn set(&self, ev: Option<&Bound<'_, PyAny>>) {
        let new = ev.map_or(std::ptr::null_mut(), |e| e.clone().into_ptr());
        let old = self.0.load(Ordering::Relaxed);
        self.0.store(new, Ordering::Relaxed);
        if !old.is_null() {
            // SAFETY: `old` was a strong reference owned by the slot; the GIL is held (the caller holds
            // a Bound or runs inside a #[pymethods] call). Released after the store: a destructor may
            // run Python code that reads the slot.
            unsafe { pyo3::ffi::Py_DECREF(old) };
        }
    }

    fn get(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let p = self.0.load(Ordering::Relaxed);
        // SAFETY: non-null means a live strong reference owned by the slot; the GIL is held (`py`).
        (!p.is_null()).then(|| unsafe { Bound::from_borrowed_ptr(py, p) }.unbind())
    }
}

impl Drop for CurrentSlot {
    fn drop(&mut self) {
        let p = *self.0.get_mut();
        if !p.is_null() {
            // SAFETY: the slot's own strong reference, released with the GIL held.
            Python::attach(|_| unsafe { pyo3::ffi::Py_DECREF(p) });
        }
    }
}

impl Current<'_, '_> {
    fn publish(self, py: Python<'_>, ev: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        match self {
            Current::Nowhere => Ok(()),
            Current::Holder(h) => match ev {
                Some(ev) => h.setattr(intern!(py, "current_event"), ev),
                None => h.setattr(intern!(py, "current_event"), py.None()),
            },
            Current::Slot(slot) => {
                slot.set(ev);
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// EventRing

impl PyEventRing {
    /// How many events one drain takes: `max_events`, or what is waiting when the drain starts (so a
    /// drain ends even while producers keep pushing).
    fn batch_limit(&self, max_events: Option<usize>) -> usize {
        max_events.unwrap_or_else(|| self.inner.len())
    }

    /// The body of `dispatch`: delivers events from `rest` until it is empty or a callback's error must
    /// propagate (then the events still in `rest` are the caller's to put back).
    #[allow(clippy::too_many_arguments)]
    fn dispatch_events(
        &self,
        py: Python<'_>,
        routes: &Bound<'_, PyTuple>,
        rest: &mut std::vec::IntoIter<Event>,
        slow_ns: u64,
        on_error: Option<&Bound<'_, PyAny>>,
        on_slow: Option<&Bound<'_, PyAny>>,
        current: Current<'_, '_>,
    ) -> PyResult<usize> {
        let mut delivered = 0usize;
        // One clock read per callback: each callback's end is the next one's start (what runs between
        // two callbacks, including events nobody listens to, is charged to the next callback).
        let clock = callback_clock();
        let mut t0 = clock.raw();
        for ev in rest.by_ref() {
            let kind = EventKind::of(&ev.body);
            self.counters.taken(kind);
            let k = kind.index();
            delivered += 1;
            let entry = routes.get_item(k)?;
            // `check_routes` verified the shape before any event was taken.
            let handlers = entry.cast::<PyTuple>()?;
            if handlers.is_empty() {
                continue; // nobody listens: no Python object is built
            }
            let obj = event_into_py(py, ev)?;
            current.publish(py, Some(&obj))?;
            for pair in handlers.iter() {
                let pair = pair.cast::<PyTuple>()?;
                if let Err(err) = pair.get_item(1)?.call1((&obj,)) {
                    // An Exception is reported and the drain goes on; KeyboardInterrupt / SystemExit
                    // (or no error hook) propagate.
                    match on_error {
                        Some(cb) if err.is_instance_of::<PyException>(py) => {
                            cb.call1((pair.get_item(0)?, KINDS[k], &obj, err.into_value(py)))?;
                        }
                        _ => return Err(err),
                    }
                }
                let t1 = clock.raw();
                let dt = clock.delta_as_nanos(t0, t1);
                if dt > slow_ns {
                    if let Some(cb) = on_slow {
                        cb.call1((pair.get_item(0)?, dt))?;
                    }
                }
                t0 = t1;
            }
        }
        Ok(delivered)
    }

    /// The shape `dispatch` needs, checked before any event is taken (so a bad table loses nothing).
    /// A few type-flag tests per call: cheaper than caching the answer.
    fn check_routes(routes: &Bound<'_, PyTuple>) -> PyResult<()> {
        if routes.len() != KINDS.len() {
            return Err(PyValueError::new_err(format!(
                "routes: expected {} handler tuples in EventRing.KINDS order ({}), got {}",
                KINDS.len(),
                KINDS.join(", "),
                routes.len()
            )));
        }
        for (k, entry) in routes.iter().enumerate() {
            let handlers = entry.cast::<PyTuple>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "routes[{k}] ({}): expected a tuple of (where, callback) pairs",
                    KINDS[k]
                ))
            })?;
            for pair in handlers.iter() {
                if !pair.cast::<PyTuple>().is_ok_and(|p| p.len() == 2) {
                    return Err(PyTypeError::new_err(format!(
                        "routes[{k}] ({}): each handler must be a (where, callback) pair",
                        KINDS[k]
                    )));
                }
            }
        }
        Ok(())
    }

    fn pop_batch(&self, limit: usize, conflate: bool) -> Vec<Event> {
        take_batch(&self.inner, limit, conflate)
    }
}

#[pymethods]
impl PyEventRing {
    #[new]
    #[pyo3(signature = (capacity = 1 << 16))]
    fn new(capacity: usize) -> PyResult<Self> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(PyValueError::new_err(format!(
                "capacity: must be in 1..={MAX_CAPACITY} (rounded up to a power of two), got {capacity}"
            )));
        }
        Ok(PyEventRing {
            inner: Arc::new(EventRing::new(capacity)),
            counters: DispatchCounters::default(),
        })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    #[getter]
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Non-book events that found the ring full and went through the overflow spill.
    #[getter]
    fn overflowed(&self) -> u64 {
        self.inner.overflowed()
    }

    /// Book updates dropped at push because the ring was full.
    #[getter]
    fn conflated(&self) -> u64 {
        self.inner.conflated()
    }

    /// Book updates skipped by `conflate=True` drains (superseded within the same drain).
    #[getter]
    fn coalesced(&self) -> u64 {
        self.inner.coalesced()
    }

    /// Events waiting in the overflow spill now.
    #[getter]
    fn spilled(&self) -> usize {
        self.inner.spilled_len()
    }

    /// Push a copy of an event object built in Python; the ring assigns `seq` and `decoded_ns`, the
    /// event's `recv_ns` is kept. Returns "queued", "spilled" or "conflated".
    fn push(&self, event: &Bound<'_, PyAny>) -> PyResult<&'static str> {
        let ev = event_from_py(event).ok_or_else(|| {
            PyValueError::new_err(format!(
                "event: expected an xtb._core event (BookUpdate, Resync, Trade, OrderUpdate, Fill, Position, \
                 RateLimited, OperatorAction, MarkPrice), got {}",
                event.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
            ))
        })?;
        Ok(self.inner.push(ev.recv_ns, ev.body).name())
    }

    /// Take up to `max_events` events (default: all waiting now) as a list, in delivery order.
    #[pyo3(signature = (max_events = None, conflate = false))]
    fn drain<'py>(
        &self,
        py: Python<'py>,
        max_events: Option<usize>,
        conflate: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let batch = self.pop_batch(self.batch_limit(max_events), conflate);
        let mut out: Vec<Bound<'py, PyAny>> = Vec::with_capacity(batch.len());
        let mut rest = batch.into_iter();
        while let Some(ev) = rest.next() {
            match event_into_py(py, ev) {
                Ok(obj) => out.push(obj),
                Err(err) => {
                    // Out of memory: put everything of this batch back, nothing is lost.
                    let mut back: Vec<Event> = out.iter().filter_map(event_from_py).collect();
                    back.extend(rest);
                    self.inner.requeue_front(back);
                    return Err(err);
                }
            }
        }
        PyList::new(py, out)
    }

    /// Event kinds in the order `dispatch` takes its routes.
    #[classattr]
    #[allow(non_snake_case)]
    fn KINDS() -> Vec<&'static str> {
        KINDS.to_vec()
    }

    /// `dispatch` calls so far that took at least one event.
    #[getter]
    fn dispatch_drains(&self) -> u64 {
        self.counters.drains()
    }

    /// Events taken by `dispatch` so far, per kind.
    #[getter]
    fn dispatched<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, name) in KINDS.iter().enumerate() {
            let kind = EventKind::of_index(k);
            d.set_item(*name, self.counters.of(kind))?;
        }
        Ok(d)
    }

    /// The dispatcher's loop in the core: take up to `max_events` events (default: all waiting now),
    /// conflated as `drain(conflate=True)`, and call each kind's handlers. `routes` is a tuple in `KINDS`
    /// order, each item a tuple of `(where, callback)` pairs (empty: the kind is counted and skipped without
    /// building a Python object). Before an event's handlers run, `holder.current_event` is set to it
    /// (None when the call returns). Each callback is timed (monotonic clock; a callback's end is the
    /// next one's start): over `slow_ns`, `on_slow(where, dt_ns)` is called. A callback raising an
    /// `Exception` is reported as `on_error(where, kind, event, exc)` and the drain goes on; any other
    /// exception (or any exception without `on_error`) propagates, and the events not yet started are put
    /// back at the front of the ring (same `seq`), so nothing is lost. Returns the events taken.
    #[pyo3(signature = (routes, max_events = None, slow_ns = 1_000_000, on_error = None, on_slow = None, holder = None))]
    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &self,
        py: Python<'_>,
        routes: &Bound<'_, PyTuple>,
        max_events: Option<usize>,
        slow_ns: u64,
        on_error: Option<&Bound<'_, PyAny>>,
        on_slow: Option<&Bound<'_, PyAny>>,
        holder: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        Self::check_routes(routes)?;
        let batch = self.pop_batch(self.batch_limit(max_events), true);
        if batch.is_empty() {
            return Ok(0);
        }
        self.counters.drain_started();
        let mut rest = batch.into_iter();
        let current = match holder {
            Some(h) => Current::Holder(h),
            None => Current::Nowhere,
        };
        let r = self.dispatch_events(py, routes, &mut rest, slow_ns, on_error, on_slow, current);
        let cleared = current.publish(py, None);
        if r.is_ok() {
            cleared?;
        }
        r.inspect_err(|_| self.inner.requeue_front(rest))
    }

    /// Call `callback(event)` for up to `max_events` events (default: all waiting now); returns how
    /// many were delivered. If the callback raises, the exception propagates; the events before it
    /// were delivered and the failing event (plus, with `conflate=True`, the rest of the batch) is
    /// put back and delivered first by the next drain, with the same `seq`.
    #[pyo3(signature = (callback, max_events = None, conflate = false))]
    fn drain_into(
        &self,
        py: Python<'_>,
        callback: &Bound<'_, PyAny>,
        max_events: Option<usize>,
        conflate: bool,
    ) -> PyResult<usize> {
        let limit = self.batch_limit(max_events);
        let mut delivered = 0usize;
        if conflate {
            let batch = self.pop_batch(limit, true);
            let mut rest = batch.into_iter();
            while let Some(ev) = rest.next() {
                let obj = match event_into_py(py, ev) {
                    Ok(obj) => obj,
                    Err(err) => {
                        self.inner.requeue_front(rest);
                        return Err(err);
                    }
                };
                if let Err(err) = callback.call1((&obj,)) {
                    let failed = event_from_py(&obj);
                    self.inner.requeue_front(failed.into_iter().chain(rest));
                    return Err(err);
                }
                delivered += 1;
            }
            return Ok(delivered);
        }
        // Streaming: one event in flight at a time, so a callback that pushes or drains sees the
        // ring exactly as it is.
        while delivered < limit {
            let Some(ev) = self.inner.pop() else { break };
            let obj = event_into_py(py, ev)?;
            if let Err(err) = callback.call1((&obj,)) {
                if let Some(failed) = event_from_py(&obj) {
                    self.inner.requeue_front([failed]);
                }
                return Err(err);
            }
            delivered += 1;
        }
        Ok(delivered)
    }

    fn __repr__(&self) -> String {
        format!(
            "EventRing(capacity={}, len={}, overflowed={}, conflated={}, coalesced={})",
            self.inner.capacity(),
            self.inner.len(),
            self.inner.overflowed(),
            self.inner.conflated(),
            self.inner.coalesced()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// DispatchLoop: `EventRing.dispatch` bound once to its routes and hooks

struct LoopConfig {
    routes: Py<PyTuple>,
    max_events: Option<usize>,
    slow_ns: u64,
    on_error: Option<Py<PyAny>>,
    on_slow: Option<Py<PyAny>>,
}

/// The dispatcher's loop with its routes and hooks bound once, so a drain is one call without
/// arguments (what a socket listener calls after each read burst) and the table is checked when it is
/// set rather than on every drain. Same contract as `EventRing.dispatch`; the event being delivered is
/// `current_event` on this object.
#[pyclass(name = "DispatchLoop", module = "xtb_core._core", frozen)]
pub struct PyDispatchLoop {
    ring: Py<PyEventRing>,
    config: Mutex<LoopConfig>,
    current: CurrentSlot,
}

#[pymethods]
impl PyDispatchLoop {
    #[new]
    #[pyo3(signature = (ring, routes, max_events = None, slow_ns = 1_000_000, on_error = None, on_slow = None))]
    fn new(
        ring: Py<PyEventRing>,
        routes: &Bound<'_, PyTuple>,
        max_events: Option<usize>,
        slow_ns: u64,
        on_error: Option<Py<PyAny>>,
        on_slow: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        PyEventRing::check_routes(routes)?;
        let routes = routes.clone().unbind();
        callback_clock(); // calibrated here rather than in the first drain
        Ok(PyDispatchLoop {
            ring,
            config: Mutex::new(LoopConfig { routes, max_events, slow_ns, on_error, on_slow }),
            current: CurrentSlot::default(),
        })
    }

    /// Deliver the events waiting now (at most `max_events`); returns how many were taken.
    fn drain(&self, py: Python<'_>) -> PyResult<usize> {
        let ring = self.ring.get();
        if ring.inner.is_empty() {
            return Ok(0);
        }
        // Copied out of the lock: a callback may change the routes (a listener added mid-drain applies
        // from the next drain).
        let (routes, max_events, slow_ns, on_error, on_slow) = {
            let c = lock(&self.config);
            (
                c.routes.clone_ref(py),
                c.max_events,
                c.slow_ns,
                c.on_error.as_ref().map(|f| f.clone_ref(py)),
                c.on_slow.as_ref().map(|f| f.clone_ref(py)),
            )
        };
        let batch = ring.pop_batch(ring.batch_limit(max_events), true);
        if batch.is_empty() {
            return Ok(0);
        }
        ring.counters.drain_started();
        let mut rest = batch.into_iter();
        let current = Current::Slot(&self.current);
        let r = ring.dispatch_events(
            py,
            routes.bind(py),
            &mut rest,
            slow_ns,
            on_error.as_ref().map(|f| f.bind(py)),
            on_slow.as_ref().map(|f| f.bind(py)),
            current,
        );
        let cleared = current.publish(py, None);
        if r.is_ok() {
            cleared?;
        }
        r.inspect_err(|_| ring.inner.requeue_front(rest))
    }

    /// Replace the routes (same shape as `EventRing.dispatch`'s; checked here, once).
    fn set_routes(&self, routes: &Bound<'_, PyTuple>) -> PyResult<()> {
        PyEventRing::check_routes(routes)?;
        let old = std::mem::replace(&mut lock(&self.config).routes, routes.clone().unbind());
        drop(old);
        Ok(())
    }

    #[getter]
    fn routes(&self, py: Python<'_>) -> Py<PyTuple> {
        lock(&self.config).routes.clone_ref(py)
    }

    #[getter]
    fn ring(&self, py: Python<'_>) -> Py<PyEventRing> {
        self.ring.clone_ref(py)
    }

    /// Most events one drain takes (None: what is waiting when it starts).
    #[getter]
    fn max_events(&self) -> Option<usize> {
        lock(&self.config).max_events
    }

    #[setter]
    fn set_max_events(&self, value: Option<usize>) {
        lock(&self.config).max_events = value;
    }

    /// A callback running longer than this (ns) is reported to `on_slow`.
    #[getter]
    fn slow_ns(&self) -> u64 {
        lock(&self.config).slow_ns
    }

    #[setter]
    fn set_slow_ns(&self, value: u64) {
        lock(&self.config).slow_ns = value;
    }

    /// The event whose handlers are running (None between drains).
    #[getter]
    fn current_event(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.current.get(py)
    }

    // The hooks are usually bound methods of the object that holds this loop: a cycle the collector
    // must see. Locks are never held while Python runs, so try_lock always succeeds here. (The current
    // event is not visited: an event object holds no Python references, so it closes no cycle.)
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.ring)?;
        if let Ok(c) = self.config.try_lock() {
            visit.call(&c.routes)?;
            visit.call(&c.on_error)?;
            visit.call(&c.on_slow)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        let empty = Python::attach(|py| PyTuple::empty(py).unbind());
        let (routes, on_error, on_slow) = {
            let mut c = lock(&self.config);
            let routes = std::mem::replace(&mut c.routes, empty);
            (routes, c.on_error.take(), c.on_slow.take())
        };
        drop((routes, on_error, on_slow));
    }

    fn __repr__(&self) -> String {
        let c = lock(&self.config);
        format!("DispatchLoop(max_events={:?}, slow_ns={})", c.max_events, c.slow_ns)
    }
}

/// Benchmark hook: push `n` synthetic events from Rust (as a decoder would) without Python objects.
/// `kind` is "trade" (the default) or "book" (`books` distinct book ids, cycled). Returns how many
/// were queued (the rest spilled or were conflated, as the counters show).
#[pyfunction]
#[pyo3(signature = (ring, n, kind = "trade", books = 1))]
fn _ring_push_synthetic(ring: &PyEventRing, n: u64, kind: &str, books: u32) -> PyResult<u64> {
    if kind != "trade" && kind != "book" {
        return Err(PyValueError::new_err(format!("kind: expected 'trade' or 'book', got {kind:?}")));
    }
    let books = books.max(1);
    let mut queued = 0u64;
    let now = monotonic_ns();
    for i in 0..n {
        let book_id = (i % books as u64) as u32;
        let body = if kind == "trade" {
            EventBody::Trade(Trade { venue: Venue::Lighter, book_id, px: 100 + i as i64, sz: 1, taker_side: Side::Bid, trade_id: i })
        } else {
            EventBody::Book(BookUpdate {
                venue: Venue::Lighter,
                book_id,
                best_bid: Some((100, 1)),
                best_ask: Some((101, 1)),
                seq: i,
            })
        };
        if ring.inner.push(now, body) == crate::ring::PushOutcome::Queued {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Benchmark hook: single-thread push+pop cost in ns per pair, measured inside Rust (GIL released).
/// `read_clock=False` measures `push_stamped` (no clock read per push).
#[pyfunction]
#[pyo3(signature = (n = 1_000_000, read_clock = true))]
fn _bench_ring_rust(py: Python<'_>, n: u64, read_clock: bool) -> f64 {
    py.detach(|| bench_push_pop_ns(n, read_clock))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEventRing>()?;
    m.add_class::<PyDispatchLoop>()?;
    m.add_class::<PyBookUpdate>()?;
    m.add_class::<PyResync>()?;
    m.add_class::<PyTrade>()?;
    m.add_class::<PyOrderUpdate>()?;
    m.add_class::<PyFill>()?;
    m.add_class::<PyPosition>()?;
    m.add_class::<PyRateLimited>()?;
    m.add_class::<PyOperatorAction>()?;
    m.add_class::<PyMarkPrice>()?;
    m.add_function(wrap_pyfunction!(_ring_push_synthetic, m)?)?;
    m.add_function(wrap_pyfunction!(_bench_ring_rust, m)?)?;
    Ok(())
}
