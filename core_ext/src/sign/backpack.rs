//! Backpack request signing: the instruction string exactly as the venue rebuilds it, ED25519 over it.
//!
//! The string (docs/venues/backpack.md section 2.3): `instruction=<name>&<params sorted by key as k=v>&
//! timestamp=<ms>&window=<ms>`, booleans lowercase, numbers as plain decimal text, decimal strings as given.
//! A batch repeats `instruction=orderExecute&<sorted params>` per order (array order) and appends timestamp
//! and window once. The JSON body is written in the same pass from the same values, so the body carries
//! exactly the signed parameters.

use std::fmt;
use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
// ED25519 from aws-lc-rs: its edwards25519 base-point multiply is s2n-bignum's assembly, picked at run
// time (ADX/BMI2 or the portable variant), ~1.7x faster than ed25519-dalek's portable one on this
// project's CPUs and with no target-cpu assumption. Signatures are deterministic (RFC 8032): the same as
// libsodium's / PyNaCl's / ed25519-dalek's for the same seed and message (tested against dalek below).
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};

use crate::sign::nonce_pool::{ExpandedKey, NoncePool, NoncePoolStats, MAX_CAPACITY};

/// Largest window the venue accepts (ms).
pub const MAX_WINDOW_MS: u64 = 60_000;
pub const DEFAULT_WINDOW_MS: u64 = 5_000;

/// One request parameter value, as the request carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamValue<'a> {
    /// A string: decimal strings ("141.25"), enums ("Bid"), symbols. Used as-is in the signed string.
    Str(&'a str),
    /// An integer (clientId, orderId as a number, brokerId).
    Int(i128),
    Bool(bool),
}

pub type Params<'a> = Vec<(&'a str, ParamValue<'a>)>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignError {
    /// The secret is not valid base64 or not a 32-byte seed. Never carries the secret itself.
    BadSecret(&'static str),
    BadWindow(u64),
    DuplicateKey(String),
    EmptyBatch,
    /// `nonce_pool` above `nonce_pool::MAX_CAPACITY`.
    BadNoncePool(usize),
    /// The nonce pool could not start (its thread did not spawn, or the key did not expand).
    NoncePoolStart(String),
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::BadSecret(why) => write!(f, "invalid Backpack secret: {why}"),
            SignError::BadWindow(w) => write!(f, "window_ms must be 1..={MAX_WINDOW_MS} (got {w})"),
            SignError::DuplicateKey(k) => write!(f, "parameter {k:?} appears twice"),
            SignError::EmptyBatch => write!(f, "a batch needs at least one order"),
            SignError::BadNoncePool(n) => {
                write!(f, "nonce_pool must be 0..={MAX_CAPACITY} (got {n})")
            }
            SignError::NoncePoolStart(why) => write!(f, "nonce_pool: could not start: {why}"),
        }
    }
}

impl std::error::Error for SignError {}

/// Overwrite a buffer that held key material (volatile so the compiler keeps the writes).
fn wipe(buf: &mut [u8]) {
    for b in buf.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference into `buf`.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// Holds the ED25519 key (aws-lc frees and cleanses it on drop) and the derived `X-API-Key`.
///
/// With a nonce pool (`with_nonce_pool`, capacity > 0) each signature takes a presigned nonce
/// (sign/nonce_pool.rs: standard, verifiable ED25519, hedged random nonces, ~1-2 us instead of ~20 us);
/// when the pool is empty, or in a forked child, it signs deterministically (RFC 8032) as without one.
pub struct BackpackSigner {
    key: Ed25519KeyPair,
    api_key_b64: String,
    broker_id: Option<u16>,
    nonces: Option<NoncePool>,
    fallbacks: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for BackpackSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackpackSigner")
            .field("api_key", &self.api_key_b64)
            .finish_non_exhaustive()
    }
}

/// A signed request: the signed string (for logs/tests: it holds no secret), the headers' values and
/// the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    pub signing_string: String,
    pub signature_b64: String,
    pub body: Vec<u8>,
}

