//! Lighter L2 transactions: field checks, the Poseidon2 message hash of each type, and the `tx_info`
//! JSON the venue takes (field names and order as lighter's Go structs marshal them).

use std::fmt::Write as _;

use base64::Engine as _;

use super::goldilocks::{Fp5, Gl};
use super::poseidon2::{hash_no_pad, hash_to_quintic, hash_two_to_one};

pub const TX_TYPE_CREATE_ORDER: u8 = 14;
pub const TX_TYPE_CANCEL_ORDER: u8 = 15;
pub const TX_TYPE_CANCEL_ALL_ORDERS: u8 = 16;
pub const TX_TYPE_MODIFY_ORDER: u8 = 17;
pub const TX_TYPE_CREATE_GROUPED_ORDERS: u8 = 28;

const MAX_ACCOUNT_INDEX: i64 = (1 << 48) - 2;
const MAX_API_KEY_INDEX: i64 = 254;
const NIL_MARKET_INDEX: i64 = 255;
const MAX_CLIENT_ORDER_INDEX: i64 = (1 << 48) - 1;
const MAX_ORDER_INDEX: i64 = (1 << 60) - 1;
const MAX_BASE_AMOUNT: i64 = (1 << 48) - 1;
const MAX_TIMESTAMP: i64 = (1 << 48) - 1;
const FEE_TICK: i64 = 1_000_000;
const ATTRIBUTES_PER_TX: usize = 4;

/// Attribute types (L2TxAttributes keys).
pub const ATTR_INTEGRATOR_ACCOUNT_INDEX: u8 = 1;
pub const ATTR_INTEGRATOR_TAKER_FEE: u8 = 2;
pub const ATTR_INTEGRATOR_MAKER_FEE: u8 = 3;
pub const ATTR_SKIP_NONCE: u8 = 4;
pub const ATTR_CANCEL_ALL_MARKET_INDEX: u8 = 5;
pub const ATTR_SELF_TRADE_BEHAVIOR: u8 = 6;
pub const ATTR_SELF_TRADE_EQUALITY: u8 = 7;
/// ModifyOrder's order version (lighter-sdk 1.1.8 sends it as attribute 8; absent from older Go sources).
pub const ATTR_ORDER_VERSION: u8 = 8;

/// (min, max, nil) of each attribute type 1..=8.
const ATTR_RANGES: [(i64, i64, i64); 8] = [
    (0, MAX_ACCOUNT_INDEX, 0),
    (0, FEE_TICK, 0),
    (0, FEE_TICK, 0),
    (1, 1, 0),
    // lighter-sdk 1.1.8 accepts spot markets here too (older Go sources cap it at 255)
    (0, 4094, NIL_MARKET_INDEX),
    (0, 3, 0),
    (0, 1, 0),
    (0, i64::MAX, 0),
];

/// One order as carried by CreateOrder and inside CreateGroupedOrders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderInfo {
    pub market_index: i64,
    pub client_order_index: i64,
    pub base_amount: i64,
    pub price: i64,
    pub is_ask: i64,
    pub order_type: i64,
    pub time_in_force: i64,
    pub reduce_only: i64,
    pub trigger_price: i64,
    pub order_expiry: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxBody {
    CreateOrder(OrderInfo),
    CancelOrder { market_index: i64, index: i64 },
    CancelAllOrders { time_in_force: i64, time: i64 },
    ModifyOrder { market_index: i64, index: i64, base_amount: i64, price: i64, trigger_price: i64 },
    CreateGroupedOrders { grouping_type: i64, orders: Vec<OrderInfo> },
}

/// A transaction before signing. `attributes` holds (type, value) pairs; nil values are dropped
/// (the Go library only puts set, non-default attributes in the map).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tx {
    pub account_index: i64,
    pub api_key_index: i64,
    pub expired_at: i64,
    pub nonce: i64,
    pub body: TxBody,
    pub attributes: Vec<(u8, i64)>,
}

fn gl(v: i64) -> Gl {
    // Go converts the signed value to uint64 bits; the field arithmetic then works mod p.
    Gl(v as u64)
}

fn order_elems(o: &OrderInfo) -> [Gl; 10] {
    [
        gl(o.market_index),
        gl(o.client_order_index),
        gl(o.base_amount),
        gl(o.price),
        gl(o.is_ask),
        gl(o.order_type),
        gl(o.time_in_force),
        gl(o.reduce_only),
        gl(o.trigger_price),
        gl(o.order_expiry),
    ]
}

fn err(msg: &str) -> Result<(), String> {
    Err(msg.to_owned())
}

