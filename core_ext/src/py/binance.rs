//! Python binding of the Binance USD-M HMAC signer (`sign::binance`, docs/core_api.md "Binance signer").

use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};

use super::args::venue_arg;
use super::md::FeedError as PyFeedError;
use crate::decode::binance::{decode_mark_prices, MARK_DECIMALS};
use crate::sign::binance::{mask, BinanceSigner, SignError, DEFAULT_RECV_WINDOW_MS};

fn sign_err(e: SignError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn local_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A parameter value as text: str as given, int in decimal, bool as "true"/"false" (the venue's form).
pub(crate) fn value_text(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if v.is_none() {
        return Ok(None);
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(Some(if b.is_true() { "true" } else { "false" }.to_owned()));
    }
    if v.is_instance_of::<PyInt>() {
        let n: i128 = v
            .extract()
            .map_err(|_| PyValueError::new_err(format!("params: {key:?} is an integer out of range")))?;
        return Ok(Some(n.to_string()));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(Some(s.to_str()?.to_owned()));
    }
    let tname = v.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    Err(PyTypeError::new_err(format!(
        "params: {key:?} must be str, int or bool (decimal values as strings), got {tname}"
    )))
}

/// A dict, or a list of (name, value) pairs, in order; None values are left out.
pub(crate) fn param_pairs(params: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(obj) = params else { return Ok(Vec::new()) };
    if obj.is_none() {
        return Ok(Vec::new());
    }
    let items: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)> = if let Ok(d) = obj.cast::<PyDict>() {
        d.iter().collect()
    } else if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        obj.try_iter()?
            .map(|it| it.and_then(|pair| pair.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>()))
            .collect::<PyResult<_>>()
            .map_err(|_| PyTypeError::new_err("params: expected a dict or a list of (name, value) pairs"))?
    } else {
        return Err(PyTypeError::new_err("params: expected a dict or a list of (name, value) pairs"));
    };
    let mut out = Vec::with_capacity(items.len());
    for (k, v) in &items {
        let key = k
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("params: parameter names must be str"))?
            .to_str()?
            .to_owned();
        if let Some(text) = value_text(&key, v)? {
            out.push((key, text));
        }
    }
    Ok(out)
}

/// The text fields of a LIMIT order for `/fapi/*/order` (Binance and the venues that copy it), checked and
/// formatted from integer units.
pub(crate) struct LimitParams {
    qty: String,
    px: String,
}

impl LimitParams {
    pub(crate) fn new(side: &str, price: i64, size: i64, price_decimals: u32, size_decimals: u32,
                      time_in_force: &str) -> PyResult<Self> {
        if side != "BUY" && side != "SELL" {
            return Err(PyValueError::new_err(format!("side: expected \"BUY\" or \"SELL\", got {side:?}")));
        }
        if !matches!(time_in_force, "GTC" | "IOC" | "FOK" | "GTX") {
            return Err(PyValueError::new_err(format!(
                "time_in_force: expected GTC, IOC, FOK or GTX, got {time_in_force:?}"
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
        Ok(LimitParams { qty, px })
    }

    /// In the venue's documented order: symbol, side, type, timeInForce, quantity, price, then options.
    pub(crate) fn pairs<'a>(&'a self, symbol: &'a str, side: &'a str, time_in_force: &'a str, reduce_only: bool,
                            client_order_id: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
        let mut p: Vec<(&str, &str)> = Vec::with_capacity(8);
        p.push(("symbol", symbol));
        p.push(("side", side));
        p.push(("type", "LIMIT"));
        p.push(("timeInForce", time_in_force));
        p.push(("quantity", &self.qty));
        p.push(("price", &self.px));
        if reduce_only {
            p.push(("reduceOnly", "true"));
        }
        if let Some(c) = client_order_id {
            p.push(("newClientOrderId", c));
        }
        p
    }
}

/// The `#[pymethods]` block of a signer of the `/fapi` order API (Binance's, Aster's): `limit_order`, whose
/// order arguments, checks and parameter order are the same for every such signer, written here once, then
/// the signer's other methods as given. Each signer names its own trailing stamp arguments (with their
/// Python defaults) and how it signs the order's pairs:
///
/// ```text
/// fapi_signer_pymethods! {
///     impl PyBinanceSigner;
///     /// doc of limit_order
///     limit_order(timestamp_ms: Option<u64> = None) |this, pairs| { this.signed_text("", &pairs, timestamp_ms, None) }
///     // ... the other methods
/// }
/// ```
macro_rules! fapi_signer_pymethods {
    (
        impl $class:ident;
        $(#[doc = $doc:literal])*
        limit_order($($stamp:ident: $stamp_ty:ty = $default:tt),*) |$this:ident, $pairs:ident| $sign:block
        $($methods:tt)*
    ) => {
        #[::pyo3::pymethods]
        impl $class {
            $(#[doc = $doc])*
            #[pyo3(signature = (symbol, side, price, size, price_decimals, size_decimals, time_in_force = "GTC",
                                reduce_only = false, client_order_id = None $(, $stamp = $default)*))]
            #[allow(clippy::too_many_arguments)]
            fn limit_order<'py>(
                &self,
                py: ::pyo3::Python<'py>,
                symbol: &str,
                side: &str,
                price: i64,
                size: i64,
                price_decimals: u32,
                size_decimals: u32,
                time_in_force: &str,
                reduce_only: bool,
                client_order_id: Option<&str>,
                $($stamp: $stamp_ty),*
            ) -> ::pyo3::PyResult<::pyo3::Bound<'py, ::pyo3::types::PyBytes>> {
                let lp = $crate::py::binance::LimitParams::new(side, price, size, price_decimals, size_decimals,
                                                               time_in_force)?;
                let $pairs = lp.pairs(symbol, side, time_in_force, reduce_only, client_order_id);
                let $this = self;
                let body: String = $sign?;
                Ok(::pyo3::types::PyBytes::new(py, body.as_bytes()))
            }

            $($methods)*
        }
    };
}
pub(crate) use fapi_signer_pymethods;

