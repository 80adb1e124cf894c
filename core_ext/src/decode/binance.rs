//! Binance USD-M (and Aster, which copies it): raw `/ws/<stream>` payloads or combined-stream
//! `{"stream": ..., "data": {...}}` envelopes, as Binance's public USD-M futures WebSocket reference
//! describes them (market streams and the user data stream).
//! depthUpdate (diff depth), bookTicker, aggTrade (market streams); ORDER_TRADE_UPDATE and ACCOUNT_UPDATE
//! positions (user data stream). TRADE_LITE (a copy of ORDER_TRADE_UPDATE's fill) is counted as ignored.
//! markPriceUpdate (`<symbol>@markPrice[@1s]`, `!markPrice@arr[@1s]`): the feed decoder pushes one `MarkPrice`
//! ring event per market with a book (mark and index price in the book's units, funding rate in 10^-8);
//! `decode_mark_prices` also turns the frame into typed values at a fixed scale (the connector's latest-value
//! view, `BinanceMarkPrice`).

use serde::Deserialize;

use super::json::{sniff_str, Flex, Num};
use super::{base_quote, fee_notional, Ctx, Depth, FeedDecoder, FeedError};
use crate::book::DeltaSeq;
use crate::events::{EventBody, Fill, MarkPrice as MarkEvent, OrderState, OrderUpdate, Position, Side, Trade, FUNDING_RATE_DECIMALS};

#[derive(Deserialize, Default)]
#[allow(non_snake_case)]
struct Msg<'a> {
    #[serde(borrow, default)]
    stream: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<Box<Msg<'a>>>,
    #[serde(borrow, default)]
    e: Option<&'a str>,
    #[serde(borrow, default)]
    s: Option<&'a str>,
    #[serde(default)]
    U: Option<Num>,
    #[serde(default)]
    u: Option<Num>,
    #[serde(default)]
    pu: Option<Num>,
    /// depthUpdate: level arrays; bookTicker: best prices.
    #[serde(borrow, default)]
    b: Option<Flex<'a>>,
    #[serde(borrow, default)]
    a: Option<Flex<'a>>,
    #[serde(borrow, default)]
    B: Option<&'a str>,
    #[serde(borrow, default)]
    A: Option<&'a str>,
    #[serde(borrow, default)]
    o: Option<OrderMsg<'a>>,
    /// aggTrade: price, quantity, buyer-is-maker (`a` is then the aggregate trade id).
    #[serde(borrow, default)]
    p: Option<&'a str>,
    #[serde(borrow, default)]
    q: Option<&'a str>,
    #[serde(default)]
    m: Option<bool>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(borrow, default)]
    msg: Option<&'a str>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct OrderMsg<'a> {
    s: &'a str,
    #[serde(borrow, default)]
    c: Option<&'a str>,
    S: &'a str,
    x: &'a str,
    X: &'a str,
    i: u64,
    #[serde(default)]
    l: Option<&'a str>,
    z: &'a str,
    #[serde(default)]
    L: Option<&'a str>,
    #[serde(default)]
    ap: Option<&'a str>,
    #[serde(default)]
    n: Option<&'a str>,
    #[serde(default)]
    N: Option<&'a str>,
    #[serde(default)]
    t: Option<u64>,
    #[serde(default)]
    m: Option<bool>,
}

fn level_list<'d, 'a>(
    ctx: &Ctx<'_>,
    f: &'d Option<Flex<'a>>,
    name: &str,
) -> Result<&'d [(&'a str, &'a str)], FeedError> {
    match f {
        Some(Flex::Levels(l)) => Ok(l),
        None => Ok(&[]),
        Some(other) => Err(ctx.err(format!("field {name} must be a level array, got {}", other.type_name()))),
    }
}

fn need<T>(ctx: &Ctx<'_>, v: Option<T>, name: &str) -> Result<T, FeedError> {
    v.ok_or_else(|| ctx.err(format!("missing field {name}")))
}

