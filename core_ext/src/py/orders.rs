//! Python bindings of the order side of the core: OrderTracker (+ Order snapshots) and BackpackSigner.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};

use crate::events::monotonic_ns;
use crate::py::ring::PyEventRing;
use crate::sign::backpack::{
    self, BackpackSigner, ParamValue, Params, SignError, DEFAULT_WINDOW_MS,
};
use crate::tracker::{
    self, Event, FillReport, NewOrder, Order, OrderTracker, Outcome, Step, TimeInForce,
    TrackerError, VenueReport, DEFAULT_TERMINAL_RETENTION,
};

create_exception!(
    xtb_core._core,
    OrderTrackerError,
    PyValueError,
    "A tracker call that would break an invariant (over-fill, reused client id, conflicting venue order id)."
);

// ---------------------------------------------------------------- shared argument parsing

use super::args::{side_arg, state_arg, venue_arg};

fn tracker_err(e: TrackerError) -> PyErr {
    OrderTrackerError::new_err(e.to_string())
}

fn outcome<'py>(
    py: Python<'py>,
    r: Result<Outcome, TrackerError>,
) -> PyResult<&'py Bound<'py, PyString>> {
    Ok(match r.map_err(tracker_err)? {
        Outcome::Applied => intern!(py, "applied"),
        Outcome::Duplicate => intern!(py, "duplicate"),
        Outcome::Stale => intern!(py, "stale"),
        Outcome::Illegal => intern!(py, "illegal"),
        Outcome::UnknownOrder => intern!(py, "unknown_order"),
    })
}

fn ts(ts_ns: Option<i64>) -> i64 {
    ts_ns.unwrap_or_else(monotonic_ns)
}

// ---------------------------------------------------------------- Order snapshot

/// A snapshot of one tracked order (read-only; ask the tracker again for fresh state).
#[pyclass(name = "Order", module = "xtb_core._core", frozen)]
pub struct PyOrder {
    inner: Order,
}

#[pymethods]
impl PyOrder {
    #[getter]
    fn client_id(&self) -> u64 {
        self.inner.client_id
    }
    #[getter]
    fn venue(&self) -> &'static str {
        self.inner.venue.name()
    }
    #[getter]
    fn symbol(&self) -> &str {
        &self.inner.symbol
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.inner.side.name()
    }
    #[getter]
    fn px(&self) -> i64 {
        self.inner.px
    }
    #[getter]
    fn sz(&self) -> i64 {
        self.inner.sz
    }
    #[getter]
    fn post_only(&self) -> bool {
        self.inner.post_only
    }
    #[getter]
    fn reduce_only(&self) -> bool {
        self.inner.reduce_only
    }
    #[getter]
    fn time_in_force(&self) -> &'static str {
        self.inner.tif.name()
    }
    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state.name()
    }
    #[getter]
    fn is_terminal(&self) -> bool {
        self.inner.state.is_terminal()
    }
    #[getter]
    fn filled(&self) -> i64 {
        self.inner.filled
    }
    #[getter]
    fn remaining(&self) -> i64 {
        self.inner.remaining()
    }
    #[getter]
    fn avg_px(&self) -> i64 {
        self.inner.avg_px()
    }
    #[getter]
    fn order_id(&self) -> Option<&str> {
        self.inner.order_id.as_deref()
    }
    #[getter]
    fn reason(&self) -> Option<&str> {
        self.inner.reason.as_deref()
    }
    #[getter]
    fn trade_ids(&self) -> Vec<u64> {
        self.inner.trade_ids.clone()
    }
    #[getter]
    fn created_ns(&self) -> i64 {
        self.inner.created_ns
    }
    #[getter]
    fn acked_ns(&self) -> Option<i64> {
        (self.inner.acked_ns != 0).then_some(self.inner.acked_ns)
    }
    #[getter]
    fn cancel_requested_ns(&self) -> Option<i64> {
        (self.inner.cancel_requested_ns != 0).then_some(self.inner.cancel_requested_ns)
    }
    #[getter]
    fn updated_ns(&self) -> i64 {
        self.inner.updated_ns
    }

    fn __repr__(&self) -> String {
        let o = &self.inner;
        format!(
            "Order(venue={:?}, client_id={}, symbol={:?}, side={:?}, px={}, sz={}, state={:?}, filled={}, \
             avg_px={}, order_id={})",
            o.venue.name(),
            o.client_id,
            o.symbol,
            o.side.name(),
            o.px,
            o.sz,
            o.state.name(),
            o.filled,
            o.avg_px(),
            o.order_id.as_deref().map_or("None".to_owned(), |id| format!("{id:?}"))
        )
    }
}

