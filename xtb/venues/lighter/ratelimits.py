"""Lighter's published rate limits as a `RateLimiter` preset (docs/venues/lighter.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from xtb.ratelimits import MINUTE_MS, sliding_window

#: Weighted budget per rolling minute by account tier. Standard is 60 *unweighted* requests.
LIGHTER_TIER_BUDGETS: Final[Mapping[str, int]] = {"premium": 24_000, "plus": 120_000, "builder": 240_000}
LIGHTER_STANDARD_REQUESTS_PER_MINUTE: Final = 60
LIGHTER_TIERS: Final = ("standard", "premium", "plus", "builder")

#: REST endpoint weights; every endpoint not listed weighs LIGHTER_DEFAULT_WEIGHT (key "other").
LIGHTER_WEIGHTS: Final[Mapping[str, int]] = {
    "sendTx": 6,
    "sendTxBatch": 6,
    "nextNonce": 6,
    "publicPools": 50,
    "txFromL1TxHash": 50,
    "accountInactiveOrders": 100,
    "deposit/latest": 100,
    "apikeys": 150,
    "transferFeeInfo": 500,
    "trades": 600,
    "recentTrades": 600,
    "changeAccountTier": 3000,
    "tokens": 3000,
    "tokens/revoke": 3000,
    "setAccountMetadata": 3000,
    "notification/ack": 3000,
    "createIntentAddress": 3000,
    "fastwithdraw": 3000,
    "referral": 3000,  # every referral/* endpoint
    "tokens/create": 23_000,
}
LIGHTER_DEFAULT_WEIGHT: Final = 300

#: Standard-account limits per transaction type: tx type -> (count, window_ms).
LIGHTER_STANDARD_TX_LIMITS: Final[Mapping[str, tuple[int, int]]] = {
    "default": (40, MINUTE_MS),
    "L2Withdraw": (2, MINUTE_MS),
    "UpdateLeverage": (1, MINUTE_MS),
    "CreateSubAccount": (2, MINUTE_MS),
    "CreatePublicPool": (2, MINUTE_MS),
    "ChangePubKey": (2, 10_000),
    "Transfer": (1, MINUTE_MS),
}

#: WebSocket limits per IP: key -> (count, window_ms). sendtx over WS counts as REST ("sendTx").
LIGHTER_WS_LIMITS: Final[Mapping[str, tuple[int, int]]] = {
    "ws_message": (200, MINUTE_MS),
    "ws_connect": (60, MINUTE_MS),
}


def lighter_rest_key(endpoint: str) -> str:
    """The limiter key for a Lighter REST endpoint path (`/api/v1/sendTx` -> `sendTx`, unknown -> `other`)."""
    name = endpoint.split("?", 1)[0].strip("/")
    name = name.removeprefix("api/v1/")
    if name in LIGHTER_WEIGHTS:
        return name
    if name.startswith("referral/"):
        return "referral"
    return "other"


def lighter(
    tier: str = "premium",
    *,
    tx_limits: Mapping[str, tuple[int, int]] | None = None,
    ws: bool = True,
) -> dict[str, Any]:
    """Lighter limits for one account tier ("standard", "premium", "plus", "builder").

    Pools: `rest` (the account's rolling minute, exact sliding window), one `tx:<type>` pool per
    transaction-type limit, and the WS pools. Keys: every endpoint of LIGHTER_WEIGHTS plus `other`
    (drawing on `rest` with its weight; Standard counts requests, and heavy endpoints keep their
    premium-derived cap budget // weight when that is below 60 per minute, e.g. changeAccountTier 8),
    `tx:<type>` keys, and `ws_message` / `ws_connect`.

    `tx_limits` (tx type -> (count, window_ms)) defaults to the documented Standard limits on a Standard
    account. For the other tiers Lighter ties sendTx to a separate bucket that depends on staked LIT and
    publishes no numbers (UNCONFIRMED), so no tx-type pool is configured unless you pass `tx_limits`.
    """
    if tier not in LIGHTER_TIERS:
        raise ValueError(f"tier: expected one of {', '.join(LIGHTER_TIERS)}, got {tier!r}")
    pools: dict[str, Any] = {}
    keys: dict[str, dict[str, int]] = {}
    weights = {**LIGHTER_WEIGHTS, "other": LIGHTER_DEFAULT_WEIGHT}
    if tier == "standard":
        per_minute = LIGHTER_STANDARD_REQUESTS_PER_MINUTE
        pools["rest"] = sliding_window(per_minute, MINUTE_MS)
        premium = LIGHTER_TIER_BUDGETS["premium"]
        for key, weight in weights.items():
            keys[key] = {"rest": 1}
            cap = premium // weight
            if cap < per_minute:
                pools[f"cap:{key}"] = sliding_window(cap, MINUTE_MS)
                keys[key][f"cap:{key}"] = 1
        if tx_limits is None:
            tx_limits = LIGHTER_STANDARD_TX_LIMITS
    else:
        pools["rest"] = sliding_window(LIGHTER_TIER_BUDGETS[tier], MINUTE_MS)
        keys.update({key: {"rest": weight} for key, weight in weights.items()})
    for tx_type, (count, window_ms) in (tx_limits or {}).items():
        pools[f"tx:{tx_type}"] = sliding_window(count, window_ms)
        keys[f"tx:{tx_type}"] = {f"tx:{tx_type}": 1}
    if ws:
        for key, (count, window_ms) in LIGHTER_WS_LIMITS.items():
            pools[key] = sliding_window(count, window_ms)
            keys[key] = {key: 1}
    return {"pools": pools, "keys": keys}


def lighter_send_tx_request(
    configured_keys: Iterable[str], tx_type: str, count: int = 1
) -> list[tuple[str, int]]:
    """The `acquire_many` request for sending `count` transactions of `tx_type` (a batch when count > 1).

    The REST endpoint always counts once; the tx-type limit counts every transaction, under
    `tx:<tx_type>` if that type has its own limit, else `tx:default`, else not at all (no tx limits
    configured for this tier).
    """
    if count < 1:
        raise ValueError(f"count: must be >= 1, got {count}")
    keys = set(configured_keys)
    request = [("sendTx" if count == 1 else "sendTxBatch", 1)]
    for candidate in (f"tx:{tx_type}", "tx:default"):
        if candidate in keys:
            request.append((candidate, count))
            break
    return request
