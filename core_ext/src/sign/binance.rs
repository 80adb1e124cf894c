//! Binance USD-M request signing: HMAC-SHA256 over the exact transmitted parameter string.
//!
//! The venue rebuilds `totalParams` as the query string followed directly by the body (no `&` between
//! them) and compares `signature` (lowercase hex, the last parameter) with HMAC-SHA256(secret,
//! totalParams). So the signer writes the encoded string once, signs those very bytes and sends them:
//! nothing is re-encoded after signing. Every request carries `recvWindow` and `timestamp`; the
//! timestamp is the local clock plus the tracked offset to the server's clock (docs/venues/binance_usdm.md).

use std::fmt;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};

use aws_lc_rs::hmac;

/// Largest `recvWindow` the venue accepts (ms).
pub const MAX_RECV_WINDOW_MS: u64 = 60_000;
pub const DEFAULT_RECV_WINDOW_MS: u64 = 5_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignError {
    /// Never carries the secret itself.
    BadSecret(&'static str),
    BadRecvWindow(u64),
    /// A parameter the signer adds itself (`timestamp`, `recvWindow`, `signature`) was passed in.
    Reserved(String),
    EmptyName,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::BadSecret(why) => write!(f, "invalid Binance API secret: {why}"),
            SignError::BadRecvWindow(w) => {
                write!(f, "recv_window_ms must be 1..={MAX_RECV_WINDOW_MS} (got {w})")
            }
            SignError::Reserved(k) => write!(f, "parameter {k:?} is added by the signer; do not pass it"),
            SignError::EmptyName => write!(f, "a parameter name is empty"),
        }
    }
}

impl std::error::Error for SignError {}

/// RFC 3986 percent-encoding: unreserved characters as-is, every other byte as %XX (upper-case hex).
pub fn percent_encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// `k=v&k=v` with names and values percent-encoded, in the order given (the venue does not sort).
pub fn encode_params(params: &[(&str, &str)]) -> Result<String, SignError> {
    let mut out = String::with_capacity(16 * params.len() + 64);
    append_params(&mut out, 0, params)?;
    Ok(out)
}

/// Append `k=v` pairs to `out`, `&`-separated among themselves (not from the `start` bytes before them).
fn append_params(out: &mut String, start: usize, params: &[(&str, &str)]) -> Result<(), SignError> {
    for (k, v) in params {
        if k.is_empty() {
            return Err(SignError::EmptyName);
        }
        if matches!(*k, "timestamp" | "recvWindow" | "signature") {
            return Err(SignError::Reserved((*k).to_owned()));
        }
        if out.len() > start {
            out.push('&');
        }
        percent_encode_into(out, k);
        out.push('=');
        percent_encode_into(out, v);
    }
    Ok(())
}

/// Holds the HMAC key (never printed) and the offset of the server's clock to the local one.
pub struct BinanceSigner {
    key: hmac::Key,
    api_key: String,
    recv_window_ms: u64,
    offset_ms: AtomicI64,
}

impl fmt::Debug for BinanceSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BinanceSigner")
            .field("api_key", &mask(&self.api_key))
            .field("recv_window_ms", &self.recv_window_ms)
            .finish_non_exhaustive()
    }
}

/// The first 4 characters of a key and its length: enough to tell keys apart in logs, not to use one.
pub fn mask(key: &str) -> String {
    let head: String = key.chars().take(4).collect();
    format!("{head}...({} chars)", key.chars().count())
}

