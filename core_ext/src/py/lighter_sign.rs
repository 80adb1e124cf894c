//! Python binding of the native Lighter signer (`sign::lighter`): `xtb.signing.lighter` calls these
//! on the event loop's thread (a signature is tens of microseconds); each call releases the GIL while
//! it computes. Errors come back as `ValueError` with the field named, never a panic.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use zeroize::Zeroize;

use crate::sign::lighter::pool::MAX_CAPACITY;
use crate::sign::lighter::signer::{decode_hex, generate_key, verify_auth_token, verify_tx_info, LighterKey, SignedTx, VerifyError};
use crate::sign::lighter::tx::{hex_lower, OrderInfo, TxBody};

/// (tx_type, tx_info, tx_hash)
type SignedTuple = (u8, String, String);
/// (market, client_order_index, base_amount, price, is_ask, type, tif, reduce_only, trigger, expiry)
type OrderTuple = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);

fn to_tuple(s: SignedTx) -> SignedTuple {
    (s.tx_type, s.tx_info, s.tx_hash)
}

fn order(t: OrderTuple) -> OrderInfo {
    OrderInfo {
        market_index: t.0,
        client_order_index: t.1,
        base_amount: t.2,
        price: t.3,
        is_ask: t.4,
        order_type: t.5,
        time_in_force: t.6,
        reduce_only: t.7,
        trigger_price: t.8,
        order_expiry: t.9,
    }
}

fn parse_private_key(hex: &str) -> PyResult<[u8; 40]> {
    // The message never echoes the input: it is a secret.
    let mut bytes = decode_hex(hex.trim()).ok_or_else(|| PyValueError::new_err("private_key: not hex"))?;
    if bytes.len() != 40 {
        bytes.zeroize();
        return Err(PyValueError::new_err("private_key: must be 40 bytes (80 hex digits)"));
    }
    let mut key = [0u8; 40];
    key.copy_from_slice(&bytes);
    bytes.zeroize();
    Ok(key)
}

fn refused(operation: &str, message: String) -> PyErr {
    PyValueError::new_err(format!("{operation}: {message}"))
}

/// One Lighter API key (account, key index, chain) that signs natively. The private key is not
/// readable back; it is wiped when the object is dropped.
#[pyclass(name = "LighterKey", module = "xtb_core._core", frozen)]
pub struct PyLighterKey {
    key: LighterKey,
}

impl PyLighterKey {
    fn sign_one(&self, py: Python<'_>, op: &str, body: TxBody, nonce: i64, expired_at: i64, attributes: Vec<(u8, i64)>) -> PyResult<SignedTuple> {
        py.detach(|| self.key.sign(body, nonce, expired_at, attributes)).map(to_tuple).map_err(|m| refused(op, m))
    }
}

#[pymethods]
impl PyLighterKey {
    /// `nonce_pool`: how many nonce commitments a background thread keeps precomputed (0: none, every
    /// signature computes its own).
    #[new]
    #[pyo3(signature = (private_key_hex, *, chain_id, account_index, api_key_index, nonce_pool = 0))]
    fn new(py: Python<'_>, private_key_hex: &str, chain_id: u32, account_index: i64, api_key_index: i64, nonce_pool: usize) -> PyResult<Self> {
        if nonce_pool > MAX_CAPACITY {
            return Err(PyValueError::new_err(format!("nonce_pool: at most {MAX_CAPACITY}, got {nonce_pool}")));
        }
        let mut sk = parse_private_key(private_key_hex)?;
        let key = py.detach(|| LighterKey::new(&sk, chain_id, account_index, api_key_index).with_commitment_pool(nonce_pool));
        sk.zeroize();
        let key = key.map_err(|e| PyRuntimeError::new_err(format!("cannot start the nonce pool thread: {e}")))?;
        Ok(PyLighterKey { key })
    }