fn snapshot(o: Option<&Order>) -> Option<PyOrder> {
    o.map(|o| PyOrder { inner: o.clone() })
}

// ---------------------------------------------------------------- OrderTracker

/// One order-state machine for every venue (docs/core_api.md, "Order tracker").
#[pyclass(name = "OrderTracker", module = "xtb_core._core")]
pub struct PyOrderTracker {
    /// Shared with the feed decoders that route private-stream updates through it.
    pub shared: Arc<Mutex<OrderTracker>>,
}

impl PyOrderTracker {
    fn t(&self) -> MutexGuard<'_, OrderTracker> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl PyOrderTracker {
    #[new]
    #[pyo3(signature = (ring = None, terminal_retention = DEFAULT_TERMINAL_RETENTION))]
    fn new(ring: Option<&Bound<'_, PyEventRing>>, terminal_retention: usize) -> Self {
        let ring = ring.map(|r| r.get().inner.clone());
        PyOrderTracker {
            shared: Arc::new(Mutex::new(OrderTracker::new(ring, terminal_retention))),
        }
    }

    /// The flags may also be passed positionally: the gateway does, once per order, and keyword
    /// arguments cost ~0.2 us more to bind.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (client_id, venue, symbol, side, px, sz, post_only = false, reduce_only = false,
                        time_in_force = "GTC", ts_ns = None))]
    fn submitted(
        &mut self,
        client_id: u64,
        venue: &str,
        symbol: String,
        side: &str,
        px: i64,
        sz: i64,
        post_only: bool,
        reduce_only: bool,
        time_in_force: &str,
        ts_ns: Option<i64>,
    ) -> PyResult<()> {
        let tif = TimeInForce::from_name(time_in_force).ok_or_else(|| {
            PyValueError::new_err(format!(
                "time_in_force: expected GTC, IOC or FOK, got {time_in_force:?}"
            ))
        })?;
        let new = NewOrder {
            venue: venue_arg(venue)?,
            client_id,
            symbol,
            side: side_arg("side", side)?,
            px,
            sz,
            post_only,
            reduce_only,
            tif,
        };
        self.t().submitted(new, ts(ts_ns)).map_err(tracker_err)
    }

    #[pyo3(signature = (client_id, venue, order_id = None, *, ts_ns = None))]
    fn on_ack<'py>(
        &mut self,
        py: Python<'py>,
        client_id: u64,
        venue: &str,
        order_id: Option<&str>,
        ts_ns: Option<i64>,
    ) -> PyResult<&'py Bound<'py, PyString>> {
        outcome(
            py,
            self.t()
                .on_ack(venue_arg(venue)?, client_id, order_id, ts(ts_ns)),
        )
    }

    #[pyo3(signature = (client_id, venue, reason = None, *, ts_ns = None))]
    fn on_reject<'py>(
        &mut self,
        py: Python<'py>,
        client_id: u64,
        venue: &str,
        reason: Option<&str>,
        ts_ns: Option<i64>,
    ) -> PyResult<&'py Bound<'py, PyString>> {
        outcome(
            py,
            self.t()
                .on_reject(venue_arg(venue)?, client_id, reason, ts(ts_ns)),
        )
    }

    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (client_id, venue, trade_id, px, sz, *, maker = false, fee = 0, cum_filled = None,
                        order_id = None, ts_ns = None))]
    fn on_fill<'py>(
        &mut self,
        py: Python<'py>,
        client_id: u64,
        venue: &str,
        trade_id: u64,
        px: i64,
        sz: i64,
        maker: bool,
        fee: i64,
        cum_filled: Option<i64>,
        order_id: Option<&str>,
        ts_ns: Option<i64>,
    ) -> PyResult<&'py Bound<'py, PyString>> {
        let venue = venue_arg(venue)?;
        if let Some(id) = order_id {
            // Fills can arrive before the ack: the first to carry the venue's order id records it.
            self.t()
                .note_order_id(venue, client_id, id)
                .map_err(tracker_err)?;
        }
        let fill = FillReport {
            trade_id,
            px,
            sz,
            maker,
            fee,
            cum_filled,
        };
        outcome(py, self.t().on_fill(venue, client_id, fill, ts(ts_ns)))
    }

    #[pyo3(signature = (client_id, venue, reason = None, *, ts_ns = None))]
    fn on_cancel<'py>(
        &mut self,
        py: Python<'py>,
        client_id: u64,
        venue: &str,
        reason: Option<&str>,
        ts_ns: Option<i64>,
    ) -> PyResult<&'py Bound<'py, PyString>> {
        outcome(
            py,
            self.t()
                .on_cancel(venue_arg(venue)?, client_id, reason, ts(ts_ns)),
        )
    }

    #[pyo3(signature = (client_id, venue, reason = None, *, ts_ns = None))]
    fn on_expire<'py>(
        &mut self,
        py: Python<'py>,
        client_id: u64,
        venue: &str,
        reason: Option<&str>,
        ts_ns: Option<i64>,
    ) -> PyResult<&'py Bound<'py, PyString>> {
        outcome(
            py,
            self.t()
                .on_expire(venue_arg(venue)?, client_id, reason, ts(ts_ns)),
        )
    }

    #[pyo3(signature = (client_id, venue, reason = None, *, ts_ns = None))]
    fn on_unresolved<'py>(
        &mut self,
        py: Python<'py>,
        client_id: u64,
        venue: &str,
        reason: Option<&str>,
        ts_ns: Option<i64>,
    ) -> PyResult<&'py Bound<'py, PyString>> {
        outcome(
            py,
            self.t()
                .on_unresolved(venue_arg(venue)?, client_id, reason, ts(ts_ns)),
        )
    }

    #[pyo3(signature = (client_id, venue, *, ts_ns = None))]
    fn on_cancel_requested<'py>(
        &mut self,
        py: Python<'py>,
        client_id: u64,
        venue: &str,
        ts_ns: Option<i64>,
    ) -> PyResult<&'py Bound<'py, PyString>> {
        outcome(
            py,
            self.t()
                .on_cancel_requested(venue_arg(venue)?, client_id, ts(ts_ns)),
        )
    }

    #[pyo3(signature = (client_id, venue, reason = None, *, ts_ns = None))]
    fn on_cancel_rejected<'py>(
        &mut self,
        py: Python<'py>,
        client_id: u64,
        venue: &str,
        reason: Option<&str>,
        ts_ns: Option<i64>,
    ) -> PyResult<&'py Bound<'py, PyString>> {
        outcome(
            py,
            self.t()
                .on_cancel_rejected(venue_arg(venue)?, client_id, reason, ts(ts_ns)),
        )
    }

    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (client_id, venue, state, filled, *, avg_px = None, order_id = None, reason = None,
                        ts_ns = None))]
    fn on_venue_state<'py>(
        &mut self,
        py: Python<'py>,
        client_id: u64,
        venue: &str,
        state: &str,
        filled: i64,
        avg_px: Option<i64>,
        order_id: Option<&str>,
        reason: Option<&str>,
        ts_ns: Option<i64>,
    ) -> PyResult<&'py Bound<'py, PyString>> {
        let report = VenueReport {
            state: state_arg(state)?,
            cum_filled: filled,
            avg_px,
            order_id,
            reason,
        };
        let r = self
            .t()
            .on_venue_state(venue_arg(venue)?, client_id, report, ts(ts_ns));
        outcome(py, r)
    }

    /// Whether the tracker holds this order (no snapshot is built: the per-event check of listeners).
    fn knows(&self, client_id: u64, venue: &str) -> PyResult<bool> {
        Ok(self.t().get(venue_arg(venue)?, client_id).is_some())
    }

    fn get(&self, client_id: u64, venue: &str) -> PyResult<Option<PyOrder>> {
        Ok(snapshot(self.t().get(venue_arg(venue)?, client_id)))
    }

    fn get_by_order_id(&self, venue: &str, order_id: &str) -> PyResult<Option<PyOrder>> {
        Ok(snapshot(
            self.t().get_by_order_id(venue_arg(venue)?, order_id),
        ))
    }

    #[pyo3(signature = (venue = None, symbol = None))]
    fn open_orders(&self, venue: Option<&str>, symbol: Option<&str>) -> PyResult<Vec<PyOrder>> {
        let venue = venue.map(venue_arg).transpose()?;
        Ok(self
            .t()
            .open_orders(venue, symbol)
            .into_iter()
            .map(|o| PyOrder { inner: o.clone() })
            .collect())
    }

    fn unresolved(&self) -> Vec<PyOrder> {
        self.t()
            .unresolved()
            .into_iter()
            .map(|o| PyOrder { inner: o.clone() })
            .collect()
    }

    /// Drop all but the `keep` most recently ended orders; returns how many were dropped.
    fn prune_terminal(&mut self, keep: usize) -> usize {
        self.t().prune_terminal(keep)
    }

    #[getter]
    fn terminal_retention(&self) -> usize {
        self.t().retention()
    }

    fn __len__(&self) -> usize {
        self.t().len()
    }

    /// The transition table cell for (state, event): the next state's name, or "duplicate", "stale",
    /// "illegal". Events: ack, reject, fill_partial, fill_full, cancel_requested, cancel_rejected,
    /// cancelled, expired, unresolved.
    #[staticmethod]
    fn transition(state: &str, event: &str) -> PyResult<&'static str> {
        let ev = Event::from_name(event).ok_or_else(|| {
            PyValueError::new_err(format!(
                "event: unknown event {event:?} (known: {})",
                Event::ALL.map(|e| e.name()).join(", ")
            ))
        })?;
        Ok(match tracker::transition(state_arg(state)?, ev) {
            Step::To(s) => s.name(),
            Step::Duplicate => "duplicate",
            Step::Stale => "stale",
            Step::Illegal => "illegal",
        })
    }

    #[classattr]
    const STATES: [&'static str; 9] = [
        "pending_new",
        "open",
        "partially_filled",
        "pending_cancel",
        "filled",
        "cancelled",
        "rejected",
        "expired",
        "unresolved",
    ];

    #[classattr]
    const EVENTS: [&'static str; 9] = [
        "ack",
        "reject",
        "fill_partial",
        "fill_full",
        "cancel_requested",
        "cancel_rejected",
        "cancelled",
        "expired",
        "unresolved",
    ];

    fn __repr__(&self) -> String {
        let t = self.t();
        format!(
            "OrderTracker(orders={}, terminal_retention={})",
            t.len(),
            t.retention()
        )
    }
}

