"""Binance USD-M market metadata (`GET /fapi/v1/exchangeInfo`) -> MarketInfo with integer scales.

Tick and step come from the PRICE_FILTER / LOT_SIZE filters (never from pricePrecision /
quantityPrecision, which the venue says are not tick sizes); decimals are the scales those filters are
written with. MIN_NOTIONAL's `notional` becomes `min_notional` in notional units. The other limits go in
`extra` as integers in the market's units: `min_price` / `max_price` (PRICE_FILTER), `max_size` (LOT_SIZE),
`market_max_size` (MARKET_LOT_SIZE) and the PERCENT_PRICE band `percent_up_ppm` / `percent_down_ppm`
(multipliers of the mark price, in parts per million); a limit the venue does not send is left out.
`percent_price_band` turns that band and a mark price into the prices an order may carry now.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from xtb.model.types import MarketInfo
from xtb.model.units import scale_of, to_units
from xtb.venues.symbols import base_then_quote

_PPM = 1_000_000
_OPEN_HIGH = 1 << 62  # no upper side: above any price a market can carry


class MarketDataError(ValueError):
    """A symbol object the connector cannot use; the message names the symbol and the field."""


def rounded_units(text: object, decimals: int) -> int:
    """Decimal text -> integer units, rounded (PnL, balances: values with more digits than the scale)."""
    return int(Decimal(str(text)).scaleb(decimals).to_integral_value())


def percent_price_band(market: MarketInfo, mark_px: int, mark_decimals: int) -> tuple[int, int] | None:
    """The PERCENT_PRICE band around a mark price (`mark_px` in units of 10^-mark_decimals) as the lowest
    and highest price, in the market's price units and on its tick, the venue accepts: mark x multiplierDown
    rounded up, mark x multiplierUp rounded down. None when the market has no band; a missing side is open."""
    up, down = market.extra.get("percent_up_ppm"), market.extra.get("percent_down_ppm")
    if up is None and down is None:
        return None
    scale, den, tick = 10**market.price_decimals, 10**mark_decimals * _PPM, market.tick
    hi = mark_px * up * scale // den // tick * tick if up is not None else _OPEN_HIGH
    lo = -(-mark_px * down * scale // (den * tick)) * tick if down is not None else 0
    return lo, hi


def _filters(obj: dict[str, Any], symbol: str) -> dict[str, dict[str, Any]]:
    raw = obj.get("filters")
    if not isinstance(raw, list):
        raise MarketDataError(f"symbol {symbol}: missing filters")
    return {f["filterType"]: f for f in raw if isinstance(f, dict) and "filterType" in f}


def _decimals(text: str) -> int:
    """Scale of a filter value with trailing zeros dropped ("0.10" -> 1, "1.0" -> 0)."""
    t = text.rstrip("0").rstrip(".") if "." in text else text
    return scale_of(t)


def _limits(f: dict[str, dict[str, Any]], pd: int, sd: int) -> dict[str, int]:
    """The optional filter limits in integer units (zero or absent values mean "no limit")."""
    out: dict[str, int] = {}
    fields = (("min_price", "PRICE_FILTER", "minPrice", pd), ("max_price", "PRICE_FILTER", "maxPrice", pd),
              ("max_size", "LOT_SIZE", "maxQty", sd), ("market_max_size", "MARKET_LOT_SIZE", "maxQty", sd))  # fmt: skip
    for name, filt, key, decimals in fields:
        raw = f.get(filt, {}).get(key)
        if raw is not None and Decimal(str(raw)) > 0:
            out[name] = rounded_units(raw, decimals)
    band = f.get("PERCENT_PRICE", {})
    for name, key in (("percent_up_ppm", "multiplierUp"), ("percent_down_ppm", "multiplierDown")):
        if band.get(key) is not None:
            out[name] = rounded_units(band[key], 6)
    return out


def market_info(obj: dict[str, Any], aliases: dict[str, str] | None = None, venue: str = "binance_usdm") -> MarketInfo:
    symbol = obj.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise MarketDataError("symbol object without a symbol")
    f = _filters(obj, symbol)
    try:
        tick_s = str(f["PRICE_FILTER"]["tickSize"])
        step_s = str(f["LOT_SIZE"]["stepSize"])
        pd, sd = _decimals(tick_s), _decimals(step_s)
        tick, step = to_units(tick_s, pd), to_units(step_s, sd)
        min_size = to_units(str(f["LOT_SIZE"].get("minQty") or step_s), sd)
        notional = str(f.get("MIN_NOTIONAL", {}).get("notional") or "0")
        min_notional = int(to_units(notional, pd + sd)) if _decimals(notional) <= pd + sd else 0
        limits = _limits(f, pd, sd)
    except KeyError as e:
        raise MarketDataError(f"symbol {symbol}: missing filter field {e}") from None
    except (ValueError, TypeError, ArithmeticError) as e:
        raise MarketDataError(f"symbol {symbol}: {e}") from None
    if tick <= 0 or step <= 0:
        raise MarketDataError(f"symbol {symbol}: tickSize and stepSize must be positive")
    canon = base_then_quote(symbol, aliases)
    return MarketInfo(
        venue=venue,
        symbol=symbol,
        base=canon.base,
        quote=str(obj.get("marginAsset") or obj.get("quoteAsset") or "USDT"),
        price_decimals=pd,
        size_decimals=sd,
        tick=tick,
        step=step,
        min_size=min_size,
        min_notional=min_notional,
        multiplier=canon.multiplier,
        extra={"contract_type": obj.get("contractType"), "status": obj.get("status"),
               "margin_asset": obj.get("marginAsset"), **limits},
    )


def parse_markets(
    payload: Any, symbols: tuple[str, ...] = (), aliases: dict[str, str] | None = None, venue: str = "binance_usdm"
) -> dict[str, MarketInfo]:
    """The markets we trade: `symbols` if given (each must exist), else every TRADING perpetual."""
    rows = payload.get("symbols") if isinstance(payload, dict) else None
    if not isinstance(rows, list):
        raise MarketDataError(f"{venue} exchangeInfo: expected an object with a `symbols` list")
    by_symbol = {o.get("symbol"): o for o in rows if isinstance(o, dict)}
    if symbols:
        missing = [s for s in symbols if s not in by_symbol]
        if missing:
            raise MarketDataError(f"unknown {venue} symbols: {', '.join(missing)}")
        chosen = [by_symbol[s] for s in symbols]
    else:
        chosen = [o for o in by_symbol.values()
                  if o.get("contractType") == "PERPETUAL" and o.get("status") == "TRADING"]  # fmt: skip
    return {m.symbol: m for m in (market_info(o, aliases, venue) for o in chosen)}
