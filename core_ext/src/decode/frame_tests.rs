//! Decoder tests on recorded-shape frames (tests/data/frames, shapes from docs/venues).

use std::sync::{Arc, Mutex};

use super::*;
use crate::events::{BookUpdate, Fill, OrderState, OrderUpdate, Position, Side, Trade};

macro_rules! frame {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/frames/", $name))
    };
}

fn setup(venue: Venue, books: &[(&str, &str, u32, u32)]) -> (FeedDecoder, Arc<EventRing>, Vec<SharedBook>) {
    let ring = Arc::new(EventRing::new(1024));
    let mut dec = FeedDecoder::new(venue, ring.clone());
    let mut out = Vec::new();
    for &(sym, route, pd, sd) in books {
        let b = Arc::new(Mutex::new(OrderBook::new(venue, sym, pd, sd)));
        dec.add_book(b.clone(), route).unwrap();
        out.push(b);
    }
    (dec, ring, out)
}

fn drain(ring: &EventRing) -> Vec<EventBody> {
    std::iter::from_fn(|| ring.pop()).map(|e| e.body).collect()
}

#[test]
fn backpack_depth_after_snapshot() {
    let (mut dec, ring, books) = setup(Venue::Backpack, &[("BTC_USDC_PERP", "BTC_USDC_PERP", 1, 5)]);
    assert_eq!(dec.feed(frame!("backpack_depth.json"), 5).unwrap(), 0); // buffered
    lock_book(&books[0])
        .apply_snapshot(&[(866500, 100000)], &[(866560, 41200)], 6730019257, None, 6)
        .unwrap();
    let b = lock_book(&books[0]);
    assert_eq!(b.best_bid(), Some((866559, 194230)));
    assert_eq!(b.seq(), 6730019258);
    drop(b);
    let evs = drain(&ring);
    assert_eq!(
        evs,
        vec![EventBody::Book(BookUpdate {
            venue: Venue::Backpack,
            book_id: 0,
            best_bid: Some((866559, 194230)),
            best_ask: Some((866560, 41200)),
            seq: 6730019258
        })]
    );
    // The same frame again is a gap (U != last u + 1): stale + Resync.
    assert_eq!(dec.feed(frame!("backpack_depth.json"), 7).unwrap(), 1);
    assert!(matches!(&drain(&ring)[..], [EventBody::Resync(r)] if r.reason.contains("gap")));
}

#[test]
fn backpack_ticker_trade() {
    let (mut dec, ring, books) = setup(Venue::Backpack, &[("BTC_USDC_PERP", "BTC_USDC_PERP", 1, 5)]);
    // Ticker before any snapshot: nothing to compare with -> ignored.
    assert_eq!(dec.feed(frame!("backpack_book_ticker.json"), 1).unwrap(), 0);
    lock_book(&books[0]).apply_snapshot(&[(866500, 1)], &[(866560, 1)], 6730019258, None, 1).unwrap();
    drain(&ring);
    assert_eq!(dec.feed(frame!("backpack_book_ticker.json"), 2).unwrap(), 1);
    assert_eq!(
        drain(&ring),
        vec![EventBody::Book(BookUpdate {
            venue: Venue::Backpack,
            book_id: 0,
            best_bid: Some((866559, 194230)),
            best_ask: Some((866560, 41200)),
            seq: 6730019259
        })]
    );
    assert_eq!(dec.feed(frame!("backpack_trade.json"), 3).unwrap(), 1);
    assert_eq!(
        drain(&ring),
        vec![EventBody::Trade(Trade {
            venue: Venue::Backpack,
            book_id: 0,
            px: 866559,
            sz: 1000,
            taker_side: Side::Ask,
            trade_id: 2888472
        })]
    );
}

