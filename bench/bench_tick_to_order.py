"""Tick to order: one Backpack depth frame (bytes) in, one signed Backpack order (request bytes) out.

xtb runs the real hot path in process, without sockets:
    the connector's market-data listener (CyFeedListener.feed_frame: what picows' on_ws_frame does with a
    frame that ends its socket read) -> FeedDecoder's C entry -> book in the core -> BookUpdate in the
    EventRing -> on_burst_end = Dispatcher.drain (the core's DispatchLoop)
    -> the connector (a dispatcher listener, as in the engine) -> a minimal strategy's on_book
    -> ctx.place_limit -> OrderGateway.submit (core rate limiter, client id allocator, core tracker)
    -> BackpackConnector.prepare_submit (order checks + one core `BackpackSigner.limit_order` call:
       price/size formatting, ED25519 signature, headers + JSON body)
The connector is built without being started: its markets come from a recorded `/api/v1/markets` reply
(`BackpackConnector.load_markets`) and its book from a snapshot. The only bench-specific piece is the
port's send, which records the prepared request and transports nothing; the send tasks the gateway
spawns are drained after the measurement.

baseline is the same work in pure Python, as a careful asyncio bot would write it: orjson, a dict book
(float prices, sequence rule, top of book recomputed), the same decision, PyNaCl (libsodium) signing of the
same instruction string, an orjson body, and the request handed to a send task (`loop.create_task`, a
strong reference kept until it ends) exactly as xtb's gateway hands its request over.

Both pipelines run under the same harness: before each round (untimed) the event loop runs the send tasks
spawned so far to completion, as a bot's loop does between socket bursts, then the round calls
`on_frame(frame)` with that loop marked running for the thread.

Groups:
- `tick_to_order_backpack`: the touch is past the strategy's threshold: every frame produces an order.
- `tick_no_order`: the strategy looks at the touch and does not trade (frame -> book -> decision).
- `tick_to_order_lighter`: the Lighter leg, signed natively in the core (see its section below).
Each round is one frame (pedantic, iterations=1), so the round times are per-frame latencies; p50 and
p99 of them are in `extra_info` (`p50_us`, `p99_us`). The xtb cases then also run both pipelines in
alternating blocks of frames and add `interleaved_ratio` (with both p50s): the figure least moved by this
machine's drifting speed; `interleaved_ratio_net` is the same with the harness's own cost per round (two
clock reads and a call, measured in a third leg) taken off both. Run:
    python -m pytest bench/bench_tick_to_order.py --benchmark-group-by=group \
        --benchmark-columns=median,iqr,rounds
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson
import pytest
from gate import Ratio, busy_wait_us
from md_frames import PRICE_DECIMALS, SIZE_DECIMALS, SNAPSHOT_SEQ, SYMBOL, depth_frame
from nacl.signing import SigningKey, VerifyKey
from py_orders import signed_limit_bid
from pydantic import BaseModel

from xtb import _core
from xtb.engine.context import Positions, StrategyContext
from xtb.engine.dispatcher import Dispatcher
from xtb.engine.gateway import OrderGateway
from xtb.engine.strategy import Strategy
from xtb.model.types import OrderRequest, SubmitOutcome, SubmitResult
from xtb.orders.client_ids import ClientIdAllocator
from xtb.venues.backpack.connector import BackpackConfig, BackpackConnector
from xtb.venues.backpack.ratelimits import backpack as backpack_limits
from xtb.venues.registry import venue_spec

SECRET = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="  # the venue notes' test seed (0x01..0x20)
WINDOW_MS = 5000
ROUNDS = 3000
WARMUP = 200
#: recorded-shape market object for the frames' symbol (tick 0.1, step 0.00001)
MARKETS = [{
    "symbol": SYMBOL, "baseSymbol": "BTC", "quoteSymbol": "USDC", "marketType": "PERP",
    "filters": {"price": {"tickSize": "0.1"}, "quantity": {"stepSize": "0.00001", "minQuantity": "0.00001"}},
}]
SNAP_BIDS = [(f"{86600.0 - i / 10:.1f}", "1.00000") for i in range(20)]
SNAP_ASKS = [(f"{86601.0 + i / 10:.1f}", "1.00000") for i in range(20)]
ORDER_SIZE = 1000  # 0.01 BTC in units of 10^-5
TRADE_AT = 866000  # touch (bid) at or above this: trade (units of 0.1); the frames' bid is 86600.0
NEVER = 10**12


def frames(n: int) -> list[bytes]:
    """n consecutive depth deltas (U == u) following the snapshot: every one is applied, none is a gap."""
    return [depth_frame(SNAPSHOT_SEQ + 1 + i) for i in range(n)]


def percentiles(data: Sequence[float]) -> dict[str, float]:
    s = sorted(data)

    def pick(q: float) -> float:
        return s[min(len(s) - 1, int(q * len(s)))] * 1e6

    return {"p50_us": round(pick(0.50), 2), "p99_us": round(pick(0.99), 2), "rounds": len(s)}


def record_percentiles(benchmark: Any) -> None:
    stats = getattr(benchmark, "stats", None)
    data = getattr(getattr(stats, "stats", None), "data", None)
    if data:  # absent under --benchmark-disable
        benchmark.extra_info.update(percentiles(data))


# ---- xtb: the real dispatcher, strategy context, gateway and connector prepare path -------------------


class TouchParams(BaseModel):
    venue: str = "backpack"
    symbol: str = SYMBOL
    trade_at: int = TRADE_AT
    size: int = ORDER_SIZE


class TouchTaker(Strategy[TouchParams]):
    """Bid one tick under the touch whenever the best bid is at or above `trade_at`."""

    def __init__(self, ctx: StrategyContext, params: TouchParams) -> None:
        super().__init__(ctx, params)
        self.orders = 0

    def on_book(self, ev: Any) -> None:
        bid = ev.best_bid
        if bid is not None and bid[0] >= self.params.trade_at:
            self.ctx.place_limit(self.params.venue, self.params.symbol, "bid", bid[0] - 1, self.params.size)
            self.orders += 1


class CapturingBackpackConnector(BackpackConnector):
    """The real connector; its send records the prepared request instead of transporting it."""

    last: Any = None
    sent = 0

    def prepare_submit(self, reqs: Sequence[OrderRequest]) -> Any:
        self.last = prepared = super().prepare_submit(reqs)
        return prepared

    def prepared_order(self, signed: Any) -> Any:  # type: ignore[override]
        # the one-call path (gateway.place_limit): the send task turns the core's signed order into the request
        self.last = prepared = super().prepared_order(signed)
        return prepared

    async def send_submit(self, prepared: Any) -> list[SubmitResult]:
        self.sent += 1
        return [SubmitResult(c, SubmitOutcome.ACCEPTED, venue_order_id=str(c)) for c in prepared.client_ids]


class XtbPipeline:
    def __init__(self, state_dir: Path, trade_at: int) -> None:
        ring = _core.EventRing(1 << 16)
        self.tracker = _core.OrderTracker(ring)
        self.dispatcher = Dispatcher(ring)
        # The real core limiter with Backpack's pool shape, sized so a benchmark burst is never throttled.
        limiter = _core.RateLimiter.from_config(backpack_limits(10**9), ring)
        pub = base64.b64encode(bytes(SigningKey(base64.b64decode(SECRET)).verify_key)).decode()
        self.conn = CapturingBackpackConnector(
            BackpackConfig(symbols=(SYMBOL,), window_ms=WINDOW_MS), pub, SECRET, ring=ring,
            tracker=self.tracker, limiter=limiter, on_burst_end=self.dispatcher.drain,
        )
        self.conn.load_markets(MARKETS)
        assert self.conn.book(SYMBOL).apply_snapshot(SNAP_BIDS, SNAP_ASKS, SNAPSHOT_SEQ) == "applied"
        self.gateway = OrderGateway({"backpack": self.conn}, self.tracker)
        ctx = StrategyContext(
            "touch_taker", connectors={"backpack": self.conn}, gateway=self.gateway, tracker=self.tracker,
            id_allocators={"backpack": ClientIdAllocator.for_venue(
                state_dir, "backpack", "bench", id_range=venue_spec("backpack").client_id_range)},
            positions=Positions(), dispatcher=self.dispatcher,
        )
        self.strategy = TouchTaker(ctx, TouchParams(trade_at=trade_at))
        self.dispatcher.add_listener(self.conn)  # as the engine wires it: connector before strategy
        self.dispatcher.add_listener(self.strategy)
        self.feed = self.conn.decoder.feed
        self.drain = self.dispatcher.drain
        # The frame enters where picows hands it over in a live run: the listener the connector builds for
        # its market-data socket (the Cython CyFeedListener: the frame's bytes go to the decoder's C entry,
        # then the burst ends with the dispatcher's drain), through `feed_frame`, its entry for a frame
        # that did not come from its socket.
        self.listener = self.conn._make_listener()
        self.on_frame: Callable[[bytes], None] = self.listener.feed_frame
        wait_for_nonce_pool(self.conn._signer)


def wait_for_nonce_pool(signer: Any, timeout_s: float = 120.0) -> None:
    """Let the signer's presigned-nonce pool fill, as it has by a live connector's first order (connecting,
    logging in and subscribing take longer than its ~80 ms of background refill). Measuring from an empty
    pool would time the connector's start-up instead of its steady state."""
    deadline = time.monotonic() + timeout_s
    stats = signer.nonce_pool_stats
    while stats["available"] < stats["capacity"]:
        assert time.monotonic() < deadline, f"nonce pool did not fill: {stats}"
        time.sleep(0.01)
        stats = signer.nonce_pool_stats


