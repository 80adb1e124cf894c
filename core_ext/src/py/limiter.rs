//! Python binding of the RateLimiter (documented in docs/core_api.md, "Rate limiter").

use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::events::{monotonic_ns, EventBody, RateLimited};
use crate::limiter::{LimiterConfig, LimiterError, PoolSpec, RateLimiter};
use crate::py::ring::PyEventRing;
use crate::ring::EventRing;

pub(crate) fn to_py_err(err: LimiterError) -> PyErr {
    match err {
        LimiterError::UnknownKey(_) | LimiterError::UnknownPool(_) => PyKeyError::new_err(err.to_string()),
        _ => PyValueError::new_err(err.to_string()),
    }
}

fn config_error(path: &str, reason: &str) -> PyErr {
    PyValueError::new_err(format!("rate limit config: {path}: {reason}"))
}

fn as_dict<'a, 'py>(obj: &'a Bound<'py, PyAny>, path: &str) -> PyResult<&'a Bound<'py, PyDict>> {
    obj.cast::<PyDict>().map_err(|_| config_error(path, "must be a dict"))
}

/// A positive integer (bools and floats refused: a limit of 1.5 requests is a typo, not a limit).
fn positive_int(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<u64> {
    let is_int = obj.is_instance_of::<pyo3::types::PyInt>() && !obj.is_instance_of::<pyo3::types::PyBool>();
    match obj.extract::<u64>() {
        Ok(v) if is_int && v > 0 => Ok(v),
        _ => Err(config_error(path, &format!("must be a positive integer, got {}", obj.repr()?))),
    }
}

fn name_of(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<String> {
    obj.cast::<PyString>()
        .map_err(|_| config_error(path, "names must be strings"))?
        .to_str()
        .map(str::to_owned)
}

fn check_fields(d: &Bound<'_, PyDict>, path: &str, allowed: &[&str]) -> PyResult<()> {
    for k in d.keys() {
        let k = name_of(&k, path)?;
        if !allowed.contains(&k.as_str()) {
            return Err(config_error(
                &format!("{path}.{k}"),
                &format!("unknown field (expected {})", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn required<'py>(d: &Bound<'py, PyDict>, path: &str, field: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(field)?.ok_or_else(|| config_error(&format!("{path}.{field}"), "missing"))
}

fn parse_pool(name: &str, spec: &Bound<'_, PyAny>) -> PyResult<PoolSpec> {
    let path = format!("pools.{name}");
    let d = as_dict(spec, &path)?;
    let kind = required(d, &path, "type")?;
    let kind = kind.extract::<String>().unwrap_or_default();
    let window = |d: &Bound<'_, PyDict>| -> PyResult<u64> {
        let ms = positive_int(&required(d, &path, "window_ms")?, &format!("{path}.window_ms"))?;
        ms.checked_mul(1_000_000)
            .filter(|ns| *ns <= i64::MAX as u64)
            .ok_or_else(|| config_error(&format!("{path}.window_ms"), "too large"))
    };
    match kind.as_str() {
        "token_bucket" => {
            check_fields(d, &path, &["type", "capacity", "refill", "window_ms"])?;
            Ok(PoolSpec::TokenBucket {
                capacity: positive_int(&required(d, &path, "capacity")?, &format!("{path}.capacity"))?,
                refill: positive_int(&required(d, &path, "refill")?, &format!("{path}.refill"))?,
                window_ns: window(d)?,
            })
        }
        "sliding_window" => {
            check_fields(d, &path, &["type", "limit", "window_ms"])?;
            Ok(PoolSpec::SlidingWindow {
                limit: positive_int(&required(d, &path, "limit")?, &format!("{path}.limit"))?,
                window_ns: window(d)?,
            })
        }
        _ => Err(config_error(&format!("{path}.type"), "must be 'token_bucket' or 'sliding_window'")),
    }
}

fn parse_config(config: &Bound<'_, PyAny>) -> PyResult<LimiterConfig> {
    let top = config.cast::<PyDict>().map_err(|_| config_error("config", "must be a dict"))?;
    check_fields(top, "config", &["pools", "keys"])?;
    let mut out = LimiterConfig::default();
    let pools = required(top, "config", "pools")?;
    for (name, spec) in as_dict(&pools, "pools")?.iter() {
        let name = name_of(&name, "pools")?;
        out.pools.push((name.clone(), parse_pool(&name, &spec)?));
    }
    let keys = required(top, "config", "keys")?;
    for (key, draws) in as_dict(&keys, "keys")?.iter() {
        let key = name_of(&key, "keys")?;
        let path = format!("keys.{key}");
        let mut list = Vec::new();
        for (pool, weight) in as_dict(&draws, &path)?.iter() {
            let pool = name_of(&pool, &path)?;
            let weight = positive_int(&weight, &format!("{path}.{pool}"))?;
            list.push((pool, weight));
        }
        out.keys.push((key, list));
    }
    Ok(out)
}

fn check_weight(weight: i64) -> PyResult<u64> {
    u64::try_from(weight).map_err(|_| PyValueError::new_err(format!("weight: must be >= 0, got {weight}")))
}

/// Weighted token buckets and sliding windows per key, with linked pools (see docs/core_api.md).
#[pyclass(name = "RateLimiter", module = "xtb_core._core", frozen)]
pub struct PyRateLimiter {
    /// Shared with Rust callers (the order gateway) that hold a clone of the Arc.
    pub inner: Arc<Mutex<RateLimiter>>,
    /// Where refusals are reported as `RateLimited` events, if given.
    ring: Option<Arc<EventRing>>,
}

impl PyRateLimiter {
    pub(crate) fn lock(&self) -> MutexGuard<'_, RateLimiter> {
        // The limiter's methods do not panic part-way through an update; a poisoned lock is consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn report(&self, key: &str, wait_ns: u64, now: i64) {
        if let (Some(ring), true) = (&self.ring, wait_ns > 0) {
            ring.push(now, EventBody::RateLimited(RateLimited { key: key.to_string(), wait_ns }));
        }
    }
}

#[pymethods]
impl PyRateLimiter {
    /// Build from a config dict: {"pools": {name: spec}, "keys": {key: {pool: weight}}}.
    #[staticmethod]
    #[pyo3(signature = (config, ring = None))]
    fn from_config(config: &Bound<'_, PyAny>, ring: Option<PyRef<'_, PyEventRing>>) -> PyResult<Self> {
        let cfg = parse_config(config)?;
        let limiter = RateLimiter::new(&cfg).map_err(to_py_err)?;
        Ok(PyRateLimiter { inner: Arc::new(Mutex::new(limiter)), ring: ring.map(|r| Arc::clone(&r.inner)) })
    }

    /// 0: granted and consumed now. > 0: nothing consumed; retry after that many ns.
    #[pyo3(signature = (key, weight = 1, now_ns = None))]
    fn acquire(&self, key: &str, weight: i64, now_ns: Option<i64>) -> PyResult<u64> {
        let now = now_ns.unwrap_or_else(monotonic_ns);
        let wait = self.lock().acquire(key, check_weight(weight)?, now).map_err(to_py_err)?;
        self.report(key, wait, now);
        Ok(wait)
    }

    /// The wait `acquire` would return now, consuming nothing.
    #[pyo3(signature = (key, weight = 1, now_ns = None))]
    fn would_wait(&self, key: &str, weight: i64, now_ns: Option<i64>) -> PyResult<u64> {
        let now = now_ns.unwrap_or_else(monotonic_ns);
        self.lock().would_wait(key, check_weight(weight)?, now).map_err(to_py_err)
    }

    /// Several (key, weight) pairs as one all-or-nothing request; same return as `acquire`.
    #[pyo3(signature = (requests, now_ns = None))]
    fn acquire_many(&self, requests: Vec<(String, i64)>, now_ns: Option<i64>) -> PyResult<u64> {
        let now = now_ns.unwrap_or_else(monotonic_ns);
        let mut req = Vec::with_capacity(requests.len());
        for (key, weight) in &requests {
            req.push((key.as_str(), check_weight(*weight)?));
        }
        let wait = self.lock().acquire_many(&req, now, true).map_err(to_py_err)?;
        if wait > 0 {
            let keys: Vec<&str> = req.iter().map(|(k, _)| *k).collect();
            self.report(&keys.join("+"), wait, now);
        }
        Ok(wait)
    }

    /// Refuse every request drawing on `pool` before `until_ns` (after a venue 429); consumes nothing.
    fn block_until(&self, pool: &str, until_ns: i64) -> PyResult<()> {
        self.lock().block_until(pool, until_ns).map_err(to_py_err)
    }

    /// Budget left in `pool` now (whole tokens for a bucket, weight for a window).
    #[pyo3(signature = (pool, now_ns = None))]
    fn available(&self, pool: &str, now_ns: Option<i64>) -> PyResult<u64> {
        let now = now_ns.unwrap_or_else(monotonic_ns);
        self.lock().available(pool, now).map_err(to_py_err)
    }

    #[getter]
    fn keys(&self) -> Vec<String> {
        self.lock().key_names().map(str::to_owned).collect()
    }

    #[getter]
    fn pools(&self) -> Vec<String> {
        self.lock().pool_names().map(str::to_owned).collect()
    }

    fn __repr__(&self) -> String {
        let l = self.lock();
        format!("RateLimiter(pools={}, keys={})", l.pool_names().count(), l.key_names().count())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRateLimiter>()?;
    Ok(())
}