impl BackpackSigner {
    /// `secret_b64`: base64 of the 32-byte seed (a 64-byte seed||public key is accepted when its second
    /// half matches the seed's public key).
    /// Deterministic RFC 8032 signatures (no nonce pool).
    pub fn new(secret_b64: &str, broker_id: Option<u16>) -> Result<Self, SignError> {
        Self::with_nonce_pool(secret_b64, broker_id, 0)
    }

    /// `nonce_pool`: 0 signs deterministically (RFC 8032); N (up to `nonce_pool::MAX_CAPACITY`) keeps N
    /// presigned nonces filled by a background thread.
    pub fn with_nonce_pool(
        secret_b64: &str,
        broker_id: Option<u16>,
        nonce_pool: usize,
    ) -> Result<Self, SignError> {
        if nonce_pool > MAX_CAPACITY {
            return Err(SignError::BadNoncePool(nonce_pool));
        }
        let mut buf = [0u8; 96];
        let decoded = B64.decode_slice(secret_b64.trim().as_bytes(), &mut buf);
        let result = match decoded {
            Err(_) => Err(SignError::BadSecret(
                "not valid base64 (or longer than 64 bytes)",
            )),
            Ok(n) if n != 32 && n != 64 => Err(SignError::BadSecret(
                "expected a base64 32-byte ED25519 seed",
            )),
            Ok(n) => {
                let mut seed = [0u8; 32];
                seed.copy_from_slice(&buf[..32]);
                let key = Ed25519KeyPair::from_seed_unchecked(&seed);
                let result = match key {
                    Err(_) => Err(SignError::BadSecret("not a usable ED25519 seed")),
                    Ok(key) => {
                        let public: &[u8] = key.public_key().as_ref();
                        if n == 64 && buf[32..64] != *public {
                            Err(SignError::BadSecret(
                                "64-byte secret whose second half is not the seed's public key",
                            ))
                        } else {
                            let api_key_b64 = B64.encode(public);
                            start_pool(&seed, public, nonce_pool).map(|nonces| BackpackSigner {
                                api_key_b64,
                                key,
                                broker_id,
                                nonces,
                                fallbacks: Default::default(),
                            })
                        }
                    }
                };
                wipe(&mut seed);
                result
            }
        };
        wipe(&mut buf);
        result
    }

    pub fn api_key_b64(&self) -> &str {
        &self.api_key_b64
    }

    pub fn broker_id(&self) -> Option<u16> {
        self.broker_id
    }

    /// ED25519 over `msg`, base64: with a pooled nonce when one is ready, else deterministic (RFC 8032).
    pub fn sign_bytes_b64(&self, msg: &[u8]) -> String {
        if let Some(sig) = self.nonces.as_ref().and_then(|p| p.sign(msg)) {
            return B64.encode(sig);
        }
        self.fallbacks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        B64.encode(self.key.sign(msg).as_ref())
    }

