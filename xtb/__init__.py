"""xtb: trading crypto perpetual futures across venues, with a compiled low-latency core.

The compiled core lives in `xtb._core` (Rust); `xtb.core` is its documented public surface.
Importing `xtb` itself is cheap and does not load the core.
"""

__version__ = "0.1.0"
