"""GRVT instruments (`/full/v1/all_instruments`) -> MarketInfo with integer scales, and the signing data
(`instrument_hash`, `base_decimals`) each order needs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from xtb.model.types import MarketInfo
from xtb.venues.grvt.orders import GrvtInstrument
from xtb.venues.symbols import base_first


class MarketDataError(ValueError):
    """An instrument the connector cannot use; the message names the instrument and the field."""


def _decimal(d: Mapping[str, Any], name: str, where: str) -> Decimal:
    text = d.get(name)
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise MarketDataError(f"{where}: field {name} is not a decimal: {text!r}") from None
    if text is None or not value.is_finite() or value < 0:
        raise MarketDataError(f"{where}: field {name} must be a non-negative decimal, got {text!r}")
    return value


def _scale(value: Decimal) -> int:
    """Digits after the point of a tick such as 0.01 or 0.5 (0 for whole numbers)."""
    exp = value.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def _units(value: Decimal, decimals: int, name: str, where: str) -> int:
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise MarketDataError(f"{where}: field {name} {value} does not fit {decimals} decimals")
    return int(scaled)


def market_info(inst: Mapping[str, Any], aliases: Mapping[str, str] | None = None) -> MarketInfo:
    """One instrument. Tick from `tick_size`; sizes at `base_decimals`, step and minimum from `min_size`
    (GRVT's step), `min_notional` in quote units (docs/venues/grvt.md)."""
    name = inst.get("instrument")
    if not isinstance(name, str) or not name:
        raise MarketDataError(f"instrument entry without a name: {dict(inst)!r:.120}")
    where = f"instrument {name}"
    base_decimals = inst.get("base_decimals")
    if isinstance(base_decimals, bool) or not isinstance(base_decimals, int) or not 0 <= base_decimals <= 18:
        raise MarketDataError(f"{where}: field base_decimals must be an integer 0..18, got {base_decimals!r}")
    h = inst.get("instrument_hash")
    if not isinstance(h, str) or not h.startswith("0x"):
        raise MarketDataError(f"{where}: field instrument_hash must be a 0x hex string, got {h!r}")
    try:
        int(h, 16)
    except ValueError:
        raise MarketDataError(f"{where}: field instrument_hash is not hex: {h!r}") from None
    tick = _decimal(inst, "tick_size", where)
    min_size = _decimal(inst, "min_size", where)
    if tick == 0 or min_size == 0:
        raise MarketDataError(f"{where}: tick_size and min_size must be positive")
    price_decimals = min(_scale(tick), 9)  # the signed price has 9 decimals
    step = _units(min_size, base_decimals, "min_size", where)
    min_notional = inst.get("min_notional")
    notional_units = 0
    if min_notional not in (None, ""):
        scaled = _decimal(inst, "min_notional", where).scaleb(price_decimals + base_decimals)
        notional_units = int(scaled.to_integral_value("ROUND_CEILING"))
    canonical = base_first(name, aliases)
    return MarketInfo(
        venue="grvt",
        symbol=name,
        base=canonical.base,
        quote=str(inst.get("quote") or (name.split("_")[1] if "_" in name else "")),
        price_decimals=price_decimals,
        size_decimals=base_decimals,
        tick=_units(tick, price_decimals, "tick_size", where),
        step=step,
        min_size=step,
        min_notional=notional_units,
        multiplier=canonical.multiplier,
        extra={"instrument_hash": h, "kind": inst.get("kind")},
    )


def markets(instruments: Iterable[Mapping[str, Any]], *, symbols: Iterable[str] = (),
            aliases: Mapping[str, str] | None = None) -> dict[str, MarketInfo]:
    """Perpetuals (or the named `symbols`) by venue name. A named symbol the venue does not list is an error."""
    wanted = set(symbols)
    out: dict[str, MarketInfo] = {}
    for inst in instruments:
        name = inst.get("instrument")
        if wanted and name not in wanted:
            continue
        if not wanted and inst.get("kind", "PERPETUAL") != "PERPETUAL":
            continue
        m = market_info(inst, aliases)
        out[m.symbol] = m
    missing = wanted - set(out)
    if missing:
        raise MarketDataError(f"symbols not listed by GRVT: {', '.join(sorted(missing))}")
    return out


def signing_instrument(m: MarketInfo) -> GrvtInstrument:
    """What the order signer needs of a market."""
    return GrvtInstrument(m.symbol, str(m.extra["instrument_hash"]), m.size_decimals)
