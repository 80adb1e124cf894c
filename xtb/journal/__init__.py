"""Run files after the fact: replay and the run report (they run strategies offline, above the engine).

The journal's markets side file, which the engine writes, lives below the engine in
xtb/telemetry/journal_markets.py.
"""
