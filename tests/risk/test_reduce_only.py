"""reduceOnlyThreshold (reduce-only convergence) and the reduce's market trigger (maker -> taker)."""

import pytest
from test_drawdown import SOL, FakeApi

from xtb.config import ConfigError
from xtb.model.types import OrderRequest, Side
from xtb.risk import Reducer, RiskGuard, TradingState, parse_risk_config


async def fast_sleep(_):
    return None


def test_threshold_turns_trading_reduce_only_and_asks_once_to_close_everything():
    t = [0.0]
    seen = []
    g = RiskGuard({"reduceOnlyThreshold": 25, "haltSeconds": 10, "reduceCooldownSeconds": 60},
                  market=lambda v, s: SOL, clock=lambda: t[0], on_reduce=seen.append)
    g.on_pnl(50, -24.9)
    assert g.state is TradingState.ACTIVE and seen == []
    g.on_pnl(50, -25)  # the unrealized loss reaches it, whatever the realized profit
    assert g.state is TradingState.REDUCING
    assert [(r.reason, r.fraction, r.band) for r in seen] == [("reduce_only_threshold", 1.0, -1)]
    assert g.check("backpack", OrderRequest(1, "SOL_USDC_PERP", Side.BID, 5)) == "reducing_only"
    g.on_position("backpack", "SOL_USDC_PERP", 10)
    assert g.check("backpack", OrderRequest(2, "SOL_USDC_PERP", Side.ASK, 5, reduce_only=True)) is None
    t[0] = 5
    g.on_pnl(50, -30)
    assert len(seen) == 1  # once per crossing
    t[0] = 14.9
    assert g.state is TradingState.REDUCING  # 10 s after the loss was last seen beyond the threshold
    g.on_pnl(50, -10)  # recovered: re-armed, the state lifts by itself
    t[0] = 15.1
    assert g.state is TradingState.ACTIVE
    g.on_pnl(50, -26)
    assert len(seen) == 1  # re-armed, but the reduce cooldown (60 s from t=0) holds it
    t[0] = 61
    g.on_pnl(50, -26)
    assert len(seen) == 2


def test_threshold_waits_while_halted_and_never_relaxes_a_halt():
    t = [0.0]
    seen = []
    g = RiskGuard({"reduceOnlyThreshold": 25, "pnlMin": -20, "haltSeconds": 10},
                  market=lambda v, s: SOL, clock=lambda: t[0], on_reduce=seen.append)
    g.on_pnl(0, -30)  # pnl_min halts first; a halted guard would deny the reduce
    assert g.state is TradingState.HALTED and seen == []
    t[0] = 10.5  # the halt lifted; the loss is still there
    g.on_pnl(20, -30)
    assert g.state is TradingState.REDUCING and len(seen) == 1


@pytest.mark.parametrize("raw, needle", [
    ({"reduceOnlyThreshold": 0}, "risk.reduceOnlyThreshold"),
    ({"reduceOnlyMarketTriggerPct": 1.5}, "risk.reduceOnlyMarketTriggerPct"),
])
def test_config_errors_name_the_key(raw, needle):
    with pytest.raises(ConfigError, match=needle):
        parse_risk_config(raw)


class MovingApi(FakeApi):
    """The bid falls by `drop` each poll while the maker ask rests unfilled."""

    drop: int = 0

    def order(self, venue, cid):
        bid, ask = self.books["SOL_USDC_PERP"]
        self.books["SOL_USDC_PERP"] = ((bid[0] - self.drop, bid[1]), ask)
        return super().order(venue, cid)


async def test_market_trigger_sends_the_taker_before_the_maker_wait_ends():
    api = MovingApi()
    api.drop = 10  # 0.10 per poll against a maker at 150.10
    reducer = Reducer(api, maker_wait_s=60, poll_s=0.05, market_trigger_pct=0.002, max_slippage_pct=0.01,
                      sleep=fast_sleep)
    legs = await reducer.run({("backpack", "SOL_USDC_PERP"): 100}, 1.0)
    [leg] = legs
    assert leg.triggered and leg.maker_filled == 0 and leg.taker_sent == 100
    assert [e[0] for e in api.log] == ["limit", "cancel", "market"]
    # triggered once the bid fell to 15_010 x (1 - 0.002) = 14_979.98 or below: a few polls, not 60 s
    assert api.books["SOL_USDC_PERP"][0][0] <= 14_980
    assert api.books["SOL_USDC_PERP"][0][0] > 14_900


async def test_no_trigger_when_the_price_holds_and_maker_mode_ignores_it():
    api = MovingApi()
    legs = await Reducer(api, maker_wait_s=0.2, poll_s=0.05, market_trigger_pct=0.002,
                         sleep=fast_sleep).run({("backpack", "SOL_USDC_PERP"): 100}, 1.0)
    assert not legs[0].triggered and legs[0].taker_sent == 100  # the wait ran out instead
    api = MovingApi()
    api.drop = 100
    legs = await Reducer(api, mode="maker", maker_wait_s=0.2, poll_s=0.05, market_trigger_pct=0.002,
                         sleep=fast_sleep).run({("backpack", "SOL_USDC_PERP"): 100}, 1.0)
    assert not legs[0].triggered and legs[0].taker_sent == 0
    with pytest.raises(ValueError, match="market trigger"):
        Reducer(api, market_trigger_pct=1.0)
