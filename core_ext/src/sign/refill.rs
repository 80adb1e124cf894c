//! What the precomputed-nonce pools (Backpack's ED25519 `nonce_pool`, Lighter's `lighter::pool`) share so
//! that their background refill never makes a signature on the order path wait.
//!
//! The refill holds the pool's lock only to push one finished entry (~20 us of base-point multiply is done
//! outside it), but a thread can be preempted inside that window, and a signer blocking on the lock would
//! then wait for the scheduler to run the refill thread again: milliseconds on a loaded machine (the
//! Backpack order call's p99.9 was 6 ms from this). Signers therefore never block on the lock
//! (`lock_without_waiting`): after a bounded spin they go without a pooled entry and sign the slow way
//! (~20 us), which the pools already do when they are empty.
//!
//! The refill thread keeps the normal priority. Measured on the 2-vCPU class under load (bench/
//! tick_to_order_stages.py, 50,000 orders): at the lowest priority (nice 19) it got so little CPU that
//! 13-73% of orders found the pool empty and the p99 rose; at normal priority none did.

use std::sync::{Mutex, MutexGuard, TryLockError};

/// Spins on a contended pool lock before giving up: each is a failed try_lock (tens of ns), so the whole
/// spin stays under ~2 us, well below the ~20 us a signature without a pooled entry costs.
const LOCK_SPINS: u32 = 64;

/// The lock for a signer on the order path: Some after at most `LOCK_SPINS` attempts, None if another
/// thread keeps holding it (the caller then signs without a pooled entry). A poisoned lock is still
/// used: the pools' invariants hold between any two statements of their critical sections.
pub fn lock_without_waiting<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    for _ in 0..LOCK_SPINS {
        match m.try_lock() {
            Ok(g) => return Some(g),
            Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => std::hint::spin_loop(),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_held_lock_is_given_up_on_not_waited_for() {
        let m = Arc::new(Mutex::new(1u32));
        let held = m.lock().unwrap();
        let other = Arc::clone(&m);
        let got = std::thread::spawn(move || lock_without_waiting(&other).map(|g| *g))
            .join()
            .unwrap();
        assert_eq!(got, None);
        drop(held);
        assert_eq!(lock_without_waiting(&m).map(|g| *g), Some(1));
    }

    #[test]
    fn a_poisoned_lock_is_still_usable() {
        let m = Arc::new(Mutex::new(7u32));
        let p = Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let _g = p.lock().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(lock_without_waiting(&m).map(|g| *g), Some(7));
    }
}
