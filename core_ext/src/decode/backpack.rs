//! Backpack: `{"stream": "<name>", "data": {...}}` frames (see docs venues/backpack.md §6).
//! Streams: depth.<s> (and depth.<ms>.<s>), bookTicker.<s>, trade.<s>, markPrice.<s> (-> MarkPrice),
//! account.orderUpdate[.<s>], account.positionUpdate[.<s>]. The `data` object comes before `stream` on the wire, so the frame is
//! parsed once into a union of the fields those payloads use and dispatched on `data.e` / `stream`.

use serde::Deserialize;

use super::json::{sniff_str, Flex, Num};
use super::{avg_price, base_quote, fee_notional, lock_book, Ctx, Depth, FeedDecoder, FeedError};
use crate::book::DeltaSeq;
use crate::events::{
    EventBody, Fill, MarkPrice, OrderState, OrderUpdate, Position, Side, Trade, Venue, FUNDING_RATE_DECIMALS,
};

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    stream: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<Data<'a>>,
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

/// Union of the `data` fields of every stream we decode. Keys are Backpack's one-letter names.
#[derive(Deserialize, Default)]
#[allow(non_snake_case)]
struct Data<'a> {
    #[serde(borrow, default)]
    e: Option<&'a str>,
    #[serde(borrow, default)]
    s: Option<&'a str>,
    #[serde(default)]
    U: Option<Num>,
    #[serde(default)]
    u: Option<Num>,
    /// depth: ask levels; bookTicker: best ask price; order: take-profit trigger price.
    #[serde(borrow, default)]
    a: Option<Flex<'a>>,
    /// depth: bid levels; bookTicker: best bid price; trade: buyer order id; position: break-even.
    #[serde(borrow, default)]
    b: Option<Flex<'a>>,
    #[serde(borrow, default)]
    A: Option<Flex<'a>>,
    /// bookTicker: best bid qty; order: trigger-by; position: entry price.
    #[serde(borrow, default)]
    B: Option<Flex<'a>>,
    #[serde(borrow, default)]
    p: Option<Flex<'a>>,
    #[serde(borrow, default)]
    q: Option<Flex<'a>>,
    /// trade id (number; null on non-fill order events).
    #[serde(borrow, default)]
    t: Option<Flex<'a>>,
    /// trade: buyer is maker; order: this order was the maker (bool); position: MMF (string).
    #[serde(borrow, default)]
    m: Option<Flex<'a>>,
    /// order id (string) or position id (number).
    #[serde(borrow, default)]
    i: Option<Flex<'a>>,
    /// clientId (uint32), only when set.
    #[serde(borrow, default)]
    c: Option<Flex<'a>>,
    #[serde(borrow, default)]
    S: Option<&'a str>,
    #[serde(borrow, default)]
    X: Option<&'a str>,
    #[serde(borrow, default)]
    R: Option<&'a str>,
    #[serde(borrow, default)]
    l: Option<Flex<'a>>,
    #[serde(borrow, default)]
    L: Option<Flex<'a>>,
    #[serde(borrow, default)]
    z: Option<&'a str>,
    #[serde(borrow, default)]
    Z: Option<&'a str>,
    #[serde(borrow, default)]
    n: Option<Flex<'a>>,
    #[serde(borrow, default)]
    N: Option<&'a str>,
    /// event time (µs).
    #[serde(borrow, default)]
    E: Option<Flex<'a>>,
    /// markPrice: estimated funding rate; order: time in force.
    #[serde(borrow, default)]
    f: Option<Flex<'a>>,
}

fn need_str<'f>(ctx: &Ctx<'_>, f: &'f Option<Flex<'_>>, name: &str) -> Result<&'f str, FeedError> {
    match f {
        Some(Flex::Str(s)) => Ok(s),
        Some(other) => Err(ctx.err(format!("field {name} must be a string, got {}", other.type_name()))),
        None => Err(ctx.err(format!("missing field {name}"))),
    }
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

fn side(ctx: &Ctx<'_>, s: Option<&str>) -> Result<Side, FeedError> {
    match s {
        Some("Bid") => Ok(Side::Bid),
        Some("Ask") => Ok(Side::Ask),
        Some(o) => Err(ctx.err(format!("bad side {o:?}"))),
        None => Err(ctx.err("missing field S")),
    }
}

/// The venue's entry in the core's venue table (`venues.rs`): its `VenueProtocol`.
pub struct Backpack;

impl crate::protocol::VenueProtocol for Backpack {
    const SEQ_RULE: crate::book::SeqRule = crate::book::SeqRule::of::<BackpackSeq>();
    fn feed(dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
        feed(dec, frame, recv_ns)
    }
}

