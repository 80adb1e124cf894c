"""Quant helpers usable outside any strategy: closed-form market-making quotes, volatility estimators and the
conversions between model prices (floats) and venue integer units."""