    /// Nonce pool counters (capacity 0 and every signature a fallback when the pool is off).
    pub fn nonce_pool_stats(&self) -> NoncePoolStats {
        NoncePoolStats {
            capacity: self.nonces.as_ref().map_or(0, NoncePool::capacity),
            available: self.nonces.as_ref().map_or(0, NoncePool::available),
            presigned: self.nonces.as_ref().map_or(0, NoncePool::presigned),
            fallbacks: self.fallbacks.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// One request: `params` in any order (sorted here). `body` is the JSON object of the same params.
    pub fn sign_request(
        &self,
        instruction: &str,
        params: &mut Params<'_>,
        timestamp_ms: u64,
        window_ms: u64,
    ) -> Result<Signed, SignError> {
        check_window(window_ms)?;
        sort_params(params)?;
        let mut s = String::with_capacity(64 + params.len() * 24);
        let mut body = Vec::with_capacity(16 + params.len() * 28);
        s.push_str("instruction=");
        s.push_str(instruction);
        write_params(&mut s, params);
        write_json_object(&mut body, params);
        finish(&mut s, timestamp_ms, window_ms);
        let signature_b64 = self.sign_bytes_b64(s.as_bytes());
        Ok(Signed {
            signing_string: s,
            signature_b64,
            body,
        })
    }

    /// A batch of orders (`POST /api/v1/orders`): one signature over every order, a JSON array body.
    pub fn sign_batch(
        &self,
        orders: &mut [Params<'_>],
        timestamp_ms: u64,
        window_ms: u64,
    ) -> Result<Signed, SignError> {
        check_window(window_ms)?;
        if orders.is_empty() {
            return Err(SignError::EmptyBatch);
        }
        let mut s = String::with_capacity(orders.len() * 160);
        let mut body = Vec::with_capacity(orders.len() * 160);
        body.push(b'[');
        for (i, params) in orders.iter_mut().enumerate() {
            sort_params(params)?;
            if i > 0 {
                s.push('&');
                body.push(b',');
            }
            s.push_str("instruction=orderExecute");
            write_params(&mut s, params);
            write_json_object(&mut body, params);
        }
        body.push(b']');
        finish(&mut s, timestamp_ms, window_ms);
        let signature_b64 = self.sign_bytes_b64(s.as_bytes());
        Ok(Signed {
            signing_string: s,
            signature_b64,
            body,
        })
    }

    /// Private WebSocket subscription: the signed string is `instruction=subscribe&timestamp=..&window=..`
    /// (stream names are not part of it). Returns the signature.
    pub fn subscribe_signature(
        &self,
        timestamp_ms: u64,
        window_ms: u64,
    ) -> Result<String, SignError> {
        check_window(window_ms)?;
        let mut s = String::with_capacity(64);
        s.push_str("instruction=subscribe");
        finish(&mut s, timestamp_ms, window_ms);
        Ok(self.sign_bytes_b64(s.as_bytes()))
    }
}

fn start_pool(
    seed: &[u8; 32],
    public: &[u8],
    capacity: usize,
) -> Result<Option<NoncePool>, SignError> {
    if capacity == 0 {
        return Ok(None);
    }
    let public: &[u8; 32] = public
        .try_into()
        .map_err(|_| SignError::NoncePoolStart("public key is not 32 bytes".into()))?;
    let key = ExpandedKey::from_seed(seed, public).ok_or_else(|| {
        SignError::NoncePoolStart("the expanded key does not match the public key".into())
    })?;
    NoncePool::start(key, capacity)
        .map(Some)
        .map_err(|e| SignError::NoncePoolStart(e.to_string()))
}

fn check_window(window_ms: u64) -> Result<(), SignError> {
    if window_ms == 0 || window_ms > MAX_WINDOW_MS {
        return Err(SignError::BadWindow(window_ms));
    }
    Ok(())
}

/// Sort by key (byte order, as the SDKs' `sorted()` does) and refuse a key given twice.
fn sort_params(params: &mut Params<'_>) -> Result<(), SignError> {
    params.sort_unstable_by(|a, b| a.0.cmp(b.0));
    if let Some(w) = params.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(SignError::DuplicateKey(w[0].0.to_owned()));
    }
    Ok(())
}

fn write_params(s: &mut String, params: &Params<'_>) {
    for (k, v) in params.iter() {
        s.push('&');
        s.push_str(k);
        s.push('=');
        match v {
            ParamValue::Str(t) => s.push_str(t),
            ParamValue::Int(n) => {
                let _ = write!(s, "{n}");
            }
            ParamValue::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        }
    }
}

fn finish(s: &mut String, timestamp_ms: u64, window_ms: u64) {
    let _ = write!(s, "&timestamp={timestamp_ms}&window={window_ms}");
}

fn write_json_object(out: &mut Vec<u8>, params: &Params<'_>) {
    out.push(b'{');
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, k);
        out.push(b':');
        match v {
            ParamValue::Str(t) => write_json_str(out, t),
            ParamValue::Int(n) => {
                let _ = std::io::Write::write_fmt(out, format_args!("{n}"));
            }
            ParamValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        }
    }
    out.push(b'}');
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Fast path: order fields are plain ASCII with nothing to escape.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // serde_json escapes exactly as JSON requires; writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Percent-encode a query component (RFC 3986 unreserved characters pass through).
pub fn percent_encode(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Query string of sorted params (`k=v&...`, percent-encoded), for GET requests.
pub fn query_string(params: &Params<'_>) -> String {
    let mut q = String::with_capacity(params.len() * 24);
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            q.push('&');
        }
        percent_encode(&mut q, k);
        q.push('=');
        match v {
            ParamValue::Str(t) => percent_encode(&mut q, t),
            ParamValue::Int(n) => {
                let _ = write!(q, "{n}");
            }
            ParamValue::Bool(b) => q.push_str(if *b { "true" } else { "false" }),
        }
    }
    q
}

