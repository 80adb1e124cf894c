"""Binance USD-M futures (USDC- and USDT-margined perpetuals) as an xtb venue package."""
