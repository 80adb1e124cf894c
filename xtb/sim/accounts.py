"""Accounts of the simulated venue: cash, positions, PnL, fees, funding and the initial-margin check.

All amounts are integers in cash units (see `xtb.sim.types`). Position cost accounting keeps, per
(account, market), the signed entry value `cost` of the open size. Increasing a position adds the trade's
value; reducing removes the same fraction of `cost` (floored) and realizes `exit value - removed cost`;
a flip closes the old side then opens the rest at the trade price. This keeps the identity
`realized_pnl - cost == -(sum of signed trade values)` exact in integers, so across all accounts
`sum(cash changes) + sum(fees) + sum(funding paid) - sum(cost) == 0` (see tests/sim/test_accounts.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xtb.sim.types import PPM, AccountConfig, BalanceView, MarketSpec, PositionView


@dataclass(slots=True)
class Position:
    size: int = 0
    cost: int = 0
    realized_pnl: int = 0
    funding_paid: int = 0
    fees_paid: int = 0
    # Open-order exposure, maintained by the engine: value (cash units) of resting bids / asks.
    bid_value: int = 0
    ask_value: int = 0

    def apply_trade(self, signed_qty: int, value: int) -> int:
        """Apply a fill of `signed_qty` (>0 buy) worth `value` cash units (unsigned); returns realized PnL."""
        size = self.size
        signed_value = value if signed_qty > 0 else -value
        if size == 0 or (size > 0) == (signed_qty > 0):
            self.size = size + signed_qty
            self.cost += signed_value
            return 0
        closing = min(abs(signed_qty), abs(size))
        if closing == abs(signed_qty):
            closing_value = signed_value
        else:
            closing_value = signed_value * closing // abs(signed_qty)
        removed = self.cost * closing // abs(size)
        # Long closed by a sell: proceeds (-signed_value) minus removed cost. Short mirrors it.
        realized = -closing_value - removed
        self.cost -= removed
        self.size = size + signed_qty
        if closing < abs(signed_qty):  # flip: the rest opens a new position at the trade price
            self.cost += signed_value - closing_value
        if self.size == 0:
            # Rounding leftovers of a fully closed position belong to its realized PnL.
            realized -= self.cost
            self.cost = 0
        self.realized_pnl += realized
        return realized


@dataclass(slots=True)
class Account:
    account_id: int
    config: AccountConfig
    cash: int = 0
    fees_paid: int = 0
    funding_paid: int = 0
    positions: dict[int, Position] = field(default_factory=dict)

    def position(self, market: int) -> Position:
        pos = self.positions.get(market)
        if pos is None:
            pos = self.positions[market] = Position()
        return pos


class MarginModel:
    """Initial-margin arithmetic. Exposure per market is the worse of "all bids fill" and "all asks fill":
    max(|pos_value + bid_value|, |pos_value - ask_value|), times the initial margin fraction
    max(market IMF, 1 / account leverage). Fees are not reserved."""

    def __init__(self, specs: dict[int, MarketSpec], scales: dict[int, int], default_leverage: int) -> None:
        self._specs = specs
        self._scales = scales  # market -> cash units per (price unit * quantity unit)
        self._default_leverage = default_leverage

    def imf_ppm(self, account: Account, market: int) -> int:
        leverage = account.config.leverage or self._default_leverage
        return max(self._specs[market].initial_margin_ppm, PPM // max(leverage, 1))

    def unrealized(self, pos: Position, market: int, mark: int | None) -> int:
        if pos.size == 0 or mark is None:
            return 0
        return pos.size * mark * self._scales[market] - pos.cost

    def market_margin(
        self,
        account: Account,
        market: int,
        pos: Position,
        mark: int | None,
        extra_bid: int = 0,
        extra_ask: int = 0,
    ) -> int:
        if mark is None:
            pos_value = pos.cost  # no mark yet: value the position at entry
        else:
            pos_value = pos.size * mark * self._scales[market]
        exposure = max(abs(pos_value + pos.bid_value + extra_bid), abs(pos_value - pos.ask_value - extra_ask))
        return -(-exposure * self.imf_ppm(account, market) // PPM)  # ceil

    def balance(self, account: Account, marks: dict[int, int | None]) -> BalanceView:
        unrealized = 0
        margin = 0
        for market, pos in account.positions.items():
            mark = marks.get(market)
            unrealized += self.unrealized(pos, market, mark)
            if pos.size or pos.bid_value or pos.ask_value:
                margin += self.market_margin(account, market, pos, mark)
        equity = account.cash + unrealized
        return BalanceView(account.account_id, account.cash, equity, margin, equity - margin)

    def position_view(self, account: Account, market: int, mark: int | None) -> PositionView:
        pos = account.positions.get(market) or Position()
        return PositionView(
            account.account_id,
            market,
            pos.size,
            pos.cost,
            pos.realized_pnl,
            self.unrealized(pos, market, mark),
            pos.funding_paid,
            mark,
        )


def fee_for(value: int, rate_ppm: int) -> int:
    """Fee on a trade value; charges round up, rebates round toward zero (the venue never loses a unit)."""
    return -(-value * rate_ppm // PPM)


def funding_for(size: int, mark: int, scale: int, rate_ppm: int, rate_scale: int = PPM) -> int:
    """Funding paid by a position (> 0 = pays). Longs pay shorts when the rate is positive. Floored. The rate is in
    units of 1/rate_scale (ppm by default; a replay of recorded funding passes the venue's 1e-8)."""
    return size * mark * scale * rate_ppm // rate_scale