/// The venue's entry in the core's venue table (`venues.rs`): its `VenueProtocol`.
pub struct BinanceUsdm;

impl crate::protocol::VenueProtocol for BinanceUsdm {
    const SEQ_RULE: crate::book::SeqRule = crate::book::SeqRule::of::<BinanceSeq>();
    fn feed(dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
        feed(dec, frame, recv_ns)
    }
}

/// Binance USD-M's book sequence rule (Aster's too): drop u < L; the first kept needs U <= L <= u; then
/// pu == previous u (U == previous u + 1 for a frame without pu).
pub struct BinanceSeq;

impl crate::book::SequenceRule for BinanceSeq {
    const NAME: &'static str = "binance_usdm";
    fn check(at: crate::book::SeqState, d: crate::book::DeltaSeq) -> Result<bool, String> {
        let l = at.seq;
        if at.first_after_snapshot {
            if d.last < l {
                Ok(false)
            } else if d.first <= l {
                Ok(true)
            } else {
                Err(format!("first event U={} u={} does not cover snapshot {}", d.first, d.last, l))
            }
        } else {
            match d.prev {
                Some(pu) if pu == l => Ok(true),
                Some(pu) => Err(format!("gap: pu={pu} but previous u={l}")),
                None if l.checked_add(1) == Some(d.first) => Ok(true),
                None => Err(format!("gap: U={} but previous u={}", d.first, l)),
            }
        }
    }
}

fn feed(dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
    let venue = dec.venue;
    if let Some(r) = dec.fast_path(frame, "depthUpdate", recv_ns) {
        return r;
    }
    let outer: Msg = match serde_json::from_slice(frame) {
        Ok(m) => m,
        // the all-market stream (`!markPrice@arr`) is an array, raw or in the combined envelope
        Err(_) if frame.windows(17).any(|w| w == b"\"markPriceUpdate\"") => return mark_price(dec, frame, recv_ns),
        Err(e) => {
            let channel = sniff_str(frame, "stream").or_else(|| sniff_str(frame, "e")).unwrap_or("?");
            return Err(FeedError { venue, channel: channel.to_owned(), reason: format!("bad JSON: {e}") });
        }
    };
    let stream = outer.stream;
    let m = match outer.data {
        Some(inner) => *inner,
        None => outer,
    };
    let channel = stream.or(m.e).unwrap_or("");
    let ctx = Ctx { venue, channel };
    if let Some(code) = m.code {
        return Err(ctx.err(format!("venue error {code}: {}", m.msg.unwrap_or(""))));
    }
    match m.e.unwrap_or("") {
        "depthUpdate" => depth(dec, &ctx, &m, recv_ns),
        "bookTicker" => book_ticker(dec, &ctx, &m, recv_ns),
        "ORDER_TRADE_UPDATE" => order_update(dec, &ctx, &m, recv_ns),
        "aggTrade" => agg_trade(dec, &ctx, &m, recv_ns),
        "ACCOUNT_UPDATE" => account_update(dec, &ctx, frame, recv_ns),
        "markPriceUpdate" => mark_price(dec, frame, recv_ns),
        _ => {
            dec.stats.ignored += 1;
            Ok(0)
        }
    }
}

fn depth(dec: &mut FeedDecoder, ctx: &Ctx<'_>, m: &Msg<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let sym = need(ctx, m.s, "s")?;
    let first = need(ctx, m.U, "U")?.0;
    let last = need(ctx, m.u, "u")?.0;
    if first > last {
        return Err(ctx.err(format!("U={first} > u={last}")));
    }
    let prev = m.pu.map(|p| p.0);
    let bids = level_list(ctx, &m.b, "b")?;
    let asks = level_list(ctx, &m.a, "a")?;
    let Some((_, book)) = dec.lookup(sym) else { return Ok(0) };
    dec.apply_depth(
        ctx,
        &book,
        bids,
        asks,
        Depth::Delta(DeltaSeq { first, last, prev, offset: None }),
        recv_ns,
    )
}

