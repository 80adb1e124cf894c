//! GRVT: JSON-RPC WebSocket feeds `{"stream", "selector", "sequence_number", "feed": {...},
//! "prev_sequence_number"}` (docs/venues/grvt.md, "WebSocket"), full keys (`/ws/full`).
//!
//! Market streams: `v1.book.d` (a full snapshot first, then changed levels, size "0" removes a level),
//! `v1.book.s` (a full top-N snapshot every message), `v1.trade`. Private streams: `v1.order` (the Order
//! object with its `state`), `v1.fill`, `v1.position`. Levels are objects `{"price","size","num_orders"}`.
//!
//! Sequence rule: numbers per stream increase by exactly 1 (the book's contiguous rule with
//! first = last = sequence_number). A `v1.book.d` frame is a snapshot when its sequence number is 0 (the
//! documented rule) or when its book waits for one; a subscribe acknowledgement for `v1.book.d` clears the
//! acknowledged books, so the next frame of each (the fresh snapshot the venue sends) is taken as the
//! snapshot even if the venue numbers snapshots like deltas (UNCONFIRMED which it does).

use serde::Deserialize;

use super::json::{sniff_str, Flex};
use super::{base_quote, fee_notional, lock_book, Ctx, Depth, FeedDecoder, FeedError};
use crate::book::{DeltaSeq, SyncState};
use crate::events::{EventBody, Fill, OrderState, OrderUpdate, Position, Side, Trade, Venue};

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    stream: Option<&'a str>,
    #[serde(borrow, default)]
    sequence_number: Option<Flex<'a>>,
    #[serde(borrow, default)]
    feed: Option<Feed<'a>>,
    #[serde(borrow, default)]
    method: Option<&'a str>,
    #[serde(borrow, default)]
    result: Option<SubResult<'a>>,
    #[serde(borrow, default)]
    error: Option<RpcError<'a>>,
}

#[derive(Deserialize)]
struct RpcError<'a> {
    #[serde(default)]
    code: Option<i64>,
    #[serde(borrow, default)]
    message: Option<&'a str>,
}

/// The `result` of a subscribe call (other call results have none of these fields).
#[derive(Deserialize, Default)]
struct SubResult<'a> {
    #[serde(borrow, default)]
    stream: Option<&'a str>,
    #[serde(borrow, default)]
    subs: Vec<&'a str>,
}

#[derive(Deserialize)]
struct Level<'a> {
    #[serde(borrow)]
    price: &'a str,
    #[serde(borrow)]
    size: &'a str,
}

#[derive(Deserialize)]
struct Leg<'a> {
    #[serde(borrow)]
    instrument: &'a str,
}

#[derive(Deserialize, Default)]
struct Meta<'a> {
    #[serde(borrow, default)]
    client_order_id: Option<Flex<'a>>,
}

#[derive(Deserialize)]
struct State<'a> {
    #[serde(borrow)]
    status: &'a str,
    #[serde(borrow, default)]
    reject_reason: Option<&'a str>,
    #[serde(borrow, default)]
    traded_size: Vec<&'a str>,
    #[serde(borrow, default)]
    avg_fill_price: Vec<&'a str>,
}

/// Union of the `feed` fields of the streams decoded.
#[derive(Deserialize, Default)]
struct Feed<'a> {
    #[serde(borrow, default)]
    instrument: Option<&'a str>,
    #[serde(borrow, default)]
    bids: Option<Vec<Level<'a>>>,
    #[serde(borrow, default)]
    asks: Option<Vec<Level<'a>>>,
    #[serde(borrow, default)]
    price: Option<&'a str>,
    #[serde(borrow, default)]
    size: Option<&'a str>,
    #[serde(default)]
    is_taker_buyer: Option<bool>,
    #[serde(borrow, default)]
    trade_id: Option<Flex<'a>>,
    #[serde(default)]
    is_buyer: Option<bool>,
    #[serde(default)]
    is_taker: Option<bool>,
    #[serde(borrow, default)]
    fee: Option<&'a str>,
    #[serde(borrow, default)]
    client_order_id: Option<Flex<'a>>,
    #[serde(borrow, default)]
    order_id: Option<&'a str>,
    #[serde(borrow, default)]
    entry_price: Option<&'a str>,
    #[serde(borrow, default)]
    legs: Option<Vec<Leg<'a>>>,
    #[serde(borrow, default)]
    metadata: Option<Meta<'a>>,
    #[serde(borrow, default)]
    state: Option<State<'a>>,
}

