"""Why an order did not leave the process (the gateway's and the risk guard's refusals)."""

from __future__ import annotations


class OrderDenied(Exception):
    """The gateway refused to send: nothing left the process and the tracker was not touched."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"order denied: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.detail = detail
