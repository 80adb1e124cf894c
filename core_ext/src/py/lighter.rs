//! Python binding of the GIL-free Lighter signing thread (`sign::lighter_native`).
//!
//! `xtb.signing.lighter` drives it: submit a request (returns a job id), watch `fileno()` with
//! `loop.add_reader`, and call `drain()` in the reader callback to collect finished jobs.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::sign::lighter_native::{abi, CancelOrderArgs, CreateOrderArgs, GoLibrary, NativeSigner, SignRequest};

/// (job_id, tx_type, tx_info, tx_hash, error): `error` set means the job failed with that message.
type CompletionTuple = (u64, u8, Option<String>, Option<String>, Option<String>);

/// The Lighter Go signer called from a Rust thread that never takes the GIL.
#[pyclass(name = "LighterNativeSigner", module = "xtb_core._core", frozen)]
pub struct PyLighterNativeSigner {
    inner: Mutex<NativeSigner>,
    fd: i32,
}

impl PyLighterNativeSigner {
    fn lock(&self) -> MutexGuard<'_, NativeSigner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn submit(&self, request: SignRequest) -> PyResult<u64> {
        self.lock().submit(request).map_err(PyRuntimeError::new_err)
    }
}

fn non_negative(field: &str, value: i64) -> PyResult<i64> {
    if value < 0 {
        return Err(PyValueError::new_err(format!("{field}: must be >= 0, got {value}")));
    }
    Ok(value)
}

#[pymethods]
impl PyLighterNativeSigner {
    /// Open the signer binary at `library_path` (already checked against `lighter_native_abi()`).
    #[new]
    #[pyo3(signature = (library_path, *, thread_name = "xtb-lighter-native".to_owned()))]
    fn new(py: Python<'_>, library_path: PathBuf, thread_name: String) -> PyResult<Self> {
        let signer = py
            .detach(|| {
                let lib = GoLibrary::open(&library_path)?;
                NativeSigner::start(lib, &thread_name).map_err(|e| format!("cannot start the signing thread: {e}"))
            })
            .map_err(PyRuntimeError::new_err)?;
        let fd = signer.wake_fd();
        Ok(PyLighterNativeSigner { inner: Mutex::new(signer), fd })
    }

    /// The fd that becomes readable when `drain()` has results.
    fn fileno(&self) -> i32 {
        self.fd
    }

    /// Queue a CreateOrder (arguments in the header's C widths; `price` and `trigger_price` are the
    /// uint32 bits in a C int). Returns the job id.
    #[pyo3(signature = (*, market_index, client_order_index, base_amount, price, is_ask, order_type,
        time_in_force, reduce_only, trigger_price, order_expiry, integrator_account_index,
        integrator_taker_fee, integrator_maker_fee, self_trade_behavior, self_trade_equality, nonce,
        api_key_index, account_index))]
    #[allow(clippy::too_many_arguments)]
    fn submit_create_order(
        &self,
        market_index: i64,
        client_order_index: i64,
        base_amount: i64,
        price: i32,
        is_ask: i32,
        order_type: i32,
        time_in_force: i32,
        reduce_only: i32,
        trigger_price: i32,
        order_expiry: i64,
        integrator_account_index: i64,
        integrator_taker_fee: i32,
        integrator_maker_fee: i32,
        self_trade_behavior: u8,
        self_trade_equality: u8,
        nonce: i64,
        api_key_index: i32,
        account_index: i64,
    ) -> PyResult<u64> {
        self.submit(SignRequest::CreateOrder(CreateOrderArgs {
            market_index,
            client_order_index,
            base_amount,
            price,
            is_ask,
            order_type,
            time_in_force,
            reduce_only,
            trigger_price,
            order_expiry,
            integrator_account_index,
            integrator_taker_fee,
            integrator_maker_fee,
            self_trade_behavior,
            self_trade_equality,
            nonce: non_negative("nonce", nonce)?,
            api_key_index,
            account_index,
        }))
    }

    /// Queue a CancelOrder. Returns the job id.
    #[pyo3(signature = (*, market_index, order_index, nonce, api_key_index, account_index))]
    fn submit_cancel_order(
        &self,
        market_index: i64,
        order_index: i64,
        nonce: i64,
        api_key_index: i32,
        account_index: i64,
    ) -> PyResult<u64> {
        self.submit(SignRequest::CancelOrder(CancelOrderArgs {
            market_index,
            order_index,
            nonce: non_negative("nonce", nonce)?,
            api_key_index,
            account_index,
        }))
    }

    /// Finished jobs since the last call, in completion order, as
    /// `(job_id, tx_type, tx_info, tx_hash, error)`.
    fn drain(&self) -> Vec<CompletionTuple> {
        self.lock()
            .drain()
            .into_iter()
            .map(|c| match c.result {
                Ok(s) => (c.job_id, s.tx_type, s.tx_info, s.tx_hash, None),
                Err(message) => (c.job_id, 0, None, None, Some(message)),
            })
            .collect()
    }

    /// Stop the thread (the job in flight finishes; queued jobs complete with an error). The fd stays
    /// open until this object is dropped, so a loop can still unregister it.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.lock().close());
    }

    #[getter]
    fn closed(&self) -> bool {
        self.lock().is_closed()
    }
}

/// The C declarations the native path was compiled for: `{"structs": {"SignedTxResponse": fields},
/// "functions": {name: (return type, params)}}`, each field/param a `(C type, name)` pair.
#[pyfunction]
fn lighter_native_abi(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let structs = PyDict::new(py);
    structs.set_item("SignedTxResponse", abi::SIGNED_TX_RESPONSE.to_vec())?;
    let functions = PyDict::new(py);
    for (name, ret, params) in abi::FUNCTIONS {
        functions.set_item(*name, (*ret, params.to_vec()))?;
    }
    let out = PyDict::new(py);
    out.set_item("structs", structs)?;
    out.set_item("functions", functions)?;
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLighterNativeSigner>()?;
    m.add_function(wrap_pyfunction!(lighter_native_abi, m)?)?;
    Ok(())
}