/// The venue's entry in the core's venue table (`venues.rs`): its `VenueProtocol`.
pub struct Grvt;

impl crate::protocol::VenueProtocol for Grvt {
    const SEQ_RULE: crate::book::SeqRule = crate::book::SeqRule::of::<crate::decode::backpack::BackpackSeq>();
    fn feed(dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
        feed(dec, frame, recv_ns)
    }
}

fn need<T>(ctx: &Ctx<'_>, v: Option<T>, name: &str) -> Result<T, FeedError> {
    v.ok_or_else(|| ctx.err(format!("missing field {name}")))
}

fn u64_field(ctx: &Ctx<'_>, f: &Option<Flex<'_>>, name: &str) -> Result<u64, FeedError> {
    match f {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| ctx.err(format!("field {name} must be an unsigned integer, got {}", v.type_name()))),
        None => Err(ctx.err(format!("missing field {name}"))),
    }
}

/// GRVT trade ids are "<trade>-<n>" (one trade, n-th match) or plain integers: (trade << 16) | n.
fn trade_id(ctx: &Ctx<'_>, f: &Option<Flex<'_>>) -> Result<u64, FeedError> {
    let bad = || ctx.err("field trade_id must be an integer or \"<id>-<n>\"");
    match f {
        Some(Flex::Str(s)) => match s.split_once('-') {
            Some((a, b)) => {
                let a: u64 = a.parse().map_err(|_| bad())?;
                let b: u64 = b.parse().map_err(|_| bad())?;
                if a >= 1 << 48 || b >= 1 << 16 {
                    return Err(bad());
                }
                Ok((a << 16) | b)
            }
            None => s.parse().map_err(|_| bad()),
        },
        Some(v) => v.as_u64().ok_or_else(bad),
        None => Err(ctx.err("missing field trade_id")),
    }
}

fn feed(dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
    let env: Envelope = match serde_json::from_slice(frame) {
        Ok(e) => e,
        Err(e) => {
            let channel = sniff_str(frame, "stream").unwrap_or("?");
            return Err(FeedError { venue: Venue::Grvt, channel: channel.to_owned(), reason: format!("bad JSON: {e}") });
        }
    };
    let stream = env.stream.unwrap_or("");
    let ctx = Ctx { venue: Venue::Grvt, channel: stream };
    if let Some(err) = env.error {
        return Err(ctx.err(format!(
            "venue error {}: {}",
            err.code.unwrap_or_default(),
            err.message.unwrap_or("")
        )));
    }
    let Some(f) = env.feed else {
        if let (Some("subscribe"), Some(r)) = (env.method, env.result) {
            return Ok(subscribed(dec, r));
        }
        dec.stats.ignored += 1;
        return Ok(0);
    };
    let stream_kind = stream.split('@').next().unwrap_or(stream);
    match stream_kind {
        "v1.book.d" | "v1.book.s" => {
            let seq = u64_field(&ctx, &env.sequence_number, "sequence_number")?;
            book(dec, &ctx, f, seq, stream_kind == "v1.book.s", recv_ns)
        }
        "v1.trade" => trade(dec, &ctx, f, recv_ns),
        "v1.order" => order(dec, &ctx, f, recv_ns),
        "v1.fill" => fill(dec, &ctx, f, recv_ns),
        "v1.position" => position(dec, &ctx, f, recv_ns),
        _ => {
            dec.stats.ignored += 1;
            Ok(0)
        }
    }
}

/// A `v1.book.d` subscription (re)started: its books wait for the snapshot that follows.
fn subscribed(dec: &mut FeedDecoder, r: SubResult<'_>) -> u32 {
    if r.stream == Some("v1.book.d") {
        for sub in r.subs {
            let instrument = sub.split('@').next().unwrap_or(sub);
            if let Some((_, book)) = dec.lookup(instrument) {
                lock_book(&book).clear();
            }
        }
    }
    dec.stats.ignored += 1;
    0
}

fn levels<'a>(ls: &Option<Vec<Level<'a>>>) -> Vec<(&'a str, &'a str)> {
    ls.as_deref().unwrap_or(&[]).iter().map(|l| (l.price, l.size)).collect()
}

