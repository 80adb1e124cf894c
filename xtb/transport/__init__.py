"""WebSocket transport glue: picows listeners that feed frames to the core's FeedDecoder.

`CyFeedListener` (Cython, compiled by build.py) passes the frame's payload pointer to the core through the
decoder's C entry point; `PyFeedListener` does the same through `decoder.feed(bytes)`. Both take the same
hooks. `FeedListener` is the Cython one when it is built, else the Python one.
"""

from __future__ import annotations

from xtb.transport.pylistener import PyFeedListener

try:
    from xtb.transport._cylistener import CyFeedListener
except ImportError:  # not compiled (e.g. a source checkout without `python build.py`)
    CyFeedListener = None

FeedListener: type = CyFeedListener if CyFeedListener is not None else PyFeedListener

__all__ = ["CyFeedListener", "FeedListener", "PyFeedListener"]
