# cython: language_level=3, boundscheck=False, wraparound=False
"""picows listener that hands each frame's payload pointer to the core's FeedDecoder (no bytes object).

The decoder's C entry comes from `FeedDecoder.feed_capsule()` (contract in core_ext/src/ffi.rs):
`feed(ctx, data, len, recv_ns) -> events pushed, or < 0 when the frame was rejected`. On a rejection the
listener asks the decoder to raise the stored `FeedError` and passes it to `on_error`; it never lets an
exception escape into picows (which would drop the connection). When picows marks a frame as the last of
a socket read (`frame.last_in_buffer`), `on_burst_end()` runs: the dispatcher drains the ring once per burst.
"""

import logging

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.stdint cimport int64_t, uint32_t
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from picows.picows cimport WSFrame, WSListener, WSMsgType, WSTransport

_log = logging.getLogger("xtb.transport")

ctypedef int64_t (*feed_fn)(void* ctx, const unsigned char* data, size_t length, int64_t recv_ns) noexcept nogil

ctypedef struct FeedEntry:
    uint32_t abi_version
    void* ctx
    feed_fn feed

DEF FEED_ABI_VERSION = 1


cdef inline int64_t monotonic_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef class CyFeedListener(WSListener):
    """Feeds every text/binary frame to `decoder` through its C entry point.

    Hooks (all optional, all called on the event loop thread):
      on_error(exc)        a frame was rejected (FeedError) or a hook raised; the loop keeps running
      on_burst_end()       after the last frame of one socket read
      on_connected(transport), on_disconnected(transport)
    app_pong: bytes to send as a text frame for every application-level ping the decoder counted
      (Lighter: b'{"type":"pong"}'); None for venues that ping at the protocol level only.
    """

    cdef readonly object decoder
    cdef object _capsule
    cdef FeedEntry* _entry
    cdef object _on_error
    cdef object _on_burst_end
    cdef object _on_connected
    cdef object _on_disconnected
    cdef object _app_pong
    cdef bytearray _fragments
    cdef bint _in_fragment
    cdef readonly object transport
    cdef readonly unsigned long long frames
    cdef readonly unsigned long long events
    cdef readonly unsigned long long errors

    def __init__(self, decoder, on_error=None, on_burst_end=None, app_pong=None,
                 on_connected=None, on_disconnected=None):
        self.decoder = decoder
        self._capsule = decoder.feed_capsule()
        self._entry = <FeedEntry*>PyCapsule_GetPointer(self._capsule, b"xtb._core.feed_v1")
        if self._entry.abi_version != FEED_ABI_VERSION:
            raise RuntimeError(f"feed ABI {self._entry.abi_version}, listener built for {FEED_ABI_VERSION}")
        self._on_error = on_error
        self._on_burst_end = on_burst_end
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._app_pong = app_pong
        self._fragments = bytearray()
        self._in_fragment = False
        self.transport = None
        self.frames = 0
        self.events = 0
        self.errors = 0

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport
        if self._on_connected is not None:
            self._call_hook(self._on_connected, transport)

    cpdef on_ws_disconnected(self, WSTransport transport):
        if self._on_disconnected is not None:
            self._call_hook(self._on_disconnected, transport)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef WSMsgType mt = frame.msg_type
        if mt == WSMsgType.TEXT or mt == WSMsgType.BINARY:
            if frame.fin:
                self._feed(transport, <const unsigned char*>frame.payload_ptr, <size_t>frame.payload_size)
            else:
                # Rare: a fragmented message is reassembled before decoding.
                self._fragments = bytearray(frame.get_payload_as_bytes())
                self._in_fragment = True
        elif mt == WSMsgType.CONTINUATION:
            if self._in_fragment:
                self._fragments += frame.get_payload_as_bytes()
                if frame.fin:
                    self._in_fragment = False
                    self._feed(transport, <const unsigned char*>PyByteArray_AS_STRING(self._fragments),
                               <size_t>PyByteArray_GET_SIZE(self._fragments))
                    self._fragments = bytearray()
        elif mt == WSMsgType.PING:
            # Only reached when picows' auto-pong is off.
            transport.send_pong(frame.get_payload_as_bytes())
        elif mt == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        if frame.last_in_buffer and self._on_burst_end is not None:
            self._call_hook(self._on_burst_end)

    def feed_frame(self, bytes data not None):
        """One whole text/binary frame that did not arrive on this listener's socket (a replayed capture,
        a test, an in-process benchmark): decoded exactly as `on_ws_frame` decodes a final frame, then
        the burst ends (`on_burst_end`), as for a frame alone in its socket read. Application pings it
        carries are answered on the connected transport, if any."""
        self._feed(<WSTransport>self.transport, <const unsigned char*>PyBytes_AS_STRING(data),
                   <size_t>PyBytes_GET_SIZE(data))
        if self._on_burst_end is not None:
            self._call_hook(self._on_burst_end)

    cdef inline void _feed(self, WSTransport transport, const unsigned char* data, size_t size):
        cdef int64_t n = self._entry.feed(self._entry.ctx, data, size, monotonic_ns())
        self.frames += 1
        if n > 0:
            self.events += <unsigned long long>n
        elif n == 0:
            if self._app_pong is not None and transport is not None:
                self._send_pongs(transport)
        else:
            self.errors += 1
            try:
                self.decoder.raise_last_error()
            except Exception as exc:
                self._report(exc)

    cdef void _send_pongs(self, WSTransport transport):
        cdef unsigned long long pings
        try:
            pings = self.decoder.take_pings()
            while pings:
                transport.send(WSMsgType.TEXT, self._app_pong)
                pings -= 1
        except Exception as exc:
            self._report(exc)

    cdef void _call_hook(self, hook, arg=None):
        try:
            if arg is None:
                hook()
            else:
                hook(arg)
        except Exception as exc:
            self._report(exc)

    cdef void _report(self, exc):
        if self._on_error is None:
            _log.error("feed listener: %s", exc)
            return
        try:
            self._on_error(exc)
        except Exception:
            _log.exception("feed listener: error hook raised")
