"""Tick to order end to end: the simulator moves the touch, the bot's order arrives back at the simulator.

The simulator (Backpack protocol, `xtb.sim`) runs in a child process on 127.0.0.1. Each round it cancels
the bot's resting orders, then (t0, `time.monotonic_ns`) a maker account raises the best bid to the
trigger price; the venue publishes the depth delta on its WebSocket; the bot sees it, decides and POSTs a
signed limit order one tick under the touch; the simulator's `on_request` probe stamps the order request's
arrival (t1) before reading or verifying it. t1 - t0 is "book change -> order at the venue": both
processes read the same system-wide monotonic clock, and the simulator's own work (matching, publishing,
HTTP parsing) is in both figures alike. The maker's bid is cancelled after each round.

- `xtb_*`: the real stack, started against the simulator: BackpackConnector (picows + Cython listener +
  core decoder/book), EventRing, Dispatcher, a strategy through StrategyContext, OrderGateway (core rate
  limiter, tracker) and the connector's signed REST submit.
- `baseline_*`: a careful pure-Python asyncio bot: aiohttp WebSocket + REST snapshot, orjson, dict book with
  the sequence rule, the same decision, PyNaCl signature, aiohttp POST from a send task.

Both strategies trigger on the edge (best bid moving from below the trigger to at/above it), so each round
produces exactly one order. The venue-side latencies' p50/p99 are in extra_info (`p50_us`, `p99_us`), and
the bot's own share (frame received -> request handed to its send task; xtb's from the gateway's live
tick-to-order samples) as `bot_p50_us`. The pytest-benchmark times are the parent's round trips (pipe to
the child included) and only show the shape.
Run: python -m pytest bench/bench_tick_to_order_loopback.py --benchmark-group-by=group -s
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing as mp
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from nacl.signing import SigningKey
from py_orders import signed_limit_bid
from pydantic import BaseModel

from xtb import _core
from xtb.engine.context import Positions, StrategyContext
from xtb.engine.dispatcher import Dispatcher
from xtb.engine.gateway import OrderGateway
from xtb.engine.strategy import Strategy
from xtb.orders.client_ids import ClientIdAllocator
from xtb.venues.backpack.connector import BackpackConfig, BackpackConnector
from xtb.venues.registry import venue_spec

SYMBOL = "SOL_USDC_PERP"  # price 2 decimals, size 2 decimals in the simulator
PRICE_DECIMALS, SIZE_DECIMALS = 2, 2
BASE_BID, ASK = 15_000, 15_100  # resting maker levels (150.00 / 151.00)
TRIGGER = 15_050  # the round's maker bid (150.50): at/above it the bot buys one tick under the touch
BOT_SIZE = 10  # 0.10 SOL
ROUNDS, WARMUP = 150, 10
ROUND_TIMEOUT_S = 2.0


# ---- the simulator, in a child process -------------------------------------------------------------


def _serve(conn: Connection) -> None:
    asyncio.run(_serve_async(conn))


async def _serve_async(conn: Connection) -> None:
    from xtb.sim.cluster import ClusterConfig, SimCluster
    from xtb.sim.types import AccountConfig, OrderRequest, Side

    sim = SimCluster(ClusterConfig(venues=("backpack",), seed=7, generate=False))
    await sim.__aenter__()
    try:
        ex = sim.venues["backpack"].exchange
        market = ex.market_by_symbol(SYMBOL).market_id
        ex.set_mark_price(market, (BASE_BID + ASK) // 2)
        maker = ex.create_account(10**30, config=AccountConfig(check_margin=False, check_order_limits=False,
                                                               cancel_on_disconnect=False))
        ex.place_order(OrderRequest(maker, market, Side.BUY, 10_000, BASE_BID))
        ex.place_order(OrderRequest(maker, market, Side.SELL, 10_000, ASK))
        api_key, secret, bot = sim.add_backpack_account(1_000_000)
        server = sim.venues["backpack"].server
        loop = asyncio.get_running_loop()
        waiter: list[asyncio.Future[int]] = []

        def on_request(method: str, path: str, t_ns: int) -> None:
            if method == "POST" and path == "/api/v1/order" and waiter and not waiter[0].done():
                waiter[0].set_result(t_ns)

        server.on_request = on_request
        async def tick_until_first_round() -> None:
            # A subscriber syncs its book on the first delta after subscribing (Backpack's procedure), and
            # this book is otherwise still: a far maker ask comes and goes until the rounds start.
            while True:
                far = ex.place_order(OrderRequest(maker, market, Side.SELL, 100, ASK + 500))
                await asyncio.sleep(0.02)
                ex.cancel_order(maker, market, order_id=far.order_id)
                await asyncio.sleep(0.02)

        ticker = loop.create_task(tick_until_first_round())
        urls = sim.urls()["backpack"]
        conn.send({"rest": urls["rest"], "ws": urls["ws"], "api_key": api_key, "secret": secret})
        while True:
            cmd = await loop.run_in_executor(None, conn.recv)
            if cmd == "stop":
                break
            if not ticker.done():
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)
            ex.cancel_all(bot, market)  # last round's order, now surely in the book
            fut: asyncio.Future[int] = loop.create_future()
            waiter[:] = [fut]
            t0 = time.monotonic_ns()
            view = ex.place_order(OrderRequest(maker, market, Side.BUY, 100, TRIGGER))
            try:
                t1 = await asyncio.wait_for(fut, ROUND_TIMEOUT_S)
                result: int | None = t1 - t0
            except TimeoutError:
                result = None
            ex.cancel_order(maker, market, order_id=view.order_id)
            conn.send(result)
    finally:
        await sim.__aexit__(None, None, None)


class SimProcess:
    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()
        if not self.conn.poll(60):
            self.proc.kill()
            raise RuntimeError("the simulator process did not start within 60 s")
        self.info: dict[str, str] = self.conn.recv()

    async def round(self, settled: Callable[[], bool]) -> int | None:
        """One touch move; the venue-side latency in ns (None: no order arrived within the timeout).
        Returns once the bot has also seen the maker's bid go (`settled`), so the next round's move is a
        fresh edge and not conflated with this one's end in one read burst."""
        self.conn.send("round")
        while not self.conn.poll(0):  # keep the bot's loop serving its sockets while the child works
            await asyncio.sleep(0.0002)
        result: int | None = self.conn.recv()
        deadline = time.monotonic() + ROUND_TIMEOUT_S
        while not settled() and time.monotonic() < deadline:
            await asyncio.sleep(0.0002)
        return result

    def close(self) -> None:
        try:
            self.conn.send("stop")
        finally:
            self.proc.join(15)
            if self.proc.is_alive():
                self.proc.kill()


