//! GRVT order signing: the EIP-712 typed-data digest of an order, signed with the API key's secp256k1
//! key (recoverable ECDSA, RFC 6979 nonces, low-S), and the reverse (recover the signer's address) for the
//! simulator's verification.
//!
//! Domain `EIP712Domain(string name,string version,uint256 chainId)` = {"GRVT Exchange", "0", 325 on
//! mainnet, 326 on testnet}; primary type
//! `Order(uint64 subAccountID,bool isMarket,uint8 timeInForce,bool postOnly,bool reduceOnly,OrderLeg[] legs,
//! uint32 nonce,int64 expiration)` with `OrderLeg(uint256 assetID,uint64 contractSize,uint64 limitPrice,
//! bool isBuyingContract)` (docs/venues/grvt.md, "Order signing"). The digest is
//! keccak256(0x19 0x01 || domainSeparator || hashStruct(order)); signatures are the same bytes the
//! official SDK (eth-account) produces for the same key and order.

use std::fmt;

use sha3::{Digest, Keccak256};

pub use super::eip712::{checksum_address, keccak};
use super::eip712::{self, EthError, EthKey};

pub const CHAIN_ID_MAINNET: u64 = 325;
pub const CHAIN_ID_TESTNET: u64 = 326;
/// Longest signature lifetime the venue accepts (30 days, reject reason EXCEED_MAX_SIGNATURE_EXPIRATION).
pub const MAX_EXPIRATION_NS: i64 = 30 * 24 * 3600 * 1_000_000_000;
/// Price scale of `limitPrice` in the signed message (10^9).
pub const PRICE_DECIMALS: u32 = 9;

const DOMAIN_TYPE: &[u8] = b"EIP712Domain(string name,string version,uint256 chainId)";
const ORDER_TYPE: &[u8] = b"Order(uint64 subAccountID,bool isMarket,uint8 timeInForce,bool postOnly,bool reduceOnly,OrderLeg[] legs,uint32 nonce,int64 expiration)OrderLeg(uint256 assetID,uint64 contractSize,uint64 limitPrice,bool isBuyingContract)";
const LEG_TYPE: &[u8] =
    b"OrderLeg(uint256 assetID,uint64 contractSize,uint64 limitPrice,bool isBuyingContract)";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrvtSignError {
    /// The private key is not 32 bytes of hex or not a valid secp256k1 scalar. Never carries the key.
    BadKey(&'static str),
    /// An instrument hash that is not hex of at most 32 bytes.
    BadAssetId(String),
    BadTimeInForce(u8),
    NoLegs,
    BadSignature(&'static str),
}

impl fmt::Display for GrvtSignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrvtSignError::BadKey(why) => write!(f, "invalid GRVT private key: {why}"),
            GrvtSignError::BadAssetId(s) => {
                write!(f, "asset id {s:?} is not a hex instrument hash of at most 32 bytes")
            }
            GrvtSignError::BadTimeInForce(t) => {
                write!(f, "time_in_force must be 1 (GTT), 2 (AON), 3 (IOC) or 4 (FOK), got {t}")
            }
            GrvtSignError::NoLegs => write!(f, "an order needs at least one leg"),
            GrvtSignError::BadSignature(why) => write!(f, "invalid signature: {why}"),
        }
    }
}

impl std::error::Error for GrvtSignError {}

/// One leg as signed: integers already scaled (size by 10^base_decimals, price by 10^9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderLeg {
    pub asset_id: [u8; 32],
    pub contract_size: u64,
    pub limit_price: u64,
    pub is_buying: bool,
}

/// The signed fields of an order (metadata such as client_order_id is not signed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderMsg {
    pub sub_account_id: u64,
    pub is_market: bool,
    pub time_in_force: u8,
    pub post_only: bool,
    pub reduce_only: bool,
    pub legs: Vec<OrderLeg>,
    pub nonce: u32,
    pub expiration: i64,
}

/// r, s (big-endian) and v (27 or 28): the shared EIP-712 signature type.
pub type OrderSignature = eip712::EthSignature;

fn word_u64(v: u64) -> [u8; 32] {
    eip712::word_u64(v)
}

fn word_i64(v: i64) -> [u8; 32] {
    // ABI int64: two's complement, sign-extended to 256 bits.
    let mut w = if v < 0 { [0xffu8; 32] } else { [0u8; 32] };
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

fn word_bool(b: bool) -> [u8; 32] {
    word_u64(b as u64)
}

/// The domain separator for a chain id.
pub fn domain_separator(chain_id: u64) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(keccak(DOMAIN_TYPE));
    h.update(keccak(b"GRVT Exchange"));
    h.update(keccak(b"0"));
    h.update(word_u64(chain_id));
    h.finalize().into()
}

fn leg_hash(leg: &OrderLeg, leg_type: &[u8; 32]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(leg_type);
    h.update(leg.asset_id);
    h.update(word_u64(leg.contract_size));
    h.update(word_u64(leg.limit_price));
    h.update(word_bool(leg.is_buying));
    h.finalize().into()
}

