"""The public surface of xtb's compiled core, for embedding in other bots.

Everything here is documented in docs/core_api.md and typed in xtb/_core.pyi; `xtb._core` itself also
holds private benchmark hooks (names starting with `_`), which are not part of the API.

    from xtb.core import EventRing, FeedDecoder, OrderBook

`xtb.core.LighterSigner` (Python, in xtb.signing) belongs to the same surface: it signs with the core's
native `LighterKey` by default, or drives the lighter-sdk wheel's Go library.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from xtb._core import (
    FEED_CAPSULE_NAME,
    AsterSigner,
    BackpackOrderEntry,
    BackpackSigner,
    BinanceMarkPrice,
    BinanceSigner,
    BookUpdate,
    DispatchLoop,
    EventRing,
    FeedDecoder,
    FeedError,
    Fill,
    GrvtSigner,
    Journal,
    JournalFormatError,
    JournalReader,
    JournalWindows,
    LighterKey,
    MarkPrice,
    OperatorAction,
    Order,
    OrderBook,
    OrderTracker,
    OrderTrackerError,
    OrderUpdate,
    Position,
    RateLimited,
    RateLimiter,
    Resync,
    SignedOrder,
    Trade,
    aster_message_digest,
    aster_recover_signer,
    core_venues,
    decode_binance_mark_prices,
    eth_address_of,
    format_fixed,
    grvt_order_digest,
    grvt_recover_signer,
    lighter_generate_api_key,
    lighter_verify_auth_token,
    lighter_verify_tx,
    parse_fixed,
    register_venue,
)
from xtb._core import __version__ as core_version

if TYPE_CHECKING:
    from xtb.signing.lighter import LighterSigner

__all__ = [
    "FEED_CAPSULE_NAME",
    "AsterSigner",
    "BackpackOrderEntry",
    "BackpackSigner",
    "BinanceMarkPrice",
    "BinanceSigner",
    "BookUpdate",
    "DispatchLoop",
    "EventRing",
    "FeedDecoder",
    "FeedError",
    "Fill",
    "GrvtSigner",
    "Journal",
    "JournalFormatError",
    "JournalReader",
    "JournalWindows",
    "LighterKey",
    "LighterSigner",
    "MarkPrice",
    "OperatorAction",
    "Order",
    "OrderBook",
    "OrderTracker",
    "OrderTrackerError",
    "OrderUpdate",
    "Position",
    "RateLimited",
    "RateLimiter",
    "Resync",
    "SignedOrder",
    "Trade",
    "aster_message_digest",
    "aster_recover_signer",
    "core_venues",
    "core_version",
    "decode_binance_mark_prices",
    "eth_address_of",
    "format_fixed",
    "grvt_order_digest",
    "grvt_recover_signer",
    "lighter_generate_api_key",
    "lighter_verify_auth_token",
    "lighter_verify_tx",
    "parse_fixed",
    "read_journal",
    "register_venue",
]

if sys.platform != "win32":
    # The GIL-free Lighter signing thread LighterSigner drives for create/cancel (docs/core_api.md).
    from xtb._core import LighterNativeSigner, lighter_native_abi

    __all__ += ["LighterNativeSigner", "lighter_native_abi"]


def read_journal(path: str | os.PathLike[str]) -> JournalReader:
    """Iterate the events of a journal file (see docs/journal.md); `.meta`, `.truncated` on the reader."""
    return JournalReader(path)


def __getattr__(name: str) -> Any:
    # Imported lazily: loading it locates the native library and starts nothing, but costs an import.
    if name == "LighterSigner":
        from xtb.signing.lighter import LighterSigner

        return LighterSigner
    raise AttributeError(f"module 'xtb.core' has no attribute {name!r}")
