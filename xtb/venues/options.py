"""The option names every venue shares (`venues.<name>.options` in a config), one name per concept.

Each venue's config class declares these fields under these names (and its own venue-only options
besides); `migrate_options` turns the names older configs used into the shared ones, with a warning, so a
config keeps working while it is updated.

| option                | meaning                                                                   |
|-----------------------|---------------------------------------------------------------------------|
| symbols               | markets to keep books for (venue names); empty = every perp market        |
| aliases               | venue symbol -> canonical base asset (new listings need no code change)   |
| order_timeout_s       | a submit without an answer by then is unresolved (settled by reconciling) |
| max_batch             | orders per batch request                                                  |
| submit_window_s       | an order missing at the venue is only judged once quiet this long         |
| unknown_order_policy  | venue orders we do not track: adopt, cancel or ignore                     |
| reconcile_interval_s  | periodic REST reconciliation (None: only at start and after reconnects)   |
| trades                | also subscribe the public trade prints                                    |
| mark_price            | also subscribe mark price / funding (MarkPrice; Binance, Aster, Backpack) |
| order_http            | order requests over the keep-alive client (`keepalive`) or `aiohttp`      |
| order_connections     | order connections opened at start                                         |
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("xtb.venues.options")

SHARED_OPTIONS = (
    "symbols", "aliases", "order_timeout_s", "max_batch", "submit_window_s", "unknown_order_policy",
    "reconcile_interval_s", "trades", "order_http", "order_connections",
)

#: names older configs used -> the shared name
RENAMED: Mapping[str, str] = {
    "unknown_orders": "unknown_order_policy",
    "reconcile_grace_s": "submit_window_s",
    "tx_timeout_s": "order_timeout_s",
    "max_batch_size": "max_batch",
}


def migrate_options(section: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """`options` with old names replaced by the shared ones (a DeprecationWarning and a log line name
    each); ValueError when an option is given under both names."""
    out = dict(options)
    for old, new in RENAMED.items():
        if old not in out:
            continue
        if new in out:
            raise ValueError(f"{section}.{old}: given together with its new name {new}; keep only {new}")
        out[new] = out.pop(old)
        message = f"{section}.{old} is deprecated: call it {new}"
        warnings.warn(message, DeprecationWarning, stacklevel=3)
        log.warning(message)
    return out
