"""GRVT connector settings: environment profiles (hosts, EIP-712 chain id), the account, and every
UNCONFIRMED venue behaviour as an option (docs/venues/grvt.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from xtb.orders.reconcile import UNKNOWN_ORDER_POLICIES, UnknownOrderPolicy
from xtb.transport.keepalive_http import check_order_http
from xtb.venues.options import migrate_options


@dataclass(frozen=True)
class Endpoints:
    edge_url: str  # login
    trades_url: str  # private REST
    trades_ws_url: str  # private WS (cookie + account id on the upgrade)
    market_data_url: str  # public REST
    market_data_ws_url: str  # public WS
    chain_id: int  # EIP-712 domain chain id


PROFILES: Mapping[str, Endpoints] = {
    "mainnet": Endpoints("https://edge.grvt.io", "https://trades.grvt.io", "wss://trades.grvt.io/ws/full",
                         "https://market-data.grvt.io", "wss://market-data.grvt.io/ws/full", 325),
    "testnet": Endpoints("https://edge.testnet.grvt.io", "https://trades.testnet.grvt.io",
                         "wss://trades.testnet.grvt.io/ws/full", "https://market-data.testnet.grvt.io",
                         "wss://market-data.testnet.grvt.io/ws/full", 326),
}
_ENDPOINT_KEYS = {f.name for f in fields(Endpoints)}


@dataclass(frozen=True)
class GrvtConfig:
    endpoints: Endpoints
    sub_account_id: int
    #: instruments (venue names, e.g. "BTC_USDT_Perp") whose books are kept; empty = every active perpetual
    symbols: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)

    # --- session
    #: log in again when less than this much of the cookie's lifetime is left (the SDK uses 5 s)
    session_renew_before_s: float = 30.0
    #: the cookie lifetime when the login answer carries no `expires` (UNCONFIRMED lifetime)
    session_default_ttl_s: float = 3600.0

    # --- orders
    #: signature lifetime of each order (at most 30 days; the SDK default is 5 minutes)
    signature_expiration_s: float = 300.0
    #: how long a submit may wait for its answer before it is unresolved
    order_timeout_s: float = 10.0
    #: tracked orders quiet this long and not on the venue are looked up before being settled
    submit_window_s: float = 5.0
    #: how long a cancel waits for the order stream to report the order cancelled (the venue only acknowledges)
    cancel_confirm_s: float = 2.0
    #: orders per batch of signatures (GRVT's bulk endpoint is not used: one create_order per order)
    max_batch: int = 10

    # --- streams
    #: `v1.book.d` rate in ms (50, 100, 500 or 1000)
    book_rate_ms: int = 100
    trades: bool = False
    #: drop the socket when no frame arrived for this long (keepalive rules UNCONFIRMED)
    stale_after_s: float = 30.0

    #: a book still not live this long after its resubscribe drops the market socket (a fresh session)
    resync_timeout_s: float = 5.0
    book_check_interval_s: float = 0.1

    # --- limits (UNCONFIRMED: only the 429 codes 1006 and 2090 are documented)
    requests_per_second: float = 10.0
    reconcile_interval_s: float | None = 30.0
    unknown_order_policy: UnknownOrderPolicy = "cancel"

    # --- REST and lifecycle
    request_timeout_s: float = 10.0
    max_retries: int = 3
    #: rows per order/fill history page, and how many pages a look-up reads at most
    history_limit: int = 100
    history_max_pages: int = 20
    balance_poll_s: float = 10.0
    balance_decimals: int = 6  # the settlement currency's units (USDT, 6 decimals)
    cancel_all_on_stop: bool = False
    start_timeout_s: float = 20.0
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 10.0
    ring_capacity: int = 1 << 16
    #: order requests over the lean keep-alive client (`keepalive`) or `aiohttp`; connections opened at start
    order_http: str = "keepalive"
    order_connections: int = 2

    def __post_init__(self) -> None:
        if not 0 < self.signature_expiration_s <= 30 * 24 * 3600:
            raise ValueError(f"signature_expiration_s must be in (0, 2592000], got {self.signature_expiration_s}")
        if self.book_rate_ms not in (50, 100, 500, 1000):
            raise ValueError(f"book_rate_ms must be 50, 100, 500 or 1000, got {self.book_rate_ms}")
        if not 0 <= self.sub_account_id < 2**64:
            raise ValueError(f"sub_account_id must be a uint64, got {self.sub_account_id}")
        if self.session_renew_before_s < 0 or self.session_default_ttl_s <= self.session_renew_before_s:
            raise ValueError("session_default_ttl_s must exceed session_renew_before_s (both >= 0)")
        if not 1 <= self.history_limit <= 1000 or self.history_max_pages < 1:
            raise ValueError("history_limit must be in 1..1000 and history_max_pages >= 1")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        check_order_http("venues.grvt.options", {"order_http": self.order_http,
                                                 "order_connections": self.order_connections})
        if self.unknown_order_policy not in UNKNOWN_ORDER_POLICIES:
            known = ", ".join(UNKNOWN_ORDER_POLICIES)
            raise ValueError(f"unknown_order_policy must be one of {known}, got {self.unknown_order_policy!r}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None = None, *, sub_account_id: int | None = None,
                     profile: str | None = None) -> GrvtConfig:
        """A profile (mainnet/testnet) and/or explicit endpoint keys, plus options; unknown keys are refused
        by name."""
        opts = migrate_options("venues.grvt.options", options or {})
        profile = opts.pop("profile", profile)
        if profile is not None and profile not in PROFILES:
            raise ValueError(f"venues.grvt.options.profile must be one of {', '.join(PROFILES)}, got {profile!r}")
        given = {k: opts.pop(k) for k in list(opts) if k in _ENDPOINT_KEYS}
        base = PROFILES.get(profile or "")
        if base is None and set(given) != _ENDPOINT_KEYS:
            missing = ", ".join(sorted(_ENDPOINT_KEYS - set(given)))
            raise ValueError(f"venues.grvt.options: no profile given, so these are required: {missing}")
        values: dict[str, Any] = {k: given.get(k, getattr(base, k, None)) for k in _ENDPOINT_KEYS}
        endpoints = Endpoints(**values)
        sub = opts.pop("sub_account_id", sub_account_id)
        if sub is None:
            raise ValueError("venues.grvt.options.sub_account_id is required")
        known = {f.name for f in fields(cls)} - {"endpoints", "sub_account_id"}
        unknown = set(opts) - known
        if unknown:
            raise ValueError(f"unknown GRVT connector option(s): {', '.join(sorted(unknown))}")
        if "symbols" in opts:
            opts["symbols"] = tuple(opts["symbols"])
        return cls(endpoints=endpoints, sub_account_id=int(sub), **opts)