/// Precomputed type hashes and domain separator: the per-order work is the struct hash and one signature.
#[derive(Clone, Debug)]
pub struct OrderHasher {
    chain_id: u64,
    domain: [u8; 32],
    order_type: [u8; 32],
    leg_type: [u8; 32],
}

impl OrderHasher {
    pub fn new(chain_id: u64) -> Self {
        OrderHasher {
            chain_id,
            domain: domain_separator(chain_id),
            order_type: keccak(ORDER_TYPE),
            leg_type: keccak(LEG_TYPE),
        }
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    pub fn struct_hash(&self, o: &OrderMsg) -> Result<[u8; 32], GrvtSignError> {
        if o.legs.is_empty() {
            return Err(GrvtSignError::NoLegs);
        }
        if !(1..=4).contains(&o.time_in_force) {
            return Err(GrvtSignError::BadTimeInForce(o.time_in_force));
        }
        let mut legs = Keccak256::new();
        for leg in &o.legs {
            legs.update(leg_hash(leg, &self.leg_type));
        }
        let legs: [u8; 32] = legs.finalize().into();
        let mut h = Keccak256::new();
        h.update(self.order_type);
        h.update(word_u64(o.sub_account_id));
        h.update(word_bool(o.is_market));
        h.update(word_u64(o.time_in_force as u64));
        h.update(word_bool(o.post_only));
        h.update(word_bool(o.reduce_only));
        h.update(legs);
        h.update(word_u64(o.nonce as u64));
        h.update(word_i64(o.expiration));
        Ok(h.finalize().into())
    }

    /// The EIP-712 digest that is signed.
    pub fn digest(&self, o: &OrderMsg) -> Result<[u8; 32], GrvtSignError> {
        Ok(eip712::typed_data_digest(&self.domain, &self.struct_hash(o)?))
    }
}

/// A hex instrument hash ("0x030501") as a uint256 word.
pub fn parse_asset_id(s: &str) -> Result<[u8; 32], GrvtSignError> {
    let bad = || GrvtSignError::BadAssetId(s.chars().take(80).collect());
    let h = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if h.is_empty() || h.len() > 64 {
        return Err(bad());
    }
    let mut w = [0u8; 32];
    // right-align the nibbles
    let nibbles: Vec<u8> = h
        .bytes()
        .map(|c| (c as char).to_digit(16).map(|d| d as u8))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    for (i, n) in nibbles.iter().rev().enumerate() {
        let byte = 31 - i / 2;
        if i % 2 == 0 {
            w[byte] |= n;
        } else {
            w[byte] |= n << 4;
        }
    }
    Ok(w)
}

fn from_eth(e: EthError) -> GrvtSignError {
    match e {
        EthError::BadKey(why) => GrvtSignError::BadKey(why),
        EthError::BadSignature(why) | EthError::BadAddress(why) => GrvtSignError::BadSignature(why),
    }
}

/// Recover the address that signed `digest` (v 27/28 or 0/1). Refuses high-S signatures, as the venue does.
pub fn recover_address(digest: &[u8; 32], sig: &OrderSignature) -> Result<[u8; 20], GrvtSignError> {
    eip712::recover_address(digest, sig).map_err(from_eth)
}

/// The API key's signer. The key lives only inside `EthKey` (zeroized on drop by k256).
pub struct GrvtSigner {
    key: EthKey,
    hasher: OrderHasher,
}

impl fmt::Debug for GrvtSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GrvtSigner(address={}, chain_id={})",
            checksum_address(&self.key.address()),
            self.hasher.chain_id
        )
    }
}

impl GrvtSigner {
    /// `private_key_hex`: 32 bytes as hex, with or without `0x`.
    pub fn new(private_key_hex: &str, chain_id: u64) -> Result<Self, GrvtSignError> {
        Ok(GrvtSigner {
            key: EthKey::from_hex(private_key_hex).map_err(from_eth)?,
            hasher: OrderHasher::new(chain_id),
        })
    }

    pub fn address(&self) -> [u8; 20] {
        self.key.address()
    }

    pub fn chain_id(&self) -> u64 {
        self.hasher.chain_id()
    }

    pub fn hasher(&self) -> &OrderHasher {
        &self.hasher
    }

    pub fn sign_digest(&self, digest: &[u8; 32]) -> Result<OrderSignature, GrvtSignError> {
        self.key.sign_digest(digest).map_err(from_eth)
    }

