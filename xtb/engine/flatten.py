"""Flatten: cancel everything and close every position with reduce-only orders, then verify zero.

Used by the engine's shutdown (optional) and by `xtb flatten`, which works with the bot down, as the
original system's emergency script did. Positions are read from each connector (stream cache, REST
fallback); each one is closed with a reduce-only IOC order priced through the touch by `slippage_bps`
(a market order with a worst price), retried while anything is left, and checked against a fresh read.
Open orders are checked after a reconciliation, so orders the venue has but this process never placed
count too (the connectors adopt them by default).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xtb.model.types import MarketInfo, OrderKind, OrderRequest, Side, SubmitOutcome, TimeInForce

if TYPE_CHECKING:
    from xtb.venues.contract import Connector

log = logging.getLogger("xtb.flatten")


Top = tuple[int, int] | None


async def closing_touch(conn: Connector, symbol: str) -> tuple[Top, Top]:
    """The touch to price a closing order with: the stream's book while it is live and two-sided, else the
    venue's REST book (`rest_touch`); a stale or empty stream book never decides whether a close is sent."""
    try:
        live = conn.book(symbol).state == "live"
    except Exception:  # no book object for this symbol: REST decides
        live = False
    if live:
        bid, ask = conn.top_of_book(symbol)
        if bid is not None and ask is not None:
            return bid, ask
    try:
        bid, ask = await conn.rest_touch(symbol)
        if bid is not None or ask is not None:
            return bid, ask
    except Exception as e:  # the stream's last touch below is all that is left
        log.warning("%s: REST touch failed (%s); using the stream's last book", symbol, e)
    try:
        return conn.top_of_book(symbol)
    except Exception:
        return None, None


def worst_price_from(market: MarketInfo, top: tuple[Top, Top], side: Side, slippage_bps: int) -> int | None:
    """A closing market order's limit: the opposite touch moved `slippage_bps` against us, rounded safely."""
    bid, ask = top
    ref = ask if side is Side.BID else bid
    if ref is None:
        return None
    px = ref[0]
    move = px * slippage_bps // 10_000
    raw = px + move if side is Side.BID else px - move
    return int(market.round_px(raw, Side.ASK if side is Side.BID else Side.BID))


async def _worst_price(conn: Connector, symbol: str, side: Side, slippage_bps: int) -> int | None:
    return worst_price_from(conn.markets()[symbol], await closing_touch(conn, symbol), side, slippage_bps)


@dataclass
class VenueFlatten:
    """What flatten found and left on one venue (sizes in the market's size units)."""

    venue: str
    before: dict[str, int] = field(default_factory=dict)  # open positions found
    orders_sent: int = 0  # reduce-only closing orders
    left: dict[str, int] = field(default_factory=dict)  # positions still open at the final read
    open_orders_left: int = 0
    verified: bool = False  # the final positions and orders were read without error
    errors: list[str] = field(default_factory=list)

    @property
    def flat(self) -> bool:
        return self.verified and not self.left and self.open_orders_left == 0


async def flatten_venue(
    venue: str,
    conn: Connector,
    *,
    next_client_id: Callable[[str], int],
    slippage_bps: int = 100,
    attempts: int = 5,
    settle_s: float = 0.5,
) -> VenueFlatten:
    rep = VenueFlatten(venue)
    try:
        await conn.cancel_all()
    except Exception as e:
        rep.errors.append(f"cancel_all: {e}")
        log.error("%s: cancel_all failed during flatten: %s", venue, e)
    closing: set[int] = set()
    for attempt in range(attempts):
        try:
            positions = await conn.positions()
        except Exception as e:
            rep.errors.append(f"positions: {e}")
            log.error("%s: reading positions failed during flatten: %s", venue, e)
            await asyncio.sleep(settle_s)
            continue
        open_pos = {s: p.size for s, p in positions.items() if p.size != 0}
        if attempt == 0:
            rep.before = dict(open_pos)
        if not open_pos:
            break
        for symbol, size in open_pos.items():
            side = Side.ASK if size > 0 else Side.BID
            worst = await _worst_price(conn, symbol, side, slippage_bps * (attempt + 1))
            if worst is None:
                rep.errors.append(f"{symbol}: no price (stream book and REST book both empty)")
                log.error("%s %s: no price to close at (stream and REST books empty)", venue, symbol)
                continue
            req = OrderRequest(client_id=next_client_id(venue), symbol=symbol, side=side, size=abs(size),
                               kind=OrderKind.MARKET, price=worst, tif=TimeInForce.IOC, reduce_only=True)
            closing.add(req.client_id)
            try:
                res = await conn.submit(req)
            except Exception as e:
                rep.errors.append(f"{symbol} close order: {e}")
                log.error("%s %s: flatten order failed: %s", venue, symbol, e)
                continue
            rep.orders_sent += 1
            if res.outcome is SubmitOutcome.REJECTED:
                rep.errors.append(f"{symbol} close order rejected: {res.reason}")
                log.warning("%s %s: flatten order rejected: %s", venue, symbol, res.reason)
        await asyncio.sleep(settle_s)
    try:
        await conn.reconcile()  # the venue's view of orders and positions, not only the stream's
        final = await conn.positions()
        rep.left = {s: p.size for s, p in final.items() if p.size != 0}
        # The closing orders are IOC: one still "open" here is only waiting for its last update.
        rep.open_orders_left = sum(1 for o in conn.open_orders() if o.client_id not in closing)
        rep.verified = True
    except Exception as e:
        rep.errors.append(f"verify: {e}")
        log.error("%s: verifying flatten failed: %s", venue, e)
    return rep


async def flatten_venues(
    connectors: Mapping[str, Connector],
    *,
    next_client_id: Callable[[str], int] | None = None,
    slippage_bps: int = 100,
    attempts: int = 5,
    settle_s: float = 0.5,
) -> dict[str, VenueFlatten]:
    """Cancel all and close every position on each venue (concurrently), then verify; one report each."""
    counter = [int(time.time()) % 1_000_000 * 1000]

    def fresh_id(venue: str) -> int:
        counter[0] += 1
        return counter[0]

    ids = next_client_id or fresh_id
    reports = await asyncio.gather(*(
        flatten_venue(v, c, next_client_id=ids, slippage_bps=slippage_bps, attempts=attempts, settle_s=settle_s)
        for v, c in connectors.items()
    ))
    return {r.venue: r for r in reports}


async def flatten_connectors(
    connectors: Mapping[str, Connector],
    *,
    next_client_id: Any = None,
    slippage_bps: int = 100,
    attempts: int = 5,
    settle_s: float = 0.5,
) -> dict[str, dict[str, int]]:
    """Returns the positions left per venue and symbol (empty dicts when flat everywhere)."""
    reports = await flatten_venues(connectors, next_client_id=next_client_id, slippage_bps=slippage_bps,
                                   attempts=attempts, settle_s=settle_s)
    unverified = [f"{v}: {'; '.join(r.errors)}" for v, r in reports.items() if not r.verified]
    if unverified:
        raise RuntimeError(f"flatten could not verify positions ({', '.join(unverified)})")
    return {v: r.left for v, r in reports.items()}
