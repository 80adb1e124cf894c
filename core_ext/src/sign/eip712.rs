//! EIP-712 and Ethereum-style secp256k1 signing shared by the venues that sign typed data (GRVT orders,
//! Aster V3 requests): keccak-256, the typed-data digest, a private key with its address, recoverable
//! ECDSA signatures (RFC 6979 nonces, low-S, v = 27/28) and address recovery for the simulator.

use std::fmt;

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use sha3::{Digest, Keccak256};
use zeroize::Zeroize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EthError {
    /// The private key is not 32 bytes of hex or not a valid secp256k1 scalar. Never carries the key.
    BadKey(&'static str),
    BadSignature(&'static str),
    BadAddress(&'static str),
}

impl fmt::Display for EthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EthError::BadKey(why) => write!(f, "invalid private key: {why}"),
            EthError::BadSignature(why) => write!(f, "invalid signature: {why}"),
            EthError::BadAddress(why) => write!(f, "invalid address: {why}"),
        }
    }
}

impl std::error::Error for EthError {}

/// r, s (big-endian) and v (27 or 28).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthSignature {
    pub r: [u8; 32],
    pub s: [u8; 32],
    pub v: u8,
}

impl EthSignature {
    /// The 65 bytes r‖s‖v.
    pub fn to_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..32].copy_from_slice(&self.r);
        out[32..64].copy_from_slice(&self.s);
        out[64] = self.v;
        out
    }

    /// From 130 hex characters (r‖s‖v), with or without `0x`.
    pub fn from_hex(text: &str) -> Result<Self, EthError> {
        let mut b = [0u8; 65];
        if !decode_hex(strip_0x(text), &mut b) {
            return Err(EthError::BadSignature("expected 65 bytes of hex"));
        }
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&b[..32]);
        s.copy_from_slice(&b[32..64]);
        Ok(EthSignature { r, s, v: b[64] })
    }
}

pub fn keccak(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// keccak256(0x19 0x01 ‖ domainSeparator ‖ hashStruct(message)): the digest an EIP-712 signature signs.
pub fn typed_data_digest(domain_separator: &[u8; 32], struct_hash: &[u8; 32]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update([0x19u8, 0x01]);
    h.update(domain_separator);
    h.update(struct_hash);
    h.finalize().into()
}

/// A uint256 ABI word holding `v`.
pub fn word_u64(v: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

/// An address as an ABI word (left-padded with zeros).
pub fn word_address(a: &[u8; 20]) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a);
    w
}

pub fn strip_0x(s: &str) -> &str {
    s.strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s)
}

/// Exactly `out.len()` bytes of hex (no prefix); false when `h` is anything else.
pub fn decode_hex(h: &str, out: &mut [u8]) -> bool {
    if h.len() != 2 * out.len() {
        return false;
    }
    for (i, chunk) in h.as_bytes().chunks(2).enumerate() {
        match ((chunk[0] as char).to_digit(16), (chunk[1] as char).to_digit(16)) {
            (Some(hi), Some(lo)) => out[i] = (hi * 16 + lo) as u8,
            _ => return false,
        }
    }
    true
}

pub fn lower_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// A 20-byte address from `0x` + 40 hex characters (any case; the checksum is not enforced).
pub fn parse_address(s: &str) -> Result<[u8; 20], EthError> {
    let mut a = [0u8; 20];
    if !decode_hex(strip_0x(s.trim()), &mut a) {
        return Err(EthError::BadAddress("expected 0x + 40 hex characters"));
    }
    Ok(a)
}

