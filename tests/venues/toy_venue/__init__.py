"""A venue built only from the public venue contract, as a third party would ship one.

`sim.py` is its simulator dialect (a small JSON REST protocol over the simulator's matching engine),
`connector.py` its connector (it only translates: the shared reconciler decides), `spec.py` its
`VenueSpec`. `register()` is the whole registration: no xtb module names this venue. The test in
tests/venues/test_contract_only_venue.py runs a strategy on it through the engine in paper mode.

The compiled core knows a fixed table of venues (core_ext/src/venues.rs: a venue's decoder and sequence
rule are one line there); this venue borrows the `aster` entry and keeps its books from REST snapshots in
Python. `register()` displaces the real Aster venue and dialect for the test; `unregister()` puts them back.
"""

from __future__ import annotations

from tests.venues.toy_venue.spec import NAME, register, unregister

__all__ = ["NAME", "register", "unregister"]