/// HMAC-SHA256 signer for Binance USD-M REST (and the WebSocket API's signed params).
#[pyclass(name = "BinanceSigner", module = "xtb_core._core", frozen)]
pub struct PyBinanceSigner {
    inner: BinanceSigner,
}

impl PyBinanceSigner {
    fn signed_text(
        &self,
        prefix: &str,
        pairs: &[(&str, &str)],
        timestamp_ms: Option<u64>,
        recv_window_ms: Option<u64>,
    ) -> PyResult<String> {
        let ts = timestamp_ms.unwrap_or_else(|| self.inner.timestamp_ms(local_ms()));
        self.inner.signed(prefix, pairs, ts, recv_window_ms).map_err(sign_err)
    }
}

fapi_signer_pymethods! {
    impl PyBinanceSigner;
    /// The body of `POST /fapi/v1/order` for one LIMIT order from integer units, in one call (the
    /// gateway's hot path). `side`: "BUY"/"SELL"; `time_in_force`: GTC, IOC, FOK or GTX (post-only).
    limit_order(timestamp_ms: Option<u64> = None, recv_window_ms: Option<u64> = None) |this, pairs| {
        this.signed_text("", &pairs, timestamp_ms, recv_window_ms)
    }

    /// `api_key` goes in the `X-MBX-APIKEY` header; `secret` keys the HMAC and is never shown.
    #[new]
    #[pyo3(signature = (api_key, secret, recv_window_ms = DEFAULT_RECV_WINDOW_MS))]
    fn new(api_key: &str, secret: &str, recv_window_ms: u64) -> PyResult<Self> {
        Ok(PyBinanceSigner { inner: BinanceSigner::new(api_key, secret, recv_window_ms).map_err(sign_err)? })
    }

    /// `{"X-MBX-APIKEY": api_key}`: the header every signed and USER_STREAM request carries.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = PyDict::new(py);
        h.set_item(intern!(py, "X-MBX-APIKEY"), self.inner.api_key())?;
        Ok(h)
    }

    #[getter]
    fn recv_window_ms(&self) -> u64 {
        self.inner.recv_window_ms()
    }

    /// Server clock minus local clock (ms), added to every timestamp.
    #[getter]
    fn time_offset_ms(&self) -> i64 {
        self.inner.offset_ms()
    }

    #[setter]
    fn set_time_offset_ms(&self, offset: i64) {
        self.inner.set_offset_ms(offset)
    }

    /// Set the offset from one `GET /fapi/v1/time` round trip: the server's time against the middle of
    /// the local send and receive times. Returns the new offset (ms).
    fn sync_time(&self, server_ms: i64, sent_local_ms: i64, recv_local_ms: i64) -> PyResult<i64> {
        if recv_local_ms < sent_local_ms {
            return Err(PyValueError::new_err("sync_time: recv_local_ms is before sent_local_ms"));
        }
        let offset = server_ms - (sent_local_ms + (recv_local_ms - sent_local_ms) / 2);
        self.inner.set_offset_ms(offset);
        Ok(offset)
    }

    /// The `timestamp` a request signed now carries (local clock + offset).
    fn timestamp_ms(&self) -> u64 {
        self.inner.timestamp_ms(local_ms())
    }

    /// Lower-case hex HMAC-SHA256 of `payload` (str or bytes): the totalParams exactly as transmitted.
    fn sign(&self, payload: &Bound<'_, PyAny>) -> PyResult<String> {
        if let Ok(b) = payload.cast::<PyBytes>() {
            return Ok(self.inner.sign_hex(b.as_bytes()));
        }
        if let Ok(s) = payload.cast::<PyString>() {
            return Ok(self.inner.sign_hex(s.to_str()?.as_bytes()));
        }
        Err(PyTypeError::new_err("payload: expected str or bytes"))
    }

    /// The parameter string to transmit: `params` (dict or (name, value) pairs, in order, percent-encoded)
    /// then `recvWindow`, `timestamp` and `signature` last. `prefix`: the part of totalParams sent in the
    /// query string when this string is the body (signed in front, not repeated).
    #[pyo3(signature = (params = None, *, prefix = "", timestamp_ms = None, recv_window_ms = None))]
    fn signed(
        &self,
        params: Option<&Bound<'_, PyAny>>,
        prefix: &str,
        timestamp_ms: Option<u64>,
        recv_window_ms: Option<u64>,
    ) -> PyResult<String> {
        let pairs = param_pairs(params)?;
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.signed_text(prefix, &refs, timestamp_ms, recv_window_ms)
    }

    fn __repr__(&self) -> String {
        format!(
            "BinanceSigner(api_key={}, recv_window_ms={})",
            mask(self.inner.api_key()),
            self.inner.recv_window_ms()
        )
    }
}

