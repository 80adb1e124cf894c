"""Where venues are found: the built-in packages, then the `xtb.venues` entry points, then `register()`.

    # a third party's pyproject.toml
    [project.entry-points."xtb.venues"]
    myvenue = "my_package.spec:SPEC"

The engine asks `venue_spec(name)` for each configured venue; nothing else in xtb names a venue.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from importlib.metadata import entry_points

from xtb import _core
from xtb.venues.contract import VenueSpec
from xtb.venues.symbols import Canonical, base_only

log = logging.getLogger("xtb.venues.registry")

ENTRY_POINT_GROUP = "xtb.venues"
#: the venues shipped with xtb: name -> module whose SPEC is the VenueSpec
BUILTIN: dict[str, str] = {
    "backpack": "xtb.venues.backpack.spec",
    "lighter": "xtb.venues.lighter.spec",
    "binance_usdm": "xtb.venues.binance_usdm.spec",
    "aster": "xtb.venues.aster.spec",
    "grvt": "xtb.venues.grvt.spec",
}

_specs: dict[str, VenueSpec] = {}
_entry_points_loaded = False


def register(spec: VenueSpec, *, replace: bool = False) -> VenueSpec:
    """Make a venue known (tests and embedding code; packages use the entry point). A spec with a `core_id`
    registers its core venue first, so rings, books, trackers and journals know it before any is built."""
    if spec.name in _specs and not replace and _specs[spec.name] is not spec:
        raise ValueError(f"venue {spec.name!r} is already registered")
    _register_core(spec)
    _specs[spec.name] = spec
    return spec


def _register_core(spec: VenueSpec) -> None:
    """The core's entry of a Python-only venue; ValueError naming the spec and the refused field."""
    if spec.core_id is None:
        return
    try:
        _core.register_venue(spec.core_venue, spec.core_id, spec.core_seq_rule)
    except ValueError as e:
        raise ValueError(f"venue {spec.name!r}: core registration refused: {e}") from None


def unregister(name: str) -> None:
    _specs.pop(name, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _specs or ep.name in BUILTIN:
            continue
        try:
            spec = ep.load()
        except Exception as e:  # a broken third-party package must not stop the built-in venues
            log.error("venue entry point %s (%s) failed to load: %s", ep.name, ep.value, e)
            continue
        if not isinstance(spec, VenueSpec) or spec.name != ep.name:
            log.error("venue entry point %s: %s is not a VenueSpec named %r", ep.name, ep.value, ep.name)
            continue
        try:
            _register_core(spec)
        except ValueError as e:
            log.error("venue entry point %s (%s): %s", ep.name, ep.value, e)
            continue
        _specs[ep.name] = spec


def venue_spec(name: str) -> VenueSpec:
    """The spec of a venue; ValueError naming the known venues when there is none."""
    spec = _specs.get(name)
    if spec is not None:
        return spec
    module = BUILTIN.get(name)
    if module is not None:
        loaded = importlib.import_module(module).SPEC
        assert isinstance(loaded, VenueSpec)
        _specs[name] = loaded
        return loaded
    _load_entry_points()
    spec = _specs.get(name)
    if spec is None:
        raise ValueError(f"venue {name!r}: no such venue (known: {', '.join(known_venues())})")
    return spec


def known_venues() -> list[str]:
    _load_entry_points()
    return sorted(set(BUILTIN) | set(_specs))


def canonical(venue: str, symbol: str, aliases: Mapping[str, str] | None = None) -> Canonical:
    """Canonical base asset of a venue market name, by the venue's own rule (its VenueSpec); a venue that
    is not registered gets the most common rule (the symbol is the base)."""
    try:
        spec = venue_spec(venue)
    except ValueError:
        return base_only(symbol, aliases)
    return spec.canonical(symbol, aliases)
