"""Constants more than one layer needs."""

#: each paper-mode venue account opens with this much collateral (USDC); telemetry's starting equity
PAPER_COLLATERAL_USDC = 100_000
