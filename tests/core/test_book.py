"""OrderBook: snapshot + deltas, venue sequence rules, buffering, staleness (Python surface)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb._core import EventRing, FeedDecoder, OrderBook


def bp_book(**kw: int) -> OrderBook:
    return OrderBook("backpack", "SOL_USDC_PERP", 2, 2, **kw)


def test_constructor_and_properties() -> None:
    b = bp_book()
    assert (b.venue, b.symbol, b.price_decimals, b.size_decimals) == ("backpack", "SOL_USDC_PERP", 2, 2)
    assert b.state == "awaiting_snapshot" and b.seq == 0 and not b.is_stale and b.stale_reason is None
    with pytest.raises(ValueError, match="unknown venue"):
        OrderBook("nope", "X", 2, 2)


def test_apply_snapshot_best_and_top() -> None:
    b = bp_book()
    assert b.best_bid() is None and b.best_ask() is None
    assert b.apply_snapshot([(14100, 5), (14125, 1)], [("141.50", "2.5"), (14200, 1)], seq=10) == "applied"
    assert b.best_bid() == (14125, 1)
    assert b.best_ask() == (14150, 250)
    assert b.top(1) == ([(14125, 1)], [(14150, 250)])
    assert b.top() == ([(14125, 1), (14100, 5)], [(14150, 250), (14200, 1)])
    assert b.depth() == (2, 2)
    assert b.seq == 10 and b.state == "awaiting_first"


def test_apply_deltas_sets_and_removes_levels() -> None:
    b = bp_book()
    b.apply_snapshot([(14100, 5)], [(14200, 1)], seq=10)
    assert b.apply_deltas([(14110, 3), (14100, 0)], [], first_seq=11, last_seq=11) == "applied"
    assert b.top() == ([(14110, 3)], [(14200, 1)])
    assert b.seq == 11 and b.state == "live"
    with pytest.raises(ValueError, match="negative size"):
        b.apply_deltas([(14120, -1)], [], first_seq=12, last_seq=12)
    assert b.seq == 11 and b.best_bid() == (14110, 3)


def test_backpack_buffering_before_snapshot() -> None:
    b = bp_book(max_buffered=8)
    assert b.max_buffered == 8
    assert b.apply_deltas([(14000, 1)], [], first_seq=9, last_seq=9) == "buffered"
    assert b.apply_deltas([(14050, 2)], [], first_seq=10, last_seq=11) == "buffered"
    assert b.apply_deltas([(14060, 2)], [], first_seq=12, last_seq=12) == "buffered"
    assert b.buffered == 3
    assert b.apply_snapshot([(13900, 1)], [(14500, 1)], seq=10) == "applied"
    assert b.buffered == 0 and b.seq == 12
    assert b.top()[0] == [(14060, 2), (14050, 2), (13900, 1)]  # 9..9 was older than the snapshot


def test_buffer_is_bounded_and_counts_drops() -> None:
    b = bp_book(max_buffered=2)
    for u in range(1, 6):
        assert b.apply_deltas([(14000 + u, 1)], [], first_seq=u, last_seq=u) == "buffered"
    assert b.buffered == 2 and b.buffer_dropped == 3
    # The snapshot is at 2, the buffer starts at 4: delta 3 is missing, so the book cannot align.
    assert b.apply_snapshot([], [(14500, 1)], seq=2) == "stale"
    assert b.is_stale


def test_gap_marks_stale_and_next_snapshot_recovers() -> None:
    b = bp_book()
    b.apply_snapshot([(14100, 5)], [(14200, 1)], seq=10)
    assert b.apply_deltas([(14105, 1)], [], first_seq=11, last_seq=11) == "applied"
    assert b.apply_deltas([(14110, 1)], [], first_seq=13, last_seq=13) == "stale"
    assert b.is_stale and "gap" in (b.stale_reason or "")
    assert b.best_bid() is None and b.top() == ([], [])
    assert b.apply_deltas([(14120, 1)], [], first_seq=14, last_seq=14) == "buffered"
    assert b.apply_snapshot([(14100, 5)], [(14200, 1)], seq=13) == "applied"
    assert not b.is_stale and b.best_bid() == (14120, 1) and b.seq == 14


def test_crossed_book_is_stale() -> None:
    b = bp_book()
    b.apply_snapshot([(14100, 5)], [(14200, 1)], seq=1)
    assert b.apply_deltas([(14200, 1)], [], first_seq=2, last_seq=2) == "stale"
    assert "crossed" in (b.stale_reason or "")


def test_mark_stale_and_clear() -> None:
    b = bp_book()
    b.apply_snapshot([(14100, 5)], [(14200, 1)], seq=1)
    b.mark_stale("feed quiet for 5s")
    assert b.is_stale and b.stale_reason == "feed quiet for 5s"
    b.clear()
    assert b.state == "awaiting_snapshot" and b.seq == 0 and b.stale_reason is None and b.depth() == (0, 0)


def test_binance_rule_uses_prev_seq() -> None:
    b = OrderBook("binance_usdm", "BTCUSDT", 1, 3)
    b.apply_deltas([(1, 1)], [], first_seq=150, last_seq=155, prev_seq=149)
    b.apply_deltas([(2, 1)], [], first_seq=156, last_seq=160, prev_seq=155)
    b.apply_snapshot([], [(10, 1)], seq=157)
    assert b.best_bid() == (2, 1) and b.seq == 160
    assert b.apply_deltas([(3, 1)], [], first_seq=161, last_seq=161, prev_seq=160) == "applied"
    assert b.apply_deltas([(4, 1)], [], first_seq=163, last_seq=163, prev_seq=162) == "stale"


def test_lighter_rule_begin_nonce_and_offset_fallback() -> None:
    b = OrderBook("lighter", "ETH", 2, 4)
    b.apply_snapshot([(100, 1)], [(101, 1)], seq=50, offset=7)
    assert b.apply_deltas([(99, 1)], [], first_seq=60, last_seq=60, prev_seq=50, offset=8) == "applied"
    assert b.apply_deltas([(98, 1)], [], first_seq=0, last_seq=0, offset=9) == "applied"  # no begin_nonce
    assert b.apply_deltas([(97, 1)], [], first_seq=0, last_seq=0, offset=9) == "stale"
    assert "offset" in (b.stale_reason or "")


def test_book_attached_to_decoder_emits_events() -> None:
    ring = EventRing(64)
    dec = FeedDecoder("backpack", ring)
    b = bp_book()
    dec.add_book(b)
    b.apply_snapshot([(14100, 5)], [(14200, 1)], seq=1)
    assert len(ring) == 1  # BookUpdate
    b.apply_deltas([(14300, 1)], [], first_seq=2, last_seq=2)
    assert len(ring) == 2  # Resync (crossed)


# ---- property test: the book against a dict model with the Backpack rule ----

levels = st.lists(st.tuples(st.integers(90, 110), st.integers(0, 3)), max_size=5).map(lambda ls: dict(ls))
ops = st.lists(
    st.one_of(
        st.tuples(st.just("snap"), levels, levels, st.integers(0, 30)),
        st.tuples(st.just("delta"), levels, levels, st.integers(0, 30), st.integers(0, 2)),
    ),
    min_size=1,
    max_size=50,
)


class Model:
    """Backpack rule written the obvious way, over plain dicts."""

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.seq = 0
        self.state = "awaiting_snapshot"
        self.buffer: list[tuple[int, int, dict[int, int], dict[int, int]]] = []

    def crossed(self) -> bool:
        return bool(self.bids and self.asks and max(self.bids) >= min(self.asks))

    def delta(self, u0: int, u1: int, b: dict[int, int], a: dict[int, int]) -> None:
        if self.state in ("awaiting_snapshot", "stale"):
            self.buffer.append((u0, u1, b, a))
            return
        if self.state == "awaiting_first":
            if u1 <= self.seq:
                return
            ok = u0 <= self.seq + 1
        else:
            ok = u0 == self.seq + 1
        if not ok:
            self.state = "stale"
            self.buffer.append((u0, u1, b, a))
            return
        for side, upd in ((self.bids, b), (self.asks, a)):
            for p, s in upd.items():
                if s == 0:
                    side.pop(p, None)
                else:
                    side[p] = s
        self.seq, self.state = u1, "live"
        if self.crossed():
            self.state = "stale"

    def snapshot(self, b: dict[int, int], a: dict[int, int], seq: int) -> None:
        self.bids = {p: s for p, s in b.items() if s}
        self.asks = {p: s for p, s in a.items() if s}
        self.seq, self.state = seq, "awaiting_first"
        if self.crossed():
            self.state = "stale"
            return
        pending, self.buffer = self.buffer, []
        for d in pending:
            if self.state == "stale":
                self.buffer.append(d)
            else:
                self.delta(*d)

    def best(self) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        if self.state not in ("awaiting_first", "live"):
            return None, None
        bb = max(self.bids) if self.bids else None
        ba = min(self.asks) if self.asks else None
        return (
            (bb, self.bids[bb]) if bb is not None else None,
            (ba, self.asks[ba]) if ba is not None else None,
        )


@settings(max_examples=300, deadline=None)
@given(ops)
def test_book_matches_dict_model(stream: list[tuple]) -> None:
    book, model = bp_book(), Model()
    for op in stream:
        if op[0] == "snap":
            _, b, a, seq = op
            book.apply_snapshot(list(b.items()), list(a.items()), seq=seq)
            model.snapshot(b, a, seq)
        else:
            _, b, a, u0, n = op
            book.apply_deltas(list(b.items()), list(a.items()), first_seq=u0, last_seq=u0 + n)
            model.delta(u0, u0 + n, b, a)
        assert (book.best_bid(), book.best_ask()) == model.best()
        assert book.is_stale == (model.state == "stale")
        if model.state in ("awaiting_first", "live"):
            assert book.seq == model.seq
            assert book.top(100) == (
                sorted(model.bids.items(), reverse=True),
                sorted(model.asks.items()),
            )
