//! A Lighter API key that signs transactions natively, and the verifier the simulator uses.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::Value;

use super::goldilocks::Fp5;
use super::pool::{Commitment, CommitmentPool, PoolStats};
use super::schnorr::{verify, SecretKey};
use super::tx::{auth_message_hash, hex_lower, OrderInfo, Tx, TxBody};

/// Transaction deadline the Go library stamps: now + 10 min - 1 s.
pub const DEFAULT_TX_TTL_MS: i64 = 10 * 60 * 1000 - 1000;
/// Order expiry sentinel -1 becomes now + 28 days.
pub const DEFAULT_ORDER_EXPIRY_MS: i64 = 28 * 24 * 3600 * 1000;

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// One signed transaction, as sendTx takes it.
#[derive(Clone, Debug)]
pub struct SignedTx {
    pub tx_type: u8,
    pub tx_info: String,
    /// Hex of the 40-byte message hash (the venue's tx hash).
    pub tx_hash: String,
}

pub struct LighterKey {
    secret: SecretKey,
    public: Fp5,
    pub chain_id: u32,
    pub account_index: i64,
    pub api_key_index: i64,
    pool: Option<CommitmentPool>,
}

impl LighterKey {
    pub fn new(private_key: &[u8; 40], chain_id: u32, account_index: i64, api_key_index: i64) -> LighterKey {
        super::ecgfp5::warm_up();
        let secret = SecretKey::from_bytes(private_key);
        let public = secret.public_key();
        LighterKey { secret, public, chain_id, account_index, api_key_index, pool: None }
    }

    /// Keep `capacity` nonce commitments precomputed on a background thread (0: none); a signature
    /// then skips the base-point multiply while the pool has entries.
    pub fn with_commitment_pool(mut self, capacity: usize) -> std::io::Result<LighterKey> {
        self.pool = if capacity == 0 {
            None
        } else {
            Some(CommitmentPool::start(capacity, &format!("xtb-lighter-nonces-{}-{}", self.account_index, self.api_key_index))?)
        };
        Ok(self)
    }

    pub fn pool_stats(&self) -> Option<PoolStats> {
        self.pool.as_ref().map(CommitmentPool::stats)
    }

    fn sign_hash(&self, hash: &Fp5) -> Result<[u8; 80], String> {
        let commitment = match self.pool.as_ref().and_then(CommitmentPool::take) {
            Some(c) => c,
            None => Commitment::fresh()?,
        };
        Ok(self.secret.sign_with_commitment(hash, &commitment.k, &commitment.r))
    }

    pub fn public_key(&self) -> [u8; 40] {
        self.public.to_le_bytes()
    }

    /// Fill in the key's account fields and the deadline (`expired_at` 0 = now + 10 min - 1 s), check,
    /// hash, sign.
    pub fn sign(&self, body: TxBody, nonce: i64, expired_at: i64, attributes: Vec<(u8, i64)>) -> Result<SignedTx, String> {
        let now = now_ms();
        let body = match body {
            TxBody::CreateOrder(o) => TxBody::CreateOrder(stamp_expiry(o, now)),
            TxBody::CreateGroupedOrders { grouping_type, orders } => TxBody::CreateGroupedOrders {
                grouping_type,
                orders: orders.into_iter().map(|o| stamp_expiry(o, now)).collect(),
            },
            other => other,
        };
        let tx = Tx {
            account_index: self.account_index,
            api_key_index: self.api_key_index,
            expired_at: if expired_at == 0 { now + DEFAULT_TX_TTL_MS } else { expired_at },
            nonce,
            body,
            attributes,
        };
        tx.validate()?;
        let hash = tx.hash(self.chain_id);
        let sig = self.sign_hash(&hash)?;
        Ok(SignedTx { tx_type: tx.tx_type(), tx_info: tx.tx_info_json(&sig), tx_hash: hex_lower(&hash.to_le_bytes()) })
    }

    /// "deadline:account:api_key:<signature hex>".
    pub fn auth_token(&self, deadline_s: i64) -> Result<String, String> {
        let message = format!("{}:{}:{}", deadline_s, self.account_index, self.api_key_index);
        let sig = self.sign_hash(&auth_message_hash(&message))?;
        Ok(format!("{message}:{}", hex_lower(&sig)))
    }
}

/// A new API key pair: (private key bytes, public key bytes), 40 bytes each.
pub fn generate_key() -> Result<([u8; 40], [u8; 40]), String> {
    let (secret, bytes) = SecretKey::generate()?;
    Ok((bytes, secret.public_key().to_le_bytes()))
}

fn stamp_expiry(mut o: OrderInfo, now: i64) -> OrderInfo {
    if o.order_expiry == -1 {
        o.order_expiry = now + DEFAULT_ORDER_EXPIRY_MS;
    }
    o
}

