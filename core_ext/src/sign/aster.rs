//! Aster V3 request signing ("API wallet" / agent keys): an EIP-712 signature over the URL-encoded
//! parameter string (docs/venues/aster.md, "V3 authentication").
//!
//! Domain `EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)` =
//! {"AsterSignTransaction", "1", 1666 mainnet / 714 testnet, 0x0}; primary type `Message(string msg)` where
//! `msg` is the transmitted parameter string without `signature`: the business parameters in the order
//! given, then `nonce`, `user` and `signer`. The signature (65 bytes r‖s‖v, hex) is appended last, so the
//! bytes signed are the bytes sent: nothing is re-encoded after signing.
//!
//! Nonces are the (server-offset) clock in microseconds, strictly increasing per signer: two requests
//! in the same microsecond get consecutive values. The venue wants them within 10 s of its clock and
//! unique among the user's last 100; a restarted process starts from the clock again, past every nonce
//! the previous one used unless that one ran ahead of the clock (it only does while issuing more than one
//! request per microsecond), and `min_nonce` lets a caller carry a persisted high-water mark over.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use sha3::{Digest, Keccak256};

use super::eip712::{self, EthError, EthKey, EthSignature};

pub const CHAIN_ID_MAINNET: u64 = 1666;
pub const CHAIN_ID_TESTNET: u64 = 714;
/// How far a nonce may be from the venue's clock (µs).
pub const NONCE_WINDOW_US: u64 = 10_000_000;

const DOMAIN_TYPE: &[u8] =
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";
const MESSAGE_TYPE: &[u8] = b"Message(string msg)";
/// Parameters the signer adds itself.
pub const RESERVED: [&str; 4] = ["nonce", "user", "signer", "signature"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsterSignError {
    Eth(EthError),
    /// A parameter the signer adds itself was passed in.
    Reserved(String),
    EmptyName,
}

impl fmt::Display for AsterSignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsterSignError::Eth(EthError::BadKey(why)) => {
                write!(f, "invalid Aster API-wallet private key: {why}")
            }
            AsterSignError::Eth(EthError::BadAddress(why)) => {
                write!(f, "invalid Aster user address: {why}")
            }
            AsterSignError::Eth(e) => write!(f, "{e}"),
            AsterSignError::Reserved(k) => {
                write!(f, "parameter {k:?} is added by the signer; do not pass it")
            }
            AsterSignError::EmptyName => write!(f, "a parameter name is empty"),
        }
    }
}

impl std::error::Error for AsterSignError {}

impl From<EthError> for AsterSignError {
    fn from(e: EthError) -> Self {
        AsterSignError::Eth(e)
    }
}

/// The domain separator for a chain id.
pub fn domain_separator(chain_id: u64) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(eip712::keccak(DOMAIN_TYPE));
    h.update(eip712::keccak(b"AsterSignTransaction"));
    h.update(eip712::keccak(b"1"));
    h.update(eip712::word_u64(chain_id));
    h.update([0u8; 32]); // verifyingContract = 0x0
    h.finalize().into()
}

/// Precomputed domain separator and type hash: one message costs two keccaks and the outer digest.
#[derive(Clone, Debug)]
pub struct MessageHasher {
    chain_id: u64,
    domain: [u8; 32],
    message_type: [u8; 32],
}

impl MessageHasher {
    pub fn new(chain_id: u64) -> Self {
        MessageHasher {
            chain_id,
            domain: domain_separator(chain_id),
            message_type: eip712::keccak(MESSAGE_TYPE),
        }
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The EIP-712 digest of `Message{msg}`.
    pub fn digest(&self, msg: &[u8]) -> [u8; 32] {
        let mut h = Keccak256::new();
        h.update(self.message_type);
        h.update(eip712::keccak(msg));
        let struct_hash: [u8; 32] = h.finalize().into();
        eip712::typed_data_digest(&self.domain, &struct_hash)
    }
}

/// Form encoding as Python's `urllib.parse.urlencode` (the official samples): unreserved characters
/// as-is, space as `+`, every other byte as %XX.
pub fn form_encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// The signer's nonce clock: microseconds, never repeating, never going back.
#[derive(Debug, Default)]
pub struct NonceClock {
    last: AtomicU64,
    offset_us: AtomicI64,
}

impl NonceClock {
    pub fn new(min_nonce: u64) -> Self {
        NonceClock {
            last: AtomicU64::new(min_nonce),
            offset_us: AtomicI64::new(0),
        }
    }

    pub fn offset_us(&self) -> i64 {
        self.offset_us.load(Ordering::Relaxed)
    }

    pub fn set_offset_us(&self, v: i64) {
        self.offset_us.store(v, Ordering::Relaxed)
    }

    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }

    /// The next nonce for a local clock reading (µs): the server-offset clock, or one past the last
    /// nonce when the clock has not moved on.
    pub fn next(&self, local_us: u64) -> u64 {
        let now = (local_us as i64).saturating_add(self.offset_us()).max(0) as u64;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let n = now.max(last.saturating_add(1));
            match self
                .last
                .compare_exchange_weak(last, n, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return n,
                Err(seen) => last = seen,
            }
        }
    }
}

/// Options the venue has not settled (docs/venues/aster.md, UNCONFIRMED), with the documented default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsterSignOptions {
    /// Send `user` (the main wallet) with every request: the sub-account and noop examples do.
    pub include_user: bool,
    /// Prefix the signature hex with `0x` (today's eth-account prints it without).
    pub signature_0x: bool,
}

impl Default for AsterSignOptions {
    fn default() -> Self {
        AsterSignOptions {
            include_user: true,
            signature_0x: false,
        }
    }
}

/// An API wallet's signer for one main-wallet `user`.
pub struct AsterSigner {
    key: EthKey,
    signer: String,
    user: String,
    hasher: MessageHasher,
    options: AsterSignOptions,
    pub nonces: NonceClock,
}

impl fmt::Debug for AsterSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AsterSigner(signer={}, user={}, chain_id={})",
            self.signer,
            self.user,
            self.hasher.chain_id()
        )
    }
}

impl AsterSigner {
    /// `private_key_hex`: the API wallet's key; `user`: the main wallet's address (`0x` + 40 hex).
    pub fn new(
        private_key_hex: &str,
        user: &str,
        chain_id: u64,
        options: AsterSignOptions,
        min_nonce: u64,
    ) -> Result<Self, AsterSignError> {
        let key = EthKey::from_hex(private_key_hex)?;
        let user = eip712::checksum_address(&eip712::parse_address(user)?);
        Ok(AsterSigner {
            signer: eip712::checksum_address(&key.address()),
            key,
            user,
            hasher: MessageHasher::new(chain_id),
            options,
            nonces: NonceClock::new(min_nonce),
        })
    }

