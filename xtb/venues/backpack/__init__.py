"""Backpack USDC perpetuals connector (docs/venues/backpack.md)."""

from xtb.venues.backpack.connector import BackpackConfig, BackpackConnector, ConnectorStats
from xtb.venues.backpack.markets import MarketDataError, market_info, parse_markets

__all__ = ["BackpackConfig", "BackpackConnector", "ConnectorStats", "MarketDataError", "market_info", "parse_markets"]
