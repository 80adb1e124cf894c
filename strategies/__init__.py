"""Strategies shipped with xtb; each registers itself by name."""
