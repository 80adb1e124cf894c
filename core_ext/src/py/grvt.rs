//! Python bindings of the GRVT order signer (sign/grvt.rs): GrvtSigner and the simulator's verification.
//!
//! An order is given as a dict of the signed fields, integers already scaled:
//! `{"sub_account_id": int, "time_in_force": 1..4, "is_market": bool, "post_only": bool, "reduce_only": bool,
//!   "legs": [(asset_id_hex, contract_size, limit_price, is_buying), ...], "nonce": int, "expiration": int}`
//! (`is_market`, `post_only`, `reduce_only` default to False, `time_in_force` to 1 = GTT).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::sign::grvt::{
    self, GrvtSignError, GrvtSigner, OrderHasher, OrderLeg, OrderMsg, OrderSignature,
};

fn err(e: GrvtSignError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn order_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<OrderMsg> {
    let d = obj
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err(format!("{what}: expected a dict of order fields")))?;
    let legs_obj = d
        .get_item("legs")?
        .ok_or_else(|| PyValueError::new_err(format!("{what}: missing field \"legs\"")))?;
    let legs_seq: Vec<Bound<'_, PyAny>> = if let Ok(l) = legs_obj.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = legs_obj.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        return Err(PyTypeError::new_err(format!("{what}: \"legs\" must be a list of tuples")));
    };
    let mut legs = Vec::with_capacity(legs_seq.len());
    for (i, leg) in legs_seq.iter().enumerate() {
        let (asset, size, price, buy): (String, u64, u64, bool) = leg.extract().map_err(|_| {
            PyValueError::new_err(format!(
                "{what}: legs[{i}] must be (asset_id_hex, contract_size, limit_price, is_buying) with sizes in 0..2**64"
            ))
        })?;
        legs.push(OrderLeg {
            asset_id: grvt::parse_asset_id(&asset).map_err(err)?,
            contract_size: size,
            limit_price: price,
            is_buying: buy,
        });
    }
    let get_u64 = |k: &str, def: Option<u64>| -> PyResult<u64> {
        match d.get_item(k)? {
            Some(v) if !v.is_none() => v.extract::<u64>().map_err(|_| {
                PyValueError::new_err(format!("{what}: field {k:?} must be an integer in its range"))
            }),
            _ => def.ok_or_else(|| PyValueError::new_err(format!("{what}: missing field {k:?}"))),
        }
    };
    let get_bool = |k: &str| -> PyResult<bool> {
        match d.get_item(k)? {
            Some(v) if !v.is_none() => v
                .extract::<bool>()
                .map_err(|_| PyValueError::new_err(format!("{what}: field {k:?} must be a bool"))),
            _ => Ok(false),
        }
    };
    let expiration: i64 = match d.get_item("expiration")? {
        Some(v) if !v.is_none() => v.extract::<i64>().map_err(|_| {
            PyValueError::new_err(format!("{what}: field \"expiration\" must be an int64 (unix ns)"))
        })?,
        _ => return Err(PyValueError::new_err(format!("{what}: missing field \"expiration\""))),
    };
    let nonce = get_u64("nonce", None)?;
    let nonce = u32::try_from(nonce)
        .map_err(|_| PyValueError::new_err(format!("{what}: field \"nonce\" must fit in uint32")))?;
    let tif = get_u64("time_in_force", Some(1))?;
    Ok(OrderMsg {
        sub_account_id: get_u64("sub_account_id", None)?,
        is_market: get_bool("is_market")?,
        time_in_force: u8::try_from(tif).unwrap_or(0),
        post_only: get_bool("post_only")?,
        reduce_only: get_bool("reduce_only")?,
        legs,
        nonce,
        expiration,
    })
}

fn hex0x(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 + 2 * b.len());
    s.push_str("0x");
    for x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 15) as usize] as char);
    }
    s
}

fn hex32_arg(s: &str, what: &str) -> PyResult<[u8; 32]> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    if h.len() != 64 {
        return Err(PyValueError::new_err(format!("{what}: expected 0x + 64 hex characters")));
    }
    grvt::parse_asset_id(h).map_err(|_| PyValueError::new_err(format!("{what}: not hex")))
}

fn sig_tuple(s: &OrderSignature) -> (String, String, u8) {
    (hex0x(&s.r), hex0x(&s.s), s.v)
}