/// GET endpoints and their instructions (backpack.md section 2.6).
pub const QUERY_INSTRUCTIONS: &[(&str, &str)] = &[
    ("/api/v1/account", "accountQuery"),
    ("/api/v1/account/limits/order", "maxOrderQuantity"),
    ("/api/v1/account/limits/borrow", "maxBorrowQuantity"),
    ("/api/v1/account/limits/withdrawal", "maxWithdrawalQuantity"),
    ("/api/v1/capital", "balanceQuery"),
    ("/api/v1/capital/collateral", "collateralQuery"),
    ("/api/v1/position", "positionQuery"),
    ("/api/v1/order", "orderQuery"),
    ("/api/v1/orders", "orderQueryAll"),
    ("/wapi/v1/history/orders", "orderHistoryQueryAll"),
    ("/wapi/v1/history/fills", "fillHistoryQueryAll"),
    ("/wapi/v1/history/funding", "fundingHistoryQueryAll"),
    ("/wapi/v1/history/settlement", "settlementHistoryQueryAll"),
    ("/wapi/v1/history/position", "positionHistoryQueryAll"),
    ("/wapi/v1/capital/deposits", "depositQueryAll"),
    ("/wapi/v1/capital/withdrawals", "withdrawalQueryAll"),
    ("/wapi/v1/capital/deposit/address", "depositAddressQuery"),
];

pub fn query_instruction(path: &str) -> Option<&'static str> {
    QUERY_INSTRUCTIONS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, i)| *i)
}

#[cfg(test)]
mod tests {
    use super::*;

    // backpack.md section 2.7: seed 0x01..0x20.
    const SECRET: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    const API_KEY: &str = "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=";

    fn signer() -> BackpackSigner {
        BackpackSigner::new(SECRET, None).unwrap()
    }

    #[test]
    fn public_key_from_seed() {
        assert_eq!(signer().api_key_b64(), API_KEY);
    }