fn book_ticker(dec: &mut FeedDecoder, ctx: &Ctx<'_>, m: &Msg<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let sym = need(ctx, m.s, "s")?;
    let u = need(ctx, m.u, "u")?.0;
    let s = |f: &Option<Flex<'_>>, name: &str| -> Result<String, FeedError> {
        match f {
            Some(Flex::Str(v)) => Ok(v.to_string()),
            Some(o) => Err(ctx.err(format!("field {name} must be a string, got {}", o.type_name()))),
            None => Err(ctx.err(format!("missing field {name}"))),
        }
    };
    let (bp, ap) = (s(&m.b, "b")?, s(&m.a, "a")?);
    let (bq, aq) = (need(ctx, m.B, "B")?, need(ctx, m.A, "A")?);
    let Some((id, book)) = dec.lookup(sym) else { return Ok(0) };
    let (pd, sd) = FeedDecoder::scales(&book);
    let bid = (ctx.fixed("b", &bp, pd)?, ctx.fixed("B", bq, sd)?);
    let ask = (ctx.fixed("a", &ap, pd)?, ctx.fixed("A", aq, sd)?);
    super::check_ticker(bid, ask).map_err(|why| ctx.err(why))?;
    Ok(dec.emit_ticker(id, &book, bid, ask, u, recv_ns))
}

fn agg_trade(dec: &mut FeedDecoder, ctx: &Ctx<'_>, m: &Msg<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let sym = need(ctx, m.s, "s")?;
    let p = need(ctx, m.p, "p")?;
    let q = need(ctx, m.q, "q")?;
    let trade_id = match &m.a {
        Some(f) => f.as_u64().ok_or_else(|| ctx.err(format!("field a must be an integer, got {}", f.type_name())))?,
        None => return Err(ctx.err("missing field a")),
    };
    let buyer_maker = need(ctx, m.m, "m")?;
    let Some((id, book)) = dec.lookup(sym) else { return Ok(0) };
    let (pd, sd) = FeedDecoder::scales(&book);
    let ev = Trade {
        venue: dec.venue,
        book_id: id,
        px: ctx.fixed("p", p, pd)?,
        sz: ctx.fixed("q", q, sd)?,
        taker_side: if buyer_maker { Side::Ask } else { Side::Bid },
        trade_id,
    };
    dec.emit_public(recv_ns, EventBody::Trade(ev));
    Ok(1)
}

#[derive(Deserialize)]
struct AccountFrame<'a> {
    #[serde(borrow, default)]
    data: Option<AccountEvent<'a>>,
    #[serde(borrow, default)]
    a: Option<AccountData<'a>>,
}

#[derive(Deserialize)]
struct AccountEvent<'a> {
    #[serde(borrow)]
    a: AccountData<'a>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct AccountData<'a> {
    #[serde(borrow, default)]
    P: Vec<AccountPosition<'a>>,
}

#[derive(Deserialize)]
struct AccountPosition<'a> {
    s: &'a str,
    pa: &'a str,
    ep: &'a str,
    #[serde(default)]
    ps: Option<&'a str>,
}

/// ACCOUNT_UPDATE: one `Position` per one-way (`ps` BOTH) position of a market we keep; hedge-mode legs
/// (LONG/SHORT) are not ours to net here and are left out. Balances (`B`) are not events of the core.
fn account_update(dec: &mut FeedDecoder, ctx: &Ctx<'_>, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
    let parsed: AccountFrame = serde_json::from_slice(frame).map_err(|e| ctx.err(format!("bad JSON: {e}")))?;
    let data = match (parsed.data, parsed.a) {
        (Some(ev), _) => ev.a,
        (None, Some(a)) => a,
        (None, None) => return Err(ctx.err("missing field a")),
    };
    let mut out = Vec::with_capacity(data.P.len());
    for p in &data.P {
        if p.ps.is_some_and(|ps| ps != "BOTH") {
            continue;
        }
        let Some((id, book)) = dec.lookup(p.s) else { continue };
        let (pd, sd) = FeedDecoder::scales(&book);
        out.push(Position { venue: dec.venue, book_id: id, size: ctx.fixed("pa", p.pa, sd)?, entry_px: ctx.rounded("ep", p.ep, pd)? });
    }
    let n = out.len() as u32;
    for ev in out {
        dec.emit_private(recv_ns, EventBody::Position(ev));
    }
    Ok(n)
}