#[test]
fn backpack_mark_price() {
    let (mut dec, ring, _) = setup(Venue::Backpack, &[("BTC_USDC_PERP", "BTC_USDC_PERP", 1, 5)]);
    assert_eq!(dec.feed(frame!("backpack_mark_price.json"), 4).unwrap(), 1);
    assert_eq!(
        drain(&ring),
        vec![EventBody::Mark(crate::events::MarkPrice {
            venue: Venue::Backpack,
            book_id: 0,
            mark_px: 866554, // 86655.37 half-even at one decimal
            index_px: Some(866501),
            funding_rate: Some(-1250), // -0.0000125 in 1e-8
            next_funding_ms: 1790137200000,
            venue_ms: 1790134357267,
        })]
    );
    // a prediction market: no rate, index or next funding time
    let bare = br#"{"data":{"E":1,"e":"markPrice","p":"0.5","s":"BTC_USDC_PERP"},"stream":"markPrice.BTC_USDC_PERP"}"#;
    assert_eq!(dec.feed(bare, 5).unwrap(), 1);
    assert!(matches!(&drain(&ring)[..], [EventBody::Mark(m)] if m.mark_px == 5 && m.funding_rate.is_none()
        && m.index_px.is_none() && m.next_funding_ms == 0));
    // a market without a book: nothing; a bad field: an error naming it
    let other = br#"{"data":{"E":1,"e":"markPrice","p":"1","f":"0","s":"ETH_USDC_PERP"},"stream":"markPrice.ETH_USDC_PERP"}"#;
    assert_eq!(dec.feed(other, 6).unwrap(), 0);
    let bad = br#"{"data":{"E":1,"e":"markPrice","p":"1","f":1,"s":"BTC_USDC_PERP"},"stream":"markPrice.BTC_USDC_PERP"}"#;
    assert!(dec.feed(bad, 7).unwrap_err().reason.contains("field f"));
    let bad = br#"{"data":{"E":1,"e":"markPrice","p":"x","s":"ETH_USDC_PERP"},"stream":"markPrice.ETH_USDC_PERP"}"#;
    assert!(dec.feed(bad, 8).unwrap_err().reason.contains('p'));
    assert!(drain(&ring).is_empty());
}

#[test]
fn backpack_orders_and_positions() {
    let (mut dec, ring, _b) = setup(
        Venue::Backpack,
        &[
            ("ETH_USDC", "ETH_USDC", 2, 4),
            ("SOL_USDC", "SOL_USDC", 2, 2),
            ("ETH_USDC_PERP", "ETH_USDC_PERP", 2, 4),
        ],
    );
    assert_eq!(dec.feed(frame!("backpack_order_accepted.json"), 1).unwrap(), 1);
    assert_eq!(dec.feed(frame!("backpack_order_fill.json"), 2).unwrap(), 2);
    assert_eq!(dec.feed(frame!("backpack_order_cancelled.json"), 3).unwrap(), 1);
    assert_eq!(dec.feed(frame!("backpack_order_expired.json"), 4).unwrap(), 1);
    assert_eq!(dec.feed(frame!("backpack_position.json"), 5).unwrap(), 1);
    assert_eq!(dec.feed(frame!("backpack_position_snapshot.json"), 6).unwrap(), 1);
    let evs = drain(&ring);
    let order = |client_id, id: &str, state, filled, avg_px, reason: Option<&str>| {
        EventBody::Order(OrderUpdate {
            venue: Venue::Backpack,
            client_id,
            order_id: Some(id.into()),
            state,
            filled,
            avg_px,
            reason: reason.map(Into::into),
        })
    };
    assert_eq!(evs[0], order(0, "5406825793", OrderState::Open, 0, 0, None));
    // the fill comes before the order update it completes (see decode::backpack)
    assert_eq!(evs[2], order(42, "5406825793", OrderState::Filled, 10, 429916, None));
    assert_eq!(
        evs[1],
        EventBody::Fill(Fill {
            venue: Venue::Backpack,
            client_id: 42,
            trade_id: 2888471,
            side: Side::Bid,
            px: 429916,
            sz: 10,
            maker: false,
            fee: 4299
        })
    );
    assert_eq!(evs[3], order(0, "114575904705282048", OrderState::Cancelled, 0, 0, None));
    assert_eq!(evs[4], order(7, "5406825800", OrderState::Expired, 0, 0, Some("PostOnlyTaker")));
    assert_eq!(
        evs[5],
        EventBody::Position(Position { venue: Venue::Backpack, book_id: 2, size: 10, entry_px: 423636 })
    );
    assert_eq!(
        evs[6],
        EventBody::Position(Position { venue: Venue::Backpack, book_id: 2, size: -20, entry_px: 423636 })
    );
}

