"""Lighter market metadata (`orderBookDetails`) -> MarketInfo with integer scales and market ids."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from xtb.model.types import MarketInfo
from xtb.venues.symbols import base_only

QUOTE = "USDC"


class MarketDataError(ValueError):
    """A market entry the connector cannot use; the message names the market and the field."""


def _decimals(d: Mapping[str, Any], name: str, fallback: str, where: str) -> int:
    # ccxt falls back to the supported_* fields when the plain ones are missing.
    value = d.get(name, d.get(fallback))
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 18:
        raise MarketDataError(f"{where}: field {name} must be an integer 0..18, got {value!r}")
    return value


def _units(text: Any, decimals: int, name: str, where: str) -> int:
    """Decimal text -> integer units at `decimals`, rounded up (a minimum must never be undercut)."""
    if text in (None, ""):
        return 0
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise MarketDataError(f"{where}: field {name} is not a decimal: {text!r}") from None
    scaled = value.scaleb(decimals)
    units = int(scaled.to_integral_value(rounding="ROUND_CEILING"))
    if units < 0:
        raise MarketDataError(f"{where}: field {name} must not be negative, got {text!r}")
    return units


def _fee_ppm(text: Any, name: str, where: str) -> int:
    """Fees are percent strings ("0.0280" = 0.028 %) -> parts per million of notional."""
    if text in (None, ""):
        return 0
    try:
        return int((Decimal(str(text)) * 10_000).to_integral_value())
    except InvalidOperation:
        raise MarketDataError(f"{where}: field {name} is not a decimal: {text!r}") from None


def market_info(detail: Mapping[str, Any], aliases: Mapping[str, str] | None = None) -> MarketInfo:
    symbol = detail.get("symbol")
    market_id = detail.get("market_id")
    if not isinstance(symbol, str) or not symbol:
        raise MarketDataError(f"orderBookDetails entry without a symbol: market_id={market_id!r}")
    where = f"orderBookDetails {symbol}"
    if isinstance(market_id, bool) or not isinstance(market_id, int) or market_id < 0:
        raise MarketDataError(f"{where}: field market_id must be an integer >= 0, got {market_id!r}")
    pd = _decimals(detail, "price_decimals", "supported_price_decimals", where)
    sd = _decimals(detail, "size_decimals", "supported_size_decimals", where)
    canon = base_only(symbol, aliases)
    min_size = _units(detail.get("min_base_amount"), sd, "min_base_amount", where)
    return MarketInfo(
        venue="lighter",
        symbol=symbol,
        base=canon.base,
        quote=QUOTE,
        price_decimals=pd,
        size_decimals=sd,
        tick=1,  # Price is an integer at price_decimals: every unit is a valid price
        step=1,
        min_size=max(min_size, 1),
        min_notional=_units(detail.get("min_quote_amount"), pd + sd, "min_quote_amount", where),
        market_id=market_id,
        multiplier=canon.multiplier,
        maker_fee_ppm=_fee_ppm(detail.get("maker_fee"), "maker_fee", where),
        taker_fee_ppm=_fee_ppm(detail.get("taker_fee"), "taker_fee", where),
        extra={
            "status": detail.get("status"),
            "market_type": detail.get("market_type", "perp"),
            "default_initial_margin_fraction": detail.get("default_initial_margin_fraction"),
        },
    )


def parse_markets(
    details: list[dict[str, Any]], aliases: Mapping[str, str] | None = None, *, active_only: bool = True
) -> dict[str, MarketInfo]:
    """Perp markets by venue symbol. Inactive markets are left out unless `active_only` is False."""
    out: dict[str, MarketInfo] = {}
    for d in details:
        if d.get("market_type", "perp") != "perp":
            continue
        if active_only and d.get("status", "active") != "active":
            continue
        info = market_info(d, aliases)
        out[info.symbol] = info
    return out