/// Backpack's book sequence rule (GRVT numbers its deltas the same way): snapshot `lastUpdateId` L;
/// drop deltas with u <= L; the first kept needs U <= L+1 <= u; then U == previous u + 1.
pub struct BackpackSeq;

impl crate::book::SequenceRule for BackpackSeq {
    const NAME: &'static str = "backpack";
    fn check(at: crate::book::SeqState, d: crate::book::DeltaSeq) -> Result<bool, String> {
        let l = at.seq;
        if at.first_after_snapshot {
            if d.last <= l {
                Ok(false)
            } else if l.checked_add(1).is_some_and(|next| d.first <= next) {
                Ok(true)
            } else {
                Err(format!("first delta U={} u={} does not cover snapshot {}+1", d.first, d.last, l))
            }
        } else if l.checked_add(1) == Some(d.first) {
            Ok(true)
        } else {
            // u = 2^64-1 has no successor: nothing after it is applied (a resync starts over)
            Err(format!("gap: U={} but previous u={}", d.first, l))
        }
    }
}

fn feed(dec: &mut FeedDecoder, frame: &[u8], recv_ns: i64) -> Result<u32, FeedError> {
    if let Some(r) = dec.fast_path(frame, "depth", recv_ns) {
        return r;
    }
    let env: Envelope = match serde_json::from_slice(frame) {
        Ok(e) => e,
        Err(e) => {
            let channel = sniff_str(frame, "stream").unwrap_or("?");
            return Err(FeedError {
                venue: Venue::Backpack,
                channel: channel.to_owned(),
                reason: format!("bad JSON: {e}"),
            });
        }
    };
    let stream = env.stream.unwrap_or("");
    let ctx = Ctx { venue: Venue::Backpack, channel: stream };
    if let Some(err) = env.error {
        return Err(ctx.err(format!(
            "venue error {}: {}",
            err.code.unwrap_or_default(),
            err.message.unwrap_or("")
        )));
    }
    let Some(d) = env.data else {
        dec.stats.ignored += 1;
        return Ok(0);
    };
    let kind = d.e.unwrap_or("");
    match kind {
        "depth" => depth(dec, &ctx, d, recv_ns),
        "bookTicker" => book_ticker(dec, &ctx, d, recv_ns),
        "trade" => trade(dec, &ctx, d, recv_ns),
        "markPrice" => mark_price(dec, &ctx, d, recv_ns),
        "orderAccepted" | "orderCancelled" | "orderExpired" | "orderFill" | "orderModified"
        | "triggerPlaced" | "triggerFailed" => order_update(dec, &ctx, d, recv_ns),
        "positionAdjusted" | "positionOpened" | "positionClosed" => position(dec, &ctx, d, recv_ns),
        // The position snapshot sent on subscribe has no `e`.
        "" if stream.starts_with("account.positionUpdate") => position(dec, &ctx, d, recv_ns),
        _ => {
            dec.stats.ignored += 1;
            Ok(0)
        }
    }
}

fn depth(dec: &mut FeedDecoder, ctx: &Ctx<'_>, d: Data<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let sym = need(ctx, d.s, "s")?;
    let first = need(ctx, d.U, "U")?.0;
    let last = need(ctx, d.u, "u")?.0;
    if first > last {
        return Err(ctx.err(format!("U={first} > u={last}")));
    }
    let bids = level_list(ctx, &d.b, "b")?;
    let asks = level_list(ctx, &d.a, "a")?;
    let Some((_, book)) = dec.lookup(sym) else { return Ok(0) };
    let seq = DeltaSeq { first, last, prev: None, offset: None };
    dec.apply_depth(ctx, &book, bids, asks, Depth::Delta(seq), recv_ns)
}

fn book_ticker(dec: &mut FeedDecoder, ctx: &Ctx<'_>, d: Data<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let sym = need(ctx, d.s, "s")?;
    let u = need(ctx, d.u, "u")?.0;
    let (bp, bq) = (need_str(ctx, &d.b, "b")?, need_str(ctx, &d.B, "B")?);
    let (ap, aq) = (need_str(ctx, &d.a, "a")?, need_str(ctx, &d.A, "A")?);
    let Some((id, book)) = dec.lookup(sym) else { return Ok(0) };
    let (pd, sd) = FeedDecoder::scales(&book);
    let bid = (ctx.fixed("b", bp, pd)?, ctx.fixed("B", bq, sd)?);
    let ask = (ctx.fixed("a", ap, pd)?, ctx.fixed("A", aq, sd)?);
    super::check_ticker(bid, ask).map_err(|why| ctx.err(why))?;
    Ok(dec.emit_ticker(id, &book, bid, ask, u, recv_ns))
}

