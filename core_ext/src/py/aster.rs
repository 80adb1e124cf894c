//! Python bindings of the Aster V3 signer (sign/aster.rs): AsterSigner and the simulator's verification.

use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::py::binance::{fapi_signer_pymethods, param_pairs};
use crate::sign::aster::{self, AsterSignError, AsterSignOptions, AsterSigner, MessageHasher};
use crate::sign::eip712;

fn err(e: AsterSignError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn local_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn text_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err(format!(
        "{what}: expected str or bytes"
    )))
}

/// EIP-712 signer of Aster V3 requests with an API-wallet (agent) key (docs/core_api.md, "Aster signer").
#[pyclass(name = "AsterSigner", module = "xtb_core._core", frozen)]
pub struct PyAsterSigner {
    inner: AsterSigner,
}

impl PyAsterSigner {
    fn signed_text(&self, pairs: &[(&str, &str)], nonce: Option<u64>) -> PyResult<String> {
        let n = nonce.unwrap_or_else(|| self.inner.nonces.next(local_us()));
        self.inner.signed(pairs, n).map_err(err)
    }
}

fapi_signer_pymethods! {
    impl PyAsterSigner;
    /// The signed body of `POST /fapi/v3/order` for one LIMIT order from integer units, in one call (the
    /// gateway's hot path). Same arguments as BinanceSigner.limit_order, with `nonce` for the timestamp.
    limit_order(nonce: Option<u64> = None) |this, pairs| {
        this.signed_text(&pairs, nonce)
    }

    /// `private_key`: the API wallet's secp256k1 key (hex); `user`: the main wallet address; `chain_id`:
    /// 1666 mainnet, 714 testnet. `include_user` / `signature_0x`: the UNCONFIRMED wire details (defaults:
    /// send `user`, signature hex without `0x`). `min_nonce`: a persisted high-water mark (nonces stay above).
    #[new]
    #[pyo3(signature = (private_key, user, chain_id = aster::CHAIN_ID_MAINNET, *, include_user = true,
                        signature_0x = false, min_nonce = 0))]
    fn new(
        private_key: &str,
        user: &str,
        chain_id: u64,
        include_user: bool,
        signature_0x: bool,
        min_nonce: u64,
    ) -> PyResult<Self> {
        let options = AsterSignOptions {
            include_user,
            signature_0x,
        };
        Ok(PyAsterSigner {
            inner: AsterSigner::new(private_key, user, chain_id, options, min_nonce)
                .map_err(err)?,
        })
    }

    /// The API wallet's checksummed address (the `signer` parameter).
    #[getter]
    fn address(&self) -> &str {
        self.inner.signer()
    }

    /// The main wallet's checksummed address (the `user` parameter).
    #[getter]
    fn user(&self) -> &str {
        self.inner.user()
    }

    #[getter]
    fn chain_id(&self) -> u64 {
        self.inner.chain_id()
    }

    /// No API-key header in V3: the signature is in the parameters.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> Bound<'py, PyDict> {
        PyDict::new(py)
    }

    /// Server clock minus local clock (ms), applied to every nonce.
    #[getter]
    fn time_offset_ms(&self) -> i64 {
        self.inner.nonces.offset_us() / 1000
    }

    #[setter]
    fn set_time_offset_ms(&self, offset: i64) {
        self.inner.nonces.set_offset_us(offset.saturating_mul(1000))
    }

    /// Set the offset from one `GET /fapi/v3/time` round trip (server time against the middle of the local
    /// send and receive times). Returns the new offset (ms).
    fn sync_time(&self, server_ms: i64, sent_local_ms: i64, recv_local_ms: i64) -> PyResult<i64> {
        if recv_local_ms < sent_local_ms {
            return Err(PyValueError::new_err(
                "sync_time: recv_local_ms is before sent_local_ms",
            ));
        }
        let offset = server_ms - (sent_local_ms + (recv_local_ms - sent_local_ms) / 2);
        self.set_time_offset_ms(offset);
        Ok(offset)
    }

    /// A fresh nonce (µs; strictly increasing).
    fn next_nonce(&self) -> u64 {
        self.inner.nonces.next(local_us())
    }

    /// The last nonce handed out (persist it to carry the floor over a restart).
    #[getter]
    fn last_nonce(&self) -> u64 {
        self.inner.nonces.last()
    }

    /// The 65-byte signature (hex, no prefix) of a message string exactly as given.
    fn sign_message(&self, py: Python<'_>, msg: &Bound<'_, PyAny>) -> PyResult<String> {
        let m = text_arg(msg, "msg")?;
        let sig = py.detach(|| self.inner.sign_message(&m)).map_err(err)?;
        Ok(eip712::lower_hex(&sig.to_bytes()))
    }

    /// The parameter string to transmit: `params` (dict or (name, value) pairs, in order, form-encoded),
    /// then `nonce`, `user`, `signer` and `signature` last.
    #[pyo3(signature = (params = None, *, nonce = None))]
    fn signed(&self, params: Option<&Bound<'_, PyAny>>, nonce: Option<u64>) -> PyResult<String> {
        let pairs = param_pairs(params)?;
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.signed_text(&refs, nonce)
    }

    /// Sign many requests in one call (the GIL released while signing): one string per params, each with
    /// its own nonce, in order.
    fn signed_many(&self, py: Python<'_>, batch: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        let seq: Vec<Bound<'_, PyAny>> = if let Ok(l) = batch.cast::<PyList>() {
            l.iter().collect()
        } else if let Ok(t) = batch.cast::<PyTuple>() {
            t.iter().collect()
        } else {
            return Err(PyTypeError::new_err("batch: expected a list of params"));
        };
        let all: Vec<Vec<(String, String)>> = seq
            .iter()
            .map(|p| param_pairs(Some(p)))
            .collect::<PyResult<_>>()?;
        py.detach(|| {
            all.iter()
                .map(|pairs| {
                    let refs: Vec<(&str, &str)> = pairs
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    self.inner.signed(&refs, self.inner.nonces.next(local_us()))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(err)
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}

/// The EIP-712 digest of `Message{msg}` under Aster's domain for a chain id (32 bytes).
#[pyfunction]
fn aster_message_digest<'py>(
    py: Python<'py>,
    chain_id: u64,
    msg: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let m = text_arg(msg, "msg")?;
    Ok(PyBytes::new(py, &MessageHasher::new(chain_id).digest(&m)))
}

/// The checksummed address that signed `msg` (the received parameter string without `signature`);
/// ValueError when the signature is malformed, high-S or recovers to no key.
#[pyfunction]
fn aster_recover_signer(
    chain_id: u64,
    msg: &Bound<'_, PyAny>,
    signature: &str,
) -> PyResult<String> {
    let m = text_arg(msg, "msg")?;
    let who = aster::recover_signer(chain_id, &m, signature)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(eip712::checksum_address(&who))
}

/// The checksummed address of an Ethereum private key (hex); ValueError (without the key) when invalid.
#[pyfunction]
fn eth_address_of(private_key: &str) -> PyResult<String> {
    let key =
        eip712::EthKey::from_hex(private_key).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(eip712::checksum_address(&key.address()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyAsterSigner>()?;
    m.add_function(wrap_pyfunction!(aster_message_digest, m)?)?;
    m.add_function(wrap_pyfunction!(aster_recover_signer, m)?)?;
    m.add_function(wrap_pyfunction!(eth_address_of, m)?)?;
    Ok(())
}
