"""The engine: strategies, their registry and clock, the dispatcher and the order gateway."""
