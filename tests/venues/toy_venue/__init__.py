"""A venue built only from the public venue contract, as a third party would ship one.

`sim.py` is its simulator dialect (a small JSON REST protocol over the simulator's matching engine),
`connector.py` its connector (it only translates: the shared reconciler decides), `spec.py` its
`VenueSpec`. `register()` is the whole registration: no xtb module names this venue. The test in
tests/venues/test_contract_only_venue.py runs a strategy on it through the engine in paper mode.

The toy has no entry in the compiled core's venue table: its `VenueSpec` carries its own core wire id
(`core_id`), and `register()` makes the core know the name `toy` under that id (rings, books, the tracker
and journals), as any Python-only venue plugin does. It keeps its books from REST snapshots in Python.
"""

from __future__ import annotations

from tests.venues.toy_venue.spec import NAME, register, unregister

__all__ = ["NAME", "register", "unregister"]