    /// The API wallet's checksummed address (the `signer` parameter).
    pub fn signer(&self) -> &str {
        &self.signer
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn chain_id(&self) -> u64 {
        self.hasher.chain_id()
    }

    pub fn options(&self) -> AsterSignOptions {
        self.options
    }

    pub fn hasher(&self) -> &MessageHasher {
        &self.hasher
    }

    /// Sign a message string as it will be transmitted.
    pub fn sign_message(&self, msg: &[u8]) -> Result<EthSignature, AsterSignError> {
        Ok(self.key.sign_digest(&self.hasher.digest(msg))?)
    }

    /// `<params>&nonce=<n>&user=<u>&signer=<s>&signature=<hex>`: the string to send (query or body).
    pub fn signed(&self, params: &[(&str, &str)], nonce: u64) -> Result<String, AsterSignError> {
        let mut out = String::with_capacity(24 * params.len() + 260);
        for (k, v) in params {
            if k.is_empty() {
                return Err(AsterSignError::EmptyName);
            }
            if RESERVED.contains(k) {
                return Err(AsterSignError::Reserved((*k).to_owned()));
            }
            if !out.is_empty() {
                out.push('&');
            }
            form_encode_into(&mut out, k);
            out.push('=');
            form_encode_into(&mut out, v);
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str("nonce=");
        out.push_str(&nonce.to_string());
        if self.options.include_user {
            out.push_str("&user=");
            out.push_str(&self.user);
        }
        out.push_str("&signer=");
        out.push_str(&self.signer);
        let sig = self.sign_message(out.as_bytes())?;
        out.push_str(if self.options.signature_0x {
            "&signature=0x"
        } else {
            "&signature="
        });
        out.push_str(&eip712::lower_hex(&sig.to_bytes()));
        Ok(out)
    }
}

/// The address that signed `msg` under the chain id, from the hex signature (with or without `0x`).
pub fn recover_signer(
    chain_id: u64,
    msg: &[u8],
    signature_hex: &str,
) -> Result<[u8; 20], EthError> {
    let sig = EthSignature::from_hex(signature_hex)?;
    eip712::recover_address(&MessageHasher::new(chain_id).digest(msg), &sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The official V3 doc's demonstration API wallet and its documented address.
    const DEMO_KEY: &str = "0x4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bae1";
    const DEMO_SIGNER: &str = "0x21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0";
    const DEMO_USER: &str = "0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e";
    const DEMO_MSG: &str = "symbol=ASTERUSDT&type=LIMIT&side=BUY&timeInForce=GTC&quantity=20&price=0.5&nonce=1748310859508867&signer=0x21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0";

    #[test]
    fn demo_key_signs_like_eth_account() {
        // Signatures of the doc's order message by eth-account (tests/core/test_aster_signer.py re-derives them).
        let s = AsterSigner::new(
            DEMO_KEY,
            DEMO_USER,
            CHAIN_ID_MAINNET,
            AsterSignOptions::default(),
            0,
        )
        .unwrap();
        assert_eq!(s.signer(), DEMO_SIGNER);
        let sig = s.sign_message(DEMO_MSG.as_bytes()).unwrap();
        assert_eq!(
            eip712::lower_hex(&sig.to_bytes()),
            "d82a6784f5eff00b95ecb88145cf7a5fa6803ea6f67e0217262073da628750a742bb3ba555af418320e55029afe358957808d4f810d73ea663d9c91852cd6d941c"
        );
        let t = AsterSigner::new(
            DEMO_KEY,
            DEMO_USER,
            CHAIN_ID_TESTNET,
            AsterSignOptions::default(),
            0,
        )
        .unwrap();
        let sig = t.sign_message(DEMO_MSG.as_bytes()).unwrap();
        assert_eq!(
            eip712::lower_hex(&sig.to_bytes()),
            "798abbc1eb6244bdf530e3890383494679aecf574a0d65cd79ed48b151df2e182cafc9a2b055701c9c0dbc091898f6c3eae29307ca554f3ab97c8b860de35bef1c"
        );
        let hex = eip712::lower_hex(&sig.to_bytes());
        let who = recover_signer(CHAIN_ID_TESTNET, DEMO_MSG.as_bytes(), &hex).unwrap();
        assert_eq!(eip712::checksum_address(&who), DEMO_SIGNER);
        // the other chain's domain recovers someone else
        let other = recover_signer(CHAIN_ID_MAINNET, DEMO_MSG.as_bytes(), &hex).unwrap();
        assert_ne!(eip712::checksum_address(&other), DEMO_SIGNER);
    }

    #[test]
    fn signed_string_is_the_message_then_its_signature() {
        let s = AsterSigner::new(
            DEMO_KEY,
            DEMO_USER,
            CHAIN_ID_MAINNET,
            AsterSignOptions::default(),
            0,
        )
        .unwrap();
        let out = s
            .signed(
                &[("symbol", "BTCUSDT"), ("list", "[\"a b\"]")],
                1_700_000_000_000_001,
            )
            .unwrap();
        let (msg, sig) = out.split_once("&signature=").unwrap();
        assert_eq!(
            msg,
            format!("symbol=BTCUSDT&list=%5B%22a+b%22%5D&nonce=1700000000000001&user={DEMO_USER}&signer={DEMO_SIGNER}")
        );
        assert_eq!(sig.len(), 130);
        let who = recover_signer(CHAIN_ID_MAINNET, msg.as_bytes(), sig).unwrap();
        assert_eq!(eip712::checksum_address(&who), DEMO_SIGNER);
        assert_eq!(
            s.signed(&[("nonce", "1")], 1),
            Err(AsterSignError::Reserved("nonce".into()))
        );
        assert_eq!(s.signed(&[("", "1")], 1), Err(AsterSignError::EmptyName));
        let o = AsterSignOptions {
            include_user: false,
            signature_0x: true,
        };
        let s = AsterSigner::new(DEMO_KEY, DEMO_USER, CHAIN_ID_MAINNET, o, 0).unwrap();
        let out = s.signed(&[], 5).unwrap();
        assert!(
            out.starts_with(&format!("nonce=5&signer={DEMO_SIGNER}&signature=0x")),
            "{out}"
        );
        assert!(!format!("{s:?}").contains("4fd0a422"));
    }

    #[test]
    fn nonces_follow_the_clock_and_never_repeat() {
        let c = NonceClock::new(0);
        assert_eq!(c.next(1_000), 1_000);
        assert_eq!(c.next(1_000), 1_001);
        assert_eq!(c.next(999), 1_002); // a clock step back does not go back
        assert_eq!(c.next(5_000), 5_000);
        c.set_offset_us(-2_000);
        assert_eq!(c.next(8_000), 6_000);
        let floor = NonceClock::new(10_000);
        assert_eq!(floor.next(1), 10_001);
    }

    proptest::proptest! {
        #[test]
        fn concurrent_nonces_are_unique(start in 0u64..1u64 << 60) {
            let c = std::sync::Arc::new(NonceClock::new(0));
            let handles: Vec<_> = (0..4).map(|_| {
                let c = c.clone();
                std::thread::spawn(move || (0..200).map(|i| c.next(start + i / 3)).collect::<Vec<_>>())
            }).collect();
            let mut all: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
            let n = all.len();
            all.sort_unstable();
            all.dedup();
            proptest::prop_assert_eq!(all.len(), n);
        }
    }
}
