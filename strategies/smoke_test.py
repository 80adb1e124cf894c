"""Connector smoke test (after ConnectorSmokeTestStrategy): rest a limit, cancel it, market buy, flatten.

A short, deterministic walk through everything a venue connection must do, step by step, each with a
timeout: a post-only limit away from the touch rests (open), is cancelled (cancelled), a market order
(IOC with a worst price) fills, and a reduce-only market order brings the position back to zero.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from xtb._core import parse_fixed
from xtb.engine.registry import register_strategy
from xtb.engine.strategy import Strategy


class SmokeTestParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    venue: str = Field("backpack", description="venue to test")
    symbol: str = Field("SOL_USDC_PERP", description="market, venue symbol")
    size: str = Field("0.10", description="order size in base units (decimal string)")
    offset_bps: int = Field(100, gt=0, description="how far below the bid the resting order sits")
    slippage_bps: int = Field(100, gt=0, description="worst-price distance for the market orders")
    step_timeout_s: float = Field(10.0, gt=0, description="give up when a step takes longer")


@register_strategy("smoke_test", params=SmokeTestParams)
class SmokeTest(Strategy[SmokeTestParams]):
    """Connector smoke test: limit -> cancel -> market fill -> reduce-only flatten."""

    def __init__(self, ctx: Any, params: SmokeTestParams) -> None:
        super().__init__(ctx, params)
        self.step = "place_limit"
        self.log_steps: list[str] = []
        self._cid: int | None = None
        self._since = time.monotonic()

    def _go(self, step: str) -> None:
        self.ctx.log.info("smoke test: %s -> %s", self.step, step)
        self.log_steps.append(step)
        self.step = step
        self._since = time.monotonic()

    def _state(self) -> str | None:
        o = None if self._cid is None else self.ctx.order(self.params.venue, self._cid)
        return None if o is None else str(o.state)

    async def on_tick(self, now_ms: int) -> None:
        p, ctx = self.params, self.ctx
        if self.step in ("done", "failed"):
            return
        if time.monotonic() - self._since > p.step_timeout_s:
            self.ctx.log.error("smoke test: step %s timed out (order state %s)", self.step, self._state())
            self._go("failed")
            return
        market = ctx.market(p.venue, p.symbol)
        size = market.round_sz(parse_fixed(p.size, market.size_decimals))
        bid, ask = ctx.best_bid(p.venue, p.symbol), ctx.best_ask(p.venue, p.symbol)
        state = self._state()
        if self.step == "place_limit":
            if bid is None:
                return
            px = market.round_px(bid[0] - bid[0] * p.offset_bps // 10_000, "bid")
            self._cid = ctx.place_limit(p.venue, p.symbol, "bid", px, size, post_only=True)
            self._go("wait_open")
        elif self.step == "wait_open" and state in ("open", "partially_filled") and self._cid is not None:
            ctx.cancel(p.venue, self._cid)
            self._go("wait_cancel")
        elif self.step == "wait_cancel" and state == "cancelled":
            if ask is None:
                return
            worst = market.round_px(ask[0] + ask[0] * p.slippage_bps // 10_000, "ask")
            self._cid = ctx.place_market(p.venue, p.symbol, "bid", size, worst_price=worst)
            self._go("wait_fill")
        elif self.step == "wait_fill" and state == "filled":
            self._go("wait_position")
        elif self.step == "wait_position" and ctx.position(p.venue, p.symbol) > 0:
            if bid is None:
                return
            worst = market.round_px(bid[0] - bid[0] * p.slippage_bps // 10_000, "bid")
            self._cid = ctx.place_market(p.venue, p.symbol, "ask", ctx.position(p.venue, p.symbol),
                                         worst_price=worst, reduce_only=True)
            self._go("wait_flat")
        elif self.step == "wait_flat" and state == "filled" and ctx.position(p.venue, p.symbol) == 0:
            self._go("done")
        elif state in ("rejected", "expired") and self.step != "wait_cancel":
            self.ctx.log.error("smoke test: order %s in step %s", state, self.step)
            self._go("failed")

    def status(self) -> dict[str, Any]:
        return {"smoke_test_step": self.step, "smoke_test_steps": list(self.log_steps)}
