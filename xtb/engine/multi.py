"""One strategy instance on several symbols: per-symbol state, one shared risk budget.

A strategy whose params derive from `MultiSymbolParams` (the tier hunter, perp MM, ASMM, Avellaneda,
grid) trades `symbols: [A, B, ...]` on its venue when given more than one. The instance keeps one
state object per symbol: the strategy class itself, built once per symbol with that symbol in its params
(so each symbol's logic is the single-symbol code, unchanged), behind one budget that every one of
them orders through. The budget (`max_gross_notional`, quote currency) refuses an order that would grow its
symbol's worst case (position plus the instance's open orders, all filled) while the worst-case gross
notional over all its symbols, the order included, is past the budget; orders that grow no worst case
always pass. The refusal is an `OrderDenied`
with reason `budget`, raised before anything is sent, like the risk guard's.

Events reach every symbol's state (each keeps to its own symbol and client ids, as single-symbol
strategies do); live parameter changes apply to every symbol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from xtb._core import BookUpdate, Fill, MarkPrice, OrderUpdate, Position, Resync, Trade
from xtb.engine.strategy import Context, Params, Strategy
from xtb.model.denials import OrderDenied
from xtb.model.types import Side


class MultiSymbolParams(Params):
    """Params of a strategy that may trade several symbols of one venue from one instance."""

    symbols: list[str] = Field(default_factory=list, description="several markets of the venue, each with its "
                               "own state (empty: just `symbol`)")
    max_gross_notional: Decimal | None = Field(None, gt=0, description="one risk budget for all the symbols: no "
                                               "order that grows a position past this gross notional (quote)")

    @model_validator(mode="after")
    def _distinct_symbols(self) -> MultiSymbolParams:
        dup = sorted({s for s in self.symbols if self.symbols.count(s) > 1})
        if dup:
            raise ValueError(f"symbols: {', '.join(dup)} listed twice")
        return self


class SymbolBudget:
    """The worst-case gross notional (quote currency) of one instance's symbols on its venue, against a cap.

    A symbol's worst case counts the instance's own open orders as if they all filled: with position p,
    open buys B and open sells A (remaining sizes, reduce-only orders aside), its exposure is
    max(|p + B|, |p - A|). A quoting strategy's resting orders are exposure it has already offered the
    market; counting positions alone would let every symbol's quotes through and the budget be exceeded
    the moment they fill. Notional is valued at the symbol's mid (the order's price where no book is seen).
    """

    def __init__(self, ctx: Context, venue: str, symbols: Sequence[str], cap: Decimal | None) -> None:
        self.ctx, self.venue, self.symbols = ctx, venue, list(symbols)
        self.cap = None if cap is None else float(cap)
        self.denied = 0

    def _notional(self, symbol: str, units: int, px: int | None = None) -> float:
        m = self.ctx.market(self.venue, symbol)
        bid, ask = self.ctx.best_bid(self.venue, symbol), self.ctx.best_ask(self.venue, symbol)
        tops = [t[0] for t in (bid, ask) if t is not None]
        if tops:
            px = sum(tops) // len(tops)
        if px is None:
            return 0.0
        return float(abs(units) * px / 10 ** (m.price_decimals + m.size_decimals))

    def exposure(self, symbol: str, more_bid: int = 0, more_ask: int = 0) -> int:
        """The symbol's worst-case |position| in size units if every open order (plus the extra) filled."""
        pos = self.ctx.position(self.venue, symbol)
        bids, asks = more_bid, more_ask
        for o in self.ctx.open_orders(self.venue, symbol):
            if o.reduce_only or o.is_terminal:
                continue
            if o.side == "bid":
                bids += o.remaining
            else:
                asks += o.remaining
        return max(abs(pos + bids), abs(pos - asks))

    def gross(self) -> float:
        return sum(self._notional(s, self.exposure(s)) for s in self.symbols)

    def check(self, symbol: str, side: Side | str, size: int, px: int | None, reduce_only: bool) -> None:
        if self.cap is None or reduce_only:
            return
        bid = Side(side) is Side.BID
        before = self.exposure(symbol)
        after = self.exposure(symbol, size if bid else 0, 0 if bid else size)
        if after <= before:
            return  # does not grow this symbol's worst case (e.g. it sells into a long with no open sells)
        gross = sum(self._notional(s, self.exposure(s)) for s in self.symbols if s != symbol)
        gross += self._notional(symbol, after, px)
        if gross > self.cap:
            self.denied += 1
            raise OrderDenied("budget", f"worst-case gross notional {gross:.2f} past max_gross_notional "
                                        f"{self.cap:g} over {', '.join(self.symbols)}")


