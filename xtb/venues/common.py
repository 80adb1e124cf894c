"""Helpers venue packages share (beside the contract): small translations every connector needs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from xtb.model.units import to_units

Top = tuple[int, int] | None


def touch_from_levels(bids: Iterable[Sequence[Any]] | None, asks: Iterable[Sequence[Any]] | None,
                      price_decimals: int, size_decimals: int) -> tuple[Top, Top]:
    """Best bid and ask (price units, size units) from REST depth rows `[price, size, ...]` in decimal text,
    whatever order the venue lists them in; empty or zero levels are skipped."""

    def best(rows: Iterable[Sequence[Any]] | None, bid: bool) -> Top:
        levels = [(to_units(str(r[0]), price_decimals), to_units(str(r[1]), size_decimals)) for r in rows or ()]
        levels = [lv for lv in levels if lv[0] > 0 and lv[1] > 0]
        if not levels:
            return None
        return max(levels) if bid else min(levels)

    return best(bids, True), best(asks, False)
