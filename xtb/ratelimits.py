"""Rate-limit presets for `xtb._core.RateLimiter.from_config`, from the venue notes (docs/venues/).

Each preset returns a plain config dict, so a deployment can inspect or adjust it before building
the limiter::

    from xtb._core import RateLimiter
    from xtb import ratelimits

    limiter = RateLimiter.from_config(ratelimits.lighter("premium"))
    wait_ns = limiter.acquire_many(ratelimits.lighter_send_tx_request(limiter.keys, "CreateOrder"))

Numbers the venue does not publish are parameters with defaults marked UNCONFIRMED.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

MINUTE_MS: Final = 60_000

# ---- Lighter (its published limits; docs/venues/lighter.md) ----

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


def _window(limit: int, window_ms: int) -> dict[str, Any]:
    return {"type": "sliding_window", "limit": limit, "window_ms": window_ms}


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
        pools["rest"] = _window(per_minute, MINUTE_MS)
        premium = LIGHTER_TIER_BUDGETS["premium"]
        for key, weight in weights.items():
            keys[key] = {"rest": 1}
            cap = premium // weight
            if cap < per_minute:
                pools[f"cap:{key}"] = _window(cap, MINUTE_MS)
                keys[key][f"cap:{key}"] = 1
        if tx_limits is None:
            tx_limits = LIGHTER_STANDARD_TX_LIMITS
    else:
        pools["rest"] = _window(LIGHTER_TIER_BUDGETS[tier], MINUTE_MS)
        keys.update({key: {"rest": weight} for key, weight in weights.items()})
    for tx_type, (count, window_ms) in (tx_limits or {}).items():
        pools[f"tx:{tx_type}"] = _window(count, window_ms)
        keys[f"tx:{tx_type}"] = {f"tx:{tx_type}": 1}
    if ws:
        for key, (count, window_ms) in LIGHTER_WS_LIMITS.items():
            pools[key] = _window(count, window_ms)
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


# ---- Backpack (docs/venues/backpack.md section 5.2) ----

#: UNCONFIRMED: Backpack publishes no REST limits. ccxt assumes 50 ms between requests (20 per second);
#: a probe at 5 per second never saw a 429. Tune per deployment.
BACKPACK_DEFAULT_REQUESTS_PER_SECOND: Final = 20
BACKPACK_KEYS: Final = ("public", "private", "order")


def backpack(
    requests_per_second: int = BACKPACK_DEFAULT_REQUESTS_PER_SECOND, burst: int | None = None
) -> dict[str, Any]:
    """Backpack REST limits (UNCONFIRMED defaults): one token bucket `rest` refilled at
    `requests_per_second`, holding up to `burst` (default: one second's worth); keys `public`,
    `private` and `order` weigh 1 each."""
    if requests_per_second < 1:
        raise ValueError(f"requests_per_second: must be >= 1, got {requests_per_second}")
    capacity = requests_per_second if burst is None else burst
    if capacity < 1:
        raise ValueError(f"burst: must be >= 1, got {burst}")
    return {
        "pools": {
            "rest": {
                "type": "token_bucket",
                "capacity": capacity,
                "refill": requests_per_second,
                "window_ms": 1000,
            }
        },
        "keys": {key: {"rest": 1} for key in BACKPACK_KEYS},
    }


# ---- GRVT (docs/venues/grvt.md: only the 429 signals are published, the numbers are UNCONFIRMED) ----

GRVT_KEYS: Final = ("public", "private", "order", "login")


def grvt(requests_per_second: float = 10.0, burst: int | None = None) -> dict[str, Any]:
    """GRVT REST limits (UNCONFIRMED defaults: GRVT documents codes 1006 and 2090 with HTTP 429, no numbers):
    one token bucket `rest` refilled at `requests_per_second`; every key weighs 1."""
    if requests_per_second <= 0:
        raise ValueError(f"requests_per_second: must be > 0, got {requests_per_second}")
    capacity = max(1, int(requests_per_second)) if burst is None else burst
    if capacity < 1:
        raise ValueError(f"burst: must be >= 1, got {burst}")
    return {
        "pools": {"rest": {"type": "token_bucket", "capacity": capacity,
                           "refill": max(1, round(requests_per_second)), "window_ms": 1000}},
        "keys": {key: {"rest": 1} for key in GRVT_KEYS},
    }


# ---- Binance USD-M (docs/venues/binance_usdm.md section 4) ----

BINANCE_USDM_WEIGHT_PER_MINUTE: Final = 2400
BINANCE_USDM_ORDERS_PER_MINUTE: Final = 1200
BINANCE_USDM_ORDERS_PER_10S: Final = 300  # UNCONFIRMED: the common figure, no official example seen
#: limiter key -> (IP weight, order count); the connector's REST paths map onto these keys
BINANCE_USDM_KEYS: Final[Mapping[str, tuple[int, int]]] = {
    "public": (1, 0),
    "depth": (20, 0),  # /fapi/v1/depth at limit 1000
    "private": (5, 0),  # positionRisk / account / balance / userTrades v3
    "open_orders": (40, 0),  # all symbols
    "income": (30, 0),
    "position_mode": (30, 0),  # GET /fapi/v1/positionSide/dual
    "signed": (1, 0),  # order query, cancel, cancel-all, leverage, margin type, listenKey
    "order": (0, 1),  # POST /fapi/v1/order: order count only
    "batch_order": (5, 1),  # one order of a batch (the batch's IP weight 5 is charged per order: over-counts)
}


def binance_usdm(
    weight_per_minute: int = BINANCE_USDM_WEIGHT_PER_MINUTE,
    orders_per_10s: int = BINANCE_USDM_ORDERS_PER_10S,
    orders_per_minute: int = BINANCE_USDM_ORDERS_PER_MINUTE,
) -> dict[str, Any]:
    """Binance USD-M: IP weight per minute and the account's order counts per 10 s and per minute, as
    sliding windows. The connector also reads the venue's own counts from the response headers and blocks
    a pool until its window turns when the venue says it is spent (see the connector)."""
    for name, value in (("weight_per_minute", weight_per_minute), ("orders_per_10s", orders_per_10s),
                        ("orders_per_minute", orders_per_minute)):  # fmt: skip
        if value < 1:
            raise ValueError(f"{name}: must be >= 1, got {value}")
    keys: dict[str, dict[str, int]] = {}
    for key, (weight, orders) in BINANCE_USDM_KEYS.items():
        draws = {}
        if weight:
            draws["weight"] = weight
        if orders:
            draws["orders_10s"] = orders
            draws["orders_1m"] = orders
        keys[key] = draws
    return {
        "pools": {
            "weight": {"type": "sliding_window", "limit": weight_per_minute, "window_ms": MINUTE_MS},
            "orders_10s": {"type": "sliding_window", "limit": orders_per_10s, "window_ms": 10_000},
            "orders_1m": {"type": "sliding_window", "limit": orders_per_minute, "window_ms": MINUTE_MS},
        },
        "keys": keys,
    }