/// EIP-55 mixed-case checksum address.
pub fn checksum_address(addr: &[u8; 20]) -> String {
    let lower = lower_hex(addr);
    let hash = keccak(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.bytes().enumerate() {
        let nib = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 15;
        out.push(if c.is_ascii_alphabetic() && nib >= 8 {
            c.to_ascii_uppercase() as char
        } else {
            c as char
        });
    }
    out
}

pub fn address_of(key: &VerifyingKey) -> [u8; 20] {
    let point = key.to_encoded_point(false);
    let h = keccak(&point.as_bytes()[1..]);
    let mut a = [0u8; 20];
    a.copy_from_slice(&h[12..]);
    a
}

/// Recover the address that signed `digest` (v 27/28 or 0/1). Refuses high-S signatures (EIP-2).
pub fn recover_address(digest: &[u8; 32], sig: &EthSignature) -> Result<[u8; 20], EthError> {
    let v = match sig.v {
        27 | 28 => sig.v - 27,
        0 | 1 => sig.v,
        _ => return Err(EthError::BadSignature("v must be 27 or 28")),
    };
    let signature = Signature::from_scalars(sig.r, sig.s)
        .map_err(|_| EthError::BadSignature("r or s out of range"))?;
    if signature.normalize_s().is_some() {
        return Err(EthError::BadSignature(
            "s must be in the lower half of the curve order",
        ));
    }
    let recid = RecoveryId::from_byte(v).ok_or(EthError::BadSignature("bad recovery id"))?;
    let key = VerifyingKey::recover_from_prehash(digest, &signature, recid)
        .map_err(|_| EthError::BadSignature("does not recover to a public key"))?;
    Ok(address_of(&key))
}

/// A secp256k1 private key and its address. The key lives only inside `SigningKey` (zeroized on drop).
pub struct EthKey {
    key: SigningKey,
    address: [u8; 20],
}

impl fmt::Debug for EthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EthKey(address={})", checksum_address(&self.address))
    }
}

impl EthKey {
    /// `private_key_hex`: 32 bytes as hex, with or without `0x`.
    pub fn from_hex(private_key_hex: &str) -> Result<Self, EthError> {
        let h = strip_0x(private_key_hex.trim());
        if h.len() != 64 {
            return Err(EthError::BadKey("expected 64 hex characters"));
        }
        let mut bytes = [0u8; 32];
        if !decode_hex(h, &mut bytes) {
            bytes.zeroize();
            return Err(EthError::BadKey("not hex"));
        }
        let key = SigningKey::from_bytes(&bytes.into());
        bytes.zeroize();
        let key = key.map_err(|_| EthError::BadKey("not a valid secp256k1 scalar"))?;
        let address = address_of(key.verifying_key());
        Ok(EthKey { key, address })
    }

    pub fn address(&self) -> [u8; 20] {
        self.address
    }

    /// Recoverable ECDSA over a 32-byte digest: deterministic (RFC 6979) and low-S, as eth-account signs.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Result<EthSignature, EthError> {
        let (sig, recid) = self
            .key
            .sign_prehash_recoverable(digest)
            .map_err(|_| EthError::BadSignature("signing failed"))?;
        let (r, s) = sig.split_bytes();
        Ok(EthSignature {
            r: r.into(),
            s: s.into(),
            v: 27 + recid.to_byte(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_and_hex_round_trips() {
        let a = parse_address("0x21cf8ae13bb72632562c6fff438652ba1a151bb0").unwrap();
        assert_eq!(
            checksum_address(&a),
            "0x21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0"
        );
        assert!(parse_address("0x21cf").is_err());
        assert!(parse_address(&format!("0x{}", "g".repeat(40))).is_err());
        let sig = EthSignature {
            r: [1; 32],
            s: [2; 32],
            v: 28,
        };
        let hex = lower_hex(&sig.to_bytes());
        assert_eq!(EthSignature::from_hex(&hex).unwrap(), sig);
        assert_eq!(EthSignature::from_hex(&format!("0x{hex}")).unwrap(), sig);
        assert!(EthSignature::from_hex(&hex[2..]).is_err());
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        for bad in ["", "zz", &"g".repeat(64), &"0".repeat(64)] {
            assert!(matches!(EthKey::from_hex(bad), Err(EthError::BadKey(_))));
        }
        let e = EthKey::from_hex(&"1".repeat(63)).unwrap_err().to_string();
        assert!(!e.contains("1111"));
    }
}