#[test]
fn lighter_book_trades_account() {
    let (mut dec, ring, books) = setup(Venue::Lighter, &[("ETH", "0", 2, 4)]);
    assert_eq!(dec.feed(frame!("lighter_order_book_snapshot.json"), 1).unwrap(), 1);
    assert_eq!(dec.feed(frame!("lighter_order_book_update_ok.json"), 2).unwrap(), 1);
    {
        let b = lock_book(&books[0]);
        assert_eq!(b.best_bid(), Some((333880, 102898)));
        assert_eq!(b.best_ask(), Some((334000, 10000)));
        assert_eq!(b.seq(), 4037957053);
    }
    assert_eq!(dec.feed(frame!("lighter_ping.json"), 3).unwrap(), 0);
    assert_eq!(dec.take_pings(), 1);
    assert_eq!(dec.take_pings(), 0);
    drain(&ring);
    assert_eq!(dec.feed(frame!("lighter_trade.json"), 4).unwrap(), 1);
    assert_eq!(dec.feed(frame!("lighter_account_all_orders.json"), 5).unwrap(), 2);
    assert_eq!(dec.feed(frame!("lighter_account_all_trades.json"), 6).unwrap(), 1);
    assert_eq!(dec.feed(frame!("lighter_account_all_positions.json"), 7).unwrap(), 1);
    assert_eq!(dec.feed(frame!("lighter_account_all.json"), 8).unwrap(), 2);
    let evs = drain(&ring);
    assert_eq!(
        evs[0],
        EventBody::Trade(Trade {
            venue: Venue::Lighter,
            book_id: 0,
            px: 333000,
            sz: 1000,
            taker_side: Side::Bid,
            trade_id: 1434523
        })
    );
    assert_eq!(
        evs[1],
        EventBody::Order(OrderUpdate {
            venue: Venue::Lighter,
            client_id: 0,
            order_id: Some("281474977354074".into()),
            state: OrderState::Cancelled,
            filled: 0,
            avg_px: 0,
            reason: Some("canceled-margin-not-allowed".into())
        })
    );
    assert_eq!(
        evs[2],
        EventBody::Order(OrderUpdate {
            venue: Venue::Lighter,
            client_id: 17,
            order_id: Some("281474977354099".into()),
            state: OrderState::PartiallyFilled,
            filled: 4000,
            avg_px: 330000,
            reason: None
        })
    );
    let fill = EventBody::Fill(Fill {
        venue: Venue::Lighter,
        client_id: 17,
        trade_id: 1434524,
        side: Side::Bid,
        px: 330000,
        sz: 4000,
        maker: false,
        fee: 0,
    });
    assert_eq!(evs[3], fill);
    assert_eq!(
        evs[4],
        EventBody::Position(Position { venue: Venue::Lighter, book_id: 0, size: -180193, entry_px: 266984 })
    );
    assert_eq!(evs[5], fill);
    assert_eq!(
        evs[6],
        EventBody::Position(Position { venue: Venue::Lighter, book_id: 0, size: 4000, entry_px: 330000 })
    );
}

#[test]
fn lighter_documented_update_is_crossed() {
    // The update example in the venue notes has bid 3338.80 above ask 3327.46: applying it crosses the book.
    let (mut dec, ring, books) = setup(Venue::Lighter, &[("ETH", "0", 2, 4)]);
    dec.feed(frame!("lighter_order_book_snapshot.json"), 1).unwrap();
    dec.feed(frame!("lighter_order_book_update.json"), 2).unwrap();
    assert!(lock_book(&books[0]).is_stale());
    let evs = drain(&ring);
    assert!(matches!(evs.last(), Some(EventBody::Resync(r)) if r.reason.contains("crossed")));
}