fn book(dec: &mut FeedDecoder, ctx: &Ctx<'_>, f: Feed<'_>, seq: u64, full: bool, recv_ns: i64) -> Result<u32, FeedError> {
    let sym = need(ctx, f.instrument, "instrument")?;
    let bids = levels(&f.bids);
    let asks = levels(&f.asks);
    let Some((_, book)) = dec.lookup(sym) else { return Ok(0) };
    let snapshot = full || seq == 0 || lock_book(&book).state() == SyncState::AwaitingSnapshot;
    let kind = if snapshot {
        Depth::Snapshot { seq, offset: None }
    } else {
        Depth::Delta(DeltaSeq { first: seq, last: seq, prev: None, offset: None })
    };
    dec.apply_depth(ctx, &book, &bids, &asks, kind, recv_ns)
}

fn trade(dec: &mut FeedDecoder, ctx: &Ctx<'_>, f: Feed<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let sym = need(ctx, f.instrument, "instrument")?;
    let p = need(ctx, f.price, "price")?;
    let q = need(ctx, f.size, "size")?;
    let taker_buyer = need(ctx, f.is_taker_buyer, "is_taker_buyer")?;
    let tid = trade_id(ctx, &f.trade_id)?;
    let Some((id, book)) = dec.lookup(sym) else { return Ok(0) };
    let (pd, sd) = FeedDecoder::scales(&book);
    let ev = Trade {
        venue: Venue::Grvt,
        book_id: id,
        px: ctx.fixed("price", p, pd)?,
        sz: ctx.fixed("size", q, sd)?,
        taker_side: if taker_buyer { Side::Bid } else { Side::Ask },
        trade_id: tid,
    };
    dec.emit_public(recv_ns, EventBody::Trade(ev));
    Ok(1)
}

fn client_id(ctx: &Ctx<'_>, f: Option<&Flex<'_>>) -> Result<u64, FeedError> {
    match f {
        None | Some(Flex::Null) => Ok(0),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| ctx.err(format!("client_order_id must be a uint64, got {}", v.type_name()))),
    }
}

/// `None` for an order the engine has not taken yet (PENDING without fills): it is not resting, and the
/// venue may still reject it (REJECTED comes only before OPEN), so it is no acknowledgement.
fn order_state(ctx: &Ctx<'_>, status: &str, filled: bool) -> Result<Option<OrderState>, FeedError> {
    Ok(Some(match status {
        "PENDING" | "OPEN" if filled => OrderState::PartiallyFilled,
        "PENDING" => return Ok(None),
        "OPEN" => OrderState::Open,
        "FILLED" => OrderState::Filled,
        "CANCELLED" => OrderState::Cancelled,
        "REJECTED" => OrderState::Rejected,
        other => return Err(ctx.err(format!("unknown order status {other:?}"))),
    }))
}

fn order(dec: &mut FeedDecoder, ctx: &Ctx<'_>, f: Feed<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let legs = need(ctx, f.legs.as_ref(), "legs")?;
    let leg = legs.first().ok_or_else(|| ctx.err("an order needs one leg"))?;
    let st = need(ctx, f.state.as_ref(), "state")?;
    let cid = client_id(ctx, f.metadata.as_ref().and_then(|m| m.client_order_id.as_ref()))?;
    let traded = st.traded_size.first().copied().unwrap_or("0");
    let avg = st.avg_fill_price.first().copied().unwrap_or("0");
    ctx.decimal("traded_size", traded)?;
    ctx.decimal("avg_fill_price", avg)?;
    let Some((_, book)) = dec.lookup(leg.instrument) else { return Ok(0) };
    let (pd, sd) = FeedDecoder::scales(&book);
    let filled = ctx.fixed("traded_size", traded, sd)?;
    let Some(state) = order_state(ctx, st.status, filled > 0)? else {
        dec.stats.ignored += 1;
        return Ok(0);
    };
    let avg_px = ctx.rounded("avg_fill_price", avg, pd)?;
    let reason = match state {
        OrderState::Rejected | OrderState::Cancelled => st.reject_reason.map(str::to_owned),
        _ => None,
    };
    dec.emit_private(
        recv_ns,
        EventBody::Order(OrderUpdate {
            venue: Venue::Grvt,
            client_id: cid,
            order_id: f.order_id.filter(|o| !o.is_empty() && *o != "0x00").map(str::to_owned),
            state,
            filled,
            avg_px,
            reason,
        }),
    );
    Ok(1)
}