# ---- the two bots -------------------------------------------------------------------------------------


class EdgeParams(BaseModel):
    trigger: int = TRIGGER
    size: int = BOT_SIZE


class EdgeTaker(Strategy[EdgeParams]):
    """Bid one tick under the touch when the best bid moves from below `trigger` to at/above it."""

    def __init__(self, ctx: StrategyContext, params: EdgeParams) -> None:
        super().__init__(ctx, params)
        self.last_bid = 0
        self.orders = 0

    def on_book(self, ev: Any) -> None:
        bid = ev.best_bid
        px = bid[0] if bid is not None else 0
        if px >= self.params.trigger > self.last_bid:
            self.ctx.place_limit("backpack", SYMBOL, "bid", px - 1, self.params.size)
            self.orders += 1
        self.last_bid = px


class XtbBot:
    def __init__(self, info: dict[str, str], state_dir: Path) -> None:
        self.info, self.state_dir = info, state_dir

    async def start(self) -> None:
        ring = _core.EventRing(1 << 16)
        self.tracker = _core.OrderTracker(ring)
        self.dispatcher = Dispatcher(ring)
        self.conn = BackpackConnector(
            BackpackConfig(rest_url=self.info["rest"], ws_url=self.info["ws"], symbols=(SYMBOL,),
                           reconcile_interval_s=None, requests_per_second=100_000),  # no throttling here
            self.info["api_key"], self.info["secret"], ring=ring, tracker=self.tracker,
            on_burst_end=self.dispatcher.drain,
        )
        self.bot_ns: list[int] = []  # frame received -> request ready, from the gateway's live samples
        self.gateway = OrderGateway({"backpack": self.conn}, self.tracker, on_latency=self._on_latency)
        ctx = StrategyContext(
            "edge_taker", connectors={"backpack": self.conn}, gateway=self.gateway, tracker=self.tracker,
            id_allocators={"backpack": ClientIdAllocator.for_venue(
                self.state_dir, "backpack", "bench", id_range=venue_spec("backpack").client_id_range)},
            positions=Positions(), dispatcher=self.dispatcher,
        )
        self.strategy = EdgeTaker(ctx, EdgeParams())
        self.dispatcher.add_listener(self.conn)
        self.dispatcher.add_listener(self.strategy)
        await self.conn.start()

    @property
    def orders(self) -> int:
        return self.strategy.orders

    def settled(self) -> bool:
        return self.strategy.last_bid < TRIGGER

    def _on_latency(self, sample: Any) -> None:
        if sample.tick_to_order_ns is not None:
            self.bot_ns.append(sample.tick_to_order_ns)

    async def stop(self) -> None:
        await self.gateway.drain(5.0)
        await self.conn.close()


