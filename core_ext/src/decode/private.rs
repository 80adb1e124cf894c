//! Private-stream events through the order tracker.
//!
//! A decoder with a tracker attached hands every order update and fill it decodes to the tracker
//! instead of the ring. The tracker applies it through its one transition table and pushes what
//! actually changed (OrderUpdate, Fill) to the ring itself, so strategies see each change once, in
//! the tracker's terms, whatever duplicates or stale snapshots the venue sends. Updates the tracker
//! cannot absorb are never dropped silently:
//! - an order the tracker does not know (placed elsewhere, or pruned) goes to the ring as decoded, so
//!   the engine can adopt or cancel it;
//! - an update the tracker refuses as an error (an over-fill, a conflicting venue order id) goes to
//!   the ring as decoded and is counted in `conflicts`;
//! - a duplicate, a stale report or an illegal backwards move changes nothing and is counted.
//!
//! Positions do not concern the tracker and go to the ring directly.

use std::sync::{Arc, Mutex};

use crate::events::EventBody;
use crate::ring::EventRing;
use crate::tracker::{FillReport, OrderTracker, Outcome, VenueReport};

pub type SharedTracker = Arc<Mutex<OrderTracker>>;

/// What happened to the private events routed through the tracker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteStats {
    /// The tracker applied the update (and emitted the resulting events).
    pub applied: u64,
    /// Duplicates, stale or illegal (backwards) reports: nothing changed.
    pub ignored: u64,
    /// Updates for orders the tracker does not know: passed to the ring as decoded.
    pub unknown: u64,
    /// Updates the tracker refused as errors: passed to the ring as decoded.
    pub conflicts: u64,
}

/// Route one private event (see the module doc for where each outcome goes).
pub fn route(tracker: &SharedTracker, ring: &EventRing, stats: &mut RouteStats, recv_ns: i64, body: EventBody) {
    let result = {
        let mut t = tracker.lock().unwrap_or_else(|p| p.into_inner());
        match &body {
            EventBody::Order(u) => {
                let report = VenueReport {
                    state: u.state,
                    cum_filled: u.filled,
                    avg_px: (u.filled > 0).then_some(u.avg_px),
                    order_id: u.order_id.as_deref(),
                    reason: u.reason.as_deref(),
                };
                Some(t.on_venue_state(u.venue, u.client_id, report, recv_ns))
            }
            EventBody::Fill(f) => {
                let report = FillReport {
                    trade_id: f.trade_id,
                    px: f.px,
                    sz: f.sz,
                    maker: f.maker,
                    fee: f.fee,
                    cum_filled: None,
                };
                Some(t.on_fill(f.venue, f.client_id, report, recv_ns))
            }
            _ => None,
        }
    };
    match result {
        None => {
            ring.push(recv_ns, body);
        }
        Some(Ok(Outcome::Applied)) => stats.applied += 1,
        Some(Ok(Outcome::Duplicate | Outcome::Stale | Outcome::Illegal)) => stats.ignored += 1,
        Some(Ok(Outcome::UnknownOrder)) => {
            stats.unknown += 1;
            ring.push(recv_ns, body);
        }
        Some(Err(_)) => {
            stats.conflicts += 1;
            ring.push(recv_ns, body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Fill, OrderState, OrderUpdate, Position, Side, Venue};
    use crate::tracker::{NewOrder, TimeInForce};

    fn setup() -> (SharedTracker, Arc<EventRing>) {
        let ring = Arc::new(EventRing::new(64));
        let t = Arc::new(Mutex::new(OrderTracker::new(Some(ring.clone()), 100)));
        t.lock()
            .unwrap()
            .submitted(
                NewOrder {
                    venue: Venue::Backpack,
                    client_id: 7,
                    symbol: "SOL_USDC_PERP".into(),
                    side: Side::Bid,
                    px: 14_125,
                    sz: 10,
                    post_only: false,
                    reduce_only: false,
                    tif: TimeInForce::Gtc,
                },
                1,
            )
            .unwrap();
        while ring.pop().is_some() {} // the pending_new update from `submitted`
        (t, ring)
    }

    fn update(client_id: u64, state: OrderState, filled: i64) -> EventBody {
        EventBody::Order(OrderUpdate {
            venue: Venue::Backpack,
            client_id,
            order_id: Some("111".into()),
            state,
            filled,
            avg_px: if filled > 0 { 14_125 } else { 0 },
            reason: None,
        })
    }

    fn fill(client_id: u64, trade_id: u64, sz: i64) -> EventBody {
        EventBody::Fill(Fill {
            venue: Venue::Backpack,
            client_id,
            trade_id,
            side: Side::Bid,
            px: 14_125,
            sz,
            maker: true,
            fee: 0,
        })
    }

    fn drain(ring: &EventRing) -> Vec<EventBody> {
        std::iter::from_fn(|| ring.pop()).map(|e| e.body).collect()
    }

    #[test]
    fn known_orders_go_through_the_tracker_once() {
        let (t, ring) = setup();
        let mut st = RouteStats::default();
        route(&t, &ring, &mut st, 10, update(7, OrderState::Open, 0));
        route(&t, &ring, &mut st, 11, update(7, OrderState::Open, 0)); // duplicate
        route(&t, &ring, &mut st, 12, fill(7, 1, 4));
        route(&t, &ring, &mut st, 13, fill(7, 1, 4)); // same trade again
        route(&t, &ring, &mut st, 14, update(7, OrderState::PartiallyFilled, 4)); // already counted
        let kinds: Vec<_> = drain(&ring).iter().map(|b| b.kind()).collect();
        assert_eq!(kinds, ["order", "fill", "order"]);
        assert_eq!(st, RouteStats { applied: 2, ignored: 3, unknown: 0, conflicts: 0 });
        let g = t.lock().unwrap();
        let o = g.get(Venue::Backpack, 7).unwrap();
        assert_eq!((o.state, o.filled), (OrderState::PartiallyFilled, 4));
    }

    #[test]
    fn unknown_orders_and_conflicts_reach_the_ring_as_decoded() {
        let (t, ring) = setup();
        let mut st = RouteStats::default();
        route(&t, &ring, &mut st, 10, update(99, OrderState::Open, 0));
        route(&t, &ring, &mut st, 11, fill(7, 5, 11)); // over-fill: size is 10
        let out = drain(&ring);
        assert_eq!(out, vec![update(99, OrderState::Open, 0), fill(7, 5, 11)]);
        assert_eq!(st.unknown, 1);
        assert_eq!(st.conflicts, 1);
        assert_eq!(t.lock().unwrap().get(Venue::Backpack, 7).unwrap().filled, 0);
    }

    #[test]
    fn positions_bypass_the_tracker() {
        let (t, ring) = setup();
        let mut st = RouteStats::default();
        let p = EventBody::Position(Position { venue: Venue::Backpack, book_id: 0, size: -3, entry_px: 100 });
        route(&t, &ring, &mut st, 10, p.clone());
        assert_eq!(drain(&ring), vec![p]);
        assert_eq!(st, RouteStats::default());
    }
}
