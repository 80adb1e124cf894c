//! One core call from a strategy's decision to a signed Backpack limit order (docs/core_api.md,
//! "Order entry"): the connector's order checks, the client id, the rate limit, the signature and the
//! tracker entry, in that order, so the Python on the order path is the decision and the hand-off to the
//! send task. The gateway keeps what is policy (risk checks, denials, the send task, its outcome).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::events::{monotonic_ns, Side};
use crate::fixed::format_fixed;
use crate::py::limiter::{to_py_err, PyRateLimiter};
use crate::py::orders::{now_ms, OrderTrackerError, PyBackpackSigner, PyOrderTracker};
use crate::sign::backpack::{ParamValue, Params};
use crate::tracker::{NewOrder, OrderTracker, TimeInForce};
use crate::venues::Venue;

/// Backpack's `clientId` is a uint32; 0 means "allocate one" in `limit`.
const MAX_CLIENT_ID: u64 = u32::MAX as u64;

#[derive(Clone, Copy, Debug)]
struct Market {
    tick: i64,
    step: i64,
    price_decimals: u32,
    size_decimals: u32,
}

/// The block of client ids being handed out: [next, end).
#[derive(Default)]
struct Ids {
    next: u64,
    end: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a plain read or assignment: a poisoned lock holds consistent data.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A signed Backpack order (`POST /api/v1/order`): the JSON body and what its headers need. The headers
/// dict is built on demand (`headers()`), by the send task, off the decision's stack.
#[pyclass(name = "SignedOrder", module = "xtb_core._core", frozen)]
pub struct PySignedOrder {
    #[pyo3(get)]
    client_id: u64,
    #[pyo3(get)]
    body: Py<PyBytes>,
    #[pyo3(get)]
    timestamp_ms: u64,
    #[pyo3(get)]
    window_ms: u64,
    signature_b64: String,
    signer: Py<PyBackpackSigner>,
}

#[pymethods]
impl PySignedOrder {
    #[getter]
    fn path(&self) -> &'static str {
        "/api/v1/order"
    }

    /// X-API-Key, X-Signature, X-Timestamp, X-Window (X-Broker-Id if set) and Content-Type.
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.signer
            .get()
            .headers(py, &self.signature_b64, self.timestamp_ms, self.window_ms, true)
    }

    fn __repr__(&self) -> String {
        format!("SignedOrder(client_id={}, timestamp_ms={})", self.client_id, self.timestamp_ms)
    }
}

/// Backpack's single limit order in one call: checks, client id, rate limit, signature, tracker.
#[pyclass(name = "BackpackOrderEntry", module = "xtb_core._core", frozen)]
pub struct PyBackpackOrderEntry {
    signer: Py<PyBackpackSigner>,
    tracker: std::sync::Arc<Mutex<OrderTracker>>,
    limiter: Option<Py<PyRateLimiter>>,
    key: String,
    weight: u64,
    window_ms: u64,
    markets: Mutex<HashMap<String, Market>>,
    ids: Mutex<Ids>,
    /// Called (no arguments) for the next block of client ids when the current one is used up: returns
    /// (start, end). The ClientIdAllocator's `take_block`: blocks are reserved (persisted) there.
    id_source: Mutex<Option<Py<PyAny>>>,
}

impl PyBackpackOrderEntry {
    fn market(&self, symbol: &str) -> PyResult<Market> {
        lock(&self.markets)
            .get(symbol)
            .copied()
            .ok_or_else(|| PyValueError::new_err(format!("backpack: unknown symbol '{symbol}'")))
    }

