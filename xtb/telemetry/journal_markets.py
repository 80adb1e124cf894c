"""The side file next to an event journal that names its markets (venue, book id -> symbol and scales).

The engine writes it when a run starts; replay and report read it. Below the engine: no engine imports.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from xtb.model.types import MarketInfo

#: the file next to a journal that names its markets (written by the engine when it starts)
MARKETS_SUFFIX = ".markets.json"


def markets_path(journal: str | Path) -> Path:
    return Path(str(journal) + MARKETS_SUFFIX)


def write_markets(journal: str | Path, markets: dict[str, dict[int, MarketInfo]]) -> Path:
    """Record which market each (venue, book_id) of a journal is: the replay needs symbols and scales."""
    doc = {
        venue: {str(book_id): {k: v for k, v in vars(m).items() if k != "extra"} for book_id, m in by_id.items()}
        for venue, by_id in markets.items()
    }
    path = markets_path(journal)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True))
    return path


def generic_market(venue: str, book_id: int) -> MarketInfo:
    """The market of a book the markets file does not name: `book<id>`, integer units, tick/step 1."""
    return MarketInfo(venue=venue, symbol=f"book{book_id}", base=f"book{book_id}", quote="USD", price_decimals=0,
                      size_decimals=0, tick=1, step=1, min_size=1, min_notional=0)


def load_markets(journal: str | Path, events_seen: Iterable[tuple[str, int]] = ()) -> dict[str, dict[int, MarketInfo]]:
    """Markets of a journal from its sidecar file; `events_seen` books without one get `generic_market`,
    so an unnamed journal still replays and reports."""
    out: dict[str, dict[int, MarketInfo]] = {}
    path = markets_path(journal)
    if path.exists():
        for venue, by_id in json.loads(path.read_text()).items():
            out[venue] = {int(b): MarketInfo(**fields) for b, fields in by_id.items()}
    for venue, book_id in events_seen:
        by_id = out.setdefault(venue, {})
        if book_id not in by_id:
            by_id[book_id] = generic_market(venue, book_id)
    return out
