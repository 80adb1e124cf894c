//! C entry points for code that must reach the core without Python objects (the Cython picows listener).
//!
//! CONTRACT (ABI version 1). `FeedDecoder.feed_capsule()` returns a PyCapsule named
//! `FEED_CAPSULE_NAME` whose pointer is a `*const FeedEntry` that stays valid while the decoder object
//! is alive (the caller keeps a reference to the decoder). The listener calls
//! `(entry.feed)(entry.ctx, payload_ptr, payload_size, recv_ns)` with the GIL held:
//! - a return value >= 0 is the number of events pushed to the ring;
//! - a negative value means the frame was rejected (nothing applied); the caller then calls the
//!   decoder's `raise_last_error()` method, which raises the stored `FeedError` in Python.
//!
//! The function never unwinds: panics are caught and reported as errors.

use std::ffi::c_void;

pub const FEED_ABI_VERSION: u32 = 1;
pub const FEED_CAPSULE_NAME: &std::ffi::CStr = c"xtb._core.feed_v1";

pub type FeedFn = unsafe extern "C" fn(ctx: *mut c_void, data: *const u8, len: usize, recv_ns: i64) -> i64;

#[repr(C)]
pub struct FeedEntry {
    pub abi_version: u32,
    pub ctx: *mut c_void,
    pub feed: FeedFn,
}