fn trade(dec: &mut FeedDecoder, ctx: &Ctx<'_>, d: Data<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let sym = need(ctx, d.s, "s")?;
    let p = need_str(ctx, &d.p, "p")?;
    let q = need_str(ctx, &d.q, "q")?;
    let trade_id = match &d.t {
        Some(f) => {
            f.as_u64().ok_or_else(|| ctx.err(format!("field t must be an integer, got {}", f.type_name())))?
        }
        None => return Err(ctx.err("missing field t")),
    };
    let buyer_maker = match &d.m {
        Some(Flex::Bool(b)) => *b,
        Some(other) => return Err(ctx.err(format!("field m must be a bool, got {}", other.type_name()))),
        None => return Err(ctx.err("missing field m")),
    };
    let Some((id, book)) = dec.lookup(sym) else { return Ok(0) };
    let (pd, sd) = FeedDecoder::scales(&book);
    let ev = Trade {
        venue: Venue::Backpack,
        book_id: id,
        px: ctx.fixed("p", p, pd)?,
        sz: ctx.fixed("q", q, sd)?,
        taker_side: if buyer_maker { Side::Ask } else { Side::Bid },
        trade_id,
    };
    dec.emit_public(recv_ns, EventBody::Trade(ev));
    Ok(1)
}

fn opt_str<'f>(ctx: &Ctx<'_>, f: &'f Option<Flex<'_>>, name: &str) -> Result<Option<&'f str>, FeedError> {
    match f {
        None | Some(Flex::Null) => Ok(None),
        Some(Flex::Str(s)) if s.is_empty() => Ok(None),
        Some(Flex::Str(s)) => Ok(Some(s)),
        Some(other) => Err(ctx.err(format!("field {name} must be a string, got {}", other.type_name()))),
    }
}

fn opt_u64(ctx: &Ctx<'_>, f: &Option<Flex<'_>>, name: &str) -> Result<u64, FeedError> {
    match f {
        None | Some(Flex::Null) => Ok(0),
        Some(v) => v.as_u64().ok_or_else(|| ctx.err(format!("field {name} must be an integer, got {}", v.type_name()))),
    }
}

/// markPrice.<s>: mark `p` and index `i` in the book's price units, the estimated funding rate `f` in 10^-8,
/// the next funding time `n` (ms) and the event time `E` (µs -> ms).
fn mark_price(dec: &mut FeedDecoder, ctx: &Ctx<'_>, d: Data<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let sym = need(ctx, d.s, "s")?;
    let p = need_str(ctx, &d.p, "p")?;
    let i = opt_str(ctx, &d.i, "i")?;
    let funding_rate = match opt_str(ctx, &d.f, "f")? {
        Some(f) => Some(ctx.rounded("f", f, FUNDING_RATE_DECIMALS)?),
        None => None,
    };
    let next_funding_ms = opt_u64(ctx, &d.n, "n")?;
    let venue_ms = opt_u64(ctx, &d.E, "E")? / 1_000;
    ctx.decimal("p", p)?; // a bad price is an error even for a market without a book
    if let Some(i) = i {
        ctx.decimal("i", i)?;
    }
    let Some((id, book)) = dec.lookup(sym) else { return Ok(0) };
    let (pd, _) = FeedDecoder::scales(&book);
    let ev = MarkPrice {
        venue: Venue::Backpack,
        book_id: id,
        mark_px: ctx.rounded("p", p, pd)?,
        index_px: i.map(|i| ctx.rounded("i", i, pd)).transpose()?,
        funding_rate,
        next_funding_ms,
        venue_ms,
    };
    dec.emit_public(recv_ns, EventBody::Mark(ev));
    Ok(1)
}

fn order_state(ctx: &Ctx<'_>, x: &str) -> Result<OrderState, FeedError> {
    Ok(match x {
        "New" | "TriggerPending" | "Triggered" => OrderState::Open,
        "PartiallyFilled" => OrderState::PartiallyFilled,
        "Filled" => OrderState::Filled,
        "Cancelled" => OrderState::Cancelled,
        "Expired" => OrderState::Expired,
        "TriggerFailed" => OrderState::Rejected,
        other => return Err(ctx.err(format!("unknown order status X={other:?}"))),
    })
}

