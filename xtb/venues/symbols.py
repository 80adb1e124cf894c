"""Symbol normalisation: each venue's market name <-> one canonical base-asset name.

Cross-venue pairing (the arbitrage's pair discovery) matches markets by canonical name, e.g.
Backpack `SOL_USDC_PERP`, Lighter `SOL` and Binance USD-M `SOLUSDT` are all `SOL`. Venues that quote
some assets per 1000 units (Backpack `kPEPE`, Binance `1000PEPE`) map to `PEPE` with a `multiplier` so
that prices can be compared per unit. Aliases are configurable: new listings need no code change.
Each venue names its rule in its VenueSpec; `xtb.venues.registry.canonical(venue, symbol)` applies it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Canonical:
    base: str
    multiplier: int = 1  # venue units per canonical unit (1000 for kPEPE / 1000PEPE)


_PREFIX_MULTIPLIERS = (("1000000", 1_000_000), ("1000", 1000), ("k", 1000))
_QUOTES = ("USDC", "USDT", "USD")


def _strip_multiplier(base: str) -> Canonical:
    for prefix, mult in _PREFIX_MULTIPLIERS:
        if base.startswith(prefix) and len(base) > len(prefix):
            rest = base[len(prefix) :]
            # "k" only marks a multiplier before an upper-case ticker (kPEPE), not e.g. "KAVA".
            if prefix == "k" and not rest[:1].isupper():
                continue
            return Canonical(rest.upper(), mult)
    return Canonical(base.upper(), 1)


def base_first(symbol: str, aliases: Mapping[str, str] | None = None) -> Canonical:
    """`BASE_QUOTE[_KIND]` names (Backpack SOL_USDC_PERP, kPEPE_USDC_PERP, AAPL.US_USDC_PERP; GRVT BTC_USDT_Perp)."""
    if aliases and symbol in aliases:
        return _strip_multiplier(aliases[symbol])
    return _strip_multiplier(symbol.split("_", 1)[0])


def base_then_quote(symbol: str, aliases: Mapping[str, str] | None = None) -> Canonical:
    """`BASEQUOTE` names (Binance USD-M and Aster SOLUSDT, 1000PEPEUSDT)."""
    if aliases and symbol in aliases:
        return _strip_multiplier(aliases[symbol])
    m = re.fullmatch(r"(.+?)(USDT|USDC|USD)(_PERP)?", symbol)
    return _strip_multiplier(m.group(1) if m else symbol)


def base_only(symbol: str, aliases: Mapping[str, str] | None = None) -> Canonical:
    """The symbol is the base asset already (Lighter SOL, 1000PEPE); a `-USDC`-style quote is dropped."""
    if aliases and symbol in aliases:
        return _strip_multiplier(aliases[symbol])
    base = symbol
    for q in _QUOTES:
        if base.endswith("-" + q) or base.endswith("_" + q) or base.endswith("/" + q):
            base = base[: -len(q) - 1]
    return _strip_multiplier(base)
