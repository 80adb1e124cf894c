"""Type stubs for xtb._core, the compiled core. Documented in docs/core_api.md."""

__version__: str

# ---- numbers, order books, feed decoding, events, ring (market data) ----

# ---- rate limiter ----

# ---- order tracker and signers (orders) ----