    fn allocate(&self, py: Python<'_>) -> PyResult<u64> {
        {
            let mut ids = lock(&self.ids);
            if ids.next < ids.end {
                let cid = ids.next;
                ids.next += 1;
                return Ok(cid);
            }
        }
        // The source is Python and may wait for a file write (releasing the GIL): no lock held across it.
        let source = lock(&self.id_source).as_ref().map(|s| s.clone_ref(py));
        let source = source.ok_or_else(|| {
            PyValueError::new_err("client ids: no id source set (BackpackOrderEntry.set_id_source)")
        })?;
        let (start, end): (u64, u64) = source.bind(py).call0()?.extract()?;
        if !(1..=end).contains(&start) || end > MAX_CLIENT_ID + 1 || start >= end {
            return Err(PyValueError::new_err(format!(
                "client ids: the id source returned the block ({start}, {end}); need 1 <= start < end <= 2^32"
            )));
        }
        let mut ids = lock(&self.ids);
        ids.next = start + 1;
        ids.end = end;
        Ok(start)
    }
}

#[pymethods]
impl PyBackpackOrderEntry {
    /// `key`/`weight`: the limiter key and weight of one order (the connector's `limit_key("submit", 1)`).
    /// `limiter` None: no rate limit on this path.
    #[new]
    #[pyo3(signature = (signer, tracker, limiter, key, weight = 1, window_ms = 5000))]
    fn new(
        signer: &Bound<'_, PyBackpackSigner>,
        tracker: &Bound<'_, PyOrderTracker>,
        limiter: Option<&Bound<'_, PyRateLimiter>>,
        key: String,
        weight: u64,
        window_ms: u64,
    ) -> PyResult<Self> {
        if !(1..=60_000).contains(&window_ms) {
            return Err(PyValueError::new_err(format!("window_ms: expected 1..=60000, got {window_ms}")));
        }
        if let Some(l) = limiter {
            // An unknown key fails here, not on the first order.
            l.get().lock().would_wait(&key, weight, monotonic_ns()).map_err(to_py_err)?;
        }
        Ok(PyBackpackOrderEntry {
            signer: signer.clone().unbind(),
            tracker: tracker.borrow().shared.clone(),
            limiter: limiter.map(|l| l.clone().unbind()),
            key,
            weight,
            window_ms,
            markets: Mutex::new(HashMap::new()),
            ids: Mutex::new(Ids::default()),
            id_source: Mutex::new(None),
        })
    }

    /// Add or replace one market's scales (prices and sizes in its integer units).
    fn set_market(
        &self,
        symbol: String,
        tick: i64,
        step: i64,
        price_decimals: u32,
        size_decimals: u32,
    ) -> PyResult<()> {
        if tick <= 0 || step <= 0 {
            return Err(PyValueError::new_err(format!(
                "{symbol}: tick and step must be positive (got tick={tick}, step={step})"
            )));
        }
        for (name, d) in [("price_decimals", price_decimals), ("size_decimals", size_decimals)] {
            format_fixed(0, d).map_err(|e| PyValueError::new_err(format!("{symbol}: {name}: {e}")))?;
        }
        lock(&self.markets).insert(symbol, Market { tick, step, price_decimals, size_decimals });
        Ok(())
    }

    /// Where client ids come from (see `id_source`); drops what is left of the current block (those
    /// ids are skipped, never reused).
    fn set_id_source(&self, source: Py<PyAny>) {
        *lock(&self.id_source) = Some(source);
        *lock(&self.ids) = Ids::default();
    }

    /// The next client id of the current block (the gateway takes one before its risk check).
    fn next_client_id(&self, py: Python<'_>) -> PyResult<u64> {
        self.allocate(py)
    }

