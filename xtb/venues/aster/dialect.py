"""Aster's two API generations as `/fapi` dialects: V3 (`/fapi/v3/*`, EIP-712 agent signing; a refused nonce
is -4225) and V1 (Binance's paths and HMAC, -1021 for the timestamp). docs/venues/aster.md, section 1."""

from __future__ import annotations

from xtb.venues.binance_usdm.dialect import ENDPOINTS, FapiDialect

NAME = "aster"
NONCE_EXPIRED = "-4225"

_V3_NAMES = {"exchange_info": "exchangeInfo", "book_ticker": "ticker/bookTicker", "premium_index": "premiumIndex",
             "batch_orders": "batchOrders", "open_orders": "openOrders", "all_open_orders": "allOpenOrders",
             "user_trades": "userTrades", "position_risk": "positionRisk", "account": "accountWithJoinMargin",
             "margin_type": "marginType", "listen_key": "listenKey", "position_mode": "positionSide/dual"}  # fmt: skip
V3_PATHS = {e: f"/fapi/v3/{_V3_NAMES.get(e, e)}" for e in ENDPOINTS}
V1_PATHS = {
    **{e: f"/fapi/v1/{_V3_NAMES.get(e, e)}" for e in ENDPOINTS},
    "balance": "/fapi/v2/balance",
    "position_risk": "/fapi/v2/positionRisk",
    "account": "/fapi/v4/account",
}

ASTER_V3 = FapiDialect(NAME, V3_PATHS, clock_errors=frozenset({NONCE_EXPIRED}), listen_key_signed=True)
ASTER_V1 = FapiDialect(NAME, V1_PATHS, clock_errors=frozenset({"-1021"}))
DIALECTS = {"v3": ASTER_V3, "v1": ASTER_V1}
