"""Aster as a simulator dialect: Binance's engine and `/fapi` front-end speaking Aster's API."""