// ---------------------------------------------------------------- BackpackSigner

fn sign_err(e: SignError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Borrow a dict's items so their text can be referenced without copying.
fn dict_items<'py>(
    params: Option<&Bound<'py, PyAny>>,
    what: &str,
) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let Some(obj) = params else {
        return Ok(Vec::new());
    };
    if obj.is_none() {
        return Ok(Vec::new());
    }
    let d = obj.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!("{what}: expected a dict of request parameters"))
    })?;
    Ok(d.iter().collect())
}

/// Turn borrowed items into signing params. None values are left out of both the signature and the body.
fn to_params<'a, 'py>(
    items: &'a [(Bound<'py, PyAny>, Bound<'py, PyAny>)],
    what: &str,
) -> PyResult<Params<'a>> {
    let mut out: Params<'a> = Vec::with_capacity(items.len());
    for (k, v) in items {
        let key = k
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err(format!("{what}: parameter names must be str")))?
            .to_str()?;
        let value = if v.is_none() {
            continue;
        } else if let Ok(b) = v.cast::<PyBool>() {
            ParamValue::Bool(b.is_true())
        } else if v.is_instance_of::<PyInt>() {
            ParamValue::Int(v.extract::<i128>().map_err(|_| {
                PyValueError::new_err(format!(
                    "{what}: parameter {key:?} is an integer out of range"
                ))
            })?)
        } else if let Ok(s) = v.cast::<PyString>() {
            ParamValue::Str(s.to_str()?)
        } else {
            let tname = v
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            return Err(PyTypeError::new_err(format!(
                "{what}: parameter {key:?} must be str, int or bool (decimal values as strings), got {tname}"
            )));
        };
        out.push((key, value));
    }
    Ok(out)
}

