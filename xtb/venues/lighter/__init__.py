"""Lighter (zkLighter) perpetuals connector: see docs/venues/lighter.md (the connector notes)."""

from xtb.venues.lighter.config import PROFILES, LighterConfig
from xtb.venues.lighter.connector import LighterConnector
from xtb.venues.lighter.markets import MarketDataError, parse_markets

__all__ = ["PROFILES", "LighterConfig", "LighterConnector", "MarketDataError", "parse_markets"]
