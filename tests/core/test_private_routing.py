"""FeedDecoder.set_tracker: private updates go through the OrderTracker, which emits what changed."""

from xtb._core import EventRing, FeedDecoder, OrderBook, OrderTracker

ACCEPTED = (b'{"stream":"account.orderUpdate","data":{"E":1754939110175843,"O":"USER","S":"Bid","T":1754939110174703,'
            b'"X":"New","Z":"0","e":"orderAccepted","f":"GTC","i":"5406825793","c":42,"o":"LIMIT","q":"0.0010",'
            b'"r":false,"s":"ETH_USDC_PERP","t":null,"z":"0"}}')
FILLED = (b'{"stream":"account.orderUpdate","data":{"E":1754939110175879,"L":"4299.16","N":"USDC","O":"USER",'
          b'"S":"Bid","T":1754939110174705,"X":"Filled","Z":"4.299160","e":"orderFill","f":"GTC","i":"5406825793",'
          b'"c":42,"l":"0.0010","m":false,"n":"0.001","o":"LIMIT","q":"0.0010","r":false,"s":"ETH_USDC_PERP",'
          b'"t":2888471,"z":"0.0010"}}')


def setup():
    ring = EventRing(64)
    trk = OrderTracker(ring)
    dec = FeedDecoder("backpack", ring)
    dec.add_book(OrderBook("backpack", "ETH_USDC_PERP", 2, 4))
    dec.set_tracker(trk)
    return ring, trk, dec


def test_stream_updates_move_tracked_orders_once():
    ring, trk, dec = setup()
    trk.submitted(42, "backpack", "ETH_USDC_PERP", "bid", 430000, 10)
    ring.drain()
    dec.feed(ACCEPTED)
    assert [(e.kind, e.state) for e in ring.drain()] == [("order", "open")]
    dec.feed(FILLED)
    evs = ring.drain()
    assert [e.kind for e in evs] == ["fill", "order"]
    assert (evs[0].trade_id, evs[0].sz, evs[1].state, evs[1].filled) == (2888471, 10, "filled", 10)
    dec.feed(FILLED)  # the venue repeats itself: nothing new
    assert ring.drain() == []
    o = trk.get(42, "backpack")
    assert (o.state, o.filled, o.order_id) == ("filled", 10, "5406825793")
    assert dec.route_stats == {"applied": 2, "ignored": 3, "unknown": 0, "conflicts": 0}


def test_orders_the_tracker_does_not_know_pass_through_as_decoded():
    ring, trk, dec = setup()
    dec.feed(ACCEPTED)
    (ev,) = ring.drain()
    assert (ev.kind, ev.client_id, ev.state) == ("order", 42, "open")
    assert len(trk) == 0
    assert dec.route_stats["unknown"] == 1


def test_detached_decoder_pushes_straight_to_the_ring():
    ring, trk, dec = setup()
    trk.submitted(42, "backpack", "ETH_USDC_PERP", "bid", 430000, 10)
    ring.drain()
    dec.set_tracker(None)
    dec.feed(FILLED)
    assert [e.kind for e in ring.drain()] == ["fill", "order"]
    assert trk.get(42, "backpack").state == "pending_new"