/// `nonce_pool` as given from Python: an int (not a bool) in 0..=MAX_CAPACITY.
fn nonce_pool_arg(v: &Bound<'_, PyAny>) -> PyResult<usize> {
    let max = crate::sign::nonce_pool::MAX_CAPACITY;
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        let tname = v.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        return Err(PyTypeError::new_err(format!(
            "nonce_pool: expected an int in 0..={max}, got {tname}"
        )));
    }
    match v.extract::<i64>() {
        Ok(n) if (0..=max as i64).contains(&n) => Ok(n as usize),
        Ok(n) => Err(PyValueError::new_err(format!(
            "nonce_pool: must be 0..={max} (got {n})"
        ))),
        Err(_) => Err(PyValueError::new_err(format!(
            "nonce_pool: must be 0..={max} (got an integer out of range)"
        ))),
    }
}

/// ED25519 signer for Backpack's REST and private WebSocket (docs/core_api.md, "Backpack signer").
#[pyclass(name = "BackpackSigner", module = "xtb_core._core", frozen)]
pub struct PyBackpackSigner {
    pub(crate) inner: BackpackSigner,
}

impl PyBackpackSigner {
    pub(crate) fn headers<'py>(
        &self,
        py: Python<'py>,
        signature_b64: &str,
        timestamp_ms: u64,
        window_ms: u64,
        json_body: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let h = PyDict::new(py);
        h.set_item(intern!(py, "X-API-Key"), self.inner.api_key_b64())?;
        h.set_item(intern!(py, "X-Signature"), signature_b64)?;
        h.set_item(intern!(py, "X-Timestamp"), timestamp_ms.to_string())?;
        h.set_item(intern!(py, "X-Window"), window_ms.to_string())?;
        if let Some(b) = self.inner.broker_id() {
            h.set_item(intern!(py, "X-Broker-Id"), b.to_string())?;
        }
        if json_body {
            h.set_item(
                intern!(py, "Content-Type"),
                intern!(py, "application/json; charset=utf-8"),
            )?;
        }
        Ok(h)
    }

    fn signed_single<'py>(
        &self,
        py: Python<'py>,
        instruction: &str,
        params: Option<&Bound<'py, PyAny>>,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<(backpack::Signed, u64)> {
        let items = dict_items(params, "params")?;
        let mut p = to_params(&items, "params")?;
        let ts = timestamp_ms.unwrap_or_else(now_ms);
        let signed = self
            .inner
            .sign_request(instruction, &mut p, ts, window_ms)
            .map_err(sign_err)?;
        let _ = py;
        Ok((signed, ts))
    }

    fn signed_batch<'py>(
        &self,
        orders: &Bound<'py, PyAny>,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<(backpack::Signed, u64)> {
        let seq: Vec<Bound<'py, PyAny>> = if let Ok(l) = orders.cast::<PyList>() {
            l.iter().collect()
        } else if let Ok(t) = orders.cast::<PyTuple>() {
            t.iter().collect()
        } else {
            return Err(PyTypeError::new_err(
                "orders: expected a list of order dicts",
            ));
        };
        let items: Vec<_> = seq
            .iter()
            .enumerate()
            .map(|(i, o)| dict_items(Some(o), &format!("orders[{i}]")))
            .collect::<PyResult<_>>()?;
        let mut params: Vec<Params<'_>> = items
            .iter()
            .enumerate()
            .map(|(i, it)| to_params(it, &format!("orders[{i}]")))
            .collect::<PyResult<_>>()?;
        let ts = timestamp_ms.unwrap_or_else(now_ms);
        let signed = self
            .inner
            .sign_batch(&mut params, ts, window_ms)
            .map_err(sign_err)?;
        Ok((signed, ts))
    }

    fn request<'py>(
        &self,
        py: Python<'py>,
        instruction: &str,
        params: &Bound<'py, PyAny>,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyBytes>)> {
        let (s, ts) = self.signed_single(py, instruction, Some(params), timestamp_ms, window_ms)?;
        let h = self.headers(py, &s.signature_b64, ts, window_ms, true)?;
        Ok((h, PyBytes::new(py, &s.body)))
    }
}

