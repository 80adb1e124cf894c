"""Record a Backpack depth capture from the simulator (which speaks Backpack's protocol on loopback).

    python tools/record_capture.py xtb/data/backpack_sol_depth.jsonl --seconds 4 --seed 11

Line 1 is the REST snapshot (`{"snapshot": <GET /api/v1/depth body>, "symbol": ...}`); every later line is
one WebSocket frame as received: `{"recv_ns": <monotonic ns>, "frame": "<raw text>"}`. Deltas received
before the snapshot are kept (a connector buffers them too). `xtb demo` replays this file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp

from xtb.sim.cluster import ClusterConfig, SimCluster


async def record(path: str, seconds: float, seed: int, symbol: str, rate: float) -> int:
    async with SimCluster(ClusterConfig(venues=("backpack",), seed=seed, updates_per_s=rate)) as sim:
        urls = sim.urls()["backpack"]
        frames: list[tuple[int, str]] = []
        async with aiohttp.ClientSession() as http, http.ws_connect(urls["ws"]) as ws:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": [f"depth.{symbol}"]}))
            await asyncio.sleep(0.2)  # let a few deltas arrive first, as a live connector would see
            async with http.get(f"{urls['rest']}/api/v1/depth", params={"symbol": symbol}) as r:
                snapshot = await r.json()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    msg = await asyncio.wait_for(ws.receive(), timeout=max(0.01, deadline - time.monotonic()))
                except TimeoutError:
                    break
                if msg.type == aiohttp.WSMsgType.TEXT:
                    frames.append((time.monotonic_ns(), msg.data))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"snapshot": snapshot, "symbol": symbol}) + "\n")
        for ns, text in frames:
            fh.write(json.dumps({"recv_ns": ns, "frame": text}) + "\n")
    return len(frames)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--symbol", default="SOL_USDC_PERP")
    ap.add_argument("--rate", type=float, default=400.0, help="book updates per second")
    args = ap.parse_args()
    n = asyncio.run(record(args.path, args.seconds, args.seed, args.symbol, args.rate))
    print(f"recorded {n} frames to {args.path}")


if __name__ == "__main__":
    main()