class PyBot:
    """orjson + dict book + PyNaCl + aiohttp, as a careful asyncio bot writes it."""

    def __init__(self, info: dict[str, str], state_dir: Path) -> None:
        self.info = info
        self.key = SigningKey(base64.b64decode(info["secret"]))
        self.api_key = info["api_key"]
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.seq = 0
        self.trigger = TRIGGER / 10**PRICE_DECIMALS
        self.last_bid = 0.0
        self.next_id = 1
        self.orders = 0
        self.accepted = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: list[dict[str, Any]] = []
        self.bot_ns: list[int] = []  # frame received -> request ready
        self._recv_ns = 0

    async def start(self) -> None:
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(self.info["ws"])
        await self.ws.send_str(orjson.dumps({"method": "SUBSCRIBE", "params": [f"depth.{SYMBOL}"]}).decode())
        self.reader = asyncio.get_running_loop().create_task(self._read())
        async with self.http.get(f"{self.info['rest']}/api/v1/depth", params={"symbol": SYMBOL}) as r:
            snap = orjson.loads(await r.read())
        self.bids = {float(p): float(q) for p, q in snap["bids"]}
        self.asks = {float(p): float(q) for p, q in snap["asks"]}
        self.seq = int(snap["lastUpdateId"])
        for d in self._pending:  # deltas that arrived before the snapshot
            self._apply(d)
        self._pending = []
        self.last_bid = max(self.bids) if self.bids else 0.0

    def settled(self) -> bool:
        return self.last_bid < self.trigger

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            self._recv_ns = time.monotonic_ns()
            d = orjson.loads(msg.data).get("data")
            if not d or d.get("e") != "depth":
                continue
            if self.seq == 0:
                self._pending.append(d)
                continue
            self._apply(d)

    def _apply(self, d: dict[str, Any]) -> None:
        if d["u"] <= self.seq:
            return  # already in the snapshot
        if d["U"] != self.seq + 1:
            raise RuntimeError("gap")  # a real bot would resync; the simulator's stream here never gaps
        self.seq = d["u"]
        for levels, side in ((d["b"], self.bids), (d["a"], self.asks)):
            for p, q in levels:
                px, sz = float(p), float(q)
                if sz == 0.0:
                    side.pop(px, None)
                else:
                    side[px] = sz
        bid = max(self.bids) if self.bids else 0.0
        if bid >= self.trigger > self.last_bid:
            self._place(bid - 10**-PRICE_DECIMALS)
        self.last_bid = bid

    def _place(self, price: float) -> None:
        cid = self.next_id
        self.next_id += 1
        headers, body = signed_limit_bid(self.key, self.api_key, cid, SYMBOL, f"{price:.{PRICE_DECIMALS}f}",
                                         f"{BOT_SIZE / 10**SIZE_DECIMALS:.{SIZE_DECIMALS}f}", 5000)
        self.orders += 1
        task = asyncio.get_running_loop().create_task(self._send(headers, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.bot_ns.append(time.monotonic_ns() - self._recv_ns)

    async def _send(self, headers: dict[str, str], body: bytes) -> None:
        async with self.http.post(f"{self.info['rest']}/api/v1/order", data=body, headers=headers) as r:
            await r.read()
            self.accepted += r.status == 200

    async def stop(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)
        reader, ws, http = getattr(self, "reader", None), getattr(self, "ws", None), getattr(self, "http", None)
        if reader is not None:
            reader.cancel()
        if ws is not None:
            await ws.close()
        if http is not None:
            await http.close()


# ---- the benchmark ----------------------------------------------------------------------------------


def _percentiles(ns: list[int]) -> dict[str, float]:
    s = sorted(ns)

    def pick(q: float) -> float:
        return round(s[min(len(s) - 1, int(q * len(s)))] / 1e3, 1)

    return {"p50_us": pick(0.5), "p99_us": pick(0.99), "venue_side_rounds": len(s)}


def _run(benchmark: Any, make_bot: Callable[[dict[str, str], Path], Any], state_dir: Path) -> Any:
    sim = SimProcess()
    loop = asyncio.new_event_loop()
    bot = make_bot(sim.info, state_dir)
    latencies: list[int] = []
    missed = 0

    def one() -> None:
        nonlocal missed
        ns = loop.run_until_complete(sim.round(bot.settled))
        if ns is None:
            missed += 1
        else:
            latencies.append(ns)

    try:
        loop.run_until_complete(bot.start())
        benchmark.pedantic(one, rounds=ROUNDS, warmup_rounds=WARMUP, iterations=1)
    finally:
        try:
            loop.run_until_complete(bot.stop())
        finally:
            sim.close()
            loop.close()
    assert missed == 0, f"{missed} rounds produced no order at the venue"
    measured = latencies[WARMUP:] if len(latencies) > WARMUP else latencies
    benchmark.extra_info.update(_percentiles(measured))
    inside = sorted(bot.bot_ns[WARMUP:] or bot.bot_ns)
    if inside:  # the bot's own share: frame received -> request handed to its send task
        benchmark.extra_info["bot_p50_us"] = round(inside[len(inside) // 2] / 1e3, 1)
    return bot


@pytest.mark.benchmark(group="tick_to_order_loopback")
def test_baseline_tick_to_order_loopback(benchmark: Any, tmp_path: Path) -> None:
    bot = _run(benchmark, PyBot, tmp_path)
    assert bot.orders >= 1 and bot.accepted == bot.orders


@pytest.mark.benchmark(group="tick_to_order_loopback")
def test_xtb_tick_to_order_loopback(benchmark: Any, tmp_path: Path) -> None:
    bot = _run(benchmark, XtbBot, tmp_path)
    assert bot.orders >= 1 and bot.gateway.stats.submitted == bot.orders
    assert bot.gateway.stats.acked == bot.orders and bot.gateway.stats.denied == {}
