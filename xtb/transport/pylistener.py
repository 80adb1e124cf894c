"""Plain-Python picows listener with the same hooks as the Cython one (`CyFeedListener`).

It feeds `frame.get_payload_as_bytes()` to `FeedDecoder.feed`: one bytes object and one Python call per
frame. It is the fallback when the Cython module is not built and the baseline the Cython listener is
benchmarked against.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport

_log = logging.getLogger("xtb.transport")


class PyFeedListener(WSListener):
    """Feeds every text/binary frame to `decoder.feed`; hooks as in `CyFeedListener`."""

    def __init__(
        self,
        decoder: Any,
        on_error: Callable[[BaseException], object] | None = None,
        on_burst_end: Callable[[], object] | None = None,
        app_pong: bytes | None = None,
        on_connected: Callable[[WSTransport], object] | None = None,
        on_disconnected: Callable[[WSTransport], object] | None = None,
    ) -> None:
        super().__init__()
        self.decoder = decoder
        self._on_error = on_error
        self._on_burst_end = on_burst_end
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._app_pong = app_pong
        self._fragments: bytearray | None = None
        self.transport: WSTransport | None = None
        self.frames = 0
        self.events = 0
        self.errors = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        if self._on_connected is not None:
            self._call_hook(self._on_connected, transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._on_disconnected is not None:
            self._call_hook(self._on_disconnected, transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        mt = frame.msg_type
        if mt == WSMsgType.TEXT or mt == WSMsgType.BINARY:
            if frame.fin:
                self._feed(transport, frame.get_payload_as_bytes())
            else:
                self._fragments = bytearray(frame.get_payload_as_bytes())
        elif mt == WSMsgType.CONTINUATION:
            if self._fragments is not None:
                self._fragments += frame.get_payload_as_bytes()
                if frame.fin:
                    data, self._fragments = bytes(self._fragments), None
                    self._feed(transport, data)
        elif mt == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif mt == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        if frame.last_in_buffer and self._on_burst_end is not None:
            self._call_hook(self._on_burst_end)

    def feed_frame(self, data: bytes) -> None:
        """One whole frame that did not arrive on this listener's socket (see `CyFeedListener.feed_frame`):
        decoded as a final frame, then the burst ends."""
        self._feed(self.transport, data)
        if self._on_burst_end is not None:
            self._call_hook(self._on_burst_end)

    def _feed(self, transport: WSTransport | None, data: bytes) -> None:
        self.frames += 1
        try:
            n = self.decoder.feed(data, time.monotonic_ns())
        except Exception as exc:
            self.errors += 1
            self._report(exc)
            return
        self.events += n
        if n == 0 and self._app_pong is not None and transport is not None:
            try:
                for _ in range(self.decoder.take_pings()):
                    transport.send(WSMsgType.TEXT, self._app_pong)
            except Exception as exc:
                self._report(exc)

    def _call_hook(self, hook: Callable[..., object], *args: object) -> None:
        try:
            hook(*args)
        except Exception as exc:
            self._report(exc)

    def _report(self, exc: BaseException) -> None:
        if self._on_error is None:
            _log.error("feed listener: %s", exc)
            return
        try:
            self._on_error(exc)
        except Exception:
            _log.exception("feed listener: error hook raised")