fn order_state(ctx: &Ctx<'_>, x: &str) -> Result<OrderState, FeedError> {
    Ok(match x {
        "NEW" => OrderState::Open,
        "PARTIALLY_FILLED" => OrderState::PartiallyFilled,
        "FILLED" => OrderState::Filled,
        "CANCELED" => OrderState::Cancelled,
        "REJECTED" => OrderState::Rejected,
        "EXPIRED" | "EXPIRED_IN_MATCH" => OrderState::Expired,
        other => return Err(ctx.err(format!("unknown order status X={other:?}"))),
    })
}

fn order_update(dec: &mut FeedDecoder, ctx: &Ctx<'_>, m: &Msg<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let o = m.o.as_ref().ok_or_else(|| ctx.err("missing field o"))?;
    let state = order_state(ctx, o.X)?;
    let side = match o.S {
        "BUY" => Side::Bid,
        "SELL" => Side::Ask,
        other => return Err(ctx.err(format!("bad side S={other:?}"))),
    };
    // Our client ids are decimal integers; liquidation / ADL orders carry text ids and map to 0.
    let client_id = o.c.and_then(|c| c.parse::<u64>().ok()).unwrap_or(0);
    let z = ctx.decimal("z", o.z)?;
    let Some((_, book)) = dec.lookup(o.s) else { return Ok(0) };
    let (pd, sd) = FeedDecoder::scales(&book);
    let filled = ctx.fixed("z", o.z, sd)?;
    let avg_px = match o.ap {
        Some(ap) if z.mantissa != 0 => ctx.rounded("ap", ap, pd)?,
        _ => 0,
    };
    let reason = matches!(state, OrderState::Expired | OrderState::Rejected).then(|| o.X.to_owned());
    let mut events = vec![EventBody::Order(OrderUpdate {
        venue: ctx.venue,
        client_id,
        order_id: Some(o.i.to_string()),
        state,
        filled,
        avg_px,
        reason,
    })];
    if o.x == "TRADE" {
        let px = ctx.fixed("L", need(ctx, o.L, "L")?, pd)?;
        let sz = ctx.fixed("l", need(ctx, o.l, "l")?, sd)?;
        let (base, quote) = base_quote(o.s);
        let fee = match o.n {
            Some(n) => match fee_notional(ctx.decimal("n", n)?, o.N, base, quote, px, pd, sd) {
                Some(v) => v,
                None => {
                    dec.stats.fee_unconverted += 1;
                    0
                }
            },
            None => 0,
        };
        events.push(EventBody::Fill(Fill {
            venue: ctx.venue,
            client_id,
            trade_id: need(ctx, o.t, "t")?,
            side,
            px,
            sz,
            maker: o.m.unwrap_or(false),
            fee,
        }));
    }
    let n = events.len() as u32;
    for e in events {
        dec.emit_private(recv_ns, e);
    }
    Ok(n)
}

/// The fixed scale of mark-price values: the venue publishes mark, index and settle prices and the funding
/// rate with 8 decimals (more than a market's tick: the mark is computed, not traded).
pub const MARK_DECIMALS: u32 = 8;

/// One `markPriceUpdate`: prices and the funding rate in units of 10^-decimals, times in venue milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkPrice {
    pub symbol: String,
    pub event_ms: u64,
    pub mark_px: i64,
    pub index_px: i64,
    pub settle_px: i64,
    /// None for contracts without funding (the venue sends `""`).
    pub funding_rate: Option<i64>,
    /// 0 for contracts without funding.
    pub next_funding_ms: u64,
}