/// Why a transaction was not accepted by `verify_tx_info`.
#[derive(Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// The tx_info is not the shape of its tx type (field named).
    Malformed(String),
    /// Well formed, but the signature does not verify under the key.
    BadSignature,
}

fn field(obj: &serde_json::Map<String, Value>, name: &str) -> Result<i64, VerifyError> {
    obj.get(name)
        .and_then(Value::as_i64)
        .ok_or_else(|| VerifyError::Malformed(format!("{name}: missing or not an integer")))
}

fn order_from(obj: &serde_json::Map<String, Value>) -> Result<OrderInfo, VerifyError> {
    Ok(OrderInfo {
        market_index: field(obj, "MarketIndex")?,
        client_order_index: field(obj, "ClientOrderIndex")?,
        base_amount: field(obj, "BaseAmount")?,
        price: field(obj, "Price")?,
        is_ask: field(obj, "IsAsk")?,
        order_type: field(obj, "Type")?,
        time_in_force: field(obj, "TimeInForce")?,
        reduce_only: field(obj, "ReduceOnly")?,
        trigger_price: field(obj, "TriggerPrice")?,
        order_expiry: field(obj, "OrderExpiry")?,
    })
}

/// Parse a `tx_info` of `tx_type` back into a transaction and its 80-byte signature.
pub fn parse_tx_info(tx_type: u8, tx_info: &str) -> Result<(Tx, Vec<u8>), VerifyError> {
    let value: Value = serde_json::from_str(tx_info).map_err(|e| VerifyError::Malformed(format!("tx_info: not JSON ({e})")))?;
    let obj = value.as_object().ok_or_else(|| VerifyError::Malformed("tx_info: not a JSON object".into()))?;
    let body = match tx_type {
        14 => TxBody::CreateOrder(order_from(obj)?),
        15 => TxBody::CancelOrder { market_index: field(obj, "MarketIndex")?, index: field(obj, "Index")? },
        16 => TxBody::CancelAllOrders { time_in_force: field(obj, "TimeInForce")?, time: field(obj, "Time")? },
        17 => TxBody::ModifyOrder {
            market_index: field(obj, "MarketIndex")?,
            index: field(obj, "Index")?,
            base_amount: field(obj, "BaseAmount")?,
            price: field(obj, "Price")?,
            trigger_price: field(obj, "TriggerPrice")?,
        },
        28 => {
            let orders = obj
                .get("Orders")
                .and_then(Value::as_array)
                .ok_or_else(|| VerifyError::Malformed("Orders: missing or not a list".into()))?;
            let orders = orders
                .iter()
                .map(|o| o.as_object().ok_or_else(|| VerifyError::Malformed("Orders: item is not an object".into())).and_then(order_from))
                .collect::<Result<Vec<_>, _>>()?;
            if orders.is_empty() {
                return Err(VerifyError::Malformed("Orders: empty".into()));
            }
            TxBody::CreateGroupedOrders { grouping_type: field(obj, "GroupingType")?, orders }
        }
        other => return Err(VerifyError::Malformed(format!("tx_type {other}: not verifiable here"))),
    };
    let mut attributes = Vec::new();
    match obj.get("L2TxAttributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let t: u8 = k.parse().map_err(|_| VerifyError::Malformed(format!("L2TxAttributes: bad key {k:?}")))?;
                let v = v.as_i64().ok_or_else(|| VerifyError::Malformed(format!("L2TxAttributes.{k}: not an integer")))?;
                attributes.push((t, v));
            }
        }
        Some(_) => return Err(VerifyError::Malformed("L2TxAttributes: not an object".into())),
    }
    let sig_b64 = obj.get("Sig").and_then(Value::as_str).ok_or_else(|| VerifyError::Malformed("Sig: missing or not a string".into()))?;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig_b64)
        .map_err(|_| VerifyError::Malformed("Sig: not base64".into()))?;
    let tx = Tx {
        account_index: field(obj, "AccountIndex")?,
        api_key_index: field(obj, "ApiKeyIndex")?,
        expired_at: field(obj, "ExpiredAt")?,
        nonce: field(obj, "Nonce")?,
        body,
        attributes,
    };
    Ok((tx, sig))
}

/// Check a signed `tx_info` against the account key's public key (40 bytes). Returns the tx hash hex.
pub fn verify_tx_info(tx_type: u8, tx_info: &str, chain_id: u32, public_key: &[u8]) -> Result<(Tx, String), VerifyError> {
    let (tx, sig) = parse_tx_info(tx_type, tx_info)?;
    let pk = Fp5::from_canonical_le_bytes(public_key).ok_or(VerifyError::BadSignature)?;
    let hash = tx.hash(chain_id);
    if !verify(&pk, &hash, &sig) {
        return Err(VerifyError::BadSignature);
    }
    Ok((tx, hex_lower(&hash.to_le_bytes())))
}