class Sender(Protocol):
    """What spawns the send tasks: xtb's OrderGateway, or the baseline pipeline itself."""

    async def drain(self, timeout_s: float = ...) -> None: ...


def run_in_loop(fn: Callable[[], Any], sender: Sender) -> Any:
    """Run `fn` with an event loop running (the send tasks are spawned on it), then let them end."""

    async def main() -> Any:
        out = fn()
        await sender.drain(30.0)
        return out

    return asyncio.run(main())


# ---- baseline: the same work in pure Python ----------------------------------------------------------


class PyPipeline:
    def __init__(self, trade_at: int) -> None:
        self.key = SigningKey(base64.b64decode(SECRET))
        self.api_key = base64.b64encode(bytes(self.key.verify_key)).decode()
        self.bids = {float(p): float(q) for p, q in SNAP_BIDS}
        self.asks = {float(p): float(q) for p, q in SNAP_ASKS}
        self.seq = SNAPSHOT_SEQ
        self.trade_at = trade_at / 10**PRICE_DECIMALS
        self.next_id = 1
        self.last: tuple[dict[str, str], bytes] | None = None
        self.orders = 0
        self.sent = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def on_frame(self, frame: bytes) -> None:
        d = orjson.loads(frame)["data"]
        if d["U"] != self.seq + 1:
            raise RuntimeError("gap")  # a real bot would resync; the bench frames never gap
        self.seq = d["u"]
        for levels, side in ((d["b"], self.bids), (d["a"], self.asks)):
            for p, q in levels:
                px, sz = float(p), float(q)
                if sz == 0.0:
                    side.pop(px, None)
                else:
                    side[px] = sz
        best_bid = max(self.bids) if self.bids else None
        best_ask = min(self.asks) if self.asks else None
        if best_bid is not None and best_ask is not None and best_bid >= self.trade_at:
            self.place(best_bid - 10**-PRICE_DECIMALS)

    def place(self, price: float) -> None:
        cid = self.next_id
        self.next_id += 1
        headers, body = signed_limit_bid(self.key, self.api_key, cid, SYMBOL, f"{price:.{PRICE_DECIMALS}f}",
                                         f"{ORDER_SIZE / 10**SIZE_DECIMALS:.{SIZE_DECIMALS}f}", WINDOW_MS)
        self.last = request = (headers, body)
        self.orders += 1
        # Hand the request to a send task, as the gateway does (the task keeps a strong reference until done).
        task = asyncio.get_running_loop().create_task(self._send(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, request: tuple[dict[str, str], bytes]) -> None:
        self.sent += 1  # the transport would post `request` here; the bench transports nothing

    async def drain(self, timeout_s: float = 10.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)


# ---- same work, checked -----------------------------------------------------------------------------


def _verify(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The body's order, after checking the signature over the instruction string the venue rebuilds."""
    params = orjson.loads(body)
    items = "&".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in sorted(params.items()))
    msg = f"instruction=orderExecute&{items}&timestamp={headers['X-Timestamp']}&window={headers['X-Window']}"
    VerifyKey(base64.b64decode(headers["X-API-Key"])).verify(msg.encode(), base64.b64decode(headers["X-Signature"]))
    return params  # type: ignore[no-any-return]


def test_same_order_out(tmp_path: Path) -> None:
    """Both pipelines turn the same frame into the same signed order (client id aside)."""
    frame = frames(1)[0]
    py = PyPipeline(TRADE_AT)
    run_in_loop(lambda: py.on_frame(frame), py)
    assert py.last is not None and py.sent == 1
    xp = XtbPipeline(tmp_path, TRADE_AT)
    run_in_loop(lambda: xp.on_frame(frame), xp.gateway)
    assert xp.strategy.orders == 1 and xp.conn.sent == 1
    assert xp.conn.last.path == "/api/v1/order"
    a, b = _verify(*py.last), _verify(xp.conn.last.headers, xp.conn.last.body)
    a.pop("clientId"), b.pop("clientId")
    assert a == b == {"orderType": "Limit", "price": "86599.9", "quantity": "0.01000", "side": "Bid",
                      "symbol": SYMBOL, "timeInForce": "GTC"}
    assert xp.tracker.open_orders("backpack")[0].state == "open"  # the gateway's send task acked it


def test_no_order_below_threshold(tmp_path: Path) -> None:
    fs = frames(3)
    py = PyPipeline(NEVER)
    xp = XtbPipeline(tmp_path, NEVER)
    run_in_loop(lambda: [py.on_frame(f) for f in fs], py)

    def feed_all() -> None:
        for f in fs:
            xp.on_frame(f)

    run_in_loop(feed_all, xp.gateway)
    assert py.orders == xp.strategy.orders == xp.conn.sent == 0
    assert xp.conn.book(SYMBOL).best_bid() == (866000, 100000 + (SNAPSHOT_SEQ + 3) % 5 * 10000)


# ---- benchmarks -------------------------------------------------------------------------------------


def new_loop() -> asyncio.AbstractEventLoop:
    """The loop `xtb run` uses (uvloop where installed: config general.uvloop, on by default), for both
    pipelines alike."""
    try:
        import uvloop
    except ImportError:  # Windows: the default loop
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _bench(benchmark: Any, pipeline: Any, sender: Sender) -> None:
    """The same harness for both pipelines. Each order's send task is spawned on the running loop; between
    rounds (untimed) the loop runs those tasks to completion, as a bot's loop does between socket bursts;
    during a round it is marked running for this thread without being entered, so the timed call is only
    frame -> request handed to its send task."""
    it = iter(frames(ROUNDS + WARMUP + 1))
    on_frame = pipeline.on_frame
    loop = new_loop()

    def setup() -> tuple[tuple[bytes], dict[str, Any]]:
        asyncio.events._set_running_loop(None)
        loop.run_until_complete(sender.drain(10.0))
        asyncio.events._set_running_loop(loop)
        return (next(it),), {}

    try:
        benchmark.pedantic(on_frame, setup=setup, rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)
        asyncio.events._set_running_loop(None)
        loop.run_until_complete(sender.drain(10.0))
    finally:
        asyncio.events._set_running_loop(None)
        loop.close()
    record_percentiles(benchmark)


class NullPipeline:
    """The harness with nothing behind it: a frame handed to a method that returns at once. Its time is
    what the measurement itself adds to every round (two clock reads and one Python call), the same for
    both pipelines."""

    def on_frame(self, frame: bytes) -> None:
        return None

    async def drain(self, timeout_s: float = 10.0) -> None:
        return None


def _interleaved(benchmark: Any, xp: XtbPipeline, py: PyPipeline, gate: Any, group: str, blocks: int = 10,
                 block: int = 300) -> None:
    """Both pipelines in alternating blocks of frames (ABAB..., the first 20 frames of each block not
    counted) under the same harness, so the ratio does not move with the machine's speed between two tests
    (this VM drifts by up to 2x within a minute), while each pipeline still runs with its own caches warm,
    as in a bot that runs one of them. Adds `interleaved_{baseline,xtb}_p50_us` and `interleaved_ratio` to
    the xtb case's extra_info, and the harness's own cost per round (`interleaved_timer_p50_us`, a third
    leg handing each frame to a method that does nothing) with `interleaved_ratio_net`, the ratio of the
    two p50s with it taken off both: the timer is a fixed cost that narrows the raw ratio of a fast path."""
    if getattr(benchmark, "disabled", False) or not gate.enabled:
        return  # smoke runs (--benchmark-disable): the timed cases above already ran the path once
    loop = new_loop()
    times: dict[str, list[float]] = {"xtb": [], "baseline": [], "timer": []}
    null = NullPipeline()
    legs: tuple[tuple[str, Any, Sender, Any], ...] = (
        ("xtb", xp, xp.gateway, iter(frames(blocks * block + 1))),
        ("baseline", py, py, iter(frames(blocks * block + 1))),
        ("timer", null, null, iter(frames(blocks * block + 1))),
    )
    clock = time.perf_counter
    try:
        for _ in range(blocks):
            for name, pipe, sender, it in legs:
                for i in range(block):
                    frame = next(it)
                    asyncio.events._set_running_loop(None)
                    loop.run_until_complete(sender.drain(10.0))
                    asyncio.events._set_running_loop(loop)
                    t0 = clock()
                    pipe.on_frame(frame)
                    if name == "xtb" and gate.inject_delay_us:
                        busy_wait_us(gate.inject_delay_us)
                    dt = clock() - t0
                    if i >= 20:
                        times[name].append(dt)
        asyncio.events._set_running_loop(None)
        for _, _, sender, _ in legs:
            loop.run_until_complete(sender.drain(10.0))
    finally:
        asyncio.events._set_running_loop(None)
        loop.close()
    base, ours, timer = (percentiles(times[k])["p50_us"] for k in ("baseline", "xtb", "timer"))
    benchmark.extra_info.update(interleaved_timer_p50_us=timer,
                                interleaved_ratio_net=round((base - timer) / max(ours - timer, 1e-3), 2))
    p99 = {k: percentiles(times[k])["p99_us"] for k in ("baseline", "xtb")}
    gate.judge(benchmark, group, Ratio(base, ours, p99["baseline"], p99["xtb"], len(times["xtb"])))


@pytest.mark.benchmark(group="tick_to_order_backpack")
def test_baseline_tick_to_order(benchmark: Any) -> None:
    py = PyPipeline(TRADE_AT)
    _bench(benchmark, py, py)
    assert py.orders >= 1 and py.last is not None and py.sent == py.orders


@pytest.mark.benchmark(group="tick_to_order_backpack")
def test_xtb_tick_to_order(benchmark: Any, tmp_path: Path, ratio_gate: Any) -> None:
    xp = XtbPipeline(tmp_path, TRADE_AT)
    _bench(benchmark, xp, xp.gateway)
    assert xp.strategy.orders >= 1 and xp.conn.sent == xp.strategy.orders == xp.gateway.stats.acked
    assert xp.gateway.stats.denied == {}
    _interleaved(benchmark, XtbPipeline(tmp_path / "interleaved", TRADE_AT), PyPipeline(TRADE_AT), ratio_gate,
                 "tick_to_order_backpack")


@pytest.mark.benchmark(group="tick_no_order")
def test_baseline_tick_no_order(benchmark: Any) -> None:
    py = PyPipeline(NEVER)
    _bench(benchmark, py, py)
    assert py.orders == 0 and py.seq > SNAPSHOT_SEQ


@pytest.mark.benchmark(group="tick_no_order")
def test_xtb_tick_no_order(benchmark: Any, tmp_path: Path, ratio_gate: Any) -> None:
    xp = XtbPipeline(tmp_path, NEVER)
    _bench(benchmark, xp, xp.gateway)
    assert xp.strategy.orders == 0 and xp.dispatcher.stats.per_kind["book"] >= 1
    _interleaved(benchmark, XtbPipeline(tmp_path / "interleaved", NEVER), PyPipeline(NEVER), ratio_gate,
                 "tick_no_order")


# ---- the Lighter leg: frame -> signed order -----------------------------------------------------------
#
# Same shape, Lighter's protocol: an `update/order_book` frame in, a signed CreateOrder tx out. xtb's
# prepare returns a future (set by the tx pipeline's task once the core's native signer has signed,
# ~40 us), so a round is feed + drain (sync, up to the gateway) and then the wait for that future; the
# baseline signs with the
# lighter SDK's SignerClient on a worker thread (what a careful asyncio bot does: the SDK's own async path
# signs on the loop thread and stalls it for ~3 ms). Percentiles of the per-round latency (taken inside the
# loop, without the cost of entering it) are in extra_info; the pytest-benchmark times include entering the
# event loop once per round, the same for both.

L_SYMBOL, L_MARKET = "ETH", 0
L_ACCOUNT, L_API_KEY, L_CHAIN = 54321, 4, 304
L_DETAILS = [{
    "symbol": L_SYMBOL, "market_id": L_MARKET, "market_type": "perp", "status": "active",
    "price_decimals": 2, "size_decimals": 4, "min_base_amount": "0.0050", "min_quote_amount": "10.000000",
    "maker_fee": "0.0000", "taker_fee": "0.0200",
}]
L_ROUNDS, L_WARMUP = 300, 20
L_TRADE_AT = 333880  # the frames' best bid: 3338.80
L_SIZE = 100  # 0.0100 ETH


def lighter_frames(n: int) -> tuple[bytes, list[bytes]]:
    """A recorded-shape snapshot and n chained deltas (begin_nonce == the previous nonce)."""
    nonce, offset = 4_037_957_034, 41_692_860
    levels = [(f"{3338.80 - i / 10:.2f}", f"{1 + i}.0000") for i in range(20)]
    asks = [(f"{3339.10 + i / 10:.2f}", f"{1 + i}.0000") for i in range(20)]
    snap = orjson.dumps({"channel": f"order_book:{L_MARKET}", "offset": offset, "type": "subscribed/order_book",
                         "order_book": {"code": 0, "asks": [{"price": p, "size": q} for p, q in asks],
                                        "bids": [{"price": p, "size": q} for p, q in levels],
                                        "offset": offset, "nonce": nonce}})
    out = []
    for i in range(n):
        prev, nonce, offset = nonce, nonce + 19, offset + 4
        out.append(orjson.dumps({
            "channel": f"order_book:{L_MARKET}", "offset": offset, "type": "update/order_book",
            "order_book": {"code": 0, "asks": [{"price": "3339.10", "size": f"{2 + i % 5}.0000"}],
                           "bids": [{"price": "3338.80", "size": f"{3 + i % 7}.0000"}],
                           "offset": offset, "nonce": nonce, "begin_nonce": prev},
        }))
    return snap, out


class _RecordedDetails:
    """Stands in for the REST API at market loading only: a recorded `orderBookDetails` reply."""

    async def order_book_details(self, market_id: int | None = None) -> list[dict[str, Any]]:
        return L_DETAILS


class CapturingLighterConnector:
    """Factory for the real LighterConnector with the venue's answers replaced: nonces start at 0 and the
    tx pipeline's dispatch records the signed tx and answers as the venue does, without sending."""

    @staticmethod
    async def build(ring: Any, tracker: Any, on_burst_end: Callable[[], object]) -> Any:
        from xtb.signing import LighterSigner, generate_api_key
        from xtb.venues.lighter import LighterConfig, LighterConnector

        class Connector(LighterConnector):
            sent: list[Any]

            last_ready: Any = None

            async def _fetch_nonce(self, account_index: int, api_key_index: int) -> int:
                return 0

            def prepare_submit(self, reqs: Sequence[OrderRequest]) -> Any:
                self.last_ready = ready = super().prepare_submit(reqs)
                return ready

        private, _ = generate_api_key()
        cfg = LighterConfig(rest_url="http://127.0.0.1:9", ws_url="ws://127.0.0.1:9", chain_id=L_CHAIN,
                            account_index=L_ACCOUNT, api_key_index=L_API_KEY, symbols=(L_SYMBOL,))
        signer = LighterSigner(private, chain_id=L_CHAIN, api_key_index=L_API_KEY, account_index=L_ACCOUNT)
        limiter = _core.RateLimiter.from_config({
            "pools": {"tx": {"type": "token_bucket", "capacity": 10**9, "refill": 10**9, "window_ms": 1000}},
            "keys": {"sendTx": {"tx": 1}, "sendTxBatch": {"tx": 1}},
        }, ring)
        conn = Connector(cfg, signer, own_signer=True, ring=ring, tracker=tracker, limiter=limiter,
                         on_burst_end=on_burst_end)
        conn.sent = []

        def dispatch(signed: Any) -> Any:
            conn.sent.append(signed)
            fut = asyncio.get_running_loop().create_future()
            fut.set_result({"code": 200, "tx_hash": f"0x{len(conn.sent):064x}"})
            return fut

        conn.tx._dispatch = dispatch  # type: ignore[method-assign]
        conn.api = _RecordedDetails()  # type: ignore[assignment]
        await conn._load_markets()
        return conn


class XtbLighterPipeline:
    def __init__(self, state_dir: Path, loop: asyncio.AbstractEventLoop) -> None:
        ring = _core.EventRing(1 << 16)
        self.tracker = _core.OrderTracker(ring)
        self.dispatcher = Dispatcher(ring)
        self.conn = loop.run_until_complete(CapturingLighterConnector.build(ring, self.tracker, self.dispatcher.drain))
        self.gateway = OrderGateway({"lighter": self.conn}, self.tracker)
        ctx = StrategyContext(
            "touch_taker", connectors={"lighter": self.conn}, gateway=self.gateway, tracker=self.tracker,
            id_allocators={"lighter": ClientIdAllocator.for_venue(
                state_dir, "lighter", "bench", id_range=venue_spec("lighter").client_id_range)},
            positions=Positions(), dispatcher=self.dispatcher,
        )
        self.strategy = TouchTaker(ctx, TouchParams(venue="lighter", symbol=L_SYMBOL, trade_at=L_TRADE_AT,
                                                    size=L_SIZE))
        self.dispatcher.add_listener(self.conn)
        self.dispatcher.add_listener(self.strategy)
        snap, self.frames = lighter_frames(L_ROUNDS + L_WARMUP + 1)
        self.conn.decoder.feed(snap)
        self.dispatcher.drain()
        assert self.conn.book(L_SYMBOL).best_bid() == (L_TRADE_AT, 10000)
        self.latencies: list[float] = []

    async def one(self, frame: bytes) -> None:
        t0 = time.perf_counter()
        self.conn.decoder.feed(frame)
        self.dispatcher.drain()
        await self.conn.last_ready  # set by the tx pipeline once the signer thread has signed
        self.latencies.append(time.perf_counter() - t0)


class PyLighterPipeline(PyPipeline):
    """orjson + dict book + the same decision + the lighter SDK's signer on a worker thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from lighter.signer_client import SignerClient

        from xtb.signing import generate_api_key

        super().__init__(L_TRADE_AT)
        self.trade_at = L_TRADE_AT / 100
        private, _ = generate_api_key()

        async def build() -> Any:  # its aiohttp connector wants a running loop; nothing is sent
            return SignerClient("http://127.0.0.1:9", L_ACCOUNT, {L_API_KEY: private}, chain_id=L_CHAIN)

        self.sdk = loop.run_until_complete(build())
        self.pool = ThreadPoolExecutor(1)
        self.bids = {}
        self.asks = {}
        self.nonce = 0
        self.latencies: list[float] = []
        snap, self.frames = lighter_frames(L_ROUNDS + L_WARMUP + 1)
        self._apply(orjson.loads(snap)["order_book"])
        self.signed: str | None = None

    def _apply(self, ob: dict[str, Any]) -> None:
        for levels, side in ((ob["bids"], self.bids), (ob["asks"], self.asks)):
            for lv in levels:
                px, sz = float(lv["price"]), float(lv["size"])
                if sz == 0.0:
                    side.pop(px, None)
                else:
                    side[px] = sz
        self.seq = ob["nonce"]

    async def one(self, frame: bytes) -> None:
        t0 = time.perf_counter()
        ob = orjson.loads(frame)["order_book"]
        if ob.get("begin_nonce") != self.seq:
            raise RuntimeError("gap")  # a real bot would resubscribe; the bench frames never gap
        self._apply(ob)
        best_bid = max(self.bids) if self.bids else None
        if best_bid is not None and best_bid >= self.trade_at:
            self.nonce += 1
            self.next_id += 1
            args = (L_MARKET, self.next_id, L_SIZE, round((best_bid - 0.01) * 100), False, 0, 1, False, 0, -1)
            sign = self.sdk.sign_create_order
            tx_type, tx_info, _, err = await asyncio.get_running_loop().run_in_executor(
                self.pool, lambda: sign(*args, nonce=self.nonce, api_key_index=L_API_KEY))
            assert err is None and tx_type == 14
            self.signed = tx_info
            self.orders += 1
        self.latencies.append(time.perf_counter() - t0)

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.sdk.close())
        self.pool.shutdown()


def _bench_lighter(benchmark: Any, pipeline: Any, loop: asyncio.AbstractEventLoop, gateway: Any) -> None:
    it = iter(pipeline.frames)

    def setup() -> tuple[tuple[bytes], dict[str, Any]]:
        if gateway is not None:
            loop.run_until_complete(gateway.drain(10.0))  # untimed: the send and its ack
        return (next(it),), {}

    benchmark.pedantic(lambda f: loop.run_until_complete(pipeline.one(f)), setup=setup, rounds=L_ROUNDS,
                       warmup_rounds=L_WARMUP, iterations=1)
    if gateway is not None:
        loop.run_until_complete(gateway.drain(10.0))
    if len(pipeline.latencies) > 1:
        benchmark.extra_info.update(percentiles(pipeline.latencies[L_WARMUP:] or pipeline.latencies))


def _interleaved_lighter(benchmark: Any, tmp_path: Path, gate: Any, blocks: int = 6, block: int = 50) -> None:
    """Both Lighter pipelines in alternating blocks of frames (the first 10 rounds of a block not
    counted), each in its own loop, so the ratio does not move with the machine's speed between two
    tests. Adds `interleaved_{baseline,xtb}_p50_us`/`_p99_us` and `interleaved_ratio` to extra_info, and
    gates the ratio (group `tick_to_order_lighter`)."""
    if getattr(benchmark, "disabled", False) or not gate.enabled:
        return  # smoke runs (--benchmark-disable): the timed cases above already ran the path once
    xloop, ploop = asyncio.new_event_loop(), asyncio.new_event_loop()
    xp = XtbLighterPipeline(tmp_path, xloop)
    py = PyLighterPipeline(ploop)
    legs = (("xtb", xp, xloop, iter(xp.frames)), ("baseline", py, ploop, iter(py.frames)))
    times: dict[str, list[float]] = {"xtb": [], "baseline": []}
    try:
        for _ in range(blocks):
            for name, pipe, loop, it in legs:
                for i in range(block):
                    if pipe is xp:
                        loop.run_until_complete(xp.gateway.drain(10.0))  # untimed: the send and its ack
                    loop.run_until_complete(pipe.one(next(it)))
                    extra = 0.0
                    if pipe is xp and gate.inject_delay_us:
                        t0 = time.perf_counter()
                        busy_wait_us(gate.inject_delay_us)
                        extra = time.perf_counter() - t0
                    if i >= 10:
                        times[name].append(pipe.latencies[-1] + extra)
        xloop.run_until_complete(xp.gateway.drain(10.0))
    finally:
        xloop.run_until_complete(xp.conn.close())
        py.close(ploop)
        xloop.close()
        ploop.close()
    base, ours = percentiles(times["baseline"]), percentiles(times["xtb"])
    benchmark.extra_info.update(interleaved_baseline_p50_us=base["p50_us"], interleaved_xtb_p50_us=ours["p50_us"],
                                interleaved_baseline_p99_us=base["p99_us"], interleaved_xtb_p99_us=ours["p99_us"],
                                interleaved_ratio=round(base["p50_us"] / ours["p50_us"], 2))
    print(f"\ntick_to_order_lighter interleaved: SDK {base['p50_us']} us p50 / {base['p99_us']} p99, "
          f"xtb {ours['p50_us']} us p50 / {ours['p99_us']} p99, ratio {base['p50_us'] / ours['p50_us']:.2f}")
    gate.judge(benchmark, "tick_to_order_lighter",
               Ratio(base["p50_us"], ours["p50_us"], base["p99_us"], ours["p99_us"], len(times["xtb"])))


@pytest.mark.benchmark(group="tick_to_order_lighter")
def test_baseline_tick_to_order_lighter(benchmark: Any) -> None:
    loop = asyncio.new_event_loop()
    py = PyLighterPipeline(loop)
    try:
        _bench_lighter(benchmark, py, loop, None)
    finally:
        py.close(loop)
        loop.close()
    assert py.orders >= 1 and py.signed


@pytest.mark.benchmark(group="tick_to_order_lighter")
def test_xtb_tick_to_order_lighter(benchmark: Any, tmp_path: Path, ratio_gate: Any) -> None:
    loop = asyncio.new_event_loop()
    xp = XtbLighterPipeline(tmp_path, loop)
    try:
        _bench_lighter(benchmark, xp, loop, xp.gateway)
        assert xp.strategy.orders >= 1 and len(xp.conn.sent) == xp.strategy.orders == xp.gateway.stats.acked
        assert xp.gateway.stats.denied == {}
        assert xp.conn.signer.backend == "native"
    finally:
        loop.run_until_complete(xp.conn.close())
        loop.close()
    _interleaved_lighter(benchmark, tmp_path / "interleaved", ratio_gate)
