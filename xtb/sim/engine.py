"""The simulated venue: order validation, price-time matching, accounts and the event stream.

`Exchange` is one venue (its markets, accounts and books). Protocol servers translate their wire format to
calls on it and subscribe to its events; the market-data generator is just another set of accounts on it.

Events: `subscribe(listener)` registers a callable that receives every `Event` (see `xtb.sim.types`),
synchronously, after the operation that caused it has completed (so a listener sees a consistent
state and may call back into the exchange; those calls' events are delivered after the current batch).
Order of events within one operation: OrderEvent(ACCEPTED) of the new order, then per match FillEvent
(maker), FillEvent (taker), TradeEvent, maker/taker OrderEvent(FILL), then terminal OrderEvents, then one
PositionEvent per touched (account, market), one BalanceEvent per touched account, and finally one BookDelta
per touched market with its per-market `seq`.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Iterable

from xtb.sim.accounts import Account, MarginModel, Position, fee_for, funding_for
from xtb.sim.book import Book, BookSide
from xtb.sim.clock import Clock, RealClock
from xtb.sim.order import RestingOrder
from xtb.sim.types import (
    PPM,
    AccountConfig,
    BalanceEvent,
    BalanceView,
    BookDelta,
    BookLevel,
    BookSnapshot,
    ErrorCode,
    Event,
    Fill,
    FillEvent,
    FundingEvent,
    MarketSpec,
    MarkPriceEvent,
    OrderEvent,
    OrderEventKind,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderView,
    PositionEvent,
    PositionView,
    Reason,
    ReduceOnlyMode,
    RefusalStyle,
    SelfTradeMode,
    Side,
    SimError,
    TimeInForce,
    TradeEvent,
    VenueRules,
)

Listener = Callable[[Event], None]


class _MarketState:
    __slots__ = (
        "book",
        "dirty_asks",
        "dirty_bids",
        "fixed_funding_ppm",
        "index",
        "last_trade",
        "mark",
        "next_funding_ns",
        "open_count",
        "scale",
        "seq",
        "spec",
    )

    def __init__(self, spec: MarketSpec, scale: int, now: int) -> None:
        self.spec = spec
        self.scale = scale
        self.book = Book()
        self.seq = 0
        self.last_trade: int | None = None
        self.mark: int | None = None
        self.index: int | None = None
        self.fixed_funding_ppm: int | None = None
        interval = spec.funding_interval_ns
        self.next_funding_ns = (now // interval + 1) * interval if interval > 0 else 0
        self.dirty_bids: set[int] = set()
        self.dirty_asks: set[int] = set()
        self.open_count: dict[int, int] = {}  # account -> open orders in this market


class _AccountBook:
    """Per-account order bookkeeping: open orders by id and client id, bounded closed history."""

    __slots__ = ("account", "by_client", "history", "open")

    def __init__(self, account: Account) -> None:
        self.account = account
        self.open: dict[int, RestingOrder] = {}
        self.by_client: dict[tuple[int, int], RestingOrder] = {}  # (market, client_id) -> open order
        self.history: OrderedDict[int, RestingOrder] = OrderedDict()


class Exchange:
    """One simulated venue. All public methods are synchronous and atomic: a refused request raises
    `SimError` and changes nothing."""

    def __init__(self, rules: VenueRules | None = None, clock: Clock | None = None) -> None:
        self.rules = rules or VenueRules()
        self.clock: Clock = clock or RealClock()
        self._markets: dict[int, _MarketState] = {}
        self._by_symbol: dict[str, int] = {}
        self._specs: dict[int, MarketSpec] = {}
        self._scales: dict[int, int] = {}
        self._accounts: dict[int, _AccountBook] = {}
        self._orders: dict[int, RestingOrder] = {}  # every open order
        self._margin = MarginModel(self._specs, self._scales, self.rules.default_leverage)
        self._next_order_id = self.rules.first_order_id
        self._next_trade_id = 1
        self._next_account_id = 1
        self._expiries: list[tuple[int, int]] = []  # heap of (expiry_ns, order_id)
        self._listeners: list[Listener] = []
        self._pending: list[Event] = []
        self._dispatching = False
        self._touched_positions: dict[tuple[int, int], None] = {}
        self._touched_accounts: dict[int, None] = {}
        self._dirty_markets: dict[int, _MarketState] = {}  # markets with level changes not yet sent
        self.fees_collected = 0  # cash units; the venue's side of every fee
        self.funding_residual = 0  # rounding of funding payments, kept so totals balance exactly

    # ------------------------------------------------------------------ markets

    def add_market(self, spec: MarketSpec) -> None:
        """Register a market. Raises ValueError on a duplicate id/symbol or inconsistent scales."""
        if spec.market_id in self._markets or spec.symbol in self._by_symbol:
            raise ValueError(f"market {spec.market_id}/{spec.symbol} already exists")
        extra = self.rules.cash_decimals - spec.price_decimals - spec.size_decimals
        if extra < 0:
            raise ValueError(
                f"market {spec.symbol}: price_decimals + size_decimals exceeds cash_decimals "
                f"{self.rules.cash_decimals}"
            )
        if spec.tick <= 0 or spec.step <= 0 or spec.min_quantity <= 0:
            raise ValueError(f"market {spec.symbol}: tick, step and min_quantity must be positive")
        scale = 10**extra
        self._markets[spec.market_id] = _MarketState(spec, scale, self.clock.now_ns())
        self._by_symbol[spec.symbol] = spec.market_id
        self._specs[spec.market_id] = spec
        self._scales[spec.market_id] = scale

    def market(self, market: int) -> MarketSpec:
        return self._market(market).spec

    def market_by_symbol(self, symbol: str) -> MarketSpec:
        market = self._by_symbol.get(symbol)
        if market is None:
            raise SimError(ErrorCode.UNKNOWN_MARKET, f"unknown symbol {symbol!r}", "symbol")
        return self._specs[market]

    @property
    def markets(self) -> tuple[MarketSpec, ...]:
        return tuple(self._specs.values())

    def cash_scale(self, market: int) -> int:
        """Cash units per (price unit x quantity unit) in `market`."""
        return self._market(market).scale

    # ------------------------------------------------------------------ accounts

    def create_account(
        self, collateral: int = 0, account: int | None = None, config: AccountConfig | None = None
    ) -> int:
        """Open an account holding `collateral` cash units; returns its id (given or allocated)."""
        if account is None:
            while self._next_account_id in self._accounts:
                self._next_account_id += 1
            account = self._next_account_id
        elif account in self._accounts:
            raise ValueError(f"account {account} already exists")
        acct = Account(account, config or AccountConfig(), cash=collateral)
        self._accounts[account] = _AccountBook(acct)
        return account

    def deposit(self, account: int, amount: int) -> BalanceView:
        """Add (or, negative, withdraw) cash. A withdrawal may not leave available margin negative."""
        book = self._account(account)
        if amount < 0:
            if self.balance(account).available + amount < 0:
                raise SimError(ErrorCode.INSUFFICIENT_MARGIN, "withdrawal exceeds available margin", "amount")
        book.account.cash += amount
        self._touched_accounts[account] = None
        self._flush()
        return self.balance(account)

    def accounts(self) -> list[int]:
        return list(self._accounts)

    def account_config(self, account: int) -> AccountConfig:
        return self._account(account).account.config

    def balance(self, account: int) -> BalanceView:
        return self._margin.balance(self._account(account).account, self._marks())

    def position(self, account: int, market: int) -> PositionView:
        acct = self._account(account).account
        return self._margin.position_view(acct, market, self._mark_of(self._market(market)))

    def positions(self, account: int) -> list[PositionView]:
        """Positions with a non-zero size."""
        acct = self._account(account).account
        return [
            self._margin.position_view(acct, m, self._mark_of(self._markets[m]))
            for m, p in acct.positions.items()
            if p.size
        ]

    def fees_paid(self, account: int) -> int:
        return self._account(account).account.fees_paid

    # ------------------------------------------------------------------ orders

    def place_order(self, req: OrderRequest) -> OrderView:
        """Validate, match and (GTC limit) rest an order. Returns its state after immediate matching.
        Raises SimError (nothing changed) when refused."""
        try:
            return self._place(req)
        finally:
            self._flush()

    def place_orders(self, reqs: Iterable[OrderRequest]) -> list[OrderView | SimError]:
        """Batch: each order independently, in order; a refusal does not stop the rest."""
        out: list[OrderView | SimError] = []
        try:
            for req in reqs:
                try:
                    out.append(self._place(req))
                except SimError as err:
                    out.append(err)
        finally:
            self._flush()
        return out

    def cancel_order(
        self, account: int, market: int, order_id: int | None = None, client_id: int | None = None
    ) -> OrderView:
        """Cancel one open order by exactly one of order id / client id."""
        try:
            order = self._find_open(account, market, order_id, client_id)
            self._close(order, OrderStatus.CANCELLED, Reason.USER_CANCEL)
            return order.view()
        finally:
            self._flush()

    def cancel_all(
        self, account: int, market: int | None = None, reason: Reason = Reason.CANCEL_ALL
    ) -> list[OrderView]:
        """Cancel every open order of `account` (in `market` if given), oldest first."""
        book = self._account(account)
        if market is not None:
            self._market(market)
        try:
            victims = [o for o in book.open.values() if market is None or o.market == market]
            for order in victims:
                self._close(order, OrderStatus.CANCELLED, reason)
            return [o.view() for o in victims]
        finally:
            self._flush()

    def modify_order(
        self, account: int, market: int, order_id: int, quantity: int | None = None, price: int | None = None
    ) -> OrderView:
        """Change an open limit order's remaining quantity and/or price (Lighter ModifyOrder). The order
        keeps its id; it keeps time priority only if the price is unchanged and the quantity not raised.
        A new price that crosses matches at once (post-only orders are refused instead)."""
        try:
            order = self._find_open(account, market, order_id, None)
            ms = self._markets[market]
            spec = ms.spec
            new_remaining = order.quantity - order.filled if quantity is None else quantity
            new_price = order.price if price is None else price
            assert new_price is not None
            if new_remaining <= 0:
                raise SimError(ErrorCode.INVALID_QUANTITY, "quantity must be positive", "quantity")
            self._check_quantity(spec, new_remaining)
            self._check_price(ms, new_price)
            side = ms.book.bids if order.side is Side.BUY else ms.book.asks
            same_price = new_price == order.price
            if same_price and new_remaining <= order.quantity - order.filled:
                self._release_exposure(order)
                side.reduce(order, order.quantity - order.filled - new_remaining)
                order.quantity = order.filled + new_remaining
                self._add_exposure(order)
                self._mark_dirty(ms, order.side, new_price)
            else:
                opposite = ms.book.asks if order.side is Side.BUY else ms.book.bids
                if order.post_only and self._crosses(order.side, new_price, opposite.best_price()):
                    raise SimError(ErrorCode.POST_ONLY_WOULD_CROSS, "modified price would cross", "price")
                self._release_exposure(order)
                self._unrest(order, ms)
                order.price = new_price
                order.quantity = order.filled + new_remaining
                self._match(order, ms)
                if order.status.is_open:
                    self._rest(order, ms)
            order.updated_ns = self.clock.now_ns()
            self._emit_order(order, OrderEventKind.MODIFIED)
            return order.view()
        finally:
            self._flush()

    def get_order(
        self, account: int, market: int, order_id: int | None = None, client_id: int | None = None
    ) -> OrderView:
        """An open order, or a recently closed one (bounded history). Raises ORDER_NOT_FOUND."""
        book = self._account(account)
        self._market(market)
        self._one_id(order_id, client_id)
        if order_id is not None:
            order = book.open.get(order_id) or book.history.get(order_id)
            if order is None or order.market != market:
                raise SimError(ErrorCode.ORDER_NOT_FOUND, f"order {order_id} not found", "order_id")
            return order.view()
        assert client_id is not None
        found = book.by_client.get((market, client_id))
        if found is None:
            for old in reversed(book.history.values()):
                if old.market == market and old.client_id == client_id:
                    found = old
                    break
        if found is None:
            raise SimError(ErrorCode.ORDER_NOT_FOUND, f"client id {client_id} not found", "client_id")
        return found.view()

    def open_orders(self, account: int, market: int | None = None) -> list[OrderView]:
        return [
            o.view() for o in self._account(account).open.values() if market is None or o.market == market
        ]

    def order_history(self, account: int, market: int | None = None) -> list[OrderView]:
        """Closed orders, oldest first, at most `VenueRules.history_per_account`."""
        return [
            o.view() for o in self._account(account).history.values() if market is None or o.market == market
        ]

    def set_cancel_on_disconnect(self, account: int, enabled: bool) -> None:
        self._account(account).account.config.cancel_on_disconnect = enabled

    def on_disconnect(self, account: int) -> list[OrderView]:
        """Hook for the protocol servers: the account's last session dropped. Cancels its open orders if
        its `cancel_on_disconnect` is set; returns what was cancelled."""
        if not self._account(account).account.config.cancel_on_disconnect:
            return []
        return self.cancel_all(account, None, Reason.DISCONNECT)

    # ------------------------------------------------------------------ market data

    def book_snapshot(self, market: int, depth: int | None = None) -> BookSnapshot:
        ms = self._market(market)
        return BookSnapshot(
            market, ms.seq, _levels(ms.book.bids, depth), _levels(ms.book.asks, depth), self.clock.now_ns()
        )

    def book_orders(self, market: int, depth: int | None = None) -> tuple[list[OrderView], list[OrderView]]:
        """Resting orders (L3), best first and in time priority within a level: (bids, asks)."""
        ms = self._market(market)
        return _orders(ms.book.bids, depth), _orders(ms.book.asks, depth)

    def best_bid_ask(self, market: int) -> tuple[int | None, int | None]:
        book = self._market(market).book
        return book.bids.best_price(), book.asks.best_price()

    def book_seq(self, market: int) -> int:
        return self._market(market).seq

    def last_trade_price(self, market: int) -> int | None:
        return self._market(market).last_trade

    def mark_price(self, market: int) -> int | None:
        return self._mark_of(self._market(market))

    def index_price(self, market: int) -> int | None:
        return self._market(market).index

    def set_mark_price(self, market: int, mark: int, index: int | None = None) -> None:
        """Set the mark (and index) price used for PnL, margin, funding and mark-band checks."""
        ms = self._market(market)
        if mark <= 0 or (index is not None and index <= 0):
            raise SimError(ErrorCode.INVALID_PRICE, "mark and index must be positive", "mark")
        ms.mark = mark
        ms.index = index if index is not None else (ms.index or mark)
        if self._listeners:
            self._pending.append(
                MarkPriceEvent(
                    market, mark, ms.index, self.funding_rate(market), ms.next_funding_ns, self.clock.now_ns()
                )
            )
        self._flush()

    def set_funding_rate(self, market: int, rate_ppm: int | None) -> None:
        """Fix the funding rate per interval (ppm); None: premium-based, (mark - index) / index, clamped."""
        self._market(market).fixed_funding_ppm = rate_ppm

    def funding_rate(self, market: int) -> int:
        ms = self._market(market)
        cap = ms.spec.funding_rate_cap_ppm
        if ms.fixed_funding_ppm is not None:
            rate = ms.fixed_funding_ppm
        elif ms.mark is None or not ms.index:
            rate = 0
        else:
            rate = (ms.mark - ms.index) * PPM // ms.index
        return max(-cap, min(cap, rate))

    def next_funding_ns(self, market: int) -> int:
        return self._market(market).next_funding_ns

    def settle_funding(self, market: int, rate_ppm: int | None = None, *, rate_scale: int = PPM) -> int:
        """Pay funding now at `rate_ppm` (default: `funding_rate`), in units of 1/rate_scale (ppm unless given).
        Returns the total paid by longs."""
        ms = self._market(market)
        rate = self.funding_rate(market) if rate_ppm is None else rate_ppm
        mark = self._mark_of(ms)
        if mark is None or rate == 0:
            return 0
        now = self.clock.now_ns()
        total = 0
        paid_by_longs = 0
        for book in self._accounts.values():
            acct = book.account
            pos = acct.positions.get(market)
            if pos is None or pos.size == 0:
                continue
            amount = funding_for(pos.size, mark, ms.scale, rate, rate_scale)
            acct.cash -= amount
            acct.funding_paid += amount
            pos.funding_paid += amount
            total += amount
            if pos.size > 0:
                paid_by_longs += amount
            self._touched_positions[(acct.account_id, market)] = None
            self._touched_accounts[acct.account_id] = None
            if self._listeners:
                self._pending.append(
                    FundingEvent(acct.account_id, market, rate * PPM // rate_scale, amount, pos.size, mark, now))
        self.funding_residual += total
        self._flush()
        return paid_by_longs

    def poll_timers(self) -> None:
        """Run what is due at the clock's current time: funding settlements and good-till-time expiries."""
        now = self.clock.now_ns()
        for market, ms in self._markets.items():
            interval = ms.spec.funding_interval_ns
            while interval > 0 and ms.next_funding_ns <= now:
                self.settle_funding(market)
                ms.next_funding_ns += interval
        try:
            while self._expiries and self._expiries[0][0] <= now:
                _, order_id = heapq.heappop(self._expiries)
                order = self._orders.get(order_id)
                if order is not None and order.expiry_ns and order.expiry_ns <= now:
                    self._close(order, OrderStatus.EXPIRED, Reason.EXPIRED_TIME)
        finally:
            self._flush()

    # ------------------------------------------------------------------ listeners

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register `listener` for every event; returns a function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # ================================================================== internals

    def _market(self, market: int) -> _MarketState:
        ms = self._markets.get(market)
        if ms is None:
            raise SimError(ErrorCode.UNKNOWN_MARKET, f"unknown market {market}", "market")
        return ms

    def _account(self, account: int) -> _AccountBook:
        book = self._accounts.get(account)
        if book is None:
            raise SimError(ErrorCode.UNKNOWN_ACCOUNT, f"unknown account {account}", "account")
        return book

    def _marks(self) -> dict[int, int | None]:
        return {m: self._mark_of(ms) for m, ms in self._markets.items()}

    @staticmethod
    def _mark_of(ms: _MarketState) -> int | None:
        return ms.mark if ms.mark is not None else ms.last_trade

    @staticmethod
    def _one_id(order_id: int | None, client_id: int | None) -> None:
        if (order_id is None) == (client_id is None):
            raise SimError(ErrorCode.INVALID_ORDER, "give exactly one of order_id and client_id", "order_id")

    def _find_open(
        self, account: int, market: int, order_id: int | None, client_id: int | None
    ) -> RestingOrder:
        book = self._account(account)
        self._market(market)
        self._one_id(order_id, client_id)
        if order_id is not None:
            order = book.open.get(order_id)
            if order is None and order_id in self._orders:
                raise SimError(
                    ErrorCode.NOT_ORDER_OWNER, f"order {order_id} belongs to another account", "order_id"
                )
            if order is None or order.market != market:
                raise SimError(ErrorCode.ORDER_NOT_FOUND, f"open order {order_id} not found", "order_id")
            return order
        assert client_id is not None
        found = book.by_client.get((market, client_id))
        if found is None:
            raise SimError(
                ErrorCode.ORDER_NOT_FOUND, f"open order with client id {client_id} not found", "client_id"
            )
        return found

    @staticmethod
    def _crosses(side: Side, price: int | None, best_opposite: int | None) -> bool:
        if best_opposite is None:
            return False
        if price is None:
            return True
        return price >= best_opposite if side is Side.BUY else price <= best_opposite

    # ------------------------------------------------------------------ validation

    @staticmethod
    def _check_quantity(spec: MarketSpec, qty: int) -> None:
        if qty % spec.step:
            raise SimError(
                ErrorCode.QUANTITY_NOT_ON_STEP,
                f"quantity {qty} is not a multiple of step {spec.step}",
                "quantity",
            )
        if qty < spec.min_quantity:
            raise SimError(
                ErrorCode.QUANTITY_BELOW_MIN, f"quantity {qty} below minimum {spec.min_quantity}", "quantity"
            )
        if spec.max_quantity is not None and qty > spec.max_quantity:
            raise SimError(
                ErrorCode.QUANTITY_ABOVE_MAX, f"quantity {qty} above maximum {spec.max_quantity}", "quantity"
            )

    def _check_price(self, ms: _MarketState, price: int) -> None:
        spec = ms.spec
        if price <= 0:
            raise SimError(ErrorCode.INVALID_PRICE, "price must be positive", "price")
        if price % spec.tick:
            raise SimError(
                ErrorCode.PRICE_NOT_ON_TICK, f"price {price} is not a multiple of tick {spec.tick}", "price"
            )
        if (spec.min_price is not None and price < spec.min_price) or (
            spec.max_price is not None and price > spec.max_price
        ):
            raise SimError(
                ErrorCode.PRICE_OUT_OF_RANGE,
                f"price {price} outside [{spec.min_price}, {spec.max_price}]",
                "price",
            )
        band = spec.band
        if band is not None:
            ref = ms.last_trade if band.reference == "last" else ms.mark
            if ref is not None and not (ref * band.lower_ppm <= price * PPM <= ref * band.upper_ppm):
                above = price * PPM > ref * band.upper_ppm
                edge = ref * band.upper_ppm // (PPM * spec.tick) * spec.tick if above \
                    else -(-ref * band.lower_ppm // (PPM * spec.tick)) * spec.tick  # fmt: skip
                raise SimError(
                    ErrorCode.PRICE_OUT_OF_BAND,
                    f"price {price} too far from the {band.reference} price {ref}",
                    "price",
                    band_edge=(above, edge),
                )

    def _validate(self, req: OrderRequest, ms: _MarketState) -> int:
        """Check a request against the market's rules; returns the quantity to use (0 for quote-sized)."""
        spec = ms.spec
        if not isinstance(req.side, Side):
            raise SimError(ErrorCode.INVALID_ORDER, f"bad side {req.side!r}", "side")
        if req.order_type is OrderType.MARKET:
            if req.post_only:
                raise SimError(ErrorCode.INVALID_ORDER, "a market order cannot be post-only", "post_only")
            if req.expiry_ns:
                raise SimError(ErrorCode.INVALID_ORDER, "a market order cannot have an expiry", "expiry_ns")
            if (req.quantity is None) == (req.quote_quantity is None):
                raise SimError(
                    ErrorCode.INVALID_QUANTITY,
                    "a market order needs exactly one of quantity and quote_quantity",
                    "quantity",
                )
            if req.price is None and self.rules.market_order_needs_worst_price:
                raise SimError(ErrorCode.INVALID_PRICE, "a market order needs a worst price", "price")
            if req.price is not None:
                self._check_price_basic(spec, req.price)
            if req.quote_quantity is not None:
                if req.quote_quantity <= 0:
                    raise SimError(
                        ErrorCode.INVALID_QUANTITY, "quote_quantity must be positive", "quote_quantity"
                    )
                if req.reduce_only:
                    raise SimError(
                        ErrorCode.INVALID_ORDER, "reduce-only needs a base quantity", "reduce_only"
                    )
                return 0
        else:
            if req.quote_quantity is not None:
                raise SimError(
                    ErrorCode.INVALID_ORDER, "quote_quantity is for market orders", "quote_quantity"
                )
            if req.price is None:
                raise SimError(ErrorCode.INVALID_PRICE, "a limit order needs a price", "price")
            if req.post_only and req.time_in_force is not TimeInForce.GTC:
                raise SimError(ErrorCode.INVALID_ORDER, "post-only needs GTC", "time_in_force")
            if req.expiry_ns and req.time_in_force is not TimeInForce.GTC:
                raise SimError(ErrorCode.INVALID_ORDER, "only GTC orders can have an expiry", "expiry_ns")
            self._check_price(ms, req.price)
        qty = req.quantity
        if qty is None or qty <= 0:
            raise SimError(ErrorCode.INVALID_QUANTITY, "quantity must be positive", "quantity")
        self._check_quantity(spec, qty)
        price_for_notional = req.price if req.order_type is OrderType.LIMIT else None
        if price_for_notional is not None and spec.min_notional and (
                not req.reduce_only or self.rules.min_notional_on_reduce_only):
            notional = price_for_notional * qty * ms.scale
            if notional < spec.min_notional:
                raise SimError(
                    ErrorCode.NOTIONAL_BELOW_MIN,
                    f"notional {notional} below minimum {spec.min_notional}",
                    "quantity",
                )
        return qty

    @staticmethod
    def _check_price_basic(spec: MarketSpec, price: int) -> None:
        if price <= 0:
            raise SimError(ErrorCode.INVALID_PRICE, "price must be positive", "price")
        if price % spec.tick:
            raise SimError(
                ErrorCode.PRICE_NOT_ON_TICK, f"price {price} is not a multiple of tick {spec.tick}", "price"
            )

    # ------------------------------------------------------------------ placing

    def _place(self, req: OrderRequest) -> OrderView:
        ms = self._market(req.market)
        book = self._account(req.account)
        acct = book.account
        qty = self._validate(req, ms)
        rules = self.rules
        if req.client_id is not None and (req.market, req.client_id) in book.by_client:
            raise SimError(
                ErrorCode.DUPLICATE_CLIENT_ID, f"client id {req.client_id} already in use", "client_id"
            )
        may_rest = req.order_type is OrderType.LIMIT and req.time_in_force is TimeInForce.GTC
        if may_rest and acct.config.check_order_limits:
            if (
                rules.max_open_orders_per_market is not None
                and ms.open_count.get(req.account, 0) >= rules.max_open_orders_per_market
            ):
                raise SimError(ErrorCode.TOO_MANY_OPEN_ORDERS_MARKET, "too many open orders in this market")
            if (
                rules.max_open_orders_per_account is not None
                and len(book.open) >= rules.max_open_orders_per_account
            ):
                raise SimError(ErrorCode.TOO_MANY_OPEN_ORDERS_ACCOUNT, "too many open orders on the account")

        refusal: tuple[Reason, ErrorCode, str, RefusalStyle] | None = None
        if req.reduce_only:
            pos = acct.positions.get(req.market)
            size = pos.size if pos is not None else 0
            reducible = -size * req.side.sign  # > 0: how much this side can reduce
            if reducible <= 0:
                refusal = (
                    Reason.REDUCE_ONLY,
                    ErrorCode.REDUCE_ONLY_WOULD_INCREASE,
                    "reduce-only order would not reduce the position",
                    rules.reduce_only_refusal,
                )
            elif qty > reducible:
                if rules.reduce_only_mode is ReduceOnlyMode.CLIP:
                    qty = reducible - reducible % ms.spec.step
                    if qty <= 0:
                        refusal = (
                            Reason.REDUCE_ONLY,
                            ErrorCode.REDUCE_ONLY_WOULD_INCREASE,
                            "position smaller than one step",
                            rules.reduce_only_refusal,
                        )
                else:
                    refusal = (
                        Reason.REDUCE_ONLY,
                        ErrorCode.REDUCE_ONLY_WOULD_INCREASE,
                        f"reduce-only quantity {qty} exceeds position {reducible}",
                        rules.reduce_only_refusal,
                    )
        opposite = ms.book.asks if req.side is Side.BUY else ms.book.bids
        if refusal is None and req.post_only and self._crosses(req.side, req.price, opposite.best_price()):
            refusal = (
                Reason.POST_ONLY_TAKER,
                ErrorCode.POST_ONLY_WOULD_CROSS,
                "post-only order would take liquidity",
                rules.post_only_refusal,
            )
        if refusal is not None and refusal[3] is RefusalStyle.ERROR:
            raise SimError(
                refusal[1], refusal[2], "reduce_only" if refusal[0] is Reason.REDUCE_ONLY else "post_only"
            )

        worst = self._worst_price(req, ms)
        if refusal is None and not req.reduce_only and acct.config.check_margin:
            self._check_margin(acct, ms, req, qty, worst)

        now = self.clock.now_ns()
        order = RestingOrder(self._next_order_id, req, req.self_trade or rules.default_self_trade, qty, now)
        order.price = req.price if req.order_type is OrderType.LIMIT else worst
        self._next_order_id += 1
        self._emit_order(order, OrderEventKind.ACCEPTED)
        if refusal is not None:
            self._finish(order, OrderStatus.EXPIRED, refusal[0])
            return order.view()

        if req.quote_quantity is not None:
            order.quantity = self._quote_to_base(order, ms, req.quote_quantity)
            if order.quantity == 0:
                self._finish(order, OrderStatus.EXPIRED, Reason.INSUFFICIENT_LIQUIDITY)
                order.price = req.price
                return order.view()
        if req.time_in_force is TimeInForce.FOK and not self._fok_fillable(order, ms):
            self._finish(order, OrderStatus.EXPIRED, Reason.FILL_OR_KILL)
            return order.view()
        self._match(order, ms)
        if order.status.is_open:
            if may_rest:
                self._rest(order, ms)
                if order.expiry_ns:
                    heapq.heappush(self._expiries, (order.expiry_ns, order.order_id))
            else:
                reason = Reason.IMMEDIATE_OR_CANCEL
                if req.order_type is OrderType.MARKET and order.filled == 0:
                    reason = Reason.INSUFFICIENT_LIQUIDITY
                self._finish(order, OrderStatus.EXPIRED, reason)
        if req.order_type is OrderType.MARKET:
            order.price = req.price  # report the request's worst price (None if none given)
        return order.view()

    def _worst_price(self, req: OrderRequest, ms: _MarketState) -> int | None:
        """The price bound a market order sweeps to: its worst price narrowed by the market-order band."""
        if req.order_type is OrderType.LIMIT:
            return req.price
        worst = req.price
        band = ms.spec.market_order_band
        if band is not None:
            ref = ms.last_trade if band.reference == "last" else ms.mark
            if ref is not None:
                tick = ms.spec.tick
                if req.side is Side.BUY:
                    bound = ref * band.upper_ppm // PPM // tick * tick
                    worst = bound if worst is None else min(worst, bound)
                else:
                    bound = -(-ref * band.lower_ppm // PPM)
                    bound = -(-bound // tick) * tick
                    worst = bound if worst is None else max(worst, bound)
        return worst

    def _check_margin(
        self, acct: Account, ms: _MarketState, req: OrderRequest, qty: int, worst: int | None
    ) -> None:
        market = req.market
        price = worst
        if price is None:
            opposite = ms.book.asks if req.side is Side.BUY else ms.book.bids
            price = self._mark_of(ms) or opposite.best_price()
        if price is None:
            return  # nothing to value it with; it cannot fill either
        if req.quote_quantity is not None:
            value = req.quote_quantity
        else:
            value = price * qty * ms.scale
        pos = acct.positions.get(market) or Position()
        mark = self._mark_of(ms)
        old = self._margin.market_margin(acct, market, pos, mark)
        if req.side is Side.BUY:
            new = self._margin.market_margin(acct, market, pos, mark, extra_bid=value)
        else:
            new = self._margin.market_margin(acct, market, pos, mark, extra_ask=value)
        if new <= old:
            return  # the order does not add exposure
        before = self._margin.balance(acct, self._marks())
        if before.equity - (before.initial_margin - old + new) < 0:
            raise SimError(
                ErrorCode.INSUFFICIENT_MARGIN,
                f"order needs {new - old} more margin, {before.available} available",
                "quantity",
            )

    def _quote_to_base(self, order: RestingOrder, ms: _MarketState, quote: int) -> int:
        """Base quantity a quote-sized market order buys/sells walking the book now (own orders skipped),
        in whole steps. Matching then runs as for a base-sized order."""
        opposite = ms.book.asks if order.side is Side.BUY else ms.book.bids
        step = ms.spec.step
        qty = 0
        for level in opposite.iter_levels():
            if not self._crosses(order.side, order.price, level.price):
                break
            unit = level.price * ms.scale
            for maker in level.orders.values():
                if maker.account == order.account and order.self_trade is not SelfTradeMode.ALLOW:
                    continue
                take = min(maker.quantity - maker.filled, quote // unit // step * step)
                if take <= 0:
                    return qty
                qty += take
                quote -= take * unit
        return qty

    def _fok_fillable(self, order: RestingOrder, ms: _MarketState) -> bool:
        need = order.quantity
        opposite = ms.book.asks if order.side is Side.BUY else ms.book.bids
        stops_at_self = order.self_trade in (SelfTradeMode.REJECT_TAKER, SelfTradeMode.REJECT_BOTH)
        for level in opposite.iter_levels():
            if not self._crosses(order.side, order.price, level.price):
                return False
            for maker in level.orders.values():
                if maker.account == order.account and order.self_trade is not SelfTradeMode.ALLOW:
                    if stops_at_self:
                        return False
                    continue
                need -= maker.quantity - maker.filled
                if need <= 0:
                    return True
        return False

    def _rest(self, order: RestingOrder, ms: _MarketState) -> None:
        side = ms.book.bids if order.side is Side.BUY else ms.book.asks
        side.add(order)
        self._mark_dirty(ms, order.side, order.price)  # type: ignore[arg-type]
        book = self._accounts[order.account]
        book.open[order.order_id] = order
        if order.client_id is not None:
            book.by_client[(order.market, order.client_id)] = order
        self._orders[order.order_id] = order
        ms.open_count[order.account] = ms.open_count.get(order.account, 0) + 1
        self._add_exposure(order)

    # ------------------------------------------------------------------ matching

    def _match(self, taker: RestingOrder, ms: _MarketState) -> None:
        opposite = ms.book.asks if taker.side is Side.BUY else ms.book.bids
        limit = taker.price
        is_buy = taker.side is Side.BUY
        while taker.filled < taker.quantity:
            level = opposite.best_level()
            if level is None:
                break
            if limit is not None and (level.price > limit if is_buy else level.price < limit):
                break
            maker = next(iter(level.orders.values()))
            if maker.account == taker.account and taker.self_trade is not SelfTradeMode.ALLOW:
                mode = taker.self_trade
                if mode in (SelfTradeMode.REJECT_MAKER, SelfTradeMode.REJECT_BOTH):
                    self._close(maker, OrderStatus.CANCELLED, Reason.SELF_TRADE)
                if mode in (SelfTradeMode.REJECT_TAKER, SelfTradeMode.REJECT_BOTH):
                    self._finish(taker, OrderStatus.EXPIRED, Reason.SELF_TRADE)
                    return
                continue
            maker_left = maker.quantity - maker.filled
            if maker.reduce_only:
                maker_left = min(maker_left, self._reducible(maker))
                if maker_left <= 0:
                    self._close(maker, OrderStatus.EXPIRED, Reason.REDUCE_ONLY)
                    continue
            qty = min(maker_left, taker.quantity - taker.filled)
            if taker.reduce_only:
                qty = min(qty, self._reducible(taker))
                if qty <= 0:
                    self._finish(taker, OrderStatus.EXPIRED, Reason.REDUCE_ONLY)
                    return
            self._trade(ms, maker, taker, level.price, qty, opposite)

    def _reducible(self, order: RestingOrder) -> int:
        pos = self._accounts[order.account].account.positions.get(order.market)
        size = pos.size if pos is not None else 0
        return max(0, -size * order.side.sign)

    def _trade(
        self,
        ms: _MarketState,
        maker: RestingOrder,
        taker: RestingOrder,
        price: int,
        qty: int,
        maker_side: BookSide,
    ) -> None:
        now = self.clock.now_ns()
        trade_id = self._next_trade_id
        self._next_trade_id += 1
        value = price * qty * ms.scale
        market = ms.spec.market_id
        maker_side.reduce(maker, qty)
        self._release_exposure(maker)
        maker.filled += qty
        maker.filled_cash += value
        maker.updated_ns = now
        taker.filled += qty
        taker.filled_cash += value
        taker.updated_ns = now
        ms.last_trade = price
        self._mark_dirty(ms, maker.side, price)
        maker_fill = self._settle(maker, market, ms, price, qty, value, True, trade_id, now)
        taker_fill = self._settle(taker, market, ms, price, qty, value, False, trade_id, now)
        if self._listeners:
            self._pending.append(FillEvent(maker_fill))
            self._pending.append(FillEvent(taker_fill))
            self._pending.append(
                TradeEvent(
                    market,
                    trade_id,
                    price,
                    qty,
                    taker.side,
                    maker.order_id,
                    taker.order_id,
                    maker.account,
                    taker.account,
                    now,
                )
            )
        if maker.filled >= maker.quantity:
            maker.status = OrderStatus.FILLED
            self._emit_order(maker, OrderEventKind.FILL)
            self._unrest(maker, ms)
            self._archive(maker)
        else:
            maker.status = OrderStatus.PARTIALLY_FILLED
            self._add_exposure(maker)
            self._emit_order(maker, OrderEventKind.FILL)
        taker.status = OrderStatus.FILLED if taker.filled >= taker.quantity else OrderStatus.PARTIALLY_FILLED
        self._emit_order(taker, OrderEventKind.FILL)
        if taker.status is OrderStatus.FILLED:
            self._archive(taker)

    def _settle(
        self,
        order: RestingOrder,
        market: int,
        ms: _MarketState,
        price: int,
        qty: int,
        value: int,
        is_maker: bool,
        trade_id: int,
        now: int,
    ) -> Fill:
        acct = self._accounts[order.account].account
        cfg = acct.config
        if is_maker:
            rate = cfg.maker_fee_ppm if cfg.maker_fee_ppm is not None else ms.spec.maker_fee_ppm
        else:
            rate = cfg.taker_fee_ppm if cfg.taker_fee_ppm is not None else ms.spec.taker_fee_ppm
        fee = fee_for(value, rate)
        pos = acct.position(market)
        realized = pos.apply_trade(qty * order.side.sign, value)
        acct.cash += realized - fee
        acct.fees_paid += fee
        pos.fees_paid += fee
        self.fees_collected += fee
        self._touched_positions[(acct.account_id, market)] = None
        self._touched_accounts[acct.account_id] = None
        return Fill(
            trade_id,
            acct.account_id,
            market,
            order.order_id,
            order.client_id,
            order.side,
            price,
            qty,
            fee,
            is_maker,
            now,
        )

    # ------------------------------------------------------------------ order lifecycle

    def _close(self, order: RestingOrder, status: OrderStatus, reason: Reason) -> None:
        """End an open order that rests on the book."""
        ms = self._markets[order.market]
        self._release_exposure(order)
        self._unrest(order, ms)
        self._finish(order, status, reason)

    def _unrest(self, order: RestingOrder, ms: _MarketState) -> None:
        """Take an order off the book and out of the open-order indexes (no-op if it never rested)."""
        if order.order_id not in self._orders:
            return
        side = ms.book.bids if order.side is Side.BUY else ms.book.asks
        side.remove(order)
        self._mark_dirty(ms, order.side, order.price)  # type: ignore[arg-type]
        del self._orders[order.order_id]
        book = self._accounts[order.account]
        book.open.pop(order.order_id, None)
        if order.client_id is not None and book.by_client.get((order.market, order.client_id)) is order:
            del book.by_client[(order.market, order.client_id)]
        ms.open_count[order.account] -= 1

    def _finish(self, order: RestingOrder, status: OrderStatus, reason: Reason) -> None:
        order.status = status
        order.reason = reason
        order.updated_ns = self.clock.now_ns()
        self._emit_order(
            order, OrderEventKind.CANCELLED if status is OrderStatus.CANCELLED else OrderEventKind.EXPIRED
        )
        self._archive(order)

    def _archive(self, order: RestingOrder) -> None:
        history = self._accounts[order.account].history
        history[order.order_id] = order
        if len(history) > self.rules.history_per_account:
            history.popitem(last=False)

    def _add_exposure(self, order: RestingOrder) -> None:
        pos = self._accounts[order.account].account.position(order.market)
        value = (order.price or 0) * (order.quantity - order.filled) * self._scales[order.market]
        if order.side is Side.BUY:
            pos.bid_value += value
        else:
            pos.ask_value += value

    def _release_exposure(self, order: RestingOrder) -> None:
        if order.order_id not in self._orders:
            return
        pos = self._accounts[order.account].account.position(order.market)
        value = (order.price or 0) * (order.quantity - order.filled) * self._scales[order.market]
        if order.side is Side.BUY:
            pos.bid_value -= value
        else:
            pos.ask_value -= value

    # ------------------------------------------------------------------ events

    def _mark_dirty(self, ms: _MarketState, side: Side, price: int) -> None:
        (ms.dirty_bids if side is Side.BUY else ms.dirty_asks).add(price)
        self._dirty_markets[ms.spec.market_id] = ms

    def _emit_order(self, order: RestingOrder, kind: OrderEventKind) -> None:
        if self._listeners:
            self._pending.append(OrderEvent(kind, order.view(), self.clock.now_ns()))

    def _flush(self) -> None:
        """Turn the touched state into events and deliver everything queued, in order."""
        now = self.clock.now_ns()
        listening = bool(self._listeners)
        if self._touched_positions:
            if listening:
                marks = self._marks()
                for account, market in self._touched_positions:
                    acct = self._accounts[account].account
                    view = self._margin.position_view(acct, market, marks[market])
                    self._pending.append(PositionEvent(view, now))
            self._touched_positions.clear()
        if self._touched_accounts:
            if listening:
                marks = self._marks()
                for account in self._touched_accounts:
                    bal = self._margin.balance(self._accounts[account].account, marks)
                    self._pending.append(BalanceEvent(bal, now))
            self._touched_accounts.clear()
        if self._dirty_markets:
            for market, ms in sorted(self._dirty_markets.items()):
                ms.seq += 1
                if listening:
                    bid_levels = ms.book.bids.levels
                    ask_levels = ms.book.asks.levels
                    bids = tuple(
                        BookLevel(p, lv.total if (lv := bid_levels.get(p)) is not None else 0)
                        for p in sorted(ms.dirty_bids, reverse=True)
                    )
                    asks = tuple(
                        BookLevel(p, lv.total if (lv := ask_levels.get(p)) is not None else 0)
                        for p in sorted(ms.dirty_asks)
                    )
                    self._pending.append(BookDelta(market, ms.seq, ms.seq - 1, bids, asks, now))
                ms.dirty_bids.clear()
                ms.dirty_asks.clear()
            self._dirty_markets.clear()
        if not listening:
            self._pending.clear()
            return
        if self._dispatching:
            return  # the outer dispatch loop delivers these too, in order
        self._dispatching = True
        try:
            pending = self._pending
            i = 0
            while i < len(pending):  # grows if a listener calls back into the exchange
                event = pending[i]
                i += 1
                for listener in self._listeners if len(self._listeners) == 1 else tuple(self._listeners):
                    listener(event)
        finally:
            self._dispatching = False
            self._pending.clear()


def _levels(side: BookSide, depth: int | None) -> tuple[BookLevel, ...]:
    out: list[BookLevel] = []
    for level in side.iter_levels():
        if depth is not None and len(out) >= depth:
            break
        out.append(BookLevel(level.price, level.total))
    return tuple(out)


def _orders(side: BookSide, depth: int | None) -> list[OrderView]:
    out: list[OrderView] = []
    for n, level in enumerate(side.iter_levels()):
        if depth is not None and n >= depth:
            break
        out.extend(o.view() for o in level.orders.values())
    return out
