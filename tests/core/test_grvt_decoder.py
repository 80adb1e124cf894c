"""The core's GRVT feed decoder through the Python surface: a book kept from `v1.book.d` (snapshot, then
changed levels with contiguous sequence numbers) equals a dict book, for random update streams; gaps and
malformed frames; the decoder is registered for the venue name."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xtb._core import EventRing, FeedDecoder, FeedError, OrderBook

SYM = "BTC_USDT_Perp"


def book_frame(seq: int, bids: dict[int, int], asks: dict[int, int], stream: str = "v1.book.d") -> bytes:
    def lv(side: dict[int, int]) -> list[dict[str, object]]:
        return [{"price": f"{p / 100:.2f}", "size": f"{s / 1000:.3f}", "num_orders": 1} for p, s in side.items()]

    return orjson.dumps(
        {
            "stream": stream,
            "selector": f"{SYM}@500",
            "sequence_number": str(seq),
            "prev_sequence_number": str(seq - 1),
            "feed": {"event_time": "1", "instrument": SYM, "bids": lv(bids), "asks": lv(asks)},
        }
    )


def setup() -> tuple[FeedDecoder, EventRing, OrderBook]:
    ring = EventRing(4096)
    dec = FeedDecoder("grvt", ring)
    book = OrderBook("grvt", SYM, 2, 3)
    dec.add_book(book)
    return dec, ring, book


levels = st.dictionaries(st.integers(1, 50), st.integers(0, 5000), max_size=6)


@settings(max_examples=60, deadline=None)
@given(snap_bids=levels, snap_asks=levels, deltas=st.lists(st.tuples(levels, levels), max_size=12),
       start=st.integers(0, 10**12))
def test_book_matches_a_dict_book(snap_bids: dict[int, int], snap_asks: dict[int, int],
                                  deltas: list[tuple[dict[int, int], dict[int, int]]], start: int) -> None:
    dec, _, book = setup()
    asks_off = 100  # asks above bids: a crossed book would (rightly) go stale
    ref_b = {p: s for p, s in snap_bids.items() if s}
    ref_a = {p + asks_off: s for p, s in snap_asks.items() if s}
    dec.feed(book_frame(start, ref_b, ref_a), 1)
    for i, (db, da) in enumerate(deltas, 1):
        da = {p + asks_off: s for p, s in da.items()}
        dec.feed(book_frame(start + i, db, da), 1 + i)
        for ref, d in ((ref_b, db), (ref_a, da)):
            for p, s in d.items():
                if s:
                    ref[p] = s
                else:
                    ref.pop(p, None)
    assert book.state in ("live", "awaiting_first")
    assert book.seq == start + len(deltas)
    top_b = max(ref_b.items()) if ref_b else None
    top_a = min(ref_a.items()) if ref_a else None
    assert book.best_bid() == top_b
    assert book.best_ask() == top_a


def test_gap_goes_stale_and_bad_frames_are_refused() -> None:
    dec, _, book = setup()
    dec.feed(book_frame(10, {100: 1000}, {200: 1000}), 1)
    assert book.best_bid() == (100, 1000)
    with pytest.raises(FeedError, match="price"):
        dec.feed(b'{"stream":"v1.book.d","sequence_number":"11","feed":{"instrument":"BTC_USDT_Perp",'
                 b'"bids":[{"price":"x","size":"1"}]}}', 2)
    assert book.best_bid() == (100, 1000)
    dec.feed(book_frame(13, {100: 0}, {}), 3)  # 11, 12 missing
    assert book.state == "stale"
    ack = orjson.dumps({"jsonrpc": "2.0", "id": 2, "method": "subscribe",
                        "result": {"stream": "v1.book.d", "subs": [f"{SYM}@500"], "unsubs": []}})
    assert dec.feed(ack, 4) == 0
    dec.feed(book_frame(50, {101: 1}, {201: 1}), 5)
    assert book.best_bid() == (101, 1) and book.seq == 50
    assert dec.stats()["errors"] >= 1
