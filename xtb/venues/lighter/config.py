"""Lighter connector settings: endpoints, account, and every UNCONFIRMED venue behaviour as an option.

Defaults follow docs/venues/lighter.md; venue behaviour the public docs leave open (UNCONFIRMED) is an
option here, listed in docs/venues/lighter.md, so a deployment can change it without a code change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from xtb.orders.reconcile import UNKNOWN_ORDER_POLICIES, UnknownOrderPolicy
from xtb.transport.keepalive_http import check_order_http
from xtb.venues.options import migrate_options

PROFILES: Mapping[str, tuple[str, str, int]] = {
    "mainnet": ("https://mainnet.zklighter.elliot.ai", "wss://mainnet.zklighter.elliot.ai/stream", 304),
    "testnet": ("https://testnet.zklighter.elliot.ai", "wss://testnet.zklighter.elliot.ai/stream", 300),
}

@dataclass(frozen=True)
class LighterConfig:
    rest_url: str
    ws_url: str
    chain_id: int
    account_index: int
    api_key_index: int
    #: markets (venue symbols, e.g. "ETH") whose books are kept; empty = every active perp market
    symbols: tuple[str, ...] = ()
    #: symbol -> canonical base overrides for xtb.venues.symbols (new listings need no code change)
    aliases: Mapping[str, str] = field(default_factory=dict)

    # --- transactions
    #: who signs: "native" (the core's Poseidon2/Schnorr signer, cross-checked against the Go library in
    #: the test suite) or "go" (the lighter-sdk wheel's Go library; the fallback)
    signer: str = "native"
    #: native signer: nonce commitments kept precomputed on a background thread (0: none)
    nonce_pool: int = 256
    #: orders per sendTxBatch: the docs and error 21514 say 50, ccxt and another client use 15 (UNCONFIRMED)
    max_batch: int = 15
    #: send txs over the WebSocket (jsonapi/sendtx) when its socket is up; REST otherwise
    ws_tx: bool = True
    #: how long a tx may wait for its answer before it is unresolved (reconciled by client id)
    order_timeout_s: float = 10.0
    #: order expiry for resting orders, ms from now; -1 lets the signer stamp its default (28 days)
    order_expiry_ms: int = -1
    #: market orders without a worst price use the top of book moved by this many basis points
    market_slippage_bps: int = 50
    #: re-sign and resend after `invalid nonce` (the tx was not applied) at most this many times; one
    #: rejected tx in a pipeline makes every later tx already on the wire fail with `invalid nonce`
    nonce_retries: int = 8
    #: the optional `price_protection` form field on sendTx (meaning and default UNCONFIRMED); None = omit
    price_protection: bool | None = None

    # --- streams
    #: private channels; `account_all` (no auth per the docs example) is the alternative (UNCONFIRMED)
    private_channels: tuple[str, ...] = ("account_all_orders", "account_all_trades", "account_all_positions")
    #: also subscribe the public `trade/{m}` prints of every kept market (order-flow strategies)
    trades: bool = False
    #: auth token lifetime (max 8 h documented) and how long before expiry a fresh one is made
    auth_ttl_s: int = 3600
    auth_refresh_before_s: int = 600
    #: drop the socket when no frame arrived for this long (the server ping interval is UNCONFIRMED)
    stale_after_s: float = 45.0
    #: send our own {"type":"ping"} this often (a third-party doc asks for a client frame every 2 min)
    client_ping_interval_s: float | None = 20.0
    #: a book with no update for this long is marked stale and resubscribed (None: off; quiet markets
    #: are legitimately silent on Lighter, whose deltas only carry changes)
    book_stale_after_s: float | None = None
    #: a resubscribed book with no fresh snapshot after this long makes the connector reconnect
    resync_timeout_s: float = 5.0
    reconnect_backoff_initial_s: float = 0.25
    reconnect_backoff_max_s: float = 30.0

    #: after one of our fills, wait this long for the stream's position update; without one, read the
    #: positions over REST and publish what changed (the stream may leave a market out once it is flat:
    #: UNCONFIRMED). None = off
    position_check_delay_s: float | None = 0.5

    # --- reconciliation
    reconcile_interval_s: float | None = 30.0
    #: the submit window: a live order is only concluded "not at the venue" once its last update is older
    #: than this (speed bumps, latency); never acknowledged -> rejected, acknowledged -> cancelled
    submit_window_s: float = 3.0
    #: venue orders of our account that we do not track: adopt them, cancel them, or leave them
    unknown_order_policy: UnknownOrderPolicy = "adopt"
    #: look orders up by client id with GET accountOrders (SDK endpoint; not served by every deployment)
    lookup_by_client_id: bool = True
    #: rows per history page (accountOrders ids per request, accountInactiveOrders, account trades; the
    #: venue serves at most 100) and the most pages one lookup reads
    history_limit: int = 100
    history_max_pages: int = 10  # the account trades weigh 600 each: 10 pages are a quarter of a premium minute

    # --- REST
    rest_timeout_s: float = 10.0
    rest_max_retries: int = 3
    #: sendTx/sendTxBatch over REST through the lean keep-alive client (xtb/transport/keepalive_http.py) or
    #: aiohttp; connections opened at start
    order_http: str = "keepalive"
    order_connections: int = 2
    #: rate-limit tier for the ratelimits.lighter preset when the connector builds its own limiter
    tier: str = "premium"

    def __post_init__(self) -> None:
        if self.signer not in ("native", "go"):
            raise ValueError(f"signer must be native or go, got {self.signer!r}")
        if not 0 <= self.nonce_pool <= 65_536:
            raise ValueError(f"nonce_pool must be 0..65536, got {self.nonce_pool}")
        if not 1 <= self.max_batch <= 50:
            raise ValueError(f"max_batch must be 1..50, got {self.max_batch}")
        if not 0 <= self.api_key_index <= 254:
            raise ValueError(f"api_key_index must be 0..254, got {self.api_key_index}")
        if self.account_index < 1:
            raise ValueError(f"account_index must be >= 1, got {self.account_index}")
        if self.unknown_order_policy not in UNKNOWN_ORDER_POLICIES:
            raise ValueError(f"unknown_order_policy must be adopt, cancel or ignore, got {self.unknown_order_policy!r}")
        if not 60 <= self.auth_ttl_s <= 8 * 3600:
            raise ValueError(f"auth_ttl_s must be 60..28800 (8 h documented maximum), got {self.auth_ttl_s}")
        if not 0 <= self.auth_refresh_before_s < self.auth_ttl_s:
            raise ValueError("auth_refresh_before_s must be >= 0 and below auth_ttl_s")
        for name in ("order_timeout_s", "stale_after_s", "resync_timeout_s", "rest_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        check_order_http("venues.lighter.options", {"order_http": self.order_http,
                                                    "order_connections": self.order_connections})
        bad = set(self.private_channels) - {
            "account_all", "account_all_orders", "account_all_trades", "account_all_positions"
        }
        if bad:
            raise ValueError(f"private_channels: unsupported {sorted(bad)}")

    @classmethod
    def from_options(
        cls,
        options: Mapping[str, Any] | None = None,
        *,
        account_index: int,
        api_key_index: int,
        profile: str | None = None,
        rest_url: str | None = None,
        ws_url: str | None = None,
        chain_id: int | None = None,
        symbols: tuple[str, ...] | list[str] = (),
    ) -> LighterConfig:
        """Build from a venue config section: a profile (mainnet/testnet) or explicit URLs, plus options.

        `options` may itself carry `profile`, `rest_url`, `ws_url`, `chain_id` and `symbols` (they win over
        the keyword arguments). Unknown option names raise ValueError naming them.
        """
        opts = migrate_options("venues.lighter.options", options or {})
        profile = opts.pop("profile", profile)
        rest_url = opts.pop("rest_url", None) or rest_url
        ws_url = opts.pop("ws_url", None) or ws_url
        chain_id = opts.pop("chain_id", None) or chain_id
        if profile is not None and profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
        base_rest, base_ws, base_chain = PROFILES.get(profile or "", (None, None, None))
        rest = rest_url or base_rest
        ws = ws_url or base_ws
        chain = chain_id or base_chain
        if rest is None or ws is None or chain is None:
            raise ValueError("rest_url, ws_url and chain_id are required when no profile is given")
        known = {f.name for f in fields(cls)}
        unknown = set(opts) - known
        if unknown:
            raise ValueError(f"unknown Lighter connector option(s): {', '.join(sorted(unknown))}")
        for key in ("symbols", "private_channels"):
            if key in opts:
                opts[key] = tuple(opts[key])
        if symbols and "symbols" not in opts:
            opts["symbols"] = tuple(symbols)
        return cls(rest_url=rest, ws_url=ws, chain_id=chain, account_index=account_index,
                   api_key_index=api_key_index, **opts)