#[pymethods]
impl PyBackpackSigner {
    /// `secret_b64`: the API secret (base64 of the 32-byte ED25519 seed). `broker_id` adds `X-Broker-Id`.
    /// `nonce_pool`: 0 signs deterministically (RFC 8032); N (1..=65536) keeps N presigned nonces filled by
    /// a background thread, so each signature skips the base-point multiply (docs/core_api.md).
    #[new]
    #[pyo3(signature = (secret_b64, broker_id = None, *, nonce_pool = None))]
    fn new(
        secret_b64: &str,
        broker_id: Option<u16>,
        nonce_pool: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let capacity = match nonce_pool {
            None => 0,
            Some(v) => nonce_pool_arg(v)?,
        };
        Ok(PyBackpackSigner {
            inner: BackpackSigner::with_nonce_pool(secret_b64, broker_id, capacity)
                .map_err(sign_err)?,
        })
    }

    /// Nonce pool counters: capacity, available (presigned nonces ready), presigned (signatures that
    /// used one), fallbacks (signatures made deterministically: pool empty, off, or in a forked child).
    #[getter]
    fn nonce_pool_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let st = self.inner.nonce_pool_stats();
        let d = PyDict::new(py);
        d.set_item(intern!(py, "capacity"), st.capacity)?;
        d.set_item(intern!(py, "available"), st.available)?;
        d.set_item(intern!(py, "presigned"), st.presigned)?;
        d.set_item(intern!(py, "fallbacks"), st.fallbacks)?;
        Ok(d)
    }

    /// `X-API-Key`: base64 of the public key.
    #[getter]
    fn public_key_b64(&self) -> &str {
        self.inner.api_key_b64()
    }

    #[getter]
    fn broker_id(&self) -> Option<u16> {
        self.inner.broker_id()
    }

    /// The exact string that `sign` signs (it holds no secret).
    #[pyo3(signature = (instruction, params = None, timestamp_ms = None, window_ms = DEFAULT_WINDOW_MS))]
    fn signing_string<'py>(
        &self,
        py: Python<'py>,
        instruction: &str,
        params: Option<&Bound<'py, PyAny>>,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<String> {
        Ok(self
            .signed_single(py, instruction, params, timestamp_ms, window_ms)?
            .0
            .signing_string)
    }

    /// The exact string that `sign_batch` signs.
    #[pyo3(signature = (orders, timestamp_ms = None, window_ms = DEFAULT_WINDOW_MS))]
    fn batch_signing_string(
        &self,
        orders: &Bound<'_, PyAny>,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<String> {
        Ok(self
            .signed_batch(orders, timestamp_ms, window_ms)?
            .0
            .signing_string)
    }

    /// Auth headers for one request (`X-API-Key`, `X-Signature`, `X-Timestamp`, `X-Window`[, `X-Broker-Id`]).
    #[pyo3(signature = (instruction, params = None, timestamp_ms = None, window_ms = DEFAULT_WINDOW_MS))]
    fn sign<'py>(
        &self,
        py: Python<'py>,
        instruction: &str,
        params: Option<&Bound<'py, PyAny>>,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (s, ts) = self.signed_single(py, instruction, params, timestamp_ms, window_ms)?;
        self.headers(py, &s.signature_b64, ts, window_ms, false)
    }

    /// Auth headers for a batch of orders (one signature over all of them).
    #[pyo3(signature = (orders, timestamp_ms = None, window_ms = DEFAULT_WINDOW_MS))]
    fn sign_batch<'py>(
        &self,
        py: Python<'py>,
        orders: &Bound<'py, PyAny>,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (s, ts) = self.signed_batch(orders, timestamp_ms, window_ms)?;
        self.headers(py, &s.signature_b64, ts, window_ms, false)
    }

    /// POST /api/v1/order (`orderExecute`): (headers, JSON body bytes).
    #[pyo3(signature = (params, timestamp_ms = None, window_ms = DEFAULT_WINDOW_MS))]
    fn order<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyBytes>)> {
        self.request(py, "orderExecute", params, timestamp_ms, window_ms)
    }

    /// POST /api/v1/order for one limit order from integer units, in one call (the gateway's hot path):
    /// formats price and quantity at the market's decimals and signs the same parameters `order` would
    /// get from the equivalent dict (`postOnly` / `reduceOnly` only when true). `side`: "Bid" or "Ask";
    /// `time_in_force`: "GTC", "IOC" or "FOK". Returns (headers, JSON body bytes).
    #[pyo3(signature = (client_id, symbol, side, price, size, price_decimals, size_decimals,
                        time_in_force = "GTC", post_only = false, reduce_only = false, timestamp_ms = None,
                        window_ms = DEFAULT_WINDOW_MS))]
    #[allow(clippy::too_many_arguments)]
    fn limit_order<'py>(
        &self,
        py: Python<'py>,
        client_id: u32,
        symbol: &str,
        side: &str,
        price: i64,
        size: i64,
        price_decimals: u32,
        size_decimals: u32,
        time_in_force: &str,
        post_only: bool,
        reduce_only: bool,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyBytes>)> {
        if side != "Bid" && side != "Ask" {
            return Err(PyValueError::new_err(format!("side: expected \"Bid\" or \"Ask\", got {side:?}")));
        }
        if !matches!(time_in_force, "GTC" | "IOC" | "FOK") {
            return Err(PyValueError::new_err(format!(
                "time_in_force: expected \"GTC\", \"IOC\" or \"FOK\", got {time_in_force:?}"
            )));
        }
        if price <= 0 || size <= 0 {
            return Err(PyValueError::new_err(format!(
                "price and size must be positive (got price={price}, size={size})"
            )));
        }
        let px = crate::fixed::format_fixed(price, price_decimals)
            .map_err(|e| PyValueError::new_err(format!("price_decimals: {e}")))?;
        let qty = crate::fixed::format_fixed(size, size_decimals)
            .map_err(|e| PyValueError::new_err(format!("size_decimals: {e}")))?;
        let mut p: Params<'_> = Vec::with_capacity(9);
        p.push(("clientId", ParamValue::Int(client_id.into())));
        p.push(("orderType", ParamValue::Str("Limit")));
        if post_only {
            p.push(("postOnly", ParamValue::Bool(true)));
        }
        p.push(("price", ParamValue::Str(&px)));
        p.push(("quantity", ParamValue::Str(&qty)));
        if reduce_only {
            p.push(("reduceOnly", ParamValue::Bool(true)));
        }
        p.push(("side", ParamValue::Str(side)));
        p.push(("symbol", ParamValue::Str(symbol)));
        p.push(("timeInForce", ParamValue::Str(time_in_force)));
        let ts = timestamp_ms.unwrap_or_else(now_ms);
        let s = self
            .inner
            .sign_request("orderExecute", &mut p, ts, window_ms)
            .map_err(sign_err)?;
        let h = self.headers(py, &s.signature_b64, ts, window_ms, true)?;
        Ok((h, PyBytes::new(py, &s.body)))
    }

    /// POST /api/v1/orders (batch `orderExecute`): (headers, JSON array body bytes).
    #[pyo3(signature = (orders, timestamp_ms = None, window_ms = DEFAULT_WINDOW_MS))]
    fn orders<'py>(
        &self,
        py: Python<'py>,
        orders: &Bound<'py, PyAny>,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyBytes>)> {
        let (s, ts) = self.signed_batch(orders, timestamp_ms, window_ms)?;
        let h = self.headers(py, &s.signature_b64, ts, window_ms, true)?;
        Ok((h, PyBytes::new(py, &s.body)))
    }

    /// DELETE /api/v1/order (`orderCancel`): (headers, JSON body bytes).
    #[pyo3(signature = (params, timestamp_ms = None, window_ms = DEFAULT_WINDOW_MS))]
    fn cancel<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyBytes>)> {
        self.request(py, "orderCancel", params, timestamp_ms, window_ms)
    }

    /// DELETE /api/v1/orders (`orderCancelAll`): (headers, JSON body bytes).
    #[pyo3(signature = (params, timestamp_ms = None, window_ms = DEFAULT_WINDOW_MS))]
    fn cancel_all<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyAny>,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyBytes>)> {
        self.request(py, "orderCancelAll", params, timestamp_ms, window_ms)
    }

    /// A signed GET: `path` picks the instruction (backpack.md 2.6). Returns (headers, path?query) with the
    /// params sorted and percent-encoded in the query string.
    #[pyo3(signature = (path, params = None, timestamp_ms = None, window_ms = DEFAULT_WINDOW_MS))]
    fn query<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        params: Option<&Bound<'py, PyAny>>,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<(Bound<'py, PyDict>, String)> {
        let instruction = backpack::query_instruction(path).ok_or_else(|| {
            let known: Vec<_> = backpack::QUERY_INSTRUCTIONS
                .iter()
                .map(|(p, _)| *p)
                .collect();
            PyValueError::new_err(format!(
                "path: no signed GET known for {path:?} (known: {})",
                known.join(", ")
            ))
        })?;
        let items = dict_items(params, "params")?;
        let mut p = to_params(&items, "params")?;
        let ts = timestamp_ms.unwrap_or_else(now_ms);
        let s = self
            .inner
            .sign_request(instruction, &mut p, ts, window_ms)
            .map_err(sign_err)?;
        let h = self.headers(py, &s.signature_b64, ts, window_ms, false)?;
        let q = backpack::query_string(&p);
        let url = if q.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{q}")
        };
        Ok((h, url))
    }

    /// The `signature` array of a private-stream SUBSCRIBE: [api_key, signature, timestamp, window].
    #[pyo3(signature = (timestamp_ms = None, window_ms = DEFAULT_WINDOW_MS))]
    fn subscribe_signature(
        &self,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<Vec<String>> {
        let ts = timestamp_ms.unwrap_or_else(now_ms);
        let sig = self
            .inner
            .subscribe_signature(ts, window_ms)
            .map_err(sign_err)?;
        Ok(vec![
            self.inner.api_key_b64().to_owned(),
            sig,
            ts.to_string(),
            window_ms.to_string(),
        ])
    }

    /// A complete SUBSCRIBE frame (JSON bytes) for private streams, e.g. ["account.orderUpdate"].
    #[pyo3(signature = (streams, timestamp_ms = None, window_ms = DEFAULT_WINDOW_MS))]
    fn subscribe_frame(
        &self,
        streams: Vec<String>,
        timestamp_ms: Option<u64>,
        window_ms: u64,
    ) -> PyResult<Vec<u8>> {
        if streams.is_empty() {
            return Err(PyValueError::new_err(
                "streams: at least one stream name is needed",
            ));
        }
        let sig = self.subscribe_signature(timestamp_ms, window_ms)?;
        let frame = serde_json::json!({"method": "SUBSCRIBE", "params": streams, "signature": sig});
        serde_json::to_vec(&frame).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    fn __repr__(&self) -> String {
        format!(
            "BackpackSigner(public_key_b64={:?})",
            self.inner.api_key_b64()
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyOrder>()?;
    m.add_class::<PyOrderTracker>()?;
    m.add_class::<PyBackpackSigner>()?;
    m.add("OrderTrackerError", m.py().get_type::<OrderTrackerError>())?;
    Ok(())
}
