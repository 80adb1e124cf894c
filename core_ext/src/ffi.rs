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

// ---- implementation ----

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use crate::decode::{FeedDecoder, FeedError};

/// Return codes below zero.
pub const FEED_ERR_REJECTED: i64 = -1;
pub const FEED_ERR_PANIC: i64 = -2;
pub const FEED_ERR_NULL: i64 = -3;

/// Lock that survives a poisoned mutex: a panic inside `feed` leaves the decoder consistent (frames
/// are atomic), so the next frame may proceed.
fn lock(m: &Mutex<FeedDecoder>) -> std::sync::MutexGuard<'_, FeedDecoder> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The `FeedFn` behind the capsule. `ctx` is a `*const Mutex<FeedDecoder>` owned by the Python decoder.
///
/// # Safety
/// `ctx` must point to a live `Mutex<FeedDecoder>` and `data` to `len` readable bytes (or be null with
/// `len == 0`).
pub unsafe extern "C" fn feed_entry(ctx: *mut c_void, data: *const u8, len: usize, recv_ns: i64) -> i64 {
    if ctx.is_null() || (data.is_null() && len != 0) {
        return FEED_ERR_NULL;
    }
    // SAFETY: guaranteed by the caller per the contract above.
    let decoder = unsafe { &*(ctx as *const Mutex<FeedDecoder>) };
    let frame: &[u8] = if len == 0 { &[] } else { unsafe { std::slice::from_raw_parts(data, len) } };
    match catch_unwind(AssertUnwindSafe(|| lock(decoder).feed(frame, recv_ns))) {
        Ok(Ok(n)) => n as i64,
        Ok(Err(_)) => FEED_ERR_REJECTED,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let mut d = lock(decoder);
            let venue = d.venue;
            d.set_last_error(FeedError {
                venue,
                channel: String::new(),
                reason: format!("internal error: {msg}"),
            });
            FEED_ERR_PANIC
        }
    }
}

/// Build the entry for a decoder that lives at `ctx` (a `Mutex<FeedDecoder>` with a stable address).
pub fn make_entry(ctx: *const Mutex<FeedDecoder>) -> FeedEntry {
    FeedEntry { abi_version: FEED_ABI_VERSION, ctx: ctx as *mut c_void, feed: feed_entry }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Venue;
    use crate::ring::EventRing;
    use std::sync::Arc;

    #[test]
    fn entry_feeds_and_reports_errors() {
        let dec = Box::new(Mutex::new(FeedDecoder::new(Venue::Lighter, Arc::new(EventRing::new(8)))));
        let entry = make_entry(&*dec);
        let ping = br#"{"type":"ping"}"#;
        let r = unsafe { (entry.feed)(entry.ctx, ping.as_ptr(), ping.len(), 1) };
        assert_eq!(r, 0);
        assert_eq!(lock(&dec).take_pings(), 1);
        let bad = b"{not json";
        let r = unsafe { (entry.feed)(entry.ctx, bad.as_ptr(), bad.len(), 1) };
        assert_eq!(r, FEED_ERR_REJECTED);
        assert!(lock(&dec).take_last_error().unwrap().reason.contains("bad JSON"));
        let r = unsafe { (entry.feed)(std::ptr::null_mut(), bad.as_ptr(), bad.len(), 1) };
        assert_eq!(r, FEED_ERR_NULL);
    }
}
