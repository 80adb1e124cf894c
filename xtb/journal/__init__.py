"""Run files after the fact: the event journal's side files (markets), replay and the run report.

Kept import-free: the engine imports `xtb.journal.markets` (below it) while `replay` and `report` sit
above the engine (they run strategies offline).
"""
