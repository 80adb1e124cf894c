"""GRVT perpetual futures (grvt.io): EIP-712 order signing in the core; see docs/venues/grvt.md for what is
supported so far."""
