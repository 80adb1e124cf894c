"""The PERCENT_PRICE band of the `/fapi` venues (Binance USD-M, Aster) against the simulator: a mixin of their
conformance classes (the class supplies the simulator hooks and `start_connector`)."""

from __future__ import annotations

from typing import Any

import pytest

from xtb.engine.flatten import closing_touch, flatten_venue, worst_price_from
from xtb.model.types import OrderRequest, Side, SubmitOutcome
from xtb.sim.cluster import SimCluster

from .conformance import Account, Harness, eventually


class PercentPriceBandChecks:
    """Needs the conformance hooks: start_connector, taking_order, next_cid, venue_top, venue_position,
    _market(sim, symbol) and the venue's BinanceServer at sim.venues[venue].server."""

    venue: str
    symbol: str
    start_connector: Any
    taking_order: Any
    next_cid: Any
    venue_top: Any
    venue_position: Any
    _market: Any

    async def test_an_order_outside_the_percent_price_band_never_reaches_the_venue(
            self, sim: SimCluster, account: Account, harness: Harness) -> None:
        conn = await self.start_connector(sim, account, harness, mark_price=True)
        try:
            await eventually(lambda: conn.mark_price(self.symbol) is not None, timeout_s=10, what="a mark price")
            lo, hi = conn.price_band(self.symbol)
            m = conn.markets()[self.symbol]
            assert 0 < lo < hi < 1 << 62 and lo % m.tick == hi % m.tick == 0
            server: Any = sim.venues[self.venue].server
            sent = dict(server.requests)
            for side, px in ((Side.BID, hi + m.tick), (Side.ASK, lo - m.tick)):
                req = OrderRequest(self.next_cid(), self.symbol, side, max(m.min_size, m.step), price=px)
                with pytest.raises(ValueError, match=r"PERCENT_PRICE band \[") as ei:
                    await conn.submit(req)
                assert "\n" not in str(ei.value) and harness.tracker.get(req.client_id, self.venue) is None
            assert server.requests == sent  # not one request: refused locally
        finally:
            await conn.close()

    async def test_flatten_closes_inside_the_band_when_the_escalation_would_leave_it(
            self, sim: SimCluster, account: Account, harness: Harness) -> None:
        """The bid sits 0.3 % above the band's floor: flatten's first close (1 % through the touch) and every
        escalation after it are below the floor, where the venue answers -4024; clamped to the floor by the
        connector, the close takes the bid and the account ends flat."""
        conn = await self.start_connector(sim, account, harness, mark_price=True)
        try:
            m = conn.markets()[self.symbol]
            res = await conn.submit(await self.taking_order(conn, harness, Side.BID))
            assert res.outcome is SubmitOutcome.ACCEPTED
            await eventually(lambda: self.venue_position(sim, account, self.symbol) > 0, what="a long position")
            await sim.stop_generator()  # the book and the mark hold still from here
            bid, _ = self.venue_top(sim, self.symbol)
            floor = bid[0] * 997 // 1000
            mark = -(-floor * 1_000_000 // 950_000)  # the band's floor (x 0.95) 0.3 % under the bid
            sim.venues[self.venue].exchange.set_mark_price(self._market(sim, self.symbol).market_id, mark)
            want_lo = -(-mark * 950_000 // (1_000_000 * m.tick)) * m.tick
            await eventually(lambda: conn.price_band(self.symbol)[0] == want_lo, timeout_s=10,
                             what="the new mark at the connector")
            top = await closing_touch(conn, self.symbol)
            assert worst_price_from(m, top, Side.ASK, 100) < want_lo <= top[0][0]  # naive: out of the band
            rep = await flatten_venue(self.venue, conn, next_client_id=lambda v: self.next_cid(), slippage_bps=100,
                                      attempts=3, settle_s=0.3)
            assert rep.flat, rep
            assert rep.before == {self.symbol: rep.before[self.symbol]} and rep.orders_sent >= 1
            assert not [e for e in rep.errors if "-4016" in e or "-4024" in e], rep.errors
            assert self.venue_position(sim, account, self.symbol) == 0
        finally:
            await conn.close()
