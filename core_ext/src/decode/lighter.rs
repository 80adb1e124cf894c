//! Lighter: `{"type": ..., "channel": "<name>:<id>", ...}` frames (see docs venues/lighter.md §7).
//! order_book (snapshot `subscribed/order_book`, deltas `update/order_book`), trade, account_all,
//! account_all_orders, account_all_trades, account_all_positions; `{"type":"ping"}` is counted so the
//! connector can answer `{"type":"pong"}` (see `FeedDecoder::take_pings`).
//!
//! Books are routed by market index (`order_book:0` -> route "0"). Account channels carry the account
//! index after the colon; trades of that account become fills.

use std::fmt;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::json::{sniff_str, Flex};
use super::{avg_price, Ctx, Depth, FeedDecoder, FeedError};
use crate::book::DeltaSeq;
use crate::events::{EventBody, Fill, OrderState, OrderUpdate, Position, Side, Trade, Venue};

#[derive(Deserialize)]
struct Msg<'a> {
    #[serde(borrow, default, rename = "type")]
    ty: Option<&'a str>,
    #[serde(borrow, default)]
    channel: Option<&'a str>,
    #[serde(default)]
    offset: Option<u64>,
    #[serde(borrow, default)]
    order_book: Option<Book<'a>>,
    #[serde(borrow, default)]
    trades: Option<Trades<'a>>,
    #[serde(borrow, default)]
    orders: Option<ByMarket<Vec<Order<'a>>>>,
    #[serde(borrow, default)]
    positions: Option<ByMarket<PositionMsg<'a>>>,
    #[serde(borrow, default)]
    error: Option<VenueError<'a>>,
}

#[derive(Deserialize)]
struct VenueError<'a> {
    #[serde(default)]
    code: Option<i64>,
    #[serde(borrow, default)]
    message: Option<&'a str>,
}

#[derive(Deserialize)]
struct Book<'a> {
    #[serde(borrow, default)]
    asks: Vec<Level<'a>>,
    #[serde(borrow, default)]
    bids: Vec<Level<'a>>,
    #[serde(default)]
    offset: Option<u64>,
    #[serde(default)]
    nonce: Option<u64>,
    #[serde(default)]
    begin_nonce: Option<u64>,
}

#[derive(Deserialize)]
struct Level<'a> {
    price: &'a str,
    size: &'a str,
}

#[derive(Deserialize)]
struct TradeMsg<'a> {
    #[serde(borrow)]
    trade_id: Flex<'a>,
    #[serde(default)]
    market_id: Option<u32>,
    price: &'a str,
    size: &'a str,
    is_maker_ask: bool,
    #[serde(borrow, default)]
    ask_account_id: Option<Flex<'a>>,
    #[serde(borrow, default)]
    bid_account_id: Option<Flex<'a>>,
    #[serde(borrow, default)]
    ask_client_id: Option<Flex<'a>>,
    #[serde(borrow, default)]
    bid_client_id: Option<Flex<'a>>,
}

#[derive(Deserialize)]
struct Order<'a> {
    order_index: u64,
    #[serde(default)]
    client_order_index: u64,
    market_index: u32,
    status: &'a str,
    filled_base_amount: &'a str,
    filled_quote_amount: &'a str,
}

#[derive(Deserialize)]
struct PositionMsg<'a> {
    market_id: u32,
    sign: i64,
    position: &'a str,
    avg_entry_price: &'a str,
}