fn order_update(dec: &mut FeedDecoder, ctx: &Ctx<'_>, d: Data<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let sym = need(ctx, d.s, "s")?;
    let status = need(ctx, d.X, "X")?;
    let state = order_state(ctx, status)?;
    let client_id = match &d.c {
        None | Some(Flex::Null) => 0,
        Some(f) => f.as_u64().ok_or_else(|| ctx.err(format!("bad clientId c ({})", f.type_name())))?,
    };
    let order_id = match &d.i {
        Some(Flex::Str(s)) => Some(s.to_string()),
        Some(Flex::UInt(v)) => Some(v.to_string()),
        None | Some(Flex::Null) => None,
        Some(other) => return Err(ctx.err(format!("field i must be a string, got {}", other.type_name()))),
    };
    let kind = d.e.unwrap_or("");
    let is_fill = kind == "orderFill";
    // Validate everything before looking the market up, so a malformed frame is an error even when
    // it is for a market without a book.
    let z = d.z.unwrap_or("0");
    let zq = d.Z.unwrap_or("0");
    let z_dec = ctx.decimal("z", z)?;
    let zq_dec = ctx.decimal("Z", zq)?;
    let fill_fields = if is_fill {
        let s = side(ctx, d.S)?;
        let l = need_str(ctx, &d.l, "l")?;
        let lp = need_str(ctx, &d.L, "L")?;
        let t = match &d.t {
            Some(f) => f
                .as_u64()
                .ok_or_else(|| ctx.err(format!("field t must be an integer, got {}", f.type_name())))?,
            None => return Err(ctx.err("missing field t on orderFill")),
        };
        let maker = match &d.m {
            Some(Flex::Bool(b)) => *b,
            None => false,
            Some(other) => return Err(ctx.err(format!("field m must be a bool, got {}", other.type_name()))),
        };
        let fee = match &d.n {
            Some(Flex::Str(s)) => Some(ctx.decimal("n", s)?),
            None | Some(Flex::Null) => None,
            Some(other) => {
                return Err(ctx.err(format!("field n must be a string, got {}", other.type_name())))
            }
        };
        Some((s, l, lp, t, maker, fee))
    } else {
        None
    };
    let Some((_, book)) = dec.lookup(sym) else { return Ok(0) };
    let (pd, sd) = FeedDecoder::scales(&book);
    let filled = ctx.fixed("z", z, sd)?;
    let avg_px = avg_price(zq_dec, z_dec, pd).ok_or_else(|| ctx.err("average price out of range"))?;
    let reason = match (state, d.R) {
        (OrderState::Expired, r) | (OrderState::Rejected, r) => Some(r.unwrap_or(status).to_owned()),
        _ => None,
    };
    let mut events = Vec::with_capacity(2);
    if let Some((s, l, lp, trade_id, maker, fee)) = fill_fields {
        let px = ctx.fixed("L", lp, pd)?;
        let sz = ctx.fixed("l", l, sd)?;
        let (base, quote) = base_quote(sym);
        let fee_units = match fee {
            Some(f) => match fee_notional(f, d.N, base, quote, px, pd, sd) {
                Some(v) => v,
                None => {
                    dec.stats.fee_unconverted += 1;
                    0
                }
            },
            None => 0,
        };
        events.push(EventBody::Fill(Fill {
            venue: Venue::Backpack,
            client_id,
            trade_id,
            side: s,
            px,
            sz,
            maker,
            fee: fee_units,
        }));
    }
    // Fill before the order update: routed through the tracker, the fill moves the order and the
    // cumulative report that follows is then a duplicate (one OrderUpdate, not two).
    events.push(
        EventBody::Order(OrderUpdate {
            venue: Venue::Backpack,
            client_id,
            order_id,
            state,
            filled,
            avg_px,
            reason,
        }),
    );
    let n = events.len() as u32;
    for ev in events {
        dec.emit_private(recv_ns, ev);
    }
    Ok(n)
}

fn position(dec: &mut FeedDecoder, ctx: &Ctx<'_>, d: Data<'_>, recv_ns: i64) -> Result<u32, FeedError> {
    let sym = need(ctx, d.s, "s")?;
    let q = need_str(ctx, &d.q, "q")?;
    let entry = need_str(ctx, &d.B, "B")?;
    let Some((id, book)) = dec.lookup(sym) else { return Ok(0) };
    let (pd, sd) = {
        let b = lock_book(&book);
        (b.price_decimals, b.size_decimals)
    };
    let ev = Position {
        venue: Venue::Backpack,
        book_id: id,
        size: ctx.fixed("q", q, sd)?,
        entry_px: ctx.rounded("B", entry, pd)?,
    };
    dec.emit_private(recv_ns, EventBody::Position(ev));
    Ok(1)
}
