"""Flatten: cancel everything and close every position with reduce-only orders, then verify zero.

Used by the engine's shutdown (optional) and by `xtb flatten`, which works with the bot down, as the
original system's emergency script did. Positions are read from each connector (stream cache, REST
fallback); each one is closed with a reduce-only IOC order priced through the touch by `slippage_bps`
(a market order with a worst price), retried while anything is left, and checked against a fresh read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from xtb.venues.base import OrderKind, OrderRequest, Side, SubmitOutcome, TimeInForce

log = logging.getLogger("xtb.flatten")


def _worst_price(conn: Any, symbol: str, side: Side, slippage_bps: int) -> int | None:
    market = conn.markets()[symbol]
    bid, ask = conn.top_of_book(symbol)
    ref = ask if side is Side.BID else bid
    if ref is None:
        return None
    px = ref[0]
    move = px * slippage_bps // 10_000
    raw = px + move if side is Side.BID else px - move
    return int(market.round_px(raw, Side.ASK if side is Side.BID else Side.BID))


async def flatten_connectors(
    connectors: dict[str, Any],
    *,
    next_client_id: Any = None,
    slippage_bps: int = 100,
    attempts: int = 5,
    settle_s: float = 0.5,
) -> dict[str, dict[str, int]]:
    """Returns the positions left per venue and symbol (empty dicts when flat everywhere)."""
    counter = [int(time.time()) % 1_000_000 * 1000]

    def fresh_id(venue: str) -> int:
        if next_client_id is not None:
            return int(next_client_id(venue))
        counter[0] += 1
        return counter[0]

    left: dict[str, dict[str, int]] = {}
    for venue, conn in connectors.items():
        try:
            await conn.cancel_all()
        except Exception as e:
            log.error("%s: cancel_all failed during flatten: %s", venue, e)
        for attempt in range(attempts):
            positions = await conn.positions()
            open_pos = {s: p.size for s, p in positions.items() if p.size != 0}
            if not open_pos:
                break
            for symbol, size in open_pos.items():
                side = Side.ASK if size > 0 else Side.BID
                worst = _worst_price(conn, symbol, side, slippage_bps * (attempt + 1))
                req = OrderRequest(client_id=fresh_id(venue), symbol=symbol, side=side, size=abs(size),
                                   kind=OrderKind.MARKET, price=worst, tif=TimeInForce.IOC, reduce_only=True)
                try:
                    res = await conn.submit(req)
                except Exception as e:
                    log.error("%s %s: flatten order failed: %s", venue, symbol, e)
                    continue
                if res.outcome is SubmitOutcome.REJECTED:
                    log.warning("%s %s: flatten order rejected: %s", venue, symbol, res.reason)
            await asyncio.sleep(settle_s)
        final = await conn.positions()
        left[venue] = {s: p.size for s, p in final.items() if p.size != 0}
    return left
