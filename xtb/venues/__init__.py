"""Venue connectors: each translates between one venue's protocol and the core's types; none decides."""
