"""Connector smoke test (after ConnectorSmokeTestStrategy): rest a limit, cancel it, market buy, flatten.

A short, deterministic walk through everything a venue connection must do, step by step, each with a
timeout: a post-only limit away from the touch rests (open), is cancelled (cancelled), a market order
(IOC with a worst price) fills, and a reduce-only market order brings the position back to zero.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from xtb.api import NS_PER_S, Context, OrderState, Params, Side, Strategy, parse_fixed, register_strategy


class SmokeTestParams(Params):
    venue: str = Field("backpack", description="venue to test")
    symbol: str = Field("SOL_USDC_PERP", description="market, venue symbol")
    size: str = Field("0.10", description="order size in base units (decimal string)")
    offset_bps: int = Field(100, gt=0, description="how far below the bid the resting order sits")
    slippage_bps: int = Field(100, gt=0, description="worst-price distance for the market orders")
    step_timeout_s: float = Field(10.0, gt=0, description="give up when a step takes longer")


@register_strategy("smoke_test", params=SmokeTestParams)
class SmokeTest(Strategy[SmokeTestParams]):
    """Connector smoke test: limit -> cancel -> market fill -> reduce-only flatten."""

    def __init__(self, ctx: Context, params: SmokeTestParams) -> None:
        super().__init__(ctx, params)
        self.step = "place_limit"
        self.log_steps: list[str] = []
        self._cid: int | None = None
        self._since_ns = ctx.clock.now_ns()

    def _go(self, step: str) -> None:
        self.ctx.log.info("smoke test: %s -> %s", self.step, step)
        self.log_steps.append(step)
        self.step = step
        self._since_ns = self.ctx.clock.now_ns()

    def _state(self) -> OrderState | None:
        o = None if self._cid is None else self.ctx.order(self.params.venue, self._cid)
        return None if o is None else OrderState(o.state)

    async def on_tick(self, now_ms: int) -> None:
        p, ctx = self.params, self.ctx
        if self.step in ("done", "failed"):
            return
        if ctx.clock.now_ns() - self._since_ns > p.step_timeout_s * NS_PER_S:
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
            px = market.round_px(bid[0] - bid[0] * p.offset_bps // 10_000, Side.BID)
            self._cid = ctx.place_limit(p.venue, p.symbol, Side.BID, px, size, post_only=True)
            self._go("wait_open")
        elif self.step == "wait_open" and state in (OrderState.OPEN, OrderState.PARTIALLY_FILLED) \
                and self._cid is not None:
            ctx.cancel(p.venue, self._cid)
            self._go("wait_cancel")
        elif self.step == "wait_cancel" and state is OrderState.CANCELLED:
            if ask is None:
                return
            worst = market.round_px(ask[0] + ask[0] * p.slippage_bps // 10_000, Side.ASK)
            self._cid = ctx.place_market(p.venue, p.symbol, Side.BID, size, worst_price=worst)
            self._go("wait_fill")
        elif self.step == "wait_fill" and state is OrderState.FILLED:
            self._go("wait_position")
        elif self.step == "wait_position" and ctx.position(p.venue, p.symbol) > 0:
            if bid is None:
                return
            worst = market.round_px(bid[0] - bid[0] * p.slippage_bps // 10_000, Side.BID)
            self._cid = ctx.place_market(p.venue, p.symbol, Side.ASK, ctx.position(p.venue, p.symbol),
                                         worst_price=worst, reduce_only=True)
            self._go("wait_flat")
        elif self.step == "wait_flat" and state is OrderState.FILLED and ctx.position(p.venue, p.symbol) == 0:
            self._go("done")
        elif state in (OrderState.REJECTED, OrderState.EXPIRED) and self.step != "wait_cancel":
            self.ctx.log.error("smoke test: order %s in step %s", state, self.step)
            self._go("failed")

    def status(self) -> dict[str, Any]:
        return {"smoke_test_step": self.step, "smoke_test_steps": list(self.log_steps)}
