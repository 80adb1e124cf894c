"""Type stubs for xtb._core, the compiled core. Documented in docs/core_api.md."""

from collections.abc import Mapping, Sequence
from typing import ClassVar, Literal

__version__: str

# ---- numbers, order books, feed decoding, events, ring (market data) ----

# ---- rate limiter ----

# ---- order tracker and signers (orders) ----

class OrderTrackerError(ValueError):
    """A tracker call that would break an invariant (over-fill, reused client id, conflicting order id)."""

class Order:
    """Read-only snapshot of one tracked order."""

    @property
    def client_id(self) -> int: ...
    @property
    def venue(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> Literal["bid", "ask"]: ...
    @property
    def px(self) -> int: ...
    @property
    def sz(self) -> int: ...
    @property
    def post_only(self) -> bool: ...
    @property
    def reduce_only(self) -> bool: ...
    @property
    def time_in_force(self) -> Literal["GTC", "IOC", "FOK"]: ...
    @property
    def state(self) -> OrderStateName: ...
    @property
    def is_terminal(self) -> bool: ...
    @property
    def filled(self) -> int: ...
    @property
    def remaining(self) -> int: ...
    @property
    def avg_px(self) -> int: ...
    @property
    def order_id(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def trade_ids(self) -> list[int]: ...
    @property
    def created_ns(self) -> int: ...
    @property
    def acked_ns(self) -> int | None: ...
    @property
    def cancel_requested_ns(self) -> int | None: ...
    @property
    def updated_ns(self) -> int: ...

OrderStateName = Literal[
    "pending_new", "open", "partially_filled", "pending_cancel", "filled", "cancelled", "rejected",
    "expired", "unresolved",
]
TrackerEventName = Literal[
    "ack", "reject", "fill_partial", "fill_full", "cancel_requested", "cancel_rejected", "cancelled",
    "expired", "unresolved",
]
TrackerOutcome = Literal["applied", "duplicate", "stale", "illegal", "unknown_order"]

class OrderTracker:
    """One order-state machine for every venue, keyed by (venue, client_id)."""

    STATES: ClassVar[list[OrderStateName]]
    EVENTS: ClassVar[list[TrackerEventName]]

    def __init__(self, ring: EventRing | None = None, terminal_retention: int = 100_000) -> None: ...
    def submitted(
        self,
        client_id: int,
        venue: str,
        symbol: str,
        side: str,
        px: int,
        sz: int,
        *,
        post_only: bool = False,
        reduce_only: bool = False,
        time_in_force: str = "GTC",
        ts_ns: int | None = None,
    ) -> None: ...
    def on_ack(
        self, client_id: int, venue: str, order_id: str | None = None, *, ts_ns: int | None = None
    ) -> TrackerOutcome: ...
    def on_reject(
        self, client_id: int, venue: str, reason: str | None = None, *, ts_ns: int | None = None
    ) -> TrackerOutcome: ...
    def on_fill(
        self,
        client_id: int,
        venue: str,
        trade_id: int,
        px: int,
        sz: int,
        *,
        maker: bool = False,
        fee: int = 0,
        cum_filled: int | None = None,
        order_id: str | None = None,
        ts_ns: int | None = None,
    ) -> TrackerOutcome: ...
    def on_cancel_requested(
        self, client_id: int, venue: str, *, ts_ns: int | None = None
    ) -> TrackerOutcome: ...
    def on_cancel_rejected(
        self, client_id: int, venue: str, reason: str | None = None, *, ts_ns: int | None = None
    ) -> TrackerOutcome: ...
    def on_cancel(
        self, client_id: int, venue: str, reason: str | None = None, *, ts_ns: int | None = None
    ) -> TrackerOutcome: ...
    def on_expire(
        self, client_id: int, venue: str, reason: str | None = None, *, ts_ns: int | None = None
    ) -> TrackerOutcome: ...
    def on_unresolved(
        self, client_id: int, venue: str, reason: str | None = None, *, ts_ns: int | None = None
    ) -> TrackerOutcome: ...
    def on_venue_state(
        self,
        client_id: int,
        venue: str,
        state: str,
        filled: int,
        *,
        avg_px: int | None = None,
        order_id: str | None = None,
        reason: str | None = None,
        ts_ns: int | None = None,
    ) -> TrackerOutcome: ...
    def get(self, client_id: int, venue: str) -> Order | None: ...
    def get_by_order_id(self, venue: str, order_id: str) -> Order | None: ...
    def open_orders(self, venue: str | None = None, symbol: str | None = None) -> list[Order]: ...
    def unresolved(self) -> list[Order]: ...
    def prune_terminal(self, keep: int) -> int: ...
    @property
    def terminal_retention(self) -> int: ...
    def __len__(self) -> int: ...
    @staticmethod
    def transition(state: str, event: str) -> str: ...

# Values: str (decimal strings as given), int, bool; None values are left out. Others raise TypeError.
BackpackParams = Mapping[str, object]

class BackpackSigner:
    """ED25519 signer for Backpack REST requests and private WebSocket subscriptions."""

    def __init__(self, secret_b64: str, broker_id: int | None = None) -> None: ...
    @property
    def public_key_b64(self) -> str: ...
    @property
    def broker_id(self) -> int | None: ...
    def signing_string(
        self,
        instruction: str,
        params: BackpackParams | None = None,
        timestamp_ms: int | None = None,
        window_ms: int = 5000,
    ) -> str: ...
    def batch_signing_string(
        self, orders: Sequence[BackpackParams], timestamp_ms: int | None = None, window_ms: int = 5000
    ) -> str: ...
    def sign(
        self,
        instruction: str,
        params: BackpackParams | None = None,
        timestamp_ms: int | None = None,
        window_ms: int = 5000,
    ) -> dict[str, str]: ...
    def sign_batch(
        self, orders: Sequence[BackpackParams], timestamp_ms: int | None = None, window_ms: int = 5000
    ) -> dict[str, str]: ...
    def order(
        self, params: BackpackParams, timestamp_ms: int | None = None, window_ms: int = 5000
    ) -> tuple[dict[str, str], bytes]: ...
    def orders(
        self, orders: Sequence[BackpackParams], timestamp_ms: int | None = None, window_ms: int = 5000
    ) -> tuple[dict[str, str], bytes]: ...
    def cancel(
        self, params: BackpackParams, timestamp_ms: int | None = None, window_ms: int = 5000
    ) -> tuple[dict[str, str], bytes]: ...
    def cancel_all(
        self, params: BackpackParams, timestamp_ms: int | None = None, window_ms: int = 5000
    ) -> tuple[dict[str, str], bytes]: ...
    def query(
        self,
        path: str,
        params: BackpackParams | None = None,
        timestamp_ms: int | None = None,
        window_ms: int = 5000,
    ) -> tuple[dict[str, str], str]: ...
    def subscribe_signature(self, timestamp_ms: int | None = None, window_ms: int = 5000) -> list[str]: ...
    def subscribe_frame(
        self, streams: Sequence[str], timestamp_ms: int | None = None, window_ms: int = 5000
    ) -> bytes: ...