fn fill(dec: &mut FeedDecoder, ctx: &Ctx<'_>, f: Feed<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let sym = need(ctx, f.instrument, "instrument")?;
    let p = need(ctx, f.price, "price")?;
    let q = need(ctx, f.size, "size")?;
    let is_buyer = need(ctx, f.is_buyer, "is_buyer")?;
    let is_taker = need(ctx, f.is_taker, "is_taker")?;
    let tid = trade_id(ctx, &f.trade_id)?;
    let cid = client_id(ctx, f.client_order_id.as_ref())?;
    let fee = match f.fee {
        Some(s) => Some(ctx.decimal("fee", s)?),
        None => None,
    };
    let Some((_, book)) = dec.lookup(sym) else { return Ok(0) };
    let (pd, sd) = FeedDecoder::scales(&book);
    let px = ctx.fixed("price", p, pd)?;
    let sz = ctx.fixed("size", q, sd)?;
    let (base, quote) = base_quote(sym);
    // GRVT fees are in the quote (settlement) currency; negative = rebate.
    let fee_units = match fee {
        Some(fee) => match fee_notional(fee, Some(quote), base, quote, px, pd, sd) {
            Some(v) => v,
            None => {
                dec.stats.fee_unconverted += 1;
                0
            }
        },
        None => 0,
    };
    dec.emit_private(
        recv_ns,
        EventBody::Fill(Fill {
            venue: Venue::Grvt,
            client_id: cid,
            trade_id: tid,
            side: if is_buyer { Side::Bid } else { Side::Ask },
            px,
            sz,
            maker: !is_taker,
            fee: fee_units,
        }),
    );
    Ok(1)
}