class BudgetedContext:
    """The instance's context for one symbol's state: every read delegated, every order through the budget."""

    def __init__(self, ctx: Context, budget: SymbolBudget) -> None:
        self._ctx = ctx
        self._budget = budget

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def place_limit(self, venue: str, symbol: str, side: Side | str, price: int, size: int, **kwargs: Any) -> int:
        if venue == self._budget.venue:
            self._budget.check(symbol, side, size, price, bool(kwargs.get("reduce_only", False)))
        return self._ctx.place_limit(venue, symbol, side, price, size, **kwargs)

    def place_market(self, venue: str, symbol: str, side: Side | str, size: int, **kwargs: Any) -> int:
        if venue == self._budget.venue:
            self._budget.check(symbol, side, size, kwargs.get("worst_price"), bool(kwargs.get("reduce_only", False)))
        return self._ctx.place_market(venue, symbol, side, size, **kwargs)

    def submit_batch(self, venue: str, orders: Sequence[Mapping[str, Any]]) -> list[int]:
        if venue == self._budget.venue:
            for o in orders:  # all or nothing, as the gateway's batch
                self._budget.check(o["symbol"], o["side"], o["size"], o.get("price"), bool(o.get("reduce_only")))
        return self._ctx.submit_batch(venue, orders)


def symbols_of(params: Any) -> list[str]:
    """The symbols an instance trades: `symbols` when it lists more than one, else none (a plain instance)."""
    symbols = list(getattr(params, "symbols", None) or [])
    return symbols if len(symbols) > 1 else []


class MultiSymbol(Strategy[Any]):
    """One instance of `cls` per symbol behind one budget; built by the runtime for params with `symbols`."""

    def __init__(self, ctx: Context, params: Any, cls: type[Strategy[Any]]) -> None:
        super().__init__(ctx, params)
        self.cls = cls
        self.symbols = symbols_of(params)
        self.budget = SymbolBudget(ctx, params.venue, self.symbols, params.max_gross_notional)
        view = BudgetedContext(ctx, self.budget)
        self.by_symbol: dict[str, Strategy[Any]] = {
            s: cls(view, self._for(params, s)) for s in self.symbols}
        self.live_params = cls.live_params  # type: ignore[misc]
        self.panel_view = cls.panel_view  # type: ignore[misc]
        self.name = cls.name  # type: ignore[misc]

    @staticmethod
    def _for(params: Any, symbol: str) -> Any:
        return params.model_copy(update={"symbol": symbol, "symbols": []})

    def __getattr__(self, name: str) -> Any:
        # a plain instance's attributes (e.g. `step`, `stats`) read through to the first symbol's state
        by_symbol = self.__dict__.get("by_symbol")
        if not by_symbol:
            raise AttributeError(name)
        return getattr(next(iter(by_symbol.values())), name)

    async def on_start(self) -> None:
        for s in self.by_symbol.values():
            await s.on_start()

    async def on_stop(self) -> None:
        for s in self.by_symbol.values():
            await s.on_stop()

    async def on_tick(self, now_ms: int) -> None:
        for s in self.by_symbol.values():
            await s.on_tick(now_ms)

    def on_book(self, ev: BookUpdate) -> None:
        for s in self.by_symbol.values():
            s.on_book(ev)

    def on_trade(self, ev: Trade) -> None:
        for s in self.by_symbol.values():
            s.on_trade(ev)

    def on_order(self, ev: OrderUpdate) -> None:
        for s in self.by_symbol.values():
            s.on_order(ev)

    def on_fill(self, ev: Fill) -> None:
        for s in self.by_symbol.values():
            s.on_fill(ev)

    def on_position(self, ev: Position) -> None:
        for s in self.by_symbol.values():
            s.on_position(ev)

    def on_resync(self, ev: Resync) -> None:
        for s in self.by_symbol.values():
            s.on_resync(ev)

    def on_mark(self, ev: MarkPrice) -> None:
        for s in self.by_symbol.values():
            s.on_mark(ev)

    def on_params_changed(self, old: Any, new: Any) -> None:
        if list(new.symbols) != list(old.symbols):
            raise ValueError("symbols: cannot change while running (restart with the new list)")
        done: list[tuple[Strategy[Any], Any]] = []
        try:
            for symbol, s in self.by_symbol.items():
                before = s.params
                s.params = self._for(new, symbol)
                done.append((s, before))
                s.on_params_changed(before, s.params)
        except ValueError:
            for s, before in done:  # all symbols or none
                s.params = before
            raise
        self.budget.cap = None if new.max_gross_notional is None else float(new.max_gross_notional)

    def traded_pairs(self) -> list[tuple[str, tuple[str, str], tuple[str, str]]]:
        return [p for s in self.by_symbol.values() for p in s.traded_pairs()]

    def status(self) -> dict[str, Any]:
        per = {sym: s.status() for sym, s in self.by_symbol.items()}
        return {"symbols": per, "budget_gross_notional": round(self.budget.gross(), 4),
                "budget_denied": self.budget.denied}
