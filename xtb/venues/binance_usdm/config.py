"""Binance USD-M connector options (`venues.binance_usdm.options`). UNCONFIRMED venue facts are options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from xtb.orders.reconcile import UnknownOrderPolicy
from xtb.transport.keepalive_http import check_order_http
from xtb.venues.options import migrate_options

SECTION = "venues.binance_usdm.options"

#: endpoint profiles (docs/venues/binance_usdm.md sections 6 and 9). Whether the testnet WebSocket hosts
#: use the /public, /market, /private routing is UNCONFIRMED: the testnet profile assumes they do.
PROFILES: dict[str, dict[str, str]] = {
    "mainnet": {
        "rest_url": "https://fapi.binance.com",
        "ws_public_url": "wss://fstream.binance.com/public",
        "ws_market_url": "wss://fstream.binance.com/market",
        "ws_private_url": "wss://fstream.binance.com/private",
        "ws_api_url": "wss://ws-fapi.binance.com/ws-fapi/v1",
    },
    "testnet": {
        "rest_url": "https://demo-fapi.binance.com",
        "ws_public_url": "wss://fstream.binancefuture.com/public",
        "ws_market_url": "wss://fstream.binancefuture.com/market",
        "ws_private_url": "wss://fstream.binancefuture.com/private",
        "ws_api_url": "wss://testnet.binancefuture.com/ws-fapi/v1",
    },
}
MARGIN_TYPES = ("CROSSED", "ISOLATED")


@dataclass
class BinanceConfig:
    # venues that copy Binance's API subclass this with their own section, profiles and extra checks
    section: ClassVar[str] = SECTION
    profiles: ClassVar[dict[str, dict[str, str]]] = PROFILES
    order_entries: ClassVar[tuple[str, ...]] = ("rest", "ws_api")

    profile: str = "mainnet"
    rest_url: str = ""  # empty: the profile's
    ws_public_url: str = ""  # depth and bookTicker
    ws_market_url: str = ""  # aggTrade, markPrice
    ws_private_url: str = ""  # the user data stream
    ws_api_url: str = ""  # the WebSocket API (order entry when order_entry is "ws_api")
    order_entry: str = "rest"  # "rest" (keep-alive HTTP) or "ws_api" (order.place / order.cancel)
    symbols: tuple[str, ...] = ()  # empty: every TRADING perpetual
    aliases: dict[str, str] = field(default_factory=dict)
    recv_window_ms: int = 5000
    request_timeout_s: float = 10.0
    order_timeout_s: float = 5.0  # a submit without an answer by then is unresolved
    max_retries: int = 3
    max_batch: int = 5  # the venue's batchOrders cap
    depth_speed: str = "100ms"  # @depth@100ms, @depth@500ms or "" (250 ms)
    snapshot_limit: int = 1000
    snapshot_retry_s: float = 0.2
    snapshot_attempts: int = 25
    stale_after_s: float | None = 30.0
    book_check_interval_s: float = 0.05
    reconcile_interval_s: float | None = 30.0
    submit_window_s: float = 10.0
    unknown_order_policy: UnknownOrderPolicy = "adopt"
    trades_limit: int = 1000  # userTrades rows per symbol read by reconciliation
    balance_poll_s: float = 10.0
    balance_decimals: int = 8
    cancel_all_on_stop: bool = False
    start_timeout_s: float = 20.0
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 10.0
    ring_capacity: int = 1 << 16
    trades: bool = False  # also subscribe aggTrade (order-flow strategies)
    # also subscribe <symbol>@markPrice: MarkPrice ring events (on_mark, journal, replay's recorded funding) and
    # the mark the PERCENT_PRICE band is checked around (without it flatten can walk a close out of the band)
    mark_price: bool = True
    mark_price_speed: str = "1s"  # "1s" or "" (the venue's 3 s default)
    listen_key_keepalive_s: float = 1800.0  # the venue's key lives 60 min; extended every 30 min
    # Account settings set at start and verified (never changed otherwise): leverage per symbol (an int
    # applies to every traded symbol) and the margin type; None leaves the venue's setting alone.
    leverage: int | dict[str, int] | None = None
    margin_type: str | None = None
    # Limits (docs/venues/binance_usdm.md section 4); the 10 s order limit is UNCONFIRMED.
    weight_per_minute: int = 2400
    orders_per_10s: int = 300
    orders_per_minute: int = 1200
    weight_headroom: int = 100  # the venue's weight count this close to the limit blocks until the minute turns
    weight_window_s: float = 60.0  # the window of X-MBX-USED-WEIGHT-1M (the venue's minute)
    ban_default_s: float = 120.0  # a 418 without Retry-After (UNCONFIRMED for futures) blocks this long
    order_http: str = "keepalive"
    order_connections: int = 2

    @classmethod
    def from_options(cls, options: dict[str, Any], **overrides: Any) -> Self:
        section = cls.section
        options = migrate_options(section, options)
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{section}: unknown keys {sorted(unknown)}")
        merged = {**options, **overrides}
        if "symbols" in merged:
            merged["symbols"] = tuple(merged["symbols"])
        profile = merged.get("profile", "mainnet")
        if profile not in cls.profiles:
            raise ValueError(f"{section}.profile: expected one of {', '.join(cls.profiles)}, got {profile!r}")
        for key, default in cls.profiles[profile].items():
            if not merged.get(key):
                merged[key] = default
        window = merged.get("recv_window_ms", 5000)
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 60_000:
            raise ValueError(f"{section}.recv_window_ms: expected an int in 1..60000, got {window!r}")
        batch = merged.get("max_batch", 5)
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 5:
            raise ValueError(f"{section}.max_batch: expected an int in 1..5 (the venue's cap), got {batch!r}")
        if merged.get("depth_speed", "100ms") not in ("100ms", "500ms", ""):
            raise ValueError(f"{section}.depth_speed: expected '100ms', '500ms' or ''")
        if merged.get("mark_price_speed", "1s") not in ("1s", ""):
            raise ValueError(f"{section}.mark_price_speed: expected '1s' or '' (3 s)")
        mt = merged.get("margin_type")
        if mt is not None and mt not in MARGIN_TYPES:
            raise ValueError(f"{section}.margin_type: expected one of {', '.join(MARGIN_TYPES)}, got {mt!r}")
        lev = merged.get("leverage")
        levs = lev.values() if isinstance(lev, dict) else [] if lev is None else [lev]
        for v in levs:
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 125:
                raise ValueError(f"{section}.leverage: expected an int in 1..125 (or a symbol -> int map), got {v!r}")
        if merged.get("order_entry", "rest") not in cls.order_entries:
            raise ValueError(f"{section}.order_entry: expected one of {', '.join(cls.order_entries)}, "
                             f"got {merged.get('order_entry')!r}")  # fmt: skip
        check_order_http(section, merged)
        cls.check(merged)
        return cls(**merged)

    @classmethod
    def check(cls, merged: dict[str, Any]) -> None:
        """A subclass's own checks of the merged options (ValueError naming `section.key`)."""

    def leverage_for(self, symbol: str) -> int | None:
        if isinstance(self.leverage, dict):
            return self.leverage.get(symbol)
        return self.leverage
