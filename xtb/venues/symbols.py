"""Symbol normalisation: each venue's market name <-> one canonical base-asset name.

Cross-venue pairing (the arbitrage's pair discovery) matches markets by canonical name, e.g.
Backpack `SOL_USDC_PERP`, Lighter `SOL` and Binance USD-M `SOLUSDT` are all `SOL`. Venues that quote
some assets per 1000 units (Backpack `kPEPE`, Binance `1000PEPE`) map to `PEPE` with a `multiplier` so
that prices can be compared per unit. Aliases are configurable: new listings need no code change.
"""

from __future__ import annotations

import re
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


def canonical(venue: str, symbol: str, aliases: dict[str, str] | None = None) -> Canonical:
    """Canonical base asset of a venue market name."""
    if aliases and symbol in aliases:
        return _strip_multiplier(aliases[symbol])
    if venue == "backpack":
        # SOL_USDC_PERP, kPEPE_USDC_PERP, AAPL.US_USDC_PERP
        base = symbol.split("_", 1)[0]
        return _strip_multiplier(base)
    if venue in ("binance_usdm", "aster"):
        m = re.fullmatch(r"(.+?)(USDT|USDC|USD)(_PERP)?", symbol)
        return _strip_multiplier(m.group(1) if m else symbol)
    if venue == "grvt":
        # BTC_USDT_Perp
        return _strip_multiplier(symbol.split("_", 1)[0])
    # lighter and others: the symbol is the base asset already (SOL, 1000PEPE)
    base = symbol
    for q in _QUOTES:
        if base.endswith("-" + q) or base.endswith("_" + q) or base.endswith("/" + q):
            base = base[: -len(q) - 1]
    return _strip_multiplier(base)
