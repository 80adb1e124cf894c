"""Order-side helpers that live in Python: client order id allocation.

The order tracker and the signers are in the compiled core (`xtb.core`).
"""

from xtb.orders.client_ids import (
    ClientIdAllocator,
    ClientIdError,
    ClientIdsExhausted,
)

__all__ = [
    "ClientIdAllocator",
    "ClientIdError",
    "ClientIdsExhausted",
]