#[test]
fn binance_depth_ticker_orders() {
    let (mut dec, ring, books) = setup(Venue::BinanceUsdm, &[("BTCUSDT", "BTCUSDT", 4, 3)]);
    assert_eq!(dec.feed(frame!("binance_depth_update.json"), 1).unwrap(), 0);
    lock_book(&books[0]).apply_snapshot(&[(23, 5000)], &[(27, 5000)], 158, None, 2).unwrap();
    {
        let b = lock_book(&books[0]);
        assert_eq!(b.best_bid(), Some((24, 10000)));
        assert_eq!(b.best_ask(), Some((26, 100000)));
        assert_eq!(b.seq(), 160);
    }
    drain(&ring);
    assert_eq!(dec.feed(frame!("binance_book_ticker.json"), 3).unwrap(), 1);
    assert_eq!(dec.feed(frame!("binance_order_trade_update.json"), 4).unwrap(), 2);
    let evs = drain(&ring);
    assert!(matches!(&evs[0], EventBody::Book(u) if u.best_bid == Some((24, 31210)) && u.seq == 400900217));
    assert_eq!(
        evs[1],
        EventBody::Order(OrderUpdate {
            venue: Venue::BinanceUsdm,
            client_id: 1001,
            order_id: Some("8886774".into()),
            state: OrderState::PartiallyFilled,
            filled: 1,
            avg_px: 30,
            reason: None
        })
    );
    assert_eq!(
        evs[2],
        EventBody::Fill(Fill {
            venue: Venue::BinanceUsdm,
            client_id: 1001,
            trade_id: 98765,
            side: Side::Ask,
            px: 30,
            sz: 1,
            maker: true,
            fee: 12
        })
    );
}

#[test]
fn malformed_frames_change_nothing() {
    let (mut dec, ring, books) = setup(Venue::Backpack, &[("BTC_USDC_PERP", "BTC_USDC_PERP", 1, 5)]);
    lock_book(&books[0]).apply_snapshot(&[(866500, 1)], &[(866560, 1)], 6730019257, None, 1).unwrap();
    drain(&ring);
    let good = std::str::from_utf8(frame!("backpack_depth.json")).unwrap();
    let bad = [
        good[..good.len() / 2].to_string(),
        good.replace("\"86655.9\"", "86655.9"),
        good.replace("\"1.94230\"", "\"1.9x\""),
        good.replace("\"1.94230\"", "\"1.942301\""),
        good.replace("\"1.94230\"", "\"-1\""),
        good.replace("\"U\":6730019258", "\"U\":\"abc\""),
        good.replace("\"a\":[]", "\"a\":[[\"1\"]]"),
        good.replace(",\"u\":6730019258", ""),
    ];
    for f in &bad {
        let e = dec.feed(f.as_bytes(), 2).unwrap_err();
        assert_eq!(e.venue, Venue::Backpack);
        assert!(!e.reason.is_empty(), "{f}");
        assert_eq!(lock_book(&books[0]).seq(), 6730019257, "{f}");
        assert_eq!(lock_book(&books[0]).best_bid(), Some((866500, 1)));
        assert!(ring.is_empty());
    }
    assert_eq!(dec.stats.errors, bad.len() as u64);
    assert_eq!(dec.feed(good.as_bytes(), 3).unwrap(), 1);
}

#[test]
fn unknown_symbols_are_counted_not_errors() {
    let (mut dec, ring, _b) = setup(Venue::Backpack, &[("SOL_USDC_PERP", "SOL_USDC_PERP", 2, 2)]);
    assert_eq!(dec.feed(frame!("backpack_depth.json"), 1).unwrap(), 0);
    assert_eq!(dec.feed(frame!("backpack_order_fill.json"), 1).unwrap(), 0);
    assert_eq!(dec.stats.unknown_symbol, 2);
    assert!(ring.is_empty());
}

#[test]
fn declined_fast_path_frames_decode_the_same_through_serde() {
    // String E/T, an escaped string in an unused field, and whitespace: the scanner declines the escape
    // and the general path must give the same book.
    let fast = frame!("backpack_depth.json");
    let slow = br#"{ "data": {"E":"1790134357267289","T":"1790134357267074","U":6730019258,"a":[],
        "b":[["86655.9","1.94230"]],"e":"depth","note":"a\"b","s":"BTC_USDC_PERP","u":6730019258},
        "stream":"depth.BTC_USDC_PERP" }"#;
    assert!(scan::market(slow, &mut Vec::new(), &mut Vec::new()).is_err());
    let mut tops = Vec::new();
    for f in [&fast[..], &slow[..]] {
        let (mut dec, _ring, books) = setup(Venue::Backpack, &[("BTC_USDC_PERP", "BTC_USDC_PERP", 1, 5)]);
        lock_book(&books[0]).apply_snapshot(&[(866500, 1)], &[(866560, 1)], 6730019257, None, 1).unwrap();
        assert_eq!(dec.feed(f, 2).unwrap(), 1);
        let b = lock_book(&books[0]);
        tops.push((b.top(5), b.seq()));
    }
    assert_eq!(tops[0], tops[1]);
}

