"""Aster perpetual futures: Binance USD-M's connector with Aster's dialect (paths, errors, V3 signing)."""