fn position(dec: &mut FeedDecoder, ctx: &Ctx<'_>, f: Feed<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let sym = need(ctx, f.instrument, "instrument")?;
    let q = need(ctx, f.size, "size")?;
    let entry = f.entry_price.unwrap_or("0");
    let Some((id, book)) = dec.lookup(sym) else { return Ok(0) };
    let (pd, sd) = FeedDecoder::scales(&book);
    let ev = Position {
        venue: Venue::Grvt,
        book_id: id,
        size: ctx.fixed("size", q, sd)?,
        entry_px: ctx.rounded("entry_price", entry, pd)?,
    };
    dec.emit_private(recv_ns, EventBody::Position(ev));
    Ok(1)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::book::OrderBook;
    use crate::decode::SharedBook;
    use crate::ring::EventRing;

    fn setup() -> (FeedDecoder, Arc<EventRing>, SharedBook) {
        let ring = Arc::new(EventRing::new(1024));
        let mut dec = FeedDecoder::new(Venue::Grvt, ring.clone());
        let b = Arc::new(Mutex::new(OrderBook::new(Venue::Grvt, "BTC_USDT_Perp", 2, 3)));
        dec.add_book(b.clone(), "BTC_USDT_Perp").unwrap();
        (dec, ring, b)
    }

    fn drain(ring: &EventRing) -> Vec<EventBody> {
        std::iter::from_fn(|| ring.pop()).map(|e| e.body).collect()
    }

    fn book_frame(stream: &str, seq: u64, bids: &str, asks: &str) -> Vec<u8> {
        format!(
            r#"{{"stream":"{stream}","selector":"BTC_USDT_Perp@500","sequence_number":"{seq}","feed":{{"event_time":"1697788800000000000","instrument":"BTC_USDT_Perp","bids":[{bids}],"asks":[{asks}]}},"prev_sequence_number":"{}"}}"#,
            seq.saturating_sub(1)
        )
        .into_bytes()
    }

    const SUB_ACK: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"subscribe","result":{"stream":"v1.book.d","subs":["BTC_USDT_Perp@500"],"unsubs":[],"num_snapshots":[1],"first_sequence_number":[872634876]}}"#;

    #[test]
    fn book_snapshot_deltas_gap_and_resubscribe() {
        let (mut dec, ring, b) = setup();
        let lvl = |p: &str, s: &str| format!(r#"{{"price":"{p}","size":"{s}","num_orders":1}}"#);
        assert_eq!(dec.feed(SUB_ACK, 1).unwrap(), 0);
        // the first frame after the ack is the snapshot, whatever its number
        let snap = book_frame("v1.book.d", 872634876, &lvl("65038.01", "1.5"), &lvl("65038.02", "2"));
        assert_eq!(dec.feed(&snap, 2).unwrap(), 1);
        assert_eq!(lock_book(&b).best_bid(), Some((6503801, 1500)));
        assert_eq!(lock_book(&b).seq(), 872634876);
        // contiguous delta: a level removed (size "0") and one added
        let d = book_frame("v1.book.d", 872634877, &format!("{},{}", lvl("65038.01", "0"), lvl("65037.00", "3")), "");
        assert_eq!(dec.feed(&d, 3).unwrap(), 1);
        assert_eq!(lock_book(&b).best_bid(), Some((6503700, 3000)));
        drain(&ring);
        // a jump is a gap: stale + Resync
        let gap = book_frame("v1.book.d", 872634880, &lvl("1", "1"), "");
        assert_eq!(dec.feed(&gap, 4).unwrap(), 1);
        assert!(matches!(&drain(&ring)[..], [EventBody::Resync(r)] if r.reason.contains("gap")));
        assert!(!lock_book(&b).is_valid());
        // resubscribe: the ack clears the book, the next frame is the fresh snapshot
        assert_eq!(dec.feed(SUB_ACK, 5).unwrap(), 0);
        let snap2 = book_frame("v1.book.d", 900, &lvl("65000", "1"), &lvl("65001", "1"));
        assert_eq!(dec.feed(&snap2, 6).unwrap(), 1);
        assert!(lock_book(&b).is_valid());
        assert_eq!(lock_book(&b).best_ask(), Some((6500100, 1000)));
        // a duplicate (network retry) is dropped, not a gap
        assert_eq!(dec.feed(&snap2.clone(), 7).unwrap_or(0), 0);
        let d2 = book_frame("v1.book.d", 901, "", &lvl("65001", "0"));
        assert_eq!(dec.feed(&d2, 8).unwrap(), 1);
        assert_eq!(lock_book(&b).best_ask(), None);
        // book.s frames are full snapshots
        let s = book_frame("v1.book.s", 5, &lvl("10", "1"), &lvl("11", "1"));
        assert_eq!(dec.feed(&s, 9).unwrap(), 1);
        assert_eq!(lock_book(&b).best_bid(), Some((1000, 1000)));
    }

    #[test]
    fn malformed_frames_are_refused_and_leave_the_book() {
        let (mut dec, _ring, b) = setup();
        let lvl = r#"{"price":"100","size":"1"}"#;
        dec.feed(&book_frame("v1.book.d", 0, lvl, ""), 1).unwrap();
        for bad in [
            &br#"{"stream":"v1.book.d","feed":{"instrument":"BTC_USDT_Perp","bids":[]}}"#[..],
            br#"{"stream":"v1.book.d","sequence_number":"1","feed":{"instrument":"BTC_USDT_Perp","bids":[{"price":"x","size":"1"}]}}"#,
            br#"{"stream":"v1.trade","sequence_number":"1","feed":{"instrument":"BTC_USDT_Perp","price":"1"}}"#,
            br#"{"stream":"v1.fill","feed":{"instrument":"BTC_USDT_Perp","price":"1","size":"1","is_buyer":true,"is_taker":true,"trade_id":"a-b"}}"#,
            br#"{"stream":"v1.order","feed":{"legs":[{"instrument":"BTC_USDT_Perp"}],"state":{"status":"WEIRD"}}}"#,
            br#"{"stream":"v1.book.d","#,
        ] {
            let e = dec.feed(bad, 2).unwrap_err();
            assert_eq!(e.venue, Venue::Grvt);
            assert!(!e.reason.is_empty());
        }
        assert_eq!(lock_book(&b).best_bid(), Some((10000, 1000)));
        let e = dec
            .feed(br#"{"jsonrpc":"2.0","id":3,"error":{"code":3030,"message":"bad depth"}}"#, 3)
            .unwrap_err();
        assert!(e.reason.contains("3030"));
    }

    #[test]
    fn trades_and_private_streams() {
        let (mut dec, ring, _b) = setup();
        let t = br#"{"stream":"v1.trade","selector":"BTC_USDT_Perp@500","sequence_number":"7","feed":{"event_time":"1","instrument":"BTC_USDT_Perp","is_taker_buyer":true,"size":"0.5","price":"65038.01","trade_id":"209358-2"}}"#;
        assert_eq!(dec.feed(t, 1).unwrap(), 1);
        let o = br#"{"stream":"v1.order","selector":"8289849667772468","sequence_number":"2","feed":{"order_id":"0x1028","sub_account_id":"8289849667772468","is_market":false,"time_in_force":"GOOD_TILL_TIME","post_only":true,"reduce_only":false,"legs":[{"instrument":"BTC_USDT_Perp","size":"1.0","limit_price":"65000.0","is_buying_asset":true}],"metadata":{"client_order_id":"23042"},"state":{"status":"OPEN","reject_reason":"UNSPECIFIED","book_size":["0.5"],"traded_size":["0.5"],"avg_fill_price":["65000.0"]}}}"#;
        assert_eq!(dec.feed(o, 2).unwrap(), 1);
        let c = br#"{"stream":"v1.order","feed":{"order_id":"0x1028","legs":[{"instrument":"BTC_USDT_Perp"}],"metadata":{"client_order_id":"23042"},"state":{"status":"CANCELLED","reject_reason":"CLIENT_CANCEL","traded_size":["0.5"],"avg_fill_price":["65000.0"]}}}"#;
        assert_eq!(dec.feed(c, 3).unwrap(), 1);
        let f = br#"{"stream":"v1.fill","selector":"8289849667772468","sequence_number":"3","feed":{"event_time":"1","sub_account_id":"8289849667772468","instrument":"BTC_USDT_Perp","is_buyer":true,"is_taker":false,"size":"0.5","price":"65000.0","fee":"-0.325","trade_id":"209358-3","order_id":"0x1028","client_order_id":"23042"}}"#;
        assert_eq!(dec.feed(f, 4).unwrap(), 1);
        let p = br#"{"stream":"v1.position","feed":{"instrument":"BTC_USDT_Perp","size":"-0.5","entry_price":"65000.004"}}"#;
        assert_eq!(dec.feed(p, 5).unwrap(), 1);
        let evs = drain(&ring);
        assert_eq!(
            evs,
            vec![
                EventBody::Trade(Trade { venue: Venue::Grvt, book_id: 0, px: 6503801, sz: 500, taker_side: Side::Bid, trade_id: (209358 << 16) | 2 }),
                EventBody::Order(OrderUpdate { venue: Venue::Grvt, client_id: 23042, order_id: Some("0x1028".into()), state: OrderState::PartiallyFilled, filled: 500, avg_px: 6500000, reason: None }),
                EventBody::Order(OrderUpdate { venue: Venue::Grvt, client_id: 23042, order_id: Some("0x1028".into()), state: OrderState::Cancelled, filled: 500, avg_px: 6500000, reason: Some("CLIENT_CANCEL".into()) }),
                // fee -0.325 USDT (a rebate) = -32500 units of 10^-(2+3)
                EventBody::Fill(Fill { venue: Venue::Grvt, client_id: 23042, trade_id: (209358 << 16) | 3, side: Side::Bid, px: 6500000, sz: 500, maker: true, fee: -32500 }),
                EventBody::Position(Position { venue: Venue::Grvt, book_id: 0, size: -500, entry_px: 6500000 }),
            ]
        );
        // PENDING (not taken by the engine yet, may still be rejected) is no acknowledgement: nothing emitted;
        // with fills it is a partial fill like OPEN
        let pending = br#"{"stream":"v1.order","feed":{"legs":[{"instrument":"BTC_USDT_Perp"}],"metadata":{"client_order_id":"9"},"state":{"status":"PENDING","traded_size":["0"]}}}"#;
        assert_eq!(dec.feed(pending, 6).unwrap(), 0);
        let rejected = br#"{"stream":"v1.order","feed":{"legs":[{"instrument":"BTC_USDT_Perp"}],"metadata":{"client_order_id":"9"},"state":{"status":"REJECTED","reject_reason":"FAIL_POST_ONLY","traded_size":["0"]}}}"#;
        assert_eq!(dec.feed(rejected, 7).unwrap(), 1);
        let filling = br#"{"stream":"v1.order","feed":{"legs":[{"instrument":"BTC_USDT_Perp"}],"metadata":{"client_order_id":"10"},"state":{"status":"PENDING","traded_size":["0.25"]}}}"#;
        assert_eq!(dec.feed(filling, 8).unwrap(), 1);
        assert!(matches!(&drain(&ring)[..], [
            EventBody::Order(OrderUpdate { client_id: 9, state: OrderState::Rejected, reason: Some(r), .. }),
            EventBody::Order(OrderUpdate { client_id: 10, state: OrderState::PartiallyFilled, filled: 250, .. }),
        ] if r == "FAIL_POST_ONLY"));
        // an instrument without a book: counted, nothing emitted
        let other = br#"{"stream":"v1.trade","feed":{"instrument":"ETH_USDT_Perp","is_taker_buyer":false,"size":"1","price":"1","trade_id":"5"}}"#;
        assert_eq!(dec.feed(other, 9).unwrap(), 0);
    }
}