/// Markets lighter-sdk 1.1.8's signer accepts: 0..=4094 except the nil index 255 (it does not
/// separate perps from spot here; the venue does).
fn valid_market(m: i64) -> bool {
    (0..=4094).contains(&m) && m != NIL_MARKET_INDEX
}

fn check_order(o: &OrderInfo, grouped: bool) -> Result<(), String> {
    if !valid_market(o.market_index) {
        return err("MarketIndex is not valid");
    }
    if o.client_order_index != 0 && !(1..=MAX_CLIENT_ORDER_INDEX).contains(&o.client_order_index) {
        return err(if o.client_order_index < 1 {
            "ClientOrderIndex should not be less than 1"
        } else {
            "ClientOrderIndex should not be larger than 281474976710655"
        });
    }
    if (o.reduce_only != 1 && o.base_amount == 0) || o.base_amount < 0 {
        return err("BaseAmount should not be less than 1");
    }
    if o.base_amount > MAX_BASE_AMOUNT {
        return err("BaseAmount should not be larger than 281474976710655");
    }
    if o.price < 1 {
        return err("OrderPrice should not be less than 1");
    }
    if o.price > u32::MAX as i64 {
        return err("OrderPrice should not be larger than 4294967295");
    }
    if o.is_ask != 0 && o.is_ask != 1 {
        return err("IsAsk should be 0 or 1");
    }
    if !(0..=2).contains(&o.time_in_force) {
        return err("OrderTimeInForce is not valid");
    }
    if o.reduce_only != 0 && o.reduce_only != 1 {
        return err("ReduceOnly is invalid");
    }
    if o.order_expiry < 0 {
        return err("OrderExpiry is invalid");
    }
    if !(0..=u32::MAX as i64).contains(&o.trigger_price) {
        return err("TriggerPrice is invalid");
    }
    const IOC: i64 = 0;
    const GTT: i64 = 1;
    let (tif, trig, exp) = (o.time_in_force, o.trigger_price, o.order_expiry);
    match o.order_type {
        1 => {
            // market
            if tif != IOC {
                return err("OrderTimeInForce is not valid");
            } else if exp != 0 {
                return err("OrderExpiry is invalid");
            } else if trig != 0 {
                return err("TriggerPrice is invalid");
            }
        }
        0 => {
            if trig != 0 {
                return err("TriggerPrice is invalid");
            } else if (tif == IOC) != (exp == 0) {
                return err("OrderExpiry is invalid");
            }
        }
        2 | 4 => {
            if tif != IOC {
                return err("OrderTimeInForce is not valid");
            } else if trig == 0 {
                return err("TriggerPrice is invalid");
            } else if exp == 0 {
                return err("OrderExpiry is invalid");
            }
        }
        3 | 5 => {
            if trig == 0 {
                return err("TriggerPrice is invalid");
            } else if exp == 0 {
                return err("OrderExpiry is invalid");
            }
        }
        6 if !grouped => {
            if tif != GTT {
                return err("OrderTimeInForce is not valid");
            } else if trig != 0 {
                return err("TriggerPrice is invalid");
            } else if exp == 0 {
                return err("OrderExpiry is invalid");
            }
        }
        _ => return err("OrderType is not valid"),
    }
    Ok(())
}

/// The shape rules of OTO (parent + child), OCO (two reduce-only siblings) and OTOCO groups.
fn check_group(grouping_type: i64, o: &[OrderInfo]) -> Result<(), String> {
    const OTO: i64 = 1;
    const OCO: i64 = 2;
    const OTOCO: i64 = 3;
    let size = |n: usize| if o.len() == n { Ok(()) } else { err("OrderGroupSize is not valid") };
    let parent = |x: &OrderInfo| if matches!(x.order_type, 0 | 1) { Ok(()) } else { err("OrderType is not valid") };
    let child = |x: &OrderInfo| if matches!(x.order_type, 2..=5) { Ok(()) } else { err("OrderType is not valid") };
    let siblings = |s: &[OrderInfo]| {
        if s.len() != 2 {
            return err("OrderGroupSize is not valid");
        }
        s.iter().try_for_each(child)?;
        let stop_loss = s.iter().any(|x| matches!(x.order_type, 2 | 3));
        let take_profit = s.iter().any(|x| matches!(x.order_type, 4 | 5));
        if stop_loss && take_profit {
            Ok(())
        } else {
            err("OrderType is not valid")
        }
    };
    match grouping_type {
        OCO => {
            size(2)?;
            if o[0].base_amount != o[1].base_amount {
                return err("BaseAmounts should be equal");
            }
            if o[0].is_ask != o[1].is_ask {
                return err("IsAsk should be 0 or 1");
            }
            if o[0].reduce_only != 1 || o[1].reduce_only != 1 {
                return err("ReduceOnly is invalid");
            }
            if o[0].order_expiry != o[1].order_expiry {
                return err("OrderExpiry is invalid");
            }
            siblings(o)
        }
        OTO => {
            size(2)?;
            if o[1].base_amount != 0 {
                return err("BaseAmount should be nil");
            }
            if o[0].is_ask == o[1].is_ask {
                return err("IsAsk should be 0 or 1");
            }
            if o[0].order_expiry != 0 && o[0].order_expiry != o[1].order_expiry {
                return err("OrderExpiry is invalid");
            }
            parent(&o[0])?;
            child(&o[1])
        }
        OTOCO => {
            size(3)?;
            if o[1].base_amount != 0 || o[2].base_amount != 0 {
                return err("BaseAmount should be nil");
            }
            if o[0].is_ask == o[1].is_ask || o[0].is_ask == o[2].is_ask {
                return err("IsAsk should be 0 or 1");
            }
            if o[1].order_expiry != o[2].order_expiry || (o[0].order_expiry != 0 && o[0].order_expiry != o[1].order_expiry) {
                return err("OrderExpiry is invalid");
            }
            parent(&o[0])?;
            siblings(&o[1..])
        }
        _ => err("GroupingType is not valid"),
    }
}