    /// One limit order, decision to signed request: the connector's checks (symbol, size on the step,
    /// price on the tick, clientId in range), a client id (`client_id` 0: the next of the block), the rate
    /// limit at `now_ns` (a wait over `max_wait_ns` returns no order: nothing signed or tracked), the
    /// ED25519 signature, the tracker's `submitted`. Returns (client_id, wait_ns, SignedOrder | None);
    /// wait_ns > 0 means the send must wait that long for its slot. Bad input raises ValueError and
    /// consumes nothing but, when allocated, the client id.
    #[pyo3(signature = (symbol, side, price, size, time_in_force, post_only, reduce_only, now_ns,
                        max_wait_ns, client_id = 0))]
    #[allow(clippy::too_many_arguments)]
    fn limit(
        &self,
        py: Python<'_>,
        symbol: &str,
        side: &str,
        price: i64,
        size: i64,
        time_in_force: &str,
        post_only: bool,
        reduce_only: bool,
        now_ns: i64,
        max_wait_ns: u64,
        client_id: u64,
    ) -> PyResult<(u64, u64, Option<Py<PySignedOrder>>)> {
        let (side, side_name) = match side {
            "bid" => (Side::Bid, "Bid"),
            "ask" => (Side::Ask, "Ask"),
            _ => return Err(PyValueError::new_err(format!("side: expected 'bid' or 'ask', got {side:?}"))),
        };
        let tif = TimeInForce::from_name(time_in_force).ok_or_else(|| {
            PyValueError::new_err(format!("time_in_force: expected gtc, ioc or fok, got {time_in_force:?}"))
        })?;
        let m = self.market(symbol)?;
        if size <= 0 || size % m.step != 0 {
            return Err(PyValueError::new_err(format!(
                "size {size} is not a positive multiple of the step {} ({symbol})",
                m.step
            )));
        }
        if price <= 0 || price % m.tick != 0 {
            return Err(PyValueError::new_err(format!(
                "price {price} is not a positive multiple of the tick {} ({symbol})",
                m.tick
            )));
        }
        let px = format_fixed(price, m.price_decimals).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let qty = format_fixed(size, m.size_decimals).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let cid = if client_id == 0 { self.allocate(py)? } else { client_id };
        if !(1..=MAX_CLIENT_ID).contains(&cid) {
            return Err(PyValueError::new_err(format!("clientId {cid} out of the uint32 range")));
        }
        let mut wait_ns = 0;
        if let Some(l) = &self.limiter {
            let l = l.get();
            wait_ns = l.lock().acquire(&self.key, self.weight, now_ns).map_err(to_py_err)?;
            l.report(&self.key, wait_ns, now_ns);
            if wait_ns > max_wait_ns {
                return Ok((cid, wait_ns, None));
            }
        }
        let mut p: Params<'_> = Vec::with_capacity(9);
        p.push(("clientId", ParamValue::Int(cid.into())));
        p.push(("orderType", ParamValue::Str("Limit")));
        if post_only {
            p.push(("postOnly", ParamValue::Bool(true)));
        }
        p.push(("price", ParamValue::Str(&px)));
        p.push(("quantity", ParamValue::Str(&qty)));
        if reduce_only {
            p.push(("reduceOnly", ParamValue::Bool(true)));
        }
        p.push(("side", ParamValue::Str(side_name)));
        p.push(("symbol", ParamValue::Str(symbol)));
        p.push(("timeInForce", ParamValue::Str(tif.name())));
        let ts = now_ms();
        let signed = self
            .signer
            .get()
            .inner
            .sign_request("orderExecute", &mut p, ts, self.window_ms)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let new = NewOrder {
            venue: Venue::Backpack,
            client_id: cid,
            symbol: symbol.to_owned(),
            side,
            px: price,
            sz: size,
            post_only,
            reduce_only,
            tif,
        };
        lock(&self.tracker)
            .submitted(new, monotonic_ns())
            .map_err(|e| OrderTrackerError::new_err(e.to_string()))?;
        let order = PySignedOrder {
            client_id: cid,
            body: PyBytes::new(py, &signed.body).unbind(),
            timestamp_ms: ts,
            window_ms: self.window_ms,
            signature_b64: signed.signature_b64,
            signer: self.signer.clone_ref(py),
        };
        Ok((cid, wait_ns, Some(Py::new(py, order)?)))
    }

    fn __repr__(&self) -> String {
        format!(
            "BackpackOrderEntry(markets={}, key={:?}, limiter={})",
            lock(&self.markets).len(),
            self.key,
            self.limiter.is_some()
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBackpackOrderEntry>()?;
    m.add_class::<PySignedOrder>()?;
    Ok(())
}