    #[test]
    fn worked_example_cancel() {
        let mut p: Params = vec![
            ("symbol", ParamValue::Str("BTC_USDT")),
            ("orderId", ParamValue::Int(28)),
        ];
        let s = signer()
            .sign_request("orderCancel", &mut p, 1_614_550_000_000, 5000)
            .unwrap();
        assert_eq!(s.signing_string, "instruction=orderCancel&orderId=28&symbol=BTC_USDT&timestamp=1614550000000&window=5000");
        assert_eq!(s.signature_b64, "E7UijHVsR5NAdTGNA8aOPfAGdwe6Qu5oVcEJPNdG8Kx9HxV2pX+U3IsodvFn1MUHh0CuD+AhMMnJJvtPEat9DA==");
        assert_eq!(s.body, br#"{"orderId":28,"symbol":"BTC_USDT"}"#);
    }

    #[test]
    fn worked_example_batch() {
        let order = |px: &'static str, q: &'static str| -> Params<'static> {
            vec![
                ("symbol", ParamValue::Str("SOL_USDC_PERP")),
                ("side", ParamValue::Str("Bid")),
                ("orderType", ParamValue::Str("Limit")),
                ("price", ParamValue::Str(px)),
                ("quantity", ParamValue::Str(q)),
            ]
        };
        let mut orders = vec![order("141", "12"), order("140", "11")];
        let s = signer()
            .sign_batch(&mut orders, 1_750_793_021_519, 5000)
            .unwrap();
        assert_eq!(s.signature_b64, "dossw5xxpYslAw1BgSEqBEom/n5ESR5aNNX5Q4It1+gMA6tNL6YkDT7eVy2jILl0/i/DDDJQlEYYT8vaCyakCg==");
        assert!(s
            .body
            .starts_with(br#"[{"orderType":"Limit","price":"141""#));
    }

    #[test]
    fn no_params_and_subscribe() {
        let s = signer()
            .sign_request("balanceQuery", &mut vec![], 1_750_793_021_519, 5000)
            .unwrap();
        assert_eq!(
            s.signing_string,
            "instruction=balanceQuery&timestamp=1750793021519&window=5000"
        );
        assert_eq!(s.signature_b64, "W302ikmg6UH6ISPnjHZbmef/YWmsUfEWl9nav+EMtqsLmWlZpfcjA7DPUWIeI8eQhgFPPJOy0wB4DS3puswnDg==");
        assert_eq!(
            signer().subscribe_signature(1_750_793_021_519, 5000).unwrap(),
            "J0ESphheEEryXBb6x0mMX+9icsbyx2uSgVtAajlKI5YAAGAjmyc0Lq4qoyfcqIW+yygW0aKzq+Zn3/jVI3aCDw=="
        );
    }

    #[test]
    fn bad_secrets_and_windows() {
        assert!(matches!(
            BackpackSigner::new("not base64!", None),
            Err(SignError::BadSecret(_))
        ));
        assert!(matches!(
            BackpackSigner::new("AQID", None),
            Err(SignError::BadSecret(_))
        ));
        let err = BackpackSigner::new("AQID", None).unwrap_err().to_string();
        assert!(!err.contains("AQID"));
        assert_eq!(
            signer().subscribe_signature(1, 60_001),
            Err(SignError::BadWindow(60_001))
        );
        let mut dup: Params = vec![("a", ParamValue::Int(1)), ("a", ParamValue::Int(2))];
        assert!(matches!(
            signer().sign_request("x", &mut dup, 1, 5000),
            Err(SignError::DuplicateKey(_))
        ));
    }

    #[test]
    fn json_escaping_and_query() {
        let mut p: Params = vec![
            ("note", ParamValue::Str("a\"b\\c")),
            ("flag", ParamValue::Bool(false)),
        ];
        let s = signer().sign_request("x", &mut p, 1, 5000).unwrap();
        assert_eq!(s.body, br#"{"flag":false,"note":"a\"b\\c"}"#);
        assert_eq!(query_string(&p), "flag=false&note=a%22b%5Cc");
        assert_eq!(query_instruction("/api/v1/orders"), Some("orderQueryAll"));
    }

    fn verify(s: &BackpackSigner, msg: &[u8], sig_b64: &str) -> bool {
        let vk: [u8; 32] = B64.decode(s.api_key_b64()).unwrap().try_into().unwrap();
        let sig: [u8; 64] = B64.decode(sig_b64).unwrap().try_into().unwrap();
        ed25519_dalek::VerifyingKey::from_bytes(&vk)
            .unwrap()
            .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok()
    }

    fn wait_full(s: &BackpackSigner) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while s.nonce_pool_stats().available < s.nonce_pool_stats().capacity {
            assert!(std::time::Instant::now() < deadline, "pool did not fill");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn pooled_signer_signs_each_request_with_a_fresh_nonce() {
        let s = BackpackSigner::with_nonce_pool(SECRET, None, 8).unwrap();
        wait_full(&s);
        let mut p: Params = vec![("orderId", ParamValue::Int(28))];
        let a = s.sign_request("orderCancel", &mut p, 1, 5000).unwrap();
        let b = s.sign_request("orderCancel", &mut p, 1, 5000).unwrap();
        assert_eq!(a.signing_string, b.signing_string);
        assert_ne!(a.signature_b64[..43], b.signature_b64[..43], "R repeated");
        assert!(verify(&s, a.signing_string.as_bytes(), &a.signature_b64));
        assert!(verify(&s, b.signing_string.as_bytes(), &b.signature_b64));
        let sub = s.subscribe_signature(1, 5000).unwrap();
        assert!(verify(&s, b"instruction=subscribe&timestamp=1&window=5000", &sub));
        let st = s.nonce_pool_stats();
        assert_eq!((st.capacity, st.presigned, st.fallbacks), (8, 3, 0));
    }

    #[test]
    fn exhausted_pool_falls_back_to_rfc8032() {
        use ed25519_dalek::Signer as _;
        let s = BackpackSigner::with_nonce_pool(SECRET, None, 2).unwrap();
        wait_full(&s);
        let seed: [u8; 32] = B64.decode(SECRET).unwrap().try_into().unwrap();
        let dalek = ed25519_dalek::SigningKey::from_bytes(&seed);
        // Signing is ~10x faster than refilling: a tight loop drains the pool (bounded), then check.
        let mut sigs = Vec::new();
        while sigs.len() < 100_000 && (sigs.len() < 50 || s.nonce_pool_stats().fallbacks == 0) {
            let msg = (sigs.len() as u32).to_le_bytes();
            sigs.push((msg, s.sign_bytes_b64(&msg)));
        }
        let mut deterministic = 0;
        for (msg, sig) in &sigs {
            assert!(verify(&s, msg, sig));
            if *sig == B64.encode(dalek.sign(msg).to_bytes()) {
                deterministic += 1;
            }
        }
        let st = s.nonce_pool_stats();
        assert_eq!(st.presigned + st.fallbacks, sigs.len() as u64);
        assert!(st.presigned >= 2 && st.fallbacks > 0, "{st:?}");
        assert_eq!(deterministic, st.fallbacks, "every fallback is the RFC 8032 signature");
    }

    #[test]
    fn pool_off_counts_fallbacks_and_bad_capacity_is_refused() {
        let s = signer();
        s.sign_bytes_b64(b"x");
        assert_eq!(
            s.nonce_pool_stats(),
            NoncePoolStats { capacity: 0, available: 0, presigned: 0, fallbacks: 1 }
        );
        let err = BackpackSigner::with_nonce_pool(SECRET, None, MAX_CAPACITY + 1).unwrap_err();
        assert_eq!(err, SignError::BadNoncePool(MAX_CAPACITY + 1));
        assert!(err.to_string().starts_with("nonce_pool"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Pooled signatures pass ed25519-dalek's strict verification for any seed and message.
        #[test]
        fn pooled_signature_verifies_strict(seed in proptest::array::uniform32(proptest::num::u8::ANY),
                                            msg in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let s = BackpackSigner::with_nonce_pool(&B64.encode(seed), None, 1).unwrap();
            wait_full(&s);
            let sig = s.sign_bytes_b64(&msg);
            proptest::prop_assert_eq!(s.nonce_pool_stats().presigned, 1);
            proptest::prop_assert!(verify(&s, &msg, &sig));
        }
    }

    proptest::proptest! {
        /// With the pool off (nonce_pool = 0) the signature equals ed25519-dalek's (hence libsodium's)
        /// deterministic one, byte for byte, for any seed and message.
        #[test]
        fn signature_matches_dalek(seed in proptest::array::uniform32(proptest::num::u8::ANY),
                                   msg in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            use ed25519_dalek::Signer as _;
            let s = BackpackSigner::with_nonce_pool(&B64.encode(seed), None, 0).unwrap();
            let dalek = ed25519_dalek::SigningKey::from_bytes(&seed);
            proptest::prop_assert_eq!(s.sign_bytes_b64(&msg), B64.encode(dalek.sign(&msg).to_bytes()));
            proptest::prop_assert_eq!(s.api_key_b64(), B64.encode(dalek.verifying_key().to_bytes()));
        }
    }
}