    pub fn sign_order(&self, o: &OrderMsg) -> Result<OrderSignature, GrvtSignError> {
        self.sign_digest(&self.hasher.digest(o)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(s: &str) -> [u8; 32] {
        parse_asset_id(s).unwrap()
    }

    fn vector_order() -> OrderMsg {
        OrderMsg {
            sub_account_id: 8289849667772468,
            is_market: false,
            time_in_force: 1,
            post_only: false,
            reduce_only: false,
            legs: vec![OrderLeg {
                asset_id: hex32("0x030501"),
                contract_size: 1_013_000_000,
                limit_price: 68_900_500_000_000,
                is_buying: false,
            }],
            nonce: 828700936,
            expiration: 1730800479321350000,
        }
    }

    const VECTOR_KEY: &str = "f7934647276a6e1fa0af3f4467b4b8ddaf45d25a7368fa1a295eef49a446819d";

    #[test]
    fn sdk_test_vector() {
        // The official SDK's signing test (testnet, chain id 326).
        let s = GrvtSigner::new(VECTOR_KEY, CHAIN_ID_TESTNET).unwrap();
        assert_eq!(
            checksum_address(&s.address()),
            "0xE10eC9Bb1eE30Af8bE35B32B163E7458a07aD987"
        );
        let sig = s.sign_order(&vector_order()).unwrap();
        assert_eq!(
            sig.r,
            hex32("0xb00512d986a718b15136a8ba23de1c1ec84bbdb9958629cbbe4909bae620bb04")
        );
        assert_eq!(
            sig.s,
            hex32("0x79f706de61c68cc14d7734594b5d8689df2b2a7b25951f9a3f61d799f4327ffc")
        );
        assert_eq!(sig.v, 28);
        let digest = s.hasher().digest(&vector_order()).unwrap();
        assert_eq!(recover_address(&digest, &sig).unwrap(), s.address());
    }

    #[test]
    fn changing_any_field_changes_the_digest() {
        let h = OrderHasher::new(CHAIN_ID_MAINNET);
        let base = vector_order();
        let d0 = h.digest(&base).unwrap();
        let mut variants = Vec::new();
        let mut o = base.clone();
        o.nonce += 1;
        variants.push(o);
        let mut o = base.clone();
        o.expiration = -1;
        variants.push(o);
        let mut o = base.clone();
        o.post_only = true;
        variants.push(o);
        let mut o = base.clone();
        o.legs[0].is_buying = true;
        variants.push(o);
        let mut o = base.clone();
        o.legs.push(o.legs[0]);
        variants.push(o);
        for v in &variants {
            assert_ne!(h.digest(v).unwrap(), d0);
        }
        assert_ne!(OrderHasher::new(CHAIN_ID_TESTNET).digest(&base).unwrap(), d0);
    }

    #[test]
    fn bad_inputs_are_refused_without_echoing_the_key() {
        for bad in ["", "zz", &"g".repeat(64), &"0".repeat(64)] {
            let e = GrvtSigner::new(bad, 325).unwrap_err();
            assert!(matches!(e, GrvtSignError::BadKey(_)));
        }
        let e = GrvtSigner::new(&"1".repeat(63), 325).unwrap_err().to_string();
        assert!(!e.contains("1111"));
        assert!(parse_asset_id("0x").is_err());
        assert!(parse_asset_id("0xzz").is_err());
        assert!(parse_asset_id(&"f".repeat(65)).is_err());
        let mut o = vector_order();
        o.legs.clear();
        assert_eq!(OrderHasher::new(325).digest(&o), Err(GrvtSignError::NoLegs));
        let mut o = vector_order();
        o.time_in_force = 5;
        assert!(OrderHasher::new(325).digest(&o).is_err());
        let s = GrvtSigner::new(VECTOR_KEY, 325).unwrap();
        assert!(!format!("{s:?}").contains("f7934647"));
    }

    #[test]
    fn high_s_and_bad_v_are_refused() {
        let s = GrvtSigner::new(VECTOR_KEY, 325).unwrap();
        let d = s.hasher().digest(&vector_order()).unwrap();
        let sig = s.sign_digest(&d).unwrap();
        let mut bad = sig;
        bad.v = 29;
        assert!(recover_address(&d, &bad).is_err());
        // n - s: the same signature with a high S.
        let sg = k256::ecdsa::Signature::from_scalars(sig.r, sig.s).unwrap();
        let neg = -*sg.s();
        let high = OrderSignature {
            r: sig.r,
            s: neg.to_bytes().into(),
            v: sig.v ^ 1,
        };
        assert!(recover_address(&d, &high).is_err());
    }

    proptest::proptest! {
        #[test]
        fn signatures_recover_to_the_signer(key in proptest::array::uniform32(1u8..),
                                            sub in proptest::num::u64::ANY,
                                            nonce in proptest::num::u32::ANY,
                                            exp in proptest::num::i64::ANY,
                                            size in proptest::num::u64::ANY,
                                            price in proptest::num::u64::ANY,
                                            tif in 1u8..=4) {
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            let Ok(s) = GrvtSigner::new(&hex, CHAIN_ID_MAINNET) else { return Ok(()) };
            let o = OrderMsg { sub_account_id: sub, is_market: false, time_in_force: tif, post_only: true,
                reduce_only: false, legs: vec![OrderLeg { asset_id: hex32("0x0305"), contract_size: size,
                limit_price: price, is_buying: true }], nonce, expiration: exp };
            let sig = s.sign_order(&o).unwrap();
            let d = s.hasher().digest(&o).unwrap();
            proptest::prop_assert_eq!(recover_address(&d, &sig).unwrap(), s.address());
        }
    }
}