fn check_index(index: i64) -> Result<(), String> {
    if index < 1 {
        return err("OrderIndex should not be less than 281474976710656");
    }
    if index > MAX_ORDER_INDEX {
        return err("OrderIndex should not be larger than 1152921504606846975");
    }
    Ok(())
}

impl Tx {
    fn attr(&self, typ: u8) -> Option<i64> {
        self.attributes.iter().find(|(t, _)| *t == typ).map(|(_, v)| *v)
    }

    fn attr_or_nil(&self, typ: u8) -> i64 {
        self.attr(typ).unwrap_or(ATTR_RANGES[typ as usize - 1].2)
    }

    fn is_nil(&self, typ: u8) -> bool {
        self.attr_or_nil(typ) == ATTR_RANGES[typ as usize - 1].2
    }

    /// The checks lighter's Go library makes before it signs; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.attributes.len() > ATTRIBUTES_PER_TX {
            return err("Too many attributes, should not be larger than 4");
        }
        for &(typ, value) in &self.attributes {
            let Some(&(lo, hi, _)) = ATTR_RANGES.get((typ as usize).wrapping_sub(1)) else {
                return Err(format!("attribute type is invalid: {typ}"));
            };
            if value < lo || value > hi {
                return err(match typ {
                    ATTR_INTEGRATOR_ACCOUNT_INDEX => "IntegratorAccountIndex is in invalid range",
                    ATTR_INTEGRATOR_TAKER_FEE | ATTR_INTEGRATOR_MAKER_FEE => "Integrator fees are in invalid range",
                    ATTR_SKIP_NONCE => "SkipNonce attribute is invalid",
                    ATTR_CANCEL_ALL_MARKET_INDEX => "CancelAllMarketIndex is in invalid range",
                    ATTR_SELF_TRADE_BEHAVIOR => "SelfTradeBehaviorMode is in invalid range",
                    ATTR_ORDER_VERSION => "OrderVersion is in invalid range",
                    _ => "SelfTradeEqualityMode is in invalid range",
                });
            }
        }
        let has_fees = !self.is_nil(ATTR_INTEGRATOR_TAKER_FEE) || !self.is_nil(ATTR_INTEGRATOR_MAKER_FEE);
        if has_fees && self.is_nil(ATTR_INTEGRATOR_ACCOUNT_INDEX) {
            return err("IntegratorAccountIndex should be non-zero when integrator taker fee or maker fee is non-zero");
        }
        let has_self_trade = !self.is_nil(ATTR_SELF_TRADE_BEHAVIOR) || !self.is_nil(ATTR_SELF_TRADE_EQUALITY);
        if has_self_trade && has_fees {
            return err("Self-trade specification isn't allowed with integrator fees");
        }
        if self.attr_or_nil(ATTR_SELF_TRADE_BEHAVIOR) == 3 && self.attr_or_nil(ATTR_SELF_TRADE_EQUALITY) == 1 {
            return err("Reduce self-trade behavior mode isn't allowed with master account index equality mode");
        }
        if !(-1..=MAX_ACCOUNT_INDEX).contains(&self.account_index) {
            return err("AccountIndex is not valid");
        }
        let all_keys = matches!(self.body, TxBody::CancelAllOrders { .. }) && self.api_key_index == 255;
        if !(0..=MAX_API_KEY_INDEX).contains(&self.api_key_index) && !all_keys {
            return err("ApiKeyIndex should not be larger than 254");
        }
        if self.nonce < 0 {
            return err("AccountNonce should not be less than 0");
        }
        if !(0..=MAX_TIMESTAMP).contains(&self.expired_at) {
            return err("ExpiredAt is invalid");
        }
        match &self.body {
            TxBody::CreateOrder(o) => check_order(o, false),
            TxBody::CancelOrder { market_index, index } => {
                if !valid_market(*market_index) {
                    return err("MarketIndex is not valid");
                }
                check_index(*index)
            }
            TxBody::CancelAllOrders { time_in_force, time } => {
                if let Some(m) = self.attr(ATTR_CANCEL_ALL_MARKET_INDEX) {
                    if *time_in_force != 0 && m != NIL_MARKET_INDEX {
                        return err("Cancel all for market index can't be scheduled, TimeInforce must be ImmediateCancelAll");
                    }
                }
                match time_in_force {
                    0 | 2 if *time != 0 => err("CancelAllTime should be nil"),
                    0 | 2 => Ok(()),
                    1 if *time < 1 => err("CancelAllTime should be larger than 0"),
                    1 => Ok(()),
                    _ => err("CancelAllTimeInForce is invalid"),
                }
            }
            TxBody::ModifyOrder { market_index, index, base_amount, price, trigger_price } => {
                if !valid_market(*market_index) {
                    return err("MarketIndex is not valid");
                }
                check_index(*index)?;
                if *base_amount < 0 {
                    return err("BaseAmount should not be less than 1");
                }
                if *base_amount > MAX_BASE_AMOUNT {
                    return err("BaseAmount should not be larger than 281474976710655");
                }
                if !(1..=u32::MAX as i64).contains(price) {
                    return err("OrderPrice is not valid");
                }
                if !(0..=u32::MAX as i64).contains(trigger_price) {
                    return err("TriggerPrice is invalid");
                }
                Ok(())
            }
            TxBody::CreateGroupedOrders { grouping_type, orders } => {
                if orders.is_empty() || orders.len() > 3 {
                    return err("OrderGroupSize is not valid");
                }
                if !valid_market(orders[0].market_index) {
                    return err("MarketIndex is not valid");
                }
                let mut seen = Vec::with_capacity(3);
                for o in orders {
                    if o.market_index != orders[0].market_index {
                        return err("MarketIndex should match the market index of the order");
                    }
                    if o.client_order_index != 0 {
                        if seen.contains(&o.client_order_index) {
                            return err("ClientOrderIndex should be unique within the group");
                        }
                        seen.push(o.client_order_index);
                    }
                    check_order(o, true)?;
                }
                check_group(*grouping_type, orders)
            }
        }
    }

    pub fn tx_type(&self) -> u8 {
        match self.body {
            TxBody::CreateOrder(_) => TX_TYPE_CREATE_ORDER,
            TxBody::CancelOrder { .. } => TX_TYPE_CANCEL_ORDER,
            TxBody::CancelAllOrders { .. } => TX_TYPE_CANCEL_ALL_ORDERS,
            TxBody::ModifyOrder { .. } => TX_TYPE_MODIFY_ORDER,
            TxBody::CreateGroupedOrders { .. } => TX_TYPE_CREATE_GROUPED_ORDERS,
        }
    }

    /// The message that is signed: Poseidon2 of [chain id, tx type, nonce, expired at, account, api key,
    /// body fields...], combined with the attributes' hash when any attribute is set.
    pub fn hash(&self, chain_id: u32) -> Fp5 {
        let mut elems: Vec<Gl> = Vec::with_capacity(16);
        elems.extend_from_slice(&[
            Gl(chain_id as u64),
            Gl(self.tx_type() as u64),
            gl(self.nonce),
            gl(self.expired_at),
            gl(self.account_index),
            gl(self.api_key_index),
        ]);
        match &self.body {
            TxBody::CreateOrder(o) => elems.extend_from_slice(&order_elems(o)),
            TxBody::CancelOrder { market_index, index } => elems.extend_from_slice(&[gl(*market_index), gl(*index)]),
            TxBody::CancelAllOrders { time_in_force, time } => elems.extend_from_slice(&[gl(*time_in_force), gl(*time)]),
            TxBody::ModifyOrder { market_index, index, base_amount, price, trigger_price } => elems.extend_from_slice(&[
                gl(*market_index),
                gl(*index),
                gl(*base_amount),
                gl(*price),
                gl(*trigger_price),
            ]),
            TxBody::CreateGroupedOrders { grouping_type, orders } => {
                elems.push(gl(*grouping_type));
                let mut agg = [Gl::ZERO; 4];
                for (i, o) in orders.iter().enumerate() {
                    let h = hash_no_pad(&order_elems(o));
                    agg = if i == 0 { h } else { hash_two_to_one(agg, h) };
                }
                elems.extend_from_slice(&agg);
            }
        }
        let tx_hash = hash_to_quintic(&elems);
        self.aggregate_with_attributes(tx_hash)
    }

    fn aggregate_with_attributes(&self, tx_hash: Fp5) -> Fp5 {
        let mut set: Vec<(u8, i64)> =
            self.attributes.iter().copied().filter(|&(t, v)| ATTR_RANGES.get((t as usize).wrapping_sub(1)).is_some_and(|r| r.2 != v)).collect();
        if set.is_empty() {
            return tx_hash;
        }
        set.sort_unstable_by_key(|&(t, _)| t);
        let mut elems = [Gl::ZERO; 2 * ATTRIBUTES_PER_TX];
        for (i, &(t, v)) in set.iter().take(ATTRIBUTES_PER_TX).enumerate() {
            elems[2 * i] = Gl(t as u64);
            elems[2 * i + 1] = gl(v);
        }
        let attr_hash = hash_to_quintic(&elems);
        let mut both = [Gl::ZERO; 10];
        both[..5].copy_from_slice(&tx_hash.0);
        both[5..].copy_from_slice(&attr_hash.0);
        hash_to_quintic(&both)
    }

    /// The `tx_info` JSON with the given signature (Go's field order; `Sig` is standard base64).
    pub fn tx_info_json(&self, sig: &[u8; 80]) -> String {
        let mut s = String::with_capacity(384);
        let _ = write!(s, "{{\"AccountIndex\":{},\"ApiKeyIndex\":{},", self.account_index, self.api_key_index);
        match &self.body {
            TxBody::CreateOrder(o) => {
                write_order_fields(&mut s, o);
                s.push(',');
            }
            TxBody::CancelOrder { market_index, index } => {
                let _ = write!(s, "\"MarketIndex\":{market_index},\"Index\":{index},");
            }
            TxBody::CancelAllOrders { time_in_force, time } => {
                let _ = write!(s, "\"TimeInForce\":{time_in_force},\"Time\":{time},");
            }
            TxBody::ModifyOrder { market_index, index, base_amount, price, trigger_price } => {
                let _ = write!(
                    s,
                    "\"MarketIndex\":{market_index},\"Index\":{index},\"BaseAmount\":{base_amount},\"Price\":{price},\"TriggerPrice\":{trigger_price},"
                );
            }
            TxBody::CreateGroupedOrders { grouping_type, orders } => {
                let _ = write!(s, "\"GroupingType\":{grouping_type},\"Orders\":[");
                for (i, o) in orders.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push('{');
                    write_order_fields(&mut s, o);
                    s.push('}');
                }
                s.push_str("],");
            }
        }
        let _ = write!(s, "\"ExpiredAt\":{},\"Nonce\":{},\"Sig\":\"", self.expired_at, self.nonce);
        base64::engine::general_purpose::STANDARD.encode_string(sig, &mut s);
        s.push_str("\",\"L2TxAttributes\":");
        if self.attributes.is_empty() {
            s.push_str("null");
        } else {
            let mut attrs = self.attributes.clone();
            attrs.sort_unstable_by_key(|&(t, _)| t);
            s.push('{');
            for (i, (t, v)) in attrs.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "\"{t}\":{v}");
            }
            s.push('}');
        }
        s.push('}');
        s
    }
}

fn write_order_fields(s: &mut String, o: &OrderInfo) {
    let _ = write!(
        s,
        "\"MarketIndex\":{},\"ClientOrderIndex\":{},\"BaseAmount\":{},\"Price\":{},\"IsAsk\":{},\"Type\":{},\"TimeInForce\":{},\"ReduceOnly\":{},\"TriggerPrice\":{},\"OrderExpiry\":{}",
        o.market_index,
        o.client_order_index,
        o.base_amount,
        o.price,
        o.is_ask,
        o.order_type,
        o.time_in_force,
        o.reduce_only,
        o.trigger_price,
        o.order_expiry
    );
}

/// The hash an auth token signs: the text "deadline:account:api_key" packed 8 bytes per element
/// (little-endian, the last one zero-padded).
pub fn auth_message_hash(message: &str) -> Fp5 {
    let elems: Vec<Gl> = message
        .as_bytes()
        .chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            Gl(u64::from_le_bytes(w))
        })
        .collect();
    hash_to_quintic(&elems)
}

pub fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}
