"""A small Backpack bot that is not xtb: its own WebSocket client and HTTP calls, xtb's compiled core inside.

It needs nothing but the standard library and the `xtb-core` distribution (`pip install ./core_ext`):

- the core's FeedDecoder reads depth frames straight from the socket into an OrderBook (integer units),
  sequence-checked, and publishes BookUpdate events into an EventRing;
- the bot drains the ring, and once the book has a touch it quotes one post-only bid a few ticks under the
  best bid: RateLimiter grants the request, OrderTracker tracks it, BackpackSigner signs it (ED25519);
- then it cancels the order and exits 0 once the tracker says `cancelled`.

    python examples/embed_core/bot.py --rest http://127.0.0.1:PORT --ws ws://127.0.0.1:PORT/ \
        --symbol SOL_USDC_PERP            # the secret: base64 ED25519 seed in $BOT_SECRET_B64

Try it against `xtb sim --venues backpack --backpack-api-key <public key>`, or point it at Backpack itself.
The WebSocket client below is deliberately minimal (RFC 6455 client frames, no extensions) so that the
example shows the core needing no third-party package; a real bot would use its own favourite client.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import struct
import sys
import time
import urllib.parse
import urllib.request
from typing import Any

from xtb_core import BackpackSigner, BookUpdate, EventRing, FeedDecoder, OrderBook, OrderTracker, RateLimiter

VENUE = "backpack"
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ---------------------------------------------------------------- a minimal WebSocket client (stdlib)
class WebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, url: str) -> WebSocket:
        u = urllib.parse.urlsplit(url)
        if u.scheme != "ws":
            raise SystemExit(f"--ws: only ws:// URLs are supported by this example, got {url!r}")
        reader, writer = await asyncio.open_connection(u.hostname, u.port or 80)
        key = base64.b64encode(os.urandom(16))
        path = u.path or "/"
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status, *lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in status + " ":
            raise SystemExit(f"--ws: handshake refused: {status}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
        expected = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise SystemExit("--ws: handshake answered with a wrong Sec-WebSocket-Accept")
        return cls(reader, writer)

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.writer.write(head + mask + masked)

    def send_text(self, text: str) -> None:
        self._send(0x1, text.encode())

    async def recv(self) -> bytes:
        """The next whole data message (fragments joined); answers pings; raises EOFError on close."""
        parts: list[bytes] = []
        while True:
            b0, b1 = await self.reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(n)  # servers never mask
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise EOFError("server closed the WebSocket")
            if opcode == 0x9:
                self._send(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            parts.append(payload)
            if b0 & 0x80:
                return b"".join(parts)

    def close(self) -> None:
        self.writer.close()


# ---------------------------------------------------------------- REST (stdlib, off the event loop)
def http(method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> Any:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def apply_snapshot(book: OrderBook, snap: dict[str, Any]) -> None:
    # The core parses decimal text at the book's scale; levels go in as (price, size) tuples.
    book.apply_snapshot([tuple(lv) for lv in snap["bids"]], [tuple(lv) for lv in snap["asks"]],
                        int(snap["lastUpdateId"]))


def decimals(text: str) -> int:
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


# ---------------------------------------------------------------- the bot
async def run(rest: str, ws_url: str, symbol: str, secret: str, max_seconds: float) -> int:
    markets = await asyncio.to_thread(http, "GET", f"{rest}/api/v1/markets")
    market = next((m for m in markets if m["symbol"] == symbol), None)
    if market is None:
        raise SystemExit(f"--symbol: {symbol} is not listed by {rest}")
    tick_text = market["filters"]["price"]["tickSize"]
    step_text = market["filters"]["quantity"]["stepSize"]
    pd, sd = decimals(tick_text), decimals(step_text)
    tick = round(float(tick_text) * 10**pd)
    min_qty = round(float(market["filters"]["quantity"].get("minQuantity") or step_text) * 10**sd)

    ring = EventRing(1 << 12)
    decoder = FeedDecoder(VENUE, ring)
    book = OrderBook(VENUE, symbol, pd, sd)
    decoder.add_book(book)
    tracker = OrderTracker()
    limiter = RateLimiter.from_config({
        "pools": {"orders": {"type": "token_bucket", "capacity": 5, "refill": 5, "window_ms": 1000}},
        "keys": {"order": {"orders": 1}},
    })
    signer = BackpackSigner(secret)

    ws = await WebSocket.connect(ws_url)
    ws.send_text(json.dumps({"method": "SUBSCRIBE", "params": [f"depth.{symbol}"]}))
    snap = await asyncio.to_thread(http, "GET", f"{rest}/api/v1/depth?symbol={symbol}")
    apply_snapshot(book, snap)
    print(f"book {symbol}: snapshot at {snap['lastUpdateId']} ({pd} price / {sd} size decimals)", flush=True)

    updates, client_id, state = 0, int(time.time()) % 1_000_000_000, "none"
    deadline = time.monotonic() + max_seconds
    try:
        while time.monotonic() < deadline:
            decoder.feed(await asyncio.wait_for(ws.recv(), timeout=max_seconds))
            for ev in ring.drain():
                if isinstance(ev, BookUpdate):
                    updates += 1
            if book.is_stale:  # a gap: take a new snapshot (deltas keep arriving meanwhile)
                snap = await asyncio.to_thread(http, "GET", f"{rest}/api/v1/depth?symbol={symbol}")
                apply_snapshot(book, snap)
                continue
            top = book.best_bid()
            if updates < 5 or top is None:
                continue
            bid_px = top[0] - 5 * tick
            if limiter.acquire("order") != 0:
                continue
            tracker.submitted(client_id, VENUE, symbol, "bid", bid_px, min_qty, post_only=True)
            headers, body = signer.limit_order(client_id, symbol, "Bid", bid_px, min_qty, pd, sd, post_only=True)
            reply = await asyncio.to_thread(http, "POST", f"{rest}/api/v1/order", headers, body)
            tracker.on_ack(client_id, VENUE, str(reply["id"]))
            print(f"after {updates} book updates: best bid {top[0] / 10**pd} -> bid {min_qty / 10**sd} "
                  f"@ {bid_px / 10**pd}: {reply['status']} (order {reply['id']})", flush=True)

            tracker.on_cancel_requested(client_id, VENUE)
            headers, body = signer.cancel({"symbol": symbol, "clientId": client_id})
            reply = await asyncio.to_thread(http, "DELETE", f"{rest}/api/v1/order", headers, body)
            if reply.get("status") == "Cancelled":
                tracker.on_cancel(client_id, VENUE)
            order = tracker.get(client_id, VENUE)
            state = order.state if order is not None else "unknown"
            print(f"cancel: {reply.get('status')}; tracker: {state}", flush=True)
            break
    finally:
        ws.close()
    return 0 if state == "cancelled" else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rest", required=True, help="REST base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--ws", required=True, help="WebSocket URL, e.g. ws://127.0.0.1:8080/")
    ap.add_argument("--symbol", default="SOL_USDC_PERP")
    ap.add_argument("--max-seconds", type=float, default=30.0)
    args = ap.parse_args()
    secret = os.environ.get("BOT_SECRET_B64")
    if not secret:
        print("BOT_SECRET_B64: set it to the base64 ED25519 seed of the API key", file=sys.stderr)
        return 2
    return asyncio.run(run(args.rest.rstrip("/"), args.ws, args.symbol, secret, args.max_seconds))


if __name__ == "__main__":
    sys.exit(main())
