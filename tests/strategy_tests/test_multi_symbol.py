"""One strategy instance on several symbols (xtb.engine.multi): per-symbol state, one shared budget."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from paper_helpers import quiet_engine, wait_for

from xtb.config import validate
from xtb.engine.engine import Engine
from xtb.engine.multi import MultiSymbol, MultiSymbolParams, SymbolBudget
from xtb.model.denials import OrderDenied
from xtb.model.types import MarketInfo, Side

SYMBOLS = ["SOL_USDC_PERP", "ETH_USDC_PERP"]


def mm_config(tmp_path: Any, name: str, **params: Any) -> Any:
    return validate({
        "general": {"mode": "paper", "tick_interval_ms": 50, "seed": 17, "log_dir": str(tmp_path / "logs"),
                    "run_dir": str(tmp_path / "runs")},
        "venues": {"backpack": {"symbols": SYMBOLS}},
        "strategy": {"name": name, "params": {"venue": "backpack", "symbols": SYMBOLS, **params}},
    })


def quoted(engine: Engine) -> dict[str, int]:
    return {s: sum(o.state == "open" for o in engine.tracker.open_orders("backpack", s)) for s in SYMBOLS}


async def test_perp_mm_quotes_each_of_its_symbols_with_its_own_grid(tmp_path):
    cfg = mm_config(tmp_path, "perp_mm", max_orders=2, order_quantity="0.01", base_spread_percentage=0.1,
                    level_spacing_percentage=0.03, max_position="1", position_threshold="0.5", cycle_interval_s=0.4)
    engine = quiet_engine(cfg, venues=("backpack",), taker_fraction=0.0)
    await engine.start()
    strat = engine.strategy
    try:
        assert isinstance(strat, MultiSymbol) and list(strat.by_symbol) == SYMBOLS
        assert await wait_for(lambda: quoted(engine) == {"SOL_USDC_PERP": 4, "ETH_USDC_PERP": 4}, 6), quoted(engine)
        status = engine.status()
    finally:
        await engine.stop()
    # each symbol's state is its own: its market, its cycle counter, its grid around its own mid
    states = strat.by_symbol
    assert states["SOL_USDC_PERP"].market.symbol == "SOL_USDC_PERP"
    assert states["ETH_USDC_PERP"].market.symbol == "ETH_USDC_PERP"
    assert all(s.stats["cycles"] >= 1 for s in states.values())
    assert set(status["symbols"]) == set(SYMBOLS) and status["budget_denied"] == 0
    assert engine.exit_report is not None and engine.exit_report.flat


async def test_avellaneda_symbols_share_one_budget(tmp_path):
    # 0.05 SOL (~7.5 USDC) and 0.05 ETH per quote against a 5 USDC budget: every opening quote is refused
    cfg = mm_config(tmp_path, "avellaneda", order_size="0.05", sigma=0.05, gamma=2.0, k=10.0, horizon_s=60,
                    max_position="1", max_gross_notional="5")
    engine = quiet_engine(cfg, venues=("backpack",), taker_fraction=0.0)
    await engine.start()
    strat = engine.strategy
    try:
        assert await wait_for(lambda: strat.budget.denied >= 4, 5)
        assert quoted(engine) == {"SOL_USDC_PERP": 0, "ETH_USDC_PERP": 0}
        assert all(s.stats["denied"] >= 1 for s in strat.by_symbol.values())
    finally:
        await engine.stop()


# --- the budget on a scripted context ------------------------------------------------------------------------
def market(symbol: str) -> MarketInfo:
    return MarketInfo(venue="v", symbol=symbol, base=symbol, quote="USDC", price_decimals=2, size_decimals=2,
                      tick=1, step=1, min_size=1, min_notional=0)


class Book:
    log = logging.getLogger("test.multi")

    def __init__(self) -> None:
        self.pos = {"A": 0, "B": 0}
        self.orders: list[Any] = []
        self.sent: list[tuple[str, str, int]] = []

    def market(self, venue: str, symbol: str) -> MarketInfo:
        return market(symbol)

    def best_bid(self, venue: str, symbol: str) -> Any:
        return (10_000, 1)  # 100.00

    def best_ask(self, venue: str, symbol: str) -> Any:
        return (10_000, 1)

    def position(self, venue: str, symbol: str) -> int:
        return self.pos[symbol]

    def open_orders(self, venue: str | None = None, symbol: str | None = None) -> list[Any]:
        return [o for o in self.orders if symbol is None or o.symbol == symbol]


@dataclass
class Resting:
    symbol: str
    side: str
    remaining: int
    reduce_only: bool = False
    is_terminal: bool = False


def test_budget_counts_every_symbol_and_lets_reductions_through():
    book = Book()
    budget = SymbolBudget(book, "v", ["A", "B"], Decimal(250))  # type: ignore[arg-type]
    budget.check("A", Side.BID, 200, 10_000, False)  # 2.00 x 100 = 200 <= 250
    book.pos["A"] = 200
    with pytest.raises(OrderDenied, match="budget"):
        budget.check("B", Side.ASK, 100, 10_000, False)  # 200 held on A + 100 on B > 250
    budget.check("A", Side.ASK, 100, 10_000, False)  # reduces A: always allowed
    budget.check("B", Side.BID, 100, 10_000, True)  # reduce-only: allowed
    book.pos["A"] = -50
    budget.check("B", Side.BID, 100, 10_000, False)  # 50 + 100 <= 250
    assert budget.denied == 1 and budget.gross() == 50.0


def test_budget_counts_resting_orders_as_filled():
    # A quoting strategy's open orders are exposure already offered: two resting bids of 1.00 each on A and B
    # (100 each at 100.00) use 200 of a 250 budget, so a third opening order is refused before any fill.
    book = Book()
    book.orders = [Resting("A", "bid", 100), Resting("B", "bid", 100)]
    budget = SymbolBudget(book, "v", ["A", "B"], Decimal(250))  # type: ignore[arg-type]
    assert budget.gross() == 200.0
    with pytest.raises(OrderDenied, match=r"worst-case gross notional 300\.00"):
        budget.check("A", Side.BID, 100, 10_000, False)
    # An ask on A as large as its open bid does not grow A's worst case (max(|0+100|, |0-100|) = 100).
    budget.check("A", Side.ASK, 100, 10_000, False)
    # Filled, cancelled and reduce-only orders are not exposure.
    book.orders = [Resting("A", "bid", 100, is_terminal=True), Resting("B", "ask", 100, reduce_only=True)]
    assert budget.gross() == 0.0
    budget.check("A", Side.BID, 250, 10_000, False)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("AB"), st.sampled_from(["bid", "ask"]), st.integers(1, 300),
                          st.booleans()), max_size=30),
       st.integers(-200, 200), st.integers(-200, 200), st.integers(100, 1_000))
def test_budget_never_lets_the_worst_case_past_the_cap(orders, pos_a, pos_b, cap):
    """From any state within budget, the orders it accepts (each left resting, as a quote is) never take the
    worst-case gross notional past the cap, and a refusal changes nothing."""
    book = Book()
    book.pos = {"A": pos_a, "B": pos_b}
    book.orders = []
    budget = SymbolBudget(book, "v", ["A", "B"], Decimal(cap))  # type: ignore[arg-type]
    assume(budget.gross() <= cap)
    for symbol, side, size, filled_later in orders:
        before = budget.gross()
        try:
            budget.check(symbol, Side(side), size, 10_000, False)
        except OrderDenied:
            assert budget.gross() == before
            continue
        book.orders.append(Resting(symbol, side, size))
        assert budget.gross() <= cap + 1e-9
        if filled_later:  # the order fills: the position moves, the order leaves the book, the worst case holds
            o = book.orders.pop()
            book.pos[symbol] += o.remaining if side == "bid" else -o.remaining
            assert budget.gross() <= cap + 1e-9


# --- the wrapper's contract, on a scripted strategy ----------------------------------------------------------
class EchoParams(MultiSymbolParams):
    venue: str = "v"
    symbol: str = "A"
    width: int = 1


class Echo:
    live_params = frozenset({"width"})
    panel_view = "mm"
    name = "echo"

    def __init__(self, ctx: Any, params: EchoParams) -> None:
        self.ctx, self.params, self.books = ctx, params, 0

    def on_book(self, ev: Any) -> None:
        self.books += 1

    def on_params_changed(self, old: EchoParams, new: EchoParams) -> None:
        if new.width > 5 and new.symbol == "B":
            raise ValueError("width: too wide for B")

    def status(self) -> dict[str, Any]:
        return {"width": self.params.width}


def test_multi_symbol_fans_out_events_and_applies_live_params_to_all_or_none():
    from xtb.control.live_params import ParamChangeError, apply_param_changes

    ctx = Book()
    strat = MultiSymbol(ctx, EchoParams(symbols=["A", "B"]), Echo)  # type: ignore[arg-type]
    assert {s: st.params.symbol for s, st in strat.by_symbol.items()} == {"A": "A", "B": "B"}
    assert strat.live_params == {"width"} and strat.panel_view == "mm"
    strat.on_book(object())  # type: ignore[arg-type]
    assert [st.books for st in strat.by_symbol.values()] == [1, 1] and strat.books == 1  # reads the first
    apply_param_changes(strat, {"width": 3})
    assert [st.params.width for st in strat.by_symbol.values()] == [3, 3]
    with pytest.raises(ParamChangeError, match="too wide"):
        apply_param_changes(strat, {"width": 9})
    assert [st.params.width for st in strat.by_symbol.values()] == [3, 3] and strat.params.width == 3
    assert strat.status()["symbols"] == {"A": {"width": 3}, "B": {"width": 3}}
    with pytest.raises(ValueError, match="listed twice"):
        EchoParams(symbols=["A", "A"])
