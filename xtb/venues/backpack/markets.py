"""Backpack market metadata (`GET /api/v1/markets`) -> MarketInfo with integer scales.

Decimals come from the scale of `tickSize` / `stepSize` as the venue writes them (`"0.01"` -> 2), which is
also the precision the venue accepts (`Price decimal too long` beyond it). Backpack publishes no minimum
notional filter, so `min_notional` is 0 unless configured.
"""

from __future__ import annotations

from typing import Any

from xtb.model.types import MarketInfo
from xtb.model.units import scale_of, to_units
from xtb.venues.symbols import base_first


class MarketDataError(ValueError):
    """A market object the connector cannot use; the message names the market and the field."""


def market_info(obj: dict[str, Any], aliases: dict[str, str] | None = None) -> MarketInfo:
    symbol = obj.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise MarketDataError("market object without a symbol")

    def field(*path: str) -> Any:
        node: Any = obj
        for p in path:
            if not isinstance(node, dict) or p not in node:
                raise MarketDataError(f"market {symbol}: missing {'.'.join(path)}")
            node = node[p]
        return node

    try:
        tick_s = str(field("filters", "price", "tickSize"))
        step_s = str(field("filters", "quantity", "stepSize"))
        pd, sd = scale_of(tick_s), scale_of(step_s)
        tick, step = to_units(tick_s, pd), to_units(step_s, sd)
        min_qty = obj["filters"]["quantity"].get("minQuantity") or step_s
        min_size = to_units(str(min_qty), sd)
    except (ValueError, TypeError) as e:
        raise MarketDataError(f"market {symbol}: {e}") from None
    if tick <= 0 or step <= 0:
        raise MarketDataError(f"market {symbol}: tickSize and stepSize must be positive")
    canon = base_first(symbol, aliases)
    return MarketInfo(
        venue="backpack",
        symbol=symbol,
        base=canon.base,
        quote=str(obj.get("quoteSymbol") or "USDC"),
        price_decimals=pd,
        size_decimals=sd,
        tick=tick,
        step=step,
        min_size=min_size,
        min_notional=0,
        multiplier=canon.multiplier,
        extra={
            "market_type": obj.get("marketType"),
            "order_book_state": obj.get("orderBookState"),
            "base_symbol": obj.get("baseSymbol"),
        },
    )


def parse_markets(
    payload: Any, symbols: tuple[str, ...] = (), aliases: dict[str, str] | None = None
) -> dict[str, MarketInfo]:
    """The markets we trade: `symbols` if given (each must exist), else every PERP market."""
    if not isinstance(payload, list):
        raise MarketDataError(f"/api/v1/markets: expected a list, got {type(payload).__name__}")
    by_symbol = {o.get("symbol"): o for o in payload if isinstance(o, dict)}
    if symbols:
        missing = [s for s in symbols if s not in by_symbol]
        if missing:
            raise MarketDataError(f"unknown Backpack symbols: {', '.join(missing)}")
        chosen = [by_symbol[s] for s in symbols]
    else:
        chosen = [o for o in by_symbol.values() if o.get("marketType") == "PERP"]
    return {m.symbol: m for m in (market_info(o, aliases) for o in chosen)}