#[test]
fn ticker_fast_path_matches_general_path() {
    // The compact ticker takes the scanner; the same ticker with whitespace and an escaped string is
    // declined by it and decoded by serde: same event, same counters.
    let fast = frame!("backpack_book_ticker.json");
    let text = std::str::from_utf8(fast).unwrap();
    let slow = text.replacen("{\"data\":{", "{ \"data\" : { \"note\":\"a\\\"b\", ", 1);
    assert!(scan::market(slow.as_bytes(), &mut Vec::new(), &mut Vec::new()).is_err());
    assert!(scan::market(fast, &mut Vec::new(), &mut Vec::new()).is_ok());
    let mut outs = Vec::new();
    for f in [fast.to_vec(), slow.into_bytes()] {
        let (mut dec, ring, books) = setup(Venue::Backpack, &[("BTC_USDC_PERP", "BTC_USDC_PERP", 1, 5)]);
        assert_eq!(dec.feed(&f, 1).unwrap(), 0); // no snapshot yet: ignored
        lock_book(&books[0]).apply_snapshot(&[(866500, 1)], &[(866560, 1)], 6730019258, None, 1).unwrap();
        drain(&ring);
        assert_eq!(dec.feed(&f, 2).unwrap(), 1);
        // Not newer than the book: ignored.
        lock_book(&books[0]).apply_snapshot(&[(866500, 1)], &[(866560, 1)], 6730019259, None, 3).unwrap();
        drain(&ring);
        assert_eq!(dec.feed(&f, 4).unwrap(), 0);
        outs.push((drain(&ring), dec.stats.clone()));
    }
    assert_eq!(outs[0], outs[1]);
}

#[test]
fn ticker_errors_and_unknown_symbols() {
    let good = std::str::from_utf8(frame!("backpack_book_ticker.json")).unwrap();
    let (mut dec, ring, books) = setup(Venue::Backpack, &[("BTC_USDC_PERP", "BTC_USDC_PERP", 1, 5)]);
    lock_book(&books[0]).apply_snapshot(&[(866500, 1)], &[(866560, 1)], 1, None, 1).unwrap();
    drain(&ring);
    for (bad, field) in [
        (good.replace("\"86655.9\"", "\"86655.95\""), "b"),
        (good.replace("\"86655.9\"", "[[\"1\",\"2\"]]"), "b"),
        (good.replace("\"1.94230\"", "\"1.9x\""), "B"),
        (good.replace(",\"u\":6730019259", ""), "u"),
    ] {
        let e = dec.feed(bad.as_bytes(), 2).unwrap_err();
        assert!(e.reason.contains(field), "{bad}: {}", e.reason);
        assert_eq!(e.channel, "bookTicker.BTC_USDC_PERP");
        assert!(ring.is_empty());
    }
    let other = good.replace("BTC_USDC_PERP", "ETH_USDC_PERP");
    assert_eq!(dec.feed(other.as_bytes(), 3).unwrap(), 0);
    assert_eq!(dec.stats.unknown_symbol, 1);
    // A ticker whose best size is zero: the side is reported empty, as on the general path.
    let empty_bid = good.replace("\"1.94230\"", "\"0.00000\"");
    assert_eq!(dec.feed(empty_bid.as_bytes(), 4).unwrap(), 1);
    assert!(matches!(&drain(&ring)[..], [EventBody::Book(u)] if u.best_bid.is_none() && u.best_ask.is_some()));
}

#[test]
fn binance_ticker_fast_path() {
    let f = frame!("binance_book_ticker.json");
    assert!(scan::market(f, &mut Vec::new(), &mut Vec::new()).is_ok());
}