    /// {"capacity", "available", "made", "used", "misses"} of the nonce pool, or None without one.
    fn nonce_pool_stats(&self) -> Option<std::collections::HashMap<&'static str, u64>> {
        self.key.pool_stats().map(|s| {
            std::collections::HashMap::from([
                ("capacity", s.capacity as u64),
                ("available", s.available as u64),
                ("made", s.made),
                ("used", s.used),
                ("misses", s.misses),
            ])
        })
    }

    /// The public key, 80 lowercase hex digits (no 0x).
    #[getter]
    fn public_key_hex(&self) -> String {
        hex_lower(&self.key.public_key())
    }

    #[getter]
    fn chain_id(&self) -> u32 {
        self.key.chain_id
    }

    #[getter]
    fn account_index(&self) -> i64 {
        self.key.account_index
    }

    #[getter]
    fn api_key_index(&self) -> i64 {
        self.key.api_key_index
    }

    fn __repr__(&self) -> String {
        format!("LighterKey(account_index={}, api_key_index={}, chain_id={})", self.key.account_index, self.key.api_key_index, self.key.chain_id)
    }

    /// CreateOrder (14). `order` is (market, client_order_index, base_amount, price, is_ask, type,
    /// time_in_force, reduce_only, trigger_price, order_expiry); expiry -1 = now + 28 days;
    /// `expired_at` 0 = now + 10 min - 1 s. Returns (tx_type, tx_info, tx_hash).
    #[pyo3(signature = (order, nonce, *, expired_at = 0, attributes = Vec::new()))]
    fn sign_create_order(&self, py: Python<'_>, order: OrderTuple, nonce: i64, expired_at: i64, attributes: Vec<(u8, i64)>) -> PyResult<SignedTuple> {
        self.sign_one(py, "SignCreateOrder", TxBody::CreateOrder(self::order(order)), nonce, expired_at, attributes)
    }

    /// Several CreateOrders with nonces first_nonce, first_nonce + 1, ... in one call.
    #[pyo3(signature = (orders, first_nonce, *, expired_at = 0, attributes = Vec::new()))]
    fn sign_create_orders(&self, py: Python<'_>, orders: Vec<OrderTuple>, first_nonce: i64, expired_at: i64, attributes: Vec<(u8, i64)>) -> PyResult<Vec<SignedTuple>> {
        py.detach(|| {
            orders
                .into_iter()
                .enumerate()
                .map(|(i, o)| {
                    self.key.sign(TxBody::CreateOrder(order(o)), first_nonce + i as i64, expired_at, attributes.clone()).map(to_tuple)
                })
                .collect::<Result<Vec<_>, String>>()
        })
        .map_err(|m| refused("SignCreateOrder", m))
    }

    #[pyo3(signature = (market_index, index, nonce, *, expired_at = 0))]
    fn sign_cancel_order(&self, py: Python<'_>, market_index: i64, index: i64, nonce: i64, expired_at: i64) -> PyResult<SignedTuple> {
        self.sign_one(py, "SignCancelOrder", TxBody::CancelOrder { market_index, index }, nonce, expired_at, Vec::new())
    }

    #[pyo3(signature = (time_in_force, time, nonce, *, expired_at = 0, attributes = Vec::new()))]
    fn sign_cancel_all_orders(&self, py: Python<'_>, time_in_force: i64, time: i64, nonce: i64, expired_at: i64, attributes: Vec<(u8, i64)>) -> PyResult<SignedTuple> {
        self.sign_one(py, "SignCancelAllOrders", TxBody::CancelAllOrders { time_in_force, time }, nonce, expired_at, attributes)
    }

    #[pyo3(signature = (market_index, index, base_amount, price, trigger_price, nonce, *, expired_at = 0, attributes = Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn sign_modify_order(
        &self,
        py: Python<'_>,
        market_index: i64,
        index: i64,
        base_amount: i64,
        price: i64,
        trigger_price: i64,
        nonce: i64,
        expired_at: i64,
        attributes: Vec<(u8, i64)>,
    ) -> PyResult<SignedTuple> {
        let body = TxBody::ModifyOrder { market_index, index, base_amount, price, trigger_price };
        self.sign_one(py, "SignModifyOrder", body, nonce, expired_at, attributes)
    }

    #[pyo3(signature = (grouping_type, orders, nonce, *, expired_at = 0, attributes = Vec::new()))]
    fn sign_create_grouped_orders(
        &self,
        py: Python<'_>,
        grouping_type: i64,
        orders: Vec<OrderTuple>,
        nonce: i64,
        expired_at: i64,
        attributes: Vec<(u8, i64)>,
    ) -> PyResult<SignedTuple> {
        let body = TxBody::CreateGroupedOrders { grouping_type, orders: orders.into_iter().map(order).collect() };
        self.sign_one(py, "SignCreateGroupedOrders", body, nonce, expired_at, attributes)
    }

    /// "deadline:account:api_key:<sig hex>".
    fn create_auth_token(&self, py: Python<'_>, deadline_s: i64) -> PyResult<String> {
        py.detach(|| self.key.auth_token(deadline_s)).map_err(|m| PyRuntimeError::new_err(format!("CreateAuthToken: {m}")))
    }
}

/// Verify a signed `tx_info` of `tx_type` under `public_key_hex` (80 hex digits, optional 0x) for
/// `chain_id`. Returns (ok, reason, tx_hash): reason is None when ok, else "malformed: <field ...>" or
/// "invalid signature".
#[pyfunction]
fn lighter_verify_tx(py: Python<'_>, tx_type: u8, tx_info: &str, chain_id: u32, public_key_hex: &str) -> (bool, Option<String>, Option<String>) {
    let Some(pk) = decode_hex(public_key_hex) else {
        return (false, Some("malformed: public key is not hex".into()), None);
    };
    match py.detach(|| verify_tx_info(tx_type, tx_info, chain_id, &pk)) {
        Ok((_, hash)) => (true, None, Some(hash)),
        Err(VerifyError::Malformed(m)) => (false, Some(format!("malformed: {m}")), None),
        Err(VerifyError::BadSignature) => (false, Some("invalid signature".into()), None),
    }
}

/// Whether an auth token "deadline:account:api_key:sig_hex" is signed by `public_key_hex`.
#[pyfunction]
fn lighter_verify_auth_token(py: Python<'_>, token: &str, public_key_hex: &str) -> bool {
    match decode_hex(public_key_hex) {
        Some(pk) => py.detach(|| verify_auth_token(token, &pk)),
        None => false,
    }
}

/// A fresh API key pair from the OS random generator: (private_hex, public_hex), 80 hex digits each.
#[pyfunction]
fn lighter_generate_api_key() -> PyResult<(String, String)> {
    let (mut private, public) = generate_key().map_err(PyRuntimeError::new_err)?;
    let out = (hex_lower(&private), hex_lower(&public));
    private.zeroize();
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLighterKey>()?;
    m.add_function(wrap_pyfunction!(lighter_verify_tx, m)?)?;
    m.add_function(wrap_pyfunction!(lighter_verify_auth_token, m)?)?;
    m.add_function(wrap_pyfunction!(lighter_generate_api_key, m)?)?;
    Ok(())
}