/// `trades`: a list on `trade/{m}`, a map market -> list on account channels.
enum Trades<'a> {
    List(Vec<TradeMsg<'a>>),
    ByMarket(Vec<(&'a str, Vec<TradeMsg<'a>>)>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Trades<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Trades<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of trades or a map of market to trades")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Trades<'a>, A::Error> {
                let mut v = Vec::new();
                while let Some(t) = seq.next_element()? {
                    v.push(t);
                }
                Ok(Trades::List(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Trades<'a>, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = map.next_entry()? {
                    v.push(e);
                }
                Ok(Trades::ByMarket(v))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A JSON object market -> value, kept as the list of values in key order.
struct ByMarket<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ByMarket<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = ByMarket<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map keyed by market index")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ByMarket<T>, A::Error> {
                let mut v = Vec::new();
                while let Some((_, item)) = map.next_entry::<serde::de::IgnoredAny, T>()? {
                    v.push(item);
                }
                Ok(ByMarket(v))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The market / account id after the colon of a reply channel ("order_book:0" -> "0").
fn channel_id(channel: &str) -> &str {
    channel.rsplit_once(':').map(|(_, id)| id).unwrap_or("")
}

/// The venue's entry in the core's venue table (`venues.rs`): its `VenueProtocol`.
pub struct Lighter;

impl crate::protocol::VenueProtocol for Lighter {
    const SEQ_RULE: crate::book::SeqRule = crate::book::SeqRule::of::<LighterSeq>();
    fn feed(dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
        feed(dec, frame, recv_ns)
    }
}

/// Lighter's book sequence rule: snapshot nonce; then begin_nonce == previous nonce. Frames without
/// begin_nonce fall back to the API server's offset, which must increase (and keep the book's nonce).
pub struct LighterSeq;

impl crate::book::SequenceRule for LighterSeq {
    const NAME: &'static str = "lighter";
    const KEEPS_SEQ_WITHOUT_ID: bool = true;
    fn check(at: crate::book::SeqState, d: crate::book::DeltaSeq) -> Result<bool, String> {
        let l = at.seq;
        match d.prev {
            Some(begin) => {
                if at.first_after_snapshot && d.last != 0 && d.last <= l {
                    Ok(false)
                } else if begin == l {
                    Ok(true)
                } else {
                    Err(format!("gap: begin_nonce={begin} but previous nonce={l}"))
                }
            }
            None => match (d.offset, at.offset) {
                (Some(o), Some(prev)) if o <= prev && at.first_after_snapshot => Ok(false),
                (Some(o), Some(prev)) if o <= prev => Err(format!("offset {o} not after previous offset {prev}")),
                (Some(_), _) => Ok(true),
                (None, _) => Err("delta has neither begin_nonce nor offset".to_owned()),
            },
        }
    }
}

fn feed(dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
    let msg: Msg = match serde_json::from_slice(frame) {
        Ok(m) => m,
        Err(e) => {
            let channel = sniff_str(frame, "channel").or_else(|| sniff_str(frame, "type")).unwrap_or("?");
            return Err(FeedError {
                venue: Venue::Lighter,
                channel: channel.to_owned(),
                reason: format!("bad JSON: {e}"),
            });
        }
    };
    let channel = msg.channel.unwrap_or("");
    let ctx = Ctx { venue: Venue::Lighter, channel };
    if let Some(err) = &msg.error {
        return Err(ctx.err(format!(
            "venue error {}: {}",
            err.code.unwrap_or_default(),
            err.message.unwrap_or("")
        )));
    }
    let ty = msg.ty.unwrap_or("");
    if ty == "ping" {
        dec.ping();
        return Ok(0);
    }
    let (_, kind) = ty.split_once('/').unwrap_or(("", ty));
    let chan_kind = channel.split(':').next().unwrap_or("");
    match (kind, chan_kind) {
        ("order_book", _) => order_book(dec, &ctx, msg, ty.starts_with("subscribed"), recv_ns),
        ("trade", _) => public_trades(dec, &ctx, msg, recv_ns),
        (_, "account_all" | "account_all_orders" | "account_all_trades" | "account_all_positions") => {
            account(dec, &ctx, msg, recv_ns)
        }
        _ => {
            dec.stats.ignored += 1;
            Ok(0)
        }
    }
}

fn order_book(
    dec: &mut FeedDecoder,
    ctx: &Ctx<'_>,
    msg: Msg<'_>,
    snapshot: bool,
    recv_ns: i64,
) -> Result<u32, FeedError> {
    let ob = msg.order_book.ok_or_else(|| ctx.err("missing field order_book"))?;
    let market = channel_id(ctx.channel);
    let Some((_, book)) = dec.lookup(market) else { return Ok(0) };
    let bids: Vec<(&str, &str)> = ob.bids.iter().map(|l| (l.price, l.size)).collect();
    let asks: Vec<(&str, &str)> = ob.asks.iter().map(|l| (l.price, l.size)).collect();
    let offset = ob.offset.or(msg.offset);
    if snapshot {
        let seq = ob.nonce.unwrap_or(0);
        dec.apply_depth(ctx, &book, &bids, &asks, Depth::Snapshot { seq, offset }, recv_ns)
    } else {
        let nonce = ob.nonce.unwrap_or(0);
        let seq = DeltaSeq { first: nonce, last: nonce, prev: ob.begin_nonce, offset };
        dec.apply_depth(ctx, &book, &bids, &asks, Depth::Delta(seq), recv_ns)
    }
}

fn flex_u64(ctx: &Ctx<'_>, f: &Flex<'_>, name: &str) -> Result<u64, FeedError> {
    f.as_u64().ok_or_else(|| ctx.err(format!("field {name} must be an integer, got {}", f.type_name())))
}

fn opt_u64(ctx: &Ctx<'_>, f: &Option<Flex<'_>>, name: &str) -> Result<u64, FeedError> {
    match f {
        None | Some(Flex::Null) => Ok(0),
        Some(f) => flex_u64(ctx, f, name),
    }
}

fn public_trades(dec: &mut FeedDecoder, ctx: &Ctx<'_>, msg: Msg<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let trades = match msg.trades {
        Some(Trades::List(v)) => v,
        Some(Trades::ByMarket(_)) => return Err(ctx.err("trades must be a list on a trade channel")),
        None => return Ok(0),
    };
    let market = channel_id(ctx.channel);
    let Some((id, book)) = dec.lookup(market) else { return Ok(0) };
    let (pd, sd) = FeedDecoder::scales(&book);
    let mut events = Vec::with_capacity(trades.len());
    for t in &trades {
        events.push(Trade {
            venue: Venue::Lighter,
            book_id: id,
            px: ctx.fixed("price", t.price, pd)?,
            sz: ctx.fixed("size", t.size, sd)?,
            // The maker is the ask, so the taker bought.
            taker_side: if t.is_maker_ask { Side::Bid } else { Side::Ask },
            trade_id: flex_u64(ctx, &t.trade_id, "trade_id")?,
        });
    }
    let n = events.len() as u32;
    for e in events {
        dec.emit_public(recv_ns, EventBody::Trade(e));
    }
    Ok(n)
}

fn scales(dec: &mut FeedDecoder, market: &str) -> Option<(u32, u32, u32)> {
    let (id, book) = dec.lookup(market)?;
    let (pd, sd) = FeedDecoder::scales(&book);
    Some((id, pd, sd))
}

fn order_state(status: &str) -> Option<(OrderState, Option<String>)> {
    Some(match status {
        "in-progress" | "pending" => (OrderState::PendingNew, None),
        "open" => (OrderState::Open, None),
        "filled" => (OrderState::Filled, None),
        "canceled" => (OrderState::Cancelled, None),
        "canceled-expired" => (OrderState::Expired, Some(status.to_owned())),
        s if s.starts_with("canceled-") => (OrderState::Cancelled, Some(s.to_owned())),
        _ => return None,
    })
}

/// account_all / account_all_orders / account_all_trades / account_all_positions.
fn account(dec: &mut FeedDecoder, ctx: &Ctx<'_>, msg: Msg<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let account: u64 =
        channel_id(ctx.channel).parse().map_err(|_| ctx.err("account channel without an account index"))?;
    let mut events: Vec<EventBody> = Vec::new();
    // Scales per market, looked up once per item; items for markets without a book are skipped.
    if let Some(orders) = &msg.orders {
        for list in &orders.0 {
            for o in list {
                let (state, reason) = order_state(o.status)
                    .ok_or_else(|| ctx.err(format!("unknown order status {:?}", o.status)))?;
                let base = ctx.decimal("filled_base_amount", o.filled_base_amount)?;
                let quote = ctx.decimal("filled_quote_amount", o.filled_quote_amount)?;
                let Some((_, pd, sd)) = scales(dec, &o.market_index.to_string()) else { continue };
                let filled =
                    base.to_units_rounded(sd).map_err(|e| ctx.err(format!("bad filled_base_amount: {e}")))?;
                let state =
                    if state == OrderState::Open && filled > 0 { OrderState::PartiallyFilled } else { state };
                events.push(EventBody::Order(OrderUpdate {
                    venue: Venue::Lighter,
                    client_id: o.client_order_index,
                    order_id: Some(o.order_index.to_string()),
                    state,
                    filled,
                    avg_px: avg_price(quote, base, pd)
                        .ok_or_else(|| ctx.err("average price out of range"))?,
                    reason,
                }));
            }
        }
    }
    if let Some(trades) = &msg.trades {
        let all: Vec<&TradeMsg> = match trades {
            Trades::List(v) => v.iter().collect(),
            Trades::ByMarket(m) => m.iter().flat_map(|(_, v)| v.iter()).collect(),
        };
        for t in all {
            let ask_acct = opt_u64(ctx, &t.ask_account_id, "ask_account_id")?;
            let bid_acct = opt_u64(ctx, &t.bid_account_id, "bid_account_id")?;
            let side = if bid_acct == account {
                Side::Bid
            } else if ask_acct == account {
                Side::Ask
            } else {
                continue;
            };
            let market = t.market_id.ok_or_else(|| ctx.err("trade without market_id"))?;
            let Some((_, pd, sd)) = scales(dec, &market.to_string()) else { continue };
            let client_id = match side {
                Side::Bid => opt_u64(ctx, &t.bid_client_id, "bid_client_id")?,
                Side::Ask => opt_u64(ctx, &t.ask_client_id, "ask_client_id")?,
            };
            events.push(EventBody::Fill(Fill {
                venue: Venue::Lighter,
                client_id,
                trade_id: flex_u64(ctx, &t.trade_id, "trade_id")?,
                side,
                px: ctx.fixed("price", t.price, pd)?,
                sz: ctx.fixed("size", t.size, sd)?,
                maker: t.is_maker_ask == (side == Side::Ask),
                // Lighter's taker_fee / maker_fee units are not documented (UNCONFIRMED): not decoded.
                fee: 0,
            }));
        }
    }
    if let Some(ByMarket(list)) = &msg.positions {
        for p in list {
            if !matches!(p.sign, -1..=1) {
                return Err(ctx.err(format!("bad position sign {}", p.sign)));
            }
            let Some((id, pd, sd)) = scales(dec, &p.market_id.to_string()) else { continue };
            let size = ctx.fixed("position", p.position, sd)?;
            events.push(EventBody::Position(Position {
                venue: Venue::Lighter,
                book_id: id,
                size: if p.sign < 0 { -size } else { size },
                entry_px: ctx.rounded("avg_entry_price", p.avg_entry_price, pd)?,
            }));
        }
    }
    let n = events.len() as u32;
    for e in events {
        dec.emit_private(recv_ns, e);
    }
    Ok(n)
}
