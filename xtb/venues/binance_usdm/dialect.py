"""What differs between venues that copy Binance USD-M's `/fapi` API (Binance itself, Aster): the venue
name, the path of each endpoint, which error codes mean our clock (or nonce) is off, and whether the
user-stream key needs a signature. The connector, REST wrapper and rate-limit keys read it; everything
else is shared code (docs/venues/aster.md lists what Aster changes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: every endpoint the connector uses, by the name the code asks for
ENDPOINTS = ("ping", "time", "exchange_info", "depth", "book_ticker", "premium_index", "order", "batch_orders",
             "open_orders", "all_open_orders", "user_trades", "income", "position_risk", "account", "balance",
             "leverage", "margin_type", "listen_key", "position_mode")  # fmt: skip

BINANCE_PATHS: Mapping[str, str] = {
    "ping": "/fapi/v1/ping",
    "time": "/fapi/v1/time",
    "exchange_info": "/fapi/v1/exchangeInfo",
    "depth": "/fapi/v1/depth",
    "book_ticker": "/fapi/v1/ticker/bookTicker",
    "premium_index": "/fapi/v1/premiumIndex",
    "order": "/fapi/v1/order",
    "batch_orders": "/fapi/v1/batchOrders",
    "open_orders": "/fapi/v1/openOrders",
    "all_open_orders": "/fapi/v1/allOpenOrders",
    "user_trades": "/fapi/v1/userTrades",
    "income": "/fapi/v1/income",
    "position_risk": "/fapi/v3/positionRisk",
    "account": "/fapi/v3/account",
    "balance": "/fapi/v3/balance",
    "leverage": "/fapi/v1/leverage",
    "margin_type": "/fapi/v1/marginType",
    "listen_key": "/fapi/v1/listenKey",
    "position_mode": "/fapi/v1/positionSide/dual",
}

#: rate-limit key of each endpoint (the pools of xtb.ratelimits.binance_usdm); others are "signed"
_LIMIT_KEYS: Mapping[tuple[str, str], str] = {
    ("POST", "order"): "order",
    ("POST", "batch_orders"): "batch_order",
    ("GET", "depth"): "depth",
    ("GET", "position_risk"): "private",
    ("GET", "account"): "private",
    ("GET", "balance"): "private",
    ("GET", "user_trades"): "private",
    ("GET", "income"): "income",
    ("GET", "open_orders"): "open_orders",
    ("GET", "position_mode"): "position_mode",
}
_PUBLIC = ("exchange_info", "time", "ping", "premium_index", "book_ticker")


@dataclass(frozen=True)
class FapiDialect:
    venue: str  # the core's venue name (tracker, books, decoder) and the log prefix
    paths: Mapping[str, str]
    #: codes that mean the request's time (or nonce) was refused: the clock offset is re-synced
    clock_errors: frozenset[str] = frozenset({"-1021"})
    #: the user-stream key endpoints need a signed request (Aster V3), not only the API key header
    listen_key_signed: bool = False
    _keys: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        missing = [e for e in ENDPOINTS if e not in self.paths]
        if missing:
            raise ValueError(f"{self.venue}: dialect has no path for {missing}")
        for (method, name), key in _LIMIT_KEYS.items():
            self._keys[(method, self.paths[name])] = key
        for name in _PUBLIC:
            for method in ("GET",):
                self._keys[(method, self.paths[name])] = "public"

    def path(self, endpoint: str) -> str:
        return self.paths[endpoint]

    def limit_key(self, method: str, path: str) -> tuple[str, int]:
        """The core limiter's key for a REST request (every signed endpoint not listed costs "signed")."""
        bare = path.split("?", 1)[0]
        key = self._keys.get((method, bare))
        if key is None and bare == self.paths["open_orders"]:
            key = "open_orders"
        return (key or "signed", 1)


BINANCE_USDM = FapiDialect("binance_usdm", BINANCE_PATHS)
