"""xtb's compiled core: fixed-point order books, feed decoders, the event ring and dispatch loop, rate
limiter, order tracker, journal and the Backpack signer. No runtime dependency outside the standard library;
no I/O and no threads of its own except the documented ones (docs/core_api.md, "Embedding the core").

    from xtb_core import EventRing, FeedDecoder, OrderBook
"""

from xtb_core._core import *  # noqa: F403  (the extension module is the API; its stub lists every name)
from xtb_core._core import __version__ as __version__
