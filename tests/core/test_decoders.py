"""FeedDecoder on recorded-shape frames (tests/data/frames; shapes from docs/venues)."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from xtb._core import FEED_CAPSULE_NAME, EventRing, FeedDecoder, FeedError, OrderBook

FRAMES = Path(__file__).resolve().parent.parent / "data" / "frames"


def frame(name: str) -> bytes:
    return (FRAMES / name).read_bytes().strip()


def backpack() -> tuple[FeedDecoder, EventRing, OrderBook]:
    ring = EventRing(1024)
    dec = FeedDecoder("backpack", ring)
    book = OrderBook("backpack", "BTC_USDC_PERP", 1, 5)
    assert dec.add_book(book) == 0
    return dec, ring, book


def test_add_book_and_book_lookup() -> None:
    dec, _, book = backpack()
    assert dec.venue == "backpack"
    assert dec.book(0) is book
    other = OrderBook("backpack", "SOL_USDC_PERP", 2, 2)
    assert dec.add_book(other) == 1
    with pytest.raises(ValueError, match="already routed"):
        dec.add_book(OrderBook("backpack", "SOL_USDC_PERP", 2, 2))
    with pytest.raises(ValueError, match="lighter"):
        dec.add_book(OrderBook("lighter", "ETH", 2, 4), route=0)
    with pytest.raises(IndexError):
        dec.book(7)


def test_backpack_depth_is_buffered_then_applied_by_snapshot() -> None:
    dec, ring, book = backpack()
    assert dec.feed(frame("backpack_depth.json"), 1) == 0
    assert book.buffered == 1
    book.apply_snapshot([(866500, 100000)], [(866560, 41200)], seq=6730019257)
    assert book.best_bid() == (866559, 194230) and book.seq == 6730019258
    assert len(ring) == 1


def test_backpack_ticker_trade_orders_positions() -> None:
    ring = EventRing(1024)
    dec = FeedDecoder("backpack", ring)
    btc = OrderBook("backpack", "BTC_USDC_PERP", 1, 5)
    dec.add_book(btc)
    for sym, pd, sd in (("ETH_USDC", 2, 4), ("SOL_USDC", 2, 2), ("ETH_USDC_PERP", 2, 4)):
        dec.add_book(OrderBook("backpack", sym, pd, sd))
    btc.apply_snapshot([(866500, 1)], [(866560, 1)], seq=6730019258)
    counts = {
        name: dec.feed(frame(name), 1)
        for name in (
            "backpack_book_ticker.json",
            "backpack_trade.json",
            "backpack_order_accepted.json",
            "backpack_order_fill.json",
            "backpack_order_cancelled.json",
            "backpack_order_expired.json",
            "backpack_position.json",
            "backpack_position_snapshot.json",
        )
    }
    assert counts == {
        "backpack_book_ticker.json": 1,
        "backpack_trade.json": 1,
        "backpack_order_accepted.json": 1,
        "backpack_order_fill.json": 2,  # OrderUpdate + Fill
        "backpack_order_cancelled.json": 1,
        "backpack_order_expired.json": 1,
        "backpack_position.json": 1,
        "backpack_position_snapshot.json": 1,
    }
    assert len(ring) == 1 + sum(counts.values())


def test_lighter_book_trades_account_and_ping() -> None:
    ring = EventRing(1024)
    dec = FeedDecoder("lighter", ring)
    book = OrderBook("lighter", "ETH", 2, 4)
    assert dec.add_book(book, route=0) == 0
    assert dec.feed(frame("lighter_order_book_snapshot.json"), 1) == 1
    assert dec.feed(frame("lighter_order_book_update_ok.json"), 2) == 1
    assert book.best_bid() == (333880, 102898) and book.best_ask() == (334000, 10000)
    assert book.seq == 4037957053
    assert dec.feed(frame("lighter_ping.json"), 3) == 0
    assert dec.take_pings() == 1 and dec.take_pings() == 0
    assert dec.feed(frame("lighter_trade.json"), 4) == 1
    assert dec.feed(frame("lighter_account_all_orders.json"), 5) == 2
    assert dec.feed(frame("lighter_account_all_trades.json"), 6) == 1
    assert dec.feed(frame("lighter_account_all_positions.json"), 7) == 1
    assert dec.feed(frame("lighter_account_all.json"), 8) == 2
    assert dec.stats()["pings"] == 1


def test_lighter_sequence_gap_marks_stale() -> None:
    dec = FeedDecoder("lighter", EventRing(64))
    book = OrderBook("lighter", "ETH", 2, 4)
    dec.add_book(book, route="0")
    dec.feed(frame("lighter_order_book_snapshot.json"), 1)
    gap = frame("lighter_order_book_update_ok.json").replace(
        b'"begin_nonce":4037957034', b'"begin_nonce":4037957040'
    )
    assert dec.feed(gap, 2) == 1  # the Resync
    assert book.is_stale and "begin_nonce" in (book.stale_reason or "")
    assert book.best_bid() is None


def test_binance_depth_ticker_order_update() -> None:
    ring = EventRing(64)
    dec = FeedDecoder("binance_usdm", ring)
    book = OrderBook("binance_usdm", "BTCUSDT", 4, 3)
    dec.add_book(book)
    assert dec.feed(frame("binance_depth_update.json"), 1) == 0
    book.apply_snapshot([(23, 5000)], [(27, 5000)], seq=158)
    assert book.best_bid() == (24, 10000) and book.best_ask() == (26, 100000)
    assert dec.feed(frame("binance_book_ticker.json"), 2) == 1
    assert dec.feed(frame("binance_order_trade_update.json"), 3) == 2


MALFORMED = [
    ("truncated JSON", lambda f: f[: len(f) // 2], "bad JSON"),
    ("number instead of price string", lambda f: f.replace(b'"86655.9"', b"86655.9"), "86655.9"),
    ("junk size", lambda f: f.replace(b'"1.94230"', b'"1.9x"'), "1.9x"),
    ("too many decimals", lambda f: f.replace(b'"1.94230"', b'"1.942301"'), "decimals"),
    ("negative size", lambda f: f.replace(b'"1.94230"', b'"-1"'), "negative"),
    ("sequence id of the wrong type", lambda f: f.replace(b'"U":6730019258', b'"U":"abc"'), "integer"),
    ("level of one element", lambda f: f.replace(b'"a":[]', b'"a":[["1"]]'), "bad JSON"),
]


@pytest.mark.parametrize(("case", "mutate", "needle"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_frame_raises_feed_error_and_changes_nothing(case: str, mutate, needle: str) -> None:
    dec, ring, book = backpack()
    book.apply_snapshot([(866500, 1)], [(866560, 1)], seq=6730019257)
    before = (book.top(50), book.seq, len(ring))
    with pytest.raises(FeedError) as err:
        dec.feed(mutate(frame("backpack_depth.json")), 2)
    e = err.value
    assert e.venue == "backpack"
    assert e.channel in ("depth.BTC_USDC_PERP", "?")
    assert needle in e.reason
    assert "backpack" in str(e) and e.reason in str(e)
    assert (book.top(50), book.seq, len(ring)) == before
    assert dec.stats()["errors"] == 1


def test_venue_error_reply_is_a_feed_error() -> None:
    dec, _, _ = backpack()
    with pytest.raises(FeedError, match="4006"):
        dec.feed(b'{"id":null,"error":{"code":4006,"message":"Invalid stream"}}', 1)


def test_unknown_symbols_are_counted_not_errors() -> None:
    dec = FeedDecoder("backpack", EventRing(16))
    dec.add_book(OrderBook("backpack", "SOL_USDC_PERP", 2, 2))
    assert dec.feed(frame("backpack_depth.json"), 1) == 0
    assert dec.stats()["unknown_symbol"] == 1


def test_feed_accepts_memoryview_and_bytearray() -> None:
    dec, _, book = backpack()
    book.apply_snapshot([(866500, 1)], [(866560, 1)], seq=6730019257)
    assert dec.feed(memoryview(frame("backpack_depth.json")), 1) == 1
    nxt = frame("backpack_depth.json").replace(b"6730019258", b"6730019259")
    assert dec.feed(bytearray(nxt)) == 1
    assert book.seq == 6730019259


def test_stats_keys() -> None:
    dec, _, _ = backpack()
    assert set(dec.stats()) == {
        "frames", "events", "errors", "unknown_symbol", "ignored", "pings", "fee_unconverted"
    }


def test_feed_capsule_c_entry_and_raise_last_error() -> None:
    dec, _, book = backpack()
    book.apply_snapshot([(866500, 1)], [(866560, 1)], seq=6730019257)
    cap = dec.feed_capsule()
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype = ctypes.c_void_p
    get_ptr.argtypes = [ctypes.py_object, ctypes.c_char_p]
    ptr = get_ptr(cap, FEED_CAPSULE_NAME.encode())

    feed_fn = ctypes.CFUNCTYPE(
        ctypes.c_int64, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int64
    )

    class FeedEntry(ctypes.Structure):
        _fields_ = [("abi_version", ctypes.c_uint32), ("ctx", ctypes.c_void_p), ("feed", feed_fn)]

    entry = FeedEntry.from_address(ptr)
    assert entry.abi_version == 1
    good = frame("backpack_depth.json")
    assert entry.feed(entry.ctx, good, len(good), 5) == 1
    assert book.seq == 6730019258
    bad = b'{"data":{"e":"depth"'
    assert entry.feed(entry.ctx, bad, len(bad), 6) < 0
    with pytest.raises(FeedError, match="bad JSON"):
        dec.raise_last_error()
    assert dec.raise_last_error() is None  # the error was consumed
    del dec
    # The capsule keeps the decoder alive: the entry is still callable.
    nxt = good.replace(b"6730019258", b"6730019259")
    assert entry.feed(entry.ctx, nxt, len(nxt), 7) == 1
