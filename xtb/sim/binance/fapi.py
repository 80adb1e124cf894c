"""What the simulator's `/fapi` front-end serves per venue that speaks Binance USD-M's API (a `FapiDialect`):
the paths of each API generation with its authentication, the WebSocket layout and whether the WebSocket API
exists. Not to be confused with the simulator registry's dialects (xtb/sim/dialects.py): Binance's and Aster's
registry dialects both open a `BinanceServer` with one of these.

The path tables are the simulator's own (not the connector's): a typo on either side shows up as a failing
request instead of agreeing with itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: the endpoints the front-end serves; a generation may give several paths for one (v2 and v3 aliases)
ENDPOINTS = ("ping", "time", "exchange_info", "depth", "book_ticker", "premium_index", "order", "batch_orders",
             "all_open_orders", "open_orders", "position_risk", "account", "balance", "user_trades", "income",
             "leverage", "margin_type", "algo_order", "listen_key", "position_mode")  # fmt: skip
PUBLIC = frozenset({"ping", "time", "exchange_info", "depth", "book_ticker", "premium_index"})


@dataclass(frozen=True)
class Generation:
    """One API generation: `auth` "hmac" (API key header + HMAC-SHA256, timestamp/recvWindow) or "eip712"
    (Aster V3: user/signer/nonce and an EIP-712 signature by an approved agent)."""

    auth: str
    paths: Mapping[str, str | tuple[str, ...]]

    def __post_init__(self) -> None:
        if self.auth not in ("hmac", "eip712"):
            raise ValueError(f"auth must be 'hmac' or 'eip712', got {self.auth!r}")

    def routes(self) -> list[tuple[str, str]]:
        """(endpoint, path) for every path served."""
        out = []
        for endpoint, paths in self.paths.items():
            for p in (paths,) if isinstance(paths, str) else paths:
                out.append((endpoint, p))
        return out


@dataclass(frozen=True)
class FapiDialect:
    name: str  # the venue name (fault plans, connection ids)
    generations: tuple[Generation, ...]
    ws_layout: str = "routed"  # "routed": /public, /market, /private hosts; "legacy": /ws and /stream
    ws_api: bool = True  # the WebSocket API at /ws-fapi/v1
    chain_id: int = 0  # EIP-712 chainId the eip712 generation verifies against
    nonce_window_us: int = 10_000_000  # eip712: a nonce this far from the server clock is refused
    nonce_memory: int = 100  # eip712: the last N nonces per user are remembered
    require_user: bool = False  # eip712: refuse requests without `user` (UNCONFIRMED on the venue)


BINANCE_USDM = FapiDialect("binance_usdm", (Generation("hmac", {
    "ping": "/fapi/v1/ping", "time": "/fapi/v1/time", "exchange_info": "/fapi/v1/exchangeInfo",
    "depth": "/fapi/v1/depth", "book_ticker": "/fapi/v1/ticker/bookTicker", "premium_index": "/fapi/v1/premiumIndex",
    "order": "/fapi/v1/order", "batch_orders": "/fapi/v1/batchOrders", "all_open_orders": "/fapi/v1/allOpenOrders",
    "open_orders": "/fapi/v1/openOrders", "position_risk": ("/fapi/v3/positionRisk", "/fapi/v2/positionRisk"),
    "account": ("/fapi/v3/account", "/fapi/v2/account"), "balance": ("/fapi/v3/balance", "/fapi/v2/balance"),
    "user_trades": "/fapi/v1/userTrades", "income": "/fapi/v1/income", "leverage": "/fapi/v1/leverage",
    "margin_type": "/fapi/v1/marginType", "algo_order": "/fapi/v1/algoOrder", "listen_key": "/fapi/v1/listenKey",
    "position_mode": "/fapi/v1/positionSide/dual",
}),))  # fmt: skip

_ASTER_NAMES = {"exchange_info": "exchangeInfo", "book_ticker": "ticker/bookTicker", "premium_index": "premiumIndex",
                "batch_orders": "batchOrders", "all_open_orders": "allOpenOrders", "open_orders": "openOrders",
                "position_risk": "positionRisk", "user_trades": "userTrades", "margin_type": "marginType",
                "algo_order": "algoOrder", "listen_key": "listenKey", "position_mode": "positionSide/dual"}  # fmt: skip
ASTER_V3 = Generation("eip712", {**{e: f"/fapi/v3/{_ASTER_NAMES.get(e, e)}" for e in ENDPOINTS},
                                 "account": ("/fapi/v3/accountWithJoinMargin", "/fapi/v3/account")})  # fmt: skip
ASTER_V1 = Generation("hmac", {**{e: f"/fapi/v1/{_ASTER_NAMES.get(e, e)}" for e in ENDPOINTS},
                               "balance": "/fapi/v2/balance", "position_risk": "/fapi/v2/positionRisk",
                               "account": "/fapi/v4/account"})  # fmt: skip


def aster(chain_id: int = 1666, *, require_user: bool = False) -> FapiDialect:
    """Aster: V3 (EIP-712 agents) and V1 (HMAC) side by side, one WebSocket host in the legacy layout."""
    return FapiDialect("aster", (ASTER_V3, ASTER_V1), ws_layout="legacy", ws_api=False, chain_id=chain_id,
                      require_user=require_user)  # fmt: skip