#[test]
fn backpack_ticker_crossed_or_not_positive_is_refused() {
    let good = std::str::from_utf8(frame!("backpack_book_ticker.json")).unwrap();
    let (mut dec, ring, books) = setup(Venue::Backpack, &[("BTC_USDC_PERP", "BTC_USDC_PERP", 1, 5)]);
    lock_book(&books[0]).apply_snapshot(&[(866500, 1)], &[(866560, 1)], 1, None, 1).unwrap();
    drain(&ring);
    for (bad, why) in [
        (good.replace("\"86655.9\"", "\"86660.0\""), "crossed"), // bid 86660.0 >= ask 86656.0
        (good.replace("\"86655.9\"", "\"86656.0\""), "crossed"), // locked: bid == ask
        (good.replace("\"86655.9\"", "\"-86655.9\""), "not above zero"),
        (good.replace("\"86656.0\"", "\"0.0\""), "not above zero"),
        (good.replace("\"0.41200\"", "\"-0.41200\""), "negative"),
    ] {
        let e = dec.feed(bad.as_bytes(), 2).unwrap_err();
        assert!(e.reason.contains(why), "{bad}: {}", e.reason);
        assert_eq!(e.channel, "bookTicker.BTC_USDC_PERP");
        assert!(ring.is_empty(), "{bad}");
    }
    assert_eq!(dec.feed(good.as_bytes(), 3).unwrap(), 1); // the valid ticker still passes
}

#[test]
fn backpack_depth_with_a_non_positive_price_leaves_the_book_as_it_was() {
    let good = std::str::from_utf8(frame!("backpack_depth.json")).unwrap();
    let (mut dec, ring, books) = setup(Venue::Backpack, &[("BTC_USDC_PERP", "BTC_USDC_PERP", 1, 5)]);
    lock_book(&books[0]).apply_snapshot(&[(866500, 100000)], &[(866560, 41200)], 6730019257, None, 6).unwrap();
    drain(&ring);
    let before = lock_book(&books[0]).top(50);
    let bad = good.replace("\"86655.9\"", "\"-86655.9\"");
    assert_ne!(bad, good);
    let e = dec.feed(bad.as_bytes(), 7).unwrap_err();
    assert!(e.reason.contains("not above zero"), "{}", e.reason);
    assert_eq!(lock_book(&books[0]).top(50), before);
    assert_eq!(lock_book(&books[0]).seq(), 6730019257);
    assert!(ring.is_empty());
}

proptest::proptest! {
    #[test]
    fn check_ticker_accepts_exactly_the_uncrossed_positive_tops(
        bp in -5i64..20, bq in -2i64..3, ap in -5i64..20, aq in -2i64..3,
    ) {
        let ok = bq >= 0 && aq >= 0 && (bq == 0 || bp > 0) && (aq == 0 || ap > 0) && (bq == 0 || aq == 0 || bp < ap);
        proptest::prop_assert_eq!(check_ticker((bp, bq), (ap, aq)).is_ok(), ok);
    }
}

#[test]
fn lighter_negative_bid_is_refused_and_the_book_kept() {
    let (mut dec, ring, books) = setup(Venue::Lighter, &[("ETH", "0", 2, 4)]);
    assert_eq!(dec.feed(frame!("lighter_order_book_snapshot.json"), 1).unwrap(), 1);
    drain(&ring);
    let good = std::str::from_utf8(frame!("lighter_order_book_update_ok.json")).unwrap();
    let seen = |b: &SharedBook| {
        let b = lock_book(b);
        (b.top(50), b.seq())
    };
    let before = seen(&books[0]);
    let bad = good.replace("\"price\":\"3338.80\"", "\"price\":\"-3338.80\"");
    assert_ne!(bad, good);
    let e = dec.feed(bad.as_bytes(), 2).unwrap_err();
    assert!(e.reason.contains("not above zero"), "{}", e.reason);
    assert_eq!(seen(&books[0]), before);
    assert!(ring.is_empty());
    assert_eq!(dec.feed(good.as_bytes(), 3).unwrap(), 1); // the same update, well formed, still applies
}