/// One `markPriceUpdate` (docs/core_api.md "Binance mark price"): prices and the funding rate in units of
/// 10^-decimals, times in venue milliseconds.
#[pyclass(name = "BinanceMarkPrice", module = "xtb_core._core", frozen, eq, get_all)]
#[derive(Clone, PartialEq)]
pub struct PyMarkPrice {
    venue: &'static str,
    symbol: String,
    event_ms: u64,
    mark_px: i64,
    index_px: i64,
    settle_px: i64,
    funding_rate: Option<i64>,
    next_funding_ms: u64,
    decimals: u32,
}

#[pymethods]
impl PyMarkPrice {
    fn __repr__(&self) -> String {
        format!(
            "BinanceMarkPrice(venue='{}', symbol='{}', event_ms={}, mark_px={}, index_px={}, settle_px={}, \
             funding_rate={}, next_funding_ms={}, decimals={})",
            self.venue,
            self.symbol,
            self.event_ms,
            self.mark_px,
            self.index_px,
            self.settle_px,
            self.funding_rate.map_or("None".to_owned(), |r| r.to_string()),
            self.next_funding_ms,
            self.decimals
        )
    }
}

/// Decode a Binance-dialect mark-price frame (raw, combined or the `!markPrice@arr` array) from its bytes.
/// Raises FeedError (venue, channel, reason) on a malformed frame; nothing is returned from it.
#[pyfunction]
#[pyo3(signature = (frame, *, venue = "binance_usdm", decimals = MARK_DECIMALS))]
fn decode_binance_mark_prices(
    py: Python<'_>,
    frame: &[u8],
    venue: &str,
    decimals: u32,
) -> PyResult<Vec<PyMarkPrice>> {
    let v = venue_arg(venue)?;
    if decimals > 18 {
        return Err(PyValueError::new_err(format!("decimals: at most 18, got {decimals}")));
    }
    let marks = decode_mark_prices(v, frame, decimals).map_err(|e| {
        let err = PyFeedError::new_err(e.to_string());
        let val = err.value(py);
        // Setting plain attributes on a fresh exception instance cannot fail short of memory exhaustion.
        let _ = val.setattr("venue", e.venue.name());
        let _ = val.setattr("channel", e.channel.as_str());
        let _ = val.setattr("reason", e.reason.as_str());
        err
    })?;
    Ok(marks
        .into_iter()
        .map(|m| PyMarkPrice {
            venue: v.name(),
            symbol: m.symbol,
            event_ms: m.event_ms,
            mark_px: m.mark_px,
            index_px: m.index_px,
            settle_px: m.settle_px,
            funding_rate: m.funding_rate,
            next_funding_ms: m.next_funding_ms,
            decimals,
        })
        .collect())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBinanceSigner>()?;
    m.add_class::<PyMarkPrice>()?;
    m.add_function(wrap_pyfunction!(decode_binance_mark_prices, m)?)?;
    Ok(())
}