// Owned strings: untagged enums buffer their input, and a mark-price frame comes once a second.
#[derive(Deserialize)]
#[serde(untagged)]
enum MarkFrame {
    Combined { stream: String, data: MarkData },
    One(MarkMsg),
    Many(Vec<MarkMsg>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum MarkData {
    One(MarkMsg),
    Many(Vec<MarkMsg>),
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct MarkMsg {
    #[serde(default)]
    e: Option<String>,
    // Times as any JSON value, checked in `mark_one` (a wrong type there names the field).
    #[serde(default)]
    E: Option<serde_json::Value>,
    #[serde(default)]
    s: Option<String>,
    #[serde(default)]
    p: Option<String>,
    #[serde(default)]
    i: Option<String>,
    #[serde(default)]
    P: Option<String>,
    #[serde(default)]
    r: Option<String>,
    #[serde(default)]
    T: Option<serde_json::Value>,
}

fn millis(ctx: &Ctx<'_>, v: &Option<serde_json::Value>, name: &str) -> Result<Option<u64>, FeedError> {
    match v {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) => {
            n.as_u64().map(Some).ok_or_else(|| ctx.err(format!("field {name} must be a non-negative integer, got {n}")))
        }
        Some(other) => Err(ctx.err(format!("field {name} must be an integer, got {other}"))),
    }
}

/// Decode a mark-price frame (raw, combined envelope, or the all-market array) into typed values at
/// `decimals` (rounded half-even past it). A frame that is not a markPriceUpdate is an error naming its
/// event; nothing is returned from a frame with one bad entry.
pub fn decode_mark_prices(venue: crate::events::Venue, frame: &[u8], decimals: u32) -> Result<Vec<MarkPrice>, FeedError> {
    let (channel, msgs) = parse_marks(venue, frame)?;
    let ctx = Ctx { venue, channel: &channel };
    msgs.iter().map(|m| mark_one(&ctx, m, decimals)).collect()
}

/// markPriceUpdate in the feed: one `MarkPrice` ring event per entry whose market has a book, prices rounded
/// (half-even) to the book's price decimals, the rate to 10^-8. Every entry is checked before any is pushed.
fn mark_price(dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
    let venue = dec.venue;
    let (channel, msgs) = parse_marks(venue, frame)?;
    let ctx = Ctx { venue, channel: &channel };
    let mut out = Vec::with_capacity(msgs.len());
    for m in &msgs {
        // validated at the fixed scale first, so a bad entry is an error whether or not we keep its market
        let v = mark_one(&ctx, m, MARK_DECIMALS)?;
        let Some((id, book)) = dec.lookup(&v.symbol) else { continue };
        let (pd, _) = FeedDecoder::scales(&book);
        let px = |name: &str, text: &Option<String>| ctx.rounded(name, text.as_deref().unwrap_or("0"), pd);
        let funding_rate = match m.r.as_deref() {
            Some("") | None => None,
            Some(r) => Some(ctx.rounded("r", r, FUNDING_RATE_DECIMALS)?),
        };
        out.push(MarkEvent {
            venue,
            book_id: id,
            mark_px: px("p", &m.p)?,
            index_px: Some(px("i", &m.i)?),
            funding_rate,
            next_funding_ms: v.next_funding_ms,
            venue_ms: v.event_ms,
        });
    }
    if out.is_empty() {
        dec.stats.ignored += 1;
    }
    let n = out.len() as u32;
    for ev in out {
        dec.emit_public(recv_ns, EventBody::Mark(ev));
    }
    Ok(n)
}

fn parse_marks(venue: crate::events::Venue, frame: &[u8]) -> Result<(String, Vec<MarkMsg>), FeedError> {
    let parsed: MarkFrame = serde_json::from_slice(frame).map_err(|e| {
        let channel = sniff_str(frame, "stream").or_else(|| sniff_str(frame, "e")).unwrap_or("?");
        FeedError { venue, channel: channel.to_owned(), reason: format!("bad markPriceUpdate JSON: {e}") }
    })?;
    let (channel, msgs) = match parsed {
        MarkFrame::Combined { stream, data: MarkData::One(m) } => (stream, vec![m]),
        MarkFrame::Combined { stream, data: MarkData::Many(v) } => (stream, v),
        MarkFrame::One(m) => ("markPriceUpdate".to_owned(), vec![m]),
        MarkFrame::Many(v) => ("!markPrice@arr".to_owned(), v),
    };
    Ok((channel, msgs))
}

fn mark_one(ctx: &Ctx<'_>, m: &MarkMsg, decimals: u32) -> Result<MarkPrice, FeedError> {
    match m.e.as_deref() {
        Some("markPriceUpdate") => {}
        Some(other) => return Err(ctx.err(format!("not a markPriceUpdate: e={other:?}"))),
        None => return Err(ctx.err("missing field e")),
    }
    let price = |name: &str, v: &Option<String>| ctx.rounded(name, need(ctx, v.as_deref(), name)?, decimals);
    let funding_rate = match need(ctx, m.r.as_deref(), "r")? {
        "" => None,
        r => Some(ctx.rounded("r", r, decimals)?),
    };
    Ok(MarkPrice {
        symbol: need(ctx, m.s.clone(), "s")?,
        event_ms: need(ctx, millis(ctx, &m.E, "E")?, "E")?,
        mark_px: price("p", &m.p)?,
        index_px: price("i", &m.i)?,
        settle_px: price("P", &m.P)?,
        funding_rate,
        next_funding_ms: millis(ctx, &m.T, "T")?.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use crate::book::OrderBook;
    use crate::decode::FeedDecoder;
    use crate::events::{EventBody, Position, Side, Trade, Venue};
    use crate::ring::EventRing;

    fn setup() -> (FeedDecoder, Arc<EventRing>) {
        let ring = Arc::new(EventRing::new(64));
        let mut dec = FeedDecoder::new(Venue::BinanceUsdm, ring.clone());
        let book = Arc::new(Mutex::new(OrderBook::new(Venue::BinanceUsdm, "BTCUSDC", 1, 3)));
        dec.add_book(book, "BTCUSDC").unwrap();
        (dec, ring)
    }

    fn drain(ring: &EventRing) -> Vec<EventBody> {
        std::iter::from_fn(|| ring.pop()).map(|e| e.body).collect()
    }

    #[test]
    fn agg_trade_raw_and_combined() {
        let (mut dec, ring) = setup();
        let raw = br#"{"e":"aggTrade","E":123456789,"s":"BTCUSDC","a":5933014,"p":"100100.5","q":"0.012","f":100,"l":105,"T":123456785,"m":true}"#;
        assert_eq!(dec.feed(raw, 1).unwrap(), 1);
        let combined = br#"{"stream":"btcusdc@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDC","a":7,"p":"99.9","q":"1","f":1,"l":1,"T":1,"m":false}}"#;
        assert_eq!(dec.feed(combined, 2).unwrap(), 1);
        let evs = drain(&ring);
        let t = |px, sz, taker_side, trade_id| EventBody::Trade(Trade { venue: Venue::BinanceUsdm, book_id: 0, px, sz, taker_side, trade_id });
        assert_eq!(evs, vec![t(1_001_005, 12, Side::Ask, 5933014), t(999, 1000, Side::Bid, 7)]);
        // a malformed one names the field and emits nothing
        let bad = br#"{"e":"aggTrade","s":"BTCUSDC","a":"x","p":"1","q":"1","m":true}"#;
        let err = dec.feed(bad, 3).unwrap_err();
        assert!(err.reason.contains("field a"), "{}", err.reason);
        assert!(drain(&ring).is_empty());
    }

    #[test]
    fn account_update_positions_one_way_only() {
        let (mut dec, ring) = setup();
        let frame = br#"{"e":"ACCOUNT_UPDATE","E":1564745798939,"T":1564745798938,"a":{"m":"ORDER","B":[{"a":"USDC","wb":"122624.12345678","cw":"100.12345678","bc":"50.12345678"}],"P":[{"s":"BTCUSDC","pa":"-0.004","ep":"100000.05","bep":"0","cr":"0","up":"0","mt":"cross","iw":"0","ps":"BOTH"},{"s":"BTCUSDC","pa":"0.1","ep":"1","cr":"0","up":"0","mt":"cross","iw":"0","ps":"LONG"},{"s":"ETHUSDC","pa":"1","ep":"1","cr":"0","up":"0","mt":"cross","iw":"0","ps":"BOTH"}]}}"#;
        assert_eq!(dec.feed(frame, 1).unwrap(), 1);
        assert_eq!(
            drain(&ring),
            vec![EventBody::Position(Position { venue: Venue::BinanceUsdm, book_id: 0, size: -4, entry_px: 1_000_001 })]
        );
        let bad = br#"{"e":"ACCOUNT_UPDATE","a":{"P":[{"s":"BTCUSDC","pa":"0.0001","ep":"1","ps":"BOTH"}]}}"#;
        assert!(dec.feed(bad, 2).is_err());
        assert!(drain(&ring).is_empty());
    }

    #[test]
    fn trade_lite_is_ignored() {
        let (mut dec, ring) = setup();
        let lite = br#"{"e":"TRADE_LITE","E":1,"T":1,"s":"BTCUSDC","q":"0.001","p":"1","m":true,"c":"7","S":"BUY","L":"1","l":"0.001","t":1,"i":2}"#;
        assert_eq!(dec.feed(lite, 2).unwrap(), 0);
        assert!(drain(&ring).is_empty());
    }

    #[test]
    fn mark_price_is_a_ring_event_in_book_units() {
        use crate::events::MarkPrice;
        let (mut dec, ring) = setup(); // BTCUSDC: 1 price decimal
        let raw = br#"{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDC","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}"#;
        assert_eq!(dec.feed(raw, 7).unwrap(), 1);
        let want = MarkPrice {
            venue: Venue::BinanceUsdm,
            book_id: 0,
            mark_px: 117_942, // 11794.15 half-even at one decimal
            index_px: Some(117_846),
            funding_rate: Some(38_167),
            next_funding_ms: 1562306400000,
            venue_ms: 1562305380000,
        };
        assert_eq!(drain(&ring), vec![EventBody::Mark(want.clone())]);
        // combined envelope; the all-market array (raw and combined) keeps only markets with a book
        let combined = br#"{"stream":"btcusdc@markPrice@1s","data":{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDC","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}}"#;
        assert_eq!(dec.feed(combined, 8).unwrap(), 1);
        assert_eq!(drain(&ring), vec![EventBody::Mark(want)]);
        let arr = br#"[{"e":"markPriceUpdate","E":1,"s":"ETHUSDC","p":"1.5","i":"1","P":"1","r":"-0.0001","T":2},{"e":"markPriceUpdate","E":1,"s":"BTCUSDC","p":"2","i":"2","P":"2","r":"-0.0001","T":2}]"#;
        assert_eq!(dec.feed(arr, 9).unwrap(), 1);
        let got = drain(&ring);
        assert!(matches!(&got[..], [EventBody::Mark(m)] if m.mark_px == 20 && m.funding_rate == Some(-10_000)));
        let wrapped = br#"{"stream":"!markPrice@arr@1s","data":[{"e":"markPriceUpdate","E":1,"s":"BTCUSDC","p":"3","i":"3","P":"3","r":"","T":0}]}"#;
        assert_eq!(dec.feed(wrapped, 10).unwrap(), 1);
        let got = drain(&ring);
        assert!(matches!(&got[..], [EventBody::Mark(m)] if m.mark_px == 30 && m.funding_rate.is_none() && m.next_funding_ms == 0));
        // a market without a book: nothing, counted as ignored; a bad entry: an error naming the field, nothing pushed
        let other = br#"{"e":"markPriceUpdate","E":1,"s":"XRPUSDC","p":"1","i":"1","P":"1","r":"0","T":2}"#;
        let ignored = dec.stats.ignored;
        assert_eq!(dec.feed(other, 11).unwrap(), 0);
        assert_eq!(dec.stats.ignored, ignored + 1);
        let bad = br#"[{"e":"markPriceUpdate","E":1,"s":"BTCUSDC","p":"2","i":"2","P":"2","r":"0","T":2},{"e":"markPriceUpdate","E":1,"s":"BTCUSDC","p":"x","i":"2","P":"2","r":"0","T":2}]"#;
        let err = dec.feed(bad, 12).unwrap_err();
        assert!(err.reason.contains("p"), "{err}");
        assert!(drain(&ring).is_empty());
    }

    #[test]
    fn mark_price_decoded_raw_combined_and_array() {
        use super::{decode_mark_prices, MarkPrice, MARK_DECIMALS};
        let raw = br#"{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}"#;
        let want = MarkPrice {
            symbol: "BTCUSDT".into(),
            event_ms: 1562305380000,
            mark_px: 1_179_415_000_000,
            index_px: 1_178_462_659_091,
            settle_px: 1_178_425_641_265,
            funding_rate: Some(38_167),
            next_funding_ms: 1562306400000,
        };
        assert_eq!(decode_mark_prices(Venue::BinanceUsdm, raw, MARK_DECIMALS).unwrap(), vec![want.clone()]);
        let combined = br#"{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}}"#;
        assert_eq!(decode_mark_prices(Venue::BinanceUsdm, combined, MARK_DECIMALS).unwrap(), vec![want.clone()]);
        // the all-market stream is an array; a delivery contract has no funding ("" and T 0)
        let arr = br#"[{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"1.5","i":"1","P":"1","r":"-0.0001","T":2},{"e":"markPriceUpdate","E":1,"s":"BTCUSDT_260925","p":"2","i":"2","P":"2","r":"","T":0}]"#;
        let got = decode_mark_prices(Venue::BinanceUsdm, arr, 2).unwrap();
        assert_eq!((got[0].mark_px, got[0].funding_rate, got[0].next_funding_ms), (150, Some(0), 2));
        assert_eq!((got[1].symbol.as_str(), got[1].funding_rate), ("BTCUSDT_260925", None));
    }

    #[test]
    fn mark_price_bad_frames_name_the_field() {
        use super::{decode_mark_prices, MARK_DECIMALS};
        let cases: [(&[u8], &str); 6] = [
            (br#"{"e":"markPriceUpdate","E":"x","s":"BTCUSDT","p":"1","i":"1","P":"1","r":"0","T":2}"#, "field E"),
            (br#"{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"abc","i":"1","P":"1","r":"0","T":2}"#, "bad p"),
            (br#"{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","i":"1","P":"1","r":"0","T":2}"#, "missing field p"),
            (br#"{"e":"markPriceUpdate","E":1,"p":"1","i":"1","P":"1","r":"0","T":2}"#, "missing field s"),
            (br#"{"e":"aggTrade","E":1,"s":"BTCUSDT"}"#, "not a markPriceUpdate"),
            (br#"{"e":"markPriceUpdate","s":"BTC"#, "bad markPriceUpdate JSON"),
        ];
        for (frame, want) in cases {
            let err = decode_mark_prices(Venue::BinanceUsdm, frame, MARK_DECIMALS).unwrap_err();
            assert!(err.reason.contains(want), "{want}: {}", err.reason);
            assert_eq!(err.venue, Venue::BinanceUsdm);
        }
        // one bad entry of an array: nothing returned
        let arr = br#"[{"e":"markPriceUpdate","E":1,"s":"A","p":"1","i":"1","P":"1","r":"0","T":2},{"e":"markPriceUpdate","E":1,"s":"B","p":"x","i":"1","P":"1","r":"0","T":2}]"#;
        assert!(decode_mark_prices(Venue::Aster, arr, MARK_DECIMALS).unwrap_err().reason.contains("bad p"));
    }
}
