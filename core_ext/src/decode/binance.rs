//! Binance USD-M (and Aster, which copies it): raw `/ws/<stream>` payloads or combined-stream
//! `{"stream": ..., "data": {...}}` envelopes, as Binance's public USD-M futures WebSocket reference
//! describes them (market streams and the user data stream).
//! depthUpdate (diff depth), bookTicker, ORDER_TRADE_UPDATE (user data stream).

use serde::Deserialize;

use super::json::{sniff_str, Flex, Num};
use super::{base_quote, fee_notional, Ctx, Depth, FeedDecoder, FeedError};
use crate::book::DeltaSeq;
use crate::events::{EventBody, Fill, OrderState, OrderUpdate, Side};

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

/// The venue's entry in the core's venue table (`venues.rs`).
pub struct BinanceUsdm;

impl crate::venues::VenueProtocol for BinanceUsdm {
    const SEQ_RULE: crate::book::SeqRule = crate::book::SeqRule::BinanceUsdm;
    fn feed(dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
        feed(dec, frame, recv_ns)
    }
}

fn feed(dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
    let venue = dec.venue;
    if let Some(r) = dec.fast_path(frame, "depthUpdate", recv_ns) {
        return r;
    }
    let outer: Msg = match serde_json::from_slice(frame) {
        Ok(m) => m,
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