/// secp256k1 / EIP-712 signer of GRVT orders (docs/core_api.md, "GRVT signer").
#[pyclass(name = "GrvtSigner", module = "xtb_core._core", frozen)]
pub struct PyGrvtSigner {
    inner: GrvtSigner,
    nonce: AtomicU32,
}

#[pymethods]
impl PyGrvtSigner {
    /// `private_key`: the API key's secp256k1 private key as hex. `chain_id`: 325 mainnet, 326 testnet.
    #[new]
    #[pyo3(signature = (private_key, chain_id = grvt::CHAIN_ID_MAINNET))]
    fn new(private_key: &str, chain_id: u64) -> PyResult<Self> {
        let inner = GrvtSigner::new(private_key, chain_id).map_err(err)?;
        // Nonces: a counter from a time-seeded start, so one signer never repeats a nonce within 2^32
        // orders (the venue drops a payload it has seen with the same nonce as a duplicate).
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32).rotate_left(16))
            .unwrap_or(0)
            ^ u32::from_be_bytes(inner.address()[..4].try_into().unwrap_or([0; 4]));
        Ok(PyGrvtSigner {
            inner,
            nonce: AtomicU32::new(seed),
        })
    }

    /// The key's checksummed address (the order's `signature.signer`).
    #[getter]
    fn address(&self) -> String {
        grvt::checksum_address(&self.inner.address())
    }

    #[getter]
    fn chain_id(&self) -> u64 {
        self.inner.chain_id()
    }

    /// A fresh uint32 signature nonce.
    fn next_nonce(&self) -> u32 {
        self.nonce.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
    }

    /// Sign one order: (r, s, v) with r and s as `0x` + 64 hex, v 27 or 28.
    fn sign_order(&self, py: Python<'_>, order: &Bound<'_, PyAny>) -> PyResult<(String, String, u8)> {
        let o = order_arg(order, "order")?;
        let sig = py.detach(|| self.inner.sign_order(&o)).map_err(err)?;
        Ok(sig_tuple(&sig))
    }

    /// Sign a batch (one call, the GIL released while signing); the signatures in the orders' order.
    fn sign_orders(
        &self,
        py: Python<'_>,
        orders: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<(String, String, u8)>> {
        let seq: Vec<Bound<'_, PyAny>> = if let Ok(l) = orders.cast::<PyList>() {
            l.iter().collect()
        } else if let Ok(t) = orders.cast::<PyTuple>() {
            t.iter().collect()
        } else {
            return Err(PyTypeError::new_err("orders: expected a list of order dicts"));
        };
        let msgs: Vec<OrderMsg> = seq
            .iter()
            .enumerate()
            .map(|(i, o)| order_arg(o, &format!("orders[{i}]")))
            .collect::<PyResult<_>>()?;
        let sigs = py
            .detach(|| {
                msgs.iter()
                    .map(|o| self.inner.sign_order(o))
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(err)?;
        Ok(sigs.iter().map(sig_tuple).collect())
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}

/// The EIP-712 digest of an order for a chain id (32 bytes).
#[pyfunction]
fn grvt_order_digest<'py>(
    py: Python<'py>,
    chain_id: u64,
    order: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let o = order_arg(order, "order")?;
    let d = OrderHasher::new(chain_id).digest(&o).map_err(err)?;
    Ok(PyBytes::new(py, &d))
}

/// The checksummed address that signed an order; ValueError when the signature is malformed, high-S or
/// recovers to no key. The simulator compares it with the API key's registered address.
#[pyfunction]
fn grvt_recover_signer(
    chain_id: u64,
    order: &Bound<'_, PyAny>,
    r: &str,
    s: &str,
    v: u8,
) -> PyResult<String> {
    let o = order_arg(order, "order")?;
    let d = OrderHasher::new(chain_id).digest(&o).map_err(err)?;
    let sig = OrderSignature {
        r: hex32_arg(r, "signature.r")?,
        s: hex32_arg(s, "signature.s")?,
        v,
    };
    Ok(grvt::checksum_address(
        &grvt::recover_address(&d, &sig).map_err(err)?,
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyGrvtSigner>()?;
    m.add_function(wrap_pyfunction!(grvt_order_digest, m)?)?;
    m.add_function(wrap_pyfunction!(grvt_recover_signer, m)?)?;
    Ok(())
}
