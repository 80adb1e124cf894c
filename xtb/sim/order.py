"""The matching engine's own mutable order (the book keeps these; callers only see `OrderView` snapshots)."""

from __future__ import annotations

from xtb.sim.types import OrderRequest, OrderStatus, OrderView, Reason, SelfTradeMode


class RestingOrder:
    """Mutable engine-side order. Callers only ever see `OrderView` snapshots."""

    __slots__ = (
        "account",
        "client_id",
        "created_ns",
        "expiry_ns",
        "filled",
        "filled_cash",
        "market",
        "order_id",
        "order_type",
        "post_only",
        "price",
        "quantity",
        "quote_quantity",
        "reason",
        "reduce_only",
        "self_trade",
        "side",
        "status",
        "time_in_force",
        "updated_ns",
    )

    def __init__(
        self, order_id: int, req: OrderRequest, self_trade: SelfTradeMode, quantity: int, now: int
    ) -> None:
        self.order_id = order_id
        self.client_id = req.client_id
        self.account = req.account
        self.market = req.market
        self.side = req.side
        self.order_type = req.order_type
        self.time_in_force = req.time_in_force
        self.price = req.price
        self.quantity = quantity
        self.quote_quantity = req.quote_quantity
        self.filled = 0
        self.filled_cash = 0
        self.status = OrderStatus.NEW
        self.reason = Reason.NONE
        self.post_only = req.post_only
        self.reduce_only = req.reduce_only
        self.self_trade = self_trade
        self.created_ns = now
        self.updated_ns = now
        self.expiry_ns = req.expiry_ns

    def view(self) -> OrderView:
        return OrderView(
            self.order_id,
            self.client_id,
            self.account,
            self.market,
            self.side,
            self.order_type,
            self.time_in_force,
            self.price,
            self.quantity,
            self.filled,
            self.filled_cash,
            self.status,
            self.reason,
            self.post_only,
            self.reduce_only,
            self.self_trade,
            self.created_ns,
            self.updated_ns,
            self.quote_quantity,
            self.expiry_ns,
        )