/// Check an auth token "deadline:account:api_key:sig_hex" against a public key.
pub fn verify_auth_token(token: &str, public_key: &[u8]) -> bool {
    let Some((message, sig_hex)) = token.rsplit_once(':') else {
        return false;
    };
    let Some(sig) = decode_hex(sig_hex) else {
        return false;
    };
    let Some(pk) = Fp5::from_canonical_le_bytes(public_key) else {
        return false;
    };
    verify(&pk, &auth_message_hash(message), &sig)
}

pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LighterKey {
        let mut sk = [7u8; 40];
        sk[39] = 0x01;
        LighterKey::new(&sk, 304, 12345, 3)
    }

    fn order() -> OrderInfo {
        OrderInfo {
            market_index: 0,
            client_order_index: 77,
            base_amount: 1000,
            price: 300_000,
            is_ask: 0,
            order_type: 0,
            time_in_force: 1,
            reduce_only: 0,
            trigger_price: 0,
            order_expiry: 1_900_000_000_000,
        }
    }

    #[test]
    fn signed_tx_round_trips_through_the_verifier() {
        let k = key();
        let pk = k.public_key();
        let bodies = vec![
            TxBody::CreateOrder(order()),
            TxBody::CancelOrder { market_index: 0, index: 77 },
            TxBody::CancelAllOrders { time_in_force: 0, time: 0 },
            TxBody::ModifyOrder { market_index: 0, index: 77, base_amount: 2000, price: 300_100, trigger_price: 0 },
            TxBody::CreateGroupedOrders {
                grouping_type: 1,
                orders: vec![
                    order(),
                    OrderInfo {
                        client_order_index: 0,
                        base_amount: 0,
                        is_ask: 1,
                        order_type: 5,
                        reduce_only: 1,
                        trigger_price: 299_000,
                        ..order()
                    },
                ],
            },
        ];
        for body in bodies {
            let attrs = if matches!(body, TxBody::CancelAllOrders { .. }) { vec![(5, 0)] } else { vec![] };
            let signed = k.sign(body, 42, 0, attrs).unwrap();
            let (_, hash) = verify_tx_info(signed.tx_type, &signed.tx_info, 304, &pk).unwrap();
            assert_eq!(hash, signed.tx_hash);
            // another chain id, another key, or any changed field fails
            assert_eq!(verify_tx_info(signed.tx_type, &signed.tx_info, 300, &pk).unwrap_err(), VerifyError::BadSignature);
            let tampered = signed.tx_info.replace("\"Nonce\":42", "\"Nonce\":43");
            assert_eq!(verify_tx_info(signed.tx_type, &tampered, 304, &pk).unwrap_err(), VerifyError::BadSignature);
        }
        let token = k.auth_token(1_900_000_000).unwrap();
        assert!(token.starts_with("1900000000:12345:3:"));
        assert!(verify_auth_token(&token, &pk));
        assert!(!verify_auth_token(&token.replacen("1900000000", "1900000001", 1), &pk));
    }

    #[test]
    fn pooled_signatures_verify_and_use_the_pool() {
        let mut sk = [9u8; 40];
        sk[39] = 0;
        let k = LighterKey::new(&sk, 304, 7, 3).with_commitment_pool(4).unwrap();
        for _ in 0..500 {
            if k.pool_stats().unwrap().available == 4 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let pk = k.public_key();
        let mut infos = Vec::new();
        for nonce in 0..10 {
            let signed = k.sign(TxBody::CreateOrder(order()), nonce, 1_800_000_000_000, vec![]).unwrap();
            assert!(verify_tx_info(14, &signed.tx_info, 304, &pk).is_ok());
            infos.push(signed.tx_info);
        }
        let stats = k.pool_stats().unwrap();
        assert!(stats.used >= 4 && stats.used + stats.misses == 10, "{stats:?}");
        // no two signatures share a commitment (the e half differs for every one)
        let sigs: std::collections::HashSet<_> = infos.iter().map(|i| i.split("\"Sig\":").nth(1).map(str::to_owned)).collect();
        assert_eq!(sigs.len(), 10);
    }

    #[test]
    fn refusals_name_the_field() {
        let k = key();
        let bad = OrderInfo { order_expiry: 0, ..order() };
        assert_eq!(k.sign(TxBody::CreateOrder(bad), 1, 0, vec![]).unwrap_err(), "OrderExpiry is invalid");
        assert!(k.sign(TxBody::CreateOrder(order()), -1, 0, vec![]).unwrap_err().contains("Nonce"));
        let e = verify_tx_info(14, "{\"AccountIndex\":1}", 304, &k.public_key()).unwrap_err();
        assert!(matches!(e, VerifyError::Malformed(m) if m.starts_with("MarketIndex")));
    }
}