fn lower_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl BinanceSigner {
    pub fn new(api_key: &str, secret: &str, recv_window_ms: u64) -> Result<Self, SignError> {
        if secret.is_empty() {
            return Err(SignError::BadSecret("empty"));
        }
        if api_key.is_empty() {
            return Err(SignError::BadSecret("the API key is empty"));
        }
        check_window(recv_window_ms)?;
        Ok(BinanceSigner {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
            api_key: api_key.to_owned(),
            recv_window_ms,
            offset_ms: AtomicI64::new(0),
        })
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    pub fn recv_window_ms(&self) -> u64 {
        self.recv_window_ms
    }

    /// Server clock minus local clock (ms), added to every timestamp.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    pub fn set_offset_ms(&self, offset: i64) {
        self.offset_ms.store(offset, Ordering::Relaxed)
    }

    /// Lower-case hex HMAC-SHA256 of `payload` (the totalParams: query string then body).
    pub fn sign_hex(&self, payload: &[u8]) -> String {
        lower_hex(hmac::sign(&self.key, payload).as_ref())
    }

    /// The local time in ms shifted by the offset: the `timestamp` the venue will compare with its clock.
    pub fn timestamp_ms(&self, local_ms: u64) -> u64 {
        (local_ms as i64).saturating_add(self.offset_ms()).max(0) as u64
    }

    /// The whole signed parameter string: `<params>&recvWindow=<w>&timestamp=<ts>&signature=<hex>`.
    /// `prefix` is the part of totalParams sent elsewhere (the query string when these params go in the
    /// body): it is signed in front of them, not repeated in the output.
    pub fn signed(
        &self,
        prefix: &str,
        params: &[(&str, &str)],
        timestamp_ms: u64,
        recv_window_ms: Option<u64>,
    ) -> Result<String, SignError> {
        let window = recv_window_ms.unwrap_or(self.recv_window_ms);
        check_window(window)?;
        let mut out = String::with_capacity(prefix.len() + 24 * params.len() + 120);
        out.push_str(prefix);
        append_params(&mut out, prefix.len(), params)?;
        if out.len() > prefix.len() {
            out.push('&');
        }
        let _ = write!(out, "recvWindow={window}&timestamp={timestamp_ms}");
        let sig = self.sign_hex(out.as_bytes());
        out.push_str("&signature=");
        out.push_str(&sig);
        out.drain(..prefix.len());
        Ok(out)
    }
}

fn check_window(w: u64) -> Result<(), SignError> {
    if w == 0 || w > MAX_RECV_WINDOW_MS {
        return Err(SignError::BadRecvWindow(w));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const API_KEY: &str = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83";
    const SECRET: &str = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";

    /// The venue's documented worked example (USD-M General Info, "SIGNED endpoint examples").
    #[test]
    fn documented_example_byte_for_byte() {
        let s = BinanceSigner::new(API_KEY, SECRET, 5000).unwrap();
        let params = [
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("quantity", "1"),
            ("price", "9000"),
            ("timeInForce", "GTC"),
        ];
        let out = s.signed("", &params, 1591702613943, None).unwrap();
        assert_eq!(
            out,
            "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000\
             &timestamp=1591702613943&signature=3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
        );
    }

    /// Mixed query string and body: signed as their concatenation with no `&` between them (the
    /// documented second example: its signature starts 30baaf0f and ends e670a4).
    #[test]
    fn split_query_and_body_signs_the_concatenation() {
        let s = BinanceSigner::new(API_KEY, SECRET, 5000).unwrap();
        let query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC";
        let body = s.signed(query, &[("quantity", "1"), ("price", "9000")], 1591702613943, None).unwrap();
        let (params, sig) = body.split_once("&signature=").unwrap();
        assert_eq!(params, "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943");
        assert!(sig.starts_with("30baaf0f") && sig.ends_with("e670a4"), "{sig}");
        assert_eq!(sig, s.sign_hex(format!("{query}{params}").as_bytes()));
    }

    #[test]
    fn values_are_percent_encoded_and_reserved_names_refused() {
        let s = BinanceSigner::new("k", "s", 5000).unwrap();
        let out = s.signed("", &[("batchOrders", "[{\"a\":\"b c\"}]")], 1, Some(100)).unwrap();
        assert!(out.starts_with("batchOrders=%5B%7B%22a%22%3A%22b%20c%22%7D%5D&recvWindow=100&timestamp=1&signature="));
        assert_eq!(s.signed("", &[("timestamp", "1")], 1, None), Err(SignError::Reserved("timestamp".into())));
        assert_eq!(s.signed("", &[], 1, Some(60_001)), Err(SignError::BadRecvWindow(60_001)));
        assert!(s.signed("", &[], 1, None).unwrap().starts_with("recvWindow=5000&timestamp=1&signature="));
    }

    #[test]
    fn offset_shifts_the_timestamp_and_debug_hides_the_key() {
        let s = BinanceSigner::new(API_KEY, SECRET, 5000).unwrap();
        s.set_offset_ms(-250);
        assert_eq!(s.timestamp_ms(1_000), 750);
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(API_KEY) && !dbg.contains(SECRET), "{dbg}");
    }
}
