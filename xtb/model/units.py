"""Exact decimal text <-> integer venue units (money is integers inside xtb; venues write decimal text)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def scale_of(text: str) -> int:
    """Number of decimals in a decimal string as written ("0.010" -> 3, "1" -> 0)."""
    try:
        exp = Decimal(text).as_tuple().exponent
    except InvalidOperation:
        raise ValueError(f"not a decimal: {text!r}") from None
    if not isinstance(exp, int):
        raise ValueError(f"not a finite decimal: {text!r}")
    return max(0, -exp)


def to_units(text: str, decimals: int) -> int:
    """Exact decimal text -> integer units of 10^-decimals; refuses digits beyond `decimals`."""
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a decimal: {text!r}") from None
    scaled = d.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} has more than {decimals} decimals")
    return int(scaled)
